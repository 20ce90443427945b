"""Reading a request's input, the same way for both API versions.

Bodies must be JSON objects, path ids decimal numbers, query values of the form each parameter
documents. Whatever does not fit raises :class:`InvalidInputError` with a field map, which the
pipeline answers with a 400 in the envelope of the version asked, so an operation only says
what is wrong, never how to answer it.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from decimal import Decimal
from typing import Any, Final, TypeVar

import attrs
from aiohttp import web
from attrs import AttrsInstance

from ._records import decode_json

__all__ = [
    "MAX_ID_DIGITS",
    "InvalidInputError",
    "Parser",
    "digits_value",
    "json_object",
    "non_negative",
    "parameter",
    "parse_parameters",
    "parse_query",
    "path_id",
    "plausible_total",
    "whole",
]

_Query = TypeVar("_Query", bound=AttrsInstance)

Parser = Callable[[str], Any]
"""Turns one query value into a value, or raises ValueError saying what the value must be."""

# The attrs metadata key under which a query class keeps (parameter name, parser).
_QUERY: Final = "b2b_sandbox_query"

MAX_ID_DIGITS: Final = 64
"""The most digits a number written as text may have here: far more than any id, and far
fewer than the 4,300 Python's ``int()`` reads."""

MAX_TOTAL_EXPONENT: Final = 308
"""Totals other than 0 stay below 1E+308 in magnitude: what a double holds, and the most
the client sends."""


class InvalidInputError(Exception):
    """The request's input breaks the rules; ``fields`` maps each field (or ``errMsg``) to its
    problem.

    Args:
        fields: each offending field (or ``errMsg``) and its problem.
    """

    def __init__(self, fields: Mapping[str, str]) -> None:
        super().__init__(fields)
        self.fields: dict[str, str] = dict(fields)


def json_object(raw: bytes) -> dict[str, Any]:
    """Decode a body that must be a JSON object.

    Args:
        raw: the body as received.

    Returns:
        The decoded object.

    Raises:
        InvalidInputError: the body is not JSON, or not an object.
    """
    try:
        body = decode_json(raw)
    except ValueError:
        raise InvalidInputError({"errMsg": "Request body is not valid JSON"}) from None
    if not isinstance(body, dict):
        raise InvalidInputError({"errMsg": "Request body must be a JSON object"})
    return body


def path_id(request: web.Request, name: str) -> int | None:
    """A numeric path parameter, or ``None`` when it is not a decimal number.

    Args:
        request: the request.
        name: the path parameter.

    Returns:
        The id, or ``None``: a path id that is not a number names nothing.
    """
    return digits_value(request.match_info.get(name, ""))


def plausible_total(total: Decimal) -> bool:
    """Whether a finite order total is 0 or below 1E+:data:`MAX_TOTAL_EXPONENT` in magnitude.

    A stored total is read back by every view of its order: V3 writes it as a double (a
    larger one would be ``Infinity``, which is no JSON) and V2 writes it with four decimals
    (``1e999999999`` would take a gigabyte). A tiny one, or a zero of any exponent, reads
    back as 0.
    """
    return not total or total.adjusted() < MAX_TOTAL_EXPONENT


def digits_value(text: str) -> int | None:
    """The integer ``text`` writes in ASCII digits; ``None`` for any other text, or one of
    more than :data:`MAX_ID_DIGITS` digits (it names nothing).

    Args:
        text: a path id, or an id sent as a string.
    """
    if text.isascii() and text.isdecimal() and len(text) <= MAX_ID_DIGITS:
        return int(text)
    return None


def whole(value: object) -> int | None:
    """An id sent as an integer or a string of digits; ``None`` for anything else.

    Args:
        value: a decoded JSON value.

    Returns:
        The integer, or ``None`` (booleans are not integers here).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return digits_value(value) if isinstance(value, str) else None


def non_negative(text: str) -> int:
    """Parse a query value that must be a non-negative integer (a :data:`Parser`)."""
    if not (text.isascii() and text.isdecimal()):
        raise ValueError("must be a non-negative integer")
    number = digits_value(text)
    if number is None:
        raise ValueError(f"must be a non-negative integer of at most {MAX_ID_DIGITS} digits")
    return number


def parameter(name: str, parse: Parser, default: Any) -> Any:
    """Declare an attribute of an attrs query class as read from one query parameter.

    Args:
        name: the query parameter.
        parse: its parser.
        default: the attribute's value when the parameter is absent.

    Returns:
        The attrs field.
    """
    return attrs.field(default=default, metadata={_QUERY: (name, parse)})


def parse_parameters(
    cls: type[AttrsInstance], query: Mapping[str, str], names: Container[str] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Parse the query parameters an attrs query class declares with :func:`parameter`.

    Parameters the class does not declare (or ``names`` does not list) are ignored, as the API
    ignores them.

    Args:
        cls: the query class.
        query: the request's query.
        names: the parameters to read; all the class declares when ``None``.

    Returns:
        The parsed values by attribute name, and the problems by parameter name (each problem
        names its parameter, e.g. ``"limit must be a non-negative integer"``), both in the
        order of the class's attributes.
    """
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for field in attrs.fields(cls):
        name, parse = field.metadata.get(_QUERY, ("", None))
        if parse is None or name not in query or (names is not None and name not in names):
            continue
        try:
            values[field.name] = parse(query[name])
        except ValueError as exc:
            problems[name] = f"{name} {exc}"
    return values, problems


def parse_query(
    cls: type[_Query], query: Mapping[str, str], names: Container[str] | None = None
) -> _Query:
    """Build an attrs query class from the parameters it declares with :func:`parameter`.

    Args:
        cls: the query class.
        query: the request's query.
        names: the parameters to read; all the class declares when ``None``.

    Returns:
        The parsed query; absent parameters keep their defaults.

    Raises:
        InvalidInputError: naming every parameter that does not parse.
    """
    values, problems = parse_parameters(cls, query, names)
    if problems:
        raise InvalidInputError(problems)
    return cls(**values)
