"""What the scale-out tests share: two real instances (two `sealdrop serve` processes, each with its own
copy of one instance folder) on one PostgreSQL database, the large-object blob store and Redis on
loopback; a reporter's page of either, talking to its API as report.mjs does; the next export, opened."""

import base64
import contextlib
import json
import os
import re
import shutil
import uuid
from pathlib import Path

import redis
import requests
from sqlalchemy import create_engine, text

import crypto
from crypto import bundle
from dropbox import bundles, config, db
from dropbox.blobs import open_store
from dropbox.models import Desk
from tests.helpers import live_server, make_instance, postgres_database, proof_of_work

REDIS_URL = os.environ.get("SEALDROP_TEST_REDIS", "redis://127.0.0.1:6379/0")


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
