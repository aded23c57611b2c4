"""Read a delivered file into a DuckDB temp table of text columns with canonical names.

Every format ends as the same shape (one VARCHAR column per canonical column plus
`_source_row`), so typing, pseudonymizing and checking are written once for all of them.
Files are scanned by DuckDB itself (CSV, JSON lines; workbooks through a temporary CSV) so large
deliveries stream.
"""

from __future__ import annotations

import csv
import datetime as dt
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb

from pipelines.core.sql import ident, literal

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


def format_for(path: Path) -> Format:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    return "csv"


def _check_not_binary(path: Path) -> None:
    head = path.read_bytes()[:8192] if path.stat().st_size else b""
    if not head:
        raise DeliveryError("the file is empty (0 bytes)")
    if b"\0" in head:
        raise DeliveryError("the file is not a text (CSV) file; it looks binary. Export the sheet as 'CSV UTF-8'")


@contextmanager
def _source(delivery: Delivery) -> Iterator[tuple[str, int | None, str]]:
    """The delivery as a DuckDB table function, the number of its first row (None: the relation has
    its own `_source_row` column) and what to tell the partner when it cannot be read."""
    if delivery.format == "xlsx":
        with _sheet_as_csv(delivery.path, delivery.sheet) as text:
            yield (f"read_csv({literal(str(text))}, all_varchar = true, header = true, delim = ',', "
                   "quote = '\"', escape = '\"')"), None, "the sheet cannot be read"
    elif delivery.format == "jsonl":
        if not delivery.path.stat().st_size:
            raise DeliveryError("the delivery holds no records")
        yield (f"read_json({literal(str(delivery.path))}, format = 'newline_delimited')", delivery.first_row,
               "the records cannot be read as JSON")
    else:
        _check_not_binary(delivery.path)
        # all_varchar: land exactly what was sent; typing (and its errors) happens in one place.
        yield (f"read_csv({literal(str(delivery.path))}, all_varchar = true, header = true)", delivery.first_row,
               "the file cannot be read as CSV")


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
def _sheet_as_csv(path: Path, sheet: str | None) -> Iterator[Path]:
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError, ValueError) as exc:
        raise DeliveryError(f"the file cannot be opened as an Excel workbook (.xlsx): {exc}") from None
    names = workbook.sheet_names
    if sheet is not None and sheet not in names:
        raise DeliveryError(f"the workbook has no sheet named '{sheet}' (sheets: {', '.join(names)})")
    # Rows come from the sheet's first row on, blank ones included: a row keeps the number the
    # partner sees in Excel. Blank rows are skipped; the first row with a value is the header.
    sheet_rows = enumerate(workbook.get_sheet_by_name(sheet or names[0]).iter_rows(), start=1)
    rows = ((number, cells) for number, cells in sheet_rows if any(cell not in (None, "") for cell in cells))
    _, header = next(rows, (None, None))
    if header is None:
        raise DeliveryError(f"the sheet '{sheet or names[0]}' is empty")
    # The cells, as text, stream through a temporary CSV file that DuckDB scans like any CSV delivery:
    # no whole-sheet frame in Python, and one code path types and lands the rows.
    with tempfile.TemporaryDirectory(prefix="backbone-xlsx-") as scratch:
        text = Path(scratch) / "sheet.csv"
        with text.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["_source_row", *(_cell_text(cell) or f"column{i + 1}" for i, cell in enumerate(header))])
            writer.writerows([number, *map(_cell_text, cells)] for number, cells in rows)
        yield text


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0]


def _read(con: duckdb.DuckDBPyConnection, sql: str, failure: str) -> duckdb.DuckDBPyConnection:
    try:
        return con.execute(sql)
    except duckdb.Error as exc:
        raise DeliveryError(f"{failure}: {_first_line(exc)}") from None


def load_text(con: duckdb.DuckDBPyConnection, delivery: Delivery, columns: dict[str, str]) -> int:
    """Scan `delivery` into temp table TEXT_TABLE with the canonical names; return its row count.

    `columns` maps canonical name -> the partner's column name. Column names are matched
    ignoring case and surrounding spaces, because spreadsheets drift in exactly that way.
    One statement numbers, renames and trims the rows straight from the file (a numbered copy
    first, renamed after, cost a third more per file).
    """
    with _source(delivery) as (relation, first_row, failure):
        described = _read(con, f"describe select * from {relation}", failure).fetchall()
        found = [row[0] for row in described if row[0] != "_source_row"]
        by_folded = {name.strip().casefold(): name for name in found}
        missing = [f"'{theirs}' (for {ours})" for ours, theirs in columns.items()
                   if theirs.strip().casefold() not in by_folded]
        if missing:
            raise DeliveryError(
                f"missing column(s) {', '.join(missing)}; the delivery has: {', '.join(found) or 'no columns'}"
            )
        # Numbered in file order (a window over the scan, so before any filter), or by the sheet's own rows.
        numbered = (f"row_number() over () + {first_row - 1}" if first_row is not None
                    else "cast(_source_row as bigint)")
        select = ", ".join(
            f"nullif(trim(cast({ident(by_folded[theirs.strip().casefold()])} as varchar)), '') as {ident(ours)}"
            for ours, theirs in columns.items()
        )
        _read(con, f"create or replace temp table {TEXT_TABLE} as select {numbered} as _source_row, {select} "
                   f"from {relation}", failure)
    return con.execute(f"select count(*) from {TEXT_TABLE}").fetchone()[0]
