"""Where each operation lives: the API prefixes, the endpoint builders and the id checks.

A leaf of the client side: it imports only the error tree and the shared argument checks.

Wire decisions made here:

- V2 paths live under ``/api/v2/io``, V3 paths under ``/api/v3/io``;
- a V2 id is a non-empty ``str`` (an ``int`` becomes its digits), without control
  characters, percent-encoded as exactly one path segment (dots too, so ``..`` cannot climb);
- a V3 id is a positive integer, given as an ``int`` or a string of decimal digits.
"""

from __future__ import annotations

import re
from typing import Final, Literal, overload
from urllib.parse import quote

from ._config import check_positive_int
from ._exceptions import InvalidOrderError

__all__ = ["V2_PREFIX", "V3_PREFIX", "path_segment", "to_id", "to_v3_id", "v2_path", "v3_path"]

#: The prefix of every V2 path.
V2_PREFIX: Final = "/api/v2/io"
#: The prefix of every V3 path.
V3_PREFIX: Final = "/api/v3/io"

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


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
        InvalidOrderError: the id is empty, negative, of another type, or holds control
            characters.
    """
    if value is None and optional:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise InvalidOrderError(f"{field} must not be negative, got {value}")
        return str(value)
    if not isinstance(value, str):
        raise InvalidOrderError(f"{field} must be a str or int, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise InvalidOrderError(f"{field} must not be empty")
    if _CONTROL.search(text):
        raise InvalidOrderError(f"{field} must not contain control characters")
    return text


def to_v3_id(value: object, *, field: str) -> int:
    """Normalise a V3 id given as a positive ``int`` or a string of decimal digits.

    Args:
        value: the id as given.
        field: the argument's name, for the error message.

    Returns:
        The id as an ``int``.

    Raises:
        InvalidOrderError: the id is not a positive whole number.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return check_positive_int(value, field, error=InvalidOrderError)
    text = to_id(value, field=field)  # refuses other types, blanks and control characters
    if not (text.isascii() and text.isdecimal()):
        raise InvalidOrderError(
            f"{field} must be a whole number (V3 ids are integers), got {text[:40]!r}"
        )
    return check_positive_int(int(text), field, error=InvalidOrderError)


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
