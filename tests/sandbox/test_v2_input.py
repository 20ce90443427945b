"""Tests of ``b2b_async/sandbox/_v2_input.py``: the V2 bodies and listing queries, checked."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from b2b_async.sandbox import SandboxServer
from tests.sandbox._helpers import UPDATE, call, created_on, order, register_orders, v3


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({"totalIncTax": 1}, "bc_order_id", "orderId can not be null"),
        (order(""), "bc_order_id", "orderId can not be empty"),
        (order("  "), "bc_order_id", "orderId can not be empty"),
        ({"orderId": 12, "totalIncTax": 1}, "bc_order_id", "orderId must be a string"),
        ({"orderId": "A"}, "total_inc_tax", "totalIncTax can not be null"),
        (order("A", None), "total_inc_tax", "totalIncTax can not be null"),
        (order("A", "12.5"), "total_inc_tax", "totalIncTax must be a number"),
        (order("A", True), "total_inc_tax", "totalIncTax must be a number"),
        (order("A", poNumber=7), "po_number", "poNumber must be a string"),
        (order("A", poNumber=None), "po_number", "poNumber must be a string"),
        ([1, 2], "errMsg", "Request body must be a JSON object"),
    ],
)
async def test_invalid_bodies_answer_400_with_a_field_map(
    server: SandboxServer,
    session: aiohttp.ClientSession,
    body: Any,
    field: str,
    problem: str,
) -> None:
    """Each broken rule answers 400 code 40010 naming the field, and registers nothing."""
    reply = await call(session, server, body=body)
    assert reply.status == 400
    assert reply.json() == {"code": 40010, "data": {field: problem}, "message": "Bad Request Error"}
    assert not server.orders


async def test_every_problem_is_reported_at_once(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """A body with several problems names all of them."""
    reply = await call(session, server, body={"orderId": "", "totalIncTax": "1", "poNumber": 1})
    assert set(reply.json()["data"]) == {"bc_order_id", "total_inc_tax", "po_number"}


async def test_company_orders_sorts_pages_and_filters(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """orderBy, limit, offset, the date range, channelId and includeExtra shape the page."""
    await register_orders(session, server, ("9", 1, 30), ("10", 1, 10), ("X", 1, 20))
    for order_id, day in (("9", "2024-01-01"), ("10", "2024-01-02"), ("X", "2024-01-03")):
        created_on(server, order_id, day)

    async def ids(query: str) -> list[str]:
        reply = await call(session, server, f"/companies/1/orders?{query}", method="GET", body=None)
        return [item["orderId"] for item in reply.json()["data"]["list"]]

    assert await ids("orderBy=bcOrderId") == ["9", "10", "X"]
    assert await ids("orderBy=-bcOrderId") == ["X", "10", "9"]
    assert await ids("orderBy=totalIncTax&limit=2&offset=1") == ["X", "9"]
    assert await ids("orderBy=createdAt&beginDateAt=01/02/2024") == ["10", "X"]
    assert await ids("beginDateAt=01/02/2024&endDateAt=01/02/2024") == ["10"]
    assert await ids("channelId=2") == []
    extra = await call(
        session, server, "/companies/1/orders?includeExtra=1", method="GET", body=None
    )
    assert extra.json()["data"]["list"][0]["extraFields"] == []


async def test_listing_queries_are_checked(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Query values that do not parse answer 400 naming each parameter."""
    query = "limit=-1&offset=x&beginDateAt=2024-01-01&orderBy=name&includeExtra=2"
    reply = await call(session, server, f"/companies/1/orders?{query}", method="GET", body=None)
    assert reply.status == 400
    assert set(reply.json()["data"]) == {
        "limit",
        "offset",
        "beginDateAt",
        "orderBy",
        "includeExtra",
    }
    ids = await call(session, server, "/companies/1/orderBCIds?endDateAt=13/01/2024", method="GET")
    assert ids.json()["data"] == {"endDateAt": "endDateAt must be a date as MM/DD/YYYY"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"orderId": None}, "orderId"),
        ({"orderId": " "}, "orderId"),
        ({"billingAddress": None}, "billingAddress"),
        ({"products": {}}, "products"),
        ({"products": [1]}, "products[0]"),
        ({"products": [{"quantity": "two"}]}, "products[0].quantity"),
        ({"products": [{"priceIncTax": True}]}, "products[0].priceIncTax"),
        ({"discountAmount": "NaN"}, "discountAmount"),
        ({"discountAmount": "1e999999999"}, "discountAmount"),
        ({"discountAmount": [1]}, "discountAmount"),
        ({"discountAmount": "cheap"}, "discountAmount"),
        ({"discountAmount": None}, "discountAmount"),
        ({"statusId": 99}, "statusId"),
        ({"channelId": "web"}, "channelId"),
        ({"poNumber": 9}, "poNumber"),
        ({"externalId": "AMZ-1"}, "externalId"),
    ],
)
async def test_update_order_checks_its_body(
    server: SandboxServer, session: aiohttp.ClientSession, change: dict[str, Any], field: str
) -> None:
    """A broken update answers 400 naming the field and changes nothing."""
    await register_orders(session, server, ("117", 5, 100))
    reply = await call(session, server, "/orders", method="PUT", body={**UPDATE, **change})
    assert reply.status == 400
    assert field in reply.json()["data"]
    assert server.orders["117"].products == ()


@pytest.mark.parametrize(
    "raw_total", [b"1e400", b"1e999999999", b"1E+308", b"-1E+308", b"-1e999999999"]
)
async def test_a_total_no_double_holds_is_refused(
    unlimited: SandboxServer, session: aiohttp.ClientSession, raw_total: bytes
) -> None:
    """A total of 1E+308 or more in magnitude is refused: stored, it would make every later
    read of the order huge (V2 writes all its digits) or not JSON (V3 writes a double:
    ``Infinity``)."""
    body = b'{"orderId": "100", "totalIncTax": ' + raw_total + b"}"
    reply = await call(session, unlimited, data=body)
    assert reply.status == 400
    problem = "totalIncTax must be below 1E+308"
    assert reply.json()["data"] == {"total_inc_tax": problem}
    assert not unlimited.orders


@pytest.mark.parametrize(
    "raw_total",
    [b"9.99999999999999E+307", b"1E-307", b"1e-999999999", b"0", b"0.00", b"0e-400", b"0E+999"],
)
async def test_a_total_a_double_holds_is_registered_and_read_back_as_json(
    unlimited: SandboxServer, session: aiohttp.ClientSession, raw_total: bytes
) -> None:
    """Totals at the edges of the range, tiny ones and zeros of any exponent register, and
    V3 reads them back as JSON numbers."""
    body = b'{"orderId": "100", "totalIncTax": ' + raw_total + b"}"
    assert (await call(session, unlimited, data=body)).status == 200
    read = await v3(session, unlimited, "/orders/100")
    (view,) = json.loads(read.text, parse_constant=refuse)["data"]
    assert view["totalIncTax"] == float(raw_total)


def refuse(name: str) -> object:
    """A strict JSON reader's answer to ``NaN`` or ``Infinity``."""
    raise ValueError(f"{name} is not JSON")


async def test_an_update_amount_too_large_is_refused_in_its_own_words(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """An amount of 1E+15 or more is a number, and the answer says what is wrong with it:
    its size, not its kind."""
    await register_orders(session, server, ("117", 5, 100))
    change = {"discountAmount": "1E+20", "products": [{"name": "Poster", "quantity": 1e16}]}
    reply = await call(session, server, "/orders", method="PUT", body={**UPDATE, **change})
    assert reply.status == 400
    assert reply.json()["data"] == {
        "discountAmount": "discountAmount must be below 1E+15 in magnitude",
        "products[0].quantity": "quantity must be below 1E+15 in magnitude",
    }


@pytest.mark.parametrize(
    ("given", "missing"), [("subtotalExTax", "subtotalIncTax"), ("subtotalIncTax", "subtotalExTax")]
)
async def test_an_update_with_one_subtotal_alone_is_refused(
    server: SandboxServer, session: aiohttp.ClientSession, given: str, missing: str
) -> None:
    """One subtotal without the other answers 400 naming the missing one, as the schema says
    each needs the other; both together are accepted."""
    await register_orders(session, server, ("117", 5, 100))
    alone = await call(session, server, "/orders", method="PUT", body={**UPDATE, given: "9.50"})
    both = {**UPDATE, "subtotalExTax": "9.50", "subtotalIncTax": "10.45"}
    together = await call(session, server, "/orders", method="PUT", body=both)
    assert alone.status == 400
    assert alone.json()["data"] == {missing: f"{missing} is required with {given}"}
    assert together.status == 200
    assert server.orders["117"].extra["subtotalIncTax"] == "10.45"


async def test_an_update_amount_of_exactly_1e15_is_refused_and_one_just_below_is_kept(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """A product's priceExTax of 1E+15 answers 400 naming its size; 999999999999999.9999 is
    accepted."""
    await register_orders(session, server, ("117", 5, 100))
    edge = {**UPDATE, "products": [{"name": "Poster", "priceExTax": "1E+15"}]}
    below = {**UPDATE, "products": [{"name": "Poster", "priceExTax": "999999999999999.9999"}]}
    refused = await call(session, server, "/orders", method="PUT", body=edge)
    kept = await call(session, server, "/orders", method="PUT", body=below)
    assert refused.status == 400
    assert refused.json()["data"] == {
        "products[0].priceExTax": "priceExTax must be below 1E+15 in magnitude"
    }
    assert kept.status == 200
    assert server.orders["117"].products[0]["priceExTax"] == "999999999999999.9999"


async def test_an_update_sets_its_structured_fields_and_keeps_the_rest_as_extra(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """statusId, channelId and poNumber become the order's own values (ids sent as strings
    read as numbers); only the fields without a place of their own land in extra."""
    await register_orders(session, server, ("A1", 5, 100))
    body = {**UPDATE, "orderId": "A1", "statusId": "11", "channelId": "2"}
    reply = await call(session, server, "/orders", method="PUT", body=body)
    updated = server.orders["A1"]
    assert reply.status == 200
    assert (updated.status_id, updated.channel_id, updated.po_number) == (11, 2, "PO-9")
    assert updated.extra == {"totalExTax": "90.5", "staffNotes": "rush"}


async def test_company_order_ids_take_offset_and_the_date_range(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Get Company Order BC Ids filters on beginDateAt and endDateAt before it skips offset."""
    await register_orders(session, server, ("A", 1, 1), ("B", 1, 1), ("C", 1, 1), ("D", 1, 1))
    for order_id, day in (("A", "2024-01-01"), ("B", "2024-01-02"), ("C", "2024-01-03")):
        created_on(server, order_id, day)
    created_on(server, "D", "2024-01-04")
    query = "beginDateAt=01/02/2024&endDateAt=01/03/2024&offset=1"
    reply = await call(session, server, f"/companies/1/orderBCIds?{query}", method="GET")
    assert reply.json()["data"] == {
        "list": [{"orderId": "C"}],
        "pagination": {"limit": 10, "offset": 1, "totalCount": 2},
    }


async def test_company_orders_carry_extra_fields_only_with_include_extra_1(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Without includeExtra, and with includeExtra=0, the items carry no extraFields."""
    await register_orders(session, server, ("9", 1, 30))
    for query in ("", "?includeExtra=0"):
        reply = await call(session, server, f"/companies/1/orders{query}", method="GET")
        assert reply.status == 200
        assert "extraFields" not in reply.json()["data"]["list"][0]


async def test_company_orders_list_the_newest_first_without_order_by(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Without orderBy, Get Company Orders lists the most recently created order first."""
    await register_orders(session, server, ("9", 1, 30), ("10", 1, 10))
    created_on(server, "9", "2024-01-02")
    created_on(server, "10", "2024-01-01")
    reply = await call(session, server, "/companies/1/orders", method="GET")
    assert [item["orderId"] for item in reply.json()["data"]["list"]] == ["9", "10"]
