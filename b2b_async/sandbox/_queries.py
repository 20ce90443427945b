"""The read operations of the V2 Order section, served from the registered orders.

Listings take ``offset`` and ``limit`` (non-negative integers, default 0 and 10), ``beginDateAt``
and ``endDateAt`` (``MM/DD/YYYY``, inclusive, on the UTC creation date) and, for "Get Company
Orders", ``orderBy`` (``bcOrderId``, ``totalIncTax`` or ``createdAt``, ascending; a leading ``-``
sorts descending; newest first when absent), ``includeExtra`` (``0``/``1``) and ``channelId``.
A query value that does not parse answers 400 with a field map, as a body would.

A missing order answers as each operation documents it: 404 ``"Order Does not Exist"`` for the
detail and products operations, 400 code 40013 ``"Order does not exist."`` for the two company
look-ups (only "Get Company By BC OrderId" documents it; its sibling follows it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any

import attrs
from aiohttp import web

from ._envelope import RESOURCE_MISSING, bad_request, failure, success
from ._keys import STATE_KEY
from ._orders import COMPANY_MISSING, InvalidBodyError, path_id
from ._state import RegisteredOrder
from ._views import company_view, detail, first_product, image_of, listing_item

__all__ = [
    "company_of_order",
    "company_order_ids",
    "company_orders",
    "order_company_id",
    "order_details",
    "order_images",
    "order_products",
]

ORDER_MISSING = "Order Does not Exist"
DEFAULT_LIMIT = 10


def _count(text: str) -> int:
    if not (text.isascii() and text.isdecimal()):
        raise ValueError("must be a non-negative integer")
    return int(text)


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
    return (0, int(order_id), "") if order_id.isdecimal() else (1, 0, order_id)


_SORT_KEYS: Mapping[str, Callable[[RegisteredOrder], Any]] = {
    "bcOrderId": lambda order: _natural(order.order_id),
    "totalIncTax": lambda order: order.total_inc_tax,
    "createdAt": lambda order: order.created_at,
}

# Query parameter -> (attribute of Listing, parser); a parser raises ValueError with the problem.
_PARAMETERS: Mapping[str, tuple[str, Callable[[str], Any]]] = {
    "offset": ("offset", _count),
    "limit": ("limit", _count),
    "beginDateAt": ("begin", _day),
    "endDateAt": ("end", _day),
    "orderBy": ("order_by", _sort),
    "includeExtra": ("include_extra", _flag),
    "channelId": ("channel_id", _count),
}


@attrs.frozen(kw_only=True)
class Listing:
    """A listing's query, parsed."""

    offset: int = 0
    limit: int = DEFAULT_LIMIT
    begin: date | None = None
    end: date | None = None
    order_by: tuple[str, bool] = ("createdAt", True)
    include_extra: bool = False
    channel_id: int | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str], allowed: Iterable[str]) -> Listing:
        """Parse the allowed parameters of a query; others are ignored, as the API ignores them.

        Raises:
            InvalidBodyError: naming every parameter that does not parse.
        """
        values: dict[str, Any] = {}
        problems: dict[str, str] = {}
        for name in allowed:
            if name in query:
                attribute, parse = _PARAMETERS[name]
                try:
                    values[attribute] = parse(query[name])
                except ValueError as exc:
                    problems[name] = f"{name} {exc}"
        if problems:
            raise InvalidBodyError(problems)
        return cls(**values)

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


def _order_missing_400() -> web.Response:
    return bad_request({}, code=RESOURCE_MISSING, message="Order does not exist.")


async def company_orders(request: web.Request) -> web.Response:
    """``GET /companies/{companyId}/orders``: a page of the company's orders."""
    state = request.app[STATE_KEY]
    company = state.company(path_id(request, "companyId"))
    if company is None:
        return failure(404, COMPANY_MISSING)
    try:
        listing = Listing.parse(request.query, _PARAMETERS)
    except InvalidBodyError as exc:
        return bad_request(exc.fields)
    page, total = listing.select(state.orders_of_company(company.id))
    items = [
        listing_item(order, company, state.customer(order.customer_id), extra=listing.include_extra)
        for order in page
    ]
    # "SUCCESS" in capitals, as this operation's example writes it.
    return success({"list": items, "pagination": listing.pagination(total)}, "SUCCESS")


async def company_order_ids(request: web.Request) -> web.Response:
    """``GET /companies/{companyId}/orderBCIds``: a page of the company's order ids, oldest
    first."""
    state = request.app[STATE_KEY]
    company = state.company(path_id(request, "companyId"))
    if company is None:
        return failure(404, COMPANY_MISSING)
    try:
        listing = Listing.parse(request.query, ("offset", "limit", "beginDateAt", "endDateAt"))
    except InvalidBodyError as exc:
        return bad_request(exc.fields)
    listing = attrs.evolve(listing, order_by=("createdAt", False))
    page, total = listing.select(state.orders_of_company(company.id))
    items = [{"orderId": order.order_id} for order in page]
    return success({"list": items, "pagination": listing.pagination(total)})


async def order_images(request: web.Request) -> web.Response:
    """``GET /orders/images?orderIds=1,2``: each known order's image; unknown ids are left out."""
    state = request.app[STATE_KEY]
    wanted = [part.strip() for part in request.query.get("orderIds", "").split(",")]
    orders = (state.order(order_id) for order_id in wanted if order_id)
    return success([image_of(order) for order in orders if order is not None])


async def company_of_order(request: web.Request) -> web.Response:
    """``GET /orders/{orderBCId}/companyIdBCId``: the order's company, group included."""
    state = request.app[STATE_KEY]
    order = state.order(request.match_info["orderBCId"])
    company = state.company(order.company_id) if order is not None else None
    if company is None:
        return _order_missing_400()
    return success(company_view(company))


async def order_company_id(request: web.Request) -> web.Response:
    """``GET /orders/{orderId}/companyId``: the order's company id, as a string."""
    order = request.app[STATE_KEY].order(request.match_info["orderId"])
    if order is None:
        return _order_missing_400()
    return success({"companyId": str(order.company_id)})


async def order_details(request: web.Request) -> web.Response:
    """``GET /orders/{orderId}/details``: the order in BigCommerce's core shape."""
    order = request.app[STATE_KEY].order(request.match_info["orderId"])
    if order is None:
        return failure(404, ORDER_MISSING)
    return success(detail(order), "SUCCESS")


async def order_products(request: web.Request) -> web.Response:
    """``GET /orders/{orderId}/products``: the order's first product, ``{}`` when none."""
    order = request.app[STATE_KEY].order(request.match_info["orderId"])
    if order is None:
        return failure(404, ORDER_MISSING)
    return success(first_product(order))
