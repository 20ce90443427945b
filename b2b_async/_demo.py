"""The demo (``b2b-async demo``, ``make demo``): a bulk registration against the embedded sandbox.

The sandbox runs in-process with the store's real budget (ten times faster), injected faults
and a competing integration; a few hundred orders go through ``client.orders.create_many``
with a progress bar, and a summary table shows what happened. The demo succeeds when every
valid order is registered exactly once and only the unknown-company ones are rejected.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, Final

import attrs
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ._bulk import BulkReport, OrderOutcome
from ._client import B2BClient
from ._config import RateLimit, RetryPolicy
from ._journal import status_of
from ._v2_models import NewOrder
from .sandbox import DEFAULT_TOKEN, Faults, RateWindow, SandboxServer

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


@attrs.frozen
class DemoSettings:
    """What the demo runs: orders, unknown-company orders, a competing integration."""

    orders: int = 300
    unknown_company: int = 6
    registered_before: int = 6
    competing: int = 30
    seed: int = 2026


def demo_orders(settings: DemoSettings) -> Iterator[NewOrder]:
    """The orders of the demo: most valid, a few for a company B2B Edition does not know."""
    for index in range(settings.orders):
        customer = index % 1000 + 1
        company = 9999 if index % (settings.orders // settings.unknown_company) == 7 else None
        total = Decimal(100 + index % 250) + Decimal("0.99")
        yield NewOrder(company, customer, f"DEMO-{index:05d}", total, f"PO-{index}")


def summary_table(
    report: BulkReport[Any, Any], client: B2BClient, elapsed: float, allowed: float
) -> Table:
    """The end-of-run table."""
    counts = Counter(status_of(outcome) for outcome in report.outcomes)
    stats = client.stats
    table = Table(title="b2b-async demo: summary", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    for status in ("created", "already_registered", "rejected", "failed"):
        table.add_row(status.replace("_", " "), str(counts.get(status, 0)))
    table.add_row("requests sent", str(stats.requests))
    table.add_row("retries", str(stats.retries))
    table.add_row("429s met", str(stats.rate_limited))
    table.add_row("elapsed", f"{elapsed:.1f} s")
    table.add_row("requests per second", f"{stats.requests / elapsed:.1f}")
    table.add_row("allowed per second", f"{allowed:.1f} (after the other integration)")
    return table


async def run_demo(settings: DemoSettings = DemoSettings(), console: Console | None = None) -> bool:
    """Run the demo and print its summary.

    Returns:
        Whether every order ended as expected: valid ones registered, unknown-company
        ones rejected, nothing lost.
    """
    console = console or Console()
    async with SandboxServer(
        rate=DEMO_WINDOW, faults=Faults(), competing=settings.competing, seed=settings.seed
    ) as server:
        announce(server, settings, console)
        async with demo_client(server.url) as client:
            await register_earlier_run(client, settings, console)
            server.faults = DEMO_FAULTS
            report, elapsed = await register_all(client, settings, console)
            allowed = (DEMO_WINDOW.requests - settings.competing) / DEMO_WINDOW.per
            console.print(summary_table(report, client, elapsed, allowed))
        twice = [oid for oid in server.orders if server.registrations(oid) > 1]
    ok = as_expected(report, settings, twice)
    console.print(
        "[green]every valid order is registered exactly once[/]"
        if ok
        else f"[red]unexpected outcome: registered twice {twice}, failed {len(report.failed)}[/]"
    )
    return ok


def announce(server: SandboxServer, settings: DemoSettings, console: Console) -> None:
    """Say where the sandbox listens and what budget the demo has."""
    console.print(
        f"sandbox at [bold]{server.url}[/]: {DEMO_WINDOW.requests} requests per"
        f" {DEMO_WINDOW.per:g} s (the real 150/min, 10x faster), {settings.competing} of each"
        " window spent by another integration"
    )


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


async def register_earlier_run(client: B2BClient, settings: DemoSettings, console: Console) -> None:
    """Register the first few orders before the run, as an earlier run would have."""
    for order in list(demo_orders(settings))[: settings.registered_before]:
        if order.company_id is None:
            await client.orders.register(order)
    console.print(
        f"{settings.registered_before} orders were registered by an earlier run;"
        f" faults on: {DEMO_FAULTS}"
    )


def as_expected(report: BulkReport[Any, Any], settings: DemoSettings, twice: list[str]) -> bool:
    """Whether no order was registered twice and only the unknown-company ones failed."""
    expected_rejected = sum(1 for order in demo_orders(settings) if order.company_id == "9999")
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
