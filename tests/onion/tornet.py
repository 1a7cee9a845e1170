"""A private Tor network on loopback, fully offline: 3 directory authorities, 3 relays, and any number of
client or onion-service tors. Reusable by tests and benchmarks:

    with TorNet(tmp_path) as net:        # keys, authorities and relays; waits for a full consensus
        service = net.add_tor("service")  # a tor with a ControlPort (and a SocksPort)
        client = net.add_tor("clerk", ClientOnionAuthDir=str(auth_dir))
        ...                               # every tor process is stopped on the way out, even on failure

Times are what make or break it (DESIGN "Ground already checked"): authorities vote every few seconds
(`TestingTorNetwork`, short voting intervals, `AssumeReachable`); `add_tor` is for after the first
consensus that lists every relay as an HSDir, once the relays, told by SIGHUP to fetch it at once rather
than at their next scheduled fetch, can serve every microdescriptor (a client that meets a relay still
missing some waits ten seconds to ask again). About 15-20 s to that point, then a few seconds for an
onion service to publish.
"""

from __future__ import annotations

import contextlib
import ctypes
import re
import shutil
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import stem.control

# Every node of the network: tor's own settings for test networks, tuned as chutney's "rapid bootstrap".
COMMON = {
    "TestingTorNetwork": "1",
    "AssumeReachable": "1",
    "PathsNeededToBuildCircuits": "0.25",
    "TestingDirAuthVoteExit": "*",
    "TestingDirAuthVoteGuard": "*",
    "TestingDirAuthVoteHSDir": "*",
    "TestingMinExitFlagThreshold": "0",
    "V3AuthNIntervalsValid": "2",
    "ShutdownWaitLength": "0",
    "SafeLogging": "0",
    "Address": "127.0.0.1",
    "CookieAuthentication": "1",
}
AUTHORITY = {
    "AuthoritativeDirectory": "1",
    "V3AuthoritativeDirectory": "1",
    "ExitPolicy": "reject *:*",
    # Both intervals must divide 30 minutes; vote delay + distribution delay < interval.
    "TestingV3AuthInitialVotingInterval": "5",
    "TestingV3AuthInitialVoteDelay": "2",
    "TestingV3AuthInitialDistDelay": "2",
    "V3AuthVotingInterval": "10",
    "V3AuthVoteDelay": "2",
    "V3AuthDistDelay": "2",
}
PR_SET_PDEATHSIG = 1  # linux/prctl.h
RELAY = {"ExitRelay": "1", "ExitPolicyRejectPrivate": "0", "ExitPolicy": "accept 127.0.0.0/8:*"}


def die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the test process dies, however it dies. (Not tor's
    __OwningControllerProcess: stem would then take ownership on our first control connection, and
    closing that connection would stop the tor.)"""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require(binary: str) -> str:
    """The full path of a program the network needs; a clear failure (never a skip) when it is missing."""
    path = shutil.which(binary)
    if path is None:
        raise RuntimeError(f"{binary} is not installed: apt-get install tor (it brings tor-gencert too)")
    return path


@dataclass
class Node:
    name: str
    dir: Path
    control_port: int
    or_port: int = 0
    dir_port: int = 0
    socks_port: int = 0
    config: dict[str, str | list[str]] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    lost_ports: list[tuple[int, int]] = field(default_factory=list)  # (control, OR) before each relaunch

    @property
    def log(self) -> str:
        """Its notice log, after what it said before that log opened (a port it could not bind)."""
        text = ""
        for name in ("stdout.log", "notice.log"):
            with contextlib.suppress(OSError):
                text += (self.dir / name).read_text(errors="replace")
        return text

    def lost_a_port(self) -> bool:
        """It exited because a port it was given was taken meanwhile (free_port() only finds a port
        free at that moment: another program on the machine may bind it before tor does)."""
        return (
            self.process is not None
            and self.process.poll() is not None
            and "Address already in use" in self.log
        )

    def controller(self) -> stem.control.Controller:
        controller = stem.control.Controller.from_port(port=self.control_port)
        controller.authenticate()
        return controller

    def wait_control(self, timeout: float = 10) -> None:
        """Until the control port accepts connections (tor opens it within a fraction of a second)."""
        deadline = time.monotonic() + timeout
        while True:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.control_port), 0.2),
            ):
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tor {self.name} has no control port:\n{self.log[-3000:]}")
            time.sleep(0.05)

    def wait_bootstrapped(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while "Bootstrapped 100%" not in self.log:
            if self.process.poll() is not None:
                raise RuntimeError(f"tor {self.name} exited:\n{self.log[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"tor {self.name} did not bootstrap in {timeout}s:\n{self.log[-3000:]}")
            time.sleep(0.1)


class TorNet:
    def __init__(self, root: Path, authorities: int = 3, relays: int = 3, tor: str = "tor") -> None:
        self.root = Path(root)
        self.tor = require(tor)
        self.gencert = require("tor-gencert")
        self.nodes: list[Node] = []
        self.authorities = [self._node(f"auth{i}", or_port=free_port(), dir_port=free_port())
                            for i in range(authorities)]  # fmt: skip
        self.relays = [self._node(f"relay{i}", or_port=free_port()) for i in range(relays)]
        self.dir_authority_lines: list[str] = []

    def __enter__(self) -> TorNet:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- building the network -------------------------------------------------------------------

    def start(self, timeout: float = 60) -> None:
        self.make_authority_keys()
        for node in self.authorities:
            self._launch(node, {**AUTHORITY, "DirPort": str(node.dir_port), "ContactInfo": node.name})
        for node in self.relays:
            self.launch_relay(node)
        self.wait_for_consensus(timeout)
        for node in self.relays:  # fetch the consensus now rather than at the next scheduled fetch
            node.process.send_signal(signal.SIGHUP)
        self.wait_for_directory_caches(timeout)

    def make_authority_keys(self) -> None:
        """Every authority's keys, and the DirAuthority lines every torrc of the network carries."""
        with ThreadPoolExecutor() as pool:  # RSA key generation: a second or so each
            self.dir_authority_lines = list(pool.map(self._make_authority_keys, self.authorities))

    def launch_relay(self, node: Node) -> None:
        """Start a relay; one that lost a port before tor could bind it starts again on new ones (it may
        also lose it after its control port answered: wait_for_consensus catches that)."""
        try:
            self._launch(node, RELAY)
        except RuntimeError:
            if not node.lost_a_port():
                raise
            self._relaunch_relay(node)

    def add_tor(self, name: str, **config: str) -> Node:
        """A tor that is neither authority nor relay (onion service, client): ControlPort and SocksPort."""
        node = self._node(name, socks_port=free_port())
        logs = [f"notice file {node.dir / 'notice.log'}", f"info file {node.dir / 'info.log'}"]
        self._launch(
            node, {"SocksPort": f"127.0.0.1:{node.socks_port} ExtendedErrors", "Log": logs, **config}
        )
        return node

    def wait_for_consensus(self, timeout: float) -> None:
        """Until an authority holds a consensus that lists every authority and relay as a running HSDir."""
        expected = len(self.authorities) + len(self.relays)
        deadline = time.monotonic() + timeout
        consensus = self.authorities[0].dir / "cached-microdesc-consensus"
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                text = consensus.read_text(errors="replace")
                flags = re.findall(r"^s (.*)$", text, re.MULTILINE)
                if sum({"Running", "HSDir"} <= set(f.split()) for f in flags) >= expected:
                    return
            for node in self.nodes:
                if node in self.relays and node.lost_a_port():
                    self._relaunch_relay(node)
                elif node.process is not None and node.process.poll() is not None:
                    raise RuntimeError(f"tor {node.name} exited:\n{node.log[-3000:]}")
            time.sleep(0.2)
        raise TimeoutError(f"no consensus with all {expected} relays in {timeout}s")

    def _relaunch_relay(self, node: Node) -> None:
        """A relay whose port was taken starts again on new ones (an authority's ports are written
        into every torrc, so only relays can)."""
        node.lost_ports.append((node.control_port, node.or_port))
        node.control_port, node.or_port = free_port(), free_port()
        for name in ("stdout.log", "notice.log"):
            (node.dir / name).unlink(missing_ok=True)
        self._launch(node, RELAY)

    def wait_for_directory_caches(self, timeout: float) -> None:
        """Until every relay can serve every microdescriptor. A client that asks a relay too early gets
        part of them and, by tor's schedule, asks again only ten seconds later."""
        expected = len(self.authorities) + len(self.relays)
        deadline = time.monotonic() + timeout
        for node in self.relays:
            with node.controller() as controller:
                while controller.get_info("md/all", "").count("onion-key") < expected:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{node.name} has not fetched every microdescriptor in {timeout}s")
                    time.sleep(0.1)

    def stop(self) -> None:
        """Terminate every tor we started, then kill what has not gone after a few seconds."""
        running = [n.process for n in self.nodes if n.process is not None and n.process.poll() is None]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + 5
        for process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    # -- one node ---------------------------------------------------------------------------------

    def _node(self, name: str, **ports: int) -> Node:
        node = Node(name=name, dir=self.root / name, control_port=free_port(), **ports)
        node.dir.mkdir(parents=True, mode=0o700)
        self.nodes.append(node)
        return node

    def _make_authority_keys(self, node: Node) -> str:
        """Authority keys by tor-gencert and a relay identity by tor itself: the DirAuthority line."""
        keys = node.dir / "keys"
        keys.mkdir(mode=0o700)
        subprocess.run([self.gencert, "--create-identity-key", "-m", "12", "-a", f"127.0.0.1:{node.dir_port}",
                        "-i", str(keys / "authority_identity_key"), "-s", str(keys / "authority_signing_key"),
                        "-c", str(keys / "authority_certificate"), "--passphrase-fd", "0"],
                       input=b"\n", check=True, capture_output=True, timeout=60)  # fmt: skip
        certificate = (keys / "authority_certificate").read_text()
        v3ident = re.search(r"^fingerprint (\w+)", certificate, re.M).group(1)
        empty = node.dir / "empty-torrc"
        empty.write_text("")
        subprocess.run([self.tor, "--defaults-torrc", str(empty), "-f", str(empty), "--list-fingerprint",
                        "--DataDirectory", str(node.dir), "--ORPort", str(node.or_port),
                        "--Nickname", node.name, "--Address", "127.0.0.1"],
                       check=True, capture_output=True, timeout=60)  # fmt: skip
        fingerprint = (node.dir / "fingerprint").read_text().split(maxsplit=1)[1].replace(" ", "").strip()
        return (f"{node.name} orport={node.or_port} no-v2 v3ident={v3ident} "
                f"127.0.0.1:{node.dir_port} {fingerprint}")  # fmt: skip

    def _launch(self, node: Node, extra: dict[str, str | list[str]]) -> None:
        config = {
            **COMMON,
            "DataDirectory": str(node.dir),
            "Nickname": node.name,
            "ControlPort": f"127.0.0.1:{node.control_port}",
            "SocksPort": "0",
            "Log": f"notice file {node.dir / 'notice.log'}",
            **({"ORPort": f"127.0.0.1:{node.or_port}"} if node.or_port else {}),
            **extra,
        }
        node.config = config
        lines = [f"{key} {value}" for key, values in config.items()
                 for value in (values if isinstance(values, list) else [values])]  # fmt: skip
        lines += [f"DirAuthority {line}" for line in self.dir_authority_lines]
        torrc = node.dir / "torrc"
        torrc.write_text("\n".join(lines) + "\n")
        (node.dir / "empty-torrc").touch()
        with open(node.dir / "stdout.log", "wb") as out:  # tor's complaints before its log file opens
            node.process = subprocess.Popen(
                [self.tor, "--defaults-torrc", str(node.dir / "empty-torrc"), "-f", str(torrc)],
                stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
            )  # fmt: skip
        node.wait_control()
