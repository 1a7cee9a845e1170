"""Onion keys in tor's own file formats, made and read without tor running.

An onion's address is its ED25519 public key, so the key file *is* the address: lose it and the posters
point nowhere; leak it and someone else can be the dropbox. We make keys ourselves (not with ADD_ONION
NEW:) so that `desk-access add` can print a desk's address before any tor has seen it, and we store them
as tor's `hs_ed25519_secret_key`, so a folder can also be handed to a torrc `HiddenServiceDir`.

Client authorization (v3, "descriptor" method) uses X25519 keys: the service lists the public halves
(`authorized_clients/NAME.auth`), the clerk's Tor Browser holds the private half.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from nacl.bindings import crypto_scalarmult_ed25519_base_noclamp

from .errors import ClientAccessError, KeyUnreadable

SECRET_KEY_FILE = "hs_ed25519_secret_key"  # noqa: S105 (a file name)
AUTHORIZED_CLIENTS = "authorized_clients"
_HEADER = b"== ed25519v1-secret: type0 ==\x00\x00\x00"  # tor's 32-byte tag before the 64-byte key
_CLIENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_B32_KEY = re.compile(r"[A-Z2-7]{52}")


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=")


def onion_address(public_key: bytes) -> str:
    """`<56 chars>.onion` for an ED25519 public key (rend-spec-v3: key, checksum, version 3)."""
    version = b"\x03"
    checksum = hashlib.sha3_256(b".onion checksum" + public_key + version).digest()[:2]
    return _b32(public_key + checksum + version).lower() + ".onion"


def _write_private(path: Path, data: bytes) -> None:
    """Create `path` 0600 and never overwrite: a second key for the same onion would be a new address."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


@dataclass(frozen=True)
class OnionKey:
    """A v3 onion service key: tor's "expanded" ED25519 secret (clamped scalar, then hash prefix)."""

    expanded: bytes = field(repr=False)

    def __post_init__(self) -> None:
        scalar = self.expanded[:32]
        if len(self.expanded) != 64 or scalar[0] & 7 or scalar[31] & 0x80 or not scalar[31] & 0x40:
            raise ValueError("not an expanded ED25519 secret key")

    @classmethod
    def generate(cls) -> OnionKey:
        digest = bytearray(hashlib.sha512(os.urandom(32)).digest())  # RFC 8032 key expansion of a seed
        digest[0] &= 248
        digest[31] &= 127
        digest[31] |= 64
        return cls(bytes(digest))

    @classmethod
    def load(cls, path: Path) -> OnionKey:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise KeyUnreadable.os_error(path, e) from None
        if len(data) != 96 or not data.startswith(_HEADER):
            raise KeyUnreadable.not_a_key(path)
        try:
            key = cls(data[32:])
        except ValueError:
            raise KeyUnreadable.not_a_key(path) from None
        if stat.S_IMODE(os.stat(path).st_mode) & 0o077:
            raise KeyUnreadable.too_open(path)
        return key

    @classmethod
    def load_or_create(cls, path: Path) -> OnionKey:
        """The key at `path`; a new one, saved there first, if there is no file at all."""
        if not os.path.lexists(path):
            key = cls.generate()
            _write_private(Path(path), _HEADER + key.expanded)
            return key
        return cls.load(path)

    @property
    def public_key(self) -> bytes:
        return crypto_scalarmult_ed25519_base_noclamp(self.expanded[:32])

    @property
    def address(self) -> str:
        return onion_address(self.public_key)

    def control_blob(self) -> str:
        """The key as ADD_ONION takes it."""
        return "ED25519-V3:" + base64.b64encode(self.expanded).decode("ascii")


@dataclass(frozen=True)
class ClientKey:
    """One client's X25519 key pair for v3 client authorization."""

    private: bytes = field(repr=False)

    @classmethod
    def generate(cls) -> ClientKey:
        return cls(X25519PrivateKey.generate().private_bytes_raw())

    @property
    def public(self) -> str:
        """Base32, as tor's `authorized_clients/NAME.auth` and ADD_ONION's ClientAuthV3 take it."""
        return _b32(X25519PrivateKey.from_private_bytes(self.private).public_key().public_bytes_raw())

    def auth_line(self, address: str) -> str:
        """What the client's Tor Browser (or ClientOnionAuthDir `NAME.auth_private`) needs."""
        return f"{address.removesuffix('.onion')}:descriptor:x25519:{_b32(self.private)}"


class AuthorizedClients:
    """A folder of `NAME.auth` files holding public halves only, as in tor's HiddenServiceDir."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _path(self, name: str) -> Path:
        if not _CLIENT_NAME.fullmatch(name):
            raise ClientAccessError(
                f"{name!r} is not a usable name: up to 64 letters, digits, '.', '_' or '-', starting "
                "with a letter or digit",
                "bad_client_name",
                name=repr(name),
            )
        return self.folder / f"{name}.auth"

    def add(self, name: str) -> ClientKey:
        """A new key pair for `name`; stores the public half and returns the pair (show it once)."""
        path = self._path(name)
        if path.exists():
            raise ClientAccessError(
                f"{name} already has access: revoke it first to issue a new key", "client_exists", name=name
            )
        key = ClientKey.generate()
        _write_private(path, f"descriptor:x25519:{key.public}\n".encode("ascii"))
        return key

    def revoke(self, name: str) -> None:
        path = self._path(name)
        if not path.exists():
            raise ClientAccessError(
                f"no access named {name} (see `sealdrop desk-access list`)", "no_client", name=name
            )
        path.unlink()

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.name.removesuffix(".auth") for p in self.folder.glob("*.auth"))

    def public_keys(self) -> list[str]:
        """Every authorized public key; a file we cannot read or parse stops everything (fail closed)."""
        keys = []
        for name in self.names():
            path = self._path(name)
            try:
                text = path.read_text("ascii").strip()
            except (OSError, UnicodeDecodeError) as e:
                why = str(getattr(e, "strerror", None) or e)
                raise ClientAccessError(
                    f"cannot read the client authorization {path}: {why}",
                    "client_unreadable",
                    path=str(path),
                    why=why,
                ) from None
            method, _, key = text.partition(":x25519:")
            if method != "descriptor" or not _B32_KEY.fullmatch(key.upper()):
                raise ClientAccessError(
                    f"{path} is not a client authorization (descriptor:x25519:KEY)",
                    "not_client_auth",
                    path=str(path),
                )
            keys.append(key.upper())
        return keys
