"""The desk's map sheets: pictures of its town with known bounds, drawn on without any network.

They arrive in the signed export manifest (`map_sheets`, docs/viewer.md "Maps"). The signature says
the server sent them, not that they are sane: a compromised server signs anything. So every claim is
checked here before any item of the bundle is read (shape, sizes, bounds, the SHA-256 of the bytes),
the picture is decoded by Pillow under size and pixel limits (PNG only) and re-encoded; only the
re-encoded PNG is kept (in the sealed reports database) and ever drawn on or served.

A newer export that carries the field replaces the desk's sheets; pictures no sheet uses any more are
dropped. Old cases are drawn on the current sheets: a case keeps its latitude and longitude, not
pixels, so any sheet that covers the point draws it in the right place.

Projection: a sheet maps latitude and longitude linearly onto its pixels (equirectangular over the
sheet's bounds), which is what a town-sized sheet cut from any map is, to well under a pixel.
"""

from __future__ import annotations

import base64
import binascii
import collections
import hashlib
import io
import json
import math
import re
import sqlite3
import threading
import warnings
from dataclasses import dataclass, field

from PIL import Image, ImageDraw, ImageFont

from . import documents, geo
from .errors import Refused
from .i18n import _

MAX_SHEETS = 32  # the server keeps at most 20 a desk (dropbox/maps.py)
MAX_SHEET_BYTES = 8 * 1024 * 1024  # one sheet's PNG, decoded from base64
MAX_ALL_BYTES = 48 * 1024 * 1024  # all sheets of one manifest
MIN_SIDE, MAX_SIDE = 16, 8192
MAX_PIXELS = 25_000_000  # 100 MB as RGBA while decoding: the most we allow
MAX_SPAN_DEG = 5.0  # a sheet shows a town or a district, not a country
MIN_SPAN_DEG = 0.0001  # about 11 m
SHEET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")

MARKER = (214, 0, 110)  # the reported point and the clusters: a colour street maps do not use
CIRCLE = (20, 90, 200)  # the precision circle's outline
VIEW = (720, 540)  # the case page shows this much of the sheet around the point, at its own scale
HOTSPOT_SIDE = 1400  # the hotspots page fits the whole sheet into this
MAX_MARKERS = 150
PRECISION_M = {"100m": 100.0, "1km": 1000.0}


@dataclass(frozen=True)
class Sheet:
    id: str
    names: dict[str, str]
    south: float
    west: float
    north: float
    east: float
    width: int
    height: int
    sha256: str  # of the picture as the server sent it: the key it is kept under
    attribution: str
    licence: str
    detail_of: str | None
    png: bytes = field(default=b"", repr=False)  # re-encoded here; empty when already kept

    def contains(self, lat: float, lon: float) -> bool:
        return self.south <= lat <= self.north and self.west <= lon <= self.east

    def pixel(self, lat: float, lon: float) -> tuple[float, float]:
        """Where (lat, lon) falls on the full-size sheet, in pixels from its top left corner."""
        x = (lon - self.west) / (self.east - self.west) * self.width
        y = (self.north - lat) / (self.north - self.south) * self.height
        return x, y

    def pixels_per_metre(self, lat: float) -> tuple[float, float]:
        """(across, down): a degree of longitude is shorter away from the equator."""
        kx = geo.M_PER_DEG_LAT * max(0.01, math.cos(math.radians(lat)))
        return (
            self.width / ((self.east - self.west) * kx),
            self.height / ((self.north - self.south) * geo.M_PER_DEG_LAT),
        )

    @property
    def metres_per_pixel(self) -> float:
        across, _down = self.pixels_per_metre((self.south + self.north) / 2)
        return 1 / across

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names.get("en") or next(iter(self.names.values()))


# -- what the manifest may claim ------------------------------------------------------------------


def _refuse(n: int, why: str) -> Refused:
    return Refused(
        "bad_map_sheet",
        _("refused: map sheet %(n)s of the bundle is unusable: %(why)s; nothing was imported", n=n, why=why),
    )


def _number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _integer(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def from_manifest(claimed: object, known: frozenset[str] = frozenset()) -> list[Sheet] | None:
    """The sheets a signed manifest claims, every one checked, or Refused naming the first bad one.
    None when the manifest has no such field (a server from before maps: the desk keeps its sheets).
    `known`: pictures already kept (by SHA-256), checked against their hash but not decoded again."""
    if claimed is None:
        return None
    if not isinstance(claimed, list):
        raise _refuse(0, _("the list of map sheets is not a list"))
    if len(claimed) > MAX_SHEETS:
        raise _refuse(MAX_SHEETS + 1, _("a bundle carries at most %(n)d map sheets", n=MAX_SHEETS))
    sheets, total = [], 0
    for n, raw in enumerate(claimed, 1):
        sheet = _sheet(n, raw, known)
        if any(s.id == sheet.id for s in sheets):
            raise _refuse(n, _("two sheets have the same id"))
        total += len(raw["data"]) * 3 // 4
        if total > MAX_ALL_BYTES:
            raise _refuse(n, _("the sheets are larger than %(n)d MB together", n=MAX_ALL_BYTES >> 20))
        sheets.append(sheet)
    ids = {s.id for s in sheets}
    for n, s in enumerate(sheets, 1):
        if s.detail_of is not None and (s.detail_of not in ids or s.detail_of == s.id):
            raise _refuse(n, _("it says it is a detail of a sheet the bundle does not carry"))
    return sheets


def _sheet(n: int, raw: object, known: frozenset[str]) -> Sheet:
    if not isinstance(raw, dict):
        raise _refuse(n, _("it is not an object"))
    sheet_id = raw.get("id")
    if not (isinstance(sheet_id, str) and SHEET_ID.match(sheet_id)):
        raise _refuse(n, _("its id is missing or malformed"))
    names = raw.get("names")
    names = (
        {
            documents.one_line(k, 8): documents.one_line(v, 120)
            for k, v in list(names.items())[:10]
            if isinstance(k, str) and isinstance(v, str) and documents.one_line(v, 120)
        }
        if isinstance(names, dict)
        else {}
    )
    if not names:
        raise _refuse(n, _("it has no name"))
    south, west, north, east = _bounds(n, raw.get("bounds"))
    width, height = raw.get("width"), raw.get("height")
    if not (_integer(width) and _integer(height)):
        raise _refuse(n, _("its width and height are not whole numbers"))
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE) or width * height > MAX_PIXELS:
        raise _refuse(
            n, _("it claims %(w)d × %(h)d pixels, more than this viewer decodes", w=width, h=height)
        )
    if raw.get("media_type") != "image/png":
        raise _refuse(n, _("it is not a PNG picture"))
    sha = raw.get("sha256")
    if not (isinstance(sha, str) and HEX64.match(sha)):
        raise _refuse(n, _("its SHA-256 is missing or malformed"))
    texts = [raw.get("attribution"), raw.get("licence")]
    if not all(isinstance(t, str) for t in texts):
        raise _refuse(n, _("its attribution or licence is missing"))
    detail_of = raw.get("detail_of")
    if detail_of is not None and not (isinstance(detail_of, str) and SHEET_ID.match(detail_of)):
        raise _refuse(n, _("it says it is a detail of a sheet the bundle does not carry"))
    data = _decoded(n, raw.get("data"))
    if hashlib.sha256(data).hexdigest() != sha:
        raise _refuse(n, _("its picture is not the one its SHA-256 names (changed or damaged)"))
    png = b"" if sha in known else _reencoded(n, data, width, height)
    return Sheet(
        sheet_id,
        names,
        south,
        west,
        north,
        east,
        width,
        height,
        sha,
        documents.one_line(texts[0], 300),
        documents.one_line(texts[1], 120),
        detail_of,
        png,
    )


def _bounds(n: int, bounds: object) -> tuple[float, float, float, float]:
    if not (isinstance(bounds, list) and len(bounds) == 4 and all(_number(b) for b in bounds)):
        raise _refuse(n, _("its bounds are not four numbers"))
    south, west, north, east = (float(b) for b in bounds)
    inside = -90 <= south < north <= 90 and -180 <= west < east <= 180
    if not inside:
        raise _refuse(n, _("its bounds are not a box on Earth (south below north, west left of east)"))
    if not (MIN_SPAN_DEG <= north - south <= MAX_SPAN_DEG and MIN_SPAN_DEG <= east - west <= MAX_SPAN_DEG):
        raise _refuse(n, _("its bounds are too small or too large for a town map"))
    return south, west, north, east


def _decoded(n: int, data: object) -> bytes:
    if not isinstance(data, str) or len(data) > (MAX_SHEET_BYTES // 3 + 1) * 4:
        raise _refuse(n, _("its picture is missing or larger than %(n)d MB", n=MAX_SHEET_BYTES >> 20))
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _refuse(n, _("its picture is not valid base64")) from None


def _reencoded(n: int, data: bytes, width: int, height: int) -> bytes:
    """The picture decoded by Pillow (PNG only, the size it claimed, no decompression bomb) and
    written again as a plain RGB PNG without any of the original's chunks."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=("PNG",))
            if im.size != (width, height):
                raise _refuse(n, _("its picture is not the size the sheet claims"))
            im.load()
            rgba = im.convert("RGBA")
        rgb = Image.new("RGB", rgba.size, (255, 255, 255))  # what is transparent is paper, not black
        rgb.paste(rgba, mask=rgba.getchannel("A"))
        out = io.BytesIO()
        rgb.save(out, "PNG", optimize=False)
    except Refused:
        raise
    except Exception:  # Pillow raises many kinds on hostile input: all of them are one refusal
        raise _refuse(n, _("its picture is not a PNG this viewer decodes (or it is damaged)")) from None
    return out.getvalue()


# -- in the vault -----------------------------------------------------------------------------------


def kept(db: sqlite3.Connection) -> frozenset[str]:
    return frozenset(r[0] for r in db.execute("SELECT sha256 FROM map_images"))


def store(db: sqlite3.Connection, desk: str, sheets: list[Sheet] | None) -> None:
    """The desk's sheets become `sheets` (None: as they were); pictures no sheet uses are dropped."""
    if sheets is None:
        return
    db.execute("DELETE FROM map_sheets WHERE desk = ?", (desk,))
    for position, s in enumerate(sheets):
        if s.png:
            db.execute("INSERT OR IGNORE INTO map_images (sha256, png) VALUES (?, ?)", (s.sha256, s.png))
        db.execute(
            "INSERT INTO map_sheets (desk, id, position, names, south, west, north, east, width, height,"
            " sha256, attribution, licence, detail_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                desk,
                s.id,
                position,
                json.dumps(s.names, ensure_ascii=False),
                s.south,
                s.west,
                s.north,
                s.east,
                s.width,
                s.height,
                s.sha256,
                s.attribution,
                s.licence,
                s.detail_of,
            ),
        )
    db.execute("DELETE FROM map_images WHERE sha256 NOT IN (SELECT sha256 FROM map_sheets)")


def sheets(db: sqlite3.Connection, desk: str = "") -> list[Sheet]:
    """The sheets of `desk` (every desk's when empty), without their pictures."""
    rows = db.execute(
        "SELECT id, names, south, west, north, east, width, height, sha256, attribution, licence, detail_of"
        " FROM map_sheets WHERE ? = '' OR desk = ? ORDER BY desk, position",
        (desk, desk),
    ).fetchall()
    return [Sheet(r[0], json.loads(r[1]), *r[2:]) for r in rows]


def most_detailed(found: list[Sheet], lat: float, lon: float) -> Sheet | None:
    """Of the sheets that show (lat, lon), the one with the fewest metres per pixel."""
    covering = [s for s in found if s.contains(lat, lon)]
    return min(covering, key=lambda s: (s.metres_per_pixel, s.id), default=None)


def radius_m(where: dict) -> float:
    """How far from the point the reporter may really have been: the larger of the device's accuracy
    and the rounding the reporter chose."""
    accuracy = where.get("accuracy_m")
    accuracy = float(accuracy) if _number(accuracy) and accuracy > 0 else 0.0
    return max(accuracy, PRECISION_M.get(where.get("precision") or "", 0.0))


_cache: collections.OrderedDict[str, Image.Image] = collections.OrderedDict()
_cache_lock = threading.Lock()


def picture(db: sqlite3.Connection, sheet: Sheet) -> Image.Image:
    """The sheet's re-encoded picture, decoded (kept for the next drawing: a few, in memory only)."""
    with _cache_lock:
        if sheet.sha256 in _cache:
            _cache.move_to_end(sheet.sha256)
            return _cache[sheet.sha256]
    row = db.execute("SELECT png FROM map_images WHERE sha256 = ?", (sheet.sha256,)).fetchone()
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        im = Image.open(io.BytesIO(row[0]), formats=("PNG",))
        im.load()
    im = im.convert("RGB")
    with _cache_lock:
        _cache[sheet.sha256] = im
        while len(_cache) > 4:
            _cache.popitem(last=False)
    return im


# -- drawing ----------------------------------------------------------------------------------------


def _png(im: Image.Image) -> bytes:
    out = io.BytesIO()
    im.save(out, "PNG", optimize=False, compress_level=3)
    return out.getvalue()


def view_size(sheet: Sheet) -> tuple[int, int]:
    """The case page's picture size: VIEW, or the whole sheet when it is smaller."""
    return min(VIEW[0], sheet.width), min(VIEW[1], sheet.height)


def draw_point(base: Image.Image, sheet: Sheet, lat: float, lon: float, radius: float) -> bytes:
    """A VIEW-sized part of the sheet around (lat, lon), at the sheet's own scale, with the point as
    a MARKER disc and a circle `radius` metres around it (an ellipse where the sheet's pixels are
    not square)."""
    x, y = sheet.pixel(lat, lon)
    w, h = view_size(sheet)
    left = min(max(0, round(x - w / 2)), sheet.width - w)
    top = min(max(0, round(y - h / 2)), sheet.height - h)
    im = base.crop((left, top, left + w, top + h)).convert("RGBA")
    cx, cy = round(x - left), round(y - top)
    across, down = sheet.pixels_per_metre(lat)
    rx, ry = radius * across, radius * down
    if rx >= 1 and ry >= 1:
        shade = Image.new("RGBA", im.size, (0, 0, 0, 0))
        ImageDraw.Draw(shade).ellipse(
            (cx - rx, cy - ry, cx + rx, cy + ry), fill=(*CIRCLE, 45), outline=(*CIRCLE, 255), width=3
        )
        im = Image.alpha_composite(im, shade)
    im = im.convert("RGB")
    draw = ImageDraw.Draw(im)
    draw.ellipse((cx - 9, cy - 9, cx + 9, cy + 9), fill=(255, 255, 255))
    draw.ellipse((cx - 7, cy - 7, cx + 7, cy + 7), fill=MARKER)
    return _png(im)


def draw_clusters(base: Image.Image, sheet: Sheet, found: list[geo.Cluster]) -> bytes:
    """The whole sheet, fitted into HOTSPOT_SIDE, with cluster i (from 1, in the order given) as a
    MARKER disc numbered i, larger for more reports, and its count of reports in a white tag."""
    size = fitted(sheet)
    im = base.resize(size, Image.Resampling.LANCZOS) if size != base.size else base.copy()
    sx, sy = size[0] / sheet.width, size[1] / sheet.height
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default(13)
    for number, c in enumerate(found[:MAX_MARKERS], 1):
        px, py = sheet.pixel(c.lat, c.lon)
        x, y = round(px * sx), round(py * sy)
        r = round(min(22, 10 + 3 * math.sqrt(c.count - 1)))
        draw.ellipse((x - r - 2, y - r - 2, x + r + 2, y + r + 2), fill=(255, 255, 255))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=MARKER)
        draw.text((x, y), str(number), fill=(255, 255, 255), font=font, anchor="mm")
        tag = str(c.count)
        tw = draw.textlength(tag, font=font)
        box = (x + r - 2, y - r - 14, x + r + tw + 6, y - r + 2)
        draw.rectangle(box, fill=(255, 255, 255), outline=(40, 40, 40))
        draw.text((box[0] + 4, box[1] + 2), tag, fill=(20, 20, 20), font=font)
    return _png(im)


def fitted(sheet: Sheet) -> tuple[int, int]:
    """The hotspots picture's size: the sheet, made smaller to fit HOTSPOT_SIDE, never larger."""
    scale = min(1.0, HOTSPOT_SIDE / max(sheet.width, sheet.height))
    return max(1, round(sheet.width * scale)), max(1, round(sheet.height * scale))


def on_sheet(sheet: Sheet, found: list[geo.Cluster]) -> list[geo.Cluster]:
    return [c for c in found if sheet.contains(c.lat, c.lon)][:MAX_MARKERS]


def overview(found: list[Sheet], clusters: list[geo.Cluster]) -> Sheet | None:
    """The sheet for the hotspots page: the one that shows the most reports; of equals, the widest."""
    return max(
        found,
        key=lambda s: (sum(c.count for c in clusters if s.contains(c.lat, c.lon)), s.metres_per_pixel),
        default=None,
    )
