"""Tests of ``b2b_async/sandbox/_bigcommerce.py``: orders placed in BigCommerce, the value of
the registration window, and the body of ``POST /_sandbox/bigcommerce/orders``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from b2b_async.sandbox import DEFAULT_REGISTRATION_WINDOW, PlacedOrder, Sandbox, SandboxServer
from b2b_async.sandbox._bigcommerce import placed_view, placement_from_json
from tests.sandbox._helpers import control


def test_place_order_keeps_an_aware_creation_time_in_utc() -> None:
    """An aware created_at is kept, converted to UTC."""
    sandbox = Sandbox(rate=None, registration_window=None)
    moment = datetime(2026, 4, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    placed = sandbox.place_order(customer_id=5, total_inc_tax=1, created_at=moment)
    assert placed.created_at == moment
    assert placed.created_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"customer_id": 99_999}, KeyError, "unknown customer 99999"),
        ({"bc_order_id": 100}, ValueError, "order 100 already exists"),
        ({"bc_order_id": 0}, ValueError, "bc_order_id must be a positive integer"),
        ({"total_inc_tax": -1}, ValueError, "total_inc_tax must be finite and >= 0"),
        ({"total_inc_tax": "NaN"}, ValueError, "total_inc_tax must be finite and >= 0"),
        ({"total_inc_tax": "ten"}, ValueError, "total_inc_tax must be an amount"),
        ({"total_inc_tax": True}, ValueError, "total_inc_tax must be an amount"),
        ({"created_at": datetime(2026, 4, 1)}, ValueError, "created_at must be an aware"),
    ],
)
def test_place_order_refuses_what_bigcommerce_would_not_hold(
    arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    """Unknown customers, ids in use, bad totals and naive times raise, placing nothing."""
    sandbox = Sandbox(rate=None)
    sandbox.place_order(customer_id=5, total_inc_tax=1)
    with pytest.raises(error, match=message):
        sandbox.place_order(**{"customer_id": 5, "total_inc_tax": 1, **arguments})
    assert list(sandbox.placed_orders) == [100]


def test_a_placed_order_is_shown_with_its_total_as_written() -> None:
    """The control endpoints show the total as a string with the digits given, the time in
    UTC."""
    placed = PlacedOrder(
        bc_order_id=9,
        customer_id=5,
        total_inc_tax="12.50",
        created_at=datetime(2026, 4, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
    )
    assert placed_view(placed) == {
        "bcOrderId": 9,
        "customerId": 5,
        "totalIncTax": "12.50",
        "createdAt": "2026-04-01T10:00:00+00:00",
    }


@pytest.mark.parametrize("window", [-1.0, float("inf"), float("nan"), "10", True])
def test_a_window_that_is_not_a_duration_is_refused(window: Any) -> None:
    """The window is a finite, non-negative number of seconds, or None."""
    with pytest.raises(ValueError, match="registration_window"):
        Sandbox(registration_window=window)
    sandbox = Sandbox()
    with pytest.raises(ValueError, match="registration_window"):
        sandbox.registration_window = window
    assert sandbox.registration_window == DEFAULT_REGISTRATION_WINDOW == 10.0


@pytest.mark.parametrize(
    "window", [10**5000, -(10**5000), 2**1024], ids=["huge", "-huge", "2**1024"]
)
def test_a_window_past_a_floats_range_is_refused_by_name(window: int) -> None:
    """An int too large for a float is a ValueError naming the window, not an OverflowError."""
    with pytest.raises(ValueError, match=r"^registration_window must be finite"):
        Sandbox(registration_window=window)


@pytest.mark.parametrize(
    ("payload", "status", "error"),
    [
        ({"totalIncTax": 1}, 400, "customerId is required"),
        ({"customerId": 5}, 400, "totalIncTax is required"),
        ({"customerId": "5", "totalIncTax": 1}, 400, "customerId must be an integer"),
        ({"customerId": 5, "totalIncTax": None}, 400, "totalIncTax must be a number"),
        ({"customerId": 5, "totalIncTax": -1}, 400, "total_inc_tax must be finite and >= 0"),
        ({"customerId": 5, "totalIncTax": 1, "bcOrderId": 1.5}, 400, "bcOrderId must be an"),
        ({"customerId": 5, "totalIncTax": 1, "createdAt": "today"}, 400, "createdAt must be"),
        (
            {"customerId": 5, "totalIncTax": 1, "createdAt": "2026-04-01T12:00:00"},
            400,
            "created_at must be an aware datetime",
        ),
        ({"customerId": 99_999, "totalIncTax": 1}, 404, "unknown customer 99999"),
        ([1], 400, "the body must be a JSON object"),
    ],
)
async def test_the_control_endpoint_refuses_bad_placements(
    unlimited: SandboxServer,
    session: aiohttp.ClientSession,
    payload: Any,
    status: int,
    error: str,
) -> None:
    """A placement that cannot be made answers 400 (404 for an unknown customer) and places
    nothing."""
    reply = await control(session, unlimited, body=payload)
    garbled = await control(session, unlimited, data=b"{")
    assert reply.status == status
    assert reply.json()["error"].startswith(error)
    assert garbled.status == 400
    assert not unlimited.placed_orders


@pytest.mark.parametrize("created_at", [True, [2026, 4, 1], {"seconds": 1}])
def test_a_placement_created_at_neither_seconds_nor_text_is_refused(created_at: object) -> None:
    """``createdAt`` is Unix seconds or ISO 8601 text; a boolean, a list or an object is not."""
    body = {"customerId": 5, "totalIncTax": 1, "createdAt": created_at}
    with pytest.raises(ValueError, match="createdAt must be Unix seconds or ISO 8601 text"):
        placement_from_json(body)


def test_a_placement_keeps_fractional_seconds_and_leaves_out_what_was_not_sent() -> None:
    """Seconds with a fraction (decoded as Decimal) keep the fraction; absent or null
    ``bcOrderId`` and ``createdAt`` are not passed on, so the sandbox picks them."""
    timed = placement_from_json(
        {"customerId": 5, "totalIncTax": "7.25", "createdAt": Decimal("1775037600.5")}
    )
    bare = placement_from_json(
        {"customerId": 5, "totalIncTax": 3, "bcOrderId": None, "createdAt": None}
    )
    assert timed == {
        "customer_id": 5,
        "total_inc_tax": "7.25",
        "created_at": datetime(2026, 4, 1, 10, 0, 0, 500_000, tzinfo=UTC),
    }
    assert bare == {"customer_id": 5, "total_inc_tax": 3}


@pytest.mark.parametrize("created_at", [10**20, Decimal("1e20"), -(10**20)])
def test_a_placement_created_at_beyond_any_date_is_refused(created_at: object) -> None:
    """Seconds beyond the years a datetime holds are a ValueError (a 400 at the control
    endpoint), not an OverflowError (a 500)."""
    body = {"customerId": 5, "totalIncTax": 1, "createdAt": created_at}
    with pytest.raises(ValueError, match="createdAt is out of range"):
        placement_from_json(body)


@pytest.mark.parametrize("created_at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
async def test_a_created_at_that_leaves_the_years_in_utc_is_refused(
    unlimited: SandboxServer, session: aiohttp.ClientSession, created_at: str
) -> None:
    """A time whose offset takes it past year 1 or 9999 in UTC: a 400 at the control
    endpoint, a ValueError from place_order, never a 500."""
    placement = {"customerId": 5, "totalIncTax": 1, "createdAt": created_at}
    placed = await control(session, unlimited, body=placement)
    assert placed.status == 400
    assert "out of range in UTC" in placed.json()["error"]
    moment = datetime.fromisoformat(created_at)
    with pytest.raises(ValueError, match="out of range in UTC"):
        unlimited.place_order(customer_id=5, total_inc_tax=1, created_at=moment)
    assert not unlimited.placed_orders


@pytest.mark.parametrize("total", ["1e400", "1E+308", "1e999999999"])
def test_a_placed_total_no_double_holds_is_refused(total: str) -> None:
    """A BigCommerce order's total keeps to the range V2 registration does: V3 would read a
    larger one back as ``Infinity``, which is no JSON."""
    sandbox = Sandbox()
    with pytest.raises(ValueError, match="total_inc_tax must be below 1E\\+308"):
        sandbox.place_order(customer_id=5, total_inc_tax=total)
    assert not sandbox.placed_orders


def test_a_window_of_zero_seconds_is_a_duration() -> None:
    """A registration window of 0 is allowed: V3 then accepts no order after its creation."""
    sandbox = Sandbox(registration_window=0)
    assert sandbox.registration_window == 0.0
    sandbox.registration_window = 0
    assert sandbox.registration_window == 0.0


def test_a_float_total_keeps_the_digits_it_prints() -> None:
    """A float total is read as it prints (0.1 is 0.1), not as its binary expansion."""
    moment = datetime(2026, 4, 1, tzinfo=UTC)
    placed = PlacedOrder(bc_order_id=9, customer_id=5, total_inc_tax=0.1, created_at=moment)
    assert placed.total_inc_tax == Decimal("0.1")


def test_a_placed_order_takes_its_fields_by_keyword_only() -> None:
    """PlacedOrder's fields are keyword-only, so a positional mix-up cannot swap ids."""
    moment = datetime(2026, 4, 1, tzinfo=UTC)
    with pytest.raises(TypeError):
        PlacedOrder(9, 5, 1, moment)  # type: ignore[call-arg]


def test_the_smallest_id_and_a_zero_total_are_an_order() -> None:
    """Ids of 1 and a total of 0 (a free order) are accepted, as BigCommerce holds them."""
    moment = datetime(2026, 4, 1, tzinfo=UTC)
    placed = PlacedOrder(bc_order_id=1, customer_id=1, total_inc_tax=0, created_at=moment)
    assert (placed.bc_order_id, placed.customer_id, placed.total_inc_tax) == (1, 1, Decimal(0))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("bc_order_id", True),
        ("bc_order_id", "9"),
        ("bc_order_id", 9.0),
        ("customer_id", 0),
        ("customer_id", True),
        ("customer_id", "5"),
    ],
)
def test_a_placed_order_refuses_ids_that_are_not_positive_integers(
    field: str, value: object
) -> None:
    """Each id is a positive int: a boolean, text, a float or 0 is a ValueError naming it."""
    fields: dict[str, Any] = {"bc_order_id": 9, "customer_id": 5, field: value}
    moment = datetime(2026, 4, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match=f"{field} must be a positive integer"):
        PlacedOrder(**fields, total_inc_tax=1, created_at=moment)


@pytest.mark.parametrize("created_at", ["2026-04-01T12:00:00+00:00", 1775037600, None])
def test_a_placed_order_created_at_that_is_no_datetime_is_refused(created_at: Any) -> None:
    """A creation time given as text, seconds or nothing is a ValueError, not a crash."""
    with pytest.raises(ValueError, match="created_at must be an aware datetime"):
        PlacedOrder(bc_order_id=9, customer_id=5, total_inc_tax=1, created_at=created_at)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"customerId": True, "totalIncTax": 1}, "customerId must be an integer"),
        ({"customerId": 5, "totalIncTax": 1, "bcOrderId": False}, "bcOrderId must be an integer"),
        ({"customerId": 5, "totalIncTax": True}, "totalIncTax must be a number"),
    ],
)
def test_a_placement_refuses_booleans_by_the_key_sent(body: dict[str, Any], problem: str) -> None:
    """JSON true or false is no id and no total: the ValueError names the body's key."""
    with pytest.raises(ValueError, match=problem):
        placement_from_json(body)


@pytest.mark.parametrize("total", [None, {"amount": 1}, object()])
def test_a_placed_total_of_no_amount_type_is_refused(total: Any) -> None:
    """A total that is no number or text at all is a ValueError, as a bad amount is."""
    moment = datetime(2026, 4, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="total_inc_tax must be an amount"):
        PlacedOrder(bc_order_id=9, customer_id=5, total_inc_tax=total, created_at=moment)
