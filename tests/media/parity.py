"""Run one file through both cleaners, Python (metadata/) and JavaScript (clean.mjs in Chromium),
so a test can check that they agree byte for byte and that neither kept a marker."""

from __future__ import annotations

import base64
import io
import subprocess
from dataclasses import dataclass
from pathlib import Path

import metadata


@dataclass
class Cleaned:
    data: bytes
    mime: str
    found: list[tuple[str, str]]  # (kind, where) of what the original held


def py_clean(data: bytes) -> Cleaned:
    family = metadata.sniff(data[:16])
    assert family, "not a container we clean"
    source = metadata.BytesSource(data)
    plan = metadata.plan_for(source, family)
    out = b"".join(bytes(c) for c in metadata.iter_pieces(source, plan.pieces))
    assert len(out) == plan.size
    return Cleaned(out, plan.mime, [(f.kind, f.where) for f in plan.found])


def js_clean(page, data: bytes, name: str = "file", mime: str = "") -> Cleaned:
    """`page` is the clean_page fixture (tests/browser/conftest.py)."""
    r = page.evaluate("([b, n, t]) => c.run(b, n, t)", [base64.b64encode(data).decode(), name, mime])
    if not r["ok"]:
        raise metadata.CannotClean(f"{r['name']}: {r['message']}")
    return Cleaned(base64.b64decode(r["b64"]), r["mime"], [(f["kind"], f["where"]) for f in r["found"]])


def js_refuses(page, data: bytes) -> str | None:
    """The error name the JavaScript cleaner throws for `data`, or None when it cleans it."""
    r = page.evaluate("([b]) => c.run(b, 'file', '')", [base64.b64encode(data).decode()])
    return None if r["ok"] else r["name"]


def py_outcome(data: bytes) -> object:
    """What the Python cleaner makes of `data`: (bytes, mime, findings), or "CannotClean"."""
    try:
        out = py_clean(data)
    except metadata.CannotClean:
        return "CannotClean"
    return out.data, out.mime, out.found


def js_outcome(page, data: bytes) -> object:
    """The same from the JavaScript cleaner; any error but CannotClean (a TypeError...) is a bug."""
    try:
        out = js_clean(page, data)
    except metadata.CannotClean as e:
        assert str(e).startswith("CannotClean:"), e
        return "CannotClean"
    return out.data, out.mime, out.found


def decoded_md5(path: Path, streams: str = "0:a") -> str:
    """The checksum of the decoded samples (or frames) of `streams`; ffmpeg must log nothing (a bad
    checksum or header would be logged)."""
    run = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", streams, "-f", "md5", "-"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert not run.stderr, run.stderr
    return run.stdout.strip()


def forward_plan(data: bytes, family: str | None = None) -> metadata.Plan:
    """The plan made reading `data` once, front to back, as the viewer reads a decrypting stream
    (the family sniffed from its first bytes unless given)."""
    source = metadata.ForwardSource(io.BytesIO(data), len(data))
    return metadata.plan_for(source, family or metadata.sniff(data[:16]))


def assert_js_cleans_alike(page, files: dict[str, bytes]) -> None:
    """Each file gives the same bytes, type and findings from the JavaScript cleaner as from Python's."""
    for name, data in files.items():
        py, js = py_clean(data), js_clean(page, data, name)
        assert (js.data, js.mime, js.found) == (py.data, py.mime, py.found), name
