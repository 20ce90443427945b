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
import collections
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal

import attrs

from b2b_async import B2BClient, RateLimit
from b2b_async.sandbox import DEFAULT_TOKEN, RateWindow, RequestRecord, SandboxServer

#: Registers orders ``BC0`` to ``BC{orders - 1}`` with the sandbox at a host root.
Strategy = Callable[[str, int], Awaitable[object]]


def order_id(index: int) -> str:
    """The order id of input number ``index``."""
    return f"BC{index}"


@attrs.frozen
class BudgetRun:
    """The figures of one run."""

    orders: int
    requests: int
    rejected_429: int
    elapsed: float
    allowed_rate: float
    registered_once: bool
    registered: int = 0

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

    @property
    def lost(self) -> int:
        """Orders that no request registered."""
        return self.orders - self.registered


def client_strategy(window: RateWindow) -> Strategy:
    """Gather every create on one B2BClient paced for ``window`` (its default pacing)."""

    async def register(url: str, orders: int) -> None:
        limit = RateLimit(requests=window.requests, per=window.per)
        async with B2BClient(DEFAULT_TOKEN, base_url=url, rate_limit=limit) as client:
            await asyncio.gather(
                *(
                    client.orders.create(
                        company_id=1, customer_id=1, order_id=order_id(i), total_inc_tax=Decimal(9)
                    )
                    for i in range(orders)
                )
            )

    return register


async def observe(
    strategy: Strategy, orders: int, window: RateWindow, competing: int
) -> tuple[BudgetRun, list[RequestRecord]]:
    """Run ``strategy`` against a fresh sandbox; its figures and every request it received."""
    async with SandboxServer(rate=window, competing=competing) as server:
        started = time.monotonic()
        await strategy(server.url, orders)
        elapsed = time.monotonic() - started
        records = server.requests
    registrations = collections.Counter(record.registered for record in records)
    once = all(registrations[order_id(i)] == 1 for i in range(orders))
    registered = sum(1 for i in range(orders) if registrations[order_id(i)])
    statuses = [record.status for record in records]
    allowed = (window.requests - competing) / window.per
    figures = BudgetRun(
        orders, len(statuses), statuses.count(429), elapsed, allowed, once, registered
    )
    return figures, records


async def run(orders: int, window: RateWindow, competing: int) -> BudgetRun:
    """Gather ``orders`` creates through one client; measure what the server saw."""
    figures, _ = await observe(client_strategy(window), orders, window, competing)
    return figures


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
