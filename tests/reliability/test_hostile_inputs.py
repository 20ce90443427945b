"""Hostile inputs: every id, total and text is either a sendable request or InvalidOrderError.

Hypothesis draws ids, totals and texts an adversary (or a bad export) would hand over: lone
surrogates, control characters, blanks, NaN and infinity spelt as text, huge and tiny
exponents, numbers past Python's digit limit, bools, bytes, very long strings, non-ASCII
digits. Each goes through :class:`~b2b_async.NewOrder`, :class:`~b2b_async.NewV3Order`, the
CLI's row reader and ``create_many`` against the sandbox. The only allowed results are an
order whose request can be sent (its path and body are UTF-8, its body strict JSON whose
total a double-based parser reads back exactly) or :class:`~b2b_async.InvalidOrderError`.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b2b_async import APIError, B2BClient, InvalidOrderError, NewOrder, NewV3Order
from b2b_async._journal import BadRow, Row, V3Row, bad_row_entry, read_rows
from b2b_async._routes import v3_path
from b2b_async._serde import encode_model
from b2b_async._v2 import registration
from b2b_async.sandbox import DEFAULT_TOKEN, SandboxServer

HYPOTHESIS: Final = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- hostile values ------------------------------------------------------------------------

ANY_CHARACTER: Final = st.characters(codec=None)  # surrogates and control characters included
NASTY_TEXT: Final = st.sampled_from(
    [
        "88\ud800",
        "\udfff",
        "\ud83d",
        "١٢٣",
        "\uff11\uff12\uff13",  # fullwidth digits
        "²",
        "nan",
        "NaN",
        "-inf",
        "Infinity",
        "sNaN",
        "1e400",
        "1E-400",
        "1E+5000",
        "1e-5000",
        " 12 ",
        "1_000",
        "0x10",
        "",
        "   ",
        "\t\n",
        "\u2028",
        "\x00",
        "a\r\nX-Evil: 1",
        "..",
        "a/b?c#d",
        "9" * 5000,
        "x" * 1025,
        "\U0001f600" * 256,
        "\U0001f600" * 257,
    ]
)
TEXT: Final = st.one_of(
    NASTY_TEXT,
    st.text(ANY_CHARACTER, max_size=20),
    st.text(ANY_CHARACTER, min_size=200, max_size=400),
)
NUMBER_TEXT: Final = st.builds(
    "{}{}e{}".format,
    st.sampled_from(["", "-", "+", " "]),
    st.integers(min_value=0, max_value=10**40),
    st.integers(min_value=-6000, max_value=6000),
)
IDS: Final = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from([10**5000, -(10**5000), 2**53, 2**53 - 1, 0]),
    TEXT,
    st.booleans(),
    st.binary(max_size=8),
    st.none(),
    st.floats(),
)
TOTALS: Final = st.one_of(
    st.decimals(),
    st.decimals(allow_nan=False, allow_infinity=False, min_value=0, places=2),
    st.floats(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.just(10**5000),
    NUMBER_TEXT,
    TEXT,
    st.booleans(),
    st.binary(max_size=8),
    st.none(),
)
PO_NUMBERS: Final = st.one_of(st.none(), TEXT, st.integers(), st.binary(max_size=4))

# --- what "sendable" means ------------------------------------------------------------------


def assert_sendable_body(body: bytes) -> dict[str, Any]:
    """The body is UTF-8, strict JSON, and every text in it is valid Unicode."""
    payload = json.loads(body.decode("utf-8"), parse_constant=reject_constant)
    json.dumps(payload, ensure_ascii=False).encode("utf-8")  # no lone surrogate inside
    assert isinstance(payload, dict)
    return payload


def reject_constant(name: str) -> None:
    raise AssertionError(f"the body holds {name}, which JSON has not")


def assert_sendable_v2(order: NewOrder) -> None:
    """The registration's path and body can be sent, and carry the total exactly."""
    request = registration(order)
    request.path.encode("ascii")  # percent-encoded: nothing else may reach the wire
    payload = assert_sendable_body(request.body or b"")
    read_back = json.loads(json.dumps(payload["totalIncTax"]), parse_int=float)
    assert Decimal(repr(read_back)) == order.total_inc_tax


def assert_sendable_v3(order: NewV3Order) -> None:
    """The V3 registration's body can be sent, with ids a double holds exactly."""
    payload = assert_sendable_body(encode_model(order))
    assert float(payload["bcOrderId"]) == order.bc_order_id
    v3_path("/orders/{bc_order_id}", bc_order_id=order.bc_order_id).encode("ascii")


# --- the properties -------------------------------------------------------------------------


@HYPOTHESIS
@given(IDS, IDS, IDS, TOTALS, PO_NUMBERS)
def test_new_order_is_sendable_or_refused(
    company: Any, customer: Any, order_id: Any, total: Any, po: Any
) -> None:
    """NewOrder either refuses with InvalidOrderError or builds a request that can be sent."""
    try:
        order = NewOrder(company, customer, order_id, total, po)
    except InvalidOrderError:
        return
    assert_sendable_v2(order)


@HYPOTHESIS
@given(IDS, IDS, PO_NUMBERS, st.none() | st.dictionaries(TEXT, IDS | TEXT, max_size=3))
def test_new_v3_order_is_sendable_or_refused(
    bc_order_id: Any, customer: Any, po: Any, extra: Any
) -> None:
    """NewV3Order either refuses with InvalidOrderError or builds a body that can be sent."""
    try:
        order = NewV3Order(bc_order_id, customer, po, extra)
    except InvalidOrderError:
        return
    assert_sendable_v3(order)


JSON_VALUES: Final = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**300), max_value=10**300),
    st.floats(),
    TEXT,
    st.lists(st.integers(), max_size=2),
)


@settings(HYPOTHESIS, max_examples=100)
@given(
    st.lists(
        st.fixed_dictionaries(
            {},
            optional=dict.fromkeys(
                (
                    "company_id",
                    "customer_id",
                    "order_id",
                    "total_inc_tax",
                    "po_number",
                    "bc_order_id",
                    "extra_fields",
                ),
                JSON_VALUES,
            ),
        ),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from(["v2", "v3"]),
)
def test_row_reader_yields_sendable_orders_or_bad_rows(
    tmp_path_factory: Any, rows: list[dict[str, Any]], api: Any
) -> None:
    """Every JSONL line becomes a sendable order or a BadRow whose journal line encodes."""
    path: Path = tmp_path_factory.mktemp("rows") / "orders.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    read = list(read_rows(path, api=api))
    assert len(read) == len(rows)
    for row in read:
        if isinstance(row, BadRow):
            json.dumps(bad_row_entry(row)).encode("utf-8")
        elif isinstance(row, Row):
            assert_sendable_v2(row.order)
        else:
            assert isinstance(row, V3Row)
            assert_sendable_v3(row.order)


#: Valid at the edge: every one must reach the sandbox, so the property never holds vacuously.
EDGE_ORDERS: Final = (
    NewOrder(
        None,
        1,
        "\U0001f600" * 256,
        Decimal("9.99999999999999E+307"),
        "\x00\u2028",
    ),
    NewOrder(None, "١٢٣", "..", "1E-307"),
    NewOrder(None, 1, "a/b?c#d", 0, "\U0001f600" * 1000),
)
MOSTLY_VALID_IDS: Final = st.integers(min_value=0, max_value=10**6) | IDS
MOSTLY_VALID_TOTALS: Final = (
    st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False) | TOTALS
)


@settings(HYPOTHESIS, max_examples=25)
@given(
    st.lists(
        st.tuples(MOSTLY_VALID_IDS, MOSTLY_VALID_IDS, MOSTLY_VALID_TOTALS, PO_NUMBERS),
        min_size=1,
        max_size=8,
    )
)
def test_create_many_sends_every_accepted_order_and_the_sandbox_answers(
    drawn: list[tuple[Any, Any, Any, Any]],
) -> None:
    """Accepted orders all reach the sandbox and get an answer; none sinks the batch."""
    orders = list(EDGE_ORDERS)
    for customer, order_id, total, po in drawn:  # a repeated id is "already registered"
        try:
            orders.append(NewOrder(None, customer, order_id, total, po))
        except InvalidOrderError:
            continue
    asyncio.run(register_against_sandbox(orders))


async def register_against_sandbox(orders: list[NewOrder]) -> None:
    """create_many the orders: each is registered or refused by an answer of the sandbox."""
    async with SandboxServer(rate=None) as server:
        async with B2BClient(
            DEFAULT_TOKEN, base_url=server.url, rate_limit=None, retry=None
        ) as client:
            report = await client.orders.create_many(orders, concurrency=4)
        assert len(report) == len(orders)
        for outcome in report.failed:
            assert isinstance(outcome.error, APIError), outcome.error
        assert len(server.requests) == len(orders)
        # Known customers (1): registered; the unknown "١٢٣" is answered with a 404.
        assert report.outcomes[0].ok
        assert report.outcomes[2].ok
