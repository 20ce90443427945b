"""The command line: a thin shell over the public API (needs the ``cli`` extra).

Exit codes: 0 success; 1 some orders not registered (``orders register``); 2 usage or input
errors, a results journal that cannot be read or holds a line that is not an entry; 3
rejected by the API (a 4xx other than 429); 4 the API could not be reached or kept failing
(connection errors, timeouts, 5xx, 429 after the retries); 5 an answer that is not the
documented envelope; 6 the results journal could not be written (a full disk); 7
``orders register`` stopped because the API refused the token (401 or 403); 8 ``orders
register`` stopped because no connection to the API could be opened; 130 interrupted.

``--help`` must start fast, so the client, the journal and rich are imported inside the
commands that use them, never at the top of this module (``tests/test_init.py`` checks).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import json
import math
import os
import signal
import stat
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, NoReturn, TypeVar, cast

import click

from ._config import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_CONCURRENCY,
    MAX_CONCURRENCY,
    STORE_HASH_VARIABLE,
    TOKEN_VARIABLE,
    RateLimit,
    blank_is_none,
    environment_text,
)
from ._exceptions import (
    APIError,
    AuthenticationError,
    B2BError,
    InvalidOrderError,
    ResponseDecodeError,
    TransportError,
    is_refusal,
)
from ._protocol import visible

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from ._bulk import OrderOutcome, OutcomeStream
    from ._client import B2BClient
    from ._journal import Api, BadRow, InputFileError, Journal, JournalWriteError, Row, V3Row
    from ._v2_models import NewOrder
    from ._v3_models import NewV3Order
    from .redis import RedisRateLimiter

#: The signals that end ``orders register`` as Ctrl-C does: the first stops sending.
STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)
BASE_URL_VARIABLE: Final = "B2B_BASE_URL"
REDIS_URL_VARIABLE: Final = "B2B_REDIS_URL"
#: The key of a store's schedule in Redis, by store hash, as docs/redis.md ("Key naming")
#: recommends to every process: a service that follows it and the command line meet on it.
REDIS_KEY_PREFIX: Final = "b2b-async:ratelimit:"
REDIS_EXTRA: Final = 'pip install "b2b-async[redis]"'
EXIT_INCOMPLETE, EXIT_USAGE, EXIT_REJECTED, EXIT_UNREACHABLE, EXIT_DECODE = 1, 2, 3, 4, 5
EXIT_JOURNAL: Final = 6
#: ``orders register`` stopped sending: the API refused the token (401 or 403).
EXIT_TOKEN_REFUSED: Final = 7
#: ``orders register`` stopped sending: no connection to the API could be opened.
EXIT_CANNOT_CONNECT: Final = 8
EXIT_INTERRUPTED: Final = 130
#: What to do about a ``--results`` path the run cannot use as its journal.
ANOTHER_RESULTS: Final = "nothing was sent (use another --results)"

#: The order statuses the summary counts, in the order it shows them.
SUMMARY_STATUSES: Final = (
    "created",
    "already_registered",
    "skipped",
    "rejected",
    "failed",
    "not_attempted",
)

T = TypeVar("T")
A = TypeVar("A")


@functools.cache
def err() -> Console:
    """The console of standard error, made on first use.

    ``NO_COLOR`` set to anything but the empty string (https://no-color.org) turns every
    style off, so the output holds no ANSI escape at all.
    """
    from rich.console import Console

    no_color = os.environ.get("NO_COLOR", "") != ""
    stream = cast("IO[str]", StandardError())  # the console uses only what it has
    return Console(file=stream, highlight=False, color_system=None if no_color else "auto")


class StandardError:
    """Standard error as the console writes to it: whatever ``sys.stderr`` is at the time.

    A write that fails (a closed pipe, a full disk, a closed or missing standard error)
    loses its text instead of raising: what the command reports on standard error must
    never stop the work it reports on.
    """

    @property
    def stream(self) -> IO[str] | None:
        """The stream written to: ``sys.stderr``, or the one a running progress bar, which
        puts a proxy of its own in ``sys.stderr``, stands in front of."""
        stream: IO[str] | None = getattr(sys.stderr, "rich_proxied_file", sys.stderr)
        return stream

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", None) or "utf-8"

    def write(self, text: str) -> int:
        stream = self.stream
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):  # ValueError: a closed file
                stream.write(text)
        return len(text)

    def flush(self) -> None:
        stream = self.stream
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):
                stream.flush()

    def isatty(self) -> bool:
        stream = self.stream
        return stream is not None and stream.isatty()

    def fileno(self) -> int:
        stream = self.stream
        if stream is None:
            raise io.UnsupportedOperation("standard error is closed")
        return stream.fileno()


def say(*parts: str | tuple[str, str]) -> None:
    """Print one line on standard error, never wrapped, whatever its length.

    A line wrapped at the console's width would split a URL mid-word in a log file or a
    pipe; the terminal, when there is one, wraps the line for display on its own. Control
    characters (a server's message may hold terminal escapes) are shown escaped.

    Args:
        parts: plain text, or ``(text, style)`` pairs; nothing is read as markup.
    """
    from rich.text import Text

    shown = [
        visible(part) if isinstance(part, str) else (visible(part[0]), part[1]) for part in parts
    ]
    err().print(Text.assemble(*shown), soft_wrap=True)


def echo(text: str) -> None:
    """Print ``text`` on standard output. One that cannot be written to (a closed pipe, a full
    disk) loses it, with an error line; the exit code stays what the command's work made it."""
    try:
        click.echo(text)
    except OSError as exc:
        print_error(f"cannot write to standard output: {exc}")
        with contextlib.suppress(OSError, ValueError):  # nothing left to lose
            discard_standard_output()


def discard_standard_output() -> None:
    """Point standard output at the null device, so that what is left in its buffer does not
    fail again as the interpreter exits."""
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, sys.stdout.fileno())
    finally:
        os.close(null)


def print_error(message: object) -> None:
    """Print ``error: MESSAGE`` on standard error as one line, however long."""
    say(("error:", "red"), f" {message}")


def stop(message: object, code: int) -> NoReturn:
    """Print ``message`` as one error line and exit with ``code``."""
    print_error(message)
    sys.exit(code)


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """Turn Ctrl-C into a quiet exit with code 130.

    Once the command ends so, a second Ctrl-C or SIGTERM (saying "interrupted" first loads
    rich, which takes a while) changes nothing: it is ignored until the command has left, so
    it can neither escape as click's "Aborted!" (exit 1) nor kill the process.
    """
    try:
        yield
    except KeyboardInterrupt:
        with stop_signals_ignored():
            say("interrupted")
            sys.exit(EXIT_INTERRUPTED)


@contextlib.contextmanager
def stop_signals_ignored() -> Iterator[None]:
    """Ignore SIGINT and SIGTERM in the block; the handlers they had are back after it."""
    previous = {received: signal.signal(received, signal.SIG_IGN) for received in STOP_SIGNALS}
    try:
        yield
    finally:
        for received, handler in previous.items():
            signal.signal(received, handler)


@contextlib.contextmanager
def _terminated_as_interrupted() -> Iterator[None]:
    """Take ``SIGTERM`` as Ctrl-C for the whole command, reading and reporting included:
    outside the run (which handles both itself), a ``KeyboardInterrupt`` either way."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)  # KeyboardInterrupt
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def exit_code_for(error: B2BError) -> int:
    """Map a failed call to the documented exit code."""
    if isinstance(error, InvalidOrderError):
        return EXIT_USAGE
    if isinstance(error, ResponseDecodeError):
        return EXIT_DECODE
    if is_refusal(error):
        return EXIT_REJECTED
    return EXIT_UNREACHABLE


def stop_message(error: B2BError) -> str:
    """The one line that says why a run stopped sending, and what to check.

    Args:
        error: the failure that will repeat for every order: a 401 or 403, or a
            :class:`~b2b_async.TransportError` whose connection could not be opened.
    """
    if isinstance(error, AuthenticationError):
        return f"authentication failed: check {TOKEN_VARIABLE} (HTTP 401: {error.message})"
    if isinstance(error, APIError):
        return (
            f"permission denied: check that the token in {TOKEN_VARIABLE} may register "
            f"orders (HTTP {error.status}: {error.message})"
        )
    if not isinstance(error, TransportError):  # no reason to stop a run: said as it is
        return str(error)
    from yarl import URL

    where = URL(error.url).origin() if error.url else "the API"
    return f"cannot reach {where}: is it running? ({error.message})"


def failure_message(error: B2BError) -> str | B2BError:
    """What ``orders create`` prints for a failed call: a refused token (401 or 403) says what
    to check, as a run it stops does; any other failure is said as it is."""
    from ._bulk import refuses_the_credentials

    return stop_message(error) if refuses_the_credentials(error) else error


def stop_exit_code(error: B2BError) -> int:
    """The exit code of a run that stopped sending because of ``error``."""
    return EXIT_TOKEN_REFUSED if isinstance(error, APIError) else EXIT_CANNOT_CONNECT


def token_from_environment() -> str:
    """Read the token from B2B_AUTH_TOKEN; it is never taken from the command line."""
    token = environment_text(TOKEN_VARIABLE)
    if token is None:
        raise click.UsageError(f"set the API token in the {TOKEN_VARIABLE} environment variable")
    return token


def rate_limit_text(limit: RateLimit) -> str:
    """``limit`` as ``N/SECONDS``, the form :func:`parse_rate_limit` reads."""
    return f"{limit.requests}/{limit.per:g}"


def parse_rate_limit(text: str) -> RateLimit | None:
    """Read ``N/SECONDS`` (e.g. ``150/60``), or ``none`` (``off``) for no pacing."""
    if text.strip().lower() in ("none", "off"):
        return None
    try:
        requests, per = rate_parts(text)
        return RateLimit(requests=requests, per=per)
    except ValueError as exc:  # the value quoted, with what is wrong with it
        message = f"expected N/SECONDS such as 150/60, or none, got {text!r} ({exc})"
        raise click.BadParameter(message, param_hint="'--rate-limit'") from None


def rate_parts(text: str) -> tuple[int, float]:
    """The two numbers of ``N/SECONDS``.

    Raises:
        ValueError: there is no ``/``, or a side is no number of its kind.
    """
    requests, slash, per = text.partition("/")
    if not slash:
        raise ValueError("missing '/'")
    return int(requests), float(per)


def shared_budget_key(
    redis_url: str | None, key: str | None, store_hash: str | None, limit: RateLimit | None
) -> str | None:
    """Check the options of ``--redis``: the key the run shares its budget on, or ``None``
    without ``--redis``.

    The default key is the one docs/redis.md recommends, which needs the store hash.

    Raises:
        click.UsageError: ``--rate-limit none`` or ``--redis-key`` without ``--redis``, or
            no key to use.
    """
    if redis_url is None:
        if key is not None:
            raise click.UsageError(f"--redis-key needs --redis (or {REDIS_URL_VARIABLE})")
        return None
    if limit is None:
        message = "--rate-limit none cannot be shared through --redis: give the budget of "
        raise click.UsageError(message + "every process on the key together, such as 150/60")
    if key is None and store_hash is None:
        raise click.UsageError(
            f"--redis needs --redis-key, or --store-hash (or {STORE_HASH_VARIABLE}) for the "
            f"default key {REDIS_KEY_PREFIX}STORE_HASH"
        )
    return key or f"{REDIS_KEY_PREFIX}{store_hash}"


def shared_limiter(
    redis_url: str | None, key: str | None, store_hash: str | None, limit: RateLimit | None
) -> RedisRateLimiter | None:
    """The limiter that paces the run through Redis with every process on its key, or
    ``None`` without ``--redis`` (see :func:`shared_budget_key`); a blank URL or key counts
    as none given.

    It opens no connection until the run's first request, and the run closes it.

    Raises:
        click.UsageError: an option of ``--redis`` cannot be used, or the ``redis`` extra
            is not installed.
    """
    redis_url, key = blank_is_none(redis_url), blank_is_none(key)
    shared_key = shared_budget_key(redis_url, key, store_hash, limit)
    if redis_url is None or shared_key is None or limit is None:
        return None
    try:
        from .redis import RedisRateLimiter
    except ImportError:
        raise click.UsageError(f"--redis needs the redis extra: {REDIS_EXTRA}") from None
    try:
        return RedisRateLimiter(redis_url, key=shared_key, rate_limit=limit)
    except ValueError as exc:  # the URL is not quoted: it may hold a password
        raise click.BadParameter(str(exc), param_hint="'--redis'") from None


def print_version(context: click.Context, _option: click.Parameter, wanted: bool) -> None:
    """Print the version and exit (``--version``), reading it only when asked."""
    if not wanted or context.resilient_parsing:
        return
    from ._version import __version__

    click.echo(f"b2b-async, version {__version__}")
    context.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=print_version,
    help="Show the version and exit.",
)
def cli() -> None:
    """Register BigCommerce orders with B2B Edition, or run a local sandbox of its API."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port (0: any free).",
)
@click.option(
    "--rate-limit", "rate", default="150/60", show_default=True, help="N/SECONDS or none."
)
@click.option(
    "--token",
    default=None,
    help="The token to accept, as authToken or X-Auth-Token (default: sandbox-token).",
)
@click.option(
    "--store-hash",
    default=None,
    help="The X-Store-Hash to accept with X-Auth-Token (default: sandbox).",
)
@click.option("--faults", default="none", show_default=True, help="e.g. 500=0.05,reset_after=0.02")
@click.option("--seed", default=None, type=int, help="Seed for the fault draws.")
@click.option(
    "--competing",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Requests of each window another integration spends.",
)
@click.option(
    "--data",
    "data_file",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON file of companies and customers.",
)
@click.option(
    "--registration-window",
    "window",
    default="10",
    show_default=True,
    help="Seconds after an order's creation that V3 accepts its registration, or none.",
)
def sandbox(
    host: str,
    port: int,
    rate: str,
    token: str | None,
    store_hash: str | None,
    faults: str,
    seed: int | None,
    competing: int,
    data_file: Path | None,
    window: str,
) -> None:
    """Run a local B2B Edition sandbox (V2 and V3) until interrupted."""
    from .sandbox import DEFAULT_STORE_HASH, DEFAULT_TOKEN

    options = sandbox_settings(rate, faults, data_file)
    options["registration_window"] = registration_window(window)
    options.update(
        token=token or DEFAULT_TOKEN,
        store_hash=store_hash or DEFAULT_STORE_HASH,
        seed=seed,
        competing=competing,
        host=host,
        port=port,
    )
    with _interruptible():
        asyncio.run(serve_sandbox(options))


def sandbox_settings(rate: str, faults: str, data_file: Path | None) -> dict[str, Any]:
    """Read the sandbox's window, faults and data from their options.

    Returns:
        The ``rate``, ``faults`` and ``data`` keywords of the sandbox server.

    Raises:
        click.BadParameter: a value cannot be read.
    """
    from .sandbox import SandboxData, parse_faults, parse_rate

    return {
        "rate": read_option("--rate-limit", parse_rate, rate),
        "faults": read_option("--faults", parse_faults, faults),
        "data": read_option("--data", SandboxData.from_file, data_file) if data_file else None,
    }


def read_option(name: str, read: Callable[[A], T], text: A) -> T:
    """``read(text)``, an option's value; its ``ValueError`` is a usage error naming ``name``.

    Raises:
        click.BadParameter: the value cannot be read.
    """
    try:
        return read(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=f"'{name}'") from None


def registration_window(text: str) -> float | None:
    """Read ``--registration-window``: positive seconds, or ``none`` for no window.

    Raises:
        click.BadParameter: the text is neither.
    """
    if text.strip().lower() == "none":
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise click.BadParameter(
            f"expected positive seconds or none, got {text!r}", param_hint="--registration-window"
        )
    return seconds


async def serve_sandbox(options: dict[str, Any]) -> None:
    """Serve a sandbox built with ``options``, saying where and how, until cancelled.

    The banner is written at once, so that a reader that takes its first line (the URL) and
    leaves does not break a later write; a standard output that cannot be written to loses
    the banner, not the sandbox (see :func:`echo`).

    Raises:
        click.BadParameter: the address is taken or cannot be bound.
    """
    from .sandbox import SandboxServer

    server = SandboxServer(**options)
    try:
        await server.start()
    except OSError as exc:
        where = f"{options['host']}:{options['port']}"
        raise click.BadParameter(f"cannot listen on {where}: {exc}", param_hint="--port") from None
    try:
        echo(sandbox_banner(server.url, options))
        await asyncio.Event().wait()
    finally:
        await server.aclose()


def sandbox_banner(url: str, options: dict[str, Any]) -> str:
    """The lines the sandbox command starts with: its URL first, then its settings."""
    rate = "none" if options["rate"] is None else options["rate"]
    window = options["registration_window"]
    accepted = "always" if window is None else f"within {window:g} s of an order's creation"
    return "\n".join(
        (
            f"B2B Edition sandbox listening on {url} (Ctrl-C stops it)",
            f"  token: {options['token']}",
            f"  store hash: {options['store_hash']}",
            f"  window: {rate}  faults: {options['faults']}",
            f"  V3 registrations accepted: {accepted}",
        )
    )


@cli.command()
def demo() -> None:
    """Register a few hundred orders against the embedded sandbox, faults and limits on."""
    from ._demo import run_demo

    with _interruptible():
        ok = asyncio.run(run_demo())
    sys.exit(0 if ok else EXIT_INCOMPLETE)


@cli.group()
def orders() -> None:
    """Register orders with B2B Edition (token from B2B_AUTH_TOKEN)."""


base_url_option = click.option(
    "--base-url",
    envvar=BASE_URL_VARIABLE,
    show_envvar=True,
    default=DEFAULT_BASE_URL,
    show_default=True,
    help="The API's host root.",
)
store_hash_option = click.option(
    "--store-hash",
    envvar=STORE_HASH_VARIABLE,
    default=None,
    help="The store hash: authenticate with X-Auth-Token and X-Store-Hash instead of the "
    f"legacy authToken (also read from {STORE_HASH_VARIABLE}).",
)


@orders.command("create")
@click.option("--company-id", default=None, help="B2B Edition company (omit to derive it).")
@click.option("--customer-id", required=True, help="B2B Edition user who placed the order.")
@click.option("--order-id", required=True, help="BigCommerce order id.")
@click.option("--total-inc-tax", required=True, help="Order total including tax.")
@click.option("--po-number", default=None, help="Purchase-order number.")
@base_url_option
@store_hash_option
@_interruptible()  # Ctrl-C exits 130 from the first line of the command on
def create(
    company_id: str | None,
    customer_id: str,
    order_id: str,
    total_inc_tax: str,
    po_number: str | None,
    base_url: str,
    store_hash: str | None,
) -> None:
    """Register one order and print the result as JSON."""
    from ._client import B2BClient
    from ._v2_models import NewOrder

    token = token_from_environment()
    try:
        order = NewOrder(company_id, customer_id, order_id, total_inc_tax, po_number)
        client = B2BClient(token, store_hash=blank_is_none(store_hash), base_url=base_url)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None

    async def run() -> Any:
        async with client:
            return await cancelled_on_sigint(client.orders.register(order))

    try:
        created = asyncio.run(run())
    except B2BError as exc:
        stop(failure_message(exc), exit_code_for(exc))
    echo(
        json.dumps({"order_id": created.order_id, "already_registered": created.already_registered})
    )


async def cancelled_on_sigint(call: Awaitable[T]) -> T:
    """Await ``call``; Ctrl-C (SIGINT) cancels it.

    The loop's own signal handling is used because it wakes the loop through a file
    descriptor: a signal the kernel hands to another thread (aiohttp resolves names in
    one) then still stops a loop that sleeps waiting for an answer, where a plain Python
    handler would wait for the loop to wake up on its own, as late as the request timeout.

    Raises:
        KeyboardInterrupt: Ctrl-C was pressed.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(call)
    loop.add_signal_handler(signal.SIGINT, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise
        raise KeyboardInterrupt from None
    finally:
        loop.remove_signal_handler(signal.SIGINT)


@orders.command("register")
@click.argument("file", type=click.Path(readable=False, path_type=Path))  # read_rows checks it
@base_url_option
@store_hash_option
@click.option(
    "--api",
    type=click.Choice(["v2", "v3"]),
    default="v2",
    show_default=True,
    help="Register through V2 (company, total) or V3 (bc_order_id, customer_id, po_number).",
)
@click.option(
    "--results",
    "results",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSONL results journal (default: FILE.results.jsonl); "
    "a rerun skips what it records as registered.",
)
@click.option(
    "--concurrency",
    default=DEFAULT_MAX_CONCURRENCY,
    show_default=True,
    type=click.IntRange(min=1, max=MAX_CONCURRENCY),
    help=f"Orders in flight at once (at most {MAX_CONCURRENCY}).",
)
@click.option(
    "--rate-limit",
    "rate",
    default=rate_limit_text(RateLimit()),
    show_default=True,
    help="The store's budget as N/SECONDS, or none.",
)
@click.option(
    "--redis",
    "redis_url",
    envvar=REDIS_URL_VARIABLE,
    show_envvar=True,
    default=None,
    help="Pace through this Redis (redis://HOST:PORT/DB), sharing --rate-limit with every "
    "process on --redis-key.",
)
@click.option(
    "--redis-key",
    default=None,
    help=f"The Redis key of the store's budget (default: {REDIS_KEY_PREFIX}STORE_HASH, "
    "as services that follow the docs use).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the run's summary as one JSON object on standard output, instead of the table.",
)
@click.option(
    "--quiet", "-q", is_flag=True, help="No progress bar and no summary table; problems only."
)
@_interruptible()  # Ctrl-C exits 130, even before the run starts
@_terminated_as_interrupted()  # and so does SIGTERM
def register(
    file: Path,
    base_url: str,
    store_hash: str | None,
    api: Api,
    results: Path | None,
    concurrency: int,
    rate: str,
    redis_url: str | None,
    redis_key: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Register every order of a CSV or JSONL FILE, journaling each outcome.

    Columns (CSV header or JSONL keys): company_id, customer_id, order_id, total_inc_tax,
    po_number; with --api v3: bc_order_id, customer_id, po_number, created_at (and in JSONL
    an extra_fields object). Exit 0 only when every order is registered.
    """
    from ._client import B2BClient
    from ._journal import InputFileError, Journal, count_rows, read_rows, target_of
    from ._priority import cap_for_bulk

    token = token_from_environment()
    store_hash = blank_is_none(store_hash)  # blank: none, the legacy authToken
    rate_limit = parse_rate_limit(rate)
    limiter = shared_limiter(redis_url, redis_key, store_hash, rate_limit)
    try:
        client = B2BClient(
            token,
            store_hash=store_hash,
            base_url=base_url,
            rate_limit=rate_limit if limiter is None else limiter,
            max_concurrency=cap_for_bulk(concurrency),  # the orders are bulk calls
        )
        rows = read_rows(file, api=api)
    except InputFileError as exc:  # the file's fault, not the command line's
        stop(f"{exc}; nothing was sent", EXIT_USAGE)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    target = target_of(client.base_url, api, store_hash)
    journal = Journal(results or file.with_name(file.name + ".results.jsonl"), target)
    with closed_on_exit(rows):  # a large input or journal takes a while
        try:
            total = count_rows(file)
        except InputFileError as exc:  # gone or unreadable since it was opened
            stop(f"{exc}; nothing was sent", EXIT_USAGE)
        open_journal(journal, file)
    run = Registration(client, journal, rows, total, concurrency, api, quiet=quiet, limiter=limiter)
    finish_registration(run, as_json=as_json, quiet=quiet)


def finish_registration(run: Registration, *, as_json: bool, quiet: bool) -> NoReturn:
    """Run the registration to its end, report it, and exit with its code.

    The summary goes to standard output as JSON with ``as_json``, else to standard error as
    a table unless ``quiet``; the error that stopped the run, if one did, always follows.
    """
    counts = run.run_to_end()
    code = exit_code_of_run(run, counts)
    summary = summary_of(run, counts, code)
    if as_json:
        echo(json.dumps(summary))
    elif not quiet:
        print_summary(summary)
    for problem in problems_of(run):
        print_error(problem)
    sys.exit(code)


def problems_of(run: Registration) -> list[str]:
    """What stopped the run, as its ``error:`` lines say it: usually none, at most two."""
    problems = [] if run.error is None else [str(run.error)]
    if run.stopped_by is not None:
        problems.append(stop_message(run.stopped_by))
    return problems


@contextlib.contextmanager
def closed_on_exit(rows: Generator[Any, None, None]) -> Iterator[None]:
    """Close the input if the block ends the command (an exit, Ctrl-C), so no file is left
    open."""
    try:
        yield
    except BaseException:
        rows.close()
        raise


def open_journal(journal: Journal, file: Path) -> None:
    """Hold the journal for this run, and load what earlier runs recorded.

    Lines cut short by a crash are reported and ignored; anything else wrong ends the
    command with one error line before any order is sent.

    Raises:
        SystemExit: exit code 2 when the journal cannot be read, is not a regular file, is
            the input file, holds a line that is not an entry, records orders sent to
            another target, or is in use by another run; 6 when it cannot be written to.
    """
    from ._journal import (
        CorruptJournalError,
        ForeignJournalError,
        JournalInUseError,
        JournalWriteError,
    )

    check_journal_path(journal.path, file)
    try:
        journal.claim()
    except CorruptJournalError as exc:
        stop(
            f"{exc}; nothing was sent (fix or remove that line, or use another --results)",
            EXIT_USAGE,
        )
    except ForeignJournalError as exc:
        stop(f"{exc}; nothing was sent (use another --results for this target)", EXIT_USAGE)
    except JournalInUseError as exc:
        stop(f"{exc}; nothing was sent (let that run end first)", EXIT_USAGE)
    except JournalWriteError as exc:
        stop(f"{exc}; nothing was sent", EXIT_JOURNAL)
    except OSError as exc:
        journal_unusable(exc)
    for number in journal.cut_short:
        say(
            f"results journal line {number} was cut short by a crash: ignored "
            "(its order, if registered, is found already registered)"
        )


def journal_unusable(exc: OSError) -> NoReturn:
    """Stop with exit code 2: the system refused to look up, open or read the journal."""
    stop(f"cannot use the results journal: {exc}; nothing was sent", EXIT_USAGE)


def check_journal_path(path: Path, file: Path) -> None:
    """Refuse a journal path that is the input file, or exists and is not a regular file.

    A path the system refuses to look up (a name too long, a folder the user may not enter)
    is refused the same way: ``Path.exists`` answers only for a file that is missing.

    Raises:
        SystemExit: exit code 2, with one error line.
    """
    try:
        found = path.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        journal_unusable(exc)
    if not stat.S_ISREG(found.st_mode):
        stop(f"the results journal {path} is not a regular file; {ANOTHER_RESULTS}", EXIT_USAGE)
    if os.path.samestat(found, file.stat()):
        stop(f"the results journal {path} is the input file; {ANOTHER_RESULTS}", EXIT_USAGE)


def exit_code_of_run(run: Registration, counts: Counter[str]) -> int:
    """The exit code of ``orders register``: 0 only when every order is registered.

    A journal that could not be written comes first (6), then an input that turned out
    unreadable (2), then a stop on a refused token (7) or an API that cannot be reached (8),
    then an interruption (130), then orders left unregistered (1).
    """
    from ._journal import JournalWriteError

    if isinstance(run.error, JournalWriteError):
        return EXIT_JOURNAL
    if run.error is not None:
        return EXIT_USAGE
    if run.stopped_by is not None:
        return stop_exit_code(run.stopped_by)
    if run.interrupted:
        return EXIT_INTERRUPTED
    return 0 if registered(counts) == sum(counts.values()) else EXIT_INCOMPLETE


def registered(counts: Counter[str]) -> int:
    """The orders that count as registered: journaled as registered, or skipped."""
    from ._journal import REGISTERED

    return sum(counts[status] for status in REGISTERED) + counts["skipped"]


def registration_progress(*, quiet: bool = False) -> Progress:
    """The progress bar of ``orders register``, on standard error; ``quiet`` hides it."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]registering"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]:.1f} orders/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err(),
        disable=quiet,
    )


class Registration:
    """One run of ``orders register``: feeds rows to a bulk stream (V2's ``create_stream``,
    V3's ``ensure_stream``), journals each outcome.

    Args:
        client: the client the orders go through.
        journal: the results journal, loaded and open.
        rows: the input's rows (closed when the run ends).
        total: the number of rows, for progress.
        concurrency: the number of workers.
        api: the API version the rows are for.
        quiet: hide the progress bar.
        limiter: the client's limiter when it paces through Redis (``--redis``): the run
            closes it after the client, and says once when Redis fails.
    """

    def __init__(
        self,
        client: B2BClient,
        journal: Journal,
        rows: Generator[Row | V3Row | BadRow, None, None],
        total: int,
        concurrency: int,
        api: Api = "v2",
        *,
        quiet: bool = False,
        limiter: RedisRateLimiter | None = None,
    ) -> None:
        self.client = client
        self.limiter = limiter
        self.paced_alone = False  # whether the run has said that it paces without Redis
        self.api = api
        self.journal = journal
        self.rows = rows
        self.concurrency = concurrency
        self.counts: Counter[str] = Counter()
        # Input line of each order in flight, by its position among the orders sent (the
        # outcome's index): order ids may repeat in a file.
        self.lines: dict[int, int] = {}
        self.sent = 0
        self.stopping = False
        self.interrupted = False
        # The stream under way, told when the run stops sending.
        self.current_stream: OutcomeStream[Any, Any] | None = None
        # Why the run stopped early, if it did: the input turned out unreadable part way,
        # or the journal could not be written.
        self.error: InputFileError | JournalWriteError | None = None
        # Why the stream stopped sending, if it did: a failure that repeats for every order.
        self.stopped_by: B2BError | None = None
        # Lines about failures that may turn out to be the whole run's (a refused token, a
        # connection that cannot be opened): one line says it for all if the run stops.
        self.held: list[str] = []
        self.started = time.monotonic()
        self.total = total  # the rows expected, for progress
        self.bar = registration_progress(quiet=quiet)
        self.task = self.bar.add_task("orders", total=total, rate=0.0)

    def run_to_end(self) -> Counter[str]:
        """Run the registration in a new event loop; the input and journal are closed after.

        Returns:
            The count of each status, including after an abort by a second Ctrl-C (the
            orders then in flight are sent again next run). :attr:`error` says why the run
            stopped early, if it did.
        """
        try:
            return asyncio.run(self.execute())
        except KeyboardInterrupt:  # Ctrl-C twice: orders in flight are sent again next run
            self.interrupted = True
            return self.counts
        finally:
            self.rows.close()
            self.close_journal()

    def close_journal(self) -> None:
        """Close the journal; a failure to write its last lines stops the run as any other."""
        from ._journal import JournalWriteError

        try:
            self.journal.close()
        except JournalWriteError as exc:
            self.keep_reason(exc)

    async def orders(self) -> AsyncIterator[NewOrder | NewV3Order]:
        """The orders to send: bad rows are journaled as rejected, registered ones skipped."""
        from ._journal import BadRow, bad_row_entry

        # Checked between orders: after SIGINT, or once the file turns out unreadable, no
        # new order starts (see stop_sending).
        while not self.stopping and (row := self.next_row()) is not None:
            if isinstance(row, BadRow):
                self.journal_line(bad_row_entry(row))
                self.count("rejected")
                say(f"line {row.line}: rejected: {row.reason}")
            elif row.order.order_id in self.journal.registered:
                self.count("skipped")
            else:
                self.lines[self.sent] = row.line
                self.sent += 1
                yield row.order
            # Each row, sent or not, gives the loop a turn: a long stretch of rows that send
            # nothing would otherwise hold off Ctrl-C, SIGTERM and the answers in flight.
            await asyncio.sleep(0)

    def next_row(self) -> Row | V3Row | BadRow | None:
        """The next row, or ``None`` at the end or once the file turns out unreadable."""
        from ._journal import InputFileError

        try:
            return next(self.rows, None)
        except InputFileError as exc:
            self.stop_early(exc)
            return None

    def stop_early(self, error: InputFileError | JournalWriteError) -> None:
        """Stop sending, keeping the reason to stop that comes first (see :meth:`keep_reason`)."""
        self.stop_sending()
        self.keep_reason(error)

    def keep_reason(self, error: InputFileError | JournalWriteError) -> None:
        """Keep ``error`` as why the run stopped early unless the reason kept comes first: the
        first met, but a journal that cannot be written before an input that cannot be read,
        as their exit codes rank them (6 before 2)."""
        from ._journal import JournalWriteError

        kept = self.error
        if kept is None or (
            isinstance(error, JournalWriteError) and not isinstance(kept, JournalWriteError)
        ):
            self.error = error

    def stop_sending(self) -> None:
        """Start no new order: those whose request has left finish and are journaled; those
        waiting for budget are withdrawn, not attempted, and sent by the next run."""
        self.stopping = True
        if self.current_stream is not None:
            self.current_stream.stop()

    def journal_line(self, entry: dict[str, Any]) -> None:
        """Append a line to the journal; if that fails, the run stops taking orders.

        The orders whose lines are lost are registered or not; either way the next run
        sends them again, and finds the registered ones already registered.
        """
        from ._journal import JournalWriteError

        try:
            self.journal.record(entry)
        except JournalWriteError as exc:
            self.stop_early(exc)

    def count(self, status: str) -> None:
        """Count one finished row and move the progress bar.

        The total was counted in lines, which a file whose lines end in a lone carriage
        return throws off: it never falls below the rows done.
        """
        self.counts[status] += 1
        done = sum(self.counts.values())
        rate = done / max(time.monotonic() - self.started, 1e-6)
        self.total = max(self.total, done)
        self.bar.update(self.task, completed=done, total=self.total, rate=rate)

    def record(self, outcome: OrderOutcome[Any, Any]) -> None:
        """Journal and count one outcome; say so on standard error when it failed.

        An order not attempted is counted but not journaled, so the next run sends it.
        """
        from ._journal import NOT_ATTEMPTED, entry_for

        line = self.lines.pop(outcome.index, 0)
        if not outcome.attempted:
            self.count(NOT_ATTEMPTED)
            return
        entry = entry_for(outcome, line)
        self.journal_line(entry)
        self.count(entry["status"])
        self.tell_pacing_alone()
        if entry["status"] in ("rejected", "failed"):
            self.tell(f"line {line}: {entry['status']}: {outcome.error}", outcome.error)
        else:
            self.settle_held()

    def tell(self, message: str, error: B2BError | None) -> None:
        """Say one order's problem, holding it back while it may be the whole run's."""
        from ._bulk import is_systemic

        if is_systemic(error):
            self.held.append(message)
            return
        self.settle_held()
        say(message)

    def settle_held(self) -> None:
        """Say the lines held back, unless the run stopped: its one ``error:`` line covers them."""
        held, self.held = self.held, []
        if self.stopped_by is None:
            for message in held:
                say(message)

    def tell_pacing_alone(self) -> None:
        """Say once, the first time the limiter's Redis fails, that the run paces by itself.

        The limiter then paces this process alone at the whole ``--rate-limit`` (its
        default ``on_redis_error="local"``), beside other processes that may still share
        the key: together they may meet 429s until Redis answers again.
        """
        limiter = self.limiter
        if limiter is None or limiter.shared or self.paced_alone:
            return
        self.paced_alone = True
        alone = rate_limit_text(limiter.local_limiter.rate_limit)
        say(
            f"Redis does not answer: pacing this run alone at {alone} until it does "
            f"(other processes on key {limiter.key!r} may meet 429s meanwhile)"
        )

    def interrupt(self, received: signal.Signals = signal.SIGINT) -> None:
        """Handle Ctrl-C or SIGTERM (a service manager's, ``timeout``'s or ``docker stop``'s):
        the first stops sending (see :meth:`stop_sending`), the second aborts."""
        if self.interrupted:
            raise KeyboardInterrupt
        self.interrupted = True
        self.stop_sending()
        if received == signal.SIGTERM:
            say("terminated: finishing the orders in flight (a second signal aborts)")
        else:
            say("interrupted: finishing the orders in flight (Ctrl-C again to abort)")

    def stream(self) -> OutcomeStream[Any, Any]:
        """The outcome stream of the API version the rows are for."""
        orders: Any = self.orders()  # holds only the kind of order --api chose
        if self.api == "v3":
            return self.client.v3.orders.ensure_stream(orders, concurrency=self.concurrency)
        return self.client.orders.create_stream(orders, concurrency=self.concurrency)

    async def execute(self) -> Counter[str]:
        """Send every pending order and journal each outcome; return the counts.

        When the input turns out unreadable part way, or the journal cannot be written,
        the orders already sent are finished (and journaled, if it can be) first, those
        waiting for budget withdrawn (see :meth:`stop_sending`), and :attr:`error` says
        which. When the stream stops sending (a refused token, an API that cannot be
        reached), the rest of the input is read and counted as not attempted, and
        :attr:`stopped_by` says why.
        """
        loop = asyncio.get_running_loop()
        # The loop's handlers, for the run; the command's own before and after it.
        outside = {received: signal.getsignal(received) for received in STOP_SIGNALS}
        for received in STOP_SIGNALS:
            loop.add_signal_handler(received, self.interrupt, received)
        try:
            with self.bar:
                # The limiter is closed after the client that uses it, however the run ends.
                async with self.limiter or contextlib.nullcontext(), self.client:
                    stream = self.current_stream = self.stream()
                    async with stream:
                        async for outcome in stream:
                            self.stopped_by = stream.stopped_by
                            self.record(outcome)
                    self.stopped_by = stream.stopped_by
                    self.tell_pacing_alone()
        finally:
            for received, handler in outside.items():
                loop.remove_signal_handler(received)
                if handler is not None:  # None: one not set from Python, not to be restored
                    signal.signal(received, handler)
            self.settle_held()
        return self.counts


def summary_of(run: Registration, counts: Counter[str], code: int) -> dict[str, Any]:
    """The summary of a run of ``orders register``, as ``--json`` prints it.

    The keys are documented in ``docs/cli.md`` ("The summary as JSON").
    """
    stats = run.client.stats
    return {
        "orders": {status: counts.get(status, 0) for status in SUMMARY_STATUSES},
        "total": sum(counts.values()),
        "registered": registered(counts),
        "requests": stats.requests,
        "retries": stats.retries,
        "rate_limited": stats.rate_limited,
        "elapsed_seconds": round(time.monotonic() - run.started, 3),
        "journal": str(run.journal.path),
        "api": run.api,
        "interrupted": run.interrupted,
        "error": next(iter(problems_of(run)), None),
        "exit_code": code,
    }


def print_summary(summary: dict[str, Any]) -> None:
    """Print the end-of-run table of ``orders register`` on standard error."""
    from rich.table import Table

    table = Table(title="orders register: summary", show_header=False)
    table.add_column("status", style="bold")
    table.add_column("orders", justify="right")
    for status, number in summary["orders"].items():
        table.add_row(status.replace("_", " "), str(number))
    table.add_row("requests sent", str(summary["requests"]))
    table.add_row("retries", str(summary["retries"]))
    table.add_row("429s met", str(summary["rate_limited"]))
    table.add_row("elapsed", f"{summary['elapsed_seconds']:.1f} s")
    err().print(table)
    say(f"results journal: {summary['journal']}")
