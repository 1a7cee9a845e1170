"""The instance's onions: their keys, and `serve --onion` publishing them for as long as it serves.
The `sealdrop onion ...` and `desk-access ...` commands are in dropbox/onion_commands.py, and the
onions' words in the operator's language (onion/'s errors among them) in dropbox/onion_words.py.

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
from collections.abc import Iterator
from pathlib import Path

import onion
from onion import balance

from . import config as config_mod
from . import parsing
from .console import _
from .onion_words import BACKEND, DESK, REPORTER

BACKENDS_FILE = Path("balance") / "backends"
STATUS_FILE = "status.json"


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
    host, _colon, port = value.rpartition(":")
    number = parsing.whole_number(port, 1, 65535)
    if number is None:
        said = _("--tor-control takes HOST:PORT (tor's ControlPort, e.g. 127.0.0.1:9051), not %(value)s")
        raise ValueError(said % {"value": repr(value)})
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
            said = _("backend onion: %(url)s (onionbalance instance of the reporter onion %(frontend)s)")
            print(
                said % {"url": url_of(reporter.address, REPORTER), "frontend": url_of(frontend, REPORTER)},
                flush=True,
            )
        else:
            reporter = tor.publish(
                REPORTER, key_file(cfg, REPORTER), reporter_port, target_host=target, **pow_queue
            )
            print(_("reporter onion: %(url)s") % {"url": url_of(reporter.address, REPORTER)}, flush=True)
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
            said = _("desk onion: %(url)s (client authorization: %(clients)d)")
            print(said % {"url": url_of(desk.address, DESK), "clients": len(clients)}, flush=True)
        else:
            print(_("desk onion: not published until a clerk has access (sealdrop desk-access add NAME)"))
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
            said = {
                REPORTER: _("reporter onion published: %(count)d directories hold it"),
                DESK: _("desk onion published: %(count)d directories hold it"),
                BACKEND: _("backend onion published: %(count)d directories hold it"),
            }[service.name]
            print(said % {"count": publication.uploaded}, flush=True)

    for service in services:
        service.on_change(changed)
    onion.status.write(status_file, tor.where, services)


PATHS = {REPORTER: "/r/<desk>", DESK: "/desk/", BACKEND: "/r/<desk>"}


def url_of(address: str, name: str) -> str:
    """The address as a person opens it: the reporter page (of a desk) or the desk itself."""
    return f"http://{address}{PATHS[name]}"


def add_serve_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--onion", action="store_true", help=_("publish the onions (on a tor we launch by default)")
    )
    p.add_argument(
        "--tor-control",
        metavar="HOST:PORT",
        help=_("use the running tor with this ControlPort (password, if any, from $%(variable)s)")
        % {"variable": onion.PASSWORD_ENV},
    )
    p.add_argument(
        "--tor", default="tor", metavar="PATH", help=_("the tor program to launch (default: tor on PATH)")
    )
