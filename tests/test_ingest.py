"""Each delivery kind lands for real: rows typed, IDs pseudonymized, lineage kept, nothing doubled or lost."""

from __future__ import annotations

import csv
import hashlib
import hmac
import os
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import sqlalchemy as sa

from pipelines.core.home import PROJECT_ROOT, Home
from pipelines.core.migrations import migrate
from pipelines.core.registry import Registry
from pipelines.core.resources import BackboneResource
from pipelines.core.warehouse import connect
from pipelines.ingest import readers
from pipelines.ingest.assets import build_raw_asset
from pipelines.ingest.landing import land_all
from pipelines.ingest.pseudonym import pseudonym
from pipelines.quality.checks import build_expectations_check
from pipelines.sample.api import SampleCollegeApi
from pipelines.sample.stage import stage_round
from tests.conftest import LINK_KEY, bundled_partnership

HISTORY = PROJECT_ROOT / "sources" / "sample" / "history"


def _ingest(home: Home, dataset: str, *, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    ref = bundled_partnership().registry.dataset(dataset)
    return dg.materialize(
        [build_raw_asset(ref), build_expectations_check(ref)],
        resources={"backbone": BackboneResource(home=str(home.root))},
        raise_on_error=raise_on_error,
    )


def _query(home: Home, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _drop(home: Home, partner: str, source: Path, name: str | None = None) -> Path:
    inbox = home.inbox / partner
    inbox.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(source, inbox / (name or source.name)))


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_a_csv_drop_lands_typed_pseudonymized_rows_with_lineage(home: Home) -> None:
    source = HISTORY / "riverbend_isd" / "enrollment_2021-22.csv"
    expected = _csv_rows(source)
    _drop(home, "riverbend_isd", source)

    result = _ingest(home, "enrollment")

    assert result.success
    rows = _query(
        home,
        "select student_id, grade, birth_date, _partner, _source, _sha256, _source_row, "
        '_parse_errors from raw."riverbend_isd__enrollment" order by _source_row',
    )
    assert len(rows) == len(expected)
    first = rows[0]
    assert first[0] == pseudonym(expected[0]["State Student ID"], LINK_KEY.encode())
    assert first[1] == int(expected[0]["Grade Level"])
    assert first[2].isoformat() == expected[0]["Birth Date"]
    assert first[3:5] == ("riverbend_isd", "enrollment_2021-22.csv")
    assert first[6] == 2 and rows[-1][6] == len(expected) + 1  # spreadsheet rows: header is row 1
    assert all(row[7] is None for row in rows)
    assert not any(expected[0]["State Student ID"] in str(row) for row in rows)  # raw IDs never land
    status = _query(home, "select status, row_count from raw.submissions")
    assert status == [("accepted", len(expected))]
    assert not list((home.inbox / "riverbend_isd").iterdir())  # picked up ...
    assert (home.archive / "riverbend_isd" / f"{first[5]}.csv").read_bytes() == source.read_bytes()  # ... and kept


def test_an_instance_landed_with_text_pseudonyms_keeps_linking_its_students(home: Home) -> None:
    """Pseudonyms were once the HMAC's 64 hex characters: the next delivery converts the landed rows to
    today's UUIDs (the same HMAC's first half), so a student's old and new records still link, and the
    tables built from them are converted the same way."""
    source = HISTORY / "riverbend_isd" / "enrollment_2021-22.csv"
    student = _csv_rows(source)[0]["State Student ID"]
    old_pseudonym = hmac.new(LINK_KEY.encode(), student.encode(), hashlib.sha256).hexdigest()
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("create schema raw")
        con.execute('create table raw."riverbend_isd__enrollment" (student_id varchar, school_year varchar)')
        con.execute('insert into raw."riverbend_isd__enrollment" values (?, ?)', [old_pseudonym, "2020-21"])
        con.execute("create schema staging")
        con.execute("create table staging.stg_riverbend_isd__enrollment as select * from raw.riverbend_isd__enrollment")
        con.execute("create view staging.enrolled as select * from staging.stg_riverbend_isd__enrollment")
    _drop(home, "riverbend_isd", source)

    assert _ingest(home, "enrollment").success

    new_pseudonym = pseudonym(student, LINK_KEY.encode())
    rows = _query(
        home,
        'select school_year, _source from raw."riverbend_isd__enrollment" where student_id = ? order by school_year',
        [new_pseudonym],
    )
    assert rows == [("2020-21", None), ("2021-22", "enrollment_2021-22.csv")]
    # The run's schema migration converted the modelled copies too, and is recorded: it runs once.
    assert _query(home, "select student_id, school_year from staging.enrolled") == [(new_pseudonym, "2020-21")]
    assert _query(home, "select name from meta.schema_migrations where number = 5") == [
        ("student pseudonyms as UUIDs",)
    ]
    with duckdb.connect(str(home.warehouse)) as con:
        assert migrate(con) == []


def test_delivering_the_same_bytes_twice_is_a_no_op(home: Home) -> None:
    source = HISTORY / "riverbend_isd" / "enrollment_2021-22.csv"
    _drop(home, "riverbend_isd", source)
    _ingest(home, "enrollment")
    _drop(home, "riverbend_isd", source, name="enrollment_2021-22 (resent).csv")

    result = _ingest(home, "enrollment")

    assert result.success
    assert _query(home, "select count(*) from raw.submissions") == [(1,)]
    assert _query(home, 'select count(*) from raw."riverbend_isd__enrollment"') == [(len(_csv_rows(source)),)]


@pytest.mark.slow
def test_deliveries_of_one_run_land_in_the_order_they_came_and_the_same_bytes_once(home: Home) -> None:
    """Files of one run land two at a time: the later delivery must still be the later one, and a file
    sent twice under another name must land once."""
    source = HISTORY / "riverbend_isd" / "enrollment_2021-22.csv"
    dropped = [
        _drop(home, "riverbend_isd", source),
        _drop(home, "riverbend_isd", HISTORY / "riverbend_isd" / "enrollment_2022-23.csv"),
        _drop(home, "riverbend_isd", source, name="enrollment_2021-22 (resent).csv"),
    ]
    for minute, path in enumerate(dropped, start=1):
        os.utime(path, (60.0 * minute, 60.0 * minute))

    assert _ingest(home, "enrollment").success

    assert _query(home, "select source from raw.submissions order by received_at") == [
        ("enrollment_2021-22.csv",),
        ("enrollment_2022-23.csv",),
    ]
    assert _query(
        home,
        'select _source, min(_loaded_at) = max(_loaded_at) from raw."riverbend_isd__enrollment" '
        "group by _source order by min(_loaded_at)",
    ) == [("enrollment_2021-22.csv", True), ("enrollment_2022-23.csv", True)]
    assert not list((home.inbox / "riverbend_isd").iterdir())  # the resent copy is done with too


def test_deliveries_checked_in_one_run_are_judged_each_on_its_own_rows(home: Home, tmp_path: Path) -> None:
    """The files of one run are validated through one GX session: a flawed file is quarantined with
    its own row, and the clean files before and after it are accepted."""
    flawed = tmp_path / "enrollment_2022-23.csv"
    lines = (HISTORY / "riverbend_isd" / "enrollment_2022-23.csv").read_text().splitlines()
    lines[4] = lines[4].replace(",101,", ",999,", 1)  # spreadsheet row 5: an unknown school code
    flawed.write_text("\n".join(lines) + "\n")
    dropped = [
        _drop(home, "riverbend_isd", HISTORY / "riverbend_isd" / "enrollment_2021-22.csv"),
        _drop(home, "riverbend_isd", flawed),
        _drop(home, "riverbend_isd", HISTORY / "riverbend_isd" / "enrollment_2023-24.csv"),
    ]
    for minute, path in enumerate(dropped, start=1):
        os.utime(path, (60.0 * minute, 60.0 * minute))

    result = _ingest(home, "enrollment", raise_on_error=False)

    assert not result.get_asset_check_evaluations()[0].passed
    assert _query(home, "select source, status from raw.submissions order by received_at") == [
        ("enrollment_2021-22.csv", "accepted"),
        ("enrollment_2022-23.csv", "quarantined"),
        ("enrollment_2023-24.csv", "accepted"),
    ]
    assert _query(
        home,
        "select s.source, r.sample_values, r.sample_rows from quality.check_results r "
        "join raw.submissions s using (submission_id) where not r.success",
    ) == [("enrollment_2022-23.csv", '["999"]', "[5]")]


def test_landing_several_files_gives_the_database_its_threads_back(home: Home, registry: Registry) -> None:
    """Two files land at once on one DuckDB thread each; the setting is the database's, so it must
    come back afterwards, or everything else on that database would run on one core."""
    files = [HISTORY / "riverbend_isd" / f"enrollment_{year}.csv" for year in ("2021-22", "2022-23")]
    deliveries = [readers.Delivery(path, path.name, "csv") for path in files]
    with connect(home.warehouse) as con:
        con.execute("set threads = 2")
        landed = list(land_all(con, registry.dataset("enrollment"), deliveries, b"key", home.archive))
        assert [item.status for item in landed] == ["pending", "pending"]
        assert con.execute("select current_setting('threads')").fetchone() == (2,)


def test_a_run_that_crashes_midway_is_rerun_without_duplicates_or_losses(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _drop(home, "riverbend_isd", HISTORY / "riverbend_isd" / "enrollment_2021-22.csv")
    second = _drop(home, "riverbend_isd", HISTORY / "riverbend_isd" / "enrollment_2022-23.csv")
    first.touch()
    real_load = readers.load_text

    def crash_on_second(con, delivery, *args, **kwargs):
        if delivery.source == second.name:  # (it is read from its archive copy)
            raise RuntimeError("disk full")  # not a partner mistake: the run itself dies
        return real_load(con, delivery, *args, **kwargs)

    monkeypatch.setattr("pipelines.ingest.landing.load_text", crash_on_second)
    assert not _ingest(home, "enrollment", raise_on_error=False).success
    assert second.exists()  # not landed, so not removed from the inbox
    monkeypatch.setattr("pipelines.ingest.landing.load_text", real_load)

    assert _ingest(home, "enrollment").success

    expected = len(_csv_rows(HISTORY / "riverbend_isd" / "enrollment_2021-22.csv")) + len(
        _csv_rows(HISTORY / "riverbend_isd" / "enrollment_2022-23.csv")
    )
    assert _query(
        home, 'select count(*), count(distinct (student_id, school_year)) from raw."riverbend_isd__enrollment"'
    ) == [(expected, expected)]
    assert _query(home, "select count(*) from raw.submissions where status = 'accepted'") == [(2,)]


def test_an_excel_workbook_lands_with_real_dates(home: Home) -> None:
    source = sorted((HISTORY / "early_learning_coalition").glob("*.xlsx"))[0]
    _drop(home, "early_learning_coalition", source)

    assert _ingest(home, "kindergarten_readiness").success

    rows = _query(
        home,
        "select count(*), min(assessment_date), count(*) filter (where _parse_errors is not null) "
        'from raw."early_learning_coalition__kindergarten_readiness"',
    )
    count, first_date, bad = rows[0]
    assert count > 50 and bad == 0
    assert first_date.year >= 2021


def test_a_workbook_lands_cell_for_cell_under_its_excel_row_numbers(home: Home, tmp_path: Path) -> None:
    import datetime as dt

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Readiness"
    sheet["A2"] = "Student State ID"  # row 1 left blank above the header
    for column, name in enumerate(
        ["Year", "Receiving School", "Assessed On", "Total Score", "Readiness", "Pre-K Program"], start=2
    ):
        sheet.cell(row=2, column=column, value=name)
    for row, values in {
        3: ["S1", "2024-25", 101, dt.date(2024, 10, 2), 99.0, "R", "SP"],
        # row 4 blank; text with a comma, quotes and a line break; a score that is no whole number
        5: ["S2", " 2024-25 ", "102", dt.datetime(2024, 10, 3), 73.5, "N", 'Head Start, "HS"\nnote'],
    }.items():
        for column, value in enumerate(values, start=1):
            sheet.cell(row=row, column=column, value=value)
    workbook = tmp_path / "kindergarten_readiness_2024-25.xlsx"
    book.save(workbook)
    _drop(home, "early_learning_coalition", workbook)

    _ingest(home, "kindergarten_readiness", raise_on_error=False)

    rows = _query(
        home,
        "select _source_row, school_year, school_id, assessment_date, readiness_score, "
        "readiness_level, prek_program, _parse_errors "
        'from raw."early_learning_coalition__kindergarten_readiness" order by _source_row',
    )
    assert rows == [
        (3, "2024-25", "101", dt.date(2024, 10, 2), 99, "R", "SP", None),
        (
            5,
            "2024-25",
            "102",
            dt.date(2024, 10, 3),
            None,
            "N",
            'Head Start, "HS"\nnote',
            "readiness_score: '73.5' is not a whole number",
        ),
    ]


def test_the_college_api_is_pulled_page_by_page_with_its_token(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    stage_round(HISTORY, home.root)
    with SampleCollegeApi(store_dir=home.sample / "api", token="s3cret") as api:
        monkeypatch.setenv("RIVERBEND_COLLEGE_API_URL", api.url)
        monkeypatch.setenv("RIVERBEND_COLLEGE_API_TOKEN", "s3cret")
        assert _ingest(home, "postsecondary_enrollment").success
        again = _ingest(home, "postsecondary_enrollment")  # unchanged source: same bytes, no new submission

        monkeypatch.setenv("RIVERBEND_COLLEGE_API_TOKEN", "wrong")
        refused = _ingest(home, "completion", raise_on_error=False)

    import json

    records = json.loads((home.sample / "api" / "enrollments.json").read_text())
    assert len(records) > 200  # more than one page of 200
    assert _query(home, 'select count(*) from raw."riverbend_college__postsecondary_enrollment"') == [(len(records),)]
    assert again.success and _query(home, "select count(*) from raw.submissions") == [(1,)]
    assert not refused.success
    failure = next(event for event in refused.all_events if event.is_step_failure)
    assert "401" in failure.step_failure_data.error.message


def _wage_rows() -> list[dict[str, str]]:
    return _csv_rows(HISTORY / "workforce_board" / "ui_wage_records.csv")


def test_the_workforce_database_is_pulled_from_sqlite(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    stage_round(HISTORY, home.root)
    monkeypatch.setenv("WORKFORCE_DB_URL", f"sqlite:///{home.sample / 'workforce_board.sqlite'}")

    assert _ingest(home, "employment").success

    assert _query(home, 'select count(*), count(distinct student_id) > 10 from raw."workforce_board__employment"') == [
        (len(_wage_rows()), True)
    ]


def test_the_workforce_database_is_pulled_from_postgresql(
    home: Home, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _wage_rows()
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "create table ui_wage_records (person_state_id text, wage_quarter text, was_employed text, "
                "total_wages numeric(12,2), naics_sector text, primary key (person_state_id, wage_quarter))"
            )
        )
        conn.execute(
            sa.text(
                "insert into ui_wage_records values (:person_state_id, :wage_quarter, "
                ":was_employed, nullif(:total_wages, '')::numeric, nullif(:naics_sector, ''))"
            ),
            rows,
        )
    engine.dispose()
    monkeypatch.setenv("WORKFORCE_DB_URL", postgres_url)

    assert _ingest(home, "employment").success

    total = sum(float(row["total_wages"] or 0) for row in rows)
    landed = _query(home, 'select count(*), sum(quarterly_wages) from raw."workforce_board__employment"')
    assert landed[0][0] == len(rows)
    assert float(landed[0][1]) == pytest.approx(total)


def test_a_missing_database_setting_fails_the_run_with_a_clear_message(home: Home) -> None:
    result = _ingest(home, "employment", raise_on_error=False)

    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    assert "WORKFORCE_DB_URL" in failure.step_failure_data.error.message
