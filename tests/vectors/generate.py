"""Make the known-answer vectors in this folder: `python -m tests.vectors.generate`.

Each case is built from the Python implementation's private layers so that it can break exactly one
rule of docs/envelope.md; its `comment` says how it was made. Regenerating gives new random bytes with
the same meaning; both implementations must then pass them all again.
"""

import base64
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto import DecryptionKey, _format, _padding, _stream
from crypto._primitives import FILE_KEY_LEN

HERE = Path(__file__).parent
SOURCE = "made by tests/vectors/generate.py from crypto/'s private layers; checked by both implementations"
CHUNK = _stream.CHUNK


def padded(message: bytes, length: int | None = None) -> bytes:
    length = length or _padding.padded_length(len(message))
    return message + b"\x80" + bytes(length - len(message) - 1)


def seal_chunks(key: bytes, plain: bytes, flags: list[int] | None = None) -> list[bytes]:
    """AES-GCM STREAM chunks of `plain`; `flags` overrides the last-chunk flag of each chunk."""
    pieces = [plain[i : i + CHUNK] for i in range(0, len(plain), CHUNK)] or [b""]
    flags = flags or [0] * (len(pieces) - 1) + [1]
    aead = AESGCM(key)
    return [
        aead.encrypt(i.to_bytes(11, "big") + bytes([f]), p, None)
        for i, (p, f) in enumerate(zip(pieces, flags))
    ]


class Envelope:
    """The parts of one envelope, to be altered before they are joined."""

    def __init__(self, recipients: list[bytes], plain: bytes, *, extra_stanzas=(), flags=None) -> None:
        self.file_key = os.urandom(FILE_KEY_LEN)
        self.salt = os.urandom(_format.SALT_LEN)
        self.stanzas = [_format.x25519_stanza(self.file_key, r) for r in recipients] + list(extra_stanzas)
        self.version = 1
        self.key = _stream.payload_key(self.file_key, self.salt)
        self.chunks = seal_chunks(self.key, plain, flags)
        self.mac = None

    def header(self) -> bytes:
        head = _format.MAGIC + bytes([self.version]) + self.salt + bytes([len(self.stanzas) % 256])
        head += b"".join(s.encode() for s in self.stanzas)
        mac = self.mac or _format.header_mac(self.file_key, head)
        return head + mac

    def bytes(self) -> bytes:
        return self.header() + b"".join(self.chunks)


def flip(data: bytes, index: int) -> bytes:
    b = bytearray(data)
    b[index] ^= 0x01
    return bytes(b)


def case(
    name: str,
    expect: str,
    comment: str,
    keys: list[DecryptionKey],
    envelope: bytes,
    plaintext: bytes | None = None,
) -> dict:
    out = {
        "name": name,
        "expect": expect,
        "comment": comment,
        "source": SOURCE,
        "identities": [k.private_bytes().hex() for k in keys],
        "envelope": base64.b64encode(envelope).decode(),
    }
    if plaintext is not None:
        out["plaintext_sha256"] = hashlib.sha256(plaintext).hexdigest()
        if len(plaintext) <= 1024:
            out["plaintext"] = base64.b64encode(plaintext).decode()
    return out


def cases() -> list[dict]:
    me, other, third = DecryptionKey.generate(), DecryptionKey.generate(), DecryptionKey.generate()
    to_me = [me.recipient.public_bytes]
    msg = b"Dealing behind the gym, weekdays around 14:00."
    big = os.urandom(2 * CHUNK + 1000)
    out: list[dict] = []
    add: Callable[..., None] = lambda *a, **k: out.append(case(*a, **k))  # noqa: E731

    e = Envelope(to_me, padded(msg))
    add("success_one_recipient", "success", "a short report sealed to one key", [me], e.bytes(), msg)
    e = Envelope(
        [other.recipient.public_bytes, me.recipient.public_bytes, third.recipient.public_bytes], padded(msg)
    )
    add(
        "success_three_recipients",
        "success",
        "our key holds the second of three stanzas",
        [me],
        e.bytes(),
        msg,
    )
    add(
        "success_empty",
        "success",
        "an empty message: P is 0x80 and zeros, 16 KiB",
        [me],
        Envelope(to_me, padded(b"")).bytes(),
        b"",
    )
    m = os.urandom(CHUNK - 1)
    add(
        "success_exactly_one_full_chunk",
        "success",
        "65535 bytes: P is one full 64 KiB chunk, flagged last",
        [me],
        Envelope(to_me, padded(m)).bytes(),
        m,
    )
    add(
        "success_several_chunks",
        "success",
        "2 full chunks of message and 1000 bytes more, padded by Padmé to 3 chunks",
        [me],
        Envelope(to_me, padded(big)).bytes(),
        big,
    )
    m = b"ends in what looks like padding \x80\x00\x00\x80\x00"
    add(
        "success_message_ends_like_padding",
        "success",
        "only the last 0x80 and the zeros after it are padding",
        [me],
        Envelope(to_me, padded(m)).bytes(),
        m,
    )
    m = b"x" * 10
    add(
        "success_extra_padding",
        "success",
        "padded to 200,000 bytes, beyond its bucket: readers must accept it",
        [me],
        Envelope(to_me, padded(m, 200_000)).bytes(),
        m,
    )
    unknown = _format.Stanza(0x7F, b"a suite from the future")
    e = Envelope(to_me, padded(msg), extra_stanzas=[unknown])
    add(
        "success_unknown_stanza_skipped",
        "success",
        "a stanza of unknown type 0x7f is skipped but under the MAC",
        [me],
        e.bytes(),
        msg,
    )

    good = Envelope(to_me, padded(msg))
    gb = good.bytes()
    add("header_bad_magic", "header failure", "first byte changed", [me], flip(gb, 0))
    e = Envelope(to_me, padded(msg))
    e.version = 2
    add("header_unsupported_version", "unsupported version", "version byte 2", [me], e.bytes())
    add("header_truncated_in_stanza", "header failure", "cut 40 bytes into the stanza", [me], gb[: 26 + 40])
    add("header_truncated_in_mac", "header failure", "cut inside the MAC", [me], gb[: len(good.header()) - 5])
    add("header_only_magic", "header failure", "only the 8 magic bytes", [me], gb[:8])
    add("header_truncated_before_count", "header failure", "magic, version and salt, no stanza count",
        [me], gb[: 8 + 1 + 16])  # fmt: skip
    e = Envelope(to_me, padded(msg))
    e.stanzas = []
    add("header_zero_stanzas", "header failure", "count 0", [me], e.bytes())
    e = Envelope(to_me * 33, padded(msg))
    add("header_too_many_stanzas", "header failure", "33 stanzas, one more than allowed", [me], e.bytes())
    e = Envelope(to_me, padded(msg))
    e.stanzas = [_format.Stanza(1, e.stanzas[0].body[:-1])]
    add(
        "header_x25519_stanza_wrong_length", "header failure", "an X25519 stanza of 95 bytes", [me], e.bytes()
    )
    e = Envelope(to_me, padded(msg))
    body = e.stanzas[0].body
    e.stanzas = [_format.Stanza(1, flip(body, 16 + 5))]
    add("header_stanza_enc_altered", "header failure", "a bit flipped in enc of our stanza", [me], e.bytes())
    e = Envelope(to_me, padded(msg))
    body = e.stanzas[0].body
    e.stanzas = [_format.Stanza(1, body[:16] + bytes(32) + body[48:])]
    add(
        "header_stanza_enc_low_order",
        "header failure",
        "enc replaced by the all-zero X25519 point",
        [me],
        e.bytes(),
    )
    e = Envelope(to_me, padded(msg))
    e.stanzas = [_format.Stanza(1, flip(e.stanzas[0].body, 60))]
    add(
        "header_stanza_ct_altered", "header failure", "a bit flipped in the wrapped file key", [me], e.bytes()
    )

    e = Envelope(to_me * 2, padded(msg))
    e.stanzas[0] = _format.Stanza(1, flip(e.stanzas[0].body, 60))
    add(
        "header_first_matching_stanza_altered",
        "header failure",
        "two stanzas for our key, the first altered: readers stop at the first match",
        [me],
        e.bytes(),
    )
    add(
        "no_match_wrong_recipient",
        "no match",
        "sealed to two other keys",
        [me],
        Envelope([other.recipient.public_bytes, third.recipient.public_bytes], padded(msg)).bytes(),
    )
    e = Envelope(to_me, padded(msg))
    e.stanzas = [_format.Stanza(1, flip(e.stanzas[0].body, 0))]
    add(
        "no_match_key_id_altered",
        "no match",
        "the key id of our stanza changed: nothing is for us",
        [me],
        e.bytes(),
    )
    e = Envelope([], padded(msg), extra_stanzas=[unknown])
    add("no_match_only_unknown_stanzas", "no match", "the only stanza is of an unknown type", [me], e.bytes())

    add(
        "hmac_mac_altered", "HMAC failure", "a bit flipped in the MAC", [me], flip(gb, len(good.header()) - 1)
    )
    add("hmac_salt_altered", "HMAC failure", "a bit flipped in the salt", [me], flip(gb, 12))
    e = Envelope([me.recipient.public_bytes, other.recipient.public_bytes], padded(msg))
    hlen = len(e.header())
    add(
        "hmac_other_stanza_altered",
        "HMAC failure",
        "the other recipient's stanza altered; ours still opens",
        [me],
        flip(e.bytes(), hlen - 32 - 10),
    )
    e = Envelope(to_me, padded(msg), extra_stanzas=[unknown])
    e.stanzas[1] = _format.Stanza(0x7F, b"a suite from the future, altered")
    add(
        "hmac_unknown_stanza_altered",
        "HMAC failure",
        "the skipped stanza altered after the MAC was made",
        [me],
        e.header()[:-32] + good.header()[-32:] + b"".join(e.chunks),
    )
    e = Envelope([me.recipient.public_bytes, other.recipient.public_bytes], padded(msg))
    mac = e.header()[-32:]
    e.stanzas.reverse()
    e.mac = mac
    add("hmac_stanzas_reordered", "HMAC failure", "the two stanzas swapped, the MAC kept", [me], e.bytes())

    e = Envelope(to_me, padded(big))
    hlen, eb = len(e.header()), e.bytes()
    add(
        "stream_bit_flipped",
        "payload failure",
        "a bit flipped inside chunk 1",
        [me],
        flip(eb, hlen + CHUNK + 16 + 99),
    )
    add(
        "stream_tag_altered",
        "payload failure",
        "a bit flipped in the last chunk's tag",
        [me],
        flip(eb, len(eb) - 1),
    )
    add(
        "stream_truncated_at_chunk_boundary",
        "payload failure",
        "the last chunk removed",
        [me],
        b"".join([e.header(), *e.chunks[:-1]]),
    )
    add(
        "stream_truncated_after_first_chunk",
        "payload failure",
        "everything after chunk 0 removed",
        [me],
        e.header() + e.chunks[0],
    )
    add(
        "stream_truncated_mid_chunk",
        "payload failure",
        "cut in the middle of chunk 2",
        [me],
        eb[: hlen + 2 * (CHUNK + 16) + 500],
    )
    add(
        "stream_truncated_to_tag_size",
        "payload failure",
        "the last chunk cut to 16 bytes",
        [me],
        b"".join([e.header(), *e.chunks[:-1], e.chunks[-1][:16]]),
    )
    add("stream_no_payload", "payload failure", "the header alone", [me], e.header())
    add("stream_trailing_byte", "payload failure", "one byte after the last chunk", [me], eb + b"\x00")
    add(
        "stream_trailing_chunk",
        "payload failure",
        "a copy of chunk 0 after the last chunk",
        [me],
        eb + e.chunks[0],
    )
    add(
        "stream_chunks_swapped",
        "payload failure",
        "chunks 0 and 1 swapped",
        [me],
        b"".join([e.header(), e.chunks[1], e.chunks[0], *e.chunks[2:]]),
    )
    add(
        "stream_chunk_dropped",
        "payload failure",
        "chunk 1 removed",
        [me],
        b"".join([e.header(), e.chunks[0], *e.chunks[2:]]),
    )
    e = Envelope(to_me, padded(os.urandom(CHUNK - 1)), flags=[0])
    e.chunks.append(AESGCM(e.key).encrypt((1).to_bytes(11, "big") + b"\x01", b"", None))
    add(
        "stream_empty_last_chunk",
        "payload failure",
        "a full chunk then an empty chunk flagged last",
        [me],
        e.bytes(),
    )
    e = Envelope(to_me, msg + bytes(_padding.MIN_PADDED - len(msg)))
    add("stream_padding_without_marker", "payload failure", "zeros but no 0x80 before them", [me], e.bytes())
    e = Envelope(to_me, bytes(_padding.MIN_PADDED))
    add("stream_padding_all_zero", "payload failure", "P is all zeros", [me], e.bytes())
    e = Envelope(to_me, msg + b"\x80" + bytes(100) + b"\x01" + bytes(1000))
    add("stream_padding_trailing_junk", "payload failure", "a 0x01 after the marker", [me], e.bytes())
    return out


def main() -> None:
    for old in HERE.glob("*.json"):
        old.unlink()
    for c in cases():
        (HERE / f"{c['name']}.json").write_text(json.dumps(c, indent=1) + "\n")
    print(f"wrote {len(list(HERE.glob('*.json')))} vectors to {HERE}")


if __name__ == "__main__":
    main()
