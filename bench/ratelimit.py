"""Budget efficiency: gathered creates against the sandbox's time-scaled fixed window.

Runs 800 ``asyncio.gather``-ed creates against a fixed window of 40 requests per second
(the store's 150 per minute, time-scaled), once alone and once with a competing integration
spending 15 of every 40. Prints achieved rate / allowed rate, the share of 429 answers, and
whether every order was registered exactly once.

Usage: ``python -m bench.ratelimit [--orders 800] [--requests 40] [--per 1.0] [--competing 15]``
"""

from __future__ import annotations

import argparse
import asyncio
import time
from decimal import Decimal

import attrs

from b2b_async import B2BClient, RateLimit
from b2b_async.sandbox import DEFAULT_TOKEN, RateWindow, SandboxServer


@attrs.frozen
class BudgetRun:
    """The figures of one run."""

    orders: int
    requests: int
    rejected_429: int
    elapsed: float
    allowed_rate: float
    registered_once: bool

    @property
    def achieved_rate(self) -> float:
        """Requests the server accepted per second (429s excluded)."""
        return (self.requests - self.rejected_429) / self.elapsed

    @property
    def efficiency(self) -> float:
        """Achieved rate over the rate left to this client."""
        return self.achieved_rate / self.allowed_rate

    @property
    def share_429(self) -> float:
        """The share of requests answered 429."""
        return self.rejected_429 / self.requests if self.requests else 0.0


async def run(orders: int, window: RateWindow, competing: int) -> BudgetRun:
    """Gather ``orders`` creates through one client; measure what the server saw."""
    async with SandboxServer(rate=window, competing=competing) as server:
        limit = RateLimit(requests=window.requests, per=window.per)
        async with B2BClient(DEFAULT_TOKEN, base_url=server.url, rate_limit=limit) as client:
            started = time.monotonic()
            await asyncio.gather(
                *(
                    client.orders.create(
                        company_id=1, customer_id=1, order_id=f"BC{i}", total_inc_tax=Decimal(9)
                    )
                    for i in range(orders)
                )
            )
            elapsed = time.monotonic() - started
        statuses = [record.status for record in server.requests]
        once = len(server.orders) == orders and all(
            server.registrations(f"BC{i}") == 1 for i in range(orders)
        )
    allowed = (window.requests - competing) / window.per
    return BudgetRun(orders, len(statuses), statuses.count(429), elapsed, allowed, once)


def report(label: str, result: BudgetRun) -> None:
    """Print one run's figures."""
    print(
        f"{label:34} {result.orders} orders, {result.requests} requests in {result.elapsed:5.1f} s:"
        f" achieved/allowed {result.efficiency:.3f}, 429s {result.share_429:.2%},"
        f" registered exactly once: {result.registered_once}"
    )


def main() -> None:
    """Run both scenarios and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=800)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--per", type=float, default=1.0)
    parser.add_argument("--competing", type=int, default=15)
    args = parser.parse_args()
    window = RateWindow(requests=args.requests, per=args.per)
    report(f"alone, {window}", asyncio.run(run(args.orders, window, 0)))
    report(
        f"competing {args.competing}/{args.requests}",
        asyncio.run(run(args.orders, window, args.competing)),
    )


if __name__ == "__main__":
    main()
