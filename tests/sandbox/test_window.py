"""Tests of ``b2b_async/sandbox/_window.py``: the store's fixed request window, its
``X-Requests-*`` headers, and the textual rate.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from b2b_async.sandbox import RateWindow, Sandbox, SandboxServer, parse_rate
from b2b_async.sandbox._window import FixedWindow, WindowState
from tests.sandbox._helpers import V2_HEADERS, FakeClock, call, order, v3

# Requests refused before they reach the window, and the status each answers.
REFUSED: dict[str, tuple[int, Callable[[], dict[str, Any]]]] = {
    "no token": (401, lambda: {"headers": {}}),
    "wrong token": (401, lambda: {"headers": {"authToken": "wrong"}}),
    "body too large": (413, lambda: {"data": io.BytesIO(b"x" * (1024 * 1024 + 1))}),
    "body not gzip": (
        400,
        lambda: {"data": b"no gzip", "headers": {**V2_HEADERS, "Content-Encoding": "gzip"}},
    ),
    "too many in flight": (429, dict),
}


async def test_every_answer_carries_the_rate_headers_with_units(
    server: SandboxServer, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """200, 400, 401 and 404 all carry X-Requests-* with units and a unique X-Request-Id."""
    first = await call(session, server)
    clock.advance(0.25)
    replies = [
        first,
        await call(session, server, body={}),
        await call(session, server, headers={}),
        await call(session, server, "/companies/999/user/1/orders"),
    ]
    for reply in replies:
        assert reply.headers["X-Requests-Allocated"] == "150 times/60 s"
        assert re.fullmatch(r"\d+ times", reply.headers["X-Requests-Remaining"])
        assert re.fullmatch(r"\d+(\.\d+)? s", reply.headers["X-Request-Window-Resets-After"])
    assert first.headers["X-Requests-Remaining"] == "149 times"
    assert first.headers["X-Request-Window-Resets-After"] == "60.0 s"
    assert replies[1].headers["X-Request-Window-Resets-After"] == "59.75 s"
    ids = [reply.headers["X-Request-Id"] for reply in replies]
    assert len(set(ids)) == 4
    assert ids == [record.request_id for record in server.requests]


async def test_window_refuses_past_the_budget_until_it_resets(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Past the budget: 429 with Retry-After; 429s do not count; a new window starts whole."""
    async with SandboxServer(rate=RateWindow(3, 60), clock=clock) as server:
        statuses = [(await call(session, server, body=order(f"W{n}"))).status for n in range(3)]
        clock.advance(20.4)
        refused = await call(session, server, body=order("W3"))
        clock.advance(39.0)
        refused_again = await call(session, server, body=order("W3"))
        clock.advance(0.6)
        after = await call(session, server, body=order("W3"))
    assert statuses == [200, 200, 200]
    assert refused.status == 429
    assert refused.json()["code"] == 429
    assert refused.headers["Retry-After"] == "40"
    resets_after = refused.headers["X-Request-Window-Resets-After"]
    assert float(resets_after.removesuffix(" s")) == pytest.approx(39.6)
    assert refused.headers["X-Requests-Remaining"] == "0 times"
    assert refused_again.headers["Retry-After"] == "1"
    assert after.status == 200
    assert after.headers["X-Requests-Remaining"] == "2 times"
    assert [record.status for record in server.requests] == [200, 200, 200, 429, 429, 200]


async def test_spent_window_answers_429_in_v3_shape(session: aiohttp.ClientSession) -> None:
    """Past the window, V3 answers 429 with Retry-After and the window headers."""
    async with SandboxServer(rate=RateWindow(1, 60.0)) as server:
        first = await v3(session, server, "/orders")
        second = await v3(session, server, "/orders")
    assert first.status == 200
    assert first.headers["X-Requests-Remaining"] == "0 times"
    assert second.status == 429
    assert second.json()["meta"]["message"].startswith("Rate limit exceeded")
    assert int(second.headers["Retry-After"]) >= 1


async def test_window_is_shared_by_every_token(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Callers share one window: a second session sees the first one's spending."""
    async with SandboxServer(rate=RateWindow(2, 60), clock=clock) as server:
        await call(session, server, body=order("A"))
        async with aiohttp.ClientSession() as other:
            second = await call(other, server, body=order("B"))
            third = await call(other, server, body=order("C"))
    assert second.headers["X-Requests-Remaining"] == "0 times"
    assert third.status == 429


async def test_rate_can_change_at_run_time(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Assigning a rate starts a fresh window with the new budget."""
    await call(session, server)
    server.rate = RateWindow(requests=1, per=2.5)
    first = await call(session, server, body=order("R1"))
    second = await call(session, server, body=order("R2"))
    assert first.headers["X-Requests-Allocated"] == "1 times/2.5 s"
    assert first.headers["X-Requests-Remaining"] == "0 times"
    assert (second.status, second.headers["Retry-After"]) == (429, "3")


async def test_competing_integration_spends_the_start_of_each_window(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Another integration spends N requests whenever a window opens."""
    async with SandboxServer(rate=RateWindow(5, 60), competing=3, clock=clock) as server:
        first = await call(session, server, body=order("C1"))
        await call(session, server, body=order("C2"))
        refused = await call(session, server, body=order("C3"))
        clock.advance(60)
        server.competing = 4
        next_window = await call(session, server, body=order("C3"))
    assert first.headers["X-Requests-Remaining"] == "1 times"
    assert refused.status == 429
    assert next_window.headers["X-Requests-Remaining"] == "0 times"
    assert server.competing == 4


async def test_competing_integration_can_spend_everything(
    session: aiohttp.ClientSession,
) -> None:
    """A competing integration spending the whole budget leaves nothing: every request is 429."""
    async with SandboxServer(rate=RateWindow(2, 60), competing=5) as server:
        reply = await call(session, server)
    assert reply.status == 429
    assert not server.orders


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("150/60", RateWindow(150, 60.0)),
        ("40/1", RateWindow(40, 1.0)),
        (" 5/0.5 ", RateWindow(5, 0.5)),
        ("none", None),
        ("OFF", None),
    ],
)
def test_parse_rate(text: str, expected: RateWindow | None) -> None:
    """A rate is REQUESTS/SECONDS, or none."""
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["40", "a/1", "0/1", "5/0", "5/nan", "5/", "1.5/1"])
def test_parse_rate_errors(text: str) -> None:
    """A bad rate raises ValueError with the expected form."""
    with pytest.raises(ValueError, match="expected REQUESTS/SECONDS"):
        parse_rate(text)


@pytest.mark.parametrize("now", [2106.053351110693, 62321.630803521046, 128203.12302867764])
def test_a_window_opening_now_resets_exactly_its_length_away(now: float) -> None:
    """At the instant a window opens, its reset is ``per`` away to the last bit, so a spent
    window of 3600 s answers ``Retry-After: 3600``, whatever the clock reads (now + per - now
    rounds up a hair at some readings, and ceil made 3601 of it)."""
    window = FixedWindow(RateWindow(requests=150, per=3600), clock=lambda: now, competing=150)
    state = window.spend()
    assert not state.allowed
    assert state.resets_after == 3600.0
    assert state.retry_after == 3600


async def test_answers_carry_the_window_length_header_in_the_published_form(
    server: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """Accepted and refused answers carry X-Requests-Window-Length as B2B Edition writes it."""
    accepted = await call(session, server)
    refused = await call(session, server, headers={})
    assert accepted.headers["X-Requests-Window-Length"] == "0 times"
    assert refused.headers["X-Requests-Window-Length"] == "0 times"


@pytest.mark.parametrize("text", ["none", "off", "unlimited", " Unlimited "])
def test_every_word_for_no_window_switches_it_off(text: str) -> None:
    """none, off and unlimited, in any case and with spaces around, all mean no window."""
    assert parse_rate(text) is None


def test_a_look_at_a_closed_window_opens_no_new_one() -> None:
    """Looking at a closed window reports a fresh window's budget and leaves it closed: the
    next spend opens the window, and the competing share is charged then, once."""
    clock = FakeClock()
    window = FixedWindow(RateWindow(5, 60), clock=clock, competing=3)
    window.spend()
    clock.advance(60)
    assert window.look() == WindowState(allowed=True, remaining=2, resets_after=60.0)
    clock.advance(30)
    assert window.spend() == WindowState(allowed=True, remaining=1, resets_after=60.0)
    clock.advance(35)
    assert window.spend() == WindowState(allowed=True, remaining=0, resets_after=25.0)
    assert window.look() == WindowState(allowed=True, remaining=0, resets_after=25.0)


async def _refused(
    session: aiohttp.ClientSession, server: SandboxServer, kind: str
) -> tuple[int, str]:
    """Send a request refused before the window; its status and X-Requests-Remaining."""
    status, how = REFUSED[kind]
    server.max_in_flight = 0 if kind == "too many in flight" else None
    reply = await call(session, server, **how())
    server.max_in_flight = None
    assert reply.status == status
    return reply.status, reply.headers["X-Requests-Remaining"]


@pytest.mark.parametrize("kind", REFUSED)
async def test_a_request_refused_before_the_window_does_not_open_one(
    session: aiohttp.ClientSession, clock: FakeClock, kind: str
) -> None:
    """A 401, 413, unreadable body or concurrency 429 after a window closed opens no window and
    charges no competing share: the next counted request opens the window."""
    async with SandboxServer(rate=RateWindow(5, 60), competing=3, clock=clock) as server:
        await call(session, server, body=order("C1"))
        clock.advance(60)
        _, remaining = await _refused(session, server, kind)
        clock.advance(30)
        opening = await call(session, server, body=order("C2"))
        clock.advance(35)
        same_window = await call(session, server, body=order("C3"))
    assert remaining == "2 times"
    assert opening.headers["X-Request-Window-Resets-After"] == "60.0 s"
    assert opening.headers["X-Requests-Remaining"] == "1 times"
    assert (same_window.status, same_window.headers["X-Requests-Remaining"]) == (200, "0 times")


@pytest.mark.parametrize(("resets_after", "expected"), [(0.0, 1), (0.2, 1), (1.0, 1), (1.01, 2)])
def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one(
    resets_after: float, expected: int
) -> None:
    """``Retry-After`` is the time to the reset in whole seconds, rounded up, never below 1."""
    state = WindowState(allowed=False, remaining=0, resets_after=resets_after)
    assert state.retry_after == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("40", "(missing '/')"),
        ("0/1", "'requests' must be >= 1"),
        ("5/nan", "per must be a positive finite number, got nan"),
    ],
)
def test_parse_rate_errors_say_what_is_wrong(text: str, reason: str) -> None:
    """A bad rate's message names its problem: the missing slash, or the number out of range."""
    with pytest.raises(ValueError, match="expected REQUESTS/SECONDS") as raised:
        parse_rate(text)
    assert reason in str(raised.value)


@pytest.mark.parametrize("competing", [-(10**5000), -(2**300)], ids=["-huge", "-2**300"])
def test_a_negative_competing_share_too_long_to_write_is_refused_by_name(competing: int) -> None:
    """A negative share past Python's digit limit is refused naming ``competing``, its
    width described rather than written out."""
    with pytest.raises(ValueError, match=r"^competing must be an int of at least 0, got an int of"):
        Sandbox(competing=competing)


@pytest.mark.parametrize("per", [10**5000, 2**1024], ids=["huge", "2**1024"])
def test_a_window_length_past_a_floats_range_is_refused_by_name(per: int) -> None:
    """An int too large for a float is a ValueError naming ``per``, not an OverflowError."""
    with pytest.raises(ValueError, match=r"^per must be a positive finite number, got inf"):
        RateWindow(requests=1, per=per)
