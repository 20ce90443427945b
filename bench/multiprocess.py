"""Several processes, one store: worker processes share one RedisRateLimiter key.

Starts the sandbox in a process of its own (a fixed window of 40 requests per second, the
store's 150 per minute time-scaled), then three worker processes that each gather 200
creates through a :class:`~b2b_async.redis.RedisRateLimiter` on one key. Prints one JSON line
per worker, then the combined figures from the sandbox's records: the accepted requests per
second over the allowed rate, the share of 429 answers, and the orders lost or registered
twice.

Usage::

    python -m bench.multiprocess [--processes 3] [--orders 200] [--rate 40/1] [--redis URL]
    python -m bench.multiprocess worker --url URL --redis URL --key KEY --orders N --prefix P
    python -m bench.multiprocess sandbox [--rate 40/1] [--faults SPEC] [--seed N]

Without ``--redis``, a throwaway ``redis-server`` is started on a free loopback port.
``sandbox`` prints ``{"url": ...}``, serves until its standard input closes, then prints a
summary of every request it received; ``worker`` prints its own figures as one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import logging
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path

import attrs

from b2b_async import B2BClient, CreatedOrder, RateLimit
from b2b_async.redis import OnRedisError, RedisRateLimiter
from b2b_async.sandbox import DEFAULT_TOKEN, SandboxServer, parse_faults, parse_rate

ROOT = Path(__file__).resolve().parents[1]
#: Longest a worker or the sandbox may take to start or finish before the run is abandoned.
DEADLINE = 120.0


@attrs.frozen
class WorkerFigures:
    """What one worker process did, as it printed it.

    Attributes:
        prefix: the prefix of its order ids.
        orders: creates it gathered.
        ok: creates that succeeded.
        failed: creates that raised, by exception class name.
        already_registered: successes found already registered by an earlier attempt.
        requests: HTTP requests it sent, retries included.
        rate_limited: 429 answers it met.
        budget_wait: seconds its calls spent waiting for budget, summed over calls.
        started: Unix time its first create started.
        finished: Unix time its last create ended.
    """

    prefix: str
    orders: int
    ok: int
    failed: dict[str, int]
    already_registered: int
    requests: int
    rate_limited: int
    budget_wait: float
    started: float
    finished: float


@attrs.frozen
class Arrival:
    """One request as the sandbox saw it."""

    order_id: str | None
    status: int | str | None
    at: float


@attrs.frozen
class SandboxSummary:
    """Every request the sandbox received, and how often each order was registered."""

    arrivals: list[Arrival]
    registrations: dict[str, int]

    def to_json(self) -> str:
        """One JSON line."""
        rows = [[a.order_id, a.status, a.at] for a in self.arrivals]
        return json.dumps({"arrivals": rows, "registrations": self.registrations})

    @classmethod
    def from_json(cls, line: str) -> SandboxSummary:
        """Read what :meth:`to_json` wrote."""
        data = json.loads(line)
        arrivals = [Arrival(*row) for row in data["arrivals"]]
        return cls(arrivals, data["registrations"])


@attrs.frozen
class RunFigures:
    """The combined figures of one run, from the sandbox's records."""

    workers: list[WorkerFigures]
    summary: SandboxSummary
    expected: list[str]
    allowed_rate: float

    @property
    def requests(self) -> int:
        """Requests the sandbox received."""
        return len(self.summary.arrivals)

    @property
    def rejected_429(self) -> int:
        """Requests the sandbox answered 429."""
        return sum(1 for arrival in self.summary.arrivals if arrival.status == 429)

    @property
    def share_429(self) -> float:
        """The share of requests answered 429."""
        return self.rejected_429 / self.requests if self.requests else 0.0

    @property
    def lost(self) -> list[str]:
        """Expected orders the sandbox never registered."""
        return [order for order in self.expected if order not in self.summary.registrations]

    @property
    def duplicated(self) -> list[str]:
        """Orders registered more than once."""
        return [order for order, count in self.summary.registrations.items() if count > 1]

    @property
    def span(self) -> float:
        """Seconds from the first accepted request's arrival to the last one's."""
        accepted = self._accepted()
        return accepted[-1] - accepted[0] if len(accepted) > 1 else 0.0

    @property
    def combined_rate(self) -> float:
        """Accepted requests per second over the run: ``(n - 1) / span``."""
        accepted = self._accepted()
        return (len(accepted) - 1) / self.span if self.span else 0.0

    @property
    def efficiency(self) -> float:
        """The combined rate over the allowed rate."""
        return self.combined_rate / self.allowed_rate

    def _accepted(self) -> list[float]:
        return sorted(a.at for a in self.summary.arrivals if a.status != 429)


# -- the worker process ------------------------------------------------------------------------


async def work(
    url: str,
    redis: str,
    *,
    key: str,
    orders: int,
    prefix: str,
    rate_limit: RateLimit,
    on_redis_error: str = "local",
) -> WorkerFigures:
    """Gather ``orders`` creates through one client paced by a shared Redis key."""
    mode: OnRedisError = "fail" if on_redis_error == "fail" else "local"
    limiter = RedisRateLimiter(redis, key=key, rate_limit=rate_limit, on_redis_error=mode)
    async with limiter, B2BClient(DEFAULT_TOKEN, base_url=url, rate_limit=limiter) as client:
        started = time.time()
        results = await asyncio.gather(
            *(
                client.orders.create(
                    company_id=1,
                    customer_id=1,
                    order_id=f"{prefix}{i}",
                    total_inc_tax=Decimal("9.99"),
                )
                for i in range(orders)
            ),
            return_exceptions=True,
        )
        finished = time.time()
        stats = client.stats
    created = [result for result in results if isinstance(result, CreatedOrder)]
    failed = collections.Counter(
        type(result).__name__ for result in results if not isinstance(result, CreatedOrder)
    )
    return WorkerFigures(
        prefix=prefix,
        orders=orders,
        ok=len(created),
        failed=dict(failed),
        already_registered=sum(1 for result in created if result.already_registered),
        requests=stats.requests,
        rate_limited=stats.rate_limited,
        budget_wait=stats.budget_wait,
        started=started,
        finished=finished,
    )


# -- the sandbox process -----------------------------------------------------------------------


def summarize(server: SandboxServer) -> SandboxSummary:
    """What the sandbox received and registered."""
    arrivals = []
    for record in server.requests:
        body = record.body
        order = body.get("orderId") if isinstance(body, dict) else None
        arrivals.append(
            Arrival(None if order is None else str(order), record.status, record.received_at)
        )
    registrations = collections.Counter(
        record.registered for record in server.requests if record.registered is not None
    )
    return SandboxSummary(arrivals, dict(registrations))


async def serve(rate: str, faults: str, seed: int | None) -> None:
    """Serve a sandbox until standard input closes, then print its summary."""
    server = SandboxServer(rate=parse_rate(rate), faults=parse_faults(faults), seed=seed)
    async with server:
        print(json.dumps({"url": server.url}), flush=True)
        await asyncio.to_thread(sys.stdin.read)
        print(summarize(server).to_json(), flush=True)


# -- the parent --------------------------------------------------------------------------------


@attrs.define
class SandboxProcess:
    """A sandbox running in a child process: its URL, then its summary once it stopped."""

    url: str
    summary: SandboxSummary | None = None


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.multiprocess", *args]


@contextlib.asynccontextmanager
async def sandbox_process(
    rate: str = "40/1", *, faults: str = "none", seed: int | None = None
) -> AsyncIterator[SandboxProcess]:
    """Run ``sandbox`` in a child process; on leaving, stop it and read its summary."""
    args = ["sandbox", "--rate", rate, "--faults", faults]
    if seed is not None:
        args += ["--seed", str(seed)]
    process = await asyncio.create_subprocess_exec(
        *_command(*args), cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(DEADLINE):
            line = await process.stdout.readline()
        running = SandboxProcess(json.loads(line)["url"])
        yield running
        assert process.stdin is not None
        process.stdin.close()  # which stops it
        async with asyncio.timeout(DEADLINE):
            rest, _ = await process.communicate()
        running.summary = SandboxSummary.from_json(rest.decode().strip().splitlines()[-1])
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()


async def run_worker(
    url: str,
    redis: str,
    *,
    key: str,
    orders: int,
    prefix: str,
    rate: str,
    on_redis_error: str = "local",
) -> WorkerFigures:
    """Run ``worker`` in a child process and read the figures it prints."""
    args = ["worker", "--url", url, "--redis", redis, "--key", key, "--orders", str(orders)]
    args += ["--prefix", prefix, "--rate", rate, "--on-redis-error", on_redis_error]
    process = await asyncio.create_subprocess_exec(
        *_command(*args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        async with asyncio.timeout(DEADLINE):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"worker {prefix} exited {process.returncode}:\n{err.decode()}")
    return WorkerFigures(**json.loads(out.decode().strip().splitlines()[-1]))


async def run(
    redis: str, *, processes: int, orders: int, rate: str, key: str | None = None
) -> RunFigures:
    """Sandbox and ``processes`` workers of ``orders`` creates each, on one Redis key."""
    window = parse_rate(rate)
    assert window is not None, "the run needs a window to measure against"
    key = key or f"b2b-async:bench:{uuid.uuid4().hex}"
    prefixes = [f"P{n}-" for n in range(processes)]
    async with sandbox_process(rate) as sandbox:
        workers = await asyncio.gather(
            *(
                run_worker(sandbox.url, redis, key=key, orders=orders, prefix=p, rate=rate)
                for p in prefixes
            )
        )
    assert sandbox.summary is not None
    expected = [f"{p}{i}" for p in prefixes for i in range(orders)]
    return RunFigures(list(workers), sandbox.summary, expected, window.requests / window.per)


@contextlib.asynccontextmanager
async def throwaway_redis() -> AsyncIterator[str]:
    """A ``redis-server`` on a free loopback port, without persistence; yield its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not on PATH: pass --redis URL")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = await asyncio.create_subprocess_exec(
        binary, *args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        async with asyncio.timeout(10):
            while True:
                with contextlib.suppress(OSError):
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    await writer.wait_closed()
                    break
                await asyncio.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        await process.wait()


def report(figures: RunFigures) -> None:
    """Print each worker's line, then the combined figures."""
    for worker in figures.workers:
        print(json.dumps(attrs.asdict(worker)))
    print(
        f"{len(figures.workers)} processes, {len(figures.expected)} orders,"
        f" {figures.requests} requests in {figures.span:.1f} s:"
        f" combined {figures.combined_rate:.2f}/s of {figures.allowed_rate:g}/s allowed"
        f" ({figures.efficiency:.3f}), 429s {figures.share_429:.2%},"
        f" lost {len(figures.lost)}, registered twice {len(figures.duplicated)}"
    )


async def _main_run(args: argparse.Namespace) -> None:
    async with contextlib.AsyncExitStack() as stack:
        redis = args.redis or await stack.enter_async_context(throwaway_redis())
        figures = await run(redis, processes=args.processes, orders=args.orders, rate=args.rate)
    report(figures)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--rate", default="40/1", help="REQUESTS/SECONDS of the window")
    parser.add_argument("--redis", default=None, help="Redis URL (default: a throwaway one)")
    commands = parser.add_subparsers(dest="command")
    worker = commands.add_parser("worker", help="gather creates through a shared key")
    worker.add_argument("--url", required=True)
    worker.add_argument("--redis", required=True)
    worker.add_argument("--key", required=True)
    worker.add_argument("--orders", type=int, required=True)
    worker.add_argument("--prefix", required=True)
    worker.add_argument("--rate", default="40/1")
    worker.add_argument("--on-redis-error", choices=["local", "fail"], default="local")
    sandbox = commands.add_parser("sandbox", help="serve until stdin closes, then summarize")
    sandbox.add_argument("--rate", default="40/1")
    sandbox.add_argument("--faults", default="none")
    sandbox.add_argument("--seed", type=int, default=None)
    return parser.parse_args(argv)


def _rate_limit(rate: str) -> RateLimit:
    window = parse_rate(rate)
    assert window is not None, "a worker paces to a window"
    return RateLimit(window.requests, window.per)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line."""
    args = _parse(argv)
    if args.command == "worker":
        # The limiter's transitions (Redis lost, Redis back) go to stderr.
        logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
        figures = asyncio.run(
            work(
                args.url,
                args.redis,
                key=args.key,
                orders=args.orders,
                prefix=args.prefix,
                rate_limit=_rate_limit(args.rate),
                on_redis_error=args.on_redis_error,
            )
        )
        print(json.dumps(attrs.asdict(figures)), flush=True)
    elif args.command == "sandbox":
        asyncio.run(serve(args.rate, args.faults, args.seed))
    else:
        asyncio.run(_main_run(args))


if __name__ == "__main__":
    main()
