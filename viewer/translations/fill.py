"""Fill the viewer's .po files from viewer/translations/strings.json ({msgid: {"bg", "ru", "kk"}}).

    .venv/bin/python viewer/translations/fill.py

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


def fill(lang: str, strings: dict) -> list[str]:
    path = HERE / lang / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        catalog = read_po(f, locale=lang)
    missing = []
    for message in catalog:
        if not message.id:
            continue
        key = message.id[0] if isinstance(message.id, tuple) else message.id
        found = strings.get(key, {}).get(lang)
        if not found or isinstance(found, list) != isinstance(message.id, tuple):
            missing.append(key)  # none, or a plural given for a singular message (or the reverse)
            continue
        message.string = tuple(found) if isinstance(message.id, tuple) else found
        message.flags.discard("fuzzy")
    catalog.fuzzy = False
    partial = path.with_suffix(".po.partial")  # a failure halfway never leaves a cut .po behind
    with partial.open("wb") as f:
        write_po(f, catalog, width=100, sort_output=True, include_previous=False)
    partial.replace(path)
    return missing


def main() -> int:
    strings = json.loads((HERE / "strings.json").read_text("utf-8"))
    for lang in LANGS:
        for key in fill(lang, strings):
            print(f"{lang}: no translation for {key!r}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
