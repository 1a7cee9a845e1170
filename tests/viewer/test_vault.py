"""The vault at rest: sealed under the passphrase, whole after a crash, refused when it is not ours,
and no plaintext on disk after use."""

import json
import shutil

import pytest

from crypto import Identity
from tests.helpers import files_containing
from tests.viewer.bundles import Submission, jpeg, listed, report_doc
from tests.viewer.conftest import PASSPHRASE
from viewer import importer, queries, triage
from viewer.errors import VaultLocked, ViewerError
from viewer.vault import Vault


def test_a_new_vault_has_the_documented_files(vault_dir, officer):
    names = {p.name for p in vault_dir.iterdir()}
    assert names >= {"vault.json", "vault.key", "officer.pub", "head.json", "db", "files", "outbox", "lock"}
    assert (vault_dir / "vault.key").stat().st_mode & 0o777 == 0o600
    info = json.loads((vault_dir / "vault.json").read_text())
    assert info["officer"] == officer.fingerprint and info["format"] == "sealview-vault/1"
    assert "sealdrop-public-key-v1:" in (vault_dir / "officer.pub").read_text()
    sealed = sorted(p.name for p in (vault_dir / "db").iterdir())
    assert [n.split("-")[0] for n in sealed] == ["reports", "state"]
    assert all(p.read_bytes().startswith(b"sealdrop\x01") for p in (vault_dir / "db").iterdir())


def test_unlock_gives_back_the_officer_and_the_pins(vault_dir, officer, server):
    with Vault.open(vault_dir, PASSPHRASE) as v:
        assert v.officer.fingerprint == officer.fingerprint
        assert v.officer.decryption_key.private_bytes() == officer.decryption_key.private_bytes()
        assert v.server_key == server.key.verify_key and v.desks == ["demo"]
        assert v.actor == f"Officer Petrova ({officer.fingerprint})"


def test_wrong_passphrase_is_refused_clearly(vault_dir, officer):
    with pytest.raises(
        ViewerError, match=f"wrong passphrase for this vault \\(officer {officer.fingerprint}\\)"
    ):
        Vault.open(vault_dir, "not the passphrase")


def test_a_vault_mixed_with_another_officers_files_is_refused(tmp_path, vault_dir):
    other = tmp_path / "other"
    Vault.create(other, PASSPHRASE, Identity.generate()).close()
    for p in (other / "db").iterdir():  # another officer's databases (and head) copied over ours
        shutil.copy(p, vault_dir / "db" / p.name)
    shutil.copy(other / "head.json", vault_dir / "head.json")
    with pytest.raises(ViewerError, match="not written with this vault's key: they come from another vault"):
        Vault.open(vault_dir, PASSPHRASE)
    # ...and another vault's key with our files: the passphrase may even be the same.
    shutil.copy(other / "vault.key", vault_dir / "vault.key")
    with pytest.raises(ViewerError, match=r"vault\.json belongs to another vault"):
        Vault.open(vault_dir, PASSPHRASE)


def test_an_altered_database_file_is_refused(vault_dir):
    sealed = next(p for p in (vault_dir / "db").iterdir() if p.name.startswith("state"))
    data = bytearray(sealed.read_bytes())
    data[-5] ^= 1
    sealed.write_bytes(bytes(data))
    with pytest.raises(ViewerError, match="was altered"):
        Vault.open(vault_dir, PASSPHRASE)


def test_one_writer_at_a_time_readers_meanwhile(vault_dir, vault):
    with pytest.raises(VaultLocked, match="in use by another sealview"):
        Vault.open(vault_dir, PASSPHRASE, write=True)
    with Vault.open(vault_dir, PASSPHRASE) as reader:
        assert reader.desks == ["demo"]


def test_a_failed_save_leaves_memory_and_disk_as_they_were(vault, server, tmp_path, monkeypatch):
    server.bundle(tmp_path / "b", [Submission("AAAA-0001", report_doc())])
    importer.import_bundle(vault, tmp_path / "b")
    head = (vault.path / "head.json").read_bytes()

    def broken(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(vault, "_write_sealed", broken)
    with pytest.raises(OSError):
        triage.set_state(vault, "AAAA-0001", "credible")
    monkeypatch.undo()
    assert (vault.path / "head.json").read_bytes() == head
    assert queries.case(vault, "AAAA-0001")["state"] == "new"  # reloaded from disk
    triage.set_state(vault, "AAAA-0001", "credible")
    assert queries.case(vault, "AAAA-0001")["state"] == "credible"


def test_files_left_by_a_crash_are_swept_on_the_next_open(vault_dir, vault):
    (vault_dir / "db" / "state-99.sealed").write_bytes(b"half")
    (vault_dir / "files" / "ab").mkdir()
    (vault_dir / "files" / "ab" / ("ab" * 32)).write_bytes(b"orphan")
    vault.close()
    Vault.open(vault_dir, PASSPHRASE, write=True).close()
    assert not (vault_dir / "db" / "state-99.sealed").exists()
    assert not (vault_dir / "files" / "ab" / ("ab" * 32)).exists()


def test_no_plaintext_on_disk_after_import_triage_and_close(vault, server, tmp_path):
    secret_text, note, answer = "Marker-Zebra-4471 sells behind Школа", "Note-Quokka-9", "Reply-Narwhal-3"
    photo = jpeg()
    server.bundle(
        tmp_path / "b",
        [
            Submission(
                "AAAA-0002",
                report_doc(
                    secret_text, contact="Contact-Okapi-5", attachments=[listed(photo, "p.jpg", "image/jpeg")]
                ),
                [photo],
            )
        ],
    )
    (tmp_path / "b").rename(tmp_path / "export.bundle")
    importer.import_bundle(vault, tmp_path / "export.bundle")
    triage.add_note(vault, "AAAA-0002", note)
    triage.reply(vault, "AAAA-0002", answer, "checking")
    triage.export_replies(vault)
    vault.close()
    needles = [s.encode() for s in (secret_text, "Contact-Okapi-5", note, answer)] + [photo[200:240]]
    assert files_containing(vault.path, needles) == []
