"""A corpus shaped like what phones write, made at test time, and the checks on what a cleaner gives back.

Each sample is built once per test session (ffmpeg for video and audio, Pillow, piexif and pillow-heif
for pictures, a few hand-built bytes where no tool writes the format) and carries the marker bytes that
must not survive cleaning, by what they give away (metadata.KINDS): the place, the device, the time,
the person, or free text (a voice memo named after its street). A marker's kind is what the field that
holds it is (a place typed into a title is "text"), so a cleaner's findings on the original name every
kind of its markers. Every marker is checked to be in the original when the sample is made, so a test
that finds none in the cleaned file cannot pass because the marker was never there.

    s = sample("mov-iphone")
    assert_no_markers(s, cleaned)        # no place, device, time or owner left, in any encoding
    assert_plays_like(s, cleaned)        # same streams, packets, duration and decoded frames
    assert_picture_like(s, cleaned)      # a picture: decodes to the same size

The files are tiny (1 s, 160x120) so that the whole corpus is made in a few seconds.

This module is the index: which files there are and `sample(name)`; the makers and the checks live
by topic in corpus_sample.py (markers, Sample), corpus_images.py, corpus_video.py, corpus_audio.py,
corpus_checks.py (plays like, looks like) and corpus_officer.py (what the officer opens), and their
public names are re-exported here, so `from tests.media import corpus` is all a test needs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from tests.media import corpus_audio as audio
from tests.media import corpus_images as images
from tests.media import corpus_video as video
from tests.media.corpus_checks import (
    MediaFacts,
    assert_picture_like,
    assert_plays_like,
    media_facts,
    original_facts,
)
from tests.media.corpus_images import ROAD, SCENE_PROBES, SIZE, SKY, SUN, gps_marker
from tests.media.corpus_officer import last_report, stored_blobs
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
    PLACE_ISO6709,
    PLACE_NAME,
    PLACE_XMP,
    SAMSUNG,
    SERIAL,
    SHOT_AT,
    THUMBNAIL_NOTE,
    Sample,
    assert_no_markers,
    markers_in,
)
from tests.media.corpus_video import AUDIO_IN, H264_AAC, HEVC_AAC, VIDEO_IN

BUILDERS: dict[str, Callable[[], Sample]] = {
    "jpeg-android": images.jpeg_android,
    "jpeg-motion-photo": lambda: images.jpeg_motion_photo(sample("mp4-android").data),
    "mpo": images.mpo,
    "png-rgba": lambda: images.png("RGBA"),
    "png-la": lambda: images.png("LA"),
    "png-palette": lambda: images.png("P"),
    "webp": images.webp,
    "gif": images.gif,
    "tiff": images.tiff,
    "heic-iphone": images.heic_iphone,
    "avif": images.avif,
    "mov-iphone": video.mov_iphone,
    "mp4-android": video.mp4_android,
    "3gp": video.three_gp,
    "webm": video.webm,
    "m4a-voice-memo": audio.m4a_voice_memo,
    "opus-ogg": audio.opus_ogg,
    "wav": audio.wav,
    "mp3": audio.mp3,
    "flac": audio.flac,
    "amr": audio.amr,
}
NAMES = tuple(BUILDERS)
PICTURES = tuple(n for n in NAMES if n in BUILDERS and n.split("-")[0] in
                 ("jpeg", "mpo", "png", "webp", "gif", "tiff", "heic", "avif"))  # fmt: skip
MEDIA = tuple(n for n in NAMES if n not in PICTURES)


@functools.cache
def sample(name: str) -> Sample:
    """The corpus file `name`, made on first use and kept for the rest of the session."""
    made = BUILDERS[name]()
    assert made.name == name
    return made


def truncated_moov() -> bytes:
    """An iPhone MOV whose moov (it comes last) lost its last bytes: a copy that broke off. Its place
    is still in it."""
    return sample("mov-iphone").data[:-16]


__all__ = [
    "APPLE",
    "AUDIO_IN",
    "BUILDERS",
    "EXIF_TIME",
    "GPS_LAT",
    "GPS_LON",
    "H264_AAC",
    "HEVC_AAC",
    "ICC_NAME",
    "ISO_DAY",
    "LENS",
    "MEDIA",
    "NAMES",
    "OWNER",
    "PICTURES",
    "PLACE",
    "PLACE_ISO6709",
    "PLACE_NAME",
    "PLACE_XMP",
    "ROAD",
    "SAMSUNG",
    "SCENE_PROBES",
    "SERIAL",
    "SHOT_AT",
    "SIZE",
    "SKY",
    "SUN",
    "THUMBNAIL_NOTE",
    "VIDEO_IN",
    "MediaFacts",
    "Sample",
    "assert_no_markers",
    "assert_picture_like",
    "assert_plays_like",
    "gps_marker",
    "last_report",
    "markers_in",
    "media_facts",
    "original_facts",
    "sample",
    "stored_blobs",
    "truncated_moov",
]
