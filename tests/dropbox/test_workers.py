"""`sealdrop serve --workers N`: the budgets' shared counter (dropbox/budget.py), alone and across
forked processes, and the pre-fork supervisor (dropbox/workers.py) serving for real."""

from __future__ import annotations

import http.client
import multiprocessing
import os
import re
import secrets
import signal
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dropbox import budget, config, workers
from tests.helpers import live_server, make_instance

FORK = multiprocessing.get_context("fork")
WINDOW_S = 100.0  # ten slices of 10 s


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


KEYS = st.sampled_from(["demo", "city", budget.OVERALL, "пример"])
EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), KEYS, st.integers(0, 5)),
        st.tuples(st.just("wait"), st.floats(0, 40, allow_nan=False)),
        st.tuples(st.just("count"), KEYS),
        st.tuples(st.just("below"), KEYS, st.integers(0, 12)),
        st.tuples(
            st.just("seen"),
        ),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(EVENTS)
def test_the_shared_counter_answers_as_the_one_in_memory(events):
    clock = FakeClock()
    ours, theirs = budget.SharedWindowCounter(WINDOW_S, clock), budget.WindowCounter(WINDOW_S, clock)
    for kind, *rest in events:
        if kind == "add":
            ours.add(rest[0], rest[1])
            theirs.add(rest[0], rest[1])
        elif kind == "wait":
            clock.now += rest[0]
        elif kind == "count":
            assert ours.count(rest[0]) == theirs.count(rest[0])
        elif kind == "below":
            assert ours.seconds_until_below(*rest) == theirs.seconds_until_below(*rest)
        else:
            assert sorted(ours.seen()) == sorted(theirs.seen())


def test_a_key_past_the_table_counts_in_the_overflow_slot_never_a_crash():
    clock = FakeClock()
    counter = budget.SharedWindowCounter(WINDOW_S, clock, keys=4)
    for n in range(4):
        counter.add(f"desk{n}")
    counter.add("late-one", 2)
    counter.add("late-two", 3)
    counter.add("x" * 64)  # too long for a slot of its own
    assert sorted(counter.seen()) == [f"desk{n}" for n in range(4)]
    assert counter.count("desk0") == 1
    # The keys without a slot share one count: their limits bind together, tighter, never looser.
    assert counter.count("late-one") == counter.count("late-two") == 6
    assert counter.seconds_until_below("late-two", 6) > 0


def _add_many(counter: budget.SharedWindowCounter, key: str, times: int) -> None:
    for _ in range(times):
        counter.add(key)
        counter.add(budget.OVERALL)


def test_forked_processes_add_to_one_count():
    counter = budget.SharedWindowCounter(600.0, budget.time.monotonic)
    children = [FORK.Process(target=_add_many, args=(counter, f"desk{n % 2}", 300)) for n in range(4)]
    for child in children:
        child.start()
    _add_many(counter, "desk0", 100)  # the parent too, at the same time
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    assert counter.count("desk0") == 700
    assert counter.count("desk1") == 600
    assert counter.count(budget.OVERALL) == 1300
    assert sorted(counter.seen()) == sorted(["desk0", "desk1", budget.OVERALL])


def _take_all(budgets: budget.Budgets, tries: int, taken) -> None:
    got = sum(1 for _ in range(tries) if budgets.take("forms", "demo") == 0)
    with taken.get_lock():
        taken.value += got


def test_shared_budgets_refuse_at_the_limit_however_the_processes_share_the_load(tmp_path):
    cfg = replace(config.Config(instance_dir=tmp_path, database_url="sqlite://"), budget_reports_per_desk=57)
    budgets = budget.Budgets(cfg, counters=budget.shared_counters(cfg.budget_window_s))
    taken = FORK.Value("i", 0)
    children = [FORK.Process(target=_take_all, args=(budgets, 40, taken)) for _ in range(3)]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    # 120 tries in three processes, 40 each: the limit went through, give or take the check and the
    # count of another process's try between this one's (take is two steps, in one process too).
    assert 57 <= taken.value <= 57 + len(children) - 1
    assert budgets.wait_s("forms", "demo") > 0
    assert budgets.snapshot()["counts"]["demo"]["forms"] == taken.value


@pytest.fixture
def quick_supervisor(monkeypatch):
    """Short back-offs, and the test process's own signal handlers back afterwards."""
    monkeypatch.setattr(workers, "FIRST_BACKOFF_S", 0.01)
    monkeypatch.setattr(workers, "POLL_S", 0.01)
    handlers = {sig: signal.getsignal(sig) for sig in workers.STOP_SIGNALS}
    yield
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


def test_a_process_that_keeps_dying_young_stops_serve_instead_of_a_restart_loop(quick_supervisor):
    supervisor = workers.Supervisor({"doomed": lambda: sys.exit(3)})
    supervisor.start()
    try:
        with pytest.raises(workers.WorkersFailing, match="doomed stopped 5 times in a row"):
            supervisor.supervise()
    finally:
        supervisor.stop()
    assert supervisor.restarts == workers.MAX_YOUNG_DEATHS - 1
    assert supervisor.pids() == []


def test_a_stop_signal_ends_supervision_and_every_process(quick_supervisor):
    supervisor = workers.Supervisor({"sleeper": lambda: time.sleep(600), "other": lambda: time.sleep(600)})
    supervisor.start()
    pids = supervisor.pids()
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()
    supervisor.supervise()  # returns once the signal came
    supervisor.stop()
    assert supervisor.stopped_by == signal.SIGTERM
    assert len(pids) == 2 and all(not Path(f"/proc/{pid}").exists() for pid in pids)


def test_a_new_connection_goes_to_the_worker_holding_fewest(monkeypatch):
    monkeypatch.setattr(workers, "TAKE_ANYWAY_S", 0.05)
    shares = workers.ConnectionShares(3)
    assert shares.my_turn(0, 5)  # alone so far: the others have not started
    shares.publish(1, 2)
    assert shares.my_turn(1, 2)
    assert not shares.my_turn(0, 5)  # another holds fewer: leave it this one
    shares.absent(1)
    assert shares.my_turn(0, 5)  # a dead worker is no one to leave connections to
    shares.publish(2, 0)
    deadline = time.monotonic() + 5
    while not shares.my_turn(0, 5):  # the other never takes it: after a moment, this one does
        assert time.monotonic() < deadline


def test_workers_takes_a_count_of_one_or_more(tmp_path, capsys):
    from dropbox import cli

    for wrong in ("0", "-2", "two"):
        assert cli.main(["serve", "--dir", str(tmp_path), "--workers", wrong]) == 1
        assert "--workers: a number of processes, 1 or more" in capsys.readouterr().err


# --- `sealdrop serve --workers 2`, for real ----------------------------------------------------------

FORM_LIMIT = 12  # no-JS reports a desk takes in the window, for the whole serve
REPORTERS = 4  # at once, two reports each


def children(pid: int) -> set[int]:
    """The processes whose parent is `pid`, from /proc (the test looks; serve tells nobody)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def listening_children(pid: int) -> set[int]:
    """The children that hold a listening socket: the workers (the jobs process closed its copies)."""
    listening = _socket_inodes(state="0A")
    return {child for child in children(pid) if _socket_inodes_of(child) & listening}


def _socket_inodes(state: str | None = None, local_port: int | None = None, remote_port: int | None = None):
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                local, remote = int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16)
                if (state in (None, fields[3]) and local_port in (None, local)
                        and remote_port in (None, remote)):  # fmt: skip
                    inodes.add(fields[9])
    return inodes


def _socket_inodes_of(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd) if fd.is_symlink() else ""
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def owner(conn: http.client.HTTPConnection, server_port: int, pids: set[int]) -> int | None:
    """Which worker holds the server's end of this open connection."""
    ours = _socket_inodes(local_port=server_port, remote_port=conn.sock.getsockname()[1])
    return next((pid for pid in pids if _socket_inodes_of(pid) & ours), None)


def page_on(
    port: int, workers: set[int], want: int | None = None
) -> tuple[http.client.HTTPConnection, str, int]:
    """A keep-alive connection that got the report page, and the worker that holds it; with `want`,
    connections are opened until that worker takes one (the kernel hands them out, not us)."""
    for _ in range(300):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.request("GET", "/r/demo?lang=en")
        page = conn.getresponse().read().decode()
        served_by = owner(conn, port, workers)
        if want in (None, served_by):
            return conn, page, served_by
        conn.close()
    raise AssertionError(f"worker {want} took none of 300 connections")


def report(port: int, workers: set[int], want: int | None = None) -> tuple[int, str | None]:
    """A no-JS report as a browser sends it, the page and then the form on one connection (so to one
    worker, `want` if given); (status, case number)."""
    conn, page, _worker = page_on(port, workers, want)
    try:
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        category = re.search(r'name="category" value="(\d+)"', page).group(1)
        fields = {"csrf_token": token, "category": category, "lang": "en",
                  "what": f"a test report {secrets.token_hex(4)}", "where_mode": "none"}  # fmt: skip
        boundary = f"----sealdroptest{secrets.token_hex(8)}"
        lines = []
        for name, value in fields.items():
            lines += [f"--{boundary}", f'Content-Disposition: form-data; name="{name}"', "", value]
        body = "\r\n".join([*lines, f"--{boundary}--", ""]).encode()
        conn.request("POST", "/r/demo", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        answer = conn.getresponse()
        found = re.search(r'id="case-number">([0-9A-Z]{4}-[0-9A-Z]{4})<', answer.read().decode())
        return answer.status, found.group(1) if found else None
    finally:
        conn.close()


def both_answer(port: int, workers: set[int], tries: int = 300) -> set[int]:
    """The workers seen serving page requests, stopping as soon as every one has been seen."""
    seen: set[int] = set()
    for _ in range(tries):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request("GET", "/r/demo?lang=en")
            assert conn.getresponse().read()
            seen.add(owner(conn, port, workers))
        finally:
            conn.close()
        if seen >= workers:
            break
    return seen


def two_workers(pid: int, not_among: set[int] = frozenset()) -> set[int] | None:
    found = listening_children(pid)
    return found if len(found) == 2 and not found & not_among else None


def wait_for(condition, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.1)
    raise AssertionError("not within the time allowed")


def test_serve_with_two_workers(tmp_path):
    instance = make_instance(tmp_path / "instance")
    config.save(config.load(instance).with_overrides(budget_reports_per_desk=FORM_LIMIT))
    (tmp_path / "tmp").mkdir()
    with live_server(instance, tmp_path / "tmp", workers=2) as (base, proc):
        port = int(base.rsplit(":", 1)[1])
        workers = wait_for(lambda: two_workers(proc.pid))
        assert len(children(proc.pid)) == 3  # and the jobs process
        for pid in children(proc.pid):  # no core dump could hold a no-JS report's plaintext
            assert re.search(r"^Max core file size\s+0\s+0\s", Path(f"/proc/{pid}/limits").read_text(), re.M)
        assert both_answer(port, workers) == workers
        answers: list[tuple[int, str | None]] = []
        threads = [threading.Thread(target=lambda: answers.extend(report(port, workers) for _ in range(2)))
                   for _ in range(REPORTERS)]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [status for status, _ in answers] == [200] * 2 * REPORTERS
        cases = [case for _, case in answers]
        assert all(cases) and len(set(cases)) == len(cases)

        # The rest of the budget, one report at a time to each worker in turn (one at a time, as the
        # no-JS path counts a report once it is filed): together they take exactly the limit.
        first, second = sorted(workers)
        turns = [first, second] * FORM_LIMIT
        filed = [report(port, workers, want=turns[n]) for n in range(FORM_LIMIT - len(cases))]
        assert [status for status, _ in filed] == [200] * len(filed)
        assert report(port, workers, want=first)[0] == 429
        assert report(port, workers, want=second)[0] == 429

        killed = min(workers)
        os.kill(killed, signal.SIGKILL)
        again = wait_for(lambda: two_workers(proc.pid, not_among={killed}))
        assert both_answer(port, again) == again  # the new one serves, and so does the other

        everyone = children(proc.pid) | {proc.pid}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        rest = proc.stdout.read().decode()
        assert all(not Path(f"/proc/{pid}").exists() for pid in everyone)
        # Only the start-up lines, on stdout or stderr: nothing when a worker died or when it all stopped.
        assert rest.splitlines() == [f"demo desk: {base}/r/demo", "workers: 2 processes"], rest
        assert not (instance / budget.SNAPSHOT_FILE).exists()
