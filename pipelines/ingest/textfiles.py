"""Delimited text as partners' spreadsheets and database exports really write it, made plain for DuckDB.

Three questions are answered here before a CSV is scanned: what encoding it is in (UTF-8, with or
without a byte-order mark; UTF-16 as Excel's "Unicode text" writes it; else Windows-1252, Excel's
"CSV" on Windows), which line is the header and which delimiter it uses (found by looking for the
partner's own column names, so a title line above the header or a semicolon file are read as meant),
and, when DuckDB refuses a line, what is wrong with it in the partner's terms.
"""

from __future__ import annotations

import codecs
import csv
import re
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

from pipelines.ingest.limits import ReadLimits, size_words

DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
HEADER_SEARCH_LINES = 20  # a title or export note above the header is a few lines at most
BLOCK = 1 << 20
TAIL_BYTES = 1 << 16
NEWLINE = b"\n"


class TextRefused(ValueError):
    """The text cannot be read; the message says why, for the partner."""


def fold(name: str) -> str:
    """Column names are matched ignoring case and surrounding spaces: spreadsheets drift in exactly that way."""
    return name.strip().casefold()


def header_score(names: list[str], wanted: set[str]) -> int:
    """How many of the `wanted` (folded) column names a candidate header row holds."""
    return len(wanted & {fold(name) for name in names})


def _first_invalid_utf8(path: Path) -> tuple[int, int] | None:
    """(line, byte) of the first byte that is not UTF-8, or None when the whole file is UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as handle:
        for block in chain(iter(lambda: handle.read(BLOCK), b""), [None]):  # None: the end, to finish
            try:
                decoder.decode(block or b"", final=block is None)
            except UnicodeDecodeError as exc:  # exc.object: the bytes the decoder held, this block's included
                return line + exc.object.count(b"\n", 0, exc.start), exc.object[exc.start]
            line += block.count(b"\n") if block else 0
    return None


def _windows_1252_to_utf8(path: Path, target: Path) -> None:
    line = 1
    with path.open("rb") as source, target.open("w", encoding="utf-8", newline="") as out:
        # Block by block, not line by line: a file with no line breaks must not be held whole.
        # One byte is one character in Windows-1252, so blocks decode on their own.
        for block in iter(lambda: source.read(BLOCK), b""):
            try:
                out.write(block.decode("cp1252"))
            except UnicodeDecodeError as exc:
                at = line + block.count(NEWLINE, 0, exc.start)
                raise TextRefused(
                    f"line {at}: byte 0x{block[exc.start]:02X} is neither UTF-8 nor Windows-1252 "
                    "text; save the file as 'CSV UTF-8'"
                ) from None
            line += block.count(NEWLINE)


def _utf16_to_utf8(path: Path, target: Path) -> None:
    with path.open(encoding="utf-16", newline="") as source, target.open("w", encoding="utf-8", newline="") as out:
        try:
            for block in iter(lambda: source.read(BLOCK), ""):
                out.write(block)
        except UnicodeError:
            raise TextRefused(
                "the file starts as UTF-16 text but is not UTF-16 throughout; save it as 'CSV UTF-8'"
            ) from None


def as_utf8(path: Path, scratch: Path) -> tuple[Path, str | None]:
    """The file as UTF-8 text (itself, or a converted copy in `scratch`) and a note if it was converted."""
    with path.open("rb") as handle:
        head = handle.read(8192)
    if not head:
        raise TextRefused("the file is empty (0 bytes)")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        converted = scratch / "utf8.csv"
        _utf16_to_utf8(path, converted)
        return converted, "read as UTF-16 text (Excel's 'Unicode text')"
    if b"\0" in head:
        raise TextRefused("the file is not a text (CSV) file; it looks binary. Export the sheet as 'CSV UTF-8'")
    invalid = _first_invalid_utf8(path)
    if invalid is None:
        return path, None  # a UTF-8 byte-order mark, if any, is dropped by the readers
    converted = scratch / "utf8.csv"
    _windows_1252_to_utf8(path, converted)
    line, byte = invalid
    return converted, f"read as Windows-1252 text: it is not UTF-8 (line {line} has byte 0x{byte:02X})"


@dataclass(frozen=True)
class Header:
    line: int  # 1-based line number of the header row
    delimiter: str
    names: list[str]

    def note(self) -> str | None:
        notes = []
        if self.line > 1:
            above = "the line above it was" if self.line == 2 else f"the {self.line - 1} lines above it were"
            notes.append(f"the header is line {self.line}; {above} skipped")
        if self.delimiter != ",":
            notes.append(f"{DELIMITERS[self.delimiter]}-separated")
        return "; ".join(notes) or None


def find_header(path: Path, wanted: list[str], limits: ReadLimits) -> Header:
    """The header row of UTF-8 text `path`: the line among the first few, split by the delimiter, that
    holds the most of the `wanted` column names (earliest first); with none of them, the first line."""
    lines: list[str] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        while len(lines) < HEADER_SEARCH_LINES and (line := handle.readline(limits.max_line_bytes + 1)):
            if len(line) > limits.max_line_bytes:
                raise TextRefused(too_long(len(lines) + 1, limits))
            lines.append(line.rstrip("\r\n"))
    folded = {fold(name) for name in wanted}
    best: tuple[tuple[int, int, int], Header] | None = None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        for delimiter in DELIMITERS:
            names = next(csv.reader([line], delimiter=delimiter), [])
            rank = (header_score(names, folded), -number, len(names))
            if best is None or rank > best[0]:
                best = rank, Header(number, delimiter, names)
    if best is None:
        raise TextRefused("the file has no header row: it holds only blank lines")
    return best[1]


def too_long(line: int | str, limits: ReadLimits) -> str:
    return (
        f"line {line} is longer than {size_words(limits.max_line_bytes)}, the most one line may hold "
        f"(setting {ReadLimits.ENV['max_line_bytes']}): is this the right file?"
    )


def _last_line(path: Path) -> str:
    with path.open("rb") as handle:
        handle.seek(max(0, handle.seek(0, 2) - TAIL_BYTES))
        tail = handle.read().decode("utf-8", errors="replace").rstrip("\r\n")
    return tail.rsplit("\n", 1)[-1].rstrip("\r")


def explain_scan_error(message: str, path: Path, header: Header, limits: ReadLimits) -> str | None:
    """DuckDB's CSV error as the partner would put it, or None when it is not one of the known kinds."""
    at = re.search(r"CSV Error on Line: (\d+)", message)
    line = at.group(1) if at else "?"
    if "unterminated quote" in message:
        return f'line {line}: a quoted value is never closed (a " opens it and no " ends it)'
    if "Maximum line size" in message:
        return too_long(line, limits)
    counts = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", message)
    if counts is None:
        return None
    expected, found = int(counts.group(1)), int(counts.group(2))
    if found > expected:
        return f"line {line} has more values than the {expected} columns of the header (line {header.line})"
    original = re.search(r"Original Line: (.*?)\nExpected Number", message, re.DOTALL)
    if original is not None and original.group(1).strip() == _last_line(path).strip():
        return f"the last line (line {line}) has {found} of {expected} columns: the file looks cut short"
    return f"line {line} has {found} of the {expected} columns of the header (line {header.line})"
