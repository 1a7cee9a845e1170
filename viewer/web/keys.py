"""Who can read the desk's reports (docs/key-trust.md): the recipients the last export named, every
key change it carried, and a warning for each change no officer of the desk signed until it is seen.

    GET  /keys          the page
    POST /keys/seen     the warnings were read (they stay listed below, without the warning)
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from crypto.statement import key_id_of

from .. import keytrust
from ..i18n import _
from . import vault

bp = Blueprint("keys", __name__)


@bp.app_context_processor
def _key_warnings() -> dict:
    """For the inbox and the dashboard: the changes to warn about (_key_warnings.html)."""

    def key_warnings() -> list[str]:
        return [keytrust.describe(c) for c in keytrust.warnings(vault())]

    return {"key_warnings": key_warnings}


@bp.get("/keys")
def page():
    v = vault()
    mine = key_id_of(v.officer.public_key)
    return render_template(
        "keys.html",
        title=_("Keys"),
        recipients=keytrust.recipients(v),
        desks=v.desks,
        mine=mine,
        fingerprint=v.officer.fingerprint,
        changes=[(c, keytrust.describe(c)) for c in reversed(keytrust.changes(v))],
        queued=keytrust.queued(v),
        seen=request.args.get("seen", "")[:5].isdigit(),
    )


@bp.post("/keys/seen")
def seen():
    n = keytrust.mark_seen(vault())
    return redirect(url_for("keys.page", seen=n), 303)
