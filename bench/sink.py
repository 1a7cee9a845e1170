"""The baseline the benchmarks measure sealdrop against: a bare waitress WSGI app that writes every
request body to a file, fsyncs it and answers 200, served with the waitress options `sealdrop serve`
uses. Its child process is `python -m bench.ingest --sink PORT ROOT OPTIONS` (bench/ingest.py's main,
bench/scale.py's sink_argv).

Imports nothing but the standard library at the top and waitress in the child, so that the baseline's
process holds nothing of sealdrop.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs

from bench.servers import HOST, THREADS


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


def sink_argv(port: int, root: Path, options: dict) -> list[str]:
    """The baseline's child process: the sink on `port`, writing under `root`, with waitress `options`."""
    return [sys.executable, "-m", "bench.ingest", "--sink", str(port), str(root), json.dumps(options)]


def serve_sink(port: int, root: Path, options: dict) -> int:
    """The baseline's child process: waitress with the options `sealdrop serve` uses."""
    from waitress import serve

    print(f"sink serving on http://{HOST}:{port} with {options}", flush=True)
    serve(sink_app(root), host=HOST, port=port, threads=THREADS, **options)
    return 0
