"""The one cattrs converter: how models become JSON bodies and responses become models.

Wire decisions, each made here and nowhere else:

- attribute names are snake_case in Python and camelCase on the wire (``order_id`` ↔
  ``orderId``);
- optional attributes left at ``None`` are omitted from request bodies;
- unknown keys in responses are ignored, never an error;
- ids are lenient: one that arrives as an int or a string becomes ``str``;
- amounts are lenient: a number or a numeric string (``"100.0000"``) becomes ``Decimal``,
  and a ``Decimal`` goes out as a JSON number;
- path parameters (``company_id``, ``customer_id``) never enter a request body;
- a response that does not fit its model raises
  :class:`~b2b_async.ResponseDecodeError` naming the path, as in ``$.data.orderId``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._exceptions import ResponseDecodeError
from ._models import NewOrder

__all__ = ["converter", "structure", "to_camel", "unstructure"]

T = TypeVar("T")

#: Request-body attributes that travel in the URL path instead.
PATH_FIELDS: Final = frozenset({"company_id", "customer_id"})


def to_camel(name: str) -> str:
    """Turn a snake_case attribute name into its camelCase wire name."""
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def _structure_str(value: object, _: type) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected a string or an integer, got {type(value).__name__}")


def _structure_decimal(value: object, _: type) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a number, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("expected a finite number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("expected a numeric value") from None
    if not number.is_finite():
        raise ValueError("expected a finite number")
    return number


def _unstructure_decimal(value: Decimal) -> float | int:
    # Models already refuse totals a float cannot carry exactly (see NewOrder).
    return int(value) if value == value.to_integral_value() else float(value)


def _camel_overrides(cls: type, **extra: Any) -> dict[str, Any]:
    names = {field.name: override(rename=to_camel(field.name)) for field in attrs.fields(cls)}
    names.update(extra)
    return names


def _build() -> cattrs.Converter:
    conv = cattrs.Converter(omit_if_default=True, prefer_attrib_converters=False)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(Decimal, _structure_decimal)
    conv.register_unstructure_hook(Decimal, _unstructure_decimal)

    def unstructure_factory(cls: type) -> Callable[[Any], dict[str, Any]]:
        skip = {name: override(omit=True) for name in PATH_FIELDS} if cls is NewOrder else {}
        return make_dict_unstructure_fn(
            cls, conv, _cattrs_omit_if_default=True, **_camel_overrides(cls, **skip)
        )

    def structure_factory(cls: type) -> Callable[[Any, type], Any]:
        return make_dict_structure_fn(cls, conv, **_camel_overrides(cls))

    conv.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    conv.register_structure_hook_factory(attrs.has, structure_factory)
    return conv


converter: Final = _build()


def unstructure(value: Any) -> Any:
    """Turn a model into the JSON-ready value the API expects."""
    return converter.unstructure(value)


def structure(data: object, cls: type[T], *, path: str = "$.data") -> T:
    """Turn a response's ``data`` into ``cls``, or raise a decode error naming the path.

    Args:
        data: the decoded ``data`` member of the envelope.
        cls: the model to build.
        path: where ``data`` sits in the body, for the error message.

    Raises:
        ResponseDecodeError: ``data`` does not fit ``cls``.
    """
    if attrs.has(cls) and not isinstance(data, Mapping):
        raise ResponseDecodeError(
            f"response does not fit {cls.__name__}: expected a JSON object, "
            f"got {type(data).__name__}",
            path=path,
        )
    try:
        return converter.structure(data, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError, AttributeError) as exc:
        problems = (
            cattrs.transform_error(exc, path=path)
            if isinstance(exc, cattrs.BaseValidationError)
            else [f"{exc} @ {path}"]
        )
        message, _, where = problems[0].rpartition(" @ ")
        raise ResponseDecodeError(
            f"response does not fit {cls.__name__}: {message}", path=_wire_path(where or path)
        ) from exc


def _wire_path(path: str) -> str:
    # transform_error names attributes; users read the body, so name its keys instead.
    return ".".join(to_camel(part) for part in path.split("."))
