"""`sealdrop onion status|new-address`, `desk-access ...` and `serve --onion` in the operator's language.

Every line an operator reads comes from dropbox's catalogue (onion/ has none: its errors carry a reason
and values, dropbox/onion_words.py says them). What a program or another tor reads stays as it was: onion
addresses, the client key line, `desk-access list`'s names. tor's own words (a warning, an answer)
are quoted as tor said them.
"""

from __future__ import annotations

import errno
import functools
import os
import re

import pytest

import onion
from dropbox import console, onion_words
from tests.helpers import free_port
from tests.onion.conftest import PASSWORD, Server, sealdrop
from tests.test_i18n import PLACEHOLDER, load_po, source_messages

LANGS = ["bg", "ru", "kk"]
LOCALES = {"bg": "bg_BG.UTF-8", "ru": "ru_RU.UTF-8", "kk": "kk_KZ.UTF-8"}
ONION = r"[a-z2-7]{56}\.onion"
WHERE = "127.0.0.1:9051"


@functools.cache
def catalogue(lang: str):
    return load_po(lang)


def words(lang: str, msgid: str, **values: object) -> str:
    """What the .po file (the source of the compiled catalogue) says for `msgid`, filled in."""
    found = catalogue(lang).get(msgid)
    assert found is not None and found.string and not found.fuzzy, f"{lang}: {msgid!r} not translated"
    return found.string % values if values else found.string


def failure(result) -> str:
    """The one line a failed command says, on stderr."""
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def error_line(lang: str, problem: str) -> str:
    return words(lang, "error: %(problem)s", problem=problem) + "\n"


@functools.cache
def english_pieces() -> dict[str, str]:
    """For each source message of three words or more, its longest piece between placeholders (two
    words at least): the piece an untranslated line would show."""
    pieces = {}
    for message in source_messages():
        piece = max(PLACEHOLDER.split(message), key=len).strip()
        if len(message.split()) >= 3 and len(piece.split()) >= 2:
            pieces[message] = piece
    return pieces


def english_in(text: str) -> list[str]:
    return sorted(message for message, piece in english_pieces().items() if piece in text)


def environment(lang: str) -> dict[str, str]:
    """The shell of an operator whose locale is `lang`'s (and nothing else says otherwise)."""
    env = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES")}
    return {**env, "LANG": LOCALES[lang]}


@pytest.mark.parametrize("lang", LANGS)
def test_onion_and_desk_access_commands_in_each_language(instance, cli, lang):
    said: list[str] = []

    def run(*argv: str):
        result = cli("--lang", lang, *argv, "--dir", str(instance))
        said.extend([result.stdout, result.stderr])
        return result

    status = run("onion", "status").stdout
    assert (
        status
        == "\n".join(
            [
                words(
                    lang, "server: not running with --onion (`sealdrop serve --onion` publishes these onions)"
                ),
                words(lang, "reporter: no key yet (made by the first `serve --onion`)"),
                words(lang, "desk: no key yet (made by `desk-access add NAME`)"),
            ]
        )
        + "\n"
    )

    added = run("desk-access", "add", "petrova")
    bare = re.fullmatch(r"([a-z2-7]{56}):descriptor:x25519:[A-Z2-7]{52}\n", added.stdout).group(1)
    restart = words(lang, "restart `sealdrop serve --onion` for tor to learn it")
    assert (
        added.stderr
        == words(
            lang,
            "Give %(name)s the line above in private; it is shown only this once and sealdrop keeps only its "
            "public half. Tor Browser asks for the key (the part after 'x25519:') on opening %(url)s; a tor "
            "with ClientOnionAuthDir takes the whole line as a file %(name)s.auth_private. Then %(restart)s.",
            name="petrova",
            url=f"http://{bare}.onion/desk/",
            restart=restart,
        )
        + "\n"
    )
    exists = words(lang, "%(name)s already has access: revoke it first to issue a new key", name="petrova")
    assert failure(run("desk-access", "add", "petrova")) == error_line(lang, exists)
    assert words(
        lang,
        "%(name)s is not a usable name: up to 64 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit",
        name="'../x'",
    ) in failure(run("desk-access", "add", "../x"))
    assert run("desk-access", "list").stdout == "petrova\n"  # names, for scripts: as they were given

    desk_line = words(
        lang,
        "desk: %(url)s  %(detail)s",
        url=f"http://{bare}.onion/desk/",
        detail=words(lang, "not published"),
    )
    assert desk_line in run("onion", "status").stdout.splitlines()

    revoked = run("desk-access", "revoke", "petrova")
    assert (
        revoked.stdout
        == words(lang, "%(name)s no longer has desk access; %(restart)s", name="petrova", restart=restart)
        + "\n"
    )
    no_access = words(lang, "no access named %(name)s (see `sealdrop desk-access list`)", name="petrova")
    assert failure(run("desk-access", "revoke", "petrova")) == error_line(lang, no_access)
    listed = run("desk-access", "list")
    assert (listed.stdout, listed.stderr) == (
        "",
        words(lang, "no clerk has desk access (sealdrop desk-access add NAME)") + "\n",
    )

    first = run("onion", "new-address")
    address = re.fullmatch(
        re.escape(words(lang, "new reporter onion: %(url)s", url="URL")).replace(
            "URL", f"http://({ONION})/r/<desk>"
        )
        + "\n",
        first.stdout,
    ).group(1)
    reprint = words(
        lang,
        "Reprint every poster (the old address on them leads nowhere now), then restart "
        "`sealdrop serve --onion`.",
    )
    assert first.stderr == reprint + "\n"
    second = run("onion", "new-address")
    (kept,) = (instance / "onion" / "reporter").glob(f"{onion.SECRET_KEY_FILE}.replaced-*")
    assert onion.OnionKey.load(kept).address == address
    assert second.stderr == "".join(
        line + "\n"
        for line in (
            words(lang, "the old key is kept as %(path)s: delete it once the new address works", path=kept),
            reprint,
        )
    )

    port = free_port()  # nothing listens there
    refused = words(
        lang,
        "tor refused the control connection at %(where)s: is ControlPort set?%(detail)s",
        where=f"127.0.0.1:{port}",
        detail="",
    )
    assert failure(run("serve", "--tor-control", str(port))) == error_line(lang, refused)
    assert failure(run("onion", "status", "--tor-control", "localhost")) == error_line(
        lang,
        words(
            lang,
            "--tor-control takes HOST:PORT (tor's ControlPort, e.g. 127.0.0.1:9051), not %(value)s",
            value="'localhost'",
        ),
    )

    key = instance / "onion" / "reporter" / onion.SECRET_KEY_FILE
    key.chmod(0o640)
    unreadable = failure(run("onion", "status"))
    assert unreadable.startswith(error_line(lang, "").rstrip("\n"))
    assert str(key) in unreadable and f"chmod 600 {key}" in unreadable
    assert english_in("".join(said)) == []


@pytest.mark.parametrize("lang", LANGS)
def test_serve_onion_and_status_in_the_shells_language(instance, password_tor, lang):
    """LANG alone picks the language, for `serve`'s onion lines and for `onion status` beside it."""
    env = {**environment(lang), "SEALDROP_TOR_PASSWORD": PASSWORD}
    assert sealdrop("desk-access", "add", "petrova", "--dir", str(instance), env=env).returncode == 0
    where = f"127.0.0.1:{password_tor}"
    with Server(instance, "--tor-control", where, env=env) as server:
        reporter_line = words(lang, "reporter onion: %(url)s", url="URL")
        pattern = "^" + re.escape(reporter_line).replace("URL", f"http://({ONION})/r/<desk>") + "$"
        reporter = server.wait_for(pattern).group(1)
        desk_line = words(
            lang, "desk onion: %(url)s (client authorization: %(clients)d)", url="URL", clients=1
        )
        desk = server.wait_for(
            "^" + re.escape(desk_line).replace("URL", f"http://({ONION})/desk/") + "$"
        ).group(1)
        server.wait_listening()
        shown = sealdrop("onion", "status", "--tor-control", where, "--dir", str(instance), env=env)
        assert shown.returncode == 0, shown.stderr
        lines = shown.stdout.splitlines()
        running = words(
            lang,
            "server: running (pid %(pid)s), tor at %(tor)s, updated %(updated)s",
            pid=server.process.pid,
            tor=where,
            updated="TIME",
        )
        assert re.fullmatch(re.escape(running).replace("TIME", r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"), lines[0])
        waiting = words(
            lang, "publishing: waiting for tor to reach the Tor network and build the descriptors"
        )
        pow_on = words(lang, "proof of work on")
        assert lines[1] == words(
            lang,
            "reporter: %(url)s  %(detail)s",
            url=f"http://{reporter}/r/<desk>",
            detail=f"{waiting}; {pow_on}",
        )
        clients = words(lang, "client authorization: %(clients)d", clients=1)
        assert lines[2] == words(
            lang,
            "desk: %(url)s  %(detail)s",
            url=f"http://{desk}/desk/",
            detail=f"{waiting}; {pow_on}, {clients}",
        )
        holds = {
            name: words(
                lang,
                "tor at %(where)s does not hold a descriptor for %(onion)s",
                where=where,
                onion=words(lang, f"the {name} onion"),
            )
            for name in ("reporter", "desk")
        }
        assert lines[3:] == [holds["reporter"], holds["desk"]]  # the network is off: nothing is published
    ours = [line for line in server.lines if "onion" in line]  # waitress's and cli.py's own lines aside
    assert len(ours) == 2 and english_in("\n".join(ours) + shown.stdout + shown.stderr) == []


def sample_errors(tmp_path) -> list[onion.OnionError]:
    """One of every error onion/ raises on purpose, the client-access ones from the real thing."""
    key = tmp_path / "reporter" / onion.SECRET_KEY_FILE
    recorded, now = onion.OnionKey.generate().address, onion.OnionKey.generate().address
    publication = onion.Publication(
        descriptors=2, published=1, uploaded=3, failed=1, pending=2, reason="UPLOAD_REJECTED"
    )
    odd = onion.ControlCommandFailed(WHERE, "SETCONF HiddenServiceDir", "552 Unrecognized option")
    errors = [
        onion.TorNotInstalled("tor"),
        onion.TorNotInstalled("/opt/nowhere/tor"),
        onion.TorFailedToStart(
            "Could not bind to 127.0.0.1:9051: Address already in use", "/srv/tor/tor.log"
        ),
        onion.TorFailedToStart.silently("/srv/tor/tor.log"),
        onion.TorFailedToStart.no_control_port(30, "/srv/tor/tor.log"),
        onion.ControlConnectionRefused(WHERE),
        onion.NotTorControlPort(WHERE),
        onion.ControlPasswordMissing(WHERE),
        onion.WrongControlPassword(WHERE),
        onion.CookieUnreadable(WHERE, "/run/tor/control.authcookie"),
        onion.ControlAuthenticationFailed(WHERE, "515 Authentication failed"),
        onion.ControlConnectionLost(WHERE),
        onion.TorTooOld(WHERE, "0.4.7.16"),
        onion.KeyUnreadable.missing(key),
        onion.KeyUnreadable.not_a_key(key),
        onion.KeyUnreadable.directory(key),
        onion.KeyUnreadable.permission_denied(key),
        onion.KeyUnreadable.too_open(key),
        onion.KeyUnreadable.os_error(key, OSError(errno.EIO, "Input/output error")),
        onion.OnionAddressChanged(key, recorded, None),
        onion.OnionAddressChanged(key, recorded, now),
        odd,
        onion.PublishFailed("reporter", WHERE, "550 Onion address collision"),
        onion.PublishFailed("desk", WHERE, "512 Bad arguments"),
        onion.PublishFailed(
            "desk",
            WHERE,
            "it is published already, as the reporter onion",
            "published_already",
            other="reporter",
        ),
        onion.PublishFailed(
            "backend",
            WHERE,
            f"{odd} (can tor read and write /srv/backend?)",
            "backend_folder",
            odd,
            folder="/srv/backend",
        ),
        onion.PublishTimeout("reporter", 30, publication.describe(), publication),
    ]
    clients = onion.AuthorizedClients(tmp_path / "clients")
    clients.add("petrova")
    (tmp_path / "clients" / "broken.auth").write_text("descriptor:ed25519:NOTAKEY\n")
    (tmp_path / "clients" / "folder.auth").mkdir()
    for attempt in (
        lambda: clients.add("../x"),
        lambda: clients.add("petrova"),
        lambda: clients.revoke("ivanov"),
        lambda: clients.public_keys(),
    ):
        with pytest.raises(onion.ClientAccessError) as raised:
            attempt()
        errors.append(raised.value)
    (tmp_path / "clients" / "broken.auth").unlink()
    with pytest.raises(onion.ClientAccessError) as raised:
        clients.public_keys()  # now the folder named like a key file
    return [*errors, raised.value]


def test_every_onion_error_has_words_and_they_match_its_english(tmp_path):
    """In English an error reads exactly as onion/ wrote it; in every other language it reads in that
    language, with its paths, addresses and tor's own words kept."""
    errors = sample_errors(tmp_path)
    reasons = [e.reason for e in errors]
    assert "" not in reasons and len(set(reasons)) == len(reasons)  # one reason, one way to say it
    tors_words = [
        "Address already in use",
        "515 Authentication failed",
        "550 Onion address collision",
        "512 Bad arguments",
        "552 Unrecognized option",
        "UPLOAD_REJECTED",
        "Input/output error",
    ]
    kept = ("path", "log", "folder", "binary", "where", "recorded", "now", "version", "strerror", "what")
    try:
        console.init("en")
        for e in errors:
            assert onion_words.error_words(e) == str(e)
        for lang in LANGS:
            console.init(lang)
            for e in errors:
                said = onion_words.error_words(e)
                assert said != str(e) and english_in(said) == [], (lang, e.reason, said)
                for name in kept:
                    if e.values.get(name):
                        assert e.values[name] in said, (lang, e.reason, name)
                for tor_said in tors_words:
                    if tor_said in str(e):
                        assert tor_said in said, (lang, e.reason)
    finally:
        console.init("en")


@pytest.mark.parametrize("lang", LANGS)
def test_a_publication_in_words(lang):
    counts = {
        "state": "published",
        "descriptors": 2,
        "published": 2,
        "uploaded": 6,
        "failed": 1,
        "pending": 0,
        "reason": "UPLOAD_REJECTED",
    }
    try:
        console.init(lang)
        said = onion_words.publication_words(counts)
    finally:
        console.init("en")
    state = words(lang, "published")
    template = (
        "%(state)s: %(published)d of %(descriptors)d descriptors accepted, %(uploaded)d directories "
        "hold them, %(failed)d failed, %(pending)d pending"
    )
    assert (
        said
        == words(lang, template, **{**counts, "state": state})
        + " ("
        + words(lang, "last failure: %(reason)s", reason="UPLOAD_REJECTED")
        + ")"
    )
