"""The one cattrs converter: how models become JSON bodies and responses become models.

Wire decisions, each made here and nowhere else:

- attribute names are snake_case in Python and camelCase on the wire (``order_id`` ↔
  ``orderId``), unless a field's :func:`wire` metadata names its wire key (BigCommerce's core
  order object is snake_case: ``total_inc_tax``; a few keys are irregular: ``customerID``);
- a field's :func:`wire` metadata may list aliases, read when its own key is absent
  (``paginator`` for ``pagination``, ``OrderStatus`` for ``orderStatus``); an error path
  names the field's own key;
- a field marked ``wire(raw=True)`` receives the whole response object, unknown keys
  included, as a read-only mapping; it never enters a request body;
- optional attributes left at ``None`` (and empty tuples) are omitted from request bodies;
- unknown keys in responses are ignored, never an error;
- an answer's ``data`` of ``null``, ``{}`` or ``[]`` describes nothing (:func:`is_empty`);
- ids are lenient: one that arrives as an int, a whole float (``168.0``, where a schema
  types it ``number``; below 2**53, from which on a float may be another number rounded) or
  a string becomes ``str``, and whole numbers read as ``int`` follow the same rule;
- amounts are lenient: a number or a numeric string (``"100.0000"``) becomes ``Decimal``
  (its digits ASCII, as JSON writes them: ``"1_000"`` and ``"١٢"`` are no numbers),
  and a ``Decimal`` goes out as a JSON number, or as a plain decimal string
  (``"10.98"``) for a field marked ``wire(text=True)``, as schemas that type every field a
  string require;
- counts are lenient: ``20``, ``20.0``, ``"20"`` and ``"20.0000"`` become ``int``; a
  fraction is an error, and so is a whole number of more than
  :data:`~b2b_async._config.MAX_WHOLE_DIGITS` digits, refused before ``int()`` is tried;
- flags are lenient: ``true``/``false``, ``1``/``0`` and their strings become ``bool``;
- times are lenient: Unix seconds (``1572323610`` or ``"1572323610"``), RFC 2822
  (``"Tue, 29 Oct 2019 12:33:25 +0000"``) or ISO 8601 become an aware ``datetime``
  (UTC when the text names no offset);
- an empty string (or ``null``) where an optional number, flag or time is expected is
  ``None``, and where a list is expected, an empty tuple; any text is an empty tuple for a
  list that the published schema types as a string (``wire(text_in_answers=True)``);
- a ``datetime.date`` goes out as ``MM/DD/YYYY``, the format the API documents for dates;
- a field marked ``wire(path=True)`` travels in the URL path: it never enters a request body;
- a field marked ``wire(local=True)`` is the client's own knowledge (whether an earlier
  attempt registered the order, when BigCommerce created it): never read from an answer,
  never sent;
- request bodies are compact JSON (no spaces, no NaN or infinity: :func:`encode_body`);
- a response that does not fit its model raises
  :class:`~b2b_async.ResponseDecodeError` naming the path, as in ``$.data.orderId``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from types import NoneType, UnionType
from typing import Any, Final, TypeVar, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory
from cattrs.errors import ClassValidationError, IterableValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.v import format_exception

from ._config import MAX_NUMBER_TEXT, MAX_WHOLE_DIGITS
from ._exceptions import InvalidOrderError, ResponseDecodeError

__all__ = [
    "ReadOnlyMapping",
    "Wire",
    "converter",
    "encode_body",
    "encode_model",
    "is_empty",
    "json_decimal",
    "number_text",
    "one_or_many",
    "structure",
    "to_camel",
    "unstructure",
    "wire",
    "written_length",
]

T = TypeVar("T")

#: The attrs metadata key holding a field's :class:`Wire`.
WIRE: Final = "b2b_async.wire"
#: Optional types whose empty string means "no value".
_BLANK_IS_NONE: Final = frozenset({bool, int, Decimal, datetime})
_TRUE: Final = frozenset({"1", "true"})
_FALSE: Final = frozenset({"0", "false"})


class ReadOnlyMapping(Mapping[str, Any]):
    """A response object kept as received: read-only, and picklable (a ``mappingproxy`` is not).

    The converter of every ``raw`` field: it keeps a copy of the mapping it is given.

    Only the mapping itself is read-only: its nested objects and arrays are the ``dict`` and
    ``list`` values JSON decodes to, the model's own copy.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._data!r})"

    def __reduce__(self) -> tuple[type[ReadOnlyMapping], tuple[dict[str, Any]]]:
        return type(self), (self._data,)


@attrs.frozen
class Wire:
    """How one attribute appears on the wire (see :func:`wire`).

    Attributes:
        name: the wire key; ``None`` for the attribute's camelCase name.
        aliases: other keys read, in order, when ``name`` is absent from a response.
        verbatim: the wire key is the attribute's own (snake_case) name.
        text: the value goes out as a JSON string.
        raw: the attribute receives the whole response object.
        path: the attribute travels in the URL path, never in a request body.
        local: the attribute is the client's own: never read from an answer, never sent.
        text_in_answers: the published schema types this list a string: text in an answer
            holds no item, and the list is read as empty (``raw`` keeps the text).
    """

    name: str | None = None
    aliases: tuple[str, ...] = ()
    verbatim: bool = False
    text: bool = False
    raw: bool = False
    path: bool = False
    local: bool = False
    text_in_answers: bool = False


#: Floats below this hold every whole number exactly; from it on, one may be another rounded.
_EXACT_IN_FLOAT: Final = 2**53

_PLAIN: Final = Wire()


def wire(
    name: str | None = None,
    *,
    aliases: Sequence[str] = (),
    verbatim: bool = False,
    text: bool = False,
    raw: bool = False,
    path: bool = False,
    local: bool = False,
    text_in_answers: bool = False,
) -> dict[str, Wire]:
    """Build the attrs ``metadata`` that tells the converter how a field is spelled and sent.

    Args:
        name: the wire key, when it is not the camelCase of the attribute name.
        aliases: keys also accepted in responses, read in order when ``name`` is absent.
        verbatim: the wire key is the attribute name itself (snake_case payloads).
        text: send the value as a JSON string (``Decimal("10.98")`` → ``"10.98"``).
        raw: fill the attribute with the whole response object, unknown keys included.
        path: the attribute is a path parameter, left out of request bodies.
        local: the attribute is the client's own, neither read from answers nor sent.
        text_in_answers: a list the schema types as a string: text in an answer is no item.

    Returns:
        The metadata mapping, for ``attrs.field(metadata=...)``.
    """
    return {WIRE: Wire(name, tuple(aliases), verbatim, text, raw, path, local, text_in_answers)}


def to_camel(name: str) -> str:
    """Turn a snake_case attribute name into its camelCase wire name."""
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def _spec(field: attrs.Attribute[Any]) -> Wire:
    spec = field.metadata.get(WIRE, _PLAIN)
    return spec if isinstance(spec, Wire) else _PLAIN


def wire_name(field: attrs.Attribute[Any]) -> str:
    """The key under which ``field`` travels on the wire."""
    spec = _spec(field)
    if spec.name is not None:
        return spec.name
    return field.name if spec.verbatim else to_camel(field.name)


def _structure_str(value: object, _: type) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):  # schemas that type an id ``number`` allow ``168.0``
        return str(_exact_whole(value))
    raise ValueError(f"expected a string or a whole number, got {type(value).__name__}")


def _exact_whole(value: float) -> int:
    """The whole number a float stands for, for sure: from 2**53 on, a float may be another
    whole number rounded (``9007199254740993`` reads as ``2.0**53``).

    Raises:
        ValueError: the float has a fraction, is not finite, or is 2**53 or more.
    """
    if not (value.is_integer() and abs(value) < _EXACT_IN_FLOAT):
        raise ValueError(f"expected a whole number below 2**53, got {value!r}")
    return int(value)


def _structure_decimal(value: object, _: type) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a number, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("expected a finite number")
    try:
        number = json_decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("expected a numeric value") from None
    if not number.is_finite():
        raise ValueError("expected a finite number")
    return number


def json_decimal(text: str) -> Decimal:
    """Read a number written as JSON writes one, in ASCII: the one reading of every amount,
    sent or answered.

    Raises:
        InvalidOperation: ``text`` is no such number. ``Decimal`` alone would also read
            digits of other scripts (``"١٢"``) and underscores (``"1_000"``).
    """
    if not text.isascii() or "_" in text:
        raise InvalidOperation
    return Decimal(text)


def _structure_int(value: object, _: type) -> int:
    if isinstance(value, float):
        return _exact_whole(value)
    if isinstance(value, int) and not isinstance(value, bool):
        number = Decimal(value)
    else:
        number = _structure_decimal(value, Decimal)
    if number.adjusted() >= MAX_WHOLE_DIGITS:  # before int(), which could take hours
        raise ValueError(f"expected a whole number of at most {MAX_WHOLE_DIGITS} digits")
    if number != number.to_integral_value():
        raise ValueError(f"expected a whole number, got {number}")
    return int(number)


def _structure_bool(value: object, _: type) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, int | str) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected a flag (true/false, 1/0), got {value!r}")


def _structure_datetime(value: object, _: type) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a time, got {type(value).__name__}")
    text = str(value).strip()
    if isinstance(value, int | float) or (text.isascii() and text.isdecimal()):
        try:
            return datetime.fromtimestamp(float(text), UTC)
        except (OverflowError, OSError, ValueError):  # NaN, or a time out of range
            raise ValueError(f"expected a time, got {text[:40]!r}") from None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"expected a time, got {text[:40]!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _unstructure_decimal(value: Decimal) -> float | int:
    # Models already refuse totals a float cannot carry exactly (see NewOrder).
    return int(value) if value == value.to_integral_value() else float(value)


def _unstructure_date(value: date) -> str:
    # Not strftime: its %Y leaves a year before 1000 unpadded on some platforms ("1/1/999").
    return f"{value.month:02}/{value.day:02}/{value.year:04}"


def _as_text(value: object) -> str:
    return number_text(value, field="value") if isinstance(value, Decimal) else str(value)


def number_text(value: Decimal, *, field: str) -> str:
    """A finite ``value`` written out in full, as a number sent as text must be.

    Exponent notation (``1E+2``) would not be read as a number, so every digit is written;
    a number whose digits would run past :data:`~b2b_async._config.MAX_NUMBER_TEXT`
    characters (``1E+999999999``, or a zero written ``0E-999999999``) is refused before it
    fills the memory.

    Raises:
        InvalidOrderError: the number would be written in more characters than that.
    """
    length = written_length(value)
    if length > MAX_NUMBER_TEXT:
        raise InvalidOrderError(
            f"{field} would take {length} characters written out, more than {MAX_NUMBER_TEXT}"
        )
    return format(value, "f")


def written_length(value: Decimal) -> int:
    """How many characters a finite ``value`` takes written out in full, counted, not written."""
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int), "only a finite number is written out"
    if exponent >= 0:  # 123E+3: the digits, then the zeros
        return sign + len(digits) + exponent
    if len(digits) > -exponent:  # 12.345: the digits and a point
        return sign + len(digits) + 1
    return sign - exponent + 2  # 0.00123: "0.", then zeros and digits to the exponent


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _optional_inner(cls: Any) -> type | None:
    """``X`` when ``cls`` is ``X | None`` for one of the blank-is-None types."""
    if get_origin(cls) not in (Union, UnionType):
        return None
    args = [arg for arg in get_args(cls) if arg is not NoneType]
    if len(args) != 1 or len(get_args(cls)) != 2 or args[0] not in _BLANK_IS_NONE:
        return None
    inner: type = args[0]
    return inner


def _is_homogeneous_tuple(cls: Any) -> bool:
    args = get_args(cls)
    return get_origin(cls) is tuple and len(args) == 2 and args[1] is Ellipsis


def _resolve_aliases(
    data: Mapping[str, Any], aliases: Mapping[str, tuple[str, ...]]
) -> Mapping[str, Any]:
    """Copy ``data`` with each absent key filled from its first present alias."""
    found: dict[str, Any] = {}
    for name, names in aliases.items():
        present = next((alias for alias in names if alias in data), None)
        if name not in data and present is not None:
            found[name] = data[present]
    return {**data, **found} if found else data


def _optional_hook(cls: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    inner = _optional_inner(cls)
    hook = conv.get_structure_hook(inner)
    return lambda value, _: None if _blank(value) else hook(value, inner)


def _tuple_hook(cls: Any, conv: cattrs.Converter) -> Callable[[Any, Any], tuple[Any, ...]]:
    default = homogenous_tuple_structure_factory(cls, conv)

    def structure_tuple(value: Any, type_: Any) -> tuple[Any, ...]:
        if _blank(value):
            return ()
        if isinstance(value, str | Mapping):
            raise ValueError(f"expected a list, got {type(value).__name__}")
        return tuple(default(value, type_))

    return structure_tuple


def _unstructure_hook(cls: type, conv: cattrs.Converter) -> Callable[[Any], dict[str, Any]]:
    overrides: dict[str, Any] = {}
    for field in attrs.fields(cls):
        spec = _spec(field)
        if spec.raw or spec.path or spec.local:
            overrides[field.name] = override(omit=True)
        else:
            hook = _as_text if spec.text else None
            overrides[field.name] = override(rename=wire_name(field), unstruct_hook=hook)
    return make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True, **overrides)


def _takes_no_key(field: attrs.Attribute[Any]) -> bool:
    """Whether a field reads no key of an answer: it takes the whole object, or is the
    client's own."""
    spec = _spec(field)
    return spec.raw or spec.local


def _read_override(field: attrs.Attribute[Any], conv: cattrs.Converter) -> Any:
    """How a model reads ``field`` from an answer: not at all, by its wire key, or by its wire
    key with text read as an empty list (``wire(text_in_answers=True)``)."""
    if _takes_no_key(field):
        return override(omit=True)
    if not _spec(field).text_in_answers:
        return override(rename=wire_name(field))

    def list_or_text(value: Any, type_: Any) -> Any:
        return () if isinstance(value, str) else conv.structure(value, type_)

    return override(rename=wire_name(field), struct_hook=list_or_text)


def _structure_hook(cls: type, conv: cattrs.Converter) -> Callable[[Any, type], Any]:
    fields = attrs.fields(cls)
    overrides: dict[str, Any] = {field.name: _read_override(field, conv) for field in fields}
    base: Callable[[Any, type], Any] = make_dict_structure_fn(cls, conv, **overrides)
    aliases = {wire_name(field): _spec(field).aliases for field in fields if _spec(field).aliases}
    raw = next((field.name for field in fields if _spec(field).raw), None)

    def structure_model(data: Any, type_: type) -> Any:
        # A string would pass the generated code's `"key" in data` tests as an empty object.
        # JSON objects decode to dict: the exact type check spares the ABC check on hot paths.
        if type(data) is not dict and not isinstance(data, Mapping):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        value = base(_resolve_aliases(data, aliases) if aliases else data, type_)
        if raw is not None:
            value = attrs.evolve(value, **{raw: data})  # its converter copies it
        return value

    return structure_model


def _build() -> cattrs.Converter:
    conv = cattrs.Converter(omit_if_default=True, prefer_attrib_converters=False)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(Decimal, _structure_decimal)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_unstructure_hook(Decimal, _unstructure_decimal)
    conv.register_unstructure_hook(date, _unstructure_date)
    conv.register_structure_hook_factory(
        lambda cls: _optional_inner(cls) is not None, _optional_hook
    )
    conv.register_structure_hook_factory(_is_homogeneous_tuple, _tuple_hook)
    conv.register_unstructure_hook_factory(attrs.has, _unstructure_hook)
    conv.register_structure_hook_factory(attrs.has, _structure_hook)
    return conv


converter: Final = _build()
#: One encoder for every request body: ``json.dumps`` with options would build one a call.
_BODY_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def unstructure(value: Any) -> Any:
    """Turn a model into the JSON-ready value the API expects."""
    return converter.unstructure(value)


def encode_body(payload: object) -> bytes:
    """Encode a JSON request body compactly.

    Args:
        payload: a JSON-ready value (see :func:`unstructure`).

    Returns:
        The body, UTF-8 JSON without spaces.

    Raises:
        TypeError: a value JSON cannot hold.
        ValueError: NaN or an infinity (JSON has neither).
    """
    return _BODY_ENCODER.encode(payload).encode()


def encode_model(model: object) -> bytes:
    """Encode a request model as its JSON body: :func:`unstructure`, then :func:`encode_body`."""
    return encode_body(unstructure(model))


def structure(data: object, cls: type[T], *, path: str = "$.data") -> T:
    """Turn a response's ``data`` into ``cls``, or raise a decode error naming the path.

    Args:
        data: the decoded ``data`` member of the envelope.
        cls: the model to build.
        path: where ``data`` sits in the body, for the error message.

    Raises:
        ResponseDecodeError: ``data`` does not fit ``cls``.
    """
    try:
        return converter.structure(data, cls)  # a model's hook refuses what is no JSON object
    except (cattrs.BaseValidationError, ValueError, TypeError, AttributeError) as exc:
        message, where = first_problem(exc, path)
        name = getattr(cls, "__name__", str(cls))
        raise ResponseDecodeError(f"response does not fit {name}: {message}", path=where) from exc


def first_problem(exc: BaseException, path: str, expected: type | None = None) -> tuple[str, str]:
    """The first problem inside a cattrs validation error, and its path in wire keys.

    Like :func:`cattrs.transform_error`, but a class's attribute is named by its wire key
    (``totalIncTax``, ``total_inc_tax`` or ``customerID``, whichever the model declares),
    since users read the body, not the model.
    """
    if isinstance(exc, ClassValidationError):
        with_notes, without = exc.group_exceptions()
        if with_notes:
            inner, note = with_notes[0]
            key = _attribute_key(exc.cl, note.name)
            return first_problem(inner, f"{path}.{key}", note.type)
        return first_problem(without[0], path)
    if isinstance(exc, IterableValidationError):
        indexed, rest = exc.group_exceptions()
        if indexed:
            inner, item = indexed[0]
            return first_problem(inner, f"{path}[{item.index!r}]", item.type)
        return first_problem(rest[0], path)
    if expected is None and not isinstance(exc, cattrs.BaseValidationError):
        return str(exc), path
    return format_exception(exc, expected), path


def _attribute_key(cls: type, name: str) -> str:
    for field in attrs.fields(cls):
        if field.name == name:
            return wire_name(field)
    return to_camel(name)  # pragma: no cover - cattrs names only the class's own fields


def is_empty(data: object) -> bool:
    """Whether an answer's ``data`` describes nothing: ``null``, ``{}`` or ``[]`` (a server
    may write an empty map as an empty list)."""
    return data is None or (isinstance(data, Mapping | list) and not data)


def one_or_many(data: object, cls: type[T]) -> list[T]:
    """Read ``data`` that may be a list of objects, one object, an empty object or ``null``.

    Args:
        data: the decoded ``data`` member of the envelope.
        cls: the model of each item.

    Returns:
        The items: one object is a one-item list, ``{}`` and ``null`` are no items.

    Raises:
        ResponseDecodeError: ``data`` is none of these, or an item does not fit ``cls``.
    """
    if is_empty(data):
        return []
    if isinstance(data, Mapping):
        return [structure(data, cls)]
    if not isinstance(data, list):
        kind = type(data).__name__
        raise ResponseDecodeError(
            f"response does not fit {cls.__name__}: expected a list or an object, got {kind}",
            path="$.data",
        )
    return [structure(item, cls, path=f"$.data[{index}]") for index, item in enumerate(data)]
