"""`sealdrop serve --onion`, `onion status` and `desk-access` as an operator meets them (child processes)."""

import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest

import onion
from dropbox import config
from tests.helpers import REPO, free_port
from tests.onion.conftest import PASSWORD, Server, one_line_error, sealdrop

ONION = r"([a-z2-7]{56}\.onion)"


def test_serve_onion_prints_the_address_within_seconds_and_keeps_it(instance):
    addresses = []
    for _ in range(2):  # a restart launches a new tor with the same key
        started = time.monotonic()
        with Server(instance, "--onion") as server:
            addresses.append(server.wait_for(rf"^reporter onion: http://{ONION}/r/<desk>$").group(1))
            assert time.monotonic() - started < 10
            server.wait_listening()
            server.wait_for("desk onion: not published until a clerk has access")
            status = json.loads((instance / "onion" / "status.json").read_text())
            assert status["running"] and status["services"]["reporter"]["pow"]
            assert oct((instance / "onion" / "status.json").stat().st_mode & 0o777) == "0o600"
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/r/demo?lang=en") as response:
                assert response.headers["Onion-Location"] == f"http://{addresses[-1]}/r/demo?lang=en"
            shown = sealdrop("onion", "status", "--dir", str(instance))
            assert shown.returncode == 0, shown.stderr
            assert re.search(rf"server: running \(pid {server.process.pid}\)", shown.stdout)
            assert f"reporter: http://{addresses[-1]}/r/<desk>  publishing" in shown.stdout
            assert "proof of work on" in shown.stdout
        assert server.process.returncode == 0, server.lines  # SIGTERM ends in an orderly shutdown
    assert addresses[0] == addresses[1]
    assert config.load(instance).onion_address == addresses[0]
    assert {"torrc", "tor.log"} <= {p.name for p in (instance / "tor").iterdir()}
    assert "Owning controller connection has closed -- exiting" in (instance / "tor" / "tor.log").read_text()
    after = sealdrop("onion", "status", "--dir", str(instance))
    assert "server: not running" in after.stdout and "not published" in after.stdout


def test_desk_access_add_list_revoke(instance, cli):
    def access(*args):
        return cli("desk-access", *args, "--dir", str(instance))

    added = access("add", "petrova")
    assert added.returncode == 0, added.stderr
    line = added.stdout.strip()
    desk, private = re.fullmatch(r"([a-z2-7]{56}):descriptor:x25519:([A-Z2-7]{52})", line).groups()
    assert f"{desk}.onion" == onion.OnionKey.load(instance / "onion" / "desk" / onion.SECRET_KEY_FILE).address
    assert "shown only this once" in added.stderr and "restart `sealdrop serve --onion`" in added.stderr
    stored = (instance / "onion" / "desk" / "authorized_clients" / "petrova.auth").read_text()
    assert private not in stored and stored.startswith("descriptor:x25519:")
    assert not any(private in p.read_bytes().decode(errors="replace")
                   for p in instance.rglob("*") if p.is_file())  # fmt: skip
    access("add", "ivanov")
    assert access("list").stdout == "ivanov\npetrova\n"
    assert "already has access" in one_line_error(access("add", "ivanov"))
    assert "not a usable name" in one_line_error(access("add", "../x"))
    assert "no longer has desk access; restart" in access("revoke", "ivanov").stdout
    assert access("list").stdout == "petrova\n"
    assert "no access named ivanov" in one_line_error(access("revoke", "ivanov"))
    status = cli("onion", "status", "--dir", str(instance)).stdout
    assert f"desk: http://{desk}.onion/desk/  not published" in status


def test_desk_onion_is_published_only_with_client_authorization(instance, password_tor):
    sealdrop("desk-access", "add", "petrova", "--dir", str(instance))
    env = {**os.environ, "SEALDROP_TOR_PASSWORD": PASSWORD}
    with Server(instance, "--tor-control", f"127.0.0.1:{password_tor}", env=env) as server:
        desk = server.wait_for(rf"^desk onion: http://{ONION}/desk/ \(client authorization: 1\)$").group(1)
        server.wait_listening()
        status = json.loads((instance / "onion" / "status.json").read_text())
        desk_status = status["services"]["desk"]
        assert (desk_status["address"], desk_status["clients"], desk_status["pow"]) == (desk, 1, True)
        assert status["tor"] == f"127.0.0.1:{password_tor}"
        shown = sealdrop("onion", "status", "--dir", str(instance), env=env)
        assert "client authorization: 1" in shown.stdout


# -- every failure: one line that says what to do -----------------------------------------------


def test_tor_missing(instance, cli, monkeypatch):
    bogus = cli("serve", "--onion", "--tor", "/opt/nowhere/tor", "--dir", str(instance))
    assert "tor is not installed at /opt/nowhere/tor: apt-get install tor" in one_line_error(bogus)
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable))
    assert one_line_error(cli("serve", "--onion", "--dir", str(instance))) == (
        "error: tor is not installed: apt-get install tor\n"
    )
    # and the same through a real `sealdrop` whose PATH has no tor
    no_tor = {**os.environ, "PATH": os.path.dirname(sys.executable)}
    assert one_line_error(sealdrop("serve", "--onion", "--dir", str(instance), env=no_tor)) == (
        "error: tor is not installed: apt-get install tor\n"
    )


def test_tor_refusing_the_control_connection(instance, cli):
    port = free_port()
    expected = f"error: tor refused the control connection at 127.0.0.1:{port}: is ControlPort set?\n"
    for command in (["serve", "--tor-control", f"127.0.0.1:{port}"],
                    ["onion", "status", "--tor-control", str(port)]):  # fmt: skip
        assert one_line_error(cli(*command, "--dir", str(instance))) == expected
    assert "--tor-control takes HOST:PORT" in one_line_error(
        cli("serve", "--tor-control", "localhost", "--dir", str(instance))
    )


def test_wrong_or_missing_control_password(instance, password_tor, cli, monkeypatch):
    where = f"127.0.0.1:{password_tor}"
    monkeypatch.setenv("SEALDROP_TOR_PASSWORD", "not it")
    expected = f"error: wrong tor control password for {where}: check SEALDROP_TOR_PASSWORD\n"
    for command in (["serve", "--tor-control", where], ["onion", "status", "--tor-control", where]):
        result = cli(*command, "--dir", str(instance))
        assert one_line_error(result) == expected
        assert "not it" not in result.stderr + result.stdout
    monkeypatch.delenv("SEALDROP_TOR_PASSWORD")
    assert one_line_error(cli("serve", "--tor-control", where, "--dir", str(instance))) == (
        f"error: tor at {where} wants a control password: set SEALDROP_TOR_PASSWORD\n"
    )


RESTORE = "restore it from the backup of DIR/onion/ (do not delete it: a new key is a new onion address)"
WHAT_TO_DO = {
    "garbage": f"it is not a tor v3 onion key (hs_ed25519_secret_key): {RESTORE}",
    "directory": f"it is a directory, not a key file: move the directory away, then {RESTORE}",
    "group-readable": "other users may read it: chmod 600 {key} (if someone may have copied it",
    "permission-denied": "permission denied: run sealdrop as the user who owns the instance, or give the "
    "file back to that user (chown USER {key}; chmod 600 {key})",
}


def damage_key(key, damage: str) -> None:
    key.parent.mkdir(parents=True)
    if damage == "garbage":
        key.write_bytes(b"\0" * 96)
    elif damage == "directory":
        key.mkdir()
    else:
        onion.OnionKey.load_or_create(key)
        key.chmod(0o640 if damage == "group-readable" else 0o000)


@pytest.mark.parametrize("damage", ["garbage", "directory", "group-readable"])
def test_onion_key_unreadable(instance, damage, cli):
    key = instance / "onion" / "reporter" / onion.SECRET_KEY_FILE
    damage_key(key, damage)
    for command in (["serve", "--onion"], ["onion", "status"]):
        error = one_line_error(cli(*command, "--dir", str(instance)))
        assert error.startswith(f"error: the onion key {key} is unreadable: ")
        assert WHAT_TO_DO[damage].format(key=key) in error
    assert not (instance / "tor").exists()  # refused before any tor starts


def test_onion_key_permission_denied(instance):
    """EACCES for real: the key is mode 000 and sealdrop runs as root without the capabilities that let
    root read any file (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), as an ordinary owner would."""
    key = instance / "onion" / "reporter" / onion.SECRET_KEY_FILE
    damage_key(key, "permission-denied")
    no_override = "-dac_override,-dac_read_search"
    prefix = ["setpriv", f"--bounding-set={no_override}", f"--inh-caps={no_override}"]
    if os.geteuid() != 0:
        prefix = []  # an ordinary user cannot read a mode 000 file anyway
    for command in (["serve", "--onion", "--port", "0", "--desk-port", "0"], ["onion", "status"]):
        result = subprocess.run(
            [*prefix, sys.executable, "-m", "dropbox.cli", *command, "--dir", str(instance)],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        error = one_line_error(result)
        assert error.startswith(f"error: the onion key {key} is unreadable: permission denied: ")
        assert WHAT_TO_DO["permission-denied"].format(key=key) in error
    assert not (instance / "tor").exists()


def record_address(instance) -> str:
    """The instance after its first `serve --onion`: a reporter key and its address in config.json."""
    key = onion.OnionKey.load_or_create(instance / "onion" / "reporter" / onion.SECRET_KEY_FILE)
    config.save(config.load(instance).with_overrides(onion_address=key.address))
    return key.address


def test_a_lost_reporter_key_is_refused_not_replaced(instance, cli):
    address = record_address(instance)
    key = instance / "onion" / "reporter" / onion.SECRET_KEY_FILE
    key.unlink()
    error = one_line_error(cli("serve", "--onion", "--dir", str(instance)))
    assert error == (
        f"error: the reporter onion key {key} is missing, but this instance's address is {address} (on "
        "every poster): restore the key from the backup of DIR/onion/reporter/; only to start a new "
        "address on purpose, run `sealdrop onion new-address` and reprint every poster\n"
    )
    assert not key.exists() and not (instance / "tor").exists()
    assert config.load(instance).onion_address == address


def test_a_different_reporter_key_is_refused(instance, cli):
    address = record_address(instance)
    key = instance / "onion" / "reporter" / onion.SECRET_KEY_FILE
    key.unlink()
    other = onion.OnionKey.load_or_create(key)  # say, the wrong backup restored
    error = one_line_error(cli("serve", "--onion", "--dir", str(instance)))
    assert f"now gives another address, {other.address}, but this instance's address is {address}" in error
    assert "restore the key from the backup" in error
    assert config.load(instance).onion_address == address


def test_onion_new_address_starts_a_new_address_on_purpose(instance, cli):
    old = record_address(instance)
    key = instance / "onion" / "reporter" / onion.SECRET_KEY_FILE
    made = cli("onion", "new-address", "--dir", str(instance))
    assert made.returncode == 0, made.stderr
    new = re.fullmatch(rf"new reporter onion: http://{ONION}/r/<desk>\n", made.stdout).group(1)
    assert new != old and config.load(instance).onion_address == new
    assert onion.OnionKey.load(key).address == new
    (kept,) = key.parent.glob(f"{onion.SECRET_KEY_FILE}.replaced-*")
    assert onion.OnionKey.load(kept).address == old  # still 0600, so load() accepts it
    assert "Reprint every poster" in made.stderr and str(kept) in made.stderr
    key.unlink()  # and with no key at all, the command still works
    again = cli("onion", "new-address", "--dir", str(instance))
    assert again.returncode == 0 and config.load(instance).onion_address != new


def test_a_lost_desk_key_is_refused_once_clerks_hold_access(instance, cli):
    assert cli("desk-access", "add", "petrova", "--dir", str(instance)).returncode == 0
    key = instance / "onion" / "desk" / onion.SECRET_KEY_FILE
    key.unlink()
    for command in (["desk-access", "add", "ivanov"], ["serve", "--onion"]):
        error = one_line_error(cli(*command, "--dir", str(instance)))
        assert f"error: the onion key {key} is unreadable: there is no such file: {RESTORE}" in error
    assert not key.exists()


def test_an_odd_answer_from_tor_is_one_line_without_a_traceback(instance, odd_tor):
    result = sealdrop("serve", "--tor-control", f"127.0.0.1:{odd_tor.port}", "--dir", str(instance))
    error = one_line_error(result)
    assert "Traceback" not in result.stderr
    what = {"GETINFO version": "GETINFO version", "SETEVENTS": "SETEVENTS HS_DESC"}[next(iter(odd_tor.odd))]
    assert error.startswith(f"error: tor at 127.0.0.1:{odd_tor.port} did not answer {what} as expected (")
    assert error.endswith("check tor's log; if it keeps happening, restart tor and sealdrop\n")
    status = sealdrop("onion", "status", "--tor-control", f"127.0.0.1:{odd_tor.port}", "--dir", str(instance))
    assert "did not answer" in one_line_error(status)


def test_the_desk_poster_page_has_the_onion_from_the_first_serve(instance):
    """The first `serve --onion` learns the reporter address while starting: the desk's poster page, and
    the posters it makes, must carry it at once, not after a restart."""
    import io

    import requests
    import zxingcpp
    from PIL import Image

    from tests.desk_helpers import PASSWORD as DESK_PASSWORD
    from tests.desk_helpers import add_user, code, csrf

    name, secret = add_user(instance, "admin")
    assert config.load(instance).onion_address == ""
    with Server(instance, "--onion") as server:
        address = server.wait_for(rf"^reporter onion: http://{ONION}/r/<desk>$").group(1)
        desk = "http://127.0.0.1:" + server.wait_for(r"^desk: http://127\.0\.0\.1:(\d+)/desk/").group(1)
        server.wait_listening()
        web = requests.Session()
        token = csrf(web.get(f"{desk}/desk/login", timeout=10).text)
        login = {"csrf_token": token, "name": name, "password": DESK_PASSWORD, "code": code(secret)}
        assert web.post(f"{desk}/desk/login", data=login, timeout=10).url.endswith("/desk/")
        page = web.get(f"{desk}/desk/admin/posters", timeout=10).text
        assert f"<code>{address}</code>" in page
        form = {"csrf_token": csrf(page), "desk": "demo", "lang": "en", "size": "A6", "format": "png",
                "url": "https://sofia.example"}  # fmt: skip
        poster = web.post(f"{desk}/desk/admin/posters", data=form, timeout=60)
        assert poster.status_code == 200 and poster.headers["Content-Type"] == "image/png"
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(poster.content)))
    assert sorted(c.text for c in found) == sorted(
        ["https://sofia.example/r/demo", f"http://{address}/r/demo"]
    )


def test_onion_hash_password_takes_the_password_from_the_environment(instance):
    env = {**os.environ, "SEALDROP_TOR_PASSWORD": PASSWORD}
    made = sealdrop("onion", "hash-password", "--dir", str(instance), env=env)
    assert made.returncode == 0, made.stderr
    line = re.fullmatch(r"HashedControlPassword (16:[0-9A-F]{16}60[0-9A-F]{40})\n", made.stdout).group(1)
    assert onion.hash_control_password(PASSWORD, bytes.fromhex(line[3:19])) == line
    without = {k: v for k, v in os.environ.items() if k != "SEALDROP_TOR_PASSWORD"}
    refused = subprocess.run(
        [sys.executable, "-m", "dropbox.cli", "onion", "hash-password", "--dir", str(instance)],
        cwd=REPO, env=without, capture_output=True, text=True, stdin=subprocess.DEVNULL,
        start_new_session=True,  # no terminal: it must not read (and echo) stdin
    )  # fmt: skip
    assert one_line_error(refused) == "error: no password: set SEALDROP_TOR_PASSWORD or run in a terminal\n"
