"""The reporter in the field, in real Chromium with JavaScript off and on (issue 11): a reload after the
receipt files nothing, the form reads as steps whose sub-fields appear when chosen, the quick exit,
the receipt saved as a file and printed, and Finish only once the last group is typed back."""

import io
import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select

import crypto
from crypto import Receipt
from dropbox import config, create_app, db
from dropbox.models import Case, Reply
from tests.browser.test_accessibility import axe_problems
from tests.helpers import demo_server

pytestmark = pytest.mark.browser
JS = pytest.mark.parametrize("javascript", [False, True], ids=["js-off", "js-on"])


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with demo_server(tmp_path_factory.mktemp("field")) as (base, instance, _):
        yield base, instance


@pytest.fixture
def open_page(browser, served):
    contexts = []

    def make(javascript: bool, path: str = "/r/demo?lang=en"):
        context = browser.new_context(java_script_enabled=javascript, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.goto(served[0] + path)
        if javascript and path.startswith("/r/demo?"):
            page.wait_for_selector("html[data-sealing=browser]", state="attached")
        return page

    yield make
    for context in contexts:
        context.close()


def cases(instance) -> int:
    with sqlite3.connect(instance / "sealdrop.db") as db:
        return db.execute("select count(*) from cases").fetchone()[0]


def send_report(page):
    page.get_by_label("Drug dealing").check()
    page.fill("#what", "Someone sells pills behind the gym")
    page.click("#send")
    page.wait_for_selector("#receipt", timeout=60_000)
    return page.inner_text("#receipt"), page.inner_text("#case-number")


@JS
def test_a_reload_after_the_receipt_files_nothing(open_page, served, javascript):
    page = open_page(javascript)
    before = cases(served[1])
    _receipt, case_number = send_report(page)
    assert cases(served[1]) == before + 1
    if javascript:  # leaving the receipt before it is kept asks first; staying keeps it on screen
        with page.expect_event("dialog") as asked:
            page.evaluate("setTimeout(() => location.reload())")
        assert asked.value.type == "beforeunload"
        asked.value.dismiss()
        assert page.inner_text("#case-number") == case_number
        page.once("dialog", lambda dialog: dialog.accept())
    page.reload()  # without JS: the browser posts the same form again; with JS: the form page again
    if javascript:
        page.wait_for_selector("#report-form")
    else:
        page.wait_for_selector("#already-received")
        assert page.inner_text("#case-number") == case_number
        assert page.locator("#receipt").count() == 0
    assert cases(served[1]) == before + 1


def test_a_double_tap_on_send_files_once(open_page, served):
    page = open_page(False)
    before = cases(served[1])
    page.get_by_label("Drug dealing").check()
    page.fill("#what", "Two taps")
    page.dblclick("#send")
    page.wait_for_selector("#receipt, #already-received")
    page.wait_for_load_state()
    assert page.locator("#case-number").count() == 1
    assert cases(served[1]) == before + 1


def _where_fields_shown(page) -> dict[str, bool]:
    return {name: page.is_visible(f"#{name}") for name in ("where_text", "where_place")}


@JS
def test_the_form_is_five_steps_and_a_choice_shows_its_own_fields(open_page, javascript):
    page = open_page(javascript)
    legends = page.locator("fieldset.step > legend .step-no").all_inner_texts()
    assert legends == ["1", "2", "3", "4", "5"]
    assert _where_fields_shown(page) == {"where_text": False, "where_place": False}
    page.get_by_label("I will type the place").check()
    assert _where_fields_shown(page) == {"where_text": True, "where_place": False}
    if page.locator("input[name=where_mode][value=place]").count():
        page.get_by_label("A place from the list").check()
        assert _where_fields_shown(page) == {"where_text": False, "where_place": True}
    page.get_by_label("I prefer not to say").check()
    assert _where_fields_shown(page) == {"where_text": False, "where_place": False}


@JS
def test_quick_exit_leaves_for_an_empty_page(open_page, served, javascript):
    page = open_page(javascript, "/r/demo/check?lang=en")
    page.goto(served[0] + "/r/demo?lang=en")
    page.fill("#what", "half written")
    page.click("#quick-exit")
    page.wait_for_url("**/blank")
    assert page.inner_text("body") == ""
    page.go_back()
    # With JS the report page's history entry was replaced: Back goes to the page before it.
    page.wait_for_load_state()
    assert page.url.endswith("/r/demo/check?lang=en" if javascript else "/r/demo?lang=en")


@JS
def test_the_receipt_is_kept_as_a_file_printed_and_typed_back(open_page, javascript):
    page = open_page(javascript)
    receipt, case_number = send_report(page)
    posted = []
    page.on("request", lambda r: posted.append(r.post_data_buffer or b"") if r.method == "POST" else None)
    with page.expect_download() as waiting:
        page.click("#save-receipt")
    saved = waiting.value
    assert saved.suggested_filename == "receipt.txt"
    text = Path(saved.path()).read_text(encoding="utf-8")
    assert receipt in text and case_number in text and "/r/demo/check" in text
    assert page.locator("#receipt").count() == 1  # still on the receipt

    assert page.is_visible("#copy-receipt") == javascript and page.is_visible("#print-receipt") == javascript
    page.emulate_media(media="print")
    assert page.is_visible("#receipt") and not page.is_visible("#finish-form")
    assert not page.is_visible("#quick-exit") and not page.is_visible("#save-receipt")
    page.emulate_media(media="screen")

    page.fill("#last-group", "ZZZZ" if receipt[-4:] != "ZZZZ" else "YYYY")
    page.click("#finish")
    page.wait_for_selector("#last-group-error:visible")
    assert page.inner_text("#receipt") == receipt  # shown again, to look at once more
    page.fill("#last-group", receipt.rsplit("-", 1)[1].lower())
    page.click("#finish")
    page.wait_for_selector("#shared-phone")
    assert Receipt(receipt) and receipt not in page.url
    # Without JS the forms carried the receipt back sealed; with JS nothing was posted at all.
    assert len(posted) == (0 if javascript else 3)
    spellings = (receipt.encode(), receipt.replace("-", "").encode())
    assert not [body for body in posted for s in spellings if s in body]


def test_the_copy_button_copies_the_code(browser, served):
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    try:
        page = context.new_page()
        page.goto(served[0] + "/r/demo?lang=en")
        page.wait_for_selector("html[data-sealing=browser]", state="attached")
        receipt, _ = send_report(page)
        page.click("#copy-receipt")
        page.wait_for_selector("#copy-status:not(:empty)")
        assert page.evaluate("navigator.clipboard.readText()") == receipt
    finally:
        context.close()


@JS
def test_quick_exit_from_the_receipt_asks_nothing(open_page, javascript):
    page = open_page(javascript)
    send_report(page)
    asked = []
    page.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))
    page.click("#quick-exit")
    page.wait_for_url("**/blank")
    assert asked == []


def _add_reply(instance, case_number: str, body: dict) -> None:
    """An officer's answer sealed to the reporter, stored as a reply bundle would store it."""
    app = create_app(config.load(instance))
    try:
        with app.app_context():
            session, store = db.session(), app.extensions["sealdrop.blobs"]
            case = session.scalars(select(Case).where(Case.number == case_number)).one()
            sealed = io.BytesIO()
            to_reporter = [crypto.RecipientKey(case.reply_public)]
            crypto.seal(io.BytesIO(json.dumps(body).encode()), sealed, to_reporter)
            with store.writer() as w:
                w.write(sealed.getvalue())
            session.add(Reply(case=case, blob_id=w.blob_id, size=len(sealed.getvalue())))
            session.commit()
    finally:
        app.extensions["sealdrop.engine"].dispose()


def test_new_pages_pass_axe_without_javascript(open_page, served):
    """The pages this issue added, as a reporter with JavaScript off sees them."""
    page = open_page(False)
    receipt, case_number = send_report(page)
    page.reload()
    page.wait_for_selector("#already-received")
    problems = axe_problems(page, False, "already received")
    _add_reply(served[1], case_number, {"text": "We are looking into it.", "day": "2026-12-01"})
    _add_reply(served[1], case_number, {"text": "", "day": "2026-12-02", "status": "forwarded"})
    page.goto(served[0] + "/r/demo/check?lang=en")
    page.fill("#receipt-input", receipt)
    page.click("#check-form button[type=submit]")
    page.fill("#what", "One more thing")
    page.click("text=Add to my case")
    page.wait_for_selector("#added")
    # After the addition, the status and every reply are still there; the status change reads as one.
    assert page.inner_text("#case-status") == "Forwarded to the police"
    replies = page.locator("article.reply").all_inner_texts()
    assert replies[1].endswith("Status changed to: Forwarded to the police")
    problems += axe_problems(page, False, "case page after an addition")
    page.click("#quick-exit")
    page.wait_for_url("**/blank")
    problems += axe_problems(page, False, "blank")
    assert problems == []
