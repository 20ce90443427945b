"""V3's registration window (``_v3_window``): one clock to the other, and when a create lost it."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest
import tenacity

from b2b_async import (
    APIConnectionError,
    APITimeoutError,
    B2BError,
    BadRequestError,
    DeadlineUnreachableError,
    RateLimitError,
    RetryPolicy,
    ServerError,
)
from b2b_async._config import (
    REGISTRATION_MARGIN,
    REGISTRATION_WINDOW,
    WHOLE_SECOND_UNCERTAINTY,
)
from b2b_async._retry import StopBeforeDeadline
from b2b_async._v3_window import RegistrationWindow, window_end, window_lost


def window_of(age: float) -> RegistrationWindow:
    """The window of order 7, created ``age`` seconds ago (in another zone, to show it's an
    instant that counts)."""
    created = datetime.now(UTC) - timedelta(seconds=age)
    return RegistrationWindow.of(7, created.astimezone(timezone(timedelta(hours=-5))))


def test_the_window_ends_ten_seconds_after_creation_in_utc() -> None:
    """The end is the creation time plus the window, whatever the zone it was given in."""
    created = datetime(2026, 12, 3, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    assert window_end(created) == datetime(2026, 12, 3, 7, 30, 10, tzinfo=UTC)
    assert window_end(created).tzinfo is UTC
    with pytest.raises(OverflowError):
        window_end(datetime.max.replace(tzinfo=UTC))


class ClocksGoBack(tzinfo):
    """A zone at UTC-4 until its wall clock reads ``at``, then at UTC-5: its clocks go back an
    hour (read from the wall clock, as ``zoneinfo`` reads a time that repeats, fold 0)."""

    def __init__(self, at: datetime) -> None:
        self.at = at  # naive: a wall-clock reading

    def utcoffset(self, dt: datetime | None) -> timedelta:
        before = dt is None or dt.replace(tzinfo=None) < self.at
        return timedelta(hours=-4 if before else -5)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return "going back"


def test_the_window_is_ten_real_seconds_when_the_clocks_go_back_within_it() -> None:
    """Created 5 s before its zone's clocks go back an hour, an order's window still ends
    10 s after its creation, not when the wall clock next reads 10 s past it."""
    created = datetime(2026, 11, 1, 1, 59, 55, tzinfo=ClocksGoBack(datetime(2026, 11, 1, 2)))
    assert created.astimezone(UTC) == datetime(2026, 11, 1, 5, 59, 55, tzinfo=UTC)
    assert window_end(created) == datetime(2026, 11, 1, 6, 0, 5, tzinfo=UTC)


def test_the_window_is_read_on_the_monotonic_clock() -> None:
    """Its deadline and settling time sit a margin either side of its end, monotonic seconds."""
    before = time.monotonic()
    window = window_of(2.0)
    end = window.deadline + REGISTRATION_MARGIN
    assert window.settled == pytest.approx(end + REGISTRATION_MARGIN)
    assert before < end <= time.monotonic() + REGISTRATION_WINDOW - 2.0
    assert window.ends_at.tzinfo is UTC
    assert 0 < window.left() <= REGISTRATION_WINDOW - REGISTRATION_MARGIN - 2.0
    assert window.is_open()


def test_a_creation_time_of_whole_seconds_settles_a_second_later() -> None:
    """BigCommerce's ``date_created`` drops the fraction: the order may be up to a second
    younger, so its read waits a second more; its create's deadline stays as early."""
    whole = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)
    truncated = RegistrationWindow.of(7, whole)
    exact = RegistrationWindow.of(7, whole + timedelta(microseconds=1))
    assert truncated.settled - exact.settled == pytest.approx(WHOLE_SECOND_UNCERTAINTY, abs=0.01)
    assert truncated.deadline == pytest.approx(exact.deadline, abs=0.01)


def test_a_window_within_its_margin_of_the_end_is_closed() -> None:
    """Less than the margin left: no create may be sent, and the error says when it ended."""
    window = window_of(REGISTRATION_WINDOW - REGISTRATION_MARGIN / 2)
    assert not window.is_open()
    error = window.closed("the window has passed")
    assert (error.bc_order_id, error.window_ended_at) == (7, window.ends_at)
    assert "the window has passed" in str(error)


async def test_waiting_for_a_settled_window_returns_at_once_when_it_has() -> None:
    """A window long past needs no wait."""
    await window_of(60.0).wait_until_settled()


def recorded_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Make ``asyncio.sleep`` return at once; the list it returns gets each wait asked for."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    return slept


async def test_a_window_far_in_the_future_is_waited_for_one_window_at_most(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A creation time an hour ahead (a wrong clock) costs a window's wait, not an hour's."""
    slept = recorded_sleeps(monkeypatch)
    await window_of(-3600.0).wait_until_settled()
    assert slept == [REGISTRATION_WINDOW + REGISTRATION_MARGIN]


def after_an_uncertain_attempt(error: B2BError) -> B2BError:
    error.after_uncertain_attempt = True
    return error


@pytest.mark.parametrize(
    "error",
    [
        DeadlineUnreachableError("q", estimated_wait=20.0, deadline=5.0),
        APITimeoutError("connect", may_have_reached_server=False),
    ],
    ids=lambda error: type(error).__name__,
)
def test_no_window_is_lost_after_an_attempt_that_may_have_registered(error: B2BError) -> None:
    """A retry that cannot be sent in time, after an attempt that may have registered the
    order, is no miss: the order may be registered, and the failure itself is raised."""
    policy = RetryPolicy(initial_wait=0.5)
    late = after_an_uncertain_attempt(error)
    assert window_lost(late, window_of(REGISTRATION_WINDOW), policy) is False


@pytest.mark.parametrize(
    ("error", "age", "lost"),
    [
        (DeadlineUnreachableError("q", estimated_wait=20.0, deadline=5.0), 1.0, True),
        (ServerError("503", status=503), 1.0, False),  # 8 s left: another attempt fits
        (ServerError("503", status=503), REGISTRATION_WINDOW - 1.1, True),  # 0.1 s left
        (RateLimitError("429", status=429, retry_after=20.0), 1.0, True),  # its wait is too long
        # A read timeout may have registered the order: no miss, the timeout is the news.
        (APITimeoutError("read"), REGISTRATION_WINDOW, False),
        (APITimeoutError("connect", may_have_reached_server=False), REGISTRATION_WINDOW, True),
        (BadRequestError("bad", status=400), REGISTRATION_WINDOW, False),  # not transient
        (ServerError("501", status=501), REGISTRATION_WINDOW, False),
    ],
)
def test_a_create_lost_its_window_when_no_further_attempt_fits(
    error: Exception, age: float, lost: bool
) -> None:
    """No budget before the end, or a transient failure whose retry would come too late."""
    policy = RetryPolicy(initial_wait=0.5)
    assert window_lost(error, window_of(age), policy) is lost  # type: ignore[arg-type]


@pytest.mark.parametrize(("estimated_wait", "lost"), [(3.0, False), (8.0, True)])
def test_no_budget_before_a_shorter_call_deadline_does_not_lose_the_window(
    estimated_wait: float, lost: bool
) -> None:
    """A call deadline of 2 s that the limiter's slot, 3 s away, misses leaves a window with
    6 s left open: the limiter's refusal, not the window, is the news; a slot 8 s away
    misses the window too."""
    window = window_of(REGISTRATION_WINDOW - REGISTRATION_MARGIN - 6.0)
    refused = DeadlineUnreachableError("q", estimated_wait=estimated_wait, deadline=2.0)
    assert window_lost(refused, window, RetryPolicy(deadline=2.0)) is lost


@pytest.mark.parametrize("estimated_wait", [0.0, math.nan, 3.0])
def test_no_budget_without_a_call_deadline_loses_the_window_whatever_the_estimate(
    estimated_wait: float,
) -> None:
    """Without a call deadline the window's is the only one the limiter was given: its
    refusal loses the window even when its estimate (a custom limiter's 0 or NaN) says less."""
    window = window_of(REGISTRATION_WINDOW - REGISTRATION_MARGIN - 6.0)
    refused = DeadlineUnreachableError("q", estimated_wait=estimated_wait, deadline=6.0)
    assert window_lost(refused, window, RetryPolicy()) is True
    assert window_lost(refused, window, None) is True


def stopped_at_the_deadline(error: B2BError, wait: float) -> B2BError:
    """``error`` as the retries leave it when the deadline refused their next ``wait``."""
    state = tenacity.RetryCallState(tenacity.AsyncRetrying(), None, (), {})
    state.set_exception((type(error), error, None))
    state.upcoming_sleep = wait
    assert StopBeforeDeadline(time.monotonic())(state)
    return error


@pytest.mark.parametrize(("refused", "lost"), [(4.0, True), (1.0, False)])
def test_a_create_lost_its_window_when_the_wait_its_retries_stopped_at_would_not_fit(
    refused: float, lost: bool
) -> None:
    """3 s left outlasts the first backoff (at most 0.5 s): retries that a deadline stopped
    before a later wait of 4 s lost the window, whatever the first wait; stopped before a
    wait of 1 s (by the call's own deadline), which the window could hold, they did not."""
    policy = RetryPolicy(attempts=5, initial_wait=0.5, max_wait=30.0)
    window = window_of(REGISTRATION_WINDOW - REGISTRATION_MARGIN - 3.0)
    error = stopped_at_the_deadline(ServerError("503", status=503), refused)
    assert window_lost(error, window, policy) is lost


def test_retries_that_spent_every_attempt_with_time_left_did_not_lose_the_window() -> None:
    """A connection refused at every attempt, 3 s of the window left and no deadline that
    stopped the retries: the window was not the cause, and the failure is raised."""
    policy = RetryPolicy(attempts=5, initial_wait=0.5, max_wait=8.0)  # a last backoff of 4 s
    window = window_of(REGISTRATION_WINDOW - REGISTRATION_MARGIN - 3.0)
    refused = APIConnectionError("refused", may_have_reached_server=False)
    assert window_lost(refused, window, policy) is False


@pytest.mark.parametrize("policy", [RetryPolicy(max_retry_after=120.0), None])
def test_a_wait_longer_than_the_client_obeys_loses_the_window_too(
    policy: RetryPolicy | None,
) -> None:
    """A 429 asking for 200 s is not retried; it certainly registered nothing, and no
    attempt fits in what is left of the window: the window is lost, not the 429 the news."""
    refused = RateLimitError("429", status=429, retry_after=200.0)
    assert window_lost(refused, window_of(1.0), policy) is True


async def test_a_window_settling_within_a_second_is_still_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A read waits out even the last fraction of a second before the window settles."""
    slept = recorded_sleeps(monkeypatch)
    monkeypatch.setattr(time, "monotonic", lambda: 100.0)
    window = RegistrationWindow(7, datetime.now(UTC), deadline=90.0, settled=100.25)
    await window.wait_until_settled()
    assert slept == [0.25]


@pytest.mark.parametrize(("now", "is_open"), [(99.5, True), (100.0, False)])
def test_a_window_is_open_while_any_time_is_left_before_its_deadline(
    monkeypatch: pytest.MonkeyPatch, now: float, is_open: bool
) -> None:
    """Half a second before the deadline a create may still be sent; at the deadline not."""
    monkeypatch.setattr(time, "monotonic", lambda: now)
    window = RegistrationWindow(7, datetime.now(UTC), deadline=100.0, settled=120.0)
    assert window.is_open() is is_open


@pytest.mark.parametrize("now", [100.25, 100.5])
async def test_a_window_settled_just_now_is_not_waited_for(
    monkeypatch: pytest.MonkeyPatch, now: float
) -> None:
    """At or just past the settling time the read goes on without sleeping."""
    slept = recorded_sleeps(monkeypatch)
    monkeypatch.setattr(time, "monotonic", lambda: now)
    window = RegistrationWindow(7, datetime.now(UTC), deadline=90.0, settled=100.25)
    await window.wait_until_settled()
    assert slept == []
