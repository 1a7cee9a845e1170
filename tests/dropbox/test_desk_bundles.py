"""The air gap at the desk: export bundles out (signed, downloadable again until confirmed), reply
bundles in (whole or not at all; every kind of bad bundle refused with a clear reason, at the
dropbox.bundles level and through the upload page), and retention after the viewer's confirmation."""

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

import crypto
from crypto import VerifyKey, bundle
from crypto import statement as st
from crypto.bundle import BundleError
from dropbox import bundles, config, db, errors
from dropbox.blobs import FileBlobStore
from dropbox.models import Desk, ExportLog, Officer, Part, Reply, Submission, today
from tests.desk_helpers import add_user, csrf, login, officer_identity, reply_bundle, upload_replies
from tests.helpers import extract, fail_wal_syncs


class World:
    """One instance with one no-JS report in it, and the demo officer's identity to answer it."""

    def __init__(self, instance: Path, app, reporter, tmp: Path):
        self.instance, self.app, self.tmp = instance, app, tmp
        self.cfg = config.load(instance)
        self.store = FileBlobStore(self.cfg.blob_dir)
        page = reporter.submit().get_data(as_text=True)
        self.receipt, self.case_number = extract(page, "receipt"), extract(page, "case-number")
        self.reporter = reporter
        self.identity = officer_identity(instance)
        with self.session() as s:
            self.reply_public = s.scalar(select(Submission).limit(1)).case.reply_public

    def session(self):
        return db.standalone_session(self.cfg.database_url)

    def export(self) -> bundle.Manifest:
        key = crypto.SigningKey.load(self.instance / config.SIGNING_KEY_FILE)
        with self.session() as s, open(self.tmp / "export.bundle", "wb") as f:
            return bundles.export(s, self.store, s.scalar(select(Desk).where(Desk.slug == "demo")), key, f)

    def replies(self, name: str, text: str = "Thank you, we are checking.", status="checking", **kw) -> Path:
        out = self.tmp / name
        items = kw.pop("items", None) or [
            (self.case_number, self.reply_public, {"text": text, "status": status, "day": "2026-01-02"})
        ]
        reply_bundle(out, kw.pop("identity", self.identity), items, **kw)
        return out

    def import_(self, path: Path):
        with self.session() as s:
            return bundles.import_replies(s, self.store, path)

    def state(self) -> dict:
        """Everything an import may change: it must not change any of it when it refuses."""
        with self.session() as s:
            return {
                "replies": s.scalar(select(func.count(Reply.id))),
                "chains": sorted(
                    s.execute(select(Officer.key_id, Officer.reply_sequence, Officer.reply_sha256)).all()
                ),
                "confirmed": sorted(s.execute(select(ExportLog.sequence, ExportLog.confirmed_day)).all()),
                "blobs": sorted(p.name for p in self.cfg.blob_dir.rglob("*") if p.is_file()),
            }


@pytest.fixture
def world(instance, app, reporter, tmp_path):
    return World(instance, app, reporter, tmp_path)


def refused(world: World, path: Path) -> str:
    before = world.state()
    with pytest.raises(BundleError) as info:
        world.import_(path)
    assert world.state() == before, "a refused bundle changed something"
    return info.value.reason


def test_a_reply_bundle_reaches_the_reporter(world):
    manifest = world.export()
    path = world.replies("r1", confirmations=[{"sequence": manifest.sequence, "sha256": manifest.sha256}])
    desk, count = world.import_(path)
    assert (desk.slug, count) == ("demo", 1)
    page = world.reporter.check(world.receipt).get_data(as_text=True)
    assert "Thank you, we are checking." in page and "Being checked" in page
    with world.session() as s:
        assert s.scalar(select(ExportLog.confirmed_day)) == today()
        officer = s.scalar(
            select(Officer).where(Officer.key_id == world.identity.public_key.recipient.key_id.hex())
        )
        assert (officer.reply_sequence, officer.reply_sha256) == (1, manifest_of(path, world.identity).sha256)


def manifest_of(path: Path, identity) -> bundle.Manifest:
    with open(path, "rb") as f:
        return bundle.read_manifest(f, "replies", [identity.signing_key.verify_key])


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def test_damaged_bundles_are_refused_and_nothing_is_imported(world):
    good = world.replies("good")
    data = good.read_bytes()
    cases = {
        "item changed": (_flip(data, len(data) - 5), "tampered"),
        "bytes added": (data + b"\0", "tampered"),
        "truncated in an item": (data[:-7], "truncated"),
        "truncated in the manifest": (data[:40], "truncated"),
        "manifest changed": (data.replace(b"2026-01-01", b"2026-01-09"), "bad_signature"),
        "not a bundle": (b"%PDF-1.7 hello", "not_a_bundle"),
        "empty": (b"", "not_a_bundle"),
    }
    for label, (content, reason) in cases.items():
        path = world.tmp / "damaged"
        path.write_bytes(content)
        assert refused(world, path) == reason, label
    assert world.import_(good)[1] == 1  # the intact one still imports afterwards


def test_bundles_not_signed_by_a_confirmed_officer_of_the_desk_are_refused(world):
    stranger = crypto.Identity.generate()
    demo_key = world.identity.public_key.recipient.key_id.hex()
    assert refused(world, world.replies("foreign", identity=stranger, officer=demo_key)) == "bad_signature"
    assert refused(world, world.replies("unknown-signer", identity=stranger)) == "bad_signature"
    with world.session() as s:  # registered, but not yet read back by phone
        desk = s.scalar(select(Desk).where(Desk.slug == "demo"))
        s.add(
            Officer(
                desk=desk,
                name="new",
                public_key=stranger.public_key.encode(),
                confirmed=False,
                key_id=stranger.public_key.recipient.key_id.hex(),
                fingerprint=stranger.fingerprint,
            )
        )
        s.commit()
    assert refused(world, world.replies("unconfirmed", identity=stranger)) == "bad_signature"
    internal = officer_identity(world.instance, "demo-internal-officer.identity")  # another desk's officer
    assert refused(world, world.replies("other-desk-officer", identity=internal)) == "bad_signature"


def test_replayed_out_of_order_and_forked_bundles_are_refused(world):
    first = world.replies("1", sequence=1)
    _, _ = world.import_(first)
    assert refused(world, first) == "replayed"
    with world.session() as s:
        last = s.scalar(select(Officer.reply_sha256).where(Officer.reply_sequence == 1))
    assert refused(world, world.replies("3", sequence=3, previous=last)) == "withheld"
    assert refused(world, world.replies("2-forked", sequence=2, previous="ab" * 32)) == "forked"
    assert refused(world, world.replies("2-no-previous", sequence=2, previous=None)) == "forked"
    assert world.import_(world.replies("2", sequence=2, previous=last))[1] == 1


def test_wrong_kind_wrong_desk_and_misaddressed_replies_are_refused(world):
    world.export()
    assert refused(world, world.tmp / "export.bundle") == "wrong_kind"
    assert refused(world, world.replies("no-desk", desk="atlantis")) == "wrong_desk"
    assert (
        refused(
            world, world.replies("unknown-case", items=[("ZZZZ-ZZZZ", world.reply_public, {"text": "x"})])
        )
        == "wrong_desk"
    )
    stranger_key = crypto.DecryptionKey.generate().recipient.public_bytes
    wrong_key = world.replies("wrong-key", items=[(world.case_number, stranger_key, {"text": "x"})])
    assert refused(world, wrong_key) == "tampered"  # not sealed to the reporter: nobody could read it
    bogus = world.replies("bogus-confirmation", confirmations=[{"sequence": 7, "sha256": "00" * 32}])
    assert refused(world, bogus) == "forked"
    malformed = world.replies("malformed-confirmation", confirmations=[3])
    assert refused(world, malformed) == "tampered"


def test_a_bundle_failing_half_way_leaves_nothing_behind(world, reporter):
    other = reporter.submit(category="Corruption, including by police officers").get_data(as_text=True)
    other_case = extract(other, "case-number")  # filed with demo-internal, not with demo
    with world.session() as s:
        from dropbox.models import Case

        other_public = s.scalar(select(Case.reply_public).where(Case.number == other_case))
    items = [
        (world.case_number, world.reply_public, {"text": "first, fine"}),
        (other_case, other_public, {"text": "second, for another desk"}),
    ]
    path = world.replies("half", items=items)
    assert refused(world, path) == "wrong_desk"  # after the first reply was already written: rolled back


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_commit_its_disk_cannot_sync_keeps_the_replies_it_names(world, monkeypatch):
    """The import's commit went through, then the WAL's fdatasync failed (EIO): the import fails, but its
    reply rows stand, so their blobs stay (the reporter can read the answer)."""
    path = world.replies("r")
    fail_wal_syncs(monkeypatch)
    with world.session() as s, pytest.raises(db.CommittedNotDurable):
        bundles.import_replies(s, world.store, path)
    monkeypatch.undo()
    with world.session() as s:
        (reply,) = s.scalars(select(Reply)).all()
        assert world.store.exists(reply.blob_id)


def test_only_desk_refuses_another_desks_bundle(world):
    path = world.replies("r")
    with world.session() as s, pytest.raises(BundleError) as info:
        bundles.import_replies(s, world.store, path, only_desk="demo-internal")
    assert info.value.reason == "wrong_desk"


# --- through the desk's pages --------------------------------------------------------------------


@pytest.fixture
def clerk(world):
    client = world.app.test_client()
    assert login(client, *add_user(world.instance, "clerk", "demo")).status_code == 303
    return client


def _internal_desks_bundle(world):
    internal = officer_identity(world.instance, "demo-internal-officer.identity")
    return world.replies("d", desk="demo-internal", identity=internal).read_bytes()


def _export_bundle(world):
    world.export()
    return (world.tmp / "export.bundle").read_bytes()


def _foreign_key_statement_bundle(world):
    """A reply bundle carrying a key statement its signer did not sign (another desk's officer did)."""
    internal = officer_identity(world.instance, "demo-internal-officer.identity")
    admit = st.sign(
        internal.signing_key, internal.public_key, "demo", "admit", crypto.Identity.generate().public_key
    )
    fields = {
        "desk": "demo", "officer": st.key_id_of(world.identity.public_key), "sequence": 1, "previous": None,
        "created_day": "2026-12-06", "confirmations": [], "key_statements": [admit.encode()],
    }  # fmt: skip
    out = world.tmp / "statement.bundle"
    with open(out, "wb") as f:
        bundle.write(f, "replies", fields, [], world.identity.signing_key)
    return out.read_bytes()


BAD_UPLOADS = {  # what the clerk uploads -> (reason, words the page must say)
    "tampered": (lambda w, good: _flip(good, len(good) - 3), "tampered", "changed after the officer"),
    "truncated": (lambda w, good: good[:-20], "truncated", "incomplete"),
    "foreign": (
        lambda w, good: w.replies(
            "f", identity=crypto.Identity.generate(), officer=w.identity.public_key.recipient.key_id.hex()
        ).read_bytes(),
        "bad_signature",
        "not signed by a confirmed officer",
    ),
    "replayed": (lambda w, good: good, "replayed", "already imported"),
    "out-of-order": (
        lambda w, good: w.replies("o", sequence=2, previous="ab" * 32).read_bytes(),
        "withheld",
        "Import the bundles in order",
    ),
    "forked": (
        lambda w, good: w.replies("k", sequence=1, previous="ab" * 32).read_bytes(),
        "forked",
        "does not follow the last one",
    ),
    "export": (lambda w, good: _export_bundle(w), "wrong_kind", "goes to the officer's offline viewer"),
    "junk": (lambda w, good: b"hello", "not_a_bundle", "not a sealdrop bundle"),
    "other-desk": (lambda w, good: _internal_desks_bundle(w), "wrong_desk", "for another desk"),
    "key-statement": (lambda w, good: _foreign_key_statement_bundle(w), "key_statement", "key statement"),
}


def test_the_upload_cases_cover_every_refusal_the_page_can_say():
    assert {reason for _, reason, _ in BAD_UPLOADS.values()} == set(errors.BUNDLE_REFUSALS)


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_the_upload_page_refuses_bad_bundles_with_a_clear_message(world, clerk, case):
    make, reason, words = BAD_UPLOADS[case]
    good = world.replies("good")
    if case == "replayed":
        assert upload_replies(clerk, good).status_code == 200
    path = world.tmp / "upload.bundle"
    path.write_bytes(make(world, good.read_bytes()))
    before = world.state()
    response = upload_replies(clerk, path)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f'data-reason="{reason}"' in page and "Nothing was imported." in page and words in page
    # The whole of dropbox.errors' words for it, as `sealdrop import-replies` prints them (a translation
    # is markup to Jinja's newstyle gettext: the apostrophe is not escaped).
    said = errors.WRONG_KIND["export"] if case == "export" else errors.BUNDLE_REFUSALS[reason]
    assert said in page
    assert world.state() == before
    assert list((world.cfg.blob_dir / "incoming").iterdir()) == []  # the spooled upload is gone


def test_the_upload_page_imports_a_good_bundle(world, clerk):
    response = upload_replies(clerk, world.replies("good"))
    assert response.status_code == 200
    assert "Imported 1 replies for Demo municipality" in response.get_data(as_text=True)
    assert "Thank you, we are checking." in world.reporter.check(world.receipt).get_data(as_text=True)
    token = csrf(clerk.get("/desk/replies").get_data(as_text=True))
    empty = clerk.post("/desk/replies", data={"csrf_token": token}, content_type="multipart/form-data")
    assert empty.status_code == 400 and "Choose the reply bundle file first." in empty.get_data(as_text=True)


def test_export_download_again_and_nothing_new(world, clerk):
    token = csrf(clerk.get("/desk/").get_data(as_text=True))
    response = clerk.post("/desk/export/demo", data={"csrf_token": token})
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == "attachment; filename=sealdrop-export-demo-00001.bundle"
    data = response.get_data()
    (world.tmp / "dl.bundle").write_bytes(data)
    pinned = VerifyKey.parse((world.instance / config.SIGNING_PUB_FILE).read_text())
    manifest = bundle.verify(world.tmp / "dl.bundle", "export", [pinned])
    assert manifest.data["desk"] == "demo" and manifest.sequence == 1
    assert [i["case_number"] for i in manifest.items] == [world.case_number]
    assert list((world.cfg.blob_dir / "incoming").iterdir()) == []
    again = clerk.post("/desk/export/demo", data={"csrf_token": token})
    assert again.status_code == 303 and "nothing_new" in again.location
    assert "Nothing new to export" in clerk.get(again.location).get_data(as_text=True)
    assert clerk.post("/desk/export/demo/1", data={"csrf_token": token}).get_data() == data  # byte for byte
    inbox = clerk.get("/desk/").get_data(as_text=True)
    assert "in bundle 1" in inbox and world.case_number not in inbox and world.receipt not in inbox
    # Once the viewer confirms it, the bundle is not handed out again.
    upload_replies(clerk, world.replies("c", confirmations=[{"sequence": 1, "sha256": manifest.sha256}]))
    refused_again = clerk.post("/desk/export/demo/1", data={"csrf_token": token})
    assert refused_again.status_code == 303 and "cannot_export_again" in refused_again.location


# --- retention -----------------------------------------------------------------------------------


def test_retention_deletes_ciphertext_after_confirmation_and_the_period(world, clerk):
    manifest = world.export()
    with world.session() as s:
        blob_ids = list(s.scalars(select(Part.blob_id).where(Part.data.is_(None))))  # in the blob store
        kept = s.scalar(select(func.count(Part.id)))  # and the small ones kept in their rows
    assert kept and all(world.store.exists(b) for b in blob_ids)
    with world.session() as s:  # exported but not yet confirmed: nothing is deleted, however late
        assert bundles.apply_retention(s, world.store, today() + dt.timedelta(days=3650)) == 0
    confirm = world.replies("c", confirmations=[{"sequence": manifest.sequence, "sha256": manifest.sha256}])
    assert upload_replies(clerk, confirm).status_code == 200  # the import runs retention too: too early yet
    assert all(world.store.exists(b) for b in blob_ids)
    days = 30
    with world.session() as s:
        assert s.scalar(select(Desk.retention_days).where(Desk.slug == "demo")) == days
        assert bundles.apply_retention(s, world.store, today() + dt.timedelta(days=days - 1)) == 0
        assert bundles.apply_retention(s, world.store, today() + dt.timedelta(days=days)) == 1
    with world.session() as s:
        sub = s.scalar(
            select(Submission).where(
                Submission.desk_id == s.scalar(select(Desk.id).where(Desk.slug == "demo"))
            )
        )
        assert sub.deleted_day == today() + dt.timedelta(days=days) and sub.parts == []
        assert s.scalar(select(func.count(Part.id))) == 0  # the rows, small envelopes in them with them
    assert not any(world.store.exists(b) for b in blob_ids)
    assert not any(p.name in blob_ids for p in world.cfg.blob_dir.rglob("*"))
    inbox = clerk.get("/desk/").get_data(as_text=True)
    assert "deleted on" in inbox and "Deleted after retention: 1." in inbox
    # The reporter still reads the answer: replies are not part of the retention of reports.
    assert "Thank you, we are checking." in world.reporter.check(world.receipt).get_data(as_text=True)


def test_two_exports_at_the_same_moment_do_not_crash(world, monkeypatch):
    """The second of two simultaneous exports is refused cleanly; the first one's bundle stands."""
    real_write = bundle.write
    inner = []

    def write_while_another_clerk_exports(*args, **kwargs):
        if not inner:
            inner.append(None)
            inner[0] = world.export()  # the other clerk, finishing first
        return real_write(*args, **kwargs)

    monkeypatch.setattr(bundle, "write", write_while_another_clerk_exports)
    with pytest.raises(bundles.NothingToExport, match="same moment"):
        world.export()
    with world.session() as s:
        assert s.scalars(select(ExportLog.sequence)).all() == [inner[0].sequence]
