"""Budget efficiency of four ways to register a batch against the store's fixed window.

The same ``asyncio.gather`` of creates, against the sandbox's time-scaled window (40 requests
per second standing for 150 per minute), written four ways:

* ``client``: one :class:`~b2b_async.B2BClient` with its default pacing for the window;
* ``competent``: the competent hand-written baseline of :mod:`bench.baseline` (aiohttp,
  ``aiolimiter.AsyncLimiter``, tenacity honouring ``Retry-After``): the honest comparison;
* ``naive-retry``: a straw man: bare aiohttp, each call wrapped in tenacity's ``@retry`` that
  treats every HTTP error (429 included) as retryable, exponential waits that ignore
  ``Retry-After``, a bounded number of attempts;
* ``naive``: a straw man: bare aiohttp, one attempt per order.

Each runs against a fresh sandbox, alone or beside a competing integration that spends part of
every window, with or without server latency (:class:`Conditions`). The server's windows are
rebuilt from the sandbox's records (a window opens at the first request after the previous one
closed, as :class:`~b2b_async.sandbox.RateWindow` does) and the accepted and 429 answers are
counted per window.

Usage: ``python -m bench.budget [--orders 800] [--requests 40] [--per 1.0] [--competing 0]
[--latency 0.0] [--strategy NAME ...]``
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import aiohttp
import attrs
import tenacity

from b2b_async.sandbox import DEFAULT_TOKEN, Faults, RateWindow, RequestRecord, SandboxServer
from bench.baseline import BACKOFF, competent_strategy
from bench.ratelimit import BudgetRun, Strategy, client_strategy, in_flight_cap, order_id

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


def efficiency(found: list[Window], allowed_rate: float, per: float) -> float:
    """Requests accepted over those the window allowed, from the first request to the opening
    of the last window that accepted any.

    That last window is left out: it is partly empty because the job ran out of orders,
    whatever the pacing. Time between windows, when no window was open, counts as budget
    left unspent. A run that used one window only is measured against that window.
    """
    spending = [w for w in found if w.accepted]
    if not spending:
        return 0.0
    last = spending[-1].start
    if not last:
        return spending[0].accepted / (allowed_rate * per)
    return sum(w.accepted for w in found if w.start < last) / (allowed_rate * last)


def registered_at(records: list[RequestRecord]) -> list[float]:
    """When each order was registered, in s from the first request."""
    if not records:
        return []
    origin = records[0].received_at
    return [round(r.received_at - origin, 4) for r in records if r.registered is not None]


@attrs.frozen
class Conditions:
    """What the server does besides enforcing the window.

    Attributes:
        competing: requests another integration spends at the start of every window.
        latency: seconds the server takes before answering each request.
    """

    competing: int = 0
    latency: float = 0.0

    def faults(self) -> Faults:
        """The sandbox's faults for these conditions: every request delayed by ``latency``."""
        return Faults(latency=1.0, latency_seconds=self.latency) if self.latency else Faults()

    def to_json(self) -> dict[str, Any]:
        """The conditions as ``results.json`` keeps them beside a run's figures."""
        return {"competing": self.competing, "latency": self.latency}


ALONE: Final = Conditions()


def figures_of(
    records: list[RequestRecord], orders: int, window: RateWindow, competing: int, elapsed: float
) -> BudgetRun:
    """A run's figures from every request the sandbox received."""
    registrations = collections.Counter(record.registered for record in records)
    once = all(registrations[order_id(i)] == 1 for i in range(orders))
    registered = sum(1 for i in range(orders) if registrations[order_id(i)])
    statuses = [record.status for record in records]
    allowed = (window.requests - competing) / window.per
    return BudgetRun(orders, len(statuses), statuses.count(429), elapsed, allowed, once, registered)


async def observe(
    strategy: Strategy, orders: int, window: RateWindow, conditions: Conditions
) -> tuple[BudgetRun, list[RequestRecord]]:
    """Run ``strategy`` against a fresh sandbox; its figures and every request it received."""
    async with SandboxServer(
        rate=window, competing=conditions.competing, faults=conditions.faults()
    ) as server:
        started = time.monotonic()
        await strategy(server.url, orders)
        elapsed = time.monotonic() - started
        records = server.requests
    return figures_of(records, orders, window, conditions.competing, elapsed), records


#: Each strategy's registration for a window under some conditions. The client's cap on
#: requests in flight grows with the latency (:func:`~bench.ratelimit.in_flight_cap`).
STRATEGIES: Final[dict[str, Callable[[RateWindow, Conditions], Strategy]]] = {
    "client": lambda window, conditions: client_strategy(window, latency=conditions.latency),
    "competent": lambda window, _: competent_strategy(window),
    "naive-retry": lambda _, __: naive_strategy(NAIVE_RETRY),
    "naive": lambda _, __: naive_strategy(None),
}
#: The strategies compared under every condition: the client and the honest baseline.
COMPARED: Final = ("client", "competent")
#: The client's least share of the budget at 80 and 250 ms of latency, alone, with no 429.
LATENCY_TARGET: Final = 0.99
#: The latencies that target is set for.
TARGET_LATENCIES: Final = (0.08, 0.25)


def meets_latency_target(run: dict[str, Any], target: float = LATENCY_TARGET) -> bool:
    """Whether a run reaches ``target`` (:data:`LATENCY_TARGET` by default) with no 429."""
    return bool(run["efficiency"] >= target and run["rejected_429"] == 0)


def latency_targets(runs: list[dict[str, Any]]) -> list[str]:
    """A line per target latency: the client's figure alone there, met or missed."""
    return [
        f"client alone at {run['latency'] * 1000:.0f} ms: achieved/allowed"
        f" {run['efficiency']:.3f}, {run['rejected_429']} 429s"
        f" [≥ {LATENCY_TARGET:g}, no 429: {'met' if meets_latency_target(run) else 'MISSED'}]"
        for run in runs
        if run["strategy"] == "client" and not run["competing"]
        if run["latency"] in TARGET_LATENCIES
    ]


async def measure(
    name: str, orders: int, window: RateWindow, conditions: Conditions = ALONE
) -> dict[str, Any]:
    """One strategy against the window under ``conditions``: its figures for the results."""
    strategy = STRATEGIES[name](window, conditions)
    figures, records = await observe(strategy, orders, window, conditions)
    found = windows(records, window)
    return {
        "strategy": name,
        **conditions.to_json(),
        "max_concurrency": in_flight_cap(window, conditions.latency) if name == "client" else None,
        "orders": orders,
        "requests": figures.requests,
        "requests_per_order": figures.requests / orders,
        "accepted": figures.requests - figures.rejected_429,
        "rejected_429": figures.rejected_429,
        "share_429": figures.share_429,
        "elapsed": figures.elapsed,
        "allowed_rate": figures.allowed_rate,
        "efficiency": efficiency(found, figures.allowed_rate, window.per),
        "efficiency_wall": figures.efficiency,
        "registered": figures.registered,
        "lost": figures.lost,
        "registered_once": figures.registered_once,
        "windows": [attrs.asdict(w) for w in found],
        "registered_at": registered_at(records),
    }


async def measure_all(orders: int, window: RateWindow) -> dict[str, Any]:
    """Every strategy in turn, alone, each against a fresh sandbox."""
    runs = [await measure(name, orders, window) for name in STRATEGIES]
    return {
        "window": {"requests": window.requests, "per": window.per},
        "naive_retry": attrs.asdict(NAIVE_RETRY),
        "competent_backoff": attrs.asdict(BACKOFF),
        "runs": runs,
    }


def grid(competing: int, latencies: Sequence[float]) -> list[Conditions]:
    """Alone and beside the competitor, at each latency."""
    return [Conditions(share, latency) for latency in latencies for share in (0, competing)]


async def measure_conditions(
    orders: int,
    window: RateWindow,
    conditions: Sequence[Conditions],
    progress: Callable[[dict[str, Any]], object] = lambda _: None,
) -> dict[str, Any]:
    """The client and the competent baseline under each of ``conditions``.

    Runs keep their figures but not their windows or registration times (the plots of the
    budget section show those for the runs alone).
    """
    runs = []
    for each in conditions:
        for name in COMPARED:
            run = await measure(name, orders, window, each)
            del run["windows"], run["registered_at"]
            progress(run)
            runs.append(run)
    return {
        "window": {"requests": window.requests, "per": window.per},
        "orders": orders,
        "target": {"efficiency": LATENCY_TARGET, "latencies": list(TARGET_LATENCIES)},
        "runs": runs,
    }


def describe(run: dict[str, Any]) -> str:
    """One line of a run's figures."""
    return (
        f"{run['strategy']:11} competing {run['competing']:2}, latency"
        f" {run['latency'] * 1000:3.0f} ms: achieved/allowed {run['efficiency']:.3f},"
        f" 429s {run['share_429']:6.2%}, {run['requests_per_order']:.2f} requests/order,"
        f" lost {run['lost']}"
    )


def main() -> None:
    """Run the strategies and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=800)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--per", type=float, default=1.0)
    parser.add_argument("--competing", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="server latency, seconds")
    parser.add_argument("--strategy", action="append", choices=list(STRATEGIES))
    args = parser.parse_args()
    window = RateWindow(requests=args.requests, per=args.per)
    conditions = Conditions(args.competing, args.latency)
    for name in args.strategy or STRATEGIES:
        print(describe(asyncio.run(measure(name, args.orders, window, conditions))))


if __name__ == "__main__":
    main()
