"""The operator's desk commands, for dropbox.cli's parser (`add_parsers`):

    sealdrop user add NAME --role admin|clerk [--desk SLUG]   password from SEALDROP_PASSPHRASE or a prompt
    sealdrop user list | disable NAME | enable NAME | remove NAME
    sealdrop export --desk SLUG -o BUNDLE [--again N]          the next export bundle (or bundle N again,
                                                               until the viewer confirms it), atomically
    sealdrop import-replies BUNDLE                             whole or not at all; then retention
    sealdrop retention [--on YYYY-MM-DD]                       delete what the viewer confirmed long ago,
                                                               and uploads abandoned half-way

Each failure is one line (CommandError, AccountError and BundleError carry it) and leaves no file.
What a clerk or admin reads is in their language (dropbox.console); the audit log, which other
people read later, stays in English and records these as done by "cli".
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import segno
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import onion
from crypto import SigningKey
from crypto import cli as crypto_cli
from crypto.bundle import BundleError

from .. import bundles, db, errors, intake, onions
from .. import config as config_mod
from .. import uploads as uploads_module
from ..console import _
from ..models import Desk, DeskSession, DeskUser
from . import accounts, audit

ACTOR = "cli"


class CommandError(ValueError):
    """A failure to report in one line."""


def _config(args: argparse.Namespace) -> config_mod.Config:
    return config_mod.load(Path(args.dir))


def desk_by_slug(session: Session, slug: str) -> Desk:
    desk = session.scalar(select(Desk).where(Desk.slug == slug[:40]))
    if desk is None:
        raise CommandError(_("no such desk: %(desk)s (see sealdrop desk list)") % {"desk": slug})
    return desk


def _password(name: str) -> str:
    try:
        return crypto_cli.read_passphrase(_("Password for %(user)s: ") % {"user": name}, confirm=True)
    except crypto_cli.CliError as e:
        raise CommandError(str(e).replace("passphrase", "password")) from None


def _login_addresses(cfg: config_mod.Config) -> list[str]:
    """Where the new user logs in: the desk's loopback port on the server, and its onion when the
    instance has one (reachable only with a key from `sealdrop desk-access add`)."""
    local = _("on this machine (the desk listens on the port after sealdrop serve's --port, or --desk-port)")
    found = [f"http://127.0.0.1:{config_mod.DEFAULT_PORT + 1}/desk/login {local}"]
    desk_key = onions.key_file(cfg, onions.DESK)
    if desk_key.is_file():
        address = onion.OnionKey.load(desk_key).address
        found.append(
            f"http://{address}/desk/login " + _("in Tor Browser, with a key from sealdrop desk-access")
        )
    return found


def cmd_user_add(args: argparse.Namespace) -> None:
    cfg = _config(args)
    with db.standalone_session(cfg.database_url) as session:
        desk = desk_by_slug(session, args.desk) if args.desk else None
        if not accounts.valid_name(args.name):  # before asking for a password
            raise CommandError(_("a user name has 1-80 letters, digits or . _ - @"))
        new = accounts.create_user(session, cfg.secret_key, args.name, args.role, _password(args.name), desk)
        audit.record(session, ACTOR, "user_added", desk.slug if desk else None, f"{args.name} ({args.role})")
        session.commit()
        uri = new.uri
    if args.desk:
        added = _("Desk user added: %(user)s (%(role)s, desk %(desk)s); they log in at:")
    else:
        added = _("Desk user added: %(user)s (%(role)s, every desk); they log in at:")
    print(added % {"user": args.name, "role": args.role, "desk": args.desk})
    for line in _login_addresses(cfg):
        print(f"  {line}")
    print(_("Authenticator set-up, shown once: scan the code below or type this address into the app"))
    print(uri)
    segno.make(uri, error="m").terminal(compact=True)


def cmd_export(args: argparse.Namespace) -> None:
    cfg = _config(args)
    output = Path(args.output)
    if output.exists():
        raise CommandError(
            _("the file %(path)s already exists: an export never overwrites") % {"path": output}
        )
    key = SigningKey.load(cfg.instance_dir / config_mod.SIGNING_KEY_FILE)
    store = _store(cfg)
    with db.standalone_session(cfg.database_url) as session:
        desk = desk_by_slug(session, args.desk)
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
    made = _("Export bundle %(n)d of desk %(desk)s: %(path)s, envelopes: %(count)d")
    print(made % {"n": manifest.sequence, "desk": args.desk, "path": output, "count": len(manifest.items)})
    if changes := len(manifest.data.get("key_changes", [])):  # alone, they are why a bundle was made
        print(
            _("Changes to who can read the desk's reports, for the officers to check: %(n)d") % {"n": changes}
        )


def cmd_import_replies(args: argparse.Namespace) -> None:
    cfg = _config(args)
    path = Path(args.bundle)
    if not path.is_file():
        raise CommandError(_("no such file: %(path)s") % {"path": path})
    store = _store(cfg)
    with db.standalone_session(cfg.database_url) as session:
        try:
            desk, count = bundles.import_replies(session, store, path)
        except BundleError as e:
            session.rollback()
            audit.record(session, ACTOR, "replies_refused", None, e.reason)
            session.commit()
            reason = _(errors.bundle_refusal(e))  # the desk's reply page says the same words
            if detail := errors.bundle_refusal_detail(e):
                reason = " ".join((reason, _("Details:"), detail))
            raise CommandError(_("refused, nothing imported: %(reason)s") % {"reason": reason}) from None
        audit.record(session, ACTOR, "replies_imported", desk.slug, f"{count} replies")
        session.commit()
        deleted = bundles.apply_retention(session, store, waits_for=cfg.retention_waits_for)
        if deleted:
            audit.record(session, ACTOR, "retention", None, f"{deleted} submissions deleted")
            session.commit()
    done = _("Replies imported for desk %(desk)s: %(n)d; submissions deleted by retention: %(deleted)d")
    print(done % {"desk": desk.slug, "n": count, "deleted": deleted})


def cmd_retention(args: argparse.Namespace) -> None:
    cfg = _config(args)
    try:
        on = dt.date.fromisoformat(args.on) if args.on else None
    except ValueError:
        raise CommandError(_("--on takes a day, YYYY-MM-DD")) from None
    store = _store(cfg)
    with db.standalone_session(cfg.database_url) as session:
        deleted = bundles.apply_retention(session, store, on, cfg.retention_waits_for)
        audit.record(session, ACTOR, "retention", None, f"{deleted} submissions deleted")
        session.commit()
        # The service sweeps these too, but only when a new upload starts: a quiet desk needs cron's.
        uploads = uploads_module.uploads_for(cfg, store)
        abandoned = uploads.sweep_abandoned(session, store, intake.upload_max_age_s(cfg))
        session.commit()
    done = _("Retention: submissions deleted: %(n)d; abandoned uploads and orphan blobs removed: %(removed)d")
    print(done % {"n": deleted, "removed": abandoned})


def _user(session: Session, name: str) -> DeskUser:
    user = session.scalar(select(DeskUser).where(DeskUser.name == name[:80]))
    if user is None:
        raise CommandError(_("no such user: %(user)s (see sealdrop user list)") % {"user": name})
    return user


def _sessions(session: Session) -> dict[int, int]:
    """How many desk sessions each user has open now (ended ones are deleted, auth.py)."""
    rows = session.execute(select(DeskSession.user_id, func.count()).group_by(DeskSession.user_id))
    return {user_id: count for user_id, count in rows}


def cmd_user_list(args: argparse.Namespace) -> None:
    cfg = _config(args)
    with db.standalone_session(cfg.database_url) as session:
        users = list(session.scalars(select(DeskUser).order_by(DeskUser.name)))
        open_sessions = _sessions(session)
        if not users:
            print(_("No desk users yet: sealdrop user add"))
        for user in users:
            where = _("desk %(desk)s") % {"desk": user.desk.slug} if user.desk else _("every desk")
            state = _("disabled") if user.disabled else _("enabled")
            signed_in = _("sessions: %(n)d") % {"n": open_sessions.get(user.id, 0)}
            language = user.language or _("browser's language")
            print("\t".join((user.name, user.role, where, state, language, signed_in)))


def _set_disabled(args: argparse.Namespace, disabled: bool) -> None:
    cfg = _config(args)
    with db.standalone_session(cfg.database_url) as session:
        user = _user(session, args.name)
        user.disabled = disabled
        if disabled:  # a disabled user's open sessions end now, not at their idle timeout
            accounts.end_sessions(session, user)
        action = "user_disabled" if disabled else "user_enabled"
        audit.record(session, ACTOR, action, user.desk.slug if user.desk else None, user.name)
        session.commit()
        if disabled:
            done = _("Desk user disabled: %(user)s; signed out everywhere, and cannot log in")
        else:
            done = _("Desk user enabled: %(user)s; they log in with their password and authenticator")
        print(done % {"user": args.name})
        _warn_without_admin(session)


def _warn_without_admin(session: Session) -> None:
    """Allowed (the operator can always add one here), but the admin pages have nobody left."""
    admins = select(func.count()).select_from(DeskUser).where(DeskUser.role == "admin", ~DeskUser.disabled)
    if not session.scalar(admins):
        print(
            "  ! " + _("no enabled admin is left: nobody can open the desk's admin pages (sealdrop user add)")
        )


def cmd_user_disable(args: argparse.Namespace) -> None:
    _set_disabled(args, True)


def cmd_user_enable(args: argparse.Namespace) -> None:
    _set_disabled(args, False)


def cmd_user_remove(args: argparse.Namespace) -> None:
    """The login goes for good; the audit log keeps its name in what it did."""
    cfg = _config(args)
    with db.standalone_session(cfg.database_url) as session:
        user = _user(session, args.name)
        accounts.end_sessions(session, user)  # explicitly: SQLite enforces ON DELETE CASCADE only when asked
        audit.record(session, ACTOR, "user_removed", user.desk.slug if user.desk else None, user.name)
        session.delete(user)
        session.commit()
        print(_("Desk user removed: %(user)s; the audit log keeps what they did") % {"user": args.name})
        _warn_without_admin(session)


def _store(cfg: config_mod.Config):
    from ..blobs import open_store

    return open_store(cfg)


def add_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    _user_parsers(sub, parser_class)
    p = sub.add_parser("export", help=_("write the next signed export bundle of a desk"))
    p.add_argument(
        "--desk", required=True, metavar="SLUG", help=_("the desk whose new submissions to export")
    )
    p.add_argument(
        "-o", "--output", required=True, metavar="BUNDLE", help=_("the bundle file to write (a new file)")
    )
    p.add_argument("--again", type=int, metavar="N", help=_("bundle N again (until the viewer confirms it)"))
    p.set_defaults(run=cmd_export)
    p = sub.add_parser(
        "import-replies", help=_("import a reply bundle from the viewer, then apply retention")
    )
    p.add_argument("bundle", metavar="BUNDLE", help=_("the reply bundle the viewer wrote"))
    p.set_defaults(run=cmd_import_replies)
    p = sub.add_parser(
        "retention", help=_("delete ciphertext confirmed long enough ago, and abandoned uploads")
    )
    p.add_argument("--on", metavar="YYYY-MM-DD", help=_("pretend today is this day"))
    p.set_defaults(run=cmd_retention)


def _user_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    user = sub.add_parser("user", help=_("desk logins (password + TOTP)")).add_subparsers(
        dest="user_command", required=True, parser_class=parser_class
    )
    p = user.add_parser("add", help=_("add a desk user; prints the TOTP set-up once"))
    p.add_argument("name", metavar="NAME", help=_("the login name: letters, digits, . _ - @"))
    p.add_argument(
        "--role", required=True, choices=accounts.ROLES, help=_("admin (every desk, set-up) or clerk")
    )
    p.add_argument(
        "--desk",
        metavar="SLUG",
        help=_("a clerk's desk, or the one desk an admin administers (default: every desk)"),
    )
    p.set_defaults(run=cmd_user_add)
    p = user.add_parser("list", help=_("desk users: role, desk, enabled or not, language, open sessions"))
    p.set_defaults(run=cmd_user_list)
    for name, run, what in (
        ("disable", cmd_user_disable, _("stop a user logging in and end their open sessions")),
        ("enable", cmd_user_enable, _("let a disabled user log in again")),
        ("remove", cmd_user_remove, _("remove a login for good (the audit log keeps its name)")),
    ):
        p = user.add_parser(name, help=what)
        p.add_argument("name", metavar="NAME", help=_("the login name"))
        p.set_defaults(run=run)
