"""Pacing: one limiter per client spends the store's request budget without tripping 429s.

B2B Edition allows 150 requests per minute per store, counted in a fixed window on the
server and shared with every other integration of the store. A client paces its calls
through a :class:`Limiter`: the transport calls :meth:`Limiter.acquire` before each request
and :meth:`Limiter.release` with what the response said about the budget afterwards.

This module holds the rules every limiter follows, so that they live in one place:
:class:`Pacing` (the spacing that keeps any window within the budget, how a server's
announced allocation slows it, and how a window's known budget is caught up),
:data:`RESET_MARGIN` (how a hinted reset time is read) and :class:`Tickets` (which request a
response's count is about), and :class:`Lanes` queue waiting callers by
:class:`~b2b_async.Priority`. :class:`RateLimiter` applies them in this process;
:mod:`b2b_async.redis` applies them to one schedule that processes share through Redis.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import math
import weakref
from collections.abc import Callable, Iterator
from typing import Any, Final, Protocol, runtime_checkable

import attrs

from ._config import (
    Priority,
    RateLimit,
    check_deadline,
    check_priority,
    logger,
    paced_interval,
)
from ._exceptions import DeadlineUnreachableError
from ._protocol import BudgetHint

__all__ = [
    "RESET_MARGIN",
    "Lanes",
    "Limiter",
    "Pacing",
    "RateLimiter",
    "Tickets",
    "Waiter",
    "build_limiter",
    "burst_of",
    "levels_at_or_above",
    "unreachable",
]


#: Pacing runs this much slower than the allowance, so that rounding in a long run of float
#: slot arithmetic can never fit ``requests + 1`` slots into one window (60 µs a minute).
_SLACK: Final = 1e-6
#: Catching up never spaces requests closer than this share of the emission interval (twice
#: the paced rate): see :meth:`Pacing.spacing` for why.
_CATCH_UP_FLOOR: Final = 0.5
#: The least a timer that fired before its time is armed again for. A loop whose clock ticks
#: in whole milliseconds (uvloop's) fires a timer up to a tick early and runs one armed for
#: less than half a tick at once: armed again for the rest of the tick, the timer would fire
#: again and again, hundreds of times, until the clock moves.
_REARM_AFTER_EARLY: Final = 0.001
#: How much earlier than its time a timer must fire to count as early: less is the rounding
#: of the loop's float arithmetic.
_EARLY_BY_MORE_THAN: Final = 1e-6
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
        interval = paced_interval(requests, per, burst) * (1.0 + _SLACK)
        return cls(interval, (min(burst, requests) - 1) * interval, per)

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

    def spacing(self, left: float, budget: int) -> float:
        """The interval to the next slot within a window whose remaining budget is known.

        Slots a late event loop or a slow response cost are made up while the server's own
        count says the window still has room for them: when the paced interval would fit
        fewer than ``budget + 1`` slots in the ``left`` seconds to the window's reset (the
        ``budget`` it still allows, and the next window's first request at the reset), the
        rest of the window is shared evenly among them instead. Spaced that way, every slot
        after this one stays the same distance apart, so a schedule that falls behind
        catches up once rather than by fits.

        Catching up is never faster than twice the paced rate (half the interval). That is
        enough to make up a loop whose timers fire late by up to half an interval on
        average, and bounds what a count made stale by another integration's spending (its
        requests are not in the count until one of ours comes back) can cost: at worst
        twice the requests that pacing would have sent into it meanwhile.

        Args:
            left: seconds from the slot being booked to the window's reset (as read,
                without the margin the reading adds).
            budget: requests the window allows after the one being booked.

        Returns:
            ``left / (budget + 1)``, at most :attr:`interval` and at least half of it;
            :attr:`interval` itself when the window has reset or has no budget to make up.
        """
        if budget < 0 or left <= 0:
            return self.interval
        return min(self.interval, max(self.interval * _CATCH_UP_FLOOR, left / (budget + 1)))


class Tickets:
    """The ticket each task holds from its :meth:`Limiter.acquire` to its release.

    A ticket numbers a booking. A response's count of the budget includes every request
    booked before its own; tickets tell which were booked after, and so are not in the count
    yet. The transport acquires and releases from one task, so the task finds its ticket. A
    ticket acquired by one task and released by another is never taken: it is forgotten
    with its task.
    """

    __slots__ = ("_by_task",)

    def __init__(self) -> None:
        self._by_task: weakref.WeakKeyDictionary[asyncio.Task[Any], int] = (
            weakref.WeakKeyDictionary()
        )

    def __len__(self) -> int:
        return len(self._by_task)

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


@attrs.frozen
class Waiter:
    """One caller waiting in :class:`Lanes` for a slot.

    Attributes:
        future: resolves when the caller's turn comes (the limiter sets the ticket of the
            slot granted; other queues, 0), or fails with the reason the caller cannot have
            one; a cancelled caller cancels it.
        priority: the lane the caller waits in.
        deadline_at: the clock time by which the caller must have its slot, or ``None``.
    """

    future: asyncio.Future[int]
    priority: Priority
    deadline_at: float | None = None

    @property
    def waiting(self) -> bool:
        """Whether the caller still waits: not granted, failed or cancelled yet."""
        return not self.future.done()


#: For each priority, the levels whose callers a newcomer of it waits behind: its own and
#: every higher one (members are listed highest first).
_AT_OR_ABOVE: Final = {level: tuple(Priority)[: index + 1] for index, level in enumerate(Priority)}


def levels_at_or_above(priority: Priority) -> tuple[Priority, ...]:
    """The levels whose callers a newcomer of ``priority`` waits behind: its own and every
    higher one."""
    return _AT_OR_ABOVE[priority]


class Lanes:
    """The callers waiting for a slot: one first-in-first-out lane per :class:`Priority`.

    The head is the earliest caller of the highest lane that holds one, so a higher
    priority always leaves first and callers of one priority leave in order of arrival;
    the lowest lane is served whenever the higher ones are empty. A caller that stops
    waiting in the middle of a lane (cancelled, or failed by its limiter) is counted out at
    once and its entry skipped when the lane reaches it, so it holds up no one.
    """

    __slots__ = ("_counts", "_lanes")

    def __init__(self) -> None:
        self._lanes = {level: collections.deque[Waiter]() for level in Priority}
        self._counts = dict.fromkeys(Priority, 0)

    def __len__(self) -> int:
        return sum(self._counts.values())

    def __iter__(self) -> Iterator[Waiter]:
        """The waiting callers in the order they will be served, as a snapshot."""
        return iter([w for lane in self._lanes.values() for w in lane if w.waiting])

    def join(self, waiter: Waiter) -> None:
        """Queue ``waiter`` at the end of its lane."""
        self._lanes[waiter.priority].append(waiter)
        self._counts[waiter.priority] += 1

    def peek(self) -> Waiter | None:
        """The head, the earliest caller of the highest lane holding one, left in its lane."""
        for lane in self._lanes.values():
            while lane and not lane[0].waiting:
                lane.popleft()  # finished: counted out by leave(), or when its task runs
            if lane:
                return lane[0]
        return None

    def pop(self) -> Waiter | None:
        """Take the head, the earliest caller of the highest lane holding one; ``None`` if none."""
        for level, lane in self._lanes.items():
            while lane:
                waiter = lane.popleft()
                if waiter.waiting:
                    self._counts[level] -= 1
                    return waiter
        return None

    def leave(self, waiter: Waiter) -> None:
        """Count out ``waiter``, which stopped waiting in its lane (cancelled or failed).

        A cancelled caller is counted out when its task next runs, so until then it may
        still be counted although :meth:`pop` already skips it.
        """
        level = waiter.priority
        self._counts[level] -= 1
        if not self._counts[level]:
            self._lanes[level].clear()  # only finished entries are left

    def ahead_of(self, priority: Priority) -> int:
        """Callers a newcomer of ``priority`` would wait behind: its lane and every higher one."""
        return sum(self._counts[level] for level in levels_at_or_above(priority))

    def still_waiting_ahead_of(self, priority: Priority) -> int:
        """Callers a newcomer of ``priority`` would wait behind, counted one by one.

        Unlike :meth:`ahead_of`, it leaves out callers cancelled in this instant, whose
        tasks have not run yet to count them out; it takes time in the length of the lanes.
        """
        lanes = (self._lanes[level] for level in levels_at_or_above(priority))
        return sum(waiter.waiting for lane in lanes for waiter in lane)

    def wait_of(
        self, priority: Priority, wait_behind: Callable[[int], float], deadline: float
    ) -> float:
        """A newcomer's estimated wait, ``wait_behind`` the callers ahead of it.

        They are counted cheaply (:meth:`ahead_of`), and, when that wait passes ``deadline``,
        again one by one (:meth:`still_waiting_ahead_of`) before the newcomer is refused:
        callers cancelled in this instant hold up no one.
        """
        wait = wait_behind(self.ahead_of(priority))
        if wait > deadline:
            wait = wait_behind(self.still_waiting_ahead_of(priority))
        return wait

    def behind(self, priority: Priority) -> int:
        """Callers of every lane below that of ``priority``."""
        return len(self) - self.ahead_of(priority)

    def clear(self) -> None:
        """Forget every caller: they died with an earlier event loop."""
        for lane in self._lanes.values():
            lane.clear()
        self._counts = dict.fromkeys(Priority, 0)


@runtime_checkable
class Limiter(Protocol):
    """What the transport needs from a rate limiter.

    Each :meth:`acquire` is followed by exactly one :meth:`release`, from the same task.

    .. versionadded:: 0.1.0
    """

    async def acquire(
        self, priority: Priority = Priority.NORMAL, *, deadline: float | None = None
    ) -> float:
        """Wait until one request may be sent, budget and any cooldown considered.

        The request then counts as in flight. Cancellation-safe: a caller cancelled while
        waiting gives its place back and leaves the queue consistent.

        Both arguments are optional, and a limiter may ignore what it cannot honour: one
        without lanes serves every priority in order of arrival, and one that cannot
        foresee its waits lets the call's own deadline end a wait that runs too long.

        Args:
            priority: how urgently the request wants its slot; a waiting request of a
                higher priority leaves before any waiting one of a lower priority.
            deadline: the most seconds the caller can wait for its slot, or ``None`` for no
                bound. When the limiter foresees a longer wait, it raises at once.

        Returns:
            The seconds waited.

        Raises:
            DeadlineUnreachableError: the slot would come after ``deadline``; nothing may
                be sent.
        """
        ...

    async def release(self, hint: BudgetHint | None) -> None:
        """Report that the request acquired earlier has finished.

        It runs once the answer is in, so an error it raises reaches the caller in the
        answer's place, that of a registration that succeeded included. The two limiters
        that ship never raise here for a failure of their own; neither should another.

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

    **Catching up** spends what a window has left when pacing alone would not. Timers fire
    late, and a loop starved of CPU wakes later still; measured from the late wake-up, each
    slot would lose that much. Pacing alone must bear the loss, since it is all that keeps
    a window of unknown count safe. While the server's count says a window resetting at
    ``E`` (as read, without the margin) still allows ``N`` more requests (see *Correction*),
    that count guards the window instead, and two rules make the lost slots up within it:

    - a slot a late timer fired for counts from the time it fell due (at most one interval
      back), so the next one stays on the grid and may follow at once;
    - after a slot at ``t``, the next comes ``min(T, max(T / 2, (E - t) / (N + 1)))`` later
      (:meth:`Pacing.spacing`): when the grid would fit fewer than the ``N`` requests still
      allowed, plus the next window's first at ``E``, in the time left, they share it
      evenly, never faster than twice the paced rate.

    Both stop at the window's edge. The window's last allowed request, and any booked after
    ``E``, are followed by a whole interval, paced from their actual wake-up: the next
    request may count in the next window, whose count is not known yet, so pacing alone
    must keep it. Catching up therefore never sends more than the count allows (at ``N = 0``
    requests wait for the reset), never crowds a window it has no count of, and does
    nothing at all while no hint is known, nor for the rest of a window in which a 429 was
    met (its count did not keep the refusal away, and calls leave the cooldown at the pace).

    **Waiting** is one FIFO lane of futures per :class:`Priority` (:class:`Lanes`) with one
    timer for the head of the highest lane that holds a caller: each timer tick releases
    what the algorithm allows and re-arms for the next slot, so thousands of callers never
    wake together and nothing polls. A waiting caller of a higher priority always leaves
    before a waiting one of a lower priority, a later caller never overtakes an earlier
    one of its priority, and bulk gets every slot the others leave unused (no share is
    reserved for anyone). A caller cancelled in any lane simply drops out of it, and the
    slot it would have had goes to the next.

    **Deadlines**: a caller that says how long it can wait is refused at once with
    :class:`~b2b_async.DeadlineUnreachableError` when its estimated wait is longer. The
    estimate takes the limiter's state as it is and follows the same schedule: the next slot
    (its pacing, a cooldown, a spent window), then the callers ahead (in its lane and every
    higher one) at the window's catch-up spacing while its known budget lasts (that spacing
    stays constant once set), and when the budget runs out before the caller's turn, the
    rest wait for the window's reset and leave one interval apart. Whenever the estimate
    may have grown while callers wait (a response changed the pacing, the window or the
    cooldown; a caller of a higher priority arrived; :meth:`hold_until`), it is made again
    for every waiter with a deadline, and a waiter found late fails at once, before sending
    anything.

    **Correction** follows the server's own count. A response's ``remaining`` and
    ``resets_after`` give the budget left in the server's current window and when it
    resets. Requests acquired after the hinted one are not in that count yet, so they are
    subtracted: each acquisition gets a ticket, remembered for its task, and the release
    counts the tickets issued since (released from another task, it counts every request
    in flight instead).

    A server counts a request, and states its window, when the request arrives; the time
    its answer takes to come back (the server's latency) is not in ``resets_after``. Each
    reset time is therefore read from when the request was sent (when its task resumed with
    its slot) plus ``resets_after`` plus 2 ms for rounding. That reading is early only by
    the request's way to the server, so among the readings of one window the latest is the
    best, and a later request that is not faster on its way still arrives after the reset.
    Read from the response instead, a reset would be late by the whole latency, and with a
    server that opens its next window at the first request after a reset, that much of
    every window would be lost. A release from another task, whose request's sending is
    unknown, reads the reset from the response (never early: the earliest such reading is
    kept, and any reading from a send is preferred). Should a request sent after its
    window's reset by that reading still meet a 429 of that window, the server states its
    windows later than on arrival, and from then on every reset is read from responses.

    Hints of one window (reset times within half a window of each other) are merged by
    keeping the least budget; a hint whose window has already reset is ignored. When the
    budget is spent, requests wait for the reset instead of running into a 429, which is how
    another integration's spending is absorbed, and pacing restarts from the reset, in phase
    with the server's window. Another integration's requests enter the count only when a
    response of ours brings it back, so one that spends through the window may take its last
    request between our reading and our own request for it: once two readings of a window,
    after its first, have come back lower than the limiter's count, its last request is left
    to them. A server allocation (``limit`` per ``window``) slower than the configured one
    slows pacing to match.

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
        "_end_from_send",
        "_gate_since",
        "_gate_until",
        "_granted",
        "_in_flight",
        "_lanes",
        "_loop",
        "_next_slot",
        "_others_seen",
        "_paced_until",
        "_pacing",
        "_rate_limit",
        "_resets_from_responses",
        "_sent_at",
        "_tickets",
        "_timer",
        "_timer_at",
        "_window_budget",
        "_window_end",
    )

    def __init__(self, rate_limit: RateLimit, *, clock: Callable[[], float] | None = None) -> None:
        self._rate_limit = rate_limit
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pacing = Pacing.of(rate_limit)
        self._next_slot = -math.inf
        # Waiters' futures resolve with the ticket (booking number) of the slot they were given.
        self._lanes = Lanes()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        self._booked = 0
        self._tickets = Tickets()
        # When each ticket's task resumed with its slot, just before its request was sent.
        self._sent_at: dict[int, float] = {}
        self._in_flight = 0
        # When each of the last ``requests`` slots was granted (see _window_room).
        self._granted: collections.deque[float] = collections.deque(maxlen=rate_limit.requests)
        self._gate_until: float | None = None
        self._gate_since = 0.0
        self._window_end = -math.inf
        self._window_budget = 0
        # Readings of the current window, after its first, that showed others' spending
        # (released from the task that acquired, so that their newer requests are known).
        self._others_seen = 0
        self._end_from_send = False
        self._resets_from_responses = False
        # The reset of the last window a 429 was met in: until then, nothing is made up.
        self._paced_until = -math.inf

    def __repr__(self) -> str:
        rate_limit = self._rate_limit
        parts = [
            f"{rate_limit.requests}/{rate_limit.per:g}s",
            f"waiting={len(self._lanes)}",
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
        """Callers queued in :meth:`acquire`, in every lane."""
        return len(self._lanes)

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
        if self._lanes:
            now = self._now()
            self._drop_unreachable(now)
            self._schedule(now)

    async def acquire(
        self, priority: Priority | str = Priority.NORMAL, *, deadline: float | None = None
    ) -> float:
        """Wait for a slot in the lane of ``priority``, then count the request as in flight.

        Args:
            priority: the caller's lane: ``"urgent"``, ``"normal"`` or ``"bulk"`` (a
                :class:`Priority` or its plain name).
            deadline: the most seconds the caller can wait for its slot, or ``None`` for
                no bound.

        Returns:
            The seconds waited.

        Raises:
            DeadlineUnreachableError: by the limiter's estimate the slot comes after
                ``deadline``: raised at once, or as soon as a cooldown or callers of a
                higher priority push the slot there while the caller waits. The caller
                gets no slot.
            ValueError: ``priority`` names no priority, or ``deadline`` is NaN or no
                number.
        """
        level = check_priority(priority)
        deadline = check_deadline(deadline)
        loop = self._bind_loop()
        start = self._now()
        if not self._lanes.ahead_of(level) and self._ready_at(start) <= start:
            self._hold(self._book(start, start), start)
            self._recheck_lower(level, start)
            return 0.0
        waiter = Waiter(loop.create_future(), level, self._deadline_at(level, start, deadline))
        self._lanes.join(waiter)
        self._recheck_lower(level, start)
        self._schedule(start)
        try:
            ticket = await waiter.future
        except asyncio.CancelledError:
            self._withdraw(waiter)
            raise
        now = self._now()
        self._hold(ticket, now)
        return now - start

    async def release(self, hint: BudgetHint | None) -> None:
        """Count the request as finished and follow what its response said about the budget.

        Args:
            hint: the response's budget headers, or ``None`` when no response came back.
        """
        self._bind_loop()
        self._in_flight = max(0, self._in_flight - 1)
        ticket = self._tickets.take()
        sent = None if ticket is None else self._sent_at.pop(ticket, None)
        if ticket is None:
            self._forget_sendings()
        if hint is not None:
            # Requests booked after this one are not in the server's count yet.
            newer = self._in_flight if ticket is None else self._booked - ticket
            self._follow(hint, newer, sent, exact=ticket is not None)

    def follow(self, hint: BudgetHint) -> None:
        """Follow what a response said about the budget, for a request this limiter did not
        admit (and does not count in flight).

        :class:`~b2b_async.redis.RedisRateLimiter` tells its local fallback this way of an
        answer to a request booked through Redis that came back once Redis had failed: the
        fallback, which paces now, keeps the 429's cooldown or the spent window.

        Args:
            hint: the response's budget headers.

        .. versionadded:: 0.2.0
        """
        self._bind_loop()
        self._follow(hint, self._in_flight, None, exact=False)

    def _follow(self, hint: BudgetHint, newer: int, sent: float | None, *, exact: bool) -> None:
        """Follow ``hint``: the pace, the window's count, a cooldown; fail the waiters that
        these make late, and wake the next.

        Args:
            hint: the response's budget headers.
            newer: requests sent after this one, which the server's count does not hold yet.
            sent: when the request left, if known.
            exact: whether ``newer`` is known exactly.
        """
        now = self._now()
        outlook = self._outlook()
        self._pacing = self._pacing.following(hint, self._rate_limit)
        self._follow_remaining(hint, now, newer, sent, exact=exact)
        self._close_gate(hint, now)
        if self._outlook() != outlook:
            self._drop_unreachable(now)
        self._schedule(now)

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Waiters and the timer of an earlier loop died with it; the clock carries on.
            self._loop = loop
            self._lanes.clear()
            self._timer = None
            self._timer_at = math.inf
            self._tickets.clear()
            self._sent_at.clear()
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
        """When the next request may leave; reopens a cooldown that has run out.

        A slot a cooldown held falls due as the cooldown ends, not at its pace's time: it
        is read before the cooldown reopens, so that the next slot is placed an interval
        after the first request that leaves (see :meth:`_catch_up`).
        """
        ready = self._earliest(now)
        self._reopen_if_over(now)
        return ready

    def _reopen_if_over(self, now: float) -> None:
        """Reopen a cooldown that has run out by ``now``, and log its end."""
        if self._gate_until is not None and now >= self._gate_until:
            cooldown = self._gate_until - self._gate_since
            logger.info("rate limit cooldown over after %.3f s", cooldown)
            self._gate_until = None

    def _earliest(self, now: float) -> float:
        """When the next request may leave by its slot, any cooldown and a spent window."""
        return max(self._next_slot - self._pacing.tolerance, self._opens(now))

    def _opens(self, now: float) -> float:
        """When a cooldown and a spent window let requests leave; ``-inf`` when neither holds."""
        opens = -math.inf
        if self._gate_until is not None:
            opens = self._gate_until
        if self._held(now):
            opens = max(opens, self._window_end)
        return opens

    def _may_catch_up(self, now: float) -> bool:
        """Whether the window's count may make up lost slots now: not in a window a 429 was
        met in, where the count did not keep the server's refusal away."""
        return now >= self._paced_until

    def _window_budget_known(self, now: float) -> bool:
        return now < self._window_end and self._spendable() > 0

    def _held(self, now: float) -> bool:
        return now < self._window_end and self._spendable() <= 0

    def _spendable(self) -> int:
        """Requests the server's current window still allows this limiter by its count.

        Another integration's requests enter the count only when a response of ours brings
        it back, so by the time our next request lands the count is a slot and a latency
        old. Once two readings of the window, after its first, came back lower than this
        limiter's count, others spend through it and may take the window's last request
        in that gap: that one is left to them, so that ours does not meet a 429. Spending
        seen once (a burst) or only in the window's first reading leaves the whole count
        to this limiter.
        """
        return self._window_budget - (1 if self._others_seen >= 2 else 0)

    def _book(self, now: float, due: float) -> int:
        """Take the slot that fell due at ``due``, place the next one, and return its ticket."""
        slot, interval = max(self._next_slot, now), self._pacing.interval
        self._granted.append(now)
        if now < self._window_end:
            self._window_budget -= 1
            slot, interval = self._catch_up(now, due) or (slot, interval)
        self._next_slot = slot + interval
        self._in_flight += 1
        self._booked += 1
        return self._booked

    def _catch_up(self, now: float, due: float) -> tuple[float, float] | None:
        """The slot just booked and the spacing to the next, if the window's count covers both.

        Returns:
            ``None`` when the window allows no more, or the next slot would not come before
            its reset as read without the margin: the next request may then count in the
            next window, whose count is unknown, so it is paced a whole interval later.
        """
        interval = self._pacing.interval
        # The count guards this window, so a slot a timer fired late for counts from when
        # it fell due (up to an interval back): the lateness costs nothing.
        slot = max(self._next_slot, due, now - interval)
        close = self._window_end - RESET_MARGIN
        room = self._window_room()
        spacing = self._pacing.spacing(close - slot, room)
        if room < 1 or now >= close or slot + spacing >= close or not self._may_catch_up(now):
            return None
        return slot, spacing

    def _window_room(self) -> int:
        """Requests the server's current window still allows this limiter: the server's
        count, and at most what the configured budget leaves of its own in that window.

        The count is the whole store's, while the configured budget may be a share of it
        (see :doc:`/ratelimits`): making up slots never spends more than the share. The
        window is taken to start ``per`` seconds before the earliest reset its reading
        allows (the reading adds :data:`RESET_MARGIN`).
        """
        start = self._window_end - RESET_MARGIN - self._rate_limit.per
        own = 0
        for granted in reversed(self._granted):
            if granted < start:
                break
            own += 1
        return min(self._spendable(), self._rate_limit.requests - own)

    def _forget_sendings(self) -> None:
        """Drop the sending times of requests released from tasks other than their own.

        Such a release finds no ticket, so it cannot say whose time to drop; the oldest
        times beyond the requests in flight are theirs, or belong to a request whose
        answer will then read its reset from the response, the cautious way.
        """
        oldest_in_flight = self._booked - self._in_flight
        for ticket in [ticket for ticket in self._sent_at if ticket <= oldest_in_flight]:
            del self._sent_at[ticket]

    def _hold(self, ticket: int, now: float) -> None:
        """Give the current task its ticket, noting ``now`` as its request's sending time."""
        if asyncio.current_task() is not None:
            self._tickets.hold(ticket)
            self._sent_at[ticket] = now

    def _withdraw(self, waiter: Waiter) -> None:
        """Undo a wait its caller gave up; the lanes skip its entry when they get there."""
        now = self._now()
        future = waiter.future
        if future.cancelled():
            self._lanes.leave(waiter)
        elif future.exception() is None:
            # Granted in the instant it was cancelled. Now is the slot's time, so the next
            # caller takes it; with none, the request is never sent, so the server budget
            # comes back, and the pacing slot is spent, which errs on the safe side.
            head = self._lanes.pop()
            if head is not None:
                head.future.set_result(future.result())
            else:
                self._in_flight -= 1
                if now < self._window_end:
                    self._window_budget += 1
        # Failed for its deadline in the instant it was cancelled: already counted out.
        self._schedule(now)

    def _wake(self) -> None:
        """Release the head of the lanes while the algorithm allows, then re-arm the timer."""
        armed_for, self._timer, self._timer_at = self._timer_at, None, math.inf
        now = self._now()
        while self._lanes and (due := self._ready_at(now)) <= now:
            waiter = self._lanes.pop()
            if waiter is None:
                break  # only callers cancelled this instant, not yet counted out
            waiter.future.set_result(self._book(now, due))
        early = armed_for - now > _EARLY_BY_MORE_THAN
        self._schedule(now, at_least=_REARM_AFTER_EARLY if early else 0.0)

    def _schedule(self, now: float, *, at_least: float = 0.0) -> None:
        """Arm the one timer for the head of the lanes, unless one fires earlier already;
        ``at_least`` seconds from now."""
        if not self._lanes:
            return
        when = self._ready_at(now)
        if self._timer is not None:
            if self._timer_at <= when:
                return  # it fires first and looks again
            self._timer.cancel()
        assert self._loop is not None
        self._timer = self._loop.call_later(max(at_least, when - now), self._wake)
        self._timer_at = when

    def _deadline_at(self, level: Priority, now: float, deadline: float | None) -> float | None:
        """The clock time a new caller must have its slot by; refuses one already late.

        Raises:
            DeadlineUnreachableError: the callers ahead or a cooldown make it late.
        """
        if deadline is None:
            return None
        wait = self._lanes.wait_of(level, functools.partial(self._estimated_wait, now), deadline)
        if wait > deadline:
            raise unreachable(wait, deadline)
        return now + deadline

    def _estimated_wait(self, now: float, ahead: int) -> float:
        """Seconds until the slot of a caller with ``ahead`` callers before it, by present state.

        The algorithm's own steps, assuming nothing changes: from the next slot (less the
        burst tolerance), not before a cooldown or a spent window opens, the callers leave
        at the window's catch-up spacing while its known budget lasts (:meth:`_book` keeps
        that spacing constant), then one interval apart. Whoever leaves before the window's
        reset spends its count, the catch-up slots and any a burst lets leave early alike:
        once the callers ahead have spent it, the caller waits for the reset, where the
        pace's burst may leave at once, and then one interval apart.
        """
        tolerance = self._pacing.tolerance
        opens = max(now, self._opens(now))
        slot = max(self._next_slot, opens)
        spacing, steps = self._catch_up_steps(now, opens, slot)
        end, spendable = self._window_end, self._spendable()
        if self._window_budget_known(now) and ahead >= spendable:
            last = self._grid(slot, spacing, steps, spendable - 1)
            if max(opens, last - tolerance) < end:  # the callers ahead spend the window
                after = max(self._grid(slot, spacing, steps, spendable), end)
                behind = ahead - spendable
                return max(end, after + behind * self._pacing.interval - tolerance) - now
        return max(opens, self._grid(slot, spacing, steps, ahead) - tolerance) - now

    def _catch_up_steps(self, now: float, opens: float, slot: float) -> tuple[float, int]:
        """The catch-up spacing after the next ``slot``, and how many slots it places.

        Returns:
            ``(spacing, steps)``: ``steps`` slots one ``spacing`` apart follow ``slot``,
            all before the window's reset (read without its margin), while its known
            budget lasts; ``(interval, 0)`` when nothing is made up.
        """
        pacing = self._pacing
        end, budget = self._window_end, self._window_room()
        # With a burst, a slot past the reset may leave before it, less the tolerance.
        leaves = max(opens, slot - pacing.tolerance)
        known = self._window_budget_known(now) and self._may_catch_up(now)
        if not (known and leaves < end and budget >= 1):
            return pacing.interval, 0
        close = end - RESET_MARGIN
        spacing = pacing.spacing(close - slot, budget - 1)
        steps = min(budget - 1, math.ceil((close - slot) / spacing) - 1) if slot < close else 0
        return spacing, steps

    def _grid(self, slot: float, spacing: float, steps: int, index: int) -> float:
        """The pacing slot ``index`` places after ``slot``: ``steps`` of them one catch-up
        ``spacing`` apart, the rest one interval apart."""
        if index <= steps:
            return slot + index * spacing
        return slot + steps * spacing + (index - steps) * self._pacing.interval

    def _drop_unreachable(self, now: float) -> None:
        """Fail at once every waiter whose slot, by the estimate made now, misses its deadline."""
        ahead = 0
        for waiter in self._lanes:
            deadline_at = waiter.deadline_at
            if deadline_at is not None:
                wait = self._estimated_wait(now, ahead)
                if now + wait > deadline_at:
                    self._lanes.leave(waiter)
                    waiter.future.set_exception(unreachable(wait, deadline_at - now))
                    continue
            ahead += 1

    def _recheck_lower(self, level: Priority, now: float) -> None:
        """After a caller of ``level`` took or queued for a slot, recheck the lanes below it."""
        if self._lanes.behind(level):
            self._drop_unreachable(now)

    def _outlook(self) -> tuple[object, ...]:
        """What a response may change that moves every waiter's estimated slot."""
        return (
            self._pacing,
            self._gate_until,
            self._window_end,
            self._window_budget,
            self._paced_until,
        )

    def _follow_remaining(
        self, hint: BudgetHint, now: float, newer: int, sent: float | None, *, exact: bool
    ) -> None:
        """Merge the server's count of the current window into the limiter's.

        ``exact``: the requests booked after the hinted one are known by its ticket (false
        for a release from another task, which subtracts every request in flight instead).
        """
        if hint.remaining is None:
            return
        was_held = self._held(now)
        budget = hint.remaining - newer
        if hint.resets_after is None:
            if now < self._window_end:
                self._tighten(budget, exact)
        else:
            self._merge_window(*self._reset_at(hint, now, sent), budget, now, exact)
        if self._held(now) and not was_held:
            logger.debug(
                "server budget spent; holding requests %.3f s until its window resets",
                self._window_end - now,
            )

    def _reset_at(self, hint: BudgetHint, now: float, sent: float | None) -> tuple[float, bool]:
        """When the window ``hint`` describes resets, and whether that was read from its send."""
        assert hint.resets_after is not None
        if sent is not None and not self._resets_from_responses:
            end = sent + hint.resets_after + RESET_MARGIN
            if not self._met_early_reset(hint, end, sent):
                return end, True
        return now + hint.resets_after + RESET_MARGIN, False

    def _met_early_reset(self, hint: BudgetHint, end: float, sent: float) -> bool:
        """Whether a 429 shows that this server states its window later than on arrival.

        The request was sent once its window had reset by the limiter's reading, and met the
        window still current and spent. From then on, every reset is read from responses.
        """
        half = self._pacing.window / 2
        same_window = abs(end - self._window_end) <= half
        if not (hint.retry_after and same_window and sent >= self._window_end):
            return False
        self._resets_from_responses = True
        logger.info(
            "a request sent after its window's reset met a 429 of that window; reading"
            " reset times from responses from now on"
        )
        return True

    def _merge_window(
        self, end: float, from_send: bool, budget: int, now: float, exact: bool
    ) -> None:
        half = self._pacing.window / 2
        if end > self._window_end + half:
            self._window_end, self._window_budget = end, budget
            self._end_from_send = from_send
            self._others_seen = 0
        elif end >= self._window_end - half and now < self._window_end:
            self._tighten(budget, exact)
            self._merge_end(end, from_send)
        # Otherwise the hint describes a window that has already reset.

    def _tighten(self, budget: int, exact: bool) -> None:
        """Lower the window's budget to a reading of it; a lower one shows others' spending.

        Unless it is not ``exact``: released from another task, a reading subtracts every
        request in flight, so requests of ours the server has already counted lower it too.
        """
        if budget < self._window_budget:
            self._window_budget = budget
            if exact:
                self._others_seen += 1

    def _merge_end(self, end: float, from_send: bool) -> None:
        """Keep the better of two readings of one window's reset time."""
        # Read from the send, a reset time is the true one less the request's way to the
        # server, so the latest is the best; read from the response, it is the true one
        # plus the time the response took, so the earliest is. The first kind is the closer.
        if from_send == self._end_from_send:
            self._window_end = (
                max(self._window_end, end) if from_send else min(self._window_end, end)
            )
        elif from_send:
            self._window_end, self._end_from_send = end, True

    def _close_gate(self, hint: BudgetHint, now: float) -> None:
        """Hold every caller until a 429's ``retry_after`` has passed; never shorten it."""
        if hint.retry_after is None or hint.retry_after <= 0:
            return
        self._reopen_if_over(now)  # one that ran out unseen: this 429 starts a new one
        # The count did not keep this 429 away: the rest of its window is paced plainly, so
        # that calls leave the cooldown one interval apart, not faster to make up for it.
        self._paced_until = max(self._paced_until, self._end_of_window_met(now))
        until = now + hint.retry_after
        if self._gate_until is not None and until <= self._gate_until:
            return
        # Concurrent 429s each push the end out a little: only the first is news.
        level = logging.INFO if self._gate_until is None else logging.DEBUG
        if self._gate_until is None:
            self._gate_since = now
        self._gate_until = until
        logger.log(level, "rate limited (429): holding every request for %.3f s", hint.retry_after)

    def _end_of_window_met(self, now: float) -> float:
        """When the window of an answer that came back at ``now`` resets, at the latest: the
        known window's reset, or, with none known (a 429 that says nothing of its window,
        and no count read since the last reset), one window's length from ``now``."""
        return self._window_end if now < self._window_end else now + self._pacing.window


def unreachable(wait: float, left: float) -> DeadlineUnreachableError:
    """The error of a caller whose slot, ``wait`` seconds away, misses its deadline.

    Args:
        wait: the estimated seconds until the caller's slot.
        left: the seconds the caller had left to wait.
    """
    return DeadlineUnreachableError(
        f"no request budget before the call's deadline: the next slot for it is an estimated"
        f" {wait:.3f} s away, and it may wait {left:.3f} s",
        estimated_wait=wait,
        deadline=left,
    )


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
    if isinstance(candidate, type):
        # A class has an acquire and a release too; called on it, they fail at every call.
        raise TypeError(
            f"rate_limit must be a RateLimit, a Limiter or None, got the class"
            f" {candidate.__name__}; pass an instance of it"
        )
    if isinstance(candidate, Limiter):
        return candidate
    raise TypeError(
        f"rate_limit must be a RateLimit, a Limiter or None, got {type(candidate).__name__}"
    )


def burst_of(limiter: Limiter | None) -> int:
    """The burst with which ``limiter`` follows an allocation a server announces.

    The built-in limiters follow one at the burst of their :class:`RateLimit` (see
    :meth:`Pacing.following`); any other limiter is taken to follow one without a burst.
    """
    rate_limit = getattr(limiter, "rate_limit", None)
    return rate_limit.burst if isinstance(rate_limit, RateLimit) else 1
