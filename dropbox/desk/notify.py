"""Notices that reports wait: "N new reports wait on desk X", and nothing else (docs/operator-guide.md,
"Notifications").

A clerk should not have to open the desk every hour to learn that something came in, but a notice is
a message that leaves the server, often over the internet to a mail provider: it must not say which
reports, what they are about, or when they came. So a notice carries a desk and a count only, and is
sent on a fixed beat: at the start of each period of `notify_every_s` (aligned to the clock, e.g. on
the hour), at most once a period per desk and channel, and only when reports wait that the last notice
did not already announce. Its time then says no more than "something arrived in the last period",
which the desk's own inbox says by the day anyway.

Two channels, each configured per desk (or for every desk with "*"):

- e-mail (SMTP with STARTTLS, implicit TLS, or plain to a relay on this machine), the password from
  DIR/smtp-password (0600) or $SEALDROP_SMTP_PASSWORD, never from config.json or a command line;
- a webhook: an HTTPS POST of {"desk": slug, "new_reports": N}, signed with HMAC-SHA256 when
  DIR/webhook-secret (0600) or $SEALDROP_WEBHOOK_SECRET holds a shared secret.

What was last announced per desk and channel (the period's start, the count, the newest waiting submission's
id) is kept in DIR/notify-state.json (0600), not only in memory: a restart of `serve` must neither
repeat a notice nor send a second one in the same period. A failed send is logged as its exception's
class only (in `serve` that is counted, never printed: dropbox.noise) and is tried again at the next
beat; it never stops the beat or the service.

    start_notifications(cfg) -> NotifySchedule | None   the beat on a daemon thread, for `sealdrop serve`
    add_parsers(sub, parser_class)                       `sealdrop notify [--test] [--desk SLUG]`
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import smtplib
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate
from pathlib import Path

from flask import Flask
from flask_babel import force_locale, gettext, ngettext
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from .. import config as config_mod
from .. import db, i18n
from ..console import _
from ..models import Desk, Submission

STATE_FILE = "notify-state.json"
SMTP_PASSWORD_FILE = "smtp-password"  # noqa: S105 (a file name)
WEBHOOK_SECRET_FILE = "webhook-secret"  # noqa: S105 (a file name)
SMTP_PASSWORD_ENV = "SEALDROP_SMTP_PASSWORD"  # noqa: S105 (a variable's name)
WEBHOOK_SECRET_ENV = "SEALDROP_WEBHOOK_SECRET"  # noqa: S105 (a variable's name)
SIGNATURE_HEADER = "X-Sealdrop-Signature"
TIMESTAMP_HEADER = "X-Sealdrop-Timestamp"
TIMEOUT_S = 30
EHLO_NAME = "localhost"  # smtplib would otherwise tell the relay this machine's own host name
EMAIL, WEBHOOK = "e-mail", "webhook"

log = logging.getLogger("sealdrop.notify")


class NotifyError(ValueError):
    """A notification setting the service cannot work with; the message says which, in one line."""


@dataclass(frozen=True)
class Waiting:
    """What a desk has waiting: its count, and the newest waiting submission's id, which changes with
    every arrival even when an export in between leaves the count where it was."""

    slug: str
    name: str
    language: str
    count: int
    newest: int


# --- what waits --------------------------------------------------------------------------------------


def waiting(session) -> list[Waiting]:
    """Every desk with what it has waiting (count 0 included), by slug."""
    new = (
        select(Submission.desk_id, func.count(Submission.id), func.max(Submission.id))
        .where(Submission.exported_seq.is_(None), Submission.deleted_day.is_(None))
        .group_by(Submission.desk_id)
    )
    counts = {desk_id: (count, newest) for desk_id, count, newest in session.execute(new)}
    found = []
    for desk in session.scalars(select(Desk).order_by(Desk.slug)):
        count, newest = counts.get(desk.id, (0, 0))
        language = desk.default_language or "en"
        name = " ".join(i18n.local_name(desk, language).split())  # no line breaks into a mail header
        found.append(Waiting(desk.slug, name, language, count, newest))
    return found


# --- settings and secrets ----------------------------------------------------------------------------


def for_desk(setting: object, slug: str) -> object:
    """A per-desk setting: a dict by slug with "*" for every other desk, or one value for all."""
    if isinstance(setting, dict):
        return setting.get(slug, setting.get("*"))
    return setting


def read_secret(instance_dir: Path, filename: str, env: str) -> str | None:
    """A secret from DIR/filename, which must be private to the service's user, else from $env."""
    path = instance_dir / filename
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise NotifyError(f"{path} must be readable by the service's user only (chmod 600 {filename})")
        return path.read_text("utf-8").strip()
    return os.environ.get(env) or None


def _tls_context(cfg: config_mod.Config) -> ssl.SSLContext:
    """The system's CAs, or the operator's own (notify_cafile) for a relay with an in-house CA."""
    return ssl.create_default_context(cafile=cfg.notify_cafile or None)


# --- the words -------------------------------------------------------------------------------------


class Words:
    """The notice's sentences in the desk's default language (gettext needs an app; this one only
    carries the translations, it serves nothing)."""

    def __init__(self, cfg: config_mod.Config):
        self._app = Flask("dropbox")
        self._app.config["SEALDROP"] = cfg
        i18n.init_app(self._app)

    @contextlib.contextmanager
    def language(self, lang: str) -> Iterator[None]:
        with self._app.app_context(), force_locale(lang):
            yield

    def notice(self, w: Waiting) -> tuple[str, str]:
        """(subject, body) of the notice that `w.count` reports wait."""
        with self.language(w.language):
            line = ngettext(
                "%(num)s new report waits on desk %(desk)s.",
                "%(num)s new reports wait on desk %(desk)s.",
                w.count,
                desk=w.name,
            )
            subject = gettext("sealdrop: new reports wait on desk %(desk)s", desk=w.name)
            why = gettext(
                "Log in to the desk, make an export bundle and take it to the offline viewer. On purpose, "
                "this message says nothing else: not which reports, not what they are about, and not "
                "when they arrived."
            )
        return subject, f"{line}\n\n{why}\n"

    def test(self, w: Waiting) -> tuple[str, str]:
        """(subject, body) of `sealdrop notify --test`: no count at all."""
        with self.language(w.language):
            subject = gettext("sealdrop: a test notice for desk %(desk)s", desk=w.name)
            body = gettext(
                "This is a test. Notices for desk %(desk)s reach you. A real notice says only how many "
                "new reports wait, nothing about them.",
                desk=w.name,
            )
        return subject, f"{body}\n"


# --- the channels ------------------------------------------------------------------------------------


class EmailChannel:
    name = EMAIL

    def __init__(self, cfg: config_mod.Config, words: Words):
        self.cfg, self.words = cfg, words
        self.password = read_secret(cfg.instance_dir, SMTP_PASSWORD_FILE, SMTP_PASSWORD_ENV)
        if cfg.notify_smtp_user and not self.password:
            raise NotifyError(
                f"notify_smtp_user is set but there is no password: write it to "
                f"{cfg.instance_dir / SMTP_PASSWORD_FILE} (chmod 600) or set ${SMTP_PASSWORD_ENV}"
            )

    def recipients(self, slug: str) -> list[str]:
        return list(for_desk(self.cfg.notify_email_to, slug) or [])

    def send(self, w: Waiting, at: float, test: bool = False) -> None:
        subject, body = self.words.test(w) if test else self.words.notice(w)
        message = EmailMessage(policy=SMTP_POLICY)
        message["From"] = self.cfg.notify_from
        message["To"] = ", ".join(self.recipients(w.slug))
        message["Subject"] = subject
        message["Date"] = formatdate(at, usegmt=True)  # the beat's time, not the moment of sending
        domain = self.cfg.notify_from.rpartition("@")[2]
        message["Message-ID"] = f"<{secrets.token_hex(16)}@{domain}>"  # no host name, no time in it
        message.set_content(body)
        with self._connect() as smtp:
            smtp.send_message(message, self.cfg.notify_from, self.recipients(w.slug))

    def _connect(self) -> smtplib.SMTP:
        cfg, security = self.cfg, self.cfg.notify_smtp_security
        host, port = cfg.notify_smtp_host, cfg.notify_smtp_port
        if security == "tls":
            smtp = smtplib.SMTP_SSL(
                host, port, local_hostname=EHLO_NAME, timeout=TIMEOUT_S, context=_tls_context(cfg)
            )
        else:
            smtp = smtplib.SMTP(host, port, local_hostname=EHLO_NAME, timeout=TIMEOUT_S)
        try:
            if security == "starttls":
                smtp.starttls(context=_tls_context(cfg))
            if cfg.notify_smtp_user:
                smtp.login(cfg.notify_smtp_user, self.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook answers where it is; a redirect would send the notice somewhere nobody configured."""

    def redirect_request(self, *args, **kwargs):
        return None


class WebhookChannel:
    name = WEBHOOK

    def __init__(self, cfg: config_mod.Config):
        self.cfg = cfg
        secret = read_secret(cfg.instance_dir, WEBHOOK_SECRET_FILE, WEBHOOK_SECRET_ENV)
        self.secret = secret.encode("utf-8") if secret else None

    def recipients(self, slug: str) -> list[str]:
        url = for_desk(self.cfg.notify_webhook_url, slug)
        return [url] if url else []

    def send(self, w: Waiting, at: float, test: bool = False) -> None:
        body = json.dumps({"desk": w.slug, "new_reports": 0 if test else w.count}).encode("ascii")
        stamp = str(int(at))  # the beat's time: signed with the body, so an old notice cannot be replayed
        request = urllib.request.Request(  # noqa: S310 (config.py allows https, and http to loopback only)
            self.recipients(w.slug)[0],
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "sealdrop", TIMESTAMP_HEADER: stamp},
        )
        if self.secret:
            digest = hmac.new(self.secret, stamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
            request.add_header(SIGNATURE_HEADER, f"sha256={digest}")
        opener = urllib.request.build_opener(
            _NoRedirects, urllib.request.HTTPSHandler(context=_tls_context(self.cfg))
        )
        with opener.open(request, timeout=TIMEOUT_S) as response:
            if not 200 <= response.status < 300:
                raise urllib.error.HTTPError(request.full_url, response.status, "not 2xx", None, None)


# --- the beat ---------------------------------------------------------------------------------------


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class Notifier:
    """One beat at a time: what waits, against what each channel last announced, and the notices due."""

    def __init__(self, cfg: config_mod.Config, clock: Callable[[], float] = time.time):
        if cfg.notify_cafile and not Path(cfg.notify_cafile).is_file():
            raise NotifyError(f"notify_cafile: no file {cfg.notify_cafile}")
        self.cfg, self.clock, self.every = cfg, clock, cfg.notify_every_s
        self.channels: list[EmailChannel | WebhookChannel] = []
        if cfg.notify_email_to:
            self.channels.append(EmailChannel(cfg, Words(cfg)))
        if cfg.notify_webhook_url:
            self.channels.append(WebhookChannel(cfg))
        self.state_path = cfg.instance_dir / STATE_FILE
        self.shared = None  # with redis_url: the state in Redis, each notice sent by one instance only
        if cfg.redis_url:
            from ..shared import NotifyState

            self.shared = NotifyState(cfg)
        self.sent: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self._engine = db.make_engine(cfg.database_url)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)

    def close(self) -> None:
        self._engine.dispose()

    def desks(self) -> list[Waiting]:
        with self._sessions() as session:
            return waiting(session)

    def beat(self) -> int:
        """Send the notices due in the current period; returns how many were sent."""
        # The period by its start in Unix seconds, not its index: an index counted in another length
        # (notify_every_s changed between runs) would compare as nonsense with the state file's.
        period = int(self.clock() // self.every) * self.every
        state, sent = self.load_state(), 0
        for w in self.desks():
            for channel in self.channels:
                if not channel.recipients(w.slug) or not _due(state, w, channel.name, period):
                    continue
                if self.shared is not None and not self.shared.claim(w.slug, channel.name, period):
                    continue  # another instance sends this one
                if self._send(channel, w, period) is None:
                    state.setdefault(w.slug, {})[channel.name] = [period, w.count, w.newest]
                    if self.shared is not None:
                        self.shared.record(w.slug, channel.name, [period, w.count, w.newest])
                    sent += 1
        if sent:
            _write_private(self.state_path, json.dumps(state, sort_keys=True))
        return sent

    def _send(self, channel, w: Waiting, at: float, test: bool = False) -> str | None:
        """None once sent; else the failure's class name (never its text: an SMTP error can quote
        the addresses and the server's reply), which is logged, and the next beat tries again."""
        try:
            channel.send(w, at, test)
        except Exception as e:  # any failure of the far side
            self.failed[channel.name] += 1
            log.warning("notify: %s notice failed (%s)", channel.name, type(e).__name__)
            return type(e).__name__
        self.sent[channel.name] += 1
        return None

    def load_state(self) -> dict:
        if self.shared is not None:
            return self.shared.load()
        try:
            state = json.loads(self.state_path.read_text("utf-8"))
        except (OSError, ValueError):  # none yet, or damaged: at worst one notice is repeated
            return {}
        return state if isinstance(state, dict) else {}

    def test(self, only: str | None = None) -> list[tuple[str, str, str]]:
        """A test notice on every channel of every desk (or of desk `only`) that has one, now:
        (desk, channel, "sent" or the failure's class) each."""
        results = []
        for w in self.desks():
            if only and w.slug != only:
                continue
            for channel in self.channels:
                if channel.recipients(w.slug):
                    failure = self._send(channel, w, self.clock(), test=True)
                    results.append((w.slug, channel.name, f"failed ({failure})" if failure else "sent"))
        return results


def _due(state: dict, w: Waiting, channel: str, period: int) -> bool:
    """Reports wait that the last notice on this channel did not announce, and none went out this period."""
    if w.count <= 0:
        return False
    last = state.get(w.slug, {}).get(channel)
    if not (isinstance(last, list) and len(last) == 3):
        return True
    last_period, last_count, last_newest = last
    return period > last_period and (w.count, w.newest) != (last_count, last_newest)


def run_on_beat(
    job: Callable[[], object], every: float, clock: Callable[[], float], wait: Callable[[float], bool]
) -> None:
    """Run `job` at the start of every period of `every` seconds (aligned to the clock: on the hour for
    3600), never at start-up: a restart then tells nothing either. `wait(s)` returns True to stop."""
    while True:
        if wait(every - clock() % every):
            return
        try:
            job()
        except Exception as e:  # the beat outlives any one run (a database that was briefly away)
            log.warning("notify: a beat failed (%s)", type(e).__name__)


class NotifySchedule:
    """The beat on a daemon thread of its own; `stop()` ends it."""

    def __init__(self, notifier: Notifier, wait_event: threading.Event | None = None):
        self.notifier = notifier
        self._stop = wait_event or threading.Event()
        self._thread = threading.Thread(
            target=run_on_beat,
            args=(notifier.beat, notifier.every, notifier.clock, self._stop.wait),
            name="notify",
            daemon=True,
        )

    def start(self) -> NotifySchedule:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=TIMEOUT_S * 2)  # a send in progress finishes or times out
        self.notifier.close()


def start_notifications(cfg: config_mod.Config) -> NotifySchedule | None:
    """The notices' beat for `sealdrop serve`, started; None when no channel is configured. Raises
    NotifyError (one line) for a missing password or a secrets file others can read."""
    if not (cfg.notify_email_to or cfg.notify_webhook_url):
        return None
    return NotifySchedule(Notifier(cfg)).start()


# --- `sealdrop notify` -------------------------------------------------------------------------------


def describe(cfg: config_mod.Config, desks: list[Waiting], state: dict, only: str | None = None) -> list[str]:
    """Who gets the notices of which desk, by which channel, how often, and the last one sent (from the
    state file: the period it went out in, and the count it gave). No secrets."""
    lines = [f"notices at most every {cfg.notify_every_s} s, at the start of a period, when new reports wait"]
    for w in (w for w in desks if not only or w.slug == only):
        emails = list(for_desk(cfg.notify_email_to, w.slug) or [])
        hook = for_desk(cfg.notify_webhook_url, w.slug)
        channels = [f"{EMAIL} to {', '.join(emails)}"] if emails else []
        channels += [f"{WEBHOOK} {hook}"] if hook else []
        lines.append(f"{w.slug}: {'; '.join(channels) or 'no notices'}")
        for channel, last in sorted(state.get(w.slug, {}).items()):
            if isinstance(last, list) and len(last) == 3:
                when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(last[0]))
                lines.append(f"  last {channel} notice: {last[1]} new, in the period from {when}")
    known = {w.slug for w in desks} | {"*"}
    for key in ("notify_email_to", "notify_webhook_url"):
        setting = getattr(cfg, key)
        for slug in sorted(set(setting) - known) if isinstance(setting, dict) else []:
            lines.append(f"warning: {key} names {slug!r}, which is no desk")
    return lines


def cmd_notify(args: argparse.Namespace) -> None:
    cfg = config_mod.load(Path(args.dir))
    notifier = Notifier(cfg)
    try:
        desks = notifier.desks()
        if args.desk and args.desk not in {w.slug for w in desks}:
            raise NotifyError(f"no desk {args.desk}")
        if not args.test:
            for line in describe(cfg, desks, notifier.load_state(), args.desk):
                print(line)
            return
        results = notifier.test(args.desk)
    finally:
        notifier.close()
    for slug, channel, outcome in results:
        print(f"{slug}: {channel} test notice {outcome}")
    if not results:
        raise NotifyError("no desk has notices configured (notify_email_to, notify_webhook_url)")
    failed = sum(outcome != "sent" for _, _, outcome in results)
    if failed:
        raise NotifyError(f"{failed} of {len(results)} test notices failed")


def add_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("notify", help=_("who gets the 'new reports wait' notices; --test sends one now"))
    p.add_argument("--test", action="store_true", help=_("send a test notice (no count) on every channel"))
    p.add_argument("--desk", metavar="SLUG", help=_("only this desk"))
    p.set_defaults(run=cmd_notify)
