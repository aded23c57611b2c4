"""Mail transport: `.eml` files in the outbox folder by default, real SMTP when configured."""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import dagster as dg
from pydantic import Field

DEFAULT_SENDER = "Riverbend Backbone <backbone@riverbend-c2c.example.org>"
DEFAULT_TEAM = "data-team@riverbend-c2c.example.org"


@dataclass(frozen=True)
class Mail:
    key: str  # idempotency key: the same problem is never mailed twice
    partner: str
    to: tuple[str, ...]
    subject: str
    text: str
    html: str
    cc: tuple[str, ...] = ()


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")


class MailerResource(dg.ConfigurableResource):
    """Unset fields fall back to BACKBONE_SMTP_* / BACKBONE_MAIL_FROM at run time; no SMTP host
    means mail is written to the outbox folder. The password is no field: it is read from
    $BACKBONE_SMTP_PASSWORD when a mail is sent, so it never shows among the resource's settings in
    the Dagster UI nor in a run's configuration."""

    smtp_host: str | None = Field(default=None, description="SMTP server; default $BACKBONE_SMTP_HOST")
    smtp_port: int | None = Field(default=None, description="default $BACKBONE_SMTP_PORT, else 587")
    smtp_starttls: bool | None = Field(default=None, description="default $BACKBONE_SMTP_STARTTLS, else true")
    smtp_user: str | None = Field(default=None, description="default $BACKBONE_SMTP_USER")
    smtp_ca_file: str | None = Field(
        default=None, description="CA bundle for STARTTLS; default $BACKBONE_SMTP_CA_FILE, else the system's"
    )
    sender: str | None = Field(default=None, description="From: address; default $BACKBONE_MAIL_FROM")
    team: str | None = Field(
        default=None,
        description="The backbone data team, copied on every partner mail; "
        "default $BACKBONE_TEAM_EMAIL, else " + DEFAULT_TEAM,
    )

    @property
    def host(self) -> str | None:
        return self.smtp_host or os.environ.get("BACKBONE_SMTP_HOST") or None

    @property
    def team_address(self) -> str:
        return self.team or os.environ.get("BACKBONE_TEAM_EMAIL") or DEFAULT_TEAM

    def message(self, mail: Mail) -> EmailMessage:
        sender = self.sender or os.environ.get("BACKBONE_MAIL_FROM") or DEFAULT_SENDER
        message = EmailMessage()
        message["From"] = sender
        message["To"] = ", ".join(mail.to)
        if mail.cc:
            message["Cc"] = ", ".join(mail.cc)
        message["Subject"] = mail.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].rstrip(">"))
        message["X-Backbone-Key"] = mail.key
        message.set_content(mail.text)
        message.add_alternative(mail.html, subtype="html")
        return message

    def send(self, mail: Mail, outbox: Path) -> str:
        """Deliver one mail; returns where it went. Raises OSError/SMTPException on failure."""
        message = self.message(mail)
        host = self.host
        if not host:
            outbox.mkdir(parents=True, exist_ok=True)
            safe_key = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in mail.key)
            target = outbox / f"{safe_key}.eml"
            partial = target.with_name(target.name + ".partial")
            partial.write_bytes(bytes(message))
            os.replace(partial, target)
            return str(target)
        with self.smtp() as smtp:
            smtp.send_message(message)
        return self.address

    @property
    def port(self) -> int:
        return self.smtp_port or int(os.environ.get("BACKBONE_SMTP_PORT", "587"))

    @property
    def starttls(self) -> bool:
        return self.smtp_starttls if self.smtp_starttls is not None else _env_bool("BACKBONE_SMTP_STARTTLS", True)

    @property
    def address(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    @contextmanager
    def smtp(self, timeout: float = 30) -> Iterator[smtplib.SMTP]:
        """A session with the configured SMTP server, STARTTLS and login done; QUIT on leaving."""
        user = self.smtp_user or os.environ.get("BACKBONE_SMTP_USER")
        password = os.environ.get("BACKBONE_SMTP_PASSWORD")  # never a resource field: the UI would show it
        with smtplib.SMTP(self.host, self.port, timeout=timeout) as smtp:
            if self.starttls:
                ca_file = self.smtp_ca_file or os.environ.get("BACKBONE_SMTP_CA_FILE") or None
                smtp.starttls(context=ssl.create_default_context(cafile=ca_file))
            if user:
                smtp.login(user, password or "")
            yield smtp
