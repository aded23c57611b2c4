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
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb

from pipelines.sql import ident, literal

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


def _scan(con: duckdb.DuckDBPyConnection, relation: str, first_row: int | None, failure: str) -> None:
    """The rows of a DuckDB table function into temp table `_scan`, numbered from `first_row` in file
    order, or (None) by the relation's own `_source_row` column."""
    numbered = (f"row_number() over () + {first_row - 1} as _source_row, *" if first_row is not None
                else "cast(_source_row as bigint) as _source_row, * exclude (_source_row)")
    try:
        con.execute(f"create or replace temp table _scan as select {numbered} from {relation}")
    except duckdb.Error as exc:
        raise DeliveryError(f"{failure}: {_first_line(exc)}") from None


def _scan_csv(con: duckdb.DuckDBPyConnection, path: Path, first_row: int) -> None:
    _check_not_binary(path)
    # all_varchar: land exactly what was sent; typing (and its errors) happens in one place.
    _scan(con, f"read_csv({literal(str(path))}, all_varchar = true, header = true)", first_row,
          "the file cannot be read as CSV")


def _scan_jsonl(con: duckdb.DuckDBPyConnection, path: Path, first_row: int) -> None:
    if not path.stat().st_size:
        raise DeliveryError("the delivery holds no records")
    _scan(con, f"read_json({literal(str(path))}, format = 'newline_delimited')", first_row,
          "the records cannot be read as JSON")


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


def _scan_xlsx(con: duckdb.DuckDBPyConnection, path: Path, sheet: str | None) -> None:
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
        _scan(con, f"read_csv({literal(str(text))}, all_varchar = true, header = true, delim = ',', "
                   "quote = '\"', escape = '\"')", None, "the sheet cannot be read")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0]


def load_text(con: duckdb.DuckDBPyConnection, delivery: Delivery, columns: dict[str, str]) -> int:
    """Scan `delivery` into temp table TEXT_TABLE with the canonical names; return its row count.

    `columns` maps canonical name -> the partner's column name. Column names are matched
    ignoring case and surrounding spaces, because spreadsheets drift in exactly that way.
    """
    if delivery.format == "xlsx":
        _scan_xlsx(con, delivery.path, delivery.sheet)
    elif delivery.format == "jsonl":
        _scan_jsonl(con, delivery.path, delivery.first_row)
    else:
        _scan_csv(con, delivery.path, delivery.first_row)
    found = [row[0] for row in con.execute("describe _scan").fetchall() if row[0] != "_source_row"]
    by_folded = {name.strip().casefold(): name for name in found}
    missing = [f"'{theirs}' (for {ours})" for ours, theirs in columns.items() if theirs.strip().casefold() not in by_folded]
    if missing:
        raise DeliveryError(
            f"missing column(s) {', '.join(missing)}; the delivery has: {', '.join(found) or 'no columns'}"
        )
    select = ", ".join(
        f"nullif(trim(cast({ident(by_folded[theirs.strip().casefold()])} as varchar)), '') as {ident(ours)}"
        for ours, theirs in columns.items()
    )
    con.execute(f"create or replace temp table {TEXT_TABLE} as select _source_row, {select} from _scan")
    con.execute("drop table _scan")
    return con.execute(f"select count(*) from {TEXT_TABLE}").fetchone()[0]
