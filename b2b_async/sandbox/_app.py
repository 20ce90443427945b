"""The sandbox itself: configuration, the request pipeline, and the aiohttp application.

Every request under ``/api/v2/io`` goes through one pipeline, in this order:

1. It is recorded, and draws its fault (one draw per request, in arrival order).
2. ``reset_before``: the connection is reset; nothing else happens.
3. Authentication: a missing or wrong ``authToken`` answers 401. A 401 does not spend the window:
   the store's budget belongs to its token, and a request without it cannot be charged to the
   store.
4. Concurrency: past ``max_in_flight`` requests in processing, 429 with ``Retry-After: 1``.
5. The window: past the budget, 429 with ``Retry-After`` (whole seconds, rounded up). Neither 429
   spends the window; every request that passes does, whatever its fault or answer.
6. The fault, if any, acts (see :class:`FaultKind`); otherwise the operation answers.

Every answer carries ``X-Request-Id`` and, when a window is configured, the ``X-Requests-*``
headers. Routes under ``/_sandbox`` (health, registered orders) bypass all of this: no token, no
window, no faults, no recording.
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
from typing import Any

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
from ._window import FixedWindow, RateWindow, WindowState, rate_headers

__all__ = ["API_PREFIX", "DEFAULT_TOKEN", "SANDBOX_KEY", "Sandbox", "create_app"]

API_PREFIX = "/api/v2/io"
"""Where the V2 API lives on the host, as on ``https://api-b2b.bigcommerce.com``.

.. versionadded:: 0.1.0
"""

DEFAULT_TOKEN = "sandbox-token"  # noqa: S105 - a published sandbox token, not a secret
"""The ``authToken`` a sandbox accepts unless told otherwise.

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
        token: the ``authToken`` to accept.
        rate: the store's request window; ``None`` switches it (and its headers) off.
        faults: what to inject into requests under ``/api/v2/io``.
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
        rate: RateWindow | None = RateWindow(),  # noqa: B008 - a frozen value, safe to share
        faults: Faults = Faults(),  # noqa: B008 - a frozen value, safe to share
        seed: int | None = None,
        competing: int = 0,
        max_in_flight: int | None = None,
        data: SandboxData | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
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
    def orders(self) -> Mapping[str, RegisteredOrder]:
        """The registered orders by order id (a read-only live view)."""
        return self.state.orders

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request received under ``/api/v2/io`` so far, in arrival order (a copy)."""
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


# Faults that answer instead of processing the request, and their answers.
_INJECTED: Mapping[FaultKind, Callable[[], web.Response]] = {
    FaultKind.HTTP_500: lambda: failure(500, "Internal Server Error"),
    FaultKind.HTTP_502: lambda: proxy_page(502),
    FaultKind.HTTP_503: lambda: failure(503, "Service temporarily unavailable"),
    FaultKind.HTTP_504: lambda: proxy_page(504),
    FaultKind.HTTP_429: lambda: too_many_requests(1, "Too many requests, slow down"),
    # The wording of the published "Update order" 400 example.
    FaultKind.ERROR_200: lambda: envelope(
        200, 40010, {"errMsg": "bc internal server error"}, "Bad Requests Error"
    ),
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
        return failure(exc.status, exc.reason)


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
        return _INJECTED[fault]()
    response = await _answer(handler, request)
    if fault is FaultKind.RESET_AFTER:
        return _drop(request, record, RESET)
    if fault is FaultKind.MALFORMED and isinstance(response, web.Response):
        return _truncate(response)
    return response


def _refusal(sandbox: Sandbox, request: web.Request) -> web.Response | None:
    """The 401 or the concurrency 429, when the request may not be processed."""
    sent = request.headers.get("authToken")
    if sent is None:
        return failure(401, "authToken is required")
    # Constant-time comparison: the token is a secret, even in a sandbox.
    if not _same(sent, sandbox.token):
        return failure(401, "Invalid authToken")
    if sandbox.max_in_flight is not None and sandbox._in_flight >= sandbox.max_in_flight:
        return too_many_requests(1, "Too many concurrent requests")
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
        return too_many_requests(window.retry_after, message), window
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


@web.middleware
async def _api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(API_PREFIX + "/"):
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

    Besides the API under ``/api/v2/io``, the application serves ``GET /_sandbox/health`` and
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
    app.on_shutdown.append(_wake_sleepers)
    for method, path, handler in _ROUTES:
        app.router.add_route(method, API_PREFIX + path, handler)
    app.router.add_get("/_sandbox/health", _health)
    app.router.add_get("/_sandbox/orders", _registered_orders)
    return app
