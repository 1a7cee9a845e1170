"""A server's memory while it works: VmRSS of its process tree sampled from /proc in a thread, and the
kernel's high-water mark (VmHWM), around uploads all run at once (bench/ingest.py's part 3)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench._util import MB, BenchError, all_at_once, timed
from bench.servers import Server

RSS_INTERVAL = 0.05


def tree_rss(pid: int) -> int:
    """VmRSS of `pid` and all its descendants, in bytes (0 for a process that is gone)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        with contextlib.suppress(OSError):
            total += status_kib(p, "VmRSS") * 1024
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack += [int(c) for c in f.read().split()]
    return total


def status_kib(pid: int, field: str) -> int:
    """A KiB figure of /proc/`pid`/status, e.g. VmRSS or VmHWM."""
    with open(f"/proc/{pid}/status") as f:
        line = next((ln for ln in f if ln.startswith(f"{field}:")), None)
    if line is None:
        raise BenchError(f"/proc/{pid}/status has no {field}")
    return int(line.split()[1])


def reset_high_water(pid: int) -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of `pid`; False where the kernel refuses."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


class RssSampler:
    """Samples tree_rss(pid) every RSS_INTERVAL seconds in a thread while in the `with` block."""

    def __init__(self, pid: int) -> None:
        self.pid, self.samples = pid, [tree_rss(pid)]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(RSS_INTERVAL):
            self.samples.append(tree_rss(self.pid))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(tree_rss(self.pid))


@dataclass(frozen=True)
class LoadRun:
    startup: int  # RSS just after the server began to listen, bytes
    idle: int  # RSS just before, bytes
    peak: int  # highest sample
    high_water: int | None  # the kernel's VmHWM since the reset (main process only)
    after: int  # RSS once every upload finished
    samples: int
    mb_per_s: float  # all uploads together


def under_load(
    server: Server, upload: Callable[[Path], float], files: Sequence[Path], startup: int
) -> LoadRun:
    """Run `upload` on every file at once, one thread each, sampling the server's RSS meanwhile."""
    os.sync()
    idle, hwm_ok = tree_rss(server.proc.pid), reset_high_water(server.proc.pid)
    with RssSampler(server.proc.pid) as sampler:
        seconds = timed(lambda: all_at_once(files, upload))
    high_water = status_kib(server.proc.pid, "VmHWM") * 1024 if hwm_ok else None
    total = sum(f.stat().st_size for f in files) / MB
    return LoadRun(startup, idle, max(sampler.samples), high_water, sampler.samples[-1], len(sampler.samples),
                   total / seconds)  # fmt: skip
