"""The sandbox's store: companies, customers, the orders placed in BigCommerce and the orders
registered with B2B Edition.

Orders are keyed by their BigCommerce order id, the natural key of a registration. Each order
keeps its company and customer separately, because B2B Edition can move a customer to another
company and then re-derive (or not) the company of the customer's existing orders.

An order placed in BigCommerce (:class:`PlacedOrder`) may be registered within the
registration window after its creation. Once the window has passed, B2B Edition has recorded it
by itself, with the customer's company and no PO number or extra fields. The store models that
lazily: every read or write first records the orders whose window has passed, in the order their
windows closed, so what anyone sees is what the real service would hold at that moment.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs

from ._bigcommerce import DEFAULT_REGISTRATION_WINDOW, FIRST_ORDER_ID, PlacedOrder, checked_window
from ._data import Company, Customer, SandboxData

__all__ = [
    "AWAITING_PAYMENT",
    "CHANNEL_NAME",
    "STATUS_NAMES",
    "RegisteredOrder",
    "SandboxState",
    "utc_now",
    "wall_clock",
]

AWAITING_PAYMENT = 7
"""The status id of a newly registered order."""

CHANNEL_NAME = "Default"
"""The name of the one channel the sandbox's orders come from."""

STATUS_NAMES: Mapping[int, str] = dict(
    enumerate(
        (
            "Incomplete",
            "Pending",
            "Shipped",
            "Partially Shipped",
            "Refunded",
            "Cancelled",
            "Declined",
            "Awaiting Payment",
            "Awaiting Pickup",
            "Awaiting Shipment",
            "Completed",
            "Awaiting Fulfillment",
            "Manual Verification Required",
            "Disputed",
            "Partially Refunded",
        )
    )
)
"""BigCommerce's order status ids (0 to 14, in this order) and their names."""


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


def wall_clock(clock: Callable[[], float]) -> Callable[[], datetime]:
    """A UTC wall clock that moves with a monotonic clock.

    It reads the real time when it is made, plus however far ``clock`` has moved since; so a
    fake monotonic clock moves the sandbox's dates (order creation, the registration window)
    too, while the default one keeps them real.

    Args:
        clock: monotonic seconds.

    Returns:
        A function answering the current time, in UTC.
    """
    start, origin = utc_now(), clock()
    return lambda: start + timedelta(seconds=clock() - origin)


@attrs.frozen(kw_only=True)
class RegisteredOrder:
    """An order registered with B2B Edition.

    Args:
        order_id: the BigCommerce order id, as sent (a string).
        company_id: the company the order belongs to.
        customer_id: the customer (B2B Edition user) who placed it.
        total_inc_tax: the total including tax: exactly as sent (V2), or the placed order's
            (V3, and orders B2B Edition recorded by itself); 0 for a V3 registration of an
            order never placed in the sandbox.
        po_number: the purchase-order number, if one was sent.
        created_at: when BigCommerce created the order, for an order placed in the sandbox;
            otherwise when it was registered (UTC).
        updated_at: when the order was last changed (UTC).
        channel_id: the BigCommerce channel the order came from.
        status_id: the BigCommerce order status id (7 is "Awaiting Payment").
        billing_address: the billing address set by "Update order", camelCase keys.
        products: the products set by "Update order", camelCase keys.
        extra: every other field set by "Update order", as sent.

    .. versionadded:: 0.1.0
    """

    order_id: str
    company_id: int
    customer_id: int
    total_inc_tax: Decimal
    po_number: str | None = None
    created_at: datetime
    updated_at: datetime
    channel_id: int = 1
    status_id: int = AWAITING_PAYMENT
    billing_address: Mapping[str, Any] = attrs.field(factory=dict)
    products: tuple[Mapping[str, Any], ...] = ()
    extra: Mapping[str, Any] = attrs.field(factory=dict)


class SandboxState:
    """The mutable store behind one sandbox.

    Args:
        data: the companies and customers to start with.
        now: the wall clock for creation and update times, and for the registration window.
        registration_window: seconds after a placed order's creation during which it waits to
            be registered; after them, B2B Edition records it by itself. ``None``: it waits
            for ever.

    Raises:
        ValueError: a negative or infinite registration window.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        data: SandboxData,
        *,
        now: Callable[[], datetime] = utc_now,
        registration_window: float | None = DEFAULT_REGISTRATION_WINDOW,
    ) -> None:
        self._now = now
        self._window = checked_window(registration_window)
        self._companies = {company.id: company for company in data.companies}
        self._groups = {company.customer_group_id: company for company in data.companies}
        self._customers = {customer.id: customer for customer in data.customers}
        self._orders: dict[str, RegisteredOrder] = {}
        # B2B Edition's own id of each order, its position in registration order from 1:
        # kept as orders register, so that answering for one order never walks them all.
        self._b2b_ids: dict[str, int] = {}
        self._placed: dict[str, PlacedOrder] = {}
        # Placed orders by creation time, oldest first, for recording them once their window
        # has passed; the counter keeps orders created at the same instant in placing order.
        self._waiting: list[tuple[datetime, int, str]] = []
        self._placing = itertools.count()

    def __repr__(self) -> str:
        return (
            f"<SandboxState companies={len(self._companies)} customers={len(self._customers)}"
            f" orders={len(self._orders)} placed={len(self._placed)}>"
        )

    def now(self) -> datetime:
        """The store's wall clock, in UTC."""
        return self._now()

    @property
    def registration_window(self) -> float | None:
        """Seconds after a placed order's creation until B2B Edition records it by itself;
        ``None`` when it never does. Assigning applies to every order not yet recorded."""
        return self._window

    @registration_window.setter
    def registration_window(self, seconds: float | None) -> None:
        self._window = checked_window(seconds)

    @property
    def orders(self) -> Mapping[str, RegisteredOrder]:
        """The registered orders by order id, a read-only live view."""
        self._record_overdue()
        return MappingProxyType(self._orders)

    @property
    def b2b_ids(self) -> Mapping[str, int]:
        """B2B Edition's own id of every registered order, by order id: its position in
        registration order, from 1. A read-only live view."""
        self._record_overdue()
        return MappingProxyType(self._b2b_ids)

    @property
    def placed_orders(self) -> Mapping[str, PlacedOrder]:
        """The orders placed in BigCommerce by order id (as text), a read-only live view."""
        return MappingProxyType(self._placed)

    def company(self, company_id: int | None) -> Company | None:
        """The company with this id, or ``None``."""
        return self._companies.get(company_id) if company_id is not None else None

    def company_of_group(self, customer_group_id: int | None) -> Company | None:
        """The company tied to this customer group, or ``None``."""
        return self._groups.get(customer_group_id) if customer_group_id is not None else None

    def customer(self, customer_id: int | None) -> Customer | None:
        """The customer with this id, or ``None``."""
        return self._customers.get(customer_id) if customer_id is not None else None

    def order(self, order_id: str) -> RegisteredOrder | None:
        """The registered order with this id, or ``None``."""
        self._record_overdue()
        return self._orders.get(order_id)

    def placed_order(self, order_id: str) -> PlacedOrder | None:
        """The order placed in BigCommerce with this id (as text), or ``None``."""
        return self._placed.get(order_id)

    def orders_of_company(self, company_id: int) -> Iterator[RegisteredOrder]:
        """The company's orders, in registration order."""
        self._record_overdue()
        return (order for order in self._orders.values() if order.company_id == company_id)

    def next_order_id(self) -> int:
        """The id of the next order placed without one: after the last one placed (from
        :data:`FIRST_ORDER_ID`), skipping ids already registered."""
        numbers = (order.bc_order_id for order in self._placed.values())
        number = max(numbers, default=FIRST_ORDER_ID - 1) + 1
        while str(number) in self._orders:
            number += 1
        return number

    def place(self, order: PlacedOrder) -> None:
        """Keep an order placed in BigCommerce; B2B Edition has yet to record it.

        Args:
            order: the placed order.

        Raises:
            KeyError: unknown customer.
            ValueError: its id is already placed or registered.
        """
        self._record_overdue()
        if order.customer_id not in self._customers:
            raise KeyError(f"unknown customer {order.customer_id}")
        key = str(order.bc_order_id)
        if key in self._placed or key in self._orders:
            raise ValueError(f"order {order.bc_order_id} already exists")
        self._placed[key] = order
        heapq.heappush(self._waiting, (order.created_at, next(self._placing), key))

    def register(
        self,
        *,
        order_id: str,
        company_id: int,
        customer_id: int,
        total_inc_tax: Decimal,
        po_number: str | None,
    ) -> RegisteredOrder:
        """Register an order; the caller has checked that the id is new.

        An order placed in BigCommerce keeps its creation time; any other is created now.

        Returns:
            The registered order.
        """
        now = self._now()
        placed = self._placed.get(order_id)
        order = RegisteredOrder(
            order_id=order_id,
            company_id=company_id,
            customer_id=customer_id,
            total_inc_tax=total_inc_tax,
            po_number=po_number,
            created_at=placed.created_at if placed is not None else now,
            updated_at=now,
        )
        self._keep_new(order)
        return order

    def _keep_new(self, order: RegisteredOrder) -> None:
        """Keep a newly registered order, giving it the next B2B Edition id."""
        self._b2b_ids.setdefault(order.order_id, len(self._b2b_ids) + 1)
        self._orders[order.order_id] = order

    def update(self, order_id: str, **changes: Any) -> RegisteredOrder:
        """Change fields of a registered order and stamp its update time.

        Args:
            order_id: an existing order's id.
            **changes: :class:`RegisteredOrder` fields to change.

        Returns:
            The changed order.
        """
        order = attrs.evolve(self._orders[order_id], updated_at=self._now(), **changes)
        self._orders[order_id] = order
        return order

    def move_customer(self, customer_id: int, company_id: int) -> None:
        """Make a customer a member of another company; its existing orders stay where they are.

        Raises:
            KeyError: unknown customer or company.
        """
        if company_id not in self._companies:
            raise KeyError(f"unknown company {company_id}")
        customer = self._customers[customer_id]
        self._customers[customer_id] = attrs.evolve(customer, company_id=company_id)

    def move_orders(self, customer_id: int, company_id: int) -> int:
        """Give every order of a customer to a company.

        Returns:
            How many orders changed company.
        """
        self._record_overdue()
        moving = [
            order.order_id
            for order in self._orders.values()
            if order.customer_id == customer_id and order.company_id != company_id
        ]
        for order_id in moving:
            self.update(order_id, company_id=company_id)
        return len(moving)

    # --- B2B Edition recording placed orders by itself -----------------------------------------

    def _record_overdue(self) -> None:
        """Record every placed order whose window has passed and that nobody registered."""
        if self._window is None:
            return
        try:
            window = timedelta(seconds=self._window)
            closed_before = self._now() - window
        except OverflowError:  # a window longer than the calendar's past: none has closed
            return
        while self._waiting and self._waiting[0][0] <= closed_before:
            _, _, order_id = heapq.heappop(self._waiting)
            if order_id not in self._orders:
                self._record(self._placed[order_id], window)

    def _record(self, placed: PlacedOrder, window: timedelta) -> None:
        """Record a placed order as B2B Edition does by itself: the customer's company, no PO
        number, no extra fields, recorded the moment its window closed."""
        order_id = str(placed.bc_order_id)
        self._keep_new(
            RegisteredOrder(
                order_id=order_id,
                company_id=self._customers[placed.customer_id].company_id,
                customer_id=placed.customer_id,
                total_inc_tax=placed.total_inc_tax,
                created_at=placed.created_at,
                updated_at=placed.created_at + window,
            )
        )
