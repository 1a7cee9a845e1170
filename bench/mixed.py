"""A text report's time while its worker re-encodes photos, for waitress threads per worker
(`sealdrop serve --threads T`): what the default of 8 buys or costs against fewer threads.

Run from the repository root: `python -m bench.mixed` (about two minutes; `--threads 1,2,8` for others).
For each thread count, one `sealdrop serve` (SQLite, one worker) on a demo instance of its own. In each
round, on every server in turn: PHOTO_SENDERS reporters send no-JS reports with a 3 MB phone photo one
after another, without a pause, while TEXT_SENDERS reporters send no-JS text reports, one every
TEXT_GAP_S each (people arriving, not a flood). The text reports' times (from sending the POST to the
whole receipt page) give p50 and p95 per server; the photos sent meanwhile give the photo rate. The
baseline is the same text reports on the same server with no photo arriving, measured in the same round.
Nothing is asserted; every answer is checked for its receipt, and a broken run exits 1.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench._util import BenchError, all_at_once, run_main, table
from bench.client import Http, check_receipt, read_page
from bench.latency import percentile
from bench.loadgen import Request
from bench.scale import bench_config, no_js_report, photo_jpeg, serve_argv
from bench.servers import child_server, free_port

THREADS_COMPARED = (2, 8)
PHOTO_SENDERS, TEXT_SENDERS, TEXT_PER_SENDER, TEXT_GAP_S, ROUNDS = 2, 2, 40, 0.05, 3


@dataclass
class Times:
    """One server's text report times (seconds), with and without photos, and the photos filed."""

    quiet: list[float] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)
    photos: int = 0
    photo_seconds: float = 0.0


def send(http: Http, request: Request) -> float:
    """`request` on `http`; its seconds, from sending to the whole answer, which must be a receipt."""
    start = time.perf_counter()
    answer = http.call(request.method, request.path, request.body, request.headers)
    seconds = time.perf_counter() - start
    check_receipt(answer)
    return seconds


def text_sender(port: int) -> list[float]:
    """TEXT_PER_SENDER text reports, one every TEXT_GAP_S (a form loaded beforehand for each)."""
    requests = [no_js_report(read_page(port), None)[0] for _ in range(TEXT_PER_SENDER)]
    times = []
    with Http(port) as http:
        for request in requests:
            times.append(send(http, request))
            time.sleep(TEXT_GAP_S)
    return times


def photo_sender(port: int, photo: bytes, stop: threading.Event, filed: list[float]) -> None:
    """No-JS photo reports one after another until `stop`; each one's seconds appended to `filed`."""
    with Http(port) as http:
        while not stop.is_set():
            filed.append(send(http, no_js_report(read_page(port), photo)[0]))


def round_on(port: int, photo: bytes, times: Times) -> None:
    """The text senders alone, then again while the photo senders keep the worker re-encoding."""
    times.quiet += [t for sender in all_at_once([port] * TEXT_SENDERS, text_sender) for t in sender]
    stop, filed = threading.Event(), []
    photos = [
        threading.Thread(target=photo_sender, args=(port, photo, stop, filed)) for _ in range(PHOTO_SENDERS)
    ]
    start = time.perf_counter()
    for thread in photos:
        thread.start()
    try:
        time.sleep(0.5)  # the photos are being re-encoded before the first text report
        times.busy += [t for sender in all_at_once([port] * TEXT_SENDERS, text_sender) for t in sender]
    finally:
        stop.set()
        for thread in photos:
            thread.join()
    times.photos += len(filed)
    times.photo_seconds += time.perf_counter() - start
    if not filed:
        raise BenchError("no photo report was filed during the text reports")


def run(tmp: Path, threads: tuple[int, ...]) -> None:
    photo = photo_jpeg()
    print(f"sealdrop mixed load: no-JS text reports ({TEXT_SENDERS} reporters, one report every "
          f"{TEXT_GAP_S * 1000:.0f} ms each) while {PHOTO_SENDERS} reporters send {len(photo) / 1e6:.1f} MB "
          f"photos without a pause; SQLite, 1 worker, --threads {', '.join(map(str, threads))}; "
          f"{ROUNDS} rounds", flush=True)  # fmt: skip
    results = {t: Times() for t in threads}
    with contextlib.ExitStack() as stack:
        ports = {}
        for t in threads:
            instance, ports[t] = bench_config(tmp / f"threads-{t}", None), free_port()
            stack.enter_context(
                child_server(f"threads-{t}", serve_argv(instance, ports[t], 1, t), ports[t], tmp)
            )
        for r in range(ROUNDS):
            for t in threads[r % len(threads) :] + threads[: r % len(threads)]:
                round_on(ports[t], photo, results[t])
    rows = []
    for t, m in results.items():
        ms = [
            percentile([s * 1000 for s in samples], q) for samples in (m.quiet, m.busy) for q in (0.5, 0.95)
        ]
        rows.append(
            [str(t), *(f"{v:.1f}" for v in ms), f"{ms[3] / ms[1]:.1f}", f"{m.photos / m.photo_seconds:.1f}"]
        )
    print(table(["threads", "text p50 ms, alone", "p95", "p50, beside photos", "p95", "p95 beside / alone",
                 "photos/s"], rows))  # fmt: skip
    print(f"{len(results[threads[0]].busy)} text reports per server beside photos, as many alone.")


def main(argv: list[str]) -> int:
    threads = THREADS_COMPARED
    if argv[:1] == ["--threads"]:
        threads = tuple(int(t) for t in argv[1].split(","))
    return run_main("mixed", lambda tmp: run(tmp, threads))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
