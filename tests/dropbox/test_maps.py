"""Map sheets (docs/maps.md): `sealdrop map add|list|remove|render`, pixel -> place, the no-JS tap that
brings the form back as typed, the rounded place in the sealed report, the sheet in the signed export."""

import base64
import hashlib
import io
import json
import random
import re
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import func, select

import crypto
from dropbox import bundles, cli, config, db, maps
from dropbox.blobs import FileBlobStore
from dropbox.models import Desk, MapSheet
from tests.helpers import open_all_envelopes

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


def add_town(instance: Path, tmp_path: Path, *more) -> None:
    picture = tmp_path / "town.png"
    picture.write_bytes(town_png())
    assert run("map", "add", "--dir", instance, "--desk", "demo", "--image", picture, "--bounds", BOUNDS_ARG,
               "--name", "en=Centre", "--name", "bg=Център", "--attribution", "Test streets",
               "--licence", "CC0-1.0", *more) == 0  # fmt: skip


def sheets(instance: Path) -> list[MapSheet]:
    with db.standalone_session(config.load(instance).database_url) as s:
        return list(s.scalars(select(MapSheet).order_by(MapSheet.id)))


# --- geometry --------------------------------------------------------------------------------------


def test_pixels_become_places_linearly_within_the_bounds():
    lat, lon = maps.pixel_to_point(BOUNDS, WIDTH, HEIGHT, 0, 0)
    assert lat == pytest.approx(42.70 - 0.5 / HEIGHT * 0.01) and lon == pytest.approx(
        23.31 + 0.5 / WIDTH * 0.02
    )
    lat, lon = maps.pixel_to_point(BOUNDS, WIDTH, HEIGHT, WIDTH - 1, HEIGHT - 1)
    assert lat == pytest.approx(42.69 + 0.5 / HEIGHT * 0.01) and lon == pytest.approx(
        23.33 - 0.5 / WIDTH * 0.02
    )
    lat, lon = maps.pixel_to_point(BOUNDS, WIDTH, HEIGHT, STREET_X, STREET_Y)
    assert lat == pytest.approx(42.695 - 0.5 / HEIGHT * 0.01) and lon == pytest.approx(
        23.32 + 0.5 / WIDTH * 0.02
    )


def test_rounding_per_precision_matches_the_browser():
    sheet = MapSheet(id=7, south=BOUNDS.south, west=BOUNDS.west, north=BOUNDS.north, east=BOUNDS.east,
                     width=WIDTH, height=HEIGHT)  # fmt: skip
    exact = maps.where_on_sheet(sheet, 123, 456, "exact")
    lat, lon = maps.pixel_to_point(BOUNDS, WIDTH, HEIGHT, 123, 456)
    assert exact == {
        "mode": "map",
        "sheet": "7",
        "lat": lat,
        "lon": lon,
        "precision": "exact",
        "accuracy_m": 3,
    }
    near = maps.where_on_sheet(sheet, 123, 456, "100m")
    assert (near["lat"], near["lon"], near["accuracy_m"]) == (round(lat, 3), round(lon, 3), 110)
    town = maps.where_on_sheet(sheet, 123, 456, "1km")
    assert (town["lat"], town["lon"], town["accuracy_m"]) == (42.69, 23.31, 1100)
    # Ties go away from zero, as JavaScript's toFixed does (0.0625 is exact in binary).
    assert maps.round_to(42.0625, 3) == 42.063 and maps.round_to(-0.0625, 3) == -0.063
    assert maps.round_to(23.3214999, 3) == 23.321 and maps.round_to(23.3215001, 2) == 23.32


# --- sealdrop map add | list | remove --------------------------------------------------------------


def test_map_add_list_and_remove(sqlite_instance, tmp_path, capsys):
    add_town(sqlite_instance, tmp_path)
    [sheet] = sheets(sqlite_instance)
    assert (sheet.width, sheet.height, sheet.names) == (WIDTH, HEIGHT, {"en": "Centre", "bg": "Център"})
    with db.standalone_session(config.load(sqlite_instance).database_url) as s:
        image = s.get(MapSheet, sheet.id).image
    assert hashlib.sha256(image).hexdigest() == sheet.sha256
    assert Image.open(io.BytesIO(image)).mode == "P"  # re-encoded by sealdrop: a palette PNG
    assert run("map", "add", "--dir", sqlite_instance, "--desk", "demo", "--image", tmp_path / "town.png",
               "--bounds", "42.692,23.315,42.697,23.325", "--detail-of", sheet.id) == 0  # fmt: skip
    capsys.readouterr()
    assert run("map", "list", "--dir", sqlite_instance) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 2 and listed[0].startswith(f"{sheet.id}\tdemo\tCentre\t800×600")
    assert run("map", "remove", "--dir", sqlite_instance, "--desk", "demo", sheet.id) == 1
    assert "detail sheets" in capsys.readouterr().err
    detail = sheets(sqlite_instance)[1].id
    assert run("map", "remove", "--dir", sqlite_instance, "--desk", "demo", detail) == 0
    assert run("map", "remove", "--dir", sqlite_instance, "--desk", "demo", sheet.id) == 0
    assert sheets(sqlite_instance) == []


@pytest.mark.parametrize(
    ("picture", "bounds", "says"),
    [
        (town_png(), "42.70,23.31,42.69,23.33", "south must be below north"),
        (town_png(), "42.69,23.31,42.70", "four numbers"),
        (town_png(), "42.69,23.31,43.70,23.33", "at most 0.5 degrees"),
        (town_png(), "nan,23.31,42.70,23.33", "four numbers"),
        (town_png(), "42.69,23.31,42.6901,23.33", "at least 0.001 degrees"),
        (b"this is not a picture", BOUNDS_ARG, "not a picture"),
        (town_png(3000, 200), BOUNDS_ARG, "at most 2400"),
        (town_png(50, 50), BOUNDS_ARG, "too small"),
        (town_png()[:400], BOUNDS_ARG, "not a picture"),  # truncated
    ],
    ids=[
        "upside-down",
        "three-numbers",
        "too-wide",
        "nan",
        "too-narrow",
        "text",
        "huge",
        "tiny",
        "truncated",
    ],
)
def test_map_add_refuses_bad_input_clearly_and_stores_nothing(
    sqlite_instance, tmp_path, capsys, picture, bounds, says
):
    path = tmp_path / "input.png"
    path.write_bytes(picture)
    code = run("map", "add", "--dir", sqlite_instance, "--desk", "demo", "--image", path, "--bounds", bounds)
    captured = capsys.readouterr()
    assert code == 1 and says in captured.err and len(captured.err.strip().splitlines()) == 1
    assert captured.out == "" and sheets(sqlite_instance) == []


def test_a_desks_sheets_fit_in_an_export_manifest(sqlite_instance, tmp_path, capsys, monkeypatch):
    add_town(sqlite_instance, tmp_path)
    with db.standalone_session(config.load(sqlite_instance).database_url) as s:
        stored = len(s.scalars(select(MapSheet)).one().image)
    monkeypatch.setattr(maps, "MAX_DESK_BYTES", stored * 3 // 2)  # room for one such sheet, not two
    capsys.readouterr()
    assert run("map", "add", "--dir", sqlite_instance, "--desk", "demo", "--image", tmp_path / "town.png",
               "--bounds", BOUNDS_ARG) == 1  # fmt: skip
    assert "travel in every export" in capsys.readouterr().err and len(sheets(sqlite_instance)) == 1
    # 6 MiB of pictures is 8 MiB in base64: with the rest of a manifest, under what bundles may hold.
    assert 4 * maps.MAX_DESK_BYTES / 3 < crypto.bundle.MAX_MANIFEST / 2


def test_a_decompression_bomb_is_refused_before_it_is_decoded(sqlite_instance, tmp_path, capsys):
    path = tmp_path / "bomb.png"
    Image.new("1", (20_000, 20_000)).save(path)  # 400 megapixels in a few kilobytes
    assert path.stat().st_size < 200_000
    assert (
        run("map", "add", "--dir", sqlite_instance, "--desk", "demo", "--image", path, "--bounds", BOUNDS_ARG)
        == 1
    )
    assert "at most 2400" in capsys.readouterr().err and sheets(sqlite_instance) == []


# --- the reporter's page without JavaScript --------------------------------------------------------


def _form(client) -> str:
    return client.get("/r/demo?lang=en").get_data(as_text=True)


def _fields(html: str, reporter) -> dict:
    return {"csrf_token": reporter.token(html), "category": reporter.category_id(html), "lang": "en",
            "what": "Продават наркотици зад салона", "contact": "call me on Tuesdays",
            "where_mode": "none"}  # fmt: skip


def test_a_tap_comes_back_as_typed_and_the_rounded_place_is_sealed(instance, app, client, reporter, tmp_path):
    add_town(instance, tmp_path)
    html = _form(client)
    [sheet] = sheets(instance)
    for width in maps.DISPLAY_WIDTHS:  # one image button per width the page's CSS may show
        assert f'name="map_w{width}"' in html
    url = re.search(r'src="(/r/demo/map/[^"]+\.png)"', html).group(1)
    served = client.get(url)
    assert served.status_code == 200 and served.mimetype == "image/png"
    assert "immutable" in served.headers["Cache-Control"]
    assert hashlib.sha256(served.data).hexdigest() == sheet.sha256
    assert client.get(url.replace(sheet.sha256[:16], "0" * 16)).status_code == 404

    fields = _fields(html, reporter)
    # A tap 100 CSS pixels right and 75 down on the sheet shown 320 wide: sheet pixel (250, 187).
    tap = {"map_sheet": str(sheet.id), "map_w320.x": "100", "map_w320.y": "75"}
    chosen = {"files": [(io.BytesIO(b"x"), "a.jpg")]}
    tapped = client.post(
        "/r/demo/map?lang=en", data={**fields, **tap, **chosen}, content_type="multipart/form-data"
    )
    page = tapped.get_data(as_text=True)
    assert tapped.status_code == 200
    assert "Продават наркотици зад салона" in page and 'value="call me on Tuesdays"' in page
    assert 'name="map_x" id="map_x" value="250"' in page and 'name="map_y" id="map_y" value="187"' in page
    assert re.search(r'value="map" checked', page) and "pin-x-31 pin-y-31" in page
    assert 'id="map-files-lost"' in page  # the file chosen before the tap: choose it again, it says
    assert 'href="/r/demo?lang=bg"' in page  # a language link leads to the form, not to a GET of /map
    assert f'value="{fields["category"]}" required checked' in page

    # As the page's map buttons send it (formenctype url-encoded): a chosen file is only its name.
    named = client.post("/r/demo/map?lang=en", data={**fields, **tap, "files": "a.jpg"}).get_data(
        as_text=True
    )
    assert 'id="map-files-lost"' in named and 'name="map_x" id="map_x" value="250"' in named
    plain = client.post("/r/demo/map?lang=en", data={**fields, **tap}).get_data(as_text=True)
    assert 'id="map-files-lost"' not in plain and 'id="map-keyboard"' not in plain
    # A keyboard pressing the image button sends 0,0: not a place, and the page says how else to say where.
    keys = {**fields, "map_sheet": str(sheet.id), "map_w320.x": "0", "map_w320.y": "0"}
    pressed = client.post("/r/demo/map?lang=en", data=keys).get_data(as_text=True)
    assert 'id="map-keyboard"' in pressed and 'name="map_x" id="map_x" value=""' in pressed

    again = client.post("/r/demo/map?lang=en", data={**fields, "map_sheet": str(sheet.id), "map_x": "250",
                        "map_y": "187", "map_clear": "1"})  # fmt: skip
    assert 'name="map_x" id="map_x" value=""' in again.get_data(as_text=True)

    sent = reporter.submit({"where_mode": "map", "map_sheet": str(sheet.id), "map_x": "250", "map_y": "187",
                            "map_precision": "100m"})  # fmt: skip
    assert sent.status_code == 200 and 'id="receipt"' in sent.get_data(as_text=True)
    doc = json.loads(open_all_envelopes(instance)[0])
    lat, lon = maps.pixel_to_point(BOUNDS, WIDTH, HEIGHT, 250, 187)
    assert doc["where"] == {"mode": "map", "sheet": str(sheet.id), "lat": maps.round_to(lat, 3),
                            "lon": maps.round_to(lon, 3), "precision": "100m", "accuracy_m": 110}  # fmt: skip
    assert doc["where"]["lat"] == 42.697 and doc["where"]["lon"] == 23.316


def test_without_javascript_closer_and_whole_map_keep_the_point(sqlite_instance, tmp_path):
    from dropbox import create_app
    from tests.dropbox.conftest import Reporter

    add_town(sqlite_instance, tmp_path)
    detail_args = ["--bounds", "42.6925,23.315,42.6975,23.325", "--detail-of", "1"]  # a quarter of it
    assert (
        run(
            "map",
            "add",
            "--dir",
            sqlite_instance,
            "--desk",
            "demo",
            "--image",
            tmp_path / "town.png",
            *detail_args,
        )
        == 0
    )
    add_town(sqlite_instance, tmp_path)  # a sheet of its own: never offered as the first one's detail
    app = create_app(config.load(sqlite_instance))
    client, reporter = app.test_client(), Reporter(app.test_client())
    html = _form(client)
    assert (
        'id="map-closer" name="map_show" value="2"' in html
        and 'id="map-wider" name="map_show" value=""' in html
    )
    fields = {**_fields(html, reporter), "map_sheet": "1", "map_x": "400", "map_y": "300"}
    closer = client.post("/r/demo/map?lang=en", data={**fields, "map_show": "2"}).get_data(as_text=True)
    lat, lon = maps.pixel_to_point(BOUNDS, WIDTH, HEIGHT, 400, 300)
    x, y = maps.point_to_pixel(maps.Bounds(42.6925, 23.315, 42.6975, 23.325), WIDTH, HEIGHT, lat, lon)
    assert abs(x - 400) <= 1 and abs(y - 300) <= 1  # the middle stays the middle
    assert (
        'id="map_sheet" value="2"' in closer and f'id="map_x" value="{x}"' in closer and "/map/2-" in closer
    )
    assert "Продават наркотици зад салона" in closer and 'id="map-wider" name="map_show" value="1"' in closer
    fields.update(map_sheet="2", map_x="0", map_y="0")  # a corner of the detail: inside the whole map too
    wider = client.post("/r/demo/map?lang=en", data={**fields, "map_show": "1"}).get_data(as_text=True)
    lat, lon = maps.pixel_to_point(maps.Bounds(42.6925, 23.315, 42.6975, 23.325), WIDTH, HEIGHT, 0, 0)
    x, y = maps.point_to_pixel(BOUNDS, WIDTH, HEIGHT, lat, lon)
    assert 'id="map_sheet" value="1"' in wider and f'id="map_x" value="{x}"' in wider and (x, y) == (200, 150)
    app.extensions["sealdrop.engine"].dispose()


def test_map_mode_without_a_point_or_off_the_sheet_is_an_error_that_keeps_the_text(sqlite_instance, tmp_path):
    from dropbox import create_app
    from tests.dropbox.conftest import Reporter

    add_town(sqlite_instance, tmp_path)
    app = create_app(config.load(sqlite_instance))
    reporter = Reporter(app.test_client())
    [sheet] = sheets(sqlite_instance)
    for point in ({}, {"map_x": str(WIDTH), "map_y": "3"}, {"map_x": "-1", "map_y": "3"}):
        answer = reporter.submit({"where_mode": "map", "map_sheet": str(sheet.id), **point})
        page = answer.get_data(as_text=True)
        assert (
            answer.status_code == 400 and 'id="where_map-error"' in page and "Dealing behind the gym" in page
        )
    answer = reporter.submit({"where_mode": "map", "map_sheet": "999", "map_x": "3", "map_y": "3"})
    assert answer.status_code == 400
    app.extensions["sealdrop.engine"].dispose()


def test_the_export_manifest_carries_the_sheets(instance, app, reporter, tmp_path):
    add_town(instance, tmp_path)
    add_town(instance, tmp_path, "--detail-of", "1")  # the same bounds: inside, so a valid detail
    assert reporter.submit().status_code == 200
    cfg = config.load(instance)
    key = crypto.SigningKey.load(instance / config.SIGNING_KEY_FILE)
    with db.standalone_session(cfg.database_url) as s, open(tmp_path / "export.bundle", "wb") as f:
        desk = s.scalar(select(Desk).where(Desk.slug == "demo"))
        bundles.export(s, FileBlobStore(cfg.blob_dir), desk, key, f)
    with open(tmp_path / "export.bundle", "rb") as f:
        manifest = crypto.bundle.read_manifest(f, "export", [key.verify_key])
    sheet, detail = sheets(instance)
    carried, carried_detail = manifest.data["map_sheets"]
    assert carried_detail["detail_of"] == str(sheet.id) == "1"
    # The viewer takes them as they are (viewer/mapsheet.py, the other side of this contract).
    from viewer import mapsheet

    taken = mapsheet.from_manifest(manifest.data["map_sheets"])
    assert [(s.id, s.detail_of, s.width, s.sha256) for s in taken] == [
        ("1", None, WIDTH, sheet.sha256),
        ("2", "1", WIDTH, detail.sha256),
    ]
    data = base64.b64decode(carried.pop("data"))
    assert hashlib.sha256(data).hexdigest() == sheet.sha256
    assert carried == {"id": str(sheet.id), "names": {"en": "Centre", "bg": "Център"}, "bounds": list(BOUNDS),
                       "width": WIDTH, "height": HEIGHT, "media_type": "image/png", "sha256": sheet.sha256,
                       "attribution": "Test streets", "licence": "CC0-1.0", "detail_of": None}  # fmt: skip


# --- sealdrop map render ---------------------------------------------------------------------------


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


def test_only_the_desks_own_sheets_are_served(sqlite_instance, tmp_path):
    from dropbox import create_app

    add_town(sqlite_instance, tmp_path)
    [sheet] = sheets(sqlite_instance)
    app = create_app(config.load(sqlite_instance))
    client = app.test_client()
    path = f"/map/{sheet.id}-{sheet.sha256[:16]}.png"
    assert client.get(f"/r/demo{path}").status_code == 200
    assert client.get(f"/r/demo-internal{path}").status_code == 404
    with db.standalone_session(config.load(sqlite_instance).database_url) as s:
        assert s.scalar(select(func.count(MapSheet.id))) == 1
    app.extensions["sealdrop.engine"].dispose()


def test_map_render_says_a_missing_folder_and_a_bad_width_in_one_short_line(
    sqlite_instance, tmp_path, capsys
):
    write_osm(tmp_path / "town.osm")
    render = [
        "map",
        "render",
        "--dir",
        sqlite_instance,
        "--osm",
        tmp_path / "town.osm",
        "--bounds",
        BOUNDS_ARG,
    ]
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
    render = [
        "map",
        "render",
        "--dir",
        sqlite_instance,
        "--osm",
        tmp_path / "town.osm",
        "--bounds",
        BOUNDS_ARG,
    ]
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


def test_bounds_south_of_the_equator_and_west_of_greenwich_are_taken_as_written(
    sqlite_instance, tmp_path, capsys
):
    picture = tmp_path / "town.png"
    picture.write_bytes(town_png())
    south_west = "-33.93,-18.43,-33.92,-18.41"  # begins with a minus, as the docs' S,W,N,E says to write
    assert (
        run(
            "map",
            "add",
            "--dir",
            sqlite_instance,
            "--desk",
            "demo",
            "--image",
            picture,
            "--bounds",
            south_west,
        )
        == 0
    )
    [sheet] = sheets(sqlite_instance)
    assert (sheet.south, sheet.west, sheet.north, sheet.east) == (-33.93, -18.43, -33.92, -18.41)
    write_osm(tmp_path / "town.osm")
    render = [
        "map",
        "render",
        "--dir",
        sqlite_instance,
        "--osm",
        tmp_path / "town.osm",
        "-o",
        tmp_path / "r.png",
    ]
    assert run(*render, "--bounds", south_west) == 0, capsys.readouterr().err
