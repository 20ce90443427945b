"""Subclasses of the built-in types that write themselves out as other values.

A caller may hand the client any of them (an ``int``-valued ``Enum`` member is the common
case); what the client sends must be the value, never what the subclass writes.
"""

from __future__ import annotations

import enum
from decimal import Decimal


class Shop(int, enum.Enum):
    """An int-valued enum that is no IntEnum: ``str(Shop.MAIN)`` is ``"Shop.MAIN"``."""

    MAIN = 5
    ITEM = 97
    BIG = 100


class ClimbingInt(int):
    """An int whose text would climb out of its path segment."""

    def __str__(self) -> str:
        return "1/../../../v2/io/orders?x="


class OtherText(str):
    """A str whose own methods rewrite it."""

    __slots__ = ()

    def strip(self, chars: str | None = None) -> str:
        return "other"

    def __str__(self) -> str:
        return "other"


class OtherFloat(float):
    """A float that writes itself out as another number."""

    def __str__(self) -> str:
        return "777"

    __repr__ = __str__


class OtherDecimal(Decimal):
    """A Decimal that writes itself out, and converts to an int, as other numbers."""

    def __str__(self) -> str:
        return "777"

    def __int__(self) -> int:
        return 999


class BoundlessInt(int):
    """An int whose comparisons claim it is within every bound."""

    def __lt__(self, other: object) -> bool:
        return False

    def __gt__(self, other: object) -> bool:
        return False

    def __le__(self, other: object) -> bool:
        return True

    def __ge__(self, other: object) -> bool:
        return True
