"""The officer's language in sealview: bg, ru, kk or en, chosen per vault (or `--lang`).

One catalogue, viewer/translations/<lang>/LC_MESSAGES/messages.po, serves the UI (the templates get
`_` and `ngettext`), the CLI's messages and the documents sealview writes (PDF case file, police case
file). The viewer carries its own catalogue: it runs on an offline machine without the dropbox package.

Which language, one rule for everything sealview says (help, argparse's errors, messages, the UI):
`--lang L` on the command line, else $SEALVIEW_LANG, else the vault's setting (`sealview config --lang
L`), else the system's locale (`from_locale`: LANGUAGE, LC_ALL, LC_MESSAGES, LANG; C and POSIX are
English), else English. One process serves one vault, so the CLI sets it once (`use`); the UI keeps it
in its Flask app (`init_app`), so tests can run apps in several languages.
Messages are English in the source; `N_` marks one that is translated where it is shown (a label
stored in the vault in English, like a history entry, is translated when it is read).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from babel import Locale
from babel.dates import LOCALTZ, format_date, format_time, get_datetime_format
from babel.support import NullTranslations, Translations

from crypto.cli import locale_language

LANGUAGES = ("bg", "ru", "kk", "en")
NAMES = {"bg": "Български", "ru": "Русский", "kk": "Қазақша", "en": "English"}
TRANSLATIONS = Path(__file__).parent / "translations"
ENV = "SEALVIEW_LANG"

_language: contextvars.ContextVar[str] = contextvars.ContextVar("sealview_language", default="en")


def normalize(lang: object) -> str | None:
    """`lang` if it is one of ours (case and region ignored: `ru_RU` is `ru`), else None."""
    if not isinstance(lang, str):
        return None
    code = lang.strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGUAGES else None


def use(lang: str | None) -> str:
    """Speak `lang` from now on in this process (the CLI), English if it is not one of ours."""
    chosen = normalize(lang) or "en"
    _language.set(chosen)
    return chosen


@contextlib.contextmanager
def speaking(lang: str | None) -> Iterator[str]:
    """`use(lang)` for a while: the language in force before comes back after (one CLI run in a
    process that does other things, like the tests)."""
    token = _language.set(normalize(lang) or "en")
    try:
        yield _language.get()
    finally:
        _language.reset(token)


def current() -> str:
    """The language in force: the UI app's when inside a request of it, else the one `use` set."""
    flask = sys.modules.get("flask")  # the CLI never imports Flask just to ask
    if flask is not None and flask.has_app_context():
        lang = flask.current_app.config.get("SEALVIEW_LANGUAGE")
        if lang:
            return lang
    return _language.get()


@functools.cache
def translations(lang: str) -> NullTranslations:
    if lang == "en":
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS), [lang])


def gettext(message: str, /, **params: object) -> str:
    """`message` in the language in force, with %(name)s filled from `params` when there are any."""
    text = translations(current()).ugettext(message)
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, /, **params: object) -> str:
    """The form for `n` (Russian and Bulgarian have their own rules); %(num)d is `n`."""
    params.setdefault("num", n)
    return translations(current()).ungettext(singular, plural, n) % params


_ = gettext


def N_(message: str) -> str:
    """Marks `message` for the catalogue; it is translated where it is shown."""
    return message


def translated(message: str) -> str:
    """A sentence the vault keeps in English (a warning, a history entry) in the language in force;
    one the catalogue does not know (it carries a case number, say) stays as it is."""
    return translations(current()).ugettext(message) if message else message


# -- dates and times -------------------------------------------------------------------------------


def when(value: object) -> str:
    """An ISO time the vault recorded (vault.now()) in this machine's time zone and the language's
    format, e.g. "6 дек. 2026 г., 07:05"; anything that is not such a time is shown as it is."""
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value or "")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    local = moment.astimezone(LOCALTZ)
    lang = current()
    pattern = get_datetime_format("medium", locale=lang)
    date = format_date(local, "medium", locale=lang)
    time = format_time(local, "short", locale=lang)
    return pattern.replace("'", "").replace("{1}", date).replace("{0}", time)


def day(value: object) -> str:
    """A day (YYYY-MM-DD, as bundles date reports) in the language's format."""
    try:
        return format_date(dt.date.fromisoformat(str(value)), "medium", locale=current())
    except ValueError:
        return str(value or "")


def locale() -> Locale:
    return Locale.parse(current())


# -- the UI ----------------------------------------------------------------------------------------


def init_app(app, language: str | None) -> None:
    """Pages of `app` in `language` (one officer, one vault: one language, no per-request choice).

    Jinja's i18n extension in "newstyle": `_("... %(n)d", n=n)` formats and escapes its parameters, and
    every translation goes through %, so a literal percent sign in a message is written %%.
    """
    app.config["SEALVIEW_LANGUAGE"] = normalize(language) or "en"
    app.jinja_env.add_extension("jinja2.ext.i18n")
    # Jinja formats the result itself (escaping the parameters): give it the bare lookups.
    app.jinja_env.install_gettext_callables(
        lambda message: translations(current()).ugettext(message),
        lambda singular, plural, n: translations(current()).ungettext(singular, plural, n),
        newstyle=True,
    )
    app.jinja_env.globals.update(LANGUAGE=lambda: app.config["SEALVIEW_LANGUAGE"])


def from_environment() -> str | None:
    """$SEALVIEW_LANG, when it names one of ours."""
    return normalize(os.environ.get(ENV))


def from_locale(environ: Mapping[str, str] | None = None) -> str:
    """The language the system's locale names, among ours; English when it names none (LANGUAGE,
    LC_ALL, LC_MESSAGES, LANG, as `sealdrop` reads them: crypto.cli.locale_language)."""
    return locale_language(LANGUAGES, environ)


# -- category names --------------------------------------------------------------------------------


def category(names: Mapping[str, Mapping[str, str]], name: str | None, slug: str = "") -> str:
    """A category's name in the language in force. `names` ({slug: {lang: name}}) is what the desks'
    signed export bundles said; a report names its category once, in the reporter's language (or
    English), so a name is matched by slug, else by being one of a category's names. Unknown: as given."""
    found = names.get(slug) if slug else None
    if found is None and name:
        found = next((n for n in names.values() if name in n.values()), None)
    if found:
        lang = current()
        return found.get(lang) or found.get("en") or name or slug
    return name or slug
