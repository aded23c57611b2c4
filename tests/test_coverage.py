"""Equity coverage warns, naming partner, dataset and field, when a required breakdown cannot be made."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.core.agenda import Agenda
from pipelines.core.registry import Registry
from pipelines.quality.coverage import coverage_gaps

FIELDS = ("race_ethnicity", "gender", "econ_disadvantaged", "english_learner", "special_education", "school_id")


def _warehouse(path: Path, race_values: list[str | None]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("create schema raw")
    con.execute(
        "create table raw.submissions as select 'sub-1' as submission_id, 'accepted' as status "
        "union all select 'sub-2', 'quarantined'"
    )
    columns = ", ".join(f"{field} varchar" for field in FIELDS)
    con.execute(f"create table raw.riverbend_isd__enrollment (_submission_id varchar, {columns})")
    for race in race_values:
        con.execute("insert into raw.riverbend_isd__enrollment values ('sub-1', ?, 'F', 'Y', 'N', 'N', '101')", [race])
    # Rows of a quarantined delivery do not count.
    con.execute("insert into raw.riverbend_isd__enrollment values ('sub-2', null, null, null, null, null, null)")
    return con


def test_a_complete_sample_has_no_gaps(agenda: Agenda, registry: Registry, tmp_path: Path) -> None:
    con = _warehouse(tmp_path / "w.duckdb", ["HI", "WH", "BL"] * 10)
    assert coverage_gaps(agenda, registry, con) == []


def test_a_mostly_empty_field_is_named_with_partner_and_dataset(
    agenda: Agenda, registry: Registry, tmp_path: Path
) -> None:
    con = _warehouse(tmp_path / "w.duckdb", ["HI"] * 8 + [None] * 2)
    gaps = coverage_gaps(agenda, registry, con)
    assert (
        "grade3_reading by race_ethnicity: riverbend_isd enrollment leaves 'race_ethnicity' empty in 20% "
        "of accepted rows" in gaps
    )
    assert all("race_ethnicity" in gap for gap in gaps)


def test_an_indicator_whose_datasets_lack_a_field_is_named(agenda: Agenda, registry: Registry, tmp_path: Path) -> None:
    readiness = agenda.indicator("kindergarten_readiness")
    assert readiness.sources == ["early_learning_coalition.kindergarten_readiness", "riverbend_isd.enrollment"]
    without_enrollment = readiness.model_copy(update={"sources": ["early_learning_coalition.kindergarten_readiness"]})
    changed = agenda.model_copy(
        update={
            "indicators": [
                without_enrollment if indicator is readiness else indicator for indicator in agenda.indicators
            ]
        }
    )
    con = _warehouse(tmp_path / "w.duckdb", ["HI"] * 10)

    gaps = coverage_gaps(changed, registry, con)

    assert (
        "kindergarten_readiness by race_ethnicity: none of its datasets (early_learning_coalition "
        "kindergarten_readiness) has the field 'race_ethnicity'" in gaps
    )
    assert not any(gap.startswith("kindergarten_readiness by school") for gap in gaps)
