"""Fixtures for tests that drive the real Debian chromium through Playwright (a pytest plugin, loaded
by tests/conftest.py, so that tests/browser and tests/media share one browser: two would each start
Playwright's sync API, and the second fails inside the first one's event loop).

A loopback HTTP server serves dropbox/static at /static/ and this folder's pages/ at /test/
(ES modules do not load from file://, and 127.0.0.1 counts as a secure context, so WebCrypto
is there). One browser and one page serve the whole session: every test calls into the page.
"""

import posixpath
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

import pytest
from playwright.sync_api import Browser, Locator, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
MOUNTS = {"/static/": ROOT / "dropbox" / "static", "/test/": Path(__file__).parent / "browser" / "pages"}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip


class _Handler(SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".html": "text/html; charset=utf-8",
    }

    def translate_path(self, path: str) -> str:
        path = posixpath.normpath(unquote(urlsplit(path).path))
        for prefix, folder in MOUNTS.items():
            if path.startswith(prefix):
                target = (folder / path[len(prefix) :]).resolve()
                if target.is_relative_to(folder.resolve()):
                    return str(target)
        return str(ROOT / "nonexistent")

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass


@pytest.fixture(scope="session")
def static_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def context_for(browser: Browser):
    """context_for(javascript, locale=None) -> a new context (downloads allowed, Accept-Language from
    `locale`), closed when the test ends: the desk's browser tests' one way to make one."""
    contexts = []

    def make(javascript: bool, locale: str | None = None):
        options = {"locale": locale} if locale else {}
        contexts.append(browser.new_context(java_script_enabled=javascript, accept_downloads=True, **options))
        contexts[-1].set_default_timeout(15_000)
        return contexts[-1]

    yield make
    for context in contexts:
        context.close()


def all_loaded(images: Locator, tries: int = 600) -> None:
    """Wait until every image `images` finds has finished loading (or failed), polled from here: the
    predicate of wait_for_function is compiled in the page once its first check is false, which our
    pages' CSP (no 'unsafe-eval') refuses. About a minute at most."""
    for _ in range(tries):
        if images.evaluate_all("els => els.every((e) => e.complete)"):
            return
        images.page.wait_for_timeout(100)


def _test_page(browser: Browser, url: str) -> Iterator[tuple[Page, list[str]]]:
    """One of pages/ loaded in a page of its own, with every error it logs collected."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url)
    page.wait_for_function("window.ready === true")
    yield page, errors
    page.close()


@pytest.fixture(scope="session")
def _session_page(browser: Browser, static_url: str) -> Iterator[tuple[Page, list[str]]]:
    yield from _test_page(browser, f"{static_url}/test/envelope.html")


@pytest.fixture
def page(_session_page: tuple[Page, list[str]]) -> Iterator[Page]:
    """The test page with envelope.mjs loaded as `window.envelope` and helpers as `window.t`.

    Fails the test if the page logged an error or left a promise rejection unhandled.
    """
    page, errors = _session_page
    errors.clear()
    yield page
    page.evaluate("new Promise((done) => setTimeout(done, 0))")  # let late rejections surface
    assert not errors, errors


@pytest.fixture(scope="session")
def _clean_session_page(browser: Browser, static_url: str) -> Iterator[tuple[Page, list[str]]]:
    yield from _test_page(browser, f"{static_url}/test/clean.html")


@pytest.fixture
def clean_page(_clean_session_page: tuple[Page, list[str]]) -> Iterator[Page]:
    """The test page with clean.mjs loaded as `window.clean` and `c.run(b64, name, type)` (see
    tests/media/parity.py). Fails the test if the page logged an error."""
    page, errors = _clean_session_page
    errors.clear()
    yield page
    assert not errors, errors
