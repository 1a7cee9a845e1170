"""Hostile reports in real Chromium, with JavaScript on and the UI's CSP in force: markup and script in
every field, `javascript:` links, a 50,000 × 50,000 PNG, a decompression bomb, broken JPEGs, invalid
UTF-8, 5 MB of text. Nothing may execute (no dialog, no console error, no page error), no script
element or `javascript:` address may exist in any page, nothing crashes, and the rest of the inbox
still works."""

import pytest

from tests.browser.viewer_pages import Viewer, running_viewer
from tests.viewer.conftest import PASSPHRASE, make_vault
from tests.viewer.hostile import hostile_submissions

pytestmark = pytest.mark.browser

CASES = [
    "XSS0-0001",
    "XSS0-0002",
    "IMG0-0001",
    "IMG0-0002",
    "UTF8-0001",
    "UTF8-0002",
    "LONG-0001",
    "JSON-0001",
    "JSON-0002",
    "GOOD-0001",
]
ACTIVE = """() => ({
  scripts: document.scripts.length,
  addresses: [...document.querySelectorAll('[href], [src], [action], [formaction], [xlink\\\\:href]')]
    .map(e => e.getAttribute('href') || e.getAttribute('src') || e.getAttribute('action') || '')
    .filter(a => /^\\s*(javascript|data|vbscript):/i.test(a)),
  handlers: [...document.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.name))
    .filter(n => n.startsWith('on')),
  frames: document.querySelectorAll('iframe, object, embed, style:not([data-axe])').length,
  hidden: getComputedStyle(document.body).display === 'none',
})"""


@pytest.fixture(scope="module")
def viewer_url(tmp_path_factory):
    vault, _, _ = make_vault(tmp_path_factory.mktemp("hostile-ui") / "vault", [hostile_submissions()])
    vault.close()
    with running_viewer(vault.path, PASSPHRASE) as url:
        yield url


def test_hostile_reports_render_inert(browser, viewer_url):
    context = browser.new_context(java_script_enabled=True)  # scripts could run, if any got in
    page = context.new_page()
    caught: list[str] = []
    page.on("dialog", lambda d: (caught.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("pageerror", lambda e: caught.append(f"pageerror: {e}"))
    page.on(
        "console",
        lambda m: (
            caught.append(f"{m.type}: {m.text} {m.location}") if m.type in ("error", "warning") else None
        ),
    )
    viewer = Viewer(page, viewer_url)
    inbox = viewer.sign_in()
    assert inbox.count == f"{len(CASES)} cases."
    pages = [
        ("inbox", lambda: viewer.inbox()),
        ("search", lambda: viewer.inbox(q="script alert")),
        ("hotspots", viewer.hotspots),
        ("dashboard", viewer.dashboard),
        ("replies", viewer.replies),
    ]
    pages += [(n, lambda n=n: viewer.case(n)) for n in CASES]
    for name, go in pages:
        go()
        page.wait_for_load_state("load")
        found = page.evaluate(ACTIVE)
        assert found == {"scripts": 0, "addresses": [], "handlers": [], "frames": 0, "hidden": False}, name
    assert caught == []

    case = viewer.case("IMG0-0001")
    assert case.photos_shown() == [] and len([w for w in case.warnings() if "decompression bomb" in w]) == 2
    case = viewer.case("IMG0-0002")
    assert case.photos_shown() == [] and len(case.warnings()) >= 3
    case = viewer.case("LONG-0001")
    assert "The text goes on: 5000000 characters" in page.inner_text("main")
    # The rest still works: the normal report, its photo, search and filters.
    inbox = viewer.inbox().search("normal")
    assert inbox.numbers() == ["GOOD-0001"]
    assert inbox.open("GOOD-0001").photos_shown() == [64]
    assert viewer.inbox().filter(photos="yes").count == "3 cases match the filters."
    assert caught == []
    context.close()


def test_original_hostile_files_are_never_rendered(browser, viewer_url):
    """Opening an attachment's download address never renders it: it is a download, whatever it holds."""
    context = browser.new_context(java_script_enabled=True)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    viewer = Viewer(page, viewer_url)
    viewer.sign_in()
    viewer.case("XSS0-0002")
    links = page.eval_on_selector_all("a[href$='/download']", "els => els.map(e => e.href)")
    assert len(links) == 2  # the SVG and the HTML page posing as a photo
    for link in links:
        with page.expect_download() as download:
            page.evaluate(
                "href => { const a = document.createElement('a'); a.href = href; a.click(); }", link
            )
        assert download.value.suggested_filename.startswith("case-XSS0-0002-")
    assert dialogs == []
    context.close()
