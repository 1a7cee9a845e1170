"""Starting a tor of our own (Debian's `tor`) with its data directory in the instance.

Kept apart from the control protocol: this file only writes a torrc, starts the process and waits for
the control port tor picks, so the rest of onion/ treats a launched tor like any other.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from .errors import TorFailedToStart, TorNotInstalled

TORRC = "torrc"
LOG = "tor.log"
PORT_FILE = "control-port"
COOKIE_FILE = "control_auth_cookie"


def torrc(data_dir: Path, extra: Mapping[str, str]) -> str:
    settings = {
        "DataDirectory": str(data_dir),
        "ControlPort": "127.0.0.1:auto",  # any free port: several instances on one machine never clash
        "ControlPortWriteToFile": str(data_dir / PORT_FILE),
        "CookieAuthentication": "1",
        "CookieAuthFile": str(data_dir / COOKIE_FILE),
        "SocksPort": "0",  # we only publish; nothing here browses through this tor
        # tor exits by itself if we die without closing it (checked again by TAKEOWNERSHIP on connect).
        "__OwningControllerProcess": str(os.getpid()),
        **extra,
    }
    return "".join(f"{key} {value}\n" for key, value in settings.items())


def start(
    binary: str, data_dir: Path, extra: Mapping[str, str], timeout: float
) -> tuple[subprocess.Popen, int]:
    """Start tor; return the process and the control port once tor listens on it."""
    path = shutil.which(binary)
    if path is None:
        raise TorNotInstalled(binary)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(data_dir, 0o700)  # tor refuses a data directory that others can read
    (data_dir / PORT_FILE).unlink(missing_ok=True)
    (data_dir / TORRC).write_text(torrc(data_dir, extra))
    (data_dir / "torrc-defaults").write_text("")  # ignore /etc/tor/torrc-defaults: this tor is ours alone
    with open(data_dir / LOG, "ab") as log:
        process = subprocess.Popen(  # noqa: S603 (the tor binary the operator chose)
            [path, "--defaults-torrc", str(data_dir / "torrc-defaults"), "-f", str(data_dir / TORRC)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal reaches us; we then close tor in order
        )  # fmt: skip
    try:
        return process, _wait_for_port(process, data_dir, timeout)
    except BaseException:
        stop(process, grace=0)
        raise


def _wait_for_port(process: subprocess.Popen, data_dir: Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    port_file = data_dir / PORT_FILE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            complaint = _complaint(data_dir / LOG)
            log = str(data_dir / LOG)
            raise TorFailedToStart(complaint, log) if complaint else TorFailedToStart.silently(log)
        found = re.search(r"PORT=[^:\s]+:(\d+)", port_file.read_text() if port_file.exists() else "")
        if found:
            return int(found.group(1))
        time.sleep(0.05)
    raise TorFailedToStart.no_control_port(timeout, str(data_dir / LOG))


def _complaint(log: Path) -> str:
    """What tor last warned about (its final [err] line is often only "see warnings above"); "" if nothing."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    for level in ("[warn]", "[err]"):
        found = [line.split(level, 1)[1].strip() for line in lines if level in line and "as root" not in line]
        if found:
            return found[-1]
    return ""


def stop(process: subprocess.Popen, grace: float = 10) -> None:
    """Give tor `grace` seconds to go by itself (closing its owning control connection asks it to),
    then terminate it, then kill it."""
    for ask, wait in ((None, grace), (process.terminate, 5.0), (process.kill, 5.0)):
        if ask is not None:
            ask()
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
