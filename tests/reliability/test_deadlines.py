"""Deadlines bound a whole call; per-attempt timeouts leave time spent queueing alone."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable

import pytest

from b2b_async import APITimeoutError, B2BClient, B2BError, CreatedOrder, RetryPolicy, ServerError
from b2b_async.sandbox import DEFAULT_TOKEN, Faults, SandboxServer
from tests.reliability.conftest import Recorder

FAST = RetryPolicy(attempts=1000, initial_wait=0.01, max_wait=0.05, deadline=1.5)


def client_for(server: SandboxServer, **options: object) -> B2BClient:
    """A client of the sandbox without pacing."""
    settings: dict[str, object] = {"rate_limit": None}
    settings.update(options)
    return B2BClient(DEFAULT_TOKEN, base_url=server.url, **settings)  # type: ignore[arg-type]


def creator(client: B2BClient) -> Callable[[str], Awaitable[CreatedOrder]]:
    """Registers one order by id with ``client``."""

    async def create(order_id: str) -> CreatedOrder:
        return await client.orders.create(
            company_id=1, customer_id=1, order_id=order_id, total_inc_tax=1
        )

    return create


async def test_deadline_ends_endless_503s(record: Recorder) -> None:
    """attempts=1000 with deadline=1.5 against endless 503s gives up at 1.3 to 2.0 s."""
    async with SandboxServer(rate=None, faults=Faults(http_503=1.0)) as server:
        async with client_for(server, retry=FAST) as client:
            started = time.monotonic()
            with pytest.raises((ServerError, APITimeoutError)) as info:
                await creator(client)("BC1")
            elapsed = time.monotonic() - started
        record(
            "deadlines",
            case="endless 503, attempts=1000, deadline=1.5, waits 0.01-0.05 s",
            outcome=type(info.value).__name__,
            attempts=len(server.requests),
            seconds=round(elapsed, 3),
            bounds="1.3-2.0",
        )
        assert server.orders == {}
    assert 1.3 <= elapsed <= 2.0
    assert 10 < len(server.requests) < 1000


async def test_deadline_with_default_backoff_never_overruns(record: Recorder) -> None:
    """With the default backoff the deadline stops before a wait it would overrun (<= 2.0 s)."""
    retry = RetryPolicy(attempts=1000, deadline=1.5)
    async with SandboxServer(rate=None, faults=Faults(http_503=1.0)) as server:
        async with client_for(server, retry=retry) as client:
            started = time.monotonic()
            with pytest.raises(ServerError):
                await creator(client)("BC1")
            elapsed = time.monotonic() - started
        record(
            "deadlines",
            case="endless 503, attempts=1000, deadline=1.5, default backoff",
            outcome="ServerError",
            attempts=len(server.requests),
            seconds=round(elapsed, 3),
            bounds="0-2.0",
        )
    # The next backoff (0.5 s doubling) would end past the deadline, so the last 503 is
    # raised early rather than a timeout at 1.5 s: by design (_StopBeforeDeadline).
    assert elapsed <= 2.0
    assert len(server.requests) >= 2


async def test_timeout_leaves_queueing_alone(record: Recorder) -> None:
    """max_concurrency=1, 0.3 s answers, timeout=0.5: ten gathered calls all succeed in ~3 s."""
    faults = Faults(latency=1.0, latency_seconds=0.3)
    retry = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.05)
    finished: list[float] = []
    async with SandboxServer(rate=None, faults=faults) as server:
        async with client_for(server, retry=retry, max_concurrency=1, timeout=0.5) as client:
            create = creator(client)
            started = time.monotonic()

            async def timed(order_id: str) -> CreatedOrder:
                created = await create(order_id)
                finished.append(time.monotonic() - started)
                return created

            results = await asyncio.gather(*(timed(f"BC{index}") for index in range(10)))
            elapsed = time.monotonic() - started
        arrivals = [record_.received_at for record_ in server.requests]
        record(
            "deadlines",
            case="10 gathered calls, max_concurrency=1, latency 0.3 s, timeout=0.5",
            outcome=f"{len(results)} registered",
            attempts=len(server.requests),
            seconds=round(elapsed, 3),
            bounds="2.9-4.5",
        )
    assert results == [CreatedOrder(f"BC{index}") for index in range(10)]
    assert client.stats.retries == 0  # no attempt timed out, though the last queued ~2.7 s
    assert len(server.requests) == 10
    assert min(b - a for a, b in itertools.pairwise(arrivals)) >= 0.29
    assert max(finished) >= 2.9
    assert 2.9 <= elapsed <= 4.5


async def test_deadline_counts_queueing(record: Recorder) -> None:
    """With deadline=1.0 and one slot, calls still queued at the deadline never reach the server."""
    faults = Faults(latency=1.0, latency_seconds=0.3)
    retry = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.05, deadline=1.0)
    async with SandboxServer(rate=None, faults=faults) as server:
        async with client_for(server, retry=retry, max_concurrency=1, timeout=5.0) as client:
            create = creator(client)
            begun: dict[str, float] = {}

            async def timed(order_id: str) -> CreatedOrder:
                begun[order_id] = time.monotonic()
                return await create(order_id)

            started = time.monotonic()
            outcomes = await asyncio.gather(
                *(timed(f"BC{index}") for index in range(10)), return_exceptions=True
            )
            elapsed = time.monotonic() - started
        arrivals = {record_.body["orderId"]: record_.received_at for record_ in server.requests}
        received = set(arrivals)
        timed_out = [
            f"BC{index}"
            for index, outcome in enumerate(outcomes)
            if isinstance(outcome, APITimeoutError)
        ]
        record(
            "deadlines",
            case="10 gathered calls, max_concurrency=1, latency 0.3 s, deadline=1.0",
            outcome=f"{10 - len(timed_out)} registered, {len(timed_out)} APITimeoutError",
            attempts=len(server.requests),
            seconds=round(elapsed, 3),
            bounds="0.9-1.6",
        )
    assert all(isinstance(outcome, CreatedOrder | B2BError) for outcome in outcomes)
    assert 2 <= 10 - len(timed_out) <= 4
    assert all(isinstance(outcome, CreatedOrder | APITimeoutError) for outcome in outcomes)
    # A timed-out call that reached the server was sent before its own deadline: once a
    # call's deadline passes while it is queued, it sends nothing. (The calls' deadlines
    # differ by how late each task started; on a busy machine that can be long enough for
    # a second call to be sent, and then time out in flight.) The margin covers the trip
    # over loopback on a loaded machine.
    late = [name for name in received & set(timed_out) if arrivals[name] > begun[name] + 1.25]
    assert late == []
    assert all(server.registrations(order_id) <= 1 for order_id in received)
    assert 0.9 <= elapsed <= 1.6
