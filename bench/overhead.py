"""Client overhead: the same POSTs through bare aiohttp and through B2BClient, alternated.

Prints each round's throughput, the median ratio client/raw (target: :data:`TARGET`) and the
client process's CPU time per request. The server runs in its own process, so the CPU time
measured here is the client side's alone.

Usage: ``python -m bench.overhead [--requests 6000] [--concurrency 32] [--rounds 5] [--no-hooks]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from typing import Any

import aiohttp
import attrs

from b2b_async import B2BClient, set_hooks
from bench._server import echo_server

PATH = "/api/v2/io/companies/1/user/2/orders"
#: A token of a real one's length. The client checks every answer for its token, but only
#: for one of six characters or more (shorter ones are not scrubbed), so a one-letter token
#: would spare the client work that every real one costs.
TOKEN = "kq3v9zt2mw8xr4bn7yc5hd6pf1gj0sla"
RAW_HEADERS = {"authToken": TOKEN, "Accept": "application/json", "Content-Type": "application/json"}
WARMUP_REQUESTS = 200
#: The throughput ratio client/raw the client aims for at concurrency 32.
TARGET = 0.85
Send = Callable[[int], Awaitable[object]]
#: Opens a way of sending request number ``index`` to a server: (host root, concurrency).
Sender = Callable[[str, int], AbstractAsyncContextManager[Send]]


@asynccontextmanager
async def raw_sender(url: str, concurrency: int) -> AsyncIterator[Send]:
    """What a user would write with aiohttp alone."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send(index: int) -> object:
            body = json.dumps({"orderId": f"BC{index}", "totalIncTax": 10.5}).encode()
            async with session.post(url + PATH, data=body, headers=RAW_HEADERS) as response:
                return json.loads(await response.read())

        yield send


@asynccontextmanager
async def client_sender(url: str, concurrency: int) -> AsyncIterator[Send]:
    """The same requests through the library, pacing off."""
    async with B2BClient(
        TOKEN, base_url=url, rate_limit=None, max_concurrency=concurrency
    ) as client:

        async def send(index: int) -> object:
            return await client.orders.create(
                company_id=1, customer_id=2, order_id=f"BC{index}", total_inc_tax=Decimal("10.5")
            )

        yield send


async def drive(send: Send, requests: int, concurrency: int) -> tuple[float, float]:
    """Send ``requests`` calls from ``concurrency`` workers; return (wall, cpu) seconds."""
    counter = iter(range(requests))

    async def worker() -> None:
        for index in counter:
            await send(index)

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - wall, time.process_time() - cpu


async def raw_round(url: str, requests: int, concurrency: int) -> tuple[float, float]:
    """One round of bare aiohttp requests; (wall, cpu) seconds."""
    async with raw_sender(url, concurrency) as send:
        return await drive(send, requests, concurrency)


async def client_round(url: str, requests: int, concurrency: int) -> tuple[float, float]:
    """One round of the same requests through the client; (wall, cpu) seconds."""
    async with client_sender(url, concurrency) as send:
        return await drive(send, requests, concurrency)


@attrs.frozen
class Overhead:
    """Every round's figures at one concurrency: throughput (req/s) and CPU (µs per request)."""

    requests: int
    concurrency: int
    raw_rps: tuple[float, ...]
    client_rps: tuple[float, ...]
    raw_cpu_us: tuple[float, ...]
    client_cpu_us: tuple[float, ...]

    @property
    def ratio(self) -> float:
        """The median over rounds of client throughput / raw throughput."""
        pairs = zip(self.client_rps, self.raw_rps, strict=True)
        return statistics.median(client / raw for client, raw in pairs)

    @property
    def added_cpu_us(self) -> float:
        """The median over rounds of client CPU - raw CPU per request, each round with its pair."""
        pairs = zip(self.client_cpu_us, self.raw_cpu_us, strict=True)
        return statistics.median(client - raw for client, raw in pairs)

    def summary(self) -> dict[str, float]:
        """Medians over rounds, and the ratio."""
        return {
            "raw_rps": statistics.median(self.raw_rps),
            "client_rps": statistics.median(self.client_rps),
            "ratio": self.ratio,
            "raw_cpu_us": statistics.median(self.raw_cpu_us),
            "client_cpu_us": statistics.median(self.client_cpu_us),
        }

    def to_json(self) -> dict[str, Any]:
        """The medians and every round's figures, for ``results.json``."""
        return {
            "requests": self.requests,
            "concurrency": self.concurrency,
            **self.summary(),
            "added_cpu_us": self.added_cpu_us,
            "rounds": {
                "raw_rps": list(self.raw_rps),
                "client_rps": list(self.client_rps),
                "raw_cpu_us": list(self.raw_cpu_us),
                "client_cpu_us": list(self.client_cpu_us),
            },
        }


async def measure_rounds(url: str, requests: int, concurrency: int, rounds: int) -> Overhead:
    """Alternate raw and client rounds after a warm-up; keep every round's figures."""
    await raw_round(url, WARMUP_REQUESTS, concurrency)  # warm up both paths and the server
    await client_round(url, WARMUP_REQUESTS, concurrency)
    figures: dict[str, list[float]] = {"raw": [], "client": [], "raw_cpu": [], "client_cpu": []}
    for _ in range(rounds):
        for name, one_round in (("raw", raw_round), ("client", client_round)):
            wall, cpu = await one_round(url, requests, concurrency)
            figures[name].append(requests / wall)
            figures[f"{name}_cpu"].append(cpu / requests * 1e6)
    return Overhead(
        requests,
        concurrency,
        tuple(figures["raw"]),
        tuple(figures["client"]),
        tuple(figures["raw_cpu"]),
        tuple(figures["client_cpu"]),
    )


async def measure(url: str, requests: int, concurrency: int, rounds: int) -> dict[str, float]:
    """Alternate raw and client rounds; return median throughputs, ratio and CPU per request."""
    return (await measure_rounds(url, requests, concurrency, rounds)).summary()


def main() -> None:
    """Parse options, run the rounds, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--no-hooks",
        action="store_true",
        help="switch the hooks off (set_hooks([])): the cost of an install without the otel extra",
    )
    args = parser.parse_args()
    if args.no_hooks:
        set_hooks([])
    with echo_server() as url:
        result = asyncio.run(measure(url, args.requests, args.concurrency, args.rounds))
    hooks = "off" if args.no_hooks else "default (OpenTelemetry when importable)"
    print(f"requests per round {args.requests}, concurrency {args.concurrency}, hooks {hooks}")
    for name, rps, cpu in (
        ("bare aiohttp", result["raw_rps"], result["raw_cpu_us"]),
        ("B2BClient", result["client_rps"], result["client_cpu_us"]),
    ):
        print(f"{name:13}: {rps:8.0f} req/s, {cpu:6.1f} us client CPU per request")
    ratio = result["ratio"]
    print(f"throughput ratio client/raw, median of {args.rounds}: {ratio:.3f} (target >= {TARGET})")


if __name__ == "__main__":
    main()
