"""The exact shape of each request, checked with aioresponses."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from aioresponses import aioresponses
from yarl import URL

from b2b_async import B2BClient, CreatedOrder, InvalidOrderError, __version__

BASE = "https://api-b2b.bigcommerce.com"
CREATE = f"{BASE}/api/v2/io/companies/123/user/456/orders"
OK = {"code": 200, "data": {"orderId": "BC1"}, "message": "SUCCESS"}


def sent(mock: aioresponses) -> list[tuple[str, URL, dict[str, Any]]]:
    return [
        (method, url, call.kwargs)
        for (method, url), calls in mock.requests.items()
        for call in calls
    ]


async def test_create_sends_exactly_the_documented_request(mocked: aioresponses) -> None:
    """create() posts the documented body with the auth, JSON and identifying headers."""
    mocked.post(CREATE, payload=OK)
    async with B2BClient("secret-token", rate_limit=None, user_agent="acme-sync/2.1") as client:
        created = await client.orders.create(
            company_id="123",
            customer_id="456",
            order_id="BC1",
            total_inc_tax=Decimal("259.99"),
            po_number="PO-7",
        )
    assert created == CreatedOrder(order_id="BC1")
    [(method, url, kwargs)] = sent(mocked)
    assert (method, str(url)) == ("POST", CREATE)
    assert json.loads(kwargs["data"]) == {
        "orderId": "BC1",
        "totalIncTax": 259.99,
        "poNumber": "PO-7",
    }
    assert kwargs["headers"] == {
        "authToken": "secret-token",
        "Accept": "application/json",
        "Content-Type": "application/json",
        "User-Agent": f"b2b-async/{__version__} acme-sync/2.1",
    }
    assert kwargs["allow_redirects"] is False


async def test_create_without_company_uses_the_customer_route(mocked: aioresponses) -> None:
    """company_id=None posts to Create Order Without CompanyID, without poNumber when absent."""
    url = f"{BASE}/api/v2/io/companies/users/456/orders"
    mocked.post(url, payload={"code": 200, "data": {"orderId": 77}, "message": "SUCCESS"})
    async with B2BClient("t", rate_limit=None) as client:
        created = await client.orders.create(customer_id=456, order_id=77, total_inc_tax=10)
    assert created == CreatedOrder("77")
    [(_, sent_url, kwargs)] = sent(mocked)
    assert str(sent_url) == url
    assert json.loads(kwargs["data"]) == {"orderId": "77", "totalIncTax": 10}


@pytest.mark.parametrize(
    ("company", "segment"),
    [("a/b", "a%2Fb"), ("..", "%2E%2E"), ("1?x=2", "1%3Fx%3D2"), ("1#f", "1%23f"), ("é", "%C3%A9")],
)
async def test_ids_cannot_add_path_segments(
    mocked: aioresponses, company: str, segment: str
) -> None:
    """Path parameters are percent-encoded, dots included, so no id adds a segment or query."""
    url = URL(f"{BASE}/api/v2/io/companies/{segment}/user/1/orders", encoded=True)
    mocked.post(url, payload=OK)
    async with B2BClient("t", rate_limit=None) as client:
        await client.orders.create(
            company_id=company, customer_id=1, order_id="BC1", total_inc_tax=1
        )
    [(_, sent_url, _)] = sent(mocked)
    assert sent_url.raw_path == f"/api/v2/io/companies/{segment}/user/1/orders"
    assert sent_url.query_string == ""


async def test_invalid_input_sends_nothing(mocked: aioresponses) -> None:
    """An invalid total raises InvalidOrderError before any request."""
    async with B2BClient("t", rate_limit=None) as client:
        with pytest.raises(InvalidOrderError):
            await client.orders.create(
                company_id=1, customer_id=1, order_id="BC1", total_inc_tax=float("nan")
            )
    assert sent(mocked) == []


async def test_borrowed_session_gets_headers_per_request(mocked: aioresponses) -> None:
    """A borrowed session without defaults still sends the auth header on each request."""
    import aiohttp

    mocked.post(CREATE, payload=OK)
    async with aiohttp.ClientSession() as session:
        async with B2BClient("tok", session=session, rate_limit=None) as client:
            await client.orders.create(
                company_id=123, customer_id=456, order_id="BC1", total_inc_tax=1
            )
        assert not session.closed
    [(_, _, kwargs)] = sent(mocked)
    assert kwargs["headers"]["authToken"] == "tok"
