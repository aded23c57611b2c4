"""The `backbone` command: run the demo or a real pipeline run, and let partners check a file."""

from __future__ import annotations

import json
import os
import secrets
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import click
import duckdb
from rich.console import Console

from pipelines.alerts.cli import digest
from pipelines.bench.cli import bench, synth
from pipelines.core.home import AGENDA_FILE, EXPECTATIONS_DIR, PARTNERS_DIR, PROJECT_ROOT, Home
from pipelines.core.linkkey import LinkKeyMissing, resolve_link_key
from pipelines.core.partnership import ConfigError
from pipelines.core.registry import RegistryError
from pipelines.core.suites import SuiteError

# soft_wrap: messages stay on one line whatever the terminal width (and whole in logs and pipes).
console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

SAMPLE_DIR = PROJECT_ROOT / "sources" / "sample"
DEMO_ROUNDS = (
    ("history", "earlier school years, all clean"),
    ("current", "2024-25 deliveries; the district's assessments file has flaws"),
    ("fixes", "the district resends its corrected assessments file"),
)
PUBLISH_KEY = "publish/serving_database"
EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2


def _fail(message: str, code: int = EXIT_UNUSABLE) -> None:
    err.print(f"[bold red]error:[/] {message}")
    sys.exit(code)


def _definitions():
    from pipelines.definitions import build_definitions

    try:
        return build_definitions()
    except ConfigError as exc:
        _fail(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Backbone: the shared measurement pipeline of a collective-impact partnership."""


def _print_run(label: str, summary) -> None:
    status = "[green]succeeded[/]" if summary.success else "[yellow]failed (see below)[/]"
    console.print(f"  {label}: run {status}; checks passed {summary.checks_passed}, failed {summary.checks_failed}"
                  f" (log: {summary.log_file})")
    for name in summary.failed_checks:
        console.print(f"    [yellow]check failed[/]: {name}")
    for error in summary.errors:
        console.print(f"    [red]step error[/]: {error}")


@main.command()
@click.option("--home", type=click.Path(path_type=Path), default=None,
              help="Instance directory (default $BACKBONE_HOME or ./.backbone).")
def demo(home: Path | None) -> None:
    """Run the whole pipeline on the bundled sample partners, in three delivery rounds."""
    from pipelines.alerts.jobs import ALERTS_JOB
    from pipelines.ingest.jobs import PIPELINE_JOB
    from pipelines.runner import instance_for, run_job
    from pipelines.sample.api import SampleCollegeApi
    from pipelines.sample.stage import stage_round

    paths = Home.resolve(home).ensure()
    os.environ["BACKBONE_HOME"] = str(paths.root)
    resolve_link_key(paths, create=True)
    defs = _definitions()
    instance = instance_for(paths)
    token = secrets.token_urlsafe(16)
    with ExitStack() as stack:
        api = stack.enter_context(SampleCollegeApi(store_dir=paths.sample / "api", token=token))
        os.environ["RIVERBEND_COLLEGE_API_URL"] = api.url
        os.environ["RIVERBEND_COLLEGE_API_TOKEN"] = token
        os.environ.setdefault("WORKFORCE_DB_URL", f"sqlite:///{paths.sample / 'workforce_board.sqlite'}")
        console.print(f"[bold]Backbone demo[/] — instance {paths.root}")
        for round_name, title in DEMO_ROUNDS:
            console.print(f"\n[bold]Round {round_name}[/]: {title}")
            for line in stage_round(SAMPLE_DIR / round_name, paths):
                console.print(f"  staged {line}")
            pipeline = run_job(defs, PIPELINE_JOB, instance, paths.logs)
            _print_run("pipeline", pipeline)
            kept = "blocked; the previous publish is kept"
            console.print(f"  publish: {'serving.duckdb and exports replaced' if PUBLISH_KEY in pipeline.materialized else kept}")
            if not pipeline.success:
                # What the `alert_partners_after_failed_run` sensor does when the daemon runs.
                _print_run("partner alerts", run_job(defs, ALERTS_JOB, instance, paths.logs))
    _print_summary(paths)


def _print_summary(paths: Home) -> None:
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        partners = con.execute("select count(distinct partner) from raw.submissions").fetchone()[0]
        statuses = dict(con.execute("select status, count(*) from raw.submissions group by 1").fetchall())
        checks = dict(con.execute("select success, count(*) from quality.check_results group by 1").fetchall())
        has_outbox = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'alerts'").fetchone()[0]
        mails = con.execute("select partner, recipients, subject, coalesce(sent_to, 'queued: ' || last_error) "
                            "from alerts.outbox order by created_at").fetchall() if has_outbox else []
    indicators = []
    if paths.serving.exists():
        with duckdb.connect(str(paths.serving), read_only=True) as con:
            indicators = con.execute(
                "select indicator_id, count(distinct period), count(*), count(*) filter (where suppressed) "
                "from indicator_values group by 1 order by 1").fetchall()
    lines = [
        ("partners delivering", str(partners)),
        ("submissions", ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))),
        ("expectations checked", f"{checks.get(True, 0)} passed, {checks.get(False, 0)} failed"),
        *[(f"published {indicator}", f"{cells} cells over {periods} periods, {suppressed} suppressed")
          for indicator, periods, cells, suppressed in indicators],
        *[(f"mail to {partner}", f"{', '.join(json.loads(recipients))}: {subject}\n{'':38}-> {where}")
          for partner, recipients, subject, where in mails],
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
@click.option("--home", type=click.Path(path_type=Path), default=None,
              help="Instance directory (default $BACKBONE_HOME or ./.backbone).")
def run(home: Path | None) -> None:
    """Run the pipeline once on whatever partners have delivered, then alert partners."""
    from pipelines.alerts.jobs import ALERTS_JOB
    from pipelines.ingest.jobs import PIPELINE_JOB
    from pipelines.runner import instance_for, run_job

    paths = Home.resolve(home).ensure()
    os.environ["BACKBONE_HOME"] = str(paths.root)
    try:
        resolve_link_key(paths)
    except LinkKeyMissing as exc:
        _fail(str(exc))
    defs = _definitions()
    instance = instance_for(paths)
    pipeline = run_job(defs, PIPELINE_JOB, instance, paths.logs)
    _print_run("pipeline", pipeline)
    if not pipeline.success:
        _print_run("partner alerts", run_job(defs, ALERTS_JOB, instance, paths.logs))
        sys.exit(EXIT_FAILED)


@main.command()
@click.option("--home", type=click.Path(path_type=Path), default=None,
              help="Instance directory (default $BACKBONE_HOME or ./.backbone).")
def ui(home: Path | None) -> None:
    """Start the Dagster UI on this instance (the demo's sample partners keep working in it)."""
    import subprocess

    from pipelines.sample.api import SampleCollegeApi

    paths = Home.resolve(home).ensure()
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
        try:
            subprocess.run([str(dagster), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml")],
                           env=env, cwd=PROJECT_ROOT, check=False)
        except KeyboardInterrupt:
            pass


@main.command()
@click.option("--home", type=click.Path(path_type=Path), default=None,
              help="Instance directory (default $BACKBONE_HOME or ./.backbone).")
def indicators(home: Path | None) -> None:
    """The common agenda: each indicator's latest published value against baseline and target."""
    from pipelines.core.agenda import AgendaError, load_agenda

    paths = Home.resolve(home)
    try:
        agenda = load_agenda(AGENDA_FILE)
    except AgendaError as exc:
        _fail(str(exc))
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
    from pipelines.ingest.landing import land
    from pipelines.ingest.readers import Delivery, format_for
    from pipelines.quality.checks import batch_query
    from pipelines.core.registry import load_registry
    from pipelines.core.warehouse import connect
    from pipelines.quality.validation import validate

    try:
        ref = load_registry(PARTNERS_DIR, EXPECTATIONS_DIR).dataset(dataset_id, partner_id)
    except (RegistryError, SuiteError) as exc:
        _fail(str(exc))
    if not path.is_file():
        _fail(f"{path}: no such file")
    with tempfile.TemporaryDirectory(prefix="backbone-check-") as scratch:
        database = Path(scratch) / "check.duckdb"
        delivery = Delivery(path, source=path.name, format=format_for(path), sheet=ref.feed.sheet)
        with connect(database) as con:
            # A throwaway key: the file never leaves this machine, its IDs need no linking.
            landed = land(con, ref, delivery, secrets.token_bytes(32), Path(scratch) / "archive")
        if landed.status == "unreadable":
            _fail(f"{path.name} cannot be checked as {ref.partner.id} {dataset_id}: {landed.reason}")
        report = validate(database, batch_query(ref, landed.submission_id), ref.suite)
    _print_report(path, ref, landed.rows, report)
    sys.exit(EXIT_OK if report.success else EXIT_FAILED)


def _print_report(path: Path, ref, rows: int, report) -> None:
    console.print(f"[bold]{path.name}[/] checked as {ref.partner.name} / {ref.dataset_id}: {rows} data rows")
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
@click.option("--home", type=click.Path(path_type=Path), default=None,
              help="Instance directory (default $BACKBONE_HOME or ./.backbone).")
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
