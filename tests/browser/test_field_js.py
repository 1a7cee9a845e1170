"""The JavaScript path in the field (issue 11): nothing chosen is left behind however slow the phone,
an outage of any length ends with the upload going on from the server's offset, and leaving the page
while a report is on its way asks first. Tests wait for states, never for time: a busy machine only
makes them slower."""

import contextlib
import io
import json
import random
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from PIL import Image
from sqlalchemy import create_engine, text

from dropbox import config
from tests.helpers import demo_server, jpeg_with_exif, open_all_envelopes, proof_of_work

pytestmark = pytest.mark.browser
BUSY_SECONDS = 120  # a bound, should a finally never run


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with demo_server(tmp_path_factory.mktemp("field")) as (base, instance, _):
        yield base, instance


@pytest.fixture
def context(browser):
    context = browser.new_context()
    yield context
    context.close()


def open_form(context, base):
    page = context.new_page()
    page.goto(f"{base}/r/demo?lang=en")
    page.wait_for_selector("html[data-sealing=browser]", state="attached")
    return page


@contextlib.contextmanager
def busy_cpu(workers: int = 2):
    """Every core of a 2-core machine kept busy, as a cheap phone or a loaded CI box is."""
    loop = f"import time\nend = time.monotonic() + {BUSY_SECONDS}\nwhile time.monotonic() < end: pass"
    procs = [subprocess.Popen([sys.executable, "-c", loop]) for _ in range(workers)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def count(instance, table):
    engine = create_engine(config.load(instance).database_url)
    with engine.connect() as conn:
        n = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    engine.dispose()
    return n


def last_report(instance):
    opened = open_all_envelopes(instance)
    docs = [i for i, o in enumerate(opened) if o.startswith(b'{"format"')]
    return json.loads(opened[docs[-1]]), opened[docs[-1] + 1 :]


def fill(page, what="seen from my window"):
    page.get_by_label("Drug dealing").check()
    page.fill("#what", what)


def wait_for_receipt(page):
    page.wait_for_selector("#receipt, #send-error:not([hidden])", timeout=120_000)
    assert page.locator("#receipt").count(), page.inner_text("#send-error")
    return page.inner_text("#receipt")


def choose(page, name, mime, data):
    page.set_input_files("#files", files=[{"name": name, "mimeType": mime, "buffer": data}])


def photo_12mp() -> bytes:
    """A 4000 × 3000 photo of a busy scene (3.4 MB) with EXIF, as a phone camera makes it: slow to
    decode on a phone. Seeded, so every run decodes the same work."""
    rng = random.Random(12)
    small = Image.frombytes("RGB", (500, 375), rng.randbytes(500 * 375 * 3))
    exif = Image.Exif()
    exif[0x010F] = "SpyPhone 9000"
    out = io.BytesIO()
    small.resize((4000, 3000), Image.Resampling.BILINEAR).save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


# ------------------------------------------------------------------- 1. nothing chosen is left behind


def test_send_tapped_at_once_after_choosing_a_12mp_photo_on_a_busy_machine(context, served):
    page = open_form(context, served[0])
    fill(page, "the photo must arrive")
    with busy_cpu():
        choose(page, "big.jpg", "image/jpeg", photo_12mp())
        page.click("#send")
        wait_for_receipt(page)
    assert any(w.url.endswith("/media-worker.mjs") for w in page.workers)  # redrawn off the main thread
    doc, attachments = last_report(served[1])
    assert doc["what"] == "the photo must arrive" and len(attachments) == 1
    img = Image.open(io.BytesIO(attachments[0]))
    assert max(img.size) == 4000 and not img.getexif() and b"SpyPhone" not in attachments[0]


# A test's hand on the page's clock of work: a chosen file is examined (media-worker.mjs, or the page
# itself where workers fail) only once the test opens the gate, as on a phone that takes its time (the
# page itself has no test hook). The proof-of-work worker's messages carry no file and pass.
GATED_EXAMINE = """
    window.gate = new Promise((open) => { window.openGate = open; });
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (message, ...rest) {
        if (!(message && message.file)) return post.call(this, message, ...rest);
        window.gate.then(() => post.call(this, message, ...rest));
    };
    const decode = globalThis.createImageBitmap;
    globalThis.createImageBitmap = async (...args) => { await window.gate; return decode(...args); };
"""


def test_send_waits_for_a_photo_still_being_prepared_and_shows_it(context, served):
    context.add_init_script(GATED_EXAMINE)
    page = open_form(context, served[0])
    fill(page, "a slow phone")
    choose(page, "slow.jpg", "image/jpeg", jpeg_with_exif())
    page.wait_for_selector("#previews figure[data-state=checking]")
    assert page.inner_text("#previews figcaption") == "slow.jpg (checking…)"
    page.click("#send")
    page.wait_for_selector("text=Getting your files ready: 0 of 1")
    page.evaluate("window.openGate()")
    wait_for_receipt(page)
    doc, (photo,) = last_report(served[1])
    assert doc["what"] == "a slow phone" and doc["attachments"][0]["metadata"] == "removed"
    assert b"SpyPhone" not in photo and Image.open(io.BytesIO(photo)).format == "JPEG"


def test_a_file_that_cannot_be_read_stops_the_send_and_is_named(context, served, tmp_path):
    """A photo chosen, then gone from the phone before it was read (moved, a card taken out): Send
    names it and files nothing; once it is removed, the report goes."""
    context.add_init_script(GATED_EXAMINE)
    page = open_form(context, served[0])
    before = count(served[1], "submissions")
    fill(page)
    (tmp_path / "gone.jpg").write_bytes(jpeg_with_exif())
    page.set_input_files("#files", tmp_path / "gone.jpg")
    page.wait_for_selector("#previews figure[data-state=checking]")
    (tmp_path / "gone.jpg").unlink()
    page.evaluate("window.openGate()")
    page.click("#send")
    page.wait_for_selector("#send-error:not([hidden])")
    assert page.inner_text("#send-error").startswith("gone.jpg: This file could not be read.")
    assert count(served[1], "submissions") == before
    page.get_by_role("button", name="Remove gone.jpg").click()
    page.click("#send")
    wait_for_receipt(page)
    assert last_report(served[1])[0]["attachments"] == []


# ------------------------------------------------------------------------------ 6. resume, never restart


@pytest.mark.parametrize("back", ["online", "send again"])
def test_an_outage_longer_than_any_retry_budget_resumes_from_the_servers_offset(
    context, served, tmp_path, back
):
    """5 MiB in two pieces (of 4 MiB); the second is cut and the link stays down for more than the
    six retries (31.5 s) the page used to allow, on the page's clock. When the link is back the page
    continues the same two uploads, and the server is sent each byte once: by itself when the browser
    says it is online again ("online"), or when the reporter presses Send again on a link the browser
    never saw go down (a Tor circuit, a captive portal: "send again")."""
    context.clock.install()
    page = open_form(context, served[0])
    fill(page, "a long video")
    video = random.Random(6).randbytes(5 * 1024 * 1024)
    (tmp_path / "long.mp4").write_bytes(video)
    page.set_input_files("#files", tmp_path / "long.mp4")  # a path: no copy through the driver
    page.get_by_label("Keep the original data of my files", exact=False).check()
    page.wait_for_selector("text=original data kept")
    held, stored, failed = [], [], []
    link = {"down": False}

    def cut_after_first_piece(route):
        if route.request.method == "PUT" and "offset=0" not in route.request.url and not held:
            held.append(route)  # answered below, once the link is down
        elif link["down"] and back == "send again":
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page.route("**/api/demo/uploads/**", cut_after_first_piece)
    page.on(
        "requestfinished", lambda r: r.method == "PUT" and stored.append((r.url, len(r.post_data_buffer)))
    )
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.click("#send")
    while not held:  # the second piece has reached the route and is held there
        page.wait_for_timeout(50)
    link["down"] = True
    if back == "online":
        context.set_offline(True)
    held[0].abort("internetdisconnected")
    page.wait_for_selector("text=Waiting for the network", timeout=60_000)
    while len(failed) < 8:  # more than six retries, over a minute on the page's clock
        with page.expect_event("requestfailed", timeout=60_000):
            page.clock.fast_forward(20_000)
    assert page.locator("#send-error").is_hidden() and page.locator("#receipt").count() == 0
    if back == "online":
        context.set_offline(False)  # the browser's `online` event: nothing to press
    else:
        link["down"] = False  # the next retry is 15 s away on the page's clock: only Send can be the cause
        page.click("#send")
    wait_for_receipt(page)
    doc, (kept,) = last_report(served[1])
    assert doc["what"] == "a long video" and kept == video
    sizes = {
        found[1]: int(found[2])
        for url, _ in stored
        if (found := re.search(r"/uploads/(\w+)\?offset=0&size=(\d+)", url))
    }
    assert len(sizes) == 2  # the report and the video: never a new upload
    video_upload = max(sizes, key=sizes.get)
    first = [n for url, n in stored if f"/uploads/{video_upload}?offset=0&" in url]
    assert first == [64 * 1024]  # a small first piece: a full server says so before minutes of bytes
    for upload, size in sizes.items():  # the server was sent each byte of each envelope once
        assert sum(n for url, n in stored if f"/uploads/{upload}?" in url) == size
    assert count(served[1], "uploads") == 0 and not list((served[1] / "blobs" / "uploads").glob("*.part"))


def test_a_report_whose_answer_was_lost_is_filed_once(context, served):
    """The server files the report, the answer never arrives; the page asks again and is told the
    same case number."""
    page = open_form(context, served[0])
    lost = []

    def lose_first_answer(route):
        if lost:
            return route.continue_()
        lost.append(route.fetch().status)  # the server has it...
        route.abort("connectionreset")  # ...and the answer is lost on the way back

    page.route("**/api/demo/reports", lose_first_answer)
    cases = count(served[1], "cases")
    fill(page, "sent once")
    page.click("#send")
    wait_for_receipt(page)
    assert lost == [201] and count(served[1], "cases") == cases + 1
    assert last_report(served[1])[0]["what"] == "sent once"
    assert page.inner_text("#case-number").strip()


def test_leaving_while_a_report_is_on_its_way_asks_first(context, served):
    context.add_init_script(GATED_EXAMINE)
    page = open_form(context, served[0])
    fill(page)
    choose(page, "slow.jpg", "image/jpeg", jpeg_with_exif())
    page.click("#send")
    page.wait_for_selector("text=Getting your files ready")
    with page.expect_event("dialog") as asked:
        page.evaluate("setTimeout(() => location.reload())")
    assert asked.value.type == "beforeunload"
    asked.value.dismiss()  # the reporter stays
    page.evaluate("window.openGate()")
    wait_for_receipt(page)


def test_a_small_report_sent_while_offline_goes_when_the_network_is_back(context, served):
    """Sent whole in one request; the browser's `online` event (not Send) brings it back."""
    page = open_form(context, served[0])
    cases = count(served[1], "cases")
    fill(page, "written on the bus")
    context.set_offline(True)
    page.click("#send")
    page.wait_for_selector("text=Waiting for the network", timeout=60_000)
    assert page.locator("#send").is_enabled()  # pressing it again would try at once
    context.set_offline(False)
    wait_for_receipt(page)
    assert count(served[1], "cases") == cases + 1
    assert last_report(served[1])[0]["what"] == "written on the bus"


def post_whole(base, body: bytes) -> tuple[int, dict]:
    with urllib.request.urlopen(f"{base}/r/demo?lang=en") as r:
        html = r.read().decode()
    csrf = json.loads(re.search(r'id="page-data">(.*?)</script>', html, re.S)[1])["csrf"]
    request = urllib.request.Request(
        f"{base}/api/demo/reports",
        data=body,
        method="POST",
        headers={"Content-Type": "application/octet-stream", "X-Sealdrop-CSRF": csrf},
    )
    try:
        with urllib.request.urlopen(request) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def solved(base) -> dict:
    """A proof of work for one report call to the demo desk (dropbox/pow.py), as the page's worker does."""
    with urllib.request.urlopen(f"{base}/r/demo?lang=en") as r:
        csrf = json.loads(re.search(r'id="page-data">(.*?)</script>', r.read().decode(), re.S)[1])["csrf"]
    request = urllib.request.Request(f"{base}/api/demo/challenge", headers={"X-Sealdrop-CSRF": csrf})
    with urllib.request.urlopen(request) as r:
        return proof_of_work(json.loads(r.read()))


@pytest.mark.parametrize(
    "body",
    [
        b"",
        (10**6).to_bytes(4, "big") + b"{}",
        (3).to_bytes(4, "big") + b"{x}",
        (2).to_bytes(4, "big") + b"[]",
        (len(b'{"sizes": [5]}')).to_bytes(4, "big") + b'{"sizes": [5]}' + b"1234",
        (len(b'{"sizes": [true]}')).to_bytes(4, "big") + b'{"sizes": [true]}' + b"1",
    ],
    ids=["empty", "meta-too-long", "not-json", "not-an-object", "sizes-do-not-add-up", "size-not-a-number"],
)
def test_a_malformed_whole_report_is_refused_and_leaves_nothing(served, body):
    cases, uploads = count(served[1], "cases"), count(served[1], "uploads")
    assert post_whole(served[0], body) == (400, {"error": "bad_request"})
    assert (count(served[1], "cases"), count(served[1], "uploads")) == (cases, uploads)


def test_a_whole_report_that_is_not_sealed_to_the_desk_leaves_no_upload_behind(served):
    meta = json.dumps(
        {
            "category": 1,
            "lookup_id": "A" * 43 + "=",
            "reply_public": "A" * 43 + "=",
            "sizes": [5],
            "pow": solved(served[0]),
        }  # the work done, as the page does it: what follows is refused
    )
    meta = meta.encode()
    cases, uploads = count(served[1], "cases"), count(served[1], "uploads")
    status, answer = post_whole(served[0], len(meta).to_bytes(4, "big") + meta + b"12345")
    assert (status, answer) == (400, {"error": "not_an_envelope"})
    assert (count(served[1], "cases"), count(served[1], "uploads")) == (cases, uploads)
    assert not list((served[1] / "blobs" / "uploads").glob("*.part"))


def test_a_token_expired_while_the_page_waited_is_renewed(context, served):
    """A page open for longer than its API token lives (4 h: a long outage) gets a fresh one and goes on."""

    def with_expired_token(route):
        html = route.fetch().text()
        token = json.loads(re.search(r'id="page-data">(.*?)</script>', html, re.S)[1])["csrf"]
        route.fulfill(body=html.replace(token, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), content_type="text/html")

    context.route("**/r/demo?lang=en", with_expired_token)
    page = open_form(context, served[0])
    renewed = []
    page.on("request", lambda r: r.url.endswith("/api/demo/csrf") and renewed.append(r.url))
    fill(page, "typed over hours")
    page.click("#send")
    wait_for_receipt(page)
    assert renewed and last_report(served[1])[0]["what"] == "typed over hours"
