"""create_many and create_stream: one outcome per input, bounded memory, clean cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import tracemalloc
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs
import pytest
from aiohttp import web

from b2b_async import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    B2BClient,
    B2BError,
    BadRequestError,
    BulkReport,
    CreatedOrder,
    DeadlineUnreachableError,
    EnsuredOrder,
    InvalidOrderError,
    NewOrder,
    NewV3Order,
    NotFoundError,
    OrderAlreadyExistsError,
    OrderOutcome,
    PermissionDeniedError,
    RateLimit,
    RegistrationWindowClosedError,
    RetryPolicy,
    ServerError,
    V3Order,
)
from b2b_async._bulk import (
    OutcomeStream,
    SystemicFailure,
    could_not_connect,
    is_systemic,
    register_one,
    run_bulk,
)
from b2b_async._config import MAX_CONCURRENCY, UNREACHABLE_STREAK
from b2b_async._exceptions import NotSentTimeoutError
from b2b_async._withdrawal import unless_withdrawn
from b2b_async.sandbox import DEFAULT_TOKEN, Faults, SandboxServer
from tests.loopback import serving, unanswered_port
from tests.sandbox_helpers import client_tasks

QUICK = RetryPolicy(attempts=8, initial_wait=0.01, max_wait=0.05)


def orders(count: int, *, company: int | None = 1, prefix: str = "BC") -> Iterator[NewOrder]:
    for index in range(count):
        yield NewOrder(company, (index % 10) * 100 + 1, f"{prefix}{index}", Decimal("12.50"))


def client_for(server: SandboxServer, **options: object) -> B2BClient:
    settings: dict[str, object] = {"rate_limit": None, "retry": QUICK, "max_concurrency": 16}
    settings.update(options)
    return B2BClient(DEFAULT_TOKEN, base_url=server.url, **settings)  # type: ignore[arg-type]


async def test_create_many_under_faults_registers_each_order_once() -> None:
    """2,000 orders with 15% faulty requests: all registered once, all ok, order kept."""
    faults = Faults(
        http_500=0.03,
        http_502=0.02,
        http_503=0.03,
        reset_before=0.03,
        reset_after=0.03,
        http_429=0.01,
    )
    async with SandboxServer(rate=None, faults=faults, seed=7) as server:
        async with client_for(server) as client:
            report = await client.orders.create_many(orders(2000, company=None))
        faulted = sum(1 for record in server.requests if record.fault is not None)
        assert faulted / len(server.requests) > 0.12
        assert len(server.orders) == 2000
        assert all(server.registrations(f"BC{index}") == 1 for index in range(2000))
    assert report.ok
    assert len(report) == 2000
    assert [outcome.index for outcome in report.outcomes] == list(range(2000))
    assert [outcome.order.order_id for outcome in report.outcomes] == [
        f"BC{index}" for index in range(2000)
    ]
    assert any(outcome.already_registered for outcome in report.outcomes)
    assert client.stats.retries > 0


async def test_unknown_company_fails_alone_after_one_request() -> None:
    """Orders for an unknown company fail with NotFoundError; the others succeed."""
    mixed = [NewOrder(999 if index % 5 == 0 else 1, 1, f"BC{index}", 1) for index in range(50)]
    async with SandboxServer(rate=None) as server, client_for(server) as client:
        report = await client.orders.create_many(mixed)
    failed = report.failed
    assert [outcome.index for outcome in failed] == list(range(0, 50, 5))
    assert all(isinstance(outcome.error, NotFoundError) for outcome in failed)
    assert len(report.succeeded) == 40
    assert len(server.requests) == 50
    assert not report.ok


async def test_already_registered_counts_as_success() -> None:
    """An order registered before the run is a success marked already_registered."""
    async with SandboxServer(rate=None) as server, client_for(server) as client:
        await client.orders.create(company_id=1, customer_id=1, order_id="BC1", total_inc_tax=1)
        report = await client.orders.create_many(orders(3))
    assert report.ok
    assert [outcome.already_registered for outcome in report.outcomes] == [False, True, False]
    assert report.outcomes[1].result == CreatedOrder("BC1", already_registered=True)


async def test_async_input_and_progress() -> None:
    """An async iterable is consumed lazily and on_progress sees every outcome."""

    async def source() -> AsyncIterator[NewOrder]:
        for order in orders(30):
            await asyncio.sleep(0)
            yield order

    seen: list[OrderOutcome[NewOrder, CreatedOrder]] = []
    async with SandboxServer(rate=None) as server, client_for(server) as client:
        report = await client.orders.create_many(source(), concurrency=4, on_progress=seen.append)
    assert report.ok
    assert sorted(outcome.index for outcome in seen) == list(range(30))


async def test_one_typed_callback_and_summary_serve_v2_and_v3_runs() -> None:
    """Outcomes and reports of either version are those of the union of both (mypy checks)."""
    seen: list[OrderOutcome[NewOrder | NewV3Order, CreatedOrder | V3Order | EnsuredOrder]] = []

    def failures(report: BulkReport[NewOrder | NewV3Order, CreatedOrder | EnsuredOrder]) -> int:
        return len(report.failed)

    async with SandboxServer(rate=None) as server, client_for(server) as client:
        v2 = await client.orders.create_many(orders(2), on_progress=seen.append)
        v3 = await client.v3.orders.ensure_many([NewV3Order(1, 1)], on_progress=seen.append)
    assert (failures(v2), failures(v3)) == (0, 0)
    assert sorted(type(outcome.order).__name__ for outcome in seen) == [
        "NewOrder",
        "NewOrder",
        "NewV3Order",
    ]


async def test_invalid_item_is_an_outcome_not_a_crash() -> None:
    """An input that is not a NewOrder becomes a failed outcome with InvalidOrderError."""
    async with SandboxServer(rate=None) as server, client_for(server) as client:
        report = await client.orders.create_many([*orders(2), {"orderId": "x"}])  # type: ignore[list-item]
    assert [outcome.ok for outcome in report.outcomes] == [True, True, False]
    assert isinstance(report.outcomes[2].error, InvalidOrderError)


async def test_persistent_failure_is_reported_per_order() -> None:
    """A failure that outlasts the retries is the order's error, and the run goes on."""
    async with SandboxServer(rate=None, faults=Faults(http_503=1.0)) as server:
        async with client_for(server, retry=RetryPolicy(attempts=2, initial_wait=0.001)) as c:
            report = await c.orders.create_many(orders(5))
    assert len(report.failed) == 5
    assert all(isinstance(outcome.error, ServerError) for outcome in report.failed)


async def test_failing_input_stops_the_run_and_raises() -> None:
    """When the input itself raises, workers stop and the error reaches the caller."""

    def broken() -> Iterator[NewOrder]:
        yield from orders(3)
        raise RuntimeError("source broke")

    async with SandboxServer(rate=None) as server, client_for(server) as client:
        with pytest.raises(RuntimeError, match="source broke"):
            await client.orders.create_many(broken(), concurrency=2)
    assert client_tasks() == set()


async def test_concurrency_must_be_positive() -> None:
    """A zero or non-int concurrency is refused."""
    client = B2BClient("t", rate_limit=None)
    with pytest.raises(ValueError, match="concurrency"):
        client.orders.create_stream([], concurrency=0)
    with pytest.raises(ValueError, match="concurrency"):
        await client.orders.create_many([], concurrency=True)
    assert (await client.orders.create_many([])) == BulkReport(())
    await client.aclose()


async def test_cancelling_create_many_leaves_nothing_behind() -> None:
    """Cancelling a run stops its workers; the client keeps working afterwards."""
    faults = Faults(latency=1.0, latency_seconds=0.05)
    async with SandboxServer(rate=None, faults=faults) as server, client_for(server) as client:
        progress: list[OrderOutcome[NewOrder, CreatedOrder]] = []
        ten_done = asyncio.Event()

        def on_progress(outcome: OrderOutcome[NewOrder, CreatedOrder]) -> None:
            progress.append(outcome)
            if len(progress) == 10:
                ten_done.set()

        many = client.orders.create_many(orders(200), concurrency=8, on_progress=on_progress)
        run = asyncio.create_task(many)
        await ten_done.wait()
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        assert client_tasks() == set()
        server.faults = Faults()
        created = await client.orders.create(
            company_id=1, customer_id=1, order_id="after", total_inc_tax=1
        )
    assert created.order_id == "after"


async def test_leaving_a_stream_early_stops_its_workers() -> None:
    """Breaking out of create_stream inside async with stops every worker at once."""
    async with SandboxServer(rate=None) as server, client_for(server) as client:
        async with client.orders.create_stream(orders(500), concurrency=4) as stream:
            async for outcome in stream:
                assert outcome.ok
                break
        assert client_tasks() == set()
        assert len(server.orders) < 20
        assert [outcome async for outcome in stream] == []


async def fake_register(order: NewOrder) -> CreatedOrder:
    await asyncio.sleep(0)
    return CreatedOrder(order.order_id)


async def peak_memory(count: int) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        async for outcome in OutcomeStream(fake_register, orders(count), 16, order_type=NewOrder):
            assert outcome.ok
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def test_stream_memory_does_not_grow_with_input() -> None:
    """Peak traced memory of create_stream is the same for 5,000 and 40,000 orders."""
    small = await peak_memory(5_000)
    large = await peak_memory(40_000)
    assert large < small * 1.5 + 64_000


async def test_plain_loop_left_early_stops_its_workers() -> None:
    """Breaking out of a plain async for (no async with) still stops the workers soon."""
    async with SandboxServer(rate=None) as server, client_for(server) as client:
        async for outcome in client.orders.create_stream(orders(500), concurrency=4):
            assert outcome.ok
            break
        for _ in range(100):
            if not client_tasks():
                break
            await asyncio.sleep(0.01)
        assert client_tasks() == set()
        assert len(server.orders) < 20


async def test_aclose_from_another_task_ends_the_readers_loop() -> None:
    """A stream closed by another task (a shutdown hook) ends its reader's loop at once."""
    faults = Faults(latency=1.0, latency_seconds=0.2)
    async with SandboxServer(rate=None, faults=faults) as server, client_for(server) as client:
        stream = client.orders.create_stream(orders(100), concurrency=4)
        seen: list[OrderOutcome[NewOrder, CreatedOrder]] = []

        async def read() -> None:
            async for outcome in stream:
                seen.append(outcome)

        reader = asyncio.create_task(read())
        await asyncio.sleep(0.05)
        await stream.aclose()
        await asyncio.wait_for(reader, 2)
        assert client_tasks() == set()
    assert len(seen) < 100


async def test_closed_client_fails_bulk_calls_without_waiting_for_budget() -> None:
    """After aclose, calls fail at once: no pacing wait, no budget booked."""
    from b2b_async import ClientClosedError, RateLimit, RateLimiter

    client = B2BClient("t", rate_limit=RateLimit(requests=2, per=1.0))
    await client.aclose()
    report = await asyncio.wait_for(client.orders.create_many(orders(10)), 1.0)
    assert all(isinstance(outcome.error, ClientClosedError) for outcome in report.outcomes)
    limiter = client.limiter
    assert isinstance(limiter, RateLimiter)
    assert limiter.in_flight == 0


async def test_the_engine_adds_no_rule_to_what_register_raises() -> None:
    """Whatever B2BError register raises, "already exists" included, is the outcome's error."""
    refusal = OrderAlreadyExistsError("The order already exists.", status=400, code=40010)

    async def refuse(order: NewOrder) -> CreatedOrder:
        raise refusal

    report = await run_bulk(refuse, orders(3), 2, order_type=NewOrder)
    assert [outcome.error for outcome in report.outcomes] == [refusal] * 3
    assert not any(outcome.already_registered for outcome in report.outcomes)


def bulk_workers() -> list[asyncio.Task[Any]]:
    return [task for task in asyncio.all_tasks() if task.get_name().startswith("b2b-async bulk")]


async def run_counting_workers(
    inputs: Iterable[NewOrder], concurrency: int
) -> tuple[BulkReport[NewOrder, CreatedOrder], int]:
    """Run ``inputs`` at ``concurrency``; return the report and the most workers seen."""
    seen: list[int] = []

    async def register(order: NewOrder) -> CreatedOrder:
        seen.append(len(bulk_workers()))
        await asyncio.sleep(0)
        return CreatedOrder(order.order_id)

    report = await run_bulk(register, inputs, concurrency, order_type=NewOrder)
    return report, max(seen)


async def test_a_short_list_starts_no_more_workers_than_it_has_orders() -> None:
    """A list of three orders at a concurrency of 10,000 runs on three workers."""
    report, most = await run_counting_workers(list(orders(3)), 10_000)
    assert len(report.succeeded) == 3
    assert most == 3


async def test_a_run_of_unknown_length_starts_at_most_max_concurrency_workers() -> None:
    """A generator at a concurrency of a million runs on 1,000 workers, not a million tasks."""
    report, most = await run_counting_workers((order for order in orders(3)), 10**6)
    assert len(report.succeeded) == 3
    assert most == MAX_CONCURRENCY == 1000


async def test_a_list_longer_than_max_concurrency_starts_at_most_max_concurrency_workers() -> None:
    """A list of 1,001 orders at a concurrency of a million runs on 1,000 workers."""
    report, most = await run_counting_workers(list(orders(MAX_CONCURRENCY + 1)), 10**6)
    assert len(report.succeeded) == MAX_CONCURRENCY + 1
    assert most == MAX_CONCURRENCY


async def test_a_list_of_one_order_runs_on_one_worker() -> None:
    """A list of one order at a concurrency of ten runs on one worker."""
    report, most = await run_counting_workers(list(orders(1)), 10)
    assert len(report.succeeded) == 1
    assert most == 1


async def test_every_worker_is_at_work_at_once() -> None:
    """Every one of `concurrency` workers is at work at once, as soon as inputs are there."""
    in_flight, most, all_in = 0, 0, asyncio.Event()

    async def register(order: NewOrder) -> CreatedOrder:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        if in_flight == 4:
            all_in.set()
        await all_in.wait()  # each waits until four are in: fewer workers would never end
        in_flight -= 1
        return CreatedOrder(order.order_id)

    report = await asyncio.wait_for(run_bulk(register, orders(20), 4, order_type=NewOrder), 60)
    assert len(report.succeeded) == 20
    assert most == 4


async def test_the_engine_takes_any_kind_of_order_and_result() -> None:
    """Orders and results of any type go through; already_registered reads the result's."""

    @attrs.frozen
    class Found:
        already_registered: bool

    async def find(order: str) -> Found:
        return Found(already_registered=order == "old")

    inputs: list[str] = ["new", "old", 7]  # type: ignore[list-item]
    report = await run_bulk(find, inputs, 2, order_type=str)
    assert [outcome.already_registered for outcome in report.outcomes] == [False, True, False]
    assert isinstance(report.outcomes[2].error, InvalidOrderError)
    assert "input 2 is a int, not a str" in str(report.outcomes[2].error)


async def test_an_unexpected_exception_of_one_order_is_its_outcome() -> None:
    """A non-B2BError from register sinks no batch: it is that order's error, cause kept."""
    bug = TypeError("a bug that meets one order")

    async def register(order: NewOrder) -> CreatedOrder:
        await asyncio.sleep(0)
        if order.order_id == "BC7":
            raise bug
        return CreatedOrder(order.order_id)

    report = await run_bulk(register, orders(20), 4, order_type=NewOrder)
    assert [outcome.index for outcome in report.failed] == [7]
    error = report.failed[0].error
    assert type(error) is B2BError
    assert error.__cause__ is bug
    assert "unexpected TypeError" in str(error)
    assert len(report.succeeded) == 19


async def test_an_order_that_cannot_be_encoded_fails_alone_against_the_sandbox() -> None:
    """An order slipped past validation (a lone surrogate in a path id) fails alone.

    The path builder checks each id again, so the outcome is an InvalidOrderError, not the
    UnicodeEncodeError quote() raised once, which sank the batch after 8 of 20.
    """
    given = list(orders(20, prefix="U"))
    object.__setattr__(given[5], "customer_id", "88\ud800")  # what validation now refuses
    async with SandboxServer(rate=None) as server:
        async with client_for(server) as client:
            report = await client.orders.create_many(given, concurrency=4)
    assert [outcome.index for outcome in report.failed] == [5]
    assert isinstance(report.failed[0].error, InvalidOrderError)
    assert set(server.orders) == {f"U{index}" for index in range(20)} - {"U5"}


async def test_cancellation_still_escapes_the_engine() -> None:
    """Only a cancellation of the run (and BaseException) escapes register_one: a cancel
    stops the run."""
    started = asyncio.Event()

    async def stalled(order: NewOrder) -> CreatedOrder:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    registering = asyncio.create_task(register_one(stalled, 0, next(orders(1)), NewOrder))
    await started.wait()
    registering.cancel()
    with pytest.raises(asyncio.CancelledError):
        await registering


async def test_closing_ends_a_worker_whose_order_fails_as_it_is_cancelled() -> None:
    """An order whose call meets the worker's cancellation with an error of its own (a
    limiter's release failing as the request is cut off, say) ends the worker: closing the
    stream returns, and no later order is sent."""
    called: list[str] = []
    in_flight = asyncio.Event()

    async def register(order: NewOrder) -> CreatedOrder:
        called.append(order.order_id)
        if in_flight.is_set():
            return CreatedOrder(order.order_id)
        in_flight.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise B2BError("the limiter's release failed") from None
        raise AssertionError("unreachable")

    stream = OutcomeStream(register, orders(5), 1, order_type=NewOrder)
    reading = asyncio.ensure_future(anext(aiter(stream)))
    await in_flight.wait()
    await asyncio.wait_for(stream.aclose(), 60)  # else: for ever, its queue full
    with pytest.raises(StopAsyncIteration):
        await reading
    assert called == ["BC0"]


async def test_an_aclose_cancelled_as_its_workers_end_still_ends_the_readers_loop() -> None:
    """A stream whose aclose() is cancelled while it waits for the stopped workers still
    ends the loop of a reader in another task, and sends no other order."""
    called: list[str] = []
    in_flight = asyncio.Event()

    async def register(order: NewOrder) -> CreatedOrder:
        called.append(order.order_id)
        in_flight.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    stream = OutcomeStream(register, orders(5), 2, order_type=NewOrder)

    async def read() -> list[object]:
        return [outcome async for outcome in stream]

    reader = asyncio.create_task(read())
    await in_flight.wait()
    closing = asyncio.create_task(stream.aclose())
    await asyncio.sleep(0)  # aclose() has cancelled the workers and waits for them
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert await asyncio.wait_for(reader, 60) == []  # else: for ever
    assert called == ["BC0", "BC1"]


async def test_orders_finished_as_the_run_is_cancelled_still_reach_on_progress() -> None:
    """Orders whose registration ended in the instant their run was cancelled, before the
    run read their outcomes, are still handed to on_progress: each registered order is."""
    go, all_waiting = asyncio.Event(), asyncio.Event()
    waiting: list[str] = []
    registered: list[str] = []
    progress: list[OrderOutcome[NewOrder, CreatedOrder]] = []

    async def register(order: NewOrder) -> CreatedOrder:
        waiting.append(order.order_id)
        if len(waiting) == 3:
            all_waiting.set()
        await go.wait()
        registered.append(order.order_id)
        return CreatedOrder(order.order_id)

    run = asyncio.create_task(
        run_bulk(register, list(orders(3)), 3, progress.append, order_type=NewOrder)
    )
    await all_waiting.wait()
    go.set()
    await asyncio.sleep(0)  # the workers register their orders and queue the outcomes
    run.cancel()  # the run has not read them yet
    with pytest.raises(asyncio.CancelledError):
        await run
    assert registered == ["BC0", "BC1", "BC2"]
    assert sorted(outcome.order.order_id for outcome in progress) == registered


async def test_a_cancelled_runs_unread_outcomes_reach_on_progress_in_completion_order() -> None:
    """A cancelled run hands on_progress the outcomes it had not read in the order their
    orders finished: those queued for it before the one whose hand-over was cut off."""
    first_done = asyncio.Event()
    progress: list[OrderOutcome[NewOrder, CreatedOrder]] = []

    async def register(order: NewOrder) -> CreatedOrder:
        first_done.set()
        return CreatedOrder(order.order_id)

    run = asyncio.create_task(
        run_bulk(register, list(orders(2)), 1, progress.append, order_type=NewOrder)
    )
    await first_done.wait()  # BC0 is queued, BC1 waits for room to be handed over
    run.cancel()  # the run has read neither
    with pytest.raises(asyncio.CancelledError):
        await run
    assert [outcome.order.order_id for outcome in progress] == ["BC0", "BC1"]


async def test_a_cancelled_error_nobody_asked_for_is_that_orders_outcome() -> None:
    """A CancelledError from one order's call while the run goes on (something the call
    awaited was cancelled, not the run) is that order's failure; the others register."""

    async def register(order: NewOrder) -> CreatedOrder:
        await asyncio.sleep(0)
        if order.order_id == "BC3":
            raise asyncio.CancelledError
        return CreatedOrder(order.order_id)

    # Without a bound, a run that lost a worker to the error would wait for it for ever.
    report = await asyncio.wait_for(run_bulk(register, orders(10), 3, order_type=NewOrder), 60)
    assert [outcome.index for outcome in report.failed] == [3]
    error = report.failed[0].error
    assert isinstance(error, B2BError)
    assert isinstance(error.__cause__, asyncio.CancelledError)
    assert str(error) == "unexpected CancelledError while registering"  # no dangling colon
    assert len(report.succeeded) == 9


async def test_an_input_raising_a_cancelled_error_ends_the_run() -> None:
    """An async input that raises CancelledError (it awaited something that was cancelled)
    ends the run, as any failing input does, with a B2BError: the reader never waits for a
    worker that is gone, and its task is not told it was cancelled."""

    async def source() -> AsyncIterator[NewOrder]:
        for order in orders(3):
            yield order
        raise asyncio.CancelledError

    async def register(order: NewOrder) -> CreatedOrder:
        return CreatedOrder(order.order_id)

    with pytest.raises(B2BError) as info:  # without the fix: TimeoutError, after 60 s
        await asyncio.wait_for(run_bulk(register, source(), 2, order_type=NewOrder), 60)
    assert isinstance(info.value.__cause__, asyncio.CancelledError)
    assert "the input raised CancelledError" in str(info.value)


def rows_with_a_bad_total(
    count: int, bad: int, read: list[int] | None = None
) -> Iterator[NewOrder]:
    """Orders made by ``map`` from rows, row ``bad`` holding a negative total: ``map`` raises
    the row's InvalidOrderError, and goes on with the next row when asked again. The numbers
    of the rows read go in ``read``."""

    def order_of(number: int) -> NewOrder:
        if read is not None:
            read.append(number)
        return NewOrder(1, 1, f"BC{number}", "-1" if number == bad else "5")

    return map(order_of, range(count))


async def read_slowly(
    stream: OutcomeStream[NewOrder, CreatedOrder],
    take: Callable[[OrderOutcome[NewOrder, CreatedOrder]], object],
) -> None:
    """Read ``stream`` to its end, letting the loop run ten steps after each outcome."""
    async with stream:
        async for outcome in stream:
            take(outcome)
            for _ in range(10):
                await asyncio.sleep(0)


async def rows_read_by_a_run_whose_input_raises(
    given_as: Callable[[Iterator[NewOrder]], Iterable[NewOrder] | AsyncIterable[NewOrder]],
) -> list[int]:
    """Run two workers over six rows, the third of which raises, given as ``given_as``
    makes them; BC1 finishes while the reader is busy with BC0's outcome. Returns the
    numbers of the rows read."""
    release = asyncio.Event()
    read: list[int] = []

    async def register(order: NewOrder) -> CreatedOrder:
        if order.order_id == "BC1":
            await release.wait()
        return CreatedOrder(order.order_id)

    rows = given_as(rows_with_a_bad_total(6, 2, read))
    stream = OutcomeStream(register, rows, 2, order_type=NewOrder)
    with pytest.raises(InvalidOrderError, match="negative"):
        await read_slowly(stream, lambda _: release.set())
    return read


async def test_an_input_that_raised_is_not_read_again() -> None:
    """Once iterating the input raises, no worker takes another order from it: an iterator
    that goes on after its error (map) is not read for orders the run gives no outcome."""
    read = await rows_read_by_a_run_whose_input_raises(lambda rows: rows)
    assert read == [0, 1, 2]  # without the fix: [0, 1, 2, 3], BC1's worker read on


class PagedReader:
    """An async iterator over ``orders`` that, as a paginated reader, goes on after an error."""

    def __init__(self, orders: Iterator[NewOrder]) -> None:
        self._orders = orders

    def __aiter__(self) -> PagedReader:
        return self

    async def __anext__(self) -> NewOrder:
        await asyncio.sleep(0)  # a page is fetched
        try:
            return next(self._orders)
        except StopIteration:
            raise StopAsyncIteration from None


async def test_an_async_input_that_raised_is_not_read_again() -> None:
    """Once an async iterator that goes on after its error raises, no worker reads it again."""
    assert await rows_read_by_a_run_whose_input_raises(PagedReader) == [0, 1, 2]


@attrs.define
class TurnsAfterTheFirst:
    """A register under which every order but BC0 waits for its turn in the budget (as the
    transport waits), a turn that comes once the reader has taken an outcome."""

    budget: asyncio.Event = attrs.field(factory=asyncio.Event)
    sent: list[str] = attrs.field(factory=list)
    seen: list[str] = attrs.field(factory=list)

    async def register(self, order: NewOrder) -> CreatedOrder:
        """Send ``order``: at once for BC0, once its turn comes for every other."""
        if order.order_id != "BC0":
            await unless_withdrawn(self.budget.wait)
        self.sent.append(order.order_id)
        return CreatedOrder(order.order_id)

    def take(self, outcome: OrderOutcome[NewOrder, CreatedOrder]) -> None:
        """Read an outcome; the turn of the orders waiting comes while the reader is busy."""
        self.seen.append(outcome.order.order_id)
        self.budget.set()


async def test_orders_waiting_their_turn_are_withdrawn_when_the_input_raises() -> None:
    """An order waiting for its turn in the budget when the input raises is withdrawn, not
    sent once its turn comes while the reader still takes the outcomes before the error."""
    turns = TurnsAfterTheFirst()
    stream = OutcomeStream(turns.register, rows_with_a_bad_total(6, 2), 2, order_type=NewOrder)
    with pytest.raises(InvalidOrderError, match="negative"):
        await read_slowly(stream, turns.take)
    assert turns.seen == ["BC0"]
    assert turns.sent == ["BC0"]  # without the fix: BC1 was sent, and BC3 after the error


async def test_orders_waiting_their_turn_are_withdrawn_when_the_input_raises_cancelled() -> None:
    """An input raising CancelledError withdraws the orders waiting for their turn, as any error."""

    def order_of(number: int) -> NewOrder:
        if number == 2:
            raise asyncio.CancelledError  # something the input awaited was cancelled
        return NewOrder(1, 1, f"BC{number}", "5")

    turns = TurnsAfterTheFirst()
    stream = OutcomeStream(turns.register, map(order_of, range(6)), 2, order_type=NewOrder)
    with pytest.raises(B2BError, match="the input raised CancelledError"):
        await read_slowly(stream, turns.take)
    assert turns.seen == ["BC0"]
    assert turns.sent == ["BC0"]


class InputHalted(BaseException):
    """A BaseException that is no Exception, raised by an input."""


async def test_an_input_raising_a_base_exception_ends_the_run_with_it() -> None:
    """An input raising a BaseException that is no Exception ends the run: the reader raises it."""

    def source() -> Iterator[NewOrder]:
        yield from orders(3)
        raise InputHalted

    async with asyncio.timeout(60):  # a reader waiting for the worker would never end
        with pytest.raises(InputHalted):
            await run_bulk(fake_register, source(), 2, order_type=NewOrder)
    assert bulk_workers() == []


async def test_an_input_that_raised_a_base_exception_is_not_read_again() -> None:
    """An input raising a BaseException that is no Exception is not read again either."""
    release = asyncio.Event()
    read: list[int] = []

    def order_of(number: int) -> NewOrder:
        read.append(number)
        if number == 2:
            raise InputHalted
        return NewOrder(1, 1, f"BC{number}", "5")

    async def register(order: NewOrder) -> CreatedOrder:
        if order.order_id == "BC1":
            await release.wait()
        return CreatedOrder(order.order_id)

    stream = OutcomeStream(register, map(order_of, range(6)), 2, order_type=NewOrder)
    with pytest.raises(InputHalted):
        await read_slowly(stream, lambda _: release.set())
    assert read == [0, 1, 2]  # BC1's worker, free after the error, reads no other row


# -- failures that repeat for every order ------------------------------------------------------


async def test_a_worker_cancelled_from_outside_the_run_ends_it_instead_of_hanging() -> None:
    """A worker task cancelled by someone other than the stream (a shutdown sweep of the
    loop's tasks) ends the run with a B2BError the reader raises: the reader never waits for
    a worker that is gone, and the worker's cancellation still ends the worker."""
    started = asyncio.Event()

    async def register(order: NewOrder) -> CreatedOrder:
        started.set()
        await asyncio.sleep(3600)
        return CreatedOrder(order.order_id)

    run = asyncio.create_task(run_bulk(register, orders(10), 3, order_type=NewOrder))
    await started.wait()
    [worker] = [task for task in bulk_workers() if task.get_name().endswith(" 0")]
    worker.cancel()
    with pytest.raises(B2BError) as info:  # without the fix: TimeoutError, after 60 s
        await asyncio.wait_for(run, 60)
    assert isinstance(info.value.__cause__, asyncio.CancelledError)
    assert "cancelled from outside the run" in str(info.value)
    assert worker.cancelled()
    assert bulk_workers() == []


async def test_the_run_s_error_keeps_the_cancellation_of_the_worker_as_its_cause() -> None:
    """A worker cancelled from outside at work ends the run with that cancellation as cause."""
    started = asyncio.Event()

    async def register(order: NewOrder) -> CreatedOrder:
        started.set()
        await asyncio.Event().wait()
        return CreatedOrder(order.order_id)

    run = asyncio.create_task(run_bulk(register, orders(10), 3, order_type=NewOrder))
    await started.wait()
    [worker] = [task for task in bulk_workers() if task.get_name().endswith(" 0")]
    worker.cancel("shutdown sweep")
    with pytest.raises(B2BError, match="cancelled from outside the run") as info:
        await asyncio.wait_for(run, 60)
    assert isinstance(info.value.__cause__, asyncio.CancelledError)
    assert info.value.__cause__.args == ("shutdown sweep",)
    assert bulk_workers() == []


@contextlib.asynccontextmanager
async def one_worker_held_by_its_reader(
    count: int,
) -> AsyncIterator[tuple[AsyncIterator[OrderOutcome[NewOrder, CreatedOrder]], asyncio.Task[Any]]]:
    """A one-worker stream of ``count`` orders whose reader took the first outcome and
    whose queue is full: (the reader, the worker)."""

    async def register(order: NewOrder) -> CreatedOrder:
        return CreatedOrder(order.order_id)

    async with OutcomeStream(register, orders(count), 1, order_type=NewOrder) as stream:
        reader = aiter(stream)
        await anext(reader)
        [worker] = bulk_workers()
        while not stream._outcomes.full():  # noqa: ASYNC110 - the queue has no event
            await asyncio.sleep(0)
        yield reader, worker


async def test_a_closed_stream_iterated_again_sends_no_other_order() -> None:
    """A stream left after its first outcome and closed registers nothing more when read again."""
    register, called = refusing_after({})
    stream = OutcomeStream(register, orders(10), 1, order_type=NewOrder)
    async for _ in stream:
        break
    await stream.aclose()
    sent = list(called)
    assert [outcome async for outcome in stream] == []
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    for _ in range(5):
        await asyncio.sleep(0)  # what a worker started again would take to send
    assert called == sent
    assert len(sent) < 10
    assert bulk_workers() == []


async def test_a_worker_cancelled_while_its_reader_is_away_ends_at_once() -> None:
    """A worker waiting for its reader to take an outcome (the stream holds as many as it
    has workers), cancelled from outside the run, ends at once rather than wait for the
    reader; the reader takes the outcome queued before, then raises the run's B2BError."""
    async with one_worker_held_by_its_reader(10) as (reader, worker):
        await asyncio.sleep(0)  # the worker waits to hand over its next outcome
        worker.cancel()
        done, _ = await asyncio.wait([worker], timeout=5)
        assert done == {worker}
        assert (await anext(reader)).index == 1  # queued before the worker was cancelled
        with pytest.raises(B2BError, match="cancelled from outside the run"):
            await anext(reader)


async def test_a_worker_cancelled_from_outside_leaves_every_outcome_queued_before_it() -> None:
    """With a full queue of two outcomes when a worker is cancelled from outside, the reader
    takes both (each a finished order) before the run's B2BError."""
    async with OutcomeStream(fake_register, orders(10), 2, order_type=NewOrder) as stream:
        reader = aiter(stream)
        await anext(reader)
        while not stream._outcomes.full():  # noqa: ASYNC110 - the queue has no event
            await asyncio.sleep(0)
        await asyncio.sleep(0)  # both workers wait to hand over their next outcome
        worker = bulk_workers()[0]
        worker.cancel()
        await asyncio.wait([worker])
        queued = [await anext(reader) for _ in range(2)]
        assert all(outcome.ok for outcome in queued)
        with pytest.raises(B2BError, match="cancelled from outside the run"):
            await anext(reader)


async def test_a_reader_raising_the_run_s_error_leaves_no_worker_behind() -> None:
    """The error that ends a run, read with anext on the stream itself, comes out once the
    workers are stopped: none is left running for a reader that does not close the stream."""

    def source() -> Iterator[NewOrder]:
        yield from orders(3)
        raise RuntimeError("source broke")

    async def read_to_the_end() -> None:
        while True:
            await anext(stream)

    stream = OutcomeStream(fake_register, source(), 4, order_type=NewOrder)
    with pytest.raises(RuntimeError, match="source broke"):
        await read_to_the_end()
    assert bulk_workers() == []


async def test_two_tasks_reading_one_stream_with_anext_both_come_to_its_end() -> None:
    """Two tasks reading one stream with anext both end with it: neither waits for ever."""
    release = asyncio.Event()

    async def register(order: NewOrder) -> CreatedOrder:
        await release.wait()
        return CreatedOrder(order.order_id)

    async def read_to_the_end() -> list[str]:
        taken: list[str] = []
        with contextlib.suppress(StopAsyncIteration):
            while True:
                taken.append((await anext(stream)).order.order_id)
        return taken

    stream = OutcomeStream(register, orders(2), 2, order_type=NewOrder)
    readers = [asyncio.create_task(read_to_the_end()) for _ in range(2)]
    await asyncio.sleep(0)  # both readers wait for an outcome
    release.set()
    async with asyncio.timeout(60):
        first, second = await asyncio.gather(*readers)
    assert sorted(first + second) == ["BC0", "BC1"]
    assert bulk_workers() == []


def holding(
    held: dict[str, asyncio.Task[Any]], ids: set[str]
) -> Callable[[NewOrder], Awaitable[CreatedOrder]]:
    """A register that holds the orders named in ``ids`` for good, keeping their tasks in
    ``held``, and registers every other order at once."""

    async def register(order: NewOrder) -> CreatedOrder:
        if order.order_id in ids:
            held[order.order_id] = asyncio.current_task()  # type: ignore[assignment]
            await asyncio.Event().wait()
        return CreatedOrder(order.order_id)

    return register


@contextlib.asynccontextmanager
async def reader_with_bc1_cancelled(
    held_ids: set[str], count: int, concurrency: int, queued: int
) -> AsyncIterator[AsyncIterator[OrderOutcome[NewOrder, CreatedOrder]]]:
    """A run over ``count`` orders whose reader has taken BC0's outcome; once the orders of
    ``held_ids`` are held and ``queued`` outcomes wait for the reader, BC1's worker is
    cancelled from outside the run, and the reader is handed over."""
    held: dict[str, asyncio.Task[Any]] = {}
    register = holding(held, held_ids)
    async with OutcomeStream(register, orders(count), concurrency, order_type=NewOrder) as stream:
        reader = aiter(stream)
        assert (await anext(reader)).order.order_id == "BC0"
        while len(held) < len(held_ids) or stream._outcomes.qsize() < queued:  # noqa: ASYNC110
            await asyncio.sleep(0)
        held["BC1"].cancel()
        await asyncio.wait([held["BC1"]])
        yield reader


async def test_a_worker_cancelled_from_outside_leaves_the_outcome_queued_before_it() -> None:
    """With one outcome queued, and room for more, when a worker is cancelled from outside,
    the reader takes that outcome (a finished order) before the run's B2BError."""
    async with reader_with_bc1_cancelled({"BC1", "BC2", "BC4"}, 5, 3, queued=1) as reader:
        assert (await anext(reader)).order.order_id == "BC3"
        with pytest.raises(B2BError, match="cancelled from outside the run"):
            await anext(reader)


async def test_a_worker_cancelled_from_outside_leaves_the_outcomes_queued_before_it() -> None:
    """With two outcomes queued, and room for more, when a worker is cancelled from outside,
    the reader takes both (finished orders) before the run's B2BError."""
    async with reader_with_bc1_cancelled({"BC1", "BC2", "BC5"}, 6, 4, queued=2) as reader:
        queued = {(await anext(reader)).order.order_id for _ in range(2)}
        assert queued == {"BC3", "BC4"}
        with pytest.raises(B2BError, match="cancelled from outside the run"):
            await anext(reader)


async def test_a_worker_lost_after_another_leaves_the_reader_no_outcome_queued_since() -> None:
    """Once a worker cancelled from outside has ended the run, a second one lost changes
    nothing: the reader takes the outcomes queued before the first, then the B2BError."""
    held: dict[str, asyncio.Task[Any]] = {}
    async with OutcomeStream(holding(held, {"BC1"}), orders(20), 3, order_type=NewOrder) as stream:
        reader = aiter(stream)
        await anext(reader)
        while "BC1" not in held or not stream._outcomes.full():  # noqa: ASYNC110
            await asyncio.sleep(0)
        held["BC1"].cancel()
        await asyncio.wait([held["BC1"]])
        await anext(reader)  # the first of the three queued before it
        while not stream._outcomes.full():  # noqa: ASYNC110 - a worker hands over one more
            await asyncio.sleep(0)
        other = bulk_workers()[0]
        other.cancel()
        await asyncio.wait([other])
        for _ in range(2):
            await anext(reader)
        with pytest.raises(B2BError, match="cancelled from outside the run"):
            await anext(reader)


async def test_a_worker_cancelled_as_it_hands_over_its_end_ends_the_run() -> None:
    """A worker cancelled from outside as it waits to tell the reader it is done ends the run."""
    async with one_worker_held_by_its_reader(2) as (reader, worker):
        for _ in range(3):  # the worker finds no more inputs and waits to say so
            await asyncio.sleep(0)
        worker.cancel()
        await asyncio.wait([worker])
        assert (await anext(reader)).index == 1
        async with asyncio.timeout(60):  # without the fix: TimeoutError, the reader held
            with pytest.raises(B2BError, match="cancelled from outside the run"):
                await anext(reader)


async def test_workers_cancelled_from_outside_before_they_begin_end_the_run() -> None:
    """Workers cancelled from outside before their first step end the run instead of hanging it."""
    stream = OutcomeStream(fake_register, orders(5), 2, order_type=NewOrder)

    async def read() -> OrderOutcome[NewOrder, CreatedOrder]:
        return await anext(aiter(stream))

    reading = asyncio.create_task(read())
    await asyncio.sleep(0)  # the reader has started the workers, which have not run yet
    workers = bulk_workers()
    assert len(workers) == 2
    for worker in workers:
        worker.cancel()
    async with asyncio.timeout(60):  # without the fix: TimeoutError, the reader held
        with pytest.raises(B2BError, match="cancelled from outside the run"):
            await reading
    assert bulk_workers() == []


async def test_a_worker_cancelled_from_outside_leaves_the_finished_outcomes_to_the_reader() -> None:
    """Outcomes of orders finished before a worker is cancelled from outside still come out."""
    stuck = asyncio.Event()
    held: list[asyncio.Task[Any]] = []

    async def register(order: NewOrder) -> CreatedOrder:
        if order.order_id == "BC2":
            held.append(asyncio.current_task())  # type: ignore[arg-type]
            stuck.set()
            await asyncio.sleep(3600)
        return CreatedOrder(order.order_id)

    async with OutcomeStream(register, orders(3), 3, order_type=NewOrder) as stream:
        reader = aiter(stream)
        first = await anext(reader)
        await stuck.wait()
        while stream._outcomes.qsize() < 1:  # noqa: ASYNC110 - the queue has no event
            await asyncio.sleep(0)
        [worker] = held
        worker.cancel()
        await asyncio.wait([worker])
        second = await anext(reader)  # without the fix: the run's B2BError, this outcome lost
        assert {first.order.order_id, second.order.order_id} == {"BC0", "BC1"}
        assert all(outcome.ok for outcome in (first, second))
        with pytest.raises(B2BError, match="cancelled from outside the run"):
            await anext(reader)


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def assert_one_outcome_each(report: BulkReport[Any, Any], count: int) -> None:
    """One outcome per input, in input order, each in exactly one of the three lists."""
    assert len(report) == count
    assert [outcome.index for outcome in report.outcomes] == list(range(count))
    parts = [report.succeeded, report.failed, report.not_attempted]
    assert sorted(outcome.index for part in parts for outcome in part) == list(range(count))


@pytest.mark.parametrize("rate_limit", [None, RateLimit(requests=40, per=1.0)])
async def test_wrong_token_sends_at_most_concurrency_requests(rate_limit: RateLimit | None) -> None:
    """300 orders with a wrong token: at most `concurrency` requests, the rest not attempted."""
    async with SandboxServer(rate=None) as server:
        async with B2BClient("wrong-token", base_url=server.url, rate_limit=rate_limit) as client:
            report = await client.orders.create_many(orders(300), concurrency=8)
        assert 1 <= len(server.requests) <= 8
        assert server.orders == {}
    assert_one_outcome_each(report, 300)
    assert isinstance(report.stopped_by, AuthenticationError)
    assert len(report.failed) == len(server.requests)
    assert all(isinstance(outcome.error, AuthenticationError) for outcome in report.failed)
    assert len(report.not_attempted) == 300 - len(server.requests)
    assert all(
        outcome.result is None and outcome.error is None and not outcome.ok
        for outcome in report.not_attempted
    )
    assert not report.ok


async def test_wrong_token_stops_a_v3_run_too() -> None:
    """V3's create_many stops the same way: a few 401s, every other order not attempted."""
    v3_orders = [NewV3Order(1000 + index, 1) for index in range(100)]
    async with SandboxServer(rate=None) as server:
        async with B2BClient("wrong-token", base_url=server.url, rate_limit=None) as client:
            report = await client.v3.orders.create_many(v3_orders, concurrency=4)
        assert 1 <= len(server.requests) <= 4
    assert_one_outcome_each(report, 100)
    assert isinstance(report.stopped_by, AuthenticationError)
    # The orders in flight share the extra field check's one fetch: its 401 is each one's.
    assert all(isinstance(outcome.error, AuthenticationError) for outcome in report.failed)
    assert len(report.not_attempted) == 100 - len(report.failed)


@pytest.mark.parametrize("concurrency", [1, 8])
async def test_unreachable_server_ends_the_run_after_a_bounded_number_of_attempts(
    concurrency: int,
) -> None:
    """A closed port: max(concurrency, streak) orders sent, each spending its attempts."""
    retry = RetryPolicy(attempts=5, initial_wait=0.001, max_wait=0.01)
    url = f"http://127.0.0.1:{closed_port()}"
    async with B2BClient(DEFAULT_TOKEN, base_url=url, retry=retry, rate_limit=None) as client:
        report = await client.orders.create_many(orders(300), concurrency=concurrency)
    sent = max(concurrency, UNREACHABLE_STREAK)
    assert client.stats.requests == sent * retry.attempts
    assert_one_outcome_each(report, 300)
    assert isinstance(report.stopped_by, APIConnectionError)
    assert not report.stopped_by.may_have_reached_server
    assert [outcome.index for outcome in report.failed] == list(range(sent))
    assert all(could_not_connect(outcome.error) for outcome in report.failed)
    assert len(report.not_attempted) == 300 - sent


async def test_a_host_whose_connections_never_complete_ends_the_run() -> None:
    """A host that drops connections, with the timeout given in seconds: each attempt fails
    connecting, which sent nothing, so the run stops after max(concurrency, streak) orders
    instead of spending every order's attempts."""
    retry = RetryPolicy(attempts=1)
    with unanswered_port() as url:
        async with B2BClient(
            DEFAULT_TOKEN, base_url=url, timeout=2.0, retry=retry, rate_limit=None
        ) as client:
            report = await asyncio.wait_for(
                client.orders.create_many(orders(12), concurrency=2), 60
            )
    assert_one_outcome_each(report, 12)
    assert isinstance(report.stopped_by, APITimeoutError)
    assert not report.stopped_by.may_have_reached_server
    assert len(report.failed) == UNREACHABLE_STREAK
    assert len(report.not_attempted) == 12 - UNREACHABLE_STREAK


async def test_a_stream_stops_sending_and_still_yields_every_input() -> None:
    """create_stream over an async source: stopped_by is set, every index comes out once."""

    async def source() -> AsyncIterator[NewOrder]:
        for order in orders(50):
            await asyncio.sleep(0)
            yield order

    async with SandboxServer(rate=None) as server:
        async with B2BClient("wrong-token", base_url=server.url, rate_limit=None) as client:
            async with client.orders.create_stream(source(), concurrency=4) as stream:
                before = stream.stopped_by
                seen = [outcome async for outcome in stream]
        assert len(server.requests) <= 4
    assert before is None
    assert sorted(outcome.index for outcome in seen) == list(range(50))
    assert isinstance(stream.stopped_by, AuthenticationError)
    assert sum(not outcome.attempted for outcome in seen) == 50 - len(server.requests)


def refusing_after(
    errors: dict[int, B2BError], *, release: asyncio.Event | None = None
) -> tuple[Any, list[str]]:
    """A register that raises ``errors[n]`` for order ``BCn`` and registers the others.

    The others wait for ``release`` first, when given; the ids it was called with are kept.
    """
    called: list[str] = []

    async def register(order: NewOrder) -> CreatedOrder:
        called.append(order.order_id)
        await asyncio.sleep(0)  # as a request would, let the other workers start theirs
        number = int(order.order_id.removeprefix("BC"))
        if number in errors:
            raise errors[number]
        if release is not None:
            await release.wait()
        return CreatedOrder(order.order_id)

    return register, called


async def one_at_a_time(errors: dict[int, B2BError]) -> tuple[BulkReport[Any, Any], list[str]]:
    """A run of 20 orders, one worker, through :func:`refusing_after`: the report, and the
    ids of the orders sent, in turn."""
    register, called = refusing_after(errors)
    return await run_bulk(register, orders(20), 1, order_type=NewOrder), called


def refused_connection() -> APIConnectionError:
    return APIConnectionError("could not connect: refused", may_have_reached_server=False)


@pytest.mark.parametrize(
    "error",
    [AuthenticationError("no", status=401), PermissionDeniedError("no", status=403)],
    ids=["401", "403"],
)
async def test_a_401_or_403_stops_at_once_and_orders_in_flight_finish(error: B2BError) -> None:
    """The first 401/403 stops the run; the orders already in flight finish normally."""
    release = asyncio.Event()
    register, called = refusing_after({0: error}, release=release)

    def on_progress(outcome: OrderOutcome[NewOrder, CreatedOrder]) -> None:
        release.set()  # the refusal is in: let the three others in flight finish

    report = await run_bulk(register, orders(20), 4, on_progress, order_type=NewOrder)
    assert called == ["BC0", "BC1", "BC2", "BC3"]
    assert report.stopped_by is error
    assert [outcome.index for outcome in report.failed] == [0]
    assert [outcome.index for outcome in report.succeeded] == [1, 2, 3]
    assert [outcome.index for outcome in report.not_attempted] == list(range(4, 20))
    assert_one_outcome_each(report, 20)


async def test_unreachable_needs_a_streak_and_anything_else_resets_it() -> None:
    """Two could-not-connect outcomes then a success: no stop; three in a row: stop."""
    errors: dict[int, B2BError] = {n: refused_connection() for n in (0, 1, 3, 4, 6, 7, 8)}
    report, called = await one_at_a_time(errors)
    assert called == [f"BC{n}" for n in range(9)]
    assert report.stopped_by is errors[8]
    assert [outcome.index for outcome in report.succeeded] == [2, 5]
    assert len(report.not_attempted) == 11


@pytest.mark.parametrize(
    "refused",
    [
        InvalidOrderError("bad extra field"),
        DeadlineUnreachableError("queue", estimated_wait=9.0, deadline=1.0),
        NotSentTimeoutError("the call's deadline passed while it waited for a place"),
    ],
    ids=["invalid", "deadline", "deadline-passed-in-the-queue"],
)
async def test_an_order_refused_before_sending_leaves_the_streak_as_it_is(
    refused: B2BError,
) -> None:
    """Orders refused before any request say nothing of the server: the streak goes on."""
    errors: dict[int, B2BError] = {0: refused_connection(), 1: refused, 2: refused_connection()}
    errors |= {3: refused, 4: refused_connection()}
    report, called = await one_at_a_time(errors)
    assert called == [f"BC{n}" for n in range(5)]
    assert report.stopped_by is errors[4]
    assert len(report.not_attempted) == 15


@pytest.mark.parametrize(
    "error",
    [
        APIConnectionError("reset by peer"),  # may have reached the server: an open connection
        APITimeoutError("timed out waiting for the response"),
        ServerError("down", status=503),
        NotFoundError("no such company", status=404),
        B2BError("unexpected OSError while registering"),
    ],
    ids=["reset", "read-timeout", "503", "404", "other"],
)
async def test_failures_of_one_order_never_stop_the_run(error: B2BError) -> None:
    """Errors that may be about one order, or one attempt, leave every order attempted."""
    register, called = refusing_after(dict.fromkeys(range(10), error))
    report = await run_bulk(register, orders(10), 2, order_type=NewOrder)
    assert len(called) == 10
    assert report.stopped_by is None
    assert report.not_attempted == []
    assert len(report.failed) == 10


def window_lost_to(cause: B2BError | None) -> RegistrationWindowClosedError:
    """The error of a V3 create that could not meet its window, after ``cause`` (if any)."""
    error = RegistrationWindowClosedError("lost", bc_order_id=1, window_ended_at=datetime.now(UTC))
    error.__cause__ = cause
    return error


async def test_a_window_lost_to_failed_connections_counts_toward_the_streak() -> None:
    """V3 creates whose window was lost to refused connections stop the run, as refusals do."""
    causes = [refused_connection() for _ in range(UNREACHABLE_STREAK)]
    lost: dict[int, B2BError] = {n: window_lost_to(c) for n, c in enumerate(causes)}
    report, called = await one_at_a_time(lost)
    assert called == [f"BC{n}" for n in range(UNREACHABLE_STREAK)]
    assert report.stopped_by is causes[-1]
    assert len(report.not_attempted) == 20 - UNREACHABLE_STREAK


async def test_a_window_lost_to_an_answer_resets_the_streak_and_one_past_leaves_it() -> None:
    """A window lost after a 503 is an answer (the count starts again); one that passed
    before any request sent nothing (the count goes on)."""
    errors: dict[int, B2BError] = {0: refused_connection()}
    errors |= {1: window_lost_to(ServerError("down", status=503)), 2: refused_connection()}
    errors |= {3: window_lost_to(None), 4: refused_connection(), 5: refused_connection()}
    report, called = await one_at_a_time(errors)
    assert called == [f"BC{n}" for n in range(6)]
    assert report.stopped_by is errors[5]


async def test_a_v3_run_whose_windows_are_lost_to_a_closed_port_stops() -> None:
    """V3 orders created just now, a closed port: each create loses its window after a
    refused connection (its retry would wait 20 s), and the run stops after the streak."""
    retry = RetryPolicy(attempts=5, initial_wait=20.0, max_wait=20.0)
    created = datetime.now(UTC)
    v3_orders = [NewV3Order(1000 + index, 1, created_at=created) for index in range(30)]
    url = f"http://127.0.0.1:{closed_port()}"
    async with B2BClient(
        DEFAULT_TOKEN, base_url=url, retry=retry, rate_limit=None, check_extra_fields=False
    ) as client:
        report = await client.v3.orders.create_many(v3_orders, concurrency=1)
    assert_one_outcome_each(report, 30)
    assert isinstance(report.stopped_by, APIConnectionError)
    assert len(report.failed) == UNREACHABLE_STREAK
    assert all(
        isinstance(outcome.error, RegistrationWindowClosedError)
        and isinstance(outcome.error.__cause__, APIConnectionError)
        for outcome in report.failed
    )
    assert client.stats.requests == UNREACHABLE_STREAK


def refused_retry(cause: B2BError | None) -> DeadlineUnreachableError:
    """The error of a retry the limiter could not fit in time, after ``cause`` (if any)."""
    error = DeadlineUnreachableError("no budget", estimated_wait=9.0, deadline=1.0)
    error.__cause__ = cause
    return error


async def test_a_retry_refused_for_want_of_time_after_failed_connections_counts() -> None:
    """A call whose attempts could not connect, then whose retry (or V3 window) was lost for
    want of budget, counts as a call that could not connect, as its cause did."""
    causes = [refused_connection() for _ in range(UNREACHABLE_STREAK)]
    errors: dict[int, B2BError] = {0: refused_retry(causes[0])}
    errors |= {1: window_lost_to(refused_retry(causes[1])), 2: window_lost_to(causes[2])}
    report, called = await one_at_a_time(errors)
    assert called == [f"BC{n}" for n in range(UNREACHABLE_STREAK)]
    assert report.stopped_by is causes[-1]


async def test_a_refused_retry_after_an_answer_resets_the_streak_and_alone_leaves_it() -> None:
    """A retry refused for want of time after a 503 was answered (the count starts again);
    one with no attempt before it sent nothing (the count goes on)."""
    errors: dict[int, B2BError] = {0: refused_connection()}
    errors |= {1: window_lost_to(refused_retry(ServerError("down", status=503)))}
    errors |= {2: refused_connection(), 3: window_lost_to(refused_retry(None))}
    errors |= {4: refused_connection(), 5: refused_connection()}
    report, called = await one_at_a_time(errors)
    assert called == [f"BC{n}" for n in range(6)]
    assert report.stopped_by is errors[5]


async def test_orders_sharing_one_calls_failure_count_as_one_call() -> None:
    """The same could-not-connect error met by several orders (one shared call) counts once."""
    shared = refused_connection()
    errors: dict[int, B2BError] = dict.fromkeys(range(4), shared)
    errors |= {4: refused_connection(), 5: refused_connection()}
    report, called = await one_at_a_time(errors)
    assert called == [f"BC{n}" for n in range(6)]
    assert report.stopped_by is errors[5]


async def test_a_shared_failure_counts_once_when_other_orders_finish_between_its_orders() -> None:
    """One call's failure, met by orders that finish around another call's, counts once:
    three distinct calls, not three outcomes, stop the run."""
    shared = refused_connection()
    errors: dict[int, B2BError] = {0: shared, 1: refused_connection(), 2: shared}
    errors |= {3: refused_connection()}
    report, called = await one_at_a_time(errors)
    assert called == [f"BC{n}" for n in range(4)]
    assert report.stopped_by is errors[3]


async def test_a_v3_run_needs_three_calls_that_cannot_connect_not_one_shared_fetch() -> None:
    """A closed port with the extra field check: the fetch the workers share is one call
    that could not connect, so the run stops after three calls' attempts, not one's."""
    retry = RetryPolicy(attempts=5, initial_wait=0.001, max_wait=0.01)
    url = f"http://127.0.0.1:{closed_port()}"
    async with B2BClient(DEFAULT_TOKEN, base_url=url, retry=retry, rate_limit=None) as client:
        report = await client.v3.orders.create_many(
            [NewV3Order(1000 + index, 1) for index in range(50)], concurrency=8
        )
    assert_one_outcome_each(report, 50)
    assert isinstance(report.stopped_by, APIConnectionError)
    assert client.stats.requests == UNREACHABLE_STREAK * retry.attempts
    assert len({id(outcome.error) for outcome in report.failed}) == UNREACHABLE_STREAK


def test_the_rule_counts_connect_timeouts_and_keeps_the_first_reason() -> None:
    """A connect timeout counts as could-not-connect; a later 401 does not replace the reason."""
    timeout = APITimeoutError("timed out connecting", may_have_reached_server=False)
    assert could_not_connect(timeout)
    watch = SystemicFailure()
    for index in range(UNREACHABLE_STREAK):
        watch.observe(OrderOutcome(index, None, error=timeout))
    assert watch.reason is timeout
    watch.observe(OrderOutcome(9, None, error=AuthenticationError("no", status=401)))
    assert watch.reason is timeout


def test_a_failure_on_an_open_connection_starts_no_unreachable_streak() -> None:
    """A read timeout, which may have reached the server, is no failure to connect."""
    watch = SystemicFailure()
    for index in range(UNREACHABLE_STREAK):
        watch.observe(OrderOutcome(index, None, error=APITimeoutError("read timeout")))
    assert not watch.stopped


def test_is_systemic_reads_what_a_late_call_met_and_spares_an_order_s_own_failure() -> None:
    """A 401, a 403 or a call that could not connect, also under a window or retry lost to
    it, would repeat for every order; a 503, a bad order or no error would not."""
    systemic = [
        AuthenticationError("no", status=401),
        PermissionDeniedError("no", status=403),
        refused_connection(),
        window_lost_to(refused_retry(refused_connection())),
    ]
    assert all(is_systemic(error) for error in systemic)
    alone: list[B2BError | None] = [ServerError("down", status=503), window_lost_to(None), None]
    alone += [BadRequestError("bad", status=400), window_lost_to(ServerError("down", status=503))]
    assert not any(is_systemic(error) for error in alone)


def test_the_run_is_told_as_it_stops_and_again_for_a_failure_after_a_halt() -> None:
    """on_stop hears a halt once, however often it is asked, and a 401 coming after it."""
    told: list[B2BError | None] = []
    watch = SystemicFailure(on_stop=lambda: told.append(watch.reason))
    watch.halt()
    watch.halt()
    assert told == [None]
    assert watch.stopped
    refused = AuthenticationError("no", status=401)
    watch.observe(OrderOutcome(0, None, error=refused))
    assert told == [None, refused]
    assert watch.reason is refused


def test_the_rule_keeps_only_the_last_failures_it_counted() -> None:
    """A long run whose calls now and then cannot connect holds no failure counted long ago."""
    watch = SystemicFailure()
    error = refused_connection()
    watch.observe(OrderOutcome(0, None, error=error))
    first = weakref.ref(error)
    del error
    for index in range(1, 100):
        failure = refused_connection() if index % 2 == 0 else None
        watch.observe(OrderOutcome(index, None, error=failure))
    gc.collect()
    assert first() is None
    assert not watch.stopped


async def test_an_order_withdrawn_unsent_leaves_the_unreachable_count_as_it_is() -> None:
    """Two calls that could not connect, a halt, an order withdrawn, a third such call: the
    streak is complete, and the run says why it would have stopped."""
    watch = SystemicFailure()
    for _ in range(4):
        assert await watch.take_turn()
    errors = [refused_connection() for _ in range(UNREACHABLE_STREAK)]
    for index, error in enumerate(errors[:-1]):
        watch.finished(OrderOutcome(index, None, error=error))
    watch.halt()
    watch.finished(OrderOutcome(2, None, attempted=False))
    watch.finished(OrderOutcome(3, None, error=errors[-1]))
    assert watch.reason is errors[-1]


async def test_a_halt_ends_the_wait_of_an_order_held_back_by_an_open_streak() -> None:
    """An order waiting for the one out while a streak is open learns of a halt at once,
    and is not sent, without waiting for the order out to finish."""
    watch = SystemicFailure()
    assert await watch.take_turn()
    assert await watch.take_turn()
    watch.finished(OrderOutcome(0, None, error=refused_connection()))
    waiting = asyncio.create_task(watch.take_turn())
    await asyncio.sleep(0)
    assert not waiting.done()  # one order is out and the streak is open
    watch.halt()
    await asyncio.sleep(0)
    assert waiting.done()
    assert waiting.result() is False


async def test_while_a_streak_is_open_no_new_order_starts_beside_one_out() -> None:
    """After a could-not-connect, the next order waits for the one out; a success frees it."""
    release = asyncio.Event()
    register, called = refusing_after({0: refused_connection()}, release=release)
    run = asyncio.create_task(run_bulk(register, orders(6), 2, order_type=NewOrder))
    for _ in range(20):
        await asyncio.sleep(0)
    assert called == ["BC0", "BC1"]  # BC0 could not connect; BC1 is out, so BC2 waits
    release.set()
    report = await run
    assert sorted(called) == [f"BC{n}" for n in range(6)]
    assert report.stopped_by is None
    assert [outcome.index for outcome in report.failed] == [0]


async def test_a_po_numbers_already_exists_is_the_orders_failure_not_its_registration() -> None:
    """A 400 saying a PO number already exists, answered to every order in a bulk run, fails
    each order: none is reported as registered, which a journal would skip for good."""

    async def duplicate_po(request: web.Request) -> web.Response:
        body = {"code": 40010, "data": {"poNumber": "PO number PO-7 already exists"}}
        return web.json_response(body, status=400)

    app = web.Application()
    app.router.add_post("/api/v2/io/companies/{company}/user/{customer}/orders", duplicate_po)
    async with serving(app) as url, B2BClient("t0ken-abcdef", base_url=url, rate_limit=None) as c:
        report = await c.orders.create_many(orders(3))
    assert [outcome.ok for outcome in report.outcomes] == [False] * 3
    for outcome in report.outcomes:
        assert type(outcome.error) is BadRequestError


@pytest.mark.parametrize(
    ("source", "named"),
    [
        (NewOrder(1, 2, "BC1", 1), "got one NewOrder: pass \\[order\\]"),
        (None, "got NoneType"),
        ("BC1,BC2", "got str"),
        (b"BC1", "got bytes"),
        (bytearray(), "got bytearray"),
        (memoryview(b""), "got memoryview"),
        ({"BC1": 1}, "got dict"),
        (7, "got int"),
    ],
)
async def test_a_source_that_is_no_collection_of_orders_is_refused_at_once(
    source: Any, named: str
) -> None:
    """One order, text or a mapping would be read item by item as orders; nothing is sent."""
    async with SandboxServer(rate=None) as server:
        async with client_for(server) as client:
            for call in (client.orders.create_many, client.orders.create_stream):
                with pytest.raises(TypeError, match=f"orders must be an iterable .*{named}"):
                    await _started(call(source))
            with pytest.raises(TypeError, match="iterable or async iterable of NewV3Order"):
                await _started(client.v3.orders.ensure_many(NewV3Order(1, 2)))  # type: ignore[arg-type]
        assert server.requests == []


@pytest.mark.parametrize("callback", [True, "print", [], 0])
async def test_an_on_progress_that_cannot_be_called_is_refused_before_sending(
    callback: Any,
) -> None:
    """An on_progress that is not callable is a TypeError naming it; nothing is sent."""
    async with SandboxServer(rate=None) as server:
        async with client_for(server) as client:
            runs = (
                lambda: client.orders.create_many(orders(3), on_progress=callback),
                lambda: client.v3.orders.create_many([NewV3Order(1, 1)], on_progress=callback),
                lambda: client.v3.orders.ensure_many([NewV3Order(1, 1)], on_progress=callback),
            )
            for run in runs:
                with pytest.raises(TypeError, match="on_progress must be callable or None, got"):
                    await run()
        assert server.requests == []


async def _started(run: object) -> object:
    """Await a bulk call's coroutine; a stream is returned as it is."""
    return await run if asyncio.iscoroutine(run) else run


#: One request a minute: after the first, every order waits a minute for budget.
ONE_A_MINUTE = RateLimit(requests=1, per=60.0)


async def test_wrong_token_under_pacing_withdraws_the_orders_waiting_for_budget() -> None:
    """Paced at one request a minute, a wrong token costs one request: the other orders in
    flight were waiting for budget, and are withdrawn at once instead of each spending a
    minute's budget on a 401."""
    async with SandboxServer(rate=None) as server:
        async with B2BClient("wrong-token", base_url=server.url, rate_limit=ONE_A_MINUTE) as c:
            run = c.orders.create_many(orders(50), concurrency=8)
            report = await asyncio.wait_for(run, 30)  # without withdrawing: 7 minutes
        assert len(server.requests) == 1
    assert_one_outcome_each(report, 50)
    assert isinstance(report.stopped_by, AuthenticationError)
    assert [outcome.index for outcome in report.failed] == [0]
    assert len(report.not_attempted) == 49
    assert all(outcome.error is None for outcome in report.not_attempted)


#: Two requests at once, then one a minute.
TWO_THEN_ONE_A_MINUTE = RateLimit(requests=2, per=60.0, burst=2)


async def stop_after_the_first(stream: Any) -> list[Any]:
    """Every outcome of ``stream``, which is stopped as the first comes out."""
    seen = []
    async with stream:
        async for outcome in stream:
            seen.append(outcome)
            stream.stop()
    return seen


@pytest.mark.parametrize("api", ["v2", "v3"])
async def test_stopping_a_stream_withdraws_the_orders_waiting_for_budget(api: str) -> None:
    """stop() after the first outcome: the orders sent finish, those waiting for budget come
    out not attempted, every later input too, and nothing more is sent; stopped_by stays None.
    (V3 spends one of the two requests on the extra field configurations.)"""
    async with SandboxServer(rate=None) as server:
        async with client_for(server, rate_limit=TWO_THEN_ONE_A_MINUTE) as client:
            if api == "v2":
                stream: Any = client.orders.create_stream(orders(20), concurrency=4)
            else:
                v3 = [NewV3Order(1000 + index, 1) for index in range(20)]
                stream = client.v3.orders.ensure_stream(v3, concurrency=4)
            seen = await asyncio.wait_for(stop_after_the_first(stream), 30)  # else: minutes
            assert client.stats.requests == len(server.requests) == 2
        registered = len(server.orders)
    assert registered == {"v2": 2, "v3": 1}[api]
    assert sorted(outcome.index for outcome in seen) == list(range(20))
    assert sum(outcome.ok for outcome in seen) == registered
    assert sum(not outcome.attempted for outcome in seen) == 20 - registered
    assert stream.stopped_by is None


async def test_a_stream_stopped_before_it_starts_sends_nothing() -> None:
    """stop() before the first iteration: every input comes out not attempted."""
    async with SandboxServer(rate=None) as server:
        async with client_for(server) as client:
            stream = client.orders.create_stream(orders(10), concurrency=4)
            stream.stop()
            seen = [outcome async for outcome in stream]
        assert server.requests == []
    assert sorted(outcome.index for outcome in seen) == list(range(10))
    assert not any(outcome.attempted for outcome in seen)


async def test_an_order_on_the_wire_when_the_stream_stops_finishes_its_retries() -> None:
    """stop() while an order's request is on the wire: the request left, so the retry after
    its connection drops is sent, and the order comes out registered, not withdrawn."""
    arrived, release = asyncio.Event(), asyncio.Event()
    attempts: list[str] = []

    async def drop_the_first_then_register(request: web.Request) -> web.Response:
        order_id = (await request.json())["orderId"]
        attempts.append(order_id)
        if len(attempts) == 1:
            arrived.set()
            await release.wait()
            assert request.transport is not None
            request.transport.close()  # the connection drops before any answer
        return web.json_response({"code": 200, "data": {"orderId": order_id}, "meta": {}})

    app = web.Application()
    app.router.add_post(
        "/api/v2/io/companies/{company}/user/{customer}/orders", drop_the_first_then_register
    )
    async with serving(app) as url:
        async with B2BClient("t0ken-abcdef", base_url=url, retry=QUICK) as client:
            stream = client.orders.create_stream(orders(1), concurrency=1)
            collecting = asyncio.create_task(stop_after_the_first(stream))
            await asyncio.wait_for(arrived.wait(), 60)
            stream.stop()
            release.set()
            seen = await asyncio.wait_for(collecting, 60)
            assert client.stats.in_flight == 0
    assert attempts == ["BC0", "BC0"]
    assert [(outcome.attempted, outcome.result) for outcome in seen] == [
        (True, CreatedOrder("BC0"))
    ]
