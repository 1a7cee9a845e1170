"""The words `sealdrop` prints for clerks and admins, in their language.

The language is `--lang L` when given, else the first of LANGUAGE, LC_ALL, LC_MESSAGES and LANG that
is set (the order gettext itself reads them), else English. LANGUAGE may list several, `de:ru:en`;
the first one we have wins. `C` and `POSIX` mean English. The words come from the same catalogue as
the web pages (dropbox/translations/<lang>/LC_MESSAGES/messages.mo), so `_` here is the keyword
pybabel extracts from every module under dropbox/ (dropbox/babel.cfg).

No Flask: the command line has no request to hang a locale on, so the choice is one per process,
made once by `init` at the start of `sealdrop`'s main().
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Mapping
from pathlib import Path

from babel.support import Translations

from .config import LANGUAGES

CATALOGUES = Path(__file__).resolve().parent / "translations"
ENVIRONMENT = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
ENGLISH = "en"

_state: dict[str, object] = {"lang": ENGLISH, "words": gettext.NullTranslations()}


def language_from_environment(environ: Mapping[str, str] | None = None) -> str:
    """The operator's language as their shell says it, among ours; English when it names none."""
    environ = os.environ if environ is None else environ
    for variable in ENVIRONMENT:
        value = environ.get(variable, "")
        if not value:
            continue
        for entry in value.split(":"):
            # ru_RU.UTF-8, kk_KZ, bg@latin: the language is what comes before _ . @
            code = entry.split(".")[0].split("@")[0].split("_")[0].lower()
            if code in ("c", "posix"):
                return ENGLISH
            if code in LANGUAGES:
                return code
        if variable != "LANGUAGE":  # the locale that is set decides, even when it is one we lack
            return ENGLISH
    return ENGLISH


def init(lang: str | None = None) -> str:
    """Choose the language (`lang`, else the environment's) and load its catalogue; returns it.
    A catalogue not compiled yet (`make setup` does it) leaves the messages in English."""
    chosen = lang if lang in LANGUAGES else language_from_environment()
    words: gettext.NullTranslations = gettext.NullTranslations()
    if chosen != ENGLISH:
        words = Translations.load(str(CATALOGUES), [chosen], domain="messages")
    _state.update(lang=chosen, words=words)
    return chosen


def language() -> str:
    return str(_state["lang"])


def _(message: str) -> str:
    """`message` in the chosen language. Fill placeholders after translating: _("x %(n)d") % {...}."""
    return _state["words"].gettext(message)  # type: ignore[attr-defined]
