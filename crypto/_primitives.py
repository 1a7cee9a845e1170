"""The dangerous layer: raw HKDF, HMAC, HPKE and key ids, named as their standards name them.

Nothing outside `crypto/` imports this module. Every function here does exactly what its RFC says,
with sealdrop's labels applied by the callers in this package; none of them checks anything a caller
could forget. See docs/envelope.md for where each one is used.
"""

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

LABEL_PREFIX = b"sealdrop.org/v1/"
FORMAT_VERSION = 1

_HPKE_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
HPKE_ENC_LEN = 32
FILE_KEY_LEN = 32
HPKE_CT_LEN = FILE_KEY_LEN + 16
KEY_ID_LEN = 16


def label(name: str) -> bytes:
    return LABEL_PREFIX + name.encode("ascii")


def hkdf_sha256(ikm: bytes, *, salt: bytes | None, info: bytes, length: int = 32) -> bytes:
    """RFC 5869 HKDF-SHA256; an empty or missing salt is the RFC's zero salt."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt or None, info=info).derive(ikm)


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def equal_ct(a: bytes, b: bytes) -> bool:
    """Constant-time comparison for MACs and anything else secret."""
    return hmac.compare_digest(a, b)


def key_id(x25519_public: bytes) -> bytes:
    return hashlib.sha256(label("key-id") + x25519_public).digest()[:KEY_ID_LEN]


def file_key_info(recipient_key_id: bytes) -> bytes:
    return label("file-key") + bytes([FORMAT_VERSION]) + recipient_key_id


def hpke_seal_base(x25519_public: bytes, info: bytes, plaintext: bytes) -> bytes:
    """RFC 9180 single-shot SealBase, empty aad. Returns enc || ct."""
    public_key = X25519PublicKey.from_public_bytes(x25519_public)
    return _HPKE_SUITE.encrypt(plaintext, public_key, info=info)


def hpke_open_base(private_key: X25519PrivateKey, info: bytes, enc_and_ct: bytes) -> bytes:
    """RFC 9180 single-shot OpenBase, empty aad. Raises on any failure."""
    return _HPKE_SUITE.decrypt(enc_and_ct, private_key, info=info)
