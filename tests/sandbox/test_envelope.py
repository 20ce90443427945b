"""Tests of ``b2b_async/sandbox/_envelope.py``: the answers each API version gives by itself,
and the proxy's HTML page.
"""

from __future__ import annotations

import aiohttp
import pytest

from b2b_async.sandbox import FaultKind, Faults, SandboxServer
from tests.sandbox._helpers import call, create


@pytest.mark.parametrize(
    ("kind", "status", "message"),
    [
        (FaultKind.HTTP_500, 500, "Internal Server Error"),
        (FaultKind.HTTP_503, 503, "Service temporarily unavailable"),
        (FaultKind.HTTP_429, 429, "Too many requests, slow down"),
    ],
)
async def test_injected_errors_on_v3_use_the_v3_envelope(
    session: aiohttp.ClientSession, kind: FaultKind, status: int, message: str
) -> None:
    """The sandbox's fault injection applies to V3 routes, with V3 error bodies."""
    faults = Faults(**{kind.field: 1.0})
    async with SandboxServer(rate=None, faults=faults) as server:
        reply = await create(session, server, 1)
    assert reply.status == status
    assert reply.json() == {"code": status, "data": {}, "meta": {"message": message}}
    if status == 429:
        assert reply.headers["Retry-After"] == "1"
    assert not server.orders


async def test_proxy_faults_answer_html(session: aiohttp.ClientSession) -> None:
    """502 and 504 look like a proxy's HTML page, not the API's envelope."""
    async with SandboxServer(faults=Faults(http_502=1.0)) as server:
        reply = await call(session, server)
    assert "<h1>502 Bad Gateway</h1>" in reply.text
