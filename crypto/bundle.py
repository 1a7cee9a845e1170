"""Signed bundles: what crosses the air gap on a USB stick (docs/bundles.md).

    bundle = MAGIC || u32(len(manifest)) || manifest (UTF-8 JSON) || signature (64) || item bytes...

The manifest names every item with its size and SHA-256, in the order the items follow, and is
signed with Ed25519 under a context naming the bundle's kind, so an export bundle can never pass for
a reply bundle. A reader verifies the signature before it reads an item, and every item's hash before
it hands out anything (`verify`), then streams the items again (`items`), checking each hash again at
its end: a stick changed in between still fails, and callers import inside one transaction.

Sequencing (replayed, withheld, reordered, forked) is checked by `check_chain` against the state the
reader keeps: the last sequence number it accepted and that manifest's hash.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import BadSignature, SealdropCryptoError
from .jsonobject import MAX_DEPTH, NotJSONObject, read_json_object
from .keys import SigningKey, VerifyKey

MAGIC = b"sealdrop-bundle\x00"
SIG_LEN = 64
MAX_MANIFEST = 16 * 1024 * 1024
MAX_ITEM = 1 << 62  # bytes in one item: beyond any disk, below what file.read() can be asked for
KINDS = {"export": "sealdrop-export/1", "replies": "sealdrop-replies/1", "state": "sealdrop-state/1"}
_LEN = struct.Struct(">I")
_COPY = 1 << 20


class BundleError(SealdropCryptoError):
    """A bundle is refused; `reason` is a short code (truncated, tampered, replayed, ...), `item` the
    name of the item it happened in, if any, and `trailing` whether bytes follow the last item: enough
    for a reader to say it in their own language without parsing the English message."""

    def __init__(self, reason: str, message: str, *, item: str | None = None, trailing: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.item = item
        self.trailing = trailing


@dataclass(frozen=True)
class Manifest:
    raw: bytes
    data: dict

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def sequence(self) -> int:
        return self.data["sequence"]

    @property
    def items(self) -> list[dict]:
        return self.data["items"]


Source = Path | Callable[[], BinaryIO]  # an item's bytes: a file, or what opens a stream of them


def _open(source: Source) -> BinaryIO:
    return source() if callable(source) else open(source, "rb")


def _file_digest(path: Source) -> tuple[int, str]:
    h, size = hashlib.sha256(), 0
    with _open(path) as f:
        while chunk := f.read(_COPY):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def write(
    dst: BinaryIO, kind: str, fields: dict, entries: list[tuple[dict, Source]], key: SigningKey
) -> Manifest:
    """Write a bundle of `kind` ("export" or "replies"): `fields` go into the manifest as they are,
    each item is a (metadata, file) pair, the file a path or a function that opens it (a blob store's
    stream); the manifest adds name, size and sha256 to each."""
    listed = []
    for i, (meta, path) in enumerate(entries):
        size, digest = _file_digest(path)
        listed.append({**meta, "name": f"item-{i}", "size": size, "sha256": digest})
    data = {"format": KINDS[kind], **fields, "items": listed}
    raw = json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8")
    dst.write(MAGIC + _LEN.pack(len(raw)) + raw + key.sign(f"{kind}-bundle", raw))
    for _, path in entries:
        with _open(path) as f:
            while chunk := f.read(_COPY):
                dst.write(chunk)
    return Manifest(raw, data)


def _read_exact(src: BinaryIO, n: int, what: str) -> bytes:
    data = src.read(n)
    if len(data) != n:
        raise BundleError("truncated", f"the bundle is truncated ({what})")
    return data


def read_manifest(src: BinaryIO, kind: str, keys: list[VerifyKey]) -> Manifest:
    """Read and verify the signed manifest at the start of `src` with any of `keys`."""
    if src.read(len(MAGIC)) != MAGIC:
        raise BundleError("not_a_bundle", "this file is not a sealdrop bundle")
    (length,) = _LEN.unpack(_read_exact(src, _LEN.size, "length"))
    if length > MAX_MANIFEST:
        raise BundleError("tampered", "the bundle's manifest is impossibly large")
    raw = _read_exact(src, length, "manifest")
    signature = _read_exact(src, SIG_LEN, "signature")
    if not any(_verifies(k, kind, raw, signature) for k in keys):
        raise BundleError("bad_signature", f"the {kind} bundle is not signed by a key this side trusts")
    data = json_object(raw)
    if data.get("format") != KINDS[kind]:
        raise BundleError("wrong_kind", f"this is not a {kind} bundle")
    _check_items(data.get("items"))
    return Manifest(raw, data)


def json_object(raw: bytes) -> dict:
    """A manifest's bytes as a JSON object, or BundleError: never RecursionError or another type."""
    try:
        return read_json_object(raw, len(raw), MAX_DEPTH)
    except NotJSONObject as e:
        raise BundleError("tampered", f"the bundle's manifest is {e}") from None


def _verifies(key: VerifyKey, kind: str, raw: bytes, signature: bytes) -> bool:
    try:
        key.verify(f"{kind}-bundle", raw, signature)
    except BadSignature:
        return False
    return True


def _check_items(items: object) -> None:
    ok = isinstance(items, list) and all(
        isinstance(i, dict) and isinstance(i.get("name"), str)
        and type(i.get("size")) is int and 0 <= i["size"] <= MAX_ITEM
        and isinstance(i.get("sha256"), str) and len(i["sha256"]) == 64
        for i in items
    )  # fmt: skip
    if not ok:
        raise BundleError("tampered", "the bundle's manifest lists malformed items")


class _ItemReader:
    """Reads exactly one item's bytes and checks its hash when the last byte has been read."""

    def __init__(self, src: BinaryIO, item: dict) -> None:
        self._src, self._item, self._left = src, item, item["size"]
        self._hash = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        n = self._left if n < 0 else min(n, self._left)
        data = self._src.read(n)
        if len(data) != n:
            name = self._item["name"]
            raise BundleError("truncated", f"the bundle is truncated (inside {name})", item=name)
        self._hash.update(data)
        self._left -= n
        if self._left == 0 and self._hash.hexdigest() != self._item["sha256"]:
            raise _item_changed(self._item["name"])
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        while self._left:
            self.read(_COPY)
        if self._item["size"] == 0 and self._hash.hexdigest() != self._item["sha256"]:
            raise _item_changed(self._item["name"])


def _item_changed(name: str) -> BundleError:
    return BundleError("tampered", f"{name} of the bundle does not match its manifest", item=name)


def items(src: BinaryIO, manifest: Manifest) -> Iterator[tuple[dict, _ItemReader]]:
    """Yield (metadata, reader) per item, in order; a reader the caller leaves unread is skipped
    (and still checked). Raises BundleError at the first mismatch and on trailing bytes."""
    for item in manifest.items:
        reader = _ItemReader(src, item)
        yield item, reader
        reader.drain()
    if src.read(1):
        raise BundleError("tampered", "the bundle has bytes after its last item", trailing=True)


def verify(path: Path, kind: str, keys: list[VerifyKey]) -> Manifest:
    """Check signature, every item's hash and the exact length, reading the whole file once."""
    with open(path, "rb") as f:
        manifest = read_manifest(f, kind, keys)
        for _ in items(f, manifest):
            pass
    return manifest


def check_chain(manifest: Manifest, last_sequence: int, last_sha256: str | None) -> None:
    """Refuse a bundle that is not the one right after the last accepted one."""
    seq, previous = manifest.data.get("sequence"), manifest.data.get("previous")
    if not isinstance(seq, int):
        raise BundleError("tampered", "the bundle has no sequence number")
    if seq <= last_sequence:
        raise BundleError("replayed", f"bundle {seq} was already imported (last imported: {last_sequence})")
    if seq > last_sequence + 1:
        missing = last_sequence + 1
        raise BundleError(
            "withheld", f"bundle {seq} arrived but {missing} is missing: import bundles in order"
        )
    if previous != last_sha256:
        raise BundleError("forked", f"bundle {seq} does not follow the bundle imported before it")
