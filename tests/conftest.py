import pytest

import crypto.keys


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch):
    """Identity files in unit tests use libsodium's minimum Argon2id cost; real files use "moderate"."""
    monkeypatch.setattr(crypto.keys, "KDF_OPSLIMIT", 1)
    monkeypatch.setattr(crypto.keys, "KDF_MEMLIMIT", 8192 * 1024)
