"""The server under load: a normal reporter among many slow clients, and among a flood of bots.

Run from the repository root: `python -m bench.load` (about 4 minutes here), or `--quick` (under 1).
Each part serves a fresh demo instance with `sealdrop serve` on 127.0.0.1 (SQLite, 8 threads, the
instance's own budgets and caps: the demo's proof of work is 16 PBKDF2 runs). The clients that make the
load run in a child process of their own, so that their threads never hold up the normal reporter's
clock; the normal reporter is this process. It prints, never asserts: the machine is small and shared.

1. Slow clients: `--clients` (300) at Tor speed (`--rate-kb` 50 KB/s each, the bytes paced), each
   uploading a sealed `--attachment-mib` (5) MiB attachment through the resumable API in pieces of the
   server's size (4 MiB), as upload.mjs does, then filing a report. Meanwhile a normal reporter, on a
   fast link, opens the report page, files a no-JS report and a JS one-request report, each on a fresh
   connection (a reporter types for minutes: a browser's idle connection is gone by then). Its times
   are set against the same visit to the same server while idle, earlier in the run; a tiny API call
   (GET /api/demo/csrf) made right after the page, on its own connection, shows what any request waited
   for at that moment (to be accepted, for a thread), apart from the page's rendering. Every answer
   the clients get is counted by status and error code; a client that was told to retry does so.
2. Flood: `--flood-rate` (50) report calls a second for `--flood-seconds` (30): bots spending proofs
   of work solved at the demo level (hoarded beforehand on the quiet server: a challenge lives an hour),
   bots that send none or a wrong one, and bots posting the no-JS form (no proof of work there); and
   besides the schedule one bot that solves whatever level it is asked, as fast as one core lets it. It
   prints what was stored and what refused (by code), the work GET /challenge asked for as the flood
   went on, and the normal reporter's time to its receipt (goal: within 5 s) and whether it got one.

`--connection-limit N` serves with waitress's connection_limit set to N (its default, which
`sealdrop serve` keeps, is 100): for comparing part 1 with and without that limit.

The client processes (slow clients, bots) are in bench/swarm.py, the normal reporter's steps in
bench/reporter.py, the HTTP client in bench/client.py.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import os
import sqlite3
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from bench._util import BenchError, MiB, run_main, table
from bench.reporter import Visit, open_page, visit, visits_at
from bench.servers import THREADS, Server, child_server, free_port, make_instance, serve_args, serve_argv
from bench.swarm import (
    BOT_KINDS,
    RESOLVER,
    FloodSettings,
    SlowSettings,
    child,
    flood_bots,
    slow_swarm,
    watch_levels,
)

if TYPE_CHECKING:
    from dropbox.config import Config

RECEIPT_GOAL_S = 5.0


# ------------------------------------------------------------------------------------ the servers


def serve_command(instance: Path, port: int, connection_limit: int | None) -> list[str]:
    """`sealdrop serve`, or with a connection limit, this module's serve_with_limit in its place."""
    if connection_limit is None:
        return serve_argv(instance, port)
    limited = ["-m", "bench.load", "--serve-with-limit", str(connection_limit)]
    return [sys.executable, *limited, *serve_args(instance, port)]


def serve_with_limit(limit: int, argv: list[str]) -> int:
    """`sealdrop serve` with waitress's connection_limit default changed (the bench's comparison only)."""
    from waitress.adjustments import Adjustments

    from dropbox import cli

    Adjustments.connection_limit = limit
    return cli.main(argv)


@contextlib.contextmanager
def fresh_server(tmp: Path, name: str, connection_limit: int | None = None) -> Iterator[Server]:
    instance = make_instance(tmp / f"{name}-instance")
    port = free_port()
    with child_server(name, serve_command(instance, port, connection_limit), port, tmp) as server:
        yield server


def stored_in_database(tmp: Path, name: str) -> tuple[int, int]:
    """(reports filed, uploads still open) in the instance's SQLite database, read-only."""
    path = tmp / f"{name}-instance" / "sealdrop.db"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        cases = db.execute("SELECT count(*) FROM submissions").fetchone()[0]
        uploads = db.execute("SELECT count(*) FROM uploads").fetchone()[0]
    return cases, uploads


# ---------------------------------------------------------------------------------------- printing


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def visit_rows(label: str, visits: Sequence[Visit], idle: Visit | None) -> list[list[str]]:
    rows = []
    for n, v in enumerate(visits, 1):
        name = label if len(visits) == 1 else f"{label} {n}"
        at = "" if v.at_s is None else f"{v.at_s:.0f}"
        rows.append([name, at, ms(v.page_s), ms(v.probe_s), ms(v.form_s), v.form, ms(v.solve_s), ms(v.js_s),
                     v.js])  # fmt: skip
    if idle is not None and visits:
        rows.append([f"{label}: worst / idle", "", *(ratio(visits, idle, name) for name in ("page_s",
                     "probe_s", "form_s")), "", "", ratio(visits, idle, "js_s"), ""])  # fmt: skip
    return rows


def ratio(visits: Sequence[Visit], idle: Visit, name: str) -> str:
    return f"{max(getattr(v, name) for v in visits) / getattr(idle, name):.1f}x"


def print_visits(rows: list[list[str]]) -> None:
    headers = [
        "normal reporter",
        "at s",
        "page ms",
        "probe ms",
        "no-JS ms",
        "no-JS",
        "solve ms",
        "JS ms",
        "JS",
    ]
    print(table(headers, rows), flush=True)


def median_visit(visits: Sequence[Visit]) -> Visit:
    def mid(name: str) -> float:
        return statistics.median(getattr(v, name) for v in visits)

    forms, js = Counter(v.form for v in visits), Counter(v.js for v in visits)
    return Visit(mid("page_s"), mid("probe_s"), mid("form_s"), mid("solve_s"), mid("js_s"),
                 forms.most_common(1)[0][0], js.most_common(1)[0][0])  # fmt: skip


def print_tally(counts: dict[tuple[str, str], int]) -> None:
    rows = [[step, label, str(n)] for (step, label), n in sorted(counts.items())]
    print(table(["slow clients' requests", "answer", "count"], rows), flush=True)


def print_ends(ends: Sequence[tuple[str, float, int]], expected_s: float) -> None:
    outcomes = Counter(end for end, _, _ in ends)
    seconds = sorted(s for end, s, _ in ends if end == "stored")
    waits = [w for _, _, w in ends if w]
    print("slow clients, how each ended: " + ", ".join(f"{k}: {n}" for k, n in outcomes.most_common()))
    if seconds:
        print(f"  stored: first byte to case number, median {statistics.median(seconds):.0f} s, "
              f"max {seconds[-1]:.0f} s (the link alone: {expected_s:.0f} s)")  # fmt: skip
    if waits:
        print(f"  refused by the report budget (429 busy): {len(waits)}, told to send again in "
              f"{min(waits)}-{max(waits)} s (the page waits that long and sends again; their uploads "
              "stay until then)")  # fmt: skip


# ------------------------------------------------------------------------------------------ part 1


def run_slow(tmp: Path, args: argparse.Namespace) -> None:
    rate, size = args.rate_kb * 1000, int(args.attachment_mib * MiB)
    link_s = size / rate
    print(f"\n1. {args.clients} slow clients at {args.rate_kb:.0f} KB/s each, {args.attachment_mib:g} MiB "
          f"attachment each (about {link_s:.0f} s on the link), while a normal reporter visits",
          flush=True)  # fmt: skip
    with fresh_server(tmp, "slow", args.connection_limit) as server:
        visit(server.port)  # warm-up: the first page a process renders compiles its templates
        idle = [visit(server.port) for _ in range(args.idle_visits)]
        settings = SlowSettings(server.port, args.clients, size, rate, 4 * MiB, min(10.0, link_s / 10))
        with child(slow_swarm, settings) as pipe:
            start = time.monotonic()
            pipe.send("go")
            offsets = [link_s * (n + 1) / (args.visits + 1) for n in range(args.visits)]
            loaded = visits_at(server.port, start, offsets)
            found = pipe.recv()
        idle_median = median_visit(idle)
        print_visits(
            visit_rows("idle (median)", [idle_median], None) + visit_rows("under load", loaded, idle_median)
        )
        print_tally(found["tally"])
        print_ends(found["ends"], found["envelope"] / rate)
    cases, uploads = stored_in_database(tmp, "slow")
    print(f"in the database afterwards: {cases} reports filed, {uploads} uploads still open", flush=True)


# ------------------------------------------------------------------------------------------ part 2


def run_flood(tmp: Path, args: argparse.Namespace) -> None:
    print(f"\n2. a flood of {args.flood_rate:g} report calls a second for {args.flood_seconds:g} s "
          f"({', '.join(args.bots)}, in turn) while a normal reporter visits", flush=True)  # fmt: skip
    with fresh_server(tmp, "flood") as server:
        page = open_page(server.port).page
        kinds = tuple(kind for kind in args.bots if kind != "re-solver") or ("no proof",)
        settings = FloodSettings(
            server.port, args.flood_seconds, args.flood_rate, kinds, "re-solver" in args.bots
        )
        stop = threading.Event()
        with child(flood_bots, settings) as pipe, ThreadPoolExecutor(1) as watcher:
            levels = watcher.submit(watch_levels, server.port, page, stop)
            start = time.monotonic()
            pipe.send("go")
            offsets = [args.flood_seconds * (n + 1) / (args.visits + 1) for n in range(args.visits)]
            visits = visits_at(server.port, start, offsets)
            calls = pipe.recv()
            stop.set()
        print_flood(calls, settings, levels.result(), visits)
    cases, _ = stored_in_database(tmp, "flood")
    print_budget_cost(tmp / "flood-instance")
    print(
        f"in the database afterwards: {cases} reports filed (the bots' and the normal reporter's)", flush=True
    )


def print_flood(calls: list, settings: FloodSettings, levels: list, visits: list[Visit]) -> None:
    outcomes = Counter((kind, label) for kind, label, _, _ in calls)
    rows = [[kind, label, str(n)] for (kind, label), n in sorted(outcomes.items())]
    print(table(["bot", "answer", "count"], rows))
    lateness = sorted(late for _, _, late, _ in calls)
    answered = sorted(s for _, _, _, s in calls if s)
    resolved = sum(kind == RESOLVER for kind, _, _, _ in calls)
    print(f"calls sent: {len(calls) - resolved} on the schedule of {settings.calls} (the latest "
          f"{lateness[-1]:.1f} s behind it), and {resolved} by the re-solver; answers took median "
          f"{ms(statistics.median(answered))} ms, max {ms(answered[-1])} ms")  # fmt: skip
    print("work asked by GET /challenge (s into the flood: PBKDF2 runs): " + level_changes(levels))
    print_visits(visit_rows("during the flood", visits, None))
    for n, v in enumerate(visits, 1):
        verdict = "ok" if v.js == "stored" and v.receipt_s <= RECEIPT_GOAL_S else "NOT MET"
        busy = f", told to wait {v.retry_after[0]} s" if v.retry_after else ""
        print(
            f"  visit {n}: JS Send to receipt (solve + send) {v.receipt_s:.2f} s, {v.js}{busy}; "
            f"no-JS {v.form_s:.2f} s, {v.form} (goal: receipt within {RECEIPT_GOAL_S:.0f} s: {verdict})"
        )
    print(flush=True)


def pbkdf2_run_s(iterations: int, runs: int = 200) -> float:
    """Seconds one proof-of-work run (PBKDF2-SHA256) takes here, in OpenSSL through hashlib."""
    token = b"x" * 67
    started = time.perf_counter()
    for nonce in range(runs):
        hashlib.pbkdf2_hmac("sha256", token, nonce.to_bytes(8, "big"), iterations, 32)
    return (time.perf_counter() - started) / runs


def runs_to_fill_budget(cfg: Config, base_work: int) -> int:
    """PBKDF2 runs a sender pays to file a whole window's JS reports to one desk, the level rising
    as it goes (dropbox/budget.py `pow_work_for`)."""
    step = max(1, cfg.pow_reports_per_step)
    return sum(base_work << min(cfg.pow_max_steps, n // step) for n in range(cfg.budget_reports_per_desk))


def print_budget_cost(instance: Path) -> None:
    from dropbox import config

    cfg, normal = config.load(instance), config.Config.pow_work
    run_s = pbkdf2_run_s(cfg.pow_iterations)
    for label, work in (
        (f"this instance's level ({cfg.pow_work})", cfg.pow_work),
        (f"the default ({normal})", normal),
    ):
        runs = runs_to_fill_budget(cfg, work)
        print(f"filling a desk's {cfg.budget_reports_per_desk} JS reports a window ({cfg.budget_window_s} s) "
              f"at {label}: {runs} PBKDF2 runs, about {runs * run_s:.0f} core-seconds here "
              f"({run_s * 1000:.2f} ms a run)", flush=True)  # fmt: skip


def level_changes(levels: list[tuple[float, int]]) -> str:
    """Only the samples where the work changed, and the last one."""
    shown = [(t, w) for n, (t, w) in enumerate(levels) if n == 0 or w != levels[n - 1][1]]
    if levels and shown[-1] != levels[-1]:
        shown.append(levels[-1])
    return ", ".join(f"{t:.0f} s: {w}" for t, w in shown) or "no samples"


# -------------------------------------------------------------------------------------------- main


QUICK = {"clients": 60, "attachment_mib": 1.0, "flood_seconds": 10.0, "visits": 2, "idle_visits": 3}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, under 2 minutes: " + str(QUICK))
    parser.add_argument("--clients", type=int, default=300, help="slow clients in part 1")
    parser.add_argument("--attachment-mib", type=float, default=5.0, help="each slow client's attachment")
    parser.add_argument("--rate-kb", type=float, default=50.0, help="each slow client's link, KB/s")
    parser.add_argument("--flood-seconds", type=float, default=30.0, help="how long the flood of part 2 runs")
    parser.add_argument("--flood-rate", type=float, default=50.0, help="the flood's report calls a second")
    parser.add_argument("--visits", type=int, default=3, help="normal reporter's visits under load, per part")
    parser.add_argument("--idle-visits", type=int, default=5, help="its visits to the idle server (median)")
    parser.add_argument(
        "--connection-limit", type=int, help="serve part 1 with this waitress connection_limit"
    )
    parser.add_argument("--part", choices=("1", "2", "both"), default="both")
    parser.add_argument(
        "--bots",
        type=lambda text: tuple(k.strip() for k in text.split(",")),
        default=(*BOT_KINDS, "re-solver"),
        help="the flood's bots, comma-separated, from: solver, no proof, wrong proof, no-JS form, re-solver",
    )
    args = parser.parse_args(argv)
    if args.quick:
        defaults = {k: parser.get_default(k) for k in QUICK}
        for name, value in QUICK.items():  # only what was not given on the command line
            if getattr(args, name) == defaults[name]:
                setattr(args, name, value)
    return args


def describe(args: argparse.Namespace) -> None:
    limit = args.connection_limit or "max_connections from the config (1000)"
    print(f"sealdrop under load, SQLite, {os.cpu_count()} CPUs, threads={THREADS}, connection limit {limit}; "
          "times in ms, on 127.0.0.1; the clients run in a process of their own", flush=True)  # fmt: skip


def main(argv: list[str]) -> int:
    if argv[:1] == ["--serve-with-limit"]:
        return serve_with_limit(int(argv[1]), argv[2:])
    args = parse(argv)
    return run_main("load", lambda tmp: run_parts(tmp, args))


def run_parts(tmp: Path, args: argparse.Namespace) -> None:
    describe(args)
    try:
        if args.part in ("1", "both"):
            run_slow(tmp, args)
        if args.part in ("2", "both"):
            run_flood(tmp, args)
    except (BenchError, OSError, http.client.HTTPException) as e:  # printed with its kind, as BenchError
        raise BenchError(f"{type(e).__name__}: {e}") from e


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
