"""The one request path every call takes.

For each attempt, in this order: a place among the requests in flight (the concurrency
cap), budget from the rate limiter (which also holds everyone back while a 429 cooldown
lasts), the exchange over aiohttp, the budget headers fed back to the limiter, and the
sans-I/O decoding of the answer. Failures that may succeed on repetition are retried by
tenacity; the first attempt runs outside tenacity, so a call that succeeds at once pays
nothing for the retry machinery.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import time
from collections.abc import Mapping
from typing import Any, Final

import aiohttp
import attrs
import tenacity
from yarl import URL

from ._config import (
    DEFAULT_MAX_CONCURRENCY,
    MAX_TARGET_PATH,
    MAX_TARGETS,
    UNHINTED_COOLDOWN,
    RetryPolicy,
)
from ._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    B2BError,
    ClientClosedError,
    ResponseDecodeError,
    TransportError,
)
from ._protocol import BudgetHint, Envelope, Request, RequestInfo, decode_response, parse_budget
from ._ratelimit import Limiter
from ._retry import StopBeforeDeadline, WaitStrategy, is_retryable, may_have_reached_server

__all__ = ["ClientStats", "Request", "Transport"]

DEFAULT_RETRY: Final = RetryPolicy()

logger: Final = logging.getLogger("b2b_async")

_CHUNK: Final = 64 * 1024


class _Policy(enum.Enum):
    CLIENT = "the client's own retry policy"


@attrs.frozen
class ClientStats:
    """Counters of what one client has done since it was created.

    Attributes:
        requests: HTTP requests sent, retries included.
        retries: attempts that were retries of an earlier failed attempt.
        rate_limited: 429 answers met.
        budget_wait: seconds calls spent waiting for rate-limit budget or a cooldown,
            summed over calls.
        in_flight: requests being sent or awaited right now.

    .. versionadded:: 0.1.0
    """

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    budget_wait: float = 0.0
    in_flight: int = 0


class _Counters:
    __slots__ = ("budget_wait", "in_flight", "rate_limited", "requests", "retries")

    def __init__(self) -> None:
        self.requests = 0
        self.retries = 0
        self.rate_limited = 0
        self.budget_wait = 0.0
        self.in_flight = 0


def _transport_error(exc: BaseException, info: RequestInfo) -> TransportError:
    method, url = info.method, info.url
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return APITimeoutError(
            "timed out connecting", method=method, url=url, may_have_reached_server=False
        )
    if isinstance(exc, TimeoutError):
        return APITimeoutError("timed out waiting for the response", method=method, url=url)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return APIConnectionError(
            f"could not connect: {exc.os_error}",
            method=method,
            url=url,
            may_have_reached_server=False,
        )
    # str() of aiohttp's errors names the URL at most, never the request's headers.
    return APIConnectionError(
        f"connection failed: {type(exc).__name__}: {exc}", method=method, url=url
    )


class Transport:
    """Sends requests for one client: pacing, concurrency cap, exchange, decoding, retries.

    Args:
        base_url: the host root, without a trailing slash.
        headers: headers for every request (the auth header among them).
        timeout: the per-attempt timeout.
        retry: the retry options, or ``None`` for a single attempt.
        limiter: the rate limiter, or ``None`` for no pacing.
        max_concurrency: the most requests in flight, or ``None`` for no cap.
        max_response_bytes: the largest body read.
        session: a session to borrow (never closed here), or ``None`` to own one.
    """

    __slots__ = (
        "_base_headers",
        "_base_url",
        "_body_headers",
        "_closed",
        "_counters",
        "_headers",
        "_limiter",
        "_max_bytes",
        "_owned",
        "_retry",
        "_session",
        "_slots",
        "_targets",
        "_timeout",
        "max_concurrency",
    )

    def __init__(
        self,
        *,
        base_url: str,
        headers: Mapping[str, str],
        timeout: aiohttp.ClientTimeout,
        retry: RetryPolicy | None,
        limiter: Limiter | None,
        max_concurrency: int | None,
        max_response_bytes: int,
        session: aiohttp.ClientSession | None,
    ) -> None:
        self._base_url = base_url
        self._base_headers = dict(headers)
        # Per-request headers: all of them for a borrowed session; for an owned one the
        # session carries the fixed ones and a request adds only what varies, which spares
        # aiohttp merging four headers into every request.
        self._headers: dict[str, str] | None = dict(headers)
        self._body_headers = {**headers, "Content-Type": "application/json"}
        self._timeout = timeout
        self._retry = retry
        self._limiter = limiter
        self.max_concurrency = max_concurrency
        self._slots = None if max_concurrency is None else _Slots(max_concurrency)
        self._max_bytes = max_response_bytes
        self._session = session
        self._owned = session is None
        self._closed = False
        self._counters = _Counters()
        self._targets: dict[tuple[str, str], tuple[URL, RequestInfo]] = {}

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    @property
    def stats(self) -> ClientStats:
        """A snapshot of the counters."""
        c = self._counters
        return ClientStats(c.requests, c.retries, c.rate_limited, c.budget_wait, c.in_flight)

    def bulk_workers(self, concurrency: int | None) -> int:
        """Workers for a bulk run: as asked, else the in-flight cap (the default without one)."""
        if concurrency is not None:
            return concurrency
        return self.max_concurrency or DEFAULT_MAX_CONCURRENCY

    @property
    def limiter(self) -> Limiter | None:
        """The rate limiter in use, if any."""
        return self._limiter

    def open(self) -> aiohttp.ClientSession:
        """Return the session, creating the owned one on first use.

        Raises:
            ClientClosedError: the client, or a borrowed session, is closed.
        """
        if self._closed:
            raise ClientClosedError("the client is closed; create a new B2BClient")
        if self._session is None:
            limit = self.max_concurrency or 100
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=limit), headers=self._base_headers
            )
            self._headers = None
            self._body_headers = {"Content-Type": "application/json"}
        elif not self._owned and self._session.closed:  # an owned one closes in aclose only
            raise ClientClosedError("the borrowed aiohttp session is closed")
        return self._session

    async def aclose(self) -> None:
        """Close the owned session (a borrowed one stays open); idempotent."""
        self._closed = True
        session, self._session = self._session, None
        if self._owned and session is not None:
            await session.close()

    async def _send_within(
        self, request: Request, policy: RetryPolicy, deadline: float
    ) -> Envelope:
        started = time.monotonic()
        try:
            async with asyncio.timeout(deadline):
                return await self.send(request, policy, started)
        except TimeoutError:
            raise APITimeoutError(
                f"the call's deadline of {deadline} s passed",
                method=request.method,
                url=self._base_url + request.path,
            ) from None

    async def _send_again(
        self, request: Request, first: B2BError, policy: RetryPolicy, started: float | None
    ) -> Envelope:
        # Tenacity replays `first` as its attempt 1, so numbering, waits and logging treat
        # the fast-path attempt like any other.
        pending = [first]
        uncertain = may_have_reached_server(first)

        async def attempt() -> Envelope:
            nonlocal uncertain
            if pending:
                raise pending.pop()
            try:
                return await self.send(request, None)
            except B2BError as exc:
                if isinstance(exc, APIError):
                    exc.after_uncertain_attempt = uncertain
                uncertain = uncertain or may_have_reached_server(exc)
                raise

        stop: tenacity.stop.stop_base = tenacity.stop_after_attempt(policy.attempts)
        if policy.deadline is not None and started is not None:
            stop = stop | StopBeforeDeadline(started + policy.deadline)
        retrying = tenacity.AsyncRetrying(
            stop=stop,
            wait=WaitStrategy(policy),
            retry=tenacity.retry_if_exception(lambda exc: is_retryable(exc, policy)),
            before_sleep=self._before_sleep(request),
            reraise=True,
        )
        return await retrying(attempt)

    def _before_sleep(self, request: Request) -> Any:
        def log(state: tenacity.RetryCallState) -> None:
            self._counters.retries += 1
            exc = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0.0
            logger.info(
                "retrying %s %s: attempt %d failed with %s (%s); next attempt in %.2f s",
                request.method,
                request.path,
                state.attempt_number,
                type(exc).__name__,
                exc,
                wait,
            )

        return log

    async def send(
        self,
        request: Request,
        policy: RetryPolicy | _Policy | None = _Policy.CLIENT,
        started: float | None = None,
    ) -> Envelope:
        """Send ``request`` and return the answer's :class:`~b2b_async._protocol.Envelope`.

        The first attempt runs here, outside tenacity; only a failure worth repeating hands
        the call to tenacity. Without a deadline, a call that succeeds at once runs in this
        one coroutine of the transport (plus the limiter's, when pacing is on): every await
        level is crossed again each time aiohttp suspends, so each extra frame would cost
        every call several times over.

        Args:
            request: what to send.
            policy: the retry options. Callers leave the default, the client's own policy
                with its deadline. The transport itself passes ``None`` for one attempt only
                (tenacity's attempts), or the policy with ``started`` from inside the
                deadline's scope.
            started: when the call began (``time.monotonic()``), if a deadline bounds it.

        Raises:
            B2BError: the call failed for good; see the error tree.
        """
        if policy is _Policy.CLIENT:
            policy = self._retry
            if policy is not None and policy.deadline is not None:
                return await self._send_within(request, policy, policy.deadline)
        try:
            session = self._session
            if session is None or not self._owned:  # one check on the hot path
                session = self.open()  # a closed client fails before it waits for anything
            target = self._targets.get((request.method, request.path))
            if target is None:
                target = self._target(request)
            url, info = target
            slots = self._slots
            if slots is not None:
                if slots.free > 0:  # a free place is taken without a call
                    slots.free -= 1
                else:
                    await slots.wait()
            try:
                limiter = self._limiter
                if limiter is not None:
                    waited = await limiter.acquire()  # awaited first: += would read a stale sum
                    self._counters.budget_wait += waited
                hint: BudgetHint | None = None
                counters = self._counters
                counters.requests += 1
                counters.in_flight += 1
                error: B2BError | None = None
                try:
                    async with session.request(
                        request.method,
                        url,
                        params=request.query,
                        data=request.body,
                        headers=self._headers if request.body is None else self._body_headers,
                        timeout=self._timeout,
                        allow_redirects=False,
                        raise_for_status=False,  # a borrowed session's own setting must not apply
                    ) as response:
                        status, headers = response.status, response.headers
                        # Content-Length counts compressed bytes: only a plain body is read
                        # whole. aiohttp's parser has checked that the header is a number.
                        length = headers.get("Content-Length")
                        if (
                            length is not None
                            and int(length) <= self._max_bytes
                            and ("Content-Encoding" not in headers)
                        ):
                            body = await response.read()
                        else:
                            body = await self._read_capped(response, response.content_length)
                        reason = response.reason or ""
                    now = time.time()
                    if limiter is not None:  # the budget headers only matter to a limiter
                        hint = parse_budget(status, headers, now)
                        if status == 429 and (hint is None or hint.retry_after is None):
                            # A 429 without a wait hint still closes the gate for every call.
                            hint = attrs.evolve(hint or BudgetHint(), retry_after=UNHINTED_COOLDOWN)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    error = _transport_error(exc, info)
                except RuntimeError:
                    if not session.closed:
                        raise
                    # Only aclose closes an owned session; someone reached in and closed it.
                    error = ClientClosedError("the client's aiohttp session was closed")
                finally:
                    counters.in_flight -= 1
                    if limiter is not None:
                        await limiter.release(self._capped(hint))
            finally:
                if slots is not None:
                    if slots.waiters:
                        slots.release()
                    else:  # nobody to hand the place to: given back without a call
                        slots.free += 1
            if error is not None:
                # Raised outside the except block, so aiohttp's error is neither cause nor
                # context: the repr of some of them shows the request's headers, the token too.
                raise error
            if status == 429:
                counters.rate_limited += 1
            return decode_response(status, headers, body, info, now, reason=reason)
        except B2BError as exc:
            if policy is None or not is_retryable(exc, policy):
                raise
            first = exc
        return await self._send_again(request, first, policy, started)

    def _target(self, request: Request) -> tuple[URL, RequestInfo]:
        """Build, and remember, the URL and error context of ``request``'s method and path.

        Most calls of a client go to few paths (one company's buyers, the same listing), so
        both are kept, up to :data:`MAX_TARGETS` paths of at most :data:`MAX_TARGET_PATH`
        characters; beyond that count the memory starts afresh.
        """
        info = RequestInfo(request.method, self._base_url + request.path)
        target = URL(info.url, encoded=True), info
        if len(request.path) <= MAX_TARGET_PATH:  # a path of unusually long ids is not kept
            if len(self._targets) >= MAX_TARGETS:
                self._targets.clear()
            self._targets[request.method, request.path] = target
        return target

    def _capped(self, hint: BudgetHint | None) -> BudgetHint | None:
        """Bound what one answer can make the limiter do to ``max_retry_after``.

        A cooldown, a window reset or a per-request interval longer than a caller will wait
        would only stall every call of the client, silently; bounded, the next call meets
        the server's answer again and fails fast with its hint instead.
        """
        if hint is None:
            return hint
        cap = (self._retry or DEFAULT_RETRY).max_retry_after
        retry_after, resets_after = hint.retry_after, hint.resets_after
        limit, window = hint.limit, hint.window
        slow = limit is not None and window is not None and window > cap * max(limit, 1)
        if not (slow or (retry_after or 0.0) > cap or (resets_after or 0.0) > cap):
            return hint
        return attrs.evolve(
            hint,
            retry_after=None if retry_after is None else min(retry_after, cap),
            resets_after=None if resets_after is None else min(resets_after, cap),
            limit=None if slow else limit,
            window=None if slow else window,
        )

    async def _read_capped(self, response: aiohttp.ClientResponse, length: int | None) -> bytes:
        # Counts the body as decoded, so a small compressed body cannot expand past the cap.
        if length is not None and length > self._max_bytes:
            self._refuse(response)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > self._max_bytes:
                self._refuse(response)
            chunks.append(chunk)
        return b"".join(chunks)

    def _refuse(self, response: aiohttp.ClientResponse) -> None:
        response.close()
        raise ResponseDecodeError(
            f"response body exceeds the {self._max_bytes}-byte cap", status=response.status
        )


class _Slots:
    """Places among the requests in flight: a FIFO semaphore with a one-check fast path.

    ``asyncio.Semaphore`` scans its waiters on every acquire; on the hot path, where the cap
    is rarely reached, this one checks a counter. A released place passes straight to the
    longest waiter, so no later caller can overtake it.
    """

    __slots__ = ("free", "waiters")

    def __init__(self, size: int) -> None:
        #: Places free now; the transport takes one inline when there is one.
        self.free = size
        #: Callers waiting for a place, longest first.
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def take(self) -> bool:
        """Take a free place at once if there is one; tell whether one was taken."""
        if self.free > 0:  # no one waits while places are free: release hands them over
            self.free -= 1
            return True
        return False

    async def acquire(self) -> None:
        """Take a place, waiting in line while every place is taken."""
        if not self.take():
            await self.wait()

    async def wait(self) -> None:
        """Wait in line for a place (after :meth:`take` found none free)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if not waiter.cancelled():
                self.release()  # granted in the instant it was cancelled: pass it on
            elif waiter in self.waiters:
                self.waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Give a place back, to the longest waiter still waiting, if there is one."""
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():  # a cancelled one is skipped; its task removes nothing then
                waiter.set_result(None)
                return
        self.free += 1
