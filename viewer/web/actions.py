"""What the officer does from the UI: POST forms, each answered by a redirect back (no JavaScript)."""

from __future__ import annotations

from flask import Blueprint, redirect, request, url_for

from .. import forward, triage
from ..errors import Refused
from . import vault

bp = Blueprint("actions", __name__)


def _back(number: str, done: str):
    return redirect(url_for("pages.case", number=number, done=done, _anchor=done), 303)


@bp.post("/case/<number>/state")
def state(number: str):
    triage.set_state(
        vault(), number, request.form.get("state", ""), request.form.get("duplicate_of", "").strip() or None
    )
    return _back(number.upper(), "triage")


@bp.post("/case/<number>/note")
def note(number: str):
    triage.add_note(vault(), number, request.form.get("text", ""))
    return _back(number.upper(), "notes")


@bp.post("/case/<number>/reply")
def reply(number: str):
    triage.reply(vault(), number, request.form.get("text", ""), request.form.get("status") or None)
    return _back(number.upper(), "replies")


@bp.post("/case/<number>/forward")
def forward_case(number: str):
    v = vault()
    known = request.form.get("known", "")
    if known:
        with v.lock:
            row = v.db.execute(
                "SELECT name, public_key FROM state.police WHERE fingerprint = ?", (known,)
            ).fetchone()
        if row is None:
            raise Refused("bad_key", "no such police recipient in this vault")
        name, key_text = row["name"], row["public_key"]
    else:
        name, key_text = request.form.get("name", ""), request.form.get("public_key", "")
        if not key_text.strip():
            raise Refused(
                "bad_key", "paste the police recipient's public key (a sealdrop-public-key-v1 line)"
            )
    forward.forward(v, number, forward.recipient(key_text), name)
    return _back(number.upper(), "forwards")


@bp.post("/replies/export")
def export_replies():
    desk = request.form.get("desk") or None
    path, _, _ = triage.export_replies(vault(), desk)
    return redirect(url_for("pages.replies", done=path.name), 303)
