"""Languages: bg, ru, kk, en. The reporter picks one with `?lang=` (no cookie), else the browser's
Accept-Language decides, else the desk's default."""

from __future__ import annotations

from flask import Flask, current_app, g, request
from flask_babel import Babel, get_locale, gettext

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


def select_locale() -> str:
    if request.path == "/desk" or request.path.startswith("/desk/"):
        return "en"  # the desk is English-only for now (its strings are wrapped, not yet translated)
    languages = current_app.config["SEALDROP"].languages
    chosen = request.args.get("lang")  # never the form: parsing it may be what failed
    if chosen in languages:
        return chosen
    desk_default = getattr(g, "desk_language", None)
    best = request.accept_languages.best_match(languages)
    return best or desk_default or current_app.config["SEALDROP"].default_language


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale, default_translation_directories="translations")

    @app.context_processor
    def _languages() -> dict:
        return {
            "language_names": NAMES,
            "languages": current_app.config["SEALDROP"].languages,
            "lang": str(get_locale()),  # pages may pass their own; error pages rely on this
            "statuses": statuses(),
        }
