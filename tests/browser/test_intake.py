"""The report page in real Chromium, with JavaScript off and on, on SQLite and on PostgreSQL.

With JS the browser seals and the server must receive ciphertext only (every request body is
recorded); without JS the server seals in memory. Either way nothing readable is left on disk, in the
database or in the server's temp directory, and the demo officer finds the text and a clean photo.
"""

import io
import json
import os

import pytest
from PIL import Image

from crypto import Receipt
from tests.helpers import (
    database_rows_containing,
    files_containing,
    jpeg_with_exif,
    live_server,
    make_instance,
    open_all_envelopes,
    postgres_database,
)

TEXT = "Продават наркотици зад физкултурния салон всеки ден около 14 ч."
PLACE = "ул. Граф Игнатиев 15"
pytestmark = pytest.mark.browser


@pytest.fixture(params=["sqlite", "postgresql"])
def served(request, tmp_path):
    tmpdir = tmp_path / "server-tmp"
    tmpdir.mkdir()
    if request.param == "postgresql" and os.environ.get("SEALDROP_SKIP_POSTGRES") == "1":
        pytest.skip("SEALDROP_SKIP_POSTGRES=1")
    with postgres_database() if request.param == "postgresql" else _nothing() as url:
        instance = make_instance(tmp_path / "instance", url)
        with live_server(instance, tmpdir) as (base, _proc):
            yield base, instance, tmpdir


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def fill_report(page, photo: bytes):
    page.get_by_label("Drug dealing").check()
    page.fill("#what", TEXT)
    page.get_by_label("I will type the place").check()
    page.fill("#where_text", PLACE)
    page.set_input_files(
        "#files", files=[{"name": "IMG_0042.jpg", "mimeType": "image/jpeg", "buffer": photo}]
    )


@pytest.mark.parametrize("javascript", [False, True], ids=["js-off", "js-on"])
def test_report_end_to_end(browser, served, javascript):
    base, instance, tmpdir = served
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    sent = []  # every request the page makes, from the form to signing back in
    page.on("request", lambda r: sent.append((r.method, r.url, r.post_data_buffer or b"")))
    page.goto(f"{base}/r/demo?lang=en")
    if javascript:
        page.wait_for_selector("html[data-sealing=browser]", state="attached")
    photo = jpeg_with_exif()
    fill_report(page, photo)
    page.click("#send")
    page.wait_for_selector("#receipt", timeout=60_000)
    receipt, case_number = page.inner_text("#receipt"), page.inner_text("#case-number")
    assert Receipt(receipt) and len(case_number) == 9
    assert context.cookies() == []

    secrets = [
        TEXT.encode(),
        PLACE.encode(),
        b"SpyPhone",
        receipt.encode(),
        receipt.replace("-", "").encode(),
    ]
    if javascript:  # what left the browser: ciphertext, derived ids, and nothing else
        uploads = [body for method, url, body in sent if method in ("PUT", "POST") and "/api/demo/" in url]
        assert uploads and all(uploads)  # the report and the photo, sealed: whole, or in pieces
        assert not [s for _, url, body in sent for s in secrets if s in body or s in url.encode()]
    assert files_containing(instance, secrets) == []
    assert files_containing(tmpdir, secrets) == []
    assert database_rows_containing(_db_url(instance), secrets) == []

    report, clean_photo = open_all_envelopes(instance)
    doc = json.loads(report)
    assert doc["what"] == TEXT and doc["where"] == {"mode": "typed", "text": PLACE}
    assert doc["sealed_by"] == ("browser" if javascript else "server")
    assert doc["attachments"][0]["metadata"] == "removed"
    img = Image.open(io.BytesIO(clean_photo))
    assert img.format == "JPEG" and not img.getexif() and b"SpyPhone" not in clean_photo

    page.fill("#last-group", receipt.rsplit("-", 1)[1])  # Finish asks for the code's last group
    page.get_by_role("button", name="Finish").click()
    page.get_by_role("link", name="Sign in with your receipt code").click()
    if javascript:  # sign in with the script, not with the form it takes over
        page.wait_for_selector("html[data-sealing=browser]", state="attached")
    signing_in = len(sent)
    page.fill("#receipt-input", receipt.lower())
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#case-number")
    assert page.inner_text("#case-number") == case_number
    assert "Received" in page.inner_text("#case-status")
    if javascript:  # the receipt code never leaves the browser, in any spelling
        ungrouped = receipt.replace("-", "")
        spellings = {s.encode() for s in (receipt, ungrouped, receipt.lower(), ungrouped.lower())}
        assert [url for method, url, _ in sent[signing_in:] if method == "POST"] == [f"{base}/api/demo/case"]
        assert not [s for _, url, body in sent for s in spellings if s in body or s in url.encode()]

    page.goto(f"{base}/r/demo/check?lang=en")
    page.fill("#receipt-input", Receipt.generate().grouped())
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("text=We found no report with this receipt code")
    context.close()


def _db_url(instance):
    from dropbox import config

    return config.load(instance).database_url
