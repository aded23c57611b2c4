"""The suppression macro dbt publishes with, checked over thousands of generated group distributions:
no count under the agenda's minimum cell size (10) is ever shown -- no small group, and no group
where 1 to 9 people are proficient or not proficient -- no hidden cell can be recovered from the
others, and the publish gate agrees."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.core.agenda import load_agenda
from pipelines.core.home import AGENDA_FILE
from pipelines.core.partnership import Partnership
from pipelines.core.registry import Registry
from pipelines.models.dbt_vars import project_dbt_vars
from pipelines.publish.serving import privacy_violations
from tests.conftest import INDICATOR_RULE, bundled_partnership, compile_inline

pytestmark = pytest.mark.slow  # dbt compiles the macro, then a thousand generated distributions run

RULE = INDICATOR_RULE
SCHOOLS = ("Oak Hill Elementary", "Riverside Elementary", "Mill Creek Elementary")
GROUPS = ("Asian", "Black", "Hispanic", "White", "Two or more")
MIN_CELL_SIZE = bundled_partnership().agenda.privacy.min_cell_size


def _compiled_suppression(scratch: Path, dbt_vars: dict | None = None) -> str:
    """The macro as dbt compiles it for DuckDB (with the project's vars unless given), applied to `cells`."""
    return compile_inline("{{ suppress_small_cells('cells') }}", scratch, dbt_vars)


@pytest.fixture(scope="module")
def suppression_sql(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _compiled_suppression(tmp_path_factory.mktemp("dbt"))


# One dimension of one indicator and period: for each school, each group's (tested, proficient).
school_groups = st.lists(st.tuples(st.integers(0, 40), st.floats(0, 1)), min_size=len(GROUPS), max_size=len(GROUPS))
distributions = st.lists(school_groups, min_size=1, max_size=len(SCHOOLS))


def _cells(distribution: list[list[tuple[int, float]]]) -> list[tuple]:
    rows = []
    community: dict[str, list[int]] = {}
    for school, groups in zip(SCHOOLS, distribution, strict=False):
        total = [0, 0]
        for group, (tested, share) in zip(GROUPS, groups, strict=False):
            if not tested:
                continue  # a group with nobody tested has no row
            proficient = round(tested * share)
            rows.append(("school", school, "race_ethnicity", group, proficient, tested))
            community.setdefault(group, [0, 0])
            for counts in (total, community[group]):
                counts[0] += proficient
                counts[1] += tested
        if total[1]:
            rows.append(("school", school, "all_students", "All students", *total))
    for group, (proficient, tested) in community.items():
        rows.append(("community", "Riverbend", "race_ethnicity", group, proficient, tested))
    if community:
        everyone = [sum(c[0] for c in community.values()), sum(c[1] for c in community.values())]
        rows.append(("community", "Riverbend", "all_students", "All students", *everyone))
    return [("grade3_reading", "2023-24", *row[:4], row[4], row[5], round(row[4] / row[5], 4)) for row in rows]


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(distribution=distributions)
def test_no_small_count_is_shown_and_no_hidden_cell_can_be_recovered(suppression_sql: str, distribution) -> None:
    cells = _cells(distribution)
    con = duckdb.connect()
    con.execute(
        "create table cells (indicator_id varchar, period varchar, geography_level varchar, geography varchar, "
        "dimension varchar, group_value varchar, numerator integer, denominator integer, value double)"
    )
    if cells:
        con.executemany("insert into cells values (?, ?, ?, ?, ?, ?, ?, ?, ?)", cells)
    con.execute("create schema marts")
    con.execute(f"create table marts.published as {suppression_sql}")

    assert privacy_violations(con, "published", RULE, MIN_CELL_SIZE) == 0
    rows = con.execute(
        "select geography, dimension, group_value, numerator, denominator, suppressed from marts.published"
    ).fetchall()
    assert len(rows) == len(cells)
    original = {(c[3], c[4], c[5]): (c[6], c[7]) for c in cells}
    for geography, dimension, group, numerator, denominator, suppressed in rows:
        proficient, tested = original[(geography, dimension, group)]
        if tested < MIN_CELL_SIZE or 0 < proficient < MIN_CELL_SIZE or 0 < tested - proficient < MIN_CELL_SIZE:
            assert suppressed
        if not suppressed:
            assert (numerator, denominator) == (proficient, tested)
            assert numerator == 0 or numerator >= MIN_CELL_SIZE
            assert denominator - numerator == 0 or denominator - numerator >= MIN_CELL_SIZE
    rows = [(geography, dimension, group, suppressed) for geography, dimension, group, _, _, suppressed in rows]
    # Recoverable = the only hidden cell among cells that add up to a published total.
    for set_of in ("by_dimension", "across_schools"):
        key = (lambda r: (r[0], r[1])) if set_of == "by_dimension" else (lambda r: (r[1], r[2]))
        sets: dict[tuple, list[bool]] = {}
        for row in rows:
            if set_of == "across_schools" and row[0] == "Riverbend":
                continue
            if set_of == "by_dimension" and row[1] == "all_students":
                continue
            sets.setdefault(key(row), []).append(row[3])
        for flags in sets.values():
            assert not (len(flags) > 1 and sum(flags) == 1), f"a lone hidden cell {set_of}: {rows}"


def test_a_minimum_cell_size_raised_in_the_agenda_suppresses_more_and_the_gate_enforces_it(
    registry: Registry, tmp_path: Path
) -> None:
    agenda = tmp_path / "agenda.yml"
    agenda.write_text(
        AGENDA_FILE.read_text(encoding="utf-8").replace("min_cell_size: 10", "min_cell_size: 20"), encoding="utf-8"
    )
    changed = load_agenda(agenda)
    raised = changed.privacy.min_cell_size
    # Riverbend's three groups of 15, 25 and 60 students, 100 in all; every count and complement is 0
    # or at least 10
    cells = [
        (
            "grade3_reading",
            "2023-24",
            "community",
            "Riverbend",
            dimension,
            group,
            numerator,
            denominator,
            round(numerator / denominator, 4),
        )
        for dimension, group, numerator, denominator in (
            ("race_ethnicity", "Asian", 0, 15),
            ("race_ethnicity", "White", 12, 25),
            ("race_ethnicity", "Hispanic", 30, 60),
            ("all_students", "All students", 42, 100),
        )
    ]
    con = duckdb.connect()
    con.execute(
        "create table cells (indicator_id varchar, period varchar, geography_level varchar, geography varchar, "
        "dimension varchar, group_value varchar, numerator integer, denominator integer, value double)"
    )
    con.executemany("insert into cells values (?, ?, ?, ?, ?, ?, ?, ?, ?)", cells)
    con.execute("create schema marts")
    con.execute(f"create table marts.sample as {_compiled_suppression(tmp_path / 'sample')}")
    con.execute(
        f"create table marts.raised as "
        f"{_compiled_suppression(tmp_path / 'raised', project_dbt_vars(Partnership(registry, changed)))}"
    )

    hidden = "select group_value from marts.{} where suppressed order by group_value"
    assert con.execute(hidden.format("sample")).fetchall() == []
    # 15 is under 20 and White's 12 proficient too; Asian (0 proficient, 15 not) is shown under 10
    assert con.execute(hidden.format("raised")).fetchall() == [("Asian",), ("White",)]
    assert privacy_violations(con, "raised", RULE, raised) == 0
    assert privacy_violations(con, "sample", RULE, raised) == 2  # built under the old minimum: refused
