"""`backbone demo` end to end: the sample partnership flows through Dagster into published tables,
the flawed delivery is quarantined, only its partner is mailed, and the earlier publish stays."""

from __future__ import annotations

import csv
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from email import message_from_bytes, policy

import duckdb

from pipelines.core.home import PROJECT_ROOT
from tests.conftest import run_cli

SAMPLE = PROJECT_ROOT / "sources" / "sample"
RACE_LABELS = {
    "AI": "American Indian/Alaska Native",
    "AS": "Asian",
    "BL": "Black/African American",
    "HI": "Hispanic/Latino",
    "PI": "Native Hawaiian/Pacific Islander",
    "WH": "White",
    "MR": "Two or more races",
}


def _rows(pattern: str) -> list[dict[str, str]]:
    """The district's rows that end up accepted: all rounds, the corrected file instead of the flawed one."""
    rows = []
    for path in sorted(SAMPLE.glob(f"*/riverbend_isd/{pattern}")):
        if path.parent.parent.name == "current" and path.name.startswith("assessments"):
            continue  # quarantined; its corrected version comes in round `fixes`
        with path.open(newline="", encoding="utf-8") as handle:
            rows.extend(csv.DictReader(handle))
    return rows


def _proportion(numerator: int, denominator: int) -> float:
    """Rounded half up to 4 decimals, as published (the same on DuckDB and PostgreSQL)."""
    return float((Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"), ROUND_HALF_UP))


def expected_grade3_reading() -> set[tuple]:
    """The indicator recomputed from the sample files by hand: an independent oracle."""
    race = {(r["State Student ID"], r["School Year"]): r["Race/Ethnicity"] for r in _rows("enrollment_*.csv")}
    cells: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for row in _rows("assessments_*.csv"):
        if row["Tested Grade"] != "3" or row["Subject"] != "ELA":
            continue
        proficient = int(row["Performance Level"]) >= 3
        for dimension, group in (
            ("all_students", "All students"),
            ("race_ethnicity", RACE_LABELS[race[(row["State Student ID"], row["School Year"])]]),
        ):
            cell = cells[(row["School Year"], dimension, group)]
            cell[0] += proficient
            cell[1] += 1
    # the disclosure policy: a group under 10, or 1 to 9 of it proficient or not proficient
    suppressed = {
        key
        for key, (numerator, denominator) in cells.items()
        if denominator < 10 or 0 < numerator < 10 or 0 < denominator - numerator < 10
    }
    for period in {key[0] for key in cells}:
        groups = sorted((cells[key][1], key) for key in cells if key[:2] == (period, "race_ethnicity"))
        hidden = [key for _, key in groups if key in suppressed]
        if len(hidden) == 1:  # one hidden group could be recovered from the total: hide the next smallest
            suppressed.add(next(key for _, key in groups if key not in suppressed))
    return {
        (
            period,
            dimension,
            group,
            None if key in suppressed else numerator,
            None if key in suppressed else denominator,
            None if key in suppressed else _proportion(numerator, denominator),
            key in suppressed,
        )
        for key, (numerator, denominator) in cells.items()
        for period, dimension, group in [key]
    }


def test_the_demo_publishes_grade3_reading_by_race_exactly_as_computed_by_hand(demo_home) -> None:
    home, _ = demo_home
    with duckdb.connect(str(home / "serving.duckdb"), read_only=True) as con:
        published = set(
            con.execute(
                "select period, dimension, group_value, numerator, denominator, value, suppressed "
                "from indicator_values where indicator_id = 'grade3_reading' and geography = 'Riverbend' "
                "and dimension in ('all_students', 'race_ethnicity')"
            ).fetchall()
        )
    assert published == expected_grade3_reading()
    assert any(row[-1] for row in published), "the sample must show a suppressed small group"
    assert (home / "exports" / "indicator_values.parquet").exists()


def test_the_flawed_delivery_is_quarantined_blocks_its_round_and_the_fix_is_published(demo_home) -> None:
    home, stdout = demo_home
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        statuses = con.execute(
            "select source, status from raw.submissions where dataset = 'assessments' "
            "and source like '%2024-25%' order by received_at"
        ).fetchall()
    assert statuses == [("assessments_2024-25.csv", "quarantined"), ("assessments_2024-25_v2.csv", "accepted")]
    rounds = stdout.split("Round ")[1:]
    assert [line.split(":")[0] for line in rounds] == ["history", "current", "fixes"]
    assert "publish: serving.duckdb, exports and site replaced together" in rounds[0]
    assert "check failed: raw/riverbend_isd__assessments:expectations" in rounds[1]
    assert "publish: blocked; the previous publish is kept" in rounds[1]
    assert "publish: serving.duckdb, exports and site replaced together" in rounds[2]
    assert f"{home / 'site' / 'index.html'} (open it in a browser)" in stdout
    assert (home / "site" / "indicators" / "grade3_reading.html").exists()
    with duckdb.connect(str(home / "serving.duckdb"), read_only=True) as con:
        periods = dict(
            con.execute("select indicator_id, count(distinct period) from indicator_values group by 1").fetchall()
        )
    assert len(periods) == 7 and min(periods.values()) >= 3  # every indicator has a trend


def test_only_the_district_contacts_are_mailed_about_their_own_file(demo_home) -> None:
    home, _ = demo_home
    mails = sorted((home / "outbox").glob("*.eml"))
    assert len(mails) == 1
    message = message_from_bytes(mails[0].read_bytes(), policy=policy.default)
    assert message["To"] == "mlopez@riverbend-isd.example.org, dchen@riverbend-isd.example.org"
    assert message["Cc"] == "data-team@riverbend-c2c.example.org"  # the backbone team, on every partner mail
    text = message.get_body(("plain",)).get_content()
    assert "assessments_2024-25.csv" in message["Subject"]
    assert "backbone check-file --partner riverbend_isd --dataset assessments assessments_2024-25.csv" in text
    assert "999" in text and "READ" in text  # the out-of-range score and the unknown subject code
    for other in ("early_learning", "college", "workforce", "Bright Futures", "kindergarten"):
        assert other.lower() not in text.lower()


def test_rerunning_the_demo_on_the_same_instance_changes_nothing(demo_home) -> None:
    home, _ = demo_home
    with duckdb.connect(str(home / "serving.duckdb"), read_only=True) as con:
        before = con.execute("select * from indicator_values order by all").fetchall()
    result = run_cli("demo", env={"BACKBONE_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    with duckdb.connect(str(home / "serving.duckdb"), read_only=True) as con:
        assert con.execute("select * from indicator_values order by all").fetchall() == before
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from alerts.outbox").fetchone()[0] == 1  # not mailed twice


def test_backbone_indicators_lists_the_agenda_with_latest_values(demo_home) -> None:
    home, _ = demo_home
    result = run_cli("indicators", "--home", str(home))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "Riverbend Cradle-to-Career Partnership: 7 shared indicators" in lines[0]
    reading = next(line for line in lines if line.strip().startswith("Third-grade reading proficiency"))
    with duckdb.connect(str(home / "serving.duckdb"), read_only=True) as con:
        period, value = con.execute(
            "select period, value from indicator_values where indicator_id = 'grade3_reading' "
            "and geography_level = 'community' and dimension = 'all_students' order by period desc limit 1"
        ).fetchone()
    assert period in reading and f"{value:.1%}" in reading and "60.0% (2029-30)" in reading
    assert "on track" in reading or "off track" in reading
