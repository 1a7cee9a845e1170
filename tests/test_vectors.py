"""Every known-answer vector through the Python implementation: whole, streamed, and from a pipe."""

import base64
import hashlib
import io
import json
from pathlib import Path

import pytest

from crypto import DecryptionKey, EnvelopeError, unseal, unseal_bytes

VECTORS = sorted((Path(__file__).parent / "vectors").glob("*.json"))
EXPECTS = {"success", "unsupported version", "header failure", "no match", "HMAC failure", "payload failure"}


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_there_are_vectors_of_every_kind():
    kinds = {load(p)["expect"] for p in VECTORS}
    assert kinds == EXPECTS


class Trickle(io.RawIOBase):
    """A source that returns at most 7 bytes a read, like a slow pipe."""

    def __init__(self, data: bytes) -> None:
        self._src = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        chunk = self._src.read(min(len(b), 7))
        b[: len(chunk)] = chunk
        return len(chunk)


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
@pytest.mark.parametrize("reader", ["bytes", "trickle"])
def test_vector(path: Path, reader: str):
    v = load(path)
    keys = [DecryptionKey.from_private_bytes(bytes.fromhex(h)) for h in v["identities"]]
    envelope = base64.b64decode(v["envelope"])
    out = io.BytesIO()
    if reader == "bytes":
        run = lambda: out.write(unseal_bytes(envelope, keys))  # noqa: E731
    else:
        run = lambda: unseal(io.BufferedReader(Trickle(envelope), 5), out, keys)  # noqa: E731
    if v["expect"] == "success":
        run()
        assert hashlib.sha256(out.getvalue()).hexdigest() == v["plaintext_sha256"]
        if "plaintext" in v:
            assert out.getvalue() == base64.b64decode(v["plaintext"])
    else:
        with pytest.raises(EnvelopeError) as info:
            run()
        assert info.value.expect == v["expect"], str(info.value)
        assert str(info.value)  # a message for the person reading it
