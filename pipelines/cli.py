"""The `backbone` command: run the demo or a real pipeline run, and let partners check a file."""

from __future__ import annotations

import json
import os
import secrets
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import click
import duckdb
from rich.markup import escape

from pipelines.alerts.cli import digest
from pipelines.bench.cli import bench, synth
from pipelines.core.home import AGENDA_FILE, EXPECTATIONS_DIR, PARTNERS_DIR, PROJECT_ROOT, Home, InstanceError
from pipelines.core.linkkey import LinkKeyError, resolve_link_key
from pipelines.core.partnership import ConfigError
from pipelines.core.registry import RegistryError
from pipelines.core.suites import SuiteError
from pipelines.core.terminal import console, err, fail, home_option

SAMPLE_DIR = PROJECT_ROOT / "sources" / "sample"
DEMO_ROUNDS = (
    ("history", "earlier school years, all clean"),
    ("current", "2024-25 deliveries; the district's assessments file has flaws"),
    ("fixes", "the district resends its corrected assessments file"),
)
PUBLISH_KEY = "publish/serving_database"
EXIT_OK, EXIT_FAILED, EXIT_BUSY = 0, 1, 3


def _instance_dir(home: Path | None) -> Home:
    """The instance directory, created or made private as needed."""
    try:
        return Home.resolve(home).ensure()
    except InstanceError as exc:
        fail(str(exc))


def _link_key(paths: Home, *, create: bool = False) -> None:
    """Refuse to start without a usable linking key (the demo makes one)."""
    try:
        resolve_link_key(paths, create=create)
    except LinkKeyError as exc:
        fail(str(exc))


def _definitions():
    from pipelines.definitions import build_definitions

    try:
        return build_definitions()
    except ConfigError as exc:
        fail(str(exc))


def _fail_dead_runs(instance) -> None:
    from pipelines.core.dead_runs import fail_dead_runs

    for dead in fail_dead_runs(instance):
        console.print(
            f"run {dead.run_id} ({dead.job_name}) never finished: its process (pid {dead.pid}) is gone; marked failed"
        )


@contextmanager
def _warehouse(instance, command: str) -> Iterator:
    """Hold the instance's warehouse for the whole command, or exit 3 naming the run that holds it;
    then mark failed the runs whose process died without finishing (they would block the run queue)."""
    from pipelines.core.warehouse_lock import WarehouseBusy, WarehouseLock

    lock = WarehouseLock(instance.root_directory, f"`backbone {command}`")
    try:
        lock.acquire(wait=False)
    except WarehouseBusy as busy:
        fail(f"{busy}. Run `backbone {command}` again once it has finished.", EXIT_BUSY)
    try:
        _fail_dead_runs(instance)
        yield lock
    finally:
        lock.release()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Backbone: the shared measurement pipeline of a collective-impact partnership."""


def _print_run(label: str, summary) -> None:
    status = "[green]succeeded[/]" if summary.success else "[yellow]failed (see below)[/]"
    console.print(
        f"  {label}: run {status}; checks passed {summary.checks_passed}, failed {summary.checks_failed}"
        f" (log: {summary.log_file})"
    )
    for name in summary.failed_checks:
        console.print(f"    [yellow]check failed[/]: {name}")
    for error in summary.errors:
        console.print(f"    [red]step error[/]: {error}")


@main.command()
@home_option
def demo(home: Path | None) -> None:
    """Run the whole pipeline on the bundled sample partners, in three delivery rounds.

    Exit 0: done; 2: unusable configuration; 3: another run holds this instance's warehouse.
    """
    from pipelines.alerts.jobs import ALERTS_JOB
    from pipelines.ingest.jobs import PIPELINE_JOB
    from pipelines.runner import instance_for, run_job
    from pipelines.sample.api import SampleCollegeApi
    from pipelines.sample.stage import stage_round

    paths = _instance_dir(home)
    os.environ["BACKBONE_HOME"] = str(paths.root)
    # The rounds are staged the way careful partners upload: whole files renamed into the inbox, which
    # is what the settle interval waits for in place of knowing; runs then start at once.
    os.environ["BACKBONE_INBOX_SETTLE_SECONDS"] = "0"
    _link_key(paths, create=True)
    defs = _definitions()
    instance = instance_for(paths)
    token = os.environ.setdefault("RIVERBEND_COLLEGE_API_TOKEN", secrets.token_urlsafe(16))
    with ExitStack() as stack:
        lock = stack.enter_context(_warehouse(instance, "demo"))
        api = stack.enter_context(SampleCollegeApi(store_dir=paths.sample / "api", token=token))
        os.environ["RIVERBEND_COLLEGE_API_URL"] = api.url
        os.environ.setdefault("WORKFORCE_DB_URL", f"sqlite:///{paths.sample / 'workforce_board.sqlite'}")
        console.print(f"[bold]Backbone demo[/] — instance {paths.root}")
        for round_name, title in DEMO_ROUNDS:
            console.print(f"\n[bold]Round {round_name}[/]: {title}")
            for line in stage_round(SAMPLE_DIR / round_name, paths):
                console.print(f"  staged {line}")
            pipeline = run_job(defs, PIPELINE_JOB, instance, paths.logs, holding=lock)
            _print_run("pipeline", pipeline)
            kept = "blocked; the previous publish is kept"
            replaced = "serving.duckdb, exports and site replaced together"
            console.print(f"  publish: {replaced if PUBLISH_KEY in pipeline.materialized else kept}")
            if not pipeline.success:
                # What the `alert_partners_after_failed_run` sensor does when the daemon runs.
                _print_run("partner alerts", run_job(defs, ALERTS_JOB, instance, paths.logs, holding=lock))
    _print_summary(paths)


def _print_summary(paths: Home) -> None:
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        partners = con.execute("select count(distinct partner) from raw.submissions").fetchone()[0]
        statuses = dict(con.execute("select status, count(*) from raw.submissions group by 1").fetchall())
        checks = dict(con.execute("select success, count(*) from quality.check_results group by 1").fetchall())
        has_outbox = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'alerts'"
        ).fetchone()[0]
        mails = (
            con.execute(
                "select partner, recipients, subject, coalesce(sent_to, 'queued: ' || last_error) "
                "from alerts.outbox order by created_at"
            ).fetchall()
            if has_outbox
            else []
        )
    indicators = []
    if paths.serving.exists():
        with duckdb.connect(str(paths.serving), read_only=True) as con:
            indicators = con.execute(
                "select indicator_id, count(distinct period), count(*), count(*) filter (where suppressed) "
                "from indicator_values group by 1 order by 1"
            ).fetchall()
    lines = [
        ("partners delivering", str(partners)),
        ("submissions", ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))),
        ("expectations checked", f"{checks.get(True, 0)} passed, {checks.get(False, 0)} failed"),
        *[
            (f"published {indicator}", f"{cells} cells over {periods} periods, {suppressed} suppressed")
            for indicator, periods, cells, suppressed in indicators
        ],
        *[
            (f"mail to {partner}", f"{', '.join(json.loads(recipients))}: {subject}\n{'':38}-> {where}")
            for partner, recipients, subject, where in mails
        ],
        ("serving database", str(paths.serving)),
        ("exports", str(paths.exports)),
        ("community scorecard", f"{paths.site / 'index.html'} (open it in a browser)"),
        ("outbox", str(paths.outbox)),
        ("Dagster UI", "make ui"),
    ]
    console.print("\n[bold]Summary[/]")
    for label, value in lines:
        console.print(f"  {label:<36}{value}")


@main.command()
@home_option
def run(home: Path | None) -> None:
    """Run the pipeline once on whatever partners have delivered, then alert partners.

    Exit 0: the run succeeded; 1: it failed (partners alerted); 2: it cannot start (no linking key,
    bad configuration); 3: another run holds this instance's warehouse (nothing was started).
    """
    from pipelines.alerts.jobs import ALERTS_JOB
    from pipelines.ingest.jobs import PIPELINE_JOB
    from pipelines.runner import instance_for, run_job

    paths = _instance_dir(home)
    os.environ["BACKBONE_HOME"] = str(paths.root)
    _link_key(paths)
    defs = _definitions()
    instance = instance_for(paths)
    with _warehouse(instance, "run") as lock:
        pipeline = run_job(defs, PIPELINE_JOB, instance, paths.logs, holding=lock)
        _print_run("pipeline", pipeline)
        if not pipeline.new_deliveries:
            console.print(
                "  no new deliveries: nothing new to land"
                if _has_deliveries(paths)
                else "  no deliveries yet: nothing new to land"
            )
        if not pipeline.success:
            _print_run("partner alerts", run_job(defs, ALERTS_JOB, instance, paths.logs, holding=lock))
    if not pipeline.success:
        sys.exit(EXIT_FAILED)


def _has_deliveries(paths: Home) -> bool:
    from pipelines.core.sql import table_exists

    if not paths.warehouse.exists():
        return False
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        return table_exists(con, "raw", "submissions") and bool(
            con.execute("select count(*) from raw.submissions").fetchone()[0]
        )


@main.command()
@home_option
def ui(home: Path | None) -> None:
    """Start the Dagster UI on this instance (the demo's sample partners keep working in it)."""
    import subprocess

    from pipelines.runner import instance_for
    from pipelines.sample.api import SampleCollegeApi

    paths = _instance_dir(home)
    # Runs cut off by a crash or power loss would hold the run queue for ever.
    _fail_dead_runs(instance_for(paths))
    env = {**os.environ, "BACKBONE_HOME": str(paths.root), "DAGSTER_HOME": str(paths.dagster)}
    with ExitStack() as stack:
        # After `make demo`, serve the sample college API and database so scheduled pulls work too.
        if "RIVERBEND_COLLEGE_API_URL" not in env and (paths.sample / "api").is_dir():
            token = secrets.token_urlsafe(16)
            api = stack.enter_context(SampleCollegeApi(store_dir=paths.sample / "api", token=token))
            env |= {"RIVERBEND_COLLEGE_API_URL": api.url, "RIVERBEND_COLLEGE_API_TOKEN": token}
        sample_db = paths.sample / "workforce_board.sqlite"
        if "WORKFORCE_DB_URL" not in env and sample_db.exists():
            env["WORKFORCE_DB_URL"] = f"sqlite:///{sample_db}"
        dagster = Path(sys.executable).with_name("dagster")
        console.print(f"Dagster UI for instance {paths.root} (Ctrl-C to stop)")
        with suppress(KeyboardInterrupt):
            subprocess.run(
                [str(dagster), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml")],
                env=env,
                cwd=PROJECT_ROOT,
                check=False,
            )


@main.command()
@home_option
def indicators(home: Path | None) -> None:
    """The common agenda: each indicator's latest published value against baseline and target."""
    from pipelines.core.agenda import AgendaError, load_agenda

    paths = Home.resolve(home)
    try:
        agenda = load_agenda(AGENDA_FILE)
    except AgendaError as exc:
        fail(str(exc))
    latest: dict[str, tuple] = {}
    if paths.serving.exists():
        with duckdb.connect(str(paths.serving), read_only=True) as con:
            for row in con.execute(
                "select indicator_id, period, value, change_from_baseline, on_track from indicator_values "
                "where geography_level = 'community' and dimension = 'all_students' "
                "qualify row_number() over (partition by indicator_id order by period desc) = 1"
            ).fetchall():
                latest[row[0]] = row[1:]
    else:
        err.print(f"nothing published yet in {paths.serving}: showing the agenda only")

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    console.print(f"[bold]{agenda.partnership}[/]: {len(agenda.indicators)} shared indicators\n")
    width = max(len(indicator.title) for indicator in agenda.indicators) + 2
    console.print(f"  {'indicator':<{width}}{'period':<10}{'value':>8}{'baseline':>18}{'target':>18}  status")
    for indicator in agenda.indicators:
        period, value, change, on_track = latest.get(indicator.id, ("-", None, None, None))
        status = {True: "[green]on track[/]", False: "[red]off track[/]"}.get(on_track, "-")
        if change is not None:
            status += f" ({change * 100:+.1f} points since baseline)"
        console.print(
            f"  {indicator.title:<{width}}{period:<10}{pct(value):>8}"
            f"{pct(indicator.baseline.value) + ' (' + indicator.baseline.period + ')':>18}"
            f"{pct(indicator.target.value) + ' (' + indicator.target.period + ')':>18}  {status}"
        )


@main.command("check-file")
@click.option("--dataset", "dataset_id", required=True, help="Dataset id, e.g. assessments.")
@click.option("--partner", "partner_id", default=None, help="Partner id, when several partners send the dataset.")
@click.argument("path", type=click.Path(path_type=Path))
def check_file(dataset_id: str, partner_id: str | None, path: Path) -> None:
    """Check a file against its dataset's expectations before sending it.

    Exit 0: every check passed; 1: some checks failed; 2: the file cannot be read as this dataset.
    """
    from pipelines.core.registry import load_registry
    from pipelines.core.warehouse import connect
    from pipelines.ingest.landing import DeliveryChanged, land
    from pipelines.ingest.limits import ReadLimits, SettingError
    from pipelines.ingest.readers import Delivery, format_for
    from pipelines.quality.checks import batch_query
    from pipelines.quality.validation import validate

    try:
        ref = load_registry(PARTNERS_DIR, EXPECTATIONS_DIR).dataset(dataset_id, partner_id)
    except (RegistryError, SuiteError) as exc:
        fail(str(exc))
    if not path.is_file():
        fail(f"{path}: no such file")
    try:
        limits = ReadLimits.from_env(os.environ)
    except SettingError as exc:
        fail(str(exc))
    with tempfile.TemporaryDirectory(prefix="backbone-check-") as scratch:
        database = Path(scratch) / "check.duckdb"
        delivery = Delivery(path, source=path.name, format=format_for(path), sheet=ref.feed.sheet)
        with connect(database) as con:
            # A throwaway key: the file never leaves this machine, its IDs need no linking.
            try:
                landed = land(con, ref, delivery, secrets.token_bytes(32), Path(scratch) / "archive", limits=limits)
            except DeliveryChanged:
                fail(f"{path.name} changed while it was being read: check it again once it is saved")
        if landed.status == "unreadable":
            fail(f"{path.name} cannot be checked as {ref.partner.id} {dataset_id}: {landed.reason}")
        report = validate(database, batch_query(ref, landed.submission_id), ref.suite)
    _print_report(path, ref, landed.rows, report, landed.reason)
    sys.exit(EXIT_OK if report.success else EXIT_FAILED)


def _print_report(path: Path, ref, rows: int, report, note: str | None) -> None:
    console.print(f"[bold]{path.name}[/] checked as {ref.partner.name} / {ref.dataset_id}: {rows} data rows")
    if note:
        console.print(f"note: {escape(note)}")
    failed = report.failed
    console.print(f"[green]{len(report.outcomes) - len(failed)} check(s) passed[/]")
    if not failed:
        console.print("[green]All checks passed.[/] The file is ready to send.")
        return
    console.print(f"[red]{len(failed)} check(s) failed:[/]")
    for number, outcome in enumerate(failed, 1):
        console.print(f"\n {number}. FAIL [bold]{outcome.notes or outcome.expectation_type}[/]")
        if outcome.error:
            console.print(f"    The check could not run: {outcome.error}")
            continue
        if outcome.unexpected_count is not None:
            console.print(f"    {outcome.unexpected_count} of {outcome.element_count} rows")
        if outcome.sample_values:
            console.print(f"    values found: {', '.join(map(str, outcome.sample_values))}")
        if outcome.sample_rows:
            console.print(f"    spreadsheet rows: {', '.join(map(str, outcome.sample_rows))}")
    console.print("\nFix the rows listed and run this command again.")


@main.command()
@home_option
def doctor(home: Path | None) -> None:
    """Check this deployment: warehouse, Dagster storage, linking key, mail, partner systems, disk.

    Exit 0 when every check passes (warnings allowed), 1 when any fails.
    """
    from pipelines.doctor import diagnose, report

    sys.exit(EXIT_OK if report(diagnose(Home.resolve(home)), console) else EXIT_FAILED)


# Commands defined with their stage.
main.add_command(digest)
main.add_command(synth)
main.add_command(bench)

if __name__ == "__main__":
    main()
