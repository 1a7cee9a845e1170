"""What a file says about its maker (place, device, time, owner), found and removed.

One policy (docs/metadata.md), applied in three places: the browser (dropbox/static/js/clean.mjs and
media.mjs) before sealing, the server on the no-JS path before sealing, and the viewer, which checks
every attachment it opens and tells the officer what got through. This package imports nothing of
ours, so both halves of the air gap may use it.

    family = sniff(head)                     # "bmff", "matroska", "ogg", ... or None
    plan = plan_for(BytesSource(data), family)
    plan.found                               # what identifying data the original holds
    plan.pieces                              # the cleaned file: ranges of the original + new bytes

Containers are rewritten without re-encoding (a video stays bit for bit the same frames); still
pictures are re-encoded to pixels only (images.py).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from ._source import (
    BytesSource,
    Copy,
    ForwardSource,
    Piece,
    PiecesReader,
    Source,
    iter_pieces,
    merged,
    size_of,
)
from .errors import CannotClean

# What a finding is about; the viewer words each kind for the officer.
KINDS = ("place", "device", "time", "person", "text", "software", "thumbnail", "other")

# Container families and the module that cleans each; every module has plan(source) -> Plan.
FAMILIES = {
    "bmff": "bmff",  # MP4, MOV, 3GP, M4A; HEIF/AVIF structurally (their Exif and XMP items)
    "matroska": "matroska",  # WebM, MKV
    "ogg": "ogg",  # Opus, Vorbis (and Theora) comments
    "wav": "riff",
    "mp3": "mp3",
    "flac": "flac",
    "amr": "amr",
}
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
BMFF_FIRST_BOXES = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"}
MAX_VALUE = 80  # characters of a finding's value kept for the officer to read


@dataclass(frozen=True)
class Finding:
    """One identifying thing in a file: what kind, where in the file, and a short excerpt of it."""

    kind: str
    where: str
    value: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}")
        cleaned = "".join(ch if ch.isprintable() else " " for ch in self.value)
        object.__setattr__(self, "value", " ".join(cleaned.split())[:MAX_VALUE])


@dataclass
class Plan:
    """A cleaned file as pieces of the original, its type, and what the original held."""

    mime: str
    pieces: list[Piece]
    found: list[Finding] = field(default_factory=list)

    @property
    def size(self) -> int:
        return size_of(self.pieces)


# A cleaned file's name in the report: what it is, never what the phone called it. Camera apps name
# files after the second they were made (20261130_170412.jpg, PXL_20261130_170412345.jpg,
# VID-20261130-WA0003.mp4) and after the app or phone (IMG_, PXL_, WhatsApp): the same facts we
# remove from inside the file. The JavaScript twin is clean.mjs's neutralName.
NEUTRAL_NAMES = {
    "image/jpeg": "photo.jpg", "image/png": "photo.png", "image/heic": "photo.heic",
    "image/avif": "photo.avif", "video/mp4": "video.mp4", "video/quicktime": "video.mov",
    "video/3gpp": "video.3gp", "video/webm": "video.webm", "video/x-matroska": "video.mkv",
    "video/ogg": "video.ogv", "audio/mp4": "recording.m4a",
    "audio/webm": "recording.webm", "audio/ogg": "recording.ogg", "audio/wav": "recording.wav",
    "audio/mpeg": "recording.mp3", "audio/aac": "recording.aac", "audio/flac": "recording.flac",
    "audio/amr": "recording.amr", "audio/amr-wb": "recording.awb",
}  # fmt: skip


def neutral_name(mime: str) -> str:
    """The name a cleaned file travels under (NEUTRAL_NAMES), "file" for a type not listed."""
    return NEUTRAL_NAMES.get(mime, "file")


def sniff(head: bytes) -> str | None:
    """The container family of a file by its first 16 bytes, or None (a picture, or nothing we take).
    HEIF and AVIF photos are "heif": pictures, but in a BMFF container."""
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return "heif" if brand in HEIF_BRANDS else "bmff"
    if head[4:8] in BMFF_FIRST_BOXES:
        return "bmff"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head.startswith(b"OggS"):
        return "ogg"
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":  # RF64: a recording over 4 GiB
        return "wav"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"#!AMR"):
        return "amr"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def plan_for(source: Source, family: str) -> Plan:
    """The cleaning plan of a file of `family` (from sniff); raises CannotClean."""
    name = "bmff" if family == "heif" else FAMILIES.get(family)
    if name is None:
        raise CannotClean(f"no cleaner for {family!r}")
    module = importlib.import_module(f"{__name__}.{name}")
    plan = module.plan(source)
    plan.pieces = merged(plan.pieces)
    return plan


__all__ = [
    "KINDS",
    "BytesSource",
    "CannotClean",
    "Copy",
    "Finding",
    "ForwardSource",
    "Piece",
    "PiecesReader",
    "Plan",
    "Source",
    "iter_pieces",
    "neutral_name",
    "plan_for",
    "size_of",
    "sniff",
]
