"""Tests of ``b2b_async/sandbox/_records.py``: what the sandbox remembers of each request, and
how it decodes JSON bodies.
"""

from __future__ import annotations

import json
from decimal import Decimal

import aiohttp

from b2b_async.sandbox import (
    API_PREFIX,
    DEFAULT_STORE_HASH,
    DEFAULT_TOKEN,
    V3_PREFIX,
    SandboxServer,
)
from tests.sandbox._helpers import CREATE, ORDER, V2_HEADERS, FakeClock, call, create


async def test_records_keep_what_was_sent(
    server: SandboxServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Each record holds method, path, query, headers, the decoded body and the outcome."""
    await call(
        session, server, CREATE + "?trace=1", headers={**V2_HEADERS, "User-Agent": "probe/1"}
    )
    record = server.requests[0]
    assert (record.method, record.path, record.query) == (
        "POST",
        API_PREFIX + CREATE,
        {"trace": "1"},
    )
    assert record.headers["authtoken"] == DEFAULT_TOKEN
    assert record.headers["User-Agent"] == "probe/1"
    assert record.body == {"orderId": "BC1", "totalIncTax": Decimal("259.99"), "poNumber": "PO-7"}
    assert json.loads(record.raw) == ORDER
    assert (record.status, record.fault, record.registered) == (200, None, "BC1")
    assert record.received_at == clock.now


async def test_v3_requests_are_recorded_with_their_headers(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Every V3 request is recorded, headers and decoded body included."""
    await create(session, unlimited, 3)
    [record] = unlimited.requests
    assert record.path == V3_PREFIX + "/orders"
    assert record.body == {"bcOrderId": 3, "customerId": 5}
    assert record.headers["X-Store-Hash"] == DEFAULT_STORE_HASH
    assert record.registered == "3"
    assert record.status == 200
