"""Each partner dataset's deliveries (raw.submissions) against its due dates (pipelines.quality.due).

Feeds the freshness checks, the reminders, and `quality.delivery_calendar`, the periods dbt's
partner_data_health mart reports on: the calendar is computed here, once, and dbt only joins it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

from pipelines.core.registry import DatasetRef, Registry
from pipelines.core.sql import table_exists, transaction
from pipelines.quality.due import DueStatus, Period, due_status, periods_between

CALENDAR_DDL = """
create schema if not exists quality;
create or replace table quality.delivery_calendar (
    partner varchar not null,
    dataset varchar not null,
    cadence varchar not null,
    period varchar not null,
    period_start date not null,
    period_end date not null,     -- first day of the next period
    due_on date not null,
    as_of timestamp not null      -- the moment 'missing' was judged at
)
"""


def due_statuses(
    con: duckdb.DuckDBPyConnection, refs: Iterable[DatasetRef], as_of: dt.datetime
) -> dict[str, DueStatus]:
    """Each dataset's schedule at `as_of`, by raw table name."""
    received: dict[tuple[str, str], list[dt.datetime]] = defaultdict(list)
    if table_exists(con, "raw", "submissions"):
        for partner, dataset, received_at in con.execute(
            "select partner, dataset, received_at from raw.submissions"
        ).fetchall():
            received[(partner, dataset)].append(received_at)
    return {ref.table: due_status(ref.partner, received[(ref.partner.id, ref.dataset_id)], as_of) for ref in refs}


@dataclass(frozen=True)
class Overdue:
    """A reminder about one dataset: keyed by its latest missed period, so one per period."""

    key: str
    dataset: str
    missed: tuple[Period, ...]  # latest first
    last_received_at: dt.datetime

    @property
    def escalated(self) -> bool:
        # A second missed period in a row: the backbone team follows up with the partner.
        return len(self.missed) >= 2


def reminder_key(ref: DatasetRef, period: Period) -> str:
    return f"late:{ref.table}:{period.label}"


def overdue_reminders(
    registry: Registry, by_table: dict[str, DueStatus], already: set[str]
) -> dict[str, list[Overdue]]:
    """Overdue datasets not yet reminded about for their latest missed period, by partner id."""
    found: dict[str, list[Overdue]] = defaultdict(list)
    for ref in registry.datasets:
        status = by_table[ref.table]
        if not status.overdue or reminder_key(ref, status.missed[0]) in already:
            continue
        assert status.last_received_at is not None  # only a dataset delivered before can be overdue
        found[ref.partner.id].append(
            Overdue(reminder_key(ref, status.missed[0]), ref.dataset_id, status.missed, status.last_received_at)
        )
    return dict(found)


def write_calendar(con: duckdb.DuckDBPyConnection, registry: Registry, as_of: dt.datetime) -> int:
    """Replace quality.delivery_calendar with every period from each dataset's first delivery to `as_of`."""
    rows = []
    by_table = due_statuses(con, registry.datasets, as_of)
    for ref in registry.datasets:
        first = by_table[ref.table].first_received_at
        if first is None:
            continue
        for period in periods_between(ref.partner, first.date(), as_of.date()):
            rows.append(
                (
                    ref.partner.id,
                    ref.dataset_id,
                    ref.partner.cadence.value,
                    period.label,
                    period.start,
                    period.end,
                    period.due_on,
                    as_of,
                )
            )
    with transaction(con):
        con.execute(CALENDAR_DDL)
        if rows:
            con.executemany("insert into quality.delivery_calendar values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return len(rows)
