"""A minimal aiohttp server in a process of its own, so it costs the client no CPU time."""

from __future__ import annotations

import json
import multiprocessing
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

BODY = json.dumps({"code": 200, "data": {"orderId": "BC1"}, "message": "SUCCESS"}).encode()


async def _create(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=BODY, content_type="application/json")


def _serve(sock: socket.socket) -> None:
    app = web.Application()
    app.router.add_post("/api/v2/io/companies/{company}/user/{customer}/orders", _create)
    web.run_app(app, sock=sock, print=None, access_log=None, handle_signals=True)


@contextmanager
def echo_server() -> Iterator[str]:
    """Run the minimal server in a child process; yield its host root URL."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    port = sock.getsockname()[1]
    process = multiprocessing.get_context("fork").Process(target=_serve, args=(sock,), daemon=True)
    process.start()
    sock.close()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.join(5)
