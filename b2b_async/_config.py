"""Option objects and the defaults they start from, collected in one place."""

from __future__ import annotations

import enum
import logging
import math
import os
from collections.abc import Mapping
from decimal import Decimal
from typing import Final, cast

import attrs

__all__ = [
    "CHECK_SHARE",
    "CONNECT_SHARE",
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_RETRY_AFTER",
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_TIMEOUT",
    "DEFAULT_V3_PAGE_SIZE",
    "EXTRA_FIELD_CONFIGS_RECHECK",
    "EXTRA_FIELD_CONFIGS_RETRY",
    "EXTRA_FIELD_CONFIGS_TTL",
    "MAX_CONCURRENCY",
    "MAX_EXTRA_FIELD_CONFIGS",
    "MAX_NUMBER_TEXT",
    "MAX_PAGE_SIZE",
    "MAX_SHOWN_INT_BITS",
    "MAX_SHOWN_REPR",
    "MAX_TARGETS",
    "MAX_TARGET_PATH",
    "MAX_V3_PAGE_SIZE",
    "MAX_WAIT_HINT",
    "MAX_WHOLE_DIGITS",
    "MAX_WINDOW_REQUESTS",
    "MIN_FOLDED_SECRET_LENGTH",
    "MIN_SECRET_LENGTH",
    "NOT_ITEMS",
    "PRIORITY_CHOICES",
    "REGISTRATION_MARGIN",
    "REGISTRATION_WINDOW",
    "RETRYABLE_SERVER_STATUSES",
    "STORE_HASH_VARIABLE",
    "TOKEN_VARIABLE",
    "UNCERTAIN_STATUSES",
    "UNHINTED_COOLDOWN",
    "UNREACHABLE_STREAK",
    "WHOLE_SECOND_UNCERTAINTY",
    "Priority",
    "RateLimit",
    "RetryPolicy",
    "blank_is_none",
    "check_callable",
    "check_deadline",
    "check_flag",
    "check_option_type",
    "check_positive_int",
    "check_priority",
    "environment_text",
    "finite_number",
    "logger",
    "paced_interval",
    "plain",
    "positive_number",
    "shown",
]

#: The library's one logger: its retries, outages and hook failures go here (see
#: :doc:`/observability`).
logger: Final = logging.getLogger("b2b_async")

#: The environment variable the token is read from when none is passed.
TOKEN_VARIABLE: Final = "B2B_AUTH_TOKEN"  # noqa: S105 - a variable's name, not a secret
#: The environment variable the store hash is read from along with the token.
STORE_HASH_VARIABLE: Final = "B2B_STORE_HASH"
#: The production host of the B2B Edition REST API (a host root: paths start ``/api``).
DEFAULT_BASE_URL: Final = "https://api-b2b.bigcommerce.com"
#: Seconds one attempt may take, connecting and reading included.
DEFAULT_TIMEOUT: Final = 30.0
#: The share of an attempt's timeout, when given in seconds, that connecting may take. A
#: host that never completes the connection then fails as "timed out connecting", which
#: certainly sent nothing, before the attempt's own timeout, after which the request may
#: have reached the server: so a bulk run stops on such a host.
CONNECT_SHARE: Final = 0.5
#: Requests in flight at once on one client; the store limits concurrency too.
DEFAULT_MAX_CONCURRENCY: Final = 8
#: The most workers a bulk run starts (its ``concurrency``, the CLI's ``--concurrency``):
#: each is a task, and far fewer keep any store's budget busy.
MAX_CONCURRENCY: Final = 1000
#: A response body larger than this is refused rather than read to the end (4 MiB).
DEFAULT_MAX_RESPONSE_BYTES: Final = 4 * 1024 * 1024
#: The shortest token or store hash scrubbed from the texts of an answer (see ``secrets_of``).
MIN_SECRET_LENGTH: Final = 6
#: The shortest secret found in any case, not only as written: no ordinary text holds 16
#: characters of a token by chance, while a server that changed the case of a lower-case
#: token would give it away. A shorter one (a store hash has about ten) is found only as
#: written, so that it leaves alone values that hold its letters in another case (the PO
#: number ``PO-ABC123``, for the hash ``abc123``).
MIN_FOLDED_SECRET_LENGTH: Final = 16
#: Items asked for per request of a V2 listing: every page is one request of the store's budget.
DEFAULT_PAGE_SIZE: Final = 50
#: Items asked for per request of a V3 listing.
DEFAULT_V3_PAGE_SIZE: Final = 100
#: The largest ``limit`` the V3 listings document.
MAX_V3_PAGE_SIZE: Final = 200
#: Seconds after the BigCommerce order's creation within which V3 "Create an Order" is accepted.
REGISTRATION_WINDOW: Final = 10.0
#: Seconds kept clear of the window's end, on both sides. A create must leave by the end minus
#: this margin: it covers the request's way to B2B Edition (a slow attempt's one-way latency
#: is well under half a second), the skew between this host's clock and BigCommerce's (NTP
#: keeps it near 0.1 s) and the limiter's timer resolution. A read of an order whose window
#: passed waits until the end plus this margin, when B2B Edition has recorded it on its own.
#: A margin too small costs a create answered "already exists" (``ensure`` then reconciles);
#: too large, seconds of a window a webhook may need.
REGISTRATION_MARGIN: Final = 1.0
#: BigCommerce's ``date_created`` holds whole seconds, so the order may have been created up to
#: this much after a creation time without a fraction of a second, and its window may end as
#: much later: harmless for a create, whose deadline only comes early, but a read of an order
#: that missed its window waits this much more, or a clock a little ahead of BigCommerce's
#: would read it before B2B Edition has recorded it (a 404 for an order it is about to hold).
WHOLE_SECOND_UNCERTAINTY: Final = 1.0
#: The share of what is left of a V3 create's window, and of a V3 call's
#: ``RetryPolicy.deadline``, that its extra field check may wait for the store's
#: configurations. The rest is the request's own, for budget and another attempt; a fetch
#: slower than that leaves the call's values unchecked (the API still checks them) and goes
#: on for the calls that follow.
CHECK_SHARE: Final = 0.5
#: Seconds the store's order extra field configurations are kept before they are fetched
#: again: an administrator's edit is seen within five minutes, at a cost of 12 requests an
#: hour (about 0.1% of the store's 9,000).
EXTRA_FIELD_CONFIGS_TTL: Final = 300.0
#: Seconds after a failed fetch of the configurations before the check tries again; calls in
#: between send their extra fields unchecked rather than spend a request each on the fetch.
EXTRA_FIELD_CONFIGS_RETRY: Final = 30.0
#: Kept configurations older than this many seconds are fetched again before they refuse a
#: value: an administrator may have allowed it since (a new choice, a longer limit), and a
#: refusal cannot be undone by the caller. A value refused again costs at most one fetch
#: each time this has passed.
EXTRA_FIELD_CONFIGS_RECHECK: Final = 30.0
#: The most order extra field configurations a fetch reads (five full pages): a store has
#: tens, so a listing that goes on past this is a broken answer, and the fetch fails
#: (``ResponseDecodeError``) rather than hold back every create waiting on the check.
MAX_EXTRA_FIELD_CONFIGS: Final = 1000

#: Seconds of the longest wait hint read at all: a longer one is noise, not advice, and is
#: ignored rather than obeyed (``RetryPolicy.max_retry_after`` bounds the hints obeyed).
MAX_WAIT_HINT: Final = 86_400.0

#: Seconds of the longest server wait hint obeyed by default (``RetryPolicy.max_retry_after``),
#: also the bound of what a limiter follows for a client without retries.
DEFAULT_MAX_RETRY_AFTER: Final = 120.0

#: Server errors worth another attempt; 501 or 507 will not change on repetition.
RETRYABLE_SERVER_STATUSES: Final = frozenset({500, 502, 503, 504})
#: Answers after which the request may have been processed although it failed.
UNCERTAIN_STATUSES: Final = frozenset({500, 502, 504})
#: Seconds every call waits after a 429 that named no wait of its own.
UNHINTED_COOLDOWN: Final = 1.0
#: Outcomes in a row, in completion order, whose call could not open a connection at all,
#: after which a bulk run stops sending. Each such call has already spent every attempt its
#: retry policy allows (5 by default), so three are fifteen failed connections in a row.
UNREACHABLE_STREAK: Final = 3
#: The longest repr of a value an error message quotes, in characters.
MAX_SHOWN_REPR: Final = 80
#: The widest ``int`` an error message writes out, in bits (about 60 digits).
MAX_SHOWN_INT_BITS: Final = 200
#: Distinct (method, path) pairs whose URL a transport keeps at most.
MAX_TARGETS: Final = 1024
#: The longest path whose URL a transport keeps.
MAX_TARGET_PATH: Final = 256
#: The most characters a number sent as text may take, written out in full: far more than an
#: amount, an id or a value needs, and far fewer than the billion of ``1E+999999999``.
MAX_NUMBER_TEXT: Final = 10_000
#: The most requests a :class:`RateLimit` window may allow: thousands of times a store's
#: budget, and few enough for the limiter's history of sent requests to stay small.
MAX_WINDOW_REQUESTS: Final = 1_000_000
#: The largest V2 listing page asked for: far past any page the API sends, and a ``limit``
#: short enough to write out (``10**5000`` is past Python's digit limit).
MAX_PAGE_SIZE: Final = 100_000
#: The most digits of a whole number read from an answer (a count, an id, a status): 20 hold
#: any 64-bit number. Turning ``"1e999999999"`` into an ``int`` would take hours.
MAX_WHOLE_DIGITS: Final = 20


def check_positive_int(
    value: object, name: str, *, error: type[ValueError] = ValueError, most: int | None = None
) -> int:
    """Return ``value`` when it is an ``int`` of at least 1 (and at most ``most``), else raise.

    The one check behind every count option (``concurrency``, ``page_size``, ``attempts``, ...).

    Args:
        value: the value given.
        name: the option's name, for the message.
        error: the exception to raise (:class:`~b2b_async.InvalidOrderError` for arguments
            of API calls, :class:`ValueError` for options).
        most: the largest value allowed, if any.

    Raises:
        ValueError: ``value`` is a ``bool``, not an ``int``, or out of range (as ``error``).
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{name} must be an int of at least 1, got {shown(value)}")
    number = int.__index__(value)  # an int subclass's own comparisons and text play no part
    if number < 1:
        raise error(f"{name} must be an int of at least 1, got {shown(value)}")
    if most is not None and number > most:
        raise error(f"{name} must be an int from 1 to {most}, got {shown(value)}")
    return number


def check_option_type(value: object, kind: type, name: str, *, optional: bool = False) -> None:
    """Refuse an option that is not a ``kind`` (nor ``None``, when ``optional``).

    Raises:
        TypeError: ``value`` is of another type; the message names its type, not its value.
    """
    if (value is None and optional) or isinstance(value, kind):
        return
    alternatives = " or None" if optional else ""
    raise TypeError(f"{name} must be a {kind.__name__}{alternatives}, got {type(value).__name__}")


def check_callable(value: object, name: str, *, optional: bool = False) -> None:
    """Refuse a callback that cannot be called (nor is ``None``, when ``optional``): it fails
    here, before anything is sent, rather than when it is first called.

    Raises:
        TypeError: ``value`` is not callable; the message names its type, not its value.
    """
    if (value is None and optional) or callable(value):
        return
    alternatives = " or None" if optional else ""
    raise TypeError(f"{name} must be callable{alternatives}, got {type(value).__name__}")


def check_deadline(value: object) -> float | None:
    """``value``, the most seconds a caller of a limiter's ``acquire`` can wait, as a float.

    Any ``int`` or ``float`` but NaN is a bound (an infinity none, a negative one already
    passed); an ``int`` past a float's range is the infinity of its sign.

    Raises:
        ValueError: ``value`` is neither ``None`` nor an ``int`` or ``float`` (a ``bool``
            is none), or it is NaN.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ValueError(f"deadline must be a number of seconds or None, got {shown(value)}")
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def check_flag(value: object, name: str, *, error: type[Exception] = TypeError) -> bool:
    """Return ``value`` when it is a ``bool``: a flag given ``"no"`` must not read as ``True``.

    Raises:
        TypeError: ``value`` is not a ``bool`` (as ``error``:
            :class:`~b2b_async.InvalidOrderError` for arguments of API calls).
    """
    if not isinstance(value, bool):
        raise error(f"{name} must be True or False, got {type(value).__name__}")
    return value


#: What an argument taken as many items may not be, though it iterates: text and bytes of any
#: kind iterate as characters or byte values, a mapping as its keys.
NOT_ITEMS: Final = (str, bytes, bytearray, memoryview, Mapping)


def blank_is_none(text: str | None) -> str | None:
    """``text`` without surrounding blanks, or ``None`` when nothing is left: how a token or
    store hash given in the environment or on the command line is read."""
    return (text or "").strip() or None


def environment_text(name: str) -> str | None:
    """The environment variable ``name``, read by :func:`blank_is_none`."""
    return blank_is_none(os.environ.get(name))


def finite_number(value: object) -> float | None:
    """``value`` as a ``float`` when it is a finite ``int`` or ``float``, else ``None``.

    The one reading behind every option in seconds: a ``bool`` is no number here, and an
    ``int`` too large for a ``float`` (``10**400``) is none either. A subclass is read as
    its arithmetic reads it (see :func:`plain`), not through a ``__float__`` of its own.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(cast("int | float", plain(value)))
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def positive_number(value: object) -> float | None:
    """``value`` as a ``float`` when :func:`finite_number` reads it and it is above zero,
    else ``None``: the check behind every option that takes a positive number of seconds."""
    number = finite_number(value)
    return number if number is not None and number > 0 else None


_BUILT_IN: Final = frozenset({bool, int, float, str, Decimal})


def plain(value: object) -> object:
    """``value`` as an exact ``int``, ``float``, ``str`` or ``Decimal`` when it is of a subclass.

    A subclass may write itself out as it likes: a member of ``class Shop(int, Enum)`` is
    ``"Shop.MAIN"`` in ``str()``. Ids, totals and texts are read through the built-in type's
    own methods, so what is sent is the value, whatever the subclass overrides. A ``bool``
    and every other type are returned unchanged, for the caller's check to refuse.
    """
    if type(value) in _BUILT_IN:  # the common case, and every bool (bool has no subclass)
        return value
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, Decimal):
        return Decimal(value)
    return value


def shown(value: object) -> str:
    """``value``'s repr for an error message, at most 80 characters.

    An ``int`` too long to write out (Python refuses past 4,300 digits) is described instead.
    """
    if isinstance(value, int) and value.bit_length() > MAX_SHOWN_INT_BITS:
        return f"an int of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= MAX_SHOWN_REPR else text[: MAX_SHOWN_REPR - 3] + "..."


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if positive_number(value) is None:
        raise ValueError(f"{attribute.name} must be a positive finite number, got {shown(value)}")


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    number = finite_number(value)
    if number is None or number < 0:
        raise ValueError(
            f"{attribute.name} must be a non-negative finite number, got {shown(value)}"
        )


def _attempts(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    check_positive_int(value, attribute.name)


def _deadline(
    instance: object, attribute: attrs.Attribute[float | None], value: float | None
) -> None:
    if value is not None:
        _positive(instance, attribute, value)  # type: ignore[arg-type]


@attrs.frozen
class RetryPolicy:
    """How a call retries transient failures.

    Retried: 429, 500, 502, 503, 504, connection errors, timeouts, and a success whose body
    arrived garbled (not JSON, cut short). Never retried: any other 4xx, which cannot
    succeed by repetition, nor a well-formed answer whose data does not fit its model.

    The wait before attempt *n + 1* is the server's hint when it gave one (the longest of
    ``Retry-After`` and ``X-Retry-After``, and on a 429 also of
    ``X-Request-Window-Resets-After`` and ``X-Rate-Limit-Time-Reset-Ms``, which every answer
    carries). Without a hint it is exponential backoff with jitter::

        wait = min(max_wait, initial_wait * 2 ** (n - 1)) * uniform(0.5, 1.0)

    The jitter keeps clients that failed together from retrying together.

    Args:
        attempts: the most requests one call may send, the first included.
        initial_wait: the backoff base in seconds.
        max_wait: the longest backoff wait in seconds.
        max_retry_after: the longest server hint the client will obey; a longer one makes
            the call fail at once, instead of hanging, with the error that carried it (a
            :class:`~b2b_async.RateLimitError` for a 429, a
            :class:`~b2b_async.ServerError` for a 5xx), its ``retry_after`` set. A hint
            that cannot be read, or is longer than :data:`~b2b_async._config.MAX_WAIT_HINT`
            (a day), is taken for noise and ignored.
        deadline: seconds the whole call may take, waits and queueing included; ``None``
            for no bound beyond ``attempts``.

    Raises:
        ValueError: an option is out of range.

    .. versionadded:: 0.1.0
    """

    attempts: int = attrs.field(default=5, validator=_attempts)
    initial_wait: float = attrs.field(default=0.5, validator=_non_negative)
    max_wait: float = attrs.field(default=30.0, validator=_non_negative)
    max_retry_after: float = attrs.field(default=DEFAULT_MAX_RETRY_AFTER, validator=_non_negative)
    deadline: float | None = attrs.field(default=None, validator=_deadline)

    def backoff(self, attempt: int, jitter: float) -> float:
        """The wait after failed attempt number ``attempt`` when the server gave no hint.

        Args:
            attempt: the 1-based number of the attempt that failed.
            jitter: a factor in ``[0.5, 1.0]``, random in real use.
        """
        try:
            grown = math.ldexp(self.initial_wait, attempt - 1)  # initial_wait * 2**(attempt - 1)
        except OverflowError:  # past the largest float, so past any cap
            grown = math.inf
        return min(self.max_wait, grown) * jitter


def _positive_int(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    check_positive_int(value, f"RateLimit.{attribute.name}", most=MAX_WINDOW_REQUESTS)


def _positive_seconds(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if positive_number(value) is None:
        raise ValueError(
            f"RateLimit.{attribute.name} must be a positive finite number of seconds, "
            f"got {shown(value)}"
        )


def _burst_within_requests(
    instance: RateLimit, attribute: attrs.Attribute[int], value: int
) -> None:
    _positive_int(instance, attribute, value)
    if value > instance.requests:
        raise ValueError(
            f"RateLimit.burst must not exceed requests ({instance.requests}), got {shown(value)}"
        )


@attrs.frozen
class RateLimit:
    """The store's request budget: at most ``requests`` in any ``per`` seconds.

    The server counts in a fixed window whose start the client cannot see, so the limiter
    keeps *every* span of ``per`` seconds within ``requests``. A burst lets the first
    ``burst`` requests after a quiet spell leave at once; to stay within the window it costs
    steady rate, which becomes ``(requests - burst + 1) / per``. The default burst of 1 paces
    evenly at the full rate.

    Args:
        requests: requests allowed per window, at most :data:`MAX_WINDOW_REQUESTS`.
        per: the window's length in seconds.
        burst: requests that may leave back to back after a quiet spell, at most
            ``requests``.

    Raises:
        ValueError: an option is out of range.

    .. versionadded:: 0.1.0
    """

    requests: int = attrs.field(default=150, validator=_positive_int)
    per: float = attrs.field(default=60.0, validator=_positive_seconds)
    burst: int = attrs.field(default=1, kw_only=True, validator=_burst_within_requests)


def paced_interval(requests: int, per: float, burst: int) -> float:
    """Seconds from one request to the next after a burst, within ``requests`` per ``per``.

    A burst of ``b`` at once, then one request per interval, puts ``b + (requests - b)``
    requests in any span of ``per`` seconds, so the interval is ``per / (requests - b + 1)``
    (``b`` counted at most ``requests``): the longer, the larger the burst.
    """
    return per / (requests - min(burst, requests) + 1)


class Priority(enum.StrEnum):
    """How urgently a call wants the store's request budget: ``urgent`` > ``normal`` > ``bulk``.

    A waiting call of a higher priority always gets its slot before a waiting call of a
    lower one; calls of one priority get theirs in order of arrival; bulk gets every slot
    that the others leave unused. Members are listed highest first, so iterating the enum
    visits the levels in the order they are served. Being a ``str`` enum, each member equals
    its plain name (``Priority.BULK == "bulk"``).

    .. versionadded:: 0.1.0
    """

    URGENT = "urgent"
    """Served before anything else: a webhook's registration racing V3's 10-second window."""
    NORMAL = "normal"
    """The default of single calls, but for a V3 create given ``created_at`` (urgent)."""
    BULK = "bulk"
    """Backfills and migrations: served with whatever budget the others leave."""


#: The accepted priority names, highest first, as the messages of a rejected one list them.
PRIORITY_CHOICES: Final = tuple(level.value for level in Priority)


def check_priority(value: object, *, error: type[ValueError] = ValueError) -> Priority:
    """Return ``value`` as a :class:`Priority`; a member or its plain name is accepted.

    The one check behind every ``priority=`` argument.

    Args:
        value: the value given: a :class:`Priority`, or ``"urgent"``, ``"normal"`` or
            ``"bulk"``.
        error: the exception to raise (:class:`~b2b_async.InvalidOrderError` for arguments
            of API calls, :class:`ValueError` otherwise).

    Raises:
        ValueError: ``value`` names no priority (as ``error``).
    """
    if isinstance(value, str):
        try:
            return Priority(value)
        except ValueError:
            pass
    choices = ", ".join(repr(choice) for choice in PRIORITY_CHOICES)
    raise error(f"priority must be one of {choices}, got {shown(value)}")
