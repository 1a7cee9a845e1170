"""HEIF and AVIF photos (metadata/heif.py): an iPhone HEIC loses its Exif and XMP in place and shows
the same picture; a motion photo's video is blanked; a photo without metadata is untouched. The files:
bmff_corpus.py.
"""

from __future__ import annotations

import io
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image, features

import metadata
from tests.media.bmff_corpus import (
    MAC_TIME,
    PHOTO_MARKERS,
    PHOTOS,
    PLACE,
    XMP,
    assert_no_markers,
    corpus_file,
    heic,
    iphone_exif,
)
from tests.media.parity import py_clean


@pytest.mark.parametrize("name", PHOTOS)
def test_heic_loses_exif_and_xmp_in_place(name: str, folder: Path) -> None:
    photo = corpus_file(name, folder)
    cleaned = py_clean(photo)
    assert cleaned.mime == "image/heic"
    assert len(cleaned.data) == len(photo)
    assert_no_markers(photo, cleaned.data, PHOTO_MARKERS)
    assert {("place", "meta/Exif/GPS"), ("device", "meta/Exif/Make"), ("device", "meta/Exif/Model"),
            ("time", "meta/Exif/DateTimeOriginal"), ("device", "meta/Exif/BodySerialNumber"),
            ("other", "meta/XMP")} <= set(cleaned.found)  # fmt: skip
    before, after = Image.open(io.BytesIO(photo)), Image.open(io.BytesIO(cleaned.data))
    assert after.size == before.size and after.tobytes() == before.tobytes()
    assert dict(after.getexif()) == {}
    heif = pillow_heif.open_heif(io.BytesIO(cleaned.data))
    assert b"Apple" not in heif.info["exif"] and b"Ivan" not in heif.info["xmp"]


def test_motion_photo_video_is_blanked(folder: Path) -> None:
    """The seconds of video a motion photo carries hold their own place and phone: the box stays, empty."""
    original = corpus_file("heic-motion-photo", folder)
    cleaned = py_clean(original)
    assert_no_markers(original, cleaned.data, [PLACE, b"samsung", b"SM-G991B", MAC_TIME])
    assert ("other", "mpvd") in cleaned.found and len(cleaned.data) == len(original)


def test_heic_gps_value_is_read() -> None:
    plan = metadata.plan_for(metadata.BytesSource(heic(iphone_exif(), XMP)), "heif")
    gps = next(f for f in plan.found if f.where == "meta/Exif/GPS")
    assert gps.value == "42.69310, 23.32190"


@pytest.mark.skipif(not features.check("avif"), reason="Pillow without AVIF")
def test_avif_loses_exif() -> None:
    out = io.BytesIO()
    Image.effect_mandelbrot((64, 48), (-2, -1.5, 1, 1.5), 60).convert("RGB").save(
        out, "AVIF", exif=iphone_exif(), xmp=XMP
    )
    data = out.getvalue()
    cleaned = py_clean(data)
    assert cleaned.mime == "image/avif"
    assert_no_markers(data, cleaned.data, PHOTO_MARKERS)
    assert Image.open(io.BytesIO(cleaned.data)).tobytes() == Image.open(io.BytesIO(data)).tobytes()


def test_heic_without_metadata_is_untouched() -> None:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 30)).save(out, "HEIF")
    cleaned = py_clean(out.getvalue())
    assert cleaned.data == out.getvalue() and cleaned.found == []
