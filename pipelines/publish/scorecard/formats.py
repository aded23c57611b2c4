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
    """The label of every cell the disclosure policy hid: a small group, a small count within a group
    (agenda.yml privacy), or a group hidden so that another cannot be worked out from a total."""
    return "hidden (small numbers)"


def privacy_note(min_cell_size: int) -> str:
    """The disclosure policy (agenda.yml privacy) in one sentence, for every page's footer."""
    return (
        f"No group of fewer than {min_cell_size} people is shown, nor a group in which only 1 to "
        f"{min_cell_size - 1} people have the outcome or only 1 to {min_cell_size - 1} do not, nor any group "
        "that would let such a group be worked out from a total"
    )
