"""The load generator of bench/scale.py: client processes, each on one keep-alive connection as one
browser holds it, sending prepared requests and reading answers with a minimal parser (RawHttp), so that
the clients' own CPU on the shared cores stays small; and the server's CPU read from /proc around a run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench._util import BenchError
from bench.ingest import HOST, HTTP_TIMEOUT, Server

CLIENTS = 8  # client processes, one connection each (waitress serves 8 threads per process)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict
    body: bytes
    expect: str  # "receipt" | "created" | "received:N" (the sink's or an upload's byte count)


def _check(status: int, body: bytes, expect: str) -> str | None:
    """What is wrong with an answer, or None."""
    if expect == "receipt":
        return None if status == 200 and b'id="case-number">' in body else f"HTTP {status}: {body[:200]!r}"
    if expect == "created":
        return None if status == 201 and b'"case_number"' in body else f"HTTP {status}: {body[:200]!r}"
    wanted = int(expect.split(":")[1])
    try:
        received = json.loads(body).get("received")
    except ValueError:
        received = None
    return None if status == 200 and received == wanted else f"HTTP {status}, received {received} of {wanted}"


def _client(job: tuple[int, list[Request]]) -> tuple[float, float, float, str | None]:
    """One client process: its requests in order on one keep-alive connection; (start, end, its own CPU
    seconds, first failure). The requests are made into bytes before the clock starts and the answers
    read with a minimal parser (RawHttp): the client's CPU on the shared cores is kept as small as a
    load generator's should be, so that it takes little from the servers it measures."""
    port, requests = job
    failure = None
    wire = [_request_bytes(r, port) for r in requests]
    with RawHttp(port) as http:
        cpu, start = time.process_time(), time.perf_counter()  # perf_counter: comparable between processes
        for r, raw in zip(requests, wire, strict=True):
            status, body = http.exchange(raw)
            failure = failure or _check(status, body, r.expect)
        end = time.perf_counter()
        cpu = time.process_time() - cpu
    return start, end, cpu, failure


def _request_bytes(r: Request, port: int) -> bytes:
    head = [f"{r.method} {r.path} HTTP/1.1", f"Host: {HOST}:{port}", f"Content-Length: {len(r.body)}"]
    head += [f"{name}: {value}" for name, value in r.headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + r.body


class RawHttp:
    """One keep-alive HTTP/1.1 connection that sends prepared requests and reads answers with a known
    Content-Length (waitress always sends one here), nothing else: a lighter client than http.client."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=HTTP_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def __enter__(self) -> RawHttp:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.sock.close()

    def exchange(self, raw: bytes) -> tuple[int, bytes]:
        self.sock.sendall(raw)
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._fill()
        head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
        status = int(head[9:12])
        length = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.IGNORECASE)
        if length is None:
            raise BenchError(f"an answer without Content-Length: {head[:200]!r}")
        size = int(length.group(1))
        while len(self.buffer) < size:
            self._fill()
        body, self.buffer = self.buffer[:size], self.buffer[size:]
        return status, body

    def _fill(self) -> None:
        chunk = self.sock.recv(256 * 1024)
        if not chunk:
            raise BenchError("the server closed the connection")
        self.buffer += chunk


def client_process() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not main's handler: Pool.terminate must end us


@dataclass(frozen=True)
class Run:
    per_s: float  # reports a second, wall clock
    cpu_ms: float  # CPU the server's processes spent per report (user + system), whoever else ran
    client_cpu_ms: float = 0.0  # CPU the client processes spent per report, on the same cores
    machine_idle: float = 0.0  # the share of all CPUs' time left idle during the run (/proc/stat)


def run_load(pool, servers: Sequence[Server], reports: Sequence[list[Request]]) -> Run:
    """`reports` (each a list of requests sent in order) shared among CLIENTS processes, all at once;
    with several `servers` (instances behind one address) client c talks to servers[c mod n]. The rate
    from the first client's start to the last one's end, and all the servers' CPU per report."""
    shares: list[list[Request]] = [[] for _ in range(CLIENTS)]
    for i, report in enumerate(reports):
        shares[i % CLIENTS].extend(report)
    jobs = [(servers[c % len(servers)].port, share) for c, share in enumerate(shares) if share]
    cpu_before, machine_before = servers_cpu_s(servers), machine_ticks()
    results = pool.map(_client, jobs, chunksize=1)
    cpu = servers_cpu_s(servers) - cpu_before
    idle, total = (after - before for after, before in zip(machine_ticks(), machine_before, strict=True))
    if failed := next((f for *_, f in results if f), None):
        raise BenchError(f"{' + '.join(s.name for s in servers)}: {failed}")
    seconds = max(e for _, e, _, _ in results) - min(s for s, _, _, _ in results)
    client_cpu = sum(c for _, _, c, _ in results)
    n = len(reports)
    return Run(n / seconds, cpu * 1000 / n, client_cpu * 1000 / n, idle / total if total else 0.0)


def server_for(report: int, servers: Sequence[Server]) -> Server:
    """The server run_load sends report number `report` to."""
    return servers[report % CLIENTS % len(servers)]


def servers_cpu_s(servers: Sequence[Server]) -> float:
    return sum(tree_cpu_s(s.proc.pid) for s in servers)


def machine_ticks() -> tuple[int, int]:
    """(idle, all) clock ticks of every CPU so far, from /proc/stat's first line: whether a server
    left cores unused while it was loaded (waiting, not computing)."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    return ticks[3] + ticks[4], sum(ticks)  # idle + iowait


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) `pid` and its live descendants have used, from /proc."""
    total, stack, tick = 0.0, [pid], os.sysconf("SC_CLK_TCK")
    while stack:
        p = stack.pop()
        with contextlib.suppress(OSError):
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack += [int(c) for c in f.read().split()]
    return total


def for_sink(report: list[Request]) -> list[Request]:
    """The same requests to the sink, which answers with the bytes it stored for each."""
    sink = []
    for r in report:
        offset = "offset=" in r.path
        length = len(r.body) + (int(r.path.split("offset=")[1].split("&")[0]) if offset else 0)
        sink.append(Request(r.method, r.path, r.headers, r.body, f"received:{length}"))
    return sink
