"""The corpus's still pictures (see tests/media/corpus.py), as phones' cameras and editors write them:
EXIF with place, phone, owner, serial and time (and a thumbnail of the uncropped picture), XMP, a colour
profile named after the phone's display, PNG text chunks, a GIF comment, and a Pixel's motion photo.
Made by Pillow, piexif and pillow-heif.
"""

from __future__ import annotations

import functools
import io
import struct

import piexif
import pillow_heif
from PIL import Image, ImageCms
from PIL.PngImagePlugin import PngInfo

from tests.media.corpus_sample import (
    APPLE,
    EXIF_TIME,
    GPS_LAT,
    GPS_LON,
    ICC_NAME,
    ISO_DAY,
    LENS,
    OWNER,
    PLACE,
    PLACE_XMP,
    SAMSUNG,
    SERIAL,
    THUMBNAIL_NOTE,
    Sample,
)

pillow_heif.register_heif_opener()

SIZE = (160, 120)
SKY, SUN, ROAD = (30, 120, 200), (240, 200, 40), (10, 10, 10)
SCENE_PROBES = ((140, 20), (50, 40), (125, 90))  # a pixel inside the sky, the sun and the road


def _thumbnail() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 40, 40)).save(out, "JPEG", comment=THUMBNAIL_NOTE)
    return out.getvalue()


def _exif(make: bytes, model: bytes, *, thumbnail: bool = False, lens: bytes | None = None) -> bytes:
    """EXIF as a phone's camera writes it (big-endian, as piexif packs it): device, owner, serial,
    time to the second, GPS, and optionally a thumbnail of the uncropped picture in IFD1."""
    exif = {
        "0th": {piexif.ImageIFD.Make: make, piexif.ImageIFD.Model: model, piexif.ImageIFD.DateTime: EXIF_TIME,
                piexif.ImageIFD.Software: b"S921BXXU1AWM9"},
        "Exif": {piexif.ExifIFD.DateTimeOriginal: EXIF_TIME, piexif.ExifIFD.CameraOwnerName: OWNER,
                 piexif.ExifIFD.BodySerialNumber: SERIAL},
        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: GPS_LAT,
                piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: GPS_LON,
                piexif.GPSIFD.GPSDateStamp: b"2026:11:30"},
    }  # fmt: skip
    if lens:
        exif["Exif"][piexif.ExifIFD.LensModel] = lens
    if thumbnail:
        exif["1st"] = {piexif.ImageIFD.Compression: 6}
        exif["thumbnail"] = _thumbnail()
    return piexif.dump(exif)


def gps_marker(order: str = ">") -> bytes:
    """The latitude's degrees and minutes as EXIF stores them: two rationals, big-endian as piexif
    writes them (Pillow's TIFF writer rewrites them little-endian and reduces the seconds' fraction)."""
    return b"".join(struct.pack(order + "LL", n, d) for n, d in GPS_LAT[:2])


def _xmp(model: bytes) -> bytes:
    return (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/"'
            b' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
            b' exif:GPSLatitude="' + PLACE_XMP + b'" tiff:Model="' + model + b'"'
            b' xmp:CreateDate="2026-11-30T17:04:12"><dc:creator><rdf:Seq><rdf:li>' + OWNER +
            b"</rdf:li></rdf:Seq></dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>")  # fmt: skip


@functools.cache
def _icc() -> bytes:
    """A colour profile named after the phone's display, as Samsung's and Apple's cameras embed one. (A
    browser's canvas writes its own generic sRGB profile into every JPEG: the marker is the name.)"""
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    at = icc.find("sRGB built-in".encode("utf-16-be"))
    icc[at : at + len(ICC_NAME)] = ICC_NAME
    icc[84:100] = bytes(16)  # no profile ID: it was an MD5 of the old name
    return bytes(icc)


def _scene(mode: str = "RGB") -> Image.Image:
    """A picture with some detail, so a broken decode shows (at SCENE_PROBES)."""
    img = Image.new("RGB", SIZE, SKY)
    img.paste(SUN, (20, 20, 80, 60))
    img.paste(ROAD, (100, 70, 150, 110))
    if mode in ("RGBA", "LA"):
        img = img.convert(mode)
        img.putpixel((0, 0), (0, 0, 0, 0) if mode == "RGBA" else (0, 0))
        return img
    return img.convert(mode)


def _save(img: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


_EXIF_MARKERS = {
    "place": (gps_marker(),),
    "time": (EXIF_TIME,),
    "person": (OWNER,),
    "device": (*SAMSUNG, SERIAL),
}


def jpeg_android() -> Sample:
    data = _save(_scene(), "JPEG", exif=_exif(*SAMSUNG, thumbnail=True), icc_profile=_icc(),
                 comment=b"Shot by " + OWNER, quality=90)  # fmt: skip
    markers = {**_EXIF_MARKERS, "device": (*SAMSUNG, SERIAL, ICC_NAME), "thumbnail": (THUMBNAIL_NOTE,)}
    return Sample("jpeg-android", "20261130_170412.jpg", data, "image/jpeg", "picture", markers)


def jpeg_motion_photo(video: bytes) -> Sample:
    """A Pixel or Samsung "motion photo": the JPEG, then the seconds of video around the shot appended
    after its end, with the video's own place and phone (Google's XMP Container directory points to it).
    `video` is the corpus's Android MP4 (corpus.py hands it over, made once)."""
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:GCamera="http://ns.google.com/photos/1.0/camera/" GCamera:MotionPhoto="1"'
           b' GCamera:MotionPhotoVersion="1"/></rdf:RDF></x:xmpmeta>')  # fmt: skip
    still = _save(_scene(), "JPEG", exif=_exif(*SAMSUNG), xmp=xmp, quality=90)
    markers = {
        **_EXIF_MARKERS,
        "place": (gps_marker(), PLACE),
        "other": (b"GCamera:MotionPhoto", b"ftypisom"),
    }
    name = "PXL_20261130_170412345.MP.jpg"
    return Sample("jpeg-motion-photo", name, still + video, "image/jpeg", "picture", markers)


def mpo() -> Sample:
    second = Image.new("RGB", SIZE, (90, 90, 90))
    data = _save(_scene(), "MPO", save_all=True, append_images=[second], exif=_exif(*SAMSUNG))
    markers = {**_EXIF_MARKERS, "thumbnail": (b"MPF\x00",)}  # the index of the pictures after the first
    return Sample("mpo", "DSC_0001.jpg", data, "image/jpeg", "picture", markers)


def png(mode: str) -> Sample:
    info = PngInfo()
    info.add_text("Author", OWNER.decode())
    info.add_itxt("XML:com.adobe.xmp", _xmp(SAMSUNG[1]).decode())
    data = _save(_scene(mode), "PNG", pnginfo=info, icc_profile=_icc(), exif=_exif(*SAMSUNG))
    markers = {**_EXIF_MARKERS, "place": (gps_marker(), PLACE_XMP), "device": (*SAMSUNG, b"iCCP")}
    name = {"RGBA": "png-rgba", "LA": "png-la", "P": "png-palette"}[mode]
    return Sample(name, f"Screenshot_{mode}.png", data, "image/png", "picture", markers)


def webp() -> Sample:
    data = _save(_scene(), "WEBP", exif=_exif(*SAMSUNG), xmp=_xmp(SAMSUNG[1]), quality=90)
    markers = {**_EXIF_MARKERS, "place": (gps_marker(), PLACE_XMP)}
    return Sample("webp", "IMG_0002.webp", data, "image/webp", "picture", markers)


def gif() -> Sample:
    data = _save(_scene("P"), "GIF", comment=b"Made by " + OWNER + b" on " + ISO_DAY)
    return Sample("gif", "IMG_0003.gif", data, "image/gif", "picture", {"text": (OWNER, ISO_DAY)})


def tiff() -> Sample:
    data = _save(_scene(), "TIFF", exif=_exif(*SAMSUNG))
    markers = {**_EXIF_MARKERS, "place": (gps_marker("<"),)}
    return Sample("tiff", "scan.tiff", data, "image/tiff", "picture", markers)


def heic_iphone() -> Sample:
    data = _save(_scene(), "HEIF", exif=_exif(*APPLE, lens=LENS), xmp=_xmp(APPLE[1]), quality=80)
    markers = {**_EXIF_MARKERS, "place": (gps_marker(), PLACE_XMP), "device": (*APPLE, SERIAL, LENS)}
    return Sample("heic-iphone", "IMG_0004.HEIC", data, "image/heic", "picture", markers)


def avif() -> Sample:
    data = _save(_scene(), "AVIF", exif=_exif(*SAMSUNG), xmp=_xmp(SAMSUNG[1]))
    markers = {**_EXIF_MARKERS, "place": (gps_marker(), PLACE_XMP)}
    return Sample("avif", "IMG_0005.avif", data, "image/avif", "picture", markers)
