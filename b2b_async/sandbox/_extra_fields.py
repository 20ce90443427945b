"""The order extra fields a store configures (a V3 feature), and the values each accepts.

V3 answers a value that breaks its field's rule (:meth:`OrderExtraField.problem`: a number for
a number field, the maximum length of a text field, a drop-down's list) with 422, and an update
that leaves a required field without a value too (see ``_v3_input``).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Final

import attrs

__all__ = [
    "DEFAULT_ORDER_EXTRA_FIELDS",
    "DROPDOWN",
    "MULTILINE_TEXT",
    "NUMBER",
    "TEXT",
    "OrderExtraField",
    "configs_by_name",
]

TEXT: Final = 0
"""The field type of a one-line text field."""
MULTILINE_TEXT: Final = 1
"""The field type of a multi-line text field."""
NUMBER: Final = 2
"""The field type of a number field."""
DROPDOWN: Final = 3
"""The field type of a drop-down field."""


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _is_number(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except InvalidOperation:
        return False


@attrs.frozen(kw_only=True)
class OrderExtraField:
    """An order extra field configured in the sandbox's B2B Edition.

    Args:
        name: the field's name (``fieldName``), unique among the store's order extra fields.
        field_type: 0 text, 1 multi-line text, 2 number, 3 drop-down.
        required: whether every V3 update must leave it with a value (else 422); creates may
            leave it out, as B2B Edition's own records of late orders do.
        label: the label buyers see; the name when ``None``.
        default_value: the value shown before one is chosen.
        maximum_length: the longest value of a text or multi-line field (else 422); ``None``
            for no limit.
        choices: the values a drop-down field accepts (else 422).

    .. versionadded:: 0.1.0
    """

    name: str
    field_type: int = attrs.field(default=TEXT, validator=attrs.validators.in_((0, 1, 2, 3)))
    required: bool = False
    label: str | None = None
    default_value: str = ""
    maximum_length: int | None = 100
    choices: tuple[str, ...] = attrs.field(default=(), converter=_strings)

    def problem(self, value: str) -> str | None:
        """Why ``value`` does not fit this field, or ``None`` when it does."""
        if self.field_type == NUMBER and not _is_number(value):
            return f"{self.name} must be a number"
        if self.field_type == DROPDOWN and value not in self.choices:
            return f"{self.name} must be one of {', '.join(self.choices)}"
        longest = self.maximum_length if self.field_type in (TEXT, MULTILINE_TEXT) else None
        if longest is not None and len(value) > longest:
            return f"{self.name} must be at most {longest} characters"
        return None


DEFAULT_ORDER_EXTRA_FIELDS: Final = (
    OrderExtraField(name="Fintech ID"),
    OrderExtraField(name="Delivery Notes", field_type=MULTILINE_TEXT, maximum_length=500),
    OrderExtraField(name="Priority", field_type=NUMBER, maximum_length=None),
    OrderExtraField(
        name="Department",
        field_type=DROPDOWN,
        maximum_length=None,
        choices=("Retail", "Automotive", "Manufacturing"),
    ),
)
"""The order extra fields a sandbox starts with: none of them required.

.. versionadded:: 0.1.0
"""


def configs_by_name(fields: Iterable[OrderExtraField]) -> dict[str, OrderExtraField]:
    """The configurations by field name.

    Args:
        fields: the store's configured fields.

    Returns:
        Each field by its name.
    """
    return {field.name: field for field in fields}
