"""kill -9 of a live `sealdrop serve` at random points while reporters submit on every path (the no-JS
form, the JS path's one-request report and its resumable uploads), restarted each time with no help.
Afterwards every receipt that was handed out (a 2xx answer naming a case) signs in, and its report
opens on the viewer after an export; every blob in the store is whole.

SEALDROP_FAULT_SUBMISSIONS sets how many submissions (default 60; the long run uses 500):
    SEALDROP_FAULT_SUBMISSIONS=500 .venv/bin/python -m pytest tests/faults/test_kill.py -q -s
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from dropbox.blobs import ORPHAN_MIN_DAYS, FileBlobStore
from tests.faults.checks import blobs_are_whole, open_on_viewer, receipts_sign_in, referenced_blob_ids
from tests.faults.clients import Refused, ServerGone, Submission
from tests.helpers import live_server, make_instance

SUBMISSIONS = int(os.environ.get("SEALDROP_FAULT_SUBMISSIONS", "60"))
KILL_EVERY = 6  # submissions answered between two kills, on average
WORKERS = 3  # reporters at once: when one is answered, the others are somewhere mid-request
PATHS = ("nojs", "whole", "pieces")


@dataclass
class Tally:
    pending: deque
    answered: list = field(default_factory=list)
    refused: list = field(default_factory=list)
    kills: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def reporter(base: str, tally: Tally, stop: threading.Event) -> None:
    """Take submissions until none are left or the server dies; a dead server's submission goes back
    to the front of the queue, to be resumed once the server is back."""
    while not stop.is_set():
        with tally.lock:
            if not tally.pending:
                return
            sub = tally.pending.popleft()
        try:
            sub.send(base)
        except ServerGone:
            with tally.lock:
                tally.pending.appendleft(sub)
            return
        except Refused as e:
            with tally.lock:
                tally.refused.append((sub, str(e)))
            continue
        with tally.lock:
            tally.answered.append(sub)


def one_life(base: str, process, tally: Tally, rng: random.Random) -> None:
    """Serve reporters until a random number of them are answered, then kill -9 at a random moment."""
    kill_after = len(tally.answered) + rng.randint(0, 2 * KILL_EVERY)
    stop = threading.Event()
    workers = [threading.Thread(target=reporter, args=(base, tally, stop)) for _ in range(WORKERS)]
    for w in workers:
        w.start()
    while any(w.is_alive() for w in workers) and len(tally.answered) < kill_after:
        time.sleep(0.005)
    if tally.pending:  # the last life ends on its own: the final check restarts the service anyway
        time.sleep(rng.uniform(0, 0.05))  # land inside whatever the other reporters are doing
        os.kill(process.pid, signal.SIGKILL)
        tally.kills += 1
    stop.set()
    for w in workers:
        w.join()


def orphans_swept(instance, orphans: int) -> None:
    """The blobs a kill left without a row go two days after they arrived, and nothing else does."""
    store = FileBlobStore(instance / "blobs")
    named = lambda: referenced_blob_ids(instance)  # noqa: E731
    assert store.sweep_orphans(named) == 0  # today's: perhaps still on their way to a commit
    assert store.sweep_orphans(named, now=time.time() + (ORPHAN_MIN_DAYS + 1) * 86400) == orphans
    assert blobs_are_whole(instance)["orphans"] == 0  # and every named blob still opens


def test_kill_9_during_submissions_loses_no_receipt(tmp_path):
    seed = int(os.environ.get("SEALDROP_FAULT_SEED") or random.randrange(1 << 32))  # printed: rerun with it
    rng = random.Random(seed)
    instance = make_instance(tmp_path / "instance")
    (tmp_path / "tmp").mkdir()
    tally = Tally(deque(Submission(i, PATHS[i % len(PATHS)]) for i in range(SUBMISSIONS)))
    lives = 0
    while tally.pending:
        with live_server(instance, tmp_path / "tmp") as (base, process):  # starts, or the test fails
            lives += 1
            one_life(base, process, tally, rng)
        assert lives < SUBMISSIONS * 4, "no progress"
        blobs_are_whole(instance)  # after each kill: nothing half-written where blobs are read
    handed_out = [s for s in tally.answered if s.receipt]
    with live_server(instance, tmp_path / "tmp") as (base, _):
        receipts_sign_in(base, handed_out)
    stored = blobs_are_whole(instance)
    cases = open_on_viewer(instance, tmp_path, tally.answered)  # "already received" ones too
    print(
        f"\nkill -9 (seed {seed}): {SUBMISSIONS} submissions, {tally.kills} kills, {lives + 1} starts, "
        f"{len(handed_out)} receipts checked (signed in and opened on the viewer), "
        f"{len(tally.answered) - len(handed_out)} answered 'already received', "
        f"{sum(s.attempts for s in tally.answered) - len(tally.answered)} resends, "
        f"{len(tally.refused)} refused, {sum(s.restarts for s in tally.answered)} uploads begun anew, "
        f"{cases} cases in the vault, {stored['parts']} envelopes ({stored['blobs']} in blob files), "
        f"{stored['orphans']} orphan blobs"
    )
    assert tally.refused == [], f"seed {seed}"
    orphans_swept(instance, stored["orphans"])
    assert len(tally.answered) == SUBMISSIONS
    assert tally.kills >= SUBMISSIONS // (4 * KILL_EVERY)
    assert {s.path for s in handed_out} == set(PATHS)
