"""`backbone doctor`: check a deployment's settings and the systems it depends on, without running it.

Each check is read-only or undoes what it did (a probe table in the warehouse, an SMTP session that
sends nothing), keeps its timeouts short, and turns every failure into one sentence saying what to
fix: a deployment is checked by people who did not write it, often at the moment it broke.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import smtplib
import stat
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
import httpx
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from pipelines.alerts.mail import MailerResource
from pipelines.core.home import EXPECTATIONS_DIR, PARTNERS_DIR, Home
from pipelines.core.linkkey import KEY_ENV, LinkKeyError, resolve_link_key
from pipelines.core.registry import Partner, RegistryError, RestApi, SqlPull, load_registry
from pipelines.core.suites import SuiteError

Status = Literal["ok", "warn", "fail"]
MIN_FREE_BYTES = 5 * 2**30
MIN_FREE_SHARE = 0.10
TIMEOUT_SECONDS = 10.0  # any one network check; a doctor must answer while the system is down


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    detail: str


def _reason(exc: BaseException, limit: int = 300) -> str:
    """The innermost cause's own words on one line: wrappers (Dagster's, SQLAlchemy's) add only names."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    inner = getattr(exc, "orig", None) or exc
    text = " ".join(str(inner).split()) or type(inner).__name__
    return text if len(text) <= limit else text[:limit] + "…"


def check_warehouse(home: Home) -> Finding:
    path = home.warehouse
    if path.is_dir():
        return Finding("warehouse", "fail", f"{path} is a directory, not the warehouse file: move it away")
    if not path.parent.is_dir():
        return Finding("warehouse", "fail", f"the instance directory {path.parent} does not exist")
    if not path.exists():
        try:
            with tempfile.TemporaryFile(dir=path.parent):
                pass
        except OSError as exc:
            return Finding(
                "warehouse",
                "fail",
                f"{path} does not exist and its directory is not writable "
                f"({exc.strerror or exc}): the first run could not create it",
            )
        return Finding("warehouse", "ok", f"{path} does not exist yet; the first run creates it")
    table = f"doctor_probe_{secrets.token_hex(4)}"
    try:
        # Held for two statements: a run waiting for the warehouse is kept waiting a moment at most.
        with duckdb.connect(str(path)) as con:
            con.execute(f"create table main.{table} as select 1 as probe")
            con.execute(f"drop table main.{table}")
    except duckdb.IOException as exc:
        if holder := re.search(r"Conflicting lock is held in (.*?) \(PID (\d+)\)", str(exc)):
            return Finding(
                "warehouse",
                "warn",
                f"{path} is in use by process {holder[2]} ({holder[1]}), "
                "most likely a run: writing it was not tried; run the doctor again once it ends",
            )
        return Finding("warehouse", "fail", f"{path} cannot be opened for writing: {_reason(exc)}")
    except duckdb.Error as exc:
        return Finding("warehouse", "fail", f"{path} cannot be written: {_reason(exc)}")
    return Finding("warehouse", "ok", f"{path} opened and written")


def _dagster_home(home: Home) -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or home.dagster)


def check_dagster_storage(home: Home) -> Finding:
    import dagster as dg

    where = _dagster_home(home)
    if not where.is_dir():
        return Finding("Dagster storage", "fail", f"DAGSTER_HOME {where} is not a directory")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.CRITICAL)  # dagster-postgres logs each retry of a refused connection as a warning
    try:
        with dg.DagsterInstance.from_config(str(where)) as instance:
            runs = instance.get_runs_count()
            storage = instance.run_storage
            url = getattr(storage, "postgres_url", None)
    except Exception as exc:  # config, driver and connection errors all come as different types
        # A setting missing from the environment is the likeliest mistake, and Dagster's message for
        # it is pages of stack traces: name the variables instead.
        unset = dict.fromkeys(re.findall(r'environment variable "(\w+)" which is not set', str(exc)))
        reason = f"{', '.join(unset)} not set" if unset else _reason(exc)
        return Finding(
            "Dagster storage",
            "fail",
            f"the instance in {where} (dagster.yaml) cannot be loaded or its run storage read: {reason}",
        )
    finally:
        root.setLevel(level)
    if url:
        kind = f"PostgreSQL {sa.make_url(url).render_as_string(hide_password=True)}"
    else:
        kind = f"{type(storage).__name__} in {where}"
    return Finding("Dagster storage", "ok", f"{kind}: {runs} runs recorded")


def check_link_key(home: Home) -> Finding:
    try:
        key = resolve_link_key(home)
    except LinkKeyError as exc:
        return Finding("linking key", "fail", str(exc))
    source = KEY_ENV if os.environ.get(KEY_ENV) else str(home.link_key_file)  # a short key was refused above
    if source == str(home.link_key_file):
        mode = stat.S_IMODE(home.link_key_file.stat().st_mode)
        if mode & 0o077:
            return Finding(
                "linking key", "fail", f"{source} has mode {mode:04o}: other users can read it; `chmod 600 {source}`"
            )
    return Finding("linking key", "ok", f"{len(key)} bytes, from {source}")


def check_smtp() -> Finding:
    mailer = MailerResource()
    if not mailer.host:
        return Finding(
            "mail", "warn", "BACKBONE_SMTP_HOST is not set: mail is written to the outbox folder, nobody receives it"
        )
    where = f"{mailer.address} (STARTTLS {'on' if mailer.starttls else 'off'})"
    try:
        with mailer.smtp(timeout=TIMEOUT_SECONDS) as smtp:
            code, reply = smtp.noop()
    except (OSError, smtplib.SMTPException, ValueError) as exc:
        return Finding("mail", "fail", f"{where}: {_reason(exc)}")
    if code != 250:
        return Finding("mail", "fail", f"{where} answered NOOP with {code} {reply.decode(errors='replace')}")
    return Finding("mail", "ok", f"{where} accepted a session (nothing sent)")


def _unset(*names: str) -> list[str]:
    return [name for name in names if not os.environ.get(name)]


def check_api(partner: Partner, api: RestApi, endpoint: str) -> Finding:
    check = f"{partner.id} API"
    if missing := _unset(api.base_url_env, api.token_env):
        return Finding(check, "fail", f"{', '.join(missing)} not set")
    base_url = os.environ[api.base_url_env].rstrip("/")
    try:
        url = httpx.URL(base_url + endpoint)
    except httpx.InvalidURL as exc:
        return Finding(check, "fail", f"{api.base_url_env} is not a usable URL ({exc})")
    shown = str(url.copy_with(username=None, password=None))
    token = os.environ[api.token_env]
    try:
        response = httpx.get(
            url,
            params={"page": 1, "per_page": 1},
            timeout=TIMEOUT_SECONDS,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
    except httpx.HTTPError as exc:
        return Finding(check, "fail", f"{shown} could not be reached: {_reason(exc).replace(token, '***')}")
    status = f"{shown} answered {response.status_code} {response.reason_phrase}"
    if response.status_code in (401, 403):
        return Finding(check, "fail", f"{status}: the API refuses the token in {api.token_env}")
    if not response.is_success:
        return Finding(check, "fail", status)
    return Finding(check, "ok", status)


def check_sql(partner: Partner, pull: SqlPull) -> Finding:
    check = f"{partner.id} database"
    if missing := _unset(pull.url_env):
        return Finding(check, "fail", f"{missing[0]} not set")
    try:
        url = sa.make_url(os.environ[pull.url_env])
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, ImportError) as exc:
        return Finding(check, "fail", f"{pull.url_env} is not a usable database URL: {_reason(exc)}")
    shown = url.render_as_string(hide_password=True)
    # SQLite creates a missing file on connect: a mistyped path would pass, and leave an empty database.
    if (
        url.get_backend_name() == "sqlite"
        and url.database not in (None, "", ":memory:")
        and not Path(url.database).is_file()
    ):
        return Finding(check, "fail", f"{shown}: no such database file")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.SQLAlchemyError as exc:
        return Finding(check, "fail", f"{shown}: {_reason(exc)}")
    finally:
        engine.dispose()
    return Finding(check, "ok", f"{shown} answered")


def check_partners() -> Iterator[Finding]:
    try:
        registry = load_registry(PARTNERS_DIR, EXPECTATIONS_DIR)
    except (RegistryError, SuiteError) as exc:
        yield Finding("partner registry", "fail", str(exc))
        return
    for partner in registry.partners.values():
        delivery = partner.delivery
        if isinstance(delivery, RestApi):
            endpoint = next(ref.feed.endpoint or "" for ref in registry.datasets if ref.partner.id == partner.id)
            yield check_api(partner, delivery, endpoint)
        elif isinstance(delivery, SqlPull):
            yield check_sql(partner, delivery)


def check_disk(home: Home) -> Finding:
    if not home.root.is_dir():
        return Finding("disk", "fail", f"the instance directory {home.root} does not exist")
    usage = shutil.disk_usage(home.root)
    free = f"{usage.free / 2**30:.1f} GiB free of {usage.total / 2**30:.1f} GiB under {home.root}"
    if usage.free < MIN_FREE_BYTES or usage.free < MIN_FREE_SHARE * usage.total:
        return Finding(
            "disk", "warn", f"only {free}: runs need room for deliveries, the archive and DuckDB's spill files"
        )
    return Finding("disk", "ok", free)


def diagnose(home: Home) -> list[Finding]:
    """Every check's findings, in a fixed order; the checks run side by side, so that the slowest
    (a storage server that refuses connections is retried for seconds) sets the time taken."""
    checks: list[Callable[[], Finding | list[Finding]]] = [
        lambda: check_warehouse(home),
        lambda: check_dagster_storage(home),
        lambda: check_link_key(home),
        check_smtp,
        lambda: list(check_partners()),
        lambda: check_disk(home),
    ]
    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        results = list(pool.map(lambda check: check(), checks))
    return [finding for result in results for finding in ([result] if isinstance(result, Finding) else result)]


_STYLE = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]FAIL[/]"}


def report(findings: list[Finding], console: Console) -> bool:
    """Print the table, then each problem whole (a table cell wraps); True when nothing failed."""
    table = Table(show_header=True, header_style="bold", show_lines=False)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for finding in findings:
        table.add_row(finding.check, _STYLE[finding.status], finding.detail)
    console.print(table)
    problems = [finding for finding in findings if finding.status != "ok"]
    for finding in problems:
        label = "error" if finding.status == "fail" else "warning"
        console.print(f"{label}: {finding.check}: {finding.detail}", markup=False)
    failed = any(finding.status == "fail" for finding in findings)
    console.print("Some checks failed." if failed else "All checks passed.")
    return not failed
