"""`python -m bench.ingest --latency`: the time each no-JS report takes (its POST, on a form loaded
beforehand) with 1 reporter and with 4 at once, p50 and p99, and the ratio of the two p99s; with
`--workers N`, a second serve with N worker processes in the same run (see bench/ingest.py's docstring).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench._util import BenchError, all_at_once
from bench.client import DESK, Http, Page, check_receipt, read_page, report_form
from bench.servers import (
    THREADS,
    Server,
    child_server,
    free_port,
    make_instance,
    roomy_budgets,
    serve_argv,
)

# Reporters at once, and reports per run for each count (the same for both, so each p99 is read from
# as many samples); runs alternate between the counts so both see the machine's same moods.
LATENCY_CLIENTS, LATENCY_REPORTS, LATENCY_ROUNDS, LATENCY_WARMUP, LATENCY_GOAL = (1, 4), 120, 2, 10, 3.0


def report_seconds(port: int, pages: Sequence[Page]) -> list[float]:
    """One reporter: a no-JS report on each of `pages`, one after the other; the time of each POST, from
    sending to the whole receipt page. The forms were loaded beforehand, as a reporter loads the page
    long before pressing Send (and a form's token files one report only)."""
    times = []
    with Http(port) as http:
        for page in pages:
            form = report_form(page)
            start = time.perf_counter()
            response = http.call("POST", f"/r/{DESK}", form.body, {"Content-Type": form.content_type})
            times.append(time.perf_counter() - start)
            check_receipt(response, form)
    return times


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run_latency(tmp: Path, workers: int = 1) -> None:
    """Without --workers: one `sealdrop serve`, as before. With --workers N: a second serve with N worker
    processes on an instance of its own, in the same run, rounds alternating between the two; its p99
    with 4 reporters is also read against the same baseline, the single process's p99 with 1."""
    counts = [1] if workers == 1 else [1, workers]
    print(f"sealdrop no-JS report latency, SQLite, {os.cpu_count()} CPUs, threads={THREADS}; "
          f"{LATENCY_ROUNDS} x {LATENCY_REPORTS} reports for each count of reporters, runs alternating, "
          f"after {LATENCY_WARMUP} warm-up; serve with --workers "
          f"{' and '.join(map(str, counts))}")  # fmt: skip
    with contextlib.ExitStack() as stack:
        servers = {n: stack.enter_context(latency_server(tmp, n)) for n in counts}
        times = {(w, n): [] for w in counts for n in LATENCY_CLIENTS}
        try:
            for ours in servers.values():
                report_seconds(ours.port, [read_page(ours.port) for _ in range(LATENCY_WARMUP)])
            for _ in range(LATENCY_ROUNDS):
                for w, ours in servers.items():
                    for n in LATENCY_CLIENTS:
                        times[w, n] += latency_run(ours.port, n)
        except (BenchError, OSError, http.client.HTTPException) as e:
            logs = "\n".join(f"--- {s.name} log ---\n{s.tail()}" for s in servers.values())
            raise BenchError(f"{type(e).__name__}: {e}\n{logs}") from e
    for w in counts:
        print_latency_ratios(w, {n: times[w, n] for n in LATENCY_CLIENTS}, times[1, LATENCY_CLIENTS[0]])


@contextlib.contextmanager
def latency_server(tmp: Path, workers: int) -> Iterator[Server]:
    from dropbox import config

    cfg = roomy_budgets(config.load(make_instance(tmp / f"instance-{workers}")))
    port = free_port()
    argv = serve_argv(cfg.instance_dir, port)
    argv += ["--workers", str(workers)] if workers != 1 else []  # 1: exactly the command of old
    with child_server(f"sealdrop-workers-{workers}", argv, port, tmp) as server:
        yield server


def latency_run(port: int, clients: int) -> list[float]:
    forms = [[read_page(port) for _ in range(LATENCY_REPORTS // clients)] for _ in range(clients)]
    return [t for client in all_at_once(forms, lambda pages: report_seconds(port, pages)) for t in client]


def print_latency_ratios(workers: int, times: dict[int, list[float]], baseline: list[float]) -> None:
    print(f"serve --workers {workers}:")
    p99 = {n: print_latency(n, samples) for n, samples in times.items()}
    many, one = LATENCY_CLIENTS[-1], LATENCY_CLIENTS[0]
    ratio = p99[many] / p99[one]
    verdict = "ok" if ratio <= LATENCY_GOAL else "OVER"
    print(f"  p99 with {many} / p99 with {one}: {ratio:.2f} (goal <= {LATENCY_GOAL}: {verdict}); p50s: "
          f"{p50_ratio(times):.2f}", flush=True)  # fmt: skip
    if workers == 1:
        print(f"  (one process: {many} reporters sending without a pause queue for its CPU and its "
              f"interpreter lock, so about {many // (os.cpu_count() or 1) or 1}x or more is queueing for "
              "CPU, not for the database)", flush=True)  # fmt: skip
    else:
        against = p99[many] / percentile(baseline, 0.99)
        verdict = "ok" if against <= LATENCY_GOAL else "OVER"
        print(f"  p99 with {many} / p99 with {one} of --workers 1 (the same baseline): {against:.2f} "
              f"(goal <= {LATENCY_GOAL}: {verdict})", flush=True)  # fmt: skip


def p50_ratio(times: dict[int, list[float]]) -> float:
    return percentile(times[LATENCY_CLIENTS[-1]], 0.5) / percentile(times[LATENCY_CLIENTS[0]], 0.5)


def print_latency(clients: int, times: list[float]) -> float:
    p50, p99 = percentile(times, 0.5), percentile(times, 0.99)
    print(f"  {clients} reporter(s) at once: {len(times)} reports, p50 {p50 * 1000:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms, max {max(times) * 1000:.1f} ms", flush=True)  # fmt: skip
    return p99
