"""The Redis-backed limiter against a real redis-server: pacing, cooldown, correction, outages."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import contextvars
import gc
import importlib
import logging
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from decimal import Decimal
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from b2b_async import (
    B2BClient,
    BudgetHint,
    ClientClosedError,
    CreatedOrder,
    DeadlineUnreachableError,
    Limiter,
    Priority,
    RateLimit,
    RetryPolicy,
    TransportError,
)
from b2b_async._config import MAX_WAIT_HINT, MAX_WINDOW_REQUESTS
from b2b_async._protocol import parse_budget
from b2b_async._ratelimit import Pacing, RateLimiter, build_limiter
from b2b_async.redis import (
    _SHORT_SHARE,
    OnRedisError,
    RateLimiterUnavailableError,
    RedisRateLimiter,
    _micros,
)
from b2b_async.sandbox import DEFAULT_TOKEN, FaultKind, RateWindow, SandboxServer, parse_faults
from bench.multiprocess import Arrival, run, run_worker, sandbox_process, urgent_run
from tests.redis_helpers import REDIS_SERVER, SKIP_REASON, RedisServer, free_port
from tests.sandbox_helpers import seed_for

#: 20 per 0.2 s: one slot every 10 ms, so a few slots take a few tens of milliseconds.
FAST = RateLimit(20, 0.2)
#: 10 per 0.2 s, for the tests that measure spacing: a 20 ms interval stands well above the
#: few milliseconds by which a grant trails its slot (a Redis round trip, a new connection).
PACED = RateLimit(10, 0.2)
INTERVAL = PACED.per / PACED.requests
#: How much later than its slot a grant may be seen: timer lateness, round trips, scheduling.
JITTER = 0.01
#: Timer lateness, a Redis round trip and scheduling noise, allowed when comparing waits.
SLACK = 0.02
#: A wait this short means "not held": every hold these tests provoke lasts 0.3 s or more.
#: Given as a deadline, it refuses at once a caller that would be held, whatever the load.
PROMPT = 0.15
#: Retries that never stretch a test: quick backoff, a hint of up to 2 s obeyed.
PATIENT = RetryPolicy(initial_wait=0.01, max_wait=0.02, max_retry_after=2.0)
#: The same with a single retry, so that calls failing for good fail fast.
QUICK = RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.02, max_retry_after=2.0)


# -- fixtures -----------------------------------------------------------------------------------


def started_redis() -> RedisServer:
    """A running redis-server, or a skip when there is none to run."""
    if REDIS_SERVER is None:
        pytest.skip(SKIP_REASON)
    server = RedisServer()
    server.start()
    return server


@pytest.fixture(scope="module")
def shared_redis() -> Iterator[RedisServer]:
    """One redis-server for the tests that never stop it."""
    server = started_redis()
    yield server
    server.stop()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of the test's own, which it may kill and start again."""
    server = started_redis()
    yield server
    server.stop()


@pytest.fixture
def url(shared_redis: RedisServer) -> str:
    """The shared server's URL."""
    return shared_redis.url


@pytest.fixture
def key() -> str:
    """A key no other test uses."""
    return f"b2b-async:test:{uuid.uuid4().hex}"


@pytest.fixture
async def client(url: str) -> AsyncIterator[aioredis.Redis]:
    """A redis-py client of the test's own, closed afterwards."""
    redis = aioredis.Redis.from_url(url)
    yield redis
    await redis.aclose()


@pytest.fixture
async def client_of() -> AsyncIterator[Callable[[str], aioredis.Redis]]:
    """Make redis-py clients of the test's own, closed afterwards."""
    made: list[aioredis.Redis] = []

    def make(url: str) -> aioredis.Redis:
        made.append(aioredis.Redis.from_url(url))
        return made[-1]

    yield make
    for redis in made:
        await redis.aclose()


@contextlib.asynccontextmanager
async def limiters(
    url: str, key: str, count: int, **options: Any
) -> AsyncIterator[list[RedisRateLimiter]]:
    """``count`` limiters on one key, each with a client of its own, like as many processes."""
    async with contextlib.AsyncExitStack() as stack:
        made = [
            await stack.enter_async_context(RedisRateLimiter(url, key=key, **options))
            for _ in range(count)
        ]
        yield made


@contextlib.asynccontextmanager
async def silent_redis() -> AsyncIterator[tuple[str, list[asyncio.StreamWriter]]]:
    """A TCP server that accepts connections and never answers, like a wedged Redis: its URL,
    and the connections made to it so far (a call cut off by its timeout leaves its own)."""
    writers: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://127.0.0.1:{port}/0", writers
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def eventually(read: Callable[[], Awaitable[object]], expected: object) -> None:
    """Poll ``read`` until it gives ``expected``: the Redis state another task changes sends
    no event to wait on."""
    for _ in range(2000):
        if await read() == expected:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never read {expected!r}")


def unreachable_url() -> str:
    """A Redis URL on a port nothing listens on."""
    return f"redis://127.0.0.1:{free_port()}/0"


async def wait_told_after_a_booking_given_back(
    limiter: RedisRateLimiter, watched: WatchedRedis, ask: Callable[[], Awaitable[float]]
) -> float:
    """Take the window's one slot, start a waiter and cancel it once the next slot is booked
    for it; once that booking is given back, ``ask()`` must be refused for its deadline:
    return the wait it was told. The waiter ends cancelled."""
    await limiter.acquire()  # the window's one slot: the next is a minute away
    waiter = asyncio.create_task(limiter.acquire())
    await watched.until_answered("reserve", 2)  # the next slot, booked for the waiter
    waiter.cancel()
    await watched.until_answered("return")
    with pytest.raises(DeadlineUnreachableError) as refused:
        await ask()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    return refused.value.estimated_wait


async def served_as_the_first_is_cancelled(
    second: asyncio.Task[float], first: asyncio.Task[float]
) -> None:
    """Wait for ``second`` to be granted (bounded only so that a hang fails), and see that
    ``first`` ended cancelled."""
    await asyncio.wait_for(second, timeout=30)
    with pytest.raises(asyncio.CancelledError):
        await first


async def granted(limiter: RedisRateLimiter) -> float:
    """Acquire, release without a hint, and return the loop time the slot was granted."""
    await limiter.acquire()
    at = asyncio.get_running_loop().time()
    await limiter.release(None)
    return at


async def timed(awaitable: Awaitable[object]) -> float:
    """Seconds ``awaitable`` took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    await awaitable
    return loop.time() - started


async def warm(*limiters: RedisRateLimiter) -> None:
    """Open each client's connections first, so that no measured grant waits for a connect."""
    await asyncio.gather(*(granted(limiter) for limiter in limiters * 2))


class LoopLag:
    """The longest the event loop was late to wake a 1 ms sleeper while it was watched, and
    the slowest answer of the Redis server watched beside it."""

    loop = 0.0
    redis = 0.0

    @property
    def worst(self) -> float:
        """How late a grant may be seen, at most, for reasons of the machine's load alone."""
        return self.loop + self.redis


@contextlib.asynccontextmanager
async def watched_loop(redis: aioredis.Redis | None = None) -> AsyncIterator[LoopLag]:
    """Watch the loop's lateness, and Redis's with ``redis``: a loaded machine that stalls
    either for 50 ms holds back every grant alike, and grants then bunch however well Redis
    spaced their slots."""
    lag = LoopLag()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    async def watch_loop() -> None:
        while not stop.is_set():
            before = loop.time()
            await asyncio.sleep(0.001)
            lag.loop = max(lag.loop, loop.time() - before - 0.001)

    async def watch_redis(redis: aioredis.Redis) -> None:
        # Stopped by the flag, never cancelled: a PING cancelled on its way may have its
        # cancellation absorbed by the Redis client, and the watcher would then run on.
        while not stop.is_set():
            before = loop.time()
            await redis.ping()
            lag.redis = max(lag.redis, loop.time() - before)
            await asyncio.sleep(0.001)

    watchers = [asyncio.create_task(watch_loop())]
    if redis is not None:
        watchers.append(asyncio.create_task(watch_redis(redis)))
    try:
        yield lag
    finally:
        stop.set()
        await asyncio.gather(*watchers)


def spacing_ok(times: Sequence[float], interval: float, lag: LoopLag) -> bool:
    """Whether any ``k + 1`` grants span at least ``k`` intervals, give or take the jitter
    and however long the loop stalled."""
    ordered = sorted(times)
    allowance = JITTER + lag.worst
    return all(
        later - earlier >= (j - i) * interval - allowance
        for i, earlier in enumerate(ordered)
        for j, later in enumerate(ordered[i + 1 :], start=i + 1)
    )


def shared(limiter: RedisRateLimiter) -> bool:
    """Whether the limiter paces through Redis right now (a call: the type checker would
    otherwise keep an earlier assertion's narrowing)."""
    return limiter.shared


async def create(client: B2BClient, order_id: str) -> CreatedOrder:
    """Register one order of 10.50 for customer 1 of company 1."""
    return await client.orders.create(
        company_id=1, customer_id=1, order_id=order_id, total_inc_tax=Decimal("10.50")
    )


# -- pacing ------------------------------------------------------------------------------------


#: One request a minute: a call held for the pace would wait 60 s, far beyond the time a
#: first call takes to connect and load the script, however busy the machine.
MINUTELY = RateLimit(1, 60.0)


async def test_first_acquire_does_not_wait(url: str, key: str) -> None:
    """An idle key grants the first slot at once, not a pace's interval later."""
    async with RedisRateLimiter(url, key=key, rate_limit=MINUTELY) as limiter:
        assert await limiter.acquire() < MINUTELY.per / 2
        assert limiter.in_flight == 1
        await limiter.release(None)
        assert limiter.in_flight == 0


async def test_gathered_acquires_leave_one_interval_apart(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """Ten gathered acquires on one limiter are granted 20 ms apart, in arrival order."""
    async with RedisRateLimiter(url, key=key, rate_limit=PACED) as limiter:
        await warm(limiter)
        order: list[int] = []

        async def one(index: int) -> float:
            at = await granted(limiter)
            order.append(index)
            return at

        async with watched_loop(client) as lag:
            times = await asyncio.gather(*(one(i) for i in range(10)))
        assert limiter.waiting == 0
    assert spacing_ok(times, INTERVAL, lag)
    assert order == list(range(10))


async def test_instances_on_one_key_share_one_schedule(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """Three limiters on one key (three processes) together keep to one pace."""
    async with limiters(url, key, 3, rate_limit=PACED) as (a, b, c):
        await warm(a, b, c)
        async with watched_loop(client) as lag:
            times = await asyncio.gather(*(granted(limiter) for limiter in (a, b, c) * 4))
    assert spacing_ok(times, INTERVAL, lag)


async def test_instances_on_different_keys_pace_apart(url: str, key: str) -> None:
    """Two stores, two keys: neither waits for the other."""
    async with RedisRateLimiter(url, key=key, rate_limit=MINUTELY) as a:
        async with RedisRateLimiter(url, key=key + ":other", rate_limit=MINUTELY) as b:
            await a.acquire()
            assert await b.acquire() < MINUTELY.per / 2


async def test_a_burst_leaves_at_once_then_paces(url: str, key: str) -> None:
    """With burst 3, three acquires leave together and the fourth waits for the pace."""
    limit = RateLimit(6, 0.6, burst=3)  # interval 0.15 s
    async with RedisRateLimiter(url, key=key, rate_limit=limit) as limiter:
        waits = [await limiter.acquire() for _ in range(4)]
    assert max(waits[:3]) < 0.075
    assert waits[3] > 0.075


async def test_a_slower_server_allocation_slows_booking(url: str, key: str) -> None:
    """An allocation of 5 per 0.5 s announced by the server paces at 100 ms, not 10 ms."""
    async with RedisRateLimiter(url, key=key, rate_limit=FAST) as limiter:
        await limiter.acquire()
        await limiter.release(BudgetHint(limit=5, window=0.5))
        await limiter.acquire()
        waited = await limiter.acquire()
    assert waited >= 0.1 - SLACK


async def test_a_cancelled_waiter_leaves_the_queue(url: str, key: str) -> None:
    """A caller cancelled while sleeping to its slot is gone; the next one is served within
    a deadline of 0.5 s."""
    async with RedisRateLimiter(url, key=key, rate_limit=RateLimit(10, 0.5)) as limiter:
        await limiter.acquire()
        waiter = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert (limiter.waiting, limiter.in_flight) == (0, 1)
        assert await limiter.acquire(deadline=0.5) >= 0.0
        assert limiter.in_flight == 2


async def test_a_cancelled_waiter_hands_its_slot_to_the_next(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """The slot a cancelled caller booked is the next caller's: no second booking is made."""
    async with RedisRateLimiter(url, key=key, rate_limit=RateLimit(2, 1.0)) as limiter:
        await limiter.acquire()
        first = asyncio.create_task(limiter.acquire())  # books ticket 2, half a second ahead
        second = asyncio.create_task(limiter.acquire())
        await eventually(lambda: client.hget(key, "seq"), b"2")
        first.cancel()
        await second
        assert limiter.in_flight == 2
    assert first.cancelled()
    assert await client.hget(key, "seq") == b"2"


async def test_a_slot_used_late_moves_the_schedule_on_by_one_interval_at_most(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """A slot its process uses late (its event loop was busy when it came) moves the shared
    schedule on, so that the next request still leaves an interval after it rather than at
    once beside it, where one span of a window could hold one request too many; by one
    interval at the most, however late (a process stopped for long holds no other)."""
    async with RedisRateLimiter(url, key=key, rate_limit=RateLimit(2, 2.0)) as limiter:
        await limiter.acquire()
        late = asyncio.create_task(limiter.acquire())  # books ticket 2, a second ahead
        await eventually(lambda: client.hget(key, "seq"), b"2")
        booked = int(await client.hget(key, "tat") or 0)
        time.sleep(2.5)  # noqa: ASYNC251 - a busy event loop: the slot is 1.5 s late or more
        await late
        moved = int(await client.hget(key, "tat") or 0) - booked
        assert moved == pytest.approx(1_000_000, abs=2)  # one interval, in microseconds


# -- priorities ------------------------------------------------------------------------------

#: Five processes backfilling: without priorities across processes, each would hold a slot
#: ahead of an urgent call.
BACKFILLS = 5
#: The most grants of other processes' bulk calls an urgent call may see between asking and
#: its own grant: slots already due when it asked, whose holders are confirming them.
OVERTAKEN = 2


async def pending_bookings(redis: aioredis.Redis, key: str) -> int:
    """Bookings of the shared schedule that another may take: booked, and still to come."""
    seconds, micros = await redis.time()
    now = seconds * 1_000_000 + micros
    entries = cast(dict[bytes, bytes], await redis.hgetall(key))
    slots = [int(value.split()[0]) for name, value in entries.items() if name.startswith(b"b:")]
    return sum(1 for slot in slots if slot > now)


async def fields_named(redis: aioredis.Redis, key: str, *prefixes: bytes) -> list[bytes]:
    """The fields of the key's hash whose names start with one of ``prefixes``."""
    names = cast(list[bytes], await redis.hkeys(key))
    return [name for name in names if name.startswith(prefixes)]


async def backfill(limiter: RedisRateLimiter, calls: int, log: list[str], name: str) -> None:
    """Gather ``calls`` bulk acquires on ``limiter``, noting each grant in ``log``."""

    async def one() -> None:
        await limiter.acquire(Priority.BULK)
        log.append(name)
        await limiter.release(None)

    await asyncio.gather(*(one() for _ in range(calls)))


def overtakes(log: Sequence[str]) -> list[int]:
    """For each urgent call in ``log``, the grants of other calls between its ask and its grant."""
    counts = []
    start = 0
    while "asked" in log[start:]:
        asked = log.index("asked", start)
        start = log.index("urgent", asked)
        counts.append(start - asked - 1)
    return counts


async def test_an_urgent_call_overtakes_the_bookings_of_other_processes(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """Five "processes" backfill, each holding a slot ahead; a sixth's urgent calls each take
    one of the next slots instead of the sixth, and every grant keeps to the pace."""
    async with limiters(url, key, BACKFILLS + 1, rate_limit=PACED) as (*bulk, urgent):
        await warm(*bulk, urgent)
        log: list[str] = []
        depths: list[int] = []

        async def urgent_calls() -> None:
            for _ in range(6):
                await asyncio.sleep(3 * INTERVAL)
                depths.append(await pending_bookings(client, key))
                log.append("asked")
                await urgent.acquire(Priority.URGENT)
                log.append("urgent")
                await urgent.release(None)

        async def timed_backfill(limiter: RedisRateLimiter) -> None:
            await backfill(limiter, 10, log, "bulk")

        async with watched_loop(client) as lag:
            await asyncio.gather(*(timed_backfill(limiter) for limiter in bulk), urgent_calls())
    overtaken = overtakes(log)
    assert len(overtaken) == 6
    assert max(depths) >= 3, depths  # the backfills did hold slots ahead of the urgent calls
    assert max(overtaken) <= OVERTAKEN + int(lag.worst / INTERVAL), (overtaken, lag.worst)


async def test_grants_of_every_priority_keep_to_one_pace(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """Slots taken by urgent calls from other processes' bookings are never used twice: any
    k + 1 grants of all the processes span k intervals."""
    async with limiters(url, key, 3, rate_limit=PACED) as (a, b, c):
        await warm(a, b, c)
        loop = asyncio.get_running_loop()
        times: list[float] = []

        async def granted_as(limiter: RedisRateLimiter, level: Priority) -> None:
            await limiter.acquire(level)
            times.append(loop.time())
            await limiter.release(None)

        async def urgent_calls() -> None:
            for _ in range(5):
                await asyncio.sleep(2 * INTERVAL)
                await granted_as(c, Priority.URGENT)

        async with watched_loop(client) as lag:
            await asyncio.gather(
                *(granted_as(a, Priority.BULK) for _ in range(12)),
                *(granted_as(b, Priority.NORMAL) for _ in range(12)),
                urgent_calls(),
            )
    assert len(times) == 29
    assert spacing_ok(times, INTERVAL, lag)


async def test_waiting_callers_of_one_process_leave_by_priority(url: str, key: str) -> None:
    """Queued as bulk, normal, urgent (twice each), they leave urgent, normal, bulk; FIFO within."""
    async with RedisRateLimiter(url, key=key, rate_limit=RateLimit(10, 0.5)) as limiter:
        await limiter.acquire()
        order: list[str] = []

        async def one(level: Priority, name: str) -> None:
            await limiter.acquire(level)
            order.append(name)

        tasks = []
        for name in ("b1", "b2", "n1", "n2", "u1", "u2"):
            level = {"b": Priority.BULK, "n": Priority.NORMAL, "u": Priority.URGENT}[name[0]]
            tasks.append(asyncio.create_task(one(level, name)))
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)
    assert order == ["u1", "u2", "n1", "n2", "b1", "b2"]


async def test_an_urgent_caller_of_a_backfilling_process_takes_an_earlier_slot(
    url: str, key: str
) -> None:
    """A process whose own slot (booked for bulk) lies behind another's bulk booking gives
    its urgent caller that other, earlier slot."""
    slow = RateLimit(2, 1.0)  # one slot every 0.5 s
    async with limiters(url, key, 2, rate_limit=slow) as (a, b):
        await a.acquire(Priority.BULK)  # slot 0, now
        log: list[str] = []
        other = asyncio.create_task(backfill(b, 1, log, "b"))  # books slot 1
        await asyncio.sleep(0.05)
        own = asyncio.create_task(backfill(a, 1, log, "a"))  # books slot 2
        await asyncio.sleep(0.05)
        await a.acquire(Priority.URGENT)  # takes slot 1; b moves to slot 2, a's bulk to 3
        log.append("urgent")
        await asyncio.gather(other, own)
    assert log == ["urgent", "b", "a"]


async def test_a_normal_call_takes_the_earlier_slot_another_process_booked_for_bulk(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """A normal call takes the earlier slot another process holds for a bulk call, which
    books the next one: normal outranks bulk across processes, as urgent outranks both."""
    async with limiters(url, key, 2, rate_limit=RateLimit(1, 3.0)) as (backfilling, other):
        await backfilling.acquire(Priority.BULK)
        bulk = asyncio.create_task(backfilling.acquire(Priority.BULK))
        await eventually(lambda: pending_bookings(client, key), 1)
        await other.acquire(Priority.NORMAL, deadline=4.5)  # the slot after it is 6 s away
        await bulk


@pytest.mark.parametrize("level", list(Priority))
async def test_a_cancelled_waiter_in_any_lane_leaves_its_slot_to_the_next(
    url: str, key: str, client: aioredis.Redis, level: Priority
) -> None:
    """The slot booked for a cancelled caller goes to the next caller of its process."""
    async with RedisRateLimiter(url, key=key, rate_limit=RateLimit(2, 1.0)) as limiter:
        await limiter.acquire(level)
        first = asyncio.create_task(limiter.acquire(level))
        second = asyncio.create_task(limiter.acquire(level))
        await eventually(lambda: client.hget(key, "seq"), b"2")
        first.cancel()
        await second
        assert (limiter.waiting, limiter.in_flight) == (0, 2)
    assert first.cancelled()
    assert await client.hget(key, "seq") == b"2"


@pytest.mark.parametrize("level", list(Priority))
async def test_a_cancelled_waiter_in_any_lane_gives_its_slot_back_to_every_process(
    url: str, key: str, client: aioredis.Redis, level: Priority
) -> None:
    """With no other caller left, the booking is undone in Redis: another process books the
    very same slot (the same next-slot time, the same ticket)."""
    async with limiters(url, key, 2, rate_limit=RateLimit(2, 1.0)) as (a, b):
        await a.acquire(level)
        booked = await client.hget(key, "tat")
        waiter = asyncio.create_task(a.acquire(level))
        await eventually(lambda: client.hget(key, "seq"), b"2")
        pushed = await client.hget(key, "tat")
        waiter.cancel()
        await eventually(lambda: client.hget(key, "seq"), b"1")
        assert await client.hget(key, "tat") == booked
        assert (a.waiting, a.in_flight) == (0, 1)
        other = asyncio.create_task(b.acquire(level))
        await eventually(lambda: client.hget(key, "seq"), b"2")
        assert await client.hget(key, "tat") == pushed
        other.cancel()
    assert waiter.cancelled()


async def test_a_booking_moved_back_and_then_given_up_is_given_back(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """A bulk booking taken by another process's urgent call moves to the end; its holder,
    left without callers, undoes the moved booking."""
    async with limiters(url, key, 2, rate_limit=RateLimit(4, 1.0)) as (a, b):
        await a.acquire(Priority.BULK)
        waiter = asyncio.create_task(a.acquire(Priority.BULK))  # ticket 2, slot 1
        await eventually(lambda: client.hget(key, "seq"), b"2")
        urgent = asyncio.create_task(b.acquire(Priority.URGENT))  # takes slot 1; a's is 3
        await eventually(lambda: client.hget(key, "seq"), b"3")
        assert len(await fields_named(client, key, b"m:2:")) == 1  # where a's booking went
        waiter.cancel()
        await eventually(lambda: client.hget(key, "seq"), b"2")
        await urgent
    assert await fields_named(client, key, b"b:", b"m:") == []


async def test_a_booking_taken_twice_is_followed_to_the_ticket_it_holds_now(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """A bulk booking taken by a normal one, and taken again by an urgent one, confirms as
    the ticket it holds at the end of both moves, and the moves it followed go."""
    async with RedisRateLimiter(url, key=key, rate_limit=RateLimit(1, 10.0)) as limiter:
        for level, owner in ((2, "bulk"), (2, "bulk"), (1, "normal"), (0, "c"), (0, "d")):
            await limiter._call("reserve", "", "", level, owner, "")
        # bulk: ticket 2, moved to 3 by "normal", then to 5 by "d"; "normal" moved to 4 by "c"
        _, ticket, _, _ = await limiter._call("confirm", 2, 1_000_000, 2, "bulk", "")
        assert await fields_named(client, key, b"m:") == [b"m:2:normal"]
    assert ticket == 5


async def test_a_move_of_the_holders_own_booking_that_does_not_parse_keeps_its_ticket(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """A move entry no script wrote, under the holder's own ticket, goes, and the holder
    confirms its booking as it was."""
    async with RedisRateLimiter(url, key=key, rate_limit=RateLimit(1, 10.0)) as limiter:
        for _ in range(2):  # bulk bookings: ticket 1 now, ticket 2 ten seconds on
            await limiter._call("reserve", "", "", 2, "bulk", "")
        await client.hset(key, "m:2:bulk", "junk")
        wait, ticket, _, _ = await limiter._call("confirm", 2, 1_000_000, 2, "bulk", "")
        assert await fields_named(client, key, b"m:") == []
    assert ticket == 2
    assert wait > 5_000_000


async def test_callers_with_a_deadline_they_cannot_meet_are_refused_at_once(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """Behind 2 s of queued calls, a call that may wait 0.5 s fails at once, books nothing,
    and says how long it would have waited; an urgent one with the same deadline goes first."""
    async with RedisRateLimiter(url, key=key, rate_limit=RateLimit(10, 1.0)) as limiter:
        await limiter.acquire()
        queued = [asyncio.create_task(limiter.acquire()) for _ in range(20)]
        await eventually(lambda: client.hget(key, "seq"), b"2")
        with pytest.raises(DeadlineUnreachableError) as info:
            await limiter.acquire(Priority.NORMAL, deadline=0.5)
        assert await client.hget(key, "seq") == b"2"
        assert info.value.estimated_wait > 1.9
        assert info.value.deadline == 0.5
        assert await limiter.acquire(Priority.URGENT, deadline=0.5) >= 0.0
        for task in queued:
            task.cancel()
        await asyncio.gather(*queued, return_exceptions=True)


async def test_a_burst_shortens_the_wait_a_caller_with_a_deadline_is_told(
    url: str, key: str
) -> None:
    """Behind callers a burst lets leave at once, a caller that may wait 0.3 s is admitted."""
    async with RedisRateLimiter(url, key=key, rate_limit=RateLimit(10, 1.0, burst=4)) as limiter:
        queued = [asyncio.create_task(limiter.acquire()) for _ in range(3)]
        await asyncio.sleep(0)  # the three wait in their lane
        assert await limiter.acquire(Priority.NORMAL, deadline=0.3) >= 0.0
        await asyncio.gather(*queued)
        assert limiter.in_flight == 4


async def test_a_slot_booked_for_a_caller_of_the_lane_counts_in_a_newcomers_wait(
    url: str, key: str
) -> None:
    """A newcomer's turn comes after the slot booked for its lane: 2 s away, plus 2 s, > 3 s."""
    async with RedisRateLimiter(url, key=key, rate_limit=RateLimit(1, 2.0)) as limiter:
        await limiter.acquire()
        queued = asyncio.create_task(limiter.acquire())

        async def booked() -> bool:
            return limiter._held is not None

        await eventually(booked, True)
        with pytest.raises(DeadlineUnreachableError) as info:
            await limiter.acquire(Priority.NORMAL, deadline=3.0)
        assert info.value.estimated_wait > 3.0
        queued.cancel()
        await asyncio.gather(queued, return_exceptions=True)


async def test_callers_cancelled_in_the_same_instant_count_against_no_deadline(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """Twenty callers queued, then cancelled just before a caller with a 0.5 s deadline
    comes, before their tasks have run: they hold it up no more than they will once those
    have run, so it is admitted and booked, not refused as behind 2 s of calls."""
    async with RedisRateLimiter(url, key=key, rate_limit=RateLimit(10, 1.0)) as limiter:
        await limiter.acquire()
        queued = [asyncio.create_task(limiter.acquire()) for _ in range(20)]
        await eventually(lambda: client.hget(key, "seq"), b"2")
        for task in queued:
            task.cancel()
        # Awaited here, the call runs before the cancelled callers' tasks do.
        assert await limiter.acquire(Priority.NORMAL, deadline=0.5) >= 0.0
        await asyncio.gather(*queued, return_exceptions=True)
        assert limiter.in_flight == 2


async def test_a_cooldown_met_by_another_process_fails_a_waiter_before_it_sends(
    url: str, key: str
) -> None:
    """A 1 s cooldown closed by one process fails the other's waiter with 0.3 s left as soon
    as its booking shows the slot past the deadline, without waiting that long."""
    async with limiters(url, key, 2, rate_limit=FAST) as (a, b):
        await a.acquire()
        await a.release(BudgetHint(retry_after=1.0))
        with pytest.raises(DeadlineUnreachableError) as info:
            await asyncio.wait_for(b.acquire(deadline=0.3), timeout=0.3)
        assert info.value.estimated_wait > 0.8
        assert b.waiting == 0
        # Its answer told b of the cooldown: the next such call is refused without asking.
        with pytest.raises(DeadlineUnreachableError):
            await b.acquire(Priority.URGENT, deadline=0.3)


async def test_a_nan_deadline_or_unknown_priority_is_refused(url: str, key: str) -> None:
    """acquire() checks its arguments before anything is booked."""
    async with RedisRateLimiter(url, key=key) as limiter:
        with pytest.raises(ValueError, match="priority must be one of"):
            await limiter.acquire("asap")
        with pytest.raises(ValueError, match="deadline must be a number"):
            await limiter.acquire(deadline=float("nan"))


async def test_a_deadline_that_is_no_number_is_refused_by_name(url: str, key: str) -> None:
    """A deadline that is text or too wide for a float is refused by name, or unbounded."""
    async with RedisRateLimiter(url, key=key) as limiter:
        with pytest.raises(ValueError, match=r"^deadline must be a number of seconds or None"):
            await limiter.acquire(deadline="5")  # type: ignore[arg-type]
        assert await limiter.acquire(deadline=10**5000) >= 0.0
        assert limiter.in_flight == 1
        await limiter.release(None)


async def test_closing_fails_the_callers_still_waiting(url: str, key: str) -> None:
    """aclose() stops the bookings and fails each waiting caller with ClientClosedError."""
    limiter = RedisRateLimiter(url, key=key, rate_limit=RateLimit(1, 10.0))
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire(Priority.URGENT))
    await asyncio.sleep(0.05)
    await limiter.aclose()
    with pytest.raises(ClientClosedError):
        await waiter


#: A context variable a test's caller sets, which :class:`WatchedRedis` notes.
CALLER_VALUE: contextvars.ContextVar[str] = contextvars.ContextVar("caller_value", default="")


class WatchedRedis(aioredis.Redis):
    """A Redis client that shows the limiter's script calls, and can hold one mid-command.

    ``replies`` lists the operation of each script call answered (``"reserve"``,
    ``"confirm"``, ``"return"``, ``"release"``), and ``contexts`` each one's operation with
    the value :data:`CALLER_VALUE` had in the task that ran it. After :meth:`hold`, the next
    script call waits until :meth:`answer`, with ``held`` set meanwhile; a cancellation that
    reaches it then is absorbed, as redis-py at times absorbs one, and the command goes on.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.replies: list[str] = []
        self.contexts: list[tuple[str, str]] = []
        self.answered = asyncio.Event()
        self.answering = asyncio.Event()
        self.answering.set()
        self.held = asyncio.Event()
        #: Called once, as the next answer is about to be returned.
        self.on_answer: Callable[[], object] | None = None

    def hold(self) -> None:
        self.answering.clear()

    def answer(self) -> None:
        self.answering.set()

    async def until_answered(self, op: str, count: int = 1) -> None:
        """Wait until ``count`` calls of ``op`` have been answered (failing after a minute)."""
        async with asyncio.timeout(60):
            while self.replies.count(op) < count:
                self.answered.clear()
                await self.answered.wait()

    async def until_held(self) -> None:
        """Wait until a script call is held (failing after a minute)."""
        await asyncio.wait_for(self.held.wait(), timeout=60)

    async def evalsha(self, *args: Any) -> Any:
        if not self.answering.is_set():
            self.held.set()
            try:
                await self.answering.wait()
            except asyncio.CancelledError:
                await self.answering.wait()  # the cancellation is absorbed: the command goes on
        reply = await super().evalsha(*args)
        _, _, _, op, *_ = args  # sha, number of keys, the key, then the script's arguments
        self.replies.append(op)
        self.contexts.append((op, CALLER_VALUE.get()))
        self.answered.set()
        on_answer, self.on_answer = self.on_answer, None
        if on_answer is not None:
            on_answer()
        return reply


@pytest.fixture
async def watched(url: str) -> AsyncIterator[WatchedRedis]:
    """A :class:`WatchedRedis` on the shared server, closed afterwards."""
    redis = WatchedRedis(connection_pool=aioredis.ConnectionPool.from_url(url))
    yield redis
    await redis.aclose(close_connection_pool=True)


async def test_a_booking_its_caller_gave_up_goes_back_to_the_shared_schedule(
    key: str, url: str, watched: WatchedRedis
) -> None:
    """A caller cancelled while its slot is booked ahead hands that slot back to the key.

    Another process then books the slot the cancelled caller had, not the one after it.
    """
    minute = RateLimit(1, 60.0)
    async with (
        RedisRateLimiter(watched, key=key, rate_limit=minute) as limiter,
        RedisRateLimiter(url, key=key, rate_limit=minute) as other,
    ):
        wait = await wait_told_after_a_booking_given_back(
            limiter, watched, lambda: other.acquire(deadline=1.0)
        )
    assert wait <= 60.0  # kept, it would be two minutes away


async def test_a_slot_granted_as_its_caller_is_cancelled_passes_to_the_next_caller(
    key: str, watched: WatchedRedis
) -> None:
    """The slot reaches a caller in the instant it is cancelled: the next caller takes it.

    The window holds one slot a minute, so the next caller leaving at once took that one.
    """
    async with RedisRateLimiter(watched, key=key, rate_limit=RateLimit(1, 60.0)) as limiter:
        watched.hold()
        first = asyncio.create_task(limiter.acquire(Priority.URGENT))
        await watched.until_held()  # the driver is booking the first caller's slot
        second = asyncio.create_task(limiter.acquire(Priority.NORMAL))
        await asyncio.sleep(0)  # the second caller waits in its lane
        loop = asyncio.get_running_loop()
        # Cancelled once the slot is its, before it has run again to take it.
        watched.on_answer = lambda: loop.call_soon(first.cancel)
        watched.answer()
        await served_as_the_first_is_cancelled(second, first)  # its own slot: a minute away
        assert limiter.in_flight == 1


async def test_a_slot_granted_as_its_only_caller_is_cancelled_goes_back(
    key: str, watched: WatchedRedis
) -> None:
    """The slot reaches its one caller in the instant it is cancelled: no caller is left to
    take it, so it returns to the key, as one that comes after its callers left does."""
    async with RedisRateLimiter(watched, key=key, rate_limit=RateLimit(1, 60.0)) as limiter:
        watched.hold()
        first = asyncio.create_task(limiter.acquire())
        await watched.until_held()  # the driver is booking the caller's slot
        loop = asyncio.get_running_loop()
        # Cancelled once the slot is its, before it has run again to take it.
        watched.on_answer = lambda: loop.call_soon(first.cancel)
        watched.answer()
        with pytest.raises(asyncio.CancelledError):
            await first
        await watched.until_answered("return")
        await limiter.acquire(deadline=1.0)  # kept, the slot would be a minute away
        assert watched.replies == ["reserve", "return", "reserve"]
        assert limiter.in_flight == 1


async def test_a_slot_booked_for_callers_who_all_left_goes_back(
    key: str, watched: WatchedRedis
) -> None:
    """A slot that comes when no caller is left for it returns to the key at once."""
    async with RedisRateLimiter(watched, key=key, rate_limit=RateLimit(1, 60.0)) as limiter:
        watched.hold()
        waiter = asyncio.create_task(limiter.acquire())
        await watched.until_held()  # the driver is booking the slot
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        watched.answer()
        await watched.until_answered("return")
        await limiter.acquire(deadline=1.0)  # kept, the slot would be a minute away
        assert watched.replies == ["reserve", "return", "reserve"]


@pytest.mark.parametrize("taken", [0, 1], ids=["slot-free", "slot-an-hour-away"])
async def test_closing_ends_even_when_redis_absorbs_the_cancellation(
    key: str, watched: WatchedRedis, taken: int
) -> None:
    """A Redis command that swallows aclose()'s cancellation still ends the bookings.

    Its answer is not followed: the waiting caller fails with ClientClosedError rather than
    leave with a free slot, and aclose() does not wait for a slot an hour away.
    """
    limiter = RedisRateLimiter(watched, key=key, rate_limit=RateLimit(1, 3600.0))
    for _ in range(taken):
        await limiter.acquire()
    watched.hold()
    waiter = asyncio.create_task(limiter.acquire(Priority.URGENT))
    await watched.until_held()  # the driver is booking the waiter's slot
    closing = asyncio.create_task(limiter.aclose())
    await asyncio.sleep(0)  # aclose() has cancelled the driver, which absorbs it
    watched.answer()
    await asyncio.wait_for(closing, timeout=60)
    with pytest.raises(ClientClosedError):
        await waiter


def counted_closes(limiter: RedisRateLimiter, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """A list that gains an item each time the limiter's Redis client is closed."""
    closes: list[bool] = []
    original = limiter.redis.aclose

    async def spy(*args: Any, **kwargs: Any) -> None:
        closes.append(True)
        await original(*args, **kwargs)

    monkeypatch.setattr(limiter.redis, "aclose", spy)
    return closes


async def test_an_aclose_cancelled_as_the_driver_ends_still_fails_the_callers_and_closes(
    url: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aclose() cancelled while it waits for the driver still fails the waiting callers with
    ClientClosedError and closes the Redis client it owns, once, a later aclose() included."""
    limiter = RedisRateLimiter(url, key=key, rate_limit=RateLimit(1, 3600.0))
    closes = counted_closes(limiter, monkeypatch)
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)  # the waiter joins its lane and starts the driver
    assert limiter.waiting == 1
    closing = asyncio.create_task(limiter.aclose())
    await asyncio.sleep(0)  # aclose() has cancelled the driver and waits for it to end
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert limiter.waiting == 0
    with pytest.raises(ClientClosedError):
        await waiter
    await limiter.aclose()
    assert closes == [True]


async def test_a_cancellation_the_redis_client_absorbs_still_reaches_the_caller(
    key: str, watched: WatchedRedis
) -> None:
    """A caller cancelled while release() shares its hint ends cancelled, not finished."""
    async with RedisRateLimiter(watched, key=key, rate_limit=FAST) as limiter:

        async def call() -> None:
            await limiter.acquire()
            watched.hold()
            await limiter.release(BudgetHint(remaining=5, resets_after=1))

        releasing = asyncio.create_task(call())
        await watched.until_held()  # release() is sharing the hint
        releasing.cancel()
        await asyncio.sleep(0)
        watched.answer()
        with pytest.raises(asyncio.CancelledError):
            await releasing
        assert limiter.in_flight == 0


async def test_the_local_fallback_serves_by_priority_too() -> None:
    """While Redis is unreachable, callers still leave urgent first."""
    limiter = RedisRateLimiter(
        unreachable_url(), key="k", rate_limit=RateLimit(10, 0.5), recheck_after=60
    )
    async with limiter:
        await limiter.acquire()
        order: list[Priority] = []

        async def one(level: Priority) -> None:
            await limiter.acquire(level)
            order.append(level)

        tasks = []
        for level in (Priority.BULK, Priority.NORMAL, Priority.URGENT):
            tasks.append(asyncio.create_task(one(level)))
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)
    assert not limiter.shared
    assert order[0] is Priority.URGENT


# -- the shared cooldown -----------------------------------------------------------------------


async def test_a_cooldown_from_one_instance_holds_another(url: str, key: str) -> None:
    """release(retry_after=0.3) in one "process" holds the next acquire in another, until
    the cooldown ends and no longer: a deadline a little past it is met."""
    async with limiters(url, key, 2, rate_limit=FAST) as (a, b):
        await a.acquire()
        await a.release(BudgetHint(retry_after=0.3))
        waited = await b.acquire(deadline=0.3 + PROMPT)
    assert waited >= 0.3 - SLACK


async def test_a_shared_hold_sleeps_to_its_end_and_no_further(
    url: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cooldown of 0.3 s and a spent window resetting in 0.3 s, seen by one "process", hold
    another by pauses that end at the hold's end, not past it."""
    planned: list[float] = []
    pause = RedisRateLimiter._pause

    async def recorded(limiter: RedisRateLimiter, seconds: float) -> None:
        planned.append(seconds)
        await pause(limiter, seconds)

    monkeypatch.setattr(RedisRateLimiter, "_pause", recorded)
    for hint in (BudgetHint(retry_after=0.3), BudgetHint(remaining=0, resets_after=0.3)):
        async with limiters(url, key, 2, rate_limit=FAST) as (a, b):
            await a.acquire()
            await a.release(hint)
            planned.clear()
            await b.acquire()
        assert planned
        assert max(planned) <= 0.3 + SLACK


async def test_an_urgent_call_a_known_cooldown_makes_late_is_refused_without_asking(
    url: str, key: str, watched: WatchedRedis
) -> None:
    """Once a booking told of another process's cooldown, an urgent call it makes late is
    refused from that answer, without a call to Redis."""
    async with (
        RedisRateLimiter(url, key=key, rate_limit=FAST) as a,
        RedisRateLimiter(watched, key=key, rate_limit=FAST) as b,
    ):
        await a.acquire()
        await a.release(BudgetHint(retry_after=30.0))
        with pytest.raises(DeadlineUnreachableError):
            await b.acquire(deadline=0.5)
        calls = len(watched.replies)
        with pytest.raises(DeadlineUnreachableError):
            await b.acquire(Priority.URGENT, deadline=0.5)
        assert len(watched.replies) == calls


async def test_a_shorter_hint_never_shortens_the_cooldown(url: str, key: str) -> None:
    """A later 429 asking for less than the cooldown left leaves it as it is."""
    async with limiters(url, key, 2, rate_limit=FAST) as (a, b):
        await a.acquire()
        await b.acquire()
        await a.release(BudgetHint(retry_after=0.3))
        await b.release(BudgetHint(retry_after=0.05))
        waited = await a.acquire()
    assert waited >= 0.3 - SLACK


async def test_a_cooldown_voids_a_slot_booked_before_it(url: str, key: str) -> None:
    """A slot booked for 250 ms ahead is pushed past a 0.5 s cooldown closed meanwhile."""
    slow = RateLimit(4, 1.0)
    async with limiters(url, key, 2, rate_limit=slow) as (a, b):
        await a.acquire()
        sleeper = asyncio.create_task(timed(b.acquire()))
        await asyncio.sleep(0.05)
        await a.release(BudgetHint(retry_after=0.5))
        waited = await sleeper
    assert waited >= 0.55 - SLACK


async def test_after_a_cooldown_requests_leave_paced_not_as_a_herd(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """Twelve callers held by a cooldown leave one interval apart once it is over."""
    async with limiters(url, key, 3, rate_limit=PACED) as (a, b, c):
        await warm(a, b, c)
        await a.acquire()
        await a.release(BudgetHint(retry_after=0.2))
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with watched_loop(client) as lag:
            times = await asyncio.gather(*(granted(limiter) for limiter in (a, b, c) * 4))
    assert min(times) >= start + 0.2 - SLACK
    assert spacing_ok(times, INTERVAL, lag)


async def test_a_new_cooldown_is_logged_once(
    url: str, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The first 429 is logged at INFO; one that extends the cooldown only at DEBUG."""
    caplog.set_level(logging.DEBUG, logger="b2b_async")
    async with limiters(url, key, 2, rate_limit=FAST) as (a, b):
        await a.acquire()
        await b.acquire()
        await a.release(BudgetHint(retry_after=0.3))
        await b.release(BudgetHint(retry_after=0.4))
    levels = [r.levelno for r in caplog.records if "rate limited (429)" in r.getMessage()]
    assert levels == [logging.INFO, logging.DEBUG]


# -- the server's count ------------------------------------------------------------------------


async def test_a_spent_window_from_one_instance_holds_another(url: str, key: str) -> None:
    """remaining=0, resets_after=0.3 seen by one "process" holds the other until the reset
    and no longer: a deadline a little past it is met."""
    async with limiters(url, key, 2, rate_limit=FAST) as (a, b):
        await a.acquire()
        await a.release(BudgetHint(remaining=0, resets_after=0.3))
        waited = await b.acquire(deadline=0.3 + PROMPT)
    assert waited >= 0.3 - SLACK


async def test_requests_booked_after_the_hinted_one_are_subtracted(url: str, key: str) -> None:
    """remaining=3 with two requests booked since by another process leaves one more slot:
    granted within a deadline shorter than the reset, the next held to the reset."""
    fast = RateLimit(100, 1.0)
    async with limiters(url, key, 2, rate_limit=fast) as (a, b):
        await a.acquire()
        await b.acquire()
        await b.acquire()
        await a.release(BudgetHint(remaining=3, resets_after=0.4))
        one_more = await b.acquire(deadline=PROMPT)
        held = await b.acquire()
    assert one_more >= 0.0
    assert held >= 0.3 - SLACK


async def test_an_over_booked_window_voids_the_newest_slot(url: str, key: str) -> None:
    """A count showing the window spent moves a slot booked into it past the reset."""
    slow = RateLimit(10, 1.0)  # interval 0.1 s
    async with limiters(url, key, 2, rate_limit=slow) as (a, b):
        await a.acquire()
        sleeper = asyncio.create_task(timed(b.acquire()))
        await asyncio.sleep(0.02)
        await a.release(BudgetHint(remaining=0, resets_after=0.4))
        waited = await sleeper
    assert waited >= 0.4 - SLACK


async def test_a_slot_that_still_fits_the_window_is_kept(url: str, key: str) -> None:
    """A count with room for the slot booked since leaves that slot where it was: its
    deadline, shorter than the reset, is still met."""
    slow = RateLimit(10, 1.0)
    async with limiters(url, key, 2, rate_limit=slow) as (a, b):
        await a.acquire()
        sleeper = asyncio.create_task(b.acquire(deadline=0.1 + PROMPT))
        await asyncio.sleep(0.02)
        await a.release(BudgetHint(remaining=1, resets_after=0.4))
        waited = await sleeper
    assert waited >= 0.0


async def test_hints_of_one_window_keep_the_least_budget(url: str, key: str) -> None:
    """A later hint of the same window with more budget does not lift a hold."""
    async with limiters(url, key, 3, rate_limit=FAST) as (a, b, c):
        await a.acquire()
        await b.acquire()
        await c.acquire()
        await a.release(BudgetHint(remaining=0, resets_after=0.3))
        await b.release(BudgetHint(remaining=5, resets_after=0.29))
        await c.release(BudgetHint(remaining=5))  # no reset given: merged into the same window
        waited = await a.acquire()
    assert waited >= 0.25


async def test_a_hint_about_a_window_that_already_reset_is_ignored(url: str, key: str) -> None:
    """A late answer about an older window (resetting long before the known one) is ignored."""
    async with limiters(url, key, 3, rate_limit=FAST) as (a, b, c):
        await a.acquire()
        await c.acquire()
        await a.release(BudgetHint(remaining=0, resets_after=0.5))
        await c.release(BudgetHint(remaining=0, resets_after=0.05))  # would shorten the hold
        waited = await b.acquire()
    assert waited >= 0.45


async def test_a_count_released_from_another_task_is_not_shared(url: str, key: str) -> None:
    """Without the acquiring task's ticket, the count cannot be placed and is dropped: the
    other process is not held for the window it says is spent (held, it would be refused at
    once, its slot a second away, past its deadline)."""
    async with limiters(url, key, 2, rate_limit=FAST) as (a, b):
        await a.acquire()
        await asyncio.create_task(a.release(BudgetHint(remaining=0, resets_after=1.0)))
        assert await b.acquire(deadline=0.5) >= 0.0


async def one_left_after_the_first_of(limiter: RedisRateLimiter, bookings: int) -> str:
    """Book urgent tickets 1 to ``bookings``, then count one request left after ticket 1, in
    a window that resets in 30 s; return the limiter's owner id."""
    owner = limiter._owner
    for _ in range(bookings):
        await limiter._call("reserve", "", "", 0, owner, "")
    await limiter._call("release", 1, 1, 30_000_000, "", 500_000, 2_000)
    return owner


async def test_the_last_slot_a_spent_window_fits_is_kept_and_the_next_voided(
    url: str, key: str
) -> None:
    """With the server's budget ending at a ticket, that ticket's slot is granted and the
    next one's books again, at the reset."""
    slow = RateLimit(10, 1.0)
    async with RedisRateLimiter(url, key=key, rate_limit=slow) as limiter:
        # One left after ticket 1, with two booked since: ticket 2 fits, ticket 3 does not.
        owner = await one_left_after_the_first_of(limiter, bookings=3)
        kept = await limiter._call("confirm", 2, 0, 0, owner, "")
        voided = await limiter._call("confirm", 3, 0, 0, owner, "")
    assert kept[:2] == [0, 2]
    assert voided[0] > 20_000_000


async def test_a_slot_over_a_window_that_has_reset_is_granted(url: str, key: str) -> None:
    """A slot past the budget of a window confirmed once that window has reset is granted:
    the new window holds it."""
    slow = RateLimit(10, 1.0)
    async with RedisRateLimiter(url, key=key, rate_limit=slow) as limiter:
        owner = limiter._owner
        for _ in range(3):  # urgent bookings: tickets 1 to 3
            await limiter._call("reserve", "", "", 0, owner, "")
        await limiter._call("release", 1, 0, 50_000, "", 500_000, 2_000)  # resets in 50 ms
        await asyncio.sleep(0.1)
        wait, ticket, _, _ = await limiter._call("confirm", 3, 0, 0, owner, "")
    assert (wait, ticket) == (0, 3)


async def test_of_two_bookings_given_back_in_turn_the_earlier_stays_unused(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """Of two bookings given back in turn, the later is undone, and the earlier, the last
    booking by then, stays unused: nothing is left to undo it to."""
    async with RedisRateLimiter(url, key=key, rate_limit=RateLimit(10, 1.0)) as limiter:
        owner = limiter._owner
        for _ in range(3):  # urgent bookings: tickets 1 to 3
            await limiter._call("reserve", "", "", 0, owner, "")
        later = await limiter._call("return", 3, owner, "")
        earlier = await limiter._call("return", 2, owner, "")
    assert (later[0], earlier[0]) == (1, 0)
    assert await client.hget(key, "seq") == b"2"


async def test_a_booking_undone_gives_its_place_in_the_window_back(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """A booking given back and undone gives back the place it took in the server's window."""
    async with RedisRateLimiter(url, key=key, rate_limit=RateLimit(10, 1.0)) as limiter:
        owner = limiter._owner
        await limiter._call("reserve", "", "", 0, owner, "")
        await limiter._call("release", 1, 5, 30_000_000, "", 500_000, 2_000)  # 5 left
        await limiter._call("reserve", "", "", 0, owner, "")  # booked into it: 4 left
        undone, _ = await limiter._call("return", 2, owner, "")
    assert undone == 1
    assert await client.hget(key, "wbud") == b"5"


async def test_an_urgent_slot_confirmed_the_moment_it_comes_is_granted(url: str, key: str) -> None:
    """A slot confirmed at its very moment (no microsecond left) is granted, not booked again."""
    async with RedisRateLimiter(url, key=key, rate_limit=RateLimit(10, 1.0)) as limiter:
        owner = limiter._owner
        for _ in range(2):  # urgent bookings keep no entry: tickets 1 and 2
            await limiter._call("reserve", "", "", 0, owner, "")
        wait, ticket, _, _ = await limiter._call("confirm", 2, 0, 0, owner, "")
    assert (wait, ticket) == (0, 2)


async def test_a_429_released_from_another_task_shares_its_cooldown_and_not_its_count(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """A 429 released without the acquiring task's ticket closes the shared cooldown, and
    its count, which cannot be placed, leaves the key's window alone."""
    async with RedisRateLimiter(url, key=key, rate_limit=FAST) as limiter:
        await limiter.acquire()
        hint = BudgetHint(remaining=0, resets_after=30.0, retry_after=0.3)
        await asyncio.create_task(limiter.release(hint))
        cool, wend = await client.hmget(key, ["cool", "wend"])
    assert int(cool or 0) > 0
    assert int(wend or 0) == 0


async def test_a_count_repeating_the_known_budget_keeps_over_booked_slots_void(
    url: str, key: str
) -> None:
    """A count that repeats the budget already merged leaves a slot booked past it in the
    spent window void: it books again, at the reset."""
    slow = RateLimit(10, 1.0)
    half, margin = 500_000, 2_000
    async with RedisRateLimiter(url, key=key, rate_limit=slow) as limiter:
        owner = limiter._owner
        for _ in range(3):  # urgent bookings: tickets 1 to 3
            await limiter._call("reserve", "", "", 0, owner, "")
        # Spent after ticket 1: tickets 2 and 3 are over the server's budget.
        await limiter._call("release", 1, 0, 30_000_000, "", half, margin)
        _, moved, _, _ = await limiter._call("confirm", 2, 0, 0, owner, "")  # void: ticket 4
        await limiter._call("release", 3, 0, "", "", half, margin)  # the same budget again
        wait, _, _, _ = await limiter._call("confirm", 3, 0, 0, owner, "")
    assert moved == 4
    assert wait > 20_000_000


async def test_a_count_of_the_known_window_with_an_earlier_reset_shortens_and_lowers_it(
    url: str, key: str
) -> None:
    """A count of the known window (its reset within half a window of the known one) that
    names an earlier reset and less budget holds every process until that reset plus the
    margin."""
    half, margin = 30_000_000, 2_000
    async with RedisRateLimiter(url, key=key, rate_limit=RateLimit(10, 1.0)) as limiter:
        await limiter._call("reserve", "", "", 0, limiter._owner, "")  # ticket 1
        first = await limiter._call("release", 1, 5, 10_000_000, "", half, margin)
        second = await limiter._call("release", 1, 0, 6_000_000, "", half, margin)
    assert first == [0, 0, 0]
    assert second == [0, 0, 6_000_000 + margin]


async def test_a_count_of_the_known_window_with_a_later_reset_lifts_no_hold(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """A count of the known window that names a later reset (within half a window) and more
    budget moves neither the window's end nor its budget: the hold stays."""
    half, margin = 30_000_000, 2_000
    async with RedisRateLimiter(url, key=key, rate_limit=RateLimit(10, 1.0)) as limiter:
        await limiter._call("reserve", "", "", 0, limiter._owner, "")  # ticket 1
        spent = await limiter._call("release", 1, 0, 6_000_000, "", half, margin)
        known = await client.hmget(key, ["wend", "wbud"])
        later = await limiter._call("release", 1, 5, 10_000_000, "", half, margin)
        assert await client.hmget(key, ["wend", "wbud"]) == known
    assert spent == [0, 0, 6_000_000 + margin]
    assert later == [0, 0, 0]
    assert known[1] == b"0"


async def test_an_unlimited_count_of_requests_left_is_kept_as_budget(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """A server's "unlimited" 2**64 - 1 left is budget in the key, not a spent window.

    Stored as it came, Redis read the 20-digit count back as no number: 0 left, every
    process held until the window's reset.
    """
    headers = {"X-Rate-Limit-Requests-Left": str(2**64 - 1), "X-Rate-Limit-Time-Reset-Ms": "60000"}
    async with RedisRateLimiter(url, key=key, rate_limit=FAST) as limiter:
        await limiter.acquire()
        await limiter.release(parse_budget(200, headers, time.time()))
        assert 0 < int(await client.hget(key, "wbud") or 0) <= MAX_WINDOW_REQUESTS
        # Held to the reset a minute away, the call would be refused at once.
        await limiter.acquire(deadline=30.0)
        await limiter.release(None)


async def test_a_spent_window_is_logged_at_debug(
    url: str, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The hold a spent window starts is logged once, at DEBUG."""
    caplog.set_level(logging.DEBUG, logger="b2b_async")
    async with RedisRateLimiter(url, key=key, rate_limit=FAST) as limiter:
        await limiter.acquire()
        await limiter.release(BudgetHint(remaining=0, resets_after=0.2))
    assert any("server budget spent" in record.getMessage() for record in caplog.records)


# -- the key ----------------------------------------------------------------------------------


async def test_the_key_expires_after_its_last_deadline(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """The state is one hash that expires a minute after the cooldown it holds."""
    async with RedisRateLimiter(url, key=key, rate_limit=FAST) as limiter:
        await limiter.acquire()
        await limiter.release(BudgetHint(retry_after=2.0))
    fields = await client.hkeys(key)
    assert sorted(fields) == [b"cool", b"prev", b"seq", b"tat", b"wbud", b"wend", b"wlast"]
    ttl = await client.pttl(key)
    assert 60_000 < ttl <= (2.0 + FAST.per + 60.0) * 1000


async def test_the_key_outlives_a_cooldown_longer_than_its_keep(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """A cooldown longer than the minute the key is kept past its deadlines keeps the key until
    it ends, so that no process forgets it."""
    async with RedisRateLimiter(url, key=key, rate_limit=FAST) as limiter:
        await limiter.acquire()
        await limiter.release(BudgetHint(retry_after=600.0))
    assert await client.pttl(key) > 600_000


async def test_the_script_is_loaded_again_after_a_flush(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """EVALSHA falls back to loading the script when Redis no longer knows it."""
    async with RedisRateLimiter(url, key=key, rate_limit=FAST) as limiter:
        await limiter.acquire()
        await client.script_flush()
        await limiter.acquire()
    assert limiter.shared


#: One request per 5 s: the slots of a lost key's schedule lie far from "now".
SLOW = RateLimit(1, 5.0)


async def test_a_key_lost_while_in_use_resumes_where_its_schedule_was(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """Deleted (or flushed, or evicted) right after a request left, the key would grant the
    next one at once; the booking process's last view of the schedule resumes it instead,
    an interval after that request."""
    async with RedisRateLimiter(url, key=key, rate_limit=SLOW) as limiter:
        await limiter.acquire()
        await limiter.release(None)
        await client.delete(key)
        # Granted at once, the call would be admitted; its slot is 5 s away.
        with pytest.raises(DeadlineUnreachableError):
            await limiter.acquire(deadline=2.0)


async def test_a_key_lost_after_a_burst_resumes_with_the_burst_spent(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """Deleted right after a burst spent it, the key resumes where its schedule was: the next
    request waits for its interval instead of leaving in a new burst."""
    bursting = RateLimit(3, 15.0, burst=3)
    async with RedisRateLimiter(url, key=key, rate_limit=bursting) as limiter:
        for _ in range(3):
            await limiter.acquire(deadline=5.0)
            await limiter.release(None)
        await client.delete(key)
        with pytest.raises(DeadlineUnreachableError):
            await limiter.acquire(deadline=5.0)


async def test_a_key_lost_within_a_second_of_its_next_slot_resumes_its_pace(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """Deleted with its next slot less than a second away, the key resumes where its schedule
    was: the next request leaves no sooner than the pace lets it, instead of at once."""
    pace = RateLimit(1, 0.9)
    async with RedisRateLimiter(url, key=key, rate_limit=pace) as limiter:
        first = await granted(limiter)
        await client.delete(key)
        second = await granted(limiter)
    assert second - first > Pacing.of(pace).interval / 2


async def test_a_booking_of_a_lost_schedule_books_again_in_the_new_one(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """A slot booked before the key was lost does not leave beside the slots the new schedule
    gave meanwhile: nothing of it was sent, so it books again, after them."""
    async with limiters(url, key, 2, rate_limit=RateLimit(1, 1.0)) as (a, b):
        await a.acquire()
        booked = asyncio.create_task(a.acquire())  # the next slot, 1 s on
        await eventually(lambda: client.hget(key, "seq"), b"2")  # booked as ticket 2
        await client.delete(key)
        await b.acquire()  # a process with no view of the lost schedule: at once, ticket 1
        await booked
    # Its ticket 2 of the lost schedule, past the new count when its slot came, booked
    # again: ticket 2 of the new schedule, an interval after b's (left as it was, the new
    # count would still be 1).
    assert await client.hget(key, "seq") == b"2"


async def test_a_count_released_into_a_lost_key_leaves_it_to_resume(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """The answer of a request in flight when the key was lost merges its count into a new
    key; the schedule's own fields stay unwritten, so the next booking still resumes."""
    async with RedisRateLimiter(url, key=key, rate_limit=SLOW) as limiter:
        await limiter.acquire()
        await client.delete(key)
        await limiter.release(BudgetHint(remaining=3, resets_after=30.0))
        assert await client.hget(key, "tat") is None
        assert await client.hget(key, "wbud") == b"3"
        with pytest.raises(DeadlineUnreachableError):
            await limiter.acquire(deadline=2.0)


async def test_a_booking_of_a_lost_schedule_never_shares_a_slot_of_the_new_one(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """Lost early in its life, the key's new count soon reaches the old tickets: a ticket
    whose booking another process now holds is one of the lost schedule, and books again,
    rather than leave in that process's slot."""
    grants: list[tuple[str, float]] = []
    loop = asyncio.get_running_loop()

    async def take(limiter: RedisRateLimiter, name: str) -> None:
        await limiter.acquire()
        grants.append((name, loop.time()))

    async with limiters(url, key, 2, rate_limit=RateLimit(1, 1.0)) as (a, b):
        await take(a, "a1")
        a2 = asyncio.create_task(take(a, "a2"))  # ticket 2, its slot 1 s on
        await eventually(lambda: client.hget(key, "seq"), b"2")
        await client.delete(key)
        await take(b, "b1")  # no view of the lost schedule: at once, ticket 1 of the new one
        b2 = asyncio.create_task(take(b, "b2"))  # ticket 2 of the new one, 1 s after b1
        await asyncio.gather(a2, b2)
    # a2 booked again, as ticket 3, after b2 (in b2's slot, its count would still be 2).
    assert [name for name, _ in grants] == ["a1", "b1", "b2", "a2"]
    assert await client.hget(key, "seq") == b"3"


async def test_a_booking_asked_for_early_in_a_schedule_begun_anew_books_again(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """Lost with the key, a normal booking asked for early (an urgent caller came) finds no
    entry in the schedule another process has begun since, though the new count has reached
    its ticket (urgent bookings keep none): it books again after that schedule's slots,
    rather than leave at once beside them."""
    grants: list[str] = []

    async def take(limiter: RedisRateLimiter, name: str, priority: str) -> None:
        await limiter.acquire(priority)
        grants.append(name)

    async with limiters(url, key, 2, rate_limit=RateLimit(1, 1.0)) as (a, b):
        await take(a, "a1", "normal")
        a2 = asyncio.create_task(take(a, "a2", "normal"))  # ticket 2, its slot 1 s on
        await eventually(lambda: client.hget(key, "seq"), b"2")
        await client.delete(key)
        await take(b, "b1", "urgent")  # ticket 1 of the new schedule
        b2 = asyncio.create_task(take(b, "b2", "urgent"))  # ticket 2, no entry kept
        await eventually(lambda: client.hget(key, "seq"), b"2")
        await take(a, "a-urgent", "urgent")  # asks a2's slot early: booked again, ticket 3
        await asyncio.gather(a2, b2)
    assert grants[:4] == ["a1", "b1", "b2", "a-urgent"]
    assert await client.hget(key, "seq") == b"4"


async def test_a_booking_of_a_lost_schedule_handed_back_undoes_no_other_process_booking(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """A normal booking made before the key was lost, handed back once its caller left,
    names a ticket that another process's booking holds in the schedule begun anew: that
    booking stays, and the count is not rolled back under it."""
    async with limiters(url, key, 2, rate_limit=RateLimit(1, 1.0)) as (a, b):
        await a.acquire()
        left = asyncio.create_task(a.acquire())  # ticket 2 of the old schedule
        await eventually(lambda: client.hget(key, "seq"), b"2")
        await client.delete(key)
        await b.acquire()  # ticket 1 of the new schedule
        pending = asyncio.create_task(b.acquire())  # ticket 2 of the new schedule
        await eventually(lambda: client.hget(key, "seq"), b"2")
        left.cancel()  # a hands back its ticket 2
        with contextlib.suppress(asyncio.CancelledError):
            await left
        async with asyncio.timeout(60):
            while a._driver is not None and not a._driver.done():  # noqa: ASYNC110
                await asyncio.sleep(0.005)  # a's driver hands the booking back, then ends
        assert await client.hget(key, "seq") == b"2"
        entry = await client.hget(key, "b:2")
        assert isinstance(entry, bytes)
        assert entry.endswith(b._owner.encode())
        await pending


async def test_a_slot_of_a_lost_key_asked_for_early_is_not_given_at_once(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """An urgent caller asks for the slot a normal one holds before it comes; with the key
    lost, the slot's booking went with it, and the slot is booked again after the resumed
    schedule rather than given at once, beside the request before."""
    async with RedisRateLimiter(url, key=key, rate_limit=RateLimit(1, 1.0)) as limiter:
        await limiter.acquire()
        held = asyncio.create_task(limiter.acquire("normal"))  # its slot 1 s on
        await eventually(lambda: client.hget(key, "seq"), b"2")
        await client.delete(key)
        with pytest.raises(DeadlineUnreachableError):
            await limiter.acquire("urgent", deadline=0.5)
        await held


async def test_a_slot_returned_into_a_lost_key_keeps_the_process_view(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """A booking whose caller left is handed back into the lost key: the answer resumes the
    schedule, so the process's next booking does not leave at once."""
    async with RedisRateLimiter(url, key=key, rate_limit=RateLimit(1, 1.0)) as limiter:
        await limiter.acquire()
        left = asyncio.create_task(limiter.acquire())  # its slot 1 s on
        await asyncio.sleep(0.1)
        await client.delete(key)
        left.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await left
        await asyncio.sleep(0.1)  # the booking is handed back
        with pytest.raises(DeadlineUnreachableError):
            await limiter.acquire(deadline=0.5)


async def test_a_key_lost_again_and_again_stalls_no_caller(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """A slot of a lost schedule that comes with no key at all is still its caller's: a key
    deleted every few milliseconds costs the pace nothing, and nothing goes faster."""
    count = 10
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    async def delete_until_done() -> None:
        # Told to stop rather than cancelled: redis-py at times lets a cancelled command
        # finish and swallows the cancellation, which would leave this loop running.
        while not done.is_set():
            await client.delete(key)
            await asyncio.sleep(0.005)

    deleting = asyncio.create_task(delete_until_done())
    try:
        async with (
            asyncio.timeout(30),  # a stalled schedule would hold the caller for good
            RedisRateLimiter(url, key=key, rate_limit=FAST) as limiter,
        ):
            start = loop.time()
            times = [await acquired_at(limiter, loop) for _ in range(count)]
    finally:
        done.set()
        await deleting
    assert len(times) == count
    assert times[-1] - start >= (count - 1) * FAST.per / FAST.requests - SLACK


async def acquired_at(limiter: RedisRateLimiter, loop: asyncio.AbstractEventLoop) -> float:
    """The loop time ``limiter`` granted a slot at."""
    await limiter.acquire()
    return loop.time()


def test_a_limiter_used_in_a_process_forked_from_its_builder_books_under_an_owner_of_its_own(
    url: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A limiter built before the process forks (at a pre-forking server's start-up) books
    in the child under an owner of its own: after a lost key, neither process then takes
    the other's booking for its own. In the process that built it, it keeps its owner."""

    async def owner_after_a_grant(limiter: RedisRateLimiter) -> str:
        async with limiter:
            await granted(limiter)
            return limiter._owner

    at_home, inherited = RedisRateLimiter(url, key=key), RedisRateLimiter(url, key=key)
    home_owner, built_as = at_home._owner, inherited._owner
    assert asyncio.run(owner_after_a_grant(at_home)) == home_owner
    parent = os.getpid()
    with monkeypatch.context() as forked:
        forked.setattr(os, "getpid", lambda: parent + 1)  # as in a forked child, on a new loop
        assert asyncio.run(owner_after_a_grant(inherited)) not in (built_as, home_owner)


async def test_a_key_holding_something_else_counts_as_a_redis_failure(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """A key of the wrong type (WRONGTYPE) fails like an outage, with Redis's message."""
    await client.set(key, "not a hash")
    async with RedisRateLimiter(url, key=key, on_redis_error="fail") as limiter:
        with pytest.raises(RateLimiterUnavailableError, match="WRONGTYPE"):
            await limiter.acquire()


async def test_a_cancellation_requested_before_a_redis_call_reaches_its_task(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """A task cancelled just before the limiter calls Redis (a hook cancelled it as its
    answer came, say) ends cancelled: redis-py swallows a cancellation pending as a command
    begins, and the call would have gone on to its next attempt. The 429's cooldown it was
    sharing still reaches the key, for the other processes."""
    async with RedisRateLimiter(url, key=key, on_redis_error="fail") as limiter:
        await limiter.acquire()

        async def release_once_cancelled() -> str:
            asyncio.current_task().cancel()  # type: ignore[union-attr]
            await limiter.release(BudgetHint(retry_after=0.5))
            return "went on"

        task = asyncio.create_task(release_once_cancelled())
        with pytest.raises(asyncio.CancelledError):
            await task
    assert int(await client.hget(key, "cool") or 0) > 0


async def test_a_release_answered_with_numbers_past_a_double_never_raises(
    url: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """release() never raises, even when Redis answers with numbers no script gives (a
    400-digit integer once overflowed the float it was divided into)."""
    async with RedisRateLimiter(url, key=key) as limiter:
        await limiter.acquire()

        async def script(**_: object) -> object:
            return [10**400, 1, 0]

        monkeypatch.setattr(limiter, "_script", script)
        await limiter.release(BudgetHint(retry_after=1.0))


async def test_a_redis_client_failing_in_another_way_is_an_outage(
    url: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that is no Redis makes redis-py fail with what it is not written to raise
    (its parser's RecursionError on deep nesting, say): with on_redis_error="local", that
    is an outage, and the call is paced locally rather than failed."""
    async with RedisRateLimiter(url, key=key, on_redis_error="local") as limiter:

        async def script(**_: object) -> object:
            raise RecursionError("maximum recursion depth exceeded")

        monkeypatch.setattr(limiter, "_script", script)
        await asyncio.wait_for(limiter.acquire(), 30)
        assert not limiter.shared


async def test_a_fault_of_the_driver_fails_each_waiter_with_an_error_of_its_own(
    url: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever stops the task that books the slots, its waiting callers each get a
    RateLimiterUnavailableError of their own, caused by the fault, not the fault itself."""

    async def fail(self: RedisRateLimiter) -> None:
        raise ValueError("a fault")

    monkeypatch.setattr(RedisRateLimiter, "_step", fail)
    async with RedisRateLimiter(url, key=key, on_redis_error="fail") as limiter:
        results = await asyncio.gather(limiter.acquire(), limiter.acquire(), return_exceptions=True)
    first, second = results
    assert isinstance(first, RateLimiterUnavailableError)
    assert isinstance(second, RateLimiterUnavailableError)
    assert first is not second
    assert isinstance(first.__cause__, ValueError)


@pytest.mark.parametrize("begun", [True, False], ids=["begun", "not begun"])
async def test_a_driver_cancelled_from_outside_fails_its_waiters_instead_of_holding_them(
    url: str, key: str, begun: bool
) -> None:
    """The task that books the slots, cancelled by someone other than aclose (a sweep of
    the loop's tasks), whether or not it has begun, fails each waiting caller with a
    RateLimiterUnavailableError, which a client retries, instead of leaving them waiting
    until another caller comes."""

    def drivers() -> list[asyncio.Task[Any]]:
        return [task for task in asyncio.all_tasks() if task.get_name() == f"b2b-async {key}"]

    # Slots 30 s apart: the waiters are still waiting whenever the driver is cancelled.
    async with RedisRateLimiter(url, key=key, rate_limit=RateLimit(1, 30.0)) as limiter:
        await limiter.acquire()
        waiters = [asyncio.create_task(limiter.acquire()) for _ in range(2)]
        while limiter.waiting < 2:  # noqa: ASYNC110 - the limiter has no event for it
            await asyncio.sleep(0)
        for _ in range(3 if begun else 0):  # the driver starts to book, or has not yet
            await asyncio.sleep(0)
        [driver] = drivers()
        driver.cancel()
        async with asyncio.timeout(60):  # without the fix: TimeoutError, the callers held
            results = await asyncio.gather(*waiters, return_exceptions=True)
        assert all(isinstance(result, RateLimiterUnavailableError) for result in results)
        assert limiter.waiting == 0
        newcomer = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(0)
        assert [task for task in drivers() if not task.done()] != []  # a new driver books
        newcomer.cancel()
        await asyncio.gather(newcomer, return_exceptions=True)


@pytest.mark.parametrize(
    "reply",
    [[b"soon", 1, 0, 0], b"OK", [1, 2], b"PONG", [1, 2.5, 0, 0], [True, 1, 0, 0], [10**400] * 4],
    ids=["no number", "no list", "short", "bytes of four", "a float", "a flag", "past a double"],
)
async def test_an_answer_no_script_gave_fails_like_an_outage(
    url: str, key: str, monkeypatch: pytest.MonkeyPatch, reply: object
) -> None:
    """Redis (or something posing as it) answering the script with what it never returns
    fails each waiting caller with a RateLimiterUnavailableError of its own, never with a
    ValueError or a TypeError; nor are bytes read as numbers (iterated, b"PONG" gives four,
    which once passed for a booking and held the callers)."""
    async with (
        asyncio.timeout(30),  # a reply misread as a booking could hold the callers for good
        RedisRateLimiter(url, key=key, on_redis_error="fail") as limiter,
    ):

        async def script(**_: object) -> object:
            return reply

        monkeypatch.setattr(limiter, "_script", script)
        results = await asyncio.gather(limiter.acquire(), limiter.acquire(), return_exceptions=True)
    assert [type(result) for result in results] == [RateLimiterUnavailableError] * 2
    assert results[0] is not results[1]


def answering_a_moment(
    limiter: RedisRateLimiter, ops: Sequence[str], times: int
) -> Callable[[], int]:
    """Have ``limiter``'s Redis answer its first ``times`` bookings of ``ops`` (``"reserve"``,
    ``"confirm"``) with a wait of one microsecond and no grant, and the rest as the script
    does.

    Returns:
        How many such answers were given so far.
    """
    real = limiter._script
    given = 0

    async def script(*, keys: Sequence[str], args: Sequence[int | str]) -> object:
        nonlocal given
        op = args[0]
        if op not in ops or given >= times:
            return await real(keys=keys, args=args)
        given += 1
        ticket = args[4] if op == "confirm" else 1  # a confirm keeps its ticket
        return [1, ticket, 0, 0]

    limiter._script = script  # type: ignore[assignment]
    return lambda: given


async def outcome(limiter: RedisRateLimiter) -> str:
    """``"granted"`` when an acquire gets a slot (released at once), else the error's name."""
    try:
        await limiter.acquire()
    except RateLimiterUnavailableError:
        return "unavailable"
    await limiter.release(None)
    return "granted"


@pytest.mark.parametrize("ops", [("reserve", "confirm"), ("confirm",)], ids=["every", "confirm"])
@pytest.mark.parametrize("on_redis_error", ["fail", "local"])
async def test_a_redis_answering_wait_a_moment_for_ever_is_an_outage(
    url: str, key: str, ops: tuple[str, ...], on_redis_error: OnRedisError
) -> None:
    """A Redis (or something posing as it) answering every booking with a wait of a
    microsecond would have the driver call it in a tight loop for ever (55,000 calls a
    second once), its callers waiting: a short run of such answers is an outage instead,
    and the calls fail or are paced locally as on_redis_error says. (After 1,000 such
    answers the fake ends a spin with the script's own answers.)"""
    async with (
        asyncio.timeout(30),
        RedisRateLimiter(
            url, key=key, rate_limit=FAST, on_redis_error=on_redis_error, recheck_after=60
        ) as limiter,
    ):
        given = answering_a_moment(limiter, ops, 1000)
        # The first booking of a new key is granted at once, with no confirm.
        outcomes = [await outcome(limiter) for _ in range(2)]
        assert given() <= 16  # a few answers, not a thousand
        assert not limiter.shared
    expected = "unavailable" if on_redis_error == "fail" else "granted"
    assert outcomes[-1] == expected


async def two_calls_after_moments(url: str, key: str, moments: int) -> tuple[int, list[str], bool]:
    """Two calls of a limiter whose confirms are answered "a moment away" ``moments`` times
    in a row: how many such answers were given, the calls' outcomes, and whether the limiter
    still shares the budget.

    One request a second: the second call's booking waits for most of a second, which is no
    moment however late a busy machine makes that call.
    """
    second_apart = RateLimit(1, 1.0)
    async with RedisRateLimiter(
        url, key=key, rate_limit=second_apart, on_redis_error="fail"
    ) as limiter:
        given = answering_a_moment(limiter, ["confirm"], moments)
        outcomes = [await outcome(limiter) for _ in range(2)]
        return given(), outcomes, limiter.shared


async def test_a_few_moments_in_a_row_are_obeyed_as_the_clocks_may_disagree(
    url: str, key: str
) -> None:
    """A slot Redis's clock says has not quite come yet, a few times in a row (its clock and
    the loop's run apart a little), is waited for: no outage."""
    given, outcomes, shared = await two_calls_after_moments(url, key, 5)
    assert given == 5
    assert outcomes == ["granted", "granted"]
    assert shared


async def test_moments_up_to_one_short_of_an_outage_end_with_the_grant(url: str, key: str) -> None:
    """Seven moments in a row, one short of an outage, then the grant of that booking: the
    grant ends the run, and the call leaves."""
    given, outcomes, shared = await two_calls_after_moments(url, key, 7)
    assert given == 7
    assert outcomes == ["granted", "granted"]
    assert shared


async def test_moments_each_for_another_booking_are_no_outage(url: str, key: str) -> None:
    """Answers a moment away, each holding a booking of its own (taken over in turn by other
    processes), start a run each: ten in a row are obeyed, not an outage."""
    async with RedisRateLimiter(url, key=key, rate_limit=FAST, on_redis_error="fail") as limiter:
        real, given = limiter._script, 0

        async def script(*, keys: Sequence[str], args: Sequence[int | str]) -> object:
            nonlocal given
            if args[0] != "confirm" or given >= 10:
                return await real(keys=keys, args=args)
            given += 1
            return [1, 100 + given, 0, 0]  # a new ticket each time

        limiter._script = script  # type: ignore[assignment]
        outcomes = [await outcome(limiter) for _ in range(2)]
        assert given == 10
        assert outcomes == ["granted", "granted"]
        assert limiter.shared


async def test_bookings_given_back_unused_count_toward_no_outage(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """Callers that leave while their slot, a moment away, is still to come (a cooldown's
    end near) make the driver give each booking back: honest answers, each to a caller of
    its own, never a tight loop, so the eighth such caller is booked, not failed as an
    outage."""
    # A 60 s interval (burst 10): the few seconds to the cooldown's end are under a quarter.
    rate_limit = RateLimit(10, 60.0, burst=10)
    async with RedisRateLimiter(
        url, key=key, rate_limit=rate_limit, on_redis_error="fail"
    ) as limiter:
        await limiter.acquire()
        await limiter.release(BudgetHint(retry_after=5.0))
        for _ in range(8):
            caller = asyncio.create_task(limiter.acquire())
            await eventually(lambda: client.hget(key, "seq"), b"2")  # booked, 5 s away
            caller.cancel()
            results = await asyncio.gather(caller, return_exceptions=True)
            assert isinstance(results[0], asyncio.CancelledError), results
            await eventually(lambda: client.hget(key, "seq"), b"1")  # given back, undone
        assert limiter.shared


@pytest.mark.parametrize("value", ["nan", "-nan", "inf", "1e300", "9000000000000000", "x"])
async def test_a_field_no_script_wrote_starts_afresh_and_pacing_holds(
    url: str, key: str, client: aioredis.Redis, value: str
) -> None:
    """Fields another program set to NaN, an infinity, a number past 2**53 or a time two
    centuries ahead neither switch pacing off (NaN passes every comparison) nor fail or hold
    every call: they count as absent, and the next booking writes the key whole again."""
    fields = ("tat", "cool", "wend", "wbud", "wlast", "seq", "prev")
    await client.hset(key, mapping=dict.fromkeys(fields, value))
    async with RedisRateLimiter(url, key=key, rate_limit=MINUTELY, on_redis_error="fail") as lim:
        assert await asyncio.wait_for(lim.acquire(), 60) < MINUTELY.per / 2  # held for ever once
        await lim.release(None)
        with pytest.raises(DeadlineUnreachableError):
            await lim.acquire(deadline=MINUTELY.per / 2)  # the pace holds the next a minute
        assert lim.shared
    saved = await client.hmget(key, ["tat", "cool", "wend", "seq"])
    assert all(text is not None and text.isdigit() for text in saved)
    assert await client.pttl(key) > 0


@pytest.mark.parametrize("value", ["-1", "-2", "-5"])
async def test_a_ticket_count_below_zero_starts_afresh_and_counts_are_shared(
    url: str, key: str, client: aioredis.Redis, value: str
) -> None:
    """A ticket count another program left below zero counts as absent: tickets stay positive,
    so the spent window one process learns of holds every other."""
    await client.hset(key, "seq", value)
    async with limiters(url, key, 2, rate_limit=FAST, on_redis_error="fail") as (a, b):
        await a.acquire()
        await a.release(BudgetHint(remaining=0, resets_after=30.0))
        with pytest.raises(DeadlineUnreachableError):
            await b.acquire(deadline=5.0)
    assert int(await client.hget(key, "seq") or b"0") > 0


async def test_a_ticket_count_a_double_cannot_count_on_from_starts_afresh(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """A ticket count of 2**53, past which a double cannot count, starts afresh instead of
    failing every booking."""
    await client.hset(key, "seq", str(2**53))
    async with RedisRateLimiter(url, key=key, rate_limit=FAST, on_redis_error="fail") as lim:
        await lim.acquire()
        await lim.acquire()
        assert lim.shared


async def test_bookings_no_script_wrote_are_passed_over(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """Booking and move entries that do not parse fail no call: a booking is dropped, a move
    leaves the ticket as it was."""
    await client.hset(key, mapping={"b:6": "garbage", "m:1:someone": "junk", "m:2:x": "1 y"})
    async with RedisRateLimiter(url, key=key, rate_limit=FAST, on_redis_error="fail") as lim:
        for level in ("bulk", "urgent", "normal"):
            await lim.acquire(level)
            await lim.release(BudgetHint(remaining=3, resets_after=0.5))
        assert lim.shared
    assert await client.hget(key, "b:6") is None


async def test_an_unknown_operation_is_refused_by_the_script(url: str, key: str) -> None:
    """The script answers an operation it does not know with an error, not a guess."""
    async with RedisRateLimiter(url, key=key) as limiter:
        await limiter.acquire()
        with pytest.raises(RateLimiterUnavailableError, match="unknown operation"):
            await limiter._call("bogus")


# -- Redis unavailable ---------------------------------------------------------------------------


async def test_unreachable_redis_falls_back_to_a_local_share(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With "local", calls go on, paced in-process at rate_limit / expected_processes."""
    caplog.set_level(logging.INFO, logger="b2b_async")
    limiter = RedisRateLimiter(
        unreachable_url(), key="k", rate_limit=FAST, expected_processes=2, recheck_after=60
    )
    async with limiter:
        async with watched_loop() as lag:
            times = [await granted(limiter) for _ in range(4)]
        assert not limiter.shared
        assert limiter.local_limiter.rate_limit == RateLimit(10, 0.2)
        assert "local for" in repr(limiter)
    assert spacing_ok(times, INTERVAL, lag)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "pacing this process alone at 10/0.2s" in warnings[0].getMessage()


async def test_local_acquisitions_release_into_the_local_limiter() -> None:
    """A 429 met while pacing locally closes the local limiter's cooldown."""
    async with RedisRateLimiter(unreachable_url(), key="k", recheck_after=60) as limiter:
        await limiter.acquire()
        await limiter.release(BudgetHint(retry_after=0.5))
        assert limiter.local_limiter.cooldown_remaining > 0.4
        assert limiter.in_flight == 0


async def test_a_cooldown_met_while_pacing_locally_fails_a_waiter_it_makes_late() -> None:
    """While Redis is down, a 429 released into the local limiter fails at once each waiter
    whose deadline the cooldown now passes, as a cooldown learnt from Redis does: it waited
    out its deadline before, and a limiter used without a client granted it late."""
    limiter = RedisRateLimiter(
        unreachable_url(), key="k", rate_limit=RateLimit(10, 1.0), recheck_after=60
    )
    async with limiter:
        await limiter.acquire()
        waiter = asyncio.create_task(limiter.acquire(deadline=10.0))
        await asyncio.sleep(0)  # it waits for the next local slot, 0.1 s away
        await limiter.release(BudgetHint(retry_after=60.0))
        await asyncio.sleep(0)
        assert waiter.done()  # not 60 s from now
        with pytest.raises(DeadlineUnreachableError):
            await waiter
        assert limiter.waiting == 0


async def test_while_pacing_locally_a_deadline_is_weighed_at_the_local_share() -> None:
    """While Redis is down, a caller's wait is estimated at the local share's pace (a
    quarter of the budget for four processes), not the shared one: the callers whose local
    slot comes past their deadline are refused at once instead of granted late."""
    limiter = RedisRateLimiter(
        unreachable_url(), key="k", rate_limit=FAST, expected_processes=4, recheck_after=60
    )
    async with limiter:
        await granted(limiter)  # Redis failed: pacing locally, one slot per 0.04 s
        calls = [asyncio.create_task(limiter.acquire("bulk", deadline=0.2)) for _ in range(10)]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
    # Six callers ahead take 6 x 0.04 s > 0.2 s at the least; at the shared pace, 0.06 s.
    assert all(isinstance(outcome, DeadlineUnreachableError) for outcome in outcomes[6:])


async def test_while_pacing_locally_higher_priorities_fail_the_waiters_they_make_late() -> None:
    """While Redis is down, urgent callers queueing ahead of waiting bulk callers fail at once
    the bulk callers whose deadline they now pass, as a booking through Redis would: before,
    these were granted their local slot after their deadline."""
    limiter = RedisRateLimiter(unreachable_url(), key="k", rate_limit=FAST, recheck_after=60)
    async with limiter:
        await granted(limiter)  # Redis failed: pacing locally, one slot per 0.01 s
        bulk = [asyncio.create_task(limiter.acquire("bulk", deadline=0.1)) for _ in range(5)]
        urgent = [asyncio.create_task(limiter.acquire("urgent")) for _ in range(10)]
        outcomes = await asyncio.gather(*bulk, return_exceptions=True)
        await asyncio.gather(*urgent)
    # Behind ten urgent callers, a bulk caller with another ahead waits 0.11 s at the least.
    assert all(isinstance(outcome, DeadlineUnreachableError) for outcome in outcomes[1:])


async def test_while_pacing_locally_a_newcomer_ahead_fails_only_the_waiters_it_makes_late() -> None:
    """While Redis is down, an urgent caller queueing ahead of bulk callers fails at once just
    those its one slot now puts past their deadline, each counted behind every caller ahead."""
    limiter = RedisRateLimiter(unreachable_url(), key="k", rate_limit=RateLimit(1, 1.0))
    async with limiter:
        await granted(limiter)  # Redis failed: pacing locally, the next slot 1 s away
        # Behind 3 then 4 slots after the next one (1 s each): 4 s, then 5 s at the most.
        bulk = [asyncio.create_task(limiter.acquire("bulk", deadline=4.5)) for _ in range(4)]
        await asyncio.sleep(0)
        urgent = asyncio.create_task(limiter.acquire("urgent"))
        await asyncio.sleep(0)  # the urgent caller queues
        await asyncio.sleep(0)  # the task of a caller refused meanwhile ends
        assert [call.done() for call in bulk] == [False, False, False, True]
        with pytest.raises(DeadlineUnreachableError) as raised:
            await bulk[3]
        assert 0 <= raised.value.deadline <= 4.5 < raised.value.estimated_wait
        for call in [*bulk[:3], urgent]:
            call.cancel()
        await asyncio.gather(*bulk[:3], urgent, return_exceptions=True)


class AnsweredAtTheSlot(RateLimiter):
    """A local limiter that, as it grants a slot, lets a response come back in that same
    turn of the loop (before the driver hands the slot on)."""

    arrived: asyncio.Future[None] | None = None

    def _wake(self) -> None:
        if self.arrived is not None and not self.arrived.done():
            self.arrived.set_result(None)
        super()._wake()


async def test_a_response_in_the_turn_a_local_slot_comes_fails_no_waiter() -> None:
    """While Redis is down, a response (no cooldown, no count) released in the loop turn in
    which the local limiter grants the head its slot tells of nothing that makes anyone
    late: the head, whose slot has come, is granted, not refused as an interval away."""
    limiter = RedisRateLimiter(
        unreachable_url(), key="k", rate_limit=RateLimit(10, 1.0), recheck_after=60
    )
    local = AnsweredAtTheSlot(limiter.local_limiter.rate_limit)
    limiter._local = local
    async with limiter:
        local.arrived = asyncio.get_running_loop().create_future()

        acquired = asyncio.Event()

        async def request() -> None:  # acquires and releases from one task, as the transport
            await limiter.acquire()
            acquired.set()
            assert local.arrived is not None
            await local.arrived
            await limiter.release(None)

        sent = asyncio.create_task(request())
        await acquired.wait()
        # The next local slot is an interval (0.1 s) away: within the deadline.
        assert await limiter.acquire(deadline=0.15) >= 0.0
        await sent


async def test_pacing_locally_keeps_no_ticket_of_its_own() -> None:
    """Calls paced by the local fallback leave the local limiter holding no ticket: the one
    taken for a call in the limiter's own task goes with that task."""
    limiter = RedisRateLimiter(unreachable_url(), key="k", rate_limit=FAST, recheck_after=60)
    async with limiter:
        for _ in range(20):
            await granted(limiter)
    gc.collect()
    assert len(limiter.local_limiter._tickets) == 0


async def test_a_release_after_closing_leaves_redis_alone(key: str, client: aioredis.Redis) -> None:
    """A request in flight as its limiter closes releases without a word to Redis: an owned
    client is closed by then, and the shared schedule no longer hears from this process."""
    limiter = RedisRateLimiter(client, key=key, rate_limit=FAST)
    await limiter.acquire()
    await limiter.aclose()
    before = await client.dump(key)
    await limiter.release(BudgetHint(remaining=5, resets_after=10.0, retry_after=1.0))
    assert await client.dump(key) == before
    assert limiter.in_flight == 0


async def test_unreachable_redis_fails_calls_when_asked() -> None:
    """With "fail", acquire raises RateLimiterUnavailableError: a TransportError, never sent."""
    async with RedisRateLimiter(unreachable_url(), key="k", on_redis_error="fail") as limiter:
        with pytest.raises(RateLimiterUnavailableError) as info:
            await limiter.acquire()
        await limiter.release(BudgetHint(retry_after=1.0))  # never raises
        assert "failing for" in repr(limiter)
    error = info.value
    assert isinstance(error, TransportError)
    assert error.may_have_reached_server is False
    assert isinstance(error.__cause__, RedisError | OSError)
    assert "Redis is unavailable" in str(error)


async def test_a_redis_that_never_answers_times_out() -> None:
    """A wedged Redis costs one timeout, then the call is paced locally: the next call does
    not try Redis again before ``recheck_after``."""
    async with silent_redis() as (url, connections):
        limiter = RedisRateLimiter(url, key="k", rate_limit=FAST, timeout=0.2, recheck_after=60)
        async with limiter:
            assert await limiter.acquire() >= 0.0
            assert not limiter.shared
            assert await limiter.acquire() >= 0.0
            assert len(connections) == 1


async def test_callers_queued_behind_a_failure_fail_at_once() -> None:
    """With "fail", callers waiting behind the attempt that timed out do not each time out."""
    async with silent_redis() as (url, connections):
        limiter = RedisRateLimiter(url, key="k", timeout=0.2, on_redis_error="fail")
        async with limiter:
            results = await asyncio.gather(
                *(limiter.acquire() for _ in range(4)), return_exceptions=True
            )
            tried = len(connections)
    assert all(isinstance(result, RateLimiterUnavailableError) for result in results)
    assert tried == 1


async def test_a_release_survives_redis_going_away(
    own_redis: RedisServer, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis killed while a request is in flight: its release logs the outage, never raises."""
    async with RedisRateLimiter(own_redis.url, key=key, rate_limit=FAST) as limiter:
        await limiter.acquire()
        own_redis.kill()
        await limiter.release(BudgetHint(remaining=3, resets_after=0.5))
        assert not limiter.shared
        assert limiter.in_flight == 0
        await limiter.acquire()
        await limiter.release(BudgetHint(remaining=3, resets_after=0.5))
    assert any(r.levelno == logging.WARNING for r in caplog.records)


async def test_a_429_answered_once_redis_is_down_holds_the_local_fallback(
    own_redis: RedisServer, key: str
) -> None:
    """A request booked through Redis, answered with a 429 after Redis went down: the local
    fallback that paces now keeps the cooldown (and refuses at once a call it makes late),
    where the answer used to be dropped."""
    rate_limit = RateLimit(10, 1.0)
    async with RedisRateLimiter(
        own_redis.url, key=key, rate_limit=rate_limit, recheck_after=60
    ) as limiter:
        await limiter.acquire()
        own_redis.kill()
        await limiter.release(BudgetHint(retry_after=30.0))
        assert not limiter.shared
        assert limiter.local_limiter.cooldown_remaining > 20.0
        with pytest.raises(DeadlineUnreachableError):
            await limiter.acquire(deadline=10.0)


async def test_shared_pacing_resumes_when_redis_is_back(
    own_redis: RedisServer, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    """After an outage, the first call after recheck_after finds Redis again and shares."""
    caplog.set_level(logging.DEBUG, logger="b2b_async")
    limiter = RedisRateLimiter(own_redis.url, key=key, rate_limit=FAST, recheck_after=0.1)
    async with limiter:
        await granted(limiter)
        own_redis.kill()
        await granted(limiter)
        assert not shared(limiter)
        await asyncio.sleep(0.12)
        await granted(limiter)  # Redis still down: tried once more, still local
        assert not shared(limiter)
        own_redis.start()
        await asyncio.sleep(0.12)
        await granted(limiter)
        assert shared(limiter)
        assert repr(limiter).startswith(f"<RedisRateLimiter {key!r} 20/0.2s shared")
    messages = [record.getMessage() for record in caplog.records]
    assert sum("Redis is unavailable" in m for m in messages if "pacing" in m) == 1
    assert any("still unavailable" in message for message in messages)
    assert any("answers again after" in message for message in messages)


async def test_shared_pacing_resumes_after_the_slot_the_local_fallback_gave_last(
    own_redis: RedisServer, key: str
) -> None:
    """Redis back (restarted, empty), the next slot comes an interval after the local one."""
    rate_limit = RateLimit(1, 3.0)
    limiter = RedisRateLimiter(own_redis.url, key=key, rate_limit=rate_limit, recheck_after=0.05)
    async with limiter:
        own_redis.kill()
        local_slot = await granted(limiter)
        assert not shared(limiter)
        await asyncio.to_thread(own_redis.start)
        await asyncio.sleep(0.06)  # past recheck_after: the next booking asks Redis
        shared_slot = await granted(limiter)
        assert shared(limiter)
    assert shared_slot - local_slot > rate_limit.per - PROMPT  # one request per 3 s


async def test_shared_pacing_resumes_at_once_after_a_local_slot_long_past(
    own_redis: RedisServer, key: str, client_of: Callable[[str], aioredis.Redis]
) -> None:
    """Redis back after the local fallback's next slot has passed, the next slot comes at once."""
    limiter = RedisRateLimiter(own_redis.url, key=key, rate_limit=FAST, recheck_after=0.05)
    async with limiter:
        own_redis.kill()
        await granted(limiter)
        await asyncio.to_thread(own_redis.start)
        await asyncio.sleep(0.06)  # past recheck_after, and the local slot's interval
        booking = asyncio.create_task(limiter.acquire())
        redis = client_of(own_redis.url)
        await eventually(lambda: redis.hget(key, "seq"), b"1")
        tat = int(await redis.hget(key, "tat") or 0)
        seconds, micros = await redis.time()
        await booking
    assert (tat - (seconds * 1_000_000 + micros)) / 1e6 < 0.5


async def test_bookings_after_the_takeover_leave_an_idle_schedule_its_burst(
    own_redis: RedisServer, key: str, client_of: Callable[[str], aioredis.Redis]
) -> None:
    """Once Redis is back and one booking has taken the local fallback's schedule over, the
    later bookings take nothing over: a schedule gone idle since grants its burst again."""
    rate_limit = RateLimit(10, 1.0, burst=5)  # one slot per 1/6 s, a burst of 2/3 s
    limiter = RedisRateLimiter(own_redis.url, key=key, rate_limit=rate_limit, recheck_after=0.05)
    async with limiter:
        own_redis.kill()
        await granted(limiter)  # paced locally
        await asyncio.to_thread(own_redis.start)
        await asyncio.sleep(0.06)  # past recheck_after: the next booking asks Redis
        await granted(limiter)  # takes the local schedule over
        assert shared(limiter)
        await asyncio.sleep(1.0)  # the shared schedule goes idle, its burst full again
        await granted(limiter)
        redis = client_of(own_redis.url)
        tat = int(await redis.hget(key, "tat") or 0)
        seconds, micros = await redis.time()
    # One interval booked from an idle schedule; its burst spent would put it 5/6 s ahead.
    assert (tat - (seconds * 1_000_000 + micros)) / 1e6 < 0.5


async def test_a_cooldown_met_during_an_outage_is_shared_when_redis_is_back(
    own_redis: RedisServer, key: str, client_of: Callable[[str], aioredis.Redis]
) -> None:
    """A 429 answered to a locally paced request holds every process once Redis is back."""
    limiter = RedisRateLimiter(own_redis.url, key=key, rate_limit=FAST, recheck_after=0.05)
    async with limiter:
        await granted(limiter)
        own_redis.kill()
        await limiter.acquire()
        await limiter.release(BudgetHint(retry_after=3.0))
        await asyncio.to_thread(own_redis.start)
        await asyncio.sleep(0.06)
        booking = asyncio.create_task(limiter.acquire())  # books through Redis, then sleeps
        redis = client_of(own_redis.url)
        await eventually(lambda: redis.exists(key), 1)
        cool = int(await redis.hget(key, "cool") or 0)
        seconds, micros = await redis.time()
        booking.cancel()
    assert (cool - (seconds * 1_000_000 + micros)) / 1e6 > 1.5


@contextlib.asynccontextmanager
async def local_request_out_once_redis_is_back(
    own_redis: RedisServer, key: str
) -> AsyncIterator[tuple[RedisRateLimiter, Callable[[BudgetHint], Awaitable[None]]]]:
    """A limiter whose request, paced locally while Redis was down, is still out once Redis
    is back and has booked again; the function answers that request with a hint."""
    limiter = RedisRateLimiter(own_redis.url, key=key, rate_limit=FAST, recheck_after=0.05)
    answered, admitted = asyncio.Event(), asyncio.Event()
    hints: list[BudgetHint] = []

    async def local_request() -> None:
        await limiter.acquire()
        admitted.set()
        await answered.wait()
        await limiter.release(hints[0])

    async def answer(hint: BudgetHint) -> None:
        hints.append(hint)
        answered.set()
        await request

    async with limiter:
        await granted(limiter)
        own_redis.kill()
        request = asyncio.create_task(local_request())
        await admitted.wait()
        await asyncio.to_thread(own_redis.start)
        await asyncio.sleep(0.06)
        await granted(limiter)  # booked through Redis: the shared schedule paces again
        assert shared(limiter)
        yield limiter, answer


async def test_a_429_to_a_local_request_answered_once_redis_is_back_holds_every_process(
    own_redis: RedisServer, key: str, client_of: Callable[[str], aioredis.Redis]
) -> None:
    """A 429 answered, after Redis is back, to a request paced locally closes the shared
    cooldown at once, before this process books again."""
    async with local_request_out_once_redis_is_back(own_redis, key) as (_, answer):
        await answer(BudgetHint(retry_after=3.0))
        redis = client_of(own_redis.url)
        cool = int(await redis.hget(key, "cool") or 0)
        seconds, micros = await redis.time()
    assert (cool - (seconds * 1_000_000 + micros)) / 1e6 > 1.5


# -- construction and ownership ----------------------------------------------------------------


async def test_repr_shows_key_budget_mode_and_queue(url: str) -> None:
    """The repr tells the key, the budget, the mode and the queue at a glance."""
    limiter = RedisRateLimiter(url, key="b2b:store-1", rate_limit=FAST)
    assert repr(limiter) == (
        "<RedisRateLimiter 'b2b:store-1' 20/0.2s shared waiting=0 in_flight=0 on_redis_error=local>"
    )
    await limiter.aclose()
    assert repr(limiter).endswith(" closed>")


async def test_a_url_client_is_owned_and_closed(
    url: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a URL, the limiter creates the client and aclose() closes it, once."""
    limiter = RedisRateLimiter(url, key=key)
    closes = counted_closes(limiter, monkeypatch)
    await limiter.acquire()
    await limiter.aclose()
    await limiter.aclose()
    assert closes == [True]
    assert limiter.closed


async def test_a_borrowed_client_stays_open(key: str, client: aioredis.Redis) -> None:
    """Given a client, the limiter uses it and leaves it open."""
    async with RedisRateLimiter(client, key=key, rate_limit=FAST) as limiter:
        assert limiter.redis is client
        await limiter.acquire()
    assert await client.ping()
    assert await client.exists(key)


async def test_a_closed_limiter_refuses_to_acquire(url: str, key: str) -> None:
    """acquire() after aclose() raises ClientClosedError."""
    async with RedisRateLimiter(url, key=key) as limiter:
        pass
    with pytest.raises(ClientClosedError):
        await limiter.acquire()


async def test_it_is_a_limiter_the_client_takes_as_is(url: str, key: str) -> None:
    """It follows the Limiter protocol; B2BClient(rate_limit=...) uses it unchanged."""
    async with RedisRateLimiter(url, key=key) as limiter:
        assert isinstance(limiter, Limiter)
        assert build_limiter(limiter) is limiter
        async with B2BClient(DEFAULT_TOKEN, rate_limit=limiter) as b2b:
            assert b2b.limiter is limiter
        assert (limiter.key, limiter.rate_limit, limiter.on_redis_error) == (
            key,
            RateLimit(),
            "local",
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"key": ""}, "key must be a non-empty string"),
        ({"on_redis_error": "ignore"}, "on_redis_error must be 'local' or 'fail'"),
        ({"expected_processes": 0}, "expected_processes must be at least 1"),
        ({"expected_processes": 1.5}, "expected_processes must be an int"),
        ({"expected_processes": True}, "expected_processes must be an int"),
        ({"timeout": 0}, "timeout must be a positive number"),
        ({"recheck_after": float("inf")}, "recheck_after must be a positive number"),
    ],
)
def test_options_are_checked(options: dict[str, Any], message: str) -> None:
    """Options out of range raise ValueError naming the option."""
    settings: dict[str, Any] = {"key": "k", **options}
    with pytest.raises(ValueError, match=message):
        RedisRateLimiter("redis://127.0.0.1:1/0", **settings)


def test_something_else_than_a_url_or_client_is_refused() -> None:
    """A redis argument that is neither a URL nor a client raises TypeError."""
    with pytest.raises(TypeError, match=r"redis must be a URL or a redis\.asyncio\.Redis"):
        RedisRateLimiter(6379, key="k")  # type: ignore[arg-type]


def test_importing_without_redis_py_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without redis-py, importing b2b_async.redis says which extra to install."""
    for name in ("redis", "redis.asyncio", "redis.asyncio.retry", "redis.backoff"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "b2b_async.redis")
    with pytest.raises(ImportError, match=r"pip install 'b2b-async\[redis\]'"):
        importlib.import_module("b2b_async.redis")


# -- against the sandbox: processes, 429s, outages ----------------------------------------------


async def test_three_processes_share_one_budget(shared_redis: RedisServer, key: str) -> None:
    """Acceptance: 3 processes x 200 creates, one key, a 40/1 s window: nothing lost or
    registered twice, ≤ 1% 429s. The share of the rate they reach is the benchmark's figure
    (``python -m bench.multiprocess``): a loaded machine lowers it, not the limiter."""
    figures = await run(shared_redis.url, processes=3, orders=200, rate="40/1", key=key)
    summary = f"{figures.efficiency:.3f} of the rate, {figures.share_429:.2%} 429s"
    assert figures.lost == []
    assert figures.duplicated == []
    assert all(worker.ok == 200 and not worker.failed for worker in figures.workers)
    assert figures.share_429 <= 0.01, summary
    assert sum(worker.rate_limited for worker in figures.workers) == figures.rejected_429


async def test_urgent_calls_during_two_backfills_lose_and_duplicate_nothing(
    shared_redis: RedisServer, key: str
) -> None:
    """Three processes on one key, two backfilling with create_many and one sending urgent
    creates: every order is registered once, and the urgent calls are paced with the rest."""
    figures = await urgent_run(shared_redis.url, backfills=2, orders=80, every=0.2, key=key)
    summary = figures.as_dict()
    assert figures.urgent.sent >= 3, summary
    assert (summary["lost"], summary["duplicated"], summary["failed"]) == (0, 0, 0), summary
    assert summary["share_429"] <= 0.01, summary


def arrivals_of(arrivals: Sequence[Arrival], prefix: str) -> list[float]:
    """When the requests of the process whose order ids start with ``prefix`` arrived."""
    return [a.at for a in arrivals if a.order_id is not None and a.order_id.startswith(prefix)]


async def test_a_429_met_by_one_process_pauses_the_others(
    shared_redis: RedisServer, key: str
) -> None:
    """The 21st request meets a 429 (Retry-After: 1): for that second, no process sends."""
    faults = parse_faults("429=0.01")
    pattern: list[FaultKind | None] = [None] * 20 + [FaultKind.HTTP_429] + [None] * 40
    seed = seed_for(faults, pattern)
    async with sandbox_process("none", faults="429=0.01", seed=seed) as sandbox:
        workers = await asyncio.gather(
            *(
                run_worker(sandbox.url, shared_redis.url, key=key, orders=20, prefix=p, rate="20/1")
                for p in ("A-", "B-")
            )
        )
    assert sandbox.summary is not None
    arrivals = sandbox.summary.arrivals
    (rejected,) = [a for a in arrivals if a.status == 429]
    assert rejected.order_id is not None
    met_by = rejected.order_id[:2]
    other = "B-" if met_by == "A-" else "A-"
    # Slots confirmed before the cooldown reached Redis may still land just after the 429.
    paused = [at for at in (a.at for a in arrivals) if rejected.at + 0.1 < at < rejected.at + 0.98]
    assert paused == []
    assert any(at < rejected.at for at in arrivals_of(arrivals, other))
    assert any(at > rejected.at + 0.98 for at in arrivals_of(arrivals, other))
    assert all(worker.ok == 20 for worker in workers)
    assert all(count == 1 for count in sandbox.summary.registrations.values())
    assert len(sandbox.summary.registrations) == 40


async def run_while_redis_dies(
    redis: RedisServer, key: str, on_redis_error: str, orders: int = 100
) -> tuple[SandboxServer, list[CreatedOrder | BaseException], RedisRateLimiter]:
    """Gather ``orders`` creates through a shared limiter; kill Redis 0.5 s into the run."""
    window = RateWindow(50, 1.0)
    limiter = RedisRateLimiter(
        redis.url,
        key=key,
        rate_limit=RateLimit(window.requests, window.per),
        on_redis_error="fail" if on_redis_error == "fail" else "local",
        recheck_after=60,
    )

    async def kill_later() -> None:
        await asyncio.sleep(0.5)
        redis.kill()

    async with SandboxServer(rate=window) as server, limiter:
        async with B2BClient(
            DEFAULT_TOKEN,
            base_url=server.url,
            rate_limit=limiter,
            retry=QUICK if on_redis_error == "fail" else PATIENT,
        ) as b2b:
            killer = asyncio.create_task(kill_later())
            results = await asyncio.gather(
                *(create(b2b, f"K{i}") for i in range(orders)), return_exceptions=True
            )
            await killer
    return server, results, limiter


async def test_killing_redis_midway_with_local_registers_every_order_once(
    own_redis: RedisServer, key: str
) -> None:
    """on_redis_error="local": Redis killed mid-run, the run completes, each order once."""
    server, results, limiter = await run_while_redis_dies(own_redis, key, "local")
    assert all(isinstance(result, CreatedOrder) for result in results), results
    assert not limiter.shared
    assert len(server.orders) == 100
    assert all(server.registrations(f"K{i}") == 1 for i in range(100))


async def test_killing_redis_midway_with_fail_fails_calls_and_registers_nothing_twice(
    own_redis: RedisServer, key: str
) -> None:
    """on_redis_error="fail": later calls raise RateLimiterUnavailableError; none sent twice."""
    server, results, _ = await run_while_redis_dies(own_redis, key, "fail")
    failed = [i for i, result in enumerate(results) if not isinstance(result, CreatedOrder)]
    assert all(isinstance(results[i], RateLimiterUnavailableError) for i in failed), results
    assert 0 < len(failed) < 100
    assert all(server.registrations(f"K{i}") == 0 for i in failed)
    assert all(server.registrations(f"K{i}") == 1 for i in range(100) if i not in failed)
    assert all(record.status != 429 for record in server.requests)


# -- switching between Redis and the fallback ---------------------------------------------------

#: The budget of the transition tests: 40 in any second, one slot every 25 ms.
BUDGET = RateLimit(40, 1.0)
#: How much shorter than a second the measured windows are: the few milliseconds a request
#: takes from its slot to the server's records can bring two arrivals closer than their slots.
#: The loop's worst stall while watched is taken off as well.
ARRIVAL_JITTER = 0.05


def busiest(times: Sequence[float], span: float) -> int:
    """The most of ``times`` within ``span`` seconds of one another (a window opened by one)."""
    ordered = sorted(times)
    counts = (bisect.bisect_left(ordered, at + span) - i for i, at in enumerate(ordered))
    return max(counts, default=0)


async def arrivals_through(
    limiter: RedisRateLimiter,
    disturb: Callable[[], Coroutine[Any, Any, None]],
    orders: int = 120,
) -> tuple[list[float], LoopLag]:
    """Gather ``orders`` creates through ``limiter`` while ``disturb`` runs beside them.

    Returns:
        When the sandbox received each request, and how late the loop ran meanwhile.
    """
    # No window of the server's: its headers would correct the pace; the pace alone is measured.
    async with SandboxServer(rate=None) as server, limiter:
        async with B2BClient(
            DEFAULT_TOKEN, base_url=server.url, rate_limit=limiter, retry=PATIENT
        ) as b2b:
            async with watched_loop() as lag:
                disturbance = asyncio.create_task(disturb())
                results = await asyncio.gather(
                    *(create(b2b, f"T{i}") for i in range(orders)), return_exceptions=True
                )
                await disturbance
    assert all(isinstance(result, CreatedOrder) for result in results), results
    return [record.received_at for record in server.requests], lag


def went_local(caplog: pytest.LogCaptureFixture) -> bool:
    """Whether the limiter fell back to pacing alone (the WARNING that starts an outage)."""
    return any("pacing this process alone" in record.getMessage() for record in caplog.records)


def busiest_second(times: Sequence[float], lag: LoopLag) -> int:
    """The most arrivals in any window of a second, less the jitter and the loop's stalls."""
    return busiest(times, BUDGET.per - ARRIVAL_JITTER - lag.worst)


async def test_redis_restarted_midway_never_overspends_a_window(
    own_redis: RedisServer, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis killed, then back: calls queued locally and calls booked in Redis never add up
    past the budget in any second."""
    limiter = RedisRateLimiter(
        own_redis.url, key=key, rate_limit=BUDGET, timeout=0.2, recheck_after=0.2
    )

    async def outage() -> None:
        await asyncio.sleep(0.6)
        own_redis.kill()
        await asyncio.sleep(0.6)
        await asyncio.to_thread(own_redis.start)

    times, lag = await arrivals_through(limiter, outage)
    assert went_local(caplog)
    assert shared(limiter)
    assert busiest_second(times, lag) <= BUDGET.requests, f"loop lag {lag.worst:.3f} s"


async def test_a_slow_redis_never_overspends_a_window(
    own_redis: RedisServer,
    key: str,
    client_of: Callable[[str], aioredis.Redis],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis paused past the limiter's timeout, then answering again: no second over budget
    on the way to the fallback nor on the way back."""
    limiter = RedisRateLimiter(
        own_redis.url, key=key, rate_limit=BUDGET, timeout=0.2, recheck_after=0.3
    )
    pauser = client_of(own_redis.url)

    async def slow_spell() -> None:
        await asyncio.sleep(0.6)
        await pauser.client_pause(900)  # every command waits 0.9 s: far past the timeout

    times, lag = await arrivals_through(limiter, slow_spell)
    assert went_local(caplog)
    assert shared(limiter)
    assert busiest_second(times, lag) <= BUDGET.requests, f"loop lag {lag.worst:.3f} s"


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"timeout": 10**400}, ValueError, "timeout must be a positive number of seconds"),
        ({"recheck_after": True}, ValueError, "recheck_after must be a positive number"),
        ({"rate_limit": 150}, TypeError, "rate_limit must be a RateLimit, got int"),
    ],
)
def test_options_of_another_kind_are_refused_with_the_documented_error(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    """An int too large for a float, a bool for seconds and a bare number for the rate limit
    raise the documented errors, not an OverflowError or an AttributeError later."""
    with pytest.raises(error, match=message):
        RedisRateLimiter("redis://127.0.0.1:1/0", key="k", **options)


async def test_the_driver_runs_in_a_context_of_its_own(key: str, watched: WatchedRedis) -> None:
    """The task that books slots for every caller starts with a fresh context, not that of
    the caller that happened to start it (its current span, its context variables)."""
    async with RedisRateLimiter(watched, key=key, rate_limit=RateLimit(100, 1.0)) as limiter:
        CALLER_VALUE.set("the first caller's")
        await asyncio.wait_for(limiter.acquire(), 60)
        await limiter.release(None)
    booked = [value for op, value in watched.contexts if op != "release"]
    assert booked
    assert booked == [""] * len(booked)


async def test_bookings_past_the_budget_confirmed_newest_first_are_voided_down_to_the_one_that_fits(
    url: str, key: str
) -> None:
    """Bookings past a spent window's budget confirmed newest first are each voided, and
    the last one the budget fits, confirmed after them, is still granted."""
    async with RedisRateLimiter(url, key=key, rate_limit=RateLimit(10, 1.0)) as limiter:
        # One left after ticket 1, with three booked since: ticket 2 fits, 3 and 4 do not.
        owner = await one_left_after_the_first_of(limiter, bookings=4)
        newest = await limiter._call("confirm", 4, 0, 0, owner, "")
        next_newest = await limiter._call("confirm", 3, 0, 0, owner, "")
        kept = await limiter._call("confirm", 2, 0, 0, owner, "")
    assert newest[0] > 20_000_000
    assert next_newest[0] > 20_000_000
    assert kept[:2] == [0, 2]


async def test_a_slot_confirmed_late_by_the_allowance_leaves_the_schedule_where_it_was(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """A slot confirmed late by no more than the allowance (2 ms) leaves the slots after it
    where they were booked."""
    async with RedisRateLimiter(url, key=key, rate_limit=RateLimit(10, 1.0)) as limiter:
        owner = limiter._owner
        await limiter._call("reserve", "", "", 0, owner, "")  # an urgent booking: ticket 1
        booked = await client.hget(key, "tat")
        wait, ticket, _, _ = await limiter._call("confirm", 1, -2_000, 0, owner, "")
        assert await client.hget(key, "tat") == booked
    assert (wait, ticket) == (0, 1)


async def test_a_schedule_reaching_past_the_longest_wait_hint_is_kept(url: str, key: str) -> None:
    """A schedule that reaches past the longest wait hint obeyed by thousands of intervals is
    kept: the next booking follows it."""
    ahead = int(MAX_WAIT_HINT * 1_000_000) + 5_000 * 100_000  # 5000 intervals of 0.1 s
    async with RedisRateLimiter(url, key=key, rate_limit=RateLimit(10, 1.0)) as limiter:
        owner = limiter._owner
        first, _, _, _ = await limiter._call("reserve", ahead, "", 0, owner, "")
        second, _, _, _ = await limiter._call("reserve", "", "", 0, owner, "")
    assert first >= ahead
    assert second > ahead // 2


async def test_a_move_whose_old_slot_passed_seconds_ago_is_still_followed(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """A move whose old slot passed seconds ago (its holder woke late), well within the
    key's keep, outlasts the bookings that pass over it and is followed at the confirm."""
    async with limiters(url, key, 2, rate_limit=RateLimit(10, 1.0)) as (a, b):
        for _ in range(3):  # urgent bookings: tickets 1 to 3
            await a._call("reserve", "", "", 0, a._owner, "")
        seconds, micros = await client.time()
        came = seconds * 1_000_000 + micros - 10_000_000  # ten seconds ago
        await client.hset(key, f"m:2:{a._owner}", f"3 {came}")  # ticket 2 moved to ticket 3
        await b._call("reserve", "", "", 1, b._owner, "")  # a normal booking: ticket 4
        wait, ticket, _, _ = await a._call("confirm", 2, 0, 0, a._owner, "")
    assert (wait, ticket) == (0, 3)


async def test_a_count_merged_after_a_void_keeps_a_slot_its_budget_still_fits(
    url: str, key: str
) -> None:
    """A count of the known window merged after a slot over its budget was voided counts
    from the newest ticket: a slot its budget still has room for is granted."""
    half, margin = 500_000, 2_000
    async with RedisRateLimiter(url, key=key, rate_limit=RateLimit(10, 1.0)) as limiter:
        owner = limiter._owner
        for _ in range(4):  # urgent bookings: tickets 1 to 4
            await limiter._call("reserve", "", "", 0, owner, "")
        # Two left after ticket 1, with three booked since: tickets 2 and 3 fit, 4 does not.
        await limiter._call("release", 1, 2, 30_000_000, "", half, margin)
        _, moved, _, _ = await limiter._call("confirm", 4, 0, 0, owner, "")  # void: ticket 5
        await limiter._call("confirm", 2, 0, 0, owner, "")
        # One left after ticket 2, merged into the same window: ticket 3 still fits.
        await limiter._call("release", 2, 1, "", "", half, margin)
        kept = await limiter._call("confirm", 3, 0, 0, owner, "")
    assert moved == 5
    assert kept[:2] == [0, 3]


async def test_a_booking_takes_over_a_local_cooldown_as_shared_and_a_local_pace_as_pace(
    url: str, key: str
) -> None:
    """A booking handing over the local fallback's cooldown closes the shared cooldown until
    it ends; one handing over the fallback's next free moment only paces after it."""
    slow = RateLimit(10, 1.0)
    async with RedisRateLimiter(url, key=f"{key}:held", rate_limit=slow) as held:
        cooled = await held._call("reserve", "", 5_000_000, 0, held._owner, "")
    async with RedisRateLimiter(url, key=f"{key}:paced", rate_limit=slow) as paced:
        after = await paced._call("reserve", 5_000_000, "", 0, paced._owner, "")
    assert (cooled[0], cooled[3]) == (5_000_000, 5_000_000)
    assert (after[0], after[3]) == (5_000_000, 0)


async def test_a_booking_given_back_while_redis_fails_starts_an_outage(
    url: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis failing as a booking no caller is left for is given back is an outage: the
    process paces alone until Redis answers again."""
    minute = RateLimit(1, 60.0)
    async with RedisRateLimiter(url, key=key, rate_limit=minute, recheck_after=60) as limiter:
        await limiter.acquire()  # the window's one slot: the next is a minute away
        script, booked = limiter._script, asyncio.Event()

        async def failing_return(*, keys: list[str], args: tuple[int | str, ...]) -> object:
            if args[0] == "return":
                raise RedisError("Connection reset by peer")
            answer = await script(keys=keys, args=args)
            booked.set()
            return answer

        monkeypatch.setattr(limiter, "_script", failing_return)
        waiter = asyncio.create_task(limiter.acquire())
        await booked.wait()  # the next slot, booked for the waiter
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter

        async def pacing_alone() -> bool:
            return not limiter.shared

        await eventually(pacing_alone, True)


async def test_a_key_lost_once_the_moment_its_last_answer_named_has_passed_begins_afresh(
    url: str, key: str, client: aioredis.Redis
) -> None:
    """Deleted once the moment its last answer named for the next booking has passed, the key
    begins afresh: that answer tells nothing of the burst left, so none of it counts as
    spent, and the next two requests of a burst of three leave at once."""
    bursting = RateLimit(3, 60.0, burst=3)
    async with RedisRateLimiter(url, key=key, rate_limit=bursting) as limiter:
        await limiter.acquire(deadline=5.0)  # the next booking may leave at once
        await limiter.release(None)
        await client.delete(key)
        for _ in range(2):
            await limiter.acquire(deadline=5.0)
            await limiter.release(None)
        assert limiter.in_flight == 0


async def test_an_answer_holding_a_number_a_double_cannot_hold_exactly_fails_like_an_outage(
    url: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer holding 2**53, past the numbers a double holds exactly and so none the
    script gives, fails the caller like an outage rather than be followed."""
    async with RedisRateLimiter(url, key=key, on_redis_error="fail") as limiter:

        async def script(**_: object) -> object:
            return [0, 1, 2**53, 0]

        monkeypatch.setattr(limiter, "_script", script)
        with pytest.raises(RateLimiterUnavailableError, match="no answer of its script"):
            await limiter.acquire()


class CancelledAtTheSlot(RateLimiter):
    """A local limiter that, as it grants a slot, has ``victim`` cancelled in that same turn
    of the loop, once the driver has handed the slot to it and before it has run to take it."""

    victim: asyncio.Task[Any] | None = None

    def _wake(self) -> None:
        before = self.in_flight
        super()._wake()
        if self.victim is not None and self.in_flight > before:
            asyncio.get_running_loop().call_soon(self.victim.cancel)
            self.victim = None


async def test_a_local_slot_granted_as_its_caller_is_cancelled_passes_to_the_next_caller() -> None:
    """While Redis is down, a local slot that reaches a caller in the instant it is cancelled
    goes to the next caller, and stays counted in flight for it: the cancelled caller gives
    nothing back to the local limiter."""
    limiter = RedisRateLimiter(
        unreachable_url(), key="k", rate_limit=RateLimit(10, 1.0), recheck_after=60
    )
    local = CancelledAtTheSlot(limiter.local_limiter.rate_limit)
    limiter._local = local
    async with limiter:
        await granted(limiter)  # Redis failed: pacing locally, the next slot 0.1 s away
        first = asyncio.create_task(limiter.acquire(Priority.URGENT))
        second = asyncio.create_task(limiter.acquire(Priority.NORMAL))
        local.victim = first
        await served_as_the_first_is_cancelled(second, first)
        assert local.in_flight == 1


async def test_a_slot_granted_as_its_caller_is_cancelled_while_closing_is_not_handed_back(
    key: str, watched: WatchedRedis
) -> None:
    """The slot reaches its one caller in the instant it is cancelled and the limiter closes:
    a closed limiter starts nothing to hand the slot back, and leaves Redis alone."""
    limiter = RedisRateLimiter(watched, key=key, rate_limit=RateLimit(1, 60.0))
    watched.hold()
    first = asyncio.create_task(limiter.acquire())
    await watched.until_held()  # the driver is booking the caller's slot
    loop = asyncio.get_running_loop()
    closing: list[asyncio.Task[None]] = []

    def cancel_and_close() -> None:  # once the slot is the caller's, before it runs to take it
        loop.call_soon(first.cancel)
        closing.append(loop.create_task(limiter.aclose()))

    watched.on_answer = cancel_and_close
    watched.answer()
    with pytest.raises(asyncio.CancelledError):
        await first
    await closing[0]
    assert limiter._driver is None
    assert watched.replies == ["reserve"]


async def test_eight_moments_in_a_row_for_one_booking_are_an_outage(url: str, key: str) -> None:
    """Eight moments in a row for the same booking are an outage: the eighth answer fails the
    call (with "fail") rather than have it wait for the slot once more."""
    given, outcomes, shared = await two_calls_after_moments(url, key, 8)
    assert given == 8
    assert outcomes == ["granted", "unavailable"]
    assert not shared


async def test_a_booking_given_back_brings_the_next_slot_a_bulk_caller_is_told_back(
    key: str, watched: WatchedRedis
) -> None:
    """A booking given back brings the process's view of the next free slot back to it: a
    bulk caller refused for its deadline is told that slot's wait, not the one after it."""
    async with RedisRateLimiter(watched, key=key, rate_limit=RateLimit(1, 60.0)) as limiter:
        wait = await wait_told_after_a_booking_given_back(
            limiter, watched, lambda: limiter.acquire("bulk", deadline=1.0)
        )
    assert wait <= 60.0  # kept, it would be two minutes away


async def test_a_bulk_call_the_next_free_slot_makes_late_is_refused_without_asking(
    key: str, watched: WatchedRedis
) -> None:
    """A bulk caller takes the next free slot, which it may not take from another process:
    one that slot, as the last answer named it, puts past its deadline is refused at once,
    with no booking made for it."""
    async with RedisRateLimiter(watched, key=key, rate_limit=RateLimit(1, 60.0)) as limiter:
        await limiter.acquire()  # the window's one slot: the next free one is a minute away
        with pytest.raises(DeadlineUnreachableError):
            await limiter.acquire("bulk", deadline=1.0)
        assert watched.replies == ["reserve"]


async def test_a_deadline_of_zero_admits_a_caller_whose_slot_is_free_now(
    url: str, key: str
) -> None:
    """A caller that cannot wait at all is granted a slot free now: no wait is within a
    deadline of zero."""
    async with RedisRateLimiter(url, key=key, on_redis_error="fail") as limiter:
        assert await limiter.acquire(deadline=0.0) >= 0.0
        await limiter.release(None)


async def test_a_spent_window_answered_to_a_local_request_refuses_no_waiter_once_redis_is_back(
    own_redis: RedisServer, key: str
) -> None:
    """Once Redis answers again, a spent window answered to a request the local fallback
    paced holds that fallback alone: a waiter the shared schedule serves within its deadline
    is granted, not refused by the fallback's view."""
    async with local_request_out_once_redis_is_back(own_redis, key) as (limiter, answer):
        waiter = asyncio.create_task(limiter.acquire(deadline=5.0))  # queued before the answer
        await answer(BudgetHint(remaining=0, resets_after=30.0))
        ready = limiter.local_limiter.next_ready
        assert ready is not None
        assert ready - asyncio.get_running_loop().time() > 20.0  # the fallback holds alone
        assert await asyncio.wait_for(waiter, timeout=30) >= 0.0
        await limiter.release(None)


async def test_callers_queued_after_a_quiet_spell_count_in_full_in_a_newcomers_wait(
    url: str, key: str
) -> None:
    """A newcomer queueing behind callers that arrived after a quiet spell is told the wait
    their slots take from now, not shortened by a next free slot long past, and is refused
    at once when they pass its deadline."""
    async with RedisRateLimiter(url, key=key, rate_limit=RateLimit(10, 1.0)) as limiter:
        await granted(limiter)  # the next free slot, 0.1 s on, passes in the quiet spell
        await asyncio.sleep(0.5)
        ahead = [asyncio.create_task(granted(limiter)) for _ in range(3)]
        await asyncio.sleep(0)  # they queue; no booking has answered for them yet
        late = asyncio.create_task(limiter.acquire("bulk", deadline=0.25))
        await asyncio.sleep(0)
        assert late.done()  # three slots take 0.3 s: refused before anything is booked
        with pytest.raises(DeadlineUnreachableError) as refused:
            await late
        assert refused.value.estimated_wait > 0.25
        await asyncio.gather(*ahead)


async def test_a_redis_failing_hands_the_local_fallback_the_shared_schedule(
    own_redis: RedisServer, key: str
) -> None:
    """Redis failing after it granted the window's one slot, the local fallback continues
    the shared schedule, its next slot a minute away, rather than a fresh burst: a call that
    slot makes late is refused at once."""
    async with RedisRateLimiter(
        own_redis.url, key=key, rate_limit=MINUTELY, recheck_after=60
    ) as limiter:
        await limiter.acquire()  # the window's one slot: the next is a minute away
        own_redis.kill()
        await limiter.release(BudgetHint(remaining=50, resets_after=30.0))
        assert not limiter.shared
        with pytest.raises(DeadlineUnreachableError) as refused:
            await limiter.acquire(deadline=10.0)
    assert refused.value.estimated_wait > 30.0


def confirms_answered(limiter: RedisRateLimiter, waits: list[int]) -> None:
    """Have ``limiter``'s Redis answer its next confirms with ``waits`` (in microseconds, each
    holding the booking it confirms and granting nothing), and the rest as the script does."""
    real = limiter._script

    async def script(*, keys: Sequence[str], args: Sequence[int | str]) -> object:
        if args[0] != "confirm" or not waits:
            return await real(keys=keys, args=args)
        return [waits.pop(0), args[4], 0, 0]  # a confirm keeps its ticket

    limiter._script = script  # type: ignore[assignment]


#: One request a second, so that no booking but the ones a test answers is a moment.
ONE_A_SECOND = RateLimit(1, 1.0)


async def two_calls_with_confirms_answered(
    url: str, key: str, waits: list[int]
) -> tuple[list[str], bool]:
    """The outcomes of two calls (see :func:`outcome`) through a limiter of one request a
    second whose Redis answers its next confirms with ``waits``, and whether it still
    shares its budget after them."""
    async with RedisRateLimiter(
        url, key=key, rate_limit=ONE_A_SECOND, on_redis_error="fail"
    ) as limiter:
        confirms_answered(limiter, waits)
        outcomes = [await outcome(limiter) for _ in range(2)]
        return outcomes, limiter.shared


async def test_moments_for_one_booking_a_longer_hold_parts_begin_a_run_anew(
    url: str, key: str
) -> None:
    """Moments for one booking that a longer hold parts begin their run anew: four, a hold
    of 0.3 s, then four more are obeyed as two runs of four, not an outage of eight."""
    waits = [1] * 4 + [300_000] + [1] * 4
    assert await two_calls_with_confirms_answered(url, key, waits) == (["granted"] * 2, True)
    assert not waits


async def test_waits_of_a_quarter_interval_for_one_booking_are_no_moments(
    url: str, key: str
) -> None:
    """A wait of a quarter of the interval is no moment, only a shorter one: eight in a row
    for one booking are obeyed, not an outage."""
    waits = [_micros(Pacing.of(ONE_A_SECOND).interval * _SHORT_SHARE)] * 8
    assert await two_calls_with_confirms_answered(url, key, waits) == (["granted"] * 2, True)
    assert not waits
