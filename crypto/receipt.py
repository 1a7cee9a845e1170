"""The reporter's receipt code and what it derives (docs/keys.md, "Receipts").

A receipt is 18 random symbols (90 bits) of Crockford's base32 (digits and Latin capitals without
I, L, O, U) plus 2 check symbols, written in five groups of four: `7KQ2-M9XD-...`. The check is a
position-weighted sum modulo the prime 1021, so every single wrong symbol and every swap of two
symbols is caught before anything is derived. Reading is forgiving: lower case, spaces and dashes,
O for 0, I and L for 1, and Cyrillic look-alikes typed on a Cyrillic keyboard are all accepted.

From the 18 data symbols HKDF derives a lookup id (all the server stores to find the case) and an
X25519 key pair: replies are sealed to its public half and opened with its private half.
"""

from __future__ import annotations

import secrets

from ._primitives import hkdf_sha256, label
from .errors import ReceiptError
from .keys import DecryptionKey, RecipientKey

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
DATA_SYMBOLS = 18
CHECK_MODULUS = 1021
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_LOOKALIKES = str.maketrans({
    "O": "0", "I": "1", "L": "1",
    # Cyrillic capitals that look like Latin ones, for phones set to a Cyrillic keyboard.
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "0", "Р": "P",
    "С": "C", "Т": "T", "Х": "X", "З": "3",
})  # fmt: skip


def _check_value(values: list[int]) -> int:
    return sum((i + 1) * v for i, v in enumerate(values)) % CHECK_MODULUS


def _check_symbols(values: list[int]) -> str:
    c = _check_value(values)
    return ALPHABET[c // 32] + ALPHABET[c % 32]


def normalize(text: str) -> str:
    """The receipt's 20 canonical symbols, or ReceiptError with a message a reporter understands."""
    cleaned = "".join(ch for ch in text.upper() if not ch.isspace() and ch not in "-–—_.")
    cleaned = cleaned.translate(_LOOKALIKES)
    if any(ch not in _VALUE for ch in cleaned):
        raise ReceiptError("a receipt code holds only digits and Latin letters")
    if len(cleaned) != DATA_SYMBOLS + 2:
        raise ReceiptError(f"a receipt code has {DATA_SYMBOLS + 2} characters, this has {len(cleaned)}")
    if _check_symbols([_VALUE[c] for c in cleaned[:DATA_SYMBOLS]]) != cleaned[DATA_SYMBOLS:]:
        raise ReceiptError("this receipt code has a typo (its check does not match)")
    return cleaned


def random_symbols(count: int) -> list[int]:
    """`count` independent uniform values 0..31 (five random bits each), from one call to the system's
    random source: receipt codes and case numbers (one call, not one per symbol)."""
    bits = int.from_bytes(secrets.token_bytes((5 * count + 7) // 8), "big")
    return [(bits >> (5 * i)) & 31 for i in range(count)]


class Receipt:
    """A parsed, checked receipt code and the keys it derives."""

    def __init__(self, text: str) -> None:
        self.code = normalize(text)
        ikm = self.code[:DATA_SYMBOLS].encode("ascii")
        self.lookup_id = hkdf_sha256(ikm, salt=None, info=label("receipt/lookup-id"))
        self.reply_key = DecryptionKey.from_private_bytes(
            hkdf_sha256(ikm, salt=None, info=label("receipt/reply-key"))
        )

    @classmethod
    def generate(cls) -> Receipt:
        values = random_symbols(DATA_SYMBOLS)
        return cls("".join(ALPHABET[v] for v in values) + _check_symbols(values))

    @property
    def reply_recipient(self) -> RecipientKey:
        return self.reply_key.recipient

    def grouped(self) -> str:
        """The code as a reporter writes it down: five groups of four."""
        return "-".join(self.code[i : i + 4] for i in range(0, len(self.code), 4))

    def __repr__(self) -> str:  # never print the secret by accident
        return "Receipt(<secret>)"
