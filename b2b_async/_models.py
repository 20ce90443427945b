"""The values that cross the public API: what goes out, and what comes back.

Models are frozen attrs classes. Their converters check input at construction, so a bad
value raises :class:`~b2b_async.InvalidOrderError` before anything is sent.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Final

import attrs

from ._exceptions import InvalidOrderError

__all__ = ["CreatedOrder", "NewOrder"]

# A JSON number survives a round trip through a float only up to 15 significant digits.
_MAX_DIGITS: Final = 15
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def to_id(value: object, *, field: str = "id", optional: bool = False) -> str | None:
    """Normalise an id given as ``str`` or ``int`` to a non-empty ``str``.

    Args:
        value: the id as given.
        field: the argument's name, for the error message.
        optional: whether ``None`` is allowed.

    Raises:
        InvalidOrderError: the id is empty, of another type, or holds control characters.
    """
    if value is None and optional:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise InvalidOrderError(f"{field} must not be negative, got {value}")
        return str(value)
    if not isinstance(value, str):
        raise InvalidOrderError(f"{field} must be a str or int, got {type(value).__name__}")
    if value.isascii() and value.isalnum():  # the common case needs no further check
        return value
    text = value.strip()
    if not text:
        raise InvalidOrderError(f"{field} must not be empty")
    if _CONTROL.search(text):
        raise InvalidOrderError(f"{field} must not contain control characters")
    return text


def to_total(value: object) -> Decimal:
    """Normalise a total given as ``Decimal``, ``int``, ``float`` or a numeric ``str``.

    Raises:
        InvalidOrderError: the value is not a number, is NaN or infinite, is negative, or
            has more significant digits than a JSON number carries exactly.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise InvalidOrderError(
            f"total_inc_tax must be a Decimal, int, float or numeric str, "
            f"got {type(value).__name__}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidOrderError(f"total_inc_tax must be finite, got {value!r}")
    try:
        total = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise InvalidOrderError(f"total_inc_tax is not a number: {str(value)[:40]!r}") from None
    if not total.is_finite():
        raise InvalidOrderError(f"total_inc_tax must be finite, got {total}")
    if total < 0:
        raise InvalidOrderError(f"total_inc_tax must not be negative, got {total}")
    if len(total.as_tuple().digits) > _MAX_DIGITS and len(total.normalize().as_tuple().digits) > (
        _MAX_DIGITS
    ):
        raise InvalidOrderError(
            f"total_inc_tax has more than {_MAX_DIGITS} significant digits: {total}"
        )
    return total


def _po_number(value: object) -> str:
    # Reached for a PO number that is neither None nor a plain str.
    if not isinstance(value, str):
        raise InvalidOrderError(f"po_number must be a str, got {type(value).__name__}")
    return value


@attrs.frozen(init=False)
class NewOrder:
    """A BigCommerce order to register with B2B Edition.

    Every value is checked and normalised at construction: ids become non-empty ``str``,
    the total a finite, non-negative :class:`~decimal.Decimal`.

    Attributes:
        company_id: the B2B Edition company; ``None`` lets the API derive it from the
            customer ("Create Order Without CompanyID").
        customer_id: the B2B Edition user (the buyer).
        order_id: the BigCommerce order id; the natural key of a registration.
        total_inc_tax: the order total including tax.
        po_number: the purchase-order number, if any.

    Raises:
        InvalidOrderError: a value is empty, of the wrong type, NaN, infinite or negative.

    .. versionadded:: 0.1.0
    """

    company_id: str | None
    customer_id: str
    order_id: str
    total_inc_tax: Decimal
    po_number: str | None = None

    def __init__(
        self,
        company_id: str | int | None,
        customer_id: str | int,
        order_id: str | int,
        total_inc_tax: Decimal | int | float | str,
        po_number: str | None = None,
    ) -> None:
        # Written out, not generated from one converter per field: every order is built
        # here, so the usual forms (a non-negative int or a plain alphanumeric str id, a
        # Decimal total, a str PO number) are accepted without a call, and only the rest
        # goes through to_id, to_total and _po_number, which check everything.
        if type(company_id) is int and company_id >= 0:
            company_id = str(company_id)
        elif not (type(company_id) is str and company_id.isascii() and company_id.isalnum()):
            company_id = to_id(company_id, field="company_id", optional=True)
        if type(customer_id) is int and customer_id >= 0:
            customer_id = str(customer_id)
        elif not (type(customer_id) is str and customer_id.isascii() and customer_id.isalnum()):
            customer_id = str(to_id(customer_id, field="customer_id"))
        if type(order_id) is int and order_id >= 0:
            order_id = str(order_id)
        elif not (type(order_id) is str and order_id.isascii() and order_id.isalnum()):
            order_id = str(to_id(order_id, field="order_id"))
        if not (
            type(total_inc_tax) is Decimal
            and total_inc_tax.is_finite()
            and total_inc_tax >= 0
            and len(str(total_inc_tax)) <= _MAX_DIGITS  # never fewer characters than digits
        ):
            total_inc_tax = to_total(total_inc_tax)
        if po_number is not None and type(po_number) is not str:
            po_number = _po_number(po_number)
        init = object.__setattr__  # the class is frozen
        init(self, "company_id", company_id)
        init(self, "customer_id", customer_id)
        init(self, "order_id", order_id)
        init(self, "total_inc_tax", total_inc_tax)
        init(self, "po_number", po_number)


@attrs.frozen
class CreatedOrder:
    """A registration the API confirmed.

    Attributes:
        order_id: the registered BigCommerce order id, always a ``str``.
        already_registered: ``True`` when the order turned out to be registered already by
            an earlier attempt of the same call (or, in bulk runs, by an earlier run).

    .. versionadded:: 0.1.0
    """

    order_id: str
    already_registered: bool = False
