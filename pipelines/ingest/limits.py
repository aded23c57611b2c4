"""How large a delivery may be before it is refused unread, so that no file can exhaust the machine.

The defaults leave room for the largest real deliveries (a district's 700,000-row CSV is ~50 MB; a
workbook at a suite's one-million-row cap unzips to ~400 MB). Each can be changed by a setting,
read when a run starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import ClassVar

KB, MB = 1 << 10, 1 << 20


class SettingError(ValueError):
    """A limit setting is not a usable number; the message names it."""


def size_words(size: int, exact: bool = False) -> str:
    """Bytes as a person reads them: '1.5 GB', '12 MB', '900 KB'; `exact` adds the byte count, for
    sizes compared with a limit they may round to."""
    for unit, name in ((1 << 30, "GB"), (MB, "MB"), (KB, "KB")):
        if size >= unit:
            rounded = f"{size / unit:.1f}".removesuffix(".0") + f" {name}"
            return f"{rounded} ({size:,} bytes)" if exact else rounded
    return f"{size:,} bytes"


@dataclass(frozen=True)
class ReadLimits:
    max_file_bytes: int = 1024 * MB  # one delivered file, any format
    max_line_bytes: int = 1 * MB  # one line of a CSV file
    max_workbook_bytes: int = 1024 * MB  # a workbook's parts, unzipped
    max_sheet_cells: int = 20_000_000  # rows x columns the read sheet claims

    # The setting for each limit, and the unit it is given in.
    ENV: ClassVar[dict[str, str]] = {
        "max_file_bytes": "BACKBONE_MAX_FILE_MB",
        "max_line_bytes": "BACKBONE_MAX_LINE_KB",
        "max_workbook_bytes": "BACKBONE_MAX_WORKBOOK_MB",
        "max_sheet_cells": "BACKBONE_MAX_SHEET_CELLS",
    }
    _UNITS: ClassVar[dict[str, int]] = {
        "max_file_bytes": MB,
        "max_line_bytes": KB,
        "max_workbook_bytes": MB,
        "max_sheet_cells": 1,
    }

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ReadLimits:
        values = {}
        for field in fields(cls):
            raw = environ.get(cls.ENV[field.name], "").strip()
            if not raw:
                continue
            if not raw.isdigit() or int(raw) == 0:
                raise SettingError(f"{cls.ENV[field.name]} must be a whole number above 0, not '{raw}'")
            values[field.name] = int(raw) * cls._UNITS[field.name]
        return cls(**values)
