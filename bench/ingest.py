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
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.client
import io
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from base64 import b64encode
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from bench._util import MB, BenchError, MiB, filesystem_of, random_file, table, timed

if TYPE_CHECKING:  # imported where used, so that the baseline's child loads nothing but waitress
    import crypto
    from dropbox.config import Config

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
DESK = "demo"
CATEGORY = "Drug dealing"
THREADS = 8  # `sealdrop serve` default, passed to both servers explicitly
HTTP_TIMEOUT = 300.0
START_TIMEOUT = 30.0

FORM_CLIENTS, FORM_WARMUP, FORM_REPS, FORM_PER_REP = 4, 20, 3, 100  # 300 timed reports per server
UPLOAD_SIZE, UPLOAD_REPS = 20 * MiB, 5
BIG_SIZE, BIG_UPLOADS = 200 * MiB, 5
RSS_INTERVAL = 0.05
UPLOAD_GOAL, RSS_GOAL_MB = 0.5, 150
# --latency: reporters at once, and reports per run for each count (the same for both, so each p99 is
# read from as many samples); runs alternate between the counts so both see the machine's same moods.
LATENCY_CLIENTS, LATENCY_REPORTS, LATENCY_ROUNDS, LATENCY_WARMUP, LATENCY_GOAL = (1, 4), 120, 2, 10, 3.0

CASE_NUMBER = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}")
WHAT = (
    "A man sells small packets behind the school gym every weekday between 15:00 and 16:00. He arrives "
    "in a grey hatchback, waits by the back fence and leaves after about twenty minutes. Students from "
    "the upper classes meet him there; money and packets change hands through the fence. "
) * 3


# ----------------------------------------------------------------------------- the baseline (child)


def sink_app(root: Path) -> Callable:
    """A WSGI app that writes each body to a file with fsync and answers {"received": bytes held}.

    PUT ...?offset=k writes at k into one file per path (like a resumable upload); any other body goes
    to a new file; GET returns the size of the path's file.
    """

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        offset = parse_qs(environ.get("QUERY_STRING", "")).get("offset")
        named = root / hashlib.sha256(environ["PATH_INFO"].encode()).hexdigest()[:32]
        if environ["REQUEST_METHOD"] == "GET":
            received = named.stat().st_size if named.exists() else 0
        elif offset:
            received = _write_at(named, int(offset[0]), body)
        else:
            received = _write_at(root / secrets.token_hex(16), 0, body)
        payload = json.dumps({"received": received}).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        start_response("200 OK", headers)
        return [payload]

    return app


def _write_at(path: Path, offset: int, body: bytes) -> int:
    with open(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+b") as f:
        f.seek(offset)
        f.write(body)
        f.truncate()
        f.flush()
        os.fsync(f.fileno())
        return f.tell()


def serve_sink(port: int, root: Path, options: dict) -> int:
    """The baseline's child process: waitress with the options `sealdrop serve` uses."""
    from waitress import serve

    print(f"sink serving on http://{HOST}:{port} with {options}", flush=True)
    serve(sink_app(root), host=HOST, port=port, threads=THREADS, **options)
    return 0


# ------------------------------------------------------------------------------------ child servers


@dataclass(frozen=True)
class Server:
    name: str
    port: int
    proc: subprocess.Popen
    log: Path

    def tail(self, lines: int = 15) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def child_server(name: str, argv: Sequence[str], port: int, tmp: Path) -> Iterator[Server]:
    """Start `argv` (which must listen on `port`), wait until it accepts, and stop it on the way out."""
    child_tmp = tmp / f"{name}-tmp"
    child_tmp.mkdir()
    log = tmp / f"{name}.log"
    env = {**os.environ, "TMPDIR": str(child_tmp), "PYTHONUNBUFFERED": "1"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            list(argv), env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(name, port, proc, log)
    try:
        _wait_listening(server)
        yield server
    finally:
        _stop(proc)


def _wait_listening(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise BenchError(f"{server.name} exited {server.proc.returncode}:\n{server.tail()}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, server.port), timeout=0.2):
            return
        time.sleep(0.05)
    raise BenchError(f"{server.name} did not listen on port {server.port} within {START_TIMEOUT:.0f} s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def free_port() -> int:
    from tests.helpers import free_port as helper

    return helper()


def make_instance(path: Path) -> Path:
    from tests.helpers import make_instance as helper

    with contextlib.redirect_stdout(io.StringIO()):
        return helper(path)


# -------------------------------------------------------------------------------------------- HTTP


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    def json(self) -> dict:
        try:
            return json.loads(self.body)
        except ValueError:
            raise BenchError(f"not JSON (HTTP {self.status}): {self.body[:200]!r}") from None


class Http:
    """One keep-alive connection to 127.0.0.1, as one browser tab would hold."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=HTTP_TIMEOUT)

    def __enter__(self) -> Http:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.conn.close()

    def call(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> Response:
        self.conn.request(method, path, body=body, headers=headers or {})
        response = self.conn.getresponse()
        return Response(response.status, response.read())

    def api(self, method: str, path: str, csrf: str, body: bytes | dict | None = None) -> Response:
        """A call as upload.mjs makes it: the CSRF header, JSON or raw bytes."""
        headers = {"X-Sealdrop-CSRF": csrf}
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif body is not None:
            headers["Content-Type"] = "application/octet-stream"
        return self.call(method, f"/api/{DESK}{path}", body, headers)


def expect(response: Response, status: int, what: str) -> Response:
    if response.status != status:
        raise BenchError(f"{what}: HTTP {response.status}, expected {status}: {response.body[:300]!r}")
    return response


# -------------------------------------------------------------------------------------------- page


@dataclass(frozen=True)
class Page:
    """What GET /r/demo gives a client: both CSRF tokens, the category and its recipients."""

    form_token: str
    api_token: str
    category: str
    keys: list[crypto.RecipientKey]


def read_page(port: int) -> Page:
    import crypto

    with Http(port) as http:
        html = expect(http.call("GET", f"/r/{DESK}?lang=en"), 200, f"GET /r/{DESK}").body.decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    category = re.search(rf'value="(\d+)"[^>]*> {re.escape(CATEGORY)}', html)
    if token is None or category is None:
        raise BenchError(f"/r/{DESK}: no form token or no category {CATEGORY!r}")
    keys = json.loads(_script(html, "recipient-keys")).get(category.group(1))
    if not keys:
        raise BenchError(f"/r/{DESK}: category {CATEGORY!r} has no recipient keys")
    return Page(
        form_token=token.group(1),
        api_token=json.loads(_script(html, "page-data"))["csrf"],
        category=category.group(1),
        keys=[crypto.RecipientKey(bytes.fromhex(h)) for h in keys],
    )


def _script(html: str, element_id: str) -> str:
    found = re.search(rf'<script[^>]*id="{element_id}"[^>]*>(.*?)</script>', html, re.DOTALL)
    if found is None:
        raise BenchError(f"no <script id={element_id}> in the report page")
    return found.group(1)


# -------------------------------------------------------------------------------- 1. no-JS reports


@dataclass(frozen=True)
class Form:
    body: bytes
    content_type: str


def report_form(page: Page) -> Form:
    """The multipart body of a text-only report, with the fields tests' Reporter posts, under a fresh
    boundary as a browser makes for each submission (werkzeug compiles a parser per boundary)."""
    fields = {"csrf_token": page.form_token, "category": page.category, "lang": "en", "what": WHAT,
              "where_mode": "none"}  # fmt: skip
    boundary = f"----sealdropbench{secrets.token_hex(8)}"
    lines = []
    for name, value in fields.items():
        lines += [f"--{boundary}", f'Content-Disposition: form-data; name="{name}"', "", value]
    lines += [f"--{boundary}--", ""]
    return Form("\r\n".join(lines).encode(), f"multipart/form-data; boundary={boundary}")


def check_receipt(response: Response, _form: Form) -> None:
    expect(response, 200, f"POST /r/{DESK}")
    if not re.search(rb'id="case-number">[0-9A-Z]{4}-[0-9A-Z]{4}<', response.body):
        raise BenchError(f"POST /r/{DESK}: 200 but no case number in the receipt page")


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

    seconds = timed(lambda: _all(forms, client))
    return sum(len(pages) for pages in forms) / seconds


def fresh_forms(port: int, per_client: int) -> list[list[Page]]:
    return [[read_page(port) for _ in range(per_client)] for _ in range(FORM_CLIENTS)]


def _all(items: Sequence, fn: Callable) -> list:
    """`fn` on every item, each in its own thread; re-raises the first failure."""
    with ThreadPoolExecutor(len(items)) as pool:
        return list(pool.map(fn, items))


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


# ------------------------------------------------------------------------------- 3. RSS under load


def tree_rss(pid: int) -> int:
    """VmRSS of `pid` and all its descendants, in bytes (0 for a process that is gone)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        with contextlib.suppress(OSError):
            total += _status_kib(p, "VmRSS") * 1024
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack += [int(c) for c in f.read().split()]
    return total


def _status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        line = next((ln for ln in f if ln.startswith(f"{field}:")), None)
    if line is None:
        raise BenchError(f"/proc/{pid}/status has no {field}")
    return int(line.split()[1])


def reset_high_water(pid: int) -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of `pid`; False where the kernel refuses."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


class RssSampler:
    """Samples tree_rss(pid) every RSS_INTERVAL seconds in a thread while in the `with` block."""

    def __init__(self, pid: int) -> None:
        self.pid, self.samples = pid, [tree_rss(pid)]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(RSS_INTERVAL):
            self.samples.append(tree_rss(self.pid))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(tree_rss(self.pid))


@dataclass(frozen=True)
class LoadRun:
    startup: int  # RSS just after the server began to listen, bytes
    idle: int  # RSS just before, bytes
    peak: int  # highest sample
    high_water: int | None  # the kernel's VmHWM since the reset (main process only)
    after: int  # RSS once every upload finished
    samples: int
    mb_per_s: float  # all uploads together


def under_load(
    server: Server, upload: Callable[[Path], float], files: Sequence[Path], startup: int
) -> LoadRun:
    """Run `upload` on every file at once, one thread each, sampling the server's RSS meanwhile."""
    os.sync()
    idle, hwm_ok = tree_rss(server.proc.pid), reset_high_water(server.proc.pid)
    with RssSampler(server.proc.pid) as sampler:
        seconds = timed(lambda: _all(files, upload))
    high_water = _status_kib(server.proc.pid, "VmHWM") * 1024 if hwm_ok else None
    total = sum(f.stat().st_size for f in files) / MB
    return LoadRun(startup, idle, max(sampler.samples), high_water, sampler.samples[-1], len(sampler.samples),
                   total / seconds)  # fmt: skip


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
    ours_argv = [sys.executable, "-m", "dropbox.cli", "serve", "--dir", str(cfg.instance_dir), "--port",
                 str(ours_port), "--desk-port", "0", "--threads", str(THREADS)]  # fmt: skip
    sink_argv = [sys.executable, "-m", "bench.ingest", "--sink", str(sink_port), str(tmp / "sink"),
                 json.dumps(options)]  # fmt: skip
    with (
        child_server("sealdrop", ours_argv, ours_port, tmp) as ours,
        child_server("sink", sink_argv, sink_port, tmp) as sink,
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


# ------------------------------------------------------------------------- --latency: the write tail


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


def roomy_budgets(cfg: Config) -> Config:
    """The instance with report budgets (dropbox/budget.py) out of the way: this measures the database."""
    from dataclasses import fields

    from dropbox import config

    roomy = {f.name: 10**9 for f in fields(cfg) if f.name.startswith("budget_reports")}
    cfg = cfg.with_overrides(**roomy)
    config.save(cfg)
    return cfg


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
    argv = [sys.executable, "-m", "dropbox.cli", "serve", "--dir", str(cfg.instance_dir), "--port", str(port),
            "--desk-port", "0", "--threads", str(THREADS)]  # fmt: skip
    argv += ["--workers", str(workers)] if workers != 1 else []  # 1: exactly the command of old
    with child_server(f"sealdrop-workers-{workers}", argv, port, tmp) as server:
        yield server


def latency_run(port: int, clients: int) -> list[float]:
    forms = [[read_page(port) for _ in range(LATENCY_REPORTS // clients)] for _ in range(clients)]
    return [t for client in _all(forms, lambda pages: report_seconds(port, pages)) for t in client]


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


def main(argv: list[str]) -> int:
    if argv[:1] == ["--sink"]:
        return serve_sink(int(argv[1]), Path(argv[2]), json.loads(argv[3]))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up below on `kill` too
    tmp = Path(tempfile.mkdtemp(prefix="sealdrop-ingest-", dir="/tmp"))
    if argv[:1] == ["--latency"]:
        workers = int(argv[argv.index("--workers") + 1]) if "--workers" in argv else 1
        measured = functools.partial(run_latency, workers=workers)
    else:
        measured = run
    try:
        print(f"\ntotal {timed(lambda: measured(tmp)):.0f} s")
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
