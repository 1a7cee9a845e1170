"""Map sheets (docs/maps.md), the geometry: a sheet's pixel becomes a place within its bounds, rounded
to the precision the reporter chose, as the browser rounds it."""

import pytest

from dropbox import maps
from dropbox.models import MapSheet
from tests.dropbox.maps_helpers import BOUNDS, HEIGHT, STREET_X, STREET_Y, WIDTH


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
