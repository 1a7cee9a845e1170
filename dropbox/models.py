"""The database: routing metadata and pointers to ciphertext, never report content (invariant 2).

What a case row knows: its desk, a public case number, the lookup id derived from the receipt (so the
reporter can come back) and the reply public key (so officers can answer). What a submission row
knows: which path sealed it, the day it arrived, its size (bucketed by the envelope's padding) and
where its blobs are. Times are days, not seconds.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

if TYPE_CHECKING:
    from crypto import PublicKey


class Base(DeclarativeBase):
    pass


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


category_officers = Table(
    "category_officers",
    Base.metadata,
    Column("category_id", ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True),
    Column("officer_id", ForeignKey("officers.id", ondelete="CASCADE"), primary_key=True),
)


class Desk(Base):
    """A tenant: a municipality, a police unit, an internal-security unit."""

    __tablename__ = "desks"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    names: Mapped[dict] = mapped_column(JSON)  # language -> name
    default_language: Mapped[str] = mapped_column(String(8), default="en")
    # Days ciphertext stays on the server after the viewer confirmed importing it.
    retention_days: Mapped[int] = mapped_column(Integer, default=30)
    created_day: Mapped[dt.date] = mapped_column(Date, default=today)

    officers: Mapped[list[Officer]] = relationship(back_populates="desk", foreign_keys="Officer.desk_id")
    categories: Mapped[list[Category]] = relationship(
        back_populates="desk", foreign_keys="Category.desk_id", order_by="Category.position"
    )
    places: Mapped[list[Place]] = relationship(back_populates="desk", order_by="Place.position")

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names.get(self.default_language) or self.slug


class Officer(Base):
    """A registered officer public key; sealed reports go to confirmed officers only."""

    __tablename__ = "officers"
    __table_args__ = (UniqueConstraint("desk_id", "key_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    public_key: Mapped[str] = mapped_column(String(200))  # the sealdrop-public-key-v1 line
    key_id: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(40))
    confirmed: Mapped[bool] = mapped_column(default=False)  # fingerprint read back by phone
    # Retired: no new report is sealed to this key; what was sealed to it before still opens.
    retired: Mapped[bool] = mapped_column(default=False, server_default=false())
    demo: Mapped[bool] = mapped_column(default=False)
    created_day: Mapped[dt.date] = mapped_column(Date, default=today)
    # The chain of reply bundles this officer signed (docs/bundles.md): last accepted.
    reply_sequence: Mapped[int] = mapped_column(Integer, default=0)
    reply_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The key that replaced this one by a rotate statement (docs/key-trust.md), or None.
    successor_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"), nullable=True)

    desk: Mapped[Desk] = relationship(back_populates="officers", foreign_keys=[desk_id])
    successor: Mapped[Officer | None] = relationship(remote_side=[id], foreign_keys=[successor_id])

    @classmethod
    def for_key(cls, desk: Desk, name: str, key: PublicKey, *, confirmed: bool) -> Officer:
        """A new registration of `key` (a sealdrop-public-key-v1) for `desk`: the CLI's and the admin
        page's one way to make one."""
        key_id = key.recipient.key_id.hex()
        return cls(desk=desk, name=name, public_key=key.encode(), key_id=key_id,
                   fingerprint=key.fingerprint, confirmed=confirmed)  # fmt: skip


class Category(Base):
    """What happened, as the reporter picks it; decides which desk's keys seal the report."""

    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("desk_id", "slug"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(40))
    names: Mapped[dict] = mapped_column(JSON)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Reports in this category are filed with (and sealed only to) this desk, e.g. corruption by a
    # police officer goes to internal security, never to the police desk itself.
    route_desk_id: Mapped[int | None] = mapped_column(ForeignKey("desks.id"), nullable=True)

    desk: Mapped[Desk] = relationship(back_populates="categories", foreign_keys=[desk_id])
    route_desk: Mapped[Desk | None] = relationship(foreign_keys=[route_desk_id])
    officers: Mapped[list[Officer]] = relationship(secondary=category_officers)

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names.get("en") or self.slug

    @property
    def target_desk(self) -> Desk:
        return self.route_desk or self.desk

    def recipients(self) -> list[Officer]:
        """The keys a report in this category is sealed to: explicit ones, else the target desk's."""
        chosen = self.officers or self.target_desk.officers
        return [o for o in chosen if o.confirmed and not o.retired]


class Place(Base):
    """A landmark from the desk's own list (a school, a park), offered as "where"."""

    __tablename__ = "places"
    id: Mapped[int] = mapped_column(primary_key=True)
    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id", ondelete="CASCADE"))
    names: Mapped[dict] = mapped_column(JSON)
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    position: Mapped[int] = mapped_column(Integer, default=0)

    desk: Mapped[Desk] = relationship(back_populates="places")

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names.get("en") or next(iter(self.names.values()), "")


class MapSheet(Base):
    """A georeferenced picture of part of the desk's town (docs/maps.md): a reporter taps the place on
    it. The picture is a PNG re-encoded by sealdrop (dropbox/maps.py), kept here, served by sealdrop."""

    __tablename__ = "map_sheets"
    __table_args__ = ({"sqlite_autoincrement": True},)  # a removed sheet's id is never given again
    id: Mapped[int] = mapped_column(primary_key=True)
    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id", ondelete="CASCADE"), index=True)
    names: Mapped[dict] = mapped_column(JSON)  # language -> name
    # The edges in degrees (WGS 84); pixels are linear in longitude and latitude between them.
    south: Mapped[float]
    west: Mapped[float]
    north: Mapped[float]
    east: Mapped[float]
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    image: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)  # loaded only to serve or export it
    attribution: Mapped[str] = mapped_column(String(300), default="")
    licence: Mapped[str] = mapped_column(String(100), default="")
    # A closer sheet inside another one (the zoom of the map's JavaScript).
    detail_of_id: Mapped[int | None] = mapped_column(ForeignKey("map_sheets.id"), nullable=True)
    created_day: Mapped[dt.date] = mapped_column(Date, default=today)

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names.get("en") or next(iter(self.names.values()), "")


class Case(Base):
    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id"))
    number: Mapped[str] = mapped_column(String(16), unique=True)
    lookup_id: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    reply_public: Mapped[bytes] = mapped_column(LargeBinary(32))
    received_day: Mapped[dt.date] = mapped_column(Date, default=today)

    desk: Mapped[Desk] = relationship()
    submissions: Mapped[list[Submission]] = relationship(back_populates="case", order_by="Submission.id")
    replies: Mapped[list[Reply]] = relationship(back_populates="case", order_by="Reply.id")


class SubmissionToken(Base):
    """A no-JS report form already filed: a keyed hash of its single-use form token and the case it
    opened, so a reload or a double tap of the same form shows that case instead of filing again.
    Kept for a day or two only (longer than the form token lives), swept with abandoned uploads."""

    __tablename__ = "submission_tokens"
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    created_day: Mapped[dt.date] = mapped_column(Date, default=today)

    case: Mapped[Case] = relationship()


class Submission(Base):
    """One sealed report, or one later addition to it."""

    __tablename__ = "submissions"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id"))
    sealed_by: Mapped[str] = mapped_column(String(8))  # "browser" or "server"
    received_day: Mapped[dt.date] = mapped_column(Date, default=today)
    size: Mapped[int] = mapped_column(BigInteger)
    exported_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    deleted_day: Mapped[dt.date | None] = mapped_column(Date, nullable=True)  # ciphertext removed

    case: Mapped[Case] = relationship(back_populates="submissions")
    parts: Mapped[list[Part]] = relationship(back_populates="submission", order_by="Part.position")


class Part(Base):
    """One envelope of a submission: position 0 is the report, the rest are its attachments."""

    __tablename__ = "parts"
    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    blob_id: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(BigInteger)
    # A small envelope itself (intake.INLINE_MAX_BYTES; migration 0013); NULL: it is the blob `blob_id`.
    data: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)

    submission: Mapped[Submission] = relationship(back_populates="parts")


class Upload(Base):
    """A resumable upload of one envelope from the browser, in pieces, before it joins a submission."""

    __tablename__ = "uploads"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id"))
    size: Mapped[int] = mapped_column(BigInteger)
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    created_day: Mapped[dt.date] = mapped_column(Date, default=today)


class BlobObject(Base):
    """A blob kept as a PostgreSQL large object (config `blob_store = "postgresql"`, dropbox/blobs.py,
    LargeObjectStore), which several instances on several machines reach. Empty with the file store."""

    __tablename__ = "blob_objects"
    blob_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    oid: Mapped[int] = mapped_column(BigInteger, unique=True)  # the large object
    size: Mapped[int] = mapped_column(BigInteger)
    received_day: Mapped[dt.date] = mapped_column(Date)  # the day only, as a file blob's times
    # While it holds an upload's pieces: the upload, and the minute they were last written (the sweep
    # of idle uploads); both NULL once the upload is filed.
    upload_id: Mapped[str | None] = mapped_column(String(32), unique=True, nullable=True)
    touched: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Reply(Base):
    """An officer's answer, sealed to the reporter's reply key (arrives in a reply bundle)."""

    __tablename__ = "replies"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    blob_id: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(BigInteger)
    received_day: Mapped[dt.date] = mapped_column(Date, default=today)

    case: Mapped[Case] = relationship(back_populates="replies")


# The officers an export bundle waits for (docs/two-officers.md): the desk's confirmed, non-retired
# officers when it was made. A key added later is not waited for; one retired later no longer is.
export_awaits = Table(
    "export_awaits",
    Base.metadata,
    Column("export_log_id", ForeignKey("export_log.id", ondelete="CASCADE"), primary_key=True),
    Column("officer_id", ForeignKey("officers.id", ondelete="CASCADE"), primary_key=True),
)


class ExportLog(Base):
    """Export bundles made for a desk: the chain the viewer checks, and confirmations coming back."""

    __tablename__ = "export_log"
    __table_args__ = (UniqueConstraint("desk_id", "sequence"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id"))
    sequence: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_day: Mapped[dt.date] = mapped_column(Date, default=today)
    # The day retention's clock started: when the last officer it waits for confirmed it (or the
    # first, with retention_waits_for "any_officer"); None while it waits. bundles.settle sets it.
    confirmed_day: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    # The manifest's own fields as signed (bundles.export), so that export_again writes the same bytes
    # whatever changed since; map sheet pictures by sha256 only (up to 8 MiB a desk). NULL before 0011.
    fields: Mapped[dict | None] = mapped_column(JSON, nullable=True)

    awaited: Mapped[list[Officer]] = relationship(secondary=export_awaits, order_by="Officer.id")
    confirmations: Mapped[list[ExportConfirmation]] = relationship(
        back_populates="export", cascade="all, delete-orphan", order_by="ExportConfirmation.day"
    )


class ExportConfirmation(Base):
    """One officer's viewer confirmed importing an export bundle (in a reply bundle it signed)."""

    __tablename__ = "export_confirmations"
    export_log_id: Mapped[int] = mapped_column(
        ForeignKey("export_log.id", ondelete="CASCADE"), primary_key=True
    )
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, default=today)

    export: Mapped[ExportLog] = relationship(back_populates="confirmations")
    officer: Mapped[Officer] = relationship()


# --- the desk: clerks and admins, their sessions, throttled logins, the audit log -----------------
# Officials' accounts, not reporters': seconds are kept where a timeout needs them, never an address.


class DeskUser(Base):
    """A desk login: Argon2id password hash plus a TOTP secret (sealed under the instance's secret key)."""

    __tablename__ = "desk_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    role: Mapped[str] = mapped_column(String(8))  # "admin" or "clerk"
    desk_id: Mapped[int | None] = mapped_column(ForeignKey("desks.id"), nullable=True)  # clerk's desk
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_secret: Mapped[str] = mapped_column(String(200))
    totp_last_step: Mapped[int] = mapped_column(BigInteger, default=0)  # a used code is never taken again
    disabled: Mapped[bool] = mapped_column(default=False)
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)  # None: the browser's
    created_day: Mapped[dt.date] = mapped_column(Date, default=today)

    desk: Mapped[Desk | None] = relationship()


class DeskSession(Base):
    """A server-side desk session. The cookie holds a random token; the table only its SHA-256."""

    __tablename__ = "desk_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("desk_users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime)

    user: Mapped[DeskUser] = relationship()


class LoginThrottle(Base):
    """Failed desk logins, per account (keyed by a keyed hash of the typed name) and globally."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[dt.datetime] = mapped_column(DateTime)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class AuditEntry(Base):
    """Who did what on which desk, on which day. Never anything a reporter sent or is."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, default=today)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40))
    desk: Mapped[str | None] = mapped_column(String(40), nullable=True)
    detail: Mapped[str] = mapped_column(String(200), default="")


class PlacementCount(Base):
    """How often a desk's page was opened from posters carrying one placement tag (?src=school-5), per
    day. Only the count: no address, no time of day, no cookie, never a link to a report or case."""

    __tablename__ = "placement_counts"
    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class KeyChange(Base):
    """A change to who can read a desk's reports (docs/key-trust.md): a key registered, confirmed,
    rotated or retired, or a category routed to other readers. Carried, once, in the desk's next
    export manifest (`exported_seq`), so the officers see every change, and who made it."""

    __tablename__ = "key_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id", ondelete="CASCADE"), index=True)
    day: Mapped[dt.date] = mapped_column(Date, default=today)
    # registered, confirmed, bootstrap, rotated, retired, removed, routing
    action: Mapped[str] = mapped_column(String(20))
    key_id: Mapped[str] = mapped_column(String(32), default="")
    fingerprint: Mapped[str] = mapped_column(String(40), default="")
    name: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[str] = mapped_column(String(200), default="")
    actor: Mapped[str] = mapped_column(String(80))  # a desk user's name, "cli", or the signer's key id
    by_officer: Mapped[bool] = mapped_column(default=False)  # signed by a confirmed officer of the desk
    # The key statement it came from (crypto/statement.py): the viewer checks its signature itself.
    statement: Mapped[str | None] = mapped_column(String(4096), nullable=True)
    exported_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)


class KeyStatementSeen(Base):
    """Every key statement a desk applied, by nonce and hash: the same one twice is a replay."""

    __tablename__ = "key_statements"
    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id", ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column(Date, default=today)


class DeskStorage(Base):
    """The ciphertext bytes a desk's filed submissions hold (not deleted by retention): a running total,
    moved in the transaction that files or deletes (intake.add_stored), so the store's budget is read
    in one small statement instead of summing every submission on every report."""

    __tablename__ = "desk_storage"
    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id", ondelete="CASCADE"), primary_key=True)
    stored_bytes: Mapped[int] = mapped_column(BigInteger, default=0)


class ConfigVersion(Base):
    """One row whose number the database moves (by triggers, migration 0012) with every change to what
    a report page shows or whom a report is sealed to: the report page's cache is checked against it on
    every request (dropbox/pagecache.py)."""

    __tablename__ = "config_version"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)
