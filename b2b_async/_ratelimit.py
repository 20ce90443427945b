"""Pacing: one limiter per client spends the store's request budget without tripping 429s.

B2B Edition allows 150 requests per minute per store, counted in a fixed window on the
server and shared with every other integration of the store. A client paces its calls
through a :class:`Limiter`: the transport calls :meth:`Limiter.acquire` before each request
and :meth:`Limiter.release` with what the response said about the budget afterwards.

This module holds the rules every limiter follows, so that they live in one place:
:class:`Pacing` (the spacing that keeps any window within the budget, and how a server's
announced allocation slows it), :data:`RESET_MARGIN` (how a hinted reset time is read) and
:class:`Tickets` (which request a response's count is about). :class:`RateLimiter` applies
them in this process; :mod:`b2b_async.redis` applies them to one schedule that processes
share through Redis.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
from collections.abc import Callable
from typing import Any, Final, Protocol, runtime_checkable

import attrs

from ._config import RateLimit
from ._protocol import BudgetHint

__all__ = ["RESET_MARGIN", "Limiter", "Pacing", "RateLimiter", "Tickets", "build_limiter"]

logger = logging.getLogger("b2b_async")

#: Pacing runs this much slower than the allowance, so that rounding in a long run of float
#: slot arithmetic can never fit ``requests + 1`` slots into one window (60 µs a minute).
_SLACK: Final = 1e-6
RESET_MARGIN: Final = 0.002
"""Seconds added to every reset time a server announces.

The server may round the figure (the core API's header is in whole milliseconds) and its
clock ticks apart from ours; with the margin a reset time read from a header is never early.
"""


@attrs.frozen
class Pacing:
    """How a limiter spaces requests so that no window of the server's holds too many.

    Every limiter runs the generic cell rate algorithm on these numbers. A burst of ``b`` at
    one instant followed by one request per ``interval`` puts ``b + (requests - b)`` requests
    in any half-open span of ``window`` seconds, whatever the alignment of the server's fixed
    window, so ``interval`` is ``window / (requests - burst + 1)`` (one part per million
    longer, so that float rounding can never fit one more in).

    Attributes:
        interval: the emission interval: seconds from one slot to the next.
        tolerance: how far ahead of its slot a request may leave: ``(burst - 1) * interval``.
        window: the length in seconds of the server's counting window; budget hints whose
            reset times lie within half of it describe the same window.
    """

    interval: float
    tolerance: float
    window: float

    @classmethod
    def of(cls, rate_limit: RateLimit) -> Pacing:
        """The pacing that keeps to a configured budget.

        Args:
            rate_limit: the budget.
        """
        return cls.within(rate_limit.requests, rate_limit.per, rate_limit.burst)

    @classmethod
    def within(cls, requests: int, per: float, burst: int) -> Pacing:
        """The pacing that keeps any ``per`` seconds to ``requests``, bursts included.

        Args:
            requests: requests allowed in any ``per`` seconds.
            per: the window's length in seconds.
            burst: requests that may leave back to back; at most ``requests`` count.
        """
        burst = min(burst, requests)
        interval = per / (requests - burst + 1) * (1.0 + _SLACK)
        return cls(interval, (burst - 1) * interval, per)

    def following(self, hint: BudgetHint, rate_limit: RateLimit) -> Pacing:
        """The pacing after a response: no faster than the budget nor the server's allocation.

        A server that announces a slower allocation (``limit`` per ``window``) than the
        configured budget slows pacing to match; a faster one never speeds it up past the
        budget.

        Args:
            hint: what the response said about the budget.
            rate_limit: the configured budget.

        Returns:
            The pacing to follow; this one when the hint announces no usable allocation.
        """
        limit, window = hint.limit, hint.window
        if limit is None or window is None or limit < 1 or window <= 0:
            return self
        configured = Pacing.of(rate_limit)
        announced = Pacing.within(limit, window, rate_limit.burst)
        slower = max(configured, announced, key=lambda pacing: (pacing.interval, pacing.tolerance))
        return attrs.evolve(slower, window=window)


class Tickets:
    """The ticket each task holds from its :meth:`Limiter.acquire` to its release.

    A ticket numbers a booking. A response's count of the budget includes every request
    booked before its own; tickets tell which were booked after, and so are not in the count
    yet. The transport acquires and releases from one task, so the task finds its ticket.
    """

    __slots__ = ("_by_task",)

    def __init__(self) -> None:
        self._by_task: dict[asyncio.Task[Any], int] = {}

    def hold(self, ticket: int) -> None:
        """Note ``ticket`` as the current task's.

        Args:
            ticket: the booking's number.
        """
        task = asyncio.current_task()
        if task is not None:
            self._by_task[task] = ticket

    def take(self) -> int | None:
        """Return the current task's ticket and forget it; ``None`` when the task holds none."""
        task = asyncio.current_task()
        return None if task is None else self._by_task.pop(task, None)

    def clear(self) -> None:
        """Forget every ticket: their tasks died with an earlier event loop."""
        self._by_task.clear()


@runtime_checkable
class Limiter(Protocol):
    """What the transport needs from a rate limiter.

    Each :meth:`acquire` is followed by exactly one :meth:`release`, from the same task.

    .. versionadded:: 0.1.0
    """

    async def acquire(self) -> float:
        """Wait until one request may be sent, budget and any cooldown considered.

        The request then counts as in flight. Cancellation-safe: a caller cancelled while
        waiting gives its place back and leaves the queue consistent.

        Returns:
            The seconds waited.
        """
        ...

    async def release(self, hint: BudgetHint | None) -> None:
        """Report that the request acquired earlier has finished.

        Args:
            hint: what the response said about the budget; ``None`` when no response came
                back (connection error, timeout, cancellation).
        """
        ...


class RateLimiter:
    """The in-process :class:`Limiter`: GCRA pacing, header-driven correction, one cooldown.

    **Pacing** is the generic cell rate algorithm. A theoretical arrival time (the next
    slot) advances by one emission interval ``T`` per request; a request may leave once the
    clock reaches the next slot minus the burst tolerance ``(burst - 1) * T``. The server
    counts in a fixed window of unknown alignment, so the limiter must keep *every* span of
    ``per`` seconds within ``requests``: a burst of ``B`` plus the steady rate would put
    ``B + requests - 1`` into one window, so ``T`` is ``per / (requests - burst + 1)``. With
    the default burst of 1 that is exactly the allowed rate, evenly spaced, which wastes
    nothing over a long run; a larger burst trades steady rate for a quick start. (``T``
    is one part per million longer, so float rounding can never fit one more in.)

    **Waiting** is a FIFO queue of futures with one timer for its head: each timer tick
    releases what the algorithm allows and re-arms for the next slot, so thousands of
    callers never wake together, a later caller never overtakes an earlier one, and
    nothing polls. A caller cancelled in the queue simply drops out of it.

    **Correction** follows the server's own count. A response's ``remaining`` and
    ``resets_after`` give the budget left in the server's current window and when it
    resets. Requests acquired after the hinted one are not in that count yet, so they are
    subtracted: each acquisition gets a ticket, remembered for its task, and the release
    counts the tickets issued since (released from another task, it counts every request
    in flight instead). Each reset time is read as the release time plus ``resets_after``
    plus 2 ms for rounding, so it is never early. Hints of one window (reset times within
    half a window of each other) are merged by keeping the least budget and the earliest
    reset; a hint whose window has already reset is ignored. When the budget is spent,
    requests wait for the reset instead of running into a 429, which is how another
    integration's spending is absorbed, and pacing restarts from the reset, in phase with
    the server's window. A server allocation (``limit`` per ``window``) slower than the
    configured one slows pacing to match.

    **Cooldown**: a ``retry_after`` (a 429 was met) closes one gate for every queued and
    new caller until it has passed; a shorter later hint never shortens it. When it
    reopens callers leave at the paced rate, not as a herd.

    Not thread-safe: use it from one event loop.

    Args:
        rate_limit: the budget to pace to.
        clock: seconds on a monotonic clock; by default the running loop's ``time()``,
            looked up at first use so the limiter may be built outside a loop.

    .. versionadded:: 0.1.0
    """

    __slots__ = (
        "_booked",
        "_clock",
        "_gate_since",
        "_gate_until",
        "_in_flight",
        "_loop",
        "_next_slot",
        "_pacing",
        "_rate_limit",
        "_tickets",
        "_timer",
        "_timer_at",
        "_waiters",
        "_waiting",
        "_window_budget",
        "_window_end",
    )

    def __init__(self, rate_limit: RateLimit, *, clock: Callable[[], float] | None = None) -> None:
        self._rate_limit = rate_limit
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pacing = Pacing.of(rate_limit)
        self._next_slot = -math.inf
        # Futures resolve with the ticket (booking number) of the slot they were given.
        self._waiters: collections.deque[asyncio.Future[int]] = collections.deque()
        self._waiting = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        self._booked = 0
        self._tickets = Tickets()
        self._in_flight = 0
        self._gate_until: float | None = None
        self._gate_since = 0.0
        self._window_end = -math.inf
        self._window_budget = 0

    def __repr__(self) -> str:
        rate_limit = self._rate_limit
        parts = [
            f"{rate_limit.requests}/{rate_limit.per:g}s",
            f"waiting={self._waiting}",
            f"in_flight={self._in_flight}",
        ]
        now = self._peek_now()
        if now is not None:
            parts.append(
                f"next_slot_in={max(0.0, self._next_slot - self._pacing.tolerance - now):.3f}s"
            )
            if now < self._window_end:
                parts.append(
                    f"window_budget={self._window_budget} resets_in={self._window_end - now:.3f}s"
                )
        cooldown = self.cooldown_remaining
        parts.append(f"cooldown={cooldown:.3f}s" if cooldown else "cooldown=open")
        return f"<RateLimiter {' '.join(parts)}>"

    @property
    def rate_limit(self) -> RateLimit:
        """The configured budget."""
        return self._rate_limit

    @property
    def waiting(self) -> int:
        """Callers queued in :meth:`acquire`."""
        return self._waiting

    @property
    def in_flight(self) -> int:
        """Requests acquired and not yet released."""
        return self._in_flight

    @property
    def cooldown_until(self) -> float | None:
        """The clock time a 429 cooldown ends, or ``None`` when no cooldown holds."""
        now = self._peek_now()
        if self._gate_until is None or now is None or now >= self._gate_until:
            return None
        return self._gate_until

    @property
    def cooldown_remaining(self) -> float:
        """Seconds left of the 429 cooldown; ``0.0`` when none holds."""
        until = self.cooldown_until
        now = self._peek_now()
        return 0.0 if until is None or now is None else until - now

    @property
    def window_budget(self) -> int | None:
        """Requests the server's current window still allows by its last hints, or ``None``."""
        now = self._peek_now()
        if now is None or now >= self._window_end:
            return None
        return max(0, self._window_budget)

    @property
    def next_ready(self) -> float | None:
        """The clock time the next request may leave, at the earliest.

        Its pacing slot, a cooldown and a spent window are considered; the time is never
        before now. ``None`` when the clock is the loop's and no loop is bound yet.

        .. versionadded:: 0.1.0
        """
        now = self._peek_now()
        return None if now is None else max(now, self._earliest(now))

    def hold_until(self, when: float) -> None:
        """Grant no slot before ``when``, then pace on from there, one interval apart.

        A limiter that takes over from a schedule kept elsewhere (the shared one of
        :mod:`b2b_async.redis` when Redis fails) continues that schedule this way instead of
        starting with a fresh burst. An earlier ``when`` than the limiter's own next slot
        changes nothing.

        Args:
            when: a time on the limiter's clock.

        .. versionadded:: 0.1.0
        """
        self._next_slot = max(self._next_slot, when + self._pacing.tolerance)
        if self._waiters:
            self._schedule(self._now())

    async def acquire(self) -> float:
        """Wait for a slot, then count the request as in flight.

        Returns:
            The seconds waited.
        """
        loop = self._bind_loop()
        start = self._now()
        if not self._waiting and self._ready_at(start) <= start:
            self._tickets.hold(self._book(start))
            return 0.0
        waiter: asyncio.Future[int] = loop.create_future()
        self._waiters.append(waiter)
        self._waiting += 1
        self._schedule(start)
        try:
            ticket = await waiter
        except asyncio.CancelledError:
            self._withdraw(waiter)
            raise
        self._tickets.hold(ticket)
        return self._now() - start

    async def release(self, hint: BudgetHint | None) -> None:
        """Count the request as finished and follow what its response said about the budget.

        Args:
            hint: the response's budget headers, or ``None`` when no response came back.
        """
        self._bind_loop()
        self._in_flight = max(0, self._in_flight - 1)
        ticket = self._tickets.take()
        if hint is None:
            return
        now = self._now()
        self._pacing = self._pacing.following(hint, self._rate_limit)
        # Requests booked after this one are not in the server's count yet.
        newer = self._in_flight if ticket is None else self._booked - ticket
        self._follow_remaining(hint, now, newer)
        self._close_gate(hint, now)
        self._schedule(now)

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Waiters and the timer of an earlier loop died with it; the clock carries on.
            self._loop = loop
            self._waiters.clear()
            self._waiting = 0
            self._timer = None
            self._timer_at = math.inf
            self._tickets.clear()
        return loop

    def _now(self) -> float:
        if self._clock is not None:
            return self._clock()
        assert self._loop is not None, "bound by acquire() or release() first"
        return self._loop.time()

    def _peek_now(self) -> float | None:
        """The clock's time, or ``None`` when it is the loop's and no loop is bound yet."""
        if self._clock is not None:
            return self._clock()
        return None if self._loop is None else self._loop.time()

    def _ready_at(self, now: float) -> float:
        """When the next request may leave; reopens a cooldown that has run out."""
        if self._gate_until is not None and now >= self._gate_until:
            cooldown = self._gate_until - self._gate_since
            logger.info("rate limit cooldown over after %.3f s", cooldown)
            self._gate_until = None
        return self._earliest(now)

    def _earliest(self, now: float) -> float:
        """When the next request may leave by its slot, any cooldown and a spent window."""
        ready = self._next_slot - self._pacing.tolerance
        if self._gate_until is not None:
            ready = max(ready, self._gate_until)
        if self._held(now):
            ready = max(ready, self._window_end)
        return ready

    def _window_budget_known(self, now: float) -> bool:
        return now < self._window_end and self._window_budget > 0

    def _held(self, now: float) -> bool:
        return now < self._window_end and self._window_budget <= 0

    def _book(self, now: float) -> int:
        """Take the slot at ``now`` and return its ticket."""
        # Timers fire up to a millisecond late; measured from the late wake-up, every slot
        # would lose that much, some 3% of the rate at 40/s. While the server's own count
        # of this window guards against overshoot, the grid absorbs the lateness instead.
        interval = self._pacing.interval
        credit = interval / 2 if self._window_budget_known(now) else 0.0
        self._next_slot = max(self._next_slot, now - credit) + interval
        self._in_flight += 1
        if now < self._window_end:
            self._window_budget -= 1
        self._booked += 1
        return self._booked

    def _withdraw(self, waiter: asyncio.Future[int]) -> None:
        """Undo a cancelled wait; the timer skips the cancelled future when it gets there."""
        now = self._now()
        if waiter.cancelled():
            self._waiting -= 1
        else:
            # Granted in the instant it was cancelled: the request is never sent, so the
            # server budget comes back; the pacing slot is spent, which errs on the safe side.
            self._in_flight -= 1
            if now < self._window_end:
                self._window_budget += 1
        self._schedule(now)

    def _wake(self) -> None:
        """Release the queue's head while the algorithm allows, then re-arm the timer."""
        self._timer = None
        self._timer_at = math.inf
        now = self._now()
        waiters = self._waiters
        while waiters:
            if waiters[0].done():
                waiters.popleft()
            elif self._ready_at(now) <= now:
                self._waiting -= 1
                waiters.popleft().set_result(self._book(now))
            else:
                break
        self._schedule(now)

    def _schedule(self, now: float) -> None:
        """Arm the one timer for the head of the queue, unless one fires earlier already."""
        waiters = self._waiters
        while waiters and waiters[0].done():
            waiters.popleft()
        if not waiters:
            return
        when = self._ready_at(now)
        if self._timer is not None:
            if self._timer_at <= when:
                return  # it fires first and looks again
            self._timer.cancel()
        assert self._loop is not None
        self._timer = self._loop.call_later(max(0.0, when - now), self._wake)
        self._timer_at = when

    def _follow_remaining(self, hint: BudgetHint, now: float, newer: int) -> None:
        """Merge the server's count of the current window into the limiter's."""
        if hint.remaining is None:
            return
        was_held = self._held(now)
        budget = hint.remaining - newer
        if hint.resets_after is None:
            if now < self._window_end:
                self._window_budget = min(self._window_budget, budget)
        else:
            self._merge_window(now + hint.resets_after + RESET_MARGIN, budget, now)
        if self._held(now) and not was_held:
            logger.debug(
                "server budget spent; holding requests %.3f s until its window resets",
                self._window_end - now,
            )

    def _merge_window(self, end: float, budget: int, now: float) -> None:
        # Every hinted reset time is the true one plus the response's latency (and the margin),
        # so the earliest is the best estimate and still never early.
        half = self._pacing.window / 2
        if end > self._window_end + half:
            self._window_end, self._window_budget = end, budget
        elif end >= self._window_end - half and now < self._window_end:
            self._window_end = min(self._window_end, end)
            self._window_budget = min(self._window_budget, budget)
        # Otherwise the hint describes a window that has already reset.

    def _close_gate(self, hint: BudgetHint, now: float) -> None:
        """Hold every caller until a 429's ``retry_after`` has passed; never shorten it."""
        if hint.retry_after is None or hint.retry_after <= 0:
            return
        until = now + hint.retry_after
        if self._gate_until is not None and until <= self._gate_until:
            return
        # Concurrent 429s each push the end out a little: only the first is news.
        level = logging.INFO if self._gate_until is None else logging.DEBUG
        if self._gate_until is None:
            self._gate_since = now
        self._gate_until = until
        logger.log(level, "rate limited (429): holding every request for %.3f s", hint.retry_after)


def build_limiter(rate_limit: RateLimit | Limiter | None) -> Limiter | None:
    """Turn the client's ``rate_limit`` option into the limiter its transport uses.

    Args:
        rate_limit: a :class:`RateLimit` (paced in this process by a :class:`RateLimiter`),
            an object following the :class:`Limiter` protocol (used as is), or ``None``.

    Returns:
        The limiter, or ``None`` for no pacing.

    Raises:
        TypeError: ``rate_limit`` is none of these.

    .. versionadded:: 0.1.0
    """
    if rate_limit is None:
        return None
    if isinstance(rate_limit, RateLimit):
        return RateLimiter(rate_limit)
    # Typed callers cannot get past here with anything else; untyped ones can.
    candidate: object = rate_limit
    if isinstance(candidate, Limiter):
        return candidate
    raise TypeError(
        f"rate_limit must be a RateLimit, a Limiter or None, got {type(candidate).__name__}"
    )
