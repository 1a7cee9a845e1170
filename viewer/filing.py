"""Filing what `sealview import` read into the vault's databases (viewer/importer.py reads the bundle):
a case for each new case number, the report with the checks of what it claims against what arrived,
its attachments, the search index, the case's summary, and the bundle's record (chain, confirmations,
the desk's places, categories and key changes). Everything happens inside the import's one vault change.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field

from . import documents
from .documents import Document
from .manifest import desk_categories, desk_key_changes, desk_places, desk_recipients
from .streaming import Feed
from .vault import Vault, now

# A report sealed to a key the desk never listed: a server that was taken over could add a reader of
# its own to the page's keys and leave it off the manifest (docs/threat-model.md).
UNLISTED_RECIPIENT = (
    "This report is also sealed to a key that the desk does not list among its recipients: someone "
    "outside the desk may be able to read it. Ask the desk's operator which key it is."
)


@dataclass
class ImportResult:
    desk: str
    sequence: int
    new_cases: int = 0
    reports: int = 0
    attachments: int = 0
    not_for_us: int = 0
    damaged: int = 0
    key_warnings: list[dict] = field(default_factory=list)  # key changes no officer of the desk signed
    key_changes: int = 0  # changes to who can read the desk's reports that the bundle lists


@dataclass
class _Attachment:
    meta: dict
    opened: bool
    problem: str = ""
    size: int | None = None
    sha256: str | None = None
    head: bytes = b""
    file: str | None = None


@dataclass
class _Pending:
    """An attachment the worker is writing into the vault and opening."""

    meta: dict
    feed: Feed


@dataclass
class _Submission:
    meta: dict
    doc: Document | None = None
    opened: bool = False
    problem: str = ""
    attachments: list[_Attachment | _Pending] = field(default_factory=list)
    sealed_to: set[str] = field(default_factory=set)  # the report envelope's recipient key ids (hex)

    def ready(self) -> bool:
        return all(
            a.feed.opened.done() and a.feed.written.done()
            for a in self.attachments
            if isinstance(a, _Pending)
        )


def file_documents(vault: Vault, desk: str, items: list[tuple[dict, bytes]]) -> ImportResult:
    """File report documents that are already plaintext, as an import would file them (cases, reports,
    search, history), without a bundle or attachments. For benchmarks and tests that need many reports
    fast; `items` are (manifest-like metadata, document bytes). Sequence 0 marks them as not imported."""
    with vault.change(reports=True) as db:
        run = Filing(vault, db, None, desk=desk)
        for meta, data in items:
            run._finish(_Submission(meta, documents.parse(data), opened=True))
    return run.result


class Filing:
    """What one import (or file_documents) stores, and the database it stores it in."""

    def __init__(self, vault, db, manifest, desk: str | None = None) -> None:
        self.vault, self.db, self.manifest = vault, db, manifest
        self.keys = vault.decryption_keys  # the officer's keys before a rotation too (docs/key-trust.md)
        self._recipient_ids: set[str] | None = None
        self.desk = manifest.data["desk"] if manifest else desk
        self.sequence = manifest.sequence if manifest else 0
        self.result = ImportResult(self.desk, self.sequence)

    def _case(self, meta: dict) -> sqlite3.Row:
        db = self.db
        row = db.execute("SELECT * FROM cases WHERE number = ?", (meta["case_number"],)).fetchone()
        if row is None:
            db.execute(
                "INSERT INTO cases (number, desk, reply_public, received_day, latest_day)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    meta["case_number"],
                    self.desk,
                    meta["reply_public"],
                    meta["received_day"],
                    meta["received_day"],
                ),
            )
            self.result.new_cases += 1
            row = db.execute("SELECT * FROM cases WHERE number = ?", (meta["case_number"],)).fetchone()
        return row

    def _store_places(self, claimed: object) -> None:
        """The desk's landmarks are what its latest signed bundle says; a bundle without the field
        (from a server before it carried them) leaves them as they were."""
        if claimed is None:
            return
        self.db.execute("DELETE FROM places WHERE desk = ?", (self.desk,))
        self.db.executemany(
            "INSERT INTO places (desk, position, name, names, lat, lon) VALUES (?, ?, ?, ?, ?, ?)",
            [(self.desk, i, *p) for i, p in enumerate(desk_places(claimed))],
        )

    def _store_category_names(self, claimed: object) -> None:
        """The desk's categories named in every language, when its signed bundle carries them, so the
        officer reads them in their own (a report names its category once, in the reporter's)."""
        found = desk_categories(claimed)
        if found:
            names = self.vault.category_names
            names.update(found)
            self.vault.set_meta(self.db, "category_names", json.dumps(names, ensure_ascii=False))

    def _known_recipients(self) -> set[str] | None:
        """Every key id this desk's reports may be sealed to: the vault's own keys (also from before a
        rotation), the recipients this export and the earlier ones listed, and any key a key change
        named (a key retired since a report was sealed). Anything else in an envelope is a reader the
        desk never announced. None: the server listed none at all (an older one), nobody is unknown."""
        if self._recipient_ids is None and self.manifest is not None:
            from . import keytrust

            listed = desk_recipients(self.manifest.data.get("recipients"))
            listed += keytrust.recipients(self.vault).get(self.desk) or []
            if not listed:
                return None
            changed = desk_key_changes(self.manifest.data.get("key_changes"))
            changed += [c for c in keytrust.changes(self.vault) if c.get("desk") == self.desk]
            ids = {k.key_id.hex() for k in self.keys} | {r.get("key_id", "") for r in listed + changed}
            self._recipient_ids = ids
        return self._recipient_ids

    def _store_key_changes(self, claimed_changes: object, claimed_recipients: object) -> None:
        """Who can read the desk's reports, and what changed since the last export (docs/key-trust.md)."""
        from . import keytrust

        found = desk_key_changes(claimed_changes)
        self.result.key_changes = len(found)
        listed = None if claimed_recipients is None else desk_recipients(claimed_recipients)
        warned = keytrust.store_import(self.vault, self.db, self.desk, self.sequence, found, listed)
        self.result.key_warnings = warned

    def _finish(self, sub: _Submission) -> None:
        meta, doc = sub.meta, sub.doc or Document()
        case = self._case(meta)
        if sub.doc is None and not sub.problem:
            sub.problem = "The bundle holds no report document for this submission."
        warnings = list(doc.warnings)
        self._cross_check(sub, doc, case, warnings)
        cur = self.db.execute(
            "INSERT INTO reports (case_id, submission, desk, bundle_sequence, first, sealed_by, received_day,"
            " opened, problem, kind, language, category_slug, category_name, what, when_text, where_json,"
            " contact, warnings, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                case["id"],
                meta["submission"],
                self.desk,
                self.sequence,
                bool(meta.get("first")),
                documents.one_line(meta.get("sealed_by"), 8),
                meta["received_day"],
                sub.opened,
                sub.problem,
                doc.kind,
                doc.language,
                doc.category_slug,
                doc.category_name,
                doc.what,
                doc.when,
                json.dumps(doc.where),
                doc.contact,
                json.dumps(warnings, ensure_ascii=False),
                doc.raw if sub.opened else None,
            ),
        )
        report_id = cur.lastrowid
        photos = media = 0
        for att in sub.attachments:
            listed = (
                doc.attachments[att.meta["part"] - 1] if 0 < att.meta["part"] <= len(doc.attachments) else {}
            )
            family, mime = documents.sniff(att.head, listed.get("type", "")) if att.opened else ("other", "")
            photos += family == "image"
            media += family in ("video", "audio")
            self.db.execute(
                "INSERT INTO attachments (report_id, case_id, position, name, claimed_type, family, mime,"
                " size, metadata, listed_sha256_ok, file, cipher_size, opened, problem)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    report_id,
                    case["id"],
                    att.meta["part"],
                    listed.get("name") or f"attachment-{att.meta['part']}",
                    listed.get("type", ""),
                    family,
                    mime or "application/octet-stream",
                    att.size,
                    listed.get("metadata", "unknown"),
                    None if not (listed.get("sha256") and att.sha256) else listed["sha256"] == att.sha256,
                    att.file,
                    att.meta["size"],
                    att.opened,
                    att.problem,
                ),
            )
            self.result.attachments += 1
        if sub.opened:
            body = " ".join(
                [doc.what, doc.place_text, doc.contact, doc.category_name, doc.when, case["number"]]
            )
            self.db.execute("INSERT INTO search (rowid, body) VALUES (?, ?)", (report_id, body))
        self._update_case(case, meta, doc, sub.opened, photos, media)
        self.vault.history(
            self.db,
            case["number"],
            "imported",
            f"{'report' if meta.get('first') else 'addition'} from export bundle "
            f"{self.desk} #{self.sequence}",
        )
        self.result.reports += 1

    def _cross_check(self, sub: _Submission, doc: Document, case: sqlite3.Row, warnings: list[str]) -> None:
        if not sub.opened:
            return
        meta = sub.meta
        if doc.desk and doc.desk != self.desk:
            warnings.append(
                f"The report names desk {doc.desk!r}, but arrived in the bundle of {self.desk!r}."
            )
        if doc.kind == "addition" and doc.case_number and doc.case_number != meta["case_number"]:
            warnings.append(f"This addition names case {doc.case_number}, but the server filed it here.")
        if doc.kind == "report" and not meta.get("first"):
            warnings.append("A new report arrived as an addition to an existing case.")
        if len(doc.attachments) != len(sub.attachments):
            warnings.append(
                f"The report lists {len(doc.attachments)} attachment(s); {len(sub.attachments)} arrived."
            )
        for att in sub.attachments:
            i = att.meta["part"] - 1
            if att.opened and 0 <= i < len(doc.attachments):
                listed = doc.attachments[i]
                if listed["sha256"] and listed["sha256"] != att.sha256:
                    warnings.append(
                        f"Attachment {i + 1} is not the file the report lists (its SHA-256 differs)."
                    )
        known = self._known_recipients() if sub.sealed_to else None
        if known is not None and sub.sealed_to - known:
            warnings.append(UNLISTED_RECIPIENT)
        if meta.get("first") and doc.reply_public and doc.reply_public != meta["reply_public"]:
            self.db.execute(
                "UPDATE cases SET reply_public = ?, reply_warning = ? WHERE id = ?",
                (
                    doc.reply_public,
                    "The server's reply key for this case differs from the one sealed in the "
                    "report: replies to it are held back until this is explained.",
                    case["id"],
                ),
            )

    def _update_case(self, case, meta, doc: Document, opened: bool, photos: int, media: int) -> None:
        fields = {
            "submissions": case["submissions"] + 1,
            "latest_day": max(case["latest_day"], meta["received_day"]),
            "photos": case["photos"] + photos,
            "media": case["media"] + media,
            "readable": case["readable"] or opened,
        }
        if opened:
            if not case["category_slug"] and (doc.category_slug or doc.category_name):
                fields["category_slug"] = doc.category_slug or documents.one_line(doc.category_name, 40)
                fields["category_name"] = doc.category_name or doc.category_slug
            if not case["excerpt"]:
                fields["excerpt"] = documents.one_line(doc.what[:2000], 240)
            if case["lat"] is None and doc.lat is not None:
                fields.update(lat=doc.lat, lon=doc.lon, precision=doc.where.get("precision", "place"))
            if not case["place"] and doc.place_text:
                fields["place"] = documents.one_line(doc.place_text, 200)
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute(f"UPDATE cases SET {sets} WHERE id = ?", (*fields.values(), case["id"]))  # noqa: S608

    def _record(self) -> None:
        m = self.manifest
        self._store_places(m.data.get("places"))
        self._store_category_names(m.data.get("categories"))
        self._store_key_changes(m.data.get("key_changes"), m.data.get("recipients"))
        self.db.execute(
            "INSERT INTO imports (desk, sequence, sha256, created_day, imported_at, items)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                self.desk,
                m.sequence,
                m.sha256,
                documents.one_line(m.data.get("created_day"), 10),
                now(),
                len(m.items),
            ),
        )
        self.db.execute(
            "UPDATE state.desks SET last_sequence = ?, last_sha256 = ? WHERE slug = ?",
            (m.sequence, m.sha256, self.desk),
        )
        self.db.execute(
            "INSERT INTO state.confirmations (desk, sequence, sha256) VALUES (?, ?, ?)",
            (self.desk, m.sequence, m.sha256),
        )
        self.vault.history(
            self.db, None, "imported bundle", f"{self.desk} #{m.sequence}: {self.result.reports} report(s)"
        )
