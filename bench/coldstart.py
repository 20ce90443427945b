"""Cold start: what ``import b2b_async`` and ``b2b-async --help`` cost a fresh process.

``python -m bench.coldstart`` (``make coldstart``) prints two figures, each the median of
fresh interpreters, next to its target:

- the time ``import b2b_async`` takes in a process that has imported aiohttp, which every
  user of the library pays anyway (target: within 30 ms);
- the wall time of ``b2b-async --help``, interpreter start-up included (target: under 200 ms).

Beside them, without a target, it prints what ``from b2b_async import B2BClient`` costs
beyond aiohttp: the package imports each module on first use, so a program pays for the
client only when it builds one.

The import times are measured inside each child with ``time.perf_counter``, so the
interpreter's own start-up does not blur them; the imports alternate, so that all meet the
same machine load. Then one ``python -X importtime`` run lists the modules that
``from b2b_async import B2BClient`` adds to ``import aiohttp``, the heaviest first, as the
places to look.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import attrs

IMPORT_TARGET_MS: Final = 30.0
HELP_TARGET_MS: Final = 200.0
# Prints how long one import statement took, in seconds, inside a fresh interpreter that has
# run ``setup`` first.
TIMED_IMPORT: Final = (
    "{setup}; import time; started = time.perf_counter(); {statement}; "
    "print(time.perf_counter() - started)"
)
CLIENT_IMPORT: Final = "from b2b_async import B2BClient"


@attrs.frozen
class Figures:
    """The medians of one cold-start measurement, in milliseconds."""

    aiohttp_ms: float
    b2b_async_ms: float
    client_ms: float
    help_ms: float

    @property
    def import_overhead_ms(self) -> float:
        """What ``import b2b_async`` costs beyond ``import aiohttp``."""
        return self.b2b_async_ms

    @property
    def import_met(self) -> bool:
        """Whether the import overhead is within its target."""
        return self.import_overhead_ms <= IMPORT_TARGET_MS

    @property
    def help_met(self) -> bool:
        """Whether ``--help`` finishes under its target."""
        return self.help_ms < HELP_TARGET_MS


def import_seconds(statement: str, setup: str = "pass") -> float:
    """The seconds a fresh interpreter that has run ``setup`` takes to run ``statement``."""
    code = TIMED_IMPORT.format(setup=setup, statement=statement)
    finished = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return float(finished.stdout)


def help_command() -> list[str]:
    """The installed ``b2b-async`` script beside this interpreter, or ``python -m b2b_async``."""
    script = Path(sys.executable).parent / "b2b-async"
    if script.exists():
        return [str(script), "--help"]
    return [sys.executable, "-m", "b2b_async", "--help"]


def help_seconds(command: Sequence[str]) -> float:
    """The wall-clock seconds one run of ``command`` takes, start-up included."""
    started = time.perf_counter()
    subprocess.run(command, capture_output=True, check=True)
    return time.perf_counter() - started


def measure(runs: int) -> Figures:
    """Run every measurement ``runs`` times, after one discarded warm-up round.

    Args:
        runs: How many fresh processes each median is taken over.

    Returns:
        The medians, in milliseconds.
    """
    command = help_command()
    timings: dict[str, Callable[[], float]] = {
        "aiohttp_ms": lambda: import_seconds("import aiohttp"),
        "b2b_async_ms": lambda: import_seconds("import b2b_async", setup="import aiohttp"),
        "client_ms": lambda: import_seconds(CLIENT_IMPORT, setup="import aiohttp"),
        "help_ms": lambda: help_seconds(command),
    }
    samples: dict[str, list[float]] = {name: [] for name in timings}
    for round_ in range(runs + 1):
        for name, timing in timings.items():
            seconds = timing()
            if round_:  # the first round only warms the file cache
                samples[name].append(seconds)
    return Figures(**{name: statistics.median(taken) * 1000 for name, taken in samples.items()})


def self_times_us(statement: str) -> dict[str, int]:
    """Each module's own import time, in microseconds, from ``python -X importtime``."""
    finished = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        capture_output=True,
        text=True,
        check=True,
    )
    times: dict[str, int] = {}
    for line in finished.stderr.splitlines():
        # "import time:   self [us] | cumulative | imported package"; the header has no number.
        fields = line.removeprefix("import time:").split("|")
        if len(fields) == 3 and fields[0].strip().isdigit():
            times[fields[2].strip()] = int(fields[0])
    return times


def heaviest_additions(limit: int) -> list[tuple[str, int]]:
    """The modules the client's import adds to ``import aiohttp``, by own import time.

    Args:
        limit: How many to return.

    Returns:
        Pairs of module name and microseconds, the heaviest first.
    """
    baseline = self_times_us("import aiohttp")
    added = {
        name: micros
        for name, micros in self_times_us(CLIENT_IMPORT).items()
        if name not in baseline
    }
    return sorted(added.items(), key=lambda item: item[1], reverse=True)[:limit]


def verdict(met: bool) -> str:
    """``met`` or ``MISSED``, as printed after a target."""
    return "met" if met else "MISSED"


def report(figures: Figures, runs: int, additions: Sequence[tuple[str, int]]) -> str:
    """The figures, their targets and the heaviest additions, as printed lines."""
    python = ".".join(map(str, sys.version_info[:3]))
    overhead, help_ms = figures.import_overhead_ms, figures.help_ms
    lines = [
        f"cold start: medians of {runs} fresh processes, Python {python}",
        f"  import aiohttp                {figures.aiohttp_ms:7.1f} ms",
        f"  import b2b_async, after it    {overhead:7.1f} ms   target <= "
        f"{IMPORT_TARGET_MS:.0f} ms: {verdict(figures.import_met)}",
        f"  {CLIENT_IMPORT}, after it",
        f"                                {figures.client_ms:7.1f} ms   (no target)",
        f"  b2b-async --help (wall)       {help_ms:7.1f} ms   target <  "
        f"{HELP_TARGET_MS:.0f} ms: {verdict(figures.help_met)}",
        "heaviest modules the client's import adds to aiohttp (own time, one run):",
    ]
    lines += [f"  {micros / 1000:7.1f} ms  {name}" for name, micros in additions]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Measure and print the cold-start figures; with ``--check``, exit 1 on a missed target."""
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart", description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per median")
    parser.add_argument("--top", type=int, default=10, help="heaviest added modules to list")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    figures = measure(args.runs)
    print(report(figures, args.runs, heaviest_additions(args.top)))
    if args.check and not (figures.import_met and figures.help_met):
        sys.exit(1)


if __name__ == "__main__":
    main()
