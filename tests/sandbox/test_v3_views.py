"""Tests of ``b2b_async/sandbox/_v3_views.py``: how orders, their products and the extra field
configurations look through V3.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from b2b_async.sandbox import API_PREFIX, RegisteredOrder, SandboxServer
from b2b_async.sandbox._v3_views import order_view, product_views, v3_number
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
