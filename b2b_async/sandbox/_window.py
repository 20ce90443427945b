"""The store's fixed request window: one budget shared by every caller and every token.

BigCommerce allows about 150 requests per minute per store and rejects the rest "until the window
resets". The sandbox models that as a fixed window that opens at the first request after the
previous one closed. Requests it rejects (429) do not spend the budget, so a client that keeps
knocking does not push the reset further away; requests refused before the window (401, 413)
only look at it, and a look opens no window.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs

from ._faults import shown_number, wide_float

__all__ = [
    "FixedWindow",
    "RateWindow",
    "WindowState",
    "check_competing",
    "parse_rate",
    "rate_headers",
]

_OFF = frozenset({"none", "off", "unlimited"})

# The value B2B Edition's published example gives this header; no source says what it counts.
_WINDOW_LENGTH = "0 times"


def _positive_finite(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{attribute.name} must be a positive finite number, got {value!r}")


@attrs.frozen
class RateWindow:
    """How many requests the store allows per window.

    Args:
        requests: requests allowed in one window, at least 1.
        per: the window's length in seconds.

    Raises:
        ValueError: ``requests`` below 1, or ``per`` not a positive finite number.

    .. versionadded:: 0.1.0
    """

    requests: int = attrs.field(default=150, validator=attrs.validators.ge(1))
    per: float = attrs.field(default=60.0, converter=wide_float, validator=_positive_finite)

    def __str__(self) -> str:
        return f"{self.requests}/{_number(self.per)}"


def check_competing(requests: int) -> int:
    """Return ``requests``, another integration's share of each window, once checked.

    A negative share would hand the store more than its budget, and the window headers would
    report more requests remaining than allocated.

    Raises:
        ValueError: ``requests`` is not an int of at least 0.
    """
    if isinstance(requests, bool) or not isinstance(requests, int) or requests < 0:
        raise ValueError(f"competing must be an int of at least 0, got {shown_number(requests)}")
    return requests


@attrs.frozen
class WindowState:
    """What the window looked like when one request arrived.

    Args:
        allowed: whether the request fitted in the window (always true for a mere look).
        remaining: requests left in the window after this one.
        resets_after: seconds until the window closes and the budget is whole again.

    .. versionadded:: 0.1.0
    """

    allowed: bool
    remaining: int
    resets_after: float

    @property
    def retry_after(self) -> int:
        """The ``Retry-After`` value for this state: whole seconds, rounded up, at least 1."""
        return max(1, math.ceil(self.resets_after))


class FixedWindow:
    """A fixed window counter on an injectable clock.

    A window opens at the first request that arrives after the previous window closed. A
    competing integration, if any, spends its share the moment a window opens, as another
    integration of the same store would at the top of each minute.

    Args:
        rate: the budget and the window length.
        clock: seconds on a monotonic scale; tests pass a fake one to move time by hand.
        competing: requests another integration spends at the start of every window.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_clock", "_opened", "_used", "competing", "rate")

    def __init__(self, rate: RateWindow, *, clock: Callable[[], float], competing: int = 0) -> None:
        self.rate = rate
        self.competing = competing
        self._clock = clock
        self._opened: float | None = None
        self._used = 0

    def __repr__(self) -> str:
        return (
            f"<FixedWindow {self.rate} used={self._used} competing={self.competing}"
            f" opened={self._opened!r}>"
        )

    def look(self) -> WindowState:
        """Describe the window without spending from it, nor opening one.

        A closed window stays closed: a request that only looks (one refused before the
        window) cannot open the next, so it neither moves the reset nor makes the competing
        integration spend its share. It sees the budget a window opening now would leave.

        Returns:
            The window's state; ``allowed`` is true.
        """
        now = self._clock()
        if self._current(now) is None:
            fresh = self.rate.requests - self._competing_share()
            return WindowState(allowed=True, remaining=fresh, resets_after=self.rate.per)
        return self._state(now, allowed=True)

    def spend(self) -> WindowState:
        """Spend one request from the window if there is budget left.

        Returns:
            The window's state after the attempt; ``allowed`` says whether it fitted.
        """
        now = self._clock()
        self._roll(now)
        allowed = self._used < self.rate.requests
        if allowed:
            self._used += 1
        return self._state(now, allowed=allowed)

    def _state(self, now: float, *, allowed: bool) -> WindowState:
        opened = self._roll(now)
        return WindowState(
            allowed=allowed,
            remaining=self.rate.requests - self._used,
            # (opened - now) first: at the instant a window opens it is exactly 0, and
            # the reset exactly ``per`` away (now + per - now can round up a hair).
            resets_after=(opened - now) + self.rate.per,
        )

    def _current(self, now: float) -> float | None:
        """When the window open at ``now`` opened; ``None`` when none is open."""
        if self._opened is None or now >= self._opened + self.rate.per:
            return None
        return self._opened

    def _roll(self, now: float) -> float:
        opened = self._current(now)
        if opened is None:
            self._opened = opened = now
            self._used = self._competing_share()
        return opened

    def _competing_share(self) -> int:
        """What the competing integration spends of each window, the moment it opens."""
        return min(self.competing, self.rate.requests)


def _number(value: float) -> str:
    """Write seconds the way the B2B headers do: ``60``, not ``60.0``; ``0.5`` stays ``0.5``."""
    return str(int(value)) if value.is_integer() else repr(value)


def rate_headers(rate: RateWindow, state: WindowState) -> dict[str, str]:
    """The ``X-Requests-*`` headers, units inside the values as B2B Edition writes them.

    Args:
        rate: the window's configuration.
        state: the window's state for the request being answered.

    Returns:
        ``X-Requests-Allocated`` (``150 times/60 s``), ``X-Requests-Remaining`` (``149 times``),
        ``X-Request-Window-Resets-After`` (``0.3973509933774834 s``) and
        ``X-Requests-Window-Length`` (``0 times``: the published value, whose meaning is not
        documented, so the sandbox always sends it).
    """
    return {
        "X-Requests-Allocated": f"{rate.requests} times/{_number(rate.per)} s",
        "X-Requests-Remaining": f"{state.remaining} times",
        "X-Request-Window-Resets-After": f"{state.resets_after!r} s",
        "X-Requests-Window-Length": _WINDOW_LENGTH,
    }


def parse_rate(text: str) -> RateWindow | None:
    """Parse a window written as ``REQUESTS/SECONDS``, or ``none`` for no window at all.

    Examples: ``"150/60"`` (the default store budget), ``"40/1"``, ``"5/0.5"``, ``"none"``.

    Args:
        text: the window's textual form; ``none``, ``off`` and ``unlimited`` switch it off.

    Returns:
        The window, or ``None`` when it is switched off.

    Raises:
        ValueError: the text is not of that form, or the numbers are out of range.

    .. versionadded:: 0.1.0
    """
    cleaned = text.strip().lower()
    if cleaned in _OFF:
        return None
    requests, slash, per = cleaned.partition("/")
    reason = "missing '/'"
    if slash:
        try:
            return RateWindow(requests=int(requests), per=float(per))
        except ValueError as exc:
            reason = str(exc)
    raise ValueError(
        f"invalid rate {text!r}: expected REQUESTS/SECONDS such as '150/60', or 'none' ({reason})"
    )
