"""Budget efficiency: gathered creates against the sandbox's time-scaled fixed window.

Runs 800 ``asyncio.gather``-ed creates against a fixed window of 40 requests per second
(the store's 150 per minute, time-scaled), once alone and once with a competing integration
spending 15 of every 40. The server may answer each request ``--latency`` seconds after it
counted it, and ``--burners`` processes may spin on the CPU meanwhile. Prints the requests
accepted over the run's whole windows against the rate left to the client, the share of 429
answers, and the orders lost or registered twice.

Usage: ``python -m bench.ratelimit [--orders 800] [--requests 40] [--per 1.0] [--competing 15]
[--latency 0.0] [--burners 0] [--runs 1]``
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import math
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Final

import attrs

from b2b_async import B2BClient, RateLimit
from b2b_async.sandbox import DEFAULT_TOKEN, Faults, RateWindow, RequestRecord, SandboxServer

#: Registers orders ``BC0`` to ``BC{orders - 1}`` with the sandbox at a host root.
Strategy = Callable[[str, int], Awaitable[object]]

#: ``B2BClient``'s default cap on requests in flight.
DEFAULT_CONCURRENCY: Final = 8


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
    duplicated: int = 0
    #: Requests accepted in the run's whole windows over the rate left to the client in them.
    window_efficiency: float = math.nan

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


def in_flight_cap(window: RateWindow, latency: float) -> int:
    """The client's cap on requests in flight for a run at ``latency``.

    The store's 2.5 requests per second keep under one request in flight even at 250 ms of
    latency; the time-scaled window's 40 per second keep ten. The cap is scaled with the
    window, to twice the requests in flight at the allowed rate (catching up runs at up to
    twice the rate), rounded up, plus one, and never below the client's default, so that
    the cap, a setting of the user's, does not stand in for the pacing being measured.
    """
    in_flight = window.requests / window.per * latency
    return max(DEFAULT_CONCURRENCY, math.ceil(2 * in_flight) + 1)


def client_strategy(window: RateWindow, *, latency: float = 0.0) -> Strategy:
    """Gather every create on one B2BClient paced for ``window`` (its default pacing).

    Args:
        window: the sandbox's window, which the client's budget matches.
        latency: the server's latency, which sizes the cap on requests in flight.
    """

    async def register(url: str, orders: int) -> None:
        limit = RateLimit(requests=window.requests, per=window.per)
        async with B2BClient(
            DEFAULT_TOKEN,
            base_url=url,
            rate_limit=limit,
            max_concurrency=in_flight_cap(window, latency),
        ) as client:
            await asyncio.gather(
                *(
                    client.orders.create(
                        company_id=1, customer_id=1, order_id=order_id(i), total_inc_tax=Decimal(9)
                    )
                    for i in range(orders)
                )
            )

    return register


def window_starts(records: list[RequestRecord], window: RateWindow) -> list[float]:
    """When each of the server's windows opened, rebuilt the way its fixed window opens them.

    A window opens at the first request that arrives after the previous one closed.
    """
    starts: list[float] = []
    for record in records:
        if not starts or record.received_at >= starts[-1] + window.per:
            starts.append(record.received_at)
    return starts


def whole_window_efficiency(
    records: list[RequestRecord], window: RateWindow, allowed_rate: float
) -> float:
    """Requests accepted in the run's whole windows over the rate left to the client in them.

    The whole windows are every one but the last, in which the run ended. Their time runs
    from the first window's opening to the last one's, so a gap between one window's end and
    the next one's opening (a request held past the reset) counts as lost, like a slot left
    unused inside a window. ``nan`` when the run fits in one window.
    """
    starts = window_starts(records, window)
    if len(starts) < 2:
        return math.nan
    accepted = sum(1 for r in records if r.received_at < starts[-1] and r.status != 429)
    return accepted / (allowed_rate * (starts[-1] - starts[0]))


async def observe(
    strategy: Strategy,
    orders: int,
    window: RateWindow,
    competing: int,
    *,
    latency: float = 0.0,
) -> tuple[BudgetRun, list[RequestRecord]]:
    """Run ``strategy`` against a fresh sandbox; its figures and every request it received.

    Args:
        strategy: how the orders are registered.
        orders: how many.
        window: the sandbox's window.
        competing: requests another integration spends at the start of every window.
        latency: seconds the sandbox takes to answer each request it counted.
    """
    faults = Faults(latency=1.0, latency_seconds=latency) if latency else Faults()
    async with SandboxServer(rate=window, competing=competing, faults=faults) as server:
        started = time.monotonic()
        await strategy(server.url, orders)
        elapsed = time.monotonic() - started
        records = server.requests
    registrations = collections.Counter(record.registered for record in records)
    counts = [registrations[order_id(i)] for i in range(orders)]
    statuses = [record.status for record in records]
    allowed = (window.requests - competing) / window.per
    figures = BudgetRun(
        orders,
        len(statuses),
        statuses.count(429),
        elapsed,
        allowed,
        registered_once=all(count == 1 for count in counts),
        registered=sum(1 for count in counts if count),
        duplicated=sum(1 for count in counts if count > 1),
        window_efficiency=whole_window_efficiency(records, window, allowed),
    )
    return figures, records


async def run(orders: int, window: RateWindow, competing: int, latency: float = 0.0) -> BudgetRun:
    """Gather ``orders`` creates through one client; measure what the server saw."""
    strategy = client_strategy(window, latency=latency)
    figures, _ = await observe(strategy, orders, window, competing, latency=latency)
    return figures


async def measure_efficiency(
    *, orders: int, requests: int, per: float, latency: float
) -> dict[str, float | int]:
    """Gather ``orders`` creates through one client against a window, the client alone.

    Args:
        orders: creates gathered at once.
        requests: the window's budget, which the client's :class:`~b2b_async.RateLimit` matches.
        per: the window's length in seconds.
        latency: seconds the server takes to answer each request.

    Returns:
        ``efficiency`` (requests accepted in the run's whole windows over the allowed rate,
        see :func:`whole_window_efficiency`), ``rejected_429_share``, ``lost`` and
        ``duplicated`` (orders registered by no request, and by more than one), and
        ``requests`` (every request the server received).
    """
    figures = await run(orders, RateWindow(requests=requests, per=per), 0, latency)
    return {
        "efficiency": figures.window_efficiency,
        "rejected_429_share": figures.share_429,
        "lost": figures.lost,
        "duplicated": figures.duplicated,
        "requests": figures.requests,
    }


@contextlib.contextmanager
def cpu_burners(count: int) -> Iterator[None]:
    """Run ``count`` processes that spin on the CPU (``while True: pass``) while inside.

    They contend with the event loop for the machine's cores, the way a busy host would.
    """
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def report(label: str, result: BudgetRun) -> None:
    """Print one run's figures."""
    print(
        f"{label:34} {result.orders} orders, {result.requests} requests in {result.elapsed:5.1f} s:"
        f" achieved/allowed {result.window_efficiency:.3f} over whole windows"
        f" ({result.efficiency:.3f} by wall clock), 429s {result.share_429:.2%},"
        f" lost {result.lost}, duplicated {result.duplicated}"
    )


def main() -> None:
    """Run both scenarios and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=800)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--per", type=float, default=1.0)
    parser.add_argument("--competing", type=int, default=15)
    parser.add_argument("--latency", type=float, default=0.0, help="server latency, seconds")
    parser.add_argument("--burners", type=int, default=0, help="CPU-spinning processes")
    parser.add_argument("--runs", type=int, default=1, help="repetitions of each scenario")
    args = parser.parse_args()
    window = RateWindow(requests=args.requests, per=args.per)
    setting = f"latency {args.latency:g} s" + (f", {args.burners} burners" if args.burners else "")
    print(setting)
    with cpu_burners(args.burners):
        for _ in range(args.runs):
            report(f"alone, {window}", asyncio.run(run(args.orders, window, 0, args.latency)))
            report(
                f"competing {args.competing}/{args.requests}",
                asyncio.run(run(args.orders, window, args.competing, args.latency)),
            )


if __name__ == "__main__":
    main()
