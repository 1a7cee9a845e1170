"""Scale-out (issue 15; dropbox/shared.py), the proof of work and the budgets shared through Redis: a
solved challenge files one report across instances, a refused report gives its solution back, the
budgets are one for both instances, the Redis counter counts as the memory one, and without Redis the
service says try again and stores nothing."""

import base64
import hashlib
import hmac
import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from sqlalchemy import text

import crypto
from dropbox import budget, config, db
from dropbox.shared import RedisWindowCounter
from tests.dropbox.scale_out_helpers import REDIS_URL, Page, cluster, doc, redis_prefix
from tests.helpers import make_instance, proof_of_work

if os.environ.get("SEALDROP_SKIP_POSTGRES") == "1":
    pytest.skip("SEALDROP_SKIP_POSTGRES=1", allow_module_level=True)


def test_a_solved_challenge_files_one_report_across_instances(tmp_path):
    with cluster(tmp_path) as c:
        one, two = Page(c.urls[0]), Page(c.urls[1])
        solution = one.solution()
        first = one.call(
            "POST",
            "/reports",
            one.whole_body(crypto.Receipt.generate(), crypto.seal_bytes(doc("a"), one.recipients), solution),
        )
        assert first.status_code == 201
        objects = c.sql("SELECT count(*) FROM pg_largeobject_metadata")[0][0]
        replay = two.call(
            "POST",
            "/reports",
            two.whole_body(crypto.Receipt.generate(), crypto.seal_bytes(doc("b"), two.recipients), solution),
        )
        assert (replay.status_code, replay.json()["error"]) == (400, "pow_reused")
        # Spent in Redis (SET NX with an expiry past the challenge's life): refused as the call arrived.
        spent = f"{c.cfg.redis_prefix}:pow:" + _once_hash(c.cfg, "pow:demo", solution["challenge"]).hex()
        connection = redis.Redis.from_url(REDIS_URL)
        assert connection.exists(spent) and 0 < connection.ttl(spent) <= c.cfg.pow_max_age_s + 120
        connection.close()
        assert c.sql("SELECT count(*) FROM pg_largeobject_metadata")[0][0] == objects
        assert c.sql("SELECT count(*) FROM cases")[0][0] == 1
        # One fresh solution sent to both at once: one report filed.
        fresh = two.solution()
        bodies = [
            (p, p.whole_body(crypto.Receipt.generate(), crypto.seal_bytes(doc("c"), p.recipients), fresh))
            for p in (one, two)
        ]
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(pool.map(lambda pb: pb[0].call("POST", "/reports", pb[1]), bodies))
        assert sorted(a.status_code for a in answers) == [201, 400]
        assert c.sql("SELECT count(*) FROM cases")[0][0] == 2


def _once_hash(cfg: config.Config, purpose: str, token: str) -> bytes:
    """security.once_hash, outside a request."""
    message = b"once\x00" + purpose.encode() + b"\x00" + token.encode()
    return hmac.new(cfg.secret_key, message, hashlib.sha256).digest()


def test_a_refused_report_gives_its_solution_back(tmp_path):
    """A report call that files nothing (here: a category with no one to read it) leaves its solution
    usable: the page sends it again once it is fixed, without solving anew."""
    with cluster(tmp_path) as c:
        one, two = Page(c.urls[0]), Page(c.urls[1])
        solution, receipt = one.solution(), crypto.Receipt.generate()
        envelope = crypto.seal_bytes(doc("to strangers"), [crypto.DecryptionKey.generate().recipient])
        refused = one.call("POST", "/reports", one.whole_body(receipt, envelope, solution))
        assert refused.json()["error"] == "wrong_recipients"
        fixed = two.call(
            "POST",
            "/reports",
            two.whole_body(receipt, crypto.seal_bytes(doc("fixed"), two.recipients), solution),
        )
        assert fixed.status_code == 201


def test_the_budgets_are_one_for_both_instances(tmp_path):
    settings = {"budget_signins_per_desk": 5, "pow_work": 4, "pow_max_steps": 3, "pow_reports_per_step": 2}
    with cluster(tmp_path, **settings) as c:
        one, two = Page(c.urls[0]), Page(c.urls[1])
        lookup = {"lookup_id": base64.b64encode(os.urandom(32)).decode()}
        for _ in range(5):
            assert one.call("POST", "/case", lookup).status_code == 404  # unknown receipt, counted
        busy = two.call("POST", "/case", lookup)
        assert busy.status_code == 429 and busy.json()["error"] == "busy" and busy.json()["retry_after"] > 0
        assert one.call("POST", "/case", lookup).status_code == 429
        # JS reports through one instance raise the work the other asks for.
        assert two.call("GET", "/challenge").json()["work"] == 4
        for n in range(2):
            assert (
                one.whole(
                    crypto.Receipt.generate(), crypto.seal_bytes(doc(f"{n}"), one.recipients)
                ).status_code
                == 201
            )
        assert two.call("GET", "/challenge").json()["work"] == 8


def test_the_redis_counter_counts_as_the_memory_one(tmp_path):
    """Same answers as budget.WindowCounter, and a check with its count in one step under threads."""
    with redis_prefix() as prefix:
        connection = redis.Redis.from_url(REDIS_URL)
        counter = RedisWindowCounter(connection, prefix, "reports", 600)
        memory = budget.WindowCounter(600, time.monotonic)
        for c in (counter, memory):
            c.add("demo", 3)
            assert c.count("demo") == 3 and c.count("other") == 0
            assert c.seconds_until_below("demo", 4) == 0
            assert 0 < c.seconds_until_below("demo", 3) <= 600
            assert c.take_below([("demo", 3)]) > 0 and c.count("demo") == 3
            assert "demo" in c.seen()
        taken = []
        with ThreadPoolExecutor(max_workers=16) as pool:
            taken = list(pool.map(lambda _: counter.take_below([("busy", 10), ("*", 1000)]), range(60)))
        assert taken.count(0.0) == 10 and counter.count("busy") == 10 and counter.count("*") == 10
        connection.close()


def test_every_counter_takes_one_step_alike(tmp_path):
    """budget.Counter.step, one round trip to Redis: each name's count, the wait under the limits given
    (NO_LIMIT: none), and a count added to every name only when nothing waits; the same answers from
    Redis, this process's memory and the memory the workers share. A desk may be called "seen": the
    names counted lately are kept apart from the counts."""
    no_limit = budget.NO_LIMIT
    with redis_prefix() as prefix:
        connection = redis.Redis.from_url(REDIS_URL)
        counters = [RedisWindowCounter(connection, prefix, "reports", 600),
                    budget.WindowCounter(600, time.monotonic),
                    budget.SharedWindowCounter(600, time.monotonic)]  # fmt: skip
        for c in counters:
            assert c.step([("seen", no_limit), ("*", no_limit)], 2) == (0.0, [0, 0])
            assert c.step([("seen", 3), ("*", 10)]) == (0.0, [2, 2])
            assert c.step([("seen", 3), ("*", 10)], 1) == (0.0, [2, 2])
            wait, counts = c.step([("seen", 3), ("*", 10)], 1)  # the desk is at its limit: nothing added
            assert 0 < wait <= 600 and counts == [3, 3]
            assert c.step([("other", no_limit), ("*", 3)], 5)[1] == [0, 3]  # "*" at 3 of 3: refused
            assert (c.count("other"), c.count("*"), c.count("seen")) == (0, 3, 3)
            assert {"*", "seen"} <= set(c.seen())
        connection.close()


def test_a_js_report_asks_redis_three_times(tmp_path, monkeypatch):
    """The challenge's work (the budget's wait and the desk's count), the solution claimed once, the
    report counted: one Redis command each. Every command is a round trip on the request's path; a
    report asked ten before the counters took one step per question."""
    from dropbox import create_app
    from tests.dropbox.test_api import Api
    from tests.dropbox.test_api import doc as report_doc
    from tests.dropbox.test_pow import whole_with

    with redis_prefix() as prefix:
        instance = make_instance(tmp_path / "instance")
        cfg = config.load(instance).with_overrides(redis_url=REDIS_URL, redis_prefix=prefix, pow_work=4)
        app = create_app(cfg)
        api = Api(app.test_client())
        envelope = crypto.seal_bytes(report_doc(), api.recipients(api.category))
        solution = proof_of_work(api.call("GET", "/challenge").json)
        commands = []
        real = redis.Redis.execute_command

        def counted(client, *args, **options):
            commands.append(args[0])
            return real(client, *args, **options)

        monkeypatch.setattr(redis.Redis, "execute_command", counted)
        answer = whole_with(api, solution, crypto.Receipt.generate(), envelope)
        assert answer.status_code == 201, answer.json
        assert commands == ["EVALSHA", "SET", "EVALSHA"], commands
        app.extensions["sealdrop.engine"].dispose()


def test_without_redis_the_service_says_try_again_and_stores_nothing(tmp_path):
    from dropbox import create_app
    from tests.dropbox.test_api import Api
    from tests.dropbox.test_api import doc as report_doc
    from tests.helpers import free_port

    instance = make_instance(tmp_path / "instance")
    cfg = config.load(instance).with_overrides(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    app = create_app(cfg)
    client = app.test_client()
    api = Api(client)  # the report page opens: it asks the top level of work while Redis is away
    assert api.call("GET", "/challenge").json["work"] == cfg.pow_work << cfg.pow_max_steps
    receipt = crypto.Receipt.generate()
    envelope = crypto.seal_bytes(report_doc(), api.recipients(api.category))
    reply_public = receipt.reply_recipient.public_bytes
    meta = json.dumps({"category": int(api.category), "sizes": [len(envelope)],
                       "pow": proof_of_work(api.call("GET", "/challenge").json),
                       "lookup_id": base64.b64encode(receipt.lookup_id).decode(),
                       "reply_public": base64.b64encode(reply_public).decode()}).encode()  # fmt: skip
    answer = api.call("POST", "/reports", len(meta).to_bytes(4, "big") + meta + envelope)
    assert (answer.status_code, answer.json["error"]) == (503, "try_again") and answer.headers["Retry-After"]
    signin = api.call("POST", "/case", {"lookup_id": base64.b64encode(receipt.lookup_id).decode()})
    assert (signin.status_code, signin.json["error"]) == (503, "try_again")
    form = client.get("/r/demo?lang=en").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    category = re.search(r'value="(\d+)"[^>]*> Drug dealing', form).group(1)
    posted = client.post("/r/demo", data={"csrf_token": token, "category": category, "lang": "en",
                                          "what": report_doc().decode(), "where_mode": "none"})  # fmt: skip
    assert posted.status_code == 503
    with db.standalone_session(cfg.database_url) as s:
        assert s.execute(text("SELECT count(*) FROM cases")).scalar() == 0
    app.extensions["sealdrop.engine"].dispose()
