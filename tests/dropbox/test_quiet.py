"""No time stamps by the back door (issue 12, item 5): while `sealdrop serve` handles hostile and odd
photos and malformed requests, nothing reaches its stderr, where journald would stamp each line with
the second a no-JS report arrived. Library warnings and log records become counters without time
(dropbox.silence_libraries).

Also holds the small live-server client the other issue-12 tests (test_limits, test_upload_race) use:
a real `sealdrop serve` in a child process, its stderr kept in a file of its own.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from tests.helpers import REPO, free_port, jpeg_with_exif, make_instance


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Served:
    """A running `sealdrop serve`: its port, process and the file its stderr goes to."""

    port: int
    process: subprocess.Popen
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text("utf-8", "replace")

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
                ) -> Answer:  # fmt: skip
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            conn.close()

    def form(self, desk: str = "demo") -> tuple[str, str, str]:
        """A fresh no-JS form: (its token, the first category's id, the API token)."""
        html = self.request("GET", f"/r/{desk}?lang=en").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        category = re.search(r'name="category" value="(\d+)"', html).group(1)
        api = json.loads(re.search(r'id="page-data">(.*?)</script>', html, re.S).group(1))["csrf"]
        return token, category, api

    def report(self, what: str, files: list[tuple[str, str, bytes]], desk: str = "demo") -> Answer:
        """Send the no-JS form with `files` ((name, type, bytes)), as a browser without JavaScript does."""
        token, category, _ = self.form(desk)
        fields = {"csrf_token": token, "category": category, "what": what, "where_mode": "none"}
        body, content_type = multipart(fields, files)
        return self.request("POST", f"/r/{desk}?lang=en", body, {"Content-Type": content_type})

    def api(self, method: str, path: str, csrf: str, body: bytes | dict | None = None) -> Answer:
        headers = {"X-Sealdrop-CSRF": csrf}
        if isinstance(body, dict):
            body, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        return self.request(method, path, body, headers)


def multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        out.write(f"{head}{value}\r\n".encode())
    for filename, mime, data in files:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{filename}"\r\n'
                  f"Content-Type: {mime}\r\n\r\n".encode())  # fmt: skip
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


@contextlib.contextmanager
def serving(instance: Path, tmp: Path) -> Iterator[Served]:
    """`sealdrop serve` on a free port, with stdout read for its start-up lines and stderr to a file."""
    port = free_port()
    stderr_path = tmp / "serve-stderr.txt"
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONUNBUFFERED": "1"}
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "dropbox.cli", "serve", "--dir", str(instance), "--port", str(port),
             "--desk-port", "0"],
            env=env, stdout=subprocess.PIPE, stderr=stderr, cwd=REPO,
        )  # fmt: skip
    try:
        _wait_for_start(process, port)
        yield Served(port, process, stderr_path)
    finally:
        process.terminate()
        process.wait(30)


def _wait_for_start(process: subprocess.Popen, port: int) -> None:
    for line in process.stdout:  # the last start-up line names the desk's port
        if line.startswith(b"desk: "):
            break
    else:
        raise RuntimeError("sealdrop serve exited before it listened")
    threading.Thread(target=process.stdout.read, daemon=True).start()  # never let the pipe fill up
    for _ in range(400):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError("sealdrop serve did not accept connections")


# --- hostile and odd photos ---------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` and holds one empty row: tiny, and a decompression bomb
    by its header (Pillow warns past 89 megapixels)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = _png_chunk(b"IDAT", zlib.compress(b"\0" * (width + 1)))
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + pixels + _png_chunk(b"IEND", b"")


def jpeg_with_corrupt_exif() -> bytes:
    """A JPEG whose EXIF says its Make runs on for 64 KiB past the segment ("Possibly corrupt EXIF")."""
    data = bytearray(jpeg_with_exif())
    tiff = data.find(b"Exif\0\0") + 6
    entry = data.find(b"\x01\x0f\x00\x02", tiff)  # big-endian: tag 0x010F, type ASCII
    if data[tiff : tiff + 2] == b"II":
        entry = data.find(b"\x0f\x01\x02\x00", tiff)
        data[entry + 4 : entry + 8] = struct.pack("<I", 65000)
    else:
        data[entry + 4 : entry + 8] = struct.pack(">I", 65000)
    return bytes(data)


def truncated_tiff() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 90), (200, 10, 10)).save(out, "TIFF", compression="tiff_lzw")
    return out.getvalue()[:-40]


def odd_photos() -> list[tuple[str, str, bytes]]:
    jpeg = jpeg_with_exif()
    return [
        ("bomb.png", "image/png", png_header_only(12_000, 8_000)),
        ("exif.jpg", "image/jpeg", jpeg_with_corrupt_exif()),
        ("cut.jpg", "image/jpeg", jpeg[: len(jpeg) // 2]),
        ("cut.tif", "image/tiff", truncated_tiff()),
        ("noise.heic", "image/heic", b"\0\0\0\x18ftypheic" + os.urandom(400)),
        ("noise.gif", "image/gif", b"GIF89a" + os.urandom(300)),
        ("text.jpg", "image/jpeg", b"not a picture at all"),
    ]


def malformed_requests(served: Served) -> list[Answer]:
    _, _, api = served.form()
    nested = b"[" * 100_000 + b"]" * 100_000
    broken_form = {"Content-Type": "multipart/form-data; boundary=x"}
    json_api = {"X-Sealdrop-CSRF": api, "Content-Type": "application/json"}
    return [
        served.request("POST", "/r/demo", b"--x\r\nnonsense", broken_form),
        served.request("POST", "/r/demo", b"what=1", {"Content-Type": "application/x-www-form-urlencoded"}),
        served.api("POST", "/api/demo/uploads", api, {"size": "lots"}),
        served.request("POST", "/api/demo/case", nested, json_api),
        served.api("PUT", "/api/demo/uploads/zz?offset=-1", api, b"x"),
        served.request("GET", "/r/%ff%fe?lang=%00"),
        _raw(served.port, b"GARBAGE / HTTP/9.9\r\nHost: \xff\r\n\r\n"),
    ]


def _raw(port: int, data: bytes) -> Answer:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(data)
        first = s.recv(4096).split(b"\r\n", 1)[0]
    return Answer(int(first.split()[1]), {}, first)


def test_hostile_photos_and_requests_leave_stderr_empty(tmp_path):
    instance = make_instance(tmp_path / "instance")
    with serving(instance, tmp_path) as served:
        at_start = served.stderr()
        answers = [served.report("Odd photo", [photo]) for photo in odd_photos()]
        answers += malformed_requests(served)
        answers += _at_once(served, 12)  # more than serve's 8 threads: waitress warns of its queue
        time.sleep(0.5)  # let the last request's handling finish writing whatever it would write
        after = served.stderr()
    assert [a.status for a in answers if a.status >= 500] == []
    assert any(a.status == 400 for a in answers)  # the odd photos were refused, not waved through
    assert at_start == "", at_start
    assert after == "", after


def _at_once(served: Served, count: int) -> list[Answer]:
    photos = odd_photos()
    answers: list[Answer] = []
    threads = [
        threading.Thread(target=lambda i=i: answers.append(served.report("Again", [photos[i % len(photos)]])))
        for i in range(count)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == count
    return answers
