"""`backbone bench`: the whole pipeline through Dagster against the same essential work in plain SQL.

1. Synthetic deliveries of N assessment rows (`synth`), clean, staged into a fresh instance the way
   partners deliver (inbox files, the college's API store, the workforce board's database).
2. Child process `pipeline`: definitions load + one run of the pipeline job, timed per stage from
   the run's step events (`phases`).
3. Child process `increment`: one more 10,000-row district delivery, end to end in a new process,
   as Dagster's run launcher starts each run: interpreter, imports and definitions, the run.
4. Child process `baseline`: the hand-written DuckDB pass over the district's files (`baseline`).
5. The published grade-3 reading indicator of both must be identical; the report prints both
   passes per stage (wall seconds, peak RSS of the process tree), their ratio, and each goal
   PASS/MISS. Goals are stated for 10 million assessment rows on a 2-core machine.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.bench import baseline, synth
from pipelines.bench.measure import Sampler, machine
from pipelines.core.home import PROJECT_ROOT, Home
from pipelines.models.project import dbt_executable
from pipelines.sample.world import ASSESSMENT_HEADER, CURRENT_YEAR, label, performance_level

STAGES = ("ingest", "checks", "dbt", "publish")
GOAL_ROWS = 10_000_000
INCREMENT_ROWS = 10_000
CHECKED_STEPS = tuple(f"raw__riverbend_isd__{dataset}_expectations" for dataset in baseline.DATASETS)


class BenchError(RuntimeError):
    pass


@dataclass(frozen=True)
class Goal:
    name: str
    limit: float
    unit: str

    def judge(self, value: float | None) -> dict[str, Any]:
        return {
            "goal": self.name,
            "value": value,
            "limit": self.limit,
            "unit": self.unit,
            "pass": value is not None and value <= self.limit,
        }


GOALS = {
    "ratio": Goal("pipeline time <= 2.0 x hand-written SQL", 2.0, "x"),
    "peak_rss": Goal("peak RSS of the pipeline's process tree <= 2.5 GB", 2560, "MB"),
    "checks_ratio": Goal("GX validation <= 2.5 x the same checks in plain SQL", 2.5, "x"),
    "defs_load": Goal("Dagster definitions load <= 3 s", 3.0, "s"),
    "incremental": Goal(f"a new {INCREMENT_ROWS:,}-row delivery end to end <= 15 s", 15.0, "s"),
}


def _deliveries(directory: Path, rows: int, seed: int, jobs: int | None, say: Callable[[str], None]) -> dict:
    manifest = synth.read_manifest(directory)
    if manifest and (manifest["rows"], manifest["seed"], manifest["flaw_rate"]) == (rows, seed, 0.0):
        say(f"reusing the synthetic deliveries in {directory}")
        return manifest
    say(f"synthesizing {rows:,} assessment rows into {directory}")
    return synth.synthesize(directory, rows, seed=seed, jobs=jobs, progress=lambda line: say(f"  {line}"))


def write_increment(deliveries: Path, round_dir: Path, rows: int = INCREMENT_ROWS) -> int:
    """A corrections file from the district: `rows` test sittings it sent before (this year's first), re-scored."""
    sources = [
        path
        for round_name in ("current", "history")
        for path in sorted((deliveries / round_name / "riverbend_isd").glob("assessments_*.csv"))
    ]
    target = round_dir / "riverbend_isd" / f"assessments_{label(CURRENT_YEAR)}_corrections.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with target.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(ASSESSMENT_HEADER)
        for source in sources:
            with source.open(newline="", encoding="utf-8") as handle:
                reader = csv.reader(handle)
                if tuple(next(reader)) != ASSESSMENT_HEADER:
                    raise BenchError(f"{source}: not a district assessments file")
                for row in reader:
                    if written == rows:
                        return written
                    score = min(400, int(row[5]) + 7)
                    writer.writerow([*row[:5], score, performance_level(score)])
                    written += 1
    return written


def _child(phase: str, args: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run one pass in a new interpreter; its figures, with the time it was launched at."""
    result = log.with_suffix(".json")
    # Each pass starts with the disk quiet: the instance staged just before (gigabytes of deliveries
    # at 10M rows) would otherwise still be written back while the pass runs, and billed to it.
    os.sync()
    launched = time.time()
    with log.open("w") as output:
        done = subprocess.run(
            [sys.executable, "-m", "pipelines.bench.phases", phase, *args, "--result", str(result)],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0 or not result.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise BenchError(f"the {phase} pass failed (exit {done.returncode}); last lines of {log}:\n{tail}")
    return {**json.loads(result.read_text()), "launched": launched}


def _stage_figures(pipeline: dict[str, Any], base: dict[str, Any]) -> dict[str, dict[str, Any]]:
    steps = pipeline["steps"]
    stages: dict[str, dict[str, Any]] = {
        "load": {"pipeline_s": pipeline["defs_load_s"], "pipeline_peak_rss_mb": pipeline["defs_load_peak_rss_mb"]}
    }
    for stage in STAGES:
        mine = [step for step in steps if step["stage"] == stage]
        peaks = [step["peak_rss_mb"] for step in mine if step["peak_rss_mb"] is not None]
        stages[stage] = {
            "pipeline_s": round(sum(step["seconds"] for step in mine), 3),
            "pipeline_peak_rss_mb": max(peaks) if peaks else None,
            "baseline_s": base["stages"].get(stage, 0.0),
            "baseline_peak_rss_mb": base["stage_peak_rss_mb"].get(stage),
        }
    others = [step for step in steps if step["stage"] == "other"]
    stages["other"] = {  # the pipeline's other steps (agenda, equity coverage); the baseline's set-up
        "pipeline_s": round(sum(step["seconds"] for step in others), 3),
        "pipeline_peak_rss_mb": max((step["peak_rss_mb"] or 0 for step in others), default=None),
        "baseline_s": round(base["seconds"] - sum(base["stages"].values()), 3),
    }
    stages["dagster"] = {  # instance, run start and end, and between steps: Dagster's own time
        "pipeline_s": round(pipeline["seconds"] - sum(figures["pipeline_s"] for figures in stages.values()), 3)
    }
    for figures in stages.values():
        if figures.get("baseline_s"):
            figures["ratio"] = round(figures["pipeline_s"] / figures["baseline_s"], 2)
    return stages


def run_bench(
    rows: int,
    *,
    seed: int = 2026,
    work: Path | None = None,
    deliveries: Path | None = None,
    jobs: int | None = None,
    increment: bool = True,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run both passes in child processes under `work` (a temporary folder unless given) and return the report."""
    from pipelines.sample.api import SampleCollegeApi
    from pipelines.sample.stage import stage_round

    keep = work is not None
    work = Path(work) if keep else Path(tempfile.mkdtemp(prefix="backbone-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        sampler = Sampler().start()
        started = time.time()
        deliveries = Path(deliveries) if deliveries else work / "deliveries"
        manifest = _deliveries(deliveries, rows, seed, jobs, say)
        synthesized = time.time()

        home = work / "home"
        shutil.rmtree(home, ignore_errors=True)
        paths = Home.resolve(home).ensure()
        say(f"staging the deliveries into instance {paths.root}")
        for round_name in ("history", "current"):
            stage_round(deliveries / round_name, paths)
        staged = time.time()
        sampler.stop()  # the children sample themselves
        increment_dir = work / "increment"
        shutil.rmtree(increment_dir, ignore_errors=True)
        increment_rows = write_increment(deliveries, increment_dir) if increment else 0

        key, token = secrets.token_hex(32), secrets.token_urlsafe(16)
        if keep:  # a kept instance can be run again (`backbone run --home`) with the key it was landed with
            paths.link_key_file.write_text(key + "\n")
        env = {name: value for name, value in os.environ.items() if not name.startswith("BACKBONE_SMTP_")}
        env |= {
            "BACKBONE_HOME": str(paths.root),
            "DAGSTER_HOME": str(paths.dagster),
            "BACKBONE_LINK_KEY": key,
            "WORKFORCE_DB_URL": f"sqlite:///{paths.sample / 'workforce_board.sqlite'}",
            "RIVERBEND_COLLEGE_API_TOKEN": token,
            # Staged by renaming whole files into the inbox, as the demo: nothing to wait for.
            "BACKBONE_INBOX_SETTLE_SECONDS": "0",
        }
        with SampleCollegeApi(store_dir=paths.sample / "api", token=token) as api:
            env["RIVERBEND_COLLEGE_API_URL"] = api.url
            say("pipeline pass: Dagster definitions + one run of the pipeline job")
            pipeline = _child("pipeline", [], env, work / "pipeline.log")
        incremental: dict[str, Any] | None = None
        if increment:
            say(f"a {increment_rows:,}-row delivery, run in a new process as Dagster's run launcher starts it")
            incremental = _child("increment", ["--round", str(increment_dir)], env, work / "increment.log")
            # end to end: from launching the run's process (interpreter, imports, definitions) to its end
            incremental |= {
                "rows": increment_rows,
                "seconds": round(incremental["finished"] - incremental["launched"], 3),
                "process_start_s": round(incremental["started"] - incremental["launched"], 3),
            }
        say("baseline pass: hand-written DuckDB SQL")
        base = _child(
            "baseline", ["--deliveries", str(deliveries), "--work", str(work / "baseline")], env, work / "baseline.log"
        )

        if pipeline["indicator_export"]:
            count, examples = baseline.differences(Path(pipeline["indicator_export"]), Path(base["export"]))
        else:
            count, examples = None, ["the pipeline published nothing"]
        stages = _stage_figures(pipeline, base)
        checks_s = sum(step["seconds"] for step in pipeline["steps"] if step["step"] in CHECKED_STEPS)
        peak = max(filter(None, [pipeline["peak_rss_mb"], pipeline["rusage_mb"]["self"]]))
        report = {
            "rows": rows,
            "pipeline_s": pipeline["seconds"],
            "baseline_s": base["seconds"],
            "ratio": round(pipeline["seconds"] / base["seconds"], 2),
            "peak_rss_mb": round(peak, 1),
            "baseline_peak_rss_mb": base["peak_rss_mb"],
            "stages": stages,
            "checks": {
                "gx_s": round(checks_s, 3),
                "steps": list(CHECKED_STEPS),
                "sql_s": base["stages"].get("checks"),
                "ratio": round(checks_s / base["stages"]["checks"], 2) if base["stages"].get("checks") else None,
            },
            "defs_load_s": pipeline["defs_load_s"],
            "incremental": incremental,
            "indicator": {
                "equal": count == 0,
                "differences": count,
                "examples": examples,
                "pipeline_rows": pipeline["indicator_rows"],
                "baseline_rows": base["indicator_cells"],
            },
            "pipeline": pipeline,
            "baseline": base,
            "synth": {key: value for key, value in manifest.items() if key != "files"},
            "synth_s": round(synthesized - started, 1),
            "staging_s": round(staged - synthesized, 1),
            "driver_peak_rss_mb": sampler.peak_mb(started, staged),
            "machine": machine(dbt_executable()),
            "work_dir": str(work) if keep else None,
        }
        report["goals"] = [
            GOALS["ratio"].judge(report["ratio"]),
            GOALS["peak_rss"].judge(report["peak_rss_mb"]),
            GOALS["checks_ratio"].judge(report["checks"]["ratio"]),
            GOALS["defs_load"].judge(report["defs_load_s"]),
            GOALS["incremental"].judge(incremental["seconds"] if incremental and incremental["success"] else None),
        ]
        return report
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def _cell(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _machine_line(facts: dict[str, Any]) -> str:
    versions = ", ".join(f"{name} {number}" for name, number in facts["versions"].items())
    imports = ", ".join(f"{name} {_cell(seconds, 2)} s" for name, seconds in facts["import_s"].items())
    return (
        f"on {facts['cpu']}, {facts['cpus']} CPUs, {facts['memory_gb']} GB, Python {facts['python']}; {versions}\n"
        f"a new interpreter importing {imports}"
    )


def _dbt_lines(dbt: dict[str, Any], slowest: int) -> list[str]:
    if not dbt:
        return []
    kinds = ", ".join(f"{kind}s {seconds} s" for kind, seconds in dbt["seconds_by_kind"].items())
    return [
        f"  dbt step {dbt['step_s']} s: {dbt['nodes']} nodes ({kinds}), dbt outside its nodes (start, end, "
        f"between nodes) {dbt['outside_nodes_s']} s; slowest:",
        *(f"    {node['seconds']:>9.2f} s  {node['node']}" for node in dbt["slowest"][:slowest]),
    ]


def render(report: dict[str, Any]) -> str:
    """The report as text: stages side by side, the slowest steps, the goals."""
    lines = [
        f"Backbone bench: {report['rows']:,} assessment rows "
        f"({report['synth']['students']:,} students; synth {report['synth_s']} s, staging {report['staging_s']} s)",
        _machine_line(report["machine"]),
        "",
        f"  {'stage':<10}{'pipeline s':>12}{'peak MB':>10}{'SQL s':>10}{'peak MB':>10}{'ratio':>8}",
    ]
    for stage, figures in report["stages"].items():
        lines.append(
            f"  {stage:<10}{_cell(figures['pipeline_s'], 2):>12}{_cell(figures.get('pipeline_peak_rss_mb'), 0):>10}"
            f"{_cell(figures.get('baseline_s'), 2):>10}{_cell(figures.get('baseline_peak_rss_mb'), 0):>10}"
            f"{_cell(figures.get('ratio'), 2):>8}"
        )
    lines.append(
        f"  {'total':<10}{_cell(report['pipeline_s'], 2):>12}{_cell(report['peak_rss_mb'], 0):>10}"
        f"{_cell(report['baseline_s'], 2):>10}{_cell(report['baseline_peak_rss_mb'], 0):>10}"
        f"{_cell(report['ratio'], 2):>8}"
    )
    pipeline = report["pipeline"]
    if not pipeline["success"]:
        lines += ["", f"  the pipeline run FAILED: {'; '.join(pipeline['errors'] + pipeline['failed_checks'])}"]
    slowest = sorted(pipeline["steps"], key=lambda step: -step["seconds"])[:8]
    lines += ["", "  slowest pipeline steps:"]
    lines += [
        f"    {step['seconds']:>9.2f} s  {_cell(step['peak_rss_mb'], 0):>6} MB  {step['step']}" for step in slowest
    ]
    lines += _dbt_lines(pipeline["dbt"], 6)
    lines.append(
        f"  definitions load {pipeline['defs_load_s']:.2f} s (imports {pipeline['defs_import_s']:.2f} s); "
        f"instance and run start before the first step {pipeline['run_start_s']:.2f} s"
    )
    checks = report["checks"]
    lines += [
        "",
        f"  GX checks of assessments + enrollment: {checks['gx_s']:.2f} s; the same checks in SQL: "
        f"{_cell(checks['sql_s'], 2)} s",
    ]
    if report["incremental"]:
        inc = report["incremental"]
        lines += [
            "",
            f"  {inc['rows']:,}-row delivery end to end ({inc['job']}, a new process): {inc['seconds']:.2f} s"
            f"{'' if inc['success'] else ' (run FAILED)'} = interpreter {inc['process_start_s']:.2f} s"
            f" + definitions {inc['defs_load_s']:.2f} s + instance {inc['instance_s']:.2f} s"
            f" + staging and sensor {inc['sensor_s']:.2f} s"
            f" + run {inc['run_s']:.2f} s:",
        ]
        lines += [f"    {step['seconds']:>9.2f} s  {step['step']}" for step in inc["steps"]]
        lines += _dbt_lines(inc["dbt"], 3)
    indicator = report["indicator"]
    lines += [
        "",
        "  grade-3 reading indicator, pipeline vs SQL: "
        + (
            f"identical ({indicator['pipeline_rows']} cells)"
            if indicator["equal"]
            else f"DIFFERENT ({indicator['differences']} rows)"
        ),
    ]
    lines += [f"    {example}" for example in indicator["examples"]]
    lines += [
        "",
        "  goals"
        + ("" if report["rows"] >= GOAL_ROWS else f" (stated for {GOAL_ROWS:,} rows; this run has {report['rows']:,})")
        + ":",
    ]
    for goal in report["goals"]:
        value = "-" if goal["value"] is None else f"{goal['value']:,.2f} {goal['unit']}"
        lines.append(f"    {'PASS' if goal['pass'] else 'MISS'}  {goal['goal']}: {value}")
    return "\n".join(lines)
