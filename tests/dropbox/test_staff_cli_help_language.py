"""The staff command line's help and language: help on every option and subcommand, docs/cli.md naming
them, and the messages in the operator's language (from --lang or the locale, never the poster's
--lang), as the compiled catalogues say them and as pybabel extracts them."""

from __future__ import annotations

import argparse
import gettext
import subprocess
import sys
from pathlib import Path

import pytest

from dropbox import cli, console

# The *_fixture names: pytest finds fixtures among a module's names; imported to be found, never called.
from tests.dropbox.staff_cli_helpers import (
    english_fixture,  # noqa: F401
    fails,
    run_fixture,  # noqa: F401
    site_fixture,  # noqa: F401
)
from tests.helpers import REPO, argparse_texts

DROPBOX = REPO / "dropbox"


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
