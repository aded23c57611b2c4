"""Great Expectations on DuckDB: the fix is still needed, the suites load, and a validation reports
exactly what is wrong (counts, values, source rows) — an error inside GX is a failure, never a pass."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.core.home import PROJECT_ROOT
from pipelines.core.sql import ident
from pipelines.core.suites import BATCH_LINEAGE_COLUMNS, Suite, SuiteError, load_suite
from pipelines.quality.gx_duckdb import ensure_duckdb_fix
from pipelines.quality.gx_suite import to_gx
from pipelines.quality.validation import ExpectationOutcome, ValidationReport, validate

EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"

DATASETS = [
    "enrollment",
    "assessments",
    "graduation",
    "kindergarten_readiness",
    "postsecondary_enrollment",
    "completion",
    "employment",
    "program_participation",
]
SUITES = {dataset: load_suite(dataset, EXPECTATIONS_DIR) for dataset in DATASETS}
# Values for rules that are unexpected-rows queries rather than value sets or ranges.
FORMATTED = {"school_year": "2024-25", "term": "2025FA", "quarter": "2025Q1", "program_code": "11.0701"}


def _rule(suite: Suite, column: str, kind: str) -> dict[str, Any] | None:
    return next(
        (e["kwargs"] for e in suite.expectations if e["type"] == kind and e["kwargs"].get("column") == column), None
    )


def _value(suite: Suite, column: str, i: int) -> Any:
    """A valid value for row i, read off the suite's own value sets and ranges."""
    if column in suite.pseudonymize:
        return f"{i:064x}"  # unique, so every natural key is unique
    if value_set := _rule(suite, column, "expect_column_values_to_be_in_set"):
        return value_set["value_set"][i % len(value_set["value_set"])]
    if bounds := _rule(suite, column, "expect_column_values_to_be_between"):
        low, high = bounds["min_value"], bounds["max_value"]
        if isinstance(low, str):
            return dt.date.fromisoformat(low) + dt.timedelta(days=i)
        return low + i % (high - low + 1)
    return FORMATTED[column]


def good_rows(dataset: str, count: int = 20) -> list[dict[str, Any]]:
    suite = SUITES[dataset]
    rows = [{column: _value(suite, column, i) for column in suite.columns} for i in range(count)]
    for row in rows:  # the two cross-field rules a column-by-column value cannot know
        if dataset == "graduation" and row["outcome"] != "G":
            row["graduation_date"] = None
        if dataset == "program_participation":
            row["sessions_attended"] = row["sessions_offered"] // 2
    return rows


def land(db: Path, suite: Suite, rows: list[dict[str, Any]]) -> str:
    """Write rows as ingest does (typed canonical columns plus lineage); return the batch query."""
    columns = {**suite.columns, "_source_row": "BIGINT", "_parse_errors": "VARCHAR"}
    with duckdb.connect(str(db)) as con:
        con.execute("create schema if not exists raw")
        con.execute(
            f"create or replace table raw.{ident(suite.name)} "
            f"({', '.join(f'{ident(c)} {t}' for c, t in columns.items())})"
        )
        con.executemany(
            f"insert into raw.{ident(suite.name)} values ({', '.join('?' for _ in columns)})",
            [
                [row.get(c) for c in suite.columns] + [row.get("_source_row", n + 2), row.get("_parse_errors")]
                for n, row in enumerate(rows)
            ],
        )
    select = ", ".join(ident(c) for c in [*suite.columns, *BATCH_LINEAGE_COLUMNS])
    return f"select {select} from raw.{ident(suite.name)}"


def failures(report: ValidationReport) -> dict[str | None, ExpectationOutcome]:
    return {outcome.notes: outcome for outcome in report.failed}


@pytest.mark.slow
def test_gx_still_fails_on_duckdb_without_the_fix(tmp_path: Path) -> None:
    """When this fails, GX works on DuckDB by itself: delete pipelines/quality/gx_duckdb.py and its call."""
    db = tmp_path / "w.duckdb"
    query = land(db, SUITES["assessments"], good_rows("assessments"))
    code = textwrap.dedent("""
        import sys
        from pathlib import Path
        from pipelines.quality import validation
        from pipelines.core.suites import load_suite
        validation.ensure_duckdb_fix = lambda: None  # GX as shipped
        report = validation.validate(Path(sys.argv[1]), sys.argv[2], load_suite("assessments", Path("expectations")))
        print(report.model_dump_json())
    """)
    result = subprocess.run(
        [sys.executable, "-c", code, str(db), query], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300
    )
    assert result.returncode == 0, result.stderr
    report = ValidationReport.model_validate_json(result.stdout.strip().splitlines()[-1])
    assert not report.success, "GX now validates DuckDB without the fix: remove pipelines/quality/gx_duckdb.py"
    assert "list index out of range" in {outcome.error for outcome in report.outcomes}


def test_the_fix_is_applied_once() -> None:
    from great_expectations.execution_engine.sqlalchemy_execution_engine import SqlAlchemyExecutionEngine

    ensure_duckdb_fix()
    patched = SqlAlchemyExecutionEngine._execute_query_with_recovery
    ensure_duckdb_fix()
    assert SqlAlchemyExecutionEngine._execute_query_with_recovery is patched


def test_a_good_batch_passes_and_the_file_is_released(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    query = land(db, SUITES["assessments"], good_rows("assessments"))

    report = validate(db, query, SUITES["assessments"])

    assert report.success, report.to_metadata()
    assert len(report.outcomes) == len(SUITES["assessments"].expectations)
    assert all(outcome.element_count == 20 for outcome in report.outcomes)
    assert report.to_metadata() == {"success": True, "expectations": len(report.outcomes), "failed": []}
    with duckdb.connect(str(db)) as con:  # read-write in this process: GX let go of the file
        con.execute("create table released as select 1")


def test_a_flawed_batch_reports_exact_counts_values_and_source_rows(tmp_path: Path) -> None:
    suite = SUITES["assessments"]
    rows = good_rows("assessments")
    rows[3]["scale_score"] = 999
    rows[5]["subject"] = "READ"
    rows[7].update(scale_score=None, _parse_errors="scale_score: 'N/A' is not a whole number")
    rows.append({**rows[0], "_source_row": 40})  # the same student, year and subject again
    db = tmp_path / "w.duckdb"

    report = validate(db, land(db, suite, rows), suite)

    assert not report.success
    failed = failures(report)
    assert set(failed) == {
        "Scale scores must be whole numbers between 100 and 400.",
        "Subject must be ELA or MATH.",
        "Grade, scale score and performance level must be whole numbers.",
        "Scale score is required on every row.",
        "Each student may have only one score per school year and subject.",
    }
    score = failed["Scale scores must be whole numbers between 100 and 400."]
    assert (score.expectation_type, score.columns) == ("expect_column_values_to_be_between", ["scale_score"])
    assert (score.unexpected_count, score.element_count) == (1, 21)
    assert (score.sample_values, score.sample_rows) == (["999"], [5])
    assert score.unexpected_percent == pytest.approx(100 / 21)  # of all rows, blank ones included
    subject = failed["Subject must be ELA or MATH."]
    assert (subject.unexpected_count, subject.sample_values, subject.sample_rows) == (1, ["READ"], [7])
    typed = failed["Grade, scale score and performance level must be whole numbers."]
    assert (typed.sample_values, typed.sample_rows) == (["scale_score: 'N/A' is not a whole number"], [9])
    assert failed["Scale score is required on every row."].sample_values == ["(blank)"]
    duplicate = failed["Each student may have only one score per school year and subject."]
    assert (duplicate.expectation_type, duplicate.columns) == (
        "unexpected_rows_expectation",
        ["student_id", "school_year", "subject"],
    )
    assert (duplicate.unexpected_count, duplicate.element_count, duplicate.sample_rows) == (2, 21, [2, 40])
    assert duplicate.sample_values == [f"school_year=2024-25, subject={rows[0]['subject']}"]  # no pseudonym shown
    assert all(outcome.error is None for outcome in report.outcomes)
    metadata = report.to_metadata()
    assert json.loads(json.dumps(metadata)) == metadata
    assert len(metadata["failed"]) == 5 and metadata["failed"][0]["sample_rows"]


def test_an_error_inside_gx_is_a_failure_with_the_error(tmp_path: Path) -> None:
    suite = SUITES["program_participation"]
    db = tmp_path / "w.duckdb"
    query = land(db, suite, good_rows("program_participation"))
    broken = suite.model_copy(
        update={
            "expectations": [
                *suite.expectations,
                {
                    "type": "expect_column_values_to_not_be_null",
                    "kwargs": {"column": "mentor_name"},
                    "meta": {"notes": "Mentor name is required."},
                },
                {
                    "type": "unexpected_rows_expectation",
                    "kwargs": {"unexpected_rows_query": "select * from {batch} where and"},
                    "meta": {"notes": "A broken rule.", "columns": ["exit_date"]},
                },
            ]
        }
    )

    report = validate(db, query, broken)

    assert not report.success
    failed = failures(report)
    assert set(failed) == {"Mentor name is required.", "A broken rule."}
    assert 'column "mentor_name"' in failed["Mentor name is required."].error
    assert "syntax error" in failed["A broken rule."].error.lower()
    assert all(outcome.error is None for outcome in report.outcomes if outcome.success)


def test_a_run_that_cannot_start_is_a_failure_too(tmp_path: Path) -> None:
    suite = SUITES["completion"]
    missing = validate(tmp_path / "nowhere.duckdb", "select 1", suite)
    db = tmp_path / "w.duckdb"
    query = land(db, suite, good_rows("completion"))
    with duckdb.connect(str(db)):  # the caller broke the contract and still holds the file
        held = validate(db, query, suite)

    for report in (missing, held):
        assert not report.success
        [outcome] = report.outcomes
        assert (outcome.expectation_type, outcome.success) == ("validation_run", False)
        assert outcome.error
    assert "does not exist" in missing.outcomes[0].error


@pytest.mark.parametrize("dataset", DATASETS)
def test_every_suite_file_loads_and_builds_a_gx_suite(dataset: str) -> None:
    suite = SUITES[dataset]
    gx_suite = to_gx(suite)
    assert gx_suite.name == dataset == suite.name
    assert len(gx_suite.expectations) == len(suite.expectations)
    assert suite.pseudonymize == ["student_id"] and set(suite.key) <= set(suite.columns)
    assert all(expectation["meta"]["notes"].endswith(".") for expectation in suite.expectations)
    assert sorted(EXPECTATIONS_DIR.glob("*.json")) == sorted(EXPECTATIONS_DIR / f"{d}.json" for d in DATASETS)


# (dataset, one realistic mistake in row 4, the check that must catch it)
MISTAKES = [
    ("enrollment", {"grade": 13}, "Grade must be a whole number from 0 (kindergarten) to 12."),
    (
        "assessments",
        {"school_year": "2024-2025"},
        "School year must be written YYYY-YY with consecutive years, e.g. 2024-25.",
    ),
    (
        "graduation",
        {"outcome": "D", "graduation_date": dt.date(2025, 6, 1)},
        "A graduation date may only be given when the outcome is G (graduated).",
    ),
    (
        "kindergarten_readiness",
        {"readiness_level": "X"},
        "Readiness level must be R (ready), A (approaching) or N (not yet ready).",
    ),
    ("postsecondary_enrollment", {"term": "2025FALL"}, "Term must be a year followed by FA, SP or SU, e.g. 2025FA."),
    ("completion", {"program_code": "117"}, "Program code must be a CIP code written NN.NNNN, e.g. 11.0701."),
    ("employment", {"quarterly_wages": 300000}, "Quarterly wages must be an amount between 0 and 250,000."),
    (
        "program_participation",
        {"sessions_offered": 10, "sessions_attended": 12},
        "Sessions attended cannot be more than sessions offered.",
    ),
]


@pytest.mark.parametrize(("dataset", "mistake", "caught_by"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_each_suite_passes_good_rows_and_catches_a_mistake(
    tmp_path: Path, dataset: str, mistake: dict[str, Any], caught_by: str
) -> None:
    suite = SUITES[dataset]
    rows = good_rows(dataset)
    db = tmp_path / "w.duckdb"
    good = validate(db, land(db, suite, rows), suite)
    rows[4].update(mistake)
    flawed = validate(db, land(db, suite, rows), suite)

    assert good.success, good.to_metadata()
    assert list(failures(flawed)) == [caught_by]
    [outcome] = flawed.failed
    assert (outcome.unexpected_count, outcome.sample_rows) == (1, [6])


def _broken_suite(tmp_path: Path, edit) -> Path:
    folder = tmp_path / "expectations"
    shutil.copytree(EXPECTATIONS_DIR, folder)
    path = folder / "assessments.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return folder


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d["meta"].update(key=["student_id", "year"]), "meta.key: 'year' is not one of meta.columns"),
        (lambda d: d["meta"]["columns"].update(grade="INT; drop table x"), "meta.columns.grade: String should match"),
        (lambda d: d["expectations"][3]["meta"].pop("notes"), "expectations.3.meta.notes: Field required"),
        (
            lambda d: d["expectations"][4]["kwargs"].update(column="scale"),
            "expectations.4.kwargs.column: 'scale' is not a column of the batch",
        ),
        (lambda d: d["expectations"][-1]["meta"].pop("columns"), "expectations.16.meta.columns: list the columns"),
        (lambda d: d.update(name="assessment"), "name: 'assessment' must match the file name 'assessments'"),
        (lambda d: d.update(extra=1), "extra: Extra inputs are not permitted"),
    ],
)
def test_a_malformed_suite_names_the_file_and_field(tmp_path: Path, edit, expected: str) -> None:
    folder = _broken_suite(tmp_path, edit)
    with pytest.raises(SuiteError) as caught:
        load_suite("assessments", folder)
    assert str(folder / "assessments.json") in str(caught.value)
    assert expected in str(caught.value)


def test_a_suite_gx_rejects_is_a_suite_error_too(tmp_path: Path) -> None:
    folder = _broken_suite(tmp_path, lambda d: d["expectations"][12].update(type="expect_column_values_to_be_awesome"))
    suite = load_suite("assessments", folder)
    with pytest.raises(SuiteError, match=r"assessments\.json: expectations\.12 \(expect_column_values_to_be_awesome\)"):
        to_gx(suite)


def test_missing_and_unreadable_suites(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="no suite for dataset 'graduations'"):
        load_suite("graduations", EXPECTATIONS_DIR)
    (tmp_path / "enrollment.json").write_text("{not json")
    with pytest.raises(SuiteError, match=r"enrollment\.json: not valid JSON"):
        load_suite("enrollment", tmp_path)
