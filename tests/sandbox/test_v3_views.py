"""Tests of ``b2b_async/sandbox/_v3_views.py``: how orders, their products and the extra field
configurations look through V3.
"""

from __future__ import annotations

import aiohttp

from b2b_async.sandbox import API_PREFIX, SandboxServer
from tests.sandbox._helpers import V2_HEADERS, create, v3


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
