"""A sandbox listening on a local socket, as an async context manager."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Self, TypedDict, Unpack

from aiohttp import web

from ._app import Sandbox, create_app
from ._data import SandboxData
from ._extra_fields import OrderExtraField
from ._faults import Faults
from ._window import RateWindow

__all__ = ["SandboxOptions", "SandboxServer"]


class SandboxOptions(TypedDict, total=False):
    """The keyword arguments of :class:`Sandbox`, which :class:`SandboxServer` passes on; the
    defaults are the :class:`Sandbox`'s."""

    token: str
    store_hash: str
    rate: RateWindow | None
    faults: Faults
    seed: int | None
    competing: int
    max_in_flight: int | None
    data: SandboxData | None
    clock: Callable[[], float]
    registration_window: float | None
    order_extra_fields: Sequence[OrderExtraField]


# Hanging requests wake up when the server stops, so this bounds only misbehaving handlers.
_SHUTDOWN_TIMEOUT = 5.0


class SandboxServer(Sandbox):
    """A :class:`Sandbox` served over HTTP on a local port.

    ``async with SandboxServer() as server:`` starts it on ``127.0.0.1`` and an ephemeral port;
    :attr:`url` is the host root, so the API lives at ``server.url + "/api/v2/io/..."`` (V2) and
    ``server.url + "/api/v3/io/..."`` (V3). Leaving
    the block stops it cleanly, hanging requests included. Everything else (faults, window,
    records, orders) is the :class:`Sandbox`'s.

    The keyword arguments other than ``host`` and ``port`` are the :class:`Sandbox`'s, with the
    same defaults.

    Args:
        token: the token to accept, in ``authToken`` or in ``X-Auth-Token``.
        store_hash: the ``X-Store-Hash`` to accept beside ``X-Auth-Token``.
        rate: the store's request window; ``None`` switches it off.
        faults: what to inject into requests under ``/api/v2/io`` and ``/api/v3/io``.
        seed: seeds the fault draws.
        competing: requests another integration spends at the start of every window.
        max_in_flight: how many requests may be in processing at once; ``None`` is no limit.
        data: the companies and customers; :meth:`SandboxData.default` when ``None``.
        clock: monotonic seconds for the window and for request records; the sandbox's dates
            move with it.
        registration_window: seconds after a BigCommerce order's creation during which V3
            "Create an Order" accepts it; ``None`` switches the window off.
        order_extra_fields: the order extra fields configured in the store.
        host: the address to bind.
        port: the port to bind; 0 picks a free one.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, **options: Unpack[SandboxOptions]
    ) -> None:
        super().__init__(**options)
        self.host: str = host
        """The address the server binds."""
        self._port = port
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The port the server listens on (the one picked, when started with port 0)."""
        return self._port

    @property
    def url(self) -> str:
        """The host root, e.g. ``http://127.0.0.1:54321``; the API is under ``/api/v2/io``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    async def start(self) -> None:
        """Start listening.

        Raises:
            RuntimeError: the server is already running.
            OSError: the address cannot be bound.
        """
        if self._runner is not None:
            raise RuntimeError("the sandbox server is already running")
        # handler_cancellation: a client that gives up on a hanging request ends its handler.
        runner = web.AppRunner(
            create_app(self), handler_cancellation=True, shutdown_timeout=_SHUTDOWN_TIMEOUT
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self._port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = runner.addresses[0][1]

    async def aclose(self) -> None:
        """Stop listening and end every request in progress; a no-op when not running."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
