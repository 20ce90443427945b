"""Hostile responses over a real socket: the client returns a CreatedOrder or raises a B2BError.

Hypothesis builds whole HTTP responses (status line, headers, framing, body) and a raw
``asyncio`` server writes them byte for byte, so aiohttp's parser meets them for real:
truncated JSON, arrays, wrong types, huge strings, invalid UTF-8, deep nesting, wrong
content types and encodings, lying or garbage ``Content-Length``, broken chunking, absurd
wait hints (``Retry-After: 1e309``, negative, ``nan``, very long), broken status lines.
Each test keeps one loop, one server and one client for all its examples, and the runs are
derandomized so CI sees the same examples every time.

A response built only from clean parts (a 2xx, the documented envelope, sound framing and
headers) must succeed: the oracle that keeps the property from holding vacuously.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gzip
import json
import math
import time
from types import TracebackType
from typing import Any, Final, Self

import attrs
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b2b_async import (
    APIError,
    B2BClient,
    B2BError,
    CreatedOrder,
    RateLimit,
    RateLimitError,
    RetryPolicy,
)
from tests.reliability._servers import RawServer, serving
from tests.reliability.conftest import Recorder

#: Examples per property test; two tests make the 5,000 a ``make test`` run tries.
EXAMPLES: Final = 2500
#: One client for every example: two attempts, no waiting, hints above 0.05 s refused.
RETRY: Final = RetryPolicy(attempts=2, initial_wait=0, max_wait=0, max_retry_after=0.05)
CAP: Final = 128 * 1024
#: A call that takes longer than this hangs, which the property forbids.
HANG: Final = 10.0
#: The longest wait hint worth reading as one (a day); anything longer is noise.
MAX_HINT: Final = 86_400.0
HYPOTHESIS: Final = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- the parts of a response -------------------------------------------------------------

LATIN1: Final = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
SCALARS: Final = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
JSON: Final = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
ORDER_IDS: Final = st.one_of(st.just("BC1"), st.text(max_size=40), st.integers(), JSON)
CODES: Final = st.one_of(
    st.sampled_from([200, 201, 204, 400, 40010, 40013, 401, 404, 429, 500, 503, 20000, 99999]),
    st.integers(),
    st.text(max_size=8),
    st.floats(),
    st.booleans(),
    st.none(),
)
DATA: Final = st.one_of(
    st.fixed_dictionaries(
        {"orderId": ORDER_IDS}, optional={"alreadyRegistered": JSON, "errMsg": JSON}
    ),
    JSON,
)
ENVELOPES: Final = st.fixed_dictionaries(
    {}, optional={"code": CODES, "data": DATA, "message": JSON, "meta": JSON}
)
CLEAN_ENVELOPES: Final = st.fixed_dictionaries(
    {
        "code": st.just(200),
        "data": st.fixed_dictionaries({"orderId": st.text(max_size=40) | st.integers()}),
        "message": st.sampled_from(["Success", "SUCCESS", ""]),
    }
)


def dumps(value: Any) -> bytes:
    """JSON as Python writes it, ``NaN`` and ``Infinity`` included."""
    return json.dumps(value).encode()


def truncated(pair: tuple[bytes, float]) -> bytes:
    """A body cut short at a fraction of its length."""
    body, fraction = pair
    return body[: int(len(body) * fraction)]


def huge_string(length: int) -> bytes:
    """An envelope whose order id is ``length`` characters long (past the cap, often)."""
    return b'{"code": 200, "data": {"orderId": "' + b"x" * length + b'"}, "message": "ok"}'


def huge_number(digits: int) -> bytes:
    """An envelope whose order id has more digits than Python will turn into an int."""
    return b'{"code": 200, "data": {"orderId": ' + b"9" * digits + b"}}"


def invalid_utf8(raw: bytes) -> bytes:
    """An envelope with bytes inside that no UTF-8 decoder accepts."""
    return b'{"code": 200, "data": {"orderId": "BC\xff\xfe' + raw + b'"}}'


def nested(depth: int) -> bytes:
    """Arrays nested ``depth`` deep: past the recursion limit of any JSON decoder."""
    return b"[" * depth + b"]" * depth


BODIES: Final = st.one_of(
    ENVELOPES.map(dumps),
    JSON.map(dumps),
    st.tuples(ENVELOPES.map(dumps), st.floats(0, 1)).map(truncated),
    st.integers(1_000, 400_000).map(huge_string),
    st.integers(4_000, 20_000).map(huge_number),
    st.binary(max_size=200),
    st.binary(max_size=40).map(invalid_utf8),
    ENVELOPES.map(lambda envelope: json.dumps(envelope).encode("utf-16")),
    st.integers(1, 60_000).map(nested),
    st.just(b""),
)
COMMON_STATUSES: Final = [200, 201, 202, 204, 206, 301, 302, 304, 400, 401, 403, 404, 409]
STATUSES: Final = st.one_of(
    st.sampled_from([*COMMON_STATUSES, 413, 422, 429, 500, 501, 502, 503, 504, 507]),
    st.integers(100, 999),
)
REASONS: Final = st.one_of(st.just("OK"), st.just(""), st.text(LATIN1, max_size=30))
BROKEN_STATUS_LINES: Final = st.sampled_from(
    [
        b"HTTP/1.1 200",
        b"HTTP/1.0 200 OK",
        b"HTTP/2 200 OK",
        b"HTTP/1.1 2OO OK",
        b"HTTP/1.1 -200 OK",
        b"HTTP/1.1 0200 OK",
        b"HTTP/1.1 20 OK",
        b"HTTP/1.1 2000 OK",
        b"ICY 200 OK",
        b"HTTP/1.1 200 OK\x00",
        b"garbage",
        b"",
    ]
)
HINT_HEADERS: Final = [
    "Retry-After",
    "X-Retry-After",
    "X-Request-Window-Resets-After",
    "X-Rate-Limit-Time-Reset-Ms",
    "X-Requests-Remaining",
    "X-Requests-Allocated",
    "X-Requests-Window-Length",
    "X-Rate-Limit-Requests-Left",
    "X-Rate-Limit-Requests-Quota",
    "X-Rate-Limit-Time-Window-Ms",
]
OTHER_HEADERS: Final = ["X-Request-Id", "Content-Type", "Location", "Set-Cookie", "Server"]
BROKEN_HEADERS: Final = ["Content-Encoding", " Retry-After", "Retry After", "Retry-After ", "X:Y"]
ABSURD_VALUES: Final = [
    "1e309",
    "-1",
    "-0",
    "nan",
    "NaN",
    "inf",
    "-Infinity",
    "0",
    "1e-309",
    "9" * 400,
    "1" * 9000,
    "99999999999999999999999 times",
    "0 times/0 s",
    "150 times/0 s",
    "1 times/1e309 s",
    "5 times/-1 s",
    "Wed, 21 Oct 2015 07:28:00 GMT",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Mon, 01 Jan 0001 00:00:00 GMT",
    "Sun, 06 Nov 1994 08:49:37",
    "Tue, 30 Feb 2026 25:61:61 GMT",
    "",
    " ",
    "gzip",
    "br",
    "deflate",
    "zstd",
    "\x00",
    "1\x7f",
    "\xff" * 10,
]
HEADER_VALUES: Final = st.one_of(
    st.sampled_from(ABSURD_VALUES),
    st.floats().map(repr),
    st.integers().map(str),
    st.decimals().map(str),
    st.text(LATIN1, max_size=60),
)
SANE_HEADERS: Final = st.lists(
    st.tuples(st.sampled_from(HINT_HEADERS + OTHER_HEADERS), st.sampled_from(["0", "1 s", "x"])),
    max_size=2,
)
HOSTILE_HEADERS: Final = st.lists(
    st.tuples(st.sampled_from(HINT_HEADERS + OTHER_HEADERS + BROKEN_HEADERS), HEADER_VALUES),
    max_size=6,
)
#: How the body is delimited: the sound ways, and the ways of lying about it.
SOUND_FRAMINGS: Final = ["length", "chunked", "close", "gzip"]
FRAMINGS: Final = st.sampled_from(
    [*SOUND_FRAMINGS, "short", "long", "bad-chunks", "garbage-length", "length-and-chunked"]
)


@attrs.frozen
class Response:
    """One whole HTTP response, and whether every part of it is sound."""

    status_line: bytes
    headers: tuple[tuple[str, str], ...]
    framing: str
    body: bytes
    chunk: int = 7

    def raw(self) -> bytes:
        """The bytes on the wire."""
        head = [self.status_line, b"Connection: close"]
        head += [f"{name}: {value}".encode("latin-1") for name, value in self.headers]
        body = self.body
        if self.framing == "gzip":
            body = gzip.compress(body)
            head.append(b"Content-Encoding: gzip")
        head += self._framing_headers(len(body))
        if self.framing in ("chunked", "length-and-chunked"):
            body = self._chunked(body)
        elif self.framing == "bad-chunks":
            body = b"zz\r\n" + body
        return b"\r\n".join(head) + b"\r\n\r\n" + body

    def _framing_headers(self, length: int) -> list[bytes]:
        chunked = b"Transfer-Encoding: chunked"
        return {
            "length": [b"Content-Length: %d" % length],
            "gzip": [b"Content-Length: %d" % length],
            "chunked": [chunked],
            "close": [],
            "short": [b"Content-Length: %d" % (length // 2)],
            "long": [b"Content-Length: %d" % (length + 10)],
            "bad-chunks": [chunked],
            "garbage-length": [b"Content-Length: 1e3, -1"],
            "length-and-chunked": [b"Content-Length: %d" % length, chunked],
        }[self.framing]

    def _chunked(self, body: bytes) -> bytes:
        size = max(1, self.chunk)
        pieces = [body[start : start + size] for start in range(0, len(body), size)]
        return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


def status_line(status: int, reason: str) -> bytes:
    """``HTTP/1.1 <status> <reason>``."""
    return f"HTTP/1.1 {status} {reason}".encode("latin-1")


@st.composite
def hostile_bodies(draw: st.DrawFn) -> tuple[Response, bool]:
    """Mostly 2xx answers with a hostile body or framing; sometimes all of it clean."""
    clean = draw(st.booleans())
    success = st.sampled_from([200, 201, 202])
    status = draw(success if clean else st.one_of(success, STATUSES))
    framing = draw(st.sampled_from(SOUND_FRAMINGS) if clean else FRAMINGS)
    body = draw(CLEAN_ENVELOPES.map(dumps) if clean else BODIES)
    headers = draw(SANE_HEADERS)
    chunk = draw(st.integers(1, 64 * 1024))
    return Response(status_line(status, "OK"), tuple(headers), framing, body, chunk), clean


@st.composite
def hostile_heads(draw: st.DrawFn) -> tuple[Response, bool]:
    """Hostile status lines and headers around mostly sound bodies."""
    line = draw(
        st.one_of(
            st.builds(status_line, STATUSES, REASONS),
            st.builds(status_line, st.sampled_from([200, 429, 503]), st.just("X")),
            BROKEN_STATUS_LINES,
        )
    )
    headers = draw(HOSTILE_HEADERS)
    body = draw(st.one_of(CLEAN_ENVELOPES.map(dumps), ENVELOPES.map(dumps)))
    framing = draw(FRAMINGS)
    return Response(line, tuple(headers), framing, body), False


# --- the harness ---------------------------------------------------------------------------


class Harness:
    """One loop, one raw server and one client, for every example of a test."""

    def __init__(self) -> None:
        self.outcomes: collections.Counter[str] = collections.Counter()
        #: Successes whose body was larger than the cap (a compressed body, see test_size_cap).
        self.past_cap = 0
        self._runner = asyncio.Runner()
        self._stack = contextlib.AsyncExitStack()
        self._server = RawServer()
        self._client: B2BClient | None = None

    def __enter__(self) -> Self:
        self._runner.__enter__()
        self._runner.run(self._open())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._runner.run(self._stack.aclose())
        finally:
            self._runner.__exit__(exc_type, exc, tb)

    async def _open(self) -> None:
        await self._stack.enter_async_context(self._server.running())
        self._client = B2BClient(
            "hostile-token",
            base_url=self._server.url,
            retry=RETRY,
            rate_limit=None,
            timeout=2.0,
            max_response_bytes=CAP,
        )
        await self._stack.enter_async_context(self._client)

    @property
    def requests(self) -> int:
        """Requests the server answered."""
        return self._server.requests

    def call(self, response: Response) -> CreatedOrder | B2BError:
        """Register an order against ``response``; a B2BError is returned, not raised."""
        self._server.response = response.raw()
        outcome = self._runner.run(self._create())
        self.outcomes[type(outcome).__name__] += 1
        if isinstance(outcome, CreatedOrder) and len(outcome.order_id) > CAP:
            self.past_cap += 1
        return outcome

    async def _create(self) -> CreatedOrder | B2BError:
        assert self._client is not None
        try:
            async with asyncio.timeout(HANG):  # a hang is a TimeoutError: the test fails
                return await self._client.orders.create(
                    company_id=1, customer_id=1, order_id="BC1", total_inc_tax="9.99"
                )
        except B2BError as exc:
            return exc


def check(outcome: CreatedOrder | B2BError, clean: bool) -> None:
    """A valid CreatedOrder or a B2BError; a clean response must give the CreatedOrder.

    An error's wait hint, whatever the headers said, is a sane number of seconds.
    """
    if isinstance(outcome, CreatedOrder):
        assert type(outcome.order_id) is str
        assert type(outcome.already_registered) is bool
        return
    assert isinstance(outcome, B2BError)
    if isinstance(outcome, APIError) and outcome.retry_after is not None:
        assert math.isfinite(outcome.retry_after)
        assert 0 <= outcome.retry_after <= MAX_HINT
    if clean:
        raise AssertionError(f"a clean response failed: {outcome!r}")


def run_property(responses: st.SearchStrategy[tuple[Response, bool]]) -> Harness:
    """Try ``EXAMPLES`` responses from ``responses`` and check each outcome."""
    with Harness() as harness:

        @HYPOTHESIS
        @given(case=responses)
        def example(case: tuple[Response, bool]) -> None:
            response, clean = case
            check(harness.call(response), clean)

        example()
    return harness


def test_hostile_bodies(record: Recorder) -> None:
    """2,500 hostile bodies and framings: a valid CreatedOrder or a B2BError, never else."""
    started = time.monotonic()
    harness = run_property(hostile_bodies())
    examples = sum(harness.outcomes.values())
    record(
        "hostile",
        name="bodies, framing, content types",
        examples=examples,
        requests=harness.requests,
        seconds=round(time.monotonic() - started, 1),
        outcomes=dict(harness.outcomes.most_common()),
        past_cap=harness.past_cap,
    )
    assert examples >= EXAMPLES
    assert harness.outcomes["CreatedOrder"] > 0


def test_hostile_heads(record: Recorder) -> None:
    """2,500 hostile status lines and headers: a valid CreatedOrder or a B2BError, never else."""
    started = time.monotonic()
    harness = run_property(hostile_heads())
    examples = sum(harness.outcomes.values())
    record(
        "hostile",
        name="status lines, headers, wait hints",
        examples=examples,
        requests=harness.requests,
        seconds=round(time.monotonic() - started, 1),
        outcomes=dict(harness.outcomes.most_common()),
        past_cap=harness.past_cap,
    )
    assert examples >= EXAMPLES


# --- absurd budget headers and the limiter -------------------------------------------------

STALLING_HEADERS: Final = [
    {"X-Requests-Remaining": "0 times", "X-Request-Window-Resets-After": "86000 s"},
    {"X-Rate-Limit-Requests-Left": "0", "X-Rate-Limit-Time-Reset-Ms": "86000000"},
    {"X-Requests-Allocated": "1 times/86400 s"},
    {"X-Rate-Limit-Requests-Quota": "1", "X-Rate-Limit-Time-Window-Ms": "86400000"},
]


@pytest.mark.parametrize("headers", STALLING_HEADERS, ids=lambda headers: ",".join(headers))
async def test_budget_headers_cannot_stall_the_client(
    headers: dict[str, str], record: Recorder
) -> None:
    """One success carrying a day-long budget hint does not hold later calls past the cap."""
    answered = 0

    async def create(request: web.Request) -> web.Response:
        nonlocal answered
        answered += 1
        body = {"code": 200, "data": {"orderId": f"BC{answered}"}, "message": "Success"}
        return web.json_response(body, headers=headers if answered == 1 else {})

    app = web.Application()
    app.router.add_post("/api/v2/io/companies/1/user/1/orders", create)
    retry = RetryPolicy(attempts=2, max_retry_after=0.5)
    async with serving(app) as url:
        async with B2BClient(
            "t", base_url=url, retry=retry, rate_limit=RateLimit(100, 1.0), timeout=2
        ) as client:
            started = time.monotonic()
            outcomes: list[str] = []
            try:
                async with asyncio.timeout(1.0):
                    for index in range(3):
                        try:
                            await client.orders.create(
                                company_id=1, customer_id=1, order_id=f"BC{index}", total_inc_tax=1
                            )
                            outcomes.append("registered")
                        except RateLimitError:
                            outcomes.append("RateLimitError")
            finally:
                record(
                    "hostile_limiter",
                    headers=", ".join(f"{name}: {value}" for name, value in headers.items()),
                    calls_done=len(outcomes),
                    seconds=round(time.monotonic() - started, 2),
                )
    assert len(outcomes) == 3
