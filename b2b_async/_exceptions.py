"""The error tree: every failure the library raises derives from :class:`B2BError`.

::

    B2BError
    ├── InvalidOrderError            bad input caught before sending (also a ValueError)
    ├── ClientClosedError            used after aclose() or from another loop (a RuntimeError)
    ├── DeadlineUnreachableError     no budget before the call's deadline; nothing sent
    ├── RegistrationWindowClosedError V3's 10-second window cannot be met; nothing sent
    ├── OrderWithdrawnError          a stopped bulk run let go of it unsent (not exported)
    ├── APIError                     a response came back: status, code, message, details, ...
    │   ├── BadRequestError          400, and HTTP 200 with a 400xx body code
    │   │   └── OrderAlreadyExistsError
    │   ├── AuthenticationError      401
    │   ├── PermissionDeniedError    403
    │   ├── NotFoundError            404
    │   ├── UnprocessableEntityError 422
    │   ├── RateLimitError           429: retry_after
    │   └── ServerError              5xx
    ├── TransportError               no usable response
    │   ├── APIConnectionError
    │   ├── APITimeoutError
    │   │   └── NotSentTimeoutError  the deadline passed before an attempt left (not exported)
    │   └── RateLimiterUnavailableError  the shared limiter's Redis failed; nothing sent
    └── ResponseDecodeError          a response that is not the documented envelope

This module is a leaf: it imports nothing else from the package, so every other module may
import it. It also holds the one table that decides which exception an HTTP status becomes
(:func:`error_class`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final


class B2BError(Exception):
    """The root of every error the library raises.

    Catch it to handle any failure of a call, whatever its cause. Every error pickles with
    its fields, so it crosses ``multiprocessing``, ``concurrent.futures`` and task queues
    intact.

    Attributes:
        after_uncertain_attempt: ``True`` when an earlier attempt of the same call may have
            reached the server (a read timeout, a reset after sending, a 500, 502 or 504):
            the call may have taken effect, whatever this failure of a later attempt says
            (an answer about that effect, or a later attempt that could not be sent at all).

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       ``after_uncertain_attempt`` is on every error, not only on :class:`APIError`.
    """

    after_uncertain_attempt: bool = False

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own pickling calls cls(*args), which keyword-only fields do not
        # survive; the fields travel as the instance's state instead.
        return (restore_error, (type(self), self.args), self.__dict__)


def restore_error(cls: type[B2BError], args: tuple[Any, ...]) -> B2BError:
    """Rebuild a pickled error without calling its ``__init__`` (see ``B2BError.__reduce__``)."""
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    return error


class InvalidOrderError(B2BError, ValueError):
    """An argument was rejected before anything was sent.

    Also a :class:`ValueError`, so code that validates input generically still catches it.

    .. versionadded:: 0.1.0
    """


#: What a call of a closed client is told.
CLIENT_CLOSED: Final = "the client is closed; create a new B2BClient"
#: What a bulk order withdrawn before any request of it left is told.
ORDER_WITHDRAWN: Final = "the run stopped sending before this order's request left"
OTHER_LOOP: Final = (
    "the client serves the event loop it was first used in; create a B2BClient in each "
    "event loop (inside the coroutine asyncio.run runs), and close it there"
)


class ClientClosedError(B2BError, RuntimeError):
    """The client, or the session it borrowed, was used after it was closed, or from an
    event loop other than the one it was first used in (whose connections it holds).

    .. versionadded:: 0.1.0
    """


class APIError(B2BError):
    """The API answered, and the answer is an error.

    Attributes:
        status: the HTTP status, or for an HTTP 200 carrying an error body code, the status
            that code stands for (``40010`` stands for 400).
        code: the envelope's ``code`` as sent (``40010``, ``404``), or ``None``.
        message: the most specific human-readable message found in the body, cut after
            1,000 of its characters and on one line (control characters, line separators
            and bidirectional overrides written as escapes).
        details: the envelope's ``data`` when it is a mapping (a field-to-problem map, or
            ``{"errMsg": ...}``), else an empty mapping.
        request_id: the ``X-Request-Id`` response header, shown as ``message`` is, for
            support tickets.
        method: the HTTP method of the request.
        url: the URL of the request (it never carries the token, which travels in a header).
        retry_after: the server's wait hint in seconds, when it gave one.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: int | None = None,
        details: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        method: str = "",
        url: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details: Mapping[str, Any] = details or {}
        self.request_id = request_id
        self.method = method
        self.url = url
        self.retry_after = retry_after

    def __str__(self) -> str:
        where = f" ({self.method} {self.url})" if self.method else ""
        code = f", code {self.code}" if self.code is not None and self.code != self.status else ""
        rid = f", request id {self.request_id}" if self.request_id else ""
        return f"HTTP {self.status}{code}: {self.message}{where}{rid}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )


class BadRequestError(APIError):
    """HTTP 400, or an HTTP 200 whose body code is a 400xx: the request was invalid.

    :attr:`details` usually maps each rejected field to its problem.

    .. versionadded:: 0.1.0
    """


class OrderAlreadyExistsError(BadRequestError):
    """The order id is already registered ("The order already exists.").

    When :attr:`after_uncertain_attempt` is ``True``, an earlier attempt of the same call
    probably registered it; :meth:`Orders.create <b2b_async.Orders.create>` then returns
    ``CreatedOrder(already_registered=True)`` instead of raising.

    .. versionadded:: 0.1.0
    """


class AuthenticationError(APIError):
    """HTTP 401: the token is missing, wrong or revoked.

    .. versionadded:: 0.1.0
    """


class PermissionDeniedError(APIError):
    """HTTP 403: the token may not do this, or a platform limit was exceeded.

    .. versionadded:: 0.1.0
    """


class NotFoundError(APIError):
    """HTTP 404: the company, customer or order does not exist.

    .. versionadded:: 0.1.0
    """


class UnprocessableEntityError(APIError):
    """HTTP 422: the request was well-formed but semantically rejected.

    .. versionadded:: 0.1.0
    """


class RateLimitError(APIError):
    """HTTP 429: the store's request budget is spent.

    :attr:`retry_after` holds the server's hint in seconds. The client retries these by
    itself; you see one only when retries are exhausted, switched off, or the hint is longer
    than :attr:`RetryPolicy.max_retry_after <b2b_async.RetryPolicy.max_retry_after>`.

    .. versionadded:: 0.1.0
    """


class ServerError(APIError):
    """HTTP 5xx: the server failed.

    The client retries a 500, 502, 503 or 504 by itself, unless its wait hint is longer
    than :attr:`RetryPolicy.max_retry_after <b2b_async.RetryPolicy.max_retry_after>`; any
    other 5xx (a 501, a 507) is raised at once, since repeating the request will not
    change it.

    .. versionadded:: 0.1.0
    """


class TransportError(B2BError):
    """No usable response came back.

    Attributes:
        method: the HTTP method of the request.
        url: the URL of the request.
        may_have_reached_server: ``False`` only when the request certainly never left (the
            connection could not be opened or timed out while opening, or the call's
            deadline passed before the attempt could leave); otherwise the server may have
            processed it.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self, message: str, *, method: str = "", url: str = "", may_have_reached_server: bool = True
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url
        self.may_have_reached_server = may_have_reached_server

    def __str__(self) -> str:
        where = f" ({self.method} {self.url})" if self.method else ""
        return f"{self.message}{where}"


class APIConnectionError(TransportError):
    """The connection failed: refused, reset, closed early, or unresolvable.

    .. versionadded:: 0.1.0
    """


class APITimeoutError(TransportError):
    """An attempt, or the whole call's deadline, ran out of time.

    .. versionadded:: 0.1.0
    """


class NotSentTimeoutError(APITimeoutError):
    """The call's deadline passed before an attempt's request could leave.

    The attempt waited for a place in flight or for budget until then, so it sent nothing,
    and no earlier attempt of the call may have taken effect (``may_have_reached_server``
    is ``False``; after one that may have, the call's error is a plain
    :class:`APITimeoutError`). Nothing follows about whether the API can be reached: it is
    no connect timeout, and a bulk run does not count it as one. Caught as an
    :class:`APITimeoutError`, which it is.
    """

    def __init__(self, message: str, *, method: str = "", url: str = "") -> None:
        super().__init__(message, method=method, url=url, may_have_reached_server=False)


class OrderWithdrawnError(B2BError):
    """A bulk run stopped sending while this order waited (for its turn in the store's
    budget, say), before any request of it left.

    The run reports the order as not attempted (``attempted=False``), to be sent again by a
    later run; the error itself stays inside the run (a hook sees the call end with it).
    """


class RateLimiterUnavailableError(TransportError):
    """The shared rate limiter's Redis could not be reached, so the request was not sent.

    Raised by :meth:`b2b_async.redis.RedisRateLimiter.acquire` with
    ``on_redis_error="fail"``. It is a :class:`~b2b_async.TransportError` whose
    ``may_have_reached_server`` is ``False``: the client's retry policy replays the attempt
    (Redis may be back by then), and a replay can never register an order twice because
    nothing was sent. The Redis error is chained as ``__cause__``.

    .. versionadded:: 0.1.0
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, may_have_reached_server=False)


class ResponseDecodeError(B2BError):
    """A response arrived but is not the documented envelope (or is larger than the cap).

    Attributes:
        status: the HTTP status of the response when its envelope is at fault; ``0`` when a
            success's ``data`` does not fit its model, or a listing repeats itself or does not
            end within its bound.
        body_excerpt: the first few hundred characters of the body, for diagnosis.
        path: where in the body the problem is, e.g. ``$.data.orderId``.
        garbled: ``True`` when a success answer's body was cut short or is not JSON at all;
            the request was probably processed, so the client replays it (a registration's
            replay answered "already exists" then counts as registered).

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        body_excerpt: str = "",
        path: str = "$",
        garbled: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body_excerpt = body_excerpt
        self.path = path
        self.garbled = garbled

    def __str__(self) -> str:
        status = f" (HTTP {self.status})" if self.status else ""
        return f"{self.message} @ {self.path}{status}"


class DeadlineUnreachableError(B2BError):
    """The call could not get request budget before its deadline, so nothing was sent.

    The rate limiter raises it as soon as it foresees the miss (the calls queued ahead of
    this one, or a 429 cooldown, would take longer than the time left), instead of letting
    the call wait until the deadline passes. Not retried: the deadline bounds the whole call.
    Raised for a retry, it has the failure of the attempt before it as its ``__cause__``.

    Attributes:
        estimated_wait: the seconds the call would have waited for its slot, by the
            limiter's estimate when it gave up.
        deadline: the seconds the call had left to wait at that moment.

    .. versionadded:: 0.1.0
    """

    def __init__(self, message: str, *, estimated_wait: float, deadline: float) -> None:
        super().__init__(message)
        self.message = message
        self.estimated_wait = estimated_wait
        self.deadline = deadline

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(estimated_wait={self.estimated_wait!r}, "
            f"deadline={self.deadline!r})"
        )


class RegistrationWindowClosedError(B2BError):
    """V3 "Create an Order" cannot reach B2B Edition within 10 seconds of the order's creation.

    Raised by :meth:`V3Orders.create <b2b_async.V3Orders.create>` (and ``register``) given
    ``created_at``, instead of sending a create bound to be answered "The order already
    exists.": when the window has already passed, when the calls queued ahead or a 429
    cooldown leave no budget before it ends (the ``__cause__`` is then the limiter's
    :class:`DeadlineUnreachableError`), or when a transient failure leaves no time for another
    attempt (the ``__cause__`` is that failure). Once the window has ended, B2B Edition holds
    the order without the PO number and extra fields sent:
    :meth:`V3Orders.ensure <b2b_async.V3Orders.ensure>` sets them. An attempt sent before
    this error may have registered the order in time; ``ensure`` finds out by reading it.

    Attributes:
        bc_order_id: the BigCommerce order id.
        window_ended_at: when the window ends or ended (aware, UTC): the order's creation
            time plus 10 seconds.

    .. versionadded:: 0.2.0
    """

    def __init__(self, message: str, *, bc_order_id: int, window_ended_at: datetime) -> None:
        super().__init__(message)
        self.message = message
        self.bc_order_id = bc_order_id
        self.window_ended_at = window_ended_at

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(bc_order_id={self.bc_order_id!r}, "
            f"window_ended_at={self.window_ended_at!r})"
        )


#: One table decides which exception a status becomes; a status missing here falls back to
#: its class (the first digit), so a 418 is a plain APIError and a 507 a ServerError.
STATUS_ERRORS: Final[Mapping[int, type[APIError]]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}
CLASS_ERRORS: Final[Mapping[int, type[APIError]]] = {4: APIError, 5: ServerError}


def error_class(status: int) -> type[APIError]:
    """Pick the exception class for an error status, by the table then by status class."""
    return STATUS_ERRORS.get(status) or CLASS_ERRORS.get(status // 100, APIError)


def is_refusal(error: BaseException | None) -> bool:
    """Whether the API refused the request itself: an answer of 4xx other than 429, which
    sending the same request again cannot change."""
    return isinstance(error, APIError) and 400 <= error.status < 500 and error.status != 429
