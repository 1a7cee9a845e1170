"""Hostile input: a clear 4xx page, never a 500, and nothing half-stored."""

import dataclasses
import io
import logging

import pytest
from PIL import Image
from sqlalchemy import func, select

from dropbox import config, create_app, db
from dropbox.models import Case, Part, Submission, Upload
from tests.dropbox.conftest import Reporter


@pytest.fixture
def app(sqlite_instance):
    cfg = config.load(sqlite_instance).with_overrides(max_form_bytes=2 * 1024 * 1024)
    app = create_app(cfg)
    yield app
    app.extensions["sealdrop.engine"].dispose()


def stored(app, instance):
    with app.app_context():
        s = db.session()
        counts = tuple(
            s.scalar(select(func.count()).select_from(m)) for m in (Case, Submission, Part, Upload)
        )
    return counts, sorted(p.name for p in (instance / "blobs").rglob("*") if p.is_file())


def bomb_png() -> bytes:
    out = io.BytesIO()
    Image.new("1", (30000, 30000)).save(out, "PNG")  # 900 megapixels in about 110 KB
    return out.getvalue()


CASES = {
    "missing text": ({"what": ""}, [], 400, "Please fill this in"),
    "text file named .jpg": ({}, [(b"just some text, honestly", "photo.jpg", "image/jpeg")], 400, "not one"),
    "decompression bomb": ({}, [(bomb_png(), "bomb.png", "image/png")], 400, "too large"),
    "broken jpeg": ({}, [(b"\xff\xd8\xff\xe0" + b"\x00" * 100, "broken.jpg", "image/jpeg")], 400, "not one"),
    "an executable": (
        {},
        [(b"MZ\x90\x00" * 100, "run.exe", "application/octet-stream")],
        400,
        "photos, video",
    ),
    "10,000-character category": ({"category": "9" * 10000}, [], 400, "choose what happened"),
    "unknown category": ({"category": "99999"}, [], 400, "choose what happened"),
    "forged CSRF": ({"csrf_token": "AAAA" * 8}, [], 400, "expired"),
    "missing CSRF": ({"csrf_token": ""}, [], 400, "expired"),
    "oversized body": (
        {"what": "x" * 100},
        [(b"\0" * (3 * 1024 * 1024), "big.mp4", "video/mp4")],
        413,
        "too large",
    ),
    "bad where mode": ({"where_mode": "<script>"}, [], 400, "Please fill this in"),
}


@pytest.mark.parametrize("name", CASES)
def test_hostile_form_gets_a_clear_4xx_and_stores_nothing(app, sqlite_instance, name):
    fields, files, status, says = CASES[name]
    before = stored(app, sqlite_instance)
    response = Reporter(app.test_client()).submit(fields, files=[(io.BytesIO(d), n, t) for d, n, t in files])
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    assert says in response.get_data(as_text=True)
    assert stored(app, sqlite_instance) == before


def test_what_was_typed_survives_an_error(app):
    response = Reporter(app.test_client()).submit(
        {"what": "Keep every word of this"}, files=[(io.BytesIO(b"nope"), "x.jpg", "image/jpeg")]
    )
    assert response.status_code == 400
    assert "Keep every word of this" in response.get_data(as_text=True)


def test_invalid_utf8_is_refused(app, sqlite_instance):
    client = app.test_client()
    reporter = Reporter(client)
    html = reporter.form()
    body = (
        b"csrf_token="
        + reporter.token(html).encode()
        + b"&category="
        + reporter.category_id(html).encode()
        + b"&what=caf\xe9+\xff\xfe&where_mode=none"
    )
    before = stored(app, sqlite_instance)
    response = client.post("/r/demo", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and "cannot read" in response.get_data(as_text=True)
    raw = client.post(
        "/r/demo",
        data=(
            b'--XX\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
            + reporter.token(html).encode()
            + b'\r\n--XX\r\nContent-Disposition: form-data; name="category"\r\n\r\n'
            + reporter.category_id(html).encode()
            + b'\r\n--XX\r\nContent-Disposition: form-data; name="what"\r\n\r\ncaf\xe9 \xff\xfe\r\n--XX--\r\n'
        ),
        content_type="multipart/form-data; boundary=XX",
    )
    assert raw.status_code == 400 and "cannot read" in raw.get_data(as_text=True)
    assert stored(app, sqlite_instance) == before


@pytest.mark.parametrize("path", ["/r/nope", "/r/" + "x" * 5000, "/r/%ff%fe", "/r/demo/../../etc/passwd"])
def test_unknown_desks_are_404(app, path):
    response = app.test_client().get(path)
    assert response.status_code == 404
    assert "no reporting desk" in response.get_data(as_text=True) or "does not exist" in response.get_data(
        as_text=True
    )


def test_cross_site_post_is_refused(app, sqlite_instance):
    response = Reporter(app.test_client()).submit(headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 400
    response = Reporter(app.test_client()).submit(headers={"Origin": "https://evil.example"})
    assert response.status_code == 400


def test_nothing_identifying_reaches_the_logs(app, caplog):
    caplog.set_level(logging.DEBUG)
    client = app.test_client()
    ua = "Mozilla/5.0 (Secret Phone Model 77)"
    env = {"REMOTE_ADDR": "203.0.113.77", "HTTP_USER_AGENT": ua, "HTTP_REFERER": "https://school5.example/x"}
    reporter = Reporter(client)
    html = client.get("/r/demo", environ_base=env).get_data(as_text=True)
    data = {
        "csrf_token": reporter.token(html),
        "category": reporter.category_id(html),
        "what": "SECRET-WORDS",
        "where_mode": "none",
        "files": [(io.BytesIO(bomb_png()), "b.png", "image/png")],
    }
    client.post("/r/demo", data=data, environ_base=env, content_type="multipart/form-data")
    client.post("/r/demo/check", data={"receipt": "ABCD"}, environ_base=env)
    logged = caplog.text
    for needle in ("203.0.113.77", "Secret Phone", "school5", "SECRET-WORDS"):
        assert needle not in logged


def test_a_crash_is_a_500_page_without_details(app, monkeypatch, caplog):
    import dropbox.intake

    def boom(*a, **k):
        raise RuntimeError("SECRET-WORDS leaked in an exception message")

    monkeypatch.setattr(dropbox.intake, "seal_on_server", boom)
    response = Reporter(app.test_client()).submit({"what": "SECRET-WORDS"})
    assert response.status_code == 500
    assert "SECRET-WORDS" not in response.get_data(as_text=True) and "SECRET-WORDS" not in caplog.text
    assert "Traceback" not in response.get_data(as_text=True)


def test_behind_a_tls_proxy_the_public_address_is_the_one_other_origin_accepted(sqlite_instance):
    """A TLS reverse proxy makes the browser send `Origin: https://host` while the app sees http: the
    configured public_url's origin is accepted, a look-alike is not, and no proxy header is trusted."""
    cfg = dataclasses.replace(config.load(sqlite_instance), public_url="https://report.example.org/r/demo")
    app = create_app(cfg)
    try:
        proxied = {"Host": "report.example.org"}
        response = Reporter(app.test_client()).submit(
            headers={**proxied, "Origin": "https://report.example.org"}
        )
        assert response.status_code == 200
        for forged in (
            "https://report.example.org.evil.example",
            "http://evil.example",
            "https://evil.example",
        ):
            headers = {
                **proxied,
                "Origin": forged,
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Host": "evil.example",
            }
            assert Reporter(app.test_client()).submit(headers=headers).status_code == 400
    finally:
        app.extensions["sealdrop.engine"].dispose()
