"""What the sandbox remembers about each request it received, and how it reads JSON bodies.

The pipeline creates a :class:`RequestRecord` when a request arrives, keeps it on the request
under :data:`RECORD_KEY` for the operation (which reads its body there and notes a registration
in it), and settles it with the outcome when the request ends.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Final, Literal

import attrs
from aiohttp import web
from multidict import CIMultiDictProxy

from ._faults import FaultKind

__all__ = ["GONE", "HANG", "RECORD_KEY", "RESET", "Outcome", "RequestRecord", "decode_json"]

RESET: Final = "reset"
"""The outcome of a request whose connection was reset instead of answered."""
HANG: Final = "hang"
"""The outcome of a request that was never answered."""
GONE: Final = "gone"
"""The outcome of a request whose client closed the connection before it was answered."""

Outcome = int | Literal["reset", "hang", "gone"]
"""How a request ended: the HTTP status answered, or ``"reset"`` / ``"hang"`` / ``"gone"``
when none was."""


def _refuse_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON does not, and neither does a real API.
    raise ValueError(f"{name} is not valid JSON")


def decode_json(raw: bytes) -> Any:
    """Decode a JSON body the way the sandbox reads it: numbers with a fraction become Decimal.

    Decimal keeps the exact digits that were sent (``259.99`` stays ``Decimal("259.99")``); integers
    stay ``int``. ``NaN`` and ``Infinity`` are refused, as strict JSON parsers refuse them.

    Args:
        raw: the body.

    Returns:
        The decoded value.

    Raises:
        ValueError: the body is not valid JSON (including not UTF-8), or is nested too deeply
            to decode.

    .. versionadded:: 0.1.0
    """
    try:
        return json.loads(raw.decode("utf-8"), parse_float=Decimal, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("the body is nested too deeply to decode") from None


@attrs.define(kw_only=True)
class RequestRecord:
    """One request the sandbox received under ``/api/v2/io`` or ``/api/v3/io``, and what became
    of it.

    Args:
        request_id: the ``X-Request-Id`` answered (also set when nothing was answered).
        method: the HTTP method.
        path: the path, e.g. ``/api/v2/io/companies/1/user/5/orders``.
        query: the query string's parameters (the first value of a repeated name, the one
            the operations read).
        headers: the request headers, case-insensitive, the ``authToken`` included.
        raw: the body as received.
        body: the body decoded by :func:`decode_json`, or ``None`` when empty or not JSON.
        received_at: the sandbox clock's reading on arrival.
        fault: the fault injected into this request, if any.
        status: the outcome: the HTTP status answered, ``"reset"``, ``"hang"``, ``"gone"`` (its
            client went away first), or ``None`` while the request is still in progress.
        registered: the order id this request registered, if it registered one (a request whose
            answer was lost to a ``reset_after`` or ``malformed`` fault still registered it).

    .. versionadded:: 0.1.0
    """

    request_id: str
    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    raw: bytes = b""
    body: Any = None
    received_at: float
    fault: FaultKind | None = None
    status: Outcome | None = None
    registered: str | None = None

    def settle(self, outcome: Outcome) -> None:
        """Record how the request ended, unless an earlier step already did.

        Args:
            outcome: the status answered, or ``"reset"`` / ``"hang"`` / ``"gone"``.
        """
        if self.status is None:
            self.status = outcome


RECORD_KEY = web.RequestKey("b2b_sandbox_record", RequestRecord)
"""Where the pipeline keeps the record of the request being served, for its operation."""
