"""The error tree: every error pickles with its fields and reads the same afterwards."""

from __future__ import annotations

import pickle
import re
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import b2b_async._exceptions
from b2b_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    B2BError,
    BadRequestError,
    ClientClosedError,
    DeadlineUnreachableError,
    InvalidOrderError,
    NotFoundError,
    OrderAlreadyExistsError,
    PermissionDeniedError,
    RateLimitError,
    RegistrationWindowClosedError,
    ResponseDecodeError,
    ServerError,
    TransportError,
    UnprocessableEntityError,
)
from b2b_async._exceptions import NotSentTimeoutError, error_class, is_refusal
from b2b_async.redis import RateLimiterUnavailableError

API_ERRORS = [
    APIError,
    BadRequestError,
    OrderAlreadyExistsError,
    AuthenticationError,
    PermissionDeniedError,
    NotFoundError,
    UnprocessableEntityError,
    RateLimitError,
    ServerError,
]


def api_error(cls: type[APIError]) -> APIError:
    error = cls(
        "Companies Does not Exist",
        status=404,
        code=40410,
        details={"errMsg": "Companies Does not Exist", "orderId": ["too long"]},
        request_id="req-1",
        method="POST",
        url="https://api-b2b.bigcommerce.com/api/v2/io/companies/9/user/1/orders",
        retry_after=2.5,
    )
    error.after_uncertain_attempt = True
    return error


def others() -> list[B2BError]:
    return [
        B2BError("plain"),
        InvalidOrderError("order_id must not be empty"),
        ClientClosedError("the client is closed"),
        TransportError("reset", method="GET", url="u"),
        APIConnectionError("refused", method="POST", url="u", may_have_reached_server=False),
        APITimeoutError("timed out", method="POST", url="u"),
        ResponseDecodeError("not JSON", status=200, body_excerpt="<html>", path="$", garbled=True),
        RateLimiterUnavailableError("redis is down"),
        DeadlineUnreachableError("too late", estimated_wait=2.5, deadline=1.0),
    ]


def same(error: B2BError, copy: B2BError) -> bool:
    """Whether a copy has the original's type, fields, text and repr."""
    return (
        type(copy) is type(error)
        and copy.__dict__ == error.__dict__
        and copy.args == error.args
        and str(copy) == str(error)
        and repr(copy) == repr(error)
    )


@pytest.mark.parametrize("cls", API_ERRORS)
def test_api_errors_pickle_with_their_fields(cls: type[APIError]) -> None:
    """Every APIError survives pickling: status, code, details, request id, uncertainty."""
    error = api_error(cls)
    copy = pickle.loads(pickle.dumps(error))
    assert same(error, copy)
    assert copy.details["orderId"] == ["too long"]
    assert copy.after_uncertain_attempt is True


@pytest.mark.parametrize("error", others(), ids=lambda error: type(error).__name__)
def test_every_other_error_pickles(error: B2BError) -> None:
    """Input, transport and decode errors pickle too, on every protocol."""
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert same(error, pickle.loads(pickle.dumps(error, protocol)))


def raise_not_found() -> None:
    raise api_error(NotFoundError)


def test_an_error_crosses_a_process_pool() -> None:
    """An error raised in a worker process arrives in the parent with its fields."""
    with ProcessPoolExecutor(1) as pool:
        future = pool.submit(raise_not_found)
        with pytest.raises(NotFoundError) as info:
            future.result()
    assert info.value.status == 404
    assert info.value.request_id == "req-1"
    assert info.value.details["errMsg"] == "Companies Does not Exist"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, APIError),
        (418, APIError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
        (507, ServerError),
    ],
)
def test_error_class_table(status: int, expected: type[APIError]) -> None:
    """Each status maps to its exception by the table, then by status class."""
    assert error_class(status) is expected


@pytest.mark.parametrize(("status", "expected"), [(499, APIError), (599, ServerError)])
def test_error_class_by_status_class_at_its_edges(status: int, expected: type[APIError]) -> None:
    """A status missing from the table takes the class of its first digit, to the last one."""
    assert error_class(status) is expected


ERRORS_PAGE = Path(__file__).resolve().parent.parent / "docs" / "errors.md"


def drawn_tree(text: str) -> dict[str, str | None]:
    """Each class of an error tree drawn in ``text`` (from ``B2BError`` on), with its parent."""
    root = re.search(r"^( *)B2BError$", text, flags=re.MULTILINE)
    assert root is not None
    lines = [line[len(root.group(1)) :] for line in text[root.start() :].splitlines()]
    parents: dict[str, str | None] = {}
    chain: list[str] = []
    for line in lines:
        found = re.match(r"^([│ ]*(?:[├└]── )?)(\w+)", line)
        if found is None or not found.group(2).endswith("Error"):
            break
        depth = len(found.group(1)) // 4
        chain[depth:] = [found.group(2)]
        parents[found.group(2)] = chain[depth - 1] if depth else None
    return parents


def test_the_error_tree_is_drawn_alike_in_the_module_and_the_docs() -> None:
    """The trees of the module's docstring and of docs/errors.md are the same drawing, and it
    shows every error class of the module under its real parent."""
    drawn = drawn_tree(b2b_async._exceptions.__doc__ or "")
    assert drawn == drawn_tree(ERRORS_PAGE.read_text(encoding="utf-8"))
    classes = {
        name: cls
        for name, cls in vars(b2b_async._exceptions).items()
        if isinstance(cls, type) and issubclass(cls, B2BError)
    }
    assert set(drawn) == set(classes)
    for name, parent in drawn.items():
        assert classes[name].__bases__[0].__name__ == (parent or "Exception")


@pytest.mark.parametrize(
    ("status", "refused"),
    [
        *[(status, True) for status in (400, 401, 404, 409, 422, 499)],
        *[(status, False) for status in (429, 500, 503, 399)],
    ],
)
def test_a_refusal_is_a_4xx_other_than_429(status: int, refused: bool) -> None:
    """The one rule the journal's "rejected" and the CLI's exit code 3 read."""
    assert is_refusal(error_class(status)("no", status=status)) is refused


def test_what_carries_no_status_is_no_refusal() -> None:
    """Failures without an answer are not the API refusing the request."""
    assert not is_refusal(None)
    assert not is_refusal(APIConnectionError("refused", may_have_reached_server=False))
    assert not is_refusal(ValueError("not an API error"))


WINDOW_END = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
URL = "https://api-b2b.bigcommerce.com/api/v2/io/orders"


def built_errors() -> list[tuple[B2BError, dict[str, Any]]]:
    """One error of each class with fields, and the attributes it must hold."""
    return [
        (
            api_error(RateLimitError),
            {"message": "Companies Does not Exist", "status": 404, "code": 40410}
            | {"request_id": "req-1", "method": "POST", "url": api_error(APIError).url}
            | {"retry_after": 2.5, "details": {"errMsg": "Companies Does not Exist"}},
        ),
        (
            TransportError("reset", method="GET", url=URL, may_have_reached_server=False),
            {"message": "reset", "method": "GET", "url": URL, "may_have_reached_server": False},
        ),
        (
            NotSentTimeoutError("deadline passed", method="POST", url=URL),
            {"message": "deadline passed", "method": "POST", "url": URL}
            | {"may_have_reached_server": False},
        ),
        (
            RateLimiterUnavailableError("redis is down"),
            {"message": "redis is down", "may_have_reached_server": False},
        ),
        (
            ResponseDecodeError("no", status=502, body_excerpt="<html>", path="$.x", garbled=True),
            {"message": "no", "status": 502, "body_excerpt": "<html>", "path": "$.x"}
            | {"garbled": True},
        ),
        (
            DeadlineUnreachableError("too late", estimated_wait=2.5, deadline=1.0),
            {"message": "too late", "estimated_wait": 2.5, "deadline": 1.0},
        ),
        (
            RegistrationWindowClosedError("closed", bc_order_id=7, window_ended_at=WINDOW_END),
            {"message": "closed", "bc_order_id": 7, "window_ended_at": WINDOW_END},
        ),
    ]


@pytest.mark.parametrize(("error", "fields"), built_errors(), ids=lambda e: type(e).__name__)
def test_every_field_holds_what_it_was_given(error: B2BError, fields: dict[str, Any]) -> None:
    """Each documented attribute holds its value, and the message is the error's one argument."""
    assert error.args == (fields["message"],)
    for name, value in fields.items():
        if name == "details":
            assert dict(getattr(error, name)).items() >= value.items()
        else:
            assert getattr(error, name) == value


@pytest.mark.parametrize(("error", "fields"), built_errors(), ids=lambda e: type(e).__name__)
def test_every_error_of_the_tree_pickles_with_its_fields(
    error: B2BError, fields: dict[str, Any]
) -> None:
    """Errors of every kind, the deadline and window errors too, keep their fields pickled."""
    copy = pickle.loads(pickle.dumps(error))
    assert same(error, copy)
    assert {name: getattr(copy, name) for name in fields} == {
        name: getattr(error, name) for name in fields
    }


def test_fields_left_out_take_their_documented_defaults() -> None:
    """Fields not given take the defaults the docs state, ``may_have_reached_server`` True."""
    api = APIError("no", status=500)
    assert (api.code, api.request_id, api.retry_after) == (None, None, None)
    assert (api.method, api.url, dict(api.details)) == ("", "", {})
    transport = TransportError("reset")
    assert (transport.method, transport.url) == ("", "")
    assert transport.may_have_reached_server is True
    decode = ResponseDecodeError("no")
    assert (decode.status, decode.body_excerpt, decode.path) == (0, "", "$")
    assert decode.garbled is False


@pytest.mark.parametrize(
    "error", [*others(), APIError("no", status=500)], ids=lambda e: type(e).__name__
)
def test_no_error_starts_after_an_uncertain_attempt(error: B2BError) -> None:
    """An error is built with ``after_uncertain_attempt`` False; only a retry sets it."""
    assert error.after_uncertain_attempt is False


def test_input_and_closed_client_errors_are_builtin_errors_too() -> None:
    """An InvalidOrderError is a ValueError and a ClientClosedError a RuntimeError."""
    assert isinstance(InvalidOrderError("bad"), ValueError)
    assert isinstance(ClientClosedError("closed"), RuntimeError)


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({}, "HTTP 404: gone"),
        ({"code": 404}, "HTTP 404: gone"),
        ({"code": 40410}, "HTTP 404, code 40410: gone"),
        ({"method": "POST", "url": URL}, f"HTTP 404: gone (POST {URL})"),
        ({"url": URL}, "HTTP 404: gone"),
        ({"request_id": "r-1"}, "HTTP 404: gone, request id r-1"),
        ({"request_id": ""}, "HTTP 404: gone"),
    ],
)
def test_an_api_error_reads_as_status_code_message_request_and_id(
    fields: dict[str, Any], text: str
) -> None:
    """``str`` shows the status, a body code that differs from it, the request and its id."""
    assert str(NotFoundError("gone", status=404, **fields)) == text


def test_a_transport_error_reads_as_its_message_and_request() -> None:
    """``str`` of a transport failure names the request when it has a method."""
    assert str(APITimeoutError("timed out", method="GET", url=URL)) == f"timed out (GET {URL})"
    assert str(APITimeoutError("timed out", url=URL)) == "timed out"


def test_a_decode_error_reads_as_its_message_path_and_status() -> None:
    """``str`` of a decode error shows where, and the status only when there is one."""
    assert str(ResponseDecodeError("bad", status=200, path="$.code")) == "bad @ $.code (HTTP 200)"
    assert str(ResponseDecodeError("bad", path="$.data")) == "bad @ $.data"
