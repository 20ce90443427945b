"""The option objects and checks of ``b2b_async._config``: RetryPolicy, RateLimit, Priority."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from b2b_async import _config
from b2b_async._config import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_PAGE_SIZE,
    DEFAULT_V3_PAGE_SIZE,
    MAX_V3_PAGE_SIZE,
    MAX_WINDOW_REQUESTS,
    PRIORITY_CHOICES,
    Priority,
    RateLimit,
    RetryPolicy,
    blank_is_none,
    check_callable,
    check_deadline,
    check_flag,
    check_option_type,
    check_positive_int,
    check_priority,
    environment_text,
    finite_number,
    paced_interval,
    plain,
    positive_number,
    shown,
)
from tests.subclasses import BoundlessInt, OtherDecimal, OtherFloat, OtherText, Shop


class OptionError(ValueError):
    """An error class to raise instead of ValueError."""


# --- check_positive_int --------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 2, 10**30])
def test_check_positive_int_returns_a_count_of_at_least_one(value: int) -> None:
    """An int of 1 or more comes back as it was given."""
    assert check_positive_int(value, "page_size") is value


@pytest.mark.parametrize("value", [0, -1, 1.0, 1.5, True, "3", None])
def test_check_positive_int_refuses_anything_else_naming_the_option(value: object) -> None:
    """Zero, negatives, floats, bools, strings and None are refused, naming option and value."""
    message = f"page_size must be an int of at least 1, got {value!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        check_positive_int(value, "page_size")


def test_check_positive_int_raises_the_error_class_asked_for() -> None:
    """With ``error=``, the refusal is of that class."""
    with pytest.raises(OptionError, match="concurrency must be an int of at least 1, got 0"):
        check_positive_int(0, "concurrency", error=OptionError)


def test_check_positive_int_allows_up_to_the_most_and_no_more() -> None:
    """``most`` is the largest value allowed: it passes, one more is refused with the range."""
    assert check_positive_int(200, "limit", most=200) == 200
    with pytest.raises(OptionError, match=r"limit must be an int from 1 to 200, got 201"):
        check_positive_int(201, "limit", error=OptionError, most=200)


@pytest.mark.parametrize(
    ("value", "most"),
    [
        (DEFAULT_MAX_CONCURRENCY, None),
        (DEFAULT_MAX_RESPONSE_BYTES, None),
        (DEFAULT_PAGE_SIZE, None),
        (DEFAULT_V3_PAGE_SIZE, MAX_V3_PAGE_SIZE),
    ],
)
def test_the_default_counts_pass_their_own_check(value: int, most: int | None) -> None:
    """Every default count is one its option's check accepts."""
    assert check_positive_int(value, "default", most=most) == value


# --- RetryPolicy ---------------------------------------------------------------------------


def test_retry_policy_defaults() -> None:
    """The defaults are the documented ones: 5 attempts, 0.5 s doubling to 30 s, hints to 120 s."""
    policy = RetryPolicy()
    assert attrs.asdict(policy) == {
        "attempts": 5,
        "initial_wait": 0.5,
        "max_wait": 30.0,
        "max_retry_after": 120.0,
        "deadline": None,
    }


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"attempts": 0}, "attempts"),
        ({"attempts": 1.5}, "attempts"),
        ({"initial_wait": -1}, "initial_wait"),
        ({"max_wait": float("inf")}, "max_wait"),
        ({"max_retry_after": float("nan")}, "max_retry_after"),
        ({"deadline": 0}, "deadline"),
    ],
)
def test_retry_policy_validation(kwargs: dict[str, float], fragment: str) -> None:
    """RetryPolicy refuses out-of-range options with a ValueError naming them."""
    with pytest.raises(ValueError, match=fragment):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attempts": True}, "attempts must be an int of at least 1, got True"),
        ({"initial_wait": -0.5}, "initial_wait must be a non-negative finite number, got -0.5"),
        ({"max_wait": "30"}, "max_wait must be a non-negative finite number, got '30'"),
        ({"max_retry_after": -1}, "max_retry_after must be a non-negative finite number, got -1"),
        ({"deadline": -2.0}, "deadline must be a positive finite number, got -2.0"),
        ({"deadline": math.inf}, "deadline must be a positive finite number, got inf"),
    ],
)
def test_retry_policy_messages_give_the_rule_and_the_value(
    kwargs: dict[str, Any], message: str
) -> None:
    """A refused option's message says which rule it broke and what was given."""
    with pytest.raises(ValueError, match=re.escape(message)):
        RetryPolicy(**kwargs)


def test_retry_policy_accepts_zero_waits_and_no_deadline() -> None:
    """Waits may be zero (retry at once); a deadline is positive or None."""
    policy = RetryPolicy(attempts=1, initial_wait=0, max_wait=0, max_retry_after=0, deadline=None)
    assert (policy.backoff(1, 1.0), policy.deadline) == (0.0, None)
    assert RetryPolicy(deadline=0.001).deadline == 0.001


def test_backoff_formula() -> None:
    """Backoff doubles from initial_wait, is capped by max_wait, and scales by jitter."""
    policy = RetryPolicy(initial_wait=0.5, max_wait=3.0)
    assert [policy.backoff(n, 1.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.backoff(2, 0.5) == 0.5
    assert policy.backoff(10_000, 1.0) == 3.0


def test_backoff_jitter_scales_the_capped_wait() -> None:
    """The jitter applies after the cap: a capped wait with jitter 0.5 is half of max_wait."""
    policy = RetryPolicy(initial_wait=1.0, max_wait=4.0)
    assert [policy.backoff(n, 0.5) for n in range(1, 6)] == [0.5, 1.0, 2.0, 2.0, 2.0]


def test_backoff_caps_even_the_first_wait() -> None:
    """An initial_wait above max_wait is cut to max_wait from the first retry on."""
    assert RetryPolicy(initial_wait=10.0, max_wait=2.0).backoff(1, 1.0) == 2.0


@given(
    initial_wait=st.floats(0.0, 100.0),
    max_wait=st.floats(0.0, 100.0),
    attempt=st.integers(1, 10_000),
    jitter=st.floats(0.5, 1.0),
)
def test_backoff_never_shrinks_and_never_passes_the_cap(
    initial_wait: float, max_wait: float, attempt: int, jitter: float
) -> None:
    """For one jitter, no wait is shorter than the one before or longer than max_wait * jitter."""
    policy = RetryPolicy(initial_wait=initial_wait, max_wait=max_wait)
    wait = policy.backoff(attempt, jitter)
    assert policy.backoff(attempt + 1, jitter) >= wait
    assert 0.0 <= wait <= max_wait * jitter


def test_backoff_doubles_up_to_the_cap_from_however_small_an_initial_wait() -> None:
    """The wait doubles until it reaches max_wait, however many doublings that takes."""
    policy = RetryPolicy(initial_wait=2.0**-70, max_wait=1.0)
    assert [policy.backoff(n, 1.0) for n in (66, 70, 71, 72)] == [2.0**-5, 0.5, 1.0, 1.0]
    assert RetryPolicy(initial_wait=5e-324, max_wait=1.0).backoff(10**6, 1.0) == 1.0


# --- RateLimit -----------------------------------------------------------------------------


def test_rate_limit_defaults() -> None:
    """The default budget is the documented 150 requests per minute, evenly paced."""
    assert RateLimit() == RateLimit(requests=150, per=60.0, burst=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"requests": 0}, r"RateLimit\.requests must be an int of at least 1, got 0"),
        ({"requests": 1.5}, r"RateLimit\.requests must be an int of at least 1, got 1\.5"),
        ({"requests": True}, r"RateLimit\.requests must be an int of at least 1, got True"),
        ({"per": 0}, r"RateLimit\.per must be a positive finite number of seconds, got 0"),
        ({"per": -1.0}, r"RateLimit\.per must be a positive finite number of seconds"),
        ({"per": math.nan}, r"RateLimit\.per must be a positive finite number of seconds"),
        ({"per": math.inf}, r"RateLimit\.per must be a positive finite number of seconds"),
        ({"per": "60"}, r"RateLimit\.per must be a positive finite number of seconds"),
        ({"burst": 0}, r"RateLimit\.burst must be an int of at least 1, got 0"),
        ({"requests": 5, "burst": 6}, r"RateLimit\.burst must not exceed requests \(5\), got 6"),
    ],
)
def test_rate_limit_rejects_out_of_range_values(kwargs: dict[str, Any], message: str) -> None:
    """Each out-of-range option raises a ValueError naming the option and the value."""
    with pytest.raises(ValueError, match=message):
        RateLimit(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"per": True}, "RateLimit.per must be a positive finite number of seconds, got True"),
        ({"burst": True}, "RateLimit.burst must be an int of at least 1, got True"),
        ({"burst": 2.0}, "RateLimit.burst must be an int of at least 1, got 2.0"),
    ],
)
def test_rate_limit_refuses_bools_and_float_bursts(kwargs: dict[str, Any], message: str) -> None:
    """A bool is no number of seconds, and a burst counts whole requests."""
    with pytest.raises(ValueError, match=re.escape(message)):
        RateLimit(**kwargs)


def test_a_burst_may_be_the_whole_budget() -> None:
    """A burst equal to ``requests`` is allowed; a whole number of seconds is too."""
    assert RateLimit(10, 2, burst=10) == RateLimit(requests=10, per=2.0, burst=10)


def test_burst_is_keyword_only() -> None:
    """``RateLimit(10, 1.0, 3)`` is refused, so a third number is never taken for a burst."""
    with pytest.raises(TypeError):
        RateLimit(10, 1.0, 3)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("option", "field"),
    [(RetryPolicy(), "attempts"), (RateLimit(), "requests")],
    ids=["RetryPolicy", "RateLimit"],
)
def test_options_are_frozen_values(option: object, field: str) -> None:
    """An option object cannot change once made, so one instance can serve many clients."""
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(option, field, 1)
    assert option == type(option)()
    assert hash(option) == hash(type(option)())


# --- Priority ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requests", "per", "burst", "interval"),
    [(150, 60.0, 1, 0.4), (150, 60.0, 31, 0.5), (10, 20.0, 10, 20.0), (10, 20.0, 99, 20.0)],
)
def test_paced_interval_pays_for_the_burst(
    requests: int, per: float, burst: int, interval: float
) -> None:
    """After a burst of b, the rest of the window's requests share it: per / (requests - b + 1)."""
    assert paced_interval(requests, per, burst) == pytest.approx(interval)


def test_priority_accepts_members_and_their_plain_names() -> None:
    """A member or its plain name is a Priority; members run highest first, equal to their names."""
    names: list[str] = ["urgent", "normal", "bulk"]
    assert [check_priority(name) for name in names] == list(Priority) == names
    assert check_priority(Priority.BULK) is Priority.BULK


@pytest.mark.parametrize("value", ["high", "URGENT", "", 1, None])
def test_priority_rejects_anything_else(value: object) -> None:
    """Any other value is refused with the accepted names, as the error class asked for."""
    message = r"priority must be one of 'urgent', 'normal', 'bulk', got "
    with pytest.raises(OptionError, match=message + re.escape(repr(value))):
        check_priority(value, error=OptionError)


def test_check_priority_raises_a_value_error_by_default() -> None:
    """Without ``error=``, an unknown priority is a plain ValueError."""
    with pytest.raises(ValueError, match="priority must be one of") as info:
        check_priority("asap")
    assert type(info.value) is ValueError


def test_priority_choices_are_the_names_highest_first() -> None:
    """PRIORITY_CHOICES lists the plain names in the order the levels are served."""
    assert PRIORITY_CHOICES == ("urgent", "normal", "bulk")
    assert all(type(choice) is str for choice in PRIORITY_CHOICES)


# --- finite_number, shown, check_flag, check_option_type ---------------------------------------


@pytest.mark.parametrize(
    ("value", "number"),
    [
        (1, 1.0),
        (0.5, 0.5),
        (-3, -3.0),
        (True, None),
        ("1", None),
        (10**400, None),
        (math.nan, None),
    ],
)
def test_finite_number_reads_ints_and_floats_only(value: object, number: float | None) -> None:
    """A bool, text, NaN and an int too large for a float are no finite number."""
    assert finite_number(value) == number


class Disguised(float):
    """A float whose ``__float__`` says something its arithmetic does not."""

    def __float__(self) -> float:
        return 1.0


class DisguisedInt(int):
    """An int whose ``__float__`` says something its arithmetic does not."""

    def __float__(self) -> float:
        return 1.0


@pytest.mark.parametrize(
    ("value", "number"),
    [(Disguised(-1.0), -1.0), (Disguised(math.nan), None), (DisguisedInt(-5), -5.0)],
    ids=["negative", "nan", "int"],
)
def test_a_number_is_read_as_its_arithmetic_reads_it(value: float, number: float | None) -> None:
    """The check reads the value itself, not the one a subclass's ``__float__`` gives."""
    assert finite_number(value) == number
    assert positive_number(value) is None
    with pytest.raises(ValueError, match="per"):
        RateLimit(requests=1, per=value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"max_wait": 10**400},
            "max_wait must be a non-negative finite number, got an int of 1329 bits",
        ),
        ({"deadline": 10**400}, "deadline must be a positive finite number"),
        ({"deadline": True}, "deadline must be a positive finite number, got True"),
        ({"initial_wait": True}, "initial_wait must be a non-negative finite number, got True"),
    ],
)
def test_retry_policy_refuses_huge_ints_and_bools(options: dict[str, Any], message: str) -> None:
    """Options in seconds raise ValueError, not OverflowError, and take no bool for a number."""
    with pytest.raises(ValueError, match=re.escape(message)):
        RetryPolicy(**options)


def test_rate_limit_refuses_an_int_too_large_for_a_float() -> None:
    """RateLimit.per of 10**400 is a ValueError naming the option."""
    with pytest.raises(ValueError, match=r"RateLimit\.per must be a positive finite number"):
        RateLimit(per=10**400)


def test_shown_cuts_long_values_and_describes_huge_ints() -> None:
    """An error message quotes at most 80 characters, and never writes out a huge int."""
    assert shown(-(10**5000)) == "an int of 16610 bits"
    assert shown("x" * 1000) == "'" + "x" * 76 + "..."
    assert len(shown("x" * 1000)) == 80
    assert shown(1.5) == "1.5"


def test_shown_keeps_a_value_of_exactly_the_longest_length_whole() -> None:
    """A repr of exactly 80 characters and an int of exactly 200 bits are quoted whole."""
    assert shown("x" * 78) == "'" + "x" * 78 + "'"
    assert shown("x" * 79) == "'" + "x" * 76 + "..."
    assert shown(2**200 - 1) == str(2**200 - 1)
    assert shown(2**200) == "an int of 201 bits"


def test_check_positive_int_describes_a_huge_int_it_refuses() -> None:
    """-10**5000 is refused with a readable message, not Python's digit-limit ValueError."""
    with pytest.raises(ValueError, match="page_size must be an int of at least 1, got an int"):
        check_positive_int(-(10**5000), "page_size")


@pytest.mark.parametrize("value", ["no", "false", 0, 1, None])
def test_check_flag_takes_only_a_bool(value: object) -> None:
    """A flag given as text or a number is refused: ``"no"`` would read as True."""
    with pytest.raises(OptionError, match="show_extra must be True or False"):
        check_flag(value, "show_extra", error=OptionError)
    assert check_flag(False, "show_extra") is False


def test_check_option_type_names_the_type_given() -> None:
    """A wrong type is a TypeError naming the option and the type; None only when optional."""
    check_option_type(None, RetryPolicy, "retry", optional=True)
    check_option_type(RetryPolicy(), RetryPolicy, "retry")
    with pytest.raises(TypeError, match="retry must be a RetryPolicy, got NoneType"):
        check_option_type(None, RetryPolicy, "retry")
    with pytest.raises(TypeError, match="retry must be a RetryPolicy or None, got str"):
        check_option_type("x", RetryPolicy, "retry", optional=True)


def test_check_deadline_reads_any_number_but_nan() -> None:
    """None, ints and floats are deadlines (a too-wide int an infinity); all else is refused."""
    assert check_deadline(None) is None
    assert check_deadline(2) == 2.0
    assert check_deadline(-(10**5000)) == -math.inf
    assert check_deadline(10**5000) == math.inf
    for value in (math.nan, "5", True, Decimal(1)):
        with pytest.raises(ValueError, match=r"^deadline must be a number of seconds or None"):
            check_deadline(value)


def test_check_callable_refuses_what_cannot_be_called() -> None:
    """A value that cannot be called is a TypeError naming the option; None only when optional."""
    check_callable(print, "on_progress")
    check_callable(None, "on_progress", optional=True)
    with pytest.raises(TypeError, match="on_progress must be callable, got NoneType"):
        check_callable(None, "on_progress")
    with pytest.raises(TypeError, match="on_progress must be callable or None, got bool"):
        check_callable(True, "on_progress", optional=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Shop.MAIN, 5),
        (OtherText("BC1"), "BC1"),
        (Decimal("1.5"), Decimal("1.5")),
        (True, True),
        (None, None),
        (b"1", b"1"),
    ],
)
def test_plain_gives_the_built_in_value_of_a_subclass(value: object, expected: object) -> None:
    """Subclasses of int, float, str and Decimal become their exact base type; others stay."""
    result = plain(value)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("value", "expected"), [(OtherFloat(2.5), 2.5), (OtherDecimal("1.25"), Decimal("1.25"))]
)
def test_plain_gives_the_exact_number_of_a_float_or_decimal_subclass(
    value: object, expected: object
) -> None:
    """A float or Decimal subclass becomes the exact built-in number, not what it writes."""
    result = plain(value)
    assert (result, type(result), str(result)) == (expected, type(expected), str(expected))


def test_rate_limit_refuses_more_requests_than_a_limiter_can_keep() -> None:
    """A window of 2**63 requests failed later, in the limiter, with an OverflowError."""
    assert RateLimit(requests=MAX_WINDOW_REQUESTS, burst=MAX_WINDOW_REQUESTS).burst > 1
    for value in (MAX_WINDOW_REQUESTS + 1, 2**63, 10**400):
        with pytest.raises(ValueError, match=r"RateLimit\.requests must be an int from 1 to"):
            RateLimit(requests=value)


def test_check_positive_int_compares_the_built_in_value() -> None:
    """An int subclass's own comparisons cannot pass 0 or a count past the most."""
    for value in (BoundlessInt(0), BoundlessInt(10**6)):
        with pytest.raises(ValueError, match="page_size must be an int"):
            check_positive_int(value, "page_size", most=100)
    assert type(check_positive_int(BoundlessInt(5), "page_size", most=100)) is int


@pytest.mark.parametrize(
    ("text", "read"),
    [(None, None), ("", None), ("  \t\n", None), (" abc ", "abc"), ("a b", "a b")],
)
def test_a_blank_text_reads_as_none(text: str | None, read: str | None) -> None:
    """A token or store hash given blank is none given, in the environment or a flag."""
    assert blank_is_none(text) == read


def test_an_environment_variable_is_read_as_its_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset and blank read alike; a value loses its surrounding blanks."""
    monkeypatch.delenv("B2B_TEST_VARIABLE", raising=False)
    assert environment_text("B2B_TEST_VARIABLE") is None
    monkeypatch.setenv("B2B_TEST_VARIABLE", "  ")
    assert environment_text("B2B_TEST_VARIABLE") is None
    monkeypatch.setenv("B2B_TEST_VARIABLE", " token-1 ")
    assert environment_text("B2B_TEST_VARIABLE") == "token-1"


@pytest.mark.parametrize(
    ("value", "read"),
    [
        (1, 1.0),
        (0.25, 0.25),
        *[(refused, None) for refused in (0, -1.0, True, "1", math.inf, math.nan, 10**400)],
    ],
)
def test_a_positive_number_of_seconds_is_read_once(value: object, read: float | None) -> None:
    """The one check behind every option in positive seconds: a finite number above 0."""
    assert positive_number(value) == read


def test_rate_limit_takes_the_documented_range_of_requests() -> None:
    """RateLimit.requests is an int from 1 to 1,000,000, as documented; one more is refused."""
    assert RateLimit(requests=1_000_000).requests == 1_000_000
    with pytest.raises(ValueError, match="from 1 to 1000000, got 1000001"):
        RateLimit(requests=1_000_001)


# --- the documented figures ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "figure"),
    [
        pytest.param(_config.DEFAULT_TIMEOUT, 30.0, id="timeout, quickstart"),
        pytest.param(_config.CONNECT_SHARE, 0.5, id="connecting's half, quickstart"),
        pytest.param(_config.DEFAULT_MAX_CONCURRENCY, 8, id="max_concurrency, quickstart"),
        pytest.param(_config.MAX_CONCURRENCY, 1000, id="bulk workers at most, bulk"),
        pytest.param(_config.DEFAULT_MAX_RESPONSE_BYTES, 4194304, id="4 MiB, quickstart"),
        pytest.param(_config.MIN_SECRET_LENGTH, 6, id="shortest secret, errors"),
        pytest.param(_config.MIN_FOLDED_SECRET_LENGTH, 16, id="secret in any case, errors"),
        pytest.param(_config.DEFAULT_PAGE_SIZE, 50, id="V2 page_size, orders"),
        pytest.param(_config.MAX_PAGE_SIZE, 100_000, id="V2 page_size at most, orders"),
        pytest.param(_config.MAX_V3_PAGE_SIZE, 200, id="V3 page_size at most, v3"),
        pytest.param(_config.REGISTRATION_WINDOW, 10.0, id="V3 window, v3"),
        pytest.param(_config.REGISTRATION_MARGIN, 1.0, id="one-second margin, v3"),
        pytest.param(_config.WHOLE_SECOND_UNCERTAINTY, 1.0, id="a second more, v3"),
        pytest.param(_config.CHECK_SHARE, 0.5, id="extra field check's half, v3"),
        pytest.param(_config.EXTRA_FIELD_CONFIGS_TTL, 300.0, id="configs kept, v3"),
        pytest.param(_config.EXTRA_FIELD_CONFIGS_RETRY, 30.0, id="configs retried, v3"),
        pytest.param(_config.EXTRA_FIELD_CONFIGS_RECHECK, 30.0, id="refusal confirmed, v3"),
        pytest.param(_config.MAX_EXTRA_FIELD_CONFIGS, 1000, id="configs at most, v3"),
        pytest.param(_config.MAX_WAIT_HINT, 86_400.0, id="a day of hint, retries"),
        pytest.param(_config.DEFAULT_MAX_RETRY_AFTER, 120.0, id="max_retry_after, retries"),
        pytest.param(_config.UNREACHABLE_STREAK, 3, id="connections in a row, bulk"),
        pytest.param(_config.MAX_NUMBER_TEXT, 10_000, id="number text, errors"),
        pytest.param(_config.MAX_WHOLE_DIGITS, 20, id="whole digits, errors"),
        pytest.param(_config.MAX_WINDOW_REQUESTS, 1_000_000, id="RateLimit.requests, limits"),
        pytest.param(
            _config.RETRYABLE_SERVER_STATUSES, {500, 502, 503, 504}, id="retried, retries"
        ),
        pytest.param(_config.UNCERTAIN_STATUSES, {500, 502, 504}, id="maybe processed, errors"),
    ],
)
def test_the_defaults_are_the_figures_the_documentation_gives(
    value: object, figure: object
) -> None:
    """Each default and bound the documentation gives as a figure holds that figure."""
    assert value == figure
