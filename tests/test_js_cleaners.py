"""clean.mjs asks for a container family's cleaner together with every module that cleaner imports, so
that adding a file costs the reporter one round trip over Tor, not one per level of imports: its lists
must stay equal to the imports of dropbox/static/js/clean/."""

from __future__ import annotations

import re

from tests.helpers import REPO

JS = REPO / "dropbox" / "static" / "js"
IMPORT = re.compile(r'\bfrom "\./([\w-]+)\.mjs"')


def table(name: str) -> str:
    return re.search(rf"const {name} = \{{(.*?)\n\}};", (JS / "clean.mjs").read_text(), re.S).group(1)


def cleaners() -> dict[str, str]:
    """CLEANERS: each family's cleaner module."""
    return dict(re.findall(r'(\w+): "([\w-]+)"', table("CLEANERS")))


def listed_imports() -> dict[str, list[str]]:
    """IMPORTS: what clean.mjs asks for beside each cleaner."""
    return {
        cleaner: re.findall(r'"([\w-]+)"', names)
        for cleaner, names in re.findall(r"^\s*(\w+): \[([^\]]*)\],", table("IMPORTS"), re.M)
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
    families = cleaners()
    assert set(families) == {"bmff", "heif", "matroska", "ogg", "wav", "mp3", "flac", "amr"}
    listed = listed_imports()
    assert set(listed) <= set(families.values())
    for family, cleaner in families.items():
        names = [cleaner, *listed.get(cleaner, [])]
        assert len(names) == len(set(names)), family
        assert set(names) == imported_by(cleaner), family


def test_every_cleaner_module_is_asked_for_by_some_family():
    modules = {path.stem for path in (JS / "clean").glob("*.mjs")} - {"source"}
    asked = set(cleaners().values()) | {name for names in listed_imports().values() for name in names}
    assert modules == asked
