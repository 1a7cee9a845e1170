"""Metadata removal for the no-JS path, in memory: what a camera wrote into a photo stays behind.

Images are decoded by Pillow under a pixel limit, turned upright by their EXIF orientation, and
re-encoded with no EXIF, GPS, XMP or ICC data. Video and audio are recognised by their first bytes
and passed on unchanged but marked, so the officer knows their metadata was not removed. Anything
else, and anything that claims to be a photo but is not one, is refused.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 40_000_000  # a 40-megapixel camera; a decompression bomb is refused before decoding
IMAGE_FORMATS = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "HEIF": "image/heif",
    "MPO": "image/jpeg",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".heic", ".heif", ".bmp", ".tif", ".tiff")


class RejectedFile(ValueError):
    """A file we will not accept; the message is shown to the reporter (translated by its code)."""

    def __init__(self, code: str, filename: str) -> None:
        super().__init__(code)
        self.code = code
        self.filename = filename


@dataclass(frozen=True)
class Clean:
    data: bytes
    mime: str
    name: str
    metadata: str  # "removed" or "kept" (video/audio we cannot rewrite)


def _media_type(head: bytes) -> str | None:
    """Video and audio containers by their magic bytes."""
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return "audio/mp4" if brand in (b"M4A ", b"M4B ") else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    if head.startswith(b"#!AMR"):
        return "audio/amr"
    return None


def _looks_like_image(filename: str, declared: str) -> bool:
    return declared.startswith("image/") or filename.lower().endswith(IMAGE_SUFFIXES)


def scrub(data: bytes, filename: str, declared_type: str = "") -> Clean:
    """Return the file as it may be sealed, or raise RejectedFile."""
    name = _safe_name(filename)
    media = _media_type(data[:16])
    if media and not _looks_like_image(filename, declared_type):
        return Clean(data, media, name, "kept")
    try:
        return _reencode_image(data, name)
    except RejectedFile:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise RejectedFile("too_many_pixels", name) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        code = "not_an_image" if _looks_like_image(filename, declared_type) else "unsupported_type"
        raise RejectedFile(code, name) from None


def _reencode_image(data: bytes, name: str) -> Clean:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        img = Image.open(io.BytesIO(data))
        if img.format not in IMAGE_FORMATS:
            raise UnidentifiedImageError
        if img.width * img.height > MAX_PIXELS:
            raise RejectedFile("too_many_pixels", name)
        img.load()
        img = ImageOps.exif_transpose(img)
    out = io.BytesIO()
    if img.mode in ("RGBA", "LA", "P") and img.format != "JPEG":
        img.convert("RGBA").save(out, "PNG", optimize=False)
        return Clean(out.getvalue(), "image/png", _with_suffix(name, ".png"), "removed")
    img.convert("RGB").save(out, "JPEG", quality=90)
    return Clean(out.getvalue(), "image/jpeg", _with_suffix(name, ".jpg"), "removed")


def _safe_name(filename: str) -> str:
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '<>:"|?*')[:100]
    return cleaned or "file"


def _with_suffix(name: str, suffix: str) -> str:
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return stem + suffix
