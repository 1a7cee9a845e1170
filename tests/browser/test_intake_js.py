"""What only the JavaScript path does: device location at a chosen precision, keeping photo data by
explicit choice, voice notes, retrying a lost piece, additions sealed in the browser, and falling
back to the server when WebCrypto lacks X25519."""

import io
import json

import pytest
from PIL import Image

from tests.helpers import demo_server, jpeg_with_exif, open_all_envelopes

pytestmark = pytest.mark.browser
HERE = {"latitude": 42.697708, "longitude": 23.321867}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with demo_server(tmp_path_factory.mktemp("js")) as (base, instance, _):
        yield base, instance


@pytest.fixture
def page(browser, served):
    context = browser.new_context(permissions=["geolocation", "microphone"], geolocation=HERE)
    page = context.new_page()
    page.goto(f"{served[0]}/r/demo?lang=en")
    page.wait_for_selector("html[data-sealing=browser]", state="attached")
    yield page
    context.close()


def last_report(instance):
    opened = open_all_envelopes(instance)
    docs = [i for i, o in enumerate(opened) if o.startswith(b'{"format"')]
    return json.loads(opened[docs[-1]]), opened[docs[-1] + 1 :]


def send(page):
    page.get_by_label("Drug dealing").check()
    page.fill("#what", "seen from my window")
    page.click("#send")
    page.wait_for_selector("#receipt", timeout=60_000)
    return page.inner_text("#receipt")


@pytest.mark.parametrize(("precision", "lat"), [("exact", 42.697708), ("100m", 42.698), ("1km", 42.7)])
def test_device_location_is_rounded_before_sealing(page, served, precision, lat):
    page.get_by_label("Use my phone's location").check()
    page.wait_for_selector("text=Location added.")
    page.select_option("#geo-precision", precision)
    send(page)
    where = last_report(served[1])[0]["where"]
    assert where["mode"] == "device" and where["precision"] == precision and where["lat"] == lat


def test_photo_metadata_kept_only_by_explicit_choice(page, served):
    page.set_input_files(
        "#files", files=[{"name": "a.jpg", "mimeType": "image/jpeg", "buffer": jpeg_with_exif()}]
    )
    page.wait_for_selector("text=hidden data removed")
    page.get_by_label("Keep the original data of my files", exact=False).check()
    page.wait_for_selector("text=original data kept")
    send(page)
    doc, (photo,) = last_report(served[1])
    assert doc["attachments"][0]["metadata"] == "kept" and b"SpyPhone" in photo


def test_large_photo_is_scaled_and_cleaned(page, served):
    big = jpeg_with_exif(size=(6000, 3000))
    page.set_input_files("#files", files=[{"name": "big.jpg", "mimeType": "image/jpeg", "buffer": big}])
    send(page)
    _, (photo,) = last_report(served[1])
    img = Image.open(io.BytesIO(photo))
    assert max(img.size) == 4096 and not img.getexif() and b"SpyPhone" not in photo


def test_a_lost_piece_is_retried(page, served):
    failed = []

    def flaky(route):
        if route.request.method in ("PUT", "POST") and not failed:
            failed.append(route.request.url)
            return route.abort("connectionreset")
        return route.continue_()

    page.route("**/api/demo/**", flaky)
    send(page)
    assert failed and last_report(served[1])[0]["what"] == "seen from my window"


def test_addition_sealed_in_the_browser(page, served):
    receipt = send(page)
    page.goto(f"{served[0]}/r/demo/check?lang=en")
    page.fill("#receipt-input", receipt)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#add-what")
    page.fill("#add-what", "he came back with a friend")
    page.get_by_role("button", name="Add to my case").click()
    page.wait_for_selector("#added")
    doc, _ = last_report(served[1])
    assert (
        doc["kind"] == "addition"
        and doc["what"] == "he came back with a friend"
        and doc["sealed_by"] == "browser"
        and doc["desk"] == "demo"
    )


def test_without_x25519_the_server_seals(browser, served):
    context = browser.new_context()
    context.add_init_script("""
        const importKey = crypto.subtle.importKey.bind(crypto.subtle);
        crypto.subtle.importKey = (format, data, algorithm, ...rest) =>
            (algorithm === "X25519" || algorithm?.name === "X25519")
                ? Promise.reject(new DOMException("not supported", "NotSupportedError"))
                : importKey(format, data, algorithm, ...rest);
    """)
    page = context.new_page()
    page.goto(f"{served[0]}/r/demo?lang=en")
    page.wait_for_selector("#js-fallback:not([hidden])")
    send(page)
    assert last_report(served[1])[0]["sealed_by"] == "server"
    context.close()


def test_voice_note_recorded_in_the_page(browser, served):
    from tests.chromium import CHROMIUM, CHROMIUM_ARGS

    fake_media = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    # A second browser from the same Playwright instance: Chromium takes these flags only at launch.
    with_microphone = browser.browser_type.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS + fake_media
    )
    try:
        page = with_microphone.new_context(permissions=["microphone"]).new_page()
        page.goto(f"{served[0]}/r/demo?lang=en")
        page.wait_for_selector("#record-start:visible")
        page.click("#record-start")
        page.wait_for_timeout(1200)
        page.click("#record-stop")
        page.wait_for_selector("text=Voice note added.")
        send(page)
    finally:
        with_microphone.close()
    doc, (audio,) = last_report(served[1])
    entry = doc["attachments"][0]
    assert entry["name"] == "recording.webm" and entry["type"] == "audio/webm" and len(audio) > 1000


def picture_with_exif(fmt: str, make: str = "SpyPhone 9000") -> bytes:
    """A small picture in `fmt` (Pillow's name) whose EXIF names the camera."""
    img = Image.open(io.BytesIO(jpeg_with_exif(make)))
    exif = img.getexif()
    out = io.BytesIO()
    img.save(out, fmt, exif=exif)
    data = out.getvalue()
    assert make.encode() in data
    return data


def choose(page, name, mime, data):
    page.set_input_files("#files", files=[{"name": name, "mimeType": mime, "buffer": data}])


@pytest.mark.parametrize(
    ("name", "mime", "fmt"),
    [("a.avif", "image/avif", "AVIF"), ("photo", "", "JPEG"), ("b.png", "", "PNG")],
    ids=["avif", "untyped-jpeg", "untyped-png-by-name"],
)
def test_every_picture_the_browser_can_read_is_cleaned(page, served, name, mime, fmt):
    choose(page, name, mime, picture_with_exif(fmt))
    page.wait_for_selector("text=hidden data removed")
    send(page)
    doc, (photo,) = last_report(served[1])
    assert doc["attachments"][0]["metadata"] == "removed" and doc["attachments"][0]["type"] == "image/jpeg"
    assert Image.open(io.BytesIO(photo)).format == "JPEG" and b"SpyPhone" not in photo


@pytest.mark.parametrize(
    ("name", "mime"), [("scan.tiff", "image/tiff"), ("scan", "")], ids=["typed", "untyped"]
)
def test_a_picture_the_browser_cannot_clean_is_refused_unless_kept(page, served, name, mime):
    before = len(open_all_envelopes(served[1]))
    choose(page, name, mime, picture_with_exif("TIFF"))  # Chromium shows no TIFF
    page.wait_for_selector("text=hidden data cannot be removed on this device")
    page.get_by_label("Drug dealing").check()
    page.fill("#what", "a scanned letter")
    page.click("#send")
    page.wait_for_selector("#send-error:not([hidden])")
    assert "cannot remove the hidden data" in page.inner_text("#send-error")
    assert len(open_all_envelopes(served[1])) == before  # nothing was sent
    page.get_by_label("Keep the original data of my files", exact=False).check()
    page.wait_for_selector("text=original data kept")
    page.click("#send")
    page.wait_for_selector("#receipt", timeout=60_000)
    doc, (kept,) = last_report(served[1])
    assert doc["attachments"][0]["metadata"] == "kept" and b"SpyPhone" in kept


def routed_place_report(browser, base, javascript):
    """A corruption report (routed to internal security) at a place from the desk's list."""
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    page.goto(f"{base}/r/demo?lang=en")
    if javascript:
        page.wait_for_selector("html[data-sealing=browser]", state="attached")
    page.get_by_label("Corruption, including by police officers").check()
    page.fill("#what", "the same words both ways")
    page.get_by_label("A place from the list").check()
    page.select_option("#where_place", index=1)
    page.click("#send")
    page.wait_for_selector("#receipt", timeout=60_000)
    context.close()


def test_browser_and_server_write_the_same_report_document(browser, served):
    base, instance = served
    docs = []
    for javascript in (True, False):
        routed_place_report(browser, base, javascript)
        opened = open_all_envelopes(instance, "demo-internal-officer.identity")
        docs.append(json.loads(next(o for o in reversed(opened) if o.startswith(b'{"format"'))))
    browser_doc, server_doc = docs
    assert (browser_doc["sealed_by"], server_doc["sealed_by"]) == ("browser", "server")
    assert browser_doc["desk"] == server_doc["desk"] == "demo-internal"
    where = browser_doc["where"]
    assert where["mode"] == "place" and isinstance(where["lat"], float) and isinstance(where["lon"], float)
    differ = {"sealed_by", "reply_public"}
    assert {k: v for k, v in browser_doc.items() if k not in differ} == {
        k: v for k, v in server_doc.items() if k not in differ
    }


def test_an_addition_refuses_a_picture_it_cannot_clean(page, served):
    receipt = send(page)
    before = len(open_all_envelopes(served[1]))
    page.goto(f"{served[0]}/r/demo/check?lang=en")
    page.wait_for_selector("html[data-sealing=browser]", state="attached")
    page.fill("#receipt-input", receipt)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#add-what")
    page.fill("#add-what", "a scan of the letter")
    page.set_input_files(
        "#add-files",
        files=[{"name": "scan.tif", "mimeType": "image/tiff", "buffer": picture_with_exif("TIFF")}],
    )
    page.get_by_role("button", name="Add to my case").click()
    page.wait_for_selector("text=cannot remove the hidden data")
    assert "scan.tif" in page.inner_text(".add-status")
    assert len(open_all_envelopes(served[1])) == before
