"""Tests of ``b2b_async/sandbox/_v3_input.py``: the V3 bodies, extra field rules and listing
queries, checked.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import attrs
import pytest
from multidict import MultiDict

from b2b_async.sandbox import DEFAULT_ORDER_EXTRA_FIELDS, OrderExtraField, SandboxServer
from tests.sandbox._helpers import age, create, v3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"customerId": 5}, "bcOrderId"),
        ({"bcOrderId": 1}, "customerId"),
        ({"bcOrderId": "101", "customerId": 5}, "bcOrderId"),
        ({"bcOrderId": True, "customerId": 5}, "bcOrderId"),
        ({"bcOrderId": 0, "customerId": 5}, "bcOrderId"),
        ({"bcOrderId": 1.5, "customerId": 5}, "bcOrderId"),
        ({"bcOrderId": 1, "customerId": 5, "poNumber": 7}, "poNumber"),
        ({"bcOrderId": 1, "customerId": 5, "extraFields": {}}, "extraFields"),
        ({"bcOrderId": 1, "customerId": 5, "extraFields": [1]}, "extraFields[0]"),
        (
            {
                "bcOrderId": 1,
                "customerId": 5,
                "extraFields": [{"fieldName": "X", "fieldValue": ""}],
            },
            "extraFields[0].fieldName",
        ),
        (
            {
                "bcOrderId": 1,
                "customerId": 5,
                "extraFields": [
                    {"fieldName": "Priority", "fieldValue": "1"},
                    {"fieldName": "Priority", "fieldValue": "2"},
                ],
            },
            "extraFields[1].fieldName",
        ),
    ],
)
async def test_create_refuses_bodies_that_break_the_schema(
    unlimited: SandboxServer, session: aiohttp.ClientSession, body: dict[str, Any], field: str
) -> None:
    """Missing or mistyped fields answer 400 naming the field, and register nothing."""
    reply = await v3(session, unlimited, "/orders", method="POST", body=body)
    assert reply.status == 400
    answer = reply.json()
    assert answer["code"] == 400
    assert field in answer["data"]
    assert answer["meta"]["message"]
    assert not unlimited.orders


async def test_update_with_values_that_break_their_fields_answers_422_naming_each(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Every broken value is named, in the order sent; the order keeps its values."""
    await create(session, unlimited, 8, poNumber="P")
    broken = [
        {"fieldName": "Department", "fieldValue": "Space"},
        {"fieldName": "Priority", "fieldValue": "1e999999x"},
    ]
    reply = await v3(
        session, unlimited, "/orders/8", method="PUT", body={"poNumber": "Q", "extraFields": broken}
    )
    assert reply.status == 422
    assert reply.json()["data"]["errMsg"] == (
        "Department must be one of Retail, Automotive, Manufacturing; Priority must be a number"
    )
    assert unlimited.orders["8"].po_number == "P"


async def test_update_sets_po_number_and_merges_extra_fields(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """PUT /orders/{id}: the PO number changes; named extra fields change, others stay."""
    await create(
        session,
        unlimited,
        8,
        extraFields=[
            {"fieldName": "Fintech ID", "fieldValue": "A"},
            {"fieldName": "Priority", "fieldValue": "1"},
        ],
    )
    changed = [{"fieldName": "Priority", "fieldValue": "2"}]
    reply = await v3(
        session,
        unlimited,
        "/orders/8",
        method="PUT",
        body={"poNumber": "P", "extraFields": changed},
    )
    only_po = await v3(session, unlimited, "/orders/8", method="PUT", body={"poNumber": "Q"})
    assert reply.status == 200
    body = reply.json()
    assert body["message"] == "SUCCESS"
    [order] = body["data"]
    assert order["poNumber"] == "P"
    assert order["extraFields"] == [
        {"fieldName": "Fintech ID", "fieldValue": "A"},
        {"fieldName": "Priority", "fieldValue": "2"},
    ]
    assert only_po.json()["data"][0]["poNumber"] == "Q"
    assert unlimited.orders["8"].po_number == "Q"


async def test_update_refusals(unlimited: SandboxServer, session: aiohttp.ClientSession) -> None:
    """No field: 400; a bad field: 400; an unknown order: 404 "Not Found Error"."""
    await create(session, unlimited, 8)
    empty = await v3(session, unlimited, "/orders/8", method="PUT", body={})
    bad = await v3(session, unlimited, "/orders/8", method="PUT", body={"poNumber": 1})
    missing = await v3(session, unlimited, "/orders/9", method="PUT", body={"poNumber": "P"})
    assert (empty.status, bad.status, missing.status) == (400, 400, 404)
    assert empty.json()["data"] == {"errMsg": "poNumber or extraFields is required"}
    assert bad.json()["data"] == {"poNumber": "poNumber must be a string"}
    assert missing.json()["meta"]["message"] == "Not Found Error"


async def test_required_extra_fields_make_updates_without_them_422(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """With a required extra field, an update must send it (or the order must have it)."""
    unlimited.order_extra_fields = (
        *DEFAULT_ORDER_EXTRA_FIELDS,
        OrderExtraField(name="Cost Center", required=True),
    )
    await create(session, unlimited, 8)
    without = await v3(session, unlimited, "/orders/8", method="PUT", body={"poNumber": "P"})
    other = [{"fieldName": "Priority", "fieldValue": "1"}]
    lacking = await v3(session, unlimited, "/orders/8", method="PUT", body={"extraFields": other})
    given = [{"fieldName": "Cost Center", "fieldValue": "CC-1"}]
    with_it = await v3(session, unlimited, "/orders/8", method="PUT", body={"extraFields": given})
    later = await v3(session, unlimited, "/orders/8", method="PUT", body={"extraFields": other})
    assert without.status == lacking.status == 422
    assert without.json() == {
        "code": 422,
        "data": {"errMsg": "Cost Center is a required extra field"},
        "meta": {"message": "Cost Center is a required extra field"},
    }
    assert (with_it.status, later.status) == (200, 200)


async def test_list_filters(unlimited: SandboxServer, session: aiohttp.ClientSession) -> None:
    """companyId, bcOrderId, channelIds[], showExtra, sortBy and orderBy all apply."""
    await create(session, unlimited, 1, 5)
    await create(session, unlimited, 2, 6)
    await create(session, unlimited, 3, 5)
    unlimited.state.update("3", channel_id=2)

    async def ids(query: Any) -> list[int]:
        reply = await v3(session, unlimited, "/orders", query=query)
        assert reply.status == 200, reply.text
        return [order["bcOrderId"] for order in reply.json()["data"]]

    assert await ids({"companyId": "5", "sortBy": "createdAt", "orderBy": "ASC"}) == [1, 3]
    assert await ids({"bcOrderId": "2"}) == [2]
    assert await ids(MultiDict([("channelIds[]", "2")])) == [3]
    assert await ids(MultiDict([("channelIds[]", "1"), ("channelIds[]", "2")])) == [3, 2, 1]
    assert await ids({"channelIds[]": "1,2", "orderBy": "asc", "sortBy": "createdAt"}) == [1, 2, 3]
    extra = await v3(session, unlimited, "/orders", query={"showExtra": "true"})
    assert all("extraFields" in order for order in extra.json()["data"])


async def test_list_time_bounds_and_the_last_year_default(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Without a time bound only the last year is listed; bounds are inclusive Unix seconds."""
    await create(session, unlimited, 1)
    await create(session, unlimited, 2)
    age(unlimited, "1", days=400)
    created = int(unlimited.orders["2"].created_at.timestamp())

    async def ids(query: dict[str, str]) -> list[int]:
        reply = await v3(session, unlimited, "/orders", query=query)
        return [order["bcOrderId"] for order in reply.json()["data"]]

    assert await ids({}) == [2]
    assert await ids({"minCreated": "0"}) == [2, 1]
    assert await ids({"minCreated": str(created)}) == [2]
    assert await ids({"maxCreated": str(created - 86_400)}) == [1]
    assert await ids({"minModified": str(created + 60)}) == []
    assert await ids({"maxModified": str(created), "minCreated": ""}) == [2, 1]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"limit": "201"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"orderBy": "UP"}, "orderBy"),
        ({"sortBy": "bcOrderId"}, "sortBy"),
        ({"showExtra": "maybe"}, "showExtra"),
        ({"minCreated": "yesterday"}, "minCreated"),
        ({"channelIds[]": "one"}, "channelIds[]"),
    ],
)
async def test_list_refuses_queries_that_do_not_parse(
    unlimited: SandboxServer, session: aiohttp.ClientSession, query: dict[str, str], parameter: str
) -> None:
    """A query value that does not parse answers 400 naming the parameter."""
    reply = await v3(session, unlimited, "/orders", query=query)
    assert reply.status == 400
    assert parameter in reply.json()["data"]


async def test_create_refuses_an_id_too_long_for_any_path_or_query_to_name(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """A bcOrderId of 65 digits answers 400 and registers nothing: stored, it would answer
    200 with a null bcOrderId and no V3 read could ever name it; 64 digits still register."""
    longest = 10**64 - 1
    refused = await v3(
        session, unlimited, "/orders", method="POST", body={"bcOrderId": 10**64, "customerId": 5}
    )
    kept = await create(session, unlimited, longest, 5)
    read = await v3(session, unlimited, f"/orders/{longest}")
    assert refused.status == 400
    assert refused.json()["data"] == {
        "bcOrderId": "bcOrderId must be a positive integer of at most 64 digits"
    }
    assert kept.status == read.status == 200
    assert kept.json()["data"]["bcOrderId"] == longest
    assert list(unlimited.orders) == [str(longest)]


async def test_list_limit_takes_1_to_200(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """limit accepts 1 and 200 and refuses 0 with a 400 naming it."""
    await create(session, unlimited, 1)
    await create(session, unlimited, 2)
    one = await v3(session, unlimited, "/orders", query={"limit": "1"})
    most = await v3(session, unlimited, "/orders", query={"limit": "200"})
    zero = await v3(session, unlimited, "/orders", query={"limit": "0"})
    assert [order["bcOrderId"] for order in one.json()["data"]] == [2]
    assert [order["bcOrderId"] for order in most.json()["data"]] == [2, 1]
    assert zero.status == 400
    assert zero.json()["data"] == {"limit": "limit must be from 1 to 200"}


async def test_the_last_year_includes_the_order_updated_exactly_a_year_ago(
    store: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Without a time bound, an order last updated 365 days ago to the second is listed."""
    state = store.state
    state.register(
        order_id="1", company_id=5, customer_id=5, total_inc_tax=Decimal(1), po_number=None
    )
    year_ago = store.now() - timedelta(days=365)
    state._orders["1"] = attrs.evolve(state.orders["1"], updated_at=year_ago)
    reply = await v3(session, store, "/orders")
    assert [order["bcOrderId"] for order in reply.json()["data"]] == [1]


@pytest.mark.parametrize(
    "item",
    [{"fieldName": "Priority"}, {"fieldName": "Priority", "fieldValue": 1}, {"fieldValue": "1"}],
)
async def test_create_refuses_an_extra_field_without_both_strings(
    unlimited: SandboxServer, session: aiohttp.ClientSession, item: dict[str, Any]
) -> None:
    """An extra field whose fieldName or fieldValue is missing or not a string answers 400
    naming the item, and registers nothing."""
    body = {"bcOrderId": 1, "customerId": 5, "extraFields": [item]}
    reply = await v3(session, unlimited, "/orders", method="POST", body=body)
    assert reply.status == 400
    assert reply.json()["data"] == {
        "extraFields[0]": "extraFields[0] must have a string fieldName and a string fieldValue"
    }
    assert not unlimited.orders


@pytest.mark.parametrize(
    ("query", "extra"),
    [
        ({"orderBy": "DESC", "sortBy": "updatedAt", "showExtra": "false"}, False),
        ({"showExtra": "0"}, False),
        ({"showExtra": "1"}, True),
    ],
)
async def test_list_takes_every_documented_value(
    unlimited: SandboxServer, session: aiohttp.ClientSession, query: dict[str, str], extra: bool
) -> None:
    """orderBy=DESC, sortBy=updatedAt and showExtra as true/false or 1/0 are accepted, and
    showExtra decides whether the orders carry their extra fields."""
    await create(session, unlimited, 1)
    reply = await v3(session, unlimited, "/orders", query=query)
    assert reply.status == 200, reply.text
    assert [("extraFields" in order) for order in reply.json()["data"]] == [extra]


async def test_list_takes_channel_ids_without_brackets_too(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """channelIds, without the brackets, filters on channels as channelIds[] does."""
    await create(session, unlimited, 1)
    await create(session, unlimited, 2)
    unlimited.state.update("2", channel_id=2)
    reply = await v3(session, unlimited, "/orders", query={"channelIds": "2"})
    assert [order["bcOrderId"] for order in reply.json()["data"]] == [2]


async def test_listings_page_ten_by_default_and_take_limit_and_offset(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Get All Orders pages 10 orders without limit; the extra field listing takes limit and
    offset."""
    await create(session, unlimited, 1)
    orders = await v3(session, unlimited, "/orders")
    fields = await v3(session, unlimited, "/orders/extra-fields", query={"limit": 1, "offset": 1})
    assert orders.json()["meta"]["pagination"] == {"totalCount": 1, "limit": 10, "offset": 0}
    assert fields.json()["meta"]["pagination"]["limit"] == 1
    assert fields.json()["meta"]["pagination"]["offset"] == 1
    [second] = fields.json()["data"]
    assert second["fieldName"] == DEFAULT_ORDER_EXTRA_FIELDS[1].name
