"""Vault backup and restore (issue 14 item 2): `sealview backup` and `sealview restore` (docs/backup.md).

The file's format, how it is written, read back and unpacked, is viewer/backupfile.py; this module is the
commands: which vault, which keys open it, where it is restored, what the officer is told.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
from pathlib import Path

import crypto
from crypto import DecryptionKey, Identity, PublicKey
from crypto.cli import CliError, atomic_output, read_passphrase
from crypto.keys import write_secret_file

from .backupfile import (
    _READ,
    VAULT_FOLDERS,
    Step,
    _key_from,
    _Unpacker,
    _unseal,
    read_header,
    verify_written,
    write_backup,
)
from .commands.common import _open, _progress
from .disk import fsync_dir, syncfs
from .errors import ViewerError
from .i18n import _, ngettext
from .labels import human_size
from .vault import Vault


def _bar():
    """The progress bar `sealview import` shows (rich, on a terminal only), and a Progress for it."""
    bar, update = _progress()

    def progress(stage: str, total: int) -> Step:
        done = 0

        def step(n: int) -> None:
            nonlocal done
            done += n
            update(stage, done, total)

        return step

    return bar, progress


# -- the commands ----------------------------------------------------------------------------------


def cmd_backup(args) -> None:
    _must_exist(*args.to)
    recipients = [PublicKey.load(Path(p)) for p in args.to]
    target = Path(args.output)
    if not target.parent.is_dir():  # said before the passphrase is asked, without a temporary file's name
        raise CliError(_("no such folder: %(path)s", path=target.parent))
    if target.exists():  # an older backup may be the last good one: a new one never replaces it
        raise CliError(_("the file %(path)s already exists: choose a new name", path=target))
    vault_path = Path(args.vault).resolve()
    if target.resolve().is_relative_to(vault_path):
        raise CliError(_("write the backup outside the vault folder"))
    with _open(args, write=True) as vault:  # holds the vault's lock: no change while we read it
        bar, progress = _bar()
        with bar, atomic_output(str(target), binary_to_tty_ok=False) as out:
            manifest = write_backup(vault, out, recipients, progress)
            os.fsync(out.fileno())
            checked = verify_written(out.fileno(), vault._key, manifest, progress)
            size = os.fstat(out.fileno()).st_size
        cases = vault.db.execute("SELECT COUNT(*) FROM cases").fetchone()[0]
        problems = attachment_problems(vault, checked.files)
    attachments = sum(1 for f in checked.files if f["path"].startswith("files/"))
    print(
        _(
            "backup written and checked: %(file)s (%(size)s): %(cases)s, %(attachments)s, %(files)s",
            file=target,
            size=human_size(size),
            cases=ngettext("%(num)d case", "%(num)d cases", cases),
            attachments=ngettext("%(num)d attachment", "%(num)d attachments", attachments),
            files=ngettext("%(num)d file", "%(num)d files", len(checked.files)),
        )
    )
    for fp in (p.fingerprint for p in recipients):
        print(_("also sealed to officer %(fp)s", fp=fp))
    _warn(problems)


def attachment_problems(vault: Vault, files: list[dict]) -> int:
    """How many attachment files the vault's database names are missing from `files` (a manifest's
    list) or do not hash to their name there: damage the vault had before it was backed up."""
    hashes = {f["path"]: f["sha256"] for f in files}
    names = [r[0] for r in vault.db.execute("SELECT DISTINCT file FROM attachments WHERE file IS NOT NULL")]
    return sum(1 for name in names if hashes.get(f"files/{name[:2]}/{name}") != name)


def _warn(problems: int) -> None:
    if problems:
        print(
            ngettext(
                "warning: %(num)d attachment file the vault names is missing or altered",
                "warning: %(num)d attachment files the vault names are missing or altered",
                problems,
            )
        )


def _check_target(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise CliError(_("%(path)s exists and is not empty: restore into a new or empty folder", path=target))


def _vault_key_text(key: Identity, passphrase: str) -> str:
    """vault.key's text, as Vault.create writes it."""
    lines = ["# sealview vault key (secret: sealed under the officer's passphrase; never share it)"]
    lines += [
        ln for ln in key.encode(passphrase).splitlines() if ln.startswith("# DEMO") or not ln.startswith("#")
    ]
    return "\n".join(lines) + "\n"


class _Unlocked:
    """What opens a backup: the keys to try, who they are (for the error), the passphrase the restored
    vault will have, and the vault key when the passphrase gave it (None with --identity)."""

    def __init__(self, keys: list[DecryptionKey], who: str, passphrase: str, vault_key: Identity | None):
        self.keys, self.who, self.passphrase, self.vault_key = keys, who, passphrase, vault_key


def _unlock(header: dict, identity_file: str | None) -> _Unlocked:
    officer = header.get("officer") or "?"
    if identity_file:
        passphrase = read_passphrase(_("Passphrase for %(file)s: ", file=identity_file))
        try:
            identity = Identity.load(Path(identity_file), passphrase)
        except crypto.WrongPassphrase:
            raise ViewerError(
                _("wrong passphrase for %(file)s, or the file was altered", file=identity_file)
            ) from None
        new_passphrase = read_passphrase(_("New passphrase for the restored vault: "), confirm=True)
        if not new_passphrase:
            raise ViewerError(_("the passphrase must not be empty"))
        who = _("officer %(fp)s", fp=identity.fingerprint)
        return _Unlocked([identity.decryption_key], who, new_passphrase, None)
    passphrase = read_passphrase(_("Passphrase for the vault of officer %(fp)s: ", fp=officer))
    try:
        key = Identity.decode(header["vault_key"], passphrase)
    except crypto.WrongPassphrase:
        raise ViewerError(
            _("wrong passphrase for this backup (officer %(fp)s), or its header was altered", fp=officer)
        ) from None
    return _Unlocked([key.decryption_key], _("this passphrase's vault key"), passphrase, key)


def restore(source, target: Path, unlocked: _Unlocked, digest: str, step: Step) -> tuple[dict, int, int]:
    """Unpack the backup's envelope from `source` into a hidden sibling of `target`, check it whole,
    then rename it to `target`. Returns the manifest, the number of cases and of damaged attachments."""
    made = _missing_ancestor(target.parent)  # folders made for it go too if the restore fails
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    work = target.parent / f".{target.name}.restoring-{os.urandom(4).hex()}"
    work.mkdir(mode=0o700)
    try:
        manifest = _unseal(source, _Unpacker(work, step), unlocked.keys, unlocked.who, digest)
        vault_key = _key_from(manifest.get("vault_key"))
        if unlocked.vault_key is None:  # --identity: the vault key, locked under the new passphrase
            (work / "vault.key").unlink(missing_ok=True)
            write_secret_file(work / "vault.key", _vault_key_text(vault_key, unlocked.passphrase))
        elif vault_key.fingerprint != unlocked.vault_key.fingerprint:
            raise ViewerError(_("the backup's manifest is damaged"))
        for sub in VAULT_FOLDERS:  # a backup holds files only: an empty outbox/ or files/ comes back too
            (work / sub).mkdir(mode=0o700, exist_ok=True)
        cases, problems = _check_restored(work, unlocked.passphrase, manifest["files"])
        syncfs(work)
        _check_target(target)  # still empty: nobody wrote there meanwhile
        os.rename(work, target)  # onto a missing or empty folder: all at once
        fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(made or work, ignore_errors=True)
        raise
    return manifest, cases, problems


def cmd_restore(args) -> None:
    target = Path(args.vault)
    _check_target(target)
    _must_exist(args.file, *([args.identity] if args.identity else []))
    with open(Path(args.file), "rb", buffering=_READ) as f:
        header, digest = read_header(f)
        unlocked = _unlock(header, args.identity)
        bar, progress = _bar()
        with bar:
            manifest, cases, problems = restore(
                f, target, unlocked, digest, progress(_("restoring"), header.get("size", 0))
            )
    attachments = sum(1 for e in manifest["files"] if e["path"].startswith("files/"))
    print(
        _(
            "vault of officer %(fp)s restored to %(path)s: %(cases)s, %(attachments)s",
            fp=header.get("officer") or "?",
            path=target,
            cases=ngettext("%(num)d case", "%(num)d cases", cases),
            attachments=ngettext("%(num)d attachment", "%(num)d attachments", attachments),
        )
    )
    _warn(problems)


def _must_exist(*files: str) -> None:
    """A file named on the command line and not there: one translated line, before any passphrase."""
    for file in files:
        if not Path(file).is_file():
            raise CliError(_("no such file: %(path)s", path=file))


def _missing_ancestor(path: Path) -> Path | None:
    """The outermost folder of `path` that does not exist yet (None: it all exists)."""
    missing = None
    for folder in [path, *path.parents]:
        if folder.exists():
            break
        missing = folder
    return missing


def _check_restored(path: Path, passphrase: str, files: list[dict]) -> tuple[int, int]:
    """Open the restored vault as sealview will (head signature, databases); its attachments were
    hashed as they were unpacked, and match the manifest."""
    with contextlib.closing(Vault.open(path, passphrase, write=False)) as vault:
        cases = vault.db.execute("SELECT COUNT(*) FROM cases").fetchone()[0]
        return cases, attachment_problems(vault, files)


def add_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add this module's sealview commands to `sub`."""
    p = sub.add_parser("backup", help=_("write the whole vault to one sealed file, and check it"))
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument(
        "--to",
        action="append",
        default=[],
        metavar="PUBFILE",
        help=_("also seal it to this officer's public key (repeatable)"),
    )
    p.set_defaults(run=cmd_backup)
    p = sub.add_parser("restore", help=_("restore a backup into a new, empty vault folder"))
    p.add_argument("file", metavar="FILE", help=_("the backup file (from `sealview backup`)"))
    p.add_argument(
        "--identity", metavar="FILE", help=_("open it with this officer identity (from `backup --to`)")
    )
    p.set_defaults(run=cmd_restore)
