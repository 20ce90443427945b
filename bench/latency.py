"""Latency of one create in an idle service: bare aiohttp and B2BClient, one request at a time.

Sequential requests (concurrency 1) to the minimal server of :mod:`bench._server`, in its own
process; each call is timed on its own. Blocks of bare aiohttp and client calls alternate, so
that drift in the machine's state (frequency, other load) falls on both alike. Prints the
percentiles of each and what the client adds.

Usage: ``python -m bench.latency [--samples 5000] [--blocks 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any, Final

import attrs

from bench._server import echo_server
from bench.overhead import Sender, client_sender, raw_sender

#: Calls per block that are not timed: the first one opens the connection.
WARMUP_CALLS: Final = 20
#: The percentiles kept in the results (and drawn), in percent.
PERCENTILES: Final = (
    *range(1, 100),
    99.5,
    99.9,
)


@attrs.frozen
class Latencies:
    """Every timed call's latency in seconds, bare aiohttp and client."""

    raw: tuple[float, ...]
    client: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        """Percentiles in µs for both, and what the client adds at p50 and p99."""
        raw, client = percentiles_us(self.raw), percentiles_us(self.client)
        return {
            "samples": len(self.raw),
            "percentiles": list(PERCENTILES),
            "raw_us": raw,
            "client_us": client,
            "raw_mean_us": statistics.fmean(self.raw) * 1e6,
            "client_mean_us": statistics.fmean(self.client) * 1e6,
            "added_p50_us": at(client, 50) - at(raw, 50),
            "added_p99_us": at(client, 99) - at(raw, 99),
        }


def percentiles_us(samples: tuple[float, ...]) -> list[float]:
    """The :data:`PERCENTILES` of ``samples`` (seconds), in µs."""
    cuts = statistics.quantiles(samples, n=1000, method="inclusive")
    return [cuts[round(p * 10) - 1] * 1e6 for p in PERCENTILES]


def at(values: list[float], percentile: float) -> float:
    """The value at ``percentile`` from a list laid out along :data:`PERCENTILES`."""
    return values[PERCENTILES.index(percentile)]


async def time_block(sender: Sender, url: str, calls: int, first: int) -> list[float]:
    """Open a sender, warm it up, then time ``calls`` sequential calls (seconds each)."""
    timings: list[float] = []
    async with sender(url, 1) as send:
        for index in range(first, first + WARMUP_CALLS):
            await send(index)
        for index in range(first + WARMUP_CALLS, first + WARMUP_CALLS + calls):
            started = time.perf_counter()
            await send(index)
            timings.append(time.perf_counter() - started)
    return timings


async def measure(url: str, samples: int, blocks: int) -> Latencies:
    """Alternate ``blocks`` blocks of each kind, ``samples`` timed calls in all for each."""
    per_block = max(1, samples // blocks)
    raw: list[float] = []
    client: list[float] = []
    for block in range(blocks):
        first = block * (per_block + WARMUP_CALLS)
        raw += await time_block(raw_sender, url, per_block, first)
        client += await time_block(client_sender, url, per_block, first)
    return Latencies(tuple(raw), tuple(client))


def main() -> None:
    """Parse options, time the calls, print the percentiles."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--blocks", type=int, default=10)
    args = parser.parse_args()
    with echo_server() as url:
        result = asyncio.run(measure(url, args.samples, args.blocks)).to_json()
    print(f"{result['samples']} sequential calls each")
    for name in ("raw", "client"):
        values = result[f"{name}_us"]
        print(
            f"{name:7}: p50 {at(values, 50):7.1f} us, p90 {at(values, 90):7.1f} us,"
            f" p99 {at(values, 99):7.1f} us"
        )
    print(f"added  : p50 {result['added_p50_us']:+.1f} us, p99 {result['added_p99_us']:+.1f} us")


if __name__ == "__main__":
    main()
