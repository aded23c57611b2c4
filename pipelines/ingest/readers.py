"""Read a delivered file into a DuckDB temp table of text columns with canonical names.

Every format ends as the same shape (one VARCHAR column per canonical column plus
`_source_row`), so typing, pseudonymizing and checking are written once for all of them.
Files are scanned by DuckDB itself (CSV, JSON lines; workbooks through a temporary CSV) so large
deliveries stream. Whatever cannot be read is refused with a DeliveryError naming what is wrong.
"""

from __future__ import annotations

import csv
import datetime as dt
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Literal

import duckdb

from pipelines.core.sql import ident, literal
from pipelines.ingest.limits import ReadLimits, size_words
from pipelines.ingest.textfiles import (
    HEADER_SEARCH_LINES,
    TextRefused,
    as_utf8,
    explain_scan_error,
    find_header,
    fold,
    header_score,
)
from pipelines.ingest.workbooks import WorkbookRefused, check_workbook

Format = Literal["csv", "xlsx", "jsonl"]
TEXT_TABLE = "_delivery_text"


class DeliveryError(ValueError):
    """The delivery cannot be read as this dataset; the message is meant for the partner."""


@dataclass(frozen=True)
class Delivery:
    path: Path  # the delivered bytes on disk
    source: str  # what the partner knows it as: file name or URL
    format: Format
    sheet: str | None = None
    first_row: int = 2  # number of the first data row as the partner sees it (files: header is row 1;
    # a workbook's rows keep their Excel row numbers)


@dataclass(frozen=True)
class Loaded:
    rows: int
    note: str | None = None  # how the file was read, when a partner may want to know (encoding, header line)


@dataclass(frozen=True)
class _Source:
    relation: str  # a DuckDB table function scanning the delivery
    names: list[str]  # the partner's column names, in order
    columns: list[str]  # how each of them is named in `relation`
    numbered: str  # the row number the partner sees, as SQL over `relation`
    failure: str  # what to tell the partner when the scan fails for an unknown reason
    header_at: str  # where the names are, for messages
    explain: Callable[[str], str | None] = lambda message: None  # a scan error in the partner's terms
    note: str | None = None


def format_for(path: Path) -> Format:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    return "csv"


def _strict_csv(path: Path, delimiter: str, skip: int, width: int, max_line_bytes: int | None = None) -> str:
    """A scan of `width` text columns c0.. after the first `skip` lines, with nothing guessed: a stray
    quote or a short line is an error to report, never data."""
    columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width))
    limit = f", max_line_size = {max_line_bytes}" if max_line_bytes else ""
    return (
        f"read_csv({literal(str(path))}, delim = {literal(delimiter)}, quote = '\"', escape = '\"', "
        f"header = false, skip = {skip}, columns = {{{columns}}}, auto_detect = false, strict_mode = true"
        f"{limit})"
    )


@contextmanager
def _source(
    con: duckdb.DuckDBPyConnection, delivery: Delivery, wanted: list[str], limits: ReadLimits
) -> Iterator[_Source]:
    size = delivery.path.stat().st_size
    if size > limits.max_file_bytes:
        raise DeliveryError(
            f"the file is {size_words(size, exact=True)}, more than the "
            f"{size_words(limits.max_file_bytes, exact=True)} "
            f"one delivery may be (setting {ReadLimits.ENV['max_file_bytes']}): split it into "
            "smaller files"
        )
    if delivery.format == "xlsx":
        with _sheet_as_csv(delivery.path, delivery.sheet, wanted, limits) as (text, names, where, note):
            yield _Source(
                _strict_csv(text, ",", 1, len(names) + 1),
                names,
                [f"c{i + 1}" for i in range(len(names))],
                "cast(c0 as bigint)",
                "the sheet cannot be read",
                where,
                note=note,
            )
    elif delivery.format == "jsonl":
        if not size:
            raise DeliveryError("the delivery holds no records")
        relation = f"read_json({literal(str(delivery.path))}, format = 'newline_delimited')"
        failure = "the records cannot be read as JSON"
        names = [row[0] for row in _read(con, f"describe select * from {relation}", failure).fetchall()]
        yield _Source(
            relation,
            names,
            [ident(name) for name in names],
            f"row_number() over () + {delivery.first_row - 1}",
            failure,
            "the records",
        )
    else:
        with tempfile.TemporaryDirectory(prefix="backbone-text-") as scratch:
            try:
                text, encoding_note = as_utf8(delivery.path, Path(scratch))
                header = find_header(text, wanted, limits)
            except TextRefused as exc:
                raise DeliveryError(str(exc)) from None
            # Rows are numbered as the partner sees them: the first data row is the line after the header.
            first = delivery.first_row - 1 + header.line - 1
            notes = [note for note in (encoding_note, header.note()) if note]
            yield _Source(
                _strict_csv(text, header.delimiter, header.line, len(header.names), limits.max_line_bytes),
                header.names,
                [f"c{i}" for i in range(len(header.names))],
                f"row_number() over () + {first}",
                "the file cannot be read as CSV",
                f"line {header.line}",
                lambda message: explain_scan_error(message, text, header, limits),
                "; ".join(notes) or None,
            )


def _cell_text(value: object) -> str | None:
    """Excel cells as the text a partner typed: 12.0 -> '12', dates -> ISO; blank -> None."""
    kind = type(value)  # text and numbers first: a sheet is millions of them
    if kind is str:
        return value.strip() or None  # type: ignore[attr-defined]
    if kind is float:
        return str(int(value)) if value.is_integer() else str(value)  # type: ignore[attr-defined]
    if value is None:
        return None
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


@contextmanager
def _sheet_as_csv(
    path: Path, sheet: str | None, wanted: list[str], limits: ReadLimits
) -> Iterator[tuple[Path, list[str], str, str | None]]:
    """The sheet's rows after its header as a temporary CSV (each row's sheet row number first), the
    header's names, where the header is, and a note if rows above it were skipped."""
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        check_workbook(path, sheet, limits)  # before the reader spends memory on it
        workbook = CalamineWorkbook.from_path(str(path))
    except WorkbookRefused as exc:
        raise DeliveryError(str(exc)) from None
    except (CalamineError, OSError, ValueError) as exc:
        raise DeliveryError(f"the file cannot be opened as an Excel workbook (.xlsx): {exc}") from None
    names = workbook.sheet_names
    if sheet is not None and sheet not in names:
        raise DeliveryError(f"the workbook has no sheet named '{sheet}' (sheets: {', '.join(names)})")
    # Rows come from the sheet's first row on, blank ones included: a row keeps the number the
    # partner sees in Excel. Blank rows are skipped; the header is the first row holding the most of
    # the dataset's column names (a title typed above it is skipped), or else the first row.
    name = sheet or names[0]
    sheet_rows = enumerate(workbook.get_sheet_by_name(name).iter_rows(), start=1)
    rows = ((number, cells) for number, cells in sheet_rows if any(cell not in (None, "") for cell in cells))
    leading = list(islice(rows, HEADER_SEARCH_LINES))
    if not leading:
        raise DeliveryError(f"the sheet '{name}' is empty")
    folded = {fold(column) for column in wanted}
    texts = [[_cell_text(cell) or "" for cell in cells] for _, cells in leading]
    pick = max(range(len(texts)), key=lambda i: (header_score(texts[i], folded), -i))
    header_row = leading[pick][0]
    columns = [text or f"column{i + 1}" for i, text in enumerate(texts[pick])]
    note = f"the header is row {header_row} of the sheet; the rows above it were skipped" if pick else None
    rows = chain(leading[pick + 1 :], rows)
    # The cells, as text, stream through a temporary CSV file that DuckDB scans like any CSV delivery:
    # no whole-sheet frame in Python, and one code path types and lands the rows.
    with tempfile.TemporaryDirectory(prefix="backbone-xlsx-") as scratch:
        text = Path(scratch) / "sheet.csv"
        with text.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["_source_row", *columns])
            writer.writerows([number, *map(_cell_text, cells)] for number, cells in rows)
        yield text, columns, f"row {header_row} of sheet '{name}'", note


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0]


def _read(
    con: duckdb.DuckDBPyConnection, sql: str, failure: str, explain: Callable[[str], str | None] = lambda message: None
) -> duckdb.DuckDBPyConnection:
    try:
        return con.execute(sql)
    except duckdb.Error as exc:
        raise DeliveryError(explain(str(exc)) or f"{failure}: {_first_line(exc)}") from None


def _positions(source: _Source, columns: dict[str, str]) -> dict[str, int]:
    """Canonical column -> position of the partner's column; refuses a missing or ambiguous one."""
    found: dict[str, list[int]] = {}
    for position, name in enumerate(source.names):
        found.setdefault(fold(name), []).append(position)
    missing = [f"'{theirs}' (for {ours})" for ours, theirs in columns.items() if fold(theirs) not in found]
    if missing:
        raise DeliveryError(
            f"missing column(s) {', '.join(missing)}; the delivery has: {', '.join(source.names) or 'no columns'}"
        )
    for theirs in columns.values():
        if len(same := found[fold(theirs)]) > 1:
            raise DeliveryError(
                f"the header ({source.header_at}) has {len(same)} columns that read as '{theirs}' (case and spaces "
                f"aside): "
                + ", ".join(f"column {i + 1} '{source.names[i]}'" for i in same)
                + "; keep one, or rename the others"
            )
    return {ours: found[fold(theirs)][0] for ours, theirs in columns.items()}


def load_text(
    con: duckdb.DuckDBPyConnection, delivery: Delivery, columns: dict[str, str], limits: ReadLimits = ReadLimits()
) -> Loaded:
    """Scan `delivery` into temp table TEXT_TABLE with the canonical names; return its row count.

    `columns` maps canonical name -> the partner's column name. Column names are matched
    ignoring case and surrounding spaces, because spreadsheets drift in exactly that way; two
    columns that match one name are refused rather than one of them picked.
    One statement numbers, renames and trims the rows straight from the file (a numbered copy
    first, renamed after, cost a third more per file).
    """
    with _source(con, delivery, list(columns.values()), limits) as source:
        positions = _positions(source, columns)
        # Numbered in file order (a window over the scan, so before any filter), or by the sheet's own rows.
        select = ", ".join(
            f"nullif(trim(cast({source.columns[position]} as varchar)), '') as {ident(ours)}"
            for ours, position in positions.items()
        )
        _read(
            con,
            f"create or replace temp table {TEXT_TABLE} as select {source.numbered} as _source_row, {select} "
            f"from {source.relation}",
            source.failure,
            source.explain,
        )
    return Loaded(con.execute(f"select count(*) from {TEXT_TABLE}").fetchone()[0], source.note)
