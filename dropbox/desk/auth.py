"""Desk login, server-side sessions, the gate in front of /desk/, CSRF and roles.

Sessions: the cookie holds 32 random bytes; the desk_sessions table holds only their SHA-256, the
user, a per-session CSRF token and two times. A session ends after IDLE without a request, after
ABSOLUTE whatever happens, at logout, and when the user is disabled or their password or TOTP reset.
The cookie: Path=/desk/ (reporters' pages never receive it), HttpOnly, SameSite=Strict, and over
https Secure with the `__Secure-` prefix. (`__Host-` would demand Path=/, which would send it to
reporters' pages too: keeping it off those pages matters more.)

    GET  /desk/login      the form (name, password, code from the authenticator)
    POST /desk/login      throttled, then password, then TOTP; a new session on success
    POST /desk/logout
    GET  /desk/account    one's own password and language
    POST /desk/account    change the password
    POST /desk/account/language   the language of one's desk pages ("" for the browser's)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from flask import abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import delete, select

from .. import db
from ..models import DeskSession, DeskUser
from ..security import csrf_token, require_csrf, same_site_request
from . import accounts, audit, bp

IDLE = dt.timedelta(minutes=30)
ABSOLUTE = dt.timedelta(hours=10)
TOUCH = dt.timedelta(minutes=1)  # seen_at is written at most this often
PUBLIC_ENDPOINTS = frozenset({"desk.login", "desk.login_post"})  # everything else needs a session
COOKIE = "sealdrop-desk"
SECURE_COOKIE = "__Secure-sealdrop-desk"
COOKIE_PATH = "/desk/"
LOGIN_PURPOSE = "desk-login"


def _cookie_name() -> str:
    return SECURE_COOKIE if request.is_secure else COOKIE


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def _secret() -> bytes:
    return current_app.config["SEALDROP"].secret_key


def in_desk(path: str) -> bool:
    return path == "/desk" or path.startswith("/desk/")


def _load_session() -> DeskSession | None:
    token = request.cookies.get(_cookie_name())
    if not token or len(token) > 100:
        return None
    session = db.session()
    found = session.get(DeskSession, _digest(token))
    if found is None:
        return None
    at = accounts.now()
    if at - found.created_at > ABSOLUTE or at - found.seen_at > IDLE or found.user.disabled:
        session.delete(found)
        session.commit()
        return None
    if at - found.seen_at > TOUCH:
        found.seen_at = at
        session.commit()
    return found


def gate():
    """Runs before every request. Under /desk/: a session or a redirect to the login page (save for
    PUBLIC_ENDPOINTS), and the session's CSRF token on every request that changes anything."""
    if not in_desk(request.path):
        return None
    found = _load_session()
    g.desk_session = found
    g.desk_user = found.user if found else None
    if found is None:
        if request.endpoint in PUBLIC_ENDPOINTS:
            return None
        nxt = request.full_path.rstrip("?") if request.method == "GET" else None
        response = redirect(url_for("desk.login", next=nxt), 303)
        if request.cookies.get(_cookie_name()):
            _clear_cookie(response)
        return response
    if request.method not in ("GET", "HEAD", "OPTIONS") and request.endpoint != "desk.login_post":
        token = request.form.get("csrf_token", "")
        if not same_site_request() or not hmac.compare_digest(token.encode(), found.csrf.encode()):
            abort(400, description="csrf")
    return None


def current_user() -> DeskUser:
    return g.desk_user


def require_admin() -> None:
    if g.get("desk_user") is None or g.desk_user.role != "admin":
        abort(403, description="admins_only")


def template_context() -> dict:
    if not in_desk(request.path):
        return {}
    found = g.get("desk_session")
    return {"desk_user": g.get("desk_user"), "desk_csrf": found.csrf if found else ""}


def _safe_next(target: str | None) -> str:
    """Only a path on this desk: never another host, never a scheme-relative URL."""
    if not target or len(target) > 300:
        return url_for("desk.inbox")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/desk/") or "\\" in target:
        return url_for("desk.inbox")
    return target


def _set_cookie(response, token: str) -> None:
    response.set_cookie(
        _cookie_name(), token, path=COOKIE_PATH, secure=request.is_secure, httponly=True, samesite="Strict"
    )


def _clear_cookie(response) -> None:
    response.delete_cookie(
        _cookie_name(), path=COOKIE_PATH, secure=request.is_secure, httponly=True, samesite="Strict"
    )


def _login_page(error: str | None = None, status: int = 200, name: str = "", until=None):
    minutes = None
    if until is not None:
        minutes = max(1, int((until - accounts.now()).total_seconds() + 59) // 60)
    return render_template(
        "desk/login.html",
        csrf=csrf_token(LOGIN_PURPOSE),
        next=request.values.get("next", "")[:300],
        error=error,
        name=name,
        minutes=minutes,
        msg=request.args.get("msg") if request.method == "GET" else None,
    ), status


@bp.get("/login")
def login():
    if g.get("desk_user") is not None:
        return redirect(url_for("desk.inbox"), 303)
    return _login_page()


@bp.post("/login")
def login_post():
    require_csrf(LOGIN_PURPOSE, request.form.get("csrf_token"))
    name = request.form.get("name", "").replace("\x00", "").strip()[:80]  # no name holds NUL (PostgreSQL)
    password = request.form.get("password", "")[:1024]
    code = request.form.get("code", "")[:20]
    session, secret = db.session(), _secret()
    key = accounts.account_key(secret, name)
    until = accounts.claim_attempt(session, key)  # counted as failed until it succeeds
    if until is not None:
        return _login_page("locked", 429, name, until)
    # No row lock here (it would be held across Argon2, and SQLite ignores it): spend_totp records
    # the used step with a conditional UPDATE instead.
    user = session.scalar(select(DeskUser).where(DeskUser.name == name))
    ok = accounts.password_matches(user.password_hash if user else None, password)
    ok = ok and user is not None and not user.disabled
    ok = ok and accounts.spend_totp(session, user, accounts.open_totp(secret, user.totp_secret), code)
    if not ok:  # already counted by claim_attempt
        if user is not None:  # only real names: a mistyped password in the name field stays unrecorded
            audit.record(session, user.name, "login_failed", user.desk.slug if user.desk else None)
        session.commit()
        return _login_page("wrong", 401, name)
    accounts.record_success(session, key)
    if g.get("desk_session") is not None:  # a login over a live session replaces it
        session.delete(g.desk_session)
    at = accounts.now()
    session.execute(delete(DeskSession).where(DeskSession.created_at < at - ABSOLUTE))
    session.execute(delete(DeskSession).where(DeskSession.seen_at < at - IDLE))
    token = secrets.token_urlsafe(32)
    session.add(
        DeskSession(id=_digest(token), user=user, csrf=secrets.token_urlsafe(32), created_at=at, seen_at=at)
    )
    audit.record(session, user.name, "login", user.desk.slug if user.desk else None)
    session.commit()
    response = redirect(_safe_next(request.form.get("next")), 303)
    _set_cookie(response, token)
    return response


@bp.post("/logout")
def logout():
    session = db.session()
    audit.record(session, g.desk_user.name, "logout")
    session.delete(g.desk_session)
    session.commit()
    response = redirect(url_for("desk.login", msg="logged_out"), 303)
    _clear_cookie(response)
    return response


def _account_page(error: str | None = None, status: int = 200):
    return render_template(
        "desk/account.html", error=error, msg=request.args.get("msg") if request.method == "GET" else None
    ), status


@bp.get("/account")
def account():
    return _account_page()


@bp.post("/account/language")
def account_language():
    """The user's own language for every desk page; empty means "as the browser asks"."""
    user, session = g.desk_user, db.session()
    chosen = request.form.get("language", "")
    if chosen and chosen not in current_app.config["SEALDROP"].languages:
        abort(400)
    user.language = chosen or None
    audit.record(session, user.name, "language_changed", None, chosen or "browser")
    session.commit()
    return redirect(url_for("desk.account", msg="language_saved"), 303)


@bp.post("/account")
def account_post():
    user, session = g.desk_user, db.session()
    current = request.form.get("current", "")[:1024]
    new, again = request.form.get("password", "")[:1024], request.form.get("again", "")[:1024]
    error = None
    if not accounts.password_matches(user.password_hash, current):
        error = _("Your current password is not right.")
    elif new != again:
        error = _("The two new passwords are not the same.")
    else:
        try:
            accounts.set_password(session, user, new)  # ends every session, this one too
        except accounts.AccountError as e:
            error = e.text(_)
    if error:
        return _account_page(error, 400)
    audit.record(session, user.name, "password_changed")
    session.commit()
    response = redirect(url_for("desk.login", msg="password_changed"), 303)
    _clear_cookie(response)
    return response
