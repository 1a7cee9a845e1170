"""How many SQL statements each busy request costs (counted by SQLAlchemy's before_cursor_execute, so
the counts are exact, not timings), on SQLite and PostgreSQL; and that the report page's cache
(dropbox/pagecache.py) never outlives a change to what it shows, made by this process or any other, so
sealing with it is as fresh as reading the keys."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import event, select

import crypto
from dropbox import cli, config, create_app, db, intake, pagecache
from dropbox.models import Case, Desk, Officer
from tests.dropbox.conftest import Reporter
from tests.dropbox.test_api import Api, doc
from tests.helpers import REPO, extract, proof_of_work

# Upper bounds, as measured when these were written (tell the reason in the commit if one must grow).
REPORT_PAGE_CACHED = 1  # GET /r/<desk> while its cache entry is fresh: config_version read, tokens put in
REPORT_PAGE_COLD = (
    8  # the same on a cold cache: config_version, the desk, its categories, officers, places (+ sheets)
)
# Both reports: +1 for the desk's running total of stored bytes (intake.add_stored, one upsert), which
# lets "room" read one row per desk instead of summing every submission.
NO_JS_REPORT = 9  # POST /r/<desk>: config_version, the form token, room, the case and its rows
# PostgreSQL takes two advisory locks (db.lock_for_writing) where SQLite needs no statement for its lock.
JS_REPORT_WHOLE = {"sqlite": 18, "postgresql": 20}  # POST /api/<desk>/reports, one request with its envelope
UPLOAD_PIECE = 5  # PUT /api/<desk>/uploads/<id>?offset=k, a piece after the first
RECEIPT_SIGNIN = 4  # POST /r/<desk>/check, a case without replies


@pytest.fixture
def app(instance):
    # Budgets out of the way: this counts the database work of a report, not the refusals.
    roomy = {name: 10**6 for name in ("budget_reports_per_desk", "budget_reports_overall")}
    app = create_app(config.load(instance).with_overrides(**roomy))
    yield app
    app.extensions["sealdrop.engine"].dispose()


class Counter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def __len__(self) -> int:
        return len(self.statements)

    def __str__(self) -> str:
        return "\n".join(" ".join(s.split())[:160] for s in self.statements)


@contextlib.contextmanager
def counted(app) -> Iterator[Counter]:
    counter = Counter()

    def note(_conn, _cursor, statement, _params, _context, _many) -> None:
        counter.statements.append(statement)

    engine = app.extensions["sealdrop.engine"]
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_the_report_page_costs_one_statement_while_cached(app, client):
    assert client.get("/r/demo?lang=ru").status_code == 200  # fills the cache, renders the page in ru
    with counted(app) as n:
        assert client.get("/r/demo?lang=ru").status_code == 200
    assert len(n) <= REPORT_PAGE_CACHED, str(n)
    assert "config_version" in str(n)
    pagecache.for_app(app).clear()
    with counted(app) as n:
        assert client.get("/r/demo?lang=en").status_code == 200
    assert 0 < len(n) <= REPORT_PAGE_COLD, str(n)  # not one more per category


def form_fields(html: str) -> dict[str, str]:
    """What a browser without JavaScript posts from this report page."""
    reporter = Reporter(None)
    return {"csrf_token": reporter.token(html), "category": reporter.category_id(html), "lang": "en",
            "what": "Dealing behind the gym", "where_mode": "none"}  # fmt: skip


def test_a_no_js_report(app, client):
    reporter = Reporter(client)
    assert reporter.submit().status_code == 200  # the first one also runs the process's hourly sweep
    data = form_fields(reporter.form())
    with counted(app) as n:
        answer = client.post("/r/demo", data=data, content_type="multipart/form-data")
    assert answer.status_code == 200 and b'id="case-number"' in answer.data
    assert len(n) <= NO_JS_REPORT, str(n)


def whole_report(api: Api, challenge: dict | None = None) -> bytes:
    """A JS report in one request, solving `challenge` (else a fresh one from the API)."""
    envelope = crypto.seal_bytes(doc(), api.recipients(api.category))
    receipt = crypto.Receipt.generate()
    meta = json.dumps({
        "category": int(api.category), "sizes": [len(envelope)],
        "pow": proof_of_work(challenge or api.call("GET", "/challenge").json),
        "lookup_id": base64.b64encode(receipt.lookup_id).decode(),
        "reply_public": base64.b64encode(receipt.reply_recipient.public_bytes).decode(),
    }).encode()  # fmt: skip
    return len(meta).to_bytes(4, "big") + meta + envelope


def test_a_js_report_and_an_upload_piece(app, client):
    api = Api(client)
    assert api.call("POST", "/reports", whole_report(api)).status_code == 201  # the sweep, as above
    body = whole_report(api)
    with counted(app) as n:
        assert api.call("POST", "/reports", body).status_code == 201
    assert len(n) <= JS_REPORT_WHOLE[app.extensions["sealdrop.engine"].dialect.name], str(n)

    envelope = crypto.seal_bytes(b"x" * 3000, api.recipients(api.category))
    started = api.call("POST", "/uploads", {"size": len(envelope)}).json["id"]
    assert api.call("PUT", f"/uploads/{started}?offset=0", envelope[:1000]).status_code == 200
    with counted(app) as n:
        assert api.call("PUT", f"/uploads/{started}?offset=1000", envelope[1000:2000]).json == {
            "received": 2000
        }
    assert len(n) <= UPLOAD_PIECE, str(n)


def test_a_receipt_sign_in(app, client):
    reporter = Reporter(client)
    receipt = re.search(r'id="receipt"[^>]*>([^<]+)<', reporter.submit().get_data(as_text=True)).group(1)
    html = client.get("/r/demo/check").get_data(as_text=True)
    with counted(app) as n:
        answer = client.post("/r/demo/check", data={"csrf_token": reporter.token(html), "receipt": receipt})
    assert answer.status_code == 200
    assert len(n) <= RECEIPT_SIGNIN, str(n)


def test_a_page_rendered_once_carries_each_request_s_own_tokens(app, client):
    pages = [client.get("/r/demo?lang=en").get_data(as_text=True) for _ in range(3)]
    assert not any(marker in html for html in pages for marker in pagecache.MARKERS.values())
    forms = {Reporter(client).token(html) for html in pages}
    data = [json.loads(extract(html, "page-data")) for html in pages]
    assert (
        len(forms) == len({d["csrf"] for d in data}) == len({d["challenge"]["challenge"] for d in data}) == 3
    )
    # Each works: the page's own proof of work files a JS report, its form token a no-JS one.
    api = Api(client)
    api.csrf = data[0]["csrf"]
    assert api.call("POST", "/reports", whole_report(api, data[0]["challenge"])).status_code == 201
    answer = client.post("/r/demo", data=form_fields(pages[1]), content_type="multipart/form-data")
    assert answer.status_code == 200 and b'id="case-number"' in answer.data


def test_the_page_filled_in_is_the_page_rendered_whole(app, client):
    from jinja2.utils import htmlsafe_json_dumps

    from dropbox import reporter

    tokens = {
        "csrf": "form.token-1",
        "api_csrf": "api_token.2",
        "challenge": {"challenge": "c<1>", "work": 16},
    }
    for lang in ("en", "kk"):
        with app.test_request_context(f"/r/demo?lang={lang}"):
            page = pagecache.for_app(app).get(db.session(), "demo")
            whole = reporter._form_page(page, tokens=tokens)[0]
            once = pagecache.for_app(app).html(page, lang, lambda m: reporter._form_page(page, tokens=m)[0])
            challenge = htmlsafe_json_dumps(tokens["challenge"], dumps=app.json.dumps)
            assert pagecache.fill(once, tokens["csrf"], tokens["api_csrf"], challenge) == whole
            assert pagecache.fill(once, "<script>", tokens["api_csrf"], challenge) is None  # never unescaped


# --- the cache never outlives a change ------------------------------------------------------------


def page_keys(client) -> set[str]:
    """Every recipient key (hex) the report page hands the browser, over all categories."""
    html = client.get("/r/demo?lang=en").get_data(as_text=True)
    keys = json.loads(re.search(r'id="recipient-keys">(.*?)</script>', html, re.S).group(1))
    return {key for per_category in keys.values() for key in per_category}


def add_confirmed_officer(app, name: str) -> tuple[int, str]:
    """A second confirmed key on desk demo, registered as the CLI and the admin page do
    (Officer.for_key), in `app`'s process; its number and public key (hex)."""
    with app.app_context():
        session = db.session()
        desk = session.scalar(select(Desk).where(Desk.slug == "demo"))
        key = crypto.Identity.generate().public_key
        officer = Officer.for_key(desk, name, key, confirmed=True)
        session.add(officer)
        session.commit()
        return officer.id, key.recipient.public_bytes.hex()


def sealdrop_in_another_process(instance, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "dropbox.cli", *args, "--dir", str(instance)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr


def sealed_to(app, case_number: str) -> set[str]:
    """The key ids (hex) the case's report envelope is sealed to, read from its header."""
    with app.app_context():
        case = db.session().scalar(select(Case).where(Case.number == case_number))
        with intake.open_part(app.extensions["sealdrop.blobs"], case.submissions[0].parts[0]) as f:
            return {key_id.hex() for key_id in crypto.recipient_key_ids(f)}


def key_id(public_hex: str) -> str:
    return crypto.RecipientKey(bytes.fromhex(public_hex)).key_id.hex()


def test_a_change_committed_in_this_process_reaches_the_page_at_once(instance, app, client):
    """The desk admin pages and the CLI's commands commit in the serving process: the database moves
    config_version in the same transaction, so the cache is stale at once however long its TTL."""
    pagecache.for_app(app).ttl = 3600.0
    before = page_keys(client)
    number, added = add_confirmed_officer(app, "Second reader")
    assert page_keys(client) == before | {added}
    assert cli.main(["officer", "retire", "--dir", str(instance), str(number)]) == 0
    assert page_keys(client) == before
    assert "Drug trade" not in client.get("/r/demo?lang=en").get_data(as_text=True)
    assert cli.main(["category", "edit", "--dir", str(instance), "--desk", "demo", "drugs",
                     "--name", "en=Drug trade"]) == 0  # fmt: skip
    assert "Drug trade" in client.get("/r/demo?lang=en").get_data(as_text=True)


def test_a_key_retired_by_another_process_is_never_shown_nor_sealed_to(instance, app, client):
    """Another process (the CLI while serve runs, another worker or instance) changes the keys: the
    next page already leaves the key out, and a no-JS form loaded before the change is sealed without
    it. A report the browser sealed to the old keys is refused, not filed."""
    pagecache.for_app(app).ttl = 3600.0  # the TTL plays no part: the database's number does
    number, added = add_confirmed_officer(app, "Second reader")
    api = Api(client)  # its page, with the key the browser will seal to
    html = Reporter(client).form()
    assert added in page_keys(client)
    sealdrop_in_another_process(instance, "officer", "retire", str(number))
    assert added not in page_keys(client)

    answer = client.post("/r/demo", data=form_fields(html), content_type="multipart/form-data")
    number_shown = re.search(r'id="case-number">([^<]+)<', answer.get_data(as_text=True)).group(1)
    keys = sealed_to(app, number_shown)
    assert key_id(added) not in keys and keys

    refused = api.call("POST", "/reports", whole_report(api))  # sealed in the browser to the old keys
    assert (refused.status_code, refused.json["error"]) == (400, "wrong_recipients")


def test_a_key_added_by_another_process_is_sealed_to_at_once(instance, app, client):
    """The other way round: a reader added elsewhere gets the very next no-JS report."""
    pagecache.for_app(app).ttl = 3600.0
    html = Reporter(client).form()
    before = page_keys(client)
    identity = crypto.Identity.generate()
    # As `add_confirmed_officer`, in a process of its own with its own engine (the rule that only an
    # officer's statement adds a reader is the CLI's, tested in test_keytrust; this is about the cache).
    script = (
        "import sys; from sqlalchemy import select; import crypto; from dropbox import config, db\n"
        "from dropbox.models import Desk, Officer\n"
        "session = db.standalone_session(config.load(sys.argv[1]).database_url)\n"
        "desk = session.scalar(select(Desk).where(Desk.slug == 'demo'))\n"
        "session.add(Officer.for_key(desk, 'Second', crypto.PublicKey.parse(sys.argv[2]), confirmed=True))\n"
        "session.commit()\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(instance), identity.public_key.encode()],
                          cwd=REPO, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    added = identity.public_key.recipient.public_bytes.hex()
    assert page_keys(client) == before | {added}
    answer = client.post("/r/demo", data=form_fields(html), content_type="multipart/form-data")
    number_shown = re.search(r'id="case-number">([^<]+)<', answer.get_data(as_text=True)).group(1)
    assert key_id(added) in sealed_to(app, number_shown)
