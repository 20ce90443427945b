"""Tests of ``b2b_async/sandbox/_records.py``: what the sandbox remembers of each request, and
how it decodes JSON bodies.
"""

from __future__ import annotations

import json
from decimal import Decimal

import aiohttp
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from b2b_async.sandbox import (
    API_PREFIX,
    DEFAULT_STORE_HASH,
    DEFAULT_TOKEN,
    V3_PREFIX,
    SandboxServer,
)
from b2b_async.sandbox._records import HANG, RequestRecord, decode_json
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


def test_decode_json_keeps_the_digits_sent() -> None:
    """Numbers with a fraction become Decimal with the exact digits; integers stay int."""
    decoded = decode_json(b'{"total": 259.990, "tiny": 0.1, "count": 3}')
    assert decoded == {"total": Decimal("259.990"), "tiny": Decimal("0.1"), "count": 3}
    assert str(decoded["total"]) == "259.990"
    assert type(decoded["count"]) is int


@pytest.mark.parametrize("raw", [b"NaN", b"[Infinity]", b'{"a": -Infinity}', b'"caf\xe9"'])
def test_decode_json_refuses_what_strict_json_refuses(raw: bytes) -> None:
    """NaN, the infinities and bytes that are not UTF-8 raise ValueError."""
    with pytest.raises(ValueError, match=r"JSON|utf-8"):
        decode_json(raw)


def test_the_first_outcome_settled_is_kept() -> None:
    """A request settled as hanging stays so when the pipeline later settles it again."""
    record = RequestRecord(
        request_id="r1",
        method="POST",
        path="/api/v2/io/orders",
        query={},
        headers=CIMultiDictProxy(CIMultiDict()),
        received_at=0.0,
    )
    assert record.status is None
    record.settle(HANG)
    record.settle(200)
    assert record.status == HANG


def test_decode_json_refuses_a_body_nested_too_deeply_as_not_json() -> None:
    """Nesting deeper than Python's parser can go is a ValueError like any other body that is
    not JSON, never a RecursionError."""
    with pytest.raises(ValueError, match="nested too deeply"):
        decode_json(b"[" * 100_000)
