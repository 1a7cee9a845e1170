"""`sealview backup` and `sealview restore`: the whole vault in one sealed file, checked after writing,
restored all or nothing; tampered, truncated, wrong-passphrase and wrong-key backups refused and leaving
nothing behind; memory bounded whatever the size of an attachment."""

import hashlib
import http.cookiejar
import json
import os
import shutil
import subprocess
import sys
import textwrap
import urllib.request

import pytest

from crypto import Identity
from tests.viewer.bundles import Submission, jpeg, listed, report_doc
from tests.viewer.conftest import PASSPHRASE, make_vault
from viewer import backup, backupfile, cli, media, triage
from viewer.vault import Vault

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv) -> str:
    code, out, err = run(capsys, *argv)
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1, (code, out, err)
    return err


def submissions():
    photo, other_photo, voice = jpeg(), jpeg((32, 32), (10, 200, 10)), os.urandom(200_000)
    return [
        Submission(
            "BK01-0001",
            report_doc(
                "Cars race at night on Vitosha Blvd.",
                attachments=[
                    listed(photo, "street.jpg", "image/jpeg"),
                    listed(voice, "voice.bin", "application/octet-stream"),
                ],
            ),
            [photo, voice],
        ),
        Submission(
            "BK01-0002",
            report_doc(
                "Illegal dumping by the river.", attachments=[listed(other_photo, "river.jpg", "image/jpeg")]
            ),
            [other_photo],
        ),
        Submission("BK01-0003", report_doc("Graffiti on the school wall.")),
    ]


@pytest.fixture
def filled(tmp_path, passphrase_env):
    """A vault with imported cases and attachments, triage, a note and a reply bundle in its outbox."""
    path = tmp_path / "vault"
    vault, _, _ = make_vault(path, [submissions()])
    triage.set_states(vault, ["BK01-0001"], "credible")
    triage.add_note(vault, "BK01-0002", "Call the river authority.")
    triage.reply(vault, "BK01-0001", "Thank you, we are checking.")
    triage.export_replies(vault)
    vault.close()
    return path


def snapshot(capsys, path, passphrase=PASSPHRASE) -> dict:
    """Every case as `show --json` prints it, and every attachment's plaintext hash, as opened."""
    code, out, _ = run(capsys, "--vault", path, "list", "--json")
    assert code == 0
    numbers = sorted(r["number"] for r in json.loads(out))
    cases = {}
    for number in numbers:
        code, out, _ = run(capsys, "--vault", path, "show", number, "--json")
        assert code == 0
        cases[number] = json.loads(out)
    opened = {}
    with Vault.open(path, passphrase) as v:
        for row in v.db.execute("SELECT id FROM attachments WHERE file IS NOT NULL ORDER BY id"):
            h = hashlib.sha256()
            for data in media.stream(v, media.attachment(v, row["id"])):
                h.update(data)
            opened[row["id"]] = h.hexdigest()
    return {"cases": cases, "attachments": opened}


def left_behind(parent, name) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.startswith(f".{name}.") or p.name == name]


def test_backup_wipe_restore_gives_back_every_case_and_attachment(filled, tmp_path, capsys):
    before = snapshot(capsys, filled)
    assert len(before["cases"]) == 3 and len(before["attachments"]) == 3
    outbox = sorted(p.name for p in (filled / "outbox").rglob("*") if p.is_file())
    assert outbox  # the reply bundle

    code, out, err = run(capsys, "--vault", filled, "backup", "-o", tmp_path / "vault.backup")
    assert code == 0, err
    assert "backup written and checked" in out and "3 cases, 3 attachments" in out
    data = (tmp_path / "vault.backup").read_bytes()
    assert data.startswith(b"sealview-backup/1\n")
    for secret in (b"Vitosha", b"river authority", b"Thank you"):
        assert secret not in data  # only the envelope holds the vault, and the vault only ciphertext
    assert (tmp_path / "vault.backup").stat().st_mode & 0o777 == 0o600
    shutil.rmtree(filled)  # the machine is lost

    (tmp_path / "new" / "vault").mkdir(parents=True)  # an empty folder is fine, like a missing one
    code, out, err = run(capsys, "--vault", tmp_path / "new" / "vault", "restore", tmp_path / "vault.backup")
    assert code == 0, err
    assert "restored to" in out and "3 cases, 3 attachments" in out
    restored = tmp_path / "new" / "vault"
    assert snapshot(capsys, restored) == before
    assert sorted(p.name for p in (restored / "outbox").rglob("*") if p.is_file()) == outbox
    assert left_behind(tmp_path / "new", "vault") == ["vault"]
    assert (restored / "vault.key").stat().st_mode & 0o777 == 0o600

    # The restored vault is a working vault: `sealview open` serves it, and a change is kept.
    ui = subprocess.Popen(
        [sys.executable, "-m", "viewer.cli", "--vault", str(restored), "open", "--no-browser"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = ui.stdout.readline().split()[-1]
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        browser.open(url, timeout=60).read()  # the token sets the cookie
        page = browser.open(url.split("/?")[0] + "/case/BK01-0001", timeout=60).read().decode()
        assert "Vitosha" in page
    finally:
        ui.terminate()
        ui.wait(60)
    with Vault.open(restored, PASSPHRASE, write=True) as v:
        triage.add_note(v, "BK01-0003", "Restored and still writable.")
    code, out, _ = run(capsys, "--vault", restored, "show", "BK01-0003")
    assert code == 0 and "Restored and still writable." in out


def test_a_second_officer_restores_with_their_identity_under_a_new_passphrase(
    filled, tmp_path, capsys, monkeypatch
):
    colleague = Identity.generate()
    colleague.save(tmp_path / "colleague.identity", "colleague's own passphrase")
    (tmp_path / "colleague.pub").write_text(colleague.public_key.to_file_text())
    before = snapshot(capsys, filled)
    code, out, err = run(
        capsys, "--vault", filled, "backup", "-o", tmp_path / "b", "--to", tmp_path / "colleague.pub"
    )
    assert code == 0 and colleague.fingerprint in out, err
    shutil.rmtree(filled)

    stranger = Identity.generate()
    stranger.save(tmp_path / "stranger.identity", PASSPHRASE)
    err = refused(
        capsys,
        "--vault",
        tmp_path / "r",
        "restore",
        tmp_path / "b",
        "--identity",
        tmp_path / "stranger.identity",
    )
    assert f"not sealed to officer {stranger.fingerprint}" in err
    assert left_behind(tmp_path, "r") == []

    err = refused(
        capsys,
        "--vault",
        tmp_path / "r",
        "restore",
        tmp_path / "b",
        "--identity",
        tmp_path / "colleague.identity",
    )
    assert "wrong passphrase for" in err and "colleague.identity" in err  # the vault's is not theirs
    assert left_behind(tmp_path, "r") == []
    answers = iter(["colleague's own passphrase", "the colleague's new vault passphrase"])
    monkeypatch.setattr(backup, "read_passphrase", lambda prompt, confirm=False: next(answers))
    code, out, err = run(
        capsys,
        "--vault",
        tmp_path / "r",
        "restore",
        tmp_path / "b",
        "--identity",
        tmp_path / "colleague.identity",
    )
    assert code == 0, err
    with pytest.raises(Exception, match="wrong passphrase"):
        Vault.open(tmp_path / "r", PASSPHRASE)  # the vault key is under the new passphrase only
    monkeypatch.setenv("SEALDROP_PASSPHRASE", "the colleague's new vault passphrase")
    assert snapshot(capsys, tmp_path / "r", "the colleague's new vault passphrase") == before


@pytest.fixture
def backup_file(filled, tmp_path, capsys):
    code, _, err = run(capsys, "--vault", filled, "backup", "-o", tmp_path / "vault.backup")
    assert code == 0, err
    return tmp_path / "vault.backup"


def test_a_tampered_byte_is_refused_and_nothing_is_left(backup_file, tmp_path, capsys):
    data = bytearray(backup_file.read_bytes())
    data[len(data) // 2] ^= 0x01
    backup_file.write_bytes(data)
    err = refused(capsys, "--vault", tmp_path / "r", "restore", backup_file)
    assert "damaged or was altered" in err
    assert left_behind(tmp_path, "r") == []
    err = refused(capsys, "--vault", tmp_path / "new" / "folders" / "r", "restore", backup_file)
    assert not (tmp_path / "new").exists()  # nor the folders made for it


def test_an_altered_header_is_refused(backup_file, tmp_path, capsys):
    data = backup_file.read_bytes()
    head_end = data.index(b"\n", len(b"sealview-backup/1\n"))
    header = json.loads(data[len(b"sealview-backup/1\n") : head_end])
    header["officer"] = "00000 00000 00000 00000 00000"  # another name on the envelope
    forged = json.dumps(header, sort_keys=True).encode()
    backup_file.write_bytes(data[: len(b"sealview-backup/1\n")] + forged + data[head_end:])
    assert "header was altered" in refused(capsys, "--vault", tmp_path / "r", "restore", backup_file)
    assert left_behind(tmp_path, "r") == []


def test_a_truncated_backup_is_refused_and_nothing_is_left(backup_file, tmp_path, capsys):
    data = backup_file.read_bytes()
    for cut in (len(data) * 2 // 3, len(data) - 1, 30):
        backup_file.write_bytes(data[:cut])
        err = refused(capsys, "--vault", tmp_path / "r", "restore", backup_file)
        assert "damaged or was altered" in err or "header is damaged" in err, err
        assert left_behind(tmp_path, "r") == []


def test_a_wrong_passphrase_is_refused(backup_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SEALDROP_PASSPHRASE", "not the passphrase")
    assert "wrong passphrase for this backup" in refused(
        capsys, "--vault", tmp_path / "r", "restore", backup_file
    )
    assert left_behind(tmp_path, "r") == []


def test_restore_refuses_a_folder_that_is_not_empty(backup_file, tmp_path, capsys):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "notes.txt").write_text("mine")
    err = refused(capsys, "--vault", tmp_path / "r", "restore", backup_file)
    assert "is not empty" in err
    assert [p.name for p in (tmp_path / "r").iterdir()] == ["notes.txt"]


def test_a_backup_that_does_not_read_back_whole_is_not_kept(filled, tmp_path, capsys, monkeypatch):
    real = backupfile._FdReader.readinto

    def flipping(self, buffer):
        n = real(self, buffer)
        if n > 1000:
            buffer[n // 2] ^= 0x01  # the disk gives back another byte than was written
        return n

    monkeypatch.setattr(backupfile._FdReader, "readinto", flipping)
    err = refused(capsys, "--vault", filled, "backup", "-o", tmp_path / "vault.backup")
    assert "damaged or was altered" in err
    assert [p.name for p in tmp_path.iterdir() if "backup" in p.name] == []


def test_a_backup_while_another_sealview_holds_the_vault_is_refused_clearly(filled, tmp_path, capsys):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys
            from viewer.vault import Vault
            v = Vault.open({str(filled)!r}, {PASSPHRASE!r}, write=True)
            print("holding", flush=True)
            sys.stdin.read()
        """),
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        err = refused(capsys, "--vault", filled, "backup", "-o", tmp_path / "vault.backup")
        assert f"in use by another sealview (process {holder.pid})" in err
        assert not (tmp_path / "vault.backup").exists()
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    code, _, err = run(capsys, "--vault", filled, "backup", "-o", tmp_path / "vault.backup")
    assert code == 0, err


def test_backup_refuses_to_write_into_the_vault(filled, capsys):
    assert "outside the vault folder" in refused(capsys, "--vault", filled, "backup", "-o", filled / "b")


# The peak resident set of this process's own memory (VmHWM). Not getrusage's ru_maxrss: Linux carries the
# parent's peak over exec into it, so a child of a pytest that just held 112 MiB would start above it.
MEMORY_SCRIPT = """
import os, sys
from viewer import cli
from viewer.vault import Vault

def peak():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))

vault, out, restored = sys.argv[1:4]
Vault.open(vault, os.environ["SEALDROP_PASSPHRASE"]).close()  # imports and the passphrase's KDF, once
before = peak()
assert cli.main(["--vault", vault, "backup", "-o", out]) == 0
after_backup = peak()
assert cli.main(["--vault", restored, "restore", out]) == 0
after_restore = peak()
print("GROWTH", after_backup - before, after_restore - before)
"""


def test_backup_and_restore_memory_does_not_grow_with_the_attachment(tmp_path, passphrase_env):
    big = os.urandom(1 << 20) * 112  # 112 MiB of video
    sub = Submission(
        "BIG0-0001", report_doc("A long video.", attachments=[listed(big, "v.mp4", "video/mp4")]), [big]
    )
    vault, _, _ = make_vault(tmp_path / "vault", [[sub]])
    vault.close()
    del big, sub
    (tmp_path / "export-0.bundle").unlink()
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, tmp_path / "vault", tmp_path / "b", tmp_path / "r"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    growth = [int(k) for k in result.stdout.split("GROWTH")[1].split()]  # KiB on Linux
    assert os.path.getsize(tmp_path / "b") > 112 << 20
    print("peak RSS growth (KiB) for backup, restore:", growth)
    assert all(g < 64 * 1024 for g in growth), growth


def test_a_vault_already_damaged_is_backed_up_as_it_is_and_says_so(filled, tmp_path, capsys):
    envelope = next(p for p in (filled / "files").rglob("*") if p.is_file())
    data = bytearray(envelope.read_bytes())
    data[-1] ^= 0x01  # the disk rotted one attachment before any backup
    envelope.write_bytes(data)
    code, out, err = run(capsys, "--vault", filled, "backup", "-o", tmp_path / "b")
    assert code == 0, err
    assert "warning: 1 attachment file the vault names is missing or altered" in out
    code, out, err = run(capsys, "--vault", tmp_path / "r", "restore", tmp_path / "b")
    assert code == 0, err
    assert "warning: 1 attachment file the vault names is missing or altered" in out
    restored = next(p for p in (tmp_path / "r" / "files").rglob(envelope.name))
    assert restored.read_bytes() == bytes(data)  # what there was, no more and no less


def test_a_missing_folder_or_file_and_a_damaged_backup_are_one_plain_translated_line(
    filled, backup_file, tmp_path, capsys
):
    err = refused(capsys, "--vault", filled, "backup", "-o", tmp_path / "no-stick" / "v.backup")
    assert err.strip() == f"error: no such folder: {tmp_path / 'no-stick'}"  # not a .partial's errno
    assert not (tmp_path / "no-stick").exists()
    err = refused(capsys, "--vault", tmp_path / "r", "restore", tmp_path / "no.backup")
    assert err.strip() == f"error: no such file: {tmp_path / 'no.backup'}"
    err = refused(capsys, "--vault", tmp_path / "r", "restore", backup_file, "--identity", tmp_path / "no.id")
    assert err.strip() == f"error: no such file: {tmp_path / 'no.id'}"
    err = refused(
        capsys, "--vault", filled, "backup", "-o", tmp_path / "v2.backup", "--to", tmp_path / "no.pub"
    )
    assert (
        err.strip() == f"error: no such file: {tmp_path / 'no.pub'}" and not (tmp_path / "v2.backup").exists()
    )
    data = backup_file.read_bytes()
    backup_file.write_bytes(data[: len(data) * 2 // 3])
    code, _out, err = run(capsys, "--lang", "ru", "--vault", tmp_path / "r", "restore", backup_file)
    assert code == 1 and "повреждена" in err and "chunk" not in err and len(err.splitlines()) == 1, err
    assert left_behind(tmp_path, "r") == []


def test_a_restored_vault_has_its_empty_folders_and_writes_a_reply_bundle(tmp_path, capsys, passphrase_env):
    """A backup holds files; an empty outbox/ must still come back, or export-replies fails after it."""
    vault, _, _ = make_vault(tmp_path / "vault", [submissions()])  # nothing in its outbox yet
    vault.close()
    assert list((tmp_path / "vault" / "outbox").iterdir()) == []
    code, _out, err = run(capsys, "--vault", tmp_path / "vault", "backup", "-o", tmp_path / "v.backup")
    assert code == 0, err
    code, _out, err = run(capsys, "--vault", tmp_path / "r", "restore", tmp_path / "v.backup")
    assert code == 0, err
    assert all((tmp_path / "r" / sub).is_dir() for sub in ("db", "files", "outbox"))
    assert run(capsys, "--vault", tmp_path / "r", "reply", "BK01-0001", "--text", "Thank you.")[0] == 0
    code, _out, err = run(
        capsys, "--vault", tmp_path / "r", "export-replies", "-o", tmp_path / "replies.bundle"
    )
    assert code == 0 and (tmp_path / "replies.bundle").is_file(), err


def test_a_backup_never_replaces_an_older_one(filled, backup_file, tmp_path, capsys):
    """The older file may be the last good backup (the vault may be damaged since): keep it."""
    before = backup_file.read_bytes()
    err = refused(capsys, "--vault", filled, "backup", "-o", backup_file)
    assert f"{backup_file} already exists: choose a new name" in err
    assert backup_file.read_bytes() == before
