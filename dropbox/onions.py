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
from dataclasses import asdict
from pathlib import Path

import onion
from onion import balance

from . import config as config_mod
from . import parsing
from .console import _

REPORTER, DESK, BACKEND = "reporter", "desk", "backend"
BACKENDS_FILE = Path("balance") / "backends"
STATUS_FILE = "status.json"


def _restart() -> str:
    return _("restart `sealdrop serve --onion` for tor to learn it")


def onion_words(name: str) -> str:
    """'the reporter onion' and the like, for a sentence that names one of the instance's onions."""
    words = {REPORTER: _("the reporter onion"), DESK: _("the desk onion"), BACKEND: _("the backend onion")}
    return words.get(name, name)


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
                said % {"url": _url(reporter.address, REPORTER), "frontend": _url(frontend, REPORTER)},
                flush=True,
            )
        else:
            reporter = tor.publish(
                REPORTER, key_file(cfg, REPORTER), reporter_port, target_host=target, **pow_queue
            )
            print(_("reporter onion: %(url)s") % {"url": _url(reporter.address, REPORTER)}, flush=True)
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
            print(said % {"url": _url(desk.address, DESK), "clients": len(clients)}, flush=True)
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


def _url(address: str, name: str) -> str:
    return f"http://{address}{PATHS[name]}"


def publication_words(known: dict) -> str:
    """A status file's account of one onion's descriptors (onion.Publication's fields), in words."""
    if not any(known.get(k) for k in ("descriptors", "pending", "uploaded", "failed")):
        return _("publishing: waiting for tor to reach the Tor network and build the descriptors")
    states = {"published": _("published"), "failed": _("failed"), "publishing": _("publishing")}
    counts = {k: int(known.get(k, 0)) for k in ("published", "descriptors", "uploaded", "failed", "pending")}
    text = _(
        "%(state)s: %(published)d of %(descriptors)d descriptors accepted, %(uploaded)d directories hold "
        "them, %(failed)d failed, %(pending)d pending"
    ) % {"state": states.get(known.get("state", ""), known.get("state", "")), **counts}
    if known.get("reason"):  # tor's own word for the failure (UPLOAD_REJECTED, ...)
        text += " (" + _("last failure: %(reason)s") % {"reason": known["reason"]} + ")"
    return text


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
    return lines[name] % {"url": _url(address, name), "detail": detail}


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
    print(_("new reporter onion: %(url)s") % {"url": _url(key.address, REPORTER)})
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


def error_words(e: onion.OnionError) -> str:
    """An onion error in the operator's language where onion/ gave its reason (onion/ has no catalogue
    of its own), else its English message. tor's own words in it (a warning, an answer) stay as tor
    said them."""
    if e.reason.startswith("key_"):
        return _key_error_words(e)
    if isinstance(e, onion.PublishFailed):
        return _publish_error_words(e)
    if isinstance(e, onion.PublishTimeout):
        said = _(
            "%(onion)s was not published within %(seconds)ss (%(state)s): is tor connected to the Tor "
            "network? (see its log)"
        )
        state = asdict(e.publication) | {"state": e.publication.state} if e.publication else {}
        return said % {"onion": onion_words(e.values["name"]), "seconds": e.values["seconds"],
                       "state": publication_words(state)}  # fmt: skip
    words = _tor_error_words() | _balance_error_words()
    if e.reason not in words:
        return str(e)
    return words[e.reason] % {"variable": onion.PASSWORD_ENV, **e.values}


def _tor_error_words() -> dict[str, str]:
    restore_reporter = _(
        "restore the key from the backup of DIR/onion/reporter/; only to start a new address on purpose, "
        "run `sealdrop onion new-address` and reprint every poster"
    )
    return {
        "tor_missing": _("tor is not installed: apt-get install tor"),
        "tor_missing_at": _(
            "tor is not installed at %(binary)s: apt-get install tor, or give the right path"
        ),
        "tor_said": _("tor did not start: %(why)s (its log: %(log)s)"),
        "tor_exited": _("tor did not start: it exited at once (its log: %(log)s)"),
        "tor_no_control_port": _("tor did not start: no control port after %(seconds)ss (its log: %(log)s)"),
        "control_refused": _(
            "tor refused the control connection at %(where)s: is ControlPort set?%(detail)s"
        ),
        "not_control_port": _("%(where)s does not answer like tor's control port: is it tor's ControlPort?"),
        "password_missing": _("tor at %(where)s wants a control password: set %(variable)s"),
        "wrong_password": _("wrong tor control password for %(where)s: check %(variable)s"),
        "cookie_unreadable": _(
            "cannot read the control cookie %(path)s of tor at %(where)s: run sealdrop as a user in tor's "
            "group (Debian: adduser USER debian-tor), or give tor a control password and set %(variable)s"
        ),
        "auth_failed": _("tor at %(where)s refused our authentication: %(why)s"),
        "control_lost": _("lost the control connection to tor at %(where)s: did tor stop?"),
        "tor_too_old": _(
            "tor %(version)s at %(where)s is too old: the proof-of-work defence needs tor 0.4.8 or later"
        ),
        "odd_answer": _(
            "tor at %(where)s did not answer %(what)s as expected (%(why)s): check tor's log; if it keeps "
            "happening, restart tor and sealdrop"
        ),
        "reporter_key_missing": _(
            "the reporter onion key %(path)s is missing, but this instance's address is %(recorded)s (on "
            "every poster): "
        )
        + restore_reporter,
        "reporter_key_changed": _(
            "the reporter onion key %(path)s now gives another address, %(now)s, but this instance's "
            "address is %(recorded)s (on every poster): "
        )
        + restore_reporter,
        "bad_client_name": _(
            "%(name)s is not a usable name: up to 64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit"
        ),
        "client_exists": _("%(name)s already has access: revoke it first to issue a new key"),
        "no_client": _("no access named %(name)s (see `sealdrop desk-access list`)"),
        "client_unreadable": _("cannot read the client authorization %(path)s: %(why)s"),
        "not_client_auth": _("%(path)s is not a client authorization (descriptor:x25519:KEY)"),
    }


def _key_error_words(e: onion.OnionError) -> str:
    """KeyUnreadable: what is wrong with the key file and what to do, never "delete it"."""
    restore = _(
        "restore it from the backup of DIR/onion/ (do not delete it: a new key is a new onion address)"
    )
    why = {
        "key_missing": _("there is no such file: %(restore)s"),
        "key_not_a_key": _("it is not a tor v3 onion key (hs_ed25519_secret_key): %(restore)s"),
        "key_directory": _("it is a directory, not a key file: move the directory away, then %(restore)s"),
        "key_permission_denied": _(
            "permission denied: run sealdrop as the user who owns the instance, or give the file back to "
            "that user (chown USER %(path)s; chmod 600 %(path)s)"
        ),
        "key_too_open": _(
            "other users may read it: chmod 600 %(path)s (if someone may have copied it, they can pose as "
            "this onion: start a new address and reprint the posters, see docs/onion.md)"
        ),
    }
    values = {"restore": restore, **e.values}
    # key_os_error: the system's own words (strerror), then what to do
    reason = why[e.reason] % values if e.reason in why else f"{values.get('strerror', '')}: {restore}"
    return _("the onion key %(path)s is unreadable: %(why)s") % {"path": e.values["path"], "why": reason}


def _publish_error_words(e: onion.PublishFailed) -> str:
    values = {**e.values, "onion": onion_words(e.values["name"])}
    if e.reason == "published_already":
        values["why"] = _("it is published already, as %(onion)s") % {"onion": onion_words(e.values["other"])}
    elif e.reason == "collision":
        values["why"] = _("%(answer)s (is another `sealdrop serve --onion` publishing it already?)") % {
            "answer": e.values["answer"]
        }
    elif e.reason == "backend_folder" and e.cause is not None:
        said = _("%(problem)s (can tor read and write %(folder)s?)")
        values["why"] = said % {"problem": error_words(e.cause), "folder": e.values["folder"]}
    return _("tor at %(where)s refused to publish %(onion)s: %(why)s") % values


def _balance_error_words() -> dict[str, str]:
    return {
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
    print(said % {"name": args.name, "url": _url(desk.address, DESK), "restart": _restart()}, file=sys.stderr)


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
