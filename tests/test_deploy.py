"""The production deployment in deploy/, run as its services would run it: the code server, the daemon
and the webserver as separate processes (the units' own command lines), Dagster's storage in
PostgreSQL (deploy/dagster.yaml as it is), a real mail server on loopback. A district drops a flawed
file; the daemon's sensors alone take it from there to the district's mail."""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple, TypeVar

import httpx
import psutil
import pytest
import sqlalchemy as sa

from pipelines.core.home import EXPECTATIONS_DIR, PARTNERS_DIR, PROJECT_ROOT, Home
from pipelines.core.registry import load_registry
from tests.conftest import Inbox, free_port, run_cli

DEPLOY = PROJECT_ROOT / "deploy"
FLAWED = PROJECT_ROOT / "sources" / "sample" / "current" / "riverbend_isd" / "assessments_2024-25.csv"
UNITS = ("backbone-code-server", "backbone-daemon", "backbone-webserver")  # started in this order
STARTUP_SECONDS = 180
DROP_TO_MAIL_SECONDS = 240  # an upper bound for a loaded machine; the goal is a minute (printed, not asserted)
T = TypeVar("T")


def _env_file(path: Path) -> dict[str, str]:
    """VAR=value lines, as systemd's EnvironmentFile= reads them (comments and empty values left out)."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs if value.strip()}


def _exec_start(unit: str, env: dict[str, str]) -> list[str]:
    """The unit's ExecStart= with this checkout for /opt/backbone and ${VAR} from `env`."""
    text = (DEPLOY / "systemd" / f"{unit}.service").read_text().replace("\\\n", " ")
    command = re.search(r"^ExecStart=(.*)$", text, re.MULTILINE)[1]
    command = command.replace("/opt/backbone/.venv/bin/", f"{Path(sys.executable).parent}/")
    command = command.replace("/opt/backbone", str(PROJECT_ROOT))
    return [re.sub(r"\$\{(\w+)\}", lambda var: env[var[1]], word) for word in shlex.split(command)]


class Services:
    """The units' processes, each in its own session (stopped with whatever it started), and their logs."""

    def __init__(self, logs: Path) -> None:
        self.logs, self.processes = logs, []

    def start(self, unit: str, env: dict[str, str]) -> None:
        with (self.logs / f"{unit}.log").open("w") as log:
            self.processes.append(
                subprocess.Popen(
                    _exec_start(unit, env),
                    env=env,
                    cwd=PROJECT_ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def wait_for(self, what: str, probe: Callable[[], T | None], seconds: float) -> T:
        """Poll `probe` until it returns something; fail naming `what`, with the logs, at the deadline
        or as soon as a service has exited."""
        deadline = time.monotonic() + seconds
        while (result := probe()) is None:
            exited = [" ".join(process.args[:3]) for process in self.processes if process.poll() is not None]
            if exited or time.monotonic() > deadline:
                tails = "\n".join(
                    f"--- {log.name}\n{log.read_text()[-3000:]}" for log in sorted(self.logs.glob("*.log"))
                )
                pytest.fail(
                    f"no {what}: {'exited: ' + ', '.join(exited) if exited else f'{seconds:.0f} s passed'}\n{tails}"
                )
            time.sleep(0.2)
        return result

    def stop(self) -> None:
        for process in reversed(self.processes):  # the code server last: the others hold calls open to it
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=90)  # the code server lets open calls finish for up to 60 s
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


class Webserver:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    def graphql(self, query: str) -> dict | None:
        try:
            answer = httpx.post(f"{self.url}/graphql", json={"query": query}, timeout=10)
        except httpx.HTTPError:
            return None  # not up yet
        return answer.json()["data"] if answer.status_code == 200 else None

    def ready(self) -> bool | None:
        """The code location loaded and the daemon's sensor loop reporting healthy."""
        data = self.graphql("""{
            workspaceOrError { ... on Workspace { locationEntries {
                name locationOrLoadError { __typename } } } }
            instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }""")
        if data is None:
            return None
        loaded = [
            entry["name"]
            for entry in data["workspaceOrError"]["locationEntries"]
            if (entry["locationOrLoadError"] or {}).get("__typename") == "RepositoryLocation"
        ]
        healthy = {
            status["daemonType"]
            for status in data["instance"]["daemonHealth"]["allDaemonStatuses"]
            if status["healthy"]
        }
        return True if loaded == ["backbone"] and "SENSOR" in healthy else None

    def runs(self) -> list[dict]:
        data = self.graphql("{ runsOrError { ... on Runs { results { jobName status tags { key value } } } } }")
        return data["runsOrError"]["results"] if data else []


class Production(NamedTuple):
    home: Home
    webserver: Webserver
    services: Services
    env: dict[str, str]


@pytest.fixture
def production(tmp_path: Path, postgres_url: str, smtp_server: tuple[Inbox, int]) -> Iterator[Production]:
    """The three services on loopback against a scratch PostgreSQL database, with the environment of
    deploy/backbone.env.example and this machine's values where they must differ."""
    _, smtp_port = smtp_server
    pg = sa.make_url(postgres_url)
    home = Home(tmp_path / "home")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("BACKBONE_", "DAGSTER_", "RIVERBEND_", "WORKFORCE_"))
    }
    example = _env_file(DEPLOY / "backbone.env.example")
    env |= {
        name: value
        for name, value in example.items()
        if not name.startswith(("BACKBONE_SMTP_USER", "RIVERBEND_", "WORKFORCE_", "BACKBONE_DBT"))
    }
    env |= {
        "BACKBONE_HOME": str(home.root),
        "DAGSTER_HOME": str(home.dagster),
        "BACKBONE_LINK_KEY": secrets.token_hex(32),
        "DAGSTER_PG_HOST": pg.host,
        "DAGSTER_PG_PORT": str(pg.port),
        "DAGSTER_PG_DB": pg.database,
        "DAGSTER_PG_USER": pg.username,
        "DAGSTER_PG_PASSWORD": pg.password or "",
        "BACKBONE_CODE_SERVER_PORT": str(free_port()),
        "DAGSTER_WEBSERVER_PORT": str(free_port()),
        "BACKBONE_SMTP_HOST": "127.0.0.1",
        "BACKBONE_SMTP_PORT": str(smtp_port),
        "BACKBONE_SMTP_STARTTLS": "false",
        "BACKBONE_DUCKDB_MEMORY_LIMIT": "1GB",
        "BACKBONE_INBOX_SETTLE_SECONDS": "0",
    }
    home.dagster.mkdir(parents=True)
    shutil.copy(DEPLOY / "dagster.yaml", home.dagster / "dagster.yaml")  # the file as it is installed
    services = Services(tmp_path / "logs")
    services.logs.mkdir()
    try:
        for unit in UNITS:
            services.start(unit, env)
        webserver = Webserver(int(env["DAGSTER_WEBSERVER_PORT"]))
        services.wait_for("loaded code location and healthy sensor daemon", webserver.ready, STARTUP_SECONDS)
        yield Production(home, webserver, services, env)
    finally:
        services.stop()


def _other_addresses() -> list[str]:
    return [
        address.address
        for addresses in psutil.net_if_addrs().values()
        for address in addresses
        if address.family == socket.AF_INET and not address.address.startswith("127.")
    ]


@pytest.mark.slow
def test_a_flawed_delivery_reaches_the_district_by_mail_through_the_production_services(
    production: Production, smtp_server: tuple[Inbox, int]
) -> None:
    home, webserver, services, env = production
    inbox, _ = smtp_server
    district = load_registry(PARTNERS_DIR, EXPECTATIONS_DIR).partners["riverbend_isd"]
    contacts = {contact.email for contact in district.contacts}

    # The UI answers on loopback, and on no other address of this machine.
    assert httpx.get(f"{webserver.url}/server_info", timeout=10).status_code == 200
    port = int(env["DAGSTER_WEBSERVER_PORT"])
    print(f"\nwebserver refuses connections on {', '.join(_other_addresses()) or '(no other IPv4 address here)'}")
    for address in _other_addresses():
        with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
            sock.settimeout(5)
            sock.connect((address, port))

    # The district uploads its file (written under a hidden name, then renamed, as uploads do). It is
    # backdated so that the inbox's settle interval, whatever it is, does not delay this run.
    folder = home.inbox / "riverbend_isd"
    folder.mkdir(parents=True, exist_ok=True)
    upload = folder / f".{FLAWED.name}.part"
    shutil.copy(FLAWED, upload)
    os.utime(upload, (time.time() - 3600, time.time() - 3600))
    upload.rename(folder / FLAWED.name)
    dropped = time.monotonic()

    def district_mail() -> int | None:
        return next(
            (
                number
                for number, message in enumerate(inbox.messages)
                if {address.addr_spec for address in message["To"].addresses} == contacts
            ),
            None,
        )

    number = services.wait_for("mail to the district", district_mail, DROP_TO_MAIL_SECONDS)
    elapsed = time.monotonic() - dropped
    print(f"\nfile dropped -> district mail received: {elapsed:.1f} s (two sensor intervals included; goal 60 s)")

    def finished_runs() -> dict[str, dict] | None:
        runs = {run["jobName"]: run for run in webserver.runs() if run["status"] in ("SUCCESS", "FAILURE")}
        return runs if {"ingest_riverbend_isd", "partner_alerts_job"} <= set(runs) else None

    runs = services.wait_for("both runs finished", finished_runs, 60)
    sensors = {
        name: {tag["key"]: tag["value"] for tag in run["tags"]}.get("dagster/sensor_name") for name, run in runs.items()
    }
    assert runs["ingest_riverbend_isd"]["status"] == "FAILURE"  # its blocking check failed
    assert sensors["ingest_riverbend_isd"] == "inbox_riverbend_isd"
    assert runs["partner_alerts_job"]["status"] == "SUCCESS"
    assert sensors["partner_alerts_job"] == "alert_partners_after_failed_run"

    mail, (_, recipients) = inbox.messages[number], inbox.envelopes[number]
    assert set(recipients) == contacts | {env["BACKBONE_TEAM_EMAIL"]}  # the team in Cc, no other partner
    body = mail.get_body(("plain",)).get_content()
    assert "assessments" in body and "999" in body  # the out-of-range score, among the problems listed

    # The doctor sees the same deployment: the PostgreSQL storage with these runs in it.
    doctor = run_cli("doctor", env=env | {"COLUMNS": "300"})
    assert "Traceback" not in doctor.stdout + doctor.stderr
    assert re.search(r"Dagster storage\s.*PostgreSQL", doctor.stdout), doctor.stdout
    assert "error: Dagster storage" not in doctor.stdout and "error: linking key" not in doctor.stdout
