"""Runs whose process died (killed, power lost) are marked failed instead of holding the warehouse.

The instance keeps such a run "in progress" for ever, and the run queue then starts no other run
needing the warehouse. Dagster notices a dead run worker only while the code server that launched it
lives, and never for a run executed in the `backbone` command's own process. Every run records its
process id when its steps start executing (Dagster's "Executing steps in process" event): a run in
progress whose process is gone is dead. Runs that died before that event are left to the daemon's
run monitoring (its start timeout, in dagster.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import psutil

IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


@dataclass(frozen=True)
class DeadRun:
    run_id: str
    job_name: str
    pid: int


def _run_process(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """The process executing the run's steps, and when it said so."""
    found = None
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.engine_event_data if entry.dagster_event else None
        pid = data.metadata.get("pid") if data else None
        if pid is not None:
            found = (int(pid.value), entry.timestamp)
    return found


def _alive(pid: int, since: float) -> bool:
    try:
        process = psutil.Process(pid)
        # A process started after the run's event has only inherited the number.
        return process.create_time() <= since and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def fail_dead_runs(instance: dg.DagsterInstance) -> list[DeadRun]:
    """Mark failed every run in progress whose process is gone; the runs so marked."""
    dead = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=IN_PROGRESS)):
        run = record.dagster_run
        process = _run_process(instance, run.run_id)
        if process is None or _alive(*process):
            continue
        pid = process[0]
        instance.report_run_failed(
            run,
            f"The run's process (pid {pid}) is gone: it was killed or its machine stopped. "
            "Marked failed by the next run on this instance.",
        )
        dead.append(DeadRun(run.run_id, run.job_name, pid))
    return dead
