"""What must hold after faults: every handed-out receipt signs in and its case opens on the viewer after
an export; every stored blob is whole; nothing half-written sits where blobs are read."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

import crypto
from dropbox import cli, config
from tests.faults.clients import Submission, call
from tests.helpers import REPO, extract, filed_envelopes
from viewer import queries
from viewer.vault import Vault

BLOB_NAME = re.compile(r"[0-9a-f]{32}")


def receipts_sign_in(base: str, handed_out: list[Submission]) -> None:
    """The reporter comes back: a no-JS receipt on the sign-in page, a JS one through the API."""
    for sub in handed_out:
        if sub.path == "nojs":
            page = call(base, "GET", "/r/demo/check?lang=en").text()
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            body = f"csrf_token={token}&receipt={sub.receipt}".encode()
            answer = call(base, "POST", "/r/demo/check?lang=en", body,
                          {"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
            assert answer.status == 200, f"{sub.marker}: {answer.status}"
            assert extract(answer.text(), "case-number") == sub.case_number
        else:
            lookup = base64.b64encode(crypto.Receipt(sub.receipt).lookup_id).decode()
            token = sub._state["page"].api_token
            answer = call(base, "POST", "/api/demo/case", json.dumps({"lookup_id": lookup}).encode(),
                          {"X-Sealdrop-CSRF": token, "Content-Type": "application/json"})  # fmt: skip
            assert answer.status == 200, f"{sub.marker}: {answer.status}"
            assert json.loads(answer.body)["case_number"] == sub.case_number


def blobs_are_whole(instance: Path) -> dict[str, int]:
    """Every envelope a row names exists and opens to its end (a truncated envelope fails its last
    chunk), from its row when small or from the blob store; the fan-out folders hold finished blobs
    only. Returns counts (the files a row names, all parts, orphans)."""
    ident = crypto.Identity.load(instance / "demo-officer.identity", "")
    for envelope in filed_envelopes(instance):
        crypto.unseal_bytes(envelope, [ident.decryption_key])
    engine = create_engine(config.load(instance).database_url)
    with engine.connect() as conn:
        named = [r[0] for r in conn.execute(text("SELECT blob_id FROM parts WHERE data IS NULL"))]
        parts = conn.execute(text("SELECT count(*) FROM parts")).scalar_one()
    engine.dispose()
    stored = [p for p in (instance / "blobs").glob("??/*")]
    assert all(BLOB_NAME.fullmatch(p.name) and p.parent.name == p.name[:2] for p in stored), stored
    return {"blobs": len(named), "parts": parts, "orphans": len({p.name for p in stored} - set(named))}


def referenced_blob_ids(instance: Path) -> set[str]:
    """Every blob a row names: submissions' parts and replies."""
    engine = create_engine(config.load(instance).database_url)
    with engine.connect() as conn:
        named = {
            r[0] for r in conn.execute(text("SELECT blob_id FROM parts UNION SELECT blob_id FROM replies"))
        }
    engine.dispose()
    return named


def open_on_viewer(instance: Path, work: Path, handed_out: list[Submission]) -> int:
    """Export the desk, import the bundle into a new vault, and find each receipt's report in it.
    Returns how many cases the vault holds."""
    bundle, vault = work / "export.bundle", work / "vault"
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(["export", "--dir", str(instance), "--desk", "demo", "-o", str(bundle)]) == 0
    env = {**os.environ, "SEALDROP_PASSPHRASE": ""}  # the demo officer's identity: DEMO ONLY
    keys = [
        "--identity",
        str(instance / "demo-officer.identity"),
        "--server-key",
        str(instance / "server-signing.pub"),
    ]
    for args in (["init", "--desk", "demo", *keys], ["import", str(bundle)]):
        done = subprocess.run([sys.executable, "-m", "viewer.cli", "--vault", str(vault), *args],
                              env=env, cwd=REPO, capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 0, done.stderr
    with Vault.open(vault, "") as v:
        for sub in handed_out:
            reports = queries.case(v, sub.case_number)["reports"]
            assert sub.marker in [r["what"] for r in reports], f"{sub.case_number}: {sub.marker}"
        return v.db.execute("SELECT count(*) FROM cases").fetchone()[0]
