"""tornet.py's own behaviour when another program takes a port it gave a tor.

free_port() only finds a port free at that moment; on a busy machine another program may bind it before
tor does. A relay then starts again on new ports (its ports are in no other torrc); an authority cannot
(its ports are in every torrc), and the test fails with what tor said. Here the other program is the
test itself, holding the port from before tor starts: the same race, lost every time.

Two ways to lose it: a socket bound but not yet listening makes tor exit before its control port ever
answers (`launch_relay` sees it); a program already listening answers the connection that tornet makes
to see whether tor's control port is up, so tor's exit is noticed only later (`wait_for_consensus`).
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Iterator

import pytest

from tests.onion import tornet
from tests.onion.tornet import TorNet


@contextlib.contextmanager
def taken(port: int, listening: bool) -> Iterator[socket.socket]:
    """Another program's socket on 127.0.0.1:`port` (no SO_REUSEADDR: tor's bind fails)."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        if listening:
            other.listen()
        yield other


def could_not_bind(port: int) -> str:
    """tor's own warning for a port that another program holds."""
    return f"Could not bind to 127.0.0.1:{port}: Address already in use"


def test_a_relay_that_lost_its_port_starts_again_on_new_ports(tmp_path):
    """No network needed: the relay's keys, its ports and its control connection are the whole story."""
    net = TorNet(tmp_path / "net", authorities=1, relays=1)
    net.make_authority_keys()
    relay = net.relays[0]
    given = (relay.control_port, relay.or_port)
    try:
        with taken(relay.control_port, listening=False):
            net.launch_relay(relay)
            assert relay.lost_ports == [given]
            assert relay.process.poll() is None
            assert relay.control_port not in given and relay.or_port not in given
            with relay.controller() as controller:  # the relay's own control port, on its new ports
                assert controller.get_info("net/listeners/control") == f'"127.0.0.1:{relay.control_port}"'
                assert controller.get_info("net/listeners/or") == f'"127.0.0.1:{relay.or_port}"'
                assert controller.get_conf("Nickname") == "relay0"
            torrc = (relay.dir / "torrc").read_text()
            assert f"ControlPort 127.0.0.1:{relay.control_port}\n" in torrc
            assert f"ORPort 127.0.0.1:{relay.or_port}\n" in torrc
            assert could_not_bind(given[0]) not in relay.log  # the new log is the new run's only
    finally:
        net.stop()


def test_an_authority_that_lost_its_port_fails_with_tors_words(tmp_path):
    """An authority's ports are written into every torrc: no second try, and the failure quotes tor."""
    net = TorNet(tmp_path / "net", authorities=1, relays=1)
    authority = net.authorities[0]
    with taken(authority.control_port, listening=False), pytest.raises(RuntimeError) as failed, net:
        pass
    assert str(failed.value).startswith("tor auth0 has no control port:")
    assert could_not_bind(authority.control_port) in str(failed.value)
    assert authority.lost_ports == [] and authority.process.poll() is not None
    assert net.relays[0].process is None  # it stopped at the authority


def test_a_relay_that_failed_otherwise_is_not_started_again(tmp_path, monkeypatch):
    """Only a lost port earns a second try; anything else fails at once with what tor said, here
    before its log file opened (a torrc it refuses)."""
    monkeypatch.setitem(tornet.RELAY, "ExitPolicy", "accept nowhere")
    net = TorNet(tmp_path / "net", authorities=1, relays=1)
    net.make_authority_keys()
    relay = net.relays[0]
    try:
        with pytest.raises(RuntimeError) as failed:
            net.launch_relay(relay)
    finally:
        net.stop()
    assert relay.lost_ports == []
    said = str(failed.value)
    assert said.startswith("tor relay0 has no control port:")
    assert re.search(r"\[warn\] .*accept nowhere", said), said  # tor's words, from its stdout
    assert not (relay.dir / "notice.log").exists()


@pytest.mark.slow
def test_the_network_works_after_relays_lost_their_ports(tmp_path):
    """Both ways of losing a port, in one network: each relay starts again on new ports, the consensus
    lists it there, and a client builds circuits through the network."""
    net = TorNet(tmp_path / "net", authorities=1, relays=3)
    before_tor, after_control = net.relays[0], net.relays[1]
    given = {node.name: (node.control_port, node.or_port) for node in (before_tor, after_control)}
    with (
        taken(before_tor.control_port, listening=False),
        taken(after_control.control_port, listening=True),  # answers tornet's "is tor up?"
        net,
    ):
        for node in (before_tor, after_control):
            assert node.lost_ports == [given[node.name]]
            assert node.process.poll() is None and node.or_port not in given[node.name]
        assert net.relays[2].lost_ports == []
        consensus = (net.authorities[0].dir / "cached-microdesc-consensus").read_text()
        for node in net.relays:
            assert re.search(rf"^r {node.name} .* 127\.0\.0\.1 {node.or_port} 0$", consensus, re.M), node.name
        client = net.add_tor("client")
        client.wait_bootstrapped(60)
        with client.controller() as controller:
            built = [c for c in controller.get_circuits() if c.status == "BUILT"]
            assert built, "no circuit through the network"
