"""`sealdrop init --blob-store postgresql` and `sealdrop blobs migrate --to postgresql|files`
(dropbox/blob_commands.py), on this machine's PostgreSQL: every blob and open upload moves, the
config switches only once all are copied and checked, the old copies go only after the switch, and a
run cut off anywhere (or run twice) ends in the same place."""

import json
import os

import pytest

import crypto
from dropbox import blob_commands, cli, config, create_app
from tests.dropbox.test_api import Api, doc
from tests.dropbox.test_pg_blobs import _all_opened, count_of, files_under, large_objects
from tests.helpers import make_instance, postgres_database

if os.environ.get("SEALDROP_SKIP_POSTGRES") == "1":
    pytest.skip("SEALDROP_SKIP_POSTGRES=1", allow_module_level=True)


@pytest.fixture
def pg_instance(tmp_path):
    with postgres_database() as url:
        yield make_instance(tmp_path / "instance", url)


def blob_files(cfg: config.Config) -> list[str]:
    return [name for name in files_under(cfg.blob_dir) if not name.startswith(("incoming", "uploads"))]


def part_files(cfg: config.Config) -> list[str]:
    return [name for name in files_under(cfg.blob_dir) if name.startswith("uploads")]


def staged_objects(cfg: config.Config) -> int:
    return count_of(cfg, "SELECT count(*) FROM blob_objects WHERE upload_id IS NOT NULL")


def file_two_reports_and_start_a_third(cfg: config.Config) -> tuple[str, bytes]:
    """Two JS reports filed, and a third upload with its first 100 bytes: (its id, its envelope)."""
    app = create_app(cfg)
    api = Api(app.test_client())
    for what in ("first", "second"):
        envelope = crypto.seal_bytes(doc(what), api.recipients(api.category))
        assert api.report([api.upload(envelope)]).status_code == 201
    third = crypto.seal_bytes(doc("third"), api.recipients(api.category))
    upload_id = api.call("POST", "/uploads", {"size": len(third)}).json["id"]
    assert api.call("PUT", f"/uploads/{upload_id}?offset=0", third[:100]).status_code == 200
    app.extensions["sealdrop.engine"].dispose()
    return upload_id, third


def finish_the_third(cfg: config.Config, upload_id: str, envelope: bytes) -> None:
    """The reporter comes back after the move: the upload resumes at 100 and is filed."""
    app = create_app(cfg)
    api = Api(app.test_client())
    assert api.call("GET", f"/uploads/{upload_id}").json == {"received": 100, "size": len(envelope)}
    assert api.call("PUT", f"/uploads/{upload_id}?offset=100", envelope[100:]).status_code == 200
    assert api.report([upload_id]).status_code == 201
    app.extensions["sealdrop.engine"].dispose()


def migrate(instance, to: str, capsys) -> str:
    """The summary line of one run."""
    assert cli.main(["blobs", "migrate", "--to", to, "--dir", str(instance)]) == 0
    return capsys.readouterr().out


def test_init_writes_the_large_object_store_into_the_config(tmp_path):
    with postgres_database() as url:
        d = tmp_path / "lo"
        assert cli.main(["init", "--dir", str(d), "--database", url, "--blob-store", "postgresql"]) == 0
        assert json.loads((d / config.CONFIG_FILE).read_text())["blob_store"] == "postgresql"
        assert config.load(d).blob_store == "postgresql"
    assert config.load(make_instance(tmp_path / "default")).blob_store == "files"


def test_init_refuses_the_large_object_store_on_sqlite(tmp_path, capsys):
    d = tmp_path / "sqlite"
    assert cli.main(["init", "--dir", str(d), "--blob-store", "postgresql"]) == 1
    assert "needs --database with a PostgreSQL URL" in capsys.readouterr().err
    assert not (d / config.CONFIG_FILE).exists()


def test_blobs_move_to_postgresql_and_back_with_an_open_upload(pg_instance, capsys):
    cfg = config.load(pg_instance)
    upload_id, third = file_two_reports_and_start_a_third(cfg)
    assert len(blob_files(cfg)) == 2 and part_files(cfg) == [f"uploads/{upload_id}.part"]
    before = large_objects(cfg)

    assert cli.main(["blobs", "migrate", "--to", "postgresql", "--dir", str(pg_instance)]) == 0
    out, err = capsys.readouterr()
    assert "blobs checked or copied: 2 of 2" in err
    assert "2 copied" in out and "1 open uploads moved" in out and "2 old copies deleted" in out
    cfg = config.load(pg_instance)
    assert cfg.blob_store == "postgresql"
    assert blob_files(cfg) == [] and part_files(cfg) == []
    assert large_objects(cfg) == before + 3 and staged_objects(cfg) == 1
    assert "0 copied" in migrate(pg_instance, "postgresql", capsys)  # twice: nothing left to do

    finish_the_third(cfg, upload_id, third)
    assert sorted(json.loads(d)["what"] for d in _all_opened(cfg)) == ["first", "second", "third"]

    out = migrate(pg_instance, "files", capsys)
    assert "3 copied" in out and "3 old copies deleted" in out
    cfg = config.load(pg_instance)
    assert cfg.blob_store == "files" and len(blob_files(cfg)) == 3 and large_objects(cfg) == before
    assert sorted(json.loads(d)["what"] for d in _opened_from_files(cfg)) == ["first", "second", "third"]


def _opened_from_files(cfg: config.Config) -> list[bytes]:
    from dropbox.blobs import FileBlobStore

    identity = crypto.Identity.load(cfg.instance_dir / "demo-officer.identity", "")
    store = FileBlobStore(cfg.blob_dir)
    opened = []
    for blob_id in store.blob_ids():
        with store.open(blob_id) as f:
            opened.append(crypto.unseal_bytes(f.read(), [identity.decryption_key]))
    return opened


def test_a_run_cut_off_before_the_switch_leaves_the_files_in_use_and_the_next_run_finishes(
    pg_instance, capsys, monkeypatch
):
    cfg = config.load(pg_instance)
    file_two_reports_and_start_a_third(cfg)
    before = large_objects(cfg)

    def power_cut(_cfg):
        raise OSError("power cut")

    monkeypatch.setattr(blob_commands.config_mod, "save", power_cut)
    assert cli.main(["blobs", "migrate", "--to", "postgresql", "--dir", str(pg_instance)]) == 1
    capsys.readouterr()
    cfg = config.load(pg_instance)
    assert cfg.blob_store == "files" and len(blob_files(cfg)) == 2 and len(part_files(cfg)) == 1
    assert large_objects(cfg) == before + 3  # copied, not yet in use, nothing deleted
    monkeypatch.undo()

    out = migrate(pg_instance, "postgresql", capsys)
    assert "0 copied" in out and "2 were there already" in out and "2 old copies deleted" in out
    cfg = config.load(pg_instance)
    assert cfg.blob_store == "postgresql" and blob_files(cfg) == [] and part_files(cfg) == []
    assert large_objects(cfg) == before + 3 and staged_objects(cfg) == 1


def test_a_run_cut_off_after_the_switch_deletes_the_old_copies_next_time(pg_instance, capsys, monkeypatch):
    cfg = config.load(pg_instance)
    file_two_reports_and_start_a_third(cfg)
    monkeypatch.setattr(blob_commands, "_delete_old", lambda *a: None)  # killed right after the switch
    migrate(pg_instance, "postgresql", capsys)
    assert len(blob_files(config.load(pg_instance))) == 2
    monkeypatch.undo()
    out = migrate(pg_instance, "postgresql", capsys)
    assert "0 copied" in out and "2 old copies deleted" in out
    assert blob_files(config.load(pg_instance)) == [] and part_files(config.load(pg_instance)) == []


def test_migrating_to_postgresql_needs_a_postgresql_database(sqlite_instance, capsys):
    assert cli.main(["blobs", "migrate", "--to", "postgresql", "--dir", str(sqlite_instance)]) == 1
    assert "needs a PostgreSQL database_url" in capsys.readouterr().err
    assert config.load(sqlite_instance).blob_store == "files"


def test_migrating_refuses_while_serve_runs_on_this_machine(pg_instance, capsys):
    (pg_instance / "budgets.json").write_text("{}")  # what a running serve rewrites every 30 s
    assert cli.main(["blobs", "migrate", "--to", "postgresql", "--dir", str(pg_instance)]) == 1
    assert "sealdrop serve is running on this machine" in capsys.readouterr().err
    assert config.load(pg_instance).blob_store == "files"
