"""Tests of ``b2b_async/sandbox/_server.py``: a sandbox listening on a local socket, started and
stopped.
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import pytest

from b2b_async.sandbox import Faults, SandboxServer
from tests.sandbox._helpers import RESETS, call

#: Seconds the client waits for the hanging request's answer.
CLIENT_WAIT = 30.0


async def test_stopping_ends_a_hanging_request_cleanly(caplog: pytest.LogCaptureFixture) -> None:
    """Leaving the server's block while a request hangs is quick, quiet, and leaves no task."""
    caplog.set_level(logging.DEBUG)
    async with aiohttp.ClientSession() as session:
        server = SandboxServer(faults=Faults(hang=1.0))
        async with server:
            pending = asyncio.ensure_future(call(session, server, wait=CLIENT_WAIT))
            while not server.requests:  # noqa: ASYNC110 - the server offers no event to await
                await asyncio.sleep(0.01)
            started = time.monotonic()
        # The hang lasts a minute and the client gives up after CLIENT_WAIT: a stop far
        # quicker than either, whatever the machine's load, did not wait for them.
        assert time.monotonic() - started < CLIENT_WAIT / 2
        with pytest.raises(RESETS):
            await pending
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


async def test_server_lifecycle() -> None:
    """start twice fails, aclose twice is harmless, url names the bound port."""
    server = SandboxServer()
    await server.aclose()
    await server.start()
    try:
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.port > 0
        with pytest.raises(RuntimeError):
            await server.start()
    finally:
        await server.aclose()
    await server.aclose()
    assert SandboxServer(host="::1", port=8080).url == "http://[::1]:8080"


async def test_failed_bind_cleans_up() -> None:
    """A port that is taken raises OSError and leaves the server stopped."""
    async with SandboxServer() as first:
        second = SandboxServer(port=first.port)
        with pytest.raises(OSError, match="address already in use"):
            await second.start()
        await second.aclose()


async def test_a_restarted_server_serves_again_and_lets_requests_hang_again(
    session: aiohttp.ClientSession,
) -> None:
    """Started again after a stop, the server listens on its port again, and a hanging request
    hangs until its client gives up instead of being cut short by the earlier stop."""
    server = SandboxServer(faults=Faults(hang=1.0, hang_seconds=30))
    await server.start()
    port = server.port
    await server.aclose()
    await server.start()
    try:
        with pytest.raises(TimeoutError):
            await call(session, server, wait=0.2)
    finally:
        await server.aclose()
    assert server.port == port
    assert [record.status for record in server.requests] == ["hang"]


async def _serve_one_request(server: SandboxServer) -> None:
    """Start the server, send it one request, and stop it."""
    async with server, aiohttp.ClientSession() as session:
        await call(session, server)


def test_a_server_served_again_in_another_event_loop_lets_latency_delay_answers() -> None:
    """Served in one event loop, then in another, the server still answers a delayed request
    instead of failing it with a plain 500 and leaving its record unsettled."""
    server = SandboxServer(rate=None, faults=Faults(latency=1.0, latency_seconds=0))
    asyncio.run(_serve_one_request(server))
    asyncio.run(_serve_one_request(server))
    assert [record.status for record in server.requests] == [200, 400]


async def test_servers_started_on_port_zero_each_listen_on_a_port_of_their_own() -> None:
    """Port 0 picks a free port per server, so two run at once, each serving on its own."""
    async with SandboxServer() as first, SandboxServer() as second:
        async with aiohttp.ClientSession() as session:
            answers = [(await call(session, server)).status for server in (first, second)]
    assert first.port != second.port
    assert answers == [200, 200]
