"""The BigCommerce side of the store: the orders shoppers place, before B2B Edition records them.

B2B Edition learns of an order only after BigCommerce has created it. A :class:`PlacedOrder` is
that BigCommerce order: its id, the customer who placed it, its total and its creation time
(BigCommerce's ``date_created``). The store (``_state``) keeps them, and records each one in
B2B Edition by itself once V3's registration window has passed; until then "Create an Order"
may register it, with the total taken from here.

The control endpoint ``POST /_sandbox/bigcommerce/orders`` places orders over HTTP; its body is
read by :func:`placement_from_json`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import attrs

from ._faults import shown_number, wide_float
from ._input import plausible_total

__all__ = [
    "DEFAULT_REGISTRATION_WINDOW",
    "FIRST_ORDER_ID",
    "PlacedOrder",
    "checked_window",
    "placed_view",
    "placement_from_json",
]

DEFAULT_REGISTRATION_WINDOW: Final = 10.0
"""How many seconds after an order's creation V3 "Create an Order" still accepts it, as the
published V3 document says ("within 10 seconds of an order's creation").

.. versionadded:: 0.2.0
"""

FIRST_ORDER_ID: Final = 100
"""The id of the first order placed without one, as in a new BigCommerce store."""


def checked_window(seconds: float | None) -> float | None:
    """Check a registration window: a finite, non-negative number of seconds, or ``None``.

    Args:
        seconds: the window; ``None`` switches it off.

    Returns:
        The window, as a float (or ``None``).

    Raises:
        ValueError: negative, infinite or not a number.
    """
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError(f"registration_window must be a number of seconds, got {seconds!r}")
    window = wide_float(seconds)
    if not math.isfinite(window) or window < 0:
        raise ValueError(
            f"registration_window must be finite and >= 0, got {shown_number(seconds)}"
        )
    return window


def _to_total(value: Decimal | int | float | str) -> Decimal:
    """An order total: a finite, non-negative amount with the digits given."""
    if isinstance(value, bool):
        raise ValueError(f"total_inc_tax must be an amount, got {value!r}")
    try:
        total = Decimal(str(value)) if isinstance(value, float | str) else Decimal(value)
    except (InvalidOperation, TypeError):
        raise ValueError(f"total_inc_tax must be an amount, got {value!r}") from None
    if not total.is_finite() or total < 0:
        raise ValueError(f"total_inc_tax must be finite and >= 0, got {value!r}")
    if not plausible_total(total):
        raise ValueError(f"total_inc_tax must be below 1E+308, got {value!r}")
    return total


def _to_utc(value: datetime) -> datetime:
    """A creation time in UTC; a time without a zone is ambiguous, so it is refused."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"created_at must be an aware datetime, got {value!r}")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # a time at the edge of the years, which UTC takes past them
        raise ValueError(f"created_at is out of range in UTC: {value!r}") from None


def _positive_id(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a positive integer, got {value!r}")


@attrs.frozen(kw_only=True)
class PlacedOrder:
    """An order placed in BigCommerce, which B2B Edition has to record.

    Args:
        bc_order_id: the BigCommerce order id.
        customer_id: the customer who placed it; its company is the order's in B2B Edition.
        total_inc_tax: the total including tax, a :class:`~decimal.Decimal` (an ``int``,
            ``float`` or numeric ``str`` is converted; negative or non-finite amounts are
            refused).
        created_at: when BigCommerce created the order (its ``date_created``), an aware
            datetime, kept in UTC.

    Raises:
        ValueError: an id that is not a positive integer, a bad total, a naive datetime.

    .. versionadded:: 0.2.0
    """

    bc_order_id: int = attrs.field(validator=_positive_id)
    customer_id: int = attrs.field(validator=_positive_id)
    total_inc_tax: Decimal = attrs.field(converter=_to_total)
    created_at: datetime = attrs.field(converter=_to_utc)


def _created_at(value: object) -> datetime:
    """The ``createdAt`` of a placement: Unix seconds, or ISO 8601 text with an offset."""
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):  # beyond the years a datetime holds
            raise ValueError(f"createdAt is out of range: {value!r}") from None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"createdAt must be Unix seconds or ISO 8601 text, got {value!r}")


def _json_id(body: dict[str, Any], key: str) -> int:
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an integer, got {value!r}")
    return value


def placement_from_json(body: object) -> dict[str, Any]:
    """Read the body of ``POST /_sandbox/bigcommerce/orders`` into the keyword arguments of
    ``Sandbox.place_order``.

    The body is ``{"customerId": 5, "totalIncTax": 12.5}``, with optional ``bcOrderId`` (an
    integer) and ``createdAt`` (Unix seconds, or ISO 8601 text with an offset). The total may
    be a JSON number or a numeric string.

    Args:
        body: the decoded JSON body.

    Returns:
        ``customer_id``, ``total_inc_tax``, and ``bc_order_id`` and ``created_at`` when given.

    Raises:
        ValueError: naming the first key that is missing or of the wrong type.
    """
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    for key in ("customerId", "totalIncTax"):
        if key not in body:
            raise ValueError(f"{key} is required")
    total = body["totalIncTax"]
    if isinstance(total, bool) or not isinstance(total, int | Decimal | str):
        raise ValueError(f"totalIncTax must be a number or a numeric string, got {total!r}")
    placement: dict[str, Any] = {
        "customer_id": _json_id(body, "customerId"),
        "total_inc_tax": total,
    }
    if body.get("bcOrderId") is not None:
        placement["bc_order_id"] = _json_id(body, "bcOrderId")
    if body.get("createdAt") is not None:
        placement["created_at"] = _created_at(body["createdAt"])
    return placement


def placed_view(order: PlacedOrder) -> dict[str, Any]:
    """A placed order as the control endpoints show it: camelCase, the total as a string."""
    return {
        "bcOrderId": order.bc_order_id,
        "customerId": order.customer_id,
        "totalIncTax": str(order.total_inc_tax),
        "createdAt": order.created_at.isoformat(),
    }
