"""`sealdrop map add|list|remove|render` (docs/maps.md), for dropbox.cli's parser (`add_parsers`).

    sealdrop map add --desk SLUG --image FILE --bounds S,W,N,E [--name LANG=TEXT]... [--attribution TEXT]
                     [--licence TEXT] [--detail-of SHEET]
    sealdrop map list [--desk SLUG]
    sealdrop map remove --desk SLUG SHEET
    sealdrop map render --osm FILE.osm --bounds S,W,N,E -o FILE.png [--width PIXELS] [--desk SLUG ...]

Each failure is one line (MapError, CommandError) and stores nothing; `render` leaves no partial file.
Every change is in the audit log as done by "cli".
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

from sqlalchemy.orm import Session

from .console import _
from .maps import (
    MAX_INPUT_BYTES,
    OSM_ATTRIBUTION,
    OSM_LICENCE,
    MapError,
    add_sheet,
    find_sheet,
    parse_bounds,
    sheets_of,
)
from .models import Desk, MapSheet

MIN_WIDTH, MAX_WIDTH = 400, 1600  # a phone shows 240-560 CSS pixels; past 1600 only the weight grows


def _sheet_of_desk(session: Session, desk: Desk, raw: str) -> MapSheet:
    found = find_sheet(sheets_of(session, desk), raw)
    if found is None:
        raise MapError(
            _("desk %(desk)s has no map sheet %(sheet)s (see sealdrop map list)")
            % {"desk": desk.slug, "sheet": raw}
        )
    return found


def cmd_add(args: argparse.Namespace) -> None:
    from .desk import audit
    from .desk.commands import ACTOR, desk_by_slug
    from .desk.setup_commands import open_session, parse_names

    cfg, session = open_session(args)
    bounds = parse_bounds(args.bounds)
    names = parse_names(args.name, cfg.languages)
    data = _read_picture(Path(args.image))
    with session:
        desk = desk_by_slug(session, args.desk)
        parent = _sheet_of_desk(session, desk, args.detail_of) if args.detail_of else None
        sheet = add_sheet(
            session,
            desk,
            data,
            bounds,
            names,
            attribution=args.attribution or "",
            licence=args.licence or "",
            detail_of=parent,
        )
        audit.record(session, ACTOR, "map_added", desk.slug, f"sheet {sheet.id}")
        session.commit()
        print(
            _("Map sheet %(sheet)s added to desk %(desk)s: %(w)d×%(h)d pixels, %(kb)d KB")
            % {
                "sheet": sheet.id,
                "desk": desk.slug,
                "w": sheet.width,
                "h": sheet.height,
                "kb": math.ceil(len(sheet.image) / 1024),
            }
        )


def _read_picture(path: Path) -> bytes:
    if not path.is_file():
        raise MapError(_("no such file: %(path)s") % {"path": path})
    if path.stat().st_size > MAX_INPUT_BYTES:
        raise MapError(_("the picture is larger than %(mb)d MB") % {"mb": MAX_INPUT_BYTES // 2**20})
    return path.read_bytes()


def cmd_list(args: argparse.Namespace) -> None:
    from .console import language
    from .desk.commands import desk_by_slug
    from .desk.setup_commands import all_desks, open_session

    _cfg, session = open_session(args)
    with session:
        desks = [desk_by_slug(session, args.desk)] if args.desk else all_desks(session)
        shown = 0
        for desk in desks:
            for s in sheets_of(session, desk):
                shown += 1
                detail = "\t" + _("detail of %(sheet)s") % {"sheet": s.detail_of_id} if s.detail_of_id else ""
                print(
                    f"{s.id}\t{desk.slug}\t{s.name(language())}\t{s.width}×{s.height}\t"
                    f"{s.south},{s.west},{s.north},{s.east}\t{s.attribution}{detail}"
                )
        if not shown:
            print(_("No map sheets yet: sealdrop map add"))


def cmd_remove(args: argparse.Namespace) -> None:
    from .desk import audit
    from .desk.commands import ACTOR, desk_by_slug
    from .desk.setup_commands import open_session

    _cfg, session = open_session(args)
    with session:
        desk = desk_by_slug(session, args.desk)
        sheet = _sheet_of_desk(session, desk, args.sheet)
        if any(s.detail_of_id == sheet.id for s in sheets_of(session, desk)):
            raise MapError(_("remove the detail sheets of sheet %(sheet)s first") % {"sheet": sheet.id})
        session.delete(sheet)
        audit.record(session, ACTOR, "map_removed", desk.slug, f"sheet {sheet.id}")
        session.commit()
    print(_("Map sheet %(sheet)s removed from desk %(desk)s") % {"sheet": args.sheet, "desk": desk.slug})


def cmd_render(args: argparse.Namespace) -> None:
    from crypto.cli import atomic_output

    from .maprender import render_osm

    bounds = parse_bounds(args.bounds)
    folder = Path(args.output).parent
    if not folder.is_dir():  # found before the drawing, and said plainly (not as a temporary file's name)
        raise MapError(_("no such folder: %(path)s") % {"path": folder})
    if args.desk:
        _check_sheet_target(args)  # before drawing: a refused --desk, --name or --detail-of leaves no picture
    png = render_osm(Path(args.osm), bounds, args.width)
    with atomic_output(args.output, binary_to_tty_ok=False) as out:
        out.write(png)
    print(
        _("Map drawn: %(path)s, %(kb)d KB. Show it with: %(attribution)s (%(licence)s)")
        % {
            "path": args.output,
            "kb": math.ceil(len(png) / 1024),
            "attribution": OSM_ATTRIBUTION,
            "licence": OSM_LICENCE,
        }
    )
    if args.desk:
        args.image, args.attribution, args.licence = args.output, OSM_ATTRIBUTION, OSM_LICENCE
        cmd_add(args)


def _check_sheet_target(args: argparse.Namespace) -> None:
    """What `map add` would refuse about where the sheet goes, checked without storing anything."""
    from .desk.commands import desk_by_slug
    from .desk.setup_commands import open_session, parse_names

    cfg, session = open_session(args)
    parse_names(args.name, cfg.languages)
    with session:
        desk = desk_by_slug(session, args.desk)
        if args.detail_of:
            _sheet_of_desk(session, desk, args.detail_of)


def add_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add `sealdrop map ...` to `sub`."""
    top = sub.add_parser("map", help=_("map sheets reporters tap to say where (docs/maps.md)"))
    verbs = top.add_subparsers(dest="map_command", required=True, parser_class=parser_class)
    p = verbs.add_parser("add", help=_("add a georeferenced picture to a desk"))
    p.add_argument("--desk", required=True, metavar="SLUG", help=_("the desk whose reporters see the sheet"))
    p.add_argument(
        "--image", required=True, metavar="FILE", help=_("PNG, JPEG, WebP or GIF; re-encoded as PNG")
    )
    _sheet_options(p)
    p.set_defaults(run=cmd_add)
    _negative_bounds(p)
    p = verbs.add_parser("list", help=_("the map sheets of every desk, or of one"))
    p.add_argument("--desk", metavar="SLUG", help=_("only this desk's sheets"))
    p.set_defaults(run=cmd_list)
    p = verbs.add_parser("remove", help=_("remove a map sheet from a desk"))
    p.add_argument("--desk", required=True, metavar="SLUG", help=_("the desk the sheet belongs to"))
    p.add_argument("sheet", metavar="SHEET", help=_("its number, from sealdrop map list"))
    p.set_defaults(run=cmd_remove)
    p = verbs.add_parser("render", help=_("draw the streets of an OpenStreetMap extract (.osm) as a sheet"))
    p.add_argument("--osm", required=True, metavar="FILE.osm", help=_("the OpenStreetMap extract to draw"))
    p.add_argument("-o", "--output", required=True, metavar="FILE.png", help=_("the PNG picture to write"))
    p.add_argument(
        "--width",
        type=_width,
        default=900,
        metavar="PIXELS",
        help=_("the picture's width (%(least)d-%(most)d, default 900)")
        % {"least": MIN_WIDTH, "most": MAX_WIDTH},
    )
    p.add_argument("--desk", metavar="SLUG", help=_("also add the drawing to this desk as a sheet"))
    _sheet_options(p, render=True)
    p.set_defaults(run=cmd_render)
    _negative_bounds(p)


def _negative_bounds(p: argparse.ArgumentParser) -> None:
    """South of the equator or west of Greenwich, `--bounds -33.93,18.41,-33.92,18.43` starts with a
    minus: argparse takes only a lone number such as -33.9 for a value, and this for an unknown option
    ("expected one argument"). These parsers have no option that looks like a number, so a dash then a
    digit is a value here (argparse reads `_negative_number_matcher` for exactly this choice)."""
    p._negative_number_matcher = re.compile(r"^-\.?\d[\d.,-]*$")


def _width(raw: str) -> int:
    """--width: one short line when it is out of range (argparse's `choices` would list 1201 numbers)."""
    try:
        width = int(raw)
    except ValueError:
        width = 0
    if not MIN_WIDTH <= width <= MAX_WIDTH:
        raise argparse.ArgumentTypeError(
            f"give a number of pixels from {MIN_WIDTH} to {MAX_WIDTH}, not {raw}"
        )
    return width


def _sheet_options(p: argparse.ArgumentParser, *, render: bool = False) -> None:
    p.add_argument("--bounds", required=True, metavar="S,W,N,E", help=_("the edges in degrees"))
    p.add_argument(
        "--name", action="append", default=[], metavar="LANG=TEXT", help=_("the sheet's name, per language")
    )
    p.add_argument("--detail-of", metavar="SHEET", help=_("a closer view inside this sheet (the zoom)"))
    if not render:
        p.add_argument(
            "--attribution", metavar="TEXT", help=_("shown under the map, e.g. © OpenStreetMap contributors")
        )
        p.add_argument("--licence", metavar="TEXT", help=_("the picture's licence, e.g. ODbL-1.0"))
