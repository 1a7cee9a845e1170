"""The vault's attachment files: each envelope exactly as the bundle carried it, under its SHA-256 in
DIR/files/XX/ (viewer/vault.py describes the whole folder). Vault has these methods from AttachmentFiles."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .disk import FileWriter
from .errors import ViewerError
from .i18n import _


class AttachmentFiles:
    """Where an attachment's file is, writing a new one, and reading one back checked against its name.
    Needs the vault's `path` and `_dirs` (the attachment directories known to exist)."""

    path: Path
    _dirs: set[Path]

    def file_path(self, name: str) -> Path:
        if len(name) != 64 or any(c not in "0123456789abcdef" for c in name):
            raise ViewerError("internal error: a bad attachment file name")
        return self.path / "files" / name[:2] / name

    def new_file(self, name: str) -> FileWriter:
        return FileWriter(self, name)

    def ensure_dir(self, path: Path) -> None:
        """mkdir once per directory and process (a failing mkdir costs a system call per photo)."""
        if path not in self._dirs:
            path.mkdir(mode=0o700, exist_ok=True)
            self._dirs.add(path)

    def read_envelope(self, name: str) -> bytes:
        """An attachment's envelope, checked against the hash the signed manifest gave for it."""
        data = self.file_path(name).read_bytes()
        if hashlib.sha256(data).hexdigest() != name:
            raise ViewerError(_("this attachment's file in the vault was altered"))
        return data

    def check_envelope_file(self, name: str) -> Path:
        """Like read_envelope for large files: hash in a stream, return the path to stream from."""
        path = self.file_path(name)
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        if h.hexdigest() != name:
            raise ViewerError(_("this attachment's file in the vault was altered"))
        return path
