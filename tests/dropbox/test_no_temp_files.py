"""Invariant 1 on the no-JS path: a large multipart report never touches a temporary file.

waitress spools big request bodies to temp files and Werkzeug spools file parts over 500 KB; both
are turned off for us (cli.server_options, security.MemoryOnlyRequest). This test serves the app
through real waitress with every tempfile entry point booby-trapped, and posts a 3 MiB video.
"""

import http.client
import re
import tempfile
import threading
import uuid

import pytest
from waitress import create_server

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


def test_large_no_js_report_stays_in_memory(sqlite_instance, trapped_tempfile):
    cfg = config.load(sqlite_instance)
    server = create_server(create_app(cfg), host="127.0.0.1", port=0, threads=2, **cli.server_options(cfg))
    port = server.effective_port
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/r/demo?lang=en")
        html = conn.getresponse().read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        category = re.search(r'name="category" value="(\d+)"', html).group(1)
        video = b"\x00\x00\x00\x18ftypmp42" + bytes(3 * 1024 * 1024)
        body, ctype = multipart(
            {"csrf_token": token, "category": category, "what": "large video", "where_mode": "none"},
            {"files": ("clip.mp4", "video/mp4", video)},
        )
        conn.request("POST", "/r/demo?lang=en", body=body, headers={"Content-Type": ctype})
        response = conn.getresponse()
        page = response.read().decode()
        assert response.status == 200, page[:500]
        assert 'id="receipt"' in page
    finally:
        server.close()
    assert trapped_tempfile == []
    assert cli.server_options(cfg)["inbuf_overflow"] > cfg.max_form_bytes
