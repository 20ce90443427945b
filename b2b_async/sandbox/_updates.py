"""The write operations of the V2 Order section beyond registration.

"Update Company Order With BC OrderId" (``PUT /orders``) needs ``orderId`` (a string, or an
integer as the published example sends it), ``billingAddress`` (an object) and ``products`` (a
list of objects). Money fields and product quantities and prices accept a number or a numeric
string ("Float, Float-As-String, Integer"); ``statusId`` must be a BigCommerce status id;
``externalId`` cannot be written, as the field's description says. Other fields are kept as sent.

The two company operations take ids as strings (the schema) or integers. An unknown customer or
customer group answers 400 with code 40013 and no data, the shape of their published 400.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from aiohttp import web

from ._envelope import RESOURCE_MISSING, bad_request, failure, success
from ._keys import RECORD_KEY, STATE_KEY
from ._orders import InvalidBodyError, json_object
from ._queries import ORDER_MISSING
from ._views import STATUS_NAMES

__all__ = ["move_customer_orders", "rederive_order_company", "update_order"]

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


def _numeric(value: object) -> bool:
    """A number, or a string holding one, of a plausible size; booleans are neither."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        return False
    try:
        number = Decimal(value)
    except ArithmeticError:
        return False
    # A quantity of 1e999999999 is a mistake, and summing it would stall the sandbox.
    return number.is_finite() and number.adjusted() < _MAX_MAGNITUDE


def whole(value: object) -> int | None:
    """An id sent as an integer or a string of digits; ``None`` for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdecimal():
        return int(value)
    return None


def _order_id(value: object) -> str | None:
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
            if field in product and not _numeric(product[field]):
                yield f"{where}.{field}", f"{field} must be a number or a numeric string"


def _field_problems(body: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    if _order_id(body.get("orderId")) is None:
        yield "orderId", "orderId must be a BigCommerce order id"
    if not isinstance(body.get("billingAddress"), dict):
        yield "billingAddress", "billingAddress can not be omitted"
    yield from _product_problems(body.get("products"))
    for field in _MONEY_FIELDS:
        if field in body and not _numeric(body[field]):
            yield field, f"{field} must be a number or a numeric string"
    if "statusId" in body and whole(body["statusId"]) not in STATUS_NAMES:
        yield "statusId", "statusId must be a BigCommerce order status id"
    if "channelId" in body and whole(body["channelId"]) is None:
        yield "channelId", "channelId must be a channel id"
    if "poNumber" in body and not isinstance(body["poNumber"], str):
        yield "poNumber", "poNumber must be a string"
    yield from ((field, problem) for field, problem in _READ_ONLY.items() if field in body)


def _changes(body: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """The RegisteredOrder attributes a checked update body sets."""
    changes: dict[str, Any] = {
        "billing_address": dict(body["billingAddress"]),
        "products": tuple(dict(product) for product in body["products"]),
        "extra": {**extra, **{k: v for k, v in body.items() if k not in _STRUCTURED}},
    }
    optional: Mapping[str, tuple[str, Callable[[Any], Any]]] = {
        "statusId": ("status_id", whole),
        "channelId": ("channel_id", whole),
        "poNumber": ("po_number", str),
    }
    for field, (attribute, convert) in optional.items():
        if field in body:
            changes[attribute] = convert(body[field])
    return changes


def _checked(raw: bytes) -> dict[str, Any]:
    body = json_object(raw)
    problems = dict(_field_problems(body))
    if problems:
        raise InvalidBodyError(problems)
    return body


async def update_order(request: web.Request) -> web.Response:
    """``PUT /orders``: update a registered order's address, products and other fields."""
    state = request.app[STATE_KEY]
    try:
        body = _checked(request[RECORD_KEY].raw)
    except InvalidBodyError as exc:
        return bad_request(exc.fields)
    order_id = _order_id(body["orderId"])
    order = state.order(order_id) if order_id is not None else None
    if order is None:
        return failure(404, ORDER_MISSING)
    state.update(order.order_id, **_changes(body, order.extra))
    return success({"orderId": order.order_id})


def _required_ids(raw: bytes, names: Iterable[str]) -> dict[str, int]:
    body = json_object(raw)
    ids = {name: whole(body.get(name)) for name in names}
    problems = {name: f"{name} must be an id" for name, value in ids.items() if value is None}
    if problems:
        raise InvalidBodyError(problems)
    return {name: value for name, value in ids.items() if value is not None}


def _missing(message: str) -> web.Response:
    return bad_request({}, code=RESOURCE_MISSING, message=message)


async def rederive_order_company(request: web.Request) -> web.Response:
    """``POST /orders/company``: give a customer's orders the customer's current company."""
    state = request.app[STATE_KEY]
    try:
        ids = _required_ids(request[RECORD_KEY].raw, ("customerID",))
    except InvalidBodyError as exc:
        return bad_request(exc.fields)
    customer = state.customer(ids["customerID"])
    if customer is None:
        return _missing("User does not exist.")
    state.move_orders(customer.id, customer.company_id)
    return success({})


async def move_customer_orders(request: web.Request) -> web.Response:
    """``PUT /orders/company``: move a customer's orders to the company of a customer group."""
    state = request.app[STATE_KEY]
    try:
        ids = _required_ids(request[RECORD_KEY].raw, ("customerGroupID", "customerID"))
    except InvalidBodyError as exc:
        return bad_request(exc.fields)
    company = state.company_of_group(ids["customerGroupID"])
    if company is None:
        return _missing("Company does not exist.")
    customer = state.customer(ids["customerID"])
    if customer is None:
        return _missing("User does not exist.")
    state.move_orders(customer.id, company.id)
    return success({})
