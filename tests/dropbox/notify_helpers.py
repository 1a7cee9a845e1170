"""What the tests of notices that reports wait share (dropbox/desk/notify.py): an injected clock, a real
SMTP server on loopback (aiosmtpd, STARTTLS and login or implicit TLS, with its own certificate), a real
HTTP server for the webhook, an instance with reports waiting, and a way to write its config.json.

The fixtures are named with `name=`: a test module imports `smtp_fixture` and asks for `smtp`, so the
argument does not shadow the import."""

from __future__ import annotations

import datetime as dt
import email
import ipaddress
import json
import os
import secrets
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from dropbox import config, db
from dropbox.desk import notify
from dropbox.models import Case, Desk, Submission
from tests.helpers import make_instance

HOUR = 3600
START = 1_800_000_000 - 1_800_000_000 % HOUR  # the start of some period, well after any real report
LOOPBACK = ipaddress.ip_address("127.0.0.1")
SMTP_USER, SMTP_PASSWORD = "desk-notices", "a password nobody else knows"


class Clock:
    def __init__(self, t: float = START + 5):
        self.t = t

    def __call__(self) -> float:
        return self.t


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", name="tls")
def tls_fixture(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA: notify_cafile), and its key."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (folder / "key.pem").write_bytes(pem)
    return folder / "cert.pem", folder / "key.pem"


class Inbox:
    """aiosmtpd's handler: every message as it arrived, with its envelope."""

    def __init__(self):
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
        self.logins.append("ok" if ok else "refused")
        return AuthResult(success=ok)


def mail_server(tls_files, implicit: bool = False, password_ok: bool = True):
    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    options = {"authenticator": inbox.authenticate, "auth_required": True}
    if implicit:  # aiosmtpd does not count implicit TLS as TLS for AUTH; the connection is TLS all the same
        options.update(ssl_context=context, auth_require_tls=False)
    else:
        options.update(tls_context=context, require_starttls=True)
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    return controller, inbox


@pytest.fixture(name="smtp")
def smtp_fixture(tls):
    controller, inbox = mail_server(tls)
    yield controller.port, inbox
    controller.stop()


class Hook(BaseHTTPRequestHandler):
    received: list[tuple[dict, bytes]]
    status = 204

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(self.status)
        if self.status in (301, 302, 307, 308):
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(name="webhook")
def webhook_fixture():
    handler = type("H", (Hook,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/sealdrop", handler
    server.shutdown()
    server.server_close()


@pytest.fixture(name="instance")
def instance_fixture(tmp_path):
    """On SQLite alone, in place of conftest's `instance`, which would run each test on PostgreSQL too."""
    return make_instance(tmp_path / "instance")


def settings(instance: Path, tls_files, port: int, **more) -> config.Config:
    """The instance's config with e-mail notices to the loopback server (STARTTLS, login)."""
    (instance / notify.SMTP_PASSWORD_FILE).write_text(SMTP_PASSWORD + "\n")
    (instance / notify.SMTP_PASSWORD_FILE).chmod(0o600)
    options = {
        "notify_email_to": {"demo": ["clerk@example.org", "second@example.org"]},
        "notify_from": "sealdrop@example.org",
        "notify_smtp_host": "127.0.0.1",
        "notify_smtp_port": port,
        "notify_smtp_user": SMTP_USER,
        "notify_cafile": str(tls_files[0]),
        **more,
    }
    return config.load(instance).with_overrides(**options)


def add_reports(instance: Path, n: int, slug: str = "demo") -> list[str]:
    """`n` new submissions on desk `slug`, each opening a case; returns their case numbers."""
    cfg = config.load(instance)
    numbers = []
    with db.standalone_session(cfg.database_url) as s:
        desk = s.scalar(select(Desk).where(Desk.slug == slug))
        for _ in range(n):
            number = f"C{secrets.token_hex(4).upper()}"
            case = Case(desk_id=desk.id, number=number, lookup_id=os.urandom(32), reply_public=os.urandom(32))
            s.add(case)
            s.flush()
            s.add(Submission(case_id=case.id, desk_id=desk.id, sealed_by="server", size=4096))
            numbers.append(number)
        s.commit()
        s.bind.dispose()
    return numbers


def export_everything(instance: Path) -> None:
    """What an export does to the rows: no bundle needed here."""
    cfg = config.load(instance)
    with db.standalone_session(cfg.database_url) as s:
        for sub in s.scalars(select(Submission).where(Submission.exported_seq.is_(None))):
            sub.exported_seq = 1
        s.commit()
        s.bind.dispose()


@pytest.fixture(name="notifier_for")
def notifier_for_fixture():
    made = []

    def make(cfg, clock=None) -> notify.Notifier:
        made.append(notify.Notifier(cfg, clock or Clock()))
        return made[-1]

    yield make
    for n in made:
        n.close()


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def notify_fields(cfg: config.Config) -> dict:
    return {k: getattr(cfg, k) for k in cfg.__dataclass_fields__ if k.startswith("notify_")}


def write_config(instance: Path, **options) -> None:
    path = instance / config.CONFIG_FILE
    data = json.loads(path.read_text()) | options
    path.write_text(json.dumps(data))
