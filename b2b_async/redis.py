"""One store budget across processes and machines, paced through Redis.

Every client has its own :class:`~b2b_async.RateLimiter`, which keeps *its* calls within the
store's 150 requests per minute. Several processes that call one store (web workers, queue
consumers, a backfill on another machine) each spending the whole budget would trip 429s;
splitting it statically wastes what an idle process leaves over. A :class:`RedisRateLimiter`
keeps the pace in one Redis key per store instead, so every process that uses the key draws
from one schedule, one 429 cooldown and one view of the server's count:

.. code-block:: python

    from b2b_async import B2BClient, RateLimit
    from b2b_async.redis import RedisRateLimiter

    async with RedisRateLimiter(
        "redis://cache:6379/0", key="b2b-async:ratelimit:store-abc123", rate_limit=RateLimit()
    ) as limiter:
        async with B2BClient(token, rate_limit=limiter) as client:
            await client.orders.create_many(orders)

The pacing rules are the in-process limiter's (:class:`~b2b_async.RateLimiter`): the same
spacing, the same reading of the server's budget headers. What this module adds is where
the schedule lives (a Lua script runs it atomically in Redis) and what happens when Redis
cannot be reached.

This module is public and needs the ``redis`` extra (redis-py): ``pip install
'b2b-async[redis]'``.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Final, Literal, Self, TypeAlias

import attrs

try:
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError
except ImportError:  # the extra is not installed; the message says all there is to do
    raise ImportError("b2b_async.redis needs redis-py: pip install 'b2b-async[redis]'") from None

from ._config import Priority, RateLimit
from ._exceptions import ClientClosedError, RateLimiterUnavailableError
from ._protocol import BudgetHint
from ._ratelimit import RESET_MARGIN, Pacing, RateLimiter, Tickets

__all__ = ["RateLimiterUnavailableError", "RedisRateLimiter"]

logger: Final = logging.getLogger("b2b_async")

OnRedisError: TypeAlias = Literal["local", "fail"]
"""What a :class:`RedisRateLimiter` does while Redis cannot be reached."""

_MICROS: Final = 1_000_000
#: Seconds (beyond a window's length) the key outlives the last deadline it holds (the next
#: slot, a cooldown, a window reset), so that the tickets of requests still in flight stay
#: comparable; then it expires.
_KEEP: Final = 60.0
#: The one marker of a request paced by the local fallback instead of through Redis.
_LOCAL: Final = -1

#: The shared GCRA, run atomically by Redis. Times are integer microseconds.
SCRIPT: Final = """
-- GCRA pacing of one store's request budget, shared by every process that uses KEYS[1].
-- Every time comes from Redis's own clock (TIME), so the clients' clocks never matter.
-- The key is a hash:
--   tat    theoretical arrival time: the next free slot of the pace
--   cool   the end of the shared 429 cooldown
--   wend   the end of the server's current window, as its headers announced it
--   wbud   that window's budget left after every request booked into it
--   wlast  the ticket of the last request booked into that window
--   seq    tickets issued so far: a ticket orders requests across all processes
-- ARGV: op ("reserve" | "confirm" | "release"), interval, tolerance, keep (ms), then the
-- op's own arguments. Absent numbers are empty strings (tonumber gives nil). A booking
-- ("reserve", "confirm") answers {wait, ticket, ready}: ready is when the next booking
-- could leave at the earliest.
local key = KEYS[1]
local op = ARGV[1]
local interval, tolerance, keep = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local f = redis.call('HMGET', key, 'tat', 'cool', 'wend', 'wbud', 'wlast', 'seq')
local tat, cool, wend = tonumber(f[1]) or 0, tonumber(f[2]) or 0, tonumber(f[3]) or 0
local wbud, wlast, seq = tonumber(f[4]) or 0, tonumber(f[5]) or 0, tonumber(f[6]) or 0

-- Book the next slot: no earlier than the pace allows (burst tolerance included), than the
-- cooldown ends, or, while the server reports its window spent, than that window resets.
-- Booking into the future is what lets the caller sleep instead of polling.
local function reserve()
  local at = math.max(now, tat - tolerance, cool)
  if at < wend and wbud <= 0 then at = wend end
  tat = math.max(tat, at) + interval
  seq = seq + 1
  if at < wend then
    wbud = wbud - 1
    wlast = seq
  end
  return at - now, seq
end

-- When the next booking could leave at the earliest: a process that falls back to pacing
-- alone continues the schedule from there instead of starting with a fresh burst.
local function ready()
  return math.max(tat - tolerance, cool) - now
end

-- Lua 5.1 would print these 16-digit numbers as 1.7e+15: write them out in full.
local function save(reply)
  redis.call('HSET', key, 'tat', string.format('%.0f', tat), 'cool', string.format('%.0f', cool),
    'wend', string.format('%.0f', wend), 'wbud', string.format('%.0f', wbud),
    'wlast', string.format('%.0f', wlast), 'seq', string.format('%.0f', seq))
  -- Nothing in the key matters once its last deadline has passed: let it go then.
  local horizon = math.max(tat, cool, wend) - now
  redis.call('PEXPIRE', key, math.max(0, math.ceil(horizon / 1000)) + keep)
  return reply
end

if op == 'reserve' then
  -- What a process's local fallback admitted (its next free moment) and any cooldown it
  -- holds are taken over first, so that the shared schedule continues the local one.
  local after, hold = tonumber(ARGV[5]), tonumber(ARGV[6])
  if after then tat = math.max(tat, now + after + tolerance) end
  if hold then cool = math.max(cool, now + hold) end
  local wait, ticket = reserve()
  return save({wait, ticket, ready()})
end

if op == 'confirm' then
  -- The caller slept until its slot; what happened meanwhile may have voided it.
  local ticket = tonumber(ARGV[5])
  -- A count merged since the booking may show the window over-booked. The newest bookings
  -- into it are the ones past the server's budget: wlast + wbud is the last ticket that
  -- fits, and stays so as each later one gives its place back.
  local over = now < wend and wbud < 0 and ticket > wlast + wbud
  if over then
    wbud = wbud + 1
    wlast = wlast - 1
  end
  -- A 429 met by any process since the booking: its cooldown covers this slot.
  if over or cool > now then
    local wait, later = reserve()
    return save({wait, later, ready()})
  end
  return {0, ticket, ready()}
end

if op == 'release' then
  local ticket, remaining = tonumber(ARGV[5]), tonumber(ARGV[6])
  local resets, retry = tonumber(ARGV[7]), tonumber(ARGV[8])
  local half, margin = tonumber(ARGV[9]), tonumber(ARGV[10])
  local cooled, opened, held = 0, 0, 0
  local was_held = now < wend and wbud <= 0
  -- A 429 holds every process until its wait has passed; a shorter later hint never
  -- shortens the cooldown. Slots booked inside it are voided at their confirm.
  if retry and now + retry > cool then
    if cool <= now then opened = 1 end
    cool = now + retry
    cooled = retry
  end
  -- The server's count of its window. Requests booked after this one, by any process, are
  -- not in it yet, so they are subtracted (tickets say which were later).
  if remaining and ticket > 0 then
    local budget = remaining - math.max(0, seq - ticket)
    local lower = function()
      if budget < wbud then
        wbud = budget
        wlast = seq
      end
    end
    if not resets then
      if now < wend then lower() end
    else
      -- Every announced reset is the true one plus a response's latency plus the margin:
      -- the earliest of one window is the best estimate, and still never early.
      local ends = now + resets + margin
      if ends > wend + half then
        wend, wbud, wlast = ends, budget, seq
      elseif ends >= wend - half and now < wend then
        wend = math.min(wend, ends)
        lower()
      end
      -- Otherwise the hint describes a window that has already reset.
    end
  end
  if not was_held and now < wend and wbud <= 0 then held = wend - now end
  return save({cooled, opened, held})
end

return redis.error_reply('b2b-async rate limiter: unknown operation ' .. tostring(op))
"""


@attrs.frozen
class _Slot:
    """A booked slot of the shared schedule: its ticket and its loop time."""

    ticket: int
    at: float


def _micros(seconds: float) -> int:
    """Whole microseconds, rounded up: a wait or an interval must never come out short."""
    return math.ceil(seconds * _MICROS)


def _optional(value: float | None) -> int | str:
    """A number for the script, or the empty string it reads as ``nil``."""
    return "" if value is None else _micros(value)


def _checked_options(
    key: str, on_redis_error: str, expected_processes: int, timeout: float, recheck_after: float
) -> None:
    """Refuse options out of range, naming the option."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"key must be a non-empty string, got {key!r}")
    if on_redis_error not in ("local", "fail"):
        raise ValueError(f"on_redis_error must be 'local' or 'fail', got {on_redis_error!r}")
    if isinstance(expected_processes, bool) or not isinstance(expected_processes, int):
        raise ValueError(f"expected_processes must be an int, got {expected_processes!r}")
    if expected_processes < 1:
        raise ValueError(f"expected_processes must be at least 1, got {expected_processes!r}")
    for name, value in (("timeout", timeout), ("recheck_after", recheck_after)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")


def _client_for(redis: str | aioredis.Redis, timeout: float) -> tuple[aioredis.Redis, bool]:
    """The Redis client to use, and whether the limiter owns it (it does when given a URL).

    Raises:
        TypeError: ``redis`` is neither a URL nor a client.
    """
    if isinstance(redis, aioredis.Redis):
        return redis, False
    if not isinstance(redis, str):
        raise TypeError(f"redis must be a URL or a redis.asyncio.Redis, got {type(redis).__name__}")
    # One quick reconnect (a restarted Redis), then the caller's policy decides; redis-py's
    # default of ten backed-off retries would outlast any sane timeout.
    client = aioredis.Redis.from_url(
        redis, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 1)
    )
    return client, True


def _share_of(rate_limit: RateLimit, processes: int) -> RateLimit:
    """One process's share of ``rate_limit`` when ``processes`` pace alone, each on its own."""
    requests = max(1, rate_limit.requests // processes)
    return RateLimit(requests, rate_limit.per, burst=min(rate_limit.burst, requests))


class RedisRateLimiter:
    """A :class:`~b2b_async.Limiter` that paces every process of a store through one Redis key.

    **Pacing** is the same generic cell rate algorithm as :class:`~b2b_async.RateLimiter`'s,
    run atomically by a Lua script on Redis's own clock, so the machines' clocks never matter.
    :meth:`acquire` books the next slot of the shared schedule (one emission interval
    ``T = per / (requests - burst + 1)`` after the previous one, whichever process booked it)
    and sleeps until it comes; with the default burst of 1 every span of ``per`` seconds holds
    at most ``requests`` slots, whatever the alignment of the server's fixed window. Within one
    process, callers take turns in arrival order: one books and sleeps while the others queue,
    so a process holds at most one booking ahead of time, and nothing polls.

    **Confirming**: a caller that slept to its slot asks Redis once more before it sends. A
    429 met meanwhile by any process, or a server count showing the window over-booked,
    voids the slot and books a later one, so a cooldown is never run into by slots booked
    before it.

    **Cooldown**: :meth:`release` with a ``retry_after`` (a 429 was met) closes the cooldown in
    the key, for every process; a shorter later hint never shortens it. When it ends, slots
    follow one interval apart, not as a herd.

    **Correction**: ``remaining`` and ``resets_after`` are merged into the key as the
    in-process limiter merges them: requests booked after the hinted one (by any process,
    told by their tickets) are subtracted, hints of one window keep the least budget and the
    earliest reset (plus 2 ms), and a spent window holds every process until its reset. That
    is how another integration's spending holds everybody. A server allocation slower than
    ``rate_limit`` slows this process's bookings to match.

    **Expiry**: the key expires ``per`` seconds plus a minute after the last deadline it
    holds, so nothing lingers.

    **When Redis fails** (refused, reset, no answer within ``timeout``, any Redis error):

    - ``on_redis_error="local"`` (the default): calls carry on, paced in this process by a
      :class:`~b2b_async.RateLimiter` of ``rate_limit`` divided by ``expected_processes``.
      Every ``recheck_after`` seconds one call tries Redis again; the first that gets an
      answer switches the limiter back to the shared schedule. An outage costs at worst some
      429s, which the client retries, and each local limiter still follows the server's
      headers. Pausing every order because a cache is down would cost more.
    - ``on_redis_error="fail"``: :meth:`acquire` raises :class:`RateLimiterUnavailableError`
      and nothing is sent. The client's retry policy retries it like a connection failure;
      callers that were queued behind the failed attempt fail at once instead of each
      waiting out the ``timeout``.

    Either way :meth:`release` never raises: a response has already come back, and failing
    the call now would report a registered order as lost. Transitions are logged on the
    ``b2b_async`` logger: a WARNING when Redis fails, an INFO when it answers again.

    **Switching** between Redis and the local fallback never overspends a window: callers of
    this process are admitted one at a time, each by the path in use at its turn, so none
    stays queued on the other; the local limiter continues the shared schedule from the
    last booking answer (no fresh burst), and the first booking after local admissions
    hands Redis the local schedule's next free moment and any local cooldown, before Redis
    grants more.

    Args:
        redis: a ``redis://`` / ``rediss://`` / ``unix://`` URL (the limiter then owns the
            client and :meth:`aclose` closes it) or a :class:`redis.asyncio.Redis` client
            (borrowed: never closed here).
        key: the Redis key holding the store's schedule; one per store, shared by every
            process that calls that store (e.g. ``"b2b-async:ratelimit:<store hash>"``).
        rate_limit: the budget every process together keeps to.
        on_redis_error: ``"local"`` or ``"fail"``, as above.
        expected_processes: how many processes share the key; the local fallback paces to
            ``rate_limit.requests // expected_processes``. The default of 1 paces each process
            at the full rate during an outage.
        timeout: seconds a Redis call may take before Redis counts as unavailable.
        recheck_after: seconds between attempts to reach Redis again while pacing locally.

    Raises:
        ValueError: an option is out of range.
        TypeError: ``redis`` is neither a URL nor a client.

    .. versionadded:: 0.1.0
    """

    __slots__ = (
        "_closed",
        "_down_since",
        "_handover",
        "_in_flight",
        "_keep_ms",
        "_key",
        "_last_error",
        "_local",
        "_loop",
        "_next_probe",
        "_on_error",
        "_owned",
        "_paced_locally",
        "_pacing",
        "_rate_limit",
        "_recheck_after",
        "_redis",
        "_script",
        "_tickets",
        "_timeout",
        "_turn",
        "_waiting",
    )

    def __init__(
        self,
        redis: str | aioredis.Redis,
        *,
        key: str,
        rate_limit: RateLimit = RateLimit(),  # noqa: B008 - frozen
        on_redis_error: OnRedisError = "local",
        expected_processes: int = 1,
        timeout: float = 1.0,
        recheck_after: float = 5.0,
    ) -> None:
        _checked_options(key, on_redis_error, expected_processes, timeout, recheck_after)
        self._redis, self._owned = _client_for(redis, timeout)
        self._script = self._redis.register_script(SCRIPT)
        self._key = key
        self._rate_limit = rate_limit
        self._on_error: OnRedisError = on_redis_error
        self._timeout = timeout
        self._recheck_after = recheck_after
        self._pacing = Pacing.of(rate_limit)
        self._keep_ms = _micros(rate_limit.per + _KEEP) // 1000
        self._local = RateLimiter(_share_of(rate_limit, expected_processes))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._turn = asyncio.Lock()
        self._tickets = Tickets()
        self._waiting = 0
        self._in_flight = 0
        self._paced_locally = False
        self._handover: _Slot | None = None
        self._down_since: float | None = None
        self._next_probe = 0.0
        self._last_error: RateLimiterUnavailableError | None = None
        self._closed = False

    def __repr__(self) -> str:
        rate_limit = self._rate_limit
        if self._down_since is None:
            mode = "shared"
        else:
            mode = "local" if self._on_error == "local" else "failing"
            if self._loop is not None:
                mode += f" for {self._loop.time() - self._down_since:.1f}s"
        return (
            f"<RedisRateLimiter {self._key!r} {rate_limit.requests}/{rate_limit.per:g}s {mode}"
            f" waiting={self._waiting} in_flight={self._in_flight}"
            f" on_redis_error={self._on_error}{' closed' if self._closed else ''}>"
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def key(self) -> str:
        """The Redis key holding the store's schedule."""
        return self._key

    @property
    def redis(self) -> aioredis.Redis:
        """The Redis client in use (owned when the limiter was given a URL)."""
        return self._redis

    @property
    def rate_limit(self) -> RateLimit:
        """The budget every process sharing the key keeps to together."""
        return self._rate_limit

    @property
    def on_redis_error(self) -> OnRedisError:
        """What happens while Redis cannot be reached: ``"local"`` or ``"fail"``."""
        return self._on_error

    @property
    def local_limiter(self) -> RateLimiter:
        """The in-process limiter that paces calls while Redis is unavailable."""
        return self._local

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    @property
    def shared(self) -> bool:
        """Whether the last word from Redis was an answer (``False`` during an outage)."""
        return self._down_since is None

    @property
    def in_flight(self) -> int:
        """Requests of this process acquired and not yet released."""
        return self._in_flight

    @property
    def waiting(self) -> int:
        """Callers of this process waiting in :meth:`acquire`."""
        return self._waiting

    async def aclose(self) -> None:
        """Close the Redis client if the limiter owns it (a borrowed one stays open); idempotent.

        The limiter cannot be used afterwards.
        """
        if self._closed:
            return
        self._closed = True
        if self._owned:
            await self._redis.aclose()

    async def acquire(
        self, priority: Priority | str = Priority.NORMAL, *, deadline: float | None = None
    ) -> float:
        """Book the next slot of the store's shared schedule and wait for it.

        The callers of one process are admitted in order of arrival: ``priority`` and
        ``deadline`` are accepted, as the :class:`~b2b_async.Limiter` protocol allows, and
        not honoured across processes yet.

        Cancellation-safe: a caller cancelled while waiting leaves the queue, and a slot it
        had booked passes to the next caller of this process, when that one takes its turn
        before the slot comes (a slot used late could crowd the next, so a passed one is
        dropped).

        Returns:
            The seconds waited.

        Raises:
            RateLimiterUnavailableError: Redis failed and ``on_redis_error`` is ``"fail"``.
            ClientClosedError: the limiter was closed.
        """
        loop = self._bind_loop()
        if self._closed:
            raise ClientClosedError("the RedisRateLimiter is closed")
        start = loop.time()
        self._waiting += 1
        try:
            # One caller of this process is admitted at a time, by whichever path is in use at
            # its turn: a switch never leaves callers queued on the other path, still leaving.
            async with self._turn:
                ticket = await self._admit(start)
        finally:
            self._waiting -= 1
        self._in_flight += 1
        self._tickets.hold(ticket)
        return loop.time() - start

    async def release(self, hint: BudgetHint | None) -> None:
        """Count the request as finished and share what its response said about the budget.

        Never raises for a Redis failure: the hint is dropped, and the failure logged and
        handled as ``on_redis_error`` says.

        Args:
            hint: the response's budget headers, or ``None`` when no response came back.
        """
        self._bind_loop()
        ticket = self._tickets.take()
        self._in_flight = max(0, self._in_flight - 1)
        if ticket == _LOCAL:
            await self._local.release(hint)
            return
        if hint is None:
            return
        self._pacing = self._pacing.following(hint, self._rate_limit)
        # Released from another task, the ticket is unknown and the count cannot be placed.
        shares_count = hint.remaining is not None and ticket is not None
        if self._down_since is None and (shares_count or hint.retry_after):
            await self._share(hint, ticket)

    async def _share(self, hint: BudgetHint, ticket: int | None) -> None:
        """Merge a response's budget hint into the key; a Redis failure only drops it."""
        try:
            cooled, opened, held = await self._call(
                "release",
                0 if ticket is None else ticket,  # the script reads 0 as unknown
                "" if hint.remaining is None else hint.remaining,
                _optional(hint.resets_after),
                _optional(hint.retry_after),
                _micros(self._pacing.window / 2),
                _micros(RESET_MARGIN),
            )
        except RateLimiterUnavailableError as exc:
            self._fail(exc)
            return
        self._log_release(cooled, opened, held)

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # The turn lock and the tickets of an earlier loop died with it.
            self._loop = loop
            self._turn = asyncio.Lock()
            self._tickets.clear()
            self._handover = None
        return loop

    async def _admit(self, start: float) -> int:
        """Admit one caller through Redis, or through the local fallback while Redis fails.

        Returns:
            The caller's ticket; ``_LOCAL`` when the local fallback admitted it.
        """
        if self._try_redis(start):
            ticket = await self._book_shared()
            if ticket is not None:
                return ticket
        else:
            self._raise_if_failing()
        await self._local.acquire()
        self._paced_locally = True
        return _LOCAL

    async def _book_shared(self) -> int | None:
        """Book and wait for a slot of the shared schedule; ``None`` means pace locally instead.

        Raises:
            RateLimiterUnavailableError: Redis failed and ``on_redis_error`` is ``"fail"``.
        """
        try:
            ticket = await self._book()
        except RateLimiterUnavailableError as exc:
            self._fail(exc)
            if self._on_error == "fail":
                raise
            return None
        self._recover()
        return ticket

    def _try_redis(self, start: float) -> bool:
        """Whether a caller that started waiting at ``start`` should ask Redis now."""
        if self._down_since is None:
            return True
        if self._on_error == "fail":
            # Redis failed while this caller queued: fail it now, not after another timeout.
            return self._down_since < start
        assert self._loop is not None
        return self._loop.time() >= self._next_probe

    def _raise_if_failing(self) -> None:
        """Raise the outage's error when failing is the policy; otherwise pace locally."""
        error = self._last_error
        if self._on_error == "fail" and error is not None:
            raise RateLimiterUnavailableError(error.message) from error.__cause__

    async def _book(self) -> int:
        """Reserve a slot, sleep until it comes, and have it confirmed; return its ticket."""
        wait, ticket = self._handed_over() or await self._booking("reserve", *self._taken_over())
        while wait > 0:
            await self._sleep_to_slot(wait, ticket)
            wait, ticket = await self._booking("confirm", ticket)
        return ticket

    def _handed_over(self) -> tuple[int, int] | None:
        """The wait and the ticket of a slot a cancelled caller left, while it is still to come."""
        handover, self._handover = self._handover, None
        assert self._loop is not None
        if handover is None or handover.at <= self._loop.time():
            return None
        return _micros(handover.at - self._loop.time()), handover.ticket

    async def _sleep_to_slot(self, wait: int, ticket: int) -> None:
        """Sleep ``wait`` microseconds to a booked slot; a caller cancelled meanwhile leaves the
        slot to the next one."""
        assert self._loop is not None
        at = self._loop.time() + wait / _MICROS
        try:
            await asyncio.sleep(wait / _MICROS)
        except asyncio.CancelledError:
            self._handover = _Slot(ticket, at)
            raise

    async def _booking(self, op: str, *args: int | str) -> tuple[int, int]:
        """Run a booking operation; return the wait and the ticket.

        The local fallback follows the shared schedule with every answer, so that when Redis
        fails it continues that schedule instead of starting with a fresh burst.
        """
        wait, ticket, ready = await self._call(op, *args)
        assert self._loop is not None
        self._local.hold_until(self._loop.time() + ready / _MICROS)
        # Redis has taken over what the fallback admitted: the shared schedule includes it.
        self._paced_locally = False
        return wait, ticket

    def _taken_over(self) -> tuple[int | str, int | str]:
        """What a booking hands over from the local fallback, in microseconds from now.

        Returns:
            When the fallback's schedule lets the next request leave, once it has admitted
            any since Redis last answered, and the cooldown it holds; ``""`` for neither.
        """
        local = self._local
        ready = local.next_ready
        after: int | str = ""
        if self._paced_locally and ready is not None:
            assert self._loop is not None
            after = _micros(max(0.0, ready - self._loop.time()))
        cooldown = local.cooldown_remaining
        return after, _micros(cooldown) if cooldown else ""

    async def _call(self, op: str, *args: int | str) -> list[int]:
        """Run one operation of the script on the key.

        Raises:
            RateLimiterUnavailableError: Redis did not answer, or answered with an error.
        """
        pacing = self._pacing
        argv = (op, _micros(pacing.interval), _micros(pacing.tolerance), self._keep_ms, *args)
        try:
            async with asyncio.timeout(self._timeout):
                # EVALSHA, and on NOSCRIPT (a restarted or flushed Redis) SCRIPT LOAD and again.
                reply = await self._script(keys=[self._key], args=argv)
        except (RedisError, OSError, TimeoutError) as exc:
            detail = str(exc) or f"no answer within {self._timeout:g} s"
            raise RateLimiterUnavailableError(
                f"the shared rate limiter's Redis is unavailable: {type(exc).__name__}: {detail}"
            ) from exc
        return [int(value) for value in reply]

    def _fail(self, error: RateLimiterUnavailableError) -> None:
        """Note a Redis failure; log it when it starts an outage."""
        assert self._loop is not None
        now = self._loop.time()
        self._last_error = error
        self._next_probe = now + self._recheck_after
        if self._down_since is not None:
            logger.debug("Redis still unavailable: %s", error.message)
            return
        self._down_since = now
        if self._on_error == "local":
            share = self._local.rate_limit
            logger.warning(
                "%s; pacing this process alone at %d/%gs until Redis answers again",
                error.message,
                share.requests,
                share.per,
            )
        else:
            logger.warning("%s; calls fail until Redis answers again", error.message)

    def _recover(self) -> None:
        """Log the end of an outage, if one was going on."""
        if self._down_since is None:
            return
        assert self._loop is not None
        outage = self._loop.time() - self._down_since
        self._down_since = None
        self._last_error = None
        logger.info(
            "Redis answers again after %.1f s: pacing through the shared key %r", outage, self._key
        )

    def _log_release(self, cooled: int, opened: int, held: int) -> None:
        if cooled:
            # Concurrent 429s each push the end out a little: only the first is news.
            logger.log(
                logging.INFO if opened else logging.DEBUG,
                "rate limited (429): holding every request of key %r for %.3f s",
                self._key,
                cooled / _MICROS,
            )
        if held:
            logger.debug(
                "server budget spent; holding requests of key %r %.3f s until its window resets",
                self._key,
                held / _MICROS,
            )
