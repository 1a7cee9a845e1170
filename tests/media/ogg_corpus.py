"""The Ogg test files (for test_ogg_*.py) and the page and packet readers the tests share.

Files are made here by ffmpeg, shaped like what an Android recorder writes (Opus with ENCODER, DATE,
LOCATION, ARTIST), plus the awkward cases: a Vorbis comment spanning pages, Theora video with Vorbis,
FLAC in Ogg with a PICTURE block (re-paged by hand, page() here). The corpus is made once per session:
corpus_files(tmp_path_factory), wrapped by each test file's `corpus` fixture.
"""

from __future__ import annotations

import base64
import io
import struct
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from metadata.ogg import crc_of

PLACE = "+42.6931+023.3219"
PERSON = "Ivan Petrov"
DATE = "2026-05-01T10:11:12"


def ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *map(str, args)], check=True)


def pages(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        assert data[pos : pos + 4] == b"OggS"
        segments = data[pos + 26]
        end = pos + 27 + segments + sum(data[pos + 27 : pos + 27 + segments])
        out.append(data[pos:end])
        pos = end
    return out


def packets(data: bytes) -> list[tuple[int, bytes, int]]:
    """(serial, packet, granule of the page where it ends) for every packet, in order."""
    out, open_ = [], {}
    for page in pages(data):
        granule, serial = struct.unpack_from("<qI", page, 6)
        segments = page[26]
        at, run = 27 + segments, b""
        run = open_.pop(serial, b"")
        for value in page[27 : 27 + segments]:
            run += page[at : at + value]
            at += value
            if value < 255:
                out.append((serial, run, granule))
                run = b""
        if run:
            open_[serial] = run
    return out


def page(serial: int, sequence: int, granule: int, flags: int, packet: bytes) -> bytes:
    """One page holding one whole packet (under 64 KiB)."""
    lacing = bytes([255] * (len(packet) // 255) + [len(packet) % 255])
    head = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, serial, sequence, 0, len(lacing))
    raw = bytearray(head + lacing + packet)
    struct.pack_into("<I", raw, 22, crc_of(raw))
    return bytes(raw)


_CORPUS: dict[str, Path] = {}


def corpus_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The test files by name, made on the first call (a folder of the session's)."""
    if not _CORPUS:
        _CORPUS.update(_make_corpus(tmp_path_factory))
    return dict(_CORPUS)


def _make_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("ogg")
    sine = ["-f", "lavfi", "-i", "sine=frequency=440:duration=1"]
    video = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=15:duration=1"]
    png = _png()
    block = struct.pack(">II", 3, 9) + b"image/png" + struct.pack(">IIIIII", 0, 8, 8, 24, 0, len(png)) + png
    picture = base64.b64encode(block).decode()
    tags = ["-metadata", f"LOCATION={PLACE}", "-metadata", f"ARTIST={PERSON}", "-metadata", f"DATE={DATE}"]
    files = {
        "android.opus.ogg": [*sine, "-c:a", "libopus", *tags, "-metadata:s:a:0", "TITLE=Voice 001",
                             "-metadata", f"METADATA_BLOCK_PICTURE={picture}"],
        "long.vorbis.ogg": [*sine, "-c:a", "libvorbis", *tags, "-metadata", "COMMENT=" + "x" * 70_000],
        "theora.ogg": [*video, *sine, "-c:v", "libtheora", "-c:a", "libvorbis", *tags],
        "flac.oga": [*sine, "-c:a", "flac", *tags],
    }  # fmt: skip
    out = {}
    for name, args in files.items():
        ffmpeg(*args, tmp / name)
        out[name] = tmp / name
    out["picture.flac.oga"] = _with_picture(out["flac.oga"], tmp)
    return out


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(out, "PNG")
    return out.getvalue()


def _with_picture(path: Path, tmp: Path) -> Path:
    """The FLAC-in-Ogg file with a PICTURE block after its comment, as taggers add cover art: packets
    re-paged one per page (ffmpeg cannot write one)."""
    items = packets(path.read_bytes())
    serial = items[0][0]
    mapping, comment = bytearray(items[0][1]), bytearray(items[1][1])
    assert comment[0] & 0x80, "the comment block was the last one"
    comment[0] &= 0x7F
    mapping[7:9] = (int.from_bytes(mapping[7:9], "big") + 1).to_bytes(2, "big")
    body = struct.pack(">II", 3, 9) + b"image/png" + struct.pack(">I", 7) + b"Holiday" + bytes(16)
    body += struct.pack(">I", 4) + b"\x89PNG"
    picture = bytes([0x80 | 6]) + len(body).to_bytes(3, "big") + body
    header = [bytes(mapping), bytes(comment), picture]
    out = b"".join(page(serial, i, 0, 2 if i == 0 else 0, p) for i, p in enumerate(header))
    audio = [(p, g) for _, p, g in items[2:]]
    for i, (p, g) in enumerate(audio):
        out += page(serial, 3 + i, g, 4 if i == len(audio) - 1 else 0, p)
    target = tmp / "picture.flac.oga"
    target.write_bytes(out)
    return target
