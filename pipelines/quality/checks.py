"""The quality stage's asset checks.

- `expectations` (blocking), on each raw asset: each new submission is validated against its
  dataset's GX suite. A submission that passes is accepted (staging reads only accepted
  submissions); one that fails is quarantined, the check fails, and Dagster stops everything
  downstream of that dataset, so the last good data stays published.
- `delivered_on_time` (non-blocking), on each raw asset: fails while its partner is overdue.
  Dagster's own freshness checks and policies judge when an asset was last materialized; a raw
  asset is materialized by every ingest run whether or not its partner sent anything, so they
  would always pass. These checks judge the partner's deliveries instead (raw.submissions,
  pipelines.quality.due): a warning for one missed period and an error from the second in a row.
  They run with every ingest of the dataset and with the alerts job (the daily reminder schedule).
- `equity_coverage` (non-blocking), on indicator_values: warns when a required breakdown cannot be made.
"""

import datetime as dt
import json

import dagster as dg
import duckdb

from pipelines.core.agenda import Agenda
from pipelines.core.clock import run_as_of, utc_now
from pipelines.core.registry import DatasetRef, Registry
from pipelines.core.resources import WAREHOUSE_POOL, BackboneResource
from pipelines.core.sql import ident, literal
from pipelines.ingest.assets import raw_key
from pipelines.quality.coverage import coverage_gaps
from pipelines.quality.timeliness import due_statuses
from pipelines.quality.validation import ValidationReport, validate_batches


def batch_query(ref: DatasetRef, submission_id: str, loaded_at: dt.datetime | None = None) -> str:
    """The rows GX sees: canonical columns plus the row number and type errors of one submission.

    With the submission's `loaded_at`, DuckDB skips every row group loaded at another time by its
    min/max statistics; submission ids share a long prefix, so their statistics skip nothing, and
    every query GX runs would read the dataset's whole history.
    """
    columns = ", ".join(ident(column) for column in ref.suite.columns)
    loaded = f" and _loaded_at = {literal(loaded_at.isoformat(sep=' '))}::timestamp" if loaded_at else ""
    return (
        f"select {columns}, _source_row, _parse_errors from raw.{ident(ref.table)} "
        f"where _submission_id = {literal(submission_id)}{loaded}"
    )


def _record(
    con: duckdb.DuckDBPyConnection, submission_id: str, status: str, reason: str | None, report: ValidationReport | None
) -> None:
    now = utc_now()
    con.execute(
        "update raw.submissions set status = ?, status_reason = ?, checked_at = ? where submission_id = ?",
        [status, reason, now, submission_id],
    )
    con.execute("delete from quality.check_results where submission_id = ?", [submission_id])
    for outcome in report.outcomes if report else []:
        con.execute(
            "insert into quality.check_results values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                submission_id,
                outcome.expectation_type,
                ", ".join(outcome.columns),
                outcome.notes,
                outcome.success,
                outcome.element_count,
                outcome.unexpected_count,
                outcome.unexpected_percent,
                json.dumps(outcome.sample_values),
                json.dumps(outcome.sample_rows),
                outcome.error,
            ],
        )


def _reason(report: ValidationReport) -> str:
    failed = report.failed
    names = "; ".join(outcome.notes or outcome.expectation_type for outcome in failed[:3])
    more = f" (+{len(failed) - 3} more)" if len(failed) > 3 else ""
    return f"{len(failed)} expectation(s) failed: {names}{more}"


def check_new_submissions(backbone: BackboneResource, ref: DatasetRef) -> tuple[bool, dict[str, object]]:
    """Validate every submission of `ref` not yet checked; return (passed, metadata)."""
    with backbone.warehouse() as con:
        new = con.execute(
            "select submission_id, source, status, status_reason, received_at from raw.submissions "
            "where partner = ? and dataset = ? and checked_at is null order by received_at, submission_id",
            [ref.partner.id, ref.dataset_id],
        ).fetchall()
    readable = [row for row in new if row[2] != "unreadable"]
    # GX opens the warehouse file itself, so no connection of ours may be open meanwhile.
    reports = dict(
        zip(
            [row[0] for row in readable],
            validate_batches(
                backbone.paths.warehouse, [batch_query(ref, row[0], row[4]) for row in readable], ref.suite
            ),
            strict=True,
        )
    )
    verdicts: list[tuple[str, str, str | None, ValidationReport | None]] = []
    for submission_id, _source, status, reason, _received_at in new:
        report = reports.get(submission_id)
        if report is None:
            verdicts.append((submission_id, status, reason, None))  # unreadable: nothing to check
        else:
            verdict = "accepted" if report.success else "quarantined"
            verdicts.append((submission_id, verdict, None if report.success else _reason(report), report))
    with backbone.warehouse() as con:
        for submission_id, verdict, reason, report in verdicts:
            _record(con, submission_id, verdict, reason, report)
    sources = {row[0]: row[1] for row in new}
    metadata: dict[str, object] = {
        "suite": f"expectations/{ref.dataset_id}.json",
        "submissions_checked": len(verdicts),
        "accepted": sum(v[1] == "accepted" for v in verdicts),
        "quarantined": sum(v[1] == "quarantined" for v in verdicts),
        "unreadable": sum(v[1] == "unreadable" for v in verdicts),
    }
    for submission_id, verdict, reason, report in verdicts:
        if verdict != "accepted":
            detail = report.to_metadata() if report else {"reason": reason}
            metadata[f"{verdict}: {sources[submission_id]}"] = dg.MetadataValue.json(detail)
    passed = all(verdict == "accepted" for _, verdict, _, _ in verdicts)
    return passed, metadata


def build_expectations_check(ref: DatasetRef) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=raw_key(ref),
        name="expectations",
        blocking=True,
        pool=WAREHOUSE_POOL,
        description=f"Great Expectations suite expectations/{ref.dataset_id}.json on each new submission; "
        "a failing submission is quarantined and blocks everything downstream.",
    )
    def _check(backbone: BackboneResource) -> dg.AssetCheckResult:
        passed, metadata = check_new_submissions(backbone, ref)
        return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata)

    return _check


def build_expectations_checks(registry: Registry) -> list[dg.AssetChecksDefinition]:
    return [build_expectations_check(ref) for ref in registry.datasets]


def build_equity_coverage_check(registry: Registry, agenda: Agenda) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(["marts", "indicator_values"]),
        name="equity_coverage",
        blocking=False,
        pool=WAREHOUSE_POOL,
        description="Warns when an indicator cannot be broken down as the agenda requires: a required "
        "field (race/ethnicity, gender, income, English learner, special education, school) is missing "
        "from its datasets or mostly empty.",
    )
    def equity_coverage(backbone: BackboneResource) -> dg.AssetCheckResult:
        with backbone.warehouse(read_only=True) as con:
            gaps = coverage_gaps(agenda, registry, con)
        return dg.AssetCheckResult(
            passed=not gaps,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "gaps": dg.MetadataValue.md("\n".join(f"- {gap}" for gap in gaps) or "None."),
                "gap_count": len(gaps),
            },
        )

    return equity_coverage


FRESHNESS_CHECK = "delivered_on_time"


def build_delivery_check(ref: DatasetRef) -> dg.AssetChecksDefinition:
    partner = ref.partner

    @dg.asset_check(
        asset=raw_key(ref),
        name=FRESHNESS_CHECK,
        blocking=False,
        pool=WAREHOUSE_POOL,
        description=f"{partner.name} delivers {ref.dataset_id} once per {partner.cadence.value} period, due "
        f"{partner.grace_period_days} days after the period starts. Warns when a period was missed, errors "
        "from the second missed period in a row.",
    )
    def _check(context: dg.AssetCheckExecutionContext, backbone: BackboneResource) -> dg.AssetCheckResult:
        as_of = run_as_of(context.run.tags)
        with backbone.warehouse() as con:
            status = due_statuses(con, [ref], as_of)[ref.table]
        missed = ", ".join(period.label for period in reversed(status.missed))
        if not status.first_received_at:
            verdict = "No delivery yet: due dates start with the first delivery."
        elif status.overdue:
            verdict = f"Overdue: no delivery for {missed} (due on {status.missed[0].due_on})."
        else:
            verdict = f"Delivered on schedule; next delivery due by {status.next_due}."
        return dg.AssetCheckResult(
            passed=not status.overdue,
            severity=dg.AssetCheckSeverity.ERROR if len(status.missed) >= 2 else dg.AssetCheckSeverity.WARN,
            description=verdict,
            metadata={
                "as_of": as_of.isoformat(),
                "cadence": partner.cadence.value,
                "grace_days": partner.grace_period_days,
                "current_period": status.current.label,
                "last_delivery": status.last_received_at.isoformat() if status.last_received_at else "none yet",
                "missed_periods": missed or "none",
                "next_due": str(status.next_due) if status.next_due else "after the first delivery",
            },
        )

    return _check


def build_delivery_checks(registry: Registry) -> list[dg.AssetChecksDefinition]:
    return [build_delivery_check(ref) for ref in registry.datasets]
