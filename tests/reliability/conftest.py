"""The reliability suite's record keeping.

Every test under ``tests/reliability`` may add figures through the ``record`` fixture; the
hooks below add each test's outcome, docstring and duration, print the headline figures at
the end of any run, and write ``docs/_generated/reliability.json`` when the run was exactly
``pytest tests/reliability`` (as ``make reliability`` runs it). Any other run (``make test``,
one module, ``-k``) leaves the committed file alone; set ``B2B_RELIABILITY_JSON=PATH`` to
write the record somewhere regardless.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import pytest

from tests.reliability._collector import COLLECTOR, DEFAULT_OUTPUT, Figure

HERE: Final = Path(__file__).parent.resolve()


class Recorder:
    """Adds rows to the session's record on behalf of one test."""

    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid

    def __call__(self, section: str, **figures: Figure) -> None:
        """Record one row of ``section``."""
        COLLECTOR.add(section, self.nodeid, figures)


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Recorder:
    """A recorder bound to the current test."""
    return Recorder(request.node.nodeid)


def _ours(path: Path) -> bool:
    return HERE in path.resolve().parents


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Remember the suite's tests and their docstrings, run or not."""
    for item in items:
        if _ours(item.path) and isinstance(item, pytest.Function):
            COLLECTOR.describe(item.nodeid, item.function.__doc__)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Fold every phase's outcome into the record."""
    if report.nodeid in COLLECTOR.tests:
        xfail = str(getattr(report, "wasxfail", "")) if report.skipped else ""
        COLLECTOR.settle(report.nodeid, report.when, report.outcome, report.duration, xfail)


def _output(config: pytest.Config) -> Path | None:
    override = os.environ.get("B2B_RELIABILITY_JSON")
    if override:
        return Path(override)
    option = config.option
    if option.keyword or option.markexpr or option.collectonly or option.deselect:
        return None
    invoked = config.invocation_params.dir
    if [(invoked / arg).resolve() for arg in config.args] != [HERE]:
        return None
    return config.rootpath / DEFAULT_OUTPUT


def headline() -> str:
    """Cases, examples and trials of this run, in one line."""
    rows = COLLECTOR.rows
    cases = len(rows.get("fault_matrix", []))
    examples = sum(int(row.get("examples", 0) or 0) for row in rows.get("hostile", []))
    trials = sum(int(row.get("trials", 0) or 0) for row in rows.get("cancellation", []))
    return (
        f"reliability: {cases} fault-matrix cases, {examples} hostile examples, "
        f"{trials} cancellation trials"
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the headline figures after any run that ran the suite."""
    if COLLECTOR.rows:
        terminalreporter.write_line(headline())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the record when this run was the whole suite (see the module docstring)."""
    path = _output(session.config)
    if path is None or exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        return
    COLLECTOR.write(path, "pytest tests/reliability")
