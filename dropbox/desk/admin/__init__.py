"""Admin pages under /desk/admin/ (role "admin"; every action is written to the audit log). An admin
with a desk administers that desk only (docs/key-trust.md); confirming a key by phone is for a desk's
first key only.

GET/POST /desk/admin/desks                     list, add
GET/POST /desk/admin/desks/<slug>              names per language, default language, retention
GET/POST /desk/admin/categories                list, add
GET/POST /desk/admin/categories/<id>           names, routing to another desk, explicit officers
GET/POST /desk/admin/officers                  list, register a public key (file or pasted)
GET      /desk/admin/officers/<id>             the fingerprint to read back by phone
POST     /desk/admin/officers/<id>/confirm     only a confirmed key is ever sealed to
POST     /desk/admin/officers/<id>/remove      an unconfirmed key only
POST     /desk/admin/officers/statement        apply a key statement an officer of the desk signed
GET/POST /desk/admin/users                     list, add (shows the TOTP set-up once)
POST     /desk/admin/users/<id>/totp           new TOTP secret, shown once
POST     /desk/admin/users/<id>/password       set a new password
POST     /desk/admin/users/<id>/disable|enable
GET/POST /desk/admin/posters                   a poster per desk, language, size (dropbox.posters)
GET/POST /desk/admin/retention                 days per desk; POST .../apply runs it now
GET      /desk/admin/audit                     the audit log
"""

from __future__ import annotations

from .. import admin_bp
from ..auth import require_admin


@admin_bp.before_request
def _admins_only() -> None:
    require_admin()


from . import operations, setup, users  # noqa: E402, F401  (their routes attach to admin_bp)
