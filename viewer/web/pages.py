"""The screens: inbox, case, hotspots, dashboard, replies. GET only; they change nothing."""

from __future__ import annotations

import os

from flask import Blueprint, current_app, render_template, request

from .. import hidden, images, labels, media, queries, recipients, triage
from ..errors import ViewerError
from ..i18n import N_, _
from . import vault

bp = Blueprint("pages", __name__)

_PHOTO_CACHE_BYTES = 128 * 1024 * 1024
_TOO_LARGE = N_("The photo is too large to show here: download it to look at it.")
_TOO_LARGE_TO_CHECK = N_("It is larger than %(n)d MB, more than sealview reads.")


def photo(att_id: int) -> tuple[bytes | None, str, hidden.Check]:
    """(re-encoded JPEG or None, why not, its hidden data) for a photo; each photo is opened once
    while the UI runs and kept in this process's memory only, bounded."""
    _photo_cache = current_app.extensions.setdefault("sealview.photos", {})
    if att_id in _photo_cache:
        return _photo_cache[att_id]
    v = vault()
    row = media.attachment(v, att_id)
    try:
        original = media.plaintext(v, row, images.MAX_BYTES)
    except ViewerError as e:
        return None, str(e), hidden.Check(unchecked=str(e))  # not kept: the next look tries again
    if original is None:
        found = (
            None,
            _(_TOO_LARGE),
            hidden.Check(unchecked=_(_TOO_LARGE_TO_CHECK, n=images.MAX_BYTES >> 20)),
        )
    else:
        found = (*_shown(original), hidden.check_photo(original))
    while _photo_cache and sum(len(x[0] or b"") for x in _photo_cache.values()) > _PHOTO_CACHE_BYTES:
        _photo_cache.pop(next(iter(_photo_cache)))
    _photo_cache[att_id] = found
    return found


def _shown(original: bytes) -> tuple[bytes | None, str]:
    try:
        return images.reencode(original), ""
    except images.ImageRefused as e:
        return None, str(e)


def media_check(att_id: int) -> hidden.Check:
    """The hidden-data check of a video, recording or other file (hidden.py reads each one once)."""
    v = vault()
    try:
        return hidden.check_attachment(v, media.attachment(v, att_id))
    except ViewerError as e:
        return hidden.Check(unchecked=str(e))


def _count(name: str) -> int:
    """A small count from the query string (a bulk change's confirmation), 0 when it is not one."""
    text = request.args.get(name, "")[:7]
    return int(text) if text.isdigit() else 0


@bp.get("/")
def inbox():
    v = vault()
    filters, errors = queries.Filters.parse(request.args)
    found = queries.inbox(v, filters)
    bulk = None
    if request.args.get("done") == "bulk":
        bulk = {k: _count(k) for k in ("changed", "same", "told", "untold")}
        bulk["state"] = request.args.get("state", "")[:20]
    return render_template(
        "inbox.html",
        filters=filters,
        errors=errors,
        inbox=found,
        choices=queries.choices(v),
        q=filters.args(),
        bulk=bulk,
        title=_("Inbox"),
    )


def _attachments_shown(data: dict) -> tuple[dict, dict]:
    """Per attachment: whether its photo can be shown (and why not), and its hidden-data check."""
    photos, checks = {}, {}
    for r in data["reports"]:
        for a in r["attachments"]:
            if a["family"] == "image" and a["opened"]:
                jpeg, refusal, checks[a["id"]] = photo(a["id"])
                photos[a["id"]] = {"ok": jpeg is not None, "refusal": refusal}
            elif a["opened"]:
                checks[a["id"]] = media_check(a["id"])
    return photos, checks


@bp.get("/case/<number>")
def case(number: str):
    v = vault()
    data = queries.case(v, number[:20])
    number = data["case"]["number"]
    photos, checks = _attachments_shown(data)
    # The inbox's filters come along in the query string: next and previous stay inside them.
    filters, _errors = queries.Filters.parse(request.args)
    then_next = request.args.get("then") == "next"  # the officer moves on after each state
    with v.lock:
        told = triage.reporter_sees(v, number)
    return render_template(
        "case.html",
        d=data,
        c=data["case"],
        photos=photos,
        checks=checks,
        claim_text=hidden.claim_text,
        police=recipients.listed(v),
        filters=filters,
        q={**filters.args(), **({"then": "next"} if then_next else {})},
        then_next=then_next,
        moved=request.args.get("moved", "")[:20] if request.args.get("done") == "moved" else "",
        where=queries.position(v, filters, number),
        told=told,
        derived=triage.REPORTER_STATUS.get(data["state"], "received"),
        REPORTER_WORDS=list(labels.REPORTER_WORDS),  # every status word, in the order a case goes
        REPORTER_STATUS=triage.REPORTER_STATUS,
        done=request.args.get("done", "")[:20],
        title=_("Case %(number)s", number=number),
    )


@bp.get("/recipients")
def police_recipients():
    return render_template(
        "recipients.html",
        police=recipients.listed(vault()),
        added=request.args.get("added", "")[:40],
        back=request.args.get("case", "")[:20],
        title=_("Police recipients"),
    )


@bp.get("/hotspots")
def hotspots():
    filters, errors = queries.Filters.parse(request.args)
    data = queries.hotspots(vault(), filters)
    return render_template(
        "hotspots.html",
        filters=filters,
        errors=errors,
        h=data,
        choices=queries.choices(vault()),
        title=_("Hotspots"),
    )


@bp.get("/dashboard")
def dashboard():
    return render_template("dashboard.html", d=queries.dashboard(vault()), title=_("Dashboard"))


@bp.get("/replies")
def replies():
    v = vault()
    with v.lock:
        pending = [dict(r) for r in triage.pending_replies(v)]
        confirmations = [
            dict(r)
            for r in v.db.execute(
                "SELECT desk, sequence FROM state.confirmations WHERE reply_sequence IS NULL"
                " ORDER BY desk, sequence"
            )
        ]
    outbox = sorted(
        (p.name for p in (v.path / "outbox").iterdir() if p.is_file() and p.name.startswith("replies-")),
        key=lambda n: os.stat(v.path / "outbox" / n).st_mtime,
        reverse=True,
    )
    return render_template(
        "replies.html",
        pending=pending,
        confirmations=confirmations,
        outbox=outbox,
        desks=v.desks,
        done=request.args.get("done", "")[:40],
        title=_("Replies"),
    )
