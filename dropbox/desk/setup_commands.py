"""Where reports go, set up from the command line: desks and their categories.

    sealdrop desk add SLUG --name LANG=NAME... [--language L] | desk list
    sealdrop category add --desk SLUG CATEGORY --name LANG=TEXT... [--position N] [--route DESK]
    sealdrop category list [--desk SLUG]
    sealdrop category edit --desk SLUG CATEGORY [--name LANG=TEXT...] [--position N] [--route DESK]
    sealdrop category remove --desk SLUG CATEGORY [--force]

Officer keys, the other half of "where reports go", are in officer_commands.py.

The rules are the admin pages' (desk/admin/setup.py): slugs of lower-case letters, digits and dashes;
a category's explicit keys always belong to the desk its reports go to; a desk is open for reports
when one of its categories has a confirmed, unretired key to seal to (admin.common.not_ready).
What would close an open desk (the last category or the last key) is refused unless --force.
Every change is in the audit log as done by "cli".
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import config as config_mod
from .. import console, db
from ..console import _
from ..models import Category, Desk
from . import audit, keytrust
from .admin.common import SLUG, not_ready
from .commands import ACTOR, CommandError, desk_by_slug

MAX_NAME = 200


# --- shared pieces -------------------------------------------------------------------------------


def open_session(args: argparse.Namespace) -> tuple[config_mod.Config, Session]:
    cfg = config_mod.load(Path(args.dir))
    return cfg, db.standalone_session(cfg.database_url)


def parse_names(given: list[str], languages: tuple[str, ...], *, allow_empty: bool = False) -> dict[str, str]:
    """`--name LANG=TEXT` options as {lang: text}. With allow_empty (edit), `LANG=` asks to remove
    that language's name and comes back as an empty string."""
    names: dict[str, str] = {}
    for raw in given:
        lang, sep, text = raw.partition("=")
        lang, text = lang.strip(), " ".join(text.split())
        if not sep or lang not in languages:
            message = _("--name takes LANG=TEXT with LANG one of %(languages)s, not %(given)s")
            raise CommandError(message % {"languages": ", ".join(languages), "given": raw})
        if lang in names:
            raise CommandError(_("--name gives the %(lang)s name twice") % {"lang": lang})
        if not text and not allow_empty:
            raise CommandError(_("--name gives an empty %(lang)s name") % {"lang": lang})
        if len(text) > MAX_NAME:
            raise CommandError(_("a name has at most %(n)d characters") % {"n": MAX_NAME})
        names[lang] = text
    return names


def _check_slug(slug: str, what: str) -> None:
    if not SLUG.match(slug):
        message = _(
            "use lower-case letters, digits and dashes in %(what)s (1-40, like sofia-centre), not %(given)s"
        )
        raise CommandError(message % {"what": what, "given": slug})


def _names_text(names: dict[str, str]) -> str:
    ordered = [lang for lang in config_mod.LANGUAGES if lang in names]
    return "; ".join(f"{lang}={names[lang]}" for lang in ordered)


def is_open(desk: Desk) -> bool:
    """The reporter's form shows: some category has a confirmed, unretired key to seal to."""
    return not not_ready(desk)


def missing(desk: Desk) -> str | None:
    """What `desk` lacks before it can take reports, in one line, or None when it can. The reasons are
    the desk admin's (admin.common.not_ready), said for the command line."""
    says = {
        "no_categories": _("no category (add one: sealdrop category add)"),
        "no_officers": _("no confirmed officer key (sealdrop officer add, then officer confirm)"),
        # Categories and keys, yet none meet: each goes to another desk or to chosen keys that cannot read.
        "no_recipients": _("none of its categories has a confirmed key to seal to (category list)"),
    }
    return "; ".join(says[code] for code in not_ready(desk)) or None


def all_desks(session: Session) -> list[Desk]:
    return list(session.scalars(select(Desk).order_by(Desk.slug)))


# --- desks ---------------------------------------------------------------------------------------


def cmd_desk_add(args: argparse.Namespace) -> None:
    cfg, session = open_session(args)
    _check_slug(args.slug, "SLUG")
    names = parse_names(args.name, cfg.languages)
    if not names:
        raise CommandError(_("give the desk a name: --name LANG=NAME (once per language)"))
    if args.language not in cfg.languages:
        raise CommandError(
            _("--language takes one of %(languages)s") % {"languages": ", ".join(cfg.languages)}
        )
    with session:
        if session.scalar(select(Desk).where(Desk.slug == args.slug)):
            raise CommandError(_("a desk %(desk)s already exists") % {"desk": args.slug})
        session.add(Desk(slug=args.slug, names=names, default_language=args.language))
        audit.record(session, ACTOR, "desk_added", args.slug)
        session.commit()
    print(_("Desk added: %(desk)s, its reporters' page is /r/%(desk)s") % {"desk": args.slug})
    print("  " + _("it takes reports once it has a category and a confirmed officer key"))


def cmd_desk_list(args: argparse.Namespace) -> None:
    _cfg, session = open_session(args)
    with session:
        desks = all_desks(session)
        if not desks:
            print(_("No desks yet: sealdrop desk add"))
        for desk in desks:
            usable = sum(o.confirmed and not o.retired for o in desk.officers)
            counts = _("officer keys confirmed: %(n)d of %(total)d") % {
                "n": usable,
                "total": len(desk.officers),
            }
            print(f"{desk.slug}\t{desk.name(console.language())}\t{counts}")
            lacking = missing(desk)
            if lacking:
                print("  ! " + _("cannot take reports yet: %(missing)s") % {"missing": lacking})


# --- categories ----------------------------------------------------------------------------------


def _category(desk: Desk, slug: str) -> Category:
    found = next((c for c in desk.categories if c.slug == slug), None)
    if found is None:
        message = _("there is no category %(category)s on desk %(desk)s (see sealdrop category list)")
        raise CommandError(message % {"desk": desk.slug, "category": slug})
    return found


def _route(session: Session, owner: Desk, slug: str | None) -> Desk | None:
    """The desk a category's reports go to, None for the owner itself."""
    if not slug:
        return None
    target = desk_by_slug(session, slug)
    return None if target.id == owner.id else target


def cmd_category_add(args: argparse.Namespace) -> None:
    cfg, session = open_session(args)
    _check_slug(args.category, "CATEGORY")
    names = parse_names(args.name, cfg.languages)
    if not names:
        raise CommandError(_("give the category a name: --name LANG=TEXT (once per language)"))
    with session:
        desk = desk_by_slug(session, args.desk)
        if any(c.slug == args.category for c in desk.categories):
            message = _("there is already a category %(category)s on desk %(desk)s")
            raise CommandError(message % {"desk": desk.slug, "category": args.category})
        route = _route(session, desk, args.route)
        position = args.position
        if position is None:  # after the others, as the admin page adds them
            position = max((c.position for c in desk.categories), default=-1) + 1
        category = Category(desk=desk, slug=args.category, names=names, position=position, route_desk=route)
        session.add(category)
        target = route or desk
        keytrust.routing_changed(session, category, None, desk.slug, ACTOR)  # docs/key-trust.md
        audit.record(session, ACTOR, "category_added", desk.slug, f"{args.category} -> {target.slug}")
        session.commit()
        print(
            _("Category added: %(category)s on desk %(desk)s")
            % {"category": args.category, "desk": desk.slug}
        )
        _say_where(category)


def _say_where(category: Category) -> None:
    """Where the category's reports go and how many keys they are sealed to now."""
    target = category.target_desk
    keys = len(category.recipients())
    if category.route_desk is not None:
        print("  " + _("its reports go to desk %(desk)s, sealed to its keys only") % {"desk": target.slug})
    if keys:
        print("  " + _("officer keys its reports are sealed to now: %(n)d") % {"n": keys})
    else:
        message = _("not sealed to anyone yet: desk %(desk)s has no confirmed officer key")
        print("  ! " + message % {"desk": target.slug})


def cmd_category_list(args: argparse.Namespace) -> None:
    _cfg, session = open_session(args)
    with session:
        desks = [desk_by_slug(session, args.desk)] if args.desk else all_desks(session)
        for desk in desks:
            if not desk.categories:
                print(_("no categories yet on desk %(desk)s") % {"desk": desk.slug})
            for category in desk.categories:
                print(
                    "\t".join((desk.slug, category.slug, str(category.position), _names_text(category.names)))
                )
                _describe_category(category)


def _describe_category(category: Category) -> None:
    parts = []
    if category.route_desk is not None:
        parts.append(_("goes to desk %(desk)s") % {"desk": category.route_desk.slug})
    if category.officers:
        parts.append(
            _("chosen keys only: %(names)s") % {"names": ", ".join(o.name for o in category.officers)}
        )
    keys = len(category.recipients())
    parts.append(
        _("keys it is sealed to: %(n)d") % {"n": keys} if keys else _("takes no reports: no key to seal to")
    )
    print("  " + "; ".join(parts))


def cmd_category_edit(args: argparse.Namespace) -> None:
    cfg, session = open_session(args)
    if not args.name and args.position is None and args.route is None:
        raise CommandError(_("nothing to change: give --name, --position or --route"))
    names = parse_names(args.name, cfg.languages, allow_empty=True)
    with session:
        desk = desk_by_slug(session, args.desk)
        category = _category(desk, args.category)
        merged = {**category.names, **names}
        merged = {lang: text for lang, text in merged.items() if text}
        if not merged:
            raise CommandError(_("a category keeps a name in at least one language"))
        category.names = merged
        if args.position is not None:
            category.position = args.position
        readers, target_before = keytrust.readers(category), category.target_desk.slug
        if args.route is not None:
            _change_route(session, category, args.route)
        keytrust.routing_changed(session, category, readers, target_before, ACTOR)  # docs/key-trust.md
        target = category.target_desk
        audit.record(session, ACTOR, "category_changed", desk.slug, f"{category.slug} -> {target.slug}")
        session.commit()
        print(
            _("Category changed: %(category)s on desk %(desk)s")
            % {"category": category.slug, "desk": desk.slug}
        )
        _say_where(category)


def _change_route(session: Session, category: Category, slug: str) -> None:
    route = _route(session, category.desk, slug)
    if (route and route.id) == category.route_desk_id:
        return
    if category.officers:
        # Explicit keys belong to the old target desk: kept, they would seal this category's reports
        # to a desk that is no longer meant to read them (invariant 8). The new desk's keys take over.
        print("  " + _("its chosen keys belonged to the old desk: the new desk's confirmed keys read it now"))
        category.officers = []
    category.route_desk = route


def cmd_category_remove(args: argparse.Namespace) -> None:
    """Cases do not remember their category (models.Case): the category is inside the sealed report,
    and additions to a case are sealed to the keys its first report was sealed to. So removing one
    changes nothing stored; reporters just cannot pick it any more."""
    _cfg, session = open_session(args)
    with session:
        desk = desk_by_slug(session, args.desk)
        category = _category(desk, args.category)
        others_open = any(c.recipients() for c in desk.categories if c is not category)
        if is_open(desk) and not others_open and not args.force:
            message = _(
                "refused: the category %(category)s is the last one of desk %(desk)s that takes reports; "
                'without it reporters see "not open yet" (give --force to remove it anyway)'
            )
            raise CommandError(message % {"category": category.slug, "desk": desk.slug})
        desk.categories.remove(category)  # so that what follows sees the desk without it
        session.delete(category)
        audit.record(session, ACTOR, "category_removed", desk.slug, category.slug)
        session.commit()
        print(
            _("Category removed: %(category)s on desk %(desk)s")
            % {"category": args.category, "desk": desk.slug}
        )
        print("  " + _("cases already filed in it keep their desk and their replies; nothing stored changes"))
        if not is_open(desk):
            print(
                "  ! "
                + _("cannot take reports now, desk %(desk)s: %(missing)s")
                % {"desk": desk.slug, "missing": missing(desk)}
            )


# --- the parsers ---------------------------------------------------------------------------------


def add_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    _desk_parsers(sub, parser_class)
    _category_parsers(sub, parser_class)


def _name_option(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--name", action="append", default=[], metavar="LANG=TEXT", help=what)


def _desk_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    desk = sub.add_parser("desk", help=_("desks: one per municipality or unit that takes reports"))
    group = desk.add_subparsers(dest="desk_command", required=True, parser_class=parser_class)
    p = group.add_parser("add", help=_("add a desk; its reporters' page is /r/SLUG"))
    p.add_argument("slug", metavar="SLUG", help=_("the desk's short name in addresses, like sofia-centre"))
    _name_option(p, _("the desk's name in one language (bg, ru, kk or en); once per language"))
    p.add_argument(
        "--language",
        default="en",
        choices=config_mod.LANGUAGES,
        help=_("the language its pages fall back to"),
    )
    p.set_defaults(run=cmd_desk_add)
    p = group.add_parser("list", help=_("every desk, its officer keys, and what it lacks to take reports"))
    p.set_defaults(run=cmd_desk_list)


def _category_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    category = sub.add_parser(
        "category", help=_("what reporters choose from: per desk, each may go to another desk")
    )
    group = category.add_subparsers(dest="category_command", required=True, parser_class=parser_class)
    desk_help = _("the desk whose reporters choose it")
    p = group.add_parser("add", help=_("add a category to a desk"))
    p.add_argument("--desk", required=True, metavar="SLUG", help=desk_help)
    p.add_argument("category", metavar="CATEGORY", help=_("its short name, like graffiti"))
    _name_option(p, _("what reporters read, in one language (bg, ru, kk or en); once per language"))
    p.add_argument("--position", type=int, metavar="N", help=_("its place in the list (default: last)"))
    p.add_argument(
        "--route", metavar="DESK", help=_("file its reports with this desk instead, sealed to its keys")
    )
    p.set_defaults(run=cmd_category_add)
    p = group.add_parser("list", help=_("categories, where they go and how many keys read them"))
    p.add_argument("--desk", metavar="SLUG", help=_("only this desk's"))
    p.set_defaults(run=cmd_category_list)
    p = group.add_parser("edit", help=_("change a category's names, position or route"))
    p.add_argument("--desk", required=True, metavar="SLUG", help=desk_help)
    p.add_argument("category", metavar="CATEGORY", help=_("its short name"))
    _name_option(p, _("a new name in one language, once per language; LANG= alone removes that one"))
    p.add_argument("--position", type=int, metavar="N", help=_("its new place in the list"))
    p.add_argument(
        "--route", metavar="DESK", help=_("file its reports with this desk (its own desk: undo a route)")
    )
    p.set_defaults(run=cmd_category_edit)
    p = group.add_parser("remove", help=_("remove a category (filed cases keep their desk and replies)"))
    p.add_argument("--desk", required=True, metavar="SLUG", help=desk_help)
    p.add_argument("category", metavar="CATEGORY", help=_("its short name"))
    p.add_argument("--force", action="store_true", help=_("even when the desk would then take no reports"))
    p.set_defaults(run=cmd_category_remove)
