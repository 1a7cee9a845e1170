"""Taking in reports: routing, sealing on the no-JS path, checking browser-sealed uploads, storing.

Both paths end in `file_submission`, which commits the rows for envelopes already durable in the
blob store; each path makes the whole submission all or nothing (`seal_and_file` on the no-JS path,
`Uploads.finishing` on the JS path), so a refusal leaves no orphan blob and nothing leaves a half case.
A crash between placing blobs and the commit leaves blobs no row names: an upload's is taken back when
its report call comes again (`Uploads.put_back_moved`), the rest go with the sweep two days later.
The report itself is a JSON document (docs/report.md) sealed as envelope 0; every
attachment is its own envelope, so large videos stream and resume independently.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import hmac
import io
import json
import os
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, InvalidRequestError
from sqlalchemy.orm import Session, selectinload

import crypto
from crypto import PublicKey, Receipt, RecipientKey

from . import db
from .blobs import BlobStore, FileBlobStore
from .config import Config
from .models import (
    Case,
    Category,
    Desk,
    DeskStorage,
    Officer,
    Part,
    Reply,
    Submission,
    SubmissionToken,
    Upload,
    today,
)
from .scrub import Clean

REPORT_FORMAT = "sealdrop-report/1"
UPLOAD_MAX_AGE_HOURS = 24  # an upload nobody wrote to for this long is abandoned; config extra may change it
SWEEP_EVERY = 3600.0  # seconds between sweeps of abandoned uploads in one process
COPY_CHUNK = 64 * 1024
CASE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
TOKEN_KEEP_DAYS = 2  # a filed form's token hash outlives the form token itself (hours) by a margin
BUSY_RETRY_AFTER_S = 5  # what a "busy" answer asks the client to wait before it sends again (Retry-After)
# A full store frees room only when the officers export and retention deletes what they imported.
STORE_FULL_RETRY_AFTER_S = 3600
PRESSURE_SWEEP_EVERY = 30.0  # seconds between sweeps on the short clock, in one process


class IntakeError(ValueError):
    """A submission we refuse; `code` picks the message the reporter sees."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def sealing_loads() -> tuple:
    """Loader options for a Desk query under which `recipients` of each of its categories reads no lazy
    relationship: the categories, their chosen officers, their route desks and every desk's officers,
    in four or five statements for the whole desk instead of one or two per category."""
    categories = selectinload(Desk.categories)
    return (
        categories.selectinload(Category.officers),
        categories.joinedload(Category.route_desk).selectinload(Desk.officers),
        selectinload(Desk.officers),
    )


def recipients(category: Category) -> list[RecipientKey]:
    keys = [PublicKey.parse(o.public_key).recipient for o in category.recipients()]
    if not keys:
        raise IntakeError("no_recipients")
    return keys


def new_case_number() -> str:
    raw = "".join(secrets.choice(CASE_ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def open_case(session: Session, desk: Desk, lookup_id: bytes, reply_public: bytes) -> Case:
    if len(lookup_id) != 32 or len(reply_public) != 32:
        raise IntakeError("bad_request")
    if session.scalar(select(Case.id).where(Case.lookup_id == lookup_id)) is not None:
        raise IntakeError("receipt_in_use")
    for _ in range(5):
        case = Case(desk=desk, number=new_case_number(), lookup_id=lookup_id, reply_public=reply_public)
        session.add(case)
        try:
            session.flush()
            return case
        except IntegrityError:  # the rare repeated case number
            session.rollback()
    raise IntakeError("try_again")


def filed_case(session: Session, token_hash: bytes) -> Case | None:
    """The case a form with this single-use token already opened, if any."""
    row = session.get(SubmissionToken, token_hash)
    return row.case if row is not None else None


def claim_form(session: Session, token_hash: bytes, case: Case) -> bool:
    """Mark the form as filed by `case`, in the case's own transaction. False if another request with
    the same form got there first: the unique key makes the second insert wait for the first
    transaction (both databases), then fail; the caller rolls back and shows the first case."""
    session.add(SubmissionToken(token_hash=token_hash, case=case))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return False
    return True


def sweep_form_tokens(session: Session) -> int:
    """Forget filed forms' tokens after TOKEN_KEEP_DAYS (by then the form token has long expired)."""
    oldest_kept = today() - dt.timedelta(days=TOKEN_KEEP_DAYS)
    result = session.execute(delete(SubmissionToken).where(SubmissionToken.created_day < oldest_kept))
    session.commit()
    return result.rowcount or 0


def case_recipients(session: Session, store: BlobStore, case: Case) -> list[RecipientKey]:
    """Additions go to the keys the case's first report was sealed to, read from its envelope header
    (the server does not store the category), less any officer removed since. Once retention has
    deleted the first report's ciphertext, the oldest submission still held (sealed to the same keys)."""
    first = next((s.parts[0] for s in case.submissions if s.parts), None)
    if first is None:  # every envelope of the case is gone: nobody left to read the header of
        raise IntakeError("no_recipients")
    with store.open(first.blob_id) as f:
        key_ids = {k.hex() for k in crypto.recipient_key_ids(f)}
    officers = session.scalars(
        select(Officer).where(Officer.desk_id == case.desk_id, Officer.confirmed, ~Officer.retired)
    ).all()
    keys = [PublicKey.parse(o.public_key).recipient for o in officers if o.key_id in key_ids]
    if not keys:
        raise IntakeError("no_recipients")
    return keys


def find_case(session: Session, lookup_id: bytes) -> Case | None:
    return session.scalar(select(Case).where(Case.lookup_id == lookup_id))


@dataclass(frozen=True)
class ReportFields:
    """What the reporter typed, as the no-JS form delivers it (already validated)."""

    language: str
    what: str
    when: str = ""
    where: dict | None = None
    contact: str = ""


def report_document(
    kind: str,
    desk: Desk,
    category: Category | None,
    fields: ReportFields,
    attachments: Sequence[Clean],
    reply_public: bytes | None,
    case_number: str | None = None,
) -> bytes:
    """The plaintext of envelope 0 (docs/report.md)."""
    doc = {
        "format": REPORT_FORMAT,
        "kind": kind,
        "sealed_by": "server",
        "desk": desk.slug,
        "language": fields.language,
        "category": {"slug": category.slug, "name": category.name("en")} if category else None,
        "what": fields.what,
        "when": fields.when,
        "where": fields.where or {"mode": "none"},
        "contact": fields.contact,
        "reply_public": reply_public.hex() if reply_public else None,
        "case_number": case_number,
        "attachments": [
            {
                "name": a.name,
                "type": a.mime,
                "size": a.size,
                "sha256": a.sha256(),
                "metadata": a.metadata,
            }
            for a in attachments
        ],
    }
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def plaintext_bytes(plaintexts: Sequence[bytes | Clean]) -> int:
    """About the ciphertext the no-JS path's sealing of `plaintexts` will store (a little less)."""
    return sum(len(item) if isinstance(item, bytes) else item.size for item in plaintexts)


def seal_on_server(
    store: BlobStore, keys: Sequence[RecipientKey], plaintexts: Sequence[bytes | Clean]
) -> list[str]:
    """Seal each plaintext (the report document, then each cleaned file, read piece by piece) from
    memory straight into the blob store; returns the blob ids. If one fails, the blobs already
    written are deleted again."""
    blob_ids: list[str] = []
    try:
        for item in plaintexts:
            with store.writer() as w:
                crypto.seal(io.BytesIO(item) if isinstance(item, bytes) else item.open(), w, keys)
            blob_ids.append(w.blob_id)
    except BaseException:
        _delete_blobs(store, blob_ids)
        raise
    return blob_ids


def seal_and_file(
    session: Session,
    store: BlobStore,
    case: Case,
    desk: Desk,
    keys: Sequence[RecipientKey],
    plaintexts: Sequence[bytes | Clean],
) -> Submission:
    """The no-JS path's last step, all or nothing: seal into the store, then commit the rows. If
    sealing or the commit fails, the session is rolled back (the case it opened with it) and the new
    blobs are deleted, so nothing is half stored."""
    blob_ids: list[str] = []
    try:
        blob_ids = seal_on_server(store, keys, plaintexts)
        return file_submission(session, store, case, desk, blob_ids, "server")
    except BaseException:
        session.rollback()
        _delete_blobs(store, blob_ids)
        raise


def seal_then_file(
    session: Session,
    store: BlobStore,
    desk: Desk,
    keys: Sequence[RecipientKey],
    plaintexts: Sequence[bytes | Clean],
    receipt: Receipt,
    form_hash: bytes,
) -> tuple[Case | FiledCase, bool]:
    """The no-JS path's filing with a short write section: seal into the store first, while no row is
    written (so no other writer waits on the sealing and its fsyncs), then open the case, claim the form
    and record the submission in one short transaction. Returns (the new case, True), or (the case the
    same form opened a moment ago in a twin request, False), its own blobs deleted again. All or nothing
    as `seal_and_file`; IntakeError if no case number can be had."""
    blob_ids = seal_on_server(store, keys, plaintexts)
    try:
        case = _insert_case(session, desk, receipt)
        if not _insert_claim(session, form_hash, case):
            _delete_blobs(store, blob_ids)
            return filed_case(session, form_hash), False
        file_submission(session, store, case, desk, blob_ids, "server")
        return case, True
    except BaseException:
        session.rollback()
        _delete_blobs(store, blob_ids)
        raise


@dataclass(frozen=True)
class FiledCase:
    """A case the no-JS path opened with plain inserts (no ORM object: its unit of work cost more CPU
    than the rest of the filing): what the receipt page and `file_submission` need of it."""

    id: int
    number: str


def _insert_case(session: Session, desk: Desk, receipt: Receipt) -> FiledCase:
    """`open_case` for a receipt the server just made, with plain inserts. A receipt's lookup id is 32
    random bytes the server chose: the unique key alone keeps it unique, no SELECT asks first."""
    for _ in range(5):
        number = new_case_number()
        row = {"desk_id": desk.id, "number": number, "lookup_id": receipt.lookup_id,
               "reply_public": receipt.reply_recipient.public_bytes, "received_day": today()}  # fmt: skip
        try:
            inserted = session.connection().execute(Case.__table__.insert().values(row))
        except IntegrityError:  # the rare repeated case number; nothing else was written yet
            session.rollback()
            continue
        return FiledCase(inserted.inserted_primary_key[0], number)
    raise IntakeError("try_again")


def _insert_claim(session: Session, token_hash: bytes, case: FiledCase) -> bool:
    """`claim_form` with a plain insert: False (rolled back) if a twin request claimed the form first."""
    insert = SubmissionToken.__table__.insert()
    try:
        session.connection().execute(
            insert.values(token_hash=token_hash, case_id=case.id, created_day=today())
        )
    except IntegrityError:
        session.rollback()
        return False
    return True


def _delete_blobs(store: BlobStore, blob_ids: Sequence[str]) -> None:
    for blob_id in blob_ids:
        store.delete(blob_id)


def file_submission(
    session: Session,
    store: BlobStore,
    case: Case | FiledCase,
    desk: Desk,
    blob_ids: Sequence[str],
    sealed_by: str,
) -> int:
    """Record blobs that are already durable in the store as one submission, and commit; returns its
    id. Plain inserts, not the ORM's unit of work (a third of a no-JS report's database CPU); an ORM
    case given is flushed first (`case.id`) and its `submissions` read again when next used."""
    sizes = [store.size(b) for b in blob_ids]
    case_id = case.id
    connection = session.connection()
    row = {"case_id": case_id, "desk_id": desk.id, "sealed_by": sealed_by, "size": sum(sizes),
           "received_day": today()}  # fmt: skip
    submission_id = connection.execute(Submission.__table__.insert().values(row)).inserted_primary_key[0]
    parts = [{"submission_id": submission_id, "position": i, "blob_id": b, "size": size}
             for i, (b, size) in enumerate(zip(blob_ids, sizes, strict=True))]  # fmt: skip
    connection.execute(Part.__table__.insert(), parts)
    add_stored(session, desk.id, sum(sizes))
    if isinstance(case, Case):
        session.expire(case, ["submissions"])  # the ORM did not see the rows written here
    session.commit()
    return submission_id


def add_stored(session: Session, desk_id: int, size: int) -> None:
    """Move the desk's running total of stored ciphertext by `size` (negative: deleted), in the caller's
    transaction: one atomic upsert, never read-modify-write, so concurrent filings all count. The row
    lock it takes on PostgreSQL is held until the caller commits (a filing's commit follows at once)."""
    if not size:
        return
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = DeskStorage.__table__  # a plain statement: the ORM's bulk path cost more than the upsert
    upsert = insert(table).values(desk_id=desk_id, stored_bytes=size)
    upsert = upsert.on_conflict_do_update(
        index_elements=[table.c.desk_id], set_={"stored_bytes": table.c.stored_bytes + size}
    )
    session.connection().execute(upsert)


def upload_max_age_s(cfg: Config) -> float:
    """How long an upload may sit untouched before it is abandoned (config extra `upload_max_age_hours`)."""
    return cfg.extra.get("upload_max_age_hours", UPLOAD_MAX_AGE_HOURS) * 3600


def server_receipt() -> Receipt:
    """No-JS path: the server makes the receipt, shows it once and keeps only what it derives."""
    return Receipt.generate()


# --- resumable uploads of browser-sealed envelopes -------------------------------------------


@dataclass(frozen=True)
class UploadLimits:
    """Caps on uploads open at once, by count and by bytes declared, per desk and overall (Config,
    docs/operator-guide.md "Resource budgets"). Declared bytes bound what uploads can hold on disk:
    a piece past its upload's declared size is refused."""

    count_per_desk: int
    count: int
    bytes_per_desk: int
    bytes: int
    pressure: float  # the share of any cap past which abandoned uploads are swept on the short clock
    pressure_idle_s: float
    stored_per_desk: int = 0  # ciphertext held (filed and uploading), per desk and overall; 0: no cap
    stored: int = 0

    @classmethod
    def of(cls, cfg: Config) -> UploadLimits:
        return cls(cfg.max_open_uploads_per_desk, cfg.max_open_uploads, cfg.max_upload_bytes_per_desk,
                   cfg.max_upload_bytes, cfg.upload_pressure, cfg.upload_pressure_idle_s,
                   cfg.max_stored_bytes_per_desk, cfg.max_stored_bytes)  # fmt: skip

    def has_room(self, held: tuple[int, int], size: int) -> bool:
        """`held`: the ciphertext bytes the desk holds (filed and declared by open uploads), then all."""
        caps = (self.stored_per_desk, self.stored)
        return all(not cap or used + size <= cap for used, cap in zip(held, caps, strict=True))

    def caps(self) -> tuple[int, int, int, int]:
        return self.count_per_desk, self.bytes_per_desk, self.count, self.bytes

    def admits(self, open_now: tuple[int, int, int, int], size: int) -> bool:
        """`open_now`: the desk's open uploads and their declared bytes, then everyone's."""
        after = (open_now[0] + 1, open_now[1] + size, open_now[2] + 1, open_now[3] + size)
        return all(used <= cap for used, cap in zip(after, self.caps(), strict=True))

    def pressed(self, open_now: tuple[int, int, int, int]) -> bool:
        return any(used > cap * self.pressure for used, cap in zip(open_now, self.caps(), strict=True))


def _usage(
    session: Session, desk: Desk, *, held: bool = True
) -> tuple[tuple[int, int, int, int], tuple[int, int]]:
    """In one statement: the open uploads (the desk's count and declared bytes, then everyone's), and
    with `held` the ciphertext the store holds or has promised to open uploads (the desk's, then
    everyone's; else zeros). One statement, not six: a report asks on every call."""
    counted, declared = select(func.count(Upload.id)), select(func.coalesce(func.sum(Upload.size), 0))
    filed = select(func.coalesce(func.sum(DeskStorage.stored_bytes), 0))  # a row per desk (add_stored)
    sums = [
        counted.where(Upload.desk_id == desk.id),
        declared.where(Upload.desk_id == desk.id),
        counted,
        declared,
    ]
    if held:
        sums += [filed.where(DeskStorage.desk_id == desk.id), filed]
    row = [int(v) for v in session.execute(select(*(q.scalar_subquery() for q in sums))).one()]
    open_now = (row[0], row[1], row[2], row[3])
    return open_now, ((row[4] + row[1], row[5] + row[3]) if held else (0, 0))


class Uploads:
    """Pieces of ciphertext arriving over a slow circuit, appended in order, resumable by offset."""

    def __init__(
        self, root: Path, max_size: int, limits: UploadLimits | None = None, *, blob_key: bytes
    ) -> None:
        self.root = Path(root) / "uploads"
        self._blob_key = blob_key  # the instance secret (Config.secret_key): see blob_id
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.max_size = max_size
        self.limits = limits  # None: no caps but the size of one upload (the CLI's sweeps)
        self._admitting = threading.Lock()  # counting open uploads and adding one: one step
        self._sweeping = threading.Lock()
        self._next_sweep = 0.0  # monotonic time; the first new upload of a process sweeps
        self._next_pressure_sweep = 0.0

    def path(self, upload_id: str) -> Path:
        return self.root / f"{upload_id}.part"

    def _stage(self, session: Session, upload_id: str) -> None:
        """Where a new upload's pieces will go (dropbox/shared.py keeps them in the shared store)."""
        self.path(upload_id).touch(mode=0o600)

    def _read(self, upload_id: str) -> BinaryIO:
        return open(self.path(upload_id), "rb")

    def discard(self, upload_id: str) -> None:
        """Drop the pieces of an upload that will never be filed (its row goes with the caller)."""
        self.path(upload_id).unlink(missing_ok=True)

    def blob_id(self, upload_id: str) -> str:
        """The name a finished upload gets in the blob store: one its row leads back to after a crash
        (`put_back_moved`), keyed with the instance secret so that the browser, which chose the upload
        id, cannot choose or predict a blob's name."""
        mac = hmac.new(self._blob_key, b"sealdrop upload blob\x00" + upload_id.encode(), hashlib.sha256)
        return mac.hexdigest()[:32]

    def start(self, session: Session, desk: Desk, size: int, upload_id: str | None = None) -> Upload:
        """A new upload of `size` bytes (under `upload_id` when the browser chose it), or IntakeError
        "too_large" (one upload) or "uploads_full" (past a cap: the client tries again later). An
        IntegrityError from the commit means an upload with this id exists already."""
        if not 0 < size <= self.max_size:
            raise IntakeError("too_large")
        with self._admitting:
            self._admit(session, desk, size)
            upload = Upload(id=upload_id or secrets.token_hex(16), desk_id=desk.id, size=size)
            self._stage(session, upload.id)
            session.add(upload)
            session.commit()
        return upload

    def _admit(self, session: Session, desk: Desk, size: int) -> None:
        """Refuse past a cap, counting under a lock every process's starts take (db.lock_for_writing),
        held until the caller commits the new upload: two starts never both take the last place."""
        if self.limits is None:
            return
        self._sweep_if_pressed(session, desk, self.limits)
        db.lock_for_writing(session, "uploads.start")
        open_now, held = _usage(session, desk)
        if not self.limits.admits(open_now, size):
            session.rollback()  # lets the next start in at once
            raise IntakeError("uploads_full")
        if not self.limits.has_room(held, size):
            session.rollback()
            raise IntakeError("store_full")

    def check_room(self, session: Session, desk: Desk, size: int) -> None:
        """IntakeError "store_full" if `size` more bytes of ciphertext would take the desk's (or the
        instance's) store past its budget: the no-JS path asks before it seals."""
        if self.limits is not None and not self.limits.has_room(_usage(session, desk)[1], size):
            raise IntakeError("store_full")

    def _sweep_if_pressed(self, session: Session, desk: Desk, limits: UploadLimits) -> None:
        """Past `limits.pressure` of a cap, abandoned uploads go after `pressure_idle_s` already."""
        if time.monotonic() < self._next_pressure_sweep or not limits.pressed(self.open_now(session, desk)):
            return
        every = min(PRESSURE_SWEEP_EVERY, limits.pressure_idle_s)  # no use sweeping sooner
        self._next_pressure_sweep = time.monotonic() + every
        self.sweep(session, limits.pressure_idle_s)

    def open_now(self, session: Session, desk: Desk) -> tuple[int, int, int, int]:
        """The desk's open uploads and the bytes they declare, then everyone's."""
        return _usage(session, desk, held=False)[0]

    def append(self, session: Session, upload: Upload, offset: int, body: BinaryIO, length: int) -> int:
        """Append the `length` bytes `body` holds at `offset`, copying 64 KiB at a time (a piece is never
        held whole); a retried piece we already hold is accepted again, idempotently. One writer per
        upload at a time, across threads and processes: the offset is checked against the row read
        under an exclusive lock on the .part file, and the new offset committed before it is let go."""
        try:
            f = open(self.path(upload.id), "r+b")  # noqa: SIM115 (closed below; closing releases the lock)
        except FileNotFoundError:  # finished or swept a moment ago
            raise IntakeError("unknown_upload") from None
        with f:
            fcntl.flock(f, fcntl.LOCK_EX)
            _reread(session, upload)
            if offset != upload.received:
                if offset < upload.received and offset + length <= upload.received:
                    return upload.received  # a retry of a piece we already hold
                raise IntakeError("wrong_offset")
            if upload.received + length > upload.size:
                raise IntakeError("too_large")
            _write_piece(f, offset, body, length)
            upload.received += length
            session.commit()
            return upload.received

    def check(self, upload: Upload, keys: Sequence[RecipientKey]) -> None:
        """Refuse the upload unless it is complete and an envelope to exactly `keys`."""
        if upload.received != upload.size:
            raise IntakeError("incomplete_upload")
        try:
            with self._read(upload.id) as f:
                sealed_to = set(crypto.recipient_key_ids(f))
        except crypto.EnvelopeError:
            raise IntakeError("not_an_envelope") from None
        except FileNotFoundError:  # finished by a concurrent request a moment ago
            raise IntakeError("unknown_upload") from None
        if sealed_to != {k.key_id for k in keys}:
            raise IntakeError("wrong_recipients")

    @contextmanager
    def finishing(
        self, session: Session, store: FileBlobStore, uploads: Sequence[Upload], keys: Sequence[RecipientKey]
    ) -> Iterator[list[str]]:
        """All or nothing: check every upload first, then move them all into the store and yield their
        blob ids for the caller to file and commit. If anything in the block fails (a later step, the
        commit itself), the session is rolled back and the files go back where they were, so the
        upload rows the rollback restores still point at their files and the client can retry."""
        self.put_back_moved(session, store, uploads)
        _lock_all(session, uploads)  # a crashed finishing is put back only when none is on its way
        for upload in uploads:
            self.check(upload, keys)
        moved: list[str] = []
        try:
            for upload in uploads:
                moved.append(store.adopt(self.path(upload.id), self.blob_id(upload.id)))
                session.delete(upload)
            yield moved
        except BaseException:
            session.rollback()
            for upload, blob_id in zip(uploads, moved, strict=False):
                store.give_back(blob_id, self.path(upload.id))
            raise

    def put_back_moved(self, session: Session, store: FileBlobStore, uploads: Sequence[Upload]) -> None:
        """Undo the moves of a `finishing` that a crash (kill -9, power cut) cut off before its commit:
        an upload whose row still exists was never filed, so if its file is gone from uploads/ but a
        blob of its name (`blob_id`) is in the store and no part names it, that blob is its file, and it
        goes back. The report call then goes on: the upload resumes instead of being sent anew. Decided
        under the locks `finishing` holds until its commit, so a finishing still on its way (a twin
        request) is waited for, never undone; IntakeError "unknown_upload" if it filed the upload."""
        if all(self.path(u.id).exists() for u in uploads):
            return
        _lock_all(session, uploads)
        for upload in uploads:
            _reread(session, upload)
            path, blob_id = self.path(upload.id), self.blob_id(upload.id)
            if path.exists() or not store.exists(blob_id) or _named_by_a_part(session, blob_id):
                continue  # whole, or truly gone (swept): `check` says unknown_upload
            store.give_back(blob_id, path)
            os.utime(path)  # written to just now, as far as the sweep of idle uploads should know

    def sweep_if_due(self, session: Session, store: BlobStore, max_age_s: float) -> int:
        """Sweep at most once per SWEEP_EVERY per process, and never in two threads at once."""
        if time.monotonic() < self._next_sweep or not self._sweeping.acquire(blocking=False):
            return 0
        try:
            self._next_sweep = time.monotonic() + SWEEP_EVERY
            return self.sweep_abandoned(session, store, max_age_s)
        finally:
            self._sweeping.release()

    def sweep_abandoned(self, session: Session, store: BlobStore, max_age_s: float) -> int:
        """Abandoned uploads (`sweep`), the temporary files a crashed blob writer left, the blobs a crash
        left without a row (once two days old), and old filed forms' tokens. Returns how many of
        these it deleted."""
        swept = self.sweep(session, max_age_s) + store.sweep_incoming(max_age_s)
        swept += store.sweep_orphans(lambda: self.named_blob_ids(session))
        return swept + sweep_form_tokens(session)

    def named_blob_ids(self, session: Session) -> set[str]:
        """Every blob a row leads to: submissions' parts, replies, and the blob each open upload's name
        would have, which a finishing cut off by a crash left behind and `put_back_moved` takes back
        when the reporter returns (it becomes an orphan once the sweep deletes its upload row)."""
        filed = select(Part.blob_id).union(select(Reply.blob_id))
        named = set(session.scalars(filed))
        named.update(self.blob_id(upload_id) for upload_id in session.scalars(select(Upload.id)))
        return named

    def sweep(self, session: Session, max_age_s: float, now: float | None = None) -> int:
        """Delete abandoned uploads: a .part file nobody wrote to for `max_age_s` (with its row), and a
        row whose file is gone and that is older than that. Returns how many were deleted. What is
        swept is ciphertext only; the reporter's browser starts a new upload when it comes back."""
        now = time.time() if now is None else now
        rows = {u.id: u for u in session.scalars(select(Upload))}
        removed = 0
        for path in self.root.glob("*.part"):
            try:
                idle = now - path.stat().st_mtime
            except FileNotFoundError:  # finished a moment ago
                continue
            if idle >= max_age_s:
                path.unlink(missing_ok=True)
                removed += 1
                if (row := rows.pop(path.stem, None)) is not None:
                    session.delete(row)
        oldest_kept = dt.datetime.fromtimestamp(now - max_age_s, dt.UTC).date()
        for upload_id, row in rows.items():
            if row.created_day < oldest_kept and not self.path(upload_id).exists():
                session.delete(row)
                removed += 1
        session.commit()
        return removed


def _lock_all(session: Session, uploads: Sequence[Upload]) -> None:
    """Take the finishing lock of every upload, in one order for every caller (no deadlock between
    two calls naming the same uploads); held until the session's transaction ends."""
    for upload_id in sorted(u.id for u in uploads):
        db.lock_for_writing(session, f"uploads.finish:{upload_id}")


def _named_by_a_part(session: Session, blob_id: str) -> bool:
    """Whether a filed part names this blob: an upload id used again after its upload was filed
    leads to the blob of the first, which is not its to take back."""
    return session.scalar(select(Part.id).where(Part.blob_id == blob_id).limit(1)) is not None


def _reread(session: Session, upload: Upload) -> None:
    """The row as another writer may just have left it (read under the file's lock)."""
    try:
        session.refresh(upload)
    except InvalidRequestError:  # deleted: the upload was finished or swept meanwhile
        raise IntakeError("unknown_upload") from None


def _write_piece(f: BinaryIO, offset: int, body: BinaryIO, length: int) -> None:
    f.seek(offset)
    copied = 0
    while copied < length and (chunk := body.read(min(COPY_CHUNK, length - copied))):
        f.write(chunk)
        copied += len(chunk)
    if copied != length:  # the body ended early: drop what arrived, the client resends
        f.truncate(offset)
        raise IntakeError("short_piece")
    f.truncate()
