"""Tests of ``b2b_async/sandbox/_faults.py``: what each injected fault does to a request, the
seeded draws, and the textual fault spec.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import aiohttp
import pytest

from b2b_async.sandbox import FaultKind, Faults, SandboxServer, parse_faults
from tests.sandbox._helpers import RESETS, call, create, order


@pytest.mark.parametrize(
    ("kind", "status", "content_type"),
    [
        (FaultKind.HTTP_500, 500, "application/json"),
        (FaultKind.HTTP_502, 502, "text/html"),
        (FaultKind.HTTP_503, 503, "application/json"),
        (FaultKind.HTTP_504, 504, "text/html"),
        (FaultKind.HTTP_429, 429, "application/json"),
        (FaultKind.ERROR_200, 200, "application/json"),
    ],
)
async def test_answer_faults_register_nothing(
    session: aiohttp.ClientSession, kind: FaultKind, status: int, content_type: str
) -> None:
    """Injected error answers have their status and body type, headers, and register nothing."""
    async with SandboxServer(faults=Faults(**{kind.field: 1.0})) as server:
        reply = await call(session, server)
    assert reply.status == status
    assert reply.headers["Content-Type"].startswith(content_type)
    assert reply.headers["X-Requests-Remaining"] == "149 times"
    assert not server.orders
    assert (server.requests[0].fault, server.requests[0].status) == (kind, status)


async def test_error_200_and_spurious_429_bodies(session: aiohttp.ClientSession) -> None:
    """error_200 is a 40010 envelope under HTTP 200; a spurious 429 says Retry-After: 1."""
    async with SandboxServer(faults=Faults(error_200=1.0)) as server:
        error_200 = await call(session, server)
        server.faults = Faults(http_429=1.0)
        spurious = await call(session, server)
    assert error_200.json()["code"] == 40010
    assert spurious.headers["Retry-After"] == "1"
    assert spurious.json()["code"] == 429


async def test_proxy_pages_error_200_and_resets_on_v3(session: aiohttp.ClientSession) -> None:
    """502 is a proxy's page; error_200 a 200 with body code 400; reset_after registers."""
    async with SandboxServer(rate=None, faults=Faults(http_502=1.0)) as server:
        proxy = await create(session, server, 1)
    async with SandboxServer(rate=None, faults=Faults(error_200=1.0)) as server:
        error_200 = await create(session, server, 1)
    async with SandboxServer(rate=None, faults=Faults(reset_after=1.0)) as server:
        with pytest.raises(RESETS):
            await create(session, server, 1)
        assert server.registrations("1") == 1
        assert server.requests[0].status == "reset"
    assert proxy.status == 502
    assert "nginx" in proxy.text
    assert error_200.status == 200
    assert error_200.json()["code"] == 400


async def test_malformed_answers_a_truncated_body_after_registering(
    session: aiohttp.ClientSession,
) -> None:
    """malformed: HTTP 200 with half a JSON body; the order is registered."""
    async with SandboxServer(faults=Faults(malformed=1.0)) as server:
        reply = await call(session, server)
    assert reply.status == 200
    with pytest.raises(json.JSONDecodeError):
        reply.json()
    assert reply.text.startswith('{"code": 200')
    assert server.registrations("BC1") == 1


async def test_reset_before_registers_nothing(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """reset_before drops the connection unanswered; nothing is registered, nothing logged."""
    caplog.set_level(logging.DEBUG)
    async with SandboxServer(faults=Faults(reset_before=1.0)) as server:
        with pytest.raises(RESETS):
            await call(session, server)
    assert not server.orders
    assert (server.requests[0].fault, server.requests[0].status) == (
        FaultKind.RESET_BEFORE,
        "reset",
    )
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


async def test_reset_after_registers_the_order(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """reset_after processes the request (order registered) and drops the answer."""
    caplog.set_level(logging.DEBUG)
    async with SandboxServer(faults=Faults(reset_after=1.0)) as server:
        with pytest.raises(RESETS):
            await call(session, server)
        server.faults = Faults()
        retried = await call(session, server)
    assert server.registrations("BC1") == 1
    assert retried.json()["message"] == "The order already exists."
    assert [record.status for record in server.requests] == ["reset", 400]
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


async def test_latency_delays_a_normal_answer(session: aiohttp.ClientSession) -> None:
    """latency adds its delay, then answers normally."""
    async with SandboxServer(faults=Faults(latency=1.0, latency_seconds=0.1)) as server:
        started = time.monotonic()
        reply = await call(session, server)
        elapsed = time.monotonic() - started
    assert reply.status == 200
    assert elapsed >= 0.1
    assert server.requests[0].fault is FaultKind.LATENCY


async def test_hang_outlasts_the_client_timeout(session: aiohttp.ClientSession) -> None:
    """hang gives no answer; the client times out; nothing is registered."""
    async with SandboxServer(faults=Faults(hang=1.0, hang_seconds=30)) as server:
        with pytest.raises(TimeoutError):
            await call(session, server, wait=0.1)
        await asyncio.sleep(0.05)  # let the server see the client go
    assert server.requests[0].status == "hang"
    assert not server.orders


async def test_short_hang_ends_with_a_closed_connection(session: aiohttp.ClientSession) -> None:
    """A hang shorter than the client's timeout ends with the connection closed, unanswered."""
    async with SandboxServer(faults=Faults(hang=1.0, hang_seconds=0.05)) as server:
        with pytest.raises(RESETS):
            await call(session, server)
    assert server.requests[0].status == "hang"


async def test_same_seed_same_faults(session: aiohttp.ClientSession) -> None:
    """The same seed and requests give the same fault sequence; another seed differs."""
    faults = Faults(http_500=0.2, http_503=0.2, error_200=0.2)

    async def sequence(seed: int) -> list[FaultKind | None]:
        async with SandboxServer(faults=faults, seed=seed, rate=None) as server:
            for n in range(30):
                await call(session, server, body=order(f"S{n}"))
        return [record.fault for record in server.requests]

    first, second, other = await sequence(7), await sequence(7), await sequence(8)
    assert first == second
    assert first != other
    assert set(first) == {None, FaultKind.HTTP_500, FaultKind.HTTP_503, FaultKind.ERROR_200}


def test_fault_pick_walks_cumulative_probabilities() -> None:
    """One draw picks the fault whose slice of [0, 1) it falls in."""
    faults = Faults(http_500=0.25, reset_after=0.25)
    assert [faults.pick(draw) for draw in (0.0, 0.24, 0.25, 0.49, 0.5, 0.99)] == [
        FaultKind.HTTP_500,
        FaultKind.HTTP_500,
        FaultKind.RESET_AFTER,
        FaultKind.RESET_AFTER,
        None,
        None,
    ]


def test_parse_faults() -> None:
    """A fault spec sets probabilities and durations, and round-trips through str()."""
    faults = parse_faults("500=0.05, reset_after=0.02,latency=0.1,latency_seconds=2,hang_seconds=5")
    assert faults == Faults(
        http_500=0.05, reset_after=0.02, latency=0.1, latency_seconds=2, hang_seconds=5
    )
    assert parse_faults(str(faults)) == faults
    assert parse_faults("none") == parse_faults("") == Faults()
    assert str(Faults()) == "none"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("boom=0.1", "unknown fault 'boom'"),
        ("500", "'500': expected KIND=PROBABILITY"),
        ("500=lots", "500: 'lots' is not a number"),
        ("500=0.1,500=0.2", "repeats a key"),
        ("500=1.5", r"http_500 must be a probability in \[0, 1\]"),
        ("500=0.6,503=0.6", "sum to 1.2, more than 1"),
        ("hang_seconds=-1", "hang_seconds must be a finite number"),
        ("latency_seconds=inf", "latency_seconds must be a finite number"),
    ],
)
def test_parse_faults_errors(spec: str, message: str) -> None:
    """A bad fault spec raises ValueError naming the culprit."""
    with pytest.raises(ValueError, match=message):
        parse_faults(spec)


async def test_malformed_cuts_the_real_json_answer_in_half(
    session: aiohttp.ClientSession,
) -> None:
    """malformed: the body is the first half of the real answer's bytes, typed as JSON."""
    async with SandboxServer(faults=Faults(malformed=1.0)) as server:
        reply = await call(session, server)
    real = json.dumps({"code": 200, "data": {"orderId": "BC1"}, "message": "Success"})
    assert reply.text == real[: len(real) // 2]
    assert reply.headers["Content-Type"].startswith("application/json")


async def test_a_client_leaving_a_delayed_request_is_settled_gone_quietly(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that gives up on a delayed request leaves a ``gone`` record and no log above
    debug level."""
    caplog.set_level(logging.DEBUG)
    async with SandboxServer(faults=Faults(latency=1.0, latency_seconds=60)) as server:
        with pytest.raises(TimeoutError):
            await call(session, server, wait=0.1)
        async with asyncio.timeout(30):
            while server.requests[0].status is None:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    assert server.requests[0].status == "gone"
    assert not server.orders
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


@pytest.mark.parametrize("value", [-0.5, -1e-9, 1.5])
def test_a_probability_outside_zero_to_one_is_refused(value: float) -> None:
    """Each probability must lie in [0, 1]: a negative one is refused like one above 1."""
    with pytest.raises(ValueError, match="must be a probability in"):
        Faults(http_500=value)


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("http_500", "http_500 must be a probability in"),
        ("reset_after", "reset_after must be a probability in"),
        ("latency_seconds", "latency_seconds must be a finite number of seconds"),
        ("hang_seconds", "hang_seconds must be a finite number of seconds"),
    ],
)
@pytest.mark.parametrize("value", [10**5000, -(10**5000)], ids=["huge", "-huge"])
def test_a_number_past_a_floats_range_is_refused_by_name(
    field: str, expected: str, value: int
) -> None:
    """An int too large for a float is a ValueError naming its field, not an OverflowError."""
    with pytest.raises(ValueError, match=f"^{expected}"):
        Faults(**{field: value})


def test_str_keeps_durations_set_without_any_fault() -> None:
    """Faults with durations set and no fault to apply them to read back equal through str()."""
    faults = Faults(latency_seconds=2, hang_seconds=5)
    assert parse_faults(str(faults)) == faults
    assert str(Faults()) == "none"


def test_probabilities_summing_to_one_up_to_rounding_are_accepted() -> None:
    """0.2, 0.4, 0.3 and 0.1 sum past 1 by a float rounding error only, and are accepted."""
    faults = Faults(http_500=0.2, http_502=0.4, http_503=0.3, http_504=0.1)
    assert faults.pick(0.999) is FaultKind.HTTP_504


def test_faults_take_keywords_only_and_default_their_durations() -> None:
    """Faults() holds floats whatever numbers it is given, refuses positional arguments, and
    lasts 0.5 s per latency and 60 s per hang by default; durations of 0 are allowed."""
    faults = Faults(http_500=1, latency_seconds=0, hang_seconds=0)
    assert [type(value) for value in (faults.http_500, faults.latency_seconds)] == [float, float]
    assert type(faults.hang_seconds) is float
    assert (Faults().latency_seconds, Faults().hang_seconds) == (0.5, 60.0)
    with pytest.raises(TypeError):
        Faults(0.5)  # type: ignore[call-arg]


@pytest.mark.parametrize("text", ["", "none", "off", " OFF "])
def test_every_word_for_no_faults_means_none(text: str) -> None:
    """An empty spec, none and off, in any case, all mean no faults."""
    assert parse_faults(text) == Faults()
