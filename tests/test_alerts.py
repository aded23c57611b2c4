"""Partner accountability through Dagster: each partner hears only about its own deliveries, with the
backbone team in copy; mail survives a mail-server outage; late datasets fail their freshness check
and are chased once per period, then escalated; the data-health mart and the asset metadata show it.

Deliveries land for real (raw assets, GX checks); a delivery's arrival time is set afterwards, as if
it had come then, and runs are started through the schedules at chosen moments (their tick time is
the moment a run judges), so months pass in seconds.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.alerts.jobs import ALERTS_JOB
from pipelines.alerts.outbox import MAX_ATTEMPTS, backoff
from pipelines.core.clock import as_of_tag
from pipelines.core.home import EXPECTATIONS_DIR, PARTNERS_DIR, PROJECT_ROOT, Home
from pipelines.core.partnership import Partnership
from pipelines.core.registry import Registry, RegistryError, load_registry
from pipelines.core.resources import BackboneResource
from pipelines.definitions import build_definitions
from pipelines.ingest.assets import build_raw_asset
from pipelines.models.project import run_dbt
from pipelines.quality.assets import build_calendar_asset
from pipelines.quality.checks import FRESHNESS_CHECK, build_expectations_check
from pipelines.quality.due import period_of
from tests.conftest import Inbox, bundled_partnership, free_port

SAMPLE = PROJECT_ROOT / "sources" / "sample"
FLAWED_ASSESSMENTS = SAMPLE / "current" / "riverbend_isd" / "assessments_2024-25.csv"
FIXED_ASSESSMENTS = SAMPLE / "fixes" / "riverbend_isd" / "assessments_2024-25_v2.csv"
TEAM = "data-team@riverbend-c2c.example.org"
DISTRICT = ["mlopez@riverbend-isd.example.org", "dchen@riverbend-isd.example.org"]
MENTORING = ["sam@brightfutures.example.org"]
PARTICIPATION_HEADER = "Student ID,Program,School Year,Start Date,Sessions Offered,Sessions Attended,End Date\n"


@pytest.fixture(scope="module")
def defs(partnership: Partnership) -> dg.Definitions:
    return build_definitions(partnership)


class MailServer:
    """A real SMTP server on a fixed loopback port that can be stopped and started again."""

    def __init__(self) -> None:
        self.inbox, self.port, self._controller = Inbox(), free_port(), None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def mail_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[MailServer]:
    server = MailServer()
    monkeypatch.setenv("BACKBONE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("BACKBONE_SMTP_PORT", str(server.port))
    monkeypatch.setenv("BACKBONE_SMTP_STARTTLS", "false")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def participation_file(folder: Path, name: str, rows: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(PARTICIPATION_HEADER + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    return path


CLEAN_PARTICIPATION = ["S9000001,BFM-READ,2024-25,2024-09-12,30,24,", "S9000002,BFM-MENTOR,2024-25,2024-09-15,20,18,"]


def deliver(
    home: Home, dataset: str, source: Path, received_at: dt.datetime | None = None, *, checked: bool = True
) -> None:
    """The partner drops `source`; its raw asset lands it (and its expectations check it). With
    `received_at`, the delivery is dated as if it had arrived then."""
    ref = bundled_partnership().registry.dataset(dataset)
    inbox = home.inbox / ref.partner.id
    inbox.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, inbox / source.name)
    assets = [build_raw_asset(ref), *([build_expectations_check(ref)] if checked else [])]
    dg.materialize(assets, resources={"backbone": BackboneResource(home=str(home.root))}, raise_on_error=False)
    if received_at:
        with duckdb.connect(str(home.warehouse)) as con:
            con.execute(
                "update raw.submissions set received_at = ?, checked_at = case when checked_at is not null then ? end "
                "where source = ?",
                [received_at, received_at, source.name],
            )


def tick(defs: dg.Definitions, schedule_name: str, when: dt.datetime) -> dg.ExecuteInProcessResult | None:
    """Evaluate a schedule at `when` as the daemon would; run the job it requests (None: it skipped)."""
    schedule = defs.resolve_schedule_def(schedule_name)
    context = dg.build_schedule_context(
        scheduled_execution_time=when.replace(tzinfo=dt.UTC), resources={"backbone": defs.resources["backbone"]}
    )
    request = schedule(context)
    if isinstance(request, dg.SkipReason):
        return None
    assert isinstance(request, dg.RunRequest)
    return defs.resolve_job_def(schedule.job_name).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), tags=request.tags
    )


def run_alerts(defs: dg.Definitions, when: dt.datetime | None = None) -> dg.ExecuteInProcessResult:
    """The alerts job as the failed-run sensor starts it (at `when`, else now)."""
    return defs.resolve_job_def(ALERTS_JOB).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), tags=as_of_tag(when) if when else None
    )


def alerts_metadata(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    metadata = result.asset_materializations_for_node("alerts__partner_alerts")[0].metadata
    return {key: getattr(value, "value", value) for key, value in metadata.items()}


def check(result: dg.ExecuteInProcessResult, asset: str, name: str) -> dg.AssetCheckEvaluation:
    return next(
        evaluation
        for evaluation in result.get_asset_check_evaluations()
        if evaluation.asset_key.to_user_string() == asset and evaluation.check_name == name
    )


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


# --- routing and content -------------------------------------------------------------------------------


@pytest.mark.slow
def test_each_partner_hears_only_about_its_own_quarantined_delivery_with_the_team_in_copy(
    home: Home, defs: dg.Definitions, mail_server: MailServer, tmp_path: Path
) -> None:
    deliver(home, "assessments", FLAWED_ASSESSMENTS)
    flawed = participation_file(
        tmp_path, "participation_2024-25.csv", [*CLEAN_PARTICIPATION, "S9000003,BFM-ART,2024-25,2024-09-20,10,12,"]
    )
    deliver(home, "program_participation", flawed)

    first = run_alerts(defs)
    again = run_alerts(defs)

    assert first.success and again.success
    mails = {message["To"]: message for message in mail_server.inbox.messages}
    assert sorted(rcpts for _, rcpts in mail_server.inbox.envelopes) == [[*DISTRICT, TEAM], [*MENTORING, TEAM]]
    district, mentoring = mails[", ".join(DISTRICT)], mails[", ".join(MENTORING)]
    assert district["Cc"] == TEAM and mentoring["Cc"] == TEAM

    assert district["Subject"] == (
        "Action needed: a delivery from Riverbend Independent School District "
        "could not be used (assessments_2024-25.csv)"
    )
    text = text_of(district)
    assert "Expected: Scale scores must be whole numbers between 100 and 400." in text
    assert "Found: 1 of 1713 rows do not meet this (column: Scale Score)." in text
    assert re.search(r"row 1705: School Year=2024-25; .*Scale Score=999", text)
    assert "State Student ID=" not in text  # rows are named by number, never by pseudonym
    assert "What to change: Correct 'Scale Score' on row 1705" in text
    assert "Subject=READ" in text
    assert "backbone check-file --partner riverbend_isd --dataset assessments assessments_2024-25.csv" in text
    assert re.search(r"assessments \(per term\): due by \d{4}-\d{2}-\d{2}", text)
    raw_ids = {line.split(",")[0] for line in FLAWED_ASSESSMENTS.read_text().splitlines()[1:]}
    assert not any(raw_id in text for raw_id in raw_ids)
    for other in ("Bright Futures", "program_participation", "BFM", "participation"):
        assert other not in text and other not in district.get_body(("html",)).get_content()

    assert "Program must be BFM-READ (reading buddies) or BFM-MENTOR (1:1 mentoring)." in text_of(mentoring)
    assert "Values found: BFM-ART" in text_of(mentoring)
    for other in ("Riverbend Independent", "assessments", "999", "enrollment"):
        assert other not in text_of(mentoring)

    assert len(mail_server.inbox.messages) == 2  # the second run found nothing new to say
    assert alerts_metadata(again)["queued"] == 0


def test_example_rows_are_capped_at_ten_per_failed_check(home: Home, defs: dg.Definitions, tmp_path: Path) -> None:
    rows = [f"S91{n:05d},BFM-ART,2024-25,2024-09-12,30,24," for n in range(15)]
    deliver(home, "program_participation", participation_file(tmp_path, "participation_2024-25.csv", rows))

    run_alerts(defs)

    from email import message_from_bytes, policy

    (mail,) = home.outbox.glob("*.eml")
    text = text_of(message_from_bytes(mail.read_bytes(), policy=policy.default))
    assert "Found: 15 of 15 rows do not meet this (column: Program)." in text
    assert len(re.findall(r"^ +row \d+: ", text, flags=re.MULTILINE)) == 10
    assert "and the 5 other rows breaking the same rule" in text


# --- never lost, never doubled ----------------------------------------------------------------------------

JAN_5 = dt.datetime(2025, 1, 5, 9, 30)
FEB_12 = dt.datetime(2025, 2, 12, 7, 0)  # the mentoring program's February delivery was due on the 11th


@pytest.mark.slow
def test_mail_waits_out_a_mail_server_outage_with_backoff_and_is_sent_exactly_once(
    home: Home, defs: dg.Definitions, mail_server: MailServer, tmp_path: Path
) -> None:
    deliver(
        home,
        "program_participation",
        participation_file(tmp_path, "participation_2025-01.csv", CLEAN_PARTICIPATION),
        JAN_5,
        checked=False,
    )
    mail_server.stop()

    down = tick(defs, "partner_reminders", FEB_12)
    assert alerts_metadata(down)["still_queued"] == 1 and mail_server.inbox.messages == []
    assert tick(defs, "retry_queued_mail", FEB_12 + dt.timedelta(minutes=3)) is None  # backoff: 5 minutes
    still_down = tick(defs, "retry_queued_mail", FEB_12 + dt.timedelta(minutes=10))
    assert "retry at 2025-02-12 07:20" in alerts_metadata(still_down)["undelivered"]  # then 10 more

    mail_server.start()
    assert tick(defs, "retry_queued_mail", FEB_12 + dt.timedelta(minutes=15)) is None
    back = tick(defs, "retry_queued_mail", FEB_12 + dt.timedelta(minutes=20))
    assert tick(defs, "retry_queued_mail", FEB_12 + dt.timedelta(minutes=30)) is None  # nothing left queued
    next_day = tick(defs, "partner_reminders", FEB_12 + dt.timedelta(days=1))  # same data, same period

    assert alerts_metadata(back)["sent"] == 1 and alerts_metadata(next_day)["sent"] == 0
    assert len(mail_server.inbox.messages) == 1
    assert mail_server.inbox.envelopes[0][1] == [*MENTORING, TEAM]


@pytest.mark.slow
def test_a_mail_server_that_never_comes_back_is_given_up_and_fails_the_mail_check(
    home: Home, defs: dg.Definitions, mail_server: MailServer, tmp_path: Path
) -> None:
    deliver(
        home,
        "program_participation",
        participation_file(tmp_path, "participation_2025-01.csv", CLEAN_PARTICIPATION),
        JAN_5,
        checked=False,
    )
    mail_server.stop()

    moment, results = FEB_12, [tick(defs, "partner_reminders", FEB_12)]
    for attempt in range(1, MAX_ATTEMPTS):
        moment += backoff(attempt)
        results.append(tick(defs, "retry_queued_mail", moment))

    assert all(result is not None for result in results)
    assert [check(result, "alerts/partner_alerts", "mail_delivered").passed for result in results] == [True] * (
        MAX_ATTEMPTS - 1
    ) + [False]
    gave_up = check(results[-1], "alerts/partner_alerts", "mail_delivered")
    assert gave_up.severity == dg.AssetCheckSeverity.ERROR
    assert alerts_metadata(results[-1])["given_up"] == 1
    assert "given up" in alerts_metadata(results[-1])["undelivered"]
    assert tick(defs, "retry_queued_mail", moment + dt.timedelta(days=1)) is None


# --- late and missing deliveries --------------------------------------------------------------------------


@pytest.mark.slow
def test_an_overdue_dataset_fails_its_freshness_check_is_chased_once_per_period_then_escalated(
    home: Home, defs: dg.Definitions, mail_server: MailServer, tmp_path: Path
) -> None:
    deliver(
        home,
        "program_participation",
        participation_file(tmp_path, "participation_2025-01.csv", CLEAN_PARTICIPATION),
        JAN_5,
        checked=False,
    )
    raw = "raw/bright_futures_mentoring__program_participation"

    before_due = tick(defs, "partner_reminders", dt.datetime(2025, 2, 5, 7))
    first_miss = tick(defs, "partner_reminders", FEB_12)
    next_day = tick(defs, "partner_reminders", FEB_12 + dt.timedelta(days=1))
    second_miss = tick(defs, "partner_reminders", dt.datetime(2025, 3, 12, 7))
    deliver(
        home,
        "program_participation",
        participation_file(tmp_path, "participation_2025-03.csv", ["S9000004,BFM-READ,2024-25,2025-03-01,8,8,"]),
        dt.datetime(2025, 3, 20, 10),
        checked=False,
    )
    delivered = tick(defs, "partner_reminders", dt.datetime(2025, 3, 21, 7))

    assert check(before_due, raw, FRESHNESS_CHECK).passed
    warn = check(first_miss, raw, FRESHNESS_CHECK)
    assert not warn.passed and warn.severity == dg.AssetCheckSeverity.WARN
    assert warn.description == "Overdue: no delivery for 2025-02 (due on 2025-02-11)."
    assert not check(next_day, raw, FRESHNESS_CHECK).passed
    error = check(second_miss, raw, FRESHNESS_CHECK)
    assert not error.passed and error.severity == dg.AssetCheckSeverity.ERROR
    assert check(delivered, raw, FRESHNESS_CHECK).passed
    assert check(second_miss, "raw/riverbend_isd__assessments", FRESHNESS_CHECK).passed  # never delivered: not chased

    reminder, escalation = mail_server.inbox.messages  # one per missed period, none before or after
    assert reminder["Subject"] == "Reminder: Bright Futures Mentoring: program_participation is overdue"
    assert reminder["To"] == MENTORING[0] and reminder["Cc"] == TEAM
    assert "the delivery for period 2025-02 was due on 2025-02-11 and has not arrived" in text_of(reminder)
    assert "program_participation (monthly): overdue since 2025-02-11" in text_of(reminder)
    assert escalation["Subject"] == "Escalated: Bright Futures Mentoring: program_participation is overdue"
    assert escalation["To"] == f"{MENTORING[0]}, {TEAM}" and escalation["Cc"] is None
    assert "2 periods in a row now have no delivery (2025-02, 2025-03)" in text_of(escalation)


@pytest.mark.parametrize(
    ("partner", "day", "label", "due_on"),
    [
        ("bright_futures_mentoring", "2025-12-31", "2025-12", "2025-12-11"),  # monthly, 10 days' grace
        ("workforce_board", "2025-05-20", "2025-Q2", "2025-05-01"),  # quarterly, 30
        ("riverbend_isd", "2025-03-01", "2025 spring term", "2025-02-15"),  # terms from Jan and Aug, 45
        ("riverbend_isd", "2025-12-01", "2025 fall term", "2025-09-15"),
        ("early_learning_coalition", "2025-03-01", "2024-25", "2024-10-29"),  # school years from July, 120
    ],
)
def test_each_cadence_has_its_periods_and_due_dates(
    registry: Registry, partner: str, day: str, label: str, due_on: str
) -> None:
    period = period_of(registry.partners[partner], dt.date.fromisoformat(day))
    assert (period.label, period.due_on.isoformat()) == (label, due_on)


def _partners_with(tmp_path: Path, partner: str, line: str) -> Path:
    folder = tmp_path / "partners"
    shutil.copytree(PARTNERS_DIR, folder)
    path = folder / f"{partner}.yml"
    path.write_text(path.read_text().replace("cadence:", f"{line}\ncadence:", 1))
    return folder


def test_a_partner_file_may_set_its_grace_days_within_its_period(tmp_path: Path) -> None:
    registry = load_registry(_partners_with(tmp_path, "workforce_board", "grace_days: 45"), EXPECTATIONS_DIR)
    assert period_of(registry.partners["workforce_board"], dt.date(2025, 5, 20)).due_on == dt.date(2025, 5, 16)

    with pytest.raises(RegistryError) as refused:
        load_registry(_partners_with(tmp_path / "2", "bright_futures_mentoring", "grace_days: 31"), EXPECTATIONS_DIR)
    assert "bright_futures_mentoring.yml" in str(refused.value)
    assert "grace_days: 31 must be less than the shortest monthly period (28 days)" in str(refused.value)


# --- partner data health ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_partner_data_health_shows_timeliness_checks_rows_and_time_to_fix(
    home: Home, defs: dg.Definitions, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fall term (due 15 September): enrollment on time. Spring term (due 15 February): the flawed
    # assessments five days late, fixed 30 hours later; no spring enrollment at all.
    enrollment = SAMPLE / "history" / "riverbend_isd" / "enrollment_2023-24.csv"
    deliver(home, "enrollment", enrollment, dt.datetime(2024, 9, 2, 8))
    deliver(home, "assessments", FLAWED_ASSESSMENTS, dt.datetime(2025, 2, 20, 10))
    deliver(home, "assessments", FIXED_ASSESSMENTS, dt.datetime(2025, 2, 21, 16))
    march_1 = dt.datetime(2025, 3, 1, 7)
    assert dg.materialize(
        [build_calendar_asset(registry)], resources={"backbone": BackboneResource()}, tags=as_of_tag(march_1)
    ).success
    monkeypatch.setenv("BACKBONE_WAREHOUSE", str(home.warehouse))  # where dbt's profile points
    built = run_dbt(
        [
            "build",
            "--select",
            "+partner_data_health",
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
            "--quiet",
        ]
    )
    assert built.returncode == 0, built.stdout + built.stderr
    with duckdb.connect(str(home.warehouse)) as con:
        health = con.execute(
            "select dataset, period, delivery_status, days_late, submissions, submissions_rejected, checks_failed, "
            "rows_accepted, rows_rejected, hours_to_fix from marts.partner_data_health order by dataset, period"
        ).fetchall()
    flawed_rows = len(FLAWED_ASSESSMENTS.read_text().splitlines()) - 1
    fixed_rows = len(FIXED_ASSESSMENTS.read_text().splitlines()) - 1
    enrollment_rows = len(enrollment.read_text().splitlines()) - 1
    assert health == [
        ("assessments", "2025 spring term", "late", 5, 2, 1, 5, fixed_rows, flawed_rows, 30.0),
        ("enrollment", "2024 fall term", "on_time", 0, 1, 0, 0, enrollment_rows, 0, None),
        ("enrollment", "2025 spring term", "missing", 14, 0, 0, 0, 0, 0, None),
    ]

    shown = alerts_metadata(run_alerts(defs, march_1))["data_health"]
    assert "| riverbend_isd | enrollment | 2025 spring term | missing, 14 days overdue |" in shown
    assert "| riverbend_isd | assessments | 2025 spring term | 5 days late | 5 / " in shown
