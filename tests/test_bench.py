"""Synthetic deliveries at any size, and the benchmark: a smoke run at a small size whose pipeline and
hand-written SQL must publish the very same grade-3 reading indicator. Speed goals are reported by
`make bench`, never asserted here."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from pipelines.bench import synth
from pipelines.core.home import PROJECT_ROOT
from pipelines.sample.world import FIXED_FILE, FLAWED_FILE, generate


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))[1:]


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != synth.MANIFEST
    }


def test_the_sample_world_can_plant_flaws_at_a_rate_and_still_sends_the_true_file_as_the_fix(tmp_path: Path) -> None:
    summary = generate(tmp_path / "flawed", students_per_grade=20, flaw_rate=0.05)
    clean = generate(tmp_path / "clean", students_per_grade=20, flaws=False)

    assert len(summary["flaws"]) > 5
    assert (tmp_path / "flawed" / FIXED_FILE).read_text() == (tmp_path / "clean" / FLAWED_FILE).read_text()
    lines = (tmp_path / "flawed" / FLAWED_FILE).read_text().splitlines()
    for flaw in summary["flaws"]:
        line = lines[flaw["line"] - 1]
        assert line.startswith(flaw["student"])
        assert {"999", "READ", "N/A"} & set(line.split(",")) or line == lines[flaw["line"] - 2]
    assert clean["flaws"] == []


def test_synth_writes_exactly_the_rows_asked_the_same_bytes_whatever_the_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(synth, "SHARD_ROWS", 2_500)  # four shards in two parts each year, quickly
    monkeypatch.setattr(synth, "CAP_SHARE", 0.0015)  # parts of two shards
    one = synth.synthesize(tmp_path / "one", 9_000, seed=5, flaw_rate=0.01, jobs=1)
    two = synth.synthesize(tmp_path / "two", 9_000, seed=5, flaw_rate=0.01, jobs=2)

    assert _tree(tmp_path / "one") == _tree(tmp_path / "two")
    assert {**one, "seconds": 0} == {**two, "seconds": 0}
    assert one["shards"] == 4 and one["group_size"] == 2 and one["assessment_rows"] == 9_000
    district = tmp_path / "one" / "history" / "riverbend_isd"
    assert sorted(path.name for path in district.glob("assessments_2021-22_*")) == [
        "assessments_2021-22_p000.csv",
        "assessments_2021-22_p001.csv",
    ]
    # the true rows: history, plus the current year as resent fixed
    true = [
        row
        for pattern in ("history/riverbend_isd/assessments_*.csv", "fixes/riverbend_isd/assessments_*.csv")
        for path in sorted((tmp_path / "one").glob(pattern))
        for row in _rows(path)
    ]
    assert len(true) == 9_000
    assert len({(row[0], row[1], row[4]) for row in true}) == 9_000  # state IDs never collide across shards
    sent = [
        row
        for path in sorted((tmp_path / "one").glob("current/riverbend_isd/assessments_*.csv"))
        for row in _rows(path)
    ]
    planted = Counter({kind: n for kind, n in one["flaws"].items() if n})
    assert sum(planted.values()) > 0
    assert len(sent) == sum(1 for row in true if row[1] == "2024-25") + planted["duplicate"]
    assert (
        sum(row[5] in ("999", "N/A") or row[4] == "READ" for row in sent)
        == sum(planted.values()) - planted["duplicate"]
    )
    for kind in ("enrollments", "awards"):  # the college's store files are JSON arrays, as in the sample
        assert isinstance(
            json.loads((tmp_path / "one" / "history" / "riverbend_college" / f"{kind}.json").read_text()), list
        )
    workbooks = sorted((tmp_path / "one").glob("*/early_learning_coalition/kindergarten_readiness_*.xlsx"))
    assert len(workbooks) == 8


def test_synth_refuses_a_folder_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(synth.SynthError, match="not empty"):
        synth.synthesize(tmp_path, 1_000)


@pytest.mark.bench
@pytest.mark.slow
def test_a_small_bench_runs_and_the_pipeline_publishes_what_the_hand_written_sql_computes(tmp_path: Path) -> None:
    figures = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.bench.cli", "bench", "--rows", "20000", "--json", str(figures)],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=900,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(figures.read_text())
    assert {"rows", "pipeline_s", "baseline_s", "ratio", "peak_rss_mb", "stages", "goals"} <= set(report)
    assert report["rows"] == 20_000 and report["pipeline"]["success"]
    for stage in ("ingest", "checks", "dbt", "publish"):
        assert report["stages"][stage]["pipeline_s"] > 0 and report["stages"][stage]["baseline_s"] > 0
        assert report["stages"][stage]["pipeline_peak_rss_mb"] > 0
    assert report["indicator"]["equal"] and report["indicator"]["pipeline_rows"] > 0
    assert report["baseline"]["rows_landed"]["assessments"] == 20_000
    increment = report["incremental"]  # in a process of its own, as Dagster's run launcher starts it
    assert increment["success"] and increment["rows"] == 10_000 and increment["job"] == "ingest_riverbend_isd"
    assert increment["seconds"] > increment["run_s"] + increment["defs_load_s"] > 0
    assert increment["dbt"]["nodes"] > 0 and increment["dbt"]["outside_nodes_s"] > 0
    assert [goal["pass"] in (True, False) for goal in report["goals"]] == [True] * 5
    assert "PASS" in done.stdout or "MISS" in done.stdout
    machine = report["machine"]  # what the figures were measured on, printed with them
    assert machine["cpus"] >= 1 and machine["memory_gb"] > 0 and all(s > 0 for s in machine["import_s"].values())
    assert f"{machine['cpus']} CPUs" in done.stdout and f"duckdb {machine['versions']['duckdb']}" in done.stdout
