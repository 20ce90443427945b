"""The two registration operations: "Create An Order" and "Create Order Without CompanyID".

Checks run in the order a resource-oriented server runs them: the path first (unknown company or
customer: 404), then the body (400 with a field map), then the duplicate rule (400 "The order
already exists."). A path id that is not a decimal number names no company or customer, so it
answers 404 like an unknown one.

Body rules, from the schema (``orderId`` string, required; ``totalIncTax`` number, required;
``poNumber`` string, optional): ``orderId`` must be a non-blank string; ``totalIncTax`` must be a
JSON number (not a boolean, not a numeric string); ``poNumber``, when present, must be a string
(``null`` included). Error keys are the server's own field names, as in the published example
``{"bc_order_id": "orderId can not be null"}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final

import attrs
from aiohttp import web

from ._envelope import already_exists, bad_request, failure, success
from ._keys import RECORD_KEY, STATE_KEY
from ._records import decode_json

__all__ = ["create_order", "create_order_for_customer", "path_id"]

COMPANY_MISSING: Final = "Companies Does not Exist"
USER_MISSING: Final = "User Does not Exist"
USER_ELSEWHERE: Final = "User Does not Belong to this Company"

_ABSENT: Final = object()


class InvalidBodyError(Exception):
    """The body breaks the rules; ``fields`` maps each field (or ``errMsg``) to its problem."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        super().__init__(fields)
        self.fields = dict(fields)


@attrs.frozen
class NewOrder:
    """A registration request's body, checked."""

    order_id: str
    total_inc_tax: Decimal
    po_number: str | None


def _order_id_problem(value: object) -> str | None:
    if value is _ABSENT or value is None:
        return "orderId can not be null"
    if not isinstance(value, str):
        return "orderId must be a string"
    return None if value.strip() else "orderId can not be empty"


def _total_problem(value: object) -> str | None:
    if value is _ABSENT or value is None:
        return "totalIncTax can not be null"
    # bool is an int subclass, and "12.5" is a string: neither is a JSON number.
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return "totalIncTax must be a number"
    return None


def _po_number_problem(value: object) -> str | None:
    if value is _ABSENT or isinstance(value, str):
        return None
    return "poNumber must be a string"


# (error key, body key, check): error keys are the server's field names (see module docstring).
_CHECKS: tuple[tuple[str, str, Callable[[object], str | None]], ...] = (
    ("bc_order_id", "orderId", _order_id_problem),
    ("total_inc_tax", "totalIncTax", _total_problem),
    ("po_number", "poNumber", _po_number_problem),
)


def json_object(raw: bytes) -> dict[str, Any]:
    """Decode a body that must be a JSON object.

    Raises:
        InvalidBodyError: the body is not JSON, or not an object.
    """
    try:
        body = decode_json(raw)
    except ValueError:
        raise InvalidBodyError({"errMsg": "Request body is not valid JSON"}) from None
    if not isinstance(body, dict):
        raise InvalidBodyError({"errMsg": "Request body must be a JSON object"})
    return body


def parse_new_order(raw: bytes) -> NewOrder:
    """Check a registration body and return its values.

    Raises:
        InvalidBodyError: with every problem found, not just the first.
    """
    body = json_object(raw)
    problems = {
        key: problem
        for key, field, check in _CHECKS
        if (problem := check(body.get(field, _ABSENT))) is not None
    }
    if problems:
        raise InvalidBodyError(problems)
    return NewOrder(
        order_id=body["orderId"],
        total_inc_tax=Decimal(body["totalIncTax"]),
        po_number=body.get("poNumber"),
    )


def path_id(request: web.Request, name: str) -> int | None:
    """A numeric path parameter, or ``None`` when it is not a decimal number."""
    text = request.match_info.get(name, "")
    return int(text) if text.isascii() and text.isdecimal() else None


def _register(request: web.Request, company_id: int, customer_id: int) -> web.Response:
    record = request[RECORD_KEY]
    state = request.app[STATE_KEY]
    try:
        new = parse_new_order(record.raw)
    except InvalidBodyError as exc:
        return bad_request(exc.fields)
    if state.order(new.order_id) is not None:
        return already_exists()
    state.register(
        order_id=new.order_id,
        company_id=company_id,
        customer_id=customer_id,
        total_inc_tax=new.total_inc_tax,
        po_number=new.po_number,
    )
    record.registered = new.order_id
    return success({"orderId": new.order_id})


async def create_order(request: web.Request) -> web.Response:
    """``POST /companies/{companyId}/user/{customerId}/orders``: register an order.

    The customer must belong to the company named in the path.
    """
    state = request.app[STATE_KEY]
    company = state.company(path_id(request, "companyId"))
    if company is None:
        return failure(404, COMPANY_MISSING)
    customer = state.customer(path_id(request, "customerId"))
    if customer is None:
        return failure(404, USER_MISSING)
    if customer.company_id != company.id:
        return failure(404, USER_ELSEWHERE)
    return _register(request, company.id, customer.id)


async def create_order_for_customer(request: web.Request) -> web.Response:
    """``POST /companies/users/{customerId}/orders``: register an order with the customer's
    current company."""
    customer = request.app[STATE_KEY].customer(path_id(request, "customerId"))
    if customer is None:
        return failure(404, USER_MISSING)
    return _register(request, customer.company_id, customer.id)
