"""`sealview` from the command line: what each command prints, and every failure as one clear line
with a non-zero exit and no partial output file."""

import json

import pytest

import crypto
from crypto import Identity, SigningKey
from tests.helpers import jpeg_with_exif
from tests.viewer.bundles import Submission, jpeg, listed, report_doc
from tests.viewer.conftest import PASSPHRASE
from viewer import cli


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(capsys, *argv) -> str:
    code, out, err = run(capsys, *argv)
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1, (code, out, err)
    return err


@pytest.fixture
def env(passphrase_env):
    return passphrase_env


def test_init_makes_an_identity_prints_its_fingerprint_and_pins_the_server(tmp_path, capsys, env):
    server = SigningKey.generate()
    (tmp_path / "server-signing.pub").write_text(
        f"# sealdrop server signing key\n{server.verify_key.encode()}\n"
    )
    code, out, _ = run(
        capsys,
        "--vault",
        tmp_path / "v",
        "init",
        "--server-key",
        tmp_path / "server-signing.pub",
        "--desk",
        "demo",
        "--name",
        "Officer Ivanova",
    )
    assert code == 0
    public = crypto.PublicKey.load(tmp_path / "v" / "officer.pub")
    assert f"officer fingerprint: {public.fingerprint}" in out
    assert f"server key fingerprint: {server.verify_key.fingerprint}" in out and "desks: demo" in out
    # Adding a desk later; a different server key is refused.
    code, out, _ = run(capsys, "init", "--vault", tmp_path / "v", "--desk", "demo-internal")
    assert code == 0 and "desks: demo, demo-internal" in out
    other = tmp_path / "other.pub"
    other.write_text(SigningKey.generate().verify_key.encode())
    assert "already trusts another server key" in one_line_error(
        capsys, "--vault", tmp_path / "v", "init", "--server-key", other
    )
    assert "a desk slug" in one_line_error(capsys, "--vault", tmp_path / "v", "init", "--desk", "Demo Desk")


def test_init_adopts_an_identity_and_refuses_a_second_one(tmp_path, capsys, env):
    identity = Identity.generate()
    identity.save(tmp_path / "me.identity", PASSPHRASE)
    code, out, _ = run(capsys, "--vault", tmp_path / "v", "init", "--identity", tmp_path / "me.identity")
    assert code == 0 and identity.fingerprint in out
    other = Identity.generate()
    other.save(tmp_path / "other.identity", PASSPHRASE)
    err = one_line_error(capsys, "--vault", tmp_path / "v", "init", "--identity", tmp_path / "other.identity")
    assert f"already belongs to officer {identity.fingerprint}" in err


def test_wrong_passphrase_and_not_a_vault(tmp_path, capsys, vault_dir, monkeypatch):
    monkeypatch.setenv("SEALDROP_PASSPHRASE", "wrong")
    assert "wrong passphrase for this vault" in one_line_error(capsys, "--vault", vault_dir, "list")
    assert "is not a sealview vault" in one_line_error(capsys, "--vault", tmp_path / "nothing", "list")
    monkeypatch.delenv("SEALDROP_PASSPHRASE")
    assert "no passphrase" in one_line_error(capsys, "--vault", vault_dir, "list")  # no terminal here


def test_show_tells_what_an_attachment_still_says_about_its_maker(tmp_path, capsys, env, vault_dir, server):
    kept, clean = jpeg_with_exif("Acme X1"), jpeg()
    attachments = [listed(kept, "kept.jpg", "image/jpeg", "kept"), listed(clean, "clean.jpg", "image/jpeg")]
    server.bundle(
        tmp_path / "export.bundle",
        [Submission("HIDE-0001", report_doc("Seen", attachments=attachments), [kept, clean])],
    )
    v = ["--vault", vault_dir]
    assert run(capsys, *v, "import", tmp_path / "export.bundle")[0] == 0
    code, out, _ = run(capsys, *v, "show", "HIDE-0001")
    first, second = out.split("attachment 2:")
    assert code == 0 and "could identify the reporter. The reporter chose to keep" in first
    assert "42.69694, 23.32139" in first and "Acme X1" in first
    assert "warning" not in second and "  - " not in second
    shown = json.loads(run(capsys, *v, "show", "HIDE-0001", "--json")[1])
    hidden = [a["hidden"] for a in shown["reports"][0]["attachments"]]
    assert any("Acme X1" in w for w in hidden[0]["warnings"]) and hidden[1] == {
        "warnings": [], "notes": [], "unchecked": ""}  # fmt: skip


def test_the_commands_of_a_working_day(tmp_path, capsys, env, vault_dir, server):
    photo = jpeg()
    server.bundle(
        tmp_path / "export.bundle",
        [
            Submission(
                "DAY0-0001",
                report_doc("Drugs at \x1b[31mthe park", attachments=[listed(photo, "p.jpg", "image/jpeg")]),
                [photo],
            ),
            Submission("DAY0-0002", report_doc("Noise", category=("noise", "Noise"))),
        ],
    )
    v = ["--vault", vault_dir]
    code, out, _ = run(capsys, *v, "import", tmp_path / "export.bundle")
    assert code == 0 and "imported export bundle demo #1: 2 reports in 2 new cases, 1 attachment" in out
    assert "was already imported" in one_line_error(capsys, *v, "import", tmp_path / "export.bundle")
    code, out, err = run(capsys, *v, "list")
    assert code == 0 and "DAY0-0001" in out and "2 cases" in err and "\x1b" not in out
    code, out, _ = run(capsys, *v, "list", "--json", "--query", "noise")
    assert [r["number"] for r in json.loads(out)] == ["DAY0-0002"]
    code, out, _ = run(capsys, *v, "show", "day0-0001")
    assert code == 0 and "Drugs at [31mthe park" in out and "attachment 1: p.jpg (image/jpeg" in out
    assert "no case 'NOPE'" in one_line_error(capsys, *v, "show", "NOPE")
    assert run(capsys, *v, "triage", "DAY0-0002", "duplicate", "--duplicate-of", "DAY0-0001")[0] == 0
    assert run(capsys, *v, "note", "DAY0-0001", "Asked the school")[0] == 0
    assert "invalid choice" in one_line_error(capsys, *v, "triage", "DAY0-0001", "solved")
    assert run(capsys, *v, "reply", "DAY0-0001", "--text", "Thank you", "--status", "checking")[0] == 0
    missing = tmp_path / "no-such-folder"  # a USB stick not mounted: the folder is named, nothing is written
    assert f"{missing}: no such file or folder" in one_line_error(
        capsys, *v, "export-replies", "-o", missing / "replies.bundle"
    )
    code, out, _ = run(capsys, *v, "export-replies", "-o", tmp_path / "replies.bundle")
    assert code == 0 and "reply bundle demo #1: 1 reply, 1 confirmation" in out
    assert (tmp_path / "replies.bundle").read_bytes().startswith(crypto.bundle.MAGIC)
    assert "nothing to send" in one_line_error(capsys, *v, "export-replies", "-o", tmp_path / "again.bundle")
    assert not (tmp_path / "again.bundle").exists() and not list(tmp_path.glob("*.partial"))

    police = Identity.generate()
    (tmp_path / "police.pub").write_text(police.public_key.to_file_text())
    code, out, _ = run(
        capsys,
        *v,
        "forward",
        "DAY0-0001",
        "--to",
        tmp_path / "police.pub",
        "-o",
        tmp_path / "case.sealed",
        "--pdf",
        tmp_path / "case.pdf",
    )
    assert code == 0 and police.fingerprint in out
    assert crypto.unseal_bytes((tmp_path / "case.sealed").read_bytes(), [police.decryption_key])[:2] == b"PK"
    assert (tmp_path / "case.pdf").read_bytes().startswith(b"%PDF")
    assert "not a sealdrop public key" in one_line_error(
        capsys, *v, "forward", "DAY0-0001", "--to", tmp_path / "export.bundle", "-o", tmp_path / "x"
    )
    assert not (tmp_path / "x").exists()
    code, out, _ = run(capsys, *v, "show", "DAY0-0001", "--json")
    shown = json.loads(out)
    assert shown["state"] == "forwarded" and shown["notes"][0]["text"] == "Asked the school"
    assert [h["action"] for h in shown["history"]] == ["imported", "note", "reply", "reply sent", "forwarded"]


def test_refusals_are_one_line(tmp_path, capsys, env, vault_dir, server):
    server.bundle(
        tmp_path / "other-desk.bundle",
        [Submission("X000-0001", report_doc())],
        desk="elsewhere",
        advance=False,
    )
    err = one_line_error(capsys, "--vault", vault_dir, "import", tmp_path / "other-desk.bundle")
    assert "this bundle is for desk 'elsewhere', and this vault serves demo; nothing was imported" in err
    assert "no such file" in one_line_error(capsys, "--vault", vault_dir, "import", tmp_path / "missing")
    assert "see `sealview --help`" in one_line_error(capsys, "--vault", vault_dir, "frobnicate")


def test_every_command_and_option_is_documented():
    import argparse

    from tests.helpers import REPO

    doc = (REPO / "docs" / "viewer.md").read_text()
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    missing = []
    for name, command in sub.choices.items():
        if f"`{name}" not in doc:
            missing.append(name)
        for action in command._actions:
            missing += [
                f"{name} {o}"
                for o in action.option_strings
                if o.startswith("--") and o != "--help" and o not in doc
            ]
    assert missing == []
    assert "--vault" in doc and "SEALDROP_PASSPHRASE" in doc and "SEALVIEW_VAULT" in doc
