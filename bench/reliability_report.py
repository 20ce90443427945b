"""Render ``docs/reliability.md`` from the figures the reliability suite recorded.

``pytest tests/reliability`` writes ``docs/_generated/reliability.json`` (see
``tests/reliability/conftest.py``); this script turns it into the documentation page: a
fixed introduction, then tables generated from the record, so that every figure on the page
comes from a run and none is typed by hand.

Usage: ``python -m bench.reliability_report [--input JSON] [--output MD]``
(``make reliability`` runs the suite, then this).
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
INPUT: Final = ROOT / "docs" / "_generated" / "reliability.json"
OUTPUT: Final = ROOT / "docs" / "reliability.md"

Row = Mapping[str, Any]

INTRODUCTION: Final = """\
# Reliability

b2b-async promises to never lose an order, never register one twice, never retry what
cannot succeed, never hang on a server that misbehaves and never leak the token. The suite
under `tests/reliability/` tries to break each promise over real sockets: the sandbox with
seeded faults, small servers of its own for answers the sandbox does not give, and a raw
`asyncio` server that writes whole HTTP responses byte for byte so that aiohttp's parser
meets them for real. This page is what the last run tried and what held.

Every figure below is generated, not typed: `pytest tests/reliability` records each case
into `docs/_generated/reliability.json`, and `python -m bench.reliability_report` renders
this page from it. To regenerate both, run:

```console
$ make reliability
```

(which is `pytest tests/reliability && python -m bench.reliability_report`). `make test`
runs the same tests but leaves the committed figures alone. A test that shows a bug in the
library is marked `xfail(strict=True)`: it is expected to fail until the bug is fixed, and
the suite fails the day it passes, so that the mark is removed rather than forgotten.
Those tests are listed under [Known bugs](#known-bugs).
"""

HELD: Final = {"passed": "yes", "xfailed": "no: known bug", "failed": "**NO**"}
MODULES: Final = {
    "test_fault_matrix.py": "Fault matrix",
    "test_hostile.py": "Hostile responses",
    "test_size_cap.py": "Size cap",
    "test_deadlines.py": "Deadlines",
    "test_cancellation.py": "Cancellation",
    "test_secrets.py": "Secrets and input",
    "test_hostile_inputs.py": "Hostile inputs",
    "test_late_orders.py": "Late V3 orders",
}


def cell(value: object) -> str:
    """One table cell: numbers as they are, counts as ``name n, ...``, pipes escaped."""
    if value is None:
        text = "-"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, Mapping):
        text = ", ".join(f"{name} {count}" for name, count in value.items())
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def held(outcome: str) -> str:
    """How a test's outcome reads in a *held* column."""
    return HELD.get(outcome, outcome)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def section(title: str, text: str, body: str) -> str:
    """A level-2 section: heading, a sentence, then the generated body."""
    return f"## {title}\n\n{text}\n\n{body}\n"


def count_held(rows: Sequence[Row], weight: Callable[[Row], int] = lambda _: 1) -> tuple[int, int]:
    """(tried, held) over ``rows``, each row counting ``weight(row)``."""
    tried = sum(weight(row) for row in rows)
    return tried, sum(weight(row) for row in rows if row.get("held") == "passed")


def summary(record: Mapping[str, Any]) -> str:
    """The headline table: what was tried, per acceptance point, and how much held."""
    sections: Mapping[str, Sequence[Row]] = record["sections"]
    totals = record["totals"]

    def examples(row: Row) -> int:
        return int(row.get("examples", 0))

    def trials(row: Row) -> int:
        return int(row.get("trials", 0))

    lines = [
        ("fault-matrix cases (create and create_many)", *count_held(sections["fault_matrix"])),
        ("hostile responses (Hypothesis examples)", *count_held(sections["hostile"], examples)),
        ("budget headers that could stall the limiter", *count_held(sections["hostile_limiter"])),
        ("size-cap cases", *count_held(sections["size_cap"])),
        ("deadline and timeout cases", *count_held(sections["deadlines"])),
        ("cancellation trials", *count_held(sections["cancellation"], trials)),
        ("secret and input checks", *count_held(sections["secrets"])),
    ]
    outcome = (
        f"{totals['passed']} passed, {totals['xfailed']} known bugs, {totals['failed']} failed"
    )
    environment = record["environment"]
    run = (
        f"Run of {record['generated_at']} (`{record['command']}`, {record['seconds']} s on "
        f"{environment['cpus']} CPUs; Python {environment['python']}, aiohttp "
        f"{environment['aiohttp']}, Hypothesis {environment['hypothesis']}): "
        f"{totals['tests']} tests, {outcome}."
    )
    return section(
        "Summary",
        run,
        table(["tried", "count", "held"], [(name, tried, ok) for name, tried, ok in lines]),
    )


def matrix_outcome(row: Row) -> str:
    """What became of the case's order, and what was expected when the two differ."""
    if row["observed"] == row["expected"]:
        return str(row["observed"])
    return f"{row['observed']} (expected {row['expected']})"


def matrix_registrations(row: Row) -> str:
    """Registrations over the run's orders, and any order registered twice."""
    text = f"{row['registered']} of {row['orders']}"
    return text if not row["twice"] else f"{text}, {row['twice']} twice"


def fault_matrix(rows: Sequence[Row]) -> str:
    """Every case of the matrix, through create and create_many."""
    text = (
        "Each case runs against a real socket, once through a single `create` and once "
        "inside `create_many` with four orders (the other three must pass untouched). "
        "*Attempts* are the requests the case's order made; *seconds* is the call's "
        "duration, with its allowed bounds; *registered* counts registrations over all "
        "orders of the run (an order registered twice would be named there; none is)."
    )
    body = table(
        ["case", "via", "outcome", "attempts", "seconds (bounds)", "registered", "held"],
        [
            (
                row["case"],
                row["mode"],
                matrix_outcome(row),
                row["attempts"],
                f"{row['seconds']} ({row['bounds']})",
                matrix_registrations(row),
                held(row["held"]),
            )
            for row in rows
        ],
    )
    return section("Fault matrix", text, body)


def hostile(rows: Sequence[Row], limiter: Sequence[Row]) -> str:
    """The property tests and the limiter's stalls."""
    text = (
        "Hypothesis builds whole responses (status line, headers, framing, body) and a "
        "raw server writes them; every call must return a valid `CreatedOrder` or raise a "
        "`B2BError`, never anything else and never hang, and a response built only from "
        "sound parts must succeed. Runs are derandomized, so CI tries the same examples "
        "every time. *Past cap* counts successes whose body was larger than the client's "
        "cap (compressed bodies: see [Size cap](#size-cap))."
    )
    body = table(
        ["property", "examples", "requests", "seconds", "outcomes", "past cap", "held"],
        [
            (
                row["name"],
                row["examples"],
                row["requests"],
                row["seconds"],
                row["outcomes"],
                row.get("past_cap"),
                held(row["held"]),
            )
            for row in rows
        ],
    )
    stalls = table(
        ["headers on one 200", "calls done of 3 within 1 s", "held"],
        [(row["headers"], row["calls_done"], held(row["held"])) for row in limiter],
    )
    more = (
        "Budget headers on a success feed the rate limiter. With a day-long reset or "
        "allocation, later calls must still finish or fail fast:"
    )
    return section("Hostile responses", text, f"{body}\n\n{more}\n\n{stalls}")


def size_cap(rows: Sequence[Row]) -> str:
    """The endless and the compressed bodies."""
    text = (
        "A 200 body that never ends, with a huge `Content-Length`, chunked, or delimited "
        "by the connection's close, must be refused at `max_response_bytes` (256 KiB "
        "here) within seconds, the connection closed; so must a gzip body that "
        "decompresses past the cap."
    )
    body = table(
        ["case", "error", "attempts", "seconds", "server saw the close after", "held"],
        [
            (
                row["case"],
                row["error"],
                row["attempts"],
                row["seconds"],
                row["server_saw_close_after"],
                held(row["held"]),
            )
            for row in rows
        ],
    )
    return section("Size cap", text, body)


def deadlines(rows: Sequence[Row]) -> str:
    """Deadlines and per-attempt timeouts."""
    text = (
        "A deadline bounds a whole call, waits and queueing included; the per-attempt "
        "timeout does not count time spent queueing for a slot."
    )
    body = table(
        ["case", "outcome", "requests", "seconds", "bounds", "held"],
        [
            (
                row["case"],
                row["outcome"],
                row["attempts"],
                row["seconds"],
                row["bounds"],
                held(row["held"]),
            )
            for row in rows
        ],
    )
    return section("Deadlines", text, body)


def cancellation(rows: Sequence[Row]) -> str:
    """The randomized cancellation trials."""
    text = (
        "Each trial picks an operation and a delay with a seeded `random.Random`, cancels "
        "the operation after the delay (the sandbox delays most requests, so there is "
        "something in flight), then checks that the client has no task left, no "
        "connection checked out, nothing in flight or queued in the limiter, and still "
        "registers an order. *At cancel* says where the client's work stood."
    )
    body = table(
        [
            "trials",
            "cancelled",
            "timed out",
            "finished first",
            "by operation",
            "at cancel",
            "requests",
            "twice",
            "held",
        ],
        [
            (
                row["trials"],
                row["cancelled"],
                row["timed_out"],
                row["finished_first"],
                row["by_operation"],
                row["at_cancel"],
                row["requests"],
                row["registered_twice"],
                held(row["held"]),
            )
            for row in rows
        ],
    )
    return section("Cancellation", text, body)


def secrets(rows: Sequence[Row]) -> str:
    """Token scans, URL and header refusals, id encoding, redirects."""
    scans = [row for row in rows if "runs" in row]
    text = (
        "The token scan replays the whole fault matrix with a distinctive token and the "
        "loop in debug mode, and searches every log record at DEBUG (the client's, "
        "aiohttp's, asyncio's), repr, error message and formatted traceback."
    )
    scan_table = table(
        ["runs", "errors scanned", "log records", "texts scanned", "leaks", "held"],
        [
            (
                row["runs"],
                row["errors_scanned"],
                row["log_records"],
                row["texts_scanned"],
                row["leaks"],
                held(row["held"]),
            )
            for row in scans
        ],
    )
    checks = table(
        ["check", "held"],
        [(row["check"], held(row["held"])) for row in rows if "runs" not in row],
    )
    return section("Secrets and input", text, f"{scan_table}\n\n{checks}")


def known_bugs(tests: Mapping[str, Row]) -> str:
    """The strict xfails, with their reasons."""
    bugs: dict[str, list[str]] = defaultdict(list)
    for nodeid, test in tests.items():
        if test["outcome"] == "xfailed":
            bugs[str(test.get("reason", ""))].append(nodeid.split("::")[-1])
    text = (
        "Tests marked `xfail(strict=True)` because they show a bug in the library; each "
        "fails today as the reason says."
    )
    body = table(["bug", "tests"], [(reason, ", ".join(names)) for reason, names in bugs.items()])
    return section("Known bugs", text, body if bugs else "None.")


def every_test(tests: Mapping[str, Row]) -> str:
    """Each test function, its docstring and its outcomes (parametrized cases grouped)."""
    groups: dict[str, dict[str, Any]] = {}
    for nodeid, test in tests.items():
        path, _, name = nodeid.partition("::")
        function = re.sub(r"\[.*\]$", "", name)
        group = groups.setdefault(
            f"{path}::{function}",
            {"doc": test.get("doc", ""), "outcomes": defaultdict(int), "seconds": 0.0},
        )
        group["outcomes"][held(str(test["outcome"]))] += 1
        group["seconds"] += float(test.get("duration", 0.0))
    rows = []
    for key, group in groups.items():
        path, _, function = key.partition("::")
        module = MODULES.get(Path(path).name, Path(path).name)
        rows.append(
            (module, f"`{function}`", group["doc"], dict(group["outcomes"]), group["seconds"])
        )
    body = table(
        ["area", "test", "what it shows", "held (count)", "seconds"],
        [(*row[:4], round(row[4], 1)) for row in rows],
    )
    return section("Every test", "Parametrized cases are grouped under their test.", body)


def render(record: Mapping[str, Any]) -> str:
    """The whole page."""
    sections = record["sections"]
    parts = [
        INTRODUCTION,
        summary(record),
        fault_matrix(sections["fault_matrix"]),
        hostile(sections["hostile"], sections["hostile_limiter"]),
        size_cap(sections["size_cap"]),
        deadlines(sections["deadlines"]),
        cancellation(sections["cancellation"]),
        secrets(sections["secrets"]),
        known_bugs(record["tests"]),
        every_test(record["tests"]),
    ]
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> None:
    """Read the record, write the page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=INPUT, help="the suite's JSON record")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="the Markdown page")
    args = parser.parse_args(argv)
    record = json.loads(args.input.read_text(encoding="utf-8"))
    args.output.write_text(render(record), encoding="utf-8")
    totals = record["totals"]
    print(
        f"wrote {args.output} from {args.input}: {totals['tests']} tests, "
        f"{totals['passed']} passed, {totals['xfailed']} known bugs, {totals['failed']} failed"
    )


if __name__ == "__main__":
    main()
