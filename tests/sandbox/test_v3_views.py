"""Tests of ``b2b_async/sandbox/_v3_views.py``: how orders, their products and the extra field
configurations look through V3.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import attrs
import pytest

from b2b_async.sandbox import API_PREFIX, OrderExtraField, RegisteredOrder, SandboxServer
from b2b_async.sandbox._extra_fields import MULTILINE_TEXT
from b2b_async.sandbox._v3_views import config_view, order_view, product_views, v3_number
from tests.sandbox._helpers import V2_HEADERS, FakeClock, create, v3


def order_with(*products: dict[str, Any]) -> RegisteredOrder:
    """A registered order holding these products."""
    moment = datetime(2026, 4, 1, tzinfo=UTC)
    return RegisteredOrder(
        order_id="77",
        company_id=5,
        customer_id=5,
        total_inc_tax=Decimal("9.5"),
        created_at=moment,
        updated_at=moment,
        products=products,
    )


async def test_get_answers_a_one_item_array_with_the_detail(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """GET /orders/{id}: data is an array holding orderData_DETAIL."""
    await create(session, unlimited, 42)
    reply = await v3(session, unlimited, "/orders/42")
    assert reply.status == 200
    [order] = reply.json()["data"]
    assert order["bcOrderId"] == 42
    assert order["isInvoiceOrder"] == 0
    assert order["invoiceId"] is None
    assert order["extraInt1"] is None
    assert order["extraFields"] == []


async def test_products_shows_what_a_v2_update_set(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """GET /orders/{id}/products: the V2 update's products, in V3's integer shape."""
    await create(session, unlimited, 77)
    update = {
        "orderId": "77",
        "billingAddress": {"firstName": "Jane"},
        "products": [
            {
                "productId": "97",
                "variantId": 69,
                "name": "Poster",
                "sku": "P-1",
                "quantity": "2.0000",
                "productOptions": [{"id": "12", "value": "34"}, {"id": "13", "value": "red"}, 5],
            },
            {"name": "Loose", "quantity": 1, "productOptions": "none"},
        ],
    }
    updated = await v3(
        session,
        unlimited,
        "/orders",
        method="PUT",
        body=update,
        headers=V2_HEADERS,
        prefix=API_PREFIX,
    )
    reply = await v3(session, unlimited, "/orders/77/products")
    assert updated.status == 200
    body = reply.json()
    assert body["message"] == "SUCCESS"
    first, second = body["data"]
    assert (first["productId"], first["variantId"], first["quantity"]) == (97, 69, 2)
    assert (first["productName"], first["variantSku"]) == ("Poster", "P-1")
    assert first["options"] == [
        {"id": 1, "orderProductId": 1, "displayValue": "34", "optionId": 12, "value": 34},
        {"id": 2, "orderProductId": 1, "displayValue": "red", "optionId": 13},
    ]
    assert "productId" not in second
    assert second["options"] == []
    detail = await v3(session, unlimited, "/orders/77")
    assert detail.json()["data"][0]["items"] == 3


async def test_extra_field_configs_are_a_paginated_array(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """GET /orders/extra-fields pages through the configurations with meta.pagination."""
    every = await v3(session, unlimited, "/orders/extra-fields")
    page = await v3(session, unlimited, "/orders/extra-fields", query={"limit": "2", "offset": "2"})
    bad = await v3(session, unlimited, "/orders/extra-fields", query={"limit": "0"})
    body = every.json()
    assert [config["fieldName"] for config in body["data"]] == [
        "Fintech ID",
        "Delivery Notes",
        "Priority",
        "Department",
    ]
    assert body["meta"] == {
        "message": "SUCCESS",
        "pagination": {"totalCount": 4, "limit": 10, "offset": 0},
    }
    assert body["data"][1]["numberOfRows"] == 5
    assert body["data"][3]["listOfValues"] == ["Retail", "Automotive", "Manufacturing"]
    assert "maximumLength" not in body["data"][2]
    assert [config["id"] for config in page.json()["data"]] == [3, 4]
    assert bad.status == 400
    assert bad.json()["data"] == {"limit": "limit must be from 1 to 200"}


def test_a_quantity_that_is_not_a_number_counts_as_none() -> None:
    """A product without a quantity, or with one that is not a number, shows 0 and adds
    nothing to the order's item count; whole and decimal quantities count as integers."""
    order = order_with(
        {"name": "Loose"},
        {"name": "Odd", "quantity": "a few"},
        {"quantity": "2.0000"},
        {"quantity": 3},
    )
    assert [view["quantity"] for view in product_views(order)] == [0, 0, 2, 3]
    assert order_view(order, b2b_id=1, extra=False)["items"] == 5


@pytest.mark.parametrize(
    ("order_id", "number"),
    [("123", 123), ("0123", None), ("BC1", None), ("\u0661\u0662", None), ("", None)],
)
def test_only_canonical_whole_numbers_can_be_a_v3_order_id(
    order_id: str, number: int | None
) -> None:
    """V3 names an order by an integer, so only an id written exactly as that integer prints
    can be named; leading zeros, letters and other scripts' digits cannot."""
    assert v3_number(order_id) == number


async def test_a_listed_order_carries_its_update_time_and_archive_flag(
    store: SandboxServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """updatedAt is the last update in Unix seconds, isArchived is false, and showExtra adds
    an empty extraInfo."""
    state = store.state
    state.register(
        order_id="1", company_id=5, customer_id=5, total_inc_tax=Decimal(1), po_number=None
    )
    clock.advance(90.0)
    updated = state.update("1", po_number="P").updated_at
    reply = await v3(session, store, "/orders", query={"showExtra": "true"})
    (order,) = reply.json()["data"]
    assert order["updatedAt"] == int(updated.timestamp())
    assert order["createdAt"] == order["updatedAt"] - 90
    assert (order["isArchived"], order["extraInfo"]) == (False, [])


def test_an_order_in_v3_shape_has_every_field_of_order_data_all() -> None:
    """An order's V3 summary: integer ids and times, money as numbers and its format."""
    order = attrs.evolve(order_with({"quantity": 2}), status_id=10, po_number="PO-1")
    seconds = int(datetime(2026, 4, 1, tzinfo=UTC).timestamp())
    assert order_view(order, b2b_id=3, extra=False) == {
        "id": 3,
        "bcOrderId": 77,
        "totalIncTax": 9.5,
        "poNumber": "PO-1",
        "status": "Completed",
        "customStatus": "Completed",
        "items": 2,
        "usdIncTax": 9.5,
        "companyId": 5,
        "currencyCode": "USD",
        "money": [
            {
                "currencyLocation": "left",
                "currencyToken": "$",
                "decimalToken": ".",
                "decimalPlaces": 2,
                "thousandsToken": ",",
            }
        ],
        "statusCode": 10,
        "isArchived": False,
        "channelId": 1,
        "channelName": "Default",
        "createdAt": seconds,
        "updatedAt": seconds,
    }


@pytest.mark.parametrize(("extra", "detail"), [(True, False), (False, True), (True, True)])
def test_extra_and_detail_add_the_extra_fields(extra: bool, detail: bool) -> None:
    """showExtra and the detail shape add the legacy fields (null), extraInfo and the values;
    only the detail adds the invoice fields."""
    values = [{"fieldName": "Fintech ID", "fieldValue": "F-1"}]
    order = attrs.evolve(order_with(), extra={"extraFields": [*values, "junk"]})
    summary = order_view(order, b2b_id=1, extra=False)
    view = order_view(order, b2b_id=1, extra=extra, detail=detail)
    added = {key: value for key, value in view.items() if key not in summary}
    legacy = [f"extraInt{n}" for n in range(1, 6)] + [f"extraStr{n}" for n in range(1, 6)]
    invoice = {"isInvoiceOrder": 0, "invoiceId": None, "invoiceNumber": None, "invoiceStatus": None}
    assert added == {
        **dict.fromkeys([*legacy, "extraText"]),
        "extraInfo": [],
        "extraFields": values,
        **(invoice if detail else {}),
    }


def test_a_product_in_v3_shape_has_every_field() -> None:
    """A product of Get Order Products: its line number, names, integer ids and options."""
    product = {
        "productId": 97,
        "variantId": "69",
        "name": "Poster",
        "sku": "P-1",
        "quantity": 2,
        "productOptions": [{"id": 12, "value": 34}],
    }
    seconds = int(datetime(2026, 4, 1, tzinfo=UTC).timestamp())
    option = {"id": 1, "orderProductId": 2, "displayValue": "34", "optionId": 12, "value": 34}
    assert product_views(order_with({"quantity": 1}, product))[1] == {
        "id": 2,
        "productName": "Poster",
        "variantSku": "P-1",
        "productBrandName": "",
        "quantity": 2,
        "options": [option],
        "createdAt": seconds,
        "updatedAt": seconds,
        "productId": 97,
        "variantId": 69,
    }


def test_an_extra_field_config_has_every_field() -> None:
    """A configuration shows its type, flags and label; the length or rows by its type."""
    text = config_view(1, OrderExtraField(name="Fintech ID"))
    notes = OrderExtraField(
        name="Notes", field_type=MULTILINE_TEXT, required=True, label="Notes for us"
    )
    assert text == {
        "id": 1,
        "fieldName": "Fintech ID",
        "fieldType": 0,
        "isRequired": False,
        "isUnique": False,
        "visibleToEnduser": True,
        "configType": 2,
        "defaultValue": "",
        "labelName": "Fintech ID",
        "listOfValues": [],
        "maximumLength": 100,
    }
    assert config_view(2, notes) == {
        **text,
        "id": 2,
        "fieldName": "Notes",
        "fieldType": 1,
        "isRequired": True,
        "labelName": "Notes for us",
        "numberOfRows": 5,
    }
