"""The hook API: which events a call yields, in what order, what they hold and never hold."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

import b2b_async._hooks as hooks_module
from b2b_async import (
    APIConnectionError,
    B2BClient,
    ClientClosedError,
    ClientStats,
    NewOrder,
    Priority,
    RetryPolicy,
)
from b2b_async._events import (
    BudgetWaited,
    BulkOutcome,
    CallFinished,
    CallStarted,
    Event,
    Hook,
    HookFactory,
    RateLimited,
    RequestFailed,
    RequestSent,
    ResponseReceived,
    RetryScheduled,
    route_of,
)
from b2b_async._hooks import get_hooks, listening_hooks, report_outcome, set_hooks
from b2b_async.sandbox import FaultKind, Faults, SandboxServer
from tests.sandbox_helpers import seed_for

TOKEN = "tok-SECRET-9f8e7d6c5b4a"
STORE_HASH = "hash-SECRET-1234"
QUICK = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.02)


@pytest.fixture(autouse=True)
def restore_hooks() -> Iterator[None]:
    """Every test starts and ends with the default hooks."""
    set_hooks(None)
    yield
    set_hooks(None)


@pytest.fixture
def events() -> list[Event]:
    """Events of every call, recorded by the only hook."""
    recorded: list[Event] = []
    set_hooks([recorded.append])
    return recorded


def client_for(server: SandboxServer, **options: object) -> B2BClient:
    """A client of ``server`` authenticated with the secret token and store hash."""
    settings: dict[str, object] = {"retry": QUICK, "store_hash": STORE_HASH}
    settings.update(options)
    return B2BClient(TOKEN, base_url=server.url, **settings)  # type: ignore[arg-type]


def sandbox(pattern: list[FaultKind | None] | None = None) -> SandboxServer:
    """A sandbox for the secret token whose first requests meet ``pattern``'s faults."""
    faults = Faults(http_429=0.2, http_503=0.2) if pattern else Faults()
    seed = seed_for(faults, pattern) if pattern else None
    return SandboxServer(rate=None, faults=faults, seed=seed, token=TOKEN, store_hash=STORE_HASH)


async def create(client: B2BClient, order_id: str = "BC1") -> None:
    """Register one order with sandbox ids."""
    await client.orders.create(
        company_id=1, customer_id=1, order_id=order_id, total_inc_tax=Decimal("9.50")
    )


def kinds(events: list[Event]) -> list[type[Event]]:
    """The type of each event, in order."""
    return [type(event) for event in events]


async def test_a_call_yields_its_events_in_order(events: list[Event]) -> None:
    """A paced call that succeeds at once: started, budget, sent, response, finished."""
    async with sandbox() as server, client_for(server) as client:
        await create(client)
    assert kinds(events) == [CallStarted, BudgetWaited, RequestSent, ResponseReceived, CallFinished]
    assert len({id(event.call) for event in events if not isinstance(event, BulkOutcome)}) == 1
    started, finished = events[0], events[-1]
    assert isinstance(started, CallStarted)
    assert isinstance(finished, CallFinished)
    call = started.call
    assert (call.method, call.route, call.priority) == (
        "POST",
        route_of("/api/v2/io/companies/1/user/1/orders"),
        "normal",
    )
    assert call.url == f"{server.url}/api/v2/io/companies/1/user/1/orders"
    assert (call.server_address, call.server_port) == ("127.0.0.1", server.port)
    assert (finished.attempts, finished.retries, finished.status, finished.error) == (
        1,
        0,
        200,
        None,
    )


async def test_a_429_then_success_shows_the_rate_limit_and_the_retry(events: list[Event]) -> None:
    """A 429 answer yields RateLimited and RetryScheduled, then a second attempt succeeds."""
    async with sandbox([FaultKind.HTTP_429, None]) as server:
        async with client_for(server, rate_limit=None) as client:
            await create(client)
    assert kinds(events) == [
        CallStarted,
        RequestSent,
        ResponseReceived,
        RateLimited,
        RetryScheduled,
        RequestSent,
        ResponseReceived,
        CallFinished,
    ]
    limited, retry, finished = events[3], events[4], events[-1]
    assert isinstance(limited, RateLimited)
    assert limited.cooldown is None
    assert isinstance(retry, RetryScheduled)
    assert retry.attempt == 1
    assert retry.wait == 1.0
    assert isinstance(finished, CallFinished)
    assert (finished.attempts, finished.retries, finished.status) == (2, 1, 200)
    assert (client.stats.requests, client.stats.retries, client.stats.rate_limited) == (2, 1, 1)


async def test_a_retry_that_never_leaves_is_no_retry(events: list[Event]) -> None:
    """A retry whose wait the client's closing ends sends nothing, so it counts as no retry."""
    scheduled = asyncio.Event()

    def note_retry(event: Event) -> None:
        if isinstance(event, RetryScheduled):
            scheduled.set()

    set_hooks([events.append, note_retry])
    slow = RetryPolicy(attempts=3, initial_wait=60.0, max_wait=60.0)
    async with sandbox([FaultKind.HTTP_503, None]) as server:
        client = client_for(server, retry=slow, rate_limit=None)
        call = asyncio.create_task(create(client))
        await scheduled.wait()
        await client.aclose()
        with pytest.raises(ClientClosedError):
            await call
    finished = events[-1]
    assert isinstance(finished, CallFinished)
    assert (finished.attempts, finished.retries) == (1, 0)
    assert (client.stats.requests, client.stats.retries) == (1, 0)


async def test_a_failed_call_finishes_with_its_error(events: list[Event]) -> None:
    """A call whose every attempt meets a connection error reports each, then its error."""
    async with sandbox() as server:
        url = server.url
    client = B2BClient(TOKEN, base_url=url, retry=QUICK, rate_limit=None)
    async with client:
        with pytest.raises(APIConnectionError) as info:
            await create(client)
    failures = [event for event in events if isinstance(event, RequestFailed)]
    assert len(failures) == QUICK.attempts
    finished = events[-1]
    assert isinstance(finished, CallFinished)
    assert finished.error is info.value
    assert finished.status is None
    assert client.stats.in_flight == 0


async def test_no_event_holds_a_secret(events: list[Event]) -> None:
    """Neither the token nor the store hash appears in any event's fields."""
    async with sandbox([FaultKind.HTTP_503, FaultKind.HTTP_429, None]) as server:
        async with client_for(server) as client:
            await create(client)
            await client.orders.create_many([NewOrder(1, 1, "BC2", Decimal(1))])
    assert len(events) > 10
    for event in events:
        assert TOKEN not in repr(event)
        assert STORE_HASH not in repr(event)


async def test_a_view_s_priority_is_on_its_calls(events: list[Event]) -> None:
    """A view made with priority="urgent" labels its calls so; the client's stay normal."""
    async with sandbox() as server, client_for(server) as client:
        await create(client.with_options(priority="urgent"), "BC1")
        await create(client, "BC2")
    priorities = [event.call.priority for event in events if isinstance(event, CallStarted)]
    assert priorities == ["urgent", "normal"]


async def test_bulk_runs_report_each_outcome(events: list[Event]) -> None:
    """A bulk run yields one BulkOutcome per input, ok or not."""
    async with sandbox() as server, client_for(server) as client:
        report = await client.orders.create_many(
            [NewOrder(1, 1, "BC1", Decimal(1)), NewOrder(1, 1, "BC1", Decimal(1)), "junk"]  # type: ignore[list-item]
        )
    outcomes = sorted((e for e in events if isinstance(e, BulkOutcome)), key=lambda e: e.index)
    assert [(o.index, o.ok) for o in outcomes] == [(o.index, o.ok) for o in report.outcomes]
    assert sum(o.already_registered for o in outcomes) == 1
    assert outcomes[2].error is not None
    assert not outcomes[2].ok


async def test_a_stopped_run_reports_every_input_sent_or_not(events: list[Event]) -> None:
    """A run stopped by a 401 yields one BulkOutcome per input: the ones never sent are
    marked ``attempted=False``, not ok, with no error."""
    backlog = [NewOrder(1, 1, f"BC{n}", Decimal(1)) for n in range(20)]
    async with sandbox() as server:
        async with B2BClient("wrong-token", base_url=server.url, rate_limit=None) as client:
            report = await client.orders.create_many(backlog, concurrency=2)
    outcomes = sorted((e for e in events if isinstance(e, BulkOutcome)), key=lambda e: e.index)
    assert [outcome.index for outcome in outcomes] == list(range(20))
    unsent = [outcome.index for outcome in outcomes if not outcome.attempted]
    assert unsent == [outcome.index for outcome in report.not_attempted]
    assert len(unsent) >= 20 - 2
    assert all(not outcomes[index].ok and outcomes[index].error is None for index in unsent)


async def test_a_broken_hook_is_logged_and_the_call_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A hook that raises fails no call; the failure is logged and later hooks still run."""
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("boom")

    set_hooks([broken, seen.append])
    with caplog.at_level(logging.WARNING, logger="b2b_async"):
        async with sandbox() as server, client_for(server, rate_limit=None) as client:
            await create(client)
    assert len(seen) == 4
    assert "hook" in caplog.text
    assert "CallStarted" in caplog.text


async def test_a_hook_broken_for_good_warns_once_per_error_class(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A hook failing at every event of three calls logs one warning, with its traceback;
    its repeats are debug records. Another class of error warns again, and so does the same
    one once hooks are set again."""
    errors: list[type[Exception]] = [RuntimeError]

    def broken(event: Event) -> None:
        raise errors[0]("boom")

    set_hooks([broken])
    with caplog.at_level(logging.DEBUG, logger="b2b_async"):
        async with sandbox() as server, client_for(server, rate_limit=None) as client:
            for index in range(3):
                await create(client, f"BC{index}")
            errors[0] = ValueError
            await create(client, "BC3")
            set_hooks([broken])
            await create(client, "BC4")
    failures = [record for record in caplog.records if "failed on" in record.getMessage()]
    assert all(record.exc_info is not None for record in failures)
    assert len(failures) == 5 * 4  # four events a call
    warned = [record for record in failures if record.levelno == logging.WARNING]
    assert [record.exc_info[0] for record in warned if record.exc_info] == [
        RuntimeError,
        ValueError,
        ValueError,
    ]
    assert all("CallStarted" in record.getMessage() for record in warned)
    assert "repeats of this error are logged at DEBUG" in warned[0].getMessage()


def test_a_hook_that_fails_to_say_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    """A listening() that always raises warns at the first call only."""

    class Undecided(Quiet):
        def listening(self) -> bool:
            raise RuntimeError("cannot tell")

    set_hooks([Undecided(listening=False)])
    with caplog.at_level(logging.DEBUG, logger="b2b_async"):
        for _ in range(3):
            listening_hooks()
    levels = [record.levelno for record in caplog.records]
    assert levels == [logging.WARNING, logging.DEBUG, logging.DEBUG]


def test_factories_are_built_once_on_first_use() -> None:
    """A HookFactory builds its hook at the first get_hooks(); one returning None is left out."""
    built: list[Hook] = []

    def build() -> Hook:
        built.append(print)
        return print

    set_hooks([HookFactory(build), HookFactory(lambda: None)])
    assert built == []
    assert get_hooks() == (print,)
    assert get_hooks() == (print,)
    assert len(built) == 1


def test_a_factory_that_raises_is_logged_and_left_out_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A factory whose building fails (a metrics agent that is down) leaves its hook out and
    is not tried again at every call; the other hooks are in use."""
    tries: list[int] = []

    def connect() -> Hook:
        tries.append(1)
        raise ConnectionRefusedError("statsd is down")

    set_hooks([HookFactory(connect), print])
    with caplog.at_level(logging.WARNING, logger="b2b_async"):
        assert get_hooks() == (print,)
        assert get_hooks() == (print,)
    assert tries == [1]
    assert "statsd is down" in caplog.text


async def test_a_factory_that_builds_a_coroutine_function_is_logged_and_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A factory's ``async def`` or uncallable hook, which set_hooks refuses, is left out."""

    async def awaiting(event: Event) -> None:
        raise AssertionError("never run")

    not_callable: Any = "statsd"
    set_hooks([HookFactory(lambda: awaiting), HookFactory(lambda: not_callable), print])
    with caplog.at_level(logging.WARNING, logger="b2b_async"):
        assert get_hooks() == (print,)
    assert [record.levelno for record in caplog.records] == [logging.WARNING] * 2
    assert "which is no hook" in caplog.text


async def test_a_factory_that_raises_fails_no_call(events: list[Event]) -> None:
    """A call made while a factory cannot build its hook is sent and succeeds."""

    def connect() -> Hook:
        raise ConnectionRefusedError("statsd is down")

    set_hooks([HookFactory(connect), events.append])
    async with sandbox() as server, client_for(server, rate_limit=None) as client:
        await create(client)
        assert server.registrations("BC1") == 1
    assert kinds(events) == [CallStarted, RequestSent, ResponseReceived, CallFinished]


def test_call_finished_reaches_the_hooks_in_the_reverse_order() -> None:
    """CallStarted reaches the hooks in their order, CallFinished in the reverse one."""
    heard: list[tuple[str, type]] = []

    def hook(name: str) -> Hook:
        return lambda event: heard.append((name, type(event)))

    set_hooks([hook("first"), hook("second")])
    with hooks_module.CallObserver(hooks_module.Tally(), get_hooks(), hooks_module.UNOBSERVED, ()):
        pass
    assert heard == [
        ("first", CallStarted),
        ("second", CallStarted),
        ("second", CallFinished),
        ("first", CallFinished),
    ]


def test_no_hooks_and_default_hooks() -> None:
    """An empty iterable switches hooks off; None restores the default OpenTelemetry hook."""
    set_hooks([])
    assert get_hooks() == ()
    set_hooks(None)
    assert [type(hook).__name__ for hook in get_hooks()] == ["OpenTelemetryHook"]


class Quiet:
    """A hook that records what it hears, and says whether it listens as it is told."""

    def __init__(self, listening: bool) -> None:
        self.answer = listening
        self.heard: list[Event] = []

    def __call__(self, event: Event) -> None:
        """Keep ``event``."""
        self.heard.append(event)

    def listening(self) -> bool:
        """Whether it wants the next call's events."""
        return self.answer


def test_a_hook_that_does_not_listen_is_left_out_of_the_call() -> None:
    """A hook whose listening() says False is still in use but hears nothing of the call."""
    quiet = Quiet(listening=False)
    set_hooks([quiet, print])
    assert get_hooks() == (quiet, print)
    assert listening_hooks() == (print,)
    quiet.answer = True  # asked again for every call
    assert listening_hooks() == (quiet, print)


def test_without_a_hook_that_can_tell_the_hooks_in_use_all_listen() -> None:
    """Hooks without listening() hear every call: the hooks in use, as they are."""
    set_hooks([print])
    assert listening_hooks() is get_hooks()


def test_a_hook_that_fails_to_say_is_told_anyway(caplog: pytest.LogCaptureFixture) -> None:
    """A listening() that raises fails nothing: the failure is logged and the hook hears."""

    class Undecided(Quiet):
        def listening(self) -> bool:
            raise RuntimeError("cannot tell")

    undecided = Undecided(listening=False)
    set_hooks([undecided])
    with caplog.at_level(logging.WARNING, logger="b2b_async"):
        assert listening_hooks() == (undecided,)
    assert "failed to say whether it listens" in caplog.text


def test_a_bulk_outcome_goes_only_to_hooks_that_listen() -> None:
    """report_outcome tells the listening hooks, not one that sits the run out."""
    quiet, loud = Quiet(listening=False), Quiet(listening=True)
    set_hooks([quiet, loud])
    report_outcome(BulkOutcome(0, ok=True, already_registered=False, error=None))
    assert (quiet.heard, loud.heard) == ([], [BulkOutcome(0, True, False, None)])


async def test_without_hooks_the_statistics_still_count() -> None:
    """With hooks off, a call still counts its request in the client's statistics."""
    set_hooks([])
    async with sandbox() as server, client_for(server) as client:
        await create(client)
    assert (client.stats.requests, client.stats.in_flight) == (1, 0)
    assert client.stats.budget_wait >= 0.0


@pytest.mark.parametrize(
    ("hooks", "message"),
    [
        ("ab", "got str"),
        (bytearray(), "got bytearray"),
        ({}, "got dict"),
        ([1], "got int"),
        (5, "got int"),
    ],
)
def test_set_hooks_refuses_what_is_no_hook_and_keeps_the_hooks_in_use(
    events: list[Event], hooks: Any, message: str
) -> None:
    """Text, a non-iterable or something not callable is a TypeError at once, not a logged
    failure at every event; the hooks set before stay."""
    before = get_hooks()
    with pytest.raises(TypeError, match=message):
        set_hooks(hooks)
    assert get_hooks() == before


class AsyncCallable:
    """An object whose ``__call__`` is a coroutine function."""

    async def __call__(self, event: Event) -> None:
        return None


async def async_hook(event: Event) -> None:
    return None


@pytest.mark.parametrize(
    "hook",
    [async_hook, AsyncCallable(), functools.partial(async_hook)],
    ids=["def", "obj", "partial"],
)
def test_set_hooks_refuses_a_coroutine_function(events: list[Event], hook: Any) -> None:
    """A hook is called, not awaited: an ``async def`` one would never run (its coroutine
    would be dropped unawaited), so it is refused at once; the hooks set before stay."""
    before = get_hooks()
    with pytest.raises(TypeError, match="is a coroutine function"):
        set_hooks([hook])
    assert get_hooks() == before


def test_a_hook_without_listening_beside_one_with_it_is_told_silently(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Beside a hook that can tell, one without listening() hears every call, with no log."""
    quiet = Quiet(listening=False)
    set_hooks([quiet, print])
    with caplog.at_level(logging.DEBUG, logger="b2b_async"):
        assert listening_hooks() == (print,)
    assert caplog.records == []


async def test_a_client_without_pacing_waits_for_no_budget() -> None:
    """Without pacing, a call's statistics count its request and no second of budget wait."""
    set_hooks([])
    async with sandbox() as server, client_for(server, rate_limit=None) as client:
        await create(client)
    assert client.stats == ClientStats(
        requests=1, retries=0, rate_limited=0, budget_wait=0.0, in_flight=0
    )


def test_a_hook_failing_before_hooks_were_ever_set_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """In a process that never called set_hooks, a default hook that raises is logged, and
    emitting the event raises nothing."""

    def broken(event: Event) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(hooks_module, "SETTINGS", hooks_module.HookSettings())
    monkeypatch.setattr(hooks_module, "default_hooks", lambda: (broken,))
    with caplog.at_level(logging.WARNING, logger="b2b_async"):
        hooks_module.emit(CallStarted(hooks_module.UNOBSERVED))
    assert "failed on CallStarted" in caplog.text


def test_set_hooks_refuses_empty_text(events: list[Event]) -> None:
    """An empty str is text, not an empty iterable of hooks: a TypeError, and the hooks set
    before stay on."""
    before = get_hooks()
    with pytest.raises(TypeError, match="got str"):
        set_hooks("")  # type: ignore[arg-type]
    assert get_hooks() == before


class SaysItWaited:
    """A limiter that grants each slot at once and says it came after a quarter second."""

    async def acquire(
        self, priority: Priority = Priority.NORMAL, *, deadline: float | None = None
    ) -> float:
        return 0.25

    async def release(self, hint: object) -> None:
        return None


async def test_a_call_finishes_with_the_budget_waits_of_its_attempts(events: list[Event]) -> None:
    """Each attempt's BudgetWaited names it and its wait; CallFinished and the statistics
    hold their sum."""
    async with (
        sandbox([FaultKind.HTTP_503, None]) as server,
        client_for(server, rate_limit=SaysItWaited()) as client,
    ):
        await create(client)
    waits = [(event.attempt, event.seconds) for event in events if isinstance(event, BudgetWaited)]
    assert waits == [(1, 0.25), (2, 0.25)]
    finished = events[-1]
    assert isinstance(finished, CallFinished)
    assert finished.budget_wait == 0.5
    assert client.stats.budget_wait == 0.5
