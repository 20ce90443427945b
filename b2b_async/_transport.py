"""The one request path every call takes, in three named steps.

- :meth:`Transport.send` orchestrates: the call's deadline, the first attempt, and the
  hand-over to tenacity when that attempt failed in a way worth repeating.
- :meth:`Transport._attempt` is one attempt: a place among the requests in flight (the
  concurrency cap), budget from the rate limiter (which also holds everyone back while a
  429 cooldown lasts), the exchange, the budget headers fed back to the limiter, and the
  sans-I/O decoding of the answer (:func:`~b2b_async._protocol.decode_response`).
- :meth:`Transport._exchange` is the only place that touches aiohttp: one request, its body
  read under the size cap, any aiohttp failure turned into a
  :class:`~b2b_async.TransportError`.

What is retried, how long to wait and what a failure meant are decided in ``_retry.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

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
    APITimeoutError,
    B2BError,
    ClientClosedError,
    ResponseDecodeError,
    TransportError,
)
from ._protocol import (
    BudgetHint,
    Envelope,
    Request,
    RequestInfo,
    decode_response,
    parse_budget,
)
from ._ratelimit import Limiter
from ._retry import StopBeforeDeadline, Uncertainty, WaitStrategy, is_retryable

__all__ = ["ClientStats", "Transport"]

logger: Final = logging.getLogger("b2b_async")

#: Bytes read at a time from a body that must be counted as it arrives.
CHUNK: Final = 64 * 1024
#: The connection pool's size when the client has no concurrency cap.
UNCAPPED_POOL: Final = 100
JSON_CONTENT: Final = {"Content-Type": "application/json"}


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


class Response(NamedTuple):
    """What one exchange brought back, read whole.

    Attributes:
        status: the HTTP status.
        headers: the response headers.
        body: the body, at most the size cap.
        reason: the HTTP reason phrase.
        received_at: the Unix time the answer arrived (for HTTP-date hints).
    """

    status: int
    headers: Mapping[str, str]
    body: bytes
    reason: str
    received_at: float


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
        secrets: texts never to repeat from an answer (the token, the store hash).
    """

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
        secrets: tuple[str, ...] = (),
    ) -> None:
        self._base_url = base_url
        self._secrets = secrets
        self._headers = dict(headers)
        self._timeout = timeout
        self._retry = retry
        self._limiter = limiter
        self._max_concurrency = max_concurrency
        self._slots = in_flight_cap(max_concurrency)
        self._max_bytes = max_response_bytes
        self._session = session
        self._owned = session is None
        self._closed = False
        self._stats = ClientStats()
        self._targets: dict[tuple[str, str], tuple[URL, RequestInfo]] = {}

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    @property
    def stats(self) -> ClientStats:
        """What the client has done so far."""
        return self._stats

    def _count(self, **increments: float) -> None:
        """Add to the statistics, a frozen :class:`ClientStats` replaced whole."""
        stats = self._stats
        changes = {name: getattr(stats, name) + step for name, step in increments.items()}
        self._stats = attrs.evolve(stats, **changes)

    @property
    def limiter(self) -> Limiter | None:
        """The rate limiter in use, if any."""
        return self._limiter

    @property
    def max_concurrency(self) -> int | None:
        """The most requests in flight at once, or ``None`` for no cap."""
        return self._max_concurrency

    def bulk_workers(self, concurrency: int | None) -> int:
        """Workers for a bulk run: as asked, else the in-flight cap (the default without one)."""
        if concurrency is not None:
            return concurrency
        return self._max_concurrency or DEFAULT_MAX_CONCURRENCY

    def open(self) -> aiohttp.ClientSession:
        """Return the session, creating the owned one on first use.

        An owned session carries the fixed headers itself; a borrowed one gets them with
        every request.

        Raises:
            ClientClosedError: the client, or a borrowed session, is closed.
        """
        if self._closed:
            raise ClientClosedError("the client is closed; create a new B2BClient")
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._max_concurrency or UNCAPPED_POOL)
            self._session = aiohttp.ClientSession(connector=connector, headers=self._headers)
        elif not self._owned and self._session.closed:  # an owned one closes in aclose only
            raise ClientClosedError("the borrowed aiohttp session is closed")
        return self._session

    async def aclose(self) -> None:
        """Close the owned session (a borrowed one stays open); idempotent."""
        self._closed = True
        session, self._session = self._session, None
        if self._owned and session is not None:
            await session.close()

    async def send(self, request: Request) -> Envelope:
        """Send ``request`` and return the answer's envelope, retrying as the policy allows.

        Raises:
            B2BError: the call failed for good; see the error tree.
        """
        policy = self._retry
        if policy is not None and policy.deadline is not None:
            return await self._send_within_deadline(request, policy, policy.deadline)
        return await self._send_with_retries(request, policy, deadline=None)

    async def _send_within_deadline(
        self, request: Request, policy: RetryPolicy, seconds: float
    ) -> Envelope:
        deadline = time.monotonic() + seconds
        try:
            async with asyncio.timeout(seconds):
                return await self._send_with_retries(request, policy, deadline)
        except TimeoutError:
            raise APITimeoutError(
                f"the call's deadline of {seconds} s passed",
                method=request.method,
                url=self._base_url + request.path,
            ) from None

    async def _send_with_retries(
        self, request: Request, policy: RetryPolicy | None, deadline: float | None
    ) -> Envelope:
        # The first attempt runs outside tenacity: a call that succeeds at once, as nearly
        # every call does, never builds the retry machinery.
        try:
            return await self._attempt(request)
        except B2BError as exc:
            if policy is None or not is_retryable(exc, policy):
                raise
            first = exc
        return await self._retry_after_failure(request, first, policy, deadline)

    async def _retry_after_failure(
        self, request: Request, first: B2BError, policy: RetryPolicy, deadline: float | None
    ) -> Envelope:
        uncertainty = Uncertainty()
        uncertainty.note(first)
        replayed = [first]  # tenacity's attempt 1 replays the first failure, so numbering,
        # waits and logging treat it like any other attempt

        async def attempt() -> Envelope:
            if replayed:
                raise replayed.pop()
            try:
                return await self._attempt(request)
            except B2BError as exc:
                uncertainty.note(exc)
                raise

        return await self._retrying(request, policy, deadline)(attempt)

    def _retrying(
        self, request: Request, policy: RetryPolicy, deadline: float | None
    ) -> tenacity.AsyncRetrying:
        stop: tenacity.stop.stop_base = tenacity.stop_after_attempt(policy.attempts)
        if deadline is not None:
            stop = stop | StopBeforeDeadline(deadline)
        return tenacity.AsyncRetrying(
            stop=stop,
            wait=WaitStrategy(policy),
            retry=tenacity.retry_if_exception(lambda exc: is_retryable(exc, policy)),
            before_sleep=lambda state: self._log_retry(request, state),
            reraise=True,
        )

    def _log_retry(self, request: Request, state: tenacity.RetryCallState) -> None:
        self._count(retries=1)
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

    async def _attempt(self, request: Request) -> Envelope:
        """One attempt: a place in flight, budget, the exchange, then the decoded answer."""
        session = self.open()  # a closed client fails before it waits for anything
        url, info = self._target(request)
        async with self._slots:
            await self._acquire_budget()
            hint: BudgetHint | None = None
            try:
                response = await self._exchange(session, request, url, info)
                hint = self._budget_hint(response)
            finally:
                await self._release_budget(hint)
        status, headers, body, reason, now = response
        return decode_response(status, headers, body, info, now, reason=reason)

    async def _acquire_budget(self) -> None:
        if self._limiter is not None:
            self._count(budget_wait=await self._limiter.acquire())

    async def _release_budget(self, hint: BudgetHint | None) -> None:
        if self._limiter is not None:
            await self._limiter.release(hint)

    async def _exchange(
        self, session: aiohttp.ClientSession, request: Request, url: URL, info: RequestInfo
    ) -> Response:
        """The one aiohttp call: send, read the body under the cap, or raise a TransportError."""
        self._count(requests=1, in_flight=1)
        error: B2BError
        try:
            async with session.request(
                request.method,
                url,
                params=request.query,
                data=request.body,
                headers=self._request_headers(request),
                timeout=self._timeout,
                allow_redirects=False,
                raise_for_status=False,  # a borrowed session's own setting must not apply
            ) as response:
                body = await self._read_capped(response)
                reason = response.reason or ""
                return Response(response.status, response.headers, body, reason, time.time())
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = transport_error(exc, info)
        except RuntimeError:
            if not session.closed:
                raise
            # Only aclose closes an owned session; someone reached in and closed it.
            error = ClientClosedError("the client's aiohttp session was closed")
        finally:
            self._count(in_flight=-1)
        # Raised outside the except block, so aiohttp's error is neither cause nor context:
        # the repr of some of them shows the request's headers, the token among them.
        raise error

    def _request_headers(self, request: Request) -> dict[str, str]:
        """The headers a request adds to its session's own (all of them for a borrowed one)."""
        headers = {} if self._owned else dict(self._headers)
        if request.body is not None:
            headers.update(JSON_CONTENT)
        return headers

    def _target(self, request: Request) -> tuple[URL, RequestInfo]:
        """The URL and error context of ``request``'s method and path, built once and kept.

        Most calls of a client go to few paths, so both are kept, up to :data:`MAX_TARGETS`
        paths of at most :data:`MAX_TARGET_PATH` characters; beyond that count the memory
        starts afresh.
        """
        key = (request.method, request.path)
        target = self._targets.get(key)
        if target is None:
            info = RequestInfo(request.method, self._base_url + request.path, self._secrets)
            target = URL(info.url, encoded=True), info
            if len(request.path) <= MAX_TARGET_PATH:  # a path of unusually long ids is not kept
                if len(self._targets) >= MAX_TARGETS:
                    self._targets.clear()
                self._targets[key] = target
        return target

    def _budget_hint(self, response: Response) -> BudgetHint | None:
        """What the answer says about the budget, bounded by the longest wait worth obeying."""
        if response.status == 429:
            self._count(rate_limited=1)
        if self._limiter is None:  # only a limiter reads the budget headers
            return None
        hint = parse_budget(response.status, response.headers, response.received_at)
        if response.status == 429 and (hint is None or hint.retry_after is None):
            # A 429 without a wait hint still closes the gate for every call.
            hint = attrs.evolve(hint or BudgetHint(), retry_after=UNHINTED_COOLDOWN)
        return None if hint is None else hint.capped((self._retry or RetryPolicy()).max_retry_after)

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        """Read the body, refusing it once it passes the cap.

        Content-Length counts compressed bytes, so only a plain body within the cap is read
        whole; any other is counted as decoded, so a small compressed body cannot expand
        past the cap.
        """
        length = response.content_length
        if length is not None and length > self._max_bytes:
            self._refuse(response)
        if length is not None and "Content-Encoding" not in response.headers:
            return await response.read()
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(CHUNK):
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


def in_flight_cap(size: int | None) -> contextlib.AbstractAsyncContextManager[Any]:
    """A place among the requests in flight: a FIFO semaphore, or nothing to wait for."""
    return contextlib.nullcontext() if size is None else asyncio.Semaphore(size)


def transport_error(exc: BaseException, info: RequestInfo) -> TransportError:
    """Turn an aiohttp or timeout failure into the library's :class:`TransportError`.

    ``may_have_reached_server`` is ``False`` only where the request certainly never left.
    """
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
