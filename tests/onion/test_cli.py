"""`sealdrop serve --onion`, `onion status` and `desk-access` as an operator meets them (child processes)."""

import json
import os
import re
import sys
import time
import urllib.request

import pytest

import onion
from dropbox import config
from tests.helpers import free_port
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


@pytest.mark.parametrize("damage", ["garbage", "directory", "group-readable"])
def test_onion_key_unreadable(instance, damage, cli):
    key = instance / "onion" / "reporter" / onion.SECRET_KEY_FILE
    key.parent.mkdir(parents=True)
    if damage == "garbage":
        key.write_bytes(b"\0" * 96)
    elif damage == "directory":
        key.mkdir()
    else:
        onion.OnionKey.load_or_create(key)
        key.chmod(0o640)
    for command in (["serve", "--onion"], ["onion", "status"]):
        error = one_line_error(cli(*command, "--dir", str(instance)))
        assert error.startswith(f"error: the onion key {key} is unreadable: ")
    assert not (instance / "tor").exists()  # refused before any tor starts
