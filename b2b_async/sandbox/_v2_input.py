"""What the V2 operations accept: their bodies and queries, checked.

Registration bodies, from the schema (``orderId`` string, required; ``totalIncTax`` number,
required; ``poNumber`` string, optional): ``orderId`` must be a non-blank string;
``totalIncTax`` must be a JSON number (not a boolean, not a numeric string); ``poNumber``, when
present, must be a string (``null`` included). Error keys are the server's own field names, as
in the published example ``{"bc_order_id": "orderId can not be null"}``.

"Update Company Order With BC OrderId" (``PUT /orders``) needs ``orderId`` (a string, or an
integer as the published example sends it), ``billingAddress`` (an object) and ``products`` (a
list of objects). Money fields and product quantities and prices accept a number or a numeric
string ("Float, Float-As-String, Integer"); ``subtotalExTax`` and ``subtotalIncTax`` come
together ("If specified, the field subtotal_inc_tax is also required", and the other way
round); ``statusId`` must be a BigCommerce status id;
``externalId`` cannot be written, as the field's description says. Other fields are kept as
sent. The two company operations take ids as strings (the schema) or integers.

Listings take ``offset`` and ``limit`` (non-negative integers, default 0 and 10),
``beginDateAt`` and ``endDateAt`` (``MM/DD/YYYY``, inclusive, on the UTC creation date) and, for
"Get Company Orders", ``orderBy`` (``bcOrderId``, ``totalIncTax`` or ``createdAt``, ascending; a
leading ``-`` sorts descending; newest first when absent), ``includeExtra`` (``0``/``1``) and
``channelId``.

Every check reports every problem it finds at once, as :class:`InvalidInputError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

import attrs

from ._input import (
    InvalidInputError,
    digits_value,
    json_object,
    non_negative,
    parameter,
    plausible_total,
    whole,
)
from ._state import STATUS_NAMES, RegisteredOrder

__all__ = [
    "ID_LISTING",
    "Listing",
    "NewOrder",
    "checked_update",
    "order_id_of",
    "parse_new_order",
    "required_ids",
    "update_changes",
]

_ABSENT: Final = object()
DEFAULT_LIMIT: Final = 10


# --- registration ------------------------------------------------------------------------------


@attrs.frozen
class NewOrder:
    """A registration request's body, checked.

    Args:
        order_id: the BigCommerce order id.
        total_inc_tax: the total including tax, exactly as sent.
        po_number: the purchase-order number, if one was sent.
    """

    order_id: str
    total_inc_tax: Decimal
    po_number: str | None


def _order_id_problem(value: object) -> str | None:
    if value is _ABSENT or value is None:
        return "orderId can not be null"
    if not isinstance(value, str):
        return "orderId must be a string"
    return None if value.strip() else "orderId can not be empty"


def _total_problem(value: object) -> str | None:
    if value is _ABSENT or value is None:
        return "totalIncTax can not be null"
    # bool is an int subclass, and "12.5" is a string: neither is a JSON number.
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return "totalIncTax must be a number"
    if not plausible_total(Decimal(value)):
        return "totalIncTax must be below 1E+308"
    return None


def _po_number_problem(value: object) -> str | None:
    if value is _ABSENT or isinstance(value, str):
        return None
    return "poNumber must be a string"


# (error key, body key, check): error keys are the server's field names (see module docstring).
_NEW_ORDER_CHECKS: tuple[tuple[str, str, Callable[[object], str | None]], ...] = (
    ("bc_order_id", "orderId", _order_id_problem),
    ("total_inc_tax", "totalIncTax", _total_problem),
    ("po_number", "poNumber", _po_number_problem),
)


def parse_new_order(raw: bytes) -> NewOrder:
    """Check a registration body and return its values.

    Args:
        raw: the body as received.

    Returns:
        The checked values.

    Raises:
        InvalidInputError: with every problem found, not just the first.
    """
    body = json_object(raw)
    problems = {
        key: problem
        for key, field, check in _NEW_ORDER_CHECKS
        if (problem := check(body.get(field, _ABSENT))) is not None
    }
    if problems:
        raise InvalidInputError(problems)
    return NewOrder(
        order_id=body["orderId"],
        total_inc_tax=Decimal(body["totalIncTax"]),
        po_number=body.get("poNumber"),
    )


# --- updates -----------------------------------------------------------------------------------

_MONEY_FIELDS = (
    "baseHandlingCost",
    "baseShippingCost",
    "baseWrappingCost",
    "discountAmount",
    "handlingCostExTax",
    "handlingCostIncTax",
    "refundedAmount",
    "shippingCostExTax",
    "shippingCostIncTax",
    "subtotalExTax",
    "subtotalIncTax",
    "totalExTax",
    "wrappingCostExTax",
    "wrappingCostIncTax",
)
# Amounts the schema says go together: "If specified, the field subtotal_inc_tax is also
# required", and the other way round.
_PAIRED: tuple[tuple[str, str], ...] = (
    ("subtotalExTax", "subtotalIncTax"),
    ("subtotalIncTax", "subtotalExTax"),
)
_MAX_MAGNITUDE = 15
_PRODUCT_NUMBERS = ("quantity", "priceExTax", "priceIncTax")
_READ_ONLY = {
    "externalId": "The field 'external_id' cannot be written to. Please remove it from your "
    "request before trying again."
}
# Fields PUT /orders turns into RegisteredOrder attributes; the rest lands in `extra`.
_STRUCTURED = frozenset(
    {"orderId", "billingAddress", "products", "statusId", "channelId", "poNumber"}
)
# Optional fields PUT /orders turns into RegisteredOrder attributes, and how.
_OPTIONAL: Mapping[str, tuple[str, Callable[[Any], Any]]] = {
    "statusId": ("status_id", whole),
    "channelId": ("channel_id", whole),
    "poNumber": ("po_number", str),
}


def _finite_number(value: object) -> Decimal | None:
    """A finite number, or a string holding one; ``None`` for anything else (booleans are
    no numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        return None
    try:
        number = Decimal(value)
    except ArithmeticError:
        return None
    return number if number.is_finite() else None


def _number_problem(field: str, value: object) -> str | None:
    """What is wrong with an amount or count of an update: not a number, or not of a
    plausible size."""
    number = _finite_number(value)
    if number is None:
        return f"{field} must be a number or a numeric string"
    # A quantity of 1e999999999 is a mistake, and summing it would stall the sandbox.
    if number.adjusted() >= _MAX_MAGNITUDE:
        return f"{field} must be below 1E+{_MAX_MAGNITUDE} in magnitude"
    return None


def order_id_of(value: object) -> str | None:
    """The order id an update names: a non-blank string, or an integer written as one.

    Args:
        value: the body's ``orderId``.

    Returns:
        The order id, or ``None`` when the value names no order.
    """
    if isinstance(value, str):
        return value if value.strip() else None
    number = whole(value)
    return str(number) if number is not None else None


def _product_problems(products: object) -> Iterable[tuple[str, str]]:
    if not isinstance(products, list):
        yield "products", "products must be a list of products"
        return
    for index, product in enumerate(products):
        where = f"products[{index}]"
        if not isinstance(product, dict):
            yield where, f"{where} must be an object"
            continue
        for field in _PRODUCT_NUMBERS:
            problem = _number_problem(field, product[field]) if field in product else None
            if problem is not None:
                yield f"{where}.{field}", problem


def _optional_problems(body: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    for field in _MONEY_FIELDS:
        problem = _number_problem(field, body[field]) if field in body else None
        if problem is not None:
            yield field, problem
    if "statusId" in body and whole(body["statusId"]) not in STATUS_NAMES:
        yield "statusId", "statusId must be a BigCommerce order status id"
    if "channelId" in body and whole(body["channelId"]) is None:
        yield "channelId", "channelId must be a channel id"
    if "poNumber" in body and not isinstance(body["poNumber"], str):
        yield "poNumber", "poNumber must be a string"
    for given, needed in _PAIRED:
        if given in body and needed not in body:
            yield needed, f"{needed} is required with {given}"
    yield from ((field, problem) for field, problem in _READ_ONLY.items() if field in body)


def _update_problems(body: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    if order_id_of(body.get("orderId")) is None:
        yield "orderId", "orderId must be a BigCommerce order id"
    if not isinstance(body.get("billingAddress"), dict):
        yield "billingAddress", "billingAddress can not be omitted"
    yield from _product_problems(body.get("products"))
    yield from _optional_problems(body)


def checked_update(raw: bytes) -> dict[str, Any]:
    """Check an update body (``PUT /orders``).

    Args:
        raw: the body as received.

    Returns:
        The decoded body.

    Raises:
        InvalidInputError: with every problem found.
    """
    body = json_object(raw)
    problems = dict(_update_problems(body))
    if problems:
        raise InvalidInputError(problems)
    return body


def update_changes(body: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """The :class:`RegisteredOrder` attributes a checked update body sets.

    Args:
        body: the body, checked by :func:`checked_update`.
        extra: the order's ``extra`` before the update; fields not sent keep their values.

    Returns:
        The changes, for :meth:`SandboxState.update`.
    """
    changes: dict[str, Any] = {
        "billing_address": dict(body["billingAddress"]),
        "products": tuple(dict(product) for product in body["products"]),
        "extra": {**extra, **{k: v for k, v in body.items() if k not in _STRUCTURED}},
    }
    for field, (attribute, convert) in _OPTIONAL.items():
        if field in body:
            changes[attribute] = convert(body[field])
    return changes


def required_ids(raw: bytes, names: Iterable[str]) -> dict[str, int]:
    """Read the ids a body must carry, as integers or strings of digits.

    Args:
        raw: the body as received.
        names: the body keys of the ids.

    Returns:
        Each id by its key.

    Raises:
        InvalidInputError: naming every id that is missing or not an id.
    """
    body = json_object(raw)
    ids = {name: whole(body.get(name)) for name in names}
    problems = {name: f"{name} must be an id" for name, value in ids.items() if value is None}
    if problems:
        raise InvalidInputError(problems)
    return {name: value for name, value in ids.items() if value is not None}


# --- listings ----------------------------------------------------------------------------------


def _day(text: str) -> date:
    try:
        return datetime.strptime(text, "%m/%d/%Y").date()
    except ValueError:
        raise ValueError("must be a date as MM/DD/YYYY") from None


def _flag(text: str) -> bool:
    if text not in {"0", "1"}:
        raise ValueError("must be 0 or 1")
    return text == "1"


def _sort(text: str) -> tuple[str, bool]:
    field = text.removeprefix("-")
    if field not in _SORT_KEYS:
        raise ValueError(f"must be one of {', '.join(_SORT_KEYS)}, optionally with a leading '-'")
    return field, text.startswith("-")


def _natural(order_id: str) -> tuple[int, int, str]:
    # BigCommerce order ids are numbers sent as strings: "9" sorts before "10".
    number = digits_value(order_id)
    return (1, 0, order_id) if number is None else (0, number, "")


_SORT_KEYS: Mapping[str, Callable[[RegisteredOrder], Any]] = {
    "bcOrderId": lambda order: _natural(order.order_id),
    "totalIncTax": lambda order: order.total_inc_tax,
    "createdAt": lambda order: order.created_at,
}

ID_LISTING: Final = ("offset", "limit", "beginDateAt", "endDateAt")
"""The parameters "Get Company Order BC Ids" takes."""


@attrs.frozen(kw_only=True)
class Listing:
    """A listing's query, parsed (with :func:`parse_query`).

    Args:
        offset: how many matching orders to skip.
        limit: how many to list at most.
        begin: the first creation day listed, if any.
        end: the last creation day listed, if any.
        order_by: the sort key, and whether it sorts descending.
        include_extra: whether each item carries its extra fields.
        channel_id: the one channel listed, if any.
    """

    offset: int = parameter("offset", non_negative, 0)
    limit: int = parameter("limit", non_negative, DEFAULT_LIMIT)
    begin: date | None = parameter("beginDateAt", _day, None)  # noqa: RUF009 - an attrs field
    end: date | None = parameter("endDateAt", _day, None)  # noqa: RUF009 - an attrs field
    order_by: tuple[str, bool] = parameter("orderBy", _sort, ("createdAt", True))
    include_extra: bool = parameter("includeExtra", _flag, False)
    channel_id: int | None = parameter("channelId", non_negative, None)

    def select(self, orders: Iterable[RegisteredOrder]) -> tuple[list[RegisteredOrder], int]:
        """Filter, sort and cut one page.

        Returns:
            The page, and how many orders matched before paging.
        """
        kept = [order for order in orders if self._keeps(order)]
        field, descending = self.order_by
        kept.sort(key=_SORT_KEYS[field], reverse=descending)
        return kept[self.offset : self.offset + self.limit], len(kept)

    def pagination(self, total: int) -> dict[str, int]:
        """The ``pagination`` object of a listing."""
        return {"limit": self.limit, "offset": self.offset, "totalCount": total}

    def _keeps(self, order: RegisteredOrder) -> bool:
        day = order.created_at.date()
        return (
            (self.begin is None or day >= self.begin)
            and (self.end is None or day <= self.end)
            and (self.channel_id is None or order.channel_id == self.channel_id)
        )
