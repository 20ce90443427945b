"""Fixtures of the sandbox's tests: a fake clock, running sandboxes and a raw aiohttp session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from b2b_async.sandbox import SandboxServer
from tests.sandbox._helpers import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock for the window and the sandbox's dates."""
    return FakeClock()


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[SandboxServer]:
    """A default sandbox (150 requests per 60 s window) on a fake clock."""
    async with SandboxServer(clock=clock) as running:
        yield running


@pytest.fixture
async def unlimited() -> AsyncIterator[SandboxServer]:
    """A sandbox without a request window, on the real clock."""
    async with SandboxServer(rate=None) as running:
        yield running


@pytest.fixture
async def store(clock: FakeClock) -> AsyncIterator[SandboxServer]:
    """A sandbox without a request window, on a fake clock, with the default 10 s registration
    window."""
    async with SandboxServer(rate=None, clock=clock) as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A raw aiohttp session."""
    async with aiohttp.ClientSession() as client:
        yield client
