"""The B2B Edition V2 response envelope ``{"code", "data", "message"}`` and the error bodies.

The wording follows the published examples: ``"Bad Request Error"``, ``"Not Found Error"`` with
``data.errMsg`` such as ``"Companies Does not Exist"``, field errors as ``data = {field:
message}``. The body ``code`` is the HTTP status, except for 400s, whose codes carry a resource
suffix (40010, 40013).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

BAD_REQUEST = 40010
"""The body code of a 400 caused by the request's content."""

RESOURCE_MISSING = 40013
"""The body code of a 400 naming a resource that does not exist."""

ALREADY_EXISTS = "The order already exists."

# The reason phrases B2B Edition puts in `message`, one place for all of them.
_MESSAGES: Mapping[int, str] = {
    400: "Bad Request Error",
    401: "Unauthorized Error",
    404: "Not Found Error",
    405: "Method Not Allowed Error",
    429: "Too Many Requests Error",
    500: "Internal Server Error",
    503: "Service Unavailable Error",
}

# What a proxy (not the API) answers with when the API behind it is broken or slow.
_PROXY_PAGE = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def envelope(status: int, code: int, data: Any, message: str) -> web.Response:
    """Answer with the envelope, as JSON, with the given HTTP status."""
    return web.json_response({"code": code, "data": data, "message": message}, status=status)


def success(data: Any, message: str = "Success") -> web.Response:
    """Answer 200 with ``data``; the examples say ``Success`` for most operations, ``SUCCESS``
    for some."""
    return envelope(200, 200, data, message)


def failure(status: int, err_msg: str) -> web.Response:
    """Answer an error whose ``data`` is ``{"errMsg": ...}`` and whose code is the status."""
    return envelope(status, status, {"errMsg": err_msg}, _MESSAGES.get(status, "Error"))


def bad_request(
    fields: Mapping[str, str], *, code: int = BAD_REQUEST, message: str = _MESSAGES[400]
) -> web.Response:
    """Answer 400 with ``data`` mapping each offending field (or ``errMsg``) to its problem."""
    return envelope(400, code, dict(fields), message)


def already_exists() -> web.Response:
    """Answer a second registration of an order id, as V3 does: 400 "The order already exists."."""
    return envelope(400, BAD_REQUEST, {"errMsg": ALREADY_EXISTS}, ALREADY_EXISTS)


def too_many_requests(retry_after: int, err_msg: str) -> web.Response:
    """Answer 429 with ``Retry-After`` in whole seconds."""
    response = failure(429, err_msg)
    response.headers["Retry-After"] = str(retry_after)
    return response


def proxy_page(status: int) -> web.Response:
    """Answer with a proxy's HTML error page, as a gateway in front of the API would."""
    reason = web.Response(status=status).reason
    page = _PROXY_PAGE.format(status=status, reason=reason)
    return web.Response(status=status, text=page, content_type="text/html")
