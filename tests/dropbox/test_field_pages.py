"""The reporter in the field, no-JS path (issue 11): a reload or a double tap files once, the receipt
can be kept (a file, the last group typed back), and the case page shows status and replies after an
addition too. SQLite and PostgreSQL alike (the `app` fixture runs on both)."""

import html as html_lib
import io
import json
import re
import threading
import time

from sqlalchemy import func, select

import crypto
from crypto import Receipt
from dropbox import db, intake, security
from dropbox.models import Case, Reply, Submission, SubmissionToken
from tests.helpers import extract


def _form_data(reporter, **fields):
    html = reporter.form()
    data = {"csrf_token": reporter.token(html), "category": reporter.category_id(html), "what": "Dealing",
            "where_mode": "none"}  # fmt: skip
    data.update(fields)
    return data


def _post(client, data):
    return client.post("/r/demo", data=dict(data), content_type="multipart/form-data")


def _count(app, model) -> int:
    with app.app_context():
        return db.session().scalar(select(func.count()).select_from(model))


def _value(html, name):
    return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)


def test_the_same_form_posted_again_files_once(app, client, reporter):
    data = _form_data(reporter)
    first = _post(client, data)
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    case_number = extract(first.get_data(as_text=True), "case-number")
    for _ in range(2):  # a reload, then back and resend
        again = _post(client, data)
        html = again.get_data(as_text=True)
        assert again.status_code == 200 and 'id="already-received"' in html
        assert extract(html, "case-number") == case_number
        assert 'id="receipt"' not in html  # the receipt is not kept: it cannot be shown again
    assert _count(app, Case) == 1 and _count(app, Submission) == 1
    # A new form (a new token) is a new report.
    assert extract(reporter.submit().get_data(as_text=True), "case-number") != case_number
    assert _count(app, Case) == 2


def test_a_form_with_errors_can_be_sent_again_once_fixed(app, client, reporter):
    data = _form_data(reporter, what="")
    assert _post(client, data).status_code == 400
    data["what"] = "Now described"
    assert 'id="receipt"' in _post(client, data).get_data(as_text=True)
    assert _count(app, Case) == 1


def test_two_posts_of_one_form_at_once_file_once(app, reporter):
    data = _form_data(reporter)
    start = threading.Barrier(2)
    pages: list[str] = []

    def post():
        client = app.test_client()
        start.wait()
        pages.append(_post(client, data).get_data(as_text=True))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(pages) == 2
    assert sorted('id="receipt"' in p for p in pages) == [False, True]
    assert sum('id="already-received"' in p for p in pages) == 1
    assert len({extract(p, "case-number") for p in pages}) == 1
    assert _count(app, Case) == 1 and _count(app, Submission) == 1 and _count(app, SubmissionToken) == 1


def test_the_database_keeps_only_a_keyed_hash_of_the_form_token(app, reporter):
    data = _form_data(reporter)
    _post(app.test_client(), data)
    with app.app_context():
        row = db.session().scalars(select(SubmissionToken)).one()
    assert len(row.token_hash) == 32 and data["csrf_token"].encode() not in row.token_hash


def test_old_form_tokens_are_swept(app, reporter):
    _post(app.test_client(), _form_data(reporter))
    with app.app_context():
        session = db.session()
        assert intake.sweep_form_tokens(session) == 0
        row = session.scalars(select(SubmissionToken)).one()
        row.created_day = row.created_day.replace(year=row.created_day.year - 1)
        session.commit()
        assert intake.sweep_form_tokens(session) == 1
    assert _count(app, Case) == 1


def _receipt_page(reporter):
    html = reporter.submit().get_data(as_text=True)
    return html, extract(html, "receipt"), extract(html, "case-number")


def test_the_receipt_is_saved_as_a_file_without_travelling_in_the_clear(client, reporter):
    html, receipt, case_number = _receipt_page(reporter)
    sealed = _value(html, "receipt_sealed")
    assert receipt not in sealed and receipt.replace("-", "") not in sealed
    form = {"csrf_token": _value(html, "csrf_token"), "receipt_sealed": sealed}
    saved = client.post("/r/demo/receipt", data=form)
    assert saved.status_code == 200 and saved.mimetype == "text/plain"
    assert saved.headers["Content-Disposition"] == 'attachment; filename="receipt.txt"'
    assert saved.headers["Cache-Control"] == "no-store"
    text = saved.get_data(as_text=True)
    assert receipt in text and case_number in text and "/r/demo/check" in text
    tampered = sealed[:-6] + ("AAAAAA" if not sealed.endswith("AAAAAA") else "BBBBBB")
    assert client.post("/r/demo/receipt", data={**form, "receipt_sealed": tampered}).status_code == 400
    assert client.post("/r/demo/receipt", data={**form, "csrf_token": "x"}).status_code == 400
    other_site = client.post("/r/demo/receipt", data=form, headers={"Sec-Fetch-Site": "cross-site"})
    assert other_site.status_code == 400


def test_a_receipt_page_left_open_too_long_says_the_report_was_received(client, reporter, monkeypatch):
    """Past the page's 4 hours, Save and Finish say the report is in and the code cannot be shown
    again; never the generic "send it again", which would file it twice."""
    html, receipt, _ = _receipt_page(reporter)
    form = {"csrf_token": _value(html, "csrf_token"), "receipt_sealed": _value(html, "receipt_sealed")}
    later = time.time() + security.CSRF_MAX_AGE + 60
    monkeypatch.setattr(security.time, "time", lambda: later)
    for path, extra in (("/r/demo/receipt?lang=en", {}), ("/r/demo/done?lang=en", {"last_group": "ABCD"})):
        answer = client.post(path, data={**form, **extra})
        page = answer.get_data(as_text=True)
        assert answer.status_code == 400 and "Your report was received" in page
        assert receipt not in page and "send it again" not in page


def test_finish_asks_for_the_last_group_typed_back(client, reporter):
    html, receipt, case_number = _receipt_page(reporter)
    form = {"csrf_token": _value(html, "csrf_token"), "receipt_sealed": _value(html, "receipt_sealed")}
    wrong = client.post("/r/demo/done?lang=en", data={**form, "last_group": "ZZZZ"})
    page = wrong.get_data(as_text=True)
    assert wrong.status_code == 400 and 'aria-invalid="true"' in page
    # The receipt is shown again, so the reporter can look at it and try once more.
    assert extract(page, "receipt") == receipt and extract(page, "case-number") == case_number
    assert client.post("/r/demo/done", data={**form, "last_group": ""}).status_code == 400
    typed = " " + receipt.rsplit("-", 1)[1].lower() + " "
    right = client.post("/r/demo/done?lang=en", data={**form, "last_group": typed})
    assert right.status_code == 303 and right.headers["Location"].endswith("/r/demo/done?lang=en")
    assert receipt not in right.headers["Location"]
    done = client.get(right.headers["Location"]).get_data(as_text=True)
    assert 'id="shared-phone"' in done and 'id="quick-exit"' in done


def _reply(app, case_number, text, status=None):
    """An officer's answer, sealed to the reporter's reply key, as a reply bundle would bring it."""
    body = {"text": text, "day": "2026-12-01", **({"status": status} if status else {})}
    with app.app_context():
        session, store = db.session(), app.extensions["sealdrop.blobs"]
        case = session.scalars(select(Case).where(Case.number == case_number)).one()
        sealed = io.BytesIO()
        crypto.seal(io.BytesIO(json.dumps(body).encode()), sealed, [crypto.RecipientKey(case.reply_public)])
        with store.writer() as w:
            w.write(sealed.getvalue())
        session.add(Reply(case=case, blob_id=w.blob_id, size=len(sealed.getvalue())))
        session.commit()


def test_the_case_page_after_an_addition_keeps_status_and_replies(app, client, reporter):
    _, receipt, case_number = _receipt_page(reporter)
    _reply(app, case_number, "Thank you, we are looking into it.")
    _reply(app, case_number, "", status="forwarded")
    signed_in = reporter.check(receipt).get_data(as_text=True)
    access = _value(signed_in, "reply_access")
    assert receipt.replace("-", "") not in access and receipt not in signed_in

    def add(what, token):
        return client.post("/r/demo/add", data={"case_token": token, "reply_access": access, "what": what},
                           content_type="multipart/form-data")  # fmt: skip

    token = _value(signed_in, "case_token")
    for page in (signed_in, add("", token).get_data(as_text=True), add("More", token).get_data(as_text=True)):
        assert extract(page, "case-status") == "Forwarded to the police"
        assert "Thank you, we are looking into it." in page
        # The status-only reply reads as a change of status, not as an empty dated entry.
        assert "Status changed to: Forwarded to the police" in page
        assert '<p class="text"></p>' not in page
    # Sending the same addition again (a reload) adds nothing more.
    again = add("More", token).get_data(as_text=True)
    assert 'id="added"' in again and extract(again, "case-status") == "Forwarded to the police"
    with app.app_context():
        case = db.session().scalars(select(Case).where(Case.number == case_number)).one()
        assert len(case.submissions) == 2


def test_the_add_form_opens_replies_only_for_its_own_case(app, client, reporter):
    _, receipt, _ = _receipt_page(reporter)
    _, other_receipt, _ = _receipt_page(reporter)
    first = reporter.check(receipt).get_data(as_text=True)
    second = reporter.check(other_receipt).get_data(as_text=True)
    mixed = {"case_token": _value(first, "case_token"), "reply_access": _value(second, "reply_access"),
             "what": ""}  # fmt: skip
    page = client.post("/r/demo/add", data=mixed, content_type="multipart/form-data").get_data(as_text=True)
    assert 'id="case-status"' not in page  # the other case's sealed receipt does not open this one
    assert 'id="sign-in-again"' in page
    assert Receipt(receipt).code  # (the receipts themselves were valid)


def test_quick_exit_leads_to_an_empty_page_of_our_own(client, reporter):
    html = reporter.form()
    href = re.search(r'id="quick-exit" href="([^"]+)"', html).group(1)
    assert href == "/blank"
    blank = client.get(href)
    text = blank.get_data(as_text=True)
    assert blank.status_code == 200 and "<body></body>" in text and "script" not in text


def test_the_script_case_page_has_words_for_a_status_change(reporter):
    html = reporter.client.get("/r/demo/check?lang=en").get_data(as_text=True)
    data = json.loads(re.search(r'id="page-data">(.*?)</script>', html, re.S).group(1))
    assert data["messages"]["status_changed"] == "Status changed to: %(status)s"


def test_the_pages_tell_the_script_the_upload_piece_size(client, app):
    """upload.mjs sends pieces of the size the server takes (an operator may lower max_upload_piece)."""
    piece = app.config["SEALDROP"].max_upload_piece
    for path in ("/r/demo?lang=en", "/r/demo/check?lang=en"):
        html = client.get(path).get_data(as_text=True)
        data = json.loads(html_lib.unescape(re.search(r'id="page-data">(.*?)</script>', html, re.S).group(1)))
        assert data["piece"] == piece, path
