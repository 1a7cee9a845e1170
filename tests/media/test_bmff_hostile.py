"""Hostile ISO BMFF input (metadata/bmff.py): damaged copies of the test files (bmff_corpus.py), absurd
tables and counts only ever give CannotClean, the same from a whole and a forward-only read; the
JavaScript twin refuses what Python refuses and cleans the rest to the same bytes.
"""

from __future__ import annotations

import io
import random
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metadata
from metadata import _boxes, bmff
from tests.media import bmff_build as build
from tests.media.bmff_corpus import corpus_file
from tests.media.parity import js_clean, js_refuses, py_clean


def _mutations() -> st.SearchStrategy:
    cut = st.tuples(st.just("cut"), st.floats(0, 1), st.just(0))
    flip = st.tuples(st.just("flip"), st.floats(0, 1), st.integers(0, 255))
    size = st.tuples(
        st.just("size"), st.floats(0, 1), st.sampled_from([0, 1, 7, 8, 16, 0x7FFFFFF0, 0xFFFFFFFF])
    )
    return st.lists(st.one_of(cut, flip, size), min_size=1, max_size=4)


def mutate(data: bytes, steps: list[tuple[str, float, int]]) -> bytes:
    out = bytearray(data)
    for op, where, value in steps:
        at = int(where * max(0, len(out) - 4))
        if op == "cut":
            del out[at:]
        elif op == "flip" and at < len(out):
            out[at] = value & 0xFF
        elif op == "size" and len(out) >= 4:
            out[at : at + 4] = struct.pack(">I", value)
    return bytes(out)


def outcome(data: bytes, forward: bool) -> list | str:
    source = metadata.ForwardSource(io.BytesIO(data), len(data)) if forward else metadata.BytesSource(data)
    try:
        return metadata.plan_for(source, "bmff").pieces
    except metadata.CannotClean:
        return "CannotClean"


HOSTILE_SEEDS = [
    "mp4-android-faststart",
    "mov-iphone",
    "mp4-fragmented",
    "mp4-fragmented-sidx",
    "mov-timed-mebx",
    "heic",
    "heic-idat",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.sampled_from(HOSTILE_SEEDS), steps=_mutations())
def test_hostile_input_only_ever_cannot_clean(seed: str, steps: list, folder: Path) -> None:
    data = mutate(corpus_file(seed, folder), steps)
    assert outcome(data, forward=False) == outcome(data, forward=True)


def test_absurd_tables_are_refused(folder: Path) -> None:
    faststart = bytearray(corpus_file("mp4-android-faststart", folder))
    struct.pack_into(">I", faststart, faststart.index(b"stco") + 8, 0xFFFFFFF0)  # four billion chunks
    assert outcome(bytes(faststart), forward=False) == "CannotClean"
    timed = corpus_file("mov-timed-mebx", folder)
    for kind, at in ((b"stsc", 16), (b"stsz", 12)):  # four billion samples in a chunk, or in the track
        bad = bytearray(timed)
        struct.pack_into(">I", bad, bad.rindex(kind) + at, 0xFFFFFFFF)
        assert outcome(bytes(bad), forward=False) == "CannotClean"


def test_absurd_counts_are_refused(folder: Path) -> None:
    """A file of a quarter million empty boxes, or a moov of seventy thousand: refused, in bounded time."""
    ftyp = corpus_file("mp4-android", folder)[:20]
    assert outcome(ftyp + build.box(b"free", b"") * (bmff.MAX_TOP + 1), forward=False) == "CannotClean"
    faststart = corpus_file("mp4-android-faststart", folder)
    moov = build.find(faststart, b"moov")
    crowded = build.box(
        b"moov", faststart[moov.body : moov.end] + build.box(b"free", b"") * _boxes.MAX_CHILDREN
    )
    assert outcome(faststart[: moov.start] + crowded + faststart[moov.end :], forward=False) == "CannotClean"


@pytest.mark.browser
def test_javascript_refuses_what_python_refuses(folder: Path, clean_page) -> None:
    rng = random.Random(10)
    for i in range(80):
        seed = HOSTILE_SEEDS[i % len(HOSTILE_SEEDS)]
        base = corpus_file(seed, folder)
        steps = [(rng.choice(["cut", "flip", "size"]), rng.random(), rng.choice([0, 1, 8, 255, 0xFFFFFFFF]))]
        data = mutate(base, steps)
        if metadata.sniff(data[:16]) not in ("bmff", "heif"):
            continue
        try:
            py = py_clean(data)
        except metadata.CannotClean:
            assert js_refuses(clean_page, data) == "CannotClean", (seed, steps)
            continue
        js = js_clean(clean_page, data)
        assert (js.data, js.mime, js.found) == (py.data, py.mime, py.found), (seed, steps)
