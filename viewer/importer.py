"""`sealview import`: an export bundle into the vault, all or nothing (docs/bundles.md, docs/viewer.md).

1. The manifest's signature is checked with the pinned server key before anything else is read,
   then the desk and the chain (sequence, previous).
2. Then the bundle is read once, item by item, inside one vault change: every item's SHA-256 is
   checked as its last byte goes by, and the file's exact length at the end. Each report document is
   opened with the officer's key and stored decrypted in the (sealed) reports database; each
   attachment's envelope is written into the vault as it arrived and opened once on the way through,
   in a worker thread (streaming.py), to check it opens, what it holds and that it is what the report
   lists.
3. Only when the last item has passed does the change reach the disk. Any refusal leaves the vault as
   it was and removes the files this import wrote.

A report the officer cannot read (sealed to other officers, or damaged by whoever sealed it) does not
stop the import: it becomes a case with a note saying so. A bundle in which nothing at all opens with
this vault's key is refused: it is for another officer.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import crypto
from crypto import bundle

from . import documents, mapsheet
from .documents import Document
from .errors import Refused
from .i18n import _
from .manifest import check_bundle, desk_categories, desk_key_changes, desk_places, desk_recipients, refusing
from .streaming import Feed, Opener
from .vault import Vault, now

_READ = 1 << 20
# A report sealed to a key the desk never listed: a server that was taken over could add a reader of
# its own to the page's keys and leave it off the manifest (docs/threat-model.md).
UNLISTED_RECIPIENT = (
    "This report is also sealed to a key that the desk does not list among its recipients: someone "
    "outside the desk may be able to read it. Ask the desk's operator which key it is."
)


Progress = Callable[[str, int, int], None]  # stage ("import"), bytes done, bytes in all


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


def import_bundle(
    vault: Vault, path: Path, progress: Progress | None = None, *, start_chain: bool = False
) -> ImportResult:
    """Verify an export bundle and import it, all or nothing. `start_chain`: this vault has imported
    nothing for the bundle's desk yet and takes this bundle as the first of its chain (an officer whose
    key joined the desk after its first exports; docs/viewer.md)."""
    progress = progress or (lambda *_: None)
    key = vault.server_key
    if key is None:
        raise Refused(
            "no_server_key",
            _(
                "no server key is pinned in this vault: run `sealview init --server-key "
                "INSTANCE/server-signing.pub --desk SLUG` first"
            ),
        )
    with open(path, "rb") as f:
        manifest = refusing(lambda: bundle.read_manifest(f, "export", [key]), key)
        check_bundle(vault, manifest, key, start_chain=start_chain)
        with vault.lock:
            known = mapsheet.kept(vault.db)
        # The desk's map sheets: checked, and re-encoded, before any item of the bundle is read.
        sheets = mapsheet.from_manifest(manifest.data.get("map_sheets"), known)
        written: list[Path] = []
        try:
            with vault.change(reports=True, files=True) as db:
                run = _Run(vault, db, manifest, written, progress)
                refusing(lambda: run.read(f), key)
                mapsheet.store(db, run.desk, sheets)
                return run.result
        except BaseException:
            for p in written:
                p.unlink(missing_ok=True)
            raise


class _HeaderTap:
    """A reader that keeps the first bytes read through it: the envelope's header, whose recipient
    stanzas say every key the report was sealed to (the officer's own stanza is only one of them)."""

    KEEP = 64 * 1024  # far beyond a header of the most stanzas crypto reads

    def __init__(self, reader) -> None:
        self.reader, self.head = reader, bytearray()

    def read(self, n: int = -1) -> bytes:
        data = self.reader.read(n)
        if len(self.head) < self.KEEP:
            self.head += data[: self.KEEP - len(self.head)]
        return data

    def readinto(self, b) -> int:
        n = self.reader.readinto(b)
        if len(self.head) < self.KEEP:
            self.head += bytes(memoryview(b)[: min(n, self.KEEP - len(self.head))])
        return n

    def recipient_key_ids(self) -> set[str]:
        try:
            return {k.hex() for k in crypto.recipient_key_ids(io.BytesIO(bytes(self.head)))}
        except crypto.EnvelopeError:
            return set()  # a damaged header is reported as such, not as a stranger


class _CappedSink:
    def __init__(self, limit: int) -> None:
        self.buf, self.limit = io.BytesIO(), limit

    def write(self, data) -> int:
        if self.buf.tell() + len(data) > self.limit:
            raise _TooLarge
        return self.buf.write(data)


class _TooLarge(Exception):
    pass


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
        run = _Run(vault, db, None, [], lambda *_: None, desk=desk)
        for meta, data in items:
            run._finish(_Submission(meta, documents.parse(data), opened=True))
    return run.result


class _Run:
    def __init__(self, vault, db, manifest, written, progress, desk: str | None = None) -> None:
        self.vault, self.db, self.manifest = vault, db, manifest
        self.written, self.progress = written, progress
        self.keys = vault.decryption_keys  # the officer's keys before a rotation too (docs/key-trust.md)
        self._recipient_ids: set[str] | None = None
        self.desk = manifest.data["desk"] if manifest else desk
        self.sequence = manifest.sequence if manifest else 0
        self.result = ImportResult(self.desk, self.sequence)
        self.opened = 0
        self.unsettled: list[_Pending] = []  # handed to the worker, its verdict not taken yet

    def read(self, f) -> None:
        """Every item of the bundle open at `f` (just past the verified manifest), then the record."""
        total, done = sum(i["size"] for i in self.manifest.items), 0
        current: _Submission | None = None
        waiting: collections.deque[_Submission] = collections.deque()
        with self._removing_unsettled(), Opener(self.keys) as opener:
            for meta, reader in bundle.items(f, self.manifest):
                if current is None or (current.meta["case_number"], current.meta["submission"]) != (
                    meta["case_number"],
                    meta["submission"],
                ):
                    if current:
                        waiting.append(current)
                        self._finish_waiting(waiting, block=False)
                    current = _Submission(meta)
                if meta["part"] == 0 and current.doc is None and not current.problem:
                    self._open_document(current, reader)
                else:
                    current.attachments.append(self._store_attachment(meta, reader, opener))
                done += meta["size"]
                self.progress("import", done, total)
            if current:
                waiting.append(current)
            self._finish_waiting(waiting, block=True)
        # Nothing sealed to us is no refusal: the bundle is this desk's, next in its chain, so it was
        # made before this officer's key was a recipient, or for the desk's other officers. Refusing
        # it would stop this vault's chain for good; its cases are listed, not readable.
        self._record()

    @contextlib.contextmanager
    def _removing_unsettled(self):
        """On any failure, the files of attachments not yet settled go too (the worker has stopped:
        the Opener inside this block waits for it)."""
        try:
            yield
        except BaseException:
            for pending in self.unsettled:
                f = pending.feed.written
                if f.done() and not f.cancelled() and f.exception() is None and f.result():
                    f.result().unlink(missing_ok=True)
            raise

    def _finish_waiting(self, waiting: collections.deque[_Submission], *, block: bool) -> None:
        """File the submissions whose attachments the worker has opened, in bundle order."""
        while waiting and (block or waiting[0].ready()):
            sub = waiting.popleft()
            sub.attachments = [self._settle(a) if isinstance(a, _Pending) else a for a in sub.attachments]
            self._finish(sub)

    def _open_document(self, sub: _Submission, reader) -> None:
        sink = _CappedSink(documents.MAX_DOCUMENT)
        reader = _HeaderTap(reader)
        try:
            try:
                crypto.unseal(reader, sink, self.keys)
            finally:
                sub.sealed_to = reader.recipient_key_ids()
        except crypto.NoMatch:
            sub.problem = "This report is sealed to other officers, not to you."
            self.result.not_for_us += 1
            return
        except _TooLarge:
            sub.problem = "The report document is larger than 32 MiB and was not stored."
            self.result.damaged += 1
            return
        except crypto.EnvelopeError as e:
            sub.problem = (
                f"The report's envelope is damaged ({e.expect}): whoever sealed it made it unreadable."
            )
            self.result.damaged += 1
            return
        sub.doc, sub.opened = documents.parse(sink.buf.getvalue()), True
        self.opened += 1

    def _store_attachment(self, meta: dict, reader, opener: Opener) -> _Pending:
        """Hand the envelope's bytes to the worker, which writes them into the vault and opens them."""
        feed = opener.start(lambda: self.vault.new_file(meta["sha256"]))
        pending = _Pending(meta, feed)
        self.unsettled.append(pending)
        try:
            while data := reader.read(_READ):  # the item's SHA-256 is checked at its last byte
                feed.put(data)
        finally:
            feed.close()
        return pending

    def _settle(self, pending: _Pending) -> _Attachment:
        """The worker's verdict: an envelope that opens is kept under its SHA-256, others removed."""
        meta = pending.meta
        made, found = pending.feed.written.result(), pending.feed.opened.result()
        self.unsettled.remove(pending)
        if made and found.opened:
            self.written.append(made)
        elif made:
            made.unlink()  # an envelope that does not open is not kept
        if not found.opened:
            if found.not_for_us:
                self.result.not_for_us += 1
            else:
                self.result.damaged += 1
            return _Attachment(meta, False, found.problem)
        self.opened += 1
        return _Attachment(
            meta, True, size=found.size, sha256=found.sha256, head=found.head, file=meta["sha256"]
        )

    # -- into the database ---------------------------------------------------------------------

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
