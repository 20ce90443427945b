"""Tests of ``b2b_async/sandbox/_v2_views.py``: how a registered order looks through each V2
operation.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import aiohttp

from b2b_async.sandbox import SandboxServer
from tests.sandbox._helpers import UPDATE, call, create, created_on, register_orders


async def test_company_orders_lists_newest_first(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Get Company Orders pages the company's orders, newest first, with pagination."""
    await register_orders(session, server, ("9", 1, 5), ("10", 101, 7.5), ("11", 2, 1))
    created_on(server, "9", "2024-01-01")
    reply = await call(session, server, "/companies/1/orders", method="GET", body=None)
    assert reply.status == 200
    body = reply.json()
    assert body["message"] == "SUCCESS"
    assert body["data"]["pagination"] == {"limit": 10, "offset": 0, "totalCount": 2}
    first, second = body["data"]["list"]
    assert first["orderId"] == "10"
    assert second == {
        "orderId": "9",
        "companyName": "Company 1",
        "firstName": "Customer",
        "lastName": "1",
        "orderStatus": "Awaiting Payment",
        "totalIncTax": "5.0000",
        "isInvoiceOrder": "0",
        "createdAt": "1704067200",
        "updatedAt": second["updatedAt"],
        "channelId": "1",
        "channelName": "Default",
    }


async def test_update_order_then_read_it_back(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """PUT /orders stores address, products and fields; details, products and images show them."""
    await register_orders(session, server, ("117", 5, 100))
    updated = await call(session, server, "/orders", method="PUT", body=UPDATE)
    assert updated.json() == {"code": 200, "data": {"orderId": "117"}, "message": "Success"}
    details = (await call(session, server, "/orders/117/details", method="GET")).json()
    assert details["message"] == "SUCCESS"
    data = details["data"]
    assert (data["id"], data["customer_id"], data["status"], data["status_id"]) == (
        "117",
        5,
        "Completed",
        10,
    )
    assert (data["poNumber"], data["total_inc_tax"], data["total_ex_tax"]) == (
        "PO-9",
        "100.0000",
        "90.5",
    )
    assert data["billingAddress"] == {"firstName": "Jane", "lastName": "Doe", "zip": "78751"}
    assert data["products"][0]["quantity"] == "2"
    assert data["items_total"] == 5
    assert data["date_created"].endswith("+0000")
    products = (await call(session, server, "/orders/117/products", method="GET")).json()
    assert products["data"] == {
        "productId": "97",
        "variantId": "69",
        "quantity": "2",
        "optionList": [{"option_id": "5", "option_value": "red"}],
    }
    images = await call(session, server, "/orders/images?orderIds=117,%20404,", method="GET")
    assert images.json()["data"] == [
        {"orderId": "117", "imageUrl": "https://cdn.example/poster.jpg"}
    ]
    assert server.orders["117"].extra == {"totalExTax": "90.5", "staffNotes": "rush"}


async def test_options_that_are_not_a_list(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Product options that are not a list show as an empty optionList."""
    await register_orders(session, server, ("117", 5, 100))
    products = [{"productId": 1, "productOptions": "size=L"}]
    await call(session, server, "/orders", method="PUT", body={**UPDATE, "products": products})
    reply = await call(session, server, "/orders/117/products", method="GET")
    assert reply.json()["data"]["optionList"] == []
    assert server.orders["117"].products == ({"productId": 1, "productOptions": "size=L"},)


async def test_an_order_without_products(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """A registered order has no products until updated: {} products, empty image url."""
    await register_orders(session, server, ("1", 1, 1))
    products = await call(session, server, "/orders/1/products", method="GET")
    images = await call(session, server, "/orders/images?orderIds=1", method="GET")
    no_ids = await call(session, server, "/orders/images", method="GET")
    details = await call(session, server, "/orders/1/details", method="GET")
    assert products.json()["data"] == {}
    assert images.json()["data"] == [{"orderId": "1", "imageUrl": ""}]
    assert no_ids.json()["data"] == []
    assert details.json()["data"]["payment_method"] == "Manual"


async def test_company_of_an_order(server: SandboxServer, session: aiohttp.ClientSession) -> None:
    """Get Company By BC OrderId answers the company with ids as strings."""
    await register_orders(session, server, ("55", 209, 1))
    reply = await call(session, server, "/orders/55/companyIdBCId", method="GET")
    assert reply.json() == {
        "code": 200,
        "data": {"companyId": "9", "companyName": "Company 9", "customerGroupId": "9"},
        "message": "Success",
    }


async def test_order_detail_is_the_core_order_with_the_b2b_fields(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Get Order Detail answers every core field (snake_case) and B2B field of an order."""
    await register_orders(session, server, ("117", 5, 100))
    created_on(server, "117", "2024-01-01")
    await call(session, server, "/orders", method="PUT", body=UPDATE)
    data = (await call(session, server, "/orders/117/details", method="GET")).json()["data"]
    modified = data.pop("date_modified")
    assert parsedate_to_datetime(modified) == server.orders["117"].updated_at.replace(microsecond=0)
    poster = {
        "name": "BigCommerce Poster",
        "productId": "97",
        "variantId": "69",
        "quantity": "2",
        "priceIncTax": "10.98",
        "priceExTax": "10",
        "imageUrl": "https://cdn.example/poster.jpg",
    }
    assert data == {
        "id": "117",
        "customer_id": 5,
        "date_created": "Mon, 01 Jan 2024 00:00:00 +0000",
        "date_shipped": "",
        "status_id": 10,
        "status": "Completed",
        "custom_status": "Completed",
        "subtotal_inc_tax": "100.0000",
        "total_inc_tax": "100.0000",
        "total_ex_tax": "90.5",
        "items_total": 5,
        "items_shipped": 0,
        "currency_code": "USD",
        "default_currency_code": "USD",
        "payment_method": "PO",
        "is_deleted": False,
        "order_is_digital": False,
        "order_source": "www",
        "poNumber": "PO-9",
        "channelId": 1,
        "channelName": "Default",
        "billingAddress": {"firstName": "Jane", "lastName": "Doe", "zip": "78751"},
        "products": [poster, {"name": "Mug", "quantity": "3", "productOptions": "none"}],
    }


async def test_a_product_without_options_has_an_empty_option_list(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """A first product sent without productOptions shows an empty optionList."""
    await register_orders(session, server, ("117", 5, 100))
    products = [{"productId": 1, "quantity": 4}]
    await call(session, server, "/orders", method="PUT", body={**UPDATE, "products": products})
    reply = await call(session, server, "/orders/117/products", method="GET")
    assert reply.status == 200
    assert reply.json()["data"] == {
        "productId": "1",
        "variantId": "",
        "quantity": "4",
        "optionList": [],
    }


async def test_company_orders_with_extra_list_the_orders_extra_fields(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """includeExtra=1 adds each order's extra field values; without it there are none."""
    fields = [{"fieldName": "Fintech ID", "fieldValue": "F-1"}]
    await create(session, unlimited, 101, 5, extraFields=fields)
    path = "/companies/5/orders"
    extra = await call(session, unlimited, path + "?includeExtra=1", method="GET", body=None)
    plain = await call(session, unlimited, path, method="GET", body=None)
    assert extra.json()["data"]["list"][0]["extraFields"] == fields
    assert "extraFields" not in plain.json()["data"]["list"][0]


async def test_a_product_without_a_quantity_counts_as_none(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """A product sent without a quantity adds nothing to the detail's items_total."""
    await register_orders(session, server, ("117", 5, 100))
    products = [{"productId": 1}, {"productId": 2, "quantity": 3}]
    await call(session, server, "/orders", method="PUT", body={**UPDATE, "products": products})
    reply = await call(session, server, "/orders/117/details", method="GET")
    assert reply.status == 200
    assert reply.json()["data"]["items_total"] == 3
