"""What the scorecard may show: the published serving file, read with its privacy rules applied.

The site reads nothing but serving.duckdb, which holds only what passed the publish gate. Each
row is read through the same privacy rules the gate enforces (dbt `config.meta.privacy`): when a
row's flag is set its hidden columns are dropped here too, so no page could show them even if a
serving file were built by other means.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import duckdb

from pipelines.core.agenda import period_start
from pipelines.core.privacy import PrivacyRule, hide_flagged
from pipelines.core.sql import ident

DATA_HEALTH = "partner_data_health"


class SiteError(RuntimeError):
    """The scorecard cannot be built from what is published; the message says why."""


@dataclass(frozen=True)
class Cell:
    """One published indicator cell (marts/indicator_values)."""

    indicator_id: str
    period: str
    geography_level: str
    geography: str
    dimension: str
    group_value: str
    numerator: int | None
    denominator: int | None
    value: float | None
    suppressed: bool
    change_from_baseline: float | None
    on_track: bool | None


@dataclass(frozen=True)
class ProgramYear:
    """One program's RBA measures for a school year (marts/program_performance)."""

    program_id: str
    period: str
    students_served: int | None
    sessions_delivered: int | None
    participants_with_sessions: int | None
    participants_meeting_dosage: int | None
    dosage_share: float | None
    participants_tested: int | None
    participant_proficiency_rate: float | None
    comparison_tested: int | None
    comparison_proficiency_rate: float | None
    proficiency_difference: float | None
    how_much_suppressed: bool
    how_well_suppressed: bool
    better_off_suppressed: bool


DELIVERED = ("on_time", "late")


@dataclass(frozen=True)
class DataHealthRow:
    """One partner x dataset x delivery period of marts/partner_data_health."""

    partner: str
    dataset: str
    period: str
    period_start: dt.date
    due_on: dt.date
    delivery_status: str  # on_time, late, missing, not_due_yet
    first_received_at: dt.datetime | None
    days_late: int | None
    submissions_rejected: int
    checks_passed: int
    checks_failed: int
    rows_accepted: int
    rows_rejected: int
    hours_to_fix: float | None

    @property
    def delivered(self) -> bool:
        return self.delivery_status in DELIVERED

    @property
    def timeliness(self) -> str:
        return {
            "on_time": "on time",
            "late": f"{self.days_late} days late",
            "missing": f"missing, {self.days_late} days overdue",
        }.get(self.delivery_status, "not due yet")


@dataclass(frozen=True)
class PublishedData:
    cells: dict[str, list[Cell]]  # by indicator, periods in order
    programs: dict[str, list[ProgramYear]]  # by program, periods in order
    deliveries: list[DataHealthRow] | None  # None: no delivery history is published yet
    published_at: dt.datetime


def _rows(con: duckdb.DuckDBPyConnection, table: str, rules: list[PrivacyRule]) -> list[dict[str, Any]]:
    result = con.execute(f"select * from {ident(table)}")
    names = [column[0] for column in result.description]
    rows = [dict(zip(names, row, strict=False)) for row in result.fetchall()]
    return [hide_flagged(row, rules) for row in rows]


def _typed(cls: type, rows: list[dict[str, Any]]) -> list:
    names = [f.name for f in fields(cls)]
    return [cls(**{name: row[name] for name in names}) for row in rows]


def load_published(serving: Path, rules: dict[str, list[PrivacyRule]]) -> PublishedData:
    """Read the published marts the scorecard shows. `rules` are the marts' privacy rules by table."""
    if not serving.exists():
        raise SiteError(f"nothing is published yet ({serving} does not exist): run the pipeline first")
    con = duckdb.connect(str(serving), read_only=True)
    try:
        tables = {row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()}

        def read(table: str) -> list[dict[str, Any]]:
            if table not in rules:
                raise SiteError(
                    f"{table} in {serving} declares no privacy rule; the scorecard shows only marts with one"
                )
            return _rows(con, table, rules[table])

        missing = {"indicator_values", "program_performance"} - tables
        if missing:
            raise SiteError(f"{serving} has no {', '.join(sorted(missing))}: publish the marts first")
        cells: dict[str, list[Cell]] = defaultdict(list)
        for cell in sorted(_typed(Cell, read("indicator_values")), key=lambda c: period_start(c.period)):
            cells[cell.indicator_id].append(cell)
        programs: dict[str, list[ProgramYear]] = defaultdict(list)
        for year in sorted(_typed(ProgramYear, read("program_performance")), key=lambda p: period_start(p.period)):
            programs[year.program_id].append(year)
        deliveries = _typed(DataHealthRow, read(DATA_HEALTH)) if DATA_HEALTH in tables else None
    finally:
        con.close()
    published_at = dt.datetime.fromtimestamp(serving.stat().st_mtime).replace(microsecond=0)
    return PublishedData(dict(cells), dict(programs), deliveries, published_at)
