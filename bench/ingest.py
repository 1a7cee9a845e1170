"""How fast and lean the server takes reports in, against a bare waitress sink measured in the same run.

Run from the repository root: `python -m bench.ingest` (under a minute here). Two child processes serve
on 127.0.0.1: `sealdrop serve` on a fresh demo instance (SQLite), and the baseline, a bare waitress WSGI
app with the same waitress options that writes every request body to a file, fsyncs it and answers 200.
Every figure is the median of a few repetitions, printed as a ratio ours / baseline; nothing is asserted.
Every response is checked (a case number, the right byte counts): a broken run exits 1.

1. No-JS text reports per second: concurrent clients post the report form (multipart, as a browser
   without JavaScript does); the baseline takes the same bodies. No goal stated.
2. MB/s of one 20 MiB sealed upload over the JS path (start, PUT pieces, file the report), from the first
   byte to the case number; the baseline takes the same pieces. Goal: ratio >= 0.5.
3. The server's RSS while five 200 MiB uploads run at once, sampled from /proc every 50 ms (and the
   kernel's high-water mark); the baseline under the same load for scale. Goal: flat, under 150 MB.

`python -m bench.ingest --latency` measures something else, on its own: the time each no-JS report
takes (its POST, on a form loaded beforehand) with 1 reporter and with 4 at once, p50 and p99 over as many
reports each, and the ratio of the two p99s. Writers queueing on SQLite's write lock show here as a
tail. Goal: ratio <= 3. `--latency --workers 2` runs a second serve with two worker processes in the
same run and reads its p99 with 4 reporters against the same baseline (one process, 1 reporter) too.

The pieces live beside it: the baseline in bench/sink.py, the child servers in bench/servers.py, the
client's requests and the report page in bench/client.py, the RSS sampler in bench/rss.py and
`--latency` in bench/latency.py.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import platform
import secrets
import statistics
import sys
import time
from base64 import b64encode
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench._util import MB, BenchError, MiB, all_at_once, filesystem_of, random_file, run_main, table, timed
from bench.client import (
    CASE_NUMBER,
    DESK,
    HTTP_TIMEOUT,
    WHAT,
    Form,
    Http,
    Page,
    Response,
    check_receipt,
    expect,
    read_page,
    report_form,
)
from bench.latency import run_latency
from bench.rss import RSS_INTERVAL, LoadRun, tree_rss, under_load
from bench.servers import (
    HOST,
    THREADS,
    Server,
    child_server,
    free_port,
    make_instance,
    roomy_budgets,
    serve_argv,
)
from bench.sink import serve_sink, sink_argv

if TYPE_CHECKING:  # imported where used, so that the baseline's child loads nothing but waitress
    import crypto
    from dropbox.config import Config

# What bench/scale.py and bench/loadgen.py import from here, where these lived before they moved out.
__all__ = ["DESK", "HOST", "HTTP_TIMEOUT", "THREADS", "WHAT", "Http", "Page", "Server", "child_server",
           "free_port", "make_instance", "read_page", "report_form", "roomy_budgets"]  # fmt: skip

FORM_CLIENTS, FORM_WARMUP, FORM_REPS, FORM_PER_REP = 4, 20, 3, 100  # 300 timed reports per server
UPLOAD_SIZE, UPLOAD_REPS = 20 * MiB, 5
BIG_SIZE, BIG_UPLOADS = 200 * MiB, 5
UPLOAD_GOAL, RSS_GOAL_MB = 0.5, 150


# -------------------------------------------------------------------------------- 1. no-JS reports


def check_sink_form(response: Response, form: Form) -> None:
    received = expect(response, 200, "sink POST").json().get("received")
    if received != len(form.body):
        raise BenchError(f"sink POST: stored {received} bytes of {len(form.body)}")


Check = Callable[[Response, Form], None]


def post_forms(port: int, forms: Sequence[Sequence[Page]], check: Check) -> float:
    """One client per list of forms posts one report on each, on its own connection, all at once;
    reports/s. A form files one report only (its token is single-use), so each is loaded beforehand."""

    def client(pages: Sequence[Page]) -> None:
        with Http(port) as http:
            for page in pages:
                form = report_form(page)
                check(http.call("POST", f"/r/{DESK}", form.body, {"Content-Type": form.content_type}), form)

    seconds = timed(lambda: all_at_once(forms, client))
    return sum(len(pages) for pages in forms) / seconds


def fresh_forms(port: int, per_client: int) -> list[list[Page]]:
    return [[read_page(port) for _ in range(per_client)] for _ in range(FORM_CLIENTS)]


@dataclass(frozen=True)
class Pair:
    """Medians of ours and of the baseline, and every sample behind them."""

    ours: list[float]
    base: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ours) / statistics.median(self.base)


def alternate(reps: int, ours: Callable[[], float], base: Callable[[], float]) -> Pair:
    """`reps` runs of each, in alternating order so both see the same share of a noisy machine."""
    pair = Pair([], [])
    for rep in range(reps):
        for name in ("ours", "base") if rep % 2 == 0 else ("base", "ours"):
            os.sync()  # no run pays for an earlier run's writeback
            getattr(pair, name).append(ours() if name == "ours" else base())
    return pair


def bench_forms(ours: Server, sink: Server) -> Pair:
    warm = fresh_forms(ours.port, FORM_WARMUP // FORM_CLIENTS)
    post_forms(ours.port, warm, check_receipt)
    post_forms(sink.port, warm, check_sink_form)
    per_client = FORM_PER_REP // FORM_CLIENTS
    return alternate(
        FORM_REPS,
        lambda: post_forms(ours.port, fresh_forms(ours.port, per_client), check_receipt),
        lambda: post_forms(sink.port, fresh_forms(ours.port, per_client), check_sink_form),
    )


# ---------------------------------------------------------------------------------- 2. JS uploads


def seal_file(src: Path, dst: Path, keys: Sequence[crypto.RecipientKey]) -> int:
    """Seal `src` to `keys` into `dst` (as the browser seals before uploading); the envelope's size."""
    import crypto

    with open(src, "rb", buffering=0) as s, open(dst, "wb", buffering=0) as d:
        crypto.seal(s, d, keys)
    return dst.stat().st_size


def pieces(path: Path, piece: int) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) of `path` in pieces of `piece` bytes, read one at a time."""
    with open(path, "rb") as f:
        offset = 0
        while data := f.read(piece):
            yield offset, data
            offset += len(data)


def upload_ours(port: int, page: Page, path: Path, piece: int) -> float:
    """What upload.mjs does, then file the report; seconds from the first byte to the case number."""
    import crypto

    size, token = path.stat().st_size, page.api_token
    start = time.perf_counter()
    with Http(port) as http:
        started = expect(http.api("POST", "/uploads", token, {"size": size}), 201, "start upload").json()
        if started.get("piece") != piece:
            raise BenchError(f"start upload: piece {started.get('piece')}, expected {piece}")
        for offset, data in pieces(path, piece):
            reply = http.api("PUT", f"/uploads/{started['id']}?offset={offset}", token, data)
            _check_received(expect(reply, 200, "PUT piece"), offset + len(data), "PUT piece")
        receipt = crypto.Receipt.generate()
        report = {"category": page.category, "parts": [started["id"]],
                  "lookup_id": b64encode(receipt.lookup_id).decode(),
                  "reply_public": b64encode(receipt.reply_recipient.public_bytes).decode(),
                  "pow": proof_of_work(http, token)}  # fmt: skip
        number = expect(http.api("POST", "/reports", token, report), 201, "file report").json()
    if not CASE_NUMBER.fullmatch(str(number.get("case_number"))):
        raise BenchError(f"file report: 201 without a case number: {number}")
    return time.perf_counter() - start


def proof_of_work(http: Http, token: str) -> dict:
    """What report.mjs sends with a report: a fresh challenge, solved (dropbox/pow.py; a few ms at the
    demo instance's level)."""
    from dropbox import pow as work

    offered = expect(http.api("GET", "/challenge", token), 200, "challenge").json()
    numbers = (offered["work"], offered["iterations"], offered["proofs"])
    challenge = work.Challenge(offered["challenge"], 0, *numbers)
    return {"challenge": challenge.token, "nonces": work.solve(challenge)}


def upload_sink(port: int, path: Path, piece: int) -> float:
    """The same pieces PUT to the sink; seconds from the first byte to the last answer."""
    target, size = f"/api/{DESK}/uploads/{secrets.token_hex(16)}", path.stat().st_size
    start = time.perf_counter()
    with Http(port) as http:
        for offset, data in pieces(path, piece):
            headers = {"Content-Type": "application/octet-stream"}
            reply = http.call("PUT", f"{target}?offset={offset}", data, headers)
            _check_received(expect(reply, 200, "sink PUT"), offset + len(data), "sink PUT")
    seconds = time.perf_counter() - start
    with Http(port) as http:
        _check_received(expect(http.call("GET", target), 200, "sink GET"), size, "sink GET")
    return seconds


def _check_received(response: Response, expected: int, what: str) -> None:
    received = response.json().get("received")
    if received != expected:
        raise BenchError(f"{what}: the server holds {received} bytes, expected {expected}")


def bench_upload(ours: Server, sink: Server, page: Page, envelope: Path, piece: int) -> Pair:
    mb = envelope.stat().st_size / MB
    upload_ours(ours.port, page, envelope, piece)  # warm-up
    upload_sink(sink.port, envelope, piece)
    return alternate(
        UPLOAD_REPS,
        lambda: mb / upload_ours(ours.port, page, envelope, piece),
        lambda: mb / upload_sink(sink.port, envelope, piece),
    )


def seal_copies(tmp: Path, keys: Sequence[crypto.RecipientKey], size: int, count: int) -> list[Path]:
    """`count` envelopes of one random plaintext of `size` bytes, sealed to files (never all in memory)."""
    plain = tmp / "plain.bin"
    random_file(plain, size)
    try:
        files = [tmp / f"sealed-{size // MiB}MiB-{i}.bin" for i in range(count)]
        for f in files:
            seal_file(plain, f, keys)
    finally:
        plain.unlink()
    return files


# ------------------------------------------------------------------------------------ verification


def check_stored(cfg: Config, wanted: Counter[int]) -> None:
    """Fail unless the blob store holds `count` envelopes of each `size` and no upload is left over."""
    stored = Counter(p.stat().st_size for p in cfg.blob_dir.glob("??/*") if p.is_file())
    for size, count in wanted.items():
        if stored[size] < count:
            raise BenchError(f"the blob store holds {stored[size]} envelopes of {size} bytes, not {count}")
    left = list((cfg.blob_dir / "uploads").glob("*.part"))
    if left:
        raise BenchError(f"{len(left)} uploads were left unfinished in {left[0].parent}")


# ------------------------------------------------------------------------------------------ output


def describe(tmp: Path, cfg: Config, options: dict) -> None:
    print("sealdrop ingest benchmark: ours = `sealdrop serve` (SQLite), baseline = bare waitress sink")
    print(f"  machine: {os.cpu_count()} CPUs, {platform.machine()}, {platform.platform()}")
    print(f"  python {platform.python_version()}, waitress {_version('waitress')}, sealdrop piece size "
          f"{cfg.max_upload_piece // MiB} MiB")  # fmt: skip
    print(f"  both servers: threads={THREADS}, inbuf_overflow={options['inbuf_overflow']}, "
          f"max_request_body_size={options['max_request_body_size']}")  # fmt: skip
    print(f"  temp files in {tmp} on {filesystem_of(tmp)}", flush=True)


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def _samples(values: Iterable[float], fmt: str) -> str:
    return " ".join(format(v, fmt) for v in values)


def print_forms(pair: Pair) -> None:
    n = FORM_PER_REP // FORM_CLIENTS * FORM_CLIENTS
    print(f"\n1. No-JS text reports/s, {FORM_CLIENTS} clients, {n} reports per run, {FORM_REPS} runs each "
          f"after {FORM_WARMUP} warm-up; no goal stated")  # fmt: skip
    print(f"   ours     {_samples(pair.ours, '.1f')}")
    print(f"   baseline {_samples(pair.base, '.1f')}", flush=True)


def print_upload(pair: Pair, size: int) -> None:
    print(f"\n2. One sealed upload of {size / MiB:.2f} MiB (JS path), MB/s, {UPLOAD_REPS} runs each after "
          f"a warm-up; goal ratio >= {UPLOAD_GOAL}")  # fmt: skip
    print(f"   ours     {_samples(pair.ours, '.0f')}")
    print(f"   baseline {_samples(pair.base, '.0f')}", flush=True)


def print_load(runs: dict[str, LoadRun], size: int) -> None:
    print(f"\n3. RSS of each server process (and its children) while {BIG_UPLOADS} uploads of "
          f"{size / MiB:.2f} MiB run at once, MB = 10^6 bytes; one run each; goal: ours flat, under "
          f"{RSS_GOAL_MB} MB")  # fmt: skip
    rows = [[name, _mb(r.startup), _mb(r.idle), _mb(r.peak), f"{(r.peak - r.idle) / MB:+.1f}",
             _mb(r.high_water), _mb(r.after), str(r.samples), f"{r.mb_per_s:.0f}"]
            for name, r in runs.items()]  # fmt: skip
    headers = ["server", "startup", "idle before", "peak", "growth", "VmHWM", "after", "samples", "MB/s all"]
    print("   " + table(headers, rows).replace("\n", "\n   "))
    print(f"   startup: once it listened; idle before: after parts 1-2; peak: highest VmRSS sampled every "
          f"{RSS_INTERVAL * 1000:.0f} ms;\n   VmHWM: the kernel's high-water mark (main process), reset "
          "before the run", flush=True)  # fmt: skip


def _mb(value: int | None) -> str:
    return "n/a" if value is None else f"{value / MB:.1f}"


def print_summary(forms: Pair, upload: Pair, ours: LoadRun, base: LoadRun) -> None:
    rss_verdict = "ok" if ours.peak / MB < RSS_GOAL_MB else "OVER"
    upload_verdict = "ok" if upload.ratio >= UPLOAD_GOAL else "BELOW"
    rows = [
        ["1. no-JS text reports/s", _median(forms.ours, ".1f"), _median(forms.base, ".1f"),
         f"{forms.ratio:.3f}", "none stated"],
        ["2. 20 MiB sealed upload, MB/s", _median(upload.ours, ".0f"), _median(upload.base, ".0f"),
         f"{upload.ratio:.2f}", f">= {UPLOAD_GOAL}: {upload_verdict}"],
        [f"3. peak RSS, {BIG_UPLOADS} x 200 MiB at once, MB", _mb(ours.peak), _mb(base.peak),
         f"{ours.peak / base.peak:.2f}", f"< {RSS_GOAL_MB} MB: {rss_verdict}"],
        ["   growth over idle, MB", f"{(ours.peak - ours.idle) / MB:+.1f}",
         f"{(base.peak - base.idle) / MB:+.1f}", "", ""],
        ["   kept after the run, MB", f"{(ours.after - ours.idle) / MB:+.1f}",
         f"{(base.after - base.idle) / MB:+.1f}", "", "flat: about +0"],
    ]  # fmt: skip
    print("\nSummary (medians; ratio = ours / baseline: higher is better for 1-2, lower for 3)")
    print(table(["measure", "ours", "baseline", "ratio", "goal"], rows), flush=True)


def _median(values: Sequence[float], fmt: str) -> str:
    return format(statistics.median(values), fmt)


# -------------------------------------------------------------------------------------------- main


def run(tmp: Path) -> None:
    from dropbox import cli, config

    cfg = roomy_budgets(config.load(make_instance(tmp / "instance")))
    options = cli.server_options(cfg)
    describe(tmp, cfg, options)
    (tmp / "sink").mkdir()
    ours_port, sink_port = free_port(), free_port()
    ours_argv = serve_argv(cfg.instance_dir, ours_port)
    sink_command = sink_argv(sink_port, tmp / "sink", options)
    with (
        child_server("sealdrop", ours_argv, ours_port, tmp) as ours,
        child_server("sink", sink_command, sink_port, tmp) as sink,
    ):
        try:
            measure_all(tmp, cfg, ours, sink)
        except (BenchError, OSError, http.client.HTTPException) as e:  # a refused or dropped request too
            logs = f"--- sealdrop log ---\n{ours.tail()}\n--- sink log ---\n{sink.tail()}"
            raise BenchError(f"{type(e).__name__}: {e}\n{logs}") from e


def measure_all(tmp: Path, cfg: Config, ours: Server, sink: Server) -> None:
    startup = {s.name: tree_rss(s.proc.pid) for s in (ours, sink)}
    forms = bench_forms(ours, sink)
    print_forms(forms)
    page, piece = read_page(ours.port), cfg.max_upload_piece
    small = seal_copies(tmp, page.keys, UPLOAD_SIZE, 1)[0]
    upload = bench_upload(ours, sink, page, small, piece)
    print_upload(upload, small.stat().st_size)
    check_stored(cfg, Counter({small.stat().st_size: UPLOAD_REPS + 1}))
    big = seal_copies(tmp, page.keys, BIG_SIZE, BIG_UPLOADS)
    ours_load = under_load(ours, lambda f: upload_ours(ours.port, page, f, piece), big, startup[ours.name])
    base_load = under_load(sink, lambda f: upload_sink(sink.port, f, piece), big, startup[sink.name])
    print_load({"ours": ours_load, "baseline": base_load}, big[0].stat().st_size)
    check_stored(cfg, Counter({big[0].stat().st_size: BIG_UPLOADS}))
    print_summary(forms, upload, ours_load, base_load)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--sink"]:
        return serve_sink(int(argv[1]), Path(argv[2]), json.loads(argv[3]))
    if argv[:1] == ["--latency"]:
        workers = int(argv[argv.index("--workers") + 1]) if "--workers" in argv else 1
        return run_main("ingest", functools.partial(run_latency, workers=workers))
    return run_main("ingest", run)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
