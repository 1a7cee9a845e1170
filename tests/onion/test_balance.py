"""One reporter address over several machines (onion/balance.py, `sealdrop onion balance ...`).

Quick tests: the commands that make onionbalance's configuration and a backend's folder, and what a
backend sets on a real tor. The slow one runs everything for real on the private Tor network of
tornet.py: two `sealdrop serve` backends on two tors, Debian's onionbalance publishing the frontend
(the instance's reporter address) on a third, and a reporter's tor that reaches both backends through
that one address, and still reaches the survivor when one backend stops.

onionbalance has no settings for its intervals: `--is-testnet` gives its shortest (instances fetched
every 20 s, publication checked every 10 s and on every new consensus), but its first publication still
waits its fixed 45 s. The slow test took 98-110 s here (docs/operations.md has the measured times).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import requests
import stem
from stem.descriptor.hidden_service import HiddenServiceDescriptorV3

import crypto.keys
import onion
from onion import balance
from tests.helpers import make_instance
from tests.onion import tornet
from tests.onion.conftest import Server, assert_no_processes_left, one_line_error
from tests.onion.tornet import TorNet, die_with_parent

ONION = r"[a-z2-7]{56}\.onion"


@pytest.fixture
def cheap_keys(monkeypatch):
    """Demo identities at the cheap Argon2 cost, as elsewhere in the onion tests."""
    monkeypatch.setattr(crypto.keys, "KDF_OPSLIMIT", 1)
    monkeypatch.setattr(crypto.keys, "KDF_MEMLIMIT", 8192 * 1024)


def config_of(instance: Path) -> dict:
    return json.loads((instance / "config.json").read_text())


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_frontend_is_the_reporter_key_and_config_names_every_backend(tmp_path, cli, cheap_keys):
    front, back = make_instance(tmp_path / "front"), make_instance(tmp_path / "back")

    def run(instance, *args):
        return cli("onion", "balance", *args, "--dir", str(instance))

    assert "run `sealdrop onion balance init` first" in one_line_error(
        run(front, "add-backend", "x", "--name", "a")
    )
    started = run(front, "init")
    frontend = re.fullmatch(
        rf"frontend \(reporter\) onion: http://({ONION})/r/<desk>\n", started.stdout
    ).group(1)
    reporter_key = front / "onion" / "reporter" / onion.SECRET_KEY_FILE
    assert onion.OnionKey.load(reporter_key).address == frontend == config_of(front)["onion_address"]
    assert run(front, "init").stdout == started.stdout  # again: the same key, never a new address

    # a backend: its own key, and tor's ob_config naming the frontend; Onion-Location will say the frontend
    made = run(back, "backend", "--frontend", f"http://{frontend}/")
    address = made.stdout.strip()
    assert re.fullmatch(ONION, address) and address != frontend
    assert f"add-backend {address} --name NAME" in made.stderr
    folder = back / "onion" / "backend"
    assert (folder / "ob_config").read_text() == f"MasterOnionAddress {frontend}\n"
    assert onion.OnionKey.load(folder / onion.SECRET_KEY_FILE).address == address
    assert mode(folder / "ob_config") == mode(folder / onion.SECRET_KEY_FILE) == 0o600
    assert not (back / "onion" / "reporter").exists()  # the frontend key never goes to a backend
    assert config_of(back)["onion_address"] == frontend
    assert run(back, "backend").stdout.strip() == address  # again: the same backend key
    status = cli("onion", "status", "--dir", str(back)).stdout
    assert f"backend: http://{address}/r/<desk>  not published; onionbalance instance of {frontend}" in status
    assert "reporter:" not in status

    out = tmp_path / "onionbalance"
    assert "no backends yet" in one_line_error(run(front, "config", "-o", str(out)))
    assert not (out / "config.yaml").exists() and not (out / "frontend.key").exists()
    typo = address[:10] + ("a" if address[10] != "a" else "b") + address[11:]
    assert "its checksum is wrong" in one_line_error(run(front, "add-backend", typo, "--name", "one"))
    assert "is not a v3 onion address" in one_line_error(
        run(front, "add-backend", "example.org", "--name", "x")
    )
    assert "is the frontend address itself" in one_line_error(
        run(front, "add-backend", frontend, "--name", "x")
    )
    assert run(front, "add-backend", address, "--name", "sofia-1").returncode == 0
    assert "is a backend already" in one_line_error(run(front, "add-backend", address, "--name", "other"))
    second = onion.OnionKey.generate().address
    run(front, "add-backend", second.removesuffix(".onion"), "--name", "sofia-2")
    assert run(front, "list").stdout == f"sofia-1 {address}\nsofia-2 {second}\n"

    written = run(front, "config", "-o", str(out))
    assert written.stdout == f"{out / 'frontend.key'}\n{out / 'config.yaml'}\n"
    assert "secret key" in written.stderr
    assert (
        out / "frontend.key"
    ).read_bytes() == reporter_key.read_bytes()  # tor's format: onionbalance reads it
    assert mode(out / "frontend.key") == mode(out / "config.yaml") == 0o600 and mode(out) == 0o700
    assert (out / "config.yaml").read_text().splitlines()[
        1:
    ] == [  # what onionbalance reads (slow test below)
        f"# frontend (the address on the posters): {frontend}",
        "services:",
        "  - key: frontend.key",
        "    instances:",
        f"      - address: {address}",
        "        name: sofia-1",
        f"      - address: {second}",
        "        name: sofia-2",
    ]
    assert "sofia-2" in run(front, "remove-backend", "sofia-2").stdout
    assert "no backend sofia-2" in one_line_error(run(front, "remove-backend", "sofia-2"))
    run(front, "config", "-o", str(out))  # regenerated in place
    assert second not in (out / "config.yaml").read_text() and address in (out / "config.yaml").read_text()


def test_a_backend_cannot_reuse_the_frontend_key(tmp_path):
    key = onion.OnionKey.load_or_create(tmp_path / "backend" / onion.SECRET_KEY_FILE)
    with pytest.raises(balance.BalanceError, match="is the frontend's own key"):
        balance.prepare_backend(tmp_path / "backend", key.address)
    assert not (tmp_path / "backend" / "ob_config").exists()


def test_a_backend_is_an_onionbalance_instance_on_tor_and_leaves_with_us(offline_tor, tmp_path):
    frontend = onion.OnionKey.generate().address
    folder = tmp_path / "backend"
    key = balance.prepare_backend(folder, frontend)
    service = balance.publish_backend(offline_tor, "backend", folder, 8080)
    assert service.address == key.address and service.pow
    options = offline_tor._controller.get_conf_map("HiddenServiceOptions")
    assert options["HiddenServiceDir"] == [str(folder.resolve())]
    assert options["HiddenServiceOnionBalanceInstance"] == ["1"]
    assert options["HiddenServicePoWDefensesEnabled"] == ["1"]
    assert options["HiddenServicePort"] == ["80 127.0.0.1:8080"]
    # tor read our key and the frontend from the folder itself
    assert (folder / "hostname").read_text().strip() == key.address
    log = (tmp_path / "tor" / "tor.log").read_text()
    assert f"OnionBalance: MasterOnionAddress {frontend} registered" in log
    with pytest.raises(onion.PublishFailed, match="published already"):
        balance.publish_backend(offline_tor, "again", folder, 8080)
    service.remove()
    assert offline_tor._controller.get_conf_map("HiddenServiceOptions").get("HiddenServiceDir") in (None, [])
    with pytest.raises(balance.BalanceError, match="not a backend folder"):
        balance.publish_backend(offline_tor, "backend", tmp_path / "elsewhere", 8080)


def test_serve_on_a_backend_publishes_its_own_onion_and_announces_the_frontend(tmp_path, cli, cheap_keys):
    back = make_instance(tmp_path / "back")
    frontend = onion.OnionKey.generate().address
    address = cli("onion", "balance", "backend", "--frontend", frontend, "--dir", str(back)).stdout.strip()
    with Server(back, "--onion") as server:
        line = server.wait_for(rf"^backend onion: http://({ONION})/r/<desk> \(onionbalance instance of the "
                               rf"reporter onion http://({ONION})/r/<desk>\)$")  # fmt: skip
        assert line.groups() == (address, frontend)
        server.wait_listening()
        page = requests.get(f"http://127.0.0.1:{server.port}/r/demo?lang=en", timeout=30)
        assert page.headers["Onion-Location"] == f"http://{frontend}/r/demo?lang=en"
        status = json.loads((back / "onion" / "status.json").read_text())["services"]
        assert set(status) == {"backend"} and status["backend"]["address"] == address
    assert server.process.returncode == 0, server.lines
    assert not (back / "onion" / "reporter").exists()
    torrc = (back / "tor" / "torrc").read_text()
    assert "HiddenService" not in torrc  # set over the control port, never written into a torrc


# -- for real, on the private Tor network ---------------------------------------------------------


RECIPIENT_KEYS = r'<script type="application/json" id="recipient-keys">(.*?)</script>'


def recipient_keys(html: str) -> str:
    """The officers' keys the page embeds: different on every instance, so they say who answered."""
    return re.search(RECIPIENT_KEYS, html, re.S).group(1)


def fetch(client: tornet.Node, url: str, isolation: str) -> str | None:
    """One GET through the reporter's tor on a circuit of its own (SOCKS username isolation: new
    introduction and rendezvous, so a new pick among the frontend's introduction points)."""
    session = requests.Session()
    session.proxies = {"http": f"socks5h://{isolation}:x@127.0.0.1:{client.socks_port}"}
    try:
        answer = session.get(url, timeout=60)
    except requests.RequestException:
        return None
    return answer.text if answer.status_code == 200 else None


@pytest.mark.slow
def test_one_address_reaches_both_backends_and_survives_losing_one(tmp_path, cli, cheap_keys, monkeypatch):
    # onionbalance's --is-testnet computes time periods for chutney's 20-second votes; tornet's 10 would
    # give the frontend descriptor another blinded key than the one clients ask for.
    monkeypatch.setitem(tornet.AUTHORITY, "V3AuthVotingInterval", "20")
    front = make_instance(tmp_path / "front")
    frontend = re.search(ONION, cli("onion", "balance", "init", "--dir", str(front)).stdout).group(0)
    backs = [make_instance(tmp_path / name) for name in ("back-a", "back-b")]
    for back in backs:
        assert cli("onion", "balance", "backend", "--frontend", frontend, "--dir", str(back)).returncode == 0
    out = tmp_path / "onionbalance"
    with TorNet(tmp_path / "net") as net:
        tors = [net.add_tor(f"backend{n}") for n in "ab"]
        balancer_tor, reporter_tor = net.add_tor("balancer"), net.add_tor("reporter")
        servers = [
            Server(back, "--tor-control", f"127.0.0.1:{tor.control_port}") for back, tor in zip(backs, tors)
        ]
        ob = None
        try:
            keys, addresses = {}, {}
            for name, server, back in zip("ab", servers, backs):
                address = addresses[name] = server.wait_for(rf"^backend onion: http://({ONION})/").group(1)
                server.wait_listening()
                cli("onion", "balance", "add-backend", address, "--name", name, "--dir", str(front))
                local = requests.get(f"http://127.0.0.1:{server.port}/r/demo?lang=en", timeout=30)
                keys[recipient_keys(local.text)] = name
            assert len(keys) == 2
            for back in backs:  # every descriptor on the directories before onionbalance first looks
                wait_settled(back / "onion" / "status.json")
            cli("onion", "balance", "config", "-o", str(out), "--dir", str(front))
            with open(tmp_path / "onionbalance.log", "wb") as log:
                ob = subprocess.Popen(
                    ["onionbalance", "-c", str(out / "config.yaml"), "-i", "127.0.0.1",
                     "-p", str(balancer_tor.control_port), "--is-testnet", "-v", "info"],
                    stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
                )  # fmt: skip
            reporter_tor.wait_bootstrapped()
            url = f"http://{frontend}/r/demo?lang=en"

            backends = {name: (tor, addresses[name]) for name, tor in zip("ab", tors)}
            answered: dict[str, int] = {}
            started, tries, refreshed = time.monotonic(), 0, 0.0
            while set(answered) != {"a", "b"}:  # onionbalance waits 45 s before its first publication
                if time.monotonic() - started > 180:
                    held = held_intros(reporter_tor, frontend, backends)
                    pytest.fail(f"only {answered} in 180 s; {held}\n{tail(tmp_path)}")
                assert ob.poll() is None, tail(tmp_path)
                if answered and time.monotonic() - refreshed > 15:
                    refreshed = time.monotonic()
                    refresh_if_stale(reporter_tor, frontend, backends)
                tries += 1
                page = fetch(reporter_tor, url, f"first-{tries}")
                if page is None:
                    time.sleep(1)  # the frontend descriptor is not on the directories yet
                    continue
                who = keys[recipient_keys(page)]
                answered[who] = answered.get(who, 0) + 1
            held = held_intros(reporter_tor, frontend, backends)
            elapsed = time.monotonic() - started
            reached_both = (  # printed at the end: the cli fixture's capsys takes what is printed before
                f"both backends answered through the frontend {elapsed:.0f} s after "
                f"onionbalance started ({tries} requests); its descriptor held {held} of their intros"
            )

            def status(n: int) -> str:
                where = f"127.0.0.1:{tors[n].control_port}"
                return cli("onion", "status", "--dir", str(backs[n]), "--tor-control", where).stdout

            shown = status(0)
            assert re.search(
                r"^backend: http://\S+/r/<desk>  published: 2 of 2 descriptors accepted", shown, re.M
            )
            assert "holds a descriptor for the backend onion" in shown

            assert servers[0].stop() == 0  # backend a goes away: its onion leaves its tor
            assert "does not hold a descriptor for the backend onion" in status(0)
            lost = time.monotonic()
            survivors, tries = [], 0
            while len(survivors) < 5:  # five in a row on fresh circuits, each reaching b
                assert time.monotonic() - lost < 120, f"after losing a: {survivors}\n{tail(tmp_path)}"
                tries += 1
                page = fetch(reporter_tor, url, f"after-{tries}")
                survivors = [*survivors, keys[recipient_keys(page)]] if page else []
            assert survivors == ["b"] * 5
            print(reached_both)
            print(
                f"after losing backend a: {tries} requests, {time.monotonic() - lost:.0f} s for five in a row"
            )
        finally:
            if ob is not None:
                ob.kill()  # onionbalance ignores SIGTERM while its scheduler sleeps
                ob.wait(10)
            for server in servers:
                server.stop()
    assert_no_processes_left(tmp_path)


def intro_auth_keys(tor: tornet.Node, kind: str, address: str) -> set[bytes] | str:
    """The introduction points (by auth key, which onionbalance keeps when it copies them) of the
    descriptor `tor` holds for `address`: kind "service" for its own onion, "client" for one it fetched.
    What tor said instead when it holds none."""
    name = address.removesuffix(".onion")
    with tor.controller() as controller:
        try:
            text = controller.get_info(f"hs/{kind}/desc/id/{name}")
        except stem.ControllerError as error:
            return str(error)
    points = HiddenServiceDescriptorV3(text.encode()).decrypt(name).introduction_points
    return {point.auth_key_cert.key for point in points}


def held_intros(reporter: tornet.Node, frontend: str, backends: dict) -> dict[str, str]:
    """For each backend, how many of its current introduction points the reporter's copy of the
    frontend descriptor lists ("1 of 3"), and how many that copy lists in all."""
    held = intro_auth_keys(reporter, "client", frontend)
    if isinstance(held, str):
        return {"frontend": held}
    counts = {"frontend": f"{len(held)} intros"}
    for name, (tor, address) in backends.items():
        current = intro_auth_keys(tor, "service", address)
        counts[name] = current if isinstance(current, str) else f"{len(held & current)} of {len(current)}"
    return counts


def refresh_if_stale(reporter: tornet.Node, frontend: str, backends: dict) -> None:
    """A backend whose current introduction points are all missing from the reporter's copy of the
    frontend descriptor cannot be reached through it: that copy predates onionbalance's latest (a
    backend's tor moved its introduction points after onionbalance fetched them). A real client would
    fetch it again once every listed point failed; here the other backend answers, so ask for it."""
    if any(count.startswith("0 of") for count in held_intros(reporter, frontend, backends).values()):
        with reporter.controller() as controller:
            controller.msg(f"HSFETCH {frontend.removesuffix('.onion')}")


def wait_settled(status_file: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if json.loads(status_file.read_text())["services"]["backend"]["settled"]:
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"backend onion not published in {timeout}s")


def tail(tmp_path: Path) -> str:
    try:
        return (tmp_path / "onionbalance.log").read_text(errors="replace")[-3000:]
    except OSError:
        return "(no onionbalance log)"
