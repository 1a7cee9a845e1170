"""tor's hashed control passwords (torrc `HashedControlPassword 16:...`), made without running
`tor --hash-password PASSWORD`, whose command line any user of the machine can read in ps.

The hash is OpenPGP's iterated and salted S2K (RFC 4880 3.7.1.3, as in RFC 2440) with SHA-1: the salt
and the password, repeated until 65536 bytes are hashed. tor writes `16:` and, in hex, the 8-byte
salt, the count byte (0x60) and the 20-byte digest.
"""

from __future__ import annotations

import hashlib
import os

COUNT_BYTE = 0x60  # tor's choice: (16 + (0x60 & 15)) << ((0x60 >> 4) + 6) = 65536 bytes


def hash_control_password(password: str, salt: bytes | None = None) -> str:
    """The `16:...` value for HashedControlPassword; a random salt unless one is given (tests)."""
    salt = os.urandom(8) if salt is None else salt
    if len(salt) != 8:
        raise ValueError("the salt is 8 bytes")
    count = (16 + (COUNT_BYTE & 15)) << ((COUNT_BYTE >> 4) + 6)
    data = salt + password.encode("utf-8")
    stream = (data * (count // len(data) + 1))[: max(count, len(data))]
    digest = hashlib.sha1(stream).digest()  # noqa: S324 (tor's format; not our choice of hash)
    return "16:" + (salt + bytes([COUNT_BYTE]) + digest).hex().upper()
