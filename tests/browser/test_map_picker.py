"""The map step of the report form in real Chromium on a phone-sized screen (docs/maps.md).

JavaScript off: a tap on the sheet posts the form and it comes back as typed with the point marked;
Send seals the place, rounded to the chosen precision. JavaScript on: a click places the pin, arrow
keys move it, Enter confirms, the browser seals, and its `where` is the server's to the last bit.
Either way the page fits 390 CSS pixels without scrolling sideways and asks nothing of another host.
Screenshots of both paths go to /tmp/map-shots/.
"""

import json
from pathlib import Path

import pytest

from dropbox import config, db, maps
from dropbox.models import MapSheet
from tests.dropbox.maps_helpers import BOUNDS_ARG, write_osm
from tests.helpers import jpeg_with_exif, live_server, make_instance, open_all_envelopes

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/map-shots")
PHONE = {"width": 390, "height": 844}
TEXT = "Someone sells drugs behind the gym every day around two"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from dropbox import cli

    root = tmp_path_factory.mktemp("maps")
    (root / "tmp").mkdir()
    instance = make_instance(root / "instance")
    write_osm(root / "town.osm")  # a street grid, drawn by `sealdrop map render` as an operator would
    render = ["map", "render", "--dir", str(instance), "--desk", "demo", "--osm", str(root / "town.osm")]
    assert (
        cli.main([*render, "--bounds", BOUNDS_ARG, "-o", str(root / "town.png"), "--name", "en=Centre"]) == 0
    )
    closer = ["--bounds", "42.692,23.315,42.697,23.325", "-o", str(root / "closer.png"), "--detail-of", "1"]
    assert cli.main([*render, *closer]) == 0
    SHOTS.mkdir(exist_ok=True)
    with live_server(instance, root / "tmp") as (base, _proc):
        yield base, instance


def sheet(instance: Path, sheet_id: int = 1) -> MapSheet:
    with db.standalone_session(config.load(instance).database_url) as s:
        return s.get(MapSheet, sheet_id)


def last_where(instance: Path) -> dict:
    return json.loads(open_all_envelopes(instance)[-1])["where"]


def phone(browser, javascript: bool):
    context = browser.new_context(java_script_enabled=javascript, viewport=PHONE)
    context.set_default_timeout(30_000)
    page = context.new_page()
    sent, sizes = [], {}
    page.on("request", lambda r: sent.append(r.url))
    page.on("pageerror", lambda error: sent.append(f"script error: {error}"))  # fails only_our_host
    page.on("response", lambda r: sizes.__setitem__(r.url, len(r.body())) if "/map/" in r.url else None)
    return context, page, sent, sizes


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def only_our_host(sent: list[str], base: str) -> None:
    assert sent and all(url.startswith(base + "/") for url in sent), [
        u for u in sent if not u.startswith(base)
    ]


def test_without_javascript_tap_then_send(browser, served):
    base, instance = served
    context, page, sent, sizes = phone(browser, javascript=False)
    page.goto(f"{base}/r/demo?lang=en", wait_until="domcontentloaded")
    page.check("input[name=category] >> nth=0")
    page.fill("#what", TEXT)
    page.fill("#contact", "only on Tuesdays")
    assert page.is_visible("input.map-w320") and not page.is_visible("input.map-w560")  # 390 px: 320 shown
    assert fits_the_screen(page)
    photo = jpeg_with_exif(size=(640, 480))  # chosen before the tap, against the hint's advice
    page.set_input_files(
        "#files", files=[{"name": "IMG_0042.jpg", "mimeType": "image/jpeg", "buffer": photo}]
    )
    with page.expect_request(lambda r: "/map?" in r.url) as tap:
        page.click(
            "input.map-w320", position={"x": 100, "y": 75}
        )  # sheet pixel (281.25, 210.9) -> (281, 210)
    page.wait_for_load_state("domcontentloaded")
    body = tap.value.post_data_buffer  # url-encoded: the file's name travels, never its bytes
    assert b"files=IMG_0042.jpg" in body and photo[-64:] not in body and len(body) < 2000
    assert page.is_visible("#map-files-lost") and page.input_value("#files") == ""
    assert page.url.startswith(f"{base}/r/demo/map")
    assert page.input_value("#map_x") == "281" and page.input_value("#map_y") == "210"
    assert page.input_value("#what") == TEXT and page.input_value("#contact") == "only on Tuesdays"
    assert page.is_visible("#map-pin") and page.is_checked("input[name=where_mode][value=map]")
    assert page.is_checked("input[name=map_precision][value='100m']")
    assert fits_the_screen(page)
    page.screenshot(path=str(SHOTS / "no-js-marked.png"), full_page=True)
    page.click("#map-ok")  # "That's the place": on to the files, on the same page
    assert page.url.endswith("#step-files") and page.input_value("#map_x") == "281"
    page.click("#send")
    page.wait_for_selector("#receipt")
    page.screenshot(path=str(SHOTS / "no-js-receipt.png"))
    expected = maps.where_on_sheet(sheet(instance), 281, 210, "100m")
    assert last_where(instance) == expected and (expected["lat"], expected["lon"]) == (42.697, 23.316)
    only_our_host(sent, base)
    [(url, size)] = sizes.items()  # the sheet was fetched once, then came from the cache
    print(f"sheet {url.rsplit('/', 1)[1]}: {size} bytes")
    assert size < 300_000
    context.close()


def test_with_javascript_click_keys_and_send(browser, served):
    base, instance = served
    context, page, sent, _sizes = phone(browser, javascript=True)
    page.goto(f"{base}/r/demo?lang=en", wait_until="domcontentloaded")
    page.wait_for_selector("html[data-sealing=browser]", state="attached")
    page.check("input[name=category] >> nth=0")
    page.fill("#what", TEXT)
    page.click("input.map-w320", position={"x": 100, "y": 75})
    assert page.url == f"{base}/r/demo?lang=en"  # no round trip: the pin is placed on the page
    x, y = int(page.input_value("#map_x")), int(page.input_value("#map_y"))
    assert abs(x - 281) <= 3 and abs(y - 210) <= 3  # the mouse's sub-pixel place decides the last pixel
    pin = page.locator("#map-pin").bounding_box()
    page.mouse.move(pin["x"] + pin["width"] / 2, pin["y"] + pin["height"] / 2)
    page.mouse.down()
    page.mouse.move(pin["x"] + pin["width"] / 2 + 32, pin["y"] + pin["height"] / 2 + 16, steps=4)
    page.mouse.up()  # dragged 32 and 16 CSS pixels: 90 and 45 pixels of the 900-wide sheet
    dragged = int(page.input_value("#map_x")), int(page.input_value("#map_y"))
    assert abs(dragged[0] - x - 90) <= 3 and abs(dragged[1] - y - 45) <= 3, (x, y, dragged)
    x, y = dragged
    page.focus("input.map-w320")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")  # confirms; does not send
    step = round(sheet(instance).width / 100)
    assert page.input_value("#map_x") == str(x + 2 * step) and page.input_value("#map_y") == str(y + step)
    assert not page.is_visible("#receipt") and page.is_visible("#map-pin")
    page.check("input[name=map_precision][value=exact]")
    assert fits_the_screen(page)
    page.screenshot(path=str(SHOTS / "js-marked.png"), full_page=True)
    page.click("#send")
    page.wait_for_selector("#receipt", timeout=60_000)
    page.screenshot(path=str(SHOTS / "js-receipt.png"))
    assert last_where(instance) == maps.where_on_sheet(sheet(instance), x + 2 * step, y + step, "exact")
    only_our_host(sent, base)
    context.close()


def test_with_javascript_the_closer_sheet_keeps_the_place(browser, served):
    base, instance = served
    context, page, sent, _sizes = phone(browser, javascript=True)
    page.goto(f"{base}/r/demo?lang=en", wait_until="domcontentloaded")
    page.wait_for_selector("html[data-sealing=browser]", state="attached")
    page.click("input.map-w320", position={"x": 160, "y": 120})  # the middle: inside the detail sheet
    before = maps.where_on_sheet(
        sheet(instance), int(page.input_value("#map_x")), int(page.input_value("#map_y")), "exact"
    )
    assert page.is_visible("#map-closer") and not page.is_visible("#map-wider")
    page.click("#map-closer")
    assert page.input_value("#map_sheet") == "2" and "/map/2-" in page.get_attribute("input.map-w320", "src")
    detail = sheet(instance, 2)
    after = maps.where_on_sheet(
        detail, int(page.input_value("#map_x")), int(page.input_value("#map_y")), "exact"
    )
    metres = maps.pixel_metres(maps.bounds_of(detail), detail.width, detail.height)
    assert abs(after["lat"] - before["lat"]) * 111_320 <= 2 * metres + 3
    assert abs(after["lon"] - before["lon"]) * 111_320 * 0.74 <= 2 * metres + 3
    page.screenshot(path=str(SHOTS / "js-closer.png"), full_page=True)
    page.click("#map-wider")
    assert page.input_value("#map_sheet") == "1"
    assert fits_the_screen(page)
    only_our_host(sent, base)
    context.close()


@pytest.mark.parametrize("js", [False, True], ids=["js-off", "js-on"])
def test_the_map_step_passes_axe(browser, served, js):
    from tests.browser.test_accessibility import AXE, axe_problems

    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make setup` (npm ci)")
    base, _instance = served
    context = browser.new_context(java_script_enabled=js, bypass_csp=True, viewport=PHONE)  # axe needs it
    page = context.new_page()
    page.goto(f"{base}/r/demo?lang=bg", wait_until="domcontentloaded")
    if js:
        page.wait_for_selector("html[data-sealing=browser]", state="attached")
    problems = axe_problems(page, js, "map step")
    page.click("input.map-w320", position={"x": 50, "y": 50})
    page.wait_for_selector("#map-chosen:not([hidden])")
    problems += axe_problems(page, js, "map step with a point")
    assert problems == []
    context.close()


@pytest.mark.firefox
def test_in_firefox_at_tor_browsers_safest_a_tap_and_send(served):
    """Tor Browser's engine with Safest's prefs (no JavaScript, no SVG, no remote fonts): the image button
    sends the tap, the ring shows it, Send seals the place the tap chose."""
    from tests.firefox.bidi import SAFEST_PREFS, launch
    from tests.firefox.reporter_pages import send

    base, instance = served
    with launch(SAFEST_PREFS) as firefox:
        tab = firefox.new_tab()
        tab.goto(f"{base}/r/demo?lang=en")
        tab.click("input[name=category]")
        tab.type("#what", TEXT)
        shown = tab.call("() => [...document.querySelectorAll('.map-sheet')].find((e) => e.offsetWidth > 0)")
        box = tab.call("(e) => [e.offsetWidth, e.offsetHeight, e.name]", shown)
        tab.click(shown)  # its middle
        tab.wait_for("() => location.pathname.endsWith('/map') && document.querySelector('#map_x')?.value")
        x, y = (int(tab.call(f"() => document.querySelector('#map_{a}').value")) for a in "xy")
        drawn = sheet(instance)
        assert abs(x - drawn.width // 2) <= 3 and abs(y - drawn.height // 2) <= 3, (box, x, y)
        assert tab.call("() => document.querySelector('#what').value") == TEXT
        assert tab.call("() => getComputedStyle(document.querySelector('#map-pin')).display") != "none"
        send(tab)
        assert tab.query("#receipt")
        requests = [r.url for r in tab.requests()]
    assert last_where(instance) == maps.where_on_sheet(drawn, x, y, "100m")
    assert requests and all(url.startswith(base + "/") for url in requests)


def test_without_javascript_enter_in_a_field_sends_the_form_not_a_tap(browser, served):
    """The image button pressed from the keyboard points at nothing, and the page says how else to say
    where; Enter in a text field presses the form's first submit button: an off-screen Send, not the map."""
    base, _instance = served
    context, page, _sent, _sizes = phone(browser, javascript=False)
    page.goto(f"{base}/r/demo?lang=en", wait_until="domcontentloaded")
    page.focus("input.map-w320")
    page.keyboard.press("Enter")  # the image button pressed from the keyboard: no place pointed at
    page.wait_for_selector("#map-keyboard")
    assert page.input_value("#map_x") == "" and page.url.startswith(f"{base}/r/demo/map")
    page.fill("#contact", "only on Tuesdays")
    page.press("#contact", "Enter")
    page.wait_for_selector("#error-summary")  # the form came back from Send: nothing chosen yet
    assert page.url.startswith(f"{base}/r/demo?") and page.input_value("#map_x") == ""
    context.close()


def test_without_javascript_the_closer_sheet_is_one_tap_away(browser, served):
    base, instance = served
    context, page, sent, _sizes = phone(browser, javascript=False)
    page.goto(f"{base}/r/demo?lang=en", wait_until="domcontentloaded")
    page.fill("#what", TEXT)
    page.click("input.map-w320", position={"x": 160, "y": 109})  # about the middle: inside the detail
    page.wait_for_load_state("domcontentloaded")
    before = maps.where_on_sheet(
        sheet(instance), int(page.input_value("#map_x")), int(page.input_value("#map_y")), "exact"
    )
    page.click("#map-closer")
    page.wait_for_load_state("domcontentloaded")
    assert page.input_value("#map_sheet") == "2" and "/map/2-" in page.get_attribute("input.map-w320", "src")
    after = maps.where_on_sheet(
        sheet(instance, 2), int(page.input_value("#map_x")), int(page.input_value("#map_y")), "exact"
    )
    assert abs(after["lat"] - before["lat"]) < 2e-5 and abs(after["lon"] - before["lon"]) < 4e-5
    assert page.input_value("#what") == TEXT and page.is_visible("#map-pin") and fits_the_screen(page)
    page.screenshot(path=str(SHOTS / "no-js-closer.png"), full_page=True)
    page.click("#map-wider")
    page.wait_for_load_state("domcontentloaded")
    assert page.input_value("#map_sheet") == "1"
    only_our_host(sent, base)
    context.close()


def test_with_javascript_map_mode_without_a_point_says_so_and_sends_nothing(browser, served):
    base, instance = served
    stored = len(open_all_envelopes(instance))
    context, page, sent, _sizes = phone(browser, javascript=True)
    page.goto(f"{base}/r/demo?lang=en", wait_until="domcontentloaded")
    page.wait_for_selector("html[data-sealing=browser]", state="attached")
    page.check("input[name=category] >> nth=0")
    page.fill("#what", TEXT)
    page.check("input[name=where_mode][value=map]")
    page.click("#send")
    page.wait_for_selector("#send-error:not([hidden])")
    assert "Tap the map" in page.inner_text("#send-error") and len(open_all_envelopes(instance)) == stored
    page.click("input.map-w320", position={"x": 10, "y": 10})
    page.click("#map-again")  # "Choose again" on the page: the point is gone, and Send says so again
    assert page.input_value("#map_x") == "" and not page.is_visible("#map-pin")
    page.click("#send")
    page.wait_for_selector("#send-error:not([hidden])")
    assert "Tap the map" in page.inner_text("#send-error") and len(open_all_envelopes(instance)) == stored
    only_our_host(sent, base)
    context.close()
