"""Tests of ``b2b_async/sandbox/_v3.py``: the V3 Order operations under ``/api/v3/io``,
registration within the window, missing orders and customers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NoReturn

import aiohttp
import pytest

from b2b_async.sandbox import API_PREFIX, OrderExtraField, SandboxServer
from b2b_async.sandbox._extra_fields import DROPDOWN
from b2b_async.sandbox._state import SandboxState
from tests.sandbox._helpers import V2_HEADERS, FakeClock, create, create_v2, v3


async def test_create_registers_and_answers_the_order(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """POST /orders registers with the customer's company and answers orderData_ALL."""
    reply = await create(
        session,
        unlimited,
        101,
        5,
        poNumber="PO-1",
        extraFields=[{"fieldName": "Fintech ID", "fieldValue": "F-1"}],
    )
    assert reply.status == 200
    body = reply.json()
    assert body["code"] == 200
    assert body["meta"] == {"message": "SUCCESS"}
    data = body["data"]
    assert (data["bcOrderId"], data["id"], data["companyId"]) == (101, 1, 5)
    assert data["poNumber"] == "PO-1"
    assert data["extraFields"] == [{"fieldName": "Fintech ID", "fieldValue": "F-1"}]
    assert data["totalIncTax"] == 0
    assert isinstance(data["createdAt"], int)
    assert unlimited.registrations("101") == 1
    assert unlimited.orders["101"].customer_id == 5


async def test_an_order_registered_through_either_version_is_visible_through_both(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """V3 sees a V2 registration, V2 sees a V3 one, and neither registers it twice."""
    await create_v2(session, unlimited, "700")
    await create(session, unlimited, 701)
    via_v3 = await v3(session, unlimited, "/orders/700")
    via_v2 = await v3(
        session, unlimited, "/orders/701/companyIdBCId", headers=V2_HEADERS, prefix=API_PREFIX
    )
    again_v3 = await create(session, unlimited, 700)
    again_v2 = await create_v2(session, unlimited, "701")
    assert via_v3.json()["data"][0]["poNumber"] == "PO-2"
    assert via_v2.json()["data"]["companyId"] == "5"
    assert again_v3.status == again_v2.status == 400
    assert again_v3.json() == {
        "code": 400,
        "data": {},
        "meta": {"message": "The order already exists."},
    }
    assert again_v2.json()["data"] == {"errMsg": "The order already exists."}
    assert unlimited.registrations("700") == unlimited.registrations("701") == 1


async def test_create_for_an_unknown_customer_or_a_garbled_body(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """An unknown customer answers 404; a body that is not JSON answers 400."""
    unknown = await create(session, unlimited, 1, 99_999)
    garbled = await v3(session, unlimited, "/orders", method="POST", data=b"{not json")
    assert unknown.status == 404
    assert unknown.json()["meta"]["message"] == "User Does not Exist"
    assert garbled.status == 400
    assert garbled.json()["data"] == {"errMsg": "Request body is not valid JSON"}


async def test_required_fields_are_checked_on_updates_and_not_on_creates(
    session: aiohttp.ClientSession,
) -> None:
    """A create may leave a required field out (B2B Edition records orders without them); an
    update may not, and a value outside its list is 422 on both."""
    fields = (
        OrderExtraField(name="Cost Center", required=True),
        OrderExtraField(name="Region", field_type=DROPDOWN, choices=("EU", "US"), required=True),
    )
    async with SandboxServer(rate=None, order_extra_fields=fields) as server:
        created = await create(session, server, 8)
        outside = await create(
            session, server, 9, extraFields=[{"fieldName": "Region", "fieldValue": "Mars"}]
        )
        missing = await v3(session, server, "/orders/8", method="PUT", body={"poNumber": "P"})
        configs = await v3(session, server, "/orders/extra-fields")
    assert created.status == 200
    assert (outside.status, missing.status) == (422, 422)
    assert outside.json()["meta"]["message"] == "Region must be one of EU, US"
    assert missing.json()["data"]["errMsg"] == (
        "Cost Center is a required extra field; Region is a required extra field"
    )
    served = configs.json()["data"]
    assert [(config["fieldName"], config["isRequired"]) for config in served] == [
        ("Cost Center", True),
        ("Region", True),
    ]
    assert served[1]["listOfValues"] == ["EU", "US"]
    assert served[1]["fieldType"] == DROPDOWN
    assert served[0]["maximumLength"] == 100


async def test_a_create_inside_the_window_answers_200_with_the_placed_total(
    store: SandboxServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Just before the window closes the create registers, with the BigCommerce total."""
    placed = store.place_order(customer_id=7, total_inc_tax=Decimal("259.99"))
    clock.advance(9.999)
    reply = await create(
        session,
        store,
        placed.bc_order_id,
        7,
        poNumber="PO-1",
        extraFields=[{"fieldName": "Fintech ID", "fieldValue": "F-1"}],
    )
    detail = await v3(session, store, "/orders/100/details", headers=V2_HEADERS, prefix=API_PREFIX)
    assert reply.status == 200
    data = reply.json()["data"]
    assert (data["bcOrderId"], data["totalIncTax"], data["usdIncTax"]) == (100, 259.99, 259.99)
    assert data["poNumber"] == "PO-1"
    assert data["createdAt"] == int(placed.created_at.timestamp())
    assert detail.json()["data"]["poNumber"] == "PO-1"
    assert store.orders["100"].total_inc_tax == Decimal("259.99")
    assert store.orders["100"].created_at == placed.created_at
    assert store.registrations("100") == 1


async def test_an_order_never_placed_is_accepted_with_a_zero_total(
    store: SandboxServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Without a BigCommerce order there is no window to miss: the create registers."""
    clock.advance(3600)
    reply = await create(session, store, 77)
    assert reply.status == 200
    assert reply.json()["data"]["totalIncTax"] == 0


@pytest.mark.parametrize("path", ["/orders/404", "/orders/BC1", "/orders/0042"])
async def test_get_unknown_or_unnameable_orders_answer_404(
    unlimited: SandboxServer, session: aiohttp.ClientSession, path: str
) -> None:
    """An unknown id, or an id V3's integer bcOrderId cannot be, answers 404."""
    await create_v2(session, unlimited, "BC1")
    await create_v2(session, unlimited, "0042")
    reply = await v3(session, unlimited, path)
    assert reply.status == 404
    assert reply.json() == {"code": 404, "data": {}, "meta": {"message": "Order Does Not Exist."}}


async def test_products_of_an_unknown_order_answer_404(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """An unknown order's products answer 404 "The order does not exist."."""
    reply = await v3(session, unlimited, "/orders/5/products")
    assert reply.status == 404
    assert reply.json()["meta"]["message"] == "The order does not exist."


async def test_assign_gives_a_moved_customers_orders_its_new_company(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """PUT /customers/{id}/orders/b2b answers how many orders moved."""
    await create(session, unlimited, 1, 5)
    await create(session, unlimited, 2, 5)
    unlimited.move_customer(5, 9)
    moved = await v3(session, unlimited, "/customers/5/orders/b2b", method="PUT")
    again = await v3(session, unlimited, "/customers/5/orders/b2b", method="PUT")
    unknown = await v3(session, unlimited, "/customers/99999/orders/b2b", method="PUT")
    assert moved.json() == {"code": 200, "data": {"total": 2}, "message": "SUCCESS"}
    assert again.json()["data"] == {"total": 0}
    assert unlimited.orders["1"].company_id == 9
    assert unknown.status == 404
    assert unknown.json()["meta"]["message"].startswith("User does not exist")


async def test_reassign_moves_orders_to_the_company_of_a_customer_group(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """PUT /customers/{id}/orders/company needs bcGroupId; unknown ids answer 404."""
    await create(session, unlimited, 1, 5)
    path = "/customers/5/orders/company"
    moved = await v3(session, unlimited, path, method="PUT", body={"bcGroupId": 7})
    no_group = await v3(session, unlimited, path, method="PUT", body={})
    text_group = await v3(session, unlimited, path, method="PUT", body={"bcGroupId": "7"})
    garbled = await v3(session, unlimited, path, method="PUT", data=b"[")
    unknown_group = await v3(session, unlimited, path, method="PUT", body={"bcGroupId": 999})
    unknown_user = await v3(
        session, unlimited, "/customers/99999/orders/company", method="PUT", body={"bcGroupId": 7}
    )
    assert moved.json()["data"] == {"total": 1}
    assert unlimited.orders["1"].company_id == 7
    assert (no_group.status, text_group.status, garbled.status) == (400, 400, 400)
    assert no_group.json()["data"] == {"bcGroupId": "bcGroupId can not be null"}
    assert unknown_group.status == unknown_user.status == 404


async def test_list_pages_with_meta_pagination(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """GET /orders: newest update first by default, limit/offset, totalCount in meta."""
    for number in (1, 2, 3):
        await create(session, unlimited, number)
    await create_v2(session, unlimited, "BC-9")  # V3 cannot name it: left out
    first = await v3(session, unlimited, "/orders", query={"limit": "2"})
    second = await v3(session, unlimited, "/orders", query={"limit": "2", "offset": "2"})
    body = first.json()
    assert body["meta"]["pagination"] == {"totalCount": 3, "limit": 2, "offset": 0}
    assert [order["bcOrderId"] for order in body["data"]] == [3, 2]
    assert [order["bcOrderId"] for order in second.json()["data"]] == [1]
    assert "extraFields" not in body["data"][0]


async def test_answering_for_one_order_does_not_walk_every_order(
    unlimited: SandboxServer, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A create, read or update answers with the order's B2B id without walking the store."""
    await create_v2(session, unlimited, "700")
    await create(session, unlimited, 701)

    def walked(state: SandboxState) -> NoReturn:
        raise AssertionError("the store's orders were walked to answer for one order")

    monkeypatch.setattr(SandboxState, "orders", property(walked))
    created = await create(session, unlimited, 702)
    read = await v3(session, unlimited, "/orders/700")
    updated = await v3(session, unlimited, "/orders/701", method="PUT", body={"poNumber": "P"})
    assert created.json()["data"]["id"] == 3
    assert read.json()["data"][0]["id"] == 1
    assert updated.json()["data"][0]["id"] == 2
    monkeypatch.undo()
    assert unlimited.state.b2b_ids == {"700": 1, "701": 2, "702": 3}


async def test_create_answers_the_listing_shape_without_invoice_fields(
    unlimited: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """POST /orders answers orderData_ALL: no invoice fields, which only the detail has."""
    data = (await create(session, unlimited, 102)).json()["data"]
    detail = (await v3(session, unlimited, "/orders/102", method="GET")).json()["data"][0]
    assert "isInvoiceOrder" in detail
    assert not {"isInvoiceOrder", "invoiceId", "invoiceNumber", "invoiceStatus"} & data.keys()
