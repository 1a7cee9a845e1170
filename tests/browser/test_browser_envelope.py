"""dropbox/static/js/envelope.mjs in Chromium against the vectors and against the Python implementation."""

import base64
import hashlib
import io
import json
import math
import os
import random
from pathlib import Path

import pytest

from crypto import DecryptionKey, _format, _stream, seal_bytes, unseal_bytes

pytestmark = pytest.mark.browser

VECTORS = sorted((Path(__file__).parents[1] / "vectors").glob("*.json"))
# docs/envelope.md, "Errors": the `expect` of a vector and the `name` the JavaScript error carries.
ERROR_NAMES = {
    "unsupported version": "UnsupportedVersion",
    "header failure": "HeaderError",
    "no match": "NoMatch",
    "HMAC failure": "HeaderMACError",
    "payload failure": "PayloadError",
}
MiB = 1 << 20


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def js_open(page, envelope: bytes, keys: list[DecryptionKey], *, as_blob: bool = False) -> dict:
    hex_keys = [k.private_bytes().hex() for k in keys]
    return page.evaluate("([e, k, b]) => t.open(e, k, b)", [b64(envelope), hex_keys, as_blob])


def js_seal(page, plaintext: bytes, recipients: list[DecryptionKey], *, as_blob: bool = False) -> dict:
    pubs = [k.recipient.public_bytes.hex() for k in recipients]
    return page.evaluate("([p, r, b]) => t.seal(p, r, b)", [b64(plaintext), pubs, as_blob])


def expected_envelope_size(message_length: int, recipients: int) -> int:
    """docs/envelope.md, "Payload": header = 58 + 99 r; payload = len(P) + 16 ceil(len(P) / 65536)."""
    n = message_length + 1
    e = n.bit_length() - 1
    step = 1 << (e - e.bit_length())
    padded = max(16384, -(-n // step) * step)
    return 58 + 99 * recipients + padded + 16 * math.ceil(padded / 65536)


def test_there_are_vectors():
    """The vector test below must not pass by finding nothing to run."""
    assert VECTORS, "no tests/vectors/*.json"
    kinds = {json.loads(p.read_text())["expect"] for p in VECTORS}
    assert kinds == {"success", *ERROR_NAMES}


@pytest.mark.parametrize("as_blob", [False, True], ids=["bytes", "blob"])
@pytest.mark.parametrize("path", VECTORS or [None], ids=[p.stem for p in VECTORS] or ["none"])
def test_vector(page, path: Path | None, as_blob: bool):
    assert path is not None, "no tests/vectors/*.json"
    v = json.loads(path.read_text())
    keys = [DecryptionKey.from_private_bytes(bytes.fromhex(h)) for h in v["identities"]]
    got = js_open(page, base64.b64decode(v["envelope"]), keys, as_blob=as_blob)
    if v["expect"] == "success":
        assert got["ok"], got
        assert got["sha256"] == v["plaintext_sha256"]
        if "plaintext" in v:
            assert got["plaintext"] == v["plaintext"]
    else:
        assert not got["ok"], f"opened, but expected {v['expect']}"
        assert got["name"] == ERROR_NAMES[v["expect"]], got["message"]
        assert got["isEnvelopeError"]


SIZES = [0, 1, 16383, 16384, 65535, 65536, 65537, 3 * 65536, 3 * MiB + 5]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("recipients", [1, 3])
def test_browser_seals_python_opens(page, size: int, recipients: int):
    keys = [DecryptionKey.generate() for _ in range(recipients)]
    plaintext = os.urandom(size)
    got = js_seal(page, plaintext, keys, as_blob=(size + recipients) % 2 == 1)
    assert got["ok"], got
    envelope = base64.b64decode(got["envelope"])
    assert len(envelope) == expected_envelope_size(size, recipients)
    for key in keys:
        assert unseal_bytes(envelope, [key]) == plaintext
    done, total = got["progress"][-1]
    assert done == total == len(envelope)


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 65537, 200_000, 3 * MiB + 5])
@pytest.mark.parametrize("as_blob", [False, True], ids=["bytes", "blob"])
def test_python_seals_browser_opens(page, size: int, as_blob: bool):
    ours, theirs, unrelated = DecryptionKey.generate(), DecryptionKey.generate(), DecryptionKey.generate()
    plaintext = os.urandom(size)
    envelope = seal_bytes(plaintext, [theirs.recipient, ours.recipient])
    got = js_open(page, envelope, [unrelated, ours], as_blob=as_blob)
    assert got["ok"], got
    assert got["length"] == size
    assert got["sha256"] == hashlib.sha256(plaintext).hexdigest()


def test_browser_round_trip_and_wrong_key(page):
    key, other = DecryptionKey.generate(), DecryptionKey.generate()
    sealed = js_seal(page, b"what I saw", [key])
    envelope = base64.b64decode(sealed["envelope"])
    assert base64.b64decode(js_open(page, envelope, [key])["plaintext"]) == b"what I saw"
    assert js_open(page, envelope, [other])["name"] == "NoMatch"


def test_seal_stream_pieces(page):
    """The header first, then one piece per sealed chunk: what a resumable upload sends."""
    keys = [DecryptionKey.generate() for _ in range(2)]
    got = page.evaluate(
        "([n, r]) => t.pieces(n, r)", [3 * 65536, [k.recipient.public_bytes.hex() for k in keys]]
    )
    assert got["ok"], got
    assert got["sizes"][0] == 58 + 99 * 2
    assert got["sizes"][1:] == [65552] * 3 + [4096 + 16]  # Padmé: 196609 rounds up to 200704
    assert sum(got["sizes"]) == got["expected"] == expected_envelope_size(3 * 65536, 2)


@pytest.mark.parametrize("count", [0, 33])
def test_seal_refuses_recipient_counts(page, count: int):
    pubs = [DecryptionKey.generate().recipient.public_bytes.hex() for _ in range(count)]
    got = page.evaluate("([r]) => t.seal('', r)", [pubs])
    assert not got["ok"]
    assert got["name"] == "RangeError"


def test_key_id_and_support(page):
    key = DecryptionKey.generate()
    got = page.evaluate(
        "async (pk) => t.toHex(await envelope.keyId(t.fromHex(pk)))", key.recipient.public_bytes.hex()
    )
    assert got == key.key_id.hex()
    assert page.evaluate("envelope.supported()") is True


def test_error_classes(page):
    got = page.evaluate("""() => ['UnsupportedVersion', 'HeaderError', 'NoMatch', 'HeaderMACError',
        'PayloadError'].map((n) => { const e = new envelope[n]('x');
        return [e.name, e instanceof envelope.EnvelopeError, e instanceof Error]; })""")
    assert got == [[n, True, True] for n in ERROR_NAMES.values()]


def long_header_envelope(key: DecryptionKey, message: bytes) -> bytes:
    """An envelope whose header is longer than the 4 KiB the module reads first: two big unknown stanzas."""
    file_key, salt = os.urandom(32), os.urandom(16)
    stanzas = (
        _format.Stanza(0x7F, os.urandom(40000)),
        _format.x25519_stanza(file_key, key.recipient.public_bytes),
        _format.Stanza(0x02, os.urandom(30000)),
    )
    mac = _format.header_mac(file_key, _format.Header(salt, stanzas, b"").authenticated_bytes())
    header = _format.Header(salt, stanzas, mac).encode()
    payload = io.BytesIO()
    _stream.seal_payload(io.BytesIO(message), payload, _stream.payload_key(file_key, salt))
    return header + payload.getvalue()


@pytest.mark.parametrize("as_blob", [False, True], ids=["bytes", "blob"])
def test_long_header(page, as_blob: bool):
    key = DecryptionKey.generate()
    message = os.urandom(100_000)
    envelope = long_header_envelope(key, message)
    assert unseal_bytes(envelope, [key]) == message
    got = js_open(page, envelope, [key], as_blob=as_blob)
    assert got["ok"], got
    assert got["sha256"] == hashlib.sha256(message).hexdigest()
    cut = js_open(page, envelope[:20000], [key], as_blob=as_blob)
    assert cut["name"] == "HeaderError", cut
    altered = bytearray(envelope)
    altered[1000] ^= 1  # inside the first unknown stanza: only the MAC notices
    assert js_open(page, bytes(altered), [key], as_blob=as_blob)["name"] == "HeaderMACError"


def test_envelope_size_matches_padme_beyond_32_bits(page):
    """Padmé in float arithmetic agrees with Python's integers up to sizes no browser will see."""
    sizes = sorted({max(0, 2**k + d) for k in range(0, 49) for d in (-2, -1, 0, 1, 12345)})
    sizes += [random.randrange(2**48) for _ in range(200)]
    got = page.evaluate("(sizes) => sizes.map((n) => envelope.envelopeSize(n, 3))", sizes)
    assert got == [expected_envelope_size(n, 3) for n in sizes]


def test_key_id_known_answers(page):
    """tests/vectors/other/keys.json: the key id the browser derives from a raw private key."""
    cases = json.loads((Path(__file__).parents[1] / "vectors" / "other" / "keys.json").read_text())
    cases = [c for c in cases if "x25519_private" in c]
    assert cases
    got = page.evaluate(
        "(keys) => Promise.all(keys.map(async (k) =>"
        "  t.toHex((await envelope.decryptionKey(t.fromHex(k))).keyId)))",
        [c["x25519_private"] for c in cases],
    )
    assert got == [c["key_id"] for c in cases]
