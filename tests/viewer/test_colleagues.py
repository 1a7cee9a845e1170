"""Two officers, two vaults, one desk (issue 14 item 4, docs/two-officers.md): officer A closes one
case and forwards another, writes a state bundle; officer B imports it and sees both, "by A" in the
history. A tampered, replayed, unknown-signer, wrong-desk or foreign state bundle is refused with a clear
error and changes nothing in B's vault."""

import json
from pathlib import Path

import pytest

import crypto
from crypto import Identity, bundle
from tests.viewer.bundles import Server, Submission, case_numbers, report_doc
from tests.viewer.conftest import PASSPHRASE
from tests.viewer.test_web import client, get
from viewer import cli, colleagues, forward, importer, statebundle, triage
from viewer.errors import Refused
from viewer.vault import Vault
from viewer.web import create_app


class Desk:
    """One server, one desk, two officers whose vaults imported the same export bundle."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.ids = {"A": Identity.generate(), "B": Identity.generate()}
        self.server = Server(self.ids["A"].public_key.recipient)
        self.cases = case_numbers(3)
        both = [i.public_key.recipient for i in self.ids.values()]
        subs = [Submission(n, report_doc(what=f"case {n}"), recipients=both) for n in self.cases]
        self.server.bundle(tmp / "export.bundle", subs)
        for who, identity in self.ids.items():
            with Vault.create(self.dir(who), PASSPHRASE, identity, name=f"Officer {who}") as v:
                v.pin(self.server.key.verify_key, ["demo"])
                importer.import_bundle(v, tmp / "export.bundle")

    def dir(self, who: str) -> Path:
        return self.tmp / f"vault-{who}"

    def vault(self, who: str) -> Vault:
        return Vault.open(self.dir(who), PASSPHRASE, write=True)

    def sealview(self, who: str, *argv) -> int:
        return cli.main(["--vault", str(self.dir(who)), *[str(a) for a in argv]])

    def keep(self, who: str, other: str, **kw) -> None:
        """`who` keeps `other` as a colleague, the fingerprint read aloud."""
        fp = kw.pop("fingerprint", self.ids[other].fingerprint)
        pub = self.dir(other) / "officer.pub"
        assert (
            self.sealview(who, "colleague", "add", pub, "--name", f"Officer {other}", "--fingerprint", fp)
            == 0
        )

    def snapshot(self, who: str) -> dict:
        """Everything a state import may change."""
        with Vault.open(self.dir(who), PASSPHRASE) as v:
            return {
                t: v.db.execute(f"SELECT * FROM state.{t} ORDER BY 1, 2").fetchall()
                for t in ("triage", "history", "forwards", "notes")
            } | {"colleagues": [tuple(c.__dict__.values()) for c in colleagues.listed(v)]}


@pytest.fixture
def desk(tmp_path, passphrase_env):
    return Desk(tmp_path)


def test_b_sees_what_a_closed_and_forwarded_by_a(desk, capsys):
    closed, forwarded, untouched = desk.cases
    desk.keep("A", "B")
    desk.keep("B", "A")
    police = Identity.generate().public_key
    with desk.vault("A") as a:
        triage.set_state(a, closed, "closed")
        forward.forward(a, forwarded, police, "District police")
        triage.add_note(a, closed, "Private hunch about the neighbour.")
    assert desk.sealview("A", "state", "export", "-o", desk.tmp / "state-1.bundle") == 0
    assert "state bundle demo #1 for Officer B" in capsys.readouterr().out
    assert desk.sealview("B", "state", "import", desk.tmp / "state-1.bundle") == 0
    assert "2 cases changed, 1 forwarding" in capsys.readouterr().out
    with desk.vault("B") as b:
        assert triage.state_of(b, closed) == ("closed", None)
        assert triage.state_of(b, forwarded) == ("forwarded", None)
        assert triage.state_of(b, untouched) == ("new", None)
        history = b.db.execute(
            "SELECT actor, action, detail FROM state.history WHERE case_number = ?", (closed,)
        ).fetchall()
        a_actor = f"Officer A ({desk.ids['A'].fingerprint})"
        assert (a_actor, "state", "closed") in [tuple(h) for h in history]
        forwards = b.db.execute("SELECT actor, recipient, fingerprint, file FROM state.forwards").fetchall()
        assert [tuple(f) for f in forwards] == [(a_actor, "District police", police.fingerprint, None)]
        notes = b.db.execute("SELECT count(*) FROM state.notes").fetchone()[0]
        assert notes == 0, "notes are private: they never travel"
    with desk.vault("B") as b:  # B's case page (the loopback UI) says it, under A's name
        page = get(client(create_app(b, "s3cret", hosts={"127.0.0.1:8765"})), f"/case/{forwarded}")
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and "forwarded to District police" in html
        assert f"by Officer A ({desk.ids['A'].fingerprint})." in html
    # Nothing new since: A has nothing to send, and B's merged changes are not B's to send back.
    assert desk.sealview("A", "state", "export", "-o", desk.tmp / "state-2.bundle") == 1
    assert "nothing to send" in capsys.readouterr().err and not (desk.tmp / "state-2.bundle").exists()
    assert desk.sealview("B", "state", "export", "-o", desk.tmp / "state-b.bundle") == 1


def test_the_later_change_wins_and_the_earlier_one_is_said(desk, capsys):
    case = desk.cases[0]
    desk.keep("A", "B")
    desk.keep("B", "A")
    with desk.vault("A") as a:
        triage.set_state(a, case, "credible")
        with a.change() as db:  # A was first
            db.execute("UPDATE state.triage SET updated_at = '2026-01-01T09:00+00:00'")
    assert desk.sealview("A", "state", "export", "-o", desk.tmp / "a1.bundle") == 0
    with desk.vault("B") as b:
        triage.set_state(b, case, "not credible")  # now: later than A's
    assert desk.sealview("B", "state", "import", desk.tmp / "a1.bundle") == 0
    assert f"case {case}: your own later change stays" in capsys.readouterr().out
    with desk.vault("B") as b:
        assert triage.state_of(b, case) == ("not credible", None)
    assert desk.sealview("B", "state", "export", "-o", desk.tmp / "b1.bundle") == 0
    capsys.readouterr()
    assert desk.sealview("A", "state", "import", desk.tmp / "b1.bundle") == 0
    out = capsys.readouterr().out
    assert "1 case changed" in out and "stays" not in out
    with desk.vault("A") as a:
        assert triage.state_of(a, case) == ("not credible", None)  # both settle on the later change


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def refused(desk: Desk, path: Path, capsys) -> str:
    """B imports `path`: refused with one clear line, and B's vault unchanged."""
    before = desk.snapshot("B")
    capsys.readouterr()
    assert desk.sealview("B", "state", "import", path) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert desk.snapshot("B") == before, "a refused state bundle changed something"
    with desk.vault("B") as b, pytest.raises(Refused) as info:
        statebundle.import_state(b, path)
    return info.value.reason


def test_bad_state_bundles_are_refused_and_change_nothing(desk, capsys):
    desk.keep("A", "B")
    desk.keep("B", "A")
    with desk.vault("A") as a:
        triage.set_state(a, desk.cases[0], "closed")
    good = desk.tmp / "good.bundle"
    assert desk.sealview("A", "state", "export", "-o", good) == 0
    data = good.read_bytes()
    damaged = {
        "item changed": (_flip(data, len(data) - 5), "tampered"),
        "manifest changed": (data.replace(b'"sequence": 1', b'"sequence": 2'), "bad_signature"),
        "truncated": (data[:-9], "truncated"),
        "bytes added": (data + b"\0", "tampered"),
        "not a bundle": (b"hello", "not_a_bundle"),
    }
    for label, (content, reason) in damaged.items():
        path = desk.tmp / "damaged.bundle"
        path.write_bytes(content)
        assert refused(desk, path, capsys) == reason, label

    # A stranger's bundle (an officer B never kept), and one of theirs that claims to be A's.
    desk.ids["C"] = Identity.generate()
    stranger = desk.tmp / "stranger.bundle"
    state_bundle(stranger, desk.ids["C"], desk.ids["B"])
    assert refused(desk, stranger, capsys) == "unknown_colleague"
    posing = desk.tmp / "posing.bundle"
    state_bundle(posing, desk.ids["C"], desk.ids["B"], officer=desk.ids["A"].fingerprint)
    assert refused(desk, posing, capsys) == "bad_signature"

    # Signed by A, but for a desk B does not share with A.
    other_desk = desk.tmp / "other-desk.bundle"
    state_bundle(other_desk, desk.ids["A"], desk.ids["B"], desk="elsewhere")
    assert refused(desk, other_desk, capsys) == "wrong_desk"

    # Signed by A, but sealed to someone else.
    not_for_b = desk.tmp / "not-for-b.bundle"
    state_bundle(not_for_b, desk.ids["A"], desk.ids["C"])
    assert refused(desk, not_for_b, capsys) == "not_for_you"

    # The good one imports; again, it is a replay.
    assert desk.sealview("B", "state", "import", good) == 0
    assert refused(desk, good, capsys) == "replayed"


def test_a_colleague_whose_fingerprint_was_misheard_is_not_kept(desk, capsys):
    wrong = "".join("1" if ch == "0" else "0" if ch.isdigit() else ch for ch in desk.ids["A"].fingerprint)
    pub = desk.dir("A") / "officer.pub"
    assert desk.sealview("B", "colleague", "add", pub, "--name", "Officer A", "--fingerprint", wrong) == 1
    assert "differs" in capsys.readouterr().err
    assert desk.sealview("B", "colleague", "list", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []


def state_bundle(path: Path, signer: Identity, to: Identity, *, desk="demo", officer=None) -> None:
    """A state bundle as `sealview state export` writes it, with the manifest's claims chosen."""
    fields = {
        "desk": desk,
        "officer": officer or signer.fingerprint,
        "sequence": 1,
        "previous": None,
        "created_at": "2026-01-01T10:00+00:00",
        "to": [to.fingerprint],
    }
    change = {"case": "X1", "state": "closed", "duplicate_of": None, "at": "2026-01-01T10:00+00:00"}
    item = path.with_suffix(".item")
    document = json.dumps({"states": [change], "forwards": []}).encode()
    item.write_bytes(crypto.seal_bytes(document, [to.public_key.recipient]))
    with open(path, "wb") as f:
        bundle.write(f, "state", fields, [({"content": "changes"}, item)], signer.signing_key)


def test_state_bundles_are_imported_in_order(desk, capsys):
    desk.keep("A", "B")
    desk.keep("B", "A")
    for i, (case, state) in enumerate([(desk.cases[0], "checking"), (desk.cases[1], "credible")], 1):
        with desk.vault("A") as a:
            triage.set_state(a, case, state)
        assert desk.sealview("A", "state", "export", "-o", desk.tmp / f"a{i}.bundle") == 0
    assert refused(desk, desk.tmp / "a2.bundle", capsys) == "withheld"
    assert desk.sealview("B", "state", "import", desk.tmp / "a1.bundle") == 0
    assert desk.sealview("B", "state", "import", desk.tmp / "a2.bundle") == 0
    with desk.vault("B") as b:
        assert triage.state_of(b, desk.cases[0])[0] == "checking"
        assert triage.state_of(b, desk.cases[1])[0] == "credible"


def test_after_a_rotation_the_new_key_starts_its_own_chain(desk, capsys):
    from viewer import keytrust

    desk.keep("A", "B")
    desk.keep("B", "A")
    with desk.vault("A") as a:
        triage.set_state(a, desk.cases[0], "checking")
    assert desk.sealview("A", "state", "export", "-o", desk.tmp / "a1.bundle") == 0
    assert desk.sealview("B", "state", "import", desk.tmp / "a1.bundle") == 0
    with desk.vault("A") as a:
        new, _statements = keytrust.rotate(a)
        triage.set_state(a, desk.cases[1], "credible")
    # B still seals to A's old key: A's vault opens it with the key it rotated away from.
    with desk.vault("B") as b:
        triage.set_state(b, desk.cases[2], "closed")
    assert desk.sealview("B", "state", "export", "-o", desk.tmp / "b1.bundle") == 0
    assert desk.sealview("A", "state", "import", desk.tmp / "b1.bundle") == 0
    # A's next bundle is signed by the new key: refused until B keeps it (a new name: one key per name).
    assert desk.sealview("A", "state", "export", "-o", desk.tmp / "a2.bundle") == 0
    assert refused(desk, desk.tmp / "a2.bundle", capsys) == "unknown_colleague"
    pub = desk.dir("A") / "officer.pub"
    args = ("colleague", "add", pub, "--name", "Officer A, new key", "--fingerprint", new.fingerprint)
    assert desk.sealview("B", *args) == 0
    assert desk.sealview("B", "state", "import", desk.tmp / "a2.bundle") == 0  # sequence 1 of the new key
    with desk.vault("B") as b:
        assert triage.state_of(b, desk.cases[1])[0] == "credible"


def _at(desk: Desk, who: str, case: str, at: str) -> None:
    """Set `who`'s current state of `case` to have been made at `at` (the same minute on both sides)."""
    with desk.vault(who) as v, v.change() as db:
        db.execute("UPDATE state.triage SET updated_at = ? WHERE case_number = ?", (at, case))


def test_a_change_made_after_reading_the_colleagues_wins_in_the_same_minute(desk, capsys):
    """High changes a case; Low imports it and changes it again within the minute. High's fingerprint
    would win a plain tie, but Low's change came after reading High's: both vaults settle on Low's."""
    case, minute = desk.cases[0], "2026-01-01T09:00+00:00"
    high, low = sorted(desk.ids, key=lambda who: desk.ids[who].fingerprint, reverse=True)
    desk.keep(high, low)
    desk.keep(low, high)
    with desk.vault(high) as v:
        triage.set_state(v, case, "checking")
    _at(desk, high, case, minute)
    assert desk.sealview(high, "state", "export", "-o", desk.tmp / "h1.bundle") == 0
    assert desk.sealview(low, "state", "import", desk.tmp / "h1.bundle") == 0
    with desk.vault(low) as v:
        triage.set_state(v, case, "credible")  # having read "checking"
    _at(desk, low, case, minute)
    assert desk.sealview(low, "state", "export", "-o", desk.tmp / "l1.bundle") == 0
    capsys.readouterr()
    assert desk.sealview(high, "state", "import", desk.tmp / "l1.bundle") == 0
    assert "1 case changed" in capsys.readouterr().out
    for who in (high, low):
        with desk.vault(who) as v:
            assert triage.state_of(v, case) == ("credible", None), who
    # Without having read the other's, the plain tie still goes to the higher fingerprint on both sides.
    other = desk.cases[1]
    for who, state in ((high, "closed"), (low, "not credible")):
        with desk.vault(who) as v:
            triage.set_state(v, other, state)
        _at(desk, who, other, minute)
    assert desk.sealview(high, "state", "export", "-o", desk.tmp / "h2.bundle") == 0
    assert desk.sealview(low, "state", "export", "-o", desk.tmp / "l2.bundle") == 0
    assert desk.sealview(low, "state", "import", desk.tmp / "h2.bundle") == 0
    assert desk.sealview(high, "state", "import", desk.tmp / "l2.bundle") == 0
    for who in (high, low):
        with desk.vault(who) as v:
            assert triage.state_of(v, other) == ("closed", None), who


def test_an_export_bundle_given_to_state_import_says_which_command_it_wants(desk, capsys):
    desk.keep("B", "A")
    assert refused(desk, desk.tmp / "export.bundle", capsys) == "wrong_kind"
    assert desk.sealview("B", "state", "import", desk.tmp / "export.bundle") == 1
    assert "this is an export bundle: import it with sealview import" in capsys.readouterr().err


def test_state_export_into_a_missing_folder_is_one_line_and_moves_nothing_on(desk, capsys):
    desk.keep("A", "B")
    with desk.vault("A") as a:
        triage.set_state(a, desk.cases[0], "closed")
    capsys.readouterr()
    assert desk.sealview("A", "state", "export", "-o", desk.tmp / "gone" / "a1.bundle") == 1
    assert capsys.readouterr().err == f"error: no such folder: {desk.tmp / 'gone'}\n"
    assert desk.sealview("A", "state", "export", "-o", desk.tmp / "a1.bundle") == 0  # still sequence 1
    assert "state bundle demo #1" in capsys.readouterr().out


def test_a_colleague_key_file_that_is_not_there_is_one_translated_line(desk, capsys):
    args = ("colleague", "add", desk.tmp / "petrova.pub", "--name", "Petrova", "--fingerprint", "1")
    assert desk.sealview("B", *args) == 1
    assert capsys.readouterr().err == f"error: no such file: {desk.tmp / 'petrova.pub'}\n"
    assert desk.sealview("B", "--lang", "bg", *args) == 1
    assert capsys.readouterr().err.startswith("грешка: няма такъв файл: ")


def test_importing_ones_own_state_bundle_says_so(desk, capsys):
    desk.keep("A", "B")
    with desk.vault("A") as a:
        triage.set_state(a, desk.cases[0], "closed")
    assert desk.sealview("A", "state", "export", "-o", desk.tmp / "a1.bundle") == 0
    capsys.readouterr()
    assert desk.sealview("A", "state", "import", desk.tmp / "a1.bundle") == 1
    assert "this is your own state bundle" in capsys.readouterr().err


def test_a_name_is_one_colleagues(desk, capsys):
    """The same key again is renamed; another key under a name already given is refused, as for
    police recipients (recipients.refuse_a_taken_name)."""
    desk.keep("B", "A")
    other = Identity.generate()
    (desk.tmp / "other.pub").write_text(other.public_key.to_file_text())
    argv = (
        "colleague",
        "add",
        desk.tmp / "other.pub",
        "--name",
        "officer a",
        "--fingerprint",
        other.fingerprint,
    )
    assert desk.sealview("B", *argv) == 1
    assert "is already given to the key" in capsys.readouterr().err
    with Vault.open(desk.dir("B"), PASSPHRASE) as v:
        assert [c.name for c in colleagues.listed(v)] == ["Officer A"]
