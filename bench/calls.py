"""Function calls per request: bare aiohttp against B2BClient, by where the called code lives.

CPU time per request on a busy two-core machine moves by a tenth from one run to the next; the
number of Python-level calls a request makes hardly moves at all. This counts them with
:mod:`cProfile` over one round of each sender of :mod:`bench.overhead` (the same server, the
same requests), and prints them by origin: each ``b2b_async`` module, aiohttp, asyncio, the
JSON codec, the rest of the standard library, and everything else. A call of a built-in
function counts where it was made.

Usage: ``python -m bench.calls [--requests 2000] [--concurrency 32]``
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import PurePath

from bench._server import echo_server
from bench.overhead import client_round, raw_round

Round = Callable[[str, int, int], Coroutine[object, object, tuple[float, float]]]
WARMUP_REQUESTS = 200


def origin(filename: str) -> str:
    """Where a function profiled in ``filename`` comes from, as a row of the table."""
    parts = PurePath(filename).parts
    if "b2b_async" in parts:
        return "/".join(parts[parts.index("b2b_async") :])
    for package in ("aiohttp", "asyncio", "json", "multidict", "yarl"):
        if package in parts:
            return package
    if "site-packages" in parts:
        return "other packages"
    return "other (standard library, built-ins)"


def calls_by_origin(stats: pstats.Stats, requests: int) -> Counter[str]:
    """Calls per request, summed by :func:`origin`; a built-in's count where each call was made."""
    counts: Counter[str] = Counter()
    for (filename, _, _), (_, calls, _, _, callers) in stats.stats.items():  # type: ignore[attr-defined]
        if filename != "~" or not callers:
            counts[origin(filename)] += calls / requests
            continue
        for (caller, _, _), (_, calls_from_caller, _, _) in callers.items():
            counts[origin(caller)] += calls_from_caller / requests
    return counts


def profile_round(one_round: Round, url: str, requests: int, concurrency: int) -> Counter[str]:
    """One profiled round after an unprofiled warm-up: calls per request by origin."""
    asyncio.run(one_round(url, WARMUP_REQUESTS, concurrency))
    profiler = cProfile.Profile()
    profiler.runcall(asyncio.run, one_round(url, requests, concurrency))
    return calls_by_origin(pstats.Stats(profiler), requests)


def table(raw: Counter[str], client: Counter[str]) -> list[str]:
    """The rows to print: each origin's calls per request, the most added first, then totals."""
    origins = sorted(raw.keys() | client.keys(), key=lambda name: raw[name] - client[name])
    rows = [f"{'origin':40} {'bare aiohttp':>12} {'B2BClient':>10}"]
    rows += [f"{name:40} {raw[name]:12.1f} {client[name]:10.1f}" for name in origins]
    rows.append(f"{'total':40} {raw.total():12.1f} {client.total():10.1f}")
    return rows


def main() -> None:
    """Parse options, profile one round of each sender, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with echo_server() as url:
        raw = profile_round(raw_round, url, args.requests, args.concurrency)
        client = profile_round(client_round, url, args.requests, args.concurrency)
    print(f"Python function calls per request, {args.requests} requests {args.concurrency} at once")
    print("\n".join(table(raw, client)))


if __name__ == "__main__":
    main()
