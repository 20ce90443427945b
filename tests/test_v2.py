"""The V2 resources against the sandbox, and the exact shape of each request."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from aiohttp import web
from aioresponses import aioresponses
from yarl import URL

from b2b_async import (
    Address,
    B2BClient,
    BadRequestError,
    CompanyOrder,
    CreatedOrder,
    InvalidOrderError,
    LineItem,
    NewOrder,
    NotFoundError,
    OrderAlreadyExistsError,
    OrderCompany,
    OrderImage,
    OrderProduct,
    OrderUpdate,
    ProductOption,
    ResponseDecodeError,
    RetryPolicy,
    ServerError,
    __version__,
)
from b2b_async._routes import MAX_QUERY_BYTES, v2_path
from b2b_async._v2 import answered_id, registration, registration_path
from b2b_async.sandbox import DEFAULT_TOKEN, FaultKind, Faults, SandboxServer
from tests.loopback import serving
from tests.sandbox_helpers import seed_for

V2 = "/api/v2/io"
QUICK = RetryPolicy(initial_wait=0.01, max_wait=0.05)


ADDRESS = Address(first_name="Jane", last_name="Doe", city="Austin", country_iso2="US")


ServerFactory = Callable[[web.Application], Any]


@pytest.fixture
async def server() -> AsyncIterator[SandboxServer]:
    """A sandbox without a request window or faults."""
    async with SandboxServer(rate=None) as sandbox:
        yield sandbox


@pytest.fixture
async def client(server: SandboxServer) -> AsyncIterator[B2BClient]:
    """A client of the sandbox, without pacing and with quick retries."""
    async with B2BClient(
        DEFAULT_TOKEN, base_url=server.url, rate_limit=None, retry=QUICK
    ) as b2b_client:
        yield b2b_client


async def register(client: B2BClient, *order_ids: str, company: int = 1, customer: int = 1) -> None:
    """Register orders for a customer of a company."""
    for index, order_id in enumerate(order_ids):
        await client.orders.create(
            company_id=company,
            customer_id=customer,
            order_id=order_id,
            total_inc_tax=Decimal("10.50") + index,
        )


def sent(server: SandboxServer, suffix: str) -> list[dict[str, str]]:
    """The queries of the requests whose path ends with ``suffix``."""
    return [record.query for record in server.requests if record.path.endswith(suffix)]


async def test_created_order_is_listed_detailed_and_moves_company(
    client: B2BClient, server: SandboxServer
) -> None:
    """create → list_by_company → details → company_of → move_customer_orders → company_of."""
    await register(client, "900", customer=1)
    listed = [order async for order in client.orders.list_by_company(1)]
    assert [order.order_id for order in listed] == ["900"]
    assert listed[0].total_inc_tax == Decimal("10.50")
    assert listed[0].order_status == "Awaiting Payment"
    assert isinstance(listed[0].created_at, datetime)
    detail = await client.orders.details("900")
    assert (detail.order_id, detail.customer_id, detail.total_inc_tax) == (
        "900",
        "1",
        Decimal("10.50"),
    )
    assert await client.orders.company_of(900) == OrderCompany("1", "Company 1", "1")
    await client.orders.move_customer_orders(1, customer_group_id=2)
    assert await client.orders.company_of("900") == OrderCompany("2", "Company 2", "2")
    assert await client.orders.company_id_of("900") == "2"
    assert server.orders["900"].company_id == 2
    assert [order async for order in client.orders.list_by_company(1)] == []


async def test_assign_rederives_the_company_of_a_moved_customer(
    client: B2BClient, server: SandboxServer
) -> None:
    """After an admin moves a customer, assign_customer_orders_to_company follows it."""
    await register(client, "901", customer=1)
    server.move_customer(1, 3)
    assert await client.orders.company_id_of("901") == "1"
    await client.orders.assign_customer_orders_to_company(1)
    assert await client.orders.company_id_of("901") == "3"
    [record] = [
        r for r in server.requests if r.method == "POST" and r.path == f"{V2}/orders/company"
    ]
    assert record.body == {"customerID": "1"}


async def test_company_moves_send_the_documented_bodies(
    client: B2BClient, server: SandboxServer
) -> None:
    """Both company operations send their ids as strings under customerID/customerGroupID."""
    await client.orders.move_customer_orders("7", customer_group_id=4)
    [record] = [r for r in server.requests if r.path == f"{V2}/orders/company"]
    assert (record.method, record.body) == ("PUT", {"customerGroupID": "4", "customerID": "7"})


async def test_unknown_customer_or_group_is_a_40013_bad_request(client: B2BClient) -> None:
    """A missing customer or customer group answers 400 with body code 40013."""
    with pytest.raises(BadRequestError) as customer:
        await client.orders.assign_customer_orders_to_company(99999)
    with pytest.raises(BadRequestError) as group:
        await client.orders.move_customer_orders(1, customer_group_id=99999)
    assert customer.value.code == group.value.code == 40013


async def test_company_moves_refuse_an_empty_id_naming_it_before_sending(
    client: B2BClient, server: SandboxServer
) -> None:
    """Both company operations refuse an empty id with an error naming that argument."""
    with pytest.raises(InvalidOrderError, match=r"^customer_id must not be empty"):
        await client.orders.assign_customer_orders_to_company(" ")
    with pytest.raises(InvalidOrderError, match=r"^customer_id must not be empty"):
        await client.orders.move_customer_orders("", customer_group_id=4)
    with pytest.raises(InvalidOrderError, match=r"^customer_group_id must not be empty"):
        await client.orders.move_customer_orders(7, customer_group_id="")
    assert server.requests == []


async def test_a_bulk_run_counts_an_order_registered_by_an_earlier_run_as_registered(
    client: B2BClient,
) -> None:
    """In create_many, "already exists" on a first attempt is a success marked
    already_registered, where a single create raises OrderAlreadyExistsError."""
    await register(client, "960")
    report = await client.orders.create_many([NewOrder(1, 1, "960", 10), NewOrder(1, 1, "961", 10)])
    assert [outcome.result for outcome in report.outcomes] == [
        CreatedOrder("960", already_registered=True),
        CreatedOrder("961"),
    ]
    with pytest.raises(OrderAlreadyExistsError):
        await register(client, "960")


async def test_update_changes_the_order_as_details_and_products_show(
    client: B2BClient, server: SandboxServer
) -> None:
    """update sends typed address and lines; details and products read them back."""
    await register(client, "910")
    lines = [
        LineItem(
            product_id=97,
            variant_id=69,
            name="Poster",
            quantity=2,
            price_ex_tax=10,
            price_inc_tax=Decimal("10.98"),
            product_options=[ProductOption("12", "Large")],
        ),
        LineItem(product_id=98, quantity=1),
    ]
    updated = await client.orders.update(
        "910", billing_address=ADDRESS, products=lines, status_id=11, po_number="PO-9"
    )
    assert updated == "910"
    detail = await client.orders.details("910")
    assert detail.status_id == 11
    assert detail.status == "Awaiting Fulfillment"
    assert detail.po_number == "PO-9"
    assert detail.billing_address == ADDRESS
    assert detail.items_total == 3
    assert detail.products[0].product_id == "97"
    assert detail.products[0].price_inc_tax == Decimal("10.98")
    products = await client.orders.products("910")
    assert products == [OrderProduct("97", "69", 2, (ProductOption("12", "Large"),))]
    [record] = [r for r in server.requests if r.method == "PUT" and r.path == f"{V2}/orders"]
    assert record.body is not None
    assert record.body["statusId"] == "11"
    assert record.body["products"][0]["priceExTax"] == "10"


async def test_apply_update_sends_every_documented_field(
    client: B2BClient, server: SandboxServer
) -> None:
    """apply_update carries costs and subtotals as numeric strings."""
    await register(client, "911")
    update = OrderUpdate(
        order_id=911,
        billing_address=ADDRESS,
        products=[],
        subtotal_ex_tax="9.00",
        subtotal_inc_tax=Decimal("9.90"),
        total_ex_tax=9,
        staff_notes="checked",
    )
    assert await client.orders.apply_update(update) == "911"
    record = next(r for r in server.requests if r.method == "PUT")
    assert record.body is not None
    assert (record.body["subtotalExTax"], record.body["totalExTax"]) == ("9.00", "9")
    detail = await client.orders.details("911")
    assert detail.total_ex_tax == Decimal(9)
    assert detail.raw["billingAddress"]["city"] == "Austin"


async def test_update_of_unknown_order_is_not_found(client: B2BClient) -> None:
    """Updating an order the API does not know raises NotFoundError."""
    with pytest.raises(NotFoundError):
        await client.orders.update("nope", billing_address=ADDRESS, products=[])


async def test_invalid_update_sends_nothing(client: B2BClient, server: SandboxServer) -> None:
    """A bad argument raises InvalidOrderError before any request."""
    with pytest.raises(InvalidOrderError, match="order_id"):
        await client.orders.update("", billing_address=ADDRESS, products=[])
    with pytest.raises(InvalidOrderError, match="status_id"):
        await client.orders.update("1", billing_address=ADDRESS, products=[], status_id=-1)
    assert server.requests == []


@pytest.mark.parametrize(
    "update",
    [
        {"orderId": "911", "billingAddress": {}, "products": []},
        NewOrder(company_id=1, customer_id=1, order_id="911", total_inc_tax=1),
        None,
    ],
    ids=["dict", "NewOrder", "None"],
)
async def test_apply_update_refuses_what_is_no_order_update_before_sending(
    client: B2BClient, server: SandboxServer, update: object
) -> None:
    """apply_update refuses anything but an OrderUpdate with InvalidOrderError, sending nothing."""
    with pytest.raises(InvalidOrderError, match="expected an OrderUpdate, got"):
        await client.orders.apply_update(update)  # type: ignore[arg-type]
    assert server.requests == []


async def test_is_registered_tells_registered_from_unknown(client: B2BClient) -> None:
    """True for a registered order, False for the documented 400/40013 answer."""
    await register(client, "920")
    assert await client.orders.is_registered("920") is True
    assert await client.orders.is_registered("921") is False


async def test_is_registered_raises_other_bad_requests(
    client: B2BClient, server: SandboxServer
) -> None:
    """Only code 40013 means "not registered"; any other 400 is raised."""
    server.faults = Faults(error_200=1.0)
    with pytest.raises(BadRequestError) as info:
        await client.orders.is_registered("920")
    assert info.value.code == 40010


async def test_unknown_orders_answer_as_documented(client: B2BClient) -> None:
    """The company look-ups answer 400/40013 (not 404); detail and products answer 404."""
    with pytest.raises(BadRequestError) as company:
        await client.orders.company_of("404404")
    assert (company.value.status, company.value.code) == (400, 40013)
    assert not isinstance(company.value, NotFoundError)
    with pytest.raises(BadRequestError) as company_id:
        await client.orders.company_id_of("404404")
    assert company_id.value.code == 40013
    with pytest.raises(NotFoundError):
        await client.orders.details("404404")
    with pytest.raises(NotFoundError):
        await client.orders.products("404404")


async def test_ids_are_percent_encoded_path_segments(
    client: B2BClient, server: SandboxServer
) -> None:
    """An id with a slash or dots stays one path segment: the route still matches."""
    for order_id in ("a/b", "..", "x?y"):
        assert await client.orders.is_registered(order_id) is False
    assert [r.path for r in server.requests] == [
        f"{V2}/orders/a/b/companyIdBCId",
        f"{V2}/orders/../companyIdBCId",
        f"{V2}/orders/x?y/companyIdBCId",
    ]


@pytest.mark.parametrize("order_id", ["", "   ", -1])
async def test_lookups_refuse_empty_ids_before_sending(
    client: B2BClient, server: SandboxServer, order_id: Any
) -> None:
    """Every look-up checks its id first."""
    for lookup in (
        client.orders.company_of,
        client.orders.company_id_of,
        client.orders.details,
        client.orders.products,
        client.orders.is_registered,
    ):
        with pytest.raises(InvalidOrderError, match="order_id"):
            await lookup(order_id)
    assert server.requests == []


async def test_products_of_an_order_without_products_is_empty(client: B2BClient) -> None:
    """The sandbox answers {} for an order without products: no product."""
    await register(client, "930")
    assert await client.orders.products("930") == []


async def test_images_of_known_orders_in_one_request(
    client: B2BClient, server: SandboxServer
) -> None:
    """images sends one comma-separated orderIds and leaves unknown ids out."""
    await register(client, "940", "941")
    images = await client.orders.images(["941", 940, "nope"])
    assert images == [OrderImage("941", ""), OrderImage("940", "")]
    assert sent(server, "/orders/images") == [{"orderIds": "941,940,nope"}]
    assert await client.orders.images("940") == [OrderImage("940", "")]


async def test_images_without_ids_sends_nothing(client: B2BClient, server: SandboxServer) -> None:
    """No ids, no request; ids with commas are refused."""
    assert await client.orders.images([]) == []
    with pytest.raises(InvalidOrderError, match="commas"):
        await client.orders.images(["1,2"])
    with pytest.raises(InvalidOrderError):
        await client.orders.images([""])
    assert server.requests == []


async def test_images_of_ids_too_many_for_one_request_line_go_in_several(
    client: B2BClient, server: SandboxServer
) -> None:
    """1,000 ids of 9 digits take two requests, each query within MAX_QUERY_BYTES; the images
    come back in the order of the ids."""
    first, last = "100000001", "100000999"
    await register(client, first, last)
    ids = [str(100_000_000 + n) for n in range(1, 1001)]
    images = await client.orders.images(ids)
    assert images == [OrderImage(first, ""), OrderImage(last, "")]
    queries = sent(server, "/orders/images")
    assert len(queries) == 2
    assert ",".join(query["orderIds"] for query in queries).split(",") == ids
    for query in queries:
        assert len(urlencode(query, quote_via=quote)) <= MAX_QUERY_BYTES


async def test_hostile_arguments_are_refused_before_anything_is_sent(
    client: B2BClient, server: SandboxServer
) -> None:
    """Bytes and other non-ids, an unhashable order_by, a flag given as text and an order that
    is no NewOrder are refused with InvalidOrderError, not read as something else."""
    orders = client.orders
    for not_ids in (b"123", None, 1.5):
        with pytest.raises(InvalidOrderError, match="order_ids must be an id or an iterable"):
            await orders.images(not_ids)  # type: ignore[arg-type]
    with pytest.raises(InvalidOrderError, match="order_by must be one of"):
        orders.list_by_company(1, order_by=["bcOrderId"])  # type: ignore[arg-type]
    with pytest.raises(InvalidOrderError, match="include_extra must be True or False"):
        orders.list_by_company(1, include_extra="no")  # type: ignore[arg-type]
    with pytest.raises(InvalidOrderError, match="expected a NewOrder, got str"):
        await orders.register("BC1")  # type: ignore[arg-type]
    assert server.requests == []


async def test_list_by_company_walks_several_pages(
    client: B2BClient, server: SandboxServer
) -> None:
    """25 orders with page_size=10: three requests at offsets 0, 10, 20, each order once."""
    order_ids = [str(1000 + n) for n in range(25)]
    await register(client, *order_ids)
    listed = [
        order
        async for order in client.orders.list_by_company(1, page_size=10, order_by="bcOrderId")
    ]
    assert [order.order_id for order in listed] == order_ids
    queries = sent(server, "/companies/1/orders")
    assert [(q["limit"], q["offset"]) for q in queries] == [("10", "0"), ("10", "10"), ("10", "20")]


async def test_list_by_company_sends_its_filters(client: B2BClient, server: SandboxServer) -> None:
    """Dates go out MM/DD/YYYY, includeExtra as 1, channelId and orderBy as given."""
    await register(client, "950")
    today = datetime.now(UTC).date()
    listed = [
        order
        async for order in client.orders.list_by_company(
            "1",
            order_by="totalIncTax",
            begin_date=today,
            end_date=today,
            include_extra=True,
            channel_id=1,
        )
    ]
    assert [order.order_id for order in listed] == ["950"]
    assert listed[0].extra_fields == ()
    [query] = sent(server, "/companies/1/orders")
    day = today.strftime("%m/%d/%Y")
    assert query == {
        "orderBy": "totalIncTax",
        "beginDateAt": day,
        "endDateAt": day,
        "includeExtra": "1",
        "channelId": "1",
        "limit": "50",
        "offset": "0",
    }


async def test_date_filters_select_orders(client: B2BClient) -> None:
    """Orders outside the date range are not listed."""
    await register(client, "960")
    past = [o async for o in client.orders.list_by_company(1, end_date=date(2000, 1, 1))]
    ids = [i async for i in client.companies.order_ids(1, begin_date=date(2000, 1, 1))]
    assert (past, ids) == ([], ["960"])


async def test_datetimes_filter_by_their_day(client: B2BClient, server: SandboxServer) -> None:
    """A datetime given as a date filter counts as its day, mixed with a date or not."""
    moment = datetime(2020, 1, 1, 15, 30, tzinfo=UTC)
    orders = client.orders.list_by_company(1, begin_date=moment, end_date=date(2020, 1, 1))
    assert [order async for order in orders] == []
    [query] = sent(server, "/companies/1/orders")
    assert (query["beginDateAt"], query["endDateAt"]) == ("01/01/2020", "01/01/2020")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"company_id": ""}, "company_id"),
        ({"order_by": "name"}, "order_by must be one of"),
        ({"begin_date": "01/01/2020"}, "begin_date must be a datetime.date"),
        ({"end_date": 20200101}, "end_date must be a datetime.date"),
        ({"begin_date": date(2020, 2, 1), "end_date": date(2020, 1, 1)}, "is after"),
        ({"channel_id": ""}, "channel_id"),
        ({"page_size": 0}, "page_size"),
    ],
)
async def test_list_by_company_checks_arguments_at_once(
    client: B2BClient, server: SandboxServer, arguments: dict[str, Any], message: str
) -> None:
    """Bad arguments raise InvalidOrderError from the call itself, before any request."""
    values: dict[str, Any] = {"company_id": 1}
    values.update(arguments)
    with pytest.raises(InvalidOrderError, match=message):
        client.orders.list_by_company(**values)
    assert server.requests == []


@pytest.mark.parametrize("channel_id", ["web", "1.5", "-1", 0, "0"])
async def test_list_by_company_refuses_a_channel_id_that_is_no_whole_number(
    client: B2BClient, server: SandboxServer, channel_id: object
) -> None:
    """The schema types channelId as a number: a name, a fraction, a sign or 0 raises
    InvalidOrderError from the call, before any request, and " 12 " goes out as 12."""
    with pytest.raises(InvalidOrderError, match="channel_id"):
        client.orders.list_by_company(1, channel_id=channel_id)  # type: ignore[arg-type]
    assert server.requests == []
    assert [order async for order in client.orders.list_by_company(1, channel_id=" 12 ")] == []
    [query] = sent(server, "/companies/1/orders")
    assert query["channelId"] == "12"


@pytest.mark.parametrize("flag", ["yes", 1, None])
async def test_list_by_company_refuses_an_include_extra_that_is_no_bool(
    client: B2BClient, server: SandboxServer, flag: object
) -> None:
    """An include_extra other than True or False raises InvalidOrderError, before any request."""
    with pytest.raises(InvalidOrderError, match="include_extra must be True or False"):
        client.orders.list_by_company(1, include_extra=flag)  # type: ignore[arg-type]
    assert server.requests == []


async def test_listings_of_unknown_company_raise_not_found(client: B2BClient) -> None:
    """An unknown company raises NotFoundError while iterating."""
    with pytest.raises(NotFoundError):
        _ = [order async for order in client.orders.list_by_company(4040)]
    with pytest.raises(NotFoundError):
        _ = [order_id async for order_id in client.companies.order_ids(4040)]


async def test_company_order_ids_walk_every_page_oldest_first(
    client: B2BClient, server: SandboxServer
) -> None:
    """companies.order_ids yields every id as str, one request per page."""
    order_ids = [str(2000 + n) for n in range(25)]
    await register(client, *order_ids, company=2, customer=2)
    assert [i async for i in client.companies.order_ids(2, page_size=10)] == order_ids
    assert [q["offset"] for q in sent(server, "/orderBCIds")] == ["0", "10", "20"]
    with pytest.raises(InvalidOrderError, match="company_id"):
        client.companies.order_ids("")


async def test_leaving_a_listing_early_stops_fetching(
    client: B2BClient, server: SandboxServer
) -> None:
    """Breaking out after the first id sends no further page request."""
    await register(client, *[str(3000 + n) for n in range(5)])
    ids = client.companies.order_ids(1, page_size=2)
    async for order_id in ids:
        assert order_id == "3000"
        break
    await ids.aclose()
    assert len(sent(server, "/orderBCIds")) == 1


async def test_reads_are_retried_like_registrations() -> None:
    """A 503 on a read is retried through the same transport, then succeeds."""
    faults = Faults(http_503=0.5)
    seed = seed_for(faults, [None, FaultKind.HTTP_503, None])
    async with (
        SandboxServer(rate=None, faults=faults, seed=seed) as sandbox,
        B2BClient(DEFAULT_TOKEN, base_url=sandbox.url, rate_limit=None, retry=QUICK) as client,
    ):
        await register(client, "970")
        assert await client.orders.company_id_of("970") == "1"
        assert client.stats.retries == 1


async def test_reads_raise_server_errors_without_retries() -> None:
    """With retries off, a read's 503 raises ServerError."""
    async with (
        SandboxServer(rate=None, faults=Faults(http_503=1.0)) as sandbox,
        B2BClient(DEFAULT_TOKEN, base_url=sandbox.url, rate_limit=None, retry=None) as client,
    ):
        with pytest.raises(ServerError):
            await client.orders.details("1")


async def test_order_detail_unknown_fields_survive_a_round_trip(
    client: B2BClient, server: SandboxServer
) -> None:
    """Fields the model does not type are kept in raw (the sandbox's order_source)."""
    await register(client, "980")
    detail = await client.orders.details("980")
    assert detail.raw["order_source"] == "www"
    assert json.loads(json.dumps(dict(detail.raw)))["id"] == "980"


async def test_list_item_is_a_company_order(client: B2BClient) -> None:
    """Listed orders are CompanyOrder values with typed fields."""
    await register(client, "990")
    [order] = [o async for o in client.orders.list_by_company(1)]
    assert isinstance(order, CompanyOrder)
    assert (order.company_name, order.channel_id, order.is_invoice_order) == (
        "Company 1",
        "1",
        False,
    )


BASE = "https://api-b2b.bigcommerce.com"


CREATE = f"{BASE}/api/v2/io/companies/123/user/456/orders"


OK = {"code": 200, "data": {"orderId": "BC1"}, "message": "SUCCESS"}


def mocked_calls(mock: aioresponses) -> list[tuple[str, URL, dict[str, Any]]]:
    return [
        (method, url, call.kwargs)
        for (method, url), calls in mock.requests.items()
        for call in calls
    ]


async def test_create_sends_exactly_the_documented_request(mocked: aioresponses) -> None:
    """create() posts the documented body with the auth, JSON and identifying headers."""
    mocked.post(CREATE, payload=OK)
    async with B2BClient("secret-token", rate_limit=None, user_agent="acme-sync/2.1") as client:
        created = await client.orders.create(
            company_id="123",
            customer_id="456",
            order_id="BC1",
            total_inc_tax=Decimal("259.99"),
            po_number="PO-7",
        )
    assert created == CreatedOrder(order_id="BC1")
    [(method, url, kwargs)] = mocked_calls(mocked)
    assert (method, str(url)) == ("POST", CREATE)
    assert json.loads(kwargs["data"]) == {
        "orderId": "BC1",
        "totalIncTax": 259.99,
        "poNumber": "PO-7",
    }
    assert kwargs["headers"] == {
        "authToken": "secret-token",
        "Accept": "application/json",
        "Content-Type": "application/json",
        "User-Agent": f"b2b-async/{__version__} acme-sync/2.1",
    }
    assert kwargs["allow_redirects"] is False


async def test_create_without_company_uses_the_customer_route(mocked: aioresponses) -> None:
    """company_id=None posts to Create Order Without CompanyID, without poNumber when absent."""
    url = f"{BASE}/api/v2/io/companies/users/456/orders"
    mocked.post(url, payload={"code": 200, "data": {"orderId": 77}, "message": "SUCCESS"})
    async with B2BClient("t", rate_limit=None) as client:
        created = await client.orders.create(customer_id=456, order_id=77, total_inc_tax=10)
    assert created == CreatedOrder("77")
    [(_, sent_url, kwargs)] = mocked_calls(mocked)
    assert str(sent_url) == url
    assert json.loads(kwargs["data"]) == {"orderId": "77", "totalIncTax": 10}


@pytest.mark.parametrize(
    ("company", "segment"),
    [("a/b", "a%2Fb"), ("..", "%2E%2E"), ("1?x=2", "1%3Fx%3D2"), ("1#f", "1%23f"), ("é", "%C3%A9")],
)
async def test_ids_cannot_add_path_segments(
    mocked: aioresponses, company: str, segment: str
) -> None:
    """Path parameters are percent-encoded, dots included, so no id adds a segment or query."""
    url = URL(f"{BASE}/api/v2/io/companies/{segment}/user/1/orders", encoded=True)
    mocked.post(url, payload=OK)
    async with B2BClient("t", rate_limit=None) as client:
        await client.orders.create(
            company_id=company, customer_id=1, order_id="BC1", total_inc_tax=1
        )
    [(_, sent_url, _)] = mocked_calls(mocked)
    assert sent_url.raw_path == f"/api/v2/io/companies/{segment}/user/1/orders"
    assert sent_url.query_string == ""


async def test_invalid_input_sends_nothing(mocked: aioresponses) -> None:
    """An invalid total raises InvalidOrderError before any request."""
    async with B2BClient("t", rate_limit=None) as client:
        with pytest.raises(InvalidOrderError):
            await client.orders.create(
                company_id=1, customer_id=1, order_id="BC1", total_inc_tax=float("nan")
            )
    assert mocked_calls(mocked) == []


async def test_borrowed_session_gets_headers_per_request(mocked: aioresponses) -> None:
    """A borrowed session without defaults still sends the auth header on each request."""
    import aiohttp

    mocked.post(CREATE, payload=OK)
    async with aiohttp.ClientSession() as session:
        async with B2BClient("tok", session=session, rate_limit=None) as client:
            await client.orders.create(
                company_id=123, customer_id=456, order_id="BC1", total_inc_tax=1
            )
        assert not session.closed
    [(_, _, kwargs)] = mocked_calls(mocked)
    assert kwargs["headers"]["authToken"] == "tok"


@pytest.mark.parametrize("company", [None, "7", "a/b", ".."])
def test_registration_path_is_the_checked_v2_path(company: str | None) -> None:
    """The kept registration path is the one v2_path builds, with or without a company."""
    order = NewOrder(company, "c 1", "BC1", 10)
    if company is None:
        expected = v2_path("/companies/users/{customer_id}/orders", customer_id="c 1")
    else:
        expected = v2_path(
            "/companies/{company_id}/user/{customer_id}/orders",
            company_id=company,
            customer_id="c 1",
        )
    assert registration(order).path == expected


def test_a_buyers_registration_path_is_built_once() -> None:
    """A second order of the same buyer reuses the first one's path."""
    registration(NewOrder(31, 32, "BC1", 10))
    hits = registration_path.cache_info().hits
    second = registration(NewOrder(31, 32, "BC2", 10))
    assert registration_path.cache_info().hits == hits + 1
    assert second.path == "/api/v2/io/companies/31/user/32/orders"


@pytest.mark.parametrize(
    ("company", "route"),
    [(None, "companies/users/456/orders"), ("123", "companies/123/user/456/orders")],
)
async def test_a_registration_answer_that_does_not_name_the_order_returns_the_id_sent(
    mocked: aioresponses, company: str | None, route: str
) -> None:
    """The schema of "Create Order Without CompanyID" names its answer's id ``companyId``
    (b2b-v2-openapi.yaml, ``/companies/users/{customerId}/orders`` 200, ``data.companyId``).
    A success that does not name the order registered it all the same: the call returns the
    id it sent, never the company id, and never a ResponseDecodeError."""
    answer = {"code": 200, "data": {"companyId": "2"}, "message": "Success"}
    mocked.post(f"{BASE}/api/v2/io/{route}", payload=answer)
    async with B2BClient("t", rate_limit=None) as client:
        created = await client.orders.create(
            company_id=company, customer_id=456, order_id="BC9", total_inc_tax=10
        )
    assert created == CreatedOrder("BC9")


@pytest.mark.parametrize(
    "data", [None, {}, {"orderId": None}, {"orderId": ""}, {"orderId": " "}, {"companyId": 2}]
)
def test_an_answer_naming_no_order_confirms_the_id_sent(data: object) -> None:
    """A success whose answer holds no order id (none, null, empty, or only the schemas'
    ``companyId``) confirms the id sent; one that names it gives that id."""
    assert answered_id(data, "BC9") == "BC9"
    assert answered_id({"orderId": 9}, "BC9") == "9"


async def test_a_create_and_an_update_read_an_answer_named_company_id_alike(
    mocked: aioresponses,
) -> None:
    """ "Create Order Without CompanyID" and "Update Order" both type their answer's id
    ``companyId`` (b2b-v2-openapi.yaml: "Created order id", "Updated order id"): one rule
    reads both, so an answer ``{"companyId": "2"}`` gives the same id whichever call made it."""
    answer = {"code": 200, "data": {"companyId": "2"}, "message": "Success"}
    mocked.post(f"{BASE}/api/v2/io/companies/users/456/orders", payload=answer)
    mocked.put(f"{BASE}/api/v2/io/orders", payload=answer)
    async with B2BClient("t", rate_limit=None) as client:
        created = await client.orders.create(
            company_id=None, customer_id=456, order_id="9", total_inc_tax=10
        )
        updated = await client.orders.apply_update(
            OrderUpdate(order_id=9, billing_address=ADDRESS, products=[])
        )
    assert created.order_id == updated


async def test_a_registration_answered_with_an_empty_list_returns_the_id_sent(
    mocked: aioresponses,
) -> None:
    """An empty ``data`` written as a JSON array (``[]``, as a server that encodes an empty
    map as a list sends it) names no order, as ``null`` and ``{}`` do, and as V3 reads it: the
    registration succeeded, so the call returns the id it sent, never a ResponseDecodeError
    for an order the server holds."""
    answer = {"code": 200, "data": [], "message": "Success"}
    mocked.post(f"{BASE}/api/v2/io/companies/users/456/orders", payload=answer)
    async with B2BClient("t", rate_limit=None) as client:
        created = await client.orders.create(
            company_id=None, customer_id=456, order_id="BC9", total_inc_tax=10
        )
    assert created == CreatedOrder("BC9")
    assert answered_id([], "BC9") == "BC9"


async def test_already_exists_under_the_servers_order_id_key_settles_a_replay(
    mocked: aioresponses,
) -> None:
    """After a 502, "The order already exists." under ``bc_order_id`` (V2's key for the order
    id in a 400) is the earlier attempt's registration, not a refusal."""
    mocked.post(CREATE, status=502, body="<html>502</html>", content_type="text/html")
    refusal = {"code": 40010, "data": {"bc_order_id": "The order already exists."}}
    mocked.post(CREATE, status=400, payload=refusal | {"message": "Bad Request Error"})
    async with B2BClient("t", rate_limit=None, retry=RetryPolicy(initial_wait=0)) as client:
        created = await client.orders.create(
            company_id=123, customer_id=456, order_id="5001", total_inc_tax=10
        )
    assert created == CreatedOrder("5001", already_registered=True)


async def test_already_exists_on_a_first_attempt_is_raised(mocked: aioresponses) -> None:
    """A single create answered "The order already exists." on its only attempt raises
    OrderAlreadyExistsError: registered before this call, never reported as its success."""
    refusal = {"code": 40010, "data": {"bc_order_id": "The order already exists."}}
    mocked.post(CREATE, status=400, payload=refusal | {"message": "Bad Request Error"})
    async with B2BClient("t", rate_limit=None, retry=RetryPolicy(initial_wait=0)) as client:
        with pytest.raises(OrderAlreadyExistsError):
            await client.orders.create(
                company_id=123, customer_id=456, order_id="5001", total_inc_tax=10
            )


async def test_a_listing_without_include_extra_leaves_the_filter_out(
    client: B2BClient, server: SandboxServer
) -> None:
    """By default list_by_company sends no includeExtra, nor any filter it was not given."""
    assert [order async for order in client.orders.list_by_company(1)] == []
    assert sent(server, "/companies/1/orders") == [{"limit": "50", "offset": "0"}]


async def test_update_sends_each_optional_field_it_is_given(
    client: B2BClient, server: SandboxServer
) -> None:
    """update carries channel, comment, staff notes and total excluding tax when given."""
    await register(client, "912")
    await client.orders.update(
        "912",
        billing_address=ADDRESS,
        products=[],
        channel_id=1,
        customer_message="leave at door",
        staff_notes="checked",
        total_ex_tax="9.50",
    )
    record = next(r for r in server.requests if r.method == "PUT")
    assert record.body is not None
    fields = ("channelId", "customerMessage", "staffNotes", "totalExTax")
    assert [record.body[name] for name in fields] == ["1", "leave at door", "checked", "9.50"]


async def test_a_company_listing_tells_a_repeated_page_by_its_order_ids() -> None:
    """A server that ignores offset fails the listing even when the orders it repeats
    change between requests (their status moves on): a repeat is the same order ids."""
    statuses = iter(["Pending", "Shipped", "Completed", "Refunded", "Cancelled"])

    async def first_page(request: web.Request) -> web.Response:
        status = next(statuses)
        listed = [{"orderId": n, "OrderStatus": status} for n in (1, 2)]
        return web.json_response({"code": 200, "data": {"list": listed}, "message": "SUCCESS"})

    app = web.Application()
    app.router.add_get(f"{V2}/companies/1/orders", first_page)
    async with (
        serving(app) as base,
        B2BClient("t", base_url=base, rate_limit=None, retry=None) as client,
    ):
        orders = client.orders.list_by_company(1, page_size=2)
        with pytest.raises(ResponseDecodeError, match="2 offsets in a row"):
            _ = [order async for order in orders]
