"""Efficiency with the CPU contended: pacing while other processes burn the machine's cores.

Starts processes that each spin on one core (``python3 -c 'while True: pass'``), then gathers
creates against the sandbox's time-scaled window with the server answering after a latency,
through the client and through the competent baseline (:mod:`bench.baseline`). The event
loop that runs the client (and, in this benchmark, the sandbox) is then late to wake, as in a
busy service. The burners are killed however the run ends.

Usage: ``python -m bench.contention [--orders 400] [--burners 2] [--latency 0.08]``
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

from b2b_async.sandbox import RateWindow
from bench.budget import COMPARED, Conditions, describe, measure

#: A process that keeps one core busy until it is killed.
BURNER: Final = ("-c", "while True: pass")
#: The client's least share of the budget with two burners, as the issue accepts it.
TARGET: Final = 0.97


@contextmanager
def burning(count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` CPU-burning processes for the length of the block; killed when it ends."""
    burners: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count):
            burners.append(subprocess.Popen([sys.executable, *BURNER]))
        yield burners
    finally:
        for burner in burners:
            burner.kill()
        for burner in burners:
            burner.wait()


async def measure_contended(
    orders: int,
    window: RateWindow,
    latency: float,
    strategies: Sequence[str] = COMPARED,
    progress: Callable[[dict[str, Any]], object] = lambda _: None,
) -> list[dict[str, Any]]:
    """Each strategy in turn under the burners already running; their figures."""
    runs = []
    for name in strategies:
        run = await measure(name, orders, window, Conditions(latency=latency))
        del run["windows"], run["registered_at"]
        progress(run)
        runs.append(run)
    return runs


def measure_all(
    orders: int,
    window: RateWindow,
    *,
    burners: int = 2,
    latency: float = 0.08,
    progress: Callable[[dict[str, Any]], object] = lambda _: None,
) -> dict[str, Any]:
    """Start the burners, measure each strategy, kill the burners; the figures."""
    with burning(burners):
        runs = asyncio.run(measure_contended(orders, window, latency, progress=progress))
    return {
        "window": {"requests": window.requests, "per": window.per},
        "orders": orders,
        "burners": burners,
        "latency": latency,
        "target": TARGET,
        "runs": runs,
    }


def meets_target(run: dict[str, Any], target: float = TARGET) -> bool:
    """Whether a run reaches ``target`` (:data:`TARGET` by default)."""
    return bool(run["efficiency"] >= target)


def verdict(result: dict[str, Any]) -> str:
    """The client's figure under contention against the target, met or missed."""
    run = next(r for r in result["runs"] if r["strategy"] == "client")
    met = "met" if meets_target(run) else "MISSED"
    figure = f"{run['efficiency']:.3f} [≥ {TARGET:g}: {met}]"
    return f"client under {result['burners']} burners: {figure}"


def main() -> None:
    """Run both strategies under the burners and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--burners", type=int, default=2)
    parser.add_argument("--latency", type=float, default=0.08, help="server latency, seconds")
    args = parser.parse_args()
    result = measure_all(
        args.orders,
        RateWindow(40, 1.0),
        burners=args.burners,
        latency=args.latency,
        progress=lambda run: print(describe(run)),
    )
    print(verdict(result))


if __name__ == "__main__":
    main()
