"""Offset pagination: the page models, the page size checks and the walk's stop rules."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from b2b_async import (
    B2BClient,
    InvalidOrderError,
    ResponseDecodeError,
)
from b2b_async._config import MAX_PAGE_SIZE
from b2b_async._pagination import (
    MOST_REPEATS,
    REMEMBERED_PAGES,
    Page,
    PageItems,
    V2PageReader,
    V3PageReader,
    check_page_size,
    check_v3_page_size,
    is_last_page,
    walk_offsets,
)
from b2b_async._protocol import Envelope
from b2b_async._serde import structure
from b2b_async._v2_models import OrderRef
from tests.loopback import serving
from tests.subclasses import Shop


@pytest.mark.parametrize("key", ["pagination", "paginator"])
def test_pages_read_pagination_or_paginator(key: str) -> None:
    """Both spellings of a listing's pagination are read."""
    data = {"list": [{"orderId": 7}], key: {"limit": "10", "offset": 0, "totalCount": 1.0}}
    page = structure(data, Page[OrderRef])
    assert page.items == (OrderRef("7"),)
    assert page.pagination is not None
    assert (page.pagination.limit, page.pagination.offset, page.pagination.total_count) == (
        10,
        0,
        1,
    )


def test_documented_key_wins_over_its_alias() -> None:
    """When both spellings arrive, the schema's key is read."""
    data = {"list": [], "pagination": {"totalCount": 1}, "paginator": {"totalCount": 9}}
    page = structure(data, Page[OrderRef])
    assert page.pagination is not None
    assert page.pagination.total_count == 1


def test_page_without_list_or_pagination_is_empty() -> None:
    """A listing without members reads as an empty page."""
    assert structure({}, Page[OrderRef]) == Page[OrderRef]()


@pytest.mark.parametrize("size", [0, -1, True, 2.5, "10"])
def test_page_size_must_be_a_positive_int(size: Any) -> None:
    """page_size is a positive int."""
    with pytest.raises(InvalidOrderError, match="page_size"):
        check_page_size(size)


V2 = "/api/v2/io"


def listing_app(pages: list[dict[str, Any]], seen: list[dict[str, str]]) -> web.Application:
    """A server answering successive listing requests with the given data members."""

    async def handle(request: web.Request) -> web.Response:
        seen.append(dict(request.query))
        data = pages[min(len(seen), len(pages)) - 1]
        return web.json_response({"code": 200, "data": data, "message": "SUCCESS"})

    app = web.Application()
    app.router.add_get(f"{V2}/companies/{{companyId}}/orders", handle)
    app.router.add_get(f"{V2}/companies/{{companyId}}/orderBCIds", handle)
    return app


async def walk(pages: list[dict[str, Any]], page_size: int) -> tuple[list[str], list[str]]:
    """List company orders from a scripted server; return the ids and the offsets asked."""
    seen: list[dict[str, str]] = []
    async with TestServer(listing_app(pages, seen), host="127.0.0.1") as test_server:
        base = str(test_server.make_url("")).rstrip("/")
        async with B2BClient("t", base_url=base, rate_limit=None, retry=None) as client:
            orders = client.orders.list_by_company(1, page_size=page_size)
            ids = [order.order_id async for order in orders]
    return ids, [query["offset"] for query in seen]


def page(ids: list[int], key: str | None = "pagination", total: int | None = None) -> Any:
    """A listing's data member: the orders, and the pagination under ``key``."""
    data: dict[str, Any] = {"list": [{"orderId": i, "OrderStatus": "Shipped"} for i in ids]}
    if key is not None:
        data[key] = {"limit": 10, "offset": 0, "totalCount": total}
    return data


@pytest.mark.parametrize("key", ["pagination", "paginator"])
async def test_pagination_reads_either_spelling_across_pages(key: str) -> None:
    """totalCount under pagination or paginator ends the walk after the last page."""
    pages = [page([1, 2], key, 5), page([3, 4], key, 5), page([5], key, 5)]
    assert await walk(pages, 2) == (["1", "2", "3", "4", "5"], ["0", "2", "4"])


async def test_pagination_advances_by_items_received_when_capped() -> None:
    """A server that returns fewer than page_size items is asked from the next item on."""
    pages = [page([1, 2], total=4), page([3, 4], total=4)]
    assert await walk(pages, 10) == (["1", "2", "3", "4"], ["0", "2"])


async def test_pagination_without_total_stops_at_an_empty_page() -> None:
    """Without totalCount, the walk ends at the first empty page."""
    pages = [page([1, 2], key=None), page([3], key=None), page([], key=None)]
    assert await walk(pages, 2) == (["1", "2", "3"], ["0", "2", "3"])


async def test_pagination_stops_on_an_empty_page_before_the_total() -> None:
    """A total that is never reached does not loop forever."""
    pages = [page([1], total=9), page([], total=9)]
    assert await walk(pages, 5) == (["1"], ["0", "1"])


async def test_a_server_that_ignores_the_offset_fails_the_walk() -> None:
    """The first page for every offset: after two repeats in a row the walk a caller
    iterates fails rather than yield the same items for ever; what it yielded stands."""
    seen: list[dict[str, str]] = []
    ids: list[str] = []

    async def read_all(client: B2BClient) -> None:
        async with asyncio.timeout(30):  # without the rule: for ever
            async for order in client.orders.list_by_company(1, page_size=2):
                ids.append(order.order_id)

    app = listing_app([page([1, 2], total=10**15)], seen)
    async with TestServer(app, host="127.0.0.1") as test_server:
        base = str(test_server.make_url("")).rstrip("/")
        async with B2BClient("t", base_url=base, rate_limit=None, retry=None) as client:
            with pytest.raises(ResponseDecodeError, match="2 offsets in a row, up to 6"):
                await read_all(client)
    assert ids == ["1", "2"] * 2  # the page that shows the second repeat is not yielded
    assert [query["offset"] for query in seen] == ["0", "2", "4"]


@pytest.mark.parametrize("period", [2, 3, REMEMBERED_PAGES])
async def test_a_server_cycling_through_a_few_pages_fails_the_walk(period: int) -> None:
    """Pages A, B, A, B, ... with no count never end, and a repeat of the page just before
    never comes: two pages in a row that bring no item of their own fail the walk."""
    cycle = [page([2 * n + 1, 2 * n + 2], key=None) for n in range(period)]
    seen: list[dict[str, str]] = []
    ids: list[str] = []

    async def read_all(client: B2BClient) -> None:
        async for order in client.orders.list_by_company(1, page_size=2):
            ids.append(order.order_id)

    app = listing_app(cycle * 50, seen)
    async with TestServer(app, host="127.0.0.1") as test_server:
        base = str(test_server.make_url("")).rstrip("/")
        async with B2BClient("t", base_url=base, rate_limit=None, retry=None) as client:
            with pytest.raises(ResponseDecodeError, match="2 offsets in a row"):
                await read_all(client)
    assert ids == [str(n) for n in range(1, 2 * period + 1)] + ["1", "2"]
    assert len(seen) == period + 2


async def test_a_live_listing_shifted_once_by_new_items_is_read_on() -> None:
    """A page that repeats the one before once (new items arrived in between) is read, as
    are pages that share some items; the walk ends at its count."""
    pages = [page([1, 2], total=6), page([1, 2], total=6), page([2, 3], total=6)]
    assert await walk(pages, 2) == (["1", "2", "1", "2", "2", "3"], ["0", "2", "4"])


async def test_a_listing_that_repeats_its_one_item_to_its_count_ends_there() -> None:
    """Repeats that reach the listing's count end it rather than fail it."""
    assert await walk([page([1], total=3)], 1) == (["1", "1", "1"], ["0", "1", "2"])


async def bounded_walk(
    pages: list[dict[str, Any]], most: int
) -> tuple[list[str], list[str], ResponseDecodeError | None]:
    """Walk company orders from a scripted server, two a page, reading at most ``most``.

    Returns:
        The ids read, the offsets asked, and the walk's failure, if any.
    """
    seen: list[dict[str, str]] = []
    ids: list[str] = []
    failure = None
    async with TestServer(listing_app(pages, seen), host="127.0.0.1") as test_server:
        base = str(test_server.make_url("")).rstrip("/")
        async with B2BClient("t", base_url=base, rate_limit=None, retry=None) as client:
            path = f"{V2}/companies/1/orders"
            read = V2PageReader(OrderRef)
            try:
                async for ref in walk_offsets(client._transport, path, (), read, 2, most=most):
                    ids.append(ref.order_id)
            except ResponseDecodeError as exc:
                failure = exc
    return ids, [query["offset"] for query in seen], failure


async def test_a_bounded_walk_reads_a_listing_that_ends_at_its_bound() -> None:
    """A listing of exactly ``most`` items, its count given, is read whole."""
    pages = [page([1, 2], total=4), page([3, 4], total=4)]
    assert await bounded_walk(pages, most=4) == (["1", "2", "3", "4"], ["0", "2"], None)


async def test_a_bounded_walk_fails_a_listing_that_goes_on_past_its_bound() -> None:
    """Full pages and an absurd count, forever: the page that goes past ``most`` items fails
    the walk, none of its items yielded, and no further page is asked; the items before stand."""
    pages = [page([1, 2], total=10**15), page([3, 4], total=10**15), page([5, 6], total=10**15)]
    ids, offsets, failure = await bounded_walk(pages, most=4)
    assert (ids, offsets) == (["1", "2", "3", "4"], ["0", "2", "4"])
    assert failure is not None
    assert failure.message == f"the listing {V2}/companies/1/orders did not end within 4 items"


async def test_a_bounded_walk_reads_a_listing_of_full_pages_that_ends_at_its_bound() -> None:
    """Without a count, the end of ``most`` items in full pages shows on one more page."""
    pages = [page([1, 2]), page([3, 4]), page([])]
    assert await bounded_walk(pages, most=4) == (["1", "2", "3", "4"], ["0", "2", "4"], None)


async def test_a_bounded_walk_refuses_one_page_longer_than_its_bound() -> None:
    """A single page past ``most`` items fails the walk at once, none of it yielded."""
    ids, offsets, failure = await bounded_walk([page([1, 2, 3, 4, 5], total=5)], most=4)
    assert (ids, offsets) == ([], ["0"])
    assert failure is not None


async def test_a_bounded_walk_asks_for_no_more_pages_than_its_bound_fills() -> None:
    """Pages of one item each: four items fill two pages of two, and a third shows the end;
    a fourth page is never asked for."""
    pages = [page([index], total=10**9) for index in range(1, 9)]
    ids, offsets, failure = await bounded_walk(pages, most=4)
    assert (ids, offsets) == (["1", "2", "3"], ["0", "1", "2"])
    assert failure is not None


def test_v3_reader_reads_the_count_from_meta_pagination_or_meta() -> None:
    """V3 pages carry the count in meta.pagination, or in meta itself."""
    read = V3PageReader(OrderRef)
    nested = read(Envelope([{"orderId": 1}], {"pagination": {"totalCount": 3}}))
    flat = read(Envelope([{"orderId": 1}], {"totalCount": "4"}))
    bare = read(Envelope({"orderId": 2}, {}))
    assert (nested.items, nested.total_count) == ((OrderRef("1"),), 3)
    assert flat.total_count == 4
    assert (bare.items, bare.total_count) == ((OrderRef("2"),), None)


@pytest.mark.parametrize(
    ("items", "received", "total", "short_page_is_last", "last"),
    [
        (0, 0, None, False, True),  # an empty page ends every walk
        (2, 4, 4, False, True),  # the count is reached
        (2, 2, 4, True, False),  # a count not reached yet: go on, short page or not
        (1, 1, None, True, True),  # V3 without a count: a short page is the last
        (1, 1, None, False, False),  # V2 without a count: the server may cap limit
        (2, 2, None, True, False),  # a full page: there may be more
    ],
)
def test_stop_rules(
    items: int, received: int, total: int | None, short_page_is_last: bool, last: bool
) -> None:
    """The walk stops at an empty page, at the count, or at a short V3 page without one."""
    page = PageItems(tuple(range(items)), total)
    assert is_last_page(page, received, 2, short_page_is_last) is last


def test_readers_say_whether_a_short_page_is_the_last() -> None:
    """V2 servers may cap limit, V3 ones never do."""
    assert V2PageReader(OrderRef).short_page_is_last is False
    assert V3PageReader(OrderRef).short_page_is_last is True


async def test_a_server_ignoring_offset_in_no_stable_order_fails_the_walk() -> None:
    """A server that ignores ``offset`` and keeps no order (a listing without a sort) answers
    every offset with the same items shuffled: repeats are told by the items' ids, in any
    order, and the walk fails after MOST_REPEATS of them instead of going on for ever."""
    seen: list[dict[str, str]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(dict(request.query))
        ids = [1, 2] if len(seen) % 2 else [2, 1]
        page = {
            "list": [{"orderId": order_id} for order_id in ids],
            "pagination": {"limit": 2, "offset": 0, "totalCount": 10**9},
        }
        return web.json_response({"code": 200, "data": page, "message": "SUCCESS"})

    app = web.Application()
    app.router.add_get("/api/v2/io/companies/{company_id}/orders", handle)

    async def read_at_most(listing: AsyncIterator[object], most: int) -> int:
        read = 0
        async for _ in listing:
            read += 1
            if read == most:
                break
        return read

    async with serving(app) as base:
        async with B2BClient("t", base_url=base, rate_limit=None, retry=None) as client:
            listing = client.orders.list_by_company(1, page_size=2)
            with pytest.raises(ResponseDecodeError, match="items of the page before"):
                await asyncio.wait_for(read_at_most(listing, 200), 60)  # 100 pages
    assert len(seen) == 1 + MOST_REPEATS


@pytest.mark.parametrize(
    "size", [MAX_PAGE_SIZE + 1, 10**400, 10**5000], ids=["max+1", "1e400", "1e5000"]
)
def test_page_size_has_a_ceiling_a_query_can_carry(size: int) -> None:
    """A huge page_size is refused by the call, not by Python's digit limit mid-walk."""
    assert check_page_size(MAX_PAGE_SIZE) == MAX_PAGE_SIZE
    with pytest.raises(InvalidOrderError, match="page_size must be an int from 1 to"):
        check_page_size(size)


@pytest.mark.parametrize(("check", "most"), [(check_page_size, 100_000), (check_v3_page_size, 200)])
def test_page_sizes_reach_their_documented_ceilings(check: Any, most: int) -> None:
    """V2 takes a page_size up to 100,000 and V3 up to 200, its documented limit; not one more."""
    assert check(most) == most
    with pytest.raises(InvalidOrderError, match=f"page_size must be an int from 1 to {most}, got"):
        check(most + 1)


def test_a_page_size_of_an_int_subclass_is_sent_as_its_digits() -> None:
    """An int-valued enum member would write ``limit=Shop.BIG``."""
    for check in (check_page_size, check_v3_page_size):
        size = check(Shop.BIG)
        assert (size, type(size), str(size)) == (100, int, "100")


@pytest.mark.parametrize("data", [None, [], {}], ids=["null", "empty-list", "empty-object"])
async def test_a_v2_page_whose_data_describes_nothing_ends_the_listing(data: Any) -> None:
    """A listing answered with a data of null, [] or {} is an empty page: no order, no error."""
    assert await walk([data], 10) == ([], ["0"])


async def test_a_negative_count_is_read_as_no_count() -> None:
    """A totalCount of -1 (often "unknown") does not end the listing after its first page:
    the walk goes on to the empty page, as without a count."""
    pages = [page([1, 2], total=-1), page([3], total=-1), page([], total=-1)]
    assert await walk(pages, 2) == (["1", "2", "3"], ["0", "2", "3"])


def test_a_negative_count_does_not_end_a_v3_listing_of_full_pages() -> None:
    """A full V3 page with a negative count is not the last; a short one is, as without one."""
    assert is_last_page(PageItems((1, 2), -1), 2, 2, short_page_is_last=True) is False
    assert is_last_page(PageItems((1,), -1), 1, 2, short_page_is_last=True) is True


def test_a_count_of_zero_is_a_count_unlike_a_negative_one() -> None:
    """Only a negative totalCount is read as no count: a page with a count of 0 is the last."""
    assert is_last_page(PageItems((1, 2), 0), 2, 2, short_page_is_last=False) is True


@pytest.mark.parametrize(
    ("meta", "where"),
    [
        ({"pagination": {"totalCount": "many"}}, "$.meta.pagination.totalCount"),
        ({"totalCount": "many"}, "$.meta.totalCount"),
    ],
)
def test_a_v3_count_that_is_no_number_is_reported_where_it_is(
    meta: dict[str, Any], where: str
) -> None:
    """A V3 page's unreadable count fails the page, naming the member that holds it."""
    with pytest.raises(ResponseDecodeError) as failure:
        V3PageReader(OrderRef)(Envelope([{"orderId": 1}], meta))
    assert failure.value.path == where


async def test_a_server_cycling_through_eight_pages_fails_the_walk() -> None:
    """The walk remembers the eight pages before: a cycle of eight pages fails it too."""
    cycle = [page([2 * n + 1, 2 * n + 2], key=None) for n in range(8)]
    seen: list[dict[str, str]] = []
    app = listing_app(cycle * 3, seen)
    async with TestServer(app, host="127.0.0.1") as test_server:
        base = str(test_server.make_url("")).rstrip("/")
        async with B2BClient("t", base_url=base, rate_limit=None, retry=None) as client:
            orders = client.orders.list_by_company(1, page_size=2)
            with pytest.raises(ResponseDecodeError, match="2 offsets in a row"):
                _ = [order async for order in orders]
    assert len(seen) == 10


async def test_items_of_pages_older_than_the_eight_before_are_new_again() -> None:
    """The walk remembers only the eight pages before: nine pages read twice, their count
    given, are read whole rather than failed as a server that ignores ``offset``."""
    cycle = [page([2 * n + 1, 2 * n + 2], total=36) for n in range(9)]
    ids, offsets = await walk(cycle * 2, 2)
    assert ids == [str(n) for n in range(1, 19)] * 2
    assert offsets == [str(2 * n) for n in range(18)]


async def test_a_bounded_walk_reads_a_listing_of_its_bound_in_a_partial_last_page() -> None:
    """Five items, two a page, no count: the third page is short, and the empty fourth that
    shows the end is still asked for, since five items fill three pages, not two."""
    pages = [page([1, 2]), page([3, 4]), page([5]), page([])]
    ids, offsets, failure = await bounded_walk(pages, most=5)
    assert (ids, offsets, failure) == (["1", "2", "3", "4", "5"], ["0", "2", "4", "5"], None)
