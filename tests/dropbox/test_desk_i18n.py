"""The desk (/desk/) in bg, ru, kk: every page in the signed-in user's language, the setting that
chooses it, Accept-Language (and ?lang= on the login page) when there is none, names of desks and
categories in the reader's language, and the warning for a desk that cannot take reports yet."""

from __future__ import annotations

import io
import re

import pytest
from markupsafe import escape
from sqlalchemy import select

from crypto.bundle import KINDS, BundleError
from dropbox import bundles, config, create_app, db, errors
from dropbox.models import Category, Desk, DeskUser, Officer
from tests.desk_helpers import PASSWORD, add_user, code, csrf, login
from tests.test_i18n import (
    DEMO_DESK,
    TRANSLATED,
    assert_in_language,
    english_left_over,
    html_lang,
    translation,
)

CSRF_TEXT = "This form has expired or did not come from the desk. Go back, reload the page and send it again."
WRONG_LOGIN = (
    "The name, password or code is wrong, or the code was already used. Wait for the next code and try again."
)
NO_KEY = (
    "None of its officer keys is confirmed yet. "
    "Register a key and confirm its fingerprint on the Officers page."
)
RETIRED = (
    "Retired. No new report or addition is sealed to this key; "
    "what was sealed to it before still opens with the officer's identity."
)
NOT_OPEN = "This desk cannot take reports yet: reporters who open its page are told it is not open."


@pytest.fixture
def app(sqlite_instance):
    app = create_app(config.load(sqlite_instance))
    yield app
    app.extensions["sealdrop.engine"].dispose()


def signed_in(app, instance, role: str = "admin", accept: str = "en", desk: str | None = None):
    """A test client whose browser asks for `accept`, signed in as a new user of `role`."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = accept
    name, secret = add_user(instance, role, desk)
    assert login(client, name, secret).status_code == 303
    client.name = name
    return client


def post(client, url: str, data=None, page: str | None = None, **kw):
    token = csrf(client.get(page or url).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **(data or {})}, **kw)


def choose_language(client, language: str):
    return post(client, "/desk/account/language", {"language": language}, page="/desk/account")


def html(client, url: str, status: int = 200) -> str:
    page = client.get(url)
    assert page.status_code == status, url
    return page.get_data(as_text=True)


def shows(page: str, lang: str, msgid: str, **values) -> bool:
    text = translation(lang, msgid)
    return str(escape(text % values if values else text)) in page


def one(app, statement):
    with app.app_context():
        return db.session().scalars(statement).first()


# ---------------------------------------------------------------- every page, in each language


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_desk_page_in_the_users_language(app, sqlite_instance, lang):
    admin = signed_in(app, sqlite_instance, accept="en-US,en;q=0.9")  # the setting beats the browser
    assert choose_language(admin, lang).status_code == 303
    category = one(app, select(Category).where(Category.slug == "drugs"))
    officer = one(app, select(Officer))
    pages = {
        "/desk/": "What waits",
        "/desk/replies": "Upload a reply bundle",
        "/desk/account": "Language of the desk pages",
        "/desk/admin/desks": "Add a desk",
        "/desk/admin/desks/demo": "Budgets and recent load",
        "/desk/admin/categories": "Add a category",
        f"/desk/admin/categories/{category.id}": "Reports in this category go to",
        "/desk/admin/officers": "Register an officer's public key",
        f"/desk/admin/officers/{officer.id}": "Fingerprint",
        "/desk/admin/users": "Add a user",
        "/desk/admin/posters": "Scans per place",
        "/desk/admin/retention": "Apply retention now",
        "/desk/admin/audit": "Who did what on which desk, by day. It holds nothing about reporters.",
    }
    for url, msgid in pages.items():
        page = html(admin, url)
        assert_in_language(page, lang, msgid, "Inbox", "Log out")
    # names of desks and categories in the reader's language
    desks = html(admin, "/desk/admin/desks")
    assert DEMO_DESK[lang] in desks and DEMO_DESK["en"] not in desks
    assert shows(html(admin, "/desk/admin/desks/demo"), lang, "Desk %(name)s", name=DEMO_DESK[lang])
    assert category.names[lang] in html(admin, "/desk/admin/categories")
    assert shows(html(admin, f"/desk/admin/categories/{category.id}"), lang, "Category %(name)s",
                 name=category.names[lang])  # fmt: skip
    # the audit log says what happened in words, not codes
    audit = html(admin, "/desk/admin/audit")
    assert shows(audit, lang, "Changed own language") and shows(audit, lang, "Logged in")


@pytest.mark.parametrize("lang", TRANSLATED)
def test_pages_answering_a_form_in_the_users_language(app, sqlite_instance, lang):
    admin = signed_in(app, sqlite_instance)
    choose_language(admin, lang)
    # the authenticator set-up, shown once after adding a user
    added = post(admin, "/desk/admin/users", {"name": f"new-{lang}", "role": "clerk", "desk": "",
                                              "password": PASSWORD, "again": PASSWORD})  # fmt: skip
    assert added.status_code == 200
    assert_in_language(
        added.get_data(as_text=True), lang, "Authenticator set-up", "Or type this secret into the app:"
    )
    # a form with mistakes: the errors are in the language too, those from accounts.py as well
    refused = post(admin, "/desk/admin/users", {"name": "bad name!", "role": "clerk", "desk": "",
                                                "password": PASSWORD, "again": PASSWORD})  # fmt: skip
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert_in_language(page, lang, "A user name has 1 to 80 letters, digits or . _ - @ and nothing else.")
    short = post(admin, "/desk/account", {"current": PASSWORD, "password": "short", "again": "short"})
    assert short.status_code == 400
    assert_in_language(short.get_data(as_text=True), lang, "Your account")
    assert shows(short.get_data(as_text=True), lang, "A desk password has at least %(n)s characters.", n=12)
    # a reply bundle refused, and a notice after a redirect
    no_file = post(admin, "/desk/replies", {}, content_type="multipart/form-data")
    assert_in_language(
        no_file.get_data(as_text=True), lang, "Nothing was imported.", "Choose the reply bundle file first."
    )
    saved = post(
        admin, "/desk/admin/retention", {"desk": "demo", "retention_days": "9"}, follow_redirects=True
    )
    assert_in_language(saved.get_data(as_text=True), lang, "Saved.")
    audit = html(admin, "/desk/admin/audit")
    assert shows(audit, lang, "Retention in days: %(n)s", n=9)


def _refusals() -> dict[str, BundleError]:
    """One refusal for each of dropbox.errors' words: every reason, and each kind a wrong bundle may be."""
    made = {reason: BundleError(reason, "the bundle reader's detail") for reason in errors.BUNDLE_REFUSALS}
    for kind in errors.WRONG_KIND:
        made[kind] = bundles.WrongKind(KINDS[kind])
    return made


@pytest.mark.parametrize("lang", ["en", *TRANSLATED])
def test_each_reply_bundle_refusal_in_the_users_language(app, sqlite_instance, monkeypatch, lang):
    clerk = signed_in(app, sqlite_instance, "clerk")
    choose_language(clerk, lang)
    refusals = _refusals()
    assert set(errors.BUNDLE_REFUSALS) | set(errors.WRONG_KIND) <= set(refusals)
    for name, refusal in refusals.items():

        def refuse(*_args, refusal=refusal, **_kw):
            raise refusal

        monkeypatch.setattr(bundles, "import_replies", refuse)
        upload = {"bundle": (io.BytesIO(b"a reply bundle"), "replies.bundle")}
        response = post(clerk, "/desk/replies", upload, content_type="multipart/form-data")
        page = response.get_data(as_text=True)
        assert response.status_code == 400 and f'data-reason="{refusal.reason}"' in page, name
        assert_in_language(page, lang, "Nothing was imported.")
        # the same message id `sealdrop import-replies` prints, translated (unescaped: Jinja's newstyle
        # gettext makes a translation markup)
        assert translation(lang, errors.bundle_refusal(refusal)) in page, f"{lang}: {name}"
        shows_detail = translation(lang, "Details:") in page
        assert shows_detail == (errors.bundle_refusal_detail(refusal) is not None), name


@pytest.mark.parametrize("lang", TRANSLATED)
def test_desk_error_pages_in_the_users_language(app, sqlite_instance, lang):
    admin = signed_in(app, sqlite_instance)
    choose_language(admin, lang)
    assert_in_language(
        html(admin, "/desk/no-such-page", 404), lang, "That did not work", "This page does not exist."
    )
    unknown = html(admin, "/desk/admin/desks/no-such-desk", 404)
    assert_in_language(unknown, lang, "There is no such desk, or it is not yours.", "Back to the inbox")
    forged = admin.post("/desk/account/language", data={"language": "ru", "csrf_token": "forged"})
    assert forged.status_code == 400
    assert_in_language(forged.get_data(as_text=True), lang, CSRF_TEXT)
    clerk = signed_in(app, sqlite_instance, role="clerk")
    choose_language(clerk, lang)
    assert_in_language(html(clerk, "/desk/admin/desks", 403), lang, "Only admins can open this page.")


@pytest.mark.parametrize("lang", TRANSLATED)
def test_login_page_follows_the_browser_and_the_language_links(app, lang):
    client = app.test_client()
    asked = client.get("/desk/login", headers={"Accept-Language": f"{lang},en;q=0.5"})
    page = asked.get_data(as_text=True)
    assert_in_language(page, lang, "Log in to the desk", "Six digits. Each code works once.")
    for other in ("bg", "ru", "kk", "en"):  # a link per language, the current one marked
        link = re.search(
            rf'<a href="/desk/login\?lang={other}" hreflang="{other}" lang="{other}"([^>]*)>', page
        )
        assert link and ('aria-current="true"' in link.group(1)) == (other == lang)
    picked = html(client, f"/desk/login?lang={lang}")  # no Accept-Language: the link decides
    assert html_lang(picked) == lang
    # a refused login keeps the picked language (the form's action carries ?lang=)
    assert f'action="/desk/login?lang={lang}"' in picked
    wrong = client.post(f"/desk/login?lang={lang}", data={"csrf_token": csrf(picked), "name": "nobody",
                                                          "password": "x", "code": "000000"})  # fmt: skip
    assert wrong.status_code == 401
    assert_in_language(wrong.get_data(as_text=True), lang, WRONG_LOGIN)


def test_login_page_keeps_where_to_go_next_in_the_language_links(app):
    page = html(app.test_client(), "/desk/login?next=/desk/admin/users")
    assert 'href="/desk/login?lang=kk&amp;next=/desk/admin/users"' in page


# ---------------------------------------------------------------- the setting


def test_the_language_setting_persists_and_changes_the_pages(app, sqlite_instance):
    client = signed_in(app, sqlite_instance, accept="ru-RU,ru;q=0.9")
    assert html_lang(html(client, "/desk/")) == "ru"  # no setting: the browser's language
    account = html(client, "/desk/account")
    assert 'name="language" value="" checked' in account  # "as my browser asks" is the current choice
    saved = choose_language(client, "kk")
    assert saved.status_code == 303 and saved.headers["Location"].endswith("/desk/account?msg=language_saved")
    after = html(client, "/desk/account?msg=language_saved")
    assert_in_language(after, "kk", "Language saved. The desk pages now use it.")
    assert 'name="language" value="kk" checked' in after
    assert one(app, select(DeskUser.language).where(DeskUser.name == client.name)) == "kk"
    assert html_lang(html(client, "/desk/")) == "kk"  # the setting beats Accept-Language
    # back to the browser's language
    assert choose_language(client, "").status_code == 303
    assert one(app, select(DeskUser.language).where(DeskUser.name == client.name)) is None
    assert html_lang(html(client, "/desk/")) == "ru"


def test_the_language_setting_survives_a_new_login(app, sqlite_instance):
    name, secret = add_user(sqlite_instance, "clerk")
    first = app.test_client()
    first.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert login(first, name, secret).status_code == 303
    choose_language(first, "bg")
    second = app.test_client()
    second.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ru"
    login_page = html(second, "/desk/login")
    assert html_lang(login_page) == "ru"  # nobody signed in yet: the browser's language
    token = csrf(login_page)
    answer = second.post("/desk/login", data={"csrf_token": token, "name": name, "password": PASSWORD,
                                              "code": code(secret, 1)})  # fmt: skip
    assert answer.status_code == 303
    assert_in_language(html(second, "/desk/"), "bg", "What waits")


def test_a_language_not_offered_is_refused(app, sqlite_instance):
    client = signed_in(app, sqlite_instance)
    assert choose_language(client, "de").status_code == 400
    assert choose_language(client, "kk\x00").status_code == 400
    assert one(app, select(DeskUser.language).where(DeskUser.name == client.name)) is None


def test_the_language_form_needs_the_csrf_token(app, sqlite_instance):
    client = signed_in(app, sqlite_instance)
    assert client.post("/desk/account/language", data={"language": "kk"}).status_code == 400
    assert one(app, select(DeskUser.language).where(DeskUser.name == client.name)) is None


# ---------------------------------------------------------------- no setting: the browser, then the instance


@pytest.mark.parametrize(
    ("header", "lang"),
    [("bg-BG,bg;q=0.9,en;q=0.8", "bg"), ("ru-KZ,ru;q=0.9,kk;q=0.8", "ru"), ("kk-KZ,kk;q=0.9,ru;q=0.8", "kk"),
     ("de-DE,de;q=0.9,kk;q=0.5", "kk"), ("en-US,en;q=0.9", "en"), ("de-DE", "en")],
)  # fmt: skip
def test_accept_language_without_a_setting(app, sqlite_instance, header, lang):
    client = signed_in(app, sqlite_instance, accept=header)
    assert_in_language(html(client, "/desk/"), lang, "What waits")
    assert_in_language(html(client, "/desk/admin/desks"), lang, "Add a desk")


def test_the_instance_default_when_the_browser_names_none_we_have(sqlite_instance):
    app = create_app(config.load(sqlite_instance).with_overrides(default_language="kk"))
    try:
        client = signed_in(app, sqlite_instance, accept="de-DE,de;q=0.9")
        assert_in_language(html(client, "/desk/"), "kk", "What waits")
        assert_in_language(html(app.test_client(), "/desk/login", 200), "kk", "Log in to the desk")
    finally:
        app.extensions["sealdrop.engine"].dispose()


def test_reporter_pages_do_not_follow_a_desk_users_setting(app, sqlite_instance):
    client = signed_in(app, sqlite_instance, accept="ru")
    choose_language(client, "kk")
    assert html_lang(html(client, "/r/demo")) == "ru"  # the desk's cookie never reaches /r/ anyway


# ---------------------------------------------------------------- desks that cannot take reports yet


@pytest.mark.parametrize("lang", ["en", *TRANSLATED])
def test_a_desk_without_categories_or_officers_is_flagged(app, sqlite_instance, lang):
    admin = signed_in(app, sqlite_instance)
    choose_language(admin, lang)
    added = post(admin, "/desk/admin/desks", {"slug": "varna", "name_en": "Varna", "name_bg": "Варна",
                                              "default_language": "bg", "retention_days": "30"})  # fmt: skip
    assert added.status_code == 303
    desks = html(admin, "/desk/admin/desks")
    assert 'id="desks-not-ready"' in desks
    row = re.search(r'<tr id="desk-row-varna">.*?</tr>', desks, re.S).group(0)
    assert shows(row, lang, "It has no categories yet. Add one on the Categories page.")
    assert shows(row, lang, NO_KEY)
    demo_row = re.search(r'<tr id="desk-row-demo">.*?</tr>', desks, re.S).group(0)
    assert "not-ready" not in demo_row and shows(demo_row, lang, "yes")
    page = html(admin, "/desk/admin/desks/varna")
    assert 'id="desk-not-ready"' in page
    assert shows(page, lang, NOT_OPEN)
    assert 'id="desk-not-ready"' not in html(admin, "/desk/admin/desks/demo")
    if lang != "en":
        assert english_left_over(page) == [] and english_left_over(desks) == []
    # a name only in Bulgarian still names the desk for a Kazakh reader: its default language
    if lang == "kk":
        assert "Варна" in page


def test_a_desk_whose_categories_have_no_key_is_flagged(app, sqlite_instance):
    """Categories and a confirmed officer, but every category sealed explicitly to a key nobody
    confirmed: nothing to seal to, which the reporter's page also sees."""
    admin = signed_in(app, sqlite_instance)
    with app.app_context():
        session = db.session()
        demo = session.scalar(select(Desk).where(Desk.slug == "demo"))
        confirmed = next(o for o in demo.officers if o.confirmed)
        unconfirmed = Officer(desk=demo, name="Nobody yet", public_key=confirmed.public_key, key_id="0" * 32,
                              fingerprint=confirmed.fingerprint, confirmed=False)  # fmt: skip
        for category in demo.categories:
            category.route_desk, category.officers = None, [unconfirmed]
        session.commit()
    page = html(admin, "/desk/admin/desks/demo")
    assert 'id="desk-not-ready"' in page and NO_KEY not in page
    assert "None of its categories has a confirmed officer key to seal reports to." in page
    assert app.test_client().get("/r/demo").status_code == 503  # the reporter is told the same


def test_retired_keys_do_not_count(app, sqlite_instance):
    admin = signed_in(app, sqlite_instance)
    with app.app_context():
        session = db.session()
        for officer in session.scalars(select(Officer)):
            officer.retired = True
        session.commit()
    page = html(admin, "/desk/admin/desks/demo")
    assert 'id="desk-not-ready"' in page and NO_KEY in page
    # and the officer pages say the key is retired, not "confirmed", in the reader's language
    choose_language(admin, "ru")
    officer = one(app, select(Officer))
    assert shows(html(admin, "/desk/admin/officers"), "ru", "retired: no new report is sealed to it")
    state = re.search(
        r'id="officer-state">(.*?)</p>', html(admin, f"/desk/admin/officers/{officer.id}")
    ).group(1)
    assert translation("ru", "Confirmed. Reports are sealed to this key.") not in state
    assert str(escape(translation("ru", RETIRED))) in state


def test_audit_details_in_the_readers_language(app):
    """The audit log stores details in English (the CLI writes them too); the page says the usual
    shapes in the reader's language and leaves anything else as it was stored."""
    from flask_babel import force_locale

    from dropbox.desk.admin.operations import audit_detail

    shapes = {
        "bundle 3, 5 envelopes": ("Bundle %(n)s, envelopes: %(count)s", {"n": "3", "count": "5"}),
        "retention: 2 submissions deleted": ("Submissions deleted: %(n)s", {"n": "2"}),
        "4 replies": ("Replies: %(n)s", {"n": "4"}),
        "graffiti -> police": ("%(category)s goes to %(desk)s", {"category": "graffiti", "desk": "police"}),
        "Anna Petrova, key 0123456789abcdef": ("%(name)s, key %(key)s",
                                               {"name": "Anna Petrova", "key": "0123456789abcdef"}),
        "erin (clerk)": ("%(name)s (clerk)", {"name": "erin"}),
    }  # fmt: skip
    with app.test_request_context("/desk/"):
        for lang in TRANSLATED:
            with force_locale(lang):
                for stored, (msgid, values) in shapes.items():
                    assert audit_detail(stored) == translation(lang, msgid) % values
                assert audit_detail("something else entirely") == "something else entirely"
        with force_locale("en"):
            assert audit_detail("bundle 3, 5 envelopes") == "bundle 3, 5 envelopes"
