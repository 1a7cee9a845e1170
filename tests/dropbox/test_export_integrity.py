"""What an export bundle promises, kept under change and under concurrency (docs/bundles.md):

- a change to a desk's recipients reaches its viewer even when no report arrived: the desk makes a
  bundle with no report in it, the clerk is offered it, and sealview imports it and warns;
- a bundle downloaded again is the same file, byte for byte, whatever changed on the desk since
  (its manifest fields are kept with its ExportLog row);
- one reply bundle imported twice at the same moment (two clerks, two instances) is stored once.

This test imports viewer: it is a test, not dropbox code.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

import crypto
from crypto import bundle, statement
from crypto.bundle import BundleError
from dropbox import bundles, config, db
from dropbox import cli as sealdrop
from dropbox.blobs import FileBlobStore
from dropbox.desk import keytrust
from dropbox.models import Category, Desk, ExportLog, MapSheet, Officer, Part, Reply, Submission
from tests.desk_helpers import add_user, csrf, login, officer_identity, reply_bundle, upload_replies
from tests.dropbox.maps_helpers import add_town
from tests.helpers import extract, make_instance, postgres_database
from viewer import cli as sealview_cli

NO_REPORT = "nothing new to export"


def session(instance: Path):
    return db.standalone_session(config.load(instance).database_url)


def store(instance: Path) -> FileBlobStore:
    return FileBlobStore(config.load(instance).blob_dir)


def signing_key(instance: Path) -> crypto.SigningKey:
    return crypto.SigningKey.load(instance / config.SIGNING_KEY_FILE)


def demo(s) -> Desk:
    return s.scalar(select(Desk).where(Desk.slug == "demo"))


def export(instance: Path, out: Path) -> bundle.Manifest:
    with session(instance) as s, open(out, "wb") as f:
        return bundles.export(s, store(instance), demo(s), signing_key(instance), f)


def export_again(instance: Path, sequence: int, out: Path) -> bundle.Manifest:
    with session(instance) as s, open(out, "wb") as f:
        return bundles.export_again(s, store(instance), demo(s), sequence, signing_key(instance), f)


def sealview(vault: Path, *args) -> int:
    return sealview_cli.main(["--vault", str(vault), *map(str, args)])


def new_vault(instance: Path, vault: Path, monkeypatch) -> None:
    monkeypatch.setenv("SEALDROP_PASSPHRASE", "")  # the demo officer's identity: empty passphrase, DEMO ONLY
    assert sealview(vault, "init", "--identity", instance / "demo-officer.identity",
                    "--server-key", instance / "server-signing.pub", "--desk", "demo") == 0  # fmt: skip


def register_key(instance: Path, name: str, *, confirm: bool = False) -> crypto.Identity:
    """An admin registers a key (and an officer admits it): changes the officers are shown."""
    who = crypto.Identity.generate()
    with session(instance) as s:
        keytrust.register(s, demo(s), name, who.public_key, "admin-test")
        if confirm:  # the demo officer admits it by a signed key statement
            signer = officer_identity(instance)
            made = statement.sign(
                signer.signing_key, signer.public_key, "demo", "admit", who.public_key, name=name
            )
            keytrust.apply(s, demo(s), made)
        s.commit()
    return who


# --- 1. a key change on a quiet desk ---------------------------------------------------------------


def test_a_key_change_on_a_quiet_desk_reaches_the_viewer(
    instance, app, reporter, tmp_path, monkeypatch, capsys
):
    assert reporter.submit().status_code == 200
    export(instance, tmp_path / "e1.bundle")
    vault = tmp_path / "vault"
    new_vault(instance, vault, monkeypatch)
    assert sealview(vault, "import", tmp_path / "e1.bundle") == 0
    with pytest.raises(bundles.NothingToExport, match=NO_REPORT):  # quiet, and no change: no bundle
        export(instance, tmp_path / "none.bundle")

    # No report arrives; an admin alone adds a reader. The clerk is offered a bundle of it.
    colleague = crypto.Identity.generate()
    (tmp_path / "ivanova.pub").write_text(colleague.public_key.to_file_text())
    added = [
        "officer",
        "add",
        "--desk",
        "demo",
        "--name",
        "Ivanova",
        tmp_path / "ivanova.pub",
        "--dir",
        instance,
    ]
    assert sealdrop.main(list(map(str, added))) == 0
    clerk = app.test_client()
    assert login(clerk, *add_user(instance, "clerk", "demo")).status_code == 303
    inbox = clerk.get("/desk/").get_data(as_text=True)
    assert 'id="export-demo"' in inbox and "Make an export bundle of the 1 key change" in inbox
    assert 'id="nothing-demo"' not in inbox

    # The CLI makes it: no envelope, the change, and it says so.
    capsys.readouterr()
    out = tmp_path / "e2.bundle"
    assert sealdrop.main(["export", "--desk", "demo", "-o", str(out), "--dir", str(instance)]) == 0
    said = capsys.readouterr().out
    assert "envelopes: 0" in said and "for the officers to check: 1" in said
    pinned = crypto.VerifyKey.parse((instance / config.SIGNING_PUB_FILE).read_text())
    manifest = bundle.verify(out, "export", [pinned])
    assert manifest.sequence == 2 and manifest.items == []
    assert [(c["action"], c["fingerprint"]) for c in manifest.data["key_changes"]] == [
        ("registered", colleague.fingerprint)
    ]
    assert export_again(instance, 2, tmp_path / "e2-again.bundle").sha256 == manifest.sha256
    assert (tmp_path / "e2-again.bundle").read_bytes() == out.read_bytes()
    assert 'id="nothing-demo"' in clerk.get("/desk/").get_data(as_text=True)  # carried: nothing waits

    # sealview takes a bundle with no report, warns, and confirms it like any other.
    capsys.readouterr()
    assert sealview(vault, "import", out) == 0
    said = capsys.readouterr().out
    assert "#2: no report, only 1 change to who can read" in said  # not "0 reports in 0 new cases"
    assert "Ivanova" in said and colleague.fingerprint in said
    assert re.search(r"^warning: .*Ivanova", said, re.M)
    assert sealview(vault, "config") == 0
    assert "Ivanova" in capsys.readouterr().out
    assert sealview(vault, "export-replies", "-o", tmp_path / "r1.bundle") == 0
    assert "2 confirmations" in capsys.readouterr().out
    with session(instance) as s:
        bundles.import_replies(s, store(instance), tmp_path / "r1.bundle")
    with session(instance) as s:
        assert s.scalar(select(ExportLog.confirmed_day).where(ExportLog.sequence == 2)) is not None


def test_the_clerk_makes_and_downloads_a_bundle_of_a_key_change_on_the_inbox(
    instance, app, reporter, tmp_path
):
    assert reporter.submit().status_code == 200
    export(instance, tmp_path / "e1.bundle")
    petrova = register_key(instance, "Petrova")
    clerk = app.test_client()
    assert login(clerk, *add_user(instance, "clerk", "demo")).status_code == 303
    token = csrf(clerk.get("/desk/").get_data(as_text=True))
    made = clerk.post("/desk/export/demo/make", data={"csrf_token": token})
    assert made.status_code == 303 and made.location.endswith("ready=2#ready-demo")
    ready = clerk.get(made.location).get_data(as_text=True)
    assert "Export bundle 2 is ready" in ready
    assert "It holds no report, only 1 change to who can read this desk's reports" in ready
    download = clerk.post("/desk/export/demo/2", data={"csrf_token": token})
    assert download.status_code == 200
    (tmp_path / "e2.bundle").write_bytes(download.get_data())
    pinned = crypto.VerifyKey.parse((instance / config.SIGNING_PUB_FILE).read_text())
    manifest = bundle.verify(tmp_path / "e2.bundle", "export", [pinned])
    assert manifest.items == [] and [c["fingerprint"] for c in manifest.data["key_changes"]] == [
        petrova.fingerprint
    ]
    again = clerk.post("/desk/export/demo/make", data={"csrf_token": token})  # carried: nothing waits now
    assert again.status_code == 303 and "msg=nothing_new" in again.location


def test_a_map_sheet_alone_makes_no_bundle(instance, app, reporter, tmp_path):
    """docs/bundles.md: sheets, places and categories travel with the next bundle, they make none."""
    assert reporter.submit().status_code == 200
    export(instance, tmp_path / "e1.bundle")
    add_town(instance, tmp_path)
    with pytest.raises(bundles.NothingToExport, match=NO_REPORT):
        export(instance, tmp_path / "e2.bundle")


# --- 2. byte for byte ------------------------------------------------------------------------------


def change_the_desk(instance: Path, tmp_path: Path) -> None:
    """Everything a manifest reads from the desk, changed: a category's name, a new map sheet, a key
    registered and confirmed (recipients and key changes)."""
    with session(instance) as s:
        category = s.scalar(select(Category).where(Category.slug == "drugs"))
        category.names = {**category.names, "en": "Drugs, renamed"}
        s.commit()
    add_town(instance, tmp_path)
    register_key(instance, "Petrova", confirm=True)


def test_a_download_again_is_byte_identical_whatever_changed(instance, app, reporter, tmp_path):
    assert reporter.submit().status_code == 200
    first = export(instance, tmp_path / "e1.bundle")
    change_the_desk(instance, tmp_path)
    again = export_again(instance, 1, tmp_path / "again.bundle")
    data = (tmp_path / "again.bundle").read_bytes()
    assert data == (tmp_path / "e1.bundle").read_bytes()
    with session(instance) as s:
        recorded = s.scalar(select(ExportLog.sha256).where(ExportLog.sequence == 1))
    assert again.sha256 == first.sha256 == recorded
    # The changes travel in the next bundle, not in the one made before them.
    assert reporter.submit(category="Drugs, renamed").status_code == 200
    second = export(instance, tmp_path / "e2.bundle")
    assert "Drugs, renamed" in [c["names"]["en"] for c in second.data["categories"]]
    assert len(second.data["map_sheets"]) == 1 and "Petrova" in {r["name"] for r in second.data["recipients"]}


def test_a_bundle_whose_map_sheet_was_removed_is_refused_not_changed(instance, app, reporter, tmp_path):
    add_town(instance, tmp_path)
    assert reporter.submit().status_code == 200
    export(instance, tmp_path / "e1.bundle")
    with session(instance) as s:
        s.execute(sa.delete(MapSheet))
        s.commit()
    with pytest.raises(bundles.NothingToExport, match="map sheet"):
        export_again(instance, 1, tmp_path / "again.bundle")


def test_a_bundle_made_before_0011_is_rebuilt_from_the_desk_as_before(instance, app, reporter, tmp_path):
    """No fields kept (a row from before migration 0011): rebuilt from the live tables, identical while
    nothing changed, refused as a mismatch once something did."""
    assert reporter.submit().status_code == 200
    export(instance, tmp_path / "e1.bundle")
    with session(instance) as s:
        s.execute(sa.update(ExportLog).values(fields=None))
        s.commit()
    export_again(instance, 1, tmp_path / "again.bundle")
    assert (tmp_path / "again.bundle").read_bytes() == (tmp_path / "e1.bundle").read_bytes()
    change_the_desk(instance, tmp_path)
    with pytest.raises(BundleError) as info:
        export_again(instance, 1, tmp_path / "again2.bundle")
    assert info.value.reason == "tampered"


# --- 3. one reply bundle, imported twice at once ---------------------------------------------------


@pytest.fixture
def pg_instance(tmp_path):
    """Concurrent transactions need PostgreSQL's row locks to show (SQLite serializes writers)."""
    with postgres_database() as url:
        yield make_instance(tmp_path / "instance", url)


def test_one_reply_bundle_imported_twice_at_the_same_moment_is_stored_once(
    pg_instance, tmp_path, monkeypatch
):
    from dropbox import create_app
    from tests.dropbox.conftest import Reporter

    instance = pg_instance
    app = create_app(config.load(instance))
    page = Reporter(app.test_client()).submit().get_data(as_text=True)
    case_number = extract(page, "case-number")
    app.extensions["sealdrop.engine"].dispose()
    with session(instance) as s:
        reply_public = s.scalar(select(Submission).limit(1)).case.reply_public
    path = tmp_path / "r1.bundle"
    reply = {"text": "We are checking.", "status": "checking", "day": "2026-01-02"}
    reply_bundle(path, officer_identity(instance), [(case_number, reply_public, reply)])

    # Hold each import at its chain check until the other one is there too, or is seen waiting on a
    # lock: without the lock both pass the check (the replay is stored twice), with it one waits.
    url = config.load(instance).database_url
    watcher = sa.create_engine(url)
    arrived, arrived_lock = [], threading.Lock()
    real_check = bundle.check_chain

    def someone_waits_on_a_lock() -> bool:
        with watcher.connect() as c:
            query = (
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return c.execute(sa.text(query)).scalar() > 0

    def held_check(*args, **kwargs):
        with arrived_lock:
            arrived.append(threading.get_ident())
        deadline = time.monotonic() + 60
        while len(arrived) < 2 and not someone_waits_on_a_lock() and time.monotonic() < deadline:
            time.sleep(0.02)
        return real_check(*args, **kwargs)

    monkeypatch.setattr(bundle, "check_chain", held_check)
    go = threading.Barrier(2)
    outcomes: list[object] = []

    def import_once() -> None:
        go.wait(timeout=60)
        try:
            with session(instance) as s:
                outcomes.append(bundles.import_replies(s, store(instance), path)[1])
                s.bind.dispose()
        except BundleError as e:
            outcomes.append(e.reason)

    threads = [threading.Thread(target=import_once) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    watcher.dispose()
    assert sorted(map(str, outcomes)) == ["1", "replayed"], outcomes
    with session(instance) as s:
        assert s.scalar(select(func.count(Reply.id))) == 1
        officer = s.scalar(select(Officer).where(Officer.reply_sequence > 0))
        assert officer.reply_sequence == 1
        in_files = select(func.count(Part.id)).where(Part.data.is_(None))  # small envelopes are in rows
        named = s.scalar(in_files) + 1  # the report's envelopes in blob files and the one reply
    blobs = [
        p for p in config.load(instance).blob_dir.rglob("*") if p.is_file() and p.parent.name != "incoming"
    ]
    assert len(blobs) == named  # the refused import left no blob behind


def test_the_same_reply_bundle_twice_in_a_row_is_refused_as_replayed(instance, app, reporter, tmp_path):
    """The chain check under the lock still refuses a plain replay, on both databases."""
    page = reporter.submit().get_data(as_text=True)
    with session(instance) as s:
        reply_public = s.scalar(select(Submission).limit(1)).case.reply_public
    path = tmp_path / "r1.bundle"
    reply = {"text": "We are checking.", "status": "checking", "day": "2026-01-02"}
    reply_bundle(path, officer_identity(instance), [(extract(page, "case-number"), reply_public, reply)])
    clerk = app.test_client()
    assert login(clerk, *add_user(instance, "clerk", "demo")).status_code == 303
    assert upload_replies(clerk, path).status_code == 200
    again = upload_replies(clerk, path)
    assert again.status_code == 400
    with session(instance) as s:
        assert s.scalar(select(func.count(Reply.id))) == 1
