"""The measured passes, each in a child process of `backbone bench` so that each one's memory and
start-up costs are its own:

    python -m pipelines.bench.phases pipeline --result FILE
    python -m pipelines.bench.phases increment --round ROUND_DIR --result FILE
    python -m pipelines.bench.phases baseline --deliveries DIR --work DIR --result FILE

`pipeline` loads the Dagster definitions, runs the pipeline job once on what is staged in the
instance and exports the published grade-3 reading indicator. `increment` stages one more delivery
and runs the job its inbox sensor starts, in a process of its own as Dagster's run launcher would
(a new interpreter: imports and definitions, then the run, GX's and dbt's start included).
`baseline` runs the hand-written SQL pass. Each writes its figures as JSON to --result; the instance
is $BACKBONE_HOME. Importing this module imports neither Dagster nor the pipeline, so the
definitions load is timed from scratch.
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
PUBLISH_STEP = "publish"
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
            steps.append(
                {
                    "step": entry.step_key,
                    "stage": stage_of(entry.step_key),
                    "start": start,
                    "seconds": round(entry.timestamp - start, 3),
                    "success": kind == dg.DagsterEventType.STEP_SUCCESS,
                    "peak_rss_mb": sampler.peak_mb(start, entry.timestamp),
                }
            )
    return steps


def _dbt_nodes(instance: Any, run_id: str, steps: list[dict[str, Any]], limit: int = 12) -> dict[str, Any]:
    """The dbt step's nodes, from the durations dagster-dbt records on each model's materialization and
    each test's check evaluation; the rest of the step is dbt's own time outside its nodes (its start and
    end, and between nodes: one thread)."""
    import dagster as dg

    kinds = {dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.ASSET_CHECK_EVALUATION}
    nodes = []
    for entry in instance.all_logs(run_id, of_type=kinds):
        if entry.step_key != DBT_STEP:
            continue
        data = entry.dagster_event.event_specific_data
        metadata = (data.materialization if hasattr(data, "materialization") else data).metadata
        if "unique_id" in metadata and "Execution Duration" in metadata:
            nodes.append(
                {"node": metadata["unique_id"].value, "seconds": round(metadata["Execution Duration"].value, 2)}
            )
    if not nodes:
        return {}
    nodes.sort(key=lambda node: -node["seconds"])
    kinds_s: dict[str, float] = {}
    for node in nodes:
        kind = node["node"].split(".")[0]
        kinds_s[kind] = kinds_s.get(kind, 0.0) + node["seconds"]
    step_s = sum(step["seconds"] for step in steps if step["step"] == DBT_STEP)
    return {
        "nodes": len(nodes),
        "step_s": round(step_s, 2),
        "outside_nodes_s": round(step_s - sum(kinds_s.values()), 2),
        "seconds_by_kind": {kind: round(seconds, 2) for kind, seconds in sorted(kinds_s.items())},
        "slowest": nodes[:limit],
    }


def _export_indicator(serving: Path, destination: Path) -> int | None:
    import duckdb

    from pipelines.core.sql import literal

    if not serving.exists():
        return None
    with duckdb.connect(str(serving), read_only=True) as con:
        con.execute(
            f"copy (select * from indicator_values where indicator_id = {literal(INDICATOR)}) "
            f"to {literal(str(destination))} (format parquet)"
        )
        return con.execute("select count(*) from indicator_values where indicator_id = ?", [INDICATOR]).fetchone()[0]


def _summary(summary: Any) -> dict[str, Any]:
    return {
        "success": summary.success,
        "run_id": summary.run_id,
        "checks_passed": summary.checks_passed,
        "checks_failed": summary.checks_failed,
        "failed_checks": summary.failed_checks,
        "errors": summary.errors,
        "log_file": str(summary.log_file),
    }


def _load(sampler: Sampler) -> tuple[Any, Any, Any, dict[str, Any]]:
    """Definitions, instance paths and instance, with the load's figures."""
    started = time.time()
    from pipelines.definitions import build_definitions
    from pipelines.runner import instance_for

    imported = time.time()
    defs = build_definitions()
    loaded = time.time()
    from pipelines.core.home import Home

    paths = Home.resolve(os.environ["BACKBONE_HOME"]).ensure()
    instance = instance_for(paths)
    return (
        defs,
        paths,
        instance,
        {
            "started": started,
            "loaded": loaded,
            "instance_s": round(time.time() - loaded, 3),
            "defs_load_s": round(loaded - started, 3),
            "defs_import_s": round(imported - started, 3),
            "defs_load_peak_rss_mb": sampler.peak_mb(started, loaded),
        },
    )


def _run(
    defs: Any, instance: Any, paths: Any, job: str, sampler: Sampler, since: float, request: Any = None
) -> dict[str, Any]:
    """Run `job` (or a request's part of it) and return its figures, from `since` to its end."""
    from pipelines.runner import run_job

    summary = run_job(defs, job, instance, paths.logs, request)
    finished = time.time()
    steps = _steps(instance, summary.run_id, sampler)
    return {
        **_summary(summary),
        "job": job,
        "finished": finished,
        "seconds": round(finished - since, 3),
        # instance, run record, resources: from `since` to the first step's start
        "run_start_s": round(min((step["start"] for step in steps), default=since) - since, 3),
        "steps": steps,
        "dbt": _dbt_nodes(instance, summary.run_id, steps),
        "peak_rss_mb": sampler.peak_mb(since, finished),
    }


def run_pipeline(result: Path) -> None:
    sampler = Sampler().start()
    defs, paths, instance, load = _load(sampler)
    from pipelines.ingest.jobs import PIPELINE_JOB  # imported by the load already

    figures = {**load, **_run(defs, instance, paths, PIPELINE_JOB, sampler, load["loaded"])}
    # the whole pass, definitions load included
    figures["seconds"] = round(figures["finished"] - load["started"], 3)
    figures["peak_rss_mb"] = sampler.peak_mb(load["started"], figures["finished"])
    export = result.with_name(f"pipeline_{INDICATOR}.parquet")
    figures["indicator_rows"] = _export_indicator(paths.serving, export)
    figures["indicator_export"] = str(export) if figures["indicator_rows"] is not None else None
    sampler.stop()
    figures["rusage_mb"] = rusage_peaks_mb()
    result.write_text(json.dumps(figures, indent=2, default=str))


def run_increment(round_dir: Path, result: Path) -> None:
    """Stage one more district delivery, evaluate its inbox sensor and run what the sensor starts."""
    sampler = Sampler().start()
    defs, paths, instance, load = _load(sampler)
    sensed = time.time()
    import dagster as dg  # imported by the load already

    from pipelines.sample.stage import stage_round

    stage_round(round_dir, paths)
    sensor = defs.resolve_sensor_def("inbox_riverbend_isd")
    context = dg.build_sensor_context(
        instance=instance, definitions=defs, resources={"backbone": defs.resources["backbone"]}
    )
    (request,) = sensor(context).run_requests
    figures = {
        **load,
        "sensor_s": round(time.time() - sensed, 3),
        "assets": len(request.asset_selection or []),
        **_run(defs, instance, paths, sensor.job_name, sampler, time.time(), request),
    }
    figures["run_s"] = figures.pop("seconds")
    figures["peak_rss_mb"] = sampler.peak_mb(load["started"], figures["finished"])
    sampler.stop()
    result.write_text(json.dumps(figures, indent=2, default=str))


def run_baseline(deliveries: Path, work: Path, result: Path) -> None:
    sampler = Sampler().start()
    started = time.time()
    from pipelines.bench import baseline

    watch = Stopwatch()
    figures = baseline.run(deliveries, work, os.environ["BACKBONE_LINK_KEY"].encode(), watch)
    finished = time.time()
    sampler.stop()
    figures.update(
        {
            "seconds": round(finished - started, 3),
            "stages": {k: round(v, 3) for k, v in watch.seconds.items()},
            "stage_peak_rss_mb": watch.peaks_mb(sampler),
            "peak_rss_mb": sampler.peak_mb(started, finished),
            "rusage_mb": rusage_peaks_mb(),
        }
    )
    result.write_text(json.dumps(figures, indent=2, default=str))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipelines.bench.phases")
    sub = parser.add_subparsers(dest="phase", required=True)
    pipeline = sub.add_parser("pipeline")
    pipeline.add_argument("--result", type=Path, required=True)
    increment = sub.add_parser("increment")
    increment.add_argument("--round", type=Path, required=True)
    increment.add_argument("--result", type=Path, required=True)
    base = sub.add_parser("baseline")
    base.add_argument("--deliveries", type=Path, required=True)
    base.add_argument("--work", type=Path, required=True)
    base.add_argument("--result", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.phase == "pipeline":
        run_pipeline(args.result)
    elif args.phase == "increment":
        run_increment(args.round, args.result)
    else:
        run_baseline(args.deliveries, args.work, args.result)


if __name__ == "__main__":
    main()
