"""Publishing: analysts reading serving.duckdb are never broken, and a rule-breaking mart is not published."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from pipelines.core.agenda import load_agenda
from pipelines.core.home import AGENDA_FILE, Home
from pipelines.publish.release import release
from pipelines.publish.serving import PublishRefused, publish
from tests.conftest import INDICATOR_RULE, bundled_partnership

CELL = "('grade3_reading', '2023-24', 'Riverbend', 'all_students', 'All students', {n}, {d}, {v}, {s})"
RULES = {"indicator_values": INDICATOR_RULE, "notes": []}
MIN_CELL_SIZE = bundled_partnership().agenda.privacy.min_cell_size  # 10
COLUMNS = (
    "indicator_id varchar, period varchar, geography varchar, dimension varchar, group_value varchar, "
    "numerator integer, denominator integer, value double, suppressed boolean"
)


def _warehouse(path: Path, *cells: str) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists marts")
        con.execute(f"create or replace table marts.indicator_values ({COLUMNS})")
        con.execute(f"insert into marts.indicator_values values {', '.join(cells)}")
    return path


def _release(warehouse: Path, home: Home, rules: dict = RULES) -> None:
    release(home, lambda version: publish(warehouse, version.serving, version.exports, rules, MIN_CELL_SIZE))


def test_an_analyst_with_the_old_file_open_keeps_reading_it_while_a_new_one_is_published(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path / "w.duckdb", CELL.format(n=40, d=80, v=0.5, s=False))
    home = Home.resolve(tmp_path / "home")
    serving, exports = home.serving, home.exports
    _release(warehouse, home)
    analyst = duckdb.connect(str(serving), read_only=True)

    _warehouse(warehouse, CELL.format(n=60, d=80, v=0.75, s=False))
    _release(warehouse, home)

    assert analyst.execute("select value from indicator_values").fetchall() == [(0.5,)]
    analyst.close()
    with duckdb.connect(str(serving), read_only=True) as fresh:
        assert fresh.execute("select value from indicator_values").fetchall() == [(0.75,)]
    assert duckdb.sql(f"select value from '{exports / 'indicator_values.parquet'}'").fetchall() == [(0.75,)]
    assert sorted(path.name for path in home.root.iterdir()) == ["exports", "published", "serving.duckdb", "site"]
    assert sorted(path.name for path in exports.iterdir()) == ["indicator_values.csv", "indicator_values.parquet"]


@pytest.mark.parametrize(
    "cell",
    [
        CELL.format(n=3, d=7, v=0.4286, s=False),  # a small cell published as if it were not
        CELL.format(n=3, d=40, v=0.075, s=False),  # 3 proficient students in a group of 40
        CELL.format(n=37, d=40, v=0.925, s=False),  # 3 students not proficient in a group of 40
        CELL.format(n="null", d=7, v="null", s=True),  # suppressed, but its size still shown
    ],
)
def test_a_mart_that_would_show_a_count_under_10_is_not_published(tmp_path: Path, cell: str) -> None:
    warehouse = _warehouse(tmp_path / "w.duckdb", CELL.format(n=40, d=80, v=0.5, s=False))
    home = Home.resolve(tmp_path / "home")
    serving, exports = home.serving, home.exports
    _release(warehouse, home)
    before, versions = serving.read_bytes(), sorted(home.published.iterdir())

    _warehouse(warehouse, cell)
    with pytest.raises(PublishRefused, match=r"1 row.s. counting fewer than 10"):
        _release(warehouse, home)

    assert serving.read_bytes() == before
    assert sorted(home.published.iterdir()) == versions  # nothing was even staged
    assert duckdb.sql(f"select value from '{exports / 'indicator_values.parquet'}'").fetchall() == [(0.5,)]


def test_the_agendas_minimum_cell_size_is_what_the_gate_enforces(tmp_path: Path) -> None:
    agenda = tmp_path / "agenda.yml"
    agenda.write_text(
        AGENDA_FILE.read_text(encoding="utf-8").replace("min_cell_size: 10", "min_cell_size: 20"), encoding="utf-8"
    )
    warehouse = _warehouse(tmp_path / "w.duckdb", CELL.format(n=0, d=15, v=0.0, s=False))
    serving, exports = tmp_path / "serving.duckdb", tmp_path / "exports"
    publish(warehouse, serving, exports, RULES, MIN_CELL_SIZE)  # 15 people, none proficient: shown under 10

    with pytest.raises(PublishRefused, match=r"1 row.s. counting fewer than 20"):
        publish(warehouse, serving, exports, RULES, load_agenda(agenda).privacy.min_cell_size)


def test_csv_exports_cannot_run_as_spreadsheet_formulas(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path / "w.duckdb", CELL.format(n=40, d=80, v=0.5, s=False))
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create table marts.notes (note varchar, amount integer)")
        con.execute("""insert into marts.notes values ('=HYPERLINK("http://x")', -5), ('+1', 1), ('-2', 2),
                       ('@SUM(A1)', 3), ('plain - text', 4)""")

    publish(warehouse, tmp_path / "serving.duckdb", tmp_path / "exports", RULES, MIN_CELL_SIZE)

    with (tmp_path / "exports" / "notes.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [
        ["note", "amount"],
        ['\'=HYPERLINK("http://x")', "-5"],
        ["'+1", "1"],
        ["'-2", "2"],
        ["'@SUM(A1)", "3"],
        ["plain - text", "4"],
    ]
    with duckdb.connect(str(tmp_path / "serving.duckdb"), read_only=True) as con:  # the database keeps the truth
        assert con.execute("select note from notes where amount = -5").fetchone() == ('=HYPERLINK("http://x")',)


def test_a_mart_without_a_declared_privacy_rule_is_not_published(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path / "w.duckdb", CELL.format(n=40, d=80, v=0.5, s=False))
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create table marts.new_counts as select 'x' as grp, 3 as students")

    with pytest.raises(PublishRefused, match=r"marts\.new_counts declares no privacy rule"):
        publish(warehouse, tmp_path / "serving.duckdb", tmp_path / "exports", RULES, MIN_CELL_SIZE)
    assert not (tmp_path / "serving.duckdb").exists()


def test_every_mart_of_the_dbt_project_declares_its_privacy_rule() -> None:
    import json

    from pipelines.core.privacy import privacy_rules
    from pipelines.models.project import dbt_project

    manifest = json.loads(dbt_project().manifest_path.read_text())
    marts = {
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"].get("schema") == "marts"
    }
    rules = privacy_rules(manifest)
    assert marts and marts == set(rules)
    assert all(rule.sizes and rule.hidden for rule in rules["indicator_values"] + rules["program_performance"])
    # numerators and their complements are checked as well as group sizes
    assert [(rule.counts, rule.complements) for rule in rules["indicator_values"]] == [
        (("numerator",), (("numerator", "denominator"),))
    ]
    assert all(rule.counts and rule.complements for rule in rules["program_performance"][1:])
