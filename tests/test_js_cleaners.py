"""clean.mjs asks for a container family's cleaner together with every module that cleaner imports, so
that adding a file costs the reporter one round trip over Tor, not one per level of imports: its lists
must stay equal to the imports of dropbox/static/js/clean/."""

from __future__ import annotations

import re

from tests.helpers import REPO

JS = REPO / "dropbox" / "static" / "js"
IMPORT = re.compile(r'\bfrom "\./([\w-]+)\.mjs"')


def listed_modules() -> dict[str, list[str]]:
    table = re.search(r"const MODULES = \{(.*?)\n\};", (JS / "clean.mjs").read_text(), re.S).group(1)
    return {
        family: re.findall(r'"([\w-]+)"', names)
        for family, names in re.findall(r"^\s*(\w+): \[([^\]]*)\],", table, re.M)
    }


def imported_by(entry: str) -> set[str]:
    """`entry` and every module it imports, directly or not, but source.mjs (clean.mjs loads it)."""
    seen, waiting = set(), [entry]
    while waiting:
        name = waiting.pop()
        if name in seen or name == "source":
            continue
        seen.add(name)
        waiting += IMPORT.findall((JS / "clean" / f"{name}.mjs").read_text())
    return seen


def test_each_family_asks_for_its_cleaner_and_all_it_imports_at_once():
    listed = listed_modules()
    assert set(listed) == {"bmff", "heif", "matroska", "ogg", "wav", "mp3", "flac", "amr"}
    for family, names in listed.items():
        assert len(names) == len(set(names)), family
        assert set(names) == imported_by(names[0]), family


def test_every_cleaner_module_is_asked_for_by_some_family():
    modules = {path.stem for path in (JS / "clean").glob("*.mjs")} - {"source"}
    assert modules == {name for names in listed_modules().values() for name in names}
