import os

import pytest

import crypto.keys

# Many tests read what the CLIs and serve print in English; the commands speak the shell's language
# (LANGUAGE, LC_ALL, LC_MESSAGES, LANG). The suite runs in the C locale whatever shell starts it; a test
# of a language sets LANG (or --lang) itself, and no LANGUAGE or LC_* is left to outrank it.
for _name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
    os.environ.pop(_name, None)
os.environ["LANG"] = "C.UTF-8"

pytest_plugins = ["tests.chromium"]  # the browser fixtures, one Chromium for the whole session


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch):
    """Identity files in unit tests use libsodium's minimum Argon2id cost; real files use "moderate"."""
    monkeypatch.setattr(crypto.keys, "KDF_OPSLIMIT", 1)
    monkeypatch.setattr(crypto.keys, "KDF_MEMLIMIT", 8192 * 1024)


@pytest.fixture(autouse=True)
def cheap_desk_passwords(monkeypatch):
    """Desk users made in tests hash at Argon2id's minimum cost (the cost travels in the hash, so a live
    server verifies them just as cheaply); real ones use libsodium's "interactive" cost."""
    from dropbox.desk import accounts

    monkeypatch.setattr(accounts, "PASSWORD_OPSLIMIT", 1)
    monkeypatch.setattr(accounts, "PASSWORD_MEMLIMIT", 8192 * 1024)
    monkeypatch.setattr(accounts, "_DUMMY", [])
