"""The demo: a bulk registration against the embedded sandbox, faults and limits included."""

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
from ._register import status_of
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
    window = DEMO_WINDOW
    async with SandboxServer(
        rate=window, faults=Faults(), competing=settings.competing, seed=settings.seed
    ) as server:
        console.print(
            f"sandbox at [bold]{server.url}[/]: {window.requests} requests per {window.per:g} s"
            f" (the real 150/min, 10x faster), {settings.competing} of each window spent by"
            f" another integration"
        )
        client = B2BClient(
            DEFAULT_TOKEN,
            base_url=server.url,
            rate_limit=RateLimit(requests=window.requests, per=window.per),
            retry=RetryPolicy(attempts=6, initial_wait=0.2, max_wait=2.0),
            timeout=2.0,
            user_agent="b2b-async-demo",
        )
        async with client:
            for order in list(demo_orders(settings))[: settings.registered_before]:
                if order.company_id is None:
                    await client.orders.register(order)
            console.print(
                f"{settings.registered_before} orders were registered by an earlier run;"
                f" faults on: {DEMO_FAULTS}"
            )
            server.faults = DEMO_FAULTS
            report, elapsed = await _register_all(client, settings, console)
            budget = window.requests - settings.competing
            console.print(summary_table(report, client, elapsed, budget / window.per))
        twice = [oid for oid in server.orders if server.registrations(oid) > 1]
    expected_rejected = sum(1 for order in demo_orders(settings) if order.company_id == "9999")
    rejected = sum(1 for outcome in report.outcomes if status_of(outcome) == "rejected")
    ok = not twice and rejected == expected_rejected and len(report.failed) == rejected
    console.print(
        "[green]every valid order is registered exactly once[/]"
        if ok
        else f"[red]unexpected outcome: registered twice {twice}, failed {len(report.failed)}[/]"
    )
    return ok


async def _register_all(
    client: B2BClient, settings: DemoSettings, console: Console
) -> tuple[BulkReport[Any, Any], float]:
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
