"""How a registered order looks through V2, in each operation's shape.

The V2 API mixes styles: listings use camelCase and money as strings with four decimals
(``"100.0000"``); "Get Order Detail" is BigCommerce's core order object in snake_case plus B2B
fields in camelCase. Where a published example and its schema disagree, the schema wins
(``pagination``, not the example's ``paginator``; ``channelId`` a string in listings), except for
the listing's status key, which the schema spells ``OrderStatus`` and the example, like the live
API, ``orderStatus``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from email.utils import format_datetime
from typing import Any

from ._data import Company, Customer
from ._state import CHANNEL_NAME, STATUS_NAMES, RegisteredOrder
from ._v3_views import extra_fields_of

__all__ = [
    "company_view",
    "detail",
    "first_product",
    "image_of",
    "listing_item",
]


def _money(value: Decimal) -> str:
    """Money as B2B Edition writes it: a string with four decimals."""
    return f"{value:.4f}"


def _epoch(moment: datetime) -> str:
    """A time as the listings write it: whole seconds since the epoch, as a string."""
    return str(int(moment.timestamp()))


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _strings(fields: Mapping[str, Any]) -> dict[str, str]:
    # The schemas type these objects' fields as strings, whatever the update sent.
    return {
        key: _text(value) for key, value in fields.items() if not isinstance(value, dict | list)
    }


def listing_item(
    order: RegisteredOrder, company: Company, customer: Customer | None, *, extra: bool
) -> dict[str, Any]:
    """One order in "Get Company Orders"; with ``extra``, its extra field values too."""
    item: dict[str, Any] = {
        "orderId": order.order_id,
        "companyName": company.name,
        "firstName": customer.first_name if customer else "",
        "lastName": customer.last_name if customer else "",
        "orderStatus": STATUS_NAMES.get(order.status_id, ""),
        "totalIncTax": _money(order.total_inc_tax),
        "isInvoiceOrder": "0",
        "createdAt": _epoch(order.created_at),
        "updatedAt": _epoch(order.updated_at),
        "channelId": str(order.channel_id),
        "channelName": CHANNEL_NAME,
    }
    if extra:
        item["extraFields"] = extra_fields_of(order)
    return item


def company_view(company: Company) -> dict[str, str]:
    """An order's company in "Get Company By BC OrderId": ids as strings."""
    return {
        "companyId": str(company.id),
        "companyName": company.name,
        "customerGroupId": str(company.customer_group_id),
    }


def _product_view(product: Mapping[str, Any]) -> dict[str, Any]:
    """One product of "Get Order Detail", its scalar fields as strings."""
    return _strings(product)


def _option_list(product: Mapping[str, Any]) -> list[dict[str, str]]:
    """A product's options in "Get Order Product": ``[{option_id, option_value}]``."""
    options = product.get("productOptions")
    if not isinstance(options, list):
        return []
    return [
        {"option_id": _text(option.get("id")), "option_value": _text(option.get("value"))}
        for option in options
        if isinstance(option, dict)
    ]


def first_product(order: RegisteredOrder) -> dict[str, Any]:
    """ "Get Order Product": the order's first product, or ``{}`` when it has none."""
    if not order.products:
        return {}
    product = order.products[0]
    return {
        "productId": _text(product.get("productId")),
        "variantId": _text(product.get("variantId")),
        "quantity": _text(product.get("quantity")),
        "optionList": _option_list(product),
    }


def image_of(order: RegisteredOrder) -> dict[str, str]:
    """ "Get Orders Images": the first product's ``imageUrl``, or ``""``."""
    url = order.products[0].get("imageUrl") if order.products else None
    return {"orderId": order.order_id, "imageUrl": _text(url)}


def _quantity(product: Mapping[str, Any]) -> int:
    # "Update order" has checked that a quantity, when present, is a number of sane size.
    return int(Decimal(_text(product.get("quantity")) or "0"))


def detail(order: RegisteredOrder) -> dict[str, Any]:
    """ "Get Order Detail": the core order object (snake_case) plus the B2B fields."""
    status = STATUS_NAMES.get(order.status_id, "")
    total = _money(order.total_inc_tax)
    return {
        "id": order.order_id,
        "customer_id": order.customer_id,
        "date_created": format_datetime(order.created_at),
        "date_modified": format_datetime(order.updated_at),
        "date_shipped": "",
        "status_id": order.status_id,
        "status": status,
        "custom_status": status,
        "subtotal_inc_tax": total,
        "total_inc_tax": total,
        "total_ex_tax": _text(order.extra.get("totalExTax", total)),
        "items_total": sum(_quantity(product) for product in order.products),
        "items_shipped": 0,
        "currency_code": "USD",
        "default_currency_code": "USD",
        "payment_method": "PO" if order.po_number else "Manual",
        "is_deleted": False,
        "order_is_digital": False,
        "order_source": "www",
        "poNumber": order.po_number or "",
        "channelId": order.channel_id,
        "channelName": CHANNEL_NAME,
        "billingAddress": _strings(order.billing_address),
        "products": [_product_view(product) for product in order.products],
    }
