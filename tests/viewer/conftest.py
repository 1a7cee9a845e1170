import contextlib

import pytest

import crypto.keys
from crypto import Identity
from tests.viewer.bundles import Server
from viewer.vault import Vault

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def officer():
    return Identity.generate()


@pytest.fixture
def server(officer):
    return Server(officer.public_key.recipient)


@pytest.fixture
def vault_dir(tmp_path, officer, server):
    path = tmp_path / "vault"
    with Vault.create(path, PASSPHRASE, officer, name="Officer Petrova") as v:
        v.pin(server.key.verify_key, ["demo"])
    return path


@pytest.fixture
def vault(vault_dir):
    v = Vault.open(vault_dir, PASSPHRASE, write=True)
    yield v
    v.close()


@pytest.fixture
def passphrase_env(monkeypatch):
    monkeypatch.setenv("SEALDROP_PASSPHRASE", PASSPHRASE)


@contextlib.contextmanager
def cheap_kdf():
    """For fixtures wider than one test (the autouse cheap_argon2 is per test)."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(crypto.keys, "KDF_OPSLIMIT", 1)
        m.setattr(crypto.keys, "KDF_MEMLIMIT", 8192 * 1024)
        yield


def make_vault(path, bundles_of=()):
    """A vault at `path` with a fresh officer and server, and one export bundle per list of submissions.
    Returns (vault opened for writing, officer, server)."""
    from viewer import importer

    officer = Identity.generate()
    server = Server(officer.public_key.recipient)
    with cheap_kdf():
        with Vault.create(path, PASSPHRASE, officer, name="Officer Petrova") as v:
            v.pin(server.key.verify_key, ["demo"])
        vault = Vault.open(path, PASSPHRASE, write=True)
    for i, subs in enumerate(bundles_of):
        server.bundle(path.parent / f"export-{i}.bundle", subs)
        importer.import_bundle(vault, path.parent / f"export-{i}.bundle")
    return vault, officer, server
