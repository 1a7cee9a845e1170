"""Key statements: an officer's signed word about a desk's keys (docs/key-trust.md).

    # sealdrop key statement
    sealdrop-key-statement-v1:<base64url of u16(len(body)) || body || signature (64)>

`body` is canonical JSON (keys sorted, no spaces, ASCII) of exactly these fields:

    v        1
    desk     the desk's slug
    action   "admit" (the signer admits `subject` to the desk), "rotate" (the signer replaces its own
             key by `subject`), "retire" (the signer retires `subject`)
    subject  the key it is about: a sealdrop-public-key-v1 line
    name     the name the subject is known by at the desk ("" for none)
    signer   the signer's key id (hex of the X25519 key id, as the desk lists officers)
    day      YYYY-MM-DD
    nonce    16 random bytes, hex: two statements never have the same bytes

The signature is Ed25519 by the signer's key under the context "key-statement": it never verifies as
a bundle, a vault head or anything else signed with the same key. Parsing is strict: any other field,
any other encoding of the same JSON, any byte more or less is refused, so that one statement has one
hash (the desk refuses a hash, or a nonce, it has seen before).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
import struct
from dataclasses import dataclass

from .errors import BadSignature, KeyFormatError, SealdropCryptoError
from .keys import PublicKey, SigningKey

PREFIX = "sealdrop-key-statement-v1:"
CONTEXT = "key-statement"
VERSION = 1
ACTIONS = ("admit", "rotate", "retire")
MAX_BODY = 2048  # the fields fill about 300 bytes; a name of 200 escaped letters about 1,500
MAX_TEXT = 4096  # a statement file, comments included
SIG_LEN = 64
FIELDS = frozenset({"v", "desk", "action", "subject", "name", "signer", "day", "nonce"})
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_LEN = struct.Struct(">H")
MAX_NAME = 200


class StatementError(SealdropCryptoError):
    """A statement is refused; `reason` is one of: not_a_statement, truncated, malformed,
    unknown_version, bad_signature, wrong_signer."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def key_id_of(key: PublicKey) -> str:
    """A key's id as the desk lists it (Officer.key_id): hex of its X25519 key id."""
    return key.recipient.key_id.hex()


def _canonical(fields: dict) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


@dataclass(frozen=True)
class Statement:
    desk: str
    action: str
    subject: PublicKey
    name: str
    signer: str
    day: str
    nonce: str
    body: bytes
    signature: bytes

    @property
    def sha256(self) -> str:
        """The statement's identity: the hash of its signed body."""
        return hashlib.sha256(self.body).hexdigest()

    @property
    def subject_key_id(self) -> str:
        return key_id_of(self.subject)

    def encode(self) -> str:
        """The statement file's text (comments for the reader; never trusted)."""
        blob = _LEN.pack(len(self.body)) + self.body + self.signature
        lines = [
            "# sealdrop key statement",
            f"# desk {self.desk}: {self.action} key {self.subject.fingerprint}",
            PREFIX + base64.urlsafe_b64encode(blob).rstrip(b"=").decode("ascii"),
            "",
        ]
        return "\n".join(lines)

    def verify(self, signer: PublicKey) -> None:
        """Raise StatementError unless `signer` is the key the statement names and its signature verifies."""
        if key_id_of(signer) != self.signer:
            raise StatementError("wrong_signer", "the key statement names another signer than this key")
        try:
            signer.verify_key.verify(CONTEXT, self.body, self.signature)
        except BadSignature:
            raise StatementError(
                "bad_signature", "the key statement's signature does not verify: it was altered or forged"
            ) from None


def sign(
    signer: SigningKey,
    signer_public: PublicKey,
    desk: str,
    action: str,
    subject: PublicKey,
    *,
    name: str = "",
    day: str | None = None,
    nonce: bytes | None = None,
) -> Statement:
    """A new statement by the holder of `signer` (whose public key is `signer_public`)."""
    if signer.verify_key != signer_public.verify_key:
        raise ValueError("the signing key is not the signing half of signer_public")
    fields = {
        "v": VERSION,
        "desk": desk,
        "action": action,
        "subject": subject.encode(),
        "name": " ".join(name.split())[:MAX_NAME],
        "signer": key_id_of(signer_public),
        "day": day or dt.datetime.now(dt.UTC).date().isoformat(),
        "nonce": (nonce if nonce is not None else os.urandom(16)).hex(),
    }
    body = _canonical(fields)
    statement = _from_fields(fields, body, signer.sign(CONTEXT, body))  # the same checks a reader makes
    return statement


def parse(text: str) -> Statement:
    """A statement file's text, checked for shape; its signature is checked by `Statement.verify`."""
    if len(text) > MAX_TEXT:
        raise StatementError("malformed", "this key statement file is too large")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if len(lines) != 1 or not lines[0].startswith(PREFIX):
        raise StatementError("not_a_statement", f"this is not a key statement (one line starting {PREFIX!r})")
    encoded = lines[0][len(PREFIX) :]
    if not re.fullmatch(r"[A-Za-z0-9_-]*", encoded):
        raise StatementError("malformed", "the key statement is not valid base64url")
    blob = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    if len(blob) < _LEN.size:
        raise StatementError("truncated", "the key statement is truncated")
    (length,) = _LEN.unpack_from(blob)
    if length > MAX_BODY:
        raise StatementError("malformed", "the key statement is impossibly large")
    if len(blob) < _LEN.size + length + SIG_LEN:
        raise StatementError("truncated", "the key statement is truncated")
    if len(blob) > _LEN.size + length + SIG_LEN:
        raise StatementError("malformed", "the key statement has bytes after its signature")
    body = blob[_LEN.size : _LEN.size + length]
    try:
        fields = json.loads(body.decode("ascii"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise StatementError("malformed", "the key statement's body is not JSON") from None
    if not isinstance(fields, dict):
        raise StatementError("malformed", "the key statement's body is not a JSON object")
    return _from_fields(fields, body, blob[_LEN.size + length :])


def _from_fields(fields: dict, body: bytes, signature: bytes) -> Statement:
    if fields.get("v") != VERSION or type(fields.get("v")) is not int:
        raise StatementError("unknown_version", "this key statement is of an unknown version")
    if set(fields) != FIELDS or not all(isinstance(fields[k], str) for k in FIELDS - {"v"}):
        raise StatementError("malformed", "the key statement's fields are not the ones it must have")
    ok = (
        _SLUG.match(fields["desk"])
        and fields["action"] in ACTIONS
        and _HEX32.match(fields["signer"])
        and _HEX32.match(fields["nonce"])
        and _DAY.match(fields["day"])
        and len(fields["name"]) <= MAX_NAME
        and fields["name"] == " ".join(fields["name"].split())
    )
    if not ok:
        raise StatementError("malformed", "a field of the key statement is malformed")
    if _canonical(fields) != body:
        raise StatementError("malformed", "the key statement is not in its one canonical form")
    try:
        dt.date.fromisoformat(fields["day"])
        subject = PublicKey.parse(fields["subject"])
    except (ValueError, KeyFormatError):
        raise StatementError("malformed", "a field of the key statement is malformed") from None
    if subject.encode() != fields["subject"]:
        raise StatementError("malformed", "the key statement's subject key is not in its one canonical form")
    return Statement(
        desk=fields["desk"], action=fields["action"], subject=subject, name=fields["name"],
        signer=fields["signer"], day=fields["day"], nonce=fields["nonce"], body=body, signature=signature,
    )  # fmt: skip
