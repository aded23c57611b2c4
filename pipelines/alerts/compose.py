"""Compose one mail per partner with all of its new problems, from what the warehouse recorded.

Only the partner's own submissions, check results and rows are read, so a mail can never carry
another partner's data. Example rows are shown by row number with the partner's own column names,
and without student IDs (see `_examples`).

Routing: the partner's contacts (registry) are the recipients and the backbone team address is
copied (Cc) on every mail; when a dataset has missed a second period in a row the mail is an
escalation and the team becomes a direct recipient, since it now follows up itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from functools import cache

import duckdb
import jinja2

from pipelines.alerts.mail import Mail
from pipelines.alerts.outbox import reported
from pipelines.core.agenda import Agenda
from pipelines.core.registry import DatasetRef, Partner, Registry, RegistryError
from pipelines.core.sql import ident, table_exists
from pipelines.quality.due import DueStatus
from pipelines.quality.timeliness import Overdue

EXAMPLE_ROWS = 10


@dataclass(frozen=True)
class FailedCheck:
    notes: str
    expectation: str
    columns: str  # the partner's own column names
    unexpected_count: int | None
    element_count: int | None
    sample_values: list[str]
    sample_rows: list[int]
    error: str | None
    fix: str
    examples: list[dict[str, object]] = field(default_factory=list)


@dataclass(frozen=True)
class Problem:
    key: str
    dataset: str
    source: str
    received_at: str
    status: str
    reason: str | None
    rows: int
    checks: list[FailedCheck]
    recheck: str


@dataclass(frozen=True)
class NextDelivery:
    dataset: str
    due_on: dt.date | None  # None: no delivery yet, so no due date yet
    overdue: bool  # the due date has passed


@cache
def templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("pipelines.alerts", "templates"),
        # By the type before `.j2`: Jinja's ["html"] alone never matched `partner_alert.html.j2`.
        autoescape=jinja2.select_autoescape(["html.j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def partnership(agenda: Agenda | None) -> str:
    """The partnership's name as agenda.yml gives it, for the mails' wording and signature."""
    return agenda.partnership if agenda is not None else "the partnership"


def _examples(con: duckdb.DuckDBPyConnection, ref: DatasetRef, submission_id: str, rows: list[int]) -> list[dict]:
    """The rows by their row number and the partner's own values. Pseudonymized columns are left out:
    a partner seeing its rows' pseudonyms beside its own student IDs could build a table from IDs to
    the partnership's pseudonyms, which is what pseudonymizing must prevent."""
    if not rows:
        return []
    theirs = ref.feed.columns
    shown = [
        f"{ident(ours)} as {ident(theirs[ours])}" for ours in ref.suite.columns if ours not in ref.suite.pseudonymize
    ]
    select = ", ".join(["_source_row as row", *shown])
    placeholders = ", ".join("?" for _ in rows[:EXAMPLE_ROWS])
    cursor = con.execute(
        f"select {select} from raw.{ident(ref.table)} "
        f"where _submission_id = ? and _source_row in ({placeholders}) order by _source_row",
        [submission_id, *rows[:EXAMPLE_ROWS]],
    )
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def _joined(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _fix(columns: list[str], rows: list[int], unexpected: int | None, error: str | None) -> str:
    """What the partner should change, in one sentence."""
    if error:
        return "Nothing on your side yet: the backbone data team will look into this check and get back to you."
    if not rows:
        return "Correct the file as a whole so that it meets the rule above, then send it again."
    where = f"row{'s' if len(rows) > 1 else ''} {', '.join(map(str, rows))}"
    others = (unexpected or 0) - len(rows)
    more = f" and the {others} other row{'s' if others > 1 else ''} breaking the same rule" if others > 0 else ""
    named = _joined([f"'{column}'" for column in columns]) if columns else "the values"
    return f"Correct {named} on {where}{more} so that every row meets the rule above."


def _failed_checks(con: duckdb.DuckDBPyConnection, ref: DatasetRef, submission_id: str) -> list[FailedCheck]:
    rows = con.execute(
        "select notes, expectation, columns, unexpected_count, element_count, sample_values, sample_rows, error "
        "from quality.check_results where submission_id = ? and not success order by expectation, columns",
        [submission_id],
    ).fetchall()
    checks = []
    for notes, expectation, columns, unexpected, elements, values, sample_rows, error in rows:
        row_numbers = json.loads(sample_rows or "[]")[:EXAMPLE_ROWS]
        # Canonical names mean nothing to the partner: name their own columns (lineage columns stay out).
        theirs = [ref.feed.columns[name] for name in (columns or "").split(", ") if name in ref.feed.columns]
        checks.append(
            FailedCheck(
                notes=notes or expectation,
                expectation=expectation,
                columns=", ".join(theirs),
                unexpected_count=unexpected,
                element_count=elements,
                sample_values=[str(value) for value in json.loads(values or "[]")][:10],
                sample_rows=row_numbers,
                error=error,
                fix=_fix(theirs, row_numbers, unexpected, error),
                examples=_examples(con, ref, submission_id, row_numbers),
            )
        )
    return checks


def new_problems(con: duckdb.DuckDBPyConnection, registry: Registry) -> dict[str, list[Problem]]:
    """Quarantined or unreadable deliveries not yet reported, grouped by partner id."""
    already = reported(con)
    if not table_exists(con, "raw", "submissions"):
        return {}
    has_results = table_exists(con, "quality", "check_results")
    submissions = con.execute(
        "select submission_id, partner, dataset, source, received_at, row_count, status, status_reason "
        "from raw.submissions where status in ('quarantined', 'unreadable') order by received_at, submission_id"
    ).fetchall()
    problems: dict[str, list[Problem]] = {}
    for submission_id, partner_id, dataset_id, source, received_at, rows, status, reason in submissions:
        key = f"{submission_id}:{status}"
        if key in already:
            continue
        try:
            ref = registry.dataset(dataset_id, partner_id)
        except RegistryError:
            continue  # the partner or dataset left the registry; nobody left to tell
        checks = _failed_checks(con, ref, submission_id) if status == "quarantined" and has_results else []
        problems.setdefault(partner_id, []).append(
            Problem(
                key=key,
                dataset=dataset_id,
                source=source,
                received_at=f"{received_at:%Y-%m-%d %H:%M} UTC",
                status=status,
                reason=reason,
                rows=rows,
                checks=checks,
                recheck=f"backbone check-file --partner {partner_id} --dataset {dataset_id} {source}",
            )
        )
    return problems


def next_deliveries(registry: Registry, partner: Partner, statuses: dict[str, DueStatus]) -> list[NextDelivery]:
    """When each of the partner's datasets is next due (only its own datasets)."""
    return [
        NextDelivery(ref.dataset_id, statuses[ref.table].next_due, statuses[ref.table].next_due_passed)
        for ref in registry.datasets
        if ref.partner.id == partner.id
    ]


def _subject(partner: Partner, problems: list[Problem], overdue: list[Overdue]) -> str:
    what = []
    if problems:
        deliveries = "a delivery" if len(problems) == 1 else f"{len(problems)} deliveries"
        what.append(
            f"{deliveries} from {partner.name} could not be used ({', '.join(problem.source for problem in problems)})"
        )
    if overdue:
        datasets = _joined([item.dataset for item in overdue])
        what.append(
            f"{'' if problems else f'{partner.name}: '}{datasets} {'is' if len(overdue) == 1 else 'are'} overdue"
        )
    lead = "Escalated" if any(item.escalated for item in overdue) else "Action needed" if problems else "Reminder"
    return f"{lead}: {' and '.join(what)}"


def compose(
    partner: Partner,
    problems: list[Problem],
    overdue: list[Overdue],
    upcoming: list[NextDelivery],
    team: str,
    agenda: Agenda,
) -> Mail:
    """The partner's one mail for this run: its flawed deliveries, its overdue datasets, what is due next."""
    escalated = any(item.escalated for item in overdue)
    subject = _subject(partner, problems, overdue)
    context = {
        "partner": partner,
        "problems": problems,
        "overdue": overdue,
        "upcoming": upcoming,
        "escalated": escalated,
        "subject": subject,
        "team": team,
        "partnership": partnership(agenda),
    }
    keys = sorted([problem.key for problem in problems] + [item.key for item in overdue])
    digest = hashlib.sha256("|".join(keys).encode()).hexdigest()[:16]
    return Mail(
        key=f"{partner.id}-alert-{digest}",
        partner=partner.id,
        to=tuple(partner.owners) + ((team,) if escalated else ()),
        cc=() if escalated else (team,),
        subject=subject,
        text=templates().get_template("partner_alert.txt.j2").render(context),
        html=templates().get_template("partner_alert.html.j2").render(context),
    )
