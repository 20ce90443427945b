"""Orders that missed V3's 10-second window end with their PO number and extra fields.

B2B Edition records an order by itself once its window has passed, without the PO number and
extra fields the integrator meant to send. ``ensure`` reconciles such orders in the fewest
requests (a read, and an update where something differs); running it again reads only.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from b2b_async import B2BClient, NewV3Order, RetryPolicy
from b2b_async.sandbox import DEFAULT_TOKEN, Faults, SandboxServer
from tests.reliability.conftest import Recorder

ORDERS = 100
FIRST = 5000
CONFIGS = "/api/v3/io/orders/extra-fields"


def late_orders(server: SandboxServer) -> list[NewV3Order]:
    """Place 100 orders created 11 to 60 s ago, each with the PO and extra fields it should hold."""
    now = datetime.now(UTC)
    orders = []
    for n in range(ORDERS):
        created = now - timedelta(seconds=11 + n % 50)
        server.place_order(
            customer_id=n % 20 + 1, total_inc_tax=10 + n, bc_order_id=FIRST + n, created_at=created
        )
        fields = {"Fintech ID": f"F-{n}", "Department": ("Retail", "Automotive")[n % 2]}
        orders.append(NewV3Order(FIRST + n, n % 20 + 1, f"PO-{n}", fields, created_at=created))
    return orders


def requests_by_kind(server: SandboxServer, since: int = 0) -> Counter[str]:
    """How many requests of each kind arrived: the configurations' fetch, reads, updates."""
    kinds: Counter[str] = Counter()
    for record in server.requests[since:]:
        kinds["configs" if record.path == CONFIGS else record.method] += 1
    return kinds


def assert_every_order_holds_its_values(server: SandboxServer, orders: list[NewV3Order]) -> None:
    """Each order is registered with its PO number and extra fields, and its placed total."""
    for order in orders:
        held = server.orders[order.order_id]
        assert held.po_number == order.po_number
        fields = {field["fieldName"]: field["fieldValue"] for field in held.extra["extraFields"]}
        assert fields == {field.field_name: field.field_value for field in order.extra_fields}
        assert held.total_inc_tax == order.bc_order_id - FIRST + 10


async def test_late_orders_are_reconciled_in_two_requests_then_only_read(record: Recorder) -> None:
    """100 orders past their window: one read and one update each; a second run reads only."""
    async with SandboxServer(rate=None) as server:
        orders = late_orders(server)
        async with B2BClient(DEFAULT_TOKEN, base_url=server.url, rate_limit=None) as client:
            first = await client.v3.orders.ensure_many(orders)
            sent_first = requests_by_kind(server)
            second = await client.v3.orders.ensure_many(orders)
            sent_second = requests_by_kind(server, sum(sent_first.values()))
        assert_every_order_holds_its_values(server, orders)
    assert first.ok
    assert second.ok
    assert {outcome.result.action for outcome in first.outcomes if outcome.result} == {"updated"}
    assert {outcome.result.action for outcome in second.outcomes if outcome.result} == {"unchanged"}
    assert sent_first == {"configs": 1, "GET": ORDERS, "PUT": ORDERS}
    assert sent_second == {"GET": ORDERS}
    record(
        "late_orders",
        case="100 orders 11-60 s past creation, ensure_many twice",
        first_run=dict(sent_first),
        second_run=dict(sent_second),
    )


async def test_late_orders_are_reconciled_under_faults() -> None:
    """With 15% of requests failing (5xx, resets after processing), every order ends right."""
    faults = Faults(http_500=0.04, http_503=0.04, reset_before=0.03, reset_after=0.04)
    quick = RetryPolicy(attempts=8, initial_wait=0.01, max_wait=0.05)
    async with SandboxServer(rate=None, faults=faults, seed=16) as server:
        orders = late_orders(server)
        async with B2BClient(
            DEFAULT_TOKEN, base_url=server.url, rate_limit=None, retry=quick
        ) as client:
            report = await client.v3.orders.ensure_many(orders)
            again = await client.v3.orders.ensure_many(orders)
        faulted = sum(1 for request in server.requests if request.fault is not None)
        assert_every_order_holds_its_values(server, orders)
    assert faulted > 0
    assert report.ok
    assert again.ok
    assert {outcome.result.action for outcome in again.outcomes if outcome.result} == {"unchanged"}
