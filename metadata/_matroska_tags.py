"""What a Matroska file's metadata said (metadata/matroska.py voids it): element values as the officer
reads them, Tags (each SimpleTag's kind by its name, or by a value that looks like a place) and
Chapters' titles, as findings."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from . import Finding
from ._ebml import _children

TAG, SIMPLE_TAG, TAG_NAME, TAG_STRING, TAG_BINARY = 0x7373, 0x67C8, 0x45A3, 0x4487, 0x4485
CHAPTER_MASTERS = {0x45B9, 0xB6, 0x80, 0x4520}  # EditionEntry, ChapterAtom, ChapterDisplay, EditionDisplay
CHAPTER_STRINGS = {0x85, 0x4521}  # ChapString, EditionString
EPOCH = datetime(2001, 1, 1, tzinfo=UTC)  # Matroska dates count nanoseconds from here
PLACE = re.compile(
    r"[+-]\d{1,2}\.\d+[+-]\d{1,3}\.\d+|-?\d{1,2}\.\d{3,}, ?-?\d{1,3}\.\d{3,}"
)  # ISO 6709, "lat, lon"
PLACE_NAMES = re.compile(r"LOCAT|GPS|GEO|ISO6709|LATITUDE|LONGITUDE|COORDINATE")
PERSON_NAMES = re.compile(
    r"ARTIST|PERFORMER|COMPOSER|ARRANGER|LYRICIST|CONDUCTOR|DIRECTOR|ENGINEER|DESIGNER|ACTOR|CHARACTER"
    r"|WRITTEN|_BY$|PRODUCER|PUBLISHER|LABEL|COPYRIGHT|AUTHOR|OWNER|EMAIL|THANKS|STUDIO|ACCOMPANIMENT"
)
TIME_NAMES = re.compile(r"DATE|(^|[_.])TIME($|[_.])|TIMESTAMP|^YEAR$")  # not QUICKTIME
DEVICE_NAMES = re.compile(r"MAKE|MODEL|DEVICE|SERIAL|VENDOR|CAMERA|LENS")
SOFTWARE_NAMES = re.compile(r"ENCODER|APP|SOFTWARE|HANDLER|TOOL")
NAME_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
OTHER_NAMES = re.compile(r"^(DURATION|BPS|NUMBER_OF_|_STATISTICS)")


def _value(raw: bytes, how: str) -> str:
    """An element's value as the officer reads it; "" when there is nothing (empty, or all NULs)."""
    if not raw.strip(b"\0"):
        return ""
    if how == "date" and len(raw) == 8:
        ns = int.from_bytes(raw, "big", signed=True)
        return (EPOCH + timedelta(seconds=ns // 1_000_000_000)).strftime("%Y-%m-%d %H:%M:%S")
    if how == "text":
        return raw.strip(b"\0")[:256].decode("utf-8", "replace")
    return raw[:32].hex()


def _tag_kind(name: str, value: str) -> str:
    """What a tag is about, by its name (TITLE, DATE_RECORDED, LOCATION...), or by its value when the
    name says nothing (coordinates in a COMMENT are a place)."""
    name = name.upper()
    if PLACE_NAMES.search(name):
        return "place"
    if TIME_NAMES.search(name):
        return "time"
    for kind, names in (("person", PERSON_NAMES), ("device", DEVICE_NAMES), ("software", SOFTWARE_NAMES)):
        if names.search(name):
            return kind
    if OTHER_NAMES.search(name):
        return "other"
    return "place" if PLACE.search(value) else "text"


def _tag_findings(data: bytes) -> list[Finding]:
    found: list[Finding] = []
    for eid, _, body, end in _children(data, 0, len(data)):
        if eid == TAG:
            for cid, _, cbody, cend in _children(data, body, end):
                if cid == SIMPLE_TAG:
                    _simple_tag(data, cbody, cend, found)
    return found


def _simple_tag(data: bytes, lo: int, hi: int, found: list[Finding]) -> None:
    name, value = "?", ""
    for eid, _, body, end in _children(data, lo, hi):
        if eid == TAG_NAME:
            name = _where_name(data[body:end])
        elif eid == TAG_STRING:
            value = _value(data[body:end], "text")
        elif eid == TAG_BINARY and end > body:
            value = f"{end - body} bytes"
        elif eid == SIMPLE_TAG:
            _simple_tag(data, body, end, found)
    if value:
        found.append(Finding(_tag_kind(name, value), f"Tags/{name}", value))


def _where_name(raw: bytes) -> str:
    """A tag's name as a finding's place: ASCII letters, digits and _.- kept, any other byte "_"."""
    raw = raw.strip(b"\0")[:40]
    return "".join(chr(b) if b in NAME_BYTES else "_" for b in raw) or "?"


def _chapter_findings(data: bytes) -> list[Finding]:
    strings: list[str] = []

    def walk(lo: int, hi: int) -> None:
        for eid, _, body, end in _children(data, lo, hi):
            if eid in CHAPTER_MASTERS:
                walk(body, end)
            elif eid in CHAPTER_STRINGS and _value(data[body:end], "text"):
                strings.append(_value(data[body:end], "text"))

    walk(0, len(data))
    return [Finding("text", "Chapters", "; ".join(strings))]
