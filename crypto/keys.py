"""Keys: recipients, officer identities, server signing keys, fingerprints (docs/keys.md).

- `RecipientKey` / `DecryptionKey`: the two halves of an X25519 key; envelopes are sealed to the first
  and opened with the second.
- `VerifyKey` / `SigningKey`: the two halves of an Ed25519 key; bundles are signed with the second.
- `PublicKey`: what an officer hands the server (a RecipientKey and a VerifyKey), with a fingerprint
  short enough to read aloud over the phone.
- `Identity`: the officer's secret half, kept in a file sealed under a passphrase (Argon2id + secretbox).
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from ._primitives import key_id, label
from .errors import BadSignature, KeyFormatError, WrongPassphrase

PUBLIC_KEY_PREFIX = "sealdrop-public-key-v1:"
IDENTITY_PREFIX = "sealdrop-identity-v1:"
SIGNING_KEY_PREFIX = "sealdrop-signing-key-v1:"
VERIFY_KEY_PREFIX = "sealdrop-verify-key-v1:"

# Argon2id cost for identity files: libsodium's "moderate" (3 passes, 256 MiB), about a second.
# Written out rather than read from nacl.pwhash so that sealing, which needs no passphrase, does not
# load PyNaCl at all (`python -m crypto seal` starts faster); tests/test_keys.py checks they agree.
KDF_OPSLIMIT = 3
KDF_MEMLIMIT = 256 << 20
# The most an identity file may ask for: libsodium's "sensitive" (1 GiB). More is refused unread.
KDF_MAX_OPSLIMIT = 16
KDF_MAX_MEMLIMIT = 1 << 30
_IDENTITY_HEAD = struct.Struct(">BIQ16s")  # version, opslimit, memlimit, salt
_FLAG_DEMO = 0x01


def _raw(key: X25519PublicKey | Ed25519PublicKey) -> bytes:
    return key.public_bytes_raw()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raise KeyFormatError(f"{what} is not valid base64url") from None


def _key_line(text: str, prefix: str, what: str) -> str:
    """The one non-comment line of a key file, which must start with `prefix`."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if len(lines) != 1 or not lines[0].startswith(prefix):
        raise KeyFormatError(f"this is not a {what} (expected one line starting {prefix!r})")
    return lines[0][len(prefix) :]


def write_secret_file(path: Path, text: str) -> None:
    """Create `path` 0600 from the start (never widened then narrowed); refuse to overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(text)


@dataclass(frozen=True)
class RecipientKey:
    """An X25519 public key that envelopes can be sealed to."""

    public_bytes: bytes

    def __post_init__(self) -> None:
        if len(self.public_bytes) != 32:
            raise KeyFormatError("an X25519 public key is 32 bytes")

    @property
    def key_id(self) -> bytes:
        return key_id(self.public_bytes)


class DecryptionKey:
    """An X25519 private key that opens envelopes sealed to its RecipientKey."""

    def __init__(self, private: X25519PrivateKey) -> None:
        self._private = private
        self.recipient = RecipientKey(_raw(private.public_key()))
        self.key_id = self.recipient.key_id

    @classmethod
    def generate(cls) -> DecryptionKey:
        return cls(X25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, raw: bytes) -> DecryptionKey:
        return cls(X25519PrivateKey.from_private_bytes(raw))

    def private_bytes(self) -> bytes:
        return self._private.private_bytes_raw()


def _signed_message(context: str, message: bytes) -> bytes:
    # Domain separation: a signature over one kind of object never verifies as another kind.
    return label("sig/" + context) + b"\x00" + message


@dataclass(frozen=True)
class VerifyKey:
    """An Ed25519 public key."""

    public_bytes: bytes

    def __post_init__(self) -> None:
        if len(self.public_bytes) != 32:
            raise KeyFormatError("an Ed25519 public key is 32 bytes")

    def verify(self, context: str, message: bytes, signature: bytes) -> None:
        """Raise BadSignature unless `signature` is ours over (context, message)."""
        try:
            key = Ed25519PublicKey.from_public_bytes(self.public_bytes)
            key.verify(signature, _signed_message(context, message))
        except (InvalidSignature, ValueError):
            raise BadSignature(f"the {context} signature does not verify with the pinned key") from None

    def encode(self) -> str:
        return VERIFY_KEY_PREFIX + _b64(self.public_bytes)

    @classmethod
    def parse(cls, text: str) -> VerifyKey:
        raw = _unb64(_key_line(text, VERIFY_KEY_PREFIX, "signature verification key"), "the verify key")
        return cls(raw)

    @property
    def fingerprint(self) -> str:
        return fingerprint(b"ed25519", self.public_bytes)


class SigningKey:
    """An Ed25519 private key (the server's, or the signing half of an officer identity)."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.verify_key = VerifyKey(_raw(private.public_key()))

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def seed(self) -> bytes:
        return self._private.private_bytes_raw()

    def sign(self, context: str, message: bytes) -> bytes:
        return self._private.sign(_signed_message(context, message))

    def save(self, path: Path) -> None:
        """Write an unattended server's key: no passphrase, file mode 0600."""
        write_secret_file(Path(path), SIGNING_KEY_PREFIX + _b64(self.seed()) + "\n")

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        raw = _unb64(_key_line(Path(path).read_text("ascii"), SIGNING_KEY_PREFIX, "signing key"), "key")
        if len(raw) != 32:
            raise KeyFormatError("an Ed25519 signing key seed is 32 bytes")
        return cls.from_seed(raw)


def fingerprint(kind: bytes, *parts: bytes) -> str:
    """25 decimal digits in groups of five: about 83 bits, easy to read aloud in any language."""
    digest = hashlib.sha256(label("fingerprint/") + kind + b"".join(parts)).digest()
    digits = f"{int.from_bytes(digest[:16], 'big') % 10**25:025d}"
    return " ".join(digits[i : i + 5] for i in range(0, 25, 5))


@dataclass(frozen=True)
class PublicKey:
    """An officer's public key: envelopes are sealed to `recipient`, replies verified with `verify_key`."""

    recipient: RecipientKey
    verify_key: VerifyKey

    @property
    def fingerprint(self) -> str:
        return fingerprint(b"officer", self.recipient.public_bytes, self.verify_key.public_bytes)

    def encode(self) -> str:
        return PUBLIC_KEY_PREFIX + _b64(self.recipient.public_bytes + self.verify_key.public_bytes)

    def to_file_text(self, comment: str = "") -> str:
        lines = ["# sealdrop officer public key", f"# fingerprint: {self.fingerprint}"]
        if comment:
            lines.append(f"# {comment}")
        return "\n".join([*lines, self.encode(), ""])

    @classmethod
    def parse(cls, text: str) -> PublicKey:
        raw = _unb64(_key_line(text, PUBLIC_KEY_PREFIX, "sealdrop public key"), "the public key")
        if len(raw) != 64:
            raise KeyFormatError("a sealdrop public key holds 64 bytes")
        return cls(RecipientKey(raw[:32]), VerifyKey(raw[32:]))

    @classmethod
    def load(cls, path: Path) -> PublicKey:
        return cls.parse(Path(path).read_text("utf-8", errors="replace"))


class Identity:
    """An officer's secret keys: X25519 to open envelopes, Ed25519 to sign replies."""

    def __init__(self, decryption_key: DecryptionKey, signing_key: SigningKey, *, demo: bool = False):
        self.decryption_key = decryption_key
        self.signing_key = signing_key
        self.demo = demo
        self.public_key = PublicKey(decryption_key.recipient, signing_key.verify_key)

    @classmethod
    def generate(cls, *, demo: bool = False) -> Identity:
        return cls(DecryptionKey.generate(), SigningKey.generate(), demo=demo)

    @property
    def fingerprint(self) -> str:
        return self.public_key.fingerprint

    def encode(self, passphrase: str) -> str:
        """The identity file's text: the secret keys sealed under `passphrase`."""
        if not passphrase and not self.demo:
            raise ValueError("an empty passphrase is allowed only for demo identities")
        import nacl.secret

        salt = os.urandom(16)
        head = _IDENTITY_HEAD.pack(1, KDF_OPSLIMIT, KDF_MEMLIMIT, salt)
        box = nacl.secret.SecretBox(_passphrase_key(passphrase, salt, KDF_OPSLIMIT, KDF_MEMLIMIT))
        secret = self.decryption_key.private_bytes() + self.signing_key.seed()
        secret += bytes([_FLAG_DEMO if self.demo else 0])
        sealed = box.encrypt(secret, os.urandom(box.NONCE_SIZE))
        demo_line = ["# DEMO ONLY: empty passphrase, never use for real reports"] if self.demo else []
        return "\n".join(
            ["# sealdrop officer identity (secret: keep it on the offline machine)",
             f"# fingerprint: {self.fingerprint}", *demo_line,
             IDENTITY_PREFIX + _b64(head + bytes(sealed)), ""]
        )  # fmt: skip

    def save(self, path: Path, passphrase: str) -> None:
        write_secret_file(Path(path), self.encode(passphrase))

    @classmethod
    def decode(cls, text: str, passphrase: str) -> Identity:
        import nacl.exceptions
        import nacl.secret

        raw = _unb64(_key_line(text, IDENTITY_PREFIX, "sealdrop identity"), "the identity")
        if len(raw) < _IDENTITY_HEAD.size or raw[0] != 1:
            raise KeyFormatError("this identity file is damaged or of an unknown version")
        _, opslimit, memlimit, salt = _IDENTITY_HEAD.unpack_from(raw)
        if opslimit > KDF_MAX_OPSLIMIT or memlimit > KDF_MAX_MEMLIMIT:
            raise KeyFormatError("this identity file asks for an unreasonable passphrase cost")
        box = nacl.secret.SecretBox(_passphrase_key(passphrase, salt, opslimit, memlimit))
        try:
            secret = box.decrypt(raw[_IDENTITY_HEAD.size :])
        except nacl.exceptions.CryptoError:
            raise WrongPassphrase("wrong passphrase for this identity (or the file was altered)") from None
        if len(secret) != 65:
            raise KeyFormatError("this identity file holds keys of the wrong size")
        return cls(
            DecryptionKey.from_private_bytes(secret[:32]),
            SigningKey.from_seed(secret[32:64]),
            demo=bool(secret[64] & _FLAG_DEMO),
        )

    @classmethod
    def load(cls, path: Path, passphrase: str) -> Identity:
        return cls.decode(Path(path).read_text("utf-8", errors="replace"), passphrase)


def _passphrase_key(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    import nacl.pwhash  # here, not at the top: only identities need PyNaCl (see KDF_OPSLIMIT)
    import nacl.secret

    return nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE, passphrase.encode("utf-8"), salt,
        opslimit=opslimit, memlimit=memlimit,
    )  # fmt: skip
