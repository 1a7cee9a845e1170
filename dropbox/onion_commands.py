"""`sealdrop onion status|new-address|hash-password`, `onion balance ...` (one address over several
machines, docs/operations.md) and `desk-access add|list|revoke`: the commands over the keys in
DIR/onion/ and the status file that a running `serve --onion` (dropbox/onions.py) keeps current.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import onion
from onion import balance

from . import config as config_mod
from .console import _
from .onion_words import BACKEND, DESK, REPORTER, onion_words, publication_words
from .onions import (
    BACKENDS_FILE,
    STATUS_FILE,
    attach,
    desk_clients,
    desk_key,
    key_file,
    recorded_address,
    reporter_key,
    url_of,
)


def _restart() -> str:
    return _("restart `sealdrop serve --onion` for tor to learn it")


def _server_line(state: dict) -> str:
    if state["running"]:
        said = _("server: running (pid %(pid)s), tor at %(tor)s, updated %(updated)s")
        return said % {"pid": state["pid"], "tor": state["tor"], "updated": state["updated"]}
    return _("server: not running with --onion (`sealdrop serve --onion` publishes these onions)")


def _onion_line(name: str, address: str, state: dict) -> str:
    """One onion's line of `onion status`: its address and, while a server publishes it, how far."""
    known = state.get("services", {}).get(name, {})
    if state["running"] and known.get("address") == address:
        detail = publication_words(known)
        if name != BACKEND:
            detail += "; " + (_("proof of work on") if known["pow"] else _("proof of work OFF"))
        if name == DESK:
            detail += ", " + _("client authorization: %(clients)d") % {"clients": known["clients"]}
    else:
        detail = _("not published")
    lines = {
        REPORTER: _("reporter: %(url)s  %(detail)s"),
        DESK: _("desk: %(url)s  %(detail)s"),
        BACKEND: _("backend: %(url)s  %(detail)s"),
    }
    return lines[name] % {"url": url_of(address, name), "detail": detail}


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
    print(_server_line(state))
    no_key = {
        REPORTER: _("reporter: no key yet (made by the first `serve --onion`)"),
        DESK: _("desk: no key yet (made by `desk-access add NAME`)"),
    }
    for name in (REPORTER, DESK):
        if name == REPORTER and frontend and name not in addresses:
            continue  # a backend behind onionbalance does not hold the reporter key, on purpose
        print(_onion_line(name, addresses[name], state) if name in addresses else no_key[name])
    if frontend is not None:
        addresses[BACKEND] = onion.OnionKey.load(backend / onion.SECRET_KEY_FILE).address
        said = _("%(line)s; onionbalance instance of %(frontend)s")
        print(said % {"line": _onion_line(BACKEND, addresses[BACKEND], state), "frontend": frontend})
    if args.tor_control:
        with attach(args.tor_control) as tor:
            for name, address in addresses.items():
                if tor.serves(address):
                    said = _("tor at %(where)s holds a descriptor for %(onion)s")
                else:
                    said = _("tor at %(where)s does not hold a descriptor for %(onion)s")
                print(said % {"where": args.tor_control, "onion": onion_words(name)})


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
    print(_("new reporter onion: %(url)s") % {"url": url_of(key.address, REPORTER)})
    if kept:
        said = _("the old key is kept as %(path)s: delete it once the new address works")
        print(said % {"path": kept}, file=sys.stderr)
    print(
        _(
            "Reprint every poster (the old address on them leads nowhere now), then restart "
            "`sealdrop serve --onion`."
        ),
        file=sys.stderr,
    )


def cmd_onion_hash_password(args: argparse.Namespace) -> None:
    """The torrc line for a control password, the password read from the environment or the terminal,
    never from the command line (`tor --hash-password PASSWORD` shows it to every user in ps)."""
    password = os.environ.get(onion.PASSWORD_ENV) or _ask_password()
    print(f"HashedControlPassword {onion.hash_control_password(password)}")


def _ask_password() -> str:
    import getpass

    no_password = _("no password: set %(variable)s or run in a terminal") % {"variable": onion.PASSWORD_ENV}
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))  # else getpass reads stdin, echoing it
        first, again = getpass.getpass(_("tor control password: ")), getpass.getpass(_("Repeat it: "))
    except (OSError, EOFError):
        raise ValueError(no_password) from None
    if first != again:
        raise ValueError(_("the two passwords differ"))
    if not first:
        raise ValueError(_("an empty password protects nothing"))
    return first


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
    said = _(
        "Give %(name)s the line above in private; it is shown only this once and sealdrop keeps only its "
        "public half. Tor Browser asks for the key (the part after 'x25519:') on opening %(url)s; a tor "
        "with ClientOnionAuthDir takes the whole line as a file %(name)s.auth_private. Then %(restart)s."
    )
    print(
        said % {"name": args.name, "url": url_of(desk.address, DESK), "restart": _restart()}, file=sys.stderr
    )


def cmd_desk_access_list(args: argparse.Namespace) -> None:
    cfg = config_mod.load(Path(args.dir))
    names = desk_clients(cfg).names()
    for name in names:
        print(name)
    if not names:
        print(_("no clerk has desk access (sealdrop desk-access add NAME)"), file=sys.stderr)


def cmd_desk_access_revoke(args: argparse.Namespace) -> None:
    cfg = config_mod.load(Path(args.dir))
    desk_clients(cfg).revoke(args.name)
    print(_("%(name)s no longer has desk access; %(restart)s") % {"name": args.name, "restart": _restart()})


def add_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    status = _command_group(sub, "onion", _("the instance's onion services"), "onion_command", parser_class)
    p = status.add_parser(
        "status", help=_("both onions' addresses and whether their descriptors are published")
    )
    p.add_argument("--tor-control", metavar="HOST:PORT", help=_("also ask this tor whether it serves them"))
    p.set_defaults(run=cmd_onion_status)
    p = status.add_parser(
        "new-address", help=_("start a new reporter onion address (every printed poster must be reprinted)")
    )
    p.set_defaults(run=cmd_onion_new_address)
    p = status.add_parser(
        "hash-password",
        help=_("the torrc HashedControlPassword line for the password in $%(variable)s (or asked)")
        % {"variable": onion.PASSWORD_ENV},
    )
    p.set_defaults(run=cmd_onion_hash_password)
    _add_balance_parsers(status, parser_class)
    access = _command_group(
        sub, "desk-access", _("which clerks can reach the desk onion"), "access_command", parser_class
    )
    _clerk_command(
        access,
        "add",
        _("a key for one clerk's Tor Browser (prints it once)"),
        _("the clerk's name, to list and revoke the key by"),
        cmd_desk_access_add,
    )
    access.add_parser("list", help=_("who has desk access")).set_defaults(run=cmd_desk_access_list)
    _clerk_command(
        access,
        "revoke",
        _("take one clerk's access away"),
        _("the name given to desk-access add"),
        cmd_desk_access_revoke,
    )


def _command_group(
    sub: argparse._SubParsersAction, name: str, summary: str, dest: str, parser_class: type
) -> argparse._SubParsersAction:
    """`sealdrop NAME VERB ...`: the group's own subcommands, one of which must be given."""
    return sub.add_parser(name, help=summary).add_subparsers(
        dest=dest, required=True, parser_class=parser_class
    )


def _clerk_command(group: argparse._SubParsersAction, verb: str, summary: str, name_help: str, run) -> None:
    """`desk-access add NAME` and `desk-access revoke NAME`: one clerk, by the name given at `add`."""
    p = group.add_parser(verb, help=summary)
    p.add_argument("name", metavar="NAME", help=name_help)
    p.set_defaults(run=run)


def _add_balance_parsers(onion_sub: argparse._SubParsersAction, parser_class: type) -> None:
    sub = _command_group(
        onion_sub,
        "balance",
        _("one reporter address over several machines with onionbalance (docs/operations.md)"),
        "balance_command",
        parser_class,
    )
    p = sub.add_parser("init", help=_("use this instance's reporter onion key as onionbalance's frontend"))
    p.set_defaults(run=cmd_balance_init)
    p = sub.add_parser("add-backend", help=_("balance over one more backend onion"))
    p.add_argument(
        "address", metavar="ADDRESS", help=_("what `onion balance backend` printed on that machine")
    )
    p.add_argument("--name", required=True, help=_("a short name for the machine, to list and remove it by"))
    p.set_defaults(run=cmd_balance_add_backend)
    p = sub.add_parser("remove-backend", help=_("stop balancing over a backend"))
    p.add_argument("backend", metavar="NAME|ADDRESS", help=_("the backend's name or onion address"))
    p.set_defaults(run=cmd_balance_remove_backend)
    p = sub.add_parser("list", help=_("the backends"))
    p.set_defaults(run=cmd_balance_list)
    p = sub.add_parser("config", help=_("write onionbalance's config.yaml and frontend key (0600) into DIR"))
    p.add_argument(
        "-o", "--output", required=True, metavar="DIR", help=_("onionbalance's folder (made 0700)")
    )
    p.set_defaults(run=cmd_balance_config)
    p = sub.add_parser("backend", help=_("make this instance a backend: prints its own onion address"))
    p.add_argument("--frontend", metavar="ADDRESS", help=_("the reporter address (default: config.json's)"))
    p.set_defaults(run=cmd_balance_backend)
