"""The request path over a real socket, against the sandbox: retries, waits, faults, secrets."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import gc
import gzip
import json
import logging
import re
import socket
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import RequestInfo, http_exceptions, web
from aioresponses import aioresponses
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from b2b_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    B2BClient,
    B2BError,
    BadRequestError,
    BudgetHint,
    ClientClosedError,
    CreatedOrder,
    DeadlineUnreachableError,
    NewOrder,
    NotFoundError,
    OrderAlreadyExistsError,
    PermissionDeniedError,
    Priority,
    RateLimit,
    RateLimiter,
    RateLimitError,
    ResponseDecodeError,
    RetryPolicy,
    RetryScheduled,
    ServerError,
    UnprocessableEntityError,
    _transport,
    set_hooks,
)
from b2b_async._config import DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_RETRY_AFTER, UNHINTED_COOLDOWN
from b2b_async._exceptions import NotSentTimeoutError, OrderWithdrawnError, TransportError
from b2b_async._protocol import MESSAGE_LIMIT
from b2b_async._protocol import RequestInfo as CallInfo
from b2b_async._v2 import registration
from b2b_async._withdrawal import BulkTicket, BulkTickets
from b2b_async.sandbox import DEFAULT_TOKEN, FaultKind, Faults, RateWindow, SandboxServer
from tests.frames import bodies, holders, rendered
from tests.log_helpers import planned_waits
from tests.loopback import serving, unanswered_port
from tests.sandbox_helpers import attempts_for, seed_for

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
V2_CREATE = "/api/v2/io/companies/{company}/user/{customer}/orders"
QUICK = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.02)
TOKEN = DEFAULT_TOKEN


@pytest_asyncio.fixture
async def server() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(rate=None) as running:
        yield running


def seeded(kind: FaultKind) -> SandboxServer:
    """A sandbox whose first request meets ``kind`` and whose second is clean."""
    faults = Faults(**{kind.field: 0.5})
    return SandboxServer(rate=None, faults=faults, seed=seed_for(faults, [kind, None]))


def client_for(server: SandboxServer, **options: object) -> B2BClient:
    settings: dict[str, object] = {"rate_limit": None, "retry": QUICK, "timeout": 5.0}
    settings.update(options)
    return B2BClient(TOKEN, base_url=server.url, **settings)  # type: ignore[arg-type]


async def create(client: B2BClient, order_id: str = "BC1", company: int = 1) -> CreatedOrder:
    return await client.orders.create(
        company_id=company, customer_id=1, order_id=order_id, total_inc_tax="10.50", po_number="PO"
    )


async def test_create_registers_once(server: SandboxServer) -> None:
    """A plain create registers the order with its total and PO number in one request."""
    async with client_for(server) as client:
        assert await create(client) == CreatedOrder("BC1")
        assert await client.orders.create(customer_id=2, order_id="BC2", total_inc_tax=3) == (
            CreatedOrder("BC2")
        )
    assert server.registrations("BC1") == 1
    assert str(server.orders["BC1"].total_inc_tax) == "10.5"
    assert server.orders["BC1"].po_number == "PO"
    assert server.orders["BC2"].company_id == 2
    assert client.stats.requests == 2


async def test_many_paths_keep_a_bounded_url_memory(
    server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Calls to more paths than the transport remembers still reach their own path."""
    monkeypatch.setattr(_transport, "MAX_TARGETS", 3)
    async with client_for(server) as client:
        for customer in range(1, 9):
            await client.orders.create(
                customer_id=customer, order_id=f"BC{customer}", total_inc_tax=1
            )
        await client.orders.create(customer_id=1, order_id="BC9", total_inc_tax=1)
        assert len(client._transport._targets) <= 3
    assert [server.orders[f"BC{n}"].customer_id for n in range(1, 10)] == [*range(1, 9), 1]


async def test_a_bulk_runs_calls_are_bulk_unless_told_otherwise() -> None:
    """bulk_priority: bulk by default; a call's own priority, a view's and an enclosing
    block's come first, by the one rule."""
    async with B2BClient("token", rate_limit=None) as client:
        transport = client._transport
        assert transport.bulk_priority(None) is Priority.BULK
        assert transport.bulk_priority("urgent") is Priority.URGENT
        with client.priority("normal"):
            assert transport.bulk_priority(None) is Priority.NORMAL
        view = client.with_options(priority="urgent")
        assert view._transport.bulk_priority(None) is Priority.URGENT


async def test_a_call_cancelled_while_waiting_for_a_place_sends_nothing() -> None:
    """Under the in-flight cap, a queued call that is cancelled sends nothing and frees its turn."""
    faults = Faults(latency=1.0, latency_seconds=0.2)
    async with (
        SandboxServer(rate=None, faults=faults) as slow,
        client_for(slow, max_concurrency=1) as client,
    ):
        first = asyncio.create_task(create(client, "BC1"))
        await asyncio.sleep(0)  # the first call takes the only place before it suspends
        queued = asyncio.create_task(create(client, "BC2"))
        await asyncio.sleep(0)  # the second one waits in line
        assert client.stats.in_flight == 1
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        assert await first == CreatedOrder("BC1")
        assert await create(client, "BC3") == CreatedOrder("BC3")
        assert client.stats.in_flight == 0
        fourth, fifth = (asyncio.create_task(create(client, f"BC{n}")) for n in (4, 5))
        assert list(await asyncio.gather(fourth, fifth)) == [
            CreatedOrder("BC4"),
            CreatedOrder("BC5"),
        ]
    assert [attempts_for(slow, order) for order in ("BC1", "BC2", "BC3")] == [1, 0, 1]


async def test_a_call_that_finds_a_place_free_sets_up_no_wait(
    server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call that finds a place free takes it with no wakeable wait; one that queues waits."""
    waits: list[object] = []
    wait = _transport.Waits.wait

    async def counted(self: _transport.Waits, owner: object, started: Callable[[], Any]) -> Any:
        waits.append(owner)
        return await wait(self, owner, started)

    monkeypatch.setattr(_transport.Waits, "wait", counted)
    async with client_for(server, max_concurrency=1) as client:
        assert await create(client, "BC1") == CreatedOrder("BC1")
        assert waits == []
        both = await asyncio.gather(create(client, "BC2"), create(client, "BC3"))
    assert list(both) == [CreatedOrder("BC2"), CreatedOrder("BC3")]
    assert len(waits) == 1  # the second of the two waited for the first's place


async def test_long_paths_are_sent_but_not_remembered(server: SandboxServer) -> None:
    """A path of very long ids reaches the server but takes no place in the URL memory."""
    long_customer = "9" * 300
    async with client_for(server) as client:
        with pytest.raises(NotFoundError):
            await client.orders.create(customer_id=long_customer, order_id="BC2", total_inc_tax=1)
        await create(client, "BC1")
        assert list(client._transport._targets) == [
            ("POST", "/api/v2/io/companies/1/user/1/orders")
        ]
    assert server.requests[0].path == f"/api/v2/io/companies/users/{long_customer}/orders"


async def test_duplicate_is_order_already_exists(server: SandboxServer) -> None:
    """A second registration of the same id, in a new call, is OrderAlreadyExistsError."""
    async with client_for(server) as client:
        await create(client)
        with pytest.raises(OrderAlreadyExistsError) as info:
            await create(client)
    assert info.value.after_uncertain_attempt is False
    assert attempts_for(server, "BC1") == 2


@pytest.mark.parametrize(
    ("company", "token", "expected"),
    [(999, TOKEN, NotFoundError), (1, "wrong-token", AuthenticationError)],
)
async def test_client_errors_surface_after_one_request(
    server: SandboxServer, company: int, token: str, expected: type[Exception]
) -> None:
    """404 and 401 raise their typed error after exactly one request."""
    async with B2BClient(token, base_url=server.url, rate_limit=None, retry=QUICK) as client:
        with pytest.raises(expected):
            await create(client, company=company)
    assert len(server.requests) == 1
    assert client.stats.retries == 0


async def test_http_200_with_error_code_is_not_retried(server: SandboxServer) -> None:
    """An HTTP 200 carrying a 40010 body is a BadRequestError after one request."""
    server.faults = Faults(error_200=1.0)
    async with client_for(server) as client:
        with pytest.raises(BadRequestError) as info:
            await create(client)
    assert info.value.status == 400
    assert info.value.code == 40010
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, Exception),
        (422, UnprocessableEntityError),
    ],
)
async def test_every_4xx_is_one_request(
    mocked: aioresponses, status: int, expected: type[Exception]
) -> None:
    """Each 4xx other than 429 raises its typed error after exactly one request."""
    url = "https://api-b2b.bigcommerce.com/api/v2/io/companies/1/user/1/orders"
    mocked.post(
        url, status=status, payload={"code": status, "data": {}, "message": "no"}, repeat=True
    )
    async with B2BClient("t", rate_limit=None, retry=QUICK) as client:
        with pytest.raises(expected):
            await create(client)
    assert sum(len(calls) for calls in mocked.requests.values()) == 1


@pytest.mark.parametrize("kind", [FaultKind.HTTP_500, FaultKind.HTTP_502, FaultKind.HTTP_503])
async def test_server_errors_are_retried_then_raised(
    server: SandboxServer, kind: FaultKind
) -> None:
    """5xx answers are retried up to `attempts`, then the last one is raised."""
    server.faults = Faults(**{kind.field: 1.0})
    async with client_for(server) as client:
        with pytest.raises(ServerError) as info:
            await create(client)
    assert info.value.status == int(kind.value)
    assert len(server.requests) == QUICK.attempts
    assert client.stats.retries == QUICK.attempts - 1
    assert server.orders == {}


@pytest.mark.parametrize("kind", [FaultKind.HTTP_503, FaultKind.RESET_BEFORE, FaultKind.HTTP_429])
async def test_transient_failure_then_success(kind: FaultKind) -> None:
    """A transient failure followed by a clean answer returns the created order."""
    retry = RetryPolicy(initial_wait=0.01, max_wait=0.02, max_retry_after=2.0)
    async with seeded(kind) as server, client_for(server, retry=retry) as client:
        assert await create(client) == CreatedOrder("BC1")
    assert [record.fault for record in server.requests] == [kind, None]
    assert server.registrations("BC1") == 1


@pytest.mark.parametrize("kind", [FaultKind.RESET_AFTER, FaultKind.MALFORMED, FaultKind.HTTP_504])
async def test_uncertain_attempt_then_already_exists_is_success(kind: FaultKind) -> None:
    """After an attempt that may have registered, "already exists" means registered."""
    async with seeded(kind) as server, client_for(server) as client:
        created = await create(client)
    expected_registered = kind is not FaultKind.HTTP_504
    assert created == CreatedOrder("BC1", already_registered=expected_registered)
    assert server.registrations("BC1") == 1
    assert attempts_for(server, "BC1") == 2


async def test_reset_before_processing_exhausts_attempts(server: SandboxServer) -> None:
    """Resets on every attempt raise APIConnectionError; nothing is registered."""
    server.faults = Faults(reset_before=1.0)
    async with client_for(server) as client:
        with pytest.raises(APIConnectionError) as info:
            await create(client)
    assert info.value.may_have_reached_server is True
    assert len(server.requests) == QUICK.attempts
    assert server.orders == {}


async def test_reset_read_is_sent_once_per_attempt(server: SandboxServer) -> None:
    """A GET whose connection is reset is not resent behind the limiter's back."""
    async with client_for(server, retry=RetryPolicy(attempts=2, initial_wait=0)) as client:
        await create(client)  # leaves a kept-alive connection for the read to reuse
        server.faults = Faults(reset_before=1.0)
        with pytest.raises(APIConnectionError):
            await client.orders.details("BC1")
    reads = [record for record in server.requests if record.method == "GET"]
    assert len(reads) == 2
    assert client.stats.requests == 3


async def test_connection_refused_is_retried_and_certain() -> None:
    """A refused connection is retried and marked as never having reached the server."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with B2BClient(
        "t", base_url=f"http://127.0.0.1:{port}", rate_limit=None, retry=QUICK
    ) as c:
        with pytest.raises(APIConnectionError) as info:
            await create(c)
    assert info.value.may_have_reached_server is False
    assert c.stats.requests == QUICK.attempts


@contextlib.asynccontextmanager
async def refusing_proxy(status: bytes) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A loopback HTTP proxy that answers every tunnel's ``CONNECT`` with ``status``; yield its
    URL and the request lines it received."""
    received: list[bytes] = []

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append((await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")[0])
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    proxy = await asyncio.start_server(refuse, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{proxy.sockets[0].getsockname()[1]}", received
    finally:
        proxy.close()
        await proxy.wait_closed()


async def test_a_proxy_that_refuses_the_tunnel_is_a_connection_that_never_opened() -> None:
    """A borrowed session's proxy refusing the tunnel to the API fails the call as a
    connection that could not be opened, which sent nothing."""
    async with refusing_proxy(b"407 Proxy Authentication Required") as (proxy, received):
        async with aiohttp.ClientSession(proxy=proxy) as session:
            base_url = "https://api.example.test"
            async with B2BClient(
                TOKEN, base_url=base_url, session=session, rate_limit=None, retry=QUICK
            ) as client:
                with pytest.raises(APIConnectionError) as info:
                    await create(client)
    assert info.value.may_have_reached_server is False
    assert "could not connect: the proxy refused the tunnel: 407" in str(info.value)
    assert received == [b"CONNECT api.example.test:443 HTTP/1.1"] * QUICK.attempts


async def test_a_proxy_s_refusal_is_shown_on_one_line_with_its_controls_escaped() -> None:
    """A terminal escape or a bidirectional override in a proxy's reason phrase reaches the
    error written as its escape, as a server's message would."""
    status = "407 Proxy \x1b[31mAuth \u202erequired".encode()
    async with refusing_proxy(status) as (proxy, _):
        async with aiohttp.ClientSession(proxy=proxy) as session:
            async with B2BClient(
                TOKEN,
                base_url="https://api.example.test",
                session=session,
                rate_limit=None,
                retry=QUICK,
            ) as client:
                with pytest.raises(APIConnectionError) as info:
                    await create(client)
    assert "refused the tunnel: 407 Proxy \\x1b[31mAuth \\u202erequired" in str(info.value)
    assert not {"\x1b", "\u202e"} & set(str(info.value))


async def test_hang_past_timeout_is_timeout_error(server: SandboxServer) -> None:
    """A server that never answers raises APITimeoutError after each attempt's timeout."""
    server.faults = Faults(hang=1.0, hang_seconds=5.0)
    retry = RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.01)
    started = time.monotonic()
    async with client_for(server, retry=retry, timeout=0.2) as client:
        with pytest.raises(APITimeoutError):
            await create(client)
    assert time.monotonic() - started < 2.0
    assert len(server.requests) == 2


async def test_retry_after_is_honoured(caplog: pytest.LogCaptureFixture) -> None:
    """A 429 past the window is retried after the server's hint, not before, and not later
    than the hint says (as the retry's log line plans it)."""
    caplog.set_level(logging.INFO, logger="b2b_async")
    async with SandboxServer(rate=RateWindow(requests=1, per=0.6)) as server:
        async with client_for(server) as client:
            await create(client, "BC1")
            started = time.monotonic()
            await create(client, "BC2")
            waited = time.monotonic() - started
        statuses = [record.status for record in server.requests]
    assert statuses == [200, 429, 200]
    assert waited >= 0.3
    assert planned_waits(caplog.records) == [1.0]  # the window's rest, in whole seconds
    assert client.stats.rate_limited == 1


async def test_hint_beyond_cap_fails_fast() -> None:
    """A Retry-After longer than max_retry_after raises RateLimitError at once."""
    retry = RetryPolicy(max_retry_after=5.0)
    window = RateWindow(requests=1, per=60.0)
    async with SandboxServer(rate=window) as server, client_for(server, retry=retry) as client:
        await create(client, "BC1")
        started = time.monotonic()
        with pytest.raises(RateLimitError) as info:
            await create(client, "BC2")
        assert time.monotonic() - started < 1.0
    assert info.value.retry_after is not None
    assert info.value.retry_after > 5.0
    assert len(server.requests) == 2


async def test_deadline_bounds_the_whole_call(server: SandboxServer) -> None:
    """attempts=1000 against endless 503s gives up by the deadline."""
    server.faults = Faults(http_503=1.0)
    retry = RetryPolicy(attempts=1000, initial_wait=0.05, max_wait=0.1, deadline=0.6)
    started = time.monotonic()
    async with client_for(server, retry=retry) as client:
        with pytest.raises((ServerError, APITimeoutError)):
            await create(client)
    assert time.monotonic() - started < 1.0
    assert 2 < len(server.requests) < 30


async def test_deadline_cuts_a_hanging_attempt(server: SandboxServer) -> None:
    """The deadline also ends an attempt in progress, as APITimeoutError."""
    server.faults = Faults(hang=1.0, hang_seconds=5.0)
    retry = RetryPolicy(deadline=0.3)
    started = time.monotonic()
    async with client_for(server, retry=retry) as client:
        with pytest.raises(APITimeoutError, match="deadline"):
            await create(client)
    assert time.monotonic() - started < 1.5


async def test_an_attempt_the_deadline_cuts_off_may_have_reached_the_server() -> None:
    """The server holds the request when the call's deadline passes: the call's error is a
    plain APITimeoutError saying the request may have reached the server."""
    held = Holding()
    async with serving(held.app()) as url:
        async with B2BClient(
            TOKEN, base_url=url, rate_limit=None, retry=RetryPolicy(deadline=0.3)
        ) as client:
            with pytest.raises(APITimeoutError) as info:
                await create(client, "BC1")
            held.release.set()
    assert not isinstance(info.value, NotSentTimeoutError)
    assert info.value.may_have_reached_server
    assert held.orders == ["BC1"]


class SlowRelease(RateLimiter):
    """A limiter whose release awaits, as one sharing its budget through Redis does."""

    async def release(self, hint: BudgetHint | None = None) -> None:
        await asyncio.sleep(0.5)
        await super().release(hint)


async def test_a_deadline_passing_while_the_budget_is_handed_back_may_have_reached() -> None:
    """The answer came (the order is registered) and the deadline passed while the limiter
    took the budget back: the call's error says the request may have reached the server."""
    held = Holding()
    held.release.set()  # answers at once
    async with serving(held.app()) as url:
        async with B2BClient(
            TOKEN,
            base_url=url,
            rate_limit=SlowRelease(RateLimit()),
            retry=RetryPolicy(deadline=0.2),
        ) as client:
            with pytest.raises(APITimeoutError) as info:
                await create(client, "BC1")
    assert not isinstance(info.value, NotSentTimeoutError)
    assert info.value.may_have_reached_server
    assert held.orders == ["BC1"]


async def test_retry_none_sends_once(server: SandboxServer) -> None:
    """retry=None makes a single attempt."""
    server.faults = Faults(http_503=1.0)
    async with client_for(server, retry=None) as client:
        with pytest.raises(ServerError):
            await create(client)
    assert len(server.requests) == 1


async def test_garbled_body_is_decode_error_when_it_persists(server: SandboxServer) -> None:
    """A 200 whose body is cut short every time ends as ResponseDecodeError."""
    server.faults = Faults(malformed=1.0)
    async with client_for(server) as client:
        with pytest.raises(ResponseDecodeError) as info:
            await create(client)
    assert info.value.garbled is True


async def test_body_cap_refuses_large_responses(server: SandboxServer) -> None:
    """A body longer than max_response_bytes raises ResponseDecodeError."""
    async with client_for(server, max_response_bytes=10) as client:
        with pytest.raises(ResponseDecodeError, match="cap"):
            await create(client)


async def test_token_never_logged_or_raised(
    server: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Across retries and failures, the token appears in no log line, repr or message."""
    caplog.set_level(logging.DEBUG)
    server.faults = Faults(http_503=0.4, reset_before=0.3)
    errors: list[BaseException] = []
    async with client_for(server) as client:
        for index in range(10):
            try:
                await create(client, f"BC{index}")
            except Exception as exc:
                errors.append(exc)
        texts = [caplog.text, repr(client)] + [f"{e!s} {e!r}" for e in errors]
    assert client.stats.retries > 0
    assert "retrying POST" in caplog.text
    assert all(TOKEN not in text for text in texts)


async def test_concurrency_cap_bounds_in_flight(server: SandboxServer) -> None:
    """With max_concurrency=3, the sandbox never processes more than 3 at once."""
    server.faults = Faults(latency=1.0, latency_seconds=0.02)
    server.max_in_flight = 3
    async with client_for(server, max_concurrency=3) as client:
        await asyncio.gather(*(create(client, f"BC{i}") for i in range(20)))
    assert len(server.orders) == 20
    assert {record.status for record in server.requests} == {200}


async def test_paced_client_records_budget_wait(server: SandboxServer) -> None:
    """With the default limiter, gathered calls are paced and the wait is counted."""
    from b2b_async import RateLimit

    async with client_for(server, rate_limit=RateLimit(requests=20, per=1.0)) as client:
        await asyncio.gather(*(create(client, f"BC{i}") for i in range(6)))
    assert client.stats.budget_wait > 0
    assert len(server.orders) == 6


@pytest.mark.parametrize("borrowed", [False, True])
async def test_headers_on_the_wire(server: SandboxServer, borrowed: bool) -> None:
    """Owned or borrowed session, each request carries the auth, JSON and agent headers."""
    import aiohttp

    from b2b_async import __version__

    async with aiohttp.ClientSession() as session:
        options: dict[str, object] = {"session": session} if borrowed else {}
        async with client_for(server, user_agent="acme/1", **options) as client:
            await create(client)
            await client.orders.company_id_of("BC1")
    post, get = server.requests
    for record in (post, get):
        assert record.headers["authToken"] == TOKEN
        assert record.headers["Accept"] == "application/json"
        assert record.headers["User-Agent"] == f"b2b-async/{__version__} acme/1"
        assert "X-Store-Hash" not in record.headers
    assert post.headers["Content-Type"] == "application/json"
    assert "Content-Type" not in get.headers


async def test_a_borrowed_session_that_does_not_decompress_still_reads_compressed_answers() -> None:
    """A borrowed session made with auto_decompress=False still reads gzip answers: the
    success, then the "already exists" of a second registration, never garbled bytes."""
    answers = [
        ({"code": 200, "data": {"orderId": "BC1"}}, 200),
        ({"code": 400, "data": {"errMsg": "The order already exists."}}, 400),
    ]

    async def compressed(request: web.Request) -> web.Response:
        envelope, status = answers.pop(0)
        response = web.json_response(envelope, status=status)
        response.enable_compression(web.ContentCoding.gzip)
        return response

    async with (
        serving(answering(V2_CREATE.format(company=1, customer=1), compressed)) as url,
        aiohttp.ClientSession(auto_decompress=False) as session,
        B2BClient(TOKEN, base_url=url, session=session, rate_limit=None, retry=None) as client,
    ):
        created = await create(client)
        with pytest.raises(OrderAlreadyExistsError):
            await create(client)
    assert created == CreatedOrder(order_id="BC1", already_registered=False)


async def test_a_retried_answer_with_a_huge_multi_line_message_logs_one_short_line_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two 503s with a multi-line megabyte message log two short one-line INFOs, nothing more."""
    message = "down\n" + "CRITICAL:root:forged line\x1b[31m\r\n" * 100_000
    answers = [({"code": 503, "data": {}, "message": message}, 503)] * 2
    answers.append(({"code": 200, "data": {"orderId": "BC1"}}, 200))

    async def failing_twice(request: web.Request) -> web.Response:
        envelope, status = answers.pop(0)
        return web.json_response(envelope, status=status)

    caplog.set_level(logging.DEBUG, logger="b2b_async")
    async with (
        serving(answering(V2_CREATE.format(company=1, customer=1), failing_twice)) as url,
        B2BClient(TOKEN, base_url=url, rate_limit=None, retry=QUICK) as client,
    ):
        await create(client)
    records = [record for record in caplog.records if record.name == "b2b_async"]
    assert collections.Counter(record.levelname for record in records) == {"INFO": 2}
    lines = [record.getMessage() for record in records]
    assert all(line.isprintable() and len(line) < 2 * MESSAGE_LIMIT for line in lines)


def answering(path: str, handler: Handler) -> web.Application:
    """An application that answers POSTs to ``path`` with ``handler``."""
    app = web.Application()
    app.router.add_post(path, handler)
    return app


class Holding:
    """A V2 create endpoint that notes each order id and answers once ``release`` is set."""

    PATH = "/api/v2/io/companies/1/user/1/orders"

    def __init__(self) -> None:
        self.arrived, self.release = asyncio.Event(), asyncio.Event()
        self.orders: list[str] = []

    async def hold(self, request: web.Request) -> web.Response:
        self.orders.append((await request.json())["orderId"])
        self.arrived.set()
        await self.release.wait()
        return web.json_response({"code": 200, "data": {"orderId": self.orders[-1]}, "meta": {}})

    def app(self) -> web.Application:
        return answering(self.PATH, self.hold)


async def test_a_call_cancelled_while_its_request_is_in_flight_gives_its_budget_back() -> None:
    """A call cancelled while its request awaits the answer leaves nothing in flight."""
    held, limiter = Holding(), RateLimiter(RateLimit(100, 1.0))
    async with serving(held.app()) as url:
        async with B2BClient(TOKEN, base_url=url, rate_limit=limiter, max_concurrency=1) as client:
            call = asyncio.create_task(create(client, "BC1"))
            await held.arrived.wait()
            assert (limiter.in_flight, client.stats.in_flight) == (1, 1)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            assert (limiter.waiting, limiter.in_flight, client.stats.in_flight) == (0, 0, 0)
            held.release.set()
            assert await create(client, "BC2") == CreatedOrder("BC2")
            assert (limiter.in_flight, client.stats.in_flight) == (0, 0)
    assert held.orders == ["BC1", "BC2"]


@pytest.mark.parametrize("status", [429, 503])
async def test_a_retry_that_cannot_leave_after_a_refusal_says_nothing_was_sent(status: int) -> None:
    """After a first attempt answered 429 or 503, which registered nothing, a retry still
    waiting for a place at the call's deadline ends with a NotSentTimeoutError, so that a
    V3 create reads its window as missed. (After a 502 the call may have reached the
    server: see the next test but one.)"""
    arrived, answered, release = asyncio.Event(), asyncio.Event(), asyncio.Event()
    seen: list[str] = []

    async def refuse_then_hold(request: web.Request) -> web.Response:
        order_id = (await request.json())["orderId"]
        seen.append(order_id)
        arrived.set()
        if order_id == "BC1":  # the call under test: its first attempt is refused
            await answered.wait()
            return web.json_response(
                {"code": status, "message": "busy"}, status=status, headers={"Retry-After": "0"}
            )
        await release.wait()  # the other call keeps the only place in flight
        return web.json_response({"code": 200, "data": {"orderId": order_id}, "meta": {}})

    async with serving(answering(Holding.PATH, refuse_then_hold)) as url:
        async with B2BClient(TOKEN, base_url=url, rate_limit=None, max_concurrency=1) as client:
            transport = client._transport
            request = registration(NewOrder(1, 1, "BC1", 1))
            call = asyncio.create_task(transport.send(request, deadline_at=time.monotonic() + 3.0))
            await arrived.wait()
            other = asyncio.create_task(create(client, "BC2"))  # queued for BC1's place
            # The places expose a count, not an event: a short poll.
            while transport._places.waiting == 0:  # noqa: ASYNC110
                await asyncio.sleep(0.002)
            answered.set()
            with pytest.raises(NotSentTimeoutError) as info:
                await call
            release.set()
            await other
    assert seen == ["BC1", "BC2"]
    assert not info.value.may_have_reached_server
    assert not info.value.after_uncertain_attempt


async def test_a_call_whose_deadline_passes_while_it_waits_for_a_place_says_nothing_left() -> None:
    """Under the in-flight cap, a call still waiting for a place at its deadline ends with an
    APITimeoutError that says the request never left, and it never does."""
    held = Holding()
    bounded = RetryPolicy(attempts=1, deadline=0.2)
    async with serving(held.app()) as url:
        async with B2BClient(TOKEN, base_url=url, rate_limit=None, max_concurrency=1) as client:
            holding = asyncio.create_task(create(client, "BC1"))  # the only place in flight
            await held.arrived.wait()
            with pytest.raises(APITimeoutError) as info:
                await create(client.with_options(retry=bounded), "BC2")
            held.release.set()
            assert await holding == CreatedOrder("BC1")
    assert isinstance(info.value, NotSentTimeoutError)  # no connect timeout: a bulk run goes on
    assert info.value.may_have_reached_server is False
    assert held.orders == ["BC1"]


async def test_a_retry_whose_deadline_passes_while_it_waits_for_a_place_may_have_reached() -> None:
    """After an attempt answered 502, which may have registered the order, a retry still
    waiting for a place at the deadline says the call may have reached the server."""
    answered, arrived, release, orders = asyncio.Event(), asyncio.Event(), asyncio.Event(), []

    async def answer(request: web.Request) -> web.Response:
        order = (await request.json())["orderId"]
        orders.append(order)
        if order == "BC2":
            answered.set()
            return web.json_response({"code": 502, "data": {}}, status=502)
        arrived.set()
        await release.wait()
        return web.json_response({"code": 200, "data": {"orderId": order}, "meta": {}})

    path = "/api/v2/io/companies/1/user/1/orders"
    bounded = RetryPolicy(attempts=3, initial_wait=0.05, max_wait=0.05, deadline=0.5)
    async with serving(answering(path, answer)) as url:
        async with B2BClient(TOKEN, base_url=url, rate_limit=None, max_concurrency=1) as client:
            retried = asyncio.create_task(create(client.with_options(retry=bounded), "BC2"))
            await answered.wait()
            holding = asyncio.create_task(create(client, "BC1"))  # takes the place meanwhile
            await arrived.wait()
            with pytest.raises(APITimeoutError) as info:
                await retried
            release.set()
            await holding
    assert not isinstance(info.value, NotSentTimeoutError)
    assert info.value.may_have_reached_server is True
    assert orders == ["BC2", "BC1"]


def lower_hex(text: str) -> str:
    """Percent-encoded with lower-case hex digits, as some servers write it."""
    return re.sub("%[0-9A-F]{2}", lambda match: match.group().lower(), quote(text, safe=""))


@pytest.mark.parametrize(
    "spell",
    [
        str,
        str.upper,
        str.lower,
        str.capitalize,
        str.swapcase,
        functools.partial(quote, safe=""),
        quote,
        lower_hex,
    ],
    ids=[
        "as-sent",
        "upper-case",
        "lower-case",
        "capitalised",
        "case-swapped",
        "percent-encoded",
        "percent-encoded-but-slashes",
        "percent-encoded-in-lower-hex",
    ],
)
async def test_a_token_echoed_by_the_server_never_reaches_the_error(
    spell: Callable[[str], str],
) -> None:
    """A 401 that echoes the token, as sent or respelt, and the store hash yields an error
    that holds neither."""

    async def echo(request: web.Request) -> web.Response:
        token, store = request.headers["X-Auth-Token"], request.headers["X-Store-Hash"]
        seen = f"invalid authToken {spell(token)} for {store}"
        return web.json_response({"code": 401, "data": {"errMsg": seen}}, status=401)

    token, store = "Secret/Token+xyz", "StoreHash77"
    async with (
        serving(answering("/api/v3/io/orders", echo)) as url,
        B2BClient(token, store_hash=store, base_url=url, rate_limit=None) as client,
    ):
        with pytest.raises(AuthenticationError) as info:
            await client.v3.orders.create(bc_order_id=1, customer_id=2)
    error = info.value
    texts = [str(error), repr(error), error.message, repr(error.details)]
    assert not [text for text in texts if spell(token) in text or store in text]
    assert error.message == "invalid authToken *** for ***"


async def test_a_store_hash_leaves_values_that_hold_it_in_another_case_alone() -> None:
    """A store hash is short, so only the hash as written is a secret: a PO number that
    holds its letters in upper case comes back whole."""

    async def created(request: web.Request) -> web.Response:
        order = {"bcOrderId": 1, "poNumber": "PO-ABC123", "note": "abc123"}
        return web.json_response({"code": 200, "data": order})

    async with (
        serving(answering("/api/v3/io/orders", created)) as url,
        B2BClient(
            "a-token-of-some-length",
            store_hash="abc123",
            base_url=url,
            rate_limit=None,
            check_extra_fields=False,
        ) as client,
    ):
        order = await client.v3.orders.create(bc_order_id=1, customer_id=2, po_number="PO-ABC123")
    assert order.po_number == "PO-ABC123"
    assert order.raw["note"] == "***"


async def test_a_token_echoed_as_a_key_reaches_no_decode_error_nor_its_cause() -> None:
    """A success that holds the token as a key where a flag belongs fails to decode; the
    error, its cause and its formatted traceback hold no piece of the token."""

    async def echo(request: web.Request) -> web.Response:
        flag = {request.headers["X-Auth-Token"]: 1}
        return web.json_response({"code": 200, "data": {"bcOrderId": 1, "isArchived": flag}})

    token, store = "secret-token-xyz", "storehash77"
    async with (
        serving(answering("/api/v3/io/orders", echo)) as url,
        B2BClient(
            token, store_hash=store, base_url=url, rate_limit=None, check_extra_fields=False
        ) as client,
    ):
        with pytest.raises(ResponseDecodeError) as info:
            await client.v3.orders.create(bc_order_id=1, customer_id=2)
    told = "".join(traceback.format_exception(info.value))
    assert "isArchived" in told
    assert token not in told


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 401 Unauthorized\r\nauthToken %(token)s\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 4x1 invalid authToken %(token)s for %(store)s\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Echo: %(token)s\x00\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Echo: " + b"a" * 80 + b"%(token)s" + b"a" * 9000 + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Echo: %(head)s\r%(tail)s\r\n\r\n",
        b"HTTP/1.1 2x0 %(head)s\x01%(tail)s\r\n\r\n",
    ],
    ids=[
        "header-without-colon",
        "bad-status-line",
        "nul-in-header",
        "cut-short-over-long-header",
        "escaped-inside-a-header",
        "escaped-inside-a-status-line",
    ],
)
async def test_an_answer_the_parser_refuses_never_shows_an_echoed_secret(
    answer: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """aiohttp quotes what it could not parse, cut short and escaped: no piece of a token or
    store hash in it reaches the error or the log, while aiohttp's own words do."""
    token, store = "tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0", "storehash77"
    head, tail = token[:20].encode(), token[20:].encode()
    payload = answer % {
        b"token": token.encode(),
        b"store": store.encode(),
        b"head": head,
        b"tail": tail,
    }

    async def answer_malformed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(payload)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer_malformed, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    caplog.set_level(logging.INFO, logger="b2b_async")
    try:
        async with B2BClient(
            token, store_hash=store, base_url=url, rate_limit=None, retry=QUICK
        ) as client:
            with pytest.raises(APIConnectionError) as info:
                await client.v3.orders.create(bc_order_id=1, customer_id=2)
    finally:
        server.close()
        await server.wait_closed()
    texts = [str(info.value), repr(info.value), caplog.text]
    pieces = [secret[start : start + 6] for secret in (token, store) for start in range(0, 30, 3)]
    assert not [text for text in texts for piece in pieces if len(piece) == 6 and piece in text]
    assert info.value.message.startswith("connection failed: ClientResponseError: ")


@pytest.mark.parametrize(
    ("failure", "words"),
    [
        (aiohttp.ServerDisconnectedError(), "Server disconnected"),
        (
            aiohttp.ClientPayloadError(
                "Response payload is not completed: <TransferEncodingError: 400, "
                "message='Not enough data to satisfy transfer length header.'>"
            ),
            "Response payload is not completed",
        ),
        (
            aiohttp.ClientResponseError(
                RequestInfo(
                    URL("http://h/"), "GET", CIMultiDictProxy(CIMultiDict()), URL("http://h/")
                ),
                (),
                status=400,
                message="Invalid HTTP header: b'tok-123\\r456'",
            ),
            "Invalid HTTP header",
        ),
    ],
)
def test_failure_words_keep_aiohttps_words_and_drop_what_it_quotes(
    failure: BaseException, words: str
) -> None:
    """What aiohttp quotes of an answer is left out; its description of the failure stays."""
    assert _transport.failure_words(failure) == words


async def test_an_apostrophe_in_aiohttps_words_is_no_quote_of_the_answer() -> None:
    """An answer with both Content-Length and Transfer-Encoding fails with aiohttp's whole
    words ("can't be present"), not cut at the apostrophe into the opposite meaning."""

    async def answer_framed_twice(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}"
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer_framed_twice, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with B2BClient(TOKEN, base_url=url, rate_limit=None, retry=None) as client:
            with pytest.raises(APIConnectionError) as info:
                await create(client)
    finally:
        server.close()
        await server.wait_closed()
    assert "can't be present with" in info.value.message


def registered_answer(order_id: bytes) -> bytes:
    """A raw HTTP/1.1 answer of a V2 registration that confirms ``order_id``."""
    body = b'{"code": 200, "data": {"orderId": "%s"}, "message": "Success"}' % order_id
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


#: Loop turns a test gives the kernel to hand loopback bytes over: it does so within the
#: sender's write, or soon after when it defers the work on a loaded machine.
MANY_TURNS = 100_000


def answers_read_in_pool(client: B2BClient) -> int:
    """How many of the connections in the pool of the client's own session hold something
    read, which no request of theirs asked for."""
    session = client._transport._pool.session
    if session is None or session.connector is None:
        return 0
    pooled = session.connector._conns.values()
    return sum(protocol.should_close for connections in pooled for protocol, _ in connections)


async def until_read_in_pool(client: B2BClient) -> None:
    """Let the event loop turn until the client has read what arrived on a pooled connection
    (however late the kernel hands it over), at most :data:`MANY_TURNS` turns."""
    for _ in range(MANY_TURNS):
        if answers_read_in_pool(client):
            return
        await asyncio.sleep(0)


async def test_an_answer_no_request_asked_for_is_never_read_as_the_next_requests() -> None:
    """A second answer to one request, arriving on the kept-alive connection after the
    first, is never taken for the answer to the next order: that one goes on a new
    connection, and gets its own."""
    writers: list[asyncio.StreamWriter] = []

    async def answer_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.closing(writer), contextlib.suppress(asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: (\d+)", head)
                body = await reader.readexactly(int(length.group(1)) if length else 0)
                order_id = re.search(rb'"orderId":\s*"(\w+)"', body)
                writer.write(registered_answer(order_id.group(1) if order_id else b"?"))

    server = await asyncio.start_server(answer_each, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with B2BClient(TOKEN, base_url=url, rate_limit=None, retry=None) as client:
            first = await create(client, "BC1")
            writers[0].write(registered_answer(b"STRAY"))  # the connection is back in the pool
            await writers[0].drain()
            await until_read_in_pool(client)
            second = await create(client, "BC2")
    finally:
        server.close()
        await server.wait_closed()
    assert (first, second) == (CreatedOrder("BC1"), CreatedOrder("BC2"))
    assert len(writers) == 2


async def test_an_allocation_followed_with_a_burst_holds_no_call_past_the_cap() -> None:
    """10 per 20 s at a burst of 10 would hold a call 20 s: past a 2 s cap, it is not followed."""

    async def allocating(request: web.Request) -> web.Response:
        headers = {"X-Requests-Allocated": "10 times/20 s"}
        return web.json_response({"code": 200, "data": {"orderId": "BC1"}}, headers=headers)

    retry = RetryPolicy(max_retry_after=2.0)
    limit = RateLimit(150, 60.0, burst=10)
    async with (
        serving(answering(V2_CREATE, allocating)) as url,
        B2BClient(TOKEN, base_url=url, rate_limit=limit, retry=retry) as client,
    ):
        for index in range(11):
            await create(client, order_id=f"BC{index}")
        limiter = client.limiter
        assert isinstance(limiter, RateLimiter)
        ready = limiter.next_ready
        assert ready is not None
        assert ready - asyncio.get_running_loop().time() <= retry.max_retry_after


class DeadlineRecorder:
    """A limiter that grants at once and records the seconds each caller said it could wait."""

    def __init__(self) -> None:
        self.deadlines: list[float | None] = []

    async def acquire(
        self, priority: Priority = Priority.NORMAL, *, deadline: float | None = None
    ) -> float:
        self.deadlines.append(deadline)
        return 0.0

    async def release(self, hint: object) -> None:
        return None


async def test_the_limiter_learns_what_is_left_of_the_call_deadline(server: SandboxServer) -> None:
    """Each attempt tells the limiter the seconds left of the call's deadline, or no bound."""
    limiter = DeadlineRecorder()
    bounded = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.02, deadline=30.0)
    async with client_for(server, rate_limit=limiter, retry=bounded) as client:
        await create(client, "BC1")
    async with client_for(server, rate_limit=limiter, retry=QUICK) as client:
        await create(client, "BC2")
    [left, unbounded] = limiter.deadlines
    assert left is not None
    assert 0 < left <= 30.0
    assert unbounded is None


async def test_the_deadline_counts_from_when_the_call_began(server: SandboxServer) -> None:
    """A call that waited before its request (``began_at``) has only the rest of its
    deadline: the limiter learns what is left of it, and a call whose deadline has passed
    fails unsent."""
    limiter = DeadlineRecorder()
    retry = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.02, deadline=30.0)
    async with client_for(server, rate_limit=limiter, retry=retry) as client:
        request = registration(NewOrder(1, 1, "BC1", 1))
        await client._transport.send(request, began_at=time.monotonic() - 20.0)
        with pytest.raises(NotSentTimeoutError, match="deadline passed"):
            await client._transport.send(request, began_at=time.monotonic() - 31.0)
    [left, *_] = limiter.deadlines
    assert left is not None
    assert 0 < left <= 10.0
    assert len(server.requests) == 1


async def test_a_deadline_the_queue_makes_unreachable_fails_at_once_and_sends_nothing(
    server: SandboxServer,
) -> None:
    """Behind 10 s of same-priority calls, a call with a 1 s deadline fails at once, unretried."""
    limiter = RateLimiter(RateLimit(requests=10, per=1.0))
    queued = [asyncio.create_task(limiter.acquire()) for _ in range(100)]  # 10 s of budget
    await asyncio.sleep(0)
    retry = RetryPolicy(attempts=5, deadline=1.0)
    try:
        async with client_for(server, rate_limit=limiter, retry=retry) as client:
            with pytest.raises(DeadlineUnreachableError) as caught:
                await create(client, "BC1")
    finally:
        for task in queued:
            task.cancel()
        await asyncio.gather(*queued, return_exceptions=True)
    assert caught.value.estimated_wait > 9.0
    assert caught.value.deadline <= 1.0
    assert server.requests == []
    assert client.stats.retries == 0


async def test_an_urgent_call_gets_the_next_place_in_flight_before_a_backlog(
    server: SandboxServer,
) -> None:
    """With every place taken by a gathered backfill, an urgent call is sent next."""
    server.faults = Faults(latency=1.0, latency_seconds=0.01)
    async with client_for(server, max_concurrency=2, rate_limit=None) as client:
        with client.priority("bulk"):
            backlog = [asyncio.create_task(create(client, f"BC{i}")) for i in range(12)]
        await asyncio.sleep(0)
        urgent = asyncio.create_task(
            client.orders.create(
                company_id=1, customer_id=1, order_id="URGENT", total_inc_tax=1, priority="urgent"
            )
        )
        await asyncio.gather(urgent, *backlog)
    sent = [record.body["orderId"] for record in server.requests if record.body]
    assert sent.index("URGENT") <= 2  # after at most the two already in flight


async def test_an_urgent_call_goes_before_a_backlog_on_a_borrowed_pool_smaller_than_the_cap() -> (
    None
):
    """On a borrowed session whose pool holds one connection, under the default cap of
    eight, an urgent call is sent before the bulk calls queued before it."""
    held = Holding()
    async with serving(held.app()) as url:
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector) as session:
            async with B2BClient(TOKEN, base_url=url, session=session, rate_limit=None) as client:
                holding = asyncio.create_task(create(client, "HOLD"))
                await held.arrived.wait()
                with client.priority("bulk"):
                    backlog = [asyncio.create_task(create(client, f"BC{i}")) for i in range(3)]
                for _ in range(20):  # each bulk call reaches its queue, with no I/O to await
                    await asyncio.sleep(0)
                urgent = asyncio.create_task(
                    client.orders.create(
                        company_id=1,
                        customer_id=1,
                        order_id="URGENT",
                        total_inc_tax=1,
                        priority="urgent",
                    )
                )
                await asyncio.sleep(0)
                held.release.set()
                await asyncio.gather(holding, urgent, *backlog)
    assert held.orders == ["HOLD", "URGENT", "BC0", "BC1", "BC2"]


async def test_a_retry_sending_nothing_still_says_the_call_may_have_registered() -> None:
    """After a 502, which may have registered the order, a retry the limiter cannot fit before
    the deadline sends nothing: its refusal carries after_uncertain_attempt."""
    orders: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        orders.append((await request.json())["orderId"])
        return web.json_response({"code": 502, "data": {}}, status=502)

    bounded = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.01, deadline=5.0)
    async with serving(answering(Holding.PATH, answer)) as url:
        # One request a minute: the retry's budget comes long after the deadline.
        async with B2BClient(TOKEN, base_url=url, rate_limit=RateLimit(1, 60), retry=bounded) as c:
            with pytest.raises(DeadlineUnreachableError) as info:
                await create(c, "BC1")
    assert info.value.after_uncertain_attempt is True
    assert orders == ["BC1"]


async def test_a_retry_refused_budget_after_a_refused_connection_names_it_as_its_cause() -> None:
    """A closed port, then a retry the limiter cannot fit before the deadline: the call's
    DeadlineUnreachableError has the refused connection as its cause."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"  # nothing listens once closed
    bounded = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.01, deadline=5.0)
    # One request a minute: the retry's budget comes long after the deadline.
    async with B2BClient(TOKEN, base_url=url, rate_limit=RateLimit(1, 60), retry=bounded) as c:
        with pytest.raises(DeadlineUnreachableError) as info:
            await create(c, "BC1")
    cause = info.value.__cause__
    assert isinstance(cause, APIConnectionError)
    assert cause.may_have_reached_server is False
    assert c.stats.requests == 1
    assert holders(info.value, TOKEN) == []


@contextlib.asynccontextmanager
async def second_call_queued(
    held: Holding,
) -> AsyncIterator[tuple[aiohttp.ClientSession, asyncio.Task[Any], asyncio.Task[Any]]]:
    """A client on a borrowed session of one connection: BC1 sent and held by the server, BC2
    waiting in the connector's queue for that connection. Yield (session, BC1's call, BC2's
    call); the server answers once the block has ended."""
    queued = asyncio.Event()

    async def on_queued(*_: object) -> None:
        queued.set()

    tracing = aiohttp.TraceConfig()
    tracing.on_connection_queued_start.append(on_queued)
    async with serving(held.app()) as url:
        connector = aiohttp.TCPConnector(limit=1)
        session = aiohttp.ClientSession(connector=connector, trace_configs=[tracing])
        async with B2BClient(
            TOKEN, base_url=url, session=session, rate_limit=None, max_concurrency=None, retry=None
        ) as client:
            first = asyncio.create_task(create(client, "BC1"))
            await held.arrived.wait()
            waiting = asyncio.create_task(create(client, "BC2"))
            await queued.wait()  # BC2 waits in the connector's queue for a connection
            try:
                yield session, first, waiting
            finally:
                held.release.set()
                await session.close()


async def test_requests_waiting_for_a_connection_when_the_session_closes_fail_as_closed() -> None:
    """Closing a borrowed session cancels the requests its connector holds back. Their callers,
    whom nobody cancelled, get a ClientClosedError (not a CancelledError), and nothing of
    theirs was sent."""
    held = Holding()  # the server answers once the client has gone
    async with second_call_queued(held) as (session, first, waiting):
        await session.close()
        results = await asyncio.gather(first, waiting, return_exceptions=True)
    assert not waiting.cancelled()
    assert isinstance(results[1], ClientClosedError)
    assert isinstance(results[0], APIConnectionError)
    assert held.orders == ["BC1"]


@pytest.mark.parametrize("retry", [RetryPolicy(), None], ids=["retried", "no-retries"])
async def test_a_request_on_the_wire_when_its_client_closes_may_have_taken_effect(
    retry: RetryPolicy | None,
) -> None:
    """Closing an owned session cuts off a request the server already holds: the call's
    error says it may have taken effect, whether the cut-off attempt is the last one (a
    connection error that may have reached the server) or a retry would have followed (the
    client is closed, after an uncertain attempt)."""
    held = Holding()
    async with serving(held.app()) as url:
        client = B2BClient(TOKEN, base_url=url, rate_limit=None, retry=retry)
        call = asyncio.create_task(create(client, "BC1"))
        await held.arrived.wait()
        await client.aclose()
        with pytest.raises(B2BError) as info:
            await call
        held.release.set()
    assert held.orders == ["BC1"]
    if retry is None:
        assert isinstance(info.value, APIConnectionError)
        assert info.value.may_have_reached_server
    else:
        assert isinstance(info.value, ClientClosedError)
        assert info.value.after_uncertain_attempt


async def test_a_request_its_client_cuts_off_by_closing_reports_no_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A request cut off because its client closed is not reported as a retry to come (no
    RetryScheduled, no "retrying" log line): the call ends with the ClientClosedError."""
    caplog.set_level(logging.INFO, logger="b2b_async")
    held, heard = Holding(), list[object]()
    set_hooks([heard.append])
    try:
        async with serving(held.app()) as url:
            client = B2BClient(TOKEN, base_url=url, rate_limit=None)
            call = asyncio.create_task(create(client, "BC1"))
            await held.arrived.wait()
            await client.aclose()
            with pytest.raises(ClientClosedError):
                await call
            held.release.set()
    finally:
        set_hooks(None)
    assert not [event for event in heard if isinstance(event, RetryScheduled)]
    assert "retrying" not in caplog.text


async def test_calls_waiting_for_a_place_when_the_client_closes_send_nothing() -> None:
    """With a borrowed session, which closing the client leaves open, calls still waiting
    for a place in flight fail with ClientClosedError, are never sent, nor counted as sent."""
    held = Holding()
    async with serving(held.app()) as url, aiohttp.ClientSession() as session:
        client = B2BClient(TOKEN, base_url=url, session=session, rate_limit=None, max_concurrency=1)
        calls = [asyncio.create_task(create(client, f"BC{n}")) for n in (1, 2, 3)]
        await held.arrived.wait()
        await client.aclose()
        held.release.set()
        results = await asyncio.gather(*calls, return_exceptions=True)
    assert results[0] == CreatedOrder("BC1")
    assert [type(result) for result in results[1:]] == [ClientClosedError, ClientClosedError]
    assert held.orders == ["BC1"]
    assert (client.stats.requests, client.stats.in_flight) == (1, 0)


#: One request an hour: after the first, a call waits for budget for an hour.
HOURLY = RateLimit(1, 3600.0)


async def test_closing_wakes_the_calls_waiting_for_budget() -> None:
    """Calls queued for an hour's budget fail with ClientClosedError when their client
    closes, at once, and send nothing; the call in flight still gets its answer."""
    held = Holding()
    async with serving(held.app()) as url, aiohttp.ClientSession() as session:
        client = B2BClient(TOKEN, base_url=url, session=session, rate_limit=RateLimiter(HOURLY))
        first = asyncio.create_task(create(client, "BC1"))
        await held.arrived.wait()
        queued = [asyncio.create_task(create(client, f"BC{n}")) for n in (2, 3)]
        await asyncio.sleep(0)  # both are waiting for budget now
        await client.aclose()
        results = await asyncio.wait_for(asyncio.gather(*queued, return_exceptions=True), 60)
        held.release.set()
        assert await first == CreatedOrder("BC1")
    assert [type(result) for result in results] == [ClientClosedError, ClientClosedError]
    assert held.orders == ["BC1"]


async def woken_between_attempts(status: int) -> tuple[ClientClosedError, int]:
    """Answer a create ``status`` with a Retry-After of 100 s, close the client once the retry
    is scheduled; return the error the call ends with and the requests it sent."""

    async def refuse(request: web.Request) -> web.Response:
        body = {"code": status, "message": "not now"}
        return web.json_response(body, status=status, headers={"Retry-After": "100"})

    scheduled = asyncio.Event()

    def hear(event: object) -> None:
        if isinstance(event, RetryScheduled):
            scheduled.set()

    set_hooks([hear])
    try:
        async with serving(answering(Holding.PATH, refuse)) as url:
            client = B2BClient(TOKEN, base_url=url, rate_limit=None)
            call = asyncio.create_task(create(client))
            await asyncio.wait_for(scheduled.wait(), 60)  # waiting before its second attempt
            await client.aclose()
            with pytest.raises(ClientClosedError) as info:
                await asyncio.wait_for(call, 60)
    finally:
        set_hooks(None)
    return info.value, client.stats.requests


async def test_closing_wakes_a_call_waiting_between_attempts() -> None:
    """A call waiting out a 503's Retry-After of 100 s fails with ClientClosedError when its
    client closes, without the second attempt; a 503 leaves nothing uncertain."""
    error, requests = await woken_between_attempts(503)
    assert requests == 1
    assert not error.after_uncertain_attempt


async def test_closing_a_view_wakes_its_own_calls_only() -> None:
    """A view's aclose fails the calls made on it; the client's own keep waiting until the
    client closes."""
    held = Holding()
    async with serving(held.app()) as url, aiohttp.ClientSession() as session:
        client = B2BClient(TOKEN, base_url=url, session=session, rate_limit=RateLimiter(HOURLY))
        view = client.with_options(priority="urgent")
        first = asyncio.create_task(create(client, "BC1"))
        await held.arrived.wait()
        on_view = asyncio.create_task(create(view, "BC2"))
        on_client = asyncio.create_task(create(client, "BC3"))
        await asyncio.sleep(0)
        await view.aclose()
        with pytest.raises(ClientClosedError):
            await asyncio.wait_for(on_view, 60)
        await asyncio.sleep(0)
        assert not on_client.done()
        await client.aclose()
        with pytest.raises(ClientClosedError):
            await asyncio.wait_for(on_client, 60)
        held.release.set()
        assert await first == CreatedOrder("BC1")


async def test_a_call_cancelled_as_its_client_closes_ends_cancelled() -> None:
    """Closing does not turn a cancellation the caller asked for into ClientClosedError."""
    held = Holding()
    async with serving(held.app()) as url, aiohttp.ClientSession() as session:
        client = B2BClient(TOKEN, base_url=url, session=session, rate_limit=RateLimiter(HOURLY))
        first = asyncio.create_task(create(client, "BC1"))
        await held.arrived.wait()
        queued = asyncio.create_task(create(client, "BC2"))
        await asyncio.sleep(0)
        queued.cancel()
        await client.aclose()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(queued, 60)
        held.release.set()
        assert await first == CreatedOrder("BC1")


async def test_a_call_woken_after_an_attempt_that_may_have_registered_says_so() -> None:
    """A 502 (the order may be registered), then a 100 s wait the client's closing cuts
    short: the ClientClosedError says the call may have taken effect."""
    error, requests = await woken_between_attempts(502)
    assert requests == 1
    assert error.after_uncertain_attempt


async def test_a_task_that_once_swallowed_a_cancellation_is_still_woken_as_closed() -> None:
    """A task left with a cancellation it caught and never took back still gets
    ClientClosedError when its client closes while it waits, not a CancelledError."""
    held = Holding()
    async with serving(held.app()) as url, aiohttp.ClientSession() as session:
        client = B2BClient(TOKEN, base_url=url, session=session, rate_limit=RateLimiter(HOURLY))
        first = asyncio.create_task(create(client, "BC1"))
        await held.arrived.wait()

        async def careless() -> CreatedOrder:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):  # swallowed, never uncancel()ed
                await asyncio.sleep(0)
            return await create(client, "BC2")

        queued = asyncio.create_task(careless())
        for _ in range(3):
            await asyncio.sleep(0)  # past its swallowed cancellation, waiting for budget
        await client.aclose()
        with pytest.raises(ClientClosedError):
            await asyncio.wait_for(queued, 60)
        held.release.set()
        assert await first == CreatedOrder("BC1")


async def create_under_ticket(
    client: B2BClient, order_id: str, tickets: BulkTickets, issued: list[BulkTicket] | None = None
) -> CreatedOrder:
    """A create as a bulk run makes it: under a ticket of the run's (added to ``issued``)."""
    with tickets.issue() as ticket:
        if issued is not None:
            issued.append(ticket)
        return await create(client, order_id)


async def test_withdrawing_a_bulk_order_wakes_its_wait_for_budget_and_sends_nothing() -> None:
    """An order queued for an hour's budget ends with OrderWithdrawnError when its run
    withdraws it, at once; the order whose request left gets its answer."""
    held, tickets, issued = Holding(), BulkTickets(), list[BulkTicket]()
    async with serving(held.app()) as url:
        async with B2BClient(TOKEN, base_url=url, rate_limit=RateLimiter(HOURLY)) as client:
            first = asyncio.create_task(create_under_ticket(client, "BC1", tickets))
            await held.arrived.wait()
            queued = asyncio.create_task(create_under_ticket(client, "BC2", tickets, issued))
            await asyncio.sleep(0)
            assert issued[0].on_withdraw is not None  # waiting for budget now
            tickets.withdraw_unsent()
            with pytest.raises(OrderWithdrawnError):
                await asyncio.wait_for(queued, 60)
            held.release.set()
            assert await first == CreatedOrder("BC1")
            assert client.stats.in_flight == 0
    assert held.orders == ["BC1"]


async def test_a_withdrawn_bulk_order_waits_for_nothing_and_sends_nothing() -> None:
    """Withdrawn before its call began, an order fails at its wait for budget, with budget
    to spare."""
    held, tickets = Holding(), BulkTickets()
    async with serving(held.app()) as url:
        async with B2BClient(TOKEN, base_url=url, rate_limit=RateLimiter(HOURLY)) as client:

            async def withdrawn_first() -> CreatedOrder:
                with tickets.issue():
                    tickets.withdraw_unsent()  # before its call begins
                    return await create(client, "BC1")

            with pytest.raises(OrderWithdrawnError):
                await asyncio.wait_for(withdrawn_first(), 60)
            assert client.stats.requests == 0
    assert held.orders == []


async def test_a_cancellation_besides_a_withdrawal_stays_a_cancellation() -> None:
    """A withdrawal does not turn a cancellation the caller asked for into an error."""
    held, tickets, issued = Holding(), BulkTickets(), list[BulkTicket]()
    async with serving(held.app()) as url:
        async with B2BClient(TOKEN, base_url=url, rate_limit=RateLimiter(HOURLY)) as client:
            first = asyncio.create_task(create(client, "BC1"))
            await held.arrived.wait()
            queued = asyncio.create_task(create_under_ticket(client, "BC2", tickets, issued))
            await asyncio.sleep(0)
            assert issued[0].on_withdraw is not None  # waiting for budget now
            queued.cancel()
            tickets.withdraw_unsent()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(queued, 60)
            held.release.set()
            assert await first == CreatedOrder("BC1")
    assert held.orders == ["BC1"]


async def test_a_bulk_order_waiting_for_a_place_in_flight_is_not_withdrawn_there() -> None:
    """A wait for a place in flight ends with an answer, not with the store's budget spent:
    without a limiter, an order withdrawn while it waits for a place is still sent."""
    held, tickets = Holding(), BulkTickets()
    async with serving(held.app()) as url:
        async with B2BClient(TOKEN, base_url=url, rate_limit=None, max_concurrency=1) as client:
            first = asyncio.create_task(create(client, "BC1"))  # the only place in flight
            await held.arrived.wait()
            queued = asyncio.create_task(create_under_ticket(client, "BC2", tickets))
            await asyncio.sleep(0)
            tickets.withdraw_unsent()
            held.release.set()
            assert await first == CreatedOrder("BC1")
            assert await asyncio.wait_for(queued, 60) == CreatedOrder("BC2")
    assert held.orders == ["BC1", "BC2"]


#: Module constants, so that no frame of the test itself holds them as a local.
LONG_TOKEN, STORE_HASH = "secret-token-of-thirty-two-chars", "storehash77"


@pytest.mark.parametrize(
    ("status", "body", "error_type"),
    [
        (401, b'{"code": 401, "data": {"errMsg": "bad token TOKEN"}}', AuthenticationError),
        (503, b'{"code": 503, "message": "busy"}', ServerError),
        (200, b'{"code": 200, "data": {"bcOrderId": "TOKEN"}}', ResponseDecodeError),
        (200, b"<html>not json: TOKEN</html>", ResponseDecodeError),
    ],
    ids=["refused", "server error", "data unfit", "no json"],
)
async def test_a_failed_call_holds_no_secret_in_its_frames_locals(
    status: int, body: bytes, error_type: type[B2BError]
) -> None:
    """A traceback shown with every frame's local variables (``pytest --showlocals``, an
    error tracker that captures them) repeats neither the token nor the store hash, even
    where the server echoed the token in its answer."""

    async def answer(request: web.Request) -> web.Response:
        echoed = body.replace(b"TOKEN", request.headers["X-Auth-Token"].encode())
        return web.Response(status=status, body=echoed, content_type="application/json")

    async with (
        serving(answering("/api/v3/io/orders", answer)) as url,
        B2BClient(
            LONG_TOKEN,
            store_hash=STORE_HASH,
            base_url=url,
            rate_limit=None,
            retry=None,
            check_extra_fields=False,
        ) as client,
    ):
        with pytest.raises(error_type) as info:
            await client.v3.orders.create(bc_order_id=1, customer_id=2)
    shown = traceback.TracebackException.from_exception(info.value, capture_locals=True)
    told = "".join(shown.format())
    assert re.search(r"^ +self = <b2b_async", told, re.MULTILINE)  # locals were shown
    assert LONG_TOKEN not in told
    assert STORE_HASH not in told


async def test_a_deadline_after_an_attempt_that_may_have_registered_says_so() -> None:
    """A 502 (the order may be registered), then a retry the call's deadline cuts off on
    the wire: the APITimeoutError says the retry may have reached the server, and that an
    earlier attempt may have too."""
    release = asyncio.Event()
    seen: list[str] = []

    async def fail_then_hold(request: web.Request) -> web.Response:
        seen.append((await request.json())["orderId"])
        if len(seen) == 1:
            return web.json_response({"code": 502, "message": "bad gateway"}, status=502)
        await release.wait()
        return web.json_response({"code": 200, "data": {"orderId": seen[-1]}})

    retry = RetryPolicy(attempts=3, initial_wait=0.01, deadline=3.0)
    async with (
        serving(answering(Holding.PATH, fail_then_hold)) as url,
        B2BClient(TOKEN, base_url=url, rate_limit=None, retry=retry) as client,
    ):
        with pytest.raises(APITimeoutError) as info:
            await create(client, "BC1")
        release.set()
    assert seen == ["BC1", "BC1"]
    assert info.value.may_have_reached_server
    assert info.value.after_uncertain_attempt


async def test_a_success_whose_body_code_is_429_closes_the_gate_as_a_429_does() -> None:
    """An HTTP 200 whose envelope code is 429 is a RateLimitError, and the limiter follows
    its wait hint as for an HTTP 429: every call of the client waits, and it is counted."""

    async def limited(request: web.Request) -> web.Response:
        body = {"code": 429, "message": "Too many requests"}
        return web.json_response(body, headers={"Retry-After": "30"})

    limiter = RateLimiter(RateLimit(100, 1.0))
    async with (
        serving(answering(Holding.PATH, limited)) as url,
        B2BClient(TOKEN, base_url=url, rate_limit=limiter, retry=None) as client,
    ):
        with pytest.raises(RateLimitError) as info:
            await create(client, "BC1")
    assert info.value.retry_after == 30
    assert client.stats.rate_limited == 1
    assert limiter.cooldown_remaining > 20


class GateLimiter:
    """A limiter that cannot foresee its waits: it grants each slot once ``gate`` opens,
    whatever the deadline."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.released: list[BudgetHint | None] = []

    async def acquire(
        self, priority: Priority = Priority.NORMAL, *, deadline: float | None = None
    ) -> float:
        await self.gate.wait()
        return 0.0

    async def release(self, hint: BudgetHint | None) -> None:
        self.released.append(hint)


async def test_a_slot_granted_after_the_call_must_have_left_sends_nothing() -> None:
    """A limiter that grants a slot after the moment the request must have left by (a V3
    window's, say: it cannot foresee waits, or the event loop stalled) gets the slot back
    unused, and the call ends with a NotSentTimeoutError: nothing was sent."""
    held = Holding()
    limiter = GateLimiter()
    async with (
        serving(held.app()) as url,
        B2BClient(TOKEN, base_url=url, rate_limit=limiter, timeout=5) as client,
    ):
        request = registration(NewOrder(1, 1, "BC1", 1))
        leave_by = time.monotonic() + 0.05
        call = asyncio.create_task(client._transport.send(request, deadline_at=leave_by))
        while time.monotonic() <= leave_by:  # noqa: ASYNC110 - until the moment has passed
            await asyncio.sleep(0.01)
        limiter.gate.set()
        with pytest.raises(NotSentTimeoutError, match="deadline"):
            await call
    assert held.orders == []
    assert limiter.released == [None]


async def test_cookies_an_answer_sets_are_neither_kept_nor_sent_back() -> None:
    """The API authenticates by header: cookies a server sets (as many as it likes, new
    names on every answer) are no state of the client's, so none is kept (the jar of the
    session the client owns would grow without bound) or sent with a later request."""
    cookies: list[str] = []

    async def set_cookies(request: web.Request) -> web.Response:
        cookies.extend(request.headers.getall("Cookie", []))
        order_id = (await request.json())["orderId"]
        body = {"code": 200, "data": {"orderId": order_id}, "message": "Success"}
        response = web.json_response(body)
        for index in range(50):
            response.set_cookie(f"{order_id}-{index}", "x" * 100)
        return response

    async with serving(answering(Holding.PATH, set_cookies)) as url:
        # A name, not an address: aiohttp's jar refuses the cookies of an IP address.
        base_url = url.replace("127.0.0.1", "localhost")
        async with B2BClient(TOKEN, base_url=base_url, rate_limit=None, retry=None) as client:
            for index in range(3):
                await client.orders.create(
                    company_id=1, customer_id=1, order_id=f"BC{index}", total_inc_tax=1
                )
    assert cookies == []


@pytest.mark.parametrize("chunked", [False, True], ids=["with Content-Length", "chunked"])
@pytest.mark.parametrize(("status", "error"), [(503, ServerError), (429, RateLimitError)])
async def test_an_error_answer_past_the_cap_is_the_error_its_status_names(
    status: int, error: type[APIError], chunked: bool
) -> None:
    """A proxy's 503 or 429 page larger than ``max_response_bytes`` is still a 503 or a 429,
    retried after its hint: the class of an error follows the status, whatever the body
    holds, and the body past the cap is not read."""
    answered = 0
    page = b"<html>" + b"x" * 4096 + b"</html>"
    refuse = body_answer(page, status=status, headers={"Retry-After": "0"}, chunked=chunked)

    async def unavailable_then_created(request: web.Request) -> web.StreamResponse:
        nonlocal answered
        answered += 1
        if answered > 1:
            body = {"code": 200, "data": {"orderId": "BC1"}, "message": "Success"}
            return web.json_response(body)
        return await refuse(request)

    async with serving(answering(Holding.PATH, unavailable_then_created)) as url:
        async with B2BClient(
            TOKEN, base_url=url, rate_limit=None, retry=QUICK, max_response_bytes=1024
        ) as client:
            created = await client.orders.create(
                company_id=1, customer_id=1, order_id="BC1", total_inc_tax=1
            )
        async with B2BClient(
            TOKEN, base_url=url, rate_limit=None, retry=None, max_response_bytes=1024
        ) as client:
            answered = 0
            with pytest.raises(error) as info:
                await client.orders.create(
                    company_id=1, customer_id=1, order_id="BC1", total_inc_tax=1
                )
    assert created == CreatedOrder("BC1")
    assert info.value.status == status
    assert info.value.retry_after == 0


# --- a limiter that forwards its arguments --------------------------------------------------


class ForwardingLimiter:
    """A user's limiter wrapping another, as an instrumented or logging one does: it takes
    whatever the protocol passes (``*args, **kwargs``) and hands it on."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[object, ...], dict[str, object]]] = []

    async def acquire(self, *args: Any, **kwargs: Any) -> float:
        self.calls.append((args, kwargs))
        return 0.0

    async def release(self, hint: BudgetHint | None) -> None:
        return None


async def test_a_limiter_taking_any_arguments_gets_the_priority_and_deadline() -> None:
    """A limiter whose ``acquire`` takes ``*args, **kwargs`` follows the protocol for a type
    checker, so it is asked with the call's priority and deadline, not as a 0.1 limiter."""
    limiter = ForwardingLimiter()
    acquire = _transport.budget_acquirer(limiter)
    await acquire(Priority.URGENT, 2.5)
    assert limiter.calls == [((Priority.URGENT,), {"deadline": 2.5})]


class KeywordPriorityLimiter(ForwardingLimiter):
    """A limiter whose ``priority`` is keyword-only: it names the protocol's arguments but
    cannot take them as the transport passes them."""

    async def acquire(
        self, *, priority: Priority = Priority.NORMAL, deadline: float | None = None
    ) -> float:
        return 0.0


class PriorityOnlyLimiter(ForwardingLimiter):
    """A limiter that takes a priority and no deadline."""

    async def acquire(self, priority: Priority) -> float:
        return 0.0


@pytest.mark.parametrize("limiter", [KeywordPriorityLimiter(), PriorityOnlyLimiter()])
def test_a_limiter_that_cannot_take_the_protocol_s_arguments_is_refused_at_once(
    limiter: ForwardingLimiter,
) -> None:
    """A limiter that names ``priority`` or ``deadline`` but cannot take them as passed is
    refused when the client is built, naming its signature, rather than asked with no
    arguments, which would drop priorities and deadlines without a word."""
    with pytest.raises(
        TypeError, match=re.escape("acquire must take (priority, *, deadline=None)")
    ):
        B2BClient(TOKEN, rate_limit=limiter)


class HintlessLimiter(ForwardingLimiter):
    """A limiter whose ``release`` takes no hint."""

    async def release(self) -> None:  # type: ignore[override]
        return None


class KeywordHintLimiter(ForwardingLimiter):
    """A limiter whose ``release`` takes the hint by keyword only."""

    async def release(self, *, hint: BudgetHint | None) -> None:  # type: ignore[override]
        return None


@pytest.mark.parametrize("limiter", [HintlessLimiter(), KeywordHintLimiter()])
async def test_a_limiter_whose_release_cannot_take_the_hint_is_refused_before_sending(
    server: SandboxServer, limiter: ForwardingLimiter
) -> None:
    """A limiter whose ``release`` cannot take ``(hint)`` is refused when the client is built,
    naming its signature, rather than failing each call once its order is registered."""
    with pytest.raises(TypeError, match=re.escape("release must take (hint)")):
        client_for(server, rate_limit=limiter)
    assert server.requests == []


class SilentLimiter:
    """A limiter whose ``acquire`` says no number of seconds waited (it returns nothing, or
    a NaN), counting what it granted and what came back."""

    def __init__(self, waited: float | None) -> None:
        self.waited = waited
        self.granted = 0
        self.released = 0

    async def acquire(
        self, priority: Priority = Priority.NORMAL, *, deadline: float | None = None
    ) -> Any:
        self.granted += 1
        return self.waited

    async def release(self, hint: BudgetHint | None) -> None:
        self.released += 1


@pytest.mark.parametrize("waited", [None, float("nan"), -1.0])
async def test_a_limiter_that_says_no_wait_still_gets_its_budget_back(
    server: SandboxServer, waited: float | None
) -> None:
    """A limiter's ``acquire`` that returns no wait grants the call, and gets its budget back."""
    limiter = SilentLimiter(waited)
    async with client_for(server, rate_limit=limiter) as client:
        assert await create(client) == CreatedOrder("BC1")
    assert (limiter.granted, limiter.released) == (1, 1)
    assert client.stats.budget_wait == 0.0


# -- the token in no frame of a call cut off on the wire ----------------------------------------

V2_ONE = V2_CREATE.format(company=1, customer=1)


async def hang(request: web.Request) -> web.Response:
    await asyncio.sleep(30)
    return web.json_response({"code": 200, "data": {"orderId": "BC1"}})


async def within_timeout(call: Awaitable[Any]) -> Any:
    async with asyncio.timeout(0.2):
        return await call


async def within_wait_for(call: Awaitable[Any]) -> Any:
    return await asyncio.wait_for(call, 0.2)


@pytest.mark.parametrize("borrowed", [False, True], ids=["owned session", "borrowed session"])
@pytest.mark.parametrize("bound", [within_timeout, within_wait_for], ids=["timeout", "wait_for"])
async def test_a_call_the_caller_times_out_on_the_wire_holds_no_token_in_its_frames(
    bound: Callable[[Awaitable[Any]], Awaitable[Any]], borrowed: bool
) -> None:
    """``asyncio.timeout`` or ``wait_for`` around a call cancels it while aiohttp waits for
    the answer: the TimeoutError's context is that cancellation, whose traceback goes down
    into aiohttp's frames. None of them may show the token."""
    session = aiohttp.ClientSession() if borrowed else None
    try:
        async with (
            serving(answering(V2_ONE, hang), cancel_handlers=True) as url,
            B2BClient(TOKEN, base_url=url, rate_limit=None, retry=None, session=session) as client,
        ):
            with pytest.raises(TimeoutError) as info:
                await bound(create(client))
    finally:
        if session is not None:
            await session.close()
    assert holders(info.value, TOKEN) == []
    assert TOKEN not in rendered(info.value)


async def test_a_call_past_its_deadline_on_the_wire_holds_no_token_in_its_chain() -> None:
    """The policy's deadline cuts an attempt on the wire: the APITimeoutError's suppressed
    context still leads to the cancellation, which must hold no token either (a tool that
    walks ``__context__`` whatever ``__suppress_context__`` says finds it)."""
    async with (
        serving(answering(V2_ONE, hang), cancel_handlers=True) as url,
        B2BClient(TOKEN, base_url=url, rate_limit=None, retry=RetryPolicy(deadline=0.2)) as client,
    ):
        with pytest.raises(APITimeoutError) as info:
            await create(client)
    assert holders(info.value, TOKEN) == []


# --- frame locals of a failure after an answer's head arrived ----------------------------------


async def echo_then_cut(request: web.Request) -> web.StreamResponse:
    """A head that echoes the token, then a body cut short."""
    response = web.StreamResponse(
        headers={"X-Echo": request.headers["authToken"], "Content-Length": "1000"}
    )
    await response.prepare(request)
    await response.write(b'{"code": 200, ')
    assert request.transport is not None
    request.transport.close()
    return response


async def echo_then_stall(request: web.Request) -> web.StreamResponse:
    """A head that echoes the token, then a body that stalls past the attempt's timeout."""
    response = web.StreamResponse(
        headers={"X-Echo": request.headers["authToken"], "Content-Length": "1000"}
    )
    await response.prepare(request)
    await response.write(b'{"code": 200, ')
    await asyncio.sleep(30)
    return response


async def echo_oversized(request: web.Request) -> web.Response:
    """A success that echoes the token in a header, with a body past the size cap."""
    return web.Response(
        body=b"x" * 5000,
        headers={"X-Echo": request.headers["authToken"]},
        content_type="application/json",
    )


@pytest.mark.parametrize(
    ("handler", "error_type", "cap"),
    [
        (echo_then_cut, APIConnectionError, 4096),
        (echo_then_stall, APITimeoutError, 4096),
        (echo_oversized, ResponseDecodeError, 100),
    ],
    ids=["body cut", "body stalls", "body past the cap"],
)
async def test_an_answer_head_echoing_the_token_stays_out_of_the_frames(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    error_type: type[B2BError],
    cap: int,
) -> None:
    """aiohttp's response object prints the answer's headers in its ``repr``: no frame of a
    failed call may hold it, where a server echoed the token in a header."""
    async with (
        serving(answering(V2_ONE, handler), cancel_handlers=True) as url,
        B2BClient(
            TOKEN, base_url=url, rate_limit=None, retry=None, timeout=0.5, max_response_bytes=cap
        ) as client,
    ):
        with pytest.raises(error_type) as info:
            await create(client)
    assert holders(info.value, TOKEN) == []
    assert TOKEN not in rendered(info.value)


#: The size of a large error page, as a proxy's 503 may be.
LARGE_PAGE = 256 * 1024


async def large_503(request: web.Request) -> web.Response:
    """A 503 with a large page."""
    return web.Response(status=503, text="x" * LARGE_PAGE, content_type="text/html")


@pytest.mark.parametrize("attempts", [1, 3])
async def test_kept_errors_hold_none_of_the_bodies_they_were_read_from(attempts: int) -> None:
    """A service that keeps its calls' errors (a report, a list of failures to retry) keeps
    none of their answers' bodies alive: five failed calls, however many attempts each
    made, hold no body in any frame of their errors' chains."""
    retry = RetryPolicy(attempts=attempts, initial_wait=0.001, max_wait=0.001)
    errors: list[BaseException] = []
    async with (
        serving(answering(V2_ONE, large_503)) as url,
        B2BClient(TOKEN, base_url=url, rate_limit=None, retry=retry) as client,
    ):
        for number in range(5):
            with pytest.raises(ServerError) as info:
                await create(client, f"BC{number}")
            errors.append(info.value)
    assert [held for error in errors for held in bodies(error, LARGE_PAGE)] == []


async def test_a_failed_attempt_leaves_no_reference_cycle() -> None:
    """An error answer's error is not kept alive by its own traceback: after five failed
    calls, and the errors dropped, the cyclic garbage collector finds none of them, so no
    answer waits for it to be freed."""
    async with (
        serving(answering(V2_ONE, large_503)) as url,
        B2BClient(TOKEN, base_url=url, rate_limit=None, retry=None) as client,
    ):
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector finds stays in gc.garbage
        try:
            for number in range(5):
                with pytest.raises(ServerError):
                    await create(client, f"BC{number}")
            gc.collect()
            left_over = [found for found in gc.garbage if isinstance(found, B2BError)]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    assert left_over == []


async def test_a_call_cancelled_while_it_reads_the_body_holds_no_echoed_token() -> None:
    """The caller's timeout, while the body is read: the aiohttp response (with the echoed
    header) is in no frame of the cancellation either."""
    async with (
        serving(answering(V2_ONE, echo_then_stall), cancel_handlers=True) as url,
        B2BClient(TOKEN, base_url=url, rate_limit=None, retry=None) as client,
    ):
        with pytest.raises(TimeoutError) as info:
            await within_timeout(create(client))
    assert holders(info.value, TOKEN) == []


def caller_failure() -> None:
    """Fail as the caller's own code may, before it makes a call."""
    raise LookupError("the caller's own failure")


async def failing_while_handling(client: B2BClient) -> tuple[BaseException, BaseException]:
    """The error the caller handles, and the call's failure, made while it handles it."""
    try:
        caller_failure()
    except LookupError as handled:
        try:
            await create(client)
        except ResponseDecodeError as failure:
            return handled, failure
    raise AssertionError("the call did not fail")


async def test_the_error_a_caller_handles_keeps_its_traceback_when_its_call_fails() -> None:
    """A failed exchange drops its own frames, never those of the error its caller handles."""
    async with (
        serving(answering(V2_ONE, echo_oversized)) as url,
        B2BClient(
            TOKEN, base_url=url, rate_limit=None, retry=None, max_response_bytes=100
        ) as client,
    ):
        handled, failure = await failing_while_handling(client)
    assert failure.__context__ is handled
    assert "caller_failure" in "".join(traceback.format_tb(handled.__traceback__))


# --- the size cap, at its edge and for bodies that do not say their size --------------------

#: The headers of a JSON answer.
JSON_TYPE: Mapping[str, str] = {"Content-Type": "application/json"}
#: A success whose body is 4 KiB of JSON: its message is padding that compresses to little.
PADDED = json.dumps(
    {"code": 200, "data": {"orderId": "BC1"}, "meta": {}, "message": " " * 4096}
).encode()


def body_answer(
    body: bytes,
    *,
    status: int = 200,
    headers: Mapping[str, str] = JSON_TYPE,
    chunked: bool = False,
    gzipped: bool = False,
) -> Handler:
    """A handler that answers ``body`` with ``status`` and ``headers``: with its
    Content-Length, or streamed without one, gzip-compressed or not."""

    async def answer(request: web.Request) -> web.StreamResponse:
        sent = gzip.compress(body) if gzipped else body
        encoding = {"Content-Encoding": "gzip"} if gzipped else {}
        response = web.StreamResponse(status=status, headers={**headers, **encoding})
        if not chunked:
            response.content_length = len(sent)
        await response.prepare(request)
        await response.write(sent)
        await response.write_eof()
        return response

    return answer


async def create_against(handler: Handler, max_response_bytes: int) -> CreatedOrder:
    """Create BC1, once, against a loopback server answering with ``handler``."""
    async with (
        serving(answering(Holding.PATH, handler)) as url,
        B2BClient(
            TOKEN,
            base_url=url,
            rate_limit=None,
            retry=None,
            max_response_bytes=max_response_bytes,
        ) as client,
    ):
        return await create(client)


@pytest.mark.parametrize("chunked", [False, True], ids=["with Content-Length", "chunked"])
async def test_a_body_exactly_as_long_as_the_cap_is_read(chunked: bool) -> None:
    """An answer whose body is exactly ``max_response_bytes`` long is read and decoded."""
    handler = body_answer(PADDED, chunked=chunked)
    assert await create_against(handler, len(PADDED)) == CreatedOrder("BC1")
    with pytest.raises(ResponseDecodeError, match="cap"):
        await create_against(handler, len(PADDED) - 1)


@pytest.mark.parametrize("chunked", [False, True], ids=["with Content-Length", "chunked"])
async def test_a_compressed_body_that_expands_past_the_cap_is_refused(chunked: bool) -> None:
    """A gzip success whose compressed body is well within ``max_response_bytes`` but whose
    decompressed body is past it is refused, as the same body sent plain is."""
    handler = body_answer(PADDED, chunked=chunked, gzipped=True)
    assert len(gzip.compress(PADDED)) < 1024 < len(PADDED)
    with pytest.raises(ResponseDecodeError, match="cap"):
        await create_against(handler, 1024)
    assert await create_against(handler, len(PADDED)) == CreatedOrder("BC1")


async def test_a_success_streamed_past_the_cap_is_refused_before_it_ends() -> None:
    """A success streamed without a Content-Length is refused as soon as its body passes
    ``max_response_bytes``, while the server has not yet finished it: no more of it is
    read than the cap and a chunk."""
    finish = asyncio.Event()

    async def unending(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers=JSON_TYPE)
        await response.prepare(request)
        await response.write(b" " * (4 * _transport.CHUNK))
        await finish.wait()  # the rest never comes while the call lasts
        return response

    app = answering(Holding.PATH, unending)
    async with (
        serving(app, cancel_handlers=True) as url,
        B2BClient(
            TOKEN,
            base_url=url,
            rate_limit=None,
            retry=None,
            timeout=30.0,
            max_response_bytes=_transport.CHUNK,
        ) as client,
    ):
        try:
            with pytest.raises(ResponseDecodeError, match="cap"):
                await create(client)
        finally:
            finish.set()


def test_a_call_on_another_event_loop_is_refused_before_it_asks_for_budget() -> None:
    """A call made under an event loop other than the one its client first sent on raises
    ClientClosedError before it asks the limiter for budget."""
    limiter = ForwardingLimiter()
    first = asyncio.new_event_loop()
    with unanswered_port() as url:
        client = B2BClient(TOKEN, base_url=url, timeout=0.5, retry=None, rate_limit=limiter)

        async def refused() -> None:
            with pytest.raises(ClientClosedError, match="event loop it was first used in"):
                await create(client)

        try:
            with pytest.raises(APITimeoutError):
                first.run_until_complete(create(client))
            asyncio.run(refused())
        finally:
            first.run_until_complete(client.aclose())
            first.close()
    assert len(limiter.calls) == 1


async def test_a_call_whose_start_by_has_passed_sends_nothing(server: SandboxServer) -> None:
    """A call whose ``deadline_at`` has passed before it could be sent raises
    NotSentTimeoutError and sends nothing, with no limiter to wait for."""
    async with client_for(server) as client:
        request = registration(NewOrder(1, 1, "BC1", 1))
        with pytest.raises(NotSentTimeoutError, match="before it could be sent"):
            await client._transport.send(request, deadline_at=time.monotonic() - 1.0)
    assert len(server.requests) == 0


async def test_a_call_whose_start_by_passes_while_it_waits_for_a_place_says_so() -> None:
    """A call whose ``deadline_at`` passes while it waits for a place in flight raises
    NotSentTimeoutError saying so, and sends nothing."""
    held = Holding()
    async with serving(held.app()) as url:
        async with B2BClient(TOKEN, base_url=url, rate_limit=None, max_concurrency=1) as client:
            holding = asyncio.create_task(create(client, "BC1"))  # the only place in flight
            await held.arrived.wait()
            request = registration(NewOrder(1, 1, "BC2", 1))
            try:
                with pytest.raises(NotSentTimeoutError, match="waited for a place in flight"):
                    await client._transport.send(request, deadline_at=time.monotonic() + 0.1)
            finally:
                held.release.set()
            assert await holding == CreatedOrder("BC1")
    assert held.orders == ["BC1"]


async def test_a_call_whose_client_closes_on_the_wire_waits_out_no_backoff() -> None:
    """A call whose client closes while its request is on the wire ends with
    ClientClosedError at once, without waiting out the backoff before a next attempt."""
    held = Holding()
    slow = RetryPolicy(attempts=3, initial_wait=300.0, max_wait=300.0)
    async with serving(held.app()) as url:
        client = B2BClient(TOKEN, base_url=url, rate_limit=None, retry=slow)
        call = asyncio.create_task(create(client, "BC1"))
        await held.arrived.wait()
        await client.aclose()
        try:
            with pytest.raises(ClientClosedError):
                await asyncio.wait_for(call, 60)
        finally:
            held.release.set()
    assert held.orders == ["BC1"]


async def test_a_429_without_a_wait_hint_still_closes_the_gate() -> None:
    """An HTTP 429 that names no wait still holds every call of the limiter back for a
    while."""

    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"code": 429, "message": "slow down"}, status=429)

    limiter = RateLimiter(RateLimit())
    async with (
        serving(answering(Holding.PATH, refuse)) as url,
        B2BClient(TOKEN, base_url=url, rate_limit=limiter, retry=None) as client,
    ):
        with pytest.raises(RateLimitError):
            await create(client)
    assert limiter.cooldown_remaining > 0


async def test_a_success_past_the_cap_is_refused_with_its_status() -> None:
    """The ResponseDecodeError refusing a success past ``max_response_bytes`` carries the
    answer's HTTP status."""
    with pytest.raises(ResponseDecodeError, match="cap") as info:
        await create_against(body_answer(PADDED, status=201), len(PADDED) - 1)
    assert info.value.status == 201


async def hook_failure_of(
    refuse: Callable[..., Awaitable[None]],
) -> pytest.ExceptionInfo[RuntimeError]:
    """The RuntimeError a create fails with when a borrowed session's request-start trace
    hook is ``refuse``, which raises it."""
    tracing = aiohttp.TraceConfig()
    tracing.on_request_start.append(refuse)
    session = aiohttp.ClientSession(trace_configs=[tracing])
    try:
        with unanswered_port() as url:
            async with B2BClient(
                TOKEN, base_url=url, session=session, rate_limit=None, retry=None
            ) as client:
                with pytest.raises(RuntimeError, match="hook failed") as info:
                    await create(client)
    finally:
        await session.close()
    return info


async def test_a_runtime_error_inside_aiohttp_on_an_open_session_reaches_the_caller() -> None:
    """A RuntimeError raised inside aiohttp while the session is open (a trace hook's, say)
    reaches the caller as it is, not as a closed client, and without the frames that hold
    the request's headers."""

    async def refuse(*_: object) -> None:
        raise RuntimeError("the hook failed")

    info = await hook_failure_of(refuse)
    assert holders(info.value, TOKEN) == []


async def test_a_call_its_caller_cancels_as_the_borrowed_session_closes_ends_cancelled() -> None:
    """A call waiting for a connection of a borrowed session, cancelled by its caller just
    before the session closes, ends cancelled, not with a ClientClosedError."""
    async with second_call_queued(Holding()) as (session, first, waiting):
        waiting.cancel()
        await session.close()
        await asyncio.gather(first, waiting, return_exceptions=True)
    assert waiting.cancelled()


class TimingOutLimiter(ForwardingLimiter):
    """A limiter whose budget store does not answer in time: its ``acquire`` raises a bare
    TimeoutError of its own, long before any deadline of the call."""

    async def acquire(self, *args: Any, **kwargs: Any) -> float:
        raise TimeoutError("the budget store did not answer")


@pytest.mark.parametrize("deadline", [None, 60.0], ids=["no deadline", "a deadline"])
async def test_a_limiters_own_timeout_is_not_reported_as_the_calls_deadline(
    deadline: float | None,
) -> None:
    """A TimeoutError a limiter raises reaches the caller as that error, with or without a
    deadline in the retry policy: it is not reported as the call's deadline passing."""
    policy = RetryPolicy(deadline=deadline)
    with unanswered_port() as url:
        async with B2BClient(
            TOKEN, base_url=url, rate_limit=TimingOutLimiter(), retry=policy
        ) as client:
            with pytest.raises(TimeoutError, match="budget store") as info:
                await create(client)
    assert not isinstance(info.value, APITimeoutError)


async def test_a_borrowed_session_raising_for_status_still_gives_the_answers_error() -> None:
    """A borrowed session made with ``raise_for_status=True`` does not turn an error answer
    into a connection failure: the call raises the APIError its status and body name."""
    body = json.dumps({"code": 404, "message": "order not found", "data": {}}).encode()
    session = aiohttp.ClientSession(raise_for_status=True)
    try:
        async with (
            serving(answering(Holding.PATH, body_answer(body, status=404))) as url,
            B2BClient(TOKEN, base_url=url, session=session, rate_limit=None, retry=None) as client,
        ):
            with pytest.raises(APIError, match="order not found") as info:
                await create(client)
    finally:
        await session.close()
    assert info.value.status == 404


# -- the helpers around the request path ------------------------------------------------------


async def test_an_error_answer_without_a_message_is_named_by_its_reason_phrase() -> None:
    """An error answer whose body holds no message raises the error its status names, with
    the answer's HTTP reason phrase as its message."""

    async def overloaded(request: web.Request) -> web.Response:
        return web.Response(status=503, reason="Upstream Overloaded")

    async with (
        serving(answering(Holding.PATH, overloaded)) as url,
        B2BClient(TOKEN, base_url=url, rate_limit=None, retry=None) as client,
    ):
        with pytest.raises(ServerError, match="Upstream Overloaded") as info:
            await create(client)
    assert info.value.status == 503


async def test_a_path_as_long_as_the_url_memory_takes_is_remembered(
    server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A path of exactly MAX_TARGET_PATH characters is remembered; a longer one is not."""
    path = "/api/v2/io/companies/users/{customer}/orders"
    monkeypatch.setattr(_transport, "MAX_TARGET_PATH", len(path.format(customer=1)))
    async with client_for(server) as client:
        for customer in (1, 10):
            await client.orders.create(
                customer_id=customer, order_id=f"BC{customer}", total_inc_tax=1
            )
        assert list(client._transport._targets) == [("POST", path.format(customer=1))]
    assert server.registrations("BC10") == 1


async def test_a_start_by_sooner_than_the_policy_s_deadline_bounds_the_call(
    server: SandboxServer,
) -> None:
    """With a policy deadline too, a ``deadline_at`` that has passed still sends nothing:
    the sooner of the two bounds when the call may start."""
    async with client_for(server, retry=RetryPolicy(deadline=60.0)) as client:
        request = registration(NewOrder(1, 1, "BC1", 1))
        with pytest.raises(NotSentTimeoutError, match="before it could be sent"):
            await client._transport.send(request, deadline_at=time.monotonic() - 1.0)
    assert len(server.requests) == 0


class WeightedLimiter:
    """A limiter whose ``acquire`` wants an argument of its own, named neither ``priority``
    nor ``deadline``."""

    async def acquire(self, weight: int) -> float:
        return 0.0

    async def release(self, hint: BudgetHint | None) -> None:
        return None


def test_a_limiter_whose_acquire_wants_its_own_argument_is_refused_at_once() -> None:
    """A limiter whose ``acquire`` can be called neither as the protocol says nor without
    arguments is refused when the client is built, naming its signature."""
    with pytest.raises(TypeError, match=r"WeightedLimiter\.acquire takes \(weight"):
        B2BClient(TOKEN, rate_limit=WeightedLimiter())  # type: ignore[arg-type]


async def test_the_error_an_aiohttp_failure_was_raised_from_holds_no_token_in_its_frames() -> None:
    """A failure inside aiohttp raised from another error (a trace hook's own) reaches the
    caller without the frames, of either error, that hold the request's headers."""

    async def refuse(*_: object) -> None:
        try:
            raise ValueError("the hook's check failed")
        except ValueError as exc:
            raise RuntimeError("the hook failed") from exc

    info = await hook_failure_of(refuse)
    assert isinstance(info.value.__cause__, ValueError)
    assert holders(info.value, TOKEN) == []


class HostileResolver(aiohttp.abc.AbstractResolver):
    """A resolver whose failure's words carry a terminal escape and a bidirectional override,
    as a name server's answer relayed by the system might."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        raise OSError(f"no such host {host}\x1b[2J\u202e")

    async def close(self) -> None:
        return None


async def test_a_connection_that_never_opened_is_shown_on_one_line_with_its_controls_escaped() -> (
    None
):
    """The system's words for a connection that never opened follow the one-line rule too:
    their control characters reach the error written as escapes."""
    connector = aiohttp.TCPConnector(resolver=HostileResolver())
    async with aiohttp.ClientSession(connector=connector) as session:
        async with B2BClient(
            TOKEN, base_url="https://api.example.test", session=session, retry=None
        ) as client:
            with pytest.raises(APIConnectionError) as info:
                await create(client)
    assert "could not connect: no such host api.example.test\\x1b[2J\\u202e" in str(info.value)
    assert not {"\x1b", "\u202e"} & set(str(info.value))


async def test_a_client_keeps_no_record_of_the_waits_that_have_ended(
    server: SandboxServer,
) -> None:
    """Each wait a call makes (for budget, between attempts) is forgotten once it ends: a
    long-lived client's record of its waits does not grow with its calls."""
    async with client_for(server, rate_limit=RateLimit(requests=100, per=1.0)) as client:
        for customer in (1, 2, 3):
            await create(client, f"BC{customer}")
        assert client._transport._pool.waits._waiting == {}
    assert server.registrations("BC3") == 1


@pytest.mark.parametrize(
    ("cap", "asked", "workers"),
    [(3, None, 3), (None, None, DEFAULT_MAX_CONCURRENCY), (3, 5, 5), (None, 2, 2)],
)
async def test_a_bulk_run_has_the_workers_asked_for_else_the_in_flight_cap(
    cap: int | None, asked: int | None, workers: int
) -> None:
    """A bulk run's workers are its ``concurrency``; without one, the client's
    ``max_concurrency``, and without that the default cap."""
    async with B2BClient(TOKEN, rate_limit=None, max_concurrency=cap) as client:
        assert client._transport.bulk_workers(asked) == workers


@pytest.mark.parametrize(("cap", "pool"), [(3, 3), (None, _transport.UNCAPPED_POOL)])
async def test_an_owned_session_holds_as_many_connections_as_the_cap(
    server: SandboxServer, cap: int | None, pool: int
) -> None:
    """The session a client opens holds ``max_concurrency`` connections, or UNCAPPED_POOL
    without a cap."""
    async with client_for(server, max_concurrency=cap) as client:
        await create(client)
        session = client._transport.open()
        assert session.connector is not None
        assert session.connector.limit == pool


def aiohttp_request() -> RequestInfo:
    """aiohttp's description of a request, as its response errors carry it."""
    return RequestInfo(URL("http://h/"), "GET", CIMultiDictProxy(CIMultiDict()), URL("http://h/"))


@pytest.mark.parametrize(
    ("failure", "kind", "reached"),
    [
        (aiohttp.ConnectionTimeoutError(), APITimeoutError, False),
        (TimeoutError(), APITimeoutError, True),
        (aiohttp.ClientConnectorError(None, OSError(111, "refused")), APIConnectionError, False),  # type: ignore[arg-type]
        (
            aiohttp.ClientHttpProxyError(aiohttp_request(), (), status=407, message="Proxy"),
            APIConnectionError,
            False,
        ),
        (aiohttp.ServerDisconnectedError(), APIConnectionError, True),
    ],
    ids=["connect timeout", "read timeout", "refused", "proxy refusal", "disconnected"],
)
def test_each_transport_failure_names_its_request_and_whether_it_may_have_left(
    failure: BaseException, kind: type[TransportError], reached: bool
) -> None:
    """Each aiohttp or timeout failure becomes the TransportError of its kind, naming the
    request's method and URL, and saying whether the request may have reached the server."""
    url = "https://api.example.test/api/v2/io/orders"
    error = _transport.transport_error(failure, CallInfo("POST", url, ()))
    assert type(error) is kind
    assert (error.method, error.url, error.may_have_reached_server) == ("POST", url, reached)


class HintKeepingLimiter(ForwardingLimiter):
    """A limiter that grants at once and keeps every hint handed back."""

    def __init__(self) -> None:
        super().__init__()
        self.hints: list[BudgetHint | None] = []

    async def release(self, hint: BudgetHint | None) -> None:
        self.hints.append(hint)


async def hint_of_a_429(
    status: int, headers: dict[str, str], retry: RetryPolicy | None = None
) -> BudgetHint | None:
    """The hint a limiter gets back from a create answered ``status``, with a body code of
    429, and ``headers``."""

    async def refuse(request: web.Request) -> web.Response:
        body = {"code": 429, "message": "slow down"}
        return web.json_response(body, status=status, headers=headers)

    limiter = HintKeepingLimiter()
    async with (
        serving(answering(Holding.PATH, refuse)) as url,
        B2BClient(TOKEN, base_url=url, rate_limit=limiter, retry=retry) as client,
    ):
        with pytest.raises(RateLimitError):
            await create(client)
    [hint] = limiter.hints
    return hint


@pytest.mark.parametrize("status", [200, 429])
async def test_a_429_hands_the_limiter_its_budget_headers_and_its_wait(status: int) -> None:
    """A 429, an HTTP one or a success whose body code is 429, hands the limiter its budget
    headers with its Retry-After, or with UNHINTED_COOLDOWN when it names no wait."""
    budget = {"X-Rate-Limit-Requests-Left": "0"}
    hinted = await hint_of_a_429(status, {**budget, "Retry-After": "5"})
    unhinted = await hint_of_a_429(status, budget)
    assert hinted == BudgetHint(remaining=0, retry_after=5.0)
    assert unhinted == BudgetHint(remaining=0, retry_after=UNHINTED_COOLDOWN)


async def test_a_429_s_wait_reaches_the_limiter_bounded_by_the_longest_wait_obeyed() -> None:
    """The wait a 429 asks for reaches the limiter bounded by the policy's
    ``max_retry_after``, or by DEFAULT_MAX_RETRY_AFTER without a policy."""
    policy = RetryPolicy(attempts=1, max_retry_after=2.0)
    assert await hint_of_a_429(429, {"Retry-After": "500"}, policy) == BudgetHint(retry_after=2.0)
    assert await hint_of_a_429(429, {"Retry-After": "500"}) == BudgetHint(
        retry_after=DEFAULT_MAX_RETRY_AFTER
    )


async def test_calls_one_after_another_share_one_kept_alive_connection() -> None:
    """A connection back in the pool that holds nothing unasked serves the next call: calls
    made one after another all go over one connection."""
    peers: list[object] = []

    async def note_peer(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        order_id = (await request.json())["orderId"]
        return web.json_response({"code": 200, "data": {"orderId": order_id}, "meta": {}})

    async with (
        serving(answering(Holding.PATH, note_peer)) as url,
        B2BClient(TOKEN, base_url=url, rate_limit=None, retry=None) as client,
    ):
        for number in (1, 2, 3):
            await create(client, f"BC{number}")
    assert len(peers) == 3
    assert len(set(peers)) == 1


async def test_a_call_on_a_closed_borrowed_session_is_refused_before_it_asks_for_budget() -> None:
    """A call on a client whose borrowed session its owner closed raises ClientClosedError
    naming that session, before it asks the limiter for budget or counts a request."""
    limiter = ForwardingLimiter()
    with unanswered_port() as url:
        async with aiohttp.ClientSession() as session:
            client = B2BClient(TOKEN, base_url=url, session=session, rate_limit=limiter)
        try:
            with pytest.raises(ClientClosedError, match="borrowed aiohttp session is closed"):
                await create(client)
        finally:
            await client.aclose()
    assert limiter.calls == []
    assert client.stats.requests == 0


async def test_a_success_hands_the_limiter_its_budget_headers_and_no_wait() -> None:
    """A success hands the limiter the budget its headers state, and no wait to cool down."""

    async def registered(request: web.Request) -> web.Response:
        body = {"code": 200, "data": {"orderId": "BC1"}, "meta": {}}
        return web.json_response(body, headers={"X-Rate-Limit-Requests-Left": "7"})

    limiter = HintKeepingLimiter()
    async with (
        serving(answering(Holding.PATH, registered)) as url,
        B2BClient(TOKEN, base_url=url, rate_limit=limiter, retry=None) as client,
    ):
        assert await create(client) == CreatedOrder("BC1")
    assert limiter.hints == [BudgetHint(remaining=7)]


@pytest.mark.parametrize(
    ("failure", "words"),
    [
        (
            http_exceptions.ContentLengthError("Not enough data to satisfy content length header."),
            "400, message: Not enough data to satisfy content length header",
        ),
        (
            http_exceptions.BadHttpMessage("Unexpected data after the answer, b'tok-123'"),
            "400, message: Unexpected data after the answer",
        ),
        (
            http_exceptions.BadHttpMessage("Invalid header value char :\n  b'tok-123'"),
            "400, message: Invalid header value char",
        ),
        (aiohttp.ClientPayloadError("400, message='Not enough data: tok-123'"), "400"),
        (
            http_exceptions.BadHttpMessage('Bad status line "tok-123"'),
            "400, message: Bad status line",
        ),
    ],
    ids=["full stop", "comma", "spaced colon", "message= of a quoted message", "double quote"],
)
def test_failure_words_are_one_line_without_the_punctuation_that_led_to_a_quote(
    failure: BaseException, words: str
) -> None:
    """aiohttp's words are kept on one line, and end without the full stop, comma, colon or
    space that closed them or led into what it quoted (a ``message=`` included)."""
    assert _transport.failure_words(failure) == words


async def test_a_read_timeout_the_caller_set_may_have_reached_the_server() -> None:
    """An answer slower than the caller's ``sock_read`` fails as a timeout waiting for the
    response, which may have reached the server, not as one connecting."""
    held = Holding()
    timeout = aiohttp.ClientTimeout(total=60, sock_read=0.2)
    async with serving(held.app()) as url:
        async with B2BClient(
            TOKEN, base_url=url, rate_limit=None, retry=None, timeout=timeout
        ) as client:
            with pytest.raises(APITimeoutError) as info:
                await create(client)
        held.release.set()
    assert info.value.may_have_reached_server
    assert "waiting for the response" in str(info.value)


def test_a_failure_on_an_open_connection_is_shown_on_one_line_without_the_secrets() -> None:
    """The words of a failure once the connection opened follow the one-line rule: their
    control characters are written as escapes, and no secret of the client shows."""
    failure = aiohttp.ClientOSError(104, "reset \x1b[2J\u202e by tok-123")
    url = "https://api.example.test/api/v2/io/orders"
    error = _transport.transport_error(failure, CallInfo("POST", url, ("tok-123",)))
    assert "ClientOSError: [Errno 104] reset \\x1b[2J\\u202e by " in str(error)
    assert not {"\x1b", "\u202e"} & set(str(error))
    assert "tok-123" not in str(error)


def test_failure_words_drop_the_line_that_points_into_what_the_parser_quoted() -> None:
    """aiohttp's compiled parser quotes the line it refused and points into it on a line of
    its own below: neither is kept."""
    failure = http_exceptions.BadHttpMessage(
        "Invalid header value char:\n\n  b'X-Echo: tok-123\\x01'\n                    ^"
    )
    assert _transport.failure_words(failure) == "400, message: Invalid header value char"


def test_a_closed_client_called_under_another_event_loop_says_it_is_closed() -> None:
    """A client closed in the loop it served raises ClientClosedError saying it is closed
    when called under another loop: once closed, the loop no longer matters."""
    with unanswered_port() as url:
        client = B2BClient(TOKEN, base_url=url, rate_limit=None)

        async def use_and_close() -> None:
            async with client:
                pass

        async def refused() -> None:
            with pytest.raises(ClientClosedError, match="the client is closed"):
                await create(client)

        asyncio.run(use_and_close())
        asyncio.run(refused())
