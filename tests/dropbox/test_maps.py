"""No tests here any more: the map sheet tests are test_maps_admin.py, test_maps_geometry.py,
test_maps_render.py and test_maps_taps.py, and what they share is maps_helpers.py. This module stays only
because tests/browser/test_map_picker.py and tests/dropbox/test_export_integrity.py import helpers from
it; once they import from maps_helpers, it can go."""

from tests.dropbox.maps_helpers import BOUNDS_ARG, add_town, write_osm

__all__ = ["BOUNDS_ARG", "add_town", "write_osm"]
