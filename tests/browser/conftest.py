"""Fixtures for tests that drive the real Debian chromium through Playwright.

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
from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
MOUNTS = {"/static/": ROOT / "dropbox" / "static", "/test/": Path(__file__).parent / "pages"}
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


@pytest.fixture(scope="session")
def _session_page(browser: Browser, static_url: str) -> Iterator[tuple[Page, list[str]]]:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{static_url}/test/envelope.html")
    page.wait_for_function("window.ready === true")
    yield page, errors
    page.close()


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
