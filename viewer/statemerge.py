"""Merging a colleague's state bundle into this vault (statebundle.py writes them; docs/two-officers.md,
"The state bundle's format"): verified (signed by a colleague kept here, for a desk both serve, sealed
to this officer, next in that colleague's chain), opened, every change checked for shape, and merged
whole or not at all.

    import_state(vault, path) -> Merged

Merging: the later change (by its own time) wins; every change taken lands in the case's history under
the colleague who made it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path

import crypto
from crypto import PublicKey, bundle
from crypto.bundle import BundleError

from .colleagues import Colleague, ensure_tables, find, listed
from .documents import NotAnObject, json_object, one_line
from .errors import Refused
from .i18n import _
from .recipients import MAX_KEY_FILE
from .triage import STATES
from .vault import Vault, locked

MAX_STATE = 16 * 1024 * 1024  # the sealed changes: a few hundred bytes a case
MAX_CHANGES = 100_000
CASE = re.compile(r"[A-Z0-9-]{1,32}")


@dataclass(frozen=True)
class Merged:
    """What an imported state bundle did: the colleague, the cases whose state changed, the states
    not taken (this vault's own change was later), the forwardings recorded."""

    colleague: Colleague
    sequence: int
    changed: list[str]
    kept: list[str]
    forwards: int


@locked
def import_state(vault: Vault, path: Path) -> Merged:
    """Verify a colleague's state bundle and merge it, whole or not at all."""
    ensure_tables(vault)
    colleague, manifest = _verified(vault, Path(path))
    document = _opened(vault, Path(path), manifest)
    states, forwards = _checked_document(document)
    changed, kept, recorded = [], [], 0
    with vault.change() as db:
        for change in states:
            taken = _take(vault, db, colleague, change)
            if taken is not None:
                (changed if taken else kept).append(change["case"])
        for fwd in forwards:
            recorded += _record_forward(vault, db, colleague, fwd)
        db.execute(
            "UPDATE state.colleagues SET last_sequence = ?, last_sha256 = ? WHERE fingerprint = ?",
            (manifest.sequence, manifest.sha256, colleague.fingerprint),
        )
        detail = f"{manifest.data['desk']} #{manifest.sequence} from {colleague.name}"
        vault.history(db, None, "imported state bundle", detail)
    return Merged(colleague, manifest.sequence, changed, kept, recorded)


def _verified(vault: Vault, path: Path) -> tuple[Colleague, bundle.Manifest]:
    """The bundle's colleague and manifest: signed by a colleague kept in this vault, for a desk it
    serves and they work on, sealed to this officer, next in that colleague's chain."""
    claimed = _claimed_signer(path)
    if claimed in _own_fingerprints(vault):  # both officers' bundles travel on one stick
        raise Refused("own_bundle", _("this is your own state bundle: it is for your colleagues' vaults"))
    colleague = next((c for c in listed(vault) if c.fingerprint == claimed), None)
    if colleague is None:
        raise _unknown()
    try:
        manifest = bundle.verify(path, "state", [colleague.key.verify_key])  # that key, and every byte
    except BundleError as e:
        raise _refused(e) from None
    desk = manifest.data.get("desk")
    if desk not in vault.desks or desk != colleague.desk:
        raise Refused(
            "wrong_desk",
            _("this state bundle is for desk %(desk)s, which %(name)s does not share with you here",
              desk=str(desk)[:40], name=colleague.name),
        )  # fmt: skip
    if not set(_own_fingerprints(vault)) & set(manifest.data.get("to") or []):
        raise Refused(
            "not_for_you",
            _("this state bundle is not sealed to you: ask %(name)s to add your key", name=colleague.name),
        )
    row = vault.db.execute(
        "SELECT last_sequence, last_sha256 FROM state.colleagues WHERE fingerprint = ?",
        (colleague.fingerprint,),
    ).fetchone()
    try:
        bundle.check_chain(manifest, row[0], row[1])
    except BundleError as e:
        raise _refused(e) from None
    return colleague, manifest


def _claimed_signer(path: Path) -> object:
    """Whom the manifest says signed it, before the signature is checked (only to pick the key that
    must verify it: the claim of a stranger, or a changed claim, then fails)."""
    with open(path, "rb") as f:
        if f.read(len(bundle.MAGIC)) != bundle.MAGIC:
            raise _refused(BundleError("not_a_bundle", "not a bundle"))
        head = f.read(4)
        length = int.from_bytes(head, "big") if len(head) == 4 else -1
        if not 0 <= length <= bundle.MAX_MANIFEST:
            raise _refused(BundleError("truncated" if length < 0 else "tampered", "length"))
        raw = f.read(length)
    try:
        claimed = json_object(raw, bundle.MAX_MANIFEST)
    except NotAnObject:
        raise _refused(BundleError("truncated" if len(raw) < length else "tampered", "manifest")) from None
    if claimed.get("format") == bundle.KINDS["export"]:  # the stick holds both: say which command it wants
        raise Refused("wrong_kind", _("this is an export bundle: import it with sealview import"))
    if claimed.get("format") != bundle.KINDS["state"]:
        raise _refused(BundleError("wrong_kind", "not a state bundle"))
    return claimed.get("officer")


def _unknown() -> Refused:
    return Refused(
        "unknown_colleague",
        _("this state bundle is not signed by a colleague kept in this vault (see: sealview colleague list)"),
    )


def _own_fingerprints(vault: Vault) -> list[str]:
    """This officer's key, and the keys it replaced (sealview rotate): a colleague who has not yet
    kept the new key seals to the old one."""
    earlier = json.loads(vault.meta("previous_officers") or "[]")
    return [vault.officer.fingerprint, *(e.get("fingerprint") for e in earlier)]


def _refused(e: BundleError) -> Refused:
    """A crypto.bundle refusal in the officer's language."""
    words = {
        "truncated": _("the state bundle is truncated: copy it again"),
        "tampered": _("the state bundle was altered after it was signed"),
        "bad_signature": _(
            "the state bundle was altered after it was signed, or its signer is not who it says"
        ),
        "not_a_bundle": _("this file is not a sealdrop bundle"),
        "wrong_kind": _("this is not a state bundle"),
        "replayed": _("this state bundle was already imported (a replay)"),
        "withheld": _("an earlier state bundle of this colleague is missing: import them in order"),
        "forked": _("this state bundle does not follow the last one imported from this colleague"),
    }
    return Refused(e.reason, words.get(e.reason, str(e)))


def _opened(vault: Vault, path: Path, manifest: bundle.Manifest) -> dict:
    items = manifest.items
    if len(items) != 1 or items[0]["size"] > MAX_STATE:
        raise Refused("tampered", _("the state bundle was altered after it was signed"))
    try:  # read again, hashes checked again: a stick changed since the first read still fails
        with open(path, "rb") as f:
            bundle.read_manifest(f, "state", [find(vault, manifest.data["officer"]).key.verify_key])
            for _meta, reader in bundle.items(f, manifest):
                sealed = reader.read()
    except BundleError as e:
        raise _refused(e) from None
    try:
        plain = crypto.unseal_bytes(sealed, vault.decryption_keys)  # a key rotated away opens too
        return json_object(plain, MAX_STATE)
    except crypto.EnvelopeError:
        raise Refused("not_for_you", _("this state bundle does not open with your key")) from None
    except NotAnObject:
        raise Refused("tampered", _("the state bundle's changes are malformed")) from None


def _checked_document(document: dict) -> tuple[list[dict], list[dict]]:
    """The changes, each checked for shape: a signed bundle from a colleague's viewer is still input."""
    states, forwards = document.get("states"), document.get("forwards")
    ok = (
        isinstance(states, list) and isinstance(forwards, list) and len(states) + len(forwards) <= MAX_CHANGES
    )
    ok = ok and all(_state_ok(s) for s in states) and all(_forward_ok(f) for f in forwards)
    if not ok:
        raise Refused("tampered", _("the state bundle's changes are malformed"))
    return states, forwards


def _when(value: object) -> dt.datetime | None:
    try:
        at = dt.datetime.fromisoformat(value) if isinstance(value, str) and len(value) <= 40 else None
    except ValueError:
        return None
    return at if at is not None and at.tzinfo is not None else None


def _case(value: object) -> bool:
    return isinstance(value, str) and bool(CASE.fullmatch(value))


def _after_ok(after: object) -> bool:
    """The optional `after` of a state change: the change of ours it replaced (officer, at)."""
    if after is None:
        return True
    return (
        isinstance(after, dict) and isinstance(after.get("officer"), str) and len(after["officer"]) <= 40
        and _when(after.get("at")) is not None
    )  # fmt: skip


def _state_ok(s: object) -> bool:
    return (
        isinstance(s, dict) and _case(s.get("case")) and s.get("state") in STATES
        and _when(s.get("at")) is not None and _after_ok(s.get("after"))
        and (_case(s.get("duplicate_of")) if s.get("state") == "duplicate" else s.get("duplicate_of") is None)
    )  # fmt: skip


def _forward_ok(f: object) -> bool:
    if not (isinstance(f, dict) and _case(f.get("case")) and _when(f.get("at")) is not None):
        return False
    if not (isinstance(f.get("recipient"), str) and isinstance(f.get("public_key"), str)):
        return False
    try:
        key = PublicKey.parse(f["public_key"][:MAX_KEY_FILE])
    except crypto.KeyFormatError:
        return False
    return key.fingerprint == f.get("fingerprint")


def _take(vault: Vault, db, colleague: Colleague, change: dict) -> bool | None:
    """Apply one state change unless this vault's own is later (by the changes' own times; a tie goes
    to the higher fingerprint, so both vaults settle on the same state). Returns whether it was taken,
    or None when the case is in that state already."""
    number, at = change["case"], _when(change["at"])
    local = db.execute(
        "SELECT state, duplicate_of, updated_at FROM state.triage WHERE case_number = ?", (number,)
    ).fetchone()
    if local is not None:
        if (local[0], local[1]) == (change["state"], change["duplicate_of"]):
            return None
        mine = _when(local[2])
        after = change.get("after") or {}
        saw_mine = (
            after.get("officer") in _own_fingerprints(vault)
            and mine is not None
            and _when(after["at"]) >= mine
        )
        if (
            not saw_mine  # the colleague changed it after reading this vault's change: theirs is later
            and mine is not None
            and (mine > at or (mine == at and vault.officer.fingerprint > colleague.fingerprint))
        ):
            return False
    db.execute(
        "INSERT OR REPLACE INTO state.triage (case_number, state, duplicate_of, updated_at)"
        " VALUES (?, ?, ?, ?)",
        (number, change["state"], change["duplicate_of"], change["at"]),
    )
    detail = f"{change['state']} of {change['duplicate_of']}" if change["duplicate_of"] else change["state"]
    _history(db, number, change["at"], colleague, "state", detail)
    return True


def _record_forward(vault: Vault, db, colleague: Colleague, fwd: dict) -> int:
    """A colleague's forwarding, kept as theirs (no file here: they hold the sealed case file). One
    already kept is known by the colleague's key, not by their name: they may have been renamed since."""
    seen = db.execute(
        "SELECT 1 FROM state.forwards WHERE case_number = ? AND at = ? AND fingerprint = ?"
        " AND by_fingerprint = ?",
        (fwd["case"], fwd["at"], fwd["fingerprint"], colleague.fingerprint),
    ).fetchone()
    if seen:
        return 0
    name = one_line(fwd["recipient"], 100) or "police"
    db.execute(
        "INSERT INTO state.forwards (case_number, at, actor, recipient, fingerprint, public_key, file,"
        " by_fingerprint) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
        (fwd["case"], fwd["at"], colleague.actor, name, fwd["fingerprint"], fwd["public_key"],
         colleague.fingerprint),
    )  # fmt: skip
    _history(db, fwd["case"], fwd["at"], colleague, "forwarded", f"to {name} ({fwd['fingerprint']})")
    return 1


def _history(db, number: str, at: str, colleague: Colleague, action: str, detail: str) -> None:
    """A colleague's change in the case's history: when they made it, under their name."""
    db.execute(
        "INSERT INTO state.history (case_number, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
        (number, at, colleague.actor, action, detail),
    )
