"""The store's budget reads a running total per desk (desk_storage, migration 0011) instead of summing
every submission on every no-JS report and upload start: the total stays equal to the sum through
filings, additions, both paths, retention and concurrent reports, the migration fills it from what is
held, and the cost of the check no longer grows with the submissions table (a printed bench line)."""

from __future__ import annotations

import datetime as dt
import io
import statistics
import threading
import time

from alembic import command
from sqlalchemy import func, insert, select

import crypto
from dropbox import bundles, config, create_app, db, intake
from dropbox import uploads as uploads_module
from dropbox.blobs import FileBlobStore
from dropbox.models import Case, Desk, DeskStorage, Submission, today
from tests.desk_helpers import officer_identity, reply_bundle
from tests.dropbox.conftest import Reporter
from tests.dropbox.test_desk_migration import _alembic
from tests.helpers import extract, jpeg_with_exif, make_instance, postgres_database


def session(instance):
    return db.standalone_session(config.load(instance).database_url)


def counted(instance) -> dict[int, int]:
    with session(instance) as s:
        rows = s.execute(select(DeskStorage.desk_id, DeskStorage.stored_bytes)).all()
    return {desk: held for desk, held in rows if held}


def summed(instance) -> dict[int, int]:
    with session(instance) as s:
        rows = s.execute(
            select(Submission.desk_id, func.sum(Submission.size))
            .where(Submission.deleted_day.is_(None))
            .group_by(Submission.desk_id)
        ).all()
    return {desk: int(held) for desk, held in rows if held}


def test_the_running_total_equals_the_sum_through_filings_and_retention(
    instance, app, reporter, client, tmp_path
):
    from tests.dropbox.test_api import Api
    from tests.dropbox.test_pow import fresh, whole
    from tests.helpers import proof_of_work

    photo = (io.BytesIO(jpeg_with_exif()), "a.jpg", "image/jpeg")
    first = reporter.submit(files=[photo]).get_data(as_text=True)
    reporter.submit({"what": "The officer took a bribe"}, category="Corruption, including by police officers")
    token = extract_value(reporter.check(extract(first, "receipt")).get_data(as_text=True), "case_token")
    added = client.post("/r/demo/add", data={"case_token": token, "what": "He came back today"},
                        content_type="multipart/form-data")  # fmt: skip
    assert added.status_code == 200
    assert whole(Api(app.test_client()), proof_of_work(fresh(Api(app.test_client())))).status_code == 201
    held = counted(instance)
    assert len(held) == 2 and held == summed(instance)  # demo and internal security

    # Exported, confirmed, and deleted by retention: the total goes down in the same transaction.
    store = FileBlobStore(config.load(instance).blob_dir)
    key = crypto.SigningKey.load(instance / config.SIGNING_KEY_FILE)
    with session(instance) as s, open(tmp_path / "e.bundle", "wb") as f:
        manifest = bundles.export(s, store, s.scalar(select(Desk).where(Desk.slug == "demo")), key, f)
    confirm = [{"sequence": manifest.sequence, "sha256": manifest.sha256}]
    reply_bundle(tmp_path / "r.bundle", officer_identity(instance), [], confirmations=confirm)
    with session(instance) as s:
        bundles.import_replies(s, store, tmp_path / "r.bundle")
    with session(instance) as s:
        assert bundles.apply_retention(s, store, today() + dt.timedelta(days=3650)) == 3
    after = counted(instance)
    assert after == summed(instance) and len(after) == 1  # only internal security still holds any
    reporter.submit()
    assert counted(instance) == summed(instance) and len(counted(instance)) == 2

    # Migration 0011 fills the table from what is held (rows made before it never moved it).
    url = config.load(instance).database_url
    command.downgrade(_alembic(url), "0010")
    command.upgrade(_alembic(url), "head")
    assert counted(instance) == summed(instance) and len(counted(instance)) == 2


def extract_value(html: str, name: str) -> str:
    import re

    return re.search(rf'name="{name}" value="([^"]+)"', html).group(1)


def test_fifty_reports_at_once_leave_the_total_exact(tmp_path):
    """PostgreSQL, where filings really run at the same moment: the upsert adds, never overwrites."""
    with postgres_database() as url:
        instance = make_instance(tmp_path / "instance", url)
        app = create_app(config.load(instance))
        go = threading.Barrier(50)
        statuses: list[int] = []

        def report(i: int) -> None:
            reporter = Reporter(app.test_client())
            html = reporter.form()
            data = {"csrf_token": reporter.token(html), "category": reporter.category_id(html), "lang": "en",
                    "what": f"Report {i} " + "x" * (i * 300), "where_mode": "none"}  # fmt: skip
            go.wait(timeout=120)
            answer = reporter.client.post("/r/demo", data=data, content_type="multipart/form-data")
            statuses.append(answer.status_code)

        threads = [threading.Thread(target=report, args=(i,)) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        app.extensions["sealdrop.engine"].dispose()
        assert statuses == [200] * 50
        with session(instance) as s:
            assert s.scalar(select(func.count(Submission.id))) == 50
        held = counted(instance)
        assert held == summed(instance) and sum(held.values()) > 50 * 16 * 1024  # sizes differ, all counted


def test_the_budget_check_does_not_grow_with_the_submissions(instance, tmp_path):
    """A bench line, printed: the check at 1,000 and at 100,000 submission rows (inserted directly)."""
    limits = uploads_module.UploadLimits(
        10, 100, 10**9, 10**10, 0.8, 60.0, stored_per_desk=10**12, stored=10**13
    )
    uploads = uploads_module.Uploads(FileBlobStore(tmp_path / "u"), 10**8, limits, blob_key=b"k" * 32)
    timings = {}
    with session(instance) as s:
        desk = s.scalar(select(Desk).where(Desk.slug == "demo"))
        case = Case(desk=desk, number="BNCH-0001", lookup_id=b"\1" * 32, reply_public=b"\2" * 32)
        s.add(case)
        s.commit()
        rows = 0
        for target in (1_000, 100_000):
            batch = [{"case_id": case.id, "desk_id": desk.id, "sealed_by": "server", "size": 16384}] * (
                target - rows
            )
            s.execute(insert(Submission), batch)
            intake.add_stored(s, desk.id, 16384 * (target - rows))
            s.commit()
            rows = target
            uploads.check_room(s, desk, 1)  # warm
            took = []
            for _ in range(200):
                start = time.perf_counter()
                uploads.check_room(s, desk, 1)
                took.append(time.perf_counter() - start)
            timings[target] = statistics.median(took) * 1000
        held = uploads_module._usage(s, desk)[1]
        assert held[0] == s.scalar(select(func.sum(Submission.size)).where(Submission.desk_id == desk.id))
    dialect = config.load(instance).database_url.split(":")[0]
    print(f"\nbench has_room ({dialect}): {timings[1_000]:.3f} ms at 1,000 rows, "
          f"{timings[100_000]:.3f} ms at 100,000 rows")  # fmt: skip
