"""The proof of work in Chromium (dropbox/pow.py, static/js/pow.mjs): the JS path files a report through
it, a report refused for a stale challenge (the desk got busier) is sent again with a fresh one and
nothing is lost, a busy desk (429) makes the page wait and go on by itself, and the worker's solution
at the real default level is one the server accepts (its time under 4x CPU throttling is printed,
for the operator guide's figures; not asserted)."""

import base64
import datetime as dt
import json
import re
import struct
import time
import urllib.request
from pathlib import Path

import pytest
from babel.dates import format_timedelta
from babel.support import Translations

import crypto
import dropbox
from dropbox import config
from dropbox import pow as proof
from tests.browser import test_accessibility as a11y
from tests.browser.test_field_js import count, fill, last_report, open_form, wait_for_receipt
from tests.helpers import demo_server, live_server, make_instance, proof_of_work


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with demo_server(tmp_path_factory.mktemp("pow")) as (base, instance, _):
        yield base, instance


@pytest.fixture
def context(browser):
    context = browser.new_context()
    yield context
    context.close()


def report_calls(page) -> list[dict]:
    """The meta of every one-request report call the page makes (its length-prefixed JSON)."""
    calls = []

    def seen(request):
        if request.method == "POST" and request.url.endswith("/api/demo/reports"):
            body = request.post_data_buffer
            calls.append(json.loads(body[4 : 4 + int.from_bytes(body[:4], "big")]))

    page.on("request", seen)
    return calls


def work_of(token: str) -> int:
    """The work a challenge asks for, read from its signed bytes (version, issued, work, ...)."""
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    return struct.unpack(">BQI", raw[:13])[2]


def test_the_js_path_files_a_report_through_the_proof_of_work(context, served):
    base, instance = served
    fetched = []
    context.on("request", lambda r: "/challenge" in r.url and fetched.append(r.url))
    page = open_form(context, base)
    calls = report_calls(page)
    cases = count(instance, "cases")
    fill(page, "solved on the phone")
    page.click("#send")
    wait_for_receipt(page)
    assert fetched == []  # the challenge came in the page: no round trip of its own
    assert count(instance, "cases") == cases + 1
    assert last_report(instance)[0]["what"] == "solved on the phone"
    (sent,) = calls
    challenge = proof.read(config.load(instance), "demo", sent["pow"]["challenge"])
    assert challenge is not None and len(sent["pow"]["nonces"]) == challenge.proofs == 4
    assert all(proof.proof_holds(challenge, n) for n in sent["pow"]["nonces"])


def file_directly(base: str, n: int) -> None:
    """`n` reports through the API from Python, each with its proof of work, as a busy evening would."""
    with urllib.request.urlopen(f"{base}/r/demo?lang=en") as r:
        html = r.read().decode()
    csrf = json.loads(re.search(r'id="page-data">(.*?)</script>', html, re.S)[1])["csrf"]
    keys = json.loads(re.search(r'id="recipient-keys">(.*?)</script>', html, re.S)[1])
    category = next(iter(keys))
    recipients = [crypto.RecipientKey(bytes.fromhex(h)) for h in keys[category]]
    for _ in range(n):
        request = urllib.request.Request(f"{base}/api/demo/challenge", headers={"X-Sealdrop-CSRF": csrf})
        with urllib.request.urlopen(request) as r:
            solution = proof_of_work(json.loads(r.read()))
        receipt = crypto.Receipt.generate()
        envelope = crypto.seal_bytes(b'{"format": "sealdrop-report/1", "what": "busy"}', recipients)
        meta = json.dumps({
            "category": int(category), "sizes": [len(envelope)], "pow": solution,
            "lookup_id": base64.b64encode(receipt.lookup_id).decode(),
            "reply_public": base64.b64encode(receipt.reply_recipient.public_bytes).decode(),
        }).encode()  # fmt: skip
        body = len(meta).to_bytes(4, "big") + meta + envelope
        headers = {"X-Sealdrop-CSRF": csrf, "Content-Type": "application/octet-stream"}
        post = urllib.request.Request(f"{base}/api/demo/reports", data=body, headers=headers, method="POST")
        with urllib.request.urlopen(post) as r:
            assert r.status == 201


def test_a_stale_challenge_is_solved_again_and_the_report_goes(context, tmp_path):
    """The page solved its challenge when the form opened; then the desk got busy and asks for twice the
    work. Send is refused as stale, the page solves a fresh, harder one and the same report goes."""
    with demo_server(tmp_path) as (base, instance, _):
        page = open_form(context, base)
        challenges = []
        page.on("request", lambda r: "/challenge" in r.url and challenges.append(r.url))
        calls = report_calls(page)
        fill(page, "sent on a busy evening")
        file_directly(base, config.load(instance).pow_reports_per_step)
        page.click("#send")
        wait_for_receipt(page)
        assert last_report(instance)[0]["what"] == "sent on a busy evening"
        assert [work_of(c["pow"]["challenge"]) for c in calls] == [16, 32]
        assert len(challenges) == 1  # the first came in the page's data; this is the fresh one


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, "busy"), (503, "uploads_full")],  # a spent report budget; full upload caps (uploads.UploadLimits)
)
def test_a_busy_server_makes_the_page_wait_as_told_and_go_on(context, served, status, error):
    """A refusal with retry_after is waited out with the busy line, not "waiting for the network", in
    the page's words; then the report goes on by itself."""
    base, instance = served
    page = open_form(context, base)
    refused = []

    def refuse_once(route):
        if not refused:
            refused.append(route.request.url)
            body = json.dumps({"error": error, "retry_after": 3})
            return route.fulfill(
                status=status, content_type="application/json", headers={"Retry-After": "3"}, body=body
            )
        return route.continue_()

    page.route("**/api/demo/reports", refuse_once)
    cases = count(instance, "cases")
    fill(page, f"sent after a short wait ({error})")
    page.click("#send")
    page.wait_for_selector("text=Many reports are arriving just now")
    assert "5 seconds" in page.inner_text("#progress-text")  # rounded up to five, in the page's words
    wait_for_receipt(page)
    assert refused and count(instance, "cases") == cases + 1
    assert last_report(instance)[0]["what"] == f"sent after a short wait ({error})"


def test_the_default_level_in_a_throttled_worker_is_accepted_by_the_server(context, served):
    base, instance = served
    cfg = config.Config(instance_dir=instance, database_url="")  # the real defaults, this instance's key
    challenge = proof.issue(cfg, "demo", cfg.pow_work).as_json(cfg.pow_max_age_s)
    page = open_form(context, base)
    cdp = context.new_cdp_session(page)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})  # a phone, as DevTools reckons one
    started = time.perf_counter()
    nonces = page.evaluate(
        """(challenge) => new Promise((resolve, reject) => {
            const worker = new Worker("/static/js/pow-worker.mjs", { type: "module" });
            worker.onmessage = ({ data }) => {
              if (data.nonces) resolve(data.nonces); else if (data.error) reject(new Error(data.error));
            };
            worker.postMessage(challenge);
        })""",
        challenge,
    )
    took = time.perf_counter() - started
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
    print(f"\npow default level (work {cfg.pow_work}, {cfg.pow_iterations} iterations): {took:.2f} s at 4x")
    sent = {"challenge": challenge["challenge"], "nonces": nonces}
    assert proof.refusal(cfg, "demo", sent, cfg.pow_work) is None
    assert (
        proof.refusal(cfg, "demo", {**sent, "nonces": [n + 1 for n in nonces]}, cfg.pow_work) == "pow_invalid"
    )


new_page = a11y.new_page  # the accessibility tests' fixture: a context with JS on or off, axe allowed


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """A demo instance whose budgets are all spent from the start (limits of 0), and whose store is
    full (a stored-bytes budget of 1), served."""
    root = tmp_path_factory.mktemp("full")
    (root / "tmp").mkdir()
    instance = make_instance(root / "instance")
    settings = json.loads((instance / "config.json").read_text())
    settings.update(budget_reports_per_desk=0, budget_signins_per_desk=0, max_stored_bytes_per_desk=1)
    (instance / "config.json").write_text(json.dumps(settings))
    with live_server(instance, root / "tmp") as (base, _):
        yield base, instance


@pytest.mark.parametrize("lang", ["en", "bg"])
def test_a_refused_nojs_report_comes_back_filled_focused_and_accessible(new_page, full, lang):
    base, instance = full
    page = new_page(False)
    page.goto(f"{base}/r/demo?lang={lang}")
    page.locator("input[name=category]").first.check()
    page.fill("#what", "A van unloads at night behind the school")
    page.click("#send")
    page.wait_for_selector("#busy")
    assert page.evaluate("document.activeElement.id") == "busy"  # read first (autofocus, no script)
    assert page.input_value("#what") == "A van unloads at night behind the school"
    assert page.get_attribute("html", "lang") == lang and count(instance, "cases") == 0
    assert not a11y.axe_problems(page, False, "report refused past the budget")


def test_a_refused_sign_in_is_told_to_wait_and_is_accessible(new_page, full):
    page = new_page(False)
    page.goto(f"{full[0]}/r/demo/check?lang=en")
    page.fill("#receipt-input", "ABCD-EFGH-JKMN-PQRS-TV12")
    page.click("#check-form button[type=submit]")
    page.wait_for_selector("#busy")
    assert "Please sign in again in about 10 minutes." in page.inner_text("#busy")
    assert not a11y.axe_problems(page, False, "sign-in refused past the budget")


@pytest.mark.parametrize("lang", ["en", "kk"])
def test_a_js_sign_in_past_the_budget_is_told_to_wait_in_its_language(new_page, full, lang):
    page = new_page(True)
    page.goto(f"{full[0]}/r/demo/check?lang={lang}")
    page.wait_for_selector("html[data-sealing=browser]", state="attached")
    page.fill("#receipt-input", crypto.Receipt.generate().grouped())
    page.click("#check-form button[type=submit]")
    page.wait_for_selector("#check-error:not([hidden])")
    shown = page.inner_text("#check-error")
    words = Translations.load(Path(dropbox.__file__).parent / "translations", [lang])  # the no-JS page's
    before_wait = words.gettext("Please sign in again in about %(wait)s.").split("%(wait)s")[0]
    assert shown.startswith(words.gettext("Many sign-ins just now")) and before_wait in shown, shown
    in_words = format_timedelta(dt.timedelta(seconds=600), threshold=1.5, locale=lang)  # as no-JS says it
    assert words.gettext("Please sign in again in about %(wait)s.") % {"wait": in_words} in shown
    assert page.evaluate("document.activeElement.id") == "check-error"
    assert not a11y.axe_problems(page, True, "JS sign-in refused past the budget")


@pytest.mark.parametrize("lang", ["en", "kk"])
def test_the_js_page_with_a_full_store_says_why_and_waits(new_page, full, lang):
    """Past its report budget a JS report is not refused (it pays the top level of work), but a full
    store makes it wait: in the page's language, the wait too, which the server says in words
    (Chromium's Intl has no Kazakh "minutes"), as the no-JS page does."""
    base, instance = full
    page = new_page(True)
    page.goto(f"{base}/r/demo?lang={lang}")
    page.wait_for_selector("html[data-sealing=browser]", state="attached")
    page.locator("input[name=category]").first.check()
    page.fill("#what", "waiting for the desk")
    page.click("#send")
    in_words = format_timedelta(dt.timedelta(seconds=3600), threshold=1.5, locale=lang)  # store_full
    page.wait_for_selector(f"#progress-text:has-text('{in_words}')")
    words = Translations.load(Path(dropbox.__file__).parent / "translations", [lang])
    busy = words.gettext(
        "Many reports are arriving just now. Keep this page open: yours is sent by itself in about "
        "%(left)s, and nothing you wrote is lost."
    )
    assert page.inner_text("#progress-text") == busy % {"left": in_words}
    assert page.locator("#send-error").is_hidden() and count(instance, "cases") == 0  # waiting, not failed
    assert not a11y.axe_problems(page, True, "JS page waiting for room in the store")
