"""Helpers shared by the benchmarks: timing, child processes with their peak RSS, random files, tables,
threads all at once, and a benchmark's main (run_main).

Benchmarks print ratios against a baseline measured in the same run and never assert timings: the
machine is small and shared, so every figure is the median of a few repetitions.
"""

from __future__ import annotations

import hashlib
import os
import pty
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

MiB = 1 << 20
MB = 1_000_000
_WRITE_BLOCK = 4 * MiB
_PTY_TIMEOUT = 120.0


class BenchError(Exception):
    """The benchmark measured something broken (a failed child, a round trip that changed bytes)."""


def timed(fn: Callable[[], object]) -> float:
    """Seconds `fn()` takes, by the monotonic high-resolution clock."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def all_at_once(items: Sequence, fn: Callable) -> list:
    """`fn` on every item, each in its own thread; re-raises the first failure."""
    with ThreadPoolExecutor(len(items)) as pool:
        return list(pool.map(fn, items))


def run_main(name: str, measured: Callable[[Path], object]) -> int:
    """A benchmark's main: `measured(tmp)` in a new temporary directory under /tmp, removed afterwards
    (on `kill` too), then the total time; a BenchError is printed as the error and exits 1."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up below on `kill` too
    tmp = Path(tempfile.mkdtemp(prefix=f"sealdrop-{name}-", dir="/tmp"))
    try:
        print(f"\ntotal {timed(lambda: measured(tmp)):.0f} s")
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def median_time(fn: Callable[[], object], reps: int) -> float:
    return statistics.median(timed(fn) for _ in range(reps))


@dataclass(frozen=True)
class ChildRun:
    """One finished child: wall-clock seconds, and its own peak RSS in bytes (None without GNU time)."""

    seconds: float
    max_rss: int | None


# A child's ru_maxrss counts the memory of whatever process called exec: Linux carries the old address
# space's high-water mark over exec, and a child forked (or vforked) from this big Python process starts
# at this process's size. So the child is started by GNU time, a 1 MB program that forks it, reaps it
# with wait4 and reports ru_maxrss ("%M", KiB) through a pipe. Without GNU time there is no RSS figure.
GNU_TIME = "/usr/bin/time"
HAVE_GNU_TIME = os.access(GNU_TIME, os.X_OK)


def _probe(argv: Sequence[str]) -> tuple[list[str], tuple[int, int] | None]:
    """`argv` wrapped in GNU time writing ru_maxrss to a new pipe; returns the argv and (read, write) ends."""
    if not HAVE_GNU_TIME:
        return list(argv), None
    pipe = os.pipe()
    return [GNU_TIME, "-f", "%M", "-o", f"/dev/fd/{pipe[1]}", "--", *argv], pipe


def _peak_rss(pipe: tuple[int, int] | None) -> int | None:
    """The child's ru_maxrss in bytes, read once the child has exited (never waits for EOF: a daemon
    the child started, like gpg-agent, may hold the pipe's write end)."""
    if pipe is None:
        return None
    os.set_blocking(pipe[0], False)
    try:
        report = os.read(pipe[0], 4096).decode()
    except BlockingIOError:
        report = ""
    finally:
        os.close(pipe[0])
    words = report.split()
    return int(words[-1]) * 1024 if words and words[-1].isdigit() else None


def _finished(argv: Sequence[str], seconds: float, code: int, output: bytes, rss: int | None) -> ChildRun:
    """The run, or a BenchError if the child failed or GNU time gave no figure."""
    if code:
        raise BenchError(f"{' '.join(argv)} exited {code}: {output.decode(errors='replace').strip()}")
    if HAVE_GNU_TIME and rss is None:
        raise BenchError(f"{' '.join(argv)}: GNU time reported no peak RSS")
    return ChildRun(seconds, rss)


def run_child(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> ChildRun:
    """Run `argv` to completion and time it from spawn to exit; a non-zero exit is a BenchError."""
    command, pipe = _probe(argv)
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env=env, cwd=cwd, pass_fds=pipe[1:] if pipe else (),
    )  # fmt: skip
    if pipe:
        os.close(pipe[1])
    _, err = proc.communicate()
    seconds = time.perf_counter() - start
    return _finished(argv, seconds, proc.returncode, err, _peak_rss(pipe))


def run_child_in_pty(argv: Sequence[str], answer: str, *, env: Mapping[str, str] | None = None) -> ChildRun:
    """Run `argv` on a new pseudo-terminal, typing `answer` at each passphrase prompt (age reads /dev/tty)."""
    command, pipe = _probe(argv)
    start = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal and stdio
        try:
            if pipe:
                os.set_inheritable(pipe[1], True)
            os.execvpe(command[0], command, dict(env if env is not None else os.environ))
        finally:
            os._exit(127)
    if pipe:
        os.close(pipe[1])
    try:
        transcript = _answer_prompts(pid, fd, answer.encode())
    finally:
        os.close(fd)
    _, status, _ = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    return _finished(argv, seconds, os.waitstatus_to_exitcode(status), transcript, _peak_rss(pipe))


def _answer_prompts(pid: int, fd: int, answer: bytes) -> bytes:
    """Read the terminal until the child closes it, answering each prompt that asks for a passphrase."""
    transcript, answered = b"", 0
    deadline = time.monotonic() + _PTY_TIMEOUT
    while True:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            os.kill(pid, signal.SIGKILL)
            raise BenchError(f"no progress on the terminal after {_PTY_TIMEOUT:.0f} s: {transcript!r}")
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal's last slave end
            return transcript
        if not data:
            return transcript
        transcript += data
        prompts = transcript.lower().count(b"passphrase")
        if prompts > answered and transcript.rstrip().endswith(b":"):
            answered = prompts
            os.write(fd, answer + b"\n")


def random_file(path: Path, size: int) -> str:
    """Write `size` random bytes to `path`; returns their SHA-256 (hex)."""
    digest = hashlib.sha256()
    with open(path, "wb", buffering=0) as f:
        for offset in range(0, size, _WRITE_BLOCK):
            block = os.urandom(min(_WRITE_BLOCK, size - offset))
            digest.update(block)
            f.write(block)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def check_same(path: Path, expected_sha256: str, what: str) -> None:
    """Raise BenchError unless `path` holds the bytes whose hash is `expected_sha256`."""
    if sha256_file(path) != expected_sha256:
        raise BenchError(f"{what}: the output differs from the input")


@dataclass(frozen=True)
class Task:
    """One thing to time. `run` returns a ChildRun (its own timing is used) or anything else (timed here)."""

    name: str
    run: Callable[[], object]
    output: Path | None = None  # removed before every run, so each run writes a fresh file
    expect: str | None = None  # SHA-256 the output must have after every run


def measure(tasks: Sequence[Task], reps: int) -> dict[str, list[ChildRun]]:
    """One untimed warm-up round, then `reps` rounds in rotated order; checks every output it is told to.

    Before each run the dirty page cache is flushed (sync), so no run pays for an earlier one's writeback.
    """
    samples: dict[str, list[ChildRun]] = {t.name: [] for t in tasks}
    for rep in range(-1, reps):
        order = list(tasks) if rep < 0 else [*tasks[rep % len(tasks) :], *tasks[: rep % len(tasks)]]
        for task in order:
            sample = _run_task(task)
            if rep >= 0:
                samples[task.name].append(sample)
    return samples


def _run_task(task: Task) -> ChildRun:
    if task.output is not None:
        remove(task.output)
    os.sync()
    start = time.perf_counter()
    result = task.run()
    elapsed = time.perf_counter() - start
    if task.output is not None and task.expect is not None:
        check_same(task.output, task.expect, task.name)
    return result if isinstance(result, ChildRun) else ChildRun(elapsed, None)


def median_seconds(samples: Sequence[ChildRun]) -> float:
    return statistics.median(s.seconds for s in samples)


def paired_ratio(baseline: Sequence[ChildRun], ours: Sequence[ChildRun]) -> float:
    """Median over rounds of baseline / ours, each pair from the same round of `measure`: on a shared
    machine, runs close in time see the same load, so their ratio is steadier than a ratio of medians."""
    return statistics.median(b.seconds / o.seconds for b, o in zip(baseline, ours, strict=True))


def peak_rss(samples: Sequence[ChildRun]) -> int | None:
    known = [s.max_rss for s in samples if s.max_rss is not None]
    return max(known) if known else None


def remove(*paths: Path) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def filesystem_of(path: Path) -> str:
    """The filesystem `path` lives on, e.g. 'ext4 (disk)' or 'tmpfs (RAM)', from /proc/mounts."""
    target = os.path.realpath(path)
    best, fstype = "", "unknown"
    with open("/proc/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            _, mount_point, kind = line.split()[:3]
            mount_point = mount_point.replace("\\040", " ")
            inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
            if inside and len(mount_point) >= len(best):
                best, fstype = mount_point, kind
    return f"{fstype} ({'RAM' if fstype in ('tmpfs', 'ramfs') else 'disk'}, mounted on {best})"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])
