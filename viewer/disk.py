"""The vault's files on disk: flushing them, and writing attachment envelopes as they stream in.

Kept apart from vault.py, which decides what is written when; this module only knows how to make a
file durable cheaply on Linux (syncfs, sync_file_range) and falls back to the portable calls.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .vault import Vault


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def syncfs(path: Path) -> None:
    """Flush every file of the vault's file system at once (one call instead of an fsync per photo)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syncfs(fd) != 0:
            os.sync()
    except (OSError, AttributeError):
        os.sync()
    finally:
        os.close(fd)


_WRITE_BUFFER = 1 << 20  # the envelope parser reads 64 KiB at a time: one write a MiB, not sixteen


def _libc_sync_file_range():
    try:
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    return fn


_sync_file_range = _libc_sync_file_range()
_SYNC_FILE_RANGE_WRITE = 2


class HashingWriter:
    """Passes writes through to `f` and hashes them on the way (SHA-256)."""

    def __init__(self, f) -> None:
        self.f, self.hash = f, hashlib.sha256()

    def write(self, data) -> int:
        self.hash.update(data)
        return self.f.write(data)


class FileWriter:
    """A new attachment file, written straight under its name (the envelope's SHA-256, which the signed
    manifest gave) so that keeping it costs no rename. If a file of that name is there already, the new
    bytes go to a temporary name that replaces it only on `keep`. A file half written when a crash came
    is in no database: the next writer's sweep removes it, and every read checks the hash anyway."""

    def __init__(self, vault: Vault, name: str) -> None:
        self.path = vault.file_path(name)
        vault.ensure_dir(self.path.parent)
        self.tmp: Path | None = None
        try:
            self.f = open(self.path, "xb", buffering=_WRITE_BUFFER)  # noqa: SIM115 (keep or discard)
        except FileExistsError:
            self.tmp = self.path.with_name(f".{os.urandom(8).hex()}.partial")
            self.f = open(self.tmp, "xb", buffering=_WRITE_BUFFER)  # noqa: SIM115

    def write(self, data) -> int:
        return self.f.write(data)

    def keep(self) -> Path | None:
        """All is written: close, let the disk start on it now rather than at the one flush before
        the head (Linux sync_file_range; that flush still waits for it). Returns the path if this
        import made the file, None if it replaced one that was there."""
        self.f.flush()
        if _sync_file_range is not None:
            _sync_file_range(self.f.fileno(), 0, 0, _SYNC_FILE_RANGE_WRITE)
        self.f.close()
        if self.tmp is None:
            return self.path
        os.replace(self.tmp, self.path)
        return None

    def discard(self) -> None:
        self.f.close()
        (self.tmp or self.path).unlink(missing_ok=True)
