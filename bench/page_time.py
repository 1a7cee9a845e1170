"""The report page's own server time, for bench/scale.py: a reporter app wrapped so that it notes each
request's time inside the process (from the WSGI call to the last byte handed to waitress), served as a
child (`python -m bench.page_time <instance> <port> <page_cache_s>`), and PAGE_REQUESTS pages asked of
it one after another, languages rotating; median, p95 and max against the goal."""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from bench._util import BenchError, table
from bench.client import DESK, Http
from bench.latency import percentile
from bench.servers import HOST, THREADS, child_server, free_port

if TYPE_CHECKING:
    from dropbox.config import Config

PAGE_REQUESTS, PAGE_WARMUP, PAGE_GOAL_MS = 300, 30, 5.0


def timed_app(instance: Path, cache_s: float) -> tuple[Callable, Config]:
    """The reporter app wrapped so that it notes each request's server time; GET /__timings hands the
    notes out (and forgets them)."""
    from dropbox import config, create_app

    cfg = config.load(instance)
    app = create_app(cfg.with_overrides(extra={**cfg.extra, "page_cache_s": cache_s}), "reporter")
    notes: list[float] = []

    def wrapped(environ: dict, start_response: Callable) -> Iterator[bytes]:
        if environ["PATH_INFO"] == "/__timings":
            body = json.dumps(notes[:]).encode()
            notes.clear()
            start_response(
                "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return iter([body])
        start = time.perf_counter()
        result = app(environ, start_response)
        try:
            chunks = list(result)  # the whole page, as waitress would take it
        finally:
            if hasattr(result, "close"):
                result.close()
        notes.append(time.perf_counter() - start)
        return iter(chunks)

    return wrapped, cfg


def serve_timed(instance: Path, port: int, cache_s: float) -> int:
    from waitress import serve

    from dropbox import cli

    app, cfg = timed_app(instance, cache_s)
    serve(app, host=HOST, port=port, threads=THREADS, **cli.server_options(cfg))
    return 0


def page_times(port: int) -> list[float]:
    """Server seconds of PAGE_REQUESTS report pages, one after another on one connection."""
    with Http(port) as http:
        for _ in range(PAGE_WARMUP):
            http.call("GET", f"/r/{DESK}?lang=en")
        http.call("GET", "/__timings")
        for i in range(PAGE_REQUESTS):
            answer = http.call("GET", f"/r/{DESK}?lang={('en', 'ru', 'bg', 'kk')[i % 4]}")
            if answer.status != 200:
                raise BenchError(f"GET /r/{DESK}: HTTP {answer.status}")
        return json.loads(http.call("GET", "/__timings").body)


def page_server_time(tmp: Path, instance: Path, cache: float | None) -> list[float]:
    """The page's server times from a timed reporter app on `instance` (cache None: the default)."""
    port = free_port()
    label = "page-cached" if cache is None else "page-uncached"
    cache_s = 60.0 if cache is None else cache  # 60: the default (pagecache.TTL_S)
    argv = [sys.executable, "-m", "bench.page_time", str(instance), str(port), str(cache_s)]
    with child_server(label, argv, port, tmp):
        return page_times(port)


def print_page(page: dict) -> None:
    print(f"\nReport page GET /r/{DESK} on PostgreSQL, server time inside the process, {PAGE_REQUESTS} "
          f"requests one after another (languages rotating); goal < {PAGE_GOAL_MS} ms")  # fmt: skip
    rows = []
    for cache, times in page.items():
        ms = [t * 1000 for t in times]
        label = "cache on" if cache is None else "cache off (each request reads the desk)"
        verdict = "ok" if statistics.median(ms) < PAGE_GOAL_MS else "OVER"
        rows.append([label, f"{statistics.median(ms):.2f}", f"{percentile(ms, 0.95):.2f}", f"{max(ms):.2f}",
                     verdict])  # fmt: skip
    print(table(["page cache", "median ms", "p95 ms", "max ms", "median goal"], rows), flush=True)


if __name__ == "__main__":
    sys.exit(serve_timed(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
