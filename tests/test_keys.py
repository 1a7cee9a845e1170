"""Officer identities, public key files, fingerprints and signatures."""

import os
import stat

import pytest

import crypto.keys
from crypto import (
    BadSignature,
    Identity,
    KeyFormatError,
    PublicKey,
    SigningKey,
    VerifyKey,
    WrongPassphrase,
    seal_bytes,
    unseal_bytes,
)


def test_identity_file_round_trip_is_0600_and_opens_its_envelopes(tmp_path):
    officer = Identity.generate()
    path = tmp_path / "officer.identity"
    officer.save(path, "correct horse")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded = Identity.load(path, "correct horse")
    assert loaded.fingerprint == officer.fingerprint
    envelope = seal_bytes(b"report", [officer.public_key.recipient])
    assert unseal_bytes(envelope, [loaded.decryption_key]) == b"report"
    assert "correct horse" not in path.read_text()


def test_identity_file_records_its_argon2id_cost(tmp_path, monkeypatch):
    monkeypatch.setattr(crypto.keys, "KDF_OPSLIMIT", 2)
    text = Identity.generate().encode("pw")
    monkeypatch.setattr(crypto.keys, "KDF_OPSLIMIT", 1)  # reading does not depend on today's setting
    assert Identity.decode(text, "pw")


def test_wrong_passphrase_and_altered_file_are_refused(tmp_path):
    text = Identity.generate().encode("right")
    with pytest.raises(WrongPassphrase):
        Identity.decode(text, "wrong")
    line = text.splitlines()[-1]
    altered = text.replace(line, line[:-3] + ("A" if line[-3] != "A" else "B") + line[-2:])
    with pytest.raises((WrongPassphrase, KeyFormatError)):
        Identity.decode(altered, "right")


def test_kdf_cost_is_libsodiums_moderate_and_the_cap_its_sensitive(monkeypatch):
    import nacl.pwhash

    monkeypatch.undo()  # tests/conftest.py lowers the cost for speed; this test reads the real one

    assert crypto.keys.KDF_OPSLIMIT == nacl.pwhash.argon2id.OPSLIMIT_MODERATE
    assert crypto.keys.KDF_MEMLIMIT == nacl.pwhash.argon2id.MEMLIMIT_MODERATE
    assert crypto.keys.KDF_MAX_MEMLIMIT == nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE


def test_identity_refuses_unreasonable_kdf_cost():
    text = Identity.generate().encode("pw")
    raw = crypto.keys._unb64(text.splitlines()[-1].split(":", 1)[1], "x")
    hostile = raw[:1] + (10**6).to_bytes(4, "big") + raw[5:]
    with pytest.raises(KeyFormatError, match="unreasonable"):
        Identity.decode(crypto.keys.IDENTITY_PREFIX + crypto.keys._b64(hostile), "pw")
    greedy = raw[:5] + ((1 << 30) + 1).to_bytes(8, "big") + raw[13:]  # one byte past 1 GiB of memory
    with pytest.raises(KeyFormatError, match="unreasonable"):
        Identity.decode(crypto.keys.IDENTITY_PREFIX + crypto.keys._b64(greedy), "pw")


def test_empty_passphrase_only_for_demo_identities():
    with pytest.raises(ValueError):
        Identity.generate().encode("")
    demo = Identity.generate(demo=True)
    text = demo.encode("")
    assert "DEMO ONLY" in text
    assert Identity.decode(text, "").demo is True


def test_files_are_never_overwritten(tmp_path):
    path = tmp_path / "id"
    Identity.generate().save(path, "pw")
    with pytest.raises(FileExistsError):
        Identity.generate().save(path, "pw")


def test_public_key_file_round_trip_and_fingerprint_shape():
    officer = Identity.generate()
    text = officer.public_key.to_file_text(comment="Officer Petrova, Sofia municipality")
    parsed = PublicKey.parse(text)
    assert parsed == officer.public_key
    groups = parsed.fingerprint.split(" ")
    assert [len(g) for g in groups] == [5] * 5 and all(g.isdigit() for g in groups)
    assert Identity.generate().fingerprint != parsed.fingerprint


@pytest.mark.parametrize(
    "text",
    ["", "hello", "sealdrop-public-key-v1:!!!!", "sealdrop-public-key-v1:AAAA",
     "sealdrop-public-key-v1:" + "A" * 86 + "\nsealdrop-public-key-v1:" + "A" * 86],
)  # fmt: skip
def test_malformed_public_keys_are_refused(text):
    with pytest.raises(KeyFormatError):
        PublicKey.parse(text)


def test_signatures_are_bound_to_key_context_and_message():
    server = SigningKey.generate()
    sig = server.sign("export-bundle", b"manifest")
    server.verify_key.verify("export-bundle", b"manifest", sig)
    with pytest.raises(BadSignature):
        server.verify_key.verify("reply-bundle", b"manifest", sig)  # another kind of object
    with pytest.raises(BadSignature):
        server.verify_key.verify("export-bundle", b"manifesT", sig)
    with pytest.raises(BadSignature):
        SigningKey.generate().verify_key.verify("export-bundle", b"manifest", sig)
    with pytest.raises(BadSignature):
        server.verify_key.verify("export-bundle", b"manifest", sig[:-1])


def test_server_signing_key_file(tmp_path):
    key = SigningKey.generate()
    key.save(tmp_path / "server-signing.key")
    assert stat.S_IMODE(os.stat(tmp_path / "server-signing.key").st_mode) == 0o600
    loaded = SigningKey.load(tmp_path / "server-signing.key")
    assert loaded.verify_key == key.verify_key
    assert VerifyKey.parse(key.verify_key.encode()) == key.verify_key


def test_known_answers():
    import json
    from pathlib import Path

    from crypto import DecryptionKey

    cases = json.loads((Path(__file__).parent / "vectors/other/keys.json").read_text())
    for case in cases[:-1]:
        ident = Identity(
            DecryptionKey.from_private_bytes(bytes.fromhex(case["x25519_private"])),
            SigningKey.from_seed(bytes.fromhex(case["ed25519_seed"])),
        )
        assert ident.public_key.encode() == case["public_key_line"]
        assert ident.public_key.recipient.key_id.hex() == case["key_id"]
        assert ident.fingerprint == case["fingerprint"]
        sig = case["signature"]
        ident.public_key.verify_key.verify(
            sig["context"], sig["message"].encode(), bytes.fromhex(sig["value"])
        )
    server = SigningKey.from_seed(bytes.fromhex(cases[-1]["ed25519_seed"]))
    assert server.verify_key.encode() == cases[-1]["verify_key_line"]
    assert server.verify_key.fingerprint == cases[-1]["fingerprint"]
