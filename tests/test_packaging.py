"""Every package of the source tree is in pyproject.toml's list, so a wheel (the viewer's offline bundle,
a plain `pip install`) carries it: a new sub-package left out installs a sealview that cannot start."""

from __future__ import annotations

import tomllib

from tests.helpers import REPO

TOP_LEVEL = ("crypto", "onion", "metadata", "dropbox", "viewer")


def test_every_package_is_listed_in_pyproject():
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for top in TOP_LEVEL
        for init in (REPO / top).rglob("__init__.py")
    }
    found |= {"dropbox.migrations", "dropbox.migrations.versions"}  # namespace folders alembic reads
    assert found == listed
