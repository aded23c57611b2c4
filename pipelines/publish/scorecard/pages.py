"""What each page of the scorecard says: its charts, the tables behind them, and the notes.

Functions here take published data and the agenda and return plain values for the templates.
A suppressed cell never reaches a chart: its group is listed as hidden (`suppressed`, the label of
the agenda's disclosure policy) beside the chart and in its table instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

from pipelines.core.agenda import BREAKDOWNS, Agenda, Indicator, Program, period_kind, period_start
from pipelines.publish.published import Cell, DataHealthRow, ProgramYear
from pipelines.publish.scorecard import charts
from pipelines.publish.scorecard.charts import Figure, Table
from pipelines.publish.scorecard.formats import count, day, pct, points, suppressed_label

DIMENSION_TITLES = {breakdown.name: breakdown.title for breakdown in BREAKDOWNS}
# A school or program is a bright spot to learn from when it beats the partnership by at least this
# much, measured on enough people that the difference is unlikely to be chance.
BRIGHT_SPOT_POINTS = 0.05
BRIGHT_SPOT_MIN_N = 30
BRIGHT_SPOT_RULE = (
    f"A bright spot is a school or program at least {BRIGHT_SPOT_POINTS * 100:.0f} percentage points "
    f"better than the comparison shown, with at least {BRIGHT_SPOT_MIN_N} people measured."
)
STATUS_LABELS = {"on_time": "On time", "late": "Late", "missing": "Missing", "not_due_yet": "Not due yet"}
STATUS_COLOURS = {
    "on_time": charts.GREEN,
    "late": charts.ORANGE,
    "missing": charts.VERMILION,
    "not_due_yet": charts.MUTED,
}


def is_bright_spot(value: float, reference: float, measured: int | None, higher_is_better: bool = True) -> bool:
    better_by = value - reference if higher_is_better else reference - value
    # values are published to 4 decimals: exactly 5 points apart must not fail on float rounding
    return measured is not None and measured >= BRIGHT_SPOT_MIN_N and better_by >= BRIGHT_SPOT_POINTS - 1e-9


def _latest_period(cells: Sequence[Cell]) -> str | None:
    return cells[-1].period if cells else None  # cells come in period order


def community_trend(cells: Sequence[Cell]) -> list[Cell]:
    return [c for c in cells if c.geography_level == "community" and c.dimension == "all_students"]


# --- overview ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Card:
    indicator: Indicator
    latest: Cell | None  # the community's latest published cell
    sparkline: Markup | None
    updated: str
    health: str


def _latest_due(deliveries: Sequence[DataHealthRow], datasets: set[tuple[str, str]]) -> list[DataHealthRow]:
    """Each dataset's most recent delivery that was due."""
    latest: dict[tuple[str, str], DataHealthRow] = {}
    for delivery in deliveries:
        key = (delivery.partner, delivery.dataset)
        due = key in datasets and delivery.delivery_status != "not_due_yet"
        if due and (key not in latest or delivery.period_start > latest[key].period_start):
            latest[key] = delivery
    return list(latest.values())


def health_note(indicator: Indicator, deliveries: Sequence[DataHealthRow] | None) -> str:
    partners = {source.split(".")[0] for source in indicator.sources}
    note = f"Data from {len(partners)} partner{'s' if len(partners) != 1 else ''}"
    if deliveries is None:
        return f"{note}; no delivery history published yet"
    due = _latest_due(deliveries, {tuple(source.split(".")) for source in indicator.sources})
    behind = [d for d in due if d.delivery_status in ("late", "missing")]
    if not due:
        return f"{note}; no delivery due yet"
    if behind:
        return f"{note}; {len(behind)} of {len(due)} latest deliveries late or missing"
    return f"{note}; latest deliveries all on time"


def last_updated(indicator: Indicator, deliveries: Sequence[DataHealthRow] | None, published_at: dt.datetime) -> str:
    """The latest delivery of the indicator's data, or else when it was published."""
    sources = {tuple(source.split(".")) for source in indicator.sources}
    received = [
        d.first_received_at
        for d in deliveries or ()
        if (d.partner, d.dataset) in sources and d.first_received_at is not None
    ]
    return day(max(received)) if received else day(published_at)


def card(
    indicator: Indicator, cells: Sequence[Cell], deliveries: Sequence[DataHealthRow] | None, published_at: dt.datetime
) -> Card:
    trend = [c for c in community_trend(cells) if not c.suppressed]
    spark = (
        charts.sparkline(
            [(c.period, c.value) for c in trend],
            indicator.target.value,
            f"{indicator.title}: {', '.join(f'{c.period} {pct(c.value)}' for c in trend)}; "
            f"target {pct(indicator.target.value)}",
        )
        if trend
        else None
    )
    return Card(
        indicator,
        trend[-1] if trend else None,
        spark,
        last_updated(indicator, deliveries, published_at),
        health_note(indicator, deliveries),
    )


# --- indicator pages --------------------------------------------------------------------------------


def trend_figure(indicator: Indicator, cells: Sequence[Cell], suppressed: str) -> Figure:
    trend = community_trend(cells)
    shown = [c for c in trend if not c.suppressed]
    title = f"{indicator.title}, all students, by {period_kind(indicator.baseline.period)}"
    baseline = f"Baseline {pct(indicator.baseline.value)} ({indicator.baseline.period})"
    target = f"Target {pct(indicator.target.value)} by {indicator.target.period}"
    label = f"{title}: {', '.join(f'{c.period} {pct(c.value)}' for c in shown)}. {baseline}, {target}."
    svg = (
        charts.trend(
            [(c.period, c.value) for c in shown],
            (baseline, indicator.baseline.value),
            (target, indicator.target.value),
            label,
        )
        if shown
        else None
    )
    rows = [
        (
            c.period,
            suppressed if c.suppressed else pct(c.value),
            count(c.denominator),
            points(c.change_from_baseline),
            {True: "On track", False: "Off track"}.get(c.on_track, "–"),
        )
        for c in trend
    ]
    table = Table(
        f"{title} ({baseline.lower()}, {target.lower()})",
        ("Period", "Value", "People measured", "Change from baseline", "Progress"),
        rows,
    )
    return Figure(title, svg, table, tuple(c.period for c in trend if c.suppressed))


def _group_figure(
    title: str,
    groups: Sequence[Cell],
    reference: Cell | None,
    suppressed: str,
    label_of: Callable[[Cell], str] = lambda c: c.group_value,
    higher_is_better: bool = True,
    highlight: bool = False,
) -> Figure:
    """Bars for the published groups, best first, against the reference cell; hidden groups are
    listed, not drawn."""
    sign = 1 if higher_is_better else -1
    groups = sorted(groups, key=lambda c: (c.suppressed, -sign * (c.value or 0)))
    base = reference.value if reference is not None and not reference.suppressed else None
    bright = [
        highlight
        and base is not None
        and not c.suppressed
        and is_bright_spot(c.value, base, c.denominator, higher_is_better)
        for c in groups
    ]
    hidden = tuple(label_of(c) for c in groups if c.suppressed)
    rows = [
        {
            "name": label_of(c),
            "value": c.value,
            "text": pct(c.value) + (" ★ bright spot" if spot else ""),
            "highlight": spot,
        }
        for c, spot in zip(groups, bright, strict=False)
        if not c.suppressed
    ]
    label = f"{title}: " + "; ".join(f"{row['name']} {row['text']}" for row in rows)
    if base is not None:
        label += f". All students {pct(base)}"
    if hidden:
        label += f". Not shown, {suppressed}: {', '.join(hidden)}"
    svg = charts.bars(rows, label, (f"All students {pct(base)}", base) if base is not None else None) if rows else None
    columns = ("Group", "Value", "People measured", "Difference from all students")
    table_rows = [
        (
            label_of(c),
            suppressed if c.suppressed else pct(c.value),
            count(c.denominator),
            "–" if c.suppressed or base is None else points(c.value - base),
        )
        for c in groups
    ]
    if highlight:
        columns += ("Bright spot",)
        table_rows = [(*row, "Yes" if spot else "") for row, spot in zip(table_rows, bright, strict=False)]
    return Figure(title, svg, Table(title, columns, table_rows), hidden)


def group_figures(indicator: Indicator, cells: Sequence[Cell], suppressed: str) -> list[Figure]:
    """One gap chart per required breakdown, for the latest period."""
    community = [c for c in cells if c.geography_level == "community"]
    period = _latest_period(community)
    latest = [c for c in community if c.period == period]
    total = next((c for c in latest if c.dimension == "all_students"), None)
    return [
        _group_figure(
            f"{indicator.title} by {DIMENSION_TITLES[dimension]}, {period}",
            [c for c in latest if c.dimension == dimension],
            total,
            suppressed,
            higher_is_better=indicator.higher_is_better,
        )
        for dimension in indicator.disaggregations
        if dimension != "school"
    ]


def school_figure(indicator: Indicator, cells: Sequence[Cell], suppressed: str) -> Figure | None:
    """Schools compared on the indicator in the latest period that has school results."""
    schools = [c for c in cells if c.geography_level == "school" and c.dimension == "all_students"]
    period = _latest_period(schools)
    if period is None:
        return None
    total = next((c for c in community_trend(cells) if c.period == period), None)
    return _group_figure(
        f"{indicator.title} by school, {period}",
        [c for c in schools if c.period == period],
        total,
        suppressed,
        label_of=lambda c: c.geography,
        higher_is_better=indicator.higher_is_better,
        highlight=True,
    )


# --- programs ---------------------------------------------------------------------------------------


def _hidden_years(years: Sequence[ProgramYear], flag: str) -> tuple[str, ...]:
    return tuple(y.period for y in years if getattr(y, flag))


def _better_off_rows(year: ProgramYear, category: str, key: str) -> list[dict]:
    return [
        {
            key: category,
            "series": "Participants",
            "value": year.participant_proficiency_rate,
            "text": pct(year.participant_proficiency_rate),
        },
        {
            key: category,
            "series": "Comparable non-participants",
            "value": year.comparison_proficiency_rate,
            "text": pct(year.comparison_proficiency_rate),
        },
    ]


def _how_much(program: Program, years: Sequence[ProgramYear], suppressed: str) -> Figure:
    title = f"{program.name}: students served by school year"
    shown = [y for y in years if not y.how_much_suppressed]
    svg = (
        charts.columns(
            [{"period": y.period, "value": y.students_served, "text": count(y.students_served)} for y in shown],
            f"{title}: " + ", ".join(f"{y.period} {count(y.students_served)}" for y in shown),
            percent=False,
        )
        if shown
        else None
    )
    rows = [
        (y.period, suppressed, "–")
        if y.how_much_suppressed
        else (y.period, count(y.students_served), count(y.sessions_delivered))
        for y in years
    ]
    return Figure(
        title,
        svg,
        Table(title, ("School year", "Students served", "Sessions attended"), rows),
        _hidden_years(years, "how_much_suppressed"),
    )


def _how_well(program: Program, years: Sequence[ProgramYear], suppressed: str) -> Figure:
    title = f"{program.name}: share of participants attending at least {program.dosage_threshold:.0%} of sessions"
    shown = [y for y in years if not y.how_well_suppressed]
    svg = (
        charts.columns(
            [{"period": y.period, "value": y.dosage_share, "text": pct(y.dosage_share)} for y in shown],
            f"{title}: " + ", ".join(f"{y.period} {pct(y.dosage_share)}" for y in shown),
            percent=True,
        )
        if shown
        else None
    )
    rows = [
        (y.period, suppressed, "–")
        if y.how_well_suppressed
        else (y.period, pct(y.dosage_share), count(y.participants_with_sessions))
        for y in years
    ]
    return Figure(
        title,
        svg,
        Table(title, ("School year", "Share meeting dosage", "Participants offered sessions"), rows),
        _hidden_years(years, "how_well_suppressed"),
    )


def _better_off(program: Program, years: Sequence[ProgramYear], suppressed: str) -> Figure:
    title = f"{program.name}: reading proficiency of participants and comparable non-participants"
    shown = [y for y in years if not y.better_off_suppressed]
    svg = (
        charts.paired(
            [row for y in shown for row in _better_off_rows(y, y.period, "period")],
            f"{title}: "
            + "; ".join(
                f"{y.period} participants {pct(y.participant_proficiency_rate)}, comparison "
                f"{pct(y.comparison_proficiency_rate)}"
                for y in shown
            ),
        )
        if shown
        else None
    )
    rows = [
        (y.period, suppressed, "–", suppressed, "–", "–")
        if y.better_off_suppressed
        else (
            y.period,
            pct(y.participant_proficiency_rate),
            count(y.participants_tested),
            pct(y.comparison_proficiency_rate),
            count(y.comparison_tested),
            points(y.proficiency_difference),
        )
        for y in years
    ]
    columns = (
        "School year",
        "Participants proficient",
        "Participants tested",
        "Comparison proficient",
        "Comparison tested",
        "Difference",
    )
    return Figure(title, svg, Table(title, columns, rows), _hidden_years(years, "better_off_suppressed"))


def program_figures(program: Program, years: Sequence[ProgramYear], suppressed: str) -> dict[str, Figure]:
    """Results-Based Accountability over the years: how much, how well, is anyone better off."""
    return {
        "how_much": _how_much(program, years, suppressed),
        "how_well": _how_well(program, years, suppressed),
        "better_off": _better_off(program, years, suppressed),
    }


def _dosage_benchmark(period: str, years: dict[str, ProgramYear], suppressed: str) -> Figure:
    """Each program's share meeting its attendance goal against all programs pooled."""
    title = f"Programs compared: share of participants meeting the attendance goal, {period}"
    shown = {name: y for name, y in years.items() if not y.how_well_suppressed}
    offered = sum(y.participants_with_sessions for y in shown.values())
    pooled = sum(y.participants_meeting_dosage for y in shown.values()) / offered if offered else None
    bright = {
        name: pooled is not None and is_bright_spot(y.dosage_share, pooled, y.participants_with_sessions)
        for name, y in shown.items()
    }
    bars = [
        {
            "name": name,
            "value": y.dosage_share,
            "highlight": bright[name],
            "text": pct(y.dosage_share) + (" ★ bright spot" if bright[name] else ""),
        }
        for name, y in shown.items()
    ]
    svg = (
        charts.bars(
            bars,
            f"{title}: " + "; ".join(f"{b['name']} {b['text']}" for b in bars) + f". All programs {pct(pooled)}",
            (f"All programs {pct(pooled)}", pooled),
        )
        if bars
        else None
    )
    rows = [
        (name, suppressed, "–", "")
        if y.how_well_suppressed
        else (name, pct(y.dosage_share), count(y.participants_with_sessions), "Yes" if bright[name] else "")
        for name, y in years.items()
    ]
    columns = ("Program", "Share meeting dosage", "Participants offered sessions", "Bright spot")
    return Figure(
        title, svg, Table(title, columns, rows), tuple(name for name, y in years.items() if y.how_well_suppressed)
    )


def _better_off_benchmark(period: str, years: dict[str, ProgramYear], suppressed: str) -> Figure:
    """Each program's participants against their comparable non-participants."""
    title = f"Programs compared: participants' reading proficiency against comparable non-participants, {period}"
    shown = {name: y for name, y in years.items() if not y.better_off_suppressed}
    svg = (
        charts.paired(
            [row for name, y in shown.items() for row in _better_off_rows(y, name, "program")],
            f"{title}: "
            + "; ".join(
                f"{name} participants {pct(y.participant_proficiency_rate)}, comparison "
                f"{pct(y.comparison_proficiency_rate)}"
                for name, y in shown.items()
            ),
            category="program",
        )
        if shown
        else None
    )
    rows = [
        (name, suppressed, suppressed, "–", "–", "")
        if y.better_off_suppressed
        else (
            name,
            pct(y.participant_proficiency_rate),
            pct(y.comparison_proficiency_rate),
            points(y.proficiency_difference),
            count(y.participants_tested),
            "Yes"
            if is_bright_spot(
                y.participant_proficiency_rate,
                y.comparison_proficiency_rate,
                min(y.participants_tested, y.comparison_tested),
            )
            else "",
        )
        for name, y in years.items()
    ]
    columns = (
        "Program",
        "Participants proficient",
        "Comparison proficient",
        "Difference",
        "Participants tested",
        "Bright spot",
    )
    return Figure(
        title, svg, Table(title, columns, rows), tuple(name for name, y in years.items() if y.better_off_suppressed)
    )


def program_benchmarks(agenda: Agenda, programs: dict[str, list[ProgramYear]]) -> list[Figure]:
    """Programs side by side on the same measures, in the latest school year they all report."""
    reported = [program for program in agenda.programs if programs.get(program.id)]
    if not reported:
        return []
    period = min((programs[p.id][-1].period for p in reported), key=period_start)
    years = {p.name: y for p in reported for y in programs[p.id] if y.period == period}
    suppressed = suppressed_label(agenda.privacy.min_cell_size)
    return [_dosage_benchmark(period, years, suppressed), _better_off_benchmark(period, years, suppressed)]


# --- partner data health ---------------------------------------------------------------------------


def delivery_figure(deliveries: Sequence[DataHealthRow], partner_names: dict[str, str]) -> Figure:
    """Deliveries by status, per partner."""
    tally: dict[str, dict[str, int]] = {}
    for delivery in deliveries:
        name = partner_names.get(delivery.partner, delivery.partner)
        tally.setdefault(name, dict.fromkeys(STATUS_LABELS, 0))[delivery.delivery_status] += 1
    title = "Deliveries by partner: on time, late, missing or not due yet"
    rows = [
        {"name": name, "part": STATUS_LABELS[status], "count": n}
        for name, statuses in tally.items()
        for status, n in statuses.items()
        if n
    ]
    label = f"{title}: " + "; ".join(
        f"{name} " + ", ".join(f"{n} {STATUS_LABELS[s].lower()}" for s, n in statuses.items() if n)
        for name, statuses in tally.items()
    )
    svg = charts.stacked(rows, label, [(STATUS_LABELS[s], STATUS_COLOURS[s]) for s in STATUS_LABELS]) if rows else None
    table = Table(
        title,
        ("Partner", *STATUS_LABELS.values()),
        [(name, *(str(statuses[s]) for s in STATUS_LABELS)) for name, statuses in tally.items()],
    )
    return Figure(title, svg, table)


def latest_deliveries(deliveries: Sequence[DataHealthRow]) -> list[DataHealthRow]:
    """Each dataset's latest period that was due (or its first one, when none is due yet)."""
    due = {(d.partner, d.dataset): d for d in _latest_due(deliveries, {(d.partner, d.dataset) for d in deliveries})}
    for delivery in sorted(deliveries, key=lambda d: d.period_start):
        due.setdefault((delivery.partner, delivery.dataset), delivery)
    return sorted(due.values(), key=lambda d: (d.partner, d.dataset))


def delivery_table(
    caption: str, deliveries: Sequence[DataHealthRow], partner_names: dict[str, str] | None = None
) -> Table:
    """Deliveries as rows, newest first; with `partner_names`, each row names its partner."""
    columns = (
        "Dataset and period",
        "Due",
        "Status",
        "First received",
        "Days late",
        "Checks failed",
        "Rows rejected",
        "Hours to fix",
    )
    if partner_names is not None:
        columns = ("Partner, dataset and period", *columns[1:])
    newest_first = sorted(deliveries, key=lambda d: d.period_start, reverse=True)
    rows = [
        (
            (f"{partner_names.get(d.partner, d.partner)}: " if partner_names is not None else "")
            + f"{d.dataset.replace('_', ' ')} {d.period}",
            day(d.due_on),
            STATUS_LABELS.get(d.delivery_status, d.delivery_status),
            day(d.first_received_at),
            count(d.days_late),
            count(d.checks_failed),
            count(d.rows_rejected),
            "–" if d.hours_to_fix is None else f"{d.hours_to_fix:g}",
        )
        for d in sorted(newest_first, key=lambda d: (d.partner, d.dataset))
    ]
    return Table(caption, columns, rows)
