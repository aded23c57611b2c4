"""Run a dataset's suite on one batch inside DuckDB, through Great Expectations' SQL datasource.

`validate(db_path, query, suite)` opens `db_path` read-only through GX (an ephemeral context, a
query asset over `query`, the whole query as one batch) and returns a plain report: for each
expectation whether it passed, how many rows broke it, some of the values found and the source
rows they came from. The query must expose the suite's canonical columns plus `_source_row` and
`_parse_errors` (see `pipelines.core.suites`). `validate_batches` does the same for several
queries (one submission each) through one context and connection.

Anything that goes wrong inside GX, for one expectation or for the whole run, is a failure carrying
the error text, never a pass. The caller must not hold its own connection to `db_path` meanwhile:
DuckDB refuses a read-only connection next to a read-write one in the same process. GX's engines
are disposed before returning, so the file is free for writers again.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from pipelines.core.suites import UNEXPECTED_ROWS, Suite
from pipelines.quality.gx_duckdb import ensure_duckdb_fix
from pipelines.quality.gx_suite import gx_expectations

if TYPE_CHECKING:
    from great_expectations.core import ExpectationValidationResult
    from great_expectations.datasource.fluent import SQLDatasource
    from great_expectations.expectations import Expectation

ROW_COLUMN = "_source_row"
SAMPLES = 10
_MAX_ERROR_CHARS = 2000
# Row rules (map expectations and unexpected-rows rules) first run as BOOLEAN_ONLY: GX then computes
# every map rule's count in one aggregate query over the batch. Other formats add two queries per map
# rule (sample values, source rows) even when it passes, each a full scan of the batch: on a large
# delivery that was most of the checks' time. Only failing row rules run again with details: map rules in
# SUMMARY (counts, a few values and their source rows); unexpected-rows rules in COMPLETE, the only
# format that returns their rows (capped at 200 by GX), which for map rules would return every
# failing value. Table rules (row count, column set) cost no extra query and report in SUMMARY.
_PASS = {"result_format": "BOOLEAN_ONLY"}
_SUMMARY = {
    "result_format": "SUMMARY",
    "unexpected_index_column_names": [ROW_COLUMN],
    "partial_unexpected_count": SAMPLES,
}
_COMPLETE = {"result_format": "COMPLETE"}
# GX keeps its current context in a process-wide singleton, so runs must not overlap.
_gx_lock = threading.Lock()


class ExpectationOutcome(BaseModel):
    expectation_type: str
    columns: list[str]
    notes: str | None
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    sample_values: list[str] = []
    sample_rows: list[int] = []
    error: str | None = None


class ValidationReport(BaseModel):
    success: bool
    outcomes: list[ExpectationOutcome]

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.success]

    def to_metadata(self) -> dict[str, Any]:
        """JSON-able summary of the failures, for asset-check metadata."""
        return {
            "success": self.success,
            "expectations": len(self.outcomes),
            "failed": [outcome.model_dump(exclude={"success"}, exclude_none=True) for outcome in self.failed],
        }


def validate(db_path: Path, query: str, suite: Suite) -> ValidationReport:
    return validate_batches(db_path, [query], suite)[0]


def validate_batches(db_path: Path, queries: Sequence[str], suite: Suite) -> list[ValidationReport]:
    """One report per query, each query one batch, all through one GX context and one read-only
    connection: opening them per batch was a large share of a small delivery's checks."""
    if not queries:
        return []
    with _gx_lock:
        try:
            with _session(db_path) as (context, datasource):
                return [_report(context, datasource, number, query, suite) for number, query in enumerate(queries)]
        except Exception as exc:  # no context or connection: every batch failed to run
            return [_run_failed(exc) for _ in queries]


def _report(context: Any, datasource: SQLDatasource, number: int, query: str, suite: Suite) -> ValidationReport:
    try:
        results = _run(context, datasource, f"{suite.name}-{number}", query, suite)
    except Exception as exc:  # the run as a whole failed: report it, never pass
        return _run_failed(exc)
    batch_rows = next((rows for rows in map(_rows_of, results.values()) if rows is not None), None)
    outcomes = [
        _outcome(raw, results.get(index), batch_rows, suite.pseudonymize)
        for index, raw in enumerate(suite.expectations)
    ]
    return ValidationReport(success=all(outcome.success for outcome in outcomes), outcomes=outcomes)


def _run_failed(exc: Exception) -> ValidationReport:
    failure = ExpectationOutcome(
        expectation_type="validation_run",
        columns=[],
        success=False,
        notes="The checks could not be run on this data.",
        error=_text(exc),
    )
    return ValidationReport(success=False, outcomes=[failure])


@contextmanager
def _session(db_path: Path) -> Iterator[tuple[Any, SQLDatasource]]:
    """An ephemeral GX context with the warehouse as a read-only SQL datasource, released after."""
    ensure_duckdb_fix()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    _quiet_gx_logging()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    datasource = context.data_sources.add_sql(
        name="warehouse",
        connection_string=f"duckdb:///{db_path}",
        kwargs={"connect_args": {"read_only": True}},
    )
    try:
        yield context, datasource
    finally:
        _release(datasource)


def _run(
    context: Any, datasource: SQLDatasource, name: str, query: str, suite: Suite
) -> dict[int, ExpectationValidationResult]:
    """GX results for one batch (`name` unique in the context), keyed by the expectation's position
    in the suite."""
    batch = datasource.add_query_asset(name=name, query=query).add_batch_definition_whole_table("batch")
    unexpected_rows = {i for i, raw in enumerate(suite.expectations) if raw["type"] == UNEXPECTED_ROWS}
    row_rules = [
        i for i, expectation in enumerate(gx_expectations(suite)) if _is_map_rule(expectation) or i in unexpected_rows
    ]
    table_rules = [i for i in range(len(suite.expectations)) if i not in row_rules]
    results = _validate(context, batch, name, suite, table_rules, "table", _SUMMARY)
    first = _validate(context, batch, name, suite, row_rules, "rows", _PASS)
    results |= {i: result for i, result in first.items() if result.success}
    failed = [i for i in row_rules if i not in results]
    results |= _validate(
        context, batch, name, suite, [i for i in failed if i not in unexpected_rows], "failed-values", _SUMMARY
    )
    results |= _validate(
        context, batch, name, suite, [i for i in failed if i in unexpected_rows], "failed-rows", _COMPLETE
    )
    return results


def _is_map_rule(expectation: Expectation) -> bool:
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )

    return isinstance(expectation, (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation))


def _validate(
    context: Any, batch: Any, name: str, suite: Suite, indices: list[int], part: str, result_format: dict[str, Any]
) -> dict[int, ExpectationValidationResult]:
    """Run the suite's expectations at `indices` on the batch; results keyed by position in the suite."""
    import great_expectations as gx

    if not indices:
        return {}
    expectations = gx_expectations(suite)  # fresh objects: GX gives each an id when a suite takes it
    chosen = [expectations[i] for i in indices]
    if result_format is _PASS:
        chosen = [_counting_only(expectation) for expectation in chosen]
    part_suite = context.suites.add(gx.ExpectationSuite(name=f"{name}-{part}", expectations=chosen))
    # GX returns results in its own order; the ids it gave the expectations map them back.
    position = {expectation.id: index for expectation, index in zip(part_suite.expectations, indices, strict=True)}
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=part_suite.name, data=batch, suite=part_suite)
    )
    return {
        position[result.expectation_config.id]: result for result in definition.run(result_format=result_format).results
    }


def _counting_only(expectation: Expectation) -> Expectation:
    """An unexpected-rows rule that only counts its rows, for the pass/fail run.

    GX's own rule always fetches the rows its query returns as well as counting them, whatever the
    result format: a second full query per rule on a batch that passes (a fifth of the checks' time
    for a district enrollment file). A failing rule runs again as itself, rows and all.
    """
    from great_expectations.expectations import UnexpectedRowsExpectation

    if type(expectation) is not UnexpectedRowsExpectation:
        return expectation
    return _counted_unexpected_rows_class()(**expectation.dict(exclude={"id"}))


@functools.cache
def _counted_unexpected_rows_class() -> type[Expectation]:
    """Defined on first use, once: GX registers every expectation class it sees, and importing GX
    here at module level would slow every definitions load."""
    from great_expectations.expectations import UnexpectedRowsExpectation

    class CountedUnexpectedRows(UnexpectedRowsExpectation):
        metric_dependencies = ("unexpected_rows_query.row_count",)

        def _validate(
            self, metrics: dict, runtime_configuration: dict | None = None, execution_engine: Any = None
        ) -> dict[str, Any]:
            count = metrics["unexpected_rows_query.row_count"]
            return {"success": count == 0, "result": {"observed_value": count}}

    return CountedUnexpectedRows


def _rows_of(result: ExpectationValidationResult) -> int | None:
    """The batch's row count if this result tells it (map rules with details, the row-count rule)."""
    found = result.result or {}
    if "element_count" in found:
        return found["element_count"]
    if result.expectation_config.type == "expect_table_row_count_to_be_between":
        return found.get("observed_value")
    return None


def _quiet_gx_logging() -> None:
    """GX's errors reach the report as outcome errors; its log lines are noise. Some GX modules set
    their own logger's level (to INFO), so every GX logger is quieted, not only the parent."""
    for name in ["great_expectations", *logging.root.manager.loggerDict]:
        if name.startswith("great_expectations"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def _release(datasource: SQLDatasource) -> None:
    """Close GX's pooled DuckDB connections now, not whenever they are garbage-collected."""
    if datasource.execution_engine is not None:
        datasource.execution_engine.close()
    datasource.get_engine().dispose()


def _outcome(
    raw: dict[str, Any], result: ExpectationValidationResult | None, batch_rows: int | None, pseudonymized: list[str]
) -> ExpectationOutcome:
    kwargs, meta = raw["kwargs"], raw["meta"]
    columns = meta.get("columns") or ([kwargs["column"]] if "column" in kwargs else kwargs.get("column_list", []))
    outcome = ExpectationOutcome(expectation_type=raw["type"], columns=columns, notes=meta.get("notes"), success=False)
    if result is None:
        outcome.error = "Great Expectations returned no result for this expectation"
        return outcome
    outcome.error = _gx_error(result.exception_info)
    outcome.success = bool(result.success) and outcome.error is None
    found = result.result or {}
    # An unexpected-rows rule reports its count as observed_value, and no element_count.
    outcome.unexpected_count = found.get("observed_value" if raw["type"] == UNEXPECTED_ROWS else "unexpected_count")
    if outcome.success and not found and "mostly" not in kwargs:
        outcome.unexpected_count = 0  # a row rule run BOOLEAN_ONLY passed: no row broke it
    outcome.element_count = found.get("element_count", batch_rows)
    if outcome.unexpected_count is not None and outcome.element_count:
        # Of all rows, for every kind of rule (GX's own percent leaves out blank values).
        outcome.unexpected_percent = 100 * outcome.unexpected_count / outcome.element_count
    if not outcome.success:
        outcome.sample_values, outcome.sample_rows = _samples(raw["type"], found, columns, pseudonymized)
    return outcome


def _samples(
    kind: str, found: dict[str, Any], columns: list[str], pseudonymized: list[str]
) -> tuple[list[str], list[int]]:
    """Up to SAMPLES distinct values found and source rows, for a partner to look up.

    Pseudonyms never go into a report: shown to a partner who knows the real IDs, they would link them.
    """
    if kind == UNEXPECTED_ROWS:
        rows = (found.get("details") or {}).get("unexpected_rows") or []
        shown = [c for c in columns if c not in pseudonymized]
        values = [_show({c: row.get(c) for c in shown}) for row in rows] if shown else []
        return _first(values), _first(row.get(ROW_COLUMN) for row in rows)
    if "partial_unexpected_list" in found:
        hidden = bool(set(columns) & set(pseudonymized))
        values = ["(pseudonymized)" if hidden and v is not None else _show(v) for v in found["partial_unexpected_list"]]
        return _first(values), _first(i.get(ROW_COLUMN) for i in found.get("partial_unexpected_index_list") or [])
    mismatched = (found.get("details") or {}).get("mismatched")
    if mismatched:
        return [f"missing column {c}" for c in mismatched.get("missing", [])] + [
            f"unexpected column {c}" for c in mismatched.get("unexpected", [])
        ], []
    return ([_show(found["observed_value"])] if "observed_value" in found else []), []


def _show(value: Any) -> str:
    if value is None:
        return "(blank)"
    if isinstance(value, dict):
        return (
            _show(next(iter(value.values())))
            if len(value) == 1
            else ", ".join(f"{key}={_show(item)}" for key, item in value.items())
        )
    return str(value)


def _first(items: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(item for item in items if item is not None))[:SAMPLES]


def _gx_error(info: dict[str, Any] | None) -> str | None:
    """GX reports an exception either directly or per failed metric; both mean the check did not run.

    Each message's first line says what went wrong; the rest repeats the generated SQL.
    """
    if not info:
        return None
    reports = [info] if "raised_exception" in info else [value for value in info.values() if isinstance(value, dict)]
    messages = [
        (str(report.get("exception_message") or "").strip().splitlines() or ["error inside Great Expectations"])[0]
        for report in reports
        if report.get("raised_exception")
    ]
    return "; ".join(dict.fromkeys(messages))[:_MAX_ERROR_CHARS] or None


def _text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
