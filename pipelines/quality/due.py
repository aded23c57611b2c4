"""When each partner dataset is due: one delivery per period of the partner's cadence.

A cadence divides the calendar into periods (months, quarters, school terms from January and
August, school years from July; see `Cadence.start_months`). A delivery counts for the period in
which it is received, and the period's delivery is due on the period's first day plus the
partner's grace days. A period that reaches its due date without any delivery (accepted or not:
a flawed file is chased by its own alert) is missed. Nothing is due before a dataset's first
delivery, so a partner being onboarded is not chased.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from pipelines.core.registry import Cadence, Partner

_TERMS = {1: "spring", 8: "fall"}


@dataclass(frozen=True)
class Period:
    label: str
    start: dt.date
    end: dt.date  # first day of the next period
    due_on: dt.date

    def contains(self, moment: dt.datetime) -> bool:
        return self.start <= moment.date() < self.end


def _label(cadence: Cadence, start: dt.date) -> str:
    if cadence is Cadence.monthly:
        return f"{start:%Y-%m}"
    if cadence is Cadence.quarterly:
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    if cadence is Cadence.per_term:
        return f"{start.year} {_TERMS[start.month]} term"
    return f"{start.year}-{(start.year + 1) % 100:02d}"  # a school year, as the agenda writes it


def period_of(partner: Partner, day: dt.date) -> Period:
    """The period of `partner`'s cadence that contains `day`."""
    months = partner.cadence.start_months
    started = [month for month in months if month <= day.month]
    start = dt.date(day.year, started[-1], 1) if started else dt.date(day.year - 1, months[-1], 1)
    later = [month for month in months if month > start.month]
    end = dt.date(start.year, later[0], 1) if later else dt.date(start.year + 1, months[0], 1)
    return Period(_label(partner.cadence, start), start, end, start + dt.timedelta(days=partner.grace_period_days))


def previous_period(partner: Partner, period: Period) -> Period:
    return period_of(partner, period.start - dt.timedelta(days=1))


def periods_between(partner: Partner, first: dt.date, last: dt.date) -> list[Period]:
    """Every period from the one containing `first` to the one containing `last`, in order."""
    periods = [period_of(partner, last)]
    while periods[-1].start > first:
        periods.append(previous_period(partner, periods[-1]))
    return periods[::-1]


@dataclass(frozen=True)
class DueStatus:
    """Where one dataset stands at a moment: its current period, deliveries and missed periods."""

    as_of: dt.datetime
    current: Period
    first_received_at: dt.datetime | None  # None: never delivered, so nothing is due yet
    last_received_at: dt.datetime | None
    missed: tuple[Period, ...]  # the consecutive missed periods up to now, latest first
    next_due: dt.date | None  # due date of the next delivery expected

    @property
    def overdue(self) -> bool:
        return bool(self.missed)

    @property
    def next_due_passed(self) -> bool:
        return self.next_due is not None and self.next_due < self.as_of.date()


def due_status(partner: Partner, received: Iterable[dt.datetime], as_of: dt.datetime) -> DueStatus:
    """Where a dataset stands at `as_of`, given when its deliveries were received."""
    times = sorted(moment for moment in received if moment <= as_of)
    current = period_of(partner, as_of.date())
    if not times:
        return DueStatus(as_of, current, None, None, (), None)
    missed = []
    for period in reversed(periods_between(partner, times[0].date(), as_of.date())):
        if any(period.contains(moment) for moment in times):
            break
        if as_of.date() > period.due_on:
            missed.append(period)
    delivered_now = current.contains(times[-1])
    next_due = period_of(partner, current.end).due_on if delivered_now else current.due_on
    return DueStatus(as_of, current, times[0], times[-1], tuple(missed), next_due)
