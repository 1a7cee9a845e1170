"""Filters and globals the templates share. Every value from a report is text for Jinja to escape.

Labels are English msgids, translated when a page (or the CLI, or the PDF) shows them: the officer's
language is known only then.
"""

from __future__ import annotations

import json

from flask import Flask, g, request, url_for

from .. import i18n
from ..labels import (
    STATE_LABELS,
    action_label,
    actor_text,
    detail_text,
    event_text,
    human_size,
    state_label,
    stored_text,
    where_text,
    word_label,
)
from ..triage import STATES

TEXT_SHOWN = 100_000  # characters of a report's text on its page; `sealview show` prints it all


def category_name(name: str | None, slug: str = "") -> str:
    """A category in the officer's language, when the desk's signed bundles said how (i18n.category)."""
    if "category_names" not in g:
        from . import vault

        v = vault()
        with v.lock:
            g.category_names = v.category_names
    return i18n.category(g.category_names, name, slug)


def place_name(name: str | None) -> str:
    """A desk's landmark (its signed bundles name each in several languages) in the officer's."""
    if "place_names" not in g:
        from . import vault

        v = vault()
        with v.lock:
            rows = v.db.execute("SELECT name, names FROM places").fetchall()
        g.place_names = {}
        for shown, names in rows:
            try:
                g.place_names[shown] = json.loads(names or "{}")
            except ValueError:
                continue
    names = g.place_names.get(name or "")
    return (names.get(i18n.current()) if isinstance(names, dict) else None) or name or ""


def page_url(endpoint: str, filters, **changes) -> str:
    return url_for(endpoint, **filters.args(**changes))


def init(app: Flask) -> None:
    app.jinja_env.globals.update(
        STATES=STATES,
        STATE_LABELS=STATE_LABELS,
        TEXT_SHOWN=TEXT_SHOWN,
        page_url=page_url,
        csrf=lambda: getattr(g, "csrf", ""),
        current=lambda: request.endpoint,
    )
    app.jinja_env.filters.update(
        size=human_size,
        where=where_text,
        state=state_label,
        action=action_label,
        actor=actor_text,
        event=event_text,
        detail=detail_text,
        word=word_label,
        when=i18n.when,
        day=i18n.day,
        tr=stored_text,  # the vault's English sentences; stored_text falls back to the catalogue
        category=category_name,
        place=place_name,
    )
