"""The session's record of what the reliability suite tried and what held.

Tests add rows through the ``record`` fixture (see ``conftest.py``); the conftest's hooks add
each test's outcome, docstring and duration. At session end the whole record is written as
JSON, which ``bench/reliability_report.py`` renders into ``docs/reliability.md``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Final

#: Where ``make reliability`` leaves the figures for the report script.
DEFAULT_OUTPUT: Final = Path("docs/_generated/reliability.json")

Figure = str | int | float | bool | None | Mapping[str, int]


class Collector:
    """Rows per section, and per test its outcome, docstring and duration."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.tests: dict[str, dict[str, Any]] = {}

    def add(self, section: str, nodeid: str, figures: Mapping[str, Figure]) -> None:
        """Record one row of ``section`` for the test ``nodeid``."""
        self.rows.setdefault(section, []).append({"test": nodeid, **figures})

    def describe(self, nodeid: str, docstring: str | None) -> None:
        """Remember a collected test and the first line of its docstring."""
        summary = (docstring or "").strip().splitlines()[0] if docstring else ""
        self.tests.setdefault(nodeid, {"outcome": "not run", "duration": 0.0})["doc"] = summary

    def settle(self, nodeid: str, when: str, outcome: str, duration: float, xfail: str) -> None:
        """Fold one phase's report (setup, call, teardown) into the test's outcome."""
        entry = self.tests.setdefault(nodeid, {"doc": "", "outcome": "not run", "duration": 0.0})
        entry["duration"] = round(entry["duration"] + duration, 3)
        if xfail:
            entry["outcome"], entry["reason"] = "xfailed", xfail
        elif outcome == "failed":
            entry["outcome"] = "failed"
        elif when == "call" and entry["outcome"] != "failed":
            entry["outcome"] = outcome
        elif outcome == "skipped" and entry["outcome"] == "not run":
            entry["outcome"] = "skipped"

    def document(self, command: str) -> dict[str, Any]:
        """The whole record, ready for JSON."""
        outcomes = [test["outcome"] for test in self.tests.values()]
        rows = {
            section: [{**row, "held": self._held(row["test"])} for row in section_rows]
            for section, section_rows in sorted(self.rows.items())
        }
        return {
            "generated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
            "command": command,
            "seconds": round(time.monotonic() - self.started, 1),
            "environment": _environment(),
            "totals": {
                "tests": len(outcomes),
                **{name: outcomes.count(name) for name in ("passed", "failed", "xfailed")},
                "skipped": outcomes.count("skipped") + outcomes.count("not run"),
            },
            "sections": rows,
            "tests": dict(sorted(self.tests.items())),
        }

    def write(self, path: Path, command: str) -> None:
        """Write :meth:`document` to ``path`` as indented JSON."""
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.document(command), indent=1, sort_keys=False)
        path.write_text(text + "\n", encoding="utf-8")

    def _held(self, nodeid: str) -> str:
        return str(self.tests.get(nodeid, {}).get("outcome", "not run"))


def _environment() -> dict[str, str | int]:
    versions = {name: metadata.version(name) for name in ("aiohttp", "hypothesis", "tenacity")}
    return {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpus": os.cpu_count() or 0,
        **versions,
    }


#: The one collector of a pytest session.
COLLECTOR: Final = Collector()
