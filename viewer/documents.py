"""Reading report documents (docs/report.md) that anyone could have written.

Anyone can seal a document to an officer's public key, so nothing in it is trusted: every field is
coerced to its type and bounded, control characters go, coordinates must be numbers on the globe, and
what does not fit becomes a warning the officer reads next to the report. Nothing here raises on bad
input. Media types come from the bytes (`sniff`), never from what the document claims.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field

from crypto.jsonobject import MAX_DEPTH, NotJSONObject, read_json_object

from .i18n import N_

MAX_DOCUMENT = 32 * 1024 * 1024  # a report document larger than this is not stored
MAX_NAME = 200
PRECISIONS = {"exact", "100m", "1km"}
# C0 and C1 controls (terminal escapes among them) but tab and newline; bidi overrides and zero-width marks.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class NotAnObject(ValueError):
    """JSON the viewer will not read: malformed, too large, nested too deeply, or not an object."""


def json_object(data: bytes | str, limit: int = MAX_DOCUMENT) -> dict:
    """`data` as a JSON object, or NotAnObject: never RecursionError, never another type."""
    try:
        return read_json_object(data, limit, MAX_DEPTH)
    except NotJSONObject as e:
        raise NotAnObject(str(e)) from None


def clean(value: object, limit: int | None = None) -> str:
    """A string for display: only strings count; control and bidi-override characters removed."""
    if not isinstance(value, str):
        return ""
    text = _CONTROL.sub("", value.replace("\r\n", "\n"))
    return text[:limit] if limit else text


def one_line(value: object, limit: int) -> str:
    return " ".join(clean(value).split())[:limit]


def _number(value: object, lo: float, hi: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    return v if math.isfinite(v) and lo <= v <= hi else None


@dataclass
class Document:
    """A report document, normalized. `opened` is False when the envelope did not open for us."""

    kind: str = ""
    desk: str = ""
    language: str = ""
    category_slug: str = ""
    category_name: str = ""
    what: str = ""
    when: str = ""
    where: dict = field(default_factory=lambda: {"mode": "none"})
    contact: str = ""
    reply_public: str | None = None
    case_number: str | None = None
    attachments: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    raw: str = ""

    @property
    def lat(self) -> float | None:
        return self.where.get("lat")

    @property
    def lon(self) -> float | None:
        return self.where.get("lon")

    @property
    def place_text(self) -> str:
        return self.where.get("place") or self.where.get("text") or ""


def parse(data: bytes) -> Document:
    """Whatever `data` is, a Document with warnings saying what was wrong with it."""
    doc = Document()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
        doc.warnings.append(N_("The report is not valid UTF-8: undecodable bytes are shown as �."))
    doc.raw = text
    try:
        obj = json_object(text)
    except NotAnObject:
        obj = None
    if obj is None:
        doc.warnings.append(N_("This is not a sealdrop report document: it is shown as plain text."))
        doc.what = clean(text)
        return doc
    if obj.get("format") != "sealdrop-report/1":
        doc.warnings.append(
            f"Unknown document format {one_line(obj.get('format'), 40)!r}: read as version 1."
        )
    doc.kind = one_line(obj.get("kind"), 20)
    if doc.kind not in ("report", "addition"):
        doc.warnings.append(N_("The document does not say whether it is a report or an addition."))
    doc.desk = one_line(obj.get("desk"), 40)
    doc.language = one_line(obj.get("language"), 8)
    category = obj.get("category")
    if isinstance(category, dict):
        doc.category_slug = one_line(category.get("slug"), 40)
        doc.category_name = one_line(category.get("name"), 200)
    doc.what = clean(obj.get("what"))
    doc.when = one_line(obj.get("when"), 100)
    doc.where = _where(obj.get("where"), doc.warnings)
    doc.contact = clean(obj.get("contact"), 2000)
    reply = obj.get("reply_public")
    if isinstance(reply, str) and _HEX64.match(reply):
        doc.reply_public = reply
    elif reply is not None:
        doc.warnings.append(N_("The reporter's reply key in the document is malformed."))
    number = obj.get("case_number")
    doc.case_number = one_line(number, 16) if isinstance(number, str) else None
    doc.attachments = _attachments(obj.get("attachments"), doc.warnings)
    return doc


def _where(where: object, warnings: list[str]) -> dict:
    if not isinstance(where, dict):
        return {"mode": "none"}
    mode = where.get("mode")
    if mode == "typed":
        return {"mode": "typed", "text": clean(where.get("text"), 500)}
    lat, lon = _number(where.get("lat"), -90, 90), _number(where.get("lon"), -180, 180)
    coords = {"lat": lat, "lon": lon} if lat is not None and lon is not None else {}
    if (where.get("lat") is not None or where.get("lon") is not None) and not coords:
        warnings.append(N_("The report gives coordinates that are not a place on Earth: they are ignored."))
    if mode == "place":
        return {"mode": "place", "place": one_line(where.get("place"), 200), **coords}
    if mode in ("device", "map"):  # "map": tapped on one of the desk's map sheets
        if not coords:
            return {"mode": "none"}
        precision = where.get("precision") if where.get("precision") in PRECISIONS else "unknown"
        accuracy = _number(where.get("accuracy_m"), 0, 1e7)
        sheet = {"sheet": one_line(where.get("sheet"), 64)} if mode == "map" else {}
        return {"mode": mode, **sheet, **coords, "precision": precision, "accuracy_m": accuracy}
    if mode not in (None, "none"):
        warnings.append(N_("The report's place is in a form this viewer does not know."))
    return {"mode": "none"}


def _attachments(items: object, warnings: list[str]) -> list[dict]:
    if items is None:
        return []
    if not isinstance(items, list):
        warnings.append(N_("The report's list of attachments is malformed."))
        return []
    out = []
    for item in items[:1000]:
        item = item if isinstance(item, dict) else {}
        sha = item.get("sha256")
        out.append(
            {
                "name": safe_filename(item.get("name")),
                "type": one_line(item.get("type"), 100),
                "size": item.get("size") if isinstance(item.get("size"), int) else None,
                "sha256": sha.lower() if isinstance(sha, str) and _HEX64.match(sha.lower()) else None,
                "metadata": item.get("metadata")
                if item.get("metadata") in ("removed", "kept")
                else "unknown",
            }
        )
    return out


def safe_filename(name: object, fallback: str = "attachment") -> str:
    """A file name fit for a Content-Disposition header and a ZIP entry: no path, no quotes, ASCII."""
    text = unicodedata.normalize("NFKD", clean(name, MAX_NAME)).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", text.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip("._")
    return text[:100] or fallback


# -- media types from the bytes --------------------------------------------------------------------

# What the UI will ever label a response as (every type the cleaners in metadata/ write, and what an
# uncleaned file of the same kind is). Anything else is served as a download only.
PLAYABLE = {
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/3gpp": "3gp",
    "video/webm": "webm",
    "video/x-matroska": "mkv",
    "video/ogg": "ogv",
    "audio/mpeg": "mp3",
    "audio/aac": "aac",
    "audio/ogg": "ogg",
    "audio/webm": "weba",
    "audio/x-matroska": "mka",
    "audio/wav": "wav",
    "audio/mp4": "m4a",
    "audio/3gpp": "3gp",
    "audio/flac": "flac",
    "audio/amr": "amr",
    "audio/amr-wb": "awb",
}
IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")
QUICKTIME_FIRST_BOXES = (b"moov", b"mdat", b"wide", b"free", b"skip")  # old QuickTime: no ftyp


def sniff(head: bytes, claimed: str = "") -> tuple[str, str]:
    """(family, mime) from the first bytes of a file (up to 64): image, video, audio or other."""
    audio_claim = claimed.startswith("audio/")
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image", "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio", "audio/wav"
    if head[4:8] == b"ftyp":
        return _iso_bmff(head[8:12], audio_claim)
    if head[4:8] in QUICKTIME_FIRST_BOXES:
        return "video", "video/quicktime"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return _matroska(head, audio_claim)
    if head.startswith(b"OggS"):
        video = b"\x80theora" in head or claimed.startswith("video/")
        return ("video", "video/ogg") if video else ("audio", "audio/ogg")
    if head.startswith(b"fLaC"):
        return "audio", "audio/flac"
    if head.startswith(b"#!AMR-WB\n"):
        return "audio", "audio/amr-wb"
    if head.startswith(b"#!AMR\n"):
        return "audio", "audio/amr"
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "audio", "audio/aac"  # ADTS: the MPEG sync word with layer 0
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio", "audio/mpeg"
    return "other", "application/octet-stream"


def _iso_bmff(brand: bytes, audio_claim: bool) -> tuple[str, str]:
    if brand in (b"avif", b"avis"):
        return "image", "image/avif"
    if brand in HEIF_BRANDS:
        return "image", "image/heic"  # decoded by pillow-heif, shown re-encoded like every photo
    if brand in (b"M4A ", b"M4B "):
        return "audio", "audio/mp4"
    if brand.startswith((b"3gp", b"3g2")):
        return ("audio", "audio/3gpp") if audio_claim else ("video", "video/3gpp")
    if audio_claim:
        return "audio", "audio/mp4"
    return "video", "video/quicktime" if brand == b"qt  " else "video/mp4"


def _matroska(head: bytes, audio_claim: bool) -> tuple[str, str]:
    """WebM or Matroska by the EBML header's DocType (its element id 0x4282, then a one-byte size)."""
    at = head.find(b"\x42\x82")
    doctype = head[at + 3 : at + 3 + (head[at + 2] & 0x7F)] if 0 <= at < len(head) - 3 else b""
    if doctype == b"matroska":
        return ("audio", "audio/x-matroska") if audio_claim else ("video", "video/x-matroska")
    return ("audio", "audio/webm") if audio_claim else ("video", "video/webm")
