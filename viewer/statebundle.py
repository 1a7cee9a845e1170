"""State bundles between the viewers of one desk's officers (docs/two-officers.md, "The state bundle's
format"): what one officer decided about cases, signed with their Ed25519 key and sealed to the
colleagues kept in the vault (colleagues.py), and merged into a colleague's vault.

    write(vault, out, desk) -> Export      the officer's changes since the last state bundle
    record(vault, export)                  after the file is whole: the next one starts after it
    import_state(vault, path) -> Merged    verified, in order per colleague, merged whole or not at all

Merging: the later change (by its own time) wins; every change taken lands in the case's history under
the colleague who made it. Notes stay private: they never travel.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import crypto
from crypto import PublicKey, bundle
from crypto.bundle import BundleError
from crypto.cli import CliError, atomic_output

from .colleagues import Colleague, chosen_desk, ensure_tables, find, listed, open_vault
from .documents import NotAnObject, json_object, one_line
from .errors import Refused, ViewerError
from .i18n import _, ngettext
from .recipients import MAX_KEY_FILE
from .triage import STATES
from .vault import Vault, locked, now

MAX_STATE = 16 * 1024 * 1024  # the sealed changes: a few hundred bytes a case
MAX_CHANGES = 100_000
CASE = re.compile(r"[A-Z0-9-]{1,32}")
ACTOR_FINGERPRINT = re.compile(r"\(([0-9 ]{20,40})\)$")  # Colleague.actor: "Name (fingerprint)"


# --- exporting ---------------------------------------------------------------------------------------


@dataclass
class Export:
    """A state bundle written, not yet recorded in the vault (record() does, after the file is whole)."""

    desk: str
    manifest: bundle.Manifest
    states: int
    forwards: int
    history_id: int
    forward_id: int
    to: list[Colleague] = field(default_factory=list)


@locked
def write(vault: Vault, out, desk: str | None = None) -> Export:
    """Write the next state bundle of `desk` to `out`: this officer's state changes and forwardings
    since the last one, sealed to the desk's colleagues. Refuses when there is nothing to send."""
    desk = chosen_desk(vault, desk)
    ensure_tables(vault)
    to = listed(vault, desk)
    if not to:
        raise ViewerError(
            _(
                "no colleague kept for desk %(desk)s (add one: sealview colleague add PUBFILE --name N)",
                desk=desk,
            )
        )
    last = vault.db.execute(
        "SELECT sequence, sha256, history_id, forward_id, officer FROM state.state_exports WHERE desk = ?",
        (desk,),
    ).fetchone() or (0, None, 0, 0, None)
    states, forwards, history_id, forward_id = _changes(vault, desk, last[2], last[3])
    if last[4] != vault.officer.fingerprint:  # a new key (sealview rotate) starts a chain of its own
        last = (0, None)
    if not states and not forwards:
        raise ViewerError(
            _(
                "nothing to send to your colleagues on desk %(desk)s: no changes since the last state bundle",
                desk=desk,
            )
        )
    document = {"states": states, "forwards": forwards}
    fields = {
        "desk": desk,
        "officer": vault.officer.fingerprint,
        "sequence": last[0] + 1,
        "previous": last[1],
        "created_at": now(),
        "to": [c.fingerprint for c in to],
    }
    sealed = crypto.seal_bytes(
        json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8"),
        [c.key.recipient for c in to],
    )
    with tempfile.TemporaryDirectory(prefix=".state-", dir=vault.path / "outbox") as tmp:
        item = Path(tmp) / "changes.sealed"  # ciphertext only
        item.write_bytes(sealed)
        manifest = bundle.write(
            out, "state", fields, [({"content": "changes"}, item)], vault.officer.signing_key
        )
    return Export(desk, manifest, len(states), len(forwards), history_id, forward_id, to)


def _changes(vault: Vault, desk: str, history_id: int, forward_id: int) -> tuple[list, list, int, int]:
    """The officer's own state changes and forwardings on `desk` since the given marks, and the new marks.
    A state goes as it is now (the case's latest), with the time it was set. "Own": made under this
    officer's key or one it replaced (a colleague's merged change carries the colleague's name)."""
    marks = [m for fp in _own_fingerprints(vault) for m in (f"({fp})", f"officer {fp}")]  # Vault.actor
    mine = lambda actor: any(actor.endswith(m) for m in marks)  # noqa: E731
    top = vault.db.execute("SELECT coalesce(max(id), 0) FROM state.history").fetchone()[0]
    rows = vault.db.execute(
        "SELECT h.case_number, h.actor FROM state.history h JOIN cases c ON c.number = h.case_number"
        " WHERE h.id > ? AND h.id <= ? AND c.desk = ? AND h.action IN ('state', 'forwarded')",
        (history_id, top, desk),
    )
    states = []
    for number in sorted({number for number, actor in rows if mine(actor)}):
        row = vault.db.execute(
            "SELECT state, duplicate_of, updated_at FROM state.triage WHERE case_number = ?", (number,)
        ).fetchone()
        if row is not None:
            change = {"case": number, "state": row[0], "duplicate_of": row[1], "at": row[2]}
            seen = _seen_before(vault, number, mine)
            states.append(change | ({"after": seen} if seen else {}))
    last_forward = vault.db.execute("SELECT coalesce(max(id), 0) FROM state.forwards").fetchone()[0]
    forwards = [
        {"case": r[0], "at": r[1], "recipient": r[2], "fingerprint": r[3], "public_key": r[4]}
        for r in vault.db.execute(
            "SELECT f.case_number, f.at, f.recipient, f.fingerprint, f.public_key, f.actor"
            " FROM state.forwards f JOIN cases c ON c.number = f.case_number"
            " WHERE f.id > ? AND f.id <= ? AND c.desk = ? ORDER BY f.id",
            (forward_id, last_forward, desk),
        )
        if mine(r[5])
    ]
    return states, forwards, top, last_forward


def _seen_before(vault: Vault, number: str, mine) -> dict | None:
    """The colleague's change this officer's latest change of the case replaced, if it replaced one:
    {"officer", "at"}. The times are to the minute, so a change made just after reading a colleague's
    can carry the same time; this tells the colleague's vault that ours came after theirs."""
    seen = replaced = None
    for actor, at in vault.db.execute(
        "SELECT actor, at FROM state.history WHERE case_number = ? AND action = 'state' ORDER BY id",
        (number,),
    ):
        if mine(actor):
            replaced = seen
        else:
            m = ACTOR_FINGERPRINT.search(actor)
            seen = {"officer": m[1], "at": at} if m else None
    return replaced


@locked
def record(vault: Vault, export: Export) -> None:
    """The state bundle reached its file: the next one starts after it."""
    with vault.change() as db:
        db.execute(
            "INSERT OR REPLACE INTO state.state_exports"
            " (desk, sequence, sha256, officer, history_id, forward_id) VALUES (?, ?, ?, ?, ?, ?)",
            (
                export.desk,
                export.manifest.sequence,
                export.manifest.sha256,
                export.manifest.data["officer"],
                export.history_id,
                export.forward_id,
            ),
        )
        names = ", ".join(c.name for c in export.to)
        vault.history(
            db, None, "exported state bundle", f"{export.desk} #{export.manifest.sequence} to {names}"
        )


# --- importing ---------------------------------------------------------------------------------------


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
    """A colleague's forwarding, kept as theirs (no file here: they hold the sealed case file)."""
    seen = db.execute(
        "SELECT 1 FROM state.forwards WHERE case_number = ? AND at = ? AND actor = ? AND fingerprint = ?",
        (fwd["case"], fwd["at"], colleague.actor, fwd["fingerprint"]),
    ).fetchone()
    if seen:
        return 0
    name = one_line(fwd["recipient"], 100) or "police"
    db.execute(
        "INSERT INTO state.forwards (case_number, at, actor, recipient, fingerprint, public_key, file)"
        " VALUES (?, ?, ?, ?, ?, ?, NULL)",
        (fwd["case"], fwd["at"], colleague.actor, name, fwd["fingerprint"], fwd["public_key"]),
    )
    _history(db, fwd["case"], fwd["at"], colleague, "forwarded", f"to {name} ({fwd['fingerprint']})")
    return 1


def _history(db, number: str, at: str, colleague: Colleague, action: str, detail: str) -> None:
    """A colleague's change in the case's history: when they made it, under their name."""
    db.execute(
        "INSERT INTO state.history (case_number, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
        (number, at, colleague.actor, action, detail),
    )


# --- sealview state ... ---------------------------------------------------------------------------


def cmd_state_export(args) -> None:
    target = Path(args.output)
    if target.exists():
        raise CliError(_("the file %(path)s already exists: choose a new name", path=target))
    if not target.parent.is_dir():  # one translated line, not the errno of a temporary file
        raise CliError(_("no such folder: %(path)s", path=target.parent))
    with open_vault(args, write=True) as vault:
        with atomic_output(str(target), binary_to_tty_ok=False) as out:
            export = write(vault, out, args.desk)
        try:
            record(vault, export)
        except BaseException:
            target.unlink(missing_ok=True)  # the vault did not move on: this bundle must not travel
            raise
    names = ", ".join(c.name for c in export.to)
    print(
        _("state bundle %(desk)s #%(n)d for %(names)s: %(states)s, %(forwards)s: %(file)s",
          desk=export.desk, n=export.manifest.sequence, names=names,
          states=ngettext("%(num)d case state", "%(num)d case states", export.states),
          forwards=ngettext("%(num)d forwarding", "%(num)d forwardings", export.forwards), file=target)
    )  # fmt: skip


def cmd_state_import(args) -> None:
    path = Path(args.file)
    if not path.is_file():
        raise CliError(_("no such file: %(path)s", path=path))
    with open_vault(args, write=True) as vault:
        merged = import_state(vault, path)
    print(
        _("state bundle #%(n)d from %(name)s: %(changed)s, %(forwards)s",
          n=merged.sequence, name=merged.colleague.name,
          changed=ngettext("%(num)d case changed", "%(num)d cases changed", len(merged.changed)),
          forwards=ngettext("%(num)d forwarding", "%(num)d forwardings", merged.forwards))
    )  # fmt: skip
    for number in merged.kept:
        print(_("case %(case)s: your own later change stays", case=number))


def add_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add `sealview state export|import` to `sub`."""
    p = sub.add_parser("state", help=_("share case states with your colleagues (state bundles)"))
    ssub = p.add_subparsers(
        dest="state_command", required=True, parser_class=parser_class, title=_("commands")
    )
    s = ssub.add_parser(
        "export", help=_("write your changes since the last state bundle, for your colleagues")
    )
    s.add_argument("-o", "--output", required=True, metavar="FILE")
    s.add_argument("--desk", metavar="SLUG")
    s.set_defaults(run=cmd_state_export)
    s = ssub.add_parser("import", help=_("merge a colleague's state bundle into this vault"))
    s.add_argument("file", metavar="FILE")
    s.set_defaults(run=cmd_state_import)
