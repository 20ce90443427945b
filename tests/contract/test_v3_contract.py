"""Every V3 Order operation against Prism serving BigCommerce's published V3 document.

In mock mode Prism checks each request (path, query, headers including ``X-Auth-Token`` and
``X-Store-Hash``, body) and answers with the document's examples, or with ``null`` where the
document has none: the client must read the examples and treat ``null`` as the leniency rules
say. In proxy mode Prism stands in front of the sandbox and checks the sandbox's V3 answers
against the document as well. ``contract-mock violations`` must list nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import aiohttp
import pytest

from b2b_async import (
    B2BClient,
    BadRequestError,
    NewV3Order,
    NotFoundError,
    ResponseDecodeError,
    UnprocessableEntityError,
    V3Order,
)
from b2b_async.sandbox import DEFAULT_STORE_HASH, DEFAULT_TOKEN, SandboxServer
from tests.contract.conftest import contract_mock, free_port, running_prism

pytestmark = pytest.mark.contract

TOKEN = "contract-token"
STORE_HASH = "abc123"


async def assert_no_violation() -> None:
    """Prism logged nothing that breaks the published contract."""
    status, report = await contract_mock("violations")
    assert status == 0, report
    assert "no violation" in report


def client_for(prism: str, session: aiohttp.ClientSession | None = None) -> B2BClient:
    """A V3 client of Prism (X-Auth-Token and X-Store-Hash), without pacing or retries."""
    return B2BClient(
        TOKEN, store_hash=STORE_HASH, base_url=prism, rate_limit=None, retry=None, session=session
    )


async def read_until_refused(listing: AsyncIterator[V3Order]) -> list[V3Order]:
    """The orders a listing yields before the client refuses its pages as repeating."""
    orders: list[V3Order] = []

    async def read() -> None:
        async for order in listing:
            orders.append(order)

    with pytest.raises(ResponseDecodeError, match="offsets in a row"):
        await read()
    return orders


async def test_create_and_list_follow_the_contract_and_read_its_examples(prism: str) -> None:
    """create and list send valid requests and read the published examples."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    async with client_for(prism) as client:
        created = await client.v3.orders.create(
            bc_order_id=123, customer_id=321, po_number="PO-7", extra_fields={"Fintech ID": "1"}
        )
        # Prism answers every create with the published example, order 123: the client
        # refuses an answer about another order than the one sent.
        report = await client.v3.orders.create_many([NewV3Order(123, 321)])
        # Prism answers every offset with the published example: one order, and a count of
        # nine. After two repeats, the client refuses it as a server that ignores offset.
        orders = await read_until_refused(
            client.v3.orders.list(
                company_id=123456,
                bc_order_id=123,
                sort_by="createdAt",
                order="asc",
                created_after=start,
                created_before=datetime(2025, 12, 31, tzinfo=UTC),
                modified_after=start,
                modified_before=datetime(2026, 1, 31, tzinfo=UTC),
                channel_ids=[1, 12345678],
                show_extra=True,
                page_size=200,
            )
        )
    assert created.bc_order_id == 123
    assert created.customer_id == 321
    assert created.total_inc_tax == Decimal("2210.47")
    assert created.created_at == datetime.fromtimestamp(1744735719, UTC)
    assert report.ok
    assert [order.bc_order_id for order in orders] == [123] * 2
    assert orders[0].cart_id == "095a15a6-8a27-4c20-b357-36b82e9d5929"
    assert orders[0].extra_fields == ()
    async with aiohttp.ClientSession(headers={"Prefer": "example=with-extra-fields"}) as session:
        async with client_for(prism, session) as client:
            extra = await read_until_refused(client.v3.orders.list(show_extra=True))
    assert len(extra) == 2
    assert extra[0].extra_fields[0].field_name == "Fintech ID"
    assert extra[0].raw["extraInfo"] == [{"billingAddressId": 12345, "shippingAddressId": 12345}]
    await assert_no_violation()


async def test_the_other_operations_follow_the_contract(prism: str) -> None:
    """get, update, products, both customer moves and the configurations send valid requests."""
    # The document has no example for their answers, so Prism answers a bare `null` (or, for
    # the configurations, `[null]` as data): not the documented envelope, so each call raises
    # ResponseDecodeError, after its request passed Prism's checks.
    async with client_for(prism) as client:
        orders = client.v3.orders
        calls = [
            orders.get(123),
            orders.update(123, po_number="P", extra_fields={"Fintech ID": "1"}),
            orders.products(123),
            orders.assign_customer_orders(321),
            orders.reassign_customer_orders(321, bc_group_id=123),
            orders.extra_field_configs(),
        ]
        for call in calls:
            with pytest.raises(ResponseDecodeError):
                await call
    await assert_no_violation()


async def test_documented_error_answers_become_the_documented_errors(prism: str) -> None:
    """The published 400, 404 and 422 answers raise the matching errors."""
    async with aiohttp.ClientSession(headers={"Prefer": "code=404"}) as session:
        async with client_for(prism, session) as client:
            with pytest.raises(NotFoundError):
                await client.v3.orders.get(123)
            with pytest.raises(NotFoundError):
                await client.v3.orders.products(123)
            with pytest.raises(NotFoundError):
                await client.v3.orders.assign_customer_orders(321)
    async with aiohttp.ClientSession(headers={"Prefer": "code=422"}) as session:
        async with client_for(prism, session) as client:
            with pytest.raises(UnprocessableEntityError):
                await client.v3.orders.update(123, po_number="P")
    async with aiohttp.ClientSession(headers={"Prefer": "code=400"}) as session:
        async with client_for(prism, session) as client:
            with pytest.raises(BadRequestError):
                await client.v3.orders.create(bc_order_id=123, customer_id=321)
    await assert_no_violation()


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    """A sandbox on a fixed free port, without a window."""
    async with SandboxServer(port=free_port(), rate=None) as server:
        yield server


@pytest.fixture
async def proxy(sandbox: SandboxServer) -> AsyncIterator[str]:
    """Prism proxying to the sandbox; yields its base URL and stops it afterwards."""
    async with running_prism("proxy", sandbox.url, str(free_port())) as url:
        yield url


async def test_the_sandbox_answers_v3_as_the_document_says(
    proxy: str, sandbox: SandboxServer
) -> None:
    """Through Prism's proxy, every V3 operation's requests and the sandbox's answers are valid."""
    async with B2BClient(
        DEFAULT_TOKEN, store_hash=DEFAULT_STORE_HASH, base_url=proxy, rate_limit=None, retry=None
    ) as client:
        orders = client.v3.orders
        await orders.create(bc_order_id=1, customer_id=5, extra_fields={"Fintech ID": "F"})
        await orders.create(bc_order_id=2, customer_id=5, po_number="P")
        listed = [order async for order in orders.list(show_extra=True, page_size=1)]
        got = await orders.get(1)
        updated = await orders.update(1, po_number="Q", extra_fields={"Priority": "2"})
        products = await orders.products(1)
        assigned = await orders.assign_customer_orders(5)
        reassigned = await orders.reassign_customer_orders(5, bc_group_id=6)
        configs = await orders.extra_field_configs()
        with pytest.raises(NotFoundError):
            await orders.get(3)
        with pytest.raises(BadRequestError, match="already exists"):
            await orders.create(bc_order_id=1, customer_id=5)
    assert [order.bc_order_id for order in listed] == [2, 1]
    assert got.bc_order_id == 1
    assert updated.po_number == "Q"
    assert products == []
    assert (assigned, reassigned) == (0, 2)
    assert len(configs) == 4
    await assert_no_violation()
