"""sealdrop's cryptography: the envelope, keys, signatures and receipts. Imports nothing of ours.

The public API is what this module exports; everything whose name starts with `_` is the
primitives layer and stays inside the package.

    from crypto import Identity, seal, unseal
    officer = Identity.generate()
    seal(src, dst, [officer.public_key.recipient])
    unseal(src2, out, [officer.decryption_key])
"""

from .envelope import recipient_key_ids, seal, seal_bytes, unseal, unseal_bytes
from .errors import (
    BadSignature,
    EnvelopeError,
    HeaderError,
    HeaderMACError,
    KeyFormatError,
    NoMatch,
    PayloadError,
    ReceiptError,
    SealdropCryptoError,
    UnsupportedVersion,
    WrongPassphrase,
)
from .keys import DecryptionKey, Identity, PublicKey, RecipientKey, SigningKey, VerifyKey
from .receipt import Receipt

__all__ = [
    "BadSignature", "DecryptionKey", "EnvelopeError", "HeaderError", "HeaderMACError", "Identity",
    "KeyFormatError", "NoMatch", "PayloadError", "PublicKey", "Receipt", "ReceiptError",
    "RecipientKey", "SealdropCryptoError", "SigningKey", "UnsupportedVersion", "VerifyKey",
    "WrongPassphrase", "recipient_key_ids", "seal", "seal_bytes", "unseal", "unseal_bytes",
]  # fmt: skip
