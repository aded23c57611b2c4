"""No run left stuck, no two runs colliding: `backbone run` on one instance twice at once, beside a run
Dagster launched, killed half-way, on a brand-new instance; and the partner data health it publishes.

The college's API is served on loopback and can hold a request until the test lets it go: a run is
then known to be in the middle of its ingest (the test waits for the request, never for a time).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.core.home import PROJECT_ROOT, Home
from tests.conftest import run_cli

LINK_KEY = "ab" * 32
WAIT = 300  # seconds: only ever reached when something is broken


class CollegeApi(ThreadingHTTPServer):
    """The college's API with no records yet. While `held`, each request waits until `release()`."""

    daemon_threads = True

    def __init__(self, held: bool) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requested = threading.Event()
        self._released = threading.Event()
        if not held:
            self._released.set()

    def release(self) -> None:
        self._released.set()

    def handle_error(self, request, client_address) -> None:
        """Quiet: the answer to a killed run finds its connection gone."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: CollegeApi

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requested.set()
        self.server._released.wait(WAIT)
        payload = json.dumps({"data": [], "next": None}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _college_api(held: bool) -> Iterator[CollegeApi]:
    server = CollegeApi(held)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release()
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def college_api() -> Iterator[CollegeApi]:
    yield from _college_api(held=False)


@pytest.fixture
def held_college_api() -> Iterator[CollegeApi]:
    yield from _college_api(held=True)


def _partner_systems(tmp_path: Path, api: CollegeApi) -> dict[str, str]:
    """Settings for the partners whose systems are pulled: the API above, a wage table with no rows."""
    database = tmp_path / "workforce.sqlite"
    with sqlite3.connect(database) as con:
        con.execute(
            "create table if not exists ui_wage_records (person_state_id text, wage_quarter text, "
            "was_employed integer, total_wages real, naics_sector text)"
        )
    return {
        "RIVERBEND_COLLEGE_API_URL": api.url,
        "RIVERBEND_COLLEGE_API_TOKEN": "college-token",
        "WORKFORCE_DB_URL": f"sqlite:///{database}",
    }


def _start_run(env: dict[str, str]) -> subprocess.Popen:
    """`backbone run` in a child process of its own session, to be waited for or killed."""
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "run"],
        cwd=PROJECT_ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
        start_new_session=True,
    )


def _runs(home: Home) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(home.dagster)) as instance:
        return list(reversed(instance.get_runs()))  # oldest first


def test_a_second_run_refuses_while_one_runs_and_starts_nothing(home, tmp_path, held_college_api) -> None:
    env = _partner_systems(tmp_path, held_college_api)
    first = _start_run(env)
    try:
        assert held_college_api.requested.wait(WAIT), "the first run never reached the college's API"
        (running,) = _runs(home)
        assert running.status == dg.DagsterRunStatus.STARTED

        second = run_cli("run", env=env)

        assert second.returncode == 3, second.stdout + second.stderr
        assert re.search(
            rf"another run holds the warehouse: run {running.run_id} started \S+ by `backbone run` "
            rf"\(\S+@\S+, pid {first.pid}\)",
            second.stderr,
        ), second.stderr
        assert "Traceback" not in second.stderr
        assert [run.run_id for run in _runs(home)] == [running.run_id]  # no second run, no alerts job
    finally:
        held_college_api.release()
        out, errors = first.communicate(timeout=WAIT)
    assert first.returncode == 0, out + errors
    assert "no deliveries yet: nothing new to land" in out


def _wait_for_message(home: Home, job_name: str, text: str, process: subprocess.Popen) -> str:
    """The first message of a `job_name` run containing `text`, once the run has logged it."""
    with dg.DagsterInstance.from_config(str(home.dagster)) as instance:
        while process.poll() is None:
            for run in instance.get_runs(dg.RunsFilter(job_name=job_name)):
                for entry in instance.all_logs(run.run_id):
                    if text in entry.user_message:
                        return entry.user_message
            time.sleep(0.2)  # polling the event log: the loop ends on the event, not on a time
    raise AssertionError(f"the {job_name} run ended without logging {text!r}: {process.communicate()}")


def test_a_run_launched_by_dagster_meanwhile_waits_for_the_warehouse(home, tmp_path, held_college_api) -> None:
    """A sensor's or schedule's run executes in its own process, as `dagster job execute` does."""
    env = _partner_systems(tmp_path, held_college_api)
    first = _start_run(env)
    try:
        assert held_college_api.requested.wait(WAIT), "the first run never reached the college's API"
        (running,) = _runs(home)
        launched = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("dagster")),
                "job",
                "execute",
                "-m",
                "pipelines.definitions",
                "-j",
                "ingest_bright_futures_mentoring",
            ],
            cwd=PROJECT_ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
        message = _wait_for_message(home, "ingest_bright_futures_mentoring", "Waiting for the warehouse", launched)
        assert f"another run holds the warehouse: run {running.run_id} started" in message
    finally:
        held_college_api.release()
        out, errors = first.communicate(timeout=WAIT)
    assert first.returncode == 0, out + errors
    launched_out, _ = launched.communicate(timeout=WAIT)
    assert launched.returncode == 0, launched_out


def test_a_killed_run_is_marked_failed_and_the_next_run_succeeds(home, tmp_path, held_college_api) -> None:
    env = _partner_systems(tmp_path, held_college_api)
    doomed = _start_run(env)
    assert held_college_api.requested.wait(WAIT), "the run never reached the college's API"
    os.killpg(doomed.pid, signal.SIGKILL)  # the process and any child: as a power loss leaves it
    doomed.communicate(timeout=WAIT)
    (killed,) = _runs(home)
    assert killed.status == dg.DagsterRunStatus.STARTED  # what the instance believes until told otherwise
    held_college_api.release()

    result = run_cli("run", env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f"run {killed.run_id} (backbone_pipeline) never finished: its process (pid {doomed.pid}) is gone; "
        "marked failed" in result.stdout
    )
    runs = _runs(home)
    assert [run.status for run in runs] == [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS]
    logs = [path.name for path in home.logs.glob("*.log")]
    assert len(logs) == 2 and all(any(run.run_id[:8] in name for name in logs) for run in runs), logs  # one each


def test_a_new_instance_with_no_deliveries_runs_cleanly(tmp_path, monkeypatch, college_api) -> None:
    """The first thing a real deployment meets: a key, no partner has delivered yet."""
    for name in ("RIVERBEND_COLLEGE_API_URL", "RIVERBEND_COLLEGE_API_TOKEN", "WORKFORCE_DB_URL", "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)
    env = {"BACKBONE_HOME": str(tmp_path / "new"), "BACKBONE_LINK_KEY": LINK_KEY}

    unset = run_cli("run", env=env)  # before the pulled partners' settings are made

    assert unset.returncode == 1
    errors = [line.strip() for line in unset.stdout.splitlines() if "step error" in line]
    assert errors == [
        "step error: raw__riverbend_college__completion: riverbend_college: environment variable "
        "RIVERBEND_COLLEGE_API_URL (API base URL) is not set",
        "step error: raw__riverbend_college__postsecondary_enrollment: riverbend_college: environment variable "
        "RIVERBEND_COLLEGE_API_URL (API base URL) is not set",
        "step error: raw__workforce_board__employment: workforce_board: environment variable WORKFORCE_DB_URL "
        "(database URL) is not set",
    ], unset.stdout

    ready = run_cli("run", env={**env, **_partner_systems(tmp_path, college_api)})

    assert ready.returncode == 0, ready.stdout + ready.stderr
    assert "no deliveries yet: nothing new to land" in ready.stdout
    assert "error" not in ready.stdout + ready.stderr


def test_the_first_run_with_deliveries_publishes_their_health(home, tmp_path, college_api) -> None:
    inbox = home.inbox / "bright_futures_mentoring"
    inbox.mkdir(parents=True)
    sample = PROJECT_ROOT / "sources" / "sample" / "history" / "bright_futures_mentoring" / "participation_2023-24.csv"
    (inbox / sample.name).write_bytes(sample.read_bytes())

    result = run_cli("run", env=_partner_systems(tmp_path, college_api))

    assert result.returncode == 0, result.stdout + result.stderr
    with duckdb.connect(str(home.serving), read_only=True) as con:
        health = con.execute("select distinct partner, dataset from partner_data_health").fetchall()
    assert health == [("bright_futures_mentoring", "program_participation")]
