"""Every package of the source tree, and every data folder in it, is in what pyproject.toml's package
search finds, so a wheel (the viewer's offline bundle, a plain `pip install`) carries it: a sub-package
left out installs a sealview that cannot start."""

from __future__ import annotations

import tomllib

from setuptools import find_namespace_packages

from tests.helpers import REPO

TOP_LEVEL = ("crypto", "onion", "metadata", "dropbox", "viewer")
DATA_FOLDERS = ("dropbox.templates.desk.admin", "dropbox.static.js.clean", "dropbox.viewer_bundle_files",
                "dropbox.translations.ru.LC_MESSAGES", "viewer.static", "viewer.templates",
                "viewer.translations.kk.LC_MESSAGES")  # fmt: skip


def shipped_packages() -> set[str]:
    find = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert find.get("namespaces", True), "the data folders and alembic's versions/ have no __init__.py"
    return set(find_namespace_packages(str(REPO), include=find["include"], exclude=find.get("exclude", ())))


def test_every_package_and_data_folder_is_shipped_and_nothing_else():
    shipped = shipped_packages()
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for top in TOP_LEVEL
        for init in (REPO / top).rglob("__init__.py")
    }
    found |= {"dropbox.migrations", "dropbox.migrations.versions"}  # namespace folders alembic reads
    assert found - shipped == set()
    assert set(DATA_FOLDERS) - shipped == set()
    assert {p.split(".")[0] for p in shipped} == set(TOP_LEVEL)  # not tests/, bench/, fuzz/
