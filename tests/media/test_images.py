"""Still pictures (metadata/images.py): what a picture says about its maker is found, so that the
viewer can warn about a picture the reporter kept, and a damaged one is refused, never an error."""

import io

import pytest
from PIL import Image

import metadata
from metadata import images
from tests.media import corpus

PICTURES = ["jpeg-android", "mpo", "png-rgba", "png-la", "png-palette", "webp", "gif", "tiff", "heic-iphone"]


def kinds(data: bytes) -> set[tuple[str, str]]:
    return {(f.kind, f.where) for f in images.findings(data)}


def test_a_motion_photo_s_appended_video_is_named():
    assert ("thumbnail", "motion photo") in kinds(corpus.BUILDERS["jpeg-motion-photo"]().data)


@pytest.mark.parametrize("name", PICTURES)
def test_no_other_picture_is_taken_for_a_motion_photo(name):
    assert ("thumbnail", "motion photo") not in kinds(corpus.BUILDERS[name]().data)


def test_re_encoded_pictures_say_nothing():
    for name in PICTURES:
        cleaned = images.reencode(corpus.BUILDERS[name]().data)
        assert images.findings(cleaned.data) == [], name


def test_a_damaged_avif_is_refused():
    data = corpus.BUILDERS["avif"]().data
    for cut in (len(data) // 2, len(data) - 40):
        with pytest.raises(images.PictureRefused):
            images.reencode(data[:cut])


def test_a_side_longer_than_a_jpeg_allows_is_refused_as_too_large():
    out = io.BytesIO()
    Image.new("RGB", (8, images.MAX_EDGE + 100)).save(out, "PNG")
    with pytest.raises(images.PictureRefused) as refused:
        images.reencode(out.getvalue())
    assert refused.value.code == "too_many_pixels"


def test_the_neutral_names_are_the_same_in_python_and_javascript(clean_page):
    for mime, name in {**metadata.NEUTRAL_NAMES, "application/x-unknown": "file"}.items():
        assert metadata.neutral_name(mime) == name
        assert clean_page.evaluate("(m) => clean.neutralName(m)", mime) == name, mime
