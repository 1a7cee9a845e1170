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
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import http.client
import json
import multiprocessing
import os
import re
import secrets
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

from bench._util import BenchError, MiB, table, timed
from bench.ingest import (
    CASE_NUMBER,
    DESK,
    HOST,
    Page,
    Server,
    child_server,
    free_port,
    make_instance,
    report_form,
)

if TYPE_CHECKING:
    from dropbox.config import Config

THREADS = 8  # `sealdrop serve`'s default
HTTP_TIMEOUT = 900.0  # a client waiting in the listen backlog is not a failure, only slow
RECEIPT_GOAL_S = 5.0
BOT_WORKERS = 64
LEVEL_EVERY_S = 1.0
CHILD_TIMEOUT_S = 1800.0
STALE_RETRIES = 10  # the page solves afresh for as long as its challenges go stale; enough here
RETRIES = 3  # connections a slow client opens again after one is dropped, as the page's retries do
PACE_CHUNK = 8 * 1024
REPORT_TEXT = "A grey hatchback waits behind the school gym every weekday; packets change hands."
CASE_NUMBER_HTML = re.compile(rb'id="case-number">[0-9A-Z]{4}-[0-9A-Z]{4}<')


# -------------------------------------------------------------------------------------------- HTTP


@dataclass(frozen=True)
class Answer:
    """One answer, reduced to what is counted: the status and the API's error code, if any."""

    status: int
    body: bytes
    seconds: float

    @property
    def code(self) -> str:
        if self.status < 400 or not self.body.startswith(b"{"):
            return ""
        with contextlib.suppress(ValueError, AttributeError):
            return str(json.loads(self.body).get("error", ""))
        return ""

    @property
    def label(self) -> str:
        return f"{self.status} {self.code}".strip()

    def json(self) -> dict:
        try:
            return json.loads(self.body)
        except ValueError:
            raise BenchError(f"not JSON (HTTP {self.status}): {self.body[:200]!r}") from None


def request(
    conn: http.client.HTTPConnection, method: str, path: str, body: object = None, headers: dict | None = None
) -> Answer:
    """`method path` on `conn`; seconds from sending the first byte to reading the last."""
    start = time.perf_counter()
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    return Answer(response.status, data, time.perf_counter() - start)


def connect(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(HOST, port, timeout=HTTP_TIMEOUT)


def once(port: int, method: str, path: str, body: object = None, headers: dict | None = None) -> Answer:
    """One request on a connection of its own (a browser whose idle connection has gone)."""
    conn = connect(port)
    try:
        return request(conn, method, path, body, headers)
    finally:
        conn.close()


def api_headers(page: Page, content_type: str | None = None) -> dict:
    headers = {"X-Sealdrop-CSRF": page.api_token}
    return headers | ({"Content-Type": content_type} if content_type else {})


# -------------------------------------------------------------------------------------------- page


@dataclass(frozen=True)
class Opened:
    """The report page as a browser got it: its tokens and keys, the challenge it carries, and how long."""

    page: Page
    challenge: dict
    seconds: float


def open_page(port: int) -> Opened:
    import crypto

    answer = once(port, "GET", f"/r/{DESK}?lang=en")
    if answer.status != 200:
        raise BenchError(f"GET /r/{DESK}: HTTP {answer.status}")
    html = answer.body.decode()
    data = json.loads(_script(html, "page-data"))
    category = next(k for k, v in data["categories"].items() if v["slug"] == "drugs")
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if token is None:
        raise BenchError(f"/r/{DESK}: no form token")
    keys = [
        crypto.RecipientKey(bytes.fromhex(h)) for h in json.loads(_script(html, "recipient-keys"))[category]
    ]
    return Opened(Page(token.group(1), data["csrf"], category, keys), data["challenge"], answer.seconds)


def _script(html: str, element_id: str) -> str:
    found = re.search(rf'<script[^>]*id="{element_id}"[^>]*>(.*?)</script>', html, re.DOTALL)
    if found is None:
        raise BenchError(f"no <script id={element_id}> in the report page")
    return found.group(1)


# ------------------------------------------------------------------------------------ JS reports


def sealed_report(page: Page) -> bytes:
    """A sealed report document, as report.mjs seals one (its words are never printed)."""
    import crypto

    doc = {"format": "sealdrop-report/1", "kind": "report", "what": REPORT_TEXT}
    return crypto.seal_bytes(json.dumps(doc).encode(), page.keys)


def solve(challenge: dict) -> dict:
    from tests.helpers import proof_of_work

    return proof_of_work(challenge)


def report_call(page: Page, pow_solution: object) -> dict:
    """The fields of a report call with a new receipt (which stays in this process, unprinted)."""
    import crypto

    receipt = crypto.Receipt.generate()
    call = {"category": int(page.category), "lookup_id": base64.b64encode(receipt.lookup_id).decode(),
            "reply_public": base64.b64encode(receipt.reply_recipient.public_bytes).decode()}  # fmt: skip
    return call if pow_solution is None else call | {"pow": pow_solution}


def whole_body(page: Page, envelope: bytes, pow_solution: object) -> bytes:
    """The one-request report (dropbox/api.py `_submit_whole`): length, the call's JSON, the envelope."""
    meta = json.dumps(report_call(page, pow_solution) | {"sizes": [len(envelope)]}).encode()
    return len(meta).to_bytes(4, "big") + meta + envelope


def send_whole(port: int, page: Page, envelope: bytes, pow_solution: object) -> Answer:
    body = whole_body(page, envelope, pow_solution)
    return once(port, "POST", f"/api/{DESK}/reports", body, api_headers(page, "application/octet-stream"))


def fresh_challenge(port: int, page: Page) -> dict:
    return once(port, "GET", f"/api/{DESK}/challenge?lang=en", headers=api_headers(page)).json()


def filed(answer: Answer) -> bool:
    """A JS report call that gave a case number, or a no-JS post that showed the receipt page."""
    if answer.status == 201:
        return CASE_NUMBER.fullmatch(str(answer.json().get("case_number", ""))) is not None
    return answer.status == 200 and CASE_NUMBER_HTML.search(answer.body) is not None


# ------------------------------------------------------------------------ the normal reporter


@dataclass
class Visit:
    """One normal reporter: page, the queue probe, a no-JS report and a JS report, each timed."""

    page_s: float = 0.0
    probe_s: float = 0.0
    form_s: float = 0.0
    solve_s: float = 0.0
    js_s: float = 0.0
    form: str = ""
    js: str = ""
    retry_after: list[int] = field(default_factory=list)
    at_s: float | None = None  # when it started, in seconds after the load did

    @property
    def receipt_s(self) -> float:
        """Send to receipt on the JS path when the proof of work was still running at Send."""
        return self.solve_s + self.js_s


def visit(port: int) -> Visit:
    found = Visit()
    opened = open_page(port)
    found.page_s = opened.seconds
    found.probe_s = once(port, "GET", f"/api/{DESK}/csrf").seconds
    form = report_form(opened.page)
    posted = once(port, "POST", f"/r/{DESK}", form.body, {"Content-Type": form.content_type})
    found.form_s, found.form = posted.seconds, "stored" if filed(posted) else posted.label
    js_report(port, opened, found)
    return found


def js_report(port: int, opened: Opened, found: Visit) -> None:
    """What report.mjs does: solve the page's challenge, send; a stale or expired one is solved afresh
    and the same report sent again. A 429 is left as it is: the page would wait `retry_after`."""
    envelope, challenge = sealed_report(opened.page), opened.challenge
    for _ in range(3):
        started = time.perf_counter()
        solution = solve(challenge)
        found.solve_s += time.perf_counter() - started
        answer = send_whole(port, opened.page, envelope, solution)
        found.js_s += answer.seconds
        if answer.code not in ("pow_stale", "pow_expired"):
            break
        challenge = fresh_challenge(port, opened.page)
    found.js = "stored" if filed(answer) else answer.label
    if answer.status == 429:
        found.retry_after.append(int(answer.json().get("retry_after", 0)))


def visits_at(port: int, start: float, offsets: Sequence[float]) -> list[Visit]:
    """A visit at each of `offsets` seconds after `start`, each on a thread of its own: a visit kept
    waiting does not hold back the next one (they are different reporters)."""

    def visit_at(offset: float) -> Visit:
        time.sleep(max(0.0, start + offset - time.monotonic()))
        began = time.monotonic() - start
        return replace(visit(port), at_s=began)

    with ThreadPoolExecutor(len(offsets)) as pool:
        return list(pool.map(visit_at, offsets))


# ------------------------------------------------------------------------------- the clients' side


class Tally:
    """Answers counted by step and label, across threads."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()

    def add(self, step: str, label: str) -> None:
        with self.lock:
            self.counts[(step, label)] += 1


def paced(data: bytes, rate: float) -> Iterator[bytes]:
    """`data` in small chunks, each let out when a link of `rate` bytes a second would have sent it."""
    start = time.monotonic()
    for offset in range(0, len(data), PACE_CHUNK):
        time.sleep(max(0.0, start + offset / rate - time.monotonic()))
        yield data[offset : offset + PACE_CHUNK]


@dataclass(frozen=True)
class SlowSettings:
    port: int
    clients: int
    attachment: int
    rate: float
    piece: int
    stagger_s: float


@dataclass
class SlowClient:
    """One reporter on a Tor circuit: a big sealed attachment, uploaded in paced pieces, then a report."""

    settings: SlowSettings
    page: Page
    envelope: bytes
    tally: Tally
    upload_id: str = field(default_factory=lambda: secrets.token_hex(16))
    received: int = 0
    conn: http.client.HTTPConnection | None = None

    def run(self) -> tuple[str, float, int]:
        """(how it ended, seconds from first byte to the answer, the last retry_after if refused)."""
        start = time.monotonic()
        self.conn = connect(self.settings.port)
        try:
            while self.received < len(self.envelope):
                if not self.put_next():
                    return "upload failed", time.monotonic() - start, 0
            answer = self.file_report()
        finally:
            self.conn.close()
        retry_after = int(answer.json().get("retry_after", 0)) if answer.status == 429 else 0
        return ("stored" if filed(answer) else answer.label), time.monotonic() - start, retry_after

    def call(
        self, step: str, method: str, path: str, body: object = None, headers: dict | None = None
    ) -> Answer:
        """`request`, opening the connection again if it was dropped; a drop is counted, never hidden."""
        for attempt in range(RETRIES + 1):
            try:
                answer = request(self.conn, method, path, body() if callable(body) else body, headers)
                self.tally.add(step, answer.label)
                return answer
            except (OSError, http.client.HTTPException) as e:
                self.tally.add(step, f"dropped: {type(e).__name__}")
                self.conn.close()
                self.conn = connect(self.settings.port)
                if attempt == RETRIES:
                    raise
        raise AssertionError("unreachable")

    def put_next(self) -> bool:
        """One piece from where the server is; True to go on. Past an upload cap the page waits and
        sends the piece again (503 uploads_full with retry_after): so does this."""
        size, offset = len(self.envelope), self.received
        piece = self.envelope[offset : offset + self.settings.piece]
        first = f"&size={size}" if offset == 0 else ""
        path = f"/api/{DESK}/uploads/{self.upload_id}?offset={offset}{first}"
        headers = api_headers(self.page, "application/octet-stream") | {"Content-Length": str(len(piece))}
        step = "PUT first piece" if offset == 0 else "PUT later piece"
        answer = self.call(step, "PUT", path, lambda: paced(piece, self.settings.rate), headers)
        if answer.status == 200:
            self.received = int(answer.json()["received"])
            return True
        if answer.code == "uploads_full":
            time.sleep(int(answer.json().get("retry_after", 5)))
            return True
        return False

    def file_report(self) -> Answer:
        """As report.mjs: a fresh challenge, solved; one gone stale meanwhile (other reports raised the
        level) or expired is solved afresh and the same report sent again."""
        call = report_call(self.page, None) | {"parts": [self.upload_id]}
        for _ in range(STALE_RETRIES):
            path = f"/api/{DESK}/challenge?lang=en"
            challenge = self.call("GET challenge", "GET", path, None, api_headers(self.page))
            body = json.dumps(call | {"pow": solve(challenge.json())}).encode()
            headers = api_headers(self.page, "application/json")
            answer = self.call("POST report", "POST", f"/api/{DESK}/reports", body, headers)
            if answer.code not in ("pow_stale", "pow_expired"):
                break
        return answer


def slow_swarm(pipe: Connection, settings: SlowSettings) -> None:
    """The child process of part 1: seals one attachment, starts every client (spread over
    `stagger_s`, as reporters do not press Send in the same millisecond), and sends back the tally."""
    import crypto

    opened = open_page(settings.port)
    envelope = crypto.seal_bytes(os.urandom(settings.attachment), opened.page.keys)
    tally = Tally()
    pipe.send("ready")
    pipe.recv()

    def client(number: int) -> tuple[str, float, int]:
        time.sleep(settings.stagger_s * number / settings.clients)
        try:
            return SlowClient(settings, opened.page, envelope, tally).run()
        except (OSError, http.client.HTTPException, BenchError) as e:
            return f"lost: {type(e).__name__}", 0.0, 0

    with ThreadPoolExecutor(settings.clients) as pool:
        ends = list(pool.map(client, range(settings.clients)))
    pipe.send({"tally": dict(tally.counts), "ends": ends, "envelope": len(envelope)})


# ------------------------------------------------------------------------------------- the flood


BOT_KINDS = ("solver", "no proof", "solver", "wrong proof", "no-JS form")
RESOLVER = "re-solver (1 core)"


@dataclass(frozen=True)
class FloodSettings:
    port: int
    seconds: float
    rate: float
    kinds: tuple[str, ...] = BOT_KINDS  # the scheduled bots' kinds, in turn
    resolve: bool = True  # and the one-core re-solver beside them

    @property
    def calls(self) -> int:
        return int(self.seconds * self.rate)

    def kind(self, number: int) -> str:
        return self.kinds[number % len(self.kinds)]


def bot_call(port: int, page: Page, envelope: bytes, kind: str, hoard: list[dict]) -> Answer:
    """One bot's report call. Solvers spend a solution hoarded at the demo level; the others send no
    proof, or nonces that solve nothing; form bots load the page for a fresh form token and post it."""
    if kind == "no-JS form":
        form = report_form(open_page(port).page)
        return once(port, "POST", f"/r/{DESK}", form.body, {"Content-Type": form.content_type})
    if kind == "solver":
        return send_whole(port, page, envelope, hoard.pop())
    if kind == "wrong proof":
        challenge = hoard.pop()["challenge"]
        return send_whole(port, page, envelope, {"challenge": challenge, "nonces": [0, 1, 2, 3]})
    return send_whole(port, page, envelope, None)


def hoard_solutions(port: int, page: Page, count: int) -> list[dict]:
    """`count` challenges fetched on the quiet server and solved at its level (the demo's)."""
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda _: solve(fresh_challenge(port, page)), range(count)))


def flood_bots(pipe: Connection, settings: FloodSettings) -> None:
    """The child process of part 2: `rate` calls a second for `seconds`, on a fixed schedule (open loop:
    a slow answer does not slow the bots); sends back (kind, label, seconds late, seconds) per call."""
    page = open_page(settings.port).page
    envelope = sealed_report(page)
    wanted = sum(settings.kind(n) in ("solver", "wrong proof") for n in range(settings.calls))
    hoard = hoard_solutions(settings.port, page, wanted)
    pipe.send("ready")
    pipe.recv()
    start = time.monotonic()

    def call(number: int) -> tuple[str, str, float, float]:
        late = time.monotonic() - (start + number / settings.rate)
        kind = settings.kind(number)
        try:
            answer = bot_call(settings.port, page, envelope, kind, hoard)
        except (OSError, http.client.HTTPException, BenchError) as e:
            return kind, f"dropped: {type(e).__name__}", late, 0.0
        return kind, "stored" if filed(answer) else answer.label, late, answer.seconds

    with ThreadPoolExecutor(BOT_WORKERS) as pool:
        end = start + settings.seconds
        resolving = pool.submit(resolver, settings.port, page, envelope, end) if settings.resolve else None
        futures = []
        for number in range(settings.calls):
            time.sleep(max(0.0, start + number / settings.rate - time.monotonic()))
            futures.append(pool.submit(call, number))
        pipe.send([f.result() for f in futures] + (resolving.result() if resolving else []))


def resolver(port: int, page: Page, envelope: bytes, end: float) -> list[tuple[str, str, float, float]]:
    """A bot with one core that solves whatever level it is asked, one report after another, until
    `end`: besides the schedule above, as its rate is what its CPU allows."""
    calls = []
    while time.monotonic() < end:
        try:
            answer = send_whole(port, page, envelope, solve(fresh_challenge(port, page)))
        except (OSError, http.client.HTTPException, BenchError) as e:
            calls.append((RESOLVER, f"dropped: {type(e).__name__}", 0.0, 0.0))
            continue
        calls.append((RESOLVER, "stored" if filed(answer) else answer.label, 0.0, answer.seconds))
        if answer.status == 429:  # the desk's budget is spent: a bot learns that without solving
            time.sleep(1.0)
    return calls


def watch_levels(port: int, page: Page, stop: threading.Event) -> list[tuple[float, int]]:
    """The work GET /challenge asks for, once a second until `stop`: (seconds since start, work)."""
    levels, start = [], time.monotonic()
    while not stop.wait(LEVEL_EVERY_S):
        with contextlib.suppress(OSError, http.client.HTTPException, BenchError, KeyError):
            levels.append((time.monotonic() - start, int(fresh_challenge(port, page)["work"])))
    return levels


# ------------------------------------------------------------------------------------ the servers


def serve_argv(instance: Path, port: int, connection_limit: int | None) -> list[str]:
    serve = [
        "serve",
        "--dir",
        str(instance),
        "--port",
        str(port),
        "--desk-port",
        "0",
        "--threads",
        str(THREADS),
    ]
    if connection_limit is None:
        return [sys.executable, "-m", "dropbox.cli", *serve]
    return [sys.executable, "-m", "bench.load", "--serve-with-limit", str(connection_limit), *serve]


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
    with child_server(name, serve_argv(instance, port, connection_limit), port, tmp) as server:
        yield server


def stored_in_database(tmp: Path, name: str) -> tuple[int, int]:
    """(reports filed, uploads still open) in the instance's SQLite database, read-only."""
    path = tmp / f"{name}-instance" / "sealdrop.db"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        cases = db.execute("SELECT count(*) FROM submissions").fetchone()[0]
        uploads = db.execute("SELECT count(*) FROM uploads").fetchone()[0]
    return cases, uploads


@dataclass(frozen=True)
class Child:
    """A client process and our end of its pipe; a message awaited from a dead child is a BenchError."""

    process: multiprocessing.process.BaseProcess
    pipe: Connection

    def send(self, message: object) -> None:
        self.pipe.send(message)

    def recv(self, timeout_s: float = CHILD_TIMEOUT_S) -> object:
        deadline = time.monotonic() + timeout_s
        while not self.pipe.poll(1.0):
            if not self.process.is_alive() or time.monotonic() > deadline:
                raise BenchError(f"the client process ended or hung (exit code {self.process.exitcode})")
        return self.pipe.recv()


@contextlib.contextmanager
def child(target: Callable, settings: object) -> Iterator[Child]:
    """`target(pipe, settings)` in a new process (spawned: no threads of ours are copied into it), once it
    says it is ready."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=target, args=(theirs, settings), daemon=True)
    process.start()
    try:
        started = Child(process, ours)
        if started.recv() != "ready":
            raise BenchError(f"{target.__name__} did not get ready")
        yield started
    finally:
        process.join(30)
        if process.is_alive():
            process.terminate()


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
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up below on `kill` too
    tmp = Path(tempfile.mkdtemp(prefix="sealdrop-load-", dir="/tmp"))
    describe(args)
    try:
        seconds = timed(lambda: run_parts(tmp, args))
        print(f"\ntotal {seconds:.0f} s")
    except (BenchError, OSError, http.client.HTTPException) as e:
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def run_parts(tmp: Path, args: argparse.Namespace) -> None:
    if args.part in ("1", "both"):
        run_slow(tmp, args)
    if args.part in ("2", "both"):
        run_flood(tmp, args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
