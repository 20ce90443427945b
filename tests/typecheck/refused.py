"""Model constructor calls that fail at run time, which a type checker must refuse too.

Each line carries the ignore comment its error needs: ``mypy --strict`` (which checks
``tests``) reports an ignore that is not needed, so a constructor whose argument types go
loose again (a converter typed ``object`` makes its argument ``object`` to a type checker)
fails the type check. This file is checked, never run.
"""

from __future__ import annotations

from decimal import Decimal

from b2b_async import Address, ExtraField, LineItem, NewV3Order, OrderUpdate

NewV3Order(5.0, 3)  # type: ignore[arg-type]  # an id is an int or a str of digits
NewV3Order(5, Decimal(3))  # type: ignore[arg-type]
NewV3Order(5, 3, created_at="2025-03-01T12:00:00+00:00")  # type: ignore[arg-type]
NewV3Order(5, 3, po_number=["PO-1"])  # type: ignore[arg-type]
ExtraField("Cost Center", 1.5)  # type: ignore[arg-type]  # a value is a str, int or Decimal
ExtraField(None, "x")  # type: ignore[arg-type]
LineItem(product_options=[{"option_id": 1, "option_value": 2}])  # type: ignore[list-item]
OrderUpdate(
    order_id=1,
    billing_address=Address(city="Austin"),
    products=[{"name": "Poster"}],  # type: ignore[list-item]
)
