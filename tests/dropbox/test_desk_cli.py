"""The operator's desk commands: `user add` (password never from argv; TOTP URI and a terminal QR),
`export` (atomic, one-line errors), `import-replies` (whole or nothing) and `retention`."""

import datetime as dt
import os
import subprocess
import sys

import pyotp
import pytest
from sqlalchemy import select

import onion
from crypto import VerifyKey, bundle
from dropbox import cli, config, create_app, db, onions
from dropbox.models import AuditEntry, DeskUser, Submission, today
from tests.desk_helpers import PASSWORD, login, officer_identity, reply_bundle
from tests.helpers import REPO, extract


def sealdrop(*args, env_password=PASSWORD):
    env = {k: v for k, v in os.environ.items() if k != "SEALDROP_PASSPHRASE"}
    if env_password is not None:
        env["SEALDROP_PASSPHRASE"] = env_password
    return subprocess.run(
        [sys.executable, "-m", "dropbox.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def test_user_add_names_the_desk_onion_when_there_is_one(sqlite_instance):
    cfg = config.load(sqlite_instance)
    desk_onion = onion.OnionKey.load_or_create(onions.key_file(cfg, onions.DESK))
    result = sealdrop("user", "add", "ivo", "--role", "admin", "--dir", str(sqlite_instance))
    assert result.returncode == 0, result.stderr
    assert f"http://{desk_onion.address}/desk/login" in result.stdout


def one_line_error(result) -> str:
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    return result.stderr


def test_user_add_prints_the_totp_setup_and_the_user_can_log_in(sqlite_instance):
    result = sealdrop(
        "user", "add", "dana", "--role", "clerk", "--desk", "demo", "--dir", str(sqlite_instance)
    )
    assert result.returncode == 0, result.stderr
    uri = next(line for line in result.stdout.splitlines() if line.startswith("otpauth://"))
    assert PASSWORD not in result.stdout and "▄" in result.stdout  # segno's compact terminal QR
    assert "http://127.0.0.1:8081/desk/login" in result.stdout  # the whole address, not a bare path
    secret = pyotp.parse_uri(uri).secret
    app = create_app(config.load(sqlite_instance))
    assert login(app.test_client(), "dana", secret).status_code == 303
    with app.app_context():
        user = db.session().scalar(select(DeskUser).where(DeskUser.name == "dana"))
        assert (user.role, user.desk.slug) == ("clerk", "demo")
        audit = db.session().scalar(select(AuditEntry).where(AuditEntry.action == "user_added"))
        assert audit.actor == "cli" and audit.desk == "demo"
    app.extensions["sealdrop.engine"].dispose()


def test_user_add_takes_no_password_from_argv_and_errs_in_one_line(sqlite_instance, monkeypatch, capsys):
    d = str(sqlite_instance)
    no_terminal = sealdrop("user", "add", "erin", "--role", "clerk", "--dir", d, env_password=None)
    assert "set SEALDROP_PASSPHRASE" in one_line_error(no_terminal)

    def fails(*args, password=PASSWORD) -> str:
        monkeypatch.setenv("SEALDROP_PASSPHRASE", password)
        assert cli.main([*args, "--dir", d]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        return err

    assert "unrecognized arguments" in fails("user", "add", "x", "--role", "clerk", "--password", "secret")
    assert "at least 12" in fails("user", "add", "erin", "--role", "clerk", password="short")
    assert "no such desk: nope" in fails("user", "add", "erin", "--role", "clerk", "--desk", "nope")
    # An admin may have a desk (it administers that desk only, docs/key-trust.md); the desk must exist.
    assert "no such desk: nope" in fails("user", "add", "erin", "--role", "admin", "--desk", "nope")
    assert cli.main(["user", "add", "erin", "--role", "admin", "--dir", d]) == 0
    assert "already exists" in fails("user", "add", "erin", "--role", "admin")
    with pytest.raises(SystemExit):
        cli.main(["user", "add", "--help"])
    assert "password" not in capsys.readouterr().out.lower()


def test_export_import_and_retention_from_the_command_line(sqlite_instance, reporter, tmp_path, capsys):
    d = str(sqlite_instance)
    out = tmp_path / "out.bundle"
    assert cli.main(["export", "--desk", "demo", "-o", str(out), "--dir", d]) == 1
    assert "nothing new to export" in capsys.readouterr().err and not out.exists()
    page = reporter.submit().get_data(as_text=True)
    case_number = extract(page, "case-number")
    missing = tmp_path / "no-such-folder"
    assert cli.main(["export", "--desk", "demo", "-o", str(missing / "x.bundle"), "--dir", d]) == 1
    assert capsys.readouterr().err == f"error: {missing}: no such file or folder\n"  # not the .partial's name
    assert cli.main(["export", "--desk", "demo", "-o", str(out), "--dir", d]) == 0
    pinned = VerifyKey.parse((sqlite_instance / config.SIGNING_PUB_FILE).read_text())
    manifest = bundle.verify(out, "export", [pinned])
    assert [i["case_number"] for i in manifest.items] == [case_number]
    assert not list(tmp_path.glob(".*partial"))
    assert cli.main(["export", "--desk", "demo", "-o", str(out), "--dir", d]) == 1  # never overwrites
    again = tmp_path / "again.bundle"
    assert cli.main(["export", "--desk", "demo", "--again", "1", "-o", str(again), "--dir", d]) == 0
    assert again.read_bytes() == out.read_bytes()
    capsys.readouterr()

    cfg = config.load(sqlite_instance)
    with db.standalone_session(cfg.database_url) as s:
        sub = s.scalar(select(Submission))
        reply_public = sub.case.reply_public
    replies = tmp_path / "replies.bundle"
    reply_bundle(
        replies,
        officer_identity(sqlite_instance),
        [(case_number, reply_public, {"text": "Received, thank you.", "status": "checking"})],
        confirmations=[{"sequence": 1, "sha256": manifest.sha256}],
    )
    tampered = tmp_path / "tampered.bundle"
    data = replies.read_bytes()
    tampered.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # always a change, unlike a replaced byte
    assert cli.main(["import-replies", str(tampered), "--dir", d]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: refused, nothing imported:") and err.count("\n") == 1
    assert cli.main(["import-replies", str(replies), "--dir", d]) == 0
    assert "Replies imported for desk demo: 1;" in capsys.readouterr().out
    assert cli.main(["import-replies", str(replies), "--dir", d]) == 1
    assert "already imported" in capsys.readouterr().err

    soon = (today() + dt.timedelta(days=29)).isoformat()
    assert cli.main(["retention", "--on", soon, "--dir", d]) == 0
    assert "submissions deleted: 0;" in capsys.readouterr().out
    later = (today() + dt.timedelta(days=30)).isoformat()
    assert cli.main(["retention", "--on", later, "--dir", d]) == 0
    assert "submissions deleted: 1;" in capsys.readouterr().out
    with db.standalone_session(cfg.database_url) as s:
        sub = s.scalar(select(Submission))
        assert sub.deleted_day is not None and sub.parts == []
        kinds = list(s.scalars(select(AuditEntry.action).where(AuditEntry.actor == "cli")))
    assert kinds == [
        "export",
        "export_again",
        "replies_refused",
        "replies_imported",
        "replies_refused",
        "retention",
        "retention",
    ]
    assert cli.main(["retention", "--on", "someday", "--dir", d]) == 1


def test_retention_also_removes_uploads_abandoned_half_way(sqlite_instance, capsys):
    from dropbox import uploads as uploads_module
    from dropbox.blobs import FileBlobStore
    from dropbox.models import Desk, Upload

    cfg = config.load(sqlite_instance)
    uploads = uploads_module.uploads_for(cfg, FileBlobStore(cfg.blob_dir))
    with db.standalone_session(cfg.database_url) as s:
        desk = s.scalar(select(Desk).where(Desk.slug == "demo"))
        old, fresh = uploads.start(s, desk, 1000), uploads.start(s, desk, 1000)
        old_id, fresh_id = old.id, fresh.id
    day_ago = dt.datetime.now().timestamp() - 25 * 3600
    os.utime(uploads.path(old_id), (day_ago, day_ago))
    assert cli.main(["retention", "--dir", str(sqlite_instance)]) == 0
    assert "abandoned uploads and orphan blobs removed: 1" in capsys.readouterr().out
    assert not uploads.path(old_id).exists() and uploads.path(fresh_id).exists()
    with db.standalone_session(cfg.database_url) as s:
        assert set(s.scalars(select(Upload.id))) == {fresh_id}


@pytest.fixture
def reporter(sqlite_instance):
    from tests.dropbox.conftest import Reporter

    app = create_app(config.load(sqlite_instance))
    yield Reporter(app.test_client())
    app.extensions["sealdrop.engine"].dispose()
