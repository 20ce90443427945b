"""Cancellation at random points leaves no task, no connection, no warning, and a working client.

200 trials, each a ``random.Random(seed)`` choice of an operation (a create, a gather of
creates, create_many, create_stream with and without ``async with``, a create under
``asyncio.timeout``) and of a delay before cancelling it. The sandbox delays most requests,
so there is always something in flight to cancel: a queued call, a paced one, a request on
the wire, a response being read, workers of a bulk run. After each trial the client must
be idle (no task of its own, no connection checked out, nothing in flight or queued in the
limiter) and must register an order; at the end no order is registered twice and nothing
was logged above INFO or handed to the loop's exception handler.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import logging
import random
from collections.abc import AsyncIterator, Callable, Coroutine
from decimal import Decimal
from typing import Any, Final

import aiohttp
import pytest

from b2b_async import B2BClient, CreatedOrder, NewOrder, RateLimit, RateLimiter, RetryPolicy
from b2b_async.sandbox import DEFAULT_TOKEN, Faults, SandboxServer
from tests.reliability.conftest import Recorder
from tests.sandbox_helpers import client_tasks

TRIALS: Final = 200
SEED: Final = 20_260_401
FAULTS: Final = Faults(latency=0.6, latency_seconds=0.04, http_503=0.05, reset_before=0.03)
RETRY: Final = RetryPolicy(attempts=4, initial_wait=0.005, max_wait=0.02)
#: Fast enough not to slow the trials, slow enough that calls queue in the limiter.
PACING: Final = RateLimit(requests=100, per=1.0, burst=4)

Operation = Callable[[B2BClient, str, random.Random], Coroutine[Any, Any, object]]
TIMED_OUT: Final = "timed out"


def orders(prefix: str, count: int) -> list[NewOrder]:
    """``count`` orders with ids ``<prefix>-<n>``."""
    return [NewOrder(1, 1, f"{prefix}-{index}", Decimal("5.00")) for index in range(count)]


async def create(client: B2BClient, prefix: str, rng: random.Random) -> object:
    """One create."""
    return await client.orders.create(
        company_id=1, customer_id=1, order_id=prefix, total_inc_tax="5.00"
    )


async def gather(client: B2BClient, prefix: str, rng: random.Random) -> object:
    """A gather of two to eight creates."""
    batch = orders(prefix, rng.randint(2, 8))
    return await asyncio.gather(*(client.orders.register(order) for order in batch))


async def create_many(client: B2BClient, prefix: str, rng: random.Random) -> object:
    """A bulk run of 5 to 30 orders with 1 to 6 workers."""
    batch = orders(prefix, rng.randint(5, 30))
    return await client.orders.create_many(batch, concurrency=rng.randint(1, 6))


async def create_stream(client: B2BClient, prefix: str, rng: random.Random) -> object:
    """A stream read to the end inside ``async with``."""
    outcomes = []
    stream = client.orders.create_stream(orders(prefix, rng.randint(5, 30)), concurrency=4)
    async with stream:
        async for outcome in stream:
            outcomes.append(outcome)
    return outcomes


async def create_stream_plain(client: B2BClient, prefix: str, rng: random.Random) -> object:
    """A stream read to the end by a plain ``async for`` from an async generator source."""

    async def source() -> AsyncIterator[NewOrder]:
        for order in orders(prefix, rng.randint(5, 30)):
            await asyncio.sleep(0)
            yield order

    return [outcome async for outcome in client.orders.create_stream(source(), concurrency=3)]


async def create_with_timeout(client: B2BClient, prefix: str, rng: random.Random) -> object:
    """A create under ``asyncio.timeout``, which cancels it from inside when it runs out."""
    try:
        async with asyncio.timeout(rng.uniform(0.0, 0.06)):
            return await create(client, prefix, rng)
    except TimeoutError:
        return TIMED_OUT


OPERATIONS: Final[dict[str, Operation]] = {
    "create": create,
    "gather": gather,
    "create_many": create_many,
    "create_stream": create_stream,
    "create_stream (plain loop)": create_stream_plain,
    "create under asyncio.timeout": create_with_timeout,
}


def connector_of(client: B2BClient) -> aiohttp.BaseConnector:
    """The connector of the session the client owns.

    Neither the client nor aiohttp exposes it or its counts publicly; the transport's
    ``open()`` hands out the owned session, whose ``connector`` property is public.
    """
    connector = client._transport.open().connector
    assert connector is not None
    return connector


def busy_connections(connector: aiohttp.BaseConnector) -> int:
    """Connections checked out of the pool (aiohttp keeps no public count of them)."""
    return len(connector._acquired)


def idle_connections(connector: aiohttp.BaseConnector) -> int:
    """Connections resting in the pool, ready for reuse."""
    return sum(len(conns) for conns in connector._conns.values())


def own_tasks() -> set[asyncio.Task[object]]:
    """The client side's tasks: :func:`client_tasks` less the loop accepting connections.

    ``_accept_connection2`` is asyncio's own task for a connection the sandbox accepts.
    """
    accepting = "BaseSelectorEventLoop._accept_connection2"
    return {
        task for task in client_tasks() if getattr(task.get_coro(), "__qualname__", "") != accepting
    }


async def finalizers_run(most: int = 100) -> None:
    """Give the event loop a few turns to finish what a loop left early hands it.

    A plain ``async for`` over a stream, cancelled while the stream's iterator waits at a
    ``yield``, leaves the iterator for the event loop to finalize "soon after" (as
    ``OutcomeStream`` documents): asyncio runs it as a task of its own, which stops the
    workers. Most trials leave none; :func:`check_idle` then finds anything left for good.
    """
    for _ in range(most):
        if not own_tasks():
            return
        await asyncio.sleep(0)


def check_idle(client: B2BClient, connector: aiohttp.BaseConnector) -> None:
    """Nothing of the client is left running, checked out, in flight or queued."""
    assert own_tasks() == set()
    assert busy_connections(connector) == 0
    assert client.stats.in_flight == 0
    limiter = client.limiter
    assert isinstance(limiter, RateLimiter)
    assert limiter.in_flight == 0
    assert limiter.waiting == 0


def moment(client: B2BClient) -> str:
    """Where the client's work stands: a request on the wire, a call queued, or neither."""
    limiter = client.limiter
    assert isinstance(limiter, RateLimiter)
    if client.stats.in_flight:
        return "request on the wire"
    if limiter.waiting:
        return "queued for budget"
    return "between requests"


async def trial(client: B2BClient, name: str, prefix: str, rng: random.Random) -> tuple[str, str]:
    """Start one operation, cancel it after a random delay; say how it ended and when."""
    delay = 0.0 if rng.random() < 0.1 else rng.uniform(0.0, 0.06)
    task: asyncio.Task[object] = asyncio.create_task(OPERATIONS[name](client, prefix, rng))
    await asyncio.sleep(delay)
    when = "not started" if delay == 0.0 else moment(client)
    task.cancel()
    try:
        result = await task
    except asyncio.CancelledError:
        return "cancelled", when
    return ("timed out" if result == TIMED_OUT else "finished first"), when


async def test_random_cancellation_leaves_nothing_behind(
    record: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """200 random cancellations: no task, connection, warning left; the client keeps working."""
    caplog.set_level(logging.INFO)
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: unhandled.append(context))
    rng = random.Random(SEED)
    tally: collections.Counter[tuple[str, str]] = collections.Counter()
    moments: collections.Counter[str] = collections.Counter()
    try:
        async with SandboxServer(rate=None, faults=FAULTS, seed=SEED) as server:
            async with B2BClient(
                DEFAULT_TOKEN,
                base_url=server.url,
                retry=RETRY,
                rate_limit=PACING,
                max_concurrency=4,
                timeout=2.0,
            ) as client:
                connector = connector_of(client)
                for number in range(TRIALS):
                    name = rng.choice(list(OPERATIONS))
                    how, when = await trial(client, name, f"T{number}", rng)
                    tally[name, how] += 1
                    moments[when] += 1
                    await finalizers_run()
                    check_idle(client, connector)
                    server.faults = Faults()
                    assert await create(client, f"after-{number}", rng) == CreatedOrder(
                        f"after-{number}"
                    )
                    server.faults = FAULTS
                pooled = idle_connections(connector)
            registered = collections.Counter(
                record_.registered for record_ in server.requests if record_.registered
            )
        gc.collect()  # an unclosed session or transport warns here, and the warning fails
    finally:
        loop.set_exception_handler(None)
    loud = [entry.getMessage() for entry in caplog.records if entry.levelno > logging.INFO]
    by_operation = collections.Counter(name for name, _ in tally.elements())
    record(
        "cancellation",
        trials=sum(tally.values()),
        cancelled=sum(count for (_, how), count in tally.items() if how == "cancelled"),
        timed_out=sum(count for (_, how), count in tally.items() if how == "timed out"),
        finished_first=sum(count for (_, how), count in tally.items() if how == "finished first"),
        by_operation=dict(sorted(by_operation.items())),
        at_cancel=dict(moments.most_common()),
        requests=len(server.requests),
        orders_registered=len(registered),
        registered_twice=sum(1 for count in registered.values() if count > 1),
        pooled_connections_at_end=pooled,
    )
    assert sum(tally.values()) == TRIALS
    assert set(by_operation) == set(OPERATIONS)
    assert max(registered.values()) == 1
    assert unhandled == []
    assert loud == []
