"""The sandbox itself: configuration, the request pipeline, and the aiohttp application.

Every request under ``/api/v2/io`` (V2) or ``/api/v3/io`` (V3) goes through one pipeline, in this
order:

1. It is recorded, and draws its fault (one draw per request, in arrival order).
2. ``reset_before``: the connection is reset; nothing else happens.
3. Authentication, the same on both versions, by either scheme: the legacy ``authToken`` header,
   or BigCommerce's current ``X-Auth-Token`` with ``X-Store-Hash`` (the sandbox accepts its one
   token in either header). A missing or wrong token, an ``X-Auth-Token`` without the store hash
   or with another store's hash, and ``X-Store-Hash`` beside ``authToken`` answer 401. The last
   one is the sandbox's choice: BigCommerce says never to send the two together and documents no
   answer for it, so the sandbox refuses the mix outright, and a client that mixes the schemes
   fails its tests instead of depending on what the platform might make of it. A 401 does not
   spend the window: the store's budget belongs to its token, and a request without it cannot be
   charged to the store.
4. Concurrency: past ``max_in_flight`` requests in processing, 429 with ``Retry-After: 1``.
5. The window: past the budget, 429 with ``Retry-After`` (whole seconds, rounded up). Neither 429
   spends the window; every request that passes does, whatever its fault or answer.
6. The fault, if any, acts (see :class:`FaultKind`); otherwise the operation answers.

Every answer carries ``X-Request-Id`` and, when a window is configured, the ``X-Requests-*``
headers. Error answers of the pipeline (401, 429, injected faults, unknown routes) take the
envelope of the version asked: V2's ``{"code", "data": {"errMsg"}, "message"}`` or V3's
``{"code", "data", "meta": {"message"}}``. Routes under ``/_sandbox`` (health, registered
orders) bypass all of this: no token, no window, no faults, no recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import random
import socket
import struct
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict, CIMultiDictProxy

from ._data import SandboxData
from ._envelope import envelope, failure, proxy_page, too_many_requests
from ._faults import FaultKind, Faults
from ._keys import RECORD_KEY, STATE_KEY
from ._orders import create_order, create_order_for_customer
from ._queries import (
    company_of_order,
    company_order_ids,
    company_orders,
    order_company_id,
    order_details,
    order_images,
    order_products,
)
from ._records import HANG, RESET, Outcome, RequestRecord, decode_json
from ._state import RegisteredOrder, SandboxState
from ._updates import move_customer_orders, rederive_order_company, update_order
from ._v3 import V3_PREFIX, V3_ROUTES
from ._v3_envelope import v3_error_200, v3_failure, v3_too_many_requests
from ._v3_views import V3_KEY, OrderExtraField, V3Settings
from ._window import FixedWindow, RateWindow, WindowState, rate_headers

__all__ = [
    "API_PREFIX",
    "DEFAULT_STORE_HASH",
    "DEFAULT_TOKEN",
    "SANDBOX_KEY",
    "V3_PREFIX",
    "Sandbox",
    "create_app",
]

API_PREFIX = "/api/v2/io"
"""Where the V2 API lives on the host, as on ``https://api-b2b.bigcommerce.com``.

.. versionadded:: 0.1.0
"""

DEFAULT_TOKEN = "sandbox-token"  # noqa: S105 - a published sandbox token, not a secret
"""The token a sandbox accepts (in ``authToken`` or ``X-Auth-Token``) unless told otherwise.

.. versionadded:: 0.1.0
"""

DEFAULT_STORE_HASH = "sandbox"
"""The ``X-Store-Hash`` a sandbox accepts unless told otherwise.

.. versionadded:: 0.1.0
"""

_ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("POST", "/companies/{companyId}/user/{customerId}/orders", create_order),
    ("POST", "/companies/users/{customerId}/orders", create_order_for_customer),
    ("GET", "/companies/{companyId}/orders", company_orders),
    ("GET", "/companies/{companyId}/orderBCIds", company_order_ids),
    ("PUT", "/orders", update_order),
    ("POST", "/orders/company", rederive_order_company),
    ("PUT", "/orders/company", move_customer_orders),
    ("GET", "/orders/images", order_images),
    ("GET", "/orders/{orderBCId}/companyIdBCId", company_of_order),
    ("GET", "/orders/{orderId}/companyId", order_company_id),
    ("GET", "/orders/{orderId}/details", order_details),
    ("GET", "/orders/{orderId}/products", order_products),
)


@functools.cache
def _default_data() -> SandboxData:
    # Immutable, so every sandbox can start from the same value.
    return SandboxData.default()


class Sandbox:
    """A local B2B Edition store: its data, its request window, its faults and its records.

    This is the in-memory server; :func:`create_app` serves it with aiohttp and
    :class:`SandboxServer` also listens on a socket. Faults, the window, the competing
    integration, the concurrency limit and the token can all be changed while it runs; a new
    window starts empty.

    Args:
        token: the token to accept, in ``authToken`` or in ``X-Auth-Token``.
        store_hash: the ``X-Store-Hash`` to accept beside ``X-Auth-Token``.
        rate: the store's request window; ``None`` switches it (and its headers) off.
        faults: what to inject into requests under ``/api/v2/io`` and ``/api/v3/io``.
        seed: seeds the fault draws; the same seed and the same requests give the same faults.
        competing: requests another integration spends at the start of every window.
        max_in_flight: how many requests may be in processing at once; ``None`` is no limit.
        data: the companies and customers; :meth:`SandboxData.default` when ``None``.
        clock: monotonic seconds for the window and for request records; tests pass a fake.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        store_hash: str = DEFAULT_STORE_HASH,
        rate: RateWindow | None = RateWindow(),  # noqa: B008 - a frozen value, safe to share
        faults: Faults = Faults(),  # noqa: B008 - a frozen value, safe to share
        seed: int | None = None,
        competing: int = 0,
        max_in_flight: int | None = None,
        data: SandboxData | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        self.store_hash = store_hash
        self._v3 = V3Settings()
        self.faults = faults
        self.max_in_flight = max_in_flight
        self.state = SandboxState(data if data is not None else _default_data())
        self._clock = clock
        self._random = random.Random(seed)
        self._competing = competing
        self._window = self._new_window(rate)
        self._records: list[RequestRecord] = []
        self._in_flight = 0
        self._stopping = asyncio.Event()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} rate={self.rate} faults={self.faults}"
            f" orders={len(self.state.orders)} requests={len(self._records)}>"
        )

    @property
    def rate(self) -> RateWindow | None:
        """The request window; assigning one starts a fresh window, ``None`` switches it off."""
        return self._window.rate if self._window is not None else None

    @rate.setter
    def rate(self, rate: RateWindow | None) -> None:
        self._window = self._new_window(rate)

    @property
    def competing(self) -> int:
        """Requests another integration spends at the start of each window (from the next one
        on, when changed)."""
        return self._competing

    @competing.setter
    def competing(self, requests: int) -> None:
        self._competing = requests
        if self._window is not None:
            self._window.competing = requests

    @property
    def order_extra_fields(self) -> tuple[OrderExtraField, ...]:
        """The order extra fields configured for V3 ("Get Order Extra Field Configs"); assign a
        new sequence to change them (one with ``required=True`` makes V3 updates need it)."""
        return self._v3.extra_fields

    @order_extra_fields.setter
    def order_extra_fields(self, fields: tuple[OrderExtraField, ...]) -> None:
        self._v3.extra_fields = tuple(fields)

    @property
    def orders(self) -> Mapping[str, RegisteredOrder]:
        """The registered orders by order id (a read-only live view)."""
        return self.state.orders

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request received under ``/api/v2/io`` or ``/api/v3/io`` so far, in arrival
        order (a copy)."""
        return list(self._records)

    def registrations(self, order_id: str) -> int:
        """How many requests registered this order id.

        A request counts when the sandbox accepted and stored the order, even if its answer was
        then lost to a fault (``reset_after``, ``malformed``). Anything above 1 would be a double
        registration.

        Args:
            order_id: the BigCommerce order id.

        Returns:
            The number of registering requests.
        """
        return sum(1 for record in self._records if record.registered == order_id)

    def move_customer(self, customer_id: int, company_id: int) -> None:
        """Move a customer to another company, as an admin would in B2B Edition.

        The customer's existing orders keep their company until "Update BC Order's company
        attribute" (``POST /orders/company``) re-derives it.

        Args:
            customer_id: the customer.
            company_id: its new company.

        Raises:
            KeyError: unknown customer or company.
        """
        self.state.move_customer(customer_id, company_id)

    def _new_window(self, rate: RateWindow | None) -> FixedWindow | None:
        if rate is None:
            return None
        return FixedWindow(rate, clock=self._clock, competing=self._competing)

    def _receive(self, request: web.Request) -> RequestRecord:
        # Drawn before anything is awaited, so the draws follow arrival order.
        draw = self._random.random()
        record = RequestRecord(
            request_id=uuid.uuid4().hex,
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            received_at=self._clock(),
            fault=self.faults.pick(draw),
        )
        self._records.append(record)
        return record

    def _look(self) -> WindowState | None:
        return self._window.look() if self._window is not None else None

    def _spend(self) -> WindowState | None:
        return self._window.spend() if self._window is not None else None

    def _headers(self, record: RequestRecord, window: WindowState | None) -> dict[str, str]:
        headers = {"X-Request-Id": record.request_id}
        if self._window is not None and window is not None:
            headers.update(rate_headers(self._window.rate, window))
        return headers

    @contextlib.contextmanager
    def _occupy(self) -> Iterator[None]:
        """Count a request as in processing, for ``max_in_flight``."""
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up as soon as the sandbox stops."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()


SANDBOX_KEY = web.AppKey("b2b_sandbox", Sandbox)
"""Where :func:`create_app` keeps the :class:`Sandbox` on the application.

.. versionadded:: 0.1.0
"""


class _Dialect(NamedTuple):
    """The error answers of one API version, for what the pipeline answers by itself."""

    failure: Callable[[int, str], web.Response]
    too_many_requests: Callable[[int, str], web.Response]
    error_200: Callable[[], web.Response]
    unauthenticated: str


_V2 = _Dialect(
    failure=failure,
    too_many_requests=too_many_requests,
    # The wording of the published "Update order" 400 example.
    error_200=lambda: envelope(
        200, 40010, {"errMsg": "bc internal server error"}, "Bad Requests Error"
    ),
    unauthenticated="authToken is required",
)
_V3 = _Dialect(
    failure=v3_failure,
    too_many_requests=v3_too_many_requests,
    error_200=v3_error_200,
    unauthenticated="X-Auth-Token and X-Store-Hash are required",
)


def _dialect(request: web.Request) -> _Dialect:
    return _V3 if request.path.startswith(V3_PREFIX + "/") else _V2


# Faults that answer instead of processing the request, and their answers.
_INJECTED: Mapping[FaultKind, Callable[[_Dialect], web.Response]] = {
    FaultKind.HTTP_500: lambda dialect: dialect.failure(500, "Internal Server Error"),
    FaultKind.HTTP_502: lambda _: proxy_page(502),
    FaultKind.HTTP_503: lambda dialect: dialect.failure(503, "Service temporarily unavailable"),
    FaultKind.HTTP_504: lambda _: proxy_page(504),
    FaultKind.HTTP_429: lambda dialect: dialect.too_many_requests(
        1, "Too many requests, slow down"
    ),
    FaultKind.ERROR_200: lambda dialect: dialect.error_200(),
}


def _reset(request: web.Request) -> None:
    """Reset the connection: a zero linger turns the close into a TCP RST, as a crashing peer
    or a proxy dropping the connection would send."""
    transport = request.transport
    if transport is None:  # the client is gone already
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:  # pragma: no branch - every transport aiohttp serves has a socket
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _drop(request: web.Request, record: RequestRecord, outcome: Outcome) -> web.Response:
    record.settle(outcome)
    _reset(request)
    # Nothing can be written any more: aiohttp takes the failed write of this placeholder for a
    # client that went away, and logs nothing above debug level.
    return web.Response()


def _truncate(response: web.Response) -> web.Response:
    body = response.body if isinstance(response.body, bytes) else b""
    return web.Response(status=200, body=body[: len(body) // 2], content_type="application/json")


async def _answer(handler: Handler, request: web.Request) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:  # unknown route or method: still the API's envelope
        return _dialect(request).failure(exc.status, exc.reason)


async def _process(
    sandbox: Sandbox, request: web.Request, record: RequestRecord, handler: Handler
) -> web.StreamResponse:
    fault = record.fault
    if fault is FaultKind.HANG:
        record.settle(HANG)
        await sandbox._pause(sandbox.faults.hang_seconds)
        return _drop(request, record, HANG)
    if fault is FaultKind.LATENCY:
        await sandbox._pause(sandbox.faults.latency_seconds)
    if fault is not None and fault in _INJECTED:
        return _INJECTED[fault](_dialect(request))
    response = await _answer(handler, request)
    if fault is FaultKind.RESET_AFTER:
        return _drop(request, record, RESET)
    if fault is FaultKind.MALFORMED and isinstance(response, web.Response):
        return _truncate(response)
    return response


def _authentication_problem(
    sandbox: Sandbox, request: web.Request, dialect: _Dialect
) -> str | None:
    """Why the request's credentials are refused, or ``None`` (see the module docstring)."""
    headers = request.headers
    legacy = headers.get("authToken")
    store_hash = headers.get("X-Store-Hash")
    if legacy is not None and store_hash is not None:
        return "authToken cannot be combined with X-Store-Hash; send X-Auth-Token instead"
    # Constant-time comparisons: the token is a secret, even in a sandbox.
    if legacy is not None:
        return None if _same(legacy, sandbox.token) else "Invalid authToken"
    token = headers.get("X-Auth-Token")
    if token is None:
        return dialect.unauthenticated
    if store_hash is None:
        return "X-Store-Hash is required with X-Auth-Token"
    if not _same(token, sandbox.token):
        return "Invalid X-Auth-Token"
    return None if _same(store_hash, sandbox.store_hash) else "Invalid X-Store-Hash"


def _refusal(sandbox: Sandbox, request: web.Request) -> web.Response | None:
    """The 401 or the concurrency 429, when the request may not be processed."""
    dialect = _dialect(request)
    problem = _authentication_problem(sandbox, request, dialect)
    if problem is not None:
        return dialect.failure(401, problem)
    if sandbox.max_in_flight is not None and sandbox._in_flight >= sandbox.max_in_flight:
        return dialect.too_many_requests(1, "Too many concurrent requests")
    return None


def _same(sent: str, expected: str) -> bool:
    return hmac.compare_digest(sent.encode("utf-8", "surrogateescape"), expected.encode("utf-8"))


def _admit(
    sandbox: Sandbox, request: web.Request
) -> tuple[web.Response | None, WindowState | None]:
    """Authentication, concurrency, then the window: the refusal if any, and the window state."""
    refusal = _refusal(sandbox, request)
    if refusal is not None:
        return refusal, sandbox._look()
    window = sandbox._spend()
    if window is not None and not window.allowed:
        message = f"Rate limit exceeded, retry in {window.retry_after} s"
        return _dialect(request).too_many_requests(window.retry_after, message), window
    return None, window


async def _serve(
    sandbox: Sandbox, request: web.Request, record: RequestRecord, handler: Handler
) -> web.StreamResponse:
    if record.fault is FaultKind.RESET_BEFORE:
        return _drop(request, record, RESET)
    refusal, window = _admit(sandbox, request)
    response: web.StreamResponse
    if refusal is not None:
        response = refusal
    else:
        with sandbox._occupy():
            response = await _process(sandbox, request, record, handler)
    response.headers.update(sandbox._headers(record, window))
    record.settle(response.status)
    return response


def _decoded_or_none(raw: bytes) -> Any:
    try:
        return decode_json(raw) if raw else None
    except ValueError:
        return None


_API_PREFIXES = (API_PREFIX + "/", V3_PREFIX + "/")


@web.middleware
async def _api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(_API_PREFIXES):
        return await handler(request)
    sandbox = request.app[SANDBOX_KEY]
    record = sandbox._receive(request)
    request[RECORD_KEY] = record
    record.raw = await request.read()
    record.body = _decoded_or_none(record.raw)
    return await _serve(sandbox, request, record, handler)


def _order_summary(order: RegisteredOrder) -> dict[str, Any]:
    return {
        "orderId": order.order_id,
        "companyId": order.company_id,
        "customerId": order.customer_id,
        "totalIncTax": str(order.total_inc_tax),
        "poNumber": order.po_number,
        "createdAt": order.created_at.isoformat(),
    }


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _registered_orders(request: web.Request) -> web.Response:
    orders = request.app[STATE_KEY].orders.values()
    return web.json_response({"orders": [_order_summary(order) for order in orders]})


async def _wake_sleepers(app: web.Application) -> None:
    # Hanging and slow requests wait on this event, so a stopping server does not wait for them.
    app[SANDBOX_KEY]._stopping.set()


def create_app(sandbox: Sandbox | None = None) -> web.Application:
    """Build the aiohttp application that serves a sandbox, for embedding in your own server.

    Besides the API (V2 under ``/api/v2/io``, V3 under ``/api/v3/io``, one store behind both),
    the application serves ``GET /_sandbox/health`` and
    ``GET /_sandbox/orders`` (the registered orders), outside authentication, the window and
    fault injection. Run it with ``handler_cancellation=True`` on the runner (as
    :class:`SandboxServer` does) so that a hanging request ends when its client gives up.

    Args:
        sandbox: the sandbox to serve; a default one when ``None``.

    Returns:
        The application; ``app[SANDBOX_KEY]`` is the sandbox.

    .. versionadded:: 0.1.0
    """
    sandbox = sandbox if sandbox is not None else Sandbox()
    app = web.Application(middlewares=[_api_middleware])
    app[SANDBOX_KEY] = sandbox
    app[STATE_KEY] = sandbox.state
    app[V3_KEY] = sandbox._v3
    app.on_shutdown.append(_wake_sleepers)
    for method, path, handler in _ROUTES:
        app.router.add_route(method, API_PREFIX + path, handler)
    for method, path, handler in V3_ROUTES:
        app.router.add_route(method, V3_PREFIX + path, handler)
    app.router.add_get("/_sandbox/health", _health)
    app.router.add_get("/_sandbox/orders", _registered_orders)
    return app
