"""`backbone doctor` on a deployment: a healthy one passes, and each kind of broken setting fails
with its own message (and nothing else fails with it).

The command runs in this process (click's runner: the same exit code and output as in a shell),
so Dagster is imported once for all of them; the run holding the warehouse is another process.
"""

from __future__ import annotations

import secrets
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result

from pipelines.cli import main
from pipelines.core.home import PROJECT_ROOT, Home
from pipelines.core.warehouse import connect
from pipelines.sample.api import SampleCollegeApi
from tests.conftest import Inbox, free_port, run_cli

TOKEN = "college-token"


@pytest.fixture
def deployment(
    home: Home, tmp_path: Path, smtp_server: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Home]:
    """An instance whose every dependency is up: warehouse, SQLite Dagster storage, a long key, the
    college's API, the workforce board's database and a mail server."""
    inbox, smtp_port = smtp_server
    connect(home.warehouse).close()
    workforce = tmp_path / "workforce.sqlite"
    with sqlite3.connect(workforce) as db:
        db.execute("create table ui_wage_records (person_state_id text)")
    monkeypatch.setenv("BACKBONE_LINK_KEY", secrets.token_hex(32))
    monkeypatch.setenv("WORKFORCE_DB_URL", f"sqlite:///{workforce}")
    monkeypatch.setenv("BACKBONE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("BACKBONE_SMTP_PORT", str(smtp_port))
    monkeypatch.setenv("BACKBONE_SMTP_STARTTLS", "false")
    with SampleCollegeApi(store_dir=tmp_path / "api", token=TOKEN) as api:
        monkeypatch.setenv("RIVERBEND_COLLEGE_API_URL", api.url)
        monkeypatch.setenv("RIVERBEND_COLLEGE_API_TOKEN", TOKEN)
        yield home
    assert inbox.messages == [], "the doctor sends no mail"


def doctor() -> Result:
    result = CliRunner().invoke(main, ["doctor"])
    assert isinstance(result.exception, SystemExit | None), result.output  # an error, never a traceback
    return result


def _failures(stdout: str) -> dict[str, str]:
    """check name -> its message, from the `error: <check>: <message>` lines below the table."""
    return dict(line[len("error: ") :].split(": ", 1) for line in stdout.splitlines() if line.startswith("error: "))


def test_a_healthy_deployment_passes(deployment: Home) -> None:
    result = doctor()
    assert result.exit_code == 0, result.output
    assert "All checks passed." in result.stdout
    for check in (
        "warehouse",
        "Dagster storage",
        "linking key",
        "mail",
        "riverbend_college API",
        "workforce_board database",
        "disk",
    ):
        assert check in result.stdout
    assert _failures(result.stdout) == {}
    # Only a nearly full disk may warn (the machine's, not the deployment's).
    assert [
        line
        for line in result.stdout.splitlines()
        if line.startswith("warning: ") and not line.startswith("warning: disk:")
    ] == []


def _closed_port_dagster_storage(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    (home.dagster / "dagster.yaml").write_text(
        f"storage:\n  postgres:\n    postgres_url: postgresql+psycopg2://dagster@127.0.0.1:{free_port()}/dagster\n"
    )


def _dagster_storage_settings_unset(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.yaml", home.dagster / "dagster.yaml")
    for name in ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_DB", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


def _world_readable_key_file(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BACKBONE_LINK_KEY")
    home.link_key_file.write_text(secrets.token_hex(32) + "\n")
    home.link_key_file.chmod(0o644)


def _directory_for_warehouse(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    home.warehouse.unlink()
    home.warehouse.mkdir()


BROKEN: dict[str, tuple[Callable[[Home, pytest.MonkeyPatch], None], str, list[str]]] = {
    "unreachable SMTP port": (
        lambda home, mp: mp.setenv("BACKBONE_SMTP_PORT", str(free_port())),
        "mail",
        ["smtp://127.0.0.1:", "(STARTTLS off)", "Connection refused"],
    ),
    "short linking key": (
        lambda home, mp: mp.setenv("BACKBONE_LINK_KEY", "not-long-enough"),
        "linking key",
        ["$BACKBONE_LINK_KEY is 15 bytes long", "at least 32 bytes"],
    ),
    "key file readable by others": (_world_readable_key_file, "linking key", ["link.key has mode 0644", "chmod 600"]),
    "API URL variable unset": (
        lambda home, mp: mp.delenv("RIVERBEND_COLLEGE_API_URL"),
        "riverbend_college API",
        ["RIVERBEND_COLLEGE_API_URL not set"],
    ),
    "API refusing the token": (
        lambda home, mp: mp.setenv("RIVERBEND_COLLEGE_API_TOKEN", "revoked-token"),
        "riverbend_college API",
        ["/v1/enrollments answered 401 Unauthorized", "refuses the token in RIVERBEND_COLLEGE_API_TOKEN"],
    ),
    "unreachable SQL database": (
        lambda home, mp: mp.setenv("WORKFORCE_DB_URL", f"postgresql+psycopg2://wb:pw@127.0.0.1:{free_port()}/wb"),
        "workforce_board database",
        ["postgresql+psycopg2://wb:***@127.0.0.1:", "Connection refused"],
    ),
    "directory in the warehouse's place": (
        _directory_for_warehouse,
        "warehouse",
        ["warehouse.duckdb is a directory, not the warehouse file"],
    ),
    "unreachable Dagster PostgreSQL storage": (
        _closed_port_dagster_storage,
        "Dagster storage",
        ["(dagster.yaml) cannot be loaded or its run storage read", "Connection refused"],
    ),
    "Dagster storage settings unset": (
        _dagster_storage_settings_unset,
        "Dagster storage",
        ["DAGSTER_PG_USER", "DAGSTER_PG_HOST", "not set"],
    ),
}


@pytest.mark.parametrize("fault", list(BROKEN))
def test_a_broken_setting_fails_with_its_own_message(
    deployment: Home, fault: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    breaks, check, expected = BROKEN[fault]
    breaks(deployment, monkeypatch)
    result = doctor()
    assert result.exit_code == 1, result.output
    failures = _failures(result.stdout)
    assert list(failures) == [check], result.stdout
    for words in expected:
        assert words in failures[check]
    assert "Some checks failed." in result.stdout
    assert "revoked-token" not in result.output and "pw@" not in result.output


def test_a_run_holding_the_warehouse_is_reported_not_failed(deployment: Home) -> None:
    with duckdb.connect(str(deployment.warehouse)):  # this test process plays the run; the doctor is another
        result = run_cli("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning: warehouse:" in result.stdout
    assert "is in use by process" in result.stdout and "most likely a run" in result.stdout
