"""conftest.py: the aioresponses shim stays only while needed; property tests keep no clock."""

from __future__ import annotations

import time

import aiohttp
import pytest
from aioresponses import aioresponses
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import aioresponses_needs_compat


async def test_plain_aioresponses_still_breaks_on_this_aiohttp() -> None:
    """Unpatched aioresponses fails on this aiohttp; when it stops failing, drop the shim."""
    if not aioresponses_needs_compat():
        pytest.fail("aiohttp no longer requires stream_writer: remove CompatClientResponse")
    with aioresponses() as mock:
        mock.get("http://127.0.0.1/x", payload={})
        async with aiohttp.ClientSession() as session:
            with pytest.raises(TypeError, match="stream_writer"):
                await session.get("http://127.0.0.1/x")


async def test_shim_lets_mocked_requests_through(mocked: aioresponses) -> None:
    """With the fixture, a mocked request answers its payload."""
    mocked.get("http://127.0.0.1/x", payload={"ok": True})
    async with aiohttp.ClientSession() as session, session.get("http://127.0.0.1/x") as response:
        assert await response.json() == {"ok": True}


@settings(max_examples=1)
@given(st.integers())
def test_a_property_example_slowed_by_a_busy_machine_still_passes(number: int) -> None:
    """An example past Hypothesis's default 200 ms deadline fails nothing: outcomes are asserted."""
    time.sleep(0.25)
    assert isinstance(number, int)
