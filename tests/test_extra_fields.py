"""The store's rules for order extra field values (``_extra_fields``), pure: no loop, no network."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from b2b_async import ExtraField, ExtraFieldConfig, InvalidOrderError
from b2b_async._extra_fields import (
    DROPDOWN,
    MULTILINE_TEXT,
    NUMBER,
    TEXT,
    check_extra_fields,
    problem_with,
    required_names,
)
from b2b_async._serde import structure


def config(name: str, field_type: int = TEXT, **options: Any) -> ExtraFieldConfig:
    """One field's configuration, as "Get Order Extra Field Configs" describes it."""
    return ExtraFieldConfig(field_name=name, field_type=field_type, **options)


STORE = (
    config("Fintech ID", TEXT, maximum_length=8, is_required=True),
    config("Notes", MULTILINE_TEXT, maximum_length=20),
    config("Priority", NUMBER, maximum_value=Decimal(10)),
    config("Department", DROPDOWN, list_of_values=("Retail", "Automotive")),
)


def named(**values: str) -> list[ExtraField]:
    """Values given by name (underscores stand for spaces)."""
    return [ExtraField(name.replace("_", " "), text) for name, text in values.items()]


def check(**values: str) -> None:
    """Check the values of an update, given by name, against :data:`STORE`."""
    check_extra_fields(named(**values), STORE, update=True)


def test_values_that_fit_pass() -> None:
    """Every rule met: nothing is raised."""
    check(Fintech_ID="F-1", Notes="leave at the door", Priority="-2.5", Department="Retail")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"Fintech_ID": "F-123456789"}, "'Fintech ID' must be at most 8 characters, got 11"),
        ({"Fintech_ID": "F", "Notes": "n" * 21}, "'Notes' must be at most 20 characters"),
        ({"Fintech_ID": "F", "Priority": "high"}, "'Priority' must be a number, got 'high'"),
        ({"Fintech_ID": "F", "Priority": "NaN"}, "'Priority' must be a number"),
        ({"Fintech_ID": "F", "Priority": "11"}, "'Priority' must be at most 10, got 11"),
        ({"Fintech_ID": "F", "Department": "Retai"}, "'Department' must be one of 'Retail',"),
        ({"Fintech_ID": "F", "Colour": "red"}, "extra field 'Colour' is not one of the store's"),
    ],
)
def test_each_rule_names_the_field(values: dict[str, str], message: str) -> None:
    """A required field missing or blank, too long, not a number, too large, not listed, or
    unknown: InvalidOrderError naming the field."""
    with pytest.raises(InvalidOrderError, match=message.replace("(", r"\(")):
        check(**values)


@pytest.mark.parametrize("values", [{"Notes": "x"}, {"Fintech_ID": "   "}])
def test_a_required_field_missing_or_blank_is_refused_in_an_update_not_a_create(
    values: dict[str, str],
) -> None:
    """A required field missing or blank: an update is refused naming it, a create passes."""
    with pytest.raises(InvalidOrderError, match="extra field 'Fintech ID' is required"):
        check(**values)
    check_extra_fields(named(**values), STORE, update=False)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"Notes": "n" * 21}, "'Notes' must be at most 20 characters"),
        ({"Priority": "11"}, "'Priority' must be at most 10, got 11"),
        ({"Department": "Retai"}, "'Department' must be one of 'Retail',"),
        ({"Colour": "red"}, "extra field 'Colour' is not one of the store's"),
    ],
)
def test_a_create_meets_every_rule_but_the_required_one(
    values: dict[str, str], message: str
) -> None:
    """A create without the required field is still refused a value too long, too large, not
    listed, or of an unknown field."""
    with pytest.raises(InvalidOrderError, match=message):
        check_extra_fields(named(**values), STORE, update=False)


def test_limits_that_say_nothing_let_values_pass() -> None:
    """No maximum, a maximum of 0, a drop-down without choices, an unknown type: no rule."""
    assert problem_with("x" * 500, config("A", TEXT)) is None
    assert problem_with("x" * 500, config("A", TEXT, maximum_length=0)) is None
    assert problem_with("anything", config("A", DROPDOWN)) is None
    assert problem_with("1e9", config("A", NUMBER)) is None
    assert problem_with("anything", config("A", 7)) is None
    assert problem_with("anything", ExtraFieldConfig(field_name="A")) is None


def test_a_value_at_its_limit_fits() -> None:
    """A text exactly as long as its maximum, or a number equal to its maximum, passes."""
    assert problem_with("x" * 8, config("A", TEXT, maximum_length=8)) is None
    assert problem_with("n" * 20, config("A", MULTILINE_TEXT, maximum_length=20)) is None
    assert problem_with("10", config("A", NUMBER, maximum_value=Decimal(10))) is None
    assert problem_with("10.00", config("A", NUMBER, maximum_value=Decimal(10))) is None


def test_a_negative_maximum_length_is_no_limit() -> None:
    """A store answering a negative maximum (no length is that short) says nothing of the
    length: the value passes, rather than every order being refused before it is sent."""
    assert problem_with("x" * 500, config("A", TEXT, maximum_length=-1)) is None
    assert problem_with("xx", config("A", TEXT, maximum_length=1)) is not None


def test_required_names_are_the_required_fields() -> None:
    """Only fields marked required are named."""
    assert required_names(STORE) == {"Fintech ID"}
    assert required_names([]) == frozenset()


def test_no_configurations_accept_no_named_value() -> None:
    """A store without extra fields refuses any named value, and requires none."""
    check_extra_fields([], [], update=True)
    with pytest.raises(InvalidOrderError, match="not one of the store's"):
        check_extra_fields([ExtraField("A", "1")], [], update=True)


@pytest.mark.parametrize(
    ("answer", "value", "problem"),
    [
        ({"fieldType": 0, "maximumLength": 2}, "abc", "at most 2 characters"),
        ({"fieldType": 1, "maximumLength": 2}, "abc", "at most 2 characters"),
        ({"fieldType": 2}, "abc", "must be a number"),
        ({"fieldType": 3, "listOfValues": ["x"]}, "abc", "must be one of 'x'"),
    ],
)
def test_each_field_type_of_an_answer_gets_its_rule(
    answer: dict[str, Any], value: str, problem: str
) -> None:
    """fieldType 0 and 1 are text, 2 a number, 3 a drop-down, as the API numbers them."""
    read = structure({"fieldName": "A", **answer}, ExtraFieldConfig)
    assert problem in (problem_with(value, read) or "")
