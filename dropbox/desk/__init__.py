"""The desk, under /desk/: clerks download export bundles and upload reply bundles; admins set up
desks, categories, officer keys, users and retention. It never holds or shows plaintext.

    auth.py      login (Argon2id password + TOTP), server-side sessions, the gate, CSRF, logout
    accounts.py  passwords, TOTP, throttling (no Flask; shared with the CLI)
    views.py     the inbox, export bundles out, reply bundles in
    admin.py     admin pages (nested blueprint, role "admin")
    audit.py     who did what on which desk, on which day
    schedule.py  retention on a schedule while `sealdrop serve` runs
    commands.py  the operator's CLI commands (user add, export, import-replies, retention)

The gate (auth.gate) runs before every request whose path is under /desk/, matched route or not: no
session means a redirect to the login page, except for the endpoints in auth.PUBLIC_ENDPOINTS. Every
state-changing request with a session must carry that session's CSRF token. The desk's cookie is
scoped to /desk/, so reporters' pages never receive it.
"""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("desk", __name__, url_prefix="/desk")
admin_bp = Blueprint("admin", __name__, url_prefix="/admin")


def init_app(app: Flask) -> None:
    app.before_request(auth.gate)
    app.context_processor(auth.template_context)
    app.register_blueprint(bp)


# The routes attach to bp and admin_bp as these modules load (once, before any app registers bp).
from . import admin, auth, views  # noqa: E402, F401

bp.register_blueprint(admin_bp)
