"""What the screens and `list`/`show` read from an unlocked vault: the inbox, a case, the dashboard and
the hotspots. Read-only; every function takes the vault and returns plain data."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

from . import colleagues, geo
from .triage import STATES, case_row, state_of
from .vault import Vault

PER_PAGE = 50
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Filters:
    q: str = ""
    desk: str = ""
    category: str = ""
    status: str = ""
    since: str = ""
    until: str = ""
    photos: str = ""  # "yes", "no" or "" for either
    near: str = ""  # "lat,lon"
    radius: int = 0  # metres around `near`
    page: int = 1

    @classmethod
    def parse(cls, args: Mapping[str, str]) -> tuple[Filters, list[str]]:
        """Filters from a query string; what does not parse is dropped and named in the errors."""
        errors: list[str] = []
        get = lambda k, n=200: str(args.get(k, "") or "").strip()[:n]  # noqa: E731
        status = get("status", 20)
        if status and status not in STATES:
            errors.append(f"unknown status {status!r}")
            status = ""
        days = {}
        for k in ("since", "until"):
            days[k] = get(k, 10)
            if days[k] and not (_DAY.match(days[k]) and _is_day(days[k])):
                errors.append(f"{k}: a date is written YYYY-MM-DD")
                days[k] = ""
        photos = get("photos", 3) if get("photos", 3) in ("yes", "no") else ""
        near, radius = get("near", 60), 0
        if near:
            try:
                lat, lon = (float(x) for x in near.split(","))
                radius = min(max(int(get("radius", 8) or 250), 10), 50_000)
                if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                    raise ValueError
                near = f"{lat:.5f},{lon:.5f}"
            except ValueError:
                errors.append("near: give latitude,longitude and a radius in metres")
                near, radius = "", 0
        try:
            page = max(1, min(int(get("page", 7) or 1), 1_000_000))
        except ValueError:
            page = 1
        f = cls(
            get("q"),
            get("desk", 40),
            get("category", 40),
            status,
            days["since"],
            days["until"],
            photos,
            near,
            radius,
            page,
        )
        return f, errors

    def args(self, **changes) -> dict[str, str]:
        """The query string for a link: these filters with `changes`, empty ones left out."""
        data = asdict(replace(self, **changes))
        return {k: str(v) for k, v in data.items() if v and not (k == "page" and v == 1)}

    @property
    def active(self) -> bool:
        return any(v for k, v in asdict(self).items() if k != "page")


def _is_day(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def fts_query(q: str) -> str | None:
    """The officer's words as an FTS5 query: every word must occur (as a prefix); no FTS syntax."""
    words = [w for w in re.split(r"\W+", q) if w][:20]
    return " ".join('"' + w.replace('"', '""') + '"*' for w in words) or None


def _search(vault: Vault, match: str) -> None:
    """The cases whose reports match, into the connection's temp table `hits` (kept for the next page
    of the same search, until the reports or the connection change). Memory only, never serialized."""
    key = (id(vault.db), vault.head.get("reports", {}).get("file"), match)
    if vault.search_key == key:
        return
    db = vault.db
    db.execute("CREATE TEMP TABLE IF NOT EXISTS hits (id INTEGER PRIMARY KEY)")
    db.execute("DELETE FROM temp.hits")
    db.execute(
        "INSERT OR IGNORE INTO temp.hits SELECT case_id FROM reports WHERE id IN"
        " (SELECT rowid FROM search WHERE search MATCH ?)",
        (match,),
    )
    vault.search_key = key


def _where(vault: Vault, f: Filters) -> tuple[str, list, bool]:
    """SQL conditions for `f`, their parameters, and whether they need the triage table."""
    conds, params, triage = [], [], False
    if f.q and (match := fts_query(f.q)):
        _search(vault, match)
        conds.append("c.id IN (SELECT id FROM temp.hits)")
    for column, value in (("c.desk", f.desk), ("c.category_slug", f.category)):
        if value:
            conds.append(f"{column} = ?")
            params.append(value)
    if f.status:
        triage = True
        conds.append("(t.state IS NULL OR t.state = 'new')" if f.status == "new" else "t.state = ?")
        params += [] if f.status == "new" else [f.status]
    if f.since:
        conds.append("c.latest_day >= ?")
        params.append(f.since)
    if f.until:
        conds.append("c.received_day <= ?")
        params.append(f.until)
    if f.photos:
        conds.append("c.photos > 0" if f.photos == "yes" else "c.photos = 0")
    if f.near:
        lat, lon = (float(x) for x in f.near.split(","))
        la1, la2, lo1, lo2 = geo.bbox(lat, lon, f.radius)
        conds.append(
            "c.lat BETWEEN ? AND ? AND c.lon BETWEEN ? AND ? AND distance_m(c.lat, c.lon, ?, ?) <= ?"
        )
        params += [la1, la2, lo1, lo2, lat, lon, f.radius]
    return (" WHERE " + " AND ".join(conds)) if conds else "", params, triage


_JOIN = " LEFT JOIN state.triage t ON t.case_number = c.number"
_COLUMNS = (
    "SELECT c.number, c.desk, c.received_day, c.latest_day, c.category_name, c.category_slug, c.excerpt,"
    " c.photos, c.media, c.submissions, c.place, c.readable,"
    " (SELECT state FROM state.triage WHERE case_number = c.number) AS state"
)


@dataclass
class Inbox:
    rows: list[dict]
    total: int
    page: int
    pages: int


def inbox(vault: Vault, f: Filters, per_page: int = PER_PAGE) -> Inbox:
    with vault.lock:
        where, params, triage = _where(vault, f)
        join = _JOIN if triage else ""
        total = vault.db.execute(f"SELECT count(*) FROM cases c{join}{where}", params).fetchone()[0]  # noqa: S608
        pages = max(1, math.ceil(total / per_page))
        page = min(f.page, pages)
        # `join` and `where` are made of fixed fragments; every value is a parameter.
        sql = f"{_COLUMNS} FROM cases c{join}{where} ORDER BY c.received_day DESC, c.id DESC LIMIT ? OFFSET ?"
        rows = vault.db.execute(sql, [*params, per_page, (page - 1) * per_page]).fetchall()
    return Inbox([{**dict(r), "state": r["state"] or "new"} for r in rows], total, page, pages)


@dataclass
class Position:
    """Where a case stands in the inbox's order under some filters: the cases before and after it (by
    number), its place (1-based; None when the filters no longer take it in, say just after its state
    changed) and how many cases the filters take in."""

    index: int | None
    total: int
    previous: str | None
    next: str | None

    @property
    def page(self) -> int:
        """The inbox page that shows this case (or where it would be)."""
        return (self.index - 1) // PER_PAGE + 1 if self.index else 1


def position(vault: Vault, f: Filters, number: str) -> Position:
    """The case's neighbours in the inbox order (newest first) under `f`. They are found from the case's
    own place in the order, so "next" still works when the case has just left the filter."""
    with vault.lock:
        here = vault.db.execute(
            "SELECT received_day, id FROM cases WHERE number = ?", (str(number).strip().upper(),)
        ).fetchone()
        if here is None:
            return Position(None, 0, None, None)
        where, params, triage = _where(vault, replace(f, page=1))
        # Made of fixed fragments (see _where); every value is a parameter.
        base = f"FROM cases c{_JOIN if triage else ''}{where}{' AND' if where else ' WHERE'}"
        key = (here["received_day"], here["id"])

        def one(sql: str, *more) -> tuple | None:
            return vault.db.execute(sql, [*params, *more]).fetchone()

        before = one(f"SELECT count(*) {base} (c.received_day, c.id) > (?, ?)", *key)[0]
        after = one(f"SELECT count(*) {base} (c.received_day, c.id) < (?, ?)", *key)[0]
        inside = one(f"SELECT count(*) {base} c.id = ?", here["id"])[0]
        order = "ORDER BY c.received_day {0}, c.id {0} LIMIT 1"
        previous = one(f"SELECT c.number {base} (c.received_day, c.id) > (?, ?) {order.format('ASC')}", *key)
        following = one(
            f"SELECT c.number {base} (c.received_day, c.id) < (?, ?) {order.format('DESC')}", *key
        )
    return Position(
        before + 1 if inside else None,
        before + inside + after,
        previous[0] if previous else None,
        following[0] if following else None,
    )


def numbers(vault: Vault, f: Filters, limit: int = 10_000) -> list[str]:
    """Every case number the filters take in, in the inbox order (for "all N in this filter")."""
    with vault.lock:
        where, params, triage = _where(vault, f)
        sql = f"SELECT c.number FROM cases c{_JOIN if triage else ''}{where}"  # noqa: S608
        rows = vault.db.execute(f"{sql} ORDER BY c.received_day DESC, c.id DESC LIMIT ?", [*params, limit])
        return [r[0] for r in rows]


_choices_cache: dict[tuple, tuple] = {}


def choices(vault: Vault) -> dict[str, list]:
    """The desks and categories present, for the filter form (cached until the next import)."""
    key = (vault.head.get("vault"), vault.head.get("reports", {}).get("file", ""))
    if key not in _choices_cache:
        with vault.lock:
            categories = vault.db.execute(
                "SELECT category_slug, max(category_name), count(*) FROM cases WHERE category_slug != ''"
                " GROUP BY category_slug ORDER BY 2"
            ).fetchall()
            desks = [r[0] for r in vault.db.execute("SELECT DISTINCT desk FROM cases ORDER BY desk")]
        _choices_cache.clear()
        _choices_cache[key] = ([tuple(r) for r in categories], desks)
    categories, desks = _choices_cache[key]
    return {"categories": categories, "desks": sorted(set(desks) | set(vault.desks)), "states": list(STATES)}


def case(vault: Vault, number: str) -> dict:
    """Everything about one case, for the case page, `show` and the case file."""
    with vault.lock:
        c = case_row(vault, number)
        number = c["number"]
        db = vault.db
        reports = []
        for r in db.execute("SELECT * FROM reports WHERE case_id = ? ORDER BY id", (c["id"],)):
            atts = [
                dict(a)
                for a in db.execute(
                    "SELECT * FROM attachments WHERE report_id = ? ORDER BY position", (r["id"],)
                )
            ]
            reports.append(
                {
                    **dict(r),
                    "where": json.loads(r["where_json"]),
                    "warnings": json.loads(r["warnings"]),
                    "attachments": atts,
                }
            )
        state, duplicate_of = state_of(vault, number)
        fetch = lambda sql: [dict(x) for x in db.execute(sql, (number,))]  # noqa: E731
        data = {
            "case": dict(c),
            "state": state,
            "duplicate_of": duplicate_of,
            "duplicates": [
                x["case_number"]
                for x in fetch(
                    "SELECT case_number FROM state.triage WHERE duplicate_of = ? ORDER BY case_number"
                )
            ],
            "reports": reports,
            "notes": fetch("SELECT at, actor, text FROM state.notes WHERE case_number = ? ORDER BY id"),
            "history": fetch(
                "SELECT at, actor, action, detail FROM state.history WHERE case_number = ? ORDER BY id"
            ),
            "replies": fetch(
                "SELECT at, day, actor, text, status, bundle_sequence FROM state.replies"
                " WHERE case_number = ? ORDER BY id"
            ),
            "forwards": _by_name_now(
                vault,
                fetch(
                    "SELECT id, at, actor, recipient, fingerprint, file, by_fingerprint FROM state.forwards"
                    " WHERE case_number = ? ORDER BY id"
                ),
            ),
        }
        data["nearby"] = nearby(vault, c)
    return data


def _by_name_now(vault: Vault, forwards: list[dict]) -> list[dict]:
    """A colleague's forwardings under the name they are kept under now: the recorded "Name
    (fingerprint)" keeps the name they had then, and they may have been kept again under another."""
    actors_now = {c.fingerprint: c.actor for c in colleagues.listed(vault)}
    for f in forwards:
        if f["by_fingerprint"] in actors_now:
            f["actor"] = actors_now[f["by_fingerprint"]]
    return forwards


def nearby(vault: Vault, c, radius_m: float = 1000, limit: int = 10) -> list[dict]:
    if c["lat"] is None:
        return []
    la1, la2, lo1, lo2 = geo.bbox(c["lat"], c["lon"], radius_m)
    rows = vault.db.execute(
        "SELECT number, received_day, category_name, place, distance_m(lat, lon, ?, ?) AS d FROM cases"
        " WHERE lat BETWEEN ? AND ? AND lon BETWEEN ? AND ? AND id != ? AND d <= ? ORDER BY d LIMIT ?",
        (c["lat"], c["lon"], la1, la2, lo1, lo2, c["id"], radius_m, limit),
    ).fetchall()
    return [{**dict(r), "distance": geo.human_distance(r["d"])} for r in rows]


def dashboard(vault: Vault) -> dict:
    with vault.lock:
        db = vault.db
        categories = db.execute(
            "SELECT CASE WHEN category_name = '' THEN '(unknown)' ELSE max(category_name) END, count(*)"
            " FROM cases GROUP BY category_slug ORDER BY 2 DESC, 1"
        ).fetchall()
        states = dict(
            db.execute(
                "SELECT COALESCE(t.state, 'new'), count(*) FROM cases c"
                " LEFT JOIN state.triage t ON t.case_number = c.number GROUP BY 1"
            ).fetchall()
        )
        days = db.execute("SELECT received_day, count(*) FROM cases GROUP BY received_day").fetchall()
        forwarded = [
            dict(r)
            for r in db.execute(
                "SELECT f.case_number, f.at, f.recipient, f.fingerprint, c.category_name,"
                " COALESCE(t.state, 'new') AS state,"
                " (SELECT action || ': ' || detail FROM state.history h WHERE h.case_number = f.case_number"
                "  AND h.id > (SELECT min(id) FROM state.history WHERE case_number = f.case_number"
                "  AND action = 'forwarded') ORDER BY h.id DESC LIMIT 1) AS since"
                " FROM state.forwards f JOIN cases c ON c.number = f.case_number"
                " LEFT JOIN state.triage t ON t.case_number = f.case_number ORDER BY f.id DESC"
            )
        ]
    weeks: dict[str, int] = {}
    for day, n in days:
        try:
            y, w, _ = dt.date.fromisoformat(day).isocalendar()
        except ValueError:
            continue
        weeks[f"{y}-W{w:02d}"] = weeks.get(f"{y}-W{w:02d}", 0) + n
    return {
        "categories": [tuple(r) for r in categories],
        "states": [(s, states.get(s, 0)) for s in STATES],
        "weeks": sorted(weeks.items())[-26:],
        "forwarded": forwarded,
        "total": sum(states.values()),
    }


def hotspots(vault: Vault, f: Filters, cell_m: float = 100) -> dict:
    with vault.lock:
        where, params, triage = _where(vault, replace(f, near="", radius=0))
        cond = (where + " AND" if where else " WHERE") + " c.lat IS NOT NULL"
        sql = f"SELECT c.lat, c.lon, c.number FROM cases c{_JOIN if triage else ''}{cond}"  # noqa: S608
        points = vault.db.execute(sql, params).fetchall()
        # Landmarks are the desks' own named places, from their signed bundles: never a place named
        # inside a report, which anyone can write.
        landmarks = vault.db.execute(
            "SELECT name, lat, lon FROM places WHERE ? = '' OR desk = ? ORDER BY desk, position LIMIT 200",
            (f.desk, f.desk),
        ).fetchall()
        typed = vault.db.execute(
            "SELECT lower(trim(json_extract(where_json, '$.text'))) AS t, count(DISTINCT case_id) AS n"
            " FROM reports WHERE json_extract(where_json, '$.mode') = 'typed' AND t != ''"
            " GROUP BY t HAVING n > 1 ORDER BY n DESC, t LIMIT 50"
        ).fetchall()
    marks = [(str(n), float(la), float(lo)) for n, la, lo in landmarks]
    found = geo.clusters([tuple(p) for p in points], cell_m)
    for c in found[:200]:
        geo.nearest_landmark(c, marks)
    return {
        "plot": geo.plot(found[:2000], marks),
        "clusters": [c for c in found if c.count > 1][:50],
        "located": len(points),
        "cell_m": cell_m,
        "typed": [tuple(r) for r in typed],
    }
