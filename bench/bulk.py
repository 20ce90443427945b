"""Bulk scale: ``create_stream`` and ``create_many`` over many orders, no rate limit.

The sandbox runs in a process of its own (``python -m b2b_async sandbox --rate-limit none``),
a fresh one per run, so that neither its CPU time nor its memory (it keeps every order and
every request record) is counted on the client side. Each size and API runs twice: once for
throughput and client CPU time, once under :mod:`tracemalloc` for the client's memory (tracing
slows Python several times over, so its run's speed says nothing). The orders come from a
generator, so the input itself holds no memory; ``create_stream``'s outcomes are counted and
dropped, ``create_many``'s report is kept, as its caller keeps it.

Usage: ``python -m bench.bulk [--sizes 10000 100000] [--concurrency 8]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import subprocess
import sys
import time
import tracemalloc
import urllib.request
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from b2b_async import B2BClient, NewOrder, OrderOutcome
from b2b_async.sandbox import DEFAULT_TOKEN

APIS: Final = ("create_stream", "create_many")
#: The client's default ``max_concurrency``, which is also the bulk calls' default.
DEFAULT_CONCURRENCY: Final = 8
#: Memory samples taken over one traced run.
MEMORY_SAMPLES: Final = 200
_TOTAL: Final = Decimal("9.50")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def peak_rss_kib(pid: int) -> int | None:
    """A process's peak resident set (``VmHWM``) in KiB, where ``/proc`` tells it."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], seconds: float = 20) -> None:
    """Poll the sandbox's health route until it answers.

    Raises:
        RuntimeError: the process died or did not answer in time.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the sandbox exited with {process.returncode}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url + "/_sandbox/health", timeout=1):
                return
        time.sleep(0.05)
    raise RuntimeError("the sandbox did not answer in time")


class SandboxProcess:
    """``python -m b2b_async sandbox`` on a free port, without a rate limit."""

    def __init__(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "b2b_async", "sandbox", "--port", str(port)]
        self.process = subprocess.Popen(
            [*command, "--rate-limit", "none"], stdout=subprocess.DEVNULL
        )
        self.peak_rss_kib: int | None = None
        try:
            wait_until_healthy(self.url, self.process)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Note the peak memory, then end the process."""
        self.peak_rss_kib = peak_rss_kib(self.process.pid)
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def orders(count: int) -> Iterator[NewOrder]:
    """``count`` valid orders, made as they are pulled."""
    return (NewOrder("1", "1", f"BC{i}", _TOTAL) for i in range(count))


class MemoryProbe:
    """Samples :mod:`tracemalloc`'s current size every ``every`` outcomes (a no-op when off)."""

    def __init__(self, every: int, traced: bool) -> None:
        self.every = every
        self.traced = traced
        self.seen = 0
        self.samples: list[tuple[int, int]] = []

    def __call__(self, _: OrderOutcome) -> None:
        self.seen += 1
        if self.traced and self.seen % self.every == 0:
            self.samples.append((self.seen, tracemalloc.get_traced_memory()[0]))


async def register(url: str, api: str, size: int, concurrency: int, probe: MemoryProbe) -> int:
    """Register ``size`` orders with ``api``; return how many succeeded."""
    async with B2BClient(
        DEFAULT_TOKEN, base_url=url, rate_limit=None, max_concurrency=concurrency
    ) as client:
        if api == "create_many":
            report = await client.orders.create_many(orders(size), on_progress=probe)
            return len(report.succeeded)
        succeeded = 0
        async with client.orders.create_stream(orders(size)) as stream:
            async for outcome in stream:
                probe(outcome)
                succeeded += outcome.ok
        return succeeded


def run_once(api: str, size: int, concurrency: int, traced: bool) -> dict[str, Any]:
    """One run against a fresh sandbox process; throughput figures, or memory when traced."""
    sandbox = SandboxProcess()
    probe = MemoryProbe(max(1, size // MEMORY_SAMPLES), traced)
    try:
        if traced:
            tracemalloc.start()
        wall, cpu = time.perf_counter(), time.process_time()
        succeeded = asyncio.run(register(sandbox.url, api, size, concurrency, probe))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        peak = tracemalloc.get_traced_memory()[1] if traced else 0
    finally:
        tracemalloc.stop()
        sandbox.stop()
    if succeeded != size:
        raise RuntimeError(f"{api}: {size - succeeded} of {size} orders failed")
    if traced:
        return {
            "peak_bytes": peak,
            "samples": probe.samples,
            "sandbox_peak_rss_kib": sandbox.peak_rss_kib,
        }
    return {
        "seconds": wall,
        "orders_per_s": size / wall,
        "client_cpu_us": cpu / size * 1e6,
        "sandbox_peak_rss_kib": sandbox.peak_rss_kib,
    }


def measure(
    sizes: list[int],
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Callable[[str], object] = print,
) -> dict[str, Any]:
    """Both APIs at every size, a throughput run and a traced run each."""
    runs = []
    for size in sizes:
        for api in APIS:
            speed = run_once(api, size, concurrency, traced=False)
            memory = run_once(api, size, concurrency, traced=True)
            runs.append({"api": api, "orders": size, "throughput": speed, "memory": memory})
            progress(
                f"  {api:13} {size:7} orders: {speed['orders_per_s']:6.0f} orders/s,"
                f" client peak {memory['peak_bytes'] / 1e6:6.2f} MB"
            )
    return {"concurrency": concurrency, "sizes": sizes, "runs": runs}


def main() -> None:
    """Parse options, run both APIs at every size, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    args = parser.parse_args()
    measure(args.sizes, args.concurrency)


if __name__ == "__main__":
    main()
