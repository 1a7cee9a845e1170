"""`sealdrop map render`: the streets of an OpenStreetMap extract (.osm XML), drawn with Pillow.

Small on purpose: streets, railways, water and parks, street names, the attribution; a palette PNG
of a dozen colours, so a town centre at street level weighs tens of kilobytes, not megabytes. The
picture is linear in longitude and latitude between the bounds (maps.py), with the width-to-height
ratio corrected by the cosine of the latitude so that streets meet at their real angles.

The XML is read with the standard library's iterparse, element by element and cleared as it goes;
expat fetches nothing from outside and limits entity expansion, and a file over MAX_OSM_BYTES is
refused before reading. The operator chooses the file; this is care, not a sandbox.
"""

from __future__ import annotations

import io
import itertools
import math
import xml.etree.ElementTree as ET
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .console import _
from .maps import OSM_ATTRIBUTION, Bounds, MapError

MAX_OSM_BYTES = 512 * 1024 * 1024
MAX_HEIGHT = 2000
DRAWN_FOR = 400  # CSS pixels: widths and letters are sized to read at about this width on a phone
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

# The palette: index -> colour. Index 0 is the paper.
PALETTE = [
    (236, 232, 224),  # 0 paper
    (120, 120, 125),  # 1 casing of streets
    (255, 255, 255),  # 2 small streets
    (252, 214, 164),  # 3 main streets
    (247, 250, 191),  # 4 secondary streets
    (170, 211, 223),  # 5 water
    (200, 230, 190),  # 6 parks
    (110, 110, 110),  # 7 railways
    (50, 50, 55),  # 8 text
    (190, 190, 190),  # 9 paths
    (230, 225, 220),  # 10 buildings
]
PAPER, CASING, MINOR, MAJOR, SECONDARY, WATER, PARK, RAIL, TEXT, PATH, BUILDING = range(11)

# highway=* -> (width in pixels, fill); casing is 2 pixels wider.
ROADS = {
    "motorway": (9, MAJOR), "trunk": (9, MAJOR), "primary": (8, MAJOR),
    "secondary": (7, SECONDARY), "tertiary": (6, SECONDARY),
    "residential": (5, MINOR), "unclassified": (5, MINOR), "living_street": (5, MINOR),
    "pedestrian": (5, MINOR), "road": (5, MINOR), "service": (3, MINOR),
    "footway": (1, PATH), "path": (1, PATH), "cycleway": (1, PATH), "steps": (1, PATH), "track": (1, PATH),
}  # fmt: skip
for _kind in ("motorway", "trunk", "primary", "secondary", "tertiary"):
    ROADS[f"{_kind}_link"] = ROADS[_kind]


def _read(path: Path) -> tuple[dict[int, tuple[float, float]], list[tuple[dict, list[int]]]]:
    """The nodes (id -> lat, lon) and the ways (tags, node ids) of an .osm file."""
    if not path.is_file():
        raise MapError(_("no such file: %(path)s") % {"path": path})
    if path.stat().st_size > MAX_OSM_BYTES:
        raise MapError(_("the .osm file is larger than %(mb)d MB") % {"mb": MAX_OSM_BYTES // 2**20})
    nodes: dict[int, tuple[float, float]] = {}
    ways: list[tuple[dict, list[int]]] = []
    try:
        for _event, elem in ET.iterparse(path, events=("end",)):  # noqa: S314 (the operator's own file)
            if elem.tag == "node":
                nodes[int(elem.get("id"))] = (float(elem.get("lat")), float(elem.get("lon")))
                elem.clear()
            elif elem.tag == "way":
                tags = {t.get("k"): t.get("v") for t in elem.iter("tag")}
                if _kind(tags):
                    ways.append((tags, [int(n.get("ref")) for n in elem.iter("nd")]))
                elem.clear()
            elif elem.tag == "relation":
                elem.clear()
    except (ET.ParseError, TypeError, ValueError):
        raise MapError(_("this is not an OpenStreetMap XML file (.osm) sealdrop can read")) from None
    return nodes, ways


def _kind(tags: dict) -> str | None:
    if tags.get("highway") in ROADS:
        return "road"
    if tags.get("railway") in ("rail", "tram", "light_rail", "subway"):
        return "rail"
    if tags.get("natural") == "water" or tags.get("waterway") in ("river", "canal", "stream", "riverbank"):
        return "water"
    if tags.get("leisure") in ("park", "garden", "playground") or tags.get("landuse") in ("grass", "forest"):
        return "park"
    if "building" in tags:
        return "building"
    return None


def _size(bounds: Bounds, width: int) -> tuple[int, int]:
    mid = math.radians((bounds.north + bounds.south) / 2)
    ratio = (bounds.north - bounds.south) / ((bounds.east - bounds.west) * math.cos(mid))
    return width, max(100, min(MAX_HEIGHT, round(width * ratio)))


def render_osm(path: Path, bounds: Bounds, width: int = 900) -> bytes:
    """A palette PNG of the streets of `path` inside `bounds`, `width` pixels wide."""
    nodes, ways = _read(path)
    width, height = _size(bounds, width)
    scale = width / DRAWN_FOR  # a phone shows the sheet 240-560 CSS pixels wide: draw for that

    def xy(node: int) -> tuple[float, float] | None:
        found = nodes.get(node)
        if found is None:
            return None
        lat, lon = found
        return ((lon - bounds.west) / (bounds.east - bounds.west) * width,
                (bounds.north - lat) / (bounds.north - bounds.south) * height)  # fmt: skip

    shapes = []
    for tags, refs in ways:
        points = [p for p in map(xy, refs) if p is not None]
        if len(points) >= 2:
            shapes.append((tags, points))
    img = Image.new("P", (width, height), PAPER)
    img.putpalette([c for rgb in PALETTE for c in rgb])
    draw = ImageDraw.Draw(img)
    for tags, points in shapes:  # areas first, then lines over them
        kind = _kind(tags)
        if kind in ("park", "building") or (kind == "water" and points[0] == points[-1]):
            draw.polygon(points, fill={"park": PARK, "building": BUILDING, "water": WATER}[kind])
        elif kind == "water":
            draw.line(points, fill=WATER, width=round(6 * scale), joint="curve")
    roads = [(ROADS[t["highway"]], t, p) for t, p in shapes if _kind(t) == "road"]
    roads.sort(key=lambda road: road[0][0])  # narrow streets first, wide ones over them
    for (road_width, _fill), _tags, points in roads:
        if road_width > 2:
            draw.line(points, fill=CASING, width=round(road_width * scale) + 2, joint="curve")
    for (road_width, fill), _tags, points in roads:
        draw.line(points, fill=fill, width=max(1, round(road_width * scale)), joint="curve")
    for tags, points in shapes:
        if _kind(tags) == "rail":
            draw.line(points, fill=RAIL, width=max(2, round(2 * scale)))
    _names(img, [(t.get("name", ""), p) for (w, _f), t, p in roads if w >= 5], round(11 * scale))
    _attribution(img, round(10 * scale))
    out = io.BytesIO()
    img.save(out, "PNG", optimize=True)
    return out.getvalue()


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.truetype(str(FONT), size)
    except OSError:  # no DejaVu: Pillow's own small font still names the streets
        return ImageFont.load_default(size)


def _names(img: Image.Image, named: list[tuple[str, list]], size: int) -> None:
    """Each street's name once, along its longest straight piece, where it does not cover another."""
    font, taken, done = _font(size), [], set()
    for name, points in sorted(named, key=lambda n: -_longest(n[1])[0]):
        if not name or name in done:
            continue
        length, (a, b) = _longest(points)
        left, top, right, bottom = font.getbbox(name)
        if right - left + 8 > length:
            continue
        angle = math.degrees(math.atan2(b[1] - a[1], b[0] - a[0]))
        if angle > 90 or angle < -90:
            angle -= 180 * (1 if angle > 0 else -1)
        label = Image.new("L", (right - left + 4, bottom - top + 4), 0)
        ImageDraw.Draw(label).text((2 - left, 2 - top), name, fill=255, font=font)
        label = label.rotate(-angle, expand=True, resample=Image.Resampling.BICUBIC)
        label = label.point(lambda v: 255 if v > 110 else 0)  # a palette picture pastes all or nothing
        cx, cy = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
        box = (round(cx - label.width / 2), round(cy - label.height / 2))
        area = (*box, box[0] + label.width, box[1] + label.height)
        if any(area[0] < t[2] and t[0] < area[2] and area[1] < t[3] and t[1] < area[3] for t in taken):
            continue
        img.paste(TEXT, area, label)
        taken.append(area)
        done.add(name)


def _longest(points: list) -> tuple[float, tuple]:
    pairs = list(itertools.pairwise(points))
    best = max(pairs, key=lambda p: math.dist(*p))
    return math.dist(*best), best


def _attribution(img: Image.Image, size: int) -> None:
    """© OpenStreetMap contributors in the corner, so the picture carries it wherever it goes."""
    font = _font(size)
    left, top, right, bottom = font.getbbox(OSM_ATTRIBUTION)
    x, y = img.width - (right - left) - 6, img.height - (bottom - top) - 5
    ImageDraw.Draw(img).rectangle((x - 3, y - 2, img.width, img.height), fill=PAPER)
    ImageDraw.Draw(img).text((x - left, y - top), OSM_ATTRIBUTION, fill=TEXT, font=font)
