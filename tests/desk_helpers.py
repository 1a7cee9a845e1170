"""Shared by the desk's tests: desk users with a known TOTP secret, reply bundles as the viewer makes
them (signed by the demo officer, each reply sealed to its case's reply key), and cases to answer."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pyotp
from sqlalchemy import select

import crypto
from crypto import bundle
from dropbox import config, db
from dropbox.desk import accounts
from dropbox.models import Case, Desk, ExportLog, Officer

PASSWORD = "correct horse battery staple"
_names = iter(range(1, 1_000_000))


def add_user(instance: Path, role: str = "admin", desk: str | None = None, name: str | None = None):
    """A new desk user in `instance`; returns (name, TOTP secret). Unique names: each login in a
    test can use a fresh user, since a used TOTP step is never accepted twice for the same user."""
    name = name or f"{role}{next(_names)}"
    cfg = config.load(instance)
    with db.standalone_session(cfg.database_url) as session:
        desk_row = session.scalar(select(Desk).where(Desk.slug == desk)) if desk else None
        new = accounts.create_user(session, cfg.secret_key, name, role, PASSWORD, desk_row)
        session.commit()
        session.bind.dispose()
    return name, new.totp_secret


def code(secret: str, steps: int = 0) -> str:
    """The TOTP code of now, or of `steps` steps (30 s each) before or after now."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps)


def wrong_code(secret: str) -> str:
    """A six-digit code that is certainly wrong: the current code with one digit changed, and none
    of the codes accepted around now (±1 step, plus one more each way for a step that turns while
    the test runs)."""
    near = {code(secret, steps) for steps in range(-2, 3)}
    current = code(secret)
    for position in range(6):
        for digit in "0123456789":
            candidate = current[:position] + digit + current[position + 1 :]
            if candidate not in near:
                return candidate
    raise AssertionError("unreachable: five codes cannot cover every one-digit change")


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, name: str, secret: str, password: str = PASSWORD, totp: str | None = None):
    page = client.get("/desk/login").get_data(as_text=True)
    return client.post(
        "/desk/login",
        data={"csrf_token": csrf(page), "name": name, "password": password, "code": totp or code(secret)},
    )


def upload_replies(client, path: Path):
    """A clerk's upload of a reply bundle through /desk/replies, with the page's CSRF token."""
    token = csrf(client.get("/desk/replies").get_data(as_text=True))
    with open(path, "rb") as f:
        return client.post(
            "/desk/replies",
            data={"csrf_token": token, "bundle": (f, "replies.bundle")},
            content_type="multipart/form-data",
        )


def officer_identity(instance: Path, filename: str = "demo-officer.identity") -> crypto.Identity:
    return crypto.Identity.load(instance / filename, "")


def case_keys(instance: Path, case_number: str) -> bytes:
    """The reply public key the server holds for a case."""
    cfg = config.load(instance)
    with db.standalone_session(cfg.database_url) as session:
        reply_public = session.scalar(select(Case.reply_public).where(Case.number == case_number))
        session.bind.dispose()
    return reply_public


def export_logs(instance: Path, desk: str = "demo") -> list[tuple[int, str]]:
    cfg = config.load(instance)
    with db.standalone_session(cfg.database_url) as session:
        rows = session.execute(
            select(ExportLog.sequence, ExportLog.sha256)
            .join(Desk, Desk.id == ExportLog.desk_id)
            .where(Desk.slug == desk)
            .order_by(ExportLog.sequence)
        ).all()
        session.bind.dispose()
    return [tuple(r) for r in rows]


def reply_bundle(
    out: Path,
    identity: crypto.Identity,
    replies: list[tuple[str, bytes, dict]],
    *,
    sequence: int = 1,
    previous: str | None = None,
    confirmations: list[dict] | None = None,
    desk: str = "demo",
    officer: str | None = None,
) -> bundle.Manifest:
    """A reply bundle as `sealview export-replies` writes it: each (case number, reply public key,
    {"text", "status", "day"}) sealed to that reply key; signed by `identity`."""
    entries = []
    for i, (case_number, reply_public, doc) in enumerate(replies):
        sealed = crypto.seal_bytes(json.dumps(doc).encode(), [crypto.RecipientKey(reply_public)])
        item = out.with_name(f"{out.name}.item{i}")
        item.write_bytes(sealed)
        entries.append(({"case_number": case_number}, item))
    fields = {
        "desk": desk,
        "officer": officer or identity.public_key.recipient.key_id.hex(),
        "sequence": sequence,
        "previous": previous,
        "created_day": "2026-01-01",
        "confirmations": confirmations or [],
    }
    with open(out, "wb") as f:
        manifest = bundle.write(f, "replies", fields, entries, identity.signing_key)
    for _, item in entries:
        item.unlink()
    return manifest


def officer_key_id(instance: Path, desk: str = "demo") -> str:
    cfg = config.load(instance)
    with db.standalone_session(cfg.database_url) as session:
        key_id = session.scalar(
            select(Officer.key_id).join(Desk, Desk.id == Officer.desk_id).where(Desk.slug == desk)
        )
        session.bind.dispose()
    return key_id
