"""The V3 Order operations under ``/api/v3/io``, one method of :class:`V3Api` each.

They are served from the same store as V2: an order registered through either version is
visible through both (see ``_v3_views`` for the one exception: ids V3's integer ``bcOrderId``
cannot name). What each operation accepts is in ``_v3_input``. Rules, from the published V3
document where it says, and the sandbox's own choices where it does not:

- "Create an Order" registers with the company of the customer it names. The total is the
  BigCommerce order's, for an order placed in the sandbox (``Sandbox.place_order``); an order
  never placed is accepted too, with a total of 0, so that tests need not place every order
  they register.
  An unknown customer answers 404 (the document lists no answer for it).
- The registration window: a placed order is accepted only within the window after its
  creation (10 seconds by default). After it, B2B Edition has recorded the order by itself
  (see ``_state``), so the create answers 400 "The order already exists.", the document's
  400. A second registration of an order id, through either version, answers the same.
- Extra field values are checked against the store's configurations: a value that is not a
  number for a number field, longer than its field's maximum length, or not in a drop-down's
  list answers 422 with the document's body (``data.errMsg`` and ``meta.message``). "Update
  an Order" also answers 422 "<name> is a required extra field" when a required field is left
  without a value, as the document says. "Create an Order" does not require them: B2B Edition
  records orders without extra fields by itself, and the document lists no 422 for it.
- Path ids that are not whole numbers name nothing: 404, as an unknown id.

Checks run in this order: the body's shape (400), the customer (404), the extra field rules
(422), then the store's rule that an order is registered once (400).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any, Final

from aiohttp import web

from ._envelope import ALREADY_EXISTS, V3
from ._extra_fields import DEFAULT_ORDER_EXTRA_FIELDS, OrderExtraField, configs_by_name
from ._input import InvalidInputError, json_object, parse_query, path_id
from ._operations import Api, operation
from ._records import RECORD_KEY
from ._state import RegisteredOrder, SandboxState
from ._v3_input import (
    PAGE,
    OrderQuery,
    broken_rules,
    checked_creation,
    checked_update,
    id_problem,
    merged_fields,
    missing_required,
    sent_fields,
)
from ._v3_views import (
    EXTRA_FIELDS,
    config_view,
    extra_fields_of,
    order_view,
    product_views,
    v3_number,
)

__all__ = ["V3Api"]

_LAST_YEAR: Final = timedelta(days=365)
# The total of an order never placed in the sandbox: B2B Edition reads totals from BigCommerce.
_ZERO: Final = Decimal(0)


def _unprocessable(problems: list[str]) -> web.Response | None:
    """The 422 of extra field values that break their fields' rules, or ``None``."""
    if not problems:
        return None
    return V3.failure(422, "; ".join(problems), err_msg=True)


class V3Api(Api):
    """The V3 Order operations (see the module docstring).

    Args:
        state: the store.

    Attributes:
        extra_fields: the order extra fields configured in the store.
    """

    def __init__(self, state: SandboxState) -> None:
        super().__init__(state)
        self.extra_fields: tuple[OrderExtraField, ...] = DEFAULT_ORDER_EXTRA_FIELDS

    # --- orders --------------------------------------------------------------------------------

    # Defined (so routed) before /orders/{bcOrderId}, which would match it too.
    @operation("GET", "/orders/extra-fields")
    async def extra_field_configs(self, request: web.Request) -> web.Response:
        """``GET /orders/extra-fields``: a page of the order extra field configurations."""
        query = parse_query(OrderQuery, request.query, PAGE)
        views = [config_view(index, field) for index, field in enumerate(self.extra_fields, 1)]
        return V3.success(query.page(views), pagination=query.pagination(len(views)))

    @operation("GET", "/orders")
    async def list_orders(self, request: web.Request) -> web.Response:
        """``GET /orders``: a page of the orders that match, newest update first by default."""
        query = OrderQuery.parse(request.query)
        since = int((self.state.now() - _LAST_YEAR).timestamp())
        kept = [(order, n) for order, n in self._visible() if query.keeps(order, n, since)]
        field = "created_at" if query.sort_by == "createdAt" else "updated_at"
        kept.sort(key=lambda pair: (getattr(pair[0], field), pair[1]), reverse=query.descending)
        ids = self.state.b2b_ids
        data = [
            order_view(order, b2b_id=ids[order.order_id], extra=query.show_extra)
            for order, _ in query.page(kept)
        ]
        return V3.success(data, pagination=query.pagination(len(kept)))

    @operation("POST", "/orders")
    async def create_order(self, request: web.Request) -> web.Response:
        """``POST /orders``: register an order with the customer's company."""
        record = request[RECORD_KEY]
        body = checked_creation(record.raw, configs_by_name(self.extra_fields))
        customer = self.state.customer(body["customerId"])
        if customer is None:
            return V3.failure(404, "User Does not Exist")
        refusal = _unprocessable(broken_rules(body, self.extra_fields))
        if refusal is not None:
            return refusal
        order_id = str(body["bcOrderId"])
        if self.state.order(order_id) is not None:
            return V3.failure(400, ALREADY_EXISTS)
        placed = self.state.placed_order(order_id)
        order = self.state.register(
            order_id=order_id,
            company_id=customer.company_id,
            customer_id=customer.id,
            total_inc_tax=placed.total_inc_tax if placed is not None else _ZERO,
            po_number=body.get("poNumber"),
        )
        record.registered = order_id
        if EXTRA_FIELDS in body:
            extra = {**order.extra, EXTRA_FIELDS: sent_fields(body)}
            order = self.state.update(order_id, extra=extra)
        return V3.success(self._view(order, detail=False))

    @operation("GET", "/orders/{bcOrderId}")
    async def get_order(self, request: web.Request) -> web.Response:
        """``GET /orders/{bcOrderId}``: the order, as a one-item array (the document's
        schema)."""
        order = self._order_at(request)
        if order is None:
            return V3.failure(404, "Order Does Not Exist.")
        return V3.success([self._view(order, detail=True)])

    @operation("PUT", "/orders/{bcOrderId}")
    async def update_order(self, request: web.Request) -> web.Response:
        """``PUT /orders/{bcOrderId}``: set the PO number and extra fields."""
        order = self._order_at(request)
        if order is None:
            return V3.failure(404, "Not Found Error")
        body = checked_update(request[RECORD_KEY].raw, configs_by_name(self.extra_fields))
        fields = merged_fields(extra_fields_of(order), sent_fields(body))
        missing = missing_required(body, fields, self.extra_fields)
        refusal = _unprocessable(broken_rules(body, self.extra_fields) + missing)
        if refusal is not None:
            return refusal
        changes: dict[str, Any] = {"extra": {**order.extra, EXTRA_FIELDS: fields}}
        if "poNumber" in body:
            changes["po_number"] = body["poNumber"]
        order = self.state.update(order.order_id, **changes)
        return V3.success([self._view(order, detail=True)], top_level=True)

    @operation("GET", "/orders/{bcOrderId}/products")
    async def order_products(self, request: web.Request) -> web.Response:
        """``GET /orders/{bcOrderId}/products``: the order's product lines."""
        order = self._order_at(request)
        if order is None:
            return V3.failure(404, "The order does not exist.")
        return V3.success(product_views(order), top_level=True)

    # --- customers -----------------------------------------------------------------------------

    @operation("PUT", "/customers/{customerId}/orders/b2b")
    async def assign_customer_orders(self, request: web.Request) -> web.Response:
        """``PUT /customers/{customerId}/orders/b2b``: give the customer's orders its
        company."""
        customer = self.state.customer(path_id(request, "customerId"))
        if customer is None:
            return V3.failure(404, "User does not exist or action not support for this user.")
        moved = self.state.move_orders(customer.id, customer.company_id)
        return V3.success({"total": moved}, top_level=True)

    @operation("PUT", "/customers/{customerId}/orders/company")
    async def reassign_customer_orders(self, request: web.Request) -> web.Response:
        """``PUT /customers/{customerId}/orders/company``: move the customer's orders to the
        company of a customer group."""
        body = json_object(request[RECORD_KEY].raw)
        problem = id_problem(body.get("bcGroupId"), "bcGroupId")
        if problem is not None:
            raise InvalidInputError({"bcGroupId": problem})
        customer = self.state.customer(path_id(request, "customerId"))
        company = self.state.company_of_group(body["bcGroupId"])
        if customer is None or company is None:
            return V3.failure(404, "User does not exist or action not supported for this user")
        moved = self.state.move_orders(customer.id, company.id)
        return V3.success({"total": moved}, top_level=True)

    # --- helpers -------------------------------------------------------------------------------

    def _visible(self) -> Iterator[tuple[RegisteredOrder, int]]:
        """Every order V3 can name, with its integer ``bcOrderId``."""
        for order in self.state.orders.values():
            number = v3_number(order.order_id)
            if number is not None:
                yield order, number

    def _order_at(self, request: web.Request) -> RegisteredOrder | None:
        text = request.match_info["bcOrderId"]
        return self.state.order(text) if v3_number(text) is not None else None

    def _view(self, order: RegisteredOrder, *, detail: bool) -> dict[str, Any]:
        b2b_id = self.state.b2b_ids[order.order_id]
        return order_view(order, b2b_id=b2b_id, extra=True, detail=detail)
