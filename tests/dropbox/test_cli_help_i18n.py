"""`sealdrop ... --help` and argparse's own words in the operator's language: the help of every
command and option, "usage:", "options" and argparse's errors come from the dropbox catalogue in
Bulgarian, Russian and Kazakh, whether the language is given with --lang or by the environment (LANG);
in the C locale everything stays English. A help text without a translation fails here."""

from __future__ import annotations

import argparse
import gettext
import re
import subprocess
import sys

import pytest

from dropbox import cli, console
from tests.helpers import REPO, argparse_texts

TRANSLATED = ("bg", "ru", "kk")
USAGE = {"bg": "употреба:", "ru": "использование:", "kk": "қолданылуы:"}  # read, not looked up
LOCALES = {"bg": "bg_BG.UTF-8", "ru": "ru_RU.UTF-8", "kk": "kk_KZ.UTF-8"}


def catalogue(lang: str) -> gettext.GNUTranslations:
    """The compiled catalogue, read without dropbox.console."""
    mo = REPO / "dropbox" / "translations" / lang / "LC_MESSAGES" / "messages.mo"
    with mo.open("rb") as f:
        return gettext.GNUTranslations(f)


def flat(text: str) -> str:
    """argparse wraps help at the terminal's width: compare words, not line breaks."""
    return " ".join(text.split())


def said(lang: str, msgid: str, **values: object) -> str:
    words = catalogue(lang).gettext(msgid)
    assert words != msgid, f"{lang}: no translation of {msgid!r}"
    return flat(words % values if values else words)


@pytest.fixture(autouse=True)
def english_afterwards():
    yield
    console.init("en")  # cli.main leaves its language behind; the next test starts in English


@pytest.fixture(params=["option", "environment"])
def speak(request, monkeypatch):
    """How the operator chose the language: `--lang L` on the line, or LANG=L_XX.UTF-8."""

    def argv(lang: str, *args: str) -> list[str]:
        if request.param == "option":
            return ["--lang", lang, *args]
        monkeypatch.setenv("LANG", LOCALES[lang])
        return list(args)

    return argv


def help_of(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    assert stopped.value.code == 0
    return flat(capsys.readouterr().out)


def error_of(capsys, argv: list[str]) -> str:
    assert cli.main(argv) == 1
    return flat(capsys.readouterr().err)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_sealdrop_help_in_the_language(capsys, speak, lang):
    out = help_of(capsys, speak(lang, "--help"))
    assert out.startswith(USAGE[lang] + " sealdrop")
    for msgid in (
        "sealdrop: the online side of an anonymous reporting dropbox.",
        "positional arguments",
        "options",
        "show this help message and exit",
        "serve the reporter pages and the desk with waitress",
        "officer public keys: reports are sealed to the confirmed ones",
        "the language of the messages (default: from LANGUAGE, LC_ALL, LC_MESSAGES or LANG; else en)",
    ):
        assert said(lang, msgid) in out, f"{lang}: {msgid!r}"
    assert "show this help message" not in out and "positional arguments" not in out
    assert "--dir DIR" in out and "--lang {bg,ru,kk,en}" in out  # option names and metavars stay


@pytest.mark.parametrize("lang", TRANSLATED)
def test_serve_help_in_the_language_with_its_defaults(capsys, speak, lang):
    out = help_of(capsys, speak(lang, "serve", "--help"))
    assert out.startswith(USAGE[lang] + " sealdrop serve")
    assert said(lang, "serve the reporter pages and the desk with waitress") in out  # the opening line
    assert said(lang, "their port (default %(default)s)", default=8080) in out
    retention = said(lang, "apply retention at start and then every MINUTES (default %(default)s; 0: never)")
    assert retention.replace("%(default)s", "60") in out
    assert said(lang, "publish the onions (on a tor we launch by default)") in out
    assert "--retention-every MINUTES" in out and "(default" not in out


@pytest.mark.parametrize("lang", TRANSLATED)
def test_officer_help_in_the_language(capsys, speak, lang):
    out = help_of(capsys, speak(lang, "officer", "--help"))
    assert out.startswith(USAGE[lang] + " sealdrop officer")
    for msgid in (
        "officer public keys: reports are sealed to the confirmed ones",
        "register an officer's public key (the .pub file); prints its fingerprint",
        "confirm a key once the officer has read its fingerprint back to you",
    ):
        assert said(lang, msgid) in out, f"{lang}: {msgid!r}"


def test_lang_after_the_subcommand_and_nested(capsys):
    out = help_of(capsys, ["officer", "add", "--lang=kk", "--help"])
    assert out.startswith("қолданылуы: sealdrop officer add")
    assert said("kk", "the desk whose reports the officer reads") in out
    out = help_of(capsys, ["desk-access", "revoke", "--help", "--lang", "ru"])
    assert said("ru", "the name given to desk-access add") in out  # seen before --lang: read first


@pytest.mark.parametrize("lang", TRANSLATED)
def test_argparse_errors_in_the_language(capsys, speak, lang):
    err = error_of(capsys, speak(lang, "officer", "add"))
    required = said(lang, "the following arguments are required: %s", **{}).replace("%s", "--desk")
    assert said(lang, "error: %(problem)s").split("%")[0] in err and required in err
    assert said(lang, "(see sealdrop --help)") in err
    err = error_of(capsys, speak(lang, "blobs", "migrate", "--to", "nowhere"))
    invalid = said(lang, "invalid choice: %(value)r (choose from %(choices)s)").split("%")[0]
    argument = said(lang, "argument %(argument_name)s: %(message)s")
    assert invalid in err and "'nowhere'" in err and "--to" in err
    assert argument.split("%")[0] in err
    assert "invalid choice" not in err and "required" not in err


def test_an_unrecognized_argument_in_russian(capsys):
    err = error_of(capsys, ["--lang", "ru", "desk", "list", "--nope"])
    assert "нераспознанные аргументы: --nope" in err


def test_the_c_locale_stays_english(capsys, monkeypatch):
    monkeypatch.setenv("LANG", "C")
    out = help_of(capsys, ["serve", "--help"])
    assert (
        out.startswith("usage: sealdrop serve")
        and "options: -h, --help show this help message and exit" in out
    )
    assert "their port (default 8080)" in out
    err = error_of(capsys, ["officer", "add"])
    assert err.startswith("error: the following arguments are required: --desk")
    err = error_of(capsys, ["blobs", "migrate", "--to", "nowhere"])
    assert "argument --to: invalid choice: 'nowhere'" in err


def test_argparse_is_left_english_after_a_run(capsys):
    """The words are ours only while sealdrop parses: another parser in the same process is English."""
    help_of(capsys, ["--lang", "ru", "--help"])
    assert "usage:" in argparse.ArgumentParser(prog="other").format_help()


def test_the_installed_command_in_kazakh(tmp_path):
    """The real entry point, with only LANG to go by."""
    result = subprocess.run(
        [sys.executable, "-m", "dropbox.cli", "serve", "--help"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
        env={"PATH": "/usr/bin:/bin", "LANG": "kk_KZ.UTF-8"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = flat(result.stdout)
    assert out.startswith("қолданылуы: sealdrop serve") and "параметрлер:" in out
    assert said("kk", "the tor program to launch (default: tor on PATH)") in out


# ---------------------------------------------------------------- nothing left untranslated


def parser_in(lang: str) -> list[tuple[str, str]]:
    """(where, text) for every text of every command's help (tests.helpers.argparse_texts), in `lang`."""
    console.init(lang)
    with console.argparse_speaks():
        return [(t.where, t.text) for t in argparse_texts(cli._add_globals_everywhere(cli.build_parser()))]


def pattern_of(msgid: str) -> str:
    """A regular expression that matches `msgid` with any values in its %(name)s places."""
    seen: set[str] = set()

    def place(found: re.Match) -> str:
        name = found.group(1)
        if name in seen:
            return f"(?P={name})"
        seen.add(name)
        return f"(?P<{name}>.+?)"

    return re.sub(r"%\\\((\w+)\\\)[sdr]", place, re.escape(msgid))


def filled_in(words: gettext.GNUTranslations, text: str, theirs: str) -> bool:
    """Whether `text` is a msgid of the catalogue with values filled in (the poster's languages,
    $SEALDROP_TOR_PASSWORD) and `theirs` its translation with the same values."""
    for msgid in words._catalog:  # type: ignore[attr-defined]
        if not isinstance(msgid, str) or "%(" not in msgid:
            continue
        found = re.fullmatch(pattern_of(msgid), text)
        translation = re.sub(r"%\((\w+)\)[dr]", r"%(\1)s", words.gettext(msgid))
        if found and translation != msgid and translation % found.groupdict() == theirs:
            return True
    return False


@pytest.mark.parametrize("lang", TRANSLATED)
def test_no_help_text_is_left_untranslated(lang):
    """Every help text of every command (and each command's description), in the parser built in
    `lang`, is the catalogue's translation of the English one: looked up as it is, or, for the few
    filled in with a value, as the msgid it was filled from."""
    english, translated = parser_in("en"), parser_in(lang)
    assert [where for where, _ in english] == [where for where, _ in translated]
    assert len(english) > 150  # the walk reached every subcommand's options
    words = catalogue(lang)
    untranslated, filled = [], 0
    for (where, text), (_, theirs) in zip(english, translated, strict=True):
        if words.gettext(text) != text:
            assert theirs == words.gettext(text), where
        elif filled_in(words, text, theirs):
            filled += 1
        else:
            untranslated.append(f"{where}: {text!r}")
    assert untranslated == []
    assert 0 < filled <= 8  # nearly every help text is a msgid of its own


@pytest.mark.parametrize("lang", TRANSLATED)
def test_argparse_words_are_in_every_catalogue(lang):
    words = catalogue(lang)
    missing = [w for w in console.ARGPARSE_WORDS if words.gettext(w) == w]
    assert missing == []
