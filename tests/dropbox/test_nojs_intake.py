"""The no-JS path end to end through the Flask app, on SQLite and PostgreSQL."""

import io
import json
import tempfile

import pytest
from PIL import Image

from tests.helpers import (
    database_rows_containing,
    extract,
    fail_wal_syncs,
    files_containing,
    jpeg_with_exif,
    open_all_envelopes,
)

TEXT = "Дилър зад физкултурния салон, всеки ден около 14 ч."


def test_report_with_exif_photo_is_sealed_and_scrubbed(instance, app, reporter, tmp_path, monkeypatch):
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))  # any temp file the request makes lands here
    photo = jpeg_with_exif()
    response = reporter.submit({"what": TEXT, "where_mode": "typed", "where_text": "ул. Витоша 15"},
                               files=[(io.BytesIO(photo), "IMG_0001.jpg", "image/jpeg")])  # fmt: skip
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    receipt, case_number = extract(html, "receipt"), extract(html, "case-number")
    assert len(receipt.replace("-", "")) == 20 and len(case_number) == 9

    secrets = [
        TEXT.encode(),
        b"SpyPhone",
        "Витоша".encode(),
        receipt.encode(),
        receipt.replace("-", "").encode(),
    ]
    assert files_containing(instance, secrets) == []
    assert database_rows_containing(app.config["SEALDROP"].database_url, secrets) == []
    assert files_containing(private_tmp, [TEXT.encode(), b"SpyPhone"]) == []

    opened = open_all_envelopes(instance)
    assert len(opened) == 2
    doc = json.loads(opened[0])
    assert doc["what"] == TEXT and doc["where"] == {"mode": "typed", "text": "ул. Витоша 15"}
    assert doc["sealed_by"] == "server" and doc["attachments"][0]["metadata"] == "removed"
    clean = Image.open(io.BytesIO(opened[1]))
    assert clean.size == (320, 240) and not clean.getexif() and b"SpyPhone" not in opened[1]

    case_page = reporter.check(receipt.lower().replace("-", " "))
    assert case_page.status_code == 200
    assert extract(case_page.get_data(as_text=True), "case-number") == case_number


def test_wrong_and_mistyped_receipts_are_refused(reporter):
    html = reporter.submit().get_data(as_text=True)
    receipt = extract(html, "receipt")
    typo = receipt[:-1] + ("0" if receipt[-1] != "0" else "1")
    assert "typo" in reporter.check(typo).get_data(as_text=True)
    from crypto import Receipt

    stranger = reporter.check(Receipt.generate().grouped())
    assert stranger.status_code == 400 and "found no report" in stranger.get_data(as_text=True)


def test_corruption_is_sealed_only_to_internal_security(instance, reporter):
    response = reporter.submit(
        {"what": "The officer took a bribe"}, category="Corruption, including by police officers"
    )
    assert response.status_code == 200
    assert open_all_envelopes(instance, "demo-officer.identity") == []
    opened = open_all_envelopes(instance, "demo-internal-officer.identity")
    assert json.loads(opened[0])["what"] == "The officer took a bribe"


def test_reporter_adds_information_to_the_case(instance, reporter, client):
    receipt = extract(reporter.submit().get_data(as_text=True), "receipt")
    case_html = reporter.check(receipt).get_data(as_text=True)
    token = extract_value(case_html, "case_token")
    added = client.post("/r/demo/add", data={"case_token": token, "what": "He came back today",
                                            "files": [(io.BytesIO(jpeg_with_exif()), "b.jpg", "image/jpeg")]},
                        content_type="multipart/form-data")  # fmt: skip
    assert added.status_code == 200 and 'id="added"' in added.get_data(as_text=True)
    docs = [json.loads(o) for o in open_all_envelopes(instance) if o.startswith(b"{")]
    addition = next(d for d in docs if d["kind"] == "addition")
    assert addition["what"] == "He came back today" and addition["case_number"] == extract(
        case_html, "case-number"
    )


def extract_value(html, name):
    import re

    return re.search(rf'name="{name}" value="([^"]+)"', html).group(1)


def test_no_cookie_and_strict_headers(client, reporter):
    for response in (
        client.get("/r/demo"),
        reporter.submit(),
        client.get("/r/demo/check"),
        client.get("/r/nope"),
    ):
        assert "Set-Cookie" not in response.headers
        csp = response.headers["Content-Security-Policy"]
        assert "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"


def case_count(instance):
    from sqlalchemy import create_engine, text

    from dropbox import config

    engine = create_engine(config.load(instance).database_url)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM cases")).scalar_one()
    engine.dispose()
    return count


def stored_blobs(instance):
    return sorted(p for p in (instance / "blobs").glob("??/*") if p.is_file())


def test_no_case_number_to_be_had_is_a_503_and_stores_nothing(instance, reporter, monkeypatch):
    from dropbox import intake

    taken = extract(reporter.submit().get_data(as_text=True), "case-number")
    before = stored_blobs(instance)
    monkeypatch.setattr(intake, "new_case_number", lambda: taken)  # every try collides
    response = reporter.submit({"what": "a second report"})
    assert response.status_code == 503
    assert "Nothing you sent was kept" in response.get_data(as_text=True)
    assert stored_blobs(instance) == before
    assert case_count(instance) == 1


def test_a_failed_commit_leaves_no_orphan_blob(instance, reporter, monkeypatch):
    from dropbox import intake

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(intake, "file_submission", broken)
    photo = [(io.BytesIO(jpeg_with_exif()), "IMG_0001.jpg")]  # a photo is sealed into a blob file
    assert reporter.submit(files=photo).status_code == 500
    assert stored_blobs(instance) == []
    monkeypatch.undo()
    assert reporter.submit(files=[(io.BytesIO(jpeg_with_exif()), "IMG_0001.jpg")]).status_code == 200
    assert len(stored_blobs(instance)) == 1  # the photo; the report's document is in its row


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_commit_its_disk_cannot_sync_fails_the_request_but_keeps_the_blobs_it_names(
    instance, reporter, monkeypatch
):
    """SQLite's commit went through, then the WAL's fdatasync failed (EIO: a failing disk). The reporter
    is told it failed, but the committed part row names the photo's blob, so the blob must stay: deleting
    it, as after a failed commit, would leave a report whose photo is gone."""
    from sqlalchemy import create_engine, text

    from dropbox import config

    fail_wal_syncs(monkeypatch)
    photo = [(io.BytesIO(jpeg_with_exif()), "IMG_0001.jpg")]
    assert reporter.submit(files=photo).status_code == 500
    monkeypatch.undo()
    assert case_count(instance) == 1
    engine = create_engine(config.load(instance).database_url)
    with engine.connect() as conn:
        named = conn.execute(text("SELECT blob_id FROM parts WHERE data IS NULL")).scalars().all()
    engine.dispose()
    assert len(named) == 1
    assert [p.name for p in stored_blobs(instance)] == named
