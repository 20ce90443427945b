"""The store's rules for order extra field values, checked before a request is spent on a 422.

B2B Edition checks every V3 create and update against the store's extra field configurations
("Get Order Extra Field Configs") and answers 422 naming the field. The same rules are applied
here first, from the configurations :class:`~b2b_async.V3Orders` keeps, so that a bad value
costs no request and, on a registration, none of V3's 10-second window. Pure functions: values
and configurations in, ``None`` or :class:`~b2b_async.InvalidOrderError` out.

The rules, one per configuration attribute:

- ``isRequired``: every update carries a non-blank value of the field (the API asks for
  required fields in every update, not only in the first). A create need not: "Create an
  Order" lists no 422, and B2B Edition records an order without any extra field by itself
  once the window has passed;
- ``fieldName``: each value names one of the store's fields;
- ``fieldType`` 2, a number: the value is a finite decimal number, at most ``maximumValue``
  when one is configured;
- ``fieldType`` 0 and 1, text: at most ``maximumLength`` characters when one is configured
  (0 or less stands for none: a limit of no characters would refuse every value);
- ``fieldType`` 3, a drop-down: one of ``listOfValues`` (an empty list lets any value pass,
  as a drop-down without choices says nothing about them).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Final

from ._config import shown
from ._exceptions import InvalidOrderError
from ._v3_models import ExtraField, ExtraFieldConfig

__all__ = [
    "DROPDOWN",
    "MULTILINE_TEXT",
    "NUMBER",
    "TEXT",
    "check_extra_fields",
    "problem_with",
    "required_names",
]

#: ``fieldType`` of a one-line text field.
TEXT: Final = 0
#: ``fieldType`` of a multi-line text field.
MULTILINE_TEXT: Final = 1
#: ``fieldType`` of a number field.
NUMBER: Final = 2
#: ``fieldType`` of a drop-down field.
DROPDOWN: Final = 3


def _number(text: str) -> Decimal | None:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _number_problem(text: str, config: ExtraFieldConfig) -> str | None:
    number = _number(text)
    if number is None:
        return f"must be a number, got {shown(text)}"
    if config.maximum_value is not None and number > config.maximum_value:
        return f"must be at most {config.maximum_value}, got {text}"
    return None


def _length_problem(text: str, config: ExtraFieldConfig) -> str | None:
    longest = config.maximum_length
    if longest is not None and 0 < longest < len(text):
        return f"must be at most {longest} characters, got {len(text)}"
    return None


def _choice_problem(text: str, config: ExtraFieldConfig) -> str | None:
    choices = config.list_of_values
    if choices and text not in choices:
        return f"must be one of {', '.join(map(repr, choices))}, got {shown(text)}"
    return None


def problem_with(text: str, config: ExtraFieldConfig) -> str | None:
    """Why the store would refuse ``text`` as the value of the field ``config`` describes.

    Args:
        text: the value, as it is sent.
        config: the field's configuration.

    Returns:
        The problem (``"must be a number, got 'x'"``), or ``None`` when the value fits.
    """
    if config.field_type == NUMBER:
        return _number_problem(text, config)
    if config.field_type in (TEXT, MULTILINE_TEXT):
        return _length_problem(text, config)
    if config.field_type == DROPDOWN:
        return _choice_problem(text, config)
    return None  # a kind of field this version does not know: the API decides


def required_names(configs: Iterable[ExtraFieldConfig]) -> frozenset[str]:
    """The names of the fields every update must carry."""
    return frozenset(config.field_name for config in configs if config.is_required)


def check_extra_fields(
    fields: Iterable[ExtraField], configs: Iterable[ExtraFieldConfig], *, update: bool
) -> None:
    """Check the extra field values of one create or update against the store's rules.

    Args:
        fields: every value the request carries.
        configs: the store's configurations.
        update: whether the request is an update, which must carry every required field;
            a create's values meet every other rule, not that one.

    Raises:
        InvalidOrderError: naming the first field that breaks a rule (see the module).
    """
    by_name = {config.field_name: config for config in configs}
    given = {field.field_name: field.field_value for field in fields}
    for name, text in given.items():
        config = by_name.get(name)
        if config is None:
            raise InvalidOrderError(f"extra field {name!r} is not one of the store's")
        problem = problem_with(text, config)
        if problem is not None:
            raise InvalidOrderError(f"extra field {name!r} {problem}")
    if not update:
        return
    for name in sorted(required_names(by_name.values())):
        if not given.get(name, "").strip():
            raise InvalidOrderError(f"extra field {name!r} is required")
