"""Equity coverage warns, naming partner, dataset and field, when a required breakdown cannot be made."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.core.agenda import load_agenda
from pipelines.core.home import AGENDA_FILE, EXPECTATIONS_DIR, PARTNERS_DIR
from pipelines.quality.coverage import coverage_gaps
from pipelines.core.registry import load_registry

REGISTRY = load_registry(PARTNERS_DIR, EXPECTATIONS_DIR)
FIELDS = ("race_ethnicity", "gender", "econ_disadvantaged", "english_learner", "special_education", "school_id")


def _warehouse(path: Path, race_values: list[str | None]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("create schema raw")
    con.execute("create table raw.submissions as select 'sub-1' as submission_id, 'accepted' as status "
                "union all select 'sub-2', 'quarantined'")
    columns = ", ".join(f"{field} varchar" for field in FIELDS)
    con.execute(f"create table raw.riverbend_isd__enrollment (_submission_id varchar, {columns})")
    for race in race_values:
        con.execute("insert into raw.riverbend_isd__enrollment values ('sub-1', ?, 'F', 'Y', 'N', 'N', '101')", [race])
    # Rows of a quarantined delivery do not count.
    con.execute("insert into raw.riverbend_isd__enrollment values ('sub-2', null, null, null, null, null, null)")
    return con


def test_a_complete_sample_has_no_gaps(tmp_path: Path) -> None:
    con = _warehouse(tmp_path / "w.duckdb", ["HI", "WH", "BL"] * 10)
    assert coverage_gaps(load_agenda(AGENDA_FILE), REGISTRY, con) == []


def test_a_mostly_empty_field_is_named_with_partner_and_dataset(tmp_path: Path) -> None:
    con = _warehouse(tmp_path / "w.duckdb", ["HI"] * 8 + [None] * 2)
    gaps = coverage_gaps(load_agenda(AGENDA_FILE), REGISTRY, con)
    assert "grade3_reading by race_ethnicity: riverbend_isd enrollment leaves 'race_ethnicity' empty in 20% " \
           "of accepted rows" in gaps
    assert all("race_ethnicity" in gap for gap in gaps)


def test_an_indicator_whose_datasets_lack_a_field_is_named(tmp_path: Path) -> None:
    text = AGENDA_FILE.read_text().replace(
        "sources: [early_learning_coalition.kindergarten_readiness, riverbend_isd.enrollment]",
        "sources: [early_learning_coalition.kindergarten_readiness]")
    agenda_file = tmp_path / "agenda.yml"
    agenda_file.write_text(text)
    con = _warehouse(tmp_path / "w.duckdb", ["HI"] * 10)

    gaps = coverage_gaps(load_agenda(agenda_file), REGISTRY, con)

    assert "kindergarten_readiness by race_ethnicity: none of its datasets (early_learning_coalition " \
           "kindergarten_readiness) has the field 'race_ethnicity'" in gaps
    assert not any(gap.startswith("kindergarten_readiness by school") for gap in gaps)
