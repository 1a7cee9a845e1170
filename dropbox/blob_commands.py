"""`sealdrop blobs migrate --to postgresql|files`: move every blob between the file store (DIR/blobs)
and the PostgreSQL large-object store (config `blob_store`), for an instance growing past one machine
or coming back to one (docs/operations.md "Moving the blobs").

Stop every `sealdrop serve` of the instance first: what arrives meanwhile would land in the old store.
The order makes it safe to stop at any point and to run again: each blob (and each open upload's
staged pieces) is copied under its own name and checked (size and SHA-256) against the original;
only when all are there does the config switch to the new store; only after the switch are the old
copies deleted. A run cut off before the switch copies what is missing and checks the rest again; a
run after the switch (the config already names the new store) deletes the old copies left over.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from . import budget, db
from . import config as config_mod
from .blobs import BlobStore, FileBlobStore
from .console import _
from .large_objects import LargeObjectStore
from .models import Upload
from .uploads import uploads_for

STORES = ("postgresql", "files")
PROGRESS_EVERY_S = 5.0  # seconds between progress lines on a long copy
HASH_CHUNK = 256 * 1024


class MigrateError(ValueError):
    """A migration that cannot start; the message is for the operator."""


@dataclass
class Tally:
    copied: int = 0
    present: int = 0  # already in the new store, checked
    uploads: int = 0  # open uploads' staged pieces copied
    deleted: int = 0
    bytes: int = 0


def add_parsers(sub: argparse._SubParsersAction, parser_class: type) -> None:
    p = sub.add_parser("blobs", help=_("the blob store: move every blob between files and PostgreSQL"))
    blobs_sub = p.add_subparsers(dest="blobs_command", required=True, parser_class=parser_class)
    m = blobs_sub.add_parser("migrate", help=_("copy, check, switch the config, then delete the old copies"))
    m.add_argument("--to", required=True, choices=STORES, help=_("the store to move every blob to"))
    m.set_defaults(run=cmd_migrate)


def cmd_migrate(args: argparse.Namespace) -> None:
    cfg = config_mod.load(Path(args.dir))
    tally = migrate(cfg, args.to, progress=_print_progress)
    print(
        _(
            "Blobs now in %(store)s: %(copied)d copied (%(size)s), %(present)d were there already, "
            "%(uploads)d open uploads moved, %(deleted)d old copies deleted."
        )
        % {
            "store": args.to,
            "copied": tally.copied,
            "size": _size_words(tally.bytes),
            "present": tally.present,
            "uploads": tally.uploads,
            "deleted": tally.deleted,
        }
    )


def migrate(cfg: config_mod.Config, to: str, progress: Callable[[int, int], None] | None = None) -> Tally:
    """Move every blob and open upload to the store `to`, switch the config, delete the old copies."""
    if to == "postgresql" and not cfg.database_url.startswith("postgresql"):
        raise MigrateError(_("the PostgreSQL blob store needs a PostgreSQL database_url in the config"))
    if budget.read_snapshot(cfg) is not None:  # a serve rewrites budgets.json every 30 s while it runs
        raise MigrateError(_("sealdrop serve is running on this machine: stop it (and every other) first"))
    engine = db.make_engine(cfg.database_url)
    try:
        source, target = _stores(cfg, engine, to)
        tally = Tally()
        if cfg.blob_store != to:
            _copy_all(source, target, tally, progress)
            _copy_uploads(engine, source, target, uploads_for(cfg, target).blob_id, tally)
            config_mod.save(cfg.with_overrides(blob_store=to))  # from here on the new copies are the blobs
        _delete_old(engine, source, target, tally)
        return tally
    finally:
        engine.dispose()


def _stores(cfg: config_mod.Config, engine: Engine, to: str) -> tuple[BlobStore, BlobStore]:
    """The store the blobs leave, then the one they go to."""
    files = FileBlobStore(cfg.blob_dir)
    if not cfg.database_url.startswith("postgresql"):
        return files, files  # SQLite: only files were ever possible, nothing to move
    large_objects = LargeObjectStore(engine, cfg.blob_dir / "incoming")
    return (files, large_objects) if to == "postgresql" else (large_objects, files)


def _copy_all(
    source: BlobStore, target: BlobStore, tally: Tally, progress: Callable[[int, int], None] | None
) -> None:
    ids = list(source.blob_ids())
    next_line = time.monotonic() + PROGRESS_EVERY_S
    for done, blob_id in enumerate(ids, 1):
        if target.exists(blob_id) and _same(source, target, blob_id):
            tally.present += 1
        else:
            target.delete(blob_id)  # a copy cut off half way (files) or a different blob of this name
            with source.open(blob_id) as f, target.writer(blob_id) as w:
                while chunk := f.read(HASH_CHUNK):
                    w.write(chunk)
            if not _same(source, target, blob_id):
                raise MigrateError(
                    _("blob %(id)s differs after copying; nothing was switched") % {"id": blob_id}
                )
            tally.copied += 1
            tally.bytes += source.size(blob_id)
        if progress is not None and (time.monotonic() >= next_line or done == len(ids)):
            progress(done, len(ids))
            next_line = time.monotonic() + PROGRESS_EVERY_S


def _copy_uploads(
    engine: Engine, source: BlobStore, target: BlobStore, name: Callable[[str], str], tally: Tally
) -> None:
    """Open uploads' staged pieces up to their rows' offsets, so a reporter's browser resumes. `name`:
    the blob id an upload is filed under (Uploads.blob_id), which the large-object store stages it as."""
    with Session(engine, expire_on_commit=False) as session:
        uploads = list(session.scalars(select(Upload)))
        for upload in uploads:
            if not source.staged_exists(upload.id):
                continue  # swept, or staged in the new store already and deleted from the old
            target.discard_staged(upload.id, session)  # what an earlier, cut-off run staged
            target.stage(session, upload.id, name(upload.id))
            with source.open_staged(upload.id) as f, target.writing_staged(session, upload.id) as pieces:
                copied = pieces.write(0, f, upload.received)
            if copied != upload.received:
                raise MigrateError(
                    _("an open upload's pieces are shorter than its offset; nothing was switched")
                )
            session.commit()
            tally.uploads += 1


def _delete_old(engine: Engine, source: BlobStore, target: BlobStore, tally: Tally) -> None:
    """After the switch: delete each old copy whose new one is there and the same."""
    if source is target:
        return
    for blob_id in list(source.blob_ids()):
        if target.exists(blob_id) and _same(source, target, blob_id):
            source.delete(blob_id)
            tally.deleted += 1
    with Session(engine) as session:
        for upload_id in session.scalars(select(Upload.id)):
            if source.staged_exists(upload_id) and target.staged_exists(upload_id):
                source.discard_staged(upload_id)
    if isinstance(source, FileBlobStore):
        for folder in source.root.glob("??"):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()


def _same(source: BlobStore, target: BlobStore, blob_id: str) -> bool:
    return source.size(blob_id) == target.size(blob_id) and _digest(source, blob_id) == _digest(
        target, blob_id
    )


def _digest(store: BlobStore, blob_id: str) -> bytes:
    h = hashlib.sha256()
    with store.open(blob_id) as f:
        while chunk := f.read(HASH_CHUNK):
            h.update(chunk)
    return h.digest()


def _print_progress(done: int, total: int) -> None:
    print(
        _("blobs checked or copied: %(done)d of %(total)d") % {"done": done, "total": total},
        file=sys.stderr,
        flush=True,
    )


def _size_words(n: int) -> str:
    return _("%(mib).1f MiB") % {"mib": n / (1 << 20)}
