"""The B2B Edition V3 response envelope ``{"code", "data", "meta": {"message", ...}}``.

The published V3 document puts the message in ``meta.message`` for most answers, and at the
top level (``"message": "SUCCESS"``) for "Update an Order", "Get Order Products" and the two
customer operations: the sandbox follows each operation's schema. The body ``code`` is the
HTTP status (V3 has no 40010-style codes). Error bodies carry the message in
``meta.message``; the 422 of "Update an Order" also has it in ``data.errMsg``; a 400 about the
request's content maps each offending field to its problem in ``data``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

__all__ = [
    "SUCCESS",
    "v3_bad_request",
    "v3_envelope",
    "v3_error_200",
    "v3_failure",
    "v3_success",
    "v3_too_many_requests",
]

SUCCESS: Final = "SUCCESS"


def v3_envelope(
    status: int,
    data: Any,
    message: str,
    *,
    top_level: bool = False,
    pagination: Mapping[str, int] | None = None,
    code: int | None = None,
) -> web.Response:
    """Answer with the V3 envelope, as JSON, with the given HTTP status as ``code``.

    Args:
        status: the HTTP status (also the body code, unless ``code`` says otherwise).
        data: the ``data`` member.
        message: the message, in ``meta.message`` or, with ``top_level``, in ``message``.
        top_level: put the message at the top level, as some operations' schemas do.
        pagination: a listing's ``meta.pagination``.
        code: the body code, when it is not the HTTP status.
    """
    body: dict[str, Any] = {"code": status if code is None else code, "data": data}
    if top_level:
        body["message"] = message
    else:
        body["meta"] = {"message": message}
        if pagination is not None:
            body["meta"]["pagination"] = dict(pagination)
    return web.json_response(body, status=status)


def v3_success(
    data: Any, *, top_level: bool = False, pagination: Mapping[str, int] | None = None
) -> web.Response:
    """Answer 200 with ``data`` and the message ``SUCCESS``."""
    return v3_envelope(200, data, SUCCESS, top_level=top_level, pagination=pagination)


def v3_failure(status: int, message: str, *, err_msg: bool = False) -> web.Response:
    """Answer an error: ``meta.message`` says what went wrong; ``data`` is ``{}``, or
    ``{"errMsg": message}`` with ``err_msg``."""
    data = {"errMsg": message} if err_msg else {}
    return v3_envelope(status, data, message)


def v3_bad_request(fields: Mapping[str, str]) -> web.Response:
    """Answer 400 with ``data`` mapping each offending field to its problem."""
    return v3_envelope(400, dict(fields), "; ".join(fields.values()))


def v3_too_many_requests(retry_after: int, message: str) -> web.Response:
    """Answer 429 with ``Retry-After`` in whole seconds."""
    response = v3_failure(429, message)
    response.headers["Retry-After"] = str(retry_after)
    return response


def v3_error_200() -> web.Response:
    """Answer HTTP 200 whose body is an error (body code 400), for the ``error_200`` fault."""
    return v3_envelope(200, {"errMsg": "bc internal server error"}, "Bad Request Error", code=400)
