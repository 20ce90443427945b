"""The sans-I/O core: pure functions from (status, headers, body) to values or errors.

Nothing here touches a socket or an event loop, so every rule of the wire protocol is
tested with plain dicts and bytes. The rules, with their sources:

- The envelope is ``{"code": ..., "data": ..., "message": ...}``. The body ``code`` is not
  always the HTTP status: ``40010`` means HTTP 400 plus a resource id, so its first three
  digits name the HTTP class. An HTTP 200 whose body code is an error is that error, as
  BigCommerce's own buyer portal trusts only the body code.
- Error messages live in ``data.errMsg``, in ``meta.message`` (V3) or in ``message``; a
  400's ``data`` may map each field to its problem, which the error keeps as ``details``.
- The V3 envelope is ``{"code", "data", "meta": {"message", "pagination"}}``; some V3 answers
  put ``message`` at the top level instead, as V2 does. A V3 listing's ``data`` is an array and
  its position is in ``meta``: every decoded answer is an :class:`Envelope` of ``data`` and
  ``meta``, so the one request path hands both back.
- B2B rate-limit headers carry units inside their values (``149 times``, ``0.39 s``,
  ``150 times/60 s``); the core API's ``X-Rate-Limit-*`` headers carry bare numbers
  (milliseconds for the times). Where several wait hints are present, the longest wins.
- A ``Retry-After`` HTTP date is counted from the host's clock, or from the answer's own
  ``Date`` when that shows the host's clock off the server's (:func:`server_now`).
"""

from __future__ import annotations

import codecs
import functools
import json
import math
import re
import urllib.parse
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime, parsedate_tz
from typing import Any, Final, NamedTuple, overload

import attrs

from ._config import MAX_WAIT_HINT, MAX_WINDOW_REQUESTS, MIN_FOLDED_SECRET_LENGTH, paced_interval
from ._exceptions import (
    APIError,
    BadRequestError,
    OrderAlreadyExistsError,
    ResponseDecodeError,
    error_class,
)

Headers = Mapping[str, str]


#: The API's answer to a second registration of an order ("The order already exists."). Only
#: a message of the envelope, or the order id's own field, is read for it: any other
#: "already exists" (a PO number's, say) is an ordinary 400, since reading it as "the order
#: is registered" would lose the order.
ALREADY_EXISTS: Final = re.compile(r"(?:^|\b(?:the|this) )order already exists\b", re.IGNORECASE)
#: The fields of ``data`` that may carry :data:`ALREADY_EXISTS`: ``errMsg``, and the order id
#: under each name the API gives it (``bc_order_id`` is V2's key for ``orderId`` in a 400's
#: field map, as in its published example).
ALREADY_EXISTS_FIELDS: Final = ("errMsg", "orderId", "bcOrderId", "bc_order_id")
#: Headers whose presence means a response says something about the budget.
BUDGET_HEADERS: Final = (
    "X-Requests-Remaining",
    "X-Request-Window-Resets-After",
    "X-Requests-Allocated",
    "X-Rate-Limit-Requests-Left",
    "X-Rate-Limit-Time-Reset-Ms",
    "X-Rate-Limit-Requests-Quota",
)
#: The header a server's request id arrives in.
REQUEST_ID_HEADER: Final = "X-Request-Id"
_EXCERPT: Final = 300
#: The most bytes one character of a body takes: four in UTF-8, six as a JSON escape.
_MOST_BYTES_PER_CHARACTER: Final = 6
#: The most digits a body code, or an allocation's or a quota's request count, is read
#: from; longer numbers are noise (a real code has five digits), and reading them could
#: overflow.
_MOST_DIGITS: Final = 9
# A JSON escape a secret may hide behind: ``\u0074`` for ``t``, or ``\/`` for ``/``.
_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\(/)")
# A UTF-16 surrogate standing alone: valid in a str, but no encoder writes it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# The control characters an excerpt drops: a NUL after each letter is UTF-16 read as UTF-8,
# and would hide a secret from redaction while no terminal shows it. Tabs and line breaks
# stay.
_UNSHOWN_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: The most characters of a server's message an error keeps: the message is shown in every
#: log line of a retry, and a real one is a sentence.
MESSAGE_LIMIT: Final = 1000
# What a terminal or a log may act on: the control characters (C0, DEL, C1: line breaks
# and ESC among them), tab aside; the line and paragraph separators, which end a line for
# str.splitlines and many log viewers; and the bidirectional embeddings, overrides and
# isolates, which make the rest of a line read in another order than it is written.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069]")
# A number ends where no exponent, second point or hex prefix follows: "1e3" and "0x10" are
# no numbers of seconds. What follows it is a unit (a word of letters, ended by a space, a
# comma or nothing), a space, a comma (a list of values) or nothing: a number that runs on
# into a date or a time ("2027-01-15T08:00Z", "08:00") or other digits ("2s5") is none.
_NUMBER = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)(?![.\deExX])(?=[A-Za-z]*(?:[\s,]|$))")
# An HTTP date in the asctime form (``Sun Nov  6 08:49:37 1994``), one of the three forms a
# recipient must accept (RFC 9110, section 5.6.7): its grammar has no zone, and it is UTC.
_ASCTIME = re.compile(r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}(?::[0-9]{2}){2} [0-9]{4}")
#: Seconds a ``Date`` header's whole seconds may lie behind the server's clock.
DATE_RESOLUTION: Final = 1.0
_ALLOCATION = re.compile(
    rf"\s*([0-9]{{1,{_MOST_DIGITS}}})\s*times\s*/\s*([0-9]{{1,{_MOST_DIGITS}}}(?:\.[0-9]+)?)\s*s",
    re.IGNORECASE,
)


@attrs.frozen
class BudgetHint:
    """What one response said about the store's request budget.

    Every field is ``None`` when the response did not say it.

    Attributes:
        remaining: requests left in the server's current window.
        resets_after: seconds until the server's window resets.
        limit: requests allowed per window.
        window: the window's length in seconds.
        retry_after: on a 429, the longest wait the server asked for, in seconds.

    .. versionadded:: 0.1.0
    """

    remaining: int | None = None
    resets_after: float | None = None
    limit: int | None = None
    window: float | None = None
    retry_after: float | None = None

    def capped(self, cap: float, burst: int = 1) -> BudgetHint:
        """Bound what this hint can make a limiter do to ``cap`` seconds.

        A cooldown, a window reset or a per-request interval longer than a caller will wait
        (``RetryPolicy.max_retry_after``) would only stall every call of the client,
        silently; bounded, the next call meets the server's answer again and fails fast
        with its hint instead. An allocation whose pace is slower than one request per
        ``cap`` is dropped: followed with a burst, a pace is slower
        (:func:`~b2b_async._config.paced_interval`).

        Args:
            cap: the most seconds a caller will wait.
            burst: the burst with which the limiter follows an allocation.
        """
        limit, window = self.limit, self.window
        slow = (
            limit is not None
            and window is not None
            and paced_interval(max(limit, 1), window, burst) > cap
        )
        return attrs.evolve(
            self,
            retry_after=_at_most(self.retry_after, cap),
            resets_after=_at_most(self.resets_after, cap),
            limit=None if slow else limit,
            window=None if slow else window,
        )


def _at_most(seconds: float | None, cap: float) -> float | None:
    return None if seconds is None else min(seconds, cap)


def parse_number(value: str | None) -> float | None:
    """Read the leading non-negative number of a header value, and ignore a unit after it.

    The number is digits with an optional fraction; an exponent or a second point after
    it (``"1e3"``, ``"1.5.3"``), or a hex prefix (``"0x10"``), makes the value unreadable,
    while a unit may follow, with or without a space (``"0.39 s"``, ``"0.39s"``). A number
    that runs on into a date, a time or other digits (``"2027-01-15T08:00:30Z"``,
    ``"08:00"``, ``"2s5"``), or a value shaped as a date (``"15 Jan 2027 08:00:30 GMT"``),
    is no number either: no header read as a number holds a date.

    Args:
        value: a header value such as ``"149 times"``, ``"0.39 s"`` or ``"1500"``.

    Returns:
        The number, or ``None`` when the value is missing, not a number, or absurd.
    """
    number = _leading_number(value)
    return number if number is not None and math.isfinite(number) else None


def _leading_number(value: str | None) -> float | None:
    """The number :func:`parse_number` reads, infinite when its digits are past a float's."""
    if value is None or (match := _NUMBER.match(value)) is None or _is_date_form(value):
        return None
    return float(match.group(1))


def parse_http_date(value: str, now: float) -> float | None:
    """Turn a ``Retry-After`` HTTP date into seconds from ``now`` (a Unix time).

    Any of HTTP's three forms is read; the asctime one, which names no zone, as UTC. Any
    other date without a zone is ambiguous.

    Returns:
        The seconds to wait (zero for a date in the past), or ``None`` when unparseable.
    """
    when = http_time(value)
    return None if when is None else max(0.0, when - now)


def http_time(value: str) -> float | None:
    """The Unix time an HTTP date names, or ``None`` when it is no HTTP date with a zone (the
    asctime form, which names none, is UTC)."""
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        if _ASCTIME.fullmatch(value.strip()) is None:
            return None
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def server_now(headers: Headers, now: float) -> float:
    """The time an HTTP date of an answer is read against: ``now``, the host's clock, unless
    the answer's own ``Date`` shows that clock off the server's; then that ``Date``.

    A ``Date`` holds whole seconds: the server's clock was up to :data:`DATE_RESOLUTION`
    past it when it answered, and a host clock within that agrees with it. A host clock
    before it, or later than that, is off (or the answer was slow to arrive), and a wait
    read against it would be off as much: a clock minutes behind turns a second's
    ``Retry-After`` into one past ``max_retry_after``, minutes ahead into none at all. Read
    against a ``Date`` the server set as it answered, the wait is never too short, and too
    long by at most that second and the time the answer took to arrive (for an answer a
    cache kept, its age too).
    """
    sent = None if (date := headers.get("Date")) is None else http_time(date)
    if sent is None or sent <= now <= sent + DATE_RESOLUTION:
        return now
    return sent


def _is_date_form(value: str) -> bool:
    """Whether ``value`` has the shape of a date, readable or not. A date that cannot be
    read (no zone, an unknown zone, a year past any clock) names no wait, and the day it
    starts with is no number of seconds."""
    try:
        return parsedate_tz(value) is not None
    except (TypeError, ValueError, IndexError):
        return False


def _sane(seconds: float | None) -> float | None:
    return seconds if seconds is not None and 0.0 <= seconds <= MAX_WAIT_HINT else None


def retry_after_hint(headers: Headers, now: float, *, rate_limited: bool = True) -> float | None:
    """Read the longest wait the server asked for, in seconds.

    Considers ``Retry-After`` (seconds or an HTTP date) and ``X-Retry-After`` (seconds) on
    any answer, and on a 429 also ``X-Request-Window-Resets-After`` (``"0.39 s"``) and
    ``X-Rate-Limit-Time-Reset-Ms``: those two come with every response, and only say when
    to come back once the budget is spent.

    Args:
        headers: the response headers (case-insensitive in practice: aiohttp's
            ``CIMultiDictProxy``).
        now: the current Unix time, for HTTP dates (see :func:`server_now`).
        rate_limited: whether the answer is a 429, so that window resets count as hints.

    Returns:
        The longest sane hint, or ``None`` when there is none.
    """
    hints: list[float | None] = []
    retry_after = headers.get("Retry-After")
    if retry_after is not None:
        seconds = parse_http_date(retry_after, server_now(headers, now))
        if seconds is None:
            seconds = parse_number(retry_after)
        hints.append(seconds)
    hints.append(parse_number(headers.get("X-Retry-After")))
    if rate_limited:
        hints.append(parse_number(headers.get("X-Request-Window-Resets-After")))
        reset_ms = parse_number(headers.get("X-Rate-Limit-Time-Reset-Ms"))
        hints.append(None if reset_ms is None else reset_ms / 1000.0)
    sane = [hint for hint in map(_sane, hints) if hint is not None]
    return max(sane) if sane else None


def _parse_allocation(headers: Headers) -> tuple[int | None, float | None]:
    allocated = headers.get("X-Requests-Allocated")
    if allocated is not None and (match := _ALLOCATION.match(allocated)):
        return int(match.group(1)), float(match.group(2))
    quota = parse_number(headers.get("X-Rate-Limit-Requests-Quota"))
    window_ms = parse_number(headers.get("X-Rate-Limit-Time-Window-Ms"))
    return (
        None if quota is None or quota >= 10**_MOST_DIGITS else int(quota),
        None if window_ms is None else window_ms / 1000.0,
    )


def _requests_left(value: str | None) -> int | None:
    """The requests left in the window, at most :data:`MAX_WINDOW_REQUESTS`: a larger count
    (a server's "unlimited" 2**64 - 1, say, or one of more digits than a float holds) says no
    more, and Redis could not hold it exactly."""
    number = _leading_number(value)
    return None if number is None else int(min(number, MAX_WINDOW_REQUESTS))


def _has_budget_headers(headers: Headers) -> bool:
    return any(name in headers for name in BUDGET_HEADERS)


def parse_budget(status: int, headers: Headers, now: float) -> BudgetHint | None:
    """Read the budget headers of a response, in either the B2B or the core API's form.

    Args:
        status: the HTTP status; ``retry_after`` is only read for a 429.
        headers: the response headers.
        now: the current Unix time, for HTTP dates.

    Returns:
        A :class:`BudgetHint`, or ``None`` when the response carried no budget header at all.
    """
    retry_after = retry_after_hint(headers, now) if status == 429 else None
    if retry_after is None and not _has_budget_headers(headers):
        return None
    remaining = _requests_left(headers.get("X-Requests-Remaining"))
    if remaining is None:
        remaining = _requests_left(headers.get("X-Rate-Limit-Requests-Left"))
    resets_after = parse_number(headers.get("X-Request-Window-Resets-After"))
    reset_ms = parse_number(headers.get("X-Rate-Limit-Time-Reset-Ms"))
    if resets_after is None and reset_ms is not None:
        resets_after = reset_ms / 1000.0
    limit, window = _parse_allocation(headers)
    return BudgetHint(
        remaining=remaining,
        resets_after=_sane(resets_after),
        limit=limit,
        window=_sane(window),
        retry_after=retry_after,
    )


def _body_code(envelope: Mapping[str, Any]) -> int | None:
    code = envelope.get("code")
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return _code_sized(code)
    if isinstance(code, float):
        return _whole_code(code)
    if isinstance(code, str) and _is_small_number(text := code.strip()):
        return int(text)
    return None


def _whole_code(code: float) -> int | None:
    """A body code written as a JSON number with a fraction part (``200.0``): V2's schemas
    type ``code`` as ``number``. Only a whole one, of no more digits than a code has, is one.
    """
    return _code_sized(int(code)) if code.is_integer() else None


def _code_sized(code: int) -> int | None:
    """``code``, when it has no more digits than a code has; else ``None``."""
    return code if abs(code) < 10**_MOST_DIGITS else None


def _is_small_number(text: str) -> bool:
    """Whether ``text`` is ASCII digits, few enough to be a code (``"²"`` is a digit too)."""
    return text.isascii() and text.isdigit() and len(text) <= _MOST_DIGITS


def status_of_code(code: int) -> int:
    """Name the HTTP status a body code stands for: ``40010`` → 400, ``200`` → 200.

    A code that does not start with a valid HTTP status stands for itself.
    """
    digits = str(code)
    if len(digits) > 3 and 100 <= int(digits[:3]) <= 599:
        return int(digits[:3])
    return code


def _message_of(envelope: Mapping[str, Any], fallback: str) -> str:
    data = envelope.get("data")
    if isinstance(data, Mapping):
        err = data.get("errMsg")
        if isinstance(err, str) and err:
            return err
    meta = envelope.get("meta")
    if isinstance(meta, Mapping) and isinstance(meta.get("message"), str) and meta["message"]:
        return str(meta["message"])
    message = envelope.get("message")
    if isinstance(message, str) and message:
        return message
    return fallback


def _mentions_already_exists(envelope: Mapping[str, Any], message: str) -> bool:
    texts = [message, envelope.get("message")]
    meta = envelope.get("meta")
    if isinstance(meta, Mapping):
        texts.append(meta.get("message"))
    data = envelope.get("data")
    if isinstance(data, Mapping):
        texts.extend(data.get(name) for name in ALREADY_EXISTS_FIELDS)
    return any(isinstance(text, str) and ALREADY_EXISTS.search(text.strip()) for text in texts)


class Secrets(tuple[str, ...]):
    """Texts never to repeat from an answer (the token, the store hash), as a tuple whose
    ``repr`` hides them.

    A traceback rendered with its frames' local variables (``pytest --showlocals``, an error
    tracker that captures locals) shows every local through its ``repr``, and the frames a
    failed request passes through hold these texts. Their ``repr`` tells only how many
    there are.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{len(self)} secrets hidden>"


class RequestInfo(NamedTuple):
    """Where a response came from, for the errors it may become (a cheap named tuple).

    Attributes:
        method: the HTTP method.
        url: the request URL (never carries the token).
        secrets: texts that must never appear in anything taken from the answer (the token,
            the store hash); each is replaced by ``***``.
    """

    method: str
    url: str
    secrets: tuple[str, ...] = ()


#: What a secret echoed by the server is replaced with.
REDACTED: Final = "***"


def redact(value: Any, secrets: tuple[str, ...]) -> Any:
    """Replace every secret inside ``value``'s strings, in nested objects and arrays too.

    A server that echoes the token (``"invalid authToken <token>"``) must not put it into
    an error's message, its details, a log line or a results journal. Object keys are
    redacted as well: a token echoed as a key would otherwise reach the ``raw`` mapping of
    a model, or the message of a value that does not fit one. No field name the models
    read holds a secret, so they read the keys they expect.

    A secret of :data:`~b2b_async._config.MIN_FOLDED_SECRET_LENGTH` characters or more is
    found in any case; a shorter one only as written. A string that spells a secret in JSON
    escapes (``\\u0074ok...``) or percent escapes (``%74ok...``), which a reader decodes at
    a glance, is shown decoded and redacted.

    Args:
        value: a decoded JSON value, or a string.
        secrets: the texts to replace.
    """
    if not secrets:
        return value
    if isinstance(value, str):
        return _redact_text(value, _finder(secrets))
    if isinstance(value, Mapping):
        return {redact(key, secrets): redact(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item, secrets) for item in value]
    return value


def _redact_text(text: str, finder: re.Pattern[str]) -> str:
    """Redact the text as written, then as its JSON escapes spell it, then as its percent
    escapes spell it, each reading only if it shows more (:data:`_ESCAPED_READINGS`)."""
    text = finder.sub(REDACTED, text)
    for marker, read in _ESCAPED_READINGS:
        if marker in text:
            unescaped = read(text)
            if finder.search(unescaped):
                text = finder.sub(REDACTED, unescaped)
    return text


def _json_unescaped(text: str) -> str:
    """``text`` with its JSON escapes (``\\u0074``, ``\\/``) read."""
    return _JSON_ESCAPE.sub(_unescape, text)


#: The escapes a text may spell a secret in, each with the character that starts one and how
#: the text reads with them decoded: JSON's, and URLs' percent escapes, in either case of
#: their hex digits and whatever characters an encoder leaves as they are (encoders differ:
#: ``~``, ``!`` or ``*`` are escaped by some and not by others).
_ESCAPED_READINGS: Final = (("\\", _json_unescaped), ("%", urllib.parse.unquote))


@functools.lru_cache(maxsize=16)
def _finder(secrets: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for every secret, the longest tried first."""
    longest_first = sorted(secrets, key=len, reverse=True)
    return re.compile("|".join(_pattern_of(secret) for secret in longest_first))


def _pattern_of(secret: str) -> str:
    """The pattern of one form of a secret: in any case when the value it spells, escapes
    read, is long enough (see :func:`redact`)."""
    escaped = re.escape(secret)
    spelt = urllib.parse.unquote(_json_unescaped(secret))
    return f"(?i:{escaped})" if len(spelt) >= MIN_FOLDED_SECRET_LENGTH else escaped


@overload
def show(text: str, secrets: tuple[str, ...]) -> str: ...
@overload
def show(text: None, secrets: tuple[str, ...]) -> None: ...
def show(text: str | None, secrets: tuple[str, ...]) -> str | None:
    """Make a text of an answer fit to show in an error or an event: a message, a request
    id, a reason phrase, aiohttp's words for a failure.

    Every secret is redacted (:func:`redact`), and lone surrogates (a ``\\ud800`` escape,
    or a byte that is not UTF-8 in a reason phrase) are replaced by U+FFFD: no encoder
    writes them, so printing or logging the text would fail.
    """
    if text is None:
        return None
    return _LONE_SURROGATE.sub("\ufffd", redact(text, secrets))


def visible(text: str) -> str:
    """``text`` with every control character (``ESC`` and line breaks among them), Unicode
    line separator and bidirectional override written as its Python escape, so that a
    terminal never acts on it and a log line stays one line that reads as it is written.
    Other characters, tabs, non-breaking spaces and joiners among them, stay as they are."""
    return _CONTROL.sub(lambda control: repr(control[0])[1:-1], text)


def one_line(text: str, secrets: tuple[str, ...]) -> str:
    """A server's text fit for one log line: shown (:func:`show`), cut after
    :data:`MESSAGE_LIMIT` of its characters, saying how many more it held, and each control
    character escaped (:func:`visible`), so that no line break or terminal escape it holds
    forges a line of its own. The cut comes before the escapes: it never splits one, and
    an escape counts as the one character it stands for."""
    shown = show(text, secrets)
    if len(shown) <= MESSAGE_LIMIT:
        return visible(shown)
    more = len(shown) - MESSAGE_LIMIT
    return f"{visible(shown[:MESSAGE_LIMIT])}... ({more} more characters)"


def read_request_id(headers: Headers, secrets: tuple[str, ...]) -> str | None:
    """The server's id of the request an answer is for, fit to show (see :func:`one_line`)."""
    request_id = headers.get(REQUEST_ID_HEADER)
    return None if request_id is None else one_line(request_id, secrets)


def build_error(
    status: int,
    headers: Headers,
    envelope: Mapping[str, Any],
    info: RequestInfo,
    now: float,
    *,
    reason: str = "",
) -> APIError:
    """Build the typed error for an error answer.

    Args:
        status: the HTTP status the answer stands for (the body code's class for a 200).
        headers: the response headers.
        envelope: the decoded body, or an empty mapping when it was not JSON.
        info: the request the answer belongs to.
        now: the current Unix time.
        reason: the HTTP reason phrase, the message when the body has none.

    Returns:
        An :class:`~b2b_async.APIError` subclass instance, ready to raise.
    """
    message = _message_of(envelope, reason or "error")
    cls = error_class(status)
    if cls is BadRequestError and _mentions_already_exists(envelope, message):
        cls = OrderAlreadyExistsError
    data = envelope.get("data")
    return cls(
        one_line(message, info.secrets),
        status=status,
        code=_body_code(envelope),
        details=data if isinstance(data, Mapping) else None,
        request_id=read_request_id(headers, info.secrets),
        method=info.method,
        url=info.url,
        retry_after=retry_after_hint(headers, now, rate_limited=status == 429),
    )


class Request(NamedTuple):
    """One API request, ready to send.

    Attributes:
        method: the HTTP method.
        path: the path under the host root, already percent-encoded.
        query: query parameters, or ``None``.
        body: the encoded JSON body, or ``None``.
    """

    method: str
    path: str
    query: Mapping[str, str] | None = None
    body: bytes | None = None


class Envelope(NamedTuple):
    """A successful answer: the envelope's ``data`` and its ``meta`` object.

    Attributes:
        data: the envelope's ``data`` member (``None`` when absent).
        meta: the envelope's ``meta`` object (V3), or an empty mapping when it has none.
    """

    data: Any
    meta: Mapping[str, Any]


def decode_json(body: bytes, secrets: tuple[str, ...] = ()) -> Any:
    """Decode a UTF-8 JSON body with every secret redacted, or return :data:`NOT_JSON`.

    A UTF-8 byte order mark before the JSON is skipped, as RFC 8259 lets a parser do: some
    servers send one, and a success or an "already exists" read as no JSON at all would be
    retried, or reported as a bare 400, although the order is registered. A body nested too
    deeply to decode, or to redact, is not JSON to the client either.
    """
    try:
        text = body.removeprefix(codecs.BOM_UTF8).decode("utf-8")
        value = json.loads(text)
        return redact(value, secrets) if may_hold_secret(text, secrets) else value
    except (ValueError, RecursionError):
        return NOT_JSON


def may_hold_secret(text: str, secrets: tuple[str, ...]) -> bool:
    """Whether a string decoded from the JSON ``text`` may hold one of ``secrets``.

    Without a backslash, JSON has no escapes, and every string it holds is a piece of
    ``text`` as written: a secret absent from the text is absent from all of them, and one
    that a string spells in percent escapes is spelt by the text's percent escapes too.
    """
    if not secrets:
        return False
    finder = _finder(secrets)
    if "\\" in text or finder.search(text):
        return True
    return "%" in text and finder.search(urllib.parse.unquote(text)) is not None


#: What :func:`decode_json` returns for a body that is not JSON.
NOT_JSON: Final = object()


def is_success(status: int) -> bool:
    """Whether ``status`` is a success (2xx): only then does the body decide the answer."""
    return 200 <= status < 300


def decode_response(
    status: int,
    headers: Headers,
    body: bytes,
    info: RequestInfo,
    now: float,
    *,
    reason: str = "",
) -> Envelope:
    """Turn one response into its :class:`Envelope` or raise the error it stands for.

    A non-2xx status is always an :class:`~b2b_async.APIError` of the class the status
    names, whatever the body (a proxy's HTML 502 is a :class:`~b2b_async.ServerError`, a
    gateway's bare 429 a :class:`~b2b_async.RateLimitError`). A 2xx must carry the
    envelope; its body code, when it names an error, wins over the HTTP status.

    Args:
        status: the HTTP status.
        headers: the response headers.
        body: the raw body.
        info: the request the response belongs to.
        now: the current Unix time, for HTTP-date hints.
        reason: the HTTP reason phrase, a message of last resort.

    Returns:
        The :class:`Envelope`: its ``data`` (``None`` when absent) and its ``meta`` object.

    Raises:
        APIError: the answer is an error.
        ResponseDecodeError: a 2xx answer that is not the documented envelope.
    """
    envelope = decode_json(body, info.secrets)
    if not is_success(status):
        mapping = envelope if isinstance(envelope, Mapping) else {}
        raise build_error(status, headers, mapping, info, now, reason=reason)
    checked = _success_body(envelope, status, body, info)
    effective = _effective_status(checked, status, body, info)
    if not is_success(effective):
        raise build_error(effective, headers, checked, info, now, reason=reason)
    meta = checked.get("meta")
    return Envelope(checked.get("data"), meta if isinstance(meta, Mapping) else {})


def body_excerpt(body: bytes, secrets: tuple[str, ...]) -> str:
    """The first few hundred characters of a body, for diagnosis, with no secret in them.

    The text is redacted (:func:`show`) before it is cut, over enough extra characters to
    hold a whole secret, so a secret that straddles the cut leaves no prefix behind. Control
    characters are dropped first, so that a body in UTF-16 or UTF-32 shows its secrets to
    redaction as it would show them to a reader. Of a body longer than what is read, the
    characters that may hold the start of a secret cut off by the end of the read are
    dropped too: however far dropped controls or read escapes shrink the text, they never
    reach the excerpt.
    """
    cut_secret = max((len(secret) for secret in secrets), default=0) * _MOST_BYTES_PER_CHARACTER
    read = (_EXCERPT + cut_secret) * _MOST_BYTES_PER_CHARACTER
    text = show(_UNSHOWN_CONTROL.sub("", body[:read].decode("utf-8", "replace")), secrets)
    if len(body) > read:
        text = text[: max(0, len(text) - cut_secret)]
    return text[:_EXCERPT]


def _unescape(match: re.Match[str]) -> str:
    """The character a JSON escape stands for; a lone surrogate's escape stays as written."""
    if match.group(2):
        return match.group(2)
    code = int(match.group(1), 16)
    return match.group(0) if 0xD800 <= code <= 0xDFFF else chr(code)


def decode_error(
    message: str, status: int, body: bytes, info: RequestInfo, **fields: Any
) -> ResponseDecodeError:
    """The error for a 2xx answer that is not the envelope, with a redacted body excerpt."""
    excerpt = body_excerpt(body, info.secrets)
    return ResponseDecodeError(message, status=status, body_excerpt=excerpt, **fields)


def _success_body(
    envelope: object, status: int, body: bytes, info: RequestInfo
) -> Mapping[str, Any]:
    """The decoded body of a 2xx answer, which must be a JSON object."""
    if envelope is NOT_JSON:
        raise decode_error("response body is not JSON", status, body, info, garbled=True)
    if not isinstance(envelope, Mapping):
        raise decode_error("response body is not a JSON object", status, body, info)
    return envelope


def _effective_status(
    envelope: Mapping[str, Any], status: int, body: bytes, info: RequestInfo
) -> int:
    """The status a 2xx answer stands for: its body code's, when it has one."""
    code = _body_code(envelope)
    if code is None and "code" in envelope:
        raise decode_error("envelope code is not a number", status, body, info, path="$.code")
    if code is None:
        return status
    named = code if code < 1000 else status_of_code(code)
    if not 100 <= named <= 599:
        message = f"envelope code {code} names no HTTP status"
        raise decode_error(message, status, body, info, path="$.code")
    return named
