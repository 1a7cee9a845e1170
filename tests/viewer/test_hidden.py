"""The officer is told what an attachment still says about its maker (viewer/hidden.py): on the case
page, in the printable PDF and in the case file for the police; for a photo, a recording, a video, a
file the reporter kept and one the report says was cleaned; nothing for a clean file; a line for a
file that could not be read. Test files are made here: Pillow for photos, WAV by hand, ffmpeg for MP3
and MOV."""

from __future__ import annotations

import html
import io
import json
import re
import shutil
import struct
import subprocess
import tracemalloc
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from PIL.ExifTags import IFD

import crypto
import metadata
from crypto import Identity
from metadata import images as metadata_images
from tests.viewer.bundles import Submission, jpeg, listed, report_doc
from tests.viewer.conftest import make_vault
from viewer import documents, forward, hidden, media, pdf, queries
from viewer.web import create_app

PLACE = "42.69310, 23.32190"  # what the photo's GPS reads as
ISO_PLACE = "+42.6931+023.3219"  # what the video carries
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


def photo_with_gps() -> bytes:
    """An iPhone-like JPEG: make, model, time and GPS in its EXIF."""
    exif = Image.Exif()
    exif.update({0x010F: "Apple", 0x0110: "iPhone 15 Pro", 0x0132: "2025:05:01 18:30:12"})
    exif.get_ifd(IFD.GPSInfo).update({1: "N", 2: (42.0, 41.0, 35.16), 3: "E", 4: (23.0, 19.0, 18.84)})
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (30, 120, 200)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def heic_with_gps() -> bytes:
    """An iPhone's HEIC photo, as far as its EXIF goes (pillow-heif writes it)."""
    exif = Image.Exif()
    exif.update({0x010F: "Apple", 0x0110: "iPhone 15 Pro"})
    exif.get_ifd(IFD.GPSInfo).update({1: "N", 2: (42.0, 41.0, 35.16), 3: "E", 4: (23.0, 19.0, 18.84)})
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 200)).save(out, "HEIF", exif=exif.tobytes(), quality=50)
    return out.getvalue()


def _chunk(cid: bytes, body: bytes) -> bytes:
    return struct.pack("<4sI", cid, len(body)) + body + b"\0" * (len(body) & 1)


def wav(info: dict[bytes, str] | None = None) -> bytes:
    """Half a second of 8 kHz silence, with a LIST/INFO chunk when `info` is given."""
    chunks = _chunk(b"fmt ", struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)) + _chunk(b"data", bytes(8000))
    if info:
        fields = b"".join(_chunk(k, v.encode("latin-1") + b"\0") for k, v in info.items())
        chunks += _chunk(b"LIST", b"INFO" + fields)
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


VOICE = {b"IART": "Ivan Petrov", b"ICRD": "2025-05-01", b"INAM": "Behind the gym"}


def damaged_wav() -> bytes:
    """A LIST chunk that announces more than the file holds: nothing can promise what is in it."""
    good = wav()
    riff_size = len(good) - 8 + 8 + 100_000
    return (
        good[:4] + struct.pack("<I", riff_size) + good[8:] + struct.pack("<4sI", b"LIST", 100_000) + b"INFO"
    )


def cleaned(data: bytes) -> bytes:
    source = metadata.BytesSource(data)
    plan = metadata.plan_for(source, metadata.sniff(data[:16]))
    return b"".join(bytes(p) for p in metadata.iter_pieces(source, plan.pieces))


def ffmpeg(tmp, name: str, *args: str) -> bytes:
    out = tmp / name
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args, str(out)], check=True)
    return out.read_bytes()


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """The files every test here reads (ffmpeg runs once per module)."""
    tmp = tmp_path_factory.mktemp("files")
    files = {"photo": photo_with_gps(), "voice": wav(VOICE), "plain_wav": wav(), "jpeg": jpeg()}
    if shutil.which("ffmpeg"):
        sine = ["-f", "lavfi", "-i", "sine=duration=1", "-c:a", "libmp3lame"]
        tags = ["-metadata", "artist=Ivan Petrov", "-metadata", "date=2025-05-01", "-metadata", "title=Gym"]
        files["mp3"] = ffmpeg(tmp, "tagged.mp3", *sine, *tags)
        files["mp3_lavf"] = ffmpeg(tmp, "lavf.mp3", *sine, "-write_xing", "0")  # only the encoder's TSSE
        files["mov"] = ffmpeg(
            tmp, "phone.mov", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=15:duration=1",
            "-c:v", "libx264", "-preset", "ultrafast",
            "-metadata", f"location={ISO_PLACE}/",
            "-metadata", "make=Apple", "-metadata", "model=iPhone 15 Pro",
        )  # fmt: skip
    return files


def _subs(made: dict) -> list[Submission]:
    """One case per situation; attachments are listed with what the report claims about their data."""

    def case(number: str, items: list[tuple[bytes, str, str, str]]) -> Submission:
        listing = [listed(data, name, mime, claim) for data, name, mime, claim in items]
        return Submission(number, report_doc(f"Case {number}", attachments=listing), [i[0] for i in items])

    kept = [(made["photo"], "p.jpg", "image/jpeg", "kept"), (made["voice"], "v.wav", "audio/wav", "kept")]
    removed = [(d, n, t, "removed") for d, n, t, _ in kept]
    clean = [
        (made["jpeg"], "p.jpg", "image/jpeg", "removed"),
        (made["plain_wav"], "v.wav", "audio/wav", "kept"),
        (cleaned(made["voice"]), "c.wav", "audio/wav", "removed"),
    ]
    hostile_info = wav({b"INAM": "<script>alert(1)</script>", b"IART": "Eve & <b>Mallory</b>"})
    broken = [
        (damaged_wav(), "d.wav", "audio/wav", "kept"),
        (b"%PDF-1.4\n% a document\n", "d.pdf", "application/pdf", "kept"),
        (hostile_info, "h.wav", "audio/wav", "kept"),
    ]
    subs = [case("KEPT-0001", kept), case("GONE-0001", removed), case("CLEA-0001", clean)]
    subs.append(case("HEIC-0001", [(heic_with_gps(), "IMG_0001.HEIC", "image/heic", "kept")]))
    subs.append(case("BROK-0001", broken))
    if "mp3" in made:
        subs.append(
            case(
                "MP3S-0001",
                [
                    (made["mp3"], "a.mp3", "audio/mpeg", "kept"),
                    (cleaned(made["mp3"]), "b.mp3", "audio/mpeg", "removed"),
                    (made["mp3_lavf"], "c.mp3", "audio/mpeg", "removed"),
                ],
            )
        )
        subs.append(case("MOVS-0001", [(made["mov"], "m.mov", "video/quicktime", "kept")]))
    return subs


@pytest.fixture(scope="module")
def checked(tmp_path_factory, made):
    vault, _, _ = make_vault(tmp_path_factory.mktemp("hidden") / "vault", [_subs(made)])
    yield vault
    vault.close()


@pytest.fixture(scope="module")
def page(checked):
    app = create_app(checked, "s3cret", hosts={"127.0.0.1:8765"})
    c = app.test_client()
    c.get("/?token=s3cret", base_url="http://127.0.0.1:8765")

    def get(number: str, whole: bool = False) -> list[str] | str:
        """The case page's attachments, each as its HTML (or the whole page)."""
        r = c.get(f"/case/{number}", base_url="http://127.0.0.1:8765")
        assert r.status_code == 200
        page = r.get_data(as_text=True)
        listing = page.split('<ul class="attachments">', 1)[1].split("\n  </ul>\n", 1)[0]
        return page if whole else listing.split('<li class="attachment')[1:]

    return get


def text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def test_kept_photo_and_recording_warn_with_place_device_person(page):
    photo, voice = page("KEPT-0001")
    assert 'class="warning metadata"' in photo and 'class="warning metadata"' in voice
    said = text(photo)
    assert "The reporter chose to keep the original data." in said and "got through" not in said
    assert f"It records where it was taken: {PLACE}" in said
    assert "The camera or phone is named in it: Apple; iPhone 15 Pro" in said
    assert "It records when it was made: 2025:05:01 18:30:12" in said
    said = text(voice)
    assert "It names a person (owner, author, artist): Ivan Petrov" in said
    assert "It records when it was made: 2025-05-01" in said
    assert "It carries a title or comment: Behind the gym" in said


def test_a_kept_heic_photo_is_shown_and_warns(page):
    (photo,) = page("HEIC-0001")
    assert "<img " in photo and 'class="warning metadata"' in photo
    said = text(photo)
    assert f"It records where it was taken: {PLACE}" in said and "Apple; iPhone 15 Pro" in said


def test_a_file_said_removed_that_still_holds_data_says_it_got_through(page):
    photo, voice = page("GONE-0001")
    for part in (photo, voice):
        said = text(part)
        assert "The report says it was removed, yet it got through" in said and "chose to keep" not in said
    assert f"It records where it was taken: {PLACE}" in text(photo)
    assert "Ivan Petrov" in text(voice)


def test_clean_files_show_nothing(page):
    parts = page("CLEA-0001")
    assert len(parts) == 3
    for part in parts:
        assert "metadata" not in part.split("</li>")[0].replace('preload="metadata"', "")
    assert 'id="forward-warning"' not in page("CLEA-0001", whole=True)


def test_damaged_unknown_and_hostile_files(page):
    broken, document, hostile = page("BROK-0001")
    said = text(broken)
    assert "Its hidden data could not be checked." in said and "does not understand its structure" in said
    assert "Handle it as if it could identify the reporter." in said
    assert "sealview cannot read this kind of file." in text(document)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile and "<script>" not in hostile
    assert "<b>Mallory" not in hostile and "Eve &amp; &lt;b&gt;Mallory&lt;/b&gt;" in hostile


def test_the_forward_form_warns_before_a_case_file_carries_them(checked, page):
    whole = page("KEPT-0001", whole=True)
    assert 'id="forward-warning"' in whole
    assert "2 attachments of this case still hold data that could identify the reporter" in text(whole)


@needs_ffmpeg
def test_mp3_tags_kept_removed_and_an_encoder_name_only(page):
    tagged, clean, lavf = page("MP3S-0001")
    said = text(tagged)
    assert "The reporter chose to keep" in said and "Ivan Petrov" in said and "It carries a title" in said
    assert "metadata" not in clean.replace('preload="metadata"', "")
    # ffmpeg names itself (Lavf) in every MP3 it writes: a note, not an alarm, even in a "removed" file
    assert 'class="note metadata"' in lavf and 'class="warning' not in lavf
    assert "The app that wrote it: Lavf" in text(lavf) and "got through" not in text(lavf)


@needs_ffmpeg
def test_a_phone_video_kept_warns_with_its_place_and_device(page):
    pytest.importorskip("metadata.bmff", reason="the ISO BMFF cleaner (metadata/bmff.py) has not landed")
    (video,) = page("MOVS-0001")
    said = text(video)
    assert ISO_PLACE in said and "Apple" in said and "iPhone 15 Pro" in said
    assert 'class="warning metadata"' in video


def _clean_copy(data: bytes) -> bytes:
    """What either path seals when the reporter lets us clean: pixels only, or the container's plan."""
    family = metadata.sniff(data[:16])
    if family in (None, "heif"):
        return metadata_images.reencode(data).data
    return cleaned(data)


@needs_ffmpeg
def test_every_corpus_file_warns_as_sent_and_is_quiet_once_cleaned(tmp_path):
    """tests/media/corpus.py: what phones write, each file once as the reporter kept it and once as
    our cleaners leave it, read by the viewer from the decrypting stream."""
    corpus = pytest.importorskip("tests.media.corpus")
    subs, expected = [], {}
    for i, name in enumerate(corpus.NAMES):
        s = corpus.sample(name)
        clean = _clean_copy(s.data)
        number = f"CORP-{i:04d}"
        items = [listed(s.data, s.filename, s.mime, "kept"), listed(clean, s.filename, s.mime, "removed")]
        subs.append(Submission(number, report_doc(name, attachments=items), [s.data, clean]))
        expected[number] = s
    vault, _, _ = make_vault(tmp_path / "vault", [subs])
    try:
        for number, s in expected.items():
            kept, clean = (hidden.check_attachment(vault, row) for row in _rows(vault, number))
            assert bool(kept.warnings) == bool(s.markers) and not kept.unchecked, (s.name, kept)
            assert not clean.warnings and not clean.unchecked, (s.name, clean)
    finally:
        vault.close()


def _rows(vault, number: str) -> list[dict]:
    return [a for r in queries.case(vault, number)["reports"] for a in r["attachments"]]


def test_each_file_is_read_once_per_process(checked, monkeypatch):
    (_, voice) = _rows(checked, "KEPT-0001")
    first = hidden.check_attachment(checked, voice)
    calls = []
    monkeypatch.setattr(media, "stream", lambda *a, **k: calls.append(a) or iter(()))
    assert hidden.check_attachment(checked, voice) is first and calls == []


def test_a_long_recording_is_read_from_the_stream_not_held(tmp_path):
    """32 MiB of samples, then the tags: the check passes over the samples chunk by chunk."""
    samples = 32 << 20
    riff = _chunk(b"fmt ", struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16))
    riff += (
        struct.pack("<4sI", b"data", samples)
        + bytes(samples)
        + _chunk(b"LIST", b"INFO" + _chunk(b"IART", b"Ivan\0"))
    )
    voice = b"RIFF" + struct.pack("<I", 4 + len(riff)) + b"WAVE" + riff
    del riff
    vault, _, _ = make_vault(
        tmp_path / "vault",
        [
            [
                Submission(
                    "LONG-0001",
                    report_doc("x", attachments=[listed(voice, "v.wav", "audio/wav", "kept")]),
                    [voice],
                )
            ]
        ],
    )
    del voice
    (row,) = _rows(vault, "LONG-0001")
    tracemalloc.start()
    try:
        check = hidden.check_attachment(vault, row)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        vault.close()
    assert check.warnings == ["It names a person (owner, author, artist): Ivan"]
    assert peak < 8 << 20, peak


def test_pdf_and_case_file_list_the_hidden_data(checked):
    police = Identity.generate()
    photo, _ = _rows(checked, "KEPT-0001")
    printed = [
        getattr(p, "text", "")
        for p in pdf._attachment(checked, photo, None, pdf.getSampleStyleSheet()["BodyText"])
    ]
    assert any("could identify the reporter" in t for t in printed)
    assert any("It records where it was taken: " + PLACE in html.unescape(t) for t in printed)
    sealed = forward.forward(checked, "KEPT-0001", police.public_key, "District police")
    with zipfile.ZipFile(io.BytesIO(crypto.unseal_bytes(sealed.read_bytes(), [police.decryption_key]))) as z:
        case = json.loads(z.read("case.json"))
    atts = case["reports"][0]["attachments"]
    assert f"It records where it was taken: {PLACE}" in atts[0]["hidden_data"]["warnings"]
    assert any("Ivan Petrov" in s for s in atts[1]["hidden_data"]["warnings"])
    assert atts[0]["metadata"] == "kept" and atts[0]["hidden_data"]["unchecked"] == ""


def test_software_and_other_are_notes_and_values_are_bounded():
    check = hidden.judged(
        [
            metadata.Finding("software", "Segment/Info/MuxingApp", "Chrome"),
            metadata.Finding("other", "JUNK"),
            *(metadata.Finding("text", f"tag{i}", f"comment {i}") for i in range(50)),
        ]
    )
    assert check.notes == [
        "The app that wrote it: Chrome",
        "Other data written into it, which sealview does not interpret: JUNK",
    ]
    (sentence,) = check.warnings
    assert sentence.startswith("It carries a title or comment: comment 0; comment 1")
    assert sentence.endswith("; and 46 more")
    only_notes = hidden.judged([metadata.Finding("software", "ISFT", "Lavf")])
    assert only_notes.warnings == [] and only_notes.shown


def _check_bytes(data: bytes, family: str = "wav") -> hidden.Check:
    return hidden._container(
        hidden._ChunkReader(iter([data[i : i + 7] for i in range(0, len(data), 7)])), len(data), family
    )


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_hostile_bytes_give_a_check_never_an_exception(data):
    base = data.draw(st.sampled_from([wav(VOICE), damaged_wav(), photo_with_gps()]))
    cut = data.draw(st.integers(0, len(base)))
    flips = data.draw(st.lists(st.tuples(st.integers(0, max(0, cut - 1)), st.integers(1, 255)), max_size=4))
    mutated = bytearray(base[:cut])
    for at, x in flips:
        if at < len(mutated):
            mutated[at] ^= x
    family = metadata.sniff(bytes(mutated[:16]))
    if family in (None, "heif"):
        check = hidden.check_photo(bytes(mutated))
    else:
        check = _check_bytes(bytes(mutated), family)
    assert isinstance(check, hidden.Check)


def test_a_reason_that_quotes_the_file_is_cleaned_of_controls():
    hostile = wav()[:36] + struct.pack("<4sI", b"\x1b[2J", 99_999)  # a chunk named by a terminal escape
    hostile = hostile[:4] + struct.pack("<I", 99_999) + hostile[8:]
    check = _check_bytes(hostile)
    assert check.unchecked.startswith("sealview does not understand its structure (")
    assert "\x1b" not in check.unchecked and "[2J" in check.unchecked


def test_the_stream_reader_peeks_and_reads_across_chunks():
    reader = hidden._ChunkReader(iter([b"ab", b"cdef", b"", b"gh"]))
    assert reader.peek(3) == b"abc" and reader.peek(16) == b"abcdef"
    source = metadata.ForwardSource(reader, 6)
    assert source.read_at(1, 2) == b"bc" and source.read_at(4, 2) == b"ef"
    assert hidden._ChunkReader(iter([b"x" * 10])).read_up_to(9) is None


EBML = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82"
SNIFFED = [
    (b"\0\0\0\x18ftypmp42\0\0\0\0", "", ("video", "video/mp4")),
    (b"\0\0\0\x14ftypqt  \0\0\0\0", "", ("video", "video/quicktime")),
    (b"\0\0\0\x08wide\0\0\0\0mdat", "", ("video", "video/quicktime")),
    (b"\0\0\0\x18ftyp3gp4\0\0\0\0", "", ("video", "video/3gpp")),
    (b"\0\0\0\x18ftyp3gp4\0\0\0\0", "audio/3gpp", ("audio", "audio/3gpp")),
    (b"\0\0\0\x18ftypM4A \0\0\0\0", "", ("audio", "audio/mp4")),
    (b"\0\0\0\x18ftypisom\0\0\0\0", "audio/mp4", ("audio", "audio/mp4")),
    (EBML + b"\x84webm", "", ("video", "video/webm")),
    (EBML + b"\x84webm", "audio/webm", ("audio", "audio/webm")),
    (EBML + b"\x88matroska", "", ("video", "video/x-matroska")),
    (b"OggS\0\x02" + bytes(22) + b"\x01\x1eOpusHead", "", ("audio", "audio/ogg")),
    (b"OggS\0\x02" + bytes(22) + b"\x01\x2a\x80theora", "", ("video", "video/ogg")),
    (b"RIFF\x24\0\0\0WAVEfmt ", "", ("audio", "audio/wav")),
    (b"ID3\x04\0\0\0\0\0\x10", "", ("audio", "audio/mpeg")),
    (b"\xff\xfb\x90\x00", "", ("audio", "audio/mpeg")),
    (b"\xff\xf1\x50\x80", "", ("audio", "audio/aac")),
    (b"fLaC\0\0\0\x22", "", ("audio", "audio/flac")),
    (b"#!AMR\n\x3c", "", ("audio", "audio/amr")),
    (b"#!AMR-WB\n\x3c", "", ("audio", "audio/amr-wb")),
    (b"\0\0\0\x1cftypheic\0\0\0\0", "", ("image", "image/heic")),
]  # fmt: skip
CLEANERS_WRITE = (
    "video/mp4", "video/quicktime", "video/3gpp", "audio/mp4", "video/webm", "audio/webm", "video/x-matroska",
    "audio/ogg", "video/ogg", "audio/wav", "audio/mpeg", "audio/aac", "audio/flac", "audio/amr",
)  # fmt: skip


@pytest.mark.parametrize(("head", "claimed", "expected"), SNIFFED)
def test_the_viewer_types_every_file_the_cleaners_write(head, claimed, expected):
    assert documents.sniff(head, claimed) == expected
    if expected[0] != "image":
        assert expected[1] in documents.PLAYABLE


def test_every_type_a_cleaner_writes_can_be_played_or_labelled():
    assert set(CLEANERS_WRITE) <= set(documents.PLAYABLE)
    assert {mime for _, _, (_, mime) in SNIFFED} >= set(CLEANERS_WRITE)
