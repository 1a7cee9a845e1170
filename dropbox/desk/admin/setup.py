"""Desks, categories and officer keys: what decides where a report goes and whom it is sealed to."""

from __future__ import annotations

from flask import abort, current_app, g, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select

from crypto import KeyFormatError, PublicKey

from ...models import Category, Desk, Officer
from ...parsing import MAX_ID, whole_number
from .. import admin_bp, keytrust
from .common import (
    SLUG,
    all_desks,
    db_session,
    desk_by_slug,
    done,
    get_or_404,
    languages,
    names_from_form,
    not_ready,
    record,
    require_desk,
    require_global,
    retention_from_form,
)

# --- desks -----------------------------------------------------------------------------------------


def _desks_page(status: int = 200, errors=(), values=None):
    desks = all_desks()
    return render_template(
        "desk/admin/desks.html",
        desks=desks,
        errors=list(errors),
        values=values or {},
        msg=request.args.get("msg") if request.method == "GET" else None,
        not_ready={d.slug: not_ready(d) for d in desks},
    ), status


@admin_bp.get("/desks")
def desks():
    return _desks_page()


@admin_bp.post("/desks")
def desks_add():
    require_global()  # a desk admin administers its own desk only
    errors: list[str] = []
    slug = request.form.get("slug", "").strip().lower()[:40]
    if not SLUG.match(slug):
        errors.append(_("The address name has lower-case letters, digits and dashes, like sofia-centre."))
    elif db_session().scalar(select(Desk).where(Desk.slug == slug)):
        errors.append(_("A desk with this address name already exists."))
    names = names_from_form(errors)
    language = request.form.get("default_language", "en")
    if language not in languages():
        errors.append(_("Choose the default language."))
    retention = retention_from_form(errors)
    if errors:
        return _desks_page(400, errors, request.form)
    db_session().add(Desk(slug=slug, names=names, default_language=language, retention_days=retention))
    record("desk_added", slug)
    db_session().commit()
    return done("desk.admin.desks", "desk_added")


@admin_bp.get("/desks/<slug>")
def desk_edit(slug: str):
    desk = desk_by_slug(slug)
    values = {f"name_{k}": v for k, v in desk.names.items()}
    values.update(default_language=desk.default_language, retention_days=desk.retention_days)
    budgets = current_app.extensions["sealdrop.budgets"].snapshot([desk.slug])  # this process's counts
    return render_template(
        "desk/admin/desk.html", desk=desk, values=values, errors=[], msg=request.args.get("msg"),
        budgets=budgets, not_ready=not_ready(desk),
    )  # fmt: skip


@admin_bp.post("/desks/<slug>")
def desk_save(slug: str):
    desk = desk_by_slug(slug)
    errors: list[str] = []
    names = names_from_form(errors)
    language = request.form.get("default_language", "")
    if language not in languages():
        errors.append(_("Choose the default language."))
    retention = retention_from_form(errors)
    if errors:
        return render_template(
            "desk/admin/desk.html",
            desk=desk,
            values=request.form,
            errors=errors,
            msg=None,
            not_ready=not_ready(desk),
        ), 400
    desk.names, desk.default_language, desk.retention_days = names, language, retention
    record("desk_changed", desk.slug, f"retention {retention} days")
    db_session().commit()
    return done("desk.admin.desk_edit", "saved", slug=desk.slug)


# --- categories ------------------------------------------------------------------------------------


def _officer_ids() -> list[int]:
    """The officer ids the form ticked; anything that is not an id is dropped, as an unticked box."""
    ids = (whole_number(raw, 1, MAX_ID) for raw in request.form.getlist("officers"))
    return [i for i in ids if i is not None]


def _category_page(template: str, status: int = 200, **context):
    visible = [d.id for d in all_desks()]
    officers = list(
        db_session().scalars(
            select(Officer)
            .where(Officer.confirmed, Officer.desk_id.in_(visible))
            .order_by(Officer.desk_id, Officer.name)
        )
    )
    context.setdefault("chosen", set(_officer_ids()))
    return render_template(
        template, desks=all_desks(), officers=officers, msg=request.args.get("msg"), **context
    ), status


def _category_fields(errors: list[str], owner: Desk) -> tuple[dict, Desk | None, list[Officer]]:
    names = names_from_form(errors)
    route_slug = request.form.get("route", "")
    route = None
    if route_slug:
        route = db_session().scalar(select(Desk).where(Desk.slug == route_slug[:40]))
        if route is not None and not keytrust.may_administer(g.desk_user, route) and route.id != owner.id:
            route = None  # a desk admin sends its reports to no other desk
        if route is None:
            errors.append(_("Choose a desk to send these reports to."))
    target = route or owner
    ids = _officer_ids()[:100]
    chosen = list(db_session().scalars(select(Officer).where(Officer.id.in_(ids)))) if ids else []
    if any(o.desk_id != target.id or not o.confirmed for o in chosen):
        errors.append(_("Explicit officers must be confirmed officers of the desk the reports go to."))
    return names, (route if route and route.id != owner.id else None), chosen


@admin_bp.get("/categories")
def categories():
    return _category_page("desk/admin/categories.html", errors=[], values={})


@admin_bp.post("/categories")
def categories_add():
    errors: list[str] = []
    owner = db_session().scalar(select(Desk).where(Desk.slug == request.form.get("desk", "")[:40]))
    if owner is None:
        return _category_page(
            "desk/admin/categories.html", 400, errors=[_("Choose a desk.")], values=request.form
        )
    require_desk(owner)
    slug = request.form.get("slug", "").strip().lower()[:40]
    if not SLUG.match(slug):
        errors.append(_("The short name has lower-case letters, digits and dashes, like graffiti."))
    elif any(c.slug == slug for c in owner.categories):
        errors.append(_("This desk already has a category with this short name."))
    names, route, chosen = _category_fields(errors, owner)
    if errors:
        return _category_page("desk/admin/categories.html", 400, errors=errors, values=request.form)
    position = (max((c.position for c in owner.categories), default=-1)) + 1
    category = Category(
        desk=owner, slug=slug, names=names, position=position, route_desk=route, officers=chosen
    )
    db_session().add(category)
    keytrust.routing_changed(db_session(), category, None, owner.slug, g.desk_user.name)
    record("category_added", owner.slug, f"{slug} -> {(route or owner).slug}, {len(chosen)} explicit keys")
    db_session().commit()
    return done("desk.admin.categories", "category_added")


@admin_bp.get("/categories/<int:ident>")
def category_edit(ident: int):
    category = get_or_404(Category, ident)
    require_desk(category.desk)
    values = {f"name_{k}": v for k, v in category.names.items()}
    values["route"] = category.route_desk.slug if category.route_desk else ""
    return _category_page(
        "desk/admin/category.html",
        category=category,
        values=values,
        errors=[],
        chosen={o.id for o in category.officers},
    )


@admin_bp.post("/categories/<int:ident>")
def category_save(ident: int):
    category = get_or_404(Category, ident)
    require_desk(category.desk)
    readers, target_before = keytrust.readers(category), category.target_desk.slug
    errors: list[str] = []
    names, route, chosen = _category_fields(errors, category.desk)
    if errors:
        return _category_page(
            "desk/admin/category.html",
            400,
            category=category,
            values=request.form,
            errors=errors,
            chosen={o.id for o in chosen},
        )
    category.names, category.route_desk, category.officers = names, route, chosen
    keytrust.routing_changed(db_session(), category, readers, target_before, g.desk_user.name)
    target = route or category.desk
    record(
        "category_changed",
        category.desk.slug,
        f"{category.slug} -> {target.slug}, {len(chosen)} explicit keys",
    )
    db_session().commit()
    return done("desk.admin.category_edit", "saved", ident=category.id)


# --- officers --------------------------------------------------------------------------------------


def _officers_page(status: int = 200, errors=(), values=None, statement_errors=()):
    desks = all_desks()
    officers = list(
        db_session().scalars(
            select(Officer)
            .where(Officer.desk_id.in_([d.id for d in desks]))
            .order_by(Officer.desk_id, Officer.id)
        )
    )
    return render_template(
        "desk/admin/officers.html",
        officers=officers,
        desks=desks,
        errors=list(errors),
        statement_errors=list(statement_errors),
        values=values or {},
        msg=request.args.get("msg"),
    ), status


@admin_bp.get("/officers")
def officers():
    return _officers_page()


@admin_bp.post("/officers")
def officers_add():
    errors: list[str] = []
    desk = db_session().scalar(select(Desk).where(Desk.slug == request.form.get("desk", "")[:40]))
    if desk is None:
        errors.append(_("Choose a desk."))
    else:
        require_desk(desk)
    name = " ".join(request.form.get("name", "").split())[:200]
    if not name:
        errors.append(_("Give the officer's name."))
    upload = request.files.get("key_file")
    text = request.form.get("key_text", "")[:10_000]
    if upload is not None and upload.filename:
        text = upload.read(10_000).decode("utf-8", "replace")
    key = None
    try:
        key = PublicKey.parse(text)
    except KeyFormatError:
        errors.append(_("This is not a sealdrop officer public key (the file ends in .pub)."))
    if key and desk and any(o.key_id == key.recipient.key_id.hex() for o in desk.officers):
        errors.append(_("This key is already registered for this desk."))
    if errors:
        return _officers_page(400, errors, request.form)
    pending = keytrust.has_officers(desk)  # then only the desk's own statement confirms it
    officer = keytrust.register(db_session(), desk, name, key, g.desk_user.name)
    record("officer_registered", desk.slug, f"{name}, key {officer.key_id[:16]}")
    db_session().commit()
    return done("desk.admin.officer", "registered_pending" if pending else "registered", ident=officer.id)


@admin_bp.get("/officers/<int:ident>")
def officer(ident: int):
    found = get_or_404(Officer, ident)
    require_desk(found.desk)
    return render_template(
        "desk/admin/officer.html", officer=found, error=None, msg=request.args.get("msg"),
        needs_statement=keytrust.has_officers(found.desk, besides=found),
    )  # fmt: skip


@admin_bp.post("/officers/<int:ident>/confirm")
def officer_confirm(ident: int):
    officer = get_or_404(Officer, ident)
    require_desk(officer.desk)
    needs_statement = keytrust.has_officers(officer.desk, besides=officer)
    if request.form.get("read_back") != "yes" and not needs_statement:
        error = _("Tick the box only after the officer read every group back to you and all of them matched.")
        return render_template(
            "desk/admin/officer.html", officer=officer, error=error, msg=None, needs_statement=False
        ), 400
    try:
        keytrust.confirm_by_admin(db_session(), officer, g.desk_user.name)
    except keytrust.KeyTrustError as e:
        return render_template(
            "desk/admin/officer.html", officer=officer, error=e.text(_), msg=None, needs_statement=True
        ), 409
    record("officer_confirmed", officer.desk.slug, f"{officer.name}, key {officer.key_id[:16]}")
    db_session().commit()
    return done("desk.admin.officer", "confirmed", ident=officer.id)


@admin_bp.post("/officers/<int:ident>/remove")
def officer_remove(ident: int):
    officer = get_or_404(Officer, ident)
    require_desk(officer.desk)
    if officer.confirmed:
        abort(409, description="confirmed_officer")
    keytrust.removed(db_session(), officer, g.desk_user.name)
    record("officer_removed", officer.desk.slug, f"{officer.name}, key {officer.key_id[:16]}")
    db_session().delete(officer)
    db_session().commit()
    return done("desk.admin.officers", "removed")


@admin_bp.post("/officers/statement")
def officers_statement():
    """Apply a key statement an officer of the desk signed (docs/key-trust.md): the only way, besides a
    reply bundle, that a desk which has officers takes a new recipient."""
    desk = db_session().scalar(select(Desk).where(Desk.slug == request.form.get("desk", "")[:40]))
    if desk is None:
        return _officers_page(400, statement_errors=[_("Choose a desk.")], values=request.form)
    require_desk(desk)
    upload = request.files.get("statement_file")
    text = request.form.get("statement_text", "")[: keytrust.st.MAX_TEXT + 1]
    if upload is not None and upload.filename:
        text = upload.read(keytrust.st.MAX_TEXT + 1).decode("utf-8", "replace")
    try:
        applied = keytrust.apply(db_session(), desk, keytrust.parse(text))
    except keytrust.KeyTrustError as e:
        db_session().rollback()
        return _officers_page(400, statement_errors=[e.text(_)], values=request.form)
    s = applied.statement
    record(f"key_{s.action}", desk.slug, f"{applied.officer.name}, key {s.subject_key_id[:16]}")
    db_session().commit()
    return done("desk.admin.officer", f"statement_{s.action}", ident=applied.officer.id)
