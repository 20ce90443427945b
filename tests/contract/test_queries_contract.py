"""Every V2 Order query and update, sent to Prism serving BigCommerce's published document.

Prism answers with the document's own examples and logs every request that breaks the
published contract; ``contract-mock violations`` must list none of ours. The examples are
also the recorded answers the models must read.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import aiohttp
import pytest

from b2b_async import (
    Address,
    B2BClient,
    BadRequestError,
    LineItem,
    NotFoundError,
    OrderCompany,
    OrderProduct,
    OrderUpdate,
)
from tests.contract.conftest import contract_mock

pytestmark = pytest.mark.contract

TOKEN = "contract-token"


async def assert_no_violation() -> None:
    """Prism logged no request that breaks the published contract."""
    status, report = await contract_mock("violations")
    assert status == 0, report
    assert "no violation" in report


def client_for(prism: str, session: aiohttp.ClientSession | None = None) -> B2BClient:
    """A client of Prism, without pacing or retries."""
    return B2BClient(TOKEN, base_url=prism, rate_limit=None, retry=None, session=session)


async def test_listings_follow_the_contract_and_read_its_examples(prism: str) -> None:
    """Both listings send valid queries and read the examples (paginator, orderStatus)."""
    async with client_for(prism) as client:
        orders = [
            order
            async for order in client.orders.list_by_company(
                "123",
                order_by="createdAt",
                begin_date=date(2019, 1, 1),
                end_date=date(2019, 12, 31),
                include_extra=True,
                channel_id=1,
                page_size=10,
            )
        ]
        ids = [order_id async for order_id in client.companies.order_ids(4, page_size=10)]
    assert [order.order_id for order in orders] == ["126", "124", "125"]
    assert orders[0].order_status == "Awaiting Payment"
    assert orders[0].total_inc_tax == Decimal("100.0000")
    assert orders[0].channel_id == "1"
    assert orders[0].created_at == datetime.fromtimestamp(1572323610, UTC)
    # The example holds one id but says totalCount 3: the walk asks until three arrived.
    assert ids == ["1", "1", "1"]
    await assert_no_violation()


async def test_lookups_follow_the_contract_and_read_its_examples(prism: str) -> None:
    """images, company_of, company_id_of, details, products and is_registered read the
    examples."""
    async with client_for(prism) as client:
        images = await client.orders.images(["1", 2])
        company = await client.orders.company_of("23")
        company_id = await client.orders.company_id_of(12)
        detail = await client.orders.details("126")
        products = await client.orders.products("126")
        registered = await client.orders.is_registered("23")
    assert [image.order_id for image in images] == ["1"]
    assert images[0].image_url is not None
    assert images[0].image_url.startswith("https://")
    assert company == OrderCompany(company_id="2", company_name="ABC.LLC", customer_group_id="11")
    assert company_id == "2"
    assert detail.order_id == "126"
    assert detail.total_inc_tax == Decimal("100.0000")
    assert detail.billing_address is not None
    assert detail.billing_address.street_one
    assert detail.products[0].product_id == "97"
    assert products == [OrderProduct(product_id="97", variant_id="69", quantity=20)]
    assert registered is True
    await assert_no_violation()


async def test_updates_follow_the_contract(prism: str) -> None:
    """update, apply_update and both company moves send bodies Prism finds valid."""
    address = Address(first_name="Jane", last_name="Doe", city="Austin", country_iso2="US")
    lines = [
        LineItem(name="Poster", quantity=1, price_inc_tax=Decimal("10.98"), price_ex_tax=10),
        LineItem(product_id=97, variant_id=69, quantity=2),
    ]
    async with client_for(prism) as client:
        updated = await client.orders.update(
            117, billing_address=address, products=lines, status_id=0, po_number="PO-7"
        )
        applied = await client.orders.apply_update(
            OrderUpdate(
                order_id="117",
                billing_address=address,
                products=[],
                channel_id=1,
                subtotal_ex_tax=Decimal("10"),
                subtotal_inc_tax=Decimal("10.98"),
                staff_notes="checked",
            )
        )
        await client.orders.assign_customer_orders_to_company("7566")
        await client.orders.move_customer_orders(7298, customer_group_id="6406")
    assert updated == applied == "2"
    await assert_no_violation()


async def test_documented_error_answers_become_the_documented_errors(prism: str) -> None:
    """The published 400 (code 40013) means not registered; the published 404s raise."""
    async with aiohttp.ClientSession(headers={"Prefer": "code=400"}) as session:
        async with client_for(prism, session) as client:
            assert await client.orders.is_registered("23") is False
            with pytest.raises(BadRequestError) as missing:
                await client.orders.company_of("23")
    assert missing.value.code == 40013
    async with aiohttp.ClientSession(headers={"Prefer": "code=404"}) as session:
        async with client_for(prism, session) as client:
            with pytest.raises(NotFoundError):
                await client.orders.details("12")
            with pytest.raises(NotFoundError):
                await client.orders.products("12")
            with pytest.raises(NotFoundError):
                _ = [order async for order in client.orders.list_by_company(4)]
    await assert_no_violation()
