"""ISO BMFF (metadata/bmff.py and clean/bmff.mjs): MP4, MOV, 3GP, M4A and HEIF/AVIF photos.

Files are made here by ffmpeg and pillow-heif, shaped like what phones write: an iPhone MOV (Apple's
mdta keys: ISO 6709 place, make, model, creation date), an Android MP4 (©xyz, ©mak, ©mod) moov-last
and faststart, a 3GP with loci, an M4A voice memo, fragmented MP4 (explicit base offsets, default-base-
is-moof, a segment index), an iPhone HEIC with Exif and XMP; and by hand (bmff_build.py) what ffmpeg
does not write: timed-metadata tracks, co64, a 64-bit or open mdat header, a box between fragments.
Each must lose its markers, decode to the same frames and samples, and come out the same from Python,
JavaScript and a forward-only read. Hostile input only ever gives CannotClean.
"""

from __future__ import annotations

import datetime
import io
import json
import random
import struct
import subprocess
from pathlib import Path

import piexif
import pillow_heif
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, features

import metadata
from metadata import _boxes, bmff
from tests.media import bmff_build as build
from tests.media.parity import forward_plan, js_clean, js_refuses, py_clean

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


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bmff")


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


# -- movies ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MOVIE_MARKERS)
def test_movie_loses_its_markers_and_plays_the_same(name: str, folder: Path, tmp_path: Path) -> None:
    original = corpus_file(name, folder)
    cleaned = py_clean(original)
    assert_no_markers(original, cleaned.data, MOVIE_MARKERS[name])
    assert_plays_same(tmp_path, original, cleaned.data, encrypted=name == "mp4-cenc")
    assert cleaned.mime == MIMES.get(name, "video/mp4")
    assert {"time", "other"} & {kind for kind, _ in cleaned.found}


@pytest.mark.parametrize("name", [*MOVIE_MARKERS, *PHOTOS])
def test_forward_only_read_gives_the_same_plan(name: str, folder: Path) -> None:
    data = corpus_file(name, folder)
    family = metadata.sniff(data[:16])
    plan = metadata.plan_for(metadata.BytesSource(data), family)
    assert forward_plan(data).pieces == plan.pieces
    assert forward_plan(data).found == plan.found


@pytest.mark.parametrize("name", [*MOVIE_MARKERS, *PHOTOS])
def test_a_cleaned_file_is_clean(name: str, folder: Path) -> None:
    """Cleaning twice changes nothing more and finds nothing: no place, time or name is left to find."""
    data = corpus_file(name, folder)
    once = py_clean(data)
    twice = py_clean(once.data)
    assert twice.data == once.data
    assert twice.found == ([("other", "mpvd")] if name == "heic-motion-photo" else [])  # zeroed, not read


def test_iphone_mov_findings(folder: Path) -> None:
    found = set(py_clean(corpus_file("mov-iphone", folder)).found)
    keys = "moov/udta/meta/com.apple.quicktime"
    assert {("place", f"{keys}.location.ISO6709"), ("device", f"{keys}.make"), ("device", f"{keys}.model"),
            ("time", "moov/mvhd"), ("time", "moov/trak[1]/tkhd"),
            ("time", "moov/trak[2]/mdia/mdhd")} <= found  # fmt: skip


def test_android_mp4_findings(folder: Path) -> None:
    found = set(py_clean(corpus_file("mp4-android", folder)).found)
    assert {("place", "moov/udta/©xyz"), ("device", "moov/udta/©mak"), ("device", "moov/udta/©mod"),
            ("software", "moov/udta/©swr")} <= found  # fmt: skip


def test_3gp_and_memo_findings(folder: Path) -> None:
    assert {("place", "moov/udta/loci"), ("text", "moov/udta/titl")} <= set(
        py_clean(corpus_file("3gp", folder)).found
    )
    memo = set(py_clean(corpus_file("m4a-memo", folder)).found)
    assert {
        ("text", "moov/udta/meta/©nam"),
        ("person", "moov/udta/meta/©ART"),
        ("time", "moov/udta/meta/©day"),
    } <= memo


def test_times_are_zeroed_not_removed(folder: Path) -> None:
    cleaned = py_clean(corpus_file("mp4-android-faststart", folder)).data
    for kind in (b"mvhd", b"tkhd", b"mdhd"):
        at = cleaned.index(kind) + 4
        assert cleaned[at] == 0 and cleaned[at + 4 : at + 12] == bytes(8)


def test_faststart_offsets_move_with_the_moov(folder: Path) -> None:
    """moov first: it shrinks, so every chunk offset of the cleaned file moves back by as much."""
    original = corpus_file("mp4-android-faststart", folder)
    cleaned = py_clean(original).data
    shift = build.find(original, b"mdat").start - build.find(cleaned, b"mdat").start
    assert shift > 0

    def offsets(data: bytes) -> list[int]:
        out, at = [], data.find(b"stco")
        while at > 0:
            n = struct.unpack_from(">I", data, at + 8)[0]
            out += struct.unpack_from(f">{n}I", data, at + 12)
            at = data.find(b"stco", at + 4)
        return out

    assert offsets(cleaned) == [o - shift for o in offsets(original)]


@pytest.mark.parametrize("name", ["mov-timed-mebx", "mp4-timed-gpmd", "mp4-timed-camm"])
def test_timed_metadata_track_is_removed_and_its_samples_zeroed(name: str, folder: Path) -> None:
    original = corpus_file(name, folder)
    plan = metadata.plan_for(metadata.BytesSource(original), "bmff")
    cleaned = py_clean(original).data
    assert ("other", "moov/trak[3]") in [(f.kind, f.where) for f in plan.found]
    assert original.count(PLACE) == 15 + 1  # the samples and the ©xyz box
    assert PLACE not in cleaned
    assert cleaned.count(b"trak") == 2
    # the samples' mdat stays, at its length, as zeros: nothing after it moves
    assert build.boxes(cleaned)[-2].kind == b"mdat"
    mdat = build.boxes(cleaned)[-2]
    assert cleaned[mdat.body : mdat.end] == bytes(mdat.end - mdat.body)


def test_fragmented_offsets_follow_the_map(folder: Path) -> None:
    """Without default-base-is-moof, every tfhd names its moof by file offset; tfra too."""
    original = corpus_file("mp4-fragmented", folder)
    cleaned = py_clean(original).data
    shift = build.find(original, b"moof").start - build.find(cleaned, b"moof").start
    assert shift > 0
    tfhd = cleaned.index(b"tfhd")
    assert struct.unpack_from(">I", cleaned, tfhd + 4)[0] & 1
    assert struct.unpack_from(">Q", cleaned, tfhd + 12)[0] == build.find(cleaned, b"moof").start


def test_box_between_fragments_shrinks_the_segment_index(folder: Path) -> None:
    """A udta slipped between two fragments: the sidx subsegment around it and the tfra entries shrink back
    to what the file without it gives."""
    plain = py_clean(corpus_file("mp4-fragmented-sidx", folder))
    gap = py_clean(corpus_file("mp4-sidx-gap", folder))
    assert ("person", "udta/©ART") in gap.found
    assert gap.data == plain.data


def test_refusals(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    faststart = corpus_file("mp4-android-faststart", folder)
    moov = build.find(faststart, b"moov")
    with pytest.raises(metadata.CannotClean):  # a moov larger than we read
        monkeypatch.setattr(bmff, "MAX_MOOV", 100)
        py_clean(faststart)
    monkeypatch.undo()
    only_timed = build.box(b"moov", build.timed_trak(b"meta", b"mebx", [0], [4], 1))
    with pytest.raises(metadata.CannotClean, match="no track left"):
        py_clean(faststart[: moov.start] + only_timed + faststart[moov.end :])
    fragmented = corpus_file("mp4-fragmented-moof-base", folder)
    moov = build.find(fragmented, b"moov")
    trak = build.timed_trak(b"meta", b"mebx", [], [], 9)
    with_track = (
        fragmented[: moov.start]
        + build.box(b"moov", fragmented[moov.body : moov.end] + trak)
        + fragmented[moov.end :]
    )
    with pytest.raises(metadata.CannotClean, match="fragmented"):
        py_clean(with_track)
    with pytest.raises(metadata.CannotClean):  # a chunk offset into the header of the moov we rebuild
        bad = bytearray(faststart)
        stco = bad.index(b"stco")
        struct.pack_into(">I", bad, stco + 12, build.find(faststart, b"moov").start + 4)
        py_clean(bytes(bad))


def test_metadata_boxes_anywhere_are_dropped(folder: Path) -> None:
    """uuid (XMP and a vendor's), XMP_, Apple's QuickTime-style moov/meta, a trak's udta and meta,
    Samsung's smta and sefd: all go, each reported where it was."""
    found = set(py_clean(corpus_file("mp4-boxes-everywhere", folder)).found)
    keys = "moov/meta/com.apple.quicktime"
    assert {("other", "uuid"), ("other", "sefd"), ("other", "moov/uuid"), ("other", "moov/XMP_"),
            ("place", f"{keys}.location.ISO6709"), ("device", f"{keys}.model"),
            ("time", f"{keys}.creationdate"),
            ("other", "moov/trak[1]/udta/name"), ("text", "moov/trak[1]/meta/©nam"),
            ("other", "moov/udta/smta")} <= found  # fmt: skip


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


# -- photos ---------------------------------------------------------------------------------------


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


# -- hostile input --------------------------------------------------------------------------------


def _mutations() -> st.SearchStrategy:
    cut = st.tuples(st.just("cut"), st.floats(0, 1), st.just(0))
    flip = st.tuples(st.just("flip"), st.floats(0, 1), st.integers(0, 255))
    size = st.tuples(
        st.just("size"), st.floats(0, 1), st.sampled_from([0, 1, 7, 8, 16, 0x7FFFFFF0, 0xFFFFFFFF])
    )
    return st.lists(st.one_of(cut, flip, size), min_size=1, max_size=4)


def mutate(data: bytes, steps: list[tuple[str, float, int]]) -> bytes:
    out = bytearray(data)
    for op, where, value in steps:
        at = int(where * max(0, len(out) - 4))
        if op == "cut":
            del out[at:]
        elif op == "flip" and at < len(out):
            out[at] = value & 0xFF
        elif op == "size" and len(out) >= 4:
            out[at : at + 4] = struct.pack(">I", value)
    return bytes(out)


def outcome(data: bytes, forward: bool) -> list | str:
    source = metadata.ForwardSource(io.BytesIO(data), len(data)) if forward else metadata.BytesSource(data)
    try:
        return metadata.plan_for(source, "bmff").pieces
    except metadata.CannotClean:
        return "CannotClean"


HOSTILE_SEEDS = [
    "mp4-android-faststart",
    "mov-iphone",
    "mp4-fragmented",
    "mp4-fragmented-sidx",
    "mov-timed-mebx",
    "heic",
    "heic-idat",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.sampled_from(HOSTILE_SEEDS), steps=_mutations())
def test_hostile_input_only_ever_cannot_clean(seed: str, steps: list, folder: Path) -> None:
    data = mutate(corpus_file(seed, folder), steps)
    assert outcome(data, forward=False) == outcome(data, forward=True)


def test_absurd_tables_are_refused(folder: Path) -> None:
    faststart = bytearray(corpus_file("mp4-android-faststart", folder))
    struct.pack_into(">I", faststart, faststart.index(b"stco") + 8, 0xFFFFFFF0)  # four billion chunks
    assert outcome(bytes(faststart), forward=False) == "CannotClean"
    timed = corpus_file("mov-timed-mebx", folder)
    for kind, at in ((b"stsc", 16), (b"stsz", 12)):  # four billion samples in a chunk, or in the track
        bad = bytearray(timed)
        struct.pack_into(">I", bad, bad.rindex(kind) + at, 0xFFFFFFFF)
        assert outcome(bytes(bad), forward=False) == "CannotClean"


def test_absurd_counts_are_refused(folder: Path) -> None:
    """A file of a quarter million empty boxes, or a moov of seventy thousand: refused, in bounded time."""
    ftyp = corpus_file("mp4-android", folder)[:20]
    assert outcome(ftyp + build.box(b"free", b"") * (bmff.MAX_TOP + 1), forward=False) == "CannotClean"
    faststart = corpus_file("mp4-android-faststart", folder)
    moov = build.find(faststart, b"moov")
    crowded = build.box(
        b"moov", faststart[moov.body : moov.end] + build.box(b"free", b"") * _boxes.MAX_CHILDREN
    )
    assert outcome(faststart[: moov.start] + crowded + faststart[moov.end :], forward=False) == "CannotClean"


# -- the JavaScript twin --------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("name", [*MOVIE_MARKERS, *PHOTOS])
def test_javascript_gives_the_same_bytes(name: str, folder: Path, clean_page) -> None:
    data = corpus_file(name, folder)
    py, js = py_clean(data), js_clean(clean_page, data)
    assert js.data == py.data
    assert js.mime == py.mime
    assert js.found == py.found


@pytest.mark.browser
def test_javascript_refuses_what_python_refuses(folder: Path, clean_page) -> None:
    rng = random.Random(10)
    for i in range(80):
        seed = HOSTILE_SEEDS[i % len(HOSTILE_SEEDS)]
        base = corpus_file(seed, folder)
        steps = [(rng.choice(["cut", "flip", "size"]), rng.random(), rng.choice([0, 1, 8, 255, 0xFFFFFFFF]))]
        data = mutate(base, steps)
        if metadata.sniff(data[:16]) not in ("bmff", "heif"):
            continue
        try:
            py = py_clean(data)
        except metadata.CannotClean:
            assert js_refuses(clean_page, data) == "CannotClean", (seed, steps)
            continue
        js = js_clean(clean_page, data)
        assert (js.data, js.mime, js.found) == (py.data, py.mime, py.found), (seed, steps)


DASHCAM_SRT = "".join(
    f"{i + 1}\n00:00:0{i},000 --> 00:00:0{i},900\nN42.6931 E23.3219 57km/h 2026/11/30 17:04:1{i}\n\n"
    for i in range(2)
)


@pytest.mark.parametrize("shape", ["mp4-subtitles", "mov-timecode"])
def test_subtitle_and_timecode_tracks_go_with_their_samples(shape: str, tmp_path: Path, clean_page) -> None:
    """A dashcam writes its position, speed and clock as subtitles; a camera's timecode track counts
    from the time of day. Both tracks go, their samples zeroed, and the picture plays the same."""
    original_path, cleaned_path = tmp_path / f"in.{shape[:3]}", tmp_path / f"out.{shape[:3]}"
    if shape == "mp4-subtitles":
        (tmp_path / "gps.srt").write_text(DASHCAM_SRT)
        extra, marker = (
            ["-i", str(tmp_path / "gps.srt"), "-map", "0:v", "-map", "1", "-c:s", "mov_text"],
            b"N42.6931",
        )
        kind = "text"
    else:
        extra, marker, kind = ["-timecode", "17:04:12:00"], None, "time"
    encode = ["-c:v", "libx264", "-pix_fmt", "yuv420p"]
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", *VIDEO_IN, *extra, *encode, str(original_path)], check=True
    )
    original = original_path.read_bytes()
    cleaned = py_clean(original)
    assert (kind, "moov/trak[2]") in cleaned.found
    cleaned_path.write_bytes(cleaned.data)
    probe = ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0"]
    assert subprocess.run([*probe, str(cleaned_path)], capture_output=True, text=True).stdout.split() == [
        "video"
    ]
    video = ["-map", "0:v"]
    assert decoded(cleaned_path, video)[0].split("\n")[4:] == decoded(original_path, video)[0].split("\n")[4:]
    if marker:
        assert marker in original and marker not in cleaned.data
    else:  # the timecode sample counts frames since midnight (15 a second) to 17:04:12: its 4 bytes go
        frame_of_day = struct.pack(">I", (17 * 3600 + 4 * 60 + 12) * 15)
        assert frame_of_day in original and frame_of_day not in cleaned.data
    js = js_clean(clean_page, original, original_path.name)
    assert (js.data, js.found) == (cleaned.data, cleaned.found)
