"""Where each operation lives: the API prefixes, the endpoint builders and the id checks.

A leaf of the client side: it imports only the error tree and the shared argument checks.

Wire decisions made here:

- V2 paths live under ``/api/v2/io``, V3 paths under ``/api/v3/io``;
- every text the models accept is sendable: valid Unicode, so it encodes as UTF-8 in a path
  and in a JSON body (a lone surrogate such as ``"\\ud800"`` is refused: :func:`sendable_text`);
- a V2 id is a non-empty ``str`` (an ``int`` becomes its digits) of at most
  :data:`MAX_ID_BYTES` bytes in UTF-8, stripped of surrounding blanks, without control
  characters (C0 and C1, refused even around the id), percent-encoded as exactly one
  path segment (dots too, so ``..`` cannot climb);
- a V3 id is a positive integer of at most :data:`MAX_V3_ID`, given as an ``int`` or a string
  of ASCII decimal digits;
- ids are given one alone or as an iterable, never as ``bytes`` (:func:`id_list`);
- a query string is at most :data:`MAX_QUERY_BYTES` percent-encoded, so the request line
  stays within 8 KiB: ids that need more go in several requests (:func:`query_batches`), a
  filter that needs more is refused (:func:`check_query_size`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Final, Literal, Protocol, TypeVar, overload
from urllib.parse import quote

from ._config import NOT_ITEMS, check_positive_int, plain, shown
from ._exceptions import InvalidOrderError

__all__ = [
    "MAX_ID_BYTES",
    "MAX_QUERY_BYTES",
    "MAX_V3_ID",
    "V2_PREFIX",
    "V3_PREFIX",
    "check_query_size",
    "comma_batches",
    "encoded_length",
    "id_list",
    "one_of",
    "path_segment",
    "query_batches",
    "sendable_text",
    "strip_blanks",
    "to_id",
    "to_v3_id",
    "v2_path",
    "v3_path",
]

#: The prefix of every V2 path.
V2_PREFIX: Final = "/api/v2/io"
#: The prefix of every V3 path.
V3_PREFIX: Final = "/api/v3/io"

#: The longest V2 id, in bytes of UTF-8. B2B Edition and BigCommerce issue integer ids; the
#: bound keeps a path of two ids (3 characters a byte, percent-encoded) inside the 8 KiB
#: request line that servers commonly allow (aiohttp's default is 8190 bytes).
MAX_ID_BYTES: Final = 1024
#: The largest V3 id: V3 ids travel as JSON numbers, which a double-based parser holds
#: exactly only up to 2**53 - 1.
MAX_V3_ID: Final = 2**53 - 1

#: The longest query string sent, percent-encoded: with the method, a listing's path and the
#: HTTP version it keeps the request line inside the same 8 KiB.
MAX_QUERY_BYTES: Final = 7 * 1024

_ID_CEILING: Final = 10**MAX_ID_BYTES
#: Control characters, C0 and C1: refused in an id, never stripped from around one.
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: The blanks stripped from around an id: what ``str.strip()`` strips but the control
#: characters among them (``"\x1c"`` to ``"\x1f"``, ``"\x85"``), which are refused as such
#: rather than silently dropped. ASCII's blanks (tab, newline, ...) stay blanks.
_BLANKS: Final = (
    " \t\n\r\x0b\x0c\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def sendable_text(value: str, *, field: str) -> str:
    """Return ``value`` when it can be sent: valid Unicode, encodable as UTF-8.

    A ``str`` may hold a lone surrogate (``"\\ud800"``, as ``json.loads`` makes of an
    unpaired ``\\ud800`` escape); no UTF-8 path or strict JSON parser takes one.

    Args:
        value: the text.
        field: the argument's name, for the error message.

    Returns:
        ``value`` unchanged.

    Raises:
        InvalidOrderError: the text holds a lone surrogate.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidOrderError(
            f"{field} is not valid Unicode text: a lone surrogate at position {exc.start}"
        ) from None
    return value


@overload
def to_id(value: object, *, field: str = ..., optional: Literal[False] = ...) -> str: ...


@overload
def to_id(value: object, *, field: str = ..., optional: bool) -> str | None: ...


def to_id(value: object, *, field: str = "id", optional: bool = False) -> str | None:
    """Normalise an id given as ``str`` or ``int`` to a non-empty ``str``.

    Args:
        value: the id as given.
        field: the argument's name, for the error message.
        optional: whether ``None`` is allowed (and kept).

    Returns:
        The id as text, stripped of surrounding blanks; ``None`` for an optional ``None``.

    Raises:
        InvalidOrderError: the id is empty, negative, of another type, longer than
            :data:`MAX_ID_BYTES`, holds control characters or is not valid Unicode.
    """
    if value is None and optional:
        return None
    value = plain(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _int_id(value, field=field)
    if not isinstance(value, str):
        raise InvalidOrderError(f"{field} must be a str or int, got {type(value).__name__}")
    return _check_id_text(strip_blanks(value), field=field)


def strip_blanks(text: str) -> str:
    """``text`` without the blanks around it: the one stripping of every id (see ``_BLANKS``)."""
    return text.strip(_BLANKS)


def _int_id(value: int, *, field: str) -> str:
    """An id given as an ``int``, as its digits.

    Raises:
        InvalidOrderError: the id is negative or has more than :data:`MAX_ID_BYTES` digits.
    """
    # Compared first: str() of a huge int raises a bare ValueError (Python's digit limit).
    if abs(value) >= _ID_CEILING:
        raise InvalidOrderError(f"{field} is longer than {MAX_ID_BYTES} digits")
    if value < 0:
        raise InvalidOrderError(f"{field} must not be negative, got {value}")
    return str(value)


def _check_id_text(text: str, *, field: str) -> str:
    """Return ``text``, a stripped id, when it can be sent as one path segment.

    Raises:
        InvalidOrderError: the id is empty, holds control characters, is not valid Unicode
            or is longer than :data:`MAX_ID_BYTES` in UTF-8.
    """
    if not text:
        raise InvalidOrderError(f"{field} must not be empty")
    if (control := _CONTROL.search(text)) is not None:
        raise InvalidOrderError(
            f"{field} must not contain control characters "
            f"(U+{ord(control.group()):04X} at position {control.start()})"
        )
    size = len(sendable_text(text, field=field).encode("utf-8"))
    if size > MAX_ID_BYTES:
        raise InvalidOrderError(f"{field} is longer than {MAX_ID_BYTES} bytes in UTF-8 ({size})")
    return text


def to_v3_id(value: object, *, field: str) -> int:
    """Normalise a V3 id given as a positive ``int`` or a string of decimal digits.

    Args:
        value: the id as given.
        field: the argument's name, for the error message.

    Returns:
        The id as an ``int``.

    Raises:
        InvalidOrderError: the id is not a whole number from 1 to :data:`MAX_V3_ID`.
    """
    value = plain(value)
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        number = _v3_digits(value, field=field)
    # Compared before check_positive_int, whose message would print a huge int (a bare
    # ValueError past Python's digit limit).
    if not -MAX_V3_ID <= number <= MAX_V3_ID:
        raise InvalidOrderError(f"{field} must be an int of at least 1 and at most {MAX_V3_ID}")
    return check_positive_int(number, field, error=InvalidOrderError)


def _v3_digits(value: object, *, field: str) -> int:
    """Read a V3 id given as text: ASCII decimal digits only (``"١٢٣"`` is refused).

    Raises:
        InvalidOrderError: the value is not a str of ASCII decimal digits.
    """
    text = to_id(value, field=field)  # refuses other types, blanks, control characters
    if not (text.isascii() and text.isdecimal()):
        raise InvalidOrderError(
            f"{field} must be a whole number (V3 ids are integers), got {text[:40]!r}"
        )
    return int(text)  # at most MAX_ID_BYTES digits: within Python's conversion limit


def path_segment(value: str) -> str:
    """Percent-encode one path parameter so that it can never add a path segment.

    Besides ``/``, ``?`` and ``#``, dots are encoded too, so an id of ``..`` cannot climb.

    Args:
        value: the parameter, already checked.

    Returns:
        The parameter as one encoded segment.
    """
    return quote(value, safe="").replace(".", "%2E")


def v2_path(template: str, **ids: object) -> str:
    """Build a V2 path from a template whose fields name its ids.

    Each id is checked with :func:`to_id` (its keyword names it in an error) and
    percent-encoded as one segment: ``v2_path("/orders/{order_id}/details", order_id=7)``.

    Args:
        template: the path after the prefix, with a ``{name}`` field per id.
        ids: the ids, by field name.

    Returns:
        The full path.

    Raises:
        InvalidOrderError: an id is invalid.
    """
    segments = {name: path_segment(to_id(value, field=name)) for name, value in ids.items()}
    return V2_PREFIX + template.format(**segments)


def v3_path(template: str, **ids: object) -> str:
    """Build a V3 path, as :func:`v2_path` does a V2 one, with V3's integer ids.

    ``v3_path("/orders/{bc_order_id}", bc_order_id="7")`` is ``/api/v3/io/orders/7``; each
    id goes through :func:`to_v3_id`, its keyword naming it in an error, so it needs no
    encoding.

    Raises:
        InvalidOrderError: an id is not a positive whole number.
    """
    numbers = {name: to_v3_id(value, field=name) for name, value in ids.items()}
    return V3_PREFIX + template.format(**numbers)


T_co = TypeVar("T_co", covariant=True)


class IdReader(Protocol[T_co]):
    """A check that reads one id, naming its argument in an error (:func:`to_id`)."""

    def __call__(self, value: object, *, field: str) -> T_co: ...


def id_list(value: object, read: IdReader[T_co], *, field: str) -> list[T_co]:
    """Read ids given one alone (a ``str`` or an ``int``) or as an iterable, each by ``read``.

    Raises:
        InvalidOrderError: ``value`` is neither an id nor an iterable of ids (``bytes`` are
            neither: read as an iterable, they would be the codes of their characters; nor
            is a mapping, which would be read as its keys), or an id is invalid.
    """
    if isinstance(value, str | int):
        return [read(value, field=field)]
    if isinstance(value, NOT_ITEMS) or not isinstance(value, Iterable):
        raise InvalidOrderError(
            f"{field} must be an id or an iterable of ids, got {type(value).__name__}"
        )
    return [read(item, field=field) for item in value]


def one_of(value: object, allowed: frozenset[str], *, field: str) -> str:
    """Return ``value`` when it is one of the ``allowed`` names.

    Raises:
        InvalidOrderError: it is not (an unhashable value included).
    """
    if not isinstance(value, str) or value not in allowed:
        names = ", ".join(sorted(allowed))
        raise InvalidOrderError(f"{field} must be one of {names}, got {shown(value)}")
    return value


def encoded_length(text: str) -> int:
    """The length of ``text`` in a query string, percent-encoded at the most (the measure of
    :data:`MAX_QUERY_BYTES`)."""
    return len(quote(text, safe=""))


def check_query_size(query: Sequence[tuple[str, str]], *, field: str) -> None:
    """Refuse a query string longer than :data:`MAX_QUERY_BYTES` once percent-encoded.

    Raises:
        InvalidOrderError: it is; ``field`` names the argument that made it so long.
    """
    size = sum(encoded_length(name) + 1 + encoded_length(value) for name, value in query)
    size += max(0, len(query) - 1)  # the & between pairs
    if size > MAX_QUERY_BYTES:
        raise InvalidOrderError(
            f"{field} makes a query of {size} bytes, over the {MAX_QUERY_BYTES} one request takes"
        )


def comma_batches(ids: Iterable[str], *, room: int) -> Iterator[str]:
    """Join ``ids`` with commas into as few values as keep each within ``room`` bytes,
    percent-encoded. Each value holds at least one id.
    """
    batch: list[str] = []
    size = 0
    comma = encoded_length(",")
    for text in ids:
        cost = encoded_length(text)
        if batch and size + comma + cost > room:
            yield ",".join(batch)
            batch, size = [], 0
        size += cost + (comma if batch else 0)
        batch.append(text)
    if batch:
        yield ",".join(batch)


def query_batches(key: str, ids: Iterable[str]) -> Iterator[str]:
    """The values of the query parameter ``key`` that ``ids`` need, joined with commas, each
    keeping ``key=value`` within :data:`MAX_QUERY_BYTES` (see :func:`comma_batches`)."""
    return comma_batches(ids, room=MAX_QUERY_BYTES - len(f"{key}="))
