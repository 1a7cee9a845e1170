"""What the officer does with a case: its state, notes, replies to the reporter, and the reply bundle.

Every action is written to the case's history with who did it and when, in the vault.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import crypto
from crypto import RecipientKey, bundle

from . import keytrust
from .errors import NotFound, Refused, ViewerError
from .i18n import _
from .vault import Vault, locked, now, today

STATES = ("new", "checking", "credible", "not credible", "duplicate", "forwarded", "closed")
# What the reporter reads for each state (dropbox.i18n.statuses has the words in four languages).
REPORTER_STATUS = {
    "new": "received",
    "checking": "checking",
    "credible": "credible",
    "not credible": "not credible",
    "duplicate": "duplicate",
    "forwarded": "forwarded",
    "closed": "closed",
}
MAX_NOTE = 20_000
MAX_REPLY = 10_000


def case_row(vault: Vault, number: str):
    row = vault.db.execute("SELECT * FROM cases WHERE number = ?", (str(number).strip().upper(),)).fetchone()
    if row is None:
        raise NotFound(_("no case %(case)r in this vault", case=number))
    return row


def state_of(vault: Vault, number: str) -> tuple[str, str | None]:
    row = vault.db.execute(
        "SELECT state, duplicate_of FROM state.triage WHERE case_number = ?", (number,)
    ).fetchone()
    return (row[0], row[1]) if row else ("new", None)


@locked
def set_state(vault: Vault, number: str, state: str, duplicate_of: str | None = None) -> None:
    case = case_row(vault, number)
    original = _checked(vault, [case["number"]], state, duplicate_of)
    with vault.change() as db:
        _write_state(vault, db, case["number"], state, original)


@dataclass(frozen=True)
class Bulk:
    """What one bulk triage did: cases whose state changed, cases already in it, statuses queued."""

    changed: list[str]
    unchanged: list[str]
    told: int = 0
    not_told: list[str] = field(default_factory=list)


@locked
def set_states(
    vault: Vault, numbers: list[str], state: str, duplicate_of: str | None = None, *, tell: bool = False
) -> Bulk:
    """Set the state of several cases at once, all or nothing (one vault change). With `tell`, each
    changed case also gets a status-only reply, as `reply(..., status=state)` queues one; a case that
    cannot be answered (no reply key, or a key in doubt) is changed but not told, and named."""
    cases = list(dict.fromkeys(case_row(vault, n)["number"] for n in numbers if str(n).strip()))
    original = _checked(vault, [], state, duplicate_of)
    cases = [n for n in cases if n != original]  # "all of these are duplicates of X", X among them
    if not cases:
        raise Refused("empty", _("choose at least one case"))
    changed = [n for n in cases if state_of(vault, n) != (state, original)]
    word = reporter_status(state)
    told, not_told = [], []
    for n in changed if tell else []:
        (told if _answerable(case_row(vault, n)) else not_told).append(n)
    with vault.change() as db:
        for n in changed:
            _write_state(vault, db, n, state, original)
        for n in told:
            _queue_reply(vault, db, case_row(vault, n), "", word)
    return Bulk(changed, [n for n in cases if n not in changed], len(told), not_told)


def _checked(vault: Vault, cases: list[str], state: str, duplicate_of: str | None) -> str | None:
    """Refuse a state that is not one, or a duplicate without its original; returns the original."""
    if state not in STATES:
        raise Refused(
            "bad_state",
            _("unknown state %(state)r: one of %(states)s", state=state, states=", ".join(STATES)),
        )
    if state != "duplicate":
        return None
    if not duplicate_of:
        raise Refused("bad_state", _("say which case this one duplicates"))
    original = case_row(vault, duplicate_of)["number"]
    if original in cases:
        raise Refused("bad_state", _("a case cannot be a duplicate of itself"))
    return original


def _write_state(vault: Vault, db, number: str, state: str, original: str | None) -> None:
    db.execute(
        "INSERT OR REPLACE INTO state.triage (case_number, state, duplicate_of, updated_at)"
        " VALUES (?, ?, ?, ?)",
        (number, state, original, now()),
    )
    vault.history(db, number, "state", f"{state} of {original}" if original else state)


@locked
def add_note(vault: Vault, number: str, text: str) -> None:
    case = case_row(vault, number)
    text = text.strip()
    if not text:
        raise Refused("empty", _("the note is empty"))
    if len(text) > MAX_NOTE:
        raise Refused("too_long", _("a note holds at most %(n)d characters", n=MAX_NOTE))
    with vault.change() as db:
        db.execute(
            "INSERT INTO state.notes (case_number, at, actor, text) VALUES (?, ?, ?, ?)",
            (case["number"], now(), vault.actor, text),
        )
        vault.history(db, case["number"], "note", f"{len(text)} characters")


def reporter_status(status: str | None) -> str | None:
    """The status word a reply carries: a triage state, or the reporter's own word for it."""
    if status in (None, "", "unchanged"):
        return None
    if status in REPORTER_STATUS:
        return REPORTER_STATUS[status]
    if status in REPORTER_STATUS.values() or status == "received":
        return status
    raise Refused(
        "bad_status",
        _("unknown status %(status)r: one of %(states)s", status=status, states=", ".join(STATES)),
    )


@locked
def reply(vault: Vault, number: str, text: str, status: str | None = None) -> None:
    """Queue a reply for the next reply bundle (and, with `status`, what the reporter sees as status).
    A status alone, without text, is a reply too: it is how a change of status reaches the reporter."""
    case = case_row(vault, number)
    text, word = (text or "").strip(), reporter_status(status)
    if not text and not word:
        raise Refused("empty", _("the reply is empty: write a text, or choose the status the reporter sees"))
    if len(text) > MAX_REPLY:
        raise Refused("too_long", _("a reply holds at most %(n)d characters", n=MAX_REPLY))
    if not _answerable(case):
        if case["reply_warning"]:
            raise Refused(
                "reply_key",
                _(
                    "cannot reply to case %(case)s: %(why)s",
                    case=case["number"],
                    why=_(case["reply_warning"]),
                ),
            )
        raise Refused(
            "reply_key",
            _("case %(case)s has no reply key: the reporter cannot be answered", case=case["number"]),
        )
    with vault.change() as db:
        _queue_reply(vault, db, case, text, word)


def _answerable(case) -> bool:
    """A reply can be sealed to this case's reporter: a reply key, and no doubt about it."""
    return bool(case["reply_public"]) and not case["reply_warning"]


def _queue_reply(vault: Vault, db, case, text: str, word: str | None) -> None:
    db.execute(
        "INSERT INTO state.replies (case_number, desk, at, day, actor, text, status)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (case["number"], case["desk"], now(), today(), vault.actor, text, word),
    )
    shown = f"status shown: {word}" if word else ""
    vault.history(db, case["number"], "reply", shown if text else f"{shown} (status only, no text)")


def reporter_sees(vault: Vault, number: str) -> str:
    """The status the reporter reads now: the last one a reply carried (queued or sent), else
    "received", as the server shows a case nobody has answered."""
    row = vault.db.execute(
        "SELECT status FROM state.replies WHERE case_number = ? AND status IS NOT NULL"
        " ORDER BY id DESC LIMIT 1",
        (number,),
    ).fetchone()
    return row[0] if row else "received"


def pending_replies(vault: Vault, desk: str | None = None) -> list:
    sql = "SELECT * FROM state.replies WHERE bundle_sequence IS NULL"
    args: tuple = ()
    if desk:
        sql, args = sql + " AND desk = ?", (desk,)
    return vault.db.execute(sql + " ORDER BY id", args).fetchall()


@locked
def export_replies(vault: Vault, desk: str | None = None) -> tuple[Path, bundle.Manifest, int]:
    """Write the next signed reply bundle of `desk` (docs/bundles.md, "Reply manifest") into the vault's
    outbox, and record it. Returns the file (ciphertext only: copy it to the stick), its manifest and
    the number of replies. If this raises, the vault has not changed and no bundle was left."""
    desks = vault.desks
    if desk is None:
        if len(desks) != 1:
            raise ViewerError(
                _(
                    "this vault serves several desks (%(desks)s): say which with --desk",
                    desks=", ".join(desks),
                )
            )
        desk = desks[0]
    if desk not in desks:
        raise ViewerError(_("this vault does not serve desk %(desk)r", desk=desk))
    replies = pending_replies(vault, desk)
    confirmations = vault.db.execute(
        "SELECT sequence, sha256 FROM state.confirmations WHERE desk = ? AND reply_sequence IS NULL"
        " ORDER BY sequence",
        (desk,),
    ).fetchall()
    statements = keytrust.queued(vault, desk)  # key statements ride along (docs/key-trust.md)
    signer = keytrust.reply_signer(vault, desk)  # the key the desk knows
    if not replies and not confirmations and not statements:
        raise ViewerError(
            _("nothing to send to desk %(desk)s: no new replies, no bundles to confirm", desk=desk)
        )
    chain = vault.db.execute(
        "SELECT reply_sequence, reply_sha256 FROM state.desks WHERE slug = ?", (desk,)
    ).fetchone()
    sequence = chain[0] + 1
    fields = {
        "desk": desk,
        "officer": signer.public_key.recipient.key_id.hex(),
        "sequence": sequence,
        "previous": chain[1],
        "created_day": today(),
        "confirmations": [{"sequence": s, "sha256": h} for s, h in confirmations],
        **({"key_statements": [q["text"] for q in statements]} if statements else {}),
    }
    outbox = vault.path / "outbox"
    target = outbox / f"replies-{desk}-{sequence}.bundle"
    with tempfile.TemporaryDirectory(prefix=".replies-", dir=outbox) as tmp:
        entries = []  # the items are ciphertext, sealed to each reporter: fine on disk for a moment
        for i, r in enumerate(replies):
            key = RecipientKey(bytes.fromhex(case_row(vault, r["case_number"])["reply_public"]))
            body = {"text": r["text"], "day": r["day"], **({"status": r["status"]} if r["status"] else {})}
            item = Path(tmp) / f"{i}.sealed"
            item.write_bytes(crypto.seal_bytes(json.dumps(body, ensure_ascii=False).encode("utf-8"), [key]))
            entries.append(({"case_number": r["case_number"]}, item))
        partial = Path(tmp) / "bundle.partial"
        with open(partial, "wb") as f:
            manifest = bundle.write(f, "replies", fields, entries, signer.signing_key)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, target)
    try:
        with vault.change() as db:
            db.execute(
                "UPDATE state.desks SET reply_sequence = ?, reply_sha256 = ? WHERE slug = ?",
                (sequence, manifest.sha256, desk),
            )
            db.executemany(
                "UPDATE state.replies SET bundle_sequence = ? WHERE id = ?",
                [(sequence, r["id"]) for r in replies],
            )
            db.executemany(
                "UPDATE state.confirmations SET reply_sequence = ? WHERE desk = ? AND sequence = ?",
                [(sequence, desk, s) for s, _ in confirmations],
            )
            keytrust.mark_sent(vault, db, desk, sequence)
            for r in replies:
                vault.history(db, r["case_number"], "reply sent", f"in reply bundle {desk} #{sequence}")
            vault.history(db, None, "exported reply bundle", f"{desk} #{sequence}: {len(replies)} reply(ies)")
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target, manifest, len(replies)
