"""The sandbox's store: companies, customers and the orders registered with them.

Orders are keyed by their BigCommerce order id, the natural key of a registration. Each order
keeps its company and customer separately, because B2B Edition can move a customer to another
company and then re-derive (or not) the company of the customer's existing orders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs

from ._data import Company, Customer, SandboxData

__all__ = ["AWAITING_PAYMENT", "CHANNEL_NAME", "STATUS_NAMES", "RegisteredOrder", "SandboxState"]

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
    """The wall clock, in UTC, used for orders' creation and update times."""
    return datetime.now(UTC)


@attrs.frozen(kw_only=True)
class RegisteredOrder:
    """An order registered with B2B Edition.

    Args:
        order_id: the BigCommerce order id, as sent (a string).
        company_id: the company the order belongs to.
        customer_id: the customer (B2B Edition user) who placed it.
        total_inc_tax: the total including tax, exactly as sent.
        po_number: the purchase-order number, if one was sent.
        created_at: when the order was registered (UTC).
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
        now: the wall clock for creation and update times.

    .. versionadded:: 0.1.0
    """

    def __init__(self, data: SandboxData, *, now: Callable[[], datetime] = utc_now) -> None:
        self._now = now
        self._companies = {company.id: company for company in data.companies}
        self._groups = {company.customer_group_id: company for company in data.companies}
        self._customers = {customer.id: customer for customer in data.customers}
        self._orders: dict[str, RegisteredOrder] = {}

    def __repr__(self) -> str:
        return (
            f"<SandboxState companies={len(self._companies)} customers={len(self._customers)}"
            f" orders={len(self._orders)}>"
        )

    @property
    def orders(self) -> Mapping[str, RegisteredOrder]:
        """The registered orders by order id, a read-only live view."""
        return MappingProxyType(self._orders)

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
        """The order with this id, or ``None``."""
        return self._orders.get(order_id)

    def orders_of_company(self, company_id: int) -> Iterator[RegisteredOrder]:
        """The company's orders, in registration order."""
        return (order for order in self._orders.values() if order.company_id == company_id)

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

        Returns:
            The registered order.
        """
        now = self._now()
        order = RegisteredOrder(
            order_id=order_id,
            company_id=company_id,
            customer_id=customer_id,
            total_inc_tax=total_inc_tax,
            po_number=po_number,
            created_at=now,
            updated_at=now,
        )
        self._orders[order_id] = order
        return order

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
        moving = [
            order.order_id
            for order in self._orders.values()
            if order.customer_id == customer_id and order.company_id != company_id
        ]
        for order_id in moving:
            self.update(order_id, company_id=company_id)
        return len(moving)
