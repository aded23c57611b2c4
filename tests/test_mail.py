"""Mail goes to the outbox folder by default and through real SMTP when configured."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pipelines.alerts.mail import Mail, MailerResource
from pipelines.alerts.outbox import deliver_queued, enqueue
from pipelines.core.warehouse import connect
from tests.conftest import Inbox, free_port

MAIL = Mail(
    key="riverbend_isd-alert-1",
    partner="riverbend_isd",
    to=("a@isd.example.org", "b@isd.example.org"),
    subject="Action needed",
    text="plain words",
    html="<p>plain words</p>",
)


def test_without_smtp_settings_mail_is_written_to_the_outbox_folder(tmp_path: Path) -> None:
    where = MailerResource().send(MAIL, tmp_path / "outbox")

    from email import message_from_bytes, policy

    message = message_from_bytes(Path(where).read_bytes(), policy=policy.default)
    assert message["To"] == "a@isd.example.org, b@isd.example.org"
    assert message.get_body(("plain",)).get_content().strip() == "plain words"
    assert message.get_body(("html",)).get_content().strip() == "<p>plain words</p>"


def test_smtp_settings_from_the_environment_send_real_mail(
    smtp_server: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    inbox, port = smtp_server
    monkeypatch.setenv("BACKBONE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("BACKBONE_SMTP_PORT", str(port))
    monkeypatch.setenv("BACKBONE_SMTP_STARTTLS", "false")

    MailerResource().send(MAIL, tmp_path / "outbox")

    assert inbox.envelopes == [("backbone@riverbend-c2c.example.org", ["a@isd.example.org", "b@isd.example.org"])]
    assert inbox.messages[0]["Subject"] == "Action needed"
    assert not (tmp_path / "outbox").exists()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_starttls_and_login_are_used_when_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password, session.ssl is not None))
        return AuthResult(success=auth_data.password == b"pw")

    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
    )
    controller.start()
    try:
        monkeypatch.setenv("BACKBONE_SMTP_PASSWORD", "pw")
        mailer = MailerResource(
            smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=True, smtp_user="backbone", smtp_ca_file=str(cert)
        )
        mailer.send(MAIL, tmp_path / "outbox")
    finally:
        controller.stop()
    assert logins == [(b"backbone", b"pw", True)]
    assert len(inbox.messages) == 1


def test_a_mail_server_that_is_down_keeps_the_mail_queued_and_it_is_sent_once_later(
    tmp_path: Path, smtp_server: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_server
    con = connect(tmp_path / "w.duckdb")  # the warehouse as the pipeline opens it: schema migrated
    assert enqueue(con, MAIL, ["sub-1:quarantined"])
    assert not enqueue(con, MAIL, ["sub-1:quarantined"])  # same key: queued once

    down = MailerResource(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_starttls=False)
    first = deliver_queued(con, down, tmp_path / "outbox")
    up = MailerResource(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
    second = deliver_queued(con, up, tmp_path / "outbox")
    third = deliver_queued(con, up, tmp_path / "outbox")

    assert first[0].error and second[0].error is None and third == []
    assert len(inbox.messages) == 1
    assert con.execute("select status, attempts from alerts.outbox").fetchall() == [("sent", 2)]
