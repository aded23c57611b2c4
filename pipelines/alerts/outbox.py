"""The outbox table: a mail is queued once per idempotency key and marked sent once delivered.

A failed delivery stays queued (with the error) for the next attempt, so nothing is lost when
the mail server is down and nothing is sent twice when a run is repeated.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from smtplib import SMTPException

import duckdb

from pipelines.alerts.mail import Mail, MailerResource

OUTBOX_DDL = """
create schema if not exists alerts;
create table if not exists alerts.outbox (
    mail_key varchar primary key,
    partner varchar not null,
    recipients varchar not null,   -- JSON list
    subject varchar not null,
    text_body varchar not null,
    html_body varchar not null,
    status varchar not null,       -- queued | sent
    attempts integer not null,
    last_error varchar,
    created_at timestamp not null,
    sent_at timestamp,
    sent_to varchar
);
create table if not exists alerts.mail_problems (
    problem_key varchar primary key,  -- what was reported (e.g. a quarantined submission)
    mail_key varchar not null
);
"""


@dataclass(frozen=True)
class Delivered:
    mail_key: str
    partner: str
    recipients: list[str]
    subject: str
    sent_to: str | None
    error: str | None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def ensure_outbox(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(OUTBOX_DDL)


def reported(con: duckdb.DuckDBPyConnection) -> set[str]:
    ensure_outbox(con)
    return {row[0] for row in con.execute("select problem_key from alerts.mail_problems").fetchall()}


def enqueue(con: duckdb.DuckDBPyConnection, mail: Mail, problem_keys: list[str]) -> bool:
    """Queue `mail` unless its key is already known; returns whether it was new."""
    ensure_outbox(con)
    if con.execute("select 1 from alerts.outbox where mail_key = ?", [mail.key]).fetchone():
        return False
    con.execute("begin transaction")
    con.execute(
        "insert into alerts.outbox values (?, ?, ?, ?, ?, ?, 'queued', 0, null, ?, null, null)",
        [mail.key, mail.partner, json.dumps(list(mail.to)), mail.subject, mail.text, mail.html, _now()],
    )
    for key in problem_keys:
        con.execute("insert or ignore into alerts.mail_problems values (?, ?)", [key, mail.key])
    con.execute("commit")
    return True


def deliver_queued(con: duckdb.DuckDBPyConnection, mailer: MailerResource, outbox_dir: Path) -> list[Delivered]:
    ensure_outbox(con)
    queued = con.execute(
        "select mail_key, partner, recipients, subject, text_body, html_body from alerts.outbox "
        "where status = 'queued' order by created_at, mail_key"
    ).fetchall()
    results = []
    for key, partner, recipients, subject, text, html in queued:
        to = json.loads(recipients)
        mail = Mail(key=key, partner=partner, to=tuple(to), subject=subject, text=text, html=html)
        try:
            where = mailer.send(mail, outbox_dir)
        except (OSError, SMTPException) as exc:
            con.execute(
                "update alerts.outbox set attempts = attempts + 1, last_error = ? where mail_key = ?",
                [f"{type(exc).__name__}: {exc}", key],
            )
            results.append(Delivered(key, partner, to, subject, None, str(exc)))
            continue
        con.execute(
            "update alerts.outbox set status = 'sent', attempts = attempts + 1, last_error = null, "
            "sent_at = ?, sent_to = ? where mail_key = ?",
            [_now(), where, key],
        )
        results.append(Delivered(key, partner, to, subject, where, None))
    return results
