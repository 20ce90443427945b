"""Input files and the results journal of ``b2b-async orders register``.

This module owns the files of a registration run and nothing else (no I/O with the API):
:func:`read_rows` turns a CSV or JSONL file into :class:`Row`, :class:`V3Row` and
:class:`BadRow` values, and :class:`Journal` records one JSON line per finished order.

The journal is the results file: one JSON line per finished order, appended and flushed
as each outcome completes, so that a process killed at any moment (even by SIGKILL) leaves
every finished order recorded. A new run with the same journal skips what is recorded as
registered and sends the rest again; an order that was in flight when the process died is
sent again, and its "already exists" answer then counts as registered. An order the run
never sent (it stopped on a 401, a 403 or a server it could not reach, or at Ctrl-C, and
withdrew the orders still waiting for budget) gets no line, so the next run sends it like
any order without one.

Reading the journal follows one rule (see :meth:`Journal.load`): a line cut short by a crash
is ignored, since sending its order again is safe; any other line that is not an entry
stops the run before anything is sent (:class:`CorruptJournalError`), since the file was
then edited or is not a journal at all. A failed write is a :class:`JournalWriteError`.

Two row formats: V2 rows (``company_id, customer_id, order_id, total_inc_tax, po_number``)
become :class:`~b2b_async.NewOrder`; V3 rows (``bc_order_id, customer_id, po_number,
created_at``, and in JSONL an ``extra_fields`` object of name to value) become
:class:`~b2b_async.NewV3Order`, ``created_at`` read as ISO 8601 with an offset or as Unix
seconds. The journal keys both by the BigCommerce order id as text; a V3 line also records
what ``ensure`` did (``action``).
"""

from __future__ import annotations

import collections
import contextlib
import csv
import errno
import fcntl
import itertools
import json
import os
import re
import reprlib
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Final, Literal, cast

import attrs

from ._bulk import OrderOutcome
from ._exceptions import APIError, B2BError, InvalidOrderError, is_refusal
from ._v2_models import NewOrder
from ._v3_models import NewV3Order

__all__ = [
    "COLUMNS",
    "CSV_FORMAT",
    "ESCAPED_BYTE",
    "FORMATS",
    "LINE_BREAK",
    "NOT_ATTEMPTED",
    "REGISTERED",
    "SPACE_AFTER_QUOTE",
    "STATUSES",
    "V3_COLUMNS",
    "Api",
    "BadRow",
    "CorruptJournalError",
    "ForeignJournalError",
    "InputFileError",
    "JSONObject",
    "Journal",
    "JournalInUseError",
    "JournalWriteError",
    "LineTap",
    "Row",
    "RowFormat",
    "V3Row",
    "append_to",
    "bad_row_entry",
    "check_header",
    "count_rows",
    "csv_row",
    "csv_rows",
    "describe",
    "ends_unfinished",
    "entry_for",
    "entry_problem",
    "input_errors",
    "is_jsonl",
    "jsonl_rows",
    "pending",
    "quote_after_tab",
    "quoting_problem",
    "raised_as",
    "read_entry",
    "read_rows",
    "repeated_keys_problem",
    "row_from",
    "rows_of",
    "shorten",
    "status_of",
    "target_of",
    "utf8_lines",
    "v2_order",
    "v3_order",
    "writing",
]

Api = Literal["v2", "v3"]
COLUMNS: Final = ("company_id", "customer_id", "order_id", "total_inc_tax", "po_number")
REQUIRED: Final = ("customer_id", "order_id", "total_inc_tax")
V3_COLUMNS: Final = ("bc_order_id", "customer_id", "po_number", "created_at")
V3_REQUIRED: Final = ("bc_order_id", "customer_id")
#: A byte that is not UTF-8, as the ``surrogateescape`` error handler reads it.
ESCAPED_BYTE: Final = re.compile("[\udc80-\udcff]")
#: A line break as the CSV module reads one inside a quoted value.
LINE_BREAK: Final = re.compile(r"\r\n|\r|\n")
REGISTERED: Final = frozenset({"created", "already_registered"})
#: Every status a journal line may hold, registered ones first.
STATUSES: Final = ("created", "already_registered", "rejected", "failed")
#: The status of an order a run never sent; it is never journaled.
NOT_ATTEMPTED: Final = "not_attempted"


class InputFileError(ValueError):
    """The input file cannot be read as orders at all; nothing was sent."""


class CorruptJournalError(ValueError):
    """A line of the results journal is neither an entry nor a line cut short by a crash.

    Args:
        path: the journal.
        line: the line's number, from 1.
        reason: what is wrong with it.

    Attributes:
        line: the line's number, from 1.
        reason: what is wrong with it.
    """

    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path} line {line} is not a journal entry: {reason}")
        self.line: int = line
        self.reason: str = reason


class ForeignJournalError(ValueError):
    """The results journal records orders sent elsewhere: another API, host or store.

    Its entries' skips would be wrong here: an order registered with a sandbox is not
    registered with the store.

    Args:
        path: the journal.
        line: the number of the first line that names another target, from 1.
        recorded: the target that line names.
        target: the target of this run.
    """

    def __init__(self, path: Path, line: int, recorded: object, target: str) -> None:
        # null or a number as it is, not as the repr of a string; either cut short
        shown = shorten(recorded) if isinstance(recorded, str) else reprlib.repr(recorded)
        super().__init__(
            f"{path} line {line} records an order sent to {shown}, and this run sends to {target!r}"
        )
        self.line: int = line


class JournalInUseError(ValueError):
    """Another run holds the results journal: two runs on one journal would each send the
    orders the other is sending, spending the store's budget on "already registered"."""


class JournalWriteError(OSError):
    """The results journal cannot be written: the disk is full, or the device failed.

    Its message names the journal and the :class:`OSError` the write met, which is also
    its ``__cause__``.
    """


@attrs.frozen
class Row:
    """One order read from the input, with the line it came from.

    Attributes:
        line: the input line (for CSV, the line the record starts on).
        order: the order.
    """

    line: int
    order: NewOrder


@attrs.frozen
class V3Row:
    """One V3 order read from the input (``--api v3``), with the line it came from.

    Attributes:
        line: the input line (for CSV, the line the record starts on).
        order: the order.
    """

    line: int
    order: NewV3Order


@attrs.frozen
class BadRow:
    """A line that does not hold a valid order.

    Attributes:
        line: the input line.
        order_id: the order's id, when the line names one.
        reason: what is wrong with it.
    """

    line: int
    order_id: str | None
    reason: str


def v2_order(values: dict[str, Any]) -> NewOrder:
    """Build the order of a V2 row (its required columns present).

    Raises:
        InvalidOrderError: a value is not valid for a :class:`~b2b_async.NewOrder`.
    """
    return NewOrder(
        given(values, "company_id"),
        values["customer_id"],
        values["order_id"],
        values["total_inc_tax"],
        given(values, "po_number"),
    )


def given(values: dict[str, Any], name: str) -> Any:
    """An optional column's value, ``None`` when it is absent, null or empty.

    Any other value, ``0`` and ``false`` included, goes on to the order's checks: a value
    the order refuses is the row's error, never quietly dropped.
    """
    value = values.get(name)
    return None if value is None or value == "" else value


def v3_order(values: dict[str, Any]) -> NewV3Order:
    """Build the order of a V3 row (its required columns present).

    Raises:
        InvalidOrderError: a value is not valid for a :class:`~b2b_async.NewV3Order`.
    """
    return NewV3Order(
        values["bc_order_id"],
        values["customer_id"],
        given(values, "po_number"),
        given(values, "extra_fields"),
        created_at=creation_time(values.get("created_at")),
    )


def creation_time(value: object) -> datetime | None:
    """Read a row's ``created_at``: ISO 8601 with an offset, or Unix seconds; empty is ``None``.

    Raises:
        InvalidOrderError: the value is neither, or names no offset.
    """
    if value in (None, ""):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return unix_time(value)
    text = str(value).strip()
    if text.isascii() and "_" not in text:  # seconds written as JSON writes a number
        try:
            seconds = float(text)
        except ValueError:
            pass
        else:
            return unix_time(seconds)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidOrderError(
            f"created_at must be ISO 8601 with an offset or Unix seconds, got {shorten(text)}"
        ) from None
    if moment.utcoffset() is None:
        raise InvalidOrderError(f"created_at must name its offset, got {shorten(text)}")
    return moment


def unix_time(seconds: float) -> datetime:
    """The aware UTC time of ``seconds`` since the epoch.

    Raises:
        InvalidOrderError: the number is no time (NaN, infinite, out of range).
    """
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        raise InvalidOrderError(f"created_at is no time: {seconds!r}") from None


@attrs.frozen
class RowFormat:
    """The columns of one API version's rows, and how a row becomes an order.

    Attributes:
        columns: the columns a CSV header names.
        required: the columns a row must fill.
        key: the column holding the order's BigCommerce id (the journal's key).
        build: turns a row's values into an order.
        objects: the keys of a JSON line holding objects the row reads (V3's
            ``extra_fields``), which CSV cannot carry.
    """

    columns: tuple[str, ...]
    required: tuple[str, ...]
    key: str
    build: Callable[[dict[str, Any]], NewOrder | NewV3Order]
    objects: tuple[str, ...] = ()


FORMATS: Final[dict[str, RowFormat]] = {
    "v2": RowFormat(COLUMNS, REQUIRED, "order_id", v2_order),
    "v3": RowFormat(V3_COLUMNS, V3_REQUIRED, "bc_order_id", v3_order, ("extra_fields",)),
}


def row_from(
    values: dict[str, Any], line: int, form: RowFormat = FORMATS["v2"]
) -> Row | V3Row | BadRow:
    """Turn one row's values into an order, or a :class:`BadRow` saying what is wrong."""
    order_id = values.get(form.key)
    order_key = None if order_id in (None, "") else str(order_id)
    missing = [name for name in form.required if values.get(name) in (None, "")]
    if missing:
        return BadRow(line, order_key, f"missing {', '.join(missing)}")
    try:
        order = form.build(values)
    except InvalidOrderError as exc:
        return BadRow(line, order_key, str(exc))
    return Row(line, order) if isinstance(order, NewOrder) else V3Row(line, order)


def csv_rows(handle: Iterable[str], form: RowFormat) -> Iterator[Row | V3Row | BadRow]:
    """The rows of a CSV file with a header, each with the number of the line it starts on.

    Raises:
        InputFileError: the header lacks a required column or names one twice, a value holds
            a line break (see :func:`csv_row`), or the CSV cannot be parsed (a field longer
            than :func:`csv.field_size_limit`, as a quote left open makes).
    """
    tap = LineTap(handle)
    reader = csv.reader(tap, **CSV_FORMAT)
    read = 0  # the lines of the records read whole

    def unparsable(exc: Exception) -> InputFileError:
        return InputFileError(f"line {read + 1} is not a CSV row this reads: {exc}")

    with raised_as(unparsable, (csv.Error,), chained=False):
        header: list[str] | None = []
        # Lines before the header that name nothing are skipped, as such rows are: blank
        # lines, spaces, a spreadsheet's empty row of separators alone (",,,,").
        while header is not None and not any(name.strip() for name in header):
            read = reader.line_num
            tap.take()  # the lines skipped: the header's quotes are checked on its own
            header = next(reader, None)
        misquoted = quoting_problem(tap.take())
        if misquoted is not None:
            raise InputFileError(f"the CSV header on line {read + 1} {misquoted}")
        header = [name.strip() for name in header or []]  # "company_id " names company_id
        check_header(header, form)
        read = reader.line_num
        for record in reader:
            line, read = read + 1, reader.line_num
            row = csv_row(header, record, tap.take(), line, form)
            if row is not None:
                yield row


#: How the CSV reader reads: spaces after a comma are no part of a value, so that
#: ``, "BC1"`` is the value ``BC1`` and not ``"BC1"`` with its quotes.
CSV_FORMAT: Final[dict[str, Any]] = {"skipinitialspace": True}
#: Spaces after a quote, up to a comma or the line's end: after a closing quote, no part
#: of the value to a lenient reader, and no break of the format to :func:`quoting_problem`.
SPACE_AFTER_QUOTE: Final = re.compile(r'"[ \t]+(?=,|\r|\n|$)')


class LineTap:
    """The lines of a file, kept as a reader takes them until :meth:`take` hands them over."""

    __slots__ = ("_handle", "_lines")

    def __init__(self, handle: Iterable[str]) -> None:
        self._handle = handle
        self._lines: list[str] = []

    def __iter__(self) -> Iterator[str]:
        for text in self._handle:
            self._lines.append(text)
            yield text

    def take(self) -> list[str]:
        """The lines taken since the last call: those of the record just read."""
        lines, self._lines = self._lines, []
        return lines


def quoting_problem(lines: list[str]) -> str | None:
    """Say how a CSV record's quotes break the format; ``None`` when they do not.

    A quote that closes in mid-value (``"BC2"x``) leaves a value the lenient reader joins
    up (``BC2x``): an order id nobody wrote. So does a quote left open at the end of the
    file. Spaces between a closing quote and the comma after it, as hand-written files
    have, are no such break. Nor is a quote after a tab (``\t"BC1"``) an opening one, as
    one after spaces is: the value would keep its quotes (:func:`quote_after_tab`). Such a
    record is refused as a row; the lines after it read as they are, since its quotes are
    closed.
    """
    written = [SPACE_AFTER_QUOTE.sub('"', text) for text in lines]
    try:
        next(csv.reader(written, strict=True, **CSV_FORMAT), None)
    except csv.Error as exc:
        return (
            f"is not CSV as written, {exc} (is a quote left open, or one inside a quoted "
            "value not written twice?)"
        )
    if quote_after_tab(lines):
        return (
            "holds a quote after a tab, which opens no quoted value: the value would keep its "
            "quotes (put spaces or nothing between the comma and the quote)"
        )
    return None


def quote_after_tab(lines: list[str]) -> bool:
    """Whether a value of the record's ``lines`` has a quote after a tab where it begins.

    The reader skips the spaces after a comma (:data:`CSV_FORMAT`), not tabs: a quote after
    a tab is kept in the value, ``\t"BC1"`` read as ``"BC1"``. Read again with its tabs as
    spaces, such a record gives other values; any other tab gives the same ones.
    """
    if not any("\t" in text and '"' in text for text in lines):
        return False
    read = next(csv.reader(lines, **CSV_FORMAT), [])
    spaced = next(csv.reader([text.replace("\t", " ") for text in lines], **CSV_FORMAT), [])
    as_read = [text.replace("\t", " ").lstrip(" ") for text in read]
    return as_read != [text.lstrip(" ") for text in spaced]


def csv_row(
    header: list[str], record: list[str], lines: list[str], line: int, form: RowFormat
) -> Row | V3Row | BadRow | None:
    """One CSV record, read from ``lines`` starting at ``line``, as a row; ``None`` for a
    blank line or separators alone. A record whose quotes break the format is a
    :class:`BadRow` naming no order (see :func:`quoting_problem`).

    Raises:
        InputFileError: a value holds a line break. An order takes one line, and a quote
            left open takes every line after it for one value: reading on would pass over
            the orders on those lines.
    """
    broken = next((text for text in record if LINE_BREAK.search(text)), None)
    if broken is not None:
        raise InputFileError(
            f"line {line} opens a value that holds line breaks, {shorten(broken, 40)} "
            f"(an order takes one line: is a quote left open?)"
        )
    misquoted = quoting_problem(lines)
    if misquoted is not None:
        return BadRow(line, None, misquoted)
    if not any(text.strip() for text in record):
        return None
    values = dict(zip(header, record, strict=False))
    shifted = shifted_values(header, record)
    if shifted is not None:
        return BadRow(line, values.get(form.key) or None, shifted)
    return row_from(values, line, form)


def shifted_values(header: Sequence[str], record: Sequence[str]) -> str | None:
    """Say how a CSV record's values fail to line up with its header; ``None`` when they do.

    A comma left unquoted in a value (``1,234.50``) splits it in two, and every value after
    it moves one column on: the last lands past the header's columns, or in a column the
    header leaves unnamed, where nothing reads it. A spreadsheet leaves empty cells in such
    places too, so an empty one is a sign only past a header that does not end in empty
    cells of its own, as a spreadsheet's header does.
    """
    unquoted = "(a comma in a value left unquoted?)"
    past = _filled(record[len(header) :])
    if past:
        return f"holds values past the header's {len(header)} columns, {past} {unquoted}"
    unnamed = _filled(text for name, text in zip(header, record, strict=False) if not name.strip())
    if unnamed:
        return (
            f"holds values in columns the header does not name, {unnamed} (name the column, "
            "or quote a value that holds a comma)"
        )
    if len(record) > len(header) and header and header[-1].strip():
        return (
            f"holds {len(record)} values, more than the header's {len(header)} columns {unquoted}"
        )
    return None


def _filled(values: Iterable[str]) -> str:
    """The values that are not blank, joined and shortened to quote; ``""`` when none is."""
    filled = [text for text in values if text.strip()]
    return shorten(",".join(filled), 40) if filled else ""


def other_api_hint(header: Sequence[str], form: RowFormat) -> str:
    """``" (these are the columns of --api v3)"`` when ``header`` has every required column
    of the other API's rows, else ``""``: the likeliest reason its own are missing."""
    for api, other in FORMATS.items():
        if other is not form and all(name in header for name in other.required):
            return f" (these are the columns of --api {api})"
    return ""


def check_header(header: Sequence[str], form: RowFormat) -> None:
    """Refuse a CSV header that lacks a required column or names one twice.

    Columns without a name (a spreadsheet's empty cells) are no columns: they may repeat.

    Raises:
        InputFileError: it does.
    """
    absent = [name for name in form.required if name not in header]
    if absent:
        optional = [name for name in form.columns if name not in form.required]
        raise InputFileError(
            f"the CSV header must name {', '.join(form.required)} (and may name "
            f"{', '.join(optional)}); missing {', '.join(absent)}{other_api_hint(header, form)}"
        )
    counts = collections.Counter(name for name in header if name.strip())
    repeated = sorted(name for name, count in counts.items() if count > 1)
    if repeated:
        named = ", ".join(shorten(name, 40) for name in repeated[:3])
        raise InputFileError(f"the CSV header names {named} more than once")


def jsonl_rows(handle: Iterable[str], form: RowFormat) -> Iterator[Row | V3Row | BadRow]:
    """The rows of a JSONL file, one JSON object a line; blank lines are skipped."""
    for number, text in enumerate(json_lines(handle), start=1):
        if not text.strip():
            continue
        try:
            # Decimal: a float would round a total of more than 15 significant digits
            # before the order's own check could refuse it.
            values = json.loads(text, parse_float=Decimal, object_pairs_hook=JSONObject)
        except json.JSONDecodeError:
            yield BadRow(number, None, "not valid JSON")
            continue
        except ValueError:  # an integer past Python's limit on the digits it converts
            yield BadRow(number, None, "holds a number too long to read")
            continue
        except RecursionError:
            yield BadRow(number, None, "nested too deeply to be an order")
            continue
        if not isinstance(values, dict):
            yield BadRow(number, None, "not a JSON object")
            continue
        problem = repeated_keys_problem(values, form)
        yield row_from(values, number, form) if problem is None else BadRow(number, None, problem)


class JSONObject(dict[str, Any]):
    """A JSON object, and the keys it named more than once (``json`` keeps the last value).

    Its class name is what a message shows of an object given where a value goes: "got
    JSONObject".
    """

    __slots__ = ("repeated",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        counts = collections.Counter(key for key, _ in pairs) if len(self) < len(pairs) else {}
        self.repeated: list[str] = sorted(key for key, count in counts.items() if count > 1)


def repeated_keys_problem(values: dict[str, Any], form: RowFormat) -> str | None:
    """What is wrong with a JSON line naming a key twice; ``None`` when none repeats.

    The keys that count are the line's own and those of the objects in the columns the row
    reads (V3's ``extra_fields``): a nested object the row does not read may repeat its own.
    """
    read = [values.get(key) for key in (*form.columns, *form.objects)]
    for found in (values, *read):
        if isinstance(found, JSONObject) and found.repeated:
            named = ", ".join(shorten(key, 40) for key in found.repeated[:3])
            return f"names {named} more than once"
    return None


def json_lines(handle: Iterable[str]) -> Iterator[str]:
    """The lines of a JSONL file, which only ``\n`` ends (``\r\n`` too, as ``\r`` is white
    space to JSON); a lone ``\r``, which the file's universal newlines end a line at, does not.
    """
    line = ""
    for piece in handle:
        line += piece
        if line.endswith("\n"):
            yield line
            line = ""
    if line:
        yield line


def is_jsonl(path: Path, first: str) -> bool:
    """Whether the input is JSONL: by its extension, else by its first line."""
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        return True
    return path.suffix.lower() != ".csv" and first.lstrip().startswith("{")


def read_rows(path: Path, *, api: Api = "v2") -> Generator[Row | V3Row | BadRow, None, None]:
    """Read orders lazily from a CSV (with a header) or JSONL file.

    The format is chosen by the extension (``.csv``, ``.jsonl``), else by the first line.
    ``api`` chooses the columns: V2's (:data:`COLUMNS`) or V3's (:data:`V3_COLUMNS`).
    A UTF-8 byte order mark (as spreadsheet programs write) is skipped. Closing the
    returned generator closes the file.

    Raises:
        InputFileError: the file is missing, not text, or a CSV whose header lacks a needed
            column or names one twice; raised before the first row is returned. Later,
            iterating raises it when the file turns out not to be UTF-8 text further on, or
            a CSV value holds a line break (see :func:`csv_row`).
    """
    with input_errors(path):
        # utf-8-sig: a BOM would otherwise glue itself to the first column's name.
        # surrogateescape: a byte that is not UTF-8 is found on its own line by
        # utf8_lines, not in whatever block of the file the decoder happens to read.
        handle = path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
    rows = rows_of(path, handle, FORMATS[api])
    next(rows)  # runs up to the first row, so that a bad header or encoding raises here
    return cast("Generator[Row | V3Row | BadRow, None, None]", rows)


def input_errors(path: Path) -> contextlib.AbstractContextManager[None]:
    """Turn a failure to read the input file into an :class:`InputFileError` naming it.

    The message says all there is to know, so the original is not chained. (Bytes that are
    not UTF-8 raise nothing here: the file is read with ``surrogateescape``, and
    :func:`utf8_lines` names the line that holds them.)
    """

    def named(exc: Exception) -> InputFileError:
        return InputFileError(f"cannot read {path}: {exc}")

    return raised_as(named, (OSError,), chained=False)


@contextlib.contextmanager
def raised_as(
    named: Callable[[Exception], Exception],
    caught: tuple[type[Exception], ...],
    *,
    chained: bool = True,
) -> Iterator[None]:
    """Raise ``named(exc)`` in place of an exception ``exc`` of a ``caught`` type.

    Args:
        named: builds the error that names the file and what went wrong.
        caught: the exception types to replace.
        chained: keep ``exc`` as the new error's ``__cause__``; otherwise it is hidden.
    """
    try:
        yield
    except caught as exc:
        raise named(exc) from (exc if chained else None)


class FirstRows:
    """The first row of each order id in a file, against which its later rows are checked.

    A later row with the same values is let through (its order is then found already
    registered); extra fields count as the same in any order. One with other values is
    refused: one of the two rows is wrong, and sent, it would only be found already
    registered, its values dropped without a word. Only a hash of each first row's order
    is kept, with its line: about a hundred bytes an order, besides its id.
    """

    __slots__ = ("_first",)

    def __init__(self) -> None:
        self._first: dict[str, tuple[int, int]] = {}

    def check(self, row: Row | V3Row | BadRow) -> Row | V3Row | BadRow:
        """``row``, or a :class:`BadRow` when an earlier row gave its order id other values."""
        if isinstance(row, BadRow):
            return row
        order_id, fingerprint = row.order.order_id, hash(values_of(row.order))
        line, first = self._first.setdefault(order_id, (row.line, fingerprint))
        if first == fingerprint:
            return row
        reason = f"order id {order_id} is on line {line} with other values"
        return BadRow(row.line, order_id, reason)


def values_of(order: NewOrder | NewV3Order) -> NewOrder | NewV3Order:
    """``order`` with its extra fields in the order of their names: two rows that give the
    same fields in another order give the same values."""
    if isinstance(order, NewOrder):
        return order
    named = sorted(order.extra_fields, key=lambda field: field.field_name)
    return attrs.evolve(order, extra_fields=named)


def utf8_lines(handle: Iterable[str], path: Path, *, jsonl: bool) -> Iterator[str]:
    """The lines of an input read with ``surrogateescape``, up to the first that is not UTF-8.

    Lines are counted as the readers count them: a CSV line ends at ``\n``, ``\r\n`` or
    ``\r`` (each piece the file hands out), a JSONL line at ``\n`` alone (:func:`json_lines`).

    Raises:
        InputFileError: a line holds a byte that is not UTF-8; every line before it has been
            handed out.
    """
    number = 1
    for text in handle:
        found = ESCAPED_BYTE.search(text)
        if found is not None:
            raw = text.encode("utf-8", "surrogateescape")
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                byte, reason = raw[exc.start : exc.start + 1].hex(), exc.reason
            else:  # pragma: no cover - an escaped byte never decodes
                byte, reason = f"{ord(found.group()) - 0xDC00:02x}", "invalid byte"
            where = f"line {number}, byte 0x{byte}, {reason}"
            raise InputFileError(f"{path} is not UTF-8 text: {where}")
        yield text
        if not jsonl or text.endswith("\n"):
            number += 1


def rows_of(
    path: Path, handle: IO[str], form: RowFormat
) -> Generator[Row | V3Row | BadRow | None, None, None]:
    """The rows, after one ``None`` once the file is open and its first row read.

    The file is held by the generator from its first step on, so closing the generator
    closes it, whether or not a row was read.

    Raises:
        InputFileError: the file is not UTF-8 text, cannot be read, or is a CSV without
            the needed header.
    """
    with handle:
        with input_errors(path):
            first_line = handle.readline()
            handle.seek(0)
            jsonl = is_jsonl(path, first_line)
            lines = utf8_lines(handle, path, jsonl=jsonl)
            rows = jsonl_rows(lines, form) if jsonl else csv_rows(lines, form)
            first = next(rows, None)
        yield None
        if first is None:
            return
        first_rows = FirstRows()
        yield first_rows.check(first)
        with input_errors(path):
            yield from map(first_rows.check, rows)


def count_rows(path: Path) -> int:
    """Count the non-empty data lines of the input (for progress), without parsing them.

    A CSV's header is not a row: the format is told as :func:`read_rows` tells it, so a CSV
    named without ``.csv`` loses its header from the count too.

    Raises:
        InputFileError: the file cannot be opened or read (gone since it was opened, say).
    """
    with input_errors(path), path.open("rb") as handle:
        first = handle.readline()
        opening = first.decode("utf-8-sig", "replace")  # a byte order mark is no row
        jsonl = is_jsonl(path, opening)
        texts = itertools.chain([opening], (line.decode("utf-8", "replace") for line in handle))
        lines = sum(
            1 for text in texts for piece in pieces_of(text, jsonl=jsonl) if not blank_line(piece)
        )
    return lines if jsonl else max(lines - 1, 0)


def pieces_of(text: str, *, jsonl: bool) -> list[str]:
    """The lines the reader reads in ``text``, a line of the file up to ``\n``: a CSV line
    also ends at a lone ``\r`` (as :func:`utf8_lines` counts), a JSONL line does not."""
    body = text.rstrip("\r\n")
    return body.split("\r") if not jsonl and "\r" in body else [text]


def blank_line(text: str) -> bool:
    """Whether an input line holds no row: blanks, or a CSV's separators and empty quotes
    alone (``,,,,``, ``"",""``), as :func:`csv_row` skips them."""
    return not text.replace(",", " ").replace('"', " ").strip()


def status_of(outcome: OrderOutcome[Any, Any]) -> str:
    """Name an outcome: one of :data:`STATUSES`, or :data:`NOT_ATTEMPTED`.

    ``rejected`` means the API (or the validation before it) refused the order; sending it
    again will not help. ``failed`` means it could not be registered this time (the API
    unreachable, or still failing after the retries); a new run tries it again.
    ``not_attempted`` means the run stopped sending before this order's request left (a
    401, a 403, a server that cannot be reached, Ctrl-C): it gets no journal line, so a new
    run sends it.
    """
    if not outcome.attempted:
        return NOT_ATTEMPTED
    if outcome.result is not None:
        return "already_registered" if outcome.result.already_registered else "created"
    error = outcome.error
    if isinstance(error, InvalidOrderError) or is_refusal(error):
        return "rejected"
    return "failed"


def describe(error: B2BError | None) -> dict[str, Any] | None:
    """The error details a journal line records (never the token: errors do not hold it)."""
    if error is None:
        return None
    details: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    if isinstance(error, APIError):
        details.update(status=error.status, code=error.code, request_id=error.request_id)
    if error.after_uncertain_attempt:  # the order may be registered all the same
        details["after_uncertain_attempt"] = True
    return details


class Journal:
    """The results file: what earlier runs finished, and where this run appends.

    Args:
        path: the JSONL results file; created when missing.
        target: where this run sends its orders (:func:`target_of`), written into each
            entry; ``None`` to write and check none.

    Attributes:
        path: the results file.
        target: where this run sends its orders.
        registered: the order ids earlier runs recorded as registered (after :meth:`load`).
        cut_short: the numbers of the lines :meth:`load` ignored as cut short by a crash.
    """

    __slots__ = ("_handle", "cut_short", "path", "registered", "target")

    def __init__(self, path: Path, target: str | None = None) -> None:
        self.path: Path = path
        self.target: str | None = target
        self.registered: set[str] = set()
        self.cut_short: list[int] = []
        self._handle: IO[str] | None = None

    def load(self) -> None:
        """Read what earlier runs recorded.

        Blank lines are skipped. A line that starts like an entry but is not valid JSON is
        what a crash leaves when it cuts a line short: it is ignored and its number kept in
        :attr:`cut_short`. Its order, if it was registered, is sent again and found already
        registered, so ignoring it loses nothing and registers nothing twice.

        Raises:
            CorruptJournalError: a line is valid JSON but not an entry, or is not JSON and
                does not start like one: a crash cannot write either, so the file was
                edited or is not a journal, and guessing what it meant is unsafe.
            ForeignJournalError: an entry records a registration with another target.
            OSError: the file cannot be read.
        """
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8", errors="replace") as handle:
            for number, text in enumerate(handle, start=1):
                self.take(number, text)

    def take(self, number: int, text: str) -> None:
        """Take line ``number`` of the journal into :attr:`registered` or :attr:`cut_short`.

        Raises:
            CorruptJournalError: the line is not an entry, nor cut short by a crash.
            ForeignJournalError: the entry records a registration with another target than
                this run's (an entry that names none, as written before targets were, is
                taken as this run's; one of an order that failed or was refused skips
                nothing, so its target does not matter).
        """
        try:
            entry = read_entry(text)
        except ValueError as exc:
            raise CorruptJournalError(self.path, number, str(exc)) from None
        if entry is None:
            if text.strip():
                self.cut_short.append(number)
            return
        if entry["status"] not in REGISTERED:
            return  # it records no registration to skip, whatever target it names
        recorded = entry.get("target", self.target)
        if self.target is not None and recorded != self.target:
            raise ForeignJournalError(self.path, number, recorded, self.target)
        self.registered.add(entry["order_id"])

    def claim(self) -> None:
        """Hold the journal for this run, read it (:meth:`load`), then end a line a crash may
        have left unfinished.

        Holding it first turns a second run away before it reads a line of what may be a long
        journal, and no run reads entries that another is still appending. A journal that
        cannot be read is closed again unchanged: its unfinished line, if any, is ended only
        once the file has been read as a journal.

        Raises:
            JournalInUseError: another run holds the journal.
            CorruptJournalError: as :meth:`load` raises it.
            ForeignJournalError: as :meth:`load` raises it.
            JournalWriteError: ending the unfinished line failed (a full disk, say).
            OSError: the file cannot be opened or read.
        """
        unfinished = self._hold()
        with self._let_go_on_failure():
            self.load()
            if unfinished:
                self.write("\n")

    def open(self) -> None:
        """Open the file for appending, ending a line a crash may have left unfinished.

        Raises:
            OSError: the file cannot be read or opened for appending.
            JournalInUseError: another run holds the journal (see :func:`hold_alone`).
            JournalWriteError: ending the unfinished line failed (a full disk, say); the
                file is closed again.
        """
        if self._hold():
            with self._let_go_on_failure():
                self.write("\n")

    @contextlib.contextmanager
    def _let_go_on_failure(self) -> Iterator[None]:
        """Close the journal again, letting another run have it, when the block raises."""
        try:
            yield
        except BaseException:
            with contextlib.suppress(JournalWriteError):
                self.close()
            raise

    def _hold(self) -> bool:
        """Open the file for appending and hold it for this run alone.

        Returns:
            Whether the file ends in the middle of a line, as a killed writer leaves it: read
            once the file is held, so that no run still appending to it is looked at.

        Raises:
            OSError: the file cannot be read or opened for appending.
            JournalInUseError: another run holds the journal; the file is closed again.
        """
        self._handle = append_to(self.path)
        try:
            hold_alone(self._handle, self.path)
            return ends_unfinished(self.path)
        except BaseException:
            self._handle.close()
            self._handle = None
            raise

    def record(self, entry: dict[str, Any]) -> None:
        """Append one line and flush it, so it survives the process being killed.

        Raises:
            JournalWriteError: the line could not be written (a full disk, say).
        """
        if self.target is not None:
            entry = {**entry, "target": self.target}
        self.write(json.dumps(entry, separators=(",", ":"), default=str) + "\n")

    def write(self, text: str) -> None:
        """Append ``text`` to the open journal and flush it to the operating system.

        Raises:
            JournalWriteError: the text could not be written (a full disk, say).
        """
        assert self._handle is not None
        with writing(self.path):
            self._handle.write(text)
            self._handle.flush()

    def close(self) -> None:
        """Close the file, synced to disk first; closing twice does nothing.

        Raises:
            JournalWriteError: the last lines could not be written or synced; the file is
                closed all the same.
        """
        handle, self._handle = self._handle, None
        if handle is None:
            return
        with writing(self.path):
            try:
                handle.flush()
                os.fsync(handle.fileno())
            finally:
                handle.close()


def hold_alone(handle: IO[str], path: Path) -> None:
    """Take the journal open as ``handle`` for this run alone, until it is closed.

    The lock is advisory (``flock``): it keeps out other runs, which all take it, and goes
    with the process however it ends, so no crash leaves it behind. On a file system that
    has no such locks, the journal goes unlocked.

    Raises:
        JournalInUseError: another run holds it.
    """
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise JournalInUseError(f"the results journal {path} is in use by another run") from None
    except OSError as exc:
        if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP):
            raise


def append_to(path: Path) -> IO[str]:
    """Open the journal for appending text (the one place it is opened to be written)."""
    return path.open("a", encoding="utf-8")


def writing(path: Path) -> contextlib.AbstractContextManager[None]:
    """Turn a failed write to the journal into a :class:`JournalWriteError` naming it.

    The :class:`OSError` is kept as its ``__cause__``.
    """

    def named(exc: Exception) -> JournalWriteError:
        return JournalWriteError(f"cannot write the results journal {path}: {exc}")

    return raised_as(named, (OSError,))


def ends_unfinished(path: Path) -> bool:
    """Whether the file ends in the middle of a line, as a killed writer can leave it."""
    # Bytes, not text: the cut may fall inside a multi-byte character.
    try:
        with path.open("rb") as handle:
            if handle.seek(0, os.SEEK_END) == 0:
                return False
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) != b"\n"
    except FileNotFoundError:
        return False


def read_entry(text: str) -> dict[str, Any] | None:
    """Read one journal line as an entry; ``None`` for a blank line or one cut short.

    A crash can only cut a line short: what it leaves starts with ``{`` and is not valid
    JSON (no prefix of an entry is). After a power failure, the file system may also show
    the end of the file that was never written as NUL bytes: a line that starts with one is
    cut short too.

    Raises:
        ValueError: the line is not an entry, nor cut short; the message says why.
    """
    stripped = text.strip()
    if not stripped:
        return None
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError:
        if stripped.startswith(("{", "\0")):
            return None
        raise ValueError(f"not JSON: {shorten(stripped)}") from None
    except ValueError:  # an integer past Python's limit on the digits it converts
        raise ValueError(f"holds a number too long to read: {shorten(stripped)}") from None
    except RecursionError:  # no entry nests, and no prefix of one is deep
        raise ValueError(f"nested too deeply: {shorten(stripped)}") from None
    problem = entry_problem(value)
    if problem is not None:
        raise ValueError(f"{problem}: {shorten(stripped)}")
    return cast("dict[str, Any]", value)


def entry_problem(value: object) -> str | None:
    """What keeps a parsed line from being an entry; ``None`` when it is one.

    Only the fields a resumed run decides by are checked: ``status``, one of
    :data:`STATUSES`, and ``order_id``, a non-empty string (``null`` is allowed for a
    rejected or failed row that named no order).
    """
    if not isinstance(value, dict):
        return "not a JSON object"
    status, order_id = value.get("status"), value.get("order_id")
    if not isinstance(status, str) or status not in STATUSES:
        return f"status is not one of {', '.join(STATUSES)}"
    if isinstance(order_id, str) and order_id:
        return None
    if order_id is None and status not in REGISTERED:
        return None
    return "order_id is not a non-empty string"


def shorten(text: str, limit: int = 80) -> str:
    """``text`` as a repr of at most about ``limit`` characters, for a message."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


def target_of(base_url: str, api: Api, store_hash: str | None) -> str:
    """Where a run sends its orders, as its journal entries name it: the API and host root,
    and the store hash when one is given (without one, the store is known by the token
    alone, which no file may hold)."""
    target = f"{api} {base_url}"
    return f"{target} store {store_hash}" if store_hash else target


def entry_for(outcome: OrderOutcome[Any, Any], line: int) -> dict[str, Any]:
    """The journal line for one outcome.

    Raises:
        ValueError: the order was not attempted; such an order gets no line, so that the
            next run sends it.
    """
    if not outcome.attempted:
        raise ValueError(f"order {outcome.order.order_id} was not attempted: it gets no line")
    entry = {
        "order_id": outcome.order.order_id,
        "line": line,
        "status": status_of(outcome),
        "error": describe(outcome.error),
    }
    action = getattr(outcome.result, "action", None)  # what ensure did, for V3 rows
    if action is not None:
        entry["action"] = action
    return entry


def bad_row_entry(row: BadRow) -> dict[str, Any]:
    """The journal line for a row that holds no valid order."""
    return {
        "order_id": row.order_id,
        "line": row.line,
        "status": "rejected",
        "error": {"type": "InvalidOrderError", "message": f"line {row.line}: {row.reason}"},
    }


def pending(
    rows: Iterable[Row | V3Row | BadRow], journal: Journal
) -> Iterator[Row | V3Row | BadRow]:
    """The rows an earlier run did not already register."""
    for row in rows:
        if isinstance(row, Row | V3Row) and row.order.order_id in journal.registered:
            continue
        yield row
