"""The demo: a short run against the embedded sandbox ends as expected and prints its summary."""

from __future__ import annotations

import asyncio
import io
import re
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.table import Table

from b2b_async import (
    B2BClient,
    B2BError,
    BulkReport,
    ClientStats,
    CreatedOrder,
    NewOrder,
    NotFoundError,
    OrderOutcome,
    RetryPolicy,
    ServerError,
    TransportError,
    _demo,
)
from b2b_async._demo import (
    DEMO_FAULTS,
    DEMO_WINDOW,
    UNKNOWN_COMPANY,
    DemoRun,
    DemoSettings,
    as_expected,
    budget_rows,
    demo_orders,
    outcome_rows,
    percentile,
    reached_store,
    register_all,
    register_beforehand,
    requests_per_window,
    reset_before_read,
    run_demo,
    standard_output,
    summary_table,
    webhook_order,
    webhooks,
)
from b2b_async.sandbox import DEFAULT_TOKEN, Faults, SandboxServer


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


async def test_a_failed_webhook_order_makes_the_demo_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every bulk order as expected but a webhook order rejected: the demo reports failure."""
    monkeypatch.setattr(
        _demo, "webhook_order", lambda number: NewOrder("9999", "1", f"HOOK-{number}", "1")
    )
    output = io.StringIO()
    settings = DemoSettings(orders=20, unknown_company=1, registered_before=0, competing=30)
    assert await run_demo(settings, console=Console(file=output, width=400)) is False
    text = output.getvalue()
    assert "20 orders to register; 1 of them name company 9999" in text
    assert "unexpected outcome" in text


def demo_page_text() -> str:
    """The ``demo`` section of the command-line page, its lines joined by single spaces."""
    page = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
    section = page.read_text(encoding="utf-8").split("\n## demo\n")[1].split("\n## ")[0]
    return " ".join(section.split())


def test_the_cli_page_gives_the_faults_the_demo_switches_on() -> None:
    """The command-line page's demo section gives the faults the demo injects as the demo
    prints them, and in words its latency and its hangs with their durations."""
    text, faults = demo_page_text(), DEMO_FAULTS
    assert f" {faults} " in text
    assert f"{faults.latency:.0%} of answers {faults.latency_seconds:g} seconds late" in text
    assert f"{faults.hang:.1%} of hangs of {faults.hang_seconds:g} seconds" in text


def test_the_cli_page_gives_the_demo_s_budget_and_orders() -> None:
    """The command-line page's demo section gives the demo's window, the competing share,
    and how many orders it registers, beforehand, and for the unknown company."""
    text, settings = demo_page_text(), DemoSettings()
    unknown = sum(1 for order in demo_orders(settings) if order.company_id == UNKNOWN_COMPANY)
    for figure in (
        f"budget of {DEMO_WINDOW.requests} requests per window but windows of"
        f" {DEMO_WINDOW.per:g} seconds",
        f"spending {settings.competing} requests of each window",
        f"the first {settings.registered_before} of its {settings.orders} orders",
        f"{unknown} others name a company",
    ):
        assert figure in text


async def test_register_beforehand_registers_the_first_orders_but_the_unknown_company_s() -> None:
    """The orders registered beforehand are the first ones, the unknown company's left out."""
    settings = DemoSettings(orders=20, unknown_company=1, registered_before=8)
    async with SandboxServer(rate=None) as server:
        async with B2BClient(DEFAULT_TOKEN, base_url=server.url, rate_limit=None) as client:
            await register_beforehand(client, settings, Console(file=io.StringIO()))
        assert sorted(server.orders) == [f"DEMO-{index:05d}" for index in range(7)]


async def test_register_beforehand_counts_only_the_orders_it_registered() -> None:
    """Among the first orders, the unknown company's is neither registered nor counted: of
    the first 8, it registers 7, says so, and returns that count."""
    settings = DemoSettings(orders=20, unknown_company=1, registered_before=8)
    output = io.StringIO()
    async with SandboxServer(rate=None) as server:
        async with B2BClient(DEFAULT_TOKEN, base_url=server.url, rate_limit=None) as client:
            count = await register_beforehand(client, settings, Console(file=output))
        assert count == len(server.orders) == 7
    assert output.getvalue().startswith("7 of the orders registered beforehand")


async def test_the_summary_counts_beforehand_only_the_orders_registered_then(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the unknown company's order among the first ones, the demo's summary counts as
    registered beforehand only the valid ones, which were."""
    runs: list[DemoRun] = []

    def kept(run: DemoRun, competing: int) -> Table:
        runs.append(run)
        return summary_table(run, competing)

    monkeypatch.setattr(_demo, "summary_table", kept)
    output = io.StringIO()
    settings = DemoSettings(orders=20, unknown_company=1, registered_before=8)
    assert await run_demo(settings, console=Console(file=output, width=400)) is True
    assert [run.registered_before for run in runs] == [7]
    assert "7 of the orders registered beforehand" in output.getvalue()


def report_of(*errors: B2BError | None) -> BulkReport[NewOrder, CreatedOrder]:
    """A report with one outcome per entry: created for ``None``, else failed with it."""
    order = NewOrder(None, "1", "DEMO-1", "1")
    return BulkReport(
        tuple(
            OrderOutcome(index, order, CreatedOrder("DEMO-1") if error is None else None, error)
            for index, error in enumerate(errors)
        )
    )


def test_as_expected_needs_no_failure_but_the_rejections_and_none_registered_twice() -> None:
    """The one unknown-company order rejected is as expected; an order also failing, or one
    registered twice, is not."""
    settings = DemoSettings(orders=20, unknown_company=1)
    unknown = NotFoundError("unknown company", status=404)
    assert as_expected(report_of(None, unknown), settings, []) is True
    assert as_expected(report_of(unknown, ServerError("down", status=500)), settings, []) is False
    assert as_expected(report_of(None, unknown), settings, ["DEMO-00001"]) is False


def test_the_demo_s_console_never_wraps_a_line_on_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal (here a narrow one), a line longer than its width is printed whole:
    the terminal wraps it, not the console."""
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("NO_COLOR", "1")
    line = " ".join(f"word{number}" for number in range(20))
    console = standard_output()
    assert console.is_terminal
    console.print(line)
    assert capsys.readouterr().out == f"{line}\n"


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


def already_registered_run(already: int, registered_before: int) -> DemoRun:
    """A run whose report holds ``already`` orders found already registered."""
    found = CreatedOrder("BC1", already_registered=True)
    outcomes = tuple(OrderOutcome(index, None, result=found) for index in range(already))
    return DemoRun(BulkReport(outcomes), ClientStats(), 1.0, (1,), registered_before)


@pytest.mark.parametrize(
    ("already", "explained"),
    [(8, "8: 6 registered beforehand, 2 whose"), (4, "4: 4 registered beforehand, 0 whose")],
)
def test_already_registered_splits_into_beforehand_and_replayed(
    already: int, explained: str
) -> None:
    """The orders found already registered are those registered beforehand, at most, and
    the rest, never fewer than none, whose lost answer was replayed."""
    rows = dict(outcome_rows(already_registered_run(already, registered_before=6)))
    assert rows["already registered"].startswith(explained)


def test_the_summary_has_no_header_row() -> None:
    """The summary is a list of named rows under its title: no column header."""
    output = io.StringIO()
    Console(file=output, width=400).print(summary_table(already_registered_run(1, 1), 30))
    first_row = output.getvalue().splitlines()[2]
    assert first_row.split()[1:2] == ["created"], output.getvalue()


def test_budget_rows_name_the_busiest_window() -> None:
    """The windows row counts the windows and names the most requests any one of them got."""
    run = DemoRun(BulkReport(()), ClientStats(), 18.9, (20, 118, 117), 6)
    rows = dict(budget_rows(run, competing=30))
    assert rows["windows"] == "3, at most 118 requests in one"


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


async def test_windows_skip_requests_reset_before_read_and_open_at_their_end() -> None:
    """A request reset before the store read it is in no window, only in the reset count;
    a request exactly ``per`` seconds after a window opened opens the next one."""
    now = [100.0]
    async with SandboxServer(rate=None, clock=lambda: now[0]) as server:
        retry = RetryPolicy(attempts=1)
        async with B2BClient(DEFAULT_TOKEN, base_url=server.url, rate_limit=None, retry=retry) as c:
            await c.orders.register(webhook_order(1))
            now[0] = 101.0
            server.faults = Faults(reset_before=1.0)
            with pytest.raises(TransportError):
                await c.orders.register(webhook_order(2))
            server.faults = Faults()
            now[0] = 106.0  # the first window's end: DEMO_WINDOW.per after it opened
            await c.orders.register(webhook_order(3))
        assert requests_per_window(server) == (1, 1)
        assert reset_before_read(server) == 1


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


async def test_the_progress_rate_is_the_orders_done_per_second_since_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The progress line's rate is the orders done over the seconds since the run started,
    and the run's seconds are those from its start to its end."""
    ticks = iter([100.0, 100.25, 100.5, 100.75])  # start, each order, end
    monkeypatch.setattr(_demo, "time", types.SimpleNamespace(monotonic=lambda: next(ticks)))
    output = io.StringIO()
    settings = DemoSettings(orders=2, unknown_company=1, registered_before=0)
    async with SandboxServer(rate=None) as server:
        async with B2BClient(DEFAULT_TOKEN, base_url=server.url, rate_limit=None) as client:
            console = Console(file=output, width=200)
            report, elapsed = await register_all(client, settings, console)
    assert len(report.succeeded) == 2
    assert elapsed == pytest.approx(0.75)
    assert re.search(r"2/2 4\.0 orders/s", output.getvalue()), output.getvalue()


async def test_the_demo_registers_some_orders_beforehand_and_reports_on_standard_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without a console of its own the demo reports on standard output, and the orders
    it registered beforehand are found already registered by the bulk run."""
    settings = DemoSettings(orders=20, unknown_company=1, registered_before=3, competing=30)
    assert await run_demo(settings) is True
    text = capsys.readouterr().out
    assert "3 of the orders registered beforehand" in text
    assert re.search(r"already registered\W+\d+: 3 registered beforehand", text), text


async def test_the_demo_switches_its_faults_on_after_registering_beforehand(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sandbox starts with the demo's window, competing share and seed and no fault; the
    orders registered beforehand meet none, and the bulk run meets the demo's faults."""
    servers: list[SandboxServer] = []
    made: list[dict[str, object]] = []
    seen: list[Faults] = []

    class Recorded(SandboxServer):
        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            servers.append(self)
            made.append(options)

    async def beforehand(client: B2BClient, settings: DemoSettings, console: Console) -> int:
        seen.append(servers[0].faults)
        return await register_beforehand(client, settings, console)

    async def bulk(client: B2BClient, settings: DemoSettings, console: Console) -> Any:
        seen.append(servers[0].faults)
        return await register_all(client, settings, console)

    monkeypatch.setattr(_demo, "SandboxServer", Recorded)
    monkeypatch.setattr(_demo, "register_beforehand", beforehand)
    monkeypatch.setattr(_demo, "register_all", bulk)
    settings = DemoSettings(orders=20, unknown_company=1, registered_before=2, seed=7)
    await run_demo(settings, console=Console(file=io.StringIO(), width=400))
    assert [server.rate for server in servers] == [DEMO_WINDOW]
    assert [(options["competing"], options["seed"]) for options in made] == [(30, 7)]
    assert seen == [Faults(), DEMO_FAULTS]


async def test_an_unexpected_bulk_outcome_makes_the_demo_fail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every webhook order registered, but a bulk order rejected that names a known company:
    the demo reports an unexpected outcome and fails."""

    def with_an_unknown_customer(settings: DemoSettings) -> Iterator[NewOrder]:
        yield from demo_orders(settings)
        yield NewOrder(None, "99999", "DEMO-LOST", "1")

    monkeypatch.setattr(_demo, "demo_orders", with_an_unknown_customer)
    output = io.StringIO()
    settings = DemoSettings(orders=20, unknown_company=1, registered_before=0, competing=30)
    assert await run_demo(settings, console=Console(file=output, width=400)) is False
    assert "unexpected outcome: registered twice [], failed 2" in output.getvalue()


async def test_an_order_registered_twice_makes_the_demo_fail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An order the sandbox counts as registered twice makes the demo fail, naming it."""

    class Twice(SandboxServer):
        def registrations(self, order_id: str | int) -> int:
            count = super().registrations(order_id)
            return 2 if order_id == "DEMO-00003" and count else count

    monkeypatch.setattr(_demo, "SandboxServer", Twice)
    output = io.StringIO()
    settings = DemoSettings(orders=20, unknown_company=1, registered_before=0, competing=30)
    assert await run_demo(settings, console=Console(file=output, width=400)) is False
    assert "unexpected outcome: registered twice ['DEMO-00003'], failed 1" in output.getvalue()


async def test_reached_store_keeps_an_order_s_first_request_when_it_is_sent_again() -> None:
    """An order sent again after its first request reached the store is measured from its
    call to that first request, not to the later one."""
    async with SandboxServer(rate=None) as server:
        async with B2BClient(DEFAULT_TOKEN, base_url=server.url, rate_limit=None) as client:
            started = {"HOOK-0001": time.monotonic()}
            await client.orders.register(webhook_order(1), priority="urgent")
            with pytest.raises(B2BError):  # already registered: refused
                await client.orders.register(webhook_order(1))
        first, again = (record.received_at for record in server.requests)
        waits = reached_store(server, started)
    assert again > first
    assert waits == {"HOOK-0001": first - started["HOOK-0001"]}


def test_as_expected_needs_the_unknown_company_s_order_rejected() -> None:
    """No order failing is not as expected when the unknown company's order, which B2B
    Edition must refuse, was not rejected."""
    settings = DemoSettings(orders=20, unknown_company=1)
    assert as_expected(report_of(None, None), settings, []) is False
