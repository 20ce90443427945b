"""Markdown pieces the performance page is written with: tables and target verdicts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def rows(lines: Iterable[Sequence[object]]) -> str:
    """Markdown table rows, one per sequence of cells."""
    return "\n".join("| " + " | ".join(str(cell) for cell in line) + " |" for line in lines)


def table(
    header: Sequence[str],
    lines: Iterable[Sequence[object]],
    numbers: bool = True,
    labels: int = 1,
) -> str:
    """A Markdown table; the first ``labels`` columns left-aligned, the others right-aligned if
    numbers."""
    rule = ["---"] * labels + ["---:" if numbers else "---"] * (len(header) - labels)
    return rows([header, rule, *lines])


def verdict(met: bool) -> str:
    """How a target fared, in a table cell: met, or missed in bold."""
    return "met" if met else "**missed**"


def milliseconds(seconds: float) -> str:
    """Seconds written as whole milliseconds: ``0.08`` is ``80 ms``."""
    return f"{seconds * 1000:.0f} ms"
