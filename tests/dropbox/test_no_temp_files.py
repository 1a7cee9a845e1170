"""Invariant 1 on the no-JS path: a large multipart report never touches a temporary file.

waitress spools big request bodies to temp files and Werkzeug spools file parts over 500 KB; both
are turned off for us (cli.server_options, security.MemoryOnlyRequest). This test serves the app
through real waitress with every tempfile entry point booby-trapped, and posts a 3 MiB phone video,
which is cleaned of its hidden data (metadata/bmff) and sealed from memory.
"""

import contextlib
import dataclasses
import http.client
import json
import re
import socket
import subprocess
import tempfile
import threading
import uuid

import pytest
from waitress import wasyncore

from dropbox import cli, config, create_app


@pytest.fixture
def trapped_tempfile(monkeypatch):
    calls = []

    def trap(name):
        def refuse(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"tempfile.{name} called while serving a report")

        return refuse

    for name in ("TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile", "mkstemp", "mkdtemp"):
        monkeypatch.setattr(tempfile, name, trap(name))
    return calls


def multipart(fields: dict, files: dict) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = b""
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    for name, (filename, mime, data) in files.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        out += head.encode() + f"Content-Type: {mime}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> bytes:
    """About 3 MiB of phone video (H.264 of a noisy picture, so the bit rate holds), with a place in it
    (QuickTime's ©xyz, as Android's writer puts it)."""
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    noisy = "testsrc2=size=640x480:rate=30:duration=2,noise=alls=60:allf=t"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", noisy,
         "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "12M", "-metadata", "location=+42.6931+023.3219/",
         "-f", "mov", "-brand", "mp42", str(path)],
        check=True,
    )  # fmt: skip
    data = path.read_bytes()
    assert len(data) > 2 * 1024 * 1024 and b"+42.6931+023.3219" in data
    return data


def test_large_no_js_report_stays_in_memory(sqlite_instance, trapped_tempfile, video):
    cfg = config.load(sqlite_instance)
    server = cli.make_server(create_app(cfg), cfg, host="127.0.0.1", port=0, threads=2)
    with running(server) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/r/demo?lang=en")
        html = conn.getresponse().read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        category = re.search(r'name="category" value="(\d+)"', html).group(1)
        body, ctype = multipart(
            {"csrf_token": token, "category": category, "what": "large video", "where_mode": "none"},
            {"files": ("clip.mp4", "video/mp4", video)},
        )
        conn.request("POST", "/r/demo?lang=en", body=body, headers={"Content-Type": ctype})
        response = conn.getresponse()
        page = response.read().decode()
        conn.close()
        assert response.status == 200, page[:500]
        assert 'id="receipt"' in page
    assert trapped_tempfile == []
    assert cli.server_options(cfg)["inbuf_overflow"] > cfg.max_form_bytes


@contextlib.contextmanager
def running(server):
    """Run `server`'s loop in a thread of its own, a poll every 50 ms until told to stop, and close
    everything in that thread. This thread touches none of the server's files: closing its sockets from
    here while the loop sits in select() on them gives EBADF in the loop thread, and stopping it through
    its trigger once failed with EBADF here (its pipe was closed already; not explained). The worker
    threads are stopped after that: waitress's own run() stops them only on SystemExit or
    KeyboardInterrupt.
    """
    stop = threading.Event()

    def loop() -> None:
        try:
            while not stop.is_set():
                wasyncore.loop(timeout=0.05, use_poll=server.adj.asyncore_use_poll, map=server._map, count=1)
        finally:
            wasyncore.close_all(server._map)  # keep-alive channels included, not only the listener

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield server.effective_port
    finally:
        stop.set()
        thread.join(timeout=30)
        server.task_dispatcher.shutdown()
    assert not thread.is_alive(), "waitress's loop did not end"


@contextlib.contextmanager
def served(cfg):
    """The reporter app through real waitress on loopback, configured as `sealdrop serve` does."""
    server = cli.make_server(create_app(cfg, "reporter"), cfg, host="127.0.0.1", port=0, threads=2)
    with running(server) as port:
        yield port


@pytest.fixture
def small_limit(sqlite_instance, tmp_path, monkeypatch):
    """A 1 MiB form limit (waitress's body limit is 2 MiB then) and a temp folder of our own."""
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    cfg = dataclasses.replace(config.load(sqlite_instance), max_form_bytes=1 << 20)
    return cfg, private_tmp, cli.server_options(cfg)["max_request_body_size"]


def assert_our_headers(response):
    csp = response.getheader("Content-Security-Policy") or ""
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert response.getheader("Referrer-Policy") == "no-referrer"
    assert response.getheader("Cache-Control") == "no-store"
    assert response.getheader("X-Content-Type-Options") == "nosniff"


def post_headers_only(port, path, length, headers=None):
    """Announce a body over the limit and send a little of it: waitress answers before reading on."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest("POST", path)
    conn.putheader("Content-Length", str(length))
    conn.putheader("Content-Type", "multipart/form-data; boundary=x")
    for name, value in (headers or {}).items():
        conn.putheader(name, value)
    conn.endheaders()
    with contextlib.suppress(OSError):
        conn.send(b"--x\r\n" + bytes(64 * 1024))
    return conn.getresponse()


def test_an_oversize_body_gets_our_413(small_limit, trapped_tempfile):
    cfg, private_tmp, limit = small_limit
    with served(cfg) as port:
        response = post_headers_only(port, "/r/demo?lang=ru", limit + 1)
        page = response.read().decode()
        assert response.status == 413
        assert_our_headers(response)
        assert response.getheader("Content-Type") == "text/html; charset=utf-8"
        assert "Слишком большой объём" in page and "waitress" not in page  # ours, in the page's language
        english = post_headers_only(port, "/r/demo", limit + 1, {"Accept-Language": "en-GB,en;q=0.9"})
        assert english.status == 413 and "too large" in english.read().decode()
        api = post_headers_only(port, "/api/demo/uploads/x?offset=0", limit + 1)
        assert api.status == 413 and json.loads(api.read()) == {"error": "too_large"}
        assert_our_headers(api)
    assert trapped_tempfile == [] and list(private_tmp.iterdir()) == []


def test_an_oversize_chunked_body_is_refused_before_it_spills_to_disk(small_limit, trapped_tempfile):
    cfg, private_tmp, limit = small_limit
    with served(cfg) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.putrequest("POST", "/r/demo?lang=en")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.putheader("Content-Type", "multipart/form-data; boundary=x")
        conn.endheaders()
        chunk = bytes(64 * 1024)
        with contextlib.suppress(OSError):  # waitress closes once it has answered
            for _ in range(limit // len(chunk) + 2):
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        response = conn.getresponse()
        assert response.status == 413 and "too large" in response.read().decode()
        assert_our_headers(response)
    assert trapped_tempfile == [] and list(private_tmp.iterdir()) == []


def test_a_malformed_request_gets_our_headers_too(small_limit):
    cfg, _, _ = small_limit
    with served(cfg) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.putrequest("POST", "/r/demo")
        conn.putheader("Content-Length", "12, 13")  # two lengths: waitress refuses the request itself
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 400 and "malformed" in response.read().decode()
        assert_our_headers(response)
        answer = raw_exchange(port, b"GARBAGE\r\n\r\n")  # no request line: no path, no query to read
        assert answer.startswith(b"HTTP/1.0 400") and b"Content-Security-Policy: default-src 'none'" in answer
        assert b"Cache-Control: no-store" in answer and b"Referrer-Policy: no-referrer" in answer


def raw_exchange(port, raw):
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_sealdrop_serve_answers_an_oversize_body_with_our_headers(sqlite_instance, tmp_path):
    from tests.helpers import live_server

    private_tmp = tmp_path / "serve-tmp"
    private_tmp.mkdir()
    limit = cli.server_options(config.load(sqlite_instance))["max_request_body_size"]
    with live_server(sqlite_instance, private_tmp) as (url, proc):
        port = int(url.rsplit(":", 1)[1])
        response = post_headers_only(port, "/r/demo?lang=bg", limit + 1)
        assert response.status == 413 and "<h1>" in response.read().decode()
        assert_our_headers(response)
        desk_port = int(proc.desk_url.rsplit(":", 1)[1])
        desk = post_headers_only(desk_port, "/desk/login", limit + 1)
        assert desk.status == 413
        assert_our_headers(desk)
    assert list(private_tmp.iterdir()) == []
