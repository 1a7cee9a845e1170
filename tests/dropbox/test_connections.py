"""Slow reporters hold connections for minutes (a Tor upload at 50 KB/s): a few hundred of them must
not keep the next reporter's page waiting for a free one (waitress's default allowed 100)."""

import contextlib
import socket
import urllib.request
from pathlib import Path

from tests.helpers import live_server, make_instance

HELD = 300


def test_the_page_answers_while_hundreds_of_slow_uploads_hold_connections(tmp_path):
    instance = make_instance(tmp_path / "instance")
    (tmp_path / "tmp").mkdir()
    with live_server(instance, tmp_path / "tmp") as (base, proc), contextlib.ExitStack() as held:
        port = int(base.rsplit(":", 1)[1])
        for _ in range(HELD):  # each one a request whose body is still on its way
            s = held.enter_context(socket.create_connection(("127.0.0.1", port)))
            s.sendall(b"PUT /api/demo/uploads/x?offset=0&size=5000000 HTTP/1.1\r\nHost: a\r\n"
                      b"Content-Length: 4194304\r\n\r\n" + b"\0" * 1024)  # fmt: skip
        # A generous bound, not a timing: with the old limit this waited for the first upload to end.
        with urllib.request.urlopen(f"{base}/r/demo?lang=en", timeout=60) as page:
            assert page.status == 200 and b'name="what"' in page.read()
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
        files = next(line for line in limits.splitlines() if line.startswith("Max open files"))
        assert int(files.split()[3]) >= 1000 + HELD  # soft limit raised to fit max_connections
