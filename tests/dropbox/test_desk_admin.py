"""Admin pages: desks, categories, officer keys (confirmed by phone before use), users (TOTP set-up,
reset, password, disable), posters, retention; every action lands in the audit log."""

import datetime
import io
import re

import pyotp
import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

import crypto
from dropbox import config, create_app, db, posters
from dropbox.models import AuditEntry, Category, Desk, DeskUser, Officer
from dropbox.reporter import keys_for_page
from tests.desk_helpers import PASSWORD, add_user, code, csrf, login


@pytest.fixture
def admin_app(sqlite_instance):
    app = create_app(config.load(sqlite_instance))
    yield app
    app.extensions["sealdrop.engine"].dispose()


@pytest.fixture
def admin(admin_app, sqlite_instance):
    client = admin_app.test_client()
    name, secret = add_user(sqlite_instance, "admin")
    assert login(client, name, secret).status_code == 303
    client.name = name
    return client


def post(client, url: str, data=None, page: str | None = None, **kw):
    token = csrf(client.get(page or url).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **(data or {})}, **kw)


def query(app, statement):
    with app.app_context():
        return db.session().scalars(statement).all()


def actions(app) -> list[str]:
    return query(app, select(AuditEntry.action).order_by(AuditEntry.id))


def test_desks(admin_app, admin):
    bad = post(admin, "/desk/admin/desks", {"slug": "Not A Slug", "retention_days": "0"})
    assert bad.status_code == 400
    text = bad.get_data(as_text=True)
    assert "lower-case letters" in text and "at least one language" in text and "from 1 to 3650" in text
    response = post(
        admin,
        "/desk/admin/desks",
        {
            "slug": "sofia",
            "name_en": "Sofia",
            "name_bg": "София",
            "default_language": "bg",
            "retention_days": "14",
        },
    )
    assert response.status_code == 303
    assert "Desk added." in admin.get(response.location).get_data(as_text=True)
    assert (
        post(admin, "/desk/admin/desks", {"slug": "sofia", "name_en": "x", "retention_days": "5"}).status_code
        == 400
    )
    saved = post(
        admin,
        "/desk/admin/desks/sofia",
        {
            "name_en": "Sofia municipality",
            "name_ru": "София",
            "default_language": "ru",
            "retention_days": "60",
        },
    )
    assert saved.status_code == 303
    (desk,) = query(admin_app, select(Desk).where(Desk.slug == "sofia"))
    assert desk.names == {"en": "Sofia municipality", "ru": "София"}
    assert (desk.default_language, desk.retention_days) == ("ru", 60)
    # Reporters can open its address at once, and read that it is not open yet: nobody can read it.
    opened = admin.get("/r/sofia?lang=ru")
    assert opened.status_code == 503 and "не принимает сообщения" in opened.get_data(as_text=True)
    assert actions(admin_app)[-2:] == ["desk_added", "desk_changed"]


def test_categories_route_and_choose_keys(admin_app, admin):
    officers = query(admin_app, select(Officer).order_by(Officer.id))
    demo_officer, internal_officer = officers
    bad = post(
        admin,
        "/desk/admin/categories",
        {"desk": "demo", "slug": "graffiti", "name_en": "Graffiti", "officers": [str(internal_officer.id)]},
    )
    assert bad.status_code == 400 and "confirmed officers of the desk" in bad.get_data(as_text=True)
    good = post(
        admin,
        "/desk/admin/categories",
        {
            "desk": "demo",
            "slug": "graffiti",
            "name_en": "Graffiti",
            "name_bg": "Графити",
            "officers": [str(demo_officer.id)],
        },
    )
    assert good.status_code == 303
    assert "Graffiti" in admin.get("/r/demo?lang=en").get_data(as_text=True)
    (cat,) = query(admin_app, select(Category).where(Category.slug == "graffiti"))
    routed = post(
        admin,
        f"/desk/admin/categories/{cat.id}",
        {
            "name_en": "Graffiti on police cars",
            "route": "demo-internal",
            "officers": [str(internal_officer.id)],
        },
    )
    assert routed.status_code == 303
    with admin_app.app_context():
        cat = db.session().get(Category, cat.id)
        assert cat.target_desk.slug == "demo-internal" and [o.id for o in cat.recipients()] == [
            internal_officer.id
        ]
    assert actions(admin_app)[-2:] == ["category_added", "category_changed"]


def test_officer_keys_are_used_only_after_the_fingerprint_is_confirmed(admin_app, admin, tmp_path):
    # A desk's first key is confirmed by phone; once it has officers, only they admit others
    # (docs/key-trust.md, tests/dropbox/test_keytrust.py). So a new desk with one category.
    town = {"slug": "town", "name_en": "Town", "retention_days": "5"}
    assert post(admin, "/desk/admin/desks", town).status_code == 303
    litter = {"desk": "town", "slug": "litter", "name_en": "Litter"}
    assert post(admin, "/desk/admin/categories", litter).status_code == 303
    officer = crypto.Identity.generate()
    key_text = officer.public_key.to_file_text()
    response = post(
        admin,
        "/desk/admin/officers",
        {
            "desk": "town",
            "name": "Officer Petrova",
            "key_file": (io.BytesIO(key_text.encode()), "petrova.pub"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    page = admin.get(response.location).get_data(as_text=True)
    groups = re.findall(r'<span class="group">(\d{5})</span>', page)
    assert " ".join(groups) == officer.fingerprint and len(groups) == 5
    assert "Not confirmed" in page and "by phone" in page.replace("\n", " ")
    key_hex = officer.public_key.recipient.public_bytes.hex()
    with admin_app.test_request_context():
        desk = db.session().scalar(select(Desk).where(Desk.slug == "town"))
        assert all(key_hex not in keys for keys in keys_for_page(desk).values())
    # The same key pasted again is refused; a broken one is refused.
    again = post(
        admin,
        "/desk/admin/officers",
        {"desk": "town", "name": "x", "key_text": key_text},
        content_type="multipart/form-data",
    )
    assert again.status_code == 400 and "already registered" in again.get_data(as_text=True)
    broken = post(
        admin,
        "/desk/admin/officers",
        {"desk": "town", "name": "x", "key_text": "hello"},
        content_type="multipart/form-data",
    )
    assert broken.status_code == 400 and "not a sealdrop officer public key" in broken.get_data(as_text=True)
    confirm_url = response.location.split("?")[0] + "/confirm"
    unticked = post(admin, confirm_url, {}, page=response.location)
    assert unticked.status_code == 400
    assert post(admin, confirm_url, {"read_back": "yes"}, page=response.location).status_code == 303
    with admin_app.test_request_context():
        desk = db.session().scalar(select(Desk).where(Desk.slug == "town"))
        assert all(
            key_hex in keys
            for cid, keys in keys_for_page(desk).items()
            if db.session().get(Category, int(cid)).target_desk.slug == "town"
        )
    assert actions(admin_app)[-2:] == ["officer_registered", "officer_confirmed"]
    # Only an unconfirmed key can be removed.
    other = post(
        admin,
        "/desk/admin/officers",
        {"desk": "town", "name": "Mistake", "key_text": crypto.Identity.generate().public_key.encode()},
        content_type="multipart/form-data",
    )
    other_id = other.location.split("?")[0].rsplit("/", 1)[1]
    confirmed_id = response.location.split("?")[0].rsplit("/", 1)[1]
    assert (
        post(admin, f"/desk/admin/officers/{confirmed_id}/remove", page="/desk/admin/officers").status_code
        == 409
    )
    assert (
        post(admin, f"/desk/admin/officers/{other_id}/remove", page="/desk/admin/officers").status_code == 303
    )
    assert actions(admin_app)[-1] == "officer_removed"


def test_users_totp_setup_reset_password_and_disable(admin_app, admin, sqlite_instance):
    mismatch = post(
        admin,
        "/desk/admin/users",
        {"name": "carol", "role": "clerk", "desk": "demo", "password": PASSWORD, "again": PASSWORD + "x"},
    )
    assert mismatch.status_code == 400 and "not the same" in mismatch.get_data(as_text=True)
    short = post(
        admin, "/desk/admin/users", {"name": "carol", "role": "clerk", "password": "short", "again": "short"}
    )
    assert short.status_code == 400 and "at least 12 characters" in short.get_data(as_text=True)
    page = post(
        admin,
        "/desk/admin/users",
        {"name": "carol", "role": "clerk", "desk": "demo", "password": PASSWORD, "again": PASSWORD},
    ).get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page and "shown once" in page
    uri = re.search(r'id="totp-uri"[^>]*>([^<]+)<', page).group(1).replace("&amp;", "&")
    secret = pyotp.parse_uri(uri).secret
    assert re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "") == secret
    carol = admin_app.test_client()
    assert login(carol, "carol", secret).status_code == 303
    (user,) = query(admin_app, select(DeskUser).where(DeskUser.name == "carol"))
    assert user.role == "clerk" and user.desk_id is not None and secret not in user.totp_secret
    reset = post(admin, f"/desk/admin/users/{user.id}/totp", page="/desk/admin/users").get_data(as_text=True)
    new_secret = pyotp.parse_uri(
        re.search(r'id="totp-uri"[^>]*>([^<]+)<', reset).group(1).replace("&amp;", "&")
    ).secret
    assert carol.get("/desk/").status_code == 303  # the reset ended carol's session
    assert login(carol, "carol", secret, totp=code(secret, 1)).status_code == 401
    assert login(carol, "carol", new_secret).status_code == 303
    assert (
        post(
            admin,
            f"/desk/admin/users/{user.id}/password",
            {"password": "a brand new password", "again": "a brand new password"},
            page="/desk/admin/users",
        ).status_code
        == 303
    )
    assert carol.get("/desk/").status_code == 303
    assert login(carol, "carol", new_secret, totp=code(new_secret, 1)).status_code == 401  # old password
    assert post(admin, f"/desk/admin/users/{user.id}/disable", page="/desk/admin/users").status_code == 303
    assert post(admin, f"/desk/admin/users/{user.id}/enable", page="/desk/admin/users").status_code == 303
    (me,) = query(admin_app, select(DeskUser).where(DeskUser.name == admin.name))
    myself = post(admin, f"/desk/admin/users/{me.id}/disable", page="/desk/admin/users")
    assert myself.status_code == 400 and "cannot disable yourself" in myself.get_data(as_text=True)
    admin_actions = [a for a in actions(admin_app) if not a.startswith("login")]
    assert admin_actions[-5:] == [
        "user_added",
        "user_totp_reset",
        "user_password_set",
        "user_disabled",
        "user_enabled",
    ]


def test_own_password_change_ends_the_session(admin_app, sqlite_instance):
    client = admin_app.test_client()
    name, secret = add_user(sqlite_instance, "clerk")
    login(client, name, secret)
    wrong = post(client, "/desk/account", {"current": "nope", "password": "x" * 12, "again": "x" * 12})
    assert wrong.status_code == 400
    done = post(
        client,
        "/desk/account",
        {"current": PASSWORD, "password": "a new long password", "again": "a new long password"},
    )
    assert done.status_code == 303 and client.get("/desk/").status_code == 303
    assert (
        login(client, name, secret, password="a new long password", totp=code(secret, 1)).status_code == 303
    )


def test_retention_settings_and_apply(admin_app, admin):
    assert post(admin, "/desk/admin/retention", {"desk": "demo", "retention_days": "0"}).status_code == 400
    assert post(admin, "/desk/admin/retention", {"desk": "demo", "retention_days": "7"}).status_code == 303
    (days,) = query(admin_app, select(Desk.retention_days).where(Desk.slug == "demo"))
    assert days == 7
    applied = post(admin, "/desk/admin/retention/apply", page="/desk/admin/retention")
    assert applied.status_code == 303
    assert "Submissions deleted now: 0" in admin.get(applied.location).get_data(as_text=True)
    assert actions(admin_app)[-2:] == ["retention_changed", "retention"]


ONION = "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion"  # a real v3 address


def poster_admin(instance, **settings):
    """An app whose config has `settings` (public_url, onion_address), and an admin logged in to it."""
    app = create_app(config.load(instance).with_overrides(**settings))
    client = app.test_client()
    name, secret = add_user(instance, "admin")
    assert login(client, name, secret).status_code == 303
    return app, client


def test_posters(sqlite_instance):
    app, admin = poster_admin(sqlite_instance, public_url="https://signal.sofia.example", onion_address=ONION)
    try:
        before = admin.get("/desk/admin/posters").get_data(as_text=True)
        assert "No poster with a place has been scanned yet." in before
        for _ in range(3):  # a phone scans the poster hung at school-5
            scanned = app.test_client().get("/r/demo?src=school-5&lang=bg")
            assert scanned.status_code == 200
            # Tor Browser follows Onion-Location at once: without the tag, so the visit counts once
            assert scanned.headers["Onion-Location"] == f"http://{ONION}/r/demo?lang=bg"
        page = admin.get("/desk/admin/posters").get_data(as_text=True)
        today = datetime.datetime.now(datetime.UTC).date().isoformat()
        assert f"<tr><td>{today}</td><td>demo</td><td>school-5</td><td>3</td></tr>" in page
        # Pre-filled with the instance's public address, never with this page's own (the desk's).
        assert 'name="url" type="url" required value="https://signal.sofia.example"' in page
        assert f"<code>{ONION}</code>" in page
        assert all(f'<option value="{lang}"' in page for lang in posters.LANGUAGES)
        form = {"desk": "demo", "lang": "bg", "size": "A6", "format": "png", "tag": "school-5"}
        response = post(admin, "/desk/admin/posters", {**form, "url": "https://signal.sofia.example"})
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        assert response.mimetype == "image/png"
        assert "poster-demo-bg-A6.png" in response.headers["Content-Disposition"]
        codes = zxingcpp.read_barcodes(Image.open(io.BytesIO(response.get_data())))
        assert sorted(c.text for c in codes) == sorted(
            ["https://signal.sofia.example/r/demo?src=school-5", f"http://{ONION}/r/demo"]
        )
        assert actions(app)[-1] == "poster"
        for change, message in [
            ({"url": "ftp://nope"}, "The public address must be an http:// or https:// address, not"),
            ({"url": f"http://{ONION}/"}, "The public address is the clearnet one"),
            ({"url": "https://x.example/r/other"}, "The public address points to desk &#39;other&#39;"),
            ({"tag": "Ivan Petrov"}, "Where it will hang: up to 40 letters"),
        ]:
            bad = post(admin, "/desk/admin/posters", {**form, "url": "https://x.example", **change})
            text = bad.get_data(as_text=True)
            assert bad.status_code == 400 and message in text, text
            assert not re.search(r"--(url|tag|onion|dpi)\b", text)  # a form, not a command line
    finally:
        app.extensions["sealdrop.engine"].dispose()


def test_posters_without_a_public_address_leave_the_field_empty(sqlite_instance):
    app, admin = poster_admin(sqlite_instance)
    try:
        page = admin.get("/desk/admin/posters").get_data(as_text=True)
        assert 'name="url" type="url" required value=""' in page  # not http://localhost/, the desk's own
        assert "Set public_url in the instance's config.json" in page
        assert "no onion address yet, so posters carry none" in page
    finally:
        app.extensions["sealdrop.engine"].dispose()


def test_the_audit_page_lists_actions(admin_app, admin):
    post(admin, "/desk/admin/retention", {"desk": "demo", "retention_days": "9"})
    page = admin.get("/desk/admin/audit").get_data(as_text=True)
    assert "retention_changed" in page and admin.name in page and "9 days" in page
