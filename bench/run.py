"""Run every benchmark, write ``bench/results.json``, the plots and ``docs/performance.md``.

``python -m bench`` (``make bench``) runs the full set, which takes 10 to 15 minutes on
a two-core machine; ``--quick`` runs smaller sizes in about three. ``--only SECTION`` reruns some
sections and keeps the others from the existing results; ``--render`` only redraws the plots
and rewrites the page from the existing results.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import attrs

from b2b_async.sandbox import RateWindow
from bench import budget, bulk, contention, latency, multiprocess, overhead, urgent
from bench._server import echo_server

ROOT: Final = Path(__file__).resolve().parent.parent
RESULTS: Final = ROOT / "bench" / "results.json"
PLOTS: Final = ROOT / "docs" / "_static" / "bench"
PAGE: Final = ROOT / "docs" / "performance.md"
SECTIONS: Final = (
    "overhead",
    "latency",
    "budget",
    "comparison",
    "urgent",
    "multiprocess",
    "contended",
    "bulk",
)


@attrs.frozen
class Sizes:
    """How much each benchmark does in one mode."""

    mode: str
    overhead_requests: int
    overhead_rounds: int
    concurrencies: tuple[int, ...]
    latency_samples: int
    latency_blocks: int
    budget_orders: int
    window_requests: int
    window_per: float
    comparison_orders: int
    competing: int
    latencies: tuple[float, ...]
    urgent_orders: int
    urgent_every: float
    urgent_latency: float
    across_orders: int
    contended_orders: int
    burners: int
    contended_latency: float
    bulk_sizes: tuple[int, ...]
    bulk_repeats: int


FULL: Final = Sizes(
    mode="full",
    overhead_requests=4000,
    overhead_rounds=11,
    concurrencies=(1, 8, 32, 128),
    latency_samples=10_000,
    latency_blocks=20,
    budget_orders=800,
    window_requests=40,
    window_per=1.0,
    comparison_orders=200,
    competing=15,
    latencies=(0.0, 0.08, 0.25),
    urgent_orders=2000,
    urgent_every=0.5,
    urgent_latency=0.08,
    across_orders=600,
    contended_orders=320,
    burners=2,
    contended_latency=0.08,
    bulk_sizes=(10_000, 100_000),
    bulk_repeats=2,
)
#: The same scenarios, smaller: only the sizes differ from FULL.
QUICK: Final = attrs.evolve(
    FULL,
    mode="quick",
    overhead_requests=2000,
    overhead_rounds=7,
    latency_samples=2000,
    latency_blocks=10,
    budget_orders=200,
    comparison_orders=80,
    urgent_orders=200,
    across_orders=100,
    contended_orders=120,
    bulk_sizes=(5000, 20_000),
)


def cpu_model() -> str:
    """The processor's model name, where the platform tells it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "aiohttp": metadata.version("aiohttp"),
        "b2b_async": metadata.version("b2b-async"),
        "load_average_at_start": list(load) if load is not None else None,
    }


def window_of(sizes: Sizes) -> RateWindow:
    """The time-scaled window every budget benchmark runs against."""
    return RateWindow(sizes.window_requests, sizes.window_per)


def run_overhead(sizes: Sizes, say: Callable[[str], object]) -> dict[str, Any]:
    """Client vs bare aiohttp at every concurrency, one server process for all."""
    results = []
    with echo_server() as url:
        for concurrency in sizes.concurrencies:
            found = asyncio.run(
                overhead.measure_rounds(
                    url, sizes.overhead_requests, concurrency, sizes.overhead_rounds
                )
            )
            results.append(found.to_json())
            say(
                f"  concurrency {concurrency:3}: ratio {found.ratio:.3f},"
                f" client CPU {found.summary()['client_cpu_us']:.1f} us/request"
            )
    return {
        "requests_per_round": sizes.overhead_requests,
        "rounds": sizes.overhead_rounds,
        "runs": results,
    }


def run_latency(sizes: Sizes, say: Callable[[str], object]) -> dict[str, Any]:
    """Sequential single creates, bare aiohttp and client, alternating blocks."""
    with echo_server() as url:
        found = asyncio.run(latency.measure(url, sizes.latency_samples, sizes.latency_blocks))
    result = found.to_json()
    result["blocks"] = sizes.latency_blocks
    say(f"  added p50 {result['added_p50_us']:+.1f} us, p99 {result['added_p99_us']:+.1f} us")
    return result


def run_budget(sizes: Sizes, say: Callable[[str], object]) -> dict[str, Any]:
    """Every strategy alone against the time-scaled window."""
    result = asyncio.run(budget.measure_all(sizes.budget_orders, window_of(sizes)))
    for run in result["runs"]:
        say("  " + budget.describe(run))
    return result


def run_comparison(sizes: Sizes, say: Callable[[str], object]) -> dict[str, Any]:
    """The client and the competent baseline, alone and competing, at each latency."""
    conditions = budget.grid(sizes.competing, sizes.latencies)
    result = asyncio.run(
        budget.measure_conditions(
            sizes.comparison_orders,
            window_of(sizes),
            conditions,
            lambda run: say("  " + budget.describe(run)),
        )
    )
    for line in budget.latency_targets(result["runs"]):
        say("  " + line)
    return result


def run_urgent(sizes: Sizes, say: Callable[[str], object]) -> dict[str, Any]:
    """Single creates beside a backfill in one process: create_many, gathered, the baseline."""
    scenario = urgent.Scenario(
        orders=sizes.urgent_orders,
        window=window_of(sizes),
        every=sizes.urgent_every,
        latency=sizes.urgent_latency,
    )
    return asyncio.run(
        urgent.measure_all(
            scenario, progress=lambda run: say("  " + urgent.describe(run, scenario))
        )
    )


def run_multiprocess(sizes: Sizes, say: Callable[[str], object]) -> dict[str, Any]:
    """Urgent calls in one process beside two backfilling ones, sharing a throwaway Redis."""
    found = multiprocess.urgent_across_processes(
        backfills=2,
        orders=sizes.across_orders,
        rate=f"{sizes.window_requests}/{sizes.window_per:g}",
        every=sizes.urgent_every,
        latency=sizes.urgent_latency,
    )
    targets = urgent.ACROSS_PROCESSES
    met = {name: "met" if ok else "MISSED" for name, ok in urgent.met_across(found).items()}
    limit = targets.p99_limit(found["interval_s"], found["latency_s"])
    say(
        f"  urgent call p99 {found['urgent_call_p99_s']:.3f} s [≤ {limit:.3f} s: {met['p99']}],"
        f" wait p99 {found['urgent_wait_p99_intervals']:.1f} intervals; combined efficiency"
        f" {found['efficiency']:.3f} [≥ {targets.efficiency:g}: {met['efficiency']}], 429s"
        f" {found['share_429']:.2%}, lost {found['lost']}, duplicated {found['duplicated']}"
        f" [0: {met['lost']}]"
    )
    return {
        "every": sizes.urgent_every,
        "targets": attrs.asdict(targets),
        **found,
    }


def run_contended(sizes: Sizes, say: Callable[[str], object]) -> dict[str, Any]:
    """Efficiency at server latency while CPU-burning processes take the cores."""
    result = contention.measure_all(
        sizes.contended_orders,
        window_of(sizes),
        burners=sizes.burners,
        latency=sizes.contended_latency,
        progress=lambda run: say("  " + budget.describe(run)),
    )
    say("  " + contention.verdict(result))
    return result


def run_bulk(sizes: Sizes, say: Callable[[str], object]) -> dict[str, Any]:
    """Both bulk APIs at both sizes against a sandbox process."""
    return bulk.measure(list(sizes.bulk_sizes), repeats=sizes.bulk_repeats, progress=say)


RUNNERS: Final[dict[str, Callable[[Sizes, Callable[[str], object]], dict[str, Any]]]] = {
    "overhead": run_overhead,
    "latency": run_latency,
    "budget": run_budget,
    "comparison": run_comparison,
    "urgent": run_urgent,
    "multiprocess": run_multiprocess,
    "contended": run_contended,
    "bulk": run_bulk,
}


def say(line: str) -> None:
    """Print a progress line at once."""
    print(line, flush=True)


def measure(sizes: Sizes, sections: tuple[str, ...], previous: dict[str, Any]) -> dict[str, Any]:
    """Run ``sections``; keep the other sections of ``previous``."""
    results = dict(previous)
    started = time.monotonic()
    results["machine"] = machine()
    for section in sections:
        say(f"{section} ({sizes.mode})")
        section_started = time.monotonic()
        found = RUNNERS[section](sizes, say)
        found["mode"] = sizes.mode
        found["seconds"] = time.monotonic() - section_started
        results[section] = found
        say(f"  {found['seconds']:.0f} s")
    if hasattr(os, "getloadavg"):
        results["machine"]["load_average_at_end"] = list(os.getloadavg())
    now = datetime.datetime.now(datetime.UTC)
    results["generated"] = now.isoformat(timespec="seconds")
    results["mode"] = sizes.mode if set(sections) == set(SECTIONS) else "mixed"
    results["seconds"] = time.monotonic() - started
    results["command"] = " ".join(["python -m bench", *sys.argv[1:]])
    return results


def render(results: dict[str, Any]) -> None:
    """Draw the plots and write the page from ``results``."""
    from bench import page, plots  # matplotlib loads only when drawing

    PLOTS.mkdir(parents=True, exist_ok=True)
    plots.draw_all(results, PLOTS)
    PAGE.write_text(page.render(results))
    say(f"wrote {PAGE.relative_to(ROOT)} and the plots in {PLOTS.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> None:
    """Parse options, run the benchmarks, write the results, the plots and the page."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, about 3 minutes")
    parser.add_argument(
        "--only", action="append", choices=SECTIONS, help="run only this section (repeatable)"
    )
    parser.add_argument(
        "--render", action="store_true", help="only redraw and rewrite from bench/results.json"
    )
    args = parser.parse_args(argv)
    previous: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if args.render:
        render(previous)
        return
    missing = [s for s in SECTIONS if s not in previous and s not in (args.only or SECTIONS)]
    if missing:
        say(f"not in bench/results.json, so left out of the page: {', '.join(missing)}")
    sections = tuple(args.only) if args.only else SECTIONS
    results = measure(QUICK if args.quick else FULL, sections, previous)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    say(f"wrote {RESULTS.relative_to(ROOT)} in {results['seconds']:.0f} s")
    render(results)
