"""The desk's map sheets in real Chromium on `sealview open`, with JavaScript on and off: the case page
shows the reported point on the sheet, the hotspots page the numbered clusters and their list, and not
one request leaves the viewer's own loopback address. Screenshots go to /tmp/map-shots/viewer-*.png."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.viewer_pages import InboxPage, running_viewer
from tests.viewer.bundles import Submission, report_doc
from tests.viewer.conftest import PASSPHRASE, make_vault
from tests.viewer.test_mapsheet import at, hotspot_cases, sheet_field
from viewer import importer

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/map-shots")


@pytest.fixture(scope="module")
def viewer_url(tmp_path_factory):
    path = tmp_path_factory.mktemp("map-ui") / "vault"
    vault, _officer, server = make_vault(path)
    server.extra = {"map_sheets": [sheet_field()]}
    subs = [Submission("MAPB-0001", report_doc("Graffiti on the school wall", where=at(42.6931, 23.3219,
            "100m", 40))), *hotspot_cases()]  # fmt: skip
    server.bundle(path.parent / "export.bundle", subs)
    importer.import_bundle(vault, path.parent / "export.bundle")
    vault.close()
    with running_viewer(vault.path, PASSPHRASE) as url:
        yield url


def open_recording(context_for, viewer_url: str, javascript: bool):
    """A signed-in page whose every request and every image response is recorded."""
    context = context_for(javascript)
    requests, images = [], {}
    context.on("request", lambda r: requests.append(r.url))
    context.on(
        "response",
        lambda r: (
            images.update({r.url: (r.status, r.headers.get("content-type"))}) if ".png" in r.url else None
        ),
    )
    page = context.new_page()
    page.goto(viewer_url, wait_until="domcontentloaded")
    return page, requests, images


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_case_and_hotspots_maps_load_from_the_loopback_only(context_for, viewer_url, javascript):
    base = viewer_url.split("/?")[0]
    page, requests, images = open_recording(context_for, viewer_url, javascript)
    mode = "js" if javascript else "nojs"
    SHOTS.mkdir(exist_ok=True)

    page.goto(f"{base}/case/MAPB-0001")  # "load": the map picture has arrived too
    img = page.locator(".map-sheet img")
    assert img.count() == 1
    src = img.get_attribute("src")
    assert src.endswith("/map.png") and images[base + src] == (200, "image/png")
    caption = page.locator(".map-sheet p").inner_text()
    assert "42.693, 23.322" in caption and "© Test cartographers" in caption
    assert img.bounding_box()["width"] > 100
    page.screenshot(path=str(SHOTS / f"viewer-case-{mode}.png"), full_page=True)

    page.goto(f"{base}/hotspots")
    img = page.locator("#sheet-map img")
    assert img.count() == 1 and images[base + img.get_attribute("src")] == (200, "image/png")
    clusters = page.locator("#sheet-clusters li")
    assert clusters.count() == 4  # the point of MAPB-0001 and the three places of hotspot_cases()
    assert "4 reports" in clusters.nth(0).inner_text()
    assert page.locator("#map").count() == 0  # the sheet, not the fallback dot plot
    page.screenshot(path=str(SHOTS / f"viewer-hotspots-{mode}.png"), full_page=True)

    with page.expect_navigation():
        page.click("#cluster-1 a")
    assert sorted(InboxPage(page, base).numbers()) == [f"HOT0-{i:04d}" for i in range(4)]

    assert requests and all(u.startswith("http://127.0.0.1:") and u.startswith(base) for u in requests), [
        u for u in requests if not u.startswith(base)
    ]
