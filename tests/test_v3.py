"""The V3 Order API client (``client.v3.orders``), its models, its authentication and its CLI.

Operations run against the sandbox over real sockets; answers the sandbox never gives (an
order as an object, no pagination) come from a scripted aiohttp server.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import itertools
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web

import b2b_async._extra_field_cache
import b2b_async._v3
from b2b_async import (
    Address,
    APITimeoutError,
    AuthenticationError,
    B2BClient,
    B2BError,
    BadRequestError,
    ClientClosedError,
    DeadlineUnreachableError,
    ExtraField,
    ExtraFieldConfig,
    InvalidOrderError,
    LineItem,
    NewOrder,
    NewV3Order,
    NotFoundError,
    OrderAlreadyExistsError,
    Orders,
    Priority,
    RateLimit,
    RateLimiter,
    RegistrationWindowClosedError,
    ResponseDecodeError,
    RetryPolicy,
    ServerError,
    UnprocessableEntityError,
    V3Order,
    V3OrderProduct,
    V3Orders,
    V3Resources,
)
from b2b_async._config import (
    CHECK_SHARE,
    EXTRA_FIELD_CONFIGS_RECHECK,
    EXTRA_FIELD_CONFIGS_RETRY,
    EXTRA_FIELD_CONFIGS_TTL,
    MAX_EXTRA_FIELD_CONFIGS,
    MAX_V3_PAGE_SIZE,
    REGISTRATION_MARGIN,
    REGISTRATION_WINDOW,
)
from b2b_async._exceptions import ORDER_WITHDRAWN, OrderWithdrawnError
from b2b_async._extra_field_cache import ExtraFieldCache
from b2b_async._protocol import Envelope, Request, RequestInfo, decode_response
from b2b_async._transport import Transport
from b2b_async._v3 import unix_seconds
from b2b_async._v3_window import RegistrationWindow
from b2b_async.sandbox import (
    DEFAULT_ORDER_EXTRA_FIELDS,
    DEFAULT_TOKEN,
    FaultKind,
    Faults,
    OrderExtraField,
    SandboxServer,
)
from tests.loopback import serving
from tests.sandbox_helpers import seed_for
from tests.test_cli import LoopThread, health, invoke, sigint_when
from tests.test_v3_models import BrokenZone
from tests.test_v3_window import ClocksGoBack

QUICK = RetryPolicy(attempts=8, initial_wait=0.01, max_wait=0.05)
HASH = "store-hash-7f3a"
INFO = RequestInfo("GET", "https://api-b2b.bigcommerce.com/api/v3/io/orders")
Reply = tuple[int, Any]


def client_for(
    server: SandboxServer | str, *, store_hash: str | None = HASH, **options: Any
) -> B2BClient:
    """A client of the sandbox (or of a URL), with quick retries and no pacing.

    A client of a scripted server (a URL) does not check extra fields: its scripted answers
    hold no configurations.
    """
    settings: dict[str, Any] = {"rate_limit": None, "retry": QUICK, "max_concurrency": 16}
    settings["check_extra_fields"] = not isinstance(server, str)
    settings.update(options)
    url = server if isinstance(server, str) else server.url
    return B2BClient(DEFAULT_TOKEN, store_hash=store_hash, base_url=url, **settings)


@pytest.fixture
async def server() -> AsyncIterator[SandboxServer]:
    """A sandbox without a window that accepts :data:`HASH`."""
    async with SandboxServer(rate=None, store_hash=HASH) as running:
        yield running


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[[list[Reply]], Any]]:
    """Serve scripted answers in order; returns ``(url, seen)``, seen being path?query strings."""
    runners: list[web.AppRunner] = []

    async def start(replies: list[Reply]) -> tuple[str, list[str]]:
        seen: list[str] = []
        pending = iter(replies)

        async def handler(request: web.Request) -> web.Response:
            seen.append(request.path_qs)
            status, body = next(pending)
            return web.json_response(body, status=status)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}", seen

    yield start
    for runner in runners:
        await runner.cleanup()


def ok(data: Any, **meta: Any) -> Reply:
    """A V3 success answer."""
    return 200, {"code": 200, "data": data, "meta": {"message": "SUCCESS", **meta}}


def order_json(bc_order_id: int, **fields: Any) -> dict[str, Any]:
    """An order as V3 answers it."""
    return {"id": 1, "bcOrderId": bc_order_id, "totalIncTax": 10.5, **fields}


# --- time filters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("2024-01-01", "must be a datetime"),
        (datetime(2024, 1, 1), "aware"),
        (datetime(2024, 1, 1, tzinfo=BrokenZone(timedelta(hours=30))), "no valid UTC offset"),
    ],
)
def test_time_filters_must_be_aware_datetimes(value: object, fragment: str) -> None:
    """A time filter must be an aware datetime; it goes out as whole Unix seconds."""
    with pytest.raises(InvalidOrderError, match=fragment):
        unix_seconds(value, "created_after")
    assert unix_seconds(datetime(2021, 6, 2, 7, 42, 58, 500, tzinfo=UTC), "x") == 1622619778


# --- the V3 envelope ---------------------------------------------------------------------------


def test_a_v3_listing_keeps_its_meta() -> None:
    """Every answer decodes to an Envelope of data and meta; a missing or odd meta is empty."""
    listing = {"code": 200, "data": [{"a": 1}], "meta": {"pagination": {"totalCount": 3}}}
    data = decode_response(200, {}, json.dumps(listing).encode(), INFO, 0.0)
    odd_meta = {"code": 200, "data": [], "meta": "SUCCESS"}
    plain = decode_response(200, {}, json.dumps(odd_meta).encode(), INFO, 0.0)
    v2 = decode_response(200, {}, b'{"code": 200, "data": [1], "message": "SUCCESS"}', INFO, 0.0)
    obj = decode_response(200, {}, b'{"code": 200, "data": {"total": 1}, "meta": {}}', INFO, 0.0)
    assert data == Envelope([{"a": 1}], {"pagination": {"totalCount": 3}})
    assert plain == Envelope([], {})
    assert v2 == Envelope([1], {})
    assert obj == Envelope({"total": 1}, {})


def test_v3_errors_read_meta_message() -> None:
    """ "The order already exists." in meta.message is OrderAlreadyExistsError; 422 is typed."""
    exists = b'{"code": 400, "data": {}, "meta": {"message": "The order already exists."}}'
    missing = b'{"code": 422, "data": {"errMsg": "X is required"}, "meta": {"message": "M"}}'
    not_found = b'{"code": 404, "data": {}, "meta": {"message": "Order Does Not Exist."}}'
    with pytest.raises(OrderAlreadyExistsError, match="already exists"):
        decode_response(400, {}, exists, INFO, 0.0)
    with pytest.raises(UnprocessableEntityError, match="X is required"):
        decode_response(422, {}, missing, INFO, 0.0)
    with pytest.raises(NotFoundError, match="Order Does Not Exist"):
        decode_response(404, {}, not_found, INFO, 0.0)


# --- authentication ----------------------------------------------------------------------------


async def test_store_hash_authenticates_with_x_auth_token(server: SandboxServer) -> None:
    """With store_hash: X-Auth-Token and X-Store-Hash, never authToken; without: authToken."""
    async with client_for(server, check_extra_fields=False) as current:
        await current.v3.orders.create(bc_order_id=1, customer_id=5)
    async with B2BClient(DEFAULT_TOKEN, base_url=server.url, rate_limit=None) as legacy:
        await legacy.v3.orders.get(1)
    first, second = server.requests
    assert (first.headers["X-Auth-Token"], first.headers["X-Store-Hash"]) == (DEFAULT_TOKEN, HASH)
    assert "authToken" not in first.headers
    assert second.headers["authToken"] == DEFAULT_TOKEN
    assert "X-Store-Hash" not in second.headers
    assert "X-Auth-Token" not in second.headers
    assert second.status == 200


@pytest.mark.parametrize("store_hash", ["", "   ", "abc\r\nX-Evil: 1", "a\x00b", 42])
def test_bad_store_hashes_are_refused_without_echo(store_hash: object) -> None:
    """An empty store hash or one that could inject headers raises ValueError not repeating it."""
    with pytest.raises(ValueError, match="store_hash") as info:
        B2BClient("token", store_hash=store_hash)  # type: ignore[arg-type]
    if isinstance(store_hash, str) and store_hash.strip():
        assert store_hash not in str(info.value)


async def test_token_and_store_hash_stay_out_of_repr_errors_and_logs(
    server: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither secret appears in the client's repr, an error, or a retry's log line."""
    caplog.set_level(logging.DEBUG, logger="b2b_async")
    wrong = B2BClient("t0ken-secret", store_hash=HASH, base_url=server.url, rate_limit=None)
    assert repr(wrong).endswith("X-Auth-Token=*** X-Store-Hash=*** open>")
    async with wrong:
        with pytest.raises(AuthenticationError) as refused:
            await wrong.v3.orders.get(1)
    server.faults = Faults(http_500=0.3)
    server._random.seed(seed_for(server.faults, [FaultKind.HTTP_500, None]))  # one retry
    async with client_for(server) as client:
        for number in range(1, 6):
            await client.v3.orders.create(bc_order_id=number, customer_id=5)
    assert any("retrying" in record.getMessage() for record in caplog.records)
    shown = [repr(wrong), repr(client), str(refused.value), repr(refused.value), caplog.text]
    for text in shown:
        assert "t0ken-secret" not in text
        assert DEFAULT_TOKEN not in text
        assert HASH not in text
    assert "authToken=***" in repr(B2BClient("t"))


async def run_every_operation(client: B2BClient, prefix: int) -> None:
    """Call every V2 and V3 operation once (ids offset by ``prefix`` to stay unique)."""
    v2_id, v3_id = f"V2-{prefix}", 10_000 + prefix * 10
    await client.orders.create(company_id=1, customer_id=1, order_id=v2_id, total_inc_tax=5)
    await client.orders.create(customer_id=5, order_id=f"{v2_id}b", total_inc_tax=5)
    await client.orders.create_many([NewOrder(None, 5, f"{v2_id}c", 1)])
    _ = [order async for order in client.orders.list_by_company(1)]
    _ = [order_id async for order_id in client.companies.order_ids(1)]
    address, lines = Address(first_name="Jane"), [LineItem(product_id=97, quantity=1)]
    await client.orders.update(v2_id, billing_address=address, products=lines)
    await client.orders.assign_customer_orders_to_company(1)
    await client.orders.move_customer_orders(1, customer_group_id=2)
    await client.orders.images([v2_id])
    await client.orders.company_of(v2_id)
    await client.orders.company_id_of(v2_id)
    await client.orders.details(v2_id)
    await client.orders.products(v2_id)
    await client.orders.is_registered(v2_id)
    v3 = client.v3.orders
    await v3.create(bc_order_id=v3_id, customer_id=5, po_number="P", extra_fields={"Priority": 1})
    await v3.create_many([NewV3Order(v3_id + 1, 5)])
    _ = [order async for order in v3.list(show_extra=True)]
    await v3.get(v3_id)
    await v3.update(v3_id, po_number="Q")
    await v3.products(v3_id)
    await v3.assign_customer_orders(5)
    await v3.reassign_customer_orders(5, bc_group_id=5)
    await v3.extra_field_configs()


async def test_no_request_carries_a_store_hash_beside_auth_token(server: SandboxServer) -> None:
    """Over every V2 and V3 operation, each client sends exactly one scheme, never the mix."""
    async with client_for(server) as current:
        await run_every_operation(current, 1)
    with_hash = server.requests
    async with client_for(server, store_hash=None) as legacy:
        await run_every_operation(legacy, 2)
    without_hash = server.requests[len(with_hash) :]
    paths = {record.path.split("/")[2] for record in server.requests}
    assert paths == {"v2", "v3"}
    assert len(with_hash) == len(without_hash) == 23
    for record in with_hash:
        assert record.headers.getall("X-Auth-Token") == [DEFAULT_TOKEN], record.path
        assert record.headers.getall("X-Store-Hash") == [HASH], record.path
        assert "authToken" not in record.headers, record.path
    for record in without_hash:
        assert record.headers.getall("authToken") == [DEFAULT_TOKEN], record.path
        assert "X-Store-Hash" not in record.headers, record.path
        assert "X-Auth-Token" not in record.headers, record.path
    assert all(record.status == 200 for record in server.requests)


# --- create and register -----------------------------------------------------------------------


async def test_create_returns_the_registered_order(server: SandboxServer) -> None:
    """create registers once and returns the API's order, with the customer that was sent."""
    async with client_for(server) as client:
        assert isinstance(client.v3, V3Resources)
        assert isinstance(client.v3.orders, V3Orders)
        created = await client.v3.orders.create(
            bc_order_id="321", customer_id=5, po_number="PO-7", extra_fields={"Fintech ID": "F-9"}
        )
    assert created.bc_order_id == 321
    assert (created.customer_id, created.company_id, created.b2b_order_id) == (5, 5, 1)
    assert created.po_number == "PO-7"
    assert created.extra_fields == (ExtraField("Fintech ID", "F-9"),)
    assert created.created_at is not None
    assert created.created_at.tzinfo is not None
    assert created.total_inc_tax == Decimal(0)
    assert not created.already_registered
    assert created.raw["currencyCode"] == "USD"
    configs, registration = server.requests  # the extra fields were checked first
    assert configs.path == "/api/v3/io/orders/extra-fields"
    assert registration.body == {
        "bcOrderId": 321,
        "customerId": 5,
        "poNumber": "PO-7",
        "extraFields": [{"fieldName": "Fintech ID", "fieldValue": "F-9"}],
    }
    assert server.registrations("321") == 1


async def test_create_of_a_registered_order_raises_already_exists(server: SandboxServer) -> None:
    """A second registration, with no uncertain attempt before it, raises."""
    async with client_for(server) as client:
        await client.v3.orders.create(bc_order_id=5, customer_id=5)
        with pytest.raises(OrderAlreadyExistsError) as info:
            await client.v3.orders.create(bc_order_id=5, customer_id=5)
    assert not info.value.after_uncertain_attempt
    assert info.value.status == 400


async def test_create_after_an_uncertain_attempt_is_registered(server: SandboxServer) -> None:
    """A reset after processing, then "already exists": the sent order, already_registered."""
    server.faults = Faults(reset_after=0.5)
    server._random.seed(seed_for(server.faults, [FaultKind.RESET_AFTER, None]))
    async with client_for(server, check_extra_fields=False) as client:
        created = await client.v3.orders.create(bc_order_id=6, customer_id=5, po_number="P")
    assert created.already_registered
    assert (created.bc_order_id, created.customer_id, created.po_number) == (6, 5, "P")
    assert [record.status for record in server.requests] == ["reset", 400]
    assert server.registrations("6") == 1


async def test_invalid_input_sends_nothing(server: SandboxServer) -> None:
    """Invalid ids and values raise InvalidOrderError before any request."""
    async with client_for(server) as client:
        orders = client.v3.orders
        with pytest.raises(InvalidOrderError):
            await orders.create(bc_order_id="BC1", customer_id=5)
        with pytest.raises(InvalidOrderError):
            await orders.register(NewOrder(1, 1, "1", 1))  # type: ignore[arg-type]
        with pytest.raises(InvalidOrderError):
            await orders.get(0)
        with pytest.raises(InvalidOrderError, match="po_number or extra_fields"):
            await orders.update(1)
        with pytest.raises(InvalidOrderError):
            await orders.products("x")
        with pytest.raises(InvalidOrderError):
            await orders.assign_customer_orders(-1)
        with pytest.raises(InvalidOrderError):
            await orders.reassign_customer_orders(1, bc_group_id="g")
    assert server.requests == []


async def test_hostile_arguments_are_refused_before_anything_is_sent(
    server: SandboxServer,
) -> None:
    """An update's id is checked before the extra field configurations are fetched; lists,
    bytes and flags given as text are refused, not read."""
    async with client_for(server) as client:
        orders = client.v3.orders
        for bad_id in (-1, "abc", 0):
            with pytest.raises(InvalidOrderError, match="bc_order_id"):
                await orders.update(bad_id, extra_fields={"Fintech ID": "1"})
        with pytest.raises(InvalidOrderError, match="sort_by must be one of"):
            orders.list(sort_by=["createdAt"])  # type: ignore[arg-type]
        with pytest.raises(InvalidOrderError, match="channel_ids must be an id or an iterable"):
            orders.list(channel_ids=b"12")
        with pytest.raises(InvalidOrderError, match="channel_ids makes a query of"):
            orders.list(channel_ids=range(1, 1000))
        with pytest.raises(InvalidOrderError, match="show_extra must be True or False"):
            orders.list(show_extra="false")  # type: ignore[arg-type]
        with pytest.raises(InvalidOrderError, match="refresh must be True or False"):
            await orders.extra_field_configs(refresh="no")  # type: ignore[arg-type]
    assert server.requests == []


async def test_many_channels_within_a_request_line_are_all_sent(
    scripted: Callable[[list[Reply]], Any],
) -> None:
    """Channel filters that fit a request line are sent, every one of them."""
    url, seen = await scripted([ok([])])
    async with client_for(url) as client:
        listed = [order async for order in client.v3.orders.list(channel_ids=range(1, 200))]
    assert listed == []
    [query] = seen
    assert query.count("channelIds") == 199


async def test_create_answers_without_the_order_stand_for_what_was_sent(
    scripted: Callable[[list[Reply]], Any],
) -> None:
    """A 200 whose data is null or {} returns the sent order; an array's first item is read."""
    url, _ = await scripted([ok(None), ok({}), ok([order_json(3)]), ok("odd")])
    async with client_for(url) as client:
        empty = await client.v3.orders.create(bc_order_id=1, customer_id=2, po_number="P")
        blank = await client.v3.orders.create(bc_order_id=2, customer_id=2)
        listed = await client.v3.orders.create(bc_order_id=3, customer_id=2)
        with pytest.raises(ResponseDecodeError):
            await client.v3.orders.create(bc_order_id=4, customer_id=2)
    assert (empty.bc_order_id, empty.po_number, empty.already_registered) == (1, "P", False)
    assert blank.bc_order_id == 2
    assert (listed.bc_order_id, listed.customer_id) == (3, 2)


# --- list --------------------------------------------------------------------------------------


async def test_list_walks_every_page_with_the_filters(server: SandboxServer) -> None:
    """list yields every matching order across pages, newest update first by default."""
    async with client_for(server, check_extra_fields=False) as client:
        for number in range(1, 6):
            await client.v3.orders.create(bc_order_id=number, customer_id=5 + (number % 2))
        everything = [order.bc_order_id async for order in client.v3.orders.list(page_size=2)]
        company = [
            order.bc_order_id
            async for order in client.v3.orders.list(
                company_id=5,
                sort_by="createdAt",
                order="ASC",  # type: ignore[arg-type]  # upper case is accepted too
                page_size=1,
            )
        ]
        since = datetime.now(UTC) - timedelta(hours=1)
        extra = [
            order
            async for order in client.v3.orders.list(
                created_after=since,
                created_before=since + timedelta(days=1),
                modified_after=since,
                modified_before=since + timedelta(days=1),
                channel_ids=[1, "2"],
                show_extra=True,
                bc_order_id=3,
            )
        ]
    assert everything == [5, 4, 3, 2, 1]
    assert company == [2, 4]
    assert [order.bc_order_id for order in extra] == [3]
    assert extra[0].extra_fields == ()
    pages = [record.query for record in server.requests if record.method == "GET"]
    assert pages[0] == {"sortBy": "updatedAt", "orderBy": "DESC", "limit": "2", "offset": "0"}
    assert pages[2]["offset"] == "4"
    assert len(pages) == 3 + 2 + 1


async def test_list_sends_filters_as_documented(scripted: Callable[[list[Reply]], Any]) -> None:
    """Times as Unix seconds, channels as repeated channelIds[], showExtra as true."""
    url, seen = await scripted([ok([])])
    start = datetime(2021, 6, 2, 7, 42, 58, tzinfo=UTC)
    async with client_for(url) as client:
        listing = client.v3.orders.list(
            company_id="12",
            created_after=start,
            modified_before=start + timedelta(seconds=1),
            channel_ids=7,
            show_extra=True,
            page_size=200,
        )
        assert [order async for order in listing] == []
    assert seen == [
        "/api/v3/io/orders?sortBy=updatedAt&orderBy=DESC&companyId=12&minCreated=1622619778"
        "&maxModified=1622619779&channelIds%5B%5D=7&showExtra=true&limit=200&offset=0"
    ]


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": 201}, "page_size"),
        ({"page_size": True}, "page_size"),
        ({"sort_by": "bcOrderId"}, "sort_by"),
        ({"order": "up"}, "order"),
        ({"order": 1}, "order"),
        ({"company_id": "acme"}, "company_id"),
        ({"channel_ids": ["x"]}, "channel_ids"),
        ({"created_after": datetime(2024, 1, 1)}, "aware"),
        (
            {
                "created_after": datetime(2024, 2, 1, tzinfo=UTC),
                "created_before": datetime(2024, 1, 1, tzinfo=UTC),
            },
            "created_after is later",
        ),
        (
            {
                "modified_after": datetime(2024, 2, 1, tzinfo=UTC),
                "modified_before": datetime(2024, 1, 1, tzinfo=UTC),
            },
            "modified_after is later",
        ),
    ],
)
def test_list_checks_its_arguments_at_once(options: dict[str, Any], fragment: str) -> None:
    """A bad argument raises InvalidOrderError from the call itself, before iterating."""
    client = B2BClient("t", store_hash=HASH)
    with pytest.raises(InvalidOrderError, match=fragment):
        client.v3.orders.list(**options)


async def test_list_reads_each_place_the_count_may_be(
    scripted: Callable[[list[Reply]], Any],
) -> None:
    """totalCount in meta (the example) or meta.pagination; none: a short page ends the walk."""
    url, seen = await scripted(
        [
            ok([order_json(1)], totalCount=2, limit=1, offset=0),
            ok([order_json(2)], totalCount=2, limit=1, offset=1),
            ok([order_json(3), order_json(4)]),
            ok([order_json(5)]),
            (200, {"code": 200, "data": [order_json(6), order_json(7)], "message": "SUCCESS"}),
            (200, {"code": 200, "data": None}),
        ]
    )
    async with client_for(url) as client:
        counted = [order.bc_order_id async for order in client.v3.orders.list(page_size=1)]
        uncounted = [order.bc_order_id async for order in client.v3.orders.list(page_size=2)]
        no_meta = [order.bc_order_id async for order in client.v3.orders.list(page_size=2)]
    assert counted == [1, 2]
    assert uncounted == [3, 4, 5]
    assert no_meta == [6, 7]
    assert len(seen) == 6


async def test_list_rounds_each_time_bound_towards_its_inside(
    scripted: Callable[[list[Reply]], Any],
) -> None:
    """An order's times are whole seconds: an _after bound with a fraction goes out rounded
    up, a _before one rounded down, so no order outside the bounds is listed."""
    url, seen = await scripted([ok([])])
    start = datetime(2021, 6, 2, 7, 42, 58, 500_000, tzinfo=UTC)
    async with client_for(url) as client:
        listing = client.v3.orders.list(
            created_after=start,
            created_before=start + timedelta(seconds=1),
            modified_after=start - timedelta(microseconds=500_000),
            modified_before=start + timedelta(microseconds=500_000),
            page_size=200,
        )
        assert [order async for order in listing] == []
    assert seen == [
        "/api/v3/io/orders?sortBy=updatedAt&orderBy=DESC&minCreated=1622619779"
        "&maxCreated=1622619779&minModified=1622619778&maxModified=1622619779&limit=200&offset=0"
    ]


async def test_list_leaves_out_an_order_created_before_a_fractional_bound(
    server: SandboxServer,
) -> None:
    """An order created at a whole second is not listed by a created_after half a second
    later, nor by a range that lies within that half second."""
    async with client_for(server, check_extra_fields=False) as client:
        await client.v3.orders.create(bc_order_id=1, customer_id=5)
        created = (await client.v3.orders.get(1)).created_at
        assert created is not None
        later = created + timedelta(microseconds=500_000)
        after = [order async for order in client.v3.orders.list(created_after=later)]
        within = client.v3.orders.list(
            created_after=later, created_before=later + timedelta(microseconds=100_000)
        )
        inside = [order async for order in within]
        assert [order async for order in client.v3.orders.list(created_after=created)] != []
    assert (after, inside) == ([], [])


async def test_list_of_a_range_within_one_second_asks_nothing(
    scripted: Callable[[list[Reply]], Any],
) -> None:
    """A range that holds no whole second (07:42:58.2 to .8) lists nothing and sends no
    request: rounded inwards its bounds cross, which no order's time can meet."""
    url, seen = await scripted([ok([]), ok([])])
    start = datetime(2021, 6, 2, 7, 42, 58, 200_000, tzinfo=UTC)
    end = start + timedelta(microseconds=600_000)
    async with client_for(url) as client:
        created = [
            order async for order in client.v3.orders.list(created_after=start, created_before=end)
        ]
        modified = client.v3.orders.list(modified_after=start, modified_before=end)
        assert created == [order async for order in modified] == []
    assert seen == []


def test_list_refuses_a_range_reversed_within_one_second() -> None:
    """A start after its end is refused even when both fall in the same second."""
    client = B2BClient("t", store_hash=HASH)
    start = datetime(2024, 1, 1, 0, 0, 0, 700_000, tzinfo=UTC)
    with pytest.raises(InvalidOrderError, match="modified_after is later"):
        client.v3.orders.list(
            modified_after=start, modified_before=start - timedelta(microseconds=400_000)
        )


async def test_list_reads_from_the_start_with_an_after_bound_before_1970(
    server: SandboxServer,
) -> None:
    """An _after bound before 1970 (to lift the last-year default) goes out as 0, which the
    API takes, and lists every order; a _before bound before 1970 is refused at the call."""
    async with client_for(server, check_extra_fields=False) as client:
        await client.v3.orders.create(bc_order_id=1, customer_id=5)
        since = datetime(1900, 1, 1, tzinfo=UTC)
        listed = [order.bc_order_id async for order in client.v3.orders.list(created_after=since)]
        with pytest.raises(InvalidOrderError, match="created_before must not be before 1970"):
            client.v3.orders.list(created_before=since)
    assert listed == [1]
    pages = [record.query for record in server.requests if record.method == "GET"]
    assert pages[-1]["minCreated"] == "0"


async def test_list_refuses_data_that_is_not_orders(scripted: Callable[[list[Reply]], Any]) -> None:
    """A listing whose data is text, or whose items lack bcOrderId, is a decode error."""
    url, _ = await scripted([ok("orders"), ok([{"id": 1}])])
    async with client_for(url) as client:
        with pytest.raises(ResponseDecodeError, match="expected a list or an object"):
            _ = [order async for order in client.v3.orders.list()]
        with pytest.raises(ResponseDecodeError) as info:
            _ = [order async for order in client.v3.orders.list()]
    assert info.value.path == "$.data[0].bcOrderId"


# --- get, update, products ---------------------------------------------------------------------


async def test_get_reads_the_order(server: SandboxServer) -> None:
    """get returns the order with its detail; an unknown one raises NotFoundError."""
    async with client_for(server) as client:
        await client.v3.orders.create(bc_order_id=70, customer_id=5, extra_fields={"Priority": 2})
        order = await client.v3.orders.get("70")
        with pytest.raises(NotFoundError, match="Order Does Not Exist"):
            await client.v3.orders.get(71)
    assert order.bc_order_id == 70
    assert order.is_invoice_order is False
    assert order.extra_fields == (ExtraField("Priority", "2"),)
    assert order.customer_id is None


async def test_get_accepts_an_object_and_refuses_an_empty_answer(
    scripted: Callable[[list[Reply]], Any],
) -> None:
    """data as an object is the order too; an empty array holds no order."""
    url, _ = await scripted([ok(order_json(8, poNumber="P")), ok([])])
    async with client_for(url) as client:
        order = await client.v3.orders.get(8)
        with pytest.raises(ResponseDecodeError, match="no order"):
            await client.v3.orders.get(8)
    assert (order.bc_order_id, order.po_number) == (8, "P")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (order_json(9, poNumber="P"), "describes order 9, not 8"),
        ([order_json(8), order_json(9)], "2 orders in data"),
    ],
    ids=["another-order", "two-orders"],
)
async def test_get_refuses_an_answer_about_another_order(
    scripted: Callable[[list[Reply]], Any], data: object, problem: str
) -> None:
    """An answer that is not about the order asked for is a ResponseDecodeError."""
    url, _ = await scripted([ok(data)])
    async with client_for(url) as client:
        with pytest.raises(ResponseDecodeError, match=problem):
            await client.v3.orders.get(8)


async def test_a_create_or_update_answered_with_another_order_is_refused(
    scripted: Callable[[list[Reply]], Any],
) -> None:
    """The order a create or an update answers with must be the one sent."""
    url, _ = await scripted([ok(order_json(5)), ok(order_json(6))])
    async with client_for(url) as client:
        with pytest.raises(ResponseDecodeError, match="describes order 5, not 4"):
            await client.v3.orders.create(bc_order_id=4, customer_id=1)
        with pytest.raises(ResponseDecodeError, match="describes order 6, not 4"):
            await client.v3.orders.update(4, po_number="P")


async def test_update_sets_and_returns_the_order(server: SandboxServer) -> None:
    """update sends only what is given and returns the updated order."""
    async with client_for(server) as client:
        await client.v3.orders.create(bc_order_id=80, customer_id=5, extra_fields={"Priority": 1})
        updated = await client.v3.orders.update(
            80, extra_fields=[ExtraField("Department", "Retail")]
        )
        renamed = await client.v3.orders.update(80, po_number="")
    assert updated.extra_fields == (
        ExtraField("Priority", "1"),
        ExtraField("Department", "Retail"),
    )
    assert renamed.po_number == ""
    bodies = [record.body for record in server.requests if record.method == "PUT"]
    assert bodies == [
        {"extraFields": [{"fieldName": "Department", "fieldValue": "Retail"}]},
        {"poNumber": ""},
    ]


async def test_update_errors(server: SandboxServer) -> None:
    """Unchecked: a missing required field is a 422, an unknown order NotFoundError."""
    server.order_extra_fields = (OrderExtraField(name="Cost Center", required=True),)
    async with client_for(server, check_extra_fields=False) as client:
        await client.v3.orders.create(bc_order_id=81, customer_id=5)
        with pytest.raises(UnprocessableEntityError, match="Cost Center") as info:
            await client.v3.orders.update(81, po_number="P")
        with pytest.raises(NotFoundError):
            await client.v3.orders.update(82, po_number="P")
        with pytest.raises(BadRequestError, match="not an order extra field"):
            await client.v3.orders.update(81, extra_fields={"Nope": "1"})
    assert info.value.status == 422
    assert info.value.details == {"errMsg": "Cost Center is a required extra field"}


async def test_update_answer_without_the_order_returns_what_was_sent(
    scripted: Callable[[list[Reply]], Any],
) -> None:
    """An update answered with null data returns the values sent."""
    url, _ = await scripted([(200, {"code": 200, "data": None, "message": "SUCCESS"})])
    async with client_for(url) as client:
        updated = await client.v3.orders.update("9", po_number="P", extra_fields={"A": "1"})
    assert (updated.bc_order_id, updated.po_number) == (9, "P")
    assert updated.extra_fields == (ExtraField("A", "1"),)


async def test_products_reads_the_lines(server: SandboxServer) -> None:
    """products returns each line with its options; none is []; an unknown order raises."""
    async with client_for(server) as client:
        await client.v3.orders.create(bc_order_id=90, customer_id=5)
        none = await client.v3.orders.products(90)
        line = LineItem(product_id=97, variant_id=69, name="Poster", sku="P-1", quantity=2)
        await client.orders.update("90", billing_address=Address(), products=[line])
        products = await client.v3.orders.products(90)
        with pytest.raises(NotFoundError):
            await client.v3.orders.products(91)
    assert none == []
    [product] = products
    assert isinstance(product, V3OrderProduct)
    assert (product.product_id, product.variant_id, product.quantity) == (97, 69, 2)
    assert (product.product_name, product.variant_sku) == ("Poster", "P-1")


async def test_products_read_options_and_a_single_object(
    scripted: Callable[[list[Reply]], Any],
) -> None:
    """Options are typed; one product object is a one-item list."""
    option = {"id": 1, "optionId": 4243, "displayName": "Color", "displayValue": "Slate"}
    url, _ = await scripted([ok({"productId": 5, "options": [{**option, "value": 18836}]})])
    async with client_for(url) as client:
        [product] = await client.v3.orders.products(1)
    [chosen] = product.options
    assert (chosen.option_id, chosen.display_name, chosen.value) == (4243, "Color", "18836")
    assert chosen.raw["id"] == 1


# --- customers ---------------------------------------------------------------------------------


async def test_assign_and_reassign_return_how_many_orders_moved(server: SandboxServer) -> None:
    """Both customer operations return the API's total; unknown customers raise."""
    async with client_for(server, check_extra_fields=False) as client:
        await client.v3.orders.create(bc_order_id=1, customer_id=5)
        server.move_customer(5, 9)
        assigned = await client.v3.orders.assign_customer_orders(5)
        reassigned = await client.v3.orders.reassign_customer_orders("5", bc_group_id="3")
        with pytest.raises(NotFoundError):
            await client.v3.orders.assign_customer_orders(99_999)
        with pytest.raises(NotFoundError):
            await client.v3.orders.reassign_customer_orders(5, bc_group_id=999)
    assert (assigned, reassigned) == (1, 1)
    assert server.orders["1"].company_id == 3
    assert server.requests[1].raw == b""
    assert server.requests[2].body == {"bcGroupId": 3}


async def test_customer_operations_without_a_total_moved_nothing(
    scripted: Callable[[list[Reply]], Any],
) -> None:
    """An answer without data.total counts as 0."""
    url, _ = await scripted([ok(None), ok({})])
    async with client_for(url) as client:
        assert await client.v3.orders.assign_customer_orders(1) == 0
        assert await client.v3.orders.reassign_customer_orders(1, bc_group_id=2) == 0


async def test_customer_operations_answered_with_an_empty_list_moved_nothing(
    scripted: Callable[[list[Reply]], Any],
) -> None:
    """A data of [] (an empty map written as a list) describes nothing, as null and {} do."""
    url, _ = await scripted([ok([]), ok([])])
    async with client_for(url) as client:
        assert await client.v3.orders.assign_customer_orders(1) == 0
        assert await client.v3.orders.reassign_customer_orders(1, bc_group_id=2) == 0


async def test_customer_operations_answered_with_a_negative_total_moved_nothing(
    scripted: Callable[[list[Reply]], Any],
) -> None:
    """A negative data.total is no count (as -1 often stands for): 0 moved, not -1."""
    url, _ = await scripted([ok({"total": -1}), ok({"total": -3})])
    async with client_for(url) as client:
        assert await client.v3.orders.assign_customer_orders(1) == 0
        assert await client.v3.orders.reassign_customer_orders(1, bc_group_id=2) == 0


async def test_ensure_reads_a_negative_assignment_total_as_nothing_moved(
    scripted: Callable[[list[Reply]], Any],
) -> None:
    """An assignment answered with a negative total changed nothing: ensure says unchanged."""
    url, _ = await scripted([ok([order_json(9, companyId=None, poNumber="P")]), ok({"total": -1})])
    async with client_for(url) as client:
        ensured = await client.v3.orders.ensure(
            bc_order_id=9, customer_id=4, po_number="P", created_at=ago(60)
        )
    assert (ensured.action, ensured.steps) == ("unchanged", ("get", "assign"))


async def test_an_assignment_whose_answer_was_lost_counts_only_the_last_answer(
    server: SandboxServer,
) -> None:
    """A reset after the assignment moved the order: the retry moves nothing more, and the
    call returns the last answer's count (0); the order is moved once, as asked."""
    server.faults = Faults(reset_after=0.5)
    server._random.seed(seed_for(server.faults, [None, FaultKind.RESET_AFTER, None]))
    async with client_for(server, check_extra_fields=False) as client:
        await client.v3.orders.create(bc_order_id=1, customer_id=5)
        server.move_customer(5, 9)
        moved = await client.v3.orders.assign_customer_orders(5)
    assert moved == 0
    assert [record.status for record in server.requests] == [200, "reset", 200]
    assert server.orders["1"].company_id == 9


# --- extra field configurations ----------------------------------------------------------------


async def test_extra_field_configs_are_fetched_once_per_client(server: SandboxServer) -> None:
    """The first call fetches every page; later calls, concurrent ones too, use the cache."""
    server.order_extra_fields = tuple(
        OrderExtraField(name=f"Field {number}") for number in range(250)
    )
    async with client_for(server) as client:
        first, second = await asyncio.gather(
            client.v3.orders.extra_field_configs(), client.v3.orders.extra_field_configs()
        )
        server.order_extra_fields = DEFAULT_ORDER_EXTRA_FIELDS
        cached = await client.v3.orders.extra_field_configs()
        fetched = len(server.requests)
        refreshed = await client.v3.orders.extra_field_configs(refresh=True)
    assert fetched == 2  # 250 configurations: two pages of 200, once
    assert len(first) == len(second) == len(cached) == 250
    assert first is not second
    assert isinstance(first[0], ExtraFieldConfig)
    assert [config.field_name for config in refreshed] == [
        "Fintech ID",
        "Delivery Notes",
        "Priority",
        "Department",
    ]
    assert refreshed[3].list_of_values == ("Retail", "Automotive", "Manufacturing")
    assert refreshed[0].is_required is False
    assert len(server.requests) == 3


async def test_a_failed_fetch_caches_nothing(server: SandboxServer) -> None:
    """When the fetch fails, the next call fetches again."""
    server.faults = Faults(http_500=1.0)
    async with client_for(server, retry=None) as client:
        with pytest.raises(ServerError):
            await client.v3.orders.extra_field_configs()
        server.faults = Faults()
        configs = await client.v3.orders.extra_field_configs()
    assert len(configs) == 4


# --- bulk --------------------------------------------------------------------------------------


async def test_create_many_and_create_stream_through_v3(server: SandboxServer) -> None:
    """Bulk V3 runs give one outcome per input; a V2 order in a V3 run is an input error."""
    orders: list[Any] = [NewV3Order(100 + number, 5) for number in range(10)]
    orders.append(NewOrder(None, 5, "V2", 1))
    async with client_for(server) as client:
        await client.v3.orders.create(bc_order_id=100, customer_id=5)
        seen: list[int] = []
        report = await client.v3.orders.create_many(
            orders, concurrency=3, on_progress=lambda outcome: seen.append(outcome.index)
        )
        async with client.v3.orders.create_stream(
            [NewV3Order(200 + n, 5) for n in range(4)]
        ) as stream:
            streamed = [outcome async for outcome in stream]
    assert sorted(seen) == list(range(11))
    assert [outcome.ok for outcome in report.outcomes] == [True] * 10 + [False]
    assert report.outcomes[0].already_registered
    assert isinstance(report.outcomes[0].result, V3Order)
    assert report.outcomes[0].result.bc_order_id == 100
    assert isinstance(report.outcomes[10].error, InvalidOrderError)
    assert "not a NewV3Order" in str(report.outcomes[10].error)
    assert all(outcome.ok for outcome in streamed)
    assert all(server.registrations(str(100 + n)) == 1 for n in range(10))


async def test_bulk_v3_registration_of_2000_orders_under_faults() -> None:
    """2,000 V3 orders with 15% faulty requests: every one registered once, every outcome ok."""
    faults = Faults(
        http_500=0.03,
        http_502=0.02,
        http_503=0.03,
        reset_before=0.03,
        reset_after=0.03,
        http_429=0.01,
    )
    orders = (NewV3Order(100_000 + n, (n % 10) * 100 + 1) for n in range(2000))
    async with SandboxServer(rate=None, faults=faults, seed=11, store_hash=HASH) as server:
        async with client_for(server) as client:
            report = await client.v3.orders.create_many(orders)
        faulted = sum(1 for record in server.requests if record.fault is not None)
        assert faulted / len(server.requests) > 0.12
        configs = [r for r in server.requests if r.path == "/api/v3/io/orders/extra-fields"]
        assert {r.path for r in server.requests} - {configs[0].path} == {"/api/v3/io/orders"}
        # The configurations were fetched once for the 2,000: every other try was a retry.
        assert sum(r.fault is None for r in configs) == 1
        assert len(server.orders) == 2000
        assert all(server.registrations(str(100_000 + n)) == 1 for n in range(2000))
    assert report.ok
    assert len(report) == 2000
    assert [outcome.order.order_id for outcome in report.outcomes] == [
        str(100_000 + n) for n in range(2000)
    ]
    assert any(outcome.already_registered for outcome in report.outcomes)
    assert client.stats.retries > 0


def fake_clock(monkeypatch: pytest.MonkeyPatch, *readings: float) -> None:
    """Make the V3 resource's clock read ``readings`` in turn."""
    values: Iterator[float] = itertools.chain(readings, itertools.repeat(readings[-1]))
    monkeypatch.setattr(b2b_async._v3, "clock", lambda: next(values))


class ScriptedTransport:
    """Stands in for the transport: every request gets the one answer (or error) given."""

    def __init__(self, answer: Envelope | B2BError) -> None:
        self.answer = answer

    def bulk_workers(self, concurrency: int | None) -> int:
        return concurrency or 1

    retry = QUICK

    def priority_of(self, explicit: Priority | None, default: Priority) -> Priority:
        return explicit or default

    def bulk_priority(self, explicit: Priority | None) -> Priority:
        return self.priority_of(explicit, Priority.BULK)

    async def send(
        self,
        request: Request,
        priority: Priority | None = None,
        *,
        deadline_at: float | None = None,
        began_at: float | None = None,
    ) -> Envelope:
        if isinstance(self.answer, B2BError):
            raise self.answer
        return self.answer


def scripted_v3(answer: Envelope | B2BError) -> V3Orders:
    """V3 Order operations whose every request gets ``answer`` (extra fields unchecked)."""
    transport = ScriptedTransport(answer)
    unchecked = ExtraFieldCache(transport, check=False)  # type: ignore[arg-type]
    return V3Orders(transport, unchecked)  # type: ignore[arg-type]


async def register_one_in_eleven_and_a_half_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register one V3 order in bulk, answered at once, in 11.5 s by the clock; it succeeds."""
    orders = scripted_v3(Envelope({"bcOrderId": 7}, {}))
    fake_clock(monkeypatch, 100.0, 111.5)
    report = await orders.create_many([NewV3Order(7, 8)], concurrency=1)
    assert report.ok


async def test_a_v3_registration_past_ten_seconds_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A V3 registration still being attempted 10 s after it began logs a WARNING."""
    caplog.set_level(logging.WARNING, logger="b2b_async")
    await register_one_in_eleven_and_a_half_seconds(monkeypatch)
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.name == "b2b_async"
    assert "order 7 took 11.5 s" in record.getMessage()


async def test_a_late_v3_registration_of_one_attempt_is_not_blamed_on_retries(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """One late attempt logs one WARNING, naming budget waits and claiming no second attempt."""
    caplog.set_level(logging.DEBUG, logger="b2b_async")
    await register_one_in_eleven_and_a_half_seconds(monkeypatch)
    assert collections.Counter(record.levelname for record in caplog.records) == {"WARNING": 1}
    message = caplog.records[0].getMessage()
    assert "waits for budget" in message
    assert "after its first" not in message


async def test_a_v3_registration_that_knew_its_window_is_not_logged_as_late(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With ``created_at``, no attempt starts after the window: a call that took 11.5 s
    (its answer was slow) logs no warning that an attempt may have come too late."""
    caplog.set_level(logging.WARNING, logger="b2b_async")
    orders = scripted_v3(Envelope({"bcOrderId": 7}, {}))
    fake_clock(monkeypatch, 100.0, 111.5)
    placed = datetime.now(UTC)
    report = await orders.create_many([NewV3Order(7, 8, created_at=placed)], concurrency=1)
    assert report.ok
    assert caplog.records == []


async def test_a_failed_late_v3_registration_is_logged_too(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The warning does not depend on the outcome: a late failure logs it as well."""
    caplog.set_level(logging.WARNING, logger="b2b_async")
    orders = scripted_v3(ServerError("boom", status=503))
    fake_clock(monkeypatch, 0.0, 30.0)
    async with orders.create_stream([NewV3Order(7, 8)], concurrency=1) as stream:
        [outcome] = [item async for item in stream]
    assert not outcome.ok
    assert "took 30.0 s" in caplog.text


async def test_a_late_v3_order_withdrawn_unsent_logs_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An order its run withdrew after 30 s of waiting sent nothing that could arrive late:
    no warning, and it comes out not attempted."""
    caplog.set_level(logging.WARNING, logger="b2b_async")
    orders = scripted_v3(OrderWithdrawnError(ORDER_WITHDRAWN))
    fake_clock(monkeypatch, 0.0, 30.0)
    async with orders.create_stream([NewV3Order(7, 8)], concurrency=1) as stream:
        [outcome] = [item async for item in stream]
    assert not outcome.attempted
    assert caplog.records == []


async def test_quick_v3_and_slow_v2_registrations_log_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Within 10 s, or for V2 (no such rule), nothing is logged."""
    caplog.set_level(logging.WARNING, logger="b2b_async")
    fake_clock(monkeypatch, 0.0, 10.0)
    await scripted_v3(Envelope({"bcOrderId": 7}, {})).create_many([NewV3Order(7, 8)])
    fake_clock(monkeypatch, 0.0, 60.0)
    v2 = Orders(ScriptedTransport(Envelope({"orderId": "1"}, {})))  # type: ignore[arg-type]
    await v2.create_many([NewOrder(None, 1, "1", 1)], concurrency=1)
    assert caplog.records == []


async def test_already_exists_in_a_v3_bulk_run_counts_as_registered() -> None:
    """In a bulk run, "already exists" means registered, even without an uncertain attempt."""
    orders = scripted_v3(OrderAlreadyExistsError("The order already exists.", status=400))
    report = await orders.create_many([NewV3Order(7, 8)], concurrency=1)
    [outcome] = report.outcomes
    assert outcome.result == V3Order.sent(NewV3Order(7, 8), already_registered=True)


# --- the registration window ------------------------------------------------------------------


@pytest.fixture
async def store() -> AsyncIterator[SandboxServer]:
    """A sandbox that models BigCommerce: orders placed with a creation time, a 10 s window."""
    async with SandboxServer(rate=None, store_hash=HASH, registration_window=10.0) as running:
        yield running


def ago(seconds: float) -> datetime:
    """The time ``seconds`` ago, aware."""
    return datetime.now(UTC) - timedelta(seconds=seconds)


def place(store: SandboxServer, bc_order_id: int, *, age: float = 0.0) -> datetime:
    """Place an order of customer 5 (company 5) created ``age`` seconds ago; its creation time."""
    placed = store.place_order(
        customer_id=5, total_inc_tax="12.50", bc_order_id=bc_order_id, created_at=ago(age)
    )
    return placed.created_at


def calls(server: SandboxServer) -> list[str]:
    """Each request as ``METHOD /path`` under ``/api/v3/io``, the configurations' fetch left out."""
    return [
        f"{record.method} {record.path.removeprefix('/api/v3/io')}"
        for record in server.requests
        if record.path != "/api/v3/io/orders/extra-fields"
    ]


class LimiterRecorder:
    """A limiter that grants at once, records each caller's priority and deadline, and refuses
    every caller with a deadline when told to (as behind a long queue)."""

    def __init__(self, *, refuse_deadlines: bool = False) -> None:
        self.calls: list[tuple[Priority, float | None]] = []
        self.refuse_deadlines = refuse_deadlines

    async def acquire(
        self, priority: Priority = Priority.NORMAL, *, deadline: float | None = None
    ) -> float:
        self.calls.append((priority, deadline))
        if self.refuse_deadlines and deadline is not None:
            raise DeadlineUnreachableError("queued", estimated_wait=60.0, deadline=deadline)
        return 0.0

    async def release(self, hint: object) -> None:
        return None


async def test_create_after_its_window_raises_and_sends_nothing(store: SandboxServer) -> None:
    """A create whose window has passed raises RegistrationWindowClosedError; nothing is sent."""
    created_at = place(store, 700, age=30.0)
    async with client_for(store) as client:
        with pytest.raises(RegistrationWindowClosedError) as info:
            await client.v3.orders.create(
                bc_order_id=700, customer_id=5, po_number="P", created_at=created_at
            )
        report = await client.v3.orders.create_many([NewV3Order(700, 5, created_at=created_at)])
    assert store.requests == []  # not even the extra field configurations
    error = info.value
    assert (error.bc_order_id, error.window_ended_at) == (700, created_at + timedelta(seconds=10))
    assert "client.v3.orders.ensure" in str(error)
    assert isinstance(error, B2BError)
    assert isinstance(report.outcomes[0].error, RegistrationWindowClosedError)


async def test_an_unknown_priority_is_refused_before_a_window_past(store: SandboxServer) -> None:
    """A create with an unknown priority raises InvalidOrderError, whatever its window."""
    created_at = place(store, 701, age=30.0)
    async with client_for(store) as client:
        with pytest.raises(InvalidOrderError, match="priority must be one of"):
            await client.v3.orders.create(
                bc_order_id=701, customer_id=5, created_at=created_at, priority="asap"
            )
    assert store.requests == []


async def test_a_window_past_is_past_in_a_zone_whose_clocks_went_back_within_it(
    store: SandboxServer,
) -> None:
    """An order created 30 s ago, 5 s before its zone's clocks went back an hour: its window
    has passed, so the create raises and sends nothing (no window an hour long)."""
    created_at = place(store, 707, age=30.0)
    wall = (created_at - timedelta(hours=4)).replace(tzinfo=None)
    local = wall.replace(tzinfo=ClocksGoBack(wall + timedelta(seconds=5)))
    assert local == created_at
    async with client_for(store) as client:
        with pytest.raises(RegistrationWindowClosedError):
            await client.v3.orders.create(
                bc_order_id=707, customer_id=5, po_number="P", created_at=local
            )
    assert store.requests == []


async def test_create_within_its_window_is_urgent_and_bounded_by_it(store: SandboxServer) -> None:
    """With created_at: urgent by default, the limiter told the window's end less the margin."""
    limiter = LimiterRecorder()
    async with client_for(store, rate_limit=limiter) as client:
        created = await client.v3.orders.create(
            bc_order_id=701, customer_id=5, created_at=place(store, 701)
        )
        await client.v3.orders.create(
            bc_order_id=702, customer_id=5, created_at=place(store, 702), priority="bulk"
        )
        await client.v3.orders.create(bc_order_id=703, customer_id=5)  # no window known
    configs, urgent, bulk, unbounded = limiter.calls
    assert configs == (Priority.URGENT, None)  # the check's fetch, in the window's way
    assert urgent[0] == Priority.URGENT
    assert urgent[1] is not None
    assert 0 < urgent[1] <= REGISTRATION_WINDOW - REGISTRATION_MARGIN
    assert bulk[0] == Priority.BULK
    assert unbounded == (Priority.NORMAL, None)
    assert created.total_inc_tax == Decimal("12.50")  # the placed order's
    assert calls(store) == ["POST /orders"] * 3


async def test_a_create_the_queue_would_make_late_is_not_sent(store: SandboxServer) -> None:
    """Behind 15 s of urgent calls, a create with 9 s left raises at once, unsent."""
    limiter = RateLimiter(RateLimit(requests=10, per=1.0))
    queued = [asyncio.create_task(limiter.acquire(Priority.URGENT)) for _ in range(150)]
    await asyncio.sleep(0)
    try:
        async with client_for(store, rate_limit=limiter, check_extra_fields=False) as client:
            with pytest.raises(RegistrationWindowClosedError) as info:
                await client.v3.orders.create(
                    bc_order_id=704, customer_id=5, created_at=place(store, 704)
                )
    finally:
        for task in queued:
            task.cancel()
        await asyncio.gather(*queued, return_exceptions=True)
    assert isinstance(info.value.__cause__, DeadlineUnreachableError)
    assert "no request budget" in str(info.value)
    assert store.requests == []


async def test_a_create_whose_call_deadline_the_queue_passes_is_refused_as_such(
    store: SandboxServer,
) -> None:
    """A slot 5 s away misses a call deadline of 1 s, not a window with 9 s left: the create
    raises DeadlineUnreachableError, unsent, and its window is not said to be closed."""
    limiter = RateLimiter(RateLimit(requests=1, per=5.0))
    await limiter.acquire()  # the slot of now is spent: the next is 5 s away
    await limiter.release(None)
    hurried = RetryPolicy(deadline=1.0)
    async with client_for(store, rate_limit=limiter, retry=hurried, check_extra_fields=False) as c:
        with pytest.raises(DeadlineUnreachableError) as info:
            await c.v3.orders.create(bc_order_id=708, customer_id=5, created_at=place(store, 708))
    assert info.value.estimated_wait > info.value.deadline
    assert store.requests == []


async def test_retries_that_would_pass_the_window_are_not_sent(store: SandboxServer) -> None:
    """A 503 whose retry would wait past the window ends the create: one attempt, typed error."""
    store.faults = Faults(http_503=1.0)
    patient = RetryPolicy(attempts=5, initial_wait=30.0, max_wait=30.0)
    async with client_for(store, retry=patient, check_extra_fields=False) as client:
        with pytest.raises(RegistrationWindowClosedError) as info:
            await client.v3.orders.create(
                bc_order_id=705, customer_id=5, created_at=place(store, 705)
            )
    assert isinstance(info.value.__cause__, ServerError)
    assert [record.status for record in store.requests] == [503]


async def test_a_transient_failure_with_time_left_is_raised_as_it_is(store: SandboxServer) -> None:
    """Retries spent well inside the window: the failure itself, the window still usable."""
    store.faults = Faults(http_503=1.0)
    async with client_for(store, retry=RetryPolicy(attempts=2, initial_wait=0.01)) as client:
        with pytest.raises(ServerError):
            await client.v3.orders.create(
                bc_order_id=706, customer_id=5, created_at=place(store, 706)
            )


# --- ensure ------------------------------------------------------------------------------------


async def test_ensure_creates_an_order_inside_its_window(store: SandboxServer) -> None:
    """Window open: one create. Again: the create finds it, one read, nothing changed."""
    created_at = place(store, 710)
    fields = {"Fintech ID": "F-1", "Department": "Retail"}
    async with client_for(store) as client:
        first = await client.v3.orders.ensure(
            bc_order_id=710,
            customer_id=5,
            po_number="PO-1",
            extra_fields=fields,
            created_at=created_at,
        )
        again = await client.v3.orders.ensure(
            bc_order_id=710,
            customer_id=5,
            po_number="PO-1",
            extra_fields=fields,
            created_at=created_at,
        )
    assert (first.action, first.steps, first.already_registered) == ("created", ("create",), False)
    assert first.order.total_inc_tax == Decimal("12.50")
    assert (again.action, again.steps, again.changed) == ("unchanged", ("create", "get"), ())
    assert again.already_registered
    assert calls(store) == ["POST /orders", "POST /orders", "GET /orders/710"]
    assert store.orders["710"].po_number == "PO-1"


async def test_ensure_reconciles_a_late_order_then_only_reads(store: SandboxServer) -> None:
    """Past its window: read and update (2 requests); again: one read, nothing changed."""
    created_at = place(store, 720, age=30.0)
    fields = {"Fintech ID": "F-2", "Priority": "3"}
    async with client_for(store) as client:
        ensure = functools.partial(
            client.v3.orders.ensure,
            bc_order_id=720,
            customer_id=5,
            po_number="PO-2",
            extra_fields=fields,
            created_at=created_at,
        )
        first = await ensure()
        held = store.orders["720"].updated_at
        again = await ensure()
    assert (first.action, first.steps) == ("updated", ("get", "update"))
    assert first.changed == ("poNumber", "Fintech ID", "Priority")
    assert first.order.po_number == "PO-2"
    assert first.order.customer_id == 5
    assert (again.action, again.steps) == ("unchanged", ("get",))
    assert calls(store) == ["GET /orders/720", "PUT /orders/720", "GET /orders/720"]
    order = store.orders["720"]
    assert (order.po_number, order.updated_at, order.total_inc_tax) == (
        "PO-2",
        held,
        Decimal("12.50"),
    )
    assert order.extra["extraFields"] == [
        {"fieldName": "Fintech ID", "fieldValue": "F-2"},
        {"fieldName": "Priority", "fieldValue": "3"},
    ]


async def test_ensure_sends_only_what_differs_and_the_required_fields(store: SandboxServer) -> None:
    """An update carries the differing values, plus the required ones the API asks for."""
    store.order_extra_fields = (
        *DEFAULT_ORDER_EXTRA_FIELDS,
        OrderExtraField(name="Cost Center", required=True),
    )
    created_at = place(store, 730, age=30.0)
    async with client_for(store) as client:
        ensure = functools.partial(
            client.v3.orders.ensure, bc_order_id=730, customer_id=5, created_at=created_at
        )
        await ensure(po_number="A", extra_fields={"Cost Center": "CC", "Fintech ID": "F"})
        renumbered = await ensure(
            po_number="B", extra_fields={"Cost Center": "CC", "Fintech ID": "F"}
        )
        moved = await ensure(extra_fields={"Cost Center": "CC", "Department": "Retail"})
    bodies = [record.body for record in store.requests if record.method == "PUT"]
    assert bodies[1:] == [
        {"poNumber": "B", "extraFields": [{"fieldName": "Cost Center", "fieldValue": "CC"}]},
        {
            "extraFields": [
                {"fieldName": "Cost Center", "fieldValue": "CC"},
                {"fieldName": "Department", "fieldValue": "Retail"},
            ]
        },
    ]
    assert renumbered.changed == ("poNumber",)
    assert moved.changed == ("Department",)
    assert store.orders["730"].po_number == "B"  # no po_number: the order's stays


async def test_ensure_without_created_at_tries_the_create_first(store: SandboxServer) -> None:
    """Without created_at a late order costs one more request: the create answered "exists"."""
    place(store, 740, age=30.0)
    async with client_for(store) as client:
        ensured = await client.v3.orders.ensure(bc_order_id=740, customer_id=5, po_number="P")
    assert (ensured.action, ensured.steps) == ("updated", ("create", "get", "update"))
    assert calls(store) == ["POST /orders", "GET /orders/740", "PUT /orders/740"]


async def test_a_create_whose_window_passes_while_it_waits_for_a_place_is_not_sent() -> None:
    """Under the in-flight cap, a create whose window passes while it waits for a place
    stops waiting then, while the place is still held, and is never sent."""
    arrived, release, creates = asyncio.Event(), asyncio.Event(), []

    async def slow(request: web.Request) -> web.Response:
        arrived.set()
        await release.wait()
        return web.json_response(ok({"id": 1, "bcOrderId": 1})[1])

    async def create(request: web.Request) -> web.Response:
        creates.append(await request.json())
        return web.json_response(ok({"id": 2, "bcOrderId": 2})[1])

    app = web.Application()
    app.router.add_get("/api/v3/io/orders/1", slow)
    app.router.add_post("/api/v3/io/orders", create)
    # The window's deadline, its end less the margin, is a tenth of a second away.
    created_at = ago(REGISTRATION_WINDOW - REGISTRATION_MARGIN - 0.1)
    async with serving(app) as url, client_for(url, max_concurrency=1) as client:
        holding = asyncio.create_task(client.v3.orders.get(1))  # the only place in flight
        await arrived.wait()
        with pytest.raises(RegistrationWindowClosedError):
            async with asyncio.timeout(30):  # without the bound it would wait for the place
                await client.v3.orders.create(bc_order_id=2, customer_id=5, created_at=created_at)
        assert not holding.done()
        release.set()
        await holding
    assert creates == []


async def test_ensure_waits_out_a_window_it_cannot_meet(store: SandboxServer) -> None:
    """No budget before the window's end: no create is sent; after it, read and update."""
    limiter = LimiterRecorder(refuse_deadlines=True)
    created_at = place(store, 750, age=REGISTRATION_WINDOW - 1.5)
    async with client_for(store, rate_limit=limiter) as client:
        ensured = await client.v3.orders.ensure(
            bc_order_id=750, customer_id=5, po_number="P", created_at=created_at
        )
    assert (ensured.action, ensured.steps) == ("updated", ("create", "get", "update"))
    assert calls(store) == ["GET /orders/750", "PUT /orders/750"]  # found: recorded by then
    assert store.orders["750"].po_number == "P"


async def test_ensure_reads_after_a_create_that_may_have_registered_the_order(
    store: SandboxServer,
) -> None:
    """A create cut off after B2B Edition took it is not sent again: after the window, a read.

    The read finds the order the cut-off create registered, so nothing more is written.
    """
    created_at = place(store, 760, age=7.0)
    store.faults = Faults(reset_after=0.5)
    store._random.seed(seed_for(store.faults, [FaultKind.RESET_AFTER, None]))
    async with client_for(store, retry=None, check_extra_fields=False) as client:
        ensured = await client.v3.orders.ensure(
            bc_order_id=760, customer_id=5, po_number="P", created_at=created_at
        )
    assert (ensured.action, ensured.steps) == ("unchanged", ("create", "get"))
    assert calls(store) == ["POST /orders", "GET /orders/760"]
    assert store.orders["760"].po_number == "P"


async def test_ensure_reads_after_a_create_whose_earlier_attempt_may_have_registered_it(
    store: SandboxServer,
) -> None:
    """A create cut off after B2B Edition took it, then a 503 its retry met: the call may
    have registered the order (``after_uncertain_attempt``), so ensure reads it after the
    window, as after a create cut off on its last attempt, instead of raising the 503."""
    created_at = place(store, 761, age=7.0)
    store.faults = Faults(reset_after=0.4, http_503=0.4)
    pattern = [FaultKind.RESET_AFTER, FaultKind.HTTP_503, None]
    store._random.seed(seed_for(store.faults, pattern))
    retry = RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.05)
    async with client_for(store, retry=retry, check_extra_fields=False) as client:
        ensured = await client.v3.orders.ensure(
            bc_order_id=761, customer_id=5, po_number="P", created_at=created_at
        )
    assert (ensured.action, ensured.steps) == ("unchanged", ("create", "get"))
    assert calls(store) == ["POST /orders", "POST /orders", "GET /orders/761"]
    assert store.orders["761"].po_number == "P"


class HealingLimiter(LimiterRecorder):
    """A :class:`LimiterRecorder` that may switch the sandbox's faults off before a grant
    (:meth:`before_grant`), so that the reads and updates after the failing create are
    answered."""

    def __init__(self, store: SandboxServer) -> None:
        super().__init__()
        self.store = store

    def before_grant(self, deadline: float | None) -> None:
        """What happens to the sandbox, and to the refusals, before each grant."""

    async def acquire(
        self, priority: Priority = Priority.NORMAL, *, deadline: float | None = None
    ) -> float:
        self.before_grant(deadline)
        return await super().acquire(priority, deadline=deadline)


class RefuseAfterFirstGrant(HealingLimiter):
    """Grants the first request, then refuses every deadline (a queue grew behind a 500), and
    switches the sandbox's faults off so that the reads and updates after it are answered."""

    def before_grant(self, deadline: float | None) -> None:
        self.refuse_deadlines = bool(self.calls)
        if self.refuse_deadlines:
            self.store.faults = Faults()


async def test_ensure_waits_out_a_window_whose_retry_cannot_be_sent_after_a_500(
    store: SandboxServer,
) -> None:
    """A 500 (which may have registered the order), then no budget for the retry in time:
    ensure waits for the window and reconciles, rather than raising DeadlineUnreachableError."""
    created_at = place(store, 762, age=REGISTRATION_WINDOW - 2.5)
    store.faults = Faults(http_500=1.0)
    limiter = RefuseAfterFirstGrant(store)
    async with client_for(store, rate_limit=limiter, check_extra_fields=False) as client:
        ensured = await client.v3.orders.ensure(
            bc_order_id=762, customer_id=5, po_number="P", created_at=created_at
        )
    assert (ensured.action, ensured.steps) == ("updated", ("create", "get", "update"))
    assert store.orders["762"].po_number == "P"


async def test_a_create_whose_retries_its_window_stopped_raises_window_closed(
    store: SandboxServer,
) -> None:
    """503s with 2.5 s of the window left and backoffs from 0.4 s doubling (3 s at least
    before a fifth attempt): the window stops the retries, and the create raises
    RegistrationWindowClosedError caused by the 503, not the 503 itself."""
    created_at = place(store, 764, age=REGISTRATION_WINDOW - REGISTRATION_MARGIN - 2.5)
    store.faults = Faults(http_503=1.0)
    growing = RetryPolicy(attempts=5, initial_wait=0.4, max_wait=30.0)
    async with client_for(store, retry=growing, check_extra_fields=False) as client:
        with pytest.raises(RegistrationWindowClosedError) as caught:
            await client.v3.orders.create(bc_order_id=764, customer_id=5, created_at=created_at)
    assert isinstance(caught.value.__cause__, ServerError)
    assert caught.value.__cause__.status == 503


class HealedForTheRead(HealingLimiter):
    """Grants at once, and switches the sandbox's faults off at the first request without a
    deadline: the read after a create bound by its window."""

    def before_grant(self, deadline: float | None) -> None:
        if deadline is None:
            self.store.faults = Faults()


async def test_ensure_waits_out_a_window_whose_retries_a_growing_backoff_stopped(
    store: SandboxServer,
) -> None:
    """503s whose next backoff would end past the window stop the create's retries (2.5 s
    left, backoff from 0.3 s doubling): the window is lost, and ensure waits for it and
    reconciles, rather than raising the 503."""
    created_at = place(store, 763, age=REGISTRATION_WINDOW - REGISTRATION_MARGIN - 2.5)
    store.faults = Faults(http_503=1.0)
    growing = RetryPolicy(attempts=8, initial_wait=0.3, max_wait=30.0)
    limiter = HealedForTheRead(store)
    async with client_for(
        store, retry=growing, rate_limit=limiter, check_extra_fields=False
    ) as client:
        ensured = await client.v3.orders.ensure(
            bc_order_id=763, customer_id=5, po_number="P", created_at=created_at
        )
    assert (ensured.action, ensured.steps) == ("updated", ("create", "get", "update"))
    assert store.orders["763"].po_number == "P"


@pytest.mark.parametrize(
    ("reply", "age", "error", "problem", "path"),
    [
        # A create the API refuses (a 400 other than "already exists") ends ensure: no read.
        (
            (400, {"code": 400, "data": {}, "meta": {"message": "Invalid poNumber"}}),
            1,
            BadRequestError,
            "Invalid poNumber",
            "/api/v3/io/orders",
        ),
        # A read answered with another order holding the values sent is no "unchanged".
        (
            ok([order_json(999, companyId=1, poNumber="P")]),
            60,
            ResponseDecodeError,
            "describes order 999, not 9",
            "/api/v3/io/orders/9",
        ),
    ],
    ids=["create-refused", "read-of-another-order"],
)
async def test_ensure_ends_at_a_refusal_or_an_answer_it_cannot_trust(
    scripted: Callable[[list[Reply]], Any],
    reply: Reply,
    age: float,
    error: type[B2BError],
    problem: str,
    path: str,
) -> None:
    """ensure raises what refused its first request, or made its answer untrustworthy."""
    url, seen = await scripted([reply])
    async with client_for(url) as client:
        with pytest.raises(error, match=problem):
            await client.v3.orders.ensure(
                bc_order_id=9, customer_id=4, po_number="P", created_at=ago(age)
            )
    assert seen == [path]


async def test_ensure_checks_a_late_order_s_values_before_sending(store: SandboxServer) -> None:
    """Past its window, ensure still waits for the store's rules: a value breaking one is
    refused with InvalidOrderError, and no read or update is sent."""
    created_at = place(store, 745, age=30.0)
    async with client_for(store) as client:
        with pytest.raises(InvalidOrderError, match="'Priority' must be a number"):
            await client.v3.orders.ensure(
                bc_order_id=745,
                customer_id=5,
                extra_fields={"Fintech ID": "F", "Priority": "high"},
                created_at=created_at,
            )
    assert calls(store) == []


async def test_ensure_reads_an_empty_po_number_as_the_absent_one(
    scripted: Callable[[list[Reply]], Any],
) -> None:
    """An empty PO number against an order holding none differs in nothing: one read, no update."""
    url, seen = await scripted([ok([order_json(9, companyId=1)])])
    async with client_for(url) as client:
        ensured = await client.v3.orders.ensure(
            bc_order_id=9, customer_id=4, po_number="", created_at=ago(60)
        )
    assert (ensured.action, ensured.steps, ensured.changed) == ("unchanged", ("get",), ())
    assert seen == ["/api/v3/io/orders/9"]


async def test_ensure_gives_an_order_without_a_company_the_customer_s(
    scripted: Callable[[list[Reply]], Any],
) -> None:
    """An order without a company: the customer's orders are assigned to theirs (one more)."""
    url, seen = await scripted(
        [ok([order_json(9, companyId=None, poNumber="P")]), ok({"total": 1})]
    )
    async with client_for(url) as client:
        ensured = await client.v3.orders.ensure(
            bc_order_id=9, customer_id=4, po_number="P", created_at=ago(60)
        )
    assert (ensured.action, ensured.steps, ensured.changed) == ("updated", ("get", "assign"), ())
    assert seen == ["/api/v3/io/orders/9", "/api/v3/io/customers/4/orders/b2b"]


async def test_ensure_after_an_update_answered_without_the_order_keeps_what_it_read(
    scripted: Callable[[list[Reply]], Any],
) -> None:
    """An update answered with empty ``data``: the order ensure returns is the one it read,
    with the values it sent set, not the sent values alone (which would have no company, no
    PO number when it was not sent, and no other extra fields)."""
    held = [{"fieldName": "X", "fieldValue": "1"}, {"fieldName": "Y", "fieldValue": "2"}]
    read = order_json(9, companyId=3, poNumber="P", extraFields=held)
    url, seen = await scripted([ok([read]), ok([])])
    async with client_for(url) as client:
        ensured = await client.v3.orders.ensure(
            bc_order_id=9, customer_id=4, po_number="P", extra_fields={"X": "7"}, created_at=ago(60)
        )
    assert (ensured.action, ensured.steps) == ("updated", ("get", "update"))
    assert ensured.changed == ("X",)
    assert (ensured.order.company_id, ensured.order.po_number) == (3, "P")
    assert ensured.order.extra_fields == (ExtraField("X", "7"), ExtraField("Y", "2"))
    assert seen == ["/api/v3/io/orders/9", "/api/v3/io/orders/9"]


async def test_an_assignment_that_moves_nothing_leaves_the_order_unchanged(
    scripted: Callable[[list[Reply]], Any],
) -> None:
    """A customer without a company: the assignment moves nothing, so nothing was updated."""
    url, _ = await scripted([ok([order_json(9, companyId=None, poNumber="P")]), ok({"total": 0})])
    async with client_for(url) as client:
        ensured = await client.v3.orders.ensure(
            bc_order_id=9, customer_id=4, po_number="P", created_at=ago(60)
        )
    assert (ensured.action, ensured.steps) == ("unchanged", ("get", "assign"))


async def test_ensure_of_an_order_b2b_edition_does_not_hold_raises(store: SandboxServer) -> None:
    """Past its window and unknown to B2B Edition: NotFoundError, nothing written."""
    async with client_for(store) as client:
        with pytest.raises(NotFoundError):
            await client.v3.orders.ensure(bc_order_id=759, customer_id=5, created_at=ago(60))
    assert calls(store) == ["GET /orders/759"]


async def test_ensure_many_and_ensure_stream_report_each_order(store: SandboxServer) -> None:
    """One outcome per input, bulk priority throughout; late orders read, fresh ones created."""
    limiter = LimiterRecorder()
    late = [
        NewV3Order(760 + n, 5, f"P{n}", created_at=place(store, 760 + n, age=30)) for n in range(3)
    ]
    fresh = [NewV3Order(770 + n, 5, f"P{n}", created_at=place(store, 770 + n)) for n in range(2)]
    async with client_for(store, rate_limit=limiter) as client:
        report = await client.v3.orders.ensure_many([*late, *fresh, "not an order"])  # type: ignore[list-item]
        async with client.v3.orders.ensure_stream(late, concurrency=2) as stream:
            again = [outcome async for outcome in stream]
    actions = [outcome.result.action if outcome.result else None for outcome in report.outcomes]
    assert actions == ["updated"] * 3 + ["created"] * 2 + [None]
    assert [outcome.already_registered for outcome in report.outcomes] == [True] * 3 + [False] * 3
    assert isinstance(report.outcomes[5].error, InvalidOrderError)
    assert {outcome.result.action for outcome in again if outcome.result} == {"unchanged"}
    # Bulk throughout, but for the one fetch of the extra-field rules every order waits on.
    priorities = [priority for priority, _ in limiter.calls]
    assert priorities.count(Priority.URGENT) == 1
    assert set(priorities) == {Priority.BULK, Priority.URGENT}


# --- the extra field check ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"Cost Center": "CC", "Fintech ID": "F" * 101}, "'Fintech ID' must be at most 100"),
        ({"Cost Center": "CC", "Department": "Retai"}, "'Department' must be one of"),
        ({"Cost Center": "CC", "Priority": "high"}, "'Priority' must be a number"),
        ({"Cost Center": "CC", "Colour": "red"}, "'Colour' is not one of the store's"),
    ],
)
async def test_bad_extra_fields_raise_before_any_request(
    store: SandboxServer, fields: dict[str, str], message: str
) -> None:
    """A required field missing, a value too long, off the list or not a number: raised by
    create, update, ensure and the bulk runs before any request (the configurations kept)."""
    store.order_extra_fields = (
        *DEFAULT_ORDER_EXTRA_FIELDS,
        OrderExtraField(name="Cost Center", required=True),
    )
    created_at = place(store, 780, age=30.0)
    async with client_for(store) as client:
        orders = client.v3.orders
        await orders.extra_field_configs()
        fetched = len(store.requests)
        with pytest.raises(InvalidOrderError, match=message):
            await orders.create(bc_order_id=780, customer_id=5, extra_fields=fields)
        with pytest.raises(InvalidOrderError, match=message):
            await orders.update(780, extra_fields=fields)
        with pytest.raises(InvalidOrderError, match=message):
            await orders.ensure(
                bc_order_id=780, customer_id=5, extra_fields=fields, created_at=created_at
            )
        report = await orders.ensure_many([NewV3Order(780, 5, extra_fields=fields)])
    assert isinstance(report.outcomes[0].error, InvalidOrderError)
    assert len(store.requests) == fetched == 1


async def test_a_required_field_missing_is_refused_by_updates_not_by_creates(
    store: SandboxServer,
) -> None:
    """A required field missing: update raises before any request, ensure past the window and
    ensure_many before the update their read shows is needed; create sends the order, which
    is registered."""
    store.order_extra_fields = (
        *DEFAULT_ORDER_EXTRA_FIELDS,
        OrderExtraField(name="Cost Center", required=True),
    )
    fields = {"Fintech ID": "F"}
    created_at = place(store, 780, age=30.0)
    fresh = place(store, 781)
    async with client_for(store) as client:
        orders = client.v3.orders
        await orders.extra_field_configs()
        with pytest.raises(InvalidOrderError, match="'Cost Center' is required"):
            await orders.update(780, extra_fields=fields)
        with pytest.raises(InvalidOrderError, match="'Cost Center' is required"):
            await orders.ensure(
                bc_order_id=780, customer_id=5, extra_fields=fields, created_at=created_at
            )
        report = await orders.ensure_many([NewV3Order(780, 5, extra_fields=fields)])
        created = await orders.create(
            bc_order_id=781,
            customer_id=5,
            po_number="PO-781",
            extra_fields=fields,
            created_at=fresh,
        )
    assert isinstance(report.outcomes[0].error, InvalidOrderError)
    # ensure's read; ensure_many's create, told "already exists", and read; create's: no update.
    assert calls(store) == ["GET /orders/780", "POST /orders", "GET /orders/780", "POST /orders"]
    assert created.po_number == store.orders["781"].po_number == "PO-781"
    assert store.orders["781"].extra["extraFields"] == [
        {"fieldName": "Fintech ID", "fieldValue": "F"}
    ]


async def test_creates_in_bulk_and_by_ensure_may_leave_a_required_field_out(
    store: SandboxServer,
) -> None:
    """create_many and an ensure within the window register orders without the store's
    required field: the API asks for it in updates only."""
    store.order_extra_fields = (
        *DEFAULT_ORDER_EXTRA_FIELDS,
        OrderExtraField(name="Cost Center", required=True),
    )
    fields = {"Fintech ID": "F"}
    fresh = [place(store, 782), place(store, 783)]
    async with client_for(store) as client:
        report = await client.v3.orders.create_many(
            [NewV3Order(782, 5, "PO-782", fields, created_at=fresh[0])]
        )
        ensured = await client.v3.orders.ensure(
            bc_order_id=783,
            customer_id=5,
            po_number="PO-783",
            extra_fields=fields,
            created_at=fresh[1],
        )
    assert report.outcomes[0].error is None
    assert ensured.action == "created"
    assert calls(store) == ["POST /orders", "POST /orders"]
    assert store.orders["782"].po_number == "PO-782"
    assert store.orders["783"].po_number == "PO-783"


async def test_ensuring_again_an_order_created_without_a_required_field_changes_nothing(
    store: SandboxServer,
) -> None:
    """ensure stays idempotent for an order created without the store's required field: the
    second call and a bulk run read it, find nothing to update, and raise nothing."""
    store.order_extra_fields = (
        *DEFAULT_ORDER_EXTRA_FIELDS,
        OrderExtraField(name="Cost Center", required=True),
    )
    fields = {"Fintech ID": "F"}
    created_at = place(store, 784)
    order = NewV3Order(784, 5, "PO-784", fields, created_at=created_at)
    async with client_for(store) as client:
        orders = client.v3.orders
        first, again = [
            await orders.ensure(
                bc_order_id=784,
                customer_id=5,
                po_number="PO-784",
                extra_fields=fields,
                created_at=created_at,
            )
            for _ in range(2)
        ]
        report = await orders.ensure_many([order])
    assert (first.action, again.action) == ("created", "unchanged")
    assert report.outcomes[0].error is None
    assert report.outcomes[0].result is not None
    assert report.outcomes[0].result.action == "unchanged"
    assert "PUT /orders/784" not in calls(store)


async def test_ensure_updates_carry_the_required_fields_of_configurations_fetched_again(
    store: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Old configurations refuse ensure's update for a required field left out; fetched
    again, they require another one instead, which the update then carries though its value
    is unchanged, and B2B Edition takes the update."""
    now = [1000.0]
    monkeypatch.setattr(b2b_async._extra_field_cache, "clock", lambda: now[0])
    store.order_extra_fields = (
        *DEFAULT_ORDER_EXTRA_FIELDS,
        OrderExtraField(name="Cost Center", required=True),
        OrderExtraField(name="Reference"),
    )
    fresh = place(store, 806)
    async with client_for(store) as client:
        orders = client.v3.orders
        await orders.create(
            bc_order_id=806, customer_id=5, extra_fields={"Reference": "R"}, created_at=fresh
        )
        store.order_extra_fields = (
            *DEFAULT_ORDER_EXTRA_FIELDS,
            OrderExtraField(name="Cost Center"),
            OrderExtraField(name="Reference", required=True),
        )
        now[0] += EXTRA_FIELD_CONFIGS_RECHECK + 1
        ensured = await orders.ensure(
            bc_order_id=806, customer_id=5, po_number="PO-806", extra_fields={"Reference": "R"}
        )
    assert (ensured.action, ensured.changed) == ("updated", ("poNumber",))
    assert calls(store) == ["POST /orders", "POST /orders", "GET /orders/806", "PUT /orders/806"]
    assert store.requests[-1].body == {
        "poNumber": "PO-806",
        "extraFields": [{"fieldName": "Reference", "fieldValue": "R"}],
    }
    assert store.orders["806"].po_number == "PO-806"


async def test_configurations_are_kept_for_their_ttl(
    store: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One fetch serves every check for EXTRA_FIELD_CONFIGS_TTL seconds; then a new one."""
    now = [1000.0]
    monkeypatch.setattr(b2b_async._extra_field_cache, "clock", lambda: now[0])
    async with client_for(store) as client:
        view = client.with_options(priority="bulk")
        await client.v3.orders.create(bc_order_id=790, customer_id=5)
        now[0] += EXTRA_FIELD_CONFIGS_TTL - 1
        await view.v3.orders.update(790, po_number="A")  # a view shares the client's
        await client.v3.orders.extra_field_configs()
        now[0] += 2
        await client.v3.orders.update(790, po_number="B")
    configs = [r for r in store.requests if r.path == "/api/v3/io/orders/extra-fields"]
    assert len(configs) == 2
    assert store.requests.index(configs[1]) == len(store.requests) - 2


ALLOWED_SINCE = (
    *DEFAULT_ORDER_EXTRA_FIELDS[:3],
    attrs.evolve(
        DEFAULT_ORDER_EXTRA_FIELDS[3],
        choices=("Retail", "Automotive", "Manufacturing", "Wholesale"),
    ),
)


def config_fetches(store: SandboxServer) -> int:
    """How many requests fetched the order extra field configurations."""
    return sum(record.path == "/api/v3/io/orders/extra-fields" for record in store.requests)


async def test_a_value_allowed_since_the_configurations_were_kept_is_sent(
    store: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A choice an administrator added after the configurations were kept: once they are
    older than EXTRA_FIELD_CONFIGS_RECHECK, the refusal is checked against a new fetch, which
    allows it, and the order is registered with it."""
    now = [1000.0]
    monkeypatch.setattr(b2b_async._extra_field_cache, "clock", lambda: now[0])
    async with client_for(store) as client:
        await client.v3.orders.extra_field_configs()
        store.order_extra_fields = ALLOWED_SINCE
        now[0] += EXTRA_FIELD_CONFIGS_RECHECK + 1
        await client.v3.orders.create(
            bc_order_id=796, customer_id=5, extra_fields={"Department": "Wholesale"}
        )
    assert config_fetches(store) == 2
    assert store.orders["796"].extra["extraFields"] == [
        {"fieldName": "Department", "fieldValue": "Wholesale"}
    ]


@pytest.mark.parametrize("age", [EXTRA_FIELD_CONFIGS_RECHECK - 1, EXTRA_FIELD_CONFIGS_RECHECK + 1])
async def test_a_refusal_stands_when_the_configurations_are_recent_or_confirm_it(
    store: SandboxServer, monkeypatch: pytest.MonkeyPatch, age: float
) -> None:
    """Configurations younger than EXTRA_FIELD_CONFIGS_RECHECK refuse a value without a new
    fetch; older ones are fetched again, and a value the new ones refuse is refused too:
    nothing is sent either way."""
    now = [1000.0]
    monkeypatch.setattr(b2b_async._extra_field_cache, "clock", lambda: now[0])
    async with client_for(store) as client:
        await client.v3.orders.extra_field_configs()
        now[0] += age
        with pytest.raises(InvalidOrderError, match="'Department' must be one of"):
            await client.v3.orders.create(
                bc_order_id=797, customer_id=5, extra_fields={"Department": "Wholesale"}
            )
    assert config_fetches(store) == (1 if age < EXTRA_FIELD_CONFIGS_RECHECK else 2)
    assert len(store.requests) == config_fetches(store)


async def test_a_refusal_stands_when_the_configurations_cannot_be_fetched_again(
    store: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Old configurations refuse a value and their new fetch fails (a 500): the kept ones
    stand, the value is refused and the create is not sent."""
    now = [1000.0]
    monkeypatch.setattr(b2b_async._extra_field_cache, "clock", lambda: now[0])
    async with client_for(store, retry=None) as client:
        await client.v3.orders.extra_field_configs()
        store.faults = Faults(http_500=1.0)
        now[0] += EXTRA_FIELD_CONFIGS_RECHECK + 1
        with pytest.raises(InvalidOrderError, match="'Department' must be one of"):
            await client.v3.orders.create(
                bc_order_id=798, customer_id=5, extra_fields={"Department": "Wholesale"}
            )
    assert config_fetches(store) == 2
    assert len(store.requests) == 2


async def test_without_configurations_values_go_unchecked(
    scripted: Callable[[list[Reply]], Any],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failed fetch of the configurations: WARNING, values sent unchecked, no fetch for 30 s."""
    caplog.set_level(logging.WARNING, logger="b2b_async")
    now = [1000.0]
    monkeypatch.setattr(b2b_async._extra_field_cache, "clock", lambda: now[0])
    broken = (404, {"code": 404, "data": {}, "meta": {"message": "no such route"}})
    replies = [broken, ok(order_json(1)), ok(order_json(2)), ok([]), ok(order_json(3))]
    url, seen = await scripted(replies)
    async with client_for(url, check_extra_fields=True) as client:
        await client.v3.orders.create(bc_order_id=1, customer_id=2, extra_fields={"A": "x"})
        now[0] += EXTRA_FIELD_CONFIGS_RETRY - 1
        await client.v3.orders.create(bc_order_id=2, customer_id=2, extra_fields={"A": "x"})
        now[0] += 2
        with pytest.raises(InvalidOrderError, match="'A' is not one of the store's"):
            await client.v3.orders.create(bc_order_id=3, customer_id=2, extra_fields={"A": "x"})
    assert [path.split("?")[0] for path in seen] == [
        "/api/v3/io/orders/extra-fields",
        "/api/v3/io/orders",
        "/api/v3/io/orders",
        "/api/v3/io/orders/extra-fields",
    ]
    [warning] = caplog.records
    assert "sent unchecked" in warning.getMessage()


async def test_a_403_on_the_configurations_only_costs_the_check(
    scripted: Callable[[list[Reply]], Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A token refused the rules (403) may still register orders: they go unchecked."""
    caplog.set_level(logging.WARNING, logger="b2b_async")
    refused = (403, {"code": 403, "data": {}, "meta": {"message": "no access to extra fields"}})
    url, seen = await scripted([refused, ok(order_json(1))])
    async with client_for(url, check_extra_fields=True) as client:
        created = await client.v3.orders.create(bc_order_id=1, customer_id=2)
    assert created.bc_order_id == 1
    assert [path.split("?")[0] for path in seen] == [
        "/api/v3/io/orders/extra-fields",
        "/api/v3/io/orders",
    ]
    assert "sent unchecked" in caplog.text


def configs_app(length: int, count: int, offsets: list[str], posts: list[Any]) -> web.Application:
    """A store listing ``length`` extra field configurations, its count said to be ``count``.

    The offsets asked for go to ``offsets``; the bodies of creates go to ``posts``, each
    answered with its order.
    """

    async def configs(request: web.Request) -> web.Response:
        offsets.append(request.query["offset"])
        start = int(request.query["offset"])
        end = min(length, start + int(request.query["limit"]))
        page = [
            {"fieldName": f"F{i}", "fieldType": 0, "isRequired": False} for i in range(start, end)
        ]
        pagination = {"totalCount": count, "limit": MAX_V3_PAGE_SIZE, "offset": start}
        return web.json_response({"code": 200, "data": page, "meta": {"pagination": pagination}})

    async def create(request: web.Request) -> web.Response:
        posts.append(await request.json())
        data = order_json(posts[-1]["bcOrderId"])
        return web.json_response({"code": 200, "data": data, "meta": {"message": "SUCCESS"}})

    app = web.Application()
    app.router.add_get("/api/v3/io/orders/extra-fields", configs)
    app.router.add_post("/api/v3/io/orders", create)
    return app


#: A listing that goes on: ten times the configurations read, full pages, an absurd count.
ENDLESS = (10 * MAX_EXTRA_FIELD_CONFIGS, 10**15)
#: The offsets of the pages that hold MAX_EXTRA_FIELD_CONFIGS configurations.
BOUNDED_OFFSETS = [str(offset) for offset in range(0, MAX_EXTRA_FIELD_CONFIGS, MAX_V3_PAGE_SIZE)]
#: ... and of the one page more that shows whether the listing ends there.
PAST_THE_BOUND = [*BOUNDED_OFFSETS, str(MAX_EXTRA_FIELD_CONFIGS)]


@pytest.mark.parametrize("operation", ["create", "ensure"])
async def test_a_configuration_listing_that_never_ends_only_costs_the_check(
    aiohttp_server: Callable[[web.Application], Any],
    caplog: pytest.LogCaptureFixture,
    operation: str,
) -> None:
    """Past MAX_EXTRA_FIELD_CONFIGS configurations the fetch fails, at the first page past
    them: WARNING, and the create goes out within its window with its values unchecked."""
    caplog.set_level(logging.WARNING, logger="b2b_async")
    offsets: list[str] = []
    posts: list[Any] = []
    server = await aiohttp_server(configs_app(*ENDLESS, offsets, posts))
    url = f"http://127.0.0.1:{server.port}"
    async with client_for(url, check_extra_fields=True) as client:
        call = getattr(client.v3.orders, operation)
        await call(
            bc_order_id=1, customer_id=2, extra_fields={"A": "x"}, created_at=datetime.now(UTC)
        )
    assert offsets == PAST_THE_BOUND
    assert [post["extraFields"] for post in posts] == [[{"fieldName": "A", "fieldValue": "x"}]]
    [warning] = caplog.records
    assert "ResponseDecodeError" in warning.getMessage()
    assert f"did not end within {MAX_EXTRA_FIELD_CONFIGS} items" in warning.getMessage()


async def test_extra_field_configs_reads_a_listing_as_long_as_its_bound(
    aiohttp_server: Callable[[web.Application], Any],
) -> None:
    """A listing of exactly MAX_EXTRA_FIELD_CONFIGS configurations is read whole."""
    offsets: list[str] = []
    listing = configs_app(MAX_EXTRA_FIELD_CONFIGS, MAX_EXTRA_FIELD_CONFIGS, offsets, [])
    server = await aiohttp_server(listing)
    async with client_for(f"http://127.0.0.1:{server.port}") as client:
        configs = await client.v3.orders.extra_field_configs()
    assert len(configs) == MAX_EXTRA_FIELD_CONFIGS
    assert offsets == BOUNDED_OFFSETS


class SlowConfigs:
    """A store whose one extra field configuration (text field ``"A"``) comes on ``release``.

    ``asked`` is set as the first fetch arrives; the paths fetched go to ``gets``, the bodies
    of creates to ``posts``, each create answered with its order.
    """

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.release = asyncio.Event()
        self.gets: list[str] = []
        self.posts: list[Any] = []
        #: The statuses of the first answers, before the configurations themselves.
        self.refusals: list[int] = []
        #: Seconds each create and update takes to answer.
        self.create_delay = 0.0

    def app(self) -> web.Application:
        """The store's routes."""
        app = web.Application()
        app.router.add_get("/api/v3/io/orders/extra-fields", self._configs)
        app.router.add_post("/api/v3/io/orders", self._create)
        app.router.add_put("/api/v3/io/orders/{bc_order_id}", self._update)
        return app

    async def _configs(self, request: web.Request) -> web.Response:
        self.gets.append(request.path)
        self.asked.set()
        await self.release.wait()
        if self.refusals:
            status = self.refusals.pop(0)
            return web.json_response({"code": status, "data": {}}, status=status)
        page = [{"fieldName": "A", "fieldType": 0, "isRequired": False}]
        pagination = {"totalCount": 1, "limit": MAX_V3_PAGE_SIZE, "offset": 0}
        return web.json_response({"code": 200, "data": page, "meta": {"pagination": pagination}})

    async def _create(self, request: web.Request) -> web.Response:
        self.posts.append(await request.json())
        data = order_json(self.posts[-1]["bcOrderId"])
        await asyncio.sleep(self.create_delay)
        return web.json_response({"code": 200, "data": data, "meta": {"message": "SUCCESS"}})

    async def _update(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.create_delay)
        data = [order_json(int(request.match_info["bc_order_id"]))]
        return web.json_response({"code": 200, "data": data, "meta": {"message": "SUCCESS"}})


@pytest.fixture
async def slow_configs(
    aiohttp_server: Callable[[web.Application], Any],
) -> AsyncIterator[tuple[SlowConfigs, B2BClient]]:
    """A :class:`SlowConfigs` store and a client of it that checks extra fields."""
    store = SlowConfigs()
    server = await aiohttp_server(store.app())
    try:
        async with client_for(f"http://127.0.0.1:{server.port}", check_extra_fields=True) as client:
            yield store, client
    finally:
        store.release.set()  # lets a fetch still held end before the server stops


async def fetch_under_way(
    slow_configs: tuple[SlowConfigs, B2BClient],
) -> tuple[B2BClient, asyncio.Task[list[ExtraFieldConfig]]]:
    """Ask the client for the configurations; return once the store holds the request."""
    store, client = slow_configs
    waiting = asyncio.create_task(client.v3.orders.extra_field_configs())
    await store.asked.wait()
    return client, waiting


def six_seconds_ago() -> datetime:
    """A creation time six seconds back: 3 s left of the window, less its margin."""
    return datetime.now(UTC) - timedelta(seconds=6)


@pytest.mark.parametrize("operation", ["create", "ensure"])
async def test_a_check_slower_than_the_window_can_spare_leaves_the_values_unchecked(
    slow_configs: tuple[SlowConfigs, B2BClient], caplog: pytest.LogCaptureFixture, operation: str
) -> None:
    """A create waits for the configurations half of what is left of its window at the most,
    then goes out in time with its values unchecked: one WARNING for the fetch however many
    creates it held, and the fetch still under way."""
    caplog.set_level(logging.WARNING, logger="b2b_async")
    store, client = slow_configs
    call = getattr(client.v3.orders, operation)
    created_at = six_seconds_ago()
    await asyncio.gather(
        *(
            call(bc_order_id=order, customer_id=2, extra_fields={"Z": "x"}, created_at=created_at)
            for order in (1, 2)
        )
    )
    assert not store.release.is_set()
    assert store.gets == ["/api/v3/io/orders/extra-fields"]
    # "Z" is no field of the store's: only an unchecked create carries it.
    assert sorted(post["bcOrderId"] for post in store.posts) == [1, 2]
    for post in store.posts:
        assert post["extraFields"] == [{"fieldName": "Z", "fieldValue": "x"}]
    [warning] = caplog.records
    assert "did not arrive within" in warning.getMessage()
    assert "sent unchecked" in warning.getMessage()


async def test_a_long_call_deadline_does_not_stretch_the_check_past_the_window(
    aiohttp_server: Callable[[web.Application], Any],
) -> None:
    """With a call deadline longer than what is left of the window, the check still waits
    half the window's rest at the most: the create goes out in time, unchecked."""
    store = SlowConfigs()
    server = await aiohttp_server(store.app())
    patient = RetryPolicy(attempts=2, initial_wait=0.01, deadline=120.0)
    try:
        url = f"http://127.0.0.1:{server.port}"
        async with client_for(url, check_extra_fields=True, retry=patient) as client:
            order = await client.v3.orders.create(
                bc_order_id=1, customer_id=2, extra_fields={"Z": "x"}, created_at=six_seconds_ago()
            )
    finally:
        store.release.set()
    assert order.bc_order_id == 1
    assert [post["bcOrderId"] for post in store.posts] == [1]


async def test_the_fetch_a_create_could_not_wait_for_serves_the_calls_that_follow(
    slow_configs: tuple[SlowConfigs, B2BClient],
) -> None:
    """The create that stopped waiting leaves the fetch running: once it ends, its
    configurations check the next create, and nothing is fetched again."""
    store, client = slow_configs
    await client.v3.orders.create(bc_order_id=1, customer_id=2, created_at=six_seconds_ago())
    store.release.set()
    configs = await client.v3.orders.extra_field_configs()
    assert [config.field_name for config in configs] == ["A"]
    with pytest.raises(InvalidOrderError, match="'Z' is not one of the store's"):
        await client.v3.orders.create(bc_order_id=2, customer_id=2, extra_fields={"Z": "x"})
    assert store.gets == ["/api/v3/io/orders/extra-fields"]
    assert [post["bcOrderId"] for post in store.posts] == [1]


async def test_a_caller_that_stops_waiting_leaves_the_fetch_to_the_others(
    slow_configs: tuple[SlowConfigs, B2BClient],
) -> None:
    """Of two callers sharing a fetch, the cancelled one ends alone; the other gets its result."""
    store, client = slow_configs
    first = asyncio.create_task(client.v3.orders.extra_field_configs())
    second = asyncio.create_task(client.v3.orders.extra_field_configs())
    await store.asked.wait()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    store.release.set()
    assert [config.field_name for config in await second] == ["A"]
    assert store.gets == ["/api/v3/io/orders/extra-fields"]


async def test_closing_the_client_stops_a_fetch_under_way(
    slow_configs: tuple[SlowConfigs, B2BClient],
) -> None:
    """aclose ends a fetch still waiting for its answer; its caller gets ClientClosedError."""
    client, waiting = await fetch_under_way(slow_configs)
    await client.aclose()
    with pytest.raises(ClientClosedError, match="closed during the fetch"):
        await waiting
    fetches = [task for task in asyncio.all_tasks() if "extra field" in task.get_name()]
    assert fetches == []


async def test_a_views_deadline_bounds_the_wait_for_the_check(
    slow_configs: tuple[SlowConfigs, B2BClient],
) -> None:
    """A create without a window, through a view with a 1 s deadline, waits for the
    configurations no longer than that: it goes out unchecked while the fetch is held."""
    store, client = slow_configs
    bounded = client.with_options(retry=RetryPolicy(deadline=1.0))
    async with asyncio.timeout(30):  # unbounded, it would wait for the fetch
        await bounded.v3.orders.create(bc_order_id=1, customer_id=2, extra_fields={"Z": "x"})
    assert not store.release.is_set()
    assert [post["bcOrderId"] for post in store.posts] == [1]


@pytest.mark.parametrize("operation", ["create", "update", "ensure"])
async def test_the_wait_for_the_check_counts_against_the_calls_deadline(
    slow_configs: tuple[SlowConfigs, B2BClient],
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
) -> None:
    """With a 1 s deadline and configurations that never come, the check waits half of it
    and the request has only what is left, not a whole deadline of its own."""
    _, client = slow_configs
    lefts: list[float] = []
    send_within = Transport._send_within_deadline

    async def recording(
        self: Transport, sending: Any, policy: Any, seconds: float, left: float
    ) -> Envelope:
        lefts.append(left)
        return await send_within(self, sending, policy, seconds, left)

    monkeypatch.setattr(Transport, "_send_within_deadline", recording)
    bounded = client.with_options(retry=RetryPolicy(deadline=1.0))
    if operation == "create":
        await bounded.v3.orders.create(bc_order_id=1, customer_id=2, extra_fields={"Z": "x"})
    elif operation == "update":
        await bounded.v3.orders.update(1, extra_fields={"Z": "x"})
    else:
        await bounded.v3.orders.ensure(bc_order_id=1, customer_id=2, extra_fields={"Z": "x"})
    [left] = lefts
    assert left <= 1.0 * CHECK_SHARE  # the check's timer ran out before the request began


async def test_a_request_the_check_left_too_little_of_the_deadline_times_out_at_it(
    slow_configs: tuple[SlowConfigs, B2BClient],
) -> None:
    """A create whose 0.75 s answer fits its 1 s deadline but not what the check left of it
    fails with the deadline's APITimeoutError."""
    store, client = slow_configs
    store.create_delay = 0.75
    bounded = client.with_options(retry=RetryPolicy(deadline=1.0))
    with pytest.raises(APITimeoutError, match=r"deadline of 1\.0 s passed") as info:
        await bounded.v3.orders.create(bc_order_id=1, customer_id=2, extra_fields={"Z": "x"})
    assert info.value.may_have_reached_server


async def test_a_call_arriving_while_the_client_closes_starts_no_fetch(
    slow_configs: tuple[SlowConfigs, B2BClient],
) -> None:
    """While aclose waits for the fetch it stopped, the cache starts no new one: a call then
    gets ClientClosedError, and the store sees no second fetch."""
    client, waiting = await fetch_under_way(slow_configs)
    closing = asyncio.create_task(client.aclose())
    await asyncio.sleep(0)  # aclose has cancelled the fetch and waits for it to end
    with pytest.raises(ClientClosedError):
        await client.v3.orders.extra_field_configs()
    assert not closing.done()  # refused at once, not by the session closing under a fetch
    await closing
    with pytest.raises(ClientClosedError):
        await waiting
    assert slow_configs[0].gets == ["/api/v3/io/orders/extra-fields"]


async def test_a_fetch_a_closed_view_started_goes_on_on_the_clients_transport(
    slow_configs: tuple[SlowConfigs, B2BClient],
) -> None:
    """The fetch is the client's, not the view's that asked: after the view closes, its
    retry of a 503 still goes out, and the client's own call gets the configurations."""
    store, client = slow_configs
    store.refusals = [503]
    view = client.with_options(priority="bulk")
    started = asyncio.create_task(view.v3.orders.extra_field_configs())
    await store.asked.wait()
    await view.aclose()
    store.release.set()
    configs = await client.v3.orders.extra_field_configs()
    assert [config.field_name for config in configs] == ["A"]
    assert await started == configs
    assert store.gets == ["/api/v3/io/orders/extra-fields"] * 2


async def test_a_fetch_that_fails_after_its_callers_left_is_logged(
    slow_configs: tuple[SlowConfigs, B2BClient], caplog: pytest.LogCaptureFixture
) -> None:
    """A fetch that fails once no caller waits any more still logs its WARNING: the checks
    of the next 30 s go unchecked because of it."""
    caplog.set_level(logging.WARNING, logger="b2b_async")
    store, client = slow_configs
    await client.v3.orders.create(bc_order_id=1, customer_id=2, created_at=six_seconds_ago())
    [fetch] = [task for task in asyncio.all_tasks() if "extra field" in task.get_name()]
    store.refusals = [403]
    store.release.set()
    await asyncio.wait([fetch])
    slow, failed = (record.getMessage() for record in caplog.records)
    assert "did not arrive within" in slow
    assert "PermissionDeniedError" in failed
    assert "sent unchecked for 30 s" in failed


async def test_closing_the_client_ends_even_when_cancelled_while_the_fetch_ends(
    slow_configs: tuple[SlowConfigs, B2BClient],
) -> None:
    """A cancelled aclose still closes the client: its session is not left open."""
    client, waiting = await fetch_under_way(slow_configs)
    closing = asyncio.create_task(client.aclose())
    await asyncio.sleep(0)  # aclose has cancelled the fetch and waits for it to end
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert client.closed
    with pytest.raises(ClientClosedError):
        await waiting


async def test_a_view_closing_leaves_the_clients_fetch_running(
    slow_configs: tuple[SlowConfigs, B2BClient],
) -> None:
    """A view shares its client's cache: closing the view stops only its own use."""
    client, waiting = await fetch_under_way(slow_configs)
    await client.with_options(priority="bulk").aclose()
    slow_configs[0].release.set()
    assert [config.field_name for config in await waiting] == ["A"]


async def test_extra_field_configs_refuses_a_listing_past_its_bound(
    aiohttp_server: Callable[[web.Application], Any],
) -> None:
    """A listing that goes on past MAX_EXTRA_FIELD_CONFIGS raises ResponseDecodeError at the
    first page past the bound, asking no further page."""
    offsets: list[str] = []
    server = await aiohttp_server(configs_app(*ENDLESS, offsets, []))
    async with client_for(f"http://127.0.0.1:{server.port}") as client:
        with pytest.raises(
            ResponseDecodeError,
            match=f"extra-fields did not end within {MAX_EXTRA_FIELD_CONFIGS} items",
        ):
            await client.v3.orders.extra_field_configs()
    assert offsets == PAST_THE_BOUND


async def test_extra_field_configs_tells_a_repeated_page_by_its_field_names(
    aiohttp_server: Callable[[web.Application], Any],
) -> None:
    """A listing that answers every offset with the same fields, their labels edited between
    answers, fails as a repeating listing at the third page, not at the bound."""
    offsets: list[str] = []

    async def configs(request: web.Request) -> web.Response:
        offsets.append(request.query["offset"])
        label = f"Label {len(offsets)}"
        page = [{"fieldName": f"F{i}", "labelName": label} for i in range(MAX_V3_PAGE_SIZE)]
        return web.json_response({"code": 200, "data": page, "meta": {}})

    app = web.Application()
    app.router.add_get("/api/v3/io/orders/extra-fields", configs)
    server = await aiohttp_server(app)
    async with client_for(f"http://127.0.0.1:{server.port}") as client:
        with pytest.raises(ResponseDecodeError, match="answered 2 offsets in a row"):
            await client.v3.orders.extra_field_configs()
    assert offsets == [str(page * MAX_V3_PAGE_SIZE) for page in range(3)]


async def test_a_refused_token_fails_the_check_as_it_would_the_call(store: SandboxServer) -> None:
    """A 401 on the configurations is raised: every request would meet it. Shared by waiters."""
    async with B2BClient("wrong", store_hash=HASH, base_url=store.url, rate_limit=None) as client:
        first, second = await asyncio.gather(
            client.v3.orders.create(bc_order_id=796, customer_id=5),
            client.v3.orders.create(bc_order_id=797, customer_id=5),
            return_exceptions=True,
        )
    assert isinstance(first, AuthenticationError)
    assert second is first  # the one fetch's failure, shared
    assert [record.path for record in store.requests] == ["/api/v3/io/orders/extra-fields"]


async def test_the_check_switched_off_leaves_values_to_the_api(store: SandboxServer) -> None:
    """check_extra_fields=False: no configurations fetched, a bad value meets the API's 422."""
    async with client_for(store, check_extra_fields=False) as client:
        with pytest.raises(UnprocessableEntityError, match="Department"):
            await client.v3.orders.create(
                bc_order_id=795, customer_id=5, extra_fields={"Department": "Retai"}
            )
    assert calls(store) == ["POST /orders"]
    assert len(store.requests) == 1


# --- the command line --------------------------------------------------------------------------


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    """A background event loop, stopped and closed after the test."""
    thread = LoopThread()
    try:
        yield thread
    finally:
        thread.close()


@pytest.fixture
def cli_sandbox(loop_thread: LoopThread) -> Iterator[SandboxServer]:
    """A sandbox accepting :data:`HASH`, on the background loop."""

    async def started() -> SandboxServer:
        running = SandboxServer(rate=None, store_hash=HASH)
        await running.start()
        return running

    running = loop_thread.run(started())
    yield running
    loop_thread.run(running.aclose())


def journal(path: Path) -> list[dict[str, Any]]:
    """The journal's entries."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_cli_registers_v3_rows_with_the_store_hash(
    cli_sandbox: SandboxServer, tmp_path: Path
) -> None:
    """orders register --api v3 --store-hash reads bc_order_id,customer_id,po_number rows."""
    rows = tmp_path / "orders.csv"
    rows.write_text(
        "bc_order_id,customer_id,po_number\n501,5,PO-1\n502,6,\nBC9,5,\n503,,\n",
        encoding="utf-8",
    )
    results = tmp_path / "results.jsonl"
    args = ["orders", "register", str(rows), "--api", "v3", "--base-url", cli_sandbox.url]
    result = invoke([*args, "--store-hash", HASH, "--results", str(results)])
    assert result.exit_code == 1, result.output
    statuses = {entry["order_id"]: entry["status"] for entry in journal(results)}
    assert statuses == {"501": "created", "502": "created", "BC9": "rejected", "503": "rejected"}
    assert cli_sandbox.orders["501"].po_number == "PO-1"
    assert all(record.headers["X-Store-Hash"] == HASH for record in cli_sandbox.requests)
    assert all("authToken" not in record.headers for record in cli_sandbox.requests)
    assert HASH not in result.output


def test_cli_reads_the_store_hash_and_extra_fields_of_jsonl(
    cli_sandbox: SandboxServer, tmp_path: Path
) -> None:
    """B2B_STORE_HASH supplies the store hash; JSONL rows may carry extra_fields."""
    rows = tmp_path / "orders.jsonl"
    rows.write_text(
        json.dumps({"bc_order_id": 601, "customer_id": 5, "extra_fields": {"Priority": "3"}})
        + "\n",
        encoding="utf-8",
    )
    env = {"B2B_AUTH_TOKEN": DEFAULT_TOKEN, "B2B_STORE_HASH": HASH}
    args = ["orders", "register", str(rows), "--api", "v3", "--base-url", cli_sandbox.url]
    result = invoke(args, env=env)  # type: ignore[arg-type]
    assert result.exit_code == 0, result.output
    assert cli_sandbox.orders["601"].extra["extraFields"] == [
        {"fieldName": "Priority", "fieldValue": "3"}
    ]
    rerun = invoke(args, env=env)  # type: ignore[arg-type]
    assert rerun.exit_code == 0
    assert cli_sandbox.registrations("601") == 1


def test_cli_v3_header_must_name_the_v3_columns(cli_sandbox: SandboxServer, tmp_path: Path) -> None:
    """A V2 header with --api v3 is a usage error before any request."""
    rows = tmp_path / "orders.csv"
    rows.write_text("company_id,customer_id,order_id,total_inc_tax\n1,1,BC1,5\n", encoding="utf-8")
    result = invoke(["orders", "register", str(rows), "--api", "v3", "--base-url", cli_sandbox.url])
    assert result.exit_code == 2
    assert "bc_order_id" in result.stderr
    assert cli_sandbox.requests == []


def test_cli_create_uses_the_store_hash(cli_sandbox: SandboxServer) -> None:
    """orders create --store-hash authenticates with X-Auth-Token; a blank one means authToken."""
    args = ["orders", "create", "--customer-id", "5", "--total-inc-tax", "1"]
    args += ["--base-url", cli_sandbox.url]
    result = invoke([*args, "--order-id", "BC7", "--store-hash", HASH])
    env = {"B2B_AUTH_TOKEN": DEFAULT_TOKEN, "B2B_STORE_HASH": "  "}
    blank = invoke([*args, "--order-id", "BC8"], env=env)  # type: ignore[arg-type]
    assert result.exit_code == blank.exit_code == 0, result.output + blank.output
    current, legacy = cli_sandbox.requests
    assert current.headers["X-Store-Hash"] == HASH
    assert legacy.headers["authToken"] == DEFAULT_TOKEN
    assert "X-Store-Hash" not in legacy.headers


def test_cli_sandbox_takes_a_store_hash() -> None:
    """b2b-async sandbox --store-hash serves with that store hash and says so."""
    from tests.test_cli import free_port

    port = free_port()
    with sigint_when(lambda: health(port)) as fired:
        result = invoke(["sandbox", "--port", str(port), "--store-hash", "abc123"])
    assert fired.is_set()
    assert result.exit_code == 130
    assert "store hash: abc123" in result.stdout


async def test_the_session_headers_of_a_borrowed_session_do_not_add_auth(
    server: SandboxServer,
) -> None:
    """A borrowed session's own headers are kept; the client adds only its own scheme."""
    async with aiohttp.ClientSession(headers={"X-Trace": "1"}) as session:
        async with client_for(server, session=session) as client:
            await client.v3.orders.extra_field_configs()
    [record] = server.requests
    assert record.headers["X-Trace"] == "1"
    assert "authToken" not in record.headers


async def test_a_create_sent_within_its_window_is_never_cut_short_by_it(
    aiohttp_server: Callable[[web.Application], Any],
) -> None:
    """A create sent before its deadline keeps waiting for its answer past the window."""
    received: list[object] = []

    async def slow_create(request: web.Request) -> web.Response:
        received.append(await request.json())
        await asyncio.sleep(2.0)  # past the call's deadline, which is about 1.5 s away
        data = {"bcOrderId": 5, "id": 1, "poNumber": "PO"}
        return web.json_response({"code": 200, "data": data, "meta": {"message": "SUCCESS"}})

    app = web.Application()
    app.router.add_post("/api/v3/io/orders", slow_create)
    server = await aiohttp_server(app)
    created_at = datetime.now(UTC) - timedelta(seconds=REGISTRATION_WINDOW - 2.5)
    url = f"http://127.0.0.1:{server.port}"
    async with B2BClient("t", base_url=url, check_extra_fields=False, rate_limit=None) as client:
        order = await client.v3.orders.create(
            bc_order_id=5, customer_id=7, po_number="PO", created_at=created_at
        )
    assert (order.bc_order_id, order.po_number, len(received)) == (5, "PO", 1)


async def test_ensure_without_the_store_s_rules_sends_every_given_field(
    store: SandboxServer,
) -> None:
    """Unchecked, an update carries every given extra field: any of them may be required."""
    store.order_extra_fields = (
        *DEFAULT_ORDER_EXTRA_FIELDS,
        OrderExtraField(name="Cost Center", required=True),
    )
    created_at = place(store, 731, age=30.0)
    async with client_for(store, check_extra_fields=False) as client:
        ensure = functools.partial(
            client.v3.orders.ensure,
            bc_order_id=731,
            customer_id=5,
            created_at=created_at,
            extra_fields={"Cost Center": "CC"},
        )
        first = await ensure(po_number="A")
        second = await ensure(po_number="B")
    assert (first.action, second.action, second.changed) == ("updated", "updated", ("poNumber",))
    last_update = [record.body for record in store.requests if record.method == "PUT"][-1]
    assert last_update == {
        "poNumber": "B",
        "extraFields": [{"fieldName": "Cost Center", "fieldValue": "CC"}],
    }


async def stop_once(stream: Any, ready: asyncio.Event) -> list[Any]:
    """Every outcome of ``stream``, stopped as soon as ``ready`` is set."""

    async def stop_when_ready() -> None:
        await ready.wait()
        stream.stop()

    stopper = asyncio.create_task(stop_when_ready())
    try:
        async with stream:
            return [outcome async for outcome in stream]
    finally:
        stopper.cancel()


async def test_stopping_a_v3_run_withdraws_the_orders_waiting_for_the_extra_field_fetch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Orders waiting for the configurations one fetch brings them are withdrawn at the stop,
    instead of waiting for that fetch (at slow pacing, up to a minute)."""
    fetching = asyncio.Event()

    async def never_answered(transport: object, priority: Priority) -> tuple[()]:
        fetching.set()
        await asyncio.Event().wait()
        return ()

    monkeypatch.setattr(b2b_async._extra_field_cache, "fetch_extra_field_configs", never_answered)
    orders = [NewV3Order(1000 + index, 1) for index in range(8)]
    async with SandboxServer(rate=None, store_hash=HASH) as server, client_for(server) as client:
        stream = client.v3.orders.ensure_stream(orders, concurrency=4)
        seen = await asyncio.wait_for(stop_once(stream, fetching), 30)  # else: forever
        assert server.requests == []
    assert sorted(outcome.index for outcome in seen) == list(range(8))
    assert not any(outcome.attempted for outcome in seen)


async def test_stopping_a_v3_run_withdraws_the_orders_waiting_for_a_window_to_settle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An ensure waiting for a missed window to settle, nothing of it sent, is withdrawn at
    the stop instead of sleeping on (here for an hour)."""
    sleeping: list[RegistrationWindow] = []
    all_asleep = asyncio.Event()

    async def settles_in_an_hour(window: RegistrationWindow) -> None:
        sleeping.append(window)
        if len(sleeping) == 4:
            all_asleep.set()
        await asyncio.sleep(3600)

    monkeypatch.setattr(RegistrationWindow, "wait_until_settled", settles_in_an_hour)
    long_ago = datetime.now(UTC) - timedelta(days=1)
    orders = [NewV3Order(1000 + index, 1, created_at=long_ago) for index in range(4)]
    async with SandboxServer(rate=None, store_hash=HASH) as server, client_for(server) as client:
        stream = client.v3.orders.ensure_stream(orders, concurrency=4)
        seen = await asyncio.wait_for(stop_once(stream, all_asleep), 30)  # else: an hour
        assert {record.path for record in server.requests} <= {"/api/v3/io/orders/extra-fields"}
    assert not any(outcome.attempted for outcome in seen)
    assert len(seen) == 4


async def test_closing_the_client_wakes_an_ensure_waiting_for_a_window_to_settle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Closing ends the wait at once, as it ends a wait for budget: no hour of sleep first,
    and the order is not read."""
    asleep = asyncio.Event()

    async def settles_in_an_hour(window: RegistrationWindow) -> None:
        asleep.set()
        await asyncio.sleep(3600)

    monkeypatch.setattr(RegistrationWindow, "wait_until_settled", settles_in_an_hour)
    long_ago = datetime.now(UTC) - timedelta(days=1)
    async with SandboxServer(rate=None, store_hash=HASH) as server:
        client = client_for(server)
        ensuring = asyncio.create_task(
            client.v3.orders.ensure(bc_order_id=1000, customer_id=1, created_at=long_ago)
        )
        await asyncio.wait_for(asleep.wait(), 30)
        await client.aclose()
        with pytest.raises(ClientClosedError):
            await asyncio.wait_for(ensuring, 30)  # else: an hour
        assert {record.path for record in server.requests} <= {"/api/v3/io/orders/extra-fields"}


async def test_an_ensure_closed_after_a_create_that_may_have_registered_says_so(
    store: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A create cut off after it reached the store sends ensure to wait for the window;
    closing the client then fails ensure with a ClientClosedError whose
    after_uncertain_attempt says the create may have registered the order (it did)."""
    asleep = asyncio.Event()

    async def settles_in_an_hour(window: RegistrationWindow) -> None:
        asleep.set()
        await asyncio.sleep(3600)

    monkeypatch.setattr(RegistrationWindow, "wait_until_settled", settles_in_an_hour)
    created_at = place(store, 766)
    store.faults = Faults(reset_after=1.0)  # registered, then the connection is cut
    client = client_for(store, retry=None, check_extra_fields=False)
    ensuring = asyncio.create_task(
        client.v3.orders.ensure(bc_order_id=766, customer_id=5, created_at=created_at)
    )
    await asyncio.wait_for(asleep.wait(), 30)
    await client.aclose()
    with pytest.raises(ClientClosedError) as caught:
        await asyncio.wait_for(ensuring, 30)  # else: an hour
    assert store.registrations(766) == 1
    assert caught.value.after_uncertain_attempt


async def test_an_ensure_whose_read_fails_after_an_uncertain_create_says_so(
    store: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read that follows a create which may have registered the order fails too (a
    503): ensure's error says that the create may have registered it (it did)."""

    async def settled(window: RegistrationWindow) -> None:
        store.faults = Faults(http_503=1.0)

    monkeypatch.setattr(RegistrationWindow, "wait_until_settled", settled)
    created_at = place(store, 767)
    store.faults = Faults(reset_after=1.0)
    async with client_for(store, retry=None, check_extra_fields=False) as client:
        with pytest.raises(ServerError) as caught:
            await client.v3.orders.ensure(bc_order_id=767, customer_id=5, created_at=created_at)
    assert store.registrations(767) == 1
    assert caught.value.after_uncertain_attempt


def test_a_before_bound_at_the_epoch_is_zero_and_one_second_earlier_is_refused() -> None:
    """A ``_before`` bound at 1970-01-01 UTC goes out as 0; one a second earlier is refused."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert unix_seconds(epoch, "created_before") == 0
    assert unix_seconds(epoch + timedelta(hours=1), "modified_before") == 3600
    with pytest.raises(InvalidOrderError, match="must not be before 1970"):
        unix_seconds(epoch - timedelta(seconds=1), "created_before")


async def test_list_takes_a_range_whose_bounds_are_one_instant() -> None:
    """created_after equal to created_before is a range of one instant, not a reversed one."""
    client = B2BClient("t", store_hash=HASH)
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    orders = client.v3.orders.list(created_after=moment, created_before=moment)
    modified = client.v3.orders.list(modified_after=moment, modified_before=moment)
    await orders.aclose()
    await modified.aclose()


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ([], "$.data"),
        ([order_json(8), order_json(8)], "$.data"),
        (order_json(9), "$.data.bcOrderId"),
    ],
    ids=["no-order", "two-orders", "another-order"],
)
async def test_an_answer_not_about_the_order_asked_names_where_it_differs(
    scripted: Callable[[list[Reply]], Any], data: object, path: str
) -> None:
    """The decode error of an answer holding no order, several or another one names its path."""
    url, _ = await scripted([ok(data)])
    async with client_for(url) as client:
        with pytest.raises(ResponseDecodeError) as info:
            await client.v3.orders.get(8)
    assert info.value.path == path


async def test_an_order_updated_without_an_answer_keeps_no_raw_of_the_read(
    scripted: Callable[[list[Reply]], Any],
) -> None:
    """After an update answered with empty data, the order ensure returns has an empty raw:
    the answer it was read from no longer describes it."""
    url, _ = await scripted([ok([order_json(9, companyId=3, poNumber="Old")]), ok(None)])
    async with client_for(url) as client:
        ensured = await client.v3.orders.ensure(
            bc_order_id=9, customer_id=4, po_number="P", created_at=ago(60)
        )
    assert (ensured.action, ensured.order.po_number) == ("updated", "P")
    assert ensured.order.raw == {}


async def test_a_listing_that_serves_one_order_again_changed_is_caught_repeating(
    scripted: Callable[[list[Reply]], Any],
) -> None:
    """Pages are told apart by their orders' ids: a server that answers each offset with the
    same order, changed since the page before, is caught repeating its pages."""
    pages = [ok([order_json(1, poNumber=f"P{n}")], totalCount=5) for n in range(5)]
    url, seen = await scripted(pages)
    async with client_for(url) as client:
        with pytest.raises(ResponseDecodeError, match="offsets in a row"):
            _ = [order async for order in client.v3.orders.list(page_size=1)]
    assert len(seen) == 3


async def test_ensure_updates_a_late_order_within_a_call_deadline(store: SandboxServer) -> None:
    """Under a call deadline, ensure's update of a late order is sent and counted from the
    update's own start: the order is read, then updated."""
    retry = attrs.evolve(QUICK, deadline=30.0)
    created_at = place(store, 771, age=60)
    async with client_for(store, retry=retry, check_extra_fields=False) as client:
        ensured = await client.v3.orders.ensure(
            bc_order_id=771, customer_id=5, po_number="NEW", created_at=created_at
        )
    assert (ensured.action, ensured.steps) == ("updated", ("get", "update"))
    assert ensured.order.po_number == "NEW"


async def test_ensure_without_created_at_raises_after_a_create_that_may_have_registered(
    store: SandboxServer,
) -> None:
    """Without created_at no window tells when B2B Edition holds the order: a create cut off
    after it reached the store raises its failure, and nothing is read."""
    place(store, 768)
    store.faults = Faults(reset_after=1.0)  # registered, then the connection is cut
    async with client_for(store, retry=None, check_extra_fields=False) as client:
        with pytest.raises(B2BError):
            await client.v3.orders.ensure(bc_order_id=768, customer_id=5, po_number="P")
    assert calls(store) == ["POST /orders"]
    assert store.registrations(768) == 1


async def test_an_ensure_whose_read_fails_after_a_create_its_window_stopped_is_not_uncertain(
    store: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A create its window stopped before it was sent (no budget in time) leaves the read's
    failure (a 503) unmarked: nothing this call sent may have registered the order."""

    async def settled(window: RegistrationWindow) -> None:
        store.faults = Faults(http_503=1.0)

    monkeypatch.setattr(RegistrationWindow, "wait_until_settled", settled)
    created_at = place(store, 769)
    limiter = LimiterRecorder(refuse_deadlines=True)
    async with client_for(
        store, retry=None, rate_limit=limiter, check_extra_fields=False
    ) as client:
        with pytest.raises(ServerError) as caught:
            await client.v3.orders.ensure(bc_order_id=769, customer_id=5, created_at=created_at)
    assert calls(store) == ["GET /orders/769"]
    assert store.registrations(769) == 0
    assert not caught.value.after_uncertain_attempt
