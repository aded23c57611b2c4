"""Run the Definitions' jobs in this process against the instance under BACKBONE_HOME."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from pipelines.core.home import Home
from pipelines.core.warehouse_lock import WarehouseLock


@dataclass
class RunSummary:
    job: str
    success: bool
    run_id: str
    log_file: Path
    checks_passed: int = 0
    checks_failed: int = 0
    failed_checks: list[str] = field(default_factory=list)
    materialized: set[str] = field(default_factory=set)
    failed_steps: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    new_deliveries: int = 0  # what the raw assets landed: submissions not seen before


def instance_for(home: Home) -> dg.DagsterInstance:
    # The CLI's runs land in the same instance the UI shows (`make ui` uses this DAGSTER_HOME).
    os.environ["DAGSTER_HOME"] = str(home.dagster)
    return dg.DagsterInstance.get()


def _error_line(error) -> str:
    line = error.message.strip().splitlines()[0]
    if error.cls_name == "Failure":  # raised with a message written for the user: no class name
        line = re.sub(r"^[\w.]*Failure: ", "", line)
    return line


def run_job(
    defs: dg.Definitions,
    job_name: str,
    instance: dg.DagsterInstance,
    log_dir: Path,
    request: dg.RunRequest | None = None,
    holding: WarehouseLock | None = None,
) -> RunSummary:
    """Run `job_name`, or the part of it a sensor's or schedule's `request` selects, in this process;
    the warehouse lock it is `holding` then names this run."""
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    job = defs.resolve_job_def(job_name)
    if request is not None and request.asset_selection is not None:
        job = job.get_subset(
            asset_selection=set(request.asset_selection),
            asset_check_selection=None if request.asset_check_keys is None else set(request.asset_check_keys),
        )
    run_id = str(uuid.uuid4())
    if holding is not None:
        holding.record(run_id)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"{dt.datetime.now():%Y%m%d-%H%M%S}-{job_name}-{run_id[:8]}.log"
    # dbt's and Dagster's own output would drown the summary: it goes to a log file (and, as
    # always, into the run's log in the Dagster UI).
    with log_file.open("w") as log, contextlib.redirect_stdout(log):
        result = job.execute_in_process(
            instance=instance,
            run_id=run_id,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            tags=dict(request.tags) if request is not None else None,
        )
    summary = RunSummary(job=job_name, success=result.success, run_id=result.run_id, log_file=log_file)
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed:
            summary.checks_passed += 1
        else:
            summary.checks_failed += 1
            summary.failed_checks.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}")
    for event in result.all_events:
        if event.is_step_materialization:
            summary.materialized.add(event.asset_key.to_user_string())
            new = event.step_materialization_data.materialization.metadata.get("new_submissions")
            summary.new_deliveries += new.value if new is not None else 0
        if event.is_step_failure:
            summary.failed_steps.append(event.step_key or "")
            error = event.step_failure_data.error
            while error is not None and error.cause is not None and error.cls_name.startswith("DagsterExecution"):
                error = error.cause  # Dagster wraps the step's own error: show that one
            if error and error.cls_name != "DagsterAssetCheckFailedError":
                summary.errors.append(f"{event.step_key}: {_error_line(error)}")
    return summary
