"""Real aiohttp servers on loopback, for tests that need an answer the sandbox never gives."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Iterator

from aiohttp import web

#: Connections that fill a ``listen(0)`` socket's backlog on Linux (which admits one more
#: than the backlog), with room to spare.
BACKLOG_FILLERS = 3


@contextlib.asynccontextmanager
async def serving(app: web.Application, *, cancel_handlers: bool = False) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port; yield its host root, and stop it on the way out.

    ``cancel_handlers``: a handler whose client gave up is cancelled, instead of running on
    (and holding the server's shutdown) until it ends, as one that hangs never does.
    """
    runner = web.AppRunner(app, handler_cancellation=cancel_handlers)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def unanswered_port() -> Iterator[str]:
    """A loopback host root whose connections never complete, as behind a firewall that drops
    them: a listening socket that accepts nothing, its backlog filled, so the kernel drops
    every further connection attempt."""
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(BACKLOG_FILLERS):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        yield f"http://127.0.0.1:{port}"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
