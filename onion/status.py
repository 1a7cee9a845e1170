"""A small status file that a running server keeps up to date and `status` commands read.

Why a file rather than asking tor: the onions belong to the serving process's control connection and
publication is only ever *reported* (HS_DESC events, as they happen); a second connection opened later
cannot learn how the uploads went. The file also works the same for a launched tor, whose control port
only the server can use. It holds addresses and counts, nothing secret, and is still written 0600.
No words: `onion status` says the counts in the operator's language (dropbox/onion_words.py).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from .service import OnionService

_writing = threading.Lock()  # tor's event thread and the main thread both write


def write(path: Path, tor: str, services: Iterable[OnionService], running: bool = True) -> None:
    """Replace the file atomically (readers never see half of it)."""
    data = {
        "pid": os.getpid(),
        "running": running,
        "tor": tor,
        "updated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "services": {
            s.name: {"address": s.address, "pow": s.pow, "clients": s.clients,
                     **asdict(p), "state": p.state, "settled": p.settled}
            for s in services
            for p in [s.publication()]
        },
    }  # fmt: skip
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with _writing:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, path)


def read(path: Path) -> dict | None:
    """The last status written, with "running" corrected if that process is gone; None if never written."""
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except FileNotFoundError:
        return None
    if data.get("running") and not _alive(int(data.get("pid", 0))):
        data["running"] = False  # killed without a chance to say so
    return data


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
