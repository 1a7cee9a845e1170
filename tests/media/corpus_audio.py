"""The corpus's recordings (see tests/media/corpus.py), as voice recorders and phones write them: an
iPhone's M4A voice memo, an Opus voice note in Ogg, a WAV with LIST/INFO and bext, an MP3 with ID3v2
and ID3v1, a FLAC with Vorbis comments, and an AMR-NB file (no tags at all). Made by ffmpeg, AMR by hand.
"""

from __future__ import annotations

import random

from tests.media.corpus_sample import ISO_DAY, OWNER, PLACE, PLACE_NAME, Sample, ffmpeg
from tests.media.corpus_video import AUDIO_IN, CREATION, mac_time


def m4a_voice_memo() -> Sample:
    args = [*AUDIO_IN, "-c:a", "aac", *CREATION, "-metadata", f"title={PLACE_NAME.decode()}",
            "-metadata", f"date={ISO_DAY.decode()}"]  # fmt: skip
    data = ffmpeg([*args, "-f", "ipod"], ".m4a")
    markers = {"text": (PLACE_NAME,), "time": (ISO_DAY, mac_time())}
    return Sample("m4a-voice-memo", "New Recording 3.m4a", data, "audio/mp4", "audio", markers)


_AUDIO_TAGS = ["-metadata", f"artist={OWNER.decode()}", "-metadata", f"date={ISO_DAY.decode()}",
               "-metadata", f"title={PLACE_NAME.decode()}",
               "-metadata", f"location={PLACE.decode()}/"]  # fmt: skip
_AUDIO_MARKERS = {"place": (PLACE,), "text": (PLACE_NAME,), "person": (OWNER,), "time": (ISO_DAY,)}


def opus_ogg() -> Sample:
    data = ffmpeg([*AUDIO_IN, "-c:a", "libopus", *_AUDIO_TAGS, "-f", "ogg"], ".ogg")
    return Sample("opus-ogg", "voice-note.ogg", data, "audio/ogg", "audio", _AUDIO_MARKERS)


def wav() -> Sample:
    bext = ["-write_bext", "1", "-metadata", f"originator={OWNER.decode()}",
            "-metadata", f"origination_date={ISO_DAY.decode()}",
            "-metadata", "origination_time=17:04:12"]  # fmt: skip
    data = ffmpeg([*AUDIO_IN, *_AUDIO_TAGS, *bext, "-f", "wav"], ".wav")
    markers = {"person": (OWNER,), "time": (ISO_DAY,), "text": (PLACE_NAME,)}  # INFO has no place field
    return Sample("wav", "recording.wav", data, "audio/wav", "audio", markers)


def mp3() -> Sample:
    args = [*AUDIO_IN, "-c:a", "libmp3lame", *_AUDIO_TAGS, "-id3v2_version", "3", "-write_id3v1", "1"]
    data = ffmpeg([*args, "-f", "mp3"], ".mp3")
    assert data[-128:].startswith(b"TAG"), "no ID3v1 tag at the end"
    markers = {"place": (PLACE,), "text": (PLACE_NAME,), "person": (OWNER,)}
    return Sample("mp3", "recording.mp3", data, "audio/mpeg", "audio", markers)


def flac() -> Sample:
    data = ffmpeg([*AUDIO_IN, *_AUDIO_TAGS, "-f", "flac"], ".flac")
    return Sample("flac", "recording.flac", data, "audio/flac", "audio", _AUDIO_MARKERS)


def amr() -> Sample:
    """AMR-NB as a phone's voice recorder writes it: no tags at all (Debian's ffmpeg has no AMR encoder,
    so the frames are hand-built: 50 frames of 20 ms at 12.2 kbit/s, mode byte 0x3C then 31 bytes)."""
    noise = random.Random(10)
    frames = b"".join(b"\x3c" + bytes(noise.randrange(256) for _ in range(31)) for _ in range(50))
    return Sample("amr", "voice.amr", b"#!AMR\n" + frames, "audio/amr", "audio", {})
