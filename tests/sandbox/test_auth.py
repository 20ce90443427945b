"""Tests of ``b2b_async/sandbox/_auth.py``: the credentials both API versions accept, and the
401s of the others.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from b2b_async.sandbox import API_PREFIX, DEFAULT_STORE_HASH, DEFAULT_TOKEN, SandboxServer
from tests.sandbox._helpers import V2_HEADERS, call, order, v3


@pytest.mark.parametrize(
    ("headers", "problem"),
    [({}, "authToken is required"), ({"authToken": "wrong"}, "Invalid authToken")],
)
async def test_missing_or_wrong_token_answers_401(
    server: SandboxServer,
    session: aiohttp.ClientSession,
    headers: dict[str, str],
    problem: str,
) -> None:
    """A missing or wrong authToken answers 401, with the window headers, without spending."""
    reply = await call(session, server, headers=headers)
    assert reply.status == 401
    assert reply.json() == {
        "code": 401,
        "data": {"errMsg": problem},
        "message": "Unauthorized Error",
    }
    assert reply.headers["X-Requests-Remaining"] == "150 times"
    assert not server.orders


async def test_custom_token(session: aiohttp.ClientSession) -> None:
    """A sandbox accepts the token it was given, and only that one."""
    async with SandboxServer(token="s3cret") as server:
        refused = await call(session, server)
        accepted = await call(session, server, headers={"authToken": "s3cret"})
        server.token = "rotated"
        rotated = await call(session, server, body=order("B"), headers={"authToken": "s3cret"})
    assert (refused.status, accepted.status, rotated.status) == (401, 200, 401)


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ({}, "X-Auth-Token and X-Store-Hash are required"),
        ({"X-Auth-Token": DEFAULT_TOKEN}, "X-Store-Hash is required with X-Auth-Token"),
        ({"X-Auth-Token": "wrong", "X-Store-Hash": DEFAULT_STORE_HASH}, "Invalid X-Auth-Token"),
        ({"X-Auth-Token": DEFAULT_TOKEN, "X-Store-Hash": "other"}, "Invalid X-Store-Hash"),
        ({"X-Store-Hash": DEFAULT_STORE_HASH}, "X-Auth-Token and X-Store-Hash are required"),
        ({"authToken": "wrong"}, "Invalid authToken"),
        (
            {"authToken": DEFAULT_TOKEN, "X-Store-Hash": DEFAULT_STORE_HASH},
            "authToken cannot be combined with X-Store-Hash; send X-Auth-Token instead",
        ),
    ],
)
async def test_v3_refusals_answer_401_with_the_v3_envelope(
    unlimited: SandboxServer,
    session: aiohttp.ClientSession,
    headers: dict[str, str],
    problem: str,
) -> None:
    """Missing, wrong or mixed credentials answer 401 in V3's shape, registering nothing."""
    reply = await v3(
        session,
        unlimited,
        "/orders",
        method="POST",
        body={"bcOrderId": 1, "customerId": 5},
        headers=headers,
    )
    assert reply.status == 401
    assert reply.json() == {"code": 401, "data": {}, "meta": {"message": problem}}
    assert not unlimited.orders


async def test_v3_accepts_the_legacy_token_and_v2_accepts_the_current_scheme(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """authToken alone works on V3; X-Auth-Token with X-Store-Hash works on V2."""
    legacy = await v3(
        session,
        unlimited,
        "/orders",
        method="POST",
        body={"bcOrderId": 1, "customerId": 5},
        headers=V2_HEADERS,
    )
    current = await v3(
        session,
        unlimited,
        "/companies/users/5/orders",
        method="POST",
        body={"orderId": "2", "totalIncTax": 1},
        prefix=API_PREFIX,
    )
    assert (legacy.status, current.status) == (200, 200)


async def test_v2_refuses_a_store_hash_beside_authtoken(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """V2 refuses the mixed schemes too, in V2's envelope."""
    reply = await v3(
        session,
        unlimited,
        "/companies/users/5/orders",
        method="POST",
        body={"orderId": "2", "totalIncTax": 1},
        headers={**V2_HEADERS, "X-Store-Hash": DEFAULT_STORE_HASH},
        prefix=API_PREFIX,
    )
    assert reply.status == 401
    assert reply.json()["data"] == {
        "errMsg": "authToken cannot be combined with X-Store-Hash; send X-Auth-Token instead"
    }


async def test_store_hash_is_configurable(session: aiohttp.ClientSession) -> None:
    """A sandbox accepts the store hash it was given, and can change it while running."""
    async with SandboxServer(store_hash="abc123", rate=None) as server:
        headers = {"X-Auth-Token": DEFAULT_TOKEN, "X-Store-Hash": "abc123"}
        accepted = await v3(session, server, "/orders", headers=headers)
        refused = await v3(session, server, "/orders")
        server.store_hash = "rotated"
        rotated = await v3(session, server, "/orders", headers=headers)
    assert (accepted.status, refused.status, rotated.status) == (200, 401, 401)


async def _exchange(server: SandboxServer, head: bytes) -> tuple[bytes, bytes]:
    """Send a bodyless V2 GET with the raw header lines ``head``; the status line and body."""
    request = (
        f"GET {API_PREFIX}/companies/1/orders HTTP/1.1\r\nHost: sandbox\r\n".encode()
        + head
        + b"Connection: close\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 60)
    finally:
        writer.close()
        await writer.wait_closed()
    status_line, _, rest = answer.partition(b"\r\n")
    return status_line, rest.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize(
    ("head", "problem"),
    [
        (b"authToken: \xff\xfe\r\n", "Invalid authToken"),
        (b"X-Auth-Token: caf\xe9\r\nX-Store-Hash: x\r\n", "Invalid X-Auth-Token"),
        (
            f"X-Auth-Token: {DEFAULT_TOKEN}\r\n".encode() + b"X-Store-Hash: \xff\r\n",
            "Invalid X-Store-Hash",
        ),
    ],
)
async def test_credentials_that_are_not_utf8_answer_401(
    unlimited: SandboxServer, head: bytes, problem: str
) -> None:
    """A token or store hash whose bytes are not UTF-8 is a wrong credential: 401, never 500."""
    status_line, body = await _exchange(unlimited, head)
    assert status_line.split()[1] == b"401"
    assert json.loads(body)["data"] == {"errMsg": problem}
    assert [record.status for record in unlimited.requests] == [401]
