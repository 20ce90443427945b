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
        "redis://cache:6379/0", key="b2b-async:ratelimit:abc123", rate_limit=RateLimit()
    ) as limiter:
        async with B2BClient(token, rate_limit=limiter) as client:
            await client.orders.create_many(orders)

The pacing shares the in-process limiter's rules (:class:`~b2b_async.RateLimiter`) where
one schedule of many processes can follow them: the same spacing (``_ratelimit.Pacing``),
the same cooldown after a 429, the same priorities among the callers of a process. Its
finer readings of a window need one process's view of its own requests, and the shared
schedule does without them: it reads a reset as answered (the in-process limiter prefers
one read from the send), spaces bookings plainly (no catching up of slots a late event
loop lost), and never leaves a window's last request to other integrations it sees
spending. What this module adds is where the
schedule lives (a Lua script runs it atomically in Redis), how priorities hold across
processes (a booking of a higher priority takes the earliest pending one of a lower
priority), and what happens when Redis cannot be reached.

This module is public and needs the ``redis`` extra (redis-py): ``pip install
'b2b-async[redis]'``.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import math
import os
import uuid
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, Literal, Self, TypeAlias

import attrs

try:
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
except ImportError:  # the extra is not installed; the message says all there is to do
    raise ImportError("b2b_async.redis needs redis-py: pip install 'b2b-async[redis]'") from None

from ._config import (
    MAX_WAIT_HINT,
    Priority,
    RateLimit,
    check_deadline,
    check_option_type,
    check_priority,
    logger,
    positive_number,
    shown,
)
from ._exceptions import ClientClosedError, RateLimiterUnavailableError
from ._protocol import BudgetHint
from ._ratelimit import (
    RESET_MARGIN,
    Lanes,
    Pacing,
    RateLimiter,
    Tickets,
    Waiter,
    unreachable,
)
from ._waking import cancel_requests

__all__ = ["RateLimiterUnavailableError", "RedisRateLimiter"]


OnRedisError: TypeAlias = Literal["local", "fail"]
"""What a :class:`RedisRateLimiter` does while Redis cannot be reached."""

_MICROS: Final = 1_000_000
#: Seconds (beyond a window's length) the key outlives the last deadline it holds (the next
#: slot, a cooldown, a window reset), so that the tickets of requests still in flight stay
#: comparable; then it expires.
_KEEP: Final = 60.0
#: The one marker of a request paced by the local fallback instead of through Redis.
_LOCAL: Final = -1

#: How the script names the priorities: the lower, the more urgent.
_LEVELS: Final[Mapping[Priority, int]] = MappingProxyType(
    {level: rank for rank, level in enumerate(Priority)}
)

#: Seconds a process may confirm its slot after it came, and the slots after it stay where
#: they were booked: about what a request's way to the server varies by, which no pacing
#: avoids. A later confirmation moves the schedule on by as much.
_LATE_ALLOWANCE: Final = 0.002

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
--   seq    tickets issued so far: a ticket orders requests across all processes, and a
--          later ticket always has a later slot
--   prev   tat before the last booking, while that booking can still be undone ('' if not)
--   b:<ticket>          a pending booking of normal (1) or bulk (2) priority, which one of
--                       a higher priority may take: '<slot> <level> <owner>'
--   m:<ticket>:<owner>  that owner's booking was taken, and it holds another now:
--                       '<new ticket> <old slot>'
-- ARGV: op ("reserve" | "confirm" | "return" | "release"), interval, tolerance, keep (ms),
-- then the op's own arguments. Absent numbers are empty strings (tonumber gives nil).
-- Priorities are levels: 0 urgent, 1 normal, 2 bulk. An owner names one limiter. A booking
-- ("reserve", "confirm") answers {wait, ticket, ready, opens}: ready is when the next
-- booking could leave at the earliest, opens when the cooldown lets anything leave. The
-- last argument of a booking and of a "return" is the ready of the owner's last answer, in
-- microseconds from now ('' when it has passed), by which a key lost since then is resumed
-- (see resume); a "confirm" also passes its slot, in microseconds from now.
local key = KEYS[1]
local op = ARGV[1]
local interval, tolerance, keep = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
-- A field as a number, or nil when it holds none a schedule can use: tonumber also reads
-- 'nan' (which every comparison then passes over, switching pacing off) and 'inf' or
-- '1e300' (which no integer can be written of). Such a field, written by anything but
-- this script, starts afresh instead, and the next save writes it whole again.
local function field(text)
  local number = tonumber(text)
  if number and number == number and math.abs(number) < 9007199254740992 then
    return number
  end
  return nil
end

-- A time field, nil also when it lies further ahead than any schedule reaches: the longest
-- wait hint obeyed, then ten thousand intervals of bookings. A time past that would hold
-- every process for good.
local farthest = now + MAX_WAIT_HINT_MICROS + 10000 * interval
local function moment(text)
  local number = field(text)
  if number and number <= farthest then return number end
  return nil
end

-- The count of tickets, nil also when it is below zero: a ticket must be positive, as the
-- processes read 0 as no ticket and -1 as a slot of their local fallback.
local function count(text)
  local number = field(text)
  if number and number >= 0 then return number end
  return nil
end

local f = redis.call('HMGET', key, 'tat', 'cool', 'wend', 'wbud', 'wlast', 'seq', 'prev')
local tat, cool, wend = moment(f[1]) or 0, moment(f[2]) or 0, moment(f[3]) or 0
local wbud, wlast, seq = field(f[4]) or 0, field(f[5]) or 0, count(f[6]) or 0
local prev = moment(f[7])

-- Lua 5.1 would print these 16-digit numbers as 1.7e+15: write them out in full.
local function int(number)
  return string.format('%.0f', number)
end

-- When anything may leave: not before the cooldown ends. (A slot already booked into a
-- window the server reports spent was counted into it, so it may still be used.)
local function opens()
  return math.max(now, cool)
end

-- When the next booking could leave at the earliest: the pace (burst tolerance included)
-- too.
local function earliest()
  local at = math.max(now, tat - tolerance, cool)
  if at < wend and wbud <= 0 then at = wend end
  return at
end

-- The earliest pending booking of a priority lower than level, with a slot from the end of
-- any cooldown (slots before it are void) up to (not including) before. Its holder has not
-- reached its slot yet, so it will learn at its confirmation. Entries of processes gone
-- for good go.
local function victim(level, before)
  if level >= 2 then return nil end
  local base, stale = opens(), now - keep * 1000
  local found, at, found_level, found_owner = nil, before, nil, nil
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local name, value = all[i], all[i + 1]
    local kind, ticket = string.match(name, '^([bm]):(%d+)')
    if kind == 'b' then
      local slot, held, owner = string.match(value, '^(%d+) (%d+) (%S+)$')
      slot, held = tonumber(slot), tonumber(held)
      if not slot or slot < stale then  -- gone by, or no booking this script wrote
        redis.call('HDEL', key, name)
      elseif held > level and slot > now and slot >= base and slot < at then
        found, at, found_level, found_owner = tonumber(ticket), slot, held, owner
      end
    elseif kind == 'm' and (tonumber(string.match(value, ' (%d+)$')) or 0) < stale then
      redis.call('HDEL', key, name)
    end
  end
  return found, at, found_level, found_owner
end

-- Settle a booking (ticket, at slot) for a caller of level. When a pending booking of a
-- lower priority comes earlier, the two change places: this caller takes the earlier slot
-- with its ticket, and the other holder gets this slot with this ticket, so that tickets
-- keep the order of slots. A booking of normal or bulk priority is left open to be taken
-- until its slot comes.
local function settle(ticket, slot, level, owner)
  local other, earlier, other_level, other_owner = victim(level, slot)
  if other then
    redis.call('HSET', key, 'm:' .. other .. ':' .. other_owner, int(ticket) .. ' ' .. int(earlier))
    redis.call('HSET', key, 'b:' .. ticket, int(slot) .. ' ' .. other_level .. ' ' .. other_owner)
    ticket, slot = other, earlier
  end
  if level > 0 and slot > now then
    redis.call('HSET', key, 'b:' .. ticket, int(slot) .. ' ' .. level .. ' ' .. owner)
  else
    redis.call('HDEL', key, 'b:' .. ticket)
  end
  return slot - now, ticket
end

-- Book the next slot of the pace. Booking into the future is what lets the caller sleep
-- instead of polling.
local function reserve(level, owner)
  local at = earliest()
  prev = tat
  tat = math.max(tat, at) + interval
  seq = seq + 1
  if at < wend then
    wbud = wbud - 1
    wlast = seq
  end
  return settle(seq, at, level, owner)
end

-- The ticket an owner holds now, its booking having perhaps been taken (more than once).
local function follow(ticket, owner)
  local moved = redis.call('HGET', key, 'm:' .. ticket .. ':' .. owner)
  while moved do
    redis.call('HDEL', key, 'm:' .. ticket .. ':' .. owner)
    local next_ticket = tonumber(string.match(moved, '^(%d+)'))
    if not next_ticket then break end  -- no move this script wrote: keep the ticket held
    ticket = next_ticket
    moved = redis.call('HGET', key, 'm:' .. ticket .. ':' .. owner)
  end
  return ticket
end

-- The slot of a pending booking, and its holder.
local function pending(ticket)
  local entry = redis.call('HGET', key, 'b:' .. ticket)
  if not entry then return nil, nil end
  local slot, holder = string.match(entry, '^(%d+) %d+ (%S+)$')
  return tonumber(slot), holder
end

local function save(reply)
  redis.call('HSET', key, 'cool', int(cool), 'wend', int(wend), 'wbud', int(wbud),
    'wlast', int(wlast))
  -- The schedule's own fields, once a booking has begun it: a release that finds the key
  -- lost leaves them unwritten, so that the next booking still finds it lost (see resume).
  if f[1] or tat > 0 then
    redis.call('HSET', key, 'tat', int(tat), 'seq', int(seq), 'prev', prev and int(prev) or '')
  end
  -- Nothing in the key matters once its last deadline has passed: let it go then.
  local horizon = math.max(tat, cool, wend) - now
  redis.call('PEXPIRE', key, math.max(0, math.ceil(horizon / 1000)) + keep)
  return reply
end

local function booked(wait, ticket)
  return save({wait, ticket, earliest() - now, opens() - now})
end

-- A key Redis lost while processes used it (FLUSHALL, DEL, an eviction) reads as a new one,
-- whose schedule would grant at once, beside the last slots of the lost one. The booking
-- process's last view of the schedule stands in for it: the new schedule begins where that
-- view left off. A key that expired has no such view left to resume: the key outlives every
-- moment its answers named by keep.
local function resume(known)
  if not f[1] and known then
    tat = math.max(tat, now + known + tolerance)
    prev = nil -- undoing the last booking would now undo the resumption as well
  end
end

if op == 'reserve' then
  -- What a process's local fallback admitted (its next free moment) and any cooldown it
  -- holds are taken over first, so that the shared schedule continues the local one.
  local after, hold = tonumber(ARGV[5]), tonumber(ARGV[6])
  local level, owner = tonumber(ARGV[7]), ARGV[8]
  resume(tonumber(ARGV[9]))
  if after then
    tat = math.max(tat, now + after + tolerance)
    prev = nil -- undoing the last booking would now undo the takeover as well
  end
  if hold then cool = math.max(cool, now + hold) end
  return booked(reserve(level, owner))
end

if op == 'confirm' then
  -- The caller's slot has come, or a caller of a higher priority now waits for it.
  local level, owner = tonumber(ARGV[7]), ARGV[8]
  local lost = not f[1]
  resume(tonumber(ARGV[9]))
  local ticket = follow(tonumber(ARGV[5]), owner)
  local slot, holder = pending(ticket)
  -- A slot still to come (a caller of a higher priority asks early) has its booking entry
  -- while the schedule lives: normal and bulk bookings keep one until their slot, and
  -- urgent ones are never asked early. Without one, the key was lost since (and perhaps
  -- begun anew by another process): it books again, after the view resumed, rather than
  -- leave now. A slot that has come is still the caller's.
  if not slot and tonumber(ARGV[6]) > 0 then return booked(reserve(level, owner)) end
  -- A ticket past the key's count, or one whose booking another process holds, was booked
  -- in a schedule the key has lost since, and another process has begun a new one: nothing
  -- of it was sent, so it books again, after that schedule's slots. With no key at all, the
  -- slot of the lost schedule is still the caller's, and the resumed schedule follows it.
  if not lost and (ticket > seq or (holder and holder ~= owner)) then
    return booked(reserve(level, owner))
  end
  if slot and slot > now then
    return booked(settle(ticket, slot, level, owner))
  end
  redis.call('HDEL', key, 'b:' .. ticket)
  -- A count merged since the booking may show the window over-booked. The newest bookings
  -- into it are the ones past the server's budget: wlast + wbud is the last ticket that
  -- fits, and stays so as each later one gives its place back.
  local over = now < wend and wbud < 0 and ticket > wlast + wbud
  if over then
    wbud = wbud + 1
    wlast = wlast - 1
  end
  -- A 429 met by any process since the booking: its cooldown covers this slot.
  if over or cool > now then return booked(reserve(level, owner)) end
  -- A slot confirmed late (its process woke late: a busy event loop) is used then, beside
  -- the slots booked on time after it, and one span of a window could hold them all and
  -- it: the schedule after them moves on by the lateness, as its process measured it, up
  -- to one interval (the place the late request took; a process stopped for an hour must
  -- not hold every other for an hour).
  local late = -tonumber(ARGV[6])
  if late > LATE_ALLOWANCE_MICROS then
    tat = tat + math.min(late, interval)
    prev = nil -- undoing the last booking would now undo the move as well
  end
  return booked(0, ticket)
end

if op == 'return' then
  -- A slot booked for callers who all left before it came. While it is still the last
  -- booking, it is undone: the next booking of any process takes it. Otherwise it stays
  -- unused, which errs on the safe side. Answers {undone, ready}.
  resume(tonumber(ARGV[7]))
  local ticket = follow(tonumber(ARGV[5]), ARGV[6])
  local _, holder = pending(ticket)
  -- A booking another process holds under this ticket is of a schedule begun anew since
  -- the key was lost, and stays. (A booking that keeps no entry, urgent or granted at
  -- once, cannot be told apart.)
  if holder and holder ~= ARGV[6] then return {0, earliest() - now} end
  redis.call('HDEL', key, 'b:' .. ticket)
  if ticket ~= seq or not prev then return {0, earliest() - now} end
  tat, seq, prev = prev, seq - 1, nil
  if wlast == ticket then
    wbud = wbud + 1
    wlast = wlast - 1
  end
  return save({1, earliest() - now})
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
""".replace("MAX_WAIT_HINT_MICROS", str(int(MAX_WAIT_HINT * 1_000_000))).replace(
    "LATE_ALLOWANCE_MICROS", str(int(_LATE_ALLOWANCE * 1_000_000))
)


@attrs.frozen
class _Slot:
    """A booked slot of the shared schedule: its ticket, its loop time and whom it was for."""

    ticket: int
    at: float
    level: Priority


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
        raise ValueError(f"key must be a non-empty string, got {shown(key)}")
    if on_redis_error not in ("local", "fail"):
        raise ValueError(f"on_redis_error must be 'local' or 'fail', got {shown(on_redis_error)}")
    if isinstance(expected_processes, bool) or not isinstance(expected_processes, int):
        raise ValueError(f"expected_processes must be an int, got {shown(expected_processes)}")
    if expected_processes < 1:
        raise ValueError(f"expected_processes must be at least 1, got {shown(expected_processes)}")
    for name, value in (("timeout", timeout), ("recheck_after", recheck_after)):
        if positive_number(value) is None:
            raise ValueError(f"{name} must be a positive number of seconds, got {shown(value)}")


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


def _outranks(level: Priority, other: Priority) -> bool:
    """Whether ``level`` is a higher priority than ``other``."""
    return _LEVELS[level] < _LEVELS[other]


#: Booking answers in a row that hold the same booking for less than a quarter of an
#: interval and grant no slot: more are no schedule's. An honest booking settles in
#: one or two such answers (Redis's clock and the loop's disagree a little about when a
#: slot comes); a booking another process takes over gets a ticket of its own, and one
#: handed back starts afresh. A Redis answering "wait a moment" for ever would have the
#: driver call it in a tight loop.
_SHORT_RUN: Final = 8
#: The share of an interval under which a booking answer's wait counts as short.
_SHORT_SHARE: Final = 0.25

#: Past the numbers the script's answers hold (Lua counts in doubles, exact below 2**53).
_LARGEST_ANSWER: Final = 2**53

#: How many numbers the script answers each of its operations with.
_ANSWER_SIZES: Final[Mapping[str, int]] = MappingProxyType(
    {"reserve": 4, "confirm": 4, "return": 2, "release": 3}
)


def _script_answer(op: str, reply: Any) -> list[int]:
    """The numbers the script answered ``op`` with.

    Raises:
        RateLimiterUnavailableError: the answer is none the script gives (something other
            than Redis answered, say).
    """
    if (
        isinstance(reply, list)
        and len(reply) == _ANSWER_SIZES[op]
        and all(type(value) is int and abs(value) < _LARGEST_ANSWER for value in reply)
    ):
        return reply
    raise RateLimiterUnavailableError(
        f"the shared rate limiter's Redis answered {op!r} with no answer of its script"
    )


async def _cancellation_pending() -> bool:
    """Take a cancellation of the current task requested before now, if any, and say so.

    It is delivered at this await, before a Redis command begins, which would swallow it.
    """
    try:
        await asyncio.sleep(0)
    except asyncio.CancelledError:
        return True
    return False


def _driver_failed(fault: BaseException) -> RateLimiterUnavailableError:
    """The error of one caller whose slot the driver could not book, caused by ``fault``."""
    error = RateLimiterUnavailableError(f"the shared rate limiter failed: {type(fault).__name__}")
    error.__cause__ = fault
    return error


def _unavailable(error: RateLimiterUnavailableError) -> RateLimiterUnavailableError:
    """A fresh copy of an outage's error for one more caller, its cause chained the same."""
    copy = RateLimiterUnavailableError(error.message)
    copy.__cause__ = error.__cause__
    return copy


class RedisRateLimiter:
    """A :class:`~b2b_async.Limiter` that paces every process of a store through one Redis key.

    **Pacing** is the same generic cell rate algorithm as :class:`~b2b_async.RateLimiter`'s,
    run atomically by a Lua script on Redis's own clock, so the machines' clocks never matter.
    Each booking takes the next slot of the shared schedule (one emission interval
    ``T = per / (requests - burst + 1)`` after the previous one, whichever process booked it),
    and the process sleeps until it comes; with the default burst of 1 every span of ``per``
    seconds holds at most ``requests`` slots, whatever the alignment of the server's fixed
    window. Nothing polls while a slot is booked.

    **Priorities, in one process**: callers wait in one lane per
    :class:`~b2b_async.Priority`. The process holds at most one booking at a time, made for
    the head of the lanes, and when the slot comes it goes to whoever is the head *then*:
    a waiting caller of a higher priority always leaves before one of a lower priority,
    callers of one priority leave in order of arrival, and bulk gets every slot the others
    leave unused.

    **Priorities, across processes**: bookings of normal and bulk priority stay open to
    be taken while their slots are still to come. A booking of a higher priority takes the
    earliest of them instead of the next free slot, and the holder of the slot taken moves
    to the next free one: an urgent call of any process waits for the next slot that is not
    another urgent call's, however many processes backfill and however far ahead their
    bookings reach, and a normal call likewise for the next that is not urgent or normal.
    The holder moved back learns so when it confirms its slot; it sends nothing before.
    Every process still books each of its slots ahead of time, so a process slow to wake
    loses no slot of the schedule. Tickets keep the order of slots through every move, so
    the server's counts are merged as before.

    **Confirming**: when its slot comes, the process asks Redis once more before granting
    it. A 429 met meanwhile by any process, or a server count showing the window
    over-booked, voids the slot and books a later one, so a cooldown is never run into by
    slots booked before it. A slot confirmed late (its event loop was busy when it came)
    is still granted, and moves the schedule after it on by its lateness, one interval at
    the most.

    **Cooldown**: :meth:`release` with a ``retry_after`` (a 429 was met) closes the cooldown in
    the key, for every process; a shorter later hint never shortens it. When it ends, slots
    follow one interval apart, not as a herd, and the urgent calls of every process come
    first.

    **Correction**: ``remaining`` and ``resets_after`` are merged into the key: requests
    booked after the hinted one (by any process, told by their tickets) are subtracted,
    hints of one window keep the least budget and the earliest reset (plus 2 ms), and a
    spent window holds every process until its reset. That
    is how another integration's spending holds everybody. A server allocation slower than
    ``rate_limit`` slows this process's bookings to match.

    **Deadlines**: a caller that says how long it can wait (``deadline``) is refused at once
    with :class:`~b2b_async.DeadlineUnreachableError` when this process can already tell
    it will be late. Its slot cannot come before the one this process has booked for it,
    nor before what Redis's last answer says: for bulk, the next free slot (other
    processes' bookings included); for normal and urgent, which may take a booked slot,
    the end of any cooldown. One interval per caller ahead of it in its
    lane and the higher ones comes on top (pacing locally: from the local limiter's next
    slot, one interval of the local share per caller). A waiter is checked again at each
    booking (and, pacing locally, at each response to a locally paced request that pushes
    the next local slot later: a cooldown, a spent window; and as a caller of a higher
    priority queues ahead of it), and fails
    at once, before sending anything, when a cooldown or callers of a higher
    priority push its slot past its deadline. What this process cannot see (what other
    processes will book later) may still make a call late; the call's own deadline then
    ends its wait.

    **Cancellation**: a caller cancelled while waiting leaves its lane at once. A slot
    booked for the lanes goes to the next caller; when no caller is left, the booking is
    given back to the shared schedule (the next booking of any process takes it), as long
    as no later booking was made; otherwise it goes unused. A caller cancelled in the very
    instant its slot was granted passes the slot to the next caller of the process.

    **Expiry**: the key expires ``per`` seconds plus a minute after the last deadline it
    holds, so nothing lingers. A field of the key that holds no usable number (written by
    something else: NaN, an infinity, text, a time further ahead than any schedule reaches)
    counts as absent and is written whole again; a booking entry that does not parse is
    passed over.

    Use it from one event loop: a limiter given a URL owns a Redis client whose connections
    belong to the loop that first used them.

    **When Redis fails** (refused, reset, no answer within ``timeout``, any Redis error, an
    answer the script never gives, such as eight in a row that hold the same booking for
    under a quarter of an interval and grant no slot):

    - ``on_redis_error="local"`` (the default): calls carry on, paced in this process by a
      :class:`~b2b_async.RateLimiter` of ``rate_limit`` divided by ``expected_processes``,
      still by priority. Every ``recheck_after`` seconds the next booking tries Redis again;
      the first that gets an answer switches the limiter back to the shared schedule. An
      outage costs at worst some 429s, which the client retries, and each local limiter
      still follows the server's headers. Pausing every order because a cache is down
      would cost more.
    - ``on_redis_error="fail"``: :meth:`acquire` raises :class:`RateLimiterUnavailableError`
      and nothing is sent. The client's retry policy retries it like a connection failure;
      callers that were queued when Redis failed fail at once instead of each waiting out
      the ``timeout``.

    Either way :meth:`release` never raises: a response has already come back, and failing
    the call now would report a registered order as lost. Transitions are logged on the
    ``b2b_async`` logger: a WARNING when Redis fails, an INFO when it answers again.

    **Switching** between Redis and the local fallback never overspends a window: callers of
    this process are admitted one at a time, each by the path in use at its turn, so none
    stays queued on the other; the local limiter continues the shared schedule from the
    last booking answer (no fresh burst), and the first booking after local admissions
    hands Redis the local schedule's next free moment and any local cooldown, before Redis
    grants more.

    The bookings are made by one task of the limiter's own, started when a caller arrives
    and ended when none waits; :meth:`aclose` stops it.

    Args:
        redis: a ``redis://`` / ``rediss://`` / ``unix://`` URL (the limiter then owns the
            client and :meth:`aclose` closes it) or a :class:`redis.asyncio.Redis` client
            (borrowed: never closed here).
        key: the Redis key holding the store's schedule; one per store, shared by every
            process that calls that store (e.g. ``"b2b-async:ratelimit:<store hash>"``).
        rate_limit: the budget every process together keeps to.
        on_redis_error: ``"local"`` or ``"fail"``, as above.
        expected_processes: how many processes share the key; the local fallback paces to
            ``rate_limit.requests // expected_processes`` (at least 1). The default of 1
            paces each process at the full rate during an outage.
        timeout: seconds a Redis call may take before Redis counts as unavailable.
        recheck_after: seconds between attempts to reach Redis again while pacing locally.

    Raises:
        ValueError: an option is out of range.
        TypeError: ``redis`` is neither a URL nor a client, or ``rate_limit`` is not a
            :class:`~b2b_async.RateLimit`.

    .. versionadded:: 0.1.0
    """

    __slots__ = (
        "_chased",
        "_closed",
        "_down_since",
        "_driver",
        "_held",
        "_in_flight",
        "_keep_ms",
        "_key",
        "_lanes",
        "_local",
        "_loop",
        "_next_probe",
        "_nudge",
        "_on_error",
        "_opens_at",
        "_owned",
        "_owner",
        "_paced_locally",
        "_pacing",
        "_pid",
        "_rate_limit",
        "_ready_at",
        "_recheck_after",
        "_redis",
        "_script",
        "_short_answers",
        "_tickets",
        "_timeout",
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
        check_option_type(rate_limit, RateLimit, "rate_limit")
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
        self._lanes = Lanes()
        self._driver: asyncio.Task[None] | None = None
        self._nudge = asyncio.Event()
        # The booked slot the driver waits for, not yet granted to anyone.
        self._held: _Slot | None = None
        # By Redis's last answer: when the next booking could leave at the earliest, and when
        # anything may leave (a cooldown, a spent window), in loop time.
        self._ready_at = -math.inf
        self._opens_at = -math.inf
        # Names this limiter's bookings in the key, so that a booking taken by another
        # process's urgent call is followed by this limiter alone.
        self._owner = uuid.uuid4().hex
        self._pid = os.getpid()
        self._tickets = Tickets()
        self._in_flight = 0
        self._paced_locally = False
        self._down_since: float | None = None
        self._next_probe = 0.0
        self._closed = False
        # The booking the last answers held a mere moment without granting it, and how many
        # answers in a row did so.
        self._chased: int | None = None
        self._short_answers = 0

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
            f" waiting={self.waiting} in_flight={self._in_flight}"
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
        """What happens while Redis cannot be reached, ``"local"`` or ``"fail"``."""
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
        """Callers of this process waiting in :meth:`acquire`, in every lane."""
        return len(self._lanes)

    async def aclose(self) -> None:
        """Close the Redis client if the limiter owns it (a borrowed one stays open); idempotent.

        Callers still waiting fail with :class:`~b2b_async.ClientClosedError`. The limiter
        cannot be used afterwards.
        """
        if self._closed:
            return
        self._closed = True
        driver, self._driver = self._driver, None
        try:
            if driver is not None and not driver.done():
                driver.cancel()
                if driver.get_loop() is asyncio.get_running_loop():
                    await asyncio.wait([driver])
        finally:  # also when cancelled meanwhile: a later aclose() returns at once
            self._fail_waiters(lambda: ClientClosedError("the RedisRateLimiter is closed"))
            if self._owned:
                await self._redis.aclose()

    async def acquire(
        self, priority: Priority | str = Priority.NORMAL, *, deadline: float | None = None
    ) -> float:
        """Wait in the lane of ``priority`` for a slot of the store's shared schedule.

        Cancellation-safe: a caller cancelled while waiting leaves its lane, and the slot
        booked for the lanes passes to the next caller, or back to the shared schedule.

        Args:
            priority: the caller's lane: ``"urgent"``, ``"normal"`` or ``"bulk"`` (a
                :class:`~b2b_async.Priority` or its plain name). Across processes, a
                booking of a higher priority takes a pending one of a lower priority.
            deadline: the most seconds the caller can wait for its slot, or ``None`` for
                no bound.

        Returns:
            The seconds waited.

        Raises:
            DeadlineUnreachableError: by what this process knows, the slot comes after
                ``deadline``: raised at once, or as soon as a cooldown or callers of a
                higher priority push the slot there while the caller waits. Nothing may
                be sent.
            RateLimiterUnavailableError: Redis failed and ``on_redis_error`` is ``"fail"``.
            ClientClosedError: the limiter was closed.
            ValueError: ``priority`` names no priority, or ``deadline`` is NaN or no
                number.
        """
        level = check_priority(priority)
        deadline = check_deadline(deadline)
        loop = self._bind_loop()
        if self._closed:
            raise ClientClosedError("the RedisRateLimiter is closed")
        start = loop.time()
        waiter = Waiter(loop.create_future(), level, self._deadline_at(level, start, deadline))
        self._lanes.join(waiter)
        self._recheck_behind(level)
        self._drive(level)
        try:
            ticket = await waiter.future
        except asyncio.CancelledError:
            if self._withdraw(waiter) == _LOCAL:
                await self._local.release(None)  # a local slot nobody was left to use
            raise
        self._in_flight += 1
        self._tickets.hold(ticket)
        return loop.time() - start

    async def release(self, hint: BudgetHint | None) -> None:
        """Count the request as finished and share what its response said about the budget.

        Never raises for a Redis failure: the failure is logged and handled as
        ``on_redis_error`` says, and the hint goes to the local fallback, which paces while
        Redis fails.

        Args:
            hint: the response's budget headers, or ``None`` when no response came back.
        """
        self._bind_loop()
        ticket = self._tickets.take()
        self._in_flight = max(0, self._in_flight - 1)
        if ticket == _LOCAL:
            await self._release_local(hint)
            return
        if hint is None:
            return
        self._pacing = self._pacing.following(hint, self._rate_limit)
        # Released from another task, the ticket is unknown and the count cannot be placed.
        shares_count = hint.remaining is not None and ticket is not None
        if self._down_since is None and not self._closed and (shares_count or hint.retry_after):
            await self._share(hint, ticket)
        if self._down_since is not None and not self._closed:
            # Redis failed after this request was booked: the fallback that paces now keeps
            # what the answer said (a 429's cooldown, above all) instead of dropping it.
            before = self._local.next_ready
            self._local.follow(hint)
            self._recheck_local(before)

    async def _release_local(self, hint: BudgetHint | None) -> None:
        """Release a request the local fallback admitted into the local limiter.

        Answered once Redis answers again, a 429's cooldown closes the shared one as well:
        the other processes pace through Redis by then, and this one books there next.
        """
        before = self._local.next_ready
        await self._local.release(hint)
        self._recheck_local(before)
        if hint is not None and hint.retry_after and self._down_since is None and not self._closed:
            await self._share(hint, None)  # no ticket: the count cannot be placed

    def _paces_alone(self) -> bool:
        """Whether the local fallback paces this process's callers (Redis failed, "local")."""
        return self._down_since is not None and self._on_error == "local"

    def _recheck_behind(self, level: Priority) -> None:
        """While pacing locally, fail at once each waiter of a lower lane that a newcomer of
        ``level`` makes late: through Redis, the next booking checks them again; the local
        fallback books nothing that would."""
        if self._paces_alone() and self._lanes.behind(level):
            self._drop_unreachable(self._first_slot(Priority.BULK))

    def _recheck_local(self, before: float | None) -> None:
        """While pacing locally, fail at once each waiter that a cooldown or a spent window
        the local limiter has just learnt of makes late, as a booking answer would.

        Args:
            before: the local limiter's next free moment before it learnt of the response;
                only a later one tells of something that may make a waiter late.
        """
        ready = self._local.next_ready
        if self._down_since is None or not self._lanes or ready is None:
            return
        if before is None or ready > before:
            self._drop_unreachable(ready)

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
            # The callers, the driver and the tickets of an earlier loop died with it.
            self._loop = loop
            self._lanes.clear()
            self._driver = None
            self._nudge = asyncio.Event()
            self._held = None
            self._tickets.clear()
            self._stop_chasing()
            if self._pid != os.getpid():
                # A process forked since the limiter was built (a pre-forking server's
                # worker) books under an owner of its own, not under its parent's.
                self._pid, self._owner = os.getpid(), uuid.uuid4().hex
        return loop

    def _now(self) -> float:
        assert self._loop is not None, "bound by acquire() or release() first"
        return self._loop.time()

    # -- the callers' side -------------------------------------------------------------------

    def _deadline_at(self, level: Priority, now: float, deadline: float | None) -> float | None:
        """The loop time a new caller must have its slot by; refuses one already late.

        Raises:
            DeadlineUnreachableError: the callers ahead, a cooldown or the schedule make it late.
        """
        if deadline is None:
            return None
        wait_behind = functools.partial(self._wait_behind, self._first_slot(level), now)
        wait = self._lanes.wait_of(level, wait_behind, deadline)
        if wait > deadline:
            raise unreachable(wait, deadline)
        return now + deadline

    def _first_slot(self, level: Priority) -> float:
        """When the next slot for a caller of ``level`` comes at the earliest, by what this
        process knows.

        The slot booked, unless the caller outranks the one it was booked for; otherwise
        what Redis's last answer said: bulk takes the next free slot, and a higher priority
        may take a booked one once a cooldown is over. While pacing locally, the local
        limiter's next slot.
        """
        held = self._held
        if held is not None and not _outranks(level, held.level):
            return held.at
        if self._down_since is not None:
            ready = self._local.next_ready
            return -math.inf if ready is None else ready
        return self._ready_at if level is Priority.BULK else self._opens_at

    def _wait_behind(self, first: float, now: float, ahead: int) -> float:
        """Seconds until the slot of a caller with ``ahead`` callers before it, at the least.

        The first slot comes at ``first``, and the callers ahead take one interval each
        (less the burst tolerance), of the local share's pacing while pacing locally: other
        processes' bookings can only make it later.
        """
        pacing = Pacing.of(self._local.rate_limit) if self._paces_alone() else self._pacing
        return max(0.0, first - now) + max(0.0, ahead * pacing.interval - pacing.tolerance)

    def _drive(self, level: Priority) -> None:
        """Start the driver for a new caller of ``level``, or wake it when the caller
        outranks the one the booked slot is for."""
        driver = self._driver
        if driver is None or driver.done():
            assert self._loop is not None
            # It books for every caller, so it runs in a context of its own, not that of
            # the caller that starts it (whose current span would adopt every booking).
            self._driver = self._loop.create_task(
                self._run(), name=f"b2b-async {self._key}", context=contextvars.Context()
            )
            self._driver.add_done_callback(self._driver_ended)
        elif self._held is not None and _outranks(level, self._held.level):
            self._nudge.set()

    def _driver_ended(self, driver: asyncio.Task[None]) -> None:
        """Fail the callers a driver cancelled by anyone but aclose left waiting: cancelled
        before it began, it never ran :meth:`_run`, whose handler fails them otherwise. A
        driver started since serves them instead."""
        if driver.cancelled() and driver is self._driver and not self._closed:
            self._fail_waiters(functools.partial(_driver_failed, asyncio.CancelledError()))

    def _withdraw(self, waiter: Waiter) -> int | None:
        """Undo a wait its caller gave up; the lanes skip its entry when they get there.

        A slot granted in the instant the caller was cancelled goes to the next caller; with
        none left, a booked one goes back to the key (:meth:`_hand_back`).

        Returns:
            The ticket of a local slot granted so, when no other caller was waiting to take
            it; ``None`` otherwise.
        """
        future = waiter.future
        unused = None
        if future.cancelled():
            self._lanes.leave(waiter)
        elif future.exception() is None:
            # Granted in the instant it was cancelled. Now is the slot's time, so the next
            # caller may take it; later, it could crowd the slot after it.
            unused = future.result()
            head = self._lanes.pop()
            if head is not None:
                head.future.set_result(unused)
                unused = None
            elif unused != _LOCAL:
                self._hand_back(unused, waiter.priority)
                unused = None
        if not self._lanes:
            self._nudge.set()  # the driver gives its booking back instead of waiting for it
        return unused

    def _hand_back(self, ticket: int, level: Priority) -> None:
        """Have the driver give back a booked slot whose caller left in the instant it came,
        as it gives back one that comes once every caller has left (see :meth:`_grant`).

        A booking the driver holds meanwhile is a later one, and takes its place: the slot
        then stays unused, which errs on the safe side.
        """
        if self._held is None and not self._closed:
            self._held = _Slot(ticket, self._now(), level)
            self._drive(level)

    def _fail_waiters(self, error: Callable[[], BaseException]) -> None:
        """Fail every waiting caller, each with an error of its own."""
        for waiter in self._lanes:
            self._lanes.leave(waiter)
            waiter.future.set_exception(error())

    def _drop_unreachable(self, first: float) -> None:
        """Fail at once each waiter that, served from ``first`` on, would miss its deadline."""
        now = self._now()
        kept = 0
        for waiter in self._lanes:
            wait = self._wait_behind(first, now, kept)
            if waiter.deadline_at is None or now + wait <= waiter.deadline_at:
                kept += 1
                continue
            self._lanes.leave(waiter)
            waiter.future.set_exception(unreachable(wait, waiter.deadline_at - now))

    # -- the driver: one task books the slots for the lanes -----------------------------------

    async def _run(self) -> None:
        """Book slots for the lanes while callers wait; give back a booking none will take."""
        try:
            while self._lanes or self._held is not None:
                if self._lanes:
                    await self._step()
                else:
                    await self._give_back()
        except Exception as exc:
            # A fault here must not leave callers waiting for a slot that never comes.
            logger.exception("the rate limiter of key %r failed", self._key)
            self._fail_waiters(functools.partial(_driver_failed, exc))
        except asyncio.CancelledError as exc:
            if not self._closed:  # cancelled by someone else than aclose: nobody books now
                self._fail_waiters(functools.partial(_driver_failed, exc))
            raise

    async def _step(self) -> None:
        """Bring the head of the lanes one step closer to its slot."""
        held = self._held
        if held is None:
            if self._try_redis():
                await self._booking("reserve", *self._taken_over())
            else:
                await self._pace_locally()
        elif held.at > self._now() and not _outranks(self._head(), held.level):
            self._drop_unreachable(held.at)
            await self._pause(held.at - self._now())
        else:
            # The slot has come, or the head outranks the caller it was booked for and may
            # take an earlier one from another process.
            await self._booking("confirm", held.ticket, _micros(held.at - self._now()))

    def _known(self) -> int | str:
        """When the last answer said the next booking may leave, in microseconds from now,
        or ``""`` once that has passed: the schedule to resume should Redis have lost the
        key since (the script's ``resume``)."""
        ahead = self._ready_at - self._now()
        return _micros(ahead) if ahead > 0 else ""

    def _head(self) -> Priority:
        """The priority of the caller at the head of the lanes."""
        return next((level for level in Priority if self._lanes.ahead_of(level)), Priority.BULK)

    async def _booking(self, op: str, *args: int | str) -> None:
        """Book (or confirm) a slot for the head of the lanes, and follow Redis's answer."""
        level = self._head()
        try:
            wait, ticket, ready, opens = await self._call(
                op, *args, _LEVELS[level], self._owner, self._known()
            )
            self._count_short(op, wait, ticket)
        except RateLimiterUnavailableError as exc:
            self._held = None  # a slot booked and never confirmed goes unused
            self._fail(exc)
            if self._on_error == "fail":
                self._fail_waiters(functools.partial(_unavailable, exc))
            return
        self._recover()
        now = self._now()
        self._ready_at = now + ready / _MICROS
        self._opens_at = now + opens / _MICROS
        # The local fallback follows the shared schedule with every answer, so that when
        # Redis fails it continues that schedule instead of starting with a fresh burst.
        self._local.hold_until(self._ready_at)
        # Redis has taken over what the fallback admitted: the shared schedule includes it.
        self._paced_locally = False
        if wait > 0:
            self._held = _Slot(ticket, now + wait / _MICROS, level)
        else:
            self._held = None
            self._grant(ticket, level)

    def _count_short(self, op: str, wait: int, ticket: int) -> None:
        """Count a booking answer that holds a booking a mere moment, granting nothing: the
        answers in a row that do so for the same booking.

        Args:
            op: the operation answered, ``"reserve"`` or ``"confirm"``.
            wait: the answer's wait, in microseconds.
            ticket: the booking it holds.

        Raises:
            RateLimiterUnavailableError: :data:`_SHORT_RUN` such answers came in a row, which
                no schedule gives: Redis fails, and the driver stops calling it at once.
        """
        if not 0 < wait < _micros(self._pacing.interval * _SHORT_SHARE):
            self._stop_chasing()
            return
        if ticket != self._chased:  # another booking: a run of its own begins
            self._chased, self._short_answers = ticket, 0
        self._short_answers += 1
        if self._short_answers < _SHORT_RUN:
            return
        self._stop_chasing()
        raise RateLimiterUnavailableError(
            f"the shared rate limiter's Redis answered {_SHORT_RUN} bookings in a row ({op!r}"
            f" last) with waits under {self._pacing.interval * _SHORT_SHARE:.3g} s for the"
            " same slot and granted none"
        )

    def _stop_chasing(self) -> None:
        """Forget the booking being chased: it was granted, held for longer, given back or
        lost."""
        self._chased = None
        self._short_answers = 0

    def _grant(self, ticket: int, level: Priority) -> None:
        """Give the slot that has come to the head of the lanes, or back if none is left."""
        waiter = self._lanes.pop()
        if waiter is None:
            # Every caller left in this instant: the loop gives the booking back.
            self._held = _Slot(ticket, self._now(), level)
            return
        waiter.future.set_result(ticket)

    async def _give_back(self) -> None:
        """Hand the booked slot no caller is left for back to the shared schedule."""
        held, self._held = self._held, None
        self._stop_chasing()
        if held is None:
            return
        try:
            _, ready = await self._call("return", held.ticket, self._owner, self._known())
        except RateLimiterUnavailableError as exc:
            self._fail(exc)  # the slot just goes unused
            return
        self._ready_at = self._now() + ready / _MICROS

    async def _pace_locally(self) -> None:
        """Admit the head of the lanes through the local fallback."""
        await self._local.acquire(self._head())
        self._paced_locally = True
        waiter = self._lanes.pop()
        if waiter is None:
            await self._local.release(None)  # every caller left meanwhile
            return
        waiter.future.set_result(_LOCAL)

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when a caller's arrival or departure wakes the driver."""
        self._nudge.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._nudge.wait()

    def _try_redis(self) -> bool:
        """Whether the next booking should ask Redis (otherwise it is paced locally)."""
        if self._down_since is None or self._on_error == "fail":
            # With "fail", the callers queued when Redis failed have failed; the newer ask.
            return True
        return self._now() >= self._next_probe

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
            after = _micros(max(0.0, ready - self._now()))
        cooldown = local.cooldown_remaining
        return after, _micros(cooldown) if cooldown else ""

    async def _call(self, op: str, *args: int | str) -> list[int]:
        """Run one operation of the script on the key.

        Once begun, the operation runs to its end (a 429's cooldown reaches the key), and a
        cancellation of the task, requested before or during it, is raised after it:
        redis-py swallows one that is pending as a command begins, and at times lets a
        cancelled command finish.

        Raises:
            RateLimiterUnavailableError: Redis did not answer, or answered with an error.
        """
        pacing = self._pacing
        argv = (op, _micros(pacing.interval), _micros(pacing.tolerance), self._keep_ms, *args)
        pending = await _cancellation_pending()
        cancels = cancel_requests()
        try:
            reply = await self._run_script(argv)
        finally:
            if pending or cancel_requests() > cancels:
                # The caller asked for it: it outranks the answer, and any failure.
                raise asyncio.CancelledError
        return _script_answer(op, reply)

    async def _run_script(self, argv: tuple[int | str, ...]) -> Any:
        """The script's raw answer to ``argv``, on the key.

        Raises:
            RateLimiterUnavailableError: Redis did not answer, or answered with an error.
        """
        try:
            async with asyncio.timeout(self._timeout):
                # EVALSHA, and on NOSCRIPT (a restarted or flushed Redis) SCRIPT LOAD and again.
                return await self._script(keys=[self._key], args=argv)
        except Exception as exc:
            # Whatever the Redis client meets is an outage: a RedisError, an OSError or a
            # TimeoutError mostly, but a server that is no Redis makes redis-py fail in other
            # ways too (a RecursionError, an AttributeError).
            detail = str(exc) or f"no answer within {self._timeout:g} s"
            raise RateLimiterUnavailableError(
                f"the shared rate limiter's Redis is unavailable: {type(exc).__name__}: {detail}"
            ) from exc

    def _fail(self, error: RateLimiterUnavailableError) -> None:
        """Note a Redis failure; log it when it starts an outage."""
        now = self._now()
        self._next_probe = now + self._recheck_after
        self._stop_chasing()
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
        outage = self._now() - self._down_since
        self._down_since = None
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
