"""The operator's desk commands, for dropbox.cli's parser (`add_parsers`):

    sealdrop user add NAME --role admin|clerk [--desk SLUG]   password from SEALDROP_PASSPHRASE or a prompt
    sealdrop export --desk SLUG -o BUNDLE [--again N]          the next export bundle (or bundle N again,
                                                               until the viewer confirms it), atomically
    sealdrop import-replies BUNDLE                             whole or not at all; then retention
    sealdrop retention [--on YYYY-MM-DD]                       delete what the viewer confirmed long ago,
                                                               and uploads abandoned half-way

Each failure is one line (CommandError, AccountError and BundleError carry it) and leaves no file.
The audit log records these as done by "cli".
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import segno
from sqlalchemy import select

import onion
from crypto import SigningKey
from crypto import cli as crypto_cli
from crypto.bundle import BundleError

from .. import bundles, db, intake, onions
from .. import config as config_mod
from ..models import Desk
from . import accounts, audit

ACTOR = "cli"


class CommandError(ValueError):
    """A failure to report in one line."""


def _config(args: argparse.Namespace) -> config_mod.Config:
    return config_mod.load(Path(args.dir))


def _desk(session, slug: str) -> Desk:
    desk = session.scalar(select(Desk).where(Desk.slug == slug))
    if desk is None:
        raise CommandError(f"no desk {slug}")
    return desk


def _password(name: str) -> str:
    try:
        return crypto_cli.read_passphrase(f"Password for {name}: ", confirm=True)
    except crypto_cli.CliError as e:
        raise CommandError(str(e).replace("passphrase", "password")) from None


def _login_addresses(cfg: config_mod.Config) -> list[str]:
    """Where the new user logs in: the desk's loopback port on the server, and its onion when the
    instance has one (reachable only with a key from `sealdrop desk-access add`)."""
    found = [
        f"http://127.0.0.1:{config_mod.DEFAULT_PORT + 1}/desk/login on this machine "
        "(the desk listens on `sealdrop serve`'s --port + 1, or --desk-port)"
    ]
    desk_key = onions.key_file(cfg, onions.DESK)
    if desk_key.is_file():
        address = onion.OnionKey.load(desk_key).address
        found.append(f"http://{address}/desk/login in Tor Browser, with a key from `sealdrop desk-access`")
    return found


def cmd_user_add(args: argparse.Namespace) -> None:
    cfg = _config(args)
    if args.role == "admin" and args.desk:  # before asking for a password
        raise CommandError("an admin works on every desk: --desk is for clerks")
    with db.standalone_session(cfg.database_url) as session:
        desk = _desk(session, args.desk) if args.desk else None
        if not accounts.valid_name(args.name):  # before asking for a password
            raise CommandError("a user name has 1-80 letters, digits or . _ - @")
        new = accounts.create_user(session, cfg.secret_key, args.name, args.role, _password(args.name), desk)
        audit.record(session, ACTOR, "user_added", desk.slug if desk else None, f"{args.name} ({args.role})")
        session.commit()
        uri = new.uri
    where = f", desk {args.desk}" if args.desk else ""
    print(f"user {args.name} added ({args.role}{where}); log in at:")
    for line in _login_addresses(cfg):
        print(f"  {line}")
    print("authenticator set-up, shown once: scan the code below or type this address into the app")
    print(uri)
    segno.make(uri, error="m").terminal(compact=True)


def cmd_export(args: argparse.Namespace) -> None:
    cfg = _config(args)
    output = Path(args.output)
    if output.exists():
        raise CommandError(f"{output} already exists")
    key = SigningKey.load(cfg.instance_dir / config_mod.SIGNING_KEY_FILE)
    store = _store(cfg)
    with db.standalone_session(cfg.database_url) as session:
        desk = _desk(session, args.desk)
        if args.again is None:
            make = lambda f: bundles.export(session, store, desk, key, f)  # noqa: E731
        else:
            make = lambda f: bundles.export_again(session, store, desk, args.again, key, f)  # noqa: E731
        try:
            manifest = bundles.write_atomically(output, make)
        except (bundles.NothingToExport, BundleError) as e:
            raise CommandError(str(e)) from None
        action = "export" if args.again is None else "export_again"
        held = f"{len(manifest.items)} envelopes"
        audit.record(session, ACTOR, action, desk.slug, f"bundle {manifest.sequence}, {held}")
        session.commit()
    print(f"export bundle {manifest.sequence} of desk {args.desk}: {output} ({held})")


def cmd_import_replies(args: argparse.Namespace) -> None:
    cfg = _config(args)
    path = Path(args.bundle)
    if not path.is_file():
        raise CommandError(f"no file {path}")
    store = _store(cfg)
    with db.standalone_session(cfg.database_url) as session:
        try:
            desk, count = bundles.import_replies(session, store, path)
        except BundleError as e:
            session.rollback()
            audit.record(session, ACTOR, "replies_refused", None, e.reason)
            session.commit()
            raise CommandError(f"refused, nothing imported: {e}") from None
        audit.record(session, ACTOR, "replies_imported", desk.slug, f"{count} replies")
        session.commit()
        deleted = bundles.apply_retention(session, store)
        if deleted:
            audit.record(session, ACTOR, "retention", None, f"{deleted} submissions deleted")
            session.commit()
    print(f"imported {count} replies for desk {desk.slug}; retention deleted {deleted} submissions")


def cmd_retention(args: argparse.Namespace) -> None:
    cfg = _config(args)
    try:
        on = dt.date.fromisoformat(args.on) if args.on else None
    except ValueError:
        raise CommandError("--on takes a day, YYYY-MM-DD") from None
    store = _store(cfg)
    with db.standalone_session(cfg.database_url) as session:
        deleted = bundles.apply_retention(session, store, on)
        audit.record(session, ACTOR, "retention", None, f"{deleted} submissions deleted")
        session.commit()
        # The service sweeps these too, but only when a new upload starts: a quiet desk needs cron's.
        uploads = intake.Uploads(cfg.blob_dir, cfg.max_envelope_bytes, blob_key=cfg.secret_key)
        abandoned = uploads.sweep_abandoned(session, store, intake.upload_max_age_s(cfg))
        session.commit()
    print(f"retention: {deleted} submissions deleted, {abandoned} abandoned uploads and orphan blobs removed")


def _store(cfg: config_mod.Config):
    from ..blobs import FileBlobStore

    return FileBlobStore(cfg.blob_dir)


def add_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    user = sub.add_parser("user", help="desk logins (password + TOTP)").add_subparsers(
        dest="user_command", required=True, parser_class=parser_class
    )
    p = user.add_parser("add", help="add a desk user; prints the TOTP set-up once")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=accounts.ROLES)
    p.add_argument("--desk", metavar="SLUG", help="a clerk's desk (default: every desk)")
    p.set_defaults(run=cmd_user_add)
    p = sub.add_parser("export", help="write the next signed export bundle of a desk")
    p.add_argument("--desk", required=True, metavar="SLUG")
    p.add_argument("-o", "--output", required=True, metavar="BUNDLE")
    p.add_argument("--again", type=int, metavar="N", help="bundle N again (until confirmed)")
    p.set_defaults(run=cmd_export)
    p = sub.add_parser("import-replies", help="import a reply bundle from the viewer, then apply retention")
    p.add_argument("bundle", metavar="BUNDLE")
    p.set_defaults(run=cmd_import_replies)
    p = sub.add_parser("retention", help="delete ciphertext confirmed long enough ago")
    p.add_argument("--on", metavar="YYYY-MM-DD", help="pretend today is this day")
    p.set_defaults(run=cmd_retention)
