"""How numbers read on the scorecard: one place, so a chart label and its table cell agree."""

from __future__ import annotations

import datetime as dt


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def points(change: float | None) -> str:
    """A change between two proportions, in percentage points: +3.1 points."""
    return "–" if change is None else f"{change * 100:+.1f} points"


def count(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def day(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return "–"
    return value.strftime("%-d %b %Y")


def suppressed_label(min_cell_size: int) -> str:
    """The label of every cell the privacy gate hid (min_cell_size: agenda.yml privacy)."""
    return f"fewer than {min_cell_size}"
