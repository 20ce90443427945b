"""The one request path every call takes, in three named steps.

- :meth:`Transport.send` orchestrates: the call's priority, its deadline, the first attempt,
  and the hand-over to tenacity when that attempt failed in a way worth repeating.
- :meth:`Transport._attempt` is one attempt: a place among the requests in flight (the
  concurrency cap), budget from the rate limiter (which also holds everyone back while a
  429 cooldown lasts), the exchange, the sans-I/O decoding of the answer
  (:func:`~b2b_async._protocol.decode_response`), and the budget headers fed back to the
  limiter as the decoded answer reads them (a 2xx whose body code is 429 is a 429).
- :meth:`Transport._exchange` is the only place that touches aiohttp: one request, its body
  read under the size cap, any aiohttp failure turned into a
  :class:`~b2b_async.TransportError`.

What is retried, how long to wait and what a failure meant are decided in ``_retry.py``.
Each call is followed by one :class:`~b2b_async._hooks.CallObserver`, told at each of these
steps what happened; it keeps the statistics and tells the hooks (OpenTelemetry among
them), so no step reports anything itself.

A client's :meth:`Transport.with_options` views share its :class:`Pool` (the session and
the statistics), its limiter and its concurrency cap, and differ in timeout, retry options
and priority.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import inspect
import re
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, NamedTuple, TypeAlias, TypeVar

import aiohttp
import attrs
import tenacity
from yarl import URL

from ._config import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_RETRY_AFTER,
    MAX_TARGET_PATH,
    MAX_TARGETS,
    UNHINTED_COOLDOWN,
    Priority,
    RetryPolicy,
    finite_number,
    logger,
)
from ._events import Call
from ._exceptions import (
    CLIENT_CLOSED,
    OTHER_LOOP,
    APIConnectionError,
    APIError,
    APITimeoutError,
    B2BError,
    ClientClosedError,
    NotSentTimeoutError,
    RateLimitError,
    ResponseDecodeError,
    TransportError,
)
from ._hooks import UNOBSERVED, CallObserver, ClientStats, Tally, listening_hooks
from ._priority import Places, call_priority, choose_priority, prioritised
from ._protocol import (
    BudgetHint,
    Envelope,
    Request,
    RequestInfo,
    decode_response,
    is_success,
    one_line,
    parse_budget,
)
from ._ratelimit import Limiter, burst_of
from ._retry import StopBeforeDeadline, Uncertainty, WaitStrategy, is_retryable
from ._waking import WakeableWait, cancel_requests
from ._withdrawal import note_sent, unless_withdrawn

__all__ = ["ClientStats", "Pool", "Transport", "pool_may_wait"]


#: Bytes read at a time from a body that must be counted as it arrives.
CHUNK: Final = 64 * 1024
#: The connection pool's size when the client has no concurrency cap.
UNCAPPED_POOL: Final = 100
JSON_CONTENT: Final = {"Content-Type": "application/json"}
#: Where aiohttp starts quoting what it read of an answer (``b'...'``, ``'...'``, or the
#: ``<repr>`` of an inner error that quotes it), to the end. A quote opens after no letter
#: or digit: the apostrophe of aiohttp's own words (``can't``) opens none.
QUOTED: Final = re.compile(r"""(?:message=)?(?:(?<!\w)b?['"]|<).*""", re.DOTALL)
T = TypeVar("T")
#: Asks the limiter for budget: ``(priority, seconds left of the deadline or None) -> wait``.
Acquire: TypeAlias = Callable[[Priority, float | None], Awaitable[float]]


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

    def __repr__(self) -> str:
        # The body may echo the token: a traceback that shows its frames' locals shows this.
        return f"Response(status={self.status}, {len(self.body)} bytes of body)"


def decoded(response: Response, info: RequestInfo) -> Envelope | APIError | ResponseDecodeError:
    """The answer's envelope, or the error it stands for.

    The error is returned, to be raised once the attempt has handed back its budget, which
    follows what the error is (a 2xx whose body code is 429 is a 429).
    """
    status, headers, body, reason, now = response
    try:
        return decode_response(status, headers, body, info, now, reason=reason)
    except (APIError, ResponseDecodeError) as exc:
        return exc


class Sending(NamedTuple):
    """One call on its way: what is sent, who follows it, and how it queues.

    Attributes:
        request: the request.
        call: the call's observer.
        priority: the lane the call waits in, for a place in flight and for budget.
        start_by: the :func:`time.monotonic` time after which no attempt starts and no wait
            for budget ends, or ``None``.
        uncertainty: whether an attempt may have reached the server (one that failed so,
            or one on its way).
    """

    request: Request
    call: CallObserver
    priority: Priority
    start_by: float | None
    uncertainty: Uncertainty


class Waits:
    """The calls waiting for a place in flight, for budget, between attempts or for a V3
    window to settle (every wait :meth:`Transport.unless_closed` runs), by the transport
    (client or view) they were made on, so that closing it can wake them.

    A woken call fails with :class:`~b2b_async.ClientClosedError` at once, instead of
    waiting out a cooldown of minutes only to find its client closed.
    """

    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        self._waiting: dict[WakeableWait, object] = {}  # each wait, the transport of its call

    async def wait(self, owner: object, wait: Callable[[], Awaitable[T]]) -> T:
        """Await what ``wait`` starts for a call made on ``owner``, unless :meth:`wake`
        wakes it.

        Raises:
            ClientClosedError: woken.
        """
        waiting = WakeableWait()
        self._waiting[waiting] = owner
        try:
            return await waiting.run(wait, _client_closed)
        finally:
            del self._waiting[waiting]

    def wake(self, owner: object | None) -> None:
        """Wake the waits of the calls made on ``owner`` (on any, with ``None``)."""
        for waiting, made_on in self._waiting.items():
            if owner is None or made_on is owner:
                waiting.wake()


def _client_closed() -> ClientClosedError:
    return ClientClosedError(CLIENT_CLOSED)


class Pool:
    """What a client shares with its views: the session, its ownership, the statistics and
    the calls waiting.

    Args:
        session: a session to borrow (never closed here), or ``None`` to own one.
    """

    __slots__ = ("closed", "loop", "owned", "session", "tally", "waits")

    def __init__(self, session: aiohttp.ClientSession | None) -> None:
        self.session = session
        self.owned = session is None
        self.closed = False
        self.tally = Tally()
        self.waits = Waits()
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop of the first use

    def check_loop(self) -> None:
        """Note the running event loop at the first use, and refuse any other after: the
        session, its connections and the waits belong to that loop.

        Raises:
            ClientClosedError: the loop running now is another one.
        """
        loop = asyncio.get_running_loop()
        if self.loop is None:
            self.loop = loop
        elif loop is not self.loop:
            raise ClientClosedError(OTHER_LOOP)

    async def close(self) -> None:
        """Close the owned session (a borrowed one stays open); idempotent."""
        self.closed = True
        session, self.session = self.session, None
        if self.owned and session is not None:
            await session.close()


class Transport:
    """Sends requests for one client: pacing, concurrency cap, exchange, decoding, retries.

    Its options are set when it, or a view of it, is made, and only read after.

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

    Attributes:
        timeout: the per-attempt timeout.
        retry: the retry options, or ``None`` for a single attempt.
        priority: the priority this view's calls carry, or ``None`` to let each call choose.
        limiter: the rate limiter in use, if any.
        max_concurrency: the most requests in flight at once, or ``None`` for no cap.
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
        self.timeout = timeout
        self.retry = retry
        self.priority: Priority | None = None
        self.limiter: Limiter | None = None if limiter is None else releasable(limiter)
        self._acquire = None if limiter is None else budget_acquirer(limiter)
        self._burst = burst_of(limiter)
        self.max_concurrency = max_concurrency
        self._places = Places(in_flight_cap(max_concurrency, session))
        self._max_bytes = max_response_bytes
        self._pool = Pool(session)
        self._view = False
        self._closed = False
        self._targets: dict[tuple[str, str], tuple[URL, RequestInfo]] = {}

    def with_options(
        self,
        *,
        timeout: aiohttp.ClientTimeout,
        retry: RetryPolicy | None,
        priority: Priority | None,
    ) -> Transport:
        """A view with other options that shares the pool, the limiter, the cap and the stats.

        Closing the view ends its own use only; closing this transport ends every view's.
        """
        view = copy.copy(self)
        view.timeout, view.retry, view.priority = timeout, retry, priority
        view._view, view._closed = True, False
        return view

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called, on this view or on the client it came from."""
        return self._closed or self._pool.closed

    @property
    def is_view(self) -> bool:
        """Whether this is a view of another transport, made by :meth:`with_options`."""
        return self._view

    @property
    def stats(self) -> ClientStats:
        """What the client has done so far."""
        return self._pool.tally.stats

    def prioritised(self, level: Priority | str) -> contextlib.AbstractContextManager[Priority]:
        """Give calls of this client and its views without a priority of their own ``level``.

        Raises:
            ValueError: ``level`` names no priority.
        """
        return prioritised(self._pool, level)

    def priority_of(
        self, explicit: Priority | str | None, default: Priority = Priority.NORMAL
    ) -> Priority:
        """The priority a call carries, by :func:`~b2b_async._priority.choose_priority`'s rule.

        Args:
            explicit: the call's own ``priority=`` argument.
            default: the operation's default.

        Raises:
            InvalidOrderError: ``explicit`` names no priority.
        """
        return choose_priority(call_priority(explicit), self.priority, self._pool, default)

    def check_loop(self) -> None:
        """Refuse an event loop other than the one the client was first used in, without
        making the running one the client's when it has none yet (closing a client never
        used binds it to no loop).

        Raises:
            ClientClosedError: the loop running now is another one.
        """
        if self._pool.loop is not None:
            self._pool.check_loop()

    @property
    def pool_may_wait(self) -> bool:
        """Whether a call may wait for a free connection of the pool (see
        :func:`pool_may_wait`)."""
        return pool_may_wait(owned=self._pool.owned, max_concurrency=self.max_concurrency)

    def bulk_priority(self, explicit: Priority | str | None) -> Priority:
        """The priority of a bulk run's calls: as :meth:`priority_of` gives, ``bulk`` by
        default.

        Raises:
            InvalidOrderError: ``explicit`` names no priority.
        """
        return self.priority_of(explicit, default=Priority.BULK)

    def bulk_workers(self, concurrency: int | None) -> int:
        """Workers for a bulk run: as asked, else the in-flight cap (the default without one)."""
        if concurrency is not None:
            return concurrency
        return self.max_concurrency or DEFAULT_MAX_CONCURRENCY

    def open(self) -> aiohttp.ClientSession:
        """Return the session, creating the owned one on first use.

        An owned session carries the fixed headers itself; a borrowed one gets them with
        every request. An owned session keeps no cookies: the API authenticates by header,
        and a jar would keep every cookie an answer sets, without bound, and send them all
        back with every later request.

        Raises:
            ClientClosedError: the client, or a borrowed session, is closed, or the client
                was first used on another event loop.
        """
        pool = self._pool
        if self.closed:
            raise ClientClosedError(CLIENT_CLOSED)
        pool.check_loop()
        if pool.session is None:
            connector = UnaskedAnswerConnector(limit=self.max_concurrency or UNCAPPED_POOL)
            pool.session = aiohttp.ClientSession(
                connector=connector, headers=self._headers, cookie_jar=aiohttp.DummyCookieJar()
            )
            without_silent_resends(pool.session)
        elif not pool.owned and pool.session.closed:  # an owned one closes in aclose only
            raise ClientClosedError("the borrowed aiohttp session is closed")
        return pool.session

    async def aclose(self) -> None:
        """Close the owned session (a borrowed one stays open); idempotent.

        A view only stops its own use: the session belongs to the client it came from.
        """
        self._closed = True
        self._pool.waits.wake(self if self._view else None)
        if not self._view:
            await self._pool.close()

    async def send(
        self,
        request: Request,
        priority: Priority | str | None = None,
        *,
        deadline_at: float | None = None,
        began_at: float | None = None,
    ) -> Envelope:
        """Send ``request`` and return the answer's envelope, retrying as the policy allows.

        Args:
            request: what to send.
            priority: the call's own priority, or ``None`` for the one the view, a
                ``with client.priority(...)`` block or the default gives it.
            deadline_at: the :func:`time.monotonic` time by which the request must have
                left (a V3 registration's window), or ``None``: no attempt starts, and no
                wait for a place in flight or for budget ends, later; an attempt already
                sent is never cut short, since its answer may say it succeeded. The
                policy's ``deadline`` also bounds the whole call, answer included.
            began_at: the :func:`time.monotonic` time the call began, when it waited for
                something before its request (a V3 call's extra field check): the policy's
                ``deadline`` counts from then, or from now when ``None``.

        Raises:
            InvalidOrderError: ``priority`` names no priority; nothing was sent.
            DeadlineUnreachableError: the rate limiter foresaw no budget before the call's
                deadline; nothing was sent.
            APITimeoutError: the call's deadline passed, before it could be sent (nothing
                was sent) or while it waited for an answer.
            B2BError: the call failed for good; see the error tree.
        """
        policy = self.retry
        level = self.priority_of(priority)
        deadline = None if policy is None else policy.deadline
        finish_within = None if deadline is None else deadline - seconds_since(began_at)
        start_by = earliest(deadline_at, finish_within)
        with self._observe(request, level) as call:  # CallStarted now, CallFinished however it ends
            sending = Sending(request, call, level, start_by, Uncertainty())
            if deadline is not None and finish_within is not None:
                return await self._send_within_deadline(sending, policy, deadline, finish_within)
            return await self._send_with_retries(sending, policy)

    def _observe(self, request: Request, priority: Priority) -> CallObserver:
        """The call's observer; it describes the call only when a hook will read it."""
        hooks = listening_hooks()
        call = UNOBSERVED
        if hooks:
            url = self._target(request)[0]
            call = Call.of(request.method, url, request.query, self._secrets, priority)
        return CallObserver(self._pool.tally, hooks, call, self._secrets)

    async def _send_within_deadline(
        self, sending: Sending, policy: RetryPolicy | None, seconds: float, left: float
    ) -> Envelope:
        """Send within ``left`` seconds of the call's deadline of ``seconds``."""
        window = asyncio.timeout(left)
        try:
            async with window:
                return await self._send_with_retries(sending, policy)
        except TimeoutError:
            if not window.expired():  # a custom limiter's own, not the deadline's
                raise
            error = self._deadline_passed(sending, f"the call's deadline of {seconds} s passed")
            sending.uncertainty.note(error)  # it ends the call after any earlier attempt
            raise error from error.__cause__  # the earlier attempt's failure, if it sent nothing

    async def _send_with_retries(self, sending: Sending, policy: RetryPolicy | None) -> Envelope:
        # The first attempt runs outside tenacity: a call that succeeds at once, as nearly
        # every call does, never builds the retry machinery.
        try:
            return await self._attempt(sending)
        except B2BError as exc:
            if policy is None or not is_retryable(exc, policy):
                raise
            first = exc
        return await self._retry_after_failure(sending, first, policy)

    async def _retry_after_failure(
        self, sending: Sending, first: B2BError, policy: RetryPolicy
    ) -> Envelope:
        uncertainty = sending.uncertainty
        uncertainty.note(first)
        replayed = [first]  # tenacity's attempt 1 replays the first failure, so numbering,
        # waits and logging treat it like any other attempt

        async def attempt() -> Envelope:
            if replayed:
                raise replayed.pop()
            try:
                return await self._attempt(sending)
            except B2BError as exc:
                uncertainty.note(exc)
                raise

        return await self._retrying(sending, policy, uncertainty)(attempt)

    def _retrying(
        self, sending: Sending, policy: RetryPolicy, uncertainty: Uncertainty
    ) -> tenacity.AsyncRetrying:
        stop: tenacity.stop.stop_base = tenacity.stop_after_attempt(policy.attempts)
        if sending.start_by is not None:
            stop = stop | StopBeforeDeadline(sending.start_by)
        return tenacity.AsyncRetrying(
            stop=stop,
            wait=WaitStrategy(policy),
            retry=tenacity.retry_if_exception(lambda exc: is_retryable(exc, policy)),
            before_sleep=lambda state: self._log_retry(sending, state),
            sleep=lambda seconds: self._wait_between_attempts(seconds, uncertainty),
            reraise=True,
        )

    async def _wait_between_attempts(self, seconds: float, uncertainty: Uncertainty) -> None:
        """Sleep before the next attempt, unless the client closes meanwhile.

        Raises:
            ClientClosedError: the client closed; marked, as a failed attempt would be, when
                an earlier attempt may have reached the server.
        """
        try:
            await self.unless_closed(functools.partial(asyncio.sleep, seconds))
        except ClientClosedError as exc:
            uncertainty.note(exc)
            raise

    async def unless_closed(self, wait: Callable[[], Awaitable[T]]) -> T:
        """Await what ``wait`` starts, unless :meth:`aclose` comes first.

        Raises:
            ClientClosedError: the client (or this view) is closed, or closes meanwhile.
        """
        if self.closed:
            raise ClientClosedError(CLIENT_CLOSED)
        return await self._pool.waits.wait(self, wait)

    def _log_retry(self, sending: Sending, state: tenacity.RetryCallState) -> None:
        if self.closed:  # the attempt its own closing cut off: the wait ends it, none follows
            return
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        assert isinstance(exc, B2BError), "only a B2BError is retried"
        sending.call.retry_scheduled(wait, exc)
        logger.info(
            "retrying %s %s: attempt %d failed with %s (%s); next attempt in %.2f s",
            sending.request.method,
            sending.request.path,
            state.attempt_number,
            type(exc).__name__,
            exc,
            wait,
        )

    async def _attempt(self, sending: Sending) -> Envelope:
        """One attempt: a place in flight, budget, the exchange, then the decoded answer."""
        self.open()  # a closed client fails before it waits for anything
        url, info = self._target(sending.request)
        await self._take_place(sending)
        try:
            await self._acquire_budget(sending)
            answer = await self._budgeted_exchange(sending, url, info)
        finally:
            self._places.give_back()
        if isinstance(answer, B2BError):
            try:
                # Its traceback starts here: the frames that decoded it hold the body as it
                # came, which may echo the token, and a traceback may show their locals.
                raise answer.with_traceback(None)
            finally:
                # The traceback keeps this frame, but not the error itself: no cycle holds
                # the error, and what it leads to, until the garbage collector runs.
                del answer
        return answer

    async def _budgeted_exchange(
        self, sending: Sending, url: URL, info: RequestInfo
    ) -> Envelope | APIError | ResponseDecodeError:
        """The exchange and its decoded answer, the budget handed back after it.

        A frame of its own, ended before the answer's error is raised: the error's traceback
        keeps the frames it passes through, and with this one it would keep the answer it
        was read from, a body of up to the size cap, for as long as the error is kept.
        """
        hint: BudgetHint | None = None
        try:
            response = await self._observed_exchange(sending, url, info)
            answer = decoded(response, info)
            hint = self._budget_hint(response, answer, sending.call)
        finally:
            await self._release_budget(hint)
        return answer

    async def _observed_exchange(self, sending: Sending, url: URL, info: RequestInfo) -> Response:
        """The exchange, reported to the call's observer as it leaves and as it ends.

        Raises:
            ClientClosedError: the client was closed while the call waited; nothing was sent.
        """
        session = self.open()
        call = sending.call
        call.sent()
        note_sent()
        sending.uncertainty.sent()
        try:
            response = await self._exchange(session, sending.request, url, info)
        except BaseException as exc:
            call.failed(exc)
            raise
        call.received(response.status, response.headers)
        return response

    async def _take_place(self, sending: Sending) -> None:
        """Take a place among the requests in flight, in the lane of the call's priority.

        Raises:
            APITimeoutError: the call's deadline passed while it waited; nothing was sent.
        """
        if self._places.take_free(sending.priority):  # most calls: nothing to wait for
            return
        take = functools.partial(self._places.take, sending.priority)
        if sending.start_by is None:  # no timer to set up and cancel
            await self.unless_closed(take)
            return
        try:
            async with asyncio.timeout(sending.start_by - time.monotonic()):
                await self.unless_closed(take)
        except TimeoutError:
            raise self._deadline_passed(
                sending, "the call's deadline passed while it waited for a place in flight"
            ) from None

    async def _acquire_budget(self, sending: Sending) -> None:
        """Wait for budget in the lane of the call's priority, within what is left of its deadline.

        Raises:
            APITimeoutError: the deadline has passed (while the call waited for a place in
                flight, say, or before a limiter granted its budget late); nothing was sent.
            DeadlineUnreachableError: the limiter foresees no budget before the deadline.
            OrderWithdrawnError: the call is for a bulk order its run withdrew before it
                was sent.
        """
        left = None if sending.start_by is None else sending.start_by - time.monotonic()
        if left is not None and left < 0:
            raise self._deadline_passed(
                sending, f"the call's deadline passed {-left:.3f} s before it could be sent"
            )
        if self._acquire is None:
            return
        acquire = functools.partial(self._acquire, sending.priority, left)
        # The store's budget is what a stopped bulk run must not spend: its orders still
        # waiting for it are withdrawn (a wait for a place in flight ends with an answer).
        waited = await self.unless_closed(functools.partial(unless_withdrawn, acquire))
        sending.call.budget_waited(seconds_waited(waited))
        late = None if sending.start_by is None else time.monotonic() - sending.start_by
        if late is not None and late > 0:
            # Granted late: the limiter could not foresee its wait, or the event loop stalled.
            await self._release_budget(None)  # the slot goes unused
            raise self._deadline_passed(
                sending, f"the call's deadline passed {late:.3f} s before its budget came"
            )

    def _deadline_passed(self, sending: Sending, message: str) -> APITimeoutError:
        """The error of a call whose deadline passed, naming the request it was making.

        A :class:`~b2b_async._exceptions.NotSentTimeoutError` while none of its attempts
        may have reached the server (none left, or each failed without effect: a 429, a 503,
        a connection that could not be opened); otherwise, an attempt whose request had
        begun to leave when the deadline passed included, the request may have reached it.
        """
        method, url = sending.request.method, self._base_url + sending.request.path
        if sending.uncertainty.uncertain:
            return APITimeoutError(message, method=method, url=url, may_have_reached_server=True)
        return NotSentTimeoutError(message, method=method, url=url)

    async def _release_budget(self, hint: BudgetHint | None) -> None:
        if self.limiter is not None:
            await self.limiter.release(hint)

    async def _exchange(
        self, session: aiohttp.ClientSession, request: Request, url: URL, info: RequestInfo
    ) -> Response:
        """The one aiohttp call: send, read the body under the cap, or raise a TransportError.

        Whatever else leaves it (a cancellation, the size cap's refusal, a fault of
        aiohttp's) leaves without the frames below this one (:func:`forget_inner_frames`):
        aiohttp's hold the request's headers, the token among them, and the aiohttp response,
        whose ``repr`` prints the answer's headers (a token a server echoed there), is a
        local of them too. A traceback rendered with its frames' locals (``pytest
        --showlocals``, an error tracker that captures them) would show both. The error the
        caller was handling when it made the call, the failure's context, is the caller's:
        its traceback is kept.
        """
        error: B2BError
        handled = sys.exception()
        try:
            return await self._answer_of(session, request, url)
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = transport_error(exc, info)
        except asyncio.CancelledError as exc:
            if cancel_requests() or not session.closed:
                forget_inner_frames(exc, handled)
                raise
            # Nobody cancelled this task: closing the session's connector cancelled the
            # request while it waited for a connection, before anything was sent.
            error = ClientClosedError("the client's aiohttp session was closed")
        except RuntimeError as exc:
            if not session.closed:
                forget_inner_frames(exc, handled)
                raise
            # Only aclose closes an owned session; someone reached in and closed it.
            error = ClientClosedError("the client's aiohttp session was closed")
        except BaseException as exc:  # the size cap's ResponseDecodeError, a fault of aiohttp's
            forget_inner_frames(exc, handled)
            raise
        # Raised outside the except block, so aiohttp's error is neither cause nor context:
        # the repr of some of them shows the request's headers, the token among them.
        raise error

    async def _answer_of(
        self, session: aiohttp.ClientSession, request: Request, url: URL
    ) -> Response:
        """Send ``request`` and read its answer under the cap.

        A frame of its own, so that the aiohttp response is a local of a frame that has
        ended when a failure reaches :meth:`_exchange`, which drops it.
        """
        async with session.request(
            request.method,
            url,
            params=request.query,
            data=request.body,
            headers=self._request_headers(request),
            timeout=self.timeout,
            allow_redirects=False,
            raise_for_status=False,  # a borrowed session's own settings must not apply:
            auto_decompress=True,  # aiohttp asks for gzip whether or not it decompresses
        ) as response:
            body = await self._read_capped(response)
            reason = response.reason or ""
            return Response(response.status, response.headers, body, reason, time.time())

    def _request_headers(self, request: Request) -> dict[str, str]:
        """The headers a request adds to its session's own (all of them for a borrowed one)."""
        headers = {} if self._pool.owned else dict(self._headers)
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

    def _budget_hint(
        self, response: Response, answer: Envelope | B2BError, call: CallObserver
    ) -> BudgetHint | None:
        """What the answer says about the budget, bounded by the longest wait worth obeying.

        A 429 is what the answer stands for: an HTTP 429, or a 2xx whose body code is 429.
        """
        rate_limited = isinstance(answer, RateLimitError)
        hint = None if self.limiter is None else self._read_budget(response, rate_limited)
        if rate_limited:
            call.rate_limited(None if hint is None else hint.retry_after)
        return hint

    def _read_budget(self, response: Response, rate_limited: bool) -> BudgetHint | None:
        """The budget headers of an answer, as the limiter is to follow them."""
        status = 429 if rate_limited else response.status
        hint = parse_budget(status, response.headers, response.received_at)
        if rate_limited and (hint is None or hint.retry_after is None):
            # A 429 without a wait hint still closes the gate for every call.
            hint = attrs.evolve(hint or BudgetHint(), retry_after=UNHINTED_COOLDOWN)
        cap = DEFAULT_MAX_RETRY_AFTER if self.retry is None else self.retry.max_retry_after
        return None if hint is None else hint.capped(cap, self._burst)

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        """Read the body, up to the cap.

        Content-Length counts compressed bytes, so only a plain body within the cap is read
        whole; any other is counted as decoded, so a small compressed body cannot expand
        past the cap. A body past the cap is left unread (:meth:`_drop_oversized_body`): a
        success's is refused, an error answer's is read as empty.
        """
        length = response.content_length
        if length is not None and length > self._max_bytes:
            return self._drop_oversized_body(response)
        if length is not None and "Content-Encoding" not in response.headers:
            return await response.read()
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(CHUNK):
            size += len(chunk)
            if size > self._max_bytes:
                return self._drop_oversized_body(response)
            chunks.append(chunk)
        return b"".join(chunks)

    def _drop_oversized_body(self, response: aiohttp.ClientResponse) -> bytes:
        """Stop reading a body past the cap, and close its connection.

        An error answer's class follows its status, whatever its body holds (a proxy's large
        page for a 503 is still a 503, retried after its hint), so it is kept without the
        body; a success's body is what the call needs, and its answer is refused.

        Returns:
            An empty body, for an answer whose status is not a success.

        Raises:
            ResponseDecodeError: the answer is a success.
        """
        response.close()
        if not is_success(response.status):
            return b""
        raise ResponseDecodeError(
            f"response body exceeds the {self._max_bytes}-byte cap", status=response.status
        )


def pool_may_wait(*, owned: bool, max_concurrency: int | None) -> bool:
    """Whether a call may wait for a free connection of the pool: a borrowed session's pool
    is not sized to the cap, and without a cap the owned one holds :data:`UNCAPPED_POOL`
    connections."""
    return not owned or max_concurrency is None


def in_flight_cap(max_concurrency: int | None, session: aiohttp.ClientSession | None) -> int | None:
    """The most requests in flight at once: ``max_concurrency``, or fewer on a borrowed
    session whose connector's pool is smaller (its ``limit`` or ``limit_per_host``); ``None``,
    no cap, stays none.

    A request beyond what the pool holds would wait for a connection in aiohttp's queue,
    first come first served, with its budget already taken: an urgent call would wait there
    behind every bulk one. Held to the pool's size, it waits for a place in flight instead,
    where priorities are kept, and a deadline that passes there sent nothing.
    """
    connector = None if session is None else session.connector
    if max_concurrency is None or connector is None:
        return max_concurrency
    pool = [size for size in (connector.limit, connector.limit_per_host) if size > 0]
    return min([max_concurrency, *pool])


def seconds_since(moment: float | None) -> float:
    """Seconds from a :func:`time.monotonic` ``moment`` to now; ``0.0`` for ``None``."""
    return 0.0 if moment is None else time.monotonic() - moment


def earliest(moment: float | None, seconds: float | None) -> float | None:
    """The earlier of a :func:`time.monotonic` ``moment`` and ``seconds`` from now, if any."""
    bounds = [] if moment is None else [moment]
    if seconds is not None:
        bounds.append(time.monotonic() + seconds)
    return min(bounds, default=None)


class UnaskedAnswerConnector(aiohttp.TCPConnector):
    """A connector that never hands a request a kept-alive connection holding an answer
    that no request asked for.

    A proxy or a server that answers one request twice (or a body longer than its
    ``Content-Length`` that reads as an answer) leaves the surplus on the connection after
    it went back to the pool: aiohttp reads it there, and hands it to the next request sent
    on that connection as that request's answer. Order B would be reported with the answer
    to order A, and every later request on the connection with the answer to the one
    before it. Such a connection is closed instead of used; after as many of them as the
    pool holds, the connection handed out is a new one (aiohttp's as it stands, should a
    server speak before it is asked).
    """

    async def connect(self, *args: Any, **kwargs: Any) -> aiohttp.connector.Connection:
        """A connection from the pool, or a new one, that holds no unasked answer."""
        connection = await super().connect(*args, **kwargs)
        for _ in range(self.limit):  # each pass takes one connection out of the pool
            if not holds_unasked_answer(connection):
                break
            connection.close()
            connection = await super().connect(*args, **kwargs)
        return connection


def holds_unasked_answer(connection: aiohttp.connector.Connection) -> bool:
    """Whether a connection, before its request leaves, already holds something read: an
    answer, or a failure to read one, that no request of its own asked for."""
    protocol = connection.protocol
    return protocol is not None and protocol.should_close


def without_silent_resends(session: aiohttp.ClientSession) -> None:
    """Stop ``session`` from sending a GET or PUT again on its own when its connection fails.

    aiohttp resends an idempotent request once, within the same ``session.request``, when
    its connection is reset or closed (RFC 9112's retrying of requests). That second request
    leaves without a slot of the limiter, an attempt of the retry policy or a hook's report:
    it spends the store's budget unseen, and can run into a 429. The transport's own retries
    repeat a failed attempt instead, paced and counted. aiohttp has no public switch for it;
    the attribute is its own, there in every version this package supports (a version
    without it keeps its resend, and the transport's tests say so).
    """
    if hasattr(session, "_retry_connection"):
        session._retry_connection = False


def budget_acquirer(limiter: Limiter) -> Acquire:
    """How the transport asks ``limiter`` for budget: with the call's priority and deadline.

    Any ``acquire`` that can be called as the protocol says, ``acquire(priority,
    deadline=...)``, is: one that names both, and one that takes ``*args, **kwargs`` to hand
    them on (a wrapper of another limiter). A limiter written for version 0.1's protocol
    takes no arguments; it is asked without them, and serves every call in its own order.

    Raises:
        TypeError: ``acquire`` can be called neither way, or names a ``priority`` or a
            ``deadline`` that it cannot take as the protocol passes them (a keyword-only
            ``priority``, say), which would otherwise drop both without a word.
    """
    signature = inspect.signature(limiter.acquire)
    if takes(signature, Priority.NORMAL, deadline=None):
        return lambda priority, deadline: limiter.acquire(priority, deadline=deadline)
    names_protocol = {"priority", "deadline"} & signature.parameters.keys()
    if names_protocol or not takes(signature):
        raise TypeError(
            f"a limiter's acquire must take (priority, *, deadline=None), "
            f"as the Limiter protocol says; {type(limiter).__name__}.acquire takes {signature}"
        )
    return lambda priority, deadline: limiter.acquire()


def releasable(limiter: Limiter) -> Limiter:
    """Return ``limiter``, whose ``release`` can be called as the transport calls it, with
    the answer's budget hint: ``release(hint)``.

    A ``release`` that cannot would fail only as the first answer came back, and then every
    call after its request had been sent: an order registered, and its call failed.

    Raises:
        TypeError: ``release`` cannot take one positional argument.
    """
    signature = inspect.signature(limiter.release)
    if not takes(signature, None):
        raise TypeError(
            f"a limiter's release must take (hint), as the Limiter protocol says; "
            f"{type(limiter).__name__}.release takes {signature}"
        )
    return limiter


def seconds_waited(waited: object) -> float:
    """The seconds a limiter's ``acquire`` says it waited, ``0.0`` when it says no number of
    them: ``None`` (a limiter that returns nothing), a negative or a NaN one. The budget it
    granted is taken all the same, and handed back after the request."""
    seconds = finite_number(waited)
    return 0.0 if seconds is None or seconds < 0 else seconds


def takes(signature: inspect.Signature, *args: object, **kwargs: object) -> bool:
    """Whether a callable of ``signature`` can be called with these arguments."""
    try:
        signature.bind(*args, **kwargs)
    except TypeError:
        return False
    return True


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
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ClientHttpProxyError):
        return APIConnectionError(
            f"could not connect: {unopened_words(exc, info)}",
            method=method,
            url=url,
            may_have_reached_server=False,
        )
    detail = one_line(f"{type(exc).__name__}: {failure_words(exc)}", info.secrets)
    return APIConnectionError(f"connection failed: {detail}", method=method, url=url)


def unopened_words(
    exc: aiohttp.ClientConnectorError | aiohttp.ClientHttpProxyError, info: RequestInfo
) -> str:
    """Why no connection to the API opened: the socket's error, or the proxy's refusal.

    A proxy answers the tunnel's ``CONNECT`` before the request is sent through it, so its
    refusal (a 407 for credentials it wants, a 403, a 502) sent nothing to the API, and will
    refuse every order alike.
    """
    if isinstance(exc, aiohttp.ClientConnectorError):
        words = str(exc.os_error)
    else:
        words = f"the proxy refused the tunnel: {exc.status} {failure_words(exc)}"
    return one_line(words, info.secrets)


def forget_inner_frames(exc: BaseException, handled: BaseException | None) -> None:
    """Drop the frames ``exc`` has left on its way here, and the tracebacks of the errors it
    was raised while handling or from: their frames' local variables go with them.

    ``handled`` is the error the caller was handling when the exchange began: ``exc`` was
    raised while it was being handled, so the chain leads to it, but it and what it chains
    are the caller's, and keep their tracebacks.

    A bare ``raise`` after this starts its traceback at the caller's frame. The frames are
    not cleared in place (:func:`traceback.clear_frames`): before Python 3.13, clearing the
    frame of a coroutine that is only suspended finalizes that coroutine, and the traceback
    of an error handed from one task to another may hold one.
    """
    seen: set[int] = set()
    links: list[BaseException | None] = [exc]
    while links:
        current = links.pop()
        if current is None or current is handled or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        links += [current.__cause__, current.__context__]


def failure_words(exc: BaseException) -> str:
    """aiohttp's words for a failure, up to where it quotes what it read of the answer.

    str() of aiohttp's errors never shows the request's headers, but a parser error quotes
    the line it could not read, cut short and escaped (``b'...\\r...'``): a token the server
    echoed there may show in pieces that no redaction would find.
    """
    text = exc.message if isinstance(exc, aiohttp.ClientResponseError) else str(exc)
    return " ".join(QUOTED.sub("", text).split()).rstrip(" ,.:<")
