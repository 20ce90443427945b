"""B2BClient construction, ownership of the session, closing, and what it shows of itself."""

from __future__ import annotations

import asyncio
import functools
import json
import socket
import traceback
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any, Final

import aiohttp
import pytest
from aiohttp import web

import b2b_async
from b2b_async import (
    APITimeoutError,
    AuthenticationError,
    B2BClient,
    ClientClosedError,
    RateLimit,
    RateLimiter,
    RetryPolicy,
)
from b2b_async._client import credentials, is_loopback, secrets_of
from b2b_async._config import CONNECT_SHARE, MIN_SECRET_LENGTH
from b2b_async._protocol import redact
from b2b_async.sandbox import DEFAULT_STORE_HASH, DEFAULT_TOKEN, SandboxServer
from tests.frames import holders, rendered
from tests.loopback import serving, unanswered_port


@pytest.mark.parametrize(
    "url",
    [
        "http://api-b2b.bigcommerce.com",
        "http://10.0.0.5:8080",
        "ftp://api-b2b.bigcommerce.com",
        "api-b2b.bigcommerce.com",
        "https://api-b2b.bigcommerce.com/api/v2/io",
        "https://api-b2b.bigcommerce.com/?x=1",
        "https://user:pw@api-b2b.bigcommerce.com",
    ],
)
def test_bad_base_urls_are_refused(url: str) -> None:
    """Plain http off loopback, other schemes and non-root URLs raise ValueError."""
    with pytest.raises(ValueError, match="base_url"):
        B2BClient("t", base_url=url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://api-b2b.bigcommerce.com:99999", "base_url must be a URL, and is not: Port"),
        ("https://[::1", "base_url must be a URL, and is not"),
        ("https://xn--zz.com", "base_url must be a URL, and is not"),
        ("https://user:pw@[::1", "base_url must be a URL, and is not"),
        ("https://api b2b.bigcommerce.com", "base_url must name a host without spaces"),
        ("https://api%20b2b.bigcommerce.com", "base_url must name a host without spaces"),
        ("https://api-b2b.bigcommerce.com:\u0664\u0664\u0663", "port in ASCII digits"),
        ("https://api-b2b.bigcommerce.com:+443", "port in ASCII digits"),
        ("https://user:pw@api-b2b\uff0fbigcommerce.com", "base_url must be a URL, and is not$"),
    ],
)
def test_a_base_url_no_request_could_reach_is_refused_by_name(url: str, message: str) -> None:
    """yarl's own error would not say which argument is wrong; a host with a space would
    fail only when the first request tried to connect."""
    with pytest.raises(ValueError, match=message) as info:
        B2BClient("t", base_url=url)
    assert "pw" not in str(info.value)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9", "http://127.3.2.1"]
)
def test_plain_http_is_allowed_on_loopback(url: str) -> None:
    """A local sandbox over plain http is allowed."""
    assert B2BClient("t", base_url=url).base_url == url.rstrip("/")


def test_default_base_url_and_trailing_slash() -> None:
    """The default is production; a trailing slash is dropped."""
    assert B2BClient("t").base_url == "https://api-b2b.bigcommerce.com"
    assert B2BClient("t", base_url="https://staging.example.com/").base_url == (
        "https://staging.example.com"
    )


@pytest.mark.parametrize("token", ["", "  ", "abc\r\nX-Evil: 1", "a\x00b", 42])
def test_bad_tokens_are_refused_without_echo(token: object) -> None:
    """Empty tokens or ones that could inject headers raise ValueError not repeating them."""
    with pytest.raises(ValueError, match="auth_token") as info:
        B2BClient(token)  # type: ignore[arg-type]
    if isinstance(token, str) and token.strip():
        assert token not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"user_agent": "x\ny"}, "user_agent"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_concurrency": True}, "max_concurrency"),
        ({"max_response_bytes": 0}, "max_response_bytes"),
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, object], fragment: str) -> None:
    """Each out-of-range option raises ValueError naming it."""
    with pytest.raises(ValueError, match=fragment):
        B2BClient("t", **kwargs)  # type: ignore[arg-type]


def test_repr_never_shows_the_token() -> None:
    """repr() names the host and state but never the token."""
    client = B2BClient("super-secret-token-123")
    assert "super-secret-token-123" not in repr(client)
    assert "api-b2b.bigcommerce.com" in repr(client)
    assert "open" in repr(client)


async def test_owned_session_is_closed_and_close_is_idempotent() -> None:
    """The client closes the session it owns; aclose() twice is fine."""
    client = B2BClient("t")
    async with client:
        session = client._transport.open()
        states = [session.closed]
    states.append(session.closed)
    assert states == [False, True]
    assert client.closed
    assert "closed" in repr(client)
    await client.aclose()


async def test_owned_session_closed_from_outside_is_client_closed_error() -> None:
    """Closing the client's own session behind its back gives ClientClosedError, not aiohttp's."""
    async with (
        SandboxServer(rate=None) as server,
        B2BClient(DEFAULT_TOKEN, base_url=server.url, rate_limit=None) as client,
    ):
        await client._transport.open().close()
        with pytest.raises(ClientClosedError, match="session was closed"):
            await client.orders.create(customer_id=1, order_id="BC1", total_inc_tax=1)
    assert server.orders == {}


async def test_use_after_close_raises_clear_error() -> None:
    """A call on a closed client raises ClientClosedError, and so does re-entering it."""
    client = B2BClient("t", rate_limit=None)
    await client.aclose()
    with pytest.raises(ClientClosedError, match="closed"):
        await client.orders.create(company_id=1, customer_id=1, order_id="A", total_inc_tax=1)
    with pytest.raises(ClientClosedError):
        async with client:
            pass


async def test_borrowed_session_is_never_closed() -> None:
    """A session passed in stays open after the client closes; a closed one is refused."""
    async with aiohttp.ClientSession() as session:
        async with B2BClient("t", session=session) as client:
            pass
        assert client.closed
        assert not session.closed
    client = B2BClient("t", session=session, rate_limit=None)
    with pytest.raises(ClientClosedError, match="borrowed"):
        await client.orders.create(company_id=1, customer_id=1, order_id="A", total_inc_tax=1)


def test_is_loopback() -> None:
    """Loopback names and addresses are recognised; others are not."""
    assert is_loopback("localhost")
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert not is_loopback("example.com")
    assert not is_loopback("10.0.0.1")


@pytest.mark.parametrize("host", ["::ffff:127.0.0.1", "[::ffff:127.0.0.1]", "::ffff:7f00:1"])
def test_ipv4_mapped_loopback_is_not_loopback_on_any_version(host: str) -> None:
    """An IPv4-mapped loopback address is refused alike on 3.11, 3.12 and 3.13."""
    assert not is_loopback(host)
    with pytest.raises(ValueError, match="https"):
        B2BClient("t", base_url=f"http://[{host.strip('[]')}]:8080")


def test_exported_names() -> None:
    """__all__ is exactly the public names, alphabetised, each importable."""
    assert b2b_async.__all__ == sorted(b2b_async.__all__)
    public = {
        name
        for name, value in vars(b2b_async).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert public == set(b2b_async.__all__) - {"__version__"}


# --- the token from the environment -----------------------------------------------------------


def test_token_and_store_hash_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """B2BClient() reads B2B_AUTH_TOKEN and B2B_STORE_HASH, and never shows them."""
    monkeypatch.setenv("B2B_AUTH_TOKEN", " env-token-123456 ")
    monkeypatch.setenv("B2B_STORE_HASH", "envhash42")
    client = B2BClient()
    assert "X-Auth-Token=*** X-Store-Hash=***" in repr(client)
    assert "env-token" not in repr(client)
    assert "envhash42" not in repr(client)
    assert credentials(None, None) == ("env-token-123456", "envhash42")


@pytest.mark.parametrize(
    "options",
    [
        {"base_url": "ftp://example.com"},
        {"timeout": -1},
        {"max_concurrency": 0},
        {"max_response_bytes": 0},
        {"check_extra_fields": "yes"},
        {"rate_limit": "150/min"},
        {"store_hash": "bad\nhash"},
    ],
    ids=[
        "base_url",
        "timeout",
        "max_concurrency",
        "max_response_bytes",
        "flag",
        "rate_limit",
        "store_hash",
    ],
)
def test_a_bad_argument_is_refused_before_the_token_is_read(
    monkeypatch: pytest.MonkeyPatch, options: dict[str, Any]
) -> None:
    """An argument refused with the token in the environment leaves no frame of the
    traceback holding it, for a tool that shows each frame's local variables."""
    monkeypatch.setenv("B2B_AUTH_TOKEN", "env-token-of-thirty-two-chars-00")
    with pytest.raises((ValueError, TypeError)) as info:
        B2BClient(**options)
    shown = traceback.TracebackException.from_exception(info.value, capture_locals=True)
    assert "env-token" not in "".join(shown.format())


def test_a_blank_store_hash_variable_means_the_legacy_scheme(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A blank B2B_STORE_HASH is no store hash: the token travels as authToken."""
    monkeypatch.setenv("B2B_AUTH_TOKEN", "env-token-123456")
    monkeypatch.setenv("B2B_STORE_HASH", " ")
    assert "authToken=***" in repr(B2BClient())


def test_a_passed_token_never_takes_the_store_hash_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a token passed, B2B_STORE_HASH is ignored: the scheme stays the caller's."""
    monkeypatch.setenv("B2B_STORE_HASH", "envhash42")
    assert credentials("given-token", None) == ("given-token", None)
    assert "authToken=***" in repr(B2BClient("given-token"))


@pytest.mark.parametrize("value", [None, "", "   "])
def test_no_token_anywhere_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    """No token passed and B2B_AUTH_TOKEN unset or blank: a ValueError naming the variable."""
    if value is None:
        monkeypatch.delenv("B2B_AUTH_TOKEN", raising=False)
    else:
        monkeypatch.setenv("B2B_AUTH_TOKEN", value)
    with pytest.raises(ValueError, match="B2B_AUTH_TOKEN"):
        B2BClient()


def test_no_token_anywhere_says_how_to_give_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """No token passed and B2B_AUTH_TOKEN unset: the message says to pass one or set it."""
    monkeypatch.delenv("B2B_AUTH_TOKEN", raising=False)
    with pytest.raises(ValueError, match=r"^pass auth_token or set the B2B_AUTH_TOKEN environment"):
        B2BClient()


def test_extra_field_values_are_checked_by_default() -> None:
    """Without ``check_extra_fields``, V3 extra field values are checked before sending."""
    assert B2BClient("token-123456")._extra_fields.check is True
    assert B2BClient("token-123456", check_extra_fields=False)._extra_fields.check is False


def test_an_unfit_token_variable_is_refused_without_echo(monkeypatch: pytest.MonkeyPatch) -> None:
    """A B2B_AUTH_TOKEN that could inject headers is refused, naming the variable, not the value."""
    monkeypatch.setenv("B2B_AUTH_TOKEN", "secret-value\r\nX-Evil: 1")
    with pytest.raises(ValueError, match="B2B_AUTH_TOKEN") as info:
        B2BClient()
    assert "secret-value" not in str(info.value)


# --- with_options views --------------------------------------------------------------------------


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_views_are_paced_as_one_budget() -> None:
    """A view waits behind its parent's booking: one limiter paces both as one budget."""
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(requests=2, per=0.2), clock=clock)
    async with (
        SandboxServer(rate=None) as server,
        B2BClient(DEFAULT_TOKEN, base_url=server.url, rate_limit=limiter) as client,
    ):
        view = client.with_options(timeout=5.0, priority="bulk")
        assert view.limiter is client.limiter is limiter
        await client.orders.create(customer_id=1, order_id="BC1", total_inc_tax=1)
        second = asyncio.create_task(
            view.orders.create(customer_id=1, order_id="BC2", total_inc_tax=1)
        )
        async with asyncio.timeout(5.0):  # the limiter has counters, not events: poll them
            while limiter.waiting == 0:  # noqa: ASYNC110 - the view queues behind the parent
                await asyncio.sleep(0.001)
        assert (limiter.waiting, len(server.requests)) == (1, 1)
        clock.now = 0.2  # one emission interval later
        await second
    assert [record.status for record in server.requests] == [200, 200]
    assert client.stats == view.stats  # one tally: the parent counts the view's call too
    assert client.stats.requests == 2
    assert client.stats.budget_wait == pytest.approx(0.2)


async def assert_timeout_refused(given: aiohttp.ClientTimeout, pattern: str) -> None:
    """``given`` as ``timeout`` raises a ValueError matching ``pattern``, both when the client
    is built and from ``with_options``, and nothing reaches the server."""
    async with SandboxServer() as server:
        with pytest.raises(ValueError, match=pattern):
            B2BClient(DEFAULT_TOKEN, base_url=server.url, timeout=given)
        async with B2BClient(DEFAULT_TOKEN, base_url=server.url) as client:
            with pytest.raises(ValueError, match=pattern):
                client.with_options(timeout=given)
        assert server.requests == []


@pytest.mark.parametrize(
    ("bounds", "named"),
    [
        ({"total": float("inf")}, "total"),
        ({"total": 10**5000}, "total"),
        ({"sock_read": float("nan")}, "sock_read"),
        ({"connect": "5"}, "connect"),
        ({"sock_connect": -float("inf")}, "sock_connect"),
    ],
    ids=["inf", "huge", "nan", "text", "-inf"],
)
async def test_a_client_timeout_with_a_bound_aiohttp_cannot_arm_is_refused(
    bounds: dict[str, Any], named: str
) -> None:
    """A ClientTimeout bound that is no finite number is a ValueError naming it; nothing sent."""
    given = aiohttp.ClientTimeout(**bounds)
    pattern = f"^timeout.{named} must be a finite number of seconds or None"
    await assert_timeout_refused(given, pattern)
    unbounded = aiohttp.ClientTimeout(total=None, sock_read=0, connect=2)
    assert B2BClient("t", timeout=unbounded)._transport.timeout is unbounded


async def test_a_client_timeout_without_a_ceil_threshold_is_refused() -> None:
    """A ClientTimeout whose ceil_threshold is None is a ValueError naming it; nothing sent."""
    given = aiohttp.ClientTimeout(total=5, ceil_threshold=None)  # type: ignore[arg-type]
    pattern = "^timeout.ceil_threshold must be a finite number of seconds, got None"
    await assert_timeout_refused(given, pattern)
    defaults = aiohttp.ClientTimeout()
    assert B2BClient("t", timeout=defaults)._transport.timeout is defaults


async def test_a_timeout_in_seconds_gives_connecting_a_share_of_it() -> None:
    """Seconds bound the attempt, and connecting to CONNECT_SHARE of them: over every address
    of the host where the pool never makes a call wait (an owned session with a cap), per
    address where it may (a borrowed session, no cap); a ClientTimeout is used as given."""
    given = aiohttp.ClientTimeout(total=20, sock_connect=5)
    client = B2BClient("t", timeout=8.0)
    assert client._transport.timeout == aiohttp.ClientTimeout(total=8.0, connect=4.0)
    view = client.with_options(timeout=3.0)
    assert view._transport.timeout == aiohttp.ClientTimeout(total=3.0, connect=1.5)
    uncapped = B2BClient("t", timeout=8.0, max_concurrency=None)
    assert uncapped._transport.timeout == aiohttp.ClientTimeout(total=8.0, sock_connect=4.0)
    assert uncapped.with_options(timeout=2.0)._transport.timeout == aiohttp.ClientTimeout(
        total=2.0, sock_connect=1.0
    )
    async with aiohttp.ClientSession() as session:
        borrowing = B2BClient("t", session=session, timeout=8.0)
        assert borrowing._transport.timeout == aiohttp.ClientTimeout(total=8.0, sock_connect=4.0)
    assert B2BClient("t", timeout=given)._transport.timeout is given
    assert CONNECT_SHARE == 0.5


async def test_a_wait_for_a_borrowed_pool_s_connection_is_no_connect_timeout() -> None:
    """A borrowed session of one connection, held by a first call past the connect bound:
    the second call waits for it, then is answered, instead of failing "timed out
    connecting" (which a bulk run would count as a host that cannot be reached)."""
    release = asyncio.Event()
    arrived: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        arrived.append(request.path)
        if len(arrived) == 1:
            await release.wait()
        return web.json_response({"code": 200, "data": {"orderId": "BC"}, "message": "SUCCESS"})

    app = web.Application()
    app.router.add_post("/api/v2/io/companies/users/{customer}/orders", answer)
    async with (
        serving(app) as url,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session,
        B2BClient("t", base_url=url, session=session, timeout=4.0, retry=None) as client,
    ):

        async def create(order_id: str) -> object:
            return await client.orders.create(customer_id=1, order_id=order_id, total_inc_tax=1)

        first = asyncio.create_task(create("BC1"))
        second = asyncio.create_task(create("BC2"))
        async with asyncio.timeout(60):
            while not arrived:  # noqa: ASYNC110 - the server offers no event to await
                await asyncio.sleep(0.01)
        await asyncio.sleep(2.5)  # past the 2 s connect bound, well within the 4 s timeout
        release.set()
        await asyncio.wait_for(asyncio.gather(first, second), 60)
    assert len(arrived) == 2


async def test_a_connection_that_never_completes_is_known_never_sent() -> None:
    """A host that drops connections: the attempt fails "timed out connecting", with
    ``may_have_reached_server`` False, not as a wait for an answer."""
    with unanswered_port() as url:
        async with B2BClient("t", base_url=url, timeout=2.0, retry=None, rate_limit=None) as client:
            with pytest.raises(APITimeoutError, match="timed out connecting") as failed:
                await asyncio.wait_for(
                    client.orders.create(customer_id=1, order_id="BC1", total_inc_tax=1), 60
                )
    assert failed.value.may_have_reached_server is False


class TwoAddresses(aiohttp.abc.AbstractResolver):
    """Resolves every name to two loopback ports, as a host of two addresses resolves."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        """Both ports' addresses, in order."""
        return [
            aiohttp.abc.ResolveResult(
                hostname=host,
                host="127.0.0.1",
                port=each,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for each in self.ports
        ]

    async def close(self) -> None:
        """Nothing to close."""


async def test_a_host_of_two_addresses_that_never_answer_is_known_never_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Connecting is bounded over every address of the host, not each on its own: two
    unanswered addresses still fail "timed out connecting", before the attempt's timeout."""
    with unanswered_port() as first, unanswered_port() as second:
        ports = [int(url.rsplit(":", 1)[1]) for url in (first, second)]
        owned_connector = functools.partial(aiohttp.TCPConnector, resolver=TwoAddresses(ports))
        monkeypatch.setattr(aiohttp, "TCPConnector", owned_connector)  # the client's own
        async with B2BClient(
            "t", base_url=f"http://localhost:{ports[0]}", timeout=2.0, retry=None, rate_limit=None
        ) as client:
            with pytest.raises(APITimeoutError, match="timed out connecting") as failed:
                await asyncio.wait_for(
                    client.orders.create(customer_id=1, order_id="BC1", total_inc_tax=1), 60
                )
    assert failed.value.may_have_reached_server is False


async def test_views_share_the_session_and_keep_their_own_options() -> None:
    """A view uses the parent's session; its timeout and retry are its own, the parent's stay."""
    policy = RetryPolicy(attempts=9)
    client = B2BClient("t", timeout=7.0, retry=RetryPolicy())
    view = client.with_options(timeout=aiohttp.ClientTimeout(total=99.0), retry=policy)
    bare = client.with_options(retry=None)
    same = client.with_options()
    async with client:
        assert view._transport.open() is client._transport.open()
    assert (view._transport.timeout.total, view._transport.retry) == (99.0, policy)
    assert (client._transport.timeout.total, client._transport.retry) == (7.0, RetryPolicy())
    assert (bare._transport.retry, bare._transport.timeout.total) == (None, 7.0)
    assert (same._transport.retry, same._transport.priority) == (RetryPolicy(), None)
    assert view.orders is not client.orders
    assert view.base_url == client.base_url


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [({"priority": "high"}, "priority"), ({"timeout": 0}, "timeout"), ({"timeout": -1}, "timeout")],
)
def test_with_options_refuses_bad_values(kwargs: dict[str, object], fragment: str) -> None:
    """An unknown priority or a bad timeout raises ValueError naming the option."""
    with pytest.raises(ValueError, match=fragment):
        B2BClient("t").with_options(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("retry", [3, "RetryPolicy()", {"attempts": 2}])
def test_with_options_refuses_a_retry_of_another_type(retry: object) -> None:
    """A view's ``retry`` that is no RetryPolicy is a TypeError at once, as the client's is."""
    with pytest.raises(TypeError, match="retry must be a RetryPolicy or None"):
        B2BClient("t").with_options(retry=retry)  # type: ignore[arg-type]


async def test_closing_the_parent_ends_every_view_s_use() -> None:
    """After the parent closes, a view is closed too and its calls raise ClientClosedError."""
    async with SandboxServer(rate=None) as server:
        client = B2BClient(DEFAULT_TOKEN, base_url=server.url, rate_limit=None)
        view = client.with_options(timeout=5.0)
        async with client:
            await view.orders.create(customer_id=1, order_id="BC1", total_inc_tax=1)
        assert view.closed
        with pytest.raises(ClientClosedError):
            await view.orders.create(customer_id=1, order_id="BC2", total_inc_tax=1)
    assert len(server.requests) == 1


async def test_closing_a_view_leaves_the_parent_open() -> None:
    """Leaving a view's async with ends the view only; the parent's session keeps serving."""
    async with (
        SandboxServer(rate=None) as server,
        B2BClient(DEFAULT_TOKEN, base_url=server.url, rate_limit=None) as client,
    ):
        async with client.with_options(timeout=5.0) as view:
            await view.orders.create(customer_id=1, order_id="BC1", total_inc_tax=1)
        assert view.closed
        assert not client.closed
        await client.orders.create(customer_id=1, order_id="BC2", total_inc_tax=1)
    assert [record.status for record in server.requests] == [200, 200]


@pytest.mark.parametrize(
    "url",
    ["https://:pw@api-b2b.bigcommerce.com", "https://api-b2b\n.bigcommerce.com", "https://x\ty"],
)
def test_a_base_url_with_a_password_alone_or_a_control_character_is_refused(url: str) -> None:
    """A password without a user, and a newline or tab that yarl would drop, are refused, not
    quietly left out of the URL requests go to."""
    with pytest.raises(ValueError, match="base_url"):
        B2BClient("t", base_url=url)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"retry": "x"}, TypeError, "retry must be a RetryPolicy or None, got str"),
        ({"session": "x"}, TypeError, "session must be a ClientSession or None, got str"),
        ({"check_extra_fields": "no"}, TypeError, "check_extra_fields must be True or False"),
        ({"timeout": 10**400}, ValueError, "timeout must be a positive number of seconds"),
        ({"max_concurrency": -(10**5000)}, ValueError, "max_concurrency must be an int of"),
    ],
)
def test_options_of_another_kind_are_refused_at_construction(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    """A wrong type fails when the client is built, with the documented error, not at the
    first call with an AttributeError; a huge int is refused without writing it out."""
    with pytest.raises(error, match=message):
        B2BClient("t", **options)


def test_a_token_that_is_not_valid_unicode_is_refused_without_repeating_it() -> None:
    """A lone surrogate (what os.environ makes of a byte that is not UTF-8) is refused with a
    ValueError that neither says the token nor carries an error that holds it."""
    token = "s3cr3t-\udce9-0123456789abcdef"
    with pytest.raises(ValueError, match="auth_token must be valid Unicode") as info:
        B2BClient(token)
    error: BaseException | None = info.value
    while error is not None:
        assert "s3cr3t" not in repr(error)
        assert "s3cr3t" not in repr(getattr(error, "object", ""))
        error = error.__cause__ or error.__context__


@pytest.mark.parametrize(
    "url", ["ftp://user:SECRET-pw-123@example.com", "https://user:SECRET-pw-123@example.com/x"]
)
def test_a_base_url_with_credentials_is_refused_without_quoting_them(url: str) -> None:
    """Credentials are refused first, so no other complaint about the URL quotes them."""
    with pytest.raises(ValueError, match="must not hold a user or a password") as info:
        B2BClient("t", base_url=url)
    assert "SECRET" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "user:SECRET-pw-123@api-b2b.bigcommerce.com",
        "https:user:SECRET-pw-123@api-b2b.bigcommerce.com",
        "https:/user:SECRET-pw-123@api-b2b.bigcommerce.com",
    ],
)
def test_a_base_url_whose_credentials_yarl_cannot_see_is_refused_without_quoting_it(
    url: str,
) -> None:
    """Without the ``//`` before the host, yarl reads no user or password, yet a reader does:
    the refusal does not quote the URL."""
    with pytest.raises(ValueError, match="base_url must be an absolute https:// URL") as info:
        B2BClient("t", base_url=url)
    assert "SECRET" not in str(info.value)


#: Base URLs with a password that yarl fails to read, by what is wrong with them.
UNREADABLE_WITH_PASSWORD: Final = {
    "port": "https://user:SECRET-pw-123@host:99999",
    "address": "https://user:SECRET-pw-123@[::1",
}


def build_at(name: str) -> B2BClient:
    """A caller that passes a base URL straight from a mapping, as configuration does."""
    return B2BClient("t", base_url=UNREADABLE_WITH_PASSWORD[name])


@pytest.mark.parametrize("name", sorted(UNREADABLE_WITH_PASSWORD))
def test_a_base_url_yarl_cannot_read_leaves_its_password_in_no_frame(name: str) -> None:
    """A URL with a password that yarl fails to read is refused; neither the client's frames
    nor yarl's, kept in the refusal's context, hold the password."""
    with pytest.raises(ValueError, match="base_url must be a URL") as info:
        build_at(name)
    found = holders(info.value, "SECRET-pw")  # outside the assert: its rewriting keeps locals
    assert found == []


def test_a_client_serves_the_event_loop_it_first_sent_on_only() -> None:
    """A client (and its views) used again under a second asyncio.run raises
    ClientClosedError saying why, before anything is sent, instead of a bare RuntimeError
    from connections of a closed loop."""
    made: list[B2BClient] = []

    async def first_loop(url: str) -> None:
        async with aiohttp.ClientSession() as session:  # borrowed, closed with its loop
            client = B2BClient(
                "t", base_url=url, session=session, timeout=0.5, retry=None, rate_limit=None
            )
            made.append(client)
            with pytest.raises(APITimeoutError):
                await client.orders.create(customer_id=1, order_id="BC1", total_inc_tax=1)

    async def second_loop(client: B2BClient) -> int:
        refused = 0
        for user in (client, client.with_options(priority="urgent")):
            with pytest.raises(ClientClosedError, match="event loop it was first used in"):
                await user.orders.create(customer_id=1, order_id="BC2", total_inc_tax=1)
            refused += 1
        return refused

    with unanswered_port() as url:
        asyncio.run(first_loop(url))
        (client,) = made
        assert asyncio.run(second_loop(client)) == 2
    assert client.stats.requests == 1


def test_closing_from_another_event_loop_is_refused_and_leaves_the_client_to_its_own() -> None:
    """aclose from a second event loop raises ClientClosedError naming the loop and leaves
    the client open, to be closed in the loop it first sent on, where nothing leaks."""
    first = asyncio.new_event_loop()
    with unanswered_port() as url:
        client = B2BClient("t", base_url=url, timeout=0.5, retry=None, rate_limit=None)
        try:
            with pytest.raises(APITimeoutError):
                first.run_until_complete(
                    client.orders.create(customer_id=1, order_id="BC1", total_inc_tax=1)
                )
            with pytest.raises(ClientClosedError, match="event loop it was first used in"):
                asyncio.run(client.aclose())
            still_open = not client.closed
            assert still_open
        finally:
            first.run_until_complete(client.aclose())
            first.close()
    assert client.closed
    asyncio.run(client.aclose())  # closed already: nothing to refuse


def test_closing_a_view_never_used_binds_the_client_to_no_loop() -> None:
    """aclose of a view made before the client was used, in a throwaway loop, leaves the
    client free to be used, and closed, in the loop that then uses it first."""
    with unanswered_port() as url:
        client = B2BClient("t", base_url=url, timeout=0.5, retry=None, rate_limit=None)
        asyncio.run(client.with_options(priority="bulk").aclose())

        async def use_and_close() -> None:
            async with client:
                with pytest.raises(APITimeoutError):
                    await client.orders.create(customer_id=1, order_id="BC1", total_inc_tax=1)

        asyncio.run(use_and_close())
    assert client.closed


# -- the token: trimmed, and in no frame of a refused construction ------------------------------

SECRET: Final = "s3cr3t-B2B-t0ken-5f1c9e-of-length"
ENV_TOKEN: Final = "env-token-of-thirty-two-chars-00"
STORE_HASH: Final = "storehash77"


def answering_all(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> web.Application:
    """An application that answers every request with ``handler``."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


class KeywordPriorityLimiter:
    """A limiter whose ``acquire`` takes ``priority`` by keyword only: refused."""

    async def acquire(self, *, priority: object) -> float:
        return 0.0

    async def release(self, hint: object = None) -> None:
        return None


async def create_one(client: B2BClient) -> Any:
    return await client.orders.create(company_id=1, customer_id=1, order_id="BC1", total_inc_tax=1)


async def refused_create(
    token: str, refuse: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> AuthenticationError:
    """The error a create sent with ``token`` meets from a server answering with ``refuse``."""
    async with (
        serving(answering_all(refuse)) as url,
        B2BClient(token, base_url=url, rate_limit=None, retry=None) as client,
    ):
        with pytest.raises(AuthenticationError) as info:
            await create_one(client)
    return info.value


@pytest.mark.parametrize("passed", [f" {SECRET}", f"{SECRET} ", f"  {SECRET}  "])
@pytest.mark.parametrize("echo", ["invalid authToken {}", "invalid authToken={}", "[{}]"])
async def test_a_token_passed_with_spaces_is_redacted_where_the_server_echoes_it(
    passed: str, echo: str
) -> None:
    """The server reads a header value without its surrounding spaces and echoes that; the
    error, its details and its request id show none of it."""

    async def refuse(request: web.Request) -> web.Response:
        sent = request.headers["authToken"]
        body = {"code": 401, "message": echo.format(sent), "data": {"errMsg": echo.format(sent)}}
        return web.json_response(body, status=401, headers={"X-Request-Id": sent})

    error = await refused_create(passed, refuse)
    told = [str(error), repr(error), repr(error.details), str(error.request_id)]
    assert all(SECRET not in text for text in told), told


async def test_a_store_hash_passed_with_spaces_is_redacted_where_the_server_echoes_it() -> None:
    """The same for the store hash beside X-Auth-Token."""

    async def refuse(request: web.Request) -> web.Response:
        sent = request.headers["X-Store-Hash"]
        return web.json_response({"code": 401, "message": f"no store={sent}"}, status=401)

    async with (
        serving(answering_all(refuse)) as url,
        B2BClient(
            SECRET,
            store_hash=f"{STORE_HASH} ",
            base_url=url,
            rate_limit=None,
            retry=None,
            check_extra_fields=False,
        ) as client,
    ):
        with pytest.raises(AuthenticationError) as info:
            await client.v3.orders.create(bc_order_id=1, customer_id=2)
    assert STORE_HASH not in str(info.value)


async def test_a_non_ascii_token_a_server_reads_as_latin1_is_redacted_where_it_echoes_it() -> None:
    """A server that reads header bytes as Latin-1 (WSGI, Node) holds a non-ASCII token as one
    character per UTF-8 byte, and echoes it so: the error shows none of it."""
    token = "s3cr3t-t\u00f6k\u00e9n-\u00fcn\u00efc\u00f6d\u00e9"

    async def refuse(request: web.Request) -> web.Response:
        sent = request.headers["authToken"].encode("utf-8").decode("latin-1")
        body = {"code": 401, "data": {"errMsg": f"invalid authToken {sent}", "seen": sent}}
        return web.json_response(body, status=401)

    error = await refused_create(token, refuse)
    assert error.message == "invalid authToken ***"
    assert all("s3cr3t" not in text for text in (str(error), repr(error.details)))


def test_a_limiter_refused_leaves_no_frame_holding_the_environment_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The limiter's ``acquire`` is checked when the transport is built: after the token
    was read from the environment, so that the frames of the refusal held it."""
    monkeypatch.setenv("B2B_AUTH_TOKEN", ENV_TOKEN)
    with pytest.raises(TypeError, match="acquire") as info:
        B2BClient(rate_limit=KeywordPriorityLimiter())  # type: ignore[arg-type]
    assert holders(info.value, ENV_TOKEN) == []
    assert ENV_TOKEN not in rendered(info.value)


def test_a_refused_environment_token_is_in_no_frame_of_its_refusal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A token variable with a second line (a comment kept in the secret) is refused; the
    message does not repeat it, and no frame of the refusal holds it."""
    monkeypatch.setenv("B2B_AUTH_TOKEN", f"{ENV_TOKEN}\n# rotated in May")
    with pytest.raises(ValueError, match="B2B_AUTH_TOKEN") as info:
        B2BClient()
    assert holders(info.value, ENV_TOKEN) == []
    assert ENV_TOKEN not in rendered(info.value)


def build_with_a_bad_timeout(environ: dict[str, str]) -> B2BClient:
    """A caller whose own frame holds no token: it passes it straight from a mapping."""
    return B2BClient(environ["TOKEN"], timeout=-1)


def test_a_passed_token_is_in_no_frame_of_another_arguments_refusal() -> None:
    """A token passed in, another argument refused: the client's frames hold it no longer
    (the caller's own frame is the caller's business)."""
    with pytest.raises(ValueError, match="timeout") as info:
        build_with_a_bad_timeout({"TOKEN": SECRET})
    leaks = [where for where in holders(info.value, SECRET) if "build_with" not in where]
    assert leaks == []


def configuration_fetches() -> list[asyncio.Task[Any]]:
    """The fetches of the order extra field configurations running in this event loop."""
    return [task for task in asyncio.all_tasks() if "extra field" in task.get_name()]


async def test_closing_a_view_leaves_the_client_its_extra_field_configurations() -> None:
    """A closed view ends its own use only: the client still fetches the configurations."""
    async with (
        SandboxServer(rate=None) as sandbox,
        B2BClient(
            sandbox.token, base_url=sandbox.url, store_hash=DEFAULT_STORE_HASH, rate_limit=None
        ) as client,
    ):
        await client.with_options(timeout=5.0).aclose()
        assert len(await client.v3.orders.extra_field_configs()) > 0


async def test_closing_the_client_ends_a_fetch_of_the_configurations_under_way() -> None:
    """aclose returns once a fetch of the configurations under way has ended."""
    with unanswered_port() as url:
        client = B2BClient("t", base_url=url, store_hash="h", retry=None, rate_limit=None)
        caller = asyncio.create_task(client.v3.orders.extra_field_configs())
        for _ in range(10):  # a few turns of the loop, in which the fetch begins
            await asyncio.sleep(0)
        [fetch] = configuration_fetches()
        await client.aclose()
        assert fetch.done()
        with pytest.raises(ClientClosedError):
            await caller


def test_a_token_of_the_least_secret_length_is_redacted() -> None:
    """A token exactly MIN_SECRET_LENGTH characters long is scrubbed from an answer."""
    token = "t0k3n-xyz"[:MIN_SECRET_LENGTH]
    assert redact(f"bad token {token}", secrets_of({"authToken": token})) == "bad token ***"


def test_a_token_a_server_echoes_json_escaped_is_redacted_whole() -> None:
    """A token holding a quote, echoed inside a JSON string, is scrubbed to the last character."""
    token = 'tok"en-0123456789'
    echoed = json.dumps(f"invalid token {token}")
    assert redact(echoed, secrets_of({"authToken": token})) == json.dumps("invalid token ***")
