"""Two real instances (two `sealdrop serve` processes, each with its own copy of one instance folder)
on one PostgreSQL database, the large-object blob store and Redis on loopback: nothing a reporter
sends depends on which instance takes it (issue 15; dropbox/shared.py, dropbox/blobs.py)."""

import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import requests
from sqlalchemy import create_engine, text

import crypto
from crypto import bundle
from dropbox import budget, bundles, config, db, intake
from dropbox.blobs import open_store
from dropbox.models import Desk
from dropbox.shared import RedisWindowCounter
from tests.helpers import extract, live_server, make_instance, postgres_database, proof_of_work

REDIS_URL = os.environ.get("SEALDROP_TEST_REDIS", "redis://127.0.0.1:6379/0")
if os.environ.get("SEALDROP_SKIP_POSTGRES") == "1":
    pytest.skip("SEALDROP_SKIP_POSTGRES=1", allow_module_level=True)

# Cheap proofs of work and budgets out of the way, unless a test is about them.
EASY = {"pow_work": 4, "pow_iterations": 1, "pow_max_steps": 0, "budget_reports_per_desk": 10_000,
        "budget_reports_overall": 10_000, "budget_signins_per_desk": 10_000,
        "budget_signins_overall": 10_000}  # fmt: skip


@contextlib.contextmanager
def redis_prefix():
    """A key prefix of this test's own in the shared Redis, its keys deleted afterwards."""
    prefix = f"sealdrop-test-{uuid.uuid4().hex[:12]}"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()


class Cluster:
    def __init__(self, folders: list[Path], urls: list[str], processes: list) -> None:
        self.folders, self.urls, self.processes = folders, urls, processes
        self.cfg = config.load(folders[0])

    def sql(self, query: str) -> list:
        engine = create_engine(self.cfg.database_url)
        with engine.connect() as conn:
            rows = conn.execute(text(query)).all()
        engine.dispose()
        return rows


@contextlib.contextmanager
def cluster(tmp_path: Path, **settings):
    """Two instances: one folder made by `sealdrop init` and copied, as an operator copies it to a
    second machine; both served at once."""
    with redis_prefix() as prefix, postgres_database() as url:
        first = make_instance(tmp_path / "one", url)
        shared = {"blob_store": "postgresql", "redis_url": REDIS_URL, "redis_prefix": prefix}
        config.save(config.load(first).with_overrides(**shared, **{**EASY, **settings}))
        second = tmp_path / "two"
        shutil.copytree(first, second)
        (tmp_path / "tmp1").mkdir()
        (tmp_path / "tmp2").mkdir()
        with (
            live_server(first, tmp_path / "tmp1") as (one, p1),
            live_server(second, tmp_path / "tmp2") as (two, p2),
        ):
            yield Cluster([first, second], [one, two], [p1, p2])


class Page:
    """A reporter's page of one instance, talking to its API as report.mjs does."""

    def __init__(self, base: str) -> None:
        self.base, self.http = base, requests.Session()
        html = self.http.get(f"{base}/r/demo?lang=en", timeout=60).text
        data = json.loads(re.search(r'id="page-data">(.*?)</script>', html, re.S).group(1))
        keys = json.loads(re.search(r'id="recipient-keys">(.*?)</script>', html, re.S).group(1))
        self.csrf = data["csrf"]
        self.category = next(k for k, v in data["categories"].items() if v["slug"] == "drugs")
        self.recipients = [crypto.RecipientKey(bytes.fromhex(h)) for h in keys[self.category]]

    def call(self, method: str, path: str, body=None, **kw) -> requests.Response:
        headers = {"X-Sealdrop-CSRF": self.csrf}
        if isinstance(body, bytes):
            headers["Content-Type"] = "application/octet-stream"
            return self.http.request(
                method, f"{self.base}/api/demo{path}", data=body, headers=headers, timeout=60, **kw
            )
        return self.http.request(
            method, f"{self.base}/api/demo{path}", json=body, headers=headers, timeout=60, **kw
        )

    def solution(self) -> dict:
        return proof_of_work(self.call("GET", "/challenge").json())

    def fields(self, receipt: crypto.Receipt, pow_: dict) -> dict:
        """What every report call carries: category, the receipt's derived ids, the proof of work."""
        return {"category": int(self.category), "pow": pow_,
                "lookup_id": base64.b64encode(receipt.lookup_id).decode(),
                "reply_public": base64.b64encode(receipt.reply_recipient.public_bytes).decode()}  # fmt: skip

    def report_call(self, receipt: crypto.Receipt, parts: list[str], pow_: dict) -> requests.Response:
        return self.call("POST", "/reports", {**self.fields(receipt, pow_), "parts": parts})

    def whole_body(self, receipt: crypto.Receipt, envelope: bytes, pow_: dict) -> bytes:
        meta = json.dumps({**self.fields(receipt, pow_), "sizes": [len(envelope)]}).encode()
        return len(meta).to_bytes(4, "big") + meta + envelope

    def whole(self, receipt: crypto.Receipt, envelope: bytes, pow_: dict | None = None) -> requests.Response:
        """A small report in one round trip; a refused proof of work gets a fresh one, as pow.mjs does."""
        for _ in range(3):
            answer = self.call(
                "POST", "/reports", self.whole_body(receipt, envelope, pow_ or self.solution())
            )
            if not str(answer.json().get("error", "")).startswith("pow_"):
                return answer
            pow_ = None
        return answer

    def form(self, what: str) -> requests.Response:
        """The no-JS path: the form, then its multipart POST."""
        html = self.http.get(f"{self.base}/r/demo?lang=en", timeout=60).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        category = re.search(r'value="(\d+)"[^>]*> Drug dealing', html).group(1)
        fields = {"csrf_token": token, "category": category, "lang": "en", "what": what, "where_mode": "none"}
        return self.http.post(
            f"{self.base}/r/demo", files={k: (None, v) for k, v in fields.items()}, timeout=60
        )


def doc(what: str) -> bytes:
    return json.dumps({"format": "sealdrop-report/1", "kind": "report", "what": what}).encode()


def export_opened(c: Cluster, tmp_path: Path) -> tuple[bundle.Manifest, list[bytes]]:
    """The demo desk's next export, written from the shared store, verified and opened."""
    key = crypto.SigningKey.load(c.folders[0] / config.SIGNING_KEY_FILE)
    store = open_store(c.cfg)
    path = tmp_path / "export.bundle"
    with db.standalone_session(c.cfg.database_url) as s, open(path, "wb") as f:
        bundles.export(s, store, s.query(Desk).filter_by(slug="demo").one(), key, f)
    store.engine.dispose()
    identity = crypto.Identity.load(c.folders[0] / "demo-officer.identity", "")
    with open(path, "rb") as f:
        manifest = bundle.read_manifest(f, "export", [key.verify_key])
        opened = [
            crypto.unseal_bytes(r.read(), [identity.decryption_key]) for _, r in bundle.items(f, manifest)
        ]
    return manifest, opened


def test_an_upload_begun_on_one_instance_is_finished_on_the_other(tmp_path):
    with cluster(tmp_path, max_upload_piece=1024 * 1024) as c:
        one, two = Page(c.urls[0]), Page(c.urls[1])
        what = "Sent in pieces through two instances " + "." * 2_500_000
        envelope = crypto.seal_bytes(doc(what), one.recipients)
        upload_id, piece = os.urandom(16).hex(), 1024 * 1024
        pages = [one, two, one]  # piece by piece, to whichever instance the balancer picks
        for n, at in enumerate(range(0, len(envelope), piece)):
            query = f"?offset={at}" + (f"&size={len(envelope)}" if at == 0 else "")
            put = pages[n % 3].call("PUT", f"/uploads/{upload_id}{query}", envelope[at : at + piece])
            assert put.status_code == 200 and put.json()["received"] == min(at + piece, len(envelope))
        assert one.call("GET", f"/uploads/{upload_id}").json() == {
            "received": len(envelope),
            "size": len(envelope),
        }
        filed = two.report_call(crypto.Receipt.generate(), [upload_id], two.solution())
        assert filed.status_code == 201
        manifest, opened = export_opened(c, tmp_path)
        assert [m["case_number"] for m in manifest.items] == [filed.json()["case_number"]]
        assert json.loads(opened[0])["what"] == what
        for folder in c.folders:  # nothing of it on either machine's disk
            assert not [p for p in (folder / "blobs").rglob("*") if p.is_file()]


def test_200_reports_at_once_over_both_instances_are_all_filed_once(tmp_path):
    with cluster(tmp_path) as c:
        pages = [Page(url) for url in c.urls]

        def send(n: int) -> str:
            page = pages[n % 2]
            if n % 4 < 2:  # half with JavaScript, half without
                envelope = crypto.seal_bytes(doc(f"report {n}"), page.recipients)
                answer = page.whole(crypto.Receipt.generate(), envelope)
                assert answer.status_code == 201, answer.text
                return answer.json()["case_number"]
            answer = page.form(f"report {n}")
            assert answer.status_code == 200, answer.status_code
            return extract(answer.text, "case-number")

        with ThreadPoolExecutor(max_workers=32) as pool:
            numbers = list(pool.map(send, range(200)))
        assert len(set(numbers)) == 200
        assert c.sql("SELECT count(*), count(DISTINCT number) FROM cases")[0] == (200, 200)
        assert c.sql("SELECT count(*) FROM submissions")[0][0] == 200
        assert c.sql("SELECT count(*) FROM uploads")[0][0] == 0  # nothing left half done
        manifest, opened = export_opened(c, tmp_path)
        assert sorted(json.loads(o)["what"] for o in opened) == sorted(f"report {n}" for n in range(200))
        assert sorted(m["case_number"] for m in manifest.items) == sorted(numbers)


def test_case_numbers_stay_unique_when_concurrent_reports_draw_the_same_one(monkeypatch):
    """The same number drawn at once by many transactions: one keeps it, the others wait for it at
    the unique key, fail, and draw again; every case is filed, each number once."""
    drawn = threading.local()
    counter = iter(range(10**6))
    lock = threading.Lock()

    def colliding() -> str:
        if not getattr(drawn, "once", False):
            drawn.once = True
            return "AAAA-AAAA"
        with lock:
            return f"B{next(counter):03d}-BBBB"

    monkeypatch.setattr(intake, "new_case_number", colliding)
    with postgres_database() as url:
        db.migrate(url)
        with db.standalone_session(url) as s:
            s.add(Desk(slug="demo", names={"en": "Demo"}))
            s.commit()
        start = threading.Barrier(12)

        def file_one(_: int) -> str:
            with db.standalone_session(url) as s:
                desk = s.query(Desk).one()
                start.wait(timeout=60)
                case = intake.open_case(s, desk, os.urandom(32), os.urandom(32))
                s.commit()
                return case.number

        with ThreadPoolExecutor(max_workers=12) as pool:
            numbers = list(pool.map(file_one, range(12)))
        assert len(set(numbers)) == 12 and "AAAA-AAAA" in numbers
        engine = create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(DISTINCT number), count(*) FROM cases")).one() == (12, 12)
        engine.dispose()


def _partial_request(base: str, path: str, headers: dict, body: bytes) -> socket.socket:
    """A request whose headers and first half of its body have gone out; the rest never will."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall(f"{path}\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode())
    sock.sendall(body[: len(body) // 2])
    return sock


def test_an_instance_killed_mid_flight_loses_nothing_and_files_nothing_twice(tmp_path):
    with cluster(tmp_path, max_upload_piece=256 * 1024) as c:
        one, two = Page(c.urls[0]), Page(c.urls[1])
        reporters = []  # (receipt, upload id, envelope, what)
        for n in range(6):
            what = f"report {n} " + "." * 400_000
            envelope = crypto.seal_bytes(doc(what), one.recipients)
            upload_id = os.urandom(16).hex()
            put = one.call(
                "PUT", f"/uploads/{upload_id}?offset=0&size={len(envelope)}", envelope[: 256 * 1024]
            )
            assert put.status_code == 200
            reporters.append((crypto.Receipt.generate(), upload_id, envelope, what))

        def finish_on(page: Page, index: int) -> None:
            _, upload_id, envelope, _ = reporters[index]
            for at in range(256 * 1024, len(envelope), 256 * 1024):
                assert page.call(
                    "PUT", f"/uploads/{upload_id}?offset={at}", envelope[at : at + 256 * 1024]
                ).ok

        # 0, 1: filed on instance 1, whose answers are lost; 2, 3: their report calls are on their way
        # when it dies; 4, 5: a piece is on its way. Beside them, whole reports sent all along.
        for i in (0, 1):
            finish_on(one, i)
            assert one.report_call(reporters[i][0], [reporters[i][1]], one.solution()).status_code == 201
        hanging = []
        for i in (2, 3):
            finish_on(one, i)
            call = {**one.fields(reporters[i][0], one.solution()), "parts": [reporters[i][1]]}
            body = json.dumps(call).encode()
            headers = {"Content-Type": "application/json", "X-Sealdrop-CSRF": one.csrf}
            hanging.append(_partial_request(c.urls[0], "POST /api/demo/reports HTTP/1.1", headers, body))
        for i in (4, 5):
            piece = reporters[i][2][256 * 1024 : 512 * 1024]
            headers = {"Content-Type": "application/octet-stream", "X-Sealdrop-CSRF": one.csrf}
            path = f"PUT /api/demo/uploads/{reporters[i][1]}?offset={256 * 1024} HTTP/1.1"
            hanging.append(_partial_request(c.urls[0], path, headers, piece))
        whole = [
            (crypto.Receipt.generate(), crypto.seal_bytes(doc(f"whole {n} " + "." * 100_000), one.recipients))
            for n in range(60)
        ]
        answered: dict[int, str] = {}
        first_answer = threading.Event()

        def send_whole(n: int) -> None:
            with contextlib.suppress(requests.RequestException):
                answer = one.whole(*whole[n])
                if answer.status_code == 201:
                    answered[n] = answer.json()["case_number"]
                    first_answer.set()

        with ThreadPoolExecutor(max_workers=8) as pool:
            sending = [pool.submit(send_whole, n) for n in range(len(whole))]
            assert first_answer.wait(timeout=120)
            c.processes[0].send_signal(signal.SIGKILL)  # mid-flight: whole reports still on their way
            for future in sending:
                future.result()
        c.processes[0].wait(30)
        for sock in hanging:
            sock.close()
        # Every reporter's page tries again; the balancer sends it to instance 2.
        numbers = {}
        for i, (receipt, upload_id, envelope, what) in enumerate(reporters):
            state = two.call("GET", f"/uploads/{upload_id}")
            if state.status_code == 200:  # resume where the upload stands
                received = state.json()["received"]
                for at in range(received, len(envelope), 256 * 1024):
                    assert two.call(
                        "PUT", f"/uploads/{upload_id}?offset={at}", envelope[at : at + 256 * 1024]
                    ).ok
            answer = two.report_call(receipt, [upload_id], two.solution())
            if answer.json().get("error", "").startswith("pow_"):
                answer = two.report_call(receipt, [upload_id], two.solution())
            assert answer.status_code in (200, 201), answer.text
            numbers[what] = answer.json()["case_number"]
        for n, (receipt, envelope) in enumerate(whole):
            answer = two.whole(receipt, envelope)
            assert answer.status_code in (200, 201), answer.text
            if n in answered:  # filed before the kill: the same case again, not a second one
                assert (answer.status_code, answer.json()["case_number"]) == (200, answered[n])
            numbers[f"whole {n} " + "." * 100_000] = answer.json()["case_number"]
        assert len(set(numbers.values())) == len(reporters) + len(whole)
        assert c.sql("SELECT count(*) FROM cases")[0][0] == len(numbers)
        assert c.sql("SELECT count(*) FROM submissions")[0][0] == len(numbers)
        manifest, opened = export_opened(c, tmp_path)
        assert sorted(json.loads(o)["what"] for o in opened) == sorted(numbers)
        assert {m["case_number"] for m in manifest.items} == set(numbers.values())


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


def test_a_notice_goes_out_once_for_all_instances(tmp_path):
    """Each instance runs the notices' beat; one of them sends each notice, and none repeats it."""
    from dropbox.desk import notify
    from tests.dropbox.notify_helpers import HOUR, START, Clock, add_reports

    class Channel:
        name = "webhook"

        def recipients(self, slug: str) -> list[str]:
            return ["the desk's hook"]

        def send(self, w, at: float, test: bool = False) -> None:
            sent.append((w.slug, w.count, at))

    sent: list[tuple] = []
    with redis_prefix() as prefix, postgres_database() as url:
        first = make_instance(tmp_path / "one", url)
        config.save(config.load(first).with_overrides(redis_url=REDIS_URL, redis_prefix=prefix))
        shutil.copytree(first, tmp_path / "two")
        clock = Clock(START + 5)
        notifiers = [notify.Notifier(config.load(folder), clock) for folder in (first, tmp_path / "two")]
        for notifier in notifiers:
            notifier.channels = [Channel()]
        add_reports(first, 3)
        assert sum(n.beat() for n in notifiers) == 1
        clock.t += HOUR  # the next period, nothing new: neither instance repeats it
        assert sum(n.beat() for n in notifiers) == 0
        add_reports(first, 2)
        clock.t += HOUR
        assert sum(n.beat() for n in notifiers) == 1
        assert sent == [("demo", 3, START), ("demo", 5, START + 2 * HOUR)]
        for notifier in notifiers:
            notifier.close()


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
