"""What the admin pages share: the session, the audit record, desks, form fields."""

from __future__ import annotations

import re

from flask import abort, current_app, g, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from ... import db
from ...models import Desk
from ...parsing import MAX_ID, whole_number
from .. import audit, keytrust

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
MAX_RETENTION = 3650
AUDIT_ROWS = 500


def db_session():
    return db.session()


def record(action: str, desk: str | None = None, detail: str = "") -> None:
    audit.record(db_session(), g.desk_user.name, action, desk, detail)


def all_desks() -> list[Desk]:
    """The desks the signed-in admin administers: every desk, or a desk admin's own one."""
    query = select(Desk).order_by(Desk.slug)
    if g.desk_user.desk_id is not None:
        query = query.where(Desk.id == g.desk_user.desk_id)
    return list(db_session().scalars(query))


def is_global_admin() -> bool:
    return g.desk_user.desk_id is None


def require_global() -> None:
    if not is_global_admin():
        abort(403, description="other_desk")


def require_desk(desk: Desk) -> Desk:
    """`desk`, if the signed-in admin administers it (docs/key-trust.md, per-desk admins), else 403."""
    if not keytrust.may_administer(g.desk_user, desk):
        abort(403, description="other_desk")
    return desk


def desk_by_slug(slug: str) -> Desk:
    desk = db_session().scalar(select(Desk).where(Desk.slug == slug[:40]))
    if desk is None:
        abort(404, description="unknown_desk")
    return require_desk(desk)


def get_or_404(model, ident: int):
    if not 0 < ident <= MAX_ID:  # from a URL's <int:>: past the column's range it is a database error
        abort(404)
    row = db_session().get(model, ident)
    if row is None:
        abort(404)
    return row


def done(endpoint: str, msg: str, **values):
    return redirect(url_for(endpoint, msg=msg, **values), 303)


def languages() -> tuple[str, ...]:
    return current_app.config["SEALDROP"].languages


def names_from_form(errors: list[str]) -> dict[str, str]:
    names = {}
    for lang in languages():
        value = " ".join(request.form.get(f"name_{lang}", "").split())[:200]
        if value:
            names[lang] = value
    if not names:
        errors.append(_("Give a name in at least one language."))
    return names


def retention_from_form(errors: list[str]) -> int:
    days = whole_number(request.form.get("retention_days", "").strip(), 1, MAX_RETENTION)
    if days is None:
        errors.append(_("Retention is a whole number of days from 1 to %(n)d.", n=MAX_RETENTION))
        return 30
    return days


def not_ready(desk: Desk) -> list[str]:
    """Why reporters cannot send to `desk` yet, as codes (desk/_messages.html says them), or [] when
    they can: the same test as the reporter's form (a category with a confirmed key to seal to)."""
    if any(category.recipients() for category in desk.categories):
        return []
    reasons = []
    if not desk.categories:
        reasons.append("no_categories")
    if not any(o.confirmed and not o.retired for o in desk.officers):
        reasons.append("no_officers")
    return reasons or ["no_recipients"]
