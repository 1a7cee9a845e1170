"""sealview's UI in real Chromium, through `sealview open` in a child process: every screen, the officer's
work on a case, keyboard use, and axe-core on each screen. The flows run with JavaScript off: the UI
has no script of its own, and every page works without it."""

import io
import math
import struct
import wave

import pytest

import metadata
from crypto import Identity
from metadata._source import iter_pieces
from tests.browser.test_accessibility import AXE, axe_problems
from tests.browser.viewer_pages import (
    CasePage,
    InboxPage,
    Viewer,
    choose_with_arrows,
    running_viewer,
    tab_to,
)
from tests.helpers import jpeg_with_exif
from tests.viewer.bundles import Submission, listed, report_doc
from tests.viewer.conftest import PASSPHRASE, make_vault
from viewer import recipients

pytestmark = pytest.mark.browser
CORNER = (42.6931, 23.3219)
KEYBOARD_POLICE = Identity.generate()


def wav(seconds: float = 0.5, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(
            b"".join(struct.pack("<h", int(8000 * math.sin(i / 8))) for i in range(int(seconds * rate)))
        )
    return out.getvalue()


def submissions() -> list[Submission]:
    photo, voice = jpeg_with_exif("SpyPhone 9000", size=(640, 480)), wav()
    subs = [
        Submission(
            "MEDI-0001",
            report_doc(
                "Men unloading boxes at night",
                where={"mode": "place", "place": "Bus station", "lat": 42.712, "lon": 23.321},
                attachments=[
                    listed(photo, "boxes.jpg", "image/jpeg", "kept"),
                    listed(voice, "voice.wav", "audio/wav", "kept"),
                ],
            ),
            [photo, voice],
            received_day="2025-05-20",
        ),
        Submission(
            "PLAC-0001",
            report_doc(
                "Fight at the school gate",
                category=("hooliganism", "Fights"),
                where={"mode": "place", "place": "School No. 5", "lat": CORNER[0], "lon": CORNER[1]},
            ),
            received_day="2025-05-19",
        ),
    ]
    for i in range(5):
        subs.append(
            Submission(
                f"CORN-000{i}",
                report_doc(
                    f"Dealing at the corner, evening {i}",
                    where={
                        "mode": "device",
                        "lat": CORNER[0] + i * 0.0001,
                        "lon": CORNER[1],
                        "precision": "exact",
                    },
                ),
                received_day=f"2025-05-1{i}",
            )
        )
    subs += [
        Submission(
            f"OLD0-{i:04d}",
            report_doc(f"Older report {i}", category=("noise", "Noise")),
            received_day=f"2025-03-{1 + i % 28:02d}",
        )
        for i in range(55)
    ]
    return subs


@pytest.fixture(scope="module")
def viewer_url(tmp_path_factory):
    vault, _, _ = make_vault(tmp_path_factory.mktemp("ui") / "vault", [submissions()])
    recipients.add(vault, KEYBOARD_POLICE.public_key, "Keyboard police")
    vault.close()
    with running_viewer(vault.path, PASSPHRASE) as url:
        yield url


@pytest.fixture
def ui(browser, viewer_url):
    """A signed-in viewer in a fresh context with JavaScript off (the UI must not need it)."""
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    viewer = Viewer(page, viewer_url)
    viewer.sign_in()
    yield viewer
    context.close()
    expected = ("status of 400 (BAD REQUEST)", "status of 404 (NOT FOUND)")  # refusals some tests ask for
    assert [p for p in problems if not p.endswith(expected)] == []


def test_nothing_without_the_token_and_a_strict_cookie_with_it(browser, viewer_url):
    context = browser.new_context()
    page = context.new_page()
    base = viewer_url.split("/?")[0]
    response = page.goto(base + "/case/MEDI-0001")
    assert response.status == 403 and "open the address it printed" in page.inner_text("body")
    page.goto(viewer_url)
    assert page.url == base + "/" and "token" not in page.url  # the token leaves the address bar
    (cookie,) = context.cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == ("sealview", True, "Strict")
    assert page.goto(base + "/case/MEDI-0001").status == 200
    context.close()


def test_inbox_search_filters_and_pages(ui):
    inbox = ui.inbox()
    assert inbox.count == "62 cases." and inbox.page_of == "Page 1 of 2" and len(inbox.numbers()) == 50
    assert inbox.numbers()[0] == "MEDI-0001"  # newest first
    assert len(inbox.next_page().numbers()) == 12
    assert inbox.search("evening").count == "5 cases match the filters."
    assert inbox.clear().count == "62 cases."
    assert inbox.filter(category="hooliganism").numbers() == ["PLAC-0001"]
    inbox = ui.inbox().filter(photos="yes")
    assert inbox.numbers() == ["MEDI-0001"]
    inbox = ui.inbox().filter(since="2025-05-12", until="2025-05-14")
    assert inbox.numbers() == ["CORN-0004", "CORN-0003", "CORN-0002"]
    assert ui.inbox(since="12 May").page.inner_text("#filter-errors") == "since: a date is written YYYY-MM-DD"


def test_a_case_photo_audio_warnings_and_neighbours(ui):
    case = ui.inbox().open("MEDI-0001")
    assert case.number == "MEDI-0001" and case.state == "New"
    assert case.photos_shown() == [640]  # decoded: a JPEG that Pillow wrote
    warnings = " ".join(case.warnings())
    assert "The camera or phone is named in it: SpyPhone 9000" in warnings
    assert "The reporter chose to keep the original data." in warnings
    assert case.page.locator(".family-audio .metadata").count() == 0  # kept, but it holds nothing identifying
    assert case.page.get_attribute("audio", "src").endswith("/media")
    assert "landmark: Bus station" in case.page.inner_text(".where")
    corner = ui.case("CORN-0000")
    assert corner.page.locator("#nearby-list li").count() == 5
    assert "42.69310, 23.32190 (as exact as the phone knew)" in corner.page.inner_text(".where")


def test_audio_plays(browser, viewer_url):
    context = browser.new_context()  # media playback needs the browser's own machinery, not our script
    page = context.new_page()
    Viewer(page, viewer_url).sign_in()
    Viewer(page, viewer_url).case("MEDI-0001")
    duration = page.eval_on_selector(
        "audio",
        """a => new Promise((ok, no) => {
        if (a.readyState >= 1) return ok(a.duration);
        a.addEventListener('loadedmetadata', () => ok(a.duration));
        a.addEventListener('error', () => no(a.error.code));
        a.load(); })""",
    )
    assert 0.4 < duration < 0.6
    context.close()


RECORD_WEBM = """async () => {
    const canvas = document.createElement('canvas');
    canvas.width = 64; canvas.height = 48;
    document.body.append(canvas);
    const ctx = canvas.getContext('2d');
    const recorder = new MediaRecorder(canvas.captureStream(15), {mimeType: 'video/webm;codecs=vp8'});
    const parts = [];
    recorder.ondataavailable = (e) => parts.push(e.data);
    const done = new Promise((ok) => { recorder.onstop = ok; });
    recorder.start();
    for (let i = 0; i < 20; i++) {
        ctx.fillStyle = `rgb(${i * 12}, 80, ${255 - i * 12})`;
        ctx.fillRect(0, 0, 64, 48);
        await new Promise((ok) => setTimeout(ok, 60));
    }
    recorder.stop();
    await done;
    const bytes = new Uint8Array(await new Blob(parts).arrayBuffer());
    return Array.from(bytes);
}"""


def test_a_video_plays_through_range_requests(browser, tmp_path_factory):
    """A tiny WebM made by Chromium's own MediaRecorder (no ffmpeg here), imported as a reporter's
    video: the <video> on the case page loads and decodes it, asking with Range and getting 206."""
    maker = browser.new_context()
    page = maker.new_page()
    page.set_content("<!doctype html><title>recorder</title><body></body>")
    webm = bytes(page.evaluate(RECORD_WEBM))
    maker.close()
    assert webm[:4] == b"\x1a\x45\xdf\xa3" and len(webm) > 1000
    doc = report_doc("A short video", attachments=[listed(webm, "clip.webm", "video/webm", "kept")])
    vault, _, _ = make_vault(
        tmp_path_factory.mktemp("video") / "vault", [[Submission("VIDE-0001", doc, [webm])]]
    )
    vault.close()
    with running_viewer(vault.path, PASSPHRASE) as url:
        context = browser.new_context()
        page = context.new_page()
        answers = []
        page.on("response", lambda r: answers.append((r.status, r.headers)) if "/media" in r.url else None)
        Viewer(page, url).sign_in()
        Viewer(page, url).case("VIDE-0001")
        width = page.eval_on_selector(
            "video",
            """v => new Promise((ok, no) => {
            const ready = () => ok(v.videoWidth);
            if (v.readyState >= 2) return ready();
            v.addEventListener('loadeddata', ready);
            v.addEventListener('error', () => no('media error ' + v.error.code));
            v.preload = 'auto'; v.load(); })""",
        )
        context.close()
    assert width == 64
    assert answers and all(status in (200, 206) for status, _ in answers)
    partial = [h for status, h in answers if status == 206]
    assert partial and all(h["content-range"].endswith(f"/{len(webm)}") for h in partial), answers


def wav_with_info(fields: dict[bytes, bytes]) -> bytes:
    """wav() with a LIST/INFO chunk after its samples, as a recorder app writes one."""
    body = b"INFO" + b"".join(
        k + struct.pack("<I", len(v)) + v + b"\0" * (len(v) & 1) for k, v in fields.items()
    )
    plain = wav()
    riff = plain[12:] + b"LIST" + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(riff)) + b"WAVE" + riff


def test_the_officer_sees_what_got_through_with_javascript_on_and_off(browser, tmp_path_factory):
    """A photo whose GPS and maker the reporter chose to keep (a warning), a recording the report says
    was cleaned but still names someone, with markup in it (a warning that says it got through), a
    WebM from Chromium's own MediaRecorder kept as it is, which only names the browser (a quiet note),
    and the same WebM cleaned (nothing)."""
    maker = browser.new_context()
    page = maker.new_page()
    page.set_content("<!doctype html><title>recorder</title><body></body>")
    webm = bytes(page.evaluate(RECORD_WEBM))
    maker.close()
    photo = jpeg_with_exif("SpyPhone 9000")
    voice = wav_with_info({b"IART": b"Ivan <b>Petrov</b>", b"INAM": b"Behind the gym"})
    doc = report_doc(
        "Hidden data",
        attachments=[
            listed(photo, "p.jpg", "image/jpeg", "kept"),
            listed(voice, "v.wav", "audio/wav", "removed"),
            listed(webm, "clip.webm", "video/webm", "kept"),
            listed(clean_webm(webm), "clean.webm", "video/webm", "removed"),
        ],
    )
    vault, _, _ = make_vault(
        tmp_path_factory.mktemp("hidden") / "vault",
        [[Submission("HIDE-0001", doc, [photo, voice, webm, clean_webm(webm)])]],
    )
    vault.close()
    with running_viewer(vault.path, PASSPHRASE) as url:
        for javascript in (True, False):
            context = browser.new_context(java_script_enabled=javascript)
            page = context.new_page()
            Viewer(page, url).sign_in()
            case = Viewer(page, url).case("HIDE-0001")
            photo_box, voice_box = case.page.locator(".warning.metadata").all_inner_texts()
            assert "The reporter chose to keep the original data." in photo_box
            assert "The camera or phone is named in it: SpyPhone 9000" in photo_box
            assert "It records where it was taken: 42.69" in photo_box
            assert "yet it got through" in voice_box and "Ivan <b>Petrov</b>" in voice_box
            assert case.page.locator(".metadata b").count() == 0  # the stranger's markup stays text
            kept, cleaned = case.page.locator(".family-video").all()
            assert kept.locator(".warning").count() == 0 and cleaned.locator(".metadata").count() == 0
            assert kept.locator(".note.metadata").inner_text().endswith("The app that wrote it: Chrome")
            assert "2 attachments of this case still hold" in case.page.inner_text("#forward-warning")
            context.close()


def clean_webm(webm: bytes) -> bytes:
    """What the reporter's browser seals: the recording through the cleaner (metadata/matroska.py)."""
    source = metadata.BytesSource(webm)
    plan = metadata.plan_for(source, "matroska")
    return b"".join(bytes(p) for p in iter_pieces(source, plan.pieces))


def test_triage_note_reply_and_forward_by_hand(ui):
    case = ui.case("CORN-0001").set_state("Duplicate", duplicate_of="CORN-0000")
    assert case.saved and case.state == "Duplicate of CORN-0000"
    case = ui.case("CORN-0000").set_state("Checking")
    assert "Duplicates of this case" in case.page.inner_text(".facts") and case.state == "Checking"
    assert case.add_note("Asked the <b>caretaker</b>.").notes() == ["Asked the <b>caretaker</b>."]
    # The status the reporter will see comes from the state: "checking" is offered already.
    assert case.reply("Thank you, we are on it.").replies() == ["Thank you, we are on it."]
    police = Identity.generate()
    case.keep_recipient("District police", police.public_key.encode())  # kept once, chosen from the list
    case.forward_to("District police")
    assert case.state == "Forwarded" and "forwarded to District police" in case.page.inner_text(
        ".forward-entry"
    )
    assert case.history()[-4:] == [  # read back in the officer's words (the reporter's, for a status)
        "state: Checking",
        "note: 27 characters",
        "reply: status shown: Being checked",
        f"forwarded: to District police ({police.fingerprint})",
    ]
    assert "CORN-0000" in ui.dashboard().forwarded()
    case = ui.case("CORN-0000")
    with case.page.expect_download() as pdf:
        case.page.click("#pdf-link")
    assert pdf.value.suggested_filename == "case-CORN-0000.pdf"
    bad = ui.case("CORN-0002").set_state("Duplicate")
    assert bad.heading == "Not done" and "say which case" in bad.page.inner_text("#error-message")


def test_hotspots_dashboard_and_replies(ui):
    hot = ui.hotspots()
    assert "6" in hot.dots()  # five reports and the landmark report at one corner, drawn as one big circle
    assert sorted(hot.landmarks()) == ["Bus station", "Central park", "School No. 5"]  # the desk's
    assert hot.table()[0][0] == "6" and hot.table()[0][2].startswith("School No. 5")
    assert len(hot.list_biggest().numbers()) == 6
    dash = ui.dashboard()
    assert dash.table("by-category")["Noise"] == "55"
    assert dash.table("by-week")["2025-W21"] == "2"
    ui.case("MEDI-0001").reply("We have your photos.")
    replies = ui.replies()
    assert "MEDI-0001" in replies.waiting()
    assert replies.write_bundle().outbox()[0].startswith("replies-demo-")
    with replies.page.expect_download() as bundle:
        replies.page.locator("#outbox a").first.click()
    assert bundle.value.suggested_filename.endswith(".bundle")


def _focus(page) -> dict:
    return page.evaluate("""() => { const e = document.activeElement, s = getComputedStyle(e);
        return {tag: e.tagName.toLowerCase(), id: e.id, cls: e.className || '',
                outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2}; }""")


def test_keyboard_alone(browser, viewer_url):
    context = browser.new_context()
    page = context.new_page()
    viewer = Viewer(page, viewer_url)
    viewer.sign_in()
    page.keyboard.press("Tab")
    first = _focus(page)
    assert first["cls"] == "skip" and first["outline"]
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    stops = []
    for _ in range(40):
        page.keyboard.press("Tab")
        stops.append(_focus(page))
        if "case-link" in stops[-1]["cls"]:
            break
    ids = [s["id"] for s in stops]
    assert ids.index("q") < ids.index("category") < ids.index("apply") < len(stops) - 1
    assert all(s["outline"] for s in stops), [s for s in stops if not s["outline"]]
    page.keyboard.press("Enter")  # on the first case's link
    page.wait_for_url("**/case/MEDI-0001")
    tab_to(page, id="set-checking")  # on to the state buttons, past the report; press one
    page.keyboard.press("Enter")
    page.wait_for_url("**/case/MEDI-0001?done=triage*")
    page.wait_for_load_state("domcontentloaded")
    assert page.inner_text("#state") == "Checking"
    context.close()


def _keyboard_viewer(browser, viewer_url):
    context = browser.new_context()
    page = context.new_page()
    viewer = Viewer(page, viewer_url)
    viewer.sign_in()
    return context, page, viewer


def _enter_and_wait(page, url_glob: str) -> None:
    with page.expect_navigation(url=url_glob):
        page.keyboard.press("Enter")


def test_note_reply_and_forward_from_the_keyboard(browser, viewer_url):
    context, page, viewer = _keyboard_viewer(browser, viewer_url)
    viewer.case("CORN-0004")
    tab_to(page, id="note-text")
    page.keyboard.type("Seen from the bus stop, by keyboard.")
    tab_to(page, id="add-note")
    _enter_and_wait(page, "**/case/CORN-0004?done=*")
    case = CasePage(page, viewer.base)
    assert case.notes()[-1] == "Seen from the bus stop, by keyboard."

    tab_to(page, id="reply-text")
    page.keyboard.type("We read your report.")
    tab_to(page, id="reply-status")
    choose_with_arrows(page, "reply-status", "checking")
    tab_to(page, id="send-reply")
    _enter_and_wait(page, "**/case/CORN-0004?done=*")
    assert case.replies()[-1] == "We read your report."
    assert case.history()[-1] == "reply: status shown: Being checked"

    tab_to(page, id="police-recipient")  # the recipients kept in the vault (the fixture keeps one)
    choose_with_arrows(page, "police-recipient", KEYBOARD_POLICE.public_key.fingerprint)
    tab_to(page, id="forward")
    _enter_and_wait(page, "**/case/CORN-0004?done=*")
    assert case.state == "Forwarded" and "forwarded to Keyboard police" in page.inner_text(".forward-entry")
    context.close()


def test_hotspots_and_dashboard_from_the_keyboard(browser, viewer_url):
    context, page, viewer = _keyboard_viewer(browser, viewer_url)
    tab_to(page, text="Hotspots")
    _enter_and_wait(page, "**/hotspots")
    stops = tab_to(page, text="List the 6 cases")  # the table's biggest place, past the map's circles
    assert any("dot" in s["cls"] for s in stops)  # each circle on the map is a link the focus reaches
    _enter_and_wait(page, "**/?near=*")
    assert len(InboxPage(page, viewer.base).numbers()) == 6

    tab_to(page, text="Dashboard")
    _enter_and_wait(page, "**/dashboard")
    tab_to(page, text="Checking")  # a state in the table of states: its cases
    _enter_and_wait(page, "**/?status=checking*")
    assert (
        page.locator("h1").inner_text() == "Inbox"
        and page.eval_on_selector("#status", "s => s.value") == "checking"
    )
    context.close()


@pytest.mark.skipif(not AXE.exists(), reason="node_modules/axe-core is missing: run `make setup` (npm ci)")
def test_every_screen_passes_axe(browser, viewer_url):
    context = browser.new_context(bypass_csp=True)  # only so axe can be injected; other tests keep the CSP
    page = context.new_page()
    viewer = Viewer(page, viewer_url)
    viewer.sign_in()
    problems = axe_problems(page, True, "inbox")
    for state, go in [
        ("inbox, filtered with errors", lambda: viewer.inbox(since="x", status="y", q="corner")),
        ("inbox, page 2", lambda: viewer.inbox(page=2)),
        ("case with photo and audio", lambda: viewer.case("MEDI-0001")),
        ("case nearby others", lambda: viewer.case("CORN-0003")),
        ("hotspots", viewer.hotspots),
        ("dashboard", viewer.dashboard),
        ("replies", viewer.replies),
        ("not found", lambda: viewer.case("NOPE-0000")),
    ]:
        go()
        problems += axe_problems(page, True, state)
    context.close()
    assert problems == [], "\n".join(problems)
