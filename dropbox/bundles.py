"""The desk's side of the air gap (docs/bundles.md): export bundles out, reply bundles in.

export(session, store, desk, signing_key, dst)     every submission not yet exported, signed
export_again(session, store, desk, seq, key, dst)  the same bundle again, until it is confirmed
import_replies(session, store, path)               verified, chained, then stored in one commit
apply_retention(session, store, today, waits_for)  ciphertext gone N days after confirmation
awaited_officers(log)                              who has yet to confirm an export bundle
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import io
import os
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import crypto
from crypto import SigningKey, VerifyKey, bundle
from crypto.bundle import BundleError

from . import db
from .blobs import BlobStore
from .intake import add_stored, open_part
from .maps import export_sheets
from .models import (
    Case,
    Category,
    Desk,
    ExportConfirmation,
    ExportLog,
    MapSheet,
    Officer,
    Reply,
    Submission,
    today,
)
from .parsing import MAX_ID  # a sequence past it is a database error in PostgreSQL, not "unknown"

MAX_REPLY = 1024 * 1024  # a reply is text; refuse anything that is not
# Whose confirmation starts an export bundle's retention clock (config retention_waits_for).
EVERY_OFFICER, ANY_OFFICER = "every_officer", "any_officer"


class NothingToExport(Exception):
    pass


def pending(session: Session, desk: Desk) -> list[Submission]:
    return list(
        session.scalars(
            select(Submission)
            .where(
                Submission.desk_id == desk.id,
                Submission.exported_seq.is_(None),
                Submission.deleted_day.is_(None),
            )
            .order_by(Submission.id)
        )
    )


def export(session: Session, store: BlobStore, desk: Desk, key: SigningKey, dst: BinaryIO) -> bundle.Manifest:
    """Write the next export bundle of `desk` to `dst` and record it; raises NothingToExport. A change
    to the desk's recipients not yet exported makes a bundle even with no report in it: the officers
    must see it (invariant 8). Map sheets, places or categories changing alone do not."""
    subs = pending(session, desk)
    if not subs and not _key_changes_waiting(session, desk):
        raise NothingToExport(f"nothing new to export for desk {desk.slug}")
    last = session.scalar(
        select(ExportLog).where(ExportLog.desk_id == desk.id).order_by(ExportLog.sequence.desc())
    )
    sequence = (last.sequence if last else 0) + 1
    fields = _export_fields(session, desk, sequence, last.sha256 if last else None, today())
    manifest = bundle.write(dst, "export", fields, _entries(store, subs), key)
    awaited = [o for o in desk.officers if o.confirmed and not o.retired]
    kept = _without_pictures(fields)
    session.add(
        ExportLog(desk_id=desk.id, sequence=sequence, sha256=manifest.sha256, awaited=awaited, fields=kept)
    )
    for sub in subs:
        sub.exported_seq = sequence
    try:
        session.commit()
    except IntegrityError:  # another clerk took this sequence number a moment ago
        session.rollback()
        raise NothingToExport(f"desk {desk.slug} was exported at the same moment by someone else") from None
    return manifest


def _export_fields(
    session: Session, desk: Desk, sequence: int, previous: str | None, created: dt.date
) -> dict:
    """An export manifest's own fields (docs/bundles.md); the same ones again for `export_again`."""
    return {
        "desk": desk.slug,
        "sequence": sequence,
        "previous": previous,
        "created_day": created.isoformat(),
        "places": _places(desk),
        "categories": _categories(session, desk),
        "map_sheets": export_sheets(session, desk),  # docs/maps.md: what the viewer draws reports on
        **_key_trust(session, desk, sequence),
    }


def _without_pictures(fields: dict) -> dict:
    """The fields kept with the export's row: the map sheets' pictures by their sha256 only (up to
    8 MiB a desk in base64, in every export), taken from the sheets again by `_with_pictures`."""
    sheets = [{k: v for k, v in s.items() if k != "data"} for s in fields.get("map_sheets", [])]
    return {**fields, "map_sheets": sheets} if "map_sheets" in fields else dict(fields)


def _with_pictures(session: Session, desk: Desk, kept: dict, sequence: int) -> dict:
    """The kept fields with each map sheet's picture again, as long as the sheet is there unchanged."""
    if "map_sheets" not in kept:
        return dict(kept)
    sheets = []
    for sheet in kept["map_sheets"]:
        row = session.get(MapSheet, int(sheet["id"]))
        if row is None or row.desk_id != desk.id or row.sha256 != sheet["sha256"]:
            raise NothingToExport(
                f"export bundle {sequence} can no longer be made again: a map sheet it carried was removed"
            )
        sheets.append({**sheet, "data": base64.b64encode(row.image).decode("ascii")})
    return {**kept, "map_sheets": sheets}


def _key_changes_waiting(session: Session, desk: Desk) -> int:
    from .desk import keytrust  # here: dropbox.desk imports this module

    return keytrust.waiting(session, desk)


def _key_trust(session: Session, desk: Desk, sequence: int) -> dict:
    """`key_changes` since the last export and the desk's `recipients` (docs/key-trust.md)."""
    from .desk import keytrust  # here: dropbox.desk imports this module

    return keytrust.export_fields(session, desk, sequence)


def _categories(session: Session, desk: Desk) -> list[dict]:
    """Every category whose reports this desk files (its own, and other desks' routed to it), named
    in every language: a report names its category by slug, and the officer reads it in theirs."""
    routed_here = or_(Category.desk_id == desk.id, Category.route_desk_id == desk.id)
    rows = session.scalars(select(Category).where(routed_here).order_by(Category.desk_id, Category.position))
    return [{"slug": c.slug, "names": dict(c.names)} for c in rows]


def _places(desk: Desk) -> list[dict]:
    """The desk's named places, signed into every export: the viewer draws these as landmarks, never
    places named inside reports (a report could plant a fake one)."""
    return [
        {"id": p.id, "names": dict(p.names), "lat": p.lat, "lon": p.lon}
        for p in desk.places
        if p.lat is not None and p.lon is not None
    ]


def _entries(store: BlobStore, subs: list[Submission]) -> list[tuple[dict, bundle.Source]]:
    entries = []
    for sub in subs:
        first = sub.case.submissions[0].id == sub.id
        for part in sub.parts:
            meta = {
                "case_number": sub.case.number,
                "submission": sub.id,
                "part": part.position,
                "first": first,
                "sealed_by": sub.sealed_by,
                "received_day": sub.received_day.isoformat(),
                "reply_public": sub.case.reply_public.hex(),
            }
            # A small envelope from its row, the rest streamed from the store (intake.open_part).
            entries.append((meta, functools.partial(open_part, store, part)))
    return entries


def export_again(
    session: Session, store: BlobStore, desk: Desk, sequence: int, key: SigningKey, dst: BinaryIO
) -> bundle.Manifest:
    """Write export bundle `sequence` again, byte for byte, for a download that broke off: allowed
    until the viewer confirms it. Ed25519 signatures are deterministic, so the same manifest gives the
    same file; anything else (a blob changed or gone) raises BundleError and `dst` must be discarded.
    "Confirmed" is every officer it waits for: a second officer may still need the file. The manifest's
    fields are the ones kept when it was made (places, categories, map sheets, key changes, recipients
    as they were then); a bundle made before migration 0011 kept none and reads them again."""
    if not 0 < sequence <= MAX_ID:  # from a URL: past the column's range it is a database error, not "none"
        raise NothingToExport(f"desk {desk.slug} has no export bundle {sequence}")
    log = session.scalar(
        select(ExportLog).where(ExportLog.desk_id == desk.id, ExportLog.sequence == sequence)
    )
    if log is None:
        raise NothingToExport(f"desk {desk.slug} has no export bundle {sequence}")
    if log.confirmed_day is not None:
        raise NothingToExport(f"export bundle {sequence} was already imported by the viewer")
    subs = list(
        session.scalars(
            select(Submission)
            .where(Submission.desk_id == desk.id, Submission.exported_seq == sequence)
            .order_by(Submission.id)
        )
    )
    previous = session.scalar(
        select(ExportLog.sha256).where(ExportLog.desk_id == desk.id, ExportLog.sequence == sequence - 1)
    )
    if any(s.deleted_day for s in subs) or (not subs and log.fields is None):
        raise NothingToExport(f"export bundle {sequence} can no longer be made again")
    if log.fields is not None:
        fields = _with_pictures(session, desk, log.fields, sequence)
    else:  # made before 0011: rebuilt from the desk as it is now, refused below if that changed
        fields = _export_fields(session, desk, sequence, previous, log.created_day)
    manifest = bundle.write(dst, "export", fields, _entries(store, subs), key)
    if manifest.sha256 != log.sha256:
        raise BundleError("tampered", f"export bundle {sequence} no longer matches what was exported")
    return manifest


def _signer(session: Session, desk: Desk, officer_key_id: object) -> Officer:
    officer = next((o for o in desk.officers if o.key_id == officer_key_id and o.confirmed), None)
    if officer is None:
        raise BundleError("bad_signature", "this reply bundle is not from a confirmed officer of the desk")
    return officer


_GOES_TO = {
    "export": "this is an export bundle, not a reply bundle: it goes to the officer's viewer "
    "(sealview import)",
    "state": "this is a viewer state bundle, not a reply bundle: it goes to a colleague's viewer "
    "(sealview state import)",
}


class WrongKind(BundleError):
    """Not a reply bundle; `kind` says what it is instead ("export", "state" or None), so that the
    person is told where it goes (dropbox.errors.bundle_refusal)."""

    def __init__(self, claimed_format: object) -> None:
        self.kind = {v: k for k, v in bundle.KINDS.items()}.get(str(claimed_format))
        super().__init__("wrong_kind", _GOES_TO.get(self.kind or "", "this is not a reply bundle"))


def import_replies(
    session: Session, store: BlobStore, path: Path, only_desk: str | None = None
) -> tuple[Desk, int]:
    """Import a reply bundle whole or not at all. Returns the desk and the number of replies.
    With `only_desk`, a bundle for any other desk is refused (`wrong_desk`)."""
    claimed = _peek(path)  # the claimed desk and signer, only to pick the key that must verify it
    if claimed.get("format") != bundle.KINDS["replies"]:  # unverified, but it is refused anyway
        raise WrongKind(claimed.get("format"))
    desk = session.scalar(select(Desk).where(Desk.slug == str(claimed.get("desk"))[:40]))
    if desk is None:
        raise BundleError("wrong_desk", "this reply bundle is for a desk this server does not have")
    if only_desk is not None and desk.slug != only_desk:
        raise BundleError("wrong_desk", f"this reply bundle is for desk {desk.slug}, not {only_desk}")
    officer = _signer(session, desk, claimed.get("officer"))
    verify_key = crypto.PublicKey.parse(officer.public_key).verify_key
    manifest = bundle.verify(path, "replies", [verify_key])  # signature, hashes, exact length
    if manifest.data.get("desk") != desk.slug or manifest.data.get("officer") != officer.key_id:
        raise BundleError("tampered", "the reply bundle's manifest does not match its signer")
    written: list[str] = []
    try:
        _lock_chain(session, officer)
        bundle.check_chain(manifest, officer.reply_sequence, officer.reply_sha256)
        count = _store_replies(session, store, desk, path, manifest, verify_key, written)
        _confirm(session, desk, officer, manifest.data.get("confirmations", []))
        _key_statements(session, desk, officer, manifest)
        session.commit()
    except BaseException as error:
        session.rollback()
        if not db.committed(error):  # else the committed replies name these blobs
            for blob_id in written:
                store.delete(blob_id)
        raise
    return desk, count


def _lock_chain(session: Session, officer: Officer) -> None:
    """Make the chain check and the writes it allows one step: two imports of one bundle at once (two
    clerks, two instances) must not both pass it. PostgreSQL: the officer's row, locked until the
    commit (SELECT ... FOR UPDATE); SQLite: the database's write lock, taken now. Either way the row is
    read again under the lock: the other import may have moved the chain on meanwhile."""
    if session.get_bind().dialect.name == "sqlite":
        db.lock_for_writing(session, "replies")
    session.refresh(officer, with_for_update=True)


def _key_statements(session: Session, desk: Desk, officer: Officer, manifest: bundle.Manifest) -> None:
    """Apply the key statements the bundle carries (docs/key-trust.md), then move the officer's reply
    chain on (and a rotated-to key's with it): a refused statement refuses the whole bundle."""
    from .desk import keytrust

    try:
        keytrust.from_bundle(session, desk, officer, manifest.data.get("key_statements"))
    except keytrust.KeyTrustError as e:
        raise BundleError("key_statement", f"a key statement in the reply bundle is refused: {e}") from None
    keytrust.advance_chain(officer, manifest.sequence, manifest.sha256)


def _peek(path: Path) -> dict:
    """The manifest as it claims to be, before its signature is checked (read_manifest checks it)."""
    with open(path, "rb") as f:
        if f.read(len(bundle.MAGIC)) != bundle.MAGIC:
            raise BundleError("not_a_bundle", "this file is not a sealdrop bundle")
        head = f.read(bundle._LEN.size)
        if len(head) != bundle._LEN.size:
            raise BundleError("truncated", "the bundle is truncated (length)")
        (length,) = bundle._LEN.unpack(head)
        if length > bundle.MAX_MANIFEST:
            raise BundleError("tampered", "the bundle's manifest is impossibly large")
        raw = f.read(length)
    if len(raw) != length:
        raise BundleError("truncated", "the bundle is truncated (manifest)")
    return bundle.json_object(raw)  # BundleError("tampered") for anything but a JSON object


def _store_replies(
    session: Session,
    store: BlobStore,
    desk: Desk,
    path: Path,
    manifest: bundle.Manifest,
    key: VerifyKey,
    written: list[str],
) -> int:
    with open(path, "rb") as f:
        bundle.read_manifest(f, "replies", [key])
        for meta, reader in bundle.items(f, manifest):
            case = session.scalar(select(Case).where(Case.number == str(meta.get("case_number"))[:16]))
            if case is None or case.desk_id != desk.id:
                raise BundleError("wrong_desk", f"reply for case {meta.get('case_number')} of another desk")
            if meta["size"] > MAX_REPLY:
                raise BundleError("tampered", "a reply is larger than a reply can be")
            data = reader.read()
            try:
                sealed_to = crypto.recipient_key_ids(io.BytesIO(data))
            except crypto.SealdropCryptoError:
                sealed_to = None  # not an envelope at all
            if sealed_to != [crypto.RecipientKey(case.reply_public).key_id]:
                raise BundleError(
                    "tampered", f"the reply for case {case.number} is not sealed to its reporter"
                )
            with store.writer() as w:
                w.write(data)
            written.append(w.blob_id)
            session.add(Reply(case=case, blob_id=w.blob_id, size=len(data)))
    return len(manifest.items)


def _confirm(session: Session, desk: Desk, officer: Officer, confirmations: object) -> None:
    """Record that `officer`'s viewer imported the export bundles it confirms, and start a bundle's
    retention clock once every officer it waits for has (the strictest rule: apply_retention may start
    it sooner under "any_officer")."""
    if not isinstance(confirmations, list):
        raise BundleError("tampered", "the reply bundle's confirmations are malformed")
    for c in confirmations:
        if not isinstance(c, dict) or type(c.get("sequence")) is not int or not 0 < c["sequence"] <= MAX_ID:
            raise BundleError("tampered", "the reply bundle's confirmations are malformed")
        log = session.scalar(
            select(ExportLog).where(ExportLog.desk_id == desk.id, ExportLog.sequence == c["sequence"])
        )
        if log is None or log.sha256 != c.get("sha256"):
            raise BundleError(
                "forked", f"the viewer confirms export bundle {c['sequence']} that this desk did not make"
            )
        if all(c.officer_id != officer.id for c in log.confirmations):
            log.confirmations.append(ExportConfirmation(officer_id=officer.id, officer=officer, day=today()))
        settle(log, EVERY_OFFICER)


def awaited_officers(log: ExportLog) -> list[Officer]:
    """The officers whose confirmation `log` still waits for: the desk's confirmed officers when it was
    made, less those who confirmed it. A key rotated since (docs/key-trust.md) is waited for through
    the key that replaced it, whose confirmation counts for it; a key retired without one no longer
    blocks (its holder left the desk). One place decides this; the inbox shows it."""
    confirmed = {c.officer_id for c in log.confirmations}
    awaited: dict[int, Officer] = {}
    for officer in log.awaited:
        current = _stand_in(officer)
        if current is not None and not {officer.id, current.id} & confirmed:
            awaited.setdefault(current.id, current)
    return list(awaited.values())


def _stand_in(officer: Officer) -> Officer | None:
    """The key `officer` confirms with today: itself, the key a rotation replaced it with (and so on),
    or None once it is retired without a confirmed successor."""
    seen: set[int] = set()
    while officer is not None and officer.retired and officer.id not in seen:
        seen.add(officer.id)
        officer = officer.successor  # set by a rotate statement (desk/keytrust.py)
    return officer if officer is not None and officer.confirmed and not officer.retired else None


def clock_start(log: ExportLog, waits_for: str = EVERY_OFFICER) -> dt.date | None:
    """The day `log`'s retention clock starts under `waits_for`, or None while it still waits."""
    if log.confirmed_day is not None:  # started already (before 0008: at the first confirmation)
        return log.confirmed_day
    if not log.confirmations:
        return None
    if waits_for == ANY_OFFICER:
        return min(c.day for c in log.confirmations)
    if awaited_officers(log):
        return None
    waited_for = {o.id for o in log.awaited} | {s.id for o in log.awaited if (s := _stand_in(o))}
    days = [c.day for c in log.confirmations if c.officer_id in waited_for]
    return max(days or [c.day for c in log.confirmations])


def settle(log: ExportLog, waits_for: str = EVERY_OFFICER) -> None:
    """Start `log`'s retention clock if it may start: once started it stays (the deletion day it set
    never moves later, whatever the setting becomes)."""
    log.confirmed_day = clock_start(log, waits_for)


def apply_retention(
    session: Session, store: BlobStore, on: dt.date | None = None, waits_for: str = EVERY_OFFICER
) -> int:
    """Delete the ciphertext of submissions whose export was confirmed more than retention_days ago:
    confirmed by every officer it waits for, or with `waits_for` "any_officer" by the first of them."""
    on = on or today()
    removed = 0
    waiting = session.scalars(
        select(ExportLog).where(ExportLog.confirmed_day.is_(None), ExportLog.confirmations.any())
    )
    for log in waiting:  # a key retired since the last run, or the setting, may start a clock now
        settle(log, waits_for)
    session.flush()
    rows = session.execute(
        select(Submission, ExportLog, Desk)
        .join(
            ExportLog,
            (ExportLog.desk_id == Submission.desk_id) & (ExportLog.sequence == Submission.exported_seq),
        )
        .join(Desk, Desk.id == Submission.desk_id)
        .where(Submission.deleted_day.is_(None), ExportLog.confirmed_day.is_not(None))
    ).all()
    doomed: list[str] = []
    freed: dict[int, int] = {}
    for sub, log, desk in rows:
        if log.confirmed_day + dt.timedelta(days=desk.retention_days) <= on:
            for part in list(sub.parts):
                if part.data is None:  # a small envelope in its row goes with the row
                    doomed.append(part.blob_id)
                session.delete(part)
            sub.deleted_day = on
            freed[desk.id] = freed.get(desk.id, 0) + sub.size
            removed += 1
    for desk_id, size in sorted(freed.items()):  # in one order: no deadlock with a filing
        add_stored(session, desk_id, -size)
    # Rows first, files after: a crash in between, or a commit that could not be synced
    # (db.CommittedNotDurable), leaves an orphan blob, ciphertext nothing points at, which the uploads'
    # sweep deletes (`sweep_orphans`); never a row pointing at a file that is gone.
    session.commit()
    for blob_id in doomed:
        store.delete(blob_id)
    return removed


def write_atomically(path: Path, write) -> None:
    """Write a bundle file through a temp file beside it; nothing partial is left on failure."""
    tmp = path.with_name(f".{path.name}.partial")
    try:
        with open(tmp, "wb") as f:
            result = write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return result
    finally:
        tmp.unlink(missing_ok=True)
