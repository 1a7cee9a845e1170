"""Accessibility of every reporter page, in real Chromium, checked by axe-core (npm, `make setup`).

For each language and with JavaScript off and on, every page and state a reporter can meet (the form,
with JS also with location and photo previews shown, the form with errors, the receipt, the done page,
sign-in, sign-in with an error, the case, the 404 page) must have no axe violation of impact "serious"
or "critical"; lesser ones are printed. The pages' strict CSP forbids
injecting axe, so these contexts (and only these) bypass it; other tests keep the CSP in force.
Keyboard use of the form is checked too: the skip link, then the tab order, with a visible focus.
"""

import functools

import pytest

from tests.helpers import REPO, jpeg_with_exif, live_server, make_instance

pytestmark = pytest.mark.browser

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
LANGUAGES = ["bg", "ru", "kk", "en"]
FAILING_IMPACTS = {"serious", "critical"}
HERE = {"latitude": 42.697708, "longitude": 23.321867}
# With JavaScript off, Playwright's evaluate still runs (and so do promise jobs), but timers never fire,
# and axe waits on setTimeout between checks. In that page only, timers become promise jobs. (axe skips
# <noscript> content as hidden: the JS-off note is not checked, though it is rendered.)
TIMERS_AS_PROMISE_JOBS = """() => {
  const later = (fn, ...args) => { Promise.resolve().then(() => fn(...args)); return 0; };
  window.setTimeout = (fn, _ms, ...args) => later(fn, ...args);
  window.clearTimeout = () => {};
  window.requestAnimationFrame = (fn) => later(fn, performance.now());
  window.requestIdleCallback = (fn) => later(fn, {didTimeout: false, timeRemaining: () => 50});
}"""


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> str:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make setup` (npm ci)")
    root = tmp_path_factory.mktemp("a11y")
    (root / "tmp").mkdir()
    instance = make_instance(root / "instance")
    with live_server(instance, root / "tmp") as (url, _):
        yield url


@pytest.fixture
def new_page(browser):
    """new_page(js) -> a page in a fresh context with JavaScript on or off, CSP bypassed for axe."""
    contexts = []

    def make(js: bool):
        where = {"permissions": ["geolocation"], "geolocation": HERE} if js else {}
        contexts.append(browser.new_context(java_script_enabled=js, bypass_csp=True, **where))
        return contexts[-1].new_page()

    yield make
    for ctx in contexts:
        ctx.close()


@functools.cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def axe_problems(page, js: bool, state: str) -> list[str]:
    """Run axe on what the page shows now; one line per serious or critical violation."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        if js:
            page.add_script_tag(path=str(AXE))
        else:  # a <script> tag does not run with JavaScript off; Playwright's evaluate still does
            page.evaluate(TIMERS_AS_PROMISE_JOBS)
            page.evaluate(_axe_source())
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    problems = []
    for v in results["violations"]:
        targets = "; ".join(" ".join(map(str, n["target"])) for n in v["nodes"])
        line = f"{state}: {v['id']} ({v['impact']}): {v['help']} -> {targets}"
        if v["impact"] in FAILING_IMPACTS:
            problems.append(line)
        else:
            print("axe, not failing:", line)  # shown with -s, or -rP
    return problems


def fill_and_send(page):
    page.locator("input[name=category]").first.check()
    page.fill("#what", "Someone sells drugs behind the gym every afternoon.")
    page.click("#send")
    page.wait_for_selector("#receipt", timeout=60_000)
    return page.inner_text("#receipt")


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("js", [False, True], ids=["js-off", "js-on"])
def test_every_reporter_page_passes_axe(base, new_page, lang, js):
    page = new_page(js)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    problems: list[str] = []

    page.goto(f"{base}/r/demo?lang={lang}")
    assert page.get_attribute("html", "lang") == lang
    if js:
        page.wait_for_selector("html[data-sealing=browser]", state="attached")
    problems += axe_problems(page, js, "form")
    if js:  # what only the script shows: location precision, photo previews, the keep-the-data choice
        page.locator("input[name=where_mode][value=device]").check()
        page.set_input_files("#files", files=[{"name": "IMG_0042.jpg", "mimeType": "image/jpeg",
                                               "buffer": jpeg_with_exif()}])  # fmt: skip
        page.wait_for_selector("#previews figure img")
        page.wait_for_selector("#geo-status:not(:empty)")
        problems += axe_problems(page, js, "form with location and a photo")

    page.click("#send")  # empty: the server re-renders with errors, or the script says what is missing
    page.wait_for_selector("#send-error:not([hidden])" if js else "#error-summary")
    # Focus goes to what went wrong (autofocus without JS), so a screen reader reads it first.
    assert page.evaluate("document.activeElement.id") == ("send-error" if js else "error-summary")
    problems += axe_problems(page, js, "form with errors")

    receipt = fill_and_send(page)
    problems += axe_problems(page, js, "receipt")
    assert page.locator("header nav").count() == 0  # a language link would lose the receipt

    page.fill("#last-group", "ZZZZ" if not receipt.endswith("ZZZZ") else "YYYY")
    page.click("#finish")
    page.wait_for_selector("#last-group-error:not([hidden])")
    problems += axe_problems(page, js, "receipt with a wrongly typed group")
    page.fill("#last-group", receipt.rsplit("-", 1)[1])
    page.click("#finish")
    page.wait_for_url("**/done*")
    problems += axe_problems(page, js, "done")

    page.goto(f"{base}/r/demo/check?lang={lang}")
    if js:
        page.wait_for_selector("html[data-sealing=browser]", state="attached")
    problems += axe_problems(page, js, "sign-in")

    page.fill("#receipt-input", "ABCD-EFGH")
    page.click("#check-form button[type=submit]")
    page.wait_for_selector("#check-error:not([hidden])" if js else "#receipt-error")
    problems += axe_problems(page, js, "sign-in with an error")

    page.fill("#receipt-input", receipt)
    page.click("#check-form button[type=submit]")
    page.wait_for_selector("#case-status")
    if js:
        page.wait_for_selector("#add-what")
    problems += axe_problems(page, js, "case")
    # Without JS the case page answers a POST: its language links lead to a page a GET can reach.
    assert page.get_attribute("a[hreflang=ru]", "href") == ("?lang=ru" if js else "/r/demo/check?lang=ru")

    response = page.goto(f"{base}/r/unknown?lang={lang}")
    assert response.status == 404
    problems += axe_problems(page, js, "404")

    assert not errors, errors
    assert not problems, "\n".join(problems)


def _focused(page) -> dict:
    return page.evaluate(
        """() => {
          const el = document.activeElement;
          const style = getComputedStyle(el);
          return {tag: el.tagName.toLowerCase(), id: el.id, name: el.getAttribute("name") || "",
                  cls: el.className || "", inLangs: !!el.closest("nav .langs"),
                  href: el.getAttribute("href") || "", visible: el.getBoundingClientRect().left >= 0,
                  // false when a part the browser draws inside the control has focus (the date picker's
                  // button, with the browser's own ring)
                  self: el.matches(":focus"),
                  outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2};
        }"""
    )


@pytest.mark.parametrize("js", [False, True], ids=["js-off", "js-on"])
def test_form_keyboard_order_and_skip_link(base, new_page, js):
    page = new_page(js)
    page.goto(f"{base}/r/demo?lang=en")
    if js:
        page.wait_for_selector("html[data-sealing=browser]", state="attached")

    # The skip link comes first, shows itself when focused, and moves focus to the main content.
    page.keyboard.press("Tab")
    first = _focused(page)
    assert first["cls"] == "skip" and first["href"] == "#main", first
    assert first["visible"] and first["outline"], first
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    after_skip = _focused(page)
    assert not after_skip["inLangs"] and page.evaluate(
        "document.getElementById('main').contains(document.activeElement)"
    ), after_skip

    # From the top: language picker, category radios, text area, ..., Send, each with a visible focus.
    page.goto(f"{base}/r/demo?lang=en")
    if js:
        page.wait_for_selector("html[data-sealing=browser]", state="attached")
    stops = []
    for _ in range(60):
        page.keyboard.press("Tab")
        stops.append(_focused(page))
        if stops[-1]["id"] == "send":
            break
    missing_outline = [s for s in stops if s["self"] and not s["outline"]]
    assert not missing_outline, missing_outline

    def index(predicate, what):
        found = [i for i, s in enumerate(stops) if predicate(s)]
        assert found, f"Tab never reached {what}: {stops}"
        return found[0]

    langs = index(lambda s: s["inLangs"], "the language picker")
    category = index(lambda s: s["name"] == "category", "the category radios")
    what = index(lambda s: s["id"] == "what", "the text area")
    send = index(lambda s: s["id"] == "send", "the Send button")
    assert 0 < langs < category < what < send
    assert sum(s["inLangs"] for s in stops) == 4  # every language, not just the others

    # The category radios are one Tab stop; Space chooses, arrows move within the group.
    assert sum(s["name"] == "category" for s in stops) == 1
    radios = page.locator("input[name=category]")
    page.focus("input[name=category] >> nth=0")
    page.keyboard.press("Space")
    assert radios.nth(0).is_checked()
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.name") == "category" and radios.nth(1).is_checked()
