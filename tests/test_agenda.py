"""The common agenda: agenda.yml loads, a mistake in it names the file and the field, and
write_agenda replaces the warehouse's `config` tables as a whole."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml

import pipelines.core.agenda as agenda_module
from pipelines.core.agenda import TABLES, Agenda, AgendaError, load_agenda, write_agenda
from pipelines.core.home import PROJECT_ROOT

AGENDA = PROJECT_ROOT / "agenda.yml"
INDICATORS = [
    "kindergarten_readiness",
    "grade3_reading",
    "grade8_math",
    "hs_graduation_4yr",
    "postsecondary_enrollment",
    "postsecondary_completion",
    "young_adult_employment",
]


def _known_datasets() -> set[str]:
    """partner.dataset from the partner registry files (read as YAML: no suites needed)."""
    return {
        f"{path.stem}.{dataset}"
        for path in (PROJECT_ROOT / "sources" / "partners").glob("*.yml")
        for dataset in yaml.safe_load(path.read_text(encoding="utf-8"))["datasets"]
    }


def test_the_agenda_loads_with_seven_indicators_and_two_programs() -> None:
    agenda = load_agenda(AGENDA, known_datasets=_known_datasets())
    assert [indicator.id for indicator in agenda.indicators] == INDICATORS
    assert [program.id for program in agenda.programs] == ["BFM-READ", "BFM-MENTOR"]
    for indicator in agenda.indicators:
        assert indicator.unit == "percent" and indicator.higher_is_better
        assert 0 < indicator.baseline.value < indicator.target.value <= 1
        assert "race_ethnicity" in indicator.disaggregations
        assert "riverbend_isd.enrollment" in indicator.sources  # demographics come from enrollment
    assert agenda.indicator("grade3_reading").baseline.period == "2021-22"
    assert agenda.indicator("young_adult_employment").baseline.period == "2022"
    assert {program.dosage_threshold for program in agenda.programs} == {0.75}


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = AGENDA.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "agenda.yml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    unit: percent\n",
            "    unit: percnt\n",
            "indicators[kindergarten_readiness].unit: Input should be 'percent'",
        ),
        (
            'baseline: {period: "2021-22", value: 0.3957}',
            'baseline: {period: "2021-22", value: 39.57}',
            "indicators[grade3_reading].baseline.value: Input should be less than or equal to 1",
        ),
        (
            "    higher_is_better: true\n",
            "    higher_is_better: true\n    polarity: up\n",
            "indicators[kindergarten_readiness].polarity: Extra inputs are not permitted",
        ),
        (
            "special_education, school]\n    sources: [early",
            "special_education, zip_code]\n    sources: [early",
            "indicators[kindergarten_readiness].disaggregations.5: Input should be 'race_ethnicity'",
        ),
        (
            'target: {period: "2029-30", value: 0.55}',
            'target: {period: "2020-21", value: 0.55}',
            "indicators[kindergarten_readiness].target.period: '2020-21' must come after the baseline period '2021-22'",
        ),
        (
            'baseline: {period: "2021-22", value: 0.3562}',
            'baseline: {period: "2021-23", value: 0.3562}',
            "indicators[kindergarten_readiness].baseline.period: '2021-23' is not a school year",
        ),
        (
            'baseline: {period: "2022", value: 0.8938}',
            'baseline: {period: "2021-22", value: 0.8938}',
            "indicators[hs_graduation_4yr].target.period: '2030' is a year but baseline.period '2021-22' is a "
            "school year",
        ),
        ("    title: Eighth-grade math proficiency\n", "", "indicators[grade8_math].title: Field required"),
        ("  - id: grade8_math\n", "  - id: grade3_reading\n", "indicators: id listed more than once: grade3_reading"),
        (
            "      - measure: students_served\n        description: Students enrolled in Reading",
            "      - measure: kids_served\n        description: Students enrolled in Reading",
            "programs[BFM-READ].how_much.0.measure: unknown measure 'kids_served'",
        ),
        (
            "    indicators: [grade8_math]\n",
            "    indicators: [grade8_maths]\n",
            "programs[BFM-MENTOR].indicators: unknown indicator(s) grade8_maths "
            "(the agenda has: kindergarten_readiness",
        ),
        (
            "    dosage_threshold: 0.75\n",
            "    dosage_threshold: 75\n",
            "programs[BFM-READ].dosage_threshold: Input should be less than or equal to 1",
        ),
        ("partnership: Riverbend", "partnership: [Riverbend", "not valid YAML"),
        (
            "  min_cell_size: 10\n",
            "  min_cell_size: 0\n",
            "privacy.min_cell_size: Input should be greater than or equal to 1",
        ),
        ("privacy:\n  min_cell_size: 10\n  small_counts: suppress\n", "", "privacy: Field required"),
        (
            "  small_counts: suppress\n",
            "  small_counts: top_bottom_code\n",
            "privacy.small_counts: 'top_bottom_code' is not implemented yet; "
            "the pipeline can only 'suppress' small counts",
        ),
        (
            "  small_counts: suppress\n",
            "  small_counts: round\n",
            "privacy.small_counts: Input should be 'suppress' or 'top_bottom_code'",
        ),
        (
            "    numerator_column: is_graduated\n",
            "    numerator_column: is graduated\n",
            "indicators[hs_graduation_4yr].numerator_column: String should match pattern",
        ),
    ],
)
def test_a_mistake_in_the_agenda_names_the_file_and_field(tmp_path: Path, old: str, new: str, expected: str) -> None:
    path = _broken(tmp_path, old, new)
    with pytest.raises(AgendaError) as caught:
        load_agenda(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)


def test_an_unknown_source_dataset_is_named(tmp_path: Path) -> None:
    path = _broken(tmp_path, "riverbend_college.completion,", "riverbend_college.awards,")
    load_agenda(path)  # well formed ...
    with pytest.raises(
        AgendaError,
        match=r"indicators\[postsecondary_completion\]\.sources: unknown dataset\(s\) "
        r"riverbend_college\.awards",
    ):
        load_agenda(path, known_datasets=_known_datasets())  # ... but not a registered dataset


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    return {table: con.execute(f"select * from config.{table} order by all").fetchall() for table in TABLES}


def test_write_agenda_replaces_the_config_tables_as_a_whole(
    agenda: Agenda, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    smaller = agenda.model_copy(
        update={
            "indicators": [agenda.indicator("grade3_reading").model_copy(update={"disaggregations": ["gender"]})],
            "programs": [],
        }
    )
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        write_agenda(con, agenda)
        first = _tables(con)
        assert [row[0] for row in con.execute("select id from config.indicators").fetchall()] == INDICATORS
        grade3 = con.execute("select * from config.indicators where id = 'grade3_reading'").fetchone()
        assert grade3 == (
            "grade3_reading",
            "Third-grade reading proficiency",
            agenda.indicator("grade3_reading").description,
            agenda.indicator("grade3_reading").numerator,
            agenda.indicator("grade3_reading").denominator,
            "percent",
            True,
            "2021-22",
            0.3957,
            "2029-30",
            0.6,
            "riverbend_isd.assessments, riverbend_isd.enrollment",
        )
        assert ("grade8_math", "school") in first["indicator_disaggregations"]
        assert len(first["programs"]) == 2

        write_agenda(con, agenda)  # the same agenda again: the same tables, nothing doubled
        assert _tables(con) == first

        write_agenda(con, smaller)  # a smaller agenda leaves nothing of the larger one behind
        assert _tables(con) == {
            "indicators": [con.execute("select * from config.indicators").fetchone()],
            "indicator_disaggregations": [("grade3_reading", "gender")],
            "programs": [],
        }
        assert con.execute("select count(*) from config.indicators").fetchone() == (1,)

        # a failure part-way (the programs insert here) rolls back: the previous agenda stays whole
        real_rows = agenda_module.agenda_rows
        monkeypatch.setattr(
            agenda_module, "agenda_rows", lambda a: {**real_rows(a), "programs": [("BFM-READ", "too few columns")]}
        )
        before = _tables(con)
        with pytest.raises(duckdb.Error):
            write_agenda(con, agenda)
        assert _tables(con) == before
