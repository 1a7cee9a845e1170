"""What the map sheet tests share (docs/maps.md): a made-up town's picture and bounds, `sealdrop map`
run in-process, a desk's sheets as stored, and a small OpenStreetMap file of four streets."""

import io
from pathlib import Path

from PIL import Image, ImageDraw
from sqlalchemy import select

from dropbox import cli, config, db, maps
from dropbox.models import MapSheet

BOUNDS = maps.Bounds(42.69, 23.31, 42.70, 23.33)
BOUNDS_ARG = "42.69,23.31,42.70,23.33"
WIDTH, HEIGHT = 800, 600
STREET_Y, STREET_X = 300, 400  # a white street across and one down, on grey blocks


def town_png(width: int = WIDTH, height: int = HEIGHT) -> bytes:
    img = Image.new("RGB", (width, height), (225, 222, 215))
    draw = ImageDraw.Draw(img)
    draw.line([(0, STREET_Y), (width, STREET_Y)], fill=(255, 255, 255), width=12)
    draw.line([(STREET_X, 0), (STREET_X, height)], fill=(255, 255, 255), width=12)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def run(*args) -> int:
    return cli.main(list(map(str, args)))


def map_command(verb: str, instance: Path, *more) -> list:
    """`sealdrop map <verb> --dir <instance> ...`, as `run` takes it."""
    return ["map", verb, "--dir", instance, *more]


def add_town(instance: Path, tmp_path: Path, *more) -> None:
    picture = tmp_path / "town.png"
    picture.write_bytes(town_png())
    assert run("map", "add", "--dir", instance, "--desk", "demo", "--image", picture, "--bounds", BOUNDS_ARG,
               "--name", "en=Centre", "--name", "bg=Център", "--attribution", "Test streets",
               "--licence", "CC0-1.0", *more) == 0  # fmt: skip


def sheets(instance: Path) -> list[MapSheet]:
    with db.standalone_session(config.load(instance).database_url) as s:
        return list(s.scalars(select(MapSheet).order_by(MapSheet.id)))


def write_osm(path: Path) -> None:
    """Four streets of a grid: two across at 1/3 and 2/3 of the height, two down at 1/4 and 3/4."""
    s, w, n, e = BOUNDS
    lines, ways = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">'], []
    for i, frac in enumerate((1 / 3, 2 / 3)):
        lat = n - (n - s) * frac
        lines += [f'<node id="{10 + i * 2}" lat="{lat}" lon="{w - 0.002}"/>',
                  f'<node id="{11 + i * 2}" lat="{lat}" lon="{e + 0.002}"/>']  # fmt: skip
        ways.append((10 + i * 2, 11 + i * 2, "residential", f"Улица {i}"))
    for i, frac in enumerate((1 / 4, 3 / 4)):
        lon = w + (e - w) * frac
        lines += [f'<node id="{20 + i * 2}" lat="{s - 0.002}" lon="{lon}"/>',
                  f'<node id="{21 + i * 2}" lat="{n + 0.002}" lon="{lon}"/>']  # fmt: skip
        ways.append((20 + i * 2, 21 + i * 2, "primary", f"Avenue {i}"))
    for k, (a, b, kind, name) in enumerate(ways):
        lines.append(f'<way id="{k + 1}"><nd ref="{a}"/><nd ref="{b}"/><tag k="highway" v="{kind}"/>'
                     f'<tag k="name" v="{name}"/></way>')  # fmt: skip
    lines.append('<way id="99"><nd ref="10"/><nd ref="21"/><tag k="shop" v="bakery"/></way>')  # not drawn
    path.write_text("\n".join([*lines, "</osm>"]), encoding="utf-8")
