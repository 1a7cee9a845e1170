"""Working through a queue in sealview, in real Chromium with JavaScript on and off: the case page at a
laptop's 1366×768 (the report with its photos as thumbnails on the left, triage, reply and forward in
view on the right without scrolling), next and previous inside the inbox's filter with the keyboard's
access keys, bulk triage from the inbox, and forwarding to a police recipient chosen from the vault's
list. The UI has no script; the JavaScript-on run checks nothing depends on it being off either."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image, ImageDraw

from crypto import Identity
from tests.browser.test_accessibility import AXE, axe_problems
from tests.browser.viewer_pages import Viewer, running_viewer
from tests.chromium import all_loaded
from tests.viewer.bundles import Submission, listed, report_doc
from tests.viewer.conftest import PASSPHRASE, make_vault
from viewer import recipients

pytestmark = pytest.mark.browser
LAPTOP = {"width": 1366, "height": 768}
PHOTO_SIZES = [(1600, 1200), (1200, 1600), (2000, 1500), (800, 600), (1280, 720)]
# Everything the officer works with on a case, which must be on screen as the page opens.
CONTROLS = ["#set-checking", "#set-closed", "#duplicate-of", "#set-duplicate", "#note-text", "#reply-text",
            "#reply-status", "#send-reply", "#police-recipient", "#forward"]  # fmt: skip


def photo(seed: int, size: tuple[int, int]) -> bytes:
    """A photo-sized JPEG with shapes in it (a flat colour would compress to nothing)."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        box = [x, y, x + rng.randrange(20, size[0] // 3), y + rng.randrange(20, size[1] // 3)]
        draw.rectangle(box, fill=tuple(rng.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


LONG_TEXT = "\n\n".join(
    f"Day {d}: around {18 + d % 4}:30 a grey van without plates stopped behind the warehouse on "
    "Industrialna street again. Two men carried taped boxes from the van into the side door, the one "
    "with the broken lamp, and a third one waited at the corner watching the road. They left after "
    "about twenty minutes, towards the ring road. I took the photos from my kitchen window; the last "
    "one shows the van's side where the logo was painted over. The neighbours have seen it too."
    for d in range(1, 13)
)


def submissions() -> list[Submission]:
    photos = [photo(i, size) for i, size in enumerate(PHOTO_SIZES)]
    big = Submission(
        "QUEU-0001",
        report_doc(
            LONG_TEXT,
            category=("smuggling", "Smuggling"),
            where={"mode": "place", "place": "Bus station", "lat": 42.712, "lon": 23.321},
            attachments=[listed(p, f"IMG_{i:04d}.jpg", "image/jpeg") for i, p in enumerate(photos)],
        ),
        photos,
        received_day="2025-06-20",
    )
    subs = [big]
    for i in range(6):  # the noise queue: newest first, QNOI-0000 .. QNOI-0005
        subs.append(
            Submission(
                f"QNOI-{i:04d}",
                report_doc(f"Loud music every night, week {i}", category=("noise", "Noise")),
                received_day=f"2025-06-1{5 - i}",
            )
        )
    for i in range(5):
        subs.append(
            Submission(
                f"QGRA-{i:04d}",
                report_doc(f"Graffiti on the bridge, part {i}", category=("graffiti", "Graffiti")),
                received_day=f"2025-06-0{5 - i}",
            )
        )
    return subs


@pytest.fixture(scope="module", params=[True, False], ids=["js-on", "js-off"])
def served(request, tmp_path_factory):
    """A vault of its own for each run (the tests change states), one police recipient kept in it."""
    root = tmp_path_factory.mktemp("queue")
    vault, _, _ = make_vault(root / "vault", [submissions()])
    recipients.add(vault, Identity.generate().public_key, "Regional police")
    vault.close()
    with running_viewer(vault.path, PASSPHRASE) as url:
        yield url, request.param


@pytest.fixture
def ui(browser, served):
    url, javascript = served
    context = browser.new_context(java_script_enabled=javascript, viewport=LAPTOP)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    viewer = Viewer(page, url)
    viewer.sign_in()
    yield viewer
    context.close()
    asked = "status of 400 (BAD REQUEST)"  # the refusals some tests ask for
    assert [p for p in problems if not p.endswith(asked)] == []


def outside(box: dict | None) -> bool:
    return box is None or not (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= LAPTOP["width"]
        and box["y"] + box["height"] <= LAPTOP["height"]
    )


def test_the_case_page_shows_every_control_on_a_laptop_screen(ui, tmp_path):
    case = ui.inbox().open("QUEU-0001")
    assert case.photos_shown() == [1600, 1200, 1600, 800, 1280]  # re-encoded: at most 1,600 px
    case.page.screenshot(path=str(tmp_path / "case-1366x768.png"))
    assert (tmp_path / "case-1366x768.png").stat().st_size > 10_000
    case.page.screenshot(path=str(tmp_path / "case-whole.png"), full_page=True)  # to look at, by hand
    assert case.page.evaluate("window.scrollY") == 0
    boxes = {s: case.page.locator(s).bounding_box() for s in CONTROLS}
    assert [s for s, box in boxes.items() if outside(box)] == [], boxes
    # The photos are thumbnails, each a link to itself full size.
    thumbs = case.page.locator(".thumb img")
    assert thumbs.count() == len(PHOTO_SIZES)
    for thumb in thumbs.all():
        box = thumb.bounding_box()
        assert box["width"] <= 162 and box["height"] <= 122, box
    first = case.page.locator("a.thumb").first
    href = first.get_attribute("href")
    assert href.endswith("/image") and first.locator("img").get_attribute("src") == href
    # (Fetched, not opened: Chromium's own image page styles itself inline, which the CSP reports.)
    full = case.page.request.get(ui.base + href)
    assert full.ok and full.headers["content-type"] == "image/jpeg"
    # The report's text is all there, scrolling inside its own box.
    ui.case("QUEU-0001")
    assert case.page.inner_text(".text.what").startswith("Day 1: around")
    assert "Day 12:" in case.page.inner_text(".text.what")


@pytest.fixture(scope="module")
def one_case_vault(tmp_path_factory):
    """The big case alone, for sealview opened in other languages (one sealview per vault at a time)."""
    vault, _, _ = make_vault(tmp_path_factory.mktemp("languages") / "vault", [submissions()[:1]])
    recipients.add(vault, Identity.generate().public_key, "Районна полиция")
    vault.close()
    return vault.path


@pytest.mark.parametrize("lang", ["bg", "ru", "kk"])
def test_the_controls_fit_in_every_language(browser, one_case_vault, tmp_path, lang):
    """Bulgarian, Russian and Kazakh words run longer than English ones: the controls still fit."""
    with running_viewer(one_case_vault, PASSPHRASE, lang=lang) as url:
        context = browser.new_context(java_script_enabled=False, viewport=LAPTOP)
        page = context.new_page()
        viewer = Viewer(page, url)
        viewer.sign_in()
        viewer.case("QUEU-0001")
        assert page.get_attribute("html", "lang") == lang
        page.screenshot(path=str(tmp_path / f"case-{lang}.png"))
        boxes = {s: page.locator(s).bounding_box() for s in CONTROLS}
        context.close()
    assert [s for s, box in boxes.items() if outside(box)] == [], boxes


def test_a_narrow_window_gets_one_column(ui):
    ui.page.set_viewport_size({"width": 700, "height": 900})
    case = ui.case("QUEU-0001")
    main, side = (
        case.page.locator(".case-main").bounding_box(),
        case.page.locator(".case-side").bounding_box(),
    )
    assert side["y"] >= main["y"] + main["height"] - 1  # below the report, not beside it
    assert side["x"] + side["width"] <= 700


def test_next_and_previous_stay_inside_the_filter(ui):
    inbox = ui.inbox().filter(category="noise")
    assert inbox.numbers() == [f"QNOI-{i:04d}" for i in range(6)]
    case = inbox.open("QNOI-0002")
    assert case.position == "3 of 6"
    case.next()
    assert (case.number, case.position) == ("QNOI-0003", "4 of 6")
    case.previous()
    case.previous()
    assert (case.number, case.position) == ("QNOI-0001", "2 of 6")
    case.previous()
    assert case.number == "QNOI-0000" and case.page.locator("#prev-case").count() == 0
    case.back_to_list()
    assert ui.page.eval_on_selector("#category", "s => s.value") == "noise"
    # The access keys: Alt+N and Alt+P, no script needed.
    case = ui.inbox(category="noise").open("QNOI-0004")
    case.press_key("n")
    assert (case.number, case.position) == ("QNOI-0005", "6 of 6")
    assert case.page.locator("#next-case").count() == 0
    case.press_key("p")
    assert case.number == "QNOI-0004"


def test_triage_from_the_state_buttons_and_their_keys(ui):
    """In the queue of new noise cases: a state set takes the case out of the filter, and Next goes on
    to the next new one."""
    case = ui.inbox(category="noise", status="new").open("QNOI-0000")
    assert case.position == "1 of 6" and case.reporter_sees.startswith("The reporter sees “Received”.")
    case.set_state("Credible")
    assert case.saved and case.state == "Credible"
    assert case.position == "not in this list now (5 in it)"
    assert "For this state they would see “Confirmed”" in case.reporter_sees
    assert case.page.eval_on_selector("#reply-status", "s => s.value") == "credible"  # derived
    assert case.page.get_attribute("#set-credible", "aria-pressed") == "true"
    case.press_key("n")  # the next new case, although this one has left the list
    assert (case.number, case.position) == ("QNOI-0001", "1 of 5")
    case.press_key("k")  # Checking
    assert case.saved and case.state == "Checking" and case.number == "QNOI-0001"
    # Enter in "duplicate of" marks the case a duplicate (not the first state button's state)
    case.page.fill("#duplicate-of", "qnoi-0000")
    with case.page.expect_navigation():
        case.page.press("#duplicate-of", "Enter")
    case.page.wait_for_load_state("domcontentloaded")
    assert case.state == "Duplicate of QNOI-0000"
    # The status the reporter sees follows the state unless the officer picks another.
    case.reply("We are looking into it.")
    assert case.replies() == ["We are looking into it."]
    assert "status shown: “Already reported”" in case.page.inner_text(".replies-history")  # opened
    assert case.history()[-1] == "reply: status shown: Already reported"
    assert case.reporter_sees.startswith("The reporter sees “Already reported”.")
    assert case.page.eval_on_selector("#reply-status", "s => s.value") == ""  # nothing new to tell


def test_then_open_the_next_case(ui):
    """Ticked once, "then open the next case" moves on after every state set, keys included."""
    case = ui.inbox(category="noise").open("QNOI-0002")
    case.page.check("#then-next")
    case.set_state("Not credible")
    assert (case.number, case.position) == ("QNOI-0003", "4 of 6")
    assert case.page.inner_text("#saved") == "Case QNOI-0002 saved; here is the next one."
    assert case.page.is_checked("#then-next")  # it stays ticked, from case to case
    case.press_key("c")  # Credible, and on
    assert case.number == "QNOI-0004" and ui.case("QNOI-0003").state == "Credible"
    last = ui.inbox(category="noise").open("QNOI-0005")
    last.page.check("#then-next")
    last.set_state("Checking")  # the last one: it stays
    assert last.number == "QNOI-0005" and last.state == "Checking" and last.page.is_checked("#then-next")


def test_bulk_triage_from_the_inbox(ui, tmp_path):
    inbox = ui.inbox(category="graffiti")
    assert inbox.count == "5 cases match the filters."
    inbox.tick("QGRA-0000", "QGRA-0001")
    inbox.page.screenshot(path=str(tmp_path / "inbox-1366x768.png"))  # to look at, by hand
    inbox.bulk(state="Credible", tell=True)
    assert inbox.bulk_done.startswith("2 cases set to Credible.")
    assert "2 statuses queued for the reporters." in inbox.bulk_done
    assert inbox.states() == ["Credible", "Credible", "New", "New", "New"]
    inbox.tick("QGRA-0003", "QGRA-0004")
    inbox.bulk(duplicate_of="QGRA-0002")
    assert inbox.bulk_done.startswith("2 cases set to Duplicate.")
    assert ui.case("QGRA-0004").state == "Duplicate of QGRA-0002"
    inbox = ui.inbox(category="graffiti")
    inbox.bulk(everything=True, close=True)
    assert inbox.bulk_done.startswith("5 cases set to Closed.")
    assert inbox.states() == ["Closed"] * 5
    inbox.bulk(everything=True, close=True)
    assert inbox.bulk_done.startswith("0 cases set to Closed. 5 were in that state already.")
    waiting = ui.replies().waiting()
    assert waiting.count("QGRA-0000") == 1 and "QGRA-0002" not in waiting
    # Nothing ticked: refused with a sentence, nothing changed.
    inbox = ui.inbox(category="noise")
    inbox.bulk(state="Closed")
    assert inbox.heading == "Not done" and "choose at least one case" in inbox.page.inner_text(
        "#error-message"
    )


def test_forward_to_a_police_recipient_from_the_list(ui, tmp_path):
    police = Identity.generate()
    pub = tmp_path / "district.pub"
    pub.write_text(police.public_key.to_file_text(comment="District police"))
    case = ui.case("QNOI-0005")
    assert case.recipients() == ["Regional police"]
    case.click_and_load("#add-police")
    ui.page.fill("#recipient-name", "District police")
    ui.page.set_input_files("#recipient-file", str(pub))
    case.click_and_load("#add-recipient")
    assert case.number == "QNOI-0005"  # back on the case, the new name in the list
    assert case.recipients() == ["District police", "Regional police"]
    case.forward_to("District police")
    assert case.state == "Forwarded"
    assert f"forwarded to District police ({police.fingerprint})" in case.page.inner_text(".forward-entry")
    ui.page.goto(ui.base + "/recipients")
    assert police.fingerprint in ui.page.inner_text("#recipients")
    # The same name for another key is refused: a name means one key.
    other = tmp_path / "other.pub"
    other.write_text(Identity.generate().public_key.to_file_text())
    ui.page.fill("#recipient-name", "district POLICE")
    ui.page.set_input_files("#recipient-file", str(other))
    case.click_and_load("#add-recipient")
    assert "already given to the key" in ui.page.inner_text("#error-message")


@pytest.mark.skipif(not AXE.exists(), reason="node_modules/axe-core is missing: run `make setup` (npm ci)")
def test_the_new_screens_pass_axe(browser, served):
    url, _ = served
    context = browser.new_context(bypass_csp=True, viewport=LAPTOP)  # only so axe can be injected
    page = context.new_page()
    viewer = Viewer(page, url)
    viewer.sign_in()
    problems = []
    for state, path in [
        ("case in a filtered queue", "/case/QUEU-0001?category=smuggling"),
        ("inbox with bulk triage", "/?category=noise"),
        ("police recipients", "/recipients?case=QUEU-0001"),
    ]:
        page.goto(url.split("/?")[0] + path)
        all_loaded(page.locator("img"))
        problems += axe_problems(page, True, state)
    context.close()
    assert problems == [], "\n".join(problems)
