"""The proof of work on the JS path's report calls (dropbox/pow.py): a bot without a solution, with a
wrong, expired, stale or reused one gets a 4xx and no case; a solved report is filed once; the work
asked rises with the desk's recent reports and falls back when the window has passed."""

import base64
import json
import time

import pytest
from sqlalchemy import func, select

import crypto
from dropbox import config, create_app, db
from dropbox import pow as proof
from dropbox.budget import Budgets
from dropbox.models import Case, Upload
from tests.dropbox.test_api import Api, doc
from tests.helpers import proof_of_work


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def app(sqlite_instance, clock):
    app = create_app(config.load(sqlite_instance).with_overrides(pow_reports_per_step=2))
    app.extensions["sealdrop.budgets"] = Budgets(app.config["SEALDROP"], clock=clock)
    yield app
    app.extensions["sealdrop.engine"].dispose()


@pytest.fixture
def api(app):
    return Api(app.test_client())


def counts(app) -> tuple[int, int]:
    with app.app_context():
        session = db.session()
        return session.scalar(select(func.count(Case.id))), session.scalar(select(func.count(Upload.id)))


def call(api, solution, receipt=None):
    """A JSON report call with one sealed report and the given `pow` (left out when None)."""
    receipt = receipt or crypto.Receipt.generate()
    body = {
        "category": int(api.category),
        "parts": [api.upload(crypto.seal_bytes(doc(), api.recipients(api.category)))],
        "lookup_id": base64.b64encode(receipt.lookup_id).decode(),
        "reply_public": base64.b64encode(receipt.reply_recipient.public_bytes).decode(),
    }
    if solution is not None:
        body["pow"] = solution
    return api.call("POST", "/reports", body)


def whole(api, solution):
    """The one-request report (octet-stream) with the given `pow`, a new receipt and a new envelope."""
    envelope = crypto.seal_bytes(doc(), api.recipients(api.category))
    return whole_with(api, solution, crypto.Receipt.generate(), envelope)


def fresh(api) -> dict:
    answer = api.call("GET", "/challenge?lang=en")
    assert answer.status_code == 200
    return answer.json


def wrong_nonces(challenge: dict) -> dict:
    """Nonces that do not hold: as many as asked for, distinct, but not searched for."""
    found = proof.Challenge(challenge["challenge"], 0, challenge["work"], challenge["iterations"], 1)
    bad = [n for n in range(10_000) if not proof.proof_holds(found, n)][: challenge["proofs"]]
    return {"challenge": challenge["challenge"], "nonces": bad}


def test_the_challenge_carries_the_level_and_the_words(api, app):
    challenge = fresh(api)
    cfg = app.config["SEALDROP"]
    assert (challenge["work"], challenge["iterations"], challenge["proofs"]) == (16, cfg.pow_iterations, 4)
    assert challenge["expires_in"] == cfg.pow_max_age_s
    assert challenge["messages"]["getting_ready"] == "Getting ready to send…"
    assert "{left}" in challenge["messages"]["busy"]
    assert api.call("GET", "/challenge", csrf=False).status_code == 400  # the page's token, as every call


def test_a_solved_report_is_filed(api, app):
    before = counts(app)[0]
    answer = call(api, proof_of_work(fresh(api)))
    assert answer.status_code == 201
    assert counts(app)[0] == before + 1


@pytest.mark.parametrize("kind", ["missing", "not-an-object", "forged", "other-desk", "wrong", "too-few"])
def test_a_bot_without_a_valid_solution_files_nothing(api, app, kind):
    challenge = fresh(api)
    cfg = app.config["SEALDROP"]
    solution = {
        "missing": None,
        "not-an-object": "solved",
        "forged": {"challenge": challenge["challenge"][:-4] + "AAAA", "nonces": [0, 1, 2, 3]},
        "other-desk": proof_of_work(proof.issue(cfg, "demo-internal", 16).as_json(60)),
        "wrong": wrong_nonces(challenge),
        "too-few": {**proof_of_work(challenge), "nonces": proof_of_work(challenge)["nonces"][:3]},
    }[kind]
    cases = counts(app)[0]
    answer = call(api, solution)
    assert answer.status_code in (400, 403) and answer.json["error"] in ("pow_required", "pow_invalid")
    assert counts(app)[0] == cases


def test_a_challenge_has_one_spelling(app):
    """Base64 that decodes to the same bytes (other padding bits, stray characters) is not the same
    challenge: it would be spent under another hash."""
    cfg = app.config["SEALDROP"]
    with app.app_context():
        token = proof.issue(cfg, "demo", 16).token
        assert proof.read(cfg, "demo", token) is not None
        for other in (token + "=", token[:10] + "!" + token[10:], token[:-1] + chr(ord(token[-1]) ^ 1)):
            assert proof.read(cfg, "demo", other) is None


def test_an_expired_solution_files_nothing(api, app):
    cfg = app.config["SEALDROP"]
    with app.test_request_context():
        old = proof.issue(cfg, "demo", 16, now=time.time() - cfg.pow_max_age_s - 5).as_json(60)
    cases = counts(app)[0]
    answer = call(api, proof_of_work(old))
    assert (answer.status_code, answer.json["error"]) == (403, "pow_expired")
    assert counts(app)[0] == cases


def test_a_solution_files_one_report_only(api, app):
    solution = proof_of_work(fresh(api))
    receipt = crypto.Receipt.generate()
    first = call(api, solution, receipt)
    assert first.status_code == 201
    cases = counts(app)[0]
    again = call(api, solution)  # another report, the same solution
    assert (again.status_code, again.json["error"]) == (400, "pow_reused")
    assert counts(app)[0] == cases
    # The same report sent again after a lost answer gets its case number, as before.
    envelope = crypto.seal_bytes(doc(), api.recipients(api.category))
    assert whole_with(api, solution, receipt, envelope).json == {"case_number": first.json["case_number"]}


def whole_with(api, solution, receipt, envelope):
    meta = json.dumps({
        "category": int(api.category), "sizes": [len(envelope)], "pow": solution,
        "lookup_id": base64.b64encode(receipt.lookup_id).decode(),
        "reply_public": base64.b64encode(receipt.reply_recipient.public_bytes).decode(),
    }).encode()  # fmt: skip
    return api.call("POST", "/reports", len(meta).to_bytes(4, "big") + meta + envelope)


def test_the_whole_report_checks_the_work_before_storing_anything(api, app):
    cases, uploads = counts(app)
    for solution in (None, wrong_nonces(fresh(api))):
        answer = whole(api, solution)
        assert answer.status_code in (400, 403) and answer.json["error"].startswith("pow_")
        assert counts(app) == (cases, uploads)
    assert not list((app.config["SEALDROP"].blob_dir / "uploads").glob("*.part"))
    assert whole(api, proof_of_work(fresh(api))).status_code == 201


def test_the_work_rises_with_load_and_falls_back_when_quiet(api, app, clock):
    early = fresh(api)
    assert early["work"] == 16
    for _ in range(2):  # pow_reports_per_step = 2: two reports in the window double the work
        assert call(api, proof_of_work(fresh(api))).status_code == 201
    raised = fresh(api)
    assert raised["work"] == 32
    stale = call(api, proof_of_work(early))  # solved at the lower level: solve a fresh one
    assert (stale.status_code, stale.json["error"]) == (403, "pow_stale")
    assert call(api, proof_of_work(raised)).status_code == 201
    clock.now += app.config["SEALDROP"].budget_window_s  # a quiet window later
    assert fresh(api)["work"] == 16
