"""Shared fixtures: the bundled partnership, a throwaway instance dir, and real servers on loopback."""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from pipelines.core.agenda import Agenda
from pipelines.core.home import PARTNERS_DIR, PROJECT_ROOT, Home
from pipelines.core.partnership import Partnership, load_partnership
from pipelines.core.privacy import PrivacyRule
from pipelines.core.registry import Registry

IN_CI = os.environ.get("CI", "").lower() == "true"
# Where tests leave files for a person to look at (screenshots); printed at the end of the run.
ARTIFACTS = pytest.StashKey[Path]()
LINK_KEY = "test-link-key-0123456789abcdef0123456789"  # the least a linking key may be: 32 bytes or more
PG_URL = os.environ.get("BACKBONE_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


@functools.cache
def bundled_partnership() -> Partnership:
    """The bundled partner registry (with its suites) and agenda, read once per test session. Both are
    frozen: a test that needs another agenda builds a changed copy and passes that on."""
    return load_partnership()


@pytest.fixture(scope="session")
def partnership() -> Partnership:
    return bundled_partnership()


@pytest.fixture(scope="session")
def registry(partnership: Partnership) -> Registry:
    return partnership.registry


@pytest.fixture(scope="session")
def agenda(partnership: Partnership) -> Agenda:
    return partnership.agenda


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    """A fresh BACKBONE_HOME with a linking key, and no settings leaking in from the shell."""
    for name in (
        "BACKBONE_SMTP_HOST",
        "BACKBONE_SMTP_PORT",
        "BACKBONE_SMTP_USER",
        "BACKBONE_SMTP_PASSWORD",
        "BACKBONE_SMTP_STARTTLS",
        "RIVERBEND_COLLEGE_API_URL",
        "RIVERBEND_COLLEGE_API_TOKEN",
        "WORKFORCE_DB_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BACKBONE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BACKBONE_LINK_KEY", LINK_KEY)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    # Tests drop whole files and run at once; waiting for files to settle has tests of its own.
    monkeypatch.setenv("BACKBONE_INBOX_SETTLE_SECONDS", "0")
    return Home.resolve(tmp_path / "home").ensure()


def partner_files_with(tmp_path: Path, partner: str, old: str, new: str) -> Path:
    """A copy of the bundled partner files in which `partner`'s file has `old` replaced by `new` once."""
    folder = tmp_path / "partners"
    shutil.copytree(PARTNERS_DIR, folder)
    path = folder / f"{partner}.yml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return folder


def compile_inline(sql: str, scratch: Path, dbt_vars: dict | None = None) -> str:
    """`sql` (Jinja with the project's macros) as dbt compiles it for DuckDB, with the project's vars
    unless `dbt_vars` are given."""
    from pipelines.models.project import run_dbt  # dagster-dbt loads only for the tests that run dbt

    done = run_dbt(
        ["compile", "--quiet", "--output", "json", "--inline", sql, "--target-path", str(scratch / "target")],
        env={"BACKBONE_WAREHOUSE": str(scratch / "w.duckdb")},
        dbt_vars=dbt_vars,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)["compiled"]


# The privacy rule indicator_values declares in its dbt yml, for tests that build such cells by hand.
INDICATOR_RULE = [
    PrivacyRule(
        "suppressed",
        ("denominator",),
        ("numerator", "denominator", "value"),
        counts=("numerator",),
        complements=(("numerator", "denominator"),),
    )
]


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess:
    """Run the `backbone` command as a user does, in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=900,
    )


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One `backbone demo` run for the whole session (minutes): its instance dir and output."""
    home = tmp_path_factory.mktemp("demo") / "home"
    env = {"BACKBONE_HOME": str(home)}
    for name in ("BACKBONE_LINK_KEY", "BACKBONE_SMTP_HOST", "WORKFORCE_DB_URL", "RIVERBEND_COLLEGE_API_URL"):
        os.environ.pop(name, None)
    result = run_cli("demo", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return home, result.stdout


class Inbox:
    """Mail received by the loopback SMTP server."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A scratch database on the local PostgreSQL; under CI=true its absence is a failure."""
    import sqlalchemy as sa

    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        message = f"PostgreSQL not reachable at {PG_URL}: {str(exc).splitlines()[0]}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    name = f"backbone_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    try:
        yield str(sa.make_url(PG_URL).set(database=name))
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


# What a fixture needs, as a marker on every test that uses it (directly or through another fixture),
# so that `make test-fast` leaves out a new test of that kind without anyone marking it.
MARKERS_BY_FIXTURE = {"demo_home": "demo", "postgres_url": "postgres", "browser": "browser"}
# The markers `make test-fast` leaves out; a test that takes longer than SLOW_SECONDS gets `slow`.
NOT_FAST = {"slow", "demo", "postgres", "browser", "bench"}
SLOW_SECONDS = 5.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in set(MARKERS_BY_FIXTURE) & set(getattr(item, "fixturenames", ())):
            item.add_marker(MARKERS_BY_FIXTURE[fixture])


def _unmarked_slow_tests(terminalreporter) -> list[tuple[float, str]]:
    """(seconds, test) for each test of this run that took longer than SLOW_SECONDS (its setup included:
    a module's expensive fixture is paid by its first test) without a marker that test-fast leaves out."""
    seconds: defaultdict[str, float] = defaultdict(float)
    marked = set()
    for reports in terminalreporter.stats.values():
        for report in reports:
            if isinstance(report, pytest.TestReport):
                seconds[report.nodeid] += report.duration
                if NOT_FAST & set(report.keywords):
                    marked.add(report.nodeid)
    return sorted(
        ((took, test) for test, took in seconds.items() if took > SLOW_SECONDS and test not in marked), reverse=True
    )


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if unmarked := _unmarked_slow_tests(terminalreporter):
        terminalreporter.write_line(f"over {SLOW_SECONDS:.0f} s without @pytest.mark.slow (make test-fast runs them):")
        for took, test in unmarked:
            terminalreporter.write_line(f"  {took:5.1f} s  {test}")
    if (where := config.stash.get(ARTIFACTS, None)) is not None:
        terminalreporter.write_line(f"test artifacts (scorecard screenshots): {where}")
