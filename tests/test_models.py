"""NewOrder and CreatedOrder: validation before anything is sent, and the serde rules."""

from __future__ import annotations

import json
import json.encoder
import math
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from b2b_async import CreatedOrder, InvalidOrderError, NewOrder, ResponseDecodeError
from b2b_async._routes import to_id
from b2b_async._serde import encode_body, structure, to_camel, unstructure
from b2b_async._v2 import registration


def test_new_order_normalises_values() -> None:
    """Ids become str, the total a Decimal, whatever form they were given in."""
    order = NewOrder(123, 456, 789, "259.99", "PO-7")
    assert order == NewOrder("123", "456", "789", Decimal("259.99"), "PO-7")
    assert NewOrder("1", "2", " BC1 ", 10).order_id == "BC1"
    assert NewOrder(None, "2", "BC1", 1.5).company_id is None


def test_new_order_is_frozen() -> None:
    """A NewOrder cannot change after it was validated."""
    order = NewOrder("1", "2", "BC1", 1)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        order.order_id = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"order_id": ""}, "order_id must not be empty"),
        ({"order_id": "   "}, "order_id must not be empty"),
        ({"customer_id": ""}, "customer_id must not be empty"),
        ({"company_id": ""}, "company_id must not be empty"),
        ({"order_id": None}, "order_id must be a str or int"),
        ({"order_id": True}, "order_id must be a str or int"),
        ({"customer_id": -4}, "customer_id must not be negative"),
        ({"order_id": "BC1\r\nX-Evil: 1"}, "control characters"),
        ({"total_inc_tax": math.nan}, "finite"),
        ({"total_inc_tax": math.inf}, "finite"),
        ({"total_inc_tax": Decimal("NaN")}, "finite"),
        ({"total_inc_tax": Decimal("-Infinity")}, "finite"),
        ({"total_inc_tax": "Infinity"}, "finite"),
        ({"total_inc_tax": -0.01}, "negative"),
        ({"total_inc_tax": "abc"}, "not a number"),
        ({"total_inc_tax": True}, "must be a Decimal"),
        ({"total_inc_tax": None}, "must be a Decimal"),
        ({"total_inc_tax": Decimal("1.2345678901234567")}, "significant digits"),
        ({"po_number": 7}, "po_number must be a str"),
    ],
)
def test_invalid_values_raise_invalid_order_error(kwargs: dict[str, Any], fragment: str) -> None:
    """Each invalid value raises InvalidOrderError (a ValueError) naming the field."""
    values: dict[str, Any] = {
        "company_id": "1",
        "customer_id": "2",
        "order_id": "BC1",
        "total_inc_tax": 1,
    }
    values.update(kwargs)
    with pytest.raises(InvalidOrderError, match=fragment) as info:
        NewOrder(**values)
    assert isinstance(info.value, ValueError)


def test_body_is_camel_case_without_path_fields() -> None:
    """The body carries orderId, totalIncTax as a number and poNumber only when given."""
    assert unstructure(NewOrder("1", "2", "BC1", Decimal("259.99"), "PO-7")) == {
        "orderId": "BC1",
        "totalIncTax": 259.99,
        "poNumber": "PO-7",
    }
    assert unstructure(NewOrder("1", "2", "BC1", "10.00")) == {"orderId": "BC1", "totalIncTax": 10}


def test_created_order_accepts_int_or_str_ids_and_ignores_unknown_keys() -> None:
    """orderId as int or str becomes str; extra keys are ignored."""
    assert structure({"orderId": 42, "extra": [1]}, CreatedOrder) == CreatedOrder("42")
    assert structure({"orderId": "BC1"}, CreatedOrder) == CreatedOrder("BC1")


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"orderId": [1]}, "$.data.orderId"),
        ({"orderId": True}, "$.data.orderId"),
        ({}, "$.data.orderId"),
        ([{"orderId": 1}], "$.data"),
        (None, "$.data"),
    ],
)
def test_created_order_that_does_not_fit_names_the_path(data: Any, path: str) -> None:
    """A data member that does not fit raises ResponseDecodeError with the wire path."""
    with pytest.raises(ResponseDecodeError) as info:
        structure(data, CreatedOrder)
    assert info.value.path == path


def test_to_camel() -> None:
    """snake_case names become camelCase wire names."""
    assert to_camel("total_inc_tax") == "totalIncTax"
    assert to_camel("order_id") == "orderId"
    assert to_camel("x") == "x"


ids = st.one_of(
    st.integers(min_value=0, max_value=10**12),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), min_size=1).filter(
        str.strip
    ),
)
totals = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)


@given(ids, ids, ids, totals, st.none() | st.text(max_size=30))
def test_body_round_trip(
    company: Any, customer: Any, order: Any, total: Decimal, po: str | None
) -> None:
    """Any valid order's body carries exactly its id, total and PO number."""
    new = NewOrder(company, customer, order, total, po)
    body = unstructure(new)
    assert body["orderId"] == new.order_id
    assert Decimal(str(body["totalIncTax"])) == total
    assert body.get("poNumber") == po
    assert set(body) <= {"orderId", "totalIncTax", "poNumber"}


@given(ids, ids, ids, totals, st.none() | st.text(max_size=30))
def test_registration_body_is_encoded_like_any_other_body(
    company: Any, customer: Any, order: Any, total: Decimal, po: str | None
) -> None:
    """The registration body goes through the converter and encode_body like any body."""
    new = NewOrder(company, customer, order, total, po)
    payload = unstructure(new)
    assert registration(new).body == encode_body(payload)
    assert json.loads(registration(new).body or b"") == payload


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


@given(st.integers(min_value=-5, max_value=10**15) | st.text(max_size=12) | st.booleans())
def test_every_id_field_agrees_with_to_id(value: Any) -> None:
    """Every id converter of NewOrder gives what :func:`to_id` gives."""
    for field in ("company_id", "customer_id", "order_id"):
        try:
            expected = to_id(value, field=field)
        except InvalidOrderError:
            with pytest.raises(InvalidOrderError, match=field):
                NewOrder(
                    **{"company_id": 1, "customer_id": 2, "order_id": 3, field: value},
                    total_inc_tax=1,
                )
        else:
            order = NewOrder(
                **{"company_id": 1, "customer_id": 2, "order_id": 3, field: value}, total_inc_tax=1
            )
            assert getattr(order, field) == expected


@pytest.mark.parametrize(
    ("total", "accepted"),
    [
        (Decimal("123456789012.345"), True),  # 15 digits in 16 characters
        (Decimal("1234567890123.456"), False),  # 16 digits
        (Decimal("0.00000000000000001"), True),  # one digit, many characters
        (Decimal("1.000000000000000000"), True),  # trailing zeros: exact as a float
        (Decimal("12345678901234.5"), True),  # 15 digits in 16 characters
    ],
)
def test_total_digit_limit_whatever_the_length_of_its_text(total: Decimal, accepted: bool) -> None:
    """The quick check on a total's text never decides a total the full check would refuse."""
    if accepted:
        assert NewOrder(1, 2, 3, total).total_inc_tax == total
    else:
        with pytest.raises(InvalidOrderError, match="significant digits"):
            NewOrder(1, 2, 3, total)


def test_evolve_checks_and_normalises_like_construction() -> None:
    """A changed copy passes the same checks as a new order."""
    order = NewOrder(1, 2, "BC1", Decimal("10.50"))
    assert attrs.evolve(order, customer_id=7, po_number="PO") == NewOrder(
        1, "7", "BC1", "10.50", "PO"
    )
    with pytest.raises(InvalidOrderError, match="total_inc_tax"):
        attrs.evolve(order, total_inc_tax=Decimal("-1"))
    with pytest.raises(InvalidOrderError, match="po_number"):
        attrs.evolve(order, po_number=5)  # type: ignore[arg-type]


def test_po_number_of_a_str_subclass_is_kept() -> None:
    """A str subclass is a str: it is accepted as the PO number."""

    class Reference(str):
        pass

    order = NewOrder(1, 2, "BC1", 1, Reference("PO-9"))
    assert order.po_number == "PO-9"
    assert unstructure(order)["poNumber"] == "PO-9"
