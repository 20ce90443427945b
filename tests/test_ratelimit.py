"""Tests for the rate limiter, driven on a virtual loop clock: no real sleeps."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import math
import pickle
import random
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any
from unittest import mock

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b2b_async import B2BError
from b2b_async._config import Priority, RateLimit
from b2b_async._exceptions import DeadlineUnreachableError
from b2b_async._protocol import BudgetHint
from b2b_async._ratelimit import (
    RESET_MARGIN,
    Lanes,
    Limiter,
    Pacing,
    RateLimiter,
    Tickets,
    Waiter,
    build_limiter,
    burst_of,
)

Select = Callable[[float | None], list[Any]]


class VirtualClock:
    """Loop time that jumps straight to the next timer whenever the loop would block.

    With ``lateness``, each such jump overshoots by ``lateness()`` seconds: a loop that wakes
    late, as one starved of CPU does.
    """

    def __init__(self, start: float, lateness: Callable[[], float] | None = None) -> None:
        self.now = start
        self.lateness = lateness

    def time(self) -> float:
        return self.now

    def wrap(self, select: Select) -> Select:
        def jump(timeout: float | None = None) -> list[Any]:
            if timeout is None:
                raise AssertionError("virtual clock: nothing is scheduled, the loop would hang")
            if timeout > 0 and self.lateness is not None:
                timeout += self.lateness()
            self.now += timeout
            return select(0)

        return jump


@contextlib.contextmanager
def virtual_clock(
    start: float = 0.0, lateness: Callable[[], float] | None = None
) -> Iterator[VirtualClock]:
    """Run the running loop on virtual time: sleeps and timers take no real time."""
    loop = asyncio.get_running_loop()
    clock = VirtualClock(start, lateness)
    # The loop blocks in its selector until the next timer; skipping that wait is the whole trick.
    selector = loop._selector  # type: ignore[attr-defined]
    with (
        mock.patch.object(loop, "time", clock.time),
        mock.patch.object(selector, "select", clock.wrap(selector.select)),
    ):
        yield clock


@pytest.fixture
async def clock() -> AsyncIterator[VirtualClock]:
    """The test's loop on a virtual clock starting at zero."""
    with virtual_clock() as clock:
        yield clock


async def acquire_times(limiter: Limiter, count: int) -> list[float]:
    """Gather ``count`` acquisitions and return the loop time each one completed at."""
    loop = asyncio.get_running_loop()

    async def one() -> float:
        await limiter.acquire()
        return loop.time()

    return list(await asyncio.gather(*(one() for _ in range(count))))


def busiest_span(times: list[float], per: float) -> int:
    """The most ``times`` in any half-open span of ``per`` seconds, whatever its alignment."""
    times = sorted(times)
    first = 0
    busiest = 0
    for last, t in enumerate(times):
        while times[first] <= t - per:
            first += 1
        busiest = max(busiest, last - first + 1)
    return busiest


@attrs.define
class FixedWindowServer:
    """A server counting requests in fixed windows of ``per`` seconds starting at ``offset``.

    A competing integration spends ``competitor`` requests at the start of every window.
    """

    limit: int
    per: float
    offset: float
    competitor: int = 0
    counts: dict[int, int] = attrs.Factory(dict)
    rejected: int = 0

    def receive(self, t: float) -> BudgetHint:
        """Count a request arriving at ``t`` and answer with the budget headers."""
        window = math.floor((t - self.offset) / self.per)
        used = self.counts.setdefault(window, self.competitor)
        resets_after = max(0.0, self.offset + (window + 1) * self.per - t)
        if used >= self.limit:
            self.rejected += 1
            return BudgetHint(remaining=0, resets_after=resets_after, retry_after=resets_after)
        self.counts[window] = used + 1
        return BudgetHint(
            remaining=self.limit - used - 1,
            resets_after=resets_after,
            limit=self.limit,
            window=self.per,
        )

    def ours(self) -> list[int]:
        """Our requests in each window, first to last."""
        return [self.counts[w] - self.competitor for w in sorted(self.counts)]


def up_to(rng: random.Random, most: float) -> Callable[[], float]:
    """Draws of a delay spread evenly from 0 to ``most`` seconds."""
    return lambda: rng.uniform(0, most)


async def simulate(
    limiter: Limiter,
    count: int,
    latency: Callable[[], float],
    server: FixedWindowServer | None = None,
    *,
    hints: bool = True,
) -> list[float]:
    """Send ``count`` gathered requests through the limiter; return their acquisition times.

    Each request reaches ``server`` the moment it is acquired; its response (and the release
    with the server's hint, unless ``hints`` is false) comes back ``latency()`` seconds later,
    so hints arrive out of order.
    """
    loop = asyncio.get_running_loop()
    times: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        now = loop.time()
        times.append(now)
        hint = None if server is None else server.receive(now)
        await asyncio.sleep(latency())
        await limiter.release(hint if hints else None)

    await asyncio.gather(*(one() for _ in range(count)))
    return times


def achieved(times: list[float], requests: int, per: float) -> float:
    """The achieved rate as a fraction of the allowed one."""
    return (len(times) - 1) / (max(times) - min(times)) / (requests / per)


# --- Pacing and Tickets: the rules every limiter shares ----------------------------------


def test_pacing_spaces_the_budget_evenly() -> None:
    """RateLimit(150, 60) paces one request per 0.4 s (plus a millionth), no burst ahead."""
    pacing = Pacing.of(RateLimit(150, 60.0))
    assert pacing.interval == pytest.approx(0.4 * (1 + 1e-6), rel=1e-12)
    assert (pacing.tolerance, pacing.window) == (0.0, 60.0)


def test_pacing_burst_costs_steady_rate() -> None:
    """A burst of 5 of 100 per second: interval 1/96 s, tolerance four intervals."""
    pacing = Pacing.of(RateLimit(100, 1.0, burst=5))
    assert pacing.interval == pytest.approx(1 / 96, rel=1e-5)
    assert pacing.tolerance == pytest.approx(4 * pacing.interval)


def test_pacing_follows_a_slower_allocation_and_its_window() -> None:
    """A server allocation of 10 per 2 s slows 100 per second and sets the window length."""
    configured = RateLimit(100, 1.0)
    pacing = Pacing.of(configured).following(BudgetHint(limit=10, window=2.0), configured)
    assert pacing == Pacing.within(10, 2.0, 1)
    assert pacing.window == 2.0


@pytest.mark.parametrize(
    "hint", [BudgetHint(), BudgetHint(limit=10), BudgetHint(limit=0, window=1.0)]
)
def test_pacing_ignores_a_hint_without_a_usable_allocation(hint: BudgetHint) -> None:
    """A hint with no complete, sane allocation leaves the pacing as it was."""
    configured = RateLimit(100, 1.0)
    slowed = Pacing.within(10, 2.0, 1)
    assert slowed.following(hint, configured) is slowed


def test_pacing_follows_an_allocation_of_one_request_per_window() -> None:
    """An allocation of a single request per window is followed: one request a window."""
    configured = RateLimit(100, 1.0)
    pacing = Pacing.of(configured).following(BudgetHint(limit=1, window=5.0), configured)
    assert pacing == Pacing.within(1, 5.0, 1)
    assert pacing.interval == pytest.approx(5.0, rel=1e-5)


def test_pacing_ignores_an_allocation_over_a_window_of_no_length() -> None:
    """An allocation over a window of 0 s is no allocation: the pacing keeps its own window."""
    configured = RateLimit(100, 1.0)
    slowed = Pacing.within(10, 2.0, 1)
    assert slowed.following(BudgetHint(limit=10, window=0.0), configured) is slowed


def test_pacing_never_faster_than_configured() -> None:
    """A faster allocation than configured keeps the configured spacing, with its window."""
    configured = RateLimit(100, 1.0)
    pacing = Pacing.of(configured).following(BudgetHint(limit=1000, window=5.0), configured)
    assert (pacing.interval, pacing.window) == (Pacing.of(configured).interval, 5.0)


@pytest.mark.parametrize(
    ("left", "budget", "spacing"),
    [
        (1.0, 39, 0.025),  # the grid fits the window's 39 and the next one's first: paced
        (2.0, 9, 0.025),  # room to spare: never slower than paced
        (0.5, 29, 0.5 / 30),  # behind: the 29 and the next window's first share 0.5 s
        (0.1, 39, 0.0125),  # far behind: never faster than twice the paced rate
        (0.01, 0, 0.0125),
        (-0.1, 5, 0.025),  # the window has reset: paced
        (1.0, -1, 0.025),  # no budget to make up: paced
    ],
)
def test_pacing_spacing_shares_the_rest_of_a_window(
    left: float, budget: int, spacing: float
) -> None:
    """Within a known window, the rest of it is shared evenly, between T / 2 and T apart."""
    pacing = Pacing.within(40, 1.0, 1)
    assert pacing.spacing(left, budget) == pytest.approx(spacing * (1 + 1e-6), rel=1e-5)


def test_pacing_spacing_is_paced_once_the_window_has_reset() -> None:
    """At the very instant of a window's reset no time is left to share: the next is paced."""
    pacing = Pacing.within(40, 1.0, 1)
    assert pacing.spacing(0.0, 5) == pacing.interval


async def test_tickets_are_kept_per_task() -> None:
    """Each task takes back the ticket it held, once; another task finds none."""
    tickets = Tickets()

    async def hold_then_take(ticket: int) -> tuple[int | None, int | None]:
        tickets.hold(ticket)
        await asyncio.sleep(0)
        return tickets.take(), tickets.take()

    first, second = await asyncio.gather(hold_then_take(1), hold_then_take(2))
    assert (first, second) == ((1, None), (2, None))
    tickets.hold(3)
    tickets.clear()
    assert tickets.take() is None


async def test_a_ticket_its_task_never_took_back_is_forgotten_with_the_task() -> None:
    """A ticket held by a task that ended without taking it back (acquired there, released
    from another task) is not kept for ever."""
    tickets = Tickets()

    async def hold(ticket: int) -> None:
        tickets.hold(ticket)

    for ticket in range(100):
        await asyncio.create_task(hold(ticket))
    await asyncio.sleep(0)  # the loop lets go of the last task
    gc.collect()
    assert len(tickets) == 0


def waiter_in(lanes: Lanes, priority: Priority) -> Waiter:
    """Queue and return a new waiter of ``priority``."""
    waiter = Waiter(asyncio.get_running_loop().create_future(), priority)
    lanes.join(waiter)
    return waiter


async def test_lanes_serve_the_highest_lane_first_and_each_in_order() -> None:
    """The head is the earliest waiter of the highest lane holding one."""
    lanes = Lanes()
    joined = [waiter_in(lanes, level) for level in [*Priority] * 2]
    assert (len(lanes), lanes.ahead_of(Priority.NORMAL), lanes.behind(Priority.NORMAL)) == (6, 4, 2)
    expected = sorted(joined, key=lambda w: list(Priority).index(w.priority))
    assert list(lanes) == expected
    assert [lanes.pop() for _ in range(6)] == expected
    assert (lanes.pop(), len(lanes)) == (None, 0)


async def test_lanes_skip_a_waiter_that_stopped_waiting() -> None:
    """A cancelled waiter is skipped at once and counted out when it leaves."""
    lanes = Lanes()
    first, second = waiter_in(lanes, Priority.BULK), waiter_in(lanes, Priority.BULK)
    first.future.cancel()
    assert list(lanes) == [second]
    assert lanes.pop() is second
    assert (lanes.pop(), len(lanes)) == (None, 1)  # the cancelled one is not counted out yet
    lanes.leave(first)
    assert len(lanes) == 0


async def test_lanes_peek_at_the_head_past_finished_waiters_and_leave_it_queued() -> None:
    """Peeking skips waiters that stopped waiting and shows the head without taking it."""
    lanes = Lanes()
    assert lanes.peek() is None
    cancelled, head = waiter_in(lanes, Priority.NORMAL), waiter_in(lanes, Priority.NORMAL)
    later = waiter_in(lanes, Priority.BULK)
    cancelled.future.cancel()
    assert (lanes.peek(), lanes.peek()) == (head, head)
    assert lanes.pop() is head
    assert lanes.peek() is later


async def test_lanes_let_go_of_a_lane_whose_every_waiter_stopped_waiting() -> None:
    """Once a lane's last waiter is counted out, its finished entries are no longer held."""
    lanes = Lanes()
    waiter = waiter_in(lanes, Priority.BULK)
    held = weakref.ref(waiter)
    waiter.future.cancel()
    lanes.leave(waiter)
    del waiter
    gc.collect()
    assert held() is None


# --- build_limiter -----------------------------------------------------------------------


def test_build_limiter_turns_a_rate_limit_into_a_rate_limiter() -> None:
    """A RateLimit becomes an in-process RateLimiter with that budget."""
    limiter = build_limiter(RateLimit(10, 1.0))
    assert isinstance(limiter, RateLimiter)
    assert limiter.rate_limit == RateLimit(10, 1.0)


def test_build_limiter_uses_a_protocol_object_as_is() -> None:
    """An object following the Limiter protocol is used unchanged."""

    class Shared:
        async def acquire(
            self, priority: Priority = Priority.NORMAL, *, deadline: float | None = None
        ) -> float:
            return 0.0

        async def release(self, hint: BudgetHint | None) -> None:
            return None

    shared = Shared()
    assert build_limiter(shared) is shared


def test_burst_of_is_the_rate_limits_for_a_built_in_limiter_and_one_otherwise() -> None:
    """The burst an announced allocation is followed with: the RateLimit's, or none."""

    class Unpaced:
        rate_limit = "not a RateLimit"

    assert burst_of(RateLimiter(RateLimit(150, 60.0, burst=12))) == 12
    assert burst_of(RateLimiter(RateLimit(150, 60.0))) == 1
    assert burst_of(Unpaced()) == 1  # type: ignore[arg-type]
    assert burst_of(None) == 1


def test_build_limiter_still_takes_a_limiter_without_lanes() -> None:
    """A limiter whose acquire takes no priority or deadline still follows the protocol."""

    class Plain:
        async def acquire(self) -> float:
            return 0.0

        async def release(self, hint: BudgetHint | None) -> None:
            return None

    plain: Any = Plain()  # not a Limiter to a type checker any more
    assert build_limiter(plain) is plain


def test_build_limiter_passes_none_through() -> None:
    """None switches pacing off."""
    assert build_limiter(None) is None


def test_build_limiter_rejects_anything_else() -> None:
    """Anything that is no RateLimit, Limiter or None is a TypeError."""
    with pytest.raises(TypeError, match="must be a RateLimit, a Limiter or None, got int"):
        build_limiter(150)  # type: ignore[arg-type]


@pytest.mark.parametrize("given", [RateLimiter, RateLimit])
def test_build_limiter_rejects_a_class_instead_of_an_instance(given: type) -> None:
    """A limiter's class (``rate_limit=RateLimiter``) is refused when the client is built,
    not called at every request with a priority for its ``self``."""
    with pytest.raises(TypeError, match=f"got the class {given.__name__}; pass an instance"):
        build_limiter(given)  # type: ignore[arg-type]


def test_limiter_builds_outside_a_running_loop() -> None:
    """A limiter can be built (and shown) before any loop runs: the clock is taken lazily."""
    limiter = RateLimiter(RateLimit())
    assert repr(limiter) == "<RateLimiter 150/60s waiting=0 in_flight=0 cooldown=open>"
    assert limiter.cooldown_until is None
    assert limiter.cooldown_remaining == 0.0
    assert limiter.window_budget is None


# --- pacing ------------------------------------------------------------------------------


async def test_first_acquire_does_not_wait(clock: VirtualClock) -> None:
    """An idle limiter lets a request leave at once and reports no wait."""
    limiter = RateLimiter(RateLimit(5, 1.0))
    assert await limiter.acquire() == 0.0
    assert limiter.in_flight == 1


async def test_acquires_are_spread_at_the_configured_rate(clock: VirtualClock) -> None:
    """Gathered acquisitions leave one per ``per / requests`` seconds."""
    limiter = RateLimiter(RateLimit(5, 1.0))
    times = await acquire_times(limiter, 10)
    assert times == pytest.approx([0.2 * i for i in range(10)], abs=1e-5)


async def test_acquire_returns_the_seconds_waited(clock: VirtualClock) -> None:
    """The second of two back-to-back acquisitions reports the pacing interval as its wait."""
    limiter = RateLimiter(RateLimit(4, 1.0))
    await limiter.acquire()
    assert await limiter.acquire() == pytest.approx(0.25, abs=1e-5)


async def test_burst_leaves_at_once_then_paces_slower(clock: VirtualClock) -> None:
    """A burst of 3 leaves together; the rest follow at (requests - burst + 1) per window."""
    limiter = RateLimiter(RateLimit(10, 1.0, burst=3))
    times = await acquire_times(limiter, 6)
    assert times == pytest.approx([0.0, 0.0, 0.0, 0.125, 0.25, 0.375], abs=1e-5)


async def test_waiters_leave_in_arrival_order(clock: VirtualClock) -> None:
    """Callers leave first-come first-served."""
    limiter = RateLimiter(RateLimit(10, 1.0))
    order: list[int] = []

    async def one(index: int) -> None:
        await limiter.acquire()
        order.append(index)

    await asyncio.gather(*(one(i) for i in range(20)))
    assert order == list(range(20))


async def test_a_late_caller_never_overtakes_the_queue(clock: VirtualClock) -> None:
    """A caller arriving when budget frees up still queues behind those already waiting."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    await limiter.acquire()
    await limiter.release(BudgetHint(remaining=0, resets_after=0.5))
    order: list[str] = []

    async def one(name: str) -> None:
        await limiter.acquire()
        order.append(name)

    queued = [asyncio.create_task(one(name)) for name in ("first", "second")]
    await asyncio.sleep(0.1)
    # A new window's hint frees the budget while the queue's timer has not fired yet.
    await limiter.release(BudgetHint(remaining=50, resets_after=1.5))
    await one("late")
    await asyncio.gather(*queued)
    assert order == ["first", "second", "late"]


async def test_one_timer_serves_the_whole_queue(clock: VirtualClock) -> None:
    """A thousand waiters are served by one timer at a time, not a sleeper each."""
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(RateLimit(1000, 1.0))
    real_call_later = loop.call_later
    pending: set[asyncio.TimerHandle] = set()
    most = 0

    def counting_call_later(delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        nonlocal most

        def run() -> None:
            pending.discard(handle)
            callback()

        handle = real_call_later(delay, run)
        pending.add(handle)
        most = max(most, len([h for h in pending if not h.cancelled()]))
        return handle

    with mock.patch.object(loop, "call_later", counting_call_later):
        await acquire_times(limiter, 1000)
    assert most == 1


async def test_a_slot_brought_forward_drops_the_timer_armed_for_the_later_one(
    clock: VirtualClock,
) -> None:
    """A reading that brings a held caller's slot forward re-arms the one timer: the one
    armed for the later slot is dropped and never wakes the limiter."""
    loop = asyncio.get_running_loop()
    limiter = await read_from_its_response(remaining=0)  # held until 1.002 s
    real_call_later = loop.call_later
    wakes = 0

    def counting_call_later(delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        def run() -> None:
            nonlocal wakes
            wakes += 1
            callback()

        return real_call_later(delay, run)

    with mock.patch.object(loop, "call_later", counting_call_later):
        held = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(0)
        await limiter.release(BudgetHint(remaining=0, resets_after=0.9))  # now 0.902 s
        assert await held == pytest.approx(0.802, abs=1e-5)
    await asyncio.sleep(0.5)  # past the reset read first
    assert wakes == 1


async def test_a_loop_ticking_in_milliseconds_arms_few_timers_per_slot(
    clock: VirtualClock,
) -> None:
    """On a loop whose clock and timers tick in whole milliseconds (uvloop's), a timer that
    fires before its slot by the clock is armed again once, not until the clock moves."""
    loop = asyncio.get_running_loop()

    def tick() -> int:
        """The millisecond the loop's clock is in."""
        return math.floor(loop.time() * 1000 + 1e-6)  # a whole millisecond reads as itself

    limiter = RateLimiter(RateLimit(9, 1.0), clock=lambda: tick() / 1000)
    real_call_later = loop.call_later
    armed = 0

    def call_later_in_milliseconds(
        delay: float, callback: Callable[[], None]
    ) -> asyncio.TimerHandle:
        nonlocal armed
        armed += 1
        if armed > 100:  # the clock stands still while such a timer spins: cut it short
            return real_call_later(delay, callback)
        # As libuv does: whole milliseconds from the tick the clock last read, so a timer
        # fires up to a tick early, and one of under half a tick fires at once.
        due = tick() + round(delay * 1000)
        return real_call_later(due / 1000 - loop.time(), callback)

    with mock.patch.object(loop, "call_later", call_later_in_milliseconds):
        times = await acquire_times(limiter, 8)
    assert len(times) == 8
    assert armed <= 2 * 8


@pytest.mark.parametrize("cancelled", [0, 1])
async def test_cancelled_waiter_gives_its_place_back(clock: VirtualClock, cancelled: int) -> None:
    """Cancelling a waiter (head or middle) hands its slot on; the counts stay right."""
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(RateLimit(10, 1.0))
    await limiter.acquire()

    async def timed() -> float:
        await limiter.acquire()
        return loop.time()

    tasks = [asyncio.create_task(timed()) for _ in range(3)]
    await asyncio.sleep(0)
    assert limiter.waiting == 3
    gone = tasks.pop(cancelled)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert limiter.waiting == 2
    assert await asyncio.gather(*tasks) == pytest.approx([0.1, 0.2], abs=1e-5)
    assert (limiter.waiting, limiter.in_flight) == (0, 3)


async def test_timeout_around_acquire_leaves_the_queue_consistent(clock: VirtualClock) -> None:
    """A caller that gives up after a timeout drops out; later callers are unaffected."""
    limiter = RateLimiter(RateLimit(1, 1.0))
    await limiter.acquire()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await limiter.acquire()
    assert limiter.waiting == 0
    assert await limiter.acquire() == pytest.approx(0.5, abs=1e-5)


@pytest.mark.parametrize(("remaining", "budget_after"), [(5, 4), (None, None)])
async def test_cancelled_in_the_instant_it_was_granted_returns_the_budget(
    clock: VirtualClock, remaining: int | None, budget_after: int | None
) -> None:
    """A caller cancelled after its slot was granted but before it ran is not counted."""
    limiter = RateLimiter(RateLimit(10, 1.0, burst=2))
    await limiter.acquire()
    await limiter.release(BudgetHint(remaining=remaining, resets_after=5.0, retry_after=1.0))
    second: asyncio.Task[float]

    async def first() -> None:
        await limiter.acquire()
        second.cancel()  # its slot was granted in the same tick as ours

    first_task = asyncio.create_task(first())
    second = asyncio.create_task(limiter.acquire())
    await first_task
    with pytest.raises(asyncio.CancelledError):
        await second
    assert limiter.in_flight == 1
    assert limiter.window_budget == budget_after


async def test_a_slot_granted_as_its_caller_is_cancelled_passes_to_the_next_caller(
    clock: VirtualClock,
) -> None:
    """A caller cancelled after its slot was granted but before it ran leaves the slot to
    the next caller waiting, in that instant, not one interval later."""
    limiter = RateLimiter(RateLimit(10, 1.0, burst=2))
    await limiter.acquire()
    await limiter.release(BudgetHint(retry_after=1.0))  # every caller waits for the reopening
    second: asyncio.Task[float]
    loop = asyncio.get_running_loop()

    async def first() -> float:
        await limiter.acquire()
        second.cancel()  # its slot was granted in the same tick as ours
        return loop.time()

    async def third() -> float:
        await limiter.acquire()
        return loop.time()

    first_task = asyncio.create_task(first())
    second = asyncio.create_task(limiter.acquire())
    third_task = asyncio.create_task(third())
    reopened = await first_task
    with pytest.raises(asyncio.CancelledError):
        await second
    assert await third_task == reopened
    assert limiter.in_flight == 2


async def test_acquire_and_release_work_outside_a_task(clock: VirtualClock) -> None:
    """Driven from plain loop callbacks (no task, so no ticket), the limiter still counts."""
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(RateLimit(10, 1.0))
    done = loop.create_future()

    def drive(step: Coroutine[Any, Any, object]) -> None:
        try:
            step.send(None)
        except StopIteration as stop:
            done.set_result(stop.value)

    loop.call_soon(drive, limiter.acquire())
    assert await done == 0.0
    assert limiter.in_flight == 1
    done = loop.create_future()
    loop.call_soon(drive, limiter.release(BudgetHint(remaining=3, resets_after=1.0)))
    await done
    assert (limiter.in_flight, limiter.window_budget) == (0, 3)


async def test_repr_shows_rate_slot_queue_window_and_cooldown(clock: VirtualClock) -> None:
    """The repr names the rate, the next slot, the queue, the window budget and the cooldown."""
    limiter = RateLimiter(RateLimit(10, 1.0))
    await limiter.acquire()
    assert repr(limiter) == (
        "<RateLimiter 10/1s waiting=0 in_flight=1 next_slot_in=0.100s cooldown=open>"
    )
    await limiter.release(BudgetHint(remaining=3, resets_after=0.5, retry_after=2.0))
    assert repr(limiter) == (
        "<RateLimiter 10/1s waiting=0 in_flight=0 next_slot_in=0.100s"
        " window_budget=3 resets_in=0.502s cooldown=2.000s>"
    )


async def test_injected_clock_is_used_instead_of_the_loop(clock: VirtualClock) -> None:
    """An injected clock (here shifted by an hour) paces just as the loop's clock does."""
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(RateLimit(5, 1.0), clock=lambda: loop.time() + 3600.0)
    times = await acquire_times(limiter, 3)
    assert times == pytest.approx([0.0, 0.2, 0.4], abs=1e-5)
    assert repr(limiter).startswith("<RateLimiter 5/1s waiting=0 in_flight=3 next_slot_in=0.200s")


def test_limiter_moves_to_a_new_event_loop() -> None:
    """A limiter used by one asyncio.run and then another binds to the new loop."""
    limiter = RateLimiter(RateLimit(10, 1.0))

    async def use() -> list[float]:
        with virtual_clock():
            times = await acquire_times(limiter, 2)
            await limiter.release(None)
            return times

    assert asyncio.run(use()) == pytest.approx([0.0, 0.1], abs=1e-5)
    # The second loop's virtual clock starts at zero again, where the slots booked before end.
    assert asyncio.run(use()) == pytest.approx([0.2, 0.3], abs=1e-5)
    assert limiter.in_flight == 2


# --- header-driven correction ------------------------------------------------------------


async def test_no_budget_left_holds_requests_until_the_window_resets(
    clock: VirtualClock,
) -> None:
    """After remaining=0 with resets_after=0.5, no acquisition completes before 0.5 s."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    await limiter.acquire()
    await limiter.release(BudgetHint(remaining=0, resets_after=0.5))
    assert limiter.window_budget == 0
    times = await acquire_times(limiter, 3)
    assert times == pytest.approx([0.502, 0.512, 0.522], abs=1e-5)  # reset + 2 ms margin
    assert limiter.window_budget is None


async def test_requests_booked_after_the_hinted_one_count_against_its_budget(
    clock: VirtualClock,
) -> None:
    """Requests acquired after the hinted one are not in its ``remaining`` yet."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    hinted = asyncio.Event()

    async def slow_request() -> None:
        await limiter.acquire()
        await hinted.wait()
        await limiter.release(BudgetHint(remaining=2, resets_after=1.0))

    task = asyncio.create_task(slow_request())
    await asyncio.sleep(0)
    await acquire_times(limiter, 2)  # these two spend what the slow response reports
    hinted.set()
    await task
    assert limiter.window_budget == 0
    # The reset is read from the hinted request's send at 0 s (plus the margin): 1.002 s.
    assert await limiter.acquire() == pytest.approx(1.002 - 0.02, abs=1e-5)


async def test_release_from_another_task_subtracts_requests_in_flight(
    clock: VirtualClock,
) -> None:
    """Without a ticket for the releasing task, every request in flight counts as newer."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    await acquire_times(limiter, 3)
    await asyncio.create_task(limiter.release(BudgetHint(remaining=5, resets_after=1.0)))
    assert limiter.window_budget == 5 - 2


async def test_hints_of_one_window_keep_the_least_budget(clock: VirtualClock) -> None:
    """An older response arriving late with more budget does not raise the estimate."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    await limiter.release(BudgetHint(remaining=5, resets_after=0.8))
    await asyncio.sleep(0.1)
    await limiter.release(BudgetHint(remaining=9, resets_after=0.75))
    assert limiter.window_budget == 5
    await limiter.release(BudgetHint(remaining=3, resets_after=0.65))
    assert limiter.window_budget == 3
    assert repr(limiter).endswith("window_budget=3 resets_in=0.652s cooldown=open>")


async def test_hint_of_a_window_that_has_reset_is_ignored(clock: VirtualClock) -> None:
    """A late response from a window that has already reset does not hold requests back."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    await limiter.release(BudgetHint(remaining=4, resets_after=1.0))
    await asyncio.sleep(1.1)
    await limiter.release(BudgetHint(remaining=0, resets_after=0.1))
    assert limiter.window_budget is None
    assert await limiter.acquire() == 0.0


async def test_a_reading_that_comes_as_the_window_resets_is_of_a_window_past(
    clock: VirtualClock,
) -> None:
    """A reading of the window that comes the instant it resets, by the limiter's reading,
    is of a window past: it holds no caller, though it reads that reset a little later."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    limiter.follow(BudgetHint(remaining=5, resets_after=0.998))  # resets at 1.0 s
    await asyncio.sleep(0.5)
    await limiter.acquire()
    await asyncio.sleep(0.5)
    await limiter.release(BudgetHint(remaining=0, resets_after=0.5))  # from its send: 1.002 s
    assert clock.now == 1.0
    assert limiter.window_budget is None
    assert await limiter.acquire() == 0.0


async def test_hint_older_than_the_current_window_is_ignored(clock: VirtualClock) -> None:
    """A response from the previous window arriving after the next one began changes nothing."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    await limiter.release(BudgetHint(remaining=30, resets_after=1.0))
    await asyncio.sleep(1.05)
    await limiter.release(BudgetHint(remaining=38, resets_after=0.95))  # the new window
    await limiter.release(BudgetHint(remaining=0, resets_after=0.0))  # late, the old one
    assert limiter.window_budget == 38


async def test_remaining_without_reset_tightens_only_a_known_window(
    clock: VirtualClock,
) -> None:
    """``remaining`` alone lowers a known window's budget and is ignored otherwise."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    await limiter.release(BudgetHint(remaining=0))
    assert limiter.window_budget is None
    await limiter.release(BudgetHint(remaining=7, resets_after=1.0))
    await limiter.release(BudgetHint(remaining=2))
    assert limiter.window_budget == 2


async def test_hint_window_length_separates_short_server_windows(clock: VirtualClock) -> None:
    """The server's announced window, not the configured one, tells its windows apart."""
    limiter = RateLimiter(RateLimit(150, 60.0))
    spent = BudgetHint(remaining=0, resets_after=0.5, limit=40, window=1.0)
    await limiter.release(spent)
    await asyncio.sleep(0.6)
    await limiter.release(attrs.evolve(spent, resets_after=0.9))
    assert limiter.window_budget == 0
    assert await limiter.acquire() == pytest.approx(0.902, abs=1e-5)


async def test_slower_server_allocation_slows_pacing(clock: VirtualClock) -> None:
    """A server announcing 10 per second paces a client configured for 100 per second."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    await limiter.release(BudgetHint(limit=10, window=1.0))
    await limiter.acquire()
    assert await limiter.acquire() == pytest.approx(0.1, abs=1e-5)


@pytest.mark.parametrize(
    "hint",
    [
        BudgetHint(limit=10, window=0.0),  # "X-Requests-Window-Length: 0 times"
        BudgetHint(limit=0, window=1.0),
        BudgetHint(limit=10),
        BudgetHint(limit=1000, window=1.0),  # faster than configured: keep the user's rate
    ],
)
async def test_unusable_or_faster_allocation_leaves_pacing_alone(
    clock: VirtualClock, hint: BudgetHint
) -> None:
    """An allocation that is absurd, partial or faster than configured changes nothing."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    await limiter.release(hint)
    await limiter.acquire()
    assert await limiter.acquire() == pytest.approx(0.01, abs=1e-6)


async def test_a_reset_is_read_from_when_its_request_was_sent(clock: VirtualClock) -> None:
    """The server states its window as the request arrived: its latency is not added."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    await limiter.acquire()
    await asyncio.sleep(0.3)  # the server's latency
    await limiter.release(BudgetHint(remaining=0, resets_after=0.5))
    assert await limiter.acquire() == pytest.approx(0.502 - 0.3, abs=1e-5)


async def test_readings_of_one_window_keep_the_latest_send(clock: VirtualClock) -> None:
    """A request slow to reach the server (a new connection) reads its window's reset early."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    server_end = 1.0

    async def request(way_there: float, way_back: float) -> None:
        await limiter.acquire()
        await asyncio.sleep(way_there)
        arrived = asyncio.get_running_loop().time()
        await asyncio.sleep(way_back)
        await limiter.release(BudgetHint(remaining=50, resets_after=server_end - arrived))

    # Sent at 0 s and 0.01 s, they read 1.0 - 0.05 and 1.0 - 0.001 (plus the margin).
    await asyncio.gather(request(0.05, 0.01), request(0.001, 0.2))
    assert repr(limiter).endswith("resets_in=0.790s cooldown=open>")  # at 0.211 s


async def test_a_reset_released_from_another_task_is_read_from_the_response(
    clock: VirtualClock,
) -> None:
    """Without its request's sending time, the reset is read from the release: never early."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    await limiter.acquire()
    await asyncio.sleep(0.3)
    await asyncio.create_task(limiter.release(BudgetHint(remaining=0, resets_after=0.5)))
    assert await limiter.acquire() == pytest.approx(0.502, abs=1e-5)


async def test_a_429_after_an_early_reading_reads_resets_from_responses(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A server that states its window when it answers is met once, then read from responses."""
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(RateLimit(100, 1.0))
    # Its windows end at 1.0 s and 2.0 s; each answer, and its figures, come 0.1 s after
    # the request arrived.
    await limiter.acquire()
    await asyncio.sleep(0.1)
    await limiter.release(BudgetHint(remaining=0, resets_after=0.9))
    assert await limiter.acquire() == pytest.approx(0.902 - 0.1, abs=1e-5)  # read 0.1 s early
    await asyncio.sleep(0.05)
    with caplog.at_level(logging.INFO, logger="b2b_async"):
        await limiter.release(BudgetHint(remaining=0, resets_after=0.048, retry_after=0.048))
    assert "reading reset times from responses" in caplog.text
    await limiter.acquire()  # after the 429's cooldown, in the next window
    await asyncio.sleep(0.1)
    answered = loop.time()
    await limiter.release(BudgetHint(remaining=0, resets_after=2.0 - answered))
    assert await limiter.acquire() == pytest.approx(2.002 - answered, abs=1e-5)


async def test_a_429_to_a_request_sent_before_its_reset_keeps_reading_resets_from_sends(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A 429 to a request sent before its window's reset keeps resets read from sending."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    await limiter.acquire()
    await asyncio.sleep(0.1)
    await limiter.release(BudgetHint(remaining=5, resets_after=0.9))  # resets at 0.902 s
    await limiter.acquire()  # sent at 0.1 s, within that window
    await asyncio.sleep(0.05)
    with caplog.at_level(logging.INFO, logger="b2b_async"):
        await limiter.release(BudgetHint(remaining=0, resets_after=0.75, retry_after=0.75))
    assert "reading reset times from responses" not in caplog.text
    await limiter.acquire()  # after the cooldown, in the next window
    await asyncio.sleep(0.1)
    await limiter.release(BudgetHint(remaining=0, resets_after=0.9))
    assert await limiter.acquire() == pytest.approx(0.902 - 0.1, abs=1e-5)


async def meet_a_429_sent_at_a_reset(*, answered_after: float, resets_after: float) -> RateLimiter:
    """A limiter of 100 requests a second whose spent window, read from its first request's
    send at 0 s, resets at 1.0 s; its next request, sent then, meets a 429 (``retry_after``
    0.05 s) answered ``answered_after`` seconds later with ``resets_after``."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    await limiter.acquire()
    await limiter.release(BudgetHint(remaining=0, resets_after=0.998))
    await limiter.acquire()
    await asyncio.sleep(answered_after)
    await limiter.release(BudgetHint(remaining=0, resets_after=resets_after, retry_after=0.05))
    return limiter


@pytest.mark.parametrize(
    ("answered_after", "resets_after", "wait"),
    [(0.2, 0.4, 0.402), (0.25, 0.498, 0.5)],
    ids=["within-half-a-window", "half-a-window-on"],
)
async def test_the_429_that_shows_resets_read_early_is_read_from_its_response(
    clock: VirtualClock, answered_after: float, resets_after: float, wait: float
) -> None:
    """A 429 of the window just read (its reset read from its send at most half a window
    later) reads its own window's reset from its response."""
    limiter = await meet_a_429_sent_at_a_reset(
        answered_after=answered_after, resets_after=resets_after
    )
    # Read from its send, the reset would be of the window past, and ignored.
    assert limiter.window_budget == 0
    assert await limiter.acquire() == pytest.approx(wait, abs=1e-5)


async def test_a_429_of_a_later_window_keeps_reading_resets_from_sends(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A 429 whose reset, read from its send, is more than half a window after the reset
    read before is of a later window: its reset, and those after it, are read from sends."""
    with caplog.at_level(logging.INFO, logger="b2b_async"):
        limiter = await meet_a_429_sent_at_a_reset(answered_after=0.1, resets_after=0.7)
    assert "reading reset times from responses" not in caplog.text
    assert await limiter.acquire() == pytest.approx(1.702 - 1.1, abs=1e-5)


async def read_from_its_response(*, remaining: int) -> RateLimiter:
    """A limiter of 100 requests a second whose first request, sent at 0 s, is read at 0.1 s
    from its response: ``remaining`` left, the window resetting at 1.002 s (0.9 s on, and
    the margin)."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    await limiter.acquire()
    await asyncio.sleep(0.1)
    limiter.follow(BudgetHint(remaining=remaining, resets_after=0.9))
    return limiter


async def test_a_new_window_read_from_a_response_keeps_its_earliest_reading(
    clock: VirtualClock,
) -> None:
    """A window first read from a response keeps its earliest reset, after one read from a send."""
    limiter = await read_from_its_response(remaining=50)
    await limiter.release(BudgetHint(remaining=50, resets_after=0.95))  # from its send
    await asyncio.sleep(1.0)
    # The next window, read from responses released from other tasks: 2.102 s, then 2.002 s.
    await asyncio.create_task(limiter.release(BudgetHint(remaining=50, resets_after=1.0)))
    await asyncio.sleep(0.1)
    await asyncio.create_task(limiter.release(BudgetHint(remaining=0, resets_after=0.8)))
    assert await limiter.acquire() == pytest.approx(2.002 - 1.2, abs=1e-5)


async def test_a_reading_from_a_send_replaces_one_from_a_response_then_keeps_the_latest(
    clock: VirtualClock,
) -> None:
    """A send's reading of a window replaces a response's, then the latest of sends is kept."""
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(RateLimit(100, 1.0))

    async def request(resets_after: float, remaining: int) -> None:
        await limiter.acquire()
        await asyncio.sleep(0.1 - loop.time())
        await limiter.release(BudgetHint(remaining=remaining, resets_after=resets_after))

    first = asyncio.create_task(request(0.95, 50))  # sent at 0 s: resets at 0.952 s
    second = asyncio.create_task(request(0.93, 0))  # sent at 0.01 s: resets at 0.942 s
    await asyncio.sleep(0.05)
    limiter.follow(BudgetHint(remaining=50, resets_after=0.95))  # from the response: 1.002 s
    await asyncio.gather(first, second)
    assert await limiter.acquire() == pytest.approx(0.952 - 0.1, abs=1e-5)


async def test_spending_seen_in_one_window_leaves_the_next_window_whole(
    clock: VirtualClock,
) -> None:
    """Others' spending seen twice in a window leaves the last request of the next to us."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    for remaining in (50, 40, 30):  # the last two lower than its count: others spend
        await limiter.acquire()
        await limiter.release(BudgetHint(remaining=remaining, resets_after=1.0 - clock.now))
    await asyncio.sleep(1.1 - clock.now)
    await limiter.acquire()
    await limiter.release(BudgetHint(remaining=1, resets_after=1.0))  # the next window
    assert await limiter.acquire() == pytest.approx(0.01, abs=1e-5)


async def test_a_reading_that_brings_a_spent_windows_reset_forward_lets_a_caller_leave_then(
    clock: VirtualClock,
) -> None:
    """A reading that brings a spent window's reset forward lets a held caller leave then."""
    limiter = await read_from_its_response(remaining=0)
    held = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    await limiter.release(BudgetHint(remaining=0, resets_after=0.9))  # from its send: 0.902 s
    assert await held == pytest.approx(0.802, abs=1e-5)


# --- catching up -------------------------------------------------------------------------


def late_by(seconds: float) -> Callable[[], float]:
    """A loop that wakes ``seconds`` late every time it waits."""
    return lambda: seconds


async def test_slots_a_late_loop_loses_are_made_up_within_the_window() -> None:
    """A loop 10 ms late at 40/s would lose 11 of 40 slots paced; with hints, windows fill."""
    server = FixedWindowServer(40, 1.0, offset=0.0)
    with virtual_clock(lateness=late_by(0.01)):
        await simulate(RateLimiter(RateLimit(40, 1.0)), 400, lambda: 0.08, server)
    assert server.rejected == 0
    assert server.ours()[1:-1] == [40] * (len(server.ours()) - 2)


async def test_a_slot_the_catch_up_would_place_at_the_reset_is_paced_an_interval_on(
    clock: VirtualClock,
) -> None:
    """Slots a known window's count allows come at its catch-up spacing, but one that
    spacing would place at or past the window's reset comes a whole interval on."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    await limiter.acquire()
    limiter.follow(BudgetHint(remaining=90, resets_after=0.03))  # resets at 0.032 s
    times = await acquire_times(limiter, 6)
    assert times == pytest.approx([0.01, 0.015, 0.02, 0.025, 0.035, 0.045], abs=1e-5)


@pytest.mark.parametrize("lateness", [0.0, 0.01, 0.05])
async def test_making_up_slots_never_spends_more_than_the_configured_share(
    lateness: float,
) -> None:
    """A client configured for 9 of a store's 15 a second sends at most 9 into any of the
    server's windows, late loop or not: the server's count is the store's, and the room it
    reports is the others' share too."""
    server = FixedWindowServer(15, 1.0, offset=0.5)  # no window edge on a paced slot
    with virtual_clock(lateness=late_by(lateness)):
        await simulate(RateLimiter(RateLimit(9, 1.0)), 90, lambda: 0.08, server)
    assert server.rejected == 0
    assert max(server.ours()) == 9


async def test_the_configured_share_bounds_the_deadline_estimate_too() -> None:
    """With room in the server's window but none in the share, a caller's estimate is the
    paced interval, as the slot it then gets."""
    with virtual_clock():
        limiter = RateLimiter(RateLimit(2, 1.0))
        for _ in range(2):
            await limiter.acquire()
            await limiter.release(BudgetHint(remaining=10, resets_after=0.9))
        pairs = await estimates_and_waits(limiter, 3)
    for estimate, wait in pairs:
        assert estimate == pytest.approx(wait, abs=1e-6)
    waits = [wait for _, wait in pairs]
    interval = 0.5  # the pace of 2 a second: the share has no room left to catch up in
    assert all(later - earlier >= interval - 1e-6 for earlier, later in itertools.pairwise(waits))


async def test_a_request_sent_as_its_window_began_counts_against_the_share(
    clock: VirtualClock,
) -> None:
    """A request granted at the very start of a window counts against the configured share:
    no slot of that window is made up for it."""
    limiter = RateLimiter(RateLimit(2, 1.0))
    await limiter.acquire()  # at 0 s
    await limiter.release(BudgetHint(remaining=10, resets_after=1.0))  # window [0 s, 1.0 s)
    assert await acquire_times(limiter, 2) == pytest.approx([0.5, 1.0], abs=1e-5)


async def test_no_catch_up_without_a_known_window() -> None:
    """Without hints, a late loop's slots stay lost: never two requests closer than T."""
    server = FixedWindowServer(40, 1.0, offset=0.0)
    with virtual_clock(lateness=late_by(0.01)):
        limiter = RateLimiter(RateLimit(40, 1.0))
        times = await simulate(limiter, 100, lambda: 0.08, server, hints=False)
    assert all(b - a >= 0.035 - 1e-9 for a, b in itertools.pairwise(sorted(times)))
    assert max(server.ours()) <= 30


async def test_catching_up_stops_at_the_window_reset(clock: VirtualClock) -> None:
    """Behind schedule, requests leave closer together, but only until the hinted reset."""
    limiter = RateLimiter(RateLimit(40, 1.0))
    await limiter.acquire()
    await limiter.release(BudgetHint(remaining=30, resets_after=0.5))
    times = await acquire_times(limiter, 32)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # From the next slot at 0.025 s, the 30 left share the time to the reset at 0.5 s (read
    # as 0.502 s) with the next window's first; the last of them is followed by a whole
    # interval, since the next window's count is unknown.
    assert gaps[:29] == pytest.approx([0.475 / 30] * 29, rel=1e-6)
    assert times[29] < 0.5
    assert times[30] >= 0.502
    assert gaps[29:] == pytest.approx([0.025, 0.025], rel=1e-4)


async def test_catching_up_never_outruns_a_competitor_seen_in_the_count(
    clock: VirtualClock,
) -> None:
    """A lower count from another integration's spending slows the catch-up at once."""
    limiter = RateLimiter(RateLimit(40, 1.0))
    await limiter.acquire()
    await limiter.release(BudgetHint(remaining=30, resets_after=0.5))  # behind: catching up
    await limiter.acquire()
    await limiter.release(BudgetHint(remaining=2, resets_after=0.48))  # others spent 27
    assert limiter.window_budget == 2
    times = await acquire_times(limiter, 3)
    assert times[1] < 0.502 <= times[2]


# --- 429 cooldown ------------------------------------------------------------------------


async def test_cooldown_holds_every_request_then_paces(clock: VirtualClock) -> None:
    """After a 429 with retry_after=1, nothing leaves before 1 s; then one per interval."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    await limiter.acquire()
    queued = asyncio.create_task(acquire_times(limiter, 2))  # already waiting for pacing
    await asyncio.sleep(0)
    await limiter.release(BudgetHint(retry_after=1.0))
    assert (limiter.cooldown_until, limiter.cooldown_remaining) == (1.0, 1.0)
    later = await acquire_times(limiter, 2)
    assert await queued + later == pytest.approx([1.0, 1.01, 1.02, 1.03], abs=1e-5)
    assert (limiter.cooldown_until, limiter.cooldown_remaining) == (None, 0.0)


async def test_after_a_cooldown_in_a_counted_window_calls_leave_an_interval_apart(
    clock: VirtualClock,
) -> None:
    """A 429 that leaves the window's count some budget (a quota of its own, say): the first
    call leaves as the cooldown ends, the next one an interval after it.

    The slot the first took was read as due before the cooldown, so the next came half an
    interval after it, as if a late timer had made it up.
    """
    limiter = RateLimiter(RateLimit(20, 2.0))  # one slot per 0.1 s
    await limiter.acquire()
    await limiter.release(BudgetHint(remaining=11, resets_after=1.8, limit=20, window=2.0))
    await limiter.acquire()
    await limiter.release(
        BudgetHint(remaining=8, resets_after=0.7, limit=20, window=2.0, retry_after=0.15)
    )
    times = await acquire_times(limiter, 3)
    assert times[0] == pytest.approx(0.25, abs=1e-5)
    assert [later - earlier for earlier, later in itertools.pairwise(times)] == pytest.approx(
        [0.1, 0.1], abs=1e-5
    )


@pytest.mark.parametrize("burst", [1, 3])
async def test_after_a_cooldown_a_window_with_room_to_spare_is_not_caught_up(
    clock: VirtualClock, burst: int
) -> None:
    """A 429 in a window whose count allows more than the pace would send in the rest of it:
    as many calls as the burst lets leave the cooldown at once, then one interval apart, not
    faster to make up for the time the server asked them to wait."""
    limiter = RateLimiter(RateLimit(150, 60.0, burst=burst))
    await limiter.acquire()
    await limiter.release(BudgetHint(remaining=140, resets_after=40.0))
    await limiter.acquire()
    await limiter.release(BudgetHint(remaining=139, resets_after=39.9, retry_after=5.0))
    reopens = clock.now + 5.0
    times = await acquire_times(limiter, burst + 3)
    assert times[:burst] == pytest.approx([reopens] * burst, abs=1e-5)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times[burst - 1 :])]
    assert gaps == pytest.approx([limiter.rate_limit.per / (150 - burst + 1)] * 3, rel=1e-4)


@pytest.mark.parametrize("read", [None, 1.0], ids=["no-window-read", "window-reset"])
async def test_after_a_429_that_names_no_window_its_window_is_not_caught_up(
    clock: VirtualClock, read: float | None
) -> None:
    """A 429 with only a Retry-After, met while no window's count is known (none read yet,
    or the one read has reset): once the count of its window is read, calls still leave one
    interval apart, not faster to make up for the cooldown."""
    limiter = RateLimiter(RateLimit(150, 60.0))
    if read is not None:
        await limiter.acquire()
        await limiter.release(BudgetHint(remaining=149, resets_after=read))
        await asyncio.sleep(2 * read)
    await limiter.acquire()
    await limiter.release(BudgetHint(retry_after=5.0))
    await limiter.acquire()
    await limiter.release(BudgetHint(remaining=139, resets_after=34.9))
    times = await acquire_times(limiter, 4)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert gaps == pytest.approx([limiter.rate_limit.per / 150] * 3, rel=1e-4)


async def test_following_an_answer_it_did_not_admit_keeps_its_cooldown_and_count(
    clock: VirtualClock,
) -> None:
    """An answer to a request another limiter admitted closes the gate as a release does,
    and fails a waiter it makes late, but counts nothing out of flight."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    await limiter.acquire()
    late = asyncio.create_task(limiter.acquire(deadline=0.5))
    await asyncio.sleep(0)
    limiter.follow(BudgetHint(retry_after=1.0))
    assert (limiter.cooldown_until, limiter.in_flight) == (1.0, 1)
    with pytest.raises(DeadlineUnreachableError):
        await late
    assert await limiter.acquire() == pytest.approx(1.0, abs=1e-5)


async def test_shorter_429_never_shortens_the_cooldown(clock: VirtualClock) -> None:
    """A later, shorter retry_after leaves the longer cooldown in place."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    await limiter.release(BudgetHint(retry_after=1.0))
    await asyncio.sleep(0.2)
    await limiter.release(BudgetHint(retry_after=0.3))
    assert limiter.cooldown_until == 1.0
    assert await limiter.acquire() == pytest.approx(0.8, abs=1e-5)


async def test_longer_429_extends_the_cooldown(clock: VirtualClock) -> None:
    """A later, longer retry_after pushes the cooldown's end out."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    await limiter.release(BudgetHint(retry_after=1.0))
    await asyncio.sleep(0.5)
    await limiter.release(BudgetHint(retry_after=2.0))
    assert await limiter.acquire() == pytest.approx(2.0, abs=1e-5)


async def test_zero_retry_after_closes_no_gate(clock: VirtualClock) -> None:
    """A retry_after of zero asks for no wait."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    await limiter.release(BudgetHint(retry_after=0.0))
    assert limiter.cooldown_until is None
    assert await limiter.acquire() == 0.0


async def test_a_zero_retry_after_leaves_catching_up_on(clock: VirtualClock) -> None:
    """A retry_after of zero is no 429: a window behind schedule is still caught up."""
    limiter = RateLimiter(RateLimit(40, 1.0))
    await limiter.acquire()
    await limiter.release(BudgetHint(remaining=30, resets_after=0.5, retry_after=0.0))
    times = await acquire_times(limiter, 30)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps == pytest.approx([0.475 / 30] * 29, rel=1e-6)


async def test_cooldown_start_and_end_are_logged(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The cooldown's start and end go to the b2b_async logger with the wait."""
    caplog.set_level(logging.DEBUG, logger="b2b_async")
    limiter = RateLimiter(RateLimit(100, 1.0))
    await limiter.release(BudgetHint(remaining=0, resets_after=1.0, retry_after=1.0))
    await limiter.acquire()  # at the window's reset, 2 ms after the cooldown's end
    messages = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert messages == [
        (
            "b2b_async",
            logging.DEBUG,
            "server budget spent; holding requests 1.002 s until its window resets",
        ),
        ("b2b_async", logging.INFO, "rate limited (429): holding every request for 1.000 s"),
        ("b2b_async", logging.INFO, "rate limit cooldown over after 1.000 s"),
    ]


async def test_a_429_after_a_cooldown_ran_out_unseen_is_a_new_cooldown_in_the_log(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A 429 after a cooldown ran out unseen logs that end, then a new cooldown at INFO."""
    caplog.set_level(logging.DEBUG, logger="b2b_async")
    limiter = RateLimiter(RateLimit(100, 1.0))
    await limiter.release(BudgetHint(retry_after=1.0))
    await asyncio.sleep(3.0)  # a request sent before the first 429 is answered late
    await limiter.release(BudgetHint(retry_after=1.0))
    await limiter.acquire()
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert messages == [
        (logging.INFO, "rate limited (429): holding every request for 1.000 s"),
        (logging.INFO, "rate limit cooldown over after 1.000 s"),
        (logging.INFO, "rate limited (429): holding every request for 1.000 s"),
        (logging.INFO, "rate limit cooldown over after 1.000 s"),
    ]


async def test_a_429_that_ends_with_the_cooldown_is_not_logged_again(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A second 429 whose cooldown ends when the one holding ends adds no log line."""
    caplog.set_level(logging.DEBUG, logger="b2b_async")
    limiter = RateLimiter(RateLimit(100, 1.0))
    limiter.follow(BudgetHint(retry_after=1.0))
    limiter.follow(BudgetHint(retry_after=1.0))
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["rate limited (429): holding every request for 1.000 s"]


async def test_a_spent_window_is_logged_once_however_often_it_is_read_spent(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The hold for a spent window is logged when it starts, not again for each reading
    that finds the window still spent."""
    caplog.set_level(logging.DEBUG, logger="b2b_async")
    limiter = RateLimiter(RateLimit(100, 1.0))
    limiter.follow(BudgetHint(remaining=0, resets_after=1.0))
    await asyncio.sleep(0.1)
    limiter.follow(BudgetHint(remaining=0, resets_after=0.9))
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["server budget spent; holding requests 1.002 s until its window resets"]


# --- priority lanes ----------------------------------------------------------------------


async def leave_in_order(
    limiter: RateLimiter, callers: list[tuple[str, Priority]]
) -> tuple[dict[str, asyncio.Task[None]], list[tuple[str, float]]]:
    """Queue ``callers`` (name, priority) in order; return their tasks and a log of departures."""
    loop = asyncio.get_running_loop()
    left: list[tuple[str, float]] = []

    async def one(name: str, priority: Priority) -> None:
        await limiter.acquire(priority)
        left.append((name, loop.time()))

    tasks = {name: asyncio.create_task(one(name, priority)) for name, priority in callers}
    await asyncio.sleep(0)
    return tasks, left


def mixed_callers() -> list[tuple[str, Priority]]:
    """Three callers of each priority, arriving bulk, normal, urgent, bulk, ..."""
    return [(f"{level}{i}", level) for i in range(3) for level in reversed(Priority)]


def in_service_order(callers: list[tuple[str, Priority]]) -> list[str]:
    """The names of ``callers`` in the order the lanes serve them."""
    return [name for level in Priority for name, priority in callers if priority is level]


async def test_higher_priorities_leave_first_and_each_lane_in_arrival_order(
    clock: VirtualClock,
) -> None:
    """Urgent callers leave before normal ones, normal before bulk, each lane first-come first."""
    limiter = RateLimiter(RateLimit(10, 1.0))
    await limiter.acquire()
    callers = mixed_callers()
    tasks, left = await leave_in_order(limiter, callers)
    assert limiter.waiting == 9
    await asyncio.gather(*tasks.values())
    assert [name for name, _ in left] == in_service_order(callers)
    assert [t for _, t in left] == pytest.approx([0.1 * i for i in range(1, 10)], abs=1e-5)


async def test_an_urgent_caller_overtakes_a_waiting_backfill(clock: VirtualClock) -> None:
    """An urgent caller arriving during a bulk queue takes the next slot; bulk paces on."""
    limiter = RateLimiter(RateLimit(10, 1.0))
    await limiter.acquire()
    tasks, left = await leave_in_order(limiter, [(f"bulk{i}", Priority.BULK) for i in range(5)])
    await asyncio.sleep(0.25)
    assert await limiter.acquire("urgent") == pytest.approx(0.05, abs=1e-5)
    await asyncio.gather(*tasks.values())
    assert [t for _, t in left] == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.6], abs=1e-5)


async def test_bulk_takes_every_slot_the_others_leave(clock: VirtualClock) -> None:
    """With urgent callers arriving now and then, bulk fills every other slot at the full rate."""
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(RateLimit(10, 1.0))
    tasks, left = await leave_in_order(limiter, [(f"bulk{i}", Priority.BULK) for i in range(8)])
    urgent = []
    for _ in range(2):
        await asyncio.sleep(0.25)
        await limiter.acquire(Priority.URGENT)
        urgent.append(loop.time())
    await asyncio.gather(*tasks.values())
    assert urgent == pytest.approx([0.3, 0.6], abs=1e-5)
    everything = sorted([t for _, t in left] + urgent)
    assert everything == pytest.approx([0.1 * i for i in range(10)], abs=1e-5)


@pytest.mark.parametrize("level", list(Priority))
@pytest.mark.parametrize("position", [0, 1, 2], ids=["head", "middle", "tail"])
async def test_a_cancelled_waiter_in_any_lane_blocks_no_one(
    clock: VirtualClock, level: Priority, position: int
) -> None:
    """Cancelling the head, middle or tail of a lane hands its slot on: pacing stays even."""
    limiter = RateLimiter(RateLimit(10, 1.0))
    await limiter.acquire()
    callers = mixed_callers()
    tasks, left = await leave_in_order(limiter, callers)
    await asyncio.sleep(0.05)  # the timer for the first slot is armed
    gone = f"{level}{position}"
    tasks[gone].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks.pop(gone)
    assert limiter.waiting == 8
    await asyncio.gather(*tasks.values())
    assert [name for name, _ in left] == [n for n in in_service_order(callers) if n != gone]
    assert [t for _, t in left] == pytest.approx([0.1 * i for i in range(1, 9)], abs=1e-5)
    assert (limiter.waiting, limiter.in_flight) == (0, 9)


async def test_cancelling_a_whole_lane_hands_its_slots_to_the_next(clock: VirtualClock) -> None:
    """When every urgent waiter gives up, the next slot goes to the lane below, on time."""
    limiter = RateLimiter(RateLimit(10, 1.0))
    await limiter.acquire()
    callers = [("urgent0", Priority.URGENT), ("urgent1", Priority.URGENT), ("bulk0", Priority.BULK)]
    tasks, left = await leave_in_order(limiter, callers)
    for name in ("urgent0", "urgent1"):
        tasks.pop(name).cancel()
    await asyncio.gather(*tasks.values())
    assert [name for name, _ in left] == ["bulk0"]
    assert left[0][1] == pytest.approx(0.1, abs=1e-5)
    assert limiter.waiting == 0


async def test_acquire_rejects_an_unknown_priority(clock: VirtualClock) -> None:
    """A priority that is none of the three is a ValueError, and nothing is booked."""
    limiter = RateLimiter(RateLimit(10, 1.0))
    with pytest.raises(ValueError, match="priority must be one of"):
        await limiter.acquire("high")
    assert limiter.in_flight == 0


# --- deadlines ---------------------------------------------------------------------------


async def queue_behind(
    limiter: RateLimiter, count: int, priority: Priority
) -> list[asyncio.Task[float]]:
    """Queue ``count`` callers of ``priority`` and let them reach the queue."""
    tasks = [asyncio.create_task(limiter.acquire(priority)) for _ in range(count)]
    await asyncio.sleep(0)
    return tasks


async def give_up(tasks: list[asyncio.Task[float]]) -> None:
    """Cancel ``tasks`` and wait for them to end."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_deadline_behind_ten_seconds_of_calls_fails_at_once(clock: VirtualClock) -> None:
    """A 1 s deadline queued behind 10 s of same-priority calls fails in no time, unbooked."""
    limiter = RateLimiter(RateLimit(10, 1.0))
    queued = await queue_behind(limiter, 100, Priority.NORMAL)
    with pytest.raises(DeadlineUnreachableError) as info:
        await limiter.acquire(deadline=1.0)
    assert clock.now < 0.05
    assert info.value.estimated_wait == pytest.approx(10.0, abs=1e-4)
    assert info.value.deadline == 1.0
    assert (limiter.waiting, limiter.in_flight) == (99, 1)  # the first of the 100 left at once
    await give_up(queued)


async def test_callers_cancelled_in_the_same_instant_count_against_no_deadline(
    clock: VirtualClock,
) -> None:
    """Fifty callers ahead, cancelled just before a caller with a 0.5 s deadline comes, hold
    it up no more than they would once their tasks have run: it is admitted, not refused.

    The estimate counted them until their tasks ran, 5 s of calls ahead.
    """
    limiter = RateLimiter(RateLimit(10, 1.0))
    await limiter.acquire()
    queued = await queue_behind(limiter, 50, Priority.NORMAL)
    for task in queued:
        task.cancel()
    assert await limiter.acquire(deadline=0.5) == pytest.approx(0.1, abs=1e-5)
    await asyncio.gather(*queued, return_exceptions=True)
    assert (limiter.waiting, limiter.in_flight) == (0, 2)


async def test_a_reachable_deadline_waits_for_its_slot(clock: VirtualClock) -> None:
    """A deadline the queue ahead leaves time for is kept: the caller waits its turn."""
    limiter = RateLimiter(RateLimit(10, 1.0))
    queued = await queue_behind(limiter, 5, Priority.NORMAL)
    assert await limiter.acquire(deadline=0.55) == pytest.approx(0.5, abs=1e-5)
    await asyncio.gather(*queued)


async def test_a_deadline_equal_to_the_estimated_wait_is_admitted(clock: VirtualClock) -> None:
    """A caller whose slot is estimated at exactly its deadline waits for it, not refused."""
    limiter = RateLimiter(RateLimit(10, 1.0))
    await limiter.release(BudgetHint(retry_after=1.0))
    assert await limiter.acquire(deadline=1.0) == pytest.approx(1.0, abs=1e-9)


async def test_a_reading_that_leaves_a_slot_at_its_deadline_keeps_its_caller_waiting(
    clock: VirtualClock,
) -> None:
    """A caller whose slot a new reading leaves estimated at exactly its deadline waits on."""
    limiter = RateLimiter(RateLimit(10, 1.0))
    await limiter.release(BudgetHint(retry_after=1.0))
    waiting = asyncio.create_task(limiter.acquire(deadline=1.0))
    await asyncio.sleep(0)
    limiter.follow(BudgetHint(remaining=5, resets_after=0.5))  # rechecks every deadline
    assert await waiting == pytest.approx(1.0, abs=1e-9)


async def test_only_callers_of_its_own_or_a_higher_priority_count_against_a_deadline(
    clock: VirtualClock,
) -> None:
    """A normal call with a short deadline passes a long bulk queue but not an urgent one."""
    limiter = RateLimiter(RateLimit(10, 1.0))
    bulk = await queue_behind(limiter, 50, Priority.BULK)
    assert await limiter.acquire(deadline=0.15) == pytest.approx(0.1, abs=1e-5)
    urgent = await queue_behind(limiter, 5, Priority.URGENT)
    with pytest.raises(DeadlineUnreachableError) as info:
        await limiter.acquire(Priority.NORMAL, deadline=0.3)
    assert info.value.estimated_wait == pytest.approx(0.6, abs=1e-5)
    await give_up(bulk + urgent)


async def test_a_caller_that_takes_a_due_slot_at_once_fails_a_lower_deadline_it_makes_late(
    clock: VirtualClock,
) -> None:
    """A caller that takes a slot at once, as it falls due and before the limiter wakes for
    it, fails a lower caller's deadline that this makes unreachable, then and there."""
    now = 0.0
    limiter = RateLimiter(RateLimit(10, 1.0), clock=lambda: now)
    await limiter.acquire()
    bulk = asyncio.create_task(limiter.acquire(Priority.BULK, deadline=0.15))
    await asyncio.sleep(0)
    now = 0.11  # the bulk caller's slot is due, the limiter has not woken for it yet
    assert await limiter.acquire(Priority.URGENT) == 0.0
    await asyncio.sleep(0)
    assert bulk.done()
    with pytest.raises(DeadlineUnreachableError):
        await bulk


@pytest.mark.parametrize(
    ("hint", "wait"),
    [
        (BudgetHint(retry_after=5.0), 5.0),
        (BudgetHint(remaining=0, resets_after=3.0), 3.002),
        (BudgetHint(remaining=2, resets_after=3.0), 3.202),  # after 2 left, the reset, 2 slots
    ],
    ids=["cooldown", "spent-window", "window-spent-before-its-turn"],
)
async def test_a_cooldown_or_spent_window_makes_a_deadline_unreachable(
    clock: VirtualClock, hint: BudgetHint, wait: float
) -> None:
    """The wait for a 429's cooldown or a window's reset counts: the call fails at once."""
    limiter = RateLimiter(RateLimit(10, 1.0))
    await limiter.release(hint)
    queued = await queue_behind(limiter, 4, Priority.NORMAL) if hint.remaining else []
    with pytest.raises(DeadlineUnreachableError) as info:
        await limiter.acquire(deadline=1.0)
    assert info.value.estimated_wait == pytest.approx(wait, abs=1e-5)
    assert clock.now == 0.0
    await give_up(queued)


async def test_the_estimate_counts_a_burst_after_a_spent_window_resets(
    clock: VirtualClock,
) -> None:
    """With a burst of 3, the callers queued behind the last of a window's budget leave
    three together at its reset: a deadline just past the reset is met, and admitted.

    The estimate paced them one interval apart from the reset, and refused the deadline.
    """
    limiter = RateLimiter(RateLimit(10, 1.0, burst=3))  # one slot per 0.125 s
    for _ in range(3):  # the burst, spent
        await limiter.acquire()
    await limiter.release(BudgetHint(remaining=1, resets_after=1.0))
    reset = 1.0 + RESET_MARGIN
    queued = await queue_behind(limiter, 3, Priority.NORMAL)
    waited = await limiter.acquire(deadline=reset + 0.1)
    times = await asyncio.gather(*queued)
    assert waited == pytest.approx(reset, abs=1e-5)
    assert times[0] < 1.0
    assert times[1:] == pytest.approx([reset, reset], abs=1e-5)


async def test_the_estimate_counts_the_window_a_burst_spends_before_its_slot(
    clock: VirtualClock,
) -> None:
    """With a burst, a slot past the window's reset may leave before it, less the
    tolerance, and spend the window's last request: the caller after it waits for the
    reset, and a deadline before the reset is refused, not admitted and missed."""
    limiter = RateLimiter(RateLimit(10, 1.0, burst=5))
    for _ in range(3):
        await limiter.acquire()
    await limiter.acquire()
    await limiter.release(BudgetHint(remaining=2, resets_after=0.5))
    await limiter.acquire()  # one request left in the window
    first = asyncio.create_task(limiter.acquire(deadline=0.4))
    await asyncio.sleep(0)
    with pytest.raises(DeadlineUnreachableError) as info:
        await limiter.acquire(deadline=0.4)
    assert info.value.estimated_wait == pytest.approx(0.5 + RESET_MARGIN, abs=1e-5)
    assert await first <= 0.4


@pytest.mark.parametrize(("deadline", "kept"), [(1.1, False), (1.13, True)])
async def test_the_estimate_counts_a_burst_after_a_cooldown(
    clock: VirtualClock, deadline: float, kept: bool
) -> None:
    """With a burst of 3, the three callers ahead leave together when a cooldown ends."""
    limiter = RateLimiter(RateLimit(10, 1.0, burst=3))  # one slot per 0.125 s
    await limiter.release(BudgetHint(retry_after=1.0))
    queued = await queue_behind(limiter, 3, Priority.NORMAL)
    if kept:
        assert await limiter.acquire(deadline=deadline) == pytest.approx(1.125, abs=1e-5)
    else:
        with pytest.raises(DeadlineUnreachableError) as info:
            await limiter.acquire(deadline=deadline)
        assert info.value.estimated_wait == pytest.approx(1.125, abs=1e-5)
    assert await asyncio.gather(*queued) == pytest.approx([1.0, 1.0, 1.0], abs=1e-5)


async def test_the_estimate_counts_a_window_a_burst_spends_after_its_catch_up(
    clock: VirtualClock,
) -> None:
    """With a burst of 5, four callers leave together as a cooldown ends and spend the
    window's four requests, the last two after its catch-up slots: the fifth waits for the
    reset, so a deadline before the reset is refused at once, not admitted and missed.

    The estimate counted the spent window only when the catch-up slots alone spent it.
    """
    limiter = RateLimiter(RateLimit(10, 1.0, burst=5))  # one slot per 1/6 s, 4 ahead
    await limiter.release(BudgetHint(remaining=4, resets_after=0.3, retry_after=0.1))
    queued = await queue_behind(limiter, 4, Priority.NORMAL)
    with pytest.raises(DeadlineUnreachableError) as info:
        await limiter.acquire(deadline=0.2)
    assert info.value.estimated_wait == pytest.approx(0.3 + RESET_MARGIN, abs=1e-5)
    assert await asyncio.gather(*queued) == pytest.approx([0.1] * 4, abs=1e-5)
    await limiter.acquire()
    assert clock.now == pytest.approx(0.3 + RESET_MARGIN, abs=1e-5)  # the fifth, at the reset


async def test_the_estimate_counts_the_catch_up_of_a_window_a_burst_leaves_room_in(
    clock: VirtualClock,
) -> None:
    """With a burst and a window of room to spare, a caller is estimated at the catch-up
    spacing it then leaves at, not one interval behind the caller ahead."""
    limiter = RateLimiter(RateLimit(10, 1.0, burst=3))  # one slot per 0.125 s
    await limiter.acquire()
    await limiter.release(BudgetHint(remaining=6, resets_after=0.5))
    queued = await queue_behind(limiter, 4, Priority.NORMAL)  # 3 at once, one at 0.0625 s
    with pytest.raises(DeadlineUnreachableError) as info:
        await limiter.acquire(deadline=0.1)
    assert info.value.estimated_wait == pytest.approx(0.125, abs=1e-5)
    assert await limiter.acquire(deadline=0.13) == pytest.approx(0.125, abs=1e-5)
    assert await asyncio.gather(*queued) == pytest.approx([0, 0, 0, 0.0625], abs=1e-5)


async def test_a_cooldown_that_begins_while_waiting_fails_a_late_caller_at_once(
    clock: VirtualClock,
) -> None:
    """A 429 that pushes a queued caller past its deadline fails it then; the others wait on."""
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(RateLimit(10, 1.0))
    queued = await queue_behind(limiter, 4, Priority.NORMAL)
    timed = asyncio.create_task(limiter.acquire(deadline=2.0))
    await asyncio.sleep(0.15)
    await limiter.release(BudgetHint(retry_after=3.0))
    with pytest.raises(DeadlineUnreachableError) as info:
        await timed
    assert loop.time() == pytest.approx(0.15, abs=1e-9)
    assert info.value.estimated_wait == pytest.approx(3.0 + 0.2, abs=1e-5)  # two still ahead
    assert info.value.deadline == pytest.approx(1.85)
    waits = await asyncio.gather(*queued)
    assert waits[2:] == pytest.approx([3.15, 3.25], abs=1e-5)
    assert limiter.in_flight == 3  # four acquired, one released with the 429


async def test_urgent_callers_that_push_a_deadline_past_reach_fail_it_at_once(
    clock: VirtualClock,
) -> None:
    """A caller of a higher priority arriving ahead of a waiting deadline fails it when it slips."""
    limiter = RateLimiter(RateLimit(10, 1.0))
    queued = await queue_behind(limiter, 3, Priority.NORMAL)  # at 0.0 (at once), 0.1 and 0.2
    timed = asyncio.create_task(limiter.acquire(deadline=0.35))  # its slot: 0.3
    await asyncio.sleep(0)
    assert limiter.waiting == 3
    urgent = await queue_behind(limiter, 1, Priority.URGENT)
    with pytest.raises(DeadlineUnreachableError) as info:
        await timed
    assert clock.now == 0.0
    assert info.value.estimated_wait == pytest.approx(0.4, abs=1e-5)
    await asyncio.gather(*queued, *urgent)


async def test_hold_until_that_pushes_a_deadline_past_reach_fails_it_at_once(
    clock: VirtualClock,
) -> None:
    """A schedule taken over from elsewhere fails a waiter it makes late."""
    limiter = RateLimiter(RateLimit(10, 1.0))
    await limiter.acquire()
    timed = asyncio.create_task(limiter.acquire(deadline=0.5))
    await asyncio.sleep(0)
    limiter.hold_until(2.0)
    with pytest.raises(DeadlineUnreachableError):
        await timed
    assert clock.now == 0.0
    assert limiter.waiting == 0


async def test_failed_and_cancelled_in_one_instant_counts_nothing(clock: VirtualClock) -> None:
    """A caller cancelled in the instant its deadline failed it leaves the counts right."""
    limiter = RateLimiter(RateLimit(10, 1.0))
    await limiter.acquire()
    timed = asyncio.create_task(limiter.acquire(deadline=0.5))
    await asyncio.sleep(0)
    await limiter.release(BudgetHint(retry_after=1.0))
    timed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await timed
    assert (limiter.waiting, limiter.in_flight) == (0, 0)
    assert await limiter.acquire() == pytest.approx(1.0, abs=1e-5)


async def test_deadline_must_be_a_number(clock: VirtualClock) -> None:
    """A NaN deadline is a ValueError, and nothing is booked."""
    limiter = RateLimiter(RateLimit(10, 1.0))
    with pytest.raises(ValueError, match="deadline must be a number"):
        await limiter.acquire(deadline=math.nan)
    assert (limiter.waiting, limiter.in_flight) == (0, 0)


@pytest.mark.parametrize("deadline", ["5", b"5", True, [1.0]])
async def test_a_deadline_that_is_no_number_is_refused_by_name(
    clock: VirtualClock, deadline: object
) -> None:
    """A deadline that is no int or float is a ValueError naming it, and nothing is booked."""
    limiter = RateLimiter(RateLimit(10, 1.0))
    with pytest.raises(ValueError, match=r"^deadline must be a number of seconds or None, got"):
        await limiter.acquire(deadline=deadline)  # type: ignore[arg-type]
    assert (limiter.waiting, limiter.in_flight) == (0, 0)


async def test_a_deadline_past_a_floats_range_is_an_unbounded_or_passed_one(
    clock: VirtualClock,
) -> None:
    """An int too large for a float bounds nothing, or has passed, as its sign says."""
    limiter = RateLimiter(RateLimit(1, 1.0))
    assert await limiter.acquire(deadline=10**5000) == 0.0
    with pytest.raises(DeadlineUnreachableError):
        await limiter.acquire(deadline=-(10**5000))
    assert (limiter.waiting, limiter.in_flight) == (0, 1)


async def test_the_deadline_error_pickles_with_its_fields(clock: VirtualClock) -> None:
    """The error crosses processes with its estimate, and names both figures."""
    limiter = RateLimiter(RateLimit(10, 1.0))
    await limiter.release(BudgetHint(retry_after=5.0))
    with pytest.raises(DeadlineUnreachableError) as info:
        await limiter.acquire(deadline=1.0)
    error = info.value
    assert isinstance(error, B2BError)
    assert str(error) == (
        "no request budget before the call's deadline: the next slot for it is an estimated"
        " 5.000 s away, and it may wait 1.000 s"
    )
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.__dict__, str(copy), repr(copy)) == (
        DeadlineUnreachableError,
        error.__dict__,
        str(error),
        "DeadlineUnreachableError(estimated_wait=5.0, deadline=1.0)",
    )


# --- simulations -------------------------------------------------------------------------

SIMULATION = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SIMULATION
@given(
    requests=st.integers(1, 60),
    per=st.floats(0.05, 120.0),
    burst_share=st.floats(0.0, 1.0),
    windows=st.integers(2, 12),
    start=st.floats(0.0, 1e6),
    latency_share=st.floats(0.0, 3.0),
    seed=st.integers(0, 2**32 - 1),
)
async def test_pacing_alone_never_overfills_any_window(
    requests: int,
    per: float,
    burst_share: float,
    windows: int,
    start: float,
    latency_share: float,
    seed: int,
) -> None:
    """Without hints, no span of ``per`` seconds, however aligned, sees over ``requests``."""
    burst = 1 + round(burst_share * (requests - 1))
    rng = random.Random(seed)
    interval = per / requests
    with virtual_clock(start):
        limiter = RateLimiter(RateLimit(requests, per, burst=burst))
        times = await simulate(limiter, requests * windows, up_to(rng, latency_share * interval))
    assert busiest_span(times, per) <= requests
    if burst == 1:
        assert achieved(times, requests, per) >= 0.97


@SIMULATION
@given(
    requests=st.integers(2, 60),
    per=st.floats(0.05, 120.0),
    windows=st.integers(5, 15),
    start=st.floats(0.0, 1e6),
    offset=st.floats(0.0, 1.0),
    latency_share=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
async def test_server_windows_never_overflow_and_the_budget_is_spent(
    requests: int,
    per: float,
    windows: int,
    start: float,
    offset: float,
    latency_share: float,
    seed: int,
) -> None:
    """With hints at any window alignment: never over ``requests`` a window, ≥ 0.97 of the rate."""
    rng = random.Random(seed)
    interval = per / requests
    server = FixedWindowServer(requests, per, offset=start + offset * per)
    with virtual_clock(start):
        limiter = RateLimiter(RateLimit(requests, per))
        times = await simulate(
            limiter,
            max(requests * windows, 300),  # a long run: catching a window's phase costs once
            up_to(rng, latency_share * interval),
            server,
        )
    assert server.rejected == 0
    assert max(server.counts.values()) <= requests
    assert achieved(times, requests, per) >= 0.97


@SIMULATION
@given(
    offset=st.floats(0.0, 1.0),
    latency=st.floats(0.0, 0.1),
    seed=st.integers(0, 2**32 - 1),
)
async def test_a_competing_integration_is_absorbed(
    offset: float, latency: float, seed: int
) -> None:
    """Another spender takes 15 of each 40: we get ≥ 0.9 of the other 25, no window overflows."""
    rng = random.Random(seed)
    server = FixedWindowServer(40, 1.0, offset=offset, competitor=15)
    with virtual_clock():
        limiter = RateLimiter(RateLimit(40, 1.0))
        await simulate(limiter, 800, up_to(rng, latency), server)
    full_windows = server.ours()[1:-1]  # the first and last are partly outside the run
    assert server.rejected == 0
    assert max(server.counts.values()) <= 40
    assert sum(full_windows) / len(full_windows) >= 0.9 * 25


async def spend_steadily(
    server: FixedWindowServer, every: float, start: float, until: float
) -> int:
    """Another integration's requests: one every ``every`` seconds from ``start`` until
    ``until``, whatever the answers. Returns how many the server refused."""
    loop = asyncio.get_running_loop()
    refused = 0
    at = start
    while at < until:
        await asyncio.sleep(at - loop.time())
        if server.receive(loop.time()).retry_after is not None:
            refused += 1
        at += every
    return refused


@pytest.mark.parametrize("latency", [0.0, 0.05])
async def test_a_steady_spender_is_left_the_last_request_of_each_window(latency: float) -> None:
    """Another integration spends one request every 125 ms, a fifth of a 40-per-second window.

    Its request lands between our reading of a window's last request and our own request
    for it; that last request is left to it, so none of ours meets a 429, and every whole
    window is still spent to its end.
    """
    server = FixedWindowServer(40, 1.0, offset=0.0)
    with virtual_clock():
        limiter = RateLimiter(RateLimit(40, 1.0))
        _, refused = await asyncio.gather(
            simulate(limiter, 320, lambda: latency, server),
            spend_steadily(server, 0.125, start=0.0625, until=10.0),
        )
    whole = [server.counts[window] for window in sorted(server.counts)][:-1]
    assert server.rejected - refused == 0  # the refused are all the other integration's
    assert whole == [40] * len(whole)


async def granted_in_first_window(limiter: RateLimiter, server: FixedWindowServer) -> list[float]:
    """Acquire, each grant received by ``server``, until one falls past the first second;
    return the grants' times before it."""
    loop = asyncio.get_running_loop()
    granted = []
    while (await limiter.acquire(), loop.time())[1] < 1.0:
        granted.append(loop.time())
        server.receive(loop.time())
    return granted


async def test_readings_released_from_other_tasks_leave_the_last_request_to_us() -> None:
    """No one else spends. Released from a task other than the one that acquired (as the
    Redis limiter's local fallback does), a reading subtracts every request in flight, the
    ones the server has counted too, so it reads low: that is the limiter's own caution,
    not another integration's spending, and the window's last request stays ours."""
    server = FixedWindowServer(10, 1.0, offset=0.0)
    with virtual_clock():
        loop = asyncio.get_running_loop()
        limiter = RateLimiter(RateLimit(10, 1.0))
        hints = []
        for _ in range(5):  # at 0.0, 0.1, ... 0.4 s, all five in flight
            await limiter.acquire()
            hints.append(server.receive(loop.time()))
        for hint in (hints[0], hints[2], hints[4]):  # released from other tasks
            await asyncio.create_task(limiter.release(hint))
        allowed = limiter.window_budget  # 3 by its cautious count; the server has 5 left
        granted = await granted_in_first_window(limiter, server)
    assert server.rejected == 0
    assert allowed == 3
    assert len(granted) == allowed


async def test_spending_seen_twice_leaves_others_one_request_of_the_window_no_more() -> None:
    """Others' spending seen twice leaves them the window's last request, and only that one."""
    server = FixedWindowServer(10, 1.0, offset=0.0)
    with virtual_clock():
        loop = asyncio.get_running_loop()
        limiter = RateLimiter(RateLimit(10, 1.0))
        for others in (0, 1, 1):  # others spend one before each of our second and third
            for _ in range(others):
                server.receive(loop.time())
            await limiter.acquire()
            await limiter.release(server.receive(loop.time()))
        allowed = limiter.window_budget
        granted = await granted_in_first_window(limiter, server)
    assert server.rejected == 0
    assert allowed == 5
    assert len(granted) == allowed - 1


@SIMULATION
@given(
    requests=st.integers(2, 60),
    per=st.floats(0.05, 120.0),
    offset=st.floats(0.0, 1.0),
    competitor_share=st.floats(0.0, 0.5),
    latency_share=st.floats(0.0, 10.0),
    lateness_share=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
async def test_catching_up_never_overruns_a_window(
    requests: int,
    per: float,
    offset: float,
    competitor_share: float,
    latency_share: float,
    lateness_share: float,
    seed: int,
) -> None:
    """Any latency, late wake-ups, competitor and alignment: no window gets over its budget."""
    rng = random.Random(seed)
    interval = per / requests
    competitor = round(competitor_share * requests)
    if competitor:
        # A competitor's spending is news only when our first response of the window is
        # back; until then only pacing keeps the window, so the news must come in time.
        latency_share = min(latency_share, requests - competitor - 1)
    server = FixedWindowServer(requests, per, offset=offset * per, competitor=competitor)
    lateness = up_to(rng, lateness_share * interval)
    with virtual_clock(lateness=lateness):
        limiter = RateLimiter(RateLimit(requests, per))
        await simulate(limiter, requests * 6, up_to(rng, latency_share * interval), server)
    assert server.rejected == 0
    assert max(server.counts.values()) <= requests


@SIMULATION
@given(
    requests=st.integers(2, 60),
    per=st.floats(1.0, 120.0),  # at least 1 s: the 2 ms margin of a reset costs nothing
    offset=st.floats(0.0, 1.0),
    latency_share=st.floats(0.0, 10.0),
    lateness_share=st.floats(0.0, 0.4),
    seed=st.integers(0, 2**32 - 1),
)
async def test_a_late_loop_still_fills_every_whole_window(
    requests: int,
    per: float,
    offset: float,
    latency_share: float,
    lateness_share: float,
    seed: int,
) -> None:
    """Timers late by up to 40% of T (20% on average): each whole window gets its budget."""
    rng = random.Random(seed)
    interval = per / requests
    server = FixedWindowServer(requests, per, offset=offset * per)
    lateness = up_to(rng, lateness_share * interval)
    with virtual_clock(lateness=lateness):
        limiter = RateLimiter(RateLimit(requests, per))
        await simulate(limiter, requests * 8, up_to(rng, latency_share * interval), server)
    whole = server.ours()[1:-1]
    assert server.rejected == 0
    assert sum(whole) >= (requests - 1) * len(whole)


async def estimates_and_waits(limiter: RateLimiter, callers: int) -> list[tuple[float, float]]:
    """For each of ``callers`` queued in turn: the wait estimated as it came, and its wait."""
    estimates: list[float] = []
    tasks = []
    for _ in range(callers):  # all in one instant: each probe's estimate is from the same time
        with pytest.raises(DeadlineUnreachableError) as info:
            await limiter.acquire(deadline=0.0)
        estimates.append(info.value.estimated_wait)
        tasks.append(asyncio.create_task(limiter.acquire()))
        await asyncio.sleep(0)
    waits = await asyncio.gather(*tasks)
    return list(zip(estimates, waits, strict=True))


async def check_estimates(
    rate_limit: RateLimit, hint: BudgetHint, callers: int, start: float = 0.0
) -> None:
    """After one request answered with ``hint``: each of ``callers`` queued in turn is
    estimated the wait it then gets."""
    with virtual_clock(start):
        limiter = RateLimiter(rate_limit)
        await limiter.acquire()
        await limiter.release(hint)
        pairs = await estimates_and_waits(limiter, callers)
    for estimate, wait in pairs:
        assert estimate == pytest.approx(wait, abs=1e-6 * rate_limit.per)


@SIMULATION
@given(
    requests=st.integers(2, 60),
    per=st.floats(0.5, 120.0),
    remaining_share=st.floats(0.0, 1.0),
    reset_share=st.floats(0.01, 1.0),
    callers=st.integers(1, 120),
    start=st.floats(0.0, 1e6),
)
async def test_deadline_estimates_follow_the_catch_up_schedule(
    requests: int,
    per: float,
    remaining_share: float,
    reset_share: float,
    callers: int,
    start: float,
) -> None:
    """Behind schedule or not, each caller's estimated wait is the wait it then gets."""
    remaining = 1 + round(remaining_share * (requests - 2))
    hint = BudgetHint(remaining=remaining, resets_after=reset_share * per)
    await check_estimates(RateLimit(requests, per), hint, callers, start)


@st.composite
def bursts_after_a_cooldown(draw: st.DrawFn) -> tuple[RateLimit, BudgetHint]:
    """A budget with any burst, and an answer that closes a cooldown and tells of a window
    of known budget."""
    requests, per = draw(st.integers(2, 40)), draw(st.floats(0.5, 60.0))
    burst = draw(st.integers(1, requests))
    hint = BudgetHint(
        remaining=draw(st.integers(0, requests)),
        resets_after=draw(st.floats(0.01, 1.0)) * per,
        retry_after=draw(st.floats(0.01, 0.5)) * per,
    )
    return RateLimit(requests, per, burst=burst), hint


@SIMULATION
@given(case=bursts_after_a_cooldown(), callers=st.integers(1, 80))
async def test_deadline_estimates_follow_a_burst_through_a_cooldown_and_a_window(
    case: tuple[RateLimit, BudgetHint], callers: int
) -> None:
    """Callers queued through a cooldown into a window of known budget, with any burst:
    each caller's estimated wait is the wait it then gets."""
    await check_estimates(*case, callers)


@attrs.define
class Trace:
    """When each caller of a run joined the queue, left it with a slot, or gave up."""

    joined: dict[int, tuple[float, int]] = attrs.Factory(dict)
    left: dict[int, tuple[float, int]] = attrs.Factory(dict)
    cancelled: dict[int, float] = attrs.Factory(dict)


Arrival = tuple[int, Priority, int | None]


async def run_arrivals(limiter: RateLimiter, arrivals: list[Arrival]) -> Trace:
    """Each (ms, priority, cancel ms) arrival asks for a slot, and gives up after ``cancel ms``."""
    loop = asyncio.get_running_loop()
    trace = Trace()

    async def caller(index: int, at_ms: int, priority: Priority) -> None:
        await asyncio.sleep(at_ms / 1000)
        trace.joined[index] = (loop.time(), len(trace.joined))
        await limiter.acquire(priority)
        trace.left[index] = (loop.time(), len(trace.left))

    async def canceller(index: int, task: asyncio.Task[None], after_ms: int) -> None:
        await asyncio.sleep(after_ms / 1000)
        if not task.done():
            task.cancel()
            trace.cancelled[index] = loop.time()

    tasks = []
    for index, (at_ms, priority, cancel_ms) in enumerate(arrivals):
        task = asyncio.create_task(caller(index, at_ms, priority))
        tasks.append(task)
        if cancel_ms is not None:
            tasks.append(asyncio.create_task(canceller(index, task, at_ms + cancel_ms)))
    await asyncio.gather(*tasks, return_exceptions=True)
    return trace


def check_lanes(trace: Trace, priorities: list[Priority]) -> None:
    """No caller left while a higher one that joined before was waiting; each lane is FIFO."""
    rank = {level: order for order, level in enumerate(Priority)}
    for low, (low_time, low_seq) in trace.left.items():
        for high, (joined, join_seq) in trace.joined.items():
            same = priorities[high] is priorities[low]
            if same and join_seq < trace.joined[low][1] and high in trace.left:
                assert trace.left[high][1] < low_seq, f"{high} joined before {low}, left after"
            if rank[priorities[high]] >= rank[priorities[low]] or joined >= low_time:
                continue
            if high in trace.left:
                assert trace.left[high][1] < low_seq, f"{low} left while {high} waited"
            else:
                assert trace.cancelled[high] <= low_time, f"{low} left while {high} waited"


@SIMULATION
@given(
    arrivals=st.lists(
        st.tuples(
            st.integers(0, 3000), st.sampled_from(list(Priority)), st.none() | st.integers(0, 1500)
        ),
        min_size=1,
        max_size=40,
    ),
    start=st.floats(0.0, 1e6),
)
async def test_a_lower_priority_never_leaves_while_a_higher_one_waits(
    arrivals: list[Arrival], start: float
) -> None:
    """Random arrivals and cancellations: lanes keep their order, all are served, evenly paced."""
    with virtual_clock(start):
        limiter = RateLimiter(RateLimit(10, 1.0))
        trace = await run_arrivals(limiter, arrivals)
    check_lanes(trace, [priority for _, priority, _ in arrivals])
    assert set(trace.left) | set(trace.cancelled) == set(range(len(arrivals)))
    times = sorted(t for t, _ in trace.left.values())
    assert all(b - a >= 0.1 - 1e-6 for a, b in itertools.pairwise(times))
    assert (limiter.waiting, limiter.in_flight) == (0, len(trace.left))


async def test_releases_from_other_tasks_leave_no_sending_times_behind() -> None:
    """Acquired in one task and released from another, as a shared limiter's fallback does."""
    limiter = RateLimiter(RateLimit(requests=100_000, per=1.0))

    async def driver() -> None:
        for _ in range(1000):
            await limiter.acquire()

    await asyncio.create_task(driver())
    for _ in range(1000):
        await limiter.release(BudgetHint(remaining=50, resets_after=30.0))
    assert limiter.in_flight == 0
    assert not limiter._sent_at  # nothing kept for requests long finished


async def test_a_release_from_another_task_keeps_the_sending_time_of_a_request_in_flight(
    clock: VirtualClock,
) -> None:
    """A release from another task forgets the oldest sending time only: a request still
    in flight reads its window's reset from its own send."""
    limiter = RateLimiter(RateLimit(100, 1.0))
    await limiter.acquire()  # released from another task

    async def request() -> None:
        await limiter.acquire()  # sent at 0.01 s
        await asyncio.sleep(0.1 - clock.now)
        await limiter.release(BudgetHint(remaining=0, resets_after=0.9))

    task = asyncio.create_task(request())
    await asyncio.sleep(0.05)
    await asyncio.create_task(limiter.release(None))
    await task
    assert await limiter.acquire() == pytest.approx(0.912 - 0.1, abs=1e-5)
