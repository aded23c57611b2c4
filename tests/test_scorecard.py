"""The community scorecard: built from the published serving file alone, never showing what the
privacy gate hid, and readable offline from a file share."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import duckdb
import pytest

from pipelines.core.agenda import Agenda
from pipelines.core.privacy import privacy_rules
from pipelines.core.registry import Registry
from pipelines.models.project import dbt_project
from pipelines.publish.published import SiteError
from pipelines.publish.scorecard import charts
from pipelines.publish.scorecard.build import build_site
from pipelines.publish.serving import publish
from tests.conftest import bundled_partnership

INDICATOR_COLUMNS = (
    "indicator_id varchar, period varchar, geography_level varchar, geography varchar, dimension varchar, "
    "group_value varchar, numerator integer, denominator integer, value double, suppressed boolean, "
    "baseline_value double, target_value double, change_from_baseline double, on_track boolean"
)
PROGRAM_COLUMNS = (
    "program_id varchar, program_name varchar, period varchar, students_served bigint, sessions_offered bigint, "
    "sessions_delivered bigint, participants_with_sessions bigint, participants_meeting_dosage bigint, "
    "dosage_share double, participants_tested bigint, participants_proficient bigint, "
    "participant_proficiency_rate double, comparison_tested bigint, comparison_proficient bigint, "
    "comparison_proficiency_rate double, proficiency_difference double, how_much_suppressed boolean, "
    "how_well_suppressed boolean, better_off_suppressed boolean"
)
HEALTH_COLUMNS = (
    "partner varchar, dataset varchar, period varchar, cadence varchar, period_start date, due_on date, "
    "delivery_status varchar, first_received_at timestamp, days_late integer, submissions bigint, "
    "submissions_accepted bigint, submissions_rejected bigint, checks_passed bigint, checks_failed bigint, "
    "rows_accepted bigint, rows_rejected bigint, first_rejected_at timestamp, fixed_at timestamp, "
    "hours_to_fix double, as_of timestamp"
)


def _cell(
    period: str,
    value: float | None,
    n: int | None,
    level: str = "community",
    geography: str = "Riverbend",
    dimension: str = "all_students",
    group: str = "All students",
    suppressed: bool = False,
) -> tuple:
    numerator = None if n is None or value is None else round(value * n)
    change = None if value is None else round(value - 0.3957, 4)
    on_track = (value >= 0.40) if level == "community" and dimension == "all_students" and value else None
    return (
        "grade3_reading",
        period,
        level,
        geography,
        dimension,
        group,
        numerator,
        n,
        value,
        suppressed,
        0.3957,
        0.6,
        change,
        on_track,
    )


# Grade-3 reading over three years; in 2023-24 two race groups are hidden and Riverside beats the
# community by 6 points on 50 students (a bright spot).
CELLS = [
    _cell("2021-22", 0.3957, 120),
    _cell("2022-23", 0.4123, 114),
    _cell("2023-24", 0.4700, 100),
    _cell("2023-24", 0.5500, 40, dimension="race_ethnicity", group="White"),
    _cell("2023-24", 0.3800, 45, dimension="race_ethnicity", group="Hispanic/Latino"),
    _cell("2023-24", None, None, dimension="race_ethnicity", group="Asian", suppressed=True),
    _cell("2023-24", None, None, dimension="race_ethnicity", group="Black/African American", suppressed=True),
    _cell("2023-24", 0.5300, 50, level="school", geography="Riverside Elementary"),
    _cell("2023-24", 0.4100, 50, level="school", geography="Oak Hill Elementary"),
]
PROGRAM = (
    "BFM-READ",
    "Reading Buddies",
    "2023-24",
    88,
    5422,
    4042,
    88,
    40,
    0.4545,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    False,
    False,
    True,
)


def _rules() -> dict:
    return privacy_rules(json.loads(dbt_project().manifest_path.read_text()))


def _serving(
    path: Path, cells: list[tuple] = CELLS, programs: list[tuple] | None = None, deliveries: list[tuple] | None = None
) -> Path:
    if programs is None:
        programs = [PROGRAM]
    with duckdb.connect(str(path)) as con:
        con.execute(f"create table indicator_values ({INDICATOR_COLUMNS})")
        con.executemany(f"insert into indicator_values values ({', '.join('?' * 14)})", cells)
        con.execute(f"create table program_performance ({PROGRAM_COLUMNS})")
        con.executemany(f"insert into program_performance values ({', '.join('?' * 19)})", programs)
        if deliveries is not None:
            con.execute(f"create table partner_data_health ({HEALTH_COLUMNS})")
            con.executemany(f"insert into partner_data_health values ({', '.join('?' * 20)})", deliveries)
    return path


def _build(serving: Path, site: Path, chart_cache: Path | None = None):
    registry, agenda = bundled_partnership()
    return build_site(serving, site, _rules(), agenda, registry, chart_cache)


def _text(site: Path) -> dict[str, str]:
    return {str(path.relative_to(site)): path.read_text(encoding="utf-8") for path in site.rglob("*.html")}


def test_the_site_is_built_from_the_serving_file_alone(agenda: Agenda, tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:  # the marts, and an unpublished table beside them
        con.execute("create schema marts")
        con.execute("create schema intermediate")
        con.execute("create table intermediate.int_grade3_reading__students as select 'Asian' as race, 0.2857 as value")
    _serving(tmp_path / "seed.duckdb")
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"attach '{tmp_path / 'seed.duckdb'}' as seed (read_only)")
        con.execute("create table marts.indicator_values as select * from seed.indicator_values")
        con.execute("create table marts.program_performance as select * from seed.program_performance")
    (tmp_path / "published").mkdir()
    publish(
        warehouse,
        tmp_path / "published" / "serving.duckdb",
        tmp_path / "exports",
        _rules(),
        agenda.privacy.min_cell_size,
    )
    warehouse.unlink()  # nothing but the published file is left to read

    site = _build(tmp_path / "published" / "serving.duckdb", tmp_path / "site")

    pages = _text(site.root)
    assert {
        "index.html",
        "benchmarking.html",
        "partners.html",
        "data-health.html",
        "indicators/grade3_reading.html",
        "programs/BFM-READ.html",
        "partners/riverbend_isd.html",
    } <= set(pages)
    assert "47.0%" in pages["index.html"] and "On track" in pages["index.html"]
    assert "28.6%" not in "".join(pages.values())
    assert (site.root / "style.css").exists()


def test_a_value_the_gate_hid_never_reaches_a_page_even_if_the_serving_file_carries_it(tmp_path: Path) -> None:
    # A serving file made by other means, where the hidden Asian cell still has its numbers, and the
    # program's better-off measures are flagged but filled in.
    leaky = [
        cell if cell[5] != "Asian" else (*cell[:6], 7, 9, 0.7778, True, 0.3957, 0.6, 0.3821, None) for cell in CELLS
    ]
    program = (*PROGRAM[:9], 9, 4, 0.4444, 300, 120, 0.4, 0.0444, *PROGRAM[16:])
    site = _build(_serving(tmp_path / "serving.duckdb", leaky, [program]), tmp_path / "site")

    pages = _text(site.root)
    everything = "".join(pages.values())
    for shown in ("77.8%", "0.7778", "+38.2", "44.4%", "40.0%", "4.4 points"):
        assert shown not in everything, shown
    indicator = pages["indicators/grade3_reading.html"]
    assert re.search(
        r'<th scope="row">Asian</th><td class="suppressed">hidden \(small numbers\)</td><td>–</td>', indicator
    )
    assert "Asian — hidden (small numbers)" in indicator
    assert (
        '<th scope="row">2023-24</th><td class="suppressed">hidden (small numbers)</td>'
        in pages["programs/BFM-READ.html"]
    )


def test_bright_spots_follow_the_stated_rule(tmp_path: Path) -> None:
    site = _build(_serving(tmp_path / "serving.duckdb"), tmp_path / "site")
    page = (site.root / "benchmarking.html").read_text(encoding="utf-8")
    assert "at least 5 percentage points better than the comparison shown, with at least 30 people" in page
    assert re.search(
        r'<th scope="row">Riverside Elementary</th><td>53.0%</td><td>50</td><td>\+6.0 points</td>'
        r"<td>Yes</td>",
        page,
    )
    assert re.search(r'<th scope="row">Oak Hill Elementary</th>.*?<td></td></tr>', page)


def test_a_failed_build_writes_no_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """(The previous site stays published: tests/test_faults_publish.py.)"""
    serving = _serving(tmp_path / "serving.duckdb")

    def broken(spec):
        raise RuntimeError("chart renderer crashed")

    monkeypatch.setattr(charts.vlc, "vegalite_to_svg", broken)
    with pytest.raises(RuntimeError, match="chart renderer crashed"):
        _build(serving, tmp_path / "site")

    assert sorted(path.name for path in tmp_path.iterdir()) == ["serving.duckdb"]


def test_nothing_published_yet_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SiteError, match=r"nothing is published yet \(.*serving.duckdb does not exist\)"):
        _build(tmp_path / "serving.duckdb", tmp_path / "site")
    assert not (tmp_path / "site").exists()


def test_without_a_delivery_history_the_health_page_says_so(tmp_path: Path) -> None:
    site = _build(_serving(tmp_path / "serving.duckdb"), tmp_path / "site")
    assert "No delivery history published yet" in (site.root / "data-health.html").read_text(encoding="utf-8")
    assert "Data from 1 partner; no delivery history published yet" in (site.root / "index.html").read_text(
        encoding="utf-8"
    )


def test_the_health_page_shows_each_partners_deliveries(tmp_path: Path) -> None:
    def delivery(
        dataset: str,
        period: str,
        start: str,
        due: str,
        status: str,
        received: str | None,
        days_late: int | None,
        rejected: int = 0,
        hours: float | None = None,
    ) -> tuple:
        return (
            "riverbend_isd",
            dataset,
            period,
            "per_term",
            start,
            due,
            status,
            received,
            days_late,
            1 + rejected,
            1,
            rejected,
            5,
            2 * rejected,
            400,
            12 * rejected,
            None,
            None,
            hours,
            "2025-07-01",
        )

    deliveries = [
        delivery("assessments", "2024-25 fall", "2024-08-01", "2024-09-15", "on_time", "2024-09-02 10:00", 0),
        delivery("assessments", "2025 spring", "2025-01-01", "2025-02-15", "late", "2025-02-20 09:00", 5, 1, 26.5),
        delivery("enrollment", "2025 spring", "2025-01-01", "2025-02-15", "on_time", "2025-02-01 08:00", 0),
        delivery("enrollment", "2025 fall", "2025-08-01", "2025-09-15", "not_due_yet", None, None),
    ]
    site = _build(_serving(tmp_path / "serving.duckdb", deliveries=deliveries), tmp_path / "site")

    health = (site.root / "data-health.html").read_text(encoding="utf-8")
    assert "No delivery history" not in health
    assert re.search(
        r"Riverbend Independent School District: assessments 2025 spring</th><td>15 Feb 2025</td>"
        r"<td>Late</td><td>20 Feb 2025</td><td>5</td><td>2</td><td>12</td><td>26.5</td>",
        health,
    )
    index = (site.root / "index.html").read_text(encoding="utf-8")
    assert "Last updated 20 Feb 2025. Data from 1 partner; 1 of 2 latest deliveries late or missing." in index
    partner = (site.root / "partners" / "riverbend_isd.html").read_text(encoding="utf-8")
    assert partner.count('<tr><th scope="row">') == 4 and "Not due yet" in partner


def test_the_activity_map_shows_overlaps_and_gaps(agenda: Agenda, registry: Registry) -> None:
    from pipelines.publish.scorecard.activity import activity_map

    mentoring = agenda.programs[1].model_copy(update={"indicators": ["grade3_reading", "grade8_math"]})
    rows = {
        row.indicator.id: row
        for row in activity_map(agenda.model_copy(update={"programs": [agenda.programs[0], mentoring]}), registry)
    }

    assert rows["grade3_reading"].status == "overlap"  # Reading Buddies and 1:1 Mentoring
    assert rows["grade8_math"].status == "served"
    assert rows["kindergarten_readiness"].status == "gap"
    enrollment = rows["postsecondary_enrollment"].activities
    assert enrollment["riverbend_college"].datasets == ("postsecondary enrollment",)
    assert enrollment["riverbend_isd"].datasets == ("graduation", "enrollment")
    assert enrollment["workforce_board"] is None


# --- the site the demo built (shared with tests/test_demo.py) -----------------------------------------


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src", "action", "srcset", "poster", "data") and value:
                self.refs.append(value)
            if name == "id" and value:
                self.ids.add(value)


def test_every_link_of_the_demo_site_resolves_to_a_file(demo_home) -> None:
    site = demo_home[0] / "site"
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 15
    broken = []
    for page in pages:
        parser = _Refs()
        parser.feed(page.read_text(encoding="utf-8"))
        for ref in parser.refs:
            parts = urlsplit(ref)
            target = (page.parent / unquote(parts.path) if parts.path else page).resolve()  # site/ is a symlink
            if parts.scheme or not target.is_file() or not target.is_relative_to(site.resolve()):
                broken.append(f"{page.relative_to(site)} -> {ref}")
    assert not broken


def test_the_demo_site_shows_each_partners_published_delivery_record(demo_home) -> None:
    home = demo_home[0]
    with duckdb.connect(str(home / "serving.duckdb"), read_only=True) as con:
        deliveries = con.execute("select partner, dataset, period from partner_data_health").fetchall()
    assert deliveries
    assert "No delivery history" not in (home / "site" / "data-health.html").read_text(encoding="utf-8")
    for partner, dataset, period in deliveries:
        page = (home / "site" / "partners" / f"{partner}.html").read_text(encoding="utf-8")
        assert f'<th scope="row">{dataset.replace("_", " ")} {period}</th>' in page
    assert "latest deliveries" in (home / "site" / "index.html").read_text(encoding="utf-8")


def test_no_page_of_the_demo_site_reaches_for_another_host(demo_home) -> None:
    site = demo_home[0] / "site"
    for path in [*site.rglob("*.html"), *site.rglob("*.css")]:
        text = path.read_text(encoding="utf-8")
        assert not re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, flags=re.IGNORECASE), path
        assert not re.search(r"<script\b|@import|url\(", text), path


def test_a_rebuild_redraws_only_the_charts_whose_numbers_changed(tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "chart-cache"
    first = _text(_build(_serving(tmp_path / "v1.duckdb"), tmp_path / "site1", cache).root)
    kept = {path.name: path.stat().st_mtime_ns for path in cache.glob("*.svg")}
    assert kept and not list(cache.glob("*.partial"))
    drawn: list[dict] = []
    draw = charts.vlc.vegalite_to_svg
    monkeypatch.setattr(charts.vlc, "vegalite_to_svg", lambda spec: drawn.append(spec) or draw(spec))

    assert _text(_build(tmp_path / "v1.duckdb", tmp_path / "site2", cache).root) == first  # same pages...
    assert drawn == []  # ... and not one chart drawn again

    corrected = [
        cell if cell[1] != "2023-24" or cell[2] != "school" else (*cell[:8], 0.4500, *cell[9:]) for cell in CELLS
    ]  # one school's value changes: only the schools chart moves
    second = _text(_build(_serving(tmp_path / "v2.duckdb", corrected), tmp_path / "site3", cache).root)
    assert len(drawn) == 1 and "Riverside Elementary" in json.dumps(drawn[0])
    assert len(list(cache.glob("*.svg"))) == len(kept)  # the replaced chart's old SVG is gone
    assert second == _text(_build(tmp_path / "v2.duckdb", tmp_path / "fresh", None).root)  # as if drawn anew
