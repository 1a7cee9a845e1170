"""The operator's command line for desks, categories, officer keys and desk users, as a clerk or an
admin meets it: every subcommand, its one-line errors, what retiring a key or disabling a user does
to reporters and sessions, help on every option, and the messages in the operator's language."""

from __future__ import annotations

import argparse
import gettext
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

import crypto
from crypto import statement
from crypto.cli import LOCALE_VARIABLES
from dropbox import cli, config, console, create_app, db, intake
from dropbox.models import AuditEntry, Case, Category, Desk, DeskSession, DeskUser, Officer
from tests.desk_helpers import add_user, login
from tests.desk_helpers import code as totp_code
from tests.helpers import REPO, argparse_texts, extract, make_instance, postgres_database

DROPBOX = REPO / "dropbox"


@pytest.fixture
def site(request, tmp_path):
    """An instance on SQLite, or on each database for the tests marked both_databases."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield make_instance(tmp_path / "instance")
        return
    if os.environ.get("SEALDROP_SKIP_POSTGRES") == "1":
        pytest.skip("SEALDROP_SKIP_POSTGRES=1")
    with postgres_database() as url:
        yield make_instance(tmp_path / "instance", url)


both_databases = pytest.mark.parametrize("site", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def run(site, capsys):
    """sealdrop in this process: (exit code, stdout, stderr)."""

    def sealdrop(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        if stdin is not None:
            sys.stdin = io.StringIO(stdin)
        try:
            code = cli.main([*args, "--dir", str(site)])
        finally:
            sys.stdin = sys.__stdin__
        out, err = capsys.readouterr()
        return code, out, err

    return sealdrop


def fails(result: tuple[int, str, str]) -> str:
    code, _out, err = result
    prefix = console._("error: %(problem)s").split("%")[0]  # in the language the command spoke
    assert code == 1 and err.count("\n") == 1 and err.startswith(prefix), err
    return err


def session_for(instance: Path):
    return db.standalone_session(config.load(instance).database_url)


def new_key_file(tmp_path: Path, name: str = "petrova") -> tuple[Path, str]:
    identity = crypto.Identity.generate()
    path = tmp_path / f"{name}.pub"
    path.write_text(identity.public_key.to_file_text())
    return path, identity.fingerprint


def audit_actions(instance: Path) -> list[str]:
    with session_for(instance) as s:
        return list(
            s.scalars(select(AuditEntry.action).where(AuditEntry.actor == "cli").order_by(AuditEntry.id))
        )


@pytest.fixture(autouse=True)
def english(monkeypatch):
    """These tests read English unless they choose a language: the machine's locale must not decide."""
    for variable in LOCALE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    yield
    console.init("en")


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


# ---------------------------------------------------------------- users


@both_databases
def test_user_list_disable_enable_remove(run, site):
    name, secret = add_user(site, "clerk", desk="demo", name="boris")
    add_user(site, "admin", name="anna")
    app = create_app(config.load(site))
    clerk = app.test_client()
    assert login(clerk, name, secret).status_code == 303
    assert clerk.get("/desk/").status_code == 200
    out = run("user", "list")[1].splitlines()
    assert out == [
        "anna\tadmin\tevery desk\tenabled\tbrowser's language\tsessions: 0",
        "boris\tclerk\tdesk demo\tenabled\tbrowser's language\tsessions: 1",
    ]

    code, out, _err = run("user", "disable", "boris")
    assert code == 0 and "signed out everywhere" in out and "no enabled admin" not in out
    with session_for(site) as s:
        user = s.scalar(select(DeskUser).where(DeskUser.name == "boris"))
        assert user.disabled and s.scalar(select(func.count()).select_from(DeskSession)) == 0
    assert clerk.get("/desk/").status_code in (302, 303)  # the open session ended with the disabling
    assert "disabled" in run("user", "list")[1].splitlines()[1]

    assert run("user", "enable", "boris")[0] == 0
    assert login(app.test_client(), name, secret, totp=totp_code(secret, 1)).status_code == 303  # again
    assert run("user", "remove", "boris")[0] == 0
    with session_for(site) as s:
        assert s.scalar(select(DeskUser).where(DeskUser.name == "boris")) is None
        assert s.scalar(select(func.count()).select_from(DeskSession)) == 0
    assert "no such user: boris" in fails(run("user", "disable", "boris"))
    assert "no such user: nobody" in fails(run("user", "enable", "nobody"))
    assert "no such user: nobody" in fails(run("user", "remove", "nobody"))
    assert "no enabled admin is left" in run("user", "disable", "anna")[1]
    assert audit_actions(site) == ["user_disabled", "user_enabled", "user_removed", "user_disabled"]
    app.extensions["sealdrop.engine"].dispose()


# ---------------------------------------------------------------- help on everything


def test_every_option_and_subcommand_has_help():
    """And every command's description, and the titles of its groups of options."""
    parser = cli._add_globals_everywhere(cli.build_parser())
    found = list(argparse_texts(parser))
    assert sum(t.kind in ("option", "command") for t in found) > 80  # it reached the subcommands' options
    missing = [f"{t.where}: {t.kind}" for t in found if not t.text.strip()]
    assert missing == []


def test_help_prints_for_every_command(capsys):
    for command in (["category", "add"], ["officer", "retire"], ["user", "disable"], ["desk", "list"]):
        with pytest.raises(SystemExit):
            cli.main([*command, "--help"])
        assert "--dir" in capsys.readouterr().out


# ---------------------------------------------------------------- the operator's language


@pytest.mark.parametrize(
    ("environment", "lang"),
    [
        ({}, "en"),
        ({"LANG": "ru_RU.UTF-8"}, "ru"),
        ({"LANG": "de_DE.UTF-8"}, "en"),
        ({"LC_MESSAGES": "kk_KZ", "LANG": "ru_RU.UTF-8"}, "kk"),
        ({"LC_ALL": "bg_BG.UTF-8", "LANG": "ru_RU.UTF-8"}, "bg"),
        ({"LANGUAGE": "de:kk:ru", "LANG": "en_US.UTF-8"}, "kk"),
        ({"LANGUAGE": "de", "LANG": "bg_BG.UTF-8"}, "bg"),
        ({"LC_ALL": "C", "LANG": "ru_RU.UTF-8"}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
    ],
)
def test_language_from_the_environment(environment, lang):
    assert console.language_from_environment(environment) == lang


def catalogue(lang: str) -> gettext.NullTranslations:
    """What the compiled catalogue says, read without dropbox.console."""
    mo = DROPBOX / "translations" / lang / "LC_MESSAGES" / "messages.mo"
    with mo.open("rb") as f:
        return gettext.GNUTranslations(f)


def test_the_catalogue_is_what_console_speaks():
    """A message translated long ago (a triage status) comes out in each language."""
    for lang in ("bg", "ru", "kk"):
        assert console.init(lang) == lang
        words = console._("Being checked")
        assert words == catalogue(lang).gettext("Being checked") and words != "Being checked"
    console.init("en")
    assert console._("Being checked") == "Being checked"


@pytest.mark.parametrize("how", ["option", "environment"])
def test_the_command_line_speaks_the_operators_language(run, monkeypatch, how):
    """`--lang ru` or LANG=ru_RU.UTF-8: the CLI's words come from the Russian catalogue (English where
    a message is not translated yet, as gettext does)."""
    message = "no such desk: %(desk)s (see sealdrop desk list)"
    expected = catalogue("ru").gettext(message) % {"desk": "nope"}
    if how == "option":
        err = fails(run("--lang", "ru", "category", "list", "--desk", "nope"))
    else:
        monkeypatch.setenv("LANG", "ru_RU.UTF-8")
        err = fails(run("category", "list", "--desk", "nope"))
    assert expected in err and console.language() == "ru"
    assert "no such desk: nope" in fails(run("--lang", "en", "category", "list", "--desk", "nope"))


def test_lang_is_the_global_option_not_the_posters():
    assert cli.language_in(["--lang", "kk", "desk", "list"]) == "kk"
    assert cli.language_in(["--dir", "x", "--lang=bg", "user", "list"]) == "bg"
    assert cli.language_in(["desk", "list", "--lang", "ru"]) == "ru"  # after the command too
    assert cli.language_in(["officer", "add", "--lang=kk", "--desk", "demo"]) == "kk"
    assert cli.language_in(["poster", "--lang", "bg", "--desk", "demo"]) is None
    assert cli.language_in(["--lang", "ru", "poster", "--lang", "bg"]) == "ru"
    assert cli.language_in(["--dir", "--lang", "desk"]) is None  # a folder called --lang
    assert cli.language_in(["--dir", "poster", "desk", "--lang", "kk"]) == "kk"  # a folder called poster


def test_the_last_lang_on_the_line_is_the_one(run, capsys):
    """`--lang ru ... --lang kk`: argparse keeps kk, so the help is built in kk and argparse's own errors
    and the command's messages are said in kk, not the help in one language and the rest in another."""
    assert cli.language_in(["--lang", "ru", "desk", "list", "--lang", "kk"]) == "kk"
    assert cli.language_in(["--lang=ru", "--lang=kk", "desk", "list"]) == "kk"
    assert cli.language_in(["--lang", "kk", "poster", "--lang", "bg"]) == "kk"  # the poster's stays its own
    kk, ru = catalogue("kk"), catalogue("ru")
    with pytest.raises(SystemExit):
        cli.main(["--lang", "ru", "desk", "list", "--lang", "kk", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps help at the terminal's width
    assert kk.gettext(cli.LANG_HELP) in out and ru.gettext(cli.LANG_HELP) not in out
    err = fails(run("--lang", "ru", "desk", "list", "--lang", "kk", "--bogus"))
    assert kk.gettext("unrecognized arguments: %s") % "--bogus" in err
    err = fails(run("--lang", "ru", "category", "list", "--desk", "nope", "--lang", "kk"))
    assert kk.gettext("no such desk: %(desk)s (see sealdrop desk list)") % {"desk": "nope"} in err


def test_the_posters_lang_is_not_the_operators(run, tmp_path):
    """`poster --lang bg` prints a Bulgarian poster; the operator's messages stay in their language."""
    poster = tmp_path / "poster.svg"
    code, _out, err = run(
        "poster", "--desk", "demo", "--lang", "bg", "--url", "https://x.example", "-o", str(poster)
    )
    assert code == 0 and poster.is_file(), err
    assert console.language() == "en"
    refused = run(
        "poster", "--desk", "nope", "--lang", "bg", "--url", "https://x", "-o", str(tmp_path / "p.svg")
    )
    assert fails(refused).startswith("error: ")


def test_an_unknown_lang_is_one_line(run):
    assert "invalid choice" in fails(run("--lang", "de", "desk", "list"))


def test_a_subprocess_takes_lang_from_its_environment(site):
    result = subprocess.run(
        [sys.executable, "-m", "dropbox.cli", "desk", "list", "--dir", str(site)],
        capture_output=True, text=True, cwd=REPO, timeout=60,
        env={"PATH": "/usr/bin:/bin", "LANG": "bg_BG.UTF-8"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    counts = catalogue("bg").gettext("officer keys confirmed: %(n)d of %(total)d") % {"n": 1, "total": 1}
    assert f"demo\tДемо община\t{counts}" in result.stdout  # the desk's name in Bulgarian too


def test_the_new_messages_are_extracted(tmp_path):
    """pybabel finds the CLI's words with dropbox/babel.cfg, as `make translations` runs it."""
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [str(Path(sys.executable).parent / "pybabel"), "extract", "-F", str(DROPBOX / "babel.cfg"),
         "-o", str(pot), str(DROPBOX)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    from babel.messages.pofile import read_po

    with pot.open("rb") as f:
        found = {m.id for m in read_po(f)}
    for message in (
        "no such desk: %(desk)s (see sealdrop desk list)",  # desk/commands.py
        "cannot take reports yet: %(missing)s",  # desk/setup_commands.py
        "Type the fingerprint as the officer reads it to you: ",
        "Desk user disabled: %(user)s; signed out everywhere, and cannot log in",
        "error: %(problem)s",  # cli.py
        "(see sealdrop --help)",
    ):
        assert message in found, message


def test_the_clerks_commands_are_documented():
    """docs/cli.md names every subcommand and option of the commands it describes."""
    text = (REPO / "docs" / "cli.md").read_text()
    described = {"desk", "category", "officer", "user", "export", "import-replies", "retention"}
    parser = cli.build_parser()
    undocumented = []
    for found in argparse_texts(parser):
        words = found.where.split()
        if len(words) < 2 or words[1] not in described:
            continue
        if found.kind == "command":  # a subcommand: `sealdrop category add`
            name = " ".join(words[1:])
            if f"sealdrop {name}" not in text:
                undocumented.append(name)
        elif found.kind == "option" and not isinstance(found.action, argparse._HelpAction):
            for option in found.action.option_strings:
                if option not in ("--help", "--dir") and option not in text:
                    undocumented.append(f"{found.command} {option}")
    assert undocumented == []
