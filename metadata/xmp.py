"""XMP packets, read for the officer: which of their properties say where, when, with what and by whom.

XMP is RDF/XML that cameras and editors write into JPEG, PNG, WebP, HEIF, MP4 (a `uuid` box) and WAV
(`_PMX`). A property may be written as an attribute (`exif:GPSLatitude="42,41.58N"`) or as an element
(`<tiff:Model>iPhone 15 Pro</tiff:Model>`); both are found by their prefixed names. Nothing here parses
XML: a hostile packet must not cost more than one pass of two regular expressions, and the cleaners
drop the whole packet anyway. This only decides how to describe it.
"""

from __future__ import annotations

import re

from . import Finding

MAX_PACKET = 1 << 20  # only the start of a larger packet is read
MAX_FINDINGS = 64
_ATTRIBUTE = re.compile(rb"([A-Za-z][\w.-]*:[A-Za-z][\w.-]*)\s*=\s*\"([^\"]{0,512})\"")
_ELEMENT = re.compile(rb"<([A-Za-z][\w.-]*:[A-Za-z][\w.-]*)>\s*([^<]{0,512})<")
_KINDS = {  # in this order: "CreatorTool" is software before "creator" makes it a person
    "software": ("CreatorTool", "Software", "softwareAgent"),
    "place": ("GPS", "Location", "City", "State", "Country", "Sublocation", "ProvinceState"),
    "device": ("Make", "Model", "SerialNumber", "Lens", "CameraOwner", "ImageUniqueID", "DeviceSetting"),
    "time": ("Date", "Time"),
    "person": ("creator", "Owner", "rights", "Artist", "Author", "Credit", "By-line"),
    "text": ("title", "description", "subject", "Headline", "Caption", "Comment", "UserComment"),
}


def findings(packet: bytes) -> list[Finding]:
    """One finding per property that says something about the maker; one "other" finding for a
    packet that holds none of those (it is dropped all the same)."""
    head = bytes(packet[:MAX_PACKET])
    found: list[Finding] = []
    for pattern in (_ATTRIBUTE, _ELEMENT):
        for match in pattern.finditer(head):
            name, value = match.group(1).decode("latin-1"), match.group(2)
            kind = kind_of(name)
            if kind and value.strip() and len(found) < MAX_FINDINGS:
                found.append(Finding(kind, f"XMP/{name}", value.decode("utf-8", "replace")))
    return found or [Finding("other", "XMP", head.decode("utf-8", "replace"))]


def kind_of(name: str) -> str | None:
    """The finding kind of a prefixed XMP property name, or None for one that describes the picture
    itself (its size, colour space, orientation...)."""
    local = name.split(":", 1)[1]
    for kind, words in _KINDS.items():
        if any(word.lower() in local.lower() for word in words):
            return kind
    return None
