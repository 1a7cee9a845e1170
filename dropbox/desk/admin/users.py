"""Desk users: add with a role (and optionally a desk), new TOTP secret, new password, disable."""

from __future__ import annotations

import segno
from flask import abort, current_app, g, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select

from ...models import Desk, DeskUser
from .. import accounts, admin_bp
from .common import all_desks, db_session, done, get_or_404, record, require_desk

# --- users -----------------------------------------------------------------------------------------


def _users_page(status: int = 200, errors=(), values=None):
    query = select(DeskUser).order_by(DeskUser.name)
    if g.desk_user.desk_id is not None:  # a desk admin sees and manages its own desk's users only
        query = query.where(DeskUser.desk_id == g.desk_user.desk_id)
    users = list(db_session().scalars(query))
    return render_template(
        "desk/admin/users.html",
        users=users,
        desks=all_desks(),
        errors=list(errors),
        values=values or {},
        msg=request.args.get("msg"),
    ), status


def _totp_page(new: accounts.NewSecret, fresh: bool):
    secret = new.totp_secret
    return render_template(
        "desk/admin/totp.html",
        user=new.user,
        uri=new.uri,
        qr=segno.make(new.uri, error="m").svg_data_uri(scale=5, border=4),
        secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        fresh=fresh,
    )


@admin_bp.get("/users")
def users():
    return _users_page()


@admin_bp.post("/users")
def users_add():
    errors: list[str] = []
    desk = None
    if request.form.get("desk"):
        desk = db_session().scalar(select(Desk).where(Desk.slug == request.form["desk"][:40]))
        if desk is None:
            errors.append(_("Choose a desk."))
        else:
            require_desk(desk)
    elif g.desk_user.desk_id is not None:
        desk = g.desk_user.desk  # a desk admin adds users to its own desk only
    password, again = request.form.get("password", "")[:1024], request.form.get("again", "")[:1024]
    if password != again:
        errors.append(_("The two passwords are not the same."))
    name, role = request.form.get("name", "").strip()[:80], request.form.get("role", "")
    new = None
    if not errors:
        try:
            new = accounts.create_user(
                db_session(), current_app.config["SEALDROP"].secret_key, name, role, password, desk
            )
        except accounts.AccountError as e:
            errors.append(e.text(_))
    if errors:
        db_session().rollback()
        return _users_page(400, errors, request.form)
    record("user_added", desk.slug if desk else None, f"{name} ({role})")
    db_session().commit()
    return _totp_page(new, fresh=True)


def _user(ident: int) -> DeskUser:
    user = get_or_404(DeskUser, ident)
    if g.desk_user.desk_id is not None and user.desk_id != g.desk_user.desk_id:
        abort(403, description="other_desk")
    return user


@admin_bp.post("/users/<int:ident>/totp")
def user_totp(ident: int):
    user = _user(ident)
    new = accounts.reset_totp(db_session(), current_app.config["SEALDROP"].secret_key, user)
    record("user_totp_reset", user.desk.slug if user.desk else None, user.name)
    db_session().commit()
    return _totp_page(new, fresh=False)


@admin_bp.post("/users/<int:ident>/password")
def user_password(ident: int):
    user = _user(ident)
    password, again = request.form.get("password", "")[:1024], request.form.get("again", "")[:1024]
    error = _("The two passwords are not the same.") if password != again else None
    if error is None:
        try:
            accounts.set_password(db_session(), user, password)
        except accounts.AccountError as e:
            error = e.text(_)
    if error:
        db_session().rollback()
        return _users_page(400, [error])
    record("user_password_set", user.desk.slug if user.desk else None, user.name)
    db_session().commit()
    return done("desk.admin.users", "password_set")


def _set_disabled(ident: int, disabled: bool):
    user = _user(ident)
    if user.id == g.desk_user.id:
        return _users_page(400, [_("You cannot disable yourself.")])
    user.disabled = disabled
    if disabled:
        accounts.end_sessions(db_session(), user)
    record("user_disabled" if disabled else "user_enabled", user.desk.slug if user.desk else None, user.name)
    db_session().commit()
    return done("desk.admin.users", "disabled" if disabled else "enabled")


@admin_bp.post("/users/<int:ident>/disable")
def user_disable(ident: int):
    return _set_disabled(ident, True)


@admin_bp.post("/users/<int:ident>/enable")
def user_enable(ident: int):
    return _set_disabled(ident, False)
