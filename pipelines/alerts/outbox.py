"""The outbox table: a mail is queued once per idempotency key and marked sent once delivered.

A failed delivery stays queued (with the error) and is tried again after an exponential backoff
(5 minutes, then 10, 20, ... ; `next_attempt_at`); after MAX_ATTEMPTS tries, about ten and a half
hours, it is given up (status 'failed') and shown as a failing check. So nothing is lost when the
mail server is down, nothing is sent twice when a run is repeated, and a server that never comes
back does not go unnoticed.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from smtplib import SMTPException

import duckdb

from pipelines.alerts.mail import Mail, MailerResource
from pipelines.core.clock import utc_now
from pipelines.core.sql import table_exists, transaction

RETRY_AFTER = dt.timedelta(minutes=5)
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Delivered:
    mail_key: str
    partner: str
    recipients: list[str]
    subject: str
    sent_to: str | None
    error: str | None
    next_attempt_at: dt.datetime | None = None  # None after an error: given up


def backoff(attempts: int) -> dt.timedelta:
    """Wait before the next try after `attempts` failed ones."""
    return RETRY_AFTER * 2 ** (attempts - 1)


def reported(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {row[0] for row in con.execute("select problem_key from alerts.mail_problems").fetchall()}


def enqueue(con: duckdb.DuckDBPyConnection, mail: Mail, problem_keys: list[str], at: dt.datetime | None = None) -> bool:
    """Queue `mail` (due at once) unless its key is already known; returns whether it was new."""
    if con.execute("select 1 from alerts.outbox where mail_key = ?", [mail.key]).fetchone():
        return False
    queued_at = at or utc_now()
    with transaction(con):
        con.execute(
            "insert into alerts.outbox (mail_key, partner, recipients, cc, subject, text_body, html_body, status, "
            "attempts, created_at, next_attempt_at) values (?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?)",
            [
                mail.key,
                mail.partner,
                json.dumps(list(mail.to)),
                json.dumps(list(mail.cc)),
                mail.subject,
                mail.text,
                mail.html,
                queued_at,
                queued_at,
            ],
        )
        for key in problem_keys:
            con.execute("insert or ignore into alerts.mail_problems values (?, ?)", [key, mail.key])
    return True


def deliver_queued(
    con: duckdb.DuckDBPyConnection, mailer: MailerResource, outbox_dir: Path, due_by: dt.datetime | None = None
) -> list[Delivered]:
    """Try the queued mails whose backoff has passed by `due_by`; every queued mail when None."""
    now = due_by or utc_now()
    queued = con.execute(
        "select mail_key, partner, recipients, coalesce(cc, '[]'), subject, text_body, html_body, attempts "
        "from alerts.outbox where status = 'queued' and (? or coalesce(next_attempt_at, created_at) <= ?) "
        "order by created_at, mail_key",
        [due_by is None, now],
    ).fetchall()
    results = []
    for key, partner, recipients, cc, subject, text, html, attempts in queued:
        to = json.loads(recipients)
        mail = Mail(
            key=key, partner=partner, to=tuple(to), cc=tuple(json.loads(cc)), subject=subject, text=text, html=html
        )
        try:
            where = mailer.send(mail, outbox_dir)
        except (OSError, SMTPException) as exc:
            tried = attempts + 1
            retry_at = now + backoff(tried) if tried < MAX_ATTEMPTS else None
            con.execute(
                "update alerts.outbox set attempts = ?, last_error = ?, next_attempt_at = ?, status = ? "
                "where mail_key = ?",
                [tried, f"{type(exc).__name__}: {exc}", retry_at, "queued" if retry_at else "failed", key],
            )
            results.append(Delivered(key, partner, to, subject, None, str(exc), retry_at))
            continue
        con.execute(
            "update alerts.outbox set status = 'sent', attempts = attempts + 1, last_error = null, "
            "next_attempt_at = null, sent_at = ?, sent_to = ? where mail_key = ?",
            [now, where, key],
        )
        results.append(Delivered(key, partner, to, subject, where, None))
    return results


@dataclass(frozen=True)
class Undelivered:
    mail_key: str
    partner: str
    subject: str
    status: str  # queued | failed
    attempts: int
    last_error: str | None
    next_attempt_at: dt.datetime | None


def undelivered(con: duckdb.DuckDBPyConnection) -> list[Undelivered]:
    """Mails still waiting for a retry, and those given up."""
    rows = con.execute(
        "select mail_key, partner, subject, status, attempts, last_error, next_attempt_at from alerts.outbox "
        "where status in ('queued', 'failed') order by created_at, mail_key"
    ).fetchall()
    return [Undelivered(*row) for row in rows]


def due_for_retry(con: duckdb.DuckDBPyConnection, as_of: dt.datetime) -> int:
    """Queued mails whose next try is due at `as_of` (read-only: the outbox may not exist yet)."""
    if not table_exists(con, "alerts", "outbox"):
        return 0
    return con.execute(
        "select count(*) from alerts.outbox where status = 'queued' and coalesce(next_attempt_at, created_at) <= ?",
        [as_of],
    ).fetchone()[0]
