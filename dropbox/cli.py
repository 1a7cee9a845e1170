"""`sealdrop`: the operator's command line for the online side. Every command takes --dir DIR.

    sealdrop init [--demo] [--database URL] [--blob-store files|postgresql]
    sealdrop blobs migrate --to postgresql|files   (blob_commands.py)
    sealdrop serve [--host H] [--port P] [--onion] [--tor-control HOST:PORT] [--tor PATH]
                   [--retention-every MINUTES] [--workers N]
    sealdrop onion status [--tor-control HOST:PORT] | onion new-address | onion hash-password
    sealdrop desk-access add NAME | list | revoke NAME
    sealdrop desk add SLUG --name LANG=NAME... [--language L] | desk list
    sealdrop category add|list|edit|remove ...  (a desk's categories: desk/setup_commands.py)
    sealdrop officer add --desk SLUG PUBLIC_KEY_FILE [--name NAME] [--confirmed]
    sealdrop officer list [--desk SLUG] | confirm NUMBER | retire NUMBER [--force]
    sealdrop poster --desk SLUG --lang L --url URL -o FILE.{pdf,png,svg} [--size A4|A5|A6] [--tag PLACE]
    sealdrop user add NAME --role admin|clerk [--desk SLUG] | user list | disable|enable|remove NAME
    sealdrop export --desk SLUG -o BUNDLE [--again N] | import-replies BUNDLE | retention [--on DAY]
    sealdrop budgets [--json]
    sealdrop notify [--test] [--desk SLUG]   (notices that reports wait: desk/notify.py)
    sealdrop viewer-bundle -o DIR   (sealview and its wheels, signed, for an offline machine)

    sealdrop --lang bg|ru|kk|en COMMAND ...   (else LANGUAGE, LC_ALL, LC_MESSAGES, LANG decide: console.py)

Failures print one line and exit non-zero.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import errno
import functools
import json
import os
import resource
import secrets
import shutil
import sys
from pathlib import Path

import sqlalchemy.exc

from crypto import KeyFormatError, SigningKey
from crypto.cli import os_error_words, stdout_closed
from crypto.keys import write_secret_file
from onion import OnionError

from . import blob_commands, budget, console, db, demo, maps, onions, posters, viewer_bundle
from . import config as config_mod
from .console import _
from .desk import commands as desk_commands
from .desk import notify, officer_commands, setup_commands
from .desk.schedule import DEFAULT_MINUTES as RETENTION_MINUTES
from .desk.schedule import RetentionSchedule

PROG = "sealdrop"


class CliError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise CliError(message + " " + _("(see sealdrop --help)"))


def _session(cfg: config_mod.Config):
    return db.standalone_session(cfg.database_url)


def cmd_init(args: argparse.Namespace) -> None:
    instance = Path(args.dir).resolve()
    if (instance / config_mod.CONFIG_FILE).exists():
        raise CliError(f"{instance} is already a sealdrop instance")
    url = args.database or config_mod.sqlite_url(instance)
    if not url.startswith(("sqlite:", "postgresql")):
        raise CliError("--database takes a PostgreSQL URL (postgresql+psycopg://...) or sqlite:///PATH")
    if args.blob_store == "postgresql" and not url.startswith("postgresql"):
        raise CliError(
            _(
                "--blob-store postgresql keeps the blobs in the database: "
                "it needs --database with a PostgreSQL URL"
            )
        )
    existed = instance.exists()
    instance.mkdir(parents=True, exist_ok=True, mode=0o700)
    before = set(instance.iterdir())
    try:
        fingerprint = _create_instance(instance, url, args.demo, args.blob_store)
    except BaseException as e:
        # All or nothing: a half-made instance (a key but no database) would make the retry fail.
        _remove_new_entries(instance, before, remove_folder=not existed)
        if isinstance(e, sqlalchemy.exc.SQLAlchemyError):
            raise CliError(f"cannot set up the database: {_first_line(e)}") from None
        raise
    print(f"instance: {instance}")
    print(f"server signing key fingerprint: {fingerprint}")
    if args.demo:
        print(
            "demo desk: /r/demo (demo officer identity: demo-officer.identity, empty passphrase, DEMO ONLY)"
        )


def _create_instance(instance: Path, url: str, with_demo: bool, blob_store: str = "files") -> str:
    """The database first (the step most likely to fail), then the secrets and config; returns the
    signing key's fingerprint."""
    cfg = config_mod.Config(instance_dir=instance, database_url=url, blob_store=blob_store)
    db.migrate(url)
    write_secret_file(instance / config_mod.SECRET_FILE, secrets.token_hex(32))
    key = SigningKey.generate()
    key.save(instance / config_mod.SIGNING_KEY_FILE)
    fingerprint = key.verify_key.fingerprint
    pub = f"# sealdrop server signing key\n# fingerprint: {fingerprint}\n{key.verify_key.encode()}\n"
    (instance / config_mod.SIGNING_PUB_FILE).write_text(pub)
    cfg.blob_dir.mkdir(mode=0o700, exist_ok=True)
    if with_demo:
        with _session(cfg) as session:
            demo.create(session, instance)
        cfg = cfg.with_overrides(**demo.SETTINGS)
    config_mod.save(cfg)  # last: its presence is what marks a finished instance
    return fingerprint


def _remove_new_entries(instance: Path, before: set[Path], *, remove_folder: bool) -> None:
    for entry in set(instance.iterdir()) - before:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    if remove_folder:
        with contextlib.suppress(OSError):
            instance.rmdir()


def _first_line(error: sqlalchemy.exc.SQLAlchemyError) -> str:
    """The driver's own reason (e.g. "connection refused"), without SQLAlchemy's help text."""
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()
    return (reason[0] if reason else type(error).__name__)[:300]


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
        print(f"open-file limit {limit}: fewer than max_connections {cfg.max_connections} fit", flush=True)


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
            port = reporter.effective_port
            print(f"sealdrop is serving on http://{args.host}:{port}/r/<desk>", flush=True)
            print(f"desk: http://127.0.0.1:{desk.effective_port}/desk/ (loopback only)", flush=True)
            if (Path(args.dir) / "demo-officer.identity").exists():
                print(f"demo desk: http://{args.host}:{port}/r/demo", flush=True)
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
                print(f"workers: {args.workers} processes", flush=True)
                supervisor.supervise()
            finally:
                supervisor.stop()
                (cfg.instance_dir / budget.SNAPSHOT_FILE).unlink(missing_ok=True)  # if jobs had no time
    except workers.WorkersFailing as e:
        raise CliError(f"{e}: serve stopped") from None
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
    print(f"sealdrop is serving on http://{args.host}:{port}/r/<desk>", flush=True)
    print(f"desk: http://127.0.0.1:{desk_port}/desk/ (loopback only)", flush=True)
    if (Path(args.dir) / "demo-officer.identity").exists():
        print(f"demo desk: http://{args.host}:{port}/r/demo", flush=True)


def cmd_budgets(args: argparse.Namespace) -> None:
    """The budgets in the config and, while `sealdrop serve` runs, the counts in its current window
    (from DIR/budgets.json, which serve rewrites every 30 s)."""
    cfg = config_mod.load(Path(args.dir))
    live = budget.read_snapshot(cfg)
    if args.json:
        print(json.dumps({"config": budget.Budgets(cfg).snapshot([])["limits"], "serving": live}, indent=1))
        return
    for line in budget.describe(cfg, live):
        print(line)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="sealdrop: the online side of an anonymous reporting dropbox.")
    parser.add_argument(
        "--dir", default=os.environ.get("SEALDROP_DIR", "instance"), help="the instance folder"
    )
    parser.add_argument(
        "--lang",
        dest="messages_lang",  # not "lang": `poster --lang` (the poster's language) would overwrite it
        choices=config_mod.LANGUAGES,
        help="the language of the messages (default: from LANGUAGE, LC_ALL, LC_MESSAGES or LANG; else en)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("init", help="create an instance: config, database, blob store, signing key")
    p.add_argument("--demo", action="store_true", help="add demo desks, categories and DEMO-ONLY officers")
    p.add_argument("--database", metavar="URL", help="a PostgreSQL URL; SQLite in DIR by default")
    p.add_argument(
        "--blob-store",
        choices=blob_commands.STORES[::-1],
        default="files",
        help="files in DIR/blobs (default), or large objects in the PostgreSQL database (several machines)",
    )
    p.set_defaults(run=cmd_init)
    _serve_parser(sub)
    onions.add_parsers(sub, _Parser)
    setup_commands.add_parsers(sub, _Parser)
    officer_commands.add_parsers(sub, _Parser)
    p = sub.add_parser("budgets", help="report and sign-in budgets, and the counts of a running serve")
    p.add_argument("--json", action="store_true", help="as JSON: the config's limits and serve's counts")
    p.set_defaults(run=cmd_budgets)
    posters.add_parser(sub)
    desk_commands.add_parsers(sub, _Parser)
    notify.add_parsers(sub, _Parser)
    viewer_bundle.add_parser(sub, _Parser)
    maps.add_parsers(sub, _Parser)
    blob_commands.add_parsers(sub, _Parser)
    return parser


def _process_count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("a number of processes, 1 or more")
    return int(text)


def _serve_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve the reporter pages and the desk with waitress")
    p.add_argument("--host", default="127.0.0.1", help="the reporter pages' address (default 127.0.0.1)")
    p.add_argument(
        "--port",
        type=int,
        default=config_mod.DEFAULT_PORT,
        help=f"their port (default {config_mod.DEFAULT_PORT})",
    )
    p.add_argument("--threads", type=int, default=8, help="waitress threads for reporters (default 8)")
    p.add_argument(
        "--desk-port", type=int, default=None, help="the desk's loopback port (default: PORT+1; 0: any)"
    )
    p.add_argument(
        "--retention-every",
        type=float,
        default=RETENTION_MINUTES,
        metavar="MINUTES",
        help=f"apply retention at start and then every MINUTES (default {RETENTION_MINUTES}; 0: never)",
    )
    p.add_argument(
        "--workers",
        type=_process_count,
        default=1,
        metavar="N",
        help="worker processes that serve the same ports, for several cores (default 1: one process)",
    )
    onions.add_serve_options(p)
    p.set_defaults(run=cmd_serve)


def _lang_before_command(argv: list[str]) -> str | None:
    """`--lang L` among the options before the command, so that even a mistake in the rest of the
    line is told in L. After the command it is not ours: `poster --lang` is the poster's language."""
    words = iter(argv)
    for word in words:
        if word == "--lang":
            return next(words, None)
        if word.startswith("--lang="):
            return word.partition("=")[2]
        if word == "--dir":
            next(words, None)
        elif not word.startswith("-"):
            return None
    return None


def main(argv: list[str] | None = None) -> int:
    os.umask(0o077)  # everything an instance writes (database, blobs, keys) is private to its user
    argv = sys.argv[1:] if argv is None else argv
    console.init(_lang_before_command(argv))
    try:
        args = _add_dir_everywhere(build_parser()).parse_args(argv)
        console.init(args.messages_lang)
        args.run(args)
        sys.stdout.flush()  # here, not at exit, so that a closed pipe is caught below
    except BrokenPipeError:  # `sealdrop desk list | head -1`: the reader has all it wanted
        return stdout_closed()
    except OnionError as e:
        print(_("error: %(problem)s") % {"problem": onions.error_words(e)}, file=sys.stderr)
        return 1
    except (CliError, KeyFormatError, ValueError) as e:
        print(_("error: %(problem)s") % {"problem": e}, file=sys.stderr)
        return 1
    except OSError as e:
        print(_("error: %(problem)s") % {"problem": _os_error_words(e)}, file=sys.stderr)
        return 1
    return 0


def _os_error_words(e: OSError) -> str:
    """An operating system's refusal in the operator's language, naming the file or folder."""
    words = {
        errno.ENOENT: _("no such file or folder"),
        errno.EEXIST: _("it exists already"),
        errno.EACCES: _("permission denied"),
        errno.EPERM: _("permission denied"),
        errno.ENOSPC: _("the disk is full"),
        errno.EROFS: _("the disk is read-only"),
        errno.EISDIR: _("it is a folder, not a file"),
        errno.ENOTDIR: _("a part of the path is not a folder"),
    }
    return os_error_words(e, words)


def _add_dir_everywhere(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Accept --dir after the subcommand too (`sealdrop init --dir X`), as the docs write it."""
    stack = [parser]
    while stack:
        p = stack.pop()
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    if not any("--dir" in a.option_strings for a in child._actions):
                        child.add_argument("--dir", default=argparse.SUPPRESS, help="the instance folder")
                    stack.append(child)
    return parser


if __name__ == "__main__":
    sys.exit(main())
