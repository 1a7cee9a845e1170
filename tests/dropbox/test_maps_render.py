"""Map sheets (docs/maps.md), `sealdrop map render`: streets from an OpenStreetMap file drawn into a
small sheet and added, a dense town centre that stays small, and what it refuses before it draws."""

import io
import random
from pathlib import Path

from PIL import Image

from tests.dropbox.maps_helpers import BOUNDS, BOUNDS_ARG, map_command, run, sheets, write_osm


def test_map_render_draws_the_streets_small_and_adds_the_sheet(sqlite_instance, tmp_path, capsys):
    write_osm(tmp_path / "town.osm")
    out = tmp_path / "drawn.png"
    assert run("map", "render", "--dir", sqlite_instance, "--desk", "demo", "--osm", tmp_path / "town.osm",
               "--bounds", BOUNDS_ARG, "--width", 900, "-o", out, "--name", "en=Centre") == 0  # fmt: skip
    printed = capsys.readouterr().out
    data = out.read_bytes()
    print(f"rendered sheet: {len(data)} bytes")
    assert len(data) < 300_000 and "© OpenStreetMap contributors" in printed
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG" and img.mode == "P" and img.width == 900
    assert img.height == round(900 * 0.01 / (0.02 * 0.7349), 0) or abs(img.height - 612) <= 1
    rgb = img.convert("RGB")
    paper = rgb.getpixel((5, 5))
    across = [round(img.height * f) for f in (1 / 3, 2 / 3)]
    down = [round(img.width * f) for f in (1 / 4, 3 / 4)]
    for y in across:  # on each street across, away from labels: street colour, not paper
        assert rgb.getpixel((60, y)) != paper and rgb.getpixel((img.width - 60, y)) != paper
    for x in down:
        assert rgb.getpixel((x, 40)) != paper and rgb.getpixel((x, img.height - 40)) != paper
    assert rgb.getpixel((img.width // 2, img.height // 6)) == paper  # a block between streets
    [sheet] = sheets(sqlite_instance)
    assert (sheet.attribution, sheet.licence) == ("© OpenStreetMap contributors", "ODbL-1.0")


def write_dense_osm(path: Path, streets: int = 500, buildings: int = 3000) -> None:
    """A made-up town centre: crooked named streets of every kind, blocks of buildings, a few parks."""
    rng = random.Random(16)
    s, w, n, e = BOUNDS
    nodes, ways, nid = [], [], 0

    def node(lat: float, lon: float) -> int:
        nonlocal nid
        nid += 1
        nodes.append(f'<node id="{nid}" lat="{lat:.7f}" lon="{lon:.7f}"/>')
        return nid

    kinds = ["residential"] * 6 + ["tertiary", "secondary", "primary", "footway", "service", "pedestrian"]
    for i in range(streets):
        lat, lon, refs = rng.uniform(s, n), rng.uniform(w, e), []
        for _ in range(rng.randint(2, 8)):
            refs.append(node(lat, lon))
            lat, lon = lat + rng.uniform(-0.001, 0.001), lon + rng.uniform(-0.0015, 0.0015)
        ways.append((refs, f'<tag k="highway" v="{rng.choice(kinds)}"/><tag k="name" v="улица {i}"/>'))
    for i in range(buildings):
        lat, lon, d = rng.uniform(s, n), rng.uniform(w, e), rng.uniform(0.00004, 0.00015)
        refs = [node(lat + a, lon + b) for a, b in ((0, 0), (d, 0), (d, d * 1.3), (0, d * 1.3))]
        tag = '<tag k="leisure" v="park"/>' if i % 200 == 0 else '<tag k="building" v="yes"/>'
        ways.append(([*refs, refs[0]], tag))
    body = [f'<way id="{k}">' + "".join(f'<nd ref="{r}"/>' for r in refs) + tags + "</way>"
            for k, (refs, tags) in enumerate(ways, 1)]  # fmt: skip
    path.write_text("\n".join(['<osm version="0.6">', *nodes, *body, "</osm>"]), encoding="utf-8")


def test_a_town_centre_at_street_level_stays_small(sqlite_instance, tmp_path):
    write_dense_osm(tmp_path / "centre.osm")
    out = tmp_path / "centre.png"
    assert run("map", "render", "--dir", sqlite_instance, "--osm", tmp_path / "centre.osm",
               "--bounds", BOUNDS_ARG, "-o", out) == 0  # fmt: skip
    size = out.stat().st_size
    print(f"a made-up town centre (500 streets, 3000 buildings), 900 px wide: {size} bytes")
    assert size < 300_000
    rgb = Image.open(out).convert("RGB")
    assert len(rgb.getcolors(1000) or ()) > 5  # streets, buildings, parks and names were drawn


def test_map_render_refuses_what_is_not_osm_and_writes_nothing(sqlite_instance, tmp_path, capsys):
    bad = tmp_path / "bad.osm"
    bad.write_text("<osm><node id='1' lat='x'", encoding="utf-8")
    out = tmp_path / "drawn.png"
    code = run("map", "render", "--dir", sqlite_instance, "--osm", bad, "--bounds", BOUNDS_ARG, "-o", out)
    assert code == 1 and "OpenStreetMap" in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.glob("*.partial")) == []


def test_map_render_says_a_missing_folder_and_a_bad_width_in_one_short_line(
    sqlite_instance, tmp_path, capsys
):
    write_osm(tmp_path / "town.osm")
    render = map_command("render", sqlite_instance, "--osm", tmp_path / "town.osm", "--bounds", BOUNDS_ARG)
    assert run(*render, "-o", tmp_path / "no-folder" / "town.png") == 1
    err = capsys.readouterr().err
    assert err == f"error: no such folder: {tmp_path / 'no-folder'}\n"  # not a temporary file's name
    for width in ("10", "100000", "wide"):
        assert run(*render, "-o", tmp_path / "town.png", "--width", width) != 0
        err = capsys.readouterr().err
        assert "from 400 to 1600" in err and len(err) < 400, err  # not the 1201 allowed numbers
    assert not (tmp_path / "town.png").exists() and list(tmp_path.glob(".*partial")) == []


def test_map_render_checks_the_desk_names_and_parent_before_it_draws(sqlite_instance, tmp_path, capsys):
    write_osm(tmp_path / "town.osm")
    render = map_command("render", sqlite_instance, "--osm", tmp_path / "town.osm", "--bounds", BOUNDS_ARG)
    out = tmp_path / "town.png"
    for more, said in (
        (["--desk", "nodesk"], "no such desk: nodesk"),
        (["--desk", "demo", "--name", "xx=Centre"], "--name takes LANG=TEXT"),
        (["--desk", "demo", "--detail-of", "7"], "has no map sheet 7"),
    ):
        assert run(*render, "-o", out, *more) == 1
        captured = capsys.readouterr()
        assert said in captured.err and "Map drawn" not in captured.out, (more, captured)
        assert not out.exists(), more  # the command failed: no picture that looks like its result
    assert sheets(sqlite_instance) == []
