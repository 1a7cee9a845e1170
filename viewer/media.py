"""Attachments out of the vault: checked against the hash the signed manifest gave, then opened with the
officer's key, into memory (photos, bounded) or as a stream (video, audio, downloads) through a pipe,
never through a file: plaintext does not touch the disk."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from typing import BinaryIO

import crypto

from .errors import NotFound, ViewerError
from .i18n import _
from .vault import Vault


def attachment(vault: Vault, att_id: int):
    with vault.lock:
        row = vault.db.execute(
            "SELECT a.*, c.number AS case_number FROM attachments a JOIN cases c ON c.id = a.case_id"
            " WHERE a.id = ?",
            (att_id,),
        ).fetchone()
    if row is None or not row["opened"] or not row["file"]:
        raise NotFound(_("no such attachment in this vault (or it could not be opened)"))
    return row


class _Capped:
    def __init__(self, limit: int) -> None:
        self.parts: list[bytes] = []
        self.size, self.limit = 0, limit

    def write(self, data) -> int:
        self.size += len(data)
        if self.size > self.limit:
            raise _TooLarge
        self.parts.append(bytes(data))
        return len(data)


class _TooLarge(Exception):
    pass


def plaintext(vault: Vault, row, limit: int) -> bytes | None:
    """The attachment's bytes if they are at most `limit` long, else None."""
    if row["size"] is not None and row["size"] > limit:
        return None
    envelope = vault.read_envelope(row["file"])
    sink = _Capped(limit)
    try:
        crypto.unseal(io.BytesIO(envelope), sink, vault.decryption_keys)  # old keys too (a rotation)
    except _TooLarge:
        return None
    except crypto.EnvelopeError as e:
        raise ViewerError(_("this attachment no longer opens: %(reason)s", reason=e)) from None
    return b"".join(sink.parts)


def stream(vault: Vault, row, chunk: int = 1 << 16) -> Iterator[bytes]:
    """The attachment's plaintext in chunks, decrypted in a thread into a pipe. If the consumer stops
    early, the thread stops at its next write."""
    path = vault.check_envelope_file(row["file"])
    keys = vault.decryption_keys
    r, w = os.pipe()
    failed: list[BaseException] = []

    def work() -> None:
        try:
            with open(path, "rb") as src, os.fdopen(w, "wb") as dst:
                crypto.unseal(src, dst, keys)
        except BrokenPipeError:
            pass
        except BaseException as e:  # reported to the reader below
            failed.append(e)

    thread = threading.Thread(target=work, name="sealview-unseal", daemon=True)
    thread.start()
    try:
        with os.fdopen(r, "rb") as src:
            while data := src.read(chunk):
                yield data
    finally:
        thread.join(timeout=5)
    if failed:
        raise ViewerError(_("this attachment no longer opens: %(reason)s", reason=failed[0]))


def plaintext_head(vault: Vault, row, n: int) -> bytes:
    """The attachment's first `n` bytes (fewer if it is shorter), decrypting only its first chunk."""
    chunks = stream(vault, row)
    head = b""
    try:
        for data in chunks:
            head += data
            if len(head) >= n:
                break
    finally:
        chunks.close()
    return head[:n]


def copy_to(vault: Vault, row, dst: BinaryIO) -> None:
    for data in stream(vault, row):
        dst.write(data)
