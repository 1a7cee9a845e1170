"""Hostile Matroska input (metadata/matroska.py): damaged copies of the test files and noise after the
magic only ever give CannotClean; the JavaScript twin refuses what Python refuses and cleans the rest
to the same bytes.
"""

from __future__ import annotations

import io
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metadata
from tests.media.matroska_build import BUILT
from tests.media.parity import js_clean, js_refuses, py_clean

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


# -- the JavaScript twin --------------------------------------------------------------------------


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
