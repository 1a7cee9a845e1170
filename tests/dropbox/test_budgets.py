"""Budgets (dropbox/budget.py): reports on both paths and receipt sign-ins, per desk and overall, refused
past the limit with why and when in the reporter's language, the no-JS form filled in again, and open
again once the window has passed (an injected clock: no sleeping)."""

import base64
import datetime as dt
import io
import json
import logging
import re

import pytest
from flask_babel import force_locale, format_timedelta, gettext

import crypto
from dropbox import LIBRARY_NOISE, cli, config, create_app
from dropbox.budget import BUCKETS, Budgets, WindowCounter, describe_noise
from tests.desk_helpers import add_user, login
from tests.dropbox.conftest import Reporter
from tests.dropbox.test_api import Api
from tests.dropbox.test_pow import Clock, call, counts
from tests.helpers import live_server, proof_of_work

LIMITS = {"budget_reports_per_desk": 2, "budget_reports_overall": 3, "budget_signins_per_desk": 3,
          "budget_signins_overall": 100}  # fmt: skip


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def app(sqlite_instance, clock):
    app = create_app(config.load(sqlite_instance).with_overrides(**LIMITS))
    app.extensions["sealdrop.budgets"] = Budgets(app.config["SEALDROP"], clock=clock)
    yield app
    app.extensions["sealdrop.engine"].dispose()


@pytest.fixture
def reporter(app):
    return Reporter(app.test_client())


def busy_words(app, lang: str, msgid: str, seconds: int) -> str:
    """The sentence a refused reporter reads, as the catalogue of `lang` has it."""
    with app.test_request_context(f"/?lang={lang}"), force_locale(lang):
        wait = format_timedelta(dt.timedelta(seconds=seconds), threshold=1.5)
        return gettext(msgid, wait=wait)


REPORTS_MSG = "Nothing was stored yet. Please send again in about %(wait)s: what you typed is still below."
SIGNINS_MSG = "Please sign in again in about %(wait)s."


def test_the_window_counts_in_slices_and_says_when_it_frees():
    clock = Clock()
    counter = WindowCounter(600, clock)
    counter.add("demo")
    clock.now += 300
    counter.add("demo", 2)
    assert counter.count("demo") == 3 and counter.count("other") == 0
    assert counter.seconds_until_below("demo", 3) == pytest.approx(300, abs=600 / BUCKETS)
    assert counter.seconds_until_below("demo", 2) == pytest.approx(600, abs=600 / BUCKETS)
    assert counter.seconds_until_below("demo", 4) == 0
    clock.now += 600
    assert counter.count("demo") == 0


@pytest.mark.parametrize("lang", ["en", "bg", "ru", "kk"])
def test_nojs_reports_past_the_desk_budget_are_refused_in_the_reporters_language(app, reporter, clock, lang):
    for _ in range(2):
        assert reporter.submit().status_code == 200
    cases = counts(app)[0]
    html, category = reporter.form(lang), reporter.category_id(reporter.form())
    data = {"csrf_token": reporter.token(html), "category": category, "lang": lang,
            "what": "Dealing behind the gym, a blue car", "where_mode": "typed", "where_text": "Main st. 5",
            "files": [(io.BytesIO(b"\xff\xd8"), "photo.jpg", "image/jpeg")]}  # fmt: skip
    refused = reporter.client.post(f"/r/demo?lang={lang}", data=data, content_type="multipart/form-data")
    assert refused.status_code == 429 and counts(app)[0] == cases
    page = refused.get_data(as_text=True)
    assert f'lang="{lang}"' in page
    wait = app.extensions["sealdrop.budgets"].wait_s("forms", "demo")
    assert busy_words(app, lang, REPORTS_MSG, wait) in page
    assert "Dealing behind the gym, a blue car</textarea>" in page and 'value="Main st. 5"' in page
    assert 'id="busy"' in page
    if lang == "en":
        assert "Choose your photos, video or audio again" in page  # a file field cannot be filled again
    clock.now += app.config["SEALDROP"].budget_window_s  # the window has passed: open again
    assert reporter.submit().status_code == 200 and counts(app)[0] == cases + 1


def solved(api) -> dict:
    return proof_of_work(api.call("GET", "/challenge").json)


def test_the_budgets_cover_every_desk_and_keep_the_paths_apart(app, reporter, clock):
    """Per desk (2) and overall (3), each path on its own: a flood of no-JS forms, which cost a bot
    little, does not use up what the JS path's reporters paid for with their work."""
    api, other = Api(reporter.client), Reporter(reporter.client, "demo-internal")
    corruption = "Corruption, including by police officers"
    assert [reporter.submit().status_code for _ in range(3)] == [200, 200, 429]  # the demo desk's 2
    assert other.submit(category=corruption).status_code == 200  # the third form overall
    assert other.submit(category=corruption).status_code == 429
    cases = counts(app)[0]
    assert [call(api, solved(api)).status_code for _ in range(2)] == [201, 201]  # not used up by the forms
    clock.now += 600  # a window later, the no-JS path is open again
    assert reporter.submit().status_code == 200 and counts(app)[0] == cases + 3


def test_past_the_budget_a_js_report_pays_the_top_level_and_is_never_locked_out(app, reporter, clock):
    """The JS path's budget is not a wall: past it the proof of work is at its top level, so a flood
    that pays is rationed by its own CPU, and an honest reporter pays more instead of being refused."""
    api, cfg = Api(reporter.client), app.config["SEALDROP"]
    top = cfg.pow_work << cfg.pow_max_steps
    early = solved(api)  # solved while the desk was quiet, as a page does when it opens
    cases = counts(app)[0]
    assert [call(api, solved(api)).status_code for _ in range(2)] == [201, 201]  # the desk's budget of 2
    challenge = api.call("GET", "/challenge").json
    assert challenge["work"] == top
    stale = call(api, early)
    assert (stale.status_code, stale.json["error"]) == (403, "pow_stale")  # solve again, at the top
    assert call(api, proof_of_work(challenge)).status_code == 201
    assert counts(app)[0] == cases + 3  # nothing refused for being many
    clock.now += 600  # a quiet window later, back to the normal level
    assert api.call("GET", "/challenge").json["work"] == cfg.pow_work


@pytest.mark.parametrize("lang", ["en", "bg", "ru", "kk"])
def test_receipt_sign_ins_past_the_budget_wait_and_come_back(app, reporter, clock, lang):
    guesses = [reporter.check(crypto.Receipt.generate().grouped()) for _ in range(3)]
    assert [g.status_code for g in guesses] == [400, 400, 400]  # unknown receipts, each one tried
    html = reporter.client.get(f"/r/demo/check?lang={lang}").get_data(as_text=True)
    refused = reporter.client.post(
        f"/r/demo/check?lang={lang}", data={"csrf_token": reporter.token(html), "receipt": "X" * 20}
    )
    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert (
        busy_words(app, lang, SIGNINS_MSG, app.extensions["sealdrop.budgets"].wait_s("signins", "demo"))
        in page
    )
    assert 'name="receipt"' in page  # the form is there to try again
    clock.now += 600
    assert reporter.check(crypto.Receipt.generate().grouped()).status_code == 400  # tried again, not refused


def test_js_receipt_sign_ins_share_the_budget_and_are_told_when(app, reporter, clock):
    """POST /api/<desk>/case costs a sign-in as the no-JS form does: past the budget, 429 with
    retry_after and nothing looked up; a window later it answers again."""
    api = Api(reporter.client)

    def sign_in():
        lookup = base64.b64encode(crypto.Receipt.generate().lookup_id).decode()
        return api.call("POST", "/case?lang=ru", {"lookup_id": lookup})

    assert reporter.check(crypto.Receipt.generate().grouped()).status_code == 400  # the no-JS form's try
    assert [sign_in().status_code for _ in range(2)] == [404, 404]
    refused = sign_in()
    wait = app.extensions["sealdrop.budgets"].wait_s("signins", "demo")
    assert refused.status_code == 429 and wait > 0
    in_words = busy_words(app, "ru", "%(wait)s", wait)  # the page's language, as the no-JS page says it
    assert refused.json == {"error": "busy", "retry_after": wait, "wait": in_words}
    assert refused.headers["Retry-After"] == str(wait)
    assert reporter.check(crypto.Receipt.generate().grouped()).status_code == 429  # one budget, both paths
    clock.now += 600
    assert sign_in().status_code == 404


def test_the_desk_admin_page_shows_the_budgets_and_recent_counts(app, reporter, sqlite_instance):
    assert reporter.submit().status_code == 200
    assert reporter.check(crypto.Receipt.generate().grouped()).status_code == 400
    admin = app.test_client()
    name, secret = add_user(sqlite_instance, "admin")
    assert login(admin, name, secret).status_code == 303
    page = admin.get("/desk/admin/desks/demo").get_data(as_text=True)
    section = page[page.index('id="budgets"') :]
    cells = re.findall(r"<td>([^<]*)</td>", section)
    # desk, overall: JS reports, no-JS reports, sign-ins; then the demo's proof of work, not raised
    assert cells[:6] == ["0 / 2", "0 / 3", "1 / 2", "1 / 3", "1 / 3", "1 / 100"]
    assert cells[6].strip() == "16"


def test_sealdrop_budgets_prints_the_limits_and_a_running_serves_counts(sqlite_instance, tmp_path, capsys):
    assert cli.main(["budgets", "--dir", str(sqlite_instance)]) == 0
    shown = capsys.readouterr().out
    assert "Reports, with and without JavaScript (each): 120 per desk, 600 overall" in shown
    assert "Counts: sealdrop serve is not running" in shown
    with live_server(sqlite_instance, tmp_path):
        snapshot = sqlite_instance / "budgets.json"
        assert snapshot.is_file() and snapshot.stat().st_mode & 0o077 == 0  # the service user's only
        assert cli.main(["budgets", "--dir", str(sqlite_instance)]) == 0
        assert "  all desks: 0 reports with JavaScript, 0 without, 0 sign-ins" in capsys.readouterr().out
        assert cli.main(["budgets", "--dir", str(sqlite_instance), "--json"]) == 0
        serving = json.loads(capsys.readouterr().out)["serving"]
        assert serving["counts"]["*"] == {"reports": 0, "forms": 0, "signins": 0}


def odd_photo_noise() -> tuple[tuple[str, str], int]:
    """A warning from Pillow's logger, as an odd photo makes: counted (dropbox.silence_libraries), not
    written out. Returns its key in LIBRARY_NOISE and the count now."""
    logging.getLogger("PIL.TiffImagePlugin").warning("Possibly corrupt EXIF data")
    key = ("PIL.TiffImagePlugin", "WARNING")
    return key, LIBRARY_NOISE[key]


def test_the_desk_admin_page_shows_what_libraries_said(app, sqlite_instance):
    _, count = odd_photo_noise()
    admin = app.test_client()
    name, secret = add_user(sqlite_instance, "admin")
    assert login(admin, name, secret).status_code == 303
    page = admin.get("/desk/admin/desks/demo").get_data(as_text=True)
    noise = page[page.index('id="library-noise"') :]
    assert f"<tr><td>PIL.TiffImagePlugin</td><td>WARNING</td><td>{count}</td></tr>" in noise
    assert "Possibly corrupt" not in page  # how many, never what or when


def test_sealdrop_budgets_prints_what_a_running_serves_libraries_said(sqlite_instance, capsys):
    _, count = odd_photo_noise()
    cfg = config.load(sqlite_instance)
    snapshot = Budgets(cfg).snapshot()  # what serve writes to DIR/budgets.json every 30 s
    (sqlite_instance / "budgets.json").write_text(json.dumps(snapshot))
    assert cli.main(["budgets", "--dir", str(sqlite_instance)]) == 0
    shown = capsys.readouterr().out
    assert "Library warnings and log records since serve started (counts only" in shown
    assert f"  PIL.TiffImagePlugin WARNING: {count}\n" in shown
    assert cli.main(["budgets", "--dir", str(sqlite_instance), "--json"]) == 0
    noise = json.loads(capsys.readouterr().out)["serving"]["library_noise"]
    assert {"source": "PIL.TiffImagePlugin", "level": "WARNING", "count": count} in noise
    assert describe_noise([]) == ["Library warnings and log records since serve started: none"]


@pytest.mark.parametrize("lang", ["en", "bg", "ru", "kk"])
def test_the_js_page_gets_its_busy_words_in_the_reporters_language(app, reporter, lang):
    """The JS path's why and when travel with the challenge, in the page's language (`?lang=`)."""
    words = Api(reporter.client).call("GET", f"/challenge?lang={lang}").json["messages"]
    with app.test_request_context(f"/?lang={lang}"), force_locale(lang):
        busy = gettext(
            "Many reports are arriving just now. Keep this page open: yours is sent by itself in about "
            "%(left)s, and nothing you wrote is lost.",
            left="{left}",
        )
        assert words == {"getting_ready": gettext("Getting ready to send…"), "busy": busy}


@pytest.mark.parametrize("shared", [False, True], ids=["one-process", "shared"])
def test_posts_arriving_at_once_never_pass_more_than_the_limit(sqlite_instance, shared):
    """`take` checks and counts in one step: 16 threads racing for 3 places get 3, however the
    threads interleave (a check, then a count after the work, let every racer through)."""
    import threading

    from dropbox.budget import shared_counters

    cfg = config.load(sqlite_instance).with_overrides(budget_reports_per_desk=3)
    budgets = Budgets(cfg, counters=shared_counters(cfg.budget_window_s) if shared else None)
    start, waits = threading.Barrier(16), []

    def racer() -> None:
        start.wait()
        waits.append(budgets.take("forms", "demo"))

    racers = [threading.Thread(target=racer) for _ in range(16)]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    assert len(waits) == 16 and waits.count(0) == 3  # the other 13 are told how long to wait
    assert budgets.counters["forms"].count("demo") == 3 and budgets.counters["forms"].count("*") == 3
