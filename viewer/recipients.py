"""The police recipients an officer keeps in the vault: added once from their .pub file, then chosen by
name when a case is forwarded (the UI's list, or `sealview forward --to NAME`).

They live in `state.police`, which forwarding has always filled with every key it sealed to; a key
the officer added on purpose has `added_at` set. A name points at one key: adding a second key under a
name already taken is refused, so "District police" can never quietly mean a new key.
"""

from __future__ import annotations

from dataclasses import dataclass

import crypto
from crypto import PublicKey

from .documents import one_line
from .errors import NotFound, Refused
from .i18n import _
from .vault import Vault, locked, now

MAX_NAME = 100
MAX_KEY_FILE = 64 * 1024  # a .pub file is a few comment lines and one key line


@dataclass(frozen=True)
class Recipient:
    name: str
    fingerprint: str
    public_key: str
    added_at: str | None

    @property
    def key(self) -> PublicKey:
        return PublicKey.parse(self.public_key)


def parse_key(text: str) -> PublicKey:
    """A police recipient's key from the text of their .pub file (or its one key line)."""
    if len(text) > MAX_KEY_FILE:
        raise Refused("bad_key", _("this file is too large to be a sealdrop public key file"))
    try:
        return PublicKey.parse(text)
    except crypto.KeyFormatError as e:
        raise Refused(
            "bad_key", _("this is not a sealdrop public key file: %(reason)s", reason=str(e))
        ) from None


def listed(vault: Vault) -> list[Recipient]:
    """Every kept recipient, by name."""
    with vault.lock:
        rows = vault.db.execute(
            "SELECT name, fingerprint, public_key, added_at FROM state.police"
            " ORDER BY lower(name), fingerprint"
        ).fetchall()
    return [Recipient(*row) for row in rows]


_NAME_TAKEN = {
    table: f"SELECT fingerprint FROM state.{table} WHERE lower(name) = lower(?) AND fingerprint != ?"  # noqa: S608
    for table in ("police", "colleagues")  # fixed names, never from outside
}


def refuse_a_taken_name(vault: Vault, table: str, name: str, fingerprint: str) -> None:
    """A name is one key's in a list of kept keys (`table`: "police" or "colleagues"): the same key
    again is renamed, another key under a name already given is refused."""
    taken = vault.db.execute(_NAME_TAKEN[table], (name, fingerprint)).fetchone()
    if taken:
        raise Refused(
            "name_taken",
            _("the name %(name)s is already given to the key %(fingerprint)s: choose another name",
              name=name, fingerprint=taken[0]),
        )  # fmt: skip


@locked
def add(vault: Vault, key: PublicKey, name: str) -> Recipient:
    """Keep `key` under `name`. The same key again is renamed; a name taken by another key is refused."""
    name = one_line(name, MAX_NAME)
    if not name:
        raise Refused("bad_name", _("give the recipient a name (for example: District police)"))
    refuse_a_taken_name(vault, "police", name, key.fingerprint)
    with vault.change() as db:
        db.execute(
            "INSERT INTO state.police (fingerprint, name, public_key, added_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (fingerprint) DO UPDATE SET name = excluded.name,"
            " added_at = COALESCE(police.added_at, excluded.added_at)",
            (key.fingerprint, name, key.encode(), now()),
        )
        vault.history(db, None, "added police recipient", f"{name} ({key.fingerprint})")
    return find(vault, key.fingerprint)


def remember(db, key: PublicKey, name: str) -> None:
    """Inside a forwarding's change: keep a key sealed to for the first time, never renaming a kept one."""
    db.execute(
        "INSERT OR IGNORE INTO state.police (fingerprint, name, public_key) VALUES (?, ?, ?)",
        (key.fingerprint, name, key.encode()),
    )


def find(vault: Vault, who: str) -> Recipient:
    """A kept recipient by fingerprint (spaces optional) or by name (any case)."""
    who = " ".join(str(who).split())
    digits = who.replace(" ", "")
    with vault.lock:
        rows = vault.db.execute(
            "SELECT name, fingerprint, public_key, added_at FROM state.police"
            " WHERE replace(fingerprint, ' ', '') = ? OR lower(name) = lower(?) ORDER BY added_at IS NULL",
            (digits, who),
        ).fetchall()
    by_key = [r for r in rows if r[1].replace(" ", "") == digits]
    if by_key:
        return Recipient(*by_key[0])
    if len(rows) > 1:
        prints = ", ".join(r[1] for r in rows)
        raise Refused(
            "ambiguous",
            _("several keys are named %(name)s (%(prints)s): give the fingerprint", name=who, prints=prints),
        )
    if not rows:
        raise NotFound(_("no police recipient %(who)s in this vault (see: sealview recipient list)", who=who))
    return Recipient(*rows[0])
