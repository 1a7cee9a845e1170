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

What the import read is filed into the vault's databases by viewer/filing.py.
"""

from __future__ import annotations

import collections
import contextlib
import io
from collections.abc import Callable
from pathlib import Path

import crypto
from crypto import bundle

from . import documents, mapsheet
from .errors import Refused
from .filing import (
    UNLISTED_RECIPIENT,
    Filing,
    ImportResult,
    _Attachment,
    _Pending,
    _Submission,
    file_documents,
)
from .i18n import _
from .manifest import check_bundle, refusing
from .streaming import Opener
from .vault import Vault

# ImportResult, UNLISTED_RECIPIENT, file_documents: in filing.py; the CLI and tests take them from here.
__all__ = ["UNLISTED_RECIPIENT", "ImportResult", "file_documents", "import_bundle"]

_READ = 1 << 20

Progress = Callable[[str, int, int], None]  # stage ("import"), bytes done, bytes in all


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


class _Run(Filing):
    """One import's reading of the bundle: each item checked, opened and handed on to be filed."""

    def __init__(self, vault, db, manifest, written, progress) -> None:
        super().__init__(vault, db, manifest)
        self.written, self.progress = written, progress
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
