"""The loopback UI's locks and headers (Flask test client): the token, the cookie, the Host header, the
forms' origin, the headers on every response, and the way attachments leave."""

import re
from pathlib import Path

import pytest
from PIL import Image

from crypto import Identity
from tests.helpers import jpeg_with_exif
from tests.viewer.bundles import Submission, listed, report_doc
from tests.viewer.conftest import PASSPHRASE
from viewer import importer, triage
from viewer.vault import Vault
from viewer.web import HEADERS, create_app

WAV = (
    b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00"
    b"\x02\x00\x10\x00data\x00\x00\x00\x00"
)


@pytest.fixture
def app(vault, server, tmp_path):
    photo = jpeg_with_exif("SpyPhone 9000", size=(800, 600))
    server.bundle(
        tmp_path / "b",
        [
            Submission(
                "WEB0-0001",
                report_doc(
                    "A report",
                    attachments=[
                        listed(photo, "p.jpg", "image/jpeg", "kept"),
                        listed(WAV, "voice.wav", "audio/wav", "kept"),
                    ],
                ),
                [photo, WAV],
            ),
            *[
                Submission(
                    f"WEB1-{i:04d}", report_doc(f"Filler {i}"), received_day=f"2025-04-{1 + i % 28:02d}"
                )
                for i in range(60)
            ],
        ],
    )
    importer.import_bundle(vault, tmp_path / "b")
    return create_app(vault, "s3cret", hosts={"127.0.0.1:8765"})


def client(app, signed_in=True):
    c = app.test_client()
    if signed_in:
        r = c.get("/dashboard?token=s3cret", base_url="http://127.0.0.1:8765")
        assert r.status_code == 303 and r.headers["Location"] == "/dashboard"
        cookie = r.headers["Set-Cookie"]
        assert "sealview=s3cret" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    return c


def get(c, url, **kw):
    return c.get(url, base_url="http://127.0.0.1:8765", **kw)


def post(c, url, data, **kw):
    return c.post(url, data=data, base_url="http://127.0.0.1:8765", **kw)


def csrf(c):
    return re.search(r'name="csrf" value="([^"]+)"', get(c, "/case/WEB0-0001").get_data(as_text=True)).group(
        1
    )


def test_nothing_answers_without_the_token(app):
    c = client(app, signed_in=False)
    for url in ("/", "/case/WEB0-0001", "/a/1/image", "/static/viewer.css", "/nope"):
        r = get(c, url)
        assert r.status_code == 403 and b"WEB0" not in r.data, url
    assert get(c, "/?token=wrong").status_code == 403
    c.set_cookie("sealview", "guess", domain="127.0.0.1")
    assert get(c, "/").status_code == 403


def test_only_our_own_host_name_is_answered(app):
    c = client(app)
    assert get(c, "/").status_code == 200
    assert c.get("/", base_url="http://attacker.example:8765").status_code == 403  # DNS rebinding


def test_forms_must_come_from_our_pages(app):
    c = client(app)
    token = csrf(c)
    assert post(c, "/case/WEB0-0001/note", {"text": "x"}).status_code == 403
    assert (
        post(
            c, "/case/WEB0-0001/note", {"text": "x", "csrf": token}, headers={"Sec-Fetch-Site": "cross-site"}
        ).status_code
        == 403
    )
    assert (
        post(
            c,
            "/case/WEB0-0001/note",
            {"text": "x", "csrf": token},
            headers={"Origin": "http://127.0.0.1:9999"},
        ).status_code
        == 403
    )
    r = post(
        c,
        "/case/WEB0-0001/note",
        {"text": "from our page", "csrf": token},
        headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://127.0.0.1:8765"},
    )
    assert r.status_code == 303 and r.headers["Location"].endswith("/case/WEB0-0001?done=notes#notes")


def test_every_response_carries_the_headers(app):
    c = client(app)
    for url in (
        "/",
        "/case/WEB0-0001",
        "/hotspots",
        "/dashboard",
        "/replies",
        "/static/viewer.css",
        "/case/NOPE",
        "/a/1/image",
        "/a/2/media",
        "/a/1/download",
        "/case/WEB0-0001/case.pdf",
    ):
        r = get(c, url)
        for k, v in HEADERS.items():
            if k != "Content-Security-Policy":
                assert r.headers[k] == v, (url, k)
        assert "default-src 'none'" in r.headers["Content-Security-Policy"], url
    assert get(c, "/case/NOPE").status_code == 404


def test_photos_are_re_encoded_and_their_metadata_is_announced(app):
    c = client(app)
    html = get(c, "/case/WEB0-0001").get_data(as_text=True)
    assert "The camera or phone is named in it: SpyPhone 9000" in html
    assert "It records where it was taken: 42.69" in html
    img = get(c, "/a/1/image")
    assert img.mimetype == "image/jpeg" and img.headers["Content-Disposition"].startswith("inline;")
    assert b"SpyPhone" not in img.data and b"Exif" not in img.data[:64]
    original = get(c, "/a/1/download")
    assert original.data != img.data and b"SpyPhone" in original.data
    assert original.mimetype == "application/octet-stream" and original.headers["Content-Disposition"] == (
        'attachment; filename="case-WEB0-0001-1-p.jpg"'
    )


def test_audio_plays_with_safe_headers(app):
    r = get(client(app), "/a/2/media")
    assert r.status_code == 200 and r.data == WAV
    assert r.mimetype == "audio/wav" and r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Disposition"] == 'attachment; filename="case-WEB0-0001-2.wav"'
    assert r.headers["Content-Security-Policy"].startswith("sandbox")


def test_inbox_filters_and_pages(app):
    c = client(app)
    html = get(c, "/").get_data(as_text=True)
    assert "61 cases." in html and "Page 1 of 2" in html and html.count('class="case-link"') == 50
    html = get(c, "/?page=2").get_data(as_text=True)
    assert html.count('class="case-link"') == 11 and 'id="prev"' in html
    html = get(c, "/?photos=yes").get_data(as_text=True)
    assert "1 case matches the filters." in html
    html = get(c, "/?since=2025-04-27&until=2025-04-28&q=filler").get_data(as_text=True)
    assert "4 cases match the filters." in html
    html = get(c, "/?since=yesterday&status=bogus").get_data(as_text=True)
    assert "a date is written YYYY-MM-DD" in html and "unknown status" in html


def test_triage_reply_forward_and_the_reply_bundle_from_the_ui(app, vault):
    c = client(app)
    token = csrf(c)
    assert post(c, "/case/WEB0-0001/state", {"csrf": token, "state": "credible"}).status_code == 303
    assert (
        post(
            c, "/case/WEB1-0001/state", {"csrf": token, "state": "duplicate", "duplicate_of": "web0-0001"}
        ).status_code
        == 303
    )
    assert (
        post(c, "/case/WEB0-0001/reply", {"csrf": token, "text": "Thanks", "status": "checking"}).status_code
        == 303
    )
    assert (
        post(c, "/case/WEB1-0001/reply", {"csrf": token, "text": "", "status": "closed"}).status_code == 303
    )
    assert "(a new status only, no text)" in get(c, "/case/WEB1-0001").get_data(as_text=True)
    empty = post(c, "/case/WEB1-0001/reply", {"csrf": token, "text": " ", "status": ""})
    assert empty.status_code == 400 and "the reply is empty" in empty.get_data(as_text=True)
    police = Identity.generate()
    kept = post(c, "/recipients", {"csrf": token, "name": "Police", "key_text": police.public_key.encode()})
    assert kept.status_code == 303 and kept.headers["Location"].endswith(
        "added=" + police.fingerprint.replace(" ", "+")
    )
    r = post(c, "/case/WEB0-0001/forward", {"csrf": token, "recipient": police.fingerprint})
    assert r.status_code == 303
    html = get(c, "/case/WEB0-0001?done=forwards").get_data(as_text=True)
    assert "Saved." in html and "forwarded to Police" in html and "Duplicates of this case" in html
    sealed = re.search(r'href="(/outbox/case-WEB0-0001-[0-9a-f]+\.sealed)"', html).group(1)
    assert get(c, sealed).headers["Content-Disposition"].startswith("attachment;")
    r = post(c, "/case/WEB0-0001/forward", {"csrf": token, "recipient": "Police"})  # by name works too
    assert r.status_code == 303
    bad = post(c, "/recipients", {"csrf": token, "name": "X", "key_text": "not a key"})
    assert bad.status_code == 400 and "not a sealdrop public key" in bad.get_data(as_text=True)
    unknown = post(c, "/case/WEB0-0001/forward", {"csrf": token, "recipient": "Nobody"})
    assert unknown.status_code == 404 and "no police recipient" in unknown.get_data(as_text=True)
    r = post(c, "/replies/export", {"csrf": token})
    assert r.status_code == 303 and r.headers["Location"].endswith("done=replies-demo-1.bundle")
    page = get(c, "/replies?done=replies-demo-1.bundle").get_data(as_text=True)
    assert "/outbox/replies-demo-1.bundle" in page
    assert get(c, "/outbox/replies-demo-1.bundle").data.startswith(b"sealdrop-bundle")
    assert get(c, "/outbox/..%2Fvault.key").status_code == 404
    assert get(c, "/outbox/.replies-x").status_code == 404
    assert triage.state_of(vault, "WEB0-0001") == ("forwarded", None)


def test_the_pdf_is_a_download(app):
    r = get(client(app), "/case/WEB0-0001/case.pdf")
    assert r.mimetype == "application/pdf" and r.data.startswith(b"%PDF")
    assert r.headers["Content-Disposition"] == 'attachment; filename="case-WEB0-0001.pdf"'
    Image.init()  # (Pillow is what re-encoded the photo inside it)


@pytest.mark.parametrize("spelled", ["relative", "absolute", "symlinked"])
def test_outbox_downloads_whatever_the_vault_path(app, vault, monkeypatch, tmp_path, spelled):
    """`sealview ui --vault vault`, as the README says, or a full path, or a link to the vault: the
    files the officer carries out (replies bundle, sealed case file) download; send_file once looked
    for a relative one beside the app's code and answered 500."""
    vault.close()  # the fixture's vault, with a case in it, opened again by another spelling
    monkeypatch.chdir(vault.path.parent)
    if spelled == "symlinked":
        (tmp_path / "usb").mkdir()
        (tmp_path / "usb" / "vault-link").symlink_to(vault.path.resolve())
    path = {
        "relative": Path(vault.path.name),
        "absolute": vault.path.resolve(),
        "symlinked": tmp_path / "usb" / "vault-link",
    }[spelled]
    with Vault.open(path, PASSPHRASE, write=True) as opened:
        c = client(create_app(opened, "s3cret", hosts={"127.0.0.1:8765"}))
        r = post(c, "/replies/export", {"csrf": csrf(c)})
        name = r.headers["Location"].rsplit("done=", 1)[1]
        download = get(c, f"/outbox/{name}")
        assert download.status_code == 200 and download.data.startswith(b"sealdrop-bundle")


def test_an_attachment_number_past_the_database_range_is_not_found(app):
    c = client(app)
    for kind in ("image", "media", "download"):
        assert get(c, f"/a/99999999999999999999/{kind}").status_code == 404
