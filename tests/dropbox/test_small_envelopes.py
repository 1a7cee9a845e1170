"""A small sealed envelope (intake.INLINE_MAX_BYTES) lives in its part's row: a no-JS text report's
document and a JS report sent whole with small envelopes are filed with no blob file and no upload;
larger ones still go to the blob store. Either way the officer's viewer opens them, additions find the
first report's keys, retention deletes them with their rows, and a refused report leaves nothing."""

from __future__ import annotations

import base64
import io
import json

import pytest
from sqlalchemy import func, select

import crypto
from dropbox import bundles, config, db, intake
from dropbox.blobs import open_store
from dropbox.models import Case, Part, Submission, Upload
from tests.dropbox.test_api import Api
from tests.dropbox.test_export_integrity import export, new_vault, sealview
from tests.helpers import filed_envelopes, jpeg_with_exif, open_all_envelopes, proof_of_work


def blob_files(instance) -> list:
    return sorted(p for p in (instance / "blobs").glob("??/*") if p.is_file())


def parts(instance) -> list[tuple[int, bool, int]]:
    """(position, kept in its row, size) of every filed part, in order."""
    with db.standalone_session(config.load(instance).database_url) as s:
        rows = s.execute(select(Part.position, Part.data.is_not(None), Part.size).order_by(Part.id)).all()
        s.get_bind().dispose()
    return [tuple(r) for r in rows]


def count(instance, model) -> int:
    with db.standalone_session(config.load(instance).database_url) as s:
        n = s.scalar(select(func.count()).select_from(model))
        s.get_bind().dispose()
    return n


def whole(api: Api, envelopes: list[bytes], receipt: crypto.Receipt | None = None) -> bytes:
    receipt = receipt or crypto.Receipt.generate()
    meta = json.dumps({
        "category": int(api.category), "sizes": [len(e) for e in envelopes],
        "pow": proof_of_work(api.call("GET", "/challenge").json),
        "lookup_id": base64.b64encode(receipt.lookup_id).decode(),
        "reply_public": base64.b64encode(receipt.reply_recipient.public_bytes).decode(),
    }).encode()  # fmt: skip
    return len(meta).to_bytes(4, "big") + meta + b"".join(envelopes)


def test_a_no_js_text_report_is_kept_in_its_row_and_opens(instance, reporter):
    answer = reporter.submit({"what": "Наркотици зад физкултурния салон"})
    assert answer.status_code == 200
    assert blob_files(instance) == []
    ((position, in_row, size),) = parts(instance)
    assert (position, in_row) == (0, True) and 0 < size <= intake.INLINE_MAX_BYTES
    (document,) = open_all_envelopes(instance)
    assert json.loads(document)["what"] == "Наркотици зад физкултурния салон"


def test_a_no_js_report_with_a_photo_keeps_the_photo_as_a_blob(instance, reporter):
    answer = reporter.submit(files=[(io.BytesIO(jpeg_with_exif()), "IMG_0001.jpg")])
    assert answer.status_code == 200
    assert [p[:2] for p in parts(instance)] == [(0, True), (1, False)]  # the document in its row
    assert len(blob_files(instance)) == 1


def test_a_long_document_goes_to_the_blob_store(instance, reporter, monkeypatch):
    monkeypatch.setattr(intake, "INLINE_MAX_BYTES", 100)  # smaller than any sealed document
    assert reporter.submit().status_code == 200
    assert [p[:2] for p in parts(instance)] == [(0, False)] and len(blob_files(instance)) == 1
    assert len(open_all_envelopes(instance)) == 1


def test_a_small_js_report_sent_whole_needs_no_upload_and_no_file(instance, client):
    api = Api(client)
    envelopes = [crypto.seal_bytes(b'{"what": "x"}', api.recipients(api.category)),
                 crypto.seal_bytes(b"a small voice note", api.recipients(api.category))]  # fmt: skip
    answer = api.call("POST", "/reports", whole(api, envelopes))
    assert answer.status_code == 201, answer.json
    assert [p[:2] for p in parts(instance)] == [(0, True), (1, True)]
    assert blob_files(instance) == [] and count(instance, Upload) == 0
    assert filed_envelopes(instance) == envelopes  # byte for byte what the browser sealed


def test_a_whole_report_with_a_large_envelope_goes_through_an_upload(instance, client, monkeypatch):
    monkeypatch.setattr(intake, "INLINE_MAX_BYTES", 1000)
    api = Api(client)
    envelopes = [crypto.seal_bytes(b"{}", api.recipients(api.category)),
                 crypto.seal_bytes(b"x" * 5000, api.recipients(api.category))]  # fmt: skip
    assert api.call("POST", "/reports", whole(api, envelopes)).status_code == 201
    assert [p[:2] for p in parts(instance)] == [(0, False), (1, False)]  # one path for the report
    assert len(blob_files(instance)) == 2 and filed_envelopes(instance) == envelopes


@pytest.mark.parametrize("wrong", ["other_keys", "not_an_envelope"])
def test_a_refused_small_whole_report_leaves_nothing(instance, client, wrong):
    api = Api(client)
    envelope = (crypto.seal_bytes(b"{}", [crypto.Identity.generate().public_key.recipient])
                if wrong == "other_keys" else b"not sealed at all")  # fmt: skip
    answer = api.call("POST", "/reports", whole(api, [envelope]))
    assert (answer.status_code, answer.json["error"]) == (
        400, "wrong_recipients" if wrong == "other_keys" else "not_an_envelope")  # fmt: skip
    assert (count(instance, Case), count(instance, Submission), count(instance, Upload)) == (0, 0, 0)


def test_a_whole_report_sent_again_is_filed_once(instance, client):
    """The answer was lost on the way: the browser sends the same report again (same receipt)."""
    api = Api(client)
    receipt = crypto.Receipt.generate()
    envelope = crypto.seal_bytes(b"{}", api.recipients(api.category))
    first = api.call("POST", "/reports", whole(api, [envelope], receipt))
    again = api.call("POST", "/reports", whole(api, [envelope], receipt))
    assert first.status_code == 201 and again.status_code == 200
    assert again.json["case_number"] == first.json["case_number"] and count(instance, Submission) == 1


def test_the_officer_opens_small_envelopes_from_an_export(instance, reporter, tmp_path, monkeypatch, capsys):
    assert reporter.submit({"what": "Kept in its row, read in the viewer"}).status_code == 200
    export(instance, tmp_path / "export.bundle")
    vault = tmp_path / "vault"
    new_vault(instance, vault, monkeypatch)
    assert sealview(vault, "import", tmp_path / "export.bundle") == 0
    capsys.readouterr()
    assert sealview(vault, "list") == 0
    (number,) = [line.split()[0] for line in capsys.readouterr().out.splitlines() if "-" in line.split()[0]]
    assert sealview(vault, "show", number) == 0
    assert "Kept in its row, read in the viewer" in capsys.readouterr().out


def test_an_addition_is_sealed_to_the_keys_of_a_first_report_kept_in_its_row(instance, reporter):
    answer = reporter.submit().get_data(as_text=True)
    receipt = answer.split('id="receipt"')[1].split(">", 1)[1].split("<", 1)[0]
    with db.standalone_session(config.load(instance).database_url) as s:
        case = s.scalar(select(Case))
        keys = intake.case_recipients(s, open_store(config.load(instance)), case)
        s.get_bind().dispose()
    assert keys and receipt


def test_retention_deletes_a_small_envelope_with_its_row(sqlite_instance):
    import datetime as dt

    from dropbox.models import today
    from tests.dropbox.test_desk_retention import exported_and_confirmed

    exported_and_confirmed(sqlite_instance, today())
    assert [p[:2] for p in parts(sqlite_instance)] == [(0, True)]
    with db.standalone_session(config.load(sqlite_instance).database_url) as s:
        removed = bundles.apply_retention(s, open_store(config.load(sqlite_instance)),
                                          on=today() + dt.timedelta(days=30))  # fmt: skip
        s.get_bind().dispose()
    assert removed == 1 and count(sqlite_instance, Part) == 0 and blob_files(sqlite_instance) == []


def test_a_full_database_refuses_a_small_report_clearly_and_keeps_nothing(
    instance, client, reporter, monkeypatch
):
    """Small envelopes fill the database, not the blob store: its "database or disk is full" is the
    same clear 503 as a full store's, for both paths, and nothing of the report is kept."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    def full(*_args, **_kwargs):
        driver = sqlite3.OperationalError("database or disk is full")
        driver.sqlite_errorcode = 13  # as sqlite3 sets it (errors.SQLITE_FULL)
        raise OperationalError("INSERT INTO parts ...", {}, driver)

    monkeypatch.setattr(intake, "file_submission", full)
    api = Api(client)
    answer = api.call(
        "POST", "/reports", whole(api, [crypto.seal_bytes(b"{}", api.recipients(api.category))])
    )
    assert (answer.status_code, answer.json, answer.headers.get("Retry-After") is not None) == (
        503, {"error": "try_again"}, True)  # fmt: skip
    page = reporter.submit()
    assert page.status_code == 503 and page.headers.get("Retry-After")
    assert (count(instance, Case), count(instance, Submission), count(instance, Upload)) == (0, 0, 0)
    assert blob_files(instance) == []
