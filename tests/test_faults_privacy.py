"""Student data stays private at rest and in mail, as a district's data-privacy officer would demand.

- The instance is owner-only whatever the umask of whoever starts a run; only the published outputs
  (serving.duckdb, exports/, site/) are opened, and only to the group named by BACKBONE_SHARE_GROUP.
- A linking key that is empty or short is refused: anyone could recompute its pseudonyms.
- Markup in anything a partner or the config supplies is escaped in every HTML mail and page.
- Partner mails name rows by row number and the partner's own values, never by pseudonym.
- Secrets (linking key, API token, SMTP password) are nowhere on disk after a run, not in logs,
  Dagster's storage, dbt's artifacts or the outbox, and never among the settings the UI shows.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import grp
import hashlib
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.core.home import EXPECTATIONS_DIR, PARTNERS_DIR, PROJECT_ROOT, Home
from pipelines.core.registry import load_registry
from pipelines.sample.api import SampleCollegeApi
from tests.conftest import Inbox, free_port, run_cli

SAMPLE = PROJECT_ROOT / "sources" / "sample"
SHARED = ("serving.duckdb", "exports", "site", "published")
API_TOKEN = "PLANTED-api-token-Zq8wX3"
SMTP_USER, SMTP_PASSWORD = "backbone-mailer", "PLANTED-smtp-password-Kd71pQ"
MARKUP = "\"'><img src=x onerror=alert(1)><script>alert(2)</script>"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _modes(root: Path) -> dict[str, int]:
    # A symbolic link's own mode is never consulted (serving.duckdb, exports and site point into the
    # published version): what it names is checked where it lies.
    return {str(path.relative_to(root)): _mode(path) for path in root.rglob("*") if not path.is_symlink()}


def _forms(secret: bytes) -> list[bytes]:
    """How a secret could be written down: as is, hex, base64, and for the linking key each HMAC
    padded key (the key XOR a constant) in 16-hex-character pieces, as SQL literals would hold them."""
    forms = [secret, secret.hex().encode(), base64.b64encode(secret)]
    padded = (hashlib.sha256(secret).digest() if len(secret) > 64 else secret).ljust(64, b"\0")
    for pad in (0x36, 0x5C):
        text = bytes(b ^ pad for b in padded).hex().encode()
        forms += [text[i : i + 16] for i in range(0, len(text) - 16, 8)]
    return forms


def _files_holding(root: Path, secret: bytes, skip: set[Path] = frozenset()) -> list[str]:
    forms = [form.lower() for form in _forms(secret)]
    found = []
    for path in root.rglob("*"):
        if path.is_file() and path not in skip:
            data = path.read_bytes().lower()
            found += [f"{path.relative_to(root)} holds {form.decode()[:24]}" for form in forms if form in data]
    return found


# --- one demo under umask 022, with planted secrets and a mail server asking for a login ---------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Home, list, subprocess.CompletedProcess]]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == SMTP_PASSWORD.encode())

    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False)
    home = Home.resolve(tmp_path_factory.mktemp("privacy") / "home")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("BACKBONE_", "RIVERBEND_", "WORKFORCE_", "DAGSTER_"))
    }
    env |= {
        "BACKBONE_HOME": str(home.root),
        "RIVERBEND_COLLEGE_API_TOKEN": API_TOKEN,
        "BACKBONE_SMTP_HOST": "127.0.0.1",
        "BACKBONE_SMTP_PORT": str(port),
        "BACKBONE_SMTP_STARTTLS": "false",
        "BACKBONE_SMTP_USER": SMTP_USER,
        "BACKBONE_SMTP_PASSWORD": SMTP_PASSWORD,
    }
    controller.start()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "demo"],
            capture_output=True,
            text=True,
            cwd=PROJECT_ROOT,
            env=env,
            timeout=900,
            umask=0o022,
        )
    finally:
        controller.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    assert inbox.messages and logins == [(SMTP_USER.encode(), SMTP_PASSWORD.encode())] * len(logins)
    yield home, inbox.messages, result


def test_under_umask_022_every_file_of_the_instance_is_owner_only(demo) -> None:
    home, _, _ = demo
    modes = _modes(home.root)
    for place in (
        "archive",
        "warehouse.duckdb",
        "outbox",
        "logs",
        "dagster",
        "inbox",
        "dbt-target",
        "link.key",
        "sample",
        "chart-cache",
    ):
        assert any(path == place or path.startswith(place + "/") for path in modes), f"{place} was not written"
    loose = {
        path: oct(mode)
        for path, mode in modes.items()
        if mode not in ((0o700,) if (home.root / path).is_dir() else (0o600,))
    }
    # Without BACKBONE_SHARE_GROUP, nothing is shared: the published outputs are owner-only too.
    assert loose == {}
    assert _mode(home.root) == 0o700


def test_no_secret_is_left_anywhere_in_the_instance(demo) -> None:
    home, _, result = demo
    link_key = home.link_key_file.read_text().strip().encode()
    found = [
        *_files_holding(home.root, link_key, skip={home.link_key_file}),
        *_files_holding(home.root, API_TOKEN.encode()),
        *_files_holding(home.root, SMTP_PASSWORD.encode()),
    ]
    assert found == []
    for secret in (link_key.decode(), API_TOKEN, SMTP_PASSWORD):
        assert secret not in result.stdout + result.stderr


def test_the_share_group_reads_the_published_outputs_and_nothing_else(demo) -> None:
    home, _, _ = demo
    group = grp.getgrgid(os.getgid())
    # An instance made by an earlier version: readable by everybody.
    archived = next(path for path in (home.archive).rglob("*") if path.is_file())
    for path in (home.root, home.archive, archived):
        path.chmod(0o755 if path.is_dir() else 0o644)

    published = home.serving.stat().st_ino

    with SampleCollegeApi(store_dir=home.sample / "api", token=API_TOKEN) as api:
        result = run_cli(
            "run",
            env={
                "BACKBONE_HOME": str(home.root),
                "BACKBONE_SHARE_GROUP": group.gr_name,
                "BACKBONE_LINK_KEY": home.link_key_file.read_text().strip(),
                "RIVERBEND_COLLEGE_API_URL": api.url,
                "RIVERBEND_COLLEGE_API_TOKEN": API_TOKEN,
                "WORKFORCE_DB_URL": f"sqlite:///{home.sample / 'workforce_board.sqlite'}",
            },
        )

    assert result.returncode == 0, result.stdout + result.stderr
    assert home.serving.stat().st_ino != published  # published anew, shared before it was renamed into place
    assert _mode(home.root) == 0o710 and home.root.stat().st_gid == group.gr_gid
    for path, mode in _modes(home.root).items():
        is_dir = (home.root / path).is_dir()
        if path.split("/")[0] in SHARED:
            assert (mode, (home.root / path).stat().st_gid) == (0o750 if is_dir else 0o640, group.gr_gid), path
        else:
            assert mode == (0o700 if is_dir else 0o600), path


def test_an_unknown_share_group_is_refused_plainly(tmp_path: Path) -> None:
    result = run_cli("run", env={"BACKBONE_HOME": str(tmp_path / "home"), "BACKBONE_SHARE_GROUP": "no-such-group-x"})
    assert result.returncode == 2
    assert "BACKBONE_SHARE_GROUP" in result.stderr and "no-such-group-x" in result.stderr
    assert "Traceback" not in result.stderr


# --- the linking key -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key_file, env_key", [("", None), ("\n", None), ("0123456789abcdef", None), (None, ""), (None, "short-key")]
)
def test_an_empty_or_short_linking_key_is_refused(tmp_path: Path, key_file: str | None, env_key: str | None) -> None:
    home = Home.resolve(tmp_path / "home").ensure()
    if key_file is not None:
        home.link_key_file.write_text(key_file)
    env = {"BACKBONE_HOME": str(home.root)}
    if env_key is not None:
        env["BACKBONE_LINK_KEY"] = env_key
    else:
        os.environ.pop("BACKBONE_LINK_KEY", None)

    result = run_cli("run", env=env)

    assert result.returncode == 2, result.stdout + result.stderr
    where = "BACKBONE_LINK_KEY" if env_key is not None else str(home.link_key_file)
    assert where in result.stderr and "at least 32 bytes" in result.stderr
    assert "Traceback" not in result.stderr
    assert not home.warehouse.exists()


def test_a_landing_that_fails_leaves_no_trace_of_the_linking_key(home: Home) -> None:
    """DuckDB quotes a failing statement in its error, which lands in Dagster's event log."""
    from pipelines.core.resources import BackboneResource
    from pipelines.ingest.assets import build_raw_asset

    ref = load_registry(PARTNERS_DIR, EXPECTATIONS_DIR).dataset("enrollment")
    with duckdb.connect(str(home.warehouse)) as con:  # an earlier table whose student column is a number
        con.execute(f"create schema raw; create table raw.{ref.table} (student_id bigint)")
    (home.inbox / ref.partner.id).mkdir(parents=True, exist_ok=True)
    source = next((SAMPLE / "history" / "riverbend_isd").glob("enrollment_*.csv"))
    shutil.copy(source, home.inbox / ref.partner.id / source.name)

    result = dg.materialize(
        [build_raw_asset(ref)],
        instance=dg.DagsterInstance.get(),
        resources={"backbone": BackboneResource(home=str(home.root))},
        raise_on_error=False,
    )

    assert not result.success
    error = next(event for event in result.all_events if event.is_step_failure).step_failure_data.error
    assert "Conversion Error" in error.cause.message  # the cause is still told
    assert _files_holding(home.root, os.environ["BACKBONE_LINK_KEY"].encode()) == []


# --- mail and pages ------------------------------------------------------------------------------------


def _html_parts(messages) -> list[str]:
    return [message.get_body(("html",)).get_content() for message in messages]


def test_partner_mails_name_rows_by_number_never_by_pseudonym(demo) -> None:
    home, messages, _ = demo
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        pseudonyms = {
            str(value)
            for (value,) in con.execute(
                'select distinct student_id from raw."riverbend_isd__assessments" where _submission_id in '
                "(select submission_id from raw.submissions where status = 'quarantined')"
            ).fetchall()
        }
    assert pseudonyms
    alert = next(message for message in messages if "could not be used" in message["Subject"])
    text, html = alert.get_body(("plain",)).get_content(), alert.get_body(("html",)).get_content()
    for body in (text, html):
        assert not [value for value in pseudonyms if value in body or value.replace("-", "") in body]
    assert "row 1411: School Year=2024-25" in text and "left out of this message" in text
    assert "pseudonymized;" not in text + html


def test_markup_in_a_delivered_file_is_escaped_in_the_alert_mail(home: Home) -> None:
    from pipelines.alerts.jobs import ALERTS_JOB
    from pipelines.alerts.mail import MailerResource
    from pipelines.core.resources import BackboneResource
    from pipelines.definitions import build_definitions
    from pipelines.ingest.assets import build_raw_asset
    from pipelines.quality.checks import build_expectations_check

    ref = load_registry(PARTNERS_DIR, EXPECTATIONS_DIR).dataset("program_participation")
    inbox = home.inbox / ref.partner.id
    inbox.mkdir(parents=True, exist_ok=True)
    with (inbox / "participation_2024-25.csv").open("w", newline="", encoding="utf-8") as out:
        # as a spreadsheet exports it: the value with quotes in it is quoted, its quotes doubled
        writer = csv.writer(out)
        writer.writerow(
            ["Student ID", "Program", "School Year", "Start Date", "Sessions Offered", "Sessions Attended", "End Date"]
        )
        writer.writerow(["S9000001", MARKUP, "2024-25", "2024-09-12", "30", "24", ""])
    dg.materialize(
        [build_raw_asset(ref), build_expectations_check(ref)],
        resources={"backbone": BackboneResource(home=str(home.root))},
        raise_on_error=False,
    )
    build_definitions().resolve_job_def(ALERTS_JOB).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), resources={"mailer": MailerResource()}
    )

    [eml] = home.outbox.glob("*.eml")
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    text, html = message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()
    assert MARKUP in text  # the text part shows the partner's value as it is
    assert "<img" not in html and "<script" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_every_mail_template_escapes_markup(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.alerts import digest as digest_module
    from pipelines.alerts.compose import FailedCheck, NextDelivery, Problem, compose
    from pipelines.alerts.digest import Movement
    from pipelines.core.partnership import load_partnership
    from pipelines.publish.published import DataHealthRow
    from pipelines.quality.due import Period
    from pipelines.quality.timeliness import Overdue

    registry, real_agenda = load_partnership()
    agenda = real_agenda.model_copy(update={"partnership": MARKUP})  # the partnership's name is config too
    real = registry.partners["riverbend_isd"]
    partner = real.model_copy(update={"name": MARKUP})
    check = FailedCheck(
        notes=MARKUP,
        expectation=MARKUP,
        columns=MARKUP,
        unexpected_count=1,
        element_count=2,
        sample_values=[MARKUP],
        sample_rows=[2],
        error=None,
        fix=MARKUP,
        examples=[{"row": 2, MARKUP: MARKUP}],
    )
    problems = [
        Problem(
            key="a",
            dataset=MARKUP,
            source=MARKUP,
            received_at=MARKUP,
            status="quarantined",
            reason=None,
            rows=2,
            checks=[check, FailedCheck(**{**check.__dict__, "error": MARKUP})],
            recheck=MARKUP,
        ),
        Problem(
            key="b",
            dataset=MARKUP,
            source=MARKUP,
            received_at=MARKUP,
            status="unreadable",
            reason=MARKUP,
            rows=0,
            checks=[],
            recheck=MARKUP,
        ),
    ]
    period = Period(label=MARKUP, start=dt.date(2024, 8, 1), end=dt.date(2025, 1, 1), due_on=dt.date(2024, 9, 1))
    overdue = [Overdue(key="c", dataset=MARKUP, missed=(period, period), last_received_at=dt.datetime(2024, 1, 1))]
    upcoming = [NextDelivery(MARKUP, dt.date(2025, 1, 1), False), NextDelivery(MARKUP, None, False)]
    alert = compose(partner, problems, overdue, upcoming, team=MARKUP, agenda=agenda)

    health = [
        DataHealthRow(
            partner=MARKUP,
            dataset=MARKUP,
            period=MARKUP,
            period_start=dt.date(2024, 12, 1),
            due_on=dt.date(2025, 1, 1),
            delivery_status="late",
            first_received_at=None,
            days_late=3,
            submissions_rejected=1,
            checks_passed=1,
            checks_failed=1,
            rows_accepted=1,
            rows_rejected=1,
            hours_to_fix=1.0,
        )
    ]
    movements = [Movement(MARKUP, MARKUP, 0.5, MARKUP, 0.4)]
    monkeypatch.setattr(digest_module, "recent_health", lambda *args, **kwargs: health)
    monkeypatch.setattr(digest_module, "fed_indicators", lambda agenda, partner: {"x": MARKUP})
    monkeypatch.setattr(digest_module, "indicator_movements", lambda con, indicators: movements)
    monkeypatch.setattr(digest_module, "next_deliveries", lambda *args: upcoming)
    with duckdb.connect() as con:
        digest = digest_module.compose_digest(con, registry, partner, dt.datetime(2025, 2, 1), MARKUP, agenda)

    for mail in (alert, digest):
        assert MARKUP in mail.text  # every value did reach the mail
        assert "<img" not in mail.html and "<script" not in mail.html, mail.key


def test_every_scorecard_page_escapes_markup(tmp_path: Path) -> None:
    import yaml

    from pipelines.core.agenda import load_agenda
    from pipelines.core.home import AGENDA_FILE
    from pipelines.publish.published import load_published
    from pipelines.publish.scorecard.build import render_pages
    from tests.test_scorecard import CELLS, PROGRAM, _rules, _serving

    agenda_doc = yaml.safe_load(AGENDA_FILE.read_text())
    agenda_doc["partnership"] = MARKUP
    for indicator in agenda_doc["indicators"]:
        indicator["title"] = f"{indicator['title']} {MARKUP}"
    for program in agenda_doc.get("programs", []):
        program["name"] = f"{program['name']} {MARKUP}"
    (tmp_path / "agenda.yml").write_text(yaml.safe_dump(agenda_doc))
    partners = tmp_path / "partners"
    partners.mkdir()
    for path in PARTNERS_DIR.glob("*.yml"):
        doc = yaml.safe_load(path.read_text())
        doc["name"] = f"{doc['name']} {MARKUP}"
        (partners / path.name).write_text(yaml.safe_dump(doc))
    cells = [(*cell[:3], f"{cell[3]} {MARKUP}", cell[4], f"{cell[5]} {MARKUP}", *cell[6:]) for cell in CELLS]
    serving = _serving(tmp_path / "serving.duckdb", cells, [(*PROGRAM[:1], MARKUP, *PROGRAM[2:])])

    pages = render_pages(
        load_published(serving, _rules()),
        load_agenda(tmp_path / "agenda.yml"),
        load_registry(partners, EXPECTATIONS_DIR),
    )

    assert MARKUP.replace("<", "&lt;").replace(">", "&gt;")[3:20] in "".join(pages.values())
    for path, html in pages.items():
        assert "<img" not in html and "<script" not in html, path


# --- secrets and the Dagster UI --------------------------------------------------------------------------


def test_the_dagster_ui_never_shows_or_asks_for_the_smtp_password(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster._core.remote_representation.external_data import RepositorySnap
    from dagster_shared.serdes import serialize_value

    from pipelines.definitions import build_definitions

    monkeypatch.setenv("BACKBONE_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("BACKBONE_LINK_KEY", "PLANTED-link-key-0123456789abcdef0123")
    monkeypatch.setenv("RIVERBEND_COLLEGE_API_TOKEN", API_TOKEN)
    snapshot = serialize_value(RepositorySnap.from_def(build_definitions().get_repository_def()))
    for secret in (SMTP_PASSWORD, "PLANTED-link-key", API_TOKEN):
        assert secret not in snapshot
    # Nor may the launchpad take one as run config, to be stored with the run.
    assert "smtp_password" not in snapshot
