"""Retention on a schedule in `sealdrop serve`: the schedule runs at once and then after every
interval, survives a failed run without logging what failed, deletes what is due, and serve starts it."""

import datetime as dt
import time

import pytest
from sqlalchemy import select, update

import crypto
from dropbox import bundles, cli, config, create_app, db
from dropbox.blobs import FileBlobStore
from dropbox.desk import schedule
from dropbox.models import AuditEntry, Desk, ExportLog, Submission, today
from tests.dropbox.conftest import Reporter
from tests.helpers import extract, live_server


def test_run_every_runs_at_once_then_after_each_wait_and_survives_a_failed_run(capsys):
    runs, waits = [], []

    def job():
        runs.append(len(waits))
        if len(runs) == 2:
            raise RuntimeError("case 7KQ-2M9 and what the reporter wrote")

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return len(waits) == 3  # stop after the third interval

    schedule.run_every(job, 3600, wait)
    assert runs == [0, 1, 2]  # the first run before any wait, then one after each interval
    assert waits == [3600, 3600, 3600]
    err = capsys.readouterr().err
    assert "RuntimeError" in err and "7KQ" not in err and "reporter" not in err


def test_an_interval_must_be_positive(sqlite_instance):
    with pytest.raises(ValueError):
        schedule.RetentionSchedule(config.load(sqlite_instance), 0)


def exported_and_confirmed(instance, confirmed_day: dt.date) -> str:
    """One no-JS report, exported, its bundle confirmed by the viewer on `confirmed_day`."""
    cfg = config.load(instance)
    app = create_app(cfg)
    page = Reporter(app.test_client()).submit().get_data(as_text=True)
    app.extensions["sealdrop.engine"].dispose()
    key = crypto.SigningKey.load(instance / config.SIGNING_KEY_FILE)
    with db.standalone_session(cfg.database_url) as s:
        desk = s.scalar(select(Desk).where(Desk.slug == "demo"))
        with open(instance.parent / "export.bundle", "wb") as f:
            bundles.export(s, FileBlobStore(cfg.blob_dir), desk, key, f)
        s.execute(update(ExportLog).values(confirmed_day=confirmed_day))
        s.commit()
        s.bind.dispose()
    return extract(page, "case-number")


def state(instance) -> tuple[list, list, list]:
    cfg = config.load(instance)
    with db.standalone_session(cfg.database_url) as s:
        deleted = list(s.scalars(select(Submission.deleted_day)))
        audit = [tuple(r) for r in s.execute(select(AuditEntry.actor, AuditEntry.action, AuditEntry.detail))]
        s.bind.dispose()
    blobs = sorted(p.name for p in cfg.blob_dir.rglob("*") if p.is_file())
    return deleted, audit, blobs


def test_a_run_deletes_what_is_due_and_audits_only_when_it_deleted(sqlite_instance):
    exported_and_confirmed(sqlite_instance, today())
    retention = schedule.RetentionSchedule(config.load(sqlite_instance), 60)
    assert retention.run_once(today() + dt.timedelta(days=29)) == 0
    deleted, audit, blobs = state(sqlite_instance)
    assert deleted == [None] and audit == []  # the text report's envelope is kept in its row
    assert retention.run_once(today() + dt.timedelta(days=30)) == 1
    deleted, audit, blobs = state(sqlite_instance)
    assert deleted == [today() + dt.timedelta(days=30)] and blobs == []
    assert audit == [("scheduler", "retention", "1 submissions deleted")]
    retention.stop()


def test_the_schedule_runs_once_as_soon_as_it_starts(sqlite_instance):
    exported_and_confirmed(sqlite_instance, today() - dt.timedelta(days=30))
    retention = schedule.RetentionSchedule(config.load(sqlite_instance), 60).start()
    retention.stop()  # the first run never waits for the interval, so it has happened by now
    deleted, _audit, blobs = state(sqlite_instance)
    assert deleted == [today()] and blobs == []


def test_serve_applies_retention_on_its_schedule(sqlite_instance, tmp_path):
    assert cli.build_parser().parse_args(["serve"]).retention_every == schedule.DEFAULT_MINUTES
    exported_and_confirmed(sqlite_instance, today() - dt.timedelta(days=30))
    (tmp_path / "tmp").mkdir()
    with live_server(sqlite_instance, tmp_path / "tmp"):
        deadline = time.monotonic() + 60  # not a timing claim: only how long to wait before failing
        while state(sqlite_instance)[0] != [today()] and time.monotonic() < deadline:
            time.sleep(0.2)
    deleted, audit, blobs = state(sqlite_instance)
    assert deleted == [today()] and blobs == []
    assert ("scheduler", "retention", "1 submissions deleted") in audit


def test_the_retention_lines_speak_the_operator_s_language(sqlite_instance, capsys):
    """What the schedule prints on serve's output, in the language serve was started in."""
    from dropbox import console

    exported_and_confirmed(sqlite_instance, today())
    retention = schedule.RetentionSchedule(config.load(sqlite_instance), 60)
    console.init("ru")
    try:
        capsys.readouterr()
        assert retention.run_once(today() + dt.timedelta(days=30)) == 1
        assert capsys.readouterr().out == "срок хранения: удалено поступлений: 1\n"

        def broken() -> None:
            raise RuntimeError("the database went away")

        schedule.run_every(broken, 60, lambda _s: True)
        assert capsys.readouterr().err == "срок хранения: плановый запуск не удался (RuntimeError)\n"
    finally:
        console.init("en")
        retention.stop()
