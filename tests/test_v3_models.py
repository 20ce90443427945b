"""The V3 models: what a registration accepts, and what it stands for without an answer."""

from __future__ import annotations

import copy
import json
import pickle
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any

import attrs
import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from b2b_async import (
    EnsuredOrder,
    ExtraField,
    ExtraFieldConfig,
    InvalidOrderError,
    NewV3Order,
    V3Order,
)
from b2b_async._config import REGISTRATION_WINDOW
from b2b_async._serde import encode_model, structure
from b2b_async._v3_models import (
    EnsureAction,
    MovedOrders,
    V3OrderProduct,
    V3OrderUpdate,
    V3ProductOption,
    to_extra_fields,
)
from b2b_async._v3_window import RegistrationWindow
from tests.subclasses import OtherText

#: The zones furthest east and west of UTC (UTC+14 is Kiribati's; -12 is Baker Island's).
EAST = timezone(timedelta(hours=14))
WEST = timezone(timedelta(hours=-12))


def test_new_v3_order_normalises_its_values() -> None:
    """Ids become int, extra fields a tuple of ExtraField; order_id is the id as text."""
    fields: dict[str, str | int | Decimal] = {"Fintech ID": "F", "Priority": 2}
    order = NewV3Order(" 123 ", 45, "PO-1", fields)
    assert (order.bc_order_id, order.customer_id, order.order_id) == (123, 45, "123")
    assert order.extra_fields == (ExtraField("Fintech ID", "F"), ExtraField("Priority", "2"))
    assert NewV3Order(1, 2, extra_fields=[ExtraField("A", Decimal("1.50"))]).extra_fields == (
        ExtraField("A", "1.50"),
    )
    assert NewV3Order(1, 2).extra_fields == ()


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        (("BC1", 2), "whole number"),
        ((0, 2), "at least 1"),
        ((-4, 2), "at least 1"),
        ((True, 2), "str or int"),
        ((1.0, 2), "str or int"),
        (("", 2), "empty"),
        ((1, "x"), "customer_id"),
        ((1, 2, 7.5), "po_number"),
        ((1, 2, None, "Fintech ID=1"), "extra_fields"),
        ((1, 2, None, 5), "extra_fields"),
        ((1, 2, None, [("a", "b")]), "ExtraField"),
        ((1, 2, None, [ExtraField("a", "1"), ExtraField("a", "2")]), "once"),
        ((1, 2, None, {"": "1"}), "field_name"),
        ((1, 2, None, {"a": None}), "field_value"),
    ],
)
def test_new_v3_order_refuses_bad_values(arguments: tuple[Any, ...], fragment: str) -> None:
    """Each invalid value raises InvalidOrderError naming the problem."""
    with pytest.raises(InvalidOrderError, match=fragment):
        NewV3Order(*arguments)


def test_v3_order_sent_holds_what_was_sent() -> None:
    """V3Order.sent carries the sent values and the already_registered flag."""
    order = NewV3Order(9, 8, "PO", {"A": "1"})
    sent = V3Order.sent(order, already_registered=True)
    assert (sent.bc_order_id, sent.customer_id, sent.po_number) == (9, 8, "PO")
    assert sent.extra_fields == order.extra_fields
    assert sent.already_registered
    assert sent.order_id == "9"
    assert sent.raw == {}


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ((1, 2, "PO\ud800"), "po_number is not valid Unicode"),
        ((1, 2, None, {"Fin\ud800": "1"}), "field_name is not valid Unicode"),
        ((1, 2, None, {"Fintech ID": "\udc00"}), "field_value is not valid Unicode"),
        ((1, "2\ud800"), "customer_id is not valid Unicode"),
        ((2**53, 2), "at most"),
    ],
)
def test_new_v3_order_refuses_what_cannot_be_sent(
    arguments: tuple[Any, ...], fragment: str
) -> None:
    """Lone surrogates in any text, and ids past 2**53 - 1, are refused at construction."""
    with pytest.raises(InvalidOrderError, match=fragment):
        NewV3Order(*arguments)


def test_extra_field_numbers_become_their_digits_however_large() -> None:
    """An int value past Python's digit limit for str() still becomes its digits."""
    assert ExtraField("A", 10**5000).field_value == "1" + "0" * 5000
    assert ExtraField("A", -5).field_value == "-5"


@pytest.mark.parametrize(
    "value",
    [Decimal("1E+999999999"), Decimal("0E-999999999"), pytest.param(10**20000, id="10**20000")],
)
def test_a_number_too_long_to_write_out_is_refused_as_an_extra_field_or_po_number(
    value: Any,  # a po_number is typed str: the run-time check is for untyped callers
) -> None:
    """A value whose digits would fill the memory is refused, naming where it was given."""
    with pytest.raises(InvalidOrderError, match="field_value would take"):
        ExtraField("A", value)
    with pytest.raises(InvalidOrderError, match="po_number would take"):
        NewV3Order(1, 2, po_number=value)


def test_new_v3_order_keeps_an_aware_creation_time() -> None:
    """created_at is an aware datetime (any zone) or None."""
    created = datetime(2025, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert NewV3Order(1, 2, "PO", created_at=created).created_at == created
    assert NewV3Order(1, 2).created_at is None


class BrokenZone(tzinfo):
    """A time zone whose ``utcoffset`` gives ``offset``, or raises it when it is an exception."""

    def __init__(self, offset: object) -> None:
        self.offset = offset

    def utcoffset(self, dt: datetime | None) -> timedelta:
        if isinstance(self.offset, Exception):
            raise self.offset
        return self.offset  # type: ignore[return-value]

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return "broken"


@pytest.mark.parametrize(
    "zone",
    [BrokenZone(timedelta(hours=30)), BrokenZone(3600), BrokenZone(LookupError("no such zone"))],
    ids=["30-hour-offset", "int-offset", "raises"],
)
def test_a_creation_time_whose_zone_gives_no_offset_is_refused(zone: tzinfo) -> None:
    """A tzinfo that fails to give an offset is the caller's mistake: InvalidOrderError."""
    with pytest.raises(InvalidOrderError, match="created_at's tzinfo gives no valid UTC offset"):
        NewV3Order(1, 2, created_at=datetime(2025, 3, 1, tzinfo=zone))


@pytest.mark.parametrize(
    ("created_at", "fragment"),
    [
        (datetime(2025, 3, 1), "aware"),
        ("2025-03-01T12:00:00+00:00", "a datetime"),
        (1_740_830_400, "a datetime"),
    ],
)
def test_new_v3_order_refuses_a_creation_time_without_an_instant(
    created_at: Any,
    fragment: str,  # typed datetime | None: the check is for untyped callers
) -> None:
    """A naive datetime, text or a number is refused: the window needs an instant."""
    with pytest.raises(InvalidOrderError, match=f"created_at must be.*{fragment}"):
        NewV3Order(1, 2, created_at=created_at)


@pytest.mark.parametrize(
    "created_at",
    [
        datetime.max.replace(tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 50, tzinfo=UTC),  # the window ends in year 10000
        datetime.max.replace(tzinfo=EAST),  # a year-9999 instant in UTC, but its end overflows
        datetime.max.replace(tzinfo=WEST),  # in UTC already in year 10000
        datetime.min.replace(tzinfo=EAST),  # in UTC still in year 0
    ],
)
def test_a_creation_time_whose_window_a_datetime_cannot_hold_is_refused(
    created_at: datetime,
) -> None:
    """Once accepted, then an OverflowError from create and ensure: now refused up front."""
    with pytest.raises(InvalidOrderError, match="created_at must leave its registration window"):
        NewV3Order(1, 2, created_at=created_at)


def test_the_last_creation_time_accepted_leaves_room_for_its_window_and_margin() -> None:
    """11 s (the 10-second window and its 1-second margin) before year 10000, no later."""
    last = datetime(9999, 12, 31, 23, 59, 48, 999999, tzinfo=UTC)
    assert NewV3Order(1, 2, created_at=last).created_at == last
    with pytest.raises(InvalidOrderError, match="window and margin within the years 1 to 9999"):
        NewV3Order(1, 2, created_at=last + timedelta(microseconds=1))


@given(
    st.datetimes(
        timezones=st.builds(
            timezone, st.timedeltas(min_value=-timedelta(hours=23), max_value=timedelta(hours=23))
        )
    )
)
@hypothesis.example(datetime.max.replace(tzinfo=UTC))
@hypothesis.example(datetime.min.replace(tzinfo=EAST))
@hypothesis.example(datetime.min.replace(tzinfo=WEST))
def test_every_accepted_creation_time_has_a_window(created_at: datetime) -> None:
    """Refused at construction, or its window can be computed: never an OverflowError."""
    try:
        order = NewV3Order(1, 2, created_at=created_at)
    except InvalidOrderError:
        return
    window = RegistrationWindow.of(order.bc_order_id, created_at)
    assert window.ends_at == created_at + timedelta(seconds=REGISTRATION_WINDOW)


@pytest.mark.parametrize(
    ("action", "already"), [("created", False), ("updated", True), ("unchanged", True)]
)
def test_an_ensured_order_says_whether_it_was_registered_before(
    action: EnsureAction, already: bool
) -> None:
    """already_registered (what a bulk run reports) holds unless the call created the order."""
    ensured = EnsuredOrder(action=action, order=V3Order(bc_order_id=7), steps=("get",))
    assert ensured.already_registered is already
    assert ensured.order_id == "7"
    assert ensured.changed == ()


def test_extra_field_names_that_repeat_once_text_are_refused() -> None:
    """{100: ..., "100": ...} names one field twice, as a list of two ExtraFields would."""
    with pytest.raises(InvalidOrderError, match="extra_fields names each field once"):
        NewV3Order(1, 2, extra_fields={100: "a", "100": "b"})  # type: ignore[arg-type]
    with pytest.raises(InvalidOrderError, match="extra_fields names each field once"):
        to_extra_fields({100: "a", "100": "b"})  # type: ignore[arg-type]


def test_an_order_read_from_an_answer_pickles_and_copies() -> None:
    """raw is read-only and picklable: a V3 bulk report crosses a process pool."""
    order = structure({"bcOrderId": 9, "money": {"currency": "USD"}}, V3Order)
    for copied in (pickle.loads(pickle.dumps(order)), copy.deepcopy(order)):
        assert copied == order
        assert copied.raw == {"bcOrderId": 9, "money": {"currency": "USD"}}
        with pytest.raises(TypeError):
            copied.raw["bcOrderId"] = 10  # type: ignore[index]


def test_v3_texts_of_str_subclasses_are_kept_as_their_text() -> None:
    """PO numbers and extra field names and values become exact str, their own text."""
    fields: dict[str, str | int | Decimal] = {OtherText("Cost Center"): OtherText("7")}
    order = NewV3Order(1, 2, OtherText("PO-1"), fields)
    assert (order.po_number, type(order.po_number)) == ("PO-1", str)
    (field,) = order.extra_fields
    assert (type(field.field_name), type(field.field_value)) == (str, str)
    assert (field.field_name, field.field_value) == ("Cost Center", "7")


def test_extra_fields_given_as_none_are_none() -> None:
    """extra_fields=None is no extra fields, as the documented input allows."""
    assert to_extra_fields(None) == ()
    assert NewV3Order(bc_order_id=7, customer_id=8, extra_fields=None).extra_fields == ()


def test_an_update_needs_a_po_number_or_extra_fields_and_either_alone_will_do() -> None:
    """An update of nothing is refused; a PO number alone or extra fields alone are taken."""
    with pytest.raises(InvalidOrderError, match="po_number or extra_fields"):
        V3OrderUpdate()
    assert V3OrderUpdate(po_number="P").extra_fields == ()
    assert V3OrderUpdate(extra_fields={"A": "1"}).po_number is None


def test_a_v3_order_leaves_raw_out_of_its_repr_and_hash() -> None:
    """raw, the whole answer, is neither shown in repr nor hashed, as V2's detail."""
    order = structure({"bcOrderId": 9, "money": {"currency": "USD"}}, V3Order)
    assert "raw" not in repr(order)
    assert hash(order) == hash(structure({"bcOrderId": 9}, V3Order))


def test_a_bool_is_refused_as_text_though_it_is_an_int() -> None:
    """True is no PO number or extra field value (not "1"): refused, naming the argument."""
    with pytest.raises(InvalidOrderError, match="po_number must be a str, got bool"):
        NewV3Order(1, 2, po_number=True)  # type: ignore[arg-type]
    with pytest.raises(InvalidOrderError, match="field_value must be a str, got bool"):
        ExtraField("A", True)


@pytest.mark.parametrize(
    "given", ["Fintech ID=1", b"Fintech ID=1", bytearray(b""), memoryview(b"")]
)
def test_extra_fields_given_as_text_are_refused_as_a_whole(given: Any) -> None:
    """A str or bytes is not read as an iterable of characters: the argument is refused."""
    with pytest.raises(InvalidOrderError, match="extra_fields must be a mapping or an iterable"):
        NewV3Order(1, 2, extra_fields=given)


def test_an_update_checks_its_po_number_as_a_registration_does() -> None:
    """An update's PO number becomes exact text; a bool or a lone surrogate is refused."""
    assert V3OrderUpdate(po_number=OtherText("P")).po_number.__class__ is str
    assert V3OrderUpdate(po_number=7).po_number == "7"  # type: ignore[arg-type]
    for bad in (True, "P\ud800"):
        with pytest.raises(InvalidOrderError, match="po_number"):
            V3OrderUpdate(po_number=bad)  # type: ignore[arg-type]


def test_an_update_normalises_its_extra_fields_as_a_registration_does() -> None:
    """An update's extra fields become a tuple of ExtraField; malformed ones are refused."""
    update = V3OrderUpdate(extra_fields={"Priority": 2})
    assert update.extra_fields == (ExtraField("Priority", "2"),)
    with pytest.raises(InvalidOrderError, match="extra_fields"):
        V3OrderUpdate(extra_fields=[("Priority", "2")])  # type: ignore[list-item]


def test_an_order_as_sent_is_not_already_registered_unless_said() -> None:
    """V3Order.sent without already_registered stands for this call's own registration."""
    assert V3Order.sent(NewV3Order(9, 8)).already_registered is False


def test_a_registration_sends_what_it_was_given_and_leaves_out_the_rest() -> None:
    """The body names ids as ints and drops an absent PO number and extra fields."""
    assert json.loads(encode_model(NewV3Order(" 7 ", "8"))) == {"bcOrderId": 7, "customerId": 8}
    assert NewV3Order(7, 8).po_number is None
    assert json.loads(encode_model(NewV3Order(7, 8, "0")))["poNumber"] == "0"
    full = NewV3Order(7, 8, "PO", {"A": 1})
    assert json.loads(encode_model(full)) == {
        "bcOrderId": 7,
        "customerId": 8,
        "poNumber": "PO",
        "extraFields": [{"fieldName": "A", "fieldValue": "1"}],
    }


def test_a_registration_body_never_carries_its_creation_time() -> None:
    """created_at bounds the call only: the model's own body leaves it out."""
    created = datetime(2025, 3, 1, 12, tzinfo=UTC)
    order = NewV3Order(7, 8, "PO", created_at=created)
    assert json.loads(encode_model(order)) == {"bcOrderId": 7, "customerId": 8, "poNumber": "PO"}


@pytest.mark.parametrize(
    "model", [V3Order, EnsuredOrder, V3ProductOption, V3OrderProduct, ExtraFieldConfig]
)
def test_the_v3_answer_models_take_keywords_only(model: type) -> None:
    """No positional argument is taken: a field's place is no part of the contract."""
    given = [None for field in attrs.fields(model) if field.name != "raw"]
    with pytest.raises(TypeError, match="positional"):
        model(*given)


def test_an_answer_cannot_say_an_order_was_already_registered() -> None:
    """already_registered is the client's own: an answer's alreadyRegistered is never read."""
    answer = {"bcOrderId": 9, "alreadyRegistered": True, "already_registered": True}
    assert structure(answer, V3Order).already_registered is False


@pytest.mark.parametrize(
    ("model", "answer"),
    [
        (V3Order, {"bcOrderId": 9}),
        (V3ProductOption, {}),
        (V3OrderProduct, {}),
        (ExtraFieldConfig, {"fieldName": "A"}),
        (MovedOrders, {}),
    ],
)
def test_what_an_answer_leaves_out_is_read_as_absent(model: type, answer: dict[str, Any]) -> None:
    """An attribute the answer does not carry is None (an empty tuple, or False), never 0."""
    read: object = structure(answer, model)
    for field in attrs.fields(model):
        value = getattr(read, field.name)
        if field.name not in {"bc_order_id", "field_name", "raw"}:
            assert value is None or value == () or value is False, (field.name, value)
