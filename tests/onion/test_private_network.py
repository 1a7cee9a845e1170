"""End to end through real Tor, fully offline: a private Tor network on loopback (tornet.py), a real
`sealdrop serve --onion --tor-control` child publishing on its onion-service tor, a reporter's tor and a
clerk's tor (with ClientOnionAuthDir) as clients. A page through a .onion in well under a minute.

What proves what:
- the reporter gets a receipt from the no-JS form, over the reporter onion, through SOCKS;
- proof of work: the descriptor the reporter's tor fetched from an HSDir, decrypted with the address,
  carries `pow-params v1` (tor writes that line only for a service with the PoW defence on);
- client authorization: without a key, tor itself answers SOCKS error 0xF4 ("onion service missing
  client authorization"), because it cannot even decrypt the desk's descriptor (nor can we with the
  address alone); the clerk's tor, given the line `desk-access add` printed, gets the desk's login form.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import socket
import time
from pathlib import Path

import pytest
import requests
from stem.descriptor.hidden_service import HiddenServiceDescriptorV3

import crypto.keys
from dropbox import cli
from tests.helpers import make_instance, open_all_envelopes
from tests.onion.conftest import Server, assert_no_processes_left, sealdrop
from tests.onion.tornet import TorNet

pytestmark = pytest.mark.slow

SOCKS_MISSING_CLIENT_AUTH = 0xF4  # tor's extended SOCKS5 errors (SocksPort ExtendedErrors)


def settled_status(instance: Path, names: set[str], timeout: float = 60) -> dict:
    """Until serve's status file says every onion is published with no upload in flight."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            services = json.loads((instance / "onion" / "status.json").read_text())["services"]
        except (OSError, ValueError, KeyError):
            services = {}
        if names <= services.keys() and all(services[name]["settled"] for name in names):
            return services
        time.sleep(0.2)
    raise TimeoutError(f"onions not published in {timeout}s: {services}")


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    root = tmp_path_factory.mktemp("tornet")
    with pytest.MonkeyPatch.context() as patch:  # demo identities at the cheap Argon2 cost, as elsewhere
        patch.setattr(crypto.keys, "KDF_OPSLIMIT", 1)
        patch.setattr(crypto.keys, "KDF_MEMLIMIT", 8192 * 1024)
        instance = make_instance(root / "instance")
    line = io.StringIO()
    with contextlib.redirect_stdout(line), contextlib.redirect_stderr(io.StringIO()):
        assert cli.main(["desk-access", "add", "clerk", "--dir", str(instance)]) == 0
    auth_dir = root / "clerk-auth"
    auth_dir.mkdir(mode=0o700)
    (auth_dir / "desk.auth_private").write_text(line.getvalue())  # the line, exactly as the clerk got it
    with TorNet(root / "net") as net:
        service_tor = net.add_tor("service")
        reporter_tor = net.add_tor("reporter")
        clerk_tor = net.add_tor("clerk", ClientOnionAuthDir=str(auth_dir))
        with Server(instance, "--tor-control", f"127.0.0.1:{service_tor.control_port}") as server:
            reporter = server.wait_for(r"^reporter onion: http://(\S+\.onion)/").group(1)
            desk = server.wait_for(r"^desk onion: http://(\S+\.onion)/desk/").group(1)
            server.wait_listening()
            status = settled_status(instance, {"reporter", "desk"})  # before the first fetch
            reporter_tor.wait_bootstrapped()
            clerk_tor.wait_bootstrapped()
            yield {"net": net, "instance": instance, "server": server, "reporter": reporter, "desk": desk,
                   "status": status, "reporter_tor": reporter_tor, "clerk_tor": clerk_tor,
                   "service_tor": service_tor}  # fmt: skip
    assert server.process.returncode == 0, server.lines
    assert_no_processes_left(root)


def through(node) -> requests.Session:
    session = requests.Session()
    session.proxies = {"http": f"socks5h://127.0.0.1:{node.socks_port}"}
    return session


def socks_reply(node, host: str, port: int = 80) -> int:
    """The reply code of a SOCKS5 CONNECT through `node` (0 means connected)."""
    with socket.create_connection(("127.0.0.1", node.socks_port), timeout=60) as s:
        s.sendall(b"\x05\x01\x00")
        assert s.recv(2) == b"\x05\x00"
        name = host.encode()
        s.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + port.to_bytes(2, "big"))
        return s.recv(10)[1]


def test_every_upload_finished_before_the_first_fetch(network):
    for name in ("reporter", "desk"):
        publication = network["status"][name]
        assert publication["published"] == publication["descriptors"] == 2  # current and next period
        assert publication["pending"] == 0 and publication["uploaded"] >= 1 and publication["pow"]
    assert network["status"]["desk"]["clients"] == 1
    shown = sealdrop("onion", "status", "--dir", str(network["instance"]),
                     "--tor-control", f"127.0.0.1:{network['service_tor'].control_port}")  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    published = r"^reporter: http://\S+/r/<desk>  published: 2 of 2 descriptors accepted"
    assert re.search(published, shown.stdout, re.M)
    assert "holds a descriptor for the reporter onion" in shown.stdout
    assert "holds a descriptor for the desk onion" in shown.stdout


def test_reporter_without_javascript_gets_a_receipt_over_the_onion(network):
    web = through(network["reporter_tor"])
    base = f"http://{network['reporter']}"
    page = web.get(f"{base}/r/demo?lang=en", timeout=60)
    assert page.status_code == 200 and "Onion-Location" not in page.headers  # already on the onion
    assert "<script" not in page.text.split("<form", 1)[1].split("</form>", 1)[0]  # a plain HTML form
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    category = re.search(r'value="(\d+)"[^>]*> Drug dealing', page.text).group(1)
    what = "Dealing behind the gym, seen over Tor"
    answer = web.post(
        f"{base}/r/demo",
        data={"csrf_token": token, "category": category, "lang": "en", "what": what, "where_mode": "none"},
        files={"files": ("", b"", "application/octet-stream")},  # multipart, as the form posts it
        headers={"Origin": base},  # what Tor Browser sends for a same-origin form
        timeout=60,
    )
    assert answer.status_code == 200, answer.text[:500]
    assert re.search(r'id="receipt"[^>]*>[^<]+<', answer.text)
    assert any(what.encode() in opened for opened in open_all_envelopes(network["instance"]))
    clearnet = requests.get(f"http://127.0.0.1:{network['server'].port}/r/demo", timeout=10)
    assert clearnet.headers["Onion-Location"] == f"{base}/r/demo"


def test_pow_is_in_the_descriptor_clients_fetch(network):
    address = network["reporter"].removesuffix(".onion")
    assert socks_reply(network["reporter_tor"], network["reporter"]) == 0  # makes sure it was fetched
    with network["reporter_tor"].controller() as controller:
        raw = controller.get_info(f"hs/client/desc/id/{address}")
    inner = str(HiddenServiceDescriptorV3.from_str(raw).decrypt(address))
    assert re.search(r"^pow-params v1 \S+ \d+ \S+$", inner, re.M), inner


def test_desk_refuses_a_client_without_its_key_and_admits_the_clerk(network):
    desk = network["desk"]
    assert socks_reply(network["reporter_tor"], desk) == SOCKS_MISSING_CLIENT_AUTH
    with network["reporter_tor"].controller() as controller:
        raw = controller.get_info(f"hs/client/desc/id/{desk.removesuffix('.onion')}")
    with pytest.raises(Exception):
        HiddenServiceDescriptorV3.from_str(raw).decrypt(desk.removesuffix(".onion"))
    answer = through(network["clerk_tor"]).get(f"http://{desk}/desk/", timeout=60)
    # The desk itself answered, through Tor: /desk/ sends a clerk without a session to its login form.
    assert answer.status_code == 200 and answer.url == f"http://{desk}/desk/login?next=/desk/", answer.url
    assert "<h1>Log in to the desk</h1>" in answer.text
    assert re.search(r'<form method="post" action="/desk/login" id="login-form">', answer.text)
    assert 'name="csrf_token"' in answer.text and 'autocomplete="one-time-code"' in answer.text
    assert "Content-Security-Policy" in answer.headers
