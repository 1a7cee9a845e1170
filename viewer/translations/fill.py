"""Fill the viewer's .po files from viewer/translations/strings.json ({msgid: {"bg", "ru", "kk"}})
and strings.d/*.json (the same shape, one file per feature, so work on two features never edits one file).

    .venv/bin/python viewer/translations/fill.py [CATALOGUE_DIR]

CATALOGUE_DIR defaults to viewer/translations; `make translations` also runs it on dropbox/translations,
whose .po files are the source and which keeps only strings.d/ (no strings.json).

For a message with a plural, the msgid is its singular and each language gives a list of forms (Russian
three, Bulgarian and Kazakh two). A message the JSON does not know is left as it is (and the catalogue
test names it); one it knows is written over and its fuzzy flag removed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).resolve().parent
LANGS = ("bg", "ru", "kk")


def fill(here: Path, lang: str, strings: dict) -> list[str]:
    path = here / lang / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        catalog = read_po(f, locale=lang)
    missing = []
    for message in catalog:
        if not message.id:
            continue
        key = message.id[0] if isinstance(message.id, tuple) else message.id
        found = strings.get(key, {}).get(lang)
        if not found:
            if not message.string or (isinstance(message.string, tuple) and not all(message.string)):
                missing.append(key)
            continue
        if isinstance(found, list) != isinstance(message.id, tuple):
            missing.append(key)  # a plural given for a singular message, or the reverse
            continue
        message.string = tuple(found) if isinstance(message.id, tuple) else found
        message.flags.discard("fuzzy")
    catalog.fuzzy = False
    partial = path.with_suffix(".po.partial")  # a failure halfway never leaves a cut .po behind
    with partial.open("wb") as f:
        write_po(f, catalog, width=100, sort_output=True, include_previous=False)
    partial.replace(path)
    return missing


def load_strings(here: Path) -> dict:
    """strings.json, then every strings.d/*.json in name order over it."""
    main_file = here / "strings.json"
    strings = json.loads(main_file.read_text("utf-8")) if main_file.exists() else {}
    for extra in sorted((here / "strings.d").glob("*.json")):
        strings.update(json.loads(extra.read_text("utf-8")))
    return strings


def main() -> int:
    here = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else HERE
    strings = load_strings(here)
    for lang in LANGS:
        for key in fill(here, lang, strings):
            print(f"{lang}: no translation for {key!r}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
