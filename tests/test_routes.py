"""The routes: id checks, path segments and the V2/V3 endpoint builders."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any
from urllib.parse import quote

import pytest

from b2b_async import InvalidOrderError
from b2b_async._routes import (
    MAX_ID_BYTES,
    MAX_QUERY_BYTES,
    MAX_V3_ID,
    V2_PREFIX,
    V3_PREFIX,
    check_query_size,
    comma_batches,
    encoded_length,
    id_list,
    one_of,
    path_segment,
    query_batches,
    to_id,
    to_v3_id,
    v2_path,
    v3_path,
)
from tests.subclasses import BoundlessInt, ClimbingInt, OtherText, Shop


@pytest.mark.parametrize(
    ("value", "expected"), [(7, "7"), ("BC1", "BC1"), (" BC 1 ", "BC 1"), (0, "0")]
)
def test_to_id_normalises_ints_and_strips_text(value: Any, expected: str) -> None:
    """An int becomes its digits, text is stripped of surrounding blanks."""
    assert to_id(value, field="order_id") == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "order_id must not be empty"),
        (" ", "order_id must not be empty"),
        (-1, "order_id must not be negative"),
        (True, "order_id must be a str or int"),
        (None, "order_id must be a str or int"),
        ("a\nb", "control characters"),
    ],
)
def test_to_id_refuses_what_cannot_be_an_id(value: Any, fragment: str) -> None:
    """Empty, negative, non-id and control-character values raise InvalidOrderError."""
    with pytest.raises(InvalidOrderError, match=fragment):
        to_id(value, field="order_id")


def test_an_optional_id_may_be_none() -> None:
    """``optional=True`` keeps None; otherwise None is refused."""
    assert to_id(None, field="company_id", optional=True) is None


@pytest.mark.parametrize(("value", "expected"), [(7, 7), ("7", 7), (" 12 ", 12)])
def test_to_v3_id_reads_ints_and_digit_strings(value: Any, expected: int) -> None:
    """A V3 id is a positive int, given as an int or a string of digits."""
    assert to_v3_id(value, field="bc_order_id") == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [(0, "at least 1"), ("0", "at least 1"), (-3, "at least 1"), ("BC1", "whole number")],
)
def test_to_v3_id_refuses_non_positive_or_non_numeric_ids(value: Any, fragment: str) -> None:
    """Zero, negatives and non-digit text raise InvalidOrderError naming the argument."""
    with pytest.raises(InvalidOrderError, match=fragment):
        to_v3_id(value, field="bc_order_id")


@pytest.mark.parametrize(
    ("value", "segment"),
    [("BC1", "BC1"), ("a/b", "a%2Fb"), ("..", "%2E%2E"), ("1?x=2", "1%3Fx%3D2"), ("é", "%C3%A9")],
)
def test_path_segment_never_adds_a_segment(value: str, segment: str) -> None:
    """Slashes, dots, query and fragment marks are percent-encoded."""
    assert path_segment(value) == segment


def test_v2_path_checks_and_encodes_each_id() -> None:
    """Each id is checked under its keyword's name and encoded as one segment."""
    assert v2_path("/orders/{order_id}/details", order_id="a/b") == (
        f"{V2_PREFIX}/orders/a%2Fb/details"
    )
    assert v2_path("/orders") == f"{V2_PREFIX}/orders"
    with pytest.raises(InvalidOrderError, match="company_id must not be empty"):
        v2_path("/companies/{company_id}/orders", company_id=" ")


def test_v3_path_checks_each_id() -> None:
    """Each V3 id is read as a positive int under its keyword's name."""
    assert v3_path("/customers/{customer_id}/orders/b2b", customer_id="42") == (
        f"{V3_PREFIX}/customers/42/orders/b2b"
    )
    with pytest.raises(InvalidOrderError, match="customer_id"):
        v3_path("/customers/{customer_id}/orders/b2b", customer_id="x")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("88\ud800", "order_id is not valid Unicode text: a lone surrogate at position 2"),
        ("x" * 1025, "longer than 1024 bytes in UTF-8"),
        ("\U0001f600" * 257, "longer than 1024 bytes in UTF-8"),
        (10**1024, "longer than 1024 digits"),
        pytest.param(10**5000, "longer than 1024 digits", id="10**5000"),  # str() raises
        pytest.param(-(10**5000), "longer than 1024 digits", id="-10**5000"),
    ],
)
def test_to_id_refuses_what_no_path_can_carry(value: Any, fragment: str) -> None:
    """Lone surrogates, ids past 1024 bytes of UTF-8 and huge ints are InvalidOrderError."""
    with pytest.raises(InvalidOrderError, match=fragment):
        to_id(value, field="order_id")
    assert to_id("\U0001f600" * 256, field="order_id") == "\U0001f600" * 256


def test_the_longest_ids_fit_a_request_line() -> None:
    """Two ids of 1024 bytes (four-byte characters) fit aiohttp's 8190-byte request line."""
    widest = "\U0001f600" * (MAX_ID_BYTES // 4)
    path = v2_path(
        "/companies/{company_id}/user/{customer_id}/orders", company_id=widest, customer_id=widest
    )
    assert len(f"POST {path} HTTP/1.1") < 8190


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (MAX_V3_ID + 1, "at most 9007199254740991"),
        (str(MAX_V3_ID + 1), "at most 9007199254740991"),
        pytest.param(10**5000, "at most", id="10**5000"),  # once a bare ValueError (repr)
        pytest.param(-(10**5000), "at least 1", id="-10**5000"),
        ("9" * 5000, "longer than 1024"),  # once int()'s bare ValueError
        ("١٢٣", "whole number"),
        ("12\ud800", "not valid Unicode"),
    ],
)
def test_to_v3_id_refuses_ids_a_json_number_does_not_hold(value: Any, fragment: str) -> None:
    """V3 ids go out as JSON numbers: past 2**53 - 1, or not ASCII digits, they are refused."""
    with pytest.raises(InvalidOrderError, match=fragment):
        to_v3_id(value, field="bc_order_id")
    assert to_v3_id(str(MAX_V3_ID), field="bc_order_id") == MAX_V3_ID


def test_id_list_reads_one_id_or_an_iterable_of_them() -> None:
    """A lone str or int is one id; any other iterable gives one id an item."""
    assert id_list("12", to_id, field="order_ids") == ["12"]
    assert id_list(7, to_v3_id, field="channel_ids") == [7]
    assert id_list(iter(["1", 2]), to_id, field="order_ids") == ["1", "2"]


@pytest.mark.parametrize("value", [b"123", bytearray(b"1"), memoryview(b"1"), None, 1.5, object()])
def test_id_list_refuses_bytes_and_what_is_not_iterable(value: object) -> None:
    """Bytes would read as the codes of their characters (b"12" as 49 and 50): refused."""
    with pytest.raises(InvalidOrderError, match="order_ids must be an id or an iterable of ids"):
        id_list(value, to_id, field="order_ids")


@pytest.mark.parametrize("value", [{"BC1": "BC2"}, {}, MappingProxyType({7: 8})])
def test_id_list_refuses_a_mapping_rather_than_read_its_keys(value: object) -> None:
    """A mapping is no list of ids: read as one, it would send its keys, or nothing."""
    with pytest.raises(InvalidOrderError, match="order_ids must be an id or an iterable of ids"):
        id_list(value, to_id, field="order_ids")


@pytest.mark.parametrize("value", [["asc"], {"asc": 1}, None, 1, "ASC"])
def test_one_of_refuses_anything_but_an_allowed_name(value: object) -> None:
    """An unhashable value is refused like any other, not a TypeError from the set lookup."""
    with pytest.raises(InvalidOrderError, match="order must be one of asc, desc"):
        one_of(value, frozenset({"asc", "desc"}), field="order")
    assert one_of("asc", frozenset({"asc", "desc"}), field="order") == "asc"


def test_check_query_size_refuses_a_query_past_the_bound() -> None:
    """A query is measured percent-encoded: brackets count three bytes each."""
    fits = [("channelIds[]", "1")] * (MAX_QUERY_BYTES // len("channelIds%5B%5D=1&"))
    check_query_size(fits, field="channel_ids")
    with pytest.raises(InvalidOrderError, match="channel_ids makes a query of"):
        check_query_size([*fits, *fits], field="channel_ids")


@pytest.mark.parametrize("room", [1, 10, 100, 1000])
def test_comma_batches_keep_every_id_in_order_each_batch_within_room(room: int) -> None:
    """Every id lands in one batch, in order; a batch over the room holds one id alone."""
    ids = [str(n) * (n % 7 + 1) for n in range(1, 300)] + ["a/b", "é"]
    batches = list(comma_batches(ids, room=room))
    assert ",".join(batches).split(",") == ids
    for batch in batches:
        encoded = len(quote(batch, safe=""))
        assert encoded <= room or "," not in batch


def test_comma_batches_of_nothing_are_none() -> None:
    """No ids, no batch (and so no request)."""
    assert list(comma_batches([], room=100)) == []


def test_one_of_describes_a_value_too_long_to_write_out() -> None:
    """An int of 5,000 digits is refused as a value like any other, its message short."""
    with pytest.raises(InvalidOrderError, match="got an int of") as info:
        one_of(10**5000, frozenset({"asc"}), field="order")
    assert len(str(info.value)) < 120


@pytest.mark.parametrize("value", [Shop.MAIN, ClimbingInt(5)])
def test_an_int_subclass_id_is_sent_as_its_value(value: int) -> None:
    """An id of an int subclass is its digits, whatever the subclass writes."""
    assert to_id(value, field="order_id") == "5"
    v3 = to_v3_id(value, field="bc_order_id")
    assert (v3, type(v3)) == (5, int)
    assert v3_path("/orders/{bc_order_id}", bc_order_id=v3) == f"{V3_PREFIX}/orders/5"


def test_a_str_subclass_id_is_read_as_its_text() -> None:
    """A str subclass's own strip and __str__ do not replace the id."""
    assert to_id(OtherText(" BC7 "), field="order_id") == "BC7"
    assert to_v3_id(OtherText("7"), field="bc_order_id") == 7


@pytest.mark.parametrize("control", ["\x1c", "\x1f", "\x85", "\x9f"])
def test_a_control_character_around_an_id_is_refused_not_stripped(control: str) -> None:
    """str.strip() takes these controls for blanks; an id refuses them wherever they stand."""
    for text in (f"{control}12", f"12{control}", f"1{control}2"):
        with pytest.raises(InvalidOrderError, match="control characters"):
            to_id(text, field="order_id")
        with pytest.raises(InvalidOrderError, match="control characters"):
            to_v3_id(text, field="bc_order_id")


@pytest.mark.parametrize("blank", [" ", "\t", "\n", "\r\n", "\xa0", "\u3000", "\u2028"])
def test_blanks_around_an_id_are_still_stripped(blank: str) -> None:
    """Blanks, ASCII's and Unicode's, still leave an id's edges."""
    assert to_id(f"{blank}BC1{blank}", field="order_id") == "BC1"


def test_query_batches_keep_each_parameter_within_the_query_bound() -> None:
    """orderIds=... stays within MAX_QUERY_BYTES, its key counted, every id kept in order."""
    ids = [f"BC{n:06d}" for n in range(5000)]
    batches = list(query_batches("orderIds", ids))
    assert len(batches) > 1
    assert ",".join(batches).split(",") == ids
    assert all(len("orderIds=" + quote(batch, safe="")) <= MAX_QUERY_BYTES for batch in batches)


def test_an_int_id_of_exactly_the_longest_length_is_accepted() -> None:
    """An int id of MAX_ID_BYTES digits is its digits; one more digit is refused."""
    widest = 10**MAX_ID_BYTES - 1
    assert to_id(widest, field="order_id") == "9" * MAX_ID_BYTES
    with pytest.raises(InvalidOrderError, match="longer than 1024 digits"):
        to_id(widest + 1, field="order_id")


@pytest.mark.parametrize(
    ("first", "rest"),
    [([("orderIds", "x" * (MAX_QUERY_BYTES - 9))], []), ([("a", "x")], [("b", "y")])],
)
def test_check_query_size_takes_a_query_of_exactly_the_bound(
    first: list[tuple[str, str]], rest: list[tuple[str, str]]
) -> None:
    """A query of exactly MAX_QUERY_BYTES (keys, = and & counted) is taken; one byte more is not."""
    pad = MAX_QUERY_BYTES - sum(len(k) + 1 + len(v) for k, v in first + rest) - len(rest)
    name, value = first[-1]
    exact = [*first[:-1], (name, value + "z" * pad), *rest]
    check_query_size(exact, field="channel_ids")
    over = [*first[:-1], (name, value + "z" * (pad + 1)), *rest]
    with pytest.raises(InvalidOrderError, match=f"query of {MAX_QUERY_BYTES + 1} bytes"):
        check_query_size(over, field="channel_ids")


def test_comma_batches_fill_each_batch_up_to_its_room() -> None:
    """Ids share a value while it stays within room, exactly full included, and no further."""
    assert list(comma_batches(["a", "b"], room=5)) == ["a,b"]  # a%2Cb: 5 bytes
    assert list(comma_batches(["a", "b"], room=4)) == ["a", "b"]
    assert list(comma_batches(["aaaa", "a", "b"], room=5)) == ["aaaa", "a,b"]


def test_the_longest_query_fits_a_request_line() -> None:
    """A full batch of image ids, on its path, fits aiohttp's 8190-byte request line."""
    ids = [f"BC{n:06d}" for n in range(5000)]
    batch = next(query_batches("orderIds", ids))
    line = f"GET {V2_PREFIX}/orders/images?orderIds={quote(batch, safe='')} HTTP/1.1"
    assert len(line) < 8190


def test_a_v3_id_is_bounded_by_its_value_not_its_subclass_comparisons() -> None:
    """An int subclass past MAX_V3_ID is refused, whatever its comparisons claim."""
    with pytest.raises(InvalidOrderError, match="at most"):
        to_v3_id(BoundlessInt(MAX_V3_ID + 1), field="bc_order_id")


def test_an_optional_id_given_is_read_like_any_other() -> None:
    """``optional=True`` keeps only None: an id given is still checked and returned."""
    assert to_id(" BC7 ", field="company_id", optional=True) == "BC7"
    with pytest.raises(InvalidOrderError, match="company_id must not be negative"):
        to_id(-1, field="company_id", optional=True)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("", "must not be empty"), ("7\x00", "must not contain control characters")],
)
def test_a_v3_id_given_as_text_is_named_in_its_error(value: str, fragment: str) -> None:
    """A V3 id refused as text names its own argument, not a generic id."""
    with pytest.raises(InvalidOrderError, match=f"^bc_order_id {fragment}"):
        to_v3_id(value, field="bc_order_id")


@pytest.mark.parametrize("value", [["12", ""], "", [" "]])
def test_an_id_refused_in_a_list_is_named_by_the_list_argument(value: object) -> None:
    """An invalid id, alone or among others, is reported under the argument that held it."""
    with pytest.raises(InvalidOrderError, match=r"^order_ids must not be empty"):
        id_list(value, to_id, field="order_ids")


def test_encoded_length_counts_a_slash_as_its_escape() -> None:
    """A slash in a query value is sent as %2F, three bytes of the query's bound."""
    assert encoded_length("a/b") == len("a%2Fb")
