"""Key trust across the air gap with real bundles on both sides (docs/key-trust.md): an officer rotates
their key in sealview, the reply bundle carries the signed statement, the desk applies it, and reports
sealed before and after both open in the same vault; a colleague admitted with `confirm-key` becomes
a recipient; a key change an admin made alone reaches the viewer as a warning after the next export.

This test imports dropbox: it is a test, not viewer code (tests/viewer/test_offline.py checks that).
"""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
from sqlalchemy import select

import crypto
from crypto import statement
from dropbox import bundles, config, create_app, db, intake
from dropbox import cli as sealdrop
from dropbox.blobs import FileBlobStore
from dropbox.models import Desk, Officer, Part, Submission
from tests.dropbox.conftest import Reporter
from tests.helpers import jpeg_with_exif, make_instance
from viewer import cli, keytrust, media
from viewer.errors import ViewerError
from viewer.vault import Vault
from viewer.web import create_app as viewer_app


@pytest.fixture
def site(tmp_path, monkeypatch):
    instance = make_instance(tmp_path / "instance")
    app = create_app(config.load(instance))
    monkeypatch.setenv("SEALDROP_PASSPHRASE", "")  # the demo officer's identity: empty passphrase, DEMO ONLY
    yield instance, app
    app.extensions["sealdrop.engine"].dispose()


def sealview(vault, *args) -> int:
    return cli.main(["--vault", str(vault), *args])


def export(instance, out) -> bundles.bundle.Manifest:
    cfg = config.load(instance)
    with db.standalone_session(cfg.database_url) as s, open(out, "wb") as f:
        desk = s.scalar(select(Desk).where(Desk.slug == "demo"))
        manifest = bundles.export(
            s,
            FileBlobStore(cfg.blob_dir),
            desk,
            crypto.SigningKey.load(instance / config.SIGNING_KEY_FILE),
            f,
        )
        s.bind.dispose()
    return manifest


def import_replies(instance, path) -> None:
    cfg = config.load(instance)
    with db.standalone_session(cfg.database_url) as s:
        bundles.import_replies(s, FileBlobStore(cfg.blob_dir), path)
        s.bind.dispose()


def officers(instance) -> dict[str, Officer]:
    cfg = config.load(instance)
    with db.standalone_session(cfg.database_url) as s:
        found = {o.key_id: o for o in s.scalars(select(Officer))}
        s.expunge_all()
        s.bind.dispose()
    return found


def last_sealed_to(app) -> list[bytes]:
    store = app.extensions["sealdrop.blobs"]
    with app.app_context():
        part = db.session().scalars(select(Part).join(Submission).order_by(Part.id.desc())).first()
        with intake.open_part(store, part) as f:
            return crypto.recipient_key_ids(f)


def new_vault(instance, vault, capsys) -> None:
    assert sealview(vault, "init", "--identity", str(instance / "demo-officer.identity"),
                    "--server-key", str(instance / "server-signing.pub"), "--desk", "demo") == 0  # fmt: skip
    capsys.readouterr()


def test_rotate_in_the_viewer_and_reports_from_before_and_after_open(site, tmp_path, capsys):
    instance, app = site
    reporter = Reporter(app.test_client())
    photo = jpeg_with_exif()
    assert reporter.submit(
        {"what": "Before the rotation"}, files=[(io.BytesIO(photo), "p.jpg", "image/jpeg")]
    )
    export(instance, tmp_path / "e1.bundle")
    vault = tmp_path / "vault"
    new_vault(instance, vault, capsys)
    assert sealview(vault, "import", str(tmp_path / "e1.bundle")) == 0
    old = crypto.Identity.load(instance / "demo-officer.identity", "")

    # Rotate: a new identity in the same vault; the statement is queued and also written out.
    assert sealview(vault, "rotate", "--statement-out", str(tmp_path / "rotate.statement")) == 0
    out = capsys.readouterr().out
    with Vault.open(vault, "") as v:
        new_fp = v.officer.fingerprint
        assert new_fp != old.fingerprint and new_fp in out
        assert len(v.decryption_keys) == 2
    assert crypto.PublicKey.load(vault / "officer.pub").fingerprint == new_fp
    assert crypto.PublicKey.load(vault / "officer-previous-1.pub") == old.public_key
    written = statement.parse((tmp_path / "rotate.statement").read_text())
    written.verify(old.public_key)
    assert written.action == "rotate" and written.subject.fingerprint == new_fp
    assert sealview(vault, "rotate") == 1  # one rotation at a time: the first must reach the desk
    assert "waits to be sent" in capsys.readouterr().err

    # The next reply bundle carries it, signed by the old key (the one the desk knows).
    assert sealview(vault, "export-replies", "-o", str(tmp_path / "r1.bundle")) == 0
    with open(tmp_path / "r1.bundle", "rb") as f:
        manifest = crypto.bundle.read_manifest(f, "replies", [old.public_key.verify_key])
    assert manifest.data["key_statements"] == [written.encode()]
    import_replies(instance, tmp_path / "r1.bundle")
    new_id = statement.key_id_of(written.subject)
    known = officers(instance)
    assert known[new_id].confirmed and not known[new_id].retired
    assert known[statement.key_id_of(old.public_key)].retired
    assert (known[new_id].reply_sequence, known[new_id].reply_sha256) == (1, manifest.sha256)

    # A report made now is sealed to the new key only; both open in the same vault.
    assert reporter.submit({"what": "After the rotation"})
    assert last_sealed_to(app) == [written.subject.recipient.key_id]
    e2 = export(instance, tmp_path / "e2.bundle")
    assert [(c["action"], c["by_officer"]) for c in e2.data["key_changes"]] == [
        ("rotated", True),
        ("retired", True),
    ]
    assert [r["key_id"] for r in e2.data["recipients"]] == [new_id]
    assert sealview(vault, "import", str(tmp_path / "e2.bundle")) == 0
    assert "warning" not in capsys.readouterr().out  # everything was signed by the desk's officer
    assert sealview(vault, "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert {r["excerpt"] for r in listed} == {"Before the rotation", "After the rotation"}
    assert all(r["readable"] for r in listed)
    with Vault.open(vault, "") as v:
        row = v.db.execute("SELECT * FROM attachments WHERE opened").fetchone()
        assert media.plaintext(v, row, 10**7)  # sealed to the old key, opened now
    # Forwarded to the police, the case file holds the photo sealed to the old key too.
    before = next(r["number"] for r in listed if r["excerpt"] == "Before the rotation")
    police = crypto.Identity.generate()
    (tmp_path / "police.pub").write_text(police.public_key.to_file_text())
    sealed = tmp_path / "case.sealed"
    assert sealview(vault, "forward", before, "--to", str(tmp_path / "police.pub"), "-o", str(sealed)) == 0
    with zipfile.ZipFile(io.BytesIO(crypto.unseal_bytes(sealed.read_bytes(), [police.decryption_key]))) as z:
        assert any(z.read(n) for n in z.namelist() if n.endswith(".jpg"))

    # The next reply bundle is signed by the new key, and the desk takes it.
    number = next(r["number"] for r in listed if r["excerpt"] == "After the rotation")
    assert sealview(vault, "reply", number, "--text", "Thank you") == 0
    assert sealview(vault, "export-replies", "-o", str(tmp_path / "r2.bundle")) == 0
    with open(tmp_path / "r2.bundle", "rb") as f:
        second = crypto.bundle.read_manifest(f, "replies", [written.subject.verify_key])
    assert second.data["officer"] == new_id and "key_statements" not in second.data
    import_replies(instance, tmp_path / "r2.bundle")
    assert officers(instance)[new_id].reply_sequence == 2


def test_an_admin_alone_adds_a_key_and_the_officer_is_warned_then_admits_a_colleague(site, tmp_path, capsys):
    instance, app = site
    reporter = Reporter(app.test_client())
    assert reporter.submit({"what": "First"})
    export(instance, tmp_path / "e1.bundle")
    vault = tmp_path / "vault"
    new_vault(instance, vault, capsys)
    assert sealview(vault, "import", str(tmp_path / "e1.bundle")) == 0
    capsys.readouterr()

    colleague = crypto.Identity.generate()
    pub = tmp_path / "ivanova.pub"
    pub.write_text(colleague.public_key.to_file_text())
    assert (
        sealdrop.main(
            ["officer", "add", "--desk", "demo", "--name", "Ivanova", str(pub), "--dir", str(instance)]
        )
        == 0
    )
    capsys.readouterr()
    assert reporter.submit({"what": "Second"})
    export(instance, tmp_path / "e2.bundle")
    assert sealview(vault, "--lang", "ru", "import", str(tmp_path / "e2.bundle")) == 0
    out = capsys.readouterr().out
    assert "Ivanova" in out and colleague.fingerprint in out and re.search(r"^\S+: .*cli", out, re.M)
    assert sealview(vault, "config") == 0
    shown = capsys.readouterr().out
    assert "Demo officer" in shown and "Ivanova" in shown and "warning" in shown  # pending, not a recipient
    assert shown.index("Demo officer") < shown.index("warning")

    # The UI shows the warning on the inbox and the dashboard until the officer marks it read.
    with Vault.open(vault, "", write=True) as v:
        app_ui = viewer_app(v, "s3cret", hosts={"127.0.0.1:8765"})
        c = app_ui.test_client()
        base = {"base_url": "http://127.0.0.1:8765"}
        assert c.get("/?token=s3cret", **base).status_code == 303
        for page in ("/", "/dashboard"):
            html = c.get(page, **base).get_data(as_text=True)
            assert 'id="key-warnings"' in html and "Ivanova" in html, page
        keys = c.get("/keys", **base).get_data(as_text=True)
        assert colleague.fingerprint in keys and 'id="desk-recipients-demo"' in keys
        token = re.search(r'name="csrf" value="([^"]+)"', keys).group(1)
        assert c.post("/keys/seen", data={"csrf": token}, **base).status_code == 303
        assert 'id="key-warnings"' not in c.get("/", **base).get_data(as_text=True)
        assert "Ivanova" in c.get("/keys", **base).get_data(as_text=True)  # still listed, no longer a warning

    # The officer admits the colleague: the next reply bundle carries it and the desk applies it.
    assert sealview(vault, "confirm-key", str(pub), "--name", "Ivanova") == 1  # asked, no answer: refused
    assert sealview(vault, "confirm-key", str(pub), "--name", "Ivanova", "--yes") == 0
    assert sealview(vault, "export-replies", "-o", str(tmp_path / "r1.bundle")) == 0
    import_replies(instance, tmp_path / "r1.bundle")
    assert officers(instance)[statement.key_id_of(colleague.public_key)].confirmed
    assert reporter.submit({"what": "Third"})
    assert sorted(last_sealed_to(app)) == sorted(
        [
            colleague.public_key.recipient.key_id,
            crypto.Identity.load(instance / "demo-officer.identity", "").public_key.recipient.key_id,
        ]
    )
    e3 = export(instance, tmp_path / "e3.bundle")
    assert [(c["action"], c["by_officer"]) for c in e3.data["key_changes"]] == [("confirmed", True)]


def test_key_statements_in_a_tampered_or_foreign_reply_bundle_are_refused_whole(site, tmp_path, capsys):
    instance, _app = site
    vault = tmp_path / "vault"
    new_vault(instance, vault, capsys)
    internal = crypto.Identity.load(instance / "demo-internal-officer.identity", "")
    foreign = statement.sign(
        internal.signing_key, internal.public_key, "demo", "admit", crypto.Identity.generate().public_key
    )
    with Vault.open(vault, "", write=True) as v, v.change() as dbc:
        keytrust._queue(v, dbc, foreign, internal)
    assert sealview(vault, "export-replies", "-o", str(tmp_path / "r1.bundle")) == 0
    with pytest.raises(crypto.bundle.BundleError) as info:
        import_replies(instance, tmp_path / "r1.bundle")
    assert info.value.reason == "key_statement"
    demo_officer = officers(instance)
    assert all(o.reply_sequence == 0 for o in demo_officer.values())  # nothing of the bundle was kept


def test_a_server_claiming_an_officer_signed_is_checked_by_the_viewer(tmp_path):
    """The server signs the manifest but says on its own word which changes an officer signed: the
    viewer checks the statement behind each one, and a recipient nothing explains is a warning too."""
    from tests.viewer.bundles import Submission, report_doc
    from tests.viewer.conftest import make_vault
    from viewer import importer

    vault, officer, server = make_vault(tmp_path / "vault")
    planted, stranger = crypto.Identity.generate(), crypto.Identity.generate()
    forged = statement.sign(stranger.signing_key, stranger.public_key, "demo", "admit", planted.public_key)
    own = statement.sign(officer.signing_key, officer.public_key, "demo", "admit", planted.public_key)
    line = own.encode().splitlines()[2]
    altered = own.encode().replace(line, line[:60] + ("A" if line[60] != "A" else "B") + line[61:])

    def change(**extra):
        return {"day": "2026-12-06", "action": "confirmed", "key_id": statement.key_id_of(planted.public_key),
                "fingerprint": planted.fingerprint, "name": "Planted", "detail": "", "by": "officer x",
                "by_officer": True, **extra}  # fmt: skip

    def recipient(who: crypto.Identity, name: str) -> dict:
        return {"key_id": statement.key_id_of(who.public_key), "fingerprint": who.fingerprint, "name": name,
                "public_key": who.public_key.encode()}  # fmt: skip

    cases = [
        ([change()], "no statement at all"),
        ([change(statement=forged.encode())], "signed by a key the vault does not know"),
        ([change(statement=altered)], "altered after it was signed"),
        ([], "no change at all, only a new recipient"),
    ]
    try:
        for i, (changes, why) in enumerate(cases):
            server.extra = {
                "key_changes": changes,
                "recipients": [recipient(officer, "Me"), recipient(planted, "Planted")],
            }
            server.bundle(tmp_path / f"{i}.bundle", [Submission(f"KEYS-000{i}", report_doc("x"))])
            # Each time from the same recipients as before: forget what the previous one listed.
            with vault.change() as dbc:
                vault.set_meta(dbc, keytrust.RECIPIENTS, "{}")
            result = importer.import_bundle(vault, tmp_path / f"{i}.bundle")
            assert [w["fingerprint"] for w in result.key_warnings] == [planted.fingerprint], why
        # Signed by the officer's own key: checked, no warning.
        server.extra = {"key_changes": [change(statement=own.encode())],
                        "recipients": [recipient(officer, "Me"), recipient(planted, "Planted")]}  # fmt: skip
        server.bundle(tmp_path / "ok.bundle", [Submission("KEYS-0009", report_doc("x"))])
        with vault.change() as dbc:
            vault.set_meta(dbc, keytrust.RECIPIENTS, "{}")
        assert importer.import_bundle(vault, tmp_path / "ok.bundle").key_warnings == []
        assert "could not check" in keytrust.describe(keytrust.changes(vault)[0])
    finally:
        vault.close()


def test_a_rotation_tells_every_desk_and_each_desk_learns_it_in_its_own_bundle(tmp_path):
    from tests.viewer.conftest import make_vault
    from viewer import triage

    vault, officer, _server = make_vault(tmp_path / "vault")
    try:
        vault.pin(None, ["other"])
        new, made = keytrust.rotate(vault)
        assert sorted(s.desk for s in made) == ["demo", "other"]
        assert all(
            keytrust.reply_signer(vault, d).fingerprint == officer.fingerprint for d in ("demo", "other")
        )
        _path, manifest, _count = triage.export_replies(vault, "demo")
        assert manifest.data["officer"] == statement.key_id_of(officer.public_key)
        assert [statement.parse(t).desk for t in manifest.data["key_statements"]] == ["demo"]
        assert keytrust.reply_signer(vault, "demo").fingerprint == new.fingerprint  # sent: the new key now
        assert keytrust.reply_signer(vault, "other").fingerprint == officer.fingerprint  # not yet told
        with pytest.raises(ViewerError):
            keytrust.rotate(vault)  # "other" has not been told of the first rotation yet
    finally:
        vault.close()
