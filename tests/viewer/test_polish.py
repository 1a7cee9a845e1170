"""Small things an officer notices: a closed pipe, a vault missing a folder, words in their language."""

import stat
import subprocess
import sys
from pathlib import Path

from crypto.cli import BROKEN_PIPE_EXIT
from tests.dropbox.test_polish import run_into_closed_pipe
from tests.viewer.conftest import PASSPHRASE
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
