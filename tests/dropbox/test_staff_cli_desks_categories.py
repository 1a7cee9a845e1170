"""The operator's command line for desks and their categories: adding and listing a desk and what it
lacks to take reports, adding, editing, routing and removing a category, and their one-line errors."""

from __future__ import annotations

from sqlalchemy import select

from dropbox import config, create_app
from dropbox.models import Case, Category, Desk, Officer

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
from tests.helpers import extract

# ---------------------------------------------------------------- desks


def test_desk_add_and_list_say_what_a_new_desk_lacks(run, site, tmp_path):
    code, out, _err = run("desk", "add", "town", "--name", "en=New town", "--name", "bg=Нов град")
    assert code == 0 and "/r/town" in out
    out = run("desk", "list")[1]
    lines = out.splitlines()
    town = lines.index(next(line for line in lines if line.startswith("town\t")))
    assert lines[town + 1].startswith("  ! cannot take reports yet: no category")
    assert "no confirmed officer key" in lines[town + 1]
    assert not any(line.startswith("  !") for line in lines[:town])  # the demo desks take reports

    assert run("category", "add", "--desk", "town", "graffiti", "--name", "en=Graffiti")[0] == 0
    out = run("desk", "list")[1]
    assert "cannot take reports yet: no confirmed officer key" in out and "no category" not in out

    # A key and a category, yet they do not meet: the only category goes to a desk with no key.
    assert run("desk", "add", "empty", "--name", "en=Empty")[0] == 0
    run("category", "edit", "--desk", "town", "graffiti", "--route", "empty")
    key, _fingerprint = new_key_file(tmp_path)
    assert run("officer", "add", "--desk", "town", "--name", "P", str(key), "--confirmed")[0] == 0
    out = run("desk", "list")[1]
    assert "town\tNew town\tofficer keys confirmed: 1 of 1" in out
    assert "none of its categories has a confirmed key to seal to" in out


def test_desk_add_errors(run):
    assert "already exists" in fails(run("desk", "add", "demo", "--name", "en=Again"))
    assert "give the desk a name" in fails(run("desk", "add", "town"))
    assert "LANG=TEXT" in fails(run("desk", "add", "town", "--name", "Town"))
    assert "LANG=TEXT" in fails(run("desk", "add", "town", "--name", "de=Stadt"))
    assert "empty en name" in fails(run("desk", "add", "town", "--name", "en=  "))
    assert "twice" in fails(run("desk", "add", "town", "--name", "en=A", "--name", "en=B"))
    assert "lower-case letters" in fails(run("desk", "add", "Town!", "--name", "en=Town"))


# ---------------------------------------------------------------- categories


def test_category_add_list_edit(run, site):
    code, out, _err = run("category", "add", "--desk", "demo", "graffiti", "--name", "en=Graffiti",
                          "--name", "ru=Граффити")  # fmt: skip
    assert code == 0 and "Category added: graffiti on desk demo" in out
    assert "officer keys its reports are sealed to now: 1" in out
    with session_for(site) as s:
        demo = s.scalar(select(Desk).where(Desk.slug == "demo"))
        added = next(c for c in demo.categories if c.slug == "graffiti")
        assert added.position == max(c.position for c in demo.categories)  # last, as the admin page adds
        assert added.names == {"en": "Graffiti", "ru": "Граффити"} and added.route_desk is None

    out = run("category", "list", "--desk", "demo")[1]
    assert "demo\tgraffiti\t11\tru=Граффити; en=Graffiti" in out
    assert "goes to desk demo-internal" in out  # the demo's corruption category
    assert "demo-internal\t" not in out  # only the desk asked for

    out = run("category", "edit", "--desk", "demo", "graffiti", "--name", "ru=", "--name", "bg=Графити",
              "--position", "0", "--route", "demo-internal")[1]  # fmt: skip
    assert "its reports go to desk demo-internal" in out
    with session_for(site) as s:
        category = s.scalar(select(Category).where(Category.slug == "graffiti"))
        assert category.names == {"en": "Graffiti", "bg": "Графити"} and category.position == 0
        assert [o.desk.slug for o in category.recipients()] == ["demo-internal"]
    run("category", "edit", "--desk", "demo", "graffiti", "--route", "demo")  # back to its own desk
    with session_for(site) as s:
        assert s.scalar(select(Category).where(Category.slug == "graffiti")).route_desk is None
    assert audit_actions(site) == ["category_added", "category_changed", "category_changed"]


def test_a_new_route_drops_the_old_desks_chosen_keys(run, site):
    """Keys chosen for a category belong to the desk it went to: kept after a route change, they would
    seal reports to a desk that is no longer meant to read them (invariant 8)."""
    with session_for(site) as s:
        drugs = s.scalar(select(Category).where(Category.slug == "drugs"))
        drugs.officers = [s.scalar(select(Officer).where(Officer.name == "Demo officer"))]
        s.commit()
    out = run("category", "edit", "--desk", "demo", "drugs", "--route", "demo-internal")[1]
    assert "chosen keys belonged to the old desk" in out
    with session_for(site) as s:
        drugs = s.scalar(select(Category).where(Category.slug == "drugs"))
        assert drugs.officers == [] and {o.desk.slug for o in drugs.recipients()} == {"demo-internal"}


def test_category_errors(run):
    assert "no such desk: nope" in fails(run("category", "add", "--desk", "nope", "x", "--name", "en=X"))
    assert "already a category drugs on desk demo" in fails(
        run("category", "add", "--desk", "demo", "drugs", "--name", "en=Drugs")
    )
    assert "LANG=TEXT" in fails(run("category", "add", "--desk", "demo", "x", "--name", "en:X"))
    assert "give the category a name" in fails(run("category", "add", "--desk", "demo", "x"))
    assert "no such desk: nowhere" in fails(
        run("category", "add", "--desk", "demo", "x", "--name", "en=X", "--route", "nowhere")
    )
    assert "no category nope on desk demo" in fails(
        run("category", "edit", "--desk", "demo", "nope", "--position", "1")
    )
    assert "no category nope on desk demo" in fails(run("category", "remove", "--desk", "demo", "nope"))
    assert "nothing to change" in fails(run("category", "edit", "--desk", "demo", "drugs"))
    assert "at least one language" in fails(
        run("category", "edit", "--desk", "demo", "noise", *[f"--name={lang}=" for lang in config.LANGUAGES])
    )
    assert "no such desk: nope" in fails(run("category", "list", "--desk", "nope"))
    assert "invalid int value" in fails(run("category", "edit", "--desk", "demo", "drugs", "--position", "x"))


@both_databases
def test_category_remove_keeps_cases_and_refuses_to_close_a_desk(run, site):
    """The server stores no category per case: a case filed in a removed category keeps its desk, its
    submissions and its replies; only the last category that takes reports is refused (unless --force)."""
    app = create_app(config.load(site))
    from tests.dropbox.conftest import Reporter

    reporter = Reporter(app.test_client())
    page = reporter.submit().get_data(as_text=True)  # filed under "Drug dealing"
    receipt, number = extract(page, "receipt"), extract(page, "case-number")
    code, out, _err = run("category", "remove", "--desk", "demo", "drugs")
    assert code == 0 and "nothing stored changes" in out
    with session_for(site) as s:
        case = s.scalar(select(Case).where(Case.number == number))
        assert case.desk.slug == "demo" and len(case.submissions) == 1
        assert s.scalar(select(Category).where(Category.slug == "drugs")) is None
    assert reporter.check(receipt).status_code == 200  # the reporter still reaches the case
    assert "Drug dealing" not in reporter.form()

    refused = fails(run("category", "remove", "--desk", "demo-internal", "corruption"))
    assert "the last one of desk demo-internal" in refused and '"not open yet"' in refused
    out = run("category", "remove", "--desk", "demo-internal", "corruption", "--force")[1]
    assert "cannot take reports now, desk demo-internal: no category" in out
    assert app.test_client().get("/r/demo-internal?lang=en").status_code == 503
    assert audit_actions(site) == ["category_removed", "category_removed"]
    app.extensions["sealdrop.engine"].dispose()
