"""What the V3 operations accept: their bodies and queries, checked.

- "Create an Order" needs ``bcOrderId`` and ``customerId`` (positive JSON integers, of at most
  64 digits as every id here, so that a path or a query can name the order); ``poNumber`` is a
  string, ``extraFields`` a list of ``{"fieldName", "fieldValue"}`` strings naming configured
  fields, each at most once. A body of another shape answers 400.
- "Update an Order" needs ``poNumber`` or ``extraFields``, with the same rules; extra fields not
  named keep their values.
- The values of well-formed extra fields must then keep their fields' rules (a number for a
  number field, the maximum length, a drop-down's list: :func:`broken_rules`) and, on an
  update, every required field must have a value (:func:`missing_required`); what breaks them
  answers 422.
- "Get All Orders" takes ``limit`` (1 to 200, default 10), ``offset``, ``orderBy``
  (``ASC``/``DESC``, default ``DESC``), ``sortBy`` (``createdAt``/``updatedAt``, default
  ``updatedAt``), ``companyId``, ``bcOrderId``, ``minCreated``/``maxCreated``/``minModified``/
  ``maxModified`` (Unix seconds, inclusive; an empty value is no bound), ``showExtra``
  (``true``/``false``) and ``channelIds[]`` (repeated, or comma-separated). Without a time
  bound it lists only the orders updated in the last year, as the document says.

A check does not stop at the first problem: its :class:`InvalidInputError` names them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import attrs
from multidict import MultiMapping

from ._extra_fields import OrderExtraField, configs_by_name
from ._input import (
    MAX_ID_DIGITS,
    InvalidInputError,
    digits_value,
    json_object,
    non_negative,
    parameter,
    parse_parameters,
)
from ._state import RegisteredOrder
from ._v3_views import EXTRA_FIELDS

__all__ = [
    "PAGE",
    "OrderQuery",
    "broken_rules",
    "checked_creation",
    "checked_update",
    "id_problem",
    "merged_fields",
    "missing_required",
    "sent_fields",
]

DEFAULT_LIMIT: Final = 10
MAX_LIMIT: Final = 200
_ABSENT: Final = object()


# --- the query of "Get All Orders" -------------------------------------------------------------


def _limit(text: str) -> int:
    value = non_negative(text)
    if not 1 <= value <= MAX_LIMIT:
        raise ValueError(f"must be from 1 to {MAX_LIMIT}")
    return value


def _direction(text: str) -> bool:
    if text.upper() not in ("ASC", "DESC"):
        raise ValueError("must be ASC or DESC")
    return text.upper() == "DESC"


def _sort_by(text: str) -> str:
    if text not in ("createdAt", "updatedAt"):
        raise ValueError("must be createdAt or updatedAt")
    return text


def _flag(text: str) -> bool:
    if text.lower() not in ("true", "false", "1", "0"):
        raise ValueError("must be true or false")
    return text.lower() in ("true", "1")


def _bound(text: str) -> int | None:
    return None if text == "" else non_negative(text)


PAGE: Final = ("limit", "offset")
"""The parameters of a listing that takes nothing else."""
_CHANNELS: Final = ("channelIds[]", "channelIds")


def _channels(query: MultiMapping[str]) -> frozenset[int]:
    values = [
        part for name in _CHANNELS for text in query.getall(name, []) for part in text.split(",")
    ]
    return frozenset(non_negative(value.strip()) for value in values if value.strip())


def _equal(value: int, wanted: int) -> bool:
    return value == wanted


def _at_least(value: int, bound: int) -> bool:
    return value >= bound


def _at_most(value: int, bound: int) -> bool:
    return value <= bound


@attrs.frozen(kw_only=True)
class OrderQuery:
    """The query of "Get All Orders" (or just its page, for other listings), parsed.

    Args:
        limit: how many orders to list at most.
        offset: how many matching orders to skip.
        descending: whether the listing sorts newest first.
        sort_by: ``createdAt`` or ``updatedAt``.
        company_id: the one company listed, if any.
        bc_order_id: the one order listed, if any.
        min_created: the earliest creation time listed (Unix seconds), if any.
        max_created: the latest creation time listed, if any.
        min_modified: the earliest update time listed, if any.
        max_modified: the latest update time listed, if any.
        show_extra: whether each order carries its extra fields.
        channel_ids: the channels listed; all when empty.
    """

    limit: int = parameter("limit", _limit, DEFAULT_LIMIT)
    offset: int = parameter("offset", non_negative, 0)
    descending: bool = parameter("orderBy", _direction, True)
    sort_by: str = parameter("sortBy", _sort_by, "updatedAt")
    company_id: int | None = parameter("companyId", non_negative, None)
    bc_order_id: int | None = parameter("bcOrderId", non_negative, None)
    min_created: int | None = parameter("minCreated", _bound, None)
    max_created: int | None = parameter("maxCreated", _bound, None)
    min_modified: int | None = parameter("minModified", _bound, None)
    max_modified: int | None = parameter("maxModified", _bound, None)
    show_extra: bool = parameter("showExtra", _flag, False)
    channel_ids: frozenset[int] = frozenset()

    @classmethod
    def parse(cls, query: MultiMapping[str]) -> OrderQuery:
        """Parse every parameter of "Get All Orders"; others are ignored, as the API ignores
        them.

        Raises:
            InvalidInputError: naming every parameter that does not parse.
        """
        values, problems = parse_parameters(cls, query)
        try:
            values["channel_ids"] = _channels(query)
        except ValueError as exc:
            problems["channelIds[]"] = f"channelIds[] {exc}"
        if problems:
            raise InvalidInputError(problems)
        return cls(**values)

    @property
    def bounded(self) -> bool:
        """Whether any time bound was given (otherwise only the last year is listed)."""
        bounds = (self.min_created, self.max_created, self.min_modified, self.max_modified)
        return any(bound is not None for bound in bounds)

    def keeps(self, order: RegisteredOrder, number: int, since: int) -> bool:
        """Whether the filters keep this order (``since``: the last-year cut-off)."""
        created, updated = int(order.created_at.timestamp()), int(order.updated_at.timestamp())
        checks = (
            (self.company_id, order.company_id, _equal),
            (self.bc_order_id, number, _equal),
            (self.min_created, created, _at_least),
            (self.max_created, created, _at_most),
            (self.min_modified, updated, _at_least),
            (self.max_modified, updated, _at_most),
        )
        if not all(wanted is None or test(value, wanted) for wanted, value, test in checks):
            return False
        if self.channel_ids and order.channel_id not in self.channel_ids:
            return False
        return self.bounded or updated >= since

    def page(self, items: list[Any]) -> list[Any]:
        """The items this query's ``offset`` and ``limit`` select."""
        return items[self.offset : self.offset + self.limit]

    def pagination(self, total: int) -> dict[str, int]:
        """The ``meta.pagination`` of a listing."""
        return {"totalCount": total, "limit": self.limit, "offset": self.offset}


# --- request bodies ----------------------------------------------------------------------------


def id_problem(value: object, name: str) -> str | None:
    """Why a body's id is not a positive JSON integer of at most :data:`MAX_ID_DIGITS` digits
    (the longest id a path or a query names here), or ``None`` when it is.

    Args:
        value: the body's value (or any sentinel when absent).
        name: the body key, named in the problem.

    Returns:
        The problem, or ``None``.
    """
    if value is _ABSENT or value is None:
        return f"{name} can not be null"
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return f"{name} must be a positive integer"
    # The rule of path and query ids: one they cannot name must not be stored. (The body's
    # JSON reader has already refused an integer too long for str().)
    if digits_value(str(value)) is None:
        return f"{name} must be a positive integer of at most {MAX_ID_DIGITS} digits"
    return None


def _extra_field_problem(
    where: str, item: object, configs: Mapping[str, OrderExtraField], seen: set[str]
) -> tuple[str, str] | None:
    name = item.get("fieldName") if isinstance(item, dict) else None
    text = item.get("fieldValue") if isinstance(item, dict) else None
    if not isinstance(name, str) or not isinstance(text, str):
        return where, f"{where} must have a string fieldName and a string fieldValue"
    if name not in configs:
        return f"{where}.fieldName", f"{name} is not an order extra field"
    if name in seen:
        return f"{where}.fieldName", f"{name} is given twice"
    seen.add(name)
    return None


def _extra_field_problems(
    value: object, configs: Mapping[str, OrderExtraField]
) -> Iterable[tuple[str, str]]:
    if not isinstance(value, list):
        yield EXTRA_FIELDS, "extraFields must be a list of {fieldName, fieldValue}"
        return
    seen: set[str] = set()
    for index, item in enumerate(value):
        problem = _extra_field_problem(f"extraFields[{index}]", item, configs, seen)
        if problem is not None:
            yield problem


def _common_problems(
    body: Mapping[str, Any], configs: Mapping[str, OrderExtraField]
) -> Iterable[tuple[str, str]]:
    if "poNumber" in body and not isinstance(body["poNumber"], str):
        yield "poNumber", "poNumber must be a string"
    if EXTRA_FIELDS in body:
        yield from _extra_field_problems(body[EXTRA_FIELDS], configs)


def checked_creation(raw: bytes, configs: Mapping[str, OrderExtraField]) -> dict[str, Any]:
    """Check a "Create an Order" body.

    Args:
        raw: the body as received.
        configs: the store's extra fields by name.

    Returns:
        The decoded body.

    Raises:
        InvalidInputError: with every problem found.
    """
    body = json_object(raw)
    problems = {
        name: problem
        for name in ("bcOrderId", "customerId")
        if (problem := id_problem(body.get(name, _ABSENT), name)) is not None
    }
    problems.update(_common_problems(body, configs))
    if problems:
        raise InvalidInputError(problems)
    return body


def checked_update(raw: bytes, configs: Mapping[str, OrderExtraField]) -> dict[str, Any]:
    """Check an "Update an Order" body, which must send ``poNumber`` or ``extraFields``; the
    arguments, result and errors are those of :func:`checked_creation`."""
    body = json_object(raw)
    problems = dict(_common_problems(body, configs))
    if "poNumber" not in body and EXTRA_FIELDS not in body:
        problems["errMsg"] = "poNumber or extraFields is required"
    if problems:
        raise InvalidInputError(problems)
    return body


def sent_fields(body: Mapping[str, Any]) -> list[dict[str, str]]:
    """The extra field values a checked body sends, as they are stored."""
    return [
        {"fieldName": item["fieldName"], "fieldValue": item["fieldValue"]}
        for item in body.get(EXTRA_FIELDS, [])
    ]


def merged_fields(
    existing: list[dict[str, str]], sent: list[dict[str, str]]
) -> list[dict[str, str]]:
    """The order's extra fields after an update: the sent values replace same-named ones."""
    names = {field["fieldName"] for field in sent}
    return [field for field in existing if field["fieldName"] not in names] + sent


def broken_rules(body: Mapping[str, Any], configs: Sequence[OrderExtraField]) -> list[str]:
    """What the extra field values a checked body sends break of their fields' rules.

    Args:
        body: the checked body (its fields are configured, each named once).
        configs: the store's extra fields.

    Returns:
        One problem per value that does not fit its field, in the order sent, e.g.
        ``"Priority must be a number"``.
    """
    by_name = configs_by_name(configs)
    return [
        problem
        for field in sent_fields(body)
        if (problem := by_name[field["fieldName"]].problem(field["fieldValue"])) is not None
    ]


def missing_required(
    body: Mapping[str, Any], fields: list[dict[str, str]], configs: Iterable[OrderExtraField]
) -> list[str]:
    """The required extra fields an update leaves without a value.

    The published document: the 422 "occurs if your store has required order extra fields, but
    the ``extraFields`` array is not included in the request body"; an array that leaves one
    out counts only when the order has no value for it either.

    Args:
        body: the checked update body.
        fields: the order's extra fields after the update.
        configs: the store's extra fields.

    Returns:
        ``"<name> is a required extra field"`` for each, in the order of the configurations.
    """
    present = {field["fieldName"] for field in fields} if EXTRA_FIELDS in body else set()
    return [
        f"{config.name} is a required extra field"
        for config in configs
        if config.required and config.name not in present
    ]
