"""Map sheets (docs/maps.md), the administrator's side: `sealdrop map add|list|remove`, what `map add`
refuses, the room the sheets take in an export, bounds south and west, the sheets in the signed export."""

import base64
import hashlib
import io

import pytest
from PIL import Image
from sqlalchemy import select

import crypto
from dropbox import bundles, config, db, maps
from dropbox.blobs import FileBlobStore
from dropbox.models import Desk, MapSheet
from tests.dropbox.maps_helpers import (
    BOUNDS,
    BOUNDS_ARG,
    HEIGHT,
    WIDTH,
    add_town,
    map_command,
    run,
    sheets,
    town_png,
    write_osm,
)


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


def test_bounds_south_of_the_equator_and_west_of_greenwich_are_taken_as_written(
    sqlite_instance, tmp_path, capsys
):
    picture = tmp_path / "town.png"
    picture.write_bytes(town_png())
    south_west = "-33.93,-18.43,-33.92,-18.41"  # begins with a minus, as the docs' S,W,N,E says to write
    add = map_command("add", sqlite_instance, "--desk", "demo", "--image", picture, "--bounds", south_west)
    assert run(*add) == 0
    [sheet] = sheets(sqlite_instance)
    assert (sheet.south, sheet.west, sheet.north, sheet.east) == (-33.93, -18.43, -33.92, -18.41)
    write_osm(tmp_path / "town.osm")
    render = map_command("render", sqlite_instance, "--osm", tmp_path / "town.osm", "-o", tmp_path / "r.png")
    assert run(*render, "--bounds", south_west) == 0, capsys.readouterr().err
