"""Hostile reports through the import and every page of the UI (Flask test client): nothing crashes,
nothing reaches a page unescaped, no original image is ever served inline. The same reports are opened
in Chromium by tests/browser/test_viewer_hostile.py, which listens for dialogs and errors."""

import re
from html.parser import HTMLParser

import pytest

from tests.viewer.conftest import make_vault
from tests.viewer.hostile import XSS, hostile_submissions
from viewer import queries
from viewer.web import create_app


@pytest.fixture(scope="module")
def vault(tmp_path_factory):
    v, _, _ = make_vault(tmp_path_factory.mktemp("hostile") / "vault", [hostile_submissions()])
    yield v
    v.close()


@pytest.fixture
def client(vault):
    c = create_app(vault, "t0ken").test_client()
    assert c.get("/?token=t0ken").status_code == 303
    return c


class _Elements(HTMLParser):
    """Every element and attribute the browser would build from the page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "iframe", "object", "embed", "style", "base", "meta") and tag != "meta":
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith(("javascript:", "data:")):
                self.found.append(f"{tag} {name}={value}")
            if name == "style":
                self.found.append(f"{tag} style=")


def unescaped(html: str) -> list[str]:
    """Markup from the reports that became elements or attributes (the escaped text does not count)."""
    parser = _Elements()
    parser.feed(html)
    return [x for x in XSS if x in html] + parser.found


def test_every_page_renders_the_hostile_reports_inert(client, vault):
    assert vault.db.execute("SELECT count(*) FROM reports").fetchone()[0] == len(hostile_submissions())
    pages = ["/", "/?q=script", "/?page=2", "/hotspots", "/dashboard", "/replies"]
    pages += [
        f"/case/{n}"
        for n in (
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
        )
    ]
    for url in pages:
        r = client.get(url)
        assert r.status_code == 200, url
        html = r.get_data(as_text=True)
        assert unescaped(html) == [], url
        assert (
            "script-src" not in r.headers["Content-Security-Policy"]
        )  # default-src 'none': no script at all


def test_what_the_hostile_pages_say(client):
    html = client.get("/case/IMG0-0001").get_data(as_text=True)
    assert html.count("claims an enormous size (a decompression bomb?): not decoded") == 2
    html = client.get("/case/IMG0-0002").get_data(as_text=True)
    assert html.count("damaged") + html.count("not an image this viewer decodes") >= 3
    html = client.get("/case/UTF8-0001").get_data(as_text=True)
    assert "not valid UTF-8" in html and "\ufffd" in html
    html = client.get("/case/UTF8-0002").get_data(as_text=True)
    assert "not a sealdrop report document" in html
    html = client.get("/case/LONG-0001").get_data(as_text=True)
    assert "The text goes on: 5000000 characters" in html and len(html) < 1_000_000
    html = client.get("/case/XSS0-0002").get_data(as_text=True)
    assert "not a photo, video or audio this viewer shows" in html and '<img src="/a/' not in html
    html = client.get("/case/GOOD-0001").get_data(as_text=True)
    assert re.search(r'<img src="/a/\d+/image"', html)


def test_originals_are_never_served_inline(client, vault):
    with vault.lock:
        ids = [r[0] for r in vault.db.execute("SELECT id FROM attachments WHERE opened")]
    for att in ids:
        r = client.get(f"/a/{att}/image")
        assert r.status_code in (200, 404)
        if r.status_code == 200:
            assert r.mimetype == "image/jpeg" and r.data.startswith(b"\xff\xd8")
        d = client.get(f"/a/{att}/download")
        assert d.mimetype == "application/octet-stream"
        assert d.headers["Content-Disposition"].startswith("attachment;")
        assert d.headers["X-Content-Type-Options"] == "nosniff"
        assert client.get(f"/a/{att}/media").status_code == 404  # nothing here is playable media


def test_the_rest_of_the_inbox_still_works(client, vault):
    html = client.get("/?q=normal").get_data(as_text=True)
    assert "GOOD-0001" in html and "1 case matches" in html
    assert queries.inbox(vault, queries.Filters(photos="yes")).total >= 3
