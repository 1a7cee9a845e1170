"""The operator's command line for desk users: listing, disabling (which ends their sessions), enabling
and removing a clerk or an admin, and their one-line errors."""

from __future__ import annotations

from sqlalchemy import func, select

from dropbox import config, create_app
from dropbox.models import DeskSession, DeskUser
from tests.desk_helpers import add_user, login
from tests.desk_helpers import code as totp_code

# The *_fixture names: pytest finds fixtures among a module's names; imported to be found, never called.
from tests.dropbox.staff_cli_helpers import (
    audit_actions,
    both_databases,
    english_fixture,  # noqa: F401
    fails,
    run_fixture,  # noqa: F401
    session_for,
    site_fixture,  # noqa: F401
)

# ---------------------------------------------------------------- users


@both_databases
def test_user_list_disable_enable_remove(run, site):
    name, secret = add_user(site, "clerk", desk="demo", name="boris")
    add_user(site, "admin", name="anna")
    app = create_app(config.load(site))
    clerk = app.test_client()
    assert login(clerk, name, secret).status_code == 303
    assert clerk.get("/desk/").status_code == 200
    out = run("user", "list")[1].splitlines()
    assert out == [
        "anna\tadmin\tevery desk\tenabled\tbrowser's language\tsessions: 0",
        "boris\tclerk\tdesk demo\tenabled\tbrowser's language\tsessions: 1",
    ]

    code, out, _err = run("user", "disable", "boris")
    assert code == 0 and "signed out everywhere" in out and "no enabled admin" not in out
    with session_for(site) as s:
        user = s.scalar(select(DeskUser).where(DeskUser.name == "boris"))
        assert user.disabled and s.scalar(select(func.count()).select_from(DeskSession)) == 0
    assert clerk.get("/desk/").status_code in (302, 303)  # the open session ended with the disabling
    assert "disabled" in run("user", "list")[1].splitlines()[1]

    assert run("user", "enable", "boris")[0] == 0
    assert login(app.test_client(), name, secret, totp=totp_code(secret, 1)).status_code == 303  # again
    assert run("user", "remove", "boris")[0] == 0
    with session_for(site) as s:
        assert s.scalar(select(DeskUser).where(DeskUser.name == "boris")) is None
        assert s.scalar(select(func.count()).select_from(DeskSession)) == 0
    assert "no such user: boris" in fails(run("user", "disable", "boris"))
    assert "no such user: nobody" in fails(run("user", "enable", "nobody"))
    assert "no such user: nobody" in fails(run("user", "remove", "nobody"))
    assert "no enabled admin is left" in run("user", "disable", "anna")[1]
    assert audit_actions(site) == ["user_disabled", "user_enabled", "user_removed", "user_disabled"]
    app.extensions["sealdrop.engine"].dispose()
