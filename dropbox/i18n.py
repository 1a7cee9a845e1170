"""Languages: bg, ru, kk, en. The reporter picks one with `?lang=` (no cookie), else the browser's
Accept-Language decides, else the desk's default. On the desk (/desk/) a signed-in user's own setting
(DeskUser.language) comes first; without one, the same rule with the instance's default."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from flask import Flask, current_app, g, request
from flask_babel import Babel, format_timedelta, get_locale, gettext
from werkzeug.datastructures import LanguageAccept

NAMES = {"bg": "Български", "ru": "Русский", "kk": "Қазақша", "en": "English"}


def statuses() -> dict[str, str]:
    """What a reporter reads for each triage state (the viewer's states, in plain words)."""
    return {
        "received": gettext("Received"),
        "checking": gettext("Being checked"),
        "credible": gettext("Confirmed"),
        "not credible": gettext("Could not be confirmed"),
        "duplicate": gettext("Already reported"),
        "forwarded": gettext("Forwarded to the police"),
        "closed": gettext("Closed"),
    }


def wait_words(wait_s: int) -> str:
    """A wait in words ("3 minutes", "40 seconds"), in the request's language. For the JS pages too:
    browsers' Intl lacks some of our languages' unit names (Chromium has no Kazakh "minutes")."""
    return format_timedelta(dt.timedelta(seconds=wait_s), threshold=1.5)


def choose_language(
    asked: str | None, accepted: LanguageAccept, languages: Sequence[str], fallback: str
) -> str:
    """The rule for every reporter page, waitress's own error pages too: `?lang=` if we have it, else
    the browser's best match among `languages`, else `fallback`."""
    if asked in languages:
        return asked
    return accepted.best_match(languages) or fallback


def _in_desk() -> bool:
    return request.path == "/desk" or request.path.startswith("/desk/")


def select_locale() -> str:
    cfg = current_app.config["SEALDROP"]
    if _in_desk():
        # The desk's gate has put the signed-in user (or None) on g before any page asks for words.
        user = g.get("desk_user")
        chosen = getattr(user, "language", None)
        if chosen in cfg.languages:
            return chosen
        fallback = cfg.default_language
    else:
        fallback = getattr(g, "desk_language", None) or cfg.default_language
    # ?lang= from the URL, never the form: parsing the form may be what failed
    return choose_language(request.args.get("lang"), request.accept_languages, cfg.languages, fallback)


def local_name(thing, lang: str | None = None) -> str:
    """A desk's or category's name in `lang` (the page's language by default), else in its desk's
    default language, else in English, else in any language it has, else its short name."""
    lang = lang or str(get_locale())
    names = thing.names or {}
    desk = thing if hasattr(thing, "default_language") else getattr(thing, "desk", None)
    for code in (lang, getattr(desk, "default_language", None), "en"):
        if code and names.get(code):
            return names[code]
    return next((n for n in names.values() if n), thing.slug)


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale, default_translation_directories="translations")

    @app.context_processor
    def _languages() -> dict:
        return {
            "language_names": NAMES,
            "languages": current_app.config["SEALDROP"].languages,
            "lang": str(get_locale()),  # pages may pass their own; error pages rely on this
            "statuses": statuses(),
            "local_name": local_name,
        }
