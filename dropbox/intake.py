"""Taking in reports: routing, sealing on the no-JS path, checking browser-sealed uploads, storing.

Both paths end in `file_submission`, which commits the rows for envelopes already durable in the
blob store; each path makes the whole submission all or nothing (`seal_and_file` on the no-JS path,
`Uploads.finishing` in dropbox/uploads.py on the JS path), so a refusal leaves no orphan blob and
nothing leaves a half case.
A crash between placing blobs and the commit leaves blobs no row names: an upload's is taken back when
its report call comes again (`Uploads.put_back_moved`), the rest go with the sweep two days later.
The report itself is a JSON document (docs/report.md) sealed as envelope 0; every
attachment is its own envelope, so large videos stream and resume independently.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from sqlalchemy import Insert, bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

import crypto
from crypto import PublicKey, Receipt, RecipientKey
from crypto.receipt import random_symbols

from . import db
from .blobs import BlobStore
from .config import Config
from .models import (
    Case,
    Category,
    Desk,
    DeskStorage,
    Officer,
    Part,
    Submission,
    SubmissionToken,
    today,
)
from .scrub import Clean

if TYPE_CHECKING:
    from .pagecache import DeskRef

REPORT_FORMAT = "sealdrop-report/1"
UPLOAD_MAX_AGE_HOURS = 24  # an upload nobody wrote to for this long is abandoned; config extra may change it
CASE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
INLINE_MAX_BYTES = 64 * 1024  # a sealed envelope up to this size is kept in its row (Part.data)
TOKEN_KEEP_DAYS = 2  # a filed form's token hash outlives the form token itself (hours) by a margin
BUSY_RETRY_AFTER_S = 5  # what a "busy" answer asks the client to wait before it sends again (Retry-After)
# A full store frees room only when the officers export and retention deletes what they imported.
STORE_FULL_RETRY_AFTER_S = 3600


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
    raw = "".join(CASE_ALPHABET[v] for v in random_symbols(8))
    return f"{raw[:4]}-{raw[4:]}"


def filed_case(session: Session, token_hash: bytes) -> FiledCase | None:
    """The case a form with this single-use token already opened, if any (its id and number)."""
    row = session.connection().execute(_FILED_CASE, {"token_hash": token_hash}).first()
    return FiledCase(row.id, row.number) if row is not None else None


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
    with open_part(store, first) as f:
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


@dataclass(frozen=True)
class SmallEnvelope:
    """A sealed envelope of at most INLINE_MAX_BYTES, kept in its part's row (Part.data) rather than
    the blob store: written by the filing's own transaction, with no file and no fsync of its own."""

    blob_id: str  # a name like a blob's, unique all the same: the export and the viewer name parts by it
    data: bytes


Sealed = str | SmallEnvelope  # a blob id in the store, or an envelope for the row


def seal_on_server(
    store: BlobStore, keys: Sequence[RecipientKey], plaintexts: Sequence[bytes | Clean]
) -> list[Sealed]:
    """Seal each plaintext (the report document, then each cleaned file, read piece by piece) from
    memory: the document into memory (a SmallEnvelope when it comes out small, as a text report's
    does; else into the store), each file straight into the blob store. If one fails, the blobs
    already written are deleted again."""
    sealed: list[Sealed] = []
    try:
        for item in plaintexts:
            if isinstance(item, bytes):
                sealed.append(_sealed_document(store, keys, item))
                continue
            with store.writer() as w:
                crypto.seal(item.open(), w, keys)
            sealed.append(w.blob_id)
    except BaseException:
        _delete_blobs(store, sealed)
        raise
    return sealed


def _sealed_document(store: BlobStore, keys: Sequence[RecipientKey], document: bytes) -> Sealed:
    envelope = io.BytesIO()
    crypto.seal(io.BytesIO(document), envelope, keys)
    if envelope.tell() <= INLINE_MAX_BYTES:
        return SmallEnvelope(secrets.token_hex(16), envelope.getvalue())
    with store.writer() as w:
        w.write(envelope.getbuffer())
    return w.blob_id


def check_sealed_to(envelope: BinaryIO, keys: Sequence[RecipientKey]) -> None:
    """Refuse a browser-sealed envelope unless its header names exactly `keys` (IntakeError): the one
    check both ways of sending one pass (uploads.Uploads.check, api's small whole report)."""
    try:
        sealed_to = set(crypto.recipient_key_ids(envelope))
    except crypto.EnvelopeError:
        raise IntakeError("not_an_envelope") from None
    if sealed_to != {k.key_id for k in keys}:
        raise IntakeError("wrong_recipients")


def open_part(store: BlobStore, part: Part) -> BinaryIO:
    """A filed envelope's bytes: from its row when small (Part.data), else from the blob store."""
    return io.BytesIO(part.data) if part.data is not None else store.open(part.blob_id)


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
    except BaseException as error:
        session.rollback()
        if not db.committed(error):  # else the committed rows name these blobs
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
) -> tuple[FiledCase | None, bool]:
    """The no-JS path's filing with a short write section: seal into the store first, while no row is
    written (so no other writer waits on the sealing and its fsyncs), then open the case, claim the form
    and record the submission in one short transaction. Returns (the new case, True), or (the case the
    same form opened a moment ago in a twin request, False), its own blobs deleted again. All or nothing
    as `seal_and_file`; IntakeError if no case number can be had."""
    blob_ids = seal_on_server(store, keys, plaintexts)
    try:
        case = open_case(session, desk, receipt.lookup_id, receipt.reply_recipient.public_bytes)
        if not claim_form(session, form_hash, case):
            _delete_blobs(store, blob_ids)
            return filed_case(session, form_hash), False
        file_submission(session, store, case, desk, blob_ids, "server")
        return case, True
    except BaseException as error:
        session.rollback()
        if not db.committed(error):  # else the committed rows name these blobs
            _delete_blobs(store, blob_ids)
        raise


# The filing path's statements, built once: SQLAlchemy then reuses their compiled form and cache key, where a
# statement built per request (`.values(row)`) cost more CPU than the database spent running it.
_INSERT_CASE = Case.__table__.insert()
_INSERT_TOKEN = SubmissionToken.__table__.insert()
_INSERT_SUBMISSION = Submission.__table__.insert()
_INSERT_PART = Part.__table__.insert()
_FILED_CASE = (
    select(Case.id, Case.number)
    .join(SubmissionToken, SubmissionToken.case_id == Case.id)
    .where(SubmissionToken.token_hash == bindparam("token_hash"))
)


@dataclass(frozen=True)
class FiledCase:
    """A case `open_case` opened with a plain insert (no ORM object): what the receipt page, the API's
    answer, `claim_form` and `file_submission` need of it."""

    id: int
    number: str


def open_case(session: Session, desk: Desk | DeskRef, lookup_id: bytes, reply_public: bytes) -> FiledCase:
    """Open a case in the caller's transaction, with a plain insert (the ORM's unit of work cost more CPU
    than the rest of the filing), under a fresh case number, tried again if the number was taken. The
    unique key keeps lookup ids unique; a caller with a lookup id the browser chose asks `find_case`
    first, so that a receipt used already is told as such ("receipt_in_use"). IntakeError "try_again"
    if no number can be had; each failed try rolls the session back."""
    if len(lookup_id) != 32 or len(reply_public) != 32:
        raise IntakeError("bad_request")
    for _ in range(5):
        number = new_case_number()
        row = {"desk_id": desk.id, "number": number, "lookup_id": lookup_id, "reply_public": reply_public,
               "received_day": today()}  # fmt: skip
        try:
            inserted = session.connection().execute(_INSERT_CASE, row)
        except IntegrityError:  # the rare repeated case number
            session.rollback()
            continue
        return FiledCase(inserted.inserted_primary_key[0], number)
    raise IntakeError("try_again")


def claim_form(session: Session, token_hash: bytes, case: Case | FiledCase) -> bool:
    """Mark the form as filed by `case`, in the case's own transaction, with a plain insert. False if
    another request with the same form got there first: the unique key makes the second insert wait for
    the first transaction (both databases), then fail; the session is rolled back and the caller shows
    the first case."""
    try:
        row = {"token_hash": token_hash, "case_id": case.id, "created_day": today()}
        session.connection().execute(_INSERT_TOKEN, row)
    except IntegrityError:
        session.rollback()
        return False
    return True


def _delete_blobs(store: BlobStore, sealed: Sequence[Sealed]) -> None:
    for blob_id in sealed:
        if isinstance(blob_id, str):  # a SmallEnvelope goes with the rolled-back transaction
            store.delete(blob_id)


def file_submission(
    session: Session,
    store: BlobStore,
    case: Case | FiledCase,
    desk: Desk | DeskRef,
    sealed: Sequence[Sealed],
    sealed_by: str,
) -> int:
    """Record envelopes as one submission, and commit; returns its id. Each is a blob already durable in
    the store, or a SmallEnvelope written into its row here, in the same transaction. Plain inserts, not
    the ORM's unit of work (a third of a no-JS report's database CPU); an ORM case given is flushed
    first (`case.id`) and its `submissions` read again when next used."""
    parts = [_part_row(store, i, item) for i, item in enumerate(sealed)]
    size = sum(p["size"] for p in parts)
    connection = session.connection()
    row = {"case_id": case.id, "desk_id": desk.id, "sealed_by": sealed_by, "size": size,
           "received_day": today()}  # fmt: skip
    submission_id = connection.execute(_INSERT_SUBMISSION, row).inserted_primary_key[0]
    connection.execute(_INSERT_PART, [{**p, "submission_id": submission_id} for p in parts])
    add_stored(session, desk.id, size)
    if isinstance(case, Case):
        session.expire(case, ["submissions"])  # the ORM did not see the rows written here
    session.commit()
    return submission_id


def _part_row(store: BlobStore, position: int, item: Sealed) -> dict:
    if isinstance(item, SmallEnvelope):
        return {"position": position, "blob_id": item.blob_id, "size": len(item.data), "data": item.data}
    return {"position": position, "blob_id": item, "size": store.size(item), "data": None}


def add_stored(session: Session, desk_id: int, size: int) -> None:
    """Move the desk's running total of stored ciphertext by `size` (negative: deleted), in the caller's
    transaction: one atomic upsert, never read-modify-write, so concurrent filings all count. The row
    lock it takes on PostgreSQL is held until the caller commits (a filing's commit follows at once)."""
    if not size:
        return
    connection = session.connection()
    connection.execute(_upsert_stored(connection.dialect.name), {"desk_id": desk_id, "size": size})


@functools.cache
def _upsert_stored(dialect: str) -> Insert:
    """add_stored's upsert for `dialect`, built once (see _INSERT_CASE)."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = DeskStorage.__table__
    upsert = insert(table).values(desk_id=bindparam("desk_id"), stored_bytes=bindparam("size"))
    return upsert.on_conflict_do_update(
        index_elements=[table.c.desk_id], set_={"stored_bytes": table.c.stored_bytes + bindparam("size")}
    )


def upload_max_age_s(cfg: Config) -> float:
    """How long an upload may sit untouched before it is abandoned (config extra `upload_max_age_hours`)."""
    return cfg.extra.get("upload_max_age_hours", UPLOAD_MAX_AGE_HOURS) * 3600


def server_receipt() -> Receipt:
    """No-JS path: the server makes the receipt, shows it once and keeps only what it derives."""
    return Receipt.generate()
