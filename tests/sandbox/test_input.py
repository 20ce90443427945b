"""Tests of ``b2b_async/sandbox/_input.py``: bodies, ids and query values, read the same way
for both API versions.
"""

from __future__ import annotations

import aiohttp
import pytest

from b2b_async.sandbox import SandboxServer
from tests.sandbox._helpers import call


@pytest.mark.parametrize("raw", [b"{not json", b"", b'{"orderId": "A", "totalIncTax": NaN}'])
async def test_malformed_json_answers_400(
    server: SandboxServer, session: aiohttp.ClientSession, raw: bytes
) -> None:
    """A body that is not strict JSON answers 400 and is recorded raw."""
    reply = await call(session, server, data=raw)
    assert reply.status == 400
    assert reply.json()["data"] == {"errMsg": "Request body is not valid JSON"}
    assert server.requests[0].raw == raw
    assert server.requests[0].body is None
