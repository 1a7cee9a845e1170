"""The words `sealdrop` prints for clerks and admins, in their language.

The language is `--lang L` when given, else the first of LANGUAGE, LC_ALL, LC_MESSAGES and LANG that
is set (the order gettext itself reads them), else English. LANGUAGE may list several, `de:ru:en`;
the first one we have wins. `C` and `POSIX` mean English. The words come from the same catalogue as
the web pages (dropbox/translations/<lang>/LC_MESSAGES/messages.mo), so `_` here is the keyword
pybabel extracts from every module under dropbox/ (dropbox/babel.cfg).

No Flask: the command line has no request to hang a locale on, so the choice is one per process,
made once by `init` at the start of `sealdrop`'s main(). argparse's own words ("usage:", "options", its
errors) come from the same catalogue while `argparse_speaks` is in force (ARGPARSE_WORDS lists them).
"""

from __future__ import annotations

import contextlib
import gettext
from collections.abc import Mapping
from pathlib import Path

from babel.support import Translations

from crypto.cli import argparse_speaking, locale_language

from .config import LANGUAGES

CATALOGUES = Path(__file__).resolve().parent / "translations"
ENGLISH = "en"

_state: dict[str, object] = {"lang": ENGLISH, "words": gettext.NullTranslations()}


def language_from_environment(environ: Mapping[str, str] | None = None) -> str:
    """The operator's language as their shell says it, among ours; English when it names none (the
    same rule as sealview's: crypto.cli.locale_language)."""
    return locale_language(LANGUAGES, environ)


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


def N_(message: str) -> str:
    """Marks a message for pybabel that is translated where it is said (argparse's, below)."""
    return message


# argparse says these through the stdlib's gettext domain "argparse", which has no Bulgarian, Russian
# or Kazakh; our catalogue has them (dropbox/translations/strings.d/cli-help.json).
ARGPARSE_WORDS = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("show this help message and exit"),
    N_("the following arguments are required: %s"),
    N_("unrecognized arguments: %s"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("expected one argument"),
    N_("invalid %(type)s value: %(value)r"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("not allowed with argument %s"),
    N_("one of the arguments %s is required"),
    N_("%(prog)s: error: %(message)s\n"),
)


def argparse_speaks() -> contextlib.AbstractContextManager[None]:
    """argparse's words in the chosen language while the parser is built (its group titles and the
    -h help are made then) and while it parses (usage, errors); the stdlib's own gettext after."""
    return argparse_speaking(_, _plural)


def _plural(singular: str, plural: str, n: int) -> str:
    return _state["words"].ngettext(singular, plural, n)  # type: ignore[attr-defined]
