"""OpenTelemetry spans and metrics for every call, through ``opentelemetry-api`` alone.

Install the ``otel`` extra (``pip install 'b2b-async[otel]'``) and configure the
OpenTelemetry SDK in the application as usual: the client's spans and metrics then go to the
global tracer and meter providers, with no call of ours. :class:`OpenTelemetryHook` is the
hook :func:`~b2b_async.set_hooks` starts with; build one yourself only to use other
providers.

Each API call is one ``INTERNAL`` span named ``{method} {route}``, made current for the
call (spans of an aiohttp instrumentation nest under it), with ``b2b.*`` attributes and
its 429s and retries as span events; under it, each request sent is a ``CLIENT`` span of
the same name, as the HTTP client semantic conventions ask (one span per request sent, a
resent one with ``http.request.resend_count``; ``http.request.method``,
``http.response.status_code``, ``server.address``, ``server.port``, ``url.full``,
``url.template``, ``error.type``). No attribute, event or metric holds the token or the
store hash: URLs and request ids are redacted, and errors appear by type name only, never
by message.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from contextvars import Token
from typing import Any, Final

import attrs

try:
    from opentelemetry import context, metrics, trace
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode
except ImportError:  # the extra is not installed; the message says all there is to do
    raise ImportError(
        "b2b_async.otel needs opentelemetry-api: pip install 'b2b-async[otel]'"
    ) from None

from . import _events
from ._version import __version__

__all__ = [
    "BUDGET_WAIT_BUCKETS",
    "INSTRUMENTATION_NAME",
    "REQUEST_DURATION_BUCKETS",
    "SCHEMA_URL",
    "Instruments",
    "OpenTelemetryHook",
]

#: The instrumentation scope of every span and metric.
INSTRUMENTATION_NAME: Final = "b2b_async"
#: The version of the semantic conventions that the spans and metrics follow, as the schema
#: URL of their instrumentation scope: a backend or collector can translate the attribute
#: names of this version into those of the version it speaks.
SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.44.0"
#: Histogram buckets of the budget wait, in seconds: a paced call waits up to a window.
BUDGET_WAIT_BUCKETS: Final = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: Histogram buckets of ``http.client.request.duration``, in seconds: the ones the HTTP
#: semantic conventions advise for it.
REQUEST_DURATION_BUCKETS: Final = (
    0.0, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0
)  # fmt: skip

#: The API's own providers that it exports by name: they record nothing.
API_PROVIDERS: Final[tuple[type, ...]] = (
    trace.ProxyTracerProvider,
    trace.NoOpTracerProvider,
    metrics.NoOpMeterProvider,
)

Attributes = dict[str, str | int | float]


@attrs.frozen
class Instruments:
    """The metrics the hook records.

    Attributes:
        requests: ``b2b.client.requests``: HTTP requests sent, retries included.
        rate_limited: ``b2b.client.rate_limited``: 429 answers met.
        retries: ``b2b.client.retries``: retries scheduled, by ``error.type``.
        budget_wait: ``b2b.client.budget_wait``: seconds each attempt waited for budget.
        in_flight: ``b2b.client.in_flight``: requests on the wire now.
        waiting: ``b2b.client.waiting``: calls not on the wire now (queued for a place, for
            budget, or between attempts).
        bulk_outcomes: ``b2b.client.bulk.outcomes``: bulk inputs settled, by ``b2b.outcome``.
        request_duration: ``http.client.request.duration``: seconds from each request's
            sending to its answer or failure, as the HTTP semantic conventions define it.
    """

    requests: metrics.Counter
    rate_limited: metrics.Counter
    retries: metrics.Counter
    budget_wait: metrics.Histogram
    in_flight: metrics.UpDownCounter
    waiting: metrics.UpDownCounter
    bulk_outcomes: metrics.Counter
    request_duration: metrics.Histogram

    @classmethod
    def of(cls, meter: metrics.Meter) -> Instruments:
        """Create every instrument on ``meter``."""
        counter, up_down = meter.create_counter, meter.create_up_down_counter
        return cls(
            requests=counter("b2b.client.requests", "{request}", "HTTP requests sent"),
            rate_limited=counter("b2b.client.rate_limited", "{response}", "429 answers met"),
            retries=counter("b2b.client.retries", "{retry}", "Retries scheduled"),
            in_flight=up_down("b2b.client.in_flight", "{request}", "Requests in flight"),
            waiting=up_down("b2b.client.waiting", "{call}", "Calls not on the wire"),
            bulk_outcomes=counter("b2b.client.bulk.outcomes", "{order}", "Bulk inputs settled"),
            budget_wait=seconds_histogram(
                meter,
                "b2b.client.budget_wait",
                "Time an attempt waited for rate-limit budget",
                BUDGET_WAIT_BUCKETS,
            ),
            request_duration=seconds_histogram(
                meter,
                "http.client.request.duration",
                "Duration of HTTP client requests",
                REQUEST_DURATION_BUCKETS,
            ),
        )


def seconds_histogram(
    meter: metrics.Meter, name: str, description: str, buckets: tuple[float, ...]
) -> metrics.Histogram:
    """A histogram of seconds on ``meter``, with ``buckets`` as its advised boundaries."""
    return meter.create_histogram(
        name, "s", description, explicit_bucket_boundaries_advisory=buckets
    )


@functools.cache  # by class, so that the check asked before every call is a dict lookup
def records(kind: type[trace.TracerProvider | metrics.MeterProvider]) -> bool:
    """Whether providers of class ``kind`` record anything: whether it is not one of the API's.

    Until the application sets an SDK's provider, the global ones are the API's proxies; the
    API also has no-op providers. It exports no class for its proxy meter provider, so that
    one is known by where it is defined: the API's own package holds no implementation.
    """
    if issubclass(kind, API_PROVIDERS):
        return False
    return not kind.__module__.startswith(f"{metrics.__name__}.")


def span_attributes(call: _events.Call) -> Attributes:
    """The attributes a call's span starts with."""
    return {"b2b.operation": f"{call.method} {call.route}", "b2b.priority": call.priority}


def request_attributes(call: _events.Call, attempt: int) -> Attributes:
    """The attributes the span of a call's request number ``attempt`` (from 1) starts with:
    those the HTTP semantic conventions ask for at a client span's start, and the resend
    count of a request sent again."""
    attributes: Attributes = {
        "http.request.method": call.method,
        "server.address": call.server_address,
        "server.port": call.server_port,
        "url.full": call.url,
        "url.template": call.route,
    }
    if attempt > 1:
        attributes["http.request.resend_count"] = attempt - 1
    return attributes


def span_name(call: _events.Call) -> str:
    """The name of a call's span and of its requests' spans: ``{method} {route}``, the HTTP
    semantic conventions' ``{method} {url.template}``."""
    return f"{call.method} {call.route}"


def metric_attributes(call: _events.Call) -> Attributes:
    """The attributes of a call's metrics: few values each, no path and no id."""
    return {
        "http.request.method": call.method,
        "server.address": call.server_address,
        "b2b.priority": call.priority,
    }


def error_type(error: BaseException) -> str:
    """The ``error.type`` of a failure: its class name (never its message)."""
    return type(error).__name__


@attrs.define
class OpenCall:
    """A call in progress: its span, the context token that made it current, its labels,
    and the span of its request now on the wire and when that was sent (``None`` while none
    is)."""

    span: Span
    token: Token[Context] | None
    labels: Attributes
    request: Span | None = None
    sent_at: float | None = None


class OpenTelemetryHook:
    """A hook that turns the client's events into OpenTelemetry spans and metrics.

    Args:
        tracer_provider: the tracer provider; by default the global one, looked up on use,
            so an SDK configured after this hook was built is still found.
        meter_provider: the meter provider; by default the global one, likewise.

    .. versionadded:: 0.2.0
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._tracer = trace.get_tracer(
            INSTRUMENTATION_NAME, __version__, tracer_provider, schema_url=SCHEMA_URL
        )
        meter = metrics.get_meter(
            INSTRUMENTATION_NAME, __version__, meter_provider, schema_url=SCHEMA_URL
        )
        self._instruments = Instruments.of(meter)
        self._calls: dict[_events.Call, OpenCall] = {}
        self._handlers: dict[type[Any], Callable[[Any], None]] = {
            _events.CallStarted: self._started,
            _events.BudgetWaited: self._budget_waited,
            _events.RequestSent: self._sent,
            _events.ResponseReceived: self._received,
            _events.RequestFailed: self._failed,
            _events.RateLimited: self._rate_limited,
            _events.RetryScheduled: self._retry_scheduled,
            _events.CallFinished: self._finished,
            _events.BulkOutcome: self._bulk_outcome,
        }

    def __call__(self, event: _events.Event, /) -> None:
        """Record ``event``."""
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def listening(self) -> bool:
        """Whether a call starting now would leave a span or a metric point.

        Not while both providers are the API's own, as they are until the application sets
        an SDK's: the client then builds no event for this hook. The client asks as every
        call starts, since a provider may be set at any time; all of a call's events then
        go where its first went.

        .. versionadded:: 0.2.0
        """
        return records(type(self._tracer_provider or trace.get_tracer_provider())) or records(
            type(self._meter_provider or metrics.get_meter_provider())
        )

    def _started(self, event: _events.CallStarted) -> None:
        call = event.call
        span = self._tracer.start_span(
            span_name(call), kind=SpanKind.INTERNAL, attributes=span_attributes(call)
        )
        open_call = self._calls[call] = OpenCall(span, None, metric_attributes(call))
        self._instruments.waiting.add(1, open_call.labels)
        # Made current last, so that nothing that may raise comes between this and the
        # call's end, which restores the context. A span sampled out is made current too:
        # what starts a span under it (an aiohttp instrumentation) must inherit its
        # decision, not start a trace of its own. One without a valid context (no SDK) is
        # not worth it.
        if span.get_span_context().is_valid:
            open_call.token = context.attach(trace.set_span_in_context(span))

    def _budget_waited(self, event: _events.BudgetWaited) -> None:
        if (open_call := self._calls.get(event.call)) is not None:
            self._instruments.budget_wait.record(event.seconds, open_call.labels)

    def _sent(self, event: _events.RequestSent) -> None:
        if (open_call := self._calls.get(event.call)) is not None:
            self._end_request(open_call, {}, failed=False)  # only if events came out of order
            self._instruments.requests.add(1, open_call.labels)
            self._move(open_call, to_wire=1)
            open_call.sent_at = time.perf_counter()
            # A child of the call's span, never made current: the request's end comes as
            # an event like any other, and restoring the context there would depend on
            # the order the hooks are told in.
            open_call.request = self._tracer.start_span(
                span_name(event.call),
                trace.set_span_in_context(open_call.span),
                kind=SpanKind.CLIENT,
                attributes=request_attributes(event.call, event.attempt),
            )

    def _received(self, event: _events.ResponseReceived) -> None:
        if (open_call := self._calls.get(event.call)) is not None:
            self._move(open_call, to_wire=-1)
            outcome = answered_attributes(event.status)
            self._timed(open_call, event.call, outcome)
            if event.request_id is not None:  # on the span only: a metric label of one use
                outcome = {**outcome, "b2b.request_id": event.request_id}
            self._end_request(open_call, outcome, failed=event.status >= 400)

    def _failed(self, event: _events.RequestFailed) -> None:
        if (open_call := self._calls.get(event.call)) is not None:
            self._move(open_call, to_wire=-1)
            outcome: Attributes = {"error.type": error_type(event.error)}
            self._timed(open_call, event.call, outcome)
            self._end_request(open_call, outcome, failed=True)

    @staticmethod
    def _end_request(open_call: OpenCall, outcome: Attributes, *, failed: bool) -> None:
        """End the span of the call's request on the wire, if any, with ``outcome``; in
        error when it ``failed``: no answer, or one from 400 on (the client span rule of the
        HTTP semantic conventions)."""
        span, open_call.request = open_call.request, None
        if span is None:
            return
        span.set_attributes(outcome)
        if failed:
            span.set_status(Status(StatusCode.ERROR))
        span.end()

    def _move(self, open_call: OpenCall, *, to_wire: int) -> None:
        """Move a call between the waiting and the in-flight counts."""
        self._instruments.in_flight.add(to_wire, open_call.labels)
        self._instruments.waiting.add(-to_wire, open_call.labels)

    def _timed(self, open_call: OpenCall, call: _events.Call, outcome: Attributes) -> None:
        """Record how long the request on the wire took, with the attributes of its outcome."""
        if open_call.sent_at is None:
            return
        seconds = time.perf_counter() - open_call.sent_at
        open_call.sent_at = None
        attributes = {**open_call.labels, "server.port": call.server_port, **outcome}
        self._instruments.request_duration.record(seconds, attributes)

    def _rate_limited(self, event: _events.RateLimited) -> None:
        if (open_call := self._calls.get(event.call)) is not None:
            self._instruments.rate_limited.add(1, open_call.labels)
            attributes: Attributes = {"b2b.attempt": event.attempt}
            if event.cooldown is not None:
                attributes["b2b.cooldown"] = event.cooldown
            open_call.span.add_event("b2b.rate_limited", attributes)

    def _retry_scheduled(self, event: _events.RetryScheduled) -> None:
        if (open_call := self._calls.get(event.call)) is not None:
            kind = error_type(event.error)
            self._instruments.retries.add(1, {**open_call.labels, "error.type": kind})
            open_call.span.add_event(
                "b2b.retry",
                {"b2b.attempt": event.attempt, "b2b.retry.wait": event.wait, "error.type": kind},
            )

    def _finished(self, event: _events.CallFinished) -> None:
        open_call = self._calls.pop(event.call, None)
        if open_call is None:
            return
        # The context is restored first: a provider that raises below (a span processor's
        # on_end, say) must not leave the ended span current in the caller's task.
        if open_call.token is not None:
            context.detach(open_call.token)
        self._end_request(open_call, {}, failed=False)  # only if events came out of order
        self._instruments.waiting.add(-1, open_call.labels)
        span = open_call.span
        span.set_attributes(finished_attributes(event))
        if event.error is not None:
            span.set_status(Status(StatusCode.ERROR))
        span.end()

    def _bulk_outcome(self, event: _events.BulkOutcome) -> None:
        outcome = "failed" if not event.ok else "registered"
        if event.already_registered:
            outcome = "already_registered"
        if not event.attempted:
            outcome = "not_attempted"
        attributes: Attributes = {"b2b.outcome": outcome}
        if event.error is not None:
            attributes["error.type"] = error_type(event.error)
        self._instruments.bulk_outcomes.add(1, attributes)


def answered_attributes(status: int) -> Attributes:
    """The outcome of a request answered with ``status``; from 400 on, ``error.type`` is the
    status as the HTTP semantic conventions ask."""
    attributes: Attributes = {"http.response.status_code": status}
    if status >= 400:
        attributes["error.type"] = str(status)
    return attributes


def finished_attributes(event: _events.CallFinished) -> Attributes:
    """The attributes a call's span ends with (the status of each answer is on its request's
    span: the last answer need not be to the last request)."""
    attributes: Attributes = {
        "b2b.attempts": event.attempts,
        "b2b.retries": event.retries,
        "b2b.budget_wait": event.budget_wait,
    }
    if event.request_id is not None:
        attributes["b2b.request_id"] = event.request_id
    if event.error is not None:
        attributes["error.type"] = error_type(event.error)
    return attributes
