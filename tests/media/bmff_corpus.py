"""The ISO BMFF test files (for test_bmff_*.py): MP4, MOV, 3GP, M4A and HEIF/AVIF photos, by name, each
with the markers it must lose, and the checks on a cleaned movie.

Files are made here by ffmpeg and pillow-heif, shaped like what phones write: an iPhone MOV (Apple's
mdta keys: ISO 6709 place, make, model, creation date), an Android MP4 (©xyz, ©mak, ©mod) moov-last
and faststart, a 3GP with loci, an M4A voice memo, fragmented MP4 (explicit base offsets, default-base-
is-moof, a segment index), an iPhone HEIC with Exif and XMP; and by hand (bmff_build.py) what ffmpeg
does not write: timed-metadata tracks, co64, a 64-bit or open mdat header, a box between fragments.
Each file is made once per session: corpus_file(name, folder), `folder` being the conftest's fixture.
"""

from __future__ import annotations

import datetime
import io
import json
import struct
import subprocess
from pathlib import Path

import piexif
import pillow_heif
from PIL import Image

from tests.media import bmff_build as build

pillow_heif.register_heif_opener()

PLACE = b"+42.6931+023.3219"
SHOT = datetime.datetime(2026, 11, 30, 17, 4, 12, tzinfo=datetime.UTC)
MAC_TIME = struct.pack(">I", int((SHOT - datetime.datetime(1904, 1, 1, tzinfo=datetime.UTC)).total_seconds()))
LOCI = struct.pack(">ii", round(23.3219 * 65536), round(42.6931 * 65536))  # 3GPP loci: longitude, latitude
GPS_LAT = ((42, 1), (41, 1), (3516, 100))
GPS_LON = ((23, 1), (19, 1), (1884, 100))
VIDEO_IN = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=15:duration=1"]
AUDIO_IN = ["-f", "lavfi", "-i", "sine=frequency=440:duration=1"]
H264_AAC = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"]
ANDROID = ["-metadata", "location=+42.6931+023.3219/", "-metadata", "make=samsung",
           "-metadata", "model=SM-G991B", "-metadata", "creation_time=2026-11-30T17:04:12Z"]  # fmt: skip
IPHONE = ["-movflags", "use_metadata_tags",
          "-metadata", "com.apple.quicktime.location.ISO6709=+42.6931+023.3219+557.000/",
          "-metadata", "com.apple.quicktime.make=Apple",
          "-metadata", "com.apple.quicktime.model=iPhone 15 Pro",
          "-metadata", "creation_time=2026-11-30T17:04:12Z"]  # fmt: skip
KEY = "00112233445566778899aabbccddeeff"  # the CENC sample's key
FRAGMENTED = [
    "-g",
    "5",
    "-metadata",
    "title=Tip from the market",
    "-metadata",
    "creation_time=2026-11-30T17:04:12Z",
]
MOVIE_MARKERS = {
    "mov-iphone": [PLACE, b"Apple", b"iPhone 15 Pro", MAC_TIME, b"2026-11-30"],
    "mp4-android": [PLACE, b"samsung", b"SM-G991B", MAC_TIME],
    "mp4-android-faststart": [PLACE, b"samsung", b"SM-G991B", MAC_TIME],
    "3gp": [LOCI, b"Sofia tip", MAC_TIME],
    "m4a-memo": [b"ul. Vitosha 15", b"Ivan Petrov", b"2026-11-30"],
    "mp4-fragmented": [b"Tip from the market", MAC_TIME],
    "mp4-fragmented-moof-base": [b"Tip from the market", MAC_TIME],
    "mp4-fragmented-sidx": [b"Tip from the market", MAC_TIME],
    "mov-timed-mebx": [PLACE, b"samsung"],
    "mp4-timed-gpmd": [PLACE, b"samsung"],
    "mp4-timed-camm": [PLACE, b"samsung"],
    "mp4-co64": [PLACE, b"samsung"],
    "mp4-large-mdat": [PLACE, b"samsung"],
    "mp4-open-mdat": [PLACE, b"samsung"],
    "mp4-sidx-gap": [b"Tip from the market", b"Ivan Petrov"],
    "mp4-cenc": [PLACE, b"samsung"],
    "mp4-exif-item": [b"iPhone 15 Pro", b"SN12345678", b"2026:11:30 17:04:12"],
    "mp4-exif-item-in-moov": [b"iPhone 15 Pro", b"SN12345678", b"2026:11:30 17:04:12"],
    "mp4-boxes-everywhere": [
        PLACE,
        b"iPhone 15 Pro",
        b"2026-11-30T19",
        b"Ivan Petrov",
        b"Ivan's phone",
        b"R5CX12ABCDE",
        b"Sofia",
        b"SM-G991B",
        b"SEFH",
    ],
}
PHOTO_MARKERS = [b"Apple", b"iPhone 15 Pro", b"2026:11:30 17:04:12", b"SN12345678", b"Ivan Petrov",
                 struct.pack(">6I", *(n for pair in GPS_LAT for n in pair))]  # fmt: skip
PHOTOS = ["heic", "heic-idat", "heic-motion-photo", "heic-free-before-meta"]
MIMES = {"mov-iphone": "video/quicktime", "mov-timed-mebx": "video/quicktime", "3gp": "video/3gpp",
         "m4a-memo": "audio/mp4"}  # fmt: skip  # the others: video/mp4


def ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *map(str, args)], check=True)


def _make(name: str, folder: Path) -> bytes:
    """One corpus file by name (made once per session)."""
    out = folder / name
    if name == "mov-iphone":
        ffmpeg(*VIDEO_IN, *AUDIO_IN, *H264_AAC, *IPHONE, "-f", "mov", out)
    elif name == "mp4-android":
        ffmpeg(*VIDEO_IN, *AUDIO_IN, *H264_AAC, *ANDROID, "-f", "mov", "-brand", "mp42", out)
    elif name == "mp4-android-faststart":
        ffmpeg(
            *VIDEO_IN,
            *AUDIO_IN,
            *H264_AAC,
            *ANDROID,
            "-f",
            "mov",
            "-brand",
            "mp42",
            "-movflags",
            "+faststart",
            out,
        )
    elif name == "3gp":
        ffmpeg(*VIDEO_IN, *AUDIO_IN, *H264_AAC, "-ar", "8000", "-ac", "1", "-b:a", "12k",
               "-metadata", "title=Sofia tip", "-metadata", "location=+42.6931+023.3219/",
               "-metadata", "creation_time=2026-11-30T17:04:12Z", "-f", "3gp", out)  # fmt: skip
    elif name == "m4a-memo":
        ffmpeg(*AUDIO_IN, "-c:a", "aac", "-metadata", "title=ul. Vitosha 15",
               "-metadata", "artist=Ivan Petrov",
               "-metadata", "date=2026-11-30", "-f", "ipod", out)  # fmt: skip
    elif name == "mp4-cenc":  # CENC: saio in stbl points at senc inside moov, which moves
        ffmpeg(*VIDEO_IN, *AUDIO_IN, *H264_AAC, *ANDROID, "-encryption_scheme", "cenc-aes-ctr",
               "-encryption_key", KEY, "-encryption_kid", KEY, "-f", "mov", "-brand", "mp42",
               "-movflags", "+faststart", out)  # fmt: skip
    elif name.startswith("mp4-fragmented"):
        flags = {"mp4-fragmented": "frag_keyframe+empty_moov",
                 "mp4-fragmented-moof-base": "frag_keyframe+empty_moov+default_base_moof",
                 "mp4-fragmented-sidx": "frag_keyframe+empty_moov+global_sidx+default_base_moof",
                 }[name]  # fmt: skip
        ffmpeg(*VIDEO_IN, *AUDIO_IN, *H264_AAC, *FRAGMENTED, "-movflags", flags, "-f", "mp4", out)
    else:
        return _handmade(name, folder)
    return out.read_bytes()


def _handmade(name: str, folder: Path) -> bytes:
    samples = [b"\0\0\0\x21\0\0\0\x01" + PLACE + b"+557.000/" + bytes([i]) for i in range(15)]
    if name.startswith(("mov-timed", "mp4-timed")):
        handler, entry = {"mov-timed-mebx": (b"meta", b"mebx"), "mp4-timed-gpmd": (b"meta", b"gpmd"),
                          "mp4-timed-camm": (b"camm", b"camm")}[name]  # fmt: skip
        base = corpus_file("mp4-android", folder)
        if name == "mov-timed-mebx":
            base = b"\0\0\0\x14ftypqt  \0\0\x02\0qt  " + base[20:]  # the same file as a MOV
        return build.with_timed_track(base, samples, handler, entry)
    faststart = corpus_file("mp4-android-faststart", folder)
    if name == "mp4-co64":
        return build.with_co64(faststart)
    if name == "mp4-large-mdat":
        return build.with_large_mdat(faststart)
    if name == "mp4-open-mdat":
        return build.with_open_mdat(faststart)
    if name == "heic":
        return heic(iphone_exif(), XMP)
    if name == "heic-free-before-meta":  # old bytes an editor left in a free box
        return build.heif_with_box_before_meta(
            corpus_file("heic", folder), build.box(b"free", b"Ivan Petrov")
        )
    if name == "heic-motion-photo":  # Android's motion photo format: the video in a top-level mpvd box
        return corpus_file("heic", folder) + build.box(b"mpvd", corpus_file("mp4-android", folder))
    if name == "heic-idat":
        return build.heif_with_exif_in_idat(corpus_file("heic", folder))
    if name in ("mp4-exif-item", "mp4-exif-item-in-moov"):
        exif = b"\0\0\0\x06Exif\0\0" + iphone_exif()[6:]
        return build.with_item_in_mdat(corpus_file("mp4-android", folder), exif, name.endswith("moov"))
    if name == "mp4-boxes-everywhere":
        return boxes_everywhere(corpus_file("mp4-android", folder))
    if name == "mp4-sidx-gap":
        extra = build.box(b"udta", build.box(b"\xa9ART", struct.pack(">HH", 11, 0x55C4) + b"Ivan Petrov"))
        return build.with_box_between_fragments(corpus_file("mp4-fragmented-sidx", folder), extra)
    raise KeyError(name)


_CACHE: dict[str, bytes] = {}


def corpus_file(name: str, folder: Path) -> bytes:
    if name not in _CACHE:
        _CACHE[name] = _make(name, folder)
    return _CACHE[name]


def heic(exif: bytes, xmp: bytes) -> bytes:
    out = io.BytesIO()
    Image.effect_mandelbrot((64, 48), (-2, -1.5, 1, 1.5), 60).convert("RGB").save(
        out, "HEIF", exif=exif, xmp=xmp, quality=90
    )
    return out.getvalue()


def iphone_exif() -> bytes:
    return piexif.dump({
        "0th": {piexif.ImageIFD.Make: b"Apple", piexif.ImageIFD.Model: b"iPhone 15 Pro"},
        "Exif": {piexif.ExifIFD.DateTimeOriginal: b"2026:11:30 17:04:12",
                 piexif.ExifIFD.BodySerialNumber: b"SN12345678"},
        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: GPS_LAT,
                piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: GPS_LON},
    })  # fmt: skip


XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="Ivan Petrov"/>'
       b"</rdf:RDF></x:xmpmeta>")  # fmt: skip


# -- checks ---------------------------------------------------------------------------------------


def decoded(path: Path, key: list[str]) -> tuple[str, str]:
    """The checksums of every decoded frame and sound packet (default streams), and what ffmpeg logged."""
    args = ["ffmpeg", "-v", "error", *key, "-i", str(path), "-f", "framemd5", "-"]
    run = subprocess.run(args, capture_output=True, text=True)
    return run.stdout, run.stderr


def media_streams(path: Path) -> list[dict]:
    run = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-show_entries",
                          "stream=codec_type,codec_name,nb_read_packets,duration:format=duration",
                          "-of", "json", str(path)],
                         capture_output=True, text=True, check=True)  # fmt: skip
    info = json.loads(run.stdout)
    streams = [s for s in info["streams"] if s["codec_type"] in ("video", "audio")]
    return [*streams, {"format_duration": info["format"]["duration"]}]


def assert_plays_same(tmp_path: Path, original: bytes, cleaned: bytes, encrypted: bool = False) -> None:
    a, b = tmp_path / "original.mp4", tmp_path / "cleaned.mp4"
    a.write_bytes(original)
    b.write_bytes(cleaned)
    key = ["-decryption_key", KEY] if encrypted else []
    before, after = decoded(a, key), decoded(b, key)
    assert after[1] == before[1] == "", after[1]
    assert before[0].count("\n") > 10
    assert after[0] == before[0]
    assert media_streams(b) == media_streams(a)


def assert_no_markers(original: bytes, cleaned: bytes, markers: list[bytes]) -> None:
    for marker in markers:
        assert marker in original, f"the test file lacks its own marker {marker!r}"
        assert marker not in cleaned, f"{marker!r} survived"


# -- a file with metadata boxes at every level ---------------------------------------------------


def boxes_everywhere(base: bytes) -> bytes:
    """A moov-last file with metadata boxes added at every level (no sample moves)."""
    moov = build.find(base, b"moov")
    inner = base[moov.body : moov.end]
    trak = build.find(inner, b"trak")
    hdlr = build.full(b"hdlr", bytes(4) + b"mdir" + bytes(13))
    trak_meta = build.full(
        b"meta", hdlr + build.box(b"ilst", build.box(b"\xa9nam", itunes_text(b"Ivan's phone")))
    )
    trak_extra = build.box(b"udta", build.box(b"name", b"Ivan's phone")) + trak_meta
    inner = (
        inner[: trak.start] + build.box(b"trak", inner[trak.body : trak.end] + trak_extra) + inner[trak.end :]
    )
    udta = build.find(inner, b"udta")
    smta = build.box(b"smta", b"\0\0\0\0" + build.box(b"mdln", b"SM-G991B"))
    inner = inner[: udta.start] + build.box(b"udta", inner[udta.body : udta.end] + smta) + inner[udta.end :]
    inner += (
        apple_meta()
        + build.box(b"uuid", bytes(16) + b"R5CX12ABCDE")
        + build.box(b"XMP_", b"<x:xmpmeta>Sofia</x:xmpmeta>")
    )
    xmp = build.box(
        b"uuid", bytes.fromhex("be7acfcb97a942e89c71999491e3afac") + b"<x:xmpmeta>Ivan Petrov</x:xmpmeta>"
    )
    return base[: moov.start] + xmp + build.box(b"moov", inner) + build.box(b"sefd", b"SEFH" + b"Ivan Petrov")


def itunes_text(value: bytes) -> bytes:
    return build.box(b"data", struct.pack(">II", 1, 0) + value)


def apple_meta() -> bytes:
    """An iPhone's moov/meta: QuickTime style (no version and flags), mdta keys, ilst indexed by key."""
    names = [
        b"com.apple.quicktime.location.ISO6709",
        b"com.apple.quicktime.model",
        b"com.apple.quicktime.creationdate",
    ]
    values = [b"+42.6931+023.3219+557.000/", b"iPhone 15 Pro", b"2026-11-30T19:04:12+0200"]
    keys = build.full(b"keys", struct.pack(">I", len(names)) + b"".join(build.box(b"mdta", n) for n in names))
    ilst = b"".join(build.box(struct.pack(">I", i + 1), itunes_text(v)) for i, v in enumerate(values))
    hdlr = build.full(b"hdlr", bytes(4) + b"mdta" + bytes(13))
    return build.box(b"meta", hdlr + keys + build.box(b"ilst", ilst))
