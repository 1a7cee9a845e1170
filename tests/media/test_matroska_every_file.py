"""Every Matroska test file (matroska_corpus.py, matroska_build.py): cleaning twice finds nothing, a
forward-only read gives the same plan, and the JavaScript twin (clean/matroska.mjs) agrees.
"""

from __future__ import annotations

import io

import pytest

import metadata
from tests.media.matroska_build import BUILT
from tests.media.matroska_corpus import cut_in_cluster
from tests.media.parity import js_clean, py_clean


@pytest.mark.parametrize("name", ["webm", "mkv", pytest.param("recorded", marks=pytest.mark.browser)])
def test_cleaning_twice_finds_nothing(name: str, request: pytest.FixtureRequest) -> None:
    once = py_clean(request.getfixturevalue(name))
    twice = py_clean(once.data)
    assert twice.found == [] and twice.data == once.data


# -- forward only, and the JavaScript twin -------------------------------------------------------


def corpus(request: pytest.FixtureRequest, name: str) -> bytes:
    if name.startswith("cut-"):
        return cut_in_cluster(corpus(request, name[4:]))
    if name in BUILT:
        return BUILT[name]()
    return request.getfixturevalue(name)


BROWSER = pytest.mark.browser
NAMES = ["webm", "mkv", "cut-mkv", "crc", "seek", "wide", "xiph", "flac",
         *(pytest.param(name, marks=BROWSER) for name in ("recorded", "cut-recorded"))]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_forward_source_same_plan(name: str, request: pytest.FixtureRequest) -> None:
    data = corpus(request, name)
    whole = metadata.plan_for(metadata.BytesSource(data), "matroska")
    forward = metadata.plan_for(metadata.ForwardSource(io.BytesIO(data), len(data)), "matroska")
    assert (forward.pieces, forward.found, forward.mime) == (whole.pieces, whole.found, whole.mime)


@pytest.mark.browser
@pytest.mark.parametrize("name", NAMES)
def test_javascript_twin_agrees(name: str, request: pytest.FixtureRequest, clean_page) -> None:
    data = corpus(request, name)
    py, js = py_clean(data), js_clean(clean_page, data, "file.webm")
    assert (js.data, js.mime, js.found) == (py.data, py.mime, py.found)
