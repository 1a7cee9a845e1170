"""`sealdrop serve`: the reporter pages and the desk under waitress, in one process or in N forked
workers sharing the ports (dropbox/workers.py), with the onions published and the jobs that run once
(retention, notices, budget snapshots). The rest of the command line is dropbox/cli.py."""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import functools
import resource
import sys
from pathlib import Path

from . import budget, demo, onions, shared
from . import config as config_mod
from .console import _
from .desk import notify
from .desk.schedule import DEFAULT_MINUTES as RETENTION_MINUTES
from .desk.schedule import RetentionSchedule


class ServeError(ValueError):
    """serve cannot go on; the message is for the operator (cli.main prints it)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    _serve_parser(sub)


def warn_if_redis_away(cfg: config_mod.Config) -> None:
    """One line on stderr when `redis_url` is set but Redis does not answer. serve starts all the same
    (Redis may come up after it), but until it answers, report calls and sign-ins answer "busy"."""
    if cfg.redis_url and not shared.redis_answers(cfg):
        words = _(
            'warning: Redis at %(where)s (redis_url) does not answer; reports and sign-ins answer "busy" '
            "until it does"
        )
        print(words % {"where": shared.redis_address(cfg)}, file=sys.stderr, flush=True)


def server_options(cfg: config_mod.Config) -> dict:
    """waitress settings that keep plaintext off the disk and identifying details out of sight."""
    body_limit = cfg.max_form_bytes + (1 << 20)
    return {
        "ident": "sealdrop",
        # Keep whole request bodies in memory up to the form limit: waitress would otherwise spool a
        # large no-JS upload (plaintext) to a temporary file before the app sees it.
        # The buffer's own limit sits above the body limit, so a chunked body is refused (413)
        # before it could spill over into a temporary file.
        "inbuf_overflow": body_limit + (1 << 20),
        "max_request_body_size": body_limit,
        "outbuf_overflow": 16 << 20,  # a no-JS case page holds opened replies: never spool it either
        "expose_tracebacks": False,
        "clear_untrusted_proxy_headers": True,
        "channel_timeout": 300,
        "connection_limit": cfg.max_connections,
    }


def _room_for_connections(cfg: config_mod.Config) -> None:
    """Raise the open-file limit to hold `max_connections` sockets beside the database, blobs and tor
    (the soft limit is often 1024); a hard limit below that is left as it is, and serve says so."""
    wanted = cfg.max_connections + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return
    limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    if limit < wanted:
        words = _("open-file limit %(limit)d: fewer than max_connections %(count)d fit")
        print(words % {"limit": limit, "count": cfg.max_connections}, flush=True)


def make_server(app, cfg: config_mod.Config, **listen):
    """A waitress server for `app` with our options, whose own error answers carry our headers."""
    from waitress import create_server

    from .waitress_errors import use_our_error_pages

    return use_our_error_pages(create_server(app, **listen, **server_options(cfg)))


M_MMAP_THRESHOLD = -3  # glibc mallopt parameter


def _unmap_large_buffers() -> None:
    """Give every allocation over 128 KiB (upload pieces, no-JS bodies) its own mapping, returned to the
    kernel when freed. Without a fixed threshold glibc raises it after the first such free and keeps
    later 4 MiB pieces in per-thread heaps: the process stays at its high-water mark."""
    name = ctypes.util.find_library("c")
    mallopt = getattr(ctypes.CDLL(name), "mallopt", None) if name else None
    if mallopt is not None:  # glibc; other C libraries keep their own policy
        mallopt(M_MMAP_THRESHOLD, 128 * 1024)


def cmd_serve(args: argparse.Namespace) -> None:
    import threading

    from waitress import create_server

    from . import create_app
    from .waitress_errors import use_our_error_pages

    cfg = config_mod.load(Path(args.dir))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash dump could hold a no-JS report's plaintext
    _room_for_connections(cfg)
    _unmap_large_buffers()
    warn_if_redis_away(cfg)
    if args.workers != 1:
        _serve_workers(args, cfg)
        return
    # Both listeners exist before the onions are published, so the onions point at real ports. Both
    # apps are made after publishing (Onion-Location and the desk's posters need the onion address,
    # which the first `serve --onion` only then learns), so each server starts on a slot that is
    # filled before its first request is accepted.
    slot: list = []
    desk_slot: list = []
    reporter = create_server(
        lambda environ, start: slot[0](environ, start),
        host=args.host,
        port=args.port,
        threads=args.threads,
        **server_options(cfg),
    )
    # The desk listens on loopback only, on a port of its own: the public address (clearnet proxy or
    # reporter onion) never reaches /desk/, only the client-auth desk onion and local clerks do.
    desk_port = args.port + 1 if args.desk_port is None and args.port else (args.desk_port or 0)
    desk = create_server(
        lambda environ, start: desk_slot[0](environ, start),
        host="127.0.0.1",
        port=desk_port,
        threads=2,
        **server_options(cfg),
    )
    for server in (reporter, desk):  # waitress's own 400/413/500 answers get our headers and words
        use_our_error_pages(server)
    stopping = threading.Event()

    def run_desk() -> None:
        try:
            desk.run()
        except (OSError, ValueError):
            if not stopping.is_set():  # closing its socket under it is how the desk server stops
                raise

    retention = stop_snapshots = notices = None
    try:
        with onions.published(cfg, args, reporter.effective_port, desk.effective_port) as cfg:
            slot.append(create_app(cfg, "reporter"))
            desk_slot.append(create_app(cfg, "desk"))
            # One set of budgets per process: the desk's admin page shows what the reporter app counts.
            budgets = desk_slot[0].extensions["sealdrop.budgets"] = slot[0].extensions["sealdrop.budgets"]
            stop_snapshots = budgets.write_snapshots(cfg.instance_dir / budget.SNAPSHOT_FILE)
            if args.retention_every > 0:  # runs once now, then every interval, on a thread of its own
                retention = RetentionSchedule(cfg, args.retention_every).start()
            notices = notify.start_notifications(cfg)  # None when no notice is configured
            threading.Thread(target=run_desk, name="desk-server", daemon=True).start()
            _print_started(args, reporter.effective_port, desk.effective_port)
            reporter.run()
    finally:
        stopping.set()
        if stop_snapshots is not None:
            stop_snapshots.set()
        reporter.close()
        desk.close()
        if retention is not None:
            retention.stop()
        if notices is not None:
            notices.stop()


def _desk_port(args: argparse.Namespace) -> int:
    return args.port + 1 if args.desk_port is None and args.port else (args.desk_port or 0)


def _serve_workers(args: argparse.Namespace, cfg: config_mod.Config) -> None:
    """`serve --workers N`: the sockets bound here, N forked workers serving them and one forked
    process for the jobs that must run once (dropbox/workers.py); this process only supervises."""
    from . import workers

    reporter = workers.bind(args.host, args.port)
    desk = workers.bind("127.0.0.1", _desk_port(args))  # loopback only, as in a single process
    counters = budget.shared_counters(cfg.budget_window_s)  # before the fork: one set for all workers
    shares = workers.ConnectionShares(args.workers)  # each new connection to the least busy worker
    try:
        with onions.published(cfg, args, workers.port_of(reporter), workers.port_of(desk)) as cfg:
            tasks = {
                f"worker {n}": functools.partial(
                    _worker, cfg, args, reporter, desk, counters, (shares, n - 1)
                )
                for n in range(1, args.workers + 1)
            }
            tasks["jobs"] = functools.partial(_jobs, cfg, args, counters, reporter + desk)
            names = list(tasks)
            supervisor = workers.Supervisor(tasks, ended=lambda name: _absent(shares, names, name))
            try:
                supervisor.start()
                _print_started(args, workers.port_of(reporter), workers.port_of(desk))
                print(_("workers: %(count)d processes") % {"count": args.workers}, flush=True)
                supervisor.supervise()
            finally:
                supervisor.stop()
                (cfg.instance_dir / budget.SNAPSHOT_FILE).unlink(missing_ok=True)  # if jobs had no time
    except workers.WorkersFailing as e:
        raise ServeError(_("%(problem)s: serve stopped") % {"problem": e}) from None
    finally:
        for sock in reporter + desk:
            sock.close()


def _absent(shares, names: list[str], name: str) -> None:
    if name.startswith("worker "):
        shares.absent(names.index(name))


def _worker(
    cfg: config_mod.Config, args: argparse.Namespace, reporter: list, desk: list, counters: dict, turn: tuple
) -> None:
    """One worker, after the fork: its own apps (and so its own database engines), the shared budgets,
    and both sockets served by waitress until the process is stopped."""
    import threading

    from . import create_app, workers

    reporter_app, desk_app = create_app(cfg, "reporter"), create_app(cfg, "desk")
    budgets = budget.Budgets(cfg, counters=counters)
    reporter_app.extensions["sealdrop.budgets"] = desk_app.extensions["sealdrop.budgets"] = budgets
    desk_server = make_server(desk_app, cfg, sockets=desk, threads=2)
    threading.Thread(target=desk_server.run, name="desk-server", daemon=True).start()
    server = make_server(reporter_app, cfg, sockets=reporter, threads=args.threads)
    workers.spread_connections(server, *turn)  # turn: the shared counts and this worker's place in them
    server.run()


def _jobs(cfg: config_mod.Config, args: argparse.Namespace, counters: dict, listening: list) -> None:
    """The jobs process: the budget snapshot (the workers' shared counts), the retention schedule and
    the notices, each once for all workers, until SIGTERM. It serves no one: its copies of the
    listening sockets are closed."""
    import signal
    import threading

    from . import silence_libraries

    for sock in listening:
        sock.close()
    silence_libraries()  # as in a worker: log records and warnings are counted, never printed
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    stops = [
        budget.Budgets(cfg, counters=counters).write_snapshots(cfg.instance_dir / budget.SNAPSHOT_FILE).set
    ]
    try:
        if args.retention_every > 0:
            stops.append(RetentionSchedule(cfg, args.retention_every).start().stop)
        notices = notify.start_notifications(cfg)
        if notices is not None:
            stops.append(notices.stop)
    except notify.NotifyError as e:  # one line for the operator, as a single serve gives it
        print(_("error: %(problem)s") % {"problem": e}, file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    while not stop.wait(1.0):
        pass
    for halt in stops:
        halt()


def _print_started(args: argparse.Namespace, port: int, desk_port: int) -> None:
    """The addresses serve listens on, in the operator's language; the URLs themselves stay as they are
    (tests and scripts read them from these lines)."""
    url = f"http://{args.host}:{port}"
    print(_("sealdrop is serving on %(url)s") % {"url": f"{url}/r/<desk>"}, flush=True)
    print(_("desk: %(url)s (loopback only)") % {"url": f"http://127.0.0.1:{desk_port}/desk/"}, flush=True)
    if (Path(args.dir) / demo.OFFICER_IDENTITY).exists():
        print(_("demo desk: %(url)s") % {"url": f"{url}/r/demo"}, flush=True)


def _process_count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(_("a number of processes, 1 or more"))
    return int(text)


def _serve_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help=_("serve the reporter pages and the desk with waitress"))
    p.add_argument("--host", default="127.0.0.1", help=_("the reporter pages' address (default 127.0.0.1)"))
    p.add_argument(
        "--port",
        type=int,
        default=config_mod.DEFAULT_PORT,
        help=_("their port (default %(default)s)"),
    )
    p.add_argument("--threads", type=int, default=8, help=_("waitress threads for reporters (default 8)"))
    p.add_argument(
        "--desk-port", type=int, default=None, help=_("the desk's loopback port (default: PORT+1; 0: any)")
    )
    p.add_argument(
        "--retention-every",
        type=float,
        default=RETENTION_MINUTES,
        metavar="MINUTES",
        help=_("apply retention at start and then every MINUTES (default %(default)s; 0: never)"),
    )
    p.add_argument(
        "--workers",
        type=_process_count,
        default=1,
        metavar="N",
        help=_("worker processes that serve the same ports, for several cores (default 1: one process)"),
    )
    onions.add_serve_options(p)
    p.set_defaults(run=cmd_serve)
