"""Model constructor calls as the docs write them, for ``make verifytypes`` to type-check.

Type checkers read a converted field's argument type off its converter: an id given as an
``int``, an amount as an ``int``, ``float`` or ``str``, and a list of lines must all be
accepted, as they are at run time. This file is checked by pyright, never run.
"""

from __future__ import annotations

from decimal import Decimal

from b2b_async import (
    Address,
    ExtraField,
    LineItem,
    NewOrder,
    NewV3Order,
    OrderUpdate,
    ProductOption,
)

address = Address(first_name="Jane", last_name="Doe", city="Austin", country_iso2="US")
lines = [
    LineItem(name="Poster", quantity=1, price_inc_tax=Decimal("10.98"), price_ex_tax=10),
    LineItem(product_id=97, variant_id=69, quantity="2", product_options=[ProductOption(12, 5)]),
]
update = OrderUpdate(
    order_id=126,
    billing_address=address,
    products=lines,
    status_id="11",
    channel_id=1,
    subtotal_ex_tax="100",
    subtotal_inc_tax=108.25,
    discount_amount=Decimal("5"),
)
orders = [
    NewOrder(123, 456, 789, "259.99", "PO-7"),
    NewOrder(None, "456", "BC1", Decimal("1"), None),
]
v3 = NewV3Order("5", 3, "PO-8", {"Fintech ID": 1234}, None)
field = ExtraField("Cost Center", Decimal("12"))
