"""Reports written by an attacker: markup and script in every field, `javascript:` links, images that
are too big, bombs, broken JPEGs, invalid UTF-8, 5 MB of text. Each is sealed to the officer like any
report; the viewer must show them inert and keep working."""

from __future__ import annotations

import functools
import io
import json
import struct
import zlib

from PIL import Image

from tests.viewer.bundles import Submission, jpeg, listed, report_doc

XSS = [
    '<script>alert("xss-script")</script>',
    '<img src=x onerror=alert("xss-img")>',
    '<svg onload=alert("xss-svg")><script>alert("xss-svg2")</script></svg>',
    '"><a href="javascript:alert(\'xss-link\')">click</a>',
    "javascript:alert('xss-bare')",
    "</textarea></title><style>body{display:none}</style><iframe src=javascript:alert('xss-frame')>",
    "{{7*7}} {% raw %}${7*7}\u202eevil\u202c \x1b[31mred\x1b[0m",
]
MARKUP = " ".join(XSS)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_claiming(width: int, height: int, rows: int = 4) -> bytes:
    """A small PNG file whose header claims width x height grey pixels (only `rows` rows of data)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = zlib.compress(b"\0" * ((width + 1) * rows), 9)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", raw) + _chunk(b"IEND", b"")


def bomb_png(side: int = 12000) -> bytes:
    """A real decompression bomb: every row present, all zeros, a few hundred KB for 144 megapixels."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (side + 1)
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def broken_jpegs() -> list[bytes]:
    good = io.BytesIO()
    Image.new("RGB", (640, 480), (10, 200, 90)).save(good, "JPEG")
    data = good.getvalue()
    return [data[: len(data) // 2], b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + b"\xff" * 300, data[:20]]


@functools.cache
def hostile_submissions() -> list[Submission]:
    subs = []
    everywhere = report_doc(
        MARKUP,
        category=("<b>slug</b>", MARKUP),
        where={"mode": "typed", "text": MARKUP},
        contact=MARKUP,
        when=MARKUP,
        attachments=[{"name": MARKUP, "type": "text/html", "size": 5, "sha256": None, "metadata": "kept"}],
    )
    html_file = b"<html><script>alert('xss-file')</script></html>"
    subs.append(Submission("XSS0-0001", everywhere, [html_file]))
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(\'xss-svgfile\')">'
        b"<script>alert(1)</script></svg>"
    )
    subs.append(
        Submission(
            "XSS0-0002",
            report_doc(
                "An SVG and an HTML page posing as photos",
                attachments=[
                    listed(svg, "map.svg", "image/svg+xml"),
                    listed(html_file, "photo.jpg", "image/jpeg"),
                ],
            ),
            [svg, html_file],
        )
    )
    big = png_claiming(50_000, 50_000)
    bomb = bomb_png()
    subs.append(
        Submission(
            "IMG0-0001",
            report_doc(
                "Images that must not be decoded",
                attachments=[listed(big, "huge.png", "image/png"), listed(bomb, "bomb.png", "image/png")],
            ),
            [big, bomb],
        )
    )
    broken = broken_jpegs()
    subs.append(
        Submission(
            "IMG0-0002",
            report_doc(
                "Broken JPEGs",
                attachments=[listed(b, f"broken{i}.jpg", "image/jpeg") for i, b in enumerate(broken)],
            ),
            broken,
        )
    )
    invalid = json.dumps(report_doc("Invalid UTF-8 here: XX and here: YY")).encode()
    invalid = invalid.replace(b"XX", b"\xff\xfe\xc0\xaf").replace(
        b"YY", b"\xed\xa0\x80<script>alert('utf')</script>"
    )
    subs.append(Submission("UTF8-0001", invalid))
    subs.append(Submission("UTF8-0002", b"\x00\x01 not json at all <script>alert('raw')</script> \xff"))
    long_text = ("Five megabytes of text. <b>not bold</b> " * 140_000)[:5_000_000]
    subs.append(Submission("LONG-0001", report_doc(long_text)))
    subs.append(Submission("JSON-0001", b'{"what": ' * 50_000))  # deep nesting
    subs.append(
        Submission(
            "JSON-0002",
            json.dumps(
                report_doc(
                    {"what": "not a string"},
                    where={"mode": "device", "lat": "NaN", "lon": 1e308},
                    attachments="nope",
                    reply_public="zz",
                )
            ).encode(),
        )
    )
    photo = jpeg()
    subs.append(
        Submission(
            "GOOD-0001",
            report_doc(
                "A normal report after all of that",
                where={"mode": "device", "lat": 42.6931, "lon": 23.3219, "precision": "100m"},
                attachments=[listed(photo, "p.jpg", "image/jpeg")],
            ),
            [photo],
        )
    )
    return subs
