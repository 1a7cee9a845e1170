"""Servers the benchmarks start as child processes on 127.0.0.1: `sealdrop serve` on a fresh demo
instance, or any command that listens on a port (bench/sink.py's baseline), stopped on the way out.

Imports nothing of sealdrop at the top, so that a baseline child importing it loads nothing but waitress.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench._util import BenchError

if TYPE_CHECKING:
    from dropbox.config import Config

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
THREADS = 8  # `sealdrop serve` default, passed to every server explicitly
START_TIMEOUT = 30.0


def serve_args(instance: Path, port: int, threads: int = THREADS) -> list[str]:
    """`sealdrop serve`'s arguments for `instance` on `port`, reporter side only, `threads` threads."""
    return ["serve", "--dir", str(instance), "--port", str(port), "--desk-port", "0",
            "--threads", str(threads)]  # fmt: skip


def serve_argv(instance: Path, port: int, threads: int = THREADS) -> list[str]:
    """`sealdrop serve` with serve_args, run by this Python as `-m dropbox.cli`."""
    return [sys.executable, "-m", "dropbox.cli", *serve_args(instance, port, threads)]


@dataclass(frozen=True)
class Server:
    name: str
    port: int
    proc: subprocess.Popen
    log: Path

    def tail(self, lines: int = 15) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def child_server(name: str, argv: Sequence[str], port: int, tmp: Path) -> Iterator[Server]:
    """Start `argv` (which must listen on `port`), wait until it accepts, and stop it on the way out."""
    child_tmp = tmp / f"{name}-tmp"
    child_tmp.mkdir()
    log = tmp / f"{name}.log"
    env = {**os.environ, "TMPDIR": str(child_tmp), "PYTHONUNBUFFERED": "1"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            list(argv), env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(name, port, proc, log)
    try:
        _wait_listening(server)
        yield server
    finally:
        _stop(proc)


def _wait_listening(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise BenchError(f"{server.name} exited {server.proc.returncode}:\n{server.tail()}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, server.port), timeout=0.2):
            return
        time.sleep(0.05)
    raise BenchError(f"{server.name} did not listen on port {server.port} within {START_TIMEOUT:.0f} s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def free_port() -> int:
    from tests.helpers import free_port as helper

    return helper()


def make_instance(path: Path) -> Path:
    from tests.helpers import make_instance as helper

    with contextlib.redirect_stdout(io.StringIO()):
        return helper(path)


def roomy_budgets(cfg: Config) -> Config:
    """The instance with report budgets (dropbox/budget.py) out of the way: this measures the database."""
    from dataclasses import fields

    from dropbox import config

    roomy = {f.name: 10**9 for f in fields(cfg) if f.name.startswith("budget_reports")}
    cfg = cfg.with_overrides(**roomy)
    config.save(cfg)
    return cfg
