"""The token stays secret, plain http leaves loopback never, and input cannot steer a request.

The scan runs the whole fault matrix again (every case, through ``create`` and
``create_many``, all at once) with a distinctive token and the loop in debug mode, and
looks for the token in every log record at DEBUG (the client's, aiohttp's, asyncio's and
the sandbox's loggers), every repr, every error message and every formatted traceback,
causes included.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from typing import Final

import pytest
from aiohttp import web

from b2b_async import (
    APIError,
    B2BClient,
    B2BError,
    InvalidOrderError,
    NewOrder,
    NotFoundError,
    RetryPolicy,
)
from b2b_async.sandbox import DEFAULT_TOKEN, SandboxServer
from tests.reliability._matrix import CASES, MODES, Observation, run_case
from tests.reliability._servers import RawServer, serving
from tests.reliability.conftest import Recorder

SECRET: Final = "s3cr3t-B2B-t0ken-5f1c9e"
LOGGERS: Final = ("", "b2b_async", "aiohttp", "aiohttp.client", "aiohttp.server", "asyncio")


def log_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Everything the captured log records say, formatted tracebacks included."""
    texts = [caplog.text]
    for entry in caplog.records:
        texts += [entry.getMessage(), repr(entry.args), entry.exc_text or ""]
        if entry.exc_info and entry.exc_info[1] is not None:
            texts.append("".join(traceback.format_exception(entry.exc_info[1])))
    return texts


async def test_token_absent_from_logs_reprs_errors_and_tracebacks(
    caplog: pytest.LogCaptureFixture, record: Recorder
) -> None:
    """Across every fault-matrix case, the token appears in no log, repr, message or traceback."""
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    try:
        runs = [run_case(case, mode, SECRET) for case in CASES for mode in MODES]
        observed: list[Observation] = await asyncio.gather(*runs)
    finally:
        loop.set_debug(False)
    texts = log_texts(caplog)
    for observation in observed:
        texts += observation.texts
    leaks = [text[:200] for text in texts if SECRET in text]
    errors = sum(1 for o in observed for outcome in o.outcomes if outcome.error is not None)
    record(
        "secrets",
        check="token in logs, reprs, messages, tracebacks",
        runs=len(observed),
        errors_scanned=errors,
        log_records=len(caplog.records),
        texts_scanned=len(texts),
        leaks=len(leaks),
    )
    assert leaks == []
    assert len(observed) == len(CASES) * len(MODES)
    assert errors > len(CASES)  # the scan saw failures of every kind, not just successes
    assert any(entry.levelno == logging.DEBUG for entry in caplog.records)


@pytest.mark.parametrize(
    "base_url",
    [
        "http://api-b2b.bigcommerce.com",
        "http://example.com:8080",
        "http://10.0.0.1",
        "http://192.168.1.20:8000",
        "http://[2001:db8::1]",
        "http://[::ffff:127.0.0.1]",
        "http://localhost.example.com",
        "http://127.0.0.1.nip.io",
        "ftp://127.0.0.1",
        "https://user:pass@api-b2b.bigcommerce.com",
        "https://api-b2b.bigcommerce.com/api/v2/io",
        "https://api-b2b.bigcommerce.com?authToken=x",
    ],
)
def test_unsafe_base_url_refused(base_url: str, record: Recorder) -> None:
    """Plain http to a host that is not loopback, or a URL that is not a host root, is refused."""
    with pytest.raises(ValueError, match="base_url") as info:
        B2BClient(SECRET, base_url=base_url)
    record("secrets", check=f"base_url {base_url} refused", leaks=int(SECRET in str(info.value)))
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1"])
async def test_loopback_http_allowed(base_url: str) -> None:
    """Plain http to loopback (a local sandbox) is accepted."""
    async with B2BClient(SECRET, base_url=base_url) as client:
        assert client.base_url == base_url


NOT_FOUND: Final = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
HOSTILE_IDS: Final = [
    "1/../2",
    "../../orders",
    "..",
    "1?companyId=2",
    "1#fragment",
    "1%2F2",
    "%2e%2e",
    "1;matrix=2",
    "1\\..\\2",
    "1 2",
    "ü/1",
    "1&x=y",
]


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
async def test_ids_cannot_inject_path_or_query(hostile: str, record: Recorder) -> None:
    """A company or customer id reaches the sandbox as one path segment, with no query."""
    async with SandboxServer(rate=None) as server:
        async with B2BClient(
            DEFAULT_TOKEN, base_url=server.url, rate_limit=None, retry=None
        ) as client:
            with pytest.raises(NotFoundError) as as_company:
                await client.orders.create(
                    company_id=hostile, customer_id=1, order_id=f"{hostile}-a", total_inc_tax=1
                )
            with pytest.raises(NotFoundError) as as_customer:
                await client.orders.create(
                    company_id=1, customer_id=hostile, order_id=f"{hostile}-b", total_inc_tax=1
                )
        company_request, customer_request = server.requests
    record("secrets", check=f"id {hostile!r} stays one segment", leaks=0)
    # The sandbox matched the create route with the whole id as the company (or customer):
    # a path that had climbed or split would match another route, or none at all.
    assert as_company.value.message == "Companies Does not Exist"
    assert as_customer.value.message == "User Does not Exist"
    assert company_request.path == f"/api/v2/io/companies/{hostile}/user/1/orders"
    assert customer_request.path == f"/api/v2/io/companies/1/user/{hostile}/orders"
    assert company_request.query == {} == customer_request.query
    assert company_request.body["orderId"] == f"{hostile}-a"
    assert server.orders == {}


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
async def test_ids_are_percent_encoded_on_the_wire(hostile: str) -> None:
    """On the wire, the request line holds exactly the route's segments and no query."""
    async with RawServer().running() as server:
        server.response = NOT_FOUND
        async with B2BClient("t", base_url=server.url, rate_limit=None, retry=None) as client:
            with pytest.raises(NotFoundError):
                await client.orders.create(
                    company_id=hostile, customer_id=hostile, order_id="BC1", total_inc_tax=1
                )
    method, target, _ = server.heads[0].split(b"\r\n")[0].split(b" ")
    segments = target.split(b"/")
    assert method == b"POST"
    assert b"?" not in target
    assert b"#" not in target
    assert segments[:5] == [b"", b"api", b"v2", b"io", b"companies"]
    assert segments[6] == b"user"
    assert segments[8:] == [b"orders"]
    assert b"." not in segments[5]
    assert b"." not in segments[7]


@pytest.mark.parametrize("order_id", ["BC\r\nX-Evil: 1", "BC1\nBC2", "BC\x001", "BC\x7f1"])
def test_inner_control_characters_in_ids_refused(order_id: str) -> None:
    """An id with CR, LF or another control character inside is refused before sending."""
    with pytest.raises(InvalidOrderError, match="control characters"):
        NewOrder(1, 1, order_id, 1)
    with pytest.raises(InvalidOrderError, match="control characters"):
        NewOrder(1, order_id, "BC1", 1)


@pytest.mark.parametrize("order_id", ["\r\nBC1", "BC1\n", "\tBC1\r\n"])
def test_surrounding_whitespace_in_ids_stripped(order_id: str) -> None:
    """CR, LF or tabs around an id are whitespace: stripped, so none reaches the wire."""
    assert NewOrder(1, order_id, order_id, 1).order_id == "BC1"
    assert NewOrder(1, order_id, order_id, 1).customer_id == "BC1"


@pytest.mark.parametrize("value", ["abc\r\nX-Evil: 1", "abc\nX-Evil: 1", "abc\r", "a\x00b", "\t"])
@pytest.mark.parametrize("field", ["auth_token", "user_agent"])
def test_header_values_with_control_characters_refused(
    field: str, value: str, record: Recorder
) -> None:
    """A token or user agent with CR, LF or another control character raises ValueError."""
    options = {"auth_token": value} if field == "auth_token" else {"auth_token": SECRET}
    agent = value if field == "user_agent" else None
    with pytest.raises(ValueError, match=field) as info:
        B2BClient(options["auth_token"], user_agent=agent)
    record(
        "secrets",
        check=f"{field} {value!r} refused",
        leaks=int(value.strip() in str(info.value) or SECRET in str(info.value)),
    )
    assert value not in str(info.value)
    assert SECRET not in str(info.value)


async def test_redirect_is_not_followed(record: Recorder) -> None:
    """A 302 to another host raises an APIError; the token never travels to the redirect target."""
    landed: list[str] = []

    async def target(request: web.Request) -> web.Response:
        landed.append(request.headers.get("authToken", ""))
        return web.json_response({"code": 200, "data": {"orderId": "BC1"}})

    trap = web.Application()
    trap.router.add_route("*", "/{tail:.*}", target)
    async with serving(trap) as trap_url, RawServer().running() as server:
        location = trap_url.replace("127.0.0.1", "localhost") + "/api/v2/io/orders"
        server.response = (
            b"HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n"
            b"Connection: close\r\n\r\n" % location.encode()
        )
        retry = RetryPolicy(attempts=2, initial_wait=0, max_wait=0)
        async with B2BClient(SECRET, base_url=server.url, rate_limit=None, retry=retry) as client:
            with pytest.raises(APIError) as info:
                await client.orders.create(
                    company_id=1, customer_id=1, order_id="BC1", total_inc_tax=1
                )
    record("secrets", check="302 to another host not followed", leaks=len(landed))
    assert info.value.status == 302
    assert landed == []
    assert server.requests == 1
    assert SECRET.encode() in server.heads[0]  # the token did go where it was meant to


def test_client_repr_and_stats_hide_the_token() -> None:
    """repr(client), its stats and its limiter name no token."""
    client = B2BClient(SECRET, base_url="http://127.0.0.1:1")
    texts = [repr(client), str(client), repr(client.stats), repr(client.limiter)]
    assert all(SECRET not in text for text in texts)


def chain_of(error: BaseException) -> list[BaseException]:
    """The error and its causes and contexts, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


UNPARSEABLE_HEADS: Final = {
    "broken status line": b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    "NUL in a header": (
        b"HTTP/1.1 200 OK\r\nX-A: \x00\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    ),
}


@pytest.mark.parametrize("name", list(UNPARSEABLE_HEADS))
async def test_token_absent_from_reprs_of_the_error_chain(name: str, record: Recorder) -> None:
    """For an unparseable answer, no error in the chain names the token, in str or repr."""
    async with RawServer().running() as server:
        server.response = UNPARSEABLE_HEADS[name]
        async with B2BClient(SECRET, base_url=server.url, rate_limit=None, retry=None) as client:
            with pytest.raises(B2BError) as info:
                await client.orders.create(
                    company_id=1, customer_id=1, order_id="BC1", total_inc_tax=1
                )
    chain = chain_of(info.value)
    traceback_text = "".join(traceback.format_exception(info.value))
    leaks = [type(error).__name__ for error in chain if SECRET in repr(error)]
    record("secrets", check=f"repr of the error chain, {name}", leaks=len(leaks))
    assert SECRET not in traceback_text  # holds: tracebacks print str(), not repr()
    assert all(SECRET not in str(error) for error in chain)  # holds
    assert leaks == []  # fails: ClientResponseError's repr includes the request headers
