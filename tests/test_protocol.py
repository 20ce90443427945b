"""Pure tests of the sans-I/O protocol functions: no loop, no network."""

from __future__ import annotations

import contextlib
import html
import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from b2b_async import (
    APIError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    OrderAlreadyExistsError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    UnprocessableEntityError,
)
from b2b_async._client import secrets_of
from b2b_async._config import MAX_WAIT_HINT, MAX_WINDOW_REQUESTS, MIN_FOLDED_SECRET_LENGTH
from b2b_async._protocol import (
    MESSAGE_LIMIT,
    BudgetHint,
    RequestInfo,
    Secrets,
    decode_json,
    decode_response,
    is_success,
    parse_budget,
    parse_http_date,
    parse_number,
    read_request_id,
    redact,
    retry_after_hint,
    status_of_code,
    visible,
)

INFO = RequestInfo("POST", "https://api-b2b.bigcommerce.com/api/v2/io/companies/1/user/2/orders")
NOW = 1_800_000_000.0


def body(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def decode(status: int, payload: Any, headers: dict[str, str] | None = None) -> Any:
    raw = payload if isinstance(payload, bytes) else body(payload)
    return decode_response(status, headers or {}, raw, INFO, NOW).data


def test_success_envelope_returns_data() -> None:
    """A 200 envelope with a success code yields its data."""
    assert decode(200, {"code": 200, "data": {"orderId": "BC1"}, "message": "SUCCESS"}) == {
        "orderId": "BC1"
    }


def test_success_without_code_returns_data() -> None:
    """An envelope without a code trusts the HTTP status."""
    assert decode(201, {"data": {"orderId": 5}}) == {"orderId": 5}


def test_documented_400_body() -> None:
    """The published 400 body becomes a BadRequestError with its field map."""
    with pytest.raises(BadRequestError) as info:
        decode(
            400,
            {
                "code": 40010,
                "data": {"totalIncTax": "must be a number"},
                "message": "Bad Request Error",
            },
            {"X-Request-Id": "req-1"},
        )
    err = info.value
    assert (err.status, err.code, err.message) == (400, 40010, "Bad Request Error")
    assert err.details == {"totalIncTax": "must be a number"}
    assert err.request_id == "req-1"
    assert (err.method, err.url) == (INFO.method, INFO.url)
    assert "code 40010" in str(err)
    assert "req-1" in str(err)


def test_documented_404_body() -> None:
    """The published 404 body becomes a NotFoundError carrying errMsg as its message."""
    with pytest.raises(NotFoundError) as info:
        decode(
            404,
            {
                "code": 404,
                "data": {"errMsg": "Companies Does not Exist"},
                "message": "Not Found Error",
            },
        )
    assert info.value.message == "Companies Does not Exist"
    assert info.value.details == {"errMsg": "Companies Does not Exist"}


def test_http_200_with_error_code_is_that_error() -> None:
    """A 200 whose body code is 40010 is a BadRequestError with status 400."""
    with pytest.raises(BadRequestError) as info:
        decode(
            200, {"code": 40010, "data": {"orderId": "required"}, "message": "Bad Request Error"}
        )
    assert info.value.status == 400


def test_string_body_code_is_read() -> None:
    """A body code sent as a numeric string counts like a number."""
    with pytest.raises(NotFoundError):
        decode(200, {"code": "404", "data": {}, "message": "x"})


def errors_with_body_code(code: object) -> tuple[ResponseDecodeError, BadRequestError]:
    """The errors that a success and a 400 whose body ``code`` is ``code`` decode to."""
    with pytest.raises(ResponseDecodeError) as success:
        decode(200, {"code": code, "data": {}})
    with pytest.raises(BadRequestError) as failure:
        decode(400, {"code": code, "data": {}, "message": "bad"})
    return success.value, failure.value


@pytest.mark.parametrize("code", ["\u00b2", "\u0664\u0660\u0664", "4" * 10, "4" * 5000])
def test_a_body_code_that_is_no_small_ascii_number_is_not_a_code(code: str) -> None:
    """``"²"`` and Arabic-Indic digits pass ``str.isdigit``; no code has ten digits."""
    success, failure = errors_with_body_code(code)
    assert success.path == "$.code"
    assert failure.code is None


@pytest.mark.parametrize(
    "payload",
    [
        {"code": 40010, "data": {"errMsg": "The order already exists."}, "message": "Bad Request"},
        {"code": 400, "data": {}, "message": "The order already exists."},
        {"code": 400, "data": {"orderId": "The order already exists."}, "message": "Bad"},
        {"code": 400, "data": None, "meta": {"message": "The order already exists."}},
        {"code": 40010, "data": {"bc_order_id": "The order already exists."}, "message": "Bad"},
    ],
)
def test_already_exists_is_its_own_error(payload: dict[str, Any]) -> None:
    """Every place the API may put "already exists" yields OrderAlreadyExistsError."""
    with pytest.raises(OrderAlreadyExistsError) as info:
        decode(400, payload)
    assert info.value.after_uncertain_attempt is False


@pytest.mark.parametrize(
    "payload",
    [
        {"code": 40010, "data": {"bcOrderId": "The order already exists."}, "message": "Bad"},
        {"code": 400, "data": {"errMsg": "Bad"}, "meta": {"message": "The order already exists."}},
        {"code": 40010, "data": {"errMsg": "Bad"}, "message": "The order already exists."},
        {"code": 400, "data": {}, "message": "  Order already exists."},
        {"code": 400, "data": {}, "message": "Error: this order already exists"},
    ],
)
def test_already_exists_is_found_wherever_and_however_it_is_put(payload: dict[str, Any]) -> None:
    """An "already exists" is read in every field, behind another message, in each wording."""
    with pytest.raises(OrderAlreadyExistsError):
        decode(400, payload)


@pytest.mark.parametrize(
    "payload",
    [
        {"code": 40010, "data": {"poNumber": "PO number PO-7 already exists"}},
        {"code": 400, "data": {}, "message": "PO number already exists"},
        {"code": 400, "data": {}, "message": "A purchase order already exists with this number"},
        {"code": 400, "data": {"errMsg": "The company already exists."}, "message": "Bad"},
        {"code": 400, "data": {"poNumber": "The order already exists."}, "message": "Bad"},
    ],
)
def test_another_already_exists_is_a_plain_bad_request(payload: dict[str, Any]) -> None:
    """Only the order's own "already exists" means the order is registered: a PO number's,
    or one on a field that is not the order id, is an ordinary 400, which a bulk run reports
    as that order's failure instead of recording it registered."""
    with pytest.raises(BadRequestError) as info:
        decode(400, payload)
    assert not isinstance(info.value, OrderAlreadyExistsError)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_already_exists_on_a_transient_failure_keeps_its_class(status: int) -> None:
    """A 429 or 5xx that says "already exists" stays the transient failure its status names."""
    with pytest.raises(APIError) as info:
        decode(status, {"code": status, "data": {"errMsg": "The order already exists."}})
    assert not isinstance(info.value, BadRequestError)
    assert isinstance(info.value, ServerError | RateLimitError)


@pytest.mark.parametrize(("status", "hint"), [(429, 30.0), (503, None)])
def test_a_window_reset_is_an_errors_wait_hint_on_a_429_only(
    status: int, hint: float | None
) -> None:
    """The budget window's reset, sent with every answer, is a wait hint only on a 429."""
    headers = {"X-Request-Window-Resets-After": "30 s", "X-Rate-Limit-Time-Reset-Ms": "20000"}
    with pytest.raises(APIError) as info:
        decode(status, {"code": status, "data": {}}, headers)
    assert info.value.retry_after == hint


def test_v3_meta_message_is_used() -> None:
    """A V3-style meta.message is the error's message."""
    with pytest.raises(UnprocessableEntityError) as info:
        decode(422, {"code": 422, "data": {}, "meta": {"message": "extra field missing"}})
    assert info.value.message == "extra field missing"


def test_non_json_5xx_is_server_error() -> None:
    """A proxy's HTML 502 is a ServerError, not a decode error."""
    with pytest.raises(ServerError) as info:
        decode_response(502, {}, b"<html>Bad gateway</html>", INFO, NOW, reason="Bad Gateway")
    assert info.value.status == 502
    assert info.value.message == "Bad Gateway"


def test_non_json_429_is_rate_limit_error_with_hint() -> None:
    """A gateway's bare 429 still carries its Retry-After."""
    with pytest.raises(RateLimitError) as info:
        decode_response(429, {"Retry-After": "3"}, b"slow down", INFO, NOW)
    assert info.value.retry_after == 3.0


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[1, 2]", b'"text"', b'{"code": ', b"\xff\xfe", b"null"],
)
def test_2xx_without_envelope_is_decode_error(raw: bytes) -> None:
    """A success status with a body that is not a JSON object is a ResponseDecodeError."""
    with pytest.raises(ResponseDecodeError) as info:
        decode(200, raw)
    assert info.value.status == 200


def test_2xx_with_non_numeric_code_is_decode_error() -> None:
    """An envelope code that is not a number is named by its path."""
    with pytest.raises(ResponseDecodeError) as info:
        decode(200, {"code": {"x": 1}, "data": {}})
    assert info.value.path == "$.code"


def test_a_decode_error_for_a_code_that_is_no_number_keeps_the_status() -> None:
    """The decode error of a 2xx whose code is no number carries the answer's own status."""
    with pytest.raises(ResponseDecodeError) as info:
        decode(201, {"code": "abc", "data": {}})
    assert info.value.status == 201


@pytest.mark.parametrize(
    "code",
    [1_000_000_000, 1e9, -4_444_444_444, int("4" * 4000)],
    ids=["ten-digits", "ten-digit-float", "negative", "4000-digits"],
)
def test_a_body_code_number_of_ten_digits_or_more_is_not_a_code(code: float) -> None:
    """A body code number of ten digits or more is no code, as such a string is."""
    with pytest.raises(ResponseDecodeError) as success:
        decode(200, {"code": code, "data": {}})
    assert success.value.path == "$.code"
    assert len(str(success.value)) < MESSAGE_LIMIT
    with pytest.raises(ServerError) as failure:
        decode(503, {"code": code, "data": {}, "message": "down"})
    assert failure.value.code is None
    assert len(str(failure.value)) < MESSAGE_LIMIT


@pytest.mark.parametrize("code", [999_999_999, 999_999_999.0, "999999999"])
def test_a_body_code_of_nine_digits_is_kept(code: float | str) -> None:
    """A body code of nine digits, a number or a string, is still a code, kept on its error."""
    with pytest.raises(ServerError) as failure:
        decode(503, {"code": code, "data": {}, "message": "down"})
    assert failure.value.code == 999_999_999


@pytest.mark.parametrize("code", [True, False])
def test_a_flag_body_code_is_not_a_code(code: bool) -> None:
    """``true`` and ``false`` are no body code: a success with one is not the envelope."""
    success, failure = errors_with_body_code(code)
    assert success.message == "envelope code is not a number"
    assert failure.code is None


def test_a_long_code_whose_first_digits_name_no_status_stands_for_itself() -> None:
    """A long code whose first three digits are 600 or 999 names no status: it stands for itself."""
    assert [status_of_code(code) for code in (60010, 9990)] == [60010, 9990]


@pytest.mark.parametrize("blank", ["", 5, ["x"]])
def test_a_message_that_is_empty_or_no_string_gives_way_to_the_next(blank: Any) -> None:
    """An ``errMsg`` or top-level ``message`` that is empty or no string is passed over."""
    with pytest.raises(BadRequestError) as info:
        decode(400, {"code": 400, "data": {"errMsg": blank}, "message": "Bad Request Error"})
    assert info.value.message == "Bad Request Error"
    raw = body({"code": 400, "message": blank})
    with pytest.raises(BadRequestError) as info:
        decode_response(400, {}, raw, INFO, NOW, reason="Bad Request")
    assert info.value.message == "Bad Request"


def test_a_secret_that_begins_another_leaves_no_tail_of_the_longer() -> None:
    """Where one secret begins another, in another case too, the longer is redacted whole."""
    secrets = ("abcdefghijklmnopq", "ABCDEFGHIJKLMNOPQ-TAIL")
    assert redact("x ABCDEFGHIJKLMNOPQ-TAIL y", secrets) == "x *** y"


def test_a_secret_of_the_folding_length_is_found_in_any_case() -> None:
    """A secret of exactly the length from which case is ignored is found in another case."""
    secret = "k" * MIN_FOLDED_SECRET_LENGTH
    assert redact(f"bad {secret.upper()}", (secret,)) == "bad ***"


def test_a_body_nested_too_deeply_to_decode_is_no_json() -> None:
    """A body nested past what the decoder can hold is not JSON, success or error."""
    raw = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ResponseDecodeError) as success:
        decode_response(200, {}, raw, INFO, NOW)
    assert success.value.garbled
    with pytest.raises(BadRequestError):
        decode_response(400, {}, raw, INFO, NOW)


@pytest.mark.parametrize(
    ("meta", "kept"), [({"pagination": {"total": 1}}, {"pagination": {"total": 1}}), ([1], {})]
)
def test_a_success_meta_is_kept_only_when_it_is_an_object(meta: Any, kept: Any) -> None:
    """A 2xx answer's meta object is kept; a meta that is no object reads as empty."""
    raw = body({"code": 200, "data": {}, "meta": meta})
    assert decode_response(200, {}, raw, INFO, NOW).meta == kept


@pytest.mark.parametrize(("code", "status"), [(100, 100), (599, 599), (1000, 100), (59910, 599)])
def test_a_body_code_at_the_edges_of_the_statuses_names_its_status(code: int, status: int) -> None:
    """Body codes from 100 to 599, themselves or by their first three digits, name a status."""
    with pytest.raises(APIError) as info:
        decode(200, {"code": code, "data": {}})
    assert info.value.status == status


@pytest.mark.parametrize("code", [0, 1, 99, 600, 99999, 60010])
def test_a_success_whose_body_code_names_no_http_status_is_a_decode_error(code: int) -> None:
    """A 2xx envelope code that names no HTTP status (outside 100 to 599, itself or by its
    first three digits) is no API error with a status nobody could read: the envelope is
    not the documented one."""
    with pytest.raises(ResponseDecodeError) as info:
        decode(200, {"code": code, "data": {}})
    assert info.value.path == "$.code"
    assert info.value.status == 200


def test_message_falls_back_to_reason() -> None:
    """An error without any message in the body uses the HTTP reason."""
    with pytest.raises(PermissionDeniedError) as info:
        decode_response(403, {}, b"{}", INFO, NOW, reason="Forbidden")
    assert info.value.message == "Forbidden"


@pytest.mark.parametrize(
    ("code", "status"), [(40010, 400), (40013, 400), (200, 200), (404, 404), (99999, 99999), (7, 7)]
)
def test_status_of_code(code: int, status: int) -> None:
    """The first three digits of a long body code name its HTTP status."""
    assert status_of_code(code) == status


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("149 times", 149.0),
        ("0.3973509933774834 s", 0.3973509933774834),
        ("12", 12.0),
        (" 3.5", 3.5),
        ("-1", None),
        ("abc", None),
        ("", None),
        (None, None),
        ("1e3", None),
        ("1E3", None),
        ("2.5.1", None),
        ("0.39s", 0.39),
        ("149times", 149.0),
    ],
)
def test_parse_number(value: str | None, expected: float | None) -> None:
    """Header numbers are read with their unit ignored; negatives and junk are None."""
    assert parse_number(value) == expected


def test_retry_after_seconds_and_date() -> None:
    """Retry-After is read as seconds or as an HTTP date relative to now."""
    assert retry_after_hint({"Retry-After": "2"}, NOW) == 2.0
    when = datetime.fromtimestamp(NOW, tz=UTC) + timedelta(seconds=30)
    assert retry_after_hint({"Retry-After": format_datetime(when, usegmt=True)}, NOW) == 30.0
    past = datetime.fromtimestamp(NOW, tz=UTC) - timedelta(seconds=30)
    assert retry_after_hint({"Retry-After": format_datetime(past, usegmt=True)}, NOW) == 0.0


def test_longest_hint_wins() -> None:
    """Where several wait hints are present the longest is honoured."""
    headers = {
        "Retry-After": "1",
        "X-Retry-After": "4",
        "X-Request-Window-Resets-After": "2.5 s",
        "X-Rate-Limit-Time-Reset-Ms": "3000",
    }
    assert retry_after_hint(headers, NOW) == 4.0
    assert retry_after_hint({"X-Rate-Limit-Time-Reset-Ms": "7500"}, NOW) == 7.5


def test_window_resets_are_wait_hints_of_a_429_only() -> None:
    """The window-reset headers every answer carries name a wait only on a 429."""
    resets = {"X-Request-Window-Resets-After": "2.5 s", "X-Rate-Limit-Time-Reset-Ms": "3000"}
    assert retry_after_hint(resets, NOW, rate_limited=False) is None
    assert retry_after_hint({**resets, "Retry-After": "1"}, NOW, rate_limited=False) == 1.0
    assert retry_after_hint(resets, NOW) == 3.0


def test_absurd_hints_are_ignored() -> None:
    """A hint of more than a day, or unparseable, is ignored rather than obeyed."""
    assert retry_after_hint({"Retry-After": "99999999"}, NOW) is None
    assert retry_after_hint({"Retry-After": "soon"}, NOW) is None
    assert retry_after_hint({"Retry-After": "Mon, 99 Foo 2026 99:99:99"}, NOW) is None
    assert retry_after_hint({}, NOW) is None


def http_date(seconds: float) -> str:
    """The HTTP date of a Unix time."""
    return format_datetime(datetime.fromtimestamp(seconds, tz=UTC), usegmt=True)


@pytest.mark.parametrize("skew", [-600.0, -1.5, 600.0])
def test_an_http_date_is_read_against_the_answers_date_when_the_host_clock_is_off(
    skew: float,
) -> None:
    """A host clock off the answer's Date reads a Retry-After date against that Date."""
    headers = {"Date": http_date(NOW), "Retry-After": http_date(NOW + 2)}
    assert retry_after_hint(headers, NOW + skew) == 2.0


@pytest.mark.parametrize("date", [None, "yesterday", "Mon, 01 Jan 2030 00:00:00"])
def test_an_http_date_is_read_against_the_host_clock_that_agrees_or_without_a_date(
    date: str | None,
) -> None:
    """Within the Date's second, or without a readable Date, the host's clock is the one."""
    headers = {"Retry-After": http_date(NOW + 2)}
    assert retry_after_hint({**headers, "Date": http_date(NOW - 0.5)}, NOW) == 2.0
    if date is not None:
        headers["Date"] = date
    assert retry_after_hint(headers, NOW - 600) == 602.0


def test_naive_http_date_is_ignored() -> None:
    """An HTTP date without a zone is ambiguous, so it is ignored."""
    assert parse_http_date("Mon, 01 Jan 2030 00:00:00", NOW) is None


@pytest.mark.parametrize("value", ["Sat Jan  2 08:00:30 2027", "Sat Jan 02 08:00:30 2027"])
def test_an_asctime_retry_after_is_read_as_utc(value: str) -> None:
    """A Retry-After in HTTP's asctime form, which names no zone, is a UTC date."""
    now = datetime(2027, 1, 2, 8, 0, 0, tzinfo=UTC).timestamp()
    assert retry_after_hint({"Retry-After": value}, now) == 30.0


def test_b2b_budget_headers_with_units() -> None:
    """The B2B headers, units inside the values, become a BudgetHint."""
    headers = {
        "X-Requests-Allocated": "150 times/60 s",
        "X-Requests-Remaining": "149 times",
        "X-Request-Window-Resets-After": "0.3973509933774834 s",
    }
    assert parse_budget(200, headers, NOW) == BudgetHint(
        remaining=149, resets_after=0.3973509933774834, limit=150, window=60.0
    )


@pytest.mark.parametrize(
    "header", ["X-Requests-Remaining", "X-Rate-Limit-Requests-Left"], ids=["b2b", "core"]
)
@pytest.mark.parametrize("left", ["18446744073709551615", "1" + "0" * 300, "1000001"])
def test_requests_left_past_any_window_read_as_the_most_a_window_holds(
    header: str, left: str
) -> None:
    """A server's "unlimited" count says plenty is left, and no more: read as a count every
    limiter, and Redis, holds exactly (Redis read a 20-digit one as none, "window spent")."""
    hint = parse_budget(200, {header: left, "X-Request-Window-Resets-After": "1.5"}, NOW)
    assert hint == BudgetHint(remaining=MAX_WINDOW_REQUESTS, resets_after=1.5)


@pytest.mark.parametrize("limit", ["1" * 10, "1" + "0" * 400, "7" * 5000])
def test_an_allocation_of_absurd_size_is_not_read(limit: str) -> None:
    """A request count of ten digits or more is noise: the rest of the hint still counts."""
    headers = {"X-Requests-Allocated": f"{limit} times/60 s", "X-Requests-Remaining": "3"}
    hint = parse_budget(200, headers, NOW)
    assert hint == BudgetHint(remaining=3)
    assert hint.capped(2.0) == hint


@pytest.mark.parametrize(
    ("cap", "burst", "followed"),
    [(2.0, 1, True), (2.0, 10, False), (20.0, 10, True), (1.9, 1, False)],
)
def test_an_allocation_is_followed_only_at_a_pace_within_the_cap(
    cap: float, burst: int, followed: bool
) -> None:
    """10 per 20 s is one request every 2 s without a burst, and every 20 s after one of 10."""
    hint = BudgetHint(remaining=4, limit=10, window=20.0)
    capped = hint.capped(cap, burst)
    assert (capped.limit, capped.window) == ((10, 20.0) if followed else (None, None))
    assert capped.remaining == 4


def test_core_budget_headers() -> None:
    """The core API's X-Rate-Limit-* headers, in milliseconds, are understood too."""
    headers = {
        "X-Rate-Limit-Requests-Left": "7",
        "X-Rate-Limit-Time-Reset-Ms": "1500",
        "X-Rate-Limit-Requests-Quota": "150",
        "X-Rate-Limit-Time-Window-Ms": "30000",
    }
    assert parse_budget(200, headers, NOW) == BudgetHint(
        remaining=7, resets_after=1.5, limit=150, window=30.0
    )


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Requests-Remaining": "0 times", "X-Request-Window-Resets-After": "0 s"},
        {"X-Rate-Limit-Requests-Left": "0", "X-Rate-Limit-Time-Reset-Ms": "0"},
    ],
    ids=["b2b", "core"],
)
def test_a_window_resetting_now_is_read_in_either_form(headers: dict[str, str]) -> None:
    """A reset 0 ms away is a reset now, not a missing header, in either form."""
    assert parse_budget(200, headers, NOW) == BudgetHint(remaining=0, resets_after=0.0)


def test_the_request_id_is_read_fit_to_show() -> None:
    """The one reading behind errors and events: absent is None, a secret in it redacted."""
    secret = "a-token-of-some-length-0123456789"
    assert read_request_id({}, (secret,)) is None
    assert read_request_id({"X-Request-Id": "req-7"}, (secret,)) == "req-7"
    assert secret not in (read_request_id({"X-Request-Id": f"req {secret}"}, (secret,)) or "")


def test_budget_retry_after_only_on_429() -> None:
    """retry_after is filled in for a 429 and left empty otherwise."""
    headers = {"Retry-After": "2", "X-Requests-Remaining": "0 times"}
    assert parse_budget(429, headers, NOW) == BudgetHint(remaining=0, retry_after=2.0)
    assert parse_budget(503, headers, NOW) == BudgetHint(remaining=0)


def test_no_budget_headers_is_none() -> None:
    """A response without budget headers gives no hint at all."""
    assert parse_budget(200, {"Content-Type": "application/json"}, NOW) is None


header_text = st.text(st.characters(codec="latin-1"), max_size=60)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "Retry-After",
                "X-Retry-After",
                "X-Request-Window-Resets-After",
                "X-Rate-Limit-Time-Reset-Ms",
                "X-Requests-Remaining",
                "X-Requests-Allocated",
                "X-Rate-Limit-Requests-Left",
                "X-Rate-Limit-Requests-Quota",
                "X-Rate-Limit-Time-Window-Ms",
            ]
        ),
        header_text,
    ),
    st.sampled_from([200, 429, 503]),
)
def test_header_parsing_never_raises(headers: dict[str, str], status: int) -> None:
    """Any header values parse to sane numbers or None, never an exception."""
    hint = parse_budget(status, headers, NOW)
    if hint is not None:
        for value in (hint.resets_after, hint.window, hint.retry_after):
            assert value is None or 0.0 <= value <= 86_400.0
        assert hint.remaining is None or hint.remaining >= 0


@given(st.floats(min_value=0, max_value=86_000, allow_nan=False).map(lambda f: round(f, 3)))
def test_window_resets_after_round_trip(seconds: float) -> None:
    """Any seconds value written in the B2B unit form reads back the same."""
    assert retry_after_hint({"X-Request-Window-Resets-After": f"{seconds} s"}, NOW) == seconds


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(st.integers(min_value=100, max_value=599), json_values | st.binary(max_size=40))
def test_any_response_is_data_or_b2b_error(status: int, payload: Any) -> None:
    """Whatever the status and body, decoding yields data or raises a library error."""
    raw = payload if isinstance(payload, bytes) else body(payload)
    with contextlib.suppress(APIError, ResponseDecodeError):
        decode_response(status, {}, raw, INFO, NOW)


@given(
    json_values,
    st.text(" \t\n\r", max_size=3),
    st.text(" \t\n\r", max_size=3) | st.sampled_from(["x", "\x0b", "\u00a0", "1", "}", " {}"]),
)
def test_body_decoding_accepts_exactly_what_json_loads_accepts(
    value: Any, before: str, after: str
) -> None:
    """A body is read just as ``json.loads`` reads it, or refused."""
    raw = (before + json.dumps(value) + after).encode()
    try:
        expected = json.loads(raw.decode())
    except ValueError:
        with pytest.raises(ResponseDecodeError, match="not JSON"):
            decode_response(200, {}, raw, INFO, NOW)
    else:
        assert decode_json(raw) == expected


#: The UTF-8 byte order mark, which RFC 8259 lets a JSON parser ignore (some stacks send it).
BYTE_ORDER_MARK = b"\xef\xbb\xbf"


def test_a_success_behind_a_byte_order_mark_is_read() -> None:
    """A UTF-8 byte order mark before the envelope is no reason to call a success garbled."""
    raw = BYTE_ORDER_MARK + body({"code": 200, "data": {"orderId": "BC1"}, "message": "Success"})
    assert decode(200, raw) == {"orderId": "BC1"}


def test_already_exists_behind_a_byte_order_mark_is_its_own_error() -> None:
    """The replay of a registration meets "already exists" whatever marks the body: read as a
    bare 400, a registered order would be reported refused."""
    payload = {"code": 40010, "data": {"errMsg": "The order already exists."}, "message": "x"}
    with pytest.raises(OrderAlreadyExistsError):
        decode(400, BYTE_ORDER_MARK + body(payload))


# --- secrets echoed by the server ---------------------------------------------------------------

SECRET_INFO = RequestInfo("POST", "https://x/api", ("tok-123", "hash9"))


def test_an_echoed_token_is_redacted_from_every_field_of_an_error() -> None:
    """Message, details (nested too), request id and str/repr never repeat a secret."""
    payload = {
        "code": 401,
        "data": {"errMsg": "invalid authToken tok-123", "seen": ["tok-123", {"k": "hash9"}]},
        "message": "tok-123",
    }
    with pytest.raises(AuthenticationError) as info:
        decode_response(401, {"X-Request-Id": "r-tok-123"}, body(payload), SECRET_INFO, NOW)
    error = info.value
    texts = [error.message, str(error), repr(error), json.dumps(error.details), error.request_id]
    assert all("tok-123" not in text and "hash9" not in text for text in texts if text)
    assert error.message == "invalid authToken ***"
    assert error.details["seen"] == ["***", {"k": "***"}]


def test_an_echoed_token_is_redacted_from_reason_and_body_excerpt() -> None:
    """A reason phrase or a garbled body holding the token is redacted, even across the cut."""
    with pytest.raises(ServerError) as failed:
        decode_response(500, {}, b"<html>", SECRET_INFO, NOW, reason="down tok-123")
    assert failed.value.message == "down ***"
    straddling = b" " * 298 + b"tok-123 garbage"
    with pytest.raises(ResponseDecodeError) as garbled:
        decode_response(200, {}, straddling, SECRET_INFO, NOW)
    assert "tok" not in garbled.value.body_excerpt
    assert "tok-123" not in str(garbled.value)


def error_of_forging_message(breaking: str) -> ServerError:
    """The error of a 503 whose message tries to forge a log line after ``breaking``."""
    payload = {"code": 503, "data": {}, "message": f"down{breaking}CRITICAL:root:forged"}
    with pytest.raises(ServerError) as failed:
        decode_response(503, {}, body(payload), INFO, NOW)
    return failed.value


@pytest.mark.parametrize(
    ("breaking", "shown"),
    [("\n", "\\n"), ("\r\n", "\\r\\n"), ("\x1b[31m\n", "\\x1b[31m\\n"), ("\x85", "\\x85")],
)
def test_an_error_message_holds_no_line_break_nor_terminal_escape(
    breaking: str, shown: str
) -> None:
    """A server's message that breaks its line or drives a terminal shows it escaped."""
    failed = error_of_forging_message(breaking)
    assert failed.message == f"down{shown}CRITICAL:root:forged"
    assert str(failed).isprintable()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2J\x1b[31mred\x07", "\\x1b[2J\\x1b[31mred\\x07"),
        ("del\x7f c1\x9b", "del\\x7f c1\\x9b"),
        ("tab\tnbsp\u00a0zwj\u200dé", "tab\tnbsp\u00a0zwj\u200dé"),  # kept as they are
    ],
)
def test_control_characters_are_shown_escaped_and_nothing_else(text: str, shown: str) -> None:
    assert visible(text) == shown


def test_a_huge_error_message_is_cut_and_says_how_much_more_it_held() -> None:
    """A message of megabytes is cut at MESSAGE_LIMIT characters, and the error says so."""
    payload = {"code": 400, "data": {}, "message": "x" * 3_000_000}
    with pytest.raises(BadRequestError) as failed:
        decode_response(400, {}, body(payload), INFO, NOW)
    more = 3_000_000 - MESSAGE_LIMIT
    assert failed.value.message == "x" * MESSAGE_LIMIT + f"... ({more} more characters)"


def test_a_secret_is_redacted_before_a_cut_message_could_keep_a_piece_of_it() -> None:
    """A token straddling the cut of a long message shows as ***, never as its first half."""
    payload = {"code": 401, "data": {}, "message": "x" * (MESSAGE_LIMIT - 3) + "tok-123"}
    with pytest.raises(AuthenticationError) as failed:
        decode_response(401, {}, body(payload), SECRET_INFO, NOW)
    assert failed.value.message == "x" * (MESSAGE_LIMIT - 3) + "***"


def test_a_cut_message_still_reads_as_already_exists() -> None:
    """The cut comes after the reading: a long "already exists" answer is still one."""
    payload = {"code": 400, "data": {}, "message": "The order already exists. " + "x" * 5000}
    with pytest.raises(OrderAlreadyExistsError):
        decode_response(400, {}, body(payload), INFO, NOW)


def test_a_message_within_the_limit_is_never_cut_however_many_escapes_it_needs() -> None:
    """The limit counts the server's characters: 800 of them, half line breaks, stay whole."""
    payload = {"code": 400, "data": {}, "message": "a\n" * 400}
    with pytest.raises(BadRequestError) as failed:
        decode_response(400, {}, body(payload), INFO, NOW)
    assert failed.value.message == "a\\n" * 400


def test_a_cut_message_splits_no_escape_and_counts_the_characters_it_left_out() -> None:
    """A long run of controls is cut between characters, and the count is of the server's."""
    payload = {"code": 400, "data": {}, "message": "\x1b" * (MESSAGE_LIMIT + 500)}
    with pytest.raises(BadRequestError) as failed:
        decode_response(400, {}, body(payload), INFO, NOW)
    assert failed.value.message == "\\x1b" * MESSAGE_LIMIT + "... (500 more characters)"


@pytest.mark.parametrize(
    ("breaking", "shown"),
    [
        ("\u2028", "\\u2028"),  # line separator: ends a line for str.splitlines and log viewers
        ("\u2029", "\\u2029"),  # paragraph separator
        ("\u202e", "\\u202e"),  # right-to-left override: the rest of the line reads reversed
        ("\u2066", "\\u2066"),  # left-to-right isolate
    ],
)
def test_an_error_message_holds_no_unicode_line_separator_nor_bidi_control(
    breaking: str, shown: str
) -> None:
    """A Unicode line separator or a bidi override in a message shows escaped, on one line."""
    failed = error_of_forging_message(breaking)
    assert failed.message == f"down{shown}CRITICAL:root:forged"
    assert str(failed).splitlines() == [str(failed)]


def test_a_request_id_is_shown_on_one_line_with_its_controls_escaped() -> None:
    """An X-Request-Id holding a terminal escape or a line separator shows them escaped."""
    headers = {"X-Request-Id": "req-1\x1b[2J\u2028CRITICAL:root:forged"}
    with pytest.raises(ServerError) as failed:
        decode_response(503, headers, body({"code": 503, "data": {}}), INFO, NOW)
    assert failed.value.request_id == "req-1\\x1b[2J\\u2028CRITICAL:root:forged"
    assert str(failed.value).isprintable()


def test_a_secret_after_wide_characters_is_redacted_from_the_excerpt() -> None:
    """The excerpt counts characters, not bytes: two-byte text before the token hides none of it."""
    garbled = ('{"code":"x","m":"' + "\u00e9" * 142 + 'tok-123"}').encode()
    with pytest.raises(ResponseDecodeError) as failed:
        decode_response(200, {}, garbled, SECRET_INFO, NOW)
    assert failed.value.body_excerpt == '{"code":"x","m":"' + "\u00e9" * 142 + '***"}'


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-16", "utf-32"])
def test_a_secret_in_a_body_of_wide_encoding_is_redacted_from_the_excerpt(encoding: str) -> None:
    """Read as UTF-8, UTF-16 puts a NUL beside each letter of the token, which no terminal
    shows: the excerpt drops them, and the token they hid is redacted."""
    garbled = '{"code": 401, "message": "bad token tok-123"}'.encode(encoding)
    with pytest.raises(ResponseDecodeError) as failed:
        decode_response(200, {}, garbled, SECRET_INFO, NOW)
    excerpt = failed.value.body_excerpt
    assert "tok-123" not in excerpt
    assert "\x00" not in excerpt
    assert "bad token ***" in excerpt


def test_a_secret_written_with_escapes_is_redacted_from_the_excerpt() -> None:
    """A body that is not an object shows its escaped secret nowhere, unescaped or not."""
    escaped = b'["\\u0074ok-123", "a\\/b", "\\ud800"]'
    with pytest.raises(ResponseDecodeError) as failed:
        decode_response(200, {}, escaped, SECRET_INFO, NOW)
    assert failed.value.body_excerpt == '["***", "a/b", "\\ud800"]'


def test_escapes_before_a_secret_do_not_cut_it_short_of_redaction() -> None:
    """Six bytes of escape make one character: the excerpt reads enough to hold the secret,
    itself written in escapes."""
    secret = "".join(f"\\u{ord(char):04x}" for char in "tok-123").encode()
    garbled = b'{"code": 200, "data": "' + b"\\u0061" * 216 + secret
    with pytest.raises(ResponseDecodeError) as failed:
        decode_response(200, {}, garbled, SECRET_INFO, NOW)
    assert failed.value.body_excerpt == '{"code": 200, "data": "' + "a" * 216 + "***"


@pytest.mark.parametrize(
    "written",
    [b"tok-0123456789abcdef", b"".join(b"\\u%04x" % char for char in b"tok-0123456789abcdef")],
    ids=["plain", "in-escapes"],
)
def test_a_secret_cut_off_by_the_end_of_the_read_leaves_no_part_in_the_excerpt(
    written: bytes,
) -> None:
    """Controls the excerpt drops can fill all that is read of a body but the start of a
    secret: that start is not shown, wherever the read ends in it."""
    info = RequestInfo("GET", "https://x/api", secrets_of({"authToken": "tok-0123456789abcdef"}))
    for padding in range(0, 3000, 7):
        garbled = b"\x00" * padding + written + b" and more"
        with pytest.raises(ResponseDecodeError) as failed:
            decode_response(200, {}, garbled, info, NOW)
        excerpt = failed.value.body_excerpt
        assert "tok-" not in excerpt
        assert "0123" not in excerpt
        assert "\\u0030" not in excerpt


def test_a_secret_percent_encoded_in_lower_case_or_in_part_is_redacted() -> None:
    """Encoders differ in the case of their hex digits (.NET writes ``%2f``) and in which
    characters they leave alone (JavaScript keeps ``!``): a secret they encode is redacted
    from the message, the request id, the details and a success's data alike."""
    token = "ab/c+d!e"
    info = RequestInfo("POST", "https://x/api", secrets_of({"authToken": token}))
    for echo in ("ab%2fc%2bd%21e", "ab%2Fc%2Bd!e"):
        payload = {"code": 401, "message": f"bad {echo}", "data": {"seen": [echo]}}
        with pytest.raises(AuthenticationError) as failed:
            decode_response(401, {"X-Request-Id": echo}, body(payload), info, NOW)
        error = failed.value
        assert (error.message, error.request_id, error.details) == (
            "bad ***",
            "***",
            {"seen": ["***"]},
        )
        success = body({"code": 200, "data": {"note": f"x {echo}"}})
        assert decode_response(200, {}, success, info, NOW).data == {"note": "x ***"}


def test_a_request_id_that_spells_a_secret_in_escapes_is_redacted() -> None:
    """A header is no JSON, but a token written there in JSON escapes is read at a glance:
    the request id shows it redacted; one that only looks escaped stays as sent."""
    escaped = "".join(f"\\u{ord(char):04x}" for char in "tok-123")
    with pytest.raises(ServerError) as failed:
        decode_response(500, {"X-Request-Id": f"r-{escaped}"}, b"", SECRET_INFO, NOW)
    assert failed.value.request_id == "r-***"
    with pytest.raises(ServerError) as plain:
        decode_response(500, {"X-Request-Id": "r-\\u0041"}, b"", SECRET_INFO, NOW)
    assert plain.value.request_id == "r-\\u0041"


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b'{"code": 500, "message": "down \\ud800 now"}', ""), (b"", "down \udcff now")],
    ids=["escape-in-the-body", "byte-in-the-reason-phrase"],
)
def test_a_lone_surrogate_in_a_message_is_replaced_so_it_can_be_printed(
    body: bytes, reason: str
) -> None:
    """A message holding a lone surrogate would fail every print and log line: it shows
    U+FFFD in its place."""
    with pytest.raises(ServerError) as failed:
        decode_response(500, {}, body, SECRET_INFO, NOW, reason=reason)
    assert failed.value.message == "down \ufffd now"
    str(failed.value).encode("utf-8")


def test_text_that_spells_a_secret_in_escapes_is_redacted_everywhere() -> None:
    """A string whose text writes the token in JSON escapes (an escaped backslash on the
    wire) is shown decoded and redacted, in the details and the data alike."""
    spelt = "".join(f"\\\\u{ord(char):04x}" for char in "tok-123")
    raw = f'{{"code": 400, "data": {{"errMsg": "bad", "echo": "x {spelt}"}}}}'.encode()
    with pytest.raises(BadRequestError) as failed:
        decode_response(400, {}, raw, SECRET_INFO, NOW)
    assert failed.value.details == {"errMsg": "bad", "echo": "x ***"}
    success = raw.replace(b'"code": 400', b'"code": 200')
    assert decode_response(200, {}, success, SECRET_INFO, NOW).data["echo"] == "x ***"


def test_a_long_secret_is_found_in_any_case_a_short_one_as_written() -> None:
    """Sixteen characters or more: found however the server cased them; fewer: only as
    written, so that ordinary values holding the letters are left alone."""
    secrets = ("tok-0123456789abcdef", "hash9")
    text = "TOK-0123456789ABCDEF Tok-0123456789abcdef HASH9 hash9"
    assert redact(text, secrets) == "*** *** HASH9 ***"


def test_escapes_elsewhere_in_a_text_do_not_hide_a_secret_written_plainly() -> None:
    """A text is redacted as written and as its escapes spell it: an escaped hash, or a
    broken escape just before the token, leaves neither secret behind."""
    secrets = ("abcdef0123456789xyz", "hash9")
    hash_escaped = "".join(f"\\u{ord(char):04x}" for char in "hash9")
    assert redact(f"{hash_escaped} \\u00abcdef0123456789xyz", secrets) == "*** \\u00***"


def test_a_short_value_is_found_only_as_written_whatever_its_encoded_length() -> None:
    """A store hash under 16 characters whose percent-encoded form is longer still matches
    only in its own case, so unrelated text in upper case stays."""
    secrets = secrets_of({"X-Store-Hash": "abcdefghij\u00e9"})
    assert redact("ABCDEFGHIJ%C3%A9 abcdefghij%C3%A9", secrets) == "ABCDEFGHIJ%C3%A9 ***"


def test_a_token_echoed_form_encoded_or_html_escaped_is_redacted() -> None:
    """A form's encoding (spaces as +) and an error page's HTML escaping are echoes too."""
    token = 'my token "0123456789abcdef" & <more>'
    info = RequestInfo("POST", "https://x/api", secrets_of({"authToken": token}))
    for echo in (quote_plus(token), html.escape(token)):
        payload = {"code": 401, "data": {"errMsg": f"bad token {echo}"}, "message": "no"}
        with pytest.raises(AuthenticationError) as failed:
            decode_response(401, {"X-Request-Id": echo}, body(payload), info, NOW)
        texts = [failed.value.message, str(failed.value), repr(failed.value)]
        texts.append(failed.value.request_id or "")
        assert not any(echo in text for text in texts)
        assert failed.value.message == "bad token ***"


def test_a_secret_used_as_a_key_is_redacted_from_the_details() -> None:
    """A key that holds a secret is redacted as a value is, in an error's details too."""
    payload = {"code": 400, "data": {"tok-123": "invalid", "nested": [{"hash9": 1}]}}
    with pytest.raises(BadRequestError) as failed:
        decode_response(400, {}, body(payload), SECRET_INFO, NOW)
    assert failed.value.details == {"***": "invalid", "nested": [{"***": 1}]}


def test_a_secret_used_as_a_key_of_a_success_is_redacted() -> None:
    """A success's data is redacted in its keys too, so no model, ``raw`` mapping or decode
    error built from it holds the secret; the keys the models read stay as they are."""
    payload = {"code": 200, "data": {"orderId": "1", "isArchived": {"tok-123": 1}}}
    envelope = decode_response(200, {}, body(payload), SECRET_INFO, NOW)
    assert envelope.data == {"orderId": "1", "isArchived": {"***": 1}}


SECRETS = SECRET_INFO.secrets
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(["x", "tok-123", "a hash9 b", "é"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)


@given(json_values, st.booleans())
def test_decoding_redacts_as_walking_every_string_would(value: Any, ascii_only: bool) -> None:
    """Skipping the walk for a body holding no secret and no escape never changes the result."""
    text = json.dumps({"data": value}, ensure_ascii=ascii_only)
    assert decode_json(text.encode(), SECRETS) == redact({"data": value}, SECRETS)


def test_a_secret_hidden_in_escapes_is_redacted() -> None:
    """A token the server writes with unicode escapes is redacted from a success's data."""
    escaped = "".join(f"\\u{ord(char):04x}" for char in "tok-123")
    raw = f'{{"code": 200, "data": {{"note": "echo {escaped}"}}}}'.encode()
    assert b"tok-123" not in raw  # no plain search of the body would find it
    assert decode_response(200, {}, raw, SECRET_INFO, NOW).data == {"note": "echo ***"}


def test_redact_leaves_other_values_alone() -> None:
    """Numbers, flags and None pass through; without secrets nothing is copied."""
    value = {"a": [1, 2.5, True, None], "b": "plain"}
    assert redact(value, ("tok",)) == value
    assert redact(value, ()) is value


def test_secrets_show_only_their_count_in_a_repr() -> None:
    """Secrets are a tuple whose repr (and so a RequestInfo's) names none of them."""
    secrets = Secrets(("a-token-value", "storehash"))
    info = RequestInfo("POST", "https://example.com/x", secrets)
    assert secrets == ("a-token-value", "storehash")
    assert repr(secrets) == "<2 secrets hidden>"
    assert "a-token-value" not in repr(info)
    assert "storehash" not in repr(info)
    assert redact("a-token-value!", secrets) == "***!"


@pytest.mark.parametrize(("code", "expected"), [(200.0, None), (40010.0, BadRequestError)])
def test_a_whole_body_code_written_as_a_float_is_read(
    code: float, expected: type[Exception] | None
) -> None:
    """Every V2 schema types ``code`` as ``number``, so ``200.0`` is as valid as ``200``: it
    reads the same, success or error (b2b-v2-openapi.yaml, each ``responses.*.code``)."""
    if expected is None:
        assert decode(200, {"code": code, "data": {"orderId": "1"}}) == {"orderId": "1"}
        return
    with pytest.raises(expected) as info:
        decode(200, {"code": code, "data": {}, "message": "Bad Request Error"})
    assert isinstance(info.value, APIError)
    assert info.value.code == int(code)


@pytest.mark.parametrize("code", [200.5, float("nan"), 1e30])
def test_a_float_body_code_with_a_fraction_or_too_long_is_not_a_code(code: float) -> None:
    """A fraction, NaN or a number of more digits than any code is still no body code."""
    with pytest.raises(ResponseDecodeError) as info:
        decode(200, {"code": code, "data": {}})
    assert info.value.path == "$.code"


def test_only_a_2xx_status_is_a_success() -> None:
    """The bounds of success: 200 and 299 are, 199 and 300 are not."""
    assert [is_success(status) for status in (199, 200, 299, 300)] == [False, True, True, False]


def test_an_allocation_of_one_request_per_window_longer_than_the_cap_is_dropped() -> None:
    """One request per 10 s is a pace slower than a cap of 6 s: the allocation is dropped."""
    capped = BudgetHint(remaining=4, limit=1, window=10.0).capped(6.0)
    assert (capped.limit, capped.window, capped.remaining) == (None, None, 4)


def test_a_capped_hint_waits_no_longer_than_the_cap() -> None:
    """A cooldown or a window reset longer than the cap is cut to it; a shorter one stays."""
    hint = BudgetHint(remaining=0, resets_after=40.0, retry_after=90.0)
    assert hint.capped(30.0) == BudgetHint(remaining=0, resets_after=30.0, retry_after=30.0)
    assert hint.capped(60.0) == BudgetHint(remaining=0, resets_after=40.0, retry_after=60.0)


def test_an_error_code_of_a_2xx_without_a_message_falls_back_to_the_reason() -> None:
    """A success status whose body code names an error, and no message, uses the HTTP reason."""
    raw = body({"code": 40310, "data": {}})
    with pytest.raises(PermissionDeniedError) as info:
        decode_response(200, {}, raw, INFO, NOW, reason="Blocked by policy")
    assert info.value.message == "Blocked by policy"


def test_a_long_secret_cut_off_by_the_read_leaves_no_part_beside_a_shorter_secret() -> None:
    """The part of a body kept back from the cut is as long as the longest secret needs,
    however short the other secrets are."""
    auth = {"authToken": "tok-0123456789abcdef", "storeHash": "abcdefghij"}
    info = RequestInfo("GET", "https://x/api", secrets_of(auth))
    written = b"".join(b"\\u%04x" % char for char in b"tok-0123456789abcdef")
    for padding in range(0, 3000, 7):
        garbled = b"\x00" * padding + written + b" and more"
        with pytest.raises(ResponseDecodeError) as failed:
            decode_response(200, {}, garbled, info, NOW)
        assert "\\u0030" not in failed.value.body_excerpt


def test_without_secrets_an_excerpt_reads_six_bytes_for_each_character_it_shows() -> None:
    """With no secret to hold back, 1,800 bytes of a body are read, the controls among them
    dropped, and nothing of what was read is cut from the end."""
    garbled = b"\x00" * 1790 + b"visible text and more"
    with pytest.raises(ResponseDecodeError) as failed:
        decode_response(200, {}, garbled, INFO, NOW)
    assert failed.value.body_excerpt == "visible te"


@pytest.mark.parametrize(
    ("garbled", "excerpt"),
    [
        (b"\x00" * (420 * 6 - 7) + b"visible", "visible"),
        (b"\x00" * (420 * 6 - 10) + b"tok-0123456789abcdef and more", ""),
    ],
    ids=["its end kept", "a secret it cuts hidden"],
)
def test_an_excerpt_read_to_its_limit_keeps_the_end_and_hides_a_secret_it_cuts(
    garbled: bytes, excerpt: str
) -> None:
    """A body no longer than what is read has nothing cut off by the read: its end is shown.
    When all that is read after the controls is the start of a secret, the excerpt is empty."""
    info = RequestInfo("GET", "https://x/api", secrets_of({"authToken": "tok-0123456789abcdef"}))
    with pytest.raises(ResponseDecodeError) as failed:
        decode_response(200, {}, garbled, info, NOW)
    assert failed.value.body_excerpt == excerpt


def test_a_secret_with_characters_next_to_the_surrogates_is_found_in_escapes() -> None:
    """U+D7FF and U+E000, just outside the surrogates, are read from their escapes."""
    secret = "tok-0123456789\ud7ff\ue000"
    assert redact("x tok-0123456789\\ud7ff\\ue000 y", (secret,)) == "x *** y"


def test_the_escape_of_the_last_lone_surrogate_stays_as_written() -> None:
    """Escapes read to find a secret leave a lone surrogate's, up to U+DFFF, as written."""
    text = "\\u0074ok-0123456789abcdef \\udfff"
    assert redact(text, ("tok-0123456789abcdef",)) == "*** \\udfff"


def test_a_wait_hint_of_exactly_the_most_a_hint_may_ask_is_read() -> None:
    """MAX_WAIT_HINT seconds is still a sane hint; only more is absurd."""
    assert retry_after_hint({"Retry-After": f"{MAX_WAIT_HINT}"}, NOW) == MAX_WAIT_HINT


@pytest.mark.parametrize(
    "hint", [BudgetHint(window=30.0), BudgetHint(limit=150)], ids=["window-only", "limit-only"]
)
def test_half_an_allocation_is_kept_as_it_is_when_capped(hint: BudgetHint) -> None:
    """A limit without a window, or a window without a limit, names no pace: capping keeps it."""
    assert hint.capped(1.0) == hint


def test_the_b2b_window_reset_wins_over_the_core_apis() -> None:
    """With both reset headers present, the B2B one's seconds are the window's reset."""
    headers = {"X-Request-Window-Resets-After": "2.5 s", "X-Rate-Limit-Time-Reset-Ms": "3000"}
    assert parse_budget(200, headers, NOW) == BudgetHint(resets_after=2.5)


def test_an_http_date_too_far_off_to_hold_is_no_hint() -> None:
    """A Retry-After date whose year has too many digits to count is ignored, not raised."""
    value = "Fri, 15 Jan 99999999999999999999 08:00:30 GMT"
    assert retry_after_hint({"Retry-After": value}, NOW) is None


@pytest.mark.parametrize("value", ["2027-01-15T08:00:30Z", "2027-01-15", "08:00:30", "1_000"])
def test_a_number_that_runs_on_into_a_date_or_a_time_is_no_hint(value: str) -> None:
    """A value whose digits run on into a date or a time is unreadable, not its first number."""
    assert parse_number(value) is None
    assert retry_after_hint({"Retry-After": value, "X-Retry-After": value}, NOW) is None


def test_a_retry_after_date_that_starts_with_its_day_is_read_as_a_date() -> None:
    """A Retry-After date without its weekday waits until that date, not its day's seconds."""
    assert retry_after_hint({"Retry-After": "15 Jan 2027 08:00:30 GMT"}, NOW) == 30.0


def test_an_asctime_retry_after_is_utc_whatever_the_hosts_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The asctime form names no zone and is UTC, on a host whose local zone is another."""
    monkeypatch.setenv("TZ", "EST5")
    time.tzset()
    try:
        assert retry_after_hint({"Retry-After": "Fri Jan 15 08:00:30 2027"}, NOW) == 30.0
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize("value", ["12e3", "5.", "5. s"])
def test_a_number_with_an_exponent_or_a_bare_point_is_unreadable(value: str) -> None:
    """Digits before an exponent, or a point with no fraction after it, make no number."""
    assert parse_number(value) is None


def test_an_asctime_date_with_a_two_digit_year_is_ignored() -> None:
    """The asctime form has a four-digit year: with two, the date is zone-less and ambiguous."""
    assert parse_http_date("Fri Jan 15 08:00:30 27", NOW) is None


def test_a_host_clock_more_than_the_dates_second_ahead_reads_against_the_date() -> None:
    """A host clock 1.5 s past the answer's Date is off it: the Retry-After date counts from
    the Date."""
    headers = {"Date": http_date(NOW), "Retry-After": http_date(NOW + 2)}
    assert retry_after_hint(headers, NOW + 1.5) == 2.0


@pytest.mark.parametrize(
    ("value", "window"),
    [
        (" 150 times/60 s", 60.0),
        ("150times/60s", 60.0),
        ("150 times / 60 s", 60.0),
        ("150 Times/60 S", 60.0),
        ("150 times/60.5 s", 60.5),
    ],
)
def test_an_allocation_is_read_however_it_is_spaced(value: str, window: float) -> None:
    """An allocation is read with or without spaces around its parts, in any case, and a
    window with a fraction."""
    hint = parse_budget(200, {"X-Requests-Allocated": value}, NOW)
    assert hint == BudgetHint(limit=150, window=window)


def test_an_allocation_whose_window_has_ten_digits_is_not_read() -> None:
    """A window of ten digits or more is noise: the allocation is dropped, its count too."""
    assert parse_budget(200, {"X-Requests-Allocated": "150 times/1000000000 s"}, NOW) == (
        BudgetHint()
    )


@pytest.mark.parametrize(
    ("name", "value", "hint"),
    [
        ("X-Requests-Remaining", "5 times", BudgetHint(remaining=5)),
        ("X-Request-Window-Resets-After", "2 s", BudgetHint(resets_after=2.0)),
        ("X-Requests-Allocated", "150 times/60 s", BudgetHint(limit=150, window=60.0)),
        ("X-Rate-Limit-Requests-Left", "5", BudgetHint(remaining=5)),
        ("X-Rate-Limit-Time-Reset-Ms", "2000", BudgetHint(resets_after=2.0)),
        ("X-Rate-Limit-Requests-Quota", "150", BudgetHint(limit=150)),
    ],
)
def test_each_budget_header_alone_gives_a_hint(name: str, value: str, hint: BudgetHint) -> None:
    """Any one of the budget headers, with no other, is read into a hint."""
    assert parse_budget(200, {name: value}, NOW) == hint


def test_an_asctime_retry_after_with_spaces_around_it_is_read() -> None:
    """Spaces around an asctime date do not make it ambiguous: it is still UTC."""
    assert retry_after_hint({"Retry-After": " Fri Jan 15 08:00:30 2027 "}, NOW) == 30.0


@pytest.mark.parametrize("zone", ["XYZ", "-0000"])
def test_an_asctime_date_with_an_unknown_zone_after_it_is_ignored(zone: str) -> None:
    """An asctime date followed by a zone no one knows is not asctime: it is ambiguous."""
    assert parse_http_date(f"Fri Jan 15 08:00:30 2027 {zone}", NOW) is None


def test_a_quota_too_large_for_a_float_is_not_read() -> None:
    """A core quota of hundreds of digits is no number, and reading it raises nothing."""
    assert parse_budget(200, {"X-Rate-Limit-Requests-Quota": "9" * 400}, NOW) == BudgetHint()


def test_a_separator_control_before_a_number_is_skipped_like_a_space() -> None:
    """The information separators (U+001C to U+001F) count as whitespace before a number."""
    assert parse_number("\x1c5 s") == 5.0


@pytest.mark.parametrize(
    "value",
    [
        "15 Jan 2027 08:00:30",
        "15 Jan 2027 08:00:30 CET",
        "15 Jan 99999999999999999999 08:00:30 GMT",
    ],
    ids=["no-zone", "unknown-zone", "too-far-off"],
)
def test_a_retry_after_date_that_starts_with_its_day_and_cannot_be_read_is_no_hint(
    value: str,
) -> None:
    """A day-first Retry-After date without a known zone, or too far off to hold, is ignored,
    not read as its day's seconds."""
    assert retry_after_hint({"Retry-After": value}, NOW) is None


@pytest.mark.parametrize(
    "name", ["X-Retry-After", "X-Request-Window-Resets-After", "X-Rate-Limit-Time-Reset-Ms"]
)
@pytest.mark.parametrize(
    "value", ["15 Jan 2027 08:00:30 GMT", "Fri, 15 Jan 2027 08:00:30 GMT", "5 Jan 2027 1:02"]
)
def test_a_date_in_a_header_of_seconds_is_no_hint(name: str, value: str) -> None:
    """A header that holds seconds only is no hint when it holds a date, not its day."""
    assert retry_after_hint({name: value}, NOW) is None


@pytest.mark.parametrize("name", ["X-Requests-Remaining", "X-Rate-Limit-Requests-Left"])
def test_a_date_in_a_count_header_is_no_count(name: str) -> None:
    """A remaining count that holds a date is no count, not its day."""
    hint = parse_budget(200, {name: "15 Jan 2027 08:00:30 GMT"}, NOW)
    assert hint == BudgetHint()


@pytest.mark.parametrize("value", ["0x10", "0X10", "0xff", "0b101", "0o17", "2s5", "1x"])
def test_a_number_that_runs_on_into_other_digits_or_a_hex_prefix_is_none(value: str) -> None:
    """A number followed by a hex prefix, or by letters that run on into digits, is none."""
    assert parse_number(value) is None
    assert retry_after_hint({"Retry-After": value, "X-Retry-After": value}, NOW) is None


@pytest.mark.parametrize(
    ("value", "number"),
    [("2s", 2.0), ("2 s", 2.0), ("1500ms", 1500.0), ("0.39s, 1s", 0.39), ("3 seconds", 3.0)],
)
def test_a_number_with_a_unit_word_after_it_is_read(value: str, number: float) -> None:
    """A unit written as a word of letters after a number leaves the number readable."""
    assert parse_number(value) == number


@pytest.mark.parametrize(
    "header", ["X-Requests-Remaining", "X-Rate-Limit-Requests-Left"], ids=["b2b", "core"]
)
@pytest.mark.parametrize("digits", [308, 309, 400, 5000])
def test_a_remaining_count_of_any_length_past_the_most_reads_as_the_most(
    header: str, digits: int
) -> None:
    """A remaining count past a float's range says plenty is left, like a shorter one."""
    hint = parse_budget(200, {header: "9" * digits}, NOW)
    assert hint == BudgetHint(remaining=MAX_WINDOW_REQUESTS)


@pytest.mark.parametrize("quota", ["1000000000", "1" * 10, "1" + "0" * 300, "7" * 308])
def test_a_quota_of_ten_digits_or_more_is_noise_like_an_allocation(quota: str) -> None:
    """A core quota of ten digits or more is not read, as an allocated count of as many is not."""
    headers = {"X-Rate-Limit-Requests-Quota": quota, "X-Rate-Limit-Requests-Left": "3"}
    assert parse_budget(200, headers, NOW) == BudgetHint(remaining=3)


def test_a_quota_of_nine_digits_is_read() -> None:
    """A core quota of nine digits is read as it is, as an allocated count of as many is."""
    hint = parse_budget(200, {"X-Rate-Limit-Requests-Quota": "999999999"}, NOW)
    assert hint == BudgetHint(limit=999_999_999)


@pytest.mark.parametrize("value", ["1e", "2E", "2E s"])
def test_an_exponent_mark_without_digits_after_a_number_makes_it_unreadable(value: str) -> None:
    """An exponent's mark after a number makes the value unreadable even with no digits after it."""
    assert parse_number(value) is None


def test_an_asctime_date_with_a_comma_after_its_day_name_is_ambiguous() -> None:
    """A zone-less date with a comma after its day name is not the asctime form: it is ignored."""
    assert parse_http_date("Fri, Jan 15 08:00:30 2027", NOW) is None
