"""Officer keys from the command line: reports are sealed to a desk's confirmed, unretired keys.

    sealdrop officer add --desk SLUG PUBLIC_KEY_FILE [--name NAME] [--confirmed]
    sealdrop officer list [--desk SLUG]
    sealdrop officer confirm NUMBER     asks for the fingerprint as the officer reads it aloud
    sealdrop officer retire NUMBER [--force]
    sealdrop officer statement --desk SLUG FILE     apply a key statement an officer signed

A key is confirmed only when the fingerprint the operator types, as the officer reads it from their
own machine, matches the one the server computed from the .pub file: what the admin page's tick box
asks for, made a check. That confirms only the first key of a desk that never had one; after that a
new key becomes a recipient only with a key statement signed by one of the desk's officers
(docs/key-trust.md): `officer add` registers it pending, `officer statement` applies the statement
(or it arrives in a reply bundle). A retired key gets no new report or addition; what was sealed to it before
still opens in the viewer. Retiring a desk's last key would close the desk to reporters ("not open
yet"), so that takes --force. Every change is in the audit log as done by "cli".
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto import PublicKey

from ..console import _
from ..models import Officer
from . import audit, keytrust
from .commands import ACTOR, CommandError, desk_by_slug
from .setup_commands import MAX_NAME, all_desks, is_open, missing, open_session


def _officer(session: Session, ident: int) -> Officer:
    officer = session.get(Officer, ident) if 0 < ident < 2**31 else None
    if officer is None:
        raise CommandError(_("no officer number %(n)d (see sealdrop officer list)") % {"n": ident})
    return officer


def _detail(officer: Officer) -> str:
    """What the audit log says about a key: whose, and the start of its id (never more is needed)."""
    return f"{officer.name}, key {officer.key_id[:16]}"


def _state(officer: Officer) -> str:
    if officer.retired:
        state = _("retired")
    elif officer.confirmed:
        state = _("confirmed")
    else:
        state = _("not confirmed")
    return f"{state}, DEMO ONLY" if officer.demo else state


def _trust_error(e: keytrust.KeyTrustError) -> CommandError:
    return CommandError(e.text(_))


def cmd_officer_add(args: argparse.Namespace) -> None:
    _cfg, session = open_session(args)
    key = PublicKey.load(Path(args.public_key_file))
    name = " ".join(args.name.split())[:MAX_NAME]
    with session:
        desk = desk_by_slug(session, args.desk)
        try:
            officer = keytrust.register(session, desk, name, key, ACTOR)
            if args.confirmed:
                keytrust.confirm_by_admin(session, officer, ACTOR)
        except keytrust.KeyTrustError as e:
            raise _trust_error(e) from None
        audit.record(session, ACTOR, "officer_registered", desk.slug, _detail(officer))
        if args.confirmed:
            audit.record(session, ACTOR, "officer_confirmed", desk.slug, _detail(officer))
        session.commit()
        ident, bootstrap = officer.id, not keytrust.has_officers(desk, besides=officer)
    print(_("fingerprint: %(fingerprint)s") % {"fingerprint": key.fingerprint})
    if args.confirmed:
        return
    if bootstrap:
        message = _(
            "officer number %(n)d: read the fingerprint back with the officer by phone, then "
            "sealdrop officer confirm %(n)d"
        )
    else:
        message = _(
            "officer number %(n)d is pending: desk %(desk)s has officers, so the key becomes a recipient "
            "only when one of them confirms it (sealview confirm-key, then sealdrop officer statement)"
        )
    print(message % {"n": ident, "desk": args.desk})


def cmd_officer_list(args: argparse.Namespace) -> None:
    _cfg, session = open_session(args)
    with session:
        query = select(Officer).order_by(Officer.desk_id, Officer.id)
        if args.desk:
            query = query.where(Officer.desk_id == desk_by_slug(session, args.desk).id)
        officers = list(session.scalars(query))
        if not officers:
            print(_("No officer keys yet: sealdrop officer add"))
        for o in officers:
            print("\t".join((str(o.id), o.desk.slug, o.name, o.fingerprint, _state(o))))


def digits(fingerprint: str) -> str:
    """A fingerprint as typed (spaces, dashes, any grouping) down to its 25 digits."""
    return "".join(c for c in fingerprint if c.isascii() and c.isdigit())


def _read_back() -> str:
    try:
        return input(_("Type the fingerprint as the officer reads it to you: "))
    except EOFError:
        raise CommandError(_("no fingerprint typed: the officer reads it, you type it")) from None


def cmd_officer_confirm(args: argparse.Namespace) -> None:
    _cfg, session = open_session(args)
    with session:
        officer = _officer(session, args.officer)
        if officer.retired:
            message = _(
                "officer number %(n)d is retired and stays so: the officer makes a new key "
                "(python -m crypto keygen) and you add that"
            )
            raise CommandError(message % {"n": officer.id})
        if officer.confirmed:
            print(_("officer number %(n)d is already confirmed") % {"n": officer.id})
            return
        if keytrust.has_officers(officer.desk, besides=officer):  # before asking for the fingerprint
            try:
                keytrust.confirm_by_admin(session, officer, ACTOR)
            except keytrust.KeyTrustError as e:
                raise _trust_error(e) from None
        print(
            _("The officer on the phone should be %(name)s, of desk %(desk)s")
            % {"name": officer.name, "desk": officer.desk.slug}
        )
        if digits(_read_back()) != digits(officer.fingerprint):
            raise CommandError(
                _("the fingerprints differ: not confirmed. Check that the officer sent this key file")
            )
        keytrust.confirm_by_admin(session, officer, ACTOR)
        audit.record(session, ACTOR, "officer_confirmed", officer.desk.slug, _detail(officer))
        session.commit()
        print(
            _("Confirmed: new reports to desk %(desk)s are sealed to this key too")
            % {"desk": officer.desk.slug}
        )


def cmd_officer_retire(args: argparse.Namespace) -> None:
    _cfg, session = open_session(args)
    with session:
        officer = _officer(session, args.officer)
        if officer.retired:
            print(_("officer number %(n)d is already retired") % {"n": officer.id})
            return
        desks = all_desks(session)
        open_before = {d.id for d in desks if is_open(d)}
        readable_before = {c.id for d in desks for c in d.categories if c.recipients()}
        keytrust.retire(session, officer, ACTOR)  # in this transaction only, until the checks below pass
        # A desk whose categories all go to this key's desk closes with it too, so every desk is asked.
        closing = [d for d in desks if d.id in open_before and not is_open(d)]
        if closing and not args.force:
            session.rollback()
            message = _(
                "refused: without this key desk %(desk)s has no key to seal reports to and shows reporters "
                '"not open yet" until another key is confirmed (give --force to retire it anyway)'
            )
            raise CommandError(message % {"desk": ", ".join(d.slug for d in closing)})
        dark = [
            f"{d.slug}/{c.slug}"
            for d in desks
            for c in d.categories
            if c.id in readable_before and not c.recipients()
        ]
        audit.record(session, ACTOR, "officer_retired", officer.desk.slug, _detail(officer))
        session.commit()
        print(_("Retired: no new report or addition is sealed to officer number %(n)d") % {"n": officer.id})
        print("  " + _("what was sealed to it before still opens with the officer's identity"))
        if dark:
            print(
                "  ! "
                + _("these categories take no reports now: %(categories)s") % {"categories": ", ".join(dark)}
            )
        for desk in closing:
            lacking = _("cannot take reports now, desk %(desk)s: %(missing)s")
            print("  ! " + lacking % {"desk": desk.slug, "missing": missing(desk)})


def cmd_officer_statement(args: argparse.Namespace) -> None:
    _cfg, session = open_session(args)
    text = Path(args.file).read_text("utf-8", errors="replace")[: keytrust.st.MAX_TEXT + 1]
    with session:
        desk = desk_by_slug(session, args.desk)
        try:
            applied = keytrust.apply(session, desk, keytrust.parse(text))
        except keytrust.KeyTrustError as e:
            raise _trust_error(e) from None
        s = applied.statement
        audit.record(
            session,
            ACTOR,
            f"key_{s.action}",
            desk.slug,
            f"{applied.officer.name}, key {s.subject_key_id[:16]}",
        )
        session.commit()
        words = {
            "admit": _(
                "Confirmed by officer key %(key)s: new reports to desk %(desk)s are sealed to %(name)s too"
            ),
            "rotate": _(
                "Rotated by officer key %(key)s: new reports to desk %(desk)s are sealed to the new key "
                "of %(name)s"
            ),
            "retire": _(
                "Retired by officer key %(key)s: no new report to desk %(desk)s is sealed to %(name)s"
            ),
        }
        print(words[s.action] % {"key": s.signer[:16], "desk": desk.slug, "name": applied.officer.name})
        print("  " + _("fingerprint: %(fingerprint)s") % {"fingerprint": applied.officer.fingerprint})


# --- the parser ----------------------------------------------------------------------------------


def add_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    officer = sub.add_parser(
        "officer", help=_("officer public keys: reports are sealed to the confirmed ones")
    )
    group = officer.add_subparsers(dest="officer_command", required=True, parser_class=parser_class)
    p = group.add_parser(
        "add", help=_("register an officer's public key (the .pub file); prints its fingerprint")
    )
    p.add_argument(
        "--desk", required=True, metavar="SLUG", help=_("the desk whose reports the officer reads")
    )
    p.add_argument("--name", default="officer", help=_("the officer's name, as the desk knows them"))
    p.add_argument(
        "--confirmed", action="store_true", help=_("the fingerprint was already read back by phone")
    )
    p.add_argument("public_key_file", metavar="PUBLIC_KEY_FILE", help=_("the officer's .pub file"))
    p.set_defaults(run=cmd_officer_add)
    p = group.add_parser("list", help=_("officer keys: number, desk, name, fingerprint, state"))
    p.add_argument("--desk", metavar="SLUG", help=_("only this desk's"))
    p.set_defaults(run=cmd_officer_list)
    p = group.add_parser(
        "confirm", help=_("confirm a key once the officer has read its fingerprint back to you")
    )
    p.add_argument(
        "officer", type=int, metavar="NUMBER", help=_("the officer's number from sealdrop officer list")
    )
    p.set_defaults(run=cmd_officer_confirm)
    p = group.add_parser(
        "retire", help=_("seal no new report or addition to this key (earlier ones still open)")
    )
    p.add_argument(
        "officer", type=int, metavar="NUMBER", help=_("the officer's number from sealdrop officer list")
    )
    p.add_argument("--force", action="store_true", help=_("even when it is a desk's last confirmed key"))
    p.set_defaults(run=cmd_officer_retire)
    p = group.add_parser(
        "statement",
        help=_("apply a key statement signed by an officer of the desk (admit, rotate, retire a key)"),
    )
    p.add_argument("--desk", required=True, metavar="SLUG", help=_("the desk the statement is for"))
    p.add_argument(
        "file", metavar="FILE", help=_("the statement file (sealview confirm-key or rotate wrote it)")
    )
    p.set_defaults(run=cmd_officer_statement)
