"""Reports a second on this machine: `sealdrop serve` with 1 and 2 workers, SQLite and PostgreSQL, and two
instances sharing one PostgreSQL database and Redis, each against a bare waitress sink measured in the
same run; and the report page's own server time.

Run from the repository root: `python -m bench.scale` (about nine minutes here; `--quick` for fewer
reports; `--nojs-text` for the no-JS text report on SQLite, one worker and the sink only; `--text` for
the no-JS text report on every server, both goals in two minutes; `--threads 1,2,4,8` for the no-JS text
report on every server at each of those waitress thread counts per worker, in about five; `--reps N` for
N rounds instead of 3, each a little over 20 s of text runs).
Children serve on 127.0.0.1: four `sealdrop serve` on demo instances of their own (SQLite
and PostgreSQL, `--workers 1` and `--workers 2`); two more on two copies of one instance folder, one
worker each, with the database, the blobs (large objects), budgets and proofs of work shared as on two
machines (shared_instances; not with `--nojs-text`); and the baseline, bench.ingest's sink: bare waitress
with the same options, writing each body to a file with fsync. Load comes from CLIENTS client
processes (one keep-alive connection each, as many browsers), not threads of this one, so the client
side's interpreter lock does not cap what a server can show. Nothing is asserted; every answer is
checked (a case number, the bytes the sink holds) and a broken run exits 1.

Four kinds of report, each posted to every server in runs rotated between them, so that all see the
same moods of a shared machine. The goals' ratios are taken within each round (2 workers over 1 worker
of that round, 1 worker over the sink of that round) and their median over the rounds is shown with
the lowest and highest: on a shared host the rate of the same server moved by a third within minutes,
and a ratio of medians taken from different rounds mixes those moods:
- no-JS text: the report form, multipart, as a browser without JavaScript posts it;
- no-JS photo: the same with a 3 MB JPEG (EXIF and GPS in it) that the server re-encodes and seals;
- JS text: a report the browser sealed, in one request (octet-stream: the call and its envelope);
- JS photo: its 3 MB envelope PUT as an upload (a first piece naming its size), then the report call.
Every JS report carries a solved proof of work (solved before the timed run; the level is lowered to
keep the clients' work small, the server's check of each proof costs what it costs).

Then the report page (GET /r/demo) on PostgreSQL (bench/page_time.py): its server time read inside the
server process (a WSGI wrapper around the reporter app, from the call to the last byte handed to
waitress), median and p95, with the page cache on and with it off (`page_cache_s` 0: every request reads
the desk again).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import multiprocessing
import os
import secrets
import shutil
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import bench.sink
from bench import page_time, servers
from bench._util import BenchError, run_main, table
from bench.ingest import (
    DESK,
    THREADS,
    WHAT,
    Http,
    Page,
    Server,
    child_server,
    free_port,
    make_instance,
    read_page,
    report_form,
    roomy_budgets,
)
from bench.loadgen import CLIENTS, Request, Run, client_process, for_sink, run_load, server_for

REPS = 3  # rounds; --reps N
# Text runs of 1,000 reports (2-3 s each): runs of 240 (half a second) moved by a third between reps here.
PER_RUN = {"no-JS text": 1000, "no-JS photo": 16, "JS text": 1000, "JS photo": 16}
QUICK = {"no-JS text": 40, "no-JS photo": 4, "JS text": 40, "JS photo": 4}
PHOTO_BYTES = 3_000_000
SEED_REPORTS_A_DAY = 10_000
GOALS = {"one worker / sink, no-JS text": 0.2, "2 workers / 1 worker": 1.6}
WORKERS = (1, 2)
INSTANCES = 2  # `sealdrop serve --workers 1` on each of two copies of one instance (shared_instances)


# --------------------------------------------------------------------------------- building reports


def photo_jpeg(size: int = PHOTO_BYTES) -> bytes:
    """A phone-sized JPEG (12 MP) of about `size` bytes, with EXIF and GPS for the server to remove."""
    from PIL import Image

    from tests.helpers import jpeg_with_exif

    exif = Image.open(io.BytesIO(jpeg_with_exif())).getexif()
    rng = Image.effect_noise((1000, 750), 40).convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC)
    gradient = Image.linear_gradient("L").convert("RGB").resize((4000, 3000))
    picture = Image.blend(rng, gradient, 0.5)
    best = b""
    for quality in (70, 80, 88, 93, 96):
        out = io.BytesIO()
        picture.save(out, "JPEG", quality=quality, exif=exif)
        best = out.getvalue()
        if len(best) >= size:
            break
    return best


def multipart(fields: dict[str, str], photo: bytes | None) -> tuple[bytes, str]:
    boundary = f"----sealdropbench{secrets.token_hex(8)}"
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    if photo is not None:
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="IMG_0001.jpg"\r\n'
                "Content-Type: image/jpeg\r\n\r\n")  # fmt: skip
        parts.append(head.encode() + photo + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def no_js_report(page: Page, photo: bytes | None) -> list[Request]:
    if photo is None:
        form = report_form(page)
        body, content_type = form.body, form.content_type
    else:
        fields = {"csrf_token": page.form_token, "category": page.category, "lang": "en", "what": WHAT,
                  "where_mode": "none"}  # fmt: skip
        body, content_type = multipart(fields, photo)
    return [Request("POST", f"/r/{DESK}", {"Content-Type": content_type}, body, "receipt")]


def _report_call(page: Page, http: Http, sizes_or_parts: dict) -> dict:
    import crypto
    from tests.helpers import proof_of_work

    receipt = crypto.Receipt.generate()
    challenge = http.api("GET", "/challenge", page.api_token).json()
    return {"category": page.category, **sizes_or_parts, "pow": proof_of_work(challenge),
            "lookup_id": base64.b64encode(receipt.lookup_id).decode(),
            "reply_public": base64.b64encode(receipt.reply_recipient.public_bytes).decode()}  # fmt: skip


def js_text_report(page: Page, http: Http, envelope: bytes) -> list[Request]:
    meta = json.dumps(_report_call(page, http, {"sizes": [len(envelope)]})).encode()
    body = len(meta).to_bytes(4, "big") + meta + envelope
    headers = {"X-Sealdrop-CSRF": page.api_token, "Content-Type": "application/octet-stream"}
    return [Request("POST", f"/api/{DESK}/reports", headers, body, "created")]


def js_photo_report(page: Page, http: Http, envelope: bytes) -> list[Request]:
    upload_id = secrets.token_hex(16)
    raw = {"X-Sealdrop-CSRF": page.api_token, "Content-Type": "application/octet-stream"}
    put = Request("PUT", f"/api/{DESK}/uploads/{upload_id}?offset=0&size={len(envelope)}", raw, envelope,
                  f"received:{len(envelope)}")  # fmt: skip
    call = json.dumps(_report_call(page, http, {"parts": [upload_id]})).encode()
    headers = {"X-Sealdrop-CSRF": page.api_token, "Content-Type": "application/json"}
    return [put, Request("POST", f"/api/{DESK}/reports", headers, call, "created")]


@dataclass
class Target:
    """One `sealdrop serve`, or several instances sharing one database (each report sent to one of
    them), and what it takes to build reports for it (its form tokens, its keys)."""

    name: str
    servers: tuple[Server, ...]
    text_envelope: bytes = b""
    photo_envelope: bytes = b""

    def reports(self, kind: str, count: int, photo: bytes) -> list[list[Request]]:
        """`count` fresh reports of `kind`: a form token or a solved proof of work each, made now (a
        form from the instance the report goes to, as a reporter's page comes from one)."""
        import crypto

        forms = count if kind.startswith("no-JS") else 1
        pages = [read_page(server_for(i, self.servers).port) for i in range(forms)]
        if not self.text_envelope:
            keys = pages[0].keys
            self.text_envelope = crypto.seal_bytes(json.dumps({"what": WHAT}).encode(), keys)
            self.photo_envelope = crypto.seal_bytes(photo, keys)
        if kind == "no-JS text":
            return [no_js_report(p, None) for p in pages]
        if kind == "no-JS photo":
            return [no_js_report(p, photo) for p in pages]
        with Http(self.servers[0].port) as http:  # challenges and uploads: shared by the instances
            if kind == "JS text":
                return [js_text_report(pages[0], http, self.text_envelope) for _ in range(count)]
            return [js_photo_report(pages[0], http, self.photo_envelope) for _ in range(count)]


# ------------------------------------------------------------------------------------------ servers


def bench_config(path: Path, database_url: str | None) -> Path:
    """A demo instance with the report budgets out of the way and a low proof-of-work level (the clients
    solve one per JS report; the server's check is unchanged: as many proofs, as many iterations)."""
    from dropbox import config

    with contextlib.redirect_stdout(io.StringIO()):
        instance = make_instance(path) if database_url is None else _make_pg_instance(path, database_url)
    cfg = roomy_budgets(config.load(instance))
    # decode_wait_s: CLIENTS photos at once queue for the max_decodes turns; past the wait a form would
    # come back "busy" (a refusal this benchmark does not count), so the queue may be as long as it is.
    config.save(cfg.with_overrides(pow_work=4, pow_reports_per_step=10**9, decode_wait_s=120.0))
    return instance


def _make_pg_instance(path: Path, url: str) -> Path:
    from tests.helpers import make_instance as helper

    return helper(path, url)


def shared_instances(stack: contextlib.ExitStack, tmp: Path) -> Target:
    """INSTANCES instances as on as many machines (docs/operations.md, "A national deployment"): one
    instance folder, copied; one PostgreSQL database with the large-object blob store; budgets and
    proof-of-work challenges in Redis; each folder served by its own `sealdrop serve` with one worker,
    the clients spread over them as onionbalance spreads reporters. Here they share this machine's cores,
    so the figure shows what the shared state costs beside `--workers 2`, not what a machine more adds."""
    from dropbox import config
    from tests.dropbox.scale_out_helpers import REDIS_URL, redis_prefix
    from tests.helpers import postgres_database

    url, prefix = stack.enter_context(postgres_database()), stack.enter_context(redis_prefix())
    folders = [tmp / f"PostgreSQL-instance-{n}" for n in range(1, INSTANCES + 1)]
    shared = {"blob_store": "postgresql", "redis_url": REDIS_URL, "redis_prefix": prefix}
    config.save(config.load(bench_config(folders[0], url)).with_overrides(**shared))
    servers = []
    for folder in folders:
        if not folder.exists():
            shutil.copytree(folders[0], folder)  # as an operator copies it to the next machine
        port = free_port()
        servers.append(stack.enter_context(child_server(folder.name, serve_argv(folder, port, 1), port, tmp)))
    return Target(f"PostgreSQL {INSTANCES} instances", tuple(servers))


def serve_argv(instance: Path, port: int, workers: int, threads: int = THREADS) -> list[str]:
    return servers.serve_argv(instance, port, threads) + (["--workers", str(workers)] if workers != 1 else [])


def sink_argv(port: int, root: Path, instance: Path) -> list[str]:
    """bench.ingest's sink, with the waitress options `sealdrop serve` gives `instance`."""
    from dropbox import cli, config

    return bench.sink.sink_argv(port, root, cli.server_options(config.load(instance)))


# -------------------------------------------------------------------------------------------- main


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


@dataclass(frozen=True)
class Measured:
    """Every run of every server for one kind of report; medians by server name."""

    runs: dict[str, list[Run]]

    def per_s(self, name: str) -> float:
        return statistics.median(r.per_s for r in self.runs[name])

    def cpu_ms(self, name: str) -> float:
        return statistics.median(r.cpu_ms for r in self.runs[name])

    def client_cpu_ms(self, name: str) -> float:
        return statistics.median(r.client_cpu_ms for r in self.runs[name])

    @property
    def rounds(self) -> int:
        return len(self.runs["sink"])

    def machine_idle(self, name: str) -> float:
        return statistics.median(r.machine_idle for r in self.runs[name])

    def ratio(self, over: str, under: str, cpu: bool = False) -> Ratio:
        """`over`'s rate / `under`'s within each round (cpu: `under`'s CPU a report / `over`'s, so that
        higher is better in both), as the median over the rounds and their range."""
        if cpu:
            each = [u.cpu_ms / o.cpu_ms for o, u in zip(self.runs[over], self.runs[under], strict=True)]
        else:
            each = [o.per_s / u.per_s for o, u in zip(self.runs[over], self.runs[under], strict=True)]
        return Ratio(statistics.median(each), min(each), max(each))


@dataclass(frozen=True)
class Ratio:
    median: float
    low: float
    high: float

    def __format__(self, spec: str) -> str:
        return f"{self.median:{spec}} ({self.low:{spec}}-{self.high:{spec}})"


def measure_kind(
    pool, kind: str, targets: list[Target], sink: Server, count: int, photo: bytes, reps: int = REPS
) -> Measured:
    """`reps` rounds, each a run on every server and on the sink, in an order rotated every round, so
    that all see the same moods of the machine; each run with fresh form tokens and proofs of work, made
    beforehand."""
    servers = {t.name: t.servers for t in targets} | {"sink": (sink,)}
    runs: dict[str, list[Run]] = {name: [] for name in servers}
    warm = {t.name: t.reports(kind, max(CLIENTS, count // 10), photo) for t in targets}
    warm["sink"] = [for_sink(r) for r in warm[targets[0].name]]
    for name, group in servers.items():
        run_load(pool, group, warm[name])
    names = [*servers]
    for rep in range(reps):
        prepared = {t.name: t.reports(kind, count, photo) for t in targets}
        prepared["sink"] = [for_sink(r) for r in prepared[targets[rep % len(targets)].name]]
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            os.sync()  # no run pays for an earlier run's writeback
            runs[name].append(run_load(pool, servers[name], prepared[name]))
    return Measured(runs)


def print_kind(kind: str, m: Measured, count: int) -> None:
    print(f"\n{kind}: {count} reports a run, {m.rounds} runs each, {CLIENTS} client processes  "
          f"[{load_line()}]")  # fmt: skip
    for name, runs in m.runs.items():
        print(f"  {name:<22} {m.per_s(name):8.1f}/s ({' '.join(f'{r.per_s:.1f}' for r in runs)}), server CPU "
              f"{m.cpu_ms(name):.2f} ms a report ({' '.join(f'{r.cpu_ms:.2f}' for r in runs)}), "
              f"clients' CPU {m.client_cpu_ms(name):.2f} ms, machine idle "
              f"{m.machine_idle(name):.0%}")  # fmt: skip
    sys.stdout.flush()


def summary(results: dict[str, Measured]) -> None:
    rows = []
    for kind, m in results.items():
        for db in ("SQLite", "PostgreSQL"):
            one, two, shared = f"{db} 1 worker", f"{db} 2 workers", f"{db} {INSTANCES} instances"
            cpu = m.cpu_ms(one)
            capacity = 2 * 1000 / cpu * 86400  # both cores' CPU-seconds, spent on nothing else
            instances = ["-", "-"]
            if shared in m.runs:
                instances = [f"{m.per_s(shared):.1f}", f"{m.ratio(shared, one):.2f}"]
            rows.append([f"{kind}, {db}", f"{m.per_s(one):.1f}", f"{m.per_s(two):.1f}", instances[0],
                         f"{m.per_s('sink'):.0f}", f"{m.ratio(one, 'sink'):.3f}", f"{m.ratio(two, one):.2f}",
                         instances[1], f"{cpu:.2f}", f"{m.ratio(one, 'sink', cpu=True):.3f}",
                         f"{capacity / 1e6:.2f} M", f"{SEED_REPORTS_A_DAY / capacity:.2%}"])  # fmt: skip
    rounds = next(iter(results.values())).rounds
    print(f"\nSummary: rates and CPU are medians of {rounds} runs; each ratio is taken within a round and "
          "shown as the median over the rounds (lowest-highest); the sink is one bare waitress process; CPU "
          "is the server's own (user + system, all its processes), per report")  # fmt: skip
    print(table(["report kind, database", "1w/s", "2w/s", f"{INSTANCES}i/s", "sink/s", "1w/sink", "2w/1w",
                 f"{INSTANCES}i/1w", "1w CPU ms", "sink/1w CPU", "a day, 2 cores",
                 f"{SEED_REPORTS_A_DAY:,}/day is"], rows))  # fmt: skip
    print(f"Goals (issue 15): no-JS text, 1 worker / sink >= {GOALS['one worker / sink, no-JS text']} "
          f"(by rate: 1w/sink; by CPU: sink/1w CPU); 2 workers / 1 worker >= "
          f"{GOALS['2 workers / 1 worker']}.\n"
          f"'{INSTANCES}i' is {INSTANCES} instances of one PostgreSQL database, blobs in it, budgets and "
          "proofs of work in Redis, one worker each, sharing these cores (SQLite is one machine's file: "
          "none).\n"
          "'a day, 2 cores' is what both cores' CPU would file if they did nothing else (2 x 86,400 s / the "
          "CPU of one report), and the seed's 10,000 reports a day as a share of it.")  # fmt: skip


def one_worker_summary(m: Measured) -> None:
    name, goal = "SQLite 1 worker", GOALS["one worker / sink, no-JS text"]
    rate, cpu = m.ratio(name, "sink"), m.ratio(name, "sink", cpu=True)
    print(f"\nno-JS text, SQLite, 1 worker / sink, median of the rounds (lowest-highest): {rate:.3f} by "
          f"rate, {cpu:.3f} by CPU (goal >= {goal})")  # fmt: skip


def run(tmp: Path, quick: bool, nojs_text: bool = False, text_only: bool = False, reps: int = REPS) -> None:
    """`nojs_text`: the no-JS text report on SQLite with one worker against the sink only (the goal's
    ratio, in a minute instead of five; no PostgreSQL, no page times). `text_only`: the no-JS text report
    on every server (both goals), no page times."""
    from tests.helpers import postgres_database

    counts = QUICK if quick else PER_RUN
    if nojs_text or text_only:
        counts = {"no-JS text": counts["no-JS text"]}
    print(f"sealdrop scale benchmark: `sealdrop serve --workers 1|2` on SQLite and PostgreSQL against a "
          f"bare waitress sink, threads={THREADS} each; {load_line()}", flush=True)  # fmt: skip
    photo = photo_jpeg()
    print(f"photo: {len(photo) / 1e6:.2f} MB JPEG, 4000x3000, with EXIF and GPS", flush=True)
    with contextlib.ExitStack() as stack:
        targets, instances = [], {}
        for db in ("SQLite",) if nojs_text else ("SQLite", "PostgreSQL"):
            for workers in (1,) if nojs_text else WORKERS:
                url = stack.enter_context(postgres_database()) if db == "PostgreSQL" else None
                name = f"{db} {workers} worker{'s' if workers > 1 else ''}"
                instances[name] = instance = bench_config(tmp / name.replace(" ", "-"), url)
                port = free_port()
                argv = serve_argv(instance, port, workers)
                server = stack.enter_context(child_server(name.replace(" ", "-"), argv, port, tmp))
                targets.append(Target(name, (server,)))
        if not nojs_text:
            targets.append(shared_instances(stack, tmp))
        (tmp / "sink").mkdir()
        sink_port = free_port()
        argv = sink_argv(sink_port, tmp / "sink", instances["SQLite 1 worker"])
        sink = stack.enter_context(child_server("sink", argv, sink_port, tmp))
        pool = stack.enter_context(multiprocessing.get_context("fork").Pool(CLIENTS, client_process))
        results = {}
        try:
            for kind, count in counts.items():
                results[kind] = measure_kind(pool, kind, targets, sink, count, photo, reps)
                print_kind(kind, results[kind], count)
            if nojs_text:
                return one_worker_summary(results["no-JS text"])
            if text_only:
                return summary(results)
            pg_instance = instances["PostgreSQL 1 worker"]
            page = {cache: page_time.page_server_time(tmp, pg_instance, cache) for cache in (None, 0.0)}
        except (BenchError, OSError) as e:
            logs = "\n".join(f"--- {s.name} ---\n{s.tail()}" for t in targets for s in t.servers)
            raise BenchError(f"{type(e).__name__}: {e}\n{logs}") from e
    summary(results)
    page_time.print_page(page)
    print(f"\n{load_line()} at the end")


def threads_study(tmp: Path, threads: Sequence[int], reps: int = REPS) -> None:
    """The no-JS text report on SQLite and PostgreSQL, 1 and 2 workers, for each waitress thread count in
    `threads`, all against the sink in the same runs: what the threads per worker cost or buy."""
    from tests.helpers import postgres_database

    count = PER_RUN["no-JS text"]
    print(f"sealdrop threads study: no-JS text, `serve --workers 1|2 --threads T` for T in {list(threads)}; "
          f"{load_line()}", flush=True)  # fmt: skip
    with contextlib.ExitStack() as stack:
        targets, sink_instance = [], None
        for db in ("SQLite", "PostgreSQL"):
            for workers in WORKERS:
                for t in threads:
                    url = stack.enter_context(postgres_database()) if db == "PostgreSQL" else None
                    name = f"{db} {workers}w {t}t"
                    instance = bench_config(tmp / name.replace(" ", "-"), url)
                    sink_instance = sink_instance or instance
                    port = free_port()
                    server = child_server(
                        name.replace(" ", "-"), serve_argv(instance, port, workers, t), port, tmp
                    )
                    targets.append(Target(name, (stack.enter_context(server),)))
        (tmp / "sink").mkdir()
        sink_port = free_port()
        sink = stack.enter_context(
            child_server("sink", sink_argv(sink_port, tmp / "sink", sink_instance), sink_port, tmp)
        )
        pool = stack.enter_context(multiprocessing.get_context("fork").Pool(CLIENTS, client_process))
        m = measure_kind(pool, "no-JS text", targets, sink, count, b"", reps)
    print_kind("no-JS text", m, count)
    rows = []
    for t in threads:
        row = [str(t)]
        for db in ("SQLite", "PostgreSQL"):
            one, two = f"{db} 1w {t}t", f"{db} 2w {t}t"
            row += [f"{m.per_s(one):.0f}", f"{m.per_s(two):.0f}", f"{m.ratio(two, one):.2f}",
                    f"{m.ratio(one, 'sink').median:.3f}"]  # fmt: skip
        rows.append(row)
    print(f"\nSummary: medians of {reps} runs, reports a second, ratios within a round; sink "
          f"{m.per_s('sink'):.0f}/s")  # fmt: skip
    print(table(["threads", "SQLite 1w", "2w", "2w/1w", "1w/sink", "PostgreSQL 1w", "2w", "2w/1w", "1w/sink"],
                rows))  # fmt: skip


def main(argv: list[str]) -> int:
    reps = int(argv[argv.index("--reps") + 1]) if "--reps" in argv else REPS
    if reps < 1:
        raise SystemExit("--reps: at least 1")
    if argv[:1] == ["--threads"]:
        threads = [int(t) for t in argv[1].split(",")]
        return run_main("scale", lambda tmp: threads_study(tmp, threads, reps))
    flags = ("--quick" in argv, "--nojs-text" in argv, "--text" in argv)
    return run_main("scale", lambda tmp: run(tmp, *flags, reps=reps))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
