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


# The three id converters answer the common ids inline, a plain alphanumeric ``str`` or a
# non-negative ``int``, and leave every other value to to_id: each registration runs all
# three, and a further call apiece would cost it measurably.


def _customer_id(value: object) -> str:
    if type(value) is str and value.isascii() and value.isalnum():
        return value
    if type(value) is int and value >= 0:
        return str(value)
    return str(to_id(value, field="customer_id"))


def _order_id(value: object) -> str:
    if type(value) is str and value.isascii() and value.isalnum():
        return value
    if type(value) is int and value >= 0:
        return str(value)
    return str(to_id(value, field="order_id"))


def _optional_company(value: object) -> str | None:
    if type(value) is str and value.isascii() and value.isalnum():
        return value
    if type(value) is int and value >= 0:
        return str(value)
    return to_id(value, field="company_id", optional=True)


def to_total(value: object) -> Decimal:
    """Normalise a total given as ``Decimal``, ``int``, ``float`` or a numeric ``str``.

    Raises:
        InvalidOrderError: the value is not a number, is NaN or infinite, is negative, or
            has more significant digits than a JSON number carries exactly.
    """
    if (  # the common case, checked without conversions
        type(value) is Decimal
        and value.is_finite()
        and value >= 0
        and len(str(value)) <= _MAX_DIGITS  # never fewer characters than digits
    ):
        return value
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


def _po_number(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidOrderError(f"po_number must be a str, got {type(value).__name__}")
    return value


@attrs.frozen
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

    company_id: str | None = attrs.field(converter=_optional_company)
    customer_id: str = attrs.field(converter=_customer_id)
    order_id: str = attrs.field(converter=_order_id)
    total_inc_tax: Decimal = attrs.field(converter=to_total)
    po_number: str | None = attrs.field(default=None, converter=_po_number)


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
