"""The sandbox server, driven over real sockets with raw aiohttp (no client code of the library)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web
from multidict import CIMultiDictProxy

from b2b_async.sandbox import (
    API_PREFIX,
    DEFAULT_TOKEN,
    SANDBOX_KEY,
    Company,
    Customer,
    FaultKind,
    Faults,
    RateWindow,
    Sandbox,
    SandboxData,
    SandboxServer,
    create_app,
    parse_faults,
    parse_rate,
)
from b2b_async.sandbox._window import WindowState

HEADERS = {"authToken": DEFAULT_TOKEN}
CREATE = "/companies/1/user/1/orders"
ORDER = {"orderId": "BC1", "totalIncTax": 259.99, "poNumber": "PO-7"}
RESETS = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@attrs.frozen
class Reply:
    """What came back for one request."""

    status: int
    headers: CIMultiDictProxy[str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock for the window."""
    return FakeClock()


@pytest.fixture
async def server(clock: FakeClock) -> AsyncIterator[SandboxServer]:
    """A default sandbox on a fake clock."""
    async with SandboxServer(clock=clock) as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A raw aiohttp session."""
    async with aiohttp.ClientSession() as client:
        yield client


async def call(
    session: aiohttp.ClientSession,
    server: SandboxServer,
    path: str = CREATE,
    *,
    method: str = "POST",
    body: Any = ORDER,
    data: bytes | None = None,
    headers: Mapping[str, str] = HEADERS,
    wait: float = 5.0,
) -> Reply:
    """Send one request under /api/v2/io and read the whole answer."""
    payload = {"data": data} if data is not None else {"json": body}
    async with session.request(
        method,
        server.url + API_PREFIX + path,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=wait),
        **payload,
    ) as response:
        return Reply(response.status, response.headers, await response.text())


def order(order_id: str, total: Any = 10, **extra: Any) -> dict[str, Any]:
    """A registration body."""
    return {"orderId": order_id, "totalIncTax": total, **extra}


# --- registration ------------------------------------------------------------------------------


async def test_create_answers_the_success_envelope(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Create An Order answers 200 with orderId echoed as a string and stores the order."""
    reply = await call(session, server, "/companies/3/user/203/orders")
    assert reply.status == 200
    assert reply.json() == {"code": 200, "data": {"orderId": "BC1"}, "message": "Success"}
    assert reply.headers["Content-Type"].startswith("application/json")
    stored = server.orders["BC1"]
    assert (stored.company_id, stored.customer_id) == (3, 203)
    assert stored.total_inc_tax == Decimal("259.99")
    assert stored.po_number == "PO-7"
    assert server.registrations("BC1") == 1


async def test_create_without_company_uses_the_customers_company(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Create Order Without CompanyID registers with the customer's current company."""
    reply = await call(session, server, "/companies/users/205/orders", body=order("X", 5))
    assert reply.json()["data"] == {"orderId": "X"}
    assert server.orders["X"].company_id == 5
    assert server.orders["X"].po_number is None
    assert server.orders["X"].total_inc_tax == Decimal(5)


async def test_create_without_company_follows_a_moved_customer(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """A customer moved to another company registers its next orders there."""
    server.move_customer(7, 42)
    await call(session, server, "/companies/users/7/orders", body=order("M"))
    assert server.orders["M"].company_id == 42
    with pytest.raises(KeyError):
        server.move_customer(7, 999)


async def test_second_registration_is_refused(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """A second registration of an orderId, by either route, is 400 "The order already exists."."""
    await call(session, server)
    again = await call(session, server)
    other_route = await call(session, server, "/companies/users/1/orders")
    for reply in (again, other_route):
        assert reply.status == 400
        assert reply.json() == {
            "code": 40010,
            "data": {"errMsg": "The order already exists."},
            "message": "The order already exists.",
        }
    assert server.registrations("BC1") == 1
    assert [record.registered for record in server.requests] == ["BC1", None, None]


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({"totalIncTax": 1}, "bc_order_id", "orderId can not be null"),
        (order(""), "bc_order_id", "orderId can not be empty"),
        (order("  "), "bc_order_id", "orderId can not be empty"),
        ({"orderId": 12, "totalIncTax": 1}, "bc_order_id", "orderId must be a string"),
        ({"orderId": "A"}, "total_inc_tax", "totalIncTax can not be null"),
        (order("A", None), "total_inc_tax", "totalIncTax can not be null"),
        (order("A", "12.5"), "total_inc_tax", "totalIncTax must be a number"),
        (order("A", True), "total_inc_tax", "totalIncTax must be a number"),
        (order("A", poNumber=7), "po_number", "poNumber must be a string"),
        (order("A", poNumber=None), "po_number", "poNumber must be a string"),
        ([1, 2], "errMsg", "Request body must be a JSON object"),
    ],
)
async def test_invalid_bodies_answer_400_with_a_field_map(
    server: SandboxServer,
    session: aiohttp.ClientSession,
    body: Any,
    field: str,
    problem: str,
) -> None:
    """Each broken rule answers 400 code 40010 naming the field, and registers nothing."""
    reply = await call(session, server, body=body)
    assert reply.status == 400
    assert reply.json() == {"code": 40010, "data": {field: problem}, "message": "Bad Request Error"}
    assert not server.orders


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


async def test_every_problem_is_reported_at_once(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """A body with several problems names all of them."""
    reply = await call(session, server, body={"orderId": "", "totalIncTax": "1", "poNumber": 1})
    assert set(reply.json()["data"]) == {"bc_order_id", "total_inc_tax", "po_number"}


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/companies/101/user/1/orders", "Companies Does not Exist"),
        ("/companies/abc/user/1/orders", "Companies Does not Exist"),
        ("/companies/1/user/1001/orders", "User Does not Exist"),
        ("/companies/1/user/x1/orders", "User Does not Exist"),
        ("/companies/2/user/1/orders", "User Does not Belong to this Company"),
        ("/companies/users/0/orders", "User Does not Exist"),
        ("/companies/users/%C2%B2/orders", "User Does not Exist"),
    ],
)
async def test_unknown_company_or_customer_answers_404(
    server: SandboxServer, session: aiohttp.ClientSession, path: str, problem: str
) -> None:
    """Unknown, non-numeric or mismatched path ids answer 404 with an errMsg."""
    reply = await call(session, server, path)
    assert reply.status == 404
    assert reply.json() == {"code": 404, "data": {"errMsg": problem}, "message": "Not Found Error"}
    assert not server.orders


async def test_unknown_routes_answer_the_envelope(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """An unknown path or method under the API answers the envelope, not aiohttp's text page."""
    missing = await call(session, server, "/nothing/here")
    wrong_method = await call(session, server, CREATE, method="GET")
    assert missing.json() == {
        "code": 404,
        "data": {"errMsg": "Not Found"},
        "message": "Not Found Error",
    }
    assert wrong_method.status == 405
    assert wrong_method.json()["message"] == "Method Not Allowed Error"


# --- authentication ------------------------------------------------------------------------------


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


# --- headers and the window ---------------------------------------------------------------------


async def test_every_answer_carries_the_rate_headers_with_units(
    server: SandboxServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """200, 400, 401 and 404 all carry X-Requests-* with units and a unique X-Request-Id."""
    first = await call(session, server)
    clock.advance(0.25)
    replies = [
        first,
        await call(session, server, body={}),
        await call(session, server, headers={}),
        await call(session, server, "/companies/999/user/1/orders"),
    ]
    for reply in replies:
        assert reply.headers["X-Requests-Allocated"] == "150 times/60 s"
        assert re.fullmatch(r"\d+ times", reply.headers["X-Requests-Remaining"])
        assert re.fullmatch(r"\d+(\.\d+)? s", reply.headers["X-Request-Window-Resets-After"])
    assert first.headers["X-Requests-Remaining"] == "149 times"
    assert first.headers["X-Request-Window-Resets-After"] == "60.0 s"
    assert replies[1].headers["X-Request-Window-Resets-After"] == "59.75 s"
    ids = [reply.headers["X-Request-Id"] for reply in replies]
    assert len(set(ids)) == 4
    assert ids == [record.request_id for record in server.requests]


async def test_window_refuses_past_the_budget_until_it_resets(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Past the budget: 429 with Retry-After; 429s do not count; a new window starts whole."""
    async with SandboxServer(rate=RateWindow(3, 60), clock=clock) as server:
        statuses = [(await call(session, server, body=order(f"W{n}"))).status for n in range(3)]
        clock.advance(20.4)
        refused = await call(session, server, body=order("W3"))
        clock.advance(39.0)
        refused_again = await call(session, server, body=order("W3"))
        clock.advance(0.6)
        after = await call(session, server, body=order("W3"))
    assert statuses == [200, 200, 200]
    assert refused.status == 429
    assert refused.json()["code"] == 429
    assert refused.headers["Retry-After"] == "40"
    resets_after = refused.headers["X-Request-Window-Resets-After"]
    assert float(resets_after.removesuffix(" s")) == pytest.approx(39.6)
    assert refused.headers["X-Requests-Remaining"] == "0 times"
    assert refused_again.headers["Retry-After"] == "1"
    assert after.status == 200
    assert after.headers["X-Requests-Remaining"] == "2 times"
    assert [record.status for record in server.requests] == [200, 200, 200, 429, 429, 200]


async def test_window_is_shared_by_every_token(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Callers share one window: a second session sees the first one's spending."""
    async with SandboxServer(rate=RateWindow(2, 60), clock=clock) as server:
        await call(session, server, body=order("A"))
        async with aiohttp.ClientSession() as other:
            second = await call(other, server, body=order("B"))
            third = await call(other, server, body=order("C"))
    assert second.headers["X-Requests-Remaining"] == "0 times"
    assert third.status == 429


async def test_no_window_means_no_limit_and_no_rate_headers(
    session: aiohttp.ClientSession,
) -> None:
    """rate=None switches the window and its headers off; X-Request-Id stays."""
    async with SandboxServer(rate=None) as server:
        replies = [await call(session, server, body=order(f"N{n}")) for n in range(5)]
    assert [reply.status for reply in replies] == [200] * 5
    assert "X-Requests-Remaining" not in replies[0].headers
    assert "X-Request-Id" in replies[0].headers
    assert server.rate is None


async def test_rate_can_change_at_run_time(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Assigning a rate starts a fresh window with the new budget."""
    await call(session, server)
    server.rate = RateWindow(requests=1, per=2.5)
    first = await call(session, server, body=order("R1"))
    second = await call(session, server, body=order("R2"))
    assert first.headers["X-Requests-Allocated"] == "1 times/2.5 s"
    assert first.headers["X-Requests-Remaining"] == "0 times"
    assert (second.status, second.headers["Retry-After"]) == (429, "3")


async def test_competing_integration_spends_the_start_of_each_window(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Another integration spends N requests whenever a window opens."""
    async with SandboxServer(rate=RateWindow(5, 60), competing=3, clock=clock) as server:
        first = await call(session, server, body=order("C1"))
        await call(session, server, body=order("C2"))
        refused = await call(session, server, body=order("C3"))
        clock.advance(60)
        server.competing = 4
        next_window = await call(session, server, body=order("C3"))
    assert first.headers["X-Requests-Remaining"] == "1 times"
    assert refused.status == 429
    assert next_window.headers["X-Requests-Remaining"] == "0 times"
    assert server.competing == 4


async def test_competing_integration_can_spend_everything(
    session: aiohttp.ClientSession,
) -> None:
    """A competing integration spending the whole budget leaves nothing: every request is 429."""
    async with SandboxServer(rate=RateWindow(2, 60), competing=5) as server:
        reply = await call(session, server)
    assert reply.status == 429
    assert not server.orders


async def test_concurrency_limit_answers_429(session: aiohttp.ClientSession) -> None:
    """Past max_in_flight requests in processing, 429 with a short Retry-After, not spent."""
    slow = Faults(latency=1.0, latency_seconds=0.2)
    async with SandboxServer(faults=slow, max_in_flight=1) as server:
        replies = await asyncio.gather(
            call(session, server, body=order("P1")),
            call(session, server, body=order("P2")),
        )
    statuses = sorted(reply.status for reply in replies)
    assert statuses == [200, 429]
    refused = next(reply for reply in replies if reply.status == 429)
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["X-Requests-Remaining"] == "149 times"


# --- faults -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "content_type"),
    [
        (FaultKind.HTTP_500, 500, "application/json"),
        (FaultKind.HTTP_502, 502, "text/html"),
        (FaultKind.HTTP_503, 503, "application/json"),
        (FaultKind.HTTP_504, 504, "text/html"),
        (FaultKind.HTTP_429, 429, "application/json"),
        (FaultKind.ERROR_200, 200, "application/json"),
    ],
)
async def test_answer_faults_register_nothing(
    session: aiohttp.ClientSession, kind: FaultKind, status: int, content_type: str
) -> None:
    """Injected error answers have their status and body type, headers, and register nothing."""
    async with SandboxServer(faults=Faults(**{kind.field: 1.0})) as server:
        reply = await call(session, server)
    assert reply.status == status
    assert reply.headers["Content-Type"].startswith(content_type)
    assert reply.headers["X-Requests-Remaining"] == "149 times"
    assert not server.orders
    assert (server.requests[0].fault, server.requests[0].status) == (kind, status)


async def test_proxy_faults_answer_html(session: aiohttp.ClientSession) -> None:
    """502 and 504 look like a proxy's HTML page, not the API's envelope."""
    async with SandboxServer(faults=Faults(http_502=1.0)) as server:
        reply = await call(session, server)
    assert "<h1>502 Bad Gateway</h1>" in reply.text


async def test_error_200_and_spurious_429_bodies(session: aiohttp.ClientSession) -> None:
    """error_200 is a 40010 envelope under HTTP 200; a spurious 429 says Retry-After: 1."""
    async with SandboxServer(faults=Faults(error_200=1.0)) as server:
        error_200 = await call(session, server)
        server.faults = Faults(http_429=1.0)
        spurious = await call(session, server)
    assert error_200.json()["code"] == 40010
    assert spurious.headers["Retry-After"] == "1"
    assert spurious.json()["code"] == 429


async def test_malformed_answers_a_truncated_body_after_registering(
    session: aiohttp.ClientSession,
) -> None:
    """malformed: HTTP 200 with half a JSON body; the order is registered."""
    async with SandboxServer(faults=Faults(malformed=1.0)) as server:
        reply = await call(session, server)
    assert reply.status == 200
    with pytest.raises(json.JSONDecodeError):
        reply.json()
    assert reply.text.startswith('{"code": 200')
    assert server.registrations("BC1") == 1


async def test_reset_before_registers_nothing(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """reset_before drops the connection unanswered; nothing is registered, nothing logged."""
    caplog.set_level(logging.DEBUG)
    async with SandboxServer(faults=Faults(reset_before=1.0)) as server:
        with pytest.raises(RESETS):
            await call(session, server)
    assert not server.orders
    assert (server.requests[0].fault, server.requests[0].status) == (
        FaultKind.RESET_BEFORE,
        "reset",
    )
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


async def test_reset_after_registers_the_order(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """reset_after processes the request (order registered) and drops the answer."""
    caplog.set_level(logging.DEBUG)
    async with SandboxServer(faults=Faults(reset_after=1.0)) as server:
        with pytest.raises(RESETS):
            await call(session, server)
        server.faults = Faults()
        retried = await call(session, server)
    assert server.registrations("BC1") == 1
    assert retried.json()["message"] == "The order already exists."
    assert [record.status for record in server.requests] == ["reset", 400]
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


async def test_latency_delays_a_normal_answer(session: aiohttp.ClientSession) -> None:
    """latency adds its delay, then answers normally."""
    async with SandboxServer(faults=Faults(latency=1.0, latency_seconds=0.1)) as server:
        started = time.monotonic()
        reply = await call(session, server)
        elapsed = time.monotonic() - started
    assert reply.status == 200
    assert elapsed >= 0.1
    assert server.requests[0].fault is FaultKind.LATENCY


async def test_hang_outlasts_the_client_timeout(session: aiohttp.ClientSession) -> None:
    """hang gives no answer; the client times out; nothing is registered."""
    async with SandboxServer(faults=Faults(hang=1.0, hang_seconds=30)) as server:
        with pytest.raises(TimeoutError):
            await call(session, server, wait=0.1)
        await asyncio.sleep(0.05)  # let the server see the client go
    assert server.requests[0].status == "hang"
    assert not server.orders


async def test_short_hang_ends_with_a_closed_connection(session: aiohttp.ClientSession) -> None:
    """A hang shorter than the client's timeout ends with the connection closed, unanswered."""
    async with SandboxServer(faults=Faults(hang=1.0, hang_seconds=0.05)) as server:
        with pytest.raises(RESETS):
            await call(session, server)
    assert server.requests[0].status == "hang"


async def test_stopping_ends_a_hanging_request_cleanly(caplog: pytest.LogCaptureFixture) -> None:
    """Leaving the server's block while a request hangs is quick, quiet, and leaves no task."""
    caplog.set_level(logging.DEBUG)
    async with aiohttp.ClientSession() as session:
        server = SandboxServer(faults=Faults(hang=1.0))
        async with server:
            pending = asyncio.ensure_future(call(session, server, wait=30))
            while not server.requests:  # noqa: ASYNC110 - the server offers no event to await
                await asyncio.sleep(0.01)
            started = time.monotonic()
        assert time.monotonic() - started < 2
        with pytest.raises(RESETS):
            await pending
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


async def test_same_seed_same_faults(session: aiohttp.ClientSession) -> None:
    """The same seed and requests give the same fault sequence; another seed differs."""
    faults = Faults(http_500=0.2, http_503=0.2, error_200=0.2)

    async def sequence(seed: int) -> list[FaultKind | None]:
        async with SandboxServer(faults=faults, seed=seed, rate=None) as server:
            for n in range(30):
                await call(session, server, body=order(f"S{n}"))
        return [record.fault for record in server.requests]

    first, second, other = await sequence(7), await sequence(7), await sequence(8)
    assert first == second
    assert first != other
    assert set(first) == {None, FaultKind.HTTP_500, FaultKind.HTTP_503, FaultKind.ERROR_200}


async def test_faults_spare_the_admin_routes(session: aiohttp.ClientSession) -> None:
    """Admin routes answer normally under faults and are not recorded."""
    async with SandboxServer(faults=Faults(http_500=1.0)) as server:
        server.state.register(
            order_id="A", company_id=1, customer_id=1, total_inc_tax=Decimal("1.50"), po_number=None
        )
        async with session.get(server.url + "/_sandbox/health") as health:
            assert (await health.json()) == {"status": "ok"}
        async with session.get(server.url + "/_sandbox/orders") as listing:
            orders = (await listing.json())["orders"]
    assert orders[0]["orderId"] == "A"
    assert orders[0]["totalIncTax"] == "1.50"
    assert not server.requests


# --- records ------------------------------------------------------------------------------------


async def test_records_keep_what_was_sent(
    server: SandboxServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Each record holds method, path, query, headers, the decoded body and the outcome."""
    await call(session, server, CREATE + "?trace=1", headers={**HEADERS, "User-Agent": "probe/1"})
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


# --- embedding and lifecycle -------------------------------------------------------------------


async def test_create_app_embeds_in_a_runner(session: aiohttp.ClientSession) -> None:
    """create_app serves a sandbox in the caller's own runner."""
    app = create_app()
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with session.post(
            f"http://127.0.0.1:{port}{API_PREFIX}{CREATE}", json=ORDER, headers=HEADERS
        ) as response:
            assert response.status == 200
    finally:
        await runner.cleanup()
    assert "BC1" in app[SANDBOX_KEY].orders


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


async def test_hang_in_an_embedding_without_handler_cancellation(
    session: aiohttp.ClientSession,
) -> None:
    """Without handler cancellation a hang outlives its client and then ends quietly."""
    sandbox = Sandbox(faults=Faults(hang=1.0, hang_seconds=0.1))
    runner = web.AppRunner(create_app(sandbox))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}{API_PREFIX}{CREATE}"
    try:
        with pytest.raises(TimeoutError):
            await session.post(
                url, json=ORDER, headers=HEADERS, timeout=aiohttp.ClientTimeout(0.02)
            )
        await asyncio.sleep(0.15)  # the hang ends with its client long gone
    finally:
        await runner.cleanup()
    assert sandbox.requests[0].status == "hang"


def test_competing_survives_a_switched_off_window() -> None:
    """A competing share set while the window is off applies to the next window."""
    sandbox = Sandbox(rate=None, clock=lambda: 100.0)  # a still clock: the window reads 60 s
    sandbox.competing = 3
    sandbox.rate = RateWindow(5, 60)
    assert sandbox._look() == WindowState(allowed=True, remaining=2, resets_after=60.0)


def test_reprs_are_informative() -> None:
    """Sandbox, its window and its state say what they hold."""
    sandbox = Sandbox(rate=RateWindow(5, 1), faults=parse_faults("500=0.5"))
    assert "rate=5/1" in repr(sandbox)
    assert "500=0.5" in repr(sandbox)
    assert "companies=100 customers=1000 orders=0" in repr(sandbox.state)
    assert "<FixedWindow 5/1 used=0" in repr(sandbox._window)


# --- data ---------------------------------------------------------------------------------------


def test_default_data() -> None:
    """Companies 1..100, customers 1..1000, customer N in company ((N - 1) mod 100) + 1."""
    data = SandboxData.default()
    assert len(data.companies) == 100
    assert len(data.customers) == 1000
    assert data.companies[4] == Company(id=5, name="Company 5", customer_group_id=5)
    assert data.customers[204].company_id == 5
    assert data.customers[99].company_id == 100


async def test_data_file_replaces_the_defaults(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    """A data file replaces the default companies and customers."""
    path = tmp_path / "store.json"
    path.write_text(
        json.dumps(
            {
                "companies": [{"id": 9, "name": "Acme", "customerGroupId": 90}, {"id": 10}],
                "customers": [{"id": 77, "companyId": 9, "firstName": "Ada", "lastName": "L"}],
            }
        )
    )
    data = SandboxData.from_file(path)
    assert data.companies == (Company(9, "Acme", 90), Company(10, "Company 10", 10))
    assert data.customers == (Customer(77, 9, "Ada", "L", "customer77@sandbox.invalid"),)
    async with SandboxServer(data=data) as server:
        known = await call(session, server, "/companies/9/user/77/orders")
        default_gone = await call(session, server, CREATE, body=order("D"))
    assert known.status == 200
    assert default_gone.status == 404


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "expected a JSON object"),
        ({"companies": []}, "customers: expected a list"),
        ({"companies": [1], "customers": []}, r"companies\[0\]: expected an object"),
        ({"companies": [{"id": "1"}], "customers": []}, r"companies\[0\].id: expected int"),
        ({"companies": [{"id": True}], "customers": []}, r"companies\[0\].id: expected int"),
        ({"companies": [{"id": 0}], "customers": []}, "expected a positive id"),
        ({"companies": [{"id": 1, "name": 5}], "customers": []}, "name: expected str"),
        ({"companies": [{"id": 1}, {"id": 1}], "customers": []}, "duplicate company id 1"),
        (
            {"companies": [{"id": 1}, {"id": 2, "customerGroupId": 1}], "customers": []},
            "duplicate customer group id 1",
        ),
        (
            {"companies": [{"id": 1}], "customers": [{"id": 1, "companyId": 1}] * 2},
            "duplicate customer id 1",
        ),
        ({"companies": [], "customers": [{"id": 1, "companyId": 3}]}, "unknown companyId 3"),
        ({"companies": [], "customers": [{"id": 1}]}, r"customers\[0\].companyId: expected int"),
    ],
)
def test_bad_data_documents_are_refused(document: object, message: str) -> None:
    """A data document of the wrong shape raises ValueError naming the culprit."""
    with pytest.raises(ValueError, match=message):
        SandboxData.from_dict(document)


def test_data_file_that_is_not_json(tmp_path: Path) -> None:
    """A data file that is not JSON raises ValueError naming the file."""
    path = tmp_path / "broken.json"
    path.write_text("{")
    with pytest.raises(ValueError, match=r"broken\.json: not valid JSON"):
        SandboxData.from_file(path)


# --- textual specs ------------------------------------------------------------------------------


def test_parse_faults() -> None:
    """A fault spec sets probabilities and durations, and round-trips through str()."""
    faults = parse_faults("500=0.05, reset_after=0.02,latency=0.1,latency_seconds=2,hang_seconds=5")
    assert faults == Faults(
        http_500=0.05, reset_after=0.02, latency=0.1, latency_seconds=2, hang_seconds=5
    )
    assert parse_faults(str(faults)) == faults
    assert parse_faults("none") == parse_faults("") == Faults()
    assert str(Faults()) == "none"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("boom=0.1", "unknown fault 'boom'"),
        ("500", "'500': expected KIND=PROBABILITY"),
        ("500=lots", "500: 'lots' is not a number"),
        ("500=0.1,500=0.2", "repeats a key"),
        ("500=1.5", r"http_500 must be a probability in \[0, 1\]"),
        ("500=0.6,503=0.6", "sum to 1.2, more than 1"),
        ("hang_seconds=-1", "hang_seconds must be a finite number"),
        ("latency_seconds=inf", "latency_seconds must be a finite number"),
    ],
)
def test_parse_faults_errors(spec: str, message: str) -> None:
    """A bad fault spec raises ValueError naming the culprit."""
    with pytest.raises(ValueError, match=message):
        parse_faults(spec)


def test_fault_pick_walks_cumulative_probabilities() -> None:
    """One draw picks the fault whose slice of [0, 1) it falls in."""
    faults = Faults(http_500=0.25, reset_after=0.25)
    assert [faults.pick(draw) for draw in (0.0, 0.24, 0.25, 0.49, 0.5, 0.99)] == [
        FaultKind.HTTP_500,
        FaultKind.HTTP_500,
        FaultKind.RESET_AFTER,
        FaultKind.RESET_AFTER,
        None,
        None,
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("150/60", RateWindow(150, 60.0)),
        ("40/1", RateWindow(40, 1.0)),
        (" 5/0.5 ", RateWindow(5, 0.5)),
        ("none", None),
        ("OFF", None),
    ],
)
def test_parse_rate(text: str, expected: RateWindow | None) -> None:
    """A rate is REQUESTS/SECONDS, or none."""
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["40", "a/1", "0/1", "5/0", "5/nan", "5/", "1.5/1"])
def test_parse_rate_errors(text: str) -> None:
    """A bad rate raises ValueError with the expected form."""
    with pytest.raises(ValueError, match="expected REQUESTS/SECONDS"):
        parse_rate(text)


# --- the other V2 Order operations -------------------------------------------------------------


async def register_orders(
    session: aiohttp.ClientSession, server: SandboxServer, *orders: tuple[str, int, Any]
) -> None:
    """Register (order id, customer id, total) triples through the API."""
    for order_id, customer_id, total in orders:
        reply = await call(
            session, server, f"/companies/users/{customer_id}/orders", body=order(order_id, total)
        )
        assert reply.status == 200


def created_on(server: SandboxServer, order_id: str, day: str) -> None:
    """Back-date an order's creation to an ISO day."""
    moment = datetime.fromisoformat(day).replace(tzinfo=UTC)
    server.state.update(order_id, created_at=moment)


async def test_company_orders_lists_newest_first(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Get Company Orders pages the company's orders, newest first, with pagination."""
    await register_orders(session, server, ("9", 1, 5), ("10", 101, 7.5), ("11", 2, 1))
    created_on(server, "9", "2024-01-01")
    reply = await call(session, server, "/companies/1/orders", method="GET", body=None)
    assert reply.status == 200
    body = reply.json()
    assert body["message"] == "SUCCESS"
    assert body["data"]["pagination"] == {"limit": 10, "offset": 0, "totalCount": 2}
    first, second = body["data"]["list"]
    assert first["orderId"] == "10"
    assert second == {
        "orderId": "9",
        "companyName": "Company 1",
        "firstName": "Customer",
        "lastName": "1",
        "orderStatus": "Awaiting Payment",
        "totalIncTax": "5.0000",
        "isInvoiceOrder": "0",
        "createdAt": "1704067200",
        "updatedAt": second["updatedAt"],
        "channelId": "1",
        "channelName": "Default",
    }


async def test_company_orders_sorts_pages_and_filters(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """orderBy, limit, offset, the date range, channelId and includeExtra shape the page."""
    await register_orders(session, server, ("9", 1, 30), ("10", 1, 10), ("X", 1, 20))
    for order_id, day in (("9", "2024-01-01"), ("10", "2024-01-02"), ("X", "2024-01-03")):
        created_on(server, order_id, day)

    async def ids(query: str) -> list[str]:
        reply = await call(session, server, f"/companies/1/orders?{query}", method="GET", body=None)
        return [item["orderId"] for item in reply.json()["data"]["list"]]

    assert await ids("orderBy=bcOrderId") == ["9", "10", "X"]
    assert await ids("orderBy=-bcOrderId") == ["X", "10", "9"]
    assert await ids("orderBy=totalIncTax&limit=2&offset=1") == ["X", "9"]
    assert await ids("orderBy=createdAt&beginDateAt=01/02/2024") == ["10", "X"]
    assert await ids("beginDateAt=01/02/2024&endDateAt=01/02/2024") == ["10"]
    assert await ids("channelId=2") == []
    extra = await call(
        session, server, "/companies/1/orders?includeExtra=1", method="GET", body=None
    )
    assert extra.json()["data"]["list"][0]["extraFields"] == []


async def test_listing_queries_are_checked(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Query values that do not parse answer 400 naming each parameter."""
    query = "limit=-1&offset=x&beginDateAt=2024-01-01&orderBy=name&includeExtra=2"
    reply = await call(session, server, f"/companies/1/orders?{query}", method="GET", body=None)
    assert reply.status == 400
    assert set(reply.json()["data"]) == {
        "limit",
        "offset",
        "beginDateAt",
        "orderBy",
        "includeExtra",
    }
    ids = await call(session, server, "/companies/1/orderBCIds?endDateAt=13/01/2024", method="GET")
    assert ids.json()["data"] == {"endDateAt": "endDateAt must be a date as MM/DD/YYYY"}


@pytest.mark.parametrize("path", ["/companies/101/orders", "/companies/x/orderBCIds"])
async def test_listings_of_unknown_companies_answer_404(
    server: SandboxServer, session: aiohttp.ClientSession, path: str
) -> None:
    """Listing an unknown company answers 404 "Companies Does not Exist"."""
    reply = await call(session, server, path, method="GET", body=None)
    assert reply.status == 404
    assert reply.json()["data"] == {"errMsg": "Companies Does not Exist"}


async def test_company_order_ids_oldest_first(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Get BC Order Id List pages the company's order ids, oldest first."""
    await register_orders(session, server, ("A", 1, 1), ("B", 1, 1), ("C", 1, 1), ("D", 2, 1))
    reply = await call(session, server, "/companies/1/orderBCIds?limit=2", method="GET", body=None)
    assert reply.json() == {
        "code": 200,
        "data": {
            "list": [{"orderId": "A"}, {"orderId": "B"}],
            "pagination": {"limit": 2, "offset": 0, "totalCount": 3},
        },
        "message": "Success",
    }


UPDATE = {
    "orderId": 117,
    "statusId": 10,
    "poNumber": "PO-9",
    "totalExTax": "90.5",
    "staffNotes": "rush",
    "billingAddress": {"firstName": "Jane", "lastName": "Doe", "zip": 78751},
    "products": [
        {
            "name": "BigCommerce Poster",
            "productId": 97,
            "variantId": 69,
            "quantity": 2,
            "priceIncTax": 10.98,
            "priceExTax": "10",
            "imageUrl": "https://cdn.example/poster.jpg",
            "productOptions": [{"id": 5, "value": "red"}, "junk"],
        },
        {"name": "Mug", "quantity": "3", "productOptions": "none"},
    ],
}


async def test_update_order_then_read_it_back(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """PUT /orders stores address, products and fields; details, products and images show them."""
    await register_orders(session, server, ("117", 5, 100))
    updated = await call(session, server, "/orders", method="PUT", body=UPDATE)
    assert updated.json() == {"code": 200, "data": {"orderId": "117"}, "message": "Success"}
    details = (await call(session, server, "/orders/117/details", method="GET")).json()
    assert details["message"] == "SUCCESS"
    data = details["data"]
    assert (data["id"], data["customer_id"], data["status"], data["status_id"]) == (
        "117",
        5,
        "Completed",
        10,
    )
    assert (data["poNumber"], data["total_inc_tax"], data["total_ex_tax"]) == (
        "PO-9",
        "100.0000",
        "90.5",
    )
    assert data["billingAddress"] == {"firstName": "Jane", "lastName": "Doe", "zip": "78751"}
    assert data["products"][0]["quantity"] == "2"
    assert data["items_total"] == 5
    assert data["date_created"].endswith("+0000")
    products = (await call(session, server, "/orders/117/products", method="GET")).json()
    assert products["data"] == {
        "productId": "97",
        "variantId": "69",
        "quantity": "2",
        "optionList": [{"option_id": "5", "option_value": "red"}],
    }
    images = await call(session, server, "/orders/images?orderIds=117,%20404,", method="GET")
    assert images.json()["data"] == [
        {"orderId": "117", "imageUrl": "https://cdn.example/poster.jpg"}
    ]
    assert server.orders["117"].extra == {"totalExTax": "90.5", "staffNotes": "rush"}


async def test_options_that_are_not_a_list(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Product options that are not a list show as an empty optionList."""
    await register_orders(session, server, ("117", 5, 100))
    products = [{"productId": 1, "productOptions": "size=L"}]
    await call(session, server, "/orders", method="PUT", body={**UPDATE, "products": products})
    reply = await call(session, server, "/orders/117/products", method="GET")
    assert reply.json()["data"]["optionList"] == []
    assert server.orders["117"].products == ({"productId": 1, "productOptions": "size=L"},)


async def test_an_order_without_products(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """A registered order has no products until updated: {} products, empty image url."""
    await register_orders(session, server, ("1", 1, 1))
    products = await call(session, server, "/orders/1/products", method="GET")
    images = await call(session, server, "/orders/images?orderIds=1", method="GET")
    no_ids = await call(session, server, "/orders/images", method="GET")
    details = await call(session, server, "/orders/1/details", method="GET")
    assert products.json()["data"] == {}
    assert images.json()["data"] == [{"orderId": "1", "imageUrl": ""}]
    assert no_ids.json()["data"] == []
    assert details.json()["data"]["payment_method"] == "Manual"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"orderId": None}, "orderId"),
        ({"orderId": " "}, "orderId"),
        ({"billingAddress": None}, "billingAddress"),
        ({"products": {}}, "products"),
        ({"products": [1]}, "products[0]"),
        ({"products": [{"quantity": "two"}]}, "products[0].quantity"),
        ({"products": [{"priceIncTax": True}]}, "products[0].priceIncTax"),
        ({"discountAmount": "NaN"}, "discountAmount"),
        ({"discountAmount": "1e999999999"}, "discountAmount"),
        ({"discountAmount": [1]}, "discountAmount"),
        ({"discountAmount": "cheap"}, "discountAmount"),
        ({"discountAmount": None}, "discountAmount"),
        ({"statusId": 99}, "statusId"),
        ({"channelId": "web"}, "channelId"),
        ({"poNumber": 9}, "poNumber"),
        ({"externalId": "AMZ-1"}, "externalId"),
    ],
)
async def test_update_order_checks_its_body(
    server: SandboxServer, session: aiohttp.ClientSession, change: dict[str, Any], field: str
) -> None:
    """A broken update answers 400 naming the field and changes nothing."""
    await register_orders(session, server, ("117", 5, 100))
    reply = await call(session, server, "/orders", method="PUT", body={**UPDATE, **change})
    assert reply.status == 400
    assert field in reply.json()["data"]
    assert server.orders["117"].products == ()


async def test_update_of_an_unknown_order_answers_404(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Updating an order that was never registered answers 404, and so does a bad JSON body."""
    reply = await call(session, server, "/orders", method="PUT", body={**UPDATE, "orderId": "9"})
    broken = await call(session, server, "/orders", method="PUT", data=b"[")
    assert reply.status == 404
    assert reply.json()["data"] == {"errMsg": "Order Does not Exist"}
    assert broken.status == 400


async def test_rederive_company_follows_the_customer(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """POST /orders/company gives a moved customer's orders its new company."""
    await register_orders(session, server, ("1", 7, 1), ("2", 8, 1))
    server.move_customer(7, 42)
    reply = await call(session, server, "/orders/company", body={"customerID": "7"})
    assert reply.json() == {"code": 200, "data": {}, "message": "Success"}
    company = await call(session, server, "/orders/1/companyId", method="GET")
    assert company.json()["data"] == {"companyId": "42"}
    assert server.orders["2"].company_id == 8


async def test_move_orders_to_a_customer_groups_company(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """PUT /orders/company moves a customer's orders to the company of a customer group."""
    await register_orders(session, server, ("1", 7, 1), ("2", 7, 1))
    body = {"customerGroupID": "9", "customerID": 7}
    reply = await call(session, server, "/orders/company", method="PUT", body=body)
    assert reply.json()["data"] == {}
    assert {order.company_id for order in server.orders.values()} == {9}
    assert server.state.customer(7) == Customer(7, 7, "Customer", "7", "customer7@sandbox.invalid")


@pytest.mark.parametrize(
    ("method", "body", "expected"),
    [
        ("POST", {"customerID": "4242"}, (40013, {}, "User does not exist.")),
        ("POST", {}, (40010, {"customerID": "customerID must be an id"}, "Bad Request Error")),
        (
            "POST",
            [],
            (40010, {"errMsg": "Request body must be a JSON object"}, "Bad Request Error"),
        ),
        ("PUT", {"customerGroupID": 999, "customerID": 1}, (40013, {}, "Company does not exist.")),
        ("PUT", {"customerGroupID": 1, "customerID": 0}, (40013, {}, "User does not exist.")),
        (
            "PUT",
            {"customerGroupID": "g", "customerID": True},
            (
                40010,
                {
                    "customerGroupID": "customerGroupID must be an id",
                    "customerID": "customerID must be an id",
                },
                "Bad Request Error",
            ),
        ),
    ],
)
async def test_company_updates_check_their_ids(
    server: SandboxServer,
    session: aiohttp.ClientSession,
    method: str,
    body: Any,
    expected: tuple[int, dict[str, str], str],
) -> None:
    """Unknown customers and groups answer 400 code 40013; malformed ids answer 40010."""
    reply = await call(session, server, "/orders/company", method=method, body=body)
    code, data, message = expected
    assert reply.status == 400
    assert reply.json() == {"code": code, "data": data, "message": message}


async def test_company_of_an_order(server: SandboxServer, session: aiohttp.ClientSession) -> None:
    """Get Company By BC OrderId answers the company with ids as strings."""
    await register_orders(session, server, ("55", 209, 1))
    reply = await call(session, server, "/orders/55/companyIdBCId", method="GET")
    assert reply.json() == {
        "code": 200,
        "data": {"companyId": "9", "companyName": "Company 9", "customerGroupId": "9"},
        "message": "Success",
    }


@pytest.mark.parametrize("path", ["/orders/404/companyIdBCId", "/orders/404/companyId"])
async def test_company_of_a_missing_order_answers_400(
    server: SandboxServer, session: aiohttp.ClientSession, path: str
) -> None:
    """The company look-ups of a missing order answer 400 code 40013 "Order does not exist."."""
    reply = await call(session, server, path, method="GET")
    assert reply.status == 400
    assert reply.json() == {"code": 40013, "data": {}, "message": "Order does not exist."}


@pytest.mark.parametrize("path", ["/orders/404/details", "/orders/404/products"])
async def test_details_of_a_missing_order_answer_404(
    server: SandboxServer, session: aiohttp.ClientSession, path: str
) -> None:
    """Details and products of a missing order answer 404 "Order Does not Exist"."""
    reply = await call(session, server, path, method="GET")
    assert reply.status == 404
    assert reply.json() == {
        "code": 404,
        "data": {"errMsg": "Order Does not Exist"},
        "message": "Not Found Error",
    }


async def test_every_operation_is_guarded_and_faulted(session: aiohttp.ClientSession) -> None:
    """The other operations need the token too, and take faults like registration does."""
    async with SandboxServer(faults=Faults(http_503=1.0)) as server:
        anonymous = await call(session, server, "/orders/1/details", method="GET", headers={})
        faulted = await call(session, server, "/orders/1/details", method="GET")
    assert anonymous.status == 401
    assert faulted.status == 503
