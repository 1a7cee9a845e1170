"""Budgets: how many reports and receipt sign-ins a desk, and the whole instance, take in a
window of time; and the desk's recent load, which sets the proof of work's level (dropbox/pow.py).

Counted in memory, per process, in coarse buckets (a window of `budget_window_s` in
`BUCKETS` slices): the database deliberately keeps no arrival times, and neither does this beyond the
last window. Nothing about who sent anything is counted, only how many. With several instances each
counts its own; a later step moves these counters to Redis.

A refused request learns when the oldest slice that keeps the count at its limit leaves the window.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable
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


class WindowCounter:
    """Events per key in the last `window_s` seconds, kept as counts per slice of the window."""

    def __init__(self, window_s: float, clock: Callable[[], float]) -> None:
        self.slice_s = window_s / BUCKETS
        self.clock = clock
        self._slices: dict[str, deque[list[int]]] = {}  # key -> [[slice number, count], ...], oldest first
        self._lock = threading.Lock()

    def _current(self) -> int:
        return int(self.clock() // self.slice_s)

    def _live(self, key: str, now: int) -> deque[list[int]]:
        slices = self._slices.setdefault(key, deque())
        while slices and slices[0][0] <= now - BUCKETS:
            slices.popleft()
        return slices

    def add(self, key: str, count: int = 1) -> None:
        with self._lock:
            now = self._current()
            slices = self._live(key, now)
            if slices and slices[-1][0] == now:
                slices[-1][1] += count
            else:
                slices.append([now, count])

    def seen(self) -> list[str]:
        with self._lock:
            return list(self._slices)

    def count(self, key: str) -> int:
        with self._lock:
            return sum(n for _, n in self._live(key, self._current()))

    def seconds_until_below(self, key: str, limit: int) -> float:
        """How long until fewer than `limit` events are in the window (0 if that is so now)."""
        with self._lock:
            now = self._current()
            slices = list(self._live(key, now))
        total = sum(n for _, n in slices)
        if total < limit:
            return 0.0
        for number, n in slices:  # oldest first: the window frees itself from this end
            total -= n
            if total < limit:
                return max(0.0, (number + BUCKETS) * self.slice_s - self.clock())
        return self.slice_s * BUCKETS  # a limit of 0: never


@dataclass(frozen=True)
class Limits:
    per_desk: int
    overall: int


class Budgets:
    """The instance's budgets and counts; one per process, shared by the reporter and desk apps."""

    def __init__(self, cfg: Config, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = cfg.budget_window_s
        self.limits = {
            "reports": Limits(cfg.budget_reports_per_desk, cfg.budget_reports_overall),
            "forms": Limits(cfg.budget_reports_per_desk, cfg.budget_reports_overall),
            "signins": Limits(cfg.budget_signins_per_desk, cfg.budget_signins_overall),
        }
        self.counters = {kind: WindowCounter(cfg.budget_window_s, clock) for kind in KINDS}
        self.pow_work = cfg.pow_work
        self.pow_reports_per_step = cfg.pow_reports_per_step
        self.pow_max_steps = cfg.pow_max_steps

    def wait_s(self, kind: str, desk_slug: str) -> int:
        """0 if one more `kind` may go to `desk_slug` now; else the whole seconds to wait."""
        counter, limits = self.counters[kind], self.limits[kind]
        wait = max(
            counter.seconds_until_below(desk_slug, limits.per_desk),
            counter.seconds_until_below(OVERALL, limits.overall),
        )
        return math.ceil(wait)

    def spend(self, kind: str, desk_slug: str) -> None:
        self.counters[kind].add(desk_slug)
        self.counters[kind].add(OVERALL)

    def take(self, kind: str, desk_slug: str) -> int:
        """wait_s, and if it is 0 the event is counted at once (sign-ins: every try costs CPU)."""
        wait = self.wait_s(kind, desk_slug)
        if not wait:
            self.spend(kind, desk_slug)
        return wait

    def pow_work_for(self, desk_slug: str) -> int:
        """The work a JS report to this desk costs now: doubled for every `pow_reports_per_step` JS
        reports in the window, up to `pow_max_steps` doublings, and the most once the desk's (or the
        instance's) report budget is spent; back to the normal level when it is quiet.

        Past its budget a JS report is not refused: it pays the top level. A flood that pays the work is
        rationed by its CPU, and an honest reporter's phone, which solved while they typed, pays a
        little more instead of being locked out (docs/threat-model.md, "Floods")."""
        if self.wait_s("reports", desk_slug):
            return self.pow_work << self.pow_max_steps
        recent = self.counters["reports"].count(desk_slug)
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
        limits = {k: {"per_desk": lim.per_desk, "overall": lim.overall} for k, lim in self.limits.items()}
        return {"window_s": self.window_s, "limits": limits, "pow_work": self.pow_work, "counts": rows,
                "library_noise": noise_counts()}  # fmt: skip

    def write_snapshots(self, path: Path, every_s: float = SNAPSHOT_EVERY_S) -> threading.Event:
        """Write `snapshot()` to `path` every `every_s` seconds on a thread of its own, for `sealdrop
        budgets` (another process). On a fixed beat, whether anything arrived or not, so the file's
        time says nothing about when a report came. Set the returned event to stop; the file goes too."""
        stop = threading.Event()

        def write() -> None:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.snapshot(), indent=1) + "\n", "utf-8")
            os.replace(tmp, path)

        def beat() -> None:
            while not stop.wait(every_s):
                write()
            path.unlink(missing_ok=True)

        write()  # the first one before serve listens, so `sealdrop budgets` never finds it missing
        threading.Thread(target=beat, name="budget-snapshots", daemon=True).start()
        return stop


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
        _("Window: %(s)s s, counted in memory by each `sealdrop serve` process") % {"s": cfg.budget_window_s},
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
