"""Client overhead: the same POSTs through bare aiohttp and through B2BClient, alternated.

Prints each round's throughput, the median ratio client/raw (target at least 0.9) and the
client process's CPU time per request. The server runs in its own process, so the CPU time
measured here is the client side's alone.

Usage: ``python -m bench.overhead [--requests 6000] [--concurrency 32] [--rounds 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal

import aiohttp

from b2b_async import B2BClient
from bench._server import echo_server

PATH = "/api/v2/io/companies/1/user/2/orders"
Send = Callable[[int], Awaitable[object]]


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
    """What a user would write with aiohttp alone."""
    headers = {"authToken": "t", "Accept": "application/json", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send(index: int) -> object:
            body = json.dumps({"orderId": f"BC{index}", "totalIncTax": 10.5}).encode()
            async with session.post(url + PATH, data=body, headers=headers) as response:
                return json.loads(await response.read())

        return await drive(send, requests, concurrency)


async def client_round(url: str, requests: int, concurrency: int) -> tuple[float, float]:
    """The same requests through the library, pacing off."""
    async with B2BClient("t", base_url=url, rate_limit=None, max_concurrency=concurrency) as client:

        async def send(index: int) -> object:
            return await client.orders.create(
                company_id=1, customer_id=2, order_id=f"BC{index}", total_inc_tax=Decimal("10.5")
            )

        return await drive(send, requests, concurrency)


async def measure(url: str, requests: int, concurrency: int, rounds: int) -> dict[str, float]:
    """Alternate raw and client rounds; return median throughputs, ratio and CPU per request."""
    await raw_round(url, 200, concurrency)  # warm up both paths and the server
    await client_round(url, 200, concurrency)
    raw, client, client_cpu, raw_cpu = [], [], [], []
    for _ in range(rounds):
        wall, cpu = await raw_round(url, requests, concurrency)
        raw.append(requests / wall)
        raw_cpu.append(cpu / requests * 1e6)
        wall, cpu = await client_round(url, requests, concurrency)
        client.append(requests / wall)
        client_cpu.append(cpu / requests * 1e6)
    return {
        "raw_rps": statistics.median(raw),
        "client_rps": statistics.median(client),
        "ratio": statistics.median(c / r for c, r in zip(client, raw, strict=True)),
        "raw_cpu_us": statistics.median(raw_cpu),
        "client_cpu_us": statistics.median(client_cpu),
    }


def main() -> None:
    """Parse options, run the rounds, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with echo_server() as url:
        result = asyncio.run(measure(url, args.requests, args.concurrency, args.rounds))
    print(f"requests per round {args.requests}, concurrency {args.concurrency}")
    for name, rps, cpu in (
        ("bare aiohttp", result["raw_rps"], result["raw_cpu_us"]),
        ("B2BClient", result["client_rps"], result["client_cpu_us"]),
    ):
        print(f"{name:13}: {rps:8.0f} req/s, {cpu:6.1f} us client CPU per request")
    print(f"throughput ratio client/raw, median of {args.rounds}: {result['ratio']:.3f} (>= 0.9)")


if __name__ == "__main__":
    main()
