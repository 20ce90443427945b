"""The retry rules of ``b2b_async._retry``, each asked directly.

The transport's tests show the same rules at work over a real server; these pin each rule
down on its own, so that a change to one shows here first.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import tenacity

from b2b_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    B2BError,
    BadRequestError,
    ClientClosedError,
    CreatedOrder,
    DeadlineUnreachableError,
    NotFoundError,
    OrderAlreadyExistsError,
    RateLimitError,
    ResponseDecodeError,
    RetryPolicy,
    ServerError,
    UnprocessableEntityError,
)
from b2b_async._exceptions import NotSentTimeoutError
from b2b_async._retry import (
    JITTER,
    StopBeforeDeadline,
    Uncertainty,
    WaitStrategy,
    is_retryable,
    is_transient,
    later_failures_marked,
    least_wait_before_retry,
    may_have_reached_server,
    may_have_taken_effect,
    refused_wait,
    settle_registration,
)

POLICY = RetryPolicy(initial_wait=1.0, max_wait=8.0, max_retry_after=60.0)


def server_error(status: int, retry_after: float | None = None) -> ServerError:
    return ServerError("failed", status=status, retry_after=retry_after)


def already_exists() -> OrderAlreadyExistsError:
    return OrderAlreadyExistsError("The order already exists.", status=400)


def failed_state(
    exc: BaseException, attempt: int = 1, sleep: float = 0.0
) -> tenacity.RetryCallState:
    """A tenacity state after attempt number ``attempt`` raised ``exc``."""
    state = tenacity.RetryCallState(tenacity.AsyncRetrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    state.set_exception((type(exc), exc, None))
    state.upcoming_sleep = sleep
    return state


@pytest.mark.parametrize(
    "exc",
    [
        APIConnectionError("refused", may_have_reached_server=False),
        APITimeoutError("read timeout"),
        server_error(500),
        server_error(502),
        server_error(503),
        server_error(504),
        RateLimitError("slow down", status=429),
        RateLimitError("slow down", status=429, retry_after=60.0),
        ResponseDecodeError("cut short", status=200, garbled=True),
    ],
    ids=repr,
)
def test_transient_failures_are_retried(exc: B2BError) -> None:
    assert is_retryable(exc, POLICY)


@pytest.mark.parametrize(
    "exc",
    [
        BadRequestError("bad", status=400),
        already_exists(),
        NotFoundError("no such company", status=404),
        UnprocessableEntityError("bad field", status=422),
        APIError("teapot", status=418),
        server_error(501),
        server_error(507),
        ResponseDecodeError("not the envelope", status=200),
        B2BError("anything else"),
    ],
    ids=repr,
)
def test_failures_that_repetition_cannot_fix_are_not_retried(exc: B2BError) -> None:
    assert not is_retryable(exc, POLICY)


@pytest.mark.parametrize(
    "exc",
    [RateLimitError("slow down", status=429, retry_after=60.5), server_error(503, 61.0)],
    ids=repr,
)
def test_a_hint_longer_than_the_policy_obeys_is_not_waited_for(exc: B2BError) -> None:
    assert not is_retryable(exc, POLICY)
    assert is_retryable(exc, RetryPolicy(max_retry_after=61.0))


@pytest.mark.parametrize(
    ("exc", "reached"),
    [
        (APIConnectionError("refused", may_have_reached_server=False), False),
        (APITimeoutError("timed out connecting", may_have_reached_server=False), False),
        (APITimeoutError("read timeout"), True),
        (APIConnectionError("reset"), True),
        (ResponseDecodeError("cut short", status=200, garbled=True), True),
        (server_error(500), True),
        (server_error(502), True),
        (server_error(504), True),
        (server_error(503), False),
        (RateLimitError("slow down", status=429), False),
        (BadRequestError("bad", status=400), False),
        (B2BError("anything else"), False),
    ],
    ids=repr,
)
def test_which_failures_may_have_reached_the_server(exc: B2BError, reached: bool) -> None:
    assert may_have_reached_server(exc) is reached


def test_a_call_may_have_taken_effect_by_its_last_attempt_or_an_earlier_one() -> None:
    """A 503 says the call did nothing, unless an earlier attempt may have; a read timeout
    says it may have, whatever came before."""
    refused, after_reset, timed_out = server_error(503), server_error(503), APITimeoutError("t")
    after_reset.after_uncertain_attempt = True
    assert [may_have_taken_effect(exc) for exc in (refused, after_reset, timed_out)] == [
        False,
        True,
        True,
    ]


def test_failures_after_an_uncertain_attempt_are_marked() -> None:
    uncertainty = Uncertainty()
    before, uncertain, after, later = (
        server_error(503),
        APITimeoutError("read timeout"),
        already_exists(),
        server_error(503),
    )
    for exc in (before, uncertain, after, later):
        uncertainty.note(exc)
    assert before.after_uncertain_attempt is False
    assert (after.after_uncertain_attempt, later.after_uncertain_attempt) == (True, True)


def test_a_failure_that_never_left_leaves_later_ones_unmarked() -> None:
    uncertainty = Uncertainty()
    answer = already_exists()
    uncertainty.note(refused())
    uncertainty.note(answer)
    assert (uncertainty.uncertain, answer.after_uncertain_attempt) == (False, False)


def refused() -> APIConnectionError:
    return APIConnectionError("refused", may_have_reached_server=False)


@pytest.mark.parametrize(
    "later",
    [
        refused(),
        ClientClosedError("closed"),
        DeadlineUnreachableError("no budget", estimated_wait=60.0, deadline=5.0),
        NotSentTimeoutError("waited for a place"),
        server_error(503),
        ResponseDecodeError("garbled", status=200, garbled=True),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_any_failure_after_an_uncertain_attempt_is_marked(later: B2BError) -> None:
    """A later attempt that could not be sent at all still tells, by the flag, that the call
    may have taken effect."""
    uncertainty = Uncertainty()
    for exc in (APITimeoutError("read timeout"), later):
        uncertainty.note(exc)
    assert later.after_uncertain_attempt is True


@pytest.mark.parametrize(
    "later",
    [
        DeadlineUnreachableError("no budget", estimated_wait=60.0, deadline=5.0),
        NotSentTimeoutError("waited for a place"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_a_later_attempt_that_sent_nothing_has_the_earlier_failure_as_its_cause(
    later: B2BError,
) -> None:
    """A retry refused for want of time says what the attempt before it met: its cause."""
    uncertainty = Uncertainty()
    earlier = refused()
    for exc in (earlier, later):
        uncertainty.note(exc)
    assert later.__cause__ is earlier


def test_a_first_failure_that_sent_nothing_has_no_cause() -> None:
    """With no attempt before it, a refusal for want of time is caused by nothing."""
    later = DeadlineUnreachableError("no budget", estimated_wait=60.0, deadline=5.0)
    Uncertainty().note(later)
    assert later.__cause__ is None


def test_a_later_attempt_that_was_sent_keeps_no_earlier_failure_as_its_cause() -> None:
    """An attempt that reached the wire says what it met itself: no earlier failure is its cause."""
    uncertainty = Uncertainty()
    later = server_error(503)
    for exc in (refused(), later):
        uncertainty.note(exc)
    assert later.__cause__ is None


def test_a_refusal_for_want_of_time_keeps_the_cause_it_came_with() -> None:
    """A failure that sent nothing but already names its cause keeps that cause."""
    uncertainty = Uncertainty()
    own = RuntimeError("the limiter's own failure")
    later = NotSentTimeoutError("waited for a place")
    later.__cause__ = own
    for exc in (refused(), later):
        uncertainty.note(exc)
    assert later.__cause__ is own


def test_without_an_uncertain_attempt_no_failure_is_marked() -> None:
    uncertainty = Uncertainty()
    failures = [server_error(503), refused(), ClientClosedError("closed")]
    for exc in failures:
        uncertainty.note(exc)
    assert [exc.after_uncertain_attempt for exc in failures] == [False, False, False]


def test_a_hint_too_long_to_obey_is_transient_but_not_retried() -> None:
    """The kind of failure and the policy's patience are two questions."""
    refused = RateLimitError("slow", status=429, retry_after=POLICY.max_retry_after + 1)
    assert is_transient(refused)
    assert not is_retryable(refused, POLICY)
    assert not is_transient(server_error(501))
    assert not is_transient(BadRequestError("bad", status=400))


def test_an_attempt_that_left_is_uncertain_until_its_failure_is_noted() -> None:
    """A deadline that ends an attempt after its request began to leave finds the call
    uncertain; a failure noted for that attempt says what it did."""
    uncertainty = Uncertainty()
    states = [uncertainty.uncertain]
    uncertainty.sent()
    states.append(uncertainty.uncertain)  # a deadline now: the request may have reached
    uncertainty.note(refused())
    states.append(uncertainty.uncertain)  # it never connected: no effect
    uncertainty.sent()
    uncertainty.note(server_error(502))
    later = ClientClosedError("closed")
    uncertainty.note(later)
    assert states == [False, True, False]
    assert uncertainty.uncertain
    assert later.after_uncertain_attempt


def test_the_wait_is_the_servers_hint_when_it_gives_one() -> None:
    wait = WaitStrategy(POLICY)
    assert wait(failed_state(RateLimitError("slow", status=429, retry_after=7.5), 3)) == 7.5
    assert wait(failed_state(server_error(503, retry_after=0.0), 1)) == 0.0


def test_without_a_hint_the_wait_is_jittered_backoff_within_the_cap() -> None:
    wait = WaitStrategy(POLICY)
    low, high = JITTER
    for attempt, base in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (200, 8.0)):
        waits = [wait(failed_state(APITimeoutError("read timeout"), attempt)) for _ in range(50)]
        assert all(base * low <= seconds <= base * high for seconds in waits), (attempt, waits)


def test_a_server_error_without_a_hint_waits_the_backoff() -> None:
    """A 503 or 429 that names no wait is retried after the policy's jittered backoff."""
    wait = WaitStrategy(POLICY)
    low, high = JITTER
    for exc in (server_error(503), RateLimitError("slow", status=429)):
        assert 2.0 * low <= wait(failed_state(exc, 2)) <= 2.0 * high
        assert least_wait_before_retry(exc, POLICY) == 1.0 * low


def test_a_backoff_wait_is_half_to_all_of_the_capped_backoff_and_varies() -> None:
    """Jittered waits spread over half to all of the backoff, and never pass max_wait."""
    wait = WaitStrategy(POLICY)
    waits = [wait(failed_state(APITimeoutError("read timeout"), 10)) for _ in range(200)]
    assert all(4.0 <= seconds <= 8.0 for seconds in waits)
    assert min(waits) < 6.0 < max(waits)


def test_the_least_wait_is_the_hint_else_the_first_backoff_at_its_least_jitter() -> None:
    """What the V3 window weighs against what is left of it: the same rule as the retries'."""
    low, _ = JITTER
    hinted = server_error(503, retry_after=7.5)
    assert least_wait_before_retry(hinted, POLICY) == 7.5
    assert least_wait_before_retry(hinted, None) == 7.5
    assert least_wait_before_retry(APITimeoutError("read timeout"), POLICY) == 1.0 * low
    assert least_wait_before_retry(APITimeoutError("read timeout"), None) == 0.0


def test_a_stop_at_the_deadline_leaves_the_wait_it_refused_on_the_failure() -> None:
    """The failure the retries give up after at the deadline carries the wait refused; one
    the deadline let through, or one no deadline stopped, carries none."""
    deadline = time.monotonic() + 3600.0
    refused, allowed = server_error(503), server_error(503)
    assert StopBeforeDeadline(deadline)(failed_state(refused, sleep=3601.0))
    assert not StopBeforeDeadline(deadline)(failed_state(allowed, sleep=60.0))
    assert refused_wait(refused) == 3601.0
    assert refused_wait(allowed) is None
    assert refused_wait(server_error(503)) is None


def test_the_stop_fires_when_the_next_wait_would_end_past_the_deadline() -> None:
    deadline = time.monotonic() + 3600.0
    stop = StopBeforeDeadline(deadline)
    assert not stop(failed_state(server_error(503), sleep=60.0))
    assert stop(failed_state(server_error(503), sleep=3601.0))
    assert StopBeforeDeadline(time.monotonic() - 1.0)(failed_state(server_error(503)))


async def answer(outcome: CreatedOrder | B2BError) -> CreatedOrder:
    await asyncio.sleep(0)
    if isinstance(outcome, B2BError):
        raise outcome
    return outcome


def registered() -> CreatedOrder:
    return CreatedOrder("BC1", already_registered=True)


def test_a_retry_with_no_wait_goes_on_while_time_is_left(monkeypatch: pytest.MonkeyPatch) -> None:
    """An immediate retry is let through with any time left, and stopped with none."""
    monkeypatch.setattr(time, "monotonic", lambda: 100.0)
    assert not StopBeforeDeadline(100.01)(failed_state(server_error(503), sleep=0.0))
    assert StopBeforeDeadline(100.0)(failed_state(server_error(503), sleep=0.0))


async def test_a_registration_that_succeeds_is_returned_as_is() -> None:
    created = CreatedOrder("BC1")
    assert await settle_registration(answer(created), registered, in_bulk=False) is created


async def test_already_exists_is_the_callers_news_outside_a_bulk_run() -> None:
    with pytest.raises(OrderAlreadyExistsError):
        await settle_registration(answer(already_exists()), registered, in_bulk=False)


async def test_already_exists_after_an_uncertain_attempt_means_registered() -> None:
    exc = already_exists()
    exc.after_uncertain_attempt = True
    result = await settle_registration(answer(exc), registered, in_bulk=False)
    assert result == CreatedOrder("BC1", already_registered=True)


async def test_already_exists_in_a_bulk_run_means_registered() -> None:
    result = await settle_registration(answer(already_exists()), registered, in_bulk=True)
    assert result == CreatedOrder("BC1", already_registered=True)


@pytest.mark.parametrize("in_bulk", [False, True])
async def test_other_failures_pass_through_the_registration_rule(in_bulk: bool) -> None:
    with pytest.raises(NotFoundError):
        await settle_registration(
            answer(NotFoundError("no such company", status=404)), registered, in_bulk=in_bulk
        )


@pytest.mark.parametrize("uncertain", [False, True])
def test_later_failures_are_marked_only_after_an_uncertain_request(uncertain: bool) -> None:
    """A failure raised in the block is marked after_uncertain_attempt exactly when told so."""
    with pytest.raises(ClientClosedError) as caught, later_failures_marked(uncertain):
        raise ClientClosedError("closed")
    assert caught.value.after_uncertain_attempt is uncertain


def test_a_failure_already_marked_stays_marked() -> None:
    """The block never clears a mark its failure carries from its own earlier attempt."""
    error = ServerError("boom", status=503)
    error.after_uncertain_attempt = True
    with pytest.raises(ServerError) as caught, later_failures_marked(False):
        raise error
    assert caught.value.after_uncertain_attempt
