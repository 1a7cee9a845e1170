"""The officer's check of every attachment against the metadata policy (docs/metadata.md).

Whatever the report claims ("removed" or "kept"), the viewer reads the file itself with the same
cleaners the server and the browser use (metadata/) and says, in sentences, what in it could identify
the reporter: a place, a device, a time, a name, a title, a hidden thumbnail. Photos are read from
memory; video and audio from the decrypting pipe, front to back, so a large video is checked without
ever being held whole.

Two grades. A place, a device, a time, a person, a text or a thumbnail is a *warning*: it can lead to
the reporter. The app that wrote the file ("software": the browser's MediaRecorder writes "Chrome"
into every WebM, and a WebM must name its muxer) and data we do not interpret ("other") are *notes*:
listed, never alarming on their own, so a file that is clean by our rules never looks like an alarm.
A file that could not be read at all says so (`unchecked`): it must be handled as if it said anything.

Each result is kept in this process's memory, keyed by the envelope's SHA-256 (the attachment's file
name in the vault), so a case page opened twice reads each video once.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import metadata
from metadata import images as pictures

from . import i18n, media
from .documents import one_line
from .errors import ViewerError
from .i18n import N_, _, ngettext
from .vault import Vault

PHOTO_LIMIT = 64 * 1024 * 1024
WARN_KINDS = ("place", "device", "time", "person", "text", "thumbnail")
NOTE_KINDS = ("software", "other")
SENTENCES = {
    "place": N_("It records where it was taken: %(values)s"),
    "device": N_("The camera or phone is named in it: %(values)s"),
    "time": N_("It records when it was made: %(values)s"),
    "person": N_("It names a person (owner, author, artist): %(values)s"),
    "text": N_("It carries a title or comment: %(values)s"),
    "thumbnail": N_("It holds a hidden copy of the picture: %(values)s"),
    "software": N_("The app that wrote it: %(values)s"),
    "other": N_("Other data written into it, which sealview does not interpret: %(values)s"),
}
CLAIMS = {
    "kept": N_("The reporter chose to keep the original data."),
    "removed": N_(
        "The report says it was removed, yet it got through: a cleaner missed it, or the report was altered."
    ),
}
UNKNOWN_CLAIM = N_("The report does not say whether it was removed.")
VALUES_SHOWN = 4  # per kind; a hostile file may carry thousands of tags
CACHE_ENTRIES = 4096
_cache: dict[tuple[str, str], Check] = {}


@dataclass
class Check:
    """What the officer is told about one attachment's hidden data."""

    warnings: list[str] = field(default_factory=list)  # could identify the reporter
    notes: list[str] = field(default_factory=list)  # written into the file, not identifying by itself
    unchecked: str = ""  # why the file could not be checked, if it could not

    @property
    def shown(self) -> bool:
        return bool(self.warnings or self.notes or self.unchecked)


def claim_text(claim: str) -> str:
    """What the report said about the attachment's data ("kept", "removed", "unknown"), against
    what the file holds: the sentence that goes before the list of warnings."""
    return _(CLAIMS.get(claim, UNKNOWN_CLAIM))


# The fixed words metadata/ writes into a finding (in English), said in the officer's language.
FIXED_WORDS = (
    N_("colour profile"),
    N_("a small copy of the picture"),
    N_("a video of the moment, appended to the picture"),
    N_("unreadable"),
    N_("too large to read"),
    N_("cut short"),
    N_("trailing data"),
)
COUNTED = {
    re.compile(r"(\d+) bytes"): lambda n: ngettext("%(num)d byte", "%(num)d bytes", n),
    re.compile(r"(\d+) fields"): lambda n: ngettext("%(num)d field", "%(num)d fields", n),
    re.compile(r"(\d+) more pictures inside"): lambda n: ngettext(
        "%(num)d more picture inside", "%(num)d more pictures inside", n
    ),
}


def _word(text: str) -> str:
    for pattern, counted in COUNTED.items():
        if m := pattern.fullmatch(text or ""):
            return counted(int(m[1]))
    return i18n.translated(text) if text in FIXED_WORDS else text


def judged(findings: list[metadata.Finding]) -> Check:
    """One sentence per kind of finding, warnings apart from notes."""
    by_kind: dict[str, dict[str, None]] = {}  # each kind's values, in order, once each
    for f in findings:
        where, found = _word(f.where), _word(f.value)
        value = f"{where}: {found}" if f.kind == "other" and found else found or where
        by_kind.setdefault(f.kind, {})[value] = None
    check = Check()
    for kind in (*WARN_KINDS, *NOTE_KINDS):
        values = list(by_kind.get(kind, ()))
        if values:
            text = "; ".join(values[:VALUES_SHOWN])
            if len(values) > VALUES_SHOWN:
                text += _("; and %(n)d more", n=len(values) - VALUES_SHOWN)
            (check.warnings if kind in WARN_KINDS else check.notes).append(_(SENTENCES[kind], values=text))
    return check


def check_photo(data: bytes) -> Check:
    """A picture's hidden data, read from its bytes in memory."""
    try:
        return judged(pictures.findings(data))
    except pictures.PictureRefused:
        return Check(unchecked=_("sealview could not read this picture."))
    except Exception:  # Pillow on hostile input: whatever it raises, the page must still show
        return Check(unchecked=_("sealview could not read this picture (it may be damaged)."))


def check_attachment(vault: Vault, row) -> Check:
    """Read the attachment (photo, video, audio, anything) for identifying data; once per process
    (and language: the sentences are in the officer's)."""
    key = (row["file"], i18n.current())
    if key in _cache:
        return _cache[key]
    try:
        check = _check(vault, row)
    except ViewerError as e:  # the envelope no longer opens: say so, and try again next time
        return Check(unchecked=str(e))
    while len(_cache) >= CACHE_ENTRIES:
        _cache.pop(next(iter(_cache)))
    _cache[key] = check
    return check


def _check(vault: Vault, row) -> Check:
    chunks = media.stream(vault, row)
    try:
        reader = _ChunkReader(chunks)
        family = metadata.sniff(reader.peek(16))
        if row["family"] == "image" or family in (None, "heif"):
            return _photo_from(reader, row["size"], shown=row["family"] == "image")
        return _container(reader, row["size"], family)
    finally:
        chunks.close()


def _photo_from(reader: _ChunkReader, size: int | None, shown: bool) -> Check:
    """A picture (`shown` on the case page, or one the page does not show, like a TIFF) or, when
    Pillow does not take it either, a file of a kind sealview cannot read."""
    data = None if size is not None and size > PHOTO_LIMIT else reader.read_up_to(PHOTO_LIMIT)
    if data is None:
        return Check(
            unchecked=_(
                "It is larger than %(n)d MB, more than sealview reads for a picture.", n=PHOTO_LIMIT >> 20
            )
        )
    if not shown:
        try:
            pictures.open_picture(data)
        except pictures.PictureRefused:
            return Check(unchecked=_("sealview cannot read this kind of file."))
    return check_photo(data)


def _container(reader: _ChunkReader, size: int | None, family: str) -> Check:
    """Video and audio: the cleaner's plan over the decrypting stream; its findings are the check."""
    if size is None:
        return Check(unchecked=_("sealview does not know its size."))
    try:
        plan = metadata.plan_for(metadata.ForwardSource(reader, size), family)
    except metadata.CannotClean as e:
        # the cleaner's reason may quote the file (a chunk's name): controls and bidi marks go
        return Check(
            unchecked=_(
                "sealview does not understand its structure (%(reason)s).", reason=one_line(str(e), 200)
            )
        )
    except ViewerError:  # the envelope failed to open on the way: check_attachment says so
        raise
    except ImportError:  # a family whose cleaner this installation does not have
        return Check(unchecked=_("sealview cannot yet read this kind of file."))
    except Exception:  # a reader's bug on a hostile file must not take the case page down with it
        return Check(
            unchecked=_("sealview's reader failed on it (the file may be damaged, or made to harm).")
        )
    return judged(plan.found)


class _ChunkReader(io.RawIOBase):
    """A file-like over an iterator of chunks (the decrypting pipe), whose first bytes can be peeked."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks, self._pending, self._at = chunks, b"", 0

    def readable(self) -> bool:
        return True

    def peek(self, n: int) -> bytes:
        while len(self._pending) - self._at < n and (more := next(self._chunks, b"")):
            self._pending = self._pending[self._at :] + more
            self._at = 0
        return self._pending[self._at : self._at + n]

    def readinto(self, buffer) -> int:
        if self._at == len(self._pending):
            self._pending, self._at = next(self._chunks, b""), 0
        n = min(len(buffer), len(self._pending) - self._at)
        buffer[:n] = memoryview(self._pending)[self._at : self._at + n]
        self._at += n
        return n

    def read_up_to(self, limit: int) -> bytes | None:
        """Everything left, or None if it is more than `limit` bytes."""
        parts, total = [], 0
        while chunk := self.read(1 << 20):
            parts.append(chunk)
            total += len(chunk)
            if total > limit:
                return None
        return b"".join(parts)
