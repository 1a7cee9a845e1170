"""One word for a desk and one for the vault in each language of sealview's catalogue. The officer reads
"служба" (bg, ru) or "қызмет" (kk) for a desk on every page and in every refusal, never a piece of
furniture ("стол", "бюро", "үстел") or another unit ("бөлім"), and "хранилище" (bg, ru) or "қойма" (kk)
for the vault, never "трезор": some refusals said those (one named the desk a "table")."""

from __future__ import annotations

import re

import pytest

from tests.viewer.test_i18n import entries

# term: (the English word, what is not the word itself, {lang: (the stem it is translated by, wrong words)})
TERMS = {
    "desk": (
        r"\bdesks?\b",
        r"--desk\b",
        {
            "bg": ("служб", r"\bбюр"),
            "ru": ("служб", r"\bстол(?:а|у|ом|е|ы|ов)?\b"),
            "kk": ("қызмет", r"үстел|бөлім"),
        },
    ),
    "vault": (
        r"\bvaults?\b",
        r"--vault\b|\bvault\.json\b|\$SEALVIEW_VAULT|\./vault",
        {"bg": ("хранилищ", r"трезор"), "ru": ("хранилищ", r"трезор|сейф"), "kk": ("қойма", r"сейф")},
    ),
}


def names(msgid: str, word: str, other_uses: str) -> bool:
    """The word in the message's own text (not an option, a file name or a placeholder)."""
    text = re.sub(rf"{other_uses}|%\([^)]*\)\w", "", msgid)
    return re.search(word, text, re.I) is not None


@pytest.mark.parametrize("term", TERMS)
@pytest.mark.parametrize("lang", ("bg", "ru", "kk"))
def test_a_term_is_one_word(lang, term):
    word, other_uses, by_lang = TERMS[term]
    stem, wrong_words = by_lang[lang]
    wrong = []
    for m in entries(lang):
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        if names(ids[0], word, other_uses):
            wrong += [
                (ids[0], s) for s in strings if stem not in s.lower() or re.search(wrong_words, s, re.I)
            ]
    assert wrong == [], f"{lang}, {term}: {wrong}"
