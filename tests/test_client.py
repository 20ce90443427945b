"""B2BClient construction, ownership of the session, closing, and what it shows of itself."""

from __future__ import annotations

from types import ModuleType

import aiohttp
import pytest

import b2b_async
from b2b_async import B2BClient, ClientClosedError, RetryPolicy
from b2b_async._client import is_loopback
from b2b_async.sandbox import DEFAULT_TOKEN, SandboxServer


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


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"attempts": 0}, "attempts"),
        ({"attempts": 1.5}, "attempts"),
        ({"initial_wait": -1}, "initial_wait"),
        ({"max_wait": float("inf")}, "max_wait"),
        ({"max_retry_after": float("nan")}, "max_retry_after"),
        ({"deadline": 0}, "deadline"),
    ],
)
def test_retry_policy_validation(kwargs: dict[str, float], fragment: str) -> None:
    """RetryPolicy refuses out-of-range options with a ValueError naming them."""
    with pytest.raises(ValueError, match=fragment):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_backoff_formula() -> None:
    """Backoff doubles from initial_wait, is capped by max_wait, and scales by jitter."""
    policy = RetryPolicy(initial_wait=0.5, max_wait=3.0)
    assert [policy.backoff(n, 1.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.backoff(2, 0.5) == 0.5
    assert policy.backoff(10_000, 1.0) == 3.0


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
