"""The V3 models: what a registration accepts, and what it stands for without an answer."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from b2b_async import (
    ExtraField,
    InvalidOrderError,
    NewV3Order,
    V3Order,
)


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
