"""Urgent during backfill: single creates while a large backfill runs in the same process.

A service registers orders from a webhook while a backfill runs through the same client.
Against the sandbox's time-scaled window (40 requests per second standing for the store's 150
per minute), a backfill of 2,000 orders starts, and from half a second later one
default-priority ``client.orders.create(...)`` is made every 0.5 s until the backfill ends.
Three ways:

* ``create_many``: the backfill is ``client.orders.create_many(...)`` (bulk by default);
* ``gathered``: the backfill is an ``asyncio.gather`` of creates started inside
  ``with client.priority("bulk"):``;
* ``competent``: the competent hand-written baseline of :mod:`bench.baseline` (one session,
  one ``AsyncLimiter``, tenacity honouring ``Retry-After``) for both; it has no priorities.

For the single creates it measures the wait: from the call to its return (the call's time,
which includes one server latency; in pacing intervals, the time beyond that latency), and
from the call to the moment the sandbox received it (the wait for budget). Over the whole
run: the share of the window's budget spent, the share of 429 answers, and the orders lost
or registered twice.

Usage: ``python -m bench.urgent [--orders 2000] [--every 0.5] [--latency 0]
[--mode create_many|gathered|competent ...]``
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any, Final

import attrs

from b2b_async import B2BClient, NewOrder, RateLimit
from b2b_async.sandbox import DEFAULT_TOKEN, Faults, RateWindow, RequestRecord, SandboxServer
from bench.baseline import competent_client
from bench.budget import efficiency, windows
from bench.ratelimit import in_flight_cap, order_id

MODES: Final = ("create_many", "gathered", "competent")


@attrs.frozen
class Targets:
    """The acceptance targets of an urgent-during-backfill scenario.

    Attributes:
        p99_intervals: the single creates' p99 call time, in pacing intervals over the
            server's latency.
        efficiency: the least share of the budget spent over the whole run.
        share_429: the largest share of requests answered 429, if the scenario sets one.
    """

    p99_intervals: float = 3.0
    efficiency: float = 0.97
    share_429: float | None = 0.005

    def p99_limit(self, interval: float, latency: float) -> float:
        """The longest p99 call time allowed: so many pacing intervals plus the latency."""
        return self.p99_intervals * interval + latency

    def met(self, run: dict[str, Any], interval: float, latency: float) -> dict[str, bool]:
        """Whether a run of :func:`measure` meets each target, by name."""
        return {
            "p99": run["call"]["p99"] <= self.p99_limit(interval, latency),
            "efficiency": run["efficiency"] >= self.efficiency,
            "share_429": self.share_429 is None or run["share_429"] <= self.share_429,
            "lost": run["lost"] == 0 and run["duplicated"] == 0,
        }


#: The targets in one process (a backfill and single creates on one client).
TARGETS: Final = Targets()
#: The targets across three processes sharing Redis (one urgent, two backfilling).
ACROSS_PROCESSES: Final = Targets(p99_intervals=5.0, efficiency=0.95, share_429=None)


def met_across(figures: dict[str, Any], targets: Targets = ACROSS_PROCESSES) -> dict[str, bool]:
    """Whether the figures of :func:`bench.multiprocess.urgent_across_processes` meet each
    target, by name: the urgent calls' p99 call time, the combined efficiency, nothing lost."""
    limit = targets.p99_limit(figures["interval_s"], figures["latency_s"])
    return {
        "p99": figures["urgent_call_p99_s"] <= limit,
        "efficiency": figures["efficiency"] >= targets.efficiency,
        "lost": figures["lost"] == 0 and figures["duplicated"] == 0,
    }


@attrs.frozen
class Scenario:
    """One backfill and the single creates made beside it.

    Attributes:
        orders: the backfill's orders.
        window: the store's window, time-scaled.
        every: seconds between two single creates.
        latency: seconds the server takes before answering each request.
    """

    orders: int = 2000
    window: RateWindow = attrs.field(factory=lambda: RateWindow(40, 1.0))
    every: float = 0.5
    latency: float = 0.0

    @property
    def interval(self) -> float:
        """The pacing interval: the window's length over its requests."""
        return self.window.per / self.window.requests

    def faults(self) -> Faults:
        """The sandbox's faults: every request delayed by ``latency``."""
        return Faults(latency=1.0, latency_seconds=self.latency) if self.latency else Faults()


@attrs.frozen
class Timed:
    """One single create: its order id, when it was called and returned, whether it worked."""

    order: str
    started: float
    ended: float
    ok: bool


def single_id(number: int) -> str:
    """The order id of single create number ``number`` (apart from the backfill's ``BC...``)."""
    return f"WH{number}"


def new_order(order: str) -> NewOrder:
    """The registration of ``order`` for the sandbox's company 1 and buyer 1, as
    :func:`client_create` sends it."""
    return NewOrder(1, 1, order, Decimal(9))


Create = Callable[[str], Awaitable[object]]


async def timed(create: Create, order: str) -> Timed:
    """Run one create and note when it started and ended; a failure is noted, not raised."""
    started = time.monotonic()
    try:
        await create(order)
    except Exception:
        return Timed(order, started, time.monotonic(), ok=False)
    return Timed(order, started, time.monotonic(), ok=True)


async def send_singles(create: Create, every: float, until: asyncio.Future[Any]) -> list[Timed]:
    """One create every ``every`` seconds, from ``every`` after the start until ``until`` ends."""
    tasks: list[asyncio.Task[Timed]] = []
    while not until.done():
        await asyncio.wait([until], timeout=every)
        if not until.done():
            tasks.append(asyncio.create_task(timed(create, single_id(len(tasks)))))
    return list(await asyncio.gather(*tasks))


def client_create(client: B2BClient) -> Create:
    """A default-priority single create through ``client``."""

    async def create(order: str) -> object:
        return await client.orders.create(
            company_id=1, customer_id=1, order_id=order, total_inc_tax=Decimal(9)
        )

    return create


def backfill_create_many(client: B2BClient, orders: int) -> asyncio.Future[Any]:
    """The backfill as ``create_many`` (bulk by default), started as a task."""
    inputs = (new_order(order_id(i)) for i in range(orders))
    return asyncio.ensure_future(client.orders.create_many(inputs))


def backfill_gathered(client: B2BClient, orders: int) -> asyncio.Future[Any]:
    """The backfill as a gather of creates started inside ``client.priority("bulk")``.

    ``gather`` wraps each create in a task at once, inside the context, so every one of them
    inherits the bulk priority; the single creates, started outside it, keep the default.
    """
    create = client_create(client)
    with client.priority("bulk"):
        creates = (create(order_id(i)) for i in range(orders))
        return asyncio.gather(*creates, return_exceptions=True)


BACKFILLS: Final[dict[str, Callable[[B2BClient, int], asyncio.Future[Any]]]] = {
    "create_many": backfill_create_many,
    "gathered": backfill_gathered,
}


@asynccontextmanager
async def backfill_and_create(
    mode: str, url: str, scenario: Scenario
) -> AsyncIterator[tuple[asyncio.Future[Any], Create]]:
    """The running backfill of ``mode`` and the single create beside it, on one client."""
    if mode == "competent":
        async with competent_client(url, scenario.window) as baseline:
            creates = (baseline.create(order_id(i)) for i in range(scenario.orders))
            yield asyncio.gather(*creates, return_exceptions=True), baseline.create
        return
    limit = RateLimit(scenario.window.requests, scenario.window.per)
    cap = in_flight_cap(scenario.window, scenario.latency)
    async with B2BClient(
        DEFAULT_TOKEN, base_url=url, rate_limit=limit, max_concurrency=cap
    ) as client:
        yield BACKFILLS[mode](client, scenario.orders), client_create(client)


async def observe(mode: str, scenario: Scenario) -> tuple[list[Timed], list[RequestRecord], float]:
    """Run the scenario once; the single creates, every request the server saw, the run's time."""
    async with SandboxServer(rate=scenario.window, faults=scenario.faults()) as server:
        started = time.monotonic()
        async with backfill_and_create(mode, server.url, scenario) as (backfill, create):
            singles = await send_singles(create, scenario.every, backfill)
            await backfill
        return singles, server.requests, time.monotonic() - started


def percentile(values: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile: the least value with ``percent``% of them at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def arrivals(records: list[RequestRecord]) -> dict[str, float]:
    """When the server first received a request for each order id."""
    first: dict[str, float] = {}
    for record in records:
        order = record.body.get("orderId") if isinstance(record.body, dict) else None
        if order is not None:
            first.setdefault(str(order), record.received_at)
    return first


def waits(singles: list[Timed], records: list[RequestRecord]) -> dict[str, list[float]]:
    """Each single create's call time, and its wait until the server first received it."""
    received = arrivals(records)
    return {
        "call": [s.ended - s.started for s in singles],
        "budget": [received[s.order] - s.started for s in singles if s.order in received],
    }


#: The figures :func:`spread` gives.
SPREAD_KEYS: Final = ("p50", "p99", "max", "p50_intervals", "p99_intervals", "max_intervals")


def spread(values: Sequence[float], interval: float, beyond: float = 0.0) -> dict[str, float]:
    """p50, p99 and the largest of ``values``, in seconds and in pacing intervals.

    The intervals count the time beyond ``beyond`` seconds (the server's latency, for call
    times), so that they compare directly with a target of so many intervals plus latency.
    All are ``nan`` when there are no values (the backfill ended before the first single).
    """
    if not values:
        return dict.fromkeys(SPREAD_KEYS, math.nan)
    found = {"p50": percentile(values, 50), "p99": percentile(values, 99), "max": max(values)}
    return found | {f"{key}_intervals": (value - beyond) / interval for key, value in found.items()}


def registrations(records: list[RequestRecord], expected: list[str]) -> dict[str, int]:
    """Orders that no request registered, and orders registered more than once."""
    counts = collections.Counter(record.registered for record in records)
    return {
        "lost": sum(1 for order in expected if not counts[order]),
        "duplicated": sum(1 for order in expected if counts[order] > 1),
    }


def whole_run(records: list[RequestRecord], scenario: Scenario) -> dict[str, Any]:
    """The budget spent and the 429s over every request of the run, singles included."""
    rejected = sum(1 for record in records if record.status == 429)
    allowed = scenario.window.requests / scenario.window.per
    found = windows(records, scenario.window)
    return {
        "requests": len(records),
        "rejected_429": rejected,
        "share_429": rejected / len(records) if records else 0.0,
        "efficiency": efficiency(found, allowed, scenario.window.per),
    }


async def measure(mode: str, scenario: Scenario) -> dict[str, Any]:
    """Run one mode of the scenario; its figures for ``results.json``."""
    singles, records, elapsed = await observe(mode, scenario)
    found = waits(singles, records)
    expected = [order_id(i) for i in range(scenario.orders)] + [s.order for s in singles]
    return {
        "mode": mode,
        "elapsed": elapsed,
        "singles": len(singles),
        "singles_failed": sum(1 for s in singles if not s.ok),
        "call": spread(found["call"], scenario.interval, scenario.latency),
        "budget_wait": spread(found["budget"], scenario.interval),
        "call_waits": [round(value, 4) for value in found["call"]],
        "started_at": [round(s.started - singles[0].started, 3) for s in singles],
        **whole_run(records, scenario),
        **registrations(records, expected),
    }


async def measure_all(
    scenario: Scenario,
    modes: Sequence[str] = MODES,
    progress: Callable[[dict[str, Any]], object] = lambda _: None,
) -> dict[str, Any]:
    """Every mode in turn, each against a fresh sandbox."""
    runs = []
    for mode in modes:
        runs.append(await measure(mode, scenario))
        progress(runs[-1])
    return {
        "orders": scenario.orders,
        "window": {"requests": scenario.window.requests, "per": scenario.window.per},
        "max_concurrency": in_flight_cap(scenario.window, scenario.latency),
        "every": scenario.every,
        "latency": scenario.latency,
        "interval": scenario.interval,
        "targets": attrs.asdict(TARGETS),
        "runs": runs,
    }


def describe(run: dict[str, Any], scenario: Scenario, targets: Targets = TARGETS) -> str:
    """A run's figures, each target's beside it with met or missed (none for the baseline)."""
    if not run["singles"]:
        return (
            f"{run['mode']:11} 0 singles: the backfill ended within {scenario.every:g} s,"
            " before the first single create; use more --orders"
        )
    call = run["call"]
    met = targets.met(run, scenario.interval, scenario.latency)
    limit = targets.p99_limit(scenario.interval, scenario.latency)
    most_429 = "none" if targets.share_429 is None else f"≤ {targets.share_429:.1%}"

    def verdict(name: str, text: str) -> str:
        if run["mode"] == "competent":
            return ""
        return f" [{text}: {'met' if met[name] else 'MISSED'}]"

    return (
        f"{run['mode']:11} {run['singles']} singles: p50 {call['p50']:.3f} s"
        f" (latency + {call['p50_intervals']:.1f} intervals), p99 {call['p99']:.3f} s"
        f" (latency + {call['p99_intervals']:.1f}){verdict('p99', f'≤ {limit:.3f} s')};"
        f" efficiency {run['efficiency']:.3f}{verdict('efficiency', f'≥ {targets.efficiency:g}')},"
        f" 429s {run['share_429']:.2%}{verdict('share_429', most_429)},"
        f" lost {run['lost']}, duplicated {run['duplicated']}{verdict('lost', '0')}"
    )


def main() -> None:
    """Run the scenario in each mode and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--every", type=float, default=0.5)
    parser.add_argument("--latency", type=float, default=0.0, help="server latency, seconds")
    parser.add_argument("--mode", action="append", choices=MODES)
    args = parser.parse_args()
    scenario = Scenario(orders=args.orders, every=args.every, latency=args.latency)
    modes = args.mode or MODES
    asyncio.run(measure_all(scenario, modes, lambda run: print(describe(run, scenario))))


if __name__ == "__main__":
    main()
