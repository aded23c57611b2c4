"""Compose one mail per partner with all of its new problems, from what the warehouse recorded.

Only the partner's own submissions, check results and rows are read, so a mail can never carry
another partner's data. Example rows are shown with the partner's own column names.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache

import duckdb
import jinja2

from pipelines.alerts.mail import Mail
from pipelines.alerts.outbox import reported
from pipelines.registry import DatasetRef, Partner, Registry, RegistryError
from pipelines.sql import ident

EXAMPLE_ROWS = 5


@dataclass(frozen=True)
class FailedCheck:
    notes: str
    expectation: str
    columns: str
    unexpected_count: int | None
    element_count: int | None
    sample_values: list[str]
    sample_rows: list[int]
    error: str | None
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


@cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("pipelines.alerts", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _examples(con: duckdb.DuckDBPyConnection, ref: DatasetRef, submission_id: str, rows: list[int]) -> list[dict]:
    if not rows:
        return []
    theirs = ref.config.columns
    select = ", ".join(f"{ident(ours)} as {ident(theirs[ours])}" for ours in ref.suite.columns)
    placeholders = ", ".join("?" for _ in rows[:EXAMPLE_ROWS])
    cursor = con.execute(
        f"select _source_row as row, {select} from raw.{ident(ref.table)} "
        f"where _submission_id = ? and _source_row in ({placeholders}) order by _source_row",
        [submission_id, *rows[:EXAMPLE_ROWS]],
    )
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def _failed_checks(con: duckdb.DuckDBPyConnection, ref: DatasetRef, submission_id: str) -> list[FailedCheck]:
    rows = con.execute(
        "select notes, expectation, columns, unexpected_count, element_count, sample_values, sample_rows, error "
        "from quality.check_results where submission_id = ? and not success order by expectation, columns",
        [submission_id],
    ).fetchall()
    checks = []
    for notes, expectation, columns, unexpected, elements, values, sample_rows, error in rows:
        row_numbers = json.loads(sample_rows or "[]")
        checks.append(FailedCheck(
            notes=notes or expectation, expectation=expectation, columns=columns or "",
            unexpected_count=unexpected, element_count=elements,
            sample_values=[str(value) for value in json.loads(values or "[]")][:10],
            sample_rows=row_numbers[:10], error=error,
            examples=_examples(con, ref, submission_id, row_numbers),
        ))
    return checks


def new_problems(con: duckdb.DuckDBPyConnection, registry: Registry) -> dict[str, list[Problem]]:
    """Problems not yet reported, grouped by partner id."""
    already = reported(con)
    has_results = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'quality' and table_name = 'check_results'"
    ).fetchone()[0]
    if not con.execute(
        "select count(*) from information_schema.tables where table_schema = 'raw' and table_name = 'submissions'"
    ).fetchone()[0]:
        return {}
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
        problems.setdefault(partner_id, []).append(Problem(
            key=key, dataset=dataset_id, source=source, received_at=f"{received_at:%Y-%m-%d %H:%M} UTC",
            status=status, reason=reason, rows=rows, checks=checks,
            recheck=f"backbone check-file --partner {partner_id} --dataset {dataset_id} {source}",
        ))
    return problems


def compose(partner: Partner, problems: list[Problem]) -> Mail:
    files = ", ".join(problem.source for problem in problems)
    what = "a delivery" if len(problems) == 1 else f"{len(problems)} deliveries"
    subject = f"Action needed: {what} from {partner.name} could not be used ({files})"
    context = {"partner": partner, "problems": problems, "subject": subject}
    digest = hashlib.sha256("|".join(sorted(problem.key for problem in problems)).encode()).hexdigest()[:16]
    return Mail(
        key=f"{partner.id}-alert-{digest}",
        partner=partner.id,
        to=tuple(partner.owners),
        subject=subject,
        text=_templates().get_template("partner_alert.txt.j2").render(context),
        html=_templates().get_template("partner_alert.html.j2").render(context),
    )
