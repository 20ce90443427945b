"""The response envelopes of the two API versions, and the error bodies of each.

- V2: ``{"code", "data", "message"}``. The wording follows the published examples: ``"Bad
  Request Error"``, ``"Not Found Error"`` with ``data.errMsg`` such as ``"Companies Does not
  Exist"``, field errors as ``data = {field: message}``. The body ``code`` is the HTTP status,
  except for 400s, whose codes carry a resource suffix (40010, 40013).
- V3: ``{"code", "data", "meta": {"message", ...}}``. The published V3 document puts the message
  in ``meta.message`` for most answers, and at the top level (``"message": "SUCCESS"``) for
  "Update an Order", "Get Order Products" and the two customer operations: the sandbox follows
  each operation's schema. The body ``code`` is the HTTP status (V3 has no 40010-style codes).
  Error bodies carry the message in ``meta.message``; the 422 of "Update an Order" also has it in
  ``data.errMsg``; a 400 about the request's content maps each offending field to its problem in
  ``data``.

:class:`Envelope` is what the pipeline needs of either version, for the answers it gives by
itself (401, 429, injected faults, unknown routes, input that does not parse); :data:`V2` and
:data:`V3` are the two versions.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

__all__ = [
    "ALREADY_EXISTS",
    "BAD_REQUEST",
    "RESOURCE_MISSING",
    "SUCCESS",
    "V2",
    "V3",
    "Envelope",
    "V2Envelope",
    "V3Envelope",
    "proxy_page",
]

BAD_REQUEST: Final = 40010
"""The V2 body code of a 400 caused by the request's content."""

RESOURCE_MISSING: Final = 40013
"""The V2 body code of a 400 naming a resource that does not exist."""

ALREADY_EXISTS: Final = "The order already exists."
"""The message of a second registration of an order id, in both versions."""

SUCCESS: Final = "SUCCESS"
"""The message of a V3 success, and of some V2 ones."""

# The reason phrases V2 puts in `message`, one place for all of them.
_V2_MESSAGES: Mapping[int, str] = {
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


class Envelope(abc.ABC):
    """The answers of one API version that the pipeline gives by itself."""

    __slots__ = ()

    unauthenticated: str
    """The 401 message when no token was sent at all."""

    @abc.abstractmethod
    def failure(self, status: int, message: str) -> web.Response:
        """Answer an error with this status, saying ``message``."""

    @abc.abstractmethod
    def bad_request(self, fields: Mapping[str, str]) -> web.Response:
        """Answer 400 with ``data`` mapping each offending field to its problem."""

    @abc.abstractmethod
    def error_200(self) -> web.Response:
        """Answer HTTP 200 whose body is an error, for the ``error_200`` fault."""

    def too_many_requests(self, retry_after: int, message: str) -> web.Response:
        """Answer 429 with ``Retry-After`` in whole seconds.

        Args:
            retry_after: the seconds to wait.
            message: what went wrong.

        Returns:
            The answer.
        """
        response = self.failure(429, message)
        response.headers["Retry-After"] = str(retry_after)
        return response


class V2Envelope(Envelope):
    """The V2 envelope ``{"code", "data", "message"}``."""

    __slots__ = ()

    unauthenticated = "authToken is required"

    def envelope(self, status: int, code: int, data: Any, message: str) -> web.Response:
        """Answer with the envelope, as JSON, with the given HTTP status."""
        return web.json_response({"code": code, "data": data, "message": message}, status=status)

    def success(self, data: Any, message: str = "Success") -> web.Response:
        """Answer 200 with ``data``; the examples say ``Success`` for most operations,
        ``SUCCESS`` for some."""
        return self.envelope(200, 200, data, message)

    def failure(self, status: int, message: str) -> web.Response:
        """Answer an error whose ``data`` is ``{"errMsg": message}`` and whose code is the
        status."""
        reason = _V2_MESSAGES.get(status, "Error")
        return self.envelope(status, status, {"errMsg": message}, reason)

    def bad_request(
        self,
        fields: Mapping[str, str],
        *,
        code: int = BAD_REQUEST,
        message: str = _V2_MESSAGES[400],
    ) -> web.Response:
        """Answer 400 with ``data`` mapping each offending field (or ``errMsg``) to its
        problem."""
        return self.envelope(400, code, dict(fields), message)

    def resource_missing(self, message: str) -> web.Response:
        """Answer 400 with code 40013 and no data, as a missing order, user or company."""
        return self.bad_request({}, code=RESOURCE_MISSING, message=message)

    def already_exists(self) -> web.Response:
        """Answer a second registration of an order id, as V3 does: 400 "The order already
        exists."."""
        return self.envelope(400, BAD_REQUEST, {"errMsg": ALREADY_EXISTS}, ALREADY_EXISTS)

    def error_200(self) -> web.Response:
        """Answer HTTP 200 with a 40010 body, in the wording of the published "Update order"
        400 example."""
        return self.envelope(
            200, BAD_REQUEST, {"errMsg": "bc internal server error"}, "Bad Requests Error"
        )


class V3Envelope(Envelope):
    """The V3 envelope ``{"code", "data", "meta": {"message", ...}}``."""

    __slots__ = ()

    unauthenticated = "X-Auth-Token and X-Store-Hash are required"

    def envelope(
        self,
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

        Returns:
            The answer.
        """
        body: dict[str, Any] = {"code": status if code is None else code, "data": data}
        if top_level:
            body["message"] = message
        else:
            body["meta"] = {"message": message}
            if pagination is not None:
                body["meta"]["pagination"] = dict(pagination)
        return web.json_response(body, status=status)

    def success(
        self, data: Any, *, top_level: bool = False, pagination: Mapping[str, int] | None = None
    ) -> web.Response:
        """Answer 200 with ``data`` and the message ``SUCCESS``."""
        return self.envelope(200, data, SUCCESS, top_level=top_level, pagination=pagination)

    def failure(self, status: int, message: str, *, err_msg: bool = False) -> web.Response:
        """Answer an error: ``meta.message`` says what went wrong; ``data`` is ``{}``, or
        ``{"errMsg": message}`` with ``err_msg``."""
        data = {"errMsg": message} if err_msg else {}
        return self.envelope(status, data, message)

    def bad_request(self, fields: Mapping[str, str]) -> web.Response:
        """Answer 400 with ``data`` mapping each offending field to its problem."""
        return self.envelope(400, dict(fields), "; ".join(fields.values()))

    def error_200(self) -> web.Response:
        """Answer HTTP 200 whose body is an error (body code 400)."""
        body = {"errMsg": "bc internal server error"}
        return self.envelope(200, body, "Bad Request Error", code=400)


V2: Final = V2Envelope()
"""The V2 envelope."""

V3: Final = V3Envelope()
"""The V3 envelope."""


def proxy_page(status: int) -> web.Response:
    """Answer with a proxy's HTML error page, as a gateway in front of the API would.

    Args:
        status: the gateway's status (502, 504).

    Returns:
        The HTML answer, the same whatever the API version.
    """
    reason = web.Response(status=status).reason
    page = _PROXY_PAGE.format(status=status, reason=reason)
    return web.Response(status=status, text=page, content_type="text/html")
