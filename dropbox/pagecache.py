"""What the report page shows of a desk, kept per process for a few seconds instead of read anew for
every visitor: the desk's names, its categories (names, where each routes to), its places, and the
recipient keys the browser seals to.

GET /r/<desk> is the busiest page (every poster scan), and read fresh it cost 17 statements, most of
them lazy loads of each category's officers. From this cache it costs none while the entry is fresh
(dropbox/maps.py reads the desk's map sheets itself, one statement). The page is also rendered once per
entry and language (`PageCache.html`): each request only puts its own form tokens and first proof of
work into it (`fill`), 0.5 ms of CPU here instead of 6.5 (Jinja and 200 translated strings). The no-JS
receipt page is kept the same way (`RECEIPT_MARKERS`, `fill_plain`): 0.08 ms a report instead of 0.64.

When an entry goes stale:
- after TTL_S seconds, always (another process changed something: the CLI, another `--workers` worker);
- at once in this process, when a session of this process commits a change to any table the page
  shows (`WATCHED_TABLES`): the desk admin pages and the CLI's commands `bump` it on commit.

Sealing never reads this cache. The keys the no-JS path seals to, and the keys a browser-sealed upload
is checked against before it is filed, are read fresh in that request (`intake.recipients`, the one
function both paths seal or check with): a key retired or unconfirmed a moment ago is never sealed
to, by either path. At worst a browser that loaded the page within TTL_S before a key changed
seals to the old keys, and the server refuses that report ("wrong_recipients") without filing it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask
from sqlalchemy import event, select
from sqlalchemy.orm import Session, selectinload

from . import intake
from .models import Desk

TTL_S = 5.0
# Tables whose rows the page shows or its keys depend on; a commit touching one of them bumps the
# generation. Names of tables other sessions may add (key changes, map sheets) are harmless if absent.
WATCHED_TABLES = frozenset(
    {"desks", "categories", "places", "officers", "category_officers", "key_changes", "map_sheets"}
)

_generation = 0
_generation_lock = threading.Lock()


def bump() -> None:
    """Make every cached page of this process stale (called on commit; callable by hand too)."""
    global _generation
    with _generation_lock:
        _generation += 1


def _touches_watched(session: Session) -> bool:
    for obj in (*session.new, *session.dirty, *session.deleted):
        table = getattr(type(obj), "__table__", None)
        if table is not None and table.name in WATCHED_TABLES:
            return True
    return False


@event.listens_for(Session, "after_flush")
def _note_change(session: Session, _context: object) -> None:
    # The lists still hold what was flushed here. Bumped on commit, not now: a page built between
    # this flush and the commit would read the old rows and keep them under the new generation.
    if _touches_watched(session):
        session.info["pagecache_changed"] = True


@event.listens_for(Session, "after_commit")
def _bump_on_commit(session: Session) -> None:
    if session.info.pop("pagecache_changed", False):
        bump()


@event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session: Session) -> None:
    session.info.pop("pagecache_changed", None)


@dataclass(frozen=True)
class CategoryView:
    id: int
    slug: str
    names: dict
    target_slug: str  # the desk a report in this category is filed with (Category.target_desk)
    keys: tuple[str, ...]  # recipient public keys (hex) the browser seals to; () if nobody reads it

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names.get("en") or self.slug


@dataclass(frozen=True)
class PlaceView:
    id: int
    names: dict
    lat: float | None
    lon: float | None

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names.get("en") or next(iter(self.names.values()), "")


@dataclass(frozen=True)
class DeskPage:
    """A desk as the report page shows it: read-only, shared by every request of the process."""

    id: int
    slug: str
    names: dict
    default_language: str
    categories: tuple[CategoryView, ...]
    places: tuple[PlaceView, ...]

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names.get(self.default_language) or self.slug

    def keys(self) -> dict[str, list[str]]:
        """Category id -> recipient keys (hex), the categories that take reports only."""
        return {str(c.id): list(c.keys) for c in self.categories if c.keys}

    @property
    def open_for_reports(self) -> bool:
        """Some category has a confirmed key to seal to (docs/keys.md)."""
        return any(c.keys for c in self.categories)


@dataclass(frozen=True)
class _Entry:
    page: DeskPage | None  # None: no such desk (kept too: a flood of unknown slugs costs nothing)
    made: float
    generation: int
    html: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, language) -> page with stand-ins


# Stand-ins for what differs on every request (the form tokens and the first proof of work) in a report
# page rendered once per cache entry and language; random per process. The tokens are URL-safe base64,
# the same text in HTML, in JSON and bare; the challenge is a JSON object put in place of its string.
MARKERS = {name: f"sealdrop-{name}-{secrets.token_hex(8)}" for name in ("csrf", "api_csrf", "challenge")}
# The same for the no-JS receipt page (reporter._receipt_page): the receipt, the case number, and the
# receipt forms' token and sealed receipt, all plain text of the token alphabet (`fill_plain` checks).
RECEIPT_MARKERS = {
    name: f"sealdrop-{name}-{secrets.token_hex(8)}"
    for name in ("receipt", "case_number", "receipt_csrf", "receipt_sealed")
}


def _token_text(value: str) -> bool:
    """Whether `value` is of the alphabets tokens, receipts and case numbers use: the same text in
    HTML, in JSON and bare, so it can stand where a stand-in was rendered without escaping."""
    return value.replace("-", "").replace("_", "").replace(".", "").replace("=", "").isalnum()


def fill(html: str, csrf: str, api_csrf: str, challenge_json: str) -> str | None:
    """A rendered page with this request's values in place of MARKERS; None if a stand-in is left over
    (a template put one where it was escaped or cut): the caller renders the page whole instead."""
    if not (_token_text(csrf) and _token_text(api_csrf)):
        return None  # not the token alphabet: it might need escaping
    filled = (
        html.replace(MARKERS["csrf"], csrf)
        .replace(MARKERS["api_csrf"], api_csrf)
        .replace(f'"{MARKERS["challenge"]}"', challenge_json)
    )
    return None if any(marker in filled for marker in MARKERS.values()) else filled


def fill_plain(html: str, values: dict[str, str], markers: dict[str, str]) -> str | None:
    """`html` with `values[name]` in place of each `markers[name]`; None if a value is not of the token
    alphabet or a stand-in is left over (the caller renders the page whole instead)."""
    if not all(_token_text(value) and value.isascii() for value in values.values()):
        return None
    for name, value in values.items():
        html = html.replace(markers[name], value)
    return None if any(marker in html for marker in markers.values()) else html


class PageCache:
    """Desk pages by slug, each fresh for `ttl` seconds and until this process commits a change."""

    def __init__(self, ttl: float = TTL_S, max_entries: int = 1000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, _Entry] = {}

    def get(self, session: Session, slug: str) -> DeskPage | None:
        entry = self._entries.get(slug)
        if entry is None or entry.generation != _generation or time.monotonic() - entry.made > self.ttl:
            # The generation is read before the rows: a commit landing meanwhile leaves this entry stale.
            made, seen = time.monotonic(), _generation
            entry = _Entry(load(session, slug), made, seen)
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # unknown slugs cannot grow it without bound
            self._entries[slug] = entry  # one dict store: atomic under the GIL, no lock needed
        return entry.page

    def html(
        self,
        page: DeskPage,
        language: str,
        render: Callable[[dict[str, str]], str],
        markers: dict[str, str] = MARKERS,
        kind: str = "report",
    ) -> str:
        """The `kind` page of `page` ("report", "receipt") in `language`, rendered by `render(markers)`
        once for as long as `page` is the cached entry (the same staleness rules: TTL and bump)."""
        entry = self._entries.get(page.slug)
        if entry is None or entry.page is not page:  # reloaded meanwhile: this request's own rendering
            return render(markers)
        html = entry.html.get((kind, language))
        if html is None:
            html = entry.html[(kind, language)] = render(markers)
        return html


def load(session: Session, slug: str) -> DeskPage | None:
    """The desk's page read from the database: a handful of statements, none per category."""
    desk = session.scalar(
        select(Desk).where(Desk.slug == slug).options(*intake.sealing_loads(), selectinload(Desk.places))
    )
    if desk is None:
        return None
    categories = tuple(
        CategoryView(c.id, c.slug, dict(c.names), c.target_desk.slug, tuple(_keys(c)))
        for c in desk.categories
    )
    places = tuple(PlaceView(p.id, dict(p.names), p.lat, p.lon) for p in desk.places)
    return DeskPage(desk.id, desk.slug, dict(desk.names), desk.default_language, categories, places)


def _keys(category) -> list[str]:
    try:
        return [k.public_bytes.hex() for k in intake.recipients(category)]
    except intake.IntakeError:  # a category with no confirmed officer cannot take reports yet
        return []


def for_app(app: Flask) -> PageCache:
    """The app's cache (made on first use)."""
    cache = app.extensions.get("sealdrop.pagecache")
    if cache is None:
        ttl = float(app.config["SEALDROP"].extra.get("page_cache_s", TTL_S))
        cache = app.extensions.setdefault("sealdrop.pagecache", PageCache(ttl))
    return cache
