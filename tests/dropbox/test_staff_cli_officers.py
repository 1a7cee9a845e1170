"""The operator's command line for officer keys: adding one, confirming it after the fingerprint is read
back, retiring it (refused when a desk would be left with no key to seal reports to, unless forced),
and their one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

import crypto
from crypto import statement
from dropbox import config, create_app, intake
from dropbox.models import Category, Desk, Officer

# The *_fixture names: pytest finds fixtures among a module's names; imported to be found, never called.
from tests.dropbox.staff_cli_helpers import (
    audit_actions,
    both_databases,
    english_fixture,  # noqa: F401
    fails,
    new_key_file,
    run_fixture,  # noqa: F401
    session_for,
    site_fixture,  # noqa: F401
)

# ---------------------------------------------------------------- officers


def test_officer_add_list_confirm_after_the_read_back(run, site, tmp_path):
    # Read back by phone: a new desk's first key (a desk with officers admits others itself,
    # tests/dropbox/test_keytrust.py).
    assert run("desk", "add", "town", "--name", "en=Town")[0] == 0
    assert run("category", "add", "--desk", "town", "litter", "--name", "en=Litter")[0] == 0
    key, fingerprint = new_key_file(tmp_path)
    code, out, _err = run("officer", "add", "--desk", "town", "--name", "Officer Petrova", str(key))
    assert code == 0 and f"fingerprint: {fingerprint}" in out and "sealdrop officer confirm 3" in out
    listed = run("officer", "list")[1].splitlines()
    assert listed == [
        f"1\tdemo\tDemo officer\t{officer_fingerprint(site, 1)}\tconfirmed, DEMO ONLY",
        f"2\tdemo-internal\tDemo internal-security officer\t{officer_fingerprint(site, 2)}"
        "\tconfirmed, DEMO ONLY",
        f"3\ttown\tOfficer Petrova\t{fingerprint}\tnot confirmed",
    ]
    wrong = fingerprint[:-1] + str((int(fingerprint[-1]) + 1) % 10)
    assert "fingerprints differ" in fails(run("officer", "confirm", "3", stdin=wrong + "\n"))
    assert "no fingerprint typed" in fails(run("officer", "confirm", "3", stdin=""))
    read_aloud = fingerprint.replace(" ", "-")  # as the operator may type what they hear
    code, out, _err = run("officer", "confirm", "3", stdin=read_aloud + "\n")
    assert code == 0 and "Confirmed" in out and "should be Officer Petrova, of desk town" in out
    assert "already confirmed" in run("officer", "confirm", "3")[1]
    with session_for(site) as s:
        town = s.scalar(select(Desk).where(Desk.slug == "town"))
        assert {o.name for o in town.categories[0].recipients()} == {"Officer Petrova"}
    assert audit_actions(site)[-2:] == ["officer_registered", "officer_confirmed"]


def officer_fingerprint(instance: Path, ident: int) -> str:
    with session_for(instance) as s:
        return s.get(Officer, ident).fingerprint


def test_officer_errors(run, tmp_path):
    key, _fingerprint = new_key_file(tmp_path)
    assert "no such desk: nope" in fails(run("officer", "add", "--desk", "nope", str(key)))
    assert run("officer", "add", "--desk", "demo", str(key))[0] == 0
    assert "already registered" in fails(run("officer", "add", "--desk", "demo", str(key)))
    assert "no officer number 99" in fails(run("officer", "confirm", "99"))
    assert "no officer number 0" in fails(run("officer", "retire", "0"))
    assert "no such desk: nope" in fails(run("officer", "list", "--desk", "nope"))
    assert fails(run("officer", "add", "--desk", "demo", str(tmp_path / "missing.pub")))


@both_databases
def test_retiring_the_last_key_of_a_desk_is_refused_unless_forced(run, site):
    """demo-internal has one confirmed key; retired, nothing could be sealed to the desk: the reporter's
    page says "not open yet", and the demo desk's corruption category (routed there) takes nothing."""
    app = create_app(config.load(site))
    client = app.test_client()
    internal = 2
    refused = fails(run("officer", "retire", str(internal)))
    assert (
        "without this key desk demo-internal has no key to seal reports to" in refused
        and '"not open yet"' in refused
    )
    assert client.get("/r/demo-internal?lang=en").status_code == 200

    code, out, _err = run("officer", "retire", str(internal), "--force")
    assert code == 0 and "no new report or addition is sealed" in out
    assert "these categories take no reports now: demo/corruption, demo-internal/corruption" in out
    assert "cannot take reports now, desk demo-internal: no confirmed officer key" in out
    page = client.get("/r/demo-internal?lang=en")
    assert page.status_code == 503 and "not open for reports yet" in page.get_data(as_text=True)
    with session_for(site) as s:
        corruption = s.scalar(select(Category).where(Category.slug == "corruption", Category.desk_id == 1))
        with pytest.raises(intake.IntakeError, match="no_recipients"):
            intake.recipients(corruption)
        drugs = s.scalar(select(Category).where(Category.slug == "drugs"))
        assert len(intake.recipients(drugs)) == 1  # the other desk is untouched
    assert client.get("/r/demo?lang=en").status_code == 200
    assert "already retired" in run("officer", "retire", str(internal))[1]
    assert "stays so" in fails(run("officer", "confirm", str(internal)))
    assert run("officer", "list")[1].count("retired") == 1
    assert audit_actions(site) == ["officer_retired"]
    app.extensions["sealdrop.engine"].dispose()


def test_a_desk_routed_to_the_key_closes_with_it(run):
    """A desk whose only category goes to demo-internal needs demo-internal's key as much."""
    run("desk", "add", "town", "--name", "en=Town")
    run(
        "category",
        "add",
        "--desk",
        "town",
        "corruption",
        "--name",
        "en=Corruption",
        "--route",
        "demo-internal",
    )
    assert "! " not in run("desk", "list")[1]  # open: demo-internal's key reads its reports
    refused = fails(run("officer", "retire", "2"))
    assert "desk demo-internal, town has no key" in refused


def test_retiring_one_of_two_keys_needs_no_force(run, site, tmp_path):
    key, _fingerprint = new_key_file(tmp_path)
    # Desk demo has an officer: it admits the second key itself, with a signed key statement.
    first = crypto.Identity.load(site / "demo-officer.identity", "")
    admit = statement.sign(
        first.signing_key, first.public_key, "demo", "admit", crypto.PublicKey.load(key), name="Second"
    )
    (tmp_path / "admit.statement").write_text(admit.encode())
    assert run("officer", "statement", "--desk", "demo", str(tmp_path / "admit.statement"))[0] == 0
    code, out, _err = run("officer", "retire", "1")
    assert code == 0 and "take no reports" not in out
    with session_for(site) as s:
        drugs = s.scalar(select(Category).where(Category.slug == "drugs"))
        assert [o.name for o in drugs.recipients()] == ["Second"]
        assert [k.public_bytes for k in intake.recipients(drugs)] == [
            crypto.PublicKey.parse(s.get(Officer, 3).public_key).recipient.public_bytes
        ]
