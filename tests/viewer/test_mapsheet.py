"""Map sheets in the viewer (viewer/mapsheet.py): a synthetic sheet with streets drawn by the test at known
bounds arrives in a signed export; a report's point is drawn at the right pixel with a precision circle
of the right radius; tampered sheets are refused with nothing imported; clusters become markers."""

from __future__ import annotations

import base64
import hashlib
import io
import math
import re

import pytest
from PIL import Image, ImageDraw

from tests.viewer.bundles import Submission, report_doc
from tests.viewer.hostile import _chunk, png_claiming
from viewer import importer, mapsheet
from viewer.errors import Refused
from viewer.web import create_app

# A piece of Sofia, 0.05° of longitude by 0.03° of latitude.
BOUNDS = [42.680, 23.300, 42.710, 23.350]
GROUND = (246, 243, 234)
STREET = (150, 150, 150)
HOST = "http://127.0.0.1:8765"


def street_map(size=(640, 480)) -> bytes:
    """A town plan: a grid of grey streets and a river, nothing in the markers' colours."""
    im = Image.new("RGB", size, GROUND)
    draw = ImageDraw.Draw(im)
    for x in range(0, size[0], 80):
        draw.line((x, 0, x, size[1]), fill=STREET, width=5)
    for y in range(0, size[1], 60):
        draw.line((0, y, size[0], y), fill=STREET, width=5)
    draw.line((0, size[1] * 0.8, size[0], size[1] * 0.6), fill=(120, 170, 220), width=12)
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def sheet_field(
    data: bytes | None = None, *, sheet_id="centre", bounds=None, size=(640, 480), **changes
) -> dict:
    """One entry of the manifest's `map_sheets`, as the server signs it."""
    data = street_map(size) if data is None else data
    entry = {
        "id": sheet_id,
        "names": {"en": "Centre", "bg": "Център"},
        "bounds": list(bounds or BOUNDS),
        "width": size[0],
        "height": size[1],
        "media_type": "image/png",
        "sha256": hashlib.sha256(data).hexdigest(),
        "attribution": "© Test cartographers",
        "licence": "CC0",
        "detail_of": None,
        "data": base64.b64encode(data).decode("ascii"),
    }
    entry.update(changes)
    return entry


def at(lat, lon, precision="exact", accuracy_m=10, mode="map") -> dict:
    return {"mode": mode, "sheet": "centre", "lat": lat, "lon": lon, "precision": precision,
            "accuracy_m": accuracy_m}  # fmt: skip


def expected_pixel(lat, lon, size=(640, 480), bounds=BOUNDS) -> tuple[float, float]:
    s, w, n, e = bounds
    return (lon - w) / (e - w) * size[0], (n - lat) / (n - s) * size[1]


def expected_radius(metres, lat, size=(640, 480), bounds=BOUNDS) -> tuple[float, float]:
    s, w, n, e = bounds
    m_per_deg = 111_320.0
    across = size[0] / ((e - w) * m_per_deg * math.cos(math.radians(lat)))
    down = size[1] / ((n - s) * m_per_deg)
    return metres * across, metres * down


def pixels_of(png: bytes, colour) -> list[tuple[int, int]]:
    im = Image.open(io.BytesIO(png)).convert("RGB")
    data, w, want = im.tobytes(), im.width, bytes(colour)
    return [(i // 3 % w, i // 3 // w) for i in range(0, len(data), 3) if data[i : i + 3] == want]


def centroid(points):
    return sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)


def components(points) -> int:
    """How many separate blobs the points make (4-neighbour flood fill)."""
    left, count = set(points), 0
    while left:
        count += 1
        todo = [left.pop()]
        while todo:
            x, y = todo.pop()
            for q in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
                if q in left:
                    left.remove(q)
                    todo.append(q)
    return count


def client(vault):
    c = create_app(vault, "s3cret", hosts={"127.0.0.1:8765"}).test_client()
    assert c.get("/?token=s3cret", base_url=HOST).status_code == 303
    return c


def get(c, url: str):
    r = c.get(url, base_url=HOST)
    assert r.status_code == 200, (url, r.status_code)
    return r


def import_with(vault, server, tmp_path, subs, sheets):
    server.extra = {"map_sheets": sheets}
    server.bundle(tmp_path / f"export-{server.sequence + 1}", subs)
    return importer.import_bundle(vault, tmp_path / f"export-{server.sequence}")


def snapshot(vault):
    files = sorted(str(p.relative_to(vault.path)) for p in vault.path.rglob("*") if p.is_file())
    return (vault.path / "head.json").read_bytes(), files


# -- a point on the sheet -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("precision", "accuracy", "metres"), [("exact", 250, 250), ("100m", 30, 100), ("1km", 400, 1000)]
)
def test_the_point_is_drawn_where_it_is_with_its_precision_circle(
    vault, server, tmp_path, precision, accuracy, metres
):
    lat, lon = 42.6931, 23.3219
    import_with(vault, server, tmp_path, [Submission("MAP0-0001", report_doc(where=at(lat, lon, precision,
                accuracy)))], [sheet_field()])  # fmt: skip
    c = client(vault)
    page = get(c, "/case/MAP0-0001").get_data(as_text=True)
    src = re.search(r'<img src="(/case/MAP0-0001/report/\d+/map\.png)"', page)
    assert src, "the case page shows the point on the map sheet"
    shown = {"exact": "42.69310, 23.32190", "100m": "42.693, 23.322", "1km": "42.69, 23.32"}[precision]
    assert "© Test cartographers" in page and f"the point {shown}" in page
    r = get(c, src[1])
    assert r.mimetype == "image/png" and "sandbox" in r.headers["Content-Security-Policy"]
    png = r.data
    assert Image.open(io.BytesIO(png)).size == (640, 480)  # the whole sheet: smaller than the view
    marker = pixels_of(png, mapsheet.MARKER)
    assert marker, "the marker is drawn"
    mx, my = centroid(marker)
    ex, ey = expected_pixel(lat, lon)
    assert abs(mx - ex) <= 2 and abs(my - ey) <= 2
    ring = pixels_of(png, mapsheet.CIRCLE)
    rx, ry = expected_radius(metres, lat)
    # The outline is 3 px wide, inside the ellipse: its outer edge is the radius.
    across = max(abs(x - mx) for x, y in ring if abs(y - my) <= 1)
    down = max(abs(y - my) for x, y in ring if abs(x - mx) <= 1)
    assert abs(across - rx) <= 3 and abs(down - ry) <= 3, (across, rx, down, ry)


def test_a_large_sheet_is_cut_around_the_point_at_its_own_scale(vault, server, tmp_path):
    size, lat, lon = (2000, 1500), 42.7050, 23.3460  # near the north-east corner
    import_with(vault, server, tmp_path, [Submission("MAP0-0002", report_doc(where=at(lat, lon)))],
                [sheet_field(size=size)])  # fmt: skip
    page = get(client(vault), "/case/MAP0-0002").get_data(as_text=True)
    src = re.search(r'<img src="(/case/MAP0-0002/report/\d+/map\.png)" width="720" height="540"', page)
    png = get(client(vault), src[1]).data
    assert Image.open(io.BytesIO(png)).size == mapsheet.VIEW
    ex, ey = expected_pixel(lat, lon, size)
    left, top = size[0] - 720, max(0, round(ey - 270))  # clamped at the east edge
    mx, my = centroid(pixels_of(png, mapsheet.MARKER))
    assert abs(mx - (ex - left)) <= 2 and abs(my - (ey - top)) <= 2


def test_device_points_are_drawn_and_a_point_off_every_sheet_is_said_in_words(vault, server, tmp_path):
    import_with(
        vault,
        server,
        tmp_path,
        [
            Submission("MAP1-0001", report_doc(where=at(42.69, 23.31, mode="device"))),
            Submission("MAP1-0002", report_doc(where=at(42.75, 23.40, mode="device"))),
        ],
        [sheet_field()],
    )
    c = client(vault)
    assert "/map.png" in get(c, "/case/MAP1-0001").get_data(as_text=True)
    page = get(c, "/case/MAP1-0002").get_data(as_text=True)
    assert "/map.png" not in page
    assert "lies outside every map sheet of the desk" in page and "42.75000, 23.40000" in page
    report = vault.db.execute("SELECT id FROM reports ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert c.get(f"/case/MAP1-0002/report/{report}/map.png", base_url=HOST).status_code == 404


def test_the_most_detailed_sheet_that_shows_the_point_is_used(vault, server, tmp_path):
    detail = [42.690, 23.315, 42.700, 23.330]  # 0.015° × 0.01° on the same 640 × 480 pixels
    lat, lon = 42.6931, 23.3219
    import_with(vault, server, tmp_path, [Submission("MAP2-0001", report_doc(where=at(lat, lon)))],
                [sheet_field(), _detail_sheet(detail)])  # fmt: skip
    c = client(vault)
    page = get(c, "/case/MAP2-0001").get_data(as_text=True)
    assert "Old town" in page
    png = get(c, re.search(r'<img src="([^"]+map\.png)"', page)[1]).data
    mx, my = centroid(pixels_of(png, mapsheet.MARKER))
    ex, ey = expected_pixel(lat, lon, bounds=detail)
    assert abs(mx - ex) <= 2 and abs(my - ey) <= 2


def _detail_sheet(bounds) -> dict:
    im = Image.new("RGB", (640, 480), (235, 240, 246))
    ImageDraw.Draw(im).line((0, 240, 640, 240), fill=STREET, width=9)
    out = io.BytesIO()
    im.save(out, "PNG")
    entry = sheet_field(out.getvalue(), sheet_id="detail", bounds=bounds, detail_of="centre")
    entry["names"] = {"en": "Old town"}
    return entry


# -- what a sheet may not be -------------------------------------------------------------------------


def _not_png() -> bytes:
    return b"This is not a picture at all, just words." * 10


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: {**sheet_field(), "sha256": "0" * 64}, "not the one its SHA-256 names"),
        (lambda: sheet_field(_not_png()), "not a PNG this viewer decodes"),
        (lambda: sheet_field(png_claiming(50_000, 50_000), size=(50_000, 50_000)), "more than this viewer"),
        (lambda: sheet_field(png_claiming(5000, 5000)), "not the size the sheet claims"),
        (lambda: sheet_field(bounds=[42.710, 23.300, 42.680, 23.350]), "not a box on Earth"),
        (lambda: sheet_field(bounds=[42.680, 23.350, 42.710, 23.300]), "not a box on Earth"),
        (lambda: sheet_field(bounds=[10, 10, 40, 40]), "too small or too large"),
        (lambda: sheet_field(bounds=[42.68, 23.3, "42.71", 23.35]), "not four numbers"),
        (lambda: {**sheet_field(), "data": "%%%not base64%%%"}, "not valid base64"),
        (lambda: {**sheet_field(), "id": "../../etc"}, "id is missing or malformed"),
        (lambda: {**sheet_field(), "media_type": "image/svg+xml"}, "not a PNG picture"),
        (lambda: {**sheet_field(), "width": True}, "not whole numbers"),
        (lambda: sheet_field(detail_of="nowhere"), "detail of a sheet the bundle does not carry"),
    ],
)
def test_a_bad_sheet_is_refused_and_nothing_is_imported(vault, server, tmp_path, make, match):
    server.extra = {"map_sheets": [make()]}
    server.bundle(tmp_path / "bad", [Submission("BAD0-0001", report_doc())])
    before = snapshot(vault)
    with pytest.raises(Refused, match=match) as e:
        importer.import_bundle(vault, tmp_path / "bad")
    assert e.value.reason == "bad_map_sheet"
    assert str(e.value).startswith("refused: map sheet 1 of the bundle is unusable")
    assert str(e.value).endswith("nothing was imported")
    assert snapshot(vault) == before
    assert vault.db.execute("SELECT count(*) FROM cases").fetchone()[0] == 0
    assert vault.db.execute("SELECT count(*) FROM map_sheets").fetchone()[0] == 0


def test_a_field_that_is_not_a_list_or_too_many_sheets_is_refused(vault, server, tmp_path):
    too_many = [sheet_field()] * (mapsheet.MAX_SHEETS + 1)
    for claimed, match in [("map.png", "not a list"), (too_many, f"at most {mapsheet.MAX_SHEETS}")]:
        server.extra = {"map_sheets": claimed}
        server.bundle(tmp_path / "bad", [Submission("BAD1-0001", report_doc())], advance=False)
        with pytest.raises(Refused, match=match):
            importer.import_bundle(vault, tmp_path / "bad")


def test_the_kept_picture_is_re_encoded_not_the_one_sent(vault, server, tmp_path):
    sent = street_map()
    comment = _chunk(b"tEXt", b"Comment\x00<script>alert(1)</script>")
    with_text = sent[:33] + comment + sent[33:]  # after IHDR: a chunk the sheet does not need
    import_with(vault, server, tmp_path, [], [sheet_field(with_text)])
    kept = vault.db.execute("SELECT png FROM map_images").fetchone()[0]
    assert b"tEXt" not in kept and b"script" not in kept
    assert Image.open(io.BytesIO(kept)).tobytes() == Image.open(io.BytesIO(sent)).convert("RGB").tobytes()


def test_transparent_parts_of_a_sheet_are_kept_as_white_paper(vault, server, tmp_path):
    im = Image.new("RGBA", (64, 48), (0, 0, 0, 0))
    ImageDraw.Draw(im).line((0, 24, 64, 24), fill=(*STREET, 255), width=4)
    out = io.BytesIO()
    im.save(out, "PNG")
    import_with(vault, server, tmp_path, [], [sheet_field(out.getvalue(), size=(64, 48))])
    kept = Image.open(io.BytesIO(vault.db.execute("SELECT png FROM map_images").fetchone()[0]))
    assert (
        kept.mode == "RGB" and kept.getpixel((5, 5)) == (255, 255, 255) and kept.getpixel((5, 24)) == STREET
    )


# -- per desk, newest wins, kept once ------------------------------------------------------------------


def test_sheets_are_kept_once_replaced_by_a_newer_export_and_kept_when_the_field_is_absent(
    vault, server, tmp_path
):
    picture = street_map()
    import_with(vault, server, tmp_path, [], [sheet_field(picture), sheet_field(picture, sheet_id="copy")])
    assert vault.db.execute("SELECT count(*) FROM map_images").fetchone()[0] == 1  # same picture once
    assert [s.id for s in mapsheet.sheets(vault.db, "demo")] == ["centre", "copy"]
    server.extra = {}
    server.bundle(tmp_path / "no-field", [])
    importer.import_bundle(vault, tmp_path / "no-field")  # a server from before maps
    assert [s.id for s in mapsheet.sheets(vault.db, "demo")] == ["centre", "copy"]
    newer = street_map((800, 600))
    import_with(vault, server, tmp_path, [], [sheet_field(newer, sheet_id="centre-2025", size=(800, 600))])
    assert [s.id for s in mapsheet.sheets(vault.db, "demo")] == ["centre-2025"]
    kept = [tuple(r) for r in vault.db.execute("SELECT sha256 FROM map_images")]
    assert kept == [(hashlib.sha256(newer).hexdigest(),)]  # the old picture went with its sheets
    import_with(vault, server, tmp_path, [], [])
    assert mapsheet.sheets(vault.db, "demo") == []
    assert vault.db.execute("SELECT count(*) FROM map_images").fetchone()[0] == 0


def test_old_cases_are_drawn_on_the_current_sheet(vault, server, tmp_path):
    lat, lon = 42.6931, 23.3219
    import_with(vault, server, tmp_path, [Submission("OLD0-0001", report_doc(where=at(lat, lon)))],
                [sheet_field()])  # fmt: skip
    size = (700, 500)  # within the view: the marker is where the whole sheet has it
    import_with(vault, server, tmp_path, [], [sheet_field(street_map(size), sheet_id="new", size=size)])
    vault.close()
    from tests.viewer.conftest import PASSPHRASE
    from viewer.vault import Vault

    with Vault.open(vault.path, PASSPHRASE) as reopened:  # the sheets survive the sealed round trip
        c = client(reopened)
        page = get(c, "/case/OLD0-0001").get_data(as_text=True)
        png = get(c, re.search(r'<img src="([^"]+map\.png)"', page)[1]).data
    mx, my = centroid(pixels_of(png, mapsheet.MARKER))
    ex, ey = expected_pixel(lat, lon, size)
    assert abs(mx - ex) <= 2 and abs(my - ey) <= 2


# -- hotspots ---------------------------------------------------------------------------------------


def hotspot_cases() -> list[Submission]:
    places = [((42.7000, 23.3100), 4), ((42.6900, 23.3300), 2), ((42.6850, 23.3450), 1), ((42.75, 23.40), 1)]
    subs = []
    for n, ((lat, lon), count) in enumerate(places):
        for i in range(count):
            where = at(lat + i * 0.0001, lon, mode="device")
            subs.append(Submission(f"HOT{n}-{i:04d}", report_doc(f"Report {n}.{i}", where=where)))
    return subs


def test_hotspots_draw_one_numbered_marker_per_cluster_and_list_them(vault, server, tmp_path):
    import_with(vault, server, tmp_path, hotspot_cases(), [sheet_field()])
    c = client(vault)
    page = get(c, "/hotspots").get_data(as_text=True)
    assert 'id="sheet-map"' in page and 'id="map"' not in page  # the sheet, not the dot plot
    items = re.findall(r'<li id="cluster-(\d+)">(.*?)</li>', page, re.S)
    assert [n for n, _ in items] == ["1", "2", "3"]
    assert "4 reports" in items[0][1] and "2 reports" in items[1][1] and "1 report," in items[2][1]
    assert "near=42.70015,23.31000" in items[0][1]  # each place links to its cases
    assert "1 case with a position is not drawn on this sheet." in page
    src = re.search(r'<img src="(/hotspots/map\.png[^"]*)"', page)[1].replace("&amp;", "&")
    png = get(c, src).data
    marker = pixels_of(png, mapsheet.MARKER)
    assert components(marker) == 3
    listed = get(c, re.search(r'href="(/\?near=42\.70015[^"]*)"', items[0][1])[1].replace("&amp;", "&"))
    assert listed.get_data(as_text=True).count("HOT0-") >= 4


def test_hotspots_follow_the_filter_and_fall_back_to_the_plot_without_sheets(vault, server, tmp_path):
    import_with(vault, server, tmp_path, hotspot_cases(), [sheet_field()])
    c = client(vault)
    page = get(c, "/hotspots?since=2030-01-01").get_data(as_text=True)  # no case in the filter
    assert "No report falls on this sheet." in page
    form = re.search(r'<form method="get".*?</form>', page, re.S)[0]
    assert re.search(r'<input type="hidden" name="sheet" value="[^"]+">', form)  # Apply keeps the sheet
    src = re.search(r'<img src="(/hotspots/map\.png[^"]*)"', page)[1].replace("&amp;", "&")
    assert "since=2030-01-01" in src
    assert components(pixels_of(get(c, src).data, mapsheet.MARKER)) == 0
    import_with(vault, server, tmp_path, [], [])  # the desk withdrew its sheets
    page = get(c, "/hotspots").get_data(as_text=True)
    assert 'id="map"' in page and 'id="sheet-map"' not in page and 'id="hotspot-table"' in page
    assert c.get("/hotspots/map.png", base_url=HOST).status_code == 404


# -- across the air gap, with the real server ----------------------------------------------------------


def test_a_sheet_and_a_tap_from_a_real_export_are_drawn(tmp_path, monkeypatch):
    """`sealdrop map add`, a reporter's no-JS tap on the sheet, `bundles.export`: the viewer imports the
    sheet from the signed manifest and draws the tapped point where the server placed it."""
    from sqlalchemy import select

    import crypto
    from dropbox import bundles, config, create_app, db
    from dropbox import cli as sealdrop
    from dropbox.blobs import FileBlobStore
    from dropbox.models import Desk
    from tests.dropbox.conftest import Reporter
    from tests.helpers import make_instance
    from viewer.vault import Vault

    instance = make_instance(tmp_path / "instance")
    (tmp_path / "town.png").write_bytes(street_map((800, 600)))
    bounds = "42.69,23.31,42.70,23.33"
    assert sealdrop.main(["map", "add", "--dir", str(instance), "--desk", "demo", "--image",
                          str(tmp_path / "town.png"), "--bounds", bounds, "--name", "en=Centre",
                          "--attribution", "Test streets", "--licence", "CC0-1.0"]) == 0  # fmt: skip
    app = create_app(config.load(instance))
    try:
        sent = Reporter(app.test_client()).submit(
            {"where_mode": "map", "map_sheet": "1", "map_x": "250", "map_y": "187", "map_precision": "exact"}
        )
        assert sent.status_code == 200
        cfg, key = config.load(instance), crypto.SigningKey.load(instance / config.SIGNING_KEY_FILE)
        with db.standalone_session(cfg.database_url) as s, open(tmp_path / "export.bundle", "wb") as f:
            desk = s.scalar(select(Desk).where(Desk.slug == "demo"))
            bundles.export(s, FileBlobStore(cfg.blob_dir), desk, key, f)
    finally:
        app.extensions["sealdrop.engine"].dispose()

    officer = crypto.Identity.load(instance / "demo-officer.identity", "")  # DEMO ONLY: empty passphrase
    with Vault.create(tmp_path / "vault", "pw", officer) as v:
        v.pin(key.verify_key, ["demo"])
    with Vault.open(tmp_path / "vault", "pw", write=True) as vault:
        assert importer.import_bundle(vault, tmp_path / "export.bundle").reports == 1
        [sheet] = mapsheet.sheets(vault.db, "demo")
        assert (sheet.width, sheet.height, sheet.attribution) == (800, 600, "Test streets")
        number, report, where = vault.db.execute(
            "SELECT c.number, r.id, r.where_json FROM reports r JOIN cases c ON c.id = r.case_id"
        ).fetchone()
        assert '"mode": "map"' in where
        png = get(client(vault), f"/case/{number}/report/{report}/map.png").data
    mx, my = centroid(pixels_of(png, mapsheet.MARKER))
    assert abs(mx - 250.5) <= 2 and abs(my - 187.5) <= 2  # the centre of the pixel the reporter tapped
