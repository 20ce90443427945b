"""The demo: a short run against the embedded sandbox ends as expected and prints its summary."""

from __future__ import annotations

import asyncio
import io
import re
import time

import pytest
from rich.console import Console

from b2b_async import B2BClient, BulkReport, ClientStats
from b2b_async._demo import (
    DemoRun,
    DemoSettings,
    budget_rows,
    percentile,
    reached_store,
    run_demo,
    standard_output,
    summary_table,
    webhook_order,
    webhooks,
)
from b2b_async.sandbox import DEFAULT_TOKEN, SandboxServer


async def test_demo_registers_valid_orders_once_and_prints_the_summary() -> None:
    """A short demo run: every valid order registered once, the unknown company rejected."""
    output = io.StringIO()
    settings = DemoSettings(orders=60, unknown_company=3, registered_before=3, competing=30)
    assert await run_demo(settings, console=Console(file=output, width=400)) is True
    text = output.getvalue()
    assert "b2b-async demo: summary" in text
    assert re.search(r"rejected\W+3\b", text), text
    assert "every valid order is registered exactly once" in text
    assert re.search(r"urgent\W+\d+ webhook orders during the backfill, 0 failed", text), text
    assert re.search(r"p50 \d+ ms, p99 \d+ ms, against a pacing interval of 40 ms", text), text
    requests = re.search(r"requests\W+\d+ sent .*?; (\d+) reached the store", text)
    rate = re.search(r"rate\W+[\d.]+/s: the (\d+) requests that reached the store", text)
    assert requests is not None, text
    assert rate is not None, text
    assert requests.group(1) == rate.group(1)


def test_budget_rows_rate_is_that_of_the_requests_shown_to_reach_the_store() -> None:
    """The rate divides the count of requests that reached the store, which the table shows
    beside the client's count of requests sent (those reset before reading included)."""
    stats = ClientStats(requests=382, retries=38)
    run = DemoRun(BulkReport(()), stats, 18.9, (118, 117, 117, 20), 6, reset_before=10)
    rows = dict(budget_rows(run, competing=30))
    assert rows["requests"] == (
        "382 sent (38 retries, 0 answered 429); 372 reached the store, 10 were reset"
        " before it read them"
    )
    assert rows["rate"].startswith(
        "15.5/s: the 372 requests that reached the store, over the 4 windows used (24 s),"
        " within the 20.0/s allowed"
    )


def test_percentile_is_the_nearest_rank_of_sorted_waits() -> None:
    """p50 and p99 of 1..100 ms are 50.5 and 99.01 ms; one wait is its own percentile."""
    waits = [index / 1000 for index in range(1, 101)]
    assert percentile(waits, 0.50) == pytest.approx(0.0505)
    assert percentile(waits, 0.99) == pytest.approx(0.09901)
    assert percentile([0.2], 0.99) == 0.2


async def test_reached_store_measures_each_order_from_its_call_to_its_first_request() -> None:
    """A webhook order's wait ends when its first request reaches the store, not a retry."""
    async with SandboxServer(rate=None) as server:
        async with B2BClient(DEFAULT_TOKEN, base_url=server.url, rate_limit=None) as client:
            started = {"HOOK-0001": time.monotonic()}
            await client.orders.register(webhook_order(1), priority="urgent")
            await client.orders.register(webhook_order(2))
        first = server.requests[0].received_at
        waits = reached_store(server, started)
    assert waits == {"HOOK-0001": pytest.approx(first - started["HOOK-0001"])}
    assert waits["HOOK-0001"] >= 0


async def test_a_cancellation_as_the_webhooks_stop_still_cancels() -> None:
    """Cancelled as its block ends, while the webhook announcer stops, the task ends
    cancelled once the orders announced are done, instead of going on."""
    async with SandboxServer(rate=None) as server:
        async with B2BClient(DEFAULT_TOKEN, base_url=server.url, rate_limit=None) as client:
            went_on = False

            async def demo() -> None:
                nonlocal went_on
                failed: list[str] = []
                this = asyncio.current_task()
                assert this is not None
                async with webhooks(client, DemoSettings(webhook_every=60.0), {}, failed):
                    await asyncio.sleep(0)  # the first webhook order is announced
                    this.cancel()  # delivered as the announcer stops
                went_on = True

            task = asyncio.create_task(demo())
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not went_on
            assert server.registrations("HOOK-0000") == 1


def test_the_demo_s_console_never_cuts_a_line_for_a_pipe(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Printed to a pipe (no terminal, no width), a line longer than 80 columns, such as the
    fault list the demo announces, stays one line."""
    for variable in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(variable, raising=False)
    spec = ",".join(f"fault{number}=0.02" for number in range(20))
    standard_output().print(f"faults: {spec}")
    assert capsys.readouterr().out == f"faults: {spec}\n"


def test_the_demo_s_summary_keeps_its_rows_whole_in_a_pipe(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every row of the summary, the long urgent one among them, is laid out on one line
    when standard output is a pipe (no variable making Rich take it for a terminal)."""
    for variable in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(variable, raising=False)
    stats = ClientStats(requests=382, retries=38)
    run = DemoRun(
        BulkReport(()),
        stats,
        18.9,
        (118, 117, 117, 20),
        6,
        urgent_waits=(0.012, 0.034, 0.5),
        urgent_failed=0,
        reset_before=10,
    )
    standard_output().print(summary_table(run, competing=30))
    lines = capsys.readouterr().out.splitlines()
    urgent = [line for line in lines if "webhook orders during the backfill" in line]
    assert len(urgent) == 1
    assert "waits for the window to reset)" in urgent[0]
