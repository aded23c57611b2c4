"""The monthly digest: each partner gets its own delivery health and the movement of the indicators its
data feeds, once a month, and `backbone digest --partner P --dry-run` shows it beforehand.

The marts the digest reads are written here by hand (their SQL is tested in test_alerts.py and the
dbt tests); the district's deliveries land for real so that its due dates are its own.
"""

from __future__ import annotations

import datetime as dt
import re

import dagster as dg
import duckdb
import pytest

from pipelines.alerts.digest import compose_digest
from pipelines.core.home import Home
from pipelines.core.partnership import Partnership
from pipelines.core.registry import Partner, Registry
from tests.conftest import Inbox, run_cli
from tests.test_alerts import SAMPLE, TEAM, deliver, tick

HEALTH = [  # partner, dataset, period, period_start, due_on, status, days late, checks passed/failed, rows, hours
    (
        "riverbend_isd",
        "assessments",
        "2025 spring term",
        "2025-01-01",
        "2025-02-15",
        "late",
        5,
        30,
        5,
        1712,
        1713,
        30.0,
    ),
    ("riverbend_isd", "enrollment", "2025 spring term", "2025-01-01", "2025-02-15", "missing", 14, 0, 0, 0, 0, None),
    (
        "bright_futures_mentoring",
        "program_participation",
        "2025-02",
        "2025-02-01",
        "2025-02-11",
        "on_time",
        0,
        18,
        0,
        141,
        0,
        None,
    ),
]
INDICATORS = [  # indicator, period, geography, dimension, group, value, suppressed
    ("grade3_reading", "2023-24", "Riverbend", "all_students", "All students", 0.41, False),
    ("grade3_reading", "2024-25", "Riverbend", "all_students", "All students", 0.452, False),
    ("grade3_reading", "2024-25", "Riverbend", "race_ethnicity", "Asian", 0.9, False),  # not community-wide
    ("grade3_reading", "2024-25", "Riverside Elementary", "all_students", "All students", 0.2, False),
    ("hs_graduation_4yr", "2025", "Riverbend", "all_students", "All students", None, True),
]


def _marts(home: Home) -> None:
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("create schema if not exists marts")
        # the mart's columns (first receipt and rejected submissions are not what the digest shows)
        con.execute(
            "create table marts.partner_data_health (partner varchar, dataset varchar, period varchar, "
            "period_start date, due_on date, delivery_status varchar, days_late integer, checks_passed bigint, "
            "checks_failed bigint, rows_accepted bigint, rows_rejected bigint, hours_to_fix double, "
            "first_received_at timestamp, submissions_rejected bigint)"
        )
        con.executemany(
            "insert into marts.partner_data_health values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, null, 0)", HEALTH
        )
        con.execute(
            "create table marts.indicator_values (indicator_id varchar, period varchar, geography varchar, "
            "dimension varchar, group_value varchar, value double, suppressed boolean)"
        )
        con.executemany("insert into marts.indicator_values values (?, ?, ?, ?, ?, ?, ?)", INDICATORS)


@pytest.mark.slow
def test_the_preview_shows_the_partner_its_own_health_and_the_indicators_its_data_feeds(home: Home) -> None:
    deliver(home, "enrollment", SAMPLE / "history" / "riverbend_isd" / "enrollment_2023-24.csv", checked=False)
    _marts(home)

    district = run_cli("digest", "--partner", "riverbend_isd", "--dry-run")
    mentoring = run_cli("digest", "--partner", "bright_futures_mentoring", "--dry-run")

    assert district.returncode == 0, district.stderr
    text = district.stdout
    assert text.startswith(
        "To: mlopez@riverbend-isd.example.org, dchen@riverbend-isd.example.org\n"
        f"Cc: {TEAM}\nSubject: Your monthly data digest, "
    )
    assert "Here is your monthly summary from Riverbend Cradle-to-Career Partnership" in text  # agenda.yml's name
    assert (
        "assessments, 2025 spring term: 5 days late; 5 of 35 checks failed; 1712 rows accepted, 1713 set "
        "aside; fixed 30.0 hours after it was set aside"
    ) in text
    assert "enrollment, 2025 spring term: missing, 14 days overdue\n" in text
    assert re.search(r"enrollment \(per term\): due by \d{4}-\d{2}-\d{2}", text)
    assert "Third-grade reading proficiency: 45.2% in 2024-25 (+4.2 points since 2023-24)" in text
    assert "Four-year high school graduation: 2025: not shown (too few students to publish)" in text
    assert "Kindergarten readiness: not published yet" in text  # the district's enrollment feeds it too
    for other in ("Bright Futures", "program_participation", "Asian", "Riverside"):
        assert other not in text

    assert mentoring.returncode == 0, mentoring.stderr
    assert "program_participation, 2025-02: on time; 0 of 18 checks failed; 141 rows accepted" in mentoring.stdout
    assert "None of the shared indicators draws on your datasets yet." in mentoring.stdout
    assert "riverbend_isd" not in mentoring.stdout and "assessments" not in mentoring.stdout

    with duckdb.connect(str(home.warehouse), read_only=True) as con:  # a preview sends and queues nothing
        assert not con.execute("select count(*) from alerts.outbox").fetchone()[0]
    assert not list(home.outbox.iterdir())


def test_an_unknown_partner_is_refused_with_the_known_ones_named(home: Home) -> None:
    result = run_cli("digest", "--partner", "riverbend_usd", "--dry-run")

    assert result.returncode == 2
    assert (
        "unknown partner 'riverbend_usd' (known partners: bright_futures_mentoring, early_learning_coalition, "
        "riverbend_college, riverbend_isd, workforce_board)" in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_the_monthly_schedule_mails_every_partner_one_digest_a_month(
    home: Home, partnership: Partnership, smtp_server: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.definitions import build_definitions

    inbox, port = smtp_server
    monkeypatch.setenv("BACKBONE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("BACKBONE_SMTP_PORT", str(port))
    monkeypatch.setenv("BACKBONE_SMTP_STARTTLS", "false")
    _marts(home)
    defs = build_definitions(partnership)
    registry = partnership.registry

    march = tick(defs, "monthly_partner_digest", dt.datetime(2025, 3, 1, 8))
    rerun = defs.resolve_job_def("partner_digest_job").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), tags=march.dagster_run.tags
    )
    april = tick(defs, "monthly_partner_digest", dt.datetime(2025, 4, 1, 8))

    assert march.success and rerun.success and april.success
    assert len(inbox.messages) == 2 * len(registry.partners)  # March's once, April's once
    for message, (_, recipients) in zip(inbox.messages, inbox.envelopes, strict=True):
        partner = next(p for p in registry.partners.values() if message["To"] == ", ".join(p.owners))
        assert recipients == [*partner.owners, TEAM] and message["Cc"] == TEAM
        assert partner.name in message["Subject"]
        for other in registry.partners.values():
            if other.id != partner.id:
                assert other.name not in message.get_body(("plain",)).get_content()
    assert [message["Subject"].split(",")[1].split(":")[0].strip() for message in inbox.messages] == [
        "March 2025"
    ] * 5 + ["April 2025"] * 5


def test_without_a_usable_agenda_the_indicator_part_is_left_out(registry: Registry) -> None:
    partner: Partner = registry.partners["riverbend_isd"]

    with duckdb.connect() as empty:
        mail = compose_digest(empty, registry, partner, dt.datetime(2025, 3, 1), TEAM, agenda=None)

    assert "Delivery health is not computed yet" in mail.text
    assert "shared indicators" not in mail.text and "shared indicators" not in mail.html
