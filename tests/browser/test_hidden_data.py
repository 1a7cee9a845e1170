"""Hidden data in the real Chromium, both paths: phone-shaped corpus files (tests/media/corpus.py) chosen
in the report form and sent, with JavaScript (every file, cleaned and sealed in the browser) and without
it (one file per family: the form posts, the server cleans and seals), then opened as the officer does.

With JavaScript the preview already says "hidden data removed", for a video or a recording too. Pictures
the browser decodes are redrawn (JPEG); a HEIC photo it cannot decode keeps its pixels and has its Exif
and XMP zeroed in place, so it must still decode with pillow-heif; video and audio are rewritten, and
must come out exactly as the server's cleaner writes them. "Keep the original data of my files" sends
the file byte for byte and the report says "kept".
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

import metadata
from tests.chromium import all_loaded
from tests.helpers import demo_server
from tests.media import corpus
from tests.media.corpus import MEDIA, PICTURES, last_report, sample, stored_blobs
from tests.media.parity import py_clean

pytestmark = pytest.mark.browser
REDRAWN = [n for n in PICTURES if n not in ("heic-iphone", "tiff")]  # Chromium decodes these
WITH_ALPHA = {"png-rgba", "png-la"}  # the server keeps their transparency in a PNG
KEPT_IN_BROWSER = ["jpeg-android", "heic-iphone", "tiff", "mov-iphone", "mp3"]
KEPT_WITHOUT_JS = ["heic-iphone", "mov-iphone"]
# Without JavaScript the server's cleaner does the work; tests/dropbox/test_hidden_data.py sends every
# corpus file through it. Here, one file of each family goes through Chromium's own form post.
ONE_PER_FAMILY = ["jpeg-android", "png-rgba", "heic-iphone", "mov-iphone", "webm", "opus-ogg", "wav", "mp3",
                  "flac", "amr"]  # fmt: skip


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with demo_server(tmp_path_factory.mktemp("hidden")) as (base, instance, _):
        yield base, instance


def report_page(browser, base: str, javascript: bool):
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    page.goto(f"{base}/r/demo?lang=en")
    if javascript:
        page.wait_for_selector("html[data-sealing=browser]", state="attached")
    return context, page


@pytest.fixture
def with_js(browser, served):
    context, page = report_page(browser, served[0], True)
    yield page
    context.close()


@pytest.fixture
def without_js(browser, served):
    context, page = report_page(browser, served[0], False)
    yield page
    context.close()


def choose(page, *samples: corpus.Sample) -> None:
    files = [{"name": s.filename, "mimeType": s.mime, "buffer": s.data} for s in samples]
    page.set_input_files("#files", files=files)


def keep_original(page) -> None:
    page.get_by_label("Keep the original data of my files", exact=False).check()


def send(page) -> None:
    page.get_by_label("Drug dealing").check()
    page.fill("#what", "filmed from my window")
    page.click("#send")
    page.wait_for_selector("#receipt, #send-error:not([hidden]), #files-error", timeout=60_000)
    assert page.locator("#receipt").count(), page.inner_text("main")[-600:]


def assert_cleaned(s: corpus.Sample, doc: dict, attachment: bytes, *, by: str) -> None:
    """No marker in the file or the report document, the file decodes as the original did, in the
    form this path gives it."""
    entry = doc["attachments"][0]
    assert doc["sealed_by"] == by and entry["metadata"] == "removed"
    assert entry["size"] == len(attachment) and entry["sha256"] == hashlib.sha256(attachment).hexdigest()
    corpus.assert_no_markers(s, attachment)
    corpus.assert_no_markers(s, json.dumps(doc, ensure_ascii=False).encode())
    if s.kind != "picture":
        corpus.assert_plays_like(s, attachment)
        assert attachment == py_clean(s.data).data  # the browser's cleaner writes the server's bytes
        assert entry["type"].startswith(f"{s.kind}/")
    elif s.name == "heic-iphone" and by == "browser":  # Exif and XMP zeroed in place
        corpus.assert_picture_like(s, attachment, ("HEIF",))
        assert entry["type"] == "image/heic"
    else:
        fmt = "PNG" if by == "server" and s.name in WITH_ALPHA else "JPEG"
        corpus.assert_picture_like(s, attachment, (fmt,))
        assert entry["type"] == f"image/{fmt.lower()}"
    # The phone's name for the file (a time, an app) is replaced by what it is, on both paths.
    assert entry["name"] == metadata.neutral_name(entry["type"])
    assert entry["name"] == s.filename or s.filename not in json.dumps(doc, ensure_ascii=False)


@pytest.mark.parametrize("name", [*REDRAWN, "heic-iphone", *MEDIA])
def test_with_javascript_every_file_is_cleaned_in_the_browser(with_js, served, name):
    s = sample(name)
    choose(with_js, s)
    with_js.wait_for_selector("text=hidden data removed", timeout=15_000)
    assert with_js.inner_text("#previews figcaption") == f"{s.filename} (hidden data removed)"
    # a preview only of what this browser can draw, and every one it shows loads (never a broken image)
    all_loaded(with_js.locator("#previews img"))
    drawn = with_js.eval_on_selector_all(
        "#previews img", "(imgs) => imgs.map((i) => i.complete && i.naturalWidth)"
    )
    assert drawn == ([] if s.kind != "picture" or name == "heic-iphone" else [drawn[0]]) and all(drawn)
    send(with_js)
    doc, (attachment,) = last_report(served[1])
    assert_cleaned(s, doc, attachment, by="browser")


@pytest.mark.parametrize("name", ONE_PER_FAMILY)
def test_without_javascript_each_family_is_cleaned_on_the_server(without_js, served, name):
    s = sample(name)
    choose(without_js, s)
    send(without_js)
    doc, (attachment,) = last_report(served[1])
    assert_cleaned(s, doc, attachment, by="server")


@pytest.mark.parametrize("name", KEPT_IN_BROWSER)
def test_with_javascript_the_original_is_kept_only_when_asked(with_js, served, name):
    s = sample(name)
    choose(with_js, s)
    keep_original(with_js)
    with_js.wait_for_selector("text=original data kept")
    send(with_js)
    doc, (attachment,) = last_report(served[1])
    assert attachment == s.data and doc["attachments"][0]["metadata"] == "kept"


@pytest.mark.parametrize("name", KEPT_WITHOUT_JS)
def test_without_javascript_the_original_is_kept_only_when_asked(without_js, served, name):
    s = sample(name)
    choose(without_js, s)
    keep_original(without_js)
    send(without_js)
    doc, (attachment,) = last_report(served[1])
    assert attachment == s.data and doc["attachments"][0]["metadata"] == "kept"


def test_with_javascript_files_added_to_a_case_are_cleaned_in_the_browser(with_js, served):
    send(with_js)
    receipt = with_js.inner_text("#receipt")
    with_js.goto(f"{served[0]}/r/demo/check?lang=en")
    with_js.wait_for_selector("html[data-sealing=browser]", state="attached")
    with_js.fill("#receipt-input", receipt)
    with_js.get_by_role("button", name="Sign in").click()
    with_js.wait_for_selector("#add-what")
    with_js.fill("#add-what", "he came back with a friend")
    added = [sample("mov-iphone"), sample("heic-iphone")]
    with_js.set_input_files("#add-files", files=[{"name": s.filename, "mimeType": s.mime, "buffer": s.data}
                                                 for s in added])  # fmt: skip
    with_js.get_by_role("button", name="Add to my case").click()
    with_js.wait_for_selector("#added", timeout=60_000)
    doc, attachments = last_report(served[1])
    assert doc["kind"] == "addition" and doc["sealed_by"] == "browser"
    assert [a["metadata"] for a in doc["attachments"]] == ["removed", "removed"]
    for s, attachment in zip(added, attachments, strict=True):
        corpus.assert_no_markers(s, attachment)
    corpus.assert_plays_like(added[0], attachments[0])
    corpus.assert_picture_like(added[1], attachments[1], ("HEIF",))


# A video note as the reporter's own browser records it: a moving canvas and a tone, one second.
RECORD = """async () => {
  const canvas = Object.assign(document.createElement("canvas"), { width: 160, height: 120 });
  const g = canvas.getContext("2d");
  let frame = 0;
  const paint = () => { g.fillStyle = `hsl(${(frame++ * 37) % 360} 80% 50%)`; g.fillRect(0, 0, 160, 120); };
  paint();
  const ticking = setInterval(paint, 40);
  const sound = new AudioContext();
  const tone = sound.createOscillator();
  const out = sound.createMediaStreamDestination();
  tone.connect(out);
  tone.start();
  const tracks = [...canvas.captureStream(25).getVideoTracks(), ...out.stream.getAudioTracks()];
  const stream = new MediaStream(tracks);
  const recorder = new MediaRecorder(stream, { mimeType: "video/webm;codecs=vp8,opus" });
  const parts = [];
  recorder.ondataavailable = (event) => parts.push(event.data);
  const done = new Promise((resolve) => { recorder.onstop = resolve; });
  recorder.start(250);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  recorder.stop();
  await done;
  clearInterval(ticking);
  await sound.close();
  return new Uint8Array(await new Blob(parts).arrayBuffer()).toBase64();
}"""


@pytest.fixture(scope="module")
def recorded(browser) -> corpus.Sample:
    """What Chromium's MediaRecorder writes: a live WebM (Segment and Clusters of unknown size, no
    Cues, no duration) whose MuxingApp and WritingApp name the browser."""
    page = browser.new_page()
    try:
        data = base64.b64decode(page.evaluate(RECORD))
    finally:
        page.close()
    return corpus.Sample("webm-mediarecorder", "video-note.webm", data, "video/webm", "video",
                         {"software": (b"Chrome",)})  # fmt: skip


@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
def test_a_video_recorded_by_the_browser_is_cleaned_on_both_paths(browser, served, recorded, javascript):
    context, page = report_page(browser, served[0], javascript)
    try:
        choose(page, recorded)
        send(page)
    finally:
        context.close()
    doc, (attachment,) = last_report(served[1])
    assert_cleaned(recorded, doc, attachment, by="browser" if javascript else "server")


def broken_video() -> corpus.Sample:
    return corpus.Sample("broken-mov", "IMG_0009.MOV", corpus.truncated_moov(), "video/quicktime", "video",
                         {"place": (corpus.PLACE,)})  # fmt: skip


def test_with_javascript_a_video_that_cannot_be_cleaned_is_not_sent_unless_kept(with_js, served):
    broken, before = broken_video(), stored_blobs(served[1])
    choose(with_js, broken)
    with_js.wait_for_selector("text=hidden data cannot be removed on this device")
    with_js.get_by_label("Drug dealing").check()
    with_js.fill("#what", "filmed from my window")
    with_js.click("#send")
    with_js.wait_for_selector("#send-error:not([hidden])")
    assert "cannot remove the hidden data" in with_js.inner_text("#send-error")
    assert stored_blobs(served[1]) == before
    keep_original(with_js)
    with_js.wait_for_selector("text=original data kept")
    with_js.click("#send")
    with_js.wait_for_selector("#receipt", timeout=60_000)
    doc, (attachment,) = last_report(served[1])
    assert attachment == broken.data and doc["attachments"][0]["metadata"] == "kept"


def test_without_javascript_a_video_that_cannot_be_cleaned_is_refused_by_name(without_js, served):
    broken, before = broken_video(), stored_blobs(served[1])
    choose(without_js, sample("jpeg-android"), broken)
    without_js.get_by_label("Drug dealing").check()
    without_js.fill("#what", "filmed from my window")
    without_js.click("#send")
    error = without_js.inner_text("#files-error")
    assert "We cannot remove the hidden data from this file" in error and "IMG_0009.MOV" in error
    assert stored_blobs(served[1]) == before
