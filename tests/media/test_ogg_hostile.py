"""Hostile Ogg input (metadata/ogg.py): damaged copies of the test files (ogg_corpus.py), their page
checksums made right again half the time so the damage reaches the parsers behind them, only ever give
CannotClean, with the same plan from a whole and a forward-only read; the JavaScript twin agrees.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metadata
from metadata.ogg import crc_of
from tests.media.ogg_corpus import corpus_files
from tests.media.parity import forward_plan, js_outcome, py_outcome


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return corpus_files(tmp_path_factory)


def _mutations(data: bytes, rng: random.Random, n: int) -> list[bytes]:
    """Damaged copies: cut, bytes flipped, lengths made absurd, then (half the time) every page's
    checksum made right again, so the damage reaches the parsers behind the checksum."""
    out = []
    for _ in range(n):
        raw = bytearray(data[: rng.randrange(16, len(data) + 1)] if rng.random() < 0.3 else data)
        for _ in range(rng.randrange(1, 6)):
            if len(raw) > 4:  # the magic stays, so the file still goes to this cleaner
                at = rng.randrange(4, min(len(raw), 400))
                raw[at] = rng.choice([0, 0xFF, 0x7F, 0x80, raw[at] ^ (1 << rng.randrange(8))])
        out.append(_fix_checksums(bytes(raw)) if rng.random() < 0.5 else bytes(raw))
    return out


def _fix_checksums(data: bytes) -> bytes:
    raw, pos = bytearray(data), 0
    while pos + 27 <= len(raw) and raw[pos : pos + 4] == b"OggS":
        end = pos + 27 + raw[pos + 26] + sum(raw[pos + 27 : pos + 27 + raw[pos + 26]])
        if end > len(raw):
            break
        raw[pos + 22 : pos + 26] = bytes(4)
        struct.pack_into("<I", raw, pos + 22, crc_of(raw[pos:end]))
        pos = end
    return bytes(raw)


@pytest.mark.browser
def test_javascript_agrees_on_damaged_files(corpus: dict[str, Path], clean_page) -> None:
    rng = random.Random(10)
    for name in ("android.opus.ogg", "picture.flac.oga"):
        for data in _mutations(corpus[name].read_bytes()[:6000], rng, 30):
            assert js_outcome(clean_page, data) == py_outcome(data)


@pytest.fixture(scope="module")
def seeds(corpus: dict[str, Path]) -> list[bytes]:
    return [corpus[n].read_bytes()[:9000] for n in ("android.opus.ogg", "theora.ogg", "picture.flac.oga")]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_input_is_only_ever_refused(seeds: list[bytes], data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(seeds))
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    raw = _mutations(seed, rng, 1)[0]
    outcome = py_outcome(raw)
    try:
        assert forward_plan(raw, "ogg").pieces == metadata.plan_for(metadata.BytesSource(raw), "ogg").pieces
    except metadata.CannotClean:
        assert outcome == "CannotClean"
