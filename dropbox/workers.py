"""`sealdrop serve --workers N`: the listening sockets are bound once, in the parent, and N forked
worker processes each build their own apps and serve both sockets with waitress; the kernel hands
each new connection to one of them. CPU-bound work (no-JS sealing, re-encoding pictures) then runs on
several cores instead of under one interpreter lock.

One more process, forked the same way, runs the jobs that must run once, not N times: the budget
snapshot, the retention schedule and the notices.

The parent only supervises: it restarts a process that dies (after a back-off that doubles while
workers keep dying young, and gives up if one dies young MAX_YOUNG_DEATHS times in a row), and on
SIGTERM or SIGINT stops every process before it returns. The parent builds no app, opens no database
and starts no thread (tor's controller excepted, with --onion): every fork, restarts too, copies a
process in which no other thread holds a lock, and each child builds what it uses after the fork
(apps, engines, connections, the jobs' threads). Only the budgets' counters are shared, made for it
(dropbox/budget.py, SharedWindowCounter). A child ends with os._exit: nothing it inherited is
finalized in it (a PostgreSQL connection closed by a child would close for the parent too).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import mmap
import os
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .console import _

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
YOUNG_S = 10.0  # a worker that dies sooner than this after its start counts as dying young
MAX_YOUNG_DEATHS = 5  # in a row, in one slot: then something is wrong at start-up, and serve stops
FIRST_BACKOFF_S, MAX_BACKOFF_S = 0.5, 30.0
STOP_GRACE_S = 10.0  # after SIGTERM, how long a worker has before SIGKILL
POLL_S = 0.1
PR_SET_PDEATHSIG = 1


class WorkersFailing(Exception):
    """A process died young MAX_YOUNG_DEATHS times in a row: restarting it again would only loop."""


def bind(host: str, port: int) -> list[socket.socket]:
    """Listening sockets for host:port, as waitress would open them itself (every address the host
    name gives, SO_REUSEADDR, waitress's backlog); made before the fork, so every worker shares them."""
    from waitress.adjustments import Adjustments

    adj = Adjustments(host=host, port=port)
    sockets = []
    try:
        for family, socktype, proto, address in adj.listen:
            sock = socket.socket(family, socktype, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(adj.backlog)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def port_of(sockets: list[socket.socket]) -> int:
    return sockets[0].getsockname()[1]


@dataclass
class _Slot:
    name: str
    work: Callable[[], None]
    pid: int = 0
    started: float = 0.0
    young_deaths: int = 0
    restart_at: float | None = None


@dataclass
class Supervisor:
    """Runs each of `tasks` (name: function) in a forked process of its own and keeps them running. A
    task does not return while it serves; however it ends, its process ends there and never comes back
    into the parent's code (no `finally` of the parent runs twice)."""

    tasks: dict[str, Callable[[], None]]
    ended: Callable[[str], None] | None = None  # told the name of a task whose process died
    restarts: int = 0
    stopped_by: int | None = None  # the signal that stopped serve, once one has
    _slots: list[_Slot] = field(default_factory=list)

    def start(self) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_stop_signal)
        self._slots = [_Slot(name, work) for name, work in self.tasks.items()]
        for slot in self._slots:
            self._fork(slot)

    def pids(self) -> list[int]:
        return [slot.pid for slot in self._slots if slot.pid]

    def _on_stop_signal(self, signum: int, _frame: object) -> None:
        self.stopped_by = signum  # the loop below notices within POLL_S

    def supervise(self) -> None:
        """Until SIGTERM or SIGINT: reap dead workers and start them again when their back-off ends.
        Raises WorkersFailing when one keeps dying young."""
        while self.stopped_by is None:
            now = time.monotonic()
            for slot in self._slots:
                if slot.pid and _has_ended(slot.pid):
                    self._died(slot, now)
                if not slot.pid and slot.restart_at is not None and now >= slot.restart_at:
                    self.restarts += 1
                    self._fork(slot)
            time.sleep(POLL_S)

    def _died(self, slot: _Slot, now: float) -> None:
        slot.pid = 0
        if self.ended is not None:
            self.ended(slot.name)
        slot.young_deaths = slot.young_deaths + 1 if now - slot.started < YOUNG_S else 1
        if slot.young_deaths >= MAX_YOUNG_DEATHS:
            raise WorkersFailing(
                f"{slot.name} stopped {slot.young_deaths} times in a row within {YOUNG_S:.0f} s of starting"
            )
        slot.restart_at = now + min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** (slot.young_deaths - 1))

    def stop(self) -> None:
        """SIGTERM to every worker, SIGKILL to any still there after STOP_GRACE_S; all reaped."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while (
            left := [s for s in self._slots if s.pid and not _has_ended(s.pid)]
        ) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        for slot in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(slot.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(slot.pid, 0)
        for slot in self._slots:
            slot.pid, slot.restart_at = 0, None

    def _fork(self, slot: _Slot) -> None:
        # A stop signal between fork and the child's own handlers would run the parent's handler in
        # the child: hold them until each side has what it needs.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            parent = os.getpid()
            pid = os.fork()
            if pid == 0:
                os._exit(_child(slot, parent))
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        slot.pid, slot.started, slot.restart_at = pid, time.monotonic(), None


def _has_ended(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:  # reaped already
        return True


def _child(slot: _Slot, parent: int) -> int:
    """The child's life after fork, ending in its exit code; never returns into the parent's code."""
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # as a single `serve`: SIGTERM ends it at once
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        if not _die_with(parent):
            return 0
        slot.work()
        return 0
    except SystemExit as e:  # the task said why, if anything, and how it ends
        return e.code if isinstance(e.code, int) else 1
    except BaseException as e:  # the last stop of a process that must not unwind into the parent's code
        # Only the exception's class: the text of a database error can quote a statement's parameters.
        stopped = {"process": slot.name, "error": type(e).__name__}
        print(_("sealdrop %(process)s stopped: %(error)s") % stopped, file=sys.stderr, flush=True)
        return 1


def _die_with(parent: int) -> bool:
    """Let the kernel end this worker if the parent dies (SIGKILL gives it no time to stop us);
    False if the parent is gone already."""
    name = ctypes.util.find_library("c")
    prctl = getattr(ctypes.CDLL(name), "prctl", None) if name else None
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    return os.getppid() == parent  # else the parent died before that took hold


# --- Spreading connections over the workers -------------------------------------------------------

SKIP_PAUSE_S = 0.001  # how long a worker that leaves a connection to a less busy one waits to look again
TAKE_ANYWAY_S = 0.1  # past this, it takes the connection itself (the other may be stuck, or dead)
_SLOT_FORMAT = struct.Struct("=q")
_ABSENT = -1


class ConnectionShares:
    """How many connections each worker holds, in memory shared by all (made before the fork). Every
    worker sees each new connection arrive; the one holding the fewest takes it. Without this, the
    worker that happens to be awake takes connection after connection: four keep-alive connections
    were split 3:1 or 4:0 in 21 of 30 tries (7 of 30 with it), and a reporter behind the busier worker
    waited for its CPU while the other core idled. Counts are whole 8-byte words, written and read
    without a lock: a stale count only sends a connection to a worker that is not quite the least busy."""

    def __init__(self, workers: int) -> None:
        self._map = mmap.mmap(-1, workers * _SLOT_FORMAT.size)  # anonymous, MAP_SHARED
        self._workers = workers
        for slot in range(workers):
            _SLOT_FORMAT.pack_into(self._map, slot * _SLOT_FORMAT.size, _ABSENT)
        self._skipping_since = self._last_skip = 0.0

    def _counts(self) -> list[int]:
        return [_SLOT_FORMAT.unpack_from(self._map, s * _SLOT_FORMAT.size)[0] for s in range(self._workers)]

    def publish(self, slot: int, count: int) -> None:
        _SLOT_FORMAT.pack_into(self._map, slot * _SLOT_FORMAT.size, count)

    def absent(self, slot: int) -> None:
        """The worker in `slot` died: the others stop leaving connections to it."""
        self.publish(slot, _ABSENT)

    def my_turn(self, slot: int, count: int) -> bool:
        """Whether the worker in `slot`, holding `count` connections, takes the one waiting now."""
        self.publish(slot, count)
        others = [n for s, n in enumerate(self._counts()) if s != slot and n != _ABSENT]
        if not others or count <= min(others):
            return True
        now = time.monotonic()
        if now - self._last_skip > 5 * SKIP_PAUSE_S:  # a new connection, not the one skipped just now
            self._skipping_since = now
        self._last_skip = now
        if now - self._skipping_since > TAKE_ANYWAY_S:
            return True
        time.sleep(SKIP_PAUSE_S)  # the listener stays readable until someone accepts: do not spin
        return False


def spread_connections(server, shares: ConnectionShares, slot: int) -> None:
    """Make waitress `server` (one listener or several) accept only on its turn (ConnectionShares)."""
    from waitress.server import BaseWSGIServer

    mapping = getattr(server, "map", None) or server._map
    listeners = [d for d in mapping.values() if isinstance(d, BaseWSGIServer)]

    def held() -> int:
        return sum(len(listener.active_channels) for listener in listeners)

    for listener in listeners:
        accept = listener.handle_accept

        def handle_accept(accept: Callable[[], None] = accept) -> None:
            if shares.my_turn(slot, held()):
                accept()
                shares.publish(slot, held())

        listener.handle_accept = handle_accept
    shares.publish(slot, 0)
