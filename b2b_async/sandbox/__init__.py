"""A faithful local B2B Edition server on aiohttp.web, for tests, demos and the CLI.

It serves the V2 Order operations under ``/api/v2/io`` and the V3 ones under ``/api/v3/io``, from
one store, with the documented envelopes and both authentication schemes; it enforces a fixed
request window shared by every caller, injects faults deterministically under a seed, and
records every request. It models the BigCommerce side too: orders placed with a creation time,
a customer and a total (:meth:`Sandbox.place_order`), which V3 registers only within its
registration window, and which B2B Edition records by itself after it (``_state``).

It shares no code with the client side of ``b2b_async``: it implements the server contract on
its own, so that a misreading of the API on either side shows up as a failing test rather than
as two matching bugs.

.. code-block:: python

    async with SandboxServer(rate=RateWindow(40, 1.0), faults=parse_faults("500=0.05")) as server:
        url = server.url + "/api/v2/io/companies/1/user/1/orders"
        ...
        assert server.registrations("BC1") == 1

Every API request takes one path, the methods of :class:`Sandbox` (``_app``)::

    request under /api/v2/io or /api/v3/io
      │  _receive      record it (_records), draw its fault (_faults)
      │                reset_before: reset the connection, stop here
      │  _admit        credentials (_auth) ──────────────── 401
      │                max_in_flight ────────────────────── 429
      │                spend one from the window (_window) ─ 429
      │  _process      the fault acts: 5xx / 429 / error_200 instead of the operation,
      │                latency and hang before it, reset_after and malformed after it
      │  _operate      the routed operation: V2Api (_v2), V3Api (_v3), each an Api
      │                  whose marked methods carry their routes (_operations)
      │                  input checked by _v2_input / _v3_input (over _input),
      │                  the store read and changed (_state over _data and
      │                  _bigcommerce: placed orders past their window recorded first),
      │                  answers shaped by _v2_views / _v3_views (_extra_fields)
      │                bad input, unknown route ─ 400 / 404 / 405
      │                extra field values breaking their rules (V3) ─ 422
      │                every answer in the version's envelope (_envelope)
      ▼  _finish       X-Request-Id and X-Requests-* headers; the record settled

``SandboxServer`` (``_server``) is a :class:`Sandbox` that also listens on a socket, through
:func:`create_app`.

.. versionadded:: 0.1.0
"""

from ._app import (
    API_PREFIX,
    DEFAULT_STORE_HASH,
    DEFAULT_TOKEN,
    SANDBOX_KEY,
    V3_PREFIX,
    Sandbox,
    create_app,
)
from ._bigcommerce import DEFAULT_REGISTRATION_WINDOW, PlacedOrder
from ._data import Company, Customer, SandboxData
from ._extra_fields import DEFAULT_ORDER_EXTRA_FIELDS, OrderExtraField
from ._faults import FaultKind, Faults, parse_faults
from ._records import RequestRecord
from ._server import SandboxServer
from ._state import RegisteredOrder
from ._window import RateWindow, parse_rate

__all__ = [
    "API_PREFIX",
    "DEFAULT_ORDER_EXTRA_FIELDS",
    "DEFAULT_REGISTRATION_WINDOW",
    "DEFAULT_STORE_HASH",
    "DEFAULT_TOKEN",
    "SANDBOX_KEY",
    "V3_PREFIX",
    "Company",
    "Customer",
    "FaultKind",
    "Faults",
    "OrderExtraField",
    "PlacedOrder",
    "RateWindow",
    "RegisteredOrder",
    "RequestRecord",
    "Sandbox",
    "SandboxData",
    "SandboxServer",
    "create_app",
    "parse_faults",
    "parse_rate",
]
