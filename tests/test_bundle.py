"""Signed bundles: tampering, truncation, foreign keys and broken chains are refused."""

import io

import pytest

from crypto import SigningKey, bundle
from crypto.bundle import BundleError


@pytest.fixture
def made(tmp_path):
    key = SigningKey.generate()
    files = []
    for i, data in enumerate([b"envelope one" * 1000, b"", b"two" * 5]):
        path = tmp_path / f"f{i}"
        path.write_bytes(data)
        files.append(({"case_number": f"CASE-{i}"}, path))
    out = tmp_path / "export.bundle"
    with open(out, "wb") as f:
        manifest = bundle.write(f, "export", {"desk": "demo", "sequence": 1, "previous": None}, files, key)
    return out, key, manifest


def test_round_trip(made):
    path, key, written = made
    manifest = bundle.verify(path, "export", [key.verify_key])
    assert manifest == written and manifest.data["desk"] == "demo"
    with open(path, "rb") as f:
        m = bundle.read_manifest(f, "export", [key.verify_key])
        got = [(meta["case_number"], reader.read()) for meta, reader in bundle.items(f, m)]
    assert got == [("CASE-0", b"envelope one" * 1000), ("CASE-1", b""), ("CASE-2", b"twotwotwotwotwo")]


def refused(data: bytes, keys, kind="export") -> str:
    with pytest.raises(BundleError) as info:
        f = io.BytesIO(data)
        m = bundle.read_manifest(f, kind, keys)
        for _ in bundle.items(f, m):
            pass
    return info.value.reason


def test_every_kind_of_damage_is_refused(made):
    path, key, _ = made
    data = path.read_bytes()
    keys = [key.verify_key]
    assert refused(data[:-1], keys) == "truncated"
    assert refused(data + b"x", keys) == "tampered"
    assert refused(data[:-3] + b"TWO", keys) == "tampered"  # an item changed
    assert refused(data[:40] + bytes([data[40] ^ 1]) + data[41:], keys) == "bad_signature"  # manifest changed
    assert refused(data, [SigningKey.generate().verify_key]) == "bad_signature"  # foreign signer
    assert refused(data, keys, kind="replies") == "bad_signature"  # an export cannot pass as replies
    assert refused(b"PK\x03\x04", keys) == "not_a_bundle"
    assert refused(data[:20], keys) == "truncated"


def test_chain(made):
    _, _, manifest = made
    bundle.check_chain(manifest, 0, None)
    for last, prev, reason in [(1, None, "replayed"), (5, "x", "replayed"), (-1, None, "withheld")]:
        with pytest.raises(BundleError) as info:
            bundle.check_chain(manifest, last, prev)
        assert info.value.reason == reason
    with pytest.raises(BundleError) as info:
        bundle.check_chain(manifest, 0, "f" * 64)
    assert info.value.reason == "forked"
