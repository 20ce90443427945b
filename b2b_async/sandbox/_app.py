"""The sandbox: its configuration, its request pipeline, and the aiohttp application serving it.

Every request under ``/api/v2/io`` (V2) or ``/api/v3/io`` (V3) goes through one pipeline, the
methods of :class:`Sandbox` under "the request pipeline", in this order:

1. ``_receive``: the request is recorded and draws its fault (one draw per request, in arrival
   order). ``_read_body`` then reads its body: one over aiohttp's limit answers 413, one
   whose ``Content-Encoding`` aiohttp cannot undo 400, and nothing else happens.
2. ``reset_before``: the connection is reset; nothing else happens.
3. ``_admit``: authentication (see ``_auth``), the same on both versions; a 401 does not spend
   the window: the store's budget belongs to its token, and a request without it cannot be
   charged to the store. Then concurrency: past ``max_in_flight`` requests in processing, 429
   with ``Retry-After: 1``. Then the window: past the budget, 429 with ``Retry-After`` (whole
   seconds, rounded up). Neither 429 spends the window; every request that passes does,
   whatever its fault or answer.
4. ``_process``: the fault, if any, acts (see :class:`FaultKind`); otherwise, or after it,
5. ``_operate``: the routed operation answers (``_v2``, ``_v3``). Input that does not parse, an
   unknown route or method: the pipeline answers in the envelope of the version asked.
6. ``_finish``: ``X-Request-Id`` and, when a window is configured, the ``X-Requests-*``
   headers; the record is settled with the status.

A request whose client goes away before its answer (aiohttp cancels its handler, or reading
its body fails) is settled as ``GONE``.

Error answers of the pipeline (401, 429, injected faults, unknown routes, bad input) take the
envelope of the version asked: V2's ``{"code", "data": {"errMsg"}, "message"}`` or V3's
``{"code", "data", "meta": {"message"}}``. Routes under ``/_sandbox`` (health, registered
orders, placing BigCommerce orders) bypass all of this: no token, no window, no faults, no
recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import socket
import struct
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict, CIMultiDictProxy

from ._auth import credentials_problem
from ._bigcommerce import (
    DEFAULT_REGISTRATION_WINDOW,
    PlacedOrder,
    placed_view,
    placement_from_json,
)
from ._data import SandboxData
from ._envelope import V2, V3, Envelope, proxy_page
from ._extra_fields import DEFAULT_ORDER_EXTRA_FIELDS, OrderExtraField
from ._faults import FaultKind, Faults
from ._input import InvalidInputError
from ._records import GONE, HANG, RECORD_KEY, RESET, Outcome, RequestRecord, decode_json
from ._state import RegisteredOrder, SandboxState, wall_clock
from ._v2 import V2Api
from ._v3 import V3Api
from ._window import FixedWindow, RateWindow, WindowState, check_competing, rate_headers

__all__ = [
    "API_PREFIX",
    "DEFAULT_STORE_HASH",
    "DEFAULT_TOKEN",
    "SANDBOX_KEY",
    "V3_PREFIX",
    "Sandbox",
    "create_app",
]

API_PREFIX: Final = "/api/v2/io"
"""Where the V2 API lives on the host, as on ``https://api-b2b.bigcommerce.com``.

.. versionadded:: 0.1.0
"""

V3_PREFIX: Final = "/api/v3/io"
"""Where the V3 API lives on the host, as on ``https://api-b2b.bigcommerce.com``.

.. versionadded:: 0.1.0
"""

DEFAULT_TOKEN: Final = "sandbox-token"  # noqa: S105 - a published sandbox token, not a secret
"""The token a sandbox accepts (in ``authToken`` or ``X-Auth-Token``) unless told otherwise.

.. versionadded:: 0.1.0
"""

DEFAULT_STORE_HASH: Final = "sandbox"
"""The ``X-Store-Hash`` a sandbox accepts unless told otherwise.

.. versionadded:: 0.1.0
"""

_API_PREFIXES = (API_PREFIX + "/", V3_PREFIX + "/")

# Faults that answer instead of processing the request, and their answers.
_INJECTED: Mapping[FaultKind, Callable[[Envelope], web.Response]] = {
    FaultKind.HTTP_500: lambda envelope: envelope.failure(500, "Internal Server Error"),
    FaultKind.HTTP_502: lambda _: proxy_page(502),
    FaultKind.HTTP_503: lambda envelope: envelope.failure(503, "Service temporarily unavailable"),
    FaultKind.HTTP_504: lambda _: proxy_page(504),
    FaultKind.HTTP_429: lambda envelope: envelope.too_many_requests(
        1, "Too many requests, slow down"
    ),
    FaultKind.ERROR_200: lambda envelope: envelope.error_200(),
}


@functools.cache
def _default_data() -> SandboxData:
    # Immutable, so every sandbox can start from the same value.
    return SandboxData.default()


def _envelope_of(request: web.Request) -> Envelope:
    """The envelope of the API version the request asks."""
    return V3 if request.path.startswith(V3_PREFIX + "/") else V2


#: What a request whose body cannot be read is told.
_UNREADABLE_BODY: Final = "the request body could not be read"


async def _read_whole(request: web.Request) -> bytes | None:
    """The request's body, or ``None`` when its encoding cannot be undone.

    Such a body is marked read to its end, or aiohttp reads it again after the answer, to
    keep the connection, and logs that failure as an unhandled exception.

    Raises:
        web.HTTPRequestEntityTooLarge: the body is larger than the server takes.
    """
    try:
        return await request.read()
    except web.RequestPayloadError:
        request.content.feed_eof()
        return None


def _decoded_or_none(raw: bytes) -> Any:
    try:
        return decode_json(raw) if raw else None
    except ValueError:
        return None


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


def _truncate(response: web.Response) -> web.Response:
    """The answer of a ``malformed`` fault: HTTP 200 with the real body cut in half."""
    body = response.body if isinstance(response.body, bytes) else b""
    return web.Response(status=200, body=body[: len(body) // 2], content_type="application/json")


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
            The sandbox's dates (:meth:`now`) move with it, from the real time at the start.
        registration_window: seconds after a BigCommerce order's creation during which V3
            "Create an Order" accepts it (see :meth:`place_order`); ``None`` switches the
            window off.
        order_extra_fields: the order extra fields configured in the store.

    Raises:
        ValueError: a negative or infinite registration window, or a negative ``competing``.

    Attributes:
        token: the token accepted; assign another to change it.
        store_hash: the store hash accepted; assign another to change it.
        faults: what to inject; assign new faults to change them.
        max_in_flight: the concurrency limit; assign another to change it.
        state: the store: companies, customers and registered orders.

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
        registration_window: float | None = DEFAULT_REGISTRATION_WINDOW,
        order_extra_fields: Sequence[OrderExtraField] = DEFAULT_ORDER_EXTRA_FIELDS,
    ) -> None:
        self.token: str = token
        self.store_hash: str = store_hash
        self.faults: Faults = faults
        self.max_in_flight: int | None = max_in_flight
        self.state: SandboxState = SandboxState(
            data if data is not None else _default_data(),
            now=wall_clock(clock),
            registration_window=registration_window,
        )
        self._clock = clock
        self._random = random.Random(seed)
        self._competing = check_competing(competing)
        self._window = self._new_window(rate)
        self._records: list[RequestRecord] = []
        self._in_flight = 0
        self._stopping = asyncio.Event()
        self._v2 = V2Api(self.state)
        self._v3 = V3Api(self.state)
        self._v3.extra_fields = tuple(order_extra_fields)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} rate={self.rate} faults={self.faults}"
            f" orders={len(self.state.orders)} requests={len(self._records)}>"
        )

    # --- configuration -------------------------------------------------------------------------

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
        on, when changed); assigning a negative number raises :class:`ValueError`."""
        return self._competing

    @competing.setter
    def competing(self, requests: int) -> None:
        self._competing = check_competing(requests)
        if self._window is not None:
            self._window.competing = requests

    @property
    def order_extra_fields(self) -> tuple[OrderExtraField, ...]:
        """The order extra fields configured for V3 ("Get Order Extra Field Configs"); assign a
        new sequence to change them (one with ``required=True`` makes V3 updates need it)."""
        return self._v3.extra_fields

    @order_extra_fields.setter
    def order_extra_fields(self, fields: Sequence[OrderExtraField]) -> None:
        self._v3.extra_fields = tuple(fields)

    @property
    def registration_window(self) -> float | None:
        """Seconds after a BigCommerce order's creation during which V3 "Create an Order"
        accepts it; ``None`` when there is no window. Assigning applies to every order B2B
        Edition has not recorded yet.

        .. versionadded:: 0.2.0
        """
        return self.state.registration_window

    @registration_window.setter
    def registration_window(self, seconds: float | None) -> None:
        self.state.registration_window = seconds

    def now(self) -> datetime:
        """The sandbox's wall clock, in UTC: the real time at its start, moved on by ``clock``.

        Orders are placed, registered and updated at this time, and the registration window is
        measured on it.

        .. versionadded:: 0.2.0
        """
        return self.state.now()

    def place_order(
        self,
        *,
        customer_id: int,
        total_inc_tax: Decimal | int | float | str,
        bc_order_id: int | None = None,
        created_at: datetime | None = None,
    ) -> PlacedOrder:
        """Place an order in BigCommerce, as a shopper's checkout does.

        B2B Edition does not know the order yet. Within :attr:`registration_window` seconds of
        ``created_at``, V3 "Create an Order" registers it (with this total, whatever the
        request). After that, B2B Edition has recorded it by itself, with the customer's
        company and no PO number or extra fields, and "Create an Order" answers 400 "The order
        already exists.".

        Args:
            customer_id: the customer placing it; its company becomes the order's.
            total_inc_tax: the total including tax.
            bc_order_id: the BigCommerce order id; when ``None``, the next after the last one
                placed, from 100, skipping ids already registered.
            created_at: when BigCommerce created it (its ``date_created``), an aware datetime;
                :meth:`now` when ``None``. A time further back than the window places an order
                B2B Edition has already recorded.

        Returns:
            The placed order, with its id and creation time.

        Raises:
            KeyError: unknown customer.
            ValueError: an id already placed or registered, an id or total out of range, or a
                naive datetime.

        .. versionadded:: 0.2.0
        """
        order = PlacedOrder(
            bc_order_id=self.state.next_order_id() if bc_order_id is None else bc_order_id,
            customer_id=customer_id,
            total_inc_tax=total_inc_tax,
            created_at=self.now() if created_at is None else created_at,
        )
        self.state.place(order)
        return order

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

    # --- observations --------------------------------------------------------------------------

    @property
    def orders(self) -> Mapping[str, RegisteredOrder]:
        """The registered orders by order id (a read-only live view), those B2B Edition has
        recorded by itself included: reading this property records every placed order whose
        registration window has passed."""
        return self.state.orders

    @property
    def b2b_ids(self) -> Mapping[str, int]:
        """B2B Edition's own id of each registered order, by order id (a read-only live view):
        the ``id`` that V3 answers for it, its position in registration order from 1. Reading
        it records every placed order whose registration window has passed, as
        :attr:`orders` does.

        .. versionadded:: 0.2.0
        """
        return self.state.b2b_ids

    @property
    def placed_orders(self) -> Mapping[int, PlacedOrder]:
        """The orders placed in BigCommerce, by BigCommerce order id, in placing order (a copy).

        .. versionadded:: 0.2.0
        """
        return {order.bc_order_id: order for order in self.state.placed_orders.values()}

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request received under ``/api/v2/io`` or ``/api/v3/io`` so far, in arrival
        order (a copy)."""
        return list(self._records)

    def registrations(self, order_id: str | int) -> int:
        """How many requests registered this order id.

        A request counts when the sandbox accepted and stored the order, even if its answer was
        then lost to a fault (``reset_after``, ``malformed``). Anything above 1 would be a double
        registration.

        Args:
            order_id: the BigCommerce order id; an ``int`` (a V3 ``bc_order_id``) names the
                order its digits name, as the client sends it.

        Returns:
            The number of registering requests.

        Raises:
            TypeError: ``order_id`` is neither a ``str`` nor an ``int``: it would match
                nothing, and a test asserting "never registered" would pass whatever happened.
        """
        if isinstance(order_id, bool) or not isinstance(order_id, str | int):
            raise TypeError(f"order_id must be a str or an int, got {type(order_id).__name__}")
        wanted = str(order_id)
        return sum(1 for record in self._records if record.registered == wanted)

    # --- the request pipeline (see the module docstring) ---------------------------------------

    async def _handle(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Serve one API request through the whole pipeline; a request whose client went
        away before its answer is settled as :data:`GONE`."""
        record = self._receive(request)
        request[RECORD_KEY] = record
        try:
            return await self._serve(request, record, handler)
        # aiohttp cancels the handler of a closed connection; without handler cancellation,
        # reading the body of one fails instead.
        except (asyncio.CancelledError, ConnectionResetError):
            record.settle(GONE)
            raise

    async def _serve(
        self, request: web.Request, record: RequestRecord, handler: Handler
    ) -> web.StreamResponse:
        """Read the body, let the fault act, admit, process and finish."""
        envelope = _envelope_of(request)
        unreadable = await self._read_body(request, record, envelope)
        if unreadable is not None:
            # Nothing sure follows a body that could not be read: the connection ends here.
            unreadable.force_close()
            return self._finish(unreadable, record, self._look())
        if record.fault is FaultKind.RESET_BEFORE:
            return self._drop(request, record, RESET)
        refusal, window = self._admit(request, envelope)
        if refusal is not None:
            return self._finish(refusal, record, window)
        with self._occupy():
            response = await self._process(request, record, handler, envelope)
        return self._finish(response, record, window)

    async def _read_body(
        self, request: web.Request, record: RequestRecord, envelope: Envelope
    ) -> web.Response | None:
        """Keep the body on the record; the answer instead when it cannot be read (too large
        for the server, or an encoding it cannot undo)."""
        try:
            raw = await _read_whole(request)
        except web.HTTPRequestEntityTooLarge as exc:
            return envelope.failure(413, exc.text or "Request Entity Too Large")
        if raw is None:
            return envelope.failure(400, _UNREADABLE_BODY)
        record.raw = raw
        record.body = _decoded_or_none(raw)
        return None

    def _receive(self, request: web.Request) -> RequestRecord:
        """Record the request and draw its fault."""
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

    def _admit(
        self, request: web.Request, envelope: Envelope
    ) -> tuple[web.Response | None, WindowState | None]:
        """Authentication, concurrency, then the window: the refusal if any, and the window's
        state to report."""
        problem = credentials_problem(
            request.headers,
            token=self.token,
            store_hash=self.store_hash,
            unauthenticated=envelope.unauthenticated,
        )
        if problem is not None:
            return envelope.failure(401, problem), self._look()
        if self.max_in_flight is not None and self._in_flight >= self.max_in_flight:
            return envelope.too_many_requests(1, "Too many concurrent requests"), self._look()
        window = self._spend()
        if window is not None and not window.allowed:
            message = f"Rate limit exceeded, retry in {window.retry_after} s"
            return envelope.too_many_requests(window.retry_after, message), window
        return None, window

    async def _process(
        self, request: web.Request, record: RequestRecord, handler: Handler, envelope: Envelope
    ) -> web.StreamResponse:
        """Let the request's fault act before, instead of or after the operation."""
        fault = record.fault
        if fault is FaultKind.HANG:
            record.settle(HANG)
            await self._pause(self.faults.hang_seconds)
            return self._drop(request, record, HANG)
        if fault is FaultKind.LATENCY:
            await self._pause(self.faults.latency_seconds)
        if fault is not None and fault in _INJECTED:
            return _INJECTED[fault](envelope)
        response = await self._operate(request, handler, envelope)
        if fault is FaultKind.RESET_AFTER:
            return self._drop(request, record, RESET)
        if fault is FaultKind.MALFORMED and isinstance(response, web.Response):
            return _truncate(response)
        return response

    async def _operate(
        self, request: web.Request, handler: Handler, envelope: Envelope
    ) -> web.StreamResponse:
        """Run the routed operation; what it cannot answer is answered in the version's
        envelope."""
        try:
            return await handler(request)
        except InvalidInputError as exc:
            return envelope.bad_request(exc.fields)
        except web.HTTPException as exc:  # unknown route or method
            return envelope.failure(exc.status, exc.reason)

    def _finish(
        self, response: web.StreamResponse, record: RequestRecord, window: WindowState | None
    ) -> web.StreamResponse:
        """Add the request id and the window's headers, and settle the record."""
        response.headers["X-Request-Id"] = record.request_id
        if self._window is not None and window is not None:
            response.headers.update(rate_headers(self._window.rate, window))
        record.settle(response.status)
        return response

    def _drop(self, request: web.Request, record: RequestRecord, outcome: Outcome) -> web.Response:
        """Reset the connection instead of answering."""
        record.settle(outcome)
        _reset(request)
        # Nothing can be written any more: aiohttp takes the failed write of this placeholder
        # for a client that went away, and logs nothing above debug level.
        return web.Response()

    # --- the pipeline's parts ------------------------------------------------------------------

    def _new_window(self, rate: RateWindow | None) -> FixedWindow | None:
        if rate is None:
            return None
        return FixedWindow(rate, clock=self._clock, competing=self._competing)

    def _look(self) -> WindowState | None:
        return self._window.look() if self._window is not None else None

    def _spend(self) -> WindowState | None:
        return self._window.spend() if self._window is not None else None

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


SANDBOX_KEY: Final[web.AppKey[Sandbox]] = web.AppKey("b2b_sandbox", Sandbox)
"""Where :func:`create_app` keeps the :class:`Sandbox` on the application.

.. versionadded:: 0.1.0
"""


@web.middleware
async def _api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(_API_PREFIXES):
        return await handler(request)
    return await request.app[SANDBOX_KEY]._handle(request, handler)


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
    orders = request.app[SANDBOX_KEY].orders.values()
    return web.json_response({"orders": [_order_summary(order) for order in orders]})


async def _placed_orders(request: web.Request) -> web.Response:
    orders = request.app[SANDBOX_KEY].placed_orders.values()
    return web.json_response({"orders": [placed_view(order) for order in orders]})


async def _place_order(request: web.Request) -> web.Response:
    """``POST /_sandbox/bigcommerce/orders``: :meth:`Sandbox.place_order` over HTTP."""
    raw = await _read_whole(request)
    if raw is None:
        unreadable = web.json_response({"error": _UNREADABLE_BODY}, status=400)
        unreadable.force_close()
        return unreadable
    try:
        placement = placement_from_json(decode_json(raw))
        order = request.app[SANDBOX_KEY].place_order(**placement)
    except KeyError as exc:  # an unknown customer
        return web.json_response({"error": exc.args[0]}, status=404)
    except ValueError as exc:  # not JSON, or a value the order refuses
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(placed_view(order), status=201)


async def _rouse_sleepers(app: web.Application) -> None:
    # A sandbox served again after a stop lets its slow requests sleep again. A new event,
    # not the old one cleared: an event waited on once belongs to that event loop, and the
    # sandbox may now be served in another (a test's own loop, a second asyncio.run).
    app[SANDBOX_KEY]._stopping = asyncio.Event()


async def _wake_sleepers(app: web.Application) -> None:
    # Hanging and slow requests wait on this event, so a stopping server does not wait for them.
    app[SANDBOX_KEY]._stopping.set()


def create_app(sandbox: Sandbox | None = None) -> web.Application:
    """Build the aiohttp application that serves a sandbox, for embedding in your own server.

    Besides the API (V2 under ``/api/v2/io``, V3 under ``/api/v3/io``, one store behind both),
    the application serves ``GET /_sandbox/health``, ``GET /_sandbox/orders`` (the registered
    orders), and ``POST /_sandbox/bigcommerce/orders`` (place an order in BigCommerce, see
    :meth:`Sandbox.place_order`) with ``GET`` listing the placed ones, outside authentication,
    the window and fault injection. Run it with ``handler_cancellation=True`` on the runner (as
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
    app.on_startup.append(_rouse_sleepers)
    app.on_shutdown.append(_wake_sleepers)
    for prefix, api in ((API_PREFIX, sandbox._v2), (V3_PREFIX, sandbox._v3)):
        for method, path, handler in api.operations():
            app.router.add_route(method, prefix + path, handler)
    app.router.add_get("/_sandbox/health", _health)
    app.router.add_get("/_sandbox/orders", _registered_orders)
    app.router.add_get("/_sandbox/bigcommerce/orders", _placed_orders)
    app.router.add_post("/_sandbox/bigcommerce/orders", _place_order)
    return app
