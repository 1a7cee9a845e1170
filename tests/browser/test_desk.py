"""The desk in real Chromium, with JavaScript off and on, against `sealdrop serve`: logging in (and
the ways it is refused), every page behind the login, export bundles out, reply bundles in (and
the reporter reading the answer, JS off and on), refused bundles, retention, every admin page,
editing a category, and changing one's own password."""

import datetime as dt

import pytest
from sqlalchemy import select

import crypto
from crypto import VerifyKey, bundle
from dropbox import cli, config, create_app, db
from dropbox.desk import accounts, auth
from dropbox.models import AuditEntry, Case, Category, Officer, today
from tests.browser.desk_pages import Desk, LoginPage, Reporter
from tests.desk_helpers import PASSWORD, add_user, code, officer_identity, reply_bundle
from tests.helpers import REPO, demo_server

pytestmark = pytest.mark.browser
JS = pytest.mark.parametrize("javascript", [False, True], ids=["js-off", "js-on"])


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with demo_server(tmp_path_factory.mktemp("desk")) as (public, instance, process):
        yield process.desk_url, instance, public  # the desk has a loopback port of its own


def logged_in(context_for, served, javascript: bool, role: str = "admin", desk: str | None = None) -> Desk:
    base, instance, _public = served
    name, secret = add_user(instance, role, desk)
    page = context_for(javascript).new_page()
    login = LoginPage(page, base).open()
    login.log_in(name, PASSWORD, code(secret))
    desk_page = Desk(page, base)
    assert desk_page.path == "/desk/" and desk_page.signed_in_as().startswith(name)
    return desk_page


@JS
def test_login_wrong_password_and_a_replayed_code(context_for, served, javascript):
    base, instance, _public = served
    name, secret = add_user(instance)
    login = LoginPage(context_for(javascript).new_page(), base).open()
    login.log_in(name, "not the password", code(secret))
    assert "wrong" in login.error() and login.is_shown()
    used = code(secret)
    login.log_in(name, PASSWORD, used)
    desk = Desk(login.page, base)
    assert desk.heading() == "What waits" and desk.signed_in_as() == f"{name} (admin)"
    cookies = login.page.context.cookies()
    assert [(c["name"], c["path"], c["httpOnly"], c["sameSite"]) for c in cookies] == [
        ("sealdrop-desk", "/desk/", True, "Strict")
    ]
    desk.log_out()
    assert login.is_shown() and "logged out" in login.page.inner_text("#notice")
    login.log_in(name, PASSWORD, used)  # the same code again: refused even with the right password
    assert "already used" in login.error() and login.is_shown()
    assert login.problems() == []


@JS
def test_failed_logins_pause_the_account(context_for, served, javascript):
    base, instance, _public = served
    name, secret = add_user(instance)
    login = LoginPage(context_for(javascript).new_page(), base).open()
    for _ in range(accounts.FREE_FAILURES):
        login.log_in(name, "a wrong password", code(secret))
        assert "wrong" in login.error()
    login.log_in(name, PASSWORD, code(secret))
    assert "Too many failed attempts" in login.error() and login.is_shown()


@JS
def test_every_desk_page_without_a_session_leads_to_the_login(context_for, served, javascript):
    base, instance, _public = served
    app = create_app(config.load(instance))
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/desk/")]
    app.extensions["sealdrop.engine"].dispose()
    context = context_for(javascript)
    page = LoginPage(context.new_page(), base)
    checked = 0
    for rule in rules:
        values = {a: 1 if "Integer" in type(rule._converters[a]).__name__ else "demo" for a in rule.arguments}
        url = rule.build(values)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if rule.endpoint in auth.PUBLIC_ENDPOINTS:
                continue
            if method == "GET":
                page.goto(url)
                assert page.is_shown(), url
            else:  # what a form would send: the browser's own request context, same cookies (none)
                response = context.request.fetch(base + url, method=method, max_redirects=0)
                assert response.status == 303 and response.headers["location"].startswith("/desk/login"), url
            checked += 1
    assert checked > 20 and context.cookies() == []


@JS
def test_export_reply_and_the_reporter_reads_the_answer(context_for, served, javascript):
    _base, instance, public = served
    reporter = Reporter(context_for(javascript).new_page(), public, javascript)
    receipt, case_number = reporter.send_report()
    assert reporter.page.context.cookies() == []

    clerk = logged_in(context_for, served, javascript, "clerk", "demo")
    assert "new" in clerk.inbox_text()
    data = clerk.export()
    path = instance.parent / f"export-{javascript}.bundle"
    path.write_bytes(data)
    pinned = VerifyKey.parse((instance / config.SIGNING_PUB_FILE).read_text())
    manifest = bundle.verify(path, "export", [pinned])
    assert case_number in [i["case_number"] for i in manifest.items]
    assert clerk.export_again("demo", manifest.sequence) == data
    assert "Nothing new to export" in clerk.inbox_text() and not clerk.page.is_visible("#export-demo")

    replies = _next_reply_bundle(
        instance,
        case_number,
        "We are checking what you saw.",
        [{"sequence": manifest.sequence, "sha256": manifest.sha256}],
    )
    clerk.upload_replies(replies)
    assert "Imported 1 replies" in clerk.import_result()
    assert "imported" in clerk.inbox_text()

    status, texts = reporter.sign_in(receipt)
    assert status == "Being checked" and texts == ["We are checking what you saw."]
    other = Reporter(context_for(not javascript).new_page(), public, not javascript)
    assert other.sign_in(receipt) == (status, texts)  # and the other way round

    # Retention, once the confirmed bundle is older than the desk's period: gone, and shown as deleted.
    later = (today() + dt.timedelta(days=30)).isoformat()
    assert cli.main(["retention", "--on", later, "--dir", str(instance)]) == 0
    assert "deleted on" in clerk.inbox_text()
    assert reporter.sign_in(receipt)[1] == texts
    assert clerk.problems() == []


def flip_last_bit(data: bytes) -> bytes:
    """Damage that is always a change (a replaced byte may already be the byte put there)."""
    return data[:-1] + bytes([data[-1] ^ 1])


def _next_reply_bundle(instance, case_number: str, text: str, confirmations=None, damage=None):
    """The demo officer's next reply bundle (its chain continues from what the server accepted)."""
    identity = officer_identity(instance)
    cfg = config.load(instance)
    with db.standalone_session(cfg.database_url) as s:
        officer = s.scalar(
            select(Officer).where(Officer.key_id == identity.public_key.recipient.key_id.hex())
        )
        sequence, previous = officer.reply_sequence + 1, officer.reply_sha256
        reply_public = s.scalar(select(Case.reply_public).where(Case.number == case_number))
        s.bind.dispose()
    out = instance.parent / f"replies-{sequence}-{crypto.SigningKey.generate().verify_key.fingerprint[:5]}"
    reply_bundle(
        out,
        identity,
        [(case_number, reply_public, {"text": text, "status": "checking", "day": "x"})],
        sequence=sequence,
        previous=previous,
        confirmations=confirmations,
    )
    if damage:
        out.write_bytes(damage(out.read_bytes()))
    return out


@JS
def test_a_refused_reply_bundle_says_why_and_imports_nothing(context_for, served, javascript):
    _base, instance, public = served
    reporter = Reporter(context_for(False).new_page(), public, False)
    _receipt, case_number = reporter.send_report()
    clerk = logged_in(context_for, served, javascript, "clerk")
    tampered = _next_reply_bundle(instance, case_number, "changed later", damage=flip_last_bit)
    clerk.upload_replies(tampered)
    reason, text = clerk.bundle_error()
    assert reason == "tampered" and "Nothing was imported" in text and "changed after the officer" in text
    truncated = _next_reply_bundle(instance, case_number, "cut short", damage=lambda b: b[: len(b) // 2])
    clerk.upload_replies(truncated)
    assert clerk.bundle_error()[0] == "truncated"
    good = _next_reply_bundle(instance, case_number, "fine")
    clerk.upload_replies(good)
    assert "Imported 1 replies" in clerk.import_result()
    clerk.upload_replies(good)
    assert clerk.bundle_error()[0] == "replayed"


@JS
def test_every_admin_page(context_for, served, javascript):
    base, _instance, public = served
    admin = logged_in(context_for, served, javascript, "admin")
    for label in (
        "Desks",
        "Categories",
        "Officers",
        "Users",
        "Posters",
        "Retention",
        "Audit log",
        "Inbox",
        "Reply bundles",
    ):
        admin.nav(label)
        assert admin.page.locator("h1").count() == 1, label
    slug = f"town-{int(javascript)}"
    admin.add_desk(slug, {"en": f"Town {int(javascript)}", "bg": "Град"}, "bg", 14)
    assert admin.notice() == "Desk added."
    admin.edit_desk(slug, en=f"Town {int(javascript)} municipality")
    assert admin.notice() == "Saved."

    officer = crypto.Identity.generate()
    officer_name = f"Officer Ivanova js{int(javascript)}"
    admin.register_officer(slug, officer_name, officer.public_key.to_file_text())
    assert "not used until you confirm" in admin.notice()
    assert admin.fingerprint() == officer.fingerprint and "Not confirmed" in admin.officer_state()
    admin.confirm_officer()
    assert "Confirmed" in admin.officer_state()

    admin.add_category(slug, "graffiti", "Graffiti", officers=(officer_name,))
    assert admin.notice() == "Category added."
    admin.page.goto(f"{public}/r/{slug}?lang=en")  # the reporters' side, on the public address
    page = admin.page.content()
    assert "Graffiti" in page

    name = f"clerk-js{int(javascript)}"
    secret = admin.add_user(name, "clerk", "a clerk's long password", slug)
    clerk = LoginPage(context_for(javascript).new_page(), base).open()
    clerk.log_in(name, "a clerk's long password", code(secret))
    assert Desk(clerk.page, base).signed_in_as() == f"{name} (clerk)"
    new_secret = admin.reset_totp(name)
    assert new_secret != secret
    admin.disable_user(name)
    assert admin.notice().startswith("User disabled")
    clerk.goto("/desk/")
    assert clerk.is_shown()

    poster = admin.poster(slug, "bg", "svg", "A6")
    assert poster.lstrip().startswith(b"<") and b"<svg" in poster
    admin.set_retention(slug, 45)
    assert admin.notice() == "Saved." and admin.page.input_value(f"#days-{slug}") == "45"
    admin.apply_retention()
    assert admin.notice().startswith("Retention applied")
    audit = admin.audit_text()
    for action in (
        "desk_added",
        "desk_changed",
        "officer_registered",
        "officer_confirmed",
        "category_added",
        "user_added",
        "user_totp_reset",
        "user_disabled",
        "poster",
        "retention_changed",
    ):
        assert action in audit, action
    assert admin.problems() == []


@JS
def test_an_admin_edits_a_category(context_for, served, javascript):
    _base, instance, public = served
    admin = logged_in(context_for, served, javascript, "admin")
    n = int(javascript)
    admin.add_category("demo", f"noise-js{n}", f"Noise js{n}")
    assert admin.notice() == "Category added."
    admin.edit_category(f"Noise js{n}", new_name_en=f"Loud music js{n}", tick=("Demo officer",))
    assert admin.notice() == "Saved." and admin.heading() == f"Category Loud music js{n}"
    assert admin.page.input_value("#name_en") == f"Loud music js{n}"
    assert admin.ticked_officers() == ["Demo officer"]
    # An explicit key must belong to the desk the reports go to: routed elsewhere, it is refused.
    admin.edit_category(f"Loud music js{n}", route="demo-internal")
    assert "confirmed officers of the desk the reports go to" in admin.form_errors()
    assert admin.page.input_value("#route") == "demo-internal"  # the form keeps what was chosen
    admin.edit_category(f"Loud music js{n}", route="demo-internal", untick=("Demo officer",))
    assert admin.notice() == "Saved." and admin.ticked_officers() == []
    with db.standalone_session(config.load(instance).database_url) as s:
        category = s.scalar(select(Category).where(Category.slug == f"noise-js{n}"))
        assert (category.names["en"], category.route_desk.slug, category.officers) == (
            f"Loud music js{n}",
            "demo-internal",
            [],
        )
        s.bind.dispose()
    assert "category_changed" in admin.audit_text()
    admin.page.goto(f"{public}/r/demo?lang=en")
    assert admin.page.get_by_label(f"Loud music js{n}").count() == 1  # what reporters now see
    assert admin.problems() == []


NEW_PASSWORD = "a new and longer passphrase"


@JS
def test_a_user_changes_their_own_password(context_for, served, javascript):
    base, instance, _public = served
    name, secret = add_user(instance, "clerk", "demo")
    login = LoginPage(context_for(javascript).new_page(), base).open()
    login.log_in(name, PASSWORD, code(secret))
    desk = Desk(login.page, base)
    desk.change_password("not my password at all", NEW_PASSWORD)
    assert "current password is not right" in desk.account_error() and desk.path == "/desk/account"
    desk.change_password(PASSWORD, NEW_PASSWORD, again="another new passphrase")
    assert "not the same" in desk.account_error()
    desk.change_password(PASSWORD, NEW_PASSWORD)
    assert login.is_shown() and "password was changed" in login.notice()
    assert login.page.context.cookies() == []  # this session ended with the old password
    login.log_in(name, PASSWORD, code(secret, 1))
    assert "wrong" in login.error()
    login.log_in(name, NEW_PASSWORD, code(secret, 1))  # the wrong password spent no code
    assert desk.path == "/desk/" and desk.signed_in_as() == f"{name} (clerk)"
    assert "password_changed" in _audit_actions(instance, name)
    assert desk.problems() == []


def _audit_actions(instance, actor: str) -> list[str]:
    with db.standalone_session(config.load(instance).database_url) as s:
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.actor == actor)))
        s.bind.dispose()
    return actions


AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page, state: str) -> list[str]:
    """Serious and critical axe-core violations on what the page shows (the desk has no script of its
    own, so its DOM is the same with JavaScript off; axe needs it on, and the CSP bypassed)."""
    page.add_script_tag(path=str(AXE))
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{state}: {v['id']} ({v['impact']}): {v['help']} -> {[n['target'] for n in v['nodes']]}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("lang", ["en", "bg", "ru", "kk"])
def test_desk_pages_pass_axe(browser, served, lang):
    """Every desk page in each staff language (the browser asks for it, then the account keeps it)."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make setup` (npm ci)")
    base, instance, _public = served
    context = browser.new_context(bypass_csp=True, accept_downloads=True, locale=lang)
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems: list[str] = []
    login = LoginPage(page, base)
    login.goto(f"/desk/login?lang={lang}")
    problems += axe_violations(page, "login")
    name, secret = add_user(instance)
    login.log_in(name, "wrong password", code(secret))
    problems += axe_violations(page, "login with an error")
    login.log_in(name, PASSWORD, code(secret))
    desk = Desk(page, base)
    desk.goto("/desk/account")
    page.check(f"#language-form input[value={lang}]")
    page.click("#save-language")
    page.wait_for_load_state("domcontentloaded")
    assert page.get_attribute("html", "lang") == lang
    pages = [
        "/desk/",
        "/desk/replies",
        "/desk/account",
        "/desk/admin/desks",
        "/desk/admin/desks/demo",
        "/desk/admin/categories",
        "/desk/admin/officers",
        "/desk/admin/users",
        "/desk/admin/posters",
        "/desk/admin/retention",
        "/desk/admin/audit",
        "/desk/no-such-page",
    ]
    for path in pages:
        desk.goto(path)
        problems += axe_violations(page, path)
    desk.goto("/desk/admin/officers")
    page.click("#officer-1 a")
    problems += axe_violations(page, "officer")
    desk.upload_replies(REPO / "README.md")
    problems += axe_violations(page, "refused reply bundle")
    desk.add_user(f"axe-{name}", "clerk", "a long enough password")
    problems += axe_violations(page, "TOTP set-up")
    context.close()
    assert problems == []
