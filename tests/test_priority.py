"""Which priority a call carries, and the in-flight places served by priority."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b2b_async import (
    Address,
    B2BClient,
    B2BError,
    BudgetHint,
    Companies,
    InvalidOrderError,
    LineItem,
    NewOrder,
    NewV3Order,
    Orders,
    OrderUpdate,
    Priority,
    V3Orders,
)
from b2b_async._priority import Places, cap_for_bulk, choose_priority, prioritised
from b2b_async.sandbox import DEFAULT_TOKEN, SandboxServer

URGENT, NORMAL, BULK = Priority.URGENT, Priority.NORMAL, Priority.BULK


# --- the rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("explicit", "view", "block", "default", "expected"),
    [
        (URGENT, BULK, BULK, BULK, URGENT),  # the call's own wins over everything
        (None, URGENT, BULK, BULK, URGENT),  # then the view's
        (None, None, URGENT, BULK, URGENT),  # then the block's
        (None, None, None, BULK, BULK),  # then the operation's default
    ],
)
def test_the_most_specific_choice_wins(
    explicit: Priority | None,
    view: Priority | None,
    block: Priority | None,
    default: Priority,
    expected: Priority,
) -> None:
    owner = object()
    with prioritised(owner, block) if block is not None else contextlib.nullcontext():
        assert choose_priority(explicit, view, owner, default) is expected


def test_blocks_nest_and_end() -> None:
    owner = object()
    with prioritised(owner, "bulk") as outer:
        assert outer is BULK
        with prioritised(owner, "urgent"):
            assert choose_priority(None, None, owner, NORMAL) is URGENT
        assert choose_priority(None, None, owner, NORMAL) is BULK
    assert choose_priority(None, None, owner, NORMAL) is NORMAL


def test_a_block_is_about_its_own_owner_only() -> None:
    mine, other = object(), object()
    with prioritised(mine, "bulk"):
        assert choose_priority(None, None, other, NORMAL) is NORMAL


def test_a_block_for_one_owner_keeps_the_blocks_of_others_around_it() -> None:
    """A block for one client inside another client's block leaves that client's priority."""
    mine, other = object(), object()
    with prioritised(mine, "urgent"), prioritised(other, "bulk"):
        assert choose_priority(None, None, mine, NORMAL) is URGENT
        assert choose_priority(None, None, other, NORMAL) is BULK


async def test_tasks_created_in_a_block_keep_its_priority() -> None:
    owner = object()

    async def chosen() -> Priority:
        await asyncio.sleep(0)
        return choose_priority(None, None, owner, NORMAL)

    with prioritised(owner, "bulk"):
        task = asyncio.create_task(chosen())
    assert await task is BULK  # the block ended before the task ran


def test_a_block_refuses_an_unknown_priority() -> None:
    with pytest.raises(ValueError, match="priority must be one of 'urgent', 'normal', 'bulk'"):
        with prioritised(object(), "asap"):
            pass


# --- places in flight ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def taken(places: Places, priority: Priority) -> AsyncIterator[None]:
    await places.take(priority)
    try:
        yield
    finally:
        places.give_back()


async def hold(places: Places, priority: Priority, order: list[str], name: str) -> None:
    async with taken(places, priority):
        order.append(name)
        await asyncio.sleep(0)


async def test_a_free_place_goes_to_the_highest_waiting_priority_then_by_arrival() -> None:
    places = Places(1)
    order: list[str] = []
    async with taken(places, NORMAL):
        tasks = [
            asyncio.create_task(hold(places, level, order, name))
            for level, name in [(BULK, "b1"), (NORMAL, "n1"), (URGENT, "u1"), (BULK, "b2")]
        ]
        tasks.append(asyncio.create_task(hold(places, URGENT, order, "u2")))
        await asyncio.sleep(0)
        assert places.waiting == 5
    await asyncio.gather(*tasks)
    assert order == ["u1", "u2", "n1", "b1", "b2"]
    assert (places.free, places.waiting) == (1, 0)


@pytest.mark.parametrize("cancelled", list(Priority))
async def test_a_waiter_cancelled_in_any_lane_holds_up_no_one(cancelled: Priority) -> None:
    places = Places(1)
    order: list[str] = []
    async with taken(places, NORMAL):
        doomed = asyncio.create_task(hold(places, cancelled, order, "doomed"))
        others = [asyncio.create_task(hold(places, level, order, level)) for level in Priority]
        await asyncio.sleep(0)
        doomed.cancel()
        await asyncio.sleep(0)
    await asyncio.gather(*others)
    assert order == ["urgent", "normal", "bulk"]
    assert doomed.cancelled()
    assert (places.free, places.waiting) == (1, 0)


async def test_a_place_given_in_the_instant_its_waiter_is_cancelled_passes_on() -> None:
    places = Places(1)
    order: list[str] = []
    async with taken(places, NORMAL):
        doomed = asyncio.create_task(hold(places, URGENT, order, "doomed"))
        later = asyncio.create_task(hold(places, BULK, order, "later"))
        await asyncio.sleep(0)
    doomed.cancel()  # the place is already the doomed task's, which has not run yet
    await later
    assert doomed.cancelled()
    assert order == ["later"]
    assert (places.free, places.waiting) == (1, 0)


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(1, 3),
    arrivals=st.lists(st.tuples(st.sampled_from(list(Priority)), st.booleans()), max_size=12),
)
def test_places_never_overfill_nor_serve_a_lower_priority_first(
    size: int, arrivals: list[tuple[Priority, bool]]
) -> None:
    """Whatever arrives and is cancelled, at most ``size`` hold places, all places come back,
    and no call gets a place while a waiting call of a higher priority has none."""
    asyncio.run(check_places(size, arrivals))


async def check_places(size: int, arrivals: list[tuple[Priority, bool]]) -> None:
    places = Places(size)
    holding: list[Priority] = []
    waiting: dict[asyncio.Task[None], Priority] = {}

    async def call(level: Priority) -> None:
        me = asyncio.current_task()
        assert me is not None
        waiting[me] = level
        try:
            async with taken(places, level):
                del waiting[me]
                # Callers cancelled but not yet run are no longer waiting.
                still = [other for task, other in waiting.items() if not task.cancelling()]
                assert not any(rank(other) < rank(level) for other in still)
                holding.append(level)
                assert len(holding) <= size
                try:
                    await asyncio.sleep(0)
                finally:
                    holding.remove(level)
        finally:
            waiting.pop(me, None)

    tasks = [asyncio.create_task(call(level)) for level, _ in arrivals]
    await asyncio.sleep(0)
    for task, (_, cancel) in zip(tasks, arrivals, strict=True):
        if cancel:
            task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert (places.free, places.waiting, holding) == (size, 0, [])


def rank(level: Priority) -> int:
    return list(Priority).index(level)


# --- every operation carries its priority to the limiter ------------------------------------


class RecordingLimiter:
    """A limiter that grants at once and records what each acquire asked for."""

    def __init__(self) -> None:
        self.seen: list[tuple[Priority, float | None]] = []

    async def acquire(self, priority: Priority = NORMAL, *, deadline: float | None = None) -> float:
        self.seen.append((priority, deadline))
        return 0.0

    async def release(self, hint: BudgetHint | None) -> None:
        return None


Operation = Callable[[B2BClient, dict[str, Any]], Awaitable[object]]
ADDRESS = Address(first_name="Jane", last_name="Doe", city="Austin", country_iso2="US")
UPDATE = OrderUpdate(order_id=5, billing_address=ADDRESS, products=[])
ORDER = NewOrder(company_id=1, customer_id=1, order_id="BC5", total_inc_tax=Decimal(1))


async def drain(items: AsyncIterator[object]) -> None:
    async for _ in items:
        pass


async def each_outcome(client: B2BClient, kw: dict[str, Any]) -> None:
    async with client.orders.create_stream([ORDER], **kw) as stream:
        await drain(stream)


async def each_v3_outcome(client: B2BClient, kw: dict[str, Any]) -> None:
    async with client.v3.orders.create_stream([NewV3Order(5, 1)], **kw) as stream:
        await drain(stream)


async def each_ensured(client: B2BClient, kw: dict[str, Any]) -> None:
    async with client.v3.orders.ensure_stream([NewV3Order(5, 1)], **kw) as stream:
        await drain(stream)


V2_OPERATIONS: dict[str, Operation] = {
    "create": lambda c, kw: c.orders.create(
        company_id=1, customer_id=1, order_id="BC5", total_inc_tax=1, **kw
    ),
    "register": lambda c, kw: c.orders.register(ORDER, **kw),
    "create_many": lambda c, kw: c.orders.create_many([ORDER], **kw),
    "create_stream": each_outcome,
    "list_by_company": lambda c, kw: drain(c.orders.list_by_company(1, **kw)),
    "update": lambda c, kw: c.orders.update(
        5, billing_address=ADDRESS, products=[LineItem(product_id=1, quantity=1)], **kw
    ),
    "apply_update": lambda c, kw: c.orders.apply_update(UPDATE, **kw),
    "assign_customer_orders_to_company": lambda c, kw: c.orders.assign_customer_orders_to_company(
        1, **kw
    ),
    "move_customer_orders": lambda c, kw: c.orders.move_customer_orders(
        1, customer_group_id=1, **kw
    ),
    "images": lambda c, kw: c.orders.images([5], **kw),
    "company_of": lambda c, kw: c.orders.company_of(5, **kw),
    "company_id_of": lambda c, kw: c.orders.company_id_of(5, **kw),
    "details": lambda c, kw: c.orders.details(5, **kw),
    "products": lambda c, kw: c.orders.products(5, **kw),
    "is_registered": lambda c, kw: c.orders.is_registered(5, **kw),
}
V3_OPERATIONS: dict[str, Operation] = {
    "create": lambda c, kw: c.v3.orders.create(bc_order_id=5, customer_id=1, **kw),
    "register": lambda c, kw: c.v3.orders.register(NewV3Order(5, 1), **kw),
    "create_many": lambda c, kw: c.v3.orders.create_many([NewV3Order(5, 1)], **kw),
    "create_stream": each_v3_outcome,
    "list": lambda c, kw: drain(c.v3.orders.list(**kw)),
    "get": lambda c, kw: c.v3.orders.get(5, **kw),
    "update": lambda c, kw: c.v3.orders.update(5, po_number="PO", **kw),
    "products": lambda c, kw: c.v3.orders.products(5, **kw),
    "assign_customer_orders": lambda c, kw: c.v3.orders.assign_customer_orders(1, **kw),
    "reassign_customer_orders": lambda c, kw: c.v3.orders.reassign_customer_orders(
        1, bc_group_id=1, **kw
    ),
    "extra_field_configs": lambda c, kw: c.v3.orders.extra_field_configs(refresh=True, **kw),
    "ensure": lambda c, kw: c.v3.orders.ensure(bc_order_id=5, customer_id=1, **kw),
    "ensure_many": lambda c, kw: c.v3.orders.ensure_many([NewV3Order(5, 1)], **kw),
    "ensure_stream": each_ensured,
}
COMPANY_OPERATIONS: dict[str, Operation] = {
    "order_ids": lambda c, kw: drain(c.companies.order_ids(1, **kw)),
}
OPERATIONS: dict[str, Operation] = {
    **{f"orders.{name}": op for name, op in V2_OPERATIONS.items()},
    **{f"v3.orders.{name}": op for name, op in V3_OPERATIONS.items()},
    **{f"companies.{name}": op for name, op in COMPANY_OPERATIONS.items()},
}
BULK_HELPERS = {"create_many", "create_stream", "ensure_many", "ensure_stream"}


@pytest.mark.parametrize(
    ("resource", "table"),
    [(Orders, V2_OPERATIONS), (V3Orders, V3_OPERATIONS), (Companies, COMPANY_OPERATIONS)],
)
def test_every_operation_takes_a_keyword_only_priority(
    resource: type, table: dict[str, Operation]
) -> None:
    """The tables below cover every public operation, and each takes ``priority=``."""
    operations = {
        name for name, member in vars(resource).items() if callable(member) and name[0] != "_"
    }
    assert operations == set(table)
    for name in operations:
        parameter = inspect.signature(getattr(resource, name)).parameters["priority"]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
        assert parameter.default is None


@pytest.fixture
async def recorded() -> AsyncIterator[tuple[B2BClient, RecordingLimiter]]:
    limiter = RecordingLimiter()
    async with (
        SandboxServer(rate=None) as server,
        # Without the extra-field check: its one fetch of the rules always runs urgently.
        B2BClient(
            DEFAULT_TOKEN,
            base_url=server.url,
            rate_limit=limiter,
            retry=None,
            check_extra_fields=False,
        ) as client,
    ):
        yield client, limiter


async def run(operation: Operation, client: B2BClient, **kw: Any) -> None:
    with contextlib.suppress(B2BError):  # a 404 or 400 still asked the limiter first
        await operation(client, kw)


@pytest.mark.parametrize("name", list(OPERATIONS))
async def test_each_operation_waits_in_the_lane_it_is_given(
    name: str, recorded: tuple[B2BClient, RecordingLimiter]
) -> None:
    client, limiter = recorded
    await run(OPERATIONS[name], client, priority="urgent")
    assert limiter.seen
    assert {priority for priority, _ in limiter.seen} == {URGENT}


@pytest.mark.parametrize("name", list(OPERATIONS))
async def test_each_operation_has_its_default_and_follows_a_block(
    name: str, recorded: tuple[B2BClient, RecordingLimiter]
) -> None:
    client, limiter = recorded
    await run(OPERATIONS[name], client)
    default = BULK if name.rsplit(".", 1)[1] in BULK_HELPERS else NORMAL
    assert {priority for priority, _ in limiter.seen} == {default}
    limiter.seen.clear()
    with client.priority("urgent"):
        await run(OPERATIONS[name], client)
    assert {priority for priority, _ in limiter.seen} == {URGENT}


async def test_a_view_wins_over_a_block_and_a_call_over_the_view(
    recorded: tuple[B2BClient, RecordingLimiter],
) -> None:
    client, limiter = recorded
    urgent = client.with_options(priority="urgent")
    with client.priority("bulk"):
        await run(V2_OPERATIONS["details"], urgent)
        await run(V2_OPERATIONS["details"], urgent, priority="normal")
        await run(V2_OPERATIONS["details"], client)
    assert [priority for priority, _ in limiter.seen] == [URGENT, NORMAL, BULK]


async def test_a_gathered_backfill_in_a_bulk_block_is_bulk(
    recorded: tuple[B2BClient, RecordingLimiter],
) -> None:
    client, limiter = recorded
    orders = [numbered(index) for index in range(5)]
    with client.priority("bulk"):
        await asyncio.gather(*(client.orders.register(order) for order in orders))
    assert [priority for priority, _ in limiter.seen] == [BULK] * 5


def numbered(index: int) -> NewOrder:
    """A registration of order ``BC{index}``."""
    return NewOrder(company_id=1, customer_id=1, order_id=f"BC{index}", total_inc_tax=1)


@pytest.mark.parametrize("name", list(OPERATIONS))
async def test_an_unknown_priority_is_refused_before_anything_is_sent(name: str) -> None:
    limiter = RecordingLimiter()
    async with (
        SandboxServer(rate=None) as server,
        B2BClient(DEFAULT_TOKEN, base_url=server.url, rate_limit=limiter) as client,
    ):
        with pytest.raises(InvalidOrderError, match="priority must be one of"):
            await OPERATIONS[name](client, {"priority": "asap"})
        assert server.requests == []
        assert limiter.seen == []


async def test_without_a_cap_no_one_waits_for_a_place() -> None:
    places = Places(None)
    for _ in range(1000):
        await places.take(BULK)
    assert (places.free, places.waiting) == (float("inf"), 0)
    places.give_back()


async def test_bulk_leaves_one_place_to_the_other_priorities() -> None:
    """With every place bulk may take taken, an urgent or normal call still gets one at once."""
    places = Places(3)
    await places.take(BULK)
    await places.take(BULK)
    third = asyncio.create_task(places.take(BULK))
    await asyncio.sleep(0)
    assert (places.free, places.waiting) == (1, 1)  # the last place is not bulk's
    await places.take(URGENT)  # at once
    assert not third.done()
    places.give_back()  # the urgent call's answer came: the bulk call gets no place yet
    await asyncio.sleep(0)
    assert not third.done()
    places.give_back()  # a bulk answer: now two are free, one for the bulk call
    await third
    assert (places.free, places.waiting) == (1, 0)


async def test_a_cap_of_one_is_no_one_s_reserve() -> None:
    places = Places(1)
    await places.take(BULK)  # at once: one place is nobody's to keep
    assert (places.free, places.waiting) == (0, 0)


@pytest.mark.parametrize("wanted", [1, 2, 7])
async def test_the_cap_for_bulk_gives_bulk_calls_the_places_wanted(wanted: int) -> None:
    """Under cap_for_bulk(n), n bulk calls take a place at once and the next one waits."""
    places = Places(cap_for_bulk(wanted))
    for _ in range(wanted):
        await places.take(BULK)  # at once
    extra = asyncio.create_task(places.take(BULK))
    await asyncio.sleep(0)
    assert (places.free, places.waiting) == (1, 1)  # the place left to the others
    extra.cancel()
    with pytest.raises(asyncio.CancelledError):
        await extra


def test_take_free_takes_a_place_free_now_and_says_so() -> None:
    """take_free takes a free place at once, and refuses, taking nothing, once none is free."""
    places = Places(2)
    assert places.take_free(URGENT)
    assert places.take_free(URGENT)
    assert not places.take_free(URGENT)
    assert (places.free, places.waiting) == (0, 0)


def test_take_free_leaves_bulk_s_reserve_and_the_queue_alone() -> None:
    """take_free keeps the place bulk leaves to the others, and never jumps a waiting call."""
    places = Places(2)
    assert places.take_free(BULK)
    assert not places.take_free(BULK)  # the last place is not bulk's
    assert places.free == 1


async def test_take_free_never_jumps_a_call_waiting_for_a_place() -> None:
    """With a call waiting in a lane, take_free refuses even a place a give-back frees."""
    places = Places(1)
    await places.take(NORMAL)
    waiting = asyncio.create_task(places.take(BULK))
    await asyncio.sleep(0)
    assert not places.take_free(URGENT)
    places.give_back()  # the waiting call gets it
    await waiting
    assert not places.take_free(URGENT)
    assert (places.free, places.waiting) == (0, 0)


def test_take_free_answers_true_or_false() -> None:
    """take_free answers a bool: True when it took a place, False when it took none."""
    places = Places(1)
    assert places.take_free(NORMAL) is True
    assert places.take_free(NORMAL) is False


def test_a_priority_block_refuses_an_unknown_level_when_it_is_asked_for() -> None:
    """``client.priority("bluk")`` raises at the call, as its docstring says, not only once a
    ``with`` enters the block: a level read from the configuration fails where it is read."""
    client = B2BClient(DEFAULT_TOKEN, rate_limit=None)
    with pytest.raises(ValueError, match="priority must be one of"):
        client.priority("bluk")
    with pytest.raises(ValueError, match="priority must be one of"):
        prioritised(object(), "bluk")
