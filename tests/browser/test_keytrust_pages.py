"""Key trust in real Chromium, JavaScript off and on (docs/key-trust.md): on the desk, a key the global
admin registers for the internal-security desk stays pending, and the desk's officer's key statement,
pasted or uploaded on the officer keys page, makes it a recipient (a forged one is refused with the
page's error); in sealview, a key change no officer signed is a warning on the inbox and the
dashboard until the officer marks it read on the Keys page."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import crypto
from crypto import statement
from dropbox import config, db
from dropbox.models import Officer
from tests.browser.desk_pages import Desk, LoginPage
from tests.browser.test_accessibility import AXE, axe_problems
from tests.browser.viewer_pages import running_viewer
from tests.desk_helpers import PASSWORD, add_user, code, officer_identity
from tests.helpers import demo_server
from tests.viewer.bundles import Submission, report_doc
from tests.viewer.conftest import PASSPHRASE, make_vault

pytestmark = pytest.mark.browser
JS = pytest.mark.parametrize("javascript", [False, True], ids=["js-off", "js-on"])
INTERNAL = "demo-internal"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with demo_server(tmp_path_factory.mktemp("keytrust")) as (_public, instance, process):
        yield process.desk_url, instance


def confirmed(instance, key: crypto.PublicKey) -> bool:
    with db.standalone_session(config.load(instance).database_url) as s:
        found = s.scalar(select(Officer.confirmed).where(Officer.key_id == statement.key_id_of(key)))
        s.bind.dispose()
    return bool(found)


def admin_page(context_for, served, javascript: bool) -> Desk:
    base, instance = served
    name, secret = add_user(instance, "admin")
    page = context_for(javascript).new_page()
    LoginPage(page, base).open().log_in(name, PASSWORD, code(secret))
    return Desk(page, base)


def apply_statement(desk: Desk, text: str, *, upload: bool) -> None:
    desk.goto("/desk/admin/officers")
    desk.page.wait_for_load_state("domcontentloaded")
    desk.page.select_option("#statement-desk", INTERNAL)
    if upload:
        desk.page.set_input_files(
            "#statement_file",
            files=[{"name": "k.statement", "mimeType": "text/plain", "buffer": text.encode()}],
        )
    else:
        desk.page.fill("#statement_text", text)
    with desk.page.expect_navigation():
        desk.page.click("#apply-statement")
    desk.page.wait_for_load_state("domcontentloaded")


@JS
def test_the_desk_page_takes_a_statement_and_refuses_a_forged_one(context_for, served, javascript):
    _base, instance = served
    desk = admin_page(context_for, served, javascript)
    newcomer = crypto.Identity.generate()
    desk.register_officer(INTERNAL, f"Newcomer js{int(javascript)}", newcomer.public_key.to_file_text())
    desk.page.wait_for_load_state("domcontentloaded")
    assert "pending" in desk.notice() and desk.page.locator("#needs-statement").count() == 1
    assert desk.page.locator("input[name=read_back]").count() == 0
    assert not confirmed(instance, newcomer.public_key)

    stranger = crypto.Identity.generate()
    forged = statement.sign(stranger.signing_key, stranger.public_key, INTERNAL, "admit", newcomer.public_key)
    apply_statement(desk, forged.encode(), upload=False)
    assert "no officer of desk demo-internal" in desk.page.inner_text("#form-errors")
    if AXE.exists():  # the officer keys page with the statement form and its error
        assert axe_problems(desk.page, False, "officers") == []
    assert not confirmed(instance, newcomer.public_key)

    internal = officer_identity(instance, "demo-internal-officer.identity")
    good = statement.sign(internal.signing_key, internal.public_key, INTERNAL, "admit", newcomer.public_key)
    apply_statement(desk, good.encode(), upload=javascript)  # pasted with JS off, a file with JS on
    assert "Key statement applied" in desk.notice()
    assert "Confirmed" in desk.officer_state()
    assert confirmed(instance, newcomer.public_key)
    apply_statement(desk, good.encode(), upload=not javascript)  # the same one again: a replay
    assert "already applied" in desk.page.inner_text("#form-errors")
    assert desk.problems() == []


def warned_vault(tmp_path):
    """A vault whose last export said an admin registered a key alone; its own key is a recipient."""
    vault_dir = tmp_path / "vault"
    planted = crypto.Identity.generate().public_key
    vault, officer, server = make_vault(vault_dir)
    server.extra = {
        "key_changes": [
            {"day": "2026-12-06", "action": "registered", "key_id": statement.key_id_of(planted),
             "fingerprint": planted.fingerprint, "name": "Planted", "detail": "", "by": "root",
             "by_officer": False},
        ],
        "recipients": [
            {"key_id": statement.key_id_of(officer.public_key), "fingerprint": officer.fingerprint,
             "name": "Officer Petrova"},
        ],
    }  # fmt: skip
    from viewer import importer

    server.bundle(tmp_path / "e.bundle", [Submission("KEYS-0001", report_doc("Something happened"))])
    importer.import_bundle(vault, tmp_path / "e.bundle")
    vault.close()
    return vault_dir, planted


@JS
def test_the_viewer_warns_until_the_officer_has_read_it(context_for, tmp_path, javascript):
    vault_dir, planted = warned_vault(tmp_path)
    with running_viewer(vault_dir, PASSPHRASE) as url:
        page = context_for(javascript).new_page()
        page.goto(url)
        page.wait_for_load_state("domcontentloaded")
        base = url.split("/?")[0]
        for path in ("/", "/dashboard"):
            page.goto(base + path)
            page.wait_for_load_state("domcontentloaded")
            warning = page.inner_text("#key-warnings")
            assert "root" in warning and planted.fingerprint in warning, path
        page.click("#key-warnings-link")
        page.wait_for_load_state("domcontentloaded")
        assert "Officer Petrova" in page.inner_text("#desk-recipients-demo")
        if AXE.exists():  # the Keys page with its warning, as a screen reader meets it
            assert (
                axe_problems(page, False, "keys") == []
            )  # injected by evaluate: the page's CSP allows no script tag
        with page.expect_navigation():
            page.click("#mark-seen")
        page.wait_for_load_state("domcontentloaded")
        assert page.locator("#seen").count() == 1 and page.locator("#key-warnings").count() == 0
        assert planted.fingerprint in page.inner_text("#key-changes")  # still listed, as history
        page.goto(base + "/")
        page.wait_for_load_state("domcontentloaded")
        assert page.locator("#key-warnings").count() == 0
