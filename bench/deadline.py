"""Deadline admission: how fast a call that cannot get budget in time is refused.

A shared limiter of 10 requests per second holds 100 queued calls of normal priority (ten
seconds of budget). A create with ``RetryPolicy(deadline=1.0)`` then joins the queue: the
limiter foresees that its slot is about ten seconds away and refuses it with
:class:`~b2b_async.DeadlineUnreachableError` instead of letting it wait. Each trial prints
nothing; the run prints the median and the slowest refusal, wall clock, against the target
of 50 ms, and the requests the refused calls sent (target: none).

Usage: ``python -m bench.deadline [--trials 20]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Final

from b2b_async import B2BClient, DeadlineUnreachableError, RateLimit, RateLimiter, RetryPolicy
from b2b_async.sandbox import DEFAULT_TOKEN, SandboxServer

TARGET_MS: Final = 50.0
QUEUED: Final = 100


async def refusal_seconds(server: SandboxServer, trial: int) -> float:
    """Queue ten seconds of calls on a fresh limiter, then time one refused create."""
    limiter = RateLimiter(RateLimit(requests=10, per=1.0))
    queued = [asyncio.create_task(limiter.acquire()) for _ in range(QUEUED)]
    await asyncio.sleep(0)
    retry = RetryPolicy(attempts=5, deadline=1.0)
    try:
        async with B2BClient(
            DEFAULT_TOKEN, base_url=server.url, rate_limit=limiter, retry=retry
        ) as client:
            started = time.perf_counter()
            try:
                await client.orders.create(customer_id=1, order_id=f"LATE{trial}", total_inc_tax=1)
            except DeadlineUnreachableError:
                return time.perf_counter() - started
            raise AssertionError("the create was not refused")
    finally:
        for task in queued:
            task.cancel()
        await asyncio.gather(*queued, return_exceptions=True)


async def measure(trials: int) -> tuple[list[float], int]:
    """Every trial's refusal time, and the requests the refused calls sent in all."""
    async with SandboxServer(rate=None) as server:
        times = [await refusal_seconds(server, trial) for trial in range(trials)]
        return times, len(server.requests)


def main() -> None:
    """Run the trials and print the figures beside their targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    times, sent = asyncio.run(measure(args.trials))
    median, slowest = statistics.median(times) * 1000, max(times) * 1000
    verdict = "met" if slowest < TARGET_MS and sent == 0 else "MISSED"
    print(
        f"deadline admission, {args.trials} trials: 1 s deadline behind {QUEUED} queued calls"
        f" at 10/s; refused in {median:.2f} ms median, {slowest:.2f} ms slowest"
        f" (target < {TARGET_MS:.0f} ms); requests sent by refused calls: {sent}"
        f" (target 0): {verdict}"
    )


if __name__ == "__main__":
    main()
