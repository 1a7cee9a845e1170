"""The JSON API of the JS path: it takes ciphertext to the right keys and derived ids, nothing else."""

import base64
import json
import re

import pytest

import crypto
from tests.helpers import open_all_envelopes


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

    from dropbox import db, intake
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
    assert intake.SWEEP_EVERY >= 60  # a busy server does not list its uploads folder on every request


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
