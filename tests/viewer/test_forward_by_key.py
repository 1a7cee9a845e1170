"""A forwarding is matched to the officer who made it by their key's fingerprint, not by the "Name
(fingerprint)" text recorded with it: a colleague kept again under another name still owns their earlier
forwardings (known when they arrive again, shown under the name they have now), and a vault written
before the fingerprint was kept apart (schema 2) still reads, the fingerprint read back from the text.
"""

from __future__ import annotations

import pytest

from crypto import Identity
from tests.viewer.conftest import PASSPHRASE
from tests.viewer.test_colleagues import Desk
from tests.viewer.test_web import client, get
from viewer import actors, colleagues, forward, schema, statemerge
from viewer.vault import Vault
from viewer.web import create_app


@pytest.fixture
def forwarded(tmp_path, passphrase_env):
    """A forwarded a case to the police; B imported A's state bundle, so B keeps A's forwarding."""
    desk = Desk(tmp_path)
    desk.keep("A", "B")
    desk.keep("B", "A")
    police = Identity.generate().public_key
    with desk.vault("A") as a:
        forward.forward(a, desk.cases[0], police, "District police")
    assert desk.sealview("A", "state", "export", "-o", tmp_path / "a1.bundle") == 0
    assert desk.sealview("B", "state", "import", tmp_path / "a1.bundle") == 0
    return desk


def as_it_arrived(v: Vault) -> dict:
    """B's record of A's forwarding, in the shape a state bundle carries it."""
    row = v.db.execute(
        "SELECT case_number, at, recipient, fingerprint, public_key FROM state.forwards"
    ).fetchone()
    return dict(zip(("case", "at", "recipient", "fingerprint", "public_key"), row, strict=True))


def rename(desk: Desk, who: str, other: str, name: str) -> colleagues.Colleague:
    """`who` keeps `other`'s key again under another name (colleagues.add renames the same key)."""
    with desk.vault(who) as v:
        return colleagues.add(v, desk.ids[other].public_key, name)


def record_again(desk: Desk, colleague: colleagues.Colleague) -> int:
    """The same forwarding arriving again from `colleague`: how many forwardings it adds."""
    with desk.vault("B") as b, b.change() as db:
        added = statemerge._record_forward(b, db, colleague, as_it_arrived(b))
        assert b.db.execute("SELECT count(*) FROM state.forwards").fetchone()[0] == 1
    return added


def case_page(desk: Desk) -> str:
    with desk.vault("B") as b:
        page = get(client(create_app(b, "s3cret", hosts={"127.0.0.1:8765"})), f"/case/{desk.cases[0]}")
        assert page.status_code == 200
        return page.get_data(as_text=True)


def test_a_renamed_colleagues_forwarding_is_still_theirs(forwarded):
    desk, fp = forwarded, forwarded.ids["A"].fingerprint
    renamed = rename(desk, "B", "A", "Inspector Ivanova")
    assert renamed.fingerprint == fp and renamed.actor != f"Officer A ({fp})"
    assert record_again(desk, renamed) == 0, "the renamed colleague's forwarding was not recognised"
    html = case_page(desk)
    assert "forwarded to District police" in html
    assert f"by Inspector Ivanova ({fp})." in html and "by Officer A" not in html
    with desk.vault("B") as b:  # the history keeps what was recorded, under the name of the day
        (actor,) = b.db.execute("SELECT actor FROM state.history WHERE action = 'forwarded'").fetchone()
        assert actor == f"Officer A ({fp})"


def old_format(desk: Desk, who: str) -> None:
    """`who`'s vault as schema 2 wrote it: no by_fingerprint, only the "Name (fingerprint)" text."""
    with Vault.open(desk.dir(who), PASSPHRASE, write=True) as v, v.change() as db:
        db.execute("ALTER TABLE state.forwards DROP COLUMN by_fingerprint")
        db.execute("UPDATE state.meta SET value = 2 WHERE key = 'schema'")


def test_an_old_vaults_forwardings_are_read_by_the_key_in_their_text(forwarded, capsys):
    desk = forwarded
    old_format(desk, "B")
    with desk.vault("B") as b:
        assert b.meta("schema") == schema.SCHEMA_VERSION == 3
        rows = b.db.execute("SELECT actor, by_fingerprint FROM state.forwards").fetchall()
        assert [tuple(r) for r in rows] == [
            (f"Officer A ({desk.ids['A'].fingerprint})", desk.ids["A"].fingerprint)
        ]
    renamed = rename(desk, "B", "A", "Inspector Ivanova")
    assert record_again(desk, renamed) == 0
    assert f"by Inspector Ivanova ({desk.ids['A'].fingerprint})." in case_page(desk)


def test_an_old_vaults_own_forwarding_still_travels(tmp_path, passphrase_env, capsys):
    """A forwarded with the old code, before any state bundle: the next one still carries it as A's."""
    desk = Desk(tmp_path)
    desk.keep("A", "B")
    with desk.vault("A") as a:
        forward.forward(a, desk.cases[1], Identity.generate().public_key, "District police")
    old_format(desk, "A")
    capsys.readouterr()
    assert desk.sealview("A", "state", "export", "-o", tmp_path / "a1.bundle") == 0
    assert "1 case state, 1 forwarding:" in capsys.readouterr().out  # the state it set, and itself


@pytest.mark.parametrize(
    ("actor", "fingerprint"),
    [
        ("Officer Petrova (12345 67890 12345 67890 12345)", "12345 67890 12345 67890 12345"),
        ("Petrova (day shift) (12345 67890 12345 67890 12345)", "12345 67890 12345 67890 12345"),
        ("officer 12345 67890 12345 67890 12345", "12345 67890 12345 67890 12345"),
        ("Officer Petrova", None),
        ("(12)", None),
        ("", None),
        (None, None),
    ],
)
def test_the_fingerprint_in_an_actor_text(actor, fingerprint):
    assert actors.fingerprint_of(actor) == fingerprint
