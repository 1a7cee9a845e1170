"""What the report page shows of a desk, and the keys a report to it is sealed to, kept per process
instead of read anew for every visitor and every report: the desk's names, its categories (names, where
each routes to, their recipient keys parsed), its places.

GET /r/<desk> is the busiest page (every poster scan), and read fresh it cost 17 statements, most of
them lazy loads of each category's officers; a no-JS report read the desk, its categories and their
officers again to seal. From this cache each costs one tiny statement (`current_version`). The page
is also rendered once per entry and language (`PageCache.html`): each request only puts its own form
tokens and first proof of work into it (`fill`), 0.5 ms of CPU here instead of 6.5 (Jinja and 200
translated strings). The no-JS receipt page is kept the same way (`RECEIPT_MARKERS`, `fill_plain`).

When an entry goes stale: the database keeps a number, `config_version`, that its own triggers move in
the same transaction as any change to a table the page shows or the keys depend on (`WATCHED_TABLES`,
migration 0012): whoever makes the change (a desk admin page, the CLI, another worker or instance, a
hand-written UPDATE). Every request reads the number before anything else and uses an entry only if it
was built under the same number, read before the rows it holds. So a key retired or unconfirmed a moment
ago is never sealed to, by this process or any other, exactly as if the keys were read fresh: the no-JS
path seals with `CategoryView.sealing_keys()` of the entry this request checked. Entries also end after
`page_cache_s` seconds (config extra; 0 turns the cache off), which only bounds memory held for desks
nobody visits. A browser that loaded the page before a key changed seals to the old keys, and the server
refuses that report ("wrong_recipients") without filing it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from crypto import RecipientKey

from . import intake
from .models import Desk

TTL_S = 60.0
# Tables whose rows the page shows or its keys depend on: each moves config_version (migration 0012).
WATCHED_TABLES = frozenset(
    {"desks", "categories", "places", "officers", "category_officers", "key_changes", "map_sheets"}
)
_VERSION_SQL = "SELECT version FROM config_version WHERE id = 1"


def current_version(session: Session) -> int:
    """The database's config_version now: one statement, sent as it is (nothing to compile)."""
    return session.connection().exec_driver_sql(_VERSION_SQL).scalar_one()


@dataclass(frozen=True)
class DeskRef:
    """What filing needs of the desk a category routes to: its row id and slug."""

    id: int
    slug: str


@dataclass(frozen=True)
class CategoryView:
    id: int
    slug: str
    names: dict
    target_desk: DeskRef  # the desk a report in this category is filed with (Category.target_desk)
    recipients: tuple[RecipientKey, ...]  # the keys a report is sealed to; () if nobody reads it yet

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names.get("en") or self.slug

    @property
    def target_slug(self) -> str:
        return self.target_desk.slug

    @property
    def keys(self) -> tuple[str, ...]:
        """The recipient public keys (hex), as the browser seals to them."""
        return tuple(k.public_bytes.hex() for k in self.recipients)

    def sealing_keys(self) -> list[RecipientKey]:
        """The keys a report in this category is sealed to (as intake.recipients); IntakeError if none."""
        if not self.recipients:
            raise intake.IntakeError("no_recipients")
        return list(self.recipients)


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
        return any(c.recipients for c in self.categories)


@dataclass(frozen=True)
class _Entry:
    page: DeskPage | None  # None: no such desk (kept too: a flood of unknown slugs costs nothing)
    made: float
    version: int  # config_version read before the rows it holds
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
    """Desk pages by slug, each used while the database's config_version is the one it was built under
    (checked on every `get`) and for at most `ttl` seconds; `ttl` 0 turns the cache off."""

    def __init__(self, ttl: float = TTL_S, max_entries: int = 1000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, _Entry] = {}

    def get(self, session: Session, slug: str) -> DeskPage | None:
        # The number is read before the rows: a change committed meanwhile leaves this entry stale.
        version = current_version(session)
        entry = self._entries.get(slug)
        if entry is None or entry.version != version or time.monotonic() - entry.made >= self.ttl:
            entry = _Entry(load(session, slug), time.monotonic(), version)
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # unknown slugs cannot grow it without bound
            self._entries[slug] = entry  # one dict store: atomic under the GIL, no lock needed
        return entry.page

    def clear(self) -> None:
        """Forget every entry (tests measuring a cold page)."""
        self._entries.clear()

    def html(
        self,
        page: DeskPage,
        language: str,
        render: Callable[[dict[str, str]], str],
        markers: dict[str, str] = MARKERS,
        kind: str = "report",
    ) -> str:
        """The `kind` page of `page` ("report", "receipt") in `language`, rendered by `render(markers)`
        once for as long as `page` is the cached entry."""
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
        CategoryView(c.id, c.slug, dict(c.names), DeskRef(c.target_desk.id, c.target_desk.slug), _keys(c))
        for c in desk.categories
    )
    places = tuple(PlaceView(p.id, dict(p.names), p.lat, p.lon) for p in desk.places)
    return DeskPage(desk.id, desk.slug, dict(desk.names), desk.default_language, categories, places)


def _keys(category) -> tuple[RecipientKey, ...]:
    try:
        return tuple(intake.recipients(category))
    except intake.IntakeError:  # a category with no confirmed officer cannot take reports yet
        return ()


def for_app(app: Flask) -> PageCache:
    """The app's cache (made on first use)."""
    cache = app.extensions.get("sealdrop.pagecache")
    if cache is None:
        ttl = float(app.config["SEALDROP"].extra.get("page_cache_s", TTL_S))
        cache = app.extensions.setdefault("sealdrop.pagecache", PageCache(ttl))
    return cache
