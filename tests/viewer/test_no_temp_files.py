"""SQLite must never spill the vault's plaintext to a temp file (etilqs_* under SQLITE_TMPDIR).

Big sorts and GROUP BYs (hotspots, the dashboard, the search's temp table) spill to temp files unless
the connection keeps temp storage in memory. SQLite unlinks such a file right after creating it, so a
directory listing would miss it: the test watches the directory with inotify (through ctypes), which
sees every creation, and runs the queries in a child process whose SQLITE_TMPDIR is that directory
(SQLite reads the variable once per process)."""

import ctypes
import ctypes.util
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

IN_CREATE, IN_NONBLOCK = 0x100, 0o4000

CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import crypto.keys
    crypto.keys.KDF_OPSLIMIT, crypto.keys.KDF_MEMLIMIT = 1, 8192 * 1024
    from crypto import Identity
    from tests.viewer.bundles import report_doc
    from viewer import importer, queries
    from viewer.vault import Vault

    path = Path(sys.argv[1])
    with Vault.create(path, "x", Identity.generate()) as v:
        v.pin(None, ["demo"])
        items = []
        for i in range(6000):
            where = (
                {"mode": "typed", "text": f"street {i % 3000} " + "long place name " * 12}
                if i % 2
                else {"mode": "place", "place": f"landmark {i % 2500} " + "x" * 150, "lat": 42.6 + i / 1e5,
                      "lon": 23.3}
            )
            meta = {"case_number": f"C{i:06d}", "submission": i + 1, "part": 0, "first": True,
                    "sealed_by": "browser", "received_day": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}",
                    "reply_public": "11" * 32}
            doc = report_doc("secret words " * 30 + str(i), where=where)
            items.append((meta, json.dumps(doc).encode()))
        importer.file_documents(v, "demo", items)
        print(json.dumps({s: v.db.execute(f"PRAGMA {s}.journal_mode").fetchone()[0]
                          for s in ("main", "state", "temp")}
                         | {"temp_store": v.db.execute("PRAGMA temp_store").fetchone()[0]}))
    with Vault.open(path, "x") as v:
        queries.hotspots(v, queries.Filters())
        queries.dashboard(v)
        queries.inbox(v, queries.Filters(q="secret words"))
        v.db.execute("SELECT what FROM reports ORDER BY what DESC, raw").fetchall()
    """
)


def _inotify(directory: Path) -> int:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    fd = libc.inotify_init1(IN_NONBLOCK)
    if fd < 0 or libc.inotify_add_watch(fd, str(directory).encode(), IN_CREATE) < 0:
        pytest.skip("inotify is not available here")
    return fd


def _created(fd: int) -> list[str]:
    names = []
    try:
        data = os.read(fd, 1 << 16)
    except BlockingIOError:
        return names
    while data:
        _, _, _, length = struct.unpack_from("iIII", data)
        names.append(data[16 : 16 + length].rstrip(b"\0").decode())
        data = data[16 + length :]
    return names


def test_big_queries_never_create_a_sqlite_temp_file(tmp_path):
    spill = tmp_path / "sqlite-tmp"
    spill.mkdir()
    fd = _inotify(spill)
    try:
        env = dict(os.environ, SQLITE_TMPDIR=str(spill), TMPDIR=str(spill))
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(tmp_path / "vault")],
            env=env,
            cwd=Path(__file__).parents[2],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        ).stdout
        created = _created(fd)
    finally:
        os.close(fd)
    assert created == [], f"SQLite wrote temp files: {created}"
    assert '"temp_store": 2' in out
    assert '"temp": "memory"' in out
