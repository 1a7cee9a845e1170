"""Map sheets (docs/maps.md), the reporter's page without JavaScript: the tap that brings the form back
as typed, closer and whole-map views that keep the point, the rounded place in the sealed report, a
map answer without a point, and the sheet pictures each desk serves."""

import hashlib
import io
import json
import re

from sqlalchemy import func, select

from dropbox import config, db, maps
from dropbox.models import MapSheet
from tests.dropbox.maps_helpers import BOUNDS, HEIGHT, WIDTH, add_town, map_command, run, sheets
from tests.helpers import open_all_envelopes


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
    picture = tmp_path / "town.png"
    detail = map_command("add", sqlite_instance, "--desk", "demo", "--image", picture, *detail_args)
    assert run(*detail) == 0
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
