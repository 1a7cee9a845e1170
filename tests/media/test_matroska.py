"""Matroska and WebM (metadata/matroska.py, dropbox/static/js/clean/matroska.mjs): what a phone, ffmpeg
and Chromium's MediaRecorder write, cleaned by both twins; the markers are gone, the frames the same.

Files are made here: a WebM from ffmpeg (VP8 + Opus) with a title, a date, a place, an artist, a remuxed
iPhone's make and model; an MKV (H.264 + Vorbis) with an attachment and chapters; a WebM recorded by
MediaRecorder in Chromium (unknown sizes) and the same cut in the middle of a Cluster; and small
hand-built files for the structural cases (CRC-32, Seek entries, 8-byte sizes, CodecPrivate comments).
"""

from __future__ import annotations

import base64
import io
import random
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metadata
from metadata import _ebml, _matroska_tags, matroska
from tests.media.parity import js_clean, js_refuses, py_clean

PLACE = b"+42.6931+023.3219"
DATE_UTC = (1714557600 - 978307200) * 10**9  # 2024-05-01 10:00:00 UTC in Matroska's nanoseconds
MARKERS = {
    "webm": [PLACE, b"Ivan Petrov", b"Secret Title", b"Lavf", b"Camera Track", b"iPhone 15 Pro", b"Apple",
             b"near the bridge", struct.pack(">q", DATE_UTC)],
    "mkv": [b"Meeting at the bridge", b"ivan_cover.jpg", b"JFIF", b"Ivan Petrov", b"Xiph.Org libVorbis",
            b"Lavf"],
    "recorded": [b"Chrome"],
}  # fmt: skip
LAVFI_VIDEO = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=15:duration=1"]
LAVFI_AUDIO = ["-f", "lavfi", "-i", "sine=duration=1"]


def ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *map(str, args)], check=True)


def frames(path: Path) -> str:
    """The decoded frames' checksums (video and audio, no cover art): what a viewer would show."""
    out = subprocess.run(
        ["ffmpeg", "-v", "quiet", "-i", str(path), "-map", "0:V?", "-map", "0:a?", "-f", "framemd5", "-"],
        capture_output=True,
    )
    return out.stdout.decode()


def duration(path: Path) -> str:
    out = subprocess.run(
        ["ffprobe", "-v", "quiet", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
    )
    return out.stdout.decode().strip()


# -- the corpus ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("matroska")


@pytest.fixture(scope="module")
def webm(folder: Path) -> bytes:
    """What ffmpeg writes when it remuxes a phone's video to WebM: the MOV's tags come along. The
    viewer checks a cleaned file with the same plan: it must find nothing there."""
    path = folder / "phone.webm"
    ffmpeg(*LAVFI_VIDEO, *LAVFI_AUDIO, "-c:v", "libvpx", "-b:v", "200k", "-c:a", "libopus",
           "-metadata", "title=Secret Title", "-metadata", "creation_time=2024-05-01T10:00:00Z",
           "-metadata", f"location={PLACE.decode()}/", "-metadata", "artist=Ivan Petrov",
           "-metadata", "com.apple.quicktime.make=Apple",
           "-metadata", "com.apple.quicktime.model=iPhone 15 Pro",
           "-metadata:s:v:0", "title=Camera Track", "-metadata:s:a:0", "comment=near the bridge",
           path)  # fmt: skip
    return path.read_bytes()


@pytest.fixture(scope="module")
def mkv(folder: Path) -> bytes:
    """An MKV with cover art attached, chapters with titles, and a Vorbis track (its comment header)."""
    from PIL import Image

    Image.new("RGB", (16, 16), (200, 10, 10)).save(folder / "cover.jpg")
    chapters = folder / "chapters.txt"
    chapters.write_text(
        ";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=500\ntitle=Meeting at the bridge\n"
        "[CHAPTER]\nTIMEBASE=1/1000\nSTART=500\nEND=1000\ntitle=Second part\n"
    )
    path = folder / "attached.mkv"
    ffmpeg(*LAVFI_VIDEO, *LAVFI_AUDIO, "-i", chapters, "-map", "0", "-map", "1", "-map_chapters", "2",
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "libvorbis", "-metadata", "artist=Ivan Petrov",
           "-attach", folder / "cover.jpg", "-metadata:s:t", "mimetype=image/jpeg",
           "-metadata:s:t", "filename=ivan_cover.jpg", path)  # fmt: skip
    return path.read_bytes()


RECORD = """async (ms) => {
  const canvas = Object.assign(document.createElement("canvas"), { width: 160, height: 120 });
  const ctx = canvas.getContext("2d");
  const stream = canvas.captureStream(15);
  const audio = new AudioContext();
  await audio.resume();
  const tone = audio.createOscillator();
  const out = audio.createMediaStreamDestination();
  tone.connect(out);
  tone.start();
  stream.addTrack(out.stream.getAudioTracks()[0]);
  let frame = 0;
  const draw = () => {
    ctx.fillStyle = `hsl(${(frame * 37) % 360}, 80%, 50%)`;
    ctx.fillRect(0, 0, 160, 120);
    ctx.fillStyle = "#000";
    ctx.fillText(String(frame++), 20, 60);
  };
  draw();
  const timer = setInterval(draw, 50);
  const recorder = new MediaRecorder(stream, { mimeType: "video/webm;codecs=vp8,opus" });
  const chunks = [];
  recorder.ondataavailable = (e) => chunks.push(e.data);
  const stopped = new Promise((done) => (recorder.onstop = done));
  recorder.start(200);
  await new Promise((done) => setTimeout(done, ms));
  recorder.stop();
  await stopped;
  clearInterval(timer);
  tone.stop();
  await audio.close();
  return new Uint8Array(await new Blob(chunks).arrayBuffer()).toBase64();
}"""


@pytest.fixture(scope="module")
def recorded(browser) -> bytes:
    """A reporter's video note as Chromium's MediaRecorder writes it: Segment and Clusters of unknown
    size, "Chrome" as MuxingApp and WritingApp."""
    page = browser.new_page()
    try:
        page.goto("about:blank")
        return base64.b64decode(page.evaluate(RECORD, 1000))
    finally:
        page.close()


def cut_in_cluster(data: bytes) -> bytes:
    """The file stopped abruptly at about two thirds, inside a block of the last Cluster."""
    at = len(data) * 2 // 3
    assert data.rfind(b"\x1f\x43\xb6\x75", 0, at) > data.find(b"\x16\x54\xae\x6b")  # past the first Cluster
    return data[:at]


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


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


@pytest.mark.parametrize("name", ["webm", "mkv", pytest.param("recorded", marks=pytest.mark.browser)])
def test_cleaning_twice_finds_nothing(name: str, request: pytest.FixtureRequest) -> None:
    once = py_clean(request.getfixturevalue(name))
    twice = py_clean(once.data)
    assert twice.found == [] and twice.data == once.data


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


# -- forward only, and the JavaScript twin -------------------------------------------------------


def corpus(request: pytest.FixtureRequest, name: str) -> bytes:
    if name.startswith("cut-"):
        return cut_in_cluster(corpus(request, name[4:]))
    if name in BUILT:
        return BUILT[name]()
    return request.getfixturevalue(name)


BROWSER = pytest.mark.browser
NAMES = ["webm", "mkv", "cut-mkv", "crc", "seek", "wide", "xiph", "flac",
         *(pytest.param(name, marks=BROWSER) for name in ("recorded", "cut-recorded"))]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_forward_source_same_plan(name: str, request: pytest.FixtureRequest) -> None:
    data = corpus(request, name)
    whole = metadata.plan_for(metadata.BytesSource(data), "matroska")
    forward = metadata.plan_for(metadata.ForwardSource(io.BytesIO(data), len(data)), "matroska")
    assert (forward.pieces, forward.found, forward.mime) == (whole.pieces, whole.found, whole.mime)


@pytest.mark.browser
@pytest.mark.parametrize("name", NAMES)
def test_javascript_twin_agrees(name: str, request: pytest.FixtureRequest, clean_page) -> None:
    data = corpus(request, name)
    py, js = py_clean(data), js_clean(clean_page, data, "file.webm")
    assert (js.data, js.mime, js.found) == (py.data, py.mime, py.found)


@pytest.mark.browser
def test_javascript_twin_agrees_on_damaged_files(webm: bytes, mkv: bytes, clean_page) -> None:
    """Damaged copies: both clean them to the same bytes, or both refuse them."""
    rng = random.Random(10)
    for _ in range(40):
        data = bytearray(rng.choice([webm, mkv]))
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(4, 700)] = rng.randrange(256)  # the magic stays: still a Matroska file
        data = bytes(data[: rng.randrange(len(data) // 2, len(data) + 1)])
        try:
            py = py_clean(data)
        except metadata.CannotClean:
            assert js_refuses(clean_page, data) == "CannotClean"
            continue
        js = js_clean(clean_page, data)
        assert (js.data, js.found) == (py.data, py.found)


# -- hand-built structures -------------------------------------------------------------------------


def size_field(n: int | None, width: int | None = None) -> bytes:
    """An EBML size: the shortest width, or `width` bytes; None is "unknown" (all ones)."""
    width = width or next(w for w in range(1, 9) if n is None or n < (1 << (7 * w)) - 1)
    value = (1 << (7 * width)) - 1 if n is None else n
    return (value | 1 << (7 * width)).to_bytes(width, "big")


def el(eid: int, *parts: bytes, width: int | None = None, unknown: bool = False) -> bytes:
    body = b"".join(parts)
    return (
        eid.to_bytes((eid.bit_length() + 7) // 8, "big")
        + size_field(None if unknown else len(body), width)
        + body
    )


def uint(eid: int, n: int) -> bytes:
    return el(eid, n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big"))


def ebml_header(doc_type: bytes = b"webm") -> bytes:
    return el(matroska.EBML, uint(0x4286, 1), uint(0x42F7, 1), uint(0x42F2, 4), uint(0x42F3, 8),
              el(0x4282, doc_type), uint(0x4287, 4), uint(0x4285, 2))  # fmt: skip


def track(codec: bytes, private: bytes = b"", kind: int = 2) -> bytes:
    return el(matroska.TRACK_ENTRY, uint(0xD7, 1), uint(0x73C5, 7), uint(0x83, kind), el(0x86, codec),
              el(0x63A2, private) if private else b"")  # fmt: skip


def cluster(width: int | None = None) -> bytes:
    return el(matroska.CLUSTER, uint(0xE7, 0), el(0xA3, b"\x81\x00\x00\x80" + bytes(40)), width=width)


def segment(*children: bytes, unknown: bool = False) -> bytes:
    return el(matroska.SEGMENT, *children, unknown=unknown)


def info(*extra: bytes) -> bytes:
    return el(matroska.INFO, uint(0x2AD7B1, 1000000), el(0x4D80, b"Chrome"), el(0x5741, b"Chrome"), *extra)


def built_crc() -> bytes:
    body = uint(0x2AD7B1, 1000000) + el(0x4D80, b"Lavf") + el(0x7BA9, b"Secret Title")
    crc = el(matroska.CRC32, struct.pack("<I", zlib.crc32(body)))
    return ebml_header() + segment(
        el(matroska.INFO, crc, body), el(matroska.TRACKS, track(b"A_OPUS")), cluster()
    )


def built_seek() -> bytes:
    def seek(target: int) -> bytes:
        return el(matroska.SEEK, el(matroska.SEEK_ID, target.to_bytes(4, "big")), uint(0x53AC, 100))

    head = el(matroska.SEEKHEAD, seek(matroska.INFO), seek(matroska.TAGS), seek(matroska.CUES))
    tags = el(
        matroska.TAGS,
        el(_matroska_tags.TAG, el(_matroska_tags.SIMPLE_TAG, el(0x45A3, b"COMMENT"), el(0x4487, b"hi"))),
    )
    odd = el(0x1ABCDEF0, b"something unknown")  # an ID no Matroska version defines
    return ebml_header() + segment(head, info(), el(matroska.TRACKS, track(b"A_OPUS")), tags, odd, cluster())


def built_wide() -> bytes:
    """8-byte sizes everywhere, as some muxers write them, and an unknown-size Segment and Cluster."""
    entry = el(matroska.TRACK_ENTRY, uint(0xD7, 1), el(0x86, b"V_VP8", width=8), uint(0x83, 1),
               el(0x536E, b"Camera Track", width=8), width=8)  # fmt: skip
    tracks = el(matroska.TRACKS, entry, width=8)
    body = info(el(0x7BA9, b"Secret Title", width=8)) + tracks + cluster(width=8)
    return ebml_header() + segment(body, el(matroska.CLUSTER, uint(0xE7, 9), unknown=True), unknown=True)


def vorbis_comment(prefix: bytes, vendor: bytes, comments: list[bytes], framing: bool) -> bytes:
    out = prefix + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", len(comments))
    out += b"".join(struct.pack("<I", len(c)) + c for c in comments)
    return out + (b"\x01" if framing else b"")


def built_xiph() -> bytes:
    ident, setup = b"\x01vorbis" + bytes(23), b"\x05vorbis" + bytes(40)
    comments = [b"TITLE=Secret Title", b"LOCATION=+42.6931+023.3219/", b"ARTIST=Ivan Petrov"]
    comment = vorbis_comment(b"\x03vorbis", b"Samsung Voice Recorder", comments, framing=True)
    private = bytes([2, len(ident), len(comment)]) + ident + comment + setup
    return ebml_header(b"matroska") + segment(
        info(), el(matroska.TRACKS, track(b"A_VORBIS", private)), cluster()
    )


def built_flac() -> bytes:
    streaminfo = b"\x00\x00\x00\x22" + bytes(34)
    comment = vorbis_comment(b"", b"reference libFLAC 1.4.2", [b"ARTIST=Ivan Petrov"], framing=False)
    picture = b"JFIF cover art of Ivan Petrov"
    blocks = streaminfo + b"\x04" + len(comment).to_bytes(3, "big") + comment
    blocks += b"\x86" + len(picture).to_bytes(3, "big") + picture
    return ebml_header() + segment(info(), el(matroska.TRACKS, track(b"A_FLAC", b"fLaC" + blocks)), cluster())


BUILT = {"crc": built_crc, "seek": built_seek, "wide": built_wide, "xiph": built_xiph, "flac": built_flac}


@pytest.mark.parametrize("total", [*range(2, 140), 16383, 16384, 16385, 16386, 1 << 21, (1 << 21) + 3])
def test_void_is_exactly_as_long(total: int) -> None:
    v = matroska.void(total)
    eid, size, length = matroska._header(v, 0)
    assert (eid, len(v), length + size) == (matroska.VOID, total, total) and not any(v[length:])


def test_crc_recomputed_when_its_master_changes() -> None:
    cleaned = py_clean(built_crc())
    assert b"Secret Title" not in cleaned.data and b"Lavf" not in cleaned.data
    at = cleaned.data.index(matroska.INFO.to_bytes(4, "big"))
    _, size, length = matroska._header(cleaned.data, at)
    body = cleaned.data[at + length : at + length + size]
    assert body[:2] == b"\xbf\x84" and body[2:6] == struct.pack("<I", zlib.crc32(body[6:]))


def test_seek_entries_to_removed_elements_are_voided() -> None:
    data = built_seek()
    cleaned = py_clean(data)
    assert matroska.CUES.to_bytes(4, "big") in cleaned.data  # the Seek entry to Cues stays
    assert matroska.TAGS.to_bytes(4, "big") in data and matroska.TAGS.to_bytes(4, "big") not in cleaned.data
    assert b"something unknown" not in cleaned.data and len(cleaned.data) == len(data)
    assert ("other", "Segment/0x1ABCDEF0") in cleaned.found and ("text", "Tags/COMMENT") in cleaned.found


def test_eight_byte_sizes_and_unknown_sizes() -> None:
    data = built_wide()
    cleaned = py_clean(data)
    assert b"Secret Title" not in cleaned.data and b"Camera Track" not in cleaned.data
    assert cleaned.mime == "video/webm" and len(cleaned.data) == len(data)


def test_comment_headers_in_codec_private_are_emptied() -> None:
    for name, markers in (("xiph", [b"Samsung", b"Ivan", PLACE]), ("flac", [b"libFLAC", b"Ivan", b"JFIF"])):
        data = BUILT[name]()
        cleaned = py_clean(data)
        assert len(cleaned.data) == len(data)
        for marker in markers:
            assert marker in data and marker not in cleaned.data, (name, marker)
        assert py_clean(cleaned.data).found == []
    assert ("place", "Vorbis comment/LOCATION") in py_clean(built_xiph()).found
    assert ("other", "FLAC block 6") in py_clean(built_flac()).found


def test_a_void_with_leftovers_is_zeroed_and_trailing_data_dropped() -> None:
    data = (
        ebml_header()
        + el(matroska.VOID, b"old title")
        + segment(info(), el(matroska.TRACKS, track(b"A_OPUS")))
    )
    cleaned = py_clean(data + b"junk after the segment")
    assert b"old title" not in cleaned.data and b"junk" not in cleaned.data
    assert len(cleaned.data) == len(data) and ("other", "trailing data") in cleaned.found


UNKNOWN_CHILD = el(0x4321, b"x")


@pytest.mark.parametrize(
    "data",
    [
        ebml_header() + segment(info(), el(matroska.TRACKS, track(b"A_OPUS"))) * 2,  # two Segments
        ebml_header() + segment(el(matroska.TAGS, b"", unknown=True), el(matroska.TRACKS, track(b"A_OPUS"))),
        ebml_header()
        + segment(el(matroska.TRACKS, track(b"A_OPUS")), el(matroska.CLUSTER, UNKNOWN_CHILD, unknown=True)),
        ebml_header() + segment(info()),  # no Tracks
        ebml_header() + segment(el(matroska.TRACKS, track(b"A_OPUS"))) + cluster(),  # Segment too short
        ebml_header(b"notmkv") + segment(el(matroska.TRACKS, track(b"A_OPUS"))),
        (ebml_header() + segment(info(), el(matroska.TRACKS, track(b"A_OPUS"))))[:-5],  # cut inside Tracks
        ebml_header() + segment(el(matroska.TRACKS, track(b"A_VORBIS", b"\x02\x01"))),  # Xiph lacing cut
    ],
)
def test_refused(data: bytes) -> None:
    with pytest.raises(metadata.CannotClean):
        py_clean(data)


# -- hostile input -------------------------------------------------------------------------------


ABSURD = [b"\x01\x00\x00\x00\x7f\xff\xff\xff", b"\x08", b"\x10\xff\xff\xff"]  # 2 GiB, a 4-byte ID, 256 MiB


def damaged(draw, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data) - 1) | st.integers(0, min(len(data), 800) - 1))
        how = draw(st.sampled_from(["flip", "size", "unknown", "cut"]))
        if how == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif how == "size":
            data[at : at + 8] = draw(st.sampled_from(ABSURD))
        elif how == "unknown":
            data[at : at + 8] = b"\x01\xff\xff\xff\xff\xff\xff\xff"
        else:
            del data[at:]
            break
    return bytes(data)


def only_cannot_clean(data: bytes) -> None:
    try:
        plan = metadata.plan_for(metadata.ForwardSource(io.BytesIO(data), len(data)), "matroska")
    except metadata.CannotClean:
        return
    assert plan.size <= len(data)
    assert all(0 <= p.start <= p.end <= len(data) for p in plan.pieces if isinstance(p, metadata.Copy))


SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(st.data())
def test_hostile_ffmpeg_files_only_cannot_clean(webm: bytes, mkv: bytes, data) -> None:
    only_cannot_clean(damaged(data.draw, data.draw(st.sampled_from([webm, mkv]))))


@SETTINGS
@given(st.data(), st.sampled_from(sorted(BUILT)))
def test_hostile_built_files_only_cannot_clean(data, name: str) -> None:
    only_cannot_clean(damaged(data.draw, BUILT[name]()))


@SETTINGS
@given(st.binary(max_size=64))
def test_hostile_noise_after_the_magic_only_cannot_clean(tail: bytes) -> None:
    only_cannot_clean(b"\x1a\x45\xdf\xa3" + tail)
