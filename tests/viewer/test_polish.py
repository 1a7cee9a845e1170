"""Small things an officer notices: a closed pipe, a vault missing a folder, words in their language."""

import stat
import subprocess
import sys
from pathlib import Path

from crypto import Identity
from crypto.cli import BROKEN_PIPE_EXIT
from tests.dropbox.test_polish import run_into_closed_pipe
from tests.viewer.conftest import PASSPHRASE
from viewer import cli
from viewer.vault import Vault


def test_a_closed_stdout_is_no_error(vault_dir, monkeypatch):
    monkeypatch.setenv("SEALDROP_PASSPHRASE", PASSPHRASE)
    sealview = str(Path(sys.executable).with_name("sealview"))
    done = run_into_closed_pipe([sealview, "list", "--json", "--vault", str(vault_dir)])
    assert (done.returncode, done.stderr) == (BROKEN_PIPE_EXIT, b"")
    shell = subprocess.run(  # the real thing, as an officer types it
        f"'{sealview}' list --json --vault '{vault_dir}' | head -1",
        shell=True,
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert (shell.stdout, shell.stderr) == (b"[]\n", b"")


def test_opening_a_vault_to_write_makes_its_missing_folders_again(vault_dir):
    for sub in ("outbox", "files"):  # a restore made before outbox/ was kept had none
        (vault_dir / sub).rmdir()
    with Vault.open(vault_dir, PASSPHRASE, write=False):
        assert not (vault_dir / "outbox").exists()  # reading changes nothing
    with Vault.open(vault_dir, PASSPHRASE, write=True):
        for sub in ("db", "files", "outbox"):
            assert (vault_dir / sub).is_dir()
            assert stat.S_IMODE((vault_dir / sub).stat().st_mode) == 0o700


def test_a_bundle_of_key_changes_alone_says_so(vault_dir, server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SEALDROP_PASSPHRASE", PASSPHRASE)
    gone, joined = Identity.generate(), Identity.generate()
    # what the desk sends when only its readers changed (tests/dropbox/test_export_integrity.py)
    server.extra = {
        "key_changes": [
            {"action": action, "day": "2025-05-01", "key_id": k.public_key.recipient.key_id.hex(),
             "fingerprint": k.fingerprint, "name": name}
            for action, k, name in (("retired", gone, "Petrov"), ("registered", joined, "Ivanova"))
        ]
    }  # fmt: skip
    server.bundle(tmp_path / "e1.bundle", [])
    assert cli.main(["--vault", str(vault_dir), "--lang", "ru", "import", str(tmp_path / "e1.bundle")]) == 0
    said = capsys.readouterr().out.splitlines()
    assert said[0] == (
        "импортирован пакет выгрузки demo №1: сообщений нет, только 2 изменения в том, кто может читать "
        "сообщения службы"
    )
    assert said[1].startswith("внимание: ") and "Petrov" in "\n".join(said)
