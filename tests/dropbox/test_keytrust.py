"""Desks do not trust each other (DESIGN.md invariant 8, docs/key-trust.md): a desk that has officers
takes a new recipient only with a key statement signed by one of them; per-desk admins stay on their
desk; statements replayed, foreign or forged are refused; a rotation carries the key's place over; and
every change reaches the desk's next export manifest. On SQLite and PostgreSQL."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import select

import crypto
from crypto import bundle
from crypto import statement as st
from crypto.bundle import BundleError
from dropbox import bundles, cli, config, create_app, db, intake
from dropbox.models import AuditEntry, Category, Desk, KeyChange, Officer, Part, Submission
from tests.desk_helpers import add_user, csrf, login, officer_identity

INTERNAL = "demo-internal"


@pytest.fixture
def app(instance):
    app = create_app(config.load(instance))
    yield app
    app.extensions["sealdrop.engine"].dispose()


def client_of(app, instance, desk: str | None = None):
    client = app.test_client()
    name, secret = add_user(instance, "admin", desk=desk)
    assert login(client, name, secret).status_code == 303
    return client


def post(client, url: str, data: dict, page: str = "/desk/admin/officers"):
    token = csrf(client.get(page).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data}, content_type="multipart/form-data")


def rows(app, query):
    with app.app_context():
        session = db.session()
        found = session.scalars(query).all()
        session.expunge_all()
        return found


def officer(app, key: crypto.PublicKey) -> Officer | None:
    found = rows(app, select(Officer).where(Officer.key_id == st.key_id_of(key)))
    return found[0] if found else None


def recipient_ids(app, desk: str = INTERNAL) -> set[str]:
    with app.app_context():
        category = db.session().scalar(
            select(Category).join(Desk, Desk.id == Category.desk_id).where(Desk.slug == desk)
        )
        return {o.key_id for o in category.recipients()}


def statement(signer: crypto.Identity, action: str, subject: crypto.PublicKey, desk: str = INTERNAL, name=""):
    return st.sign(signer.signing_key, signer.public_key, desk, action, subject, name=name)


def apply_page(client, desk: str, made: st.Statement | str):
    text = made if isinstance(made, str) else made.encode()
    return post(client, "/desk/admin/officers/statement", {"desk": desk, "statement_text": text})


def test_a_global_admin_cannot_make_a_key_a_recipient_of_a_desk_with_officers(
    app, instance, tmp_path, capsys
):
    admin = client_of(app, instance)
    stranger = crypto.Identity.generate()
    registered = post(
        admin,
        "/desk/admin/officers",
        {"desk": INTERNAL, "name": "Planted", "key_text": stranger.public_key.encode()},
    )
    assert registered.status_code == 303 and "msg=registered_pending" in registered.location
    page = admin.get(registered.location).get_data(as_text=True)
    assert 'id="needs-statement"' in page and "read_back" not in page  # no phone confirmation offered
    ident = officer(app, stranger.public_key).id
    refused = post(
        admin, f"/desk/admin/officers/{ident}/confirm", {"read_back": "yes"}, page=registered.location
    )
    assert refused.status_code == 409 and "key statement" in refused.get_data(as_text=True)
    assert st.key_id_of(stranger.public_key) not in recipient_ids(app)
    assert not officer(app, stranger.public_key).confirmed
    # The CLI is held to the same rule: --confirmed and confirm are refused, nothing is left half-done.
    d = str(instance)
    other = crypto.Identity.generate()
    pub = tmp_path / "other.pub"
    pub.write_text(other.public_key.to_file_text())
    assert cli.main(["officer", "add", "--desk", INTERNAL, "--confirmed", str(pub), "--dir", d]) == 1
    assert "key statement" in capsys.readouterr().err
    assert officer(app, other.public_key) is None
    assert cli.main(["officer", "confirm", str(ident), "--dir", d]) == 1
    assert "key statement" in capsys.readouterr().err
    assert st.key_id_of(stranger.public_key) not in recipient_ids(app)
    # What was registered is recorded as done by the admin alone.
    changes = rows(app, select(KeyChange).where(KeyChange.key_id == st.key_id_of(stranger.public_key)))
    assert [(c.action, c.by_officer) for c in changes] == [("registered", False)]
    # The desk's own officer admits it: now, and only now, it is a recipient.
    internal = officer_identity(instance, "demo-internal-officer.identity")
    applied = apply_page(admin, INTERNAL, statement(internal, "admit", stranger.public_key, name="Colleague"))
    assert applied.status_code == 303 and "msg=statement_admit" in applied.location
    assert st.key_id_of(stranger.public_key) in recipient_ids(app)
    assert officer(app, stranger.public_key).name == "Colleague"


def test_a_new_desk_takes_its_first_key_from_the_admin_by_fingerprint(app, instance, tmp_path):
    d = str(instance)
    assert cli.main(["desk", "add", "fresh", "--name", "en=Fresh", "--dir", d]) == 0
    first, second = crypto.Identity.generate(), crypto.Identity.generate()
    for n, who in enumerate((first, second)):
        (tmp_path / f"{n}.pub").write_text(who.public_key.to_file_text())
    assert (
        cli.main(["officer", "add", "--desk", "fresh", "--confirmed", str(tmp_path / "0.pub"), "--dir", d])
        == 0
    )
    assert officer(app, first.public_key).confirmed  # trust on first use
    assert (
        cli.main(["officer", "add", "--desk", "fresh", "--confirmed", str(tmp_path / "1.pub"), "--dir", d])
        == 1
    )
    # Retiring the only key does not reopen the bootstrap: the desk had an officer.
    assert cli.main(["officer", "retire", str(officer(app, first.public_key).id), "--force", "--dir", d]) == 0
    assert cli.main(["officer", "add", "--desk", "fresh", str(tmp_path / "1.pub"), "--dir", d]) == 0
    assert cli.main(["officer", "confirm", str(officer(app, second.public_key).id), "--dir", d]) == 1
    assert not officer(app, second.public_key).confirmed


def test_a_desk_admin_administers_its_own_desk_only(app, instance):
    mine = client_of(app, instance, desk="demo")
    inbox = mine.get("/desk/").get_data(as_text=True)
    assert 'id="inbox-demo"' in inbox and f'id="inbox-{INTERNAL}"' not in inbox
    assert post(mine, f"/desk/export/{INTERNAL}/make", {}, page="/desk/").status_code == 404
    listing = mine.get("/desk/admin/officers").get_data(as_text=True)
    assert "Demo officer" in listing and "Demo internal-security officer" not in listing
    key = crypto.Identity.generate().public_key.encode()
    assert (
        post(mine, "/desk/admin/officers", {"desk": INTERNAL, "name": "x", "key_text": key}).status_code
        == 403
    )
    theirs = rows(app, select(Officer).join(Desk).where(Desk.slug == INTERNAL))[0]
    assert mine.get(f"/desk/admin/officers/{theirs.id}").status_code == 403
    assert post(mine, f"/desk/admin/officers/{theirs.id}/remove", {}).status_code == 403
    category = rows(
        app, select(Category).join(Desk, Desk.id == Category.desk_id).where(Desk.slug == INTERNAL)
    )[0]
    assert mine.get(f"/desk/admin/categories/{category.id}").status_code == 403
    assert mine.get(f"/desk/admin/desks/{INTERNAL}").status_code == 403
    assert (
        post(mine, "/desk/admin/desks", {"slug": "mine2", "name_en": "x", "retention_days": "5"}).status_code
        == 403
    )
    internal = officer_identity(instance, "demo-internal-officer.identity")
    made = statement(internal, "admit", crypto.Identity.generate().public_key)
    assert apply_page(mine, INTERNAL, made).status_code == 403
    # Its own desk it does administer: a key registered there is pending, as with the global admin.
    own = post(mine, "/desk/admin/officers", {"desk": "demo", "name": "New", "key_text": key})
    assert own.status_code == 303 and "registered_pending" in own.location
    assert "Demo internal-security officer" not in mine.get("/desk/admin/users").get_data(as_text=True)
    assert 'id="add-desk"' not in mine.get("/desk/admin/desks").get_data(as_text=True)
    assert "retention/apply" not in mine.get("/desk/admin/retention").get_data(as_text=True)


def test_statements_signed_by_another_desk_or_nobody_replayed_or_altered_are_refused(
    app, instance, tmp_path, capsys
):
    admin = client_of(app, instance)
    demo_officer = officer_identity(instance)
    internal = officer_identity(instance, "demo-internal-officer.identity")
    newcomer = crypto.Identity.generate().public_key
    cases = {
        "signed by an officer of another desk": statement(demo_officer, "admit", newcomer),
        "signed by nobody the desk knows": statement(crypto.Identity.generate(), "admit", newcomer),
    }
    for what, made in cases.items():
        response = apply_page(admin, INTERNAL, made)
        assert response.status_code == 400, what
    assert "another desk" in apply_page(
        admin, INTERNAL, cases["signed by an officer of another desk"]
    ).get_data(as_text=True)
    # Signed by the right officer, but for the other desk: refused on this one.
    wrong_desk = statement(internal, "admit", newcomer, desk="demo")
    assert "not demo-internal" in apply_page(admin, INTERNAL, wrong_desk).get_data(as_text=True)
    good = statement(internal, "admit", newcomer)
    line = good.encode().splitlines()[2]
    altered = good.encode().replace(line, line[:-4] + ("AAAA" if not line.endswith("AAAA") else "BBBB"))
    assert "does not verify" in apply_page(admin, INTERNAL, altered).get_data(as_text=True)
    assert "truncated" in apply_page(admin, INTERNAL, line[:-30]).get_data(as_text=True)
    assert st.key_id_of(newcomer) not in recipient_ids(app)
    # Applied once from a file with the CLI; the same file again (a replay) is refused.
    path = tmp_path / "admit.statement"
    path.write_text(good.encode())
    d = str(instance)
    assert cli.main(["officer", "statement", "--desk", INTERNAL, str(path), "--dir", d]) == 0
    assert "Confirmed by officer key" in capsys.readouterr().out
    assert cli.main(["officer", "statement", "--desk", INTERNAL, str(path), "--dir", d]) == 1
    assert "already applied" in capsys.readouterr().err
    assert "already applied" in apply_page(admin, INTERNAL, good).get_data(as_text=True)
    assert st.key_id_of(newcomer) in recipient_ids(app)
    changes = rows(app, select(KeyChange).where(KeyChange.key_id == st.key_id_of(newcomer)))
    assert [(c.action, c.by_officer, c.actor) for c in changes] == [
        ("confirmed", True, f"officer {st.key_id_of(internal.public_key)[:16]}")
    ]


def _last_report_sealed_to(app) -> list[bytes]:
    store = app.extensions["sealdrop.blobs"]
    with app.app_context():
        part = db.session().scalars(select(Part).join(Submission).order_by(Part.id.desc())).first()
        with intake.open_part(store, part) as f:
            return crypto.recipient_key_ids(f)


def test_rotation_needs_the_old_key_and_then_seals_to_the_new_key_only(
    app, instance, reporter, tmp_path, capsys
):
    old = officer_identity(instance)
    new = crypto.Identity.generate()
    d = str(instance)
    # Give the old key a reply chain and an explicit category, both of which must carry over.
    with app.app_context():
        session = db.session()
        row = session.scalar(select(Officer).where(Officer.key_id == st.key_id_of(old.public_key)))
        row.reply_sequence, row.reply_sha256 = 4, "ab" * 32
        drugs = session.scalar(select(Category).where(Category.slug == "drugs"))
        drugs.officers = [row]
        session.commit()
    # Not signed by the old key: refused, whatever it claims.
    forged = statement(new, "rotate", new.public_key, desk="demo")  # signed by the new key itself
    claims_old = st.sign(new.signing_key, new.public_key, "demo", "rotate", new.public_key)
    fake_signer = claims_old.body.replace(
        st.key_id_of(new.public_key).encode(), st.key_id_of(old.public_key).encode()
    )
    for text in (
        forged.encode(),
        st.Statement(**{**claims_old.__dict__, "body": fake_signer}).encode(),
    ):
        path = tmp_path / "rotate.statement"
        path.write_text(text)
        assert cli.main(["officer", "statement", "--desk", "demo", str(path), "--dir", d]) == 1
    capsys.readouterr()
    assert officer(app, new.public_key) is None and not officer(app, old.public_key).retired
    # Signed by the old key: the new key takes its place.
    path.write_text(statement(old, "rotate", new.public_key, desk="demo").encode())
    assert cli.main(["officer", "statement", "--desk", "demo", str(path), "--dir", d]) == 0
    assert "Rotated by officer key" in capsys.readouterr().out
    before, after = officer(app, old.public_key), officer(app, new.public_key)
    assert before.retired and before.successor_id == after.id
    assert after.confirmed and not after.retired and after.name == before.name
    assert (after.reply_sequence, after.reply_sha256) == (4, "ab" * 32)
    with app.app_context():
        drugs = db.session().scalar(select(Category).where(Category.slug == "drugs"))
        assert {o.key_id for o in drugs.officers} == {before.key_id, after.key_id}
        assert {o.key_id for o in drugs.recipients()} == {after.key_id}
    # A report made now is sealed to the new key only.
    assert reporter.submit().status_code in (200, 303)
    assert _last_report_sealed_to(app) == [new.public_key.recipient.key_id]


def test_key_changes_and_recipients_ride_in_the_next_export_once(app, instance, reporter):
    admin = client_of(app, instance)
    planted = crypto.Identity.generate().public_key
    post(admin, "/desk/admin/officers", {"desk": "demo", "name": "Planted", "key_text": planted.encode()})
    assert reporter.submit().status_code in (200, 303)
    store, key = app.extensions["sealdrop.blobs"], crypto.SigningKey.load(instance / "server-signing.key")
    with app.app_context():
        session = db.session()
        desk = session.scalar(select(Desk).where(Desk.slug == "demo"))
        manifest = bundles.export(session, store, desk, key, io.BytesIO())
        again = io.BytesIO()
        assert bundles.export_again(session, store, desk, 1, key, again).sha256 == manifest.sha256
    changes = manifest.data["key_changes"]
    assert [(c["action"], c["name"], c["by_officer"], c["fingerprint"]) for c in changes] == [
        ("registered", "Planted", False, planted.fingerprint)
    ]
    assert [r["name"] for r in manifest.data["recipients"]] == ["Demo officer"]
    assert reporter.submit().status_code in (200, 303)
    with app.app_context():
        session = db.session()
        desk = session.scalar(select(Desk).where(Desk.slug == "demo"))
        second = bundles.export(session, store, desk, key, io.BytesIO())
    assert second.data["key_changes"] == []


def _reply_bundle(path: Path, signer: crypto.Identity, statements: list[str], sequence=1, previous=None):
    fields = {
        "desk": "demo", "officer": st.key_id_of(signer.public_key), "sequence": sequence,
        "previous": previous, "created_day": "2026-12-06", "confirmations": [], "key_statements": statements,
    }  # fmt: skip
    with open(path, "wb") as f:
        return bundle.write(f, "replies", fields, [], signer.signing_key)


def test_a_rotation_in_a_reply_bundle_carries_the_chain_to_the_new_key(app, instance, tmp_path):
    old, new = officer_identity(instance), crypto.Identity.generate()
    store = app.extensions["sealdrop.blobs"]
    rotate = statement(old, "rotate", new.public_key, desk="demo")
    foreign = statement(
        officer_identity(instance, "demo-internal-officer.identity"), "admit", new.public_key, "demo"
    )
    with app.app_context():
        # A bundle whose statement is not signed by the bundle's signer is refused whole.
        bad = _reply_bundle(tmp_path / "bad.bundle", old, [foreign.encode()])
        with pytest.raises(BundleError) as info:
            bundles.import_replies(db.session(), store, tmp_path / "bad.bundle")
        assert info.value.reason == "key_statement" and bad.sequence == 1
        # A colleague admitted in the same bundle, signed by the key the rotation retires: applied first.
        colleague = crypto.Identity.generate().public_key
        admit = statement(old, "admit", colleague, desk="demo", name="Colleague")
        first = _reply_bundle(tmp_path / "1.bundle", old, [rotate.encode(), admit.encode()])
        bundles.import_replies(db.session(), store, tmp_path / "1.bundle")
        # The same bundle again is a replay of the chain; the next one is signed by the new key.
        with pytest.raises(BundleError):
            bundles.import_replies(db.session(), store, tmp_path / "1.bundle")
        _reply_bundle(tmp_path / "2.bundle", new, [], sequence=2, previous=first.sha256)
        bundles.import_replies(db.session(), store, tmp_path / "2.bundle")
    assert officer(app, old.public_key).retired and officer(app, new.public_key).reply_sequence == 2
    assert officer(app, colleague).confirmed and officer(app, colleague).name == "Colleague"
    logged = rows(
        app, select(AuditEntry.action).where(AuditEntry.action.like("key_%")).order_by(AuditEntry.id)
    )
    assert logged == ["key_admit", "key_rotate"]


def test_a_rotation_applied_from_a_file_first_then_arriving_in_the_bundle(app, instance, tmp_path, capsys):
    old, new = officer_identity(instance), crypto.Identity.generate()
    rotate = statement(old, "rotate", new.public_key, desk="demo")
    path = tmp_path / "rotate.statement"
    path.write_text(rotate.encode())
    assert cli.main(["officer", "statement", "--desk", "demo", str(path), "--dir", str(instance)]) == 0
    store = app.extensions["sealdrop.blobs"]
    with app.app_context():
        # The viewer's queued bundle still carries it, signed by the old key: the same bytes are
        # skipped, not refused as a replay, and both keys' chains move on.
        first = _reply_bundle(tmp_path / "1.bundle", old, [rotate.encode()])
        bundles.import_replies(db.session(), store, tmp_path / "1.bundle")
        second = _reply_bundle(tmp_path / "2.bundle", new, [], sequence=2, previous=first.sha256)
        bundles.import_replies(db.session(), store, tmp_path / "2.bundle")
        # A different statement with a nonce already used is a replay even inside a bundle.
        again = st.sign(
            new.signing_key,
            new.public_key,
            "demo",
            "retire",
            old.public_key,
            nonce=bytes.fromhex(rotate.nonce),
        )
        _reply_bundle(tmp_path / "3.bundle", new, [again.encode()], sequence=3, previous=second.sha256)
        with pytest.raises(BundleError) as info:
            bundles.import_replies(db.session(), store, tmp_path / "3.bundle")
        assert info.value.reason == "key_statement" and "already applied" in str(info.value)
    assert officer(app, new.public_key).reply_sequence == 2 and not officer(app, new.public_key).retired


def test_routing_a_category_to_another_desk_is_recorded_for_both_desks(app, instance):
    admin = client_of(app, instance)
    (drugs,) = rows(app, select(Category).where(Category.slug == "drugs"))
    page = f"/desk/admin/categories/{drugs.id}"
    moved = post(admin, page, {"name_en": "Drug dealing", "route": INTERNAL}, page=page)
    assert moved.status_code == 303
    changes = rows(app, select(KeyChange).where(KeyChange.action == "routing").order_by(KeyChange.id))
    desks = {d.id: d.slug for d in rows(app, select(Desk))}
    assert [(desks[c.desk_id], c.by_officer) for c in changes] == [("demo", False), (INTERNAL, False)]
    assert "drugs -> demo-internal" in changes[0].detail
    # A desk admin of demo may not send its reports to a desk it does not administer.
    mine = client_of(app, instance, desk="demo")
    (noise,) = rows(app, select(Category).where(Category.slug == "noise"))
    page = f"/desk/admin/categories/{noise.id}"
    assert post(mine, page, {"name_en": "Noise", "route": INTERNAL}, page=page).status_code == 400
