"""Tests of ``b2b_async/sandbox/_envelope.py``: the answers each API version gives by itself,
and the proxy's HTML page.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from b2b_async.sandbox import FaultKind, Faults, SandboxServer
from b2b_async.sandbox._envelope import V2, V3, Envelope, proxy_page
from tests.sandbox._helpers import call, create


def body_of(response: web.Response) -> Any:
    """The decoded JSON body of an answer built in memory."""
    assert isinstance(response.body, bytes)
    return json.loads(response.body)


def test_a_v2_failure_names_its_reason_and_falls_back_to_error() -> None:
    """V2 puts the status's reason phrase in ``message`` and says ``Error`` for a status it has
    no phrase for; the body code is the status either way."""
    listed, unlisted = V2.failure(404, "Companies Does not Exist"), V2.failure(418, "teapot")
    assert (listed.status, body_of(listed)) == (
        404,
        {"code": 404, "data": {"errMsg": "Companies Does not Exist"}, "message": "Not Found Error"},
    )
    assert (unlisted.status, body_of(unlisted)) == (
        418,
        {"code": 418, "data": {"errMsg": "teapot"}, "message": "Error"},
    )


def test_a_v3_bad_request_maps_each_field_and_joins_the_problems() -> None:
    """V3's 400 keeps every field's problem in ``data`` and all of them in ``meta.message``."""
    fields = {"bcOrderId": "bcOrderId can not be null", "poNumber": "poNumber must be a string"}
    response = V3.bad_request(fields)
    assert response.status == 400
    assert body_of(response) == {
        "code": 400,
        "data": fields,
        "meta": {"message": "bcOrderId can not be null; poNumber must be a string"},
    }


def test_a_v3_message_moves_to_the_top_level_without_meta() -> None:
    """With ``top_level`` the message leaves ``meta`` (and its pagination) for ``message``."""
    nested = V3.success([1], pagination={"totalCount": 1, "limit": 10, "offset": 0})
    top_level = V3.success([1], top_level=True, pagination={"totalCount": 1})
    assert body_of(nested)["meta"] == {
        "message": "SUCCESS",
        "pagination": {"totalCount": 1, "limit": 10, "offset": 0},
    }
    assert body_of(top_level) == {"code": 200, "data": [1], "message": "SUCCESS"}


@pytest.mark.parametrize("envelope", [V2, V3])
def test_too_many_requests_says_when_to_retry_in_either_version(envelope: Envelope) -> None:
    """A 429 of either version carries ``Retry-After`` in whole seconds."""
    response = envelope.too_many_requests(7, "slow down")
    assert (response.status, response.headers["Retry-After"]) == (429, "7")
    assert body_of(response)["code"] == 429


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


def test_a_proxy_page_is_the_gateways_html() -> None:
    """A proxy page is HTML naming the status and its reason, not a JSON envelope."""
    response = proxy_page(504)
    assert response.status == 504
    assert response.content_type == "text/html"
    assert "<h1>504 Gateway Timeout</h1>" in (response.text or "")


async def test_proxy_faults_answer_html(session: aiohttp.ClientSession) -> None:
    """502 and 504 look like a proxy's HTML page, not the API's envelope."""
    async with SandboxServer(faults=Faults(http_502=1.0)) as server:
        reply = await call(session, server)
    assert "<h1>502 Bad Gateway</h1>" in reply.text
