"""Retry decisions, together: what to retry, how long to wait, when to stop, what it meant.

The transport asks this module four questions about a failed attempt:

- :func:`is_retryable`: is another attempt worth it? 429, 500, 502, 503, 504, connection
  errors and timeouts, and a garbled success body; never any other 4xx. A server hint
  longer than :attr:`RetryPolicy.max_retry_after <b2b_async.RetryPolicy.max_retry_after>` is
  not waited for: the call fails fast with the hint instead.
- :func:`may_have_reached_server`: could the failed attempt have been processed all the same
  (a read timeout, a reset, a 500, 502 or 504, a success answer that could not be read)? A
  later "already exists" then means success.
- :class:`WaitStrategy`: how long before the next attempt: the server's hint, else jittered
  exponential backoff (:meth:`RetryPolicy.backoff <b2b_async.RetryPolicy.backoff>`).
- :class:`StopBeforeDeadline`: give up when the next wait would end past the call's deadline.

:class:`Uncertainty` follows one call's attempts and marks each later failure with
``after_uncertain_attempt`` (:func:`later_failures_marked` marks those of the requests a call
makes after one that may have reached the server); :func:`settle_registration` is the one
rule that turns "The order already exists." into a registered order.
:func:`may_have_taken_effect`, :func:`refused_wait` and :func:`least_wait_before_retry`
answer what a V3 create's failure says about its window (``_v3_window.window_lost``).
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Final, TypeVar

import attrs
import tenacity

from ._config import RETRYABLE_SERVER_STATUSES, UNCERTAIN_STATUSES, RetryPolicy
from ._exceptions import (
    APIError,
    B2BError,
    DeadlineUnreachableError,
    NotSentTimeoutError,
    OrderAlreadyExistsError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    TransportError,
)

__all__ = [
    "StopBeforeDeadline",
    "Uncertainty",
    "WaitStrategy",
    "is_retryable",
    "is_transient",
    "later_failures_marked",
    "least_wait_before_retry",
    "may_have_reached_server",
    "may_have_taken_effect",
    "refused_wait",
    "settle_registration",
    "wait_before_retry",
]

R = TypeVar("R")

#: The range of the random factor applied to a backoff wait.
JITTER: Final = (0.5, 1.0)
#: Where :class:`StopBeforeDeadline` leaves, on the failure it gives up after, the wait it
#: refused (read by :func:`refused_wait`).
_REFUSED_WAIT: Final = "_b2b_wait_refused_at_deadline"


def is_transient(exc: BaseException) -> bool:
    """Whether a failed attempt is of a kind that another attempt may cure: a transport
    error, a garbled answer, a 429, or a 500, 502, 503 or 504."""
    if isinstance(exc, TransportError):
        return True
    if isinstance(exc, ResponseDecodeError):
        return exc.garbled
    if isinstance(exc, ServerError):
        return exc.status in RETRYABLE_SERVER_STATUSES
    return isinstance(exc, RateLimitError)


def is_retryable(exc: BaseException, policy: RetryPolicy) -> bool:
    """Decide whether a failed attempt is worth another one (the one retry predicate): it
    is :func:`is_transient`, and the server asked for no wait longer than the policy obeys.

    Args:
        exc: what the attempt raised.
        policy: the retry options (for the longest hint worth obeying).
    """
    if not is_transient(exc):
        return False
    hint = exc.retry_after if isinstance(exc, APIError) else None
    return hint is None or hint <= policy.max_retry_after


def may_have_reached_server(exc: B2BError) -> bool:
    """Tell whether a failed attempt may nonetheless have been processed by the server."""
    if isinstance(exc, TransportError):
        return exc.may_have_reached_server
    if isinstance(exc, ResponseDecodeError):
        return True
    return isinstance(exc, APIError) and exc.status in UNCERTAIN_STATUSES


def may_have_taken_effect(exc: B2BError) -> bool:
    """Tell whether the call that failed with ``exc`` may have taken effect all the same: its
    last attempt, or an earlier one, may have been processed by the server."""
    return exc.after_uncertain_attempt or may_have_reached_server(exc)


class Uncertainty:
    """Follows one call's attempts: has any of them possibly reached the server?

    Every failure after such an attempt is marked ``after_uncertain_attempt``, whatever its
    kind: a registration's "already exists" then reads as this call's own earlier success,
    and a later attempt that could not be sent at all (a closed client, no budget before the
    deadline, a refused connection) still tells that the call may have taken effect.

    An attempt whose request has begun to leave counts as possibly reaching the server
    until its failure is noted: a deadline that ends the call meanwhile (while it connects,
    waits for the answer, or hands the budget back after it) leaves it so.

    A later attempt that could not be sent at all for want of time (no budget before the
    deadline, the deadline passed first) gets the failure noted before it as its
    ``__cause__``: what the call's requests met (a 503, a connection that could not be
    opened) is what its error says of the server.
    """

    __slots__ = ("_earlier", "_last", "_leaving")

    def __init__(self) -> None:
        self._earlier = False  # a noted failure may have reached the server
        self._leaving = False  # an attempt's request left, and its failure is not noted
        self._last: B2BError | None = None  # the failure noted last

    @property
    def uncertain(self) -> bool:
        """Whether an attempt may have reached the server."""
        return self._earlier or self._leaving

    def sent(self) -> None:
        """An attempt's request begins to leave."""
        self._leaving = True

    def note(self, exc: B2BError) -> None:
        """Mark ``exc`` with what came before it, then remember what it says itself."""
        exc.after_uncertain_attempt = self._earlier
        sent_nothing = isinstance(exc, DeadlineUnreachableError | NotSentTimeoutError)
        if sent_nothing and exc.__cause__ is None:
            exc.__cause__ = self._last  # the earlier attempt's failure says what the call met
        self._earlier = self._earlier or may_have_reached_server(exc)
        self._leaving = False
        self._last = exc


@contextlib.contextmanager
def later_failures_marked(uncertain: bool) -> Iterator[None]:
    """Mark every failure raised in the block ``after_uncertain_attempt`` when ``uncertain``.

    For a call that goes on with other requests after one that may have reached the server
    (``ensure``'s read and update after a create cut off on the wire): whatever fails later,
    the call may have taken effect, as :class:`Uncertainty` marks a call's later attempts.
    """
    try:
        yield
    except B2BError as exc:
        if uncertain:
            exc.after_uncertain_attempt = True
        raise


def wait_before_retry(
    exc: BaseException | None, policy: RetryPolicy | None, attempt: int, jitter: float
) -> float:
    """The wait after failed attempt number ``attempt`` (the one rule of how long to wait).

    Args:
        exc: what the attempt raised.
        policy: the retry options; ``None`` (no retries) has no backoff.
        attempt: the 1-based number of the attempt that failed.
        jitter: the backoff's random factor, within :data:`JITTER`.

    Returns:
        The server's hint when it gave one, else the policy's backoff.
    """
    if isinstance(exc, APIError) and exc.retry_after is not None:
        return exc.retry_after
    return 0.0 if policy is None else policy.backoff(attempt, jitter)


def least_wait_before_retry(exc: BaseException, policy: RetryPolicy | None) -> float:
    """The shortest wait :func:`wait_before_retry` may give after a first attempt fails."""
    return wait_before_retry(exc, policy, 1, JITTER[0])


def refused_wait(exc: BaseException) -> float | None:
    """The wait before another attempt that a deadline refused after ``exc``: the retries
    stopped there (:class:`StopBeforeDeadline`), their attempts not all spent; ``None``
    when they did not stop so."""
    wait = getattr(exc, _REFUSED_WAIT, None)
    return wait if isinstance(wait, float) else None


@attrs.frozen
class WaitStrategy:
    """Tenacity wait strategy: :func:`wait_before_retry` with a random jitter."""

    policy: RetryPolicy

    def __call__(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return wait_before_retry(exc, self.policy, state.attempt_number, random.uniform(*JITTER))


@attrs.frozen
class StopBeforeDeadline(tenacity.stop.stop_base):
    """Tenacity stop condition: give up when the next wait would end past the deadline.

    Giving up early raises the last real failure, which says more than a timeout would; the
    wait refused goes with it (:func:`refused_wait`), so that a caller can tell a deadline
    that stopped the retries from attempts that ran out.

    Attributes:
        deadline: the call's deadline, in :func:`time.monotonic` seconds.
    """

    deadline: float

    def __call__(self, state: tenacity.RetryCallState) -> bool:
        wait = state.upcoming_sleep or 0.0
        if time.monotonic() + wait < self.deadline:
            return False
        failure = state.outcome.exception() if state.outcome is not None else None
        if failure is not None:
            setattr(failure, _REFUSED_WAIT, float(wait))
        return True


async def settle_registration(
    registration: Awaitable[R], registered: Callable[[], R], *, in_bulk: bool
) -> R:
    """Await a registration; read "The order already exists." as registered where it means so.

    The one rule: "already exists" means the order is registered when an earlier attempt of
    the same call may have reached the server (a read timeout, a reset, a 500, 502 or 504, a
    success answer that could not be read), or in a bulk run, whose job is "make sure these
    are registered". Otherwise it is the caller's news, and
    :class:`~b2b_async.OrderAlreadyExistsError` propagates.

    Args:
        registration: the registration call.
        registered: builds the result that stands for "registered before" (with
            ``already_registered=True``).
        in_bulk: whether the call belongs to a bulk run.

    Raises:
        OrderAlreadyExistsError: the order was registered before this call, outside a bulk run.
    """
    try:
        return await registration
    except OrderAlreadyExistsError as exc:
        if not (in_bulk or exc.after_uncertain_attempt):
            raise
        return registered()
