"""Budget efficiency of three ways to register a batch against the store's fixed window.

The same ``asyncio.gather`` of creates, against the sandbox's time-scaled window (40 requests
per second standing for 150 per minute), written three ways:

* ``client``: one :class:`~b2b_async.B2BClient` with its default pacing for the window;
* ``naive-retry``: bare aiohttp, each call wrapped in tenacity's ``@retry`` that treats every
  HTTP error (429 included) as retryable, exponential waits, a bounded number of attempts;
* ``naive``: bare aiohttp, one attempt per order.

For each it reconstructs the server's windows from the sandbox's records (a window opens at
the first request after the previous one closed, as :class:`~b2b_async.sandbox.RateWindow`
does) and counts accepted and 429 answers per window.

Usage: ``python -m bench.budget [--orders 800] [--requests 40] [--per 1.0]``
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Final

import aiohttp
import attrs
import tenacity

from b2b_async.sandbox import DEFAULT_TOKEN, RateWindow, RequestRecord
from bench.ratelimit import BudgetRun, Strategy, client_strategy, observe, order_id

PATH: Final = "/api/v2/io/companies/1/user/1/orders"
HEADERS: Final = {"authToken": DEFAULT_TOKEN, "Accept": "application/json"}


@attrs.frozen
class NaiveRetry:
    """The tenacity options of the naive retrying baseline, in seconds of the scaled window.

    With the window time-scaled 60 times (1 s for the store's minute), these stand for a
    backoff that starts at 6 s, doubles up to 2 minutes, and gives up after 10 attempts.
    """

    multiplier: float = 0.1
    max_wait: float = 2.0
    attempts: int = 10

    def decorator(self) -> Callable[[Callable[[int], Awaitable[object]]], Any]:
        """The ``@retry(...)`` a user would write around the POST."""
        return tenacity.retry(
            retry=tenacity.retry_if_exception_type(aiohttp.ClientResponseError),
            wait=tenacity.wait_exponential(multiplier=self.multiplier, max=self.max_wait),
            stop=tenacity.stop_after_attempt(self.attempts),
            reraise=True,
        )


NAIVE_RETRY: Final = NaiveRetry()


def naive_strategy(retry: NaiveRetry | None) -> Strategy:
    """Gather bare aiohttp POSTs (default session), each retried under ``retry`` if given.

    ``return_exceptions=True`` lets every call finish, so that lost orders can be counted.
    """

    async def register(url: str, orders: int) -> None:
        async with aiohttp.ClientSession() as session:

            async def create(index: int) -> object:
                body = {"orderId": order_id(index), "totalIncTax": 9}
                async with session.post(url + PATH, json=body, headers=HEADERS) as response:
                    response.raise_for_status()
                    return await response.json()

            call = create if retry is None else retry.decorator()(create)
            await asyncio.gather(*(call(i) for i in range(orders)), return_exceptions=True)

    return register


@attrs.frozen
class Window:
    """One window of the server's: when it opened (s from the first request) and its answers."""

    start: float
    accepted: int
    rejected: int


def windows(records: list[RequestRecord], window: RateWindow) -> list[Window]:
    """Rebuild the server's windows from its records, the way its fixed window opens them."""
    if not records:
        return []
    origin = records[0].received_at
    opened: float | None = None
    counts: list[list[float]] = []
    for record in records:
        if opened is None or record.received_at >= opened + window.per:
            opened = record.received_at
            counts.append([opened - origin, 0, 0])
        counts[-1][1 if record.status != 429 else 2] += 1
    return [Window(start, int(accepted), int(rejected)) for start, accepted, rejected in counts]


def efficiency(found: list[Window], figures: BudgetRun, window: RateWindow) -> float:
    """Requests accepted over those the window allowed from the first request to the end of
    the last window that accepted any (so a run that stops early in a spent window is not
    credited with the time it did not wait)."""
    spending = [w for w in found if w.accepted]
    if not spending:
        return 0.0
    span = spending[-1].start + window.per
    accepted = figures.requests - figures.rejected_429
    return accepted / (figures.allowed_rate * span)


def registered_at(records: list[RequestRecord]) -> list[float]:
    """When each order was registered, in s from the first request."""
    if not records:
        return []
    origin = records[0].received_at
    return [round(r.received_at - origin, 4) for r in records if r.registered is not None]


STRATEGIES: Final[dict[str, Callable[[RateWindow], Strategy]]] = {
    "client": client_strategy,
    "naive-retry": lambda _: naive_strategy(NAIVE_RETRY),
    "naive": lambda _: naive_strategy(None),
}


async def measure(name: str, orders: int, window: RateWindow) -> dict[str, Any]:
    """Run one strategy alone against the window; its figures for ``results.json``."""
    figures, records = await observe(STRATEGIES[name](window), orders, window, 0)
    found = windows(records, window)
    return {
        "strategy": name,
        "orders": orders,
        "requests": figures.requests,
        "accepted": figures.requests - figures.rejected_429,
        "rejected_429": figures.rejected_429,
        "share_429": figures.share_429,
        "elapsed": figures.elapsed,
        "allowed_rate": figures.allowed_rate,
        "efficiency": efficiency(found, figures, window),
        "efficiency_wall": figures.efficiency,
        "registered": figures.registered,
        "lost": figures.lost,
        "registered_once": figures.registered_once,
        "windows": [attrs.asdict(w) for w in found],
        "registered_at": registered_at(records),
    }


async def measure_all(orders: int, window: RateWindow) -> dict[str, Any]:
    """Every strategy in turn, each against a fresh sandbox."""
    runs = [await measure(name, orders, window) for name in STRATEGIES]
    return {
        "window": {"requests": window.requests, "per": window.per},
        "naive_retry": attrs.asdict(NAIVE_RETRY),
        "runs": runs,
    }


def main() -> None:
    """Run the three strategies and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=800)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--per", type=float, default=1.0)
    args = parser.parse_args()
    window = RateWindow(requests=args.requests, per=args.per)
    result = asyncio.run(measure_all(args.orders, window))
    for run in result["runs"]:
        print(
            f"{run['strategy']:12} {run['requests']:6} requests in {run['elapsed']:5.1f} s:"
            f" achieved/allowed {run['efficiency']:.3f}, 429s {run['share_429']:7.2%},"
            f" registered {run['registered']}, lost {run['lost']}"
        )


if __name__ == "__main__":
    main()
