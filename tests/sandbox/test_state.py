"""Tests of ``b2b_async/sandbox/_state.py``: the store, its wall clock, the ids of placed
orders, and B2B Edition recording a placed order by itself once its registration window has
passed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import aiohttp

from b2b_async.sandbox import API_PREFIX, Sandbox, SandboxServer
from tests.sandbox._helpers import V2_HEADERS, FakeClock, create, v3


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


def test_a_window_longer_than_the_calendar_keeps_every_placed_order_open() -> None:
    """A registration window past what a date can reach back to records nothing, and fails
    no request: every placed order stays open, as with a window of None."""
    sandbox = Sandbox(rate=None, registration_window=1e12)
    sandbox.place_order(customer_id=5, total_inc_tax=3)
    assert dict(sandbox.state.orders) == {}


async def test_a_company_listing_alone_sees_orders_recorded_once_the_window_passed(
    store: SandboxServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """The first read after the window, a V2 company listing, already lists the recorded
    order."""
    store.place_order(customer_id=5, total_inc_tax=3)
    clock.advance(10.0)
    listing = await v3(session, store, "/companies/5/orders", headers=V2_HEADERS, prefix=API_PREFIX)
    assert [item["orderId"] for item in listing.json()["data"]["list"]] == ["100"]


def test_an_order_overdue_when_another_is_placed_is_recorded_before_it(clock: FakeClock) -> None:
    """Placing an order first records those whose window has closed, even if the new one is
    back-dated further."""
    sandbox = Sandbox(rate=None, clock=clock)
    sandbox.place_order(customer_id=5, total_inc_tax=1)
    clock.advance(20.0)
    sandbox.place_order(
        customer_id=6, total_inc_tax=2, created_at=sandbox.now() - timedelta(seconds=60)
    )
    assert list(sandbox.orders) == ["100", "101"]
    assert sandbox.b2b_ids == {"100": 1, "101": 2}


def test_update_stamps_the_update_time(clock: FakeClock) -> None:
    """update() changes the fields given and sets updated_at to the sandbox's now."""
    sandbox = Sandbox(rate=None, clock=clock)
    sandbox.state.register(
        order_id="7", company_id=5, customer_id=5, total_inc_tax=Decimal(1), po_number=None
    )
    clock.advance(30.0)
    changed = sandbox.state.update("7", po_number="PO-1")
    assert (changed.po_number, changed.updated_at) == ("PO-1", sandbox.now())
    assert changed.created_at == sandbox.now() - timedelta(seconds=30)


def test_moving_orders_takes_those_recorded_once_the_window_passed(clock: FakeClock) -> None:
    """move_orders() first records overdue placed orders, then moves them too."""
    sandbox = Sandbox(rate=None, clock=clock)
    sandbox.place_order(customer_id=5, total_inc_tax=1)
    clock.advance(10.0)
    assert sandbox.state.move_orders(5, 7) == 1
    assert sandbox.orders["100"].company_id == 7
