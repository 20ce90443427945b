"""The V3 Order operations under ``/api/v3/io``, served from the same store as V2.

An order registered through either version is visible through both (see ``_v3_views`` for the
one exception: ids V3's integer ``bcOrderId`` cannot name). Rules, from the published V3
document where it says, and the sandbox's own choices where it does not:

- "Create an Order" needs ``bcOrderId`` and ``customerId`` (JSON integers); ``poNumber`` is a
  string, ``extraFields`` a list of ``{"fieldName", "fieldValue"}`` strings naming configured
  fields. The company is the customer's; the total is 0, since the sandbox does not model
  BigCommerce's own orders, where B2B Edition would read it. An unknown customer answers 404
  (the document lists no answer for it). A second registration of an order id, through either
  version, answers 400 "The order already exists.", as the document's 400 does.
- The 10-second rule (a registration must arrive within 10 seconds of the BigCommerce order's
  creation) is not enforced: without BigCommerce's orders there is no creation time to check.
- "Get All Orders" takes ``limit`` (1 to 200, default 10), ``offset``, ``orderBy``
  (``ASC``/``DESC``, default ``DESC``), ``sortBy`` (``createdAt``/``updatedAt``, default
  ``updatedAt``), ``companyId``, ``bcOrderId``, ``minCreated``/``maxCreated``/``minModified``/
  ``maxModified`` (Unix seconds, inclusive; an empty value is no bound), ``showExtra``
  (``true``/``false``) and ``channelIds[]`` (repeated, or comma-separated). Without a time
  bound it lists only the orders updated in the last year, as the document says. A value that
  does not parse answers 400 naming the parameter.
- "Update an Order" needs ``poNumber`` or ``extraFields``; extra fields not named keep their
  values. When a configured field is required and the update does not send it (nor has the
  order a value for it), the answer is 422 "<name> is a required extra field".
- Path ids that are not whole numbers name nothing: 404, as an unknown id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any, Final

import attrs
from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import MultiMapping

from ._keys import RECORD_KEY, STATE_KEY
from ._orders import InvalidBodyError, json_object, path_id
from ._state import RegisteredOrder, SandboxState, utc_now
from ._v3_envelope import v3_bad_request, v3_failure, v3_success
from ._v3_views import (
    EXTRA_FIELDS,
    V3_KEY,
    OrderExtraField,
    b2b_ids,
    config_view,
    configs_by_name,
    extra_fields_of,
    order_view,
    product_views,
    v3_number,
)

__all__ = ["V3_PREFIX", "V3_ROUTES"]

V3_PREFIX: Final = "/api/v3/io"
"""Where the V3 API lives on the host, as on ``https://api-b2b.bigcommerce.com``."""

ORDER_MISSING: Final = "Order Does Not Exist."
PRODUCTS_ORDER_MISSING: Final = "The order does not exist."
UPDATE_ORDER_MISSING: Final = "Not Found Error"
USER_MISSING: Final = "User Does not Exist"
ASSIGN_USER_MISSING: Final = "User does not exist or action not support for this user."
REASSIGN_MISSING: Final = "User does not exist or action not supported for this user"
ALREADY_EXISTS: Final = "The order already exists."
DEFAULT_LIMIT: Final = 10
MAX_LIMIT: Final = 200
_LAST_YEAR: Final = timedelta(days=365)
_ABSENT: Final = object()
#: The total of an order registered through V3: B2B Edition would read it from BigCommerce.
_ZERO: Final = Decimal(0)


def _count(text: str) -> int:
    if not (text.isascii() and text.isdecimal()):
        raise ValueError("must be a non-negative integer")
    return int(text)


def _limit(text: str) -> int:
    value = _count(text)
    if not 1 <= value <= MAX_LIMIT:
        raise ValueError(f"must be from 1 to {MAX_LIMIT}")
    return value


def _direction(text: str) -> bool:
    if text.upper() not in ("ASC", "DESC"):
        raise ValueError("must be ASC or DESC")
    return text.upper() == "DESC"


def _sort_by(text: str) -> str:
    if text not in ("createdAt", "updatedAt"):
        raise ValueError("must be createdAt or updatedAt")
    return text


def _flag(text: str) -> bool:
    if text.lower() not in ("true", "false", "1", "0"):
        raise ValueError("must be true or false")
    return text.lower() in ("true", "1")


def _bound(text: str) -> int | None:
    return None if text == "" else _count(text)


# Query parameter -> (attribute of OrderQuery, parser); a parser raises ValueError.
_PARAMETERS: Mapping[str, tuple[str, Callable[[str], Any]]] = {
    "limit": ("limit", _limit),
    "offset": ("offset", _count),
    "orderBy": ("descending", _direction),
    "sortBy": ("sort_by", _sort_by),
    "companyId": ("company_id", _count),
    "bcOrderId": ("bc_order_id", _count),
    "minCreated": ("min_created", _bound),
    "maxCreated": ("max_created", _bound),
    "minModified": ("min_modified", _bound),
    "maxModified": ("max_modified", _bound),
    "showExtra": ("show_extra", _flag),
}
_CHANNELS: Final = ("channelIds[]", "channelIds")


def _channels(query: MultiMapping[str]) -> frozenset[int]:
    values = [
        part for name in _CHANNELS for text in query.getall(name, []) for part in text.split(",")
    ]
    return frozenset(_count(value.strip()) for value in values if value.strip())


@attrs.frozen(kw_only=True)
class OrderQuery:
    """The query of "Get All Orders", parsed."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0
    descending: bool = True
    sort_by: str = "updatedAt"
    company_id: int | None = None
    bc_order_id: int | None = None
    min_created: int | None = None
    max_created: int | None = None
    min_modified: int | None = None
    max_modified: int | None = None
    show_extra: bool = False
    channel_ids: frozenset[int] = frozenset()

    @classmethod
    def parse(cls, query: MultiMapping[str], names: Iterable[str] = _PARAMETERS) -> OrderQuery:
        """Parse the known parameters among ``names``; others are ignored, as the API ignores
        them.

        Raises:
            InvalidBodyError: naming every parameter that does not parse.
        """
        values: dict[str, Any] = {}
        problems: dict[str, str] = {}
        for name in names:
            if name in query:
                attribute, parse = _PARAMETERS[name]
                try:
                    values[attribute] = parse(query[name])
                except ValueError as exc:
                    problems[name] = f"{name} {exc}"
        if names is _PARAMETERS:
            try:
                values["channel_ids"] = _channels(query)
            except ValueError as exc:
                problems["channelIds[]"] = f"channelIds[] {exc}"
        if problems:
            raise InvalidBodyError(problems)
        return cls(**values)

    @property
    def bounded(self) -> bool:
        """Whether any time bound was given (otherwise only the last year is listed)."""
        bounds = (self.min_created, self.max_created, self.min_modified, self.max_modified)
        return any(bound is not None for bound in bounds)

    def keeps(self, order: RegisteredOrder, number: int, since: int) -> bool:
        """Whether the filters keep this order (``since``: the last-year cut-off)."""
        created, updated = int(order.created_at.timestamp()), int(order.updated_at.timestamp())
        checks = (
            (self.company_id, order.company_id, _equal),
            (self.bc_order_id, number, _equal),
            (self.min_created, created, _at_least),
            (self.max_created, created, _at_most),
            (self.min_modified, updated, _at_least),
            (self.max_modified, updated, _at_most),
        )
        if not all(wanted is None or test(value, wanted) for wanted, value, test in checks):
            return False
        if self.channel_ids and order.channel_id not in self.channel_ids:
            return False
        return self.bounded or updated >= since

    def pagination(self, total: int) -> dict[str, int]:
        """The ``meta.pagination`` of a listing."""
        return {"totalCount": total, "limit": self.limit, "offset": self.offset}


def _equal(value: int, wanted: int) -> bool:
    return value == wanted


def _at_least(value: int, bound: int) -> bool:
    return value >= bound


def _at_most(value: int, bound: int) -> bool:
    return value <= bound


def _visible(state: SandboxState) -> Iterable[tuple[RegisteredOrder, int]]:
    """Every order V3 can name, with its integer ``bcOrderId``."""
    for order in state.orders.values():
        number = v3_number(order.order_id)
        if number is not None:
            yield order, number


def _order_at(request: web.Request) -> RegisteredOrder | None:
    text = request.match_info["bcOrderId"]
    if v3_number(text) is None:
        return None
    return request.app[STATE_KEY].order(text)


def _b2b_id(state: SandboxState, order: RegisteredOrder) -> int:
    return b2b_ids(state)[order.order_id]


# --- request bodies ----------------------------------------------------------------------------


def _id_problem(value: object, name: str) -> str | None:
    if value is _ABSENT or value is None:
        return f"{name} can not be null"
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return f"{name} must be a positive integer"
    return None


def _extra_field_problems(
    value: object, configs: Mapping[str, OrderExtraField]
) -> Iterable[tuple[str, str]]:
    if not isinstance(value, list):
        yield EXTRA_FIELDS, "extraFields must be a list of {fieldName, fieldValue}"
        return
    seen: set[str] = set()
    for index, item in enumerate(value):
        where = f"extraFields[{index}]"
        name = item.get("fieldName") if isinstance(item, dict) else None
        text = item.get("fieldValue") if isinstance(item, dict) else None
        if not isinstance(name, str) or not isinstance(text, str):
            yield where, f"{where} must have a string fieldName and a string fieldValue"
        elif name not in configs:
            yield f"{where}.fieldName", f"{name} is not an order extra field"
        elif name in seen:
            yield f"{where}.fieldName", f"{name} is given twice"
        elif (problem := configs[name].problem(text)) is not None:
            yield f"{where}.fieldValue", problem
        else:
            seen.add(name)


def _sent_fields(body: Mapping[str, Any]) -> list[dict[str, str]]:
    return [
        {"fieldName": item["fieldName"], "fieldValue": item["fieldValue"]}
        for item in body.get(EXTRA_FIELDS, [])
    ]


def _common_problems(
    body: Mapping[str, Any], configs: Mapping[str, OrderExtraField]
) -> Iterable[tuple[str, str]]:
    if "poNumber" in body and not isinstance(body["poNumber"], str):
        yield "poNumber", "poNumber must be a string"
    if EXTRA_FIELDS in body:
        yield from _extra_field_problems(body[EXTRA_FIELDS], configs)


def _checked_creation(raw: bytes, configs: Mapping[str, OrderExtraField]) -> dict[str, Any]:
    body = json_object(raw)
    problems = {
        name: problem
        for name in ("bcOrderId", "customerId")
        if (problem := _id_problem(body.get(name, _ABSENT), name)) is not None
    }
    problems.update(_common_problems(body, configs))
    if problems:
        raise InvalidBodyError(problems)
    return body


def _checked_update(raw: bytes, configs: Mapping[str, OrderExtraField]) -> dict[str, Any]:
    body = json_object(raw)
    problems = dict(_common_problems(body, configs))
    if "poNumber" not in body and EXTRA_FIELDS not in body:
        problems["errMsg"] = "poNumber or extraFields is required"
    if problems:
        raise InvalidBodyError(problems)
    return body


def _merged(existing: list[dict[str, str]], sent: list[dict[str, str]]) -> list[dict[str, str]]:
    """The order's extra fields after an update: the sent values replace same-named ones."""
    names = {field["fieldName"] for field in sent}
    return [field for field in existing if field["fieldName"] not in names] + sent


def _missing_required(
    body: Mapping[str, Any], fields: list[dict[str, str]], configs: Iterable[OrderExtraField]
) -> str | None:
    required = [config.name for config in configs if config.required]
    if not required:
        return None
    if EXTRA_FIELDS not in body:
        return required[0]
    present = {field["fieldName"] for field in fields}
    return next((name for name in required if name not in present), None)


# --- handlers ----------------------------------------------------------------------------------


async def list_orders(request: web.Request) -> web.Response:
    """``GET /orders``: a page of the orders that match, newest update first by default."""
    state = request.app[STATE_KEY]
    try:
        query = OrderQuery.parse(request.query)
    except InvalidBodyError as exc:
        return v3_bad_request(exc.fields)
    since = int((utc_now() - _LAST_YEAR).timestamp())
    kept = [
        (order, number) for order, number in _visible(state) if query.keeps(order, number, since)
    ]
    field = "created_at" if query.sort_by == "createdAt" else "updated_at"
    kept.sort(key=lambda pair: (getattr(pair[0], field), pair[1]), reverse=query.descending)
    page = kept[query.offset : query.offset + query.limit]
    ids = b2b_ids(state)
    data = [
        order_view(order, b2b_id=ids[order.order_id], extra=query.show_extra) for order, _ in page
    ]
    return v3_success(data, pagination=query.pagination(len(kept)))


async def create_order(request: web.Request) -> web.Response:
    """``POST /orders``: register an order with the customer's company."""
    state = request.app[STATE_KEY]
    configs = configs_by_name(request.app[V3_KEY].extra_fields)
    record = request[RECORD_KEY]
    try:
        body = _checked_creation(record.raw, configs)
    except InvalidBodyError as exc:
        return v3_bad_request(exc.fields)
    customer = state.customer(body["customerId"])
    if customer is None:
        return v3_failure(404, USER_MISSING)
    order_id = str(body["bcOrderId"])
    if state.order(order_id) is not None:
        return v3_failure(400, ALREADY_EXISTS)
    order = state.register(
        order_id=order_id,
        company_id=customer.company_id,
        customer_id=customer.id,
        total_inc_tax=_ZERO,
        po_number=body.get("poNumber"),
    )
    record.registered = order_id
    if EXTRA_FIELDS in body:
        order = state.update(order_id, extra={**order.extra, EXTRA_FIELDS: _sent_fields(body)})
    return v3_success(order_view(order, b2b_id=_b2b_id(state, order), extra=True))


async def get_order(request: web.Request) -> web.Response:
    """``GET /orders/{bcOrderId}``: the order, as a one-item array (the document's schema)."""
    order = _order_at(request)
    if order is None:
        return v3_failure(404, ORDER_MISSING)
    b2b_id = _b2b_id(request.app[STATE_KEY], order)
    return v3_success([order_view(order, b2b_id=b2b_id, extra=True, detail=True)])


async def update_order(request: web.Request) -> web.Response:
    """``PUT /orders/{bcOrderId}``: set the PO number and extra fields."""
    state = request.app[STATE_KEY]
    settings = request.app[V3_KEY]
    order = _order_at(request)
    if order is None:
        return v3_failure(404, UPDATE_ORDER_MISSING)
    try:
        body = _checked_update(request[RECORD_KEY].raw, configs_by_name(settings.extra_fields))
    except InvalidBodyError as exc:
        return v3_bad_request(exc.fields)
    fields = _merged(extra_fields_of(order), _sent_fields(body))
    missing = _missing_required(body, fields, settings.extra_fields)
    if missing is not None:
        return v3_failure(422, f"{missing} is a required extra field", err_msg=True)
    changes: dict[str, Any] = {"extra": {**order.extra, EXTRA_FIELDS: fields}}
    if "poNumber" in body:
        changes["po_number"] = body["poNumber"]
    order = state.update(order.order_id, **changes)
    view = order_view(order, b2b_id=_b2b_id(state, order), extra=True, detail=True)
    return v3_success([view], top_level=True)


async def order_products(request: web.Request) -> web.Response:
    """``GET /orders/{bcOrderId}/products``: the order's product lines."""
    order = _order_at(request)
    if order is None:
        return v3_failure(404, PRODUCTS_ORDER_MISSING)
    return v3_success(product_views(order), top_level=True)


async def assign_customer_orders(request: web.Request) -> web.Response:
    """``PUT /customers/{customerId}/orders/b2b``: give the customer's orders its company."""
    state = request.app[STATE_KEY]
    customer = state.customer(path_id(request, "customerId"))
    if customer is None:
        return v3_failure(404, ASSIGN_USER_MISSING)
    moved = state.move_orders(customer.id, customer.company_id)
    return v3_success({"total": moved}, top_level=True)


async def reassign_customer_orders(request: web.Request) -> web.Response:
    """``PUT /customers/{customerId}/orders/company``: move the customer's orders to the
    company of a customer group."""
    state = request.app[STATE_KEY]
    try:
        body = json_object(request[RECORD_KEY].raw)
    except InvalidBodyError as exc:
        return v3_bad_request(exc.fields)
    problem = _id_problem(body.get("bcGroupId", _ABSENT), "bcGroupId")
    if problem is not None:
        return v3_bad_request({"bcGroupId": problem})
    customer = state.customer(path_id(request, "customerId"))
    company = state.company_of_group(body["bcGroupId"])
    if customer is None or company is None:
        return v3_failure(404, REASSIGN_MISSING)
    moved = state.move_orders(customer.id, company.id)
    return v3_success({"total": moved}, top_level=True)


async def extra_field_configs(request: web.Request) -> web.Response:
    """``GET /orders/extra-fields``: a page of the order extra field configurations."""
    try:
        query = OrderQuery.parse(request.query, ("limit", "offset"))
    except InvalidBodyError as exc:
        return v3_bad_request(exc.fields)
    fields = request.app[V3_KEY].extra_fields
    views = [config_view(index, field) for index, field in enumerate(fields, start=1)]
    page = views[query.offset : query.offset + query.limit]
    return v3_success(page, pagination=query.pagination(len(views)))


V3_ROUTES: tuple[tuple[str, str, Handler], ...] = (
    # Before /orders/{bcOrderId}: the first matching route wins.
    ("GET", "/orders/extra-fields", extra_field_configs),
    ("GET", "/orders", list_orders),
    ("POST", "/orders", create_order),
    ("GET", "/orders/{bcOrderId}", get_order),
    ("PUT", "/orders/{bcOrderId}", update_order),
    ("GET", "/orders/{bcOrderId}/products", order_products),
    ("PUT", "/customers/{customerId}/orders/b2b", assign_customer_orders),
    ("PUT", "/customers/{customerId}/orders/company", reassign_customer_orders),
)
"""The V3 routes, under :data:`V3_PREFIX`, in the order they must be registered."""
