"""Small things a person notices: the favicon request, a closed pipe, words in their language."""

import os
import subprocess
import sys
from pathlib import Path

from crypto import SigningKey, bundle
from crypto.cli import BROKEN_PIPE_EXIT
from dropbox import cli, config, create_app
from dropbox.security import SECURITY_HEADERS


def test_favicon_is_an_empty_answer_with_the_usual_headers(sqlite_instance):
    cfg = config.load(sqlite_instance)
    for audience in ("reporter", "desk", "all"):
        app = create_app(cfg, audience)
        response = app.test_client().get("/favicon.ico")
        assert response.status_code == 204, audience
        assert response.data == b""
        assert "Set-Cookie" not in response.headers
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value
        app.extensions["sealdrop.engine"].dispose()


def run_into_closed_pipe(argv: list[str]) -> subprocess.CompletedProcess:
    """`argv` with its stdout a pipe nobody reads any more: what `... | head -1` becomes once head has
    its line, without the race of head exiting before or after the command writes."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(argv, stdout=write_end, stderr=subprocess.PIPE, timeout=120, check=False)
    finally:
        os.close(write_end)


def test_a_closed_stdout_is_no_error(sqlite_instance):
    sealdrop = str(Path(sys.executable).with_name("sealdrop"))
    done = run_into_closed_pipe([sealdrop, "desk", "list", "--dir", str(sqlite_instance)])
    assert (done.returncode, done.stderr) == (BROKEN_PIPE_EXIT, b"")
    with subprocess.Popen(  # the real thing: into head -1, whichever of the two ends first
        [sealdrop, "desk", "list", "--dir", str(sqlite_instance)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as listing:
        head = subprocess.run(
            ["head", "-1"], stdin=listing.stdout, capture_output=True, timeout=120, check=True
        )
        listing.stdout.close()
        assert listing.wait(timeout=120) in (0, BROKEN_PIPE_EXIT) and listing.stderr.read() == b""
    assert head.stdout.startswith(b"demo")


def test_onion_balance_speaks_the_operators_language(sqlite_instance, capsys):
    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(["--lang", "ru", "onion", "balance", *argv, "--dir", str(sqlite_instance)])
        out, err = capsys.readouterr()
        return code, out, err

    assert run("add-backend", "x", "--name", "a") == (
        1,
        "",
        "ошибка: ключа onion-адреса для авторов сообщений пока нет: сначала выполните "
        "`sealdrop onion balance init`\n",
    )
    code, out, err = run("init")
    assert code == 0 and out.startswith("onion фронтенда (для авторов сообщений): http://")
    assert err.startswith("На каждой машине-бэкенде: sealdrop onion balance backend --frontend ")
    code, out, err = run("add-backend", "example.org", "--name", "a")  # onion/ gave a reason, we the words
    assert (code, err) == (
        1,
        "ошибка: 'example.org' — не onion-адрес v3 (56 букв и цифр 2-7, затем .onion)\n",
    )
    assert run("remove-backend", "a")[2] == "ошибка: нет бэкенда a (см. `sealdrop onion balance list`)\n"
    assert run("list") == (0, "", "бэкендов нет (sealdrop onion balance add-backend ADDRESS --name NAME)\n")


def test_import_replies_says_why_in_the_operators_language(sqlite_instance, tmp_path, capsys):
    def refused(path: Path, lang: str = "ru") -> str:
        assert cli.main(["--lang", lang, "import-replies", str(path), "--dir", str(sqlite_instance)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        return err

    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    assert refused(junk) == (
        "ошибка: отклонено, ничего не импортировано: Этот файл не является пакетом sealdrop. "
        "Выберите пакет ответов, созданный программой просмотра.\n"
    )
    key = SigningKey.generate()
    for kind, command in (("export", "sealview import"), ("state", "sealview state import")):
        other = tmp_path / f"{kind}.bundle"
        with open(other, "wb") as f:
            bundle.write(f, kind, {"desk": "demo"}, [], key)
        assert command in refused(other)  # in Russian, naming where the bundle goes
        assert command in refused(other, "en") and "(perhaps an export bundle?)" not in refused(other, "en")
