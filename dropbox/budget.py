"""Budgets: how many reports and receipt sign-ins a desk, and the whole instance, take in a
window of time; and the desk's recent load, which sets the proof of work's level (dropbox/pow.py).

Counted in memory, in coarse buckets (a window of `budget_window_s` in
`BUCKETS` slices): the database deliberately keeps no arrival times, and neither does this beyond the
last window. Nothing about who sent anything is counted, only how many. The workers of one `sealdrop
serve --workers N` share one set of counts (SharedWindowCounter, below); with several instances each
counts its own unless `redis_url` is set: then every instance counts in Redis (dropbox/shared.py).

A refused request learns when the oldest slice that keeps the count at its limit leaves the window.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import mmap
import os
import struct
import tempfile
import threading
import time
import weakref
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .console import _
from .noise import noise_counts

BUCKETS = 10
OVERALL = "*"  # the key of the instance-wide count, beside each desk's slug
# Reports through the JSON API (paid for with a proof of work) and through the no-JS form (not) are
# counted apart, with the same limits: a flood of forms, which cost a bot little, cannot use up the
# budget of the reporters whose phones did the work, nor raise the work asked of them.
KINDS = ("reports", "forms", "signins")
SNAPSHOT_FILE = "budgets.json"  # in the instance folder, while `sealdrop serve` runs
SNAPSHOT_EVERY_S = 30.0


NO_LIMIT = -1  # a limit in Counter.step that nothing waits for: the name is only counted or read


class Counter:
    """What every counter answers, each through its one `step`: in memory (WindowCounter), in memory
    shared by the workers (SharedWindowCounter) and in Redis (shared.RedisWindowCounter). Ask about a
    desk and the overall count in one step: with Redis each step is a round trip on the request's path
    (a JS report takes two, beside the claim of its proof of work)."""

    def step(self, limits: Sequence[tuple[str, int]], amount: int = 0) -> tuple[float, list[int]]:
        """As one step (nobody counts in between): each key's count in the window, and how long until
        every key is below its limit (0: now; NO_LIMIT: none); if `amount` and there is nothing to wait
        for, `amount` events counted for every key."""
        raise NotImplementedError

    def add(self, key: str, count: int = 1) -> None:
        self.step([(key, NO_LIMIT)], count)

    def count(self, key: str) -> int:
        return self.step([(key, NO_LIMIT)])[1][0]

    def seconds_until_below(self, key: str, limit: int) -> float:
        """How long until fewer than `limit` events are in the window (0 if that is so now)."""
        return self.step([(key, limit)])[0]

    def take_below(self, limits: Sequence[tuple[str, int]]) -> float:
        """One event for every key, if each is below its limit (a check and its count are never
        split); else nothing is counted and the answer is how long until each is below its limit."""
        return self.step(limits, 1)[0]


class _Window(Counter):
    """A counter in this machine's memory. Its step is made of three methods that each subclass has
    its own way of doing: `_locked()` (held; yields the current slice), `_slices(key, now)` (the (slice
    number, count) still in the window, oldest first) and `_add(key, count, now)`."""

    slice_s: float
    clock: Callable[[], float]

    def step(self, limits: Sequence[tuple[str, int]], amount: int = 0) -> tuple[float, list[int]]:
        with self._locked() as now:
            slices = [self._slices(key, now) for key, _ in limits]
            limited = [(s, limit) for s, (_, limit) in zip(slices, limits, strict=True) if limit != NO_LIMIT]
            wait = max((_wait_below(s, limit, self.slice_s, self.clock) for s, limit in limited), default=0.0)
            if amount and not wait:
                for key, _ in limits:
                    self._add(key, amount, now)
        return wait, [sum(n for _, n in found) for found in slices]


class WindowCounter(_Window):
    """Events per key in the last `window_s` seconds, kept as counts per slice of the window."""

    def __init__(self, window_s: float, clock: Callable[[], float]) -> None:
        self.slice_s = window_s / BUCKETS
        self.clock = clock
        self._by_key: dict[str, deque[list[int]]] = {}  # key -> [[slice number, count], ...], oldest first
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        with self._lock:
            yield int(self.clock() // self.slice_s)

    def _live(self, key: str, now: int) -> deque[list[int]]:
        slices = self._by_key.setdefault(key, deque())
        while slices and slices[0][0] <= now - BUCKETS:
            slices.popleft()
        return slices

    def _slices(self, key: str, now: int) -> list[tuple[int, int]]:
        return [(number, n) for number, n in self._live(key, now)]

    def _add(self, key: str, count: int, now: int) -> None:
        slices = self._live(key, now)
        if slices and slices[-1][0] == now:
            slices[-1][1] += count
        else:
            slices.append([now, count])

    def seen(self) -> list[str]:
        with self._lock:
            return list(self._by_key)


def _wait_below(
    slices: list[tuple[int, int]], limit: int, slice_s: float, clock: Callable[[], float]
) -> float:
    total = sum(n for _, n in slices)
    if total < limit:
        return 0.0
    for number, n in slices:  # oldest first: the window frees itself from this end
        total -= n
        if total < limit:
            return max(0.0, (number + BUCKETS) * slice_s - clock())
    return slice_s * BUCKETS  # a limit of 0: never


class CountsUnavailable(Exception):
    """The counts every instance shares (Redis, dropbox/shared.py) cannot be reached just now."""


@dataclass(frozen=True)
class Limits:
    per_desk: int
    overall: int


class Budgets:
    """The instance's budgets and counts; one per process, shared by the reporter and desk apps."""

    def __init__(
        self,
        cfg: Config,
        clock: Callable[[], float] = time.monotonic,
        counters: Mapping[str, WindowCounter | SharedWindowCounter] | None = None,
    ) -> None:
        """`counters`: one per kind, from shared_counters() when several workers count together;
        with `redis_url` the Redis counters every instance shares, whatever is passed."""
        if cfg.redis_url:
            from .shared import redis_counters  # imports this module

            counters = redis_counters(cfg)
        self.window_s = cfg.budget_window_s
        self.limits = configured_limits(cfg)
        self.counters = (
            dict(counters) if counters else {k: WindowCounter(cfg.budget_window_s, clock) for k in KINDS}
        )
        self.pow_work = cfg.pow_work
        self.pow_reports_per_step = cfg.pow_reports_per_step
        self.pow_max_steps = cfg.pow_max_steps

    def wait_s(self, kind: str, desk_slug: str) -> int:
        """0 if one more `kind` may go to `desk_slug` now; else the whole seconds to wait."""
        return math.ceil(self._check(kind, desk_slug)[0])

    def _check(self, kind: str, desk_slug: str) -> tuple[float, list[int]]:
        """The wait for `kind` at `desk_slug` under both its limits, and the desk's and overall counts."""
        limits = self.limits[kind]
        return self.counters[kind].step([(desk_slug, limits.per_desk), (OVERALL, limits.overall)])

    def spend(self, kind: str, desk_slug: str) -> None:
        """Count what was filed a moment ago; with Redis away it goes uncounted rather than the
        reporter being told to send again what is already filed."""
        with contextlib.suppress(CountsUnavailable):
            self.counters[kind].step([(desk_slug, NO_LIMIT), (OVERALL, NO_LIMIT)], 1)

    def take(self, kind: str, desk_slug: str) -> int:
        """wait_s, and if it is 0 the event is counted in the same step: however many requests arrive
        at once, in however many threads and workers, no more than the limit get through. For what
        costs the server at once (a sign-in's key derivation, a no-JS form's sealing)."""
        limits = self.limits[kind]
        wait = self.counters[kind].take_below([(desk_slug, limits.per_desk), (OVERALL, limits.overall)])
        return math.ceil(wait)

    def pow_work_for(self, desk_slug: str) -> int:
        """The work a JS report to this desk costs now: doubled for every `pow_reports_per_step` JS
        reports in the window, up to `pow_max_steps` doublings, and the most once the desk's (or the
        instance's) report budget is spent; back to the normal level when it is quiet.

        Past its budget a JS report is not refused: it pays the top level. A flood that pays the work is
        rationed by its CPU, and an honest reporter's phone, which solved while they typed, pays a
        little more instead of being locked out (docs/threat-model.md, "Floods")."""
        try:
            wait, (recent, _) = self._check("reports", desk_slug)
            if wait:
                return self.pow_work << self.pow_max_steps
        except CountsUnavailable:  # Redis away: the report page still opens, at the top level
            return self.pow_work << self.pow_max_steps
        steps = min(self.pow_max_steps, recent // max(1, self.pow_reports_per_step))
        return self.pow_work << steps

    def snapshot(self, desk_slugs: list[str] | None = None) -> dict:
        """Limits and counts in the current window, for the admin page and `sealdrop budgets`: for the
        desks named, or every desk counted in the window; and the library warnings and log records the
        process counted instead of writing them out (dropbox/noise.py)."""
        if desk_slugs is None:
            desk_slugs = sorted({k for c in self.counters.values() for k in c.seen()} - {OVERALL})
        rows = {}
        for slug in [OVERALL, *desk_slugs]:
            rows[slug] = {kind: self.counters[kind].count(slug) for kind in KINDS}
            if slug != OVERALL:
                rows[slug]["pow_work"] = self.pow_work_for(slug)
        return {"window_s": self.window_s, "limits": limits_json(self.limits), "pow_work": self.pow_work,
                "counts": rows, "library_noise": noise_counts()}  # fmt: skip

    def write_snapshots(self, path: Path, every_s: float = SNAPSHOT_EVERY_S) -> threading.Event:
        """Write `snapshot()` to `path` every `every_s` seconds on a thread of its own, for `sealdrop
        budgets` (another process). On a fixed beat, whether anything arrived or not, so the file's
        time says nothing about when a report came. Set the returned event to stop; the file goes too."""
        stop = threading.Event()

        def write() -> None:
            try:
                snapshot = self.snapshot()
            except CountsUnavailable:  # Redis away for now: the last snapshot stays, the next beat tries
                return
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(snapshot, indent=1) + "\n", "utf-8")
            os.replace(tmp, path)

        def beat() -> None:
            while not stop.wait(every_s):
                write()
            path.unlink(missing_ok=True)

        write()  # the first one before serve listens, so `sealdrop budgets` never finds it missing
        threading.Thread(target=beat, name="budget-snapshots", daemon=True).start()
        return stop


# --- Shared between `sealdrop serve --workers N` processes -------------------------------------------

MAX_KEYS = 4096  # desks (and "*") a shared counter keeps apart; past that, keys share the overflow slot
_KEY_BYTES = 63
_EMPTY = -(1 << 62)  # a slice number no clock reaches: the slot's slice is unused
_SLICE = struct.Struct("=qq")  # slice number, count
_HEADER = 1 + _KEY_BYTES  # key length, key
_SLOT = _HEADER + BUCKETS * _SLICE.size


class SharedWindowCounter(_Window):
    """A WindowCounter whose counts live in an anonymous shared mapping, made before `serve` forks its
    workers, so that every worker adds to and reads one set of counts (else each limit would be N times
    looser). Same methods and results as WindowCounter.

    A fixed table: MAX_KEYS slots, each a key and a ring of BUCKETS (slice number, count). A key that
    finds no free slot (more than MAX_KEYS desks, or a key over 63 bytes) counts in one overflow slot
    with every other such key: their limits then bind together, tighter and never looser. The lock is
    fcntl's on the mapping's own file descriptor: the kernel drops it if its holder dies, so a worker
    killed in the middle of an update cannot stop the others; one lock of threads within each process
    beside it, because fcntl's locks belong to a process, not a thread."""

    def __init__(self, window_s: float, clock: Callable[[], float], keys: int = MAX_KEYS) -> None:
        self.slice_s = window_s / BUCKETS
        self.clock = clock
        self.keys = keys  # the slot numbered `keys`, after the others, is the overflow's
        empty = bytes(_HEADER) + _SLICE.pack(_EMPTY, 0) * BUCKETS
        self._fd = _anonymous_file((keys + 1) * _SLOT)
        self._map = mmap.mmap(self._fd, (keys + 1) * _SLOT)  # MAP_SHARED: forked children see it too
        self._map[:] = empty * (keys + 1)
        self._lock = threading.Lock()
        _after_fork(self)
        weakref.finalize(self, _close, self._map, self._fd)

    def _new_thread_lock(self) -> None:
        self._lock = threading.Lock()  # one held by a thread of the parent at fork would stay held

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        """Held by this thread and this process; yields the current slice, read inside the lock so
        that every process's slices go forward in the order their updates are made."""
        with self._lock:
            fcntl.lockf(self._fd, fcntl.LOCK_EX)
            try:
                yield int(self.clock() // self.slice_s)
            finally:
                fcntl.lockf(self._fd, fcntl.LOCK_UN)

    def _slot(self, key: str) -> int:
        """The slot of `key`, taken now if it has none; the overflow slot if none is free."""
        raw = key.encode("utf-8")
        if not 0 < len(raw) <= _KEY_BYTES:
            return self.keys
        start = zlib.crc32(raw) % self.keys
        for step in range(self.keys):
            slot = (start + step) % self.keys
            at = slot * _SLOT
            length = self._map[at]
            if length == 0:
                self._map[at + 1 : at + 1 + len(raw)] = raw
                self._map[at] = len(raw)  # last: a reader sees a whole key or none
                return slot
            if self._map[at + 1 : at + 1 + length] == raw:
                return slot
        return self.keys

    def _live(self, slot: int, now: int) -> list[tuple[int, int]]:
        """(slice number, count) of the slices still in the window, oldest first."""
        base = slot * _SLOT + _HEADER
        found = (_SLICE.unpack_from(self._map, base + b * _SLICE.size) for b in range(BUCKETS))
        return sorted((number, n) for number, n in found if number > now - BUCKETS)

    def _slices(self, key: str, now: int) -> list[tuple[int, int]]:
        return self._live(self._slot(key), now)

    def _add(self, key: str, count: int, now: int) -> None:
        at = self._slot(key) * _SLOT + _HEADER + (now % BUCKETS) * _SLICE.size
        number, n = _SLICE.unpack_from(self._map, at)
        # The ring's place for this slice holds it already, or one BUCKETS slices old or older.
        _SLICE.pack_into(self._map, at, now, n + count if number == now else count)

    def seen(self) -> list[str]:
        with self._locked():
            keys = (self._map[s * _SLOT + 1 : s * _SLOT + 1 + self._map[s * _SLOT]] for s in range(self.keys))
            return [key.decode("utf-8") for key in keys if key]


def _anonymous_file(size: int) -> int:
    """A file in memory only (memfd), for the mapping and its fcntl lock; an unlinked temporary file
    where there is no memfd. It holds counts, never anything a reporter sent."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("sealdrop-budgets", os.MFD_CLOEXEC)
    else:
        handle, name = tempfile.mkstemp(prefix="sealdrop-budgets-")
        os.unlink(name)
        fd = handle
    os.ftruncate(fd, size)
    return fd


def _close(mapping: mmap.mmap, fd: int) -> None:
    mapping.close()
    os.close(fd)


def _after_fork(counter: SharedWindowCounter) -> None:
    ref = weakref.ref(counter)

    def renew() -> None:
        if (alive := ref()) is not None:
            alive._new_thread_lock()

    os.register_at_fork(after_in_child=renew)


def shared_counters(
    window_s: float, clock: Callable[[], float] = time.monotonic
) -> dict[str, SharedWindowCounter]:
    """One shared counter per kind, for Budgets(counters=...): make them before forking. The default
    clock, CLOCK_MONOTONIC, is the machine's, so every process reads the same slices."""
    return {kind: SharedWindowCounter(window_s, clock) for kind in KINDS}


def configured_limits(cfg: Config) -> dict[str, Limits]:
    return {
        "reports": Limits(cfg.budget_reports_per_desk, cfg.budget_reports_overall),
        "forms": Limits(cfg.budget_reports_per_desk, cfg.budget_reports_overall),
        "signins": Limits(cfg.budget_signins_per_desk, cfg.budget_signins_overall),
    }


def limits_json(limits: dict[str, Limits]) -> dict:
    return {k: {"per_desk": lim.per_desk, "overall": lim.overall} for k, lim in limits.items()}


def json_report(cfg: Config, live: dict | None) -> dict:
    """`sealdrop budgets --json`: the config's limits (from the config alone), what a running serve
    last wrote (`serving`, None if none runs), and with `redis_url` the counts every instance shares,
    read from Redis: only these need it, and if it does not answer the report says so instead."""
    report = {"config": limits_json(configured_limits(cfg)), "window_s": cfg.budget_window_s, "serving": live}
    if cfg.redis_url:
        report["redis"] = _redis_counts(cfg)
    return report


def _redis_counts(cfg: Config) -> dict:
    from .shared import redis_address, redis_answers  # imports this module

    away = {
        "answers": False,
        "problem": _("Redis at %(where)s does not answer: the shared counts cannot be read")
        % {"where": redis_address(cfg)},
    }
    if not redis_answers(cfg):
        return away
    try:
        return {"answers": True, "counts": Budgets(cfg).snapshot()["counts"]}
    except CountsUnavailable:  # gone between the two
        return away


def read_snapshot(cfg: Config) -> dict | None:
    """What a running `sealdrop serve` last wrote, or None if none runs (no file, or one left behind
    by a serve that was killed: older than three beats)."""
    path = cfg.instance_dir / SNAPSHOT_FILE
    try:
        if time.time() - path.stat().st_mtime > 3 * SNAPSHOT_EVERY_S:
            return None
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None


def describe(cfg: Config, live: dict | None) -> list[str]:
    """The lines of `sealdrop budgets`, in the operator's language (dropbox/console.py): the limits in
    the config, then a running serve's counts."""
    lines = [
        (_("Window: %(s)s s, counted in Redis, once for every `sealdrop serve` on every machine")
         if cfg.redis_url else
         _("Window: %(s)s s, counted in memory by `sealdrop serve`, once for all its workers"))
        % {"s": cfg.budget_window_s},
        _("Reports, with and without JavaScript (each): %(desk)s per desk, %(all)s overall; past it a "
          "report without JavaScript is refused for now, one with JavaScript pays the top level of "
          "proof of work") % {"desk": cfg.budget_reports_per_desk, "all": cfg.budget_reports_overall},
        _("Receipt sign-ins: %(desk)s per desk, %(all)s overall")
        % {"desk": cfg.budget_signins_per_desk, "all": cfg.budget_signins_overall},
        _("Proof of work: about %(runs)s PBKDF2 runs of %(iterations)s iterations a report, doubled for "
          "every %(step)s JavaScript reports to a desk in the window (at most %(steps)s times)")
        % {"runs": cfg.pow_work, "iterations": cfg.pow_iterations, "step": cfg.pow_reports_per_step,
           "steps": cfg.pow_max_steps},
    ]  # fmt: skip
    if live is None:
        return [*lines, _("Counts: sealdrop serve is not running")]
    lines.append(_("Counts in the current window:"))
    for slug, row in live["counts"].items():
        name = _("all desks") if slug == OVERALL else slug
        counts = _("%(js)s reports with JavaScript, %(forms)s without, %(signins)s sign-ins") % {
            "js": row["reports"], "forms": row["forms"], "signins": row["signins"]}  # fmt: skip
        if "pow_work" in row:
            counts += _(", proof of work now %(work)s") % {"work": row["pow_work"]}
        lines.append(f"  {name}: {counts}")
    return lines + describe_noise(live.get("library_noise", []))


def describe_noise(noise: list[dict]) -> list[str]:
    """What libraries warned or logged since serve started: counted, never written to its log."""
    if not noise:
        return [_("Library warnings and log records since serve started: none")]
    lines = [_("Library warnings and log records since serve started (counts only, the lines are not kept):")]
    return lines + [f"  {row['source']} {row['level']}: {row['count']}" for row in noise]
