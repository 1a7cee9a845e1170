"""Report documents and attachments from strangers: parsed without trust, never raising."""

import json

from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import jpeg_with_exif
from tests.viewer.hostile import bomb_png, broken_jpegs, png_claiming
from viewer import documents, hidden, images


def test_a_good_document():
    doc = documents.parse(
        json.dumps(
            {
                "format": "sealdrop-report/1",
                "kind": "report",
                "desk": "demo",
                "language": "bg",
                "category": {"slug": "drugs", "name": "Drug dealing"},
                "what": "Line one\r\nline two\u202e",
                "when": "",
                "where": {
                    "mode": "device",
                    "lat": 42.6931,
                    "lon": 23.3219,
                    "precision": "100m",
                    "accuracy_m": 110,
                },
                "contact": "",
                "reply_public": "ab" * 32,
                "case_number": None,
                "attachments": [
                    {
                        "name": "../../etc/passwd",
                        "type": "image/jpeg",
                        "size": 5,
                        "sha256": "AB" * 32,
                        "metadata": "kept",
                    }
                ],
            }
        ).encode()
    )
    assert doc.warnings == [] and doc.what == "Line one\nline two"
    assert doc.where == {
        "mode": "device",
        "lat": 42.6931,
        "lon": 23.3219,
        "precision": "100m",
        "accuracy_m": 110.0,
    }
    assert doc.attachments[0] == {
        "name": "passwd",
        "type": "image/jpeg",
        "size": 5,
        "sha256": "ab" * 32,
        "metadata": "kept",
    }


def test_bad_fields_become_warnings():
    doc = documents.parse(
        json.dumps(
            {
                "what": 5,
                "where": {"mode": "device", "lat": 91, "lon": "x"},
                "attachments": {"a": 1},
                "reply_public": "zz",
                "kind": "?",
            }
        ).encode()
    )
    assert doc.what == "" and doc.where == {"mode": "none"}
    assert len(doc.warnings) == 5


@given(st.binary(max_size=300))
def test_any_bytes_parse(data):
    doc = documents.parse(data)
    assert isinstance(doc.what, str) and isinstance(doc.warnings, list)


@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.text(max_size=20),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    )
)
def test_any_json_parses(value):
    doc = documents.parse(
        json.dumps({"what": value, "where": value, "attachments": value, "category": value}).encode()
    )
    assert isinstance(doc.where, dict) and doc.where["mode"] in ("none", "typed", "place", "device")


def test_types_come_from_the_bytes():
    assert documents.sniff(b"\xff\xd8\xff\xe0") == ("image", "image/jpeg")
    assert documents.sniff(b"<svg onload=alert(1)>", "image/jpeg") == ("other", "application/octet-stream")
    assert documents.sniff(b"\x1a\x45\xdf\xa3", "audio/webm") == ("audio", "audio/webm")
    assert documents.sniff(b"\x00\x00\x00\x18ftypmp42") == ("video", "video/mp4")
    assert documents.sniff(b"\x00\x00\x00\x18ftypheic") == ("image", "image/heic")  # pillow-heif decodes it
    assert documents.sniff(b"ID3\x04") == ("audio", "audio/mpeg")


def test_images_under_limits():
    out = images.reencode(jpeg_with_exif(size=(4000, 3000)))
    import io

    from PIL import Image

    im = Image.open(io.BytesIO(out))
    assert im.format == "JPEG" and max(im.size) == 1600 and not im.getexif()
    for data in (
        png_claiming(50_000, 50_000),
        bomb_png(),
        png_claiming(7000, 7000),
        *broken_jpegs(),
        b"",
        b"GIF89a",
    ):
        try:
            images.reencode(data)
        except images.ImageRefused as e:
            assert str(e).endswith((".", "it.")), e
        else:
            raise AssertionError("decoded what it must refuse")
    assert hidden.check_photo(jpeg_with_exif("Acme X1")).warnings == [
        "It records where it was taken: 42.69694, 23.32139",
        "The camera or phone is named in it: Acme X1",
    ]
