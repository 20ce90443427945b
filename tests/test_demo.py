"""The demo: a short run against the embedded sandbox ends as expected and prints its summary."""

from __future__ import annotations

import io
import re

from rich.console import Console

from b2b_async._demo import DemoSettings, run_demo


async def test_demo_registers_valid_orders_once_and_prints_the_summary() -> None:
    """A short demo run: every valid order registered once, the unknown company rejected."""
    output = io.StringIO()
    settings = DemoSettings(orders=60, unknown_company=3, registered_before=3, competing=30)
    assert await run_demo(settings, console=Console(file=output, width=100)) is True
    text = output.getvalue()
    assert "b2b-async demo: summary" in text
    assert re.search(r"rejected\W+3\b", text), text
    assert "every valid order is registered exactly once" in text
