"""The seven shared indicators and the program measures on the REAL bundled sample.

Every sample file (sources/sample) is one delivery, landed with the real ingest code
(`pipelines.ingest.landing.land`, partner registry and suites) when it can be imported, else built
straight from the files: read with the partner's column mapping (sources/partners/*.yml), typed as
the dataset spec says, student ids pseudonymized (a keyed SHA-256; any deterministic function links
the same), lineage filled in. The checks are not run: every submission is 'accepted' except the
district's flawed 2024-25 assessments file, 'quarantined' next to its accepted correction. The
agenda is written with `pipelines.core.agenda.write_agenda`, then `dbt build` runs models and data
tests. Expected values are recomputed here from the sample files by hand.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest
from openpyxl import load_workbook

from pipelines.core.agenda import Agenda, period_start, write_agenda
from pipelines.core.home import PROJECT_ROOT
from pipelines.core.warehouse import connect
from pipelines.models.project import run_dbt
from tests.conftest import bundled_partnership
from tests.test_dbt_models import _dbt_build, _env

pytestmark = pytest.mark.slow  # the module's warehouse is the whole sample landed and built with dbt

SAMPLE = PROJECT_ROOT / "sources" / "sample"
FLAWED = SAMPLE / "current" / "riverbend_isd" / "assessments_2024-25.csv"
LINK_KEY = "indicator-test-key"
LOADED_AT = dt.datetime(2025, 7, 2, 6, 0)
MIN_CELL = bundled_partnership().agenda.privacy.min_cell_size

# dataset -> (file name pattern under <round>/<partner>/); JSON and SQL pulls are files in the sample.
FILES = {
    "riverbend_isd__enrollment": "enrollment_*.csv",
    "riverbend_isd__assessments": "assessments_*.csv",
    "riverbend_isd__graduation": "graduation_*.csv",
    "early_learning_coalition__kindergarten_readiness": "kindergarten_readiness_*.xlsx",
    "riverbend_college__postsecondary_enrollment": "enrollments.json",
    "riverbend_college__completion": "awards.json",
    "workforce_board__employment": "ui_wage_records.csv",
    "bright_futures_mentoring__program_participation": "participation_*.csv",
}


# --- the raw warehouse from the sample files --------------------------------------------------------


def _records(path: Path) -> list[dict[str, object]]:
    """The delivery's records as the partner wrote them (text, or what Excel stores)."""
    if path.suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    if path.suffix == ".xlsx":
        sheet = load_workbook(path, read_only=True)["Readiness"]
        header, *rows = sheet.iter_rows(values_only=True)
        return [dict(zip(header, row, strict=False)) for row in rows]
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _deliveries() -> Iterator[tuple[str, Path, str]]:
    """(table, file, status) in delivery order: history, then current, then the district's fix."""
    for round_name in ("history", "current"):
        for table, pattern in FILES.items():
            partner = table.split("__")[0]
            for path in sorted((SAMPLE / round_name / partner).glob(pattern)):
                yield table, path, "quarantined" if path == FLAWED else "accepted"
    yield "riverbend_isd__assessments", SAMPLE / "fixes" / "riverbend_isd" / "assessments_2024-25_v2.csv", "accepted"


def build_sample_warehouse(path: Path) -> None:
    """raw.* and raw.submissions landed from the bundled sample by the ingest code, then the agenda."""
    con = connect(path)  # as the pipeline opens it: schema migrated
    try:
        _land_sample(con, path.parent)
        write_agenda(con, bundled_partnership().agenda)
    finally:
        con.close()


def _land_sample(con: duckdb.DuckDBPyConnection, workdir: Path) -> None:
    from pipelines.ingest.landing import land
    from pipelines.ingest.readers import Delivery, format_for

    refs = {ref.table: ref for ref in bundled_partnership().registry.datasets}
    pulls = workdir / "pulls"
    pulls.mkdir(exist_ok=True)
    for number, (table, file, status) in enumerate(_deliveries(), start=1):
        ref = refs[table]
        if file.suffix == ".json":  # what the API pull writes: the records as JSON lines
            lines = workdir / "pulls" / f"{number}_{file.stem}.jsonl"
            lines.write_text("".join(json.dumps(record) + "\n" for record in _records(file)), encoding="utf-8")
            delivery = Delivery(lines, source=f"https://college.example/v1/{file.stem}", format="jsonl", first_row=1)
        else:
            delivery = Delivery(file, source=file.name, format=format_for(file), sheet=ref.feed.sheet)
        landed = land(con, ref, delivery, LINK_KEY.encode(), workdir / "archive")
        assert landed.status == "pending", landed
        con.execute(
            "update raw.submissions set status = ?, status_reason = ?, checked_at = ? where submission_id = ?",
            [status, None if status == "accepted" else "failed its blocking checks", LOADED_AT, landed.submission_id],
        )


@pytest.fixture(scope="module")
def sample_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("indicators")
    path = tmp / "warehouse.duckdb"
    started = time.perf_counter()
    build_sample_warehouse(path)
    landed = time.perf_counter()
    with _env(BACKBONE_WAREHOUSE=str(path)):
        # models and data tests; the unit tests use fixtures, not data, and run in test_dbt_models
        _dbt_build(tmp, "--exclude-resource-type", "unit_test")
    print(f"\nsample warehouse: raw {landed - started:.1f}s, dbt build {time.perf_counter() - landed:.1f}s")
    yield path


def _query(path: Path, sql: str, params: list | None = None) -> list[tuple]:
    # read-write like the pipeline's own connections: DuckDB refuses a read-only one beside them in one process
    with duckdb.connect(str(path)) as con:
        return con.execute(sql, params or []).fetchall()


# --- an independent oracle: the same measures recomputed from the sample files ---------------------


def _proportion(numerator: int, denominator: int) -> float:
    """Rounded half up to 4 decimals, as published."""
    return float((Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"), ROUND_HALF_UP))


def _sample_csv(partner: str, pattern: str) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for round_name in ("history", "current"):
        for path in sorted((SAMPLE / round_name / partner).glob(pattern)):
            if path != FLAWED:
                rows += _records(path)
    return rows


def _sample_json(name: str) -> list[dict[str, str]]:
    return [
        record
        for round_name in ("history", "current")
        for record in json.loads((SAMPLE / round_name / "riverbend_college" / name).read_text(encoding="utf-8"))
    ]


def _enrollment() -> dict[tuple[str, str], dict[str, str]]:
    rows = _sample_csv("riverbend_isd", "enrollment_*.csv")
    return {(row["State Student ID"], row["School Year"]): row for row in rows}


def _graduates(cohort: int) -> list[dict[str, str]]:
    return [row for row in _sample_csv("riverbend_isd", f"graduation_{cohort}.csv") if row["Outcome"] == "G"]


def _plus_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError(day)


def _college_enrollees(cohort: int) -> dict[str, tuple[dt.date, dt.date]]:
    """Graduates of the cohort who enrolled within 12 months: id -> (graduation date, first enrollment)."""
    terms = defaultdict(list)
    for record in _sample_json("enrollments.json"):
        terms[record["state_student_id"]].append(dt.date.fromisoformat(record["enrolled_on"]))
    enrollees = {}
    for row in _graduates(cohort):
        graduated = dt.date.fromisoformat(row["Graduation Date"])
        within = [day for day in terms[row["State Student ID"]] if graduated <= day <= _plus_months(graduated, 12)]
        if within:
            enrollees[row["State Student ID"]] = (graduated, min(within))
    return enrollees


def expected_graduation_by_school(cohort: int) -> dict[str, tuple[int, int]]:
    """hs_graduation_4yr per high school: (graduates, cohort members who did not transfer out)."""
    cells: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    names = {"301": "Riverbend High", "302": "Westfield High"}
    for row in _sample_csv("riverbend_isd", f"graduation_{cohort}.csv"):
        if row["Outcome"] != "T":
            cells[names[row["School Code"]]][0] += row["Outcome"] == "G"
            cells[names[row["School Code"]]][1] += 1
    return {school: (numerator, denominator) for school, (numerator, denominator) in cells.items()}


def expected_college_enrollment_by_econ(cohort: int) -> dict[str, tuple[int, int]]:
    """postsecondary_enrollment by economic status in the senior year: (enrolled, graduates)."""
    enrollment = _enrollment()
    senior_year = f"{cohort - 1}-{cohort % 100:02d}"
    enrollees = _college_enrollees(cohort)
    cells: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in _graduates(cohort):
        student = row["State Student ID"]
        econ = enrollment[(student, senior_year)]["Econ Disadv"]
        status = "Economically disadvantaged" if econ == "Y" else "Not economically disadvantaged"
        for group in ("All students", status):
            cells[group][0] += student in enrollees
            cells[group][1] += 1
    return {group: (numerator, denominator) for group, (numerator, denominator) in cells.items()}


def expected_completion(cohort: int) -> tuple[int, int]:
    """postsecondary_completion, all students: (award within 12 months of graduating, enrollees)."""
    awards = defaultdict(list)
    for record in _sample_json("awards.json"):
        awards[record["state_student_id"]].append(dt.date.fromisoformat(record["awarded_on"]))
    enrollees = _college_enrollees(cohort)
    completed = sum(
        any(first <= day <= _plus_months(graduated, 12) for day in awards[student])
        for student, (graduated, first) in enrollees.items()
    )
    return completed, len(enrollees)


def expected_readiness(school_year: str, school_code: str) -> tuple[int, int]:
    """kindergarten_readiness at one receiving school: (ready, assessed)."""
    rows = [
        row
        for round_name in ("history", "current")
        for path in sorted((SAMPLE / round_name / "early_learning_coalition").glob(f"*_{school_year}.xlsx"))
        for row in _records(path)
        if _text(row["Receiving School"]) == school_code
    ]
    return sum(row["Readiness"] == "R" for row in rows), len(rows)


def expected_employment(year: int) -> tuple[int, int]:
    """young_adult_employment, all students: (employed in a quarter of the year, aged 18-24 with a record)."""
    births = {student: dt.date.fromisoformat(row["Birth Date"]) for (student, _), row in _enrollment().items()}
    quarter_ends = {1: (3, 31), 2: (6, 30), 3: (9, 30), 4: (12, 31)}
    people: dict[str, bool] = {}
    for row in _sample_csv("workforce_board", "ui_wage_records.csv"):
        quarter = row["wage_quarter"]
        if int(quarter[:4]) != year or row["person_state_id"] not in births:
            continue
        birth = births[row["person_state_id"]]
        month, day = quarter_ends[int(quarter[-1])]
        age = year - birth.year - ((month, day) < (birth.month, birth.day))
        if 18 <= age <= 24:
            people[row["person_state_id"]] = people.get(row["person_state_id"], False) or row["was_employed"] == "Y"
    return sum(people.values()), len(people)


def expected_program_year(program: str, school_year: str) -> tuple[int, int, int]:
    """program_performance how much / how well: (students served, meeting 75% dosage, offered any session)."""
    rows = [
        row
        for row in _sample_csv("bright_futures_mentoring", f"participation_{school_year}.csv")
        if row["Program"] == program
    ]
    offered = [row for row in rows if int(row["Sessions Offered"]) > 0]
    meeting = [row for row in offered if int(row["Sessions Attended"]) / int(row["Sessions Offered"]) >= 0.75]
    return len(rows), len(meeting), len(offered)


# --- the published measures ---------------------------------------------------------------------------

CELL_SQL = (
    "select numerator, denominator, value, suppressed from marts.indicator_values where indicator_id = ? "
    "and period = ? and geography = ? and dimension = ? and group_value = ?"
)


def _cell(
    path: Path,
    indicator: str,
    period: str,
    geography: str = "Riverbend",
    dimension: str = "all_students",
    group: str = "All students",
) -> tuple:
    rows = _query(path, CELL_SQL, [indicator, period, geography, dimension, group])
    assert len(rows) == 1, (indicator, period, geography, dimension, group, rows)
    return rows[0]


def _small(count: int) -> bool:
    """A count the disclosure policy hides (agenda.yml privacy): 1 to the minimum cell size - 1."""
    return 0 < count < MIN_CELL


def _published(numerator: int, denominator: int) -> tuple:
    """The cell as published: hidden when its group is small or 1 to 9 have (or lack) the outcome."""
    assert denominator >= MIN_CELL, "the oracle picked a cell that is suppressed"
    if _small(numerator) or _small(denominator - numerator):
        return None, None, None, True
    return numerator, denominator, _proportion(numerator, denominator), False


def _published_together(cells: dict[str, tuple[int, int]]) -> dict[str, tuple]:
    """Cells that add up to a published total, as published: each by the policy, and when that hides
    exactly one, the next-smallest too (else the hidden one is the total minus the others)."""
    published = {name: _published(*counts) for name, counts in cells.items()}
    hidden = [name for name, cell in published.items() if cell[3]]
    if len(hidden) == 1 and len(cells) > 1:
        shown = sorted((name for name in cells if name not in hidden), key=lambda name: (cells[name][1], name))
        published[shown[0]] = (None, None, None, True)
    return published


def test_every_indicator_of_the_agenda_is_published_for_at_least_three_periods(
    sample_warehouse: Path, agenda: Agenda
) -> None:
    periods = defaultdict(set)
    for indicator, period in _query(
        sample_warehouse,
        "select indicator_id, period from marts.indicator_values "
        "where geography_level = 'community' "
        "and dimension = 'all_students' and not suppressed",
    ):
        periods[indicator].add(period)
    # the sample's college completions are 4 to 8 of 45 to 55 enrollees a cohort: the policy hides
    # every one (1 to 9 people with the outcome)
    hidden = {"postsecondary_completion"}
    assert set(periods) == {indicator.id for indicator in agenda.indicators} - hidden
    for indicator in agenda.indicators:
        if indicator.id in hidden:
            continue
        assert len(periods[indicator.id]) >= 3, (indicator.id, periods[indicator.id])
        # the baseline is the sample's first period, and its published value
        assert min(periods[indicator.id], key=period_start) == indicator.baseline.period
        baseline = _cell(sample_warehouse, indicator.id, indicator.baseline.period)
        assert baseline[2] == indicator.baseline.value, indicator.id
    assert periods["grade3_reading"] == {"2021-22", "2022-23", "2023-24", "2024-25"}
    # cohort 2025: 123 of 131 graduated, so 8 did not -- hidden by the policy
    assert periods["hs_graduation_4yr"] == {"2022", "2023", "2024"}
    # cohort 2025's 12 months after graduating are not over in the college's records (June 2025)
    assert periods["postsecondary_enrollment"] == {"2022", "2023", "2024"}
    # calendar years with all four quarters of wage records (2021 and 2025 have two)
    assert periods["young_adult_employment"] == {"2022", "2023", "2024"}


def test_every_geography_has_all_students_and_every_required_dimension(sample_warehouse: Path, agenda: Agenda) -> None:
    dimensions = defaultdict(set)
    for indicator, period, level, geography, dimension in _query(
        sample_warehouse,
        "select distinct indicator_id, period, geography_level, geography, dimension from marts.indicator_values",
    ):
        dimensions[(indicator, period, level, geography)].add(dimension)
    for (indicator_id, *_), found in dimensions.items():
        required = set(agenda.indicator(indicator_id).disaggregations) - {"school"}
        assert found == {"all_students"} | required, (indicator_id, found)
    all_students = _query(
        sample_warehouse,
        "select count(*), count(distinct group_value) from marts.indicator_values where dimension = 'all_students'",
    )
    assert all_students == [(len(dimensions), 1)]  # exactly one 'All students' row per geography and period


def test_indicators_that_require_school_are_published_for_every_school(sample_warehouse: Path, agenda: Agenda) -> None:
    schools = defaultdict(set)
    for indicator, geography in _query(
        sample_warehouse,
        "select distinct indicator_id, geography from marts.indicator_values where geography_level = 'school'",
    ):
        schools[indicator].add(geography)
    elementary = {"Riverside Elementary", "Oak Hill Elementary", "Mill Creek Elementary", "Lakeview Elementary"}
    high = {"Riverbend High", "Westfield High"}
    assert dict(schools) == {
        "kindergarten_readiness": elementary,
        "grade3_reading": elementary,
        "grade8_math": {"Riverbend Middle", "Eastside Middle"},
        "hs_graduation_4yr": high,
        "postsecondary_enrollment": high,
        "postsecondary_completion": high,
    }
    assert all("school" in agenda.indicator(indicator).disaggregations for indicator in schools)
    assert "school" not in agenda.indicator("young_adult_employment").disaggregations
    community = _query(
        sample_warehouse, "select distinct geography from marts.indicator_values where geography_level = 'community'"
    )
    assert community == [("Riverbend",)]


def test_no_published_cell_is_small_or_recoverable(sample_warehouse: Path) -> None:
    cells = _query(
        sample_warehouse,
        "select indicator_id, period, geography_level, geography, dimension, group_value, "
        "numerator, denominator, value, suppressed from marts.indicator_values",
    )
    assert all(row[7] >= MIN_CELL for row in cells if not row[9])
    assert not [row for row in cells if not row[9] and (_small(row[6]) or _small(row[7] - row[6]))]
    assert all(row[6:9] == (None, None, None) for row in cells if row[9])
    assert any(row[9] for row in cells), "the sample has small groups: some cells must be suppressed"
    within, across = Counter(), Counter()
    hidden_within, hidden_across = Counter(), Counter()
    for indicator, period, level, geography, dimension, group, *_, suppressed in cells:
        within[(indicator, period, level, geography, dimension)] += 1
        hidden_within[(indicator, period, level, geography, dimension)] += suppressed
        if level == "school":
            across[(indicator, period, dimension, group)] += 1
            hidden_across[(indicator, period, dimension, group)] += suppressed
    assert not [key for key, hidden in hidden_within.items() if hidden == 1 and within[key] > 1]
    assert not [key for key, hidden in hidden_across.items() if hidden == 1 and across[key] > 1]


def test_published_values_match_the_sample_recomputed_by_hand(sample_warehouse: Path) -> None:
    # graduation: district file only, per high school, transfers out left out
    by_school = expected_graduation_by_school(2023)
    for school, cell in _published_together(by_school).items():
        assert _cell(sample_warehouse, "hs_graduation_4yr", "2023", school) == cell
    community = [sum(counts) for counts in zip(*by_school.values(), strict=True)]
    assert _cell(sample_warehouse, "hs_graduation_4yr", "2023") == _published(*community)
    # college enrollment: district graduates linked to the college's API records, by senior-year status
    by_econ = expected_college_enrollment_by_econ(2022)
    everyone = by_econ.pop("All students")
    assert _cell(sample_warehouse, "postsecondary_enrollment", "2022") == _published(*everyone)
    for group, cell in _published_together(by_econ).items():
        assert (
            _cell(sample_warehouse, "postsecondary_enrollment", "2022", dimension="econ_disadvantaged", group=group)
            == cell
        )
    assert _cell(sample_warehouse, "postsecondary_completion", "2023") == _published(*expected_completion(2023))
    # readiness: the coalition's workbook, one receiving school
    assert _cell(sample_warehouse, "kindergarten_readiness", "2024-25", "Riverside Elementary") == _published(
        *expected_readiness("2024-25", "101")
    )
    # employment: the workforce board's records with ages from the district's enrollment
    assert _cell(sample_warehouse, "young_adult_employment", "2023") == _published(*expected_employment(2023))


def test_progress_is_measured_against_the_agenda(sample_warehouse: Path, agenda: Agenda) -> None:
    rows = _query(
        sample_warehouse,
        "select indicator_id, period, geography_level, dimension, value, suppressed, "
        "baseline_value, target_value, change_from_baseline, on_track "
        "from marts.indicator_values",
    )
    for indicator, period, level, dimension, value, suppressed, baseline, target, change, on_track in rows:
        goal = agenda.indicator(indicator)
        assert (baseline, target) == (goal.baseline.value, goal.target.value)
        assert change == (None if suppressed else round(value - baseline, 4))
        if level == "community" and dimension == "all_students":
            share = (period_start(period) - period_start(goal.baseline.period)) / (
                period_start(goal.target.period) - period_start(goal.baseline.period)
            )
            path = round(baseline + (target - baseline) * share, 4)
            expected = None if suppressed else (value >= path if goal.higher_is_better else value <= path)
            assert on_track == expected, (indicator, period)
        else:
            assert on_track is None


def test_program_performance_reports_both_programs_every_year(sample_warehouse: Path) -> None:
    rows = _query(
        sample_warehouse,
        "select program_id, period, students_served, participants_meeting_dosage, "
        "participants_with_sessions, dosage_share, participants_tested, "
        "comparison_tested, participant_proficiency_rate, comparison_proficiency_rate, "
        "proficiency_difference, better_off_suppressed from marts.program_performance",
    )
    published = {(row[0], row[1]): row[2:] for row in rows}
    years = ("2021-22", "2022-23", "2023-24", "2024-25")
    assert set(published) == {(program, year) for program in ("BFM-READ", "BFM-MENTOR") for year in years}
    for (program, year), (
        served,
        meeting,
        offered,
        share,
        tested,
        compared,
        rate,
        comparison_rate,
        difference,
        better_off_suppressed,
    ) in published.items():
        expected_served, expected_meeting, expected_offered = expected_program_year(program, year)
        if _small(expected_meeting) or _small(expected_offered - expected_meeting):
            # how well is hidden: 1 to 9 participants met the dosage, or 1 to 9 missed it
            assert (served, meeting, offered, share) == (expected_served, None, None, None)
        else:
            assert (served, meeting, offered) == (expected_served, expected_meeting, expected_offered)
            assert share == _proportion(expected_meeting, expected_offered)
        if better_off_suppressed:
            assert (tested, compared, rate, comparison_rate, difference) == (None,) * 5
            continue
        assert tested >= MIN_CELL and compared >= MIN_CELL
        assert difference == round(rate - comparison_rate, 4)


def test_dbt_docs_build_and_every_mart_column_is_described(sample_warehouse: Path, tmp_path: Path) -> None:
    done = run_dbt(
        ["docs", "generate", "--quiet", "--target-path", str(tmp_path / "target")],
        env={"BACKBONE_WAREHOUSE": str(sample_warehouse)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    catalog = json.loads((tmp_path / "target" / "catalog.json").read_text())
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    for mart in ("indicator_values", "program_performance"):
        node = manifest["nodes"][f"model.backbone.{mart}"]
        built = set(catalog["nodes"][f"model.backbone.{mart}"]["columns"])
        assert node["description"]
        assert built == set(node["columns"]), f"{mart}: documented columns differ from the built table"
        assert all(column["description"] for column in node["columns"].values())
