"""The PostgreSQL large-object blob store (config `blob_store = "postgresql"`, dropbox/blobs.py): blobs
streamed both ways in chunks, uploads staged in it so that two instances continue one upload, exports
read from it, retention and sweeps deleting its large objects; the file store stays the default."""

import base64
import datetime as dt
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

import crypto
from crypto import bundle
from dropbox import bundles, config, create_app, db
from dropbox.blobs import FileBlobStore, open_store
from dropbox.large_objects import LargeObjectStore
from dropbox.models import Desk, ExportLog, Part, Submission, Upload
from tests.dropbox.test_api import Api, doc
from tests.helpers import REPO, extract, jpeg_with_exif, make_instance, postgres_database

if os.environ.get("SEALDROP_SKIP_POSTGRES") == "1":
    pytest.skip("SEALDROP_SKIP_POSTGRES=1", allow_module_level=True)


def use_large_objects(instance: Path) -> config.Config:
    cfg = config.load(instance).with_overrides(blob_store="postgresql")
    config.save(cfg)
    return config.load(instance)


@pytest.fixture
def lo_instance(tmp_path):
    with postgres_database() as url:
        instance = make_instance(tmp_path / "instance", url)
        use_large_objects(instance)
        yield instance


@pytest.fixture
def lo_cfg(lo_instance):
    return config.load(lo_instance)


@pytest.fixture
def two_apps(lo_cfg):
    """Two apps on one instance config and one database: two instances, as far as state goes."""
    apps = [create_app(lo_cfg), create_app(lo_cfg)]
    yield apps
    for app in apps:
        app.extensions["sealdrop.blobs"].engine.dispose()


def count_of(cfg: config.Config, sql: str) -> int:
    """One count from the instance's database, on an engine of its own."""
    engine = create_engine(cfg.database_url)
    with engine.connect() as conn:
        count = conn.scalar(text(sql))
    engine.dispose()
    return count


def large_objects(cfg: config.Config) -> int:
    return count_of(cfg, "SELECT count(*) FROM pg_largeobject_metadata")


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_the_store_is_chosen_by_config_and_files_stay_the_default(lo_cfg, tmp_path):
    assert isinstance(open_store(lo_cfg), LargeObjectStore)
    sqlite_instance = make_instance(tmp_path / "sqlite")
    assert isinstance(open_store(config.load(sqlite_instance)), FileBlobStore)
    data = json.loads((sqlite_instance / config.CONFIG_FILE).read_text())
    for bad in ({"blob_store": "postgresql"}, {"blob_store": "s3"}):  # SQLite has no large objects
        (sqlite_instance / config.CONFIG_FILE).write_text(json.dumps({**data, **bad}))
        with pytest.raises(config.ConfigError, match="blob_store"):
            config.load(sqlite_instance)


def test_blobs_round_trip_in_chunks_and_delete_their_large_objects(lo_cfg):
    store = open_store(lo_cfg)
    before = large_objects(lo_cfg)
    payload = os.urandom(3 * 256 * 1024 + 12345)  # several chunks and a tail
    with store.writer() as w:
        for at in range(0, len(payload), 70_000):
            w.write(payload[at : at + 70_000])
    assert store.exists(w.blob_id) and store.size(w.blob_id) == len(payload)
    with store.open(w.blob_id) as f:
        assert f.read(10) == payload[:10]
        assert f.read() == payload[10:]
    assert large_objects(lo_cfg) == before + 1
    store.delete(w.blob_id)
    assert not store.exists(w.blob_id) and large_objects(lo_cfg) == before
    with pytest.raises(FileNotFoundError):
        store.open(w.blob_id)
    with pytest.raises(RuntimeError), store.writer() as broken:  # a writer that fails leaves nothing
        broken.write(payload)
        raise RuntimeError("the sealing failed")
    assert not store.exists(broken.blob_id) and large_objects(lo_cfg) == before
    store.engine.dispose()


MEMORY_PROBE = """
import hashlib, json, resource, sys, tracemalloc
from dropbox import config
from dropbox.blobs import open_store

store = open_store(config.load(sys.argv[1]))
with store.writer() as w:  # connections, imports and the first statements made before measuring
    w.write(b"warm")
with store.open(w.blob_id) as f:
    f.read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
piece = hashlib.sha256(b"piece").digest() * 2048  # 64 KiB
written, read = hashlib.sha256(), hashlib.sha256()
with store.writer() as w:
    for _ in range(1600):  # 100 MiB
        w.write(piece)
        written.update(piece)
size = 0
with store.open(w.blob_id) as f:
    while chunk := f.read(1024 * 1024):
        read.update(chunk)
        size += len(chunk)
peak = tracemalloc.get_traced_memory()[1]
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"size": size, "same": written.digest() == read.digest(), "python_peak": peak,
                  "rss_growth_kib": after - before}))
"""


def test_a_100_mib_blob_streams_both_ways_in_bounded_memory(lo_instance):
    """Written and read back in a process of its own, whose peak resident memory is measured: a blob
    held whole would add at least 100 MiB (psycopg's copies more)."""
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(lo_instance)], cwd=REPO, capture_output=True, check=True
    )
    found = json.loads(out.stdout)
    assert found["size"] == 100 * 1024 * 1024 and found["same"]
    assert found["python_peak"] < 8 * 1024 * 1024
    assert found["rss_growth_kib"] < 40 * 1024, found


def test_an_upload_begun_on_one_instance_is_finished_on_the_other_and_exports_whole(
    lo_cfg, two_apps, tmp_path
):
    one, two = (Api(app.test_client()) for app in two_apps)
    envelope = crypto.seal_bytes(
        doc("sealed, sent through two instances" + "." * 200_000), one.recipients(one.category)
    )
    half = len(envelope) // 2
    upload_id = os.urandom(16).hex()  # the browser's own id: its first piece starts the upload
    first = one.call("PUT", f"/uploads/{upload_id}?offset=0&size={len(envelope)}", envelope[:half])
    assert first.status_code == 200 and first.json["received"] == half
    assert two.call("GET", f"/uploads/{upload_id}").json == {"received": half, "size": len(envelope)}
    again = two.call("PUT", f"/uploads/{upload_id}?offset=0", envelope[:half])  # a retried piece, elsewhere
    assert again.json["received"] == half
    assert two.call("PUT", f"/uploads/{upload_id}?offset={half}", envelope[half:]).json["received"] == len(
        envelope
    )
    filed = two.report([upload_id])
    assert filed.status_code == 201
    assert not files_under(lo_cfg.blob_dir)  # nothing on this machine's disk
    manifest, opened = export_and_open(lo_cfg, tmp_path)
    assert [m["case_number"] for m in manifest.items] == [filed.json["case_number"]]
    assert json.loads(opened[0])["what"].startswith("sealed, sent through two instances")


def export_and_open(cfg: config.Config, tmp_path: Path) -> tuple[bundle.Manifest, list[bytes]]:
    """The desk's next export, written from the store, verified and opened with the demo officer's key."""
    key = crypto.SigningKey.load(cfg.instance_dir / config.SIGNING_KEY_FILE)
    store = open_store(cfg)
    path = tmp_path / "export.bundle"
    with db.standalone_session(cfg.database_url) as s, open(path, "wb") as f:
        bundles.export(s, store, s.scalar(select(Desk).where(Desk.slug == "demo")), key, f)
    identity = crypto.Identity.load(cfg.instance_dir / "demo-officer.identity", "")
    with open(path, "rb") as f:
        manifest = bundle.read_manifest(f, "export", [key.verify_key])
        opened = [
            crypto.unseal_bytes(r.read(), [identity.decryption_key]) for _, r in bundle.items(f, manifest)
        ]
    store.engine.dispose()
    return manifest, opened


def test_a_no_js_report_is_sealed_into_large_objects(lo_cfg, two_apps, tmp_path):
    """Its photo into a large object; its document, small, into its row (intake.SmallEnvelope)."""
    from tests.dropbox.conftest import Reporter

    before = large_objects(lo_cfg)
    photo = [(io.BytesIO(jpeg_with_exif()), "IMG_0001.jpg")]
    page = Reporter(two_apps[0].test_client()).submit(fields={"what": "A no-JS report"}, files=photo)
    assert page.status_code == 200 and extract(page.get_data(as_text=True), "case-number")
    assert large_objects(lo_cfg) == before + 1 and not files_under(lo_cfg.blob_dir)
    assert json.loads(export_and_open(lo_cfg, tmp_path)[1][0])["what"] == "A no-JS report"


def test_a_short_piece_and_a_wrong_offset_keep_nothing(lo_cfg, two_apps):
    api = Api(two_apps[0].test_client())
    envelope = crypto.seal_bytes(b"y" * 300_000, api.recipients(api.category))
    upload_id = api.call("POST", "/uploads", {"size": len(envelope)}).json["id"]
    assert api.call("PUT", f"/uploads/{upload_id}?offset=0", envelope[:100_000]).status_code == 200
    skipped = api.call("PUT", f"/uploads/{upload_id}?offset=200000", envelope[200_000:])
    assert (skipped.status_code, skipped.json["error"]) == (409, "wrong_offset")
    with two_apps[0].app_context():
        uploads = two_apps[0].extensions["sealdrop.uploads"]
        session = db.session()
        upload = session.get(Upload, upload_id)
        with pytest.raises(Exception, match="short_piece"):
            uploads.append(session, upload, 100_000, _Short(envelope[100_000:150_000]), 100_000)
        session.refresh(upload)
        assert upload.received == 100_000
        assert uploads.store.size(uploads.store.staged(upload_id)) == 100_000
    assert api.call("PUT", f"/uploads/{upload_id}?offset=100000", envelope[100_000:]).status_code == 200
    assert api.report([upload_id]).status_code == 201


class _Short:
    """A request body that ends before the length it declared."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, n: int) -> bytes:
        chunk, self._data = self._data[:n], self._data[n:]
        return chunk


def test_an_upload_id_used_again_never_writes_to_a_filed_blob(lo_cfg, two_apps):
    """Upload ids are the browser's: one used again after its upload was filed stages its pieces
    under another name, and the filed report's blob never changes."""
    one, two = (Api(app.test_client()) for app in two_apps)
    uploads = two_apps[0].extensions["sealdrop.uploads"]
    assert isinstance(uploads.store, LargeObjectStore)
    first = crypto.seal_bytes(doc("first"), one.recipients(one.category))
    upload_id = os.urandom(16).hex()
    assert one.call("PUT", f"/uploads/{upload_id}?offset=0&size={len(first)}", first).status_code == 200
    assert uploads.store.staged(upload_id) == uploads.blob_id(upload_id)  # the name it is filed under
    assert one.report([upload_id]).status_code == 201
    second = crypto.seal_bytes(doc("second"), one.recipients(one.category))
    assert two.call("PUT", f"/uploads/{upload_id}?offset=0&size={len(second)}", second).status_code == 200
    assert uploads.store.staged(upload_id) not in (None, uploads.blob_id(upload_id))
    with uploads.store.open(uploads.blob_id(upload_id)) as f:
        assert f.read() == first
    assert two.report([upload_id]).status_code == 201
    with uploads.store.open(uploads.blob_id(upload_id)) as f:
        assert f.read() == first
    assert sorted(json.loads(d)["what"] for d in _all_opened(lo_cfg)) == ["first", "second"]


def test_an_addition_is_sealed_to_the_case_and_filed_once_over_both_instances(lo_cfg, two_apps):
    """An addition's recipients come from the first report's envelope header, read from the store."""
    one, two = (Api(app.test_client()) for app in two_apps)
    receipt = crypto.Receipt.generate()
    first = one.report([one.upload(crypto.seal_bytes(doc(), one.recipients(one.category)))], receipt=receipt)
    assert first.status_code == 201
    lookup = base64.b64encode(receipt.lookup_id).decode()
    parts = [one.upload(crypto.seal_bytes(doc("more"), one.recipients(one.category)))]
    added = two.call("POST", "/additions", {"lookup_id": lookup, "parts": parts})
    again = one.call("POST", "/additions", {"lookup_id": lookup, "parts": parts})  # its answer was lost
    assert (added.status_code, again.status_code) == (201, 200)
    assert added.json["case_number"] == again.json["case_number"] == first.json["case_number"]
    assert sorted(json.loads(d)["what"] for d in _all_opened(lo_cfg)) == ["more", "sealed in the browser"]


def _all_opened(cfg: config.Config) -> list[bytes]:
    identity = crypto.Identity.load(cfg.instance_dir / "demo-officer.identity", "")
    store = open_store(cfg)
    with db.standalone_session(cfg.database_url) as s:
        ids = list(s.scalars(select(Part.blob_id)))
    opened = []
    for blob_id in ids:
        with store.open(blob_id) as f:
            opened.append(crypto.unseal_bytes(f.read(), [identity.decryption_key]))
    store.engine.dispose()
    return opened


def test_sweeps_and_retention_delete_large_objects(lo_cfg, two_apps, tmp_path):
    app = two_apps[0]
    api = Api(app.test_client())
    envelope = crypto.seal_bytes(doc(), api.recipients(api.category))
    before = large_objects(lo_cfg)
    idle = api.call("POST", "/uploads", {"size": len(envelope)}).json["id"]
    assert api.call("PUT", f"/uploads/{idle}?offset=0", envelope[:100]).status_code == 200
    assert large_objects(lo_cfg) == before + 1
    uploads, store = app.extensions["sealdrop.uploads"], app.extensions["sealdrop.blobs"]
    with app.app_context():
        assert uploads.sweep(db.session(), 3600) == 0  # written to just now
        assert uploads.sweep(db.session(), 3600, now=time.time() + 7200) == 1
        assert db.session().get(Upload, idle) is None
    assert large_objects(lo_cfg) == before
    # An orphan (a blob no row names, from a crash) goes once it is two days old, a named one never.
    with store.writer() as w:
        w.write(b"orphan")
    filed = api.report([api.upload(envelope)])
    assert filed.status_code == 201
    with app.app_context():
        later = time.time() + 3 * 86400
        assert store.sweep_orphans(lambda: uploads.named_blob_ids(db.session()), now=later) == 1
    assert not store.exists(w.blob_id) and large_objects(lo_cfg) == before + 1
    # Retention deletes the filed report's large object once its export is confirmed and old enough.
    export_and_open(lo_cfg, tmp_path)
    with db.standalone_session(lo_cfg.database_url) as s:
        s.scalar(select(ExportLog)).confirmed_day = dt.date(2000, 1, 1)
        s.commit()
        assert bundles.apply_retention(s, open_store(lo_cfg)) == 1
        assert s.scalar(select(func.count()).where(Submission.deleted_day.is_not(None))) == 1
    assert large_objects(lo_cfg) == before


def test_the_reply_a_reporter_reads_comes_from_the_store(lo_cfg, two_apps, tmp_path):
    from tests.desk_helpers import officer_identity, reply_bundle

    api = Api(two_apps[0].test_client())
    receipt = crypto.Receipt.generate()
    filed = api.report([api.upload(crypto.seal_bytes(doc(), api.recipients(api.category)))], receipt=receipt)
    out = tmp_path / "replies.bundle"
    answer = {"text": "We are checking.", "status": "checking", "day": "2026-01-02"}
    reply_bundle(
        out,
        officer_identity(lo_cfg.instance_dir),
        [(filed.json["case_number"], receipt.reply_recipient.public_bytes, answer)],
    )
    with db.standalone_session(lo_cfg.database_url) as s:
        assert bundles.import_replies(s, open_store(lo_cfg), out)[1] == 1
    other = Api(two_apps[1].test_client())
    state = other.call("POST", "/case", {"lookup_id": base64.b64encode(receipt.lookup_id).decode()})
    sealed = base64.b64decode(state.json["replies"][0])
    assert json.loads(crypto.unseal_bytes(sealed, [receipt.reply_key]))["text"] == "We are checking."
