"""Still pictures: re-encoded to nothing but pixels, and read for what they say about their maker.

A picture is never rewritten in place: it is decoded under a pixel limit, turned upright by its EXIF
orientation, copied into a brand-new image (so no `info` Pillow carried over survives: EXIF, GPS,
XMP, IPTC, ICC, JPEG comments, PNG text chunks, MPO's second pictures, embedded thumbnails) and
saved as JPEG, or PNG where it has transparency. HEIF/HEIC (pillow-heif) and AVIF (Pillow) are
decoded the same way and come out as JPEG.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import pillow_heif
from PIL import ExifTags, Image, ImageOps, IptcImagePlugin, UnidentifiedImageError

from . import Finding, xmp

pillow_heif.register_heif_opener()

MAX_PIXELS = 40_000_000  # a 40-megapixel camera; a decompression bomb is refused before decoding
MAX_EDGE = 65_500  # the longest side a JPEG can have (libjpeg's limit); no camera comes near it
# What a decoder may raise on a damaged file: Pillow's own errors, and RuntimeError from the AVIF and
# HEIF plugins (libavif, libheif), which report a broken file that way.
DECODE_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, RuntimeError)
FORMATS = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "HEIF": "image/heic",
    "AVIF": "image/avif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}
JPEG_QUALITY = 90

# EXIF tags by what they give away (docs/metadata.md, "Still pictures").
_EXIF_KINDS = {
    0x010F: ("device", "Make"),
    0x0110: ("device", "Model"),
    0x0131: ("software", "Software"),
    0x0132: ("time", "DateTime"),
    0x013B: ("person", "Artist"),
    0x8298: ("person", "Copyright"),
    0x010E: ("text", "ImageDescription"),
    0x9C9B: ("text", "XPTitle"),
    0x9C9C: ("text", "XPComment"),
    0x9C9D: ("person", "XPAuthor"),
}
_EXIF_IFD_KINDS = {
    0x9003: ("time", "DateTimeOriginal"),
    0x9004: ("time", "DateTimeDigitized"),
    0x9286: ("text", "UserComment"),
    0x927C: ("device", "MakerNote"),
    0xA420: ("device", "ImageUniqueID"),
    0xA430: ("person", "CameraOwnerName"),
    0xA431: ("device", "BodySerialNumber"),
    0xA433: ("device", "LensMake"),
    0xA434: ("device", "LensModel"),
    0xA435: ("device", "LensSerialNumber"),
}


class PictureRefused(ValueError):
    """Not a picture we decode (`code` "not_an_image"), or one with too many pixels ("too_many_pixels")."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Picture:
    data: bytes
    mime: str
    suffix: str


def open_picture(data: bytes) -> Image.Image:
    """The picture, opened lazily under the pixel limit; raises PictureRefused."""
    try:
        with warnings.catch_warnings():
            # Pillow warns (to stderr, with a time stamp under journald) about odd files: refuse instead.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
            if img.format not in FORMATS:
                raise PictureRefused("not_an_image")
            if img.width * img.height > MAX_PIXELS or max(img.size) > MAX_EDGE:
                raise PictureRefused("too_many_pixels")
            return img
    except PictureRefused:  # a ValueError itself: not to be taken for a decoder's
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PictureRefused("too_many_pixels") from None
    except DECODE_ERRORS:
        raise PictureRefused("not_an_image") from None


def reencode(data: bytes) -> Picture:
    """The picture's pixels and nothing else, upright, as JPEG (PNG when it has transparency)."""
    img = open_picture(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img.load()
            img = ImageOps.exif_transpose(img)
            alpha = img.has_transparency_data
            pixels = img.convert("RGBA" if alpha else "RGB")
    except (*DECODE_ERRORS, Image.DecompressionBombError):
        raise PictureRefused("not_an_image") from None
    # A new image from the raw pixels: nothing of the original's `info` can ride along into save().
    fresh = Image.frombytes(pixels.mode, pixels.size, pixels.tobytes())
    out = io.BytesIO()
    if alpha:
        fresh.save(out, "PNG")
        return Picture(out.getvalue(), "image/png", ".png")
    fresh.save(out, "JPEG", quality=JPEG_QUALITY)
    return Picture(out.getvalue(), "image/jpeg", ".jpg")


def mime_of(data: bytes) -> str:
    """The picture's type by what Pillow reads in it (for a picture kept as it is)."""
    return FORMATS[open_picture(data).format]


def findings(data: bytes) -> list[Finding]:
    """What the picture says about its maker: EXIF (place, device, time, owner), XMP, IPTC, ICC,
    comments, text chunks, thumbnails, second pictures. Empty for a picture we made ourselves."""
    img = open_picture(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = _exif_findings(img) + _info_findings(img)
        try:
            frames = getattr(img, "n_frames", 1) if img.format == "MPO" else 1
        except DECODE_ERRORS:
            frames = 1
    if frames > 1:
        found.append(Finding("thumbnail", "MPO", f"{frames - 1} more pictures inside"))
    if img.format in ("JPEG", "MPO") and _appended_video(data):
        found.append(Finding("thumbnail", "motion photo", "a video of the moment, appended to the picture"))
    return found


def _appended_video(data: bytes) -> bool:
    """Whether an MP4 follows the picture (a "motion photo": Google's and Samsung's cameras append the
    seconds around the shot, with their own metadata). Its `ftyp` box is looked for past the JPEG's
    start, with a plausible box size before it, so entropy-coded data seldom passes for one."""
    at = data.find(b"ftyp", 8)
    for _ in range(64):  # a hostile file full of "ftyp" costs 64 looks, not one per occurrence
        if at < 0:
            return False
        size = int.from_bytes(data[at - 4 : at], "big")
        if 16 <= size <= 256 and data[at + 4 : at + 8].isascii():
            return True
        at = data.find(b"ftyp", at + 4)
    return True  # so many candidates: say so rather than stay silent


def _exif_findings(img: Image.Image) -> list[Finding]:
    try:
        exif = img.getexif()
    except Exception:  # a broken EXIF block still counts as one
        return [Finding("other", "EXIF", "unreadable")]
    found = [Finding(kind, f"EXIF/{name}", _text(exif.get(tag))) for tag, (kind, name) in _EXIF_KINDS.items()
             if exif.get(tag)]  # fmt: skip
    for ifd, kinds, where in ((ExifTags.IFD.Exif, _EXIF_IFD_KINDS, "EXIF"),):
        sub = _ifd(exif, ifd)
        found += [Finding(kind, f"{where}/{name}", _text(sub.get(tag))) for tag, (kind, name) in kinds.items()
                  if sub.get(tag)]  # fmt: skip
    gps = _ifd(exif, ExifTags.IFD.GPSInfo)
    if gps:
        found.append(Finding("place", "EXIF/GPS", _gps_text(gps)))
    if _ifd(exif, ExifTags.IFD.IFD1).get(0x0201) or getattr(img, "info", {}).get("thumbnail"):
        found.append(Finding("thumbnail", "EXIF/IFD1", "a small copy of the picture"))
    if len(exif) and not found:
        found.append(Finding("other", "EXIF", f"{len(exif)} fields"))
    return found


def _info_findings(img: Image.Image) -> list[Finding]:
    info = img.info
    found = []
    packet = info.get("xmp") or info.get("XML:com.adobe.xmp")
    if packet:
        found += xmp.findings(packet if isinstance(packet, bytes) else str(packet).encode())
    if info.get("icc_profile"):  # a phone's profile names the display, not the phone; dropped all the same
        found.append(Finding("other", "ICC", "colour profile"))
    if info.get("comment"):
        found.append(Finding("text", "comment", _text(info["comment"])))
    text_chunks = getattr(img, "text", None) if img.format == "PNG" else None
    for key, value in (text_chunks or {}).items():
        if key != "XML:com.adobe.xmp":
            found.append(Finding("text", f"PNG/{key}", _text(value)))
    if img.format in ("JPEG", "MPO", "TIFF"):
        try:
            iptc = IptcImagePlugin.getiptcinfo(img) or {}
        except Exception:
            iptc = {"?": b"unreadable"}
        if iptc:
            found.append(Finding("text", "IPTC", _text(b" ".join(_flat(v) for v in iptc.values()))))
    return found


def _ifd(exif: Image.Exif, ifd: int) -> dict:
    try:
        return exif.get_ifd(ifd) or {}
    except Exception:
        return {}


def _flat(value) -> bytes:
    if isinstance(value, list):
        return b" ".join(_flat(v) for v in value)
    return value if isinstance(value, bytes) else str(value).encode()


def _text(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace").replace("\x00", " ")
    return str(value if value is not None else "")


def _gps_text(gps: dict) -> str:
    lat, lon = _degrees(gps.get(2), gps.get(1)), _degrees(gps.get(4), gps.get(3))
    return f"{lat:.5f}, {lon:.5f}" if lat is not None and lon is not None else "GPS fields"


def _degrees(dms, ref) -> float | None:
    try:
        d, m, s = (float(x) for x in dms)
        value = d + m / 60 + s / 3600
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return -value if str(ref).upper() in ("S", "W") else value
