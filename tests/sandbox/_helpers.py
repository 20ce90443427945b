"""What the sandbox's tests send, and how they send it: raw aiohttp over loopback, no client
code of the library."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import attrs
from multidict import CIMultiDictProxy

from b2b_async.sandbox import (
    API_PREFIX,
    DEFAULT_STORE_HASH,
    DEFAULT_TOKEN,
    V3_PREFIX,
    SandboxServer,
)

V2_HEADERS = {"authToken": DEFAULT_TOKEN}
V3_HEADERS = {"X-Auth-Token": DEFAULT_TOKEN, "X-Store-Hash": DEFAULT_STORE_HASH}
CREATE = "/companies/1/user/1/orders"
ORDER = {"orderId": "BC1", "totalIncTax": 259.99, "poNumber": "PO-7"}
RESETS = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)

UPDATE = {
    "orderId": 117,
    "statusId": 10,
    "poNumber": "PO-9",
    "totalExTax": "90.5",
    "staffNotes": "rush",
    "billingAddress": {"firstName": "Jane", "lastName": "Doe", "zip": 78751},
    "products": [
        {
            "name": "BigCommerce Poster",
            "productId": 97,
            "variantId": 69,
            "quantity": 2,
            "priceIncTax": 10.98,
            "priceExTax": "10",
            "imageUrl": "https://cdn.example/poster.jpg",
            "productOptions": [{"id": 5, "value": "red"}, "junk"],
        },
        {"name": "Mug", "quantity": "3", "productOptions": "none"},
    ],
}
"""A V2 "Update order" body for order 117."""


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@attrs.frozen
class Reply:
    """What came back for one request."""

    status: int
    headers: CIMultiDictProxy[str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


# --- V2 ----------------------------------------------------------------------------------------


async def call(
    session: aiohttp.ClientSession,
    server: SandboxServer,
    path: str = CREATE,
    *,
    method: str = "POST",
    body: Any = ORDER,
    data: bytes | None = None,
    headers: Mapping[str, str] = V2_HEADERS,
    wait: float = 5.0,
) -> Reply:
    """Send one request under /api/v2/io and read the whole answer."""
    payload = {"data": data} if data is not None else {"json": body}
    async with session.request(
        method,
        server.url + API_PREFIX + path,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=wait),
        **payload,
    ) as response:
        return Reply(response.status, response.headers, await response.text())


def order(order_id: str, total: Any = 10, **extra: Any) -> dict[str, Any]:
    """A V2 registration body."""
    return {"orderId": order_id, "totalIncTax": total, **extra}


async def register_orders(
    session: aiohttp.ClientSession, server: SandboxServer, *orders: tuple[str, int, Any]
) -> None:
    """Register (order id, customer id, total) triples through the V2 API."""
    for order_id, customer_id, total in orders:
        reply = await call(
            session, server, f"/companies/users/{customer_id}/orders", body=order(order_id, total)
        )
        assert reply.status == 200


def created_on(server: SandboxServer, order_id: str, day: str) -> None:
    """Back-date an order's creation to an ISO day."""
    moment = datetime.fromisoformat(day).replace(tzinfo=UTC)
    server.state.update(order_id, created_at=moment)


# --- V3 ----------------------------------------------------------------------------------------


async def v3(
    session: aiohttp.ClientSession,
    server: SandboxServer,
    path: str,
    *,
    method: str = "GET",
    body: Any = None,
    data: bytes | None = None,
    query: Any = None,
    headers: Mapping[str, str] = V3_HEADERS,
    prefix: str = V3_PREFIX,
) -> Reply:
    """Send one request under /api/v3/io (or ``prefix``) and read the whole answer."""
    payload: dict[str, Any] = {"data": data} if data is not None else {"json": body}
    if body is None and data is None:
        payload = {}
    async with session.request(
        method,
        server.url + prefix + path,
        params=query,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=5.0),
        **payload,
    ) as response:
        return Reply(response.status, response.headers, await response.text())


async def create(
    session: aiohttp.ClientSession,
    server: SandboxServer,
    bc_order_id: int,
    customer_id: int = 5,
    **extra: Any,
) -> Reply:
    """Register one order through V3."""
    body = {"bcOrderId": bc_order_id, "customerId": customer_id, **extra}
    return await v3(session, server, "/orders", method="POST", body=body)


async def create_v2(
    session: aiohttp.ClientSession, server: SandboxServer, order_id: str, customer_id: int = 5
) -> Reply:
    """Register one order through V2, with the V3 helper."""
    body = {"orderId": order_id, "totalIncTax": 12.5, "poNumber": "PO-2"}
    path = f"/companies/users/{customer_id}/orders"
    return await v3(
        session, server, path, method="POST", body=body, headers=V2_HEADERS, prefix=API_PREFIX
    )


def age(server: SandboxServer, order_id: str, *, days: int) -> None:
    """Make an order look created and last updated ``days`` ago."""
    state = server.state
    when = datetime.now(UTC) - timedelta(days=days)
    order = attrs.evolve(state.orders[order_id], created_at=when, updated_at=when)
    state._orders[order_id] = order


# --- the control endpoint ----------------------------------------------------------------------


async def control(
    session: aiohttp.ClientSession, server: SandboxServer, *, body: Any = None, data: bytes = b""
) -> Reply:
    """POST (with a body) or GET /_sandbox/bigcommerce/orders."""
    url = server.url + "/_sandbox/bigcommerce/orders"
    if body is None and not data:
        async with session.get(url) as response:
            return Reply(response.status, response.headers, await response.text())
    payload: dict[str, Any] = {"json": body} if body is not None else {"data": data}
    async with session.post(url, **payload) as response:
        return Reply(response.status, response.headers, await response.text())
