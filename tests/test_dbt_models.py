"""The dbt project on a small hand-made warehouse: staging keeps only accepted, cleanly typed rows and
the latest delivery of each record; indicator_values computes grade-3 reading proficiency by race
with small-cell and complementary suppression.

The raw tables are built here from the dataset spec (typed canonical columns + lineage), so the models
are tested without running ingest; the agenda (schema `config`) is a one-indicator agenda written with
`pipelines.core.agenda.write_agenda`, which shows that the agenda decides what is published.
dbt runs as a command from .venv-dbt (pipelines.models.project.run_dbt). tests/test_indicators.py runs the same
project on the real bundled sample.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.core.agenda import TABLES as CONFIG_TABLES
from pipelines.core.agenda import Agenda, load_agenda, write_agenda
from pipelines.core.home import AGENDA_FILE, PROJECT_ROOT
from pipelines.core.partnership import Partnership
from pipelines.core.registry import Registry
from pipelines.models.dbt_vars import project_dbt_vars
from pipelines.models.project import run_dbt

pytestmark = pytest.mark.slow  # every test builds dbt models (tens of seconds each)

DBT_PROJECT = PROJECT_ROOT / "dbt_project"

LINEAGE = {
    "_partner": "VARCHAR",
    "_submission_id": "VARCHAR",
    "_source": "VARCHAR",
    "_sha256": "VARCHAR",
    "_loaded_at": "TIMESTAMP",
    "_source_row": "BIGINT",
    "_parse_errors": "VARCHAR",
}
DEMOGRAPHICS = {
    "race_ethnicity": "VARCHAR",
    "gender": "VARCHAR",
    "econ_disadvantaged": "VARCHAR",
    "english_learner": "VARCHAR",
    "special_education": "VARCHAR",
}
RAW_TABLES: dict[str, dict[str, str]] = {
    "riverbend_isd__enrollment": {
        "student_id": "VARCHAR",
        "school_year": "VARCHAR",
        "school_id": "VARCHAR",
        "grade": "INTEGER",
        **DEMOGRAPHICS,
        "birth_date": "DATE",
    },
    "riverbend_isd__assessments": {
        "student_id": "VARCHAR",
        "school_year": "VARCHAR",
        "school_id": "VARCHAR",
        "grade": "INTEGER",
        "subject": "VARCHAR",
        "scale_score": "INTEGER",
        "performance_level": "INTEGER",
    },
    "riverbend_isd__graduation": {
        "student_id": "VARCHAR",
        "cohort_year": "INTEGER",
        "school_id": "VARCHAR",
        "outcome": "VARCHAR",
        "graduation_date": "DATE",
    },
    "early_learning_coalition__kindergarten_readiness": {
        "student_id": "VARCHAR",
        "school_year": "VARCHAR",
        "school_id": "VARCHAR",
        "assessment_date": "DATE",
        "readiness_score": "INTEGER",
        "readiness_level": "VARCHAR",
        "prek_program": "VARCHAR",
    },
    "riverbend_college__postsecondary_enrollment": {
        "student_id": "VARCHAR",
        "term": "VARCHAR",
        "enrollment_date": "DATE",
        "enrollment_status": "VARCHAR",
        "program_level": "VARCHAR",
    },
    "riverbend_college__completion": {
        "student_id": "VARCHAR",
        "award_date": "DATE",
        "award_level": "VARCHAR",
        "program_code": "VARCHAR",
    },
    "workforce_board__employment": {
        "student_id": "VARCHAR",
        "quarter": "VARCHAR",
        "employed": "VARCHAR",
        "quarterly_wages": "DECIMAL(12,2)",
        "industry_code": "VARCHAR",
    },
    "bright_futures_mentoring__program_participation": {
        "student_id": "VARCHAR",
        "program_id": "VARCHAR",
        "school_year": "VARCHAR",
        "enrolled_date": "DATE",
        "sessions_offered": "INTEGER",
        "sessions_attended": "INTEGER",
        "exit_date": "DATE",
    },
}
SUBMISSIONS = {
    "submission_id": "VARCHAR",
    "partner": "VARCHAR",
    "dataset": "VARCHAR",
    "source": "VARCHAR",
    "sha256": "VARCHAR",
    "received_at": "TIMESTAMP",
    "row_count": "BIGINT",
    "status": "VARCHAR",
    "status_reason": "VARCHAR",
    "checked_at": "TIMESTAMP",
}
T0 = dt.datetime(2024, 6, 1, 9, 0)
YEAR = "2023-24"

# Grade-3 ELA test takers of 2023-24 as the final, accepted data says:
# (race code, how many, how many proficient). Black/African American (4) is under 10 -> suppressed,
# and as the only small group it makes the next smallest, Asian (10), suppressed too.
GROUPS = [("HI", 12, 9), ("WH", 11, 4), ("AS", 10, 7), ("BL", 4, 1)]

# Only grade3_reading, only by race: no other indicator, dimension or school geography is published.
AGENDA = Agenda.model_validate(
    {
        "partnership": "Test partnership",
        "privacy": {"min_cell_size": 10},
        "indicators": [
            {
                "id": "grade3_reading",
                "title": "Third-grade reading",
                "description": "Grade-3 ELA proficiency.",
                "population": "Third graders",
                "numerator": "Proficient test takers.",
                "numerator_column": "is_proficient",
                "denominator": "Test takers.",
                "unit": "percent",
                "higher_is_better": True,
                "baseline": {"period": "2022-23", "value": 0.5},
                "target": {"period": "2030-31", "value": 0.7},
                "disaggregations": ["race_ethnicity"],
                "sources": ["riverbend_isd.assessments", "riverbend_isd.enrollment"],
            }
        ],
    }
)


class Warehouse:
    """Builds raw.* rows delivery by delivery, each a raw.submissions record plus its rows."""

    def __init__(self, path: Path, create: bool = True) -> None:
        self.con = duckdb.connect(str(path))
        if create:
            self.con.execute("create schema raw")
            for table, columns in {**RAW_TABLES, "submissions": {}}.items():
                cols = SUBMISSIONS if table == "submissions" else {**columns, **LINEAGE}
                self.con.execute(f"create table raw.{table} ({', '.join(f'{n} {t}' for n, t in cols.items())})")
        self.loaded = self.con.execute("select count(*) from raw.submissions").fetchone()[0]

    def deliver(
        self, table: str, rows: list[dict], status: str = "accepted", parse_errors: dict[int, str] | None = None
    ) -> str:
        partner, dataset = table.split("__")
        self.loaded += 1
        submission_id = f"{table}:{self.loaded:016x}"
        loaded_at = T0 + dt.timedelta(days=self.loaded)
        self.con.execute(
            "insert into raw.submissions values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                submission_id,
                partner,
                dataset,
                f"{dataset}_{self.loaded}.csv",
                f"{self.loaded:064x}",
                loaded_at,
                len(rows),
                status,
                None if status == "accepted" else "failed its checks",
                loaded_at,
            ],
        )
        columns = list(RAW_TABLES[table])
        for number, row in enumerate(rows, start=1):
            lineage = [
                partner,
                submission_id,
                f"{dataset}_{self.loaded}.csv",
                f"{self.loaded:064x}",
                loaded_at,
                number,
                (parse_errors or {}).get(number),
            ]
            self.con.execute(
                f"insert into raw.{table} values ({', '.join('?' * (len(columns) + 7))})",
                [row.get(column) for column in columns] + lineage,
            )
        return submission_id


def _student(student_id: str, race: str, **extra) -> dict:
    return {
        "student_id": student_id,
        "school_year": YEAR,
        "school_id": "101",
        "grade": 3,
        "race_ethnicity": race,
        "gender": "F",
        "econ_disadvantaged": "Y",
        "english_learner": "N",
        "special_education": "N",
        "birth_date": dt.date(2015, 3, 1),
        **extra,
    }


def _score(student_id: str, proficient: bool, **extra) -> dict:
    return {
        "student_id": student_id,
        "school_year": YEAR,
        "school_id": "101",
        "grade": 3,
        "subject": "ELA",
        "scale_score": 320 if proficient else 240,
        "performance_level": 3 if proficient else 2,
        **extra,
    }


def _build_raw(path: Path) -> None:
    wh = Warehouse(path)
    enrollment, scores = [], []
    for race, size, proficient in GROUPS:
        for n in range(size):
            student = f"{race}{n:02d}"
            enrollment.append(_student(student, race))
            scores.append(_score(student, n < proficient))
    enrollment.append(_student("BL99", "BL"))  # has a score row that failed to type (below)
    wh.deliver("riverbend_isd__enrollment", enrollment)

    # First assessments delivery: HI08 (proficient in the end) is wrong here: level 2.
    first = [row if row["student_id"] != "HI08" else _score("HI08", False) for row in scores]
    first += [
        _score("BL99", False, scale_score=None, performance_level=None),  # 'N/A' in the file: parse error
        _score("G4X", True, grade=4),  # grade 4: not in the indicator
        _score("HI00", False, subject="MATH"),  # math: not in the indicator
    ]
    wh.deliver(
        "riverbend_isd__assessments",
        first,
        parse_errors={len(first) - 2: "performance_level: 'N/A' is not a whole number"},
    )
    # A quarantined delivery, later than the first: six new test takers and everyone failing.
    wh.deliver(
        "riverbend_isd__assessments",
        [_score(row["student_id"], False) for row in scores] + [_score(f"WX{n}", True) for n in range(6)],
        status="quarantined",
    )
    wh.deliver("riverbend_isd__assessments", [_score("WX9", True)], status="pending")
    # The district resends HI08, corrected: the latest accepted delivery wins.
    wh.deliver("riverbend_isd__assessments", [_score("HI08", True)])

    # Every other dataset: a couple of accepted rows, so each staging model builds and is tested.
    wh.deliver(
        "riverbend_isd__graduation",
        [
            {
                "student_id": "G1",
                "cohort_year": 2024,
                "school_id": "301",
                "outcome": "G",
                "graduation_date": dt.date(2024, 6, 1),
            },
            {"student_id": "G2", "cohort_year": 2024, "school_id": "302", "outcome": "D"},
        ],
    )
    wh.deliver(
        "early_learning_coalition__kindergarten_readiness",
        [
            {
                "student_id": "K1",
                "school_year": "2023-24",
                "school_id": "102",
                "assessment_date": dt.date(2023, 9, 5),
                "readiness_score": 81,
                "readiness_level": "R",
                "prek_program": "HS",
            },
            {
                "student_id": "K2",
                "school_year": "2023-24",
                "school_id": "103",
                "assessment_date": dt.date(2023, 9, 6),
                "readiness_score": 40,
                "readiness_level": "N",
                "prek_program": "NO",
            },
        ],
    )
    wh.deliver(
        "riverbend_college__postsecondary_enrollment",
        [
            {
                "student_id": "C1",
                "term": "2024FA",
                "enrollment_date": dt.date(2024, 8, 20),
                "enrollment_status": "FT",
                "program_level": "ASSOC",
            }
        ],
    )
    wh.deliver(
        "riverbend_college__completion",
        [{"student_id": "C1", "award_date": dt.date(2026, 5, 10), "award_level": "ASSOC", "program_code": "11.0701"}],
    )
    wh.deliver(
        "workforce_board__employment",
        [
            {
                "student_id": "W1",
                "quarter": "2025Q1",
                "employed": "Y",
                "quarterly_wages": 9120.5,
                "industry_code": "62",
            },
            {"student_id": "W2", "quarter": "2025Q1", "employed": "N", "quarterly_wages": 0},
        ],
    )
    wh.deliver(
        "bright_futures_mentoring__program_participation",
        [
            {
                "student_id": "M1",
                "program_id": "BFM-READ",
                "school_year": "2023-24",
                "enrolled_date": dt.date(2023, 9, 12),
                "sessions_offered": 30,
                "sessions_attended": 24,
            }
        ],
    )
    write_agenda(wh.con, AGENDA)
    wh.con.close()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("dbt")
    path = tmp / "warehouse.duckdb"
    _build_raw(path)
    with _env(BACKBONE_WAREHOUSE=str(path)):
        _dbt_build(tmp)
    yield path


@contextmanager
def _env(**values: str) -> Iterator[None]:
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _dbt_build(tmp: Path, *args: str, **options: Any) -> None:
    """`dbt build` into `tmp`; `options` go to run_dbt (dbt_vars, project_dir)."""
    done = run_dbt(
        ["build", "--target-path", str(tmp / "target"), "--log-path", str(tmp / "logs"), "--quiet", *args], **options
    )
    results = tmp / "target" / "run_results.json"
    failed = (
        [
            f"{r['unique_id']}: {r['status']} {r['message']}"
            for r in json.loads(results.read_text())["results"]
            if r["status"] not in ("success", "pass")
        ]
        if results.exists()
        else []
    )
    assert done.returncode == 0 and not failed, f"dbt build failed: {failed or (done.stdout + done.stderr)[-3000:]}"


def _query(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path)) as con:
        return con.execute(sql).fetchall()


def test_models_land_in_the_layer_schemas(warehouse: Path) -> None:
    tables = set(
        _query(
            warehouse,
            "select table_schema, table_name, table_type from information_schema.tables "
            "where table_schema in ('staging', 'intermediate', 'marts')",
        )
    )
    assert ("marts", "indicator_values", "BASE TABLE") in tables
    assert ("intermediate", "int_grade3_reading__students", "BASE TABLE") in tables
    assert {name for schema, name, kind in tables if schema == "staging" and kind == "BASE TABLE"} == {
        f"stg_{table}" for table in RAW_TABLES
    } | {f"stg_config__{table}" for table in CONFIG_TABLES}


INDICATOR_SQL = (
    "select indicator_id, period, geography_level, geography, dimension, group_value, numerator, "
    "denominator, value, suppressed from marts.indicator_values"
)
EXPECTED_CELLS = {  # (dimension, group_value) -> (numerator, denominator, value, suppressed)
    ("all_students", "All students"): (21, 37, 0.5676, False),
    ("race_ethnicity", "Hispanic/Latino"): (None, None, None, True),  # 9 of 12 proficient: 9 is under 10
    ("race_ethnicity", "White"): (None, None, None, True),  # 4 of 11 proficient
    ("race_ethnicity", "Asian"): (None, None, None, True),  # complementary suppression
    ("race_ethnicity", "Black/African American"): (None, None, None, True),  # under 10: no count shown
}


def _cells(rows: list[tuple]) -> dict[tuple, tuple]:
    assert {tuple(row[:4]) for row in rows} == {("grade3_reading", YEAR, "community", "Riverbend")}
    return {tuple(row[4:6]): tuple(row[6:]) for row in rows}


def test_grade3_reading_by_race_with_small_cell_and_complementary_suppression(warehouse: Path) -> None:
    assert _cells(_query(warehouse, INDICATOR_SQL)) == EXPECTED_CELLS


NEW_INDICATOR = """
  - id: grade3_reading_again
    title: Third-grade reading, counted again
    population: Third graders
    description: The grade-3 reading indicator under another name.
    numerator: Grade-3 students scoring proficient on the spring ELA test.
    numerator_column: is_proficient
    denominator: Grade-3 students who took the spring ELA state test.
    unit: percent
    higher_is_better: true
    baseline: {period: "2022-23", value: 0.5}
    target: {period: "2030-31", value: 0.7}
    disaggregations: [race_ethnicity, school]
    sources: [riverbend_isd.assessments, riverbend_isd.enrollment]
"""


def test_a_new_agenda_indicator_is_published_from_its_entry_and_its_intermediate_model(
    registry: Registry, tmp_path: Path
) -> None:
    """An indicator whose data exists takes an agenda.yml entry and an int_<id>__students model: here
    'grade3_reading_again', counted exactly like grade3_reading. indicator_values.sql is not touched."""
    agenda = tmp_path / "agenda.yml"
    agenda.write_text(
        AGENDA_FILE.read_text(encoding="utf-8").replace("\nprograms:", NEW_INDICATOR + "\nprograms:"), encoding="utf-8"
    )
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    (project / "models" / "intermediate" / "int_grade3_reading_again__students.sql").write_text(
        "select * from {{ ref('int_grade3_reading__students') }}\n", encoding="utf-8"
    )
    path = tmp_path / "warehouse.duckdb"
    _build_raw(path)
    changed = load_agenda(agenda)
    with duckdb.connect(str(path)) as con:
        write_agenda(con, changed)

    with _env(BACKBONE_WAREHOUSE=str(path)):
        _dbt_build(
            tmp_path,
            "--select",
            "+indicator_values",
            dbt_vars=project_dbt_vars(Partnership(registry, changed)),
            project_dir=project,
        )

    published = _query(
        path,
        "select indicator_id, period, geography_level, geography, dimension, group_value, "
        "numerator, denominator, value, suppressed from marts.indicator_values "
        "where dimension in ('all_students', 'race_ethnicity')",
    )
    by_indicator = {
        name: {row[1:] for row in published if row[0] == name} for name in ("grade3_reading", "grade3_reading_again")
    }
    assert by_indicator["grade3_reading_again"] == by_indicator["grade3_reading"]
    assert {row[2] for row in published if row[0] == "grade3_reading_again"} == {"community", "school"}
    assert (project / "models" / "marts" / "indicator_values.sql").read_bytes() == (
        DBT_PROJECT / "models" / "marts" / "indicator_values.sql"
    ).read_bytes()


def test_staging_keeps_accepted_clean_rows_and_the_latest_resubmission(warehouse: Path) -> None:
    scores = dict(
        _query(
            warehouse,
            "select student_id, is_proficient from staging.stg_riverbend_isd__assessments "
            "where subject_code = 'ELA' and grade = 3",
        )
    )
    assert len(scores) == 37
    assert scores["HI08"] is True  # the corrected resubmission wins
    assert not any(student.startswith("WX") for student in scores)  # quarantined / pending never pass
    assert "BL99" not in scores  # a row with a parse error is left out
    assert scores["HI00"] is True and scores["WH10"] is False  # not the quarantined values
    lineage = _query(
        warehouse,
        "select submission_id, source_row from staging.stg_riverbend_isd__assessments "
        "where student_id = 'HI08' and subject_code = 'ELA'",
    )
    assert lineage == [("riverbend_isd__assessments:0000000000000005", 1)]


def test_codes_become_analyst_friendly_values(warehouse: Path) -> None:
    enrollment = _query(
        warehouse,
        "select race_ethnicity_code, race_ethnicity, gender, is_econ_disadvantaged, "
        "is_english_learner, school_name, school_year, school_year_start "
        "from intermediate.int_students__demographics where student_id = 'HI00'",
    )
    assert enrollment == [("HI", "Hispanic/Latino", "Female", True, False, "Riverside Elementary", YEAR, 2023)]
    employment = dict(_query(warehouse, "select student_id, industry from staging.stg_workforce_board__employment"))
    assert employment == {"W1": "Health Care and Social Assistance", "W2": None}
    participation = _query(
        warehouse,
        "select program_name, attendance_rate from staging.stg_bright_futures_mentoring__program_participation",
    )
    assert participation == [("Reading Buddies", 0.8)]


def test_a_required_column_left_empty_fails_its_models_not_null_check(warehouse: Path, tmp_path: Path) -> None:
    """Each model's required columns are checked in one test, which names every column found empty."""
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        emptied = con.execute(
            "update staging.stg_riverbend_isd__assessments set school_name = null, grade = null "
            "where student_id in ('HI00', 'HI01')"
        ).fetchone()[0]
    done = run_dbt(
        [
            "test",
            "--select",
            "stg_riverbend_isd__assessments,test_name:not_null_columns",
            "--store-failures",
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
        ],
        env={"BACKBONE_WAREHOUSE": str(copy)},
    )
    assert done.returncode == 1 and "Got 2 results" in done.stdout
    failures = _query(copy, "select table_name from information_schema.tables where table_schema = 'dbt_test__audit'")
    assert _query(copy, f"select column_name, null_rows from dbt_test__audit.{failures[0][0]} order by all") == [
        ("grade", emptied),
        ("school_name", emptied),
    ]


def test_an_incremental_build_takes_new_deliveries_as_a_full_rebuild_would(tmp_path: Path) -> None:
    """Staging and the test takers are incremental: a second build replaces only the keys (staging) and
    student-years (test takers) that newly accepted deliveries touch, and ends exactly where a full
    rebuild ends, also when an older delivery is accepted late, an enrollment record changes, or a
    school year loses its last test taker."""
    path = tmp_path / "warehouse.duckdb"
    _build_raw(path)
    wh = Warehouse(path, create=False)
    # Held back (pending) at the first build: an older delivery saying HI08 is not proficient.
    late = wh.deliver("riverbend_isd__assessments", [_score("HI08", False), _score("NEW1", True)], status="pending")
    wh.con.execute("update raw.submissions set received_at = ? where submission_id = ?", [T0, late])
    wh.con.execute("update raw.riverbend_isd__assessments set _loaded_at = ? where _submission_id = ?", [T0, late])
    wh.deliver("riverbend_isd__assessments", [_score("OLD1", True, school_year="2022-23")])  # a year's only taker
    wh.con.close()
    this_year = f"{INDICATOR_SQL} where period = '{YEAR}'"
    staged = "select * from staging.stg_riverbend_isd__assessments order by student_id, school_year, subject_code"
    takers = (
        "select * exclude (assessments_accepted_through, enrollment_accepted_through) "
        "from intermediate.int_grade3_reading__students order by student_id, period"
    )
    with _env(BACKBONE_WAREHOUSE=str(path)):
        _dbt_build(tmp_path)
        assert _cells(_query(path, this_year))[("all_students", "All students")] == (21, 37, 0.5676, False)
        assert _query(
            path, "select distinct period from intermediate.int_grade3_reading__students order by period"
        ) == [("2022-23",), (YEAR,)]

        wh = Warehouse(path, create=False)
        wh.deliver("riverbend_isd__assessments", [_score("HI00", False)])  # a correction: HI00 not proficient
        wh.deliver("riverbend_isd__assessments", [_score("OLD1", True, school_year="2022-23", grade=4)])
        wh.con.execute(
            "update raw.submissions set status = 'accepted', checked_at = ? where submission_id = ?",
            [dt.datetime.now(), late],
        )  # accepted late: its NEW1 counts, its older HI08 row does not
        wh.con.close()
        _dbt_build(tmp_path)
        for model, incremental_sql in [
            ("staging/stg_riverbend_isd__assessments", "contested_keys.student_id = "),
            ("intermediate/int_grade3_reading__students", "changed as ("),
        ]:
            assert incremental_sql in (tmp_path / f"target/compiled/backbone/models/{model}.sql").read_text()
            assert "delete from" in (tmp_path / f"target/run/backbone/models/{model}.sql").read_text()
        scores = {
            row[0]: row
            for row in _query(
                path,
                "select student_id, is_proficient, submission_id "
                "from staging.stg_riverbend_isd__assessments "
                "where subject_code = 'ELA' and grade = 3",
            )
        }
        assert scores["HI00"][1] is False and scores["HI08"][1] is True and scores["NEW1"][1] is True
        assert scores["HI08"][2] == "riverbend_isd__assessments:0000000000000005"
        assert _cells(_query(path, this_year))[("all_students", "All students")] == (21, 38, 0.5526, False)
        assert _query(path, "select distinct period from intermediate.int_grade3_reading__students") == [(YEAR,)]

        wh = Warehouse(path, create=False)
        wh.deliver("riverbend_isd__enrollment", [_student("HI01", "WH")])  # only HI01's race is corrected
        wh.con.close()
        _dbt_build(tmp_path)
        # HI01 counts as White (the published cell is hidden: 1 to 9 of its students are proficient)
        white = "select count(*) from intermediate.int_grade3_reading__students where race_ethnicity = 'White'"
        assert _query(path, white) == [(12,)]
        incremental, incremental_takers = _query(path, staged), _query(path, takers)

        _dbt_build(
            tmp_path,
            "--full-refresh",
            "--select",
            "stg_riverbend_isd__assessments",
            "stg_riverbend_isd__enrollment",
            "int_grade3_reading__students",
        )
    assert _query(path, staged) == incremental
    assert _query(path, takers) == incremental_takers


def test_the_same_models_build_on_postgres(warehouse: Path, postgres_url: str, tmp_path: Path) -> None:
    """The postgres target: the same raw rows copied into PostgreSQL give the same published cells."""
    import sqlalchemy as sa

    url = sa.make_url(postgres_url)
    engine = sa.create_engine(url)
    with duckdb.connect(str(warehouse)) as source, engine.begin() as target:
        target.execute(sa.text("create schema raw"))
        target.execute(sa.text("create schema config"))
        for table, columns in CONFIG_TABLES.items():
            ddl = ", ".join(
                f"{name} {kind.replace('VARCHAR', 'TEXT').replace('DOUBLE', 'DOUBLE PRECISION')}"
                for name, kind in columns.items()
            )
            target.execute(sa.text(f"create table config.{table} ({ddl})"))
            rows = source.execute(f"select {', '.join(columns)} from config.{table}").fetchall()
            if rows:
                target.exec_driver_sql(f"insert into config.{table} values ({', '.join(['%s'] * len(columns))})", rows)
        for table in [*RAW_TABLES, "submissions"]:
            columns = SUBMISSIONS if table == "submissions" else {**RAW_TABLES[table], **LINEAGE}
            ddl = ", ".join(f"{name} {kind.replace('VARCHAR', 'TEXT')}" for name, kind in columns.items())
            target.execute(sa.text(f"create table raw.{table} ({ddl})"))
            rows = source.execute(f"select {', '.join(columns)} from raw.{table}").fetchall()
            target.exec_driver_sql(
                f"insert into raw.{table} ({', '.join(columns)}) values ({', '.join(['%s'] * len(columns))})", rows
            )
    env = {
        "BACKBONE_PG_HOST": url.host or "127.0.0.1",
        "BACKBONE_PG_PORT": str(url.port or 5432),
        "BACKBONE_PG_USER": url.username or "postgres",
        "BACKBONE_PG_PASSWORD": url.password or "",
        "BACKBONE_PG_DBNAME": url.database,
    }
    with _env(**env):
        # Models and the unit test; the data tests already ran on DuckDB (keeps the suite fast).
        _dbt_build(tmp_path, "--target", "postgres", "--exclude-resource-type", "test")
        # Again: the staging models' incremental SQL on PostgreSQL (nothing new, nothing changes).
        _dbt_build(
            tmp_path, "--target", "postgres", "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"
        )
    with engine.connect() as con:
        assert _cells([tuple(row) for row in con.execute(sa.text(INDICATOR_SQL))]) == EXPECTED_CELLS
        latest = con.execute(
            sa.text(
                "select submission_id from staging.stg_riverbend_isd__assessments "
                "where student_id = 'HI08' and subject_code = 'ELA'"
            )
        ).scalar_one()
    engine.dispose()
    assert latest == "riverbend_isd__assessments:0000000000000005"
