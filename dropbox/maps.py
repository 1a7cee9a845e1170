"""Map sheets (issue 16, docs/maps.md): georeferenced pictures of a desk's town, served by sealdrop.

A sheet is a PNG that sealdrop re-encoded itself (Pillow, under strict limits) and the four edges it
covers. Pixels are taken as linear in longitude and latitude between the edges (equirectangular):
for a town-sized sheet (at most MAX_SPAN_DEG across) a Web-Mercator picture differs from that by well
under a metre, much less than a finger on a phone. `sealdrop map render` draws its pictures that way.

Without JavaScript the sheet is an <input type="image"> inside the report form: a tap posts the form
to /r/<desk>/map with the tap's coordinates, in CSS pixels of the picture as shown. The picture is
shown at one of DISPLAY_WIDTHS, chosen by the page's CSS for the screen, and each width is its own
input name (map_w320.x), so the server knows the scale without any script. The form comes back with
everything typed and the point marked; Send seals it. The place is rounded to the precision the
reporter chose before anything is sealed, as the browser rounds the phone's location (round_to).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import math
import warnings
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from flask import Response, abort, url_for
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer
from werkzeug.datastructures import MultiDict

from . import db
from .console import _
from .models import Desk, MapSheet
from .parsing import whole_number

MAX_INPUT_BYTES = 8 * 1024 * 1024  # the picture file an operator adds
MAX_PIXELS = 12_000_000  # decoded, checked from the header before any pixel is decoded
MAX_SIDE = 2400  # pixels, each way: a sheet is for a phone screen, a detail sheet for zooming in
MIN_SIDE = 100
MAX_STORED_BYTES = 1024 * 1024  # after re-encoding: every reporter downloads it, often over Tor
MAX_SPAN_DEG = 0.5  # about 55 km north-south: a town, where "linear in degrees" holds
MIN_SPAN_DEG = 0.001  # about 110 m: less is no map (and the viewer refuses sheets under 0.0001)
DISPLAY_WIDTHS = (240, 320, 440, 560)  # CSS pixels; css/map.css shows one per screen width
MAX_SHEETS_PER_DESK = 20
# Every export bundle's signed manifest carries the desk's sheets in base64, and a manifest is at most
# crypto.bundle.MAX_MANIFEST (16 MiB): 6 MiB of pictures (8 in base64) leaves room for the rest.
MAX_DESK_BYTES = 6 * 1024 * 1024
PRECISION = {"exact": None, "100m": 3, "1km": 2}  # decimals kept, as the device mode (docs/report.md)
ROUNDING_M = {"exact": 0, "100m": 110, "1km": 1100}
METRES_PER_DEGREE = 111_320
CACHE_FOREVER = "public, max-age=31536000, immutable"  # the picture's hash is in its address
OSM_ATTRIBUTION = "© OpenStreetMap contributors"
OSM_LICENCE = "ODbL-1.0"


class MapError(ValueError):
    """A picture or bounds that cannot make a sheet, said in one line."""


class Bounds(NamedTuple):
    south: float
    west: float
    north: float
    east: float


# --- geometry --------------------------------------------------------------------------------------


def parse_bounds(text: str) -> Bounds:
    """`S,W,N,E` in decimal degrees, south below north, west left of east, at most MAX_SPAN_DEG."""
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise MapError(_("--bounds takes four numbers S,W,N,E in degrees, like 42.69,23.31,42.70,23.33"))
    south, west, north, east = values
    if not (-85 <= south < north <= 85 and -180 <= west < east <= 180):
        raise MapError(_("--bounds: south must be below north and west left of east (S,W,N,E)"))
    if north - south > MAX_SPAN_DEG or east - west > MAX_SPAN_DEG:
        raise MapError(_("--bounds: a sheet covers at most %(deg)s degrees each way") % {"deg": MAX_SPAN_DEG})
    if north - south < MIN_SPAN_DEG or east - west < MIN_SPAN_DEG:
        raise MapError(
            _("--bounds: a sheet covers at least %(deg)s degrees each way") % {"deg": MIN_SPAN_DEG}
        )
    return Bounds(south, west, north, east)


def bounds_of(sheet: MapSheet) -> Bounds:
    return Bounds(sheet.south, sheet.west, sheet.north, sheet.east)


def pixel_to_point(bounds: Bounds, width: int, height: int, x: int, y: int) -> tuple[float, float]:
    """(lat, lon) of the centre of pixel (x, y); map.mjs computes the very same expression."""
    lon = bounds.west + (x + 0.5) / width * (bounds.east - bounds.west)
    lat = bounds.north - (y + 0.5) / height * (bounds.north - bounds.south)
    return lat, lon


def point_to_pixel(bounds: Bounds, width: int, height: int, lat: float, lon: float) -> tuple[int, int]:
    """The pixel (x, y) holding (lat, lon); outside the sheet when the point is (map.mjs: the same)."""
    x = math.floor((lon - bounds.west) / (bounds.east - bounds.west) * width)
    y = math.floor((bounds.north - lat) / (bounds.north - bounds.south) * height)
    return x, y


def round_to(value: float, decimals: int | None) -> float:
    """`value` rounded half away from zero, as JavaScript's toFixed rounds (the browser's path)."""
    if decimals is None:
        return value
    step = Decimal(1).scaleb(-decimals)
    return float(Decimal(value).quantize(step, rounding=ROUND_HALF_UP))


def pixel_metres(bounds: Bounds, width: int, height: int) -> int:
    """How much ground one pixel of the sheet covers, rounded up: the sheet's own precision."""
    mid = math.radians((bounds.north + bounds.south) / 2)
    across = (bounds.east - bounds.west) * METRES_PER_DEGREE * math.cos(mid) / width
    down = (bounds.north - bounds.south) * METRES_PER_DEGREE / height
    return max(1, math.ceil(max(across, down)))


def where_on_sheet(sheet: MapSheet, x: int, y: int, precision: str) -> dict:
    """The report's `where` (docs/report.md, mode "map"), rounded to `precision` here, before sealing."""
    bounds = bounds_of(sheet)
    lat, lon = pixel_to_point(bounds, sheet.width, sheet.height, x, y)
    decimals = PRECISION[precision]
    accuracy = max(ROUNDING_M[precision], pixel_metres(bounds, sheet.width, sheet.height))
    return {
        "mode": "map",
        "sheet": str(sheet.id),
        "lat": round_to(lat, decimals),
        "lon": round_to(lon, decimals),
        "precision": precision,
        "accuracy_m": accuracy,
    }


# --- pictures --------------------------------------------------------------------------------------


def reencode(data: bytes) -> tuple[bytes, int, int]:
    """A palette PNG drawn again from the pixels of `data` (PNG, JPEG, WebP or GIF): nothing of the
    file but its pixels survives. Raises MapError for anything too big, too small or not a picture."""
    if len(data) > MAX_INPUT_BYTES:
        raise MapError(_("the picture is larger than %(mb)d MB") % {"mb": MAX_INPUT_BYTES // 2**20})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=("PNG", "JPEG", "WEBP", "GIF"))
            width, height = img.size
            if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
                raise MapError(
                    _("the picture is %(w)d×%(h)d pixels; a sheet has at most %(side)d on each side")
                    % {"w": width, "h": height, "side": MAX_SIDE}
                )
            if min(width, height) < MIN_SIDE:
                raise MapError(
                    _("the picture is too small: at least %(side)d pixels each way") % {"side": MIN_SIDE}
                )
            img.load()
    except MapError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):  # Pillow's own, larger limit
        raise MapError(
            _("the picture has too many pixels; a sheet has at most %(side)d on each side")
            % {"side": MAX_SIDE}
        ) from None
    except (OSError, ValueError, SyntaxError):
        raise MapError(_("this file is not a picture sealdrop can read (PNG, JPEG, WebP or GIF)")) from None
    rgb = Image.new("RGB", img.size, (255, 255, 255))
    rgb.paste(img.convert("RGBA"), mask=img.convert("RGBA"))  # transparency over white, as on the page
    out = io.BytesIO()
    rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
    png = out.getvalue()
    if len(png) > MAX_STORED_BYTES:
        raise MapError(
            _("the sheet would weigh %(kb)d KB; at most %(max)d KB, for reporters on slow links")
            % {"kb": len(png) // 1024, "max": MAX_STORED_BYTES // 1024}
        )
    return png, width, height


# --- sheets of a desk ------------------------------------------------------------------------------


def sheets_of(session: Session, desk: Desk, *, with_images: bool = False) -> list[MapSheet]:
    query = select(MapSheet).where(MapSheet.desk_id == desk.id).order_by(MapSheet.id)
    if with_images:
        query = query.options(undefer(MapSheet.image))
    return list(session.scalars(query))


def image_url(desk: Desk, sheet: MapSheet) -> str:
    return url_for("report.map_image", slug=desk.slug, sheet_id=sheet.id, digest=sheet.sha256[:16])


def image_response(desk: Desk, sheet_id: int, digest: str) -> Response:
    """The sheet's picture, cached for a year: its address changes whenever its bytes do."""
    sheet = db.session().scalar(
        select(MapSheet)
        .where(MapSheet.id == sheet_id, MapSheet.desk_id == desk.id)
        .options(undefer(MapSheet.image))
    )
    if sheet is None or sheet.sha256[:16] != digest:
        abort(404)
    return Response(sheet.image, mimetype="image/png", headers={"Cache-Control": CACHE_FOREVER})


def export_sheets(session: Session, desk: Desk) -> list[dict]:
    """The export manifest's `map_sheets` (docs/maps.md): what the viewer draws reports on."""
    return [
        {
            "id": str(s.id),
            "names": dict(s.names),
            "bounds": list(bounds_of(s)),
            "width": s.width,
            "height": s.height,
            "media_type": "image/png",
            "sha256": s.sha256,
            "attribution": s.attribution,
            "licence": s.licence,
            "detail_of": str(s.detail_of_id) if s.detail_of_id is not None else None,
            "data": base64.b64encode(s.image).decode("ascii"),
        }
        for s in sheets_of(session, desk, with_images=True)
    ]


# --- the reporter's page ---------------------------------------------------------------------------


def find_sheet(sheets: list[MapSheet], raw: object) -> MapSheet | None:
    wanted = whole_number(raw, 1, 2**31 - 1)
    return next((s for s in sheets if s.id == wanted), None)


def _point(sheet: MapSheet, values: MultiDict | dict) -> tuple[int, int] | None:
    x = whole_number(values.get("map_x", ""), 0, sheet.width - 1)
    y = whole_number(values.get("map_y", ""), 0, sheet.height - 1)
    return None if x is None or y is None else (x, y)


def _precision(values: MultiDict | dict) -> str:
    chosen = values.get("map_precision", "100m")
    return chosen if chosen in PRECISION else "100m"


def where_from_form(desk: Desk, form: MultiDict) -> dict | None:
    """The sealed `where` for a form in map mode, or None when no point was marked on a desk's sheet."""
    sheet = find_sheet(sheets_of(db.session(), desk), form.get("map_sheet", ""))
    point = _point(sheet, form) if sheet else None
    if point is None:
        return None
    return where_on_sheet(sheet, *point, _precision(form))


def after_tap(desk: Desk, form: MultiDict, values: dict) -> None:
    """Put a tap on the map (or "choose again") into `values`, the form as it comes back."""
    sheets = sheets_of(db.session(), desk)
    sheet = find_sheet(sheets, form.get("map_sheet", "")) or next(iter(sheets), None)
    values["where_mode"] = "map"
    values["map_x"] = values["map_y"] = ""
    if sheet is None or form.get("map_clear"):
        return
    target = find_sheet(sheets, form.get("map_show", ""))  # "Closer map" or "Whole map"
    if target is not None and target.id != sheet.id:
        _switch(sheet, target, form, values)
        return
    for shown in DISPLAY_WIDTHS:
        tap_x = whole_number(form.get(f"map_w{shown}.x", ""), 0, 10 * MAX_SIDE)
        tap_y = whole_number(form.get(f"map_w{shown}.y", ""), 0, 10 * MAX_SIDE)
        if tap_x == 0 and tap_y == 0:  # a keyboard pressed the image button: no place was pointed at
            values["map_keyboard"] = "yes"
            return
        if tap_x is not None and tap_y is not None:  # CSS pixels of the picture shown `shown` wide
            values["map_x"] = str(min(sheet.width - 1, tap_x * sheet.width // shown))
            values["map_y"] = str(min(sheet.height - 1, tap_y * sheet.width // shown))
            return


def _switch(sheet: MapSheet, target: MapSheet, form: MultiDict, values: dict) -> None:
    """Show `target` instead of `sheet`, keeping the marked point where it falls inside it."""
    values["map_sheet"] = str(target.id)
    point = _point(sheet, form)
    if point is None:
        return
    lat, lon = pixel_to_point(bounds_of(sheet), sheet.width, sheet.height, *point)
    x, y = point_to_pixel(bounds_of(target), target.width, target.height, lat, lon)
    if 0 <= x < target.width and 0 <= y < target.height:
        values["map_x"], values["map_y"] = str(x), str(y)


def _closer(sheets: list[MapSheet], sheet: MapSheet, point: tuple[int, int] | None) -> MapSheet | None:
    """A detail sheet of `sheet`: the one holding the point, if any does, else the first."""
    details = [s for s in sheets if s.detail_of_id == sheet.id]
    if point is not None:
        lat, lon = pixel_to_point(bounds_of(sheet), sheet.width, sheet.height, *point)
        holding = [s for s in details if s.south <= lat <= s.north and s.west <= lon <= s.east]
        details = holding or details
    return next(iter(details), None)


def page_view(desk: Desk, values: dict) -> dict | None:
    """What report.html needs to draw the map step, or None when the desk has no sheet."""
    sheets = sheets_of(db.session(), desk)
    if not sheets:
        return None
    overviews = [s for s in sheets if s.detail_of_id is None] or sheets
    sheet = find_sheet(sheets, values.get("map_sheet", "")) or overviews[0]
    point = _point(sheet, values)
    view = {
        "sheet": sheet,
        "url": image_url(desk, sheet),
        "widths": [(w, round(sheet.height * w / sheet.width)) for w in DISPLAY_WIDTHS],
        "precision": _precision(values),
        "point": None,
        "js": {str(s.id): _for_script(desk, s) for s in sheets},
        "closer": getattr(_closer(sheets, sheet, point), "id", None),
        "wider": sheet.detail_of_id,
    }
    if point is not None:
        where = where_on_sheet(sheet, *point, "exact")
        view["point"] = {
            "x": point[0],
            "y": point[1],
            "lat": round_to(where["lat"], 5),
            "lon": round_to(where["lon"], 5),
            # Where the marker goes, in whole percent of the picture (css/map.css: pin-x-N, pin-y-N).
            "left": round(100 * (point[0] + 0.5) / sheet.width),
            "top": round(100 * (point[1] + 0.5) / sheet.height),
        }
    return view


def _for_script(desk: Desk, sheet: MapSheet) -> dict:
    bounds = bounds_of(sheet)
    return {
        "url": image_url(desk, sheet),
        "bounds": list(bounds),
        "width": sheet.width,
        "height": sheet.height,
        "pixel_m": pixel_metres(bounds, sheet.width, sheet.height),
        "detail_of": str(sheet.detail_of_id) if sheet.detail_of_id else None,
    }


# --- adding a sheet (sealdrop map add, map_commands.py) ---------------------------------------------


def add_sheet(
    session: Session,
    desk: Desk,
    png: bytes,
    bounds: Bounds,
    names: dict[str, str],
    *,
    attribution: str = "",
    licence: str = "",
    detail_of: MapSheet | None = None,
) -> MapSheet:
    """Re-encode `png` (any picture reencode takes) and add it to `desk` (the caller commits)."""
    image, width, height = reencode(png)
    if len(sheets_of(session, desk)) >= MAX_SHEETS_PER_DESK:
        raise MapError(_("a desk has at most %(n)d map sheets") % {"n": MAX_SHEETS_PER_DESK})
    stored = session.scalar(
        select(func.coalesce(func.sum(func.length(MapSheet.image)), 0)).where(MapSheet.desk_id == desk.id)
    )
    if stored + len(image) > MAX_DESK_BYTES:
        raise MapError(
            _("a desk's map sheets weigh at most %(mb)d MB together (they travel in every export)")
            % {"mb": MAX_DESK_BYTES // 2**20}
        )
    if detail_of is not None and not _inside(bounds, bounds_of(detail_of)):
        raise MapError(_("a detail sheet must lie inside the sheet it details"))
    sheet = MapSheet(
        desk_id=desk.id,
        names=names or {"en": desk.name("en")},
        south=bounds.south,
        west=bounds.west,
        north=bounds.north,
        east=bounds.east,
        width=width,
        height=height,
        sha256=hashlib.sha256(image).hexdigest(),
        image=image,
        attribution=attribution[:300],
        licence=licence[:100],
        detail_of_id=detail_of.id if detail_of else None,
    )
    session.add(sheet)
    session.flush()
    return sheet


def _inside(inner: Bounds, outer: Bounds) -> bool:
    return (
        outer.south <= inner.south
        and inner.north <= outer.north
        and outer.west <= inner.west
        and inner.east <= outer.east
    )


def add_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add `sealdrop map ...` to `sub` (the commands are in map_commands.py)."""
    from .map_commands import add_parsers as add

    add(sub, parser_class)
