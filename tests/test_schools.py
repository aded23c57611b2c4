"""The schools reference (sources/schools.yml) is the one list of school codes: a school added there is
accepted by the checks of the datasets of its level and published under its name by dbt."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.core import home
from pipelines.core.agenda import AgendaError, load_schools
from pipelines.core.home import EXPECTATIONS_DIR, SCHOOLS_FILE
from pipelines.core.suites import SuiteError, load_suite
from pipelines.models.dbt_vars import project_dbt_vars
from tests.conftest import compile_inline

NEW_SCHOOL = '  - {code: "105", name: Northside Elementary, level: Elementary}\n'


def _school_rule(dataset: str) -> dict:
    suite = load_suite(dataset, EXPECTATIONS_DIR)
    return next(
        rule
        for rule in suite.expectations
        if rule["kwargs"].get("column") == "school_id" and "value_set" in rule["kwargs"]
    )


def _with_new_school(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    schools = tmp_path / "schools.yml"
    schools.write_text(SCHOOLS_FILE.read_text(encoding="utf-8") + NEW_SCHOOL, encoding="utf-8")
    monkeypatch.setattr(home, "SCHOOLS_FILE", schools)
    return schools


def test_each_suite_accepts_the_codes_of_its_levels_and_names_them_to_the_partner() -> None:
    assert _school_rule("kindergarten_readiness")["kwargs"]["value_set"] == ["101", "102", "103", "104"]
    assert _school_rule("kindergarten_readiness")["meta"]["notes"] == "School code must be 101, 102, 103 or 104."
    assert _school_rule("assessments")["kwargs"]["value_set"] == ["101", "102", "103", "104", "201", "202"]
    assert _school_rule("graduation")["meta"]["notes"] == "School code must be 301 or 302."
    assert _school_rule("enrollment")["kwargs"]["value_set"] == [s.code for s in load_schools(SCHOOLS_FILE)]


@pytest.mark.slow  # a dbt compile: a dbt process start
def test_a_new_school_is_one_line_in_the_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    schools = _with_new_school(tmp_path, monkeypatch)

    assert "105" in _school_rule("kindergarten_readiness")["kwargs"]["value_set"]  # an elementary school
    assert "105" in _school_rule("enrollment")["kwargs"]["value_set"]
    assert "105" not in _school_rule("graduation")["kwargs"]["value_set"]  # not a high school
    dbt_vars = {**project_dbt_vars(), "schools": [s.model_dump() for s in load_schools(schools)]}
    compiled = compile_inline(
        "select {{ school_name(\"'105'\") }} as name, {{ school_level(\"'105'\") }} as level", tmp_path, dbt_vars
    )
    assert "when '105' then 'Northside Elementary'" in compiled and "when '105' then 'Elementary'" in compiled


def test_a_school_listed_twice_stops_the_checks_with_the_file_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schools = tmp_path / "schools.yml"
    schools.write_text(
        SCHOOLS_FILE.read_text(encoding="utf-8") + '  - {code: "101", name: Another Elementary, level: Elementary}\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(home, "SCHOOLS_FILE", schools)

    with pytest.raises(AgendaError, match=f"{schools}: schools: code listed more than once: 101"):
        load_schools(schools)
    with pytest.raises(
        SuiteError,
        match=r"kindergarten_readiness.json: expectations.\d+.kwargs.value_set: .*"
        r"code listed more than once: 101",
    ):
        load_suite("kindergarten_readiness", EXPECTATIONS_DIR)
