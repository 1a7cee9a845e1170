"""The online service: reporter pages, the JSON API for browser-sealed reports, the desk (/desk/).

    app = create_app(dropbox.config.load(instance_dir))

Everything the app needs comes in through the frozen Config; nothing lives at module level.
"""

from __future__ import annotations

from flask import Flask

from . import db, desk, errors, i18n, placements, security
from .blobs import FileBlobStore
from .config import Config
from .intake import Uploads

AUDIENCES = ("reporter", "desk", "all")


def create_app(config: Config, audience: str = "all") -> Flask:
    """The app for one audience: "reporter" (/r/ and /api/, what the public address serves), "desk"
    (/desk/, served on its own loopback port behind the client-auth onion), or "all" (tests, demos)."""
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {AUDIENCES}")
    app = Flask(__name__, instance_path=str(config.instance_dir), instance_relative_config=False)
    app.config.update(
        SEALDROP=config,
        TESTING=config.testing,
        MAX_CONTENT_LENGTH=config.max_form_bytes,
        MAX_FORM_MEMORY_SIZE=1024 * 1024,
        SECRET_KEY=None,  # no Flask cookie sessions: reporters get no cookie at all
        JSON_SORT_KEYS=False,
    )
    store = FileBlobStore(config.blob_dir)
    app.extensions["sealdrop.blobs"] = store
    app.extensions["sealdrop.uploads"] = Uploads(config.blob_dir, config.max_envelope_bytes)
    db.init_app(app, config.database_url)
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
    return app
