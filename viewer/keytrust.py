"""Officer keys the desk trusts (docs/key-trust.md): rotating one's own key, admitting a colleague's,
and seeing every change to who can read the desk's reports.

    sealview rotate [--desk SLUG] [--statement-out FILE]
    sealview confirm-key PUBFILE [--name N] [--desk SLUG] [--yes] [--statement-out FILE]

A rotation makes a new officer identity in the same vault. The old keys stay in the vault (sealed, as
the officer's keys always are), so what was sealed to the old key still opens; the statement that
tells the desk is signed by the old key, and rides in the next reply bundle, which the old key signs
too (the desk knows only that one yet); every bundle after it is signed by the new key.

What the desk's export manifests say about its keys (`key_changes`, `recipients`) is kept in the
vault; a change that no officer of the desk signed is a warning until the officer has seen it.

Everything here lives in the state database's `meta` table as JSON, sealed with the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
from pathlib import Path

from crypto import DecryptionKey, Identity, KeyFormatError, PublicKey, SigningKey, statement
from crypto.cli import CliError, atomic_output

from .commands.common import _open
from .errors import ViewerError
from .i18n import N_, _
from .vault import Vault, now, read_info, today, write_info

PREVIOUS = "previous_officers"  # [{"x25519", "ed25519", "fingerprint", "key_id", "until"}]
QUEUE = "key_statements"  # [{"desk", "action", "text", "sha256", "signer", "fingerprint", "name", "sent"}]
CHANGES = "key_changes"  # [{"desk", "sequence", ...change, "seen": bool}]
RECIPIENTS = "desk_recipients"  # {desk: [{"key_id", "fingerprint", "name"}]}
MAX_KEPT_CHANGES = 1000


def _json(vault: Vault, key: str, default):
    with vault.lock:  # the UI's threads share one SQLite connection
        text = vault.meta(key)
    try:
        value = json.loads(text or "null")
    except ValueError:
        return default
    return value if isinstance(value, type(default)) else default


def _set(vault: Vault, db: sqlite3.Connection, key: str, value) -> None:
    vault.set_meta(db, key, json.dumps(value, ensure_ascii=False, sort_keys=True))


# --- the officer's keys ----------------------------------------------------------------------------


def previous_identities(vault: Vault) -> list[Identity]:
    """The officer's earlier identities, newest first: their keys still open what was sealed to them."""
    found = []
    for entry in reversed(_json(vault, PREVIOUS, [])):
        found.append(
            Identity(
                DecryptionKey.from_private_bytes(bytes.fromhex(entry["x25519"])),
                SigningKey.from_seed(bytes.fromhex(entry["ed25519"])),
            )
        )
    return found


def queued(vault: Vault, desk: str | None = None) -> list[dict]:
    """Statements not yet carried by a reply bundle (for `desk`, or all)."""
    return [q for q in _json(vault, QUEUE, []) if not q.get("sent") and desk in (None, q["desk"])]


def reply_signer(vault: Vault, desk: str) -> Identity:
    """The identity that signs the next reply bundle (and statements) for `desk`: the key the desk
    knows. While a rotation's statement waits to be sent, that is the old key, which signed it."""
    waiting = [q for q in queued(vault, desk) if q["action"] == "rotate"]
    if not waiting:
        return vault.officer
    signer = waiting[0]["signer"]
    for identity in previous_identities(vault):
        if statement.key_id_of(identity.public_key) == signer:
            return identity
    raise ViewerError(_("the key that signed the queued rotation is missing from the vault"))


def mark_sent(vault: Vault, db: sqlite3.Connection, desk: str, sequence: int) -> list[str]:
    """Mark `desk`'s queued statements as carried by reply bundle `sequence`; returns their texts."""
    entries = _json(vault, QUEUE, [])
    texts = []
    for q in entries:
        if q["desk"] == desk and not q.get("sent"):
            q["sent"] = sequence
            texts.append(q["text"])
    if texts:
        _set(vault, db, QUEUE, entries)
    return texts


def _desks(vault: Vault, desk: str | None) -> list[str]:
    if desk is None:
        if not vault.desks:
            raise ViewerError(_("this vault serves no desk yet: sealview init --desk SLUG"))
        return vault.desks
    if desk not in vault.desks:
        raise ViewerError(_("this vault does not serve desk %(desk)r", desk=desk))
    return [desk]


def _queue(vault: Vault, db: sqlite3.Connection, made: statement.Statement, signer: Identity) -> None:
    entries = _json(vault, QUEUE, [])
    entries.append(
        {"desk": made.desk, "action": made.action, "text": made.encode(), "sha256": made.sha256,
         "signer": made.signer, "fingerprint": made.subject.fingerprint, "name": made.name, "sent": None,
         "signer_fingerprint": signer.fingerprint}
    )  # fmt: skip
    _set(vault, db, QUEUE, entries)


def rotate(vault: Vault) -> tuple[Identity, list[statement.Statement]]:
    """A new officer identity for this vault; the old one is kept. Returns it and the statements, one
    per desk the vault serves: the key is the vault's, so every desk must learn of the new one."""
    if queued_rotation := [q for q in queued(vault) if q["action"] == "rotate"]:
        raise ViewerError(
            _(
                "a key rotation for desk %(desk)s waits to be sent: export the reply bundle "
                "(sealview export-replies) and have the desk import it first",
                desk=queued_rotation[0]["desk"],
            )
        )
    desks = _desks(vault, None)
    old, new = vault.officer, Identity.generate()
    name = vault.officer_name
    made = [
        statement.sign(old.signing_key, old.public_key, d, "rotate", new.public_key, name=name) for d in desks
    ]
    previous = _json(vault, PREVIOUS, [])
    kept = vault.path / f"officer-previous-{len(previous) + 1}.pub"
    if (vault.path / "officer.pub").exists():
        kept.write_bytes((vault.path / "officer.pub").read_bytes())
    with vault.change() as db:
        previous.append(
            {"x25519": old.decryption_key.private_bytes().hex(), "ed25519": old.signing_key.seed().hex(),
             "fingerprint": old.fingerprint, "key_id": statement.key_id_of(old.public_key), "until": now()}
        )  # fmt: skip
        _set(vault, db, PREVIOUS, previous)
        vault.set_meta(db, "officer_x25519", new.decryption_key.private_bytes().hex())
        vault.set_meta(db, "officer_ed25519", new.signing_key.seed().hex())
        vault.set_meta(db, "officer_demo", 0)
        for s in made:
            _queue(vault, db, s, old)
        vault.history(db, None, "rotated key", f"{old.fingerprint} -> {new.fingerprint}")
    vault.reload_officer()
    _write_public(
        vault.path / "officer.pub",
        new.public_key.to_file_text(comment=vault.officer_name or "sealview officer"),
    )
    info = read_info(vault.path)
    info["officer"] = new.fingerprint
    write_info(vault.path, info)
    return new, made


def _write_public(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def confirm_key(
    vault: Vault, key: PublicKey, name: str, desk: str | None = None
) -> list[statement.Statement]:
    """Admit a colleague's key to the desk(s): an admit statement, queued for the next reply bundle."""
    made = []
    with vault.change() as db:
        for d in _desks(vault, desk):
            signer = reply_signer(vault, d)
            if key == signer.public_key or key == vault.officer.public_key:
                raise ViewerError(_("this is your own key: sealview rotate replaces it"))
            s = statement.sign(signer.signing_key, signer.public_key, d, "admit", key, name=name)
            _queue(vault, db, s, signer)
            made.append(s)
        vault.history(db, None, "admitted key", f"{name} {key.fingerprint}")
    return made


# --- what the desk's export manifests said ---------------------------------------------------------


def store_import(
    vault: Vault, db: sqlite3.Connection, desk: str, sequence: int, changes, recipients
) -> list[dict]:
    """Keep the key changes and the recipients an export manifest carried (already coerced by
    manifest.py), after checking them (`check`); `recipients` None (an older server) leaves the list
    as it was. Returns the changes to warn about."""
    changes = check(vault, desk, changes, recipients)
    if changes:
        kept = _json(vault, CHANGES, [])
        kept.extend({**c, "desk": desk, "sequence": sequence, "seen": False} for c in changes)
        _set(vault, db, CHANGES, kept[-MAX_KEPT_CHANGES:])
    if recipients is not None:
        known = _json(vault, RECIPIENTS, {})
        known[desk] = recipients
        _set(vault, db, RECIPIENTS, known)
    return [c for c in changes if not c["by_officer"]]


def _trusted(vault: Vault, desk: str) -> dict[str, PublicKey]:
    """Keys whose statements this vault can check: the officer's own, now and before, and the desk's
    recipients as the previous export named them."""
    keys = [vault.officer.public_key, *(i.public_key for i in previous_identities(vault))]
    found = {statement.key_id_of(k): k for k in keys}
    for r in recipients(vault).get(desk) or []:
        try:
            found.setdefault(r["key_id"], PublicKey.parse(r.get("public_key", "")))
        except (KeyFormatError, KeyError):
            continue
    return found


def _verified(change: dict, desk: str, trusted: dict[str, PublicKey]) -> statement.Statement | None:
    """The statement behind a change the server says an officer signed, if this vault can check it."""
    try:
        made = statement.parse(change.get("statement") or "")
        made.verify(trusted[made.signer])
    except (statement.StatementError, KeyError):
        return None
    concerns = {made.subject_key_id} | ({made.signer} if made.action == "rotate" else set())
    return made if made.desk == desk and change["key_id"] in concerns else None


def check(vault: Vault, desk: str, changes: list[dict], listed: list[dict] | None) -> list[dict]:
    """The server signs the manifest, but says on its own word which change an officer signed: each
    such change must carry a statement this vault can check (signed by its own key, or by a key the
    desk's previous export listed as a recipient). One that does not is a warning like any change
    an admin made alone, and so is a recipient no change in this export explains."""
    trusted, explained = _trusted(vault, desk), set()
    before = {r["key_id"] for r in recipients(vault).get(desk) or []}
    for c in changes:
        if not c["by_officer"]:
            explained.add(c["key_id"])
            continue
        made = _verified(c, desk, trusted)
        if made is None:
            c.update(by_officer=False, unchecked=True)
        elif made.action in ("admit", "rotate"):
            trusted[made.subject_key_id] = made.subject
        explained.add(c["key_id"])
    own = {statement.key_id_of(vault.officer.public_key)}
    for r in listed or []:
        if r["key_id"] not in own | before | explained:
            changes.append(
                {"action": "unexplained", "day": today(), "key_id": r["key_id"],
                 "fingerprint": r["fingerprint"], "name": r["name"], "detail": "", "by": "",
                 "by_officer": False, "statement": ""}
            )  # fmt: skip
    return changes


def changes(vault: Vault) -> list[dict]:
    return _json(vault, CHANGES, [])


def warnings(vault: Vault) -> list[dict]:
    """Changes no officer of the desk signed, not yet marked as seen."""
    return [c for c in changes(vault) if not c.get("by_officer") and not c.get("seen")]


def recipients(vault: Vault) -> dict[str, list[dict]]:
    return _json(vault, RECIPIENTS, {})


def mark_seen(vault: Vault) -> int:
    kept = changes(vault)
    fresh = [c for c in kept if not c.get("seen")]
    if fresh:
        with vault.change() as db:
            for c in kept:
                c["seen"] = True
            _set(vault, db, CHANGES, kept)
            vault.history(db, None, "seen key changes", str(len(fresh)))
    return len(fresh)


_WORDS = {
    "registered": N_(
        "%(who)s registered a key for %(name)s (fingerprint %(fp)s) on %(day)s. It stays pending: "
        "nothing is sealed to it unless an officer of the desk confirms it."
    ),
    "bootstrap": N_(
        "%(who)s confirmed the key of %(name)s (fingerprint %(fp)s) by phone on %(day)s: it can read "
        "the desk's reports."
    ),
    "confirmed": N_(
        "An officer of the desk (key %(who)s) confirmed the key of %(name)s (fingerprint %(fp)s) on "
        "%(day)s: it can read the desk's reports."
    ),
    "rotated": N_("%(name)s replaced their key on %(day)s; the new key's fingerprint is %(fp)s."),
    "retired": N_("%(who)s retired the key of %(name)s (fingerprint %(fp)s) on %(day)s."),
    "removed": N_("%(who)s removed the pending key of %(name)s (fingerprint %(fp)s) on %(day)s."),
    "routing": N_("%(who)s changed where a category's reports go on %(day)s: %(detail)s."),
    "unexplained": N_(
        "%(name)s (fingerprint %(fp)s) can read the desk's reports, and no change this vault could check "
        "says who made them a recipient."
    ),
}


def describe(change: dict) -> str:
    """One change in the officer's language."""
    text = _describe(change)
    if change.get("unchecked"):
        text += " " + _(
            "The server says an officer of the desk signed it, but this vault could not check that."
        )
    return text


def _describe(change: dict) -> str:
    words = _WORDS.get(change.get("action"), N_("%(who)s changed the key of %(name)s (%(fp)s) on %(day)s."))
    who = change.get("by") or "?"
    if who.startswith("officer "):
        who = who.removeprefix("officer ")
    return _(words, who=who, name=change.get("name") or "?", fp=change.get("fingerprint") or "-",
             day=change.get("day") or "?", detail=change.get("detail") or "")  # fmt: skip


# --- the commands ----------------------------------------------------------------------------------


def _write_statement(target: str, made: list[statement.Statement]) -> None:
    if len(made) != 1:
        raise CliError(_("this vault serves several desks: give --desk to write one statement file"))
    with atomic_output(target, binary_to_tty_ok=True) as out:
        out.write(made[0].encode().encode("ascii"))


def cmd_rotate(args) -> None:
    with _open(args, write=True) as vault:
        if args.statement_out and args.desk is None and len(vault.desks) != 1:
            raise CliError(_("this vault serves several desks: give --desk to write one statement file"))
        _desks(vault, args.desk)  # an unknown desk is refused before anything changes
        old = vault.officer.fingerprint
        new, made = rotate(vault)
        if args.statement_out:
            _write_statement(args.statement_out, [s for s in made if args.desk in (None, s.desk)])
    print(
        _(
            "new officer key: fingerprint %(fp)s (the old key %(old)s stays in the vault)",
            fp=new.fingerprint,
            old=old,
        )
    )
    print(_("public key: %(file)s", file=Path(args.vault) / "officer.pub"))
    print(
        _(
            "the next reply bundle (sealview export-replies) carries the rotation, signed by the old key; "
            "the bundles after it are signed by the new key"
        )
    )
    if args.statement_out:
        print(_("key statement for the desk admin: %(file)s", file=args.statement_out))


def cmd_confirm_key(args) -> None:
    key = PublicKey.load(Path(args.pubfile))
    name = " ".join((args.name or Path(args.pubfile).stem).split())[: statement.MAX_NAME]
    print(_("key of %(name)s: fingerprint %(fp)s", name=name, fp=key.fingerprint))
    if not args.yes:
        print(_("Compare it with the fingerprint your colleague reads to you, by phone or in person."))
        try:
            answer = input(_("Admit this key to the desk, so it can read the desk's reports? [y/N] "))
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes", _("y"), _("yes")):
            raise CliError(_("not admitted: nothing was changed"))
    with _open(args, write=True) as vault:
        if args.statement_out and args.desk is None and len(vault.desks) != 1:
            raise CliError(_("this vault serves several desks: give --desk to write one statement file"))
        made = confirm_key(vault, key, name, args.desk)
        if args.statement_out:
            _write_statement(args.statement_out, made)
    print(_("admitted: the next reply bundle (sealview export-replies) tells the desk"))
    if args.statement_out:
        print(_("key statement for the desk admin: %(file)s", file=args.statement_out))


def print_recipients(vault: Vault) -> None:
    """For `sealview config`: who can read each desk's reports, as the last export said."""
    known = recipients(vault)
    for desk in vault.desks:
        rows = known.get(desk)
        if rows is None:
            print(_("desk %(desk)s: recipients not known yet (import an export bundle)", desk=desk))
            continue
        print(_("desk %(desk)s: reports are sealed to", desk=desk))
        for r in rows:
            mine = statement.key_id_of(vault.officer.public_key) == r["key_id"]
            print(f"  {r['fingerprint']}  {r['name']}" + ("  " + _("(you)") if mine else ""))
    for w in warnings(vault):
        print(_("warning: %(text)s", text=describe(w)))


def add_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add this module's sealview commands to `sub`."""
    p = sub.add_parser(
        "rotate", help=_("replace your officer key by a new one; the old one keeps opening old reports")
    )
    p.add_argument(
        "--desk",
        metavar="SLUG",
        help=_("the desk whose statement --statement-out writes (every desk is told)"),
    )
    p.add_argument(
        "--statement-out", metavar="FILE", help=_("also write the key statement for the desk admin")
    )
    p.set_defaults(run=cmd_rotate)
    p = sub.add_parser(
        "confirm-key", help=_("admit a colleague's public key to the desk (a signed key statement)")
    )
    p.add_argument("pubfile", metavar="PUBFILE")
    p.add_argument("--name", help=_("the colleague's name (default: the file's name)"))
    p.add_argument("--desk", metavar="SLUG", help=_("only for this desk (default: every desk of the vault)"))
    p.add_argument("--yes", action="store_true", help=_("do not ask: the fingerprint was compared already"))
    p.add_argument(
        "--statement-out", metavar="FILE", help=_("also write the key statement for the desk admin")
    )
    p.set_defaults(run=cmd_confirm_key)
