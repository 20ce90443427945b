"""Tests of ``b2b_async/sandbox/_extra_fields.py``: the order extra field configurations, and
the values each accepts.
"""

from __future__ import annotations

import aiohttp
import pytest

from b2b_async.sandbox import OrderExtraField, SandboxServer
from tests.sandbox._helpers import create


async def test_create_accepts_each_kind_of_extra_field(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Text, multi-line, number and drop-down values that fit are stored as sent."""
    fields = [
        {"fieldName": "Fintech ID", "fieldValue": "F"},
        {"fieldName": "Delivery Notes", "fieldValue": "line 1\nline 2"},
        {"fieldName": "Priority", "fieldValue": "2.5"},
        {"fieldName": "Department", "fieldValue": "Retail"},
    ]
    reply = await create(session, unlimited, 9, extraFields=fields)
    assert reply.json()["data"]["extraFields"] == fields


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"fieldName": "Priority", "fieldValue": "high"}, "Priority must be a number"),
        (
            {"fieldName": "Department", "fieldValue": "Space"},
            "Department must be one of Retail, Automotive, Manufacturing",
        ),
        (
            {"fieldName": "Fintech ID", "fieldValue": "x" * 101},
            "Fintech ID must be at most 100 characters",
        ),
    ],
)
async def test_create_with_a_value_that_breaks_its_field_answers_422(
    unlimited: SandboxServer, session: aiohttp.ClientSession, value: dict[str, str], problem: str
) -> None:
    """Not a number, not in the list, too long: 422 in the documented shape, nothing stored."""
    reply = await create(session, unlimited, 1, extraFields=[value])
    assert reply.status == 422
    assert reply.json() == {
        "code": 422,
        "data": {"errMsg": problem},
        "meta": {"message": problem},
    }
    assert not unlimited.orders


def test_extra_field_configuration_checks_its_type() -> None:
    """A configuration's type must be 0 to 3."""
    with pytest.raises(ValueError, match="field_type"):
        OrderExtraField(name="X", field_type=7)


def test_a_text_value_of_the_maximum_length_fits() -> None:
    """A text value exactly maximum_length long fits; one character more does not."""
    field = OrderExtraField(name="Code", maximum_length=3)
    assert field.problem("abc") is None
    assert field.problem("abcd") == "Code must be at most 3 characters"
