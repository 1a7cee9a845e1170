"""ISO BMFF movies (metadata/bmff.py): an iPhone MOV, an Android MP4, a 3GP, an M4A memo, fragmented
MP4, timed-metadata tracks, metadata boxes anywhere, a dashcam's subtitles and a camera's timecode.
Each loses its markers and decodes to the same frames and samples; what each said is reported; the
chunk offsets follow the moved moov; what cannot be cleaned safely is refused. The files: bmff_corpus.py.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

import metadata
from metadata import bmff
from tests.media import bmff_build as build
from tests.media.bmff_corpus import (
    MIMES,
    MOVIE_MARKERS,
    PLACE,
    VIDEO_IN,
    assert_no_markers,
    assert_plays_same,
    corpus_file,
    decoded,
)
from tests.media.parity import js_clean, py_clean


@pytest.mark.parametrize("name", MOVIE_MARKERS)
def test_movie_loses_its_markers_and_plays_the_same(name: str, folder: Path, tmp_path: Path) -> None:
    original = corpus_file(name, folder)
    cleaned = py_clean(original)
    assert_no_markers(original, cleaned.data, MOVIE_MARKERS[name])
    assert_plays_same(tmp_path, original, cleaned.data, encrypted=name == "mp4-cenc")
    assert cleaned.mime == MIMES.get(name, "video/mp4")
    assert {"time", "other"} & {kind for kind, _ in cleaned.found}


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
