"""Posters, retention and the audit log."""

from __future__ import annotations

import io
import re

from flask import current_app, g, render_template, request, send_file
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import func, select

from ... import bundles, placements
from ...models import AuditEntry, ExportLog, Submission
from .. import admin_bp
from .common import (
    AUDIT_ROWS,
    all_desks,
    db_session,
    desk_by_slug,
    done,
    record,
    require_global,
    retention_from_form,
)

# --- posters ---------------------------------------------------------------------------------------

PLACEMENT_DAYS = 30  # how far back the poster page lists placement counts


def _sealdrop_config():
    return current_app.config["SEALDROP"]


def _posters_page(status: int = 200, error: str | None = None, values=None):
    from ... import posters

    cfg = _sealdrop_config()
    return render_template(
        "desk/admin/posters.html",
        desks=all_desks(),
        languages=posters.LANGUAGES,
        sizes=posters.SIZES,
        formats=posters.FORMATS,
        error=error,
        # The address phones open: the instance's public one, never this page's own (loopback or the
        # desk onion, which a poster must not print).
        values=values or {"url": cfg.public_url},
        onion_address=cfg.onion_address,
        placement_days=PLACEMENT_DAYS,
        placement_counts=placements.recent(db_session(), PLACEMENT_DAYS),
    ), status


@admin_bp.get("/posters")
def posters():
    return _posters_page()


@admin_bp.post("/posters")
def posters_make():
    from ... import posters

    desk = desk_by_slug(request.form.get("desk", ""))
    lang, fmt = request.form.get("lang", ""), request.form.get("format", "pdf")
    size, url = request.form.get("size", "A4"), request.form.get("url", "")[:300]
    tag = request.form.get("tag", "").strip()[:40] or None
    onion = _sealdrop_config().onion_address or None
    try:
        data = posters.render_poster(desk, lang, url, fmt=fmt, size=size, onion=onion, tag=tag)
    except posters.PosterError as e:
        return _posters_page(400, e.form_text, request.form)
    except ValueError as e:  # a font the machine lacks, texts that do not fit
        return _posters_page(400, str(e), request.form)
    record("poster", desk.slug, f"{lang}, {size}, {fmt}" + (f", tag {tag}" if tag else ""))
    db_session().commit()
    mimetype = {"pdf": "application/pdf", "png": "image/png", "svg": "image/svg+xml"}[fmt]
    return send_file(
        io.BytesIO(data),
        mimetype=mimetype,
        as_attachment=True,
        download_name=f"poster-{desk.slug}-{lang}-{size}.{fmt}",
    )


# --- retention -------------------------------------------------------------------------------------


def _retention_rows() -> list[dict]:
    session, rows = db_session(), []
    for desk in all_desks():
        confirmed = session.scalar(
            select(func.count(Submission.id))
            .join(
                ExportLog,
                (ExportLog.desk_id == Submission.desk_id) & (ExportLog.sequence == Submission.exported_seq),
            )
            .where(
                Submission.desk_id == desk.id,
                Submission.deleted_day.is_(None),
                ExportLog.confirmed_day.is_not(None),
            )
        )
        deleted = session.scalar(
            select(func.count(Submission.id)).where(
                Submission.desk_id == desk.id, Submission.deleted_day.is_not(None)
            )
        )
        rows.append({"desk": desk, "waiting": confirmed or 0, "deleted": deleted or 0})
    return rows


@admin_bp.get("/retention")
def retention():
    return render_template(
        "desk/admin/retention.html", rows=_retention_rows(), errors=[], msg=request.args.get("msg")
    )


@admin_bp.post("/retention")
def retention_save():
    desk = desk_by_slug(request.form.get("desk", ""))
    errors: list[str] = []
    days = retention_from_form(errors)
    if errors:
        return render_template(
            "desk/admin/retention.html", rows=_retention_rows(), errors=errors, msg=None
        ), 400
    desk.retention_days = days
    record("retention_changed", desk.slug, f"{days} days")
    db_session().commit()
    return done("desk.admin.retention", "saved")


@admin_bp.post("/retention/apply")
def retention_apply():
    require_global()  # it runs over every desk
    waits_for = current_app.config["SEALDROP"].retention_waits_for
    deleted = bundles.apply_retention(
        db_session(), current_app.extensions["sealdrop.blobs"], waits_for=waits_for
    )
    record("retention", None, f"{deleted} submissions deleted")
    db_session().commit()
    return done("desk.admin.retention", "applied", n=deleted)


# --- audit -----------------------------------------------------------------------------------------


# The audit log stores its details in English, as the CLI writes them too; the page says the usual
# shapes in the reader's language and shows anything else as it was stored.
_DETAILS = (
    (re.compile(r"(?:retention: )?(?P<n>\d+) submissions deleted"), lambda: _("Submissions deleted: %(n)s")),
    (re.compile(r"(?P<n>\d+) replies"), lambda: _("Replies: %(n)s")),
    (
        re.compile(r"bundle (?P<n>\d+), (?P<count>\d+) envelopes"),
        lambda: _("Bundle %(n)s, envelopes: %(count)s"),
    ),
    (re.compile(r"bundle (?P<n>\d+)"), lambda: _("Bundle %(n)s")),
    (re.compile(r"(?:retention )?(?P<n>\d+) days"), lambda: _("Retention in days: %(n)s")),
    (re.compile(r"(?P<name>.+), key (?P<key>[0-9a-f]{16})"), lambda: _("%(name)s, key %(key)s")),
    (
        re.compile(r"(?P<category>\S+) -> (?P<desk>\S+), (?P<n>\d+) explicit keys"),
        lambda: _("%(category)s goes to %(desk)s; explicit keys: %(n)s"),
    ),
    (
        re.compile(r"(?P<category>\S+) -> (?P<desk>\S+)"),
        lambda: _("%(category)s goes to %(desk)s"),
    ),
    (re.compile(r"(?P<name>\S+) \(admin\)"), lambda: _("%(name)s (admin)")),
    (re.compile(r"(?P<name>\S+) \(clerk\)"), lambda: _("%(name)s (clerk)")),
    (re.compile(r"browser"), lambda: _("the browser's language")),
)


def audit_detail(detail: str) -> str:
    """An audit entry's detail in the page's language when it has a known shape, else as stored."""
    if str(get_locale()) == "en":
        return detail  # stored in English already, exactly as the CLI's audit listing shows it
    for pattern, words in _DETAILS:
        found = pattern.fullmatch(detail)
        if found:
            return words() % found.groupdict()
    return detail


@admin_bp.get("/audit")
def audit_log():
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(AUDIT_ROWS)
    if g.desk_user.desk_id is not None:  # a desk admin reads its own desk's entries
        query = query.where(AuditEntry.desk == g.desk_user.desk.slug)
    entries = db_session().scalars(query)
    return render_template("desk/admin/audit.html", entries=list(entries), audit_detail=audit_detail)
