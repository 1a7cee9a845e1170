"""The sealview backup file (docs/backup.md): writing it, reading it back, unpacking it.

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

The commands that use it, `sealview backup` and `sealview restore`, are in viewer/backup.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import crypto
from crypto import DecryptionKey, Identity, PublicKey, SigningKey

from .errors import ViewerError
from .i18n import _
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
