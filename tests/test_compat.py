"""The aioresponses shim in conftest.py stays only while upstream needs it."""

from __future__ import annotations

import aiohttp
import pytest
from aioresponses import aioresponses

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
