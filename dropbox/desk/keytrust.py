"""Who may change a desk's keys (docs/key-trust.md; DESIGN.md invariant 8: desks do not trust each other).

A desk that has ever had a confirmed officer key takes a new recipient only on its own word: a key
statement (crypto/statement.py) signed by one of its confirmed, unretired officer keys. An admin
(the global one, or the desk's own) can register a key, but it stays pending (not sealed to) until
such a statement arrives. Only a brand-new desk's first key is confirmed by an admin, by reading its
fingerprint back (trust on first use). What an admin alone can still do is take away: retire a key,
remove a pending one. That can stop a desk from working; it never lets anyone read its reports.

Every change is a KeyChange row, carried in the desk's next export manifest (`export_fields`) with
the desk's current recipients, so the officers see who can read their desk's reports, and whether
one of them said so. No Flask here: the admin pages, the CLI and the reply-bundle import share it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crypto import PublicKey
from crypto import statement as st

from ..models import Category, Desk, DeskUser, ExportLog, KeyChange, KeyStatementSeen, Officer
from . import audit

MAX_STATEMENTS = 20  # in one reply bundle
MAX_CHANGES = 200  # carried in one export manifest; older ones stay in the database and audit log


def _(message: str) -> str:
    """Marks a message for the catalogue; the pages translate it (KeyTrustError.text), the CLI too."""
    return message


class KeyTrustError(ValueError):
    """A key change refused; `reason` is a short code, `message` and `values` say it in any language."""

    def __init__(self, reason: str, message: str, **values: object) -> None:
        super().__init__(message % values if values else message)
        self.reason, self.message, self.values = reason, message, values

    def text(self, translate) -> str:
        return translate(self.message) % self.values if self.values else translate(self.message)


# --- who may do what -------------------------------------------------------------------------------


def may_administer(user: DeskUser | None, desk: Desk) -> bool:
    """An admin with no desk administers every desk; an admin of a desk, that desk only."""
    return user is not None and user.role == "admin" and user.desk_id in (None, desk.id)


def has_officers(desk: Desk, *, besides: Officer | None = None) -> bool:
    """Whether `desk` ever had a confirmed key (retired ones count): then only it admits new ones."""
    return any(o.confirmed and o is not besides for o in desk.officers)


def recipients(desk: Desk) -> list[Officer]:
    return [o for o in desk.officers if o.confirmed and not o.retired]


# --- the record ------------------------------------------------------------------------------------


def record(
    session: Session,
    desk: Desk,
    action: str,
    actor: str,
    *,
    officer: Officer | None = None,
    by_officer: bool = False,
    detail: str = "",
    statement: st.Statement | None = None,
) -> KeyChange:
    change = KeyChange(
        statement=statement.encode() if statement else None,
        desk_id=desk.id, action=action, actor=actor[:80], by_officer=by_officer, detail=detail[:200],
        key_id=officer.key_id if officer else "", fingerprint=officer.fingerprint if officer else "",
        name=officer.name[:200] if officer else "",
    )  # fmt: skip
    session.add(change)
    return change


# --- what an admin does ----------------------------------------------------------------------------


def register(session: Session, desk: Desk, name: str, key: PublicKey, actor: str) -> Officer:
    """A key registered by an admin: pending (never sealed to) until confirmed."""
    if any(o.key_id == st.key_id_of(key) for o in desk.officers):
        raise KeyTrustError("exists", _("this key is already registered for desk %(desk)s"), desk=desk.slug)
    officer = Officer.for_key(desk, name, key, confirmed=False)
    session.add(officer)
    session.flush()
    record(session, desk, "registered", actor, officer=officer)
    return officer


def confirm_by_admin(session: Session, officer: Officer, actor: str) -> None:
    """An admin confirms a key by its fingerprint: only the first key of a desk that never had one."""
    if officer.retired:
        raise KeyTrustError("retired", _("a retired key stays retired: register a new key"))
    if officer.confirmed:
        return
    if has_officers(officer.desk, besides=officer):
        raise KeyTrustError(
            "needs_statement",
            _(
                "desk %(desk)s already has officers: a new key becomes a recipient only with a key "
                "statement signed by one of them (sealview confirm-key, then sealdrop officer statement)"
            ),
            desk=officer.desk.slug,
        )
    officer.confirmed = True
    record(session, officer.desk, "bootstrap", actor, officer=officer)


def retire(session: Session, officer: Officer, actor: str, *, statement: st.Statement | None = None) -> None:
    officer.retired = True
    record(
        session,
        officer.desk,
        "retired",
        actor,
        officer=officer,
        by_officer=bool(statement),
        statement=statement,
    )


def removed(session: Session, officer: Officer, actor: str) -> None:
    """A pending key deleted by an admin (the caller deletes the row)."""
    record(session, officer.desk, "removed", actor, officer=officer)


def readers(category: Category) -> set[str]:
    """The key ids that read a category's reports now."""
    return {o.key_id for o in category.recipients()}


def routing_changed(
    session: Session, category: Category, before: set[str] | None, target_before: str, actor: str
) -> None:
    """Record a category change that adds readers to its reports or sends them to another desk;
    `before` is None for a new category (recorded only when it is routed to another desk)."""
    target = category.target_desk
    added = readers(category) - (before or set())
    moved = target.slug != target_before
    if (before is not None and added) or moved:
        detail = f"{category.slug} -> {target.slug}, {len(added)} new readers"
        record(session, category.desk, "routing", actor, detail=detail)
        if target.id != category.desk.id:
            record(session, target, "routing", actor, detail=f"{category.desk.slug}/{detail}")


# --- what an officer says --------------------------------------------------------------------------


@dataclass
class Applied:
    statement: st.Statement
    officer: Officer  # the subject's row
    skipped: bool = False  # the very same statement had been applied before (only from a bundle)


def parse(text: str) -> st.Statement:
    try:
        return st.parse(text)
    except st.StatementError as e:
        raise _refused(e) from None


def _refused(e: st.StatementError) -> KeyTrustError:
    words = {
        "truncated": _("the key statement is truncated (a copy that did not finish?)"),
        "bad_signature": _("the key statement's signature does not verify: it was altered or forged"),
        "wrong_signer": _("the key statement is not signed by the key it names"),
        "unknown_version": _("the key statement is of a version this server does not know"),
        "not_a_statement": _("this is not a key statement file"),
    }
    return KeyTrustError(e.reason, words.get(e.reason, _("the key statement is malformed")))


def _signer(session: Session, desk: Desk, statement: st.Statement) -> Officer:
    own = next((o for o in desk.officers if o.key_id == statement.signer), None)
    if own is not None and own.confirmed and not own.retired:
        return own
    if own is not None:
        raise KeyTrustError(
            "retired_signer", _("the key statement is signed by a key that is not (or no longer) a recipient")
        )
    elsewhere = session.scalar(select(Officer).where(Officer.key_id == statement.signer))
    if elsewhere is not None:
        raise KeyTrustError(
            "foreign_signer",
            _("the key statement is signed by an officer of another desk: desks do not trust each other"),
        )
    raise KeyTrustError("unknown_signer", _("the key statement is signed by no officer of desk %(desk)s"),
                        desk=desk.slug)  # fmt: skip


def apply(session: Session, desk: Desk, statement: st.Statement, *, from_bundle: bool = False) -> Applied:
    """Apply a statement to `desk` in the caller's transaction (the caller commits), or raise."""
    if statement.desk != desk.slug:
        raise KeyTrustError(
            "wrong_desk", _("this key statement is for desk %(given)s, not %(desk)s"),
            given=statement.desk, desk=desk.slug,
        )  # fmt: skip
    seen = session.get(KeyStatementSeen, statement.nonce)
    if seen is None:
        seen = session.scalar(select(KeyStatementSeen).where(KeyStatementSeen.sha256 == statement.sha256))
    if seen is not None:
        subject = next((o for o in desk.officers if o.key_id == statement.subject_key_id), None)
        if from_bundle and seen.sha256 == statement.sha256 and subject is not None:
            return Applied(statement, subject, skipped=True)  # delivered as a file first, then in a bundle
        raise KeyTrustError("replayed", _("this key statement was already applied: a replay is refused"))
    signer = _signer(session, desk, statement)
    try:
        statement.verify(PublicKey.parse(signer.public_key))
    except st.StatementError as e:
        raise _refused(e) from None
    actor = f"officer {signer.key_id[:16]}"
    officer = {"admit": _admit, "rotate": _rotate, "retire": _retire}[statement.action](
        session, desk, statement, signer, actor
    )
    session.add(KeyStatementSeen(nonce=statement.nonce, sha256=statement.sha256, desk_id=desk.id))
    return Applied(statement, officer)


def _subject(desk: Desk, statement: st.Statement) -> Officer | None:
    return next((o for o in desk.officers if o.key_id == statement.subject_key_id), None)


def _make_recipient(session: Session, desk: Desk, statement: st.Statement, name: str) -> Officer:
    officer = _subject(desk, statement)
    if officer is not None and officer.retired:
        raise KeyTrustError("retired", _("a retired key stays retired: register a new key"))
    if officer is not None and officer.confirmed:
        raise KeyTrustError("already", _("this key is already a recipient of desk %(desk)s"), desk=desk.slug)
    if officer is None:
        officer = Officer.for_key(desk, name or "officer", statement.subject, confirmed=False)
        session.add(officer)
    elif name:
        officer.name = name
    officer.confirmed = True
    session.flush()
    return officer


def _admit(session, desk, statement, signer, actor) -> Officer:
    officer = _make_recipient(session, desk, statement, statement.name)
    record(session, desk, "confirmed", actor, officer=officer, by_officer=True, statement=statement)
    return officer


def _rotate(session, desk, statement, signer, actor) -> Officer:
    if statement.subject_key_id == signer.key_id:
        raise KeyTrustError("same_key", _("a key cannot be rotated to itself"))
    new = _make_recipient(session, desk, statement, signer.name)
    for category in session.scalars(select(Category)):  # explicit assignments follow the key
        if signer in category.officers and new not in category.officers:
            category.officers.append(new)
    # The viewer's chain of reply bundles goes on under the new key (docs/key-trust.md, "Rotation").
    new.reply_sequence, new.reply_sha256 = signer.reply_sequence, signer.reply_sha256
    signer.retired, signer.successor = True, new
    signed = {"by_officer": True, "statement": statement}
    record(session, desk, "rotated", actor, officer=new, detail=f"replaces {signer.key_id}", **signed)
    record(session, desk, "retired", actor, officer=signer, detail=f"rotated to {new.key_id}", **signed)
    return new


def _retire(session, desk, statement, signer, actor) -> Officer:
    officer = _subject(desk, statement)
    if officer is None:
        raise KeyTrustError("unknown_key", _("desk %(desk)s has no such key to retire"), desk=desk.slug)
    if not officer.retired:
        retire(session, officer, actor, statement=statement)
    return officer


def advance_chain(officer: Officer, sequence: int, sha256: str) -> None:
    """A reply bundle signed by `officer` was accepted: its chain, and its successor's while the
    successor has not signed one of its own (a rotate statement applied from a file before the
    bundle that carries it arrived), move on."""
    before = (officer.reply_sequence, officer.reply_sha256)
    officer.reply_sequence, officer.reply_sha256 = sequence, sha256
    successor = officer.successor
    while successor is not None and (successor.reply_sequence, successor.reply_sha256) == before:
        successor.reply_sequence, successor.reply_sha256 = sequence, sha256
        successor = successor.successor


def from_bundle(session: Session, desk: Desk, signer: Officer, claimed: object) -> list[Applied]:
    """The `key_statements` of a verified reply bundle signed by `signer`: a list of statement texts."""
    if claimed is None:
        return []
    if (
        not isinstance(claimed, list)
        or len(claimed) > MAX_STATEMENTS
        or not all(isinstance(t, str) for t in claimed)
    ):
        raise KeyTrustError("malformed", _("the reply bundle's key statements are malformed"))
    applied = []
    statements = [parse(text) for text in claimed]
    # A rotation retires the bundle's signer: what else it signed in the same bundle goes first.
    for statement in sorted(statements, key=lambda s: s.action == "rotate"):
        if statement.signer != signer.key_id:
            raise KeyTrustError(
                "wrong_signer", _("a key statement in a reply bundle must be signed by the bundle's signer")
            )
        done = apply(session, desk, statement, from_bundle=True)
        if not done.skipped:  # the audit log names it as the CLI and the admin page do
            detail = f"{done.officer.name}, key {statement.subject_key_id[:16]}"
            audit.record(
                session, f"officer {signer.key_id[:16]}", f"key_{statement.action}", desk.slug, detail
            )
        applied.append(done)
    return applied


# --- the export manifest ---------------------------------------------------------------------------


def waiting(session: Session, desk: Desk) -> int:
    """How many changes to the desk's recipients no export bundle has carried yet."""
    query = select(func.count(KeyChange.id)).where(
        KeyChange.desk_id == desk.id, KeyChange.exported_seq.is_(None)
    )
    return session.scalar(query) or 0


def export_fields(session: Session, desk: Desk, sequence: int) -> dict:
    """`key_changes` and `recipients` for export bundle `sequence`: the changes not carried before
    (marked as carried by this one, in the export's transaction), or those it carried, when the
    same bundle is made again."""
    made = session.scalar(
        select(ExportLog.id).where(ExportLog.desk_id == desk.id, ExportLog.sequence == sequence)
    )
    query = select(KeyChange).where(KeyChange.desk_id == desk.id)
    if made is None:
        changes = list(session.scalars(query.where(KeyChange.exported_seq.is_(None)).order_by(KeyChange.id)))
        for change in changes:
            change.exported_seq = sequence
    else:
        changes = list(
            session.scalars(query.where(KeyChange.exported_seq == sequence).order_by(KeyChange.id))
        )
    return {
        "key_changes": [
            {"day": c.day.isoformat(), "action": c.action, "key_id": c.key_id, "fingerprint": c.fingerprint,
             "name": c.name, "detail": c.detail, "by": c.actor, "by_officer": c.by_officer,
             **({"statement": c.statement} if c.statement else {})}
            for c in changes[-MAX_CHANGES:]
        ],
        "recipients": [
            {"key_id": o.key_id, "fingerprint": o.fingerprint, "name": o.name, "public_key": o.public_key}
            for o in sorted(recipients(desk), key=lambda o: o.id)
        ],
    }  # fmt: skip
