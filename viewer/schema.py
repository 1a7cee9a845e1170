"""The vault's two SQLite databases (docs/viewer.md, "The vault").

`main` holds what the bundles brought: cases, the decrypted report documents, attachments (pointers to
the envelopes kept as they arrived) and the full-text index. It changes only when a bundle is imported.
`state` holds what the officer does: triage, notes, history, replies, forwards, the bundle chains and
the officer's own keys. It changes with every click, and is small, so saving it is cheap.

Both live in memory while the vault is unlocked and reach the disk only serialized and sealed.
"""

from __future__ import annotations

import sqlite3

from . import actors

SCHEMA_VERSION = 3  # 2: police recipients kept on purpose (state.police.added_at); 3: forwards.by_fingerprint

REPORTS = """
CREATE TABLE cases (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,          -- the public case number (from the signed manifest)
    desk TEXT NOT NULL,
    reply_public TEXT,                    -- hex: replies are sealed to it
    reply_warning TEXT,                   -- set when the server's reply key differs from the report's
    received_day TEXT NOT NULL,           -- first submission
    latest_day TEXT NOT NULL,
    submissions INTEGER NOT NULL DEFAULT 0,
    category_slug TEXT NOT NULL DEFAULT '',
    category_name TEXT NOT NULL DEFAULT '',
    excerpt TEXT NOT NULL DEFAULT '',
    photos INTEGER NOT NULL DEFAULT 0,
    media INTEGER NOT NULL DEFAULT 0,     -- video and audio
    lat REAL, lon REAL, precision TEXT,   -- the first position any of its reports gave
    place TEXT NOT NULL DEFAULT '',       -- a landmark or a typed place
    readable INTEGER NOT NULL DEFAULT 0   -- at least one report opened with this officer's key
);
CREATE INDEX cases_by_day ON cases (received_day DESC, id DESC);
CREATE INDEX cases_by_category ON cases (category_slug);
CREATE INDEX cases_by_lat ON cases (lat);

CREATE TABLE reports (
    id INTEGER PRIMARY KEY,
    case_id INTEGER NOT NULL REFERENCES cases (id),
    submission INTEGER NOT NULL,
    desk TEXT NOT NULL,
    bundle_sequence INTEGER NOT NULL,
    first INTEGER NOT NULL,
    sealed_by TEXT NOT NULL,
    received_day TEXT NOT NULL,
    opened INTEGER NOT NULL,              -- 0: not sealed to this officer, or damaged (see problem)
    problem TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT '',
    language TEXT NOT NULL DEFAULT '',
    category_slug TEXT NOT NULL DEFAULT '',
    category_name TEXT NOT NULL DEFAULT '',
    what TEXT NOT NULL DEFAULT '',
    when_text TEXT NOT NULL DEFAULT '',
    where_json TEXT NOT NULL DEFAULT '{"mode": "none"}',
    contact TEXT NOT NULL DEFAULT '',
    warnings TEXT NOT NULL DEFAULT '[]',  -- JSON list of sentences
    raw TEXT                              -- the document as it arrived (UTF-8, errors replaced)
);
CREATE INDEX reports_by_case ON reports (case_id, id);

CREATE TABLE attachments (
    id INTEGER PRIMARY KEY,
    report_id INTEGER NOT NULL REFERENCES reports (id),
    case_id INTEGER NOT NULL REFERENCES cases (id),
    position INTEGER NOT NULL,            -- 1.. as in the submission
    name TEXT NOT NULL DEFAULT '',
    claimed_type TEXT NOT NULL DEFAULT '',
    family TEXT NOT NULL DEFAULT 'other', -- image, video, audio, other: from the bytes, not the claim
    mime TEXT NOT NULL DEFAULT 'application/octet-stream',
    size INTEGER,                         -- of the plaintext
    metadata TEXT NOT NULL DEFAULT 'unknown',
    listed_sha256_ok INTEGER,             -- plaintext matches what the report lists (NULL: not listed)
    file TEXT,                            -- the envelope's SHA-256: its name under files/
    cipher_size INTEGER,
    opened INTEGER NOT NULL,
    problem TEXT NOT NULL DEFAULT ''
);
CREATE INDEX attachments_by_report ON attachments (report_id, position);
CREATE INDEX attachments_by_case ON attachments (case_id);

CREATE TABLE imports (
    desk TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_day TEXT,
    imported_at TEXT NOT NULL,
    items INTEGER NOT NULL,
    PRIMARY KEY (desk, sequence)
);

CREATE TABLE places (                 -- the desk's named places, from the signed export manifest
    desk TEXT NOT NULL,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,                   -- the English name, else the first one given
    names TEXT NOT NULL,                  -- JSON {language: name}
    lat REAL NOT NULL, lon REAL NOT NULL,
    PRIMARY KEY (desk, position)
);

CREATE VIRTUAL TABLE search USING fts5 (
    body, content='', tokenize='unicode61 remove_diacritics 2'
);

CREATE TABLE map_images (             -- map sheets' pictures as re-encoded here (viewer/mapsheet.py)
    sha256 TEXT PRIMARY KEY,              -- of the picture as the server sent it
    png BLOB NOT NULL                     -- written by Pillow here: the only bytes ever drawn on
);
CREATE TABLE map_sheets (             -- the desk's map sheets, from its latest signed bundle that had them
    desk TEXT NOT NULL,
    id TEXT NOT NULL,
    position INTEGER NOT NULL,
    names TEXT NOT NULL,                  -- JSON {language: name}
    south REAL NOT NULL, west REAL NOT NULL, north REAL NOT NULL, east REAL NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL,
    sha256 TEXT NOT NULL,                 -- its picture in map_images
    attribution TEXT NOT NULL, licence TEXT NOT NULL,
    detail_of TEXT,
    PRIMARY KEY (desk, id)
);
"""

STATE = """
CREATE TABLE state.meta (key TEXT PRIMARY KEY, value);
CREATE TABLE state.desks (
    slug TEXT PRIMARY KEY,
    last_sequence INTEGER NOT NULL DEFAULT 0,   -- export bundles accepted
    last_sha256 TEXT,
    reply_sequence INTEGER NOT NULL DEFAULT 0,  -- reply bundles written
    reply_sha256 TEXT
);
CREATE TABLE state.triage (
    case_number TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    duplicate_of TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX state.triage_by_state ON triage (state);
CREATE TABLE state.notes (
    id INTEGER PRIMARY KEY, case_number TEXT NOT NULL, at TEXT NOT NULL, actor TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX state.notes_by_case ON notes (case_number);
CREATE TABLE state.history (
    id INTEGER PRIMARY KEY, case_number TEXT, at TEXT NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX state.history_by_case ON history (case_number, id);
CREATE TABLE state.replies (
    id INTEGER PRIMARY KEY, case_number TEXT NOT NULL, desk TEXT NOT NULL, at TEXT NOT NULL,
    day TEXT NOT NULL, actor TEXT NOT NULL, text TEXT NOT NULL, status TEXT,
    bundle_sequence INTEGER                     -- NULL until written into a reply bundle
);
CREATE INDEX state.replies_by_case ON replies (case_number);
CREATE TABLE state.confirmations (
    desk TEXT NOT NULL, sequence INTEGER NOT NULL, sha256 TEXT NOT NULL,
    reply_sequence INTEGER,                     -- the reply bundle that carried it
    PRIMARY KEY (desk, sequence)
);
CREATE TABLE state.forwards (
    id INTEGER PRIMARY KEY, case_number TEXT NOT NULL, at TEXT NOT NULL, actor TEXT NOT NULL,
    recipient TEXT NOT NULL, fingerprint TEXT NOT NULL, public_key TEXT NOT NULL, file TEXT,
    by_fingerprint TEXT     -- whose forwarding (this officer's key or a colleague's); `actor` has the name
);                          -- they had then, so a forwarding is matched to an officer by this
CREATE INDEX state.forwards_by_case ON forwards (case_number);
CREATE TABLE state.police (                  -- police recipients: added by the officer, or used once
    fingerprint TEXT PRIMARY KEY, name TEXT NOT NULL, public_key TEXT NOT NULL,
    added_at TEXT                               -- NULL: only remembered from a forwarding
);
"""


UPGRADES = [
    # vaults made before export bundles carried the desk's places
    REPORTS[REPORTS.index("CREATE TABLE places") : REPORTS.index("CREATE VIRTUAL TABLE search")].replace(
        "CREATE TABLE places", "CREATE TABLE IF NOT EXISTS places"
    ),
    # vaults made before export bundles carried map sheets
    REPORTS[
        REPORTS.index("CREATE TABLE map_images") : REPORTS.index("PRIMARY KEY (desk, id)\n);") + 25
    ].replace("CREATE TABLE ", "CREATE TABLE IF NOT EXISTS "),
]


def upgrade(db: sqlite3.Connection) -> None:
    """Bring a vault's databases, just loaded, up to this version's tables (in memory; saved with the
    next change)."""
    for script in UPGRADES:
        db.executescript(script)
    # Version 2: the officer keeps a list of police recipients. Older vaults have the table (filled by
    # forwarding) without the day a recipient was added; ALTER cannot say IF NOT EXISTS, so look first.
    columns = {row[1] for row in db.execute("PRAGMA state.table_info(police)")}
    if "added_at" not in columns:
        db.execute("ALTER TABLE state.police ADD COLUMN added_at TEXT")
    _forwards_by_fingerprint(db)
    db.execute(
        "UPDATE state.meta SET value = ? WHERE key = 'schema' AND value < ?", (SCHEMA_VERSION, SCHEMA_VERSION)
    )


def _forwards_by_fingerprint(db: sqlite3.Connection) -> None:
    """Version 3: who forwarded a case is kept as their key's fingerprint, not only in the "Name
    (fingerprint)" text, which keeps the name they had then. Older vaults' forwardings have it read back
    from that text."""
    columns = {row[1] for row in db.execute("PRAGMA state.table_info(forwards)")}
    if "by_fingerprint" not in columns:
        db.execute("ALTER TABLE state.forwards ADD COLUMN by_fingerprint TEXT")
    rows = db.execute("SELECT id, actor FROM state.forwards WHERE by_fingerprint IS NULL").fetchall()
    db.executemany(
        "UPDATE state.forwards SET by_fingerprint = ? WHERE id = ?",
        [(actors.fingerprint_of(actor), row_id) for row_id, actor in rows],
    )


def create(db: sqlite3.Connection) -> None:
    """Make both databases in an empty connection that has `state` attached."""
    db.executescript(REPORTS)
    db.executescript(STATE)
    db.execute("INSERT INTO state.meta (key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))
