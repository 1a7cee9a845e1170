"""`sealdrop init` fails cleanly: one line, a non-zero exit, and nothing left that would stop a retry."""

import subprocess
import sys

from dropbox import cli
from tests.helpers import REPO, free_port

UNREACHABLE = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/sealdrop"  # nothing listens there


def test_unreachable_database_is_one_line_and_leaves_nothing(tmp_path, capsys):
    instance = tmp_path / "instance"
    assert cli.main(["init", "--dir", str(instance), "--database", UNREACHABLE]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cannot set up the database:"), err
    assert "Traceback" not in err[0] and "sqlalche.me" not in err[0]
    assert not instance.exists()  # it made the folder, so it takes it away again
    assert cli.main(["init", "--dir", str(instance)]) == 0  # the retry works: no "File exists"
    assert (instance / "secret.key").is_file() and (instance / "config.json").is_file()


def test_a_folder_that_was_there_keeps_what_it_held(tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "notes.txt").write_text("the operator's own file")
    assert cli.main(["init", "--demo", "--dir", str(instance), "--database", UNREACHABLE]) == 1
    assert [p.name for p in instance.iterdir()] == ["notes.txt"]
    assert cli.main(["init", "--demo", "--dir", str(instance)]) == 0


def test_the_command_prints_no_traceback(tmp_path):
    command = ["init", "--dir", str(tmp_path / "i"), "--database", UNREACHABLE]
    run = subprocess.run(
        [sys.executable, "-m", "dropbox.cli", *command], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert run.returncode == 1
    assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr, run.stderr
    assert not (tmp_path / "i").exists()
