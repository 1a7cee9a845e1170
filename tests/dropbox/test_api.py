"""The JSON API of the JS path: it takes ciphertext to the right keys and derived ids, nothing else."""

import base64
import json
import re

import pytest

import crypto
from tests.helpers import fail_wal_syncs, open_all_envelopes, proof_of_work


class Api:
    def __init__(self, client):
        self.client = client
        html = client.get("/r/demo?lang=en").get_data(as_text=True)
        data = json.loads(re.search(r'id="page-data">(.*?)</script>', html, re.S).group(1))
        self.csrf = data["csrf"]
        self.keys = json.loads(re.search(r'id="recipient-keys">(.*?)</script>', html, re.S).group(1))
        self.category = next(k for k, v in data["categories"].items() if v["slug"] == "drugs")
        self.corruption = next(k for k, v in data["categories"].items() if v["slug"] == "corruption")

    def call(self, method, path, body=None, csrf=True, **kw):
        headers = {"X-Sealdrop-CSRF": self.csrf} if csrf else {}
        if isinstance(body, bytes):
            return self.client.open(
                f"/api/demo{path}",
                method=method,
                data=body,
                headers=headers,
                content_type="application/octet-stream",
                **kw,
            )
        return self.client.open(f"/api/demo{path}", method=method, json=body, headers=headers, **kw)

    def recipients(self, category):
        return [crypto.RecipientKey(bytes.fromhex(h)) for h in self.keys[category]]

    def upload(self, envelope, piece=None):
        started = self.call("POST", "/uploads", {"size": len(envelope)})
        assert started.status_code == 201
        upload_id, piece = started.json["id"], piece or started.json["piece"]
        for offset in range(0, len(envelope), piece):
            put = self.call("PUT", f"/uploads/{upload_id}?offset={offset}", envelope[offset : offset + piece])
            assert put.status_code == 200, put.json
        return upload_id

    def report(self, parts, category=None, receipt=None):
        receipt = receipt or crypto.Receipt.generate()
        body = {
            "category": int(category or self.category),
            "parts": parts,
            "lookup_id": base64.b64encode(receipt.lookup_id).decode(),
            "reply_public": base64.b64encode(receipt.reply_recipient.public_bytes).decode(),
            "pow": proof_of_work(self.call("GET", "/challenge").json),
        }
        return self.call("POST", "/reports", body)


@pytest.fixture
def api(client):
    return Api(client)


def doc(what="sealed in the browser"):
    return json.dumps({"format": "sealdrop-report/1", "kind": "report", "what": what}).encode()


def test_browser_sealed_report_is_filed_and_opens(instance, api):
    envelope = crypto.seal_bytes(doc(), api.recipients(api.category))
    photo = crypto.seal_bytes(b"\xff\xd8 a photo", api.recipients(api.category))
    response = api.report([api.upload(envelope, piece=1000), api.upload(photo)])
    assert response.status_code == 201 and len(response.json["case_number"]) == 9
    assert [json.loads(open_all_envelopes(instance)[0])["what"], open_all_envelopes(instance)[1]] == [
        "sealed in the browser",
        b"\xff\xd8 a photo",
    ]


def test_resuming_after_a_lost_piece(api):
    envelope = crypto.seal_bytes(b"x" * 100_000, api.recipients(api.category))
    upload_id = api.call("POST", "/uploads", {"size": len(envelope)}).json["id"]
    assert api.call("PUT", f"/uploads/{upload_id}?offset=0", envelope[:40_000]).status_code == 200
    assert (
        api.call("PUT", f"/uploads/{upload_id}?offset=0", envelope[:40_000]).json["received"] == 40_000
    )  # retry
    skipped = api.call("PUT", f"/uploads/{upload_id}?offset=80000", envelope[80_000:])
    assert skipped.status_code == 409 and skipped.json["error"] == "wrong_offset"
    assert api.call("GET", f"/uploads/{upload_id}").json == {"received": 40_000, "size": len(envelope)}
    assert api.call("PUT", f"/uploads/{upload_id}?offset=40000", envelope[40_000:]).status_code == 200
    assert api.report([upload_id]).status_code == 201


def test_refusals(api, app):
    good = crypto.seal_bytes(doc(), api.recipients(api.category))
    stranger = crypto.seal_bytes(doc(), [crypto.DecryptionKey.generate().recipient])
    assert api.report([api.upload(stranger)]).json["error"] == "wrong_recipients"
    # corruption goes to internal security only: the municipality's keys are the wrong ones
    assert api.report([api.upload(good)], category=api.corruption).json["error"] == "wrong_recipients"
    assert api.report([api.upload(b"not an envelope at all" * 10)]).json["error"] == "not_an_envelope"
    partial = api.call("POST", "/uploads", {"size": len(good)}).json["id"]
    assert api.report([partial]).json["error"] == "incomplete_upload"
    assert api.call("POST", "/uploads", {"size": 10**12}).status_code == 413
    assert api.call("POST", "/uploads", {"size": "1"}).status_code == 400
    assert api.call("POST", "/uploads", {"size": 10}, csrf=False).status_code == 400
    assert api.call("POST", "/reports", {"parts": "x"}).json["error"] in ("choose_category", "bad_request")
    ids = api.upload(good)
    assert api.report([ids, ids]).status_code == 400  # the same part twice
    too_big = api.call("PUT", f"/uploads/{api.upload(good)}?offset=0", b"x" * (5 * 1024 * 1024))
    assert too_big.status_code == 413
    assert (
        api.client.post(
            "/api/demo/uploads",
            data="{",
            headers={"X-Sealdrop-CSRF": api.csrf},
            content_type="application/json",
        ).status_code
        == 400
    )


def test_a_receipt_opens_one_case_only(api):
    receipt = crypto.Receipt.generate()
    seal = lambda: api.upload(crypto.seal_bytes(doc(), api.recipients(api.category)))  # noqa: E731
    assert api.report([seal()], receipt=receipt).status_code == 201
    assert api.report([seal()], receipt=receipt).json["error"] == "receipt_in_use"


def test_case_state_and_additions(instance, api):
    receipt = crypto.Receipt.generate()
    api.report([api.upload(crypto.seal_bytes(doc(), api.recipients(api.category)))], receipt=receipt)
    lookup = base64.b64encode(receipt.lookup_id).decode()
    state = api.call("POST", "/case", {"lookup_id": lookup}).json
    assert state["desk"] == "demo"  # the browser writes it into an addition's document
    assert state["replies"] == [] and state["recipients"] == [
        k.public_bytes.hex() for k in api.recipients(api.category)
    ]
    addition = crypto.seal_bytes(
        doc("more"), [crypto.RecipientKey(bytes.fromhex(h)) for h in state["recipients"]]
    )
    added = api.call("POST", "/additions", {"lookup_id": lookup, "parts": [api.upload(addition)]})
    assert added.status_code == 201 and added.json["case_number"] == state["case_number"]
    unknown = base64.b64encode(crypto.Receipt.generate().lookup_id).decode()
    assert api.call("POST", "/case", {"lookup_id": unknown}).status_code == 404


def test_an_addition_whose_answer_was_lost_is_filed_once(instance, api):
    """The browser asks again with the same uploads until it has an answer: the second call is told
    the case number, and the case holds the addition once."""
    receipt = crypto.Receipt.generate()
    api.report([api.upload(crypto.seal_bytes(doc(), api.recipients(api.category)))], receipt=receipt)
    lookup = base64.b64encode(receipt.lookup_id).decode()
    parts = [api.upload(crypto.seal_bytes(doc("more"), api.recipients(api.category)))]
    first = api.call("POST", "/additions", {"lookup_id": lookup, "parts": parts})
    again = api.call("POST", "/additions", {"lookup_id": lookup, "parts": parts})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json["case_number"] == first.json["case_number"]
    filed = sorted(json.loads(e)["what"] for e in open_all_envelopes(instance))
    assert filed == ["more", "sealed in the browser"]
    second = crypto.Receipt.generate()
    api.report([api.upload(crypto.seal_bytes(doc(), api.recipients(api.category)))], receipt=second)
    other = base64.b64encode(second.lookup_id).decode()
    stranger = api.call("POST", "/additions", {"lookup_id": other, "parts": parts})
    assert stranger.status_code == 404  # another case is not told it filed them: the uploads are gone


def blob_files(instance):
    """Every finished blob in the store (not the uploads in progress, not the store's incoming/)."""
    root = instance / "blobs"
    return sorted(p for p in root.glob("??/*") if p.is_file())


def test_a_refused_part_leaves_nothing_half_stored(instance, api):
    good = api.upload(crypto.seal_bytes(doc(), api.recipients(api.category)))
    stranger = api.upload(crypto.seal_bytes(doc(), [crypto.DecryptionKey.generate().recipient]))
    refused = api.report([good, stranger])
    assert refused.status_code == 400 and refused.json["error"] == "wrong_recipients"
    assert blob_files(instance) == []
    retried = api.report([good])
    assert retried.status_code == 201, retried.json
    assert len(blob_files(instance)) == 1
    assert json.loads(open_all_envelopes(instance)[0])["what"] == "sealed in the browser"


def test_a_refused_addition_leaves_nothing_half_stored(instance, api):
    receipt = crypto.Receipt.generate()
    api.report([api.upload(crypto.seal_bytes(doc(), api.recipients(api.category)))], receipt=receipt)
    lookup = base64.b64encode(receipt.lookup_id).decode()
    before = blob_files(instance)
    good = api.upload(crypto.seal_bytes(doc("more"), api.recipients(api.category)))
    stranger = api.upload(crypto.seal_bytes(doc(), [crypto.DecryptionKey.generate().recipient]))
    refused = api.call("POST", "/additions", {"lookup_id": lookup, "parts": [good, stranger]})
    assert refused.status_code == 400 and refused.json["error"] == "wrong_recipients"
    assert blob_files(instance) == before
    retried = api.call("POST", "/additions", {"lookup_id": lookup, "parts": [good]})
    assert retried.status_code == 201, retried.json
    assert len(blob_files(instance)) == len(before) + 1


def test_a_failed_commit_gives_the_uploads_back(instance, api, monkeypatch):
    from dropbox import intake

    good = api.upload(crypto.seal_bytes(doc(), api.recipients(api.category)))
    real_file_submission = intake.file_submission

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(intake, "file_submission", broken)
    assert api.report([good]).status_code == 500
    assert blob_files(instance) == []
    monkeypatch.setattr(intake, "file_submission", real_file_submission)
    assert api.report([good]).status_code == 201
    assert len(blob_files(instance)) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_commit_its_disk_cannot_sync_keeps_the_uploads_it_filed(instance, api, monkeypatch):
    """The commit went through, then the WAL's fdatasync failed (EIO): the report is refused, but its
    part rows stand and name the filed uploads, which must not go back to the staging area. (Before
    db.committed, only an accident kept them: the rolled-back session could not read the deleted upload
    rows' ids to give their files back.)"""
    from sqlalchemy import create_engine, text

    from dropbox import config

    good = api.upload(crypto.seal_bytes(doc(), api.recipients(api.category)))
    fail_wal_syncs(monkeypatch)
    assert api.report([good]).status_code == 500
    monkeypatch.undo()
    engine = create_engine(config.load(instance).database_url)
    with engine.connect() as conn:
        named = conn.execute(text("SELECT blob_id FROM parts")).scalars().all()
        uploads_left = conn.execute(text("SELECT count(*) FROM uploads")).scalar_one()
    engine.dispose()
    assert [blob.name for blob in blob_files(instance)] == named and len(named) == 1
    assert uploads_left == 0


def test_blob_times_say_the_day_only(instance, api):
    import datetime as dt

    api.report([api.upload(crypto.seal_bytes(doc(), api.recipients(api.category)))])
    midnight = dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time(), tzinfo=dt.UTC).timestamp()
    (blob,) = blob_files(instance)  # listing the folder touched its atime (relatime): mtime only there
    assert (blob.stat().st_mtime, blob.stat().st_atime, blob.parent.stat().st_mtime) == (midnight,) * 3


def test_abandoned_uploads_are_swept(instance, app, api):
    import datetime as dt
    import os
    import time

    from dropbox import db, uploads
    from dropbox.models import Upload

    manager = app.extensions["sealdrop.uploads"]
    envelope = crypto.seal_bytes(doc(), api.recipients(api.category))
    abandoned = api.call("POST", "/uploads", {"size": len(envelope)}).json["id"]
    api.call("PUT", f"/uploads/{abandoned}?offset=0", envelope[:100])
    two_days_ago = time.time() - 2 * 86400
    os.utime(manager.path(abandoned), (two_days_ago, two_days_ago))
    active = api.call("POST", "/uploads", {"size": len(envelope)}).json["id"]
    crashed_writer = instance / "blobs" / "incoming" / f"{'0' * 32}.tmp"
    crashed_writer.write_bytes(b"half an envelope")
    os.utime(crashed_writer, (two_days_ago, two_days_ago))
    with app.app_context():
        session = db.session()
        old_day = dt.date.today() - dt.timedelta(days=3)
        session.add(
            Upload(id="f" * 32, desk_id=session.get(Upload, active).desk_id, size=10, created_day=old_day)
        )
        session.commit()
        manager._next_sweep = 0.0  # due now (the first upload of this app swept an empty store)
        assert manager.sweep_if_due(session, app.extensions["sealdrop.blobs"], 24 * 3600) == 3
        assert sorted(u.id for u in session.query(Upload)) == [active]
    assert not manager.path(abandoned).exists() and manager.path(active).exists()
    assert not crashed_writer.exists()
    assert api.call("GET", f"/uploads/{abandoned}").status_code == 404
    assert api.call("PUT", f"/uploads/{active}?offset=0", envelope).status_code == 200  # untouched
    assert api.report([active]).status_code == 201
    assert uploads.SWEEP_EVERY >= 60  # a busy server does not list its uploads folder on every request


def test_uploads_are_swept_when_a_new_one_starts(instance, app, api):
    import os
    import time

    manager = app.extensions["sealdrop.uploads"]
    old = api.call("POST", "/uploads", {"size": 100}).json["id"]
    week_ago = time.time() - 7 * 86400
    os.utime(manager.path(old), (week_ago, week_ago))
    manager._next_sweep = 0.0
    api.call("POST", "/uploads", {"size": 100})
    assert not manager.path(old).exists()


def test_an_upload_moved_into_the_store_by_a_killed_finishing_resumes(instance, app, api):
    """kill -9 between a report's move into the blob store and its commit: the upload's row is there,
    its file is a blob of the name the row leads to. The same report call again files it, nothing sent
    anew (tests/faults/test_kill.py counted these as uploads begun anew)."""
    envelope = crypto.seal_bytes(doc("moved, never committed"), api.recipients(api.category))
    upload_id = api.upload(envelope)
    manager, store = app.extensions["sealdrop.uploads"], app.extensions["sealdrop.blobs"]
    store.adopt(manager.path(upload_id), manager.blob_id(upload_id))  # as finishing does; then the kill
    assert not manager.path(upload_id).exists() and len(blob_files(instance)) == 1
    assert api.call("GET", f"/uploads/{upload_id}").json["received"] == len(envelope)
    filed = api.report([upload_id])
    assert filed.status_code == 201, filed.json
    assert [p.name for p in blob_files(instance)] == [manager.blob_id(upload_id)]
    assert json.loads(open_all_envelopes(instance)[0])["what"] == "moved, never committed"


def test_an_addition_moved_by_a_killed_finishing_resumes(instance, app, api):
    receipt = crypto.Receipt.generate()
    first = api.upload(crypto.seal_bytes(doc(), api.recipients(api.category)))
    assert api.report([first], receipt=receipt).status_code == 201
    manager, store = app.extensions["sealdrop.uploads"], app.extensions["sealdrop.blobs"]
    more = api.upload(crypto.seal_bytes(doc("more"), api.recipients(api.category)))
    store.adopt(manager.path(more), manager.blob_id(more))
    lookup = base64.b64encode(receipt.lookup_id).decode()
    added = api.call("POST", "/additions", {"lookup_id": lookup, "parts": [more]})
    assert added.status_code == 201, added.json
    assert [json.loads(e)["what"] for e in open_all_envelopes(instance)] == ["sealed in the browser", "more"]


def test_an_upload_id_used_again_never_takes_a_filed_blob(instance, app, api):
    """A browser may start an upload under an id whose first upload was filed: the new one is stored
    under another name, and a missing file of the new one does not take the filed blob back."""
    manager, store = app.extensions["sealdrop.uploads"], app.extensions["sealdrop.blobs"]
    upload_id = "ab" * 16
    first = crypto.seal_bytes(doc("first"), api.recipients(api.category))
    assert api.call("PUT", f"/uploads/{upload_id}?offset=0&size={len(first)}", first).status_code == 200
    assert api.report([upload_id]).status_code == 201
    second = crypto.seal_bytes(doc("second"), api.recipients(api.category))
    assert api.call("PUT", f"/uploads/{upload_id}?offset=0&size={len(second)}", second).status_code == 200
    manager.path(upload_id).unlink()  # lost (a disk error): it cannot be the filed blob
    lost = api.report([upload_id])
    assert lost.status_code == 400 and lost.json["error"] == "unknown_upload"
    assert store.exists(manager.blob_id(upload_id))
    assert api.call("PUT", f"/uploads/{'cd' * 16}?offset=0&size={len(second)}", second).status_code == 200
    assert store.adopt(manager.path("cd" * 16), manager.blob_id(upload_id)) != manager.blob_id(upload_id)
    assert [json.loads(e)["what"] for e in open_all_envelopes(instance)] == ["first"]


def test_the_uploads_sweep_deletes_old_orphan_blobs_only(instance, app, api):
    """A blob no row leads to (its writer killed before the commit) goes with the uploads sweep once
    two days past its arrival; a filed one stays, and so does one a killed finishing moved while its
    upload row is still there to take it back."""
    import os
    import time

    from dropbox import db
    from dropbox.blobs import ORPHAN_MIN_DAYS

    manager, store = app.extensions["sealdrop.uploads"], app.extensions["sealdrop.blobs"]
    filed = api.upload(crypto.seal_bytes(doc("filed"), api.recipients(api.category)))
    assert api.report([filed]).status_code == 201
    moved = api.upload(crypto.seal_bytes(doc("moved"), api.recipients(api.category)))
    store.adopt(manager.path(moved), manager.blob_id(moved))
    with store.writer() as w:
        w.write(b"sealed, then the process was killed before its commit")
    long_ago = time.time() - (ORPHAN_MIN_DAYS + 1) * 86400
    for blob in blob_files(instance):
        os.utime(blob, (long_ago, long_ago))
    with app.app_context():
        manager._next_sweep = 0.0
        assert manager.sweep_if_due(db.session(), store, 24 * 3600) == 1
    assert not store.exists(w.blob_id) and len(blob_files(instance)) == 2
    assert api.report([moved]).status_code == 201
    assert [json.loads(e)["what"] for e in open_all_envelopes(instance)] == ["filed", "moved"]


def test_a_finishing_on_its_way_is_waited_for_never_undone(instance, app, api, monkeypatch):
    """A twin call that finds an upload's row but not its file while the first call has moved it and not
    yet committed must not take the blob back (the first would commit a part without its blob): it waits
    for the first's locks, then finds the upload filed."""
    import threading
    import time

    from dropbox import db, intake
    from dropbox.models import Upload

    manager, store = app.extensions["sealdrop.uploads"], app.extensions["sealdrop.blobs"]
    upload_id = api.upload(crypto.seal_bytes(doc("filed once"), api.recipients(api.category)))
    moved, twin_started = threading.Event(), threading.Event()
    real_file_submission = intake.file_submission

    def file_once_the_twin_waits(*args, **kwargs):
        moved.set()
        twin_started.wait(10)
        time.sleep(0.2)  # let the twin reach the lock; either way the outcome below must hold
        return real_file_submission(*args, **kwargs)

    monkeypatch.setattr(intake, "file_submission", file_once_the_twin_waits)
    answers = []
    first = threading.Thread(target=lambda: answers.append(api.report([upload_id])))
    first.start()
    assert moved.wait(30)
    with app.app_context():
        session = db.session()
        upload = session.get(Upload, upload_id)
        assert upload is not None and not manager.path(upload_id).exists()  # moved, not committed
        twin_started.set()
        with pytest.raises(intake.IntakeError, match="unknown_upload"):
            manager.put_back_moved(session, store, [upload])
        session.rollback()
    first.join(30)
    assert answers[0].status_code == 201, answers[0].json
    assert store.exists(manager.blob_id(upload_id)) and not manager.path(upload_id).exists()
    assert json.loads(open_all_envelopes(instance)[0])["what"] == "filed once"
