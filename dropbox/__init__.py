"""The online service: reporter pages, the JSON API for browser-sealed reports, the desk (/desk/).

    app = create_app(dropbox.config.load(instance_dir))

Everything the app needs comes in through the frozen Config; nothing lives at module level.
"""

from __future__ import annotations

import logging
import warnings

from flask import Flask, Response

from . import db, desk, errors, i18n, placements, security, shared
from .blobs import open_store
from .budget import Budgets
from .config import Config
from .noise import LIBRARY_NOISE  # what libraries said, counted only (dropbox/noise.py)
from .uploads import UploadLimits, uploads_for

AUDIENCES = ("reporter", "desk", "all")


class _CountOnly(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        LIBRARY_NOISE[(record.name, record.levelname)] += 1


def _count_warning(message, category, *_where, **_more) -> None:
    LIBRARY_NOISE[(category.__name__, "WARNING")] += 1


def silence_libraries() -> None:
    """Route every log record (PIL, waitress, werkzeug, ours) and every warning (Pillow's
    DecompressionBombWarning, "Possibly corrupt EXIF" and the like) into LIBRARY_NOISE. Idempotent."""
    counter = _CountOnly()
    root = logging.getLogger()
    if not any(isinstance(h, _CountOnly) for h in root.handlers):
        root.addHandler(counter)
    for name in ("PIL", "waitress", "werkzeug", "sealdrop"):  # a handler of their own would still print
        logger = logging.getLogger(name)
        logger.handlers = [h for h in logger.handlers if isinstance(h, _CountOnly)]
        logger.propagate = True
    logging.lastResort = counter  # a logger cut off from the root would otherwise reach stderr
    warnings.showwarning = _count_warning


def create_app(config: Config, audience: str = "all") -> Flask:
    """The app for one audience: "reporter" (/r/ and /api/, what the public address serves), "desk"
    (/desk/, served on its own loopback port behind the client-auth onion), or "all" (tests, demos)."""
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {AUDIENCES}")
    silence_libraries()
    app = Flask(__name__, instance_path=str(config.instance_dir), instance_relative_config=False)
    app.config.update(
        SEALDROP=config,
        TESTING=config.testing,
        MAX_CONTENT_LENGTH=config.max_form_bytes,
        MAX_FORM_MEMORY_SIZE=1024 * 1024,
        SECRET_KEY=None,  # no Flask cookie sessions: reporters get no cookie at all
        JSON_SORT_KEYS=False,
    )
    db.init_app(app, config.database_url)
    store = open_store(config, app.extensions["sealdrop.engine"])  # files, or PostgreSQL large objects
    app.extensions["sealdrop.blobs"] = store
    app.extensions["sealdrop.uploads"] = uploads_for(config, store, UploadLimits.of(config))
    # In memory (in Redis with redis_url); `sealdrop serve` hands the reporter app's to the desk app, so
    # the admin page sees it.
    app.extensions["sealdrop.budgets"] = Budgets(config)
    shared.init_app(app)  # with redis_url: a solved proof of work is spent once across instances
    security.init_app(app)
    i18n.init_app(app)
    errors.init_app(app)

    from .api import bp as api_bp
    from .reporter import bp as reporter_bp

    if audience in ("reporter", "all"):
        app.register_blueprint(reporter_bp)
        app.register_blueprint(api_bp, url_prefix="/api")
        placements.init_app(app)  # poster placement tags, counted per desk and day
    if audience in ("desk", "all"):
        desk.init_app(app)
    app.add_url_rule("/favicon.ico", "favicon", _no_favicon)
    return app


def _no_favicon() -> Response:
    """Every browser asks for /favicon.ico on its own: without an answer it is a 404, an error in the
    console and a wasted round trip over Tor. We have no icon, on purpose (nothing to fingerprint or
    cache across sites): an empty answer with the security headers, which browsers may keep for a day
    (security.FAVICON_CACHE) rather than ask again on every page."""
    return Response(status=204)
