"""Scale-out (issue 15; dropbox/shared.py, dropbox/blobs.py), reports across two instances on one
PostgreSQL and Redis: an upload begun on one is finished on the other, 200 reports at once are each
filed once, and case numbers stay unique when concurrent reports draw the same one."""

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, text

import crypto
from dropbox import db, intake
from dropbox.models import Desk
from tests.dropbox.scale_out_helpers import Page, cluster, doc, export_opened
from tests.helpers import extract, postgres_database

if os.environ.get("SEALDROP_SKIP_POSTGRES") == "1":
    pytest.skip("SEALDROP_SKIP_POSTGRES=1", allow_module_level=True)


def test_an_upload_begun_on_one_instance_is_finished_on_the_other(tmp_path):
    with cluster(tmp_path, max_upload_piece=1024 * 1024) as c:
        one, two = Page(c.urls[0]), Page(c.urls[1])
        what = "Sent in pieces through two instances " + "." * 2_500_000
        envelope = crypto.seal_bytes(doc(what), one.recipients)
        upload_id, piece = os.urandom(16).hex(), 1024 * 1024
        pages = [one, two, one]  # piece by piece, to whichever instance the balancer picks
        for n, at in enumerate(range(0, len(envelope), piece)):
            query = f"?offset={at}" + (f"&size={len(envelope)}" if at == 0 else "")
            put = pages[n % 3].call("PUT", f"/uploads/{upload_id}{query}", envelope[at : at + piece])
            assert put.status_code == 200 and put.json()["received"] == min(at + piece, len(envelope))
        assert one.call("GET", f"/uploads/{upload_id}").json() == {
            "received": len(envelope),
            "size": len(envelope),
        }
        filed = two.report_call(crypto.Receipt.generate(), [upload_id], two.solution())
        assert filed.status_code == 201
        manifest, opened = export_opened(c, tmp_path)
        assert [m["case_number"] for m in manifest.items] == [filed.json()["case_number"]]
        assert json.loads(opened[0])["what"] == what
        for folder in c.folders:  # nothing of it on either machine's disk
            assert not [p for p in (folder / "blobs").rglob("*") if p.is_file()]


def test_200_reports_at_once_over_both_instances_are_all_filed_once(tmp_path):
    with cluster(tmp_path) as c:
        pages = [Page(url) for url in c.urls]

        def send(n: int) -> str:
            page = pages[n % 2]
            if n % 4 < 2:  # half with JavaScript, half without
                envelope = crypto.seal_bytes(doc(f"report {n}"), page.recipients)
                answer = page.whole(crypto.Receipt.generate(), envelope)
                assert answer.status_code == 201, answer.text
                return answer.json()["case_number"]
            answer = page.form(f"report {n}")
            assert answer.status_code == 200, answer.status_code
            return extract(answer.text, "case-number")

        with ThreadPoolExecutor(max_workers=32) as pool:
            numbers = list(pool.map(send, range(200)))
        assert len(set(numbers)) == 200
        assert c.sql("SELECT count(*), count(DISTINCT number) FROM cases")[0] == (200, 200)
        assert c.sql("SELECT count(*) FROM submissions")[0][0] == 200
        assert c.sql("SELECT count(*) FROM uploads")[0][0] == 0  # nothing left half done
        manifest, opened = export_opened(c, tmp_path)
        assert sorted(json.loads(o)["what"] for o in opened) == sorted(f"report {n}" for n in range(200))
        assert sorted(m["case_number"] for m in manifest.items) == sorted(numbers)


def test_case_numbers_stay_unique_when_concurrent_reports_draw_the_same_one(monkeypatch):
    """The same number drawn at once by many transactions: one keeps it, the others wait for it at
    the unique key, fail, and draw again; every case is filed, each number once."""
    drawn = threading.local()
    counter = iter(range(10**6))
    lock = threading.Lock()

    def colliding() -> str:
        if not getattr(drawn, "once", False):
            drawn.once = True
            return "AAAA-AAAA"
        with lock:
            return f"B{next(counter):03d}-BBBB"

    monkeypatch.setattr(intake, "new_case_number", colliding)
    with postgres_database() as url:
        db.migrate(url)
        with db.standalone_session(url) as s:
            s.add(Desk(slug="demo", names={"en": "Demo"}))
            s.commit()
        start = threading.Barrier(12)

        def file_one(_: int) -> str:
            with db.standalone_session(url) as s:
                desk = s.query(Desk).one()
                start.wait(timeout=60)
                case = intake.open_case(s, desk, os.urandom(32), os.urandom(32))
                s.commit()
                return case.number

        with ThreadPoolExecutor(max_workers=12) as pool:
            numbers = list(pool.map(file_one, range(12)))
        assert len(set(numbers)) == 12 and "AAAA-AAAA" in numbers
        engine = create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(DISTINCT number), count(*) FROM cases")).one() == (12, 12)
        engine.dispose()
