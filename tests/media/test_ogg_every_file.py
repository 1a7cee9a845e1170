"""Every Ogg test file (ogg_corpus.py): a forward-only read gives the same plan, and the JavaScript
twin (clean/ogg.mjs) gives the same bytes and findings as metadata/ogg.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import metadata
from tests.media.ogg_corpus import corpus_files
from tests.media.parity import forward_plan, js_clean, py_clean


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return corpus_files(tmp_path_factory)


def test_a_forward_only_read_gives_the_same_plan(corpus: dict[str, Path]) -> None:
    chained = corpus["android.opus.ogg"].read_bytes() + corpus["theora.ogg"].read_bytes()
    for path, data in [*((p, p.read_bytes()) for p in corpus.values()), ("chained", chained)]:
        plan = metadata.plan_for(metadata.BytesSource(data), "ogg")
        assert forward_plan(data, "ogg") == plan, path


@pytest.mark.browser
def test_javascript_gives_the_same_bytes_and_findings(corpus: dict[str, Path], clean_page) -> None:
    for path in corpus.values():
        data = path.read_bytes()
        py, js = py_clean(data), js_clean(clean_page, data, path.name)
        assert (js.data, js.mime, js.found) == (py.data, py.mime, py.found), path.name
