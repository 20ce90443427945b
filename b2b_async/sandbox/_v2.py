"""The V2 Order operations under ``/api/v2/io``, one method of :class:`V2Api` each.

Checks run in the order a resource-oriented server runs them: the path first (unknown company
or customer: 404), then the input (400 with a field map, see ``_v2_input``), then the rules of
the store (a second registration of an order id: 400 "The order already exists."). A path id
that is not a decimal number names no company or customer, so it answers 404 like an unknown
one.

A missing order answers as each operation documents it: 404 ``"Order Does not Exist"`` for the
detail, products and update operations, 400 code 40013 ``"Order does not exist."`` for the two
company look-ups (only "Get Company By BC OrderId" documents it; its sibling follows it). An
unknown customer or customer group in the body of the two company operations answers 400 with
code 40013 and no data, the shape of their published 400.
"""

from __future__ import annotations

from typing import Final

import attrs
from aiohttp import web

from ._data import Company
from ._envelope import V2
from ._input import parse_query, path_id
from ._operations import Api, operation
from ._records import RECORD_KEY
from ._v2_input import (
    ID_LISTING,
    Listing,
    checked_update,
    order_id_of,
    parse_new_order,
    required_ids,
    update_changes,
)
from ._v2_views import company_view, detail, first_product, image_of, listing_item

__all__ = ["V2Api"]

COMPANY_MISSING: Final = "Companies Does not Exist"
USER_MISSING: Final = "User Does not Exist"
USER_ELSEWHERE: Final = "User Does not Belong to this Company"
ORDER_MISSING: Final = "Order Does not Exist"


class V2Api(Api):
    """The V2 Order operations (see the module docstring)."""

    # --- registration --------------------------------------------------------------------------

    @operation("POST", "/companies/{companyId}/user/{customerId}/orders")
    async def create_order(self, request: web.Request) -> web.Response:
        """``POST /companies/{companyId}/user/{customerId}/orders``: register an order.

        The customer must belong to the company named in the path.
        """
        company = self.state.company(path_id(request, "companyId"))
        if company is None:
            return V2.failure(404, COMPANY_MISSING)
        customer = self.state.customer(path_id(request, "customerId"))
        if customer is None:
            return V2.failure(404, USER_MISSING)
        if customer.company_id != company.id:
            return V2.failure(404, USER_ELSEWHERE)
        return self._register(request, company.id, customer.id)

    @operation("POST", "/companies/users/{customerId}/orders")
    async def create_order_for_customer(self, request: web.Request) -> web.Response:
        """``POST /companies/users/{customerId}/orders``: register an order with the customer's
        current company."""
        customer = self.state.customer(path_id(request, "customerId"))
        if customer is None:
            return V2.failure(404, USER_MISSING)
        return self._register(request, customer.company_id, customer.id)

    def _register(self, request: web.Request, company_id: int, customer_id: int) -> web.Response:
        record = request[RECORD_KEY]
        new = parse_new_order(record.raw)
        if self.state.order(new.order_id) is not None:
            return V2.already_exists()
        self.state.register(
            order_id=new.order_id,
            company_id=company_id,
            customer_id=customer_id,
            total_inc_tax=new.total_inc_tax,
            po_number=new.po_number,
        )
        record.registered = new.order_id
        return V2.success({"orderId": new.order_id})

    # --- listings ------------------------------------------------------------------------------

    @operation("GET", "/companies/{companyId}/orders")
    async def company_orders(self, request: web.Request) -> web.Response:
        """``GET /companies/{companyId}/orders``: a page of the company's orders."""
        company = self._company_at(request)
        if company is None:
            return V2.failure(404, COMPANY_MISSING)
        listing = parse_query(Listing, request.query)
        page, total = listing.select(self.state.orders_of_company(company.id))
        items = [
            listing_item(
                order, company, self.state.customer(order.customer_id), extra=listing.include_extra
            )
            for order in page
        ]
        # "SUCCESS" in capitals, as this operation's example writes it.
        return V2.success({"list": items, "pagination": listing.pagination(total)}, "SUCCESS")

    @operation("GET", "/companies/{companyId}/orderBCIds")
    async def company_order_ids(self, request: web.Request) -> web.Response:
        """``GET /companies/{companyId}/orderBCIds``: a page of the company's order ids, oldest
        first."""
        company = self._company_at(request)
        if company is None:
            return V2.failure(404, COMPANY_MISSING)
        listing = parse_query(Listing, request.query, ID_LISTING)
        oldest_first = attrs.evolve(listing, order_by=("createdAt", False))
        page, total = oldest_first.select(self.state.orders_of_company(company.id))
        items = [{"orderId": order.order_id} for order in page]
        return V2.success({"list": items, "pagination": oldest_first.pagination(total)})

    def _company_at(self, request: web.Request) -> Company | None:
        return self.state.company(path_id(request, "companyId"))

    # --- single orders -------------------------------------------------------------------------

    @operation("GET", "/orders/images")
    async def order_images(self, request: web.Request) -> web.Response:
        """``GET /orders/images?orderIds=1,2``: each known order's image; unknown ids are left
        out."""
        wanted = [part.strip() for part in request.query.get("orderIds", "").split(",")]
        orders = (self.state.order(order_id) for order_id in wanted if order_id)
        return V2.success([image_of(order) for order in orders if order is not None])

    @operation("GET", "/orders/{orderBCId}/companyIdBCId")
    async def company_of_order(self, request: web.Request) -> web.Response:
        """``GET /orders/{orderBCId}/companyIdBCId``: the order's company, group included."""
        order = self.state.order(request.match_info["orderBCId"])
        company = self.state.company(order.company_id) if order is not None else None
        if company is None:
            return V2.resource_missing("Order does not exist.")
        return V2.success(company_view(company))

    @operation("GET", "/orders/{orderId}/companyId")
    async def order_company_id(self, request: web.Request) -> web.Response:
        """``GET /orders/{orderId}/companyId``: the order's company id, as a string."""
        order = self.state.order(request.match_info["orderId"])
        if order is None:
            return V2.resource_missing("Order does not exist.")
        return V2.success({"companyId": str(order.company_id)})

    @operation("GET", "/orders/{orderId}/details")
    async def order_details(self, request: web.Request) -> web.Response:
        """``GET /orders/{orderId}/details``: the order in BigCommerce's core shape."""
        order = self.state.order(request.match_info["orderId"])
        if order is None:
            return V2.failure(404, ORDER_MISSING)
        return V2.success(detail(order), "SUCCESS")

    @operation("GET", "/orders/{orderId}/products")
    async def order_products(self, request: web.Request) -> web.Response:
        """``GET /orders/{orderId}/products``: the order's first product, ``{}`` when none."""
        order = self.state.order(request.match_info["orderId"])
        if order is None:
            return V2.failure(404, ORDER_MISSING)
        return V2.success(first_product(order))

    # --- changes -------------------------------------------------------------------------------

    @operation("PUT", "/orders")
    async def update_order(self, request: web.Request) -> web.Response:
        """``PUT /orders``: update a registered order's address, products and other fields."""
        body = checked_update(request[RECORD_KEY].raw)
        order_id = order_id_of(body["orderId"])
        order = self.state.order(order_id) if order_id is not None else None
        if order is None:
            return V2.failure(404, ORDER_MISSING)
        self.state.update(order.order_id, **update_changes(body, order.extra))
        return V2.success({"orderId": order.order_id})

    @operation("POST", "/orders/company")
    async def rederive_order_company(self, request: web.Request) -> web.Response:
        """``POST /orders/company``: give a customer's orders the customer's current company."""
        ids = required_ids(request[RECORD_KEY].raw, ("customerID",))
        customer = self.state.customer(ids["customerID"])
        if customer is None:
            return V2.resource_missing("User does not exist.")
        self.state.move_orders(customer.id, customer.company_id)
        return V2.success({})

    @operation("PUT", "/orders/company")
    async def move_customer_orders(self, request: web.Request) -> web.Response:
        """``PUT /orders/company``: move a customer's orders to the company of a customer
        group."""
        ids = required_ids(request[RECORD_KEY].raw, ("customerGroupID", "customerID"))
        company = self.state.company_of_group(ids["customerGroupID"])
        if company is None:
            return V2.resource_missing("Company does not exist.")
        customer = self.state.customer(ids["customerID"])
        if customer is None:
            return V2.resource_missing("User does not exist.")
        self.state.move_orders(customer.id, company.id)
        return V2.success({})
