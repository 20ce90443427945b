"""The client: an async session manager that owns (or borrows) the HTTP session."""

from __future__ import annotations

import contextlib
import copy
import enum
import html
import ipaddress
import json
import re
import traceback
from collections.abc import Mapping
from typing import Final, Self
from urllib.parse import quote, quote_plus

import aiohttp
from yarl import URL

from ._config import (
    CONNECT_SHARE,
    DEFAULT_BASE_URL,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT,
    MIN_SECRET_LENGTH,
    STORE_HASH_VARIABLE,
    TOKEN_VARIABLE,
    Priority,
    RateLimit,
    RetryPolicy,
    check_flag,
    check_option_type,
    check_positive_int,
    check_priority,
    environment_text,
    finite_number,
    positive_number,
    shown,
)
from ._exceptions import CLIENT_CLOSED, ClientClosedError
from ._extra_field_cache import ExtraFieldCache
from ._protocol import Secrets
from ._ratelimit import Limiter, build_limiter
from ._transport import ClientStats, Transport, pool_may_wait
from ._v2 import Companies, Orders
from ._v3 import V3Resources
from ._version import __version__

__all__ = ["KEEP", "B2BClient", "Keep", "credentials"]

_HEADER_UNSAFE: Final = re.compile(r"[\x00-\x1f\x7f]")
_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.localdomain"})


def is_loopback(host: str) -> bool:
    """Tell whether ``host`` names this machine: ``127.0.0.0/8``, ``::1`` or ``localhost``.

    An IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) is not taken for loopback on any
    Python version: 3.13 changed ``ipaddress`` to call it loopback where 3.11 and 3.12 do
    not, and a rule that allows the token to travel in clear must not depend on the
    interpreter. A sandbox is reached as ``127.0.0.1``, ``[::1]`` or ``localhost``.
    """
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    mapped = isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None
    return address.is_loopback and not mapped


def check_base_url(base_url: str) -> str:
    """Validate a host root and return it without a trailing slash.

    Raises:
        ValueError: not an absolute http(s) URL of a host root (one that yarl cannot read,
            or whose host holds a space or a ``%`` escape, or whose port is not ASCII
            digits), or plain http to a host that is not loopback (the token would cross
            the network in clear).
    """
    if not isinstance(base_url, str) or _HEADER_UNSAFE.search(base_url):
        raise ValueError("base_url must be a str without control characters")
    try:
        url = URL(base_url)
        host = url.host  # decoded on first use: a bad IDNA name fails here
    except ValueError as exc:  # a port past 65535, an IPv6 address left open, a bad IDNA name
        # yarl's words may quote the whole authority, a password in it included, and its
        # frames hold the password in their locals: the error stays the refusal's context.
        traceback.clear_frames(exc.__traceback__)
        detail = "" if may_hold_password(base_url) else f": {exc}"
        raise ValueError(f"base_url must be a URL, and is not{detail}") from None
    if _has_credentials(url):  # refused before any message could quote them
        raise ValueError("base_url must not hold a user or a password")
    if url.scheme not in ("https", "http") or not host:
        raise ValueError(f"base_url must be an absolute https:// URL{_got(base_url)}")
    if any(character.isspace() or character == "%" for character in host):
        raise ValueError(f"base_url must name a host without spaces or % escapes{_got(base_url)}")
    if url.explicit_port is not None and f":{url.explicit_port}" not in base_url:
        raise ValueError(f"base_url must write its port in ASCII digits{_got(base_url)}")
    if url.path not in ("", "/") or url.query_string or url.fragment:
        raise ValueError(f"base_url must be a host root such as {DEFAULT_BASE_URL!r}")
    if url.scheme == "http" and not is_loopback(host):
        raise ValueError("base_url must use https:// (plain http is allowed only for loopback)")
    return str(url.origin())


def may_hold_password(base_url: str) -> bool:
    """Whether ``base_url`` may hold a user's password, so that no message may quote it: any
    ``@`` may end one, where yarl found no authority to read it in (``user:pw@host`` with no
    scheme, ``https:user:pw@host``)."""
    return "@" in base_url


def _got(base_url: str) -> str:
    """What a refusal of ``base_url`` says it got: the URL, unless it may hold a password."""
    return "" if may_hold_password(base_url) else f", got {shown(base_url)}"


def _has_credentials(url: URL) -> bool:
    """Whether ``url`` names a user or a password (``https://:secret@host`` names only one)."""
    return url.user is not None or url.password is not None


def check_header_value(value: object, name: str) -> str:
    """Refuse a header value that is empty or could split or inject headers.

    The message never repeats the value: it may be a secret.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty str")
    if _HEADER_UNSAFE.search(value):
        raise ValueError(f"{name} must not contain control characters such as CR or LF")
    if not _encodes(value):  # a lone surrogate: what os.environ makes of a byte not UTF-8
        raise ValueError(f"{name} must be valid Unicode")
    return value


def _encodes(value: str) -> bool:
    """Whether ``value`` encodes as UTF-8.

    Not :func:`~b2b_async._routes.sendable_text`: its error keeps the ``UnicodeEncodeError``
    as context, and that error holds the whole value, here a secret.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def auth_headers(token: str, store_hash: str | None) -> dict[str, str]:
    """The authentication headers of every request, V2 and V3 alike.

    With a store hash, BigCommerce's current scheme: ``X-Auth-Token`` and ``X-Store-Hash``.
    Without one, the legacy ``authToken`` header. Never ``X-Store-Hash`` beside ``authToken``:
    the two schemes are not mixed.

    Args:
        token: the checked API token.
        store_hash: the checked store hash, or ``None`` for the legacy scheme.
    """
    if store_hash is None:
        return {"authToken": token}
    return {"X-Auth-Token": token, "X-Store-Hash": store_hash}


def secrets_of(auth: Mapping[str, str]) -> Secrets:
    """What an answer must never repeat: each authentication value as a server may echo it.

    That is the value as sent, as a server reading header bytes as Latin-1 holds it
    (:func:`read_as_latin1`), percent-encoded (with ``/`` kept or encoded, and as a form
    encodes it, spaces as ``+``) and HTML-escaped (an error page quoting it), each of these
    also JSON-escaped; :func:`~b2b_async._protocol.redact` finds a long one in any case, and
    any one in whatever JSON or percent escapes another encoder writes.
    Values shorter than :data:`MIN_SECRET_LENGTH` are not scrubbed: such a value is no
    secret worth the name, and scrubbing it would mangle ordinary text that happens to hold
    it. Real tokens are dozens of characters long; store hashes about ten.
    """
    plain = [value for value in auth.values() if len(value) >= MIN_SECRET_LENGTH]
    spelt = {form for value in plain for form in _echoes(value)}
    escaped = {json.dumps(form)[1:-1] for form in spelt}
    return Secrets(sorted(spelt | escaped, key=len, reverse=True))


def _echoes(value: str) -> tuple[str, ...]:
    """The forms a server may echo ``value`` in, before any JSON escaping."""
    return (
        value,
        read_as_latin1(value),
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        html.escape(value),
    )


def read_as_latin1(value: str) -> str:
    """``value`` as a server holds it that reads header bytes as Latin-1 (a WSGI
    application's ``environ``, Node's ``req.headers``): each byte of its UTF-8 one character.
    The same as ``value`` when it is ASCII."""
    return value.encode("utf-8").decode("latin-1")


def user_agent_of(suffix: str | None) -> str:
    """The ``User-Agent`` of every request: the library's name and version, then ``suffix``.

    Raises:
        ValueError: ``suffix`` is empty or holds control characters.
    """
    agent = f"b2b-async/{__version__}"
    return agent if suffix is None else f"{agent} {check_header_value(suffix, 'user_agent')}"


def credentials(auth_token: str | None, store_hash: str | None) -> tuple[str, str | None]:
    """The token and store hash to use: as passed, or from the environment without a token.

    Without ``auth_token``, the token comes from
    :data:`~b2b_async._config.TOKEN_VARIABLE` and, unless ``store_hash`` is passed, the
    store hash from :data:`~b2b_async._config.STORE_HASH_VARIABLE` (blank means none). A
    passed token never takes the store hash from the environment: that would switch its
    authentication scheme behind the caller's back.

    A passed store hash is checked before the token is read, so that no frame of its
    refusal holds a token from the environment. Surrounding blanks are dropped, from a passed
    value as from the environment's: a server reads a header without them, so that is the
    value it may echo, and the value that answers must never repeat.

    Raises:
        ValueError: no token is passed and the variable is unset or blank, or the token or
            the store hash is unfit for a header (the message names the argument or the
            variable, never the value).
    """
    if store_hash is not None:
        store_hash = check_header_value(store_hash, "store_hash").strip()
    if auth_token is not None:
        return check_header_value(auth_token, "auth_token").strip(), store_hash
    token = environment_text(TOKEN_VARIABLE)
    if token is None:
        raise ValueError(f"pass auth_token or set the {TOKEN_VARIABLE} environment variable")
    if store_hash is None and (from_environment := environment_text(STORE_HASH_VARIABLE)):
        store_hash = check_header_value(from_environment, STORE_HASH_VARIABLE)
    return check_header_value(token, TOKEN_VARIABLE), store_hash


class Keep(enum.Enum):
    """The type of :data:`KEEP`: an option not given to :meth:`B2BClient.with_options`."""

    KEEP = enum.auto()


#: "Keep the client's value", where ``None`` would mean "none" (``retry=None``: no retries).
KEEP: Final = Keep.KEEP


def _check_concurrency(value: int | None) -> int | None:
    return None if value is None else check_positive_int(value, "max_concurrency")


#: The bounds of an :class:`aiohttp.ClientTimeout`, each in seconds or ``None``.
_TIMEOUT_BOUNDS: Final = ("total", "connect", "sock_read", "sock_connect")


def _checked_bounds(value: aiohttp.ClientTimeout) -> aiohttp.ClientTimeout:
    """``value`` when each of its bounds is a finite number of seconds or ``None``, and its
    ``ceil_threshold`` a finite number of seconds.

    aiohttp takes ``None`` (and 0) for no bound, reads NaN as none either, and fails every
    request armed with an infinity, an int past a float's range or text, with an
    ``OverflowError`` or a ``TypeError`` of its own (a ``ceil_threshold`` of ``None`` too,
    which it compares with every bound): those are refused here, by name.

    Raises:
        ValueError: a bound is neither ``None`` nor a finite ``int`` or ``float``, or
            ``ceil_threshold`` is no finite ``int`` or ``float``.
    """
    for bound in _TIMEOUT_BOUNDS:
        given = getattr(value, bound)
        if given is not None and finite_number(given) is None:
            raise ValueError(
                f"timeout.{bound} must be a finite number of seconds or None, got {shown(given)}"
            )
    threshold = value.ceil_threshold
    if finite_number(threshold) is None:
        raise ValueError(
            f"timeout.ceil_threshold must be a finite number of seconds, got {shown(threshold)}"
        )
    return value


def _timeout(value: float | aiohttp.ClientTimeout, *, per_address: bool) -> aiohttp.ClientTimeout:
    """A timeout in seconds as aiohttp takes it, connecting bounded to a share of it.

    The bound covers getting the connection over every address of the host (``connect``),
    or, ``per_address``, each address's connection alone (``sock_connect``): where a call
    may wait for a free connection of the pool (:func:`~b2b_async._transport.pool_may_wait`),
    that wait is no sign of a host that cannot be reached.
    """
    if isinstance(value, aiohttp.ClientTimeout):
        return _checked_bounds(value)
    seconds = positive_number(value)
    if seconds is None:
        raise ValueError(f"timeout must be a positive number of seconds, got {shown(value)}")
    connecting = seconds * CONNECT_SHARE
    if per_address:
        return aiohttp.ClientTimeout(total=seconds, sock_connect=connecting)
    return aiohttp.ClientTimeout(total=seconds, connect=connecting)


class B2BClient:
    """An async client of the B2B Edition REST API.

    Use it as an async context manager, one per service (it holds the connection pool, the
    pacing state and the statistics that every call shares)::

        async with B2BClient(token) as client:
            created = await client.orders.create(
                company_id="123", customer_id="456", order_id="BC1",
                total_inc_tax=Decimal("259.99"), po_number="PO-7",
            )

    Every request, V2 (``client.orders``) and V3 (``client.v3.orders``) alike, carries the
    authentication headers, ``Accept: application/json`` and ``User-Agent:
    b2b-async/<version>`` (plus ``user_agent``), and ``Content-Type: application/json`` when
    it has a body. With ``store_hash`` the authentication is BigCommerce's current scheme,
    ``X-Auth-Token`` and ``X-Store-Hash``; without it, the legacy ``authToken`` header. The
    two are never mixed: no request carries ``X-Store-Hash`` beside ``authToken``. Neither
    the token nor the store hash appears in a ``repr``, a log line or an error message.

    Args:
        auth_token: the API token: a BigCommerce API account's access token (with
            ``store_hash``) or a legacy B2B Edition ``authToken`` (without). ``None`` reads
            it from the ``B2B_AUTH_TOKEN`` environment variable, and then the store hash
            from ``B2B_STORE_HASH`` unless a ``store_hash`` is passed (``None`` is none:
            with the token from the environment, the legacy ``authToken`` needs
            ``B2B_STORE_HASH`` unset).
        store_hash: the store hash of the BigCommerce store, to authenticate with
            ``X-Auth-Token`` and ``X-Store-Hash``; ``None`` for the legacy ``authToken``.
        base_url: the API's host root. Plain ``http://`` is refused unless the host is
            loopback (a local sandbox).
        session: an :class:`aiohttp.ClientSession` to borrow; the client never closes it.
            Without one the client owns a session, sized to ``max_concurrency``. A borrowed
            session whose connector's pool is smaller than ``max_concurrency`` (its
            ``limit`` or ``limit_per_host``) holds the requests in flight to its size.
        timeout: seconds one attempt may take (or an :class:`aiohttp.ClientTimeout`, whose
            bounds are each a finite number of seconds or ``None``, and whose
            ``ceil_threshold`` is a finite number).
            Time spent queueing for budget or for a place among the requests in flight
            is not counted; a wait for a free connection of a borrowed session's pool (one
            its other users hold, or without a cap) is.
        retry: the retry options, or ``None`` for a single attempt per call.
        rate_limit: the store's budget as a :class:`~b2b_async.RateLimit` (paced in this
            process), any object following the :class:`~b2b_async.Limiter` protocol, or
            ``None`` to switch pacing off.
        max_concurrency: the most requests in flight at once, or ``None`` for no cap.
        user_agent: a suffix that identifies your integration, e.g. ``"acme-sync/2.1"``.
        max_response_bytes: the largest response body read; a longer success raises
            :class:`~b2b_async.ResponseDecodeError` (a longer error answer is the error its
            status names, its body unread).
        check_extra_fields: check V3 extra field values against the store's configurations
            before a create or an update is sent (see :ref:`extra-field-check`); ``False``
            sends them unchecked and never fetches the configurations for it.

    Raises:
        ValueError: an argument is invalid, or no token is passed and ``B2B_AUTH_TOKEN``
            is not set (messages never repeat the token or the store hash).
        TypeError: ``session``, ``retry``, ``rate_limit`` or ``check_extra_fields`` is of
            another type (a limiter's class, say, rather than an instance), or
            ``rate_limit`` is a limiter whose ``acquire`` cannot take
            ``(priority, *, deadline=None)``, unless it takes nothing and names neither (a
            0.1 limiter), or whose ``release`` cannot take ``(hint)``.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       ``auth_token`` is optional: the environment supplies it. ``check_extra_fields``.
    """

    __slots__ = (
        "_base_url",
        "_companies",
        "_extra_fields",
        "_orders",
        "_scheme",
        "_transport",
        "_v3",
    )

    def __init__(
        self,
        auth_token: str | None = None,
        *,
        store_hash: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        session: aiohttp.ClientSession | None = None,
        timeout: float | aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = RetryPolicy(),  # noqa: B008 - frozen, shared safely
        rate_limit: RateLimit | Limiter | None = RateLimit(),  # noqa: B008 - frozen
        max_concurrency: int | None = DEFAULT_MAX_CONCURRENCY,
        user_agent: str | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        check_extra_fields: bool = True,
    ) -> None:
        try:
            check_option_type(retry, RetryPolicy, "retry", optional=True)
            check_option_type(session, aiohttp.ClientSession, "session", optional=True)
            self._base_url = check_base_url(base_url)
            headers = {"Accept": "application/json", "User-Agent": user_agent_of(user_agent)}
            per_address = pool_may_wait(owned=session is None, max_concurrency=max_concurrency)
            attempt_timeout = _timeout(timeout, per_address=per_address)
            in_flight = _check_concurrency(max_concurrency)
            max_bytes = check_positive_int(max_response_bytes, "max_response_bytes")
            checked = check_flag(check_extra_fields, "check_extra_fields")
            limiter = build_limiter(rate_limit)
            # The credentials last: no check of another argument fails with a token from the
            # environment in this frame, whose locals a traceback may show.
            auth = auth_headers(*credentials(auth_token, store_hash))
            self._scheme = " ".join(f"{name}=***" for name in auth)
            transport = Transport(
                base_url=self._base_url,
                session=session,
                headers={**auth, **headers},
                timeout=attempt_timeout,
                retry=retry,
                limiter=limiter,
                max_concurrency=in_flight,
                max_response_bytes=max_bytes,
                secrets=secrets_of(auth),
            )
        except BaseException as exc:
            # A refusal's traceback may be shown with its frames' local variables: this
            # frame's may not hold the token or the store hash, passed or read, nor a base
            # URL holding a password, and the frames below it (the refusal of a token read
            # from the environment) ended.
            auth_token = store_hash = None
            base_url = ""
            auth = {}
            traceback.clear_frames(exc.__traceback__)
            raise
        # One cache per client, shared by its views: the configurations are the store's.
        self._extra_fields = ExtraFieldCache(transport, check=checked)
        self._bind(transport)

    def _bind(self, transport: Transport) -> None:
        """Send every resource's calls through ``transport``."""
        self._transport = transport
        self._orders = Orders(transport)
        self._companies = Companies(transport)
        self._v3 = V3Resources(transport, self._extra_fields)

    def with_options(
        self,
        *,
        timeout: float | aiohttp.ClientTimeout | None = None,
        retry: RetryPolicy | Keep | None = KEEP,
        priority: Priority | str | None = None,
    ) -> Self:
        """A light view of this client whose calls use other options.

        The view shares this client's connection pool, rate limiter (so the two are paced
        as one budget), concurrency cap and statistics; it costs a few small objects.
        Closing the view (or leaving its ``async with``) ends its own use only; closing
        this client ends every view's::

            patient = client.with_options(timeout=120.0, retry=RetryPolicy(attempts=10))
            await patient.orders.create(...)

        Args:
            timeout: seconds one attempt may take (or an :class:`aiohttp.ClientTimeout`);
                ``None`` keeps this client's.
            retry: the retry options, ``None`` for a single attempt; by default this
                client's.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``: the priority of every call
                made through the view that names none itself (it wins over
                :meth:`priority` blocks); ``None`` keeps this client's.

        Raises:
            ValueError: an option is invalid.
            TypeError: ``retry`` is neither a :class:`RetryPolicy` nor ``None``.

        .. versionadded:: 0.2.0
        """
        if not isinstance(retry, Keep):
            check_option_type(retry, RetryPolicy, "retry", optional=True)
        transport = self._transport
        view = copy.copy(self)
        view._bind(
            transport.with_options(
                timeout=(
                    transport.timeout
                    if timeout is None
                    else _timeout(timeout, per_address=transport.pool_may_wait)
                ),
                retry=transport.retry if isinstance(retry, Keep) else retry,
                priority=transport.priority if priority is None else check_priority(priority),
            )
        )
        return view

    def priority(self, level: Priority | str) -> contextlib.AbstractContextManager[Priority]:
        """Within the ``with`` block, calls of this client carry ``level`` by default.

        It covers every call of this client and its views made inside the block, tasks
        created inside it included (the priority is a context variable), so a gathered
        backfill is marked as one::

            with client.priority("bulk"):
                await asyncio.gather(*(client.orders.register(order) for order in backlog))

        A call's own ``priority=``, and a view's from :meth:`with_options`, win over the
        block; an inner block wins over an outer one. See :doc:`/ratelimits` for how the
        rate limiter serves the priorities.

        Args:
            level: ``"urgent"``, ``"normal"`` or ``"bulk"`` (or a
                :class:`~b2b_async.Priority`).

        Returns:
            A context manager; ``with ... as level`` gives the :class:`~b2b_async.Priority`.

        Raises:
            ValueError: ``level`` names no priority.

        .. versionadded:: 0.2.0
        """
        return self._transport.prioritised(level)

    @property
    def orders(self) -> Orders:
        """The V2 Order operations."""
        return self._orders

    @property
    def v3(self) -> V3Resources:
        """The V3 API, whose ``client.v3.orders`` holds the V3 Order operations.

        .. versionadded:: 0.1.0
        """
        return self._v3

    @property
    def companies(self) -> Companies:
        """The Company operations that concern orders (the order ids of a company)."""
        return self._companies

    @property
    def base_url(self) -> str:
        """The host root requests go to."""
        return self._base_url

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._transport.closed

    @property
    def stats(self) -> ClientStats:
        """Counters of requests, retries, 429s met and time spent waiting for budget."""
        return self._transport.stats

    @property
    def limiter(self) -> Limiter | None:
        """The rate limiter every call of this client shares, or ``None``."""
        return self._transport.limiter

    async def __aenter__(self) -> Self:
        if self.closed:
            raise ClientClosedError(CLIENT_CLOSED)
        self._transport.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client and the session it owns; idempotent.

        A borrowed session stays open. Calls made afterwards raise
        :class:`~b2b_async.ClientClosedError`. A view (see :meth:`with_options`) only stops
        its own use.

        Raises:
            ClientClosedError: called from an event loop other than the one the client was
                first used in, whose connections and tasks only that loop can end; the client
                stays open, to be closed there, before that loop ends.
        """
        if self.closed:
            return
        self._transport.check_loop()
        try:
            if not self._transport.is_view:  # the views share the client's cache
                await self._extra_fields.aclose()
        finally:  # closed even when cancelled while the fetch ends
            await self._transport.aclose()

    def __repr__(self) -> str:
        if not hasattr(self, "_transport"):  # its __init__ refused an argument
            return "<B2BClient, not built>"
        state = "closed" if self.closed else "open"
        return f"<B2BClient {self._base_url} {self._scheme} {state}>"
