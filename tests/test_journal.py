"""Reading files of orders and the results journal: pure functions, no loop, no network."""

from __future__ import annotations

import errno
import gc
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from b2b_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    B2BError,
    BadRequestError,
    CreatedOrder,
    InvalidOrderError,
    NewOrder,
    NewV3Order,
    NotFoundError,
    OrderOutcome,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    UnprocessableEntityError,
)
from b2b_async._journal import (
    Api,
    BadRow,
    CorruptJournalError,
    ForeignJournalError,
    InputFileError,
    Journal,
    JournalInUseError,
    JournalWriteError,
    Row,
    V3Row,
    bad_row_entry,
    count_rows,
    creation_time,
    describe,
    entry_for,
    pending,
    read_entry,
    read_rows,
    status_of,
    target_of,
)

HEADER = "company_id,customer_id,order_id,total_inc_tax,po_number\n"
ORDER = NewOrder("1", "2", "BC1", Decimal("9.99"), "PO-1")
PROD = "https://api-b2b.bigcommerce.com"


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def outcome_with(
    error: B2BError | None = None, result: CreatedOrder | None = None
) -> OrderOutcome[Any, Any]:
    return OrderOutcome(0, ORDER, result=result, error=error)


def api_error(kind: type[APIError], status: int) -> APIError:
    return kind("refused", status=status, code=status, request_id="req-1")


def test_csv_rows_are_orders_with_their_line_numbers(tmp_path: Path) -> None:
    """A CSV with the header gives one Row per data line, numbered as in the file."""
    path = write(tmp_path, "in.csv", HEADER + "1,2,BC1,9.99,PO-1\n,3,BC2,10,\n")
    rows = list(read_rows(path))
    assert rows == [
        Row(2, ORDER),
        Row(3, NewOrder(None, "3", "BC2", Decimal(10), None)),
    ]


def test_a_row_giving_an_order_id_other_values_than_its_first_row_is_refused(
    tmp_path: Path,
) -> None:
    """The same order id again with another total (or any other value) is a bad row that
    names the first one's line; again with the same values (a total written 9.990 for
    9.99 included), it is the same order."""
    text = "1,2,BC1,9.99,PO-1\n1,2,BC1,99.00,PO-1\n1,2,BC1,9.990,PO-1\n,5,BC2,1,\n"
    rows = list(read_rows(write(tmp_path, "in.csv", HEADER + text)))
    assert rows == [
        Row(2, ORDER),
        BadRow(3, "BC1", "order id BC1 is on line 2 with other values"),
        Row(4, NewOrder("1", "2", "BC1", Decimal("9.990"), "PO-1")),
        Row(5, NewOrder(None, "5", "BC2", Decimal(1))),
    ]


def test_a_v3_row_giving_an_order_id_another_po_number_is_refused(tmp_path: Path) -> None:
    """In a V3 file too, a later line with the same order id and other values is refused."""
    lines = [
        {"bc_order_id": 7, "customer_id": 2, "po_number": "PO-1"},
        {"bc_order_id": "7", "customer_id": 2, "po_number": "PO-2"},
    ]
    path = write(tmp_path, "in.jsonl", "".join(json.dumps(line) + "\n" for line in lines))
    first, second = read_rows(path, api="v3")
    assert isinstance(first, V3Row)
    assert second == BadRow(2, "7", "order id 7 is on line 1 with other values")


def test_a_v3_row_giving_the_same_extra_fields_in_another_order_is_the_same_order(
    tmp_path: Path,
) -> None:
    """Extra fields given in another order are the same values: the second line is the same
    order, not one with other values."""
    fields = {"Cost Center": "C-1", "Department": "Retail"}
    lines = [
        {"bc_order_id": 7, "customer_id": 2, "extra_fields": fields},
        {"bc_order_id": 7, "customer_id": 2, "extra_fields": dict(reversed(fields.items()))},
    ]
    path = write(tmp_path, "in.jsonl", "".join(json.dumps(line) + "\n" for line in lines))
    first, second = read_rows(path, api="v3")
    assert isinstance(first, V3Row)
    assert isinstance(second, V3Row)


def test_csv_columns_may_come_in_any_order(tmp_path: Path) -> None:
    """Columns are matched by name; company_id and po_number may be absent altogether."""
    path = write(tmp_path, "in.csv", "order_id,total_inc_tax,customer_id\nBC7,1.50,4\n")
    assert list(read_rows(path)) == [Row(2, NewOrder(None, "4", "BC7", Decimal("1.50")))]


def test_blank_lines_before_the_csv_header_are_skipped(tmp_path: Path) -> None:
    """Blank lines above the header are passed over; rows keep the file's line numbers."""
    path = write(tmp_path, "in.csv", "\n\r\n" + HEADER + "1,2,BC1,9.99,PO-1\n")
    assert list(read_rows(path)) == [Row(4, ORDER)]
    assert count_rows(path) == 1


@pytest.mark.parametrize("line", [",,,,", "   ", '"","",,,'], ids=["commas", "spaces", "quotes"])
def test_lines_of_separators_alone_before_the_csv_header_are_skipped(
    tmp_path: Path, line: str
) -> None:
    """A spreadsheet's empty first row (",,,,") or a line of spaces above the header is passed
    over, as a blank line is, and as the same line among the rows is."""
    path = write(tmp_path, "in.csv", line + "\n" + HEADER + "1,2,BC1,9.99,PO-1\n")
    assert list(read_rows(path)) == [Row(3, ORDER)]
    assert count_rows(path) == 1


@pytest.mark.parametrize("text", ["\n", "\n\n\n"], ids=["one-blank-line", "blank-lines"])
def test_a_csv_of_blank_lines_has_no_header(tmp_path: Path, text: str) -> None:
    """Blank lines alone are a CSV without its header."""
    with pytest.raises(InputFileError, match="header must name"):
        read_rows(write(tmp_path, "in.csv", text))


def test_csv_byte_order_mark_is_skipped(tmp_path: Path) -> None:
    """A spreadsheet's UTF-8 BOM does not hide the first column (company_id) from the reader."""
    path = write(tmp_path, "in.csv", ("\ufeff" + HEADER + "1,2,BC1,9.99,PO-1\n").encode())
    assert [row.order.company_id for row in read_rows(path) if isinstance(row, Row)] == ["1"]


def test_jsonl_rows_are_orders_with_their_line_numbers(tmp_path: Path) -> None:
    """JSONL objects with the same keys give Rows; blank lines are skipped but counted."""
    first = {"company_id": 1, "customer_id": 2, "order_id": "BC1", "total_inc_tax": "9.99"}
    second = {"customer_id": "3", "order_id": 5, "total_inc_tax": 10, "po_number": "PO-5"}
    path = write(tmp_path, "in.jsonl", f"{json.dumps(first)}\n\n{json.dumps(second)}\n")
    rows = list(read_rows(path))
    assert rows == [
        Row(1, NewOrder("1", "2", "BC1", Decimal("9.99"))),
        Row(3, NewOrder(None, "3", "5", Decimal(10), "PO-5")),
    ]


def test_the_last_jsonl_line_without_a_line_break_is_read(tmp_path: Path) -> None:
    """A JSONL file whose last line has no line break after it still gives that line's order."""
    first = '{"customer_id": 2, "order_id": "J1", "total_inc_tax": 1}'
    last = '{"customer_id": 2, "order_id": "J2", "total_inc_tax": 2}'
    rows = list(read_rows(write(tmp_path, "in.jsonl", f"{first}\n{last}")))
    assert [(row.line, row.order.order_id) for row in rows if isinstance(row, Row)] == [
        (1, "J1"),
        (2, "J2"),
    ]


def test_a_lone_carriage_return_in_a_jsonl_line_ends_no_line(tmp_path: Path) -> None:
    """JSON takes a lone CR for white space: the object it sits in is one line, one order."""
    first = '{"customer_id": 2,\r "order_id": "BC1", "total_inc_tax": 1}\r\n'
    second = '{"customer_id": 2, "order_id": "BC2", "total_inc_tax": 1}\n'
    rows = list(read_rows(write(tmp_path, "in.jsonl", first + second)))
    assert rows == [Row(1, NewOrder(None, "2", "BC1", 1)), Row(2, NewOrder(None, "2", "BC2", 1))]


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("in.txt", '{"customer_id": 2, "order_id": "A", "total_inc_tax": 1}\n', "JSONL"),
        ("in.txt", "customer_id,order_id,total_inc_tax\n2,A,1\n", "CSV"),
        ("in.ndjson", '{"customer_id": 2, "order_id": "A", "total_inc_tax": 1}\n', "JSONL"),
    ],
)
def test_format_follows_the_extension_else_the_first_line(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    """.csv and .jsonl decide by name; another name is JSONL when the file starts with '{'."""
    rows = list(read_rows(write(tmp_path, name, text)))
    assert rows == [Row(1 if expected == "JSONL" else 2, NewOrder(None, "2", "A", 1))]


def test_bad_csv_rows_are_reported_with_their_line_number(tmp_path: Path) -> None:
    """Missing fields and non-numeric or negative totals become BadRows; the rest still reads."""
    text = HEADER + ",2,,1,\n,,BC2,,\n,2,BC3,abc,\n,2,BC4,-1,\n,2,BC5,1,\n"
    rows = list(read_rows(write(tmp_path, "in.csv", text)))
    assert rows[:2] == [
        BadRow(2, None, "missing order_id"),
        BadRow(3, "BC2", "missing customer_id, total_inc_tax"),
    ]
    assert [(row.line, row.order_id) for row in rows[2:4] if isinstance(row, BadRow)] == [
        (4, "BC3"),
        (5, "BC4"),
    ]
    assert "not a number" in str(rows[2])
    assert rows[4] == Row(6, NewOrder(None, "2", "BC5", 1))


@pytest.mark.parametrize(
    ("bad", "line"),
    [("9" * 200_000, 3), ('"open quote\n' + "x" * 200_000, 3)],
    ids=["long-field", "quote-left-open"],
)
def test_a_csv_field_past_the_csv_modules_limit_stops_the_reading_at_its_line(
    tmp_path: Path, bad: str, line: int
) -> None:
    """A field too long to parse (a quote left open, say) stops the reading there, named.

    Reading on past it could take the rest of an open quote for orders.
    """
    text = HEADER + ",2,BC1,1,\n" + f",2,BC2,{bad},\n" + ",2,BC3,1,\n"
    rows = read_rows(write(tmp_path, "in.csv", text))
    assert next(rows) == Row(2, NewOrder(None, "2", "BC1", 1))
    with pytest.raises(InputFileError, match=f"line {line} is not a CSV row this reads"):
        next(rows)


def test_bad_jsonl_rows_are_reported_with_their_line_number(tmp_path: Path) -> None:
    """Lines that are not JSON, not an object, or not a valid order are BadRows."""
    text = '{"order_id": \n[1, 2]\n{"customer_id": 2, "order_id": 9, "total_inc_tax": "x"}\n'
    rows = list(read_rows(write(tmp_path, "in.jsonl", text)))
    assert rows[:2] == [BadRow(1, None, "not valid JSON"), BadRow(2, None, "not a JSON object")]
    assert isinstance(rows[2], BadRow)
    assert (rows[2].line, rows[2].order_id) == (3, "9")


def test_an_object_where_a_value_goes_is_named_as_json_names_it(tmp_path: Path) -> None:
    """The refusal names what the line holds in JSON's words, not a class of the reader's."""
    text = '{"customer_id": 2, "order_id": "BC1", "total_inc_tax": {"amount": 1}}\n'
    [row] = read_rows(write(tmp_path, "in.jsonl", text))
    assert isinstance(row, BadRow)
    assert row.reason.endswith("got JSONObject")


@pytest.mark.parametrize(
    "text",
    ["", "order_id,total_inc_tax\nBC1,1\n", "1,2,BC1,9.99,PO-1\n"],
    ids=["empty", "customer_id-missing", "no-header"],
)
def test_csv_without_the_header_is_an_input_error(tmp_path: Path, text: str) -> None:
    """A CSV whose header lacks a required column fails before any row is returned."""
    with pytest.raises(InputFileError, match="header must name"):
        read_rows(write(tmp_path, "in.csv", text))


def test_a_header_lacking_columns_names_only_the_required_ones_as_required(
    tmp_path: Path,
) -> None:
    """The header error tells the required columns from the optional ones."""
    with pytest.raises(InputFileError) as caught:
        read_rows(write(tmp_path, "in.csv", "order_id,total_inc_tax\nBC1,1\n"))
    assert str(caught.value) == (
        "the CSV header must name customer_id, order_id, total_inc_tax (and may name "
        "company_id, po_number); missing customer_id"
    )


@pytest.mark.parametrize(
    ("api", "text", "hint"),
    [
        ("v2", "bc_order_id,customer_id,po_number\n1001,456,PO-7\n", "--api v3"),
        ("v3", HEADER + "1,2,BC1,9.99,PO-1\n", "--api v2"),
    ],
)
def test_a_header_of_the_other_api_says_which_api_it_is_for(
    tmp_path: Path, api: Api, text: str, hint: str
) -> None:
    """A CSV of the other API's columns is refused with a pointer to the --api it needs."""
    with pytest.raises(InputFileError, match="header must name") as caught:
        read_rows(write(tmp_path, "in.csv", text), api=api)
    assert str(caught.value).endswith(f" (these are the columns of {hint})")


def test_not_utf8_is_an_input_error(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 in the first block fail before any row is returned."""
    path = write(tmp_path, "in.csv", HEADER.encode() + b",2,BC\xff1,1,\n")
    with pytest.raises(InputFileError, match="not UTF-8"):
        read_rows(path)


def test_not_utf8_further_on_is_an_input_error(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 past the first block fail the iteration with InputFileError."""
    good = "".join(f",2,BC{index},1,\n" for index in range(5000))
    path = write(tmp_path, "in.csv", (HEADER + good).encode() + b",2,\xff,1,\n")
    rows = read_rows(path)
    with pytest.raises(InputFileError, match="not UTF-8") as info:
        for _ in rows:
            pass
    assert "byte 0xff, invalid start byte" in str(info.value)
    assert "position" not in str(info.value)  # it would count from a block, not the file


def test_missing_or_unreadable_input_is_an_input_error(tmp_path: Path) -> None:
    """A missing file or a directory fails with InputFileError naming the path."""
    with pytest.raises(InputFileError, match="cannot read"):
        read_rows(tmp_path / "absent.csv")
    with pytest.raises(InputFileError, match="cannot read"):
        read_rows(tmp_path)


def test_closing_the_rows_closes_the_file_even_before_reading(tmp_path: Path) -> None:
    """Closing an unread row generator closes its file (no ResourceWarning under -W error)."""
    rows = read_rows(write(tmp_path, "in.csv", HEADER + ",2,BC1,1,\n"))
    rows.close()
    del rows
    gc.collect()


def test_empty_jsonl_has_no_rows(tmp_path: Path) -> None:
    """An empty JSONL file is valid and holds no order."""
    assert list(read_rows(write(tmp_path, "in.jsonl", "\n\n"))) == []


def test_count_rows_counts_data_lines(tmp_path: Path) -> None:
    """The progress total: non-empty lines, less the header for a CSV."""
    assert count_rows(write(tmp_path, "in.csv", HEADER + ",2,A,1,\n\n,2,B,1,\n")) == 2
    assert count_rows(write(tmp_path, "in.jsonl", "{}\n\n{}\n{}\n")) == 3


@pytest.mark.parametrize(
    ("name", "text", "rows"),
    [
        ("orders.txt", HEADER + "1,2,BC1,9.99,PO-1\n", 1),
        ("orders", '{"order_id": "BC1"}\n{"order_id": "BC2"}\n', 2),
        ("orders.csv", "", 0),
    ],
    ids=["csv-without-extension", "jsonl-without-extension", "empty-csv"],
)
def test_count_rows_tells_the_format_as_reading_does(
    tmp_path: Path, name: str, text: str, rows: int
) -> None:
    """A CSV named otherwise still loses its header from the count; nothing counts as none."""
    assert count_rows(write(tmp_path, name, text)) == rows


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (outcome_with(result=CreatedOrder("BC1")), "created"),
        (outcome_with(result=CreatedOrder("BC1", already_registered=True)), "already_registered"),
        (outcome_with(InvalidOrderError("bad")), "rejected"),
        (outcome_with(api_error(BadRequestError, 400)), "rejected"),
        (outcome_with(api_error(AuthenticationError, 401)), "rejected"),
        (outcome_with(api_error(NotFoundError, 404)), "rejected"),
        (outcome_with(api_error(UnprocessableEntityError, 422)), "rejected"),
        (outcome_with(api_error(RateLimitError, 429)), "failed"),
        (outcome_with(api_error(ServerError, 500)), "failed"),
        (outcome_with(api_error(ServerError, 501)), "failed"),
        (outcome_with(APIConnectionError("refused")), "failed"),
        (outcome_with(APITimeoutError("slow")), "failed"),
        (outcome_with(ResponseDecodeError("not JSON", status=200)), "failed"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_status_of_names_every_kind_of_outcome(
    outcome: OrderOutcome[Any, Any], status: str
) -> None:
    """Registered (new or before), rejected (4xx but 429, or invalid) or failed (the rest)."""
    assert status_of(outcome) == status


def test_status_of_names_an_order_never_sent_not_attempted() -> None:
    """An order the run did not send is not attempted, not failed: it holds no error."""
    assert status_of(OrderOutcome(0, ORDER, attempted=False)) == "not_attempted"


def test_describe_records_the_error_details() -> None:
    """An API error's status, code and request id are kept; no error, no details."""
    assert describe(None) is None
    assert describe(api_error(NotFoundError, 404)) == {
        "type": "NotFoundError",
        "message": str(api_error(NotFoundError, 404)),
        "status": 404,
        "code": 404,
        "request_id": "req-1",
    }
    assert describe(APITimeoutError("slow")) == {"type": "APITimeoutError", "message": "slow"}


def test_entry_for_and_bad_row_entry_shapes() -> None:
    """Journal lines carry order_id, line, status and error."""
    created = outcome_with(result=CreatedOrder("BC1"))
    assert entry_for(created, 7) == {
        "order_id": "BC1",
        "line": 7,
        "status": "created",
        "error": None,
    }
    entry = bad_row_entry(BadRow(3, None, "missing order_id"))
    assert entry["status"] == "rejected"
    assert entry["order_id"] is None
    assert entry["error"] == {"type": "InvalidOrderError", "message": "line 3: missing order_id"}


def test_entry_for_refuses_an_order_never_sent() -> None:
    """An order the run did not send gets no journal line, so that the next run sends it."""
    with pytest.raises(ValueError, match="was not attempted: it gets no line"):
        entry_for(OrderOutcome(0, ORDER, attempted=False), 2)


def journal_line(order_id: str, status: str) -> str:
    return json.dumps({"order_id": order_id, "line": 0, "status": status, "error": None}) + "\n"


def test_journal_load_keeps_registered_orders_only(tmp_path: Path) -> None:
    """created and already_registered are skipped next time; rejected and failed are not."""
    path = write(
        tmp_path,
        "r.jsonl",
        journal_line("A", "created")
        + journal_line("B", "already_registered")
        + journal_line("C", "rejected")
        + journal_line("D", "failed"),
    )
    journal = Journal(path)
    journal.load()
    assert journal.registered == {"A", "B"}


def test_journal_load_ignores_a_truncated_last_line(tmp_path: Path) -> None:
    """A line cut short by a crash is not an error and registers nothing."""
    cut = journal_line("B", "created")[:25]
    path = write(tmp_path, "r.jsonl", journal_line("A", "created") + cut)
    journal = Journal(path)
    journal.load()
    assert journal.registered == {"A"}


def test_journal_load_without_a_file_is_empty(tmp_path: Path) -> None:
    """A first run has no journal yet: nothing is registered."""
    journal = Journal(tmp_path / "r.jsonl")
    journal.load()
    assert journal.registered == set()


def record_after_a_crash_mid_line(
    tmp_path: Path, begin: Callable[[Journal], object]
) -> tuple[list[str], Journal]:
    """Start appending (``begin``: open or claim) to a journal a crash left mid-line, record
    one order and close; return the file's lines and the journal loaded again."""
    path = write(tmp_path, "r.jsonl", journal_line("A", "created") + '{"order_id":"B","st')
    journal = Journal(path)
    begin(journal)
    journal.record({"order_id": "C", "status": "created"})
    journal.close()
    reloaded = Journal(path)
    reloaded.load()
    return path.read_text(encoding="utf-8").splitlines(), reloaded


def test_journal_open_ends_an_unfinished_line(tmp_path: Path) -> None:
    """Appending after a crash starts on a new line, so the new entry stays readable."""
    lines, reloaded = record_after_a_crash_mid_line(tmp_path, Journal.open)
    assert lines[1:] == ['{"order_id":"B","st', '{"order_id":"C","status":"created"}']
    assert reloaded.registered == {"A", "C"}


def test_journal_claim_ends_an_unfinished_line_before_the_next_entry(tmp_path: Path) -> None:
    """Claiming a journal a crash left mid-line ends that line, so the next entry is read."""
    lines, reloaded = record_after_a_crash_mid_line(tmp_path, Journal.claim)
    assert lines[1:] == ['{"order_id":"B","st', '{"order_id":"C","status":"created"}']
    assert (reloaded.registered, reloaded.cut_short) == ({"A", "C"}, [2])


def test_journal_close_syncs_the_file_to_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing the journal syncs it to disk, so its entries outlive a power failure."""
    synced: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    journal = Journal(tmp_path / "r.jsonl")
    journal.open()
    journal.record({"order_id": "A", "status": "created"})
    journal.close()
    assert len(synced) == 1


def test_a_journal_without_a_target_takes_entries_of_any_target(tmp_path: Path) -> None:
    """A journal read with no target of its own checks none: every registration is skipped."""
    entry = {"order_id": "A", "status": "created", "target": target_of(PROD, "v2", None)}
    path = write(tmp_path, "r.jsonl", json.dumps(entry) + "\n")
    journal = Journal(path)
    journal.load()
    assert journal.registered == {"A"}


def test_a_journal_open_in_one_run_is_refused_to_another(tmp_path: Path) -> None:
    """While one run holds the journal open, another's open raises JournalInUseError and
    leaves the file as it was; once the first closes it, the journal is free again."""
    path = write(tmp_path, "r.jsonl", journal_line("A", "created"))
    first, second = Journal(path), Journal(path)
    first.open()
    try:
        with pytest.raises(JournalInUseError, match="in use by another run"):
            second.open()
        second.close()  # nothing is open: nothing to do
    finally:
        first.close()
    assert path.read_text(encoding="utf-8") == journal_line("A", "created")
    second.open()
    second.close()


def flock_failing_with(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    """Make taking the journal's lock fail with the OSError ``code``."""

    def flock(fd: int, operation: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr("b2b_async._journal.fcntl.flock", flock)


@pytest.mark.parametrize("code", [errno.ENOLCK, errno.EOPNOTSUPP], ids=["ENOLCK", "EOPNOTSUPP"])
def test_a_journal_on_a_file_system_without_locks_goes_unlocked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    """Where the file system has no locks, the journal opens unlocked and takes entries."""
    flock_failing_with(monkeypatch, code)
    journal = Journal(tmp_path / "r.jsonl")
    journal.open()
    journal.record({"order_id": "A", "status": "created"})
    journal.close()
    assert (tmp_path / "r.jsonl").read_text(encoding="utf-8").count("\n") == 1


def test_a_lock_the_system_fails_to_take_is_an_error_and_closes_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lock that fails for another reason (an I/O error) raises it: the journal is not
    used unlocked, and is closed again."""
    flock_failing_with(monkeypatch, errno.EIO)
    journal = Journal(tmp_path / "r.jsonl")
    with pytest.raises(OSError, match="Input/output error") as info:
        journal.open()
    assert info.value.errno == errno.EIO
    journal.close()  # nothing left open


def test_a_journal_another_run_holds_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """Claiming a journal another run holds is refused as in use, before a line is read: a
    line that is no entry is not even found."""
    path = write(tmp_path, "r.jsonl", journal_line("A", "created") + "x\n")
    first, second = Journal(path), Journal(path)
    first.open()
    try:
        with pytest.raises(JournalInUseError):
            second.claim()
    finally:
        first.close()
    assert second.registered == set()


def test_a_claimed_journal_that_cannot_be_read_is_let_go(tmp_path: Path) -> None:
    """A journal claimed but refused as corrupt is closed again, unchanged: the next run may
    take it."""
    text = journal_line("A", "created") + "x\n"
    path = write(tmp_path, "r.jsonl", text)
    with pytest.raises(CorruptJournalError):
        Journal(path).claim()
    assert path.read_text(encoding="utf-8") == text
    path.write_text(journal_line("A", "created"), encoding="utf-8")
    again = Journal(path)
    again.claim()
    again.close()
    assert again.registered == {"A"}


def test_journal_open_ends_a_line_cut_inside_a_character(tmp_path: Path) -> None:
    """A cut in the middle of a multi-byte character does not stop the journal from opening."""
    path = write(tmp_path, "r.jsonl", b'{"order_id":"caf' + "é".encode()[:1])
    journal = Journal(path)
    journal.open()
    journal.record({"order_id": "D", "status": "created"})
    journal.close()
    assert path.read_bytes().endswith(b'\n{"order_id":"D","status":"created"}\n')


def test_journal_load_takes_a_line_cut_inside_a_character_as_cut_short(tmp_path: Path) -> None:
    """A line cut inside a multi-byte character is read as cut short, not a decoding error."""
    cut = b'{"order_id":"caf' + "\u00e9".encode()[:1]
    path = write(tmp_path, "r.jsonl", journal_line("A", "created").encode() + cut)
    journal = Journal(path)
    journal.load()
    assert journal.registered == {"A"}
    assert journal.cut_short == [2]


@pytest.mark.parametrize("existing", [None, "", journal_line("A", "created")])
def test_journal_open_adds_no_blank_line(tmp_path: Path, existing: str | None) -> None:
    """A new, empty or cleanly ended journal gets no extra line."""
    path = tmp_path / "r.jsonl"
    if existing is not None:
        path.write_text(existing, encoding="utf-8")
    journal = Journal(path)
    journal.open()
    journal.record({"order_id": "Z"})
    journal.close()
    assert path.read_text(encoding="utf-8") == (existing or "") + '{"order_id":"Z"}\n'


def test_journal_record_is_on_disk_before_close(tmp_path: Path) -> None:
    """Each entry is flushed when recorded: a reader sees it while the journal is open."""
    journal = Journal(tmp_path / "r.jsonl")
    journal.open()
    try:
        journal.record({"order_id": "A", "status": "created", "total": Decimal("1.5")})
        text = journal.path.read_text(encoding="utf-8")
    finally:
        journal.close()
    journal.close()  # idempotent
    assert text == '{"order_id":"A","status":"created","total":"1.5"}\n'


def test_pending_drops_registered_rows_only(tmp_path: Path) -> None:
    """Rows recorded as registered are dropped; other rows and bad rows remain."""
    journal = Journal(tmp_path / "r.jsonl")
    journal.registered = {"BC1"}
    bad = BadRow(4, "BC1", "missing customer_id")
    other = Row(3, NewOrder(None, "2", "BC2", 1))
    assert list(pending([Row(2, ORDER), other, bad], journal)) == [other, bad]


def test_pending_drops_registered_v3_rows_too(tmp_path: Path) -> None:
    """A V3 row an earlier run registered is skipped on resume, like a V2 row."""
    journal = Journal(tmp_path / "r.jsonl")
    journal.registered = {"1000"}
    done, other = V3Row(2, NewV3Order(1000, 1)), V3Row(3, NewV3Order(1001, 1))
    assert list(pending([done, other], journal)) == [other]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"status": {}}', "status is not one of"),
        ('{"order_id": "A", "status": "done"}', "status is not one of"),
        ('{"order_id": "A"}', "status is not one of"),
        ('{"order_id": 5, "status": "created"}', "order_id is not a non-empty string"),
        ('{"order_id": "", "status": "created"}', "order_id is not a non-empty string"),
        ('{"order_id": null, "status": "created"}', "order_id is not a non-empty string"),
        ("[1]", "not a JSON object"),
        ('"created"', "not a JSON object"),
        ("hello", "not JSON"),
        ("order_id,status", "not JSON"),
        (
            '{"order_id": "B", "status": "failed", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
            "nested",
        ),
        ('{"order_id": "B", "status": "failed", "n": ' + "9" * 5000 + "}", "number too long"),
    ],
)
def test_journal_load_refuses_a_line_that_is_not_an_entry(
    tmp_path: Path, text: str, reason: str
) -> None:
    """Valid JSON that is not an entry, or text no crash could leave: refused with its line."""
    path = write(tmp_path, "r.jsonl", journal_line("A", "created") + text + "\n")
    journal = Journal(path)
    with pytest.raises(CorruptJournalError, match=reason) as info:
        journal.load()
    assert info.value.line == 2
    assert f"{path} line 2 is not a journal entry" in str(info.value)


def test_journal_load_refuses_a_failed_entry_whose_order_id_is_no_string(tmp_path: Path) -> None:
    """A failed entry may name no order (null), but an order id that is a number is refused."""
    path = write(tmp_path, "r.jsonl", '{"order_id": 5, "status": "failed"}\n')
    with pytest.raises(CorruptJournalError, match="order_id is not a non-empty string"):
        Journal(path).load()


def test_a_refused_line_is_quoted_shortened() -> None:
    """The message quotes the line, cut to about 80 characters, so it stays one short line."""
    with pytest.raises(ValueError, match=r"^not JSON: 'xxx+'\.\.\.$"):
        read_entry("x" * 10_000)


def test_journal_load_ignores_lines_cut_short_and_names_them(tmp_path: Path) -> None:
    """Lines a crash cut short (a start of an entry), wherever they are, are ignored and listed."""
    cut = journal_line("B", "created")[:25]
    text = journal_line("A", "created") + cut + "\n\n" + journal_line("C", "created") + cut
    journal = Journal(write(tmp_path, "r.jsonl", text))
    journal.load()
    assert journal.registered == {"A", "C"}
    assert journal.cut_short == [2, 5]


def test_journal_load_takes_nul_bytes_a_power_failure_left_for_lines_cut_short(
    tmp_path: Path,
) -> None:
    """The unwritten end of a file, shown as NUL bytes after a power failure, registers nothing.

    Whether a later run appended after it or not, it is not a corrupt journal.
    """
    nuls = "\0" * 300
    text = journal_line("A", "created") + nuls + "\n" + journal_line("C", "created") + nuls
    journal = Journal(write(tmp_path, "r.jsonl", text))
    journal.load()
    assert journal.registered == {"A", "C"}
    assert journal.cut_short == [2, 4]


def test_a_journal_names_the_target_of_each_entry_and_refuses_another(tmp_path: Path) -> None:
    """Entries carry the run's target; a run sending elsewhere refuses the journal, named.

    An order registered with a sandbox is not registered with the store: skipping it there
    would lose it.
    """
    path = tmp_path / "r.jsonl"
    sandbox, store = target_of("http://127.0.0.1:8080", "v2", None), target_of(PROD, "v2", None)
    first = Journal(path, sandbox)
    first.open()
    first.record({"order_id": "A", "line": 2, "status": "created", "error": None})
    first.close()
    assert json.loads(path.read_text(encoding="utf-8"))["target"] == "v2 http://127.0.0.1:8080"
    again = Journal(path, sandbox)
    again.load()
    assert again.registered == {"A"}
    with pytest.raises(ForeignJournalError, match="line 1 records an order sent to") as refused:
        Journal(path, store).load()
    assert (refused.value.line, store in str(refused.value)) == (1, True)


def test_an_entry_without_a_target_is_taken_as_the_runs(tmp_path: Path) -> None:
    """Lines written before entries named their target resume under any target."""
    journal = Journal(write(tmp_path, "r.jsonl", journal_line("A", "created")), "v2 " + PROD)
    journal.load()
    assert journal.registered == {"A"}


def test_the_target_names_the_api_the_host_and_a_store_hash_when_given() -> None:
    """A store hash, given to either API, names the store; without one the token does,
    which no journal may hold."""
    assert target_of(PROD, "v2", None) == "v2 " + PROD
    assert target_of(PROD, "v2", "abc") == f"v2 {PROD} store abc"
    assert target_of(PROD, "v3", "abc") == f"v3 {PROD} store abc"
    for api in ("v2", "v3"):
        assert target_of(PROD, api, "abc") != target_of(PROD, api, "xyz")


def test_rejected_and_failed_lines_may_name_no_order(tmp_path: Path) -> None:
    """A row without an order id is journaled with order_id null; reading it back is fine."""
    entry = bad_row_entry(BadRow(3, None, "missing order_id"))
    journal = Journal(write(tmp_path, "r.jsonl", json.dumps(entry) + "\n"))
    journal.load()
    assert journal.registered == set()
    assert journal.cut_short == []


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The journal is appended to /dev/full, where every write fails with ENOSPC."""
    if not os.path.exists("/dev/full"):  # pragma: no cover - every Linux has it
        pytest.skip("no /dev/full")
    monkeypatch.setattr("b2b_async._journal.append_to", lambda path: open("/dev/full", "a"))  # noqa: SIM115


@pytest.mark.usefixtures("full_disk")
def test_journal_record_on_a_full_disk_raises_journal_write_error(tmp_path: Path) -> None:
    """ENOSPC while recording is a JournalWriteError naming the journal; close still closes."""
    journal = Journal(tmp_path / "r.jsonl")
    journal.open()
    with pytest.raises(JournalWriteError, match="cannot write the results journal") as info:
        journal.record({"order_id": "A", "status": "created"})
    assert str(tmp_path / "r.jsonl") in str(info.value)
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.__cause__.errno == errno.ENOSPC
    with pytest.raises(JournalWriteError):
        journal.close()  # the line is still unwritten
    journal.close()  # closed all the same: a second close does nothing


@pytest.mark.usefixtures("full_disk")
def test_journal_open_on_a_full_disk_raises_journal_write_error(tmp_path: Path) -> None:
    """Ending a line a crash left unfinished can meet a full disk too; the file is closed."""
    journal = Journal(write(tmp_path, "r.jsonl", '{"order_id":"B","st'))
    with pytest.raises(JournalWriteError, match="No space left on device"):
        journal.open()
    journal.close()  # nothing left open: the failed open closed the file


class FullForAMoment:
    """A journal file whose first flush fails with ENOSPC, as a disk full for a moment."""

    def __init__(self, path: Path) -> None:
        self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115
        self.failed = False

    def write(self, text: str) -> int:
        return self.file.write(text)

    def flush(self) -> None:
        if not self.failed:
            self.failed = True
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.file.flush()

    def fileno(self) -> int:
        return self.file.fileno()

    def close(self) -> None:
        self.file.close()


def test_a_line_a_full_disk_held_back_is_written_before_close_syncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line whose write met a full disk is written by close, if there is room, before the
    file is synced: it is on disk, not only in the system's cache."""
    path = tmp_path / "r.jsonl"
    monkeypatch.setattr("b2b_async._journal.append_to", FullForAMoment)
    on_disk_when_synced: list[str] = []
    monkeypatch.setattr(os, "fsync", lambda fd: on_disk_when_synced.append(path.read_text()))
    journal = Journal(path)
    journal.open()
    with pytest.raises(JournalWriteError):
        journal.record({"order_id": "A", "status": "created"})
    journal.close()
    assert on_disk_when_synced == ['{"order_id":"A","status":"created"}\n']


def test_rows_a_model_refuses_are_bad_rows_never_crashes(tmp_path: Path) -> None:
    """A lone surrogate id or a 1e400 total is a BadRow naming the problem; the rest read on."""
    lines = [
        '{"customer_id": 2, "order_id": "88\\ud800", "total_inc_tax": 1}',
        '{"customer_id": 2, "order_id": "A2", "total_inc_tax": 1e400}',
        '{"customer_id": 2, "order_id": "A3", "total_inc_tax": "1e400"}',
        '{"customer_id": "2\\udc00", "order_id": "A4", "total_inc_tax": 1}',
        '{"customer_id": 2, "order_id": "A5", "total_inc_tax": 1, "po_number": "\\ud800"}',
        '{"customer_id": 2, "order_id": "A6", "total_inc_tax": 1}',
    ]
    rows = list(read_rows(write(tmp_path, "in.jsonl", "\n".join(lines) + "\n")))
    assert [type(row).__name__ for row in rows] == ["BadRow"] * 5 + ["Row"]
    reasons = [row.reason for row in rows if isinstance(row, BadRow)]
    assert "order_id is not valid Unicode" in reasons[0]
    assert "between 1E-307 and 1E+308" in reasons[1]  # read as a Decimal, not an infinity
    assert "between 1E-307 and 1E+308" in reasons[2]
    assert "customer_id is not valid Unicode" in reasons[3]
    assert "po_number is not valid Unicode" in reasons[4]
    for row in rows:
        json.dumps(bad_row_entry(row) if isinstance(row, BadRow) else {}).encode()


def test_a_line_nested_too_deeply_is_a_bad_row_and_the_rest_read_on(tmp_path: Path) -> None:
    """A line of 100,000 nested arrays, which the JSON parser cannot follow, is a BadRow."""
    lines = [
        "[" * 100_000 + "]" * 100_000,
        '{"customer_id": 2, "order_id": "A2", "total_inc_tax": 1}',
    ]
    rows = list(read_rows(write(tmp_path, "in.jsonl", "\n".join(lines) + "\n")))
    assert rows[0] == BadRow(1, None, "nested too deeply to be an order")
    assert isinstance(rows[1], Row)


def test_a_line_with_an_integer_too_long_to_convert_says_so(tmp_path: Path) -> None:
    line = '{"customer_id": 2, "order_id": "A1", "total_inc_tax": ' + "9" * 5000 + "}"
    rows = list(read_rows(write(tmp_path, "in.jsonl", line + "\n")))
    assert rows == [BadRow(1, None, "holds a number too long to read")]


@pytest.mark.parametrize(
    ("value", "outcome"),
    [
        (0, "company 0"),
        (False, "company_id must be a str or int, got bool"),
        ([], "company_id must be a str or int, got list"),
    ],
    ids=repr,
)
def test_a_falsy_company_id_goes_to_the_orders_checks_not_away(
    tmp_path: Path, value: object, outcome: str
) -> None:
    """Only an absent, null or empty optional value is no value; 0 or false is checked."""
    line = {"customer_id": 2, "order_id": "A1", "total_inc_tax": 1, "company_id": value}
    [row] = read_jsonl(tmp_path, line)
    if isinstance(row, Row):
        assert f"company {row.order.company_id}" == outcome
    else:
        assert isinstance(row, BadRow)
        assert row.reason == outcome


@pytest.mark.parametrize("value", [0, False])
def test_a_falsy_extra_fields_value_is_refused_not_dropped(tmp_path: Path, value: object) -> None:
    line = {"bc_order_id": 5, "customer_id": 2, "extra_fields": value}
    [row] = list(read_rows(write(tmp_path, "in.jsonl", json.dumps(line) + "\n"), api="v3"))
    assert isinstance(row, BadRow)
    assert "extra_fields must be a mapping" in row.reason


@pytest.mark.parametrize("value", [0, False])
def test_a_falsy_po_number_is_refused_not_dropped(tmp_path: Path, value: object) -> None:
    line = {"customer_id": 2, "order_id": "A1", "total_inc_tax": 1, "po_number": value}
    [row] = read_jsonl(tmp_path, line)
    assert isinstance(row, BadRow)
    assert "po_number" in row.reason


@pytest.mark.parametrize("value", [None, ""], ids=repr)
def test_a_null_or_empty_optional_value_is_none(tmp_path: Path, value: object) -> None:
    line = {"customer_id": 2, "order_id": "A1", "total_inc_tax": 1}
    line |= {"company_id": value, "po_number": value}
    [row] = read_jsonl(tmp_path, line)
    assert isinstance(row, Row)
    assert (row.order.company_id, row.order.po_number) == (None, None)


def read_jsonl(tmp_path: Path, values: dict[str, Any]) -> list[Row | V3Row | BadRow]:
    """The rows of a JSONL file of one line holding ``values``."""
    return list(read_rows(write(tmp_path, "in.jsonl", json.dumps(values) + "\n")))


def test_v3_rows_a_model_refuses_are_bad_rows(tmp_path: Path) -> None:
    """V3 rows with unsendable text or ids past 2**53 - 1 are BadRows."""
    lines = [
        '{"bc_order_id": 9007199254740992, "customer_id": 2}',
        '{"bc_order_id": 1, "customer_id": 2, "extra_fields": {"\\ud800": "x"}}',
        '{"bc_order_id": 2, "customer_id": 2}',
    ]
    rows = list(read_rows(write(tmp_path, "in.jsonl", "\n".join(lines) + "\n"), api="v3"))
    assert [type(row).__name__ for row in rows] == ["BadRow", "BadRow", "V3Row"]


MOMENT = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        MOMENT.timestamp(),
        int(MOMENT.timestamp()),
        str(int(MOMENT.timestamp())),
        "2026-12-03T09:30:00+00:00",
        "2026-12-03T10:30:00+01:00",
        " 2026-12-03T09:30:00Z ",
    ],
)
def test_created_at_is_read_from_iso_8601_or_unix_seconds(value: object) -> None:
    assert creation_time(value) == MOMENT


@pytest.mark.parametrize("value", [None, ""])
def test_an_empty_created_at_is_none(value: object) -> None:
    assert creation_time(value) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-12-03T09:30:00", "must name its offset"),
        ("yesterday", "ISO 8601"),
        ("nan", "no time"),
        (1e300, "no time"),
        ("1_796_290_200", "ISO 8601"),
        ("\u0661\u0667\u0669\u0666\u0662\u0669\u0660\u0662\u0660\u0660", "ISO 8601"),
        ("\uff11\uff17\uff19\uff16\uff12\uff19\uff10\uff12\uff10\uff10", "ISO 8601"),
    ],
    ids=["no-offset", "word", "nan", "too-far", "underscores", "arabic-indic", "full-width"],
)
def test_a_created_at_that_is_no_time_is_refused(value: object, message: str) -> None:
    with pytest.raises(InvalidOrderError, match=message):
        creation_time(value)


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_created_at_is_refused_not_read_as_seconds(value: bool) -> None:
    """A JSON ``true`` or ``false`` for created_at is no time, not the epoch plus 1 or 0 s."""
    with pytest.raises(InvalidOrderError, match="ISO 8601"):
        creation_time(value)


def test_a_v3_row_with_a_bad_created_at_is_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("bc_order_id,customer_id,created_at\n7,1,soon\n8,1,\n", encoding="utf-8")
    bad, good = list(read_rows(path, api="v3"))
    assert isinstance(bad, BadRow)
    assert "created_at" in bad.reason
    assert isinstance(good, V3Row)
    assert good.order.created_at is None


def test_a_jsonl_total_is_read_with_every_digit(tmp_path: Path) -> None:
    """A JSON number total is read as written: 15 significant digits are kept to the last, and
    more are the row's error; a float would have rounded both before the order's check."""
    lines = [
        '{"customer_id": 2, "order_id": "T1", "total_inc_tax": 259.999999999999999}',
        '{"customer_id": 2, "order_id": "T2", "total_inc_tax": 1.0000000000000001}',
        '{"customer_id": 2, "order_id": "T3", "total_inc_tax": 12345678901.2345}',
        '{"customer_id": 2, "order_id": "T4", "total_inc_tax": 10.50}',
    ]
    rows = list(read_rows(write(tmp_path, "in.jsonl", "\n".join(lines) + "\n")))
    assert [type(row).__name__ for row in rows] == ["BadRow", "BadRow", "Row", "Row"]
    for row in rows[:2]:
        assert isinstance(row, BadRow)
        assert "more than 15 significant digits" in row.reason
    totals = [row.order.total_inc_tax for row in rows[2:] if isinstance(row, Row)]
    assert totals == [Decimal("12345678901.2345"), Decimal("10.50")]


def test_a_quote_left_open_stops_the_reading_before_its_lines_become_one_value(
    tmp_path: Path,
) -> None:
    """Nine orders after an open quote were read as one PO number, and never registered."""
    rows = [",2,QQ1,1,PO-1", ',2,QQ2,1,"PO 8', *(f",2,QQ{n},1,PO{n}" for n in range(3, 12))]
    rows_read = read_rows(write(tmp_path, "in.csv", HEADER + "\n".join(rows) + "\n"))
    assert next(rows_read) == Row(2, NewOrder(None, "2", "QQ1", 1, "PO-1"))
    with pytest.raises(InputFileError, match="line 3 opens a value that holds line breaks, 'PO 8"):
        next(rows_read)


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_a_value_with_line_breaks_is_named_by_the_line_it_opens_on(
    tmp_path: Path, ending: str
) -> None:
    """A quoted value over three lines, in a column the reader ignores, after a blank line."""
    header = "customer_id,order_id,total_inc_tax,address"
    text = ending.join([header, "2,A1,1,x", "", '2,A2,1,"1 Main St', "Austin", 'TX"', ""])
    rows_read = read_rows(write(tmp_path, "in.csv", text))
    assert next(rows_read) == Row(2, NewOrder(None, "2", "A1", 1))
    with pytest.raises(InputFileError, match=r"^line 4 opens a value"):
        next(rows_read)


def test_a_row_with_more_values_than_the_header_is_refused(tmp_path: Path) -> None:
    """An unquoted comma in a total shifted the PO number into nothing and sent total 1."""
    text = HEADER + ",2,X1,1,234.50,PO-9\n,2,X2,5,\n"
    rows = list(read_rows(write(tmp_path, "in.csv", text)))
    assert rows[0] == BadRow(
        2,
        "X1",
        "holds values past the header's 5 columns, 'PO-9' (a comma in a value left unquoted?)",
    )
    assert rows[1] == Row(3, NewOrder(None, "2", "X2", 5))


def test_a_row_shifted_onto_an_empty_last_column_is_refused(tmp_path: Path) -> None:
    """1,234.50 unquoted with no PO number: the total read 1, the PO number 234.50, and the
    PO number's empty cell fell past a header that has no empty cells of its own."""
    text = HEADER + "11,211,CSVA,1,234.50,\n11,211,CSVB,5,\n"
    assert list(read_rows(write(tmp_path, "in.csv", text))) == [
        BadRow(
            2,
            "CSVA",
            "holds 6 values, more than the header's 5 columns (a comma in a value left unquoted?)",
        ),
        Row(3, NewOrder("11", "211", "CSVB", 5)),
    ]


def test_a_value_in_a_column_the_header_does_not_name_is_refused(tmp_path: Path) -> None:
    """A spreadsheet's header ends in empty cells; a shifted value landing in one of them
    would be read by nothing, and the total would be 1."""
    text = "customer_id,order_id,total_inc_tax,,\n2,E3,1,234,\n2,E4,7,,\n"
    assert list(read_rows(write(tmp_path, "in.csv", text))) == [
        BadRow(
            2,
            "E3",
            "holds values in columns the header does not name, '234' "
            "(name the column, or quote a value that holds a comma)",
        ),
        Row(3, NewOrder(None, "2", "E4", 7)),
    ]


def test_empty_cells_past_the_header_are_no_values(tmp_path: Path) -> None:
    """A spreadsheet's header and rows may end in empty cells: the rows are read as they are."""
    text = "customer_id,order_id,total_inc_tax,,\n2,E1,12.50,,\n2,E2,1,,,,\n,,,,,,,\n"
    assert list(read_rows(write(tmp_path, "in.csv", text))) == [
        Row(2, NewOrder(None, "2", "E1", Decimal("12.50"))),
        Row(3, NewOrder(None, "2", "E2", 1)),
    ]


def test_spaces_after_a_closing_quote_are_no_break(tmp_path: Path) -> None:
    """A hand-written '"BC1" ,' or a quoted last value followed by spaces reads as before."""
    text = HEADER + '"1" ,2,"BC1" , 9.99,"PO-1"  \r\n'
    [row] = read_rows(write(tmp_path, "in.csv", text))
    assert isinstance(row, Row)
    assert (row.order.company_id, row.order.order_id) == ("1", "BC1")
    assert row.order.total_inc_tax == Decimal("9.99")


def test_a_quote_left_open_at_the_end_of_the_file_refuses_its_row(tmp_path: Path) -> None:
    """The last line's open quote takes no line after it, but the value is no CSV either."""
    text = HEADER + ",2,BC1,1,\n" + ',2,BC2,1,"PO-2'
    rows = list(read_rows(write(tmp_path, "in.csv", text)))
    assert rows[0] == Row(2, NewOrder(None, "2", "BC1", 1))
    assert isinstance(rows[1], BadRow)
    assert (rows[1].line, rows[1].order_id) == (3, None)
    assert "is a quote left open" in rows[1].reason


def test_a_header_whose_quotes_break_the_format_is_an_input_error(tmp_path: Path) -> None:
    """'"po_number"x' would name a column po_numberx, and drop every PO number unannounced."""
    text = 'company_id,customer_id,order_id,total_inc_tax,"po_number"x\n1,2,BC1,9.99,PO-1\n'
    with pytest.raises(InputFileError, match="the CSV header on line 1 is not CSV as written"):
        list(read_rows(write(tmp_path, "in.csv", text)))


@pytest.mark.parametrize("line", ["", ",,,,", "   "], ids=["blank", "commas", "spaces"])
def test_a_header_whose_quotes_break_the_format_is_refused_below_skipped_lines(
    tmp_path: Path, line: str
) -> None:
    """A misquoted header below a line naming nothing is refused as on line 1, not read as
    naming po_numberx, which would drop every PO number unannounced."""
    header = 'company_id,customer_id,order_id,total_inc_tax,"po_number"x\n'
    text = line + "\n" + header + "1,2,BC1,9.99,PO-1\n"
    with pytest.raises(InputFileError, match="the CSV header on line 2 is not CSV as written"):
        list(read_rows(write(tmp_path, "in.csv", text)))


def test_csv_header_names_are_read_without_the_spaces_around_them(tmp_path: Path) -> None:
    """A header written with ", " separators, or a trailing space, still names its columns.

    Unread, an optional column would drop its values without a word: the PO number here.
    """
    text = "customer_id, order_id ,total_inc_tax, po_number,company_id \n2,BC1,9.99,PO-1,1\n"
    assert list(read_rows(write(tmp_path, "in.csv", text))) == [Row(2, ORDER)]


def test_a_column_named_twice_but_for_spaces_is_named_twice(tmp_path: Path) -> None:
    """Names that differ only in the spaces around them are one column, named twice."""
    text = "customer_id,order_id,total_inc_tax,po_number, po_number\n2,D1,1,PO-1,PO-2\n"
    with pytest.raises(InputFileError, match="names 'po_number' more than once"):
        list(read_rows(write(tmp_path, "in.csv", text)))


def test_a_quoted_value_after_a_comma_and_a_space_reads_as_its_text(tmp_path: Path) -> None:
    """', "BC1"' is the value BC1, not '"BC1"' with its quotes."""
    text = HEADER + '1, 2, "BC1", "9.99", "PO-1"\n'
    assert list(read_rows(write(tmp_path, "in.csv", text))) == [Row(2, ORDER)]


@pytest.mark.parametrize("bad", ['"BC2"x', '"BC2" x'], ids=["text-after", "space-and-text"])
def test_a_quote_closed_in_mid_value_refuses_its_row(tmp_path: Path, bad: str) -> None:
    """'"BC2"x' is no CSV value: read leniently it would be the order id BC2x, unannounced.

    The row is refused, naming no order; the rows after it read as they are.
    """
    text = HEADER + ",2,BC1,1,\n" + f",2,{bad},1,\n" + ",2,BC3,1,\n"
    rows = list(read_rows(write(tmp_path, "in.csv", text)))
    assert rows[0] == Row(2, NewOrder(None, "2", "BC1", 1))
    assert isinstance(rows[1], BadRow)
    assert (rows[1].line, rows[1].order_id) == (3, None)
    assert "is not CSV as written" in rows[1].reason
    assert rows[2] == Row(4, NewOrder(None, "2", "BC3", 1))


def test_a_header_naming_a_column_twice_is_an_input_error(tmp_path: Path) -> None:
    """Which of two total_inc_tax columns is meant, no reader can tell: the last one won."""
    text = "customer_id,order_id,total_inc_tax,total_inc_tax\n2,D1,100.00,1.00\n"
    with pytest.raises(InputFileError, match="names 'total_inc_tax' more than once"):
        list(read_rows(write(tmp_path, "in.csv", text)))


def test_a_json_line_naming_a_key_twice_is_a_bad_row(tmp_path: Path) -> None:
    """json keeps the last of two keys; a row that says two totals is refused. A nested
    object the row does not read may repeat its keys."""
    twice = '{"customer_id": 2, "order_id": "D1", "total_inc_tax": 100, "total_inc_tax": 1}\n'
    nested = '{"customer_id": 2, "order_id": "D2", "total_inc_tax": 1, "meta": {"a": 1, "a": 2}}\n'
    assert list(read_rows(write(tmp_path, "in.jsonl", twice + nested))) == [
        BadRow(1, None, "names 'total_inc_tax' more than once"),
        Row(2, NewOrder(None, "2", "D2", 1)),
    ]


def test_rows_of_separators_alone_are_blank_rows(tmp_path: Path) -> None:
    """A spreadsheet's trailing ",,,," rows are skipped, as blank lines are."""
    text = HEADER + ",2,E1,1,\n,,,,\n\n,,,,\n"
    assert list(read_rows(write(tmp_path, "in.csv", text))) == [
        Row(2, NewOrder(None, "2", "E1", 1))
    ]


def test_lines_of_orders_never_registered_bind_no_target(tmp_path: Path) -> None:
    """After a run to a mistyped URL (every order failed), the corrected run resumes."""
    path = tmp_path / "r.jsonl"
    typo, store = target_of("http://127.0.0.1:1", "v2", None), target_of(PROD, "v2", None)
    first = Journal(path, typo)
    first.open()
    first.record({"order_id": "A", "line": 2, "status": "failed", "error": None})
    first.record({"order_id": "B", "line": 3, "status": "rejected", "error": None})
    first.close()
    corrected = Journal(path, store)
    corrected.load()
    assert corrected.registered == set()


def test_not_utf8_further_on_names_its_line(tmp_path: Path) -> None:
    """The message named the byte but not where it is: the reading goes by blocks."""
    good = "".join(f",2,BC{index},1,\n" for index in range(3000))
    path = write(tmp_path, "in.csv", (HEADER + good).encode() + b",2,caf\xe9,1,\n")
    with pytest.raises(InputFileError, match="is not UTF-8 text: line 3002, byte 0xe9"):
        for _ in read_rows(path):
            pass


def test_describe_says_when_a_failed_order_may_be_registered() -> None:
    """A line that says failed, after an attempt whose answer was lost, may name an order
    the API holds: the journal says so."""
    error = api_error(ServerError, 503)
    assert "after_uncertain_attempt" not in (describe(error) or {})
    error.after_uncertain_attempt = True
    assert (describe(error) or {})["after_uncertain_attempt"] is True


def test_the_line_not_utf8_is_counted_as_the_readers_count_lines(tmp_path: Path) -> None:
    """Lines that end in a lone carriage return are lines too."""
    good = "".join(f",2,BC{index},1,\r" for index in range(3000))
    path = write(tmp_path, "in.csv", (HEADER.replace("\n", "\r") + good).encode() + b",2,\xe9,1,\r")
    with pytest.raises(InputFileError, match="line 3002, byte 0xe9"):
        for _ in read_rows(path):
            pass


def test_rows_of_separators_alone_are_not_counted_for_progress(tmp_path: Path) -> None:
    """The progress total counts the rows the reader reads."""
    path = write(tmp_path, "in.csv", HEADER + ",2,E1,1,\n,,,,\n\n ,,, \n,2,E2,1,\n")
    assert count_rows(path) == len(list(read_rows(path))) == 2


def test_a_v3_line_naming_an_extra_field_twice_is_a_bad_row(tmp_path: Path) -> None:
    """extra_fields is read by the row: which of two values is meant cannot be told."""
    line = '{"bc_order_id": 1, "customer_id": 2, "extra_fields": {"F": "111", "F": "222"}}\n'
    assert list(read_rows(write(tmp_path, "in.jsonl", line), api="v3")) == [
        BadRow(1, None, "names 'F' more than once")
    ]


def test_the_jsonl_line_not_utf8_is_counted_as_the_jsonl_reader_counts(tmp_path: Path) -> None:
    """A lone carriage return is white space inside a JSON line, no line end."""
    good = "".join(
        f'{{"customer_id": 2,\r "order_id": "A{n}", "total_inc_tax": 1}}\n' for n in range(3000)
    )
    path = write(tmp_path, "in.jsonl", good.encode() + b'{"order_id": "\xe9"}\n')
    with pytest.raises(InputFileError, match="line 3001, byte 0xe9"):
        for _ in read_rows(path):
            pass


def test_a_header_unparsable_after_blank_lines_is_named_by_its_line(tmp_path: Path) -> None:
    """Blank lines before a header whose quote is left open past the field limit."""
    path = write(tmp_path, "in.csv", '\n\n"customer_id' + "x" * 200_000 + "\n")
    with pytest.raises(InputFileError, match="line 3 is not a CSV row this reads"):
        read_rows(path)


@pytest.mark.parametrize("line", [",\xa0,,,", '"","",,,'], ids=["nbsp", "quotes"])
def test_lines_the_reader_skips_are_not_counted(tmp_path: Path, line: str) -> None:
    """The progress total counts exactly the rows read: a skipped row is no row."""
    path = write(tmp_path, "in.csv", HEADER + line + "\n,2,E1,1,\n" + line + "\n")
    assert count_rows(path) == len(list(read_rows(path))) == 1


def test_a_first_line_of_a_byte_order_mark_alone_is_not_counted(tmp_path: Path) -> None:
    """The byte order mark is skipped: what follows is a blank line."""
    path = write(tmp_path, "in.csv", "\ufeff\n" + HEADER + ",2,E1,1,\n")
    assert count_rows(path) == len(list(read_rows(path))) == 1


def rows_before_the_error(path: Path) -> tuple[list[Row | V3Row | BadRow], InputFileError]:
    """The rows read from ``path`` until the reading failed, and how it failed."""
    read: list[Row | V3Row | BadRow] = []
    try:
        for row in read_rows(path):
            read.append(row)
    except InputFileError as exc:
        return read, exc
    raise AssertionError(f"{path} was read to its end")


def test_every_row_before_a_line_not_utf8_is_read(tmp_path: Path) -> None:
    """The reading stops at the line that is not UTF-8, not at the start of the block that
    holds it: every order before that line is read (and so sent), as the exit codes say."""
    good = "".join(f",2,BC{index},1,\n" for index in range(1999))
    path = write(tmp_path, "in.csv", (HEADER + good).encode() + b",2,caf\xe9,1,\n")
    read, error = rows_before_the_error(path)
    assert "line 2001, byte 0xe9, invalid continuation byte" in str(error)
    assert len(read) == 1999


def test_a_line_not_utf8_in_the_first_block_leaves_the_rows_before_it_to_read(
    tmp_path: Path,
) -> None:
    """A bad byte on line 401 of a file is further on, not a file that is not UTF-8: the
    400 orders before it are read before the reading stops (JSONL alike)."""
    line = '{"customer_id": 2, "order_id": "J%d", "total_inc_tax": 1}\n'
    good = "".join(line % index for index in range(400))
    path = write(tmp_path, "in.jsonl", good.encode() + b'{"customer_id": 2, "order_id": "\xff"}\n')
    read, error = rows_before_the_error(path)
    assert "line 401, byte 0xff, invalid start byte" in str(error)
    assert len(read) == 400


@pytest.mark.parametrize("refused", ["not an entry", "another target"])
def test_a_claimed_journal_refused_is_unchanged_though_it_ends_mid_line(
    tmp_path: Path, refused: str
) -> None:
    """A file refused as a journal is left as it is, even when it does not end in a line
    break (a file of notes named by mistake, a journal whose last line a crash cut short):
    the run refuses it, so it has no line to end."""
    sandbox_line = json.dumps(
        {"order_id": "A", "status": "created", "error": None, "target": "v2 http://127.0.0.1:8080"}
    )
    first = "x\n" if refused == "not an entry" else sandbox_line + "\n"
    text = first + '{"order_id": "B", "sta'
    path = write(tmp_path, "r.jsonl", text)
    with pytest.raises(CorruptJournalError if refused == "not an entry" else ForeignJournalError):
        Journal(path, target_of(PROD, "v2", None)).claim()
    assert path.read_text(encoding="utf-8") == text


def test_count_rows_of_an_input_gone_is_an_input_error(tmp_path: Path) -> None:
    """An input that cannot be opened to count is an InputFileError naming it, as for reading."""
    with pytest.raises(InputFileError, match=r"cannot read .*gone\.csv"):
        count_rows(tmp_path / "gone.csv")


def test_a_foreign_target_is_quoted_shortened(tmp_path: Path) -> None:
    """An entry naming a huge target (an edited journal) is refused in a message of one line."""
    entry = {"order_id": "A", "status": "created", "error": None, "target": "x" * 10_000}
    path = write(tmp_path, "r.jsonl", json.dumps(entry) + "\n")
    with pytest.raises(ForeignJournalError, match="line 1 records an order sent to 'x") as refused:
        Journal(path, target_of(PROD, "v2", None)).load()
    assert len(str(refused.value)) < 300


@pytest.mark.parametrize(
    ("recorded", "shown"),
    [(None, "None"), (5, "5"), (["x" * 10_000], f"['{'x' * 12}...{'x' * 13}']")],
)
def test_a_foreign_target_that_is_no_string_is_shown_as_it_is(
    tmp_path: Path, recorded: object, shown: str
) -> None:
    """An entry whose target is no string (null, a number, a list) is refused naming it as it
    is, shortened, not as the string of its repr."""
    entry = {"order_id": "A", "status": "created", "error": None, "target": recorded}
    path = write(tmp_path, "r.jsonl", json.dumps(entry) + "\n")
    with pytest.raises(ForeignJournalError) as refused:
        Journal(path, target_of(PROD, "v2", None)).load()
    assert f"records an order sent to {shown}, and" in str(refused.value)
    assert len(str(refused.value)) < 300


def test_a_quote_after_a_tab_refuses_its_row(tmp_path: Path) -> None:
    """'\t"BC1"' would read as the order id '"BC1"' with its quotes: the row is refused.

    Tabs elsewhere read as they are: inside a quoted value, or before an unquoted one.
    """
    text = HEADER + ',2,\t"BC1",1,\n' + ',2, "BC2",1,"a\t""b"""\n' + ",2,BC3,1,\tPO\n"
    rows = list(read_rows(write(tmp_path, "in.csv", text)))
    assert isinstance(rows[0], BadRow)
    assert (rows[0].line, rows[0].order_id) == (2, None)
    assert "a quote after a tab" in rows[0].reason
    assert rows[1] == Row(3, NewOrder(None, "2", "BC2", 1, 'a\t"b"'))
    assert rows[2] == Row(4, NewOrder(None, "2", "BC3", 1, "\tPO"))


def test_a_header_quoting_a_name_after_a_tab_is_an_input_error(tmp_path: Path) -> None:
    """A header whose quote follows a tab stops the reading, naming the quote, not a column."""
    text = 'customer_id,\t"order_id",total_inc_tax\n2,BC1,1\n'
    with pytest.raises(InputFileError, match="header on line 1 holds a quote after a tab"):
        read_rows(write(tmp_path, "in.csv", text))


def test_an_integer_created_at_past_the_calendar_is_quoted_as_given() -> None:
    """An integer created_at no time can hold is refused quoting the number as written."""
    with pytest.raises(InvalidOrderError, match=r"created_at is no time: 100000000000000000000$"):
        creation_time(10**20)


def test_a_csv_row_too_long_to_parse_is_an_input_error_of_its_own(tmp_path: Path) -> None:
    """The error names the line and the reason; the csv module's own is not chained to it."""
    text = HEADER + ",2,BC1," + "9" * 200_000 + ",\n"
    with pytest.raises(InputFileError, match="line 2 is not a CSV row this reads") as refused:
        list(read_rows(write(tmp_path, "in.csv", text)))
    assert refused.value.__cause__ is None
    assert refused.value.__suppress_context__


def test_a_quote_closed_in_mid_value_after_spaces_refuses_its_row(tmp_path: Path) -> None:
    """', "BC2"x' is refused as '"BC2"x' is: spaces before a quote do not hide its break."""
    text = HEADER + ',2, "BC2"x,1,\n'
    [row] = read_rows(write(tmp_path, "in.csv", text))
    assert isinstance(row, BadRow)
    assert "is not CSV as written" in row.reason


def test_a_value_with_a_line_break_is_quoted_to_40_characters(tmp_path: Path) -> None:
    """The value that holds a line break is quoted in the error cut to its first 40 characters."""
    text = HEADER + ',2,BC1,1,"' + "x" * 100 + '\nmore"\n'
    with pytest.raises(InputFileError) as refused:
        list(read_rows(write(tmp_path, "in.csv", text)))
    assert f"breaks, {'x' * 40!r}... (an order" in str(refused.value)


def test_empty_cells_past_a_header_ending_in_an_empty_cell_are_no_values(tmp_path: Path) -> None:
    """A spreadsheet row with more empty cells than its header's empty last cell is a row."""
    text = "customer_id,order_id,total_inc_tax,\n2,BC1,1,,,\n"
    assert list(read_rows(write(tmp_path, "in.csv", text))) == [
        Row(2, NewOrder(None, "2", "BC1", 1))
    ]


def test_values_past_the_header_are_quoted_to_40_characters(tmp_path: Path) -> None:
    """The values a shifted row holds past its header are quoted cut to 40 characters."""
    [row] = read_rows(write(tmp_path, "in.csv", HEADER + ",2,BC1,1,PO," + "y" * 100 + "\n"))
    assert isinstance(row, BadRow)
    assert f"columns, {'y' * 40!r}... (a comma" in row.reason


def test_a_header_naming_many_columns_twice_names_three_cut_to_40_characters(
    tmp_path: Path,
) -> None:
    """The error names the first three repeated columns, each quoted cut to 40 characters."""
    long_name = "a" * 100
    header = ",".join(["customer_id", "order_id", "total_inc_tax", *[long_name, "b", "c", "d"] * 2])
    with pytest.raises(InputFileError) as refused:
        read_rows(write(tmp_path, "in.csv", header + "\n"))
    assert str(refused.value).endswith(f"names {'a' * 40!r}..., 'b', 'c' more than once")


def test_a_refused_line_carries_its_reason_apart(tmp_path: Path) -> None:
    """A line that is not an entry is refused with its reason apart from the file and line."""
    path = write(tmp_path, "r.jsonl", "[1]\n")
    with pytest.raises(CorruptJournalError) as refused:
        Journal(path).load()
    assert refused.value.reason == "not a JSON object: '[1]'"


def test_closing_a_journal_never_opened_does_nothing(tmp_path: Path) -> None:
    """A journal that was never opened closes without error and leaves no file behind."""
    journal = Journal(tmp_path / "r.jsonl")
    journal.close()
    assert not (tmp_path / "r.jsonl").exists()


@pytest.mark.parametrize(("length", "quoted"), [(80, repr("y" * 80)), (81, repr("y" * 80) + "...")])
def test_a_refused_line_is_quoted_whole_up_to_80_characters(length: int, quoted: str) -> None:
    """A refused line of 80 characters is quoted whole; a longer one is cut to its first 80."""
    with pytest.raises(ValueError, match=r"^not JSON: ") as refused:
        read_entry("y" * length)
    assert str(refused.value) == f"not JSON: {quoted}"


@pytest.mark.parametrize(
    ("name", "text", "rows"),
    [
        ("in.csv", (HEADER + ",2,E1,1,\n\n,,,,\n,2,E2,1,\n").replace("\n", "\r"), 2),
        ("in.jsonl", '{"customer_id": 2,\r "order_id": "A1", "total_inc_tax": 1}\r\n' * 2, 2),
    ],
    ids=["csv", "jsonl"],
)
def test_count_rows_counts_lines_as_the_reader_ends_them(
    tmp_path: Path, name: str, text: str, rows: int
) -> None:
    """A CSV line ends at a lone carriage return too; a JSONL line only at a line feed."""
    path = write(tmp_path, name, text)
    assert count_rows(path) == len(list(read_rows(path))) == rows


def test_an_input_that_cannot_be_read_hides_the_os_error_it_names(tmp_path: Path) -> None:
    """The error's message names the file and the failure; the OSError is not chained."""
    with pytest.raises(InputFileError, match="cannot read") as caught:
        read_rows(tmp_path / "gone.csv")
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_a_jsonl_line_lacking_a_required_key_is_a_bad_row_naming_it(tmp_path: Path) -> None:
    """A key absent or null is missing, as an empty value is; an absent order id names no order."""
    lines = [
        '{"order_id": "A1", "total_inc_tax": 1}',
        '{"order_id": "A2", "customer_id": null, "total_inc_tax": 1}',
        '{"customer_id": 2, "total_inc_tax": 1}',
    ]
    assert list(read_rows(write(tmp_path, "in.jsonl", "\n".join(lines) + "\n"))) == [
        BadRow(1, "A1", "missing customer_id"),
        BadRow(2, "A2", "missing customer_id"),
        BadRow(3, None, "missing order_id"),
    ]


def test_a_shifted_csv_row_with_an_empty_order_id_names_no_order(tmp_path: Path) -> None:
    """A row refused for values past the header, its order id empty, has no order id."""
    rows = list(read_rows(write(tmp_path, "in.csv", HEADER + ",2,,1,PO-1,x\n")))
    assert rows == [
        BadRow(
            2,
            None,
            "holds values past the header's 5 columns, 'x' (a comma in a value left unquoted?)",
        )
    ]


def test_a_jsonl_line_naming_many_keys_twice_names_three_cut_to_40_characters(
    tmp_path: Path,
) -> None:
    """The bad row names the first three repeated keys, each quoted cut to 40 characters."""
    keys = ["a" * 100, "b", "c", "d"]
    pairs = ", ".join(f'"{key}": 1' for key in keys * 2)
    line = '{"customer_id": 2, "order_id": "A1", "total_inc_tax": 1, ' + pairs + "}\n"
    (row,) = read_rows(write(tmp_path, "in.jsonl", line))
    assert row == BadRow(1, None, f"names {'a' * 40!r}..., 'b', 'c' more than once")
