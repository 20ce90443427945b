"""The sandbox's registration answers, checked against BigCommerce's OpenAPI document by Prism.

Prism (installed by ``contract-mock`` into ``~/.cache`` on first use, which needs npm and takes
a minute) proxies to a live sandbox and validates every request and response against the
published V2 document. Deliberately invalid requests produce request violations; the
sandbox's answers must produce no response violation. Skipped where ``../shared`` or npm is
missing (see ``conftest.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from b2b_async import Address, B2BClient
from b2b_async.sandbox import API_PREFIX, DEFAULT_TOKEN, SandboxServer
from tests.contract.conftest import contract_mock, free_port, running_prism

HEADERS = {"authToken": DEFAULT_TOKEN, "Accept": "application/json"}

# (path under /api/v2/io, body, expected status, whether the request itself breaks the spec)
CASES: list[tuple[str, Any, int, bool]] = [
    (
        "/companies/1/user/1/orders",
        {"orderId": "CT-1", "totalIncTax": 259.99, "poNumber": "P"},
        200,
        False,
    ),
    ("/companies/users/5/orders", {"orderId": "CT-2", "totalIncTax": 10}, 200, False),
    ("/companies/1/user/1/orders", {"orderId": "CT-1", "totalIncTax": 259.99}, 400, False),
    ("/companies/users/5/orders", {"orderId": "CT-2", "totalIncTax": 10}, 400, False),
    ("/companies/1/user/1/orders", {"orderId": "CT-3", "totalIncTax": "12.5"}, 400, True),
    ("/companies/1/user/1/orders", {"totalIncTax": 1}, 400, True),
    ("/companies/users/5/orders", {"orderId": 7, "totalIncTax": 1}, 400, True),
    ("/companies/users/5/orders", {"orderId": "CT-4", "totalIncTax": 1, "poNumber": 9}, 400, True),
    ("/companies/999/user/1/orders", {"orderId": "CT-5", "totalIncTax": 1}, 404, False),
    ("/companies/2/user/1/orders", {"orderId": "CT-6", "totalIncTax": 1}, 404, False),
    ("/companies/users/5000/orders", {"orderId": "CT-7", "totalIncTax": 1}, 404, False),
]

pytestmark = pytest.mark.contract


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    """A sandbox on a fixed free port."""
    async with SandboxServer(port=free_port()) as server:
        yield server


@pytest.fixture
async def prism(sandbox: SandboxServer) -> AsyncIterator[str]:
    """Prism proxying to the sandbox; yields its base URL and stops it afterwards."""
    async with running_prism("proxy", sandbox.url, str(free_port())) as url:
        yield url


async def test_create_answers_match_the_published_contract(
    prism: str, sandbox: SandboxServer
) -> None:
    """Both create routes answer 200, 400 and 404 without a response violation."""
    async with aiohttp.ClientSession() as session:
        for path, body, expected, _ in CASES:
            async with session.post(prism + API_PREFIX + path, json=body, headers=HEADERS) as reply:
                assert reply.status == expected, (path, body, await reply.text())
    _, report = await contract_mock("violations")
    violations = [line for line in report.splitlines() if "Violation:" in line]
    responses = [line for line in violations if "Violation: response" in line]
    assert not responses, report
    # Prism did validate: the deliberately invalid requests were flagged.
    assert len(violations) >= sum(invalid for *_, invalid in CASES), report
    assert sandbox.registrations("CT-1") == sandbox.registrations("CT-2") == 1


async def test_v2_queries_and_updates_answer_as_the_document_says(
    prism: str, sandbox: SandboxServer
) -> None:
    """Through Prism's proxy, the client's V2 queries and updates and the sandbox's answers are
    valid, and a product whose ``productOptions`` is text, as the update's schema types it,
    is read back by "Get Order Detail" (b2b-v2-openapi.yaml, ``PUT /orders`` requestBody,
    ``products.items.productOptions``: string)."""
    update = {
        "orderId": "CQ-1",
        "billingAddress": {"firstName": "Jane"},
        "products": [{"productId": "97", "quantity": "2", "productOptions": "Size: L"}],
    }
    async with B2BClient(DEFAULT_TOKEN, base_url=prism, rate_limit=None, retry=None) as client:
        orders = client.orders
        await orders.create(company_id=1, customer_id=1, order_id="CQ-1", total_inc_tax=5)
        async with aiohttp.ClientSession() as session:
            url = prism + API_PREFIX + "/orders"
            async with session.put(url, json=update, headers=HEADERS) as reply:
                assert reply.status == 200, await reply.text()
        detail = await orders.details("CQ-1")
        listed = [order.order_id async for order in orders.list_by_company(1, include_extra=True)]
        ids = [order_id async for order_id in client.companies.order_ids(1)]
        images = await orders.images(["CQ-1"])
        company = await orders.company_of("CQ-1")
        products = await orders.products("CQ-1")
        await orders.update("CQ-1", billing_address=Address(city="Austin"), products=[])
        await orders.assign_customer_orders_to_company(1)
        await orders.move_customer_orders(1, customer_group_id=1)
    assert [line.product_id for line in detail.products] == ["97"]
    assert detail.products[0].product_options == ()
    assert listed == ids == ["CQ-1"]
    assert [image.order_id for image in images] == ["CQ-1"]
    assert company.company_id == "1"
    assert [product.quantity for product in products] == [2]
    status, report = await contract_mock("violations")
    assert status == 0, report
