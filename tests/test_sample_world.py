"""The sample partnership: generated deterministically, bundled exactly as generated, consistent across
partners and clean except for the planted flaws; its college API and staging act like real systems."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sqlite3
from collections import Counter
from pathlib import Path

import httpx
import openpyxl

from pipelines.core.home import PROJECT_ROOT
from pipelines.sample.api import SampleCollegeApi
from pipelines.sample.stage import stage_round
from pipelines.sample.world import FIXED_FILE, FLAWED_FILE, generate

SAMPLE = PROJECT_ROOT / "sources" / "sample"
RACES, SCHOOLS = (
    set(["AI", "AS", "BL", "HI", "PI", "WH", "MR"]),
    {"101", "102", "103", "104", "201", "202", "301", "302"},
)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _files(root: Path) -> list[str]:
    return sorted(
        str(path.relative_to(root)) for path in root.rglob("*") if path.is_file() and path.name != "README.md"
    )


def _xlsx_values(path: Path) -> list[tuple]:
    workbook = openpyxl.load_workbook(path, read_only=True)
    try:
        return [tuple(row) for row in workbook["Readiness"].iter_rows(values_only=True)]
    finally:
        workbook.close()


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_data(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", students_per_grade=20, seed=7)
    second = generate(tmp_path / "b", students_per_grade=20, seed=7)
    generate(tmp_path / "c", students_per_grade=20, seed=8)

    assert first == second and _files(tmp_path / "a") == _files(tmp_path / "b")
    for name in _files(tmp_path / "a"):  # workbooks too: no save times baked in
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    enrollment = "history/riverbend_isd/enrollment_2021-22.csv"
    assert (tmp_path / "a" / enrollment).read_bytes() != (tmp_path / "c" / enrollment).read_bytes()


def test_the_bundled_sample_is_exactly_a_fresh_generation(tmp_path: Path) -> None:
    generate(tmp_path)

    assert _files(SAMPLE) == _files(tmp_path)
    for name in _files(SAMPLE):
        bundled, fresh = SAMPLE / name, tmp_path / name
        if name.endswith(".xlsx"):
            assert _xlsx_values(bundled) == _xlsx_values(fresh), name
        elif name.endswith(".json"):
            assert json.loads(bundled.read_text()) == json.loads(fresh.read_text()), name
        else:
            assert bundled.read_text() == fresh.read_text(), f"{name} was edited: regenerate the sample"


def test_the_flaws_are_planted_only_in_the_current_assessments_and_fixed_in_v2(tmp_path: Path) -> None:
    summary = generate(tmp_path / "flawed", students_per_grade=20)
    clean = generate(tmp_path / "clean", students_per_grade=20, flaws=False)

    lines = (tmp_path / "flawed" / FLAWED_FILE).read_text().splitlines()
    problems = Counter(flaw["problem"].split(" (")[0] for flaw in summary["flaws"])
    assert problems == {
        "Scale Score 999": 1,
        "Subject 'READ'": 2,
        "exact duplicate of the row above": 1,
        "Scale Score 'N/A'": 1,
    }
    for flaw in summary["flaws"]:
        row = lines[flaw["line"] - 1].split(",")
        assert row[0] == flaw["student"]
        assert "999" in row or "READ" in row or "N/A" in row or lines[flaw["line"] - 2] == lines[flaw["line"] - 1]
    fixed = (tmp_path / "flawed" / FIXED_FILE).read_text()
    assert fixed == (tmp_path / "clean" / FLAWED_FILE).read_text()  # the resubmission is the true file
    assert len(fixed.splitlines()) == len(lines) - 1
    assert not (tmp_path / "clean" / "fixes").exists() and clean["flaws"] == []
    for name in _files(tmp_path / "clean"):  # nothing else changes with the flaws
        if name != FLAWED_FILE:
            assert (tmp_path / "clean" / name).read_bytes() == (tmp_path / "flawed" / name).read_bytes(), name


# The bundled sample must pass strict suites (codes, ranges, keys, required fields) everywhere but in
# the planted flaws, and the partners' files must describe the same students.


def _rows(pattern: str) -> list[dict[str, str]]:
    """Rows of every bundled delivery matching `pattern`, both rounds (the flawed file excepted)."""
    return [
        row
        for round_name in ("history", "current")
        for path in sorted((SAMPLE / round_name).glob(pattern))
        if str(path.relative_to(SAMPLE)) != FLAWED_FILE
        for row in _csv(path)
    ]


def _records(name: str) -> list[dict[str, str]]:
    return [
        record
        for round_name in ("history", "current")
        for record in json.loads((SAMPLE / round_name / "riverbend_college" / name).read_text())
    ]


def _unique(rows: list[dict[str, str]], *key: str) -> None:
    keys = [tuple(row[column] for column in key) for row in rows]
    assert keys and len(keys) == len(set(keys)), key


def _age(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


ENROLLED = {(row["State Student ID"], row["School Year"]): row for row in _rows("riverbend_isd/enrollment_*.csv")}


def _enrolled_at(student: str, year: str, school: str | None, grades: range) -> bool:
    row = ENROLLED.get((student, year))
    return row is not None and school in (None, row["School Code"]) and int(row["Grade Level"]) in grades


def test_district_enrollment_and_graduation_are_clean() -> None:
    _unique(_rows("riverbend_isd/enrollment_*.csv"), "State Student ID", "School Year")
    for row in ENROLLED.values():
        assert row["School Code"] in SCHOOLS and row["Race/Ethnicity"] in RACES and row["Gender"] in "FMX"
        assert {row["Econ Disadv"], row["EL Status"], row["SPED"]} <= {"Y", "N"}
        assert 0 <= int(row["Grade Level"]) <= 12 and dt.date.fromisoformat(row["Birth Date"])
    graduation = _rows("riverbend_isd/graduation_*.csv")
    _unique(graduation, "State Student ID", "Cohort Year")
    for row in graduation:
        cohort = int(row["Cohort Year"])
        senior_year = f"{cohort - 1}-{cohort % 100:02d}"
        assert _enrolled_at(row["State Student ID"], senior_year, row["School Code"], range(12, 13))
        assert row["Outcome"] in "GCDT" and bool(row["Graduation Date"]) == (row["Outcome"] == "G")


def test_assessments_and_readiness_are_for_students_enrolled_in_those_grades() -> None:
    assessments = _rows("riverbend_isd/assessments_*.csv") + _csv(SAMPLE / FIXED_FILE)
    _unique(assessments, "State Student ID", "School Year", "Subject")
    for row in assessments:
        grade = int(row["Tested Grade"])
        assert 3 <= grade <= 8 and row["Subject"] in ("ELA", "MATH")
        assert _enrolled_at(row["State Student ID"], row["School Year"], row["School Code"], range(grade, grade + 1))
        assert 100 <= int(row["Scale Score"]) <= 400 and 1 <= int(row["Performance Level"]) <= 4
    for path in sorted(SAMPLE.glob("*/early_learning_coalition/*.xlsx")):
        header, *rows = _xlsx_values(path)
        assert header[0] == "Student State ID" and rows
        for student, year, school, assessed, score, level, prek in rows:
            assert _enrolled_at(student, year, school, range(0, 1)) and school in ("101", "102", "103", "104")
            assert assessed.year == int(year[:4]) and 0 <= score <= 100
            assert level in ("R", "A", "N") and prek in ("HS", "SP", "PR", "NO")


def test_college_records_are_for_graduates_after_they_graduate() -> None:
    graduated = {
        row["State Student ID"]: dt.date.fromisoformat(row["Graduation Date"])
        for row in _rows("riverbend_isd/graduation_*.csv")
        if row["Outcome"] == "G"
    }
    enrollments, awards = _records("enrollments.json"), _records("awards.json")
    _unique(enrollments, "state_student_id", "term_code")
    _unique(awards, "state_student_id", "award_level")
    first_term: dict[str, dt.date] = {}
    for record in enrollments:
        student, enrolled_on = record["state_student_id"], dt.date.fromisoformat(record["enrolled_on"])
        assert graduated[student] < enrolled_on
        assert record["term_code"][4:] in ("FA", "SP", "SU") and record["load"] in ("FT", "PT")
        assert record["level"] in ("CERT", "ASSOC", "BACH")
        first_term[student] = min(enrolled_on, first_term.get(student, enrolled_on))
    assert all((first - graduated[student]).days < 366 for student, first in first_term.items())
    for record in awards:
        years = (dt.date.fromisoformat(record["awarded_on"]) - first_term[record["state_student_id"]]).days / 365
        assert 0.5 < years < 3.5 and record["award_level"] in ("CERT", "ASSOC", "BACH") and record["cip_code"]


def test_wage_records_are_for_former_students_aged_18_to_24() -> None:
    born = {student: dt.date.fromisoformat(row["Birth Date"]) for (student, _), row in ENROLLED.items()}
    wages = _rows("workforce_board/ui_wage_records.csv")
    _unique(wages, "person_state_id", "wage_quarter")
    for row in wages:
        year, quarter = int(row["wage_quarter"][:4]), int(row["wage_quarter"][-1])
        quarter_end = dt.date(year, 3 * quarter, 30 if quarter in (2, 3) else 31)
        assert 18 <= _age(born[row["person_state_id"]], quarter_end) <= 24
        assert 0 <= float(row["total_wages"]) <= 250_000
        assert (row["was_employed"], bool(row["naics_sector"])) in (("Y", True), ("N", False))


def test_mentoring_participants_are_in_the_programs_grades() -> None:
    participation = _rows("bright_futures_mentoring/participation_*.csv")
    _unique(participation, "Student ID", "Program", "School Year")
    for row in participation:
        grades = {"BFM-READ": range(2, 6), "BFM-MENTOR": range(6, 9)}[row["Program"]]
        assert _enrolled_at(row["Student ID"], row["School Year"], None, grades)
        assert 0 <= int(row["Sessions Attended"]) <= int(row["Sessions Offered"]) <= 200
        assert not row["End Date"] or row["End Date"] > row["Start Date"]


AUTH = {"Authorization": "Bearer s3cret"}


def _pages(client: httpx.Client, url: str, per_page: int) -> list[list[dict]]:
    pages, params = [], {"page": 1, "per_page": per_page}
    while url:
        response = client.get(url, params=params, headers=AUTH)
        response.raise_for_status()
        body = response.json()
        pages.append(body["data"])
        url, params = body["next"], None
    return pages


def test_the_college_api_pages_through_the_store_and_serves_newly_staged_records(tmp_path: Path) -> None:
    stage_round(SAMPLE / "history", tmp_path)
    store = json.loads((tmp_path / "sample" / "api" / "enrollments.json").read_text())
    with (
        SampleCollegeApi(store_dir=tmp_path / "sample" / "api", token="s3cret") as api,
        httpx.Client(base_url=api.url) as client,
    ):
        pages = _pages(client, api.url + "/v1/enrollments", per_page=100)
        assert [record for page in pages for record in page] == store
        assert [len(page) for page in pages[:-1]] == [100] * (len(pages) - 1) and 0 < len(pages[-1]) <= 100
        first = client.get("/v1/awards", headers=AUTH).json()
        assert (first["page"], first["per_page"], first["total"]) == (1, 100, len(first["data"]))
        assert client.get("/v1/enrollments", params={"per_page": 9999}, headers=AUTH).json()["per_page"] == 500

        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            refused = client.get("/v1/enrollments", headers=headers)
            assert refused.status_code == 401 and "error" in refused.json()
        assert client.get("/v2/nothing", headers=AUTH).status_code == 404

        stage_round(SAMPLE / "current", tmp_path)  # while the server runs
        served = [record for page in _pages(client, api.url + "/v1/enrollments", per_page=500) for record in page]
    new = json.loads((SAMPLE / "current" / "riverbend_college" / "enrollments.json").read_text())
    assert len(served) == len(store) + len(new) and new[-1] in served


def test_staging_a_round_twice_changes_nothing_the_second_time(tmp_path: Path) -> None:
    first = stage_round(SAMPLE / "history", tmp_path)
    second = stage_round(SAMPLE / "history", tmp_path)

    wages = _csv(SAMPLE / "history" / "workforce_board" / "ui_wage_records.csv")
    with sqlite3.connect(tmp_path / "sample" / "workforce_board.sqlite") as connection:
        assert connection.execute("select count(*) from ui_wage_records").fetchone() == (len(wages),)
        assert connection.execute("select count(*) from ui_wage_records where naics_sector is null").fetchone() == (
            sum(not row["naics_sector"] for row in wages),
        )
    for kind in ("enrollments", "awards"):
        staged = json.loads((tmp_path / "sample" / "api" / f"{kind}.json").read_text())
        assert staged == json.loads((SAMPLE / "history" / "riverbend_college" / f"{kind}.json").read_text())
    assert f"({len(wages)} new)" in "\n".join(first) and "(0 new)" in "\n".join(second)
    inbox = sorted(path.name for path in (tmp_path / "inbox").rglob("*") if path.is_file())
    assert inbox == sorted(
        path.name
        for path in (SAMPLE / "history").glob("*/*")
        if path.suffix in (".csv", ".xlsx") and path.parent.name != "workforce_board"
    )
