"""Every ISO BMFF test file (bmff_corpus.py), movie or photo: a forward-only read gives the same plan,
cleaning twice changes nothing more, and the JavaScript twin (clean/bmff.mjs) gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import metadata
from tests.media.bmff_corpus import MOVIE_MARKERS, PHOTOS, corpus_file
from tests.media.parity import forward_plan, js_clean, py_clean


@pytest.mark.parametrize("name", [*MOVIE_MARKERS, *PHOTOS])
def test_forward_only_read_gives_the_same_plan(name: str, folder: Path) -> None:
    data = corpus_file(name, folder)
    family = metadata.sniff(data[:16])
    plan = metadata.plan_for(metadata.BytesSource(data), family)
    assert forward_plan(data).pieces == plan.pieces
    assert forward_plan(data).found == plan.found


@pytest.mark.parametrize("name", [*MOVIE_MARKERS, *PHOTOS])
def test_a_cleaned_file_is_clean(name: str, folder: Path) -> None:
    """Cleaning twice changes nothing more and finds nothing: no place, time or name is left to find."""
    data = corpus_file(name, folder)
    once = py_clean(data)
    twice = py_clean(once.data)
    assert twice.data == once.data
    assert twice.found == ([("other", "mpvd")] if name == "heic-motion-photo" else [])  # zeroed, not read


# -- the JavaScript twin --------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("name", [*MOVIE_MARKERS, *PHOTOS])
def test_javascript_gives_the_same_bytes(name: str, folder: Path, clean_page) -> None:
    data = corpus_file(name, folder)
    py, js = py_clean(data), js_clean(clean_page, data)
    assert js.data == py.data
    assert js.mime == py.mime
    assert js.found == py.found
