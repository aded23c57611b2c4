"""The two measured passes, each in a child process of `backbone bench` so that each one's memory and
start-up costs are its own:

    python -m pipelines.bench.phases pipeline --home DIR --result FILE [--increment ROUND_DIR]
    python -m pipelines.bench.phases baseline --deliveries DIR --work DIR --result FILE

`pipeline` loads the Dagster definitions, runs the pipeline job once on what is staged in the
instance, exports the published grade-3 reading indicator, and then (with --increment) stages one
more delivery and runs the job its inbox sensor would start. `baseline` runs the hand-written SQL
pass. Both write their figures as JSON to --result. Importing this module imports neither Dagster
nor the pipeline, so the definitions load is timed from scratch.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from pipelines.bench.measure import Sampler, Stopwatch, rusage_peaks_mb

INDICATOR = "grade3_reading"
PUBLISH_STEP = "publish__serving_database"
DBT_STEP = "backbone_dbt"


def stage_of(step_key: str) -> str:
    """The benchmark stage a Dagster step belongs to."""
    if step_key == DBT_STEP:
        return "dbt"
    if step_key == PUBLISH_STEP:
        return "publish"
    if step_key.endswith("_expectations"):
        return "checks"
    if step_key.startswith("raw__"):
        return "ingest"
    return "other"


def _steps(instance: Any, run_id: str, sampler: Sampler) -> list[dict[str, Any]]:
    """Each step of the run: key, stage, start, seconds, outcome and the process tree's peak RSS meanwhile."""
    import dagster as dg

    kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
    started: dict[str, float] = {}
    steps = []
    for entry in instance.all_logs(run_id, of_type=kinds):
        kind = entry.dagster_event.event_type
        if kind == dg.DagsterEventType.STEP_START:
            started[entry.step_key] = entry.timestamp
        elif entry.step_key in started:
            start = started.pop(entry.step_key)
            steps.append({"step": entry.step_key, "stage": stage_of(entry.step_key), "start": start,
                          "seconds": round(entry.timestamp - start, 3),
                          "success": kind == dg.DagsterEventType.STEP_SUCCESS,
                          "peak_rss_mb": sampler.peak_mb(start, entry.timestamp)})
    return steps


def _dbt_nodes(target: Path, since: float, limit: int = 12) -> dict[str, Any]:
    """The slowest dbt nodes of the `dbt build` that wrote the instance's dbt target folder after `since`."""
    found = target / "run_results.json"
    if not found.exists() or found.stat().st_mtime < since:
        return {}
    results = json.loads(found.read_text())
    nodes = sorted(results["results"], key=lambda node: -node["execution_time"])
    kinds: dict[str, float] = {}
    for node in results["results"]:
        kind = node["unique_id"].split(".")[0]
        kinds[kind] = kinds.get(kind, 0.0) + node["execution_time"]
    return {
        "elapsed_s": round(results.get("elapsed_time", 0.0), 2),
        "nodes": len(nodes),
        "seconds_by_kind": {kind: round(seconds, 2) for kind, seconds in sorted(kinds.items())},
        "slowest": [{"node": node["unique_id"], "seconds": round(node["execution_time"], 2)} for node in nodes[:limit]],
    }


def _export_indicator(serving: Path, destination: Path) -> int | None:
    import duckdb

    from pipelines.sql import literal

    if not serving.exists():
        return None
    with duckdb.connect(str(serving), read_only=True) as con:
        con.execute(f"copy (select * from indicator_values where indicator_id = {literal(INDICATOR)}) "
                    f"to {literal(str(destination))} (format parquet)")
        return con.execute("select count(*) from indicator_values where indicator_id = ?", [INDICATOR]).fetchone()[0]


def _summary(summary: Any) -> dict[str, Any]:
    return {"success": summary.success, "run_id": summary.run_id, "checks_passed": summary.checks_passed,
            "checks_failed": summary.checks_failed, "failed_checks": summary.failed_checks,
            "errors": summary.errors, "log_file": str(summary.log_file)}


def run_pipeline(home: Path, result: Path, increment: Path | None) -> None:
    sampler = Sampler().start()
    started = time.time()
    from pipelines.definitions import PIPELINE_JOB, build_definitions
    from pipelines.runner import instance_for, run_job

    imported = time.time()
    defs = build_definitions()
    loaded = time.time()
    from pipelines.home import Home

    paths = Home.resolve(home).ensure()
    instance = instance_for(paths)
    summary = run_job(defs, PIPELINE_JOB, instance, paths.logs)
    finished = time.time()
    steps = _steps(instance, summary.run_id, sampler)
    figures: dict[str, Any] = {
        **_summary(summary), "started": started, "finished": finished,
        "defs_load_s": round(loaded - started, 3), "defs_import_s": round(imported - started, 3),
        "seconds": round(finished - started, 3),
        # instance, run record, resources: from definitions loaded to the first step's start
        "run_start_s": round(min((step["start"] for step in steps), default=loaded) - loaded, 3),
        "steps": steps, "dbt": _dbt_nodes(paths.dbt_target, loaded),
        "peak_rss_mb": sampler.peak_mb(started, finished), "defs_load_peak_rss_mb": sampler.peak_mb(started, loaded),
    }
    export = result.with_name(f"pipeline_{INDICATOR}.parquet")
    figures["indicator_rows"] = _export_indicator(paths.serving, export)
    figures["indicator_export"] = str(export) if figures["indicator_rows"] is not None else None

    if increment is not None:
        figures["incremental"] = _run_increment(defs, instance, paths, increment, sampler)
    sampler.stop()
    figures["rusage_mb"] = rusage_peaks_mb()
    result.write_text(json.dumps(figures, indent=2, default=str))


def _run_increment(defs: Any, instance: Any, paths: Any, increment: Path, sampler: Sampler) -> dict[str, Any]:
    """Stage one more district delivery and run what its inbox sensor starts, timed end to end."""
    import dagster as dg

    from pipelines.runner import run_job
    from pipelines.sample.stage import stage_round

    started = time.time()
    stage_round(increment, paths)
    sensor = defs.resolve_sensor_def("inbox_riverbend_isd")
    context = dg.build_sensor_context(instance=instance, definitions=defs,
                                      resources={"backbone": defs.resources["backbone"]})
    (request,) = sensor(context).run_requests
    job = sensor.job_name
    summary = run_job(defs, job, instance, paths.logs, request)
    finished = time.time()
    return {**_summary(summary), "job": job, "assets": len(request.asset_selection or []),
            "seconds": round(finished - started, 3),
            "steps": _steps(instance, summary.run_id, sampler), "dbt": _dbt_nodes(paths.dbt_target, started),
            "peak_rss_mb": sampler.peak_mb(started, finished)}


def run_baseline(deliveries: Path, work: Path, result: Path) -> None:
    sampler = Sampler().start()
    started = time.time()
    from pipelines.bench import baseline

    watch = Stopwatch()
    figures = baseline.run(deliveries, work, os.environ["BACKBONE_LINK_KEY"].encode(), watch)
    finished = time.time()
    sampler.stop()
    figures.update({
        "seconds": round(finished - started, 3), "stages": {k: round(v, 3) for k, v in watch.seconds.items()},
        "stage_peak_rss_mb": watch.peaks_mb(sampler), "peak_rss_mb": sampler.peak_mb(started, finished),
        "rusage_mb": rusage_peaks_mb(),
    })
    result.write_text(json.dumps(figures, indent=2, default=str))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipelines.bench.phases")
    sub = parser.add_subparsers(dest="phase", required=True)
    pipeline = sub.add_parser("pipeline")
    pipeline.add_argument("--home", type=Path, required=True)
    pipeline.add_argument("--result", type=Path, required=True)
    pipeline.add_argument("--increment", type=Path)
    base = sub.add_parser("baseline")
    base.add_argument("--deliveries", type=Path, required=True)
    base.add_argument("--work", type=Path, required=True)
    base.add_argument("--result", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.phase == "pipeline":
        run_pipeline(args.home, args.result, args.increment)
    else:
        run_baseline(args.deliveries, args.work, args.result)


if __name__ == "__main__":
    main()
