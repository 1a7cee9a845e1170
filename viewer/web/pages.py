"""The screens: inbox, case, hotspots, dashboard, replies. GET only; they change nothing."""

from __future__ import annotations

import json
import os

from flask import Blueprint, Response, abort, current_app, render_template, request

from .. import geo, hidden, i18n, images, labels, mapsheet, media, queries, recipients, triage
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
        maps=_report_maps(v, data),
        title=_("Case %(number)s", number=number),
    )


def _report_maps(v, data: dict) -> dict[int, dict]:
    """Per report that gives a position: the desk's sheet that shows it best (None: no sheet does),
    whether the desk has sheets at all, and what the caption says."""
    with v.lock:
        found = mapsheet.sheets(v.db, data["case"]["desk"])
    maps = {}
    for r in data["reports"]:
        w = r["where"]
        if not r["opened"] or w.get("lat") is None:
            continue
        sheet = mapsheet.most_detailed(found, w["lat"], w["lon"])
        maps[r["id"]] = {
            "sheet": sheet,
            "any": bool(found),
            "name": sheet.name(i18n.current()) if sheet else "",
            "size": mapsheet.view_size(sheet) if sheet else (),
            "coords": geo.shown_coordinates(w["lat"], w["lon"], w.get("precision")),
            "metres": round(mapsheet.radius_m(w)),
        }
    return maps


def _png(data: bytes, name: str) -> Response:
    """A picture drawn here by Pillow, shown inline, in a sandbox like every file the UI serves."""
    response = Response(data, mimetype="image/png")
    response.headers["Content-Disposition"] = f'inline; filename="{name}"'
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


@bp.get("/case/<number>/report/<int(max=9223372036854775807):report_id>/map.png")
def report_map(number: str, report_id: int):
    """The report's point on the desk's most detailed sheet that shows it, with its precision circle."""
    v = vault()
    with v.lock:
        row = v.db.execute(
            "SELECT r.where_json, c.desk, c.number FROM reports r JOIN cases c ON c.id = r.case_id"
            " WHERE r.id = ? AND c.number = ? AND r.opened",
            (report_id, number[:20]),
        ).fetchone()
        where = json.loads(row[0]) if row else {}
        if where.get("lat") is None:
            abort(404)
        sheet = mapsheet.most_detailed(mapsheet.sheets(v.db, row[1]), where["lat"], where["lon"])
        if sheet is None:
            abort(404)
        base = mapsheet.picture(v.db, sheet)
    png = mapsheet.draw_point(base, sheet, where["lat"], where["lon"], mapsheet.radius_m(where))
    return _png(png, f"case-{row[2]}-map.png")


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
        chart=_hotspot_sheet(filters, data),
        choices=queries.choices(vault()),
        title=_("Hotspots"),
    )


def _hotspot_sheet(filters: queries.Filters, data: dict) -> dict | None:
    """The sheet the hotspots page draws on (asked for with ?sheet=ID, else the one that shows the
    most reports) and the clusters on it, numbered in order; None when the desk has no sheet."""
    v = vault()
    with v.lock:
        found = mapsheet.sheets(v.db, filters.desk)
    if not found:
        return None
    everything = [dot["cluster"] for dot in data["plot"].dots]
    wanted = request.args.get("sheet", "")[:64]
    sheet = next((s for s in found if s.id == wanted), None) or mapsheet.overview(found, everything)
    shown = mapsheet.on_sheet(sheet, everything)
    return {
        "sheet": sheet,
        "name": sheet.name(i18n.current()),
        "size": mapsheet.fitted(sheet),
        "others": [(s.id, s.name(i18n.current())) for s in found if s is not sheet],
        "clusters": shown,
        "outside": sum(c.count for c in everything) - sum(c.count for c in shown),
    }


@bp.get("/hotspots/map.png")
def hotspots_map():
    """The hotspots page's picture: the same filters, the same sheet, the clusters numbered."""
    filters, _errors = queries.Filters.parse(request.args)
    chart = _hotspot_sheet(filters, queries.hotspots(vault(), filters))
    if chart is None:
        abort(404)
    v = vault()
    with v.lock:
        base = mapsheet.picture(v.db, chart["sheet"])
    return _png(mapsheet.draw_clusters(base, chart["sheet"], chart["clusters"]), "hotspots-map.png")


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
