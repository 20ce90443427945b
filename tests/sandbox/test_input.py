"""Tests of ``b2b_async/sandbox/_input.py``: bodies, ids and query values, read the same way
for both API versions.
"""

from __future__ import annotations

import aiohttp
import attrs
import pytest

from b2b_async.sandbox import SandboxServer
from b2b_async.sandbox._input import (
    MAX_ID_DIGITS,
    InvalidInputError,
    digits_value,
    json_object,
    non_negative,
    parameter,
    parse_query,
    whole,
)
from tests.sandbox._helpers import call, v3


@attrs.frozen(kw_only=True)
class Page:
    """A query class of two parameters, one with a parser that can refuse."""

    size: int = parameter("pageSize", non_negative, 20)
    after: int | None = parameter("after", non_negative, None)


@pytest.mark.parametrize("raw", [b"{not json", b"", b'{"orderId": "A", "totalIncTax": NaN}'])
async def test_malformed_json_answers_400(
    server: SandboxServer, session: aiohttp.ClientSession, raw: bytes
) -> None:
    """A body that is not strict JSON answers 400 and is recorded raw."""
    reply = await call(session, server, data=raw)
    assert reply.status == 400
    assert reply.json()["data"] == {"errMsg": "Request body is not valid JSON"}
    assert server.requests[0].raw == raw
    assert server.requests[0].body is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [(7, 7), ("42", 42), ("007", 7), (True, None), ("4.0", None), ("\u0664", None), (None, None)],
)
def test_whole_takes_integers_and_ascii_digit_strings_only(
    value: object, expected: int | None
) -> None:
    """An id is an int or a string of ASCII digits; booleans, fractions, other scripts' digits
    and nothing at all are not ids."""
    assert whole(value) == expected


def test_a_body_that_is_json_but_not_an_object_is_refused() -> None:
    """A JSON array is valid JSON, but no operation takes one as its body."""
    with pytest.raises(InvalidInputError) as refused:
        json_object(b"[1, 2]")
    assert refused.value.fields == {"errMsg": "Request body must be a JSON object"}
    assert json_object(b'{"a": 1}') == {"a": 1}


def test_parse_query_reads_declared_parameters_and_keeps_defaults() -> None:
    """Declared parameters are parsed, absent ones keep their defaults, others are ignored."""
    assert parse_query(Page, {"after": "5", "colour": "red"}) == Page(size=20, after=5)


def test_parse_query_names_every_parameter_that_does_not_parse() -> None:
    """Every bad value is reported at once, each problem naming its parameter."""
    with pytest.raises(InvalidInputError) as refused:
        parse_query(Page, {"pageSize": "-1", "after": "x"})
    assert refused.value.fields == {
        "pageSize": "pageSize must be a non-negative integer",
        "after": "after must be a non-negative integer",
    }


def test_parse_query_reads_only_the_parameters_named() -> None:
    """With ``names``, a parameter outside them is ignored even when its value is bad."""
    assert parse_query(Page, {"pageSize": "5", "after": "x"}, ("pageSize",)) == Page(size=5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("7", 7), ("0" * 64, 0), ("9" * 64, int("9" * 64)), ("9" * 65, None), ("9" * 5000, None)],
)
def test_digits_value_names_nothing_past_the_longest_id(text: str, expected: int | None) -> None:
    """Up to MAX_ID_DIGITS digits are a number; more name nothing (Python's int() would refuse
    5,000), in a path as in a body."""
    assert MAX_ID_DIGITS == 64
    assert digits_value(text) == expected
    assert whole(text) == expected


async def test_a_query_number_past_any_id_is_refused_in_the_sandbox_s_words(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """A query value of more digits than any id is a 400 naming the bound, not Python's own
    message about its digit limit."""
    with pytest.raises(ValueError, match="at most 64 digits"):
        non_negative("9" * 65)
    assert non_negative("9" * 64) == int("9" * 64)
    reply = await v3(session, unlimited, "/orders", query={"bcOrderId": "9" * 5000})
    assert reply.status == 400
    assert "at most 64 digits" in reply.text
    assert "set_int_max_str_digits" not in reply.text
