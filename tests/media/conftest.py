"""Fixtures the media tests of one format share across their files (test_bmff_*.py, test_matroska_*.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """A folder of the test module's own, for the files it makes and the copies it writes."""
    return tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
