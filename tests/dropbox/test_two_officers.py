"""Two officers on one desk (issue 14 items 4 and 6, docs/two-officers.md): an export bundle's
retention clock starts when every officer it waits for has confirmed it (or, with retention_waits_for
"any_officer", the first); a key added later is not waited for and one retired later no longer is;
replies from either officer reach the reporter as one thread. SQLite and PostgreSQL."""

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

import crypto
from crypto import bundle
from dropbox import bundles, config, db
from dropbox.blobs import FileBlobStore
from dropbox.config import ConfigError
from dropbox.desk.schedule import RetentionSchedule
from dropbox.models import Case, Desk, ExportConfirmation, ExportLog, Officer, Part, today
from tests.desk_helpers import add_user, login, officer_identity, reply_bundle, upload_replies
from tests.helpers import extract

DAYS = 30  # the demo desk's retention period


class Desk2:
    """The demo desk with a second confirmed officer (B) beside the demo officer (A), and one report
    sealed to both."""

    def __init__(self, instance: Path, app, reporter, tmp: Path):
        self.instance, self.app, self.reporter, self.tmp = instance, app, reporter, tmp
        self.cfg = config.load(instance)
        self.store = FileBlobStore(self.cfg.blob_dir)
        self.a = officer_identity(instance)
        self.b = self.add_officer("Officer B")
        page = reporter.submit().get_data(as_text=True)
        self.receipt, self.case_number = extract(page, "receipt"), extract(page, "case-number")
        self.chains: dict[str, tuple[int, str | None]] = {}

    def session(self):
        return db.standalone_session(self.cfg.database_url)

    def add_officer(self, name: str) -> crypto.Identity:
        identity = crypto.Identity.generate()
        with self.session() as s:
            desk = s.scalar(select(Desk).where(Desk.slug == "demo"))
            s.add(Officer.for_key(desk, name, identity.public_key, confirmed=True))
            s.commit()
        return identity

    def export(self) -> bundle.Manifest:
        key = crypto.SigningKey.load(self.instance / config.SIGNING_KEY_FILE)
        with self.session() as s, open(self.tmp / "export.bundle", "wb") as f:
            return bundles.export(s, self.store, s.scalar(select(Desk).where(Desk.slug == "demo")), key, f)

    def replies(
        self, identity: crypto.Identity, text: str = "", confirm: bundle.Manifest | None = None
    ) -> Path:
        """The next reply bundle of `identity`'s chain: a reply with `text`, and/or a confirmation."""
        who = identity.fingerprint
        sequence, previous = self.chains.get(who, (0, None))
        with self.session() as s:
            reply_public = s.scalar(select(Case.reply_public).where(Case.number == self.case_number))
        items = [(self.case_number, reply_public, {"text": text, "day": "2026-01-02"})] if text else []
        confirmations = [{"sequence": confirm.sequence, "sha256": confirm.sha256}] if confirm else []
        out = self.tmp / f"replies-{who.replace(' ', '')}-{sequence + 1}"
        manifest = reply_bundle(
            out, identity, items, sequence=sequence + 1, previous=previous, confirmations=confirmations
        )
        self.chains[who] = (sequence + 1, manifest.sha256)
        return out

    def import_(self, path: Path) -> None:
        with self.session() as s:
            bundles.import_replies(s, self.store, path)

    def retention(self, days: int, waits_for: str = "every_officer") -> int:
        with self.session() as s:
            return bundles.apply_retention(s, self.store, today() + dt.timedelta(days=days), waits_for)

    def held(self) -> bool:
        """The report's ciphertext is still on the server."""
        with self.session() as s:
            parts = s.scalars(select(Part)).all()
            envelopes = [p.data if p.data is not None else self.store.exists(p.blob_id) for p in parts]
        return bool(envelopes) and all(envelopes)  # small ones in their rows, the rest in the store

    def set_retired(self, identity: crypto.Identity) -> None:
        with self.session() as s:
            officer = s.scalar(select(Officer).where(Officer.fingerprint == identity.fingerprint))
            officer.retired = True
            s.commit()


@pytest.fixture
def desk2(instance, app, reporter, tmp_path):
    return Desk2(instance, app, reporter, tmp_path)


def test_an_export_waits_for_both_officers_before_its_clock_starts(desk2):
    manifest = desk2.export()
    desk2.add_officer("Officer C, added after the export")  # never waited for
    with desk2.session() as s:
        log = s.scalar(select(ExportLog))
        assert sorted(o.name for o in log.awaited) == ["Demo officer", "Officer B"]
    desk2.import_(desk2.replies(desk2.a, confirm=manifest))
    assert desk2.retention(DAYS + 365) == 0 and desk2.held(), "deleted before officer B imported it"
    with desk2.session() as s:
        log = s.scalar(select(ExportLog))
        assert log.confirmed_day is None
        assert [o.name for o in bundles.awaited_officers(log)] == ["Officer B"]
    desk2.import_(desk2.replies(desk2.b, confirm=manifest))
    with desk2.session() as s:
        log = s.scalar(select(ExportLog))
        assert log.confirmed_day == today() and bundles.awaited_officers(log) == []
        confirmed = s.scalars(select(ExportConfirmation.officer_id).order_by(ExportConfirmation.officer_id))
        assert list(confirmed) == sorted(o.id for o in log.awaited)
    assert desk2.retention(DAYS - 1) == 0 and desk2.held()
    assert desk2.retention(DAYS) == 1 and not desk2.held()  # C, never waited for, confirmed nothing


def test_with_any_officer_the_first_confirmation_starts_the_clock(desk2):
    manifest = desk2.export()
    desk2.import_(desk2.replies(desk2.a, confirm=manifest))
    assert desk2.retention(DAYS + 365) == 0  # every_officer, the default
    cfg = desk2.cfg.with_overrides(retention_waits_for="any_officer")
    schedule = RetentionSchedule(cfg)
    try:
        assert schedule.run_once(today() + dt.timedelta(days=DAYS - 1)) == 0 and desk2.held()
        assert schedule.run_once(today() + dt.timedelta(days=DAYS)) == 1 and not desk2.held()
    finally:
        schedule.stop()


def test_the_setting_is_checked(tmp_path):
    config.checked(tmp_path / "config.json", {"retention_waits_for": "any_officer"})
    with pytest.raises(ConfigError, match="retention_waits_for"):
        config.checked(tmp_path / "config.json", {"retention_waits_for": "nobody"})


def test_a_key_retired_after_the_export_no_longer_blocks(desk2):
    manifest = desk2.export()
    desk2.import_(desk2.replies(desk2.a, confirm=manifest))
    assert desk2.retention(DAYS) == 0
    desk2.set_retired(desk2.b)  # B left the desk (or rotated to a new key) without confirming
    with desk2.session() as s:
        assert bundles.awaited_officers(s.scalar(select(ExportLog))) == []
    assert desk2.retention(DAYS - 1) == 0 and desk2.held()
    assert desk2.retention(DAYS) == 1 and not desk2.held()  # A's day started the clock


def test_the_bundle_can_be_downloaded_again_until_the_second_officer_confirms(desk2):
    manifest = desk2.export()
    desk2.import_(desk2.replies(desk2.a, confirm=manifest))
    key = crypto.SigningKey.load(desk2.instance / config.SIGNING_KEY_FILE)
    with desk2.session() as s, open(desk2.tmp / "again.bundle", "wb") as f:
        desk = s.scalar(select(Desk).where(Desk.slug == "demo"))
        assert bundles.export_again(s, desk2.store, desk, 1, key, f).sha256 == manifest.sha256
    desk2.import_(desk2.replies(desk2.b, confirm=manifest))
    with desk2.session() as s, open(desk2.tmp / "again2.bundle", "wb") as f:
        desk = s.scalar(select(Desk).where(Desk.slug == "demo"))
        with pytest.raises(bundles.NothingToExport):
            bundles.export_again(s, desk2.store, desk, 1, key, f)


def test_the_inbox_says_who_confirmed_and_who_is_awaited(desk2):
    clerk = desk2.app.test_client()
    assert login(clerk, *add_user(desk2.instance, "clerk", "demo")).status_code == 303
    manifest = desk2.export()
    assert upload_replies(clerk, desk2.replies(desk2.a, confirm=manifest)).status_code == 200
    row = _export_row(clerk.get("/desk/").get_data(as_text=True))
    assert f"Confirmed by: Demo officer ({today().isoformat()})" in row
    assert "Still awaited from: Officer B" in row and "not yet" in row
    assert upload_replies(clerk, desk2.replies(desk2.b, confirm=manifest)).status_code == 200
    row = _export_row(clerk.get("/desk/").get_data(as_text=True))
    assert "Still awaited" not in row and "Officer B (" in row and "yes, on" in row
    bg = _export_row(clerk.get("/desk/?lang=bg").get_data(as_text=True))
    assert "Officer B (" in bg and "Confirmed by" not in bg  # the words are translated


def _export_row(html: str) -> str:
    start = html.index('id="export-row-demo-1"')
    return html[start : html.index("</tr>", start)]


def test_replies_from_both_officers_reach_the_reporter_as_one_thread(desk2):
    desk2.import_(desk2.replies(desk2.a, text="First answer, from officer A."))
    desk2.import_(desk2.replies(desk2.b, text="Second answer, from officer B."))
    desk2.import_(desk2.replies(desk2.a, text="Third answer, from officer A again."))
    page = desk2.reporter.check(desk2.receipt).get_data(as_text=True)
    first, second, third = (
        page.index("First answer, from officer A."),
        page.index("Second answer, from officer B."),
        page.index("Third answer, from officer A again."),
    )
    assert first < second < third
    # A key not confirmed on the desk is still refused: "any officer" means any confirmed one.
    stranger = crypto.Identity.generate()
    with pytest.raises(bundle.BundleError) as refused:
        desk2.import_(desk2.replies(stranger, text="Not from the desk."))
    assert refused.value.reason == "bad_signature"
    assert "Not from the desk." not in desk2.reporter.check(desk2.receipt).get_data(as_text=True)


def test_a_rotated_key_is_waited_for_through_its_successor(desk2):
    manifest = desk2.export()
    desk2.import_(desk2.replies(desk2.a, confirm=manifest))
    b2 = desk2.add_officer("Officer B, new key")
    with desk2.session() as s:  # what a rotate statement does (desk/keytrust.py): old retired, new after it
        old = s.scalar(select(Officer).where(Officer.fingerprint == desk2.b.fingerprint))
        old.retired, old.successor = (
            True,
            s.scalar(select(Officer).where(Officer.name == "Officer B, new key")),
        )
        s.commit()
    with desk2.session() as s:
        assert [o.name for o in bundles.awaited_officers(s.scalar(select(ExportLog)))] == [
            "Officer B, new key"
        ]
    assert desk2.retention(DAYS + 365) == 0 and desk2.held()
    desk2.import_(desk2.replies(b2, confirm=manifest))  # the new key's confirmation counts for the old
    assert desk2.retention(DAYS) == 1 and not desk2.held()
