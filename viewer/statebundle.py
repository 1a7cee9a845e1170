"""State bundles between the viewers of one desk's officers (docs/two-officers.md, "The state bundle's
format"): what one officer decided about cases, signed with their Ed25519 key and sealed to the
colleagues kept in the vault (colleagues.py), and merged into a colleague's vault (statemerge.py).

    write(vault, out, desk) -> Export      the officer's changes since the last state bundle
    record(vault, export)                  after the file is whole: the next one starts after it
    import_state(vault, path) -> Merged    verified, in order per colleague, merged whole or not at all

Merging: the later change (by its own time) wins; every change taken lands in the case's history under
the colleague who made it. Notes stay private: they never travel.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import crypto
from crypto import bundle
from crypto.cli import CliError, atomic_output

from .colleagues import Colleague, chosen_desk, ensure_tables, listed, open_vault
from .errors import ViewerError
from .i18n import _, ngettext
from .statemerge import Merged, _own_fingerprints, import_state
from .vault import Vault, locked, now

__all__ = ["Export", "Merged", "add_parsers", "import_state", "record", "write"]

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
    own = set(_own_fingerprints(vault))  # by the key that forwarded, whatever name it had then
    forwards = [
        {"case": r[0], "at": r[1], "recipient": r[2], "fingerprint": r[3], "public_key": r[4]}
        for r in vault.db.execute(
            "SELECT f.case_number, f.at, f.recipient, f.fingerprint, f.public_key, f.by_fingerprint"
            " FROM state.forwards f JOIN cases c ON c.number = f.case_number"
            " WHERE f.id > ? AND f.id <= ? AND c.desk = ? ORDER BY f.id",
            (forward_id, last_forward, desk),
        )
        if r[5] in own
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
