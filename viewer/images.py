"""Photos from strangers, made safe to look at: decoded by Pillow under limits and re-encoded (what
they say about their maker is read by hidden.py).

The original bytes are never shown inline: the browser only ever decodes a JPEG that Pillow wrote here.
Limits: the file's size, the pixel count (checked from the header before anything is decoded), the
formats Pillow may try (JPEG, PNG, GIF, WebP, and HEIF/AVIF through libheif and libavif: no other
decoders), and any decompression-bomb warning is an error. Whatever goes wrong becomes ImageRefused
with a sentence for the officer.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps

from metadata import images as _pictures  # registers the HEIF opener (pillow-heif) with Pillow

from .i18n import _

MAX_BYTES = 64 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 40-megapixel photo decodes to 120 MB of RGB: the most we allow
SHOWN_SIDE = 1600
FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "HEIF", "AVIF")
assert set(FORMATS) <= set(_pictures.FORMATS)


class ImageRefused(Exception):
    """This image will not be shown; the message says why, in one sentence."""


def _open(data: bytes) -> Image.Image:
    if len(data) > MAX_BYTES:
        raise ImageRefused(
            _("The photo is larger than %(n)d MB: download it to look at it.", n=MAX_BYTES >> 20)
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefused(
            _("The image claims an enormous size (a decompression bomb?): not decoded.")
        ) from None
    except Exception:  # Pillow raises many kinds on hostile input; none of them may reach the officer
        raise ImageRefused(_("This file is not an image this viewer decodes (or it is damaged).")) from None
    w, h = im.size
    if w <= 0 or h <= 0 or w * h > MAX_PIXELS:
        raise ImageRefused(
            _("The image claims %(w)d × %(h)d pixels, more than this viewer decodes: not decoded.", w=w, h=h)
        )
    return im


def reencode(data: bytes, side: int = SHOWN_SIDE) -> bytes:
    """A JPEG of at most side × side pixels, without any metadata, made from `data`."""
    im = _open(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if im.format == "JPEG":
                im.draft("RGB", (side, side))  # decode at a fraction of the size: less time and memory
            im.load()
            im = ImageOps.exif_transpose(im)
            if im.mode not in ("RGB", "L"):
                im = _flatten(im)
            im.thumbnail((side, side))
            out = io.BytesIO()
            im.save(
                out, "JPEG", quality=85, optimize=False
            )  # no exif=, no icc_profile=: nothing carried over
    except ImageRefused:
        raise
    except Exception:
        raise ImageRefused(
            _("This photo is damaged and could not be decoded; download it to examine it.")
        ) from None
    return out.getvalue()


def _flatten(im: Image.Image) -> Image.Image:
    rgba = im.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background
