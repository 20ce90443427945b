"""Tests of ``b2b_async/sandbox/_v2.py``: the V2 Order operations under ``/api/v2/io``, their
paths, missing resources and the store's rules.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from b2b_async.sandbox import Customer, SandboxServer
from tests.sandbox._helpers import UPDATE, FakeClock, call, create_v2, order, register_orders


async def test_create_answers_the_success_envelope(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Create An Order answers 200 with orderId echoed as a string and stores the order."""
    reply = await call(session, server, "/companies/3/user/203/orders")
    assert reply.status == 200
    assert reply.json() == {"code": 200, "data": {"orderId": "BC1"}, "message": "Success"}
    assert reply.headers["Content-Type"].startswith("application/json")
    stored = server.orders["BC1"]
    assert (stored.company_id, stored.customer_id) == (3, 203)
    assert stored.total_inc_tax == Decimal("259.99")
    assert stored.po_number == "PO-7"
    assert server.registrations("BC1") == 1


async def test_create_without_company_uses_the_customers_company(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Create Order Without CompanyID registers with the customer's current company."""
    reply = await call(session, server, "/companies/users/205/orders", body=order("X", 5))
    assert reply.json()["data"] == {"orderId": "X"}
    assert server.orders["X"].company_id == 5
    assert server.orders["X"].po_number is None
    assert server.orders["X"].total_inc_tax == Decimal(5)


async def test_create_without_company_follows_a_moved_customer(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """A customer moved to another company registers its next orders there."""
    server.move_customer(7, 42)
    await call(session, server, "/companies/users/7/orders", body=order("M"))
    assert server.orders["M"].company_id == 42
    with pytest.raises(KeyError):
        server.move_customer(7, 999)


async def test_second_registration_is_refused(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """A second registration of an orderId, by either route, is 400 "The order already exists."."""
    await call(session, server)
    again = await call(session, server)
    other_route = await call(session, server, "/companies/users/1/orders")
    for reply in (again, other_route):
        assert reply.status == 400
        assert reply.json() == {
            "code": 40010,
            "data": {"errMsg": "The order already exists."},
            "message": "The order already exists.",
        }
    assert server.registrations("BC1") == 1
    assert [record.registered for record in server.requests] == ["BC1", None, None]


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/companies/101/user/1/orders", "Companies Does not Exist"),
        ("/companies/abc/user/1/orders", "Companies Does not Exist"),
        ("/companies/1/user/1001/orders", "User Does not Exist"),
        ("/companies/1/user/x1/orders", "User Does not Exist"),
        ("/companies/2/user/1/orders", "User Does not Belong to this Company"),
        ("/companies/users/0/orders", "User Does not Exist"),
        ("/companies/users/%C2%B2/orders", "User Does not Exist"),
    ],
)
async def test_unknown_company_or_customer_answers_404(
    server: SandboxServer, session: aiohttp.ClientSession, path: str, problem: str
) -> None:
    """Unknown, non-numeric or mismatched path ids answer 404 with an errMsg."""
    reply = await call(session, server, path)
    assert reply.status == 404
    assert reply.json() == {"code": 404, "data": {"errMsg": problem}, "message": "Not Found Error"}
    assert not server.orders


@pytest.mark.parametrize("path", ["/companies/101/orders", "/companies/x/orderBCIds"])
async def test_listings_of_unknown_companies_answer_404(
    server: SandboxServer, session: aiohttp.ClientSession, path: str
) -> None:
    """Listing an unknown company answers 404 "Companies Does not Exist"."""
    reply = await call(session, server, path, method="GET", body=None)
    assert reply.status == 404
    assert reply.json()["data"] == {"errMsg": "Companies Does not Exist"}


async def test_company_order_ids_oldest_first(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Get BC Order Id List pages the company's order ids, oldest first."""
    await register_orders(session, server, ("A", 1, 1), ("B", 1, 1), ("C", 1, 1), ("D", 2, 1))
    reply = await call(session, server, "/companies/1/orderBCIds?limit=2", method="GET", body=None)
    assert reply.json() == {
        "code": 200,
        "data": {
            "list": [{"orderId": "A"}, {"orderId": "B"}],
            "pagination": {"limit": 2, "offset": 0, "totalCount": 3},
        },
        "message": "Success",
    }


async def test_update_of_an_unknown_order_answers_404(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Updating an order that was never registered answers 404, and so does a bad JSON body."""
    reply = await call(session, server, "/orders", method="PUT", body={**UPDATE, "orderId": "9"})
    broken = await call(session, server, "/orders", method="PUT", data=b"[")
    assert reply.status == 404
    assert reply.json()["data"] == {"errMsg": "Order Does not Exist"}
    assert broken.status == 400


async def test_rederive_company_follows_the_customer(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """POST /orders/company gives a moved customer's orders its new company."""
    await register_orders(session, server, ("1", 7, 1), ("2", 8, 1))
    server.move_customer(7, 42)
    reply = await call(session, server, "/orders/company", body={"customerID": "7"})
    assert reply.json() == {"code": 200, "data": {}, "message": "Success"}
    company = await call(session, server, "/orders/1/companyId", method="GET")
    assert company.json()["data"] == {"companyId": "42"}
    assert server.orders["2"].company_id == 8


async def test_move_orders_to_a_customer_groups_company(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """PUT /orders/company moves a customer's orders to the company of a customer group."""
    await register_orders(session, server, ("1", 7, 1), ("2", 7, 1))
    body = {"customerGroupID": "9", "customerID": 7}
    reply = await call(session, server, "/orders/company", method="PUT", body=body)
    assert reply.json()["data"] == {}
    assert {order.company_id for order in server.orders.values()} == {9}
    assert server.state.customer(7) == Customer(7, 7, "Customer", "7", "customer7@sandbox.invalid")


@pytest.mark.parametrize(
    ("method", "body", "expected"),
    [
        ("POST", {"customerID": "4242"}, (40013, {}, "User does not exist.")),
        ("POST", {}, (40010, {"customerID": "customerID must be an id"}, "Bad Request Error")),
        (
            "POST",
            [],
            (40010, {"errMsg": "Request body must be a JSON object"}, "Bad Request Error"),
        ),
        ("PUT", {"customerGroupID": 999, "customerID": 1}, (40013, {}, "Company does not exist.")),
        ("PUT", {"customerGroupID": 1, "customerID": 0}, (40013, {}, "User does not exist.")),
        (
            "PUT",
            {"customerGroupID": "g", "customerID": True},
            (
                40010,
                {
                    "customerGroupID": "customerGroupID must be an id",
                    "customerID": "customerID must be an id",
                },
                "Bad Request Error",
            ),
        ),
    ],
)
async def test_company_updates_check_their_ids(
    server: SandboxServer,
    session: aiohttp.ClientSession,
    method: str,
    body: Any,
    expected: tuple[int, dict[str, str], str],
) -> None:
    """Unknown customers and groups answer 400 code 40013; malformed ids answer 40010."""
    reply = await call(session, server, "/orders/company", method=method, body=body)
    code, data, message = expected
    assert reply.status == 400
    assert reply.json() == {"code": code, "data": data, "message": message}


@pytest.mark.parametrize("path", ["/orders/404/companyIdBCId", "/orders/404/companyId"])
async def test_company_of_a_missing_order_answers_400(
    server: SandboxServer, session: aiohttp.ClientSession, path: str
) -> None:
    """The company look-ups of a missing order answer 400 code 40013 "Order does not exist."."""
    reply = await call(session, server, path, method="GET")
    assert reply.status == 400
    assert reply.json() == {"code": 40013, "data": {}, "message": "Order does not exist."}


@pytest.mark.parametrize("path", ["/orders/404/details", "/orders/404/products"])
async def test_details_of_a_missing_order_answer_404(
    server: SandboxServer, session: aiohttp.ClientSession, path: str
) -> None:
    """Details and products of a missing order answer 404 "Order Does not Exist"."""
    reply = await call(session, server, path, method="GET")
    assert reply.status == 404
    assert reply.json() == {
        "code": 404,
        "data": {"errMsg": "Order Does not Exist"},
        "message": "Not Found Error",
    }


async def test_v2_registers_a_placed_order_only_within_its_window(
    store: SandboxServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """V2 keeps the total it sends; after the window it is told the order already exists."""
    store.place_order(customer_id=5, total_inc_tax=99, bc_order_id=600)
    store.place_order(customer_id=5, total_inc_tax=99, bc_order_id=601)
    inside = await create_v2(session, store, "600")
    clock.advance(10.0)
    late = await create_v2(session, store, "601")
    assert inside.status == 200
    assert store.orders["600"].total_inc_tax == Decimal("12.5")
    assert late.status == 400
    assert late.json()["data"] == {"errMsg": "The order already exists."}
    assert store.orders["601"].po_number is None
