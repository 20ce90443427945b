"""What the client reports about its calls: one frozen event per thing that happened.

A hook (see :func:`~b2b_async.set_hooks`) receives every event of every client in the
process and picks what it wants by type. One API call yields, in order:

- :class:`CallStarted`, once;
- per attempt: :class:`BudgetWaited` (when pacing is on), :class:`RequestSent`, then
  :class:`ResponseReceived` or :class:`RequestFailed`, and :class:`RateLimited` when the
  answer was a 429; :class:`RetryScheduled` when another attempt will follow;
- :class:`CallFinished`, once, however the call ended (cancellation included).

A bulk run adds one :class:`BulkOutcome` per input. Every event of one call holds the same
:class:`Call`, which compares by identity, so a hook may key its per-call state by it.
No event holds the token or the store hash: URLs and request ids are redacted, and errors
are the library's own, whose messages never repeat a secret.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Final, Protocol, TypeAlias
from urllib.parse import urlencode

import attrs
from yarl import URL

from ._config import MAX_TARGETS
from ._exceptions import B2BError
from ._protocol import redact
from ._routes import V2_PREFIX, V3_PREFIX

#: A path segment kept in a route: every word of the API's paths starts with a lowercase letter
#: (``orders``, ``orderBCIds``, ``b2b``); ids are numbers, or upper case (``BC123``), or escaped.
_WORD: Final = re.compile(r"[a-z][A-Za-z0-9_-]*")


@functools.lru_cache(maxsize=MAX_TARGETS)  # a client calls few paths, each many times
def route_of(path: str) -> str:
    """The route of ``path``: its API prefix and words kept, every other segment ``{id}``.

    ``/api/v2/io/companies/12/user/34/orders`` becomes
    ``/api/v2/io/companies/{id}/user/{id}/orders``, fit to name a span. A segment that
    starts with a lowercase letter counts as a word, so an id such as ``order-7`` stays in
    the route: metrics are never labelled with it.
    """
    prefix = next((p for p in (V2_PREFIX, V3_PREFIX) if path.startswith(p + "/")), "")
    segments = path[len(prefix) :].split("/")
    return prefix + "/".join(s if not s or _WORD.fullmatch(s) else "{id}" for s in segments)


@attrs.frozen(eq=False)
class Call:
    """One API call, as hooks see it; compared by identity.

    Attributes:
        method: the HTTP method.
        url: the full URL, query included, with any secret replaced by ``***``.
        route: the path with its ids as ``{id}`` (see :func:`route_of`).
        server_address: the API's host name.
        server_port: the API's port.
        priority: the call's priority: ``"urgent"``, ``"normal"`` or ``"bulk"``.

    .. versionadded:: 0.2.0
    """

    method: str
    url: str
    route: str
    server_address: str
    server_port: int
    priority: str = "normal"

    @classmethod
    def of(
        cls,
        method: str,
        url: URL,
        query: Mapping[str, str] | None,
        secrets: tuple[str, ...],
        priority: str,
    ) -> Call:
        """Describe a call of ``method`` to ``url`` (with ``query``), its secrets redacted.

        Args:
            method: the HTTP method.
            url: the URL without the query.
            query: the query parameters, or ``None``.
            secrets: texts never to repeat.
            priority: the call's priority.
        """
        full = redact(f"{url}?{urlencode(query)}" if query else str(url), secrets)
        route = redact(route_of(url.raw_path), secrets)  # a word-like segment stays in it
        host, port = url.host or "", url.port or 0
        return cls(method, full, route, host, port, str(priority))  # a plain str, for exporters


@attrs.frozen
class CallStarted:
    """A call began: nothing is sent yet.

    Attributes:
        call: the call.

    .. versionadded:: 0.2.0
    """

    call: Call


@attrs.frozen
class BudgetWaited:
    """An attempt got its rate-limit budget, after waiting ``seconds`` (often ``0.0``).

    Attributes:
        call: the call.
        attempt: the attempt's number, from 1.
        seconds: the time waited for budget or a 429 cooldown.

    .. versionadded:: 0.2.0
    """

    call: Call
    attempt: int
    seconds: float


@attrs.frozen
class RequestSent:
    """An attempt's request is going out.

    Attributes:
        call: the call.
        attempt: the attempt's number, from 1.

    .. versionadded:: 0.2.0
    """

    call: Call
    attempt: int


@attrs.frozen
class ResponseReceived:
    """An attempt got an answer (any status; the body is read, not yet decoded).

    Attributes:
        call: the call.
        attempt: the attempt's number, from 1.
        status: the HTTP status.
        request_id: the server's ``X-Request-Id``, redacted, if it sent one.

    .. versionadded:: 0.2.0
    """

    call: Call
    attempt: int
    status: int
    request_id: str | None


@attrs.frozen
class RequestFailed:
    """An attempt got no usable answer: a connection error, a timeout, a cancellation.

    Attributes:
        call: the call.
        attempt: the attempt's number, from 1.
        error: what ended it: a :class:`~b2b_async.B2BError`, or a cancellation.

    .. versionadded:: 0.2.0
    """

    call: Call
    attempt: int
    error: BaseException


@attrs.frozen
class RateLimited:
    """An attempt met a 429; with pacing on, every call of the client now waits.

    Attributes:
        call: the call.
        attempt: the attempt's number, from 1.
        cooldown: the seconds the limiter holds every call, or ``None`` without pacing.

    .. versionadded:: 0.2.0
    """

    call: Call
    attempt: int
    cooldown: float | None


@attrs.frozen
class RetryScheduled:
    """An attempt failed and another follows after ``wait`` seconds.

    Attributes:
        call: the call.
        attempt: the number of the attempt that failed, from 1.
        wait: the seconds until the next attempt.
        error: why the attempt failed.

    .. versionadded:: 0.2.0
    """

    call: Call
    attempt: int
    wait: float
    error: B2BError


@attrs.frozen
class CallFinished:
    """A call ended, with a result or for good with an error.

    Attributes:
        call: the call.
        attempts: requests sent.
        retries: attempts after the first.
        budget_wait: seconds spent waiting for budget, over all attempts.
        status: the last answer's HTTP status, or ``None`` when none came.
        request_id: the last answer's ``X-Request-Id``, redacted, if any.
        error: what the call raised, or ``None`` when it succeeded.

    .. versionadded:: 0.2.0
    """

    call: Call
    attempts: int
    retries: int
    budget_wait: float
    status: int | None
    request_id: str | None
    error: BaseException | None


@attrs.frozen
class BulkOutcome:
    """One input of a bulk run was settled.

    Attributes:
        index: the input's position, from 0.
        ok: whether the order is registered (newly or before).
        already_registered: whether it turned out to be registered before.
        error: why it is not registered, when it was sent and is not.
        attempted: ``False`` when the run had stopped sending before this input, which was
            never sent (``ok`` is then ``False`` and ``error`` ``None``).

    .. versionadded:: 0.2.0
    """

    index: int
    ok: bool
    already_registered: bool
    error: B2BError | None
    attempted: bool = True


#: Everything a hook may receive.
Event: TypeAlias = (
    CallStarted
    | BudgetWaited
    | RequestSent
    | ResponseReceived
    | RequestFailed
    | RateLimited
    | RetryScheduled
    | CallFinished
    | BulkOutcome
)


class Hook(Protocol):
    """A callable that receives every event; what it returns is ignored.

    It runs inline on the event loop, so it must be quick and must not block. An exception
    it raises is logged and otherwise ignored: a broken hook never fails a call.

    A hook object may also have a ``listening()`` method, asked as each call starts: when
    it returns ``False``, the hook hears nothing of that call, and a call no hook hears
    builds no event at all. The OpenTelemetry hook says ``False`` while no SDK is set.

    .. versionadded:: 0.2.0
    """

    def __call__(self, event: Event, /) -> object:
        """Take note of ``event``."""
        ...


@attrs.frozen
class HookFactory:
    """Builds a hook when the first call needs it, so setting it up costs nothing before.

    Attributes:
        build: returns the hook, or ``None`` when it cannot work here (a missing package).

    .. versionadded:: 0.2.0
    """

    build: Callable[[], Hook | None]
