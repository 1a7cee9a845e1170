"""HTTP Range on the media route, so a <video> can seek: one range, 206 with Content-Range, 416 past
the end, the whole file for anything else. The bytes are a real attachment streamed from its envelope."""

import os

import pytest

from tests.viewer.bundles import Submission, listed, report_doc
from tests.viewer.test_web import client, get
from viewer import importer
from viewer.web import create_app
from viewer.web.files import UNSATISFIABLE, byte_range

# A WAV header, then enough bytes to span several 64 KiB chunks of the envelope.
AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt " + os.urandom(200_000)


@pytest.fixture
def app(vault, server, tmp_path):
    doc = report_doc("Listen", attachments=[listed(AUDIO, "voice.wav", "audio/wav", "kept")])
    server.bundle(tmp_path / "b", [Submission("RANG-0001", doc, [AUDIO])])
    importer.import_bundle(vault, tmp_path / "b")
    return create_app(vault, "s3cret", hosts={"127.0.0.1:8765"})


def test_parsing_the_range_header():
    size = 1000
    assert byte_range(None, size) is None and byte_range("bytes=0-9", None) is None
    assert byte_range("bytes=0-9", size) == (0, 9)
    assert byte_range("bytes=990-", size) == (990, 999)
    assert byte_range("bytes=-10", size) == (990, 999)
    assert byte_range("bytes=-5000", size) == (0, 999)
    assert byte_range("bytes=500-99999", size) == (500, 999)
    assert byte_range("bytes=1000-", size) == UNSATISFIABLE
    assert byte_range("bytes=-0", size) == UNSATISFIABLE
    for ignored in ("bytes=9-0", "bytes=0-1,5-6", "items=0-1", "bytes=-", "bytes=a-b", "bytes= 1-2"):
        assert byte_range(ignored, size) is None, ignored


def test_a_range_answers_206_with_exactly_those_bytes(app):
    c = client(app)
    whole = get(c, "/a/1/media")
    assert whole.status_code == 200 and whole.data == AUDIO and whole.headers["Accept-Ranges"] == "bytes"
    n = len(AUDIO)
    for header, first, last in (
        ("bytes=0-1", 0, 1),
        ("bytes=65530-65545", 65530, 65545),  # across the envelope's first chunk boundary
        ("bytes=150000-", 150000, n - 1),
        ("bytes=-100", n - 100, n - 1),
    ):
        r = get(c, "/a/1/media", headers={"Range": header})
        assert r.status_code == 206, header
        assert r.headers["Content-Range"] == f"bytes {first}-{last}/{n}"
        assert int(r.headers["Content-Length"]) == last - first + 1 == len(r.data)
        assert r.data == AUDIO[first : last + 1]
        assert r.headers["Content-Security-Policy"].startswith("sandbox")
        assert r.headers["Content-Disposition"].startswith("attachment;")


def test_a_range_past_the_end_is_416_and_a_bad_one_gets_the_whole_file(app):
    c = client(app)
    r = get(c, "/a/1/media", headers={"Range": f"bytes={len(AUDIO)}-"})
    assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{len(AUDIO)}" and r.data == b""
    r = get(c, "/a/1/media", headers={"Range": "bytes=5-1"})
    assert r.status_code == 200 and r.data == AUDIO
