"""The demo (``b2b-async demo``, ``make demo``): a bulk registration against the embedded sandbox.

The sandbox runs in-process with the store's real budget (ten times faster), injected faults
and a competing integration; a few hundred orders go through ``client.orders.create_many``
with a progress bar, at bulk priority, while webhook-style orders arrive every half second
and are registered at urgent priority on the same client. A summary table shows what
happened, the urgent calls' waits beside the pacing interval. The demo succeeds when every
valid order is registered exactly once and only the unknown-company ones are rejected.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping
from decimal import Decimal
from typing import Any, Final

import attrs
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ._bulk import BulkReport, OrderOutcome
from ._client import B2BClient
from ._config import RateLimit, RetryPolicy
from ._exceptions import B2BError
from ._journal import status_of
from ._transport import ClientStats
from ._v2_models import NewOrder
from .sandbox import DEFAULT_TOKEN, FaultKind, Faults, RateWindow, SandboxServer

#: The store's real budget, 150 requests a minute, with time running ten times faster.
DEMO_WINDOW: Final = RateWindow(requests=150, per=6.0)
DEMO_FAULTS: Final = Faults(
    http_500=0.02,
    http_502=0.02,
    http_503=0.02,
    reset_before=0.02,
    reset_after=0.02,
    malformed=0.01,
    hang=0.005,
    latency=0.05,
    latency_seconds=0.3,
    hang_seconds=30.0,
)

#: The company of the demo's invalid orders: B2B Edition knows companies 1 to 100 only.
UNKNOWN_COMPANY: Final = "9999"


@attrs.frozen
class DemoSettings:
    """What the demo runs: orders, unknown-company orders, a competing integration."""

    orders: int = 300
    unknown_company: int = 6
    registered_before: int = 6
    competing: int = 30
    seed: int = 2026
    webhook_every: float = 0.5


def demo_orders(settings: DemoSettings) -> Iterator[NewOrder]:
    """The orders of the demo: most valid, a few for a company B2B Edition does not know."""
    for index in range(settings.orders):
        customer = index % 1000 + 1
        company = (
            UNKNOWN_COMPANY if index % (settings.orders // settings.unknown_company) == 7 else None
        )
        total = Decimal(100 + index % 250) + Decimal("0.99")
        yield NewOrder(company, customer, f"DEMO-{index:05d}", total, f"PO-{index}")


def webhook_order(number: int) -> NewOrder:
    """The ``number``-th order announced by the order-created webhook during the backfill."""
    return NewOrder(None, number % 1000 + 1, f"HOOK-{number:04d}", Decimal("49.99"), None)


@attrs.frozen
class DemoRun:
    """What one demo run did, for its summary.

    Args:
        report: the bulk run's report.
        stats: the client's counters at the end, the orders registered beforehand included.
        elapsed: the seconds the bulk run took.
        windows: how many requests reached the store's window in each window, in order.
        registered_before: how many orders were registered before the bulk run.
        urgent_waits: for each webhook order, the seconds from its call to its first
            request reaching the store.
        urgent_failed: the webhook orders whose registration failed.
        reset_before: the requests whose connection was reset before the store read them,
            which reached no window.
    """

    report: BulkReport[Any, Any]
    stats: ClientStats
    elapsed: float
    windows: tuple[int, ...]
    registered_before: int
    urgent_waits: tuple[float, ...] = ()
    urgent_failed: int = 0
    reset_before: int = 0


def requests_per_window(server: SandboxServer) -> tuple[int, ...]:
    """Count the requests that reached the store's window, window by window.

    The sandbox's window is fixed: it opens with the first request after the previous one
    closed and lasts ``per`` seconds. A request reset before it was read never reached it.
    """
    counts: list[int] = []
    opened: float | None = None
    for record in server.requests:
        if record.fault is FaultKind.RESET_BEFORE:  # counted by reset_before_read
            continue
        if opened is None or record.received_at >= opened + DEMO_WINDOW.per:
            opened = record.received_at
            counts.append(0)
        counts[-1] += 1
    return tuple(counts)


def reset_before_read(server: SandboxServer) -> int:
    """Count the requests whose connection was reset before the store read them."""
    return sum(1 for record in server.requests if record.fault is FaultKind.RESET_BEFORE)


def summary_table(run: DemoRun, competing: int) -> Table:
    """The end-of-run table: what became of the orders, and how the budget was spent."""
    table = Table(title="b2b-async demo: summary", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    rows = (*outcome_rows(run), *urgent_rows(run), *budget_rows(run, competing))
    for what, value in rows:
        table.add_row(what, value)
    return table


def outcome_rows(run: DemoRun) -> list[tuple[str, str]]:
    """The summary's rows about the orders: one per outcome, each saying why."""
    counts = Counter(status_of(outcome) for outcome in run.report.outcomes)
    already = counts["already_registered"]
    replayed = max(already - run.registered_before, 0)
    return [
        ("created", str(counts["created"])),
        (
            "already registered",
            f"{already}: {min(already, run.registered_before)} registered beforehand,"
            f" {replayed} whose lost answer was replayed",
        ),
        (
            "rejected",
            f"{counts['rejected']}: company {UNKNOWN_COMPANY} is unknown (404, not retried)",
        ),
        ("failed", str(counts["failed"])),
    ]


def urgent_rows(run: DemoRun) -> list[tuple[str, str]]:
    """The summary's row about the webhook orders registered at urgent priority."""
    waits = sorted(run.urgent_waits)
    if not waits:
        return []
    interval = DEMO_WINDOW.per / DEMO_WINDOW.requests
    return [
        (
            "urgent",
            f"{len(waits)} webhook orders during the backfill, {run.urgent_failed} failed;"
            f" from call to the store: p50 {percentile(waits, 0.50) * 1000:.0f} ms,"
            f" p99 {percentile(waits, 0.99) * 1000:.0f} ms, against a pacing interval of"
            f" {interval * 1000:.0f} ms and a backlog of hundreds of bulk orders (a call that"
            " arrives once a window's budget is spent waits for the window to reset)",
        )
    ]


def percentile(ordered: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of the sorted ``ordered`` lie (nearest rank)."""
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[round(fraction * 100) - 1]


def budget_rows(run: DemoRun, competing: int) -> list[tuple[str, str]]:
    """The summary's rows about the budget: what the store allowed, what the client used.

    The client's count of requests sent includes those reset before the store read them;
    the rate counts only the requests that reached the store's window, and says how many.
    """
    share = DEMO_WINDOW.requests - competing
    span = len(run.windows) * DEMO_WINDOW.per
    reached = sum(run.windows)
    return [
        (
            "budget",
            f"{share} per {DEMO_WINDOW.per:g} s window ({share / DEMO_WINDOW.per:.1f}/s):"
            f" {DEMO_WINDOW.requests}, less {competing} spent by another integration",
        ),
        (
            "requests",
            f"{run.stats.requests} sent ({run.stats.retries} retries, {run.stats.rate_limited}"
            f" answered 429); {reached} reached the store, {run.reset_before} were reset"
            " before it read them",
        ),
        (
            "windows",
            f"{len(run.windows)}, at most {max(run.windows, default=0)} requests in one",
        ),
        (
            "rate",
            f"{reached / span:.1f}/s: the {reached} requests that reached the store, over the"
            f" {len(run.windows)} windows used ({span:g} s), within the"
            f" {share / DEMO_WINDOW.per:.1f}/s allowed; the run itself took"
            f" {run.elapsed:.1f} s, stopping before its last window closed",
        ),
    ]


#: The width the demo's report is laid out in when standard output is no terminal: more
#: than any row of its summary holds, so that a pipe or a file keeps each one whole (a
#: table is as wide as its rows, never wider).
PIPE_WIDTH: Final = 1000


def standard_output() -> Console:
    """The demo's console: standard output, its lines never cut by the console, and its
    tables laid out at :data:`PIPE_WIDTH` when it is no terminal (a terminal wraps on its
    own)."""
    console = Console(soft_wrap=True)
    if not console.is_terminal:
        console.width = PIPE_WIDTH
    return console


async def run_demo(settings: DemoSettings = DemoSettings(), console: Console | None = None) -> bool:
    """Run the demo and print its summary.

    Returns:
        Whether every order ended as expected: valid ones registered, unknown-company
        ones rejected, nothing lost.
    """
    console = console or standard_output()
    async with SandboxServer(
        rate=DEMO_WINDOW, faults=Faults(), competing=settings.competing, seed=settings.seed
    ) as server:
        announce(server, settings, console)
        async with demo_client(server.url) as client:
            registered_before = await register_beforehand(client, settings, console)
            server.faults = DEMO_FAULTS
            started: dict[str, float] = {}
            failed: list[str] = []
            async with webhooks(client, settings, started, failed):
                report, elapsed = await register_all(client, settings, console)
        windows = requests_per_window(server)
        waits = tuple(reached_store(server, started).values())
        run = DemoRun(
            report,
            client.stats,
            elapsed,
            windows,
            registered_before,
            waits,
            len(failed),
            reset_before_read(server),
        )
        console.print(summary_table(run, settings.competing))
        twice = [oid for oid in server.orders if server.registrations(oid) > 1]
    ok = as_expected(report, settings, twice) and not failed
    console.print(
        "[green]every valid order is registered exactly once[/]"
        if ok
        else f"[red]unexpected outcome: registered twice {twice}, failed {len(report.failed)}[/]"
    )
    return ok


def announce(server: SandboxServer, settings: DemoSettings, console: Console) -> None:
    """Say where the sandbox listens and what budget the demo has."""
    unknown = sum(1 for order in demo_orders(settings) if order.company_id == UNKNOWN_COMPANY)
    console.print(
        f"sandbox at [bold]{server.url}[/]: {DEMO_WINDOW.requests} requests per"
        f" {DEMO_WINDOW.per:g} s (the real 150/min, 10x faster), {settings.competing} of each"
        f" window spent by another integration. {settings.orders} orders to register;"
        f" {unknown} of them name company {UNKNOWN_COMPANY}, which B2B Edition does not know."
    )


@contextlib.asynccontextmanager
async def webhooks(
    client: B2BClient, settings: DemoSettings, started: dict[str, float], failed: list[str]
) -> AsyncIterator[None]:
    """While the block runs, register a webhook order every ``webhook_every`` s, urgently.

    Each order's start time goes into ``started``; the ids of those that fail, into
    ``failed``. Leaving the block waits for the orders already announced.
    """
    calls: list[asyncio.Task[None]] = []

    async def register(order: NewOrder) -> None:
        started[order.order_id] = time.monotonic()
        try:
            await client.orders.register(order, priority="urgent")
        except B2BError:
            failed.append(order.order_id)

    async def announce() -> None:
        for number in itertools.count():
            calls.append(asyncio.create_task(register(webhook_order(number))))
            await asyncio.sleep(settings.webhook_every)

    announcer = asyncio.create_task(announce())
    try:
        yield
    finally:
        announcer.cancel()
        try:
            # Not `await announcer`: its cancellation would read as this task's, and a
            # cancellation of this task meanwhile would be taken for the announcer's.
            await asyncio.wait([announcer])
        finally:
            await asyncio.gather(*calls)


def reached_store(server: SandboxServer, started: Mapping[str, float]) -> dict[str, float]:
    """For each order of ``started``, the seconds until its first request reached the store."""
    reached: dict[str, float] = {}
    for record in server.requests:
        order_id = (record.body or {}).get("orderId")
        if isinstance(order_id, str) and order_id in started and order_id not in reached:
            reached[order_id] = record.received_at - started[order_id]
    return reached


def demo_client(url: str) -> B2BClient:
    """The demo's client: the sandbox's budget, quick retries, a short timeout."""
    return B2BClient(
        DEFAULT_TOKEN,
        base_url=url,
        rate_limit=RateLimit(requests=DEMO_WINDOW.requests, per=DEMO_WINDOW.per),
        retry=RetryPolicy(attempts=6, initial_wait=0.2, max_wait=2.0),
        timeout=2.0,
        user_agent="b2b-async-demo",
    )


async def register_beforehand(client: B2BClient, settings: DemoSettings, console: Console) -> int:
    """Register the first few orders before the bulk run, as an interrupted run would have.

    Of the first ``registered_before`` orders, those of the unknown company are left out:
    B2B Edition would refuse them.

    Returns:
        How many orders were registered.
    """
    first = list(demo_orders(settings))[: settings.registered_before]
    valid = [order for order in first if order.company_id is None]
    for order in valid:
        await client.orders.register(order)
    console.print(
        f"{len(valid)} of the orders registered beforehand, as an interrupted run would have"
        " left them: the bulk run counts them as already registered, a success."
        f"\nFaults injected from now on: {DEMO_FAULTS}"
    )
    return len(valid)


def as_expected(report: BulkReport[Any, Any], settings: DemoSettings, twice: list[str]) -> bool:
    """Whether no order was registered twice and only the unknown-company ones failed."""
    expected_rejected = sum(
        1 for order in demo_orders(settings) if order.company_id == UNKNOWN_COMPANY
    )
    rejected = sum(1 for outcome in report.outcomes if status_of(outcome) == "rejected")
    return not twice and rejected == expected_rejected and len(report.failed) == rejected


async def register_all(
    client: B2BClient, settings: DemoSettings, console: Console
) -> tuple[BulkReport[Any, Any], float]:
    """Register every demo order with a progress bar.

    Returns:
        The report, and the seconds the run took.
    """
    columns = (
        TextColumn("[bold]registering"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:.1f} orders/s"),
        TimeElapsedColumn(),
    )
    started = time.monotonic()
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("orders", total=settings.orders, rate=0.0)

        def advance(_: OrderOutcome[Any, Any]) -> None:
            done = progress.tasks[0].completed + 1
            rate = done / max(time.monotonic() - started, 1e-6)
            progress.update(task, advance=1, rate=rate)

        report = await client.orders.create_many(demo_orders(settings), on_progress=advance)
    return report, time.monotonic() - started
