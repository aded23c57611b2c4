"""Look inside a workbook before it is read: how large it unzips to and how many cells its sheet claims.

A workbook is a zip of XML parts; a small file can unzip to gigabytes, and a sheet can claim a range of
billions of cells. Both are known from the zip's directory and the sheet's <dimension> element, so
a hostile or broken workbook is refused before the spreadsheet reader spends memory on it.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from pipelines.ingest.limits import ReadLimits, size_words

__all__ = ["WorkbookRefused", "check_workbook"]

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z]{1,3})?(\d+)?(?::([A-Z]{1,3})(\d+))?"')
_PART_BYTES = 1 << 20  # workbook.xml and its relationships are a few KB: read no more than this of them
_DIMENSION_BYTES = 1 << 16  # <dimension> comes before the sheet's data, within its first bytes


class WorkbookRefused(ValueError):
    """The workbook is not opened: the message says why, for the partner."""


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


def _sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> the zip member holding its cells, in the workbook's order."""
    try:
        workbook = ElementTree.fromstring(archive.open("xl/workbook.xml").read(_PART_BYTES))
        rels = ElementTree.fromstring(archive.open("xl/_rels/workbook.xml.rels").read(_PART_BYTES))
    except (KeyError, ElementTree.ParseError, zipfile.BadZipFile, OSError):
        return {}  # not a workbook the usual way: the spreadsheet reader says what is wrong
    targets = {rel.get("Id"): rel.get("Target", "") for rel in rels.iter(f"{_PKG_REL}Relationship")}
    parts = {}
    for sheet in workbook.iter(f"{_MAIN}sheet"):
        target = targets.get(sheet.get(f"{_REL}id"), "")
        parts[sheet.get("name", "")] = (
            target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        )
    return parts


def check_workbook(path: Path, sheet: str | None, limits: ReadLimits) -> None:
    """Refuse the workbook if it unzips to more than the limit or the sheet to read claims too many cells."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise WorkbookRefused(f"the file cannot be opened as an Excel workbook (.xlsx): {exc}") from None
    with archive:
        unzipped = sum(member.file_size for member in archive.infolist())
        if unzipped > limits.max_workbook_bytes:
            raise WorkbookRefused(
                f"the workbook unzips to {size_words(unzipped, exact=True)}, more than the "
                f"{size_words(limits.max_workbook_bytes, exact=True)} "
                f"a workbook may hold (setting {ReadLimits.ENV['max_workbook_bytes']}): send the sheet as CSV, or "
                "remove what else the workbook holds"
            )
        parts = _sheet_parts(archive)
        name = sheet if sheet is not None else next(iter(parts), None)
        member = parts.get(name) if name is not None else None
        if member is None:
            return  # a missing sheet is named by the spreadsheet reader
        try:
            head = archive.open(member).read(_DIMENSION_BYTES)
        except (KeyError, zipfile.BadZipFile, OSError):
            return
    found = _DIMENSION.search(head)
    if found is None:
        return  # no <dimension>: the unzipped size above still bounds the sheet
    first_col, first_row, last_col, last_row = (part.decode() if part else None for part in found.groups())
    rows = int(last_row or first_row or 1) - int(first_row or 1) + 1 if last_row else 1
    columns = _column_number(last_col) - _column_number(first_col or "A") + 1 if last_col else 1
    if rows * columns > limits.max_sheet_cells:
        raise WorkbookRefused(
            f"the sheet '{name}' spans {rows:,} rows by {columns:,} columns ({found.group(0).decode()[1:]}), "
            f"{rows * columns:,} cells, more than the {limits.max_sheet_cells:,} a sheet may hold (setting "
            f"{ReadLimits.ENV['max_sheet_cells']}): delete the unused rows and columns, or send the sheet as CSV"
        )
