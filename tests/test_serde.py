"""The one converter: wire names, lenient scalars, error paths, and body encoding."""

from __future__ import annotations

import json
import json.encoder
import math
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import pytest
from cattrs.errors import ClassValidationError, IterableValidationError
from hypothesis import given
from hypothesis import strategies as st

from b2b_async import (
    CompanyOrder,
    CreatedOrder,
    ExtraFieldConfig,
    InvalidOrderError,
    LineItem,
    OrderDetail,
    OrderImage,
    OrderProduct,
    ResponseDecodeError,
    V3Order,
    V3OrderProduct,
)
from b2b_async._config import MAX_NUMBER_TEXT, MAX_WHOLE_DIGITS
from b2b_async._pagination import Page
from b2b_async._serde import (
    encode_body,
    first_problem,
    is_empty,
    number_text,
    one_or_many,
    structure,
    to_camel,
    unstructure,
    wire,
    written_length,
)
from b2b_async._v2_models import OrderRef


@given(st.decimals(allow_nan=False, allow_infinity=False, places=None))
def test_written_length_counts_what_writing_out_gives(value: Decimal) -> None:
    """The length is counted from the digits and the exponent, exactly, without writing."""
    assert written_length(value) == len(format(value, "f"))


@pytest.mark.parametrize(
    ("value", "text"), [("1E+2", "100"), ("0.00", "0.00"), ("-1.5E-3", "-0.0015"), ("-0", "-0")]
)
def test_a_number_is_sent_written_out_in_full(value: str, text: str) -> None:
    """Exponent notation would not be read as a number: every digit is written."""
    assert number_text(Decimal(value), field="x") == text


@pytest.mark.parametrize("value", ["1E+999999999", "0E-999999999", f"1E+{MAX_NUMBER_TEXT}"])
def test_a_number_too_long_to_write_out_is_refused_before_it_is_written(value: str) -> None:
    """A billion digits would fill the memory: the length is counted first, and refused."""
    with pytest.raises(InvalidOrderError, match=f"x would take .* more than {MAX_NUMBER_TEXT}"):
        number_text(Decimal(value), field="x")


def test_to_camel() -> None:
    """snake_case names become camelCase wire names."""
    assert to_camel("total_inc_tax") == "totalIncTax"
    assert to_camel("order_id") == "orderId"
    assert to_camel("x") == "x"


def test_body_encoder_without_the_c_accelerator(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the standard library has no C encoder, bodies are encoded the same."""
    payloads = ({"orderId": "BC1", "totalIncTax": 10.5}, {"orderId": 'é"', "poNumber": None})
    expected = [encode_body(payload) for payload in payloads]
    monkeypatch.setattr(json.encoder, "c_make_encoder", None)
    assert [encode_body(payload) for payload in payloads] == expected


def test_body_encoder_refuses_what_json_cannot_hold() -> None:
    """The body encoder fails loudly on a foreign value, NaN or an infinity."""
    with pytest.raises(TypeError):
        encode_body({"orderId": object()})
    with pytest.raises(ValueError, match="not JSON compliant"):
        encode_body({"totalIncTax": math.inf})


@pytest.mark.parametrize(
    ("wire_value", "expected"),
    [("100.0000", Decimal("100.0000")), (100, Decimal(100)), (12.5, Decimal("12.5")), ("", None)],
)
def test_amounts_read_numbers_and_numeric_strings(wire_value: Any, expected: Any) -> None:
    """Numeric strings and numbers become Decimal; an empty string is no amount."""
    order = structure({"orderId": "1", "totalIncTax": wire_value}, CompanyOrder)
    assert order.total_inc_tax == expected


@pytest.mark.parametrize(
    ("wire_value", "expected"),
    [("20", 20), (20, 20), (20.0, 20), ("20.0000", 20), ("", None), (None, None)],
)
def test_counts_read_numbers_and_numeric_strings(wire_value: Any, expected: Any) -> None:
    """Whole numbers arrive as numbers or strings; an empty one is no count."""
    assert structure({"id": "1", "items_total": wire_value}, OrderDetail).items_total == expected


@pytest.mark.parametrize(
    "wire_value",
    ["1e999999999", "9" * 400_000, 10**MAX_WHOLE_DIGITS, "-1E+20", "1e20"],
    ids=["exponent", "digits", "json-int", "negative", "just-over"],
)
def test_a_count_longer_than_any_64_bit_number_is_refused_at_once(wire_value: Any) -> None:
    """A whole number of more than MAX_WHOLE_DIGITS digits is a decode error, found before
    it is turned into an int (which, for a billion digits, would take hours)."""
    with pytest.raises(ResponseDecodeError, match=r"\$\.data\.items_total"):
        structure({"id": "1", "items_total": wire_value}, OrderDetail)
    assert structure({"id": "1", "items_total": "9" * 20}, OrderDetail).items_total == 10**20 - 1


@pytest.mark.parametrize(
    ("wire_value", "expected"),
    [("0", False), ("1", True), (0, False), (1, True), (True, True), ("false", False), ("", None)],
)
def test_flags_read_booleans_numbers_and_strings(wire_value: Any, expected: Any) -> None:
    """isInvoiceOrder "0"/"1", 0/1 or true/false become bool."""
    order = structure({"orderId": "1", "isInvoiceOrder": wire_value}, CompanyOrder)
    assert order.is_invoice_order is expected


@pytest.mark.parametrize(
    ("wire_value", "expected"),
    [
        ("1572323610", datetime(2019, 10, 29, 4, 33, 30, tzinfo=UTC)),
        (1572323610, datetime(2019, 10, 29, 4, 33, 30, tzinfo=UTC)),
        ("Tue, 29 Oct 2019 12:33:25 +0000", datetime(2019, 10, 29, 12, 33, 25, tzinfo=UTC)),
        ("2019-10-29T12:33:25", datetime(2019, 10, 29, 12, 33, 25, tzinfo=UTC)),
        (
            "2019-10-29T12:33:25+02:00",
            datetime(2019, 10, 29, 12, 33, 25, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("", None),
    ],
)
def test_times_read_epoch_rfc2822_and_iso(wire_value: Any, expected: Any) -> None:
    """Times arrive as Unix seconds, RFC 2822 or ISO 8601; all become aware datetimes."""
    order = structure({"orderId": "1", "createdAt": wire_value}, CompanyOrder)
    assert order.created_at == expected
    assert order.created_at is None or order.created_at.tzinfo is not None


def test_list_error_paths_name_the_index() -> None:
    """An item of a list answer that does not fit is named by its index."""
    with pytest.raises(ResponseDecodeError) as info:
        one_or_many([{"orderId": "1"}, {"imageUrl": "x"}], OrderImage)
    assert info.value.path == "$.data[1].orderId"


@pytest.mark.parametrize(
    ("data", "count"), [(None, 0), ({}, 0), ({"productId": 1}, 1), ([{"productId": 1}] * 2, 2)]
)
def test_one_or_many_normalises_to_a_list(data: Any, count: int) -> None:
    """One object, none, or a list: always a list."""
    assert len(one_or_many(data, OrderProduct)) == count


def test_one_or_many_refuses_other_shapes() -> None:
    """A scalar where an object or list is expected is a decode error."""
    with pytest.raises(ResponseDecodeError, match="expected a list or an object"):
        one_or_many("x", OrderProduct)


def test_dates_go_out_as_month_day_year() -> None:
    """A date is written MM/DD/YYYY, the documented query format."""
    assert unstructure(date(2019, 12, 31)) == "12/31/2019"


def test_wire_metadata_defaults() -> None:
    """wire() with no arguments keeps the camelCase default."""

    @attrs.frozen
    class Sample:
        order_id: str = attrs.field(metadata=wire())
        other: str = attrs.field(default="", metadata={"unrelated": True})

    assert unstructure(Sample("1", "2")) == {"orderId": "1", "other": "2"}
    assert structure({"orderId": 3}, Sample) == Sample("3")


@pytest.mark.parametrize("wire_value", ["NaN", "Infinity", float("inf"), float("nan"), [1], True])
def test_amounts_refuse_non_finite_and_non_numbers(wire_value: Any) -> None:
    """NaN, infinities, lists and booleans are not amounts."""
    with pytest.raises(ResponseDecodeError) as info:
        structure({"orderId": "1", "totalIncTax": wire_value}, CompanyOrder)
    assert info.value.path == "$.data.totalIncTax"


@pytest.mark.parametrize("wire_value", ["1_000", "\u0661\u0662", "\uff11\uff12", " 1_0 "])
def test_amounts_and_counts_refuse_other_digits_and_underscores(wire_value: str) -> None:
    """An answer's amount or count in digits of other scripts or with underscores is no
    number, as in a request, rather than read as 12 or 1000."""
    with pytest.raises(ResponseDecodeError) as info:
        structure({"orderId": "1", "totalIncTax": wire_value}, CompanyOrder)
    assert info.value.path == "$.data.totalIncTax"
    with pytest.raises(ResponseDecodeError) as info:
        structure({"id": "1", "items_total": wire_value}, OrderDetail)
    assert info.value.path == "$.data.items_total"


def test_nested_model_that_is_not_an_object_names_its_key() -> None:
    """A pagination member that is not an object is named by its wire key."""
    with pytest.raises(ResponseDecodeError) as info:
        structure({"list": [], "paginator": "x"}, Page[OrderRef])
    assert info.value.path == "$.data.pagination"


def test_scalar_answer_that_does_not_fit_names_data() -> None:
    """A scalar that does not fit its type names $.data with the hook's message."""
    with pytest.raises(ResponseDecodeError, match="expected a numeric value") as info:
        structure("lots", Decimal)
    assert info.value.path == "$.data"


@pytest.mark.parametrize("answer", [[], None, "x", 3])
def test_an_answer_that_is_no_object_names_the_model_and_data(answer: Any) -> None:
    """An answer that is no JSON object, read as a model, names the model, its kind and $.data."""
    kind = type(answer).__name__
    with pytest.raises(ResponseDecodeError) as info:
        structure(answer, CompanyOrder)
    assert str(info.value).startswith(
        f"response does not fit CompanyOrder: expected a JSON object, got {kind}"
    )
    assert info.value.path == "$.data"


#: The classes of :class:`Shown` written out so far, by name.
WRITTEN: list[str] = []


class Shown(type):
    """A metaclass that notes each time one of its classes is written out."""

    def __repr__(cls) -> str:
        WRITTEN.append(cls.__name__)
        return super().__repr__()


@attrs.frozen
class Watched(metaclass=Shown):
    """A model whose class notes each time it is written out."""

    order_id: str = ""


def test_an_answer_that_fits_does_not_write_out_its_model() -> None:
    """structure writes out a model's name only for the error of an answer that does not fit."""
    WRITTEN.clear()
    assert structure({"orderId": "1"}, Watched) == Watched("1")
    assert WRITTEN == []
    with pytest.raises(ResponseDecodeError, match="response does not fit Watched"):
        structure([], Watched)


def test_model_level_refusal_names_the_object() -> None:
    """A refusal by the model itself (not one field) names the object's path."""
    with pytest.raises(ResponseDecodeError, match="option_id must not be empty") as info:
        structure({"productOptions": [{"id": "", "value": "x"}]}, LineItem)
    assert info.value.path == "$.data.productOptions[0]"


def test_first_problem_of_a_list_error_without_index() -> None:
    """A list error that names no item is reported at the list's own path."""
    error = IterableValidationError("While structuring", [ValueError("bad")], list[int])
    assert first_problem(error, "$.data") == ("bad", "$.data")


@pytest.mark.parametrize(
    ("cls", "answer"),
    [
        (CreatedOrder, {"orderId": "BC1", "alreadyRegistered": "1"}),
        (V3Order, {"bcOrderId": 1, "alreadyRegistered": True, "already_registered": True}),
    ],
    ids=["v2-created-order", "v3-order"],
)
def test_what_the_client_knows_of_its_own_is_never_read_from_an_answer(
    cls: type[CreatedOrder | V3Order], answer: dict[str, Any]
) -> None:
    """Whether an earlier attempt registered the order is the client's to say: an answer
    claiming it is not believed, and it is never sent."""
    read = structure(answer, cls)
    assert read.already_registered is False
    assert "alreadyRegistered" not in unstructure(attrs.evolve(read, already_registered=True))


def test_path_fields_of_any_model_stay_out_of_bodies() -> None:
    """A field marked wire(path=True) never enters a body, whatever the model."""

    @attrs.frozen
    class Move:
        customer_id: str = attrs.field(metadata=wire(path=True))
        target_group: str

    assert unstructure(Move("1", "7")) == {"targetGroup": "7"}


@pytest.mark.parametrize(
    ("day", "text"),
    [
        (date(1, 1, 1), "01/01/0001"),
        (date(999, 12, 31), "12/31/0999"),
        (date(9999, 1, 2), "01/02/9999"),
    ],
)
def test_dates_of_any_year_are_written_in_full(day: date, text: str) -> None:
    """A year before 1000 keeps its four digits (strftime's %Y drops them on some platforms)."""
    assert unstructure(day) == text


@pytest.mark.parametrize("inexact", [2.0**53, 2.0**60])
def test_a_whole_float_past_exact_integers_is_no_int_id_either(inexact: float) -> None:
    """The rule of a ``str`` id holds for an ``int`` one (V3's ``bcOrderId``): a float from
    2**53 on may stand for another whole number, so it names no id for sure. (Read through
    ``str(float)``, 2.0**60 even became 1152921504606847000, which no float equals.)"""
    with pytest.raises(ResponseDecodeError):
        structure({"bcOrderId": inexact}, V3Order)


def test_the_largest_exact_whole_float_is_read_as_an_id() -> None:
    """2.0**53 - 1, the last float that names one whole number for sure, is an id."""
    assert structure({"orderId": 2.0**53 - 1}, OrderRef).order_id == str(2**53 - 1)
    assert structure({"bcOrderId": 2.0**53 - 1}, V3Order).bc_order_id == 2**53 - 1


def test_a_raw_answer_has_a_length_and_a_repr() -> None:
    """A model's raw mapping counts its keys and shows them, as the dict it copies."""
    raw = structure({"bcOrderId": 9, "money": "x"}, V3Order).raw
    assert len(raw) == 2
    assert repr(raw) == "ReadOnlyMapping({'bcOrderId': 9, 'money': 'x'})"


@pytest.mark.parametrize("flag", [True, False])
def test_a_json_flag_is_no_count(flag: bool) -> None:
    """true or false where a whole number is expected is a decode error, not 1 or 0."""
    with pytest.raises(ResponseDecodeError, match="items"):
        structure({"bcOrderId": 9, "items": flag}, V3Order)


@pytest.mark.parametrize("value", ["1.5", "-0.5", "12.345", "0.05", "-1E+3", "0E-2", "7"])
def test_written_length_counts_each_shape_of_number(value: str) -> None:
    """One decimal place, a fraction below one, a sign and an exponent are all counted exactly."""
    assert written_length(Decimal(value)) == len(format(Decimal(value), "f"))


def test_a_number_of_exactly_the_longest_text_is_written_out() -> None:
    """A number of MAX_NUMBER_TEXT characters written out is sent; one character more is not."""
    longest = Decimal(f"1E+{MAX_NUMBER_TEXT - 1}")
    assert len(number_text(longest, field="x")) == MAX_NUMBER_TEXT
    with pytest.raises(InvalidOrderError, match="more than"):
        number_text(-longest, field="x")


def test_an_unreadable_time_is_a_decode_error_saying_a_time_was_expected() -> None:
    """Text that is no time names the expected type and the path, not an internal failure."""
    with pytest.raises(ResponseDecodeError, match="expected datetime") as info:
        structure({"bcOrderId": 1, "createdAt": "soon"}, V3Order)
    assert info.value.path == "$.data.createdAt"


def test_a_blank_answer_is_none_only_for_numbers_flags_and_times() -> None:
    """An empty string stays text where text is expected, and is no object where one is."""
    assert structure({"bcOrderId": 1, "poNumber": ""}, V3Order).po_number == ""
    with pytest.raises(ResponseDecodeError) as info:
        structure({"id": 1, "billingAddress": ""}, OrderDetail)
    assert info.value.path == "$.data.billingAddress"


def test_an_answer_given_as_a_read_only_mapping_is_read_as_a_dict_is() -> None:
    """A Mapping that is no dict (a model's raw, read again) is a JSON object too."""
    order = structure({"bcOrderId": 9, "poNumber": "P"}, V3Order)
    assert structure(order.raw, V3Order) == order


def test_an_answer_with_several_problems_names_the_first() -> None:
    """Of two unreadable fields, or two unreadable items, the error names the first."""
    with pytest.raises(ResponseDecodeError) as info:
        structure({"bcOrderId": "x", "items": "y"}, V3Order)
    assert info.value.path == "$.data.bcOrderId"
    with pytest.raises(ResponseDecodeError) as info:
        structure(
            {"options": [{"optionId": 1}, {"optionId": "x"}, {"optionId": "y"}]}, V3OrderProduct
        )
    assert info.value.path == "$.data.options[1].optionId"


@pytest.mark.parametrize("blank", [None, "", "  "])
def test_a_blank_list_in_an_answer_is_no_items(blank: object) -> None:
    """null or an empty string where a list is expected reads as an empty tuple."""
    assert structure({"bcOrderId": 1, "extraFields": blank}, V3Order).extra_fields == ()


@pytest.mark.parametrize("wire_value", [True, [1], {"id": 1}, 12.5], ids=repr)
def test_an_id_is_text_or_a_whole_number_and_nothing_else(wire_value: Any) -> None:
    """A flag, a list, an object or a float with a fraction is no id: a decode error."""
    with pytest.raises(ResponseDecodeError) as info:
        structure({"orderId": wire_value}, OrderRef)
    assert info.value.path == "$.data.orderId"


@pytest.mark.parametrize("wire_value", [20.5, "20.5", "-0.1"])
def test_a_count_with_a_fraction_is_refused(wire_value: Any) -> None:
    """A number with a fraction is no count, rather than read as the whole number below it."""
    with pytest.raises(ResponseDecodeError) as info:
        structure({"id": "1", "items_total": wire_value}, OrderDetail)
    assert info.value.path == "$.data.items_total"


@pytest.mark.parametrize("wire_value", ["yes", "2", 2, -1, 1.0])
def test_a_flag_is_only_true_false_one_or_zero(wire_value: Any) -> None:
    """Any other value where a flag is expected is a decode error, not a missing flag."""
    with pytest.raises(ResponseDecodeError) as info:
        structure({"orderId": "1", "isInvoiceOrder": wire_value}, CompanyOrder)
    assert info.value.path == "$.data.isInvoiceOrder"


def test_a_time_in_fractional_unix_seconds_is_read() -> None:
    """A time written as a JSON number with a fraction is Unix seconds, as a whole one is."""
    order = structure({"orderId": "1", "createdAt": 1572323610.5}, CompanyOrder)
    assert order.created_at == datetime(2019, 10, 29, 4, 33, 30, 500000, tzinfo=UTC)


def test_a_time_in_digits_of_another_script_is_refused() -> None:
    """Unix seconds are ASCII digits: the same number in Arabic-Indic digits is no time."""
    with pytest.raises(ResponseDecodeError) as info:
        structure({"orderId": "1", "createdAt": "\u0661\u0665\u0667\u0662"}, CompanyOrder)
    assert info.value.path == "$.data.createdAt"


@pytest.mark.parametrize("wire_value", ["ab", {"a": "b"}], ids=["text", "object"])
def test_text_or_an_object_where_a_list_of_text_is_expected_is_refused(wire_value: Any) -> None:
    """A string is not read as a list of its characters, nor an object as a list of its keys."""
    with pytest.raises(ResponseDecodeError) as info:
        structure({"fieldName": "x", "listOfValues": wire_value}, ExtraFieldConfig)
    assert info.value.path == "$.data.listOfValues"


def test_a_raw_field_never_enters_a_body() -> None:
    """The whole answer a model keeps is no part of what the model sends."""
    order = structure({"bcOrderId": 9, "poNumber": "P"}, V3Order)
    sent = unstructure(order)
    assert "raw" not in sent
    assert sent["poNumber"] == "P"


def test_an_answer_key_named_raw_is_an_unknown_key_like_any_other() -> None:
    """A key "raw" in an answer is not read into the model's raw field: raw is the whole answer."""
    answer = {"bcOrderId": 9, "raw": 5}
    assert dict(structure(answer, V3Order).raw) == answer


def test_any_text_for_a_list_the_schema_types_as_text_is_no_items() -> None:
    """Where the published schema types a list as a string, text that is not blank is no item."""
    assert structure({"productOptions": "[]"}, LineItem).product_options == ()


def test_optional_attributes_left_unset_stay_out_of_bodies() -> None:
    """An attribute left at its default (None, an empty tuple) is not sent at all."""

    @attrs.frozen
    class Note:
        order_id: str
        po_number: str | None = None
        lines: tuple[str, ...] = ()

    assert unstructure(Note("1")) == {"orderId": "1"}
    assert unstructure(Note("1", "P", ("a",))) == {"orderId": "1", "poNumber": "P", "lines": ["a"]}


@pytest.mark.parametrize(
    ("data", "empty"),
    [(None, True), ({}, True), ([], True), ("", False), (0, False), (False, False), ([{}], False)],
)
def test_only_null_an_empty_object_or_an_empty_list_describes_nothing(
    data: Any, empty: bool
) -> None:
    """null, {} and [] are no data; an empty string, zero or false is data of the wrong kind."""
    assert is_empty(data) is empty


@pytest.mark.parametrize("data", ["", 0, False])
def test_a_falsy_scalar_is_no_list_of_items(data: Any) -> None:
    """An empty string, zero or false where items are expected is a decode error at $.data."""
    with pytest.raises(ResponseDecodeError, match="expected a list or an object") as info:
        one_or_many(data, OrderProduct)
    assert info.value.path == "$.data"


def test_a_time_in_negative_unix_seconds_is_read_as_a_number() -> None:
    """A whole JSON number is Unix seconds whatever its sign, not text to parse as a date."""
    order = structure({"orderId": "1", "createdAt": -1}, CompanyOrder)
    assert order.created_at == datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    "wire_value",
    [1e20, "99999999999999999999", -(2**63) - 1, "Tue, 29 Oct 99999999999 12:33:25 +0000"],
    ids=["float", "text", "int", "rfc2822"],
)
def test_unix_seconds_past_any_clock_are_a_decode_error_saying_a_time_was_expected(
    wire_value: Any,
) -> None:
    """Unix seconds or a year past what the platform's clock can name is a decode error saying
    a time was expected, never an overflow or a system error."""
    with pytest.raises(ResponseDecodeError, match="expected datetime") as info:
        structure({"orderId": "1", "createdAt": wire_value}, CompanyOrder)
    assert info.value.path == "$.data.createdAt"
    with pytest.raises(ResponseDecodeError, match="expected a time"):
        structure(wire_value, datetime)


def test_first_problem_of_errors_without_a_place_is_the_first() -> None:
    """Of several problems that name no attribute or item, the first is reported."""
    problems = [ValueError("first"), ValueError("second")]
    listed = IterableValidationError("While structuring", problems, list[int])
    assert first_problem(listed, "$.data") == ("first", "$.data")
    modelled = ClassValidationError("While structuring", problems, V3Order)
    assert first_problem(modelled, "$.data") == ("first", "$.data")


def test_a_fields_own_key_wins_over_its_alias() -> None:
    """Where an answer holds both a field's own key and its alias, the own key is read."""
    item = structure({"productId": "1", "product_id": "2"}, LineItem)
    assert item.product_id == "1"


@pytest.mark.parametrize(("answer", "cls"), [(3, tuple[int, ...]), ([1], dict[str, int])])
def test_an_answer_of_the_wrong_shape_for_a_list_or_a_map_is_a_decode_error(
    answer: Any, cls: Any
) -> None:
    """A scalar where a list is expected, or a list where a map is, names $.data."""
    with pytest.raises(ResponseDecodeError) as info:
        structure(answer, cls)
    assert info.value.path == "$.data"


@pytest.mark.parametrize(
    "wire_value",
    [253_402_300_800, "253402300800", -62_135_596_801, math.nan],
    ids=["year-10000", "year-10000-text", "year-0", "nan"],
)
def test_unix_seconds_past_the_years_a_datetime_holds_are_a_decode_error_saying_a_time_was_expected(
    wire_value: Any,
) -> None:
    """Unix seconds the clock can name but a datetime cannot hold (year 10000, year 0), or NaN,
    are a decode error saying a time was expected, as seconds past any clock are."""
    with pytest.raises(ResponseDecodeError, match="expected a time"):
        structure(wire_value, datetime)
