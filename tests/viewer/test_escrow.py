"""`sealview escrow`: an escrow key split into paper shares, registered like any officer; k shares rebuild
it into an identity that `sealview init --identity` adopts, and the reports sealed to it open. Fewer
shares, shares of two keys, and a mistyped share are refused, naming the file and line."""

import itertools
import json
import random

import pytest

from crypto import Identity, PublicKey, SigningKey
from tests.viewer.bundles import Server, Submission, jpeg, listed, report_doc
from viewer import cli, escrow


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv) -> str:
    code, out, err = run(capsys, *argv)
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1, (code, out, err)
    return err


@pytest.fixture
def shares_dir(tmp_path, capsys, passphrase_env):
    code, out, err = run(
        capsys,
        "escrow",
        "create",
        "--desk",
        "demo",
        "--shares",
        5,
        "--threshold",
        3,
        "-o",
        tmp_path / "escrow",
    )
    assert code == 0, err
    key = PublicKey.load(tmp_path / "escrow" / "escrow.pub")
    assert f"escrow key fingerprint: {key.fingerprint}" in out
    assert "sealdrop officer add --desk demo" in out
    assert f"sealview confirm-key {tmp_path / 'escrow' / 'escrow.pub'} --name Escrow" in out  # key trust
    return tmp_path / "escrow"


def typed_back(text: str, rnd: random.Random) -> str:
    """As a holder might type it: lower case, spaces doubled here and there, the comments left out."""
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    return "\n".join(
        ("  " if rnd.random() < 0.5 else " ").join(ln.lower().split()) + (" " * rnd.randrange(3))
        for ln in lines
    )


def test_create_writes_the_public_key_shares_and_sheets_and_no_identity(shares_dir):
    names = sorted(p.name for p in shares_dir.iterdir())
    assert names == ["escrow.pub"] + [f"share-{i}.txt" for i in range(1, 6)] + [
        f"sheet-{i}.txt" for i in range(1, 6)
    ]
    key = PublicKey.load(shares_dir / "escrow.pub")
    for i in range(1, 6):
        assert (shares_dir / f"share-{i}.txt").stat().st_mode & 0o777 == 0o600
        sheet = (shares_dir / f"sheet-{i}.txt").read_text("utf-8")
        share = (shares_dir / f"share-{i}.txt").read_text("ascii")
        assert f"SHARE {i} OF 5 NEED 3" in share
        assert key.fingerprint in sheet and "Desk: demo" in sheet
        assert all(line in sheet for line in share.splitlines() if not line.startswith("#"))
    assert not [p for p in shares_dir.parent.iterdir() if p.name.startswith(".escrow.")]


def test_the_sheet_speaks_the_officers_language(tmp_path, capsys):
    code, _, err = run(
        capsys,
        "--lang",
        "ru",
        "escrow",
        "create",
        "--desk",
        "demo",
        "--shares",
        2,
        "--threshold",
        2,
        "-o",
        tmp_path / "e",
    )
    assert code == 0, err
    sheet = (tmp_path / "e" / "sheet-1.txt").read_text("utf-8")
    assert "SHARE 1 OF 2" in sheet  # the share itself is the same in every language
    assert "Desk: demo" not in sheet and "Служба: demo" in sheet


def test_three_shares_open_a_report_sealed_to_the_officer_and_the_escrow_key(
    shares_dir, tmp_path, capsys, monkeypatch
):
    escrow_key = PublicKey.load(shares_dir / "escrow.pub")
    officer = Identity.generate()
    server = Server(officer.public_key.recipient)
    photo = jpeg()
    doc = report_doc(
        "The officer left; the escrow key still reads this.",
        attachments=[listed(photo, "p.jpg", "image/jpeg")],
    )
    sub = Submission(
        "ESC0-0001", doc, [photo], recipients=[officer.public_key.recipient, escrow_key.recipient]
    )
    server.bundle(tmp_path / "export.bundle", [sub])
    (tmp_path / "server.pub").write_text(server.key.verify_key.encode() + "\n")

    rnd = random.Random(14)
    for i in (2, 4, 5):  # typed back by their holders
        text = (shares_dir / f"share-{i}.txt").read_text()
        (tmp_path / f"typed-{i}.txt").write_text(typed_back(text, rnd))
    shares = [f"--share={tmp_path / f'typed-{i}.txt'}" for i in (2, 4, 5)]
    code, out, err = run(capsys, "escrow", "recover", *shares, "-o", tmp_path / "escrow.identity")
    assert code == 0, err
    assert escrow_key.fingerprint in out
    assert (tmp_path / "escrow.identity").stat().st_mode & 0o777 == 0o600

    code, out, err = run(
        capsys,
        "--vault",
        tmp_path / "v",
        "init",
        "--identity",
        tmp_path / "escrow.identity",
        "--server-key",
        tmp_path / "server.pub",
        "--desk",
        "demo",
    )
    assert code == 0 and escrow_key.fingerprint in out, err
    code, out, err = run(capsys, "--vault", tmp_path / "v", "import", tmp_path / "export.bundle")
    assert code == 0, err
    code, out, err = run(capsys, "--vault", tmp_path / "v", "show", "ESC0-0001", "--json")
    assert code == 0, err
    report = json.loads(out)["reports"][0]
    assert report["opened"] and report["what"] == "The officer left; the escrow key still reads this."
    assert report["attachments"][0]["opened"] and report["attachments"][0]["size"] == len(photo)


def test_any_three_of_the_five_rebuild_the_same_key(shares_dir):
    key = PublicKey.load(shares_dir / "escrow.pub")
    files = [str(shares_dir / f"share-{i}.txt") for i in range(1, 6)]
    for chosen in itertools.combinations(files, 3):
        assert escrow.recover(list(chosen)).fingerprint == key.fingerprint
    assert escrow.recover(files).fingerprint == key.fingerprint  # more than needed is fine


def test_two_shares_are_refused_and_no_identity_is_written(shares_dir, tmp_path, capsys):
    err = refused(
        capsys,
        "escrow",
        "recover",
        "--share",
        shares_dir / "share-1.txt",
        "--share",
        shares_dir / "share-3.txt",
        "-o",
        tmp_path / "x.identity",
    )
    assert "not enough shares: 2 given, 3 needed" in err
    assert not (tmp_path / "x.identity").exists()


def test_a_mistyped_share_is_named_with_its_line(shares_dir, tmp_path, capsys):
    lines = (shares_dir / "share-3.txt").read_text().splitlines()
    n = next(i for i, ln in enumerate(lines) if ln.startswith("3 "))
    group = lines[n].split()[2]
    lines[n] = lines[n].replace(group, group[:-1] + ("A" if group[-1] != "A" else "B"), 1)
    (tmp_path / "share-3.txt").write_text("\n".join(lines))
    err = refused(
        capsys,
        "escrow",
        "recover",
        "--share",
        shares_dir / "share-1.txt",
        "--share",
        tmp_path / "share-3.txt",
        "--share",
        shares_dir / "share-5.txt",
        "-o",
        tmp_path / "x.identity",
    )
    assert f"{tmp_path / 'share-3.txt'}: the line numbered 3 has a typo" in err  # as printed on the sheet
    assert not (tmp_path / "x.identity").exists()


def test_shares_of_two_escrow_keys_are_refused_by_name(shares_dir, tmp_path, capsys):
    code, _, err = run(capsys, "escrow", "create", "--shares", 3, "--threshold", 2, "-o", tmp_path / "other")
    assert code == 0, err
    err = refused(
        capsys,
        "escrow",
        "recover",
        "--share",
        shares_dir / "share-1.txt",
        "--share",
        tmp_path / "other" / "share-2.txt",
        "-o",
        tmp_path / "x.identity",
    )
    assert "share-2.txt and" in err and "are shares of different keys" in err


@pytest.mark.parametrize("shares, threshold", [(3, 4), (3, 1), (300, 2)])
def test_impossible_splits_are_refused(tmp_path, capsys, shares, threshold):
    err = refused(
        capsys, "escrow", "create", "--shares", shares, "--threshold", threshold, "-o", tmp_path / "e"
    )
    assert "threshold" in err and not (tmp_path / "e").exists()


def test_create_refuses_a_folder_that_is_not_empty(tmp_path, capsys):
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "old.txt").write_text("x")
    assert "is not empty" in refused(
        capsys, "escrow", "create", "--shares", 3, "--threshold", 2, "-o", tmp_path / "e"
    )


def test_a_backup_sealed_to_the_escrow_key_restores_with_the_recovered_identity(
    shares_dir, tmp_path, capsys, monkeypatch
):
    """The two halves of issue 14 together: vault backups sealed `--to` the escrow key survive the
    officer's passphrase too."""
    from tests.viewer.conftest import make_vault

    vault, _, _ = make_vault(tmp_path / "vault", [[Submission("ESC1-0001", report_doc("Kept by escrow."))]])
    vault.close()
    code, _, err = run(
        capsys,
        "--vault",
        tmp_path / "vault",
        "backup",
        "-o",
        tmp_path / "b",
        "--to",
        shares_dir / "escrow.pub",
    )
    assert code == 0, err
    files = [f"--share={shares_dir / f'share-{i}.txt'}" for i in (1, 2, 3)]
    assert run(capsys, "escrow", "recover", *files, "-o", tmp_path / "e.identity")[0] == 0
    code, _, err = run(
        capsys, "--vault", tmp_path / "r", "restore", tmp_path / "b", "--identity", tmp_path / "e.identity"
    )
    assert code == 0, err
    code, out, _ = run(capsys, "--vault", tmp_path / "r", "show", "ESC1-0001")
    assert code == 0 and "Kept by escrow." in out


def test_a_server_key_is_not_a_share(tmp_path, capsys):
    (tmp_path / "s.txt").write_text(SigningKey.generate().verify_key.encode())
    err = refused(capsys, "escrow", "recover", "--share", tmp_path / "s.txt", "-o", tmp_path / "x")
    assert "is not a sealdrop share" in err


def _recover(capsys, tmp_path, *files) -> str:
    argv = [a for f in files for a in ("--share", f)]
    return refused(capsys, "escrow", "recover", *argv, "-o", tmp_path / "x.identity")


def test_the_same_share_twice_a_header_typo_a_lost_last_line_and_a_missing_file_are_named(
    shares_dir, tmp_path, capsys
):
    one, two = shares_dir / "share-1.txt", shares_dir / "share-2.txt"
    err = _recover(capsys, tmp_path, one, two, one)
    assert f"{one} and {one} are the same share (number 1)" in err  # not "2 given, 3 needed"
    lines = two.read_text().splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("SEALDROP-SHARE-1"))
    typo = lines.copy()
    typo[head] = typo[head].replace(" OF 5 ", " OF 6 ")
    (tmp_path / "typo.txt").write_text("\n".join(typo))
    assert "typo.txt: the first line (SEALDROP-SHARE-1 ...) has a typo" in _recover(
        capsys, tmp_path, one, tmp_path / "typo.txt", shares_dir / "share-3.txt"
    )
    (tmp_path / "short.txt").write_text("\n".join(lines[:-1]))  # the last line, numbered 5, left out
    assert "short.txt: the line numbered 5 is missing or out of order" in _recover(
        capsys, tmp_path, one, tmp_path / "short.txt", shares_dir / "share-3.txt"
    )
    err = _recover(capsys, tmp_path, one, tmp_path / "gone.txt", two)
    assert err.strip() == f"error: no such file: {tmp_path / 'gone.txt'}"
    argv = ["escrow", "recover", "--share", one, "--share", two, "--share", shares_dir / "share-3.txt"]
    err = refused(capsys, *argv, "-o", tmp_path / "gone" / "x.identity")
    assert err.strip() == f"error: no such folder: {tmp_path / 'gone'}"
    assert not (tmp_path / "x.identity").exists()


def test_the_sheet_prints_the_recover_command_on_one_line(shares_dir):
    sheet = (shares_dir / "sheet-1.txt").read_text()
    assert "  sealview escrow recover --share FILE --share FILE ... -o escrow.identity\n" in sheet
    assert max(len(line) for line in sheet.splitlines() if not line.startswith("  ")) <= 72
