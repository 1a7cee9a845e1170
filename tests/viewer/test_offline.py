"""Offline by construction (DESIGN.md, invariant 4): the viewer imports only crypto of ours, opens no
socket but its loopback UI, and does all of its work in a network namespace with nothing but loopback."""

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crypto import Identity
from tests.helpers import REPO
from tests.viewer.bundles import Submission, jpeg, listed, report_doc
from tests.viewer.conftest import PASSPHRASE

VIEWER = REPO / "viewer"
FIRST_PARTY = {p.name for p in REPO.iterdir() if (p / "__init__.py").exists()} | {"tests", "bench"}
DRIVER = Path(__file__).with_name("offline_driver.py")


def imports_of(path: Path) -> set[str]:
    """Top-level package names `path` imports (relative imports resolve inside viewer/)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add("viewer" if node.level else (node.module or "").split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            found.add("<dynamic import>")
    return found


def test_viewer_imports_crypto_and_metadata_and_nothing_else_of_ours():
    # metadata/ (the hidden-data policy) is shared by both sides of the air gap, like crypto/.
    assert {"crypto", "metadata", "dropbox", "onion", "viewer"} <= FIRST_PARTY
    files = list(VIEWER.rglob("*.py"))
    assert len(files) > 10
    wrong = {
        str(f.relative_to(REPO)): sorted(
            imports_of(f) & (FIRST_PARTY - {"crypto", "metadata", "viewer"})
            | (imports_of(f) & {"<dynamic import>"})
        )
        for f in files
    }
    assert {k: v for k, v in wrong.items() if v} == {}
    assert any("crypto" in imports_of(f) for f in files)


def test_metadata_imports_nothing_of_ours():
    files = list((REPO / "metadata").rglob("*.py"))
    assert len(files) > 3
    wrong = {str(f.relative_to(REPO)): sorted(imports_of(f) & (FIRST_PARTY - {"viewer"})) for f in files}
    assert {k: v for k, v in wrong.items() if v} == {}


def test_the_import_check_would_catch_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from dropbox import bundles\nimport onion.tor\nfrom . import vault\n")
    assert imports_of(bad) == {"dropbox", "onion", "viewer"}


@pytest.fixture
def world(tmp_path, vault_dir, server, monkeypatch):
    photo = jpeg()
    server.bundle(
        tmp_path / "export.bundle",
        [
            Submission(
                "OFFL-0001",
                report_doc(
                    "Seen from the bridge",
                    where={"mode": "device", "lat": 42.69, "lon": 23.32, "precision": "1km"},
                    attachments=[listed(photo, "p.jpg", "image/jpeg")],
                ),
                [photo],
            )
        ],
    )
    monkeypatch.setenv("SEALDROP_PASSPHRASE", PASSPHRASE)
    (tmp_path / "server-signing.pub").write_text(server.key.verify_key.encode() + "\n")
    (tmp_path / "police.pub").write_text(Identity.generate().public_key.to_file_text(comment="police"))
    return vault_dir, tmp_path / "export.bundle", tmp_path / "replies.bundle"


def unshare_prefix() -> list[str] | None:
    if not shutil.which("unshare") or not shutil.which("ip"):
        return None
    for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
        if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return prefix
    return None


def test_every_command_and_the_ui_work_with_no_network_and_open_only_the_loopback_ui(world, tmp_path):
    """Inside a fresh network namespace (only `lo`, brought up by hand), under an audit hook that records
    every socket call of every sealview process: init, import, list, show, triage, note, reply, forward
    (sealed case file and PDF), export-replies and the UI (pages fetched and a state changed through its
    form, from inside the namespace) all work, and the only socket is the UI's listener."""
    vault, bundle, replies = world
    events = tmp_path / "socket-events.jsonl"
    keys = f"{tmp_path / 'server-signing.pub'} {tmp_path / 'police.pub'}"
    driver = f"{sys.executable} {DRIVER} {vault} {bundle} {replies} {keys} {events}"
    prefix = unshare_prefix()
    command = (
        [*prefix, "sh", "-c", f"ip link set lo up && {driver} && ip -o link show | grep -vc ' lo:'"]
        if prefix
        else ["sh", "-c", driver]
    )
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert "offline OK" in done.stdout, done.stderr
    if prefix:
        assert done.stdout.split()[-1] == "0"  # there was no interface but lo (grep -c exits 1 on 0 lines)
    else:
        assert done.returncode == 0, done.stderr
    assert replies.stat().st_size > 0

    seen = [json.loads(line) for line in events.read_text().splitlines()]
    kinds = {e for e, _ in seen}
    binds = [args for e, args in seen if e == "socket.bind"]
    assert binds and all("('127.0.0.1', 0)" in a for a in binds), binds  # the UI listened, on loopback only
    # waitress turns the numeric loopback address into a socket address (and back, for its logs): no lookup
    # leaves the machine. Never a connect, a send, a name to resolve, or a browser opened.
    lookups = [args for e, args in seen if e in ("socket.getaddrinfo", "socket.getnameinfo")]
    assert all(a.startswith(("('127.0.0.1'", "(('127.0.0.1'")) for a in lookups), lookups
    assert kinds <= {"socket.__new__", "socket.bind", "socket.getaddrinfo", "socket.getnameinfo"}, seen
    if prefix is None:
        pytest.skip(
            "no network namespace here (unshare -n / -rn): the socket audit ran, the namespace did not"
        )
