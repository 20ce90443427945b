"""Webhook orders through V3's 10-second window, while a V2 backfill shares the store's budget.

Orders are placed in the sandbox at an even pace (200 over 40 s by default); each one's
order-created webhook arrives 0.5 to 2.5 s after its creation (seeded), and is handled as
``docs/v3.md`` shows: ``client.v3.orders.ensure`` with the order's creation time, at its
default urgent priority. Meanwhile a backfill of 2,000 V2 orders runs through the same client
at bulk priority. The sandbox's window and the client's pacing are both 40 requests a second,
and every request takes 50 ms more (a latency fault), so the backfill alone would keep the
budget spent.

A webhook order is a miss unless ``ensure`` created it within its window; it is lost unless
the sandbox ends holding its PO number and extra fields (a miss that ``ensure`` reconciled
after the window is not lost). Its lateness is the seconds from its creation in BigCommerce to
the answer of its registration, measured against the 10-second window.

``--latency 8 --latency-share 0.05`` makes B2B Edition slow instead: one request in twenty
takes 8 s, so some creates cannot meet their window, and ``ensure`` reconciles those orders
after it.

Usage: ``python -m bench.webhook [--orders 200] [--seconds 40] [--backfill 2000] [--rate 40]
[--latency 0.05] [--latency-share 1.0] [--seed 16]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from typing import Final

import attrs

from b2b_async import B2BClient, B2BError, BulkReport, CreatedOrder, NewOrder, RateLimit
from b2b_async.sandbox import DEFAULT_TOKEN, Faults, RateWindow, SandboxServer

#: The V3 registration window, in seconds.
WINDOW: Final = 10.0
#: The first BigCommerce order id of the webhook orders.
FIRST_ORDER: Final = 500_000
#: The span of a webhook's delivery after its order's creation, in seconds.
DELIVERY: Final = (0.5, 2.5)


@attrs.frozen
class Settings:
    """What one run does."""

    orders: int = 200
    seconds: float = 40.0
    backfill: int = 2000
    rate: int = 40
    latency: float = 0.05
    latency_share: float = 1.0
    seed: int = 16


@attrs.frozen
class WebhookOrder:
    """What became of one webhook order."""

    bc_order_id: int
    lateness: float | None
    took: float | None
    action: str


@attrs.frozen
class Outcome:
    """A whole run's figures."""

    webhook: tuple[WebhookOrder, ...]
    misses: tuple[int, ...]
    lost: tuple[int, ...]
    backfill: BulkReport[NewOrder, CreatedOrder]
    backfill_seconds: float
    requests: int
    rate_limited: int


def fields_of(number: int) -> tuple[str, dict[str, str]]:
    """The PO number and extra fields the ``number``-th webhook order should end with."""
    return f"PO-{number}", {"Fintech ID": f"F-{number}", "Department": "Retail"}


async def handle_webhook(
    client: B2BClient, sandbox: SandboxServer, number: int, delay: float
) -> WebhookOrder:
    """Place one order, wait for its webhook to arrive, then ensure it."""
    bc_order_id = FIRST_ORDER + number
    customer = number % 50 + 1
    placed = sandbox.place_order(customer_id=customer, total_inc_tax="10", bc_order_id=bc_order_id)
    created = time.monotonic()
    await asyncio.sleep(delay)
    arrived = time.monotonic()
    po_number, extra_fields = fields_of(number)
    try:
        ensured = await client.v3.orders.ensure(
            bc_order_id=bc_order_id,
            customer_id=customer,
            po_number=po_number,
            extra_fields=extra_fields,
            created_at=placed.created_at,
        )
    except B2BError as error:
        return WebhookOrder(bc_order_id, None, None, type(error).__name__)
    done = time.monotonic()
    return WebhookOrder(bc_order_id, done - created, done - arrived, ensured.action)


async def webhooks(
    client: B2BClient, sandbox: SandboxServer, settings: Settings
) -> list[WebhookOrder]:
    """Place the orders at an even pace and handle each webhook as it arrives."""
    rng = random.Random(settings.seed)
    interval = settings.seconds / settings.orders
    tasks = []
    for number in range(settings.orders):
        delay = rng.uniform(*DELIVERY)
        tasks.append(asyncio.create_task(handle_webhook(client, sandbox, number, delay)))
        await asyncio.sleep(interval)
    return list(await asyncio.gather(*tasks))


def lost(sandbox: SandboxServer, orders: Sequence[WebhookOrder]) -> tuple[int, ...]:
    """The webhook orders the sandbox does not hold with their PO number and extra fields."""
    missing = []
    for number, order in enumerate(orders):
        po_number, extra_fields = fields_of(number)
        held = sandbox.orders.get(str(order.bc_order_id))
        fields = [] if held is None else held.extra.get("extraFields", [])
        values = {field["fieldName"]: field["fieldValue"] for field in fields}
        if held is None or held.po_number != po_number or values != extra_fields:
            missing.append(order.bc_order_id)
    return tuple(missing)


def misses(orders: Sequence[WebhookOrder]) -> tuple[int, ...]:
    """The webhook orders not created within their window."""
    return tuple(
        order.bc_order_id
        for order in orders
        if order.action != "created" or order.lateness is None or order.lateness > WINDOW
    )


async def run(settings: Settings) -> Outcome:
    """One run against a fresh sandbox."""
    window = RateWindow(settings.rate, 1.0)
    faults = Faults(latency=settings.latency_share, latency_seconds=settings.latency)
    async with SandboxServer(rate=window, faults=faults, seed=settings.seed) as sandbox:
        limit = RateLimit(settings.rate, per=1.0)
        async with B2BClient(DEFAULT_TOKEN, base_url=sandbox.url, rate_limit=limit) as client:
            await client.v3.orders.extra_field_configs()  # warmed at startup, as docs/v3.md does
            backlog = (
                NewOrder(None, n % 1000 + 1, f"BACKFILL-{n}", 10) for n in range(settings.backfill)
            )
            started = time.monotonic()
            backfill = asyncio.create_task(client.orders.create_many(backlog))
            orders = await webhooks(client, sandbox, settings)
            report = await backfill
            elapsed = time.monotonic() - started
            stats = client.stats
        missing = lost(sandbox, orders)
    return Outcome(
        tuple(orders), misses(orders), missing, report, elapsed, stats.requests, stats.rate_limited
    )


def percentiles(values: Sequence[float]) -> str:
    """p50, p99 and the largest of ``values``, in seconds."""
    ordered = sorted(values)
    if not ordered:
        return "none"
    cuts = (
        statistics.quantiles(ordered, n=100, method="inclusive")
        if len(ordered) > 1
        else ordered * 99
    )
    return f"p50 {cuts[49]:.2f} s, p99 {cuts[98]:.2f} s, max {ordered[-1]:.2f} s"


def show(outcome: Outcome, settings: Settings) -> None:
    """Print the run's figures."""
    webhook = outcome.webhook
    print(
        f"{settings.orders} webhook orders over {settings.seconds:.0f} s, a"
        f" {settings.backfill}-order V2 backfill, {settings.rate} requests/s;"
        f" {settings.latency_share:.0%} of requests take {settings.latency * 1000:.0f} ms more"
    )
    print(f"misses (not created within the window): {len(outcome.misses)}")
    print(f"lost (not holding PO and extra fields at the end): {len(outcome.lost)}")
    actions = Counter(order.action for order in webhook)
    print("ensure: " + ", ".join(f"{count} {action}" for action, count in sorted(actions.items())))
    lateness = [order.lateness for order in webhook if order.lateness is not None]
    print(
        f"lateness (creation to registered) vs the {WINDOW:.0f} s window: {percentiles(lateness)}"
    )
    took = [order.took for order in webhook if order.took is not None]
    print(f"ensure's own time (webhook to registered): {percentiles(took)}")
    backfill = outcome.backfill
    print(
        f"backfill: {len(backfill.succeeded)}/{len(backfill)} registered in"
        f" {outcome.backfill_seconds:.1f} s; {outcome.requests} requests,"
        f" {outcome.rate_limited} answered 429"
    )


def main() -> None:
    """Parse options, run once, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = Settings()
    parser.add_argument("--orders", type=int, default=defaults.orders)
    parser.add_argument("--seconds", type=float, default=defaults.seconds)
    parser.add_argument("--backfill", type=int, default=defaults.backfill)
    parser.add_argument("--rate", type=int, default=defaults.rate)
    parser.add_argument("--latency", type=float, default=defaults.latency)
    parser.add_argument("--latency-share", type=float, default=defaults.latency_share)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    settings = Settings(**vars(parser.parse_args()))
    show(asyncio.run(run(settings)), settings)


if __name__ == "__main__":
    main()
