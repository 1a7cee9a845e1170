"""Key statements (crypto/statement.py): known answers, and every way of being wrong refused by name."""

import json
from pathlib import Path

import pytest

from crypto import DecryptionKey, Identity, PublicKey, SigningKey
from crypto import statement as st

VECTORS = json.loads((Path(__file__).parent / "vectors" / "other" / "statement.json").read_text("utf-8"))


def identity(entry: dict) -> Identity:
    return Identity(
        DecryptionKey.from_private_bytes(bytes.fromhex(entry["x25519_private"])),
        SigningKey.from_seed(bytes.fromhex(entry["ed25519_seed"])),
    )


KEYS = {name: identity(entry) for name, entry in VECTORS["keys"].items()}


def test_keys_match_their_public_lines():
    for name, entry in VECTORS["keys"].items():
        assert KEYS[name].public_key.encode() == entry["public"]
        assert st.key_id_of(KEYS[name].public_key) == entry["key_id"]


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: v["action"])
def test_valid_vectors_reproduce_and_verify(vector):
    signer, subject = KEYS["signer"], KEYS["subject"]
    made = st.sign(
        signer.signing_key, signer.public_key, vector["desk"], vector["action"], subject.public_key,
        name=vector["name"], day=vector["day"], nonce=bytes.fromhex(vector["nonce"]),
    )  # fmt: skip
    assert made.body.decode("ascii") == vector["body"]
    assert made.signature.hex() == vector["signature"]
    assert made.sha256 == vector["sha256"]
    assert made.encode() == vector["text"]
    parsed = st.parse(vector["text"])
    parsed.verify(signer.public_key)
    assert (parsed.desk, parsed.action, parsed.name, parsed.day) == (
        vector["desk"], vector["action"], vector["name"], vector["day"],
    )  # fmt: skip
    assert parsed.subject == subject.public_key and parsed.signer == st.key_id_of(signer.public_key)


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["description"])
def test_invalid_vectors_are_refused_by_name(vector):
    with pytest.raises(st.StatementError) as info:
        st.parse(vector["text"]).verify(KEYS[vector["verify_with"]].public_key)
    assert info.value.reason == vector["expect"]


def test_a_fresh_statement_round_trips_with_a_random_nonce():
    a, b = Identity.generate(), Identity.generate()
    one = st.sign(a.signing_key, a.public_key, "demo", "rotate", b.public_key)
    two = st.sign(a.signing_key, a.public_key, "demo", "rotate", b.public_key)
    assert one.nonce != two.nonce and one.sha256 != two.sha256
    st.parse(one.encode()).verify(a.public_key)


def test_signing_refuses_bad_fields_and_a_mismatched_key():
    a, b = Identity.generate(), Identity.generate()
    with pytest.raises(st.StatementError):
        st.sign(a.signing_key, a.public_key, "Not A Slug", "admit", b.public_key)
    with pytest.raises(st.StatementError):
        st.sign(a.signing_key, a.public_key, "demo", "promote", b.public_key)
    with pytest.raises(ValueError):
        st.sign(a.signing_key, b.public_key, "demo", "admit", b.public_key)


def test_oversized_input_is_refused_before_decoding():
    with pytest.raises(st.StatementError) as info:
        st.parse(st.PREFIX + "A" * 10_000)
    assert info.value.reason == "malformed"
    assert isinstance(PublicKey.parse(VECTORS["keys"]["signer"]["public"]), PublicKey)
