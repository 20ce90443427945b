"""The extra field cache alone: what it keeps, how long, what it shares and what it logs.

Its fetch is replaced by a scripted one, and its clock by a list the tests move on; the
checks it serves, through V3 creates and updates against real servers, are in
``tests/test_v3.py``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

import b2b_async._extra_field_cache
from b2b_async import (
    APIConnectionError,
    AuthenticationError,
    B2BClient,
    B2BError,
    ClientClosedError,
    ExtraFieldConfig,
    InvalidOrderError,
    PermissionDeniedError,
    Priority,
    ResponseDecodeError,
)
from b2b_async._config import (
    EXTRA_FIELD_CONFIGS_RECHECK,
    EXTRA_FIELD_CONFIGS_RETRY,
    EXTRA_FIELD_CONFIGS_TTL,
)
from b2b_async._extra_field_cache import ExtraFieldCache
from b2b_async.sandbox import DEFAULT_STORE_HASH, SandboxServer
from tests.loopback import unanswered_port

CONFIGS = (ExtraFieldConfig(field_name="Cost Center", is_required=True),)


class ScriptedFetch:
    """Stands for ``fetch_extra_field_configs``: each fetch takes the next outcome in turn.

    A fetch waits for ``release`` when it is cleared; ``priorities`` records each fetch's,
    and ``started`` is set as the first begins.
    """

    def __init__(self, *outcomes: tuple[ExtraFieldConfig, ...] | BaseException) -> None:
        self.outcomes = list(outcomes)
        self.priorities: list[Priority] = []
        self.release = asyncio.Event()
        self.release.set()
        self.started = asyncio.Event()

    async def __call__(self, transport: object, priority: Priority) -> tuple[ExtraFieldConfig, ...]:
        self.priorities.append(priority)
        self.started.set()
        await self.release.wait()
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The cache's clock, moved on by the test."""
    reading = [1000.0]
    monkeypatch.setattr(b2b_async._extra_field_cache, "clock", lambda: reading[0])
    return reading


def scripted(
    monkeypatch: pytest.MonkeyPatch, *outcomes: tuple[ExtraFieldConfig, ...] | BaseException
) -> ScriptedFetch:
    """Replace the cache's fetch by one that answers ``outcomes`` in turn."""
    fetch = ScriptedFetch(*outcomes)
    monkeypatch.setattr(b2b_async._extra_field_cache, "fetch_extra_field_configs", fetch)
    return fetch


async def test_concurrent_callers_share_one_fetch_kept_for_the_ttl(
    monkeypatch: pytest.MonkeyPatch, now: list[float]
) -> None:
    """Three callers at once cost one fetch; its answer serves until the TTL has passed."""
    fetch = scripted(monkeypatch, CONFIGS, ())
    fetch.release.clear()
    cache = ExtraFieldCache(object())  # type: ignore[arg-type]
    callers = [asyncio.create_task(cache.configs(Priority.BULK)) for _ in range(3)]
    await asyncio.sleep(0)
    fetch.release.set()
    assert await asyncio.gather(*callers) == [CONFIGS] * 3
    now[0] += EXTRA_FIELD_CONFIGS_TTL - 1
    assert await cache.for_check() == CONFIGS
    now[0] += 2
    assert await cache.for_check() == ()
    assert fetch.priorities == [Priority.BULK, Priority.URGENT]
    await cache.aclose()


async def test_configurations_exactly_the_ttl_old_are_fetched_again(
    monkeypatch: pytest.MonkeyPatch, now: list[float]
) -> None:
    """Configurations are kept while younger than the TTL: at exactly its age, a new fetch."""
    fetch = scripted(monkeypatch, CONFIGS, ())
    cache = ExtraFieldCache(object())  # type: ignore[arg-type]
    assert await cache.for_check() == CONFIGS
    now[0] += EXTRA_FIELD_CONFIGS_TTL
    assert await cache.for_check() == ()
    assert len(fetch.priorities) == 2
    await cache.aclose()


async def test_a_check_overtakes_a_fetch_of_a_lower_priority_under_way(
    monkeypatch: pytest.MonkeyPatch, now: list[float]
) -> None:
    """A bulk fetch under way (a backfill's, behind its lane's queue) does not hold up a
    check: the check fetches at urgent priority, and the bulk caller still gets its own."""
    fetch = scripted(monkeypatch, CONFIGS, CONFIGS)
    fetch.release.clear()
    cache = ExtraFieldCache(object())  # type: ignore[arg-type]
    bulk = asyncio.create_task(cache.configs(Priority.BULK))
    await fetch.started.wait()
    check = asyncio.create_task(cache.for_check())
    normal = asyncio.create_task(cache.configs(Priority.NORMAL))  # served by the urgent one
    fetch.release.set()
    assert list(await asyncio.gather(check, normal, bulk)) == [CONFIGS] * 3
    assert fetch.priorities == [Priority.BULK, Priority.URGENT]
    await cache.aclose()


def fetch_tasks() -> list[asyncio.Task[Any]]:
    """The fetches of extra field configurations running in this event loop."""
    return [task for task in asyncio.all_tasks() if "extra field" in task.get_name()]


async def test_closing_stops_a_fetch_a_more_urgent_one_overtook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """aclose stops both the fetch under way and the lower priority one it overtook: each
    caller gets ClientClosedError, and no fetch is left running."""
    fetch = scripted(monkeypatch, CONFIGS, CONFIGS)
    fetch.release.clear()
    cache = ExtraFieldCache(object())  # type: ignore[arg-type]
    bulk = asyncio.create_task(cache.configs(Priority.BULK))
    await fetch.started.wait()
    urgent = asyncio.create_task(cache.configs(Priority.URGENT))
    for _ in range(10):  # a few turns of the loop, in which the urgent fetch begins
        await asyncio.sleep(0)
    assert fetch.priorities == [Priority.BULK, Priority.URGENT]
    await cache.aclose()
    for caller in (bulk, urgent):
        with pytest.raises(ClientClosedError):
            await caller
    assert fetch_tasks() == []


async def test_refresh_fetches_again_while_the_kept_ones_are_fresh(
    monkeypatch: pytest.MonkeyPatch, now: list[float]
) -> None:
    """``refresh`` asks the store again at once, and the answer replaces what was kept."""
    fetch = scripted(monkeypatch, CONFIGS, ())
    cache = ExtraFieldCache(object())  # type: ignore[arg-type]
    assert await cache.configs(Priority.NORMAL) == CONFIGS
    assert await cache.configs(Priority.NORMAL, refresh=True) == ()
    assert await cache.for_check() == ()
    assert len(fetch.priorities) == 2
    await cache.aclose()


async def test_a_recheck_fetches_again_only_configurations_older_than_its_age(
    monkeypatch: pytest.MonkeyPatch, now: list[float]
) -> None:
    """Configurations younger than EXTRA_FIELD_CONFIGS_RECHECK stand (no fetch); older ones
    are fetched again at urgent priority, and the new ones are kept for the checks after."""
    fetch = scripted(monkeypatch, CONFIGS, ())
    cache = ExtraFieldCache(object())  # type: ignore[arg-type]
    assert await cache.configs(Priority.BULK) == CONFIGS
    now[0] += EXTRA_FIELD_CONFIGS_RECHECK - 1
    assert await cache.for_recheck() is None
    now[0] += 2
    assert await cache.for_recheck() == ()
    assert await cache.for_check() == ()
    assert fetch.priorities == [Priority.BULK, Priority.URGENT]
    await cache.aclose()


async def test_a_recheck_fetches_again_configurations_exactly_its_age_old(
    monkeypatch: pytest.MonkeyPatch, now: list[float]
) -> None:
    """Only configurations younger than EXTRA_FIELD_CONFIGS_RECHECK stand: at exactly that
    age a recheck fetches them again."""
    fetch = scripted(monkeypatch, CONFIGS, ())
    cache = ExtraFieldCache(object())  # type: ignore[arg-type]
    assert await cache.configs(Priority.URGENT) == CONFIGS
    now[0] += EXTRA_FIELD_CONFIGS_RECHECK
    assert await cache.for_recheck() == ()
    assert len(fetch.priorities) == 2
    await cache.aclose()


async def kept_past_the_recheck_age(
    monkeypatch: pytest.MonkeyPatch,
    now: list[float],
    *later: tuple[ExtraFieldConfig, ...] | B2BError,
) -> tuple[ScriptedFetch, ExtraFieldCache]:
    """A cache that fetched :data:`CONFIGS`, its clock then moved past the recheck age; the
    fetches after answer ``later`` in turn."""
    fetch = scripted(monkeypatch, CONFIGS, *later)
    cache = ExtraFieldCache(object())  # type: ignore[arg-type]
    await cache.configs(Priority.NORMAL)
    now[0] += EXTRA_FIELD_CONFIGS_RECHECK + 1
    return fetch, cache


async def test_a_recheck_lets_the_kept_configurations_stand_unless_every_request_would_fail(
    monkeypatch: pytest.MonkeyPatch, now: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    """A new fetch refused (403) or too slow leaves the kept configurations to stand
    (``None``); a refused token (401) is raised, as the call's own request would meet it."""
    caplog.set_level(logging.WARNING, logger="b2b_async")
    denied = PermissionDeniedError("denied", status=403)
    refused = AuthenticationError("no", status=401)
    fetch, cache = await kept_past_the_recheck_age(monkeypatch, now, denied, CONFIGS, refused)
    assert await cache.for_recheck() is None
    now[0] += EXTRA_FIELD_CONFIGS_RETRY
    fetch.release.clear()
    assert await cache.for_recheck(within=0.0) is None
    fetch.release.set()
    await asyncio.sleep(0)  # the slow fetch ends, its configurations kept
    now[0] += EXTRA_FIELD_CONFIGS_RECHECK + 1
    with pytest.raises(AuthenticationError):
        await cache.for_recheck()
    assert len(fetch.priorities) == 4
    await cache.aclose()


async def test_a_recheck_fetches_nothing_for_the_retry_time_after_a_failed_fetch(
    monkeypatch: pytest.MonkeyPatch, now: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    """Old configurations whose new fetch failed refuse on without a fetch each until the
    retry time has passed: a broken endpoint costs no refused value a request."""
    caplog.set_level(logging.WARNING, logger="b2b_async")
    denied = PermissionDeniedError("denied", status=403)
    fetch, cache = await kept_past_the_recheck_age(monkeypatch, now, denied, denied, ())
    assert await cache.for_recheck() is None  # the new fetch fails: the kept ones stand
    now[0] += EXTRA_FIELD_CONFIGS_RETRY - 1
    assert await cache.for_recheck() is None
    assert len(fetch.priorities) == 2  # without the fix: 3, every refused value a fetch
    now[0] += 2
    assert await cache.for_recheck() is None  # the retry time has passed: fetched again
    assert len(fetch.priorities) == 3
    await cache.aclose()


@pytest.mark.parametrize(
    "failure",
    [
        lambda: AuthenticationError("no", status=401),
        lambda: APIConnectionError("refused", may_have_reached_server=False),
    ],
    ids=["401", "cannot-connect"],
)
async def test_a_recheck_after_a_failure_every_request_meets_fetches_and_raises_it(
    monkeypatch: pytest.MonkeyPatch, now: list[float], failure: Callable[[], B2BError]
) -> None:
    """A refused token or a host that cannot be reached is no broken endpoint: within the
    retry time, the next recheck fetches again and raises what the call's own request would
    meet, instead of letting old configurations refuse the value for good."""
    first, again = failure(), failure()
    fetch, cache = await kept_past_the_recheck_age(monkeypatch, now, first, again)
    with pytest.raises(type(first)):
        await cache.for_recheck()
    with pytest.raises(type(again)):  # without the fix: None, the old refusal stands
        await cache.for_recheck()
    assert len(fetch.priorities) == 3
    await cache.aclose()


async def test_a_failed_fetch_with_fresh_configurations_kept_says_they_go_on_checking(
    monkeypatch: pytest.MonkeyPatch, now: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    """A refresh that fails while fresh configurations are kept logs that they go on
    checking values, not that values go unchecked."""
    caplog.set_level(logging.WARNING, logger="b2b_async")
    scripted(monkeypatch, CONFIGS, PermissionDeniedError("denied", status=403))
    cache = ExtraFieldCache(object())  # type: ignore[arg-type]
    await cache.configs(Priority.NORMAL)
    with pytest.raises(PermissionDeniedError):
        await cache.configs(Priority.NORMAL, refresh=True)
    [warning] = caplog.records
    assert warning.getMessage().endswith(
        f"; the configurations kept check extra fields for {EXTRA_FIELD_CONFIGS_TTL:.0f} s more"
    )
    assert await cache.for_check() == CONFIGS
    await cache.aclose()


async def test_a_failed_fetch_leaves_checks_unchecked_for_the_retry_time(
    monkeypatch: pytest.MonkeyPatch, now: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    """A 403 on the configurations: one WARNING, then no fetch (and no check) for the retry
    time, however many checks come; after it, a new fetch."""
    caplog.set_level(logging.WARNING, logger="b2b_async")
    fetch = scripted(monkeypatch, PermissionDeniedError("denied", status=403), CONFIGS)
    cache = ExtraFieldCache(object())  # type: ignore[arg-type]
    assert await cache.for_check() is None
    now[0] += EXTRA_FIELD_CONFIGS_RETRY - 1
    assert await cache.for_check() is None
    assert len(fetch.priorities) == 1
    now[0] += 2
    assert await cache.for_check() == CONFIGS
    [warning] = caplog.records
    assert "PermissionDeniedError" in warning.getMessage()
    await cache.aclose()


async def test_a_failed_fetch_with_nothing_kept_says_values_go_unchecked(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed first fetch logs that extra fields are sent unchecked for the retry time."""
    caplog.set_level(logging.WARNING, logger="b2b_async")
    scripted(monkeypatch, PermissionDeniedError("denied", status=403))
    cache = ExtraFieldCache(object())  # type: ignore[arg-type]
    assert await cache.for_check() is None
    [warning] = caplog.records
    assert "extra fields are sent unchecked for 30 s" in warning.getMessage()
    await cache.aclose()


@pytest.mark.parametrize(
    "failed_first", [True, False], ids=["failed-then-fetched", "refresh-failed"]
)
async def test_fresh_configurations_check_values_within_the_retry_time_of_a_failure(
    monkeypatch: pytest.MonkeyPatch, now: list[float], failed_first: bool
) -> None:
    """Configurations kept and fresh check values though a fetch failed within the retry
    time: fetched since (``extra_field_configs`` once access was granted), or before a
    ``refresh`` that failed."""
    denied = PermissionDeniedError("denied", status=403)
    scripted(monkeypatch, *((denied, CONFIGS) if failed_first else (CONFIGS, denied)))
    cache = ExtraFieldCache(object())  # type: ignore[arg-type]
    if failed_first:
        assert await cache.for_check() is None
        assert await cache.configs(Priority.NORMAL) == CONFIGS
    else:
        assert await cache.configs(Priority.NORMAL) == CONFIGS
        with pytest.raises(PermissionDeniedError):
            await cache.configs(Priority.NORMAL, refresh=True)
    now[0] += 1
    assert await cache.for_check() == CONFIGS
    await cache.aclose()


async def test_a_failure_every_request_would_meet_is_raised_not_logged(
    monkeypatch: pytest.MonkeyPatch, now: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    """A refused token fails the check as it would fail the call: raised, with no WARNING."""
    caplog.set_level(logging.WARNING, logger="b2b_async")
    scripted(monkeypatch, AuthenticationError("refused", status=401))
    cache = ExtraFieldCache(object())  # type: ignore[arg-type]
    with pytest.raises(AuthenticationError):
        await cache.for_check()
    assert caplog.records == []
    await cache.aclose()


async def test_the_check_switched_off_fetches_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """``check=False``: no configurations to check against, and no request spent on them."""
    fetch = scripted(monkeypatch, CONFIGS)
    cache = ExtraFieldCache(object(), check=False)  # type: ignore[arg-type]
    assert await cache.for_check() is None
    assert fetch.priorities == []


async def test_a_closed_cache_refuses_to_fetch(monkeypatch: pytest.MonkeyPatch) -> None:
    """After aclose, asking for the configurations raises ClientClosedError and fetches nothing."""
    fetch = scripted(monkeypatch, CONFIGS)
    cache = ExtraFieldCache(object())  # type: ignore[arg-type]
    await cache.aclose()
    with pytest.raises(ClientClosedError):
        await cache.configs(Priority.NORMAL)
    assert fetch.priorities == []


async def test_a_fetch_cancelled_by_someone_else_leaves_the_check_unchecked_not_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fetch task cancelled from outside (a sweep of the loop's tasks), not by aclose, is
    a fetch that did not come: the waiting check goes unchecked, with no ClientClosedError
    for a client that is open, and the next caller starts a fetch of its own."""
    fetch = scripted(monkeypatch, CONFIGS, CONFIGS)
    fetch.release.clear()
    cache = ExtraFieldCache(object())  # type: ignore[arg-type]
    waiting = asyncio.create_task(cache.for_check())
    await fetch.started.wait()
    [task] = fetch_tasks()
    task.cancel()
    assert await waiting is None
    fetch.release.set()
    assert await cache.configs(Priority.NORMAL) == CONFIGS
    assert len(fetch.priorities) == 2
    await cache.aclose()


async def test_a_fault_in_a_fetch_nobody_waits_for_is_logged_with_its_traceback(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception no B2BError stands for, raised once every caller has left, is logged at
    ERROR rather than lost."""
    fault = ValueError("a fault of the library's")
    fetch = scripted(monkeypatch, fault)
    fetch.release.clear()
    cache = ExtraFieldCache(object())  # type: ignore[arg-type]
    assert await cache.for_check(within=0) is None  # the caller leaves unchecked
    [task] = fetch_tasks()
    fetch.release.set()
    await asyncio.wait([task])
    [error] = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert error.exc_info is not None
    assert error.exc_info[1] is fault
    await cache.aclose()


async def fetch_left_running(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[ExtraFieldCache, asyncio.Task[Any]]:
    """A cache whose first fetch never ends, its check gone unchecked; the fetch's task."""
    fetch = scripted(monkeypatch, CONFIGS)
    fetch.release.clear()
    cache = ExtraFieldCache(object())  # type: ignore[arg-type]
    assert await cache.for_check(within=0) is None  # the caller leaves unchecked
    [task] = fetch_tasks()
    return cache, task


async def test_closing_returns_once_the_fetch_it_stopped_has_ended(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """aclose stops a fetch nobody waits for any more and returns only once it has ended."""
    cache, task = await fetch_left_running(monkeypatch)
    await cache.aclose()
    assert task.cancelled()


async def test_a_check_that_cannot_wait_for_the_fetch_warns_once_a_fetch(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A check whose time runs out before the fetch arrives logs one WARNING, however many
    checks give up on the same fetch."""
    caplog.set_level(logging.WARNING, logger="b2b_async")
    fetch = scripted(monkeypatch, CONFIGS)
    fetch.release.clear()
    cache = ExtraFieldCache(object())  # type: ignore[arg-type]
    assert await cache.for_check(within=0) is None
    assert await cache.for_check(within=0) is None
    [warning] = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert "did not arrive within the 0.00 s" in warning.getMessage()
    await cache.aclose()


def budget_store_timeout() -> TimeoutError:
    """The TimeoutError of a custom limiter whose budget store did not answer in time."""
    return TimeoutError("the budget store did not answer")


@pytest.mark.parametrize("within", [None, 60.0], ids=["no bound", "a bound"])
async def test_a_fetch_s_own_timeout_error_reaches_the_check_s_caller(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, within: float | None
) -> None:
    """A TimeoutError the fetch raises itself reaches the check's caller as it is, not logged
    as a fetch that did not arrive in time."""
    caplog.set_level(logging.WARNING, logger="b2b_async")
    scripted(monkeypatch, budget_store_timeout())
    cache = ExtraFieldCache(object())  # type: ignore[arg-type]
    with pytest.raises(TimeoutError, match="budget store"):
        await cache.for_check(within=within)
    assert "did not arrive" not in caplog.text
    await cache.aclose()


async def test_a_fetch_s_own_timeout_error_reaches_the_recheck_s_caller(
    monkeypatch: pytest.MonkeyPatch, now: list[float]
) -> None:
    """A TimeoutError a recheck's fetch raises itself reaches the caller as it is, rather
    than letting the kept configurations stand as a fetch too slow does."""
    fetch, cache = await kept_past_the_recheck_age(monkeypatch, now)
    fetch.outcomes.append(budget_store_timeout())
    with pytest.raises(TimeoutError, match="budget store"):
        await cache.for_recheck(within=60.0)
    await cache.aclose()


async def test_a_fetch_stopped_by_closing_logs_no_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A fetch that aclose stops, its caller gone, is no fault: nothing is logged at ERROR."""
    cache, task = await fetch_left_running(monkeypatch)
    await cache.aclose()
    await asyncio.wait([task])
    await asyncio.sleep(0)  # the fetch's done callbacks run
    assert task.cancelled()
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []


async def test_a_caller_cancelled_while_waiting_for_the_fetch_is_cancelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A caller cancelled during the shared fetch gets CancelledError; the fetch goes on."""
    fetch = scripted(monkeypatch, CONFIGS)
    fetch.release.clear()
    cache = ExtraFieldCache(object())  # type: ignore[arg-type]
    caller = asyncio.create_task(cache.configs(Priority.URGENT))
    await fetch.started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    fetch.release.set()
    assert await cache.configs(Priority.URGENT) == CONFIGS
    assert len(fetch.priorities) == 1
    await cache.aclose()


async def test_a_caller_cancelled_as_closing_stops_the_fetch_stays_cancelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A caller cancelled by its own caller as aclose stops the fetch gets CancelledError,
    not ClientClosedError: the cancellation asked of it wins."""
    fetch = scripted(monkeypatch, CONFIGS)
    fetch.release.clear()
    cache = ExtraFieldCache(object())  # type: ignore[arg-type]
    caller = asyncio.create_task(cache.configs(Priority.URGENT))
    await fetch.started.wait()
    [task] = fetch_tasks()
    task.add_done_callback(lambda _: caller.cancel())  # once the fetch is stopped
    await cache.aclose()
    with pytest.raises(asyncio.CancelledError):
        await caller


def test_an_urgent_fetch_pending_in_another_event_loop_is_refused_to_any_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A caller in a second event loop, while an urgent fetch is pending in the first, gets
    ClientClosedError naming the event loop, never the first loop's fetch to await."""
    fetch = scripted(monkeypatch, CONFIGS)
    fetch.release.clear()
    cache = ExtraFieldCache(object())  # type: ignore[arg-type]
    first = asyncio.new_event_loop()
    waiting = first.create_task(cache.configs(Priority.URGENT))
    try:
        first.run_until_complete(fetch.started.wait())
        with pytest.raises(ClientClosedError, match="event loop it was first used in"):
            asyncio.run(cache.configs(Priority.NORMAL))
    finally:
        first.run_until_complete(cache.aclose())
        first.run_until_complete(asyncio.gather(waiting, return_exceptions=True))
        first.close()


def test_a_fetch_pending_in_another_event_loop_is_refused_as_the_client_s_loop() -> None:
    """A V3 create in a second event loop, while the first (left open, as a worker keeps it)
    still has a configuration fetch pending: ClientClosedError naming the event loop,
    before anything is sent, never asyncio's bare RuntimeError about another loop."""
    first = asyncio.new_event_loop()
    with unanswered_port() as url:
        client = B2BClient("t", base_url=url, store_hash="h", retry=None, rate_limit=None)
        try:
            fetch = first.create_task(client.v3.orders.extra_field_configs())
            first.run_until_complete(asyncio.sleep(0.05))  # the fetch is on its way

            async def create_elsewhere() -> None:
                await client.v3.orders.create(bc_order_id=2, customer_id=1, extra_fields={"a": "b"})

            with pytest.raises(ClientClosedError, match="event loop it was first used in"):
                asyncio.run(create_elsewhere())
            assert not fetch.done()
        finally:
            first.run_until_complete(client.aclose())
            first.run_until_complete(asyncio.gather(fetch, return_exceptions=True))
            first.close()
    assert client.stats.requests <= 1


def test_a_call_from_another_loop_leaves_the_check_on_in_the_client_s_own() -> None:
    """A V3 create from a second event loop is refused; the fetch it would have started
    counts as no failure of the store's, so the client's own loop still checks values."""
    first = asyncio.new_event_loop()
    server = SandboxServer(rate=None)
    first.run_until_complete(server.start())
    client = B2BClient(server.token, base_url=server.url, store_hash=DEFAULT_STORE_HASH, retry=None)
    unknown = {"No Such Field": "x"}
    try:
        first.run_until_complete(client.__aenter__())  # the client's loop

        async def create(bc_order_id: int) -> None:
            await client.v3.orders.create(
                bc_order_id=bc_order_id, customer_id=5, extra_fields=unknown
            )

        with pytest.raises(ClientClosedError, match="event loop it was first used in"):
            asyncio.run(create(2))
        with pytest.raises(InvalidOrderError, match="No Such Field"):
            first.run_until_complete(create(3))
    finally:
        first.run_until_complete(client.aclose())
        first.run_until_complete(server.aclose())
        first.close()


async def test_a_failed_refresh_counts_the_seconds_the_kept_configurations_have_left(
    monkeypatch: pytest.MonkeyPatch, now: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    """The WARNING of a failed fetch says how long the configurations kept go on checking
    values: the TTL less their age."""
    caplog.set_level(logging.WARNING, logger="b2b_async")
    scripted(monkeypatch, CONFIGS, PermissionDeniedError("denied", status=403))
    cache = ExtraFieldCache(object())  # type: ignore[arg-type]
    await cache.configs(Priority.NORMAL)
    now[0] += 100
    with pytest.raises(PermissionDeniedError):
        await cache.configs(Priority.NORMAL, refresh=True)
    [warning] = caplog.records
    assert warning.getMessage().endswith(
        f"check extra fields for {EXTRA_FIELD_CONFIGS_TTL - 100:.0f} s more"
    )
    await cache.aclose()


async def test_a_fetch_that_has_ended_is_let_go(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache holds no fetch that has ended once another has taken its place: a client
    that runs for days does not gather every fetch it made."""
    fetch = scripted(monkeypatch, CONFIGS, ())
    fetch.release.clear()
    cache = ExtraFieldCache(object())  # type: ignore[arg-type]
    caller = asyncio.create_task(cache.configs(Priority.NORMAL))
    await fetch.started.wait()
    ended = weakref.ref(fetch_tasks()[0])
    fetch.release.set()
    assert await caller == CONFIGS
    assert await cache.configs(Priority.NORMAL, refresh=True) == ()
    gc.collect()
    assert ended() is None
    await cache.aclose()


def torn_store(posts: list[Any], *, twice: bool = False) -> web.Application:
    """A store of 250 text fields whose listing is torn: ``F0`` deleted once its first page
    is read (its count going from 250 to 249), or, ``twice``, ``F0`` named twice and ``F1``
    not at all. The bodies of creates go to ``posts``."""

    async def configs(request: web.Request) -> web.Response:
        start = int(request.query["offset"])
        names = [f"F{i}" for i in range(0 if start == 0 or twice else 1, 250)]
        if twice:
            names[1] = "F0"
        page = [{"fieldName": name, "fieldType": 0} for name in names[start : start + 200]]
        pagination = {"totalCount": len(names), "limit": 200, "offset": start}
        return web.json_response({"code": 200, "data": page, "meta": {"pagination": pagination}})

    async def create(request: web.Request) -> web.Response:
        posts.append(await request.json())
        data = {"id": 1, "bcOrderId": posts[-1]["bcOrderId"], "customerId": 5}
        return web.json_response({"code": 200, "data": data, "meta": {"message": "SUCCESS"}})

    app = web.Application()
    app.router.add_get("/api/v3/io/orders/extra-fields", configs)
    app.router.add_post("/api/v3/io/orders", create)
    return app


@pytest.mark.parametrize(
    ("twice", "missed"), [(False, "F200"), (True, "F1")], ids=["changed", "named-twice"]
)
async def test_a_listing_torn_between_its_pages_is_a_failed_fetch_not_a_refusal(
    aiohttp_server: Callable[[web.Application], Any],
    caplog: pytest.LogCaptureFixture,
    twice: bool,
    missed: str,
) -> None:
    """A listing whose count changes from page to page (a field deleted while it is read),
    or that names a field twice, is a failed fetch: a value of a field it left out is sent
    unchecked, not refused as none of the store's."""
    caplog.set_level(logging.WARNING, logger="b2b_async")
    posts: list[Any] = []
    server = await aiohttp_server(torn_store(posts, twice=twice))
    url = f"http://127.0.0.1:{server.port}"
    async with B2BClient("t", store_hash="h", base_url=url, rate_limit=None, retry=None) as client:
        await client.v3.orders.create(bc_order_id=1, customer_id=5, extra_fields={missed: "x"})
        with pytest.raises(ResponseDecodeError, match="changed while it was read, or names"):
            await client.v3.orders.extra_field_configs(refresh=True)
    assert [post["extraFields"] for post in posts] == [[{"fieldName": missed, "fieldValue": "x"}]]
    assert "changed while it was read" in caplog.text


async def test_a_listing_without_a_count_ends_at_its_first_short_page(
    aiohttp_server: Callable[[web.Application], Any],
) -> None:
    """A configuration listing that gives no count ends at a page shorter than the limit
    asked for: a store of a few fields costs one request."""
    offsets: list[str] = []

    async def configs(request: web.Request) -> web.Response:
        offsets.append(request.query["offset"])
        page = [{"fieldName": f"F{i}"} for i in range(3)] if offsets == ["0"] else []
        return web.json_response({"code": 200, "data": page, "meta": {}})

    app = web.Application()
    app.router.add_get("/api/v3/io/orders/extra-fields", configs)
    server = await aiohttp_server(app)
    url = f"http://127.0.0.1:{server.port}"
    async with B2BClient("t", store_hash="h", base_url=url, rate_limit=None, retry=None) as client:
        fetched = await client.v3.orders.extra_field_configs()
    assert [config.field_name for config in fetched] == ["F0", "F1", "F2"]
    assert offsets == ["0"]
