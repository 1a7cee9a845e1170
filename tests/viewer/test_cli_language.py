"""Which language `sealview` speaks when no --lang is given: the vault's setting, else the system's locale
(LANGUAGE, LC_ALL, LC_MESSAGES, LANG; C is English), for its help and argparse's errors as much as for
its messages: the language is known before the parser is built (viewer/cli.py's docstring has the rule).
And every help text of every command is in the compiled catalogue of bg, ru and kk.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo

from tests.helpers import argparse_texts
from tests.viewer.bundles import Submission, report_doc
from tests.viewer.test_i18n import PLACEHOLDER, TRANSLATED, TRANSLATIONS, translation
from viewer import cli, i18n, importer

LOCALES = {"bg": "bg_BG.UTF-8", "ru": "ru_RU.UTF-8", "kk": "kk_KZ.UTF-8"}


@pytest.fixture
def shell(monkeypatch, tmp_path):
    """A shell with no sealview setting of its own, in a folder with no ./vault: only the locale speaks."""
    for name in ("SEALVIEW_LANG", "SEALVIEW_VAULT", "LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


@pytest.fixture
def filled(vault, server, tmp_path):
    """A vault (no language set) with two cases in it."""
    server.bundle(tmp_path / "b", [Submission(f"LANG-000{n}", report_doc("Тест")) for n in (1, 2)])
    importer.import_bundle(vault, tmp_path / "b")
    return vault


def run(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as e:  # --help
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def error_word(lang: str) -> str:
    """ "error" in `lang`, as a failed command's line begins."""
    return translation(lang, "error: %(message)s").split(":")[0]


@pytest.mark.parametrize("lang", TRANSLATED)
def test_help_argparse_errors_and_messages_follow_the_locale(shell, capsys, tmp_path, lang):
    shell.setenv("LANG", LOCALES[lang])
    code, out, _ = run(capsys, "--help")
    assert code == 0 and translation(lang, "usage: ") in out
    assert translation(lang, "the cases, newest first") in out and "the cases, newest first" not in out
    assert translation(lang, "show program's version number and exit") in out  # argparse's own
    code, _, err = run(capsys, "triage")  # argparse's own error: its arguments are missing
    assert code == 1 and err.startswith(error_word(lang) + ":")
    assert "the following arguments are required" not in err
    code, _, err = run(capsys, "--vault", tmp_path / "nowhere", "list")  # one of sealview's messages
    assert code == 1 and err.startswith(error_word(lang) + ":") and "is not a sealview vault" not in err


@pytest.mark.parametrize("locale", ["C", "C.UTF-8", "POSIX", "de_DE.UTF-8"])
def test_the_c_locale_and_one_we_lack_are_english(shell, capsys, locale):
    shell.setenv("LANG", locale)
    code, out, _ = run(capsys, "--help")
    assert code == 0 and out.startswith("usage: ") and "the cases, newest first" in out
    code, _, err = run(capsys, "triage")
    assert code == 1 and err.startswith("error: the following arguments are required")


def test_the_real_command_follows_lang():
    """What an officer types: `LANG=kk_KZ.UTF-8 sealview --help`, in a process of its own."""
    sealview = Path(sys.executable).parent / "sealview"
    if not sealview.is_file():
        pytest.skip("sealview is not installed in this venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "SEALVIEW_")) and k != "LANGUAGE"}
    done = subprocess.run(
        [sealview, "--help"], env=env | {"LANG": "kk_KZ.UTF-8"}, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and translation("kk", "usage: ") in done.stdout
    assert translation("kk", "the vault folder (default: $SEALVIEW_VAULT or ./vault)") in done.stdout


@pytest.mark.parametrize(
    ("environ", "lang"),
    [
        ({"LANG": "ru_RU.UTF-8"}, "ru"),
        ({"LANG": "bg_BG"}, "bg"),
        ({"LANG": "kk_KZ.UTF-8@latin"}, "kk"),
        ({"LC_MESSAGES": "kk_KZ.UTF-8", "LANG": "ru_RU.UTF-8"}, "kk"),  # the narrower one decides
        ({"LC_ALL": "C", "LANG": "ru_RU.UTF-8"}, "en"),  # LC_ALL outranks LANG, even as C
        ({"LANGUAGE": "de:ru", "LANG": "bg_BG.UTF-8"}, "ru"),  # the first of ours in the list
        ({"LANGUAGE": "de:fr", "LANG": "bg_BG.UTF-8"}, "bg"),  # none of ours: the locale decides
        ({"LC_ALL": "de_DE.UTF-8", "LANG": "ru_RU.UTF-8"}, "en"),  # a locale we lack is not skipped
        ({"LANG": "POSIX"}, "en"),
        ({}, "en"),
    ],
)
def test_the_locale_variables_in_gettexts_order(environ, lang):
    assert i18n.from_locale(environ) == lang


def test_the_vaults_setting_outranks_the_locale_and_lang_outranks_both(filled, shell, capsys, passphrase_env):
    """One rule for the help and the messages: --lang, else the vault's setting, else the locale."""
    path = filled.path
    filled.close()
    assert run(capsys, "--vault", path, "config", "--lang", "bg")[0] == 0
    shell.setenv("LANG", "ru_RU.UTF-8")
    code, out, _ = run(capsys, "--vault", path, "--help")  # the vault's language before the parser
    assert code == 0 and translation("bg", "the cases, newest first") in out
    code, _, err = run(capsys, "--vault", path, "triage")
    assert code == 1 and err.startswith(error_word("bg") + ":")
    code, _, err = run(capsys, "--vault", path, "list")
    assert code == 0 and "2 случая" in err
    code, out, _ = run(capsys, "list", "--vault", path, "--help")  # --vault after the command
    assert translation("bg", "the vault folder") in out
    shell.setenv("SEALVIEW_VAULT", str(path))  # the vault named by the environment
    code, out, _ = run(capsys, "--help")
    assert translation("bg", "the cases, newest first") in out
    code, out, _ = run(capsys, "--vault", path, "--help", "--lang", "kk")
    assert translation("kk", "the cases, newest first") in out
    code, _, err = run(capsys, "--vault", path, "list", "--lang", "kk")
    assert code == 0 and "2 іс" in err


def test_a_vault_without_a_language_speaks_the_locale(filled, shell, capsys, passphrase_env):
    path = filled.path
    filled.close()
    shell.setenv("LANG", "ru_RU.UTF-8")
    code, out, err = run(capsys, "--vault", path, "list")
    assert code == 0 and "2 дела" in err
    code, out, _ = run(capsys, "--vault", path, "config")
    assert translation("ru", "language: %(language)s").split(":")[0] in out


# ---------------------------------------------------------------- every help text translated


def english_help() -> list[tuple[str, str]]:
    """(where, text) for every text a person reads in sealview's help and its subcommands'."""
    with i18n.speaking("en"):  # English: the texts are the catalogue's msgids
        parser = cli._vault_everywhere(cli.build_parser())
        return [(t.where, t.text) for t in argparse_texts(parser) if t.shown]


def test_the_walk_finds_every_command():
    found = english_help()
    commands = {where.split(" ")[1] for where, _ in found if where.count(" ") >= 2}
    assert {"init", "list", "show", "forward", "state", "colleague", "backup"} <= commands
    assert ("sealview --version", "show program's version number and exit") in found
    assert any(where == "sealview state export" for where, _ in found)  # a subcommand's subcommand


def in_catalogue(text: str, catalogue: dict[str, str]) -> bool:
    """`text` is a translated msgid, or one filled in (`one of: %(states)s` with the states' codes)."""
    if catalogue.get(text):
        return True
    return any(
        re.fullmatch(".+".join(map(re.escape, PLACEHOLDER.split(msgid))), text)
        for msgid, string in catalogue.items()
        if string and "%(" in msgid
    )


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_help_text_of_every_command_is_translated(lang):
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.mo").open("rb") as f:
        catalogue = {m.id: m.string for m in read_mo(f) if isinstance(m.id, str) and m.id}
    texts = english_help()
    untranslated = sorted({f"{where}: {t!r}" for where, t in texts if not in_catalogue(t, catalogue)})
    assert untranslated == [], f"{lang}: help not in the catalogue (run `make translations`)"
    assert len(texts) > 100  # the walk saw the commands
