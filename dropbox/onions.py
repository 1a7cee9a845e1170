"""The instance's onions, for `sealdrop`: `serve --onion`, `onion status|new-address|hash-password`,
`onion balance ...` (one address over several machines, docs/operations.md), `desk-access add|list|revoke`.

Two onions, keys in DIR/onion/ (docs/onion.md):
    reporter/   the public address on posters and in Onion-Location
    desk/       the desk's address, reachable only with a key from `desk-access add` (v3 client auth);
                not published at all while no clerk has one, so it is never open to everyone
    backend/    on each of several machines behind onionbalance: that machine's own onion (its key and
                tor's `ob_config` naming the reporter address), published instead of the reporter onion
    balance/    on the machine that holds the reporter key: the backends onionbalance balances over
A running `serve --onion` keeps DIR/onion/status.json current for `onion status`.

Neither address ever changes by itself: once the instance has printed a reporter address (config.json's
`onion_address`) or handed out desk keys, a missing or different key file is refused, never replaced.
Only `onion new-address` starts a new reporter address, on purpose.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import onion
from onion import balance

from . import config as config_mod
from . import parsing
from .console import _

REPORTER, DESK, BACKEND = "reporter", "desk", "backend"
BACKENDS_FILE = Path("balance") / "backends"
STATUS_FILE = "status.json"
RESTART = "restart `sealdrop serve --onion` for tor to learn it"


def key_file(cfg: config_mod.Config, name: str) -> Path:
    return cfg.onion_dir / name / onion.SECRET_KEY_FILE


def desk_clients(cfg: config_mod.Config) -> onion.AuthorizedClients:
    return onion.AuthorizedClients(cfg.onion_dir / DESK / onion.AUTHORIZED_CLIENTS)


def recorded_address(cfg: config_mod.Config) -> str | None:
    """The reporter address the instance has published (config.json `onion_address`), as `<56>.onion`."""
    found = re.search(r"[a-z2-7]{56}\.onion", cfg.onion_address.lower())
    return found.group(0) if found else None


def reporter_key(cfg: config_mod.Config) -> onion.OnionKey:
    """The reporter onion's key: made on the first `serve --onion`, and afterwards only ever the key of
    the address the posters print. A missing or different key is refused, never silently replaced."""
    path, recorded = key_file(cfg, REPORTER), recorded_address(cfg)
    if not os.path.lexists(path):
        if recorded:
            raise onion.OnionAddressChanged(path, recorded, None)
        return onion.OnionKey.load_or_create(path)
    key = onion.OnionKey.load(path)
    if recorded and key.address != recorded:
        raise onion.OnionAddressChanged(path, recorded, key.address)
    return key


def desk_key(cfg: config_mod.Config) -> onion.OnionKey:
    """The desk onion's key; once a clerk holds a key for the desk address, never a new one."""
    if desk_clients(cfg).names():
        return onion.OnionKey.load(key_file(cfg, DESK))
    return onion.OnionKey.load_or_create(key_file(cfg, DESK))


def parse_control(value: str) -> tuple[str, int]:
    """HOST:PORT, or PORT alone for this machine."""
    host, _, port = value.rpartition(":")
    number = parsing.whole_number(port, 1, 65535)
    if number is None:
        raise ValueError(
            f"--tor-control takes HOST:PORT (tor's ControlPort, e.g. 127.0.0.1:9051), not {value!r}"
        )
    return host.strip("[]") or "127.0.0.1", number


def attach(value: str) -> onion.Tor:
    host, port = parse_control(value)
    return onion.Tor.attach(host, port, password=os.environ.get(onion.PASSWORD_ENV) or None)


def _stop_on_sigterm() -> None:
    """waitress returns from serve() on SystemExit, so SIGTERM also ends in our `finally`, which takes
    the onions off tor and stops a tor we launched."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))


@contextlib.contextmanager
def published(
    cfg: config_mod.Config, args: argparse.Namespace, reporter_port: int, desk_port: int
) -> Iterator[config_mod.Config]:
    """With --onion (or --tor-control), publish the reporter onion for the server listening on
    args.host:reporter_port and the desk onion for the desk's loopback `desk_port`, for as long as
    the block runs. Yields the config, which then knows (and has saved) the reporter onion's
    address; without --onion, the config as it is."""
    if not (args.onion or args.tor_control):
        yield cfg
        return
    frontend = balance.frontend_of(cfg.onion_dir / BACKEND)  # None unless `onion balance backend` ran
    if frontend is None:
        reporter_key(cfg)  # a missing, broken or different key fails before tor starts
    clients = desk_clients(cfg).public_keys()
    if clients:
        desk_key(cfg)  # never a new desk address behind the clerks' backs
    tor = attach(args.tor_control) if args.tor_control else onion.Tor.launch(cfg.tor_dir, tor_binary=args.tor)
    services: list[onion.OnionService] = []
    status_file = cfg.onion_dir / STATUS_FILE
    try:
        _stop_on_sigterm()
        target = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host  # noqa: S104 (a comparison)
        pow_queue = {"pow_queue_rate": cfg.onion_pow_queue_rate, "pow_queue_burst": cfg.onion_pow_queue_burst}
        if frontend:  # this machine is one of several behind onionbalance, which holds the reporter key
            reporter = balance.publish_backend(
                tor, BACKEND, cfg.onion_dir / BACKEND, reporter_port, target_host=target, **pow_queue
            )
            print(f"backend onion: http://{reporter.address}/r/<desk> (onionbalance instance of the "
                  f"reporter onion http://{frontend}/r/<desk>)", flush=True)  # fmt: skip
        else:
            reporter = tor.publish(
                REPORTER, key_file(cfg, REPORTER), reporter_port, target_host=target, **pow_queue
            )
            print(f"reporter onion: http://{reporter.address}/r/<desk>", flush=True)
        services.append(reporter)
        if clients:
            desk = tor.publish(
                DESK,
                key_file(cfg, DESK),
                desk_port,
                target_host="127.0.0.1",
                client_auth=clients,
                **pow_queue,
            )
            services.append(desk)
            print(
                f"desk onion: http://{desk.address}/desk/ (client authorization: {len(clients)})", flush=True
            )
        else:
            print("desk onion: not published until a clerk has access (sealdrop desk-access add NAME)")
        if (frontend or reporter.address) != cfg.onion_address:
            cfg = cfg.with_overrides(onion_address=frontend or reporter.address)
            config_mod.save(cfg)  # Onion-Location, posters
        _report_progress(status_file, tor, services)
        yield cfg
    finally:
        tor.close()
        onion.status.write(status_file, tor.where, services, running=False)


def _report_progress(status_file: Path, tor: onion.Tor, services: list[onion.OnionService]) -> None:
    """Keep the status file current and say once, on the console, when each onion is published."""
    announced: set[str] = set()

    def changed(service: onion.OnionService) -> None:
        onion.status.write(status_file, tor.where, services)
        publication = service.publication()
        if publication.settled and service.name not in announced:
            announced.add(service.name)
            print(f"{service.name} onion published: {publication.uploaded} directories hold it", flush=True)

    for service in services:
        service.on_change(changed)
    onion.status.write(status_file, tor.where, services)


def cmd_onion_status(args: argparse.Namespace) -> None:
    cfg = config_mod.load(Path(args.dir))
    backend = cfg.onion_dir / BACKEND
    frontend = balance.frontend_of(backend)
    addresses = {
        name: onion.OnionKey.load(key_file(cfg, name)).address
        for name in (REPORTER, DESK)
        if os.path.lexists(key_file(cfg, name))
    }
    state = onion.status.read(cfg.onion_dir / STATUS_FILE) or {"running": False}
    running = state["running"]
    if running:
        print(f"server: running (pid {state['pid']}), tor at {state['tor']}, updated {state['updated']}")
    else:
        print("server: not running with --onion (`sealdrop serve --onion` publishes these onions)")
    paths = {REPORTER: "/r/<desk>", DESK: "/desk/"}
    for name in (REPORTER, DESK):
        if name == REPORTER and frontend and name not in addresses:
            continue  # a backend behind onionbalance does not hold the reporter key, on purpose
        if name not in addresses:
            made_by = "`desk-access add NAME`" if name == DESK else "the first `serve --onion`"
            print(f"{name}: no key yet (made by {made_by})")
            continue
        known = state.get("services", {}).get(name, {})
        if running and known.get("address") == addresses[name]:
            pow_text = "proof of work on" if known["pow"] else "proof of work OFF"
            access = f", client authorization: {known['clients']}" if name == DESK else ""
            detail = f"{known['summary']}; {pow_text}{access}"
        else:
            detail = "not published"
        print(f"{name}: http://{addresses[name]}{paths[name]}  {detail}")
    if frontend is not None:
        address = onion.OnionKey.load(backend / onion.SECRET_KEY_FILE).address
        addresses[BACKEND] = address
        known = state.get("services", {}).get(BACKEND, {})
        detail = known["summary"] if running and known.get("address") == address else "not published"
        print(f"backend: http://{address}/r/<desk>  {detail}; onionbalance instance of {frontend}")
    if args.tor_control:
        with attach(args.tor_control) as tor:
            for name, address in addresses.items():
                held = "holds" if tor.serves(address) else "does not hold"
                print(f"tor at {args.tor_control} {held} a descriptor for the {name} onion")


def cmd_onion_new_address(args: argparse.Namespace) -> None:
    """A new reporter address, on purpose: the old key (if any) is kept beside it, renamed."""
    cfg = config_mod.load(Path(args.dir))
    path = key_file(cfg, REPORTER)
    kept = None
    if os.path.lexists(path):
        kept = path.with_name(f"{path.name}.replaced-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
        os.rename(path, kept)  # still 0600; a mistake can be undone by renaming it back
    key = onion.OnionKey.load_or_create(path)
    config_mod.save(cfg.with_overrides(onion_address=key.address))
    print(f"new reporter onion: http://{key.address}/r/<desk>")
    if kept:
        print(f"the old key is kept as {kept}: delete it once the new address works", file=sys.stderr)
    print(
        "Reprint every poster (the old address on them leads nowhere now), then restart "
        "`sealdrop serve --onion`.",
        file=sys.stderr,
    )


def cmd_onion_hash_password(args: argparse.Namespace) -> None:
    """The torrc line for a control password, the password read from the environment or the terminal,
    never from the command line (`tor --hash-password PASSWORD` shows it to every user in ps)."""
    password = os.environ.get(onion.PASSWORD_ENV) or _ask_password()
    print(f"HashedControlPassword {onion.hash_control_password(password)}")


def _ask_password() -> str:
    import getpass

    no_password = f"no password: set {onion.PASSWORD_ENV} or run in a terminal"
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))  # else getpass reads stdin, echoing it
        first, again = getpass.getpass("tor control password: "), getpass.getpass("Repeat it: ")
    except (OSError, EOFError):
        raise ValueError(no_password) from None
    if first != again:
        raise ValueError("the two passwords differ")
    if not first:
        raise ValueError("an empty password protects nothing")
    return first


def error_words(e: onion.OnionError) -> str:
    """An onion error in the operator's language where onion/ gave its reason (onion/ has no catalogue
    of its own), else its English message."""
    if not isinstance(e, balance.BalanceError):
        return str(e)
    words = {
        "not_an_address": _("%(text)s is not a v3 onion address (56 letters and digits 2-7, then .onion)"),
        "bad_checksum": _("%(text)s is not a valid v3 onion address (its checksum is wrong: a typo?)"),
        "bad_name": _("%(name)s is not a usable name: up to 64 letters, digits, '.', '_' or '-'"),
        "frontend_itself": _(
            "%(address)s is the frontend address itself: a backend publishes an onion of its own "
            "(`sealdrop onion balance backend` on that machine prints it)"
        ),
        "known": _("%(name)s (%(address)s) is a backend already"),
        "no_backend": _("no backend %(backend)s (see `sealdrop onion balance list`)"),
        "no_backends": _("no backends yet: `sealdrop onion balance add-backend ADDRESS` first"),
        "frontend_key": _(
            "the backend key in %(folder)s is the frontend's own key: a backend needs a key of its own "
            "(move that file away; the frontend key belongs with onionbalance only)"
        ),
        "no_master": _("%(path)s names no MasterOnionAddress: run `sealdrop onion balance backend` again"),
        "not_backend": _(
            "%(folder)s is not a backend folder (no ob_config): run `sealdrop onion balance backend`"
        ),
    }
    if e.reason not in words:
        return str(e)
    return words[e.reason] % e.values


def _frontend_key(cfg: config_mod.Config) -> onion.OnionKey:
    """The key onionbalance publishes the reporter address with: the instance's reporter key, so the
    address on every poster stays when one machine becomes several."""
    if not os.path.lexists(key_file(cfg, REPORTER)) and not recorded_address(cfg):
        raise ValueError(_("no reporter onion key yet: run `sealdrop onion balance init` first"))
    return reporter_key(cfg)


def cmd_balance_init(args: argparse.Namespace) -> None:
    cfg = config_mod.load(Path(args.dir))
    key = reporter_key(cfg)  # made now if this instance never published; never a different one
    if key.address != cfg.onion_address:
        config_mod.save(cfg.with_overrides(onion_address=key.address))
    print(_("frontend (reporter) onion: http://%(address)s/r/<desk>") % {"address": key.address})
    print(
        _(
            "On each backend machine: sealdrop onion balance backend --frontend %(address)s; then here: "
            "sealdrop onion balance add-backend ADDRESS --name NAME"
        )
        % {"address": key.address},
        file=sys.stderr,
    )


def onion_backends(cfg: config_mod.Config) -> balance.Backends:
    return balance.Backends(cfg.onion_dir / BACKENDS_FILE)


def cmd_balance_add_backend(args: argparse.Namespace) -> None:
    cfg = config_mod.load(Path(args.dir))
    frontend = _frontend_key(cfg).address
    added = onion_backends(cfg).add(args.address, args.name, frontend)
    said = _(
        "backend %(name)s: %(address)s; regenerate onionbalance's configuration "
        "(sealdrop onion balance config -o DIR) and reload onionbalance"
    )
    print(said % {"name": added.name, "address": added.address})


def cmd_balance_remove_backend(args: argparse.Namespace) -> None:
    cfg = config_mod.load(Path(args.dir))
    removed = onion_backends(cfg).remove(args.backend)
    said = _("backend %(name)s (%(address)s) removed; regenerate onionbalance's configuration")
    print(said % {"name": removed.name, "address": removed.address})


def cmd_balance_list(args: argparse.Namespace) -> None:
    cfg = config_mod.load(Path(args.dir))
    entries = onion_backends(cfg).entries()
    for entry in entries:
        print(f"{entry.name} {entry.address}")
    if not entries:
        print(_("no backends (sealdrop onion balance add-backend ADDRESS --name NAME)"), file=sys.stderr)


def cmd_balance_config(args: argparse.Namespace) -> None:
    """onionbalance's config.yaml and the frontend key, for the machine that runs onionbalance."""
    cfg = config_mod.load(Path(args.dir))
    _frontend_key(cfg)
    written = balance.write_config(Path(args.output), key_file(cfg, REPORTER), onion_backends(cfg).entries())
    for path in written:
        print(path)
    said = _(
        "Both files are 0600 and %(key)s is the reporter address's secret key: give them to onionbalance's "
        "user only, then run onionbalance -c %(config)s (-p PORT or -s SOCKET: its tor's control port). "
        "Stop `serve --onion` publishing the reporter onion itself before you start it."
    )
    print(said % {"key": written[0].name, "config": written[1]}, file=sys.stderr)


def cmd_balance_backend(args: argparse.Namespace) -> None:
    """Make this instance a backend: its own onion key and tor's ob_config naming the frontend."""
    cfg = config_mod.load(Path(args.dir))
    frontend = balance.parse_address(args.frontend) if args.frontend else recorded_address(cfg)
    if frontend is None:
        raise ValueError(_("which reporter address? give --frontend ADDRESS (`balance init` printed it)"))
    key = balance.prepare_backend(cfg.onion_dir / BACKEND, frontend)
    if cfg.onion_address != frontend:
        config_mod.save(cfg.with_overrides(onion_address=frontend))  # Onion-Location, posters
    print(key.address)
    said = _(
        "This machine's backend onion. On the machine that holds the reporter key: sealdrop onion balance "
        "add-backend %(address)s --name NAME. From now on `serve --onion` here publishes this onion for "
        "%(frontend)s, not the reporter onion itself."
    )
    print(said % {"address": key.address, "frontend": frontend}, file=sys.stderr)


def cmd_desk_access_add(args: argparse.Namespace) -> None:
    cfg = config_mod.load(Path(args.dir))
    desk = desk_key(cfg)
    key = desk_clients(cfg).add(args.name)
    print(key.auth_line(desk.address))
    print(
        f"Give {args.name} the line above in private; it is shown only this once and sealdrop keeps only its "
        f"public half. Tor Browser asks for the key (the part after 'x25519:') on opening "
        f"http://{desk.address}/desk/; a tor with ClientOnionAuthDir takes the whole line as a file "
        f"{args.name}.auth_private. Then {RESTART}.",
        file=sys.stderr,
    )


def cmd_desk_access_list(args: argparse.Namespace) -> None:
    cfg = config_mod.load(Path(args.dir))
    names = desk_clients(cfg).names()
    for name in names:
        print(name)
    if not names:
        print("no clerk has desk access (sealdrop desk-access add NAME)", file=sys.stderr)


def cmd_desk_access_revoke(args: argparse.Namespace) -> None:
    cfg = config_mod.load(Path(args.dir))
    desk_clients(cfg).revoke(args.name)
    print(f"{args.name} no longer has desk access; {RESTART}")


def add_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    status = sub.add_parser("onion", help="the instance's onion services").add_subparsers(
        dest="onion_command", required=True, parser_class=parser_class
    )
    p = status.add_parser("status", help="both onions' addresses and whether their descriptors are published")
    p.add_argument("--tor-control", metavar="HOST:PORT", help="also ask this tor whether it serves them")
    p.set_defaults(run=cmd_onion_status)
    p = status.add_parser(
        "new-address", help="start a new reporter onion address (every printed poster must be reprinted)"
    )
    p.set_defaults(run=cmd_onion_new_address)
    p = status.add_parser(
        "hash-password",
        help=f"the torrc HashedControlPassword line for the password in ${onion.PASSWORD_ENV} (or asked)",
    )
    p.set_defaults(run=cmd_onion_hash_password)
    _add_balance_parsers(status, parser_class)
    access = sub.add_parser("desk-access", help="which clerks can reach the desk onion").add_subparsers(
        dest="access_command", required=True, parser_class=parser_class
    )
    p = access.add_parser("add", help="a key for one clerk's Tor Browser (prints it once)")
    p.add_argument("name", metavar="NAME", help="the clerk's name, to list and revoke the key by")
    p.set_defaults(run=cmd_desk_access_add)
    p = access.add_parser("list", help="who has desk access")
    p.set_defaults(run=cmd_desk_access_list)
    p = access.add_parser("revoke", help="take one clerk's access away")
    p.add_argument("name", metavar="NAME", help="the name given to desk-access add")
    p.set_defaults(run=cmd_desk_access_revoke)


def _add_balance_parsers(onion_sub: argparse._SubParsersAction, parser_class: type) -> None:
    sub = onion_sub.add_parser(
        "balance", help="one reporter address over several machines with onionbalance (docs/operations.md)"
    ).add_subparsers(dest="balance_command", required=True, parser_class=parser_class)
    p = sub.add_parser("init", help="use this instance's reporter onion key as onionbalance's frontend")
    p.set_defaults(run=cmd_balance_init)
    p = sub.add_parser("add-backend", help="balance over one more backend onion")
    p.add_argument("address", metavar="ADDRESS", help="what `onion balance backend` printed on that machine")
    p.add_argument("--name", required=True, help="a short name for the machine, to list and remove it by")
    p.set_defaults(run=cmd_balance_add_backend)
    p = sub.add_parser("remove-backend", help="stop balancing over a backend")
    p.add_argument("backend", metavar="NAME|ADDRESS", help="the backend's name or onion address")
    p.set_defaults(run=cmd_balance_remove_backend)
    p = sub.add_parser("list", help="the backends")
    p.set_defaults(run=cmd_balance_list)
    p = sub.add_parser("config", help="write onionbalance's config.yaml and frontend key (0600) into DIR")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="onionbalance's folder (made 0700)")
    p.set_defaults(run=cmd_balance_config)
    p = sub.add_parser("backend", help="make this instance a backend: prints its own onion address")
    p.add_argument("--frontend", metavar="ADDRESS", help="the reporter address (default: config.json's)")
    p.set_defaults(run=cmd_balance_backend)


def add_serve_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--onion", action="store_true", help="publish the onions (on a tor we launch by default)")
    p.add_argument(
        "--tor-control",
        metavar="HOST:PORT",
        help=f"use the running tor with this ControlPort (password, if any, from ${onion.PASSWORD_ENV})",
    )
    p.add_argument(
        "--tor", default="tor", metavar="PATH", help="the tor program to launch (default: tor on PATH)"
    )
