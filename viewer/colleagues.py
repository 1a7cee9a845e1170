"""Several officers on one desk (issue 14 item 4, docs/two-officers.md): the colleagues an officer
keeps in the vault, to exchange state bundles with (statebundle.py).

Each officer has their own vault and key, and both keys are recipients of the desk's reports: both
import every export bundle. What one of them decides about a case (its triage state, a duplicate link,
a forwarding to the police) reaches the other in a state bundle carried on the same stick:

    sealview colleague add PUBFILE --name N [--fingerprint FP] [--desk SLUG]
    sealview colleague list [--json]
    sealview state export -o FILE [--desk SLUG]     this officer's changes since the last state export
    sealview state import FILE                      verified, in order per colleague, merged

A colleague's key is kept like a police recipient's (recipients.py: the same key-file checks, one key
per name), from their officer.pub, once the fingerprint they read aloud matches it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from crypto import PublicKey
from crypto.cli import CliError

from . import recipients
from .commands.common import _open
from .documents import one_line
from .errors import Refused, ViewerError
from .i18n import _, ngettext
from .recipients import MAX_KEY_FILE, MAX_NAME, parse_key
from .vault import Vault, locked, now

TABLES = """
CREATE TABLE IF NOT EXISTS state.colleagues (   -- other officers of a desk, kept on purpose
    fingerprint TEXT PRIMARY KEY, name TEXT NOT NULL, desk TEXT NOT NULL, public_key TEXT NOT NULL,
    added_at TEXT NOT NULL,
    last_sequence INTEGER NOT NULL DEFAULT 0,      -- their state bundles accepted
    last_sha256 TEXT
);
CREATE TABLE IF NOT EXISTS state.state_exports (  -- this officer's state bundles, per desk
    desk TEXT PRIMARY KEY, sequence INTEGER NOT NULL, sha256 TEXT NOT NULL,
    officer TEXT NOT NULL,                          -- the fingerprint of the key that signed them
    history_id INTEGER NOT NULL, forward_id INTEGER NOT NULL  -- what they carried up to
);
"""


@dataclass(frozen=True)
class Colleague:
    fingerprint: str
    name: str
    desk: str
    public_key: str
    added_at: str

    @property
    def key(self) -> PublicKey:
        return PublicKey.parse(self.public_key)

    @property
    def actor(self) -> str:
        """Who made a change, as the history says it (like Vault.actor for the officer)."""
        return f"{self.name} ({self.fingerprint})"


def ensure_tables(vault: Vault) -> None:
    """The tables, made in memory on first use (saved with the next change, as schema.upgrade does)."""
    for statement in TABLES.split(";")[:-1]:  # execute, not executescript: that would COMMIT first
        vault.db.execute(statement)


# --- colleagues --------------------------------------------------------------------------------------


@locked
def listed(vault: Vault, desk: str | None = None) -> list[Colleague]:
    ensure_tables(vault)
    rows = vault.db.execute(
        "SELECT fingerprint, name, desk, public_key, added_at FROM state.colleagues"
        " WHERE ? IS NULL OR desk = ? ORDER BY desk, lower(name)",
        (desk, desk),
    ).fetchall()
    return [Colleague(*row) for row in rows]


def chosen_desk(vault: Vault, desk: str | None) -> str:
    """The desk a command is about: the one given, or the vault's only one."""
    desks = vault.desks
    if desk is None:
        if len(desks) != 1:
            raise ViewerError(
                _(
                    "this vault serves several desks (%(desks)s): say which with --desk",
                    desks=", ".join(desks),
                )
            )
        return desks[0]
    if desk not in desks:
        raise ViewerError(_("this vault does not serve desk %(desk)r", desk=desk))
    return desk


@locked
def add(vault: Vault, key: PublicKey, name: str, desk: str | None = None) -> Colleague:
    """Keep a colleague's key for `desk`. The same key again is renamed; a name taken is refused."""
    desk, name = chosen_desk(vault, desk), one_line(name, MAX_NAME)
    if not name:
        raise Refused("bad_name", _("give the colleague a name (for example: Officer Petrova)"))
    if key.fingerprint == vault.officer.fingerprint:
        raise Refused("own_key", _("this is your own key: add the public key of another officer"))
    ensure_tables(vault)
    recipients.refuse_a_taken_name(vault, "colleagues", name, key.fingerprint)
    with vault.change() as db:
        db.execute(
            "INSERT INTO state.colleagues (fingerprint, name, desk, public_key, added_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO UPDATE SET name = excluded.name",
            (key.fingerprint, name, desk, key.encode(), now()),
        )
        vault.history(db, None, "added colleague", f"{name} ({key.fingerprint})")
    return find(vault, key.fingerprint)


@locked
def find(vault: Vault, fingerprint: str) -> Colleague:
    ensure_tables(vault)
    row = vault.db.execute(
        "SELECT fingerprint, name, desk, public_key, added_at FROM state.colleagues WHERE fingerprint = ?",
        (fingerprint,),
    ).fetchone()
    if row is None:
        raise Refused(
            "unknown_colleague", _("no colleague with the key %(fp)s in this vault", fp=fingerprint)
        )
    return Colleague(*row)


def same_fingerprint(a: str, b: str) -> bool:
    """Fingerprints as read aloud: digits only, spaces and dashes as anyone writes them down."""
    digits = lambda s: re.sub(r"[^0-9]", "", s)  # noqa: E731
    return bool(digits(a)) and digits(a) == digits(b)


# --- sealview colleague ... -------------------------------------------------------------------------


def open_vault(args, *, write: bool) -> Vault:
    """The CLI's one way to ask for the passphrase and open the vault (commands.common._open)."""
    return _open(args, write=write)


def cmd_colleague_add(args) -> None:
    path = Path(args.file)
    if not path.is_file():
        raise CliError(_("no such file: %(path)s", path=path))
    if path.stat().st_size > MAX_KEY_FILE:
        raise Refused("bad_key", _("this file is too large to be a sealdrop public key file"))
    key = parse_key(path.read_text("utf-8", errors="replace"))
    print(_("fingerprint of this key: %(fp)s", fp=key.fingerprint))
    if args.fingerprint is not None:
        heard = args.fingerprint
    elif sys.stdin.isatty():
        heard = input(_("Type the fingerprint your colleague reads aloud to you: "))
    else:
        raise CliError(_("give the fingerprint your colleague reads aloud to you: --fingerprint"))
    if not same_fingerprint(heard, key.fingerprint):
        raise Refused(
            "fingerprint_differs",
            _(
                "the fingerprint read aloud differs from this key's: "
                "it is not your colleague's key; nothing kept"
            ),
        )
    with open_vault(args, write=True) as vault:
        kept = add(vault, key, args.name, args.desk)
    print(
        _(
            "colleague %(name)s on desk %(desk)s: fingerprint %(fp)s",
            name=kept.name,
            desk=kept.desk,
            fp=kept.fingerprint,
        )
    )


def cmd_colleague_list(args) -> None:
    with open_vault(args, write=False) as vault:
        kept = listed(vault)
    if args.json:
        rows = [
            {"name": c.name, "desk": c.desk, "fingerprint": c.fingerprint, "added_at": c.added_at}
            for c in kept
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for c in kept:
        print(f"{c.name}\t{c.desk}\t{c.fingerprint}")
    print(ngettext("%(num)d colleague", "%(num)d colleagues", len(kept)), file=sys.stderr)


def add_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add this module's sealview commands to `sub`."""
    p = sub.add_parser("colleague", help=_("the other officers of your desk, kept in the vault"))
    csub = p.add_subparsers(
        dest="colleague_command", required=True, parser_class=parser_class, title=_("commands")
    )
    c = csub.add_parser("add", help=_("keep a colleague's public key (their officer.pub) under a name"))
    c.add_argument("file", metavar="PUBFILE")
    c.add_argument("--name", required=True, help=_("how the history names them"))
    c.add_argument("--fingerprint", metavar="FP", help=_("the fingerprint your colleague read aloud to you"))
    c.add_argument("--desk", metavar="SLUG")
    c.set_defaults(run=cmd_colleague_add)
    c = csub.add_parser("list", help=_("the kept colleagues and their fingerprints"))
    c.add_argument("--json", action="store_true", help=_("print JSON"))
    c.set_defaults(run=cmd_colleague_list)
    from . import statebundle  # here: statebundle imports this module

    statebundle.add_parsers(sub, parser_class)
