"""The command line: in-process with CliRunner, and as a subprocess where signals are involved.

In-process tests are synchronous (each command calls ``asyncio.run``), so their servers run on
an event loop in a background thread. Subprocess tests are async and serve the sandbox on the
test's own loop while ``python -m b2b_async`` runs against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import http.client
import io
import json
import os
import pty
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TypeVar

import click
import pytest
from aiohttp import web
from click.testing import CliRunner, Result

from b2b_async import (
    APIConnectionError,
    AuthenticationError,
    B2BClient,
    B2BError,
    CreatedOrder,
    InvalidOrderError,
    NewOrder,
    NotFoundError,
    OrderOutcome,
    RateLimit,
    RateLimitError,
    ResponseDecodeError,
    RetryPolicy,
    ServerError,
    _cli,
)
from b2b_async._cli import (
    EXIT_CANNOT_CONNECT,
    EXIT_TOKEN_REFUSED,
    REDIS_KEY_PREFIX,
    Registration,
    cli,
    exit_code_for,
    exit_code_of_run,
    parse_rate_limit,
    rate_limit_text,
    registration_window,
    stop_message,
)
from b2b_async._journal import (
    InputFileError,
    Journal,
    JournalWriteError,
    count_rows,
    read_rows,
)
from b2b_async.sandbox import DEFAULT_STORE_HASH, DEFAULT_TOKEN, Faults, RateWindow, SandboxServer
from b2b_async.sandbox._envelope import V2
from tests.redis_helpers import REDIS_SERVER, SKIP_REASON, RedisServer
from tests.redis_helpers import free_port as free_redis_port

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HEADER = "company_id,customer_id,order_id,total_inc_tax,po_number\n"
TOKEN_ENV = {"B2B_AUTH_TOKEN": DEFAULT_TOKEN}
STATUSES = {"created", "already_registered", "rejected", "failed"}
REGISTERED = {"created", "already_registered"}
DEADLINE = 30.0  # seconds any single subprocess run may take before the test fails


# -- servers on a background loop, for in-process runs ---------------------------------------


class LoopThread:
    """An event loop in a background thread: servers keep answering while a command blocks."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="cli-test-loop")
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.run(self.loop.shutdown_asyncgens())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10.0)
        self.loop.close()


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    """A background event loop, stopped and closed after the test."""
    thread = LoopThread()
    try:
        yield thread
    finally:
        thread.close()


@pytest.fixture
def sandbox(loop_thread: LoopThread) -> Iterator[SandboxServer]:
    """A sandbox without window or faults, on the background loop; stopped after the test."""

    async def started() -> SandboxServer:
        server = SandboxServer(rate=None)  # created on the loop that will serve it
        await server.start()
        return server

    server = loop_thread.run(started())
    yield server
    loop_thread.run(server.aclose())


@pytest.fixture
def serve_handler(loop_thread: LoopThread) -> Iterator[Callable[[Handler], str]]:
    """Serve one handler for every path on the background loop; returns the server's URL."""
    runners: list[web.AppRunner] = []

    async def started(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield lambda handler: loop_thread.run(started(handler))
    for runner in runners:
        loop_thread.run(runner.cleanup())


def answering(status: int, body: bytes, headers: dict[str, str] | None = None) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(
            status=status, body=body, headers=headers, content_type="application/json"
        )

    return handler


@contextlib.contextmanager
def sigint_when(
    condition: Callable[[], bool],
    timeout: float = 20.0,
    *,
    to_watcher: bool = False,
    signum: signal.Signals = signal.SIGINT,
) -> Iterator[threading.Event]:
    """Send this process one ``signum`` (SIGINT) from a watcher thread once ``condition()`` holds.

    ``to_watcher`` hands the signal to the watcher thread itself, as the kernel may do with
    a Ctrl-C, instead of to the process (which normally means the main thread).
    """
    fired = threading.Event()
    done = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not done.is_set() and time.monotonic() < deadline:
            if condition():
                fired.set()
                if to_watcher:
                    signal.pthread_kill(threading.get_ident(), signum)
                else:
                    os.kill(os.getpid(), signum)
                return
            done.wait(0.01)

    watcher = threading.Thread(target=watch, name="sigint-when")
    watcher.start()
    try:
        yield fired
    finally:
        done.set()
        watcher.join(timeout + 1.0)


# -- files, journals, summaries ----------------------------------------------------------------


def write_orders(path: Path, count: int) -> Path:
    """A CSV of orders BC0000, BC0001, ... whose company is derived from the customer."""
    rows = (
        f",{index % 1000 + 1},BC{index:04d},{10 + index}.50,PO-{index}\n" for index in range(count)
    )
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def order_ids(count: int) -> list[str]:
    return [f"BC{index:04d}" for index in range(count)]


def journal_entries(path: Path, cut: str | None = None) -> list[dict[str, Any]]:
    """Every line of a journal but ``cut`` (a line a test wrote cut short): all well formed."""
    entries = []
    for text in path.read_text(encoding="utf-8").splitlines():
        if text == cut:
            continue
        entry = json.loads(text)
        # A run's line names where its order went (one a test wrote may not); a V3 line also
        # says what ensure did.
        assert set(entry) - {"action", "target"} == {"order_id", "line", "status", "error"}, text
        target = entry.get("target", "v2 http://127.0.0.1:")
        assert target.startswith(("v2 http://127.0.0.1:", "v3 http://127.0.0.1:")), text
        assert entry.get("action") in (None, "created", "updated", "unchanged"), text
        assert entry["status"] in STATUSES, text
        assert (entry["error"] is None) == (entry["status"] in REGISTERED), text
        entries.append(entry)
    return entries


def registered_in(path: Path, cut: str | None = None) -> list[str]:
    entries = journal_entries(path, cut)
    return [entry["order_id"] for entry in entries if entry["status"] in REGISTERED]


def complete_lines(path: Path) -> int:
    if not path.exists():
        return 0
    return path.read_bytes().count(b"\n")


def summary_count(output: str, status: str) -> int:
    """A count from the summary table, e.g. ``summary_count(stderr, "skipped")``."""
    found = re.search(rf"{status}\W+(\d+)", output)
    assert found is not None, output
    return int(found.group(1))


def invoke(args: list[str], env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(cli, args, env=TOKEN_ENV if env is None else env)


def register_args(orders: Path, url: str, results: Path, *extra: str) -> list[str]:
    return ["orders", "register", str(orders), "--base-url", url, "--results", str(results), *extra]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# -- orders create -----------------------------------------------------------------------------


def create_args(url: str, order_id: str = "BC1", *extra: str) -> list[str]:
    return [
        "orders",
        "create",
        "--customer-id",
        "1",
        "--order-id",
        order_id,
        "--total-inc-tax",
        "259.99",
        "--base-url",
        url,
        *extra,
    ]


def test_create_prints_the_registration_as_json(sandbox: SandboxServer) -> None:
    """orders create registers once and prints order_id and already_registered as JSON."""
    result = invoke(create_args(sandbox.url, "BC1", "--company-id", "1", "--po-number", "PO-7"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"order_id": "BC1", "already_registered": False}
    assert sandbox.registrations("BC1") == 1
    assert sandbox.orders["BC1"].po_number == "PO-7"


def test_create_without_company_id_lets_the_api_derive_it(sandbox: SandboxServer) -> None:
    """Without --company-id the order goes to the customer's company."""
    result = invoke(create_args(sandbox.url))
    assert result.exit_code == 0, result.output
    assert sandbox.orders["BC1"].company_id == 1
    assert sandbox.requests[0].path == "/api/v2/io/companies/users/1/orders"


def without_base_url(args: list[str]) -> list[str]:
    """``args`` with their ``--base-url URL`` left out."""
    at = args.index("--base-url")
    return args[:at] + args[at + 2 :]


def test_orders_commands_read_the_base_url_from_b2b_base_url(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Without --base-url, orders create and orders register go to B2B_BASE_URL."""
    env: dict[str, str | None] = {**TOKEN_ENV, "B2B_BASE_URL": sandbox.url}
    created = invoke(without_base_url(create_args(sandbox.url, "BC1")), env=env)
    assert created.exit_code == 0, created.output
    orders = write_orders(tmp_path / "orders.csv", 3)
    results = tmp_path / "results.jsonl"
    registered = invoke(without_base_url(register_args(orders, sandbox.url, results)), env=env)
    assert registered.exit_code == 0, registered.output
    assert all(sandbox.registrations(order_id) == 1 for order_id in ["BC1", *order_ids(3)])


def test_base_url_option_wins_over_b2b_base_url(sandbox: SandboxServer, tmp_path: Path) -> None:
    """--base-url is used when given, whatever B2B_BASE_URL says."""
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env: dict[str, str | None] = {**TOKEN_ENV, "B2B_BASE_URL": nowhere}
    created = invoke(create_args(sandbox.url, "BC1"), env=env)
    assert created.exit_code == 0, created.output
    orders = write_orders(tmp_path / "orders.csv", 3)
    registered = invoke(register_args(orders, sandbox.url, tmp_path / "results.jsonl"), env=env)
    assert registered.exit_code == 0, registered.output
    assert all(sandbox.registrations(order_id) == 1 for order_id in ["BC1", *order_ids(3)])


def test_help_names_b2b_base_url_and_the_production_default() -> None:
    """--help shows where --base-url comes from when it is not given."""
    for command in ("create", "register"):
        shown = " ".join(invoke(["orders", command, "--help"]).stdout.split())
        assert "env var: B2B_BASE_URL" in shown, shown
        assert "https://api-b2b.bigcommerce.com" in shown, shown


@pytest.mark.parametrize("token", [None, "", "  "], ids=["unset", "empty", "blank"])
def test_create_without_token_is_a_usage_error(sandbox: SandboxServer, token: str | None) -> None:
    """No B2B_AUTH_TOKEN: exit 2, the variable named, nothing sent."""
    result = invoke(create_args(sandbox.url), env={"B2B_AUTH_TOKEN": token})
    assert result.exit_code == 2
    assert "B2B_AUTH_TOKEN" in result.stderr
    assert sandbox.requests == []


def test_token_is_never_an_option(sandbox: SandboxServer) -> None:
    """There is no --token for orders commands: argv would leak it to ps and shell history."""
    result = invoke([*create_args(sandbox.url), "--token", "secret"])
    assert result.exit_code == 2
    assert "No such option" in result.stderr
    assert "--token" not in invoke(["orders", "register", "--help"]).stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--total-inc-tax", "abc"], "not a number"),
        (["--total-inc-tax", "-1"], "negative"),
        (["--base-url", "http://example.com"], "https"),
    ],
)
def test_create_invalid_input_is_a_usage_error(
    sandbox: SandboxServer, args: list[str], message: str
) -> None:
    """Invalid order values or base URL: exit 2 before anything is sent."""
    result = invoke([*create_args(sandbox.url), *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert sandbox.requests == []


def test_create_rejected_by_the_api_exits_3(sandbox: SandboxServer) -> None:
    """A 4xx (unknown company, or the order already registered) exits 3 with the error."""
    unknown = invoke([*create_args(sandbox.url), "--company-id", "9999"])
    assert unknown.exit_code == 3
    assert "404" in unknown.stderr
    assert invoke(create_args(sandbox.url, "BC2")).exit_code == 0
    again = invoke(create_args(sandbox.url, "BC2"))
    assert again.exit_code == 3
    assert "already exists" in again.stderr
    assert sandbox.registrations("BC2") == 1


@pytest.mark.parametrize(
    ("status", "headers"),
    [(501, None), (429, {"Retry-After": "3600"})],
    ids=["501-not-retried", "429-past-the-retry-cap"],
)
def test_create_unreachable_or_failing_api_exits_4(
    serve_handler: Callable[[Handler], str], status: int, headers: dict[str, str] | None
) -> None:
    """A 5xx or a 429 that retries cannot get past exits 4."""
    body = json.dumps({"code": status, "message": "no", "data": {}}).encode()
    url = serve_handler(answering(status, body, headers))
    result = invoke(create_args(url))
    assert result.exit_code == 4
    assert "error:" in result.stderr


@pytest.mark.parametrize(
    ("status", "line"),
    [
        (401, "error: authentication failed: check B2B_AUTH_TOKEN (HTTP 401: refused)"),
        (
            403,
            "error: permission denied: check that the token in B2B_AUTH_TOKEN may register "
            "orders (HTTP 403: refused)",
        ),
    ],
)
def test_create_with_a_refused_token_says_to_check_b2b_auth_token(
    serve_handler: Callable[[Handler], str], status: int, line: str
) -> None:
    """A 401 or 403 to orders create names the variable to check, as orders register does."""
    body = json.dumps({"code": status, "message": "refused", "data": {}}).encode()
    result = invoke(create_args(serve_handler(answering(status, body))))
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [line]


def test_a_servers_terminal_escapes_reach_standard_error_escaped(
    serve_handler: Callable[[Handler], str],
) -> None:
    """A message holding terminal control sequences is printed with them escaped."""
    message = "bad \x1b[2J\x1b[31mred\x1b]0;title\x07 \x9b31m"
    body = json.dumps({"code": 400, "message": message, "data": {"errMsg": message}}).encode()
    result = invoke(create_args(serve_handler(answering(400, body))))
    assert result.exit_code == 3
    assert not set("\x1b\x07\x9b") & set(result.stderr)
    assert "\\x1b[2J\\x1b[31mred" in result.stderr


def test_create_interrupted_before_sending_exits_130(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the command still reads its settings: exit 130, not click's "Aborted!"."""

    def interrupted() -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr("b2b_async._cli.token_from_environment", interrupted)
    result = invoke(create_args(sandbox.url))
    assert result.exit_code == 130
    assert "Aborted" not in result.output + result.stderr
    assert sandbox.requests == []


def test_create_undecodable_answer_exits_5(serve_handler: Callable[[Handler], str]) -> None:
    """A 200 whose body is not the documented envelope exits 5."""
    url = serve_handler(answering(200, b"[1, 2]"))
    result = invoke(create_args(url))
    assert result.exit_code == 5
    assert "not a JSON object" in result.stderr


@pytest.mark.parametrize("to_watcher", [False, True], ids=["main-thread", "other-thread"])
def test_create_interrupted_exits_130(
    serve_handler: Callable[[Handler], str], to_watcher: bool
) -> None:
    """Ctrl-C while the request hangs, whichever thread the signal lands on: exit 130.

    A SIGINT taken by a thread other than the main one must still wake the loop that
    sleeps waiting for the answer, at once, not when the 30 s request timeout ends.
    """
    arrived = threading.Event()

    async def hang(request: web.Request) -> web.Response:
        arrived.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")  # pragma: no cover

    url = serve_handler(hang)
    with sigint_when(arrived.is_set, to_watcher=to_watcher) as fired:
        result = invoke(create_args(url))
    assert fired.is_set()
    assert result.exit_code == 130
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert "interrupted" in result.stderr


# -- orders register, in-process ---------------------------------------------------------------


def test_register_csv_registers_every_order_and_journals_each(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Every order of a CSV is registered once, journaled with its line, summary printed, exit 0."""
    orders = write_orders(tmp_path / "orders.csv", 25)
    results = tmp_path / "results.jsonl"
    result = invoke(register_args(orders, sandbox.url, results, "--rate-limit", "none"))
    assert result.exit_code == 0, result.output
    entries = journal_entries(results)
    assert sorted((entry["order_id"], entry["line"]) for entry in entries) == [
        (order_id, line) for line, order_id in enumerate(order_ids(25), start=2)
    ]
    assert {entry["status"] for entry in entries} == {"created"}
    assert all(sandbox.registrations(order_id) == 1 for order_id in order_ids(25))
    assert summary_count(result.stderr, "created") == 25
    assert re.search(r"registering.*25/25.*orders/s.*ETA", result.stderr), result.stderr
    assert f"results journal: {results}" in result.stderr.replace("\n", "")


def test_register_jsonl_and_default_results_path(sandbox: SandboxServer, tmp_path: Path) -> None:
    """A JSONL file with the same keys works; the journal defaults to FILE.results.jsonl."""
    orders = tmp_path / "orders.jsonl"
    lines = [
        {"company_id": 1, "customer_id": 1, "order_id": f"J{index}", "total_inc_tax": 12.5}
        for index in range(5)
    ]
    orders.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    result = invoke(
        ["orders", "register", str(orders), "--base-url", sandbox.url, "--rate-limit", "none"]
    )
    assert result.exit_code == 0, result.output
    journal = tmp_path / "orders.jsonl.results.jsonl"
    assert sorted(registered_in(journal)) == [f"J{index}" for index in range(5)]
    assert {order.company_id for order in sandbox.orders.values()} == {1}


def test_register_refuses_an_order_id_given_again_with_other_values(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """An order id on two lines with other values registers the first line's order and
    rejects the second (it said another total), and the run does not exit 0; on two lines
    with the same values, the second is found already registered."""
    orders = tmp_path / "orders.csv"
    orders.write_text(
        HEADER + ",1,D1,10.00,A\n,2,D1,99.00,B\n,1,D2,5,\n,1,D2,5,\n", encoding="utf-8"
    )
    results = tmp_path / "results.jsonl"
    args = register_args(orders, sandbox.url, results, "--rate-limit", "none", "--concurrency", "1")
    result = invoke(args)
    assert result.exit_code == 1, result.output
    statuses = {entry["line"]: entry["status"] for entry in journal_entries(results)}
    assert statuses == {2: "created", 3: "rejected", 4: "created", 5: "already_registered"}
    assert "line 3: rejected: order id D1 is on line 2 with other values" in result.stderr
    assert sandbox.orders["D1"].total_inc_tax == Decimal("10.00")


def test_register_bad_rows_are_rejected_with_line_numbers(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Missing fields, bad totals and 4xx answers are journaled as rejected; the run goes on."""
    orders = tmp_path / "orders.csv"
    orders.write_text(
        HEADER + ",1,A1,1,\n,1,,1,\n,1,A3,abc,\n,,A4,1,\n9999,1,A5,1,\n,1,A6,1,\n",
        encoding="utf-8",
    )
    results = tmp_path / "results.jsonl"
    result = invoke(register_args(orders, sandbox.url, results, "--rate-limit", "none"))
    assert result.exit_code == 1
    by_line = {entry["line"]: entry for entry in journal_entries(results)}
    assert {line: entry["status"] for line, entry in by_line.items()} == {
        2: "created",
        3: "rejected",
        4: "rejected",
        5: "rejected",
        6: "rejected",
        7: "created",
    }
    assert by_line[3]["error"]["message"] == "line 3: missing order_id"
    assert "not a number" in by_line[4]["error"]["message"]
    assert by_line[6]["error"]["status"] == 404
    assert by_line[6]["order_id"] == "A5"
    for line in (3, 4, 5, 6):
        assert f"line {line}: rejected" in result.stderr
    assert summary_count(result.stderr, "rejected") == 4
    assert set(sandbox.orders) == {"A1", "A6"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"order_id,total_inc_tax\nA1,1\n", "header must name"),
        (b"", "header must name"),
        (HEADER.encode() + b",1,A\xff,1,\n", "not UTF-8"),
    ],
    ids=["header-lacks-customer_id", "empty", "not-utf8"],
)
def test_register_unreadable_file_is_an_error_before_any_request(
    sandbox: SandboxServer, tmp_path: Path, content: bytes, message: str
) -> None:
    """A file that cannot be parsed at all: exit 2, one error line, no request, no journal."""
    orders = tmp_path / "orders.csv"
    orders.write_bytes(content)
    results = tmp_path / "results.jsonl"
    result = invoke(register_args(orders, sandbox.url, results))
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert message in line
    assert line.endswith("; nothing was sent")
    assert sandbox.requests == []
    assert not results.exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [(lambda path: None, "No such file"), (Path.mkdir, "Is a directory")],
    ids=["missing", "directory"],
)
def test_register_a_file_that_cannot_be_opened_is_one_error_line(
    sandbox: SandboxServer, tmp_path: Path, make: Callable[[Path], object], message: str
) -> None:
    """A missing file, or a directory: exit 2 and one error line, as for a file that cannot
    be parsed, not a usage block; no request, no journal."""
    orders = tmp_path / "orders.csv"
    make(orders)
    results = tmp_path / "results.jsonl"
    result = invoke(register_args(orders, sandbox.url, results, "--json"))
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: cannot read {orders}: ")
    assert message in line
    assert line.endswith("; nothing was sent")
    assert result.stdout == ""
    assert sandbox.requests == []
    assert not results.exists()


def test_register_a_file_it_may_not_read_is_one_error_line(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file the user may not read (as a user other than root meets it): one error line."""
    orders = write_orders(tmp_path / "orders.csv", 1)
    real_open = Path.open

    def denied(path: Path, *args: Any, **kwargs: Any) -> Any:
        if path == orders:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "access", lambda path, mode, **_: Path(path) != orders)
    monkeypatch.setattr(Path, "open", denied)
    results = tmp_path / "results.jsonl"
    result = invoke(register_args(orders, sandbox.url, results))
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: cannot read {orders}: ")
    assert "Permission denied" in line
    assert line.endswith("; nothing was sent")
    assert sandbox.requests == []
    assert not results.exists()


def test_register_not_utf8_further_on_stops_with_exit_2(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Bytes that are not UTF-8 deep in the file stop the run with exit 2; earlier rows stay."""
    orders = tmp_path / "orders.csv"
    # Blank lines are skipped by the reader but push the bad bytes past the first read block.
    orders.write_bytes(HEADER.encode() + b",1,A1,1,\n" + b"\n" * 20_000 + b",1,A\xff,1,\n")
    results = tmp_path / "results.jsonl"
    result = invoke(register_args(orders, sandbox.url, results, "--rate-limit", "none"))
    assert result.exit_code == 2
    assert "not UTF-8" in result.stderr
    assert registered_in(results) == ["A1"]


def test_register_input_unreadable_part_way_withdraws_the_orders_waiting_for_budget(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A line that is not UTF-8 stops the run at once even at one request a minute: the
    orders read before it and still waiting for budget are not attempted, instead of each
    being sent a minute after the other."""
    orders = tmp_path / "orders.csv"
    good = "".join(f",1,A{index},1,\n" for index in range(5))
    orders.write_bytes(HEADER.encode() + good.encode() + b"\n" * 20_000 + b",1,A\xff,1,\n")
    results = tmp_path / "results.jsonl"
    args = register_args(orders, sandbox.url, results, "--rate-limit", "1/60", "--json")
    result = invoke(args)
    assert result.exit_code == 2, result.output
    summary = json.loads(result.stdout)
    assert summary["requests"] == len(sandbox.requests) <= 1
    assert summary["orders"]["not_attempted"] >= 4
    assert summary["total"] == 5
    assert registered_in(results) == sorted(sandbox.orders)


def test_register_refuses_a_journal_of_orders_sent_elsewhere(
    sandbox: SandboxServer, loop_thread: LoopThread, tmp_path: Path
) -> None:
    """A trial run's journal, reused against another server, stops the run: nothing skipped.

    The orders registered with the first server are not registered with the second.
    """
    orders = write_orders(tmp_path / "orders.csv", 3)
    results = tmp_path / "results.jsonl"
    trial = invoke(register_args(orders, sandbox.url, results, "--rate-limit", "none"))
    assert (trial.exit_code, len(registered_in(results))) == (0, 3)

    async def started() -> SandboxServer:
        server = SandboxServer(rate=None)
        await server.start()
        return server

    other = loop_thread.run(started())
    try:
        result = invoke(register_args(orders, other.url, results, "--rate-limit", "none"))
    finally:
        loop_thread.run(other.aclose())
    assert result.exit_code == 2
    assert "records an order sent to" in result.stderr
    assert "use another --results for this target" in result.stderr
    assert other.requests == []


def test_register_refuses_a_v2_journal_of_another_store(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A V2 run with a store hash names the store in its journal: a run for another store
    refuses that journal instead of skipping orders it never registered there."""
    orders = write_orders(tmp_path / "orders.csv", 2)
    results = tmp_path / "results.jsonl"
    first = invoke(register_args(orders, sandbox.url, results, "--store-hash", "sandbox"))
    assert (first.exit_code, len(registered_in(results))) == (0, 2)
    sent = len(sandbox.requests)
    other = invoke(register_args(orders, sandbox.url, results, "--store-hash", "another-store"))
    assert other.exit_code == 2
    assert "records an order sent to" in other.stderr
    assert len(sandbox.requests) == sent


def test_register_csv_field_too_long_to_parse_stops_with_exit_2(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A field past the csv module's limit stops the run with exit 2, naming its line."""
    orders = tmp_path / "orders.csv"
    orders.write_text(HEADER + ",1,A1,1,\n" + ",1,A2," + "9" * 200_000 + ",\n", encoding="utf-8")
    results = tmp_path / "results.jsonl"
    result = invoke(register_args(orders, sandbox.url, results, "--rate-limit", "none"))
    assert result.exit_code == 2
    assert "line 3 is not a CSV row this reads" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert registered_in(results) == ["A1"]


@pytest.mark.parametrize(
    "args",
    [
        ["--rate-limit", "150"],
        ["--rate-limit", "x/60"],
        ["--rate-limit", "0/60"],
        ["--rate-limit", "10/0"],
        ["--concurrency", "0"],
        ["--concurrency", "1001"],
        ["--base-url", "ftp://example.com"],
    ],
)
def test_register_bad_options_are_usage_errors(
    sandbox: SandboxServer, tmp_path: Path, args: list[str]
) -> None:
    """A bad --rate-limit, --concurrency or --base-url exits 2 before anything is sent."""
    orders = write_orders(tmp_path / "orders.csv", 3)
    result = invoke(register_args(orders, sandbox.url, tmp_path / "r.jsonl", *args))
    assert result.exit_code == 2
    assert sandbox.requests == []


def test_register_a_rate_limit_too_large_for_a_limiter_is_a_usage_error(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """--rate-limit 99999999999999999999/1 ended in an OverflowError traceback, exit 1."""
    orders = write_orders(tmp_path / "orders.csv", 3)
    args = ["--rate-limit", "99999999999999999999/1"]
    result = invoke(register_args(orders, sandbox.url, tmp_path / "r.jsonl", *args))
    assert result.exit_code == 2
    assert "RateLimit.requests must be an int from 1 to 1000000" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert sandbox.requests == []


def test_register_unusable_journal_is_a_usage_error(sandbox: SandboxServer, tmp_path: Path) -> None:
    """A results path in a missing directory exits 2 before anything is sent."""
    orders = write_orders(tmp_path / "orders.csv", 3)
    result = invoke(register_args(orders, sandbox.url, tmp_path / "absent" / "r.jsonl"))
    assert result.exit_code == 2
    assert "results journal" in result.stderr
    assert sandbox.requests == []


def test_register_without_token_is_a_usage_error(sandbox: SandboxServer, tmp_path: Path) -> None:
    """orders register also reads the token from B2B_AUTH_TOKEN only: unset, exit 2."""
    orders = write_orders(tmp_path / "orders.csv", 3)
    result = invoke(
        register_args(orders, sandbox.url, tmp_path / "r.jsonl"), env={"B2B_AUTH_TOKEN": None}
    )
    assert result.exit_code == 2
    assert "B2B_AUTH_TOKEN" in result.stderr
    assert sandbox.requests == []


def test_register_rerun_skips_registered_and_retries_the_rest(
    sandbox: SandboxServer, loop_thread: LoopThread, tmp_path: Path
) -> None:
    """A rerun skips journaled registrations, resends the rest; unjournaled ones are found."""
    orders = write_orders(tmp_path / "orders.csv", 6)
    results = tmp_path / "results.jsonl"
    done = {"order_id": "BC0000", "line": 2, "status": "created", "error": None}
    failed = {"order_id": "BC0001", "line": 3, "status": "failed", "error": {"type": "X"}}
    rejected = {"order_id": "BC0002", "line": 4, "status": "rejected", "error": {"type": "Y"}}
    text = "".join(json.dumps(entry) + "\n" for entry in (done, failed, rejected))
    cut = '{"order_id": "BC00'  # a line cut short by a crash
    results.write_text(text + cut, encoding="utf-8")

    async def register_unjournaled() -> None:
        async with B2BClient(DEFAULT_TOKEN, base_url=sandbox.url, rate_limit=None) as client:
            await client.orders.create(customer_id=4, order_id="BC0003", total_inc_tax=1)

    loop_thread.run(register_unjournaled())
    result = invoke(register_args(orders, sandbox.url, results, "--rate-limit", "none"))
    assert result.exit_code == 0, result.output
    assert summary_count(result.stderr, "skipped") == 1
    assert summary_count(result.stderr, "already registered") == 1
    assert summary_count(result.stderr, "created") == 4
    assert "BC0000" not in sandbox.orders  # skipped: never sent
    assert all(sandbox.registrations(order_id) == 1 for order_id in order_ids(6)[1:])
    assert sorted(set(registered_in(results, cut))) == order_ids(6)
    assert results.read_text(encoding="utf-8").count(cut + "\n") == 1


def test_register_hostile_rows_are_rejected_and_the_rest_registered(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A 1e400 total or a lone surrogate id is a rejected row, never a crash; reruns finish.

    These rows once crashed the run before anything was sent, leaving an empty journal, and
    every rerun crashed the same way.
    """
    orders = tmp_path / "orders.jsonl"
    lines = [
        '{"customer_id": 1, "order_id": "H1", "total_inc_tax": 1}',
        '{"customer_id": 1, "order_id": "H2", "total_inc_tax": "1e400"}',
        '{"customer_id": "1\\ud800", "order_id": "H3", "total_inc_tax": 1}',
        '{"customer_id": 1, "order_id": "88\\ud800", "total_inc_tax": 1}',
        '{"customer_id": 1, "order_id": "H5", "total_inc_tax": 1, "po_number": "\\udfff"}',
        '{"customer_id": 1, "order_id": "H6", "total_inc_tax": 1}',
    ]
    orders.write_text("\n".join(lines) + "\n", encoding="utf-8")
    csv_orders = tmp_path / "orders.csv"
    csv_orders.write_text(HEADER + ",1,H7,1e400,\n,1,H8,2,\n", encoding="utf-8")
    results = tmp_path / "results.jsonl"
    for source in (orders, csv_orders, orders):  # the last run is a rerun of the first
        result = invoke(register_args(source, sandbox.url, results, "--rate-limit", "none"))
        assert result.exit_code == 1, result.output
    statuses = {(entry["order_id"], entry["status"]) for entry in journal_entries(results)}
    assert {("H1", "created"), ("H6", "created"), ("H8", "created")} <= statuses
    assert {("H2", "rejected"), ("H3", "rejected"), ("H5", "rejected")} <= statuses
    assert ("H7", "rejected") in statuses
    assert set(sandbox.orders) == {"H1", "H6", "H8"}


def test_register_failures_are_journaled_and_exit_1(
    serve_handler: Callable[[Handler], str], tmp_path: Path
) -> None:
    """Orders the API keeps failing are journaled as failed with the error, and exit 1."""
    url = serve_handler(answering(501, json.dumps({"code": 501, "message": "nope"}).encode()))
    orders = write_orders(tmp_path / "orders.csv", 3)
    results = tmp_path / "results.jsonl"
    result = invoke(register_args(orders, url, results, "--rate-limit", "none"))
    assert result.exit_code == 1
    entries = journal_entries(results)
    assert [entry["status"] for entry in entries] == ["failed"] * 3
    assert {entry["error"]["status"] for entry in entries} == {501}
    assert summary_count(result.stderr, "failed") == 3


def test_register_repeated_order_ids_keep_their_own_lines(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """An order id twice in the file: registered once, each journal line names its own line."""
    orders = tmp_path / "orders.csv"
    orders.write_text(HEADER + ",1,D1,1,\n,1,D1,1,\n,1,D2,1,\n", encoding="utf-8")
    results = tmp_path / "results.jsonl"
    result = invoke(register_args(orders, sandbox.url, results, "--rate-limit", "none"))
    assert result.exit_code == 0, result.output
    lines = sorted((entry["line"], entry["order_id"]) for entry in journal_entries(results))
    assert lines == [(2, "D1"), (3, "D1"), (4, "D2")]
    assert sandbox.registrations("D1") == 1


@pytest.mark.parametrize(
    "step",
    [
        "b2b_async._cli.token_from_environment",  # before the run has started at all
        "b2b_async._journal.count_rows",
        "b2b_async._journal.Journal.load",
    ],
)
def test_register_interrupted_while_reading_its_files_exits_130(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """Ctrl-C while a large input is counted or the journal read: exit 130, nothing sent."""

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(step, interrupted)
    orders = write_orders(tmp_path / "orders.csv", 3)
    result = invoke(register_args(orders, sandbox.url, tmp_path / "results.jsonl"))
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.stderr
    assert sandbox.requests == []


def test_register_sigint_finishes_in_flight_orders_and_exits_130(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Ctrl-C: no new order starts, those in flight are journaled, exit 130; a rerun completes."""
    orders = write_orders(tmp_path / "orders.csv", 30)
    results = tmp_path / "results.jsonl"
    args = register_args(orders, sandbox.url, results, "--rate-limit", "20/1", "--concurrency", "2")
    with sigint_when(lambda: len(sandbox.orders) >= 3) as fired:
        first = invoke(args)
    assert fired.is_set()
    assert first.exit_code == 130, first.output
    assert "interrupted: finishing the orders in flight" in first.stderr
    journaled = registered_in(results)
    assert sorted(journaled) == sorted(sandbox.orders)  # nothing registered goes unrecorded
    assert len(journaled) < 30
    second = invoke([*args[:-4], "--rate-limit", "none"])
    assert second.exit_code == 0, second.output
    assert summary_count(second.stderr, "skipped") == len(journaled)
    assert all(sandbox.registrations(order_id) == 1 for order_id in order_ids(30))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_register_ctrl_c_withdraws_the_orders_waiting_for_budget(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Ctrl-C at one request a minute: the order sent is journaled; the others in flight,
    waiting for budget, are withdrawn at once instead of each waiting out its minute to be
    sent. They are counted as not attempted and left for the next run."""
    orders = write_orders(tmp_path / "orders.csv", 30)
    results = tmp_path / "results.jsonl"
    args = register_args(orders, sandbox.url, results, "--rate-limit", "1/60", "--concurrency", "4")
    with sigint_when(lambda: len(sandbox.orders) >= 1) as fired:
        first = invoke([*args, "--json"])
    assert fired.is_set()
    assert first.exit_code == 130, first.output
    summary = json.loads(first.stdout)
    assert summary["requests"] == len(sandbox.requests) == 1
    # Three in flight beside the one sent, or four if its worker took the next row first.
    assert summary["orders"]["not_attempted"] == summary["total"] - 1 >= 3, summary
    assert len(sandbox.orders) == 1
    assert registered_in(results) == sorted(sandbox.orders)


def test_register_sigterm_stops_as_ctrl_c_does(sandbox: SandboxServer, tmp_path: Path) -> None:
    """SIGTERM (docker stop, timeout, systemd) killed the run with no summary; it now
    finishes the orders in flight, journals them and exits 130."""
    orders = write_orders(tmp_path / "orders.csv", 30)
    results = tmp_path / "results.jsonl"
    args = register_args(orders, sandbox.url, results, "--rate-limit", "20/1", "--concurrency", "2")
    with sigint_when(lambda: len(sandbox.orders) >= 3, signum=signal.SIGTERM) as fired:
        first = invoke([*args, "--json"])
    assert fired.is_set()
    assert first.exit_code == 130, first.output
    assert "terminated: finishing the orders in flight" in first.stderr
    assert json.loads(first.stdout)["interrupted"] is True
    journaled = registered_in(results)
    assert sorted(journaled) == sorted(sandbox.orders)
    assert len(journaled) < 30
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


async def test_register_sigterm_while_it_reads_its_input_exits_130(tmp_path: Path) -> None:
    """SIGTERM before the run starts (the input is a pipe nobody has written to yet, as a
    long file or journal keeps the command reading) ends the command as Ctrl-C does, with
    code 130, not as the system ends a program (143), and nothing was sent."""
    fifo = tmp_path / "orders.csv"
    os.mkfifo(fifo)
    log = tmp_path / "log.txt"
    process = await start_cli(
        "orders", "register", str(fifo), "--base-url", "http://127.0.0.1:9", log=log
    )
    writer = await opened_once_read(fifo, process, log)
    try:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(DEADLINE):
            code = await process.wait()
    finally:
        os.close(writer)
    assert code == 130, read_log(log)
    assert "interrupted" in read_log(log)


async def opened_once_read(fifo: Path, process: asyncio.subprocess.Process, log: Path) -> int:
    """A writing end of ``fifo``, once ``process`` holds it open for reading."""
    writer: list[int] = []

    def reader_came() -> bool:
        try:
            writer.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # ENXIO: no reader yet
            return False
        return True

    await wait_until(reader_came, process, log)
    return writer[0]


def test_register_takes_sigterm_as_ctrl_c_while_it_reports(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the run has ended, as its summary is printed, SIGTERM is still taken as Ctrl-C
    (the run's own handlers are gone by then; the system's would end it with 143)."""
    import b2b_async._cli as cli_module

    seen: list[object] = []
    printing = cli_module.print_summary

    def print_noting_sigterm(summary: dict[str, Any]) -> None:
        seen.append(signal.getsignal(signal.SIGTERM))
        printing(summary)

    monkeypatch.setattr(cli_module, "print_summary", print_noting_sigterm)
    orders = write_orders(tmp_path / "orders.csv", 2)
    result = invoke(register_args(orders, sandbox.url, tmp_path / "results.jsonl"))
    assert result.exit_code == 0, result.output
    assert len(seen) == 1
    assert seen[0] not in (signal.SIG_DFL, signal.SIG_IGN, None)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


# -- orders register: a journal that is damaged, or cannot be written --------------------------


def one_error_line(stderr: str) -> str:
    """The single ``error:`` line of the output, which must also be its last line."""
    lines = stderr.splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert errors == lines[-1:], stderr
    assert "Traceback" not in stderr
    return errors[0]


def created_line(order_id: str, line: int) -> str:
    return json.dumps({"order_id": order_id, "line": line, "status": "created", "error": None})


@pytest.mark.parametrize(
    "damaged", ['{"status": {}}', "[1]", '{"order_id": 7, "status": "created"}', "x"]
)
def test_register_journal_line_that_is_no_entry_exits_2(
    sandbox: SandboxServer, tmp_path: Path, damaged: str
) -> None:
    """A journal line that is not an entry: one error line naming it, exit 2, nothing sent."""
    orders = write_orders(tmp_path / "orders.csv", 3)
    results = tmp_path / "results.jsonl"
    text = f"{created_line('BC0000', 2)}\n{damaged}\n"
    results.write_text(text, encoding="utf-8")
    result = invoke(register_args(orders, sandbox.url, results))
    assert result.exit_code == 2
    error = one_error_line(result.stderr)
    assert f"{results} line 2 is not a journal entry" in error
    assert "nothing was sent" in error
    assert sandbox.requests == []
    assert results.read_text(encoding="utf-8") == text


def test_register_refuses_a_journal_another_run_holds(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A second run on the journal of a run under way: one error line, exit 2, nothing
    sent (each would otherwise send the orders the other is sending)."""
    orders = write_orders(tmp_path / "orders.csv", 3)
    results = tmp_path / "results.jsonl"
    running = Journal(results)
    running.open()  # what the run under way holds
    try:
        result = invoke(register_args(orders, sandbox.url, results))
    finally:
        running.close()
    assert result.exit_code == 2
    error = one_error_line(result.stderr)
    assert f"the results journal {results} is in use by another run" in error
    assert "nothing was sent" in error
    assert sandbox.requests == []
    assert invoke(register_args(orders, sandbox.url, results)).exit_code == 0


def test_register_refuses_a_held_journal_before_reading_it(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A journal another run holds is refused as in use, whatever it holds: the second run
    reads none of it (here, a line it would otherwise refuse as no entry)."""
    orders = write_orders(tmp_path / "orders.csv", 3)
    results = tmp_path / "results.jsonl"
    results.write_text(f"{created_line('BC0000', 2)}\nx\n", encoding="utf-8")
    running = Journal(results)
    running.open()
    try:
        result = invoke(register_args(orders, sandbox.url, results))
    finally:
        running.close()
    assert result.exit_code == 2
    assert "is in use by another run" in one_error_line(result.stderr)
    assert sandbox.requests == []


def test_register_journal_lines_cut_short_are_reported_and_skipped(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Lines a crash cut short are named on standard error and ignored; the run goes on."""
    orders = write_orders(tmp_path / "orders.csv", 3)
    results = tmp_path / "results.jsonl"
    cut = '{"order_id":"BC00'
    results.write_text(f"{cut}\n{created_line('BC0000', 2)}\n{cut}", encoding="utf-8")
    result = invoke(register_args(orders, sandbox.url, results, "--rate-limit", "none"))
    assert result.exit_code == 0, result.output
    for number in (1, 3):
        assert f"results journal line {number} was cut short by a crash" in result.stderr
    assert summary_count(result.stderr, "skipped") == 1
    assert set(sandbox.orders) == {"BC0001", "BC0002"}
    assert sorted(set(registered_in(results, cut))) == order_ids(3)


@pytest.mark.parametrize("where", ["device", "input"])
def test_register_journal_that_is_no_regular_file_or_the_input_exits_2(
    sandbox: SandboxServer, tmp_path: Path, where: str
) -> None:
    """--results naming a device (say /dev/full) or the input file itself: exit 2, nothing sent."""
    orders = write_orders(tmp_path / "orders.csv", 3)
    results = Path(os.devnull) if where == "device" else orders
    result = invoke(register_args(orders, sandbox.url, results))
    assert result.exit_code == 2
    assert "not a regular file" in one_error_line(result.stderr) or where == "input"
    assert sandbox.requests == []
    assert orders.read_text(encoding="utf-8").count("\n") == 4


@pytest.mark.parametrize("where", ["device", "input"])
def test_a_results_path_the_run_cannot_use_says_what_to_do(
    sandbox: SandboxServer, tmp_path: Path, where: str
) -> None:
    """--results naming a device or the input file: the error line says nothing was sent and
    to choose another --results."""
    orders = write_orders(tmp_path / "orders.csv", 1)
    results = Path(os.devnull) if where == "device" else orders
    result = invoke(register_args(orders, sandbox.url, results))
    assert one_error_line(result.stderr).endswith("; nothing was sent (use another --results)")


def test_register_full_disk_stops_with_exit_6_and_one_line(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC writing the journal: no new order starts, one error line, exit 6."""
    # /dev/full fails every write with a real ENOSPC from the kernel.
    monkeypatch.setattr("b2b_async._journal.append_to", lambda path: open("/dev/full", "a"))  # noqa: SIM115
    orders = write_orders(tmp_path / "orders.csv", 60)
    results = tmp_path / "results.jsonl"
    args = register_args(orders, sandbox.url, results, "--rate-limit", "none", "--concurrency", "2")
    result = invoke(args)
    assert result.exit_code == 6, result.output
    error = one_error_line(result.stderr)
    assert f"cannot write the results journal {results}" in error
    assert "No space left on device" in error
    assert 1 <= len(sandbox.orders) < 60  # stopped after the first outcome it could not record


def test_register_full_disk_when_opening_exits_6_before_sending(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC ending a line a crash left unfinished: exit 6 before anything is sent."""
    monkeypatch.setattr("b2b_async._journal.append_to", lambda path: open("/dev/full", "a"))  # noqa: SIM115
    orders = write_orders(tmp_path / "orders.csv", 3)
    results = tmp_path / "results.jsonl"
    results.write_text('{"order_id":"BC00', encoding="utf-8")
    result = invoke(register_args(orders, sandbox.url, results))
    assert result.exit_code == 6, result.output
    assert "No space left on device" in one_error_line(result.stderr)
    assert sandbox.requests == []


# -- orders register: --json, --quiet, long lines, NO_COLOR -------------------------------------

#: The keys of the --json summary, as docs/cli.md documents them.
SUMMARY_KEYS = {
    "orders",
    "total",
    "registered",
    "requests",
    "retries",
    "rate_limited",
    "elapsed_seconds",
    "journal",
    "api",
    "interrupted",
    "error",
    "exit_code",
}


def test_register_json_prints_the_summary_on_stdout(sandbox: SandboxServer, tmp_path: Path) -> None:
    """--json: one JSON object on stdout with the documented keys and counts; no table."""
    orders = tmp_path / "orders.csv"
    orders.write_text(
        HEADER + ",1,A1,1,\n,1,,1,\n9999,1,A5,1,\n,1,A6,1,\n,1,S1,1,\n", encoding="utf-8"
    )
    results = tmp_path / "results.jsonl"
    results.write_text(created_line("S1", 6) + "\n", encoding="utf-8")
    result = invoke(register_args(orders, sandbox.url, results, "--rate-limit", "none", "--json"))
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert set(summary) == SUMMARY_KEYS
    assert summary["orders"] == {
        "created": 2,
        "already_registered": 0,
        "skipped": 1,
        "rejected": 2,
        "failed": 0,
        "not_attempted": 0,
    }
    assert (summary["total"], summary["registered"]) == (5, 3)
    assert (summary["requests"], summary["retries"], summary["rate_limited"]) == (3, 0, 0)
    assert summary["requests"] == len(sandbox.requests)
    assert summary["elapsed_seconds"] >= 0
    assert (summary["journal"], summary["api"]) == (str(results), "v2")
    assert (summary["interrupted"], summary["error"], summary["exit_code"]) == (False, None, 1)
    assert "line 3: rejected" in result.stderr
    assert "summary" not in result.stderr
    assert "results journal:" not in result.stderr


def test_register_json_counts_retries_and_429s(
    serve_handler: Callable[[Handler], str], tmp_path: Path
) -> None:
    """The --json summary counts the requests, the retries and the 429s the run met."""
    url = serve_handler(
        answering(429, json.dumps({"code": 429, "message": "slow"}).encode(), {"Retry-After": "0"})
    )
    orders = write_orders(tmp_path / "orders.csv", 1)
    result = invoke(register_args(orders, url, tmp_path / "r.jsonl", "--json", "--quiet"))
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert summary["orders"]["failed"] == 1
    assert summary["requests"] == summary["rate_limited"] == summary["retries"] + 1 > 1


# -- failures that repeat for every order -------------------------------------------------------


def test_register_wrong_token_stops_with_one_line_and_exit_7_then_rerun_registers_each_once(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A wrong token: at most 8 requests, one line, exit 7; the rerun registers all 300 once."""
    orders = write_orders(tmp_path / "orders.csv", 300)
    results = tmp_path / "results.jsonl"
    args = register_args(orders, sandbox.url, results, "--rate-limit", "none", "--quiet")
    wrong = invoke(args, env={"B2B_AUTH_TOKEN": "wrong-token"})
    assert wrong.exit_code == EXIT_TOKEN_REFUSED == 7, wrong.output
    assert wrong.stderr.splitlines() == [
        "error: authentication failed: check B2B_AUTH_TOKEN (HTTP 401: Invalid authToken)"
    ]
    assert 1 <= len(sandbox.requests) <= 8
    assert sandbox.orders == {}
    journaled = journal_entries(results)
    assert len(journaled) == len(sandbox.requests)  # the orders not attempted have no line
    assert {entry["status"] for entry in journaled} == {"rejected"}
    right = invoke(args)
    assert right.exit_code == 0, right.output
    assert sorted(sandbox.orders) == order_ids(300)
    assert all(sandbox.registrations(order_id) == 1 for order_id in order_ids(300))
    assert sorted(set(registered_in(results))) == order_ids(300)


def test_register_stopped_run_summary_counts_the_orders_not_attempted(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """The summary (table and JSON) counts not-attempted orders; its error is the one line."""
    orders = write_orders(tmp_path / "orders.csv", 40)
    args = register_args(orders, sandbox.url, tmp_path / "r.jsonl", "--rate-limit", "none")
    table = invoke(args, env={"B2B_AUTH_TOKEN": "wrong-token"})
    assert table.exit_code == 7
    sent = len(sandbox.requests)
    assert summary_count(table.stderr, "not attempted") == 40 - sent
    assert summary_count(table.stderr, "rejected") == sent
    assert table.stderr.count("error:") == 1
    assert "line " not in table.stderr  # no line per order: the error line says it for all
    as_json = invoke([*args, "--json", "--api", "v2"], env={"B2B_AUTH_TOKEN": "wrong-token"})
    summary = json.loads(as_json.stdout)
    assert summary["orders"]["not_attempted"] + summary["orders"]["rejected"] == 40
    assert summary["exit_code"] == 7
    assert summary["error"].startswith("authentication failed: check B2B_AUTH_TOKEN")


def test_register_v3_wrong_token_stops_the_same_way(sandbox: SandboxServer, tmp_path: Path) -> None:
    """--api v3 with a wrong token: exit 7, one line, a few requests."""
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "bc_order_id,customer_id,po_number\n" + "".join(f"{n},1,\n" for n in range(1, 51)),
        encoding="utf-8",
    )
    args = register_args(orders, sandbox.url, tmp_path / "r.jsonl", "--api", "v3", "-q")
    result = invoke([*args, "--rate-limit", "none"], env={"B2B_AUTH_TOKEN": "wrong-token"})
    assert result.exit_code == 7, result.output
    assert len(result.stderr.splitlines()) == 1
    assert 1 <= len(sandbox.requests) <= 8


def test_register_concurrency_is_the_number_of_orders_in_flight(
    serve_handler: Callable[[Handler], str], tmp_path: Path
) -> None:
    """--concurrency 3: three orders in flight at once, although bulk calls leave one place
    of the client's cap to other calls."""
    message = "The order is not valid."
    rejected = answering(400, json.dumps({"code": 400, "message": message}).encode())
    in_flight = most = 0
    three_at_once = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        if in_flight == 3:
            three_at_once.set()
        with contextlib.suppress(TimeoutError):  # without a third, a wave ends after 5 s
            await asyncio.wait_for(three_at_once.wait(), 5)
        in_flight -= 1
        return await rejected(request)

    url = serve_handler(handler)
    orders = write_orders(tmp_path / "orders.csv", 6)
    args = register_args(orders, url, tmp_path / "r.jsonl", "--concurrency", "3", "-q")
    result = invoke([*args, "--rate-limit", "none"])
    assert result.exit_code == 1, result.output  # every order rejected
    assert three_at_once.is_set()
    assert most == 3


def test_register_403_stops_with_exit_7(
    serve_handler: Callable[[Handler], str], tmp_path: Path
) -> None:
    """A 403 on every order: at most `concurrency` requests, a permission line, exit 7."""
    seen: list[str] = []
    forbidden = answering(403, json.dumps({"code": 403, "message": "Forbidden"}).encode())

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(request.path)
        return await forbidden(request)

    url = serve_handler(handler)
    orders = write_orders(tmp_path / "orders.csv", 100)
    args = register_args(orders, url, tmp_path / "r.jsonl", "--concurrency", "4", "-q")
    result = invoke([*args, "--rate-limit", "none"])
    assert result.exit_code == 7, result.output
    assert result.stderr.splitlines() == [
        "error: permission denied: check that the token in B2B_AUTH_TOKEN may register orders "
        "(HTTP 403: Forbidden)"
    ]
    assert 1 <= len(seen) <= 4


def test_register_server_down_stops_with_exit_8_after_bounded_attempts(tmp_path: Path) -> None:
    """A closed port: 8 orders x 5 attempts at most, one 'cannot reach' line, exit 8."""
    url = f"http://127.0.0.1:{free_port()}"
    orders = write_orders(tmp_path / "orders.csv", 300)
    results = tmp_path / "results.jsonl"
    args = register_args(orders, url, results, "--rate-limit", "none", "--json", "-q")
    result = invoke(args)
    assert result.exit_code == EXIT_CANNOT_CONNECT == 8, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: cannot reach {url}: is it running? (could not connect: ")
    summary = json.loads(result.stdout)
    assert summary["requests"] == 8 * RetryPolicy().attempts  # max(concurrency, streak) orders
    assert summary["orders"]["failed"] == 8
    assert summary["orders"]["not_attempted"] == 292
    assert [entry["status"] for entry in journal_entries(results)] == ["failed"] * 8


def test_register_one_unreachable_order_is_no_stop(tmp_path: Path) -> None:
    """Fewer could-not-connect outcomes than the streak: no stop, its line is said, exit 1."""
    url = f"http://127.0.0.1:{free_port()}"
    orders = write_orders(tmp_path / "orders.csv", 1)
    result = invoke(register_args(orders, url, tmp_path / "r.jsonl", "--rate-limit", "none", "-q"))
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("line 2: failed: could not connect")


def test_progress_total_never_falls_below_the_rows_done(tmp_path: Path) -> None:
    """A total counted short (rows written to the file after it was counted) grows with the
    rows done: the bar never shows 3 of 1."""
    orders = tmp_path / "orders.csv"
    orders.write_bytes(f"{HEADER},1,R1,1,\n".encode())
    total = count_rows(orders)
    assert total == 1
    with orders.open("ab") as more:
        more.write(b",1,R2,1,\n,1,R3,1,\n")
    client = B2BClient("t", rate_limit=None)
    journal = Journal(tmp_path / "results.jsonl", "v2 test")
    run = Registration(client, journal, read_rows(orders), total, 1, quiet=True)
    for _ in range(3):
        run.count("created")
    assert (run.total, run.bar.tasks[0].total, run.bar.tasks[0].completed) == (3, 3, 3)
    run.rows.close()


def stopped_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A clock that stands at 100 s until a test moves it: ``time.monotonic`` reads its one
    item."""
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    return clock


def test_progress_rate_is_the_rows_done_per_second_since_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The progress line's rate is the rows done over the seconds since the run started."""
    orders = write_orders(tmp_path / "orders.csv", 2)
    clock = stopped_clock(monkeypatch)
    client = B2BClient("t", rate_limit=None)
    journal = Journal(tmp_path / "results.jsonl", "v2 test")
    run = Registration(client, journal, read_rows(orders), 2, 1, quiet=True)
    clock[0] = 100.5
    run.count("created")
    run.count("skipped")
    run.rows.close()
    assert run.bar.tasks[0].fields["rate"] == pytest.approx(4.0)


@contextlib.contextmanager
def two_order_run(tmp_path: Path) -> Iterator[tuple[Registration, NewOrder]]:
    """A quiet registration of two orders, input lines 2 and 3, into a claimed journal; and
    an order to record their outcomes with."""
    journal = Journal(tmp_path / "results.jsonl", "v2 test")
    journal.claim()
    orders = write_orders(tmp_path / "orders.csv", 2)
    run = Registration(
        B2BClient("t", rate_limit=None), journal, read_rows(orders), 2, 1, quiet=True
    )
    run.lines.update({0: 2, 1: 3})
    try:
        yield run, NewOrder("1", "1", "BC1", "10.50")
    finally:
        run.rows.close()
        journal.close()


def test_a_held_failure_is_said_as_soon_as_a_later_order_succeeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused token's line is held while it may be the whole run's, and said
    when the next order succeeds, before the run goes on, rather than at its end."""
    with two_order_run(tmp_path) as (run, order):
        run.record(OrderOutcome(0, order, error=AuthenticationError("no", status=401)))
        assert "line 2" not in capsys.readouterr().err
        run.record(OrderOutcome(1, order, result=CreatedOrder("BC1")))
        assert capsys.readouterr().err == "line 2: rejected: HTTP 401: no\n"


@pytest.mark.parametrize(
    ("row", "status"), [(",1,S{},1,\n", "skipped"), (",1,B{},abc,\n", "rejected")]
)
async def test_register_ctrl_c_is_heard_between_rows_it_does_not_send(
    tmp_path: Path, row: str, status: str
) -> None:
    """Ctrl-C during a long stretch of rows that send nothing (skipped as journaled, or
    rejected as invalid) stops the reading there, instead of once the whole file is read."""
    orders = tmp_path / "orders.csv"
    orders.write_text(HEADER + "".join(row.format(index) for index in range(50)), encoding="utf-8")
    journal = Journal(tmp_path / "results.jsonl", "v2 test")
    done = ({"order_id": f"S{index}", "status": "created"} for index in range(50))
    journal.path.write_text("".join(json.dumps(entry) + "\n" for entry in done), encoding="utf-8")
    journal.claim()
    client = B2BClient("t", rate_limit=None)
    run = Registration(client, journal, read_rows(orders), 50, 1, quiet=True)
    asyncio.get_running_loop().call_soon(run.interrupt)  # the signal handler's call
    try:
        sent = [order async for order in run.orders()]
    finally:
        run.rows.close()
        journal.close()
    assert sent == []
    assert run.interrupted
    assert set(run.counts) == {status}
    assert run.counts[status] < 50, run.counts


def test_register_quiet_prints_no_progress_and_no_table(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """--quiet: a run where all goes well prints nothing at all; the journal is written."""
    orders = write_orders(tmp_path / "orders.csv", 25)
    results = tmp_path / "results.jsonl"
    result = invoke(register_args(orders, sandbox.url, results, "--rate-limit", "none", "-q"))
    assert result.exit_code == 0, result.output
    assert (result.stdout, result.stderr) == ("", "")
    assert sorted(registered_in(results)) == order_ids(25)


def test_register_quiet_still_reports_problems(sandbox: SandboxServer, tmp_path: Path) -> None:
    """--quiet keeps the lines about rejected rows: only the progress and the table go."""
    orders = tmp_path / "orders.csv"
    orders.write_text(HEADER + ",1,A1,abc,\n", encoding="utf-8")
    result = invoke(register_args(orders, sandbox.url, tmp_path / "r.jsonl", "--quiet"))
    assert result.exit_code == 1
    assert result.stderr.startswith("line 2: rejected: total_inc_tax is not a number")
    assert "registering" not in result.stderr
    assert "summary" not in result.stderr


def test_register_long_error_line_is_not_wrapped_in_a_pipe(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """An error line naming a long URL stays one line when standard error is not a terminal."""
    company = "9" * 150
    orders = tmp_path / "orders.csv"
    orders.write_text(HEADER + f"{company},1,L1,1,\n", encoding="utf-8")
    result = invoke(register_args(orders, sandbox.url, tmp_path / "r.jsonl", "--quiet"))
    assert result.exit_code == 1
    (line,) = [text for text in result.stderr.splitlines() if text.startswith("line 2:")]
    assert f"{sandbox.url}/api/v2/io/companies/{company}/" in line


def with_a_bad_row(tmp_path: Path, *order_ids: str) -> tuple[Path, Path]:
    """An input of ``order_ids`` with a row missing its order id after the first, and the
    path of its journal: (input, journal)."""
    first, *rest = order_ids
    rows = [f",1,{first},1,", ",1,,1,", *(f",1,{order_id},1," for order_id in rest)]
    orders = tmp_path / "orders.csv"
    orders.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return orders, tmp_path / "results.jsonl"


def run_command(
    args: list[str], *, stdout: Any, stderr: Any, code: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run ``b2b-async ARGS`` in a process of its own with the token set (through ``code``,
    Python that runs the command line, when given)."""
    program = ["-c", code] if code else ["-m", "b2b_async"]
    return subprocess.run(  # noqa: S603 (this interpreter, the package's own command)
        [sys.executable, *program, *args],
        env=cli_env(),
        stdout=stdout,
        stderr=stderr,
        timeout=DEADLINE,
        check=False,
    )


def test_register_on_a_terminal_shows_its_progress_and_finishes(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """On a terminal the progress bar stands in front of standard error while it runs; the
    lines said meanwhile go through it, and the run finishes (it once looped for ever)."""
    orders, results = with_a_bad_row(tmp_path, "T1", "T3")
    args = register_args(orders, sandbox.url, results, "--rate-limit", "none")
    output = stderr_on_a_terminal(args, cli_env())  # a run that never ends times out
    assert sorted(registered_in(results)) == ["T1", "T3"]
    assert b"line 3: rejected" in output
    assert b"registering" in output


def test_a_missing_standard_error_loses_the_lines_not_the_run(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Started with standard error closed (``2>&-``), the run still registers every order."""
    orders, results = with_a_bad_row(tmp_path, "M1")
    args = register_args(orders, sandbox.url, results, "--rate-limit", "none", "--json")
    done = run_command(args, stdout=subprocess.PIPE, stderr=None, code=CLOSED_STDERR)
    assert done.returncode == 1  # one row rejected
    assert json.loads(done.stdout)["orders"]["created"] == 1
    assert registered_in(results) == ["M1"]


def test_register_with_an_unwritable_standard_output_says_so_and_keeps_its_code(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A --json summary that standard output (a full device) cannot take costs an error line,
    not the exit code the run earned, and no traceback as the interpreter exits."""
    orders, results = with_a_bad_row(tmp_path, "O1")
    args = register_args(orders, sandbox.url, results, "--rate-limit", "none", "--json")
    with open("/dev/full", "wb") as full:
        done = run_command(args, stdout=full, stderr=subprocess.PIPE)
    assert done.returncode == 1  # one row rejected
    assert b"cannot write to standard output" in done.stderr
    assert b"Traceback" not in done.stderr
    assert b"Exception ignored" not in done.stderr
    assert registered_in(results) == ["O1"]


def test_create_with_an_unwritable_standard_output_says_so_and_exits_0(
    sandbox: SandboxServer,
) -> None:
    """orders create whose JSON standard output (a full device) cannot take registers the
    order once and exits 0, with an error line saying the output is lost and no traceback."""
    with open("/dev/full", "wb") as full:
        done = run_command(create_args(sandbox.url, "BC9"), stdout=full, stderr=subprocess.PIPE)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(b"error: cannot write to standard output"), done.stderr
    assert b"Traceback" not in done.stderr
    assert b"Exception ignored" not in done.stderr
    assert sandbox.registrations("BC9") == 1


#: Runs the command line with standard error closed, as a shell's ``2>&-`` leaves it.
CLOSED_STDERR = (
    "import os, sys; os.close(2); sys.stderr = None; "
    "from b2b_async._cli import cli; cli.main(sys.argv[1:], prog_name='b2b-async')"
)


def stderr_on_a_terminal(args: list[str], env: dict[str, str]) -> bytes:
    """What ``python -m b2b_async ARGS`` writes to a standard error that is a terminal."""
    controller, terminal = pty.openpty()
    try:
        subprocess_run(args, env, stderr=terminal)
    finally:
        os.close(terminal)
    try:
        return read_all(controller)
    finally:
        os.close(controller)


def subprocess_run(args: list[str], env: dict[str, str], stderr: int) -> None:
    command = [sys.executable, "-m", "b2b_async", *args]
    subprocess.run(  # noqa: S603 - this interpreter, the arguments of the test
        command, env=env, stderr=stderr, stdout=subprocess.DEVNULL, timeout=DEADLINE
    )


def read_all(controller: int) -> bytes:
    """Everything the terminal holds once its writer is gone (Linux then says EIO)."""
    chunks = []
    with contextlib.suppress(OSError):
        while chunk := os.read(controller, 4096):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(("no_color", "coloured"), [("1", False), ("", True)])
def test_no_color_means_no_ansi_escapes_on_a_terminal(
    tmp_path: Path, no_color: str, coloured: bool
) -> None:
    """NO_COLOR set (not empty) leaves no ANSI escape in what a terminal is sent."""
    orders = write_orders(tmp_path / "orders.csv", 1)
    results = tmp_path / "results.jsonl"
    results.write_text("[1]\n", encoding="utf-8")  # stops the run with an error line
    env = {**cli_env(), "TERM": "xterm-256color", "NO_COLOR": no_color}
    env.pop("FORCE_COLOR", None)
    args = ["orders", "register", str(orders), "--results", str(results)]
    output = stderr_on_a_terminal(args, env)
    assert b"error:" in output
    assert (b"\x1b[" in output) is coloured, output


# -- orders register, as a subprocess killed or interrupted ------------------------------------


def test_register_with_an_unwritable_standard_error_still_finishes(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Standard error on a full device loses its lines, not the run: every valid order is
    registered and the --json summary still comes out."""
    orders, results = with_a_bad_row(tmp_path, "F1", "F3")
    args = register_args(orders, sandbox.url, results, "--rate-limit", "none", "--json")
    with open("/dev/full", "wb") as full:
        done = run_command(args, stdout=subprocess.PIPE, stderr=full)
    assert done.returncode == 1  # one row rejected
    assert json.loads(done.stdout)["orders"]["created"] == 2
    assert sorted(registered_in(results)) == ["F1", "F3"]


def read_log(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")


def cli_env() -> dict[str, str]:
    return {**os.environ, **TOKEN_ENV, "COLUMNS": "120"}


async def start_cli(*args: str, log: Path) -> asyncio.subprocess.Process:
    """Run ``python -m b2b_async ARGS`` with the token set, its output appended to ``log``."""
    with log.open("ab") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "b2b_async", *args, env=cli_env(), stdout=sink, stderr=sink
        )


async def wait_until(
    condition: Callable[[], bool], process: asyncio.subprocess.Process, log: Path
) -> None:
    """Poll ``condition`` until it holds; fail if the process ends first or time runs out."""
    async with asyncio.timeout(DEADLINE):
        while not condition():
            if process.returncode is not None:
                pytest.fail(f"exited {process.returncode} early:\n{read_log(log)}")
            await asyncio.sleep(0.01)


async def finish(process: asyncio.subprocess.Process) -> int:
    """The process's exit code, once it ends within the deadline."""
    async with asyncio.timeout(DEADLINE):
        return await process.wait()


@contextlib.asynccontextmanager
async def reaped(
    process: asyncio.subprocess.Process,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Kill and reap the process if the block leaves it running (a failed assertion, say)."""
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_sigkill_midway_then_rerun_registers_300_exactly_once(tmp_path: Path) -> None:
    """300 orders, SIGKILL after ~100 are journaled, rerun: each registered once and journaled."""
    orders = write_orders(tmp_path / "orders.csv", 300)
    results = tmp_path / "results.jsonl"
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    faults = Faults(latency=1.0, latency_seconds=0.05)  # keeps orders in flight at any moment
    async with SandboxServer(rate=RateWindow(requests=60, per=1.0), faults=faults) as server:
        args = register_args(orders, server.url, results, "--rate-limit", "60/1")
        first = await start_cli(*args, log=first_log)
        async with reaped(first):
            await wait_until(lambda: complete_lines(results) >= 100, first, first_log)
            first.send_signal(signal.SIGKILL)
            assert await finish(first) == -signal.SIGKILL
        journaled = set(registered_in(results))
        assert 100 <= len(journaled) < 300
        assert journaled <= set(server.orders)

        second = await start_cli(*args, log=second_log)
        async with reaped(second):
            assert await finish(second) == 0, read_log(second_log)
        output = read_log(second_log)
        assert summary_count(output, "skipped") == len(journaled)
        assert summary_count(output, "created") + summary_count(
            output, "already registered"
        ) == 300 - len(journaled)
        assert len(server.orders) == 300
        assert all(server.registrations(order_id) == 1 for order_id in order_ids(300))
    assert set(registered_in(results)) == set(order_ids(300))


def entries_after_kills(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The entries of a journal written by killed runs, and how many lines were cut short.

    Every line must be a well-formed entry, or the start of one (a line a kill cut short).
    """
    entries, cut = [], 0
    for text in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            json.loads(text)
        except ValueError:
            assert text.startswith("{"), text
            cut += 1
            continue
        entries.append(well_formed(text))
    return entries, cut


def well_formed(text: str) -> dict[str, Any]:
    """The entry of a journal line, checked to be well formed."""
    entry: dict[str, Any] = json.loads(text)
    assert set(entry) == {"order_id", "line", "status", "error", "target"}, text
    assert entry["status"] in STATUSES, text
    return entry


async def kill_when_journaled(args: list[str], results: Path, lines: int, log: Path) -> None:
    """Run ``orders register`` and SIGKILL it once the journal has ``lines`` complete lines."""
    process = await start_cli(*args, log=log)
    async with reaped(process):
        await wait_until(lambda: complete_lines(results) >= lines, process, log)
        process.send_signal(signal.SIGKILL)
        assert await finish(process) == -signal.SIGKILL


async def test_ten_sigkills_then_finishing_registers_500_exactly_once(tmp_path: Path) -> None:
    """500 orders, SIGKILL at 10 random journal sizes, then a last run: each once, all journaled."""
    orders = write_orders(tmp_path / "orders.csv", 500)
    results = tmp_path / "results.jsonl"
    # Kill points are journal sizes, never times; each run must journal one new line first.
    # The last is far enough from 500 that no run can finish between two polls.
    points = sorted(random.sample(range(1, 450), 10))
    faults = Faults(latency=1.0, latency_seconds=0.05)  # keeps orders in flight at any moment
    async with SandboxServer(rate=None, faults=faults) as server:
        args = register_args(orders, server.url, results, "--rate-limit", "none")
        logs = [tmp_path / f"run{run}.log" for run in range(len(points) + 1)]
        for point, log in zip(points, logs, strict=False):
            target = max(point, complete_lines(results) + 1)
            await kill_when_journaled(args, results, target, log)
        entries, cut = entries_after_kills(results)
        registered = {e["order_id"] for e in entries if e["status"] in REGISTERED}
        assert registered <= set(server.orders), points  # nothing journaled that is not so
        assert cut <= len(points)

        last = await start_cli(*args, log=logs[-1])
        async with reaped(last):
            assert await finish(last) == 0, f"kill points {points}:\n{read_log(logs[-1])}"
        assert len(server.orders) == 500
        assert all(server.registrations(order_id) == 1 for order_id in order_ids(500)), points
    entries, _ = entries_after_kills(results)
    assert {e["order_id"] for e in entries if e["status"] in REGISTERED} == set(order_ids(500))
    assert not any("Traceback" in read_log(log) for log in logs)


async def test_sigint_midway_exits_130_then_rerun_completes(tmp_path: Path) -> None:
    """SIGINT: exit 130, a well-formed journal holding every registered order; rerun: exit 0."""
    orders = write_orders(tmp_path / "orders.csv", 120)
    results = tmp_path / "results.jsonl"
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    faults = Faults(latency=1.0, latency_seconds=0.05)
    async with SandboxServer(rate=RateWindow(requests=60, per=1.0), faults=faults) as server:
        args = register_args(orders, server.url, results, "--rate-limit", "60/1")
        first = await start_cli(*args, log=first_log)
        async with reaped(first):
            await wait_until(lambda: complete_lines(results) >= 30, first, first_log)
            first.send_signal(signal.SIGINT)
            assert await finish(first) == 130, read_log(first_log)
        assert "interrupted: finishing the orders in flight" in read_log(first_log)
        journaled = registered_in(results)  # every line parses and is well formed
        assert sorted(journaled) == sorted(server.orders)  # in-flight orders were journaled
        assert len(journaled) < 120

        second = await start_cli(*args, log=second_log)
        async with reaped(second):
            assert await finish(second) == 0, read_log(second_log)
        assert summary_count(read_log(second_log), "skipped") == len(journaled)
        assert len(server.orders) == 120
        assert all(server.registrations(order_id) == 1 for order_id in order_ids(120))
    assert set(registered_in(results)) == set(order_ids(120))


async def test_second_sigint_aborts_with_130_and_loses_nothing(tmp_path: Path) -> None:
    """Ctrl-C twice aborts the orders in flight (exit 130); a rerun still registers each once."""
    orders = write_orders(tmp_path / "orders.csv", 40)
    results = tmp_path / "results.jsonl"
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    slow = Faults(latency=1.0, latency_seconds=2.0)  # in flight long enough to abort
    async with SandboxServer(rate=None, faults=slow) as server:
        args = register_args(orders, server.url, results, "--rate-limit", "none")
        first = await start_cli(*args, log=first_log)
        async with reaped(first):
            # Several in flight (a bulk run leaves one of the 8 places to other priorities),
            # none answered yet: each takes 2 s.
            await wait_until(lambda: len(server.requests) >= 4, first, first_log)
            first.send_signal(signal.SIGINT)
            await wait_until(
                lambda: "finishing the orders" in read_log(first_log), first, first_log
            )
            first.send_signal(signal.SIGINT)
            assert await finish(first) == 130, read_log(first_log)
        output = read_log(first_log)
        assert "results journal" in output  # the summary is still printed
        assert "Traceback" not in output
        assert complete_lines(results) == 0  # the orders in flight were abandoned, unjournaled
        server.faults = Faults()
        second = await start_cli(*args, log=second_log)
        async with reaped(second):
            assert await finish(second) == 0, read_log(second_log)
        assert len(server.orders) == 40
        assert all(server.registrations(order_id) == 1 for order_id in order_ids(40))


# -- sandbox -----------------------------------------------------------------------------------


async def test_sandbox_command_serves_until_interrupted() -> None:
    """b2b-async sandbox prints its URL first, serves the API, and exits 130 on Ctrl-C."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "b2b_async",
        "sandbox",
        "--port",
        "0",
        "--rate-limit",
        "40/1",
        "--faults",
        "none",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(DEADLINE):
            first_line = (await process.stdout.readline()).decode()
        url = re.search(r"http://\S+", first_line)
        assert url is not None, first_line
        async with B2BClient(DEFAULT_TOKEN, base_url=url.group(0), rate_limit=None) as client:
            created = await client.orders.create(customer_id=5, order_id="S1", total_inc_tax=1)
        assert created.order_id == "S1"
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(DEADLINE):
            rest, errors = await process.communicate()
        assert process.returncode == 130, errors
        assert b"window: 40/1" in rest
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()


def test_sandbox_serves_on_when_its_standard_output_is_gone() -> None:
    """A standard output whose reader has left (``sandbox | head -1``) loses the banner, not
    the sandbox: it serves, and Ctrl-C still ends it with exit code 130."""
    port = free_port()
    reader, writer = os.pipe()
    os.close(reader)  # every write to standard output now fails with EPIPE
    try:
        process = subprocess.Popen(  # noqa: S603 (this interpreter, the package's own command)
            [sys.executable, "-m", "b2b_async", "sandbox", "--port", str(port)],
            stdout=writer,
            stderr=subprocess.PIPE,
        )
    finally:
        os.close(writer)
    try:
        deadline = time.monotonic() + DEADLINE
        while process.poll() is None and not health(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        serving = process.poll() is None and health(port)
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=DEADLINE)
    finally:
        if process.returncode is None:
            process.kill()
            process.communicate()
    assert serving, errors
    assert process.returncode == 130, errors
    assert b"cannot listen" not in errors


def health(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        connection.request("GET", "/_sandbox/health")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def test_sandbox_command_in_process(tmp_path: Path) -> None:
    """In-process: the sandbox answers its health check, and Ctrl-C ends it with exit 130."""
    port = free_port()
    data = tmp_path / "data.json"
    data.write_text(
        json.dumps({"companies": [{"id": 1}], "customers": [{"id": 1, "companyId": 1}]})
    )
    args = [
        "sandbox",
        "--port",
        str(port),
        "--faults",
        "500=0.1",
        "--seed",
        "1",
        "--data",
        str(data),
    ]
    with sigint_when(lambda: health(port)) as fired:
        result = invoke([*args, "--token", "t", "--competing", "2", "--registration-window", "3"])
    assert fired.is_set()
    assert result.exit_code == 130
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert f"listening on http://127.0.0.1:{port}" in result.stdout
    assert "token: t" in result.stdout
    assert "V3 registrations accepted: within 3 s of an order's creation" in result.stdout


def test_a_sandbox_without_a_window_says_none_as_it_was_asked() -> None:
    """The banner writes each setting as the option takes it: "none", not Python's None."""
    port = free_port()
    with sigint_when(lambda: health(port)):
        result = invoke(["sandbox", "--port", str(port), "--rate-limit", "none"])
    assert "  window: none  faults: " in result.stdout


def test_a_sandbox_without_token_or_store_hash_takes_and_shows_the_defaults() -> None:
    """With neither --token nor --store-hash, the sandbox accepts and shows the defaults."""
    port = free_port()
    with sigint_when(lambda: health(port)):
        result = invoke(["sandbox", "--port", str(port)])
    assert f"  token: {DEFAULT_TOKEN}\n  store hash: {DEFAULT_STORE_HASH}\n" in result.stdout


def test_standard_error_has_the_encoding_and_descriptor_of_sys_stderr(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The stream the console writes to reports the encoding and file descriptor of
    ``sys.stderr``, and none of either once standard error is gone."""
    with (tmp_path / "err.txt").open("w", encoding="ascii") as stream:
        monkeypatch.setattr(sys, "stderr", stream)
        assert (_cli.StandardError().encoding, _cli.StandardError().fileno()) == (
            "ascii",
            stream.fileno(),
        )
        monkeypatch.setattr(sys, "stderr", None)
        assert _cli.StandardError().encoding == "utf-8"
        with pytest.raises(io.UnsupportedOperation):
            _cli.StandardError().fileno()


@pytest.mark.parametrize(("text", "seconds"), [("10", 10.0), ("2.5", 2.5), (" None ", None)])
def test_registration_window_reads_seconds_or_none(text: str, seconds: float | None) -> None:
    assert registration_window(text) == seconds


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--faults", "bogus=1"], "bogus"),
        (["--faults", "500=2"], "probability"),
        (["--rate-limit", "fast"], "REQUESTS/SECONDS"),
        (["--rate-limit", "0/1"], "invalid rate"),
        (["--port", "x"], "not a valid integer"),
        (["--port", "-1"], "not in the range"),
        (["--port", "65536"], "not in the range"),
        (["--registration-window", "soon"], "positive seconds or none"),
        (["--registration-window", "0"], "positive seconds or none"),
        (["--registration-window", "inf"], "positive seconds or none"),
    ],
)
def test_sandbox_bad_options_are_usage_errors(args: list[str], message: str) -> None:
    """Unparsable --faults, --rate-limit or --port (or a port past 65535) give a usage error."""
    result = invoke(["sandbox", *args])
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.parametrize(
    ("args", "option"),
    [(["--faults", "bogus=1"], "--faults"), (["--rate-limit", "5"], "--rate-limit")],
)
def test_sandbox_bad_option_values_name_their_option(args: list[str], option: str) -> None:
    """A --faults or --rate-limit that cannot be read is refused naming that option."""
    result = invoke(["sandbox", *args])
    assert result.exit_code == 2
    assert f"Invalid value for '{option}'" in result.stderr


def test_sandbox_negative_competing_share_is_a_usage_error() -> None:
    """A --competing below 0 is refused naming the option, as click reads the options (a
    --registration-window of 0, refused later, keeps the command from serving)."""
    result = invoke(["sandbox", "--port", "0", "--competing", "-5", "--registration-window", "0"])
    assert result.exit_code == 2
    assert "--competing" in result.stderr


def test_sandbox_bad_data_file_is_a_usage_error(tmp_path: Path) -> None:
    """A --data file that is not the documented JSON gives a usage error, exit 2."""
    data = tmp_path / "data.json"
    data.write_text('{"companies": 1}')
    result = invoke(["sandbox", "--data", str(data)])
    assert result.exit_code == 2
    assert "companies" in result.stderr


def test_sandbox_data_file_nested_too_deeply_is_a_usage_error(tmp_path: Path) -> None:
    """A --data file nested past what the parser reads gives a usage error, not a traceback."""
    data = tmp_path / "data.json"
    data.write_text('{"companies": ' + "[" * 100_000 + "]" * 100_000 + "}")
    result = invoke(["sandbox", "--data", str(data)])
    assert result.exit_code == 2
    assert "nested too deeply" in result.stderr


def test_sandbox_port_in_use_is_a_usage_error() -> None:
    """A port already taken gives a usage error naming --port, not a traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = invoke(["sandbox", "--port", str(taken.getsockname()[1])])
    assert result.exit_code == 2
    assert "--port" in result.stderr
    assert "cannot listen" in result.stderr


# -- demo command, version ---------------------------------------------------------------------


@pytest.mark.parametrize(("ok", "code"), [(True, 0), (False, 1)])
def test_demo_command_exit_code_follows_the_outcome(
    monkeypatch: pytest.MonkeyPatch, ok: bool, code: int
) -> None:
    """b2b-async demo exits 0 when the demo ends as expected, 1 otherwise."""

    async def fake_demo() -> bool:
        return ok

    monkeypatch.setattr("b2b_async._demo.run_demo", fake_demo)
    assert invoke(["demo"]).exit_code == code


def test_version_and_help() -> None:
    """--version prints the version; -h lists the command groups."""
    assert "b2b-async, version" in invoke(["--version"]).stdout
    assert {"demo", "orders", "sandbox"} <= set(invoke(["-h"]).stdout.split())


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidOrderError("bad"), 2),
        (NotFoundError("no", status=404), 3),
        (AuthenticationError("no", status=401), 3),
        (RateLimitError("slow down", status=429), 4),
        (ServerError("oops", status=503), 4),
        (APIConnectionError("refused"), 4),
        (ResponseDecodeError("not JSON", status=200), 5),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_exit_code_for_each_kind_of_error(error: B2BError, code: int) -> None:
    """The documented exit codes: 2 invalid, 3 refused (4xx but 429), 4 unreachable, 5 decode."""
    assert exit_code_for(error) == code


def test_stop_message_says_a_failure_that_stops_no_run_as_it_is() -> None:
    """A failure that is neither a refused token nor a connection is said as it is."""
    error = InvalidOrderError("line 2: missing order_id")
    assert stop_message(error) == str(error)


def test_create_without_token_says_which_variable_to_set(sandbox: SandboxServer) -> None:
    """orders create with B2B_AUTH_TOKEN unset says to set it, in the command's own words."""
    result = invoke(create_args(sandbox.url), env={"B2B_AUTH_TOKEN": None})
    assert result.exit_code == 2
    assert "set the API token in the B2B_AUTH_TOKEN environment variable" in result.stderr
    assert sandbox.requests == []


def test_rate_limit_option_reads_n_per_seconds() -> None:
    """--rate-limit N/SECONDS becomes a RateLimit; none and off switch pacing off."""
    assert parse_rate_limit("150/60") == RateLimit(requests=150, per=60.0)
    assert parse_rate_limit(" None ") is None
    assert parse_rate_limit("off") is None


def test_a_rate_limit_that_is_no_rate_names_its_option(tmp_path: Path) -> None:
    """--rate-limit fast is a usage error that names the option, before anything is read."""
    orders = write_orders(tmp_path / "orders.csv", 1)
    result = invoke(["orders", "register", str(orders), "--rate-limit", "fast"])
    assert result.exit_code == 2
    assert "Invalid value for '--rate-limit': expected N/SECONDS" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("text", "reason"),
    [("5", "got '5' (missing '/')"), ("abc/60", "got 'abc/60' (invalid literal")],
)
def test_a_rate_limit_that_is_no_rate_says_what_is_wrong_with_it(text: str, reason: str) -> None:
    """A --rate-limit of no N/SECONDS form quotes the value and names its fault, never a NaN."""
    with pytest.raises(click.BadParameter) as caught:
        parse_rate_limit(text)
    assert reason in caught.value.message
    assert "nan" not in caught.value.message


@pytest.mark.parametrize(
    "limit", [RateLimit(), RateLimit(requests=20, per=2.0), RateLimit(requests=3, per=0.25)]
)
def test_a_rate_limit_reads_back_from_its_text(limit: RateLimit) -> None:
    """The default --rate-limit is the client's RateLimit(), written the way it is read."""
    assert parse_rate_limit(rate_limit_text(limit)) == limit


# -- V3 through ensure ---------------------------------------------------------------------------

V3_EXTRA: Final = {"Department": "Retail", "Fintech ID": "F-7"}


def place_late_orders(server: SandboxServer, count: int) -> list[int]:
    """Place ``count`` BigCommerce orders a minute old: past V3's 10-second window."""
    a_minute_ago = server.now() - timedelta(minutes=1)
    placed = [
        server.place_order(customer_id=index % 50 + 1, total_inc_tax=10, created_at=a_minute_ago)
        for index in range(count)
    ]
    return [order.bc_order_id for order in placed]


def write_v3_orders(path: Path, ids: list[int], created: datetime) -> Path:
    """A JSONL of V3 rows for ``ids``, each with its PO number, extra fields and creation time."""
    rows = (
        json.dumps(
            {
                "bc_order_id": bc_id,
                "customer_id": index % 50 + 1,
                "po_number": f"PO-{bc_id}",
                "extra_fields": V3_EXTRA,
                "created_at": created.isoformat(),
            }
        )
        + "\n"
        for index, bc_id in enumerate(ids)
    )
    path.write_text("".join(rows), encoding="utf-8")
    return path


async def v3_attributes(url: str, ids: list[int]) -> dict[int, tuple[str | None, dict[str, str]]]:
    """Each order's PO number and extra fields, as B2B Edition holds them."""
    async with B2BClient(DEFAULT_TOKEN, base_url=url, rate_limit=None) as client:
        orders = [await client.v3.orders.get(bc_id) for bc_id in ids]
    return {
        order.bc_order_id: (
            order.po_number,
            {f.field_name: f.field_value for f in order.extra_fields},
        )
        for order in orders
    }


def test_register_v3_sets_the_attributes_of_late_orders_through_ensure(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Orders past their window are read and updated; the journal says what ensure did."""
    ids = place_late_orders(sandbox, 5)
    orders = write_v3_orders(tmp_path / "orders.jsonl", ids, sandbox.now())
    results = tmp_path / "results.jsonl"
    args = register_args(orders, sandbox.url, results, "--api", "v3", "-q")
    result = invoke([*args, "--rate-limit", "none"])
    assert result.exit_code == 0, result.output
    assert asyncio.run(v3_attributes(sandbox.url, ids)) == {
        bc_id: (f"PO-{bc_id}", V3_EXTRA) for bc_id in ids
    }
    assert {entry["action"] for entry in journal_entries(results)} == {"updated"}


async def test_v3_sigkill_midway_then_rerun_sets_every_order(tmp_path: Path) -> None:
    """120 late V3 orders, SIGKILL after ~40 are journaled, rerun: every order ends right."""
    faults = Faults(latency=1.0, latency_seconds=0.05)  # keeps orders in flight at any moment
    async with SandboxServer(rate=RateWindow(requests=80, per=1.0), faults=faults) as server:
        ids = place_late_orders(server, 120)
        orders = write_v3_orders(tmp_path / "orders.jsonl", ids, server.now())
        results = tmp_path / "results.jsonl"
        args = register_args(orders, server.url, results, "--api", "v3", "--rate-limit", "80/1")
        first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
        await kill_when_journaled(args, results, 40, first_log)
        assert 40 <= complete_lines(results) < 120
        second = await start_cli(*args, log=second_log)
        async with reaped(second):
            assert await finish(second) == 0, read_log(second_log)
        server.faults = Faults()
        assert await v3_attributes(server.url, ids) == {
            bc_id: (f"PO-{bc_id}", V3_EXTRA) for bc_id in ids
        }
    assert {int(order_id) for order_id in registered_in(results)} == set(ids)


# -- journal paths the system refuses, signals as the command ends ----------------------------


@pytest.mark.parametrize("given", ["--results", "default"])
def test_register_a_journal_path_the_system_refuses_to_look_up_is_one_error_line(
    sandbox: SandboxServer, tmp_path: Path, given: str
) -> None:
    """A journal name too long for the file system (given, or the default next to an input
    whose own name is long), or under a folder the user may not enter: exit 2 and one error
    line, never a traceback (nor exit 1, which says orders failed)."""
    if given == "--results":
        orders = write_orders(tmp_path / "orders.csv", 3)
        args = register_args(orders, sandbox.url, tmp_path / ("r" * 300))
    else:  # 247 characters is a valid name; adding ".results.jsonl" makes one past 255
        orders = write_orders(tmp_path / ("o" * 243 + ".csv"), 3)
        args = ["orders", "register", str(orders), "--base-url", sandbox.url]
    result = invoke(args)
    assert result.exit_code == 2, result.output
    assert one_error_line(result.stderr).startswith("error: cannot use the results journal")
    assert sandbox.requests == []


def test_register_a_journal_in_a_missing_folder_says_nothing_was_sent(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A journal the system cannot create (its folder is missing) stops the command with
    exit 2, saying that nothing was sent, as every other refused journal does."""
    orders = write_orders(tmp_path / "orders.csv", 3)
    result = invoke(register_args(orders, sandbox.url, tmp_path / "missing" / "r.jsonl"))
    assert result.exit_code == 2, result.output
    line = one_error_line(result.stderr)
    assert line.startswith("error: cannot use the results journal"), line
    assert line.endswith("; nothing was sent"), line
    assert sandbox.requests == []


def test_register_a_second_ctrl_c_while_the_first_is_reported_still_exits_130(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the input is read, and Ctrl-C again while "interrupted" is being said
    (saying it first loads rich): exit 130, not click's "Aborted!" and exit 1, the code of
    orders rejected or failed."""

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("b2b_async._journal.count_rows", interrupted)
    said: list[object] = []
    real_say = _cli.say

    def say_pressed_again(*parts: str | tuple[str, str]) -> None:
        if not said:
            os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C, as the first is reported
        said.append(parts)
        real_say(*parts)

    monkeypatch.setattr(_cli, "say", say_pressed_again)
    orders = write_orders(tmp_path / "orders.csv", 3)
    result = invoke(register_args(orders, sandbox.url, tmp_path / "results.jsonl"))
    assert result.exit_code == 130, result.output
    assert "Aborted!" not in result.stderr
    assert sandbox.requests == []


#: Runs the command line as ``python -m b2b_async`` does, but once the command has ended it
#: touches the file named by its first argument and lingers in an atexit handler, as an
#: interpreter that takes its time to exit (closing sockets, joining threads) does, until
#: the file named by its second argument exists: the test creates it once its signal is
#: sent, so the signal comes while the interpreter exits however slow the machine.
LINGERING_MAIN = """
import atexit, pathlib, sys, time
ended, resume = pathlib.Path(sys.argv.pop(1)), pathlib.Path(sys.argv.pop(1))

def linger():
    ended.touch()
    while not resume.exists():
        time.sleep(0.01)
    time.sleep(0.1)  # the signal, already pending, is handled during this sleep

atexit.register(linger)
from b2b_async.__main__ import main
main()
"""


async def test_register_a_second_sigterm_as_the_interpreter_exits_keeps_exit_130(
    tmp_path: Path,
) -> None:
    """The run was stopped by SIGTERM (exit 130, its summary printed); a second SIGTERM while
    the interpreter exits (a service manager's, a wrapper forwarding the one its process group
    got) leaves the exit code 130 instead of killing the process (143)."""
    signum = signal.SIGTERM
    orders = write_orders(tmp_path / "orders.csv", 40)
    results, log, ended = tmp_path / "results.jsonl", tmp_path / "run.log", tmp_path / "ended"
    resume = tmp_path / "resume"
    async with SandboxServer(rate=None) as server:
        args = register_args(orders, server.url, results, "--rate-limit", "1/60", "--json")
        with log.open("ab") as sink:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-c", LINGERING_MAIN, str(ended), str(resume), *args,
                env=cli_env(), stdout=sink, stderr=sink,
            )  # fmt: skip
        async with reaped(process):
            await wait_until(lambda: len(server.requests) >= 1, process, log)
            process.send_signal(signum)
            await wait_until(ended.exists, process, log)
            process.send_signal(signum)
            resume.touch()
            assert await finish(process) == 130, read_log(log)


# -- orders register --redis: one budget with the services on the key ---------------------------

DEFAULT_KEY = f"{REDIS_KEY_PREFIX}{DEFAULT_STORE_HASH}"


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the module's runs with --redis."""
    if REDIS_SERVER is None:
        pytest.skip(SKIP_REASON)
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The Redis server's URL, its database emptied after the test."""
    yield redis_server.url
    with redis_client(redis_server.url) as client:
        client.flushdb()


def redis_client(url: str) -> Any:
    """A synchronous Redis client, to read the keys a run booked on."""
    import redis

    return redis.Redis.from_url(url)


async def start_apart(
    *args: str, stdout: Path, stderr: Path, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    """Run ``python -m b2b_async ARGS`` with the token set (and ``env``), its standard output
    and standard error written to files of their own."""
    with stdout.open("ab") as out, stderr.open("ab") as err:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "b2b_async",
            *args,
            env={**cli_env(), **(env or {})},
            stdout=out,
            stderr=err,
        )


def tickets_on(url: str, key: str) -> int:
    """How many bookings processes made on ``key``: its ticket counter (0 without the key)."""
    with redis_client(url) as client:
        return int(client.hget(key, "seq") or 0)


def test_register_with_redis_books_every_request_on_the_stores_default_key(
    sandbox: SandboxServer, tmp_path: Path, redis_url: str
) -> None:
    """--redis with a store hash books each request on b2b-async:ratelimit:<store hash>, the
    key docs/redis.md recommends to services."""
    orders = write_orders(tmp_path / "orders.csv", 5)
    extra = ("--store-hash", DEFAULT_STORE_HASH, "--redis", redis_url)
    result = invoke(register_args(orders, sandbox.url, tmp_path / "r.jsonl", *extra))
    assert result.exit_code == 0, result.output
    assert len(sandbox.orders) == 5
    assert tickets_on(redis_url, DEFAULT_KEY) >= len(sandbox.requests) == 5


def test_register_on_a_redis_that_answers_says_nothing_about_redis(
    sandbox: SandboxServer, tmp_path: Path, redis_url: str
) -> None:
    """While Redis answers, the run shares its budget and prints no line about pacing alone."""
    orders = write_orders(tmp_path / "orders.csv", 3)
    extra = ("--redis", redis_url, "--redis-key", "k", "-q")
    result = invoke(register_args(orders, sandbox.url, tmp_path / "r.jsonl", *extra))
    assert result.exit_code == 0, result.output
    assert len(sandbox.orders) == 3
    assert "Redis" not in result.stderr, result.stderr


def test_the_default_redis_key_is_the_one_the_redis_docs_recommend() -> None:
    """The docs' "Key naming" builds the key from the same prefix and the store hash."""
    docs = (Path(__file__).parents[1] / "docs" / "redis.md").read_text(encoding="utf-8")
    naming = docs.partition("## Key naming")[2].partition("\n## ")[0]
    assert f'key = f"{REDIS_KEY_PREFIX}{{store_hash}}"' in naming


def test_register_reads_the_redis_url_from_b2b_redis_url(
    sandbox: SandboxServer, tmp_path: Path, redis_url: str
) -> None:
    """B2B_REDIS_URL stands for --redis; a blank one means no Redis."""
    orders = write_orders(tmp_path / "orders.csv", 3)
    args = register_args(orders, sandbox.url, tmp_path / "r.jsonl", "--redis-key", "k1")
    result = invoke(args, env={**TOKEN_ENV, "B2B_REDIS_URL": redis_url})
    assert result.exit_code == 0, result.output
    assert tickets_on(redis_url, "k1") >= 3
    blank = register_args(orders, sandbox.url, tmp_path / "r2.jsonl")
    result = invoke(blank, env={**TOKEN_ENV, "B2B_REDIS_URL": " "})
    assert result.exit_code == 0, result.output
    assert "--redis" in invoke(["orders", "register", "--help"]).output
    assert "B2B_REDIS_URL" in invoke(["orders", "register", "--help"]).output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate-limit", "none", "--redis-key", "k"], "--rate-limit none cannot be shared"),
        ([], "--redis needs --redis-key, or --store-hash"),
        (["--redis-key", "k", "--redis", "http://x"], "Invalid value for '--redis'"),
    ],
)
def test_register_redis_usage_errors_exit_2_before_sending(
    sandbox: SandboxServer, tmp_path: Path, redis_url: str, args: list[str], message: str
) -> None:
    """--rate-limit none with --redis, no key to use, or a URL that is no Redis URL: exit 2."""
    orders = write_orders(tmp_path / "orders.csv", 3)
    extra = ("--redis", redis_url, *args)
    result = invoke(register_args(orders, sandbox.url, tmp_path / "r.jsonl", *extra))
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert sandbox.requests == []
    assert tickets_on(redis_url, "k") == 0


def test_register_a_redis_key_without_redis_is_a_usage_error(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """--redis-key alone would pace the run by itself unseen: exit 2, nothing sent."""
    orders = write_orders(tmp_path / "orders.csv", 3)
    result = invoke(register_args(orders, sandbox.url, tmp_path / "r.jsonl", "--redis-key", "k"))
    assert result.exit_code == 2, result.output
    assert "--redis-key needs --redis (or B2B_REDIS_URL)" in result.stderr
    assert sandbox.requests == []


def test_register_redis_without_the_redis_extra_names_the_extra(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without redis-py, --redis is a usage error saying what to install; nothing is sent."""
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)  # an import of it fails
    monkeypatch.delitem(sys.modules, "b2b_async.redis", raising=False)
    orders = write_orders(tmp_path / "orders.csv", 3)
    extra = ("--redis", "redis://127.0.0.1:1/0", "--redis-key", "k")
    result = invoke(register_args(orders, sandbox.url, tmp_path / "r.jsonl", *extra))
    assert result.exit_code == 2, result.output
    assert 'pip install "b2b-async[redis]"' in result.stderr
    assert sandbox.requests == []


def test_register_paces_alone_when_redis_does_not_answer_and_says_so_once(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A Redis nobody listens on: the limiter's default paces locally; one line says so."""
    orders = write_orders(tmp_path / "orders.csv", 6)
    url = f"redis://127.0.0.1:{free_redis_port()}/0"
    extra = ("--redis", url, "--redis-key", "k", "--rate-limit", "50/1")
    result = invoke(register_args(orders, sandbox.url, tmp_path / "r.jsonl", *extra))
    assert result.exit_code == 0, result.output
    assert result.stderr.count("Redis does not answer: pacing this run alone at 50/1") == 1
    assert len(sandbox.orders) == 6


def test_register_says_it_paces_alone_before_the_outcome_that_met_redis_down(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """The line about pacing without Redis comes with the first outcome after Redis failed,
    before that outcome's own line, not at the end of the run."""
    orders = tmp_path / "orders.csv"
    orders.write_text(f"{HEADER}9999,1,BC0000,10.50,\n1,1,BC0001,10.50,\n", encoding="utf-8")
    url = f"redis://127.0.0.1:{free_redis_port()}/0"
    extra = ("--redis", url, "--redis-key", "k", "--rate-limit", "50/1", "--concurrency", "1")
    result = invoke(register_args(orders, sandbox.url, tmp_path / "r.jsonl", *extra, "-q"))
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Redis does not answer: pacing this run alone at 50/1"), lines
    assert lines[1].startswith("line 2: rejected: "), lines


@pytest.fixture
def limiters_made(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every limiter the command line builds for --redis, kept for the test to look at."""
    made: list[Any] = []
    build = _cli.shared_limiter

    def kept(*args: Any) -> Any:
        limiter = build(*args)
        made.append(limiter)
        return limiter

    monkeypatch.setattr(_cli, "shared_limiter", kept)
    return made


@pytest.mark.parametrize("signum", [None, signal.SIGINT, signal.SIGTERM])
def test_register_closes_the_redis_limiter_however_the_run_ends(
    sandbox: SandboxServer,
    tmp_path: Path,
    redis_url: str,
    limiters_made: list[Any],
    signum: signal.Signals | None,
) -> None:
    """The run closes its Redis limiter at its end, after Ctrl-C and SIGTERM as well."""
    orders = write_orders(tmp_path / "orders.csv", 30)
    extra = ("--redis", redis_url, "--redis-key", "k", "--rate-limit", "20/1")
    args = register_args(orders, sandbox.url, tmp_path / "r.jsonl", *extra)
    if signum is None:
        result = invoke(args)
    else:
        with sigint_when(lambda: len(sandbox.orders) >= 3, signum=signum) as fired:
            result = invoke(args)
        assert fired.is_set()
    assert result.exit_code == (0 if signum is None else 130), result.output
    [limiter] = limiters_made
    assert limiter.closed


async def test_register_sigterm_with_redis_leaves_nothing_unclosed(
    tmp_path: Path, redis_url: str
) -> None:
    """SIGTERM midway through a run paced through Redis, with every warning an error: exit
    130 and no unclosed connection or session reported."""
    orders = write_orders(tmp_path / "orders.csv", 30)
    results, log = tmp_path / "results.jsonl", tmp_path / "run.log"
    async with SandboxServer(rate=None) as server:
        extra = ("--redis", redis_url, "--redis-key", "k", "--rate-limit", "20/1")
        args = register_args(orders, server.url, results, *extra)
        process = await start_apart(*args, stdout=log, stderr=log, env={"PYTHONWARNINGS": "error"})
        async with reaped(process):
            await wait_until(lambda: len(server.orders) >= 3, process, log)
            process.send_signal(signal.SIGTERM)
            assert await finish(process) == 130, read_log(log)
    output = read_log(log)
    assert "terminated: finishing the orders in flight" in output
    for sign in ("Unclosed", "unclosed", "Exception ignored", "Traceback"):
        assert sign not in output, output


async def test_two_runs_on_one_redis_key_book_every_request_on_it(
    tmp_path: Path, redis_url: str
) -> None:
    """Two runs at once, each given the store's budget, against a sandbox that enforces it:
    both book their requests on the one Redis key, and each order is registered once. (How
    close to the budget they come without a 429 is timing, measured by the benchmarks.)"""
    runs = []
    async with SandboxServer(rate=RateWindow(requests=20, per=1.0)) as server:
        for name in ("a", "b"):
            orders = tmp_path / f"{name}.csv"
            rows = "".join(f",1,{name.upper()}{index},1.50,\n" for index in range(30))
            orders.write_text(HEADER + rows, encoding="utf-8")
            # The whole budget but for a request a window, for a request's way to the server.
            extra = ("--redis", redis_url, "--redis-key", "shared", "--rate-limit", "19/1")
            args = register_args(orders, server.url, tmp_path / f"{name}.jsonl", *extra, "--json")
            out, err = tmp_path / f"{name}.json", tmp_path / f"{name}.log"
            runs.append(await start_apart(*args, stdout=out, stderr=err))
        for process in runs:
            async with reaped(process):
                assert await finish(process) == 0, read_log(tmp_path / "a.log")
    summaries = [json.loads(read_log(tmp_path / f"{name}.json")) for name in ("a", "b")]
    assert [summary["registered"] for summary in summaries] == [30, 30]
    assert len(server.orders) == 60
    assert all(server.registrations(order_id) == 1 for order_id in server.orders)
    assert tickets_on(redis_url, "shared") >= 60


@pytest.mark.parametrize(
    ("option", "variable"), [(("--store-hash", ""), None), ((), " ")], ids=["option", "variable"]
)
def test_a_blank_store_hash_means_none_for_both_orders_commands(
    sandbox: SandboxServer, tmp_path: Path, option: tuple[str, ...], variable: str | None
) -> None:
    """A blank --store-hash or B2B_STORE_HASH means none: the orders go with the legacy
    authToken, and the journal names no store."""
    env: dict[str, str | None] = {**TOKEN_ENV, "B2B_STORE_HASH": variable}
    created = invoke(create_args(sandbox.url, "BC1", *option), env=env)
    assert created.exit_code == 0, created.output
    orders = write_orders(tmp_path / "orders.csv", 2)
    results = tmp_path / "results.jsonl"
    registered = invoke(register_args(orders, sandbox.url, results, *option), env=env)
    assert registered.exit_code == 0, registered.output
    assert all("X-Store-Hash" not in record.headers for record in sandbox.requests)
    assert all(" store " not in entry["target"] for entry in journal_entries(results))


def test_register_stopped_by_a_refused_token_says_only_its_error_line(
    serve_handler: Callable[[Handler], str], tmp_path: Path
) -> None:
    """A run stopped by a 401 says it in its one error line, even when an order in flight
    succeeds after the stop: the refused order's own line is not said."""
    results = tmp_path / "results.jsonl"
    second = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        order_id = (await request.json())["orderId"]
        if order_id == "BC0000":  # refused once the other order is in flight
            await asyncio.wait_for(second.wait(), DEADLINE)
            return web.json_response({"code": 401, "message": "Invalid authToken"}, status=401)
        second.set()
        async with asyncio.timeout(DEADLINE):  # answered once the refusal is journaled
            while True:  # the journal is written in another thread: no event to wait on
                if results.exists() and "BC0000" in results.read_text(encoding="utf-8"):
                    break
                await asyncio.sleep(0.01)
        return V2.success({"orderId": order_id})

    orders = write_orders(tmp_path / "orders.csv", 2)
    extra = ("--rate-limit", "none", "--concurrency", "2", "--quiet")
    result = invoke(register_args(orders, serve_handler(handler), results, *extra))
    assert result.exit_code == EXIT_TOKEN_REFUSED, result.output
    assert [entry["status"] for entry in journal_entries(results)] == ["rejected", "created"]
    assert result.stderr.splitlines() == [
        "error: authentication failed: check B2B_AUTH_TOKEN (HTTP 401: Invalid authToken)"
    ]


def summary_row(stderr: str, label: str) -> str:
    """The value of one row of the summary table, e.g. ``summary_row(stderr, "retries")``."""
    found = re.search(rf"^\W*{label}\W+(\S+(?: s)?)\W*$", stderr, re.MULTILINE)
    assert found is not None, stderr
    return found.group(1)


def test_register_summary_table_counts_requests_retries_and_429s(
    serve_handler: Callable[[Handler], str], tmp_path: Path
) -> None:
    """The summary table shows the requests sent, the retries and the 429s the run met, and
    the seconds it took."""
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.path)
        body = {"code": 429, "message": "slow"}
        return web.json_response(body, status=429, headers={"Retry-After": "0"})

    orders = write_orders(tmp_path / "orders.csv", 1)
    result = invoke(register_args(orders, serve_handler(handler), tmp_path / "r.jsonl"))
    assert result.exit_code == 1, result.output
    assert len(seen) > 1
    assert summary_row(result.stderr, "requests sent") == str(len(seen))
    assert summary_row(result.stderr, "retries") == str(len(seen) - 1)
    assert summary_row(result.stderr, "429s met") == str(len(seen))
    assert re.fullmatch(r"\d+\.\d s", summary_row(result.stderr, "elapsed"))


def test_the_json_summary_gives_the_elapsed_seconds_to_the_millisecond(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The --json summary's elapsed_seconds is the run's duration to the millisecond."""
    orders = write_orders(tmp_path / "orders.csv", 1)
    clock = stopped_clock(monkeypatch)
    journal = Journal(tmp_path / "results.jsonl", "v2 test")
    run = Registration(B2BClient("t", rate_limit=None), journal, read_rows(orders), 1, 1)
    clock[0] = 100.4123456
    try:
        summary = _cli.summary_of(run, run.counts, 0)
    finally:
        run.rows.close()
    assert summary["elapsed_seconds"] == 0.412


def test_the_summary_table_has_bold_labels_and_right_aligned_figures(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a colour terminal, the summary table's labels are bold and its figures plain and
    aligned right, with no header row."""
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    orders = dict.fromkeys(_cli.SUMMARY_STATUSES, 0) | {"created": 7}
    summary = {"orders": orders, "requests": 12, "retries": 2, "rate_limited": 1}
    _cli.err.cache_clear()
    try:
        _cli.print_summary({**summary, "elapsed_seconds": 3.25, "journal": "r.jsonl"})
    finally:
        _cli.err.cache_clear()
    shown = capsys.readouterr().err
    assert "\x1b[1mrequests sent" in shown, shown
    for figure in ("    7", "   12", "    2", "3.2 s"):
        assert f"│ {figure} │" in shown, shown
    assert "status" not in shown


def test_a_held_failure_is_said_before_a_later_order_s_own_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused token's held line is said, in input order, as soon as a later order fails
    for a reason of its own: that failure shows the run goes on."""
    with two_order_run(tmp_path) as (run, order):
        run.record(OrderOutcome(0, order, error=AuthenticationError("no", status=401)))
        run.record(OrderOutcome(1, order, error=NotFoundError("unknown", status=404)))
        assert capsys.readouterr().err.splitlines() == [
            "line 2: rejected: HTTP 401: no",
            "line 3: rejected: HTTP 404: unknown",
        ]


def test_register_an_input_gone_before_it_is_counted_is_one_error_line(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An input removed between its opening and its count stops with one error line, exit 2."""
    orders = write_orders(tmp_path / "orders.csv", 1)

    def read_then_removed(path: Path, *, api: Any = "v2") -> Any:
        rows = read_rows(path, api=api)
        path.unlink()
        return rows

    monkeypatch.setattr("b2b_async._journal.read_rows", read_then_removed)
    results = tmp_path / "results.jsonl"
    result = invoke(register_args(orders, sandbox.url, results))
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: cannot read {orders}: ")
    assert line.endswith("; nothing was sent")
    assert sandbox.requests == []
    assert not results.exists()


def failing_sync(descriptor: int) -> None:
    """``os.fsync`` of a device that fails: an I/O error."""
    raise OSError(errno.EIO, "Input/output error")


def test_register_a_journal_that_cannot_be_synced_as_it_closes_exits_6(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every order registered, but the journal's last lines cannot be synced to disk as it
    closes: one error line naming the journal, exit 6."""
    monkeypatch.setattr(os, "fsync", failing_sync)
    orders = write_orders(tmp_path / "orders.csv", 3)
    results = tmp_path / "results.jsonl"
    result = invoke(register_args(orders, sandbox.url, results, "--rate-limit", "none"))
    assert result.exit_code == 6, result.output
    error = one_error_line(result.stderr)
    assert f"cannot write the results journal {results}" in error
    assert "Input/output error" in error
    assert registered_in(results) == order_ids(3)


def test_a_journal_failing_again_as_it_closes_keeps_the_first_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A journal line that could not be written, then the journal failing again as it
    closes: the run keeps the first failure as the reason it stopped."""
    monkeypatch.setattr(os, "fsync", failing_sync)
    with two_order_run(tmp_path) as (run, _):
        first = JournalWriteError("cannot write the results journal: No space left on device")
        run.stop_early(first)
        run.close_journal()
        assert run.error is first


def test_a_journal_that_cannot_be_written_outranks_an_input_unreadable_before(
    tmp_path: Path,
) -> None:
    """The input turning out unreadable, then the journal failing to take the outcome of an
    order sent before: the run stops for the journal, exit 6, which comes before 2; a second
    journal failure leaves the first as the reason."""
    with two_order_run(tmp_path) as (run, _):
        run.stop_early(InputFileError("line 9 is not UTF-8"))
        first = JournalWriteError("cannot write the results journal: No space left on device")
        run.stop_early(first)
        run.stop_early(JournalWriteError("cannot write the results journal: I/O error"))
        run.stop_early(InputFileError("line 10 is not UTF-8"))
        assert run.error is first
        assert exit_code_of_run(run, run.counts) == 6


def test_register_input_unreadable_part_way_and_a_journal_failing_at_the_end_exits_6(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bytes that are not UTF-8 part way, then the journal's last lines failing to reach the
    disk as it closes: exit 6, with the journal's error line, as a journal that cannot be
    written comes before an unreadable input."""
    monkeypatch.setattr(os, "fsync", failing_sync)
    orders = tmp_path / "orders.csv"
    orders.write_bytes(HEADER.encode() + b",1,A1,1,\n" + b"\n" * 20_000 + b",1,A\xff,1,\n")
    results = tmp_path / "results.jsonl"
    result = invoke(register_args(orders, sandbox.url, results, "--rate-limit", "none"))
    assert result.exit_code == 6, result.output
    assert "Input/output error" in one_error_line(result.stderr)
    assert registered_in(results) == ["A1"]


def test_the_sandbox_command_in_process_lets_go_of_its_port_when_interrupted() -> None:
    """Ended by Ctrl-C in a process that goes on, the sandbox command stops listening."""
    port = free_port()
    with sigint_when(lambda: health(port)) as fired:
        result = invoke(["sandbox", "--port", str(port)])
    assert (fired.is_set(), result.exit_code) == (True, 130)
    with socket.socket() as taker:
        taker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taker.bind(("127.0.0.1", port))  # refused while anything still listens there
        taker.listen()


def test_a_sandbox_without_a_registration_window_says_v3_accepts_always() -> None:
    """With --registration-window none, the banner says V3 registrations are always accepted."""
    options = {"rate": None, "registration_window": None, "token": "t", "store_hash": "s"}
    banner = _cli.sandbox_banner("http://127.0.0.1:8080", {**options, "faults": Faults()})
    assert banner.splitlines()[-1] == "  V3 registrations accepted: always"


def test_ctrl_c_before_the_run_has_a_stream_stops_it_without_error(tmp_path: Path) -> None:
    """Ctrl-C that comes before the run's outcome stream exists stops the run all the same."""
    with two_order_run(tmp_path) as (run, _):
        run.interrupt()
        assert (run.stopping, run.interrupted, run.current_stream) == (True, True, None)


def test_the_progress_bar_starts_at_the_rows_total_and_no_rate(tmp_path: Path) -> None:
    """Before any order finishes, the progress bar holds the rows' total and 0 orders/s."""
    with two_order_run(tmp_path) as (run, _):
        [task] = run.bar.tasks
        assert (task.completed, task.total, task.fields["rate"]) == (0, 2, 0.0)


async def test_ctrl_c_among_rows_that_send_nothing_stops_at_the_next_row(tmp_path: Path) -> None:
    """Rows skipped one after another give the loop a turn each: Ctrl-C stops the next."""
    with two_order_run(tmp_path) as (run, _):
        run.journal.registered.update(order_ids(2))
        asyncio.get_running_loop().call_soon(run.stop_sending)  # as a signal handler runs
        assert [order async for order in run.orders()] == []
        assert run.counts == Counter(skipped=1)


async def test_rows_that_send_nothing_are_read_without_a_pause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each row that sends nothing gives the loop a turn, without pausing the reading."""
    pauses: list[float] = []
    sleep = asyncio.sleep

    async def recorded(delay: float) -> None:
        pauses.append(delay)
        await sleep(delay)

    monkeypatch.setattr(asyncio, "sleep", recorded)
    with two_order_run(tmp_path) as (run, _):
        run.journal.registered.update(order_ids(2))
        assert [order async for order in run.orders()] == []
    assert pauses == [0, 0]
