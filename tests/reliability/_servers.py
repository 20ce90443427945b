"""Small servers of our own, for answers the sandbox does not give.

- :class:`Store` is an ``aiohttp.web`` registration endpoint that registers each order once
  (a second registration answers the sandbox's 400 "The order already exists.") and plays a
  script: given the request's number, a :class:`Reply` to send instead of the normal answer.
- :class:`RawServer` is a bare ``asyncio.start_server`` that answers every request with the
  same bytes, written by hand, so that aiohttp's client parser meets them for real.
- :class:`EndlessServer` answers 200 and then streams a body that never ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Final

import attrs
from aiohttp import web

CREATE_ROUTE: Final = "/api/v2/io/companies/{company}/user/{customer}/orders"
ALREADY_EXISTS: Final = "The order already exists."


def envelope(code: int, data: Any, message: str) -> bytes:
    """The B2B Edition envelope, encoded."""
    return json.dumps({"code": code, "data": data, "message": message}).encode()


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port and yield its host root."""
    # handler_cancellation: a handler whose client gave up ends instead of trickling on.
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@attrs.frozen
class Reply:
    """A scripted answer.

    Attributes:
        status: the HTTP status.
        headers: extra response headers.
        body: the body; ``None`` for the normal success envelope of the order.
        register: register the order first (the server processed it, then answered this).
        trickle: seconds between the body's bytes, for a slow body; ``None`` sends at once.
    """

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes | None = None
    register: bool = False
    trickle: float | None = None


@attrs.frozen
class Arrival:
    """One request the store received."""

    order_id: str
    received_at: float
    registered: bool


Script = Callable[[int], Reply | None]


class Store:
    """A registration endpoint that plays a script; also an arena for the fault matrix.

    Args:
        script: maps the request's number (from 1) to a :class:`Reply`, or ``None`` for the
            normal answer (200 and registration, or 400 "already exists").
    """

    def __init__(self, script: Script) -> None:
        self.script = script
        self.orders: set[str] = set()
        self.arrivals: list[Arrival] = []
        self.url = ""

    def app(self) -> web.Application:
        """The application serving the create route."""
        app = web.Application()
        app.router.add_post(CREATE_ROUTE, self._create)
        return app

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Store]:
        """Serve the store on a free loopback port."""
        async with serving(self.app()) as url:
            self.url = url
            yield self

    def attempts(self, order_id: str) -> int:
        """Requests received for ``order_id``."""
        return sum(1 for arrival in self.arrivals if arrival.order_id == order_id)

    def registrations(self, order_id: str) -> int:
        """Requests that registered ``order_id``."""
        return sum(1 for a in self.arrivals if a.order_id == order_id and a.registered)

    def exists(self, order_id: str) -> bool:
        """Whether ``order_id`` is registered."""
        return order_id in self.orders

    def first_order(self) -> str | None:
        """The order id of the first request received, or ``None`` when none arrived."""
        return self.arrivals[0].order_id if self.arrivals else None

    def _register(self, order_id: str) -> bool:
        if order_id in self.orders:
            return False
        self.orders.add(order_id)
        return True

    async def _create(self, request: web.Request) -> web.StreamResponse:
        order_id = str(json.loads(await request.read())["orderId"])
        reply = self.script(len(self.arrivals) + 1)
        registered = self._register(order_id) if reply is None or reply.register else False
        self.arrivals.append(Arrival(order_id, time.monotonic(), registered))
        if reply is None:
            if registered:
                return web.Response(body=success(order_id), content_type="application/json")
            body = envelope(40010, {"errMsg": ALREADY_EXISTS}, ALREADY_EXISTS)
            return web.Response(status=400, body=body, content_type="application/json")
        body = success(order_id) if reply.body is None else reply.body
        if reply.trickle is None:
            return web.Response(status=reply.status, headers=reply.headers, body=body)
        return await _trickle(request, reply.status, body, reply.trickle)


def success(order_id: str) -> bytes:
    """The success envelope of a registration."""
    return envelope(200, {"orderId": order_id}, "Success")


async def _trickle(
    request: web.Request, status: int, body: bytes, pause: float
) -> web.StreamResponse:
    response = web.StreamResponse(status=status)
    response.content_type = "application/json"
    response.content_length = len(body)
    await response.prepare(request)
    with contextlib.suppress(ConnectionError):
        for index in range(len(body)):
            await response.write(body[index : index + 1])
            await asyncio.sleep(pause)
        await response.write_eof()
    return response


class RawServer:
    """Answers every request with :attr:`response`, byte for byte, then closes.

    The request is read in full first (head, then ``Content-Length`` bytes), so closing
    never resets a connection with unread data.
    """

    def __init__(self) -> None:
        self.response = b""
        self.heads: list[bytes] = []
        self.url = ""

    @property
    def requests(self) -> int:
        """Requests received."""
        return len(self.heads)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[RawServer]:
        """Listen on a free loopback port."""
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        try:
            async with server:
                yield self
        finally:
            server.close()
            await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head, _ = await read_request(reader)
            self.heads.append(head)
            writer.write(self.response)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """Read one HTTP/1.1 request with a ``Content-Length`` body; return (head, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head, await reader.readexactly(length)


class EndlessServer:
    """Answers 200 and streams a body that never ends, until the client hangs up.

    Args:
        framing: ``"length"`` (a huge ``Content-Length``), ``"chunked"``, or ``"close"``
            (neither: the body ends when the connection does).
    """

    def __init__(self, framing: str) -> None:
        self.framing = framing
        self.sent = 0
        self.hung_up = asyncio.Event()
        self.url = ""

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[EndlessServer]:
        """Listen on a free loopback port."""
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        try:
            async with server:
                yield self
        finally:
            server.close()
            await server.wait_closed()

    def _head(self) -> bytes:
        framing = {
            "length": b"Content-Length: 1000000000000\r\n",
            "chunked": b"Transfer-Encoding: chunked\r\n",
            "close": b"Connection: close\r\n",
        }[self.framing]
        return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + framing + b"\r\n"

    def _piece(self) -> bytes:
        data = b"[" + b"0," * 8191 + b"0"
        if self.framing == "chunked":
            return f"{len(data):x}\r\n".encode() + data + b"\r\n"
        return data

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await read_request(reader)
            writer.write(self._head())
            piece = self._piece()
            while True:  # until the client hangs up: drain() raises then
                writer.write(piece)
                self.sent += len(piece)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            self.hung_up.set()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
