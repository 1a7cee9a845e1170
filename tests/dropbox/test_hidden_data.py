"""Hidden data on the no-JS path: every phone-shaped corpus file (tests/media/corpus.py) sent through the
form, sealed by the server, opened as the officer opens it. Nothing of the place, device, time or owner
survives, in the attachment or in the report document; the file still decodes as the original did;
the reporter's explicit "keep the original data" is the only way to keep it, and the officer is told."""

from __future__ import annotations

import hashlib
import io
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import metadata
from dropbox import config, create_app
from dropbox.scrub import RejectedFile, scrub
from metadata import images
from tests.dropbox.conftest import Reporter
from tests.helpers import extract, make_instance
from tests.media import corpus
from tests.media.corpus import MEDIA, NAMES, PICTURES, last_report, sample, stored_blobs
from tests.media.parity import py_clean

WITH_ALPHA = {"png-rgba", "png-la"}  # re-encoded as PNG; every other picture comes out as JPEG
NOT_KEEPABLE = {"tiff"}  # the viewer cannot show it, so the server does not take it as it came


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    """One SQLite instance for the module: a report per corpus file, each read back as the newest."""
    instance = make_instance(tmp_path_factory.mktemp("hidden") / "instance")
    app = create_app(config.load(instance))
    yield instance, Reporter(app.test_client())
    app.extensions["sealdrop.engine"].dispose()


def send(reporter: Reporter, files: list, keep: bool = False):
    fields = {"keep_metadata": "yes"} if keep else {}
    return reporter.submit(fields, files=[(io.BytesIO(s.data), s.filename, s.mime) for s in files])


@pytest.mark.parametrize("name", NAMES)
def test_every_corpus_file_arrives_without_its_hidden_data(desk, name):
    instance, reporter = desk
    s = sample(name)
    response = send(reporter, [s])
    assert response.status_code == 200, response.get_data(as_text=True)[-2000:]
    doc, (attachment,) = last_report(instance)
    entry = doc["attachments"][0]
    assert entry["metadata"] == "removed"
    corpus.assert_no_markers(s, attachment)
    corpus.assert_no_markers(s, json.dumps(doc, ensure_ascii=False).encode())
    assert entry["size"] == len(attachment) and entry["sha256"] == hashlib.sha256(attachment).hexdigest()
    if name in PICTURES:
        fmt = "PNG" if name in WITH_ALPHA else "JPEG"
        corpus.assert_picture_like(s, attachment, (fmt,))
        assert entry["type"] == f"image/{fmt.lower()}"
        assert entry["name"] == ("photo.png" if fmt == "PNG" else "photo.jpg")  # IMG_0004.HEIC -> photo.jpg
    else:
        corpus.assert_plays_like(s, attachment)
        assert entry["type"].startswith(f"{s.kind}/")
        assert entry["name"] == metadata.neutral_name(entry["type"])
    if s.filename != entry["name"]:  # the phone's name for it (a time, an app) is gone
        assert s.filename not in json.dumps(doc, ensure_ascii=False)


@pytest.mark.parametrize("name", [n for n in NAMES if n not in NOT_KEEPABLE])
def test_kept_original_arrives_byte_for_byte_and_marked_kept(desk, name):
    instance, reporter = desk
    s = sample(name)
    assert send(reporter, [s], keep=True).status_code == 200
    doc, (attachment,) = last_report(instance)
    assert attachment == s.data
    assert doc["attachments"][0]["metadata"] == "kept" and doc["attachments"][0]["name"] == s.filename


def add_to_case(reporter: Reporter, files: list, keep: bool = False):
    """Sign in with the receipt of a new report and add `files` to the case through the no-JS form."""
    receipt = extract(send(reporter, []).get_data(as_text=True), "receipt")
    case_page = reporter.check(receipt).get_data(as_text=True)
    token = re.search(r'name="case_token" value="([^"]+)"', case_page).group(1)
    fields = {
        "case_token": token,
        "what": "He came back with this",
        **({"keep_metadata": "yes"} if keep else {}),
    }
    fields["files"] = [(io.BytesIO(s.data), s.filename, s.mime) for s in files]
    return reporter.client.post("/r/demo/add", data=fields, content_type="multipart/form-data")


def test_files_added_to_a_case_later_are_cleaned_too(desk):
    instance, reporter = desk
    added = [sample(n) for n in ("mov-iphone", "heic-iphone", "opus-ogg")]
    assert add_to_case(reporter, added).status_code == 200
    doc, attachments = last_report(instance)
    assert doc["kind"] == "addition" and [a["metadata"] for a in doc["attachments"]] == ["removed"] * 3
    for s, attachment in zip(added, attachments, strict=True):
        corpus.assert_no_markers(s, attachment)
    corpus.assert_plays_like(added[0], attachments[0])
    corpus.assert_picture_like(added[1], attachments[1], ("JPEG",))

    assert add_to_case(reporter, [added[0]], keep=True).status_code == 200
    doc, (attachment,) = last_report(instance)
    assert attachment == added[0].data and doc["attachments"][0]["metadata"] == "kept"


@pytest.mark.parametrize("name", [n for n in NAMES if n != "amr"])  # AMR has no field to hold any
def test_the_officer_is_told_every_kind_of_data_a_kept_file_holds(name):
    """What the viewer warns about in a kept file comes from the same policy (metadata.plan_for for
    containers, metadata.images.findings for pictures): every kind of marker in the original is named."""
    s = sample(name)
    if name in PICTURES:
        found = {f.kind for f in images.findings(s.data)}
    else:
        found = {kind for kind, _ in py_clean(s.data).found}
    assert set(s.markers) <= found, f"not reported: {set(s.markers) - found}"


def test_a_picture_the_viewer_cannot_show_is_not_kept(desk):
    instance, reporter = desk
    before = stored_blobs(instance)
    response = send(reporter, [sample("tiff")], keep=True)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "cannot be sent with its original data" in page and "scan.tiff" in page
    assert stored_blobs(instance) == before


def test_several_files_in_one_report_are_each_cleaned(desk):
    instance, reporter = desk
    chosen = [sample(n) for n in ("heic-iphone", "mov-iphone", "m4a-voice-memo", "jpeg-android")]
    assert send(reporter, chosen).status_code == 200
    doc, attachments = last_report(instance)
    assert [a["metadata"] for a in doc["attachments"]] == ["removed"] * 4
    for s, attachment in zip(chosen, attachments, strict=True):
        corpus.assert_no_markers(s, attachment)
    corpus.assert_picture_like(chosen[0], attachments[0], ("JPEG",))
    corpus.assert_plays_like(chosen[1], attachments[1])


def test_a_file_we_cannot_clean_is_refused_by_name_unless_kept(desk):
    instance, reporter = desk
    broken = corpus.Sample("broken-mov", "IMG_0009.MOV", corpus.truncated_moov(), "video/quicktime", "video",
                           {"place": (corpus.PLACE,)})  # fmt: skip
    before = stored_blobs(instance)
    response = send(reporter, [sample("jpeg-android"), broken])  # one bad file stops the whole report
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "We cannot remove the hidden data from this file" in page and "IMG_0009.MOV" in page
    assert stored_blobs(instance) == before

    assert send(reporter, [broken], keep=True).status_code == 200
    doc, (attachment,) = last_report(instance)
    assert attachment == broken.data and doc["attachments"][0]["metadata"] == "kept"


# The issue's own reproduction: what Pillow carries over from `img.info` on save must not survive scrub().


def _scrubbed(data: bytes, name: str) -> bytes:
    cleaned = scrub(data, name)
    assert cleaned.metadata == "removed"
    return cleaned.open().read()


def test_a_jpeg_comment_does_not_survive():
    original = io.BytesIO()
    Image.new("RGB", (8, 8)).save(original, "JPEG", comment=b"SECRET")
    assert b"SECRET" in original.getvalue()
    out = _scrubbed(original.getvalue(), "a.jpg")
    assert b"SECRET" not in out and "comment" not in Image.open(io.BytesIO(out)).info


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_a_png_colour_profile_does_not_survive(mode):
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    original = io.BytesIO()
    Image.new(mode, (8, 8)).save(original, "PNG", icc_profile=icc)
    assert b"iCCP" in original.getvalue()
    out = _scrubbed(original.getvalue(), "a.png")
    assert b"iCCP" not in out and b"ICC_PROFILE" not in out
    assert "icc_profile" not in Image.open(io.BytesIO(out)).info


def test_the_corpus_covers_every_kind_of_marker():
    """So that "no marker survived" means something: each of place, device, time and person is carried
    by several pictures and several videos or recordings."""
    for group in (PICTURES, MEDIA):
        kinds = [k for n in group for k, v in sample(n).markers.items() if v]
        for kind in ("place", "device", "time", "person"):
            assert kinds.count(kind) >= 2, (group, kind)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=150, deadline=None, derandomize=True)
@given(damage=st.data())
def test_a_damaged_file_is_cleaned_or_refused_never_passed_through(name, damage):
    """A file cut short or with a few bytes changed (a broken copy, a hostile reporter): scrub() either
    refuses it or returns it without any marker, never anything else."""
    s = sample(name)
    data = bytearray(s.data[: damage.draw(st.integers(len(s.data) // 2, len(s.data)), label="cut")])
    for at, value in damage.draw(st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)),
                                          max_size=3), label="flips"):  # fmt: skip
        data[at] = value
    try:
        cleaned = scrub(bytes(data), s.filename, s.mime)
    except RejectedFile:
        return
    assert cleaned.metadata == "removed"
    corpus.assert_no_markers(s, cleaned.open().read())


def test_an_mp3_cut_inside_its_id3v1_tag_keeps_no_title():
    """The fuzz above found it: a copy that broke off inside the 128-byte ID3v1 tag at the end leaves
    "TAG" and the title after the last frame, where no complete tag is recognised."""
    s = sample("mp3")
    cut = s.data[: len(s.data) - 128 + 17]  # "TAG" and the title's 14 bytes are there, the rest is not
    try:
        cleaned = scrub(cut, s.filename, s.mime)
    except RejectedFile:
        return
    corpus.assert_no_markers(s, cleaned.open().read())


def test_a_damaged_avif_is_refused_not_an_internal_error():
    """The fuzz above found it: Pillow's AVIF plugin raises RuntimeError for an image item it cannot find."""
    data = bytearray(sample("avif").data[:690])
    data[95] = 0
    with pytest.raises(RejectedFile):
        scrub(bytes(data), "IMG_0005.avif", "image/avif")


def test_a_picture_wider_than_a_jpeg_can_be_is_not_an_internal_error():
    """A long panorama strip (found by fuzzing a TIFF's height): few pixels, but an edge over JPEG's 65,500.
    Re-encoding it must give a picture (scaled down, or PNG) or refuse it, not a failed save."""
    original = io.BytesIO()
    Image.new("RGB", (65_600, 8), (30, 120, 200)).save(original, "PNG")
    try:
        cleaned = scrub(original.getvalue(), "pano.png", "image/png")
    except RejectedFile:
        return
    Image.open(io.BytesIO(cleaned.open().read())).load()
