"""The sandbox's V3 Order API, driven over real sockets with raw aiohttp (no client code)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import aiohttp
import attrs
import pytest
from multidict import CIMultiDictProxy, MultiDict

from b2b_async.sandbox import (
    API_PREFIX,
    DEFAULT_ORDER_EXTRA_FIELDS,
    DEFAULT_REGISTRATION_WINDOW,
    DEFAULT_STORE_HASH,
    DEFAULT_TOKEN,
    V3_PREFIX,
    FaultKind,
    Faults,
    OrderExtraField,
    RateWindow,
    Sandbox,
    SandboxServer,
)
from b2b_async.sandbox._extra_fields import DROPDOWN

V3_HEADERS = {"X-Auth-Token": DEFAULT_TOKEN, "X-Store-Hash": DEFAULT_STORE_HASH}
V2_HEADERS = {"authToken": DEFAULT_TOKEN}
RESETS = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


@attrs.frozen
class Reply:
    """What came back for one request."""

    status: int
    headers: CIMultiDictProxy[str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


@pytest.fixture
async def server() -> AsyncIterator[SandboxServer]:
    """A sandbox without a window."""
    async with SandboxServer(rate=None) as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A raw aiohttp session."""
    async with aiohttp.ClientSession() as client:
        yield client


async def v3(
    session: aiohttp.ClientSession,
    server: SandboxServer,
    path: str,
    *,
    method: str = "GET",
    body: Any = None,
    data: bytes | None = None,
    query: Any = None,
    headers: Mapping[str, str] = V3_HEADERS,
    prefix: str = V3_PREFIX,
) -> Reply:
    """Send one request under /api/v3/io (or ``prefix``) and read the whole answer."""
    payload: dict[str, Any] = {"data": data} if data is not None else {"json": body}
    if body is None and data is None:
        payload = {}
    async with session.request(
        method,
        server.url + prefix + path,
        params=query,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=5.0),
        **payload,
    ) as response:
        return Reply(response.status, response.headers, await response.text())


async def create(
    session: aiohttp.ClientSession,
    server: SandboxServer,
    bc_order_id: int,
    customer_id: int = 5,
    **extra: Any,
) -> Reply:
    """Register one order through V3."""
    body = {"bcOrderId": bc_order_id, "customerId": customer_id, **extra}
    return await v3(session, server, "/orders", method="POST", body=body)


async def create_v2(
    session: aiohttp.ClientSession, server: SandboxServer, order_id: str, customer_id: int = 5
) -> Reply:
    """Register one order through V2."""
    body = {"orderId": order_id, "totalIncTax": 12.5, "poNumber": "PO-2"}
    path = f"/companies/users/{customer_id}/orders"
    return await v3(
        session, server, path, method="POST", body=body, headers=V2_HEADERS, prefix=API_PREFIX
    )


def age(server: SandboxServer, order_id: str, *, days: int) -> None:
    """Make an order look created and last updated ``days`` ago."""
    state = server.state
    when = datetime.now(UTC) - timedelta(days=days)
    order = attrs.evolve(state.orders[order_id], created_at=when, updated_at=when)
    state._orders[order_id] = order


# --- create ------------------------------------------------------------------------------------


async def test_create_registers_and_answers_the_order(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """POST /orders registers with the customer's company and answers orderData_ALL."""
    reply = await create(
        session,
        server,
        101,
        5,
        poNumber="PO-1",
        extraFields=[{"fieldName": "Fintech ID", "fieldValue": "F-1"}],
    )
    assert reply.status == 200
    body = reply.json()
    assert body["code"] == 200
    assert body["meta"] == {"message": "SUCCESS"}
    data = body["data"]
    assert (data["bcOrderId"], data["id"], data["companyId"]) == (101, 1, 5)
    assert data["poNumber"] == "PO-1"
    assert data["extraFields"] == [{"fieldName": "Fintech ID", "fieldValue": "F-1"}]
    assert data["totalIncTax"] == 0
    assert isinstance(data["createdAt"], int)
    assert server.registrations("101") == 1
    assert server.orders["101"].customer_id == 5


async def test_an_order_registered_through_either_version_is_visible_through_both(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """V3 sees a V2 registration, V2 sees a V3 one, and neither registers it twice."""
    await create_v2(session, server, "700")
    await create(session, server, 701)
    via_v3 = await v3(session, server, "/orders/700")
    via_v2 = await v3(
        session, server, "/orders/701/companyIdBCId", headers=V2_HEADERS, prefix=API_PREFIX
    )
    again_v3 = await create(session, server, 700)
    again_v2 = await create_v2(session, server, "701")
    assert via_v3.json()["data"][0]["poNumber"] == "PO-2"
    assert via_v2.json()["data"]["companyId"] == "5"
    assert again_v3.status == again_v2.status == 400
    assert again_v3.json() == {
        "code": 400,
        "data": {},
        "meta": {"message": "The order already exists."},
    }
    assert again_v2.json()["data"] == {"errMsg": "The order already exists."}
    assert server.registrations("700") == server.registrations("701") == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"customerId": 5}, "bcOrderId"),
        ({"bcOrderId": 1}, "customerId"),
        ({"bcOrderId": "101", "customerId": 5}, "bcOrderId"),
        ({"bcOrderId": True, "customerId": 5}, "bcOrderId"),
        ({"bcOrderId": 0, "customerId": 5}, "bcOrderId"),
        ({"bcOrderId": 1.5, "customerId": 5}, "bcOrderId"),
        ({"bcOrderId": 1, "customerId": 5, "poNumber": 7}, "poNumber"),
        ({"bcOrderId": 1, "customerId": 5, "extraFields": {}}, "extraFields"),
        ({"bcOrderId": 1, "customerId": 5, "extraFields": [1]}, "extraFields[0]"),
        (
            {
                "bcOrderId": 1,
                "customerId": 5,
                "extraFields": [{"fieldName": "X", "fieldValue": ""}],
            },
            "extraFields[0].fieldName",
        ),
        (
            {
                "bcOrderId": 1,
                "customerId": 5,
                "extraFields": [
                    {"fieldName": "Priority", "fieldValue": "1"},
                    {"fieldName": "Priority", "fieldValue": "2"},
                ],
            },
            "extraFields[1].fieldName",
        ),
    ],
)
async def test_create_refuses_bodies_that_break_the_schema(
    server: SandboxServer, session: aiohttp.ClientSession, body: dict[str, Any], field: str
) -> None:
    """Missing or mistyped fields answer 400 naming the field, and register nothing."""
    reply = await v3(session, server, "/orders", method="POST", body=body)
    assert reply.status == 400
    answer = reply.json()
    assert answer["code"] == 400
    assert field in answer["data"]
    assert answer["meta"]["message"]
    assert not server.orders


async def test_create_accepts_each_kind_of_extra_field(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Text, multi-line, number and drop-down values that fit are stored as sent."""
    fields = [
        {"fieldName": "Fintech ID", "fieldValue": "F"},
        {"fieldName": "Delivery Notes", "fieldValue": "line 1\nline 2"},
        {"fieldName": "Priority", "fieldValue": "2.5"},
        {"fieldName": "Department", "fieldValue": "Retail"},
    ]
    reply = await create(session, server, 9, extraFields=fields)
    assert reply.json()["data"]["extraFields"] == fields


async def test_create_for_an_unknown_customer_or_a_garbled_body(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """An unknown customer answers 404; a body that is not JSON answers 400."""
    unknown = await create(session, server, 1, 99_999)
    garbled = await v3(session, server, "/orders", method="POST", data=b"{not json")
    assert unknown.status == 404
    assert unknown.json()["meta"]["message"] == "User Does not Exist"
    assert garbled.status == 400
    assert garbled.json()["data"] == {"errMsg": "Request body is not valid JSON"}


# --- extra field rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"fieldName": "Priority", "fieldValue": "high"}, "Priority must be a number"),
        (
            {"fieldName": "Department", "fieldValue": "Space"},
            "Department must be one of Retail, Automotive, Manufacturing",
        ),
        (
            {"fieldName": "Fintech ID", "fieldValue": "x" * 101},
            "Fintech ID must be at most 100 characters",
        ),
    ],
)
async def test_create_with_a_value_that_breaks_its_field_answers_422(
    server: SandboxServer, session: aiohttp.ClientSession, value: dict[str, str], problem: str
) -> None:
    """Not a number, not in the list, too long: 422 in the documented shape, nothing stored."""
    reply = await create(session, server, 1, extraFields=[value])
    assert reply.status == 422
    assert reply.json() == {
        "code": 422,
        "data": {"errMsg": problem},
        "meta": {"message": problem},
    }
    assert not server.orders


async def test_update_with_values_that_break_their_fields_answers_422_naming_each(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Every broken value is named, in the order sent; the order keeps its values."""
    await create(session, server, 8, poNumber="P")
    broken = [
        {"fieldName": "Department", "fieldValue": "Space"},
        {"fieldName": "Priority", "fieldValue": "1e999999x"},
    ]
    reply = await v3(
        session, server, "/orders/8", method="PUT", body={"poNumber": "Q", "extraFields": broken}
    )
    assert reply.status == 422
    assert reply.json()["data"]["errMsg"] == (
        "Department must be one of Retail, Automotive, Manufacturing; Priority must be a number"
    )
    assert server.orders["8"].po_number == "P"


async def test_required_fields_are_checked_on_updates_and_not_on_creates(
    session: aiohttp.ClientSession,
) -> None:
    """A create may leave a required field out (B2B Edition records orders without them); an
    update may not, and a value outside its list is 422 on both."""
    fields = (
        OrderExtraField(name="Cost Center", required=True),
        OrderExtraField(name="Region", field_type=DROPDOWN, choices=("EU", "US"), required=True),
    )
    async with SandboxServer(rate=None, order_extra_fields=fields) as server:
        created = await create(session, server, 8)
        outside = await create(
            session, server, 9, extraFields=[{"fieldName": "Region", "fieldValue": "Mars"}]
        )
        missing = await v3(session, server, "/orders/8", method="PUT", body={"poNumber": "P"})
        configs = await v3(session, server, "/orders/extra-fields")
    assert created.status == 200
    assert (outside.status, missing.status) == (422, 422)
    assert outside.json()["meta"]["message"] == "Region must be one of EU, US"
    assert missing.json()["data"]["errMsg"] == (
        "Cost Center is a required extra field; Region is a required extra field"
    )
    served = configs.json()["data"]
    assert [(config["fieldName"], config["isRequired"]) for config in served] == [
        ("Cost Center", True),
        ("Region", True),
    ]
    assert served[1]["listOfValues"] == ["EU", "US"]
    assert served[1]["fieldType"] == DROPDOWN
    assert served[0]["maximumLength"] == 100


# --- the BigCommerce side and the registration window -------------------------------------------


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock for the sandbox."""
    return FakeClock()


@pytest.fixture
async def store(clock: FakeClock) -> AsyncIterator[SandboxServer]:
    """A sandbox without a request window, on a fake clock, with the default 10 s window."""
    async with SandboxServer(rate=None, clock=clock) as running:
        yield running


async def test_a_create_inside_the_window_answers_200_with_the_placed_total(
    store: SandboxServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Just before the window closes the create registers, with the BigCommerce total."""
    placed = store.place_order(customer_id=7, total_inc_tax=Decimal("259.99"))
    clock.advance(9.999)
    reply = await create(
        session,
        store,
        placed.bc_order_id,
        7,
        poNumber="PO-1",
        extraFields=[{"fieldName": "Fintech ID", "fieldValue": "F-1"}],
    )
    detail = await v3(session, store, "/orders/100/details", headers=V2_HEADERS, prefix=API_PREFIX)
    assert reply.status == 200
    data = reply.json()["data"]
    assert (data["bcOrderId"], data["totalIncTax"], data["usdIncTax"]) == (100, 259.99, 259.99)
    assert data["poNumber"] == "PO-1"
    assert data["createdAt"] == int(placed.created_at.timestamp())
    assert detail.json()["data"]["poNumber"] == "PO-1"
    assert store.orders["100"].total_inc_tax == Decimal("259.99")
    assert store.orders["100"].created_at == placed.created_at
    assert store.registrations("100") == 1


async def test_after_the_window_the_create_answers_400_and_the_order_is_there_without_its_po(
    store: SandboxServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Once the window has passed, B2B Edition holds the order: customer's company, the placed
    total, no PO number, no extra fields; the create is "already exists"."""
    placed = store.place_order(customer_id=7, total_inc_tax="12.50", bc_order_id=4321)
    clock.advance(10.0)
    reply = await create(
        session,
        store,
        4321,
        7,
        poNumber="PO-1",
        extraFields=[{"fieldName": "Fintech ID", "fieldValue": "F-1"}],
    )
    got = await v3(session, store, "/orders/4321")
    assert reply.status == 400
    assert reply.json() == {
        "code": 400,
        "data": {},
        "meta": {"message": "The order already exists."},
    }
    [order] = got.json()["data"]
    assert (order["bcOrderId"], order["companyId"], order["totalIncTax"]) == (4321, 7, 12.5)
    assert (order["poNumber"], order["extraFields"]) == ("", [])
    assert order["createdAt"] == int(placed.created_at.timestamp())
    assert order["updatedAt"] == order["createdAt"] + 10
    assert store.registrations("4321") == 0  # no request registered it


async def test_the_record_appears_only_once_the_window_has_passed(
    store: SandboxServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """A placed order is unknown to B2B Edition during its window, then present everywhere."""
    store.place_order(customer_id=5, total_inc_tax=3)
    during = await v3(session, store, "/orders/100")
    during_listing = await v3(session, store, "/orders")
    clock.advance(10.0)
    after_listing = await v3(session, store, "/orders")
    v2_listing = await v3(
        session, store, "/companies/5/orders", headers=V2_HEADERS, prefix=API_PREFIX
    )
    assert during.status == 404
    assert during_listing.json()["data"] == []
    assert [order["bcOrderId"] for order in after_listing.json()["data"]] == [100]
    assert [item["orderId"] for item in v2_listing.json()["data"]["list"]] == ["100"]


async def test_b2b_edition_records_overdue_orders_in_the_order_their_windows_closed(
    store: SandboxServer, clock: FakeClock
) -> None:
    """Orders whose windows closed since the last look are recorded oldest first, and reading
    the store is enough to see them."""
    now = store.now()
    store.place_order(customer_id=1, total_inc_tax=1, created_at=now - timedelta(seconds=3))
    store.place_order(customer_id=2, total_inc_tax=2, created_at=now - timedelta(seconds=8))
    store.place_order(customer_id=3, total_inc_tax=3, created_at=now)
    store.place_order(customer_id=4, total_inc_tax=4, created_at=now - timedelta(seconds=60))
    assert list(store.orders) == ["103"]
    clock.advance(9.0)
    assert list(store.orders) == ["103", "101", "100"]
    clock.advance(1.0)
    assert list(store.orders) == ["103", "101", "100", "102"]
    assert store.orders["101"].company_id == 2


async def test_the_window_is_configurable_and_can_be_switched_off(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """registration_window sets the seconds; None keeps every placed order open for ever."""
    async with SandboxServer(rate=None, clock=clock, registration_window=2.5) as server:
        server.place_order(customer_id=5, total_inc_tax=1, bc_order_id=1)
        server.place_order(customer_id=5, total_inc_tax=1, bc_order_id=2)
        clock.advance(2.4)
        inside = await create(session, server, 1)
        clock.advance(0.1)
        late = await create(session, server, 2)
        server.registration_window = None
        server.place_order(customer_id=5, total_inc_tax=9, bc_order_id=3)
        clock.advance(86_400)
        open_ended = await create(session, server, 3)
    assert (inside.status, late.status, open_ended.status) == (200, 400, 200)
    assert open_ended.json()["data"]["totalIncTax"] == 9
    assert server.registration_window is None


@pytest.mark.parametrize("window", [-1.0, float("inf"), float("nan"), "10", True])
def test_a_window_that_is_not_a_duration_is_refused(window: Any) -> None:
    """The window is a finite, non-negative number of seconds, or None."""
    with pytest.raises(ValueError, match="registration_window"):
        Sandbox(registration_window=window)
    sandbox = Sandbox()
    with pytest.raises(ValueError, match="registration_window"):
        sandbox.registration_window = window
    assert sandbox.registration_window == DEFAULT_REGISTRATION_WINDOW == 10.0


async def test_v2_registers_a_placed_order_only_within_its_window(
    store: SandboxServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """V2 keeps the total it sends; after the window it is told the order already exists."""
    store.place_order(customer_id=5, total_inc_tax=99, bc_order_id=600)
    store.place_order(customer_id=5, total_inc_tax=99, bc_order_id=601)
    inside = await create_v2(session, store, "600")
    clock.advance(10.0)
    late = await create_v2(session, store, "601")
    assert inside.status == 200
    assert store.orders["600"].total_inc_tax == Decimal("12.5")
    assert late.status == 400
    assert late.json()["data"] == {"errMsg": "The order already exists."}
    assert store.orders["601"].po_number is None


async def test_an_order_never_placed_is_accepted_with_a_zero_total(
    store: SandboxServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Without a BigCommerce order there is no window to miss: the create registers."""
    clock.advance(3600)
    reply = await create(session, store, 77)
    assert reply.status == 200
    assert reply.json()["data"]["totalIncTax"] == 0


def test_place_order_numbers_from_100_and_skips_ids_in_use() -> None:
    """Ids count up from 100, after the last one placed, around registered ones."""
    sandbox = Sandbox(rate=None)
    first = sandbox.place_order(customer_id=5, total_inc_tax="1.10")
    sandbox.state.register(
        order_id="101", company_id=5, customer_id=5, total_inc_tax=Decimal(1), po_number=None
    )
    second = sandbox.place_order(customer_id=5, total_inc_tax=2.5)
    chosen = sandbox.place_order(customer_id=5, total_inc_tax=0, bc_order_id=500)
    following = sandbox.place_order(customer_id=6, total_inc_tax=Decimal("3"))
    assert [first.bc_order_id, second.bc_order_id, chosen.bc_order_id] == [100, 102, 500]
    assert following.bc_order_id == 501
    assert second.total_inc_tax == Decimal("2.5")
    assert list(sandbox.placed_orders) == [100, 102, 500, 501]
    assert sandbox.placed_orders[100] == first
    assert first.created_at.tzinfo is UTC


def test_place_order_keeps_an_aware_creation_time_in_utc() -> None:
    """An aware created_at is kept, converted to UTC."""
    sandbox = Sandbox(rate=None, registration_window=None)
    moment = datetime(2026, 4, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    placed = sandbox.place_order(customer_id=5, total_inc_tax=1, created_at=moment)
    assert placed.created_at == moment
    assert placed.created_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"customer_id": 99_999}, KeyError, "unknown customer 99999"),
        ({"bc_order_id": 100}, ValueError, "order 100 already exists"),
        ({"bc_order_id": 0}, ValueError, "bc_order_id must be a positive integer"),
        ({"total_inc_tax": -1}, ValueError, "total_inc_tax must be finite and >= 0"),
        ({"total_inc_tax": "NaN"}, ValueError, "total_inc_tax must be finite and >= 0"),
        ({"total_inc_tax": "ten"}, ValueError, "total_inc_tax must be an amount"),
        ({"total_inc_tax": True}, ValueError, "total_inc_tax must be an amount"),
        ({"created_at": datetime(2026, 4, 1)}, ValueError, "created_at must be an aware"),
    ],
)
def test_place_order_refuses_what_bigcommerce_would_not_hold(
    arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    """Unknown customers, ids in use, bad totals and naive times raise, placing nothing."""
    sandbox = Sandbox(rate=None)
    sandbox.place_order(customer_id=5, total_inc_tax=1)
    with pytest.raises(error, match=message):
        sandbox.place_order(**{"customer_id": 5, "total_inc_tax": 1, **arguments})
    assert list(sandbox.placed_orders) == [100]


def test_the_sandbox_dates_move_with_its_clock(clock: FakeClock) -> None:
    """now() starts at the real time and moves with the monotonic clock, for every date."""
    before = datetime.now(UTC)
    sandbox = Sandbox(rate=None, clock=clock)
    start = sandbox.now()
    clock.advance(90)
    assert before <= start <= datetime.now(UTC)
    assert sandbox.now() - start == timedelta(seconds=90)
    assert sandbox.place_order(customer_id=5, total_inc_tax=1).created_at == sandbox.now()
    assert "placed=1" in repr(sandbox.state)


# --- the control endpoint ----------------------------------------------------------------------


async def control(
    session: aiohttp.ClientSession, server: SandboxServer, *, body: Any = None, data: bytes = b""
) -> Reply:
    """POST (with a body) or GET /_sandbox/bigcommerce/orders."""
    url = server.url + "/_sandbox/bigcommerce/orders"
    if body is None and not data:
        async with session.get(url) as response:
            return Reply(response.status, response.headers, await response.text())
    payload: dict[str, Any] = {"json": body} if body is not None else {"data": data}
    async with session.post(url, **payload) as response:
        return Reply(response.status, response.headers, await response.text())


async def test_the_control_endpoint_places_orders_outside_the_api(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """POST places (201, the order back), GET lists; no token, no window spent, no record."""
    async with SandboxServer(rate=RateWindow(1, 60.0), clock=clock) as server:
        placed = await control(session, server, body={"customerId": 5, "totalIncTax": 12.5})
        chosen = await control(
            session,
            server,
            body={
                "customerId": 6,
                "totalIncTax": "7.25",
                "bcOrderId": 900,
                "createdAt": "2026-04-01T12:00:00+02:00",
            },
        )
        stamped = await control(
            session, server, body={"customerId": 7, "totalIncTax": 1, "createdAt": 1775037600}
        )
        listed = await control(session, server)
        registered = await create(session, server, 100)
    assert placed.status == 201
    assert placed.json() == {
        "bcOrderId": 100,
        "customerId": 5,
        "totalIncTax": "12.5",
        "createdAt": server.placed_orders[100].created_at.isoformat(),
    }
    assert chosen.json()["createdAt"] == "2026-04-01T10:00:00+00:00"
    assert stamped.json()["createdAt"] == "2026-04-01T10:00:00+00:00"
    assert [order["bcOrderId"] for order in listed.json()["orders"]] == [100, 900, 901]
    assert registered.status == 200
    assert registered.json()["data"]["totalIncTax"] == 12.5
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("payload", "status", "error"),
    [
        ({"totalIncTax": 1}, 400, "customerId is required"),
        ({"customerId": 5}, 400, "totalIncTax is required"),
        ({"customerId": "5", "totalIncTax": 1}, 400, "customerId must be an integer"),
        ({"customerId": 5, "totalIncTax": None}, 400, "totalIncTax must be a number"),
        ({"customerId": 5, "totalIncTax": -1}, 400, "total_inc_tax must be finite and >= 0"),
        ({"customerId": 5, "totalIncTax": 1, "bcOrderId": 1.5}, 400, "bcOrderId must be an"),
        ({"customerId": 5, "totalIncTax": 1, "createdAt": "today"}, 400, "createdAt must be"),
        (
            {"customerId": 5, "totalIncTax": 1, "createdAt": "2026-04-01T12:00:00"},
            400,
            "created_at must be an aware datetime",
        ),
        ({"customerId": 99_999, "totalIncTax": 1}, 404, "unknown customer 99999"),
        ([1], 400, "the body must be a JSON object"),
    ],
)
async def test_the_control_endpoint_refuses_bad_placements(
    server: SandboxServer,
    session: aiohttp.ClientSession,
    payload: Any,
    status: int,
    error: str,
) -> None:
    """A placement that cannot be made answers 400 (404 for an unknown customer) and places
    nothing."""
    reply = await control(session, server, body=payload)
    garbled = await control(session, server, data=b"{")
    assert reply.status == status
    assert reply.json()["error"].startswith(error)
    assert garbled.status == 400
    assert not server.placed_orders


# --- get, update, products ---------------------------------------------------------------------


async def test_get_answers_a_one_item_array_with_the_detail(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """GET /orders/{id}: data is an array holding orderData_DETAIL."""
    await create(session, server, 42)
    reply = await v3(session, server, "/orders/42")
    assert reply.status == 200
    [order] = reply.json()["data"]
    assert order["bcOrderId"] == 42
    assert order["isInvoiceOrder"] == 0
    assert order["invoiceId"] is None
    assert order["extraInt1"] is None
    assert order["extraFields"] == []


@pytest.mark.parametrize("path", ["/orders/404", "/orders/BC1", "/orders/0042"])
async def test_get_unknown_or_unnameable_orders_answer_404(
    server: SandboxServer, session: aiohttp.ClientSession, path: str
) -> None:
    """An unknown id, or an id V3's integer bcOrderId cannot be, answers 404."""
    await create_v2(session, server, "BC1")
    await create_v2(session, server, "0042")
    reply = await v3(session, server, path)
    assert reply.status == 404
    assert reply.json() == {"code": 404, "data": {}, "meta": {"message": "Order Does Not Exist."}}


async def test_update_sets_po_number_and_merges_extra_fields(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """PUT /orders/{id}: the PO number changes; named extra fields change, others stay."""
    await create(
        session,
        server,
        8,
        extraFields=[
            {"fieldName": "Fintech ID", "fieldValue": "A"},
            {"fieldName": "Priority", "fieldValue": "1"},
        ],
    )
    changed = [{"fieldName": "Priority", "fieldValue": "2"}]
    reply = await v3(
        session, server, "/orders/8", method="PUT", body={"poNumber": "P", "extraFields": changed}
    )
    only_po = await v3(session, server, "/orders/8", method="PUT", body={"poNumber": "Q"})
    assert reply.status == 200
    body = reply.json()
    assert body["message"] == "SUCCESS"
    [order] = body["data"]
    assert order["poNumber"] == "P"
    assert order["extraFields"] == [
        {"fieldName": "Fintech ID", "fieldValue": "A"},
        {"fieldName": "Priority", "fieldValue": "2"},
    ]
    assert only_po.json()["data"][0]["poNumber"] == "Q"
    assert server.orders["8"].po_number == "Q"


async def test_update_refusals(server: SandboxServer, session: aiohttp.ClientSession) -> None:
    """No field: 400; a bad field: 400; an unknown order: 404 "Not Found Error"."""
    await create(session, server, 8)
    empty = await v3(session, server, "/orders/8", method="PUT", body={})
    bad = await v3(session, server, "/orders/8", method="PUT", body={"poNumber": 1})
    missing = await v3(session, server, "/orders/9", method="PUT", body={"poNumber": "P"})
    assert (empty.status, bad.status, missing.status) == (400, 400, 404)
    assert empty.json()["data"] == {"errMsg": "poNumber or extraFields is required"}
    assert bad.json()["data"] == {"poNumber": "poNumber must be a string"}
    assert missing.json()["meta"]["message"] == "Not Found Error"


async def test_required_extra_fields_make_updates_without_them_422(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """With a required extra field, an update must send it (or the order must have it)."""
    server.order_extra_fields = (
        *DEFAULT_ORDER_EXTRA_FIELDS,
        OrderExtraField(name="Cost Center", required=True),
    )
    await create(session, server, 8)
    without = await v3(session, server, "/orders/8", method="PUT", body={"poNumber": "P"})
    other = [{"fieldName": "Priority", "fieldValue": "1"}]
    lacking = await v3(session, server, "/orders/8", method="PUT", body={"extraFields": other})
    given = [{"fieldName": "Cost Center", "fieldValue": "CC-1"}]
    with_it = await v3(session, server, "/orders/8", method="PUT", body={"extraFields": given})
    later = await v3(session, server, "/orders/8", method="PUT", body={"extraFields": other})
    assert without.status == lacking.status == 422
    assert without.json() == {
        "code": 422,
        "data": {"errMsg": "Cost Center is a required extra field"},
        "meta": {"message": "Cost Center is a required extra field"},
    }
    assert (with_it.status, later.status) == (200, 200)


async def test_products_shows_what_a_v2_update_set(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """GET /orders/{id}/products: the V2 update's products, in V3's integer shape."""
    await create(session, server, 77)
    update = {
        "orderId": "77",
        "billingAddress": {"firstName": "Jane"},
        "products": [
            {
                "productId": "97",
                "variantId": 69,
                "name": "Poster",
                "sku": "P-1",
                "quantity": "2.0000",
                "productOptions": [{"id": "12", "value": "34"}, {"id": "13", "value": "red"}, 5],
            },
            {"name": "Loose", "quantity": 1, "productOptions": "none"},
        ],
    }
    updated = await v3(
        session, server, "/orders", method="PUT", body=update, headers=V2_HEADERS, prefix=API_PREFIX
    )
    reply = await v3(session, server, "/orders/77/products")
    assert updated.status == 200
    body = reply.json()
    assert body["message"] == "SUCCESS"
    first, second = body["data"]
    assert (first["productId"], first["variantId"], first["quantity"]) == (97, 69, 2)
    assert (first["productName"], first["variantSku"]) == ("Poster", "P-1")
    assert first["options"] == [
        {"id": 1, "orderProductId": 1, "displayValue": "34", "optionId": 12, "value": 34},
        {"id": 2, "orderProductId": 1, "displayValue": "red", "optionId": 13},
    ]
    assert "productId" not in second
    assert second["options"] == []
    detail = await v3(session, server, "/orders/77")
    assert detail.json()["data"][0]["items"] == 3


async def test_products_of_an_unknown_order_answer_404(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """An unknown order's products answer 404 "The order does not exist."."""
    reply = await v3(session, server, "/orders/5/products")
    assert reply.status == 404
    assert reply.json()["meta"]["message"] == "The order does not exist."


# --- customers ---------------------------------------------------------------------------------


async def test_assign_gives_a_moved_customers_orders_its_new_company(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """PUT /customers/{id}/orders/b2b answers how many orders moved."""
    await create(session, server, 1, 5)
    await create(session, server, 2, 5)
    server.move_customer(5, 9)
    moved = await v3(session, server, "/customers/5/orders/b2b", method="PUT")
    again = await v3(session, server, "/customers/5/orders/b2b", method="PUT")
    unknown = await v3(session, server, "/customers/99999/orders/b2b", method="PUT")
    assert moved.json() == {"code": 200, "data": {"total": 2}, "message": "SUCCESS"}
    assert again.json()["data"] == {"total": 0}
    assert server.orders["1"].company_id == 9
    assert unknown.status == 404
    assert unknown.json()["meta"]["message"].startswith("User does not exist")


async def test_reassign_moves_orders_to_the_company_of_a_customer_group(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """PUT /customers/{id}/orders/company needs bcGroupId; unknown ids answer 404."""
    await create(session, server, 1, 5)
    path = "/customers/5/orders/company"
    moved = await v3(session, server, path, method="PUT", body={"bcGroupId": 7})
    no_group = await v3(session, server, path, method="PUT", body={})
    text_group = await v3(session, server, path, method="PUT", body={"bcGroupId": "7"})
    garbled = await v3(session, server, path, method="PUT", data=b"[")
    unknown_group = await v3(session, server, path, method="PUT", body={"bcGroupId": 999})
    unknown_user = await v3(
        session, server, "/customers/99999/orders/company", method="PUT", body={"bcGroupId": 7}
    )
    assert moved.json()["data"] == {"total": 1}
    assert server.orders["1"].company_id == 7
    assert (no_group.status, text_group.status, garbled.status) == (400, 400, 400)
    assert no_group.json()["data"] == {"bcGroupId": "bcGroupId can not be null"}
    assert unknown_group.status == unknown_user.status == 404


# --- extra field configurations -----------------------------------------------------------------


async def test_extra_field_configs_are_a_paginated_array(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """GET /orders/extra-fields pages through the configurations with meta.pagination."""
    every = await v3(session, server, "/orders/extra-fields")
    page = await v3(session, server, "/orders/extra-fields", query={"limit": "2", "offset": "2"})
    bad = await v3(session, server, "/orders/extra-fields", query={"limit": "0"})
    body = every.json()
    assert [config["fieldName"] for config in body["data"]] == [
        "Fintech ID",
        "Delivery Notes",
        "Priority",
        "Department",
    ]
    assert body["meta"] == {
        "message": "SUCCESS",
        "pagination": {"totalCount": 4, "limit": 10, "offset": 0},
    }
    assert body["data"][1]["numberOfRows"] == 5
    assert body["data"][3]["listOfValues"] == ["Retail", "Automotive", "Manufacturing"]
    assert "maximumLength" not in body["data"][2]
    assert [config["id"] for config in page.json()["data"]] == [3, 4]
    assert bad.status == 400
    assert bad.json()["data"] == {"limit": "limit must be from 1 to 200"}


def test_extra_field_configuration_checks_its_type() -> None:
    """A configuration's type must be 0 to 3."""
    with pytest.raises(ValueError, match="field_type"):
        OrderExtraField(name="X", field_type=7)


# --- listing -----------------------------------------------------------------------------------


async def test_list_pages_with_meta_pagination(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """GET /orders: newest update first by default, limit/offset, totalCount in meta."""
    for number in (1, 2, 3):
        await create(session, server, number)
    await create_v2(session, server, "BC-9")  # V3 cannot name it: left out
    first = await v3(session, server, "/orders", query={"limit": "2"})
    second = await v3(session, server, "/orders", query={"limit": "2", "offset": "2"})
    body = first.json()
    assert body["meta"]["pagination"] == {"totalCount": 3, "limit": 2, "offset": 0}
    assert [order["bcOrderId"] for order in body["data"]] == [3, 2]
    assert [order["bcOrderId"] for order in second.json()["data"]] == [1]
    assert "extraFields" not in body["data"][0]


async def test_list_filters(server: SandboxServer, session: aiohttp.ClientSession) -> None:
    """companyId, bcOrderId, channelIds[], showExtra, sortBy and orderBy all apply."""
    await create(session, server, 1, 5)
    await create(session, server, 2, 6)
    await create(session, server, 3, 5)
    server.state.update("3", channel_id=2)

    async def ids(query: Any) -> list[int]:
        reply = await v3(session, server, "/orders", query=query)
        assert reply.status == 200, reply.text
        return [order["bcOrderId"] for order in reply.json()["data"]]

    assert await ids({"companyId": "5", "sortBy": "createdAt", "orderBy": "ASC"}) == [1, 3]
    assert await ids({"bcOrderId": "2"}) == [2]
    assert await ids(MultiDict([("channelIds[]", "2")])) == [3]
    assert await ids(MultiDict([("channelIds[]", "1"), ("channelIds[]", "2")])) == [3, 2, 1]
    assert await ids({"channelIds[]": "1,2", "orderBy": "asc", "sortBy": "createdAt"}) == [1, 2, 3]
    extra = await v3(session, server, "/orders", query={"showExtra": "true"})
    assert all("extraFields" in order for order in extra.json()["data"])


async def test_list_time_bounds_and_the_last_year_default(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Without a time bound only the last year is listed; bounds are inclusive Unix seconds."""
    await create(session, server, 1)
    await create(session, server, 2)
    age(server, "1", days=400)
    created = int(server.orders["2"].created_at.timestamp())

    async def ids(query: dict[str, str]) -> list[int]:
        reply = await v3(session, server, "/orders", query=query)
        return [order["bcOrderId"] for order in reply.json()["data"]]

    assert await ids({}) == [2]
    assert await ids({"minCreated": "0"}) == [2, 1]
    assert await ids({"minCreated": str(created)}) == [2]
    assert await ids({"maxCreated": str(created - 86_400)}) == [1]
    assert await ids({"minModified": str(created + 60)}) == []
    assert await ids({"maxModified": str(created), "minCreated": ""}) == [2, 1]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"limit": "201"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"orderBy": "UP"}, "orderBy"),
        ({"sortBy": "bcOrderId"}, "sortBy"),
        ({"showExtra": "maybe"}, "showExtra"),
        ({"minCreated": "yesterday"}, "minCreated"),
        ({"channelIds[]": "one"}, "channelIds[]"),
    ],
)
async def test_list_refuses_queries_that_do_not_parse(
    server: SandboxServer, session: aiohttp.ClientSession, query: dict[str, str], parameter: str
) -> None:
    """A query value that does not parse answers 400 naming the parameter."""
    reply = await v3(session, server, "/orders", query=query)
    assert reply.status == 400
    assert parameter in reply.json()["data"]


# --- authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ({}, "X-Auth-Token and X-Store-Hash are required"),
        ({"X-Auth-Token": DEFAULT_TOKEN}, "X-Store-Hash is required with X-Auth-Token"),
        ({"X-Auth-Token": "wrong", "X-Store-Hash": DEFAULT_STORE_HASH}, "Invalid X-Auth-Token"),
        ({"X-Auth-Token": DEFAULT_TOKEN, "X-Store-Hash": "other"}, "Invalid X-Store-Hash"),
        ({"X-Store-Hash": DEFAULT_STORE_HASH}, "X-Auth-Token and X-Store-Hash are required"),
        ({"authToken": "wrong"}, "Invalid authToken"),
        (
            {"authToken": DEFAULT_TOKEN, "X-Store-Hash": DEFAULT_STORE_HASH},
            "authToken cannot be combined with X-Store-Hash; send X-Auth-Token instead",
        ),
    ],
)
async def test_v3_refusals_answer_401_with_the_v3_envelope(
    server: SandboxServer,
    session: aiohttp.ClientSession,
    headers: dict[str, str],
    problem: str,
) -> None:
    """Missing, wrong or mixed credentials answer 401 in V3's shape, registering nothing."""
    reply = await v3(
        session,
        server,
        "/orders",
        method="POST",
        body={"bcOrderId": 1, "customerId": 5},
        headers=headers,
    )
    assert reply.status == 401
    assert reply.json() == {"code": 401, "data": {}, "meta": {"message": problem}}
    assert not server.orders


async def test_v3_accepts_the_legacy_token_and_v2_accepts_the_current_scheme(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """authToken alone works on V3; X-Auth-Token with X-Store-Hash works on V2."""
    legacy = await v3(
        session,
        server,
        "/orders",
        method="POST",
        body={"bcOrderId": 1, "customerId": 5},
        headers=V2_HEADERS,
    )
    current = await v3(
        session,
        server,
        "/companies/users/5/orders",
        method="POST",
        body={"orderId": "2", "totalIncTax": 1},
        prefix=API_PREFIX,
    )
    assert (legacy.status, current.status) == (200, 200)


async def test_v2_refuses_a_store_hash_beside_authtoken(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """V2 refuses the mixed schemes too, in V2's envelope."""
    reply = await v3(
        session,
        server,
        "/companies/users/5/orders",
        method="POST",
        body={"orderId": "2", "totalIncTax": 1},
        headers={**V2_HEADERS, "X-Store-Hash": DEFAULT_STORE_HASH},
        prefix=API_PREFIX,
    )
    assert reply.status == 401
    assert reply.json()["data"] == {
        "errMsg": "authToken cannot be combined with X-Store-Hash; send X-Auth-Token instead"
    }


async def test_store_hash_is_configurable(session: aiohttp.ClientSession) -> None:
    """A sandbox accepts the store hash it was given, and can change it while running."""
    async with SandboxServer(store_hash="abc123", rate=None) as server:
        headers = {"X-Auth-Token": DEFAULT_TOKEN, "X-Store-Hash": "abc123"}
        accepted = await v3(session, server, "/orders", headers=headers)
        refused = await v3(session, server, "/orders")
        server.store_hash = "rotated"
        rotated = await v3(session, server, "/orders", headers=headers)
    assert (accepted.status, refused.status, rotated.status) == (200, 401, 401)


# --- the pipeline: faults, the window, records --------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "message"),
    [
        (FaultKind.HTTP_500, 500, "Internal Server Error"),
        (FaultKind.HTTP_503, 503, "Service temporarily unavailable"),
        (FaultKind.HTTP_429, 429, "Too many requests, slow down"),
    ],
)
async def test_injected_errors_on_v3_use_the_v3_envelope(
    session: aiohttp.ClientSession, kind: FaultKind, status: int, message: str
) -> None:
    """The sandbox's fault injection applies to V3 routes, with V3 error bodies."""
    faults = Faults(**{kind.field: 1.0})
    async with SandboxServer(rate=None, faults=faults) as server:
        reply = await create(session, server, 1)
    assert reply.status == status
    assert reply.json() == {"code": status, "data": {}, "meta": {"message": message}}
    if status == 429:
        assert reply.headers["Retry-After"] == "1"
    assert not server.orders


async def test_proxy_pages_error_200_and_resets_on_v3(session: aiohttp.ClientSession) -> None:
    """502 is a proxy's page; error_200 a 200 with body code 400; reset_after registers."""
    async with SandboxServer(rate=None, faults=Faults(http_502=1.0)) as server:
        proxy = await create(session, server, 1)
    async with SandboxServer(rate=None, faults=Faults(error_200=1.0)) as server:
        error_200 = await create(session, server, 1)
    async with SandboxServer(rate=None, faults=Faults(reset_after=1.0)) as server:
        with pytest.raises(RESETS):
            await create(session, server, 1)
        assert server.registrations("1") == 1
        assert server.requests[0].status == "reset"
    assert proxy.status == 502
    assert "nginx" in proxy.text
    assert error_200.status == 200
    assert error_200.json()["code"] == 400


async def test_spent_window_answers_429_in_v3_shape(session: aiohttp.ClientSession) -> None:
    """Past the window, V3 answers 429 with Retry-After and the window headers."""
    async with SandboxServer(rate=RateWindow(1, 60.0)) as server:
        first = await v3(session, server, "/orders")
        second = await v3(session, server, "/orders")
    assert first.status == 200
    assert first.headers["X-Requests-Remaining"] == "0 times"
    assert second.status == 429
    assert second.json()["meta"]["message"].startswith("Rate limit exceeded")
    assert int(second.headers["Retry-After"]) >= 1


async def test_unknown_v3_routes_and_methods_answer_the_v3_envelope(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """An unknown path or method under /api/v3/io answers V3's envelope."""
    missing = await v3(session, server, "/nothing")
    wrong = await v3(session, server, "/orders/extra-fields", method="DELETE")
    assert missing.json() == {"code": 404, "data": {}, "meta": {"message": "Not Found"}}
    assert wrong.status == 405
    assert wrong.json()["meta"]["message"] == "Method Not Allowed"


async def test_v3_requests_are_recorded_with_their_headers(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Every V3 request is recorded, headers and decoded body included."""
    await create(session, server, 3)
    [record] = server.requests
    assert record.path == V3_PREFIX + "/orders"
    assert record.body == {"bcOrderId": 3, "customerId": 5}
    assert record.headers["X-Store-Hash"] == DEFAULT_STORE_HASH
    assert record.registered == "3"
    assert record.status == 200
