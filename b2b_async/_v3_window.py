"""V3's registration window, seen by the two clocks that meet in it.

"Create an Order" is accepted only within :data:`~b2b_async._config.REGISTRATION_WINDOW`
seconds of the BigCommerce order's creation. That creation time (``date_created``) is a wall
clock reading, from BigCommerce; the transport's deadlines are :func:`time.monotonic` seconds,
which a wall clock's adjustment (NTP, a daylight-saving change) cannot move. The window is
converted from one to the other once, when a call begins, and read on the monotonic clock
from then on.

Around the window's end, :data:`~b2b_async._config.REGISTRATION_MARGIN` is kept clear on
both sides: a create must leave by the end minus the margin (its :attr:`deadline`), and a
read of an order that missed its window waits until the end plus the margin
(:attr:`settled`), when B2B Edition has recorded the order on its own. A creation time of
whole seconds, as BigCommerce's ``date_created`` is, may be up to
:data:`~b2b_async._config.WHOLE_SECOND_UNCERTAINTY` early: the read waits that much more.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import attrs

from ._config import (
    REGISTRATION_MARGIN,
    REGISTRATION_WINDOW,
    WHOLE_SECOND_UNCERTAINTY,
    RetryPolicy,
)
from ._exceptions import B2BError, DeadlineUnreachableError, RegistrationWindowClosedError
from ._retry import (
    is_transient,
    least_wait_before_retry,
    may_have_taken_effect,
    refused_wait,
)

__all__ = ["RegistrationWindow", "creation_uncertainty", "window_end", "window_lost"]


def window_end(created_at: datetime) -> datetime:
    """When the registration window of an order created at ``created_at`` ends, in UTC.

    The seconds are added in UTC: added to the wall clock of a zone whose clocks go back or
    forward within the window, they would move its end by the change (an hour, say).

    Raises:
        OverflowError: the end lies beyond the range of ``datetime``.
    """
    return created_at.astimezone(UTC) + timedelta(seconds=REGISTRATION_WINDOW)


def creation_uncertainty(created_at: datetime) -> float:
    """How much later than ``created_at`` the order may have been created: up to a second for
    a time of whole seconds (BigCommerce's ``date_created``, which drops the fraction), none
    for a time with a fraction."""
    return WHOLE_SECOND_UNCERTAINTY if created_at.microsecond == 0 else 0.0


@attrs.frozen
class RegistrationWindow:
    """One order's registration window, in :func:`time.monotonic` seconds.

    Attributes:
        bc_order_id: the order.
        ends_at: when the window ends, on the wall clock (aware, UTC).
        deadline: when a create must have been sent by: the end less the margin.
        settled: when B2B Edition has surely recorded the order: the end plus the margin,
            and plus :func:`creation_uncertainty`.
    """

    bc_order_id: int
    ends_at: datetime
    deadline: float
    settled: float

    @classmethod
    def of(cls, bc_order_id: int, created_at: datetime) -> RegistrationWindow:
        """The window of an order created at ``created_at`` (an aware ``datetime``)."""
        ends_at = window_end(created_at)
        now = time.monotonic()
        end = now + (ends_at - datetime.now(UTC)).total_seconds()
        settled = end + REGISTRATION_MARGIN + creation_uncertainty(created_at)
        return cls(bc_order_id, ends_at, end - REGISTRATION_MARGIN, settled)

    def left(self) -> float:
        """Seconds left before a create must have been sent (negative once past)."""
        return self.deadline - time.monotonic()

    def is_open(self) -> bool:
        """Whether a create may still be sent."""
        return self.left() > 0

    async def wait_until_settled(self) -> None:
        """Sleep until B2B Edition has recorded the order on its own (at once when it has).

        Never longer than a whole window and its margin: a creation time far in the future
        is a wrong clock or a wrong value, and is not worth hours of waiting.
        """
        delay = min(self.settled - time.monotonic(), REGISTRATION_WINDOW + REGISTRATION_MARGIN)
        if delay > 0:
            await asyncio.sleep(delay)

    def closed(self, reason: str) -> RegistrationWindowClosedError:
        """The error of a create that cannot meet this window, for ``reason``."""
        return RegistrationWindowClosedError(
            f"V3 registration of order {self.bc_order_id} cannot reach B2B Edition within "
            f"{REGISTRATION_WINDOW:.0f} s of its creation (the window ends at "
            f"{self.ends_at:%H:%M:%S.%f} UTC): {reason}; B2B Edition then holds it without "
            "the PO number and extra fields sent (client.v3.orders.ensure sets them)",
            bc_order_id=self.bc_order_id,
            window_ended_at=self.ends_at,
        )


def window_lost(exc: B2BError, window: RegistrationWindow, policy: RetryPolicy | None) -> bool:
    """Tell whether a create failed because its window cannot be met.

    So it did when the limiter foresaw no budget before the window's deadline: always, when
    the call has no ``RetryPolicy.deadline`` of its own (the window's is the only deadline
    the limiter was given, whatever its estimate says); with one, when the estimated slot
    comes after the window's deadline (a slot that comes while the window is open leaves it
    open, and the limiter's error is raised). So it did too when a transient failure that
    certainly never reached the server leaves less of the window than the wait before
    another attempt: the one the retries stopped at, when the
    deadline refused it (:func:`~b2b_async._retry.refused_wait`), else the shortest the
    policy may take after a first failure (a hint too long to obey included). Retries that
    spent every attempt with time left did not lose the window: their failure is raised. So
    is a failure that may have reached the server, or that follows an attempt that may
    have: the order may be registered.

    Args:
        exc: what the create raised.
        window: its window.
        policy: the client's retry options.
    """
    if may_have_taken_effect(exc):
        return False  # the create may have registered the order: that is not a miss
    if isinstance(exc, DeadlineUnreachableError):
        # Written so that an estimate that is no number (NaN) loses the window too.
        return policy is None or policy.deadline is None or not exc.estimated_wait <= window.left()
    if not is_transient(exc):
        return False
    wait = refused_wait(exc)
    if wait is None:  # the retries were not stopped by a deadline
        wait = least_wait_before_retry(exc, policy)
    return window.left() < wait
