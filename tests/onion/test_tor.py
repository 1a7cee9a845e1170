"""onion.Tor against a real tor with the network off: launch, attach, publish, close, and the errors."""

import logging
import re
import subprocess

import pytest
import stem.control

import onion
from tests.helpers import free_port
from tests.onion.conftest import PASSWORD


def test_launch_publish_and_the_same_address_after_a_restart(tmp_path):
    key_file = tmp_path / "onion" / "reporter" / onion.SECRET_KEY_FILE
    addresses, pids = [], []
    for _ in range(2):  # a new tor process each time, the same key file
        with onion.Tor.launch(tmp_path / "tor", torrc={"DisableNetwork": "1"}) as tor:
            service = tor.publish("reporter", key_file, free_port())
            addresses.append(service.address)
            pids.append(tor._process.pid)
            assert oct((tmp_path / "tor").stat().st_mode & 0o777) == "0o700"
        assert tor._process.poll() is not None  # close() stopped our tor
    assert pids[0] != pids[1]
    assert addresses[0] == addresses[1] == onion.OnionKey.load(key_file).address
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_add_onion_carries_pow_and_client_auth_and_tor_accepts_it(offline_tor, tmp_path):
    """What we ask of tor: tor accepts the PoW options only from 0.4.8 on and would refuse unknown ones,
    so an OK here means PoW is configured (the private network test reads it back from the descriptor)."""
    client = onion.ClientKey.generate()
    sent = []
    original = offline_tor._controller.msg
    offline_tor._controller.msg = lambda command: sent.append(command) or original(command)
    desk = offline_tor.publish("desk", tmp_path / "desk.key", 8080, client_auth=[client.public],
                               pow_queue_rate=10, pow_queue_burst=20)  # fmt: skip
    add_onion = next(command for command in sent if command.startswith("ADD_ONION"))
    assert "PoWDefensesEnabled=1 PoWQueueRate=10 PoWQueueBurst=20" in add_onion
    assert f"ClientAuthV3={client.public}" in add_onion and "Flags=DiscardPK,V3Auth" in add_onion
    assert "Port=80,127.0.0.1:8080" in add_onion
    assert desk.pow and desk.clients == 1
    plain = offline_tor.publish("reporter", tmp_path / "reporter.key", 8080, pow=False)
    assert not plain.pow and "PoWDefensesEnabled" not in sent[-1]


def test_the_same_onion_twice_is_refused_with_a_hint(offline_tor, tmp_path):
    offline_tor.publish("reporter", tmp_path / "key", 8080)
    with pytest.raises(onion.PublishFailed, match="published already, as the reporter onion"):
        offline_tor.publish("again", tmp_path / "key", 8080)
    port = int(re.match(r"127\.0\.0\.1:(\d+)", offline_tor.where).group(1))
    with onion.Tor.attach("127.0.0.1", port) as second:  # a second `serve` on the same tor
        hint = r"Onion address collision \(is another `sealdrop serve --onion` publishing it already\?\)"
        with pytest.raises(onion.PublishFailed, match=hint):
            second.publish("reporter", tmp_path / "key", 8080)


def test_closing_an_attached_tor_takes_our_onions_off_it(tmp_path, password_tor):
    key = tmp_path / "key"
    first = onion.Tor.attach("127.0.0.1", password_tor, password=PASSWORD)
    address = first.publish("reporter", key, 8080).address
    with stem.control.Controller.from_port(port=password_tor) as other:
        other.authenticate(password=PASSWORD)
        first.close()
        # Only the owner's connection lists its onions; once gone, the key is free to publish again.
        reply = other.msg(f"ADD_ONION {onion.OnionKey.load(key).control_blob()} Port=80,127.0.0.1:8080")
        assert reply.is_ok() and address.removesuffix(".onion") in str(reply)


def test_wait_published_times_out_with_a_reason(offline_tor, tmp_path):
    service = offline_tor.publish("reporter", tmp_path / "key", 8080)
    with pytest.raises(onion.PublishTimeout, match=r"not published within 0\.2s .*is tor connected"):
        service.wait_published(0.2)


def test_tor_not_installed(tmp_path, monkeypatch):
    with pytest.raises(onion.TorNotInstalled, match=r"^tor is not installed at /nonexistent/tor: apt-get"):
        onion.Tor.launch(tmp_path / "tor", tor_binary="/nonexistent/tor")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(onion.TorNotInstalled, match=r"^tor is not installed: apt-get install tor$"):
        onion.Tor.launch(tmp_path / "tor")


def test_tor_that_cannot_start_says_why(tmp_path):
    with pytest.raises(onion.TorFailedToStart, match="Unknown option 'NoSuchOption'"):
        onion.Tor.launch(tmp_path / "tor", torrc={"NoSuchOption": "1"})
    bogus = tmp_path / "not-tor"
    bogus.write_text("#!/bin/sh\nexit 3\n")
    bogus.chmod(0o755)
    with pytest.raises(onion.TorFailedToStart, match="tor did not start: it exited at once"):
        onion.Tor.launch(tmp_path / "tor2", tor_binary=str(bogus))


def test_control_connection_errors(password_tor):
    closed = free_port()
    with pytest.raises(onion.ControlConnectionRefused, match=f"at 127.0.0.1:{closed}: is ControlPort set"):
        onion.Tor.attach("127.0.0.1", closed)
    with pytest.raises(onion.ControlPasswordMissing, match="wants a control password: set SEALDROP_TOR"):
        onion.Tor.attach("127.0.0.1", password_tor)
    with pytest.raises(onion.WrongControlPassword, match="wrong tor control password"):
        onion.Tor.attach("localhost", password_tor, password="wrong")
    with onion.Tor.attach("localhost", password_tor, password=PASSWORD) as tor:
        assert tor.version.startswith("0.4.")


def test_a_port_that_is_not_tor(tmp_path):
    import http.server
    import threading

    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(onion.NotTorControlPort, match="does not answer like tor's control port"):
            onion.Tor.attach("127.0.0.1", server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_stem_never_logs_our_commands(offline_tor, tmp_path):
    """Even when someone asks stem for everything, as its own log_to_stdout() would."""
    seen = []
    handler = logging.Handler(level=1)
    handler.emit = lambda record: seen.append(record.getMessage())
    logging.getLogger("stem").addHandler(handler)
    try:
        offline_tor.publish("reporter", tmp_path / "key", 8080)
    finally:
        logging.getLogger("stem").removeHandler(handler)
    key = onion.OnionKey.load(tmp_path / "key").control_blob().split(":")[1]
    assert not [message for message in seen if key in message]


def test_odd_answers_from_tor_become_our_errors(odd_tor):
    """stem raises ValueError or ProtocolError here; onion/ must turn them into an OnionError."""
    with pytest.raises(onion.ControlCommandFailed) as raised:
        onion.Tor.attach("127.0.0.1", odd_tor.port)
    message = str(raised.value)
    assert message.startswith(f"tor at 127.0.0.1:{odd_tor.port} did not answer ")
    assert "check tor's log; if it keeps happening, restart tor and sealdrop" in message


def test_our_control_password_hash_is_tors(tmp_path):
    """Known answer from tor itself, for a throwaway value (its command line is visible in ps, which is
    why sealdrop and these tests hash real passwords in Python). password_tor proves the rest: tor
    accepts PASSWORD against a hash we made."""
    made = subprocess.run(
        ["tor", "--hash-password", "not-a-secret"], capture_output=True, text=True, check=True
    )
    tors = made.stdout.split()[-1]
    salt = bytes.fromhex(tors[3:19])
    assert onion.hash_control_password("not-a-secret", salt) == tors
    assert onion.hash_control_password("not-a-secret") != tors  # a fresh salt each time
