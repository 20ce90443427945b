"""Tests of ``b2b_async/sandbox/_app.py``: the request pipeline as a whole (unknown routes,
the concurrency limit, a switched-off window), the routes under ``/_sandbox``, and embedding
with :func:`create_app`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import aiohttp
import pytest
import yarl
from aiohttp import web

from b2b_async.sandbox import (
    API_PREFIX,
    DEFAULT_ORDER_EXTRA_FIELDS,
    DEFAULT_TOKEN,
    SANDBOX_KEY,
    V3_PREFIX,
    Faults,
    OrderExtraField,
    RateWindow,
    Sandbox,
    SandboxServer,
    create_app,
    parse_faults,
)
from b2b_async.sandbox._extra_fields import DROPDOWN
from b2b_async.sandbox._window import WindowState
from tests.sandbox._helpers import (
    CREATE,
    ORDER,
    RESETS,
    V2_HEADERS,
    V3_HEADERS,
    FakeClock,
    call,
    control,
    create,
    order,
    v3,
)


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


async def test_unknown_v3_routes_and_methods_answer_the_v3_envelope(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """An unknown path or method under /api/v3/io answers V3's envelope."""
    missing = await v3(session, unlimited, "/nothing")
    wrong = await v3(session, unlimited, "/orders/extra-fields", method="DELETE")
    assert missing.json() == {"code": 404, "data": {}, "meta": {"message": "Not Found"}}
    assert wrong.status == 405
    assert wrong.json()["meta"]["message"] == "Method Not Allowed"


async def test_every_operation_is_guarded_and_faulted(session: aiohttp.ClientSession) -> None:
    """The other operations need the token too, and take faults like registration does."""
    async with SandboxServer(faults=Faults(http_503=1.0)) as server:
        anonymous = await call(session, server, "/orders/1/details", method="GET", headers={})
        faulted = await call(session, server, "/orders/1/details", method="GET")
    assert anonymous.status == 401
    assert faulted.status == 503


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


def test_competing_survives_a_switched_off_window() -> None:
    """A competing share set while the window is off applies to the next window."""
    sandbox = Sandbox(rate=None, clock=lambda: 100.0)  # a still clock: the window reads 60 s
    sandbox.competing = 3
    sandbox.rate = RateWindow(5, 60)
    assert sandbox._look() == WindowState(allowed=True, remaining=2, resets_after=60.0)


@pytest.mark.parametrize("competing", [-1, 1.5, True])
def test_a_competing_share_below_zero_or_not_an_int_is_refused(competing: object) -> None:
    """``competing`` must be an int of at least 0, given to the constructor or assigned."""
    with pytest.raises(ValueError, match="competing must be an int of at least 0"):
        Sandbox(competing=competing)  # type: ignore[arg-type]
    sandbox = Sandbox(competing=2)
    with pytest.raises(ValueError, match="competing must be an int of at least 0"):
        sandbox.competing = competing  # type: ignore[assignment]
    assert sandbox.competing == 2


async def test_concurrency_limit_answers_429(session: aiohttp.ClientSession) -> None:
    """Past max_in_flight requests in processing, 429 with a short Retry-After, not spent."""
    slow = Faults(latency=1.0, latency_seconds=1.0)  # both in processing, even on a busy machine
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


def test_order_extra_fields_are_kept_as_configured_not_as_passed() -> None:
    """The fields given are kept as a tuple: changing the list afterwards, or assigning another
    one and changing it, does not reach the sandbox."""
    region = OrderExtraField(name="Region", field_type=DROPDOWN, choices=("EU", "US"))
    fields = [region]
    sandbox = Sandbox(order_extra_fields=fields)
    fields.append(OrderExtraField(name="Late"))
    assert sandbox.order_extra_fields == (region,)
    assert Sandbox().order_extra_fields == DEFAULT_ORDER_EXTRA_FIELDS
    replacement = [*DEFAULT_ORDER_EXTRA_FIELDS]
    sandbox.order_extra_fields = replacement
    replacement.clear()
    assert sandbox.order_extra_fields == DEFAULT_ORDER_EXTRA_FIELDS


def test_reprs_are_informative() -> None:
    """Sandbox, its window and its state say what they hold."""
    sandbox = Sandbox(rate=RateWindow(5, 1), faults=parse_faults("500=0.5"))
    assert "rate=5/1" in repr(sandbox)
    assert "500=0.5" in repr(sandbox)
    assert "companies=100 customers=1000 orders=0" in repr(sandbox.state)
    assert "<FixedWindow 5/1 used=0" in repr(sandbox._window)


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


async def test_the_control_endpoint_places_orders_outside_the_api(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """POST places (201, the order back), GET lists; no token, no window spent, no record."""
    async with SandboxServer(rate=RateWindow(1, 60.0), clock=clock) as server:
        placed = await control(session, server, body={"customerId": 5, "totalIncTax": 12.5})
        chosen = await control(
            session,
            server,
            body={
                "customerId": 6,
                "totalIncTax": "7.25",
                "bcOrderId": 900,
                "createdAt": "2026-04-01T12:00:00+02:00",
            },
        )
        stamped = await control(
            session, server, body={"customerId": 7, "totalIncTax": 1, "createdAt": 1775037600}
        )
        listed = await control(session, server)
        registered = await create(session, server, 100)
    assert placed.status == 201
    assert placed.json() == {
        "bcOrderId": 100,
        "customerId": 5,
        "totalIncTax": "12.5",
        "createdAt": server.placed_orders[100].created_at.isoformat(),
    }
    assert chosen.json()["createdAt"] == "2026-04-01T10:00:00+00:00"
    assert stamped.json()["createdAt"] == "2026-04-01T10:00:00+00:00"
    assert [order["bcOrderId"] for order in listed.json()["orders"]] == [100, 900, 901]
    assert registered.status == 200
    assert registered.json()["data"]["totalIncTax"] == 12.5
    assert len(server.requests) == 1


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
            f"http://127.0.0.1:{port}{API_PREFIX}{CREATE}", json=ORDER, headers=V2_HEADERS
        ) as response:
            assert response.status == 200
    finally:
        await runner.cleanup()
    assert "BC1" in app[SANDBOX_KEY].orders


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
                url, json=ORDER, headers=V2_HEADERS, timeout=aiohttp.ClientTimeout(0.02)
            )
        await asyncio.sleep(0.15)  # the hang ends with its client long gone
    finally:
        await runner.cleanup()
    assert sandbox.requests[0].status == "hang"


async def test_a_hang_lasts_hang_seconds_whatever_the_latency_seconds(
    session: aiohttp.ClientSession,
) -> None:
    """A hang gives no answer for ``hang_seconds``; ``latency_seconds`` does not shorten it."""
    faults = Faults(hang=1.0, hang_seconds=600, latency_seconds=0)
    async with SandboxServer(rate=None, faults=faults) as server:
        with pytest.raises(TimeoutError):
            await call(session, server, wait=2.0)
    assert [record.status for record in server.requests] == ["hang"]


async def test_a_hang_whose_client_left_ends_quietly_without_handler_cancellation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without handler cancellation a hang woken after its client closed the connection ends
    as ``"hang"`` with no error logged."""
    sandbox = Sandbox(faults=Faults(hang=1.0, hang_seconds=600))
    runner = web.AppRunner(create_app(sandbox))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    served = runner.server
    assert served is not None
    head = f"GET {API_PREFIX}/orders/1/details HTTP/1.1\r\nHost: s\r\nauthToken: {DEFAULT_TOKEN}"
    with caplog.at_level(logging.DEBUG):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", runner.addresses[0][1])
            writer.write(f"{head}\r\n\r\n".encode())
            await writer.drain()
            await settled(lambda: bool(sandbox.requests) and sandbox.requests[0].status == "hang")
            writer.close()
            await writer.wait_closed()
            await settled(lambda: all(c.transport is None for c in served.connections))
        finally:
            await runner.cleanup()  # wakes the hang, its connection long gone
    assert [record.status for record in sandbox.requests] == ["hang"]
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == []


async def test_a_body_nested_too_deeply_is_a_bad_request(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """100,000 nested arrays are no registration: a 400 in the envelope, a settled record,
    at the API and at the control endpoint alike (never aiohttp's 500)."""
    nested = b"[" * 100_000
    reply = await asyncio.wait_for(call(session, unlimited, data=nested), 60)
    placed = await asyncio.wait_for(control(session, unlimited, data=nested), 60)
    assert (reply.status, reply.json()["code"]) == (400, 40010)
    assert [record.status for record in unlimited.requests] == [400]
    assert placed.status == 400
    assert "error" in placed.json()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v2/io/companies/" + "9" * 5000 + "/user/1/orders",
        "/api/v2/io/companies/users/" + "9" * 5000 + "/orders",
        "/api/v3/io/orders/" + "9" * 5000,
    ],
    ids=["v2-create", "v2-create-without-company", "v3-get"],
)
async def test_a_path_id_too_long_for_any_id_names_nothing(
    unlimited: SandboxServer, session: aiohttp.ClientSession, path: str
) -> None:
    """A path id of 5,000 digits (more than Python's int() reads) answers the 404 of an
    unknown id in the version's envelope, not a 500."""
    v3_call = path.startswith(V3_PREFIX)
    reply = await asyncio.wait_for(
        v3(
            session,
            unlimited,
            path,
            method="GET" if v3_call else "POST",
            body=None if v3_call else order("A1"),
            headers=V3_HEADERS if v3_call else V2_HEADERS,
            prefix="",
        ),
        60,
    )
    assert reply.status == 404
    assert reply.headers["Content-Type"].startswith("application/json")
    assert [record.status for record in unlimited.requests] == [404]


async def test_a_body_over_the_servers_limit_is_answered_in_the_envelope(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """A 2 MiB body passes aiohttp's 1 MiB limit: a 413 in the V2 envelope, its errMsg the
    server's own naming the limit, recorded."""
    padded = json.dumps(order("A1", pad="a" * (2 * 1024 * 1024))).encode()
    url = unlimited.url + API_PREFIX + CREATE
    async with session.post(url, data=io.BytesIO(padded), headers=V2_HEADERS) as response:
        status, answer = response.status, await response.json()
    assert (status, answer["code"]) == (413, 413)
    assert str(1024 * 1024) in answer["data"]["errMsg"]
    assert [record.status for record in unlimited.requests] == [413]
    assert unlimited.orders == {}


async def test_a_body_whose_encoding_cannot_be_undone_is_a_bad_request(
    unlimited: SandboxServer,
) -> None:
    """``Content-Encoding: gzip`` over bytes that are no gzip: a 400 in the V2 envelope and a
    settled record (aiohttp's own answer would be a 500)."""
    body = b"not gzip at all"
    head = (
        f"POST {API_PREFIX}{CREATE} HTTP/1.1\r\nHost: sandbox\r\n"
        f"authToken: {V2_HEADERS['authToken']}\r\nContent-Type: application/json\r\n"
        f"Content-Encoding: gzip\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    )

    async def exchange() -> bytes:
        reader, writer = await asyncio.open_connection(unlimited.host, unlimited.port)
        writer.write(head.encode() + body)
        await writer.drain()
        answer = await reader.read()
        writer.close()
        await writer.wait_closed()
        return answer

    answer = await asyncio.wait_for(exchange(), 60)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"400"
    assert b"application/json" in rest
    assert [record.status for record in unlimited.requests] == [400]


async def test_a_request_its_client_gave_up_on_is_settled_as_gone(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """A slow request whose client closes the connection first ends as ``"gone"``, never
    "in progress" for ever."""
    unlimited.faults = Faults(latency=1.0, latency_seconds=600.0)
    waiting = asyncio.create_task(call(session, unlimited, wait=600.0))
    await settled(lambda: bool(unlimited.requests))
    waiting.cancel()  # the client gives up, closing its connection
    await asyncio.gather(waiting, return_exceptions=True)
    await settled(lambda: unlimited.requests[0].status is not None)
    assert [record.status for record in unlimited.requests] == ["gone"]


async def test_a_client_that_leaves_mid_body_is_gone_in_an_embedding_too() -> None:
    """Served without handler cancellation, a request whose client leaves while sending its
    body ends as ``"gone"`` too."""
    sandbox = Sandbox()
    runner = web.AppRunner(create_app(sandbox))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    head = (
        f"POST {API_PREFIX}{CREATE} HTTP/1.1\r\nHost: s\r\nauthToken: {V2_HEADERS['authToken']}"
        "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", runner.addresses[0][1])
        writer.write(head.encode() + b'{"orderId": ')
        await writer.drain()
        await settled(lambda: bool(sandbox.requests))
        writer.close()
        await writer.wait_closed()
        await settled(lambda: sandbox.requests[0].status is not None)
    finally:
        await runner.cleanup()
    assert [record.status for record in sandbox.requests] == ["gone"]


async def settled(condition: Callable[[], bool]) -> None:
    """Wait until ``condition`` holds: the server notices a closed connection in its own
    time (failing after a minute)."""
    async with asyncio.timeout(60):
        while not condition():  # noqa: ASYNC110 - the server offers no event to await
            await asyncio.sleep(0.01)


async def test_registrations_take_an_order_id_as_the_client_does(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """An int names the order its digits name, as the client sends it; anything else is a
    TypeError, never a silent 0."""
    await call(session, unlimited, body=order("5001"))
    assert unlimited.registrations("5001") == unlimited.registrations(5001) == 1
    assert unlimited.registrations(5002) == 0
    for wrong in (5001.0, True, b"5001", None):
        with pytest.raises(TypeError, match="order_id must be a str or an int"):
            unlimited.registrations(wrong)  # type: ignore[arg-type]


async def test_b2b_ids_are_the_ids_v3_answers_for_every_registered_order(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """The B2B id of an order registered through V2, through V3, or recorded by B2B Edition
    itself once its window passed, is the ``id`` V3 reads answer for it."""
    async with SandboxServer(rate=None, clock=clock, registration_window=10.0) as server:
        await call(session, server, body=order("700"))
        await create(session, server, 701)
        await control(session, server, body={"customerId": 5, "totalIncTax": 3})
        clock.advance(11.0)
        ids = dict(server.b2b_ids)
        answered = {
            name: (await v3(session, server, f"/orders/{name}")).json()["data"][0]["id"]
            for name in ids
        }
    assert sorted(ids.values()) == [1, 2, 3]
    assert answered == ids
    assert server.b2b_ids == server.state.b2b_ids


async def test_an_unreadable_body_is_answered_with_the_window_s_headers_and_no_error_log(
    server: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The 400 for a gzip body that does not decompress carries the window's headers, as
    every answer does while a window is configured, and the connection is closed instead of
    drained, so aiohttp logs no error."""
    body = b"not gzip at all"
    head = (
        f"POST {API_PREFIX}{CREATE} HTTP/1.1\r\nHost: sandbox\r\n"
        f"authToken: {V2_HEADERS['authToken']}\r\nContent-Type: application/json\r\n"
        f"Content-Encoding: gzip\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with caplog.at_level(logging.DEBUG):
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(head.encode() + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 60)  # until the server closes
        writer.close()
        await writer.wait_closed()
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"400"
    assert b"x-requests-allocated" in rest.partition(b"\r\n\r\n")[0].lower()
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == []


async def test_the_concurrency_limit_counts_only_requests_in_processing(
    session: aiohttp.ClientSession,
) -> None:
    """max_in_flight=1 admits requests one after another, and refuses one while another is
    held in processing."""
    async with SandboxServer(rate=None, max_in_flight=1) as server:
        in_turn = [(await call(session, server, body=order(f"T{n}"))).status for n in range(2)]
        server.faults = Faults(hang=1.0, hang_seconds=60)
        held = asyncio.ensure_future(call(session, server, body=order("T2"), wait=60))
        while not server.requests[2:] or server.requests[2].status is None:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        server.faults = Faults()
        refused = await call(session, server, body=order("T3"))
    with pytest.raises(RESETS):
        await held
    assert in_turn == [200, 200]
    assert refused.status == 429


async def test_the_orders_route_shows_every_field_of_a_registered_order(
    session: aiohttp.ClientSession,
) -> None:
    """GET /_sandbox/orders shows each order's ids, total, PO number and creation time."""
    async with SandboxServer(rate=None) as server:
        order = server.state.register(
            order_id="A", company_id=2, customer_id=3, total_inc_tax=Decimal("1.50"), po_number="P"
        )
        async with session.get(server.url + "/_sandbox/orders") as listing:
            orders = (await listing.json())["orders"]
    assert orders == [
        {
            "orderId": "A",
            "companyId": 2,
            "customerId": 3,
            "totalIncTax": "1.50",
            "poNumber": "P",
            "createdAt": order.created_at.isoformat(),
        }
    ]


async def test_a_reset_fault_sends_a_tcp_reset_not_an_orderly_close() -> None:
    """reset_before ends the connection with a TCP RST, which the client reads as a reset."""
    async with SandboxServer(rate=None, faults=Faults(reset_before=1.0)) as server:
        url = yarl.URL(server.url)
        reader, writer = await asyncio.open_connection(url.host, url.port)
        head = f"GET {API_PREFIX}/orders/1/details HTTP/1.1\r\nHost: sandbox\r\n"
        writer.write(f"{head}authToken: {DEFAULT_TOKEN}\r\n\r\n".encode())
        await writer.drain()
        with pytest.raises(ConnectionResetError):
            await reader.read()
        writer.close()
        with contextlib.suppress(ConnectionResetError):
            await writer.wait_closed()


async def test_a_chunked_body_over_the_servers_limit_is_refused_unspent_and_unlogged(
    server: SandboxServer, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """A chunked body past aiohttp's 1 MiB limit answers 413 in the V2 envelope, spends no
    window, stores nothing and logs no error, though no Content-Length announced its size."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"orderId": "BIG", "totalIncTax": 1, "pad": "'
        for _ in range(17):
            yield b"a" * 65536
        yield b'"}'

    url = server.url + API_PREFIX + CREATE
    with caplog.at_level(logging.DEBUG):
        async with session.post(url, data=chunks(), headers=V2_HEADERS) as response:
            status, answer = response.status, await response.json()
            remaining = response.headers["X-Requests-Remaining"]
    assert (status, answer["code"], remaining) == (413, 413, "150 times")
    assert [record.status for record in server.requests] == [413]
    assert server.orders == {}
    assert server.registrations("BIG") == 0
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == []


async def test_a_window_switched_off_mid_request_leaves_its_answer_without_window_headers(
    session: aiohttp.ClientSession,
) -> None:
    """A request admitted under a window, answered after ``rate`` was set to ``None``, answers
    normally and without the ``X-Requests-*`` headers."""
    slow = Faults(latency=1.0, latency_seconds=600.0)
    async with SandboxServer(rate=RateWindow(5, 60), faults=slow) as server:
        waiting = asyncio.create_task(call(session, server, body=order("M1"), wait=60.0))
        await settled(lambda: bool(server.requests))
        server.rate = None
        server.faults = Faults()
        await server.aclose()  # wakes the sleeping request, which then answers
        reply = await waiting
    assert reply.status == 200
    assert "X-Requests-Remaining" not in reply.headers


async def test_a_reset_before_spends_nothing_and_opens_no_window(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """A ``reset_before`` request spends nothing: the next request opens the window."""
    async with SandboxServer(rate=RateWindow(5, 60), clock=clock) as server:
        server.faults = Faults(reset_before=1.0)
        with pytest.raises(RESETS):
            await call(session, server, body=order("R1"))
        server.faults = Faults()
        clock.advance(30)
        reply = await call(session, server, body=order("R2"))
    assert [record.status for record in server.requests] == ["reset", 200]
    assert reply.headers["X-Requests-Remaining"] == "4 times"
    assert reply.headers["X-Request-Window-Resets-After"] == "60.0 s"


async def test_a_record_keeps_the_first_value_of_a_repeated_query_name(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """A repeated query name is recorded with its first value, the one the operations read."""
    query = [("limit", "2"), ("limit", "9"), ("offset", "1")]
    reply = await v3(session, unlimited, "/orders", query=query)
    assert reply.status == 200
    assert unlimited.requests[0].query == {"limit": "2", "offset": "1"}


async def test_a_reset_before_request_keeps_the_body_it_sent(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """The body is read before a ``reset_before`` fault acts: the record keeps it."""
    unlimited.faults = Faults(reset_before=1.0)
    with pytest.raises(RESETS):
        await call(session, unlimited, data=b'{"orderId": "R9", "totalIncTax": 1}')
    record = unlimited.requests[0]
    assert (record.status, record.raw) == ("reset", b'{"orderId": "R9", "totalIncTax": 1}')
    assert record.body == {"orderId": "R9", "totalIncTax": 1}


async def exchange_raw(server: SandboxServer, request: bytes) -> bytes:
    """Send raw bytes on a new connection and read everything until the server closes it."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 60)
    writer.close()
    await writer.wait_closed()
    return answer


async def test_a_placement_whose_encoding_cannot_be_undone_is_a_bad_request(
    unlimited: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    """``Content-Encoding: gzip`` over bytes that are no gzip, sent to the control endpoint:
    400 with an ``error``, the connection closed, nothing placed and no error logged."""
    body = b"not gzip at all"
    head = (
        "POST /_sandbox/bigcommerce/orders HTTP/1.1\r\nHost: sandbox\r\n"
        "Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    with caplog.at_level(logging.DEBUG):
        answer = await exchange_raw(unlimited, head.encode() + body)
    status_line, _, payload = answer.partition(b"\r\n\r\n")
    assert status_line.split()[1] == b"400"
    assert json.loads(payload) == {"error": "the request body could not be read"}
    assert not unlimited.placed_orders
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == []


async def test_an_unseeded_sandbox_draws_its_faults_afresh(
    session: aiohttp.ClientSession,
) -> None:
    """Without a seed, two sandboxes draw different fault sequences for the same requests."""
    sequences = []
    for _ in range(2):
        sandbox = Sandbox(rate=None, faults=Faults(http_500=0.5))
        runner = web.AppRunner(create_app(sandbox))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}{API_PREFIX}/orders/1/details"
        try:
            for _ in range(64):  # equal sequences by chance: one in 2**64
                async with session.get(url, headers=V2_HEADERS) as response:
                    await response.read()
        finally:
            await runner.cleanup()
        sequences.append([record.fault for record in sandbox.requests])
    assert sequences[0] != sequences[1]


async def test_the_orders_route_shows_an_order_b2b_edition_recorded_by_itself(
    store: SandboxServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """GET /_sandbox/orders, read first once a placed order's window has passed, lists it as
    B2B Edition recorded it: the placed total, no PO number."""
    placed = (await control(session, store, body={"customerId": 5, "totalIncTax": "3.10"})).json()
    clock.advance(10.0)
    async with session.get(store.url + "/_sandbox/orders") as listing:
        orders = (await listing.json())["orders"]
    customer = store.state.customer(5)
    assert customer is not None
    assert orders == [
        {
            "orderId": str(placed["bcOrderId"]),
            "companyId": customer.company_id,
            "customerId": 5,
            "totalIncTax": "3.10",
            "poNumber": None,
            "createdAt": placed["createdAt"],
        }
    ]


async def test_the_requests_are_a_copy(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Changing the list ``requests`` returned leaves the sandbox's records as they were."""
    await call(session, unlimited, body=order("K1"))
    unlimited.requests.clear()
    assert [record.status for record in unlimited.requests] == [200]
    assert unlimited.registrations("K1") == 1
