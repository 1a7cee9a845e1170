"""`python -m crypto` as a user meets it: one clear line on every failure, no partial output left."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PASS = "a long passphrase for tests"


def run(*args: str, cwd: Path, stdin: bytes = b"", passphrase: str | None = PASS):
    env = {k: v for k, v in os.environ.items() if k != "SEALDROP_PASSPHRASE"}
    if passphrase is not None:
        env["SEALDROP_PASSPHRASE"] = passphrase
    return subprocess.run([sys.executable, "-m", "crypto", *args], cwd=cwd, input=stdin,
                          capture_output=True, env=env, timeout=60)  # fmt: skip


def one_line_error(result) -> str:
    assert result.returncode != 0
    err = result.stderr.decode()
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    result = run("keygen", "-o", "officer", cwd=d)
    assert result.returncode == 0, result.stderr
    assert "fingerprint:" in result.stdout.decode()
    return d


def test_keygen_writes_a_0600_identity_and_a_public_key(keys):
    assert oct((keys / "officer").stat().st_mode & 0o777) == "0o600"
    assert (keys / "officer.pub").read_text().startswith("# sealdrop officer public key")
    again = run("keygen", "-o", "officer", cwd=keys)
    assert "already exists" in one_line_error(again)


def test_keygen_refuses_an_empty_passphrase(tmp_path):
    assert "must not be empty" in one_line_error(run("keygen", "-o", "id", cwd=tmp_path, passphrase=""))
    assert not (tmp_path / "id").exists()


def test_seal_and_open_files_and_pipes(keys, tmp_path):
    data = os.urandom(300_000)
    (tmp_path / "in").write_bytes(data)
    pub, ident = str(keys / "officer.pub"), str(keys / "officer")
    assert run("seal", "-r", pub, "-o", "env", "in", cwd=tmp_path).returncode == 0
    opened = run("open", "-i", ident, "-o", "out", "env", cwd=tmp_path)
    assert opened.returncode == 0, opened.stderr
    assert (tmp_path / "out").read_bytes() == data
    assert oct((tmp_path / "out").stat().st_mode & 0o777) == "0o600"
    piped = run("seal", "-r", pub, cwd=tmp_path, stdin=b"from a pipe")
    back = run("open", "-i", ident, cwd=tmp_path, stdin=piped.stdout)
    assert back.stdout == b"from a pipe"


def test_several_recipients_and_inline_key(keys, tmp_path):
    other = run("keygen", "-o", "other", cwd=tmp_path)
    assert other.returncode == 0
    inline = (tmp_path / "other.pub").read_text().splitlines()[-1]
    env = run("seal", "-r", str(keys / "officer.pub"), "-r", inline, cwd=tmp_path, stdin=b"x").stdout
    for ident in (str(keys / "officer"), "other"):
        assert run("open", "-i", ident, cwd=tmp_path, stdin=env).stdout == b"x"


def test_tampered_envelope_leaves_no_output_file(keys, tmp_path):
    data = os.urandom(200_000)
    env = bytearray(run("seal", "-r", str(keys / "officer.pub"), cwd=tmp_path, stdin=data).stdout)
    env[-100] ^= 1
    (tmp_path / "env").write_bytes(bytes(env))
    result = run("open", "-i", str(keys / "officer"), "-o", "out", "env", cwd=tmp_path)
    assert "payload" in one_line_error(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["env"]


@pytest.mark.parametrize(
    ("args", "stdin", "passphrase", "says"),
    [
        (["open", "-i", "{ident}"], b"not an envelope", PASS, "not a sealdrop envelope"),
        (["open", "-i", "{ident}"], b"", "wrong", "wrong passphrase"),
        (["open", "-i", "{ident}"], b"", None, "SEALDROP_PASSPHRASE"),
        (["open", "-i", "missing-file"], b"", PASS, "missing-file"),
        (["open", "-i", "{pub}"], b"", PASS, "not a sealdrop identity"),
        (["seal", "-r", "{ident}"], b"x", PASS, "not a sealdrop public key"),
        (["seal"], b"x", PASS, "required"),
        (["frobnicate"], b"", PASS, "invalid choice"),
    ],
)
def test_failures_are_one_clear_line(keys, tmp_path, args, stdin, passphrase, says):
    args = [a.format(ident=keys / "officer", pub=keys / "officer.pub") for a in args]
    result = run(*args, cwd=tmp_path, stdin=stdin, passphrase=passphrase)
    assert says in one_line_error(result)


def test_envelope_for_someone_else_is_no_match(keys, tmp_path):
    assert run("keygen", "-o", "stranger", cwd=tmp_path).returncode == 0
    env = run("seal", "-r", "stranger.pub", cwd=tmp_path, stdin=b"x").stdout
    (tmp_path / "env").write_bytes(env)
    result = run("open", "-i", str(keys / "officer"), "-o", "out", "env", cwd=tmp_path)
    assert "not sealed to" in one_line_error(result)
    assert not (tmp_path / "out").exists()


def test_passphrase_never_on_the_command_line():
    from crypto.cli import build_parser

    for action in build_parser()._subparsers._group_actions[0].choices.values():
        assert not any("pass" in opt for a in action._actions for opt in a.option_strings)
