"""The officer's language in sealview: bg, ru, kk or en, chosen per vault (or `--lang`).

One catalogue, viewer/translations/<lang>/LC_MESSAGES/messages.po, serves the UI (Flask-Babel gives
the templates `_`), the CLI's messages and the documents sealview writes (PDF case file, police case
file). The viewer carries its own catalogue: it runs on an offline machine without the dropbox package.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask_babel import Babel

LANGUAGES = ("bg", "ru", "kk", "en")
TRANSLATIONS = Path(__file__).parent / "translations"


def init_app(app: Flask, language: str) -> None:
    """Pages of `app` in `language` (one officer, one vault: one language, no per-request choice)."""
    app.config["SEALVIEW_LANGUAGE"] = language if language in LANGUAGES else "en"
    Babel(
        app,
        locale_selector=lambda: app.config["SEALVIEW_LANGUAGE"],
        default_translation_directories=str(TRANSLATIONS),
    )
