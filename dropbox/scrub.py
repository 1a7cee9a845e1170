"""Metadata removal for the no-JS path, in memory, by the policy of docs/metadata.md (metadata/).

Pictures are re-encoded to pixels only (metadata.images). Video and audio are rewritten without
re-encoding (metadata.plan_for): the result is a list of pieces over the request's own buffer, so a
200 MiB video is cleaned and sealed without a second copy of it. A file we cannot clean is refused,
naming it, unless the reporter explicitly chose to keep the original data; then it is sealed as it
came and marked "kept", and the officer is told. A cleaned file also loses its name, which phones
make from the second it was taken (metadata.neutral_name); a kept one keeps it.

Decoding a picture costs up to about 15 bytes a pixel while it is re-encoded (five RGB copies at the
worst moment, metadata.images.reencode: ~0.6 GB at 40 megapixels), so at most `Config.max_decodes`
are decoded at once per app (DecodeGate); a picture that waits longer than `Config.decode_wait_s` for
its turn is refused as "busy" and the reporter is asked to send it again.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import current_app, g, has_app_context

import metadata
from metadata import BytesSource, Copy, Piece, PiecesReader
from metadata import images as pictures

MAX_PIXELS = pictures.MAX_PIXELS
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".heic", ".heif", ".avif", ".bmp", ".tif",
                  ".tiff")  # fmt: skip
MEDIA_MIME = {  # for a file kept as it came, when its container cannot be read
    "bmff": "video/mp4",
    "matroska": "video/webm",
    "ogg": "audio/ogg",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "amr": "audio/amr",
}
# Pictures whose original the reporter may keep: the viewer decodes these formats.
KEEPABLE_PICTURES = {"image/jpeg", "image/png", "image/webp", "image/gif", "image/heic", "image/avif"}


class RejectedFile(ValueError):
    """A file we will not accept; the message is shown to the reporter (translated by its code)."""

    def __init__(self, code: str, filename: str) -> None:
        super().__init__(code)
        self.code = code
        self.filename = filename


class Busy(RejectedFile):
    """No turn to decode a picture came within the wait: the reporter sends again in a moment."""

    def __init__(self, filename: str) -> None:
        super().__init__("busy", filename)


class DecodeGate:
    """At most `slots` pictures decoded at once; a request waits up to `wait_s` for a turn."""

    def __init__(self, slots: int, wait_s: float) -> None:
        self._slots = threading.BoundedSemaphore(max(1, slots))
        self.wait_s = wait_s

    @contextmanager
    def turn(self, filename: str) -> Iterator[None]:
        if not self._slots.acquire(timeout=self.wait_s):
            raise Busy(filename)
        try:
            yield
        finally:
            self._slots.release()


GATE_KEY = "sealdrop.decode_gate"
REFUSED_KEY = "sealdrop_decode_refused"  # on flask.g: this request was told "busy" already


def _app_gate() -> DecodeGate | None:
    """The app's gate, made on first use from its Config; outside an app (scripts, unit tests) none."""
    if not has_app_context():
        return None
    gate = current_app.extensions.get(GATE_KEY)
    if gate is None:
        cfg = current_app.config["SEALDROP"]
        gate = current_app.extensions.setdefault(GATE_KEY, DecodeGate(cfg.max_decodes, cfg.decode_wait_s))
    return gate


def _reencode(raw: bytes, name: str) -> pictures.Picture:
    gate = _app_gate()
    if gate is None:
        return pictures.reencode(raw)
    if g.get(REFUSED_KEY):  # one wait per request: its other pictures would only wait in vain again
        raise Busy(name)
    try:
        with gate.turn(name):
            return pictures.reencode(raw)
    except Busy:
        setattr(g, REFUSED_KEY, True)
        raise


@dataclass
class Clean:
    """A file as it will be sealed: pieces over `source`, never a copy of the whole of it."""

    source: BytesSource
    pieces: list[Piece]
    mime: str
    name: str
    metadata: str  # "removed", or "kept" when the reporter chose to keep the original data

    @property
    def size(self) -> int:
        return metadata.size_of(self.pieces)

    @classmethod
    def whole(cls, data: bytes, mime: str, name: str, kept: str) -> Clean:
        return cls(BytesSource(data), [Copy(0, len(data))], mime, name, kept)

    def open(self) -> PiecesReader:
        return PiecesReader(self.source, self.pieces)

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for chunk in metadata.iter_pieces(self.source, self.pieces):
            digest.update(chunk)
        return digest.hexdigest()


def scrub(data: bytes | memoryview, filename: str, declared_type: str = "", *, keep: bool = False) -> Clean:
    """Return the file as it may be sealed, or raise RejectedFile."""
    name = _safe_name(filename)
    family = metadata.sniff(bytes(data[:16]))
    if family in MEDIA_MIME and not _looks_like_image(filename, declared_type):
        return _media(data, family, name, keep)
    raw = bytes(data)  # Pillow reads from bytes: one copy of the picture, however it is used
    try:
        if keep:
            mime = pictures.mime_of(raw)
            if mime not in KEEPABLE_PICTURES:
                raise RejectedFile("cannot_keep", name)
            return Clean.whole(raw, mime, name, "kept")
        picture = _reencode(raw, name)
    except pictures.PictureRefused as e:
        if e.code == "not_an_image" and not _looks_like_image(filename, declared_type):
            raise RejectedFile("unsupported_type", name) from None
        raise RejectedFile(e.code, name) from None
    return Clean.whole(picture.data, picture.mime, metadata.neutral_name(picture.mime), "removed")


def _media(data: bytes | memoryview, family: str, name: str, keep: bool) -> Clean:
    source = BytesSource(data)
    try:
        plan = metadata.plan_for(source, family)
    except metadata.CannotClean:
        if not keep:
            raise RejectedFile("cannot_clean_file", name) from None
        return Clean(source, [Copy(0, source.size)], MEDIA_MIME[family], name, "kept")
    if keep:
        return Clean(source, [Copy(0, source.size)], plan.mime, name, "kept")
    return Clean(source, plan.pieces, plan.mime, metadata.neutral_name(plan.mime), "removed")


def _looks_like_image(filename: str, declared: str) -> bool:
    return declared.startswith("image/") or filename.lower().endswith(IMAGE_SUFFIXES)


def _safe_name(filename: str) -> str:
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '<>:"|?*')[:100]
    return cleaned or "file"
