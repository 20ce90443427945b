"""Pacing over a real socket, against the sandbox's fixed window: budget, cooldown, cap, stats."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from b2b_async import (
    B2BClient,
    CreatedOrder,
    RateLimit,
    RateLimited,
    RateLimiter,
    RateLimitError,
    RetryPolicy,
    set_hooks,
)
from b2b_async.sandbox import (
    DEFAULT_TOKEN,
    FaultKind,
    Faults,
    RateWindow,
    RequestRecord,
    SandboxServer,
)
from tests.sandbox_helpers import seed_for

#: Retries that never stretch a test: quick backoff, and a hint of a second is obeyed.
QUICK = RetryPolicy(initial_wait=0.01, max_wait=0.02, max_retry_after=2.0)
#: Loopback latency and timer lateness allowed when comparing arrival times at the server.
SLACK = 0.005
#: One spurious 429 (``Retry-After: 1``) on the first request, then clean answers.
SPURIOUS_429 = Faults(http_429=0.1)


def client_for(server: SandboxServer, **options: object) -> B2BClient:
    settings: dict[str, object] = {"retry": QUICK, "timeout": 5.0}
    settings.update(options)
    token = str(settings.pop("token", DEFAULT_TOKEN))
    return B2BClient(token, base_url=server.url, **settings)  # type: ignore[arg-type]


async def create(client: B2BClient, order_id: str) -> CreatedOrder:
    return await client.orders.create(
        company_id=1, customer_id=1, order_id=order_id, total_inc_tax="10.50"
    )


async def gather_creates(client: B2BClient, count: int, prefix: str = "BC") -> float:
    """Gather ``count`` creates on one client; return the seconds they took."""
    started = time.monotonic()
    results = await asyncio.gather(*(create(client, f"{prefix}{i}") for i in range(count)))
    assert [result.order_id for result in results] == [f"{prefix}{i}" for i in range(count)]
    return time.monotonic() - started


def first_429_then_clean(requests: int) -> SandboxServer:
    """A sandbox without a window whose first request meets a 429 and the next ``requests`` not."""
    pattern: list[FaultKind | None] = [FaultKind.HTTP_429, *[None] * requests]
    seed = seed_for(SPURIOUS_429, pattern)
    return SandboxServer(rate=None, faults=SPURIOUS_429, seed=seed)


def server_windows(records: Sequence[RequestRecord], per: float) -> list[list[RequestRecord]]:
    """Group requests as the sandbox's fixed window does: it opens at the first arrival after
    the previous one closed, and lasts ``per`` seconds."""
    windows: list[list[RequestRecord]] = []
    closes = -math.inf
    for record in records:
        if record.received_at >= closes:
            windows.append([])
            closes = record.received_at + per
        windows[-1].append(record)
    return windows


def accepted(records: Sequence[RequestRecord]) -> int:
    return sum(1 for record in records if record.status != 429)


def registered_once(server: SandboxServer, count: int, prefix: str = "BC") -> bool:
    ids = [f"{prefix}{i}" for i in range(count)]
    return len(server.orders) == count and all(server.registrations(i) == 1 for i in ids)


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Poll ``condition`` every few milliseconds; fail after ``within`` seconds."""
    async with asyncio.timeout(within):
        # The client exposes counters, not events: a short poll under a hard timeout.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.002)


# --- 1. the budget, spent in full -------------------------------------------------------------


async def test_paced_gather_fills_every_window_without_a_429() -> None:
    """200 gathered creates: no 429, each order once, ≤ 20 per window, ≥ 0.9 of the rate."""
    window = RateWindow(20, 0.5)
    async with SandboxServer(rate=window) as server:
        limit = RateLimit(requests=window.requests, per=window.per)
        async with client_for(server, rate_limit=limit) as client:
            elapsed = await gather_creates(client, 200)
    records = server.requests
    assert [record.status for record in records] == [200] * 200
    assert registered_once(server, 200)
    counts = [accepted(group) for group in server_windows(records, window.per)]
    assert max(counts) <= window.requests
    assert 200 / elapsed >= 0.9 * window.requests / window.per


# --- 2. another integration's spending, read from the headers --------------------------------


async def test_competing_spending_is_absorbed_from_the_remaining_header() -> None:
    """Another integration spends 8 of each 20: the client holds back instead of meeting 429s."""
    window, competing, orders = RateWindow(20, 0.5), 8, 96
    async with SandboxServer(rate=window, competing=competing) as server:
        limit = RateLimit(requests=window.requests, per=window.per)
        async with client_for(server, rate_limit=limit) as client:
            elapsed = await gather_creates(client, orders)
    records = server.requests
    rejected = len(records) - accepted(records)
    assert rejected / len(records) <= 0.02
    assert client.stats.rate_limited == rejected
    assert registered_once(server, orders)
    counts = [accepted(group) for group in server_windows(records, window.per)]
    assert max(counts) <= window.requests - competing
    allowed = (window.requests - competing) / window.per
    assert orders / elapsed >= 0.8 * allowed


# --- 3. one cooldown after a 429, then paced -------------------------------------------------


async def test_retry_after_holds_every_request_then_paces() -> None:
    """After a 429 with Retry-After: 1, nothing arrives for a second, then one per interval:
    the k-th request after the cooldown cannot arrive before the k-th slot of the pace (a
    busy machine may delay one request, and the next then arrives closer behind it, but
    none arrives early)."""
    limit = RateLimit(requests=20, per=1.0)
    interval = limit.per / limit.requests
    async with first_429_then_clean(10) as server, client_for(server, rate_limit=limit) as c:
        await gather_creates(c, 10)
    first, *rest = server.requests
    assert first.status == 429
    assert [record.status for record in rest] == [200] * 10
    assert registered_once(server, 10)
    assert rest[0].received_at >= first.received_at + 1.0 - SLACK
    assert rest[0].received_at < first.received_at + 1.5
    reopened = first.received_at + 1.0
    assert all(
        record.received_at >= reopened + index * interval - SLACK
        for index, record in enumerate(rest)
    )


# --- 4. a hint beyond max_retry_after ----------------------------------------------------------


async def test_retry_after_beyond_the_cap_fails_fast() -> None:
    """A 60 s Retry-After against max_retry_after=5 raises RateLimitError at once, hint set."""
    retry = RetryPolicy(max_retry_after=5.0)
    async with SandboxServer(rate=RateWindow(1, 60.0)) as server:
        async with client_for(server, retry=retry, rate_limit=None) as client:
            await create(client, "BC1")
            started = time.monotonic()
            with pytest.raises(RateLimitError) as info:
                await create(client, "BC2")
            waited = time.monotonic() - started
    assert waited < retry.max_retry_after  # not even the longest hint it would obey
    assert info.value.retry_after is not None
    assert info.value.retry_after > retry.max_retry_after
    assert [record.status for record in server.requests] == [200, 429]
    assert (client.stats.rate_limited, client.stats.retries) == (1, 0)


async def test_retry_after_beyond_the_cap_closes_the_cooldown_for_the_cap_only() -> None:
    """The shared cooldown of a 429 whose hint exceeds max_retry_after lasts the cap, no more."""
    retry = RetryPolicy(max_retry_after=5.0)
    async with SandboxServer(rate=RateWindow(1, 60.0), competing=1) as server:
        async with client_for(server, retry=retry, rate_limit=RateLimit(100, 1.0)) as client:
            with pytest.raises(RateLimitError) as info:
                await create(client, "BC1")
            limiter = client.limiter
            assert isinstance(limiter, RateLimiter)
            assert 4.0 < limiter.cooldown_remaining <= retry.max_retry_after
    assert info.value.retry_after is not None
    assert info.value.retry_after > retry.max_retry_after


async def test_next_call_after_a_hint_beyond_the_cap_is_not_stalled_past_the_cap() -> None:
    """After a 429 whose hint exceeds max_retry_after, the next call also ends within the cap."""
    retry = RetryPolicy(max_retry_after=0.2)
    async with SandboxServer(rate=RateWindow(1, 60.0), competing=1) as server:
        async with client_for(server, retry=retry, rate_limit=RateLimit(100, 1.0)) as client:
            with pytest.raises(RateLimitError):
                await create(client, "BC1")
            with pytest.raises(RateLimitError):
                async with asyncio.timeout(1.5):
                    await create(client, "BC2")


# --- 5. the concurrency cap --------------------------------------------------------------------


async def test_concurrency_cap_bounds_requests_in_flight() -> None:
    """max_concurrency=5: 100 gathered calls never put more than 5 in flight; pool sized to 5."""
    faults = Faults(latency=1.0, latency_seconds=0.02)
    async with SandboxServer(rate=None, faults=faults, max_in_flight=5) as server:
        async with client_for(server, rate_limit=None, max_concurrency=5) as client:
            connector = client._transport.open().connector
            assert isinstance(connector, aiohttp.TCPConnector)
            assert connector.limit == 5
            peak = 0
            calls = asyncio.ensure_future(gather_creates(client, 100))
            while not calls.done():
                peak = max(peak, client.stats.in_flight)
                await asyncio.sleep(0.001)
            await calls
    assert peak == 5
    assert {record.status for record in server.requests} == {200}
    assert registered_once(server, 100)


# --- 6. what the client reports ------------------------------------------------------------


async def test_stats_and_log_events_record_retries_and_the_cooldown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """stats count requests, retries, 429s and budget wait; retries and the cooldown are logged."""
    caplog.set_level(logging.INFO, logger="b2b_async")
    secret = "tok-5f0c2a9e-never-logged"
    faults = Faults(http_429=0.2, http_503=0.2)
    kinds = [FaultKind.HTTP_429, None, FaultKind.HTTP_503, None]
    seed = seed_for(faults, kinds)
    async with SandboxServer(rate=None, faults=faults, seed=seed, token=secret) as server:
        limit = RateLimit(requests=20, per=1.0)
        async with client_for(server, token=secret, rate_limit=limit) as client:
            await create(client, "BC1")
            await create(client, "BC2")
    assert [record.fault for record in server.requests] == kinds
    stats = client.stats
    assert (stats.requests, stats.retries, stats.rate_limited, stats.in_flight) == (4, 2, 1, 0)
    assert stats.budget_wait > 0
    messages = [record.getMessage() for record in caplog.records if record.name == "b2b_async"]
    retries = [message for message in messages if message.startswith("retrying POST ")]
    assert ["RateLimitError" in retries[0], "ServerError" in retries[1]] == [True, True]
    assert "rate limited (429): holding every request for 1.000 s" in messages
    assert any(message.startswith("rate limit cooldown over after 1.0") for message in messages)
    assert secret not in caplog.text
    assert all(secret not in message for message in messages)


class TogetherLimiter:
    """A Limiter whose callers all wait together, then report the waits it was given.

    Every acquire is suspended until all of them have begun, so the transport adds the
    waits while the others are still pending: a stale ``+= await`` would lose all but one.
    """

    def __init__(self, waits: Sequence[float]) -> None:
        self.waits = list(waits)
        self.started = 0
        self.everyone_waits = asyncio.Event()

    async def acquire(self) -> float:
        wait = self.waits[self.started]
        self.started += 1
        if self.started == len(self.waits):
            self.everyone_waits.set()
        await self.everyone_waits.wait()
        return wait

    async def release(self, hint: object) -> None:
        return None


async def test_budget_wait_sums_the_waits_of_concurrent_calls() -> None:
    """Five concurrent calls that waited 0, 0.1, 0.2, 0.3 and 0.4 s count 1.0 s in all."""
    limiter = TogetherLimiter([0.0, 0.1, 0.2, 0.3, 0.4])
    async with SandboxServer(rate=None) as server, client_for(server, rate_limit=limiter) as c:
        await gather_creates(c, 5)
    assert c.stats.budget_wait == pytest.approx(1.0)


# --- 7. one gate for every call of a client ------------------------------------------------


async def test_cooldown_holds_calls_started_after_another_call_met_the_429() -> None:
    """A 429 met by one task pauses requests of other tasks, even ones started afterwards."""
    limit = RateLimit(requests=50, per=1.0)
    async with first_429_then_clean(3) as server, client_for(server, rate_limit=limit) as c:
        first = asyncio.create_task(create(c, "BC-first"))
        await until(lambda: c.stats.rate_limited == 1)
        later = [asyncio.create_task(create(c, f"BC-later{i}")) for i in range(2)]
        await asyncio.gather(first, *later)
    met, *rest = server.requests
    assert met.status == 429
    assert [record.status for record in rest] == [200] * 3
    assert {record.body["orderId"] for record in rest} == {"BC-first", "BC-later0", "BC-later1"}
    # Paced from the cooldown's end: the k-th request no earlier than k intervals after it.
    # (Measured per pair, a first request slowed by opening its connection would make the
    # next gap look short although both left on their scheduled slots.)
    interval = limit.per / limit.requests
    resumed = met.received_at + 1.0
    assert all(
        record.received_at >= resumed + k * interval - SLACK for k, record in enumerate(rest)
    )


async def test_a_429_without_hint_still_closes_the_gate_for_every_call(
    aiohttp_server: Callable[[web.Application], Awaitable[TestServer]],
) -> None:
    """A bare 429 (no wait header at all) holds every call about a second, not just its own."""
    answered: list[float] = []

    async def answer(request: web.Request) -> web.Response:
        answered.append(time.monotonic())
        if len(answered) == 1:
            return web.Response(status=429, text="slow down")
        sent = await request.json()
        body = {"code": 200, "data": {"orderId": sent["orderId"]}, "message": "SUCCESS"}
        return web.json_response(body)

    app = web.Application()
    app.router.add_post("/api/v2/io/companies/1/user/1/orders", answer)
    server = await aiohttp_server(app)
    url = f"http://127.0.0.1:{server.port}"
    retry = RetryPolicy(initial_wait=0.01, max_wait=0.02)
    async with B2BClient("t", base_url=url, retry=retry, rate_limit=RateLimit(100, 1.0)) as c:
        limited = asyncio.Event()
        set_hooks([lambda event: limited.set() if isinstance(event, RateLimited) else None])
        try:
            met = asyncio.create_task(create(c, "BC0"))
            await limited.wait()  # the bare 429 came back: the gate is closed
            await asyncio.gather(met, create(c, "BC1"), create(c, "BC2"))
        finally:
            set_hooks(None)
    first, *rest = answered
    assert len(rest) == 3
    assert min(rest) - first >= 0.95
