"""The client's requests, checked against BigCommerce's OpenAPI documents by Prism (mock mode).

Prism answers with the document's own examples and records every request that breaks the
published contract; ``contract-mock violations`` must list none of ours.
"""

from __future__ import annotations

from decimal import Decimal

import aiohttp
import pytest

from b2b_async import B2BClient, CreatedOrder, NotFoundError
from tests.contract.conftest import contract_mock

pytestmark = pytest.mark.contract


async def test_create_requests_follow_the_published_contract(prism: str) -> None:
    """Both create calls send requests Prism finds no violation in, and parse its examples."""
    async with B2BClient("contract-token", base_url=prism, rate_limit=None, retry=None) as client:
        created = await client.orders.create(
            company_id="123",
            customer_id="456",
            order_id="BC1",
            total_inc_tax=Decimal("259.99"),
            po_number="PO-7",
        )
        assert isinstance(created, CreatedOrder)
        assert isinstance(created.order_id, str)
        without_company = await client.orders.create(
            customer_id=456, order_id="BC2", total_inc_tax=10
        )
        assert isinstance(without_company.order_id, str)
    status, report = await contract_mock("violations")
    assert status == 0, report
    assert "no violation" in report


async def test_documented_404_example_is_a_not_found_error(prism: str) -> None:
    """Prism's published 404 example becomes a NotFoundError with the documented message."""
    # Prism picks the documented 404 answer when asked with the Prefer header.
    async with aiohttp.ClientSession(headers={"Prefer": "code=404"}) as session:
        client = B2BClient(
            "contract-token", base_url=prism, session=session, rate_limit=None, retry=None
        )
        with pytest.raises(NotFoundError) as info:
            await client.orders.create(company_id=1, customer_id=2, order_id="BC3", total_inc_tax=1)
    assert info.value.status == 404
    status, report = await contract_mock("violations")
    assert status == 0, report
