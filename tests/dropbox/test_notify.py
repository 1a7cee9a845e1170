"""Notices that reports wait (dropbox/desk/notify.py), against a real SMTP server on loopback (aiosmtpd,
with STARTTLS and login, or implicit TLS) and a real HTTP server for the webhook: a notice says how many
reports wait on which desk and nothing else; at most once a period, only when something new waits,
on the clock's beat (an injected clock: no sleeps); a failing server is counted and logged without
content and the beat goes on; the settings are checked when config.json is read."""

from __future__ import annotations

import argparse
import datetime as dt
import email
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import re
import secrets
import socket
import ssl
import threading
import time
from email.utils import parsedate_to_datetime
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


# --- a mail server and a webhook on loopback -----------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> tuple[Path, Path]:
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


@pytest.fixture
def smtp(tls):
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


@pytest.fixture
def webhook():
    handler = type("H", (Hook,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/sealdrop", handler
    server.shutdown()
    server.server_close()


# --- an instance with reports waiting ------------------------------------------------------------------


@pytest.fixture
def instance(tmp_path):
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


@pytest.fixture
def notifier_for():
    made = []

    def make(cfg, clock=None) -> notify.Notifier:
        made.append(notify.Notifier(cfg, clock or Clock()))
        return made[-1]

    yield make
    for n in made:
        n.close()


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


# --- what a notice says ------------------------------------------------------------------------------


def test_the_e_mail_says_how_many_wait_on_which_desk_and_nothing_else(instance, tls, smtp, notifier_for):
    port, inbox = smtp
    numbers = add_reports(instance, 2)
    add_reports(instance, 3, "demo-internal")  # another desk's reports are not this desk's notice
    clock = Clock(START + 17 * 60 + 23)  # some minutes into the period
    notifier = notifier_for(settings(instance, tls, port), clock)
    assert notifier.beat() == 1
    assert inbox.logins == ["ok"]
    [(sender, recipients, raw)] = inbox.messages
    assert sender == "sealdrop@example.org"
    assert recipients == ["clerk@example.org", "second@example.org"]
    message = parsed(raw)
    body = message.get_content()
    assert message["Subject"] == "sealdrop: new reports wait on desk Demo municipality"
    assert body.splitlines()[0] == "2 new reports wait on desk Demo municipality."
    assert "not which reports, not what they are about, and not when they arrived" in body
    # Its only time is the start of the period, whenever within it the beat came.
    assert parsedate_to_datetime(message["Date"]).timestamp() == START
    headers = "From To Subject Date Message-ID Content-Type Content-Transfer-Encoding MIME-Version"
    assert sorted(message.keys()) == sorted(headers.split())
    text = raw.decode()
    for secret in [*numbers, "demo-internal", "3 new", "17:23", "server", "4096", os.uname().nodename]:
        assert secret not in text
    assert not any(ch.isdigit() for ch in body.replace("2 new", ""))  # no other number at all


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_implicit_tls_works_too(instance, tls, notifier_for):
    controller, inbox = mail_server(tls, implicit=True)
    try:
        add_reports(instance, 1)
        cfg = settings(instance, tls, controller.port, notify_smtp_security="tls")
        assert notifier_for(cfg).beat() == 1
        assert parsed(inbox.messages[0][2]).get_content().startswith("1 new report waits on desk Demo")
    finally:
        controller.stop()


def test_the_notice_is_in_the_desks_language(instance, tls, smtp, notifier_for):
    port, inbox = smtp
    cfg = config.load(instance)
    with db.standalone_session(cfg.database_url) as s:
        s.scalar(select(Desk).where(Desk.slug == "demo")).default_language = "bg"
        s.commit()
        s.bind.dispose()
    add_reports(instance, 1)
    words = notify.Words(cfg)
    with words.language("bg"):
        from flask_babel import get_locale

        assert str(get_locale()) == "bg"
    assert notifier_for(settings(instance, tls, port)).beat() == 1
    assert "Демо община" in parsed(inbox.messages[0][2])["Subject"]


# --- when ---------------------------------------------------------------------------------------------


def test_at_most_once_a_period_and_only_when_something_new_waits(instance, tls, smtp, notifier_for):
    port, inbox = smtp
    cfg = settings(instance, tls, port)
    clock = Clock(START + 1)
    notifier = notifier_for(cfg, clock)
    assert notifier.beat() == 0 and inbox.messages == []  # nothing waits: nothing is sent
    assert not (instance / notify.STATE_FILE).exists()

    add_reports(instance, 1)
    assert notifier.beat() == 1
    add_reports(instance, 1)
    clock.t = START + HOUR - 1  # the same period: the second report waits for the next beat
    assert notifier.beat() == 0
    assert notifier_for(cfg, clock).beat() == 0  # nor does a restart of serve send it early
    assert (instance / notify.STATE_FILE).stat().st_mode & 0o777 == 0o600

    clock.t = START + HOUR
    assert notifier.beat() == 1
    clock.t = START + 2 * HOUR  # nothing changed: no repeat
    assert notifier.beat() == 0

    export_everything(instance)  # the clerk took everything: nothing waits
    clock.t = START + 3 * HOUR
    assert notifier.beat() == 0
    add_reports(instance, 2)  # as many as were announced last time, but new ones
    clock.t = START + 4 * HOUR
    assert notifier.beat() == 1
    counts = [parsed(raw).get_content().split()[0] for _, _, raw in inbox.messages]
    assert counts == ["1", "2", "2"]
    dates = [parsedate_to_datetime(parsed(raw)["Date"]).timestamp() for _, _, raw in inbox.messages]
    assert dates == [START + k * HOUR for k in (0, 1, 4)]


def test_a_longer_period_after_a_restart_still_sends(instance, tls, smtp, notifier_for):
    """The state file keeps each period by its start in seconds: a new notify_every_s compares right."""
    port, inbox = smtp
    add_reports(instance, 1)
    assert notifier_for(settings(instance, tls, port), Clock(START + 1)).beat() == 1
    add_reports(instance, 1)
    daily = settings(instance, tls, port, notify_every_s=24 * HOUR)
    next_day = (START // (24 * HOUR) + 1) * 24 * HOUR
    assert notifier_for(daily, Clock(next_day + 1)).beat() == 1
    assert [parsed(raw).get_content().split()[0] for _, _, raw in inbox.messages] == ["1", "2"]


def test_the_beat_keeps_to_the_clock_and_never_runs_at_start(instance):
    clock, beats, waits = Clock(START + 1234.5), [], []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        clock.t += seconds + 0.25  # a thread wakes a little late
        return len(waits) > 3

    notify.run_on_beat(lambda: beats.append(clock.t), HOUR, clock, wait)
    assert waits[0] == HOUR - 1234.5 and all(w == pytest.approx(HOUR - 0.25) for w in waits[1:])
    assert [b // HOUR for b in beats] == [START // HOUR + k for k in (1, 2, 3)]


# --- the webhook --------------------------------------------------------------------------------------


def test_a_webhook_for_every_desk_hears_only_of_desks_with_reports(instance, webhook, notifier_for):
    url, hook = webhook
    add_reports(instance, 3)
    cfg = config.load(instance).with_overrides(notify_webhook_url={"*": url})
    notifier = notifier_for(cfg, Clock(START + 99))
    assert notifier.beat() == 1  # "*": every desk has the webhook, but only demo has reports waiting
    assert [json.loads(body) for _, body in hook.received] == [{"desk": "demo", "new_reports": 3}]


def test_the_webhook_gets_the_desk_and_the_count_signed(instance, webhook, notifier_for, monkeypatch):
    url, hook = webhook
    monkeypatch.setenv(notify.WEBHOOK_SECRET_ENV, "shared secret")
    add_reports(instance, 3)
    cfg = config.load(instance).with_overrides(notify_webhook_url={"demo": url})
    assert notifier_for(cfg, Clock(START + 99)).beat() == 1
    [(headers, body)] = hook.received
    assert json.loads(body) == {"desk": "demo", "new_reports": 3}
    assert headers[notify.TIMESTAMP_HEADER] == str(START)
    expected = hmac.new(b"shared secret", f"{START}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers[notify.SIGNATURE_HEADER] == f"sha256={expected}"
    assert headers["Content-Type"] == "application/json" and headers["User-Agent"] == "sealdrop"


def test_a_webhook_that_redirects_is_a_failure_not_followed(instance, webhook, notifier_for, caplog):
    url, hook = webhook
    hook.status = 302
    add_reports(instance, 1)
    notifier = notifier_for(config.load(instance).with_overrides(notify_webhook_url=url))
    with caplog.at_level(logging.WARNING, "sealdrop.notify"):
        assert notifier.beat() == 0
    assert len(hook.received) == 1 and notifier.failed["webhook"] == 1
    assert caplog.messages == ["notify: webhook notice failed (HTTPError)"]


# --- failures -----------------------------------------------------------------------------------------


def test_a_failing_mail_server_is_counted_without_content_and_tried_again(
    instance, tls, notifier_for, caplog
):
    port = free_port()  # nothing listens yet
    numbers = add_reports(instance, 2)
    clock = Clock()
    notifier = notifier_for(settings(instance, tls, port), clock)
    with caplog.at_level(logging.WARNING, "sealdrop.notify"):
        assert notifier.beat() == 0
    assert notifier.failed["e-mail"] == 1 and notifier.sent["e-mail"] == 0
    assert caplog.messages == ["notify: e-mail notice failed (ConnectionRefusedError)"]
    for secret in [*numbers, "clerk@example.org", "demo", "2 new", SMTP_PASSWORD]:
        assert secret not in caplog.text

    # A wrong password: refused by the server; its reply names nobody in the log either.
    controller, inbox = mail_server(tls)
    try:
        (instance / notify.SMTP_PASSWORD_FILE).write_text("wrong")
        wrong = notifier_for(config.load(instance).with_overrides(**_notify_fields(notifier.cfg, controller)))
        caplog.clear()
        with caplog.at_level(logging.WARNING, "sealdrop.notify"):
            assert wrong.beat() == 0
        # smtplib tries the next mechanism after a refusal; the server may hang up on it instead of
        # answering: either is a failure of the SMTP kind, logged by its class alone.
        [logged] = caplog.messages
        assert re.fullmatch(
            r"notify: e-mail notice failed \(SMTP(AuthenticationError|ServerDisconnected)\)", logged
        )
        assert "refused" in inbox.logins and "ok" not in inbox.logins and inbox.messages == []
        # The server is back and the password right: the next beat sends what the failed one could not.
        (instance / notify.SMTP_PASSWORD_FILE).write_text(SMTP_PASSWORD)
        clock.t += HOUR
        again = notifier_for(
            config.load(instance).with_overrides(**_notify_fields(notifier.cfg, controller)), clock
        )
        assert again.beat() == 1 and len(inbox.messages) == 1
    finally:
        controller.stop()


def notify_fields(cfg: config.Config) -> dict:
    return {k: getattr(cfg, k) for k in cfg.__dataclass_fields__ if k.startswith("notify_")}


def _notify_fields(cfg: config.Config, controller) -> dict:
    return notify_fields(cfg) | {"notify_smtp_port": controller.port}


def test_a_beat_that_fails_does_not_stop_the_next(instance):
    clock, runs = Clock(), []

    def job():
        runs.append(clock.t)
        raise RuntimeError("the database went away: " + "case C1234")

    def wait(seconds):
        clock.t += seconds
        return len(runs) >= 3

    notify.run_on_beat(job, HOUR, clock, wait)
    assert len(runs) == 3


def test_serve_keeps_running_when_the_mail_server_is_down(instance, tls):
    add_reports(instance, 1)
    cfg = settings(instance, tls, free_port())
    schedule = notify.start_notifications(cfg)
    try:
        assert schedule is not None and schedule._thread.is_alive()
        schedule.notifier.beat()  # what the thread does on the hour, here at once
        assert schedule.notifier.failed["e-mail"] == 1 and schedule._thread.is_alive()
    finally:
        schedule.stop()
    assert not schedule._thread.is_alive()


def test_no_channel_no_thread(instance):
    assert notify.start_notifications(config.load(instance)) is None


def test_secrets_must_be_private_and_present(instance, tls, monkeypatch):
    cfg = settings(instance, tls, 25)
    (instance / notify.SMTP_PASSWORD_FILE).chmod(0o644)
    with pytest.raises(notify.NotifyError, match="chmod 600"):
        notify.start_notifications(cfg)
    (instance / notify.SMTP_PASSWORD_FILE).unlink()
    monkeypatch.delenv(notify.SMTP_PASSWORD_ENV, raising=False)
    with pytest.raises(notify.NotifyError, match="no password"):
        notify.start_notifications(cfg)
    monkeypatch.setenv(notify.SMTP_PASSWORD_ENV, SMTP_PASSWORD)  # the environment will do too
    notify.start_notifications(cfg).stop()
    with pytest.raises(notify.NotifyError, match="notify_cafile"):
        notify.start_notifications(cfg.with_overrides(notify_cafile=str(instance / "no-such.pem")))


# --- `sealdrop notify` --------------------------------------------------------------------------------


def run_command(instance: Path, *argv: str) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir")
    notify.add_parsers(parser.add_subparsers(), argparse.ArgumentParser)
    args = parser.parse_args(["--dir", str(instance), "notify", *argv])
    args.run(args)


def write_config(instance: Path, **options) -> None:
    path = instance / config.CONFIG_FILE
    data = json.loads(path.read_text()) | options
    path.write_text(json.dumps(data))


def test_the_command_describes_and_sends_a_test_without_a_count(instance, tls, smtp, capsys, notifier_for):
    port, inbox = smtp
    write_config(instance, **notify_fields(settings(instance, tls, port)))
    add_reports(instance, 4)
    run_command(instance)
    out = capsys.readouterr().out
    assert "demo: e-mail to clerk@example.org, second@example.org" in out
    assert "demo-internal: no notices" in out and SMTP_PASSWORD not in out
    run_command(instance, "--test")
    assert capsys.readouterr().out == "demo: e-mail test notice sent\n"
    body = parsed(inbox.messages[0][2]).get_content()
    assert "This is a test" in body and "4" not in body
    assert not (instance / notify.STATE_FILE).exists()  # a test is not a notice: the beat still sends

    # After a notice, the command says when it went out (its period) and what it said.
    assert notifier_for(config.load(instance)).beat() == 1
    write_config(instance, notify_webhook_url={"nowhere": "https://hooks.example.org/x"})
    run_command(instance, "--desk", "demo")
    out = capsys.readouterr().out.splitlines()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(START))
    assert out[1:] == [
        "demo: e-mail to clerk@example.org, second@example.org",
        f"  last e-mail notice: 4 new, in the period from {when}",
        "warning: notify_webhook_url names 'nowhere', which is no desk",
    ]


def test_the_command_says_which_test_failed(instance, tls, capsys):
    cfg = settings(instance, tls, free_port())
    write_config(
        instance, **{k: getattr(cfg, k) for k in cfg.__dataclass_fields__ if k.startswith("notify_")}
    )
    with pytest.raises(notify.NotifyError, match="1 of 1 test notices failed"):
        run_command(instance, "--test", "--desk", "demo")
    assert capsys.readouterr().out == "demo: e-mail test notice failed (ConnectionRefusedError)\n"
    with pytest.raises(notify.NotifyError, match="no desk nowhere"):
        run_command(instance, "--test", "--desk", "nowhere")


# --- the settings ------------------------------------------------------------------------------------


GOOD = {
    "notify_email_to": ["a@example.org"],
    "notify_from": "sealdrop@example.org",
    "notify_smtp_host": "mail.example.org",
}


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"notify_every_s": 10}, "notify_every_s"),
        ({"notify_every_s": "3600"}, "notify_every_s"),
        ({"notify_email_to": "a@example.org"}, "notify_email_to"),
        ({"notify_email_to": ["not an address"]}, "notify_email_to"),
        ({"notify_email_to": {"demo": ["a@example.org\r\nBcc: x@evil.example"]}}, "notify_email_to"),
        ({"notify_email_to": {"": ["a@example.org"]}}, "notify_email_to"),
        ({"notify_email_to": ["a@example.org"], "notify_smtp_host": ""}, "notify_smtp_host"),
        ({"notify_from": ""}, "notify_from"),
        ({"notify_from": "x@example.org\nBcc: y@example.org"}, "notify_from"),
        ({"notify_smtp_port": 0}, "notify_smtp_port"),
        ({"notify_smtp_port": 70000}, "notify_smtp_port"),
        ({"notify_smtp_security": "ssl"}, "notify_smtp_security"),
        ({"notify_smtp_security": "none"}, "notify_smtp_security"),  # a password in the clear: no
        ({"notify_smtp_host": "mail example"}, "notify_smtp_host"),
        ({"notify_webhook_url": "http://hooks.example.org/x"}, "notify_webhook_url"),
        ({"notify_webhook_url": {"demo": "ftp://x"}}, "notify_webhook_url"),
        ({"notify_webhook_url": ["https://x.example"]}, "notify_webhook_url"),
        ({"notify_smtp_user": 5}, "notify_smtp_user"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(instance, options, key):
    write_config(instance, **(GOOD | options))
    with pytest.raises(config.ConfigError, match=key) as info:
        config.load(instance)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "options",
    [
        {},
        GOOD,
        GOOD | {"notify_email_to": {"demo": ["a@example.org"], "*": ["b@example.org"]}, "notify_every_s": 60},
        GOOD | {"notify_smtp_security": "none", "notify_smtp_host": "127.0.0.1", "notify_smtp_port": 25},
        GOOD | {"notify_smtp_security": "tls", "notify_smtp_port": 465, "notify_smtp_user": "u"},
        {"notify_webhook_url": "https://hooks.example.org/sealdrop"},
        {"notify_webhook_url": {"demo": "http://127.0.0.1:9000/x", "*": ""}},
    ],
)
def test_good_settings_load(instance, options):
    write_config(instance, **options)
    cfg = config.load(instance)
    assert all(getattr(cfg, k) == v for k, v in options.items())
