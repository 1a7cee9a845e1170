"""Places without a map server: distances, clusters of reports, and an SVG plot drawn offline.

No tiles, no network: the reports' own positions and the desk's landmarks (the desk's named places,
from the signed export manifest, never from report documents) are the whole map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from babel.numbers import format_decimal

from . import i18n
from .i18n import N_, _

EARTH_M = 6_371_008.8
M_PER_DEG_LAT = 111_320.0


def distance_m(lat1, lon1, lat2, lon2) -> float | None:
    """Great-circle distance in metres (haversine); None if any coordinate is missing."""
    if None in (lat1, lon1, lat2, lon2):
        return None
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_M * math.asin(min(1.0, math.sqrt(a)))


def bbox(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """A box around (lat, lon) that holds every point within radius_m (for an index to narrow first)."""
    dlat = radius_m / M_PER_DEG_LAT
    dlon = radius_m / (M_PER_DEG_LAT * max(0.01, math.cos(math.radians(lat))))
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


def human_distance(m: float) -> str:
    if m < 1000:
        return _("%(n)s m", n=f"{m:.0f}")
    return _("%(n)s km", n=format_decimal(round(m / 1000, 1), "0.0", locale=i18n.current()))


_PRECISIONS = {
    "exact": N_("as exact as the phone knew"),
    "100m": N_("rounded by the reporter to about 100 m"),
    "1km": N_("rounded by the reporter to about 1 km"),
    "place": N_("a landmark the reporter picked"),
}


def precision_text(precision: str | None) -> str:
    return _(_PRECISIONS.get(precision or "", N_("of unknown precision")))


def shown_coordinates(lat: float, lon: float, precision: str | None) -> str:
    """Coordinates at the precision the reporter gave, never more digits than they sent."""
    digits = {"100m": 3, "1km": 2}.get(precision or "", 5)
    return f"{lat:.{digits}f}, {lon:.{digits}f}"


@dataclass
class Cluster:
    lat: float
    lon: float
    count: int
    numbers: list[str] = field(default_factory=list)
    landmark: str = ""
    landmark_m: float | None = None


def clusters(points: list[tuple[float, float, str]], radius_m: float = 150) -> list[Cluster]:
    """Reports grouped around the densest places first: each cluster takes every report within
    `radius_m` of its centre. Five reports about the same corner become one cluster of five, wherever
    the corner falls. Points are first pooled into cells a third of the radius across, so the work
    grows with the number of distinct places, not of reports."""
    if not points:
        return []
    lat0 = sum(p[0] for p in points) / len(points)
    ky = M_PER_DEG_LAT
    kx = M_PER_DEG_LAT * max(0.01, math.cos(math.radians(lat0)))
    fine = radius_m / 3
    pooled: dict[tuple[int, int], list] = {}
    for lat, lon, number in points:
        cell = pooled.setdefault(
            (math.floor(lat * ky / fine), math.floor(lon * kx / fine)), [0.0, 0.0, 0, []]
        )
        cell[0] += lat
        cell[1] += lon
        cell[2] += 1
        if len(cell[3]) < 20:
            cell[3].append(number)
    cells = [(c[0] / c[2], c[1] / c[2], c[2], c[3]) for c in pooled.values()]
    grid: dict[tuple[int, int], list[int]] = {}
    for i, (lat, lon, _count, _numbers) in enumerate(cells):
        grid.setdefault((math.floor(lat * ky / radius_m), math.floor(lon * kx / radius_m)), []).append(i)

    def around(i: int) -> list[int]:
        lat, lon = cells[i][0], cells[i][1]
        gy, gx = math.floor(lat * ky / radius_m), math.floor(lon * kx / radius_m)
        return [
            j
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            for j in grid.get((gy + dy, gx + dx), ())
            if math.hypot((cells[j][0] - lat) * ky, (cells[j][1] - lon) * kx) <= radius_m
        ]

    weight = [sum(cells[j][2] for j in around(i)) for i in range(len(cells))]
    taken = [False] * len(cells)
    out = []
    for i in sorted(range(len(cells)), key=lambda i: (-weight[i], -cells[i][2], cells[i][0], cells[i][1])):
        if taken[i]:
            continue
        members = [j for j in around(i) if not taken[j]]
        for j in members:
            taken[j] = True
        n = sum(cells[j][2] for j in members)
        out.append(
            Cluster(
                lat=sum(cells[j][0] * cells[j][2] for j in members) / n,
                lon=sum(cells[j][1] * cells[j][2] for j in members) / n,
                count=n,
                numbers=[x for j in members for x in cells[j][3]][:20],
            )
        )
    out.sort(key=lambda c: (-c.count, c.lat, c.lon))
    return out


def nearest_landmark(c: Cluster, landmarks: list[tuple[str, float, float]]) -> None:
    best = min(((distance_m(c.lat, c.lon, la, lo), name) for name, la, lo in landmarks), default=None)
    if best:
        c.landmark_m, c.landmark = best


@dataclass
class Plot:
    width: int
    height: int
    dots: list[dict]
    landmarks: list[dict]
    scale: dict


def plot(found: list[Cluster], landmarks: list[tuple[str, float, float]], width=820, height=560) -> Plot:
    """Screen positions for an equirectangular projection of everything, fitted into width x height."""
    lats = [c.lat for c in found] + [la for _name, la, _lon in landmarks]
    lons = [c.lon for c in found] + [lo for _name, _lat, lo in landmarks]
    if not lats:
        return Plot(width, height, [], [], {})
    lat_lo, lat_hi, lon_lo, lon_hi = min(lats), max(lats), min(lons), max(lons)
    kx = math.cos(
        math.radians((lat_lo + lat_hi) / 2)
    )  # a degree of longitude is shorter away from the equator
    span_x = max((lon_hi - lon_lo) * kx, 0.002)
    span_y = max(lat_hi - lat_lo, 0.002)
    pad = 40
    scale = min((width - 2 * pad) / span_x, (height - 2 * pad) / span_y)
    cx, cy = (lon_lo + lon_hi) / 2, (lat_lo + lat_hi) / 2

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return (round(width / 2 + (lon - cx) * kx * scale, 1), round(height / 2 - (lat - cy) * scale, 1))

    dots = []
    for c in found:
        x, y = xy(c.lat, c.lon)
        dots.append({"x": x, "y": y, "r": round(min(40, 4 + 4 * math.sqrt(c.count - 1)), 1), "cluster": c})
    marks = [dict(zip(("x", "y"), xy(la, lo), strict=True), name=name) for name, la, lo in landmarks]
    metres_per_px = M_PER_DEG_LAT / scale
    target = metres_per_px * width / 5
    nice = next(
        (n for n in (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000) if n >= target), 100000
    )
    bar = nice / metres_per_px
    return Plot(
        width,
        height,
        dots,
        marks,
        {"x1": pad, "x2": round(pad + bar, 1), "y": height - 14, "label": human_distance(nice)},
    )
