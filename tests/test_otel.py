"""OpenTelemetry: spans and metrics of calls to the sandbox, read from in-memory exporters."""

from __future__ import annotations

import asyncio
import importlib
import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp
import pytest
from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.semconv.schemas import Schemas
from opentelemetry.trace import Link, SpanKind, StatusCode, TraceState
from opentelemetry.util.types import Attributes

import b2b_async._events as events
from b2b_async import (
    APIConnectionError,
    B2BClient,
    Event,
    NewOrder,
    NotFoundError,
    RateLimit,
    RetryPolicy,
    otel,
)
from b2b_async._hooks import get_hooks, listening_hooks, set_hooks
from b2b_async._version import __version__
from b2b_async.otel import OpenTelemetryHook
from b2b_async.sandbox import FaultKind, Faults, SandboxServer
from tests.sandbox_helpers import seed_for

TOKEN = "tok-SECRET-9f8e7d6c5b4a"
STORE_HASH = "hash-SECRET-1234"
QUICK = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.02)
CREATE_PATH = "/api/v2/io/companies/1/user/1/orders"
CREATE_ROUTE = "/api/v2/io/companies/{id}/user/{id}/orders"


class Telemetry:
    """An SDK tracer and meter provider that keep everything in memory."""

    def __init__(self, sampler: Sampler | None = None) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider(sampler=sampler)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def finished(self) -> list[ReadableSpan]:
        """The spans ended so far."""
        return list(self.spans.get_finished_spans())

    def metrics(self) -> dict[str, list[Any]]:
        """Each metric's data points, by name."""
        data = self.reader.get_metrics_data()
        points: dict[str, list[Any]] = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    points.setdefault(metric.name, []).extend(metric.data.data_points)
        return points

    def total(self, name: str) -> float:
        """The sum of a counter's data points (0 when it has none)."""
        return float(sum(point.value for point in self.metrics().get(name, [])))


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """The OpenTelemetry hook on in-memory providers, the only hook for the test."""
    recorded = Telemetry()
    set_hooks(
        [
            OpenTelemetryHook(
                tracer_provider=recorded.tracer_provider, meter_provider=recorded.meter_provider
            )
        ]
    )
    yield recorded
    set_hooks(None)
    recorded.tracer_provider.shutdown()
    recorded.meter_provider.shutdown()


def sandbox(
    pattern: list[FaultKind | None] | None = None, faults: Faults | None = None
) -> SandboxServer:
    """A sandbox for the secret token whose first requests meet ``pattern``'s faults, drawn
    from ``faults`` (429s and 503s by default)."""
    faults = (faults or Faults(http_429=0.2, http_503=0.2)) if pattern else Faults()
    seed = seed_for(faults, pattern) if pattern else None
    return SandboxServer(rate=None, faults=faults, seed=seed, token=TOKEN, store_hash=STORE_HASH)


def client_for(server: SandboxServer, **options: object) -> B2BClient:
    """A client of ``server`` authenticated with the secret token and store hash."""
    settings: dict[str, object] = {"retry": QUICK, "store_hash": STORE_HASH, "rate_limit": None}
    settings.update(options)
    return B2BClient(TOKEN, base_url=server.url, **settings)  # type: ignore[arg-type]


async def create(client: B2BClient, order_id: str = "BC1", company_id: int = 1) -> None:
    """Register one order with sandbox ids."""
    await client.orders.create(
        company_id=company_id, customer_id=1, order_id=order_id, total_inc_tax=Decimal("9.50")
    )


def event_names(span: ReadableSpan) -> list[str]:
    """The names of a span's events, in order."""
    return [event.name for event in span.events]


class Trace(NamedTuple):
    """A call's spans: its own, and one per request it sent, in the order they were sent."""

    call: ReadableSpan
    requests: list[ReadableSpan]


def the_call(telemetry: Telemetry) -> Trace:
    """The spans of the one call made: its INTERNAL span and its requests' CLIENT spans."""
    spans = telemetry.finished()
    (call,) = [span for span in spans if span.kind is SpanKind.INTERNAL]
    requests = sorted(
        (span for span in spans if span.kind is SpanKind.CLIENT),
        key=lambda span: span.start_time or 0,
    )
    assert len(spans) == 1 + len(requests)
    return Trace(call, requests)


def request_attributes(server: SandboxServer, **outcome: object) -> dict[str, object]:
    """The attributes of a create request's CLIENT span, with those of its ``outcome``."""
    return {
        "http.request.method": "POST",
        "server.address": "127.0.0.1",
        "server.port": server.port,
        "url.full": server.url + CREATE_PATH,
        "url.template": CREATE_ROUTE,
        **outcome,
    }


async def test_a_create_call_is_a_call_span_over_one_client_span_per_request(
    telemetry: Telemetry,
) -> None:
    """One create: an INTERNAL span for the call, with the b2b attributes, and under it one
    CLIENT span for its request, named after the route, with the HTTP attributes."""
    async with sandbox() as server, client_for(server, rate_limit=RateLimit(100, 1.0)) as client:
        await create(client)
    call, (request,) = the_call(telemetry)
    assert call.name == request.name == f"POST {CREATE_ROUTE}"
    attributes = dict(call.attributes or {})
    assert attributes == {
        "b2b.operation": f"POST {CREATE_ROUTE}",
        "b2b.priority": "normal",
        "b2b.attempts": 1,
        "b2b.retries": 0,
        "b2b.budget_wait": attributes["b2b.budget_wait"],
        "b2b.request_id": attributes["b2b.request_id"],
    }
    assert isinstance(attributes["b2b.budget_wait"], float)
    assert event_names(call) == []
    assert call.status.status_code is StatusCode.UNSET
    assert request.parent is not None
    assert call.context is not None
    assert request.parent.span_id == call.context.span_id
    assert dict(request.attributes or {}) == request_attributes(
        server, **{"http.response.status_code": 200, "b2b.request_id": attributes["b2b.request_id"]}
    )
    assert request.status.status_code is StatusCode.UNSET


async def test_a_retried_request_is_a_client_span_of_its_own_with_its_resend_count(
    telemetry: Telemetry,
) -> None:
    """A 503 then a 200: two CLIENT spans under the call's, each with its own answer as the
    HTTP semantic conventions ask, the second with ``http.request.resend_count``; the 503's
    span is in error with ``error.type`` "503", as its duration's point is, and the call's,
    which succeeded, is not."""
    async with (
        sandbox([FaultKind.HTTP_503, None], Faults(http_503=0.2)) as server,
        client_for(server) as client,
    ):
        await create(client)
    call, (first, second) = the_call(telemetry)
    assert {
        key: value for key, value in (first.attributes or {}).items() if key != "b2b.request_id"
    } == (request_attributes(server, **{"http.response.status_code": 503, "error.type": "503"}))
    assert first.status.status_code is StatusCode.ERROR
    assert first.status.description is None
    assert {
        key: value for key, value in (second.attributes or {}).items() if key != "b2b.request_id"
    } == (
        request_attributes(
            server, **{"http.response.status_code": 200, "http.request.resend_count": 1}
        )
    )
    assert second.status.status_code is StatusCode.UNSET
    assert call.status.status_code is StatusCode.UNSET
    assert "error.type" not in (call.attributes or {})
    assert event_names(call) == ["b2b.retry"]
    assert set(durations(telemetry)) == {(503, "503"), (200, None)}


async def test_a_call_that_met_a_429_shows_the_retry(telemetry: Telemetry) -> None:
    """A 429 then a success: two requests' spans, the 429 and the retry as the call's events."""
    async with sandbox([FaultKind.HTTP_429, None]) as server, client_for(server) as client:
        await create(client)
    call, (limited, answered) = the_call(telemetry)
    assert event_names(call) == ["b2b.rate_limited", "b2b.retry"]
    retry = call.events[1].attributes or {}
    assert (retry["b2b.attempt"], retry["error.type"], retry["b2b.retry.wait"]) == (
        1,
        "RateLimitError",
        1.0,
    )
    assert (call.attributes or {})["b2b.retries"] == 1
    assert [
        (span.attributes or {})["http.response.status_code"] for span in (limited, answered)
    ] == [429, 200]
    assert [span.status.status_code for span in (limited, answered)] == [
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]
    assert (answered.attributes or {})["http.request.resend_count"] == 1
    assert telemetry.total("b2b.client.requests") == 2
    assert telemetry.total("b2b.client.rate_limited") == 1
    assert telemetry.total("b2b.client.retries") == 1


async def test_a_failed_call_sets_error_type_and_status(telemetry: Telemetry) -> None:
    """A call that fails for good with a 404: its span is in error, ``error.type`` naming
    the exception; its request's span is in error with ``error.type`` "404", the value the
    request's duration carries."""
    async with sandbox() as server, client_for(server) as client:
        with pytest.raises(NotFoundError):
            await create(client, company_id=999_999)
    call, (request,) = the_call(telemetry)
    assert (call.attributes or {})["error.type"] == "NotFoundError"
    assert "http.response.status_code" not in (call.attributes or {})
    assert call.status.status_code is StatusCode.ERROR
    assert call.status.description is None
    attributes = request.attributes or {}
    assert (attributes["http.response.status_code"], attributes["error.type"]) == (404, "404")
    assert request.status.status_code is StatusCode.ERROR
    assert list(durations(telemetry)) == [(404, "404")]


async def test_a_call_that_ends_without_an_answer_names_no_earlier_status(
    telemetry: Telemetry,
) -> None:
    """A 503, then two resets: the call failed with no answer to its last request, so no
    span but the 503's says 503; the resets' spans name the error instead."""
    faults = Faults(http_503=0.2, reset_before=0.2)
    pattern: list[FaultKind | None] = [
        FaultKind.HTTP_503,
        FaultKind.RESET_BEFORE,
        FaultKind.RESET_BEFORE,
    ]
    async with sandbox(pattern, faults) as server, client_for(server) as client:
        with pytest.raises(APIConnectionError):
            await create(client)
    call, requests = the_call(telemetry)
    assert "http.response.status_code" not in (call.attributes or {})
    assert (call.attributes or {})["error.type"] == "APIConnectionError"
    outcomes = [
        (
            (span.attributes or {}).get("http.response.status_code"),
            (span.attributes or {})["error.type"],
            (span.attributes or {}).get("http.request.resend_count"),
        )
        for span in requests
    ]
    assert outcomes == [
        (503, "503", None),
        (None, "APIConnectionError", 1),
        (None, "APIConnectionError", 2),
    ]


async def test_a_cancelled_call_ends_its_request_s_span_in_error(telemetry: Telemetry) -> None:
    """A call cancelled while its request waits for an answer: both spans end, in error,
    with ``error.type`` "CancelledError", as the HTTP conventions ask of a cancelled request."""
    hang = Faults(hang=0.3)
    async with sandbox([FaultKind.HANG], hang) as server, client_for(server) as client:
        task = asyncio.ensure_future(create(client))
        while not client.stats.in_flight:  # noqa: ASYNC110 - the client offers no event
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    call, (request,) = the_call(telemetry)
    for span in (call, request):
        assert (span.attributes or {})["error.type"] == "CancelledError"
        assert span.status.status_code is StatusCode.ERROR
    assert telemetry.total("b2b.client.in_flight") == 0
    assert telemetry.total("b2b.client.waiting") == 0


def schema_version(url: str) -> tuple[int, ...]:
    """The version a schema URL names, as numbers: ``.../schemas/1.44.0`` is (1, 44, 0)."""
    return tuple(int(part) for part in url.rsplit("/", 1)[1].split("."))


async def test_spans_and_metrics_name_the_semantic_conventions_they_follow(
    telemetry: Telemetry,
) -> None:
    """The instrumentation scope of every span and metric carries the library's name and
    version and the schema URL of a published version of the semantic conventions, so a
    backend can translate the attribute names when a later version renames one."""
    async with sandbox() as server, client_for(server) as client:
        await create(client)
    # The floors' conventions package predates the version followed: it cannot vouch for it.
    published = {schema.value for schema in Schemas}
    if schema_version(otel.SCHEMA_URL) <= max(map(schema_version, published)):
        assert otel.SCHEMA_URL in published
    scopes = [span.instrumentation_scope for span in telemetry.finished()]
    data = telemetry.reader.get_metrics_data()
    assert data is not None
    scopes += [
        scope.scope for resource in data.resource_metrics for scope in resource.scope_metrics
    ]
    assert scopes
    assert {(scope.name, scope.version, scope.schema_url) for scope in scopes if scope} == {
        ("b2b_async", __version__, otel.SCHEMA_URL)
    }
    schemas = {
        scope.schema_url for resource in data.resource_metrics for scope in resource.scope_metrics
    }
    assert schemas == {otel.SCHEMA_URL}


async def test_metrics_count_requests_waits_and_queue_depth(telemetry: Telemetry) -> None:
    """Requests, budget waits and bulk outcomes are counted; the queue is empty afterwards."""
    orders = [NewOrder(1, 1, f"BC{index}", Decimal(1)) for index in range(5)]
    async with sandbox() as server, client_for(server, rate_limit=RateLimit(1000, 1.0)) as client:
        await client.orders.create_many(orders)
    points = telemetry.metrics()
    assert telemetry.total("b2b.client.requests") == 5
    (waits,) = points["b2b.client.budget_wait"]
    assert waits.count == 5
    assert telemetry.total("b2b.client.in_flight") == 0
    assert telemetry.total("b2b.client.waiting") == 0
    assert telemetry.total("b2b.client.bulk.outcomes") == 5
    assert {point.attributes["b2b.priority"] for point in points["b2b.client.requests"]} == {
        "bulk"  # create_many's default
    }


async def test_a_request_that_fails_on_the_wire_is_a_span_in_error(
    telemetry: Telemetry,
) -> None:
    """A connection reset, then a success: the failed request's span is in error, naming the
    error's type and no status, and the wire and queue counts end at zero."""
    resets = Faults(reset_before=0.3)
    async with (
        sandbox([FaultKind.RESET_BEFORE, None], resets) as server,
        client_for(server) as client,
    ):
        await create(client)
    call, (failed, answered) = the_call(telemetry)
    assert dict(failed.attributes or {}) == request_attributes(
        server, **{"error.type": "APIConnectionError"}
    )
    assert failed.status.status_code is StatusCode.ERROR
    assert (answered.attributes or {})["http.request.resend_count"] == 1
    assert call.status.status_code is StatusCode.UNSET
    assert event_names(call) == ["b2b.retry"]
    assert telemetry.total("b2b.client.in_flight") == 0
    assert telemetry.total("b2b.client.waiting") == 0


def durations(telemetry: Telemetry) -> dict[tuple[object, object], Any]:
    """The ``http.client.request.duration`` points, by (status code, error.type)."""
    return {
        (
            point.attributes.get("http.response.status_code"),
            point.attributes.get("error.type"),
        ): point
        for point in telemetry.metrics()["http.client.request.duration"]
    }


async def test_each_request_s_duration_is_recorded_with_its_outcome(telemetry: Telemetry) -> None:
    """A 503, a reset, then a success: three requests, each an ``http.client.request.duration``
    point whose attributes say how it ended, as the HTTP semantic conventions name them."""
    faults = Faults(http_503=0.2, reset_before=0.2)
    pattern = [FaultKind.HTTP_503, FaultKind.RESET_BEFORE, None]
    async with sandbox(pattern, faults) as server, client_for(server) as client:
        await create(client)
    points = durations(telemetry)
    assert sorted(points, key=str) == sorted(
        [(503, "503"), (None, "APIConnectionError"), (200, None)], key=str
    )
    assert [point.count for point in points.values()] == [1, 1, 1]
    assert all(0 < point.sum < 60 for point in points.values())
    answered = points[(200, None)].attributes
    assert answered == {
        "http.request.method": "POST",
        "server.address": "127.0.0.1",
        "server.port": server.port,
        "b2b.priority": "normal",
        "http.response.status_code": 200,
    }


def test_an_answer_without_a_request_sent_records_no_duration(telemetry: Telemetry) -> None:
    """Events out of order (a hook fed by hand): an answer, then a failure, with no request
    on the wire records no duration, and raises nothing; one request sent records one."""
    hook = get_hooks()[0]
    call = events.Call("POST", "http://127.0.0.1/x", "/x", "127.0.0.1", 80)
    hook(events.CallStarted(call))
    hook(events.ResponseReceived(call, 1, 503, None))
    hook(events.RequestSent(call, 1))
    hook(events.ResponseReceived(call, 1, 201, None))
    hook(events.RequestFailed(call, 1, APIConnectionError("reset")))
    hook(events.CallFinished(call, 1, 0, 0.0, 201, None, None))
    assert list(durations(telemetry)) == [(201, None)]


async def test_a_429_names_the_cooldown_the_limiter_keeps(telemetry: Telemetry) -> None:
    """With pacing on, the 429's event on the call's span carries the cooldown every call
    now waits."""
    async with (
        sandbox([FaultKind.HTTP_429, None]) as server,
        client_for(server, rate_limit=RateLimit(1000, 1.0)) as client,
    ):
        await create(client)
    call, _ = the_call(telemetry)
    [rate_limited] = [event for event in call.events if event.name == "b2b.rate_limited"]
    assert (rate_limited.attributes or {})["b2b.cooldown"] == 1.0


async def test_bulk_outcomes_are_counted_by_outcome_and_error(telemetry: Telemetry) -> None:
    """A bulk run's outcomes: registered, already registered, and failed with error.type."""
    async with sandbox() as server, client_for(server) as client:
        await create(client, order_id="BC2")
        orders = [
            NewOrder(1, 1, "BC1", 1),
            NewOrder(1, 1, "BC2", 1),
            NewOrder(999_999, 1, "BC3", 1),
        ]
        await client.orders.create_many(orders)
    counted = {
        (point.attributes["b2b.outcome"], point.attributes.get("error.type")): point.value
        for point in telemetry.metrics()["b2b.client.bulk.outcomes"]
    }
    assert counted == {
        ("registered", None): 1,
        ("already_registered", None): 1,
        ("failed", "NotFoundError"): 1,
    }


async def test_inputs_a_stopped_run_never_sent_are_counted_as_not_attempted(
    telemetry: Telemetry,
) -> None:
    """A run stopped by a 401 counts its unsent inputs as ``not_attempted``, never failed."""
    backlog = [NewOrder(1, 1, f"BC{n}", 1) for n in range(12)]
    async with sandbox() as server:
        async with B2BClient("wrong-token", base_url=server.url, rate_limit=None) as client:
            report = await client.orders.create_many(backlog, concurrency=2)
    counted = {
        point.attributes["b2b.outcome"]: point.value
        for point in telemetry.metrics()["b2b.client.bulk.outcomes"]
    }
    assert counted == {"failed": len(report.failed), "not_attempted": len(report.not_attempted)}
    assert counted["failed"] + counted["not_attempted"] == 12


def test_events_of_a_call_the_hook_never_saw_start_are_passed_over(telemetry: Telemetry) -> None:
    """A call that began before the hook was set: its later events leave no span, no
    event and no metric point, and raise nothing."""
    hook = get_hooks()[0]
    call = events.Call("POST", "http://127.0.0.1/x", "/x", "127.0.0.1", 80)
    error = APIConnectionError("reset")
    for event in (
        events.BudgetWaited(call, 1, 0.5),
        events.RequestSent(call, 1),
        events.ResponseReceived(call, 1, 503, None),
        events.RequestFailed(call, 1, error),
        events.RateLimited(call, 1, 1.0),
        events.RetryScheduled(call, 1, 0.1, error),
        events.CallFinished(call, 2, 1, 0.5, None, None, error),
    ):
        hook(event)
    assert telemetry.finished() == []
    assert {name for name, points in telemetry.metrics().items() if points} == set()


async def test_the_span_nests_under_the_application_s_span(telemetry: Telemetry) -> None:
    """A call made inside an application span is that span's child."""
    tracer = telemetry.tracer_provider.get_tracer("app")
    async with sandbox() as server, client_for(server) as client:
        with tracer.start_as_current_span("handler"):
            await create(client)
    [handler] = [span for span in telemetry.finished() if span.name == "handler"]
    [call] = [
        span
        for span in telemetry.finished()
        if span.kind is SpanKind.INTERNAL and span is not handler
    ]
    assert call.parent is not None
    assert handler.context is not None
    assert call.parent.span_id == handler.context.span_id


async def test_two_hooks_leave_the_application_s_span_current(telemetry: Telemetry) -> None:
    """With two OpenTelemetry hooks, each making its span current, the span current after a
    call is the one current before it, not an ended span of the library."""
    other = Telemetry()
    set_hooks([get_hooks()[0], OpenTelemetryHook(tracer_provider=other.tracer_provider)])
    tracer = telemetry.tracer_provider.get_tracer("app")
    async with sandbox() as server, client_for(server) as client:
        with tracer.start_as_current_span("handler") as handler:
            await create(client)
            assert trace.get_current_span() is handler
    assert len(telemetry.finished()) == 3  # the handler's, the call's and its request's
    assert len(other.finished()) == 2


class DropsCalls(Sampler):
    """A root sampler that drops the library's call spans and keeps every other span, as a
    ratio sampler does with some traces and not others."""

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        decision = Decision.DROP if kind is SpanKind.INTERNAL else Decision.RECORD_AND_SAMPLE
        return SamplingResult(decision, attributes)

    def get_description(self) -> str:
        return "DropsCalls"


def instrumented(tracer: trace.Tracer) -> aiohttp.TraceConfig:
    """What an aiohttp client instrumentation does: a span per request, started in the
    context of the task that sends it."""
    config = aiohttp.TraceConfig()

    async def start(_: object, ctx: Any, __: object) -> None:
        ctx.span = tracer.start_span("POST", kind=SpanKind.CLIENT)

    async def end(_: object, ctx: Any, __: object) -> None:
        ctx.span.end()

    config.on_request_start.append(start)
    config.on_request_end.append(end)
    return config


async def test_a_span_started_under_a_sampled_out_call_is_sampled_out_with_it() -> None:
    """A call whose span is sampled out is its trace's parent all the same, never a new root."""
    recorded = Telemetry(sampler=ParentBased(root=DropsCalls()))
    set_hooks([OpenTelemetryHook(tracer_provider=recorded.tracer_provider)])
    tracer = recorded.tracer_provider.get_tracer("instrumentation")
    try:
        async with (
            sandbox() as server,
            aiohttp.ClientSession(trace_configs=[instrumented(tracer)]) as session,
            client_for(server, session=session) as client,
        ):
            await create(client)
    finally:
        set_hooks(None)
        recorded.tracer_provider.shutdown()
    assert server.registrations("BC1") == 1
    assert recorded.finished() == []


class FailingAtEnd(SpanProcessor):
    """A span processor that raises as each of the library's spans ends, as a broken
    processor of the application's might."""

    def on_end(self, span: ReadableSpan) -> None:
        if span.instrumentation_scope and span.instrumentation_scope.name == "b2b_async":
            raise RuntimeError("the processor is broken")


async def test_a_provider_that_fails_as_the_span_ends_leaves_the_application_s_span_current(
    telemetry: Telemetry,
) -> None:
    """A span processor raising as the call's span ends fails no call, and the span current
    after the call is the application's, not the library's ended one."""
    telemetry.tracer_provider.add_span_processor(FailingAtEnd())
    tracer = telemetry.tracer_provider.get_tracer("app")
    async with sandbox() as server, client_for(server) as client:
        with tracer.start_as_current_span("handler") as handler:
            await create(client)
            assert trace.get_current_span() is handler
    assert server.registrations("BC1") == 1


async def test_an_opentelemetry_api_the_hook_cannot_use_fails_no_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An opentelemetry-api older than the extra's floor, whose meters refuse an argument the
    hook passes: the default hook is left out and calls go on."""

    def old_api(meter: object) -> object:
        raise TypeError("create_histogram() got an unexpected keyword argument")

    monkeypatch.setattr(otel.Instruments, "of", staticmethod(old_api))
    set_hooks(None)
    try:
        async with sandbox() as server, client_for(server) as client:
            await create(client)
            assert server.registrations("BC1") == 1
        assert get_hooks() == ()
    finally:
        set_hooks(None)  # the next test builds the default hook afresh


async def test_nothing_holds_the_token(telemetry: Telemetry) -> None:
    """No span name, attribute, event or metric point holds the token or the store hash."""
    pattern: list[FaultKind | None] = [FaultKind.HTTP_503, FaultKind.HTTP_429, None]
    async with sandbox(pattern) as server, client_for(server) as client:
        await create(client)
        await client.orders.create_many([NewOrder(1, 1, "BC2", Decimal(1))])
        with pytest.raises(NotFoundError):
            await create(client, "BC3", company_id=999_999)
    texts: list[str] = []
    for span in telemetry.finished():
        texts += [span.name, repr(dict(span.attributes or {})), repr(span.status.description)]
        texts += [f"{event.name} {dict(event.attributes or {})}" for event in span.events]
    for name, points in telemetry.metrics().items():
        texts += [name, *(repr(dict(point.attributes or {})) for point in points)]
    assert len(texts) > 20
    leaked = [text for text in texts if TOKEN in text or STORE_HASH in text]
    assert leaked == []


def run_app(tmp_path: Path, code: str) -> str:
    """Run ``code`` as an application script in a fresh interpreter; return what it printed."""
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(code))
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
        env={"PYTHONPATH": str(root)},
        timeout=60,
    )
    return result.stdout.strip()


def test_spans_go_to_the_global_provider_with_no_opt_in(tmp_path: Path) -> None:
    """An application that only configures the SDK globally gets the client's spans."""
    printed = run_app(
        tmp_path,
        """
        import asyncio
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )
        from b2b_async import B2BClient
        from b2b_async.sandbox import DEFAULT_TOKEN, SandboxServer

        async def main() -> None:
            async with SandboxServer(rate=None) as server:
                async with B2BClient(DEFAULT_TOKEN, base_url=server.url) as client:
                    await client.orders.create(
                        company_id=1, customer_id=1, order_id="BC1", total_inc_tax=1
                    )

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        asyncio.run(main())
        print([(span.name, span.kind.name) for span in exporter.get_finished_spans()])
        """,
    )
    assert printed == repr(
        [(f"POST {CREATE_ROUTE}", "CLIENT"), (f"POST {CREATE_ROUTE}", "INTERNAL")]
    )


def test_without_an_sdk_the_default_hook_sits_every_call_out() -> None:
    """With the API's own global providers, the default hook is in use but hears no call."""
    # No test sets a global provider in this process (the ones that do run a subprocess).
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    set_hooks(None)
    try:
        assert [type(hook) for hook in get_hooks()] == [OpenTelemetryHook]
        assert listening_hooks() == ()
    finally:
        set_hooks(None)


def test_the_hook_listens_when_either_provider_records() -> None:
    """No-op providers record nothing; an SDK tracer or an SDK meter provider is enough."""
    recorded = Telemetry()
    no_tracing, no_metrics = trace.NoOpTracerProvider(), metrics.NoOpMeterProvider()
    try:
        hooks = [
            OpenTelemetryHook(tracer_provider=no_tracing, meter_provider=no_metrics),
            OpenTelemetryHook(tracer_provider=recorded.tracer_provider, meter_provider=no_metrics),
            OpenTelemetryHook(tracer_provider=no_tracing, meter_provider=recorded.meter_provider),
        ]
        assert [hook.listening() for hook in hooks] == [False, True, True]
    finally:
        recorded.tracer_provider.shutdown()
        recorded.meter_provider.shutdown()


def test_providers_set_after_the_first_calls_are_used_from_the_next_call(tmp_path: Path) -> None:
    """No SDK: no hook listens. A meter provider set later gets metrics, a tracer one spans."""
    printed = run_app(
        tmp_path,
        """
        import asyncio, json
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )
        from b2b_async import B2BClient
        from b2b_async._hooks import listening_hooks
        from b2b_async.sandbox import DEFAULT_TOKEN, SandboxServer

        spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
        seen = {}

        def requests_counted():
            data = reader.get_metrics_data()
            return sum(
                point.value
                for resource in (data.resource_metrics if data else ())
                for scope in resource.scope_metrics
                for metric in scope.metrics
                if metric.name == "b2b.client.requests"
                for point in metric.data.data_points
            )

        def look(when):
            seen[when] = {
                "listening": len(listening_hooks()),
                "spans": len(spans.get_finished_spans()),
                "requests": requests_counted(),
            }

        async def main():
            async with SandboxServer(rate=None) as server:
                async with B2BClient(DEFAULT_TOKEN, base_url=server.url) as client:

                    async def create(order_id):
                        await client.orders.create(
                            company_id=1, customer_id=1, order_id=order_id, total_inc_tax=1
                        )

                    await create("BC1")
                    look("no sdk")
                    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
                    await create("BC2")
                    look("meter provider")
                    tracer_provider = TracerProvider()
                    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
                    trace.set_tracer_provider(tracer_provider)
                    await create("BC3")
                    look("tracer provider")

        asyncio.run(main())
        print(json.dumps(seen))
        """,
    )
    assert json.loads(printed) == {
        "no sdk": {"listening": 0, "spans": 0, "requests": 0},
        "meter provider": {"listening": 1, "spans": 0, "requests": 1},
        "tracer provider": {"listening": 1, "spans": 2, "requests": 2},  # the call's, its request's
    }


async def test_without_an_sdk_a_call_hands_the_hook_nothing() -> None:
    """With the API's own global providers, a call builds no event and starts no span."""
    heard: list[Event] = []

    class Overheard(OpenTelemetryHook):
        def __call__(self, event: Event, /) -> None:
            heard.append(event)
            super().__call__(event)

    set_hooks([Overheard()])
    try:
        async with sandbox() as server, client_for(server) as client:
            await create(client)
            await client.orders.create_many([NewOrder(1, 1, "BC2", Decimal(1))])
    finally:
        set_hooks(None)
    assert heard == []
    assert client.stats.requests == 2


def test_importing_without_opentelemetry_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without opentelemetry-api, importing b2b_async.otel says which extra to install."""
    for name in ("opentelemetry", "opentelemetry.context", "opentelemetry.trace"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "b2b_async.otel")
    with pytest.raises(ImportError, match=r"pip install 'b2b-async\[otel\]'"):
        importlib.import_module("b2b_async.otel")


def test_a_400_answer_puts_its_request_s_span_in_error(telemetry: Telemetry) -> None:
    """An answer of 400, the lowest error status, ends its request's span in error, with
    ``error.type`` "400"."""
    hook = get_hooks()[0]
    call = events.Call("POST", "http://127.0.0.1/x", "/x", "127.0.0.1", 80)
    hook(events.CallStarted(call))
    hook(events.RequestSent(call, 1))
    hook(events.ResponseReceived(call, 1, 400, None))
    hook(events.CallFinished(call, 1, 0, 0.0, 400, None, None))
    _, (request,) = the_call(telemetry)
    assert request.status.status_code is StatusCode.ERROR
    assert (request.attributes or {})["error.type"] == "400"


async def test_a_429_and_its_retry_are_labelled_on_the_span_and_the_metric(
    telemetry: Telemetry,
) -> None:
    """Without pacing, the 429's span event names the attempt and no cooldown; the retry's
    metric point carries the call's labels and the error's type."""
    async with sandbox([FaultKind.HTTP_429, None]) as server, client_for(server) as client:
        await create(client)
    call, _ = the_call(telemetry)
    assert dict(call.events[0].attributes or {}) == {"b2b.attempt": 1}
    (retry,) = telemetry.metrics()["b2b.client.retries"]
    assert dict(retry.attributes) == {
        "http.request.method": "POST",
        "server.address": "127.0.0.1",
        "b2b.priority": "normal",
        "error.type": "RateLimitError",
    }


def units(telemetry: Telemetry) -> dict[str, str | None]:
    """Each metric's unit, by name."""
    data = telemetry.reader.get_metrics_data()
    assert data is not None
    return {
        metric.name: metric.unit
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }


async def emit_every_metric() -> None:
    """Make one paced bulk call that meets a 429 and its retry: a point of every metric."""
    async with (
        sandbox([FaultKind.HTTP_429, None]) as server,
        client_for(server, rate_limit=RateLimit(1000, 1.0)) as client,
    ):
        await client.orders.create_many([NewOrder(1, 1, "BC1", Decimal(1))])


async def test_every_metric_has_its_unit(telemetry: Telemetry) -> None:
    """The two histograms are in seconds, the counts in the UCUM annotation of what they count."""
    await emit_every_metric()
    assert units(telemetry) == {
        "b2b.client.requests": "{request}",
        "b2b.client.rate_limited": "{response}",
        "b2b.client.retries": "{retry}",
        "b2b.client.budget_wait": "s",
        "b2b.client.in_flight": "{request}",
        "b2b.client.waiting": "{call}",
        "b2b.client.bulk.outcomes": "{order}",
        "http.client.request.duration": "s",
    }


def documented_units() -> dict[str, str]:
    """Each metric's unit as the observability page's table of metrics gives it, by name."""
    page = Path(__file__).resolve().parent.parent / "docs" / "observability.md"
    section = page.read_text(encoding="utf-8").split("\n### Metrics\n")[1].split("\n### ")[0]
    rows = re.findall(r"^\| `([\w.]+)` \| [^|]+ \| `([^`|]+)` \|", section, flags=re.MULTILINE)
    return dict(rows)


async def test_the_observability_page_gives_each_metric_its_emitted_unit(
    telemetry: Telemetry,
) -> None:
    """The observability page lists every metric emitted, each with the unit it is emitted in."""
    await emit_every_metric()
    assert documented_units() == units(telemetry)


async def test_a_request_on_the_wire_is_in_flight_and_not_waiting(telemetry: Telemetry) -> None:
    """While a call's request awaits its answer, ``b2b.client.in_flight`` counts it and
    ``b2b.client.waiting`` does not; once the call ends, both are back at zero."""
    hang = Faults(hang=0.3)
    async with sandbox([FaultKind.HANG], hang) as server, client_for(server) as client:
        task = asyncio.ensure_future(create(client))
        while not client.stats.in_flight:  # noqa: ASYNC110 - the client offers no event
            await asyncio.sleep(0.01)
        on_the_wire = [telemetry.total(f"b2b.client.{name}") for name in ("in_flight", "waiting")]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert on_the_wire == [1, 0]
    points = telemetry.metrics()
    for name in ("b2b.client.in_flight", "b2b.client.waiting"):
        assert sum(point.value for point in points[name]) == 0


def test_a_request_sent_before_the_last_one_s_answer_ends_the_last_one_s_span(
    telemetry: Telemetry,
) -> None:
    """Events out of order (a hook fed by hand): a request sent while the last one has no
    answer yet ends the last one's span, with no outcome, before starting its own."""
    hook = get_hooks()[0]
    call = events.Call("POST", "http://127.0.0.1/x", "/x", "127.0.0.1", 80)
    hook(events.CallStarted(call))
    hook(events.RequestSent(call, 1))
    hook(events.RequestSent(call, 2))
    hook(events.ResponseReceived(call, 2, 201, None))
    hook(events.CallFinished(call, 2, 1, 0.0, 201, None, None))
    _, (first, second) = the_call(telemetry)
    assert "http.response.status_code" not in (first.attributes or {})
    assert first.status.status_code is StatusCode.UNSET
    assert (second.attributes or {})["http.response.status_code"] == 201


def test_a_call_that_finishes_with_a_request_unanswered_ends_the_request_s_span(
    telemetry: Telemetry,
) -> None:
    """Events out of order (a hook fed by hand): a call finished while its request has no
    answer ends that request's span, a child of the call's, with no outcome."""
    hook = get_hooks()[0]
    call = events.Call("POST", "http://127.0.0.1/x", "/x", "127.0.0.1", 80)
    hook(events.CallStarted(call))
    hook(events.RequestSent(call, 1))
    hook(events.CallFinished(call, 1, 0, 0.0, None, None, None))
    call_span, (request,) = the_call(telemetry)
    assert "http.response.status_code" not in (request.attributes or {})
    assert request.status.status_code is StatusCode.UNSET
    assert request.parent is not None
    assert call_span.context is not None
    assert request.parent.span_id == call_span.context.span_id
