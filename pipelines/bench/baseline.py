"""The benchmark's yardstick: the pipeline's essential work on the district's files, by hand in DuckDB SQL.

One connection, no framework: each assessments and enrollment file is read, typed and pseudonymized
in one statement (as ingest does), checked with its dataset's suite translated to plain SQL (one
aggregate pass plus the row queries), appended if it passes; then the grade-3 reading indicator is
computed exactly as dbt computes it (latest accepted row per key, that year's demographics, the
cells by period x geography x group, small-cell suppression with its complementary passes, progress
against the agenda) and exported to Parquet. The published indicator of a pipeline run on the same
files must be identical, row for row: that equality checks both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import yaml

from pipelines.bench.measure import Stopwatch
from pipelines.core.agenda import BREAKDOWNS, load_agenda, load_schools
from pipelines.core.home import AGENDA_FILE, EXPECTATIONS_DIR, PARTNERS_DIR, PROJECT_ROOT, SCHOOLS_FILE
from pipelines.core.registry import DatasetRef, load_registry
from pipelines.core.sql import ident, literal
from pipelines.core.suites import Suite
from pipelines.ingest.pseudonym import bind_link_key, pseudonym_sql

PARTNER = "riverbend_isd"
DATASETS = ("enrollment", "assessments")
INDICATOR = "grade3_reading"
ROUNDS = ("history", "current")
INDICATOR_COLUMNS = (
    "indicator_id",
    "period",
    "geography_level",
    "geography",
    "dimension",
    "group_value",
    "numerator",
    "denominator",
    "value",
    "suppressed",
    "baseline_value",
    "target_value",
    "change_from_baseline",
    "on_track",
)
_INTEGER_TYPES = {"SMALLINT", "INTEGER", "BIGINT"}

# The labels dbt publishes codes under (dbt_project/macros/codes/; schools: sources/schools.yml).
RACES = {
    "AI": "American Indian/Alaska Native",
    "AS": "Asian",
    "BL": "Black/African American",
    "HI": "Hispanic/Latino",
    "PI": "Native Hawaiian/Pacific Islander",
    "WH": "White",
    "MR": "Two or more races",
}
GENDERS = {"F": "Female", "M": "Male", "X": "Nonbinary/not specified"}
FLAGS = {  # enrollment column -> published dimension's labels (Y, N)
    "econ_disadvantaged": ("Economically disadvantaged", "Not economically disadvantaged"),
    "english_learner": ("English learner", "Not an English learner"),
    "special_education": ("Special education", "Not in special education"),
}
SUPPRESSION_ROUNDS = 4


class BaselineError(RuntimeError):
    pass


@dataclass(frozen=True)
class Submission:
    dataset: str
    path: Path
    rows: int
    accepted: bool
    failed: list[str]


def delivered_files(deliveries: Path, ref: DatasetRef) -> list[Path]:
    """The dataset's files in the order the pipeline lands them: round by round, by name."""
    return [
        path
        for round_name in ROUNDS
        for path in sorted((deliveries / round_name / ref.partner.id).glob(ref.feed.files or ""))
    ]


def _case(column: str, mapping: dict[str, str]) -> str:
    whens = " ".join(f"when {literal(code)} then {literal(text)}" for code, text in mapping.items())
    return f"case {column} {whens} end"


# --- load ------------------------------------------------------------------------------------------


def _load_sql(path: Path, ref: DatasetRef) -> str:
    """Read, trim, type and pseudonymize one delivery into temp table `batch` (one statement)."""
    values, problems = [], []
    for column, duck_type in ref.suite.columns.items():
        text = f"nullif(trim({ident(ref.feed.columns[column])}), '')"
        base = duck_type.upper().split("(")[0]
        if column in ref.suite.pseudonymize:
            values.append(f"{pseudonym_sql(text)} as {ident(column)}")
            continue
        if base == "VARCHAR":
            values.append(f"{text} as {ident(column)}")
            continue
        typed = (
            f"case when regexp_full_match({text}, '[+-]?[0-9]+') then try_cast({text} as {duck_type}) end"
            if base in _INTEGER_TYPES
            else f"try_cast({text} as {duck_type})"
        )
        values.append(f"{typed} as {ident(column)}")
        problems.append(f"case when {text} is not null and ({typed}) is null then {literal(column)} end")
    errors = f"nullif(concat_ws('; ', {', '.join(problems)}), '')" if problems else "null::varchar"
    return (
        f"create or replace temp table batch as select {', '.join(values)}, "
        f"row_number() over () + 1 as _source_row, {errors} as _parse_errors "
        f"from read_csv({literal(str(path))}, all_varchar = true, header = true)"
    )


# --- checks ----------------------------------------------------------------------------------------


def _value(value: Any) -> str:
    return literal(value) if isinstance(value, str) else repr(value)


def _unexpected(kind: str, kwargs: dict[str, Any]) -> str | None:
    """A row-level condition for a column-map expectation: the rows that break it (NULLs never do,
    as in GX, except for the null expectations themselves)."""
    if "mostly" in kwargs:
        raise BaselineError("'mostly' has no plain-SQL version in the baseline yet")
    column = ident(kwargs["column"]) if "column" in kwargs else None
    if kind == "expect_column_values_to_be_null":
        return f"{column} is not null"
    if kind == "expect_column_values_to_not_be_null":
        return f"{column} is null"
    if kind == "expect_column_values_to_be_in_set":
        return f"{column} is not null and {column} not in ({', '.join(map(_value, kwargs['value_set']))})"
    if kind == "expect_column_values_to_be_between":
        outside = []
        if kwargs.get("min_value") is not None:
            outside.append(f"{column} {'<=' if kwargs.get('strict_min') else '<'} {_value(kwargs['min_value'])}")
        if kwargs.get("max_value") is not None:
            outside.append(f"{column} {'>=' if kwargs.get('strict_max') else '>'} {_value(kwargs['max_value'])}")
        return f"{column} is not null and ({' or '.join(outside)})"
    return None


def check_batch(con: duckdb.DuckDBPyConnection, suite: Suite) -> list[str]:
    """The notes of every expectation of `suite` that temp table `batch` breaks."""
    columns = [row[0] for row in con.execute("describe batch").fetchall()]
    counts, rules = ["count(*)"], []
    for expectation in suite.expectations:
        kind, kwargs = expectation["type"], expectation["kwargs"]
        if (condition := _unexpected(kind, kwargs)) is not None:
            rules.append((expectation, len(counts)))
            counts.append(f"count(*) filter (where {condition})")
    found = con.execute(f"select {', '.join(counts)} from batch").fetchone()
    rows, failed = found[0], []
    for expectation in suite.expectations:
        kind, kwargs, notes = expectation["type"], expectation["kwargs"], expectation["meta"]["notes"]
        if kind == "expect_table_columns_to_match_set":
            wanted = set(kwargs["column_set"])
            ok = wanted == set(columns) if kwargs.get("exact_match", True) else wanted <= set(columns)
        elif kind == "expect_table_row_count_to_be_between":
            ok = kwargs.get("min_value", 0) <= rows <= (kwargs.get("max_value") or rows)
        elif kind == "unexpected_rows_expectation":
            query = kwargs["unexpected_rows_query"].replace("{batch}", "batch")
            ok = con.execute(f"select count(*) from ({query})").fetchone()[0] == 0
        elif _unexpected(kind, kwargs) is not None:
            ok = found[next(index for rule, index in rules if rule is expectation)] == 0
        else:
            raise BaselineError(f"{suite.name}: no plain-SQL version of {kind} in the baseline")
        if not ok:
            failed.append(notes)
    return failed


def ingest(con: duckdb.DuckDBPyConnection, deliveries: Path, key: bytes, watch: Stopwatch) -> list[Submission]:
    registry = load_registry(PARTNERS_DIR, EXPECTATIONS_DIR)
    bind_link_key(con, key)
    con.execute(
        "create table submissions (submission_id integer, dataset varchar, source varchar, "
        "row_count bigint, accepted boolean)"
    )
    submissions = []
    for dataset in DATASETS:
        ref = registry.dataset(dataset, PARTNER)
        for path in delivered_files(deliveries, ref):
            with watch.section("ingest"):
                con.execute(_load_sql(path, ref))
            with watch.section("checks"):
                failed = check_batch(con, ref.suite)
            with watch.section("ingest"):
                number = len(submissions)
                con.execute(f"create table if not exists {dataset} as select *, 0 as _submission_id from batch limit 0")
                con.execute(f"insert into {dataset} select *, {number} from batch")
                rows = con.execute("select count(*) from batch").fetchone()[0]
                con.execute(
                    "insert into submissions values (?, ?, ?, ?, ?)", [number, dataset, path.name, rows, not failed]
                )
                con.execute("drop table batch")
            submissions.append(Submission(dataset, path, rows, not failed, failed))
    return submissions


# --- the indicator ----------------------------------------------------------------------------------


def _latest(table: str, key: list[str], where: str = "true") -> str:
    """The latest accepted, cleanly typed row of each key (later submission, then later source row)."""
    partition = ", ".join(f"landed.{column}" for column in key)
    return (
        f"select * exclude (_delivery_rank) from (select landed.*, row_number() over (partition by {partition} "
        "order by landed._submission_id desc, landed._source_row desc) as _delivery_rank "
        f"from {table} as landed join submissions on submissions.submission_id = landed._submission_id "
        f"where submissions.accepted and landed._parse_errors is null and {where}) where _delivery_rank = 1"
    )


def _flag(column: str, source: str) -> str:
    yes, no = FLAGS[column]
    flag = f"case {source}.{column} when 'Y' then true when 'N' then false end"
    return f"case when {flag} then {literal(yes)} when not {flag} then {literal(no)} end as {column}"


def _suppressed(cells: str, min_size: int) -> str:
    """Small-cell suppression, pass by pass as dbt_project/macros/suppress_small_cells.sql does it."""
    columns = "indicator_id, period, geography_level, geography, dimension, group_value, numerator, denominator, value"
    # the disclosure policy's primary rule (agenda.yml privacy): a small group, or a small count within one
    primary = (
        f"denominator < {min_size} or numerator between 1 and {min_size - 1} "
        f"or denominator - numerator between 1 and {min_size - 1}"
    )
    state = f"select {columns}, {primary} as is_suppressed from {cells}"
    within = "indicator_id, period, geography_level, geography, dimension"
    across = "indicator_id, period, geography_level, dimension, group_value"
    for partition, tie_breaker in [(within, "group_value"), (across, "geography")] * SUPPRESSION_ROUNDS:
        state = (
            f"select {columns}, is_suppressed or (suppressed_in_set = 1 and cells_in_set > 1 "
            "and not is_suppressed and published_size_rank = 1) as is_suppressed "
            "from (select in_set.*, "
            f"sum(case when is_suppressed then 1 else 0 end) over (partition by {partition}) as suppressed_in_set, "
            f"count(*) over (partition by {partition}) as cells_in_set, "
            f"row_number() over (partition by {partition} order by case when is_suppressed then 1 else 0 end, "
            f"denominator, {tie_breaker}) as published_size_rank from ({state}) as in_set)"
        )
    hidden = ", ".join(
        f"case when is_suppressed then null else {c} end as {c}" for c in ("numerator", "denominator", "value")
    )
    return (
        f"select indicator_id, period, geography_level, geography, dimension, group_value, {hidden}, "
        f"is_suppressed as suppressed from ({state})"
    )


def indicator_sql() -> str:
    """marts.indicator_values' rows of the grade-3 reading indicator."""
    settings = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "dbt_project.yml").read_text())["vars"]
    agenda = load_agenda(AGENDA_FILE)
    indicator = agenda.indicator(INDICATOR)
    schools = {school.code: school.name for school in load_schools(SCHOOLS_FILE)}
    keys = {
        ref.dataset_id: ref.suite.key
        for ref in load_registry(PARTNERS_DIR, EXPECTATIONS_DIR).datasets
        if ref.partner.id == PARTNER
    }
    breakdowns = [b.name for b in BREAKDOWNS if not b.geography and b.name in indicator.disaggregations]
    geographies = ["", ", school"] if "school" in indicator.disaggregations else [""]
    sets = ", ".join(
        f"(period{geography}{f', {column}' if column else ''})"
        for geography in geographies
        for column in ["", *breakdowns]
    )
    numbered = list(enumerate(breakdowns, 1))
    dimension = " ".join(f"when grouped_{i} = 0 then '{column}'" for i, column in numbered)
    group_value = " ".join(f"when grouped_{i} = 0 then {column}" for i, column in numbered)
    keep = "".join(f" and (grouped_{i} = 1 or {column} is not null)" for i, column in numbered)
    baseline_year, target_year = int(indicator.baseline.period[:4]), int(indicator.target.period[:4])
    baseline, target = f"{indicator.baseline.value!r}::double", f"{indicator.target.value!r}::double"
    trajectory = (
        f"round({baseline} + ({target} - {baseline}) "
        f"* cast(period_year - {baseline_year} as double) / nullif({target_year - baseline_year}, 0), 4)"
    )
    beyond = ">=" if indicator.higher_is_better else "<="
    return f"""
        with
        tested as (
            {_latest("assessments", keys["assessments"], "landed.subject = 'ELA'")}
        ),
        grade3 as (
            select student_id, school_year, school_id, performance_level >= 3 as is_proficient
            from tested where grade = 3
        ),
        enrolled as (
            {
        _latest(
            "enrollment",
            keys["enrollment"],
            "exists (select 1 from grade3 where grade3.student_id = landed.student_id "
            "and grade3.school_year = landed.school_year)",
        )
    }
        ),
        students as (
            select grade3.school_year as period, {_case("grade3.school_id", schools)} as school,
                   grade3.is_proficient,
                   {_case("enrolled.race_ethnicity", RACES)} as race_ethnicity,
                   {_case("enrolled.gender", GENDERS)} as gender,
                   {", ".join(_flag(column, "enrolled") for column in FLAGS)}
            from grade3 left join enrolled
                on grade3.student_id = enrolled.student_id and grade3.school_year = enrolled.school_year
        ),
        grouped as (
            select period, school, grouping(school) as school_grouped,
                   {"".join(f"{column}, grouping({column}) as grouped_{i}, " for i, column in numbered)}
                   count(case when is_proficient then 1 end) as numerator, count(*) as denominator
            from students
            group by grouping sets ({sets})
        ),
        cells as (
            select '{INDICATOR}' as indicator_id, period,
                   case when school_grouped = 0 then 'school' else 'community' end as geography_level,
                   case when school_grouped = 0 then school else {literal(settings["community_geography"])} end
                       as geography,
                   case {dimension} else 'all_students' end as dimension,
                   case {group_value} else 'All students' end as group_value,
                   numerator, denominator, round(cast(numerator as double) / nullif(denominator, 0), 4) as value
            from grouped
            where (school_grouped = 1 or school is not null){keep}
        ),
        suppressed as ({_suppressed("cells", agenda.privacy.min_cell_size)}),
        progress as (
            select *, cast(substring(period, 1, 4) as integer) as period_year from suppressed
        )
        select indicator_id, period, geography_level, geography, dimension, group_value,
               numerator, denominator, value, suppressed,
               {baseline} as baseline_value, {target} as target_value,
               case when not suppressed then round(value - {baseline}, 4) end as change_from_baseline,
               case when geography_level = 'community' and dimension = 'all_students' and not suppressed
                         and period_year >= {baseline_year}
                    then value {beyond} {trajectory} end as on_track
        from progress
    """


def run(deliveries: Path, work: Path, key: bytes, watch: Stopwatch) -> dict[str, Any]:
    """The whole pass in a new database under `work`; returns what it did and where the export is."""
    work.mkdir(parents=True, exist_ok=True)
    database, export = work / "baseline.duckdb", work / f"{INDICATOR}.parquet"
    database.unlink(missing_ok=True)
    with duckdb.connect(str(database)) as con:
        submissions = ingest(con, deliveries, key, watch)
        with watch.section("dbt"):
            con.execute(f"create table {INDICATOR} as {indicator_sql()}")
        with watch.section("publish"):
            con.execute(f"copy {INDICATOR} to {literal(str(export))} (format parquet)")
        cells = con.execute(f"select count(*), count(*) filter (where suppressed) from {INDICATOR}").fetchone()
    return {
        "submissions": len(submissions),
        "rows_landed": {dataset: sum(s.rows for s in submissions if s.dataset == dataset) for dataset in DATASETS},
        "quarantined": [f"{s.path.name}: {'; '.join(s.failed)}" for s in submissions if not s.accepted],
        "indicator_cells": cells[0],
        "suppressed_cells": cells[1],
        "export": str(export),
    }


def differences(pipeline_export: Path, baseline_export: Path, limit: int = 5) -> tuple[int, list[str]]:
    """Rows in one indicator export and not the other (both ways), and a few of them."""
    with duckdb.connect() as con:
        available = {
            row[0]
            for row in con.execute(f"describe select * from read_parquet({literal(str(pipeline_export))})").fetchall()
        }
        columns = ", ".join(column for column in INDICATOR_COLUMNS if column in available)

        def side(first: Path, second: Path, tag: str) -> Iterator[str]:
            query = (
                f"select {columns} from read_parquet({literal(str(first))}) except all "
                f"select {columns} from read_parquet({literal(str(second))})"
            )
            for row in con.execute(f"{query} order by all").fetchall():
                yield f"only in {tag}: {row}"

        rows = [
            *side(pipeline_export, baseline_export, "pipeline"),
            *side(baseline_export, pipeline_export, "baseline"),
        ]
    return len(rows), rows[:limit]
