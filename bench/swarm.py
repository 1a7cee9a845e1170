"""bench/load.py's load, made in client processes of their own (spawned, so that their threads never
hold up the normal reporter's clock): part 1's slow clients at Tor speed, each a big sealed attachment
uploaded in paced pieces then a report; part 2's flood of bots on a fixed schedule, and the one-core
re-solver. Each child answers through a pipe (Child): "ready", then, after "go", what it counted.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import multiprocessing
import os
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from bench._util import BenchError, all_at_once
from bench.client import DESK, Answer, Page, api_headers, connect, once, report_form, request
from bench.reporter import filed, fresh_challenge, open_page, report_call, sealed_report, send_whole, solve

BOT_WORKERS = 64
LEVEL_EVERY_S = 1.0
CHILD_TIMEOUT_S = 1800.0
STALE_RETRIES = 10  # the page solves afresh for as long as its challenges go stale; enough here
RETRIES = 3  # connections a slow client opens again after one is dropped, as the page's retries do
PACE_CHUNK = 8 * 1024


# ------------------------------------------------------------------------------- a client process


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

    ends = all_at_once(range(settings.clients), client)
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
