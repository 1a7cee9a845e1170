"""What `sealdrop init` and `sealdrop serve` print when they start, in the operator's language.

The language comes from the shell (LANG here) as for every other command (dropbox/console.py). The parts a
program reads stay as they are inside the translated sentences: the instance's path, the fingerprint, the
identity file's name and the URLs. Under LANG=C the lines are the English ones scripts and tests read.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, make_instance
from tests.test_i18n import load_po

LOCALES = {"bg": "bg_BG.UTF-8", "ru": "ru_RU.UTF-8", "kk": "kk_KZ.UTF-8"}
# A word of each language's lines, written here by hand: the catalogue's words must be these.
DESK_WORD = {"bg": "служба", "ru": "служба", "kk": "қызмет"}
SERVING_WORDS = {"bg": "работи на адрес", "ru": "работает по адресу", "kk": "мекенжайында жұмыс істеп тұр"}
FINGERPRINT_WORD = {"bg": "отпечатък", "ru": "отпечаток", "kk": "ізі"}
DEMO_ONLY = {"bg": "САМО ЗА ДЕМОНСТРАЦИЯ", "ru": "ТОЛЬКО ДЛЯ ДЕМОНСТРАЦИИ", "kk": "ТЕК КӨРСЕТУГЕ АРНАЛҒАН"}
ENGLISH_PIECES = [
    "instance: ",
    "server signing key fingerprint",
    "demo officer identity",
    "empty passphrase",
    "DEMO ONLY",
    "is serving on",
    "loopback only",
    "demo desk",
    "desk: ",
    "workers: ",
    "processes",
]
FINGERPRINT = r"\d{5}( \d{5}){4}"


def environment(locale: str) -> dict[str, str]:
    """The test's environment with `locale` as the one setting that names a language."""
    env = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    return {**env, "LANG": locale, "PYTHONUNBUFFERED": "1"}


def sealdrop(locale: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dropbox.cli", *argv],
        env=environment(locale),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


@functools.cache
def catalogue(lang: str):
    return load_po(lang)


def words(lang: str, msgid: str, **values: object) -> str:
    """What the .po file says for `msgid`, filled in (English for en)."""
    if lang == "en":
        return msgid % values
    found = catalogue(lang).get(msgid)
    assert found is not None and found.string and not found.fuzzy, f"{lang}: {msgid!r} not translated"
    return found.string % values


def no_english(text: str) -> None:
    for piece in ENGLISH_PIECES:
        assert piece not in text, f"{piece!r} left in English:\n{text}"


# --- init -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", sorted(LOCALES))
def test_init_demo_speaks_the_shells_language(tmp_path, lang):
    instance = tmp_path / "instance"
    run = sealdrop(LOCALES[lang], "init", "--demo", "--dir", str(instance))
    assert run.returncode == 0 and run.stderr == "", run.stderr
    lines = run.stdout.splitlines()
    fingerprint = re.search(FINGERPRINT, lines[1]).group(0)
    assert lines == [
        words(lang, "instance: %(path)s", path=instance.resolve()),
        words(lang, "server signing key fingerprint: %(fingerprint)s", fingerprint=fingerprint),
        words(
            lang,
            "demo desk: %(url)s (demo officer identity: %(identity)s, empty passphrase, DEMO ONLY)",
            url="/r/demo",
            identity="demo-officer.identity",
        ),
    ]
    assert f"{instance.resolve()}" in lines[0]  # the path, the fingerprint and the file name as they are
    assert FINGERPRINT_WORD[lang] in lines[1]
    assert DESK_WORD[lang] in lines[2] and DEMO_ONLY[lang] in lines[2]
    assert "/r/demo" in lines[2] and "demo-officer.identity" in lines[2]
    assert (instance / "demo-officer.identity").is_file()
    no_english(run.stdout)


def test_init_under_lang_c_is_the_english_it_always_was(tmp_path):
    instance = tmp_path / "instance"
    run = sealdrop("C", "init", "--demo", "--dir", str(instance))
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == f"instance: {instance.resolve()}"
    assert re.fullmatch(f"server signing key fingerprint: {FINGERPRINT}", lines[1]), lines[1]
    assert lines[2] == (
        "demo desk: /r/demo (demo officer identity: demo-officer.identity, empty passphrase, DEMO ONLY)"
    )


def test_init_refusals_speak_the_language_too(tmp_path):
    instance = make_instance(tmp_path / "instance")
    again = sealdrop(LOCALES["ru"], "init", "--dir", str(instance))
    said = words("ru", "%(path)s is already a sealdrop instance", path=instance.resolve())
    assert again.returncode == 1 and again.stderr == words("ru", "error: %(problem)s", problem=said) + "\n"
    assert "уже является экземпляром sealdrop" in again.stderr
    odd = sealdrop(LOCALES["kk"], "init", "--dir", str(tmp_path / "other"), "--database", "mysql://x")
    said = words("kk", "--database takes a PostgreSQL URL (postgresql+psycopg://...) or sqlite:///PATH")
    assert odd.returncode == 1 and said in odd.stderr
    assert "sqlite:///PATH" in odd.stderr and "takes a PostgreSQL URL" not in odd.stderr
    english = sealdrop("C", "init", "--dir", str(instance))
    assert english.stderr == f"error: {instance.resolve()} is already a sealdrop instance\n"


def test_lang_option_beats_the_shell(tmp_path):
    run = sealdrop(LOCALES["ru"], "--lang", "bg", "init", "--dir", str(tmp_path / "instance"))
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(words("bg", "instance: %(path)s", path=(tmp_path / "instance").resolve()))


# --- serve ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_instance(tmp_path_factory) -> Path:
    return make_instance(tmp_path_factory.mktemp("startup") / "instance")


def first_lines(instance: Path, locale: str, count: int, *more: str) -> list[str]:
    """`sealdrop serve` on ports the system picks (no port is guessed, so none can be taken): its first
    `count` lines, then SIGTERM, as a service manager stops it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dropbox.cli", "serve", "--dir", str(instance), "--port", "0",
         "--desk-port", "0", "--retention-every", "0", *more],
        env=environment(locale), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    try:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if len(lines) == count:
                break
    finally:
        process.terminate()
        process.wait(30)
        lines += [line.rstrip("\n") for line in process.stdout]
    return lines


def started(lang: str, lines: list[str]) -> tuple[int, int]:
    """The reporter's and the desk's port from the three lines every serve prints first, checked whole."""
    port = int(re.search(r"http://127\.0\.0\.1:(\d+)/r/<desk>", lines[0]).group(1))
    desk_port = int(re.search(r"http://127\.0\.0\.1:(\d+)/desk/", lines[1]).group(1))
    assert lines[:3] == [
        words(lang, "sealdrop is serving on %(url)s", url=f"http://127.0.0.1:{port}/r/<desk>"),
        words(lang, "desk: %(url)s (loopback only)", url=f"http://127.0.0.1:{desk_port}/desk/"),
        words(lang, "demo desk: %(url)s", url=f"http://127.0.0.1:{port}/r/demo"),
    ], lines
    return port, desk_port


@pytest.mark.parametrize("lang", sorted(LOCALES))
def test_serve_speaks_the_shells_language(demo_instance, lang):
    lines = first_lines(demo_instance, LOCALES[lang], 3)
    started(lang, lines)
    assert SERVING_WORDS[lang] in lines[0] and DESK_WORD[lang] in lines[1] and DESK_WORD[lang] in lines[2]
    no_english("\n".join(lines))


def test_serve_under_lang_c_is_the_english_it_always_was(demo_instance):
    lines = first_lines(demo_instance, "C", 3)
    port, desk_port = started("en", lines)
    assert lines[:3] == [
        f"sealdrop is serving on http://127.0.0.1:{port}/r/<desk>",
        f"desk: http://127.0.0.1:{desk_port}/desk/ (loopback only)",
        f"demo desk: http://127.0.0.1:{port}/r/demo",
    ]
    assert lines[3:] == []  # nothing more at stop either


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_serve_with_workers_counts_them_in_the_language(demo_instance, lang):
    lines = first_lines(demo_instance, LOCALES.get(lang, "C"), 4, "--workers", "2")
    started(lang, lines)
    assert lines[3] == words(lang, "workers: %(count)d processes", count=2)
    if lang == "ru":
        assert lines[3] == "рабочих процессов: 2"
        no_english("\n".join(lines))
    else:
        assert lines[3] == "workers: 2 processes"


def test_a_wrong_number_of_workers_is_told_in_the_language(tmp_path):
    run = sealdrop(LOCALES["bg"], "serve", "--dir", str(tmp_path), "--workers", "0")
    assert run.returncode == 1 and words("bg", "a number of processes, 1 or more") in run.stderr
    assert "1 or more" not in run.stderr
