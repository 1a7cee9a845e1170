"""Fixtures for tests against a real tor: never skipped, and no tor process outlives its test."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import onion
from dropbox import cli as dropbox_cli
from tests.helpers import REPO, free_port, make_instance
from tests.onion.tornet import die_with_parent


@pytest.fixture(scope="session", autouse=True)
def tor_is_installed() -> None:
    """These tests are the proof that the onion half works: a machine without tor fails them loudly."""
    missing = [program for program in ("tor", "tor-gencert") if shutil.which(program) is None]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found: apt-get install tor", pytrace=False)


def processes_mentioning(path: Path) -> list[str]:
    """Command lines of live processes that name `path` (our tors and servers all do)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if (entry / "stat").read_text().split(") ", 1)[1].startswith("Z"):
                    continue  # a zombie has exited already
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if str(path) in cmdline:
                    found.append(f"{entry.name}: {cmdline}")
    return found


def assert_no_processes_left(path: Path, grace: float = 5) -> None:
    deadline = time.monotonic() + grace
    while (left := processes_mentioning(path)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"processes left behind: {left}"


@pytest.fixture(autouse=True)
def no_leftover_processes(tmp_path) -> Iterator[None]:
    yield
    assert_no_processes_left(tmp_path)


@pytest.fixture
def instance(tmp_path) -> Path:
    return make_instance(tmp_path / "instance")


@pytest.fixture
def offline_tor(tmp_path) -> Iterator[onion.Tor]:
    """Our own tor with the network off: the control port and ADD_ONION work, nothing is published."""
    with onion.Tor.launch(tmp_path / "tor", torrc={"DisableNetwork": "1"}) as tor:
        yield tor


PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def password_tor(tmp_path_factory) -> Iterator[int]:
    """A tor that wants a control password (no cookie), network off; yields its control port. The hash
    is made in Python: `tor --hash-password PASSWORD` would show the password to ps."""
    data = tmp_path_factory.mktemp("password-tor")
    data.chmod(0o700)
    port = free_port()
    (data / "torrc").write_text(
        f"DataDirectory {data}\nControlPort 127.0.0.1:{port}\nCookieAuthentication 0\nSocksPort 0\n"
        f"HashedControlPassword {onion.hash_control_password(PASSWORD)}\nDisableNetwork 1\n"
        f"Log notice file {data / 'notice.log'}\n"
    )
    process = subprocess.Popen(
        ["tor", "-f", str(data / "torrc")], stdout=subprocess.DEVNULL, preexec_fn=die_with_parent
    )
    try:
        wait_for_port(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(10)
    assert_no_processes_left(data)


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        assert process.poll() is None, "the process exited"
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def any_ports(args: tuple[str, ...]) -> list[str]:
    """`serve` in tests listens on ports the kernel picks, never on 8080/8081 another run may hold."""
    return [*args, "--port", "0", "--desk-port", "0"] if args[:1] == ("serve",) else list(args)


def sealdrop(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """`sealdrop ARGS` in a child process, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "dropbox.cli", *any_ports(args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env or os.environ.copy(),
        timeout=timeout,
    )


@pytest.fixture
def cli(capsys):
    """`sealdrop ARGS` in this process (quick: no interpreter start); returns what a child would."""

    def run(*args: str) -> subprocess.CompletedProcess:
        capsys.readouterr()
        code = dropbox_cli.main(any_ports(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return run


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0, result.stdout
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


class Server:
    """`sealdrop serve` in a child process; its output collected line by line as it comes."""

    def __init__(self, instance: Path, *args: str, env: dict | None = None) -> None:
        self.port = free_port()
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dropbox.cli",
                "serve",
                "--dir",
                str(instance),
                "--port",
                str(self.port),
                "--desk-port",
                "0",
                *args,
            ],
            cwd=REPO,
            env={**(env or os.environ), "PYTHONUNBUFFERED": "1"},
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if found := re.search(pattern, line):
                    return found
            if self.process.poll() is not None:
                self._reader.join(2)
                raise AssertionError(f"serve exited ({self.process.returncode}):\n" + "\n".join(self.lines))
            time.sleep(0.05)
        raise TimeoutError(f"no {pattern!r} from serve in {timeout}s:\n" + "\n".join(self.lines))

    def wait_listening(self, timeout: float = 30) -> None:
        """Until waitress accepts connections (it prints its banner a moment before). The banner is in
        the shell's language: what every language keeps in it is the reporter URL on our port."""
        self.wait_for(rf"//[^/\s]+:{self.port}/r/<desk>", timeout)
        wait_for_port(self.port, self.process, timeout)

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; returns the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(20)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(5)
            self._reader.join(2)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


ODD_ANSWERS = {
    "version": {"GETINFO version": "250-version=not-a-version\r\n250 OK\r\n"},
    "setevents": {"SETEVENTS": '552 Unrecognized event "HS_DESC"\r\n'},
}


class OddControlPort:
    """A control port that authenticates like tor (no password), then answers one command oddly, as a
    broken or unusual tor might. A real tor cannot be made to misbehave on purpose; this speaks the
    same protocol to stem, which raises its own exceptions on these answers."""

    def __init__(self, odd: str) -> None:
        self.odd = ODD_ANSWERS[odd]
        self.commands: list[str] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _answer(self, line: str) -> str:
        for prefix, answer in self.odd.items():
            if line.startswith(prefix):
                return answer
        if line.startswith("PROTOCOLINFO"):
            return '250-PROTOCOLINFO 1\r\n250-AUTH METHODS=NULL\r\n250-VERSION Tor="0.4.9.3"\r\n250 OK\r\n'
        if line.startswith("GETINFO version"):
            return "250-version=0.4.9.3\r\n250 OK\r\n"
        return "250 OK\r\n"

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self._server.accept()
                threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError), conn.makefile("rb") as lines:
            for raw in lines:
                line = raw.decode().strip()
                self.commands.append(line)
                conn.sendall(self._answer(line).encode())

    def close(self) -> None:
        self._server.close()


@pytest.fixture(params=sorted(ODD_ANSWERS))
def odd_tor(request) -> Iterator[OddControlPort]:
    port = OddControlPort(request.param)
    yield port
    port.close()
