"""How the sandbox's orders and order extra fields look through V3.

V3 writes ids, counts and times as integers (times as Unix seconds) and money as JSON numbers,
where V2 writes strings. Both versions read the same store:

- B2B Edition's own order id (``id``) is the order's position among the registered orders,
  from 1: deliberately not the BigCommerce order id, which V3 calls ``bcOrderId``;
- only orders whose BigCommerce id is a whole number written canonically (``"123"``, not
  ``"BC123"`` or ``"0123"``) can be named by V3's integer ``bcOrderId``: V2 accepts any text as
  an order id, and V3 leaves the others out of its answers;
- an order's extra field values live in the order's ``extra`` under ``"extraFields"``, as V3
  sent them (``[{"fieldName", "fieldValue"}]``); V2 keeps them there through its updates;
- "Get Order Products" describes the products "Update order" (V2) set.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from ._extra_fields import MULTILINE_TEXT, OrderExtraField
from ._input import digits_value, whole
from ._state import CHANNEL_NAME, STATUS_NAMES, RegisteredOrder

__all__ = [
    "EXTRA_FIELDS",
    "config_view",
    "extra_fields_of",
    "order_view",
    "product_views",
    "v3_number",
]

EXTRA_FIELDS: Final = "extraFields"
"""Where an order's extra field values live in its ``extra``, and their V3 body key."""
_LEGACY_EXTRA = (
    *(f"extraInt{n}" for n in range(1, 6)),
    *(f"extraStr{n}" for n in range(1, 6)),
    "extraText",
)
_MONEY = {
    "currencyLocation": "left",
    "currencyToken": "$",
    "decimalToken": ".",
    "decimalPlaces": 2,
    "thousandsToken": ",",
}


def v3_number(order_id: str) -> int | None:
    """The integer ``bcOrderId`` of an order id, or ``None`` when V3 cannot name it."""
    number = digits_value(order_id)
    return number if number is not None and str(number) == order_id else None


def extra_fields_of(order: RegisteredOrder) -> list[dict[str, str]]:
    """The order's extra field values, as V3 sends them."""
    fields = order.extra.get(EXTRA_FIELDS)
    if not isinstance(fields, list):
        return []
    return [dict(field) for field in fields if isinstance(field, dict)]


def _seconds(order: RegisteredOrder) -> tuple[int, int]:
    return int(order.created_at.timestamp()), int(order.updated_at.timestamp())


def _quantity(product: Mapping[str, Any]) -> int:
    number = whole(product.get("quantity"))
    if number is not None:
        return number
    try:  # "Update order" accepts "2.0000" as a quantity
        return int(Decimal(str(product.get("quantity"))))
    except (InvalidOperation, ValueError):
        return 0


def order_view(
    order: RegisteredOrder, *, b2b_id: int, extra: bool, detail: bool = False
) -> dict[str, Any]:
    """An order in V3's shape: "Get All Orders" and "Create an Order" (``orderData_ALL``) or,
    with ``detail``, "Get an Order" and "Update an Order" (``orderData_DETAIL``)."""
    view = _order_summary(order, b2b_id)
    if detail:
        view.update(isInvoiceOrder=0, invoiceId=None, invoiceNumber=None, invoiceStatus=None)
    if extra or detail:
        view.update(dict.fromkeys(_LEGACY_EXTRA))
        view["extraInfo"] = []
        view[EXTRA_FIELDS] = extra_fields_of(order)
    return view


def _order_summary(order: RegisteredOrder, b2b_id: int) -> dict[str, Any]:
    """The fields every V3 view of an order has."""
    created, updated = _seconds(order)
    status = STATUS_NAMES.get(order.status_id, "")
    total = float(order.total_inc_tax)
    return {
        "id": b2b_id,
        "bcOrderId": v3_number(order.order_id),
        "totalIncTax": total,
        "poNumber": order.po_number or "",
        "status": status,
        "customStatus": status,
        "items": sum(_quantity(product) for product in order.products),
        "usdIncTax": total,
        "companyId": order.company_id,
        "currencyCode": "USD",
        "money": [dict(_MONEY)],
        "statusCode": order.status_id,
        "isArchived": False,
        "channelId": order.channel_id,
        "channelName": CHANNEL_NAME,
        "createdAt": created,
        "updatedAt": updated,
    }


def _option_view(index: int, line: int, option: Mapping[str, Any]) -> dict[str, Any]:
    value = option.get("value")
    view: dict[str, Any] = {
        "id": index,
        "orderProductId": line,
        "displayValue": "" if value is None else str(value),
    }
    for key, number in (("optionId", whole(option.get("id"))), ("value", whole(value))):
        if number is not None:
            view[key] = number
    return view


def _options(line: int, product: Mapping[str, Any]) -> list[dict[str, Any]]:
    options = product.get("productOptions")
    if not isinstance(options, list):
        return []
    chosen = [option for option in options if isinstance(option, dict)]
    return [_option_view(index, line, option) for index, option in enumerate(chosen, start=1)]


def product_views(order: RegisteredOrder) -> list[dict[str, Any]]:
    """ "Get Order Products": the products "Update order" set, in V3's shape."""
    created, updated = _seconds(order)
    views = []
    for line, product in enumerate(order.products, start=1):
        view: dict[str, Any] = {
            "id": line,
            "productName": str(product.get("name") or ""),
            "variantSku": str(product.get("sku") or ""),
            "productBrandName": "",
            "quantity": _quantity(product),
            "options": _options(line, product),
            "createdAt": created,
            "updatedAt": updated,
        }
        for key in ("productId", "variantId"):
            number = whole(product.get(key))
            if number is not None:
                view[key] = number
        views.append(view)
    return views


def config_view(index: int, field: OrderExtraField) -> dict[str, Any]:
    """One configuration of "Get Order Extra Field Configs"."""
    view: dict[str, Any] = {
        "id": index,
        "fieldName": field.name,
        "fieldType": field.field_type,
        "isRequired": field.required,
        "isUnique": False,
        "visibleToEnduser": True,
        "configType": 2,
        "defaultValue": field.default_value,
        "labelName": field.label or field.name,
        "listOfValues": list(field.choices),
    }
    if field.maximum_length is not None:
        view["maximumLength"] = field.maximum_length
    if field.field_type == MULTILINE_TEXT:
        view["numberOfRows"] = 5
    return view
