"""Vault backup and restore (issue 14 item 2): `sealview backup` and `sealview restore` (docs/backup.md).

A backup is one file:

    b"sealview-backup/1\\n"
    one JSON line: {"format", "vault", "officer", "made", "vault_key": <vault.key's text>, "to": [...]}
    an envelope (crypto.seal) to the vault key and to every `--to` officer, whose plaintext is the archive:
        b"sealview-backup-archive/1\\n"
        per file: a 4-byte big-endian length, a JSON header {"path", "size"}, then `size` bytes
        last: a 4-byte length and {"manifest": {..., "files": [{"path", "size", "sha256"}, ...]}}

The header's vault.key is sealed under the vault passphrase (Argon2id), so the passphrase alone opens
the backup; the manifest carries the vault key itself, so a `--to` officer can restore it under a new
passphrase. Everything streams: no file is ever held whole in memory, whatever its size.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import crypto
from crypto import DecryptionKey, Identity, PublicKey, SigningKey
from crypto.cli import CliError, atomic_output, read_passphrase
from crypto.keys import write_secret_file

from .disk import fsync_dir, syncfs
from .errors import ViewerError
from .i18n import _, ngettext
from .labels import human_size
from .vault import Vault, today

FORMAT = "sealview-backup/1"
MAGIC = FORMAT.encode("ascii") + b"\n"
ARCHIVE_MAGIC = b"sealview-backup-archive/1\n"
MAX_HEADER = 64 * 1024  # the JSON line: a vault.key and a few fingerprints
MAX_RECORD = 64 << 20  # a record's JSON: the manifest of a vault with a few hundred thousand files
_LENGTH = struct.Struct(">I")
_PATH = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}(/[A-Za-z0-9][A-Za-z0-9._-]{0,127}){0,3}")
_READ = 1 << 20
VAULT_FOLDERS = ("db", "files", "outbox")  # as Vault.create makes them, empty or not

Step = Callable[[int], None]  # told how many more bytes of the vault's files went by
Progress = Callable[[str, int], Step]  # (what is being done, how many bytes in all) -> a Step


def _no_step(n: int) -> None:
    pass


def _quiet(stage: str, total: int) -> Step:
    return _no_step


def _bar():
    """The progress bar `sealview import` shows (rich, on a terminal only), and a Progress for it."""
    from .cli import _progress

    bar, update = _progress()

    def progress(stage: str, total: int) -> Step:
        done = 0

        def step(n: int) -> None:
            nonlocal done
            done += n
            update(stage, done, total)

        return step

    return bar, progress


# -- writing ---------------------------------------------------------------------------------------


def _frame(record: dict) -> bytes:
    data = json.dumps(record, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return _LENGTH.pack(len(data)) + data


def vault_files(path: Path) -> list[str]:
    """The vault's files, relative: everything but the lock and dot files (partial writes a sweep
    removes). Opened for writing, the vault has already swept stale databases and orphan attachments."""
    found = []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            full = Path(root) / name
            rel = full.relative_to(path).as_posix()
            if name.startswith(".") or rel == "lock" or not full.is_file() or full.is_symlink():
                continue
            found.append(rel)
    return found


class _Source(io.RawIOBase):
    """A readable file whose bytes are the archive, made piece by piece as crypto.seal reads it."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._left = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._left:
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._left = memoryview(piece)
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n


def _archive(path: Path, files: list[str], manifest: dict, step: Step) -> Iterator[bytes]:
    """The archive's bytes; `manifest["files"]` is filled as each file is read and hashed."""
    yield ARCHIVE_MAGIC
    for rel in files:
        with open(path / rel, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            yield _frame({"path": rel, "size": size})
            digest, left = hashlib.sha256(), size
            while left:
                chunk = f.read(min(_READ, left))
                if not chunk:
                    raise ViewerError(_("%(file)s changed while it was backed up", file=rel))
                digest.update(chunk)
                left -= len(chunk)
                step(len(chunk))
                yield chunk
        manifest["files"].append({"path": rel, "size": size, "sha256": digest.hexdigest()})
    yield _frame({"manifest": manifest})


def _key_record(key: Identity) -> dict:
    return {
        "x25519": key.decryption_key.private_bytes().hex(),
        "ed25519": key.signing_key.seed().hex(),
        "demo": key.demo,
    }


def _key_from(record: object) -> Identity:
    try:
        return Identity(
            DecryptionKey.from_private_bytes(bytes.fromhex(record["x25519"])),
            SigningKey.from_seed(bytes.fromhex(record["ed25519"])),
            demo=bool(record["demo"]),
        )
    except (TypeError, KeyError, ValueError):
        raise ViewerError(_("the backup's manifest is damaged")) from None


def write_backup(vault: Vault, out, recipients: list[PublicKey], progress: Progress = _quiet) -> dict:
    """Write the whole vault to `out` (a raw file): header line, then the envelope. Returns the
    manifest. The caller holds the vault for writing, so nothing changes while it is read."""
    key = vault._key  # the vault key: sealview's own module, the one other place that needs it
    info = json.loads((vault.path / "vault.json").read_text("utf-8"))
    files = vault_files(vault.path)
    size = sum((vault.path / rel).stat().st_size for rel in files)
    header = {
        "format": FORMAT,
        "vault": vault.head["vault"],
        "officer": info.get("officer", ""),
        "made": today(),
        "vault_key": (vault.path / "vault.key").read_text("ascii"),
        "to": [p.fingerprint for p in recipients],
        "size": size,  # of the vault's files, for the restore's progress bar
    }
    head = MAGIC + json.dumps(header, sort_keys=True).encode("ascii") + b"\n"
    manifest = {
        "format": FORMAT,
        "vault": vault.head["vault"],
        "generation": vault.head["generation"],
        "header": hashlib.sha256(head).hexdigest(),  # the header is outside the envelope: bound here
        "vault_key": _key_record(key),
        "files": [],
    }
    _write_all(out, head)
    pieces = _archive(vault.path, files, manifest, progress(_("writing"), size))
    crypto.seal(_Source(pieces), out, [key.decryption_key.recipient, *(p.recipient for p in recipients)])
    return manifest


def _write_all(out, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[out.write(view) :]


# -- reading ---------------------------------------------------------------------------------------


def read_header(f) -> tuple[dict, str]:
    """The backup's header line, from a buffered binary file positioned at its start, and the SHA-256
    of the header's bytes (the manifest inside the envelope names it)."""
    if f.read(len(MAGIC)) != MAGIC:
        raise ViewerError(_("this is not a sealview backup (or one of another version)"))
    line = f.readline(MAX_HEADER)
    try:
        header = json.loads(line)
        if not isinstance(header, dict) or not isinstance(header["vault_key"], str):
            raise ValueError
    except (ValueError, KeyError):
        raise ViewerError(_("the backup's header is damaged")) from None
    return header, hashlib.sha256(MAGIC + line).hexdigest()


class _Unpacker:
    """Takes the archive's bytes as crypto.unseal writes them, checks them, and writes each file under
    `into` (or only hashes them when `into` is None: the check after a backup)."""

    def __init__(self, into: Path | None, step: Step = _no_step) -> None:
        self.into, self._step = into, step
        self.files: list[dict] = []
        self._paths: set[str] = set()
        self.manifest: dict | None = None
        self.size = 0
        self._buf = bytearray()
        self._need, self._state = len(ARCHIVE_MAGIC), "magic"
        self._file = None
        self._current: dict = {}
        self._left = 0
        self._hash = hashlib.sha256()

    def write(self, data) -> int:
        view = memoryview(data)
        while view:
            if self._state == "body":
                part = view[: self._left]
                self._hash.update(part)
                if self._file is not None:
                    self._file.write(part)
                self._left -= len(part)
                self._step(len(part))
                view = view[len(part) :]
                if not self._left:
                    self._end_file()
                continue
            if self._state == "done":
                raise ViewerError(_("the backup has data after its manifest"))
            take = min(self._need - len(self._buf), len(view))
            self._buf += view[:take]
            view = view[take:]
            if len(self._buf) == self._need:
                piece, self._buf = bytes(self._buf), bytearray()
                self._advance(piece)
        return len(data)

    def _advance(self, piece: bytes) -> None:
        if self._state == "magic":
            if piece != ARCHIVE_MAGIC:
                raise ViewerError(_("the backup's archive is of another version"))
            self._need, self._state = _LENGTH.size, "length"
        elif self._state == "length":
            (self._need,) = _LENGTH.unpack(piece)
            if not 2 <= self._need <= MAX_RECORD:
                raise ViewerError(_("the backup's archive is damaged"))
            self._state = "record"
        else:
            self._record(piece)

    def _record(self, piece: bytes) -> None:
        try:
            record = json.loads(piece)
            if "manifest" in record:
                self.manifest = record["manifest"]
                self._state = "done"
                return
            path, size = record["path"], record["size"]
            if not (isinstance(path, str) and _PATH.fullmatch(path) and isinstance(size, int) and size >= 0):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise ViewerError(_("the backup's archive is damaged")) from None
        if path in self._paths:
            raise ViewerError(_("the backup names %(file)s twice", file=path))
        self._paths.add(path)
        self._current, self._left, self._hash = {"path": path, "size": size}, size, hashlib.sha256()
        if self.into is not None:
            target = self.into / path
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._file = open(target, "xb", buffering=_READ)  # noqa: SIM115 (closed in _end_file)
        self._state = "body"
        if not size:
            self._end_file()

    def _end_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.files.append(dict(self._current, sha256=self._hash.hexdigest()))
        self.size += self._current["size"]
        self._need, self._state = _LENGTH.size, "length"

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def finish(self) -> dict:
        """The manifest, once everything arrived and every file matches it."""
        if self._state != "done" or not isinstance(self.manifest, dict):
            raise ViewerError(_("the backup ends before its manifest: it is truncated"))
        listed = self.manifest.get("files")
        if listed != self.files:
            raise ViewerError(_("the backup's files do not match its manifest: it was altered"))
        if self.manifest.get("format") != FORMAT:
            raise ViewerError(_("this is not a sealview backup (or one of another version)"))
        return self.manifest


def _unseal(src, sink: _Unpacker, keys: list[DecryptionKey], who: str, header_sha256: str) -> dict:
    try:
        crypto.unseal(src, sink, keys)
    except crypto.NoMatch:
        raise ViewerError(_("this backup is not sealed to %(who)s", who=who)) from None
    except crypto.EnvelopeError:  # its reason is English and technical (a chunk's number): one plain line
        raise ViewerError(
            _("the backup is damaged or was altered (cut short, changed or reordered)")
        ) from None
    finally:
        sink.close()
    manifest = sink.finish()
    if manifest.get("header") != header_sha256:
        raise ViewerError(_("the backup's header was altered"))
    return manifest


class _FdReader(io.RawIOBase):
    """Reads a file through a descriptor opened for writing too (atomic_output's temporary file is
    O_RDWR), from the start, without moving the writer's offset: the file is checked before its rename."""

    def __init__(self, fd: int) -> None:
        self._fd, self._at = fd, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = os.preadv(self._fd, [buffer], self._at)
        self._at += n
        return n


def verify_written(fd: int, key: Identity, written: dict, progress: Progress = _quiet) -> _Unpacker:
    """Read the backup just written back from the disk: its header, its envelope, every file's hash."""
    with io.BufferedReader(_FdReader(fd), _READ) as f:
        header, digest = read_header(f)
        sink = _Unpacker(None, progress(_("verifying"), header.get("size", 0)))
        manifest = _unseal(f, sink, [key.decryption_key], _("this vault's key"), digest)
    if header.get("vault") != written["vault"] or manifest != written:
        raise ViewerError(_("the backup read back from the disk differs from what was written"))
    return sink


# -- the commands ----------------------------------------------------------------------------------


def cmd_backup(args) -> None:
    from .cli import _open  # the one way a command unlocks its vault (cli imports this module)

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
