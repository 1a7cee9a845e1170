"""Matroska and WebM files real tools write (metadata/matroska.py): ffmpeg's WebM and MKV, Chromium's
MediaRecorder WebM (unknown sizes), each also cut short; the markers are gone, the frames the same.
The files: matroska_corpus.py.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

import metadata
from metadata import _ebml
from tests.media.matroska_corpus import MARKERS, cut_in_cluster, duration, frames, write
from tests.media.parity import py_clean

# -- made by ffmpeg -----------------------------------------------------------------------------


def test_webm_markers_gone_frames_same(webm: bytes, folder: Path) -> None:
    cleaned = py_clean(webm)
    for marker in MARKERS["webm"]:
        assert marker in webm, marker
        assert marker not in cleaned.data, marker
    assert len(cleaned.data) == len(webm)  # nothing moved: SeekHead and Cues still point right
    original, clean = write(folder, "w0.webm", webm), write(folder, "w1.webm", cleaned.data)
    assert frames(original) == frames(clean) != ""
    assert duration(original) == duration(clean) != ""
    assert cleaned.mime == "video/webm"
    kinds = {kind for kind, _ in cleaned.found}
    assert {"place", "person", "time", "text", "software", "device"} <= kinds, cleaned.found
    assert ("place", "Tags/LOCATION") in cleaned.found
    assert ("time", "Info/DateUTC") in cleaned.found
    assert ("text", "Tracks/TrackEntry/Name") in cleaned.found


def test_mkv_attachment_chapters_vorbis_comment(mkv: bytes, folder: Path) -> None:
    cleaned = py_clean(mkv)
    for marker in MARKERS["mkv"]:
        assert marker in mkv, marker
        assert marker not in cleaned.data, marker
    original, clean = write(folder, "m0.mkv", mkv), write(folder, "m1.mkv", cleaned.data)
    assert frames(original) == frames(clean) != ""
    assert duration(original) == duration(clean) != ""
    assert cleaned.mime == "video/x-matroska"
    for expected in [("other", "Attachments/AttachedFile"), ("text", "Chapters"),
                     ("software", "Vorbis comment/vendor"), ("person", "Tags/ARTIST")]:  # fmt: skip
        assert expected in cleaned.found
    probe = subprocess.run(["ffprobe", "-v", "quiet", "-show_chapters", "-show_streams", str(clean)],
                           capture_output=True, text=True).stdout  # fmt: skip
    assert "[CHAPTER]" not in probe and "attachment" not in probe


def test_truncated_known_size_cluster(mkv: bytes, folder: Path) -> None:
    cut = cut_in_cluster(mkv)
    cleaned = py_clean(cut)
    assert len(cleaned.data) == len(cut)
    assert frames(write(folder, "c0.mkv", cut)) == frames(write(folder, "c1.mkv", cleaned.data)) != ""


# -- recorded by Chromium -----------------------------------------------------------------------


@pytest.mark.browser
def test_mediarecorder_unknown_sizes(recorded: bytes, folder: Path) -> None:
    unknown = b"\xff" * 7
    assert b"\x18\x53\x80\x67\x01" + unknown in recorded  # the Segment
    assert b"\x1f\x43\xb6\x75\x01" + unknown in recorded  # a Cluster
    cleaned = py_clean(recorded)
    assert b"Chrome" in recorded and b"Chrome" not in cleaned.data
    assert cleaned.found == [("software", "Info/MuxingApp"), ("software", "Info/WritingApp")]
    assert cleaned.mime == "video/webm"
    assert frames(write(folder, "r0.webm", recorded)) == frames(write(folder, "r1.webm", cleaned.data)) != ""


@pytest.mark.browser
def test_mediarecorder_cut_short(recorded: bytes, folder: Path) -> None:
    cut = cut_in_cluster(recorded)
    cleaned = py_clean(cut)
    assert b"Chrome" not in cleaned.data and len(cleaned.data) == len(cut)
    original, clean = frames(write(folder, "t0.webm", cut)), frames(write(folder, "t1.webm", cleaned.data))
    assert original == clean and clean.count("\n") > 10


class CountingSource(metadata.ForwardSource):
    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data), len(data))
        self.reads = 0

    def read_at(self, offset: int, n: int) -> bytes:
        self.reads += 1
        return super().read_at(offset, n)


@pytest.mark.browser
def test_unknown_size_clusters_read_through_a_window(recorded: bytes) -> None:
    """Every block header of an unknown-size Cluster is parsed, but out of a few large reads."""
    blocks = recorded.count(b"\xa3")  # at least every SimpleBlock ID, and more
    source = CountingSource(recorded)
    metadata.plan_for(source, "matroska")
    assert source.reads <= 3 + len(recorded) // _ebml.WINDOW < blocks // 4
