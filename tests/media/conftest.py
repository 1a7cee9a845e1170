"""Fixtures the media tests of one format share across their files (test_bmff_*.py, test_matroska_*.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.media import matroska_corpus


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """A folder of the test module's own, for the files it makes and the copies it writes."""
    return tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])


# The Matroska files real tools write (matroska_corpus.py), made once for all the test_matroska_* files.


@pytest.fixture(scope="session")
def webm(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return matroska_corpus.phone_webm(tmp_path_factory.mktemp("matroska-webm"))


@pytest.fixture(scope="session")
def mkv(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return matroska_corpus.attached_mkv(tmp_path_factory.mktemp("matroska-mkv"))


@pytest.fixture(scope="session")
def recorded(browser) -> bytes:
    return matroska_corpus.record(browser)
