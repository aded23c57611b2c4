"""One run at a time writes the warehouse, whichever way it was started.

DuckDB admits one writer process. The run queue keeps a sensor's or schedule's run waiting while
another warehouse run is in progress, but `backbone run` executes in its own process without the
queue, and the queue cannot stop a run that starts between its checks. So every run's process holds
an OS lock on the instance's `warehouse.lock` while its steps execute: `backbone run` refuses to
start when the lock is taken, a launched run waits for it. The kernel releases the lock when the
holding process dies, however it dies. The file names the holder, for the message of the refused.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import getpass
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import dagster as dg

LOCK_FILE = "warehouse.lock"


@dataclass(frozen=True)
class Holder:
    """Who holds the warehouse: the run, when it started and what started it."""

    by: str
    started_at: str
    run_id: str | None = None

    def __str__(self) -> str:
        run = f"run {self.run_id}" if self.run_id else "a run"
        return f"{run} started {self.started_at} by {self.by}"


class WarehouseBusy(RuntimeError):
    def __init__(self, holder: Holder | None) -> None:
        self.holder = holder
        super().__init__(f"another run holds the warehouse: {holder or 'a run (no details recorded)'}")


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _me() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}, pid {os.getpid()}"


class WarehouseLock:
    """The lock of the instance whose directory is `instance_dir`, held through an open file."""

    def __init__(self, instance_dir: str | os.PathLike[str], by: str) -> None:
        self.path = Path(instance_dir) / LOCK_FILE
        self.by = f"{by} ({_me()})"
        self._file = None

    def acquire(self, *, wait: bool) -> None:
        """Take the lock, or raise WarehouseBusy (naming the holder) if `wait` is false and it is held."""
        handle = open(self.path, "a+")  # noqa: SIM115 - held open as the lock; never truncated before it is ours
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.close()
            raise WarehouseBusy(self.holder()) from None
        self._file = handle
        self.record(None)

    def record(self, run_id: str | None) -> None:
        """Name the run that now holds the warehouse."""
        assert self._file is not None, "record() needs the lock"
        self._file.seek(0)
        self._file.truncate()
        self._file.write(json.dumps(asdict(Holder(by=self.by, started_at=_now(), run_id=run_id))))
        self._file.flush()

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the last descriptor releases the lock
            self._file = None

    def holder(self) -> Holder | None:
        """Who the file names: the holder, while the lock is held."""
        try:
            return Holder(**json.loads(self.path.read_text()))
        except (OSError, ValueError, TypeError):
            return None  # the holder is writing it right now

    @contextmanager
    def held(self, *, wait: bool) -> Iterator[WarehouseLock]:
        self.acquire(wait=wait)
        try:
            yield self
        finally:
            self.release()


def _started_by(tags: dict[str, str]) -> str:
    if "dagster/sensor_name" in tags:
        return f"sensor {tags['dagster/sensor_name']}"
    if "dagster/schedule_name" in tags:
        return f"schedule {tags['dagster/schedule_name']}"
    return "the Dagster UI or `dagster` command"


class _HoldingWarehouse(dg.Executor):
    """Runs `inner` (the in-process executor) while holding the warehouse, waiting for it if need be."""

    def __init__(self, inner: dg.Executor) -> None:
        self.inner = inner

    @property
    def retries(self):  # the type is not exported by dagster
        return self.inner.retries

    @property
    def step_dependency_config(self):
        return self.inner.step_dependency_config

    def execute(self, plan_context, execution_plan) -> Iterator[dg.DagsterEvent]:
        run = plan_context.dagster_run
        lock = WarehouseLock(plan_context.instance.root_directory, _started_by(dict(run.tags)))
        try:
            lock.acquire(wait=False)
        except WarehouseBusy as busy:
            plan_context.log.info(f"Waiting for the warehouse: {busy}")
            lock.acquire(wait=True)
        lock.record(run.run_id)
        try:
            yield from self.inner.execute(plan_context, execution_plan)
        finally:
            lock.release()


@dg.executor(name="in_process", config_schema=dg.in_process_executor.config_schema)
def warehouse_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
    """Dagster's in-process executor, holding the warehouse lock while the run's steps execute.

    `execute_in_process` (the `backbone run` path) replaces a job's executor: that path takes the
    lock itself, before the run starts.
    """
    return _HoldingWarehouse(dg.in_process_executor.executor_creation_fn(init_context))
