"""Page objects for sealview's loopback UI, and `running_viewer`: `sealview open` in a child process.

The tests talk to the screens through these objects (what an officer sees and does), so a change of
markup is fixed here once.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

from playwright.sync_api import Page

from tests.chromium import all_loaded
from tests.helpers import REPO


@contextlib.contextmanager
def running_viewer(vault: Path, passphrase: str, lang: str = "") -> Iterator[str]:
    """`sealview --vault VAULT open --no-browser [--lang L]`; yields the address it prints (with its
    token)."""
    env = {**os.environ, "SEALDROP_PASSPHRASE": passphrase, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "viewer.cli",
            "--vault",
            str(vault),
            "open",
            "--no-browser",
            *(["--lang", lang] if lang else []),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        line = proc.stdout.readline()
        if "http://127.0.0.1:" not in line:  # the sentence around it is in the officer's language
            proc.terminate()  # first: its stderr ends only when it does
            raise RuntimeError(f"sealview open failed: {line} {proc.stderr.read()}")
        yield line.split()[-1]
    finally:
        proc.terminate()
        proc.wait(10)


class Screen:
    def __init__(self, page: Page, base: str) -> None:
        self.page, self.base = page, base

    def click_and_load(self, selector: str) -> None:
        """Click something that loads a page (a link, a form's button) and wait for the new page."""
        with self.page.expect_navigation():
            self.page.click(selector)

    @property
    def heading(self) -> str:
        return self.page.inner_text("h1")

    def nav(self, label: str) -> Screen:
        self.click_and_load(f"nav[aria-label=Sections] >> text={label}")
        return {
            "Inbox": InboxPage,
            "Hotspots": HotspotsPage,
            "Dashboard": DashboardPage,
            "Replies": RepliesPage,
        }[label](self.page, self.base)


class Viewer:
    """The UI as a whole: sign in once with the printed address, then go to any screen."""

    def __init__(self, page: Page, url: str) -> None:
        self.page, self.url, self.base = page, url, url.split("/?")[0]

    def sign_in(self) -> InboxPage:
        self.page.goto(self.url)
        return InboxPage(self.page, self.base)

    def inbox(self, **filters) -> InboxPage:
        self.page.goto(f"{self.base}/?{urlencode(filters)}")
        return InboxPage(self.page, self.base)

    def case(self, number: str) -> CasePage:
        self.page.goto(f"{self.base}/case/{number}")
        return CasePage(self.page, self.base)

    def hotspots(self, **filters) -> HotspotsPage:
        self.page.goto(f"{self.base}/hotspots?{urlencode(filters)}")
        return HotspotsPage(self.page, self.base)

    def dashboard(self) -> DashboardPage:
        self.page.goto(f"{self.base}/dashboard")
        return DashboardPage(self.page, self.base)

    def replies(self) -> RepliesPage:
        self.page.goto(f"{self.base}/replies")
        return RepliesPage(self.page, self.base)


class InboxPage(Screen):
    def numbers(self) -> list[str]:
        return self.page.locator("#inbox .case-link").all_inner_texts()

    @property
    def count(self) -> str:
        return self.page.inner_text("#count")

    def search(self, words: str) -> InboxPage:
        self.page.fill("#q", words)
        self.click_and_load("#apply")
        return self

    def filter(self, **choices: str) -> InboxPage:
        for name, value in choices.items():
            if name in ("since", "until"):
                self.page.fill(f"#{name}", value)
            else:
                self.page.select_option(f"#{name}", value)
        self.click_and_load("#apply")
        return self

    def clear(self) -> InboxPage:
        self.click_and_load("#clear")
        return self

    def next_page(self) -> InboxPage:
        self.click_and_load("#next")
        return self

    @property
    def page_of(self) -> str:
        return self.page.inner_text("#page-of")

    def open(self, number: str) -> CasePage:
        self.click_and_load(f"#inbox .case-link:text-is('{number}')")
        return CasePage(self.page, self.base)

    def states(self) -> list[str]:
        return self.page.locator("#inbox .state").all_inner_texts()

    def tick(self, *numbers: str) -> InboxPage:
        for number in numbers:
            self.page.check(f"#pick-{number}")
        return self

    def bulk(
        self,
        state: str = "",
        *,
        duplicate_of: str = "",
        tell: bool = False,
        everything: bool = False,
        close: bool = False,
    ) -> InboxPage:
        """The bulk triage form: the ticked cases (or `everything` in the filter) get `state` (a label),
        or become duplicates of `duplicate_of`, or are closed (the "Close them" button)."""
        if everything:
            self.page.check("#scope-all")
        if state:
            self.page.select_option("#bulk-state", label=state)
        if duplicate_of:
            self.page.fill("#bulk-duplicate-of", duplicate_of)
        if tell:
            self.page.check("#bulk-tell")
        self.click_and_load("#bulk-close" if close else "#bulk-apply")
        return self

    @property
    def bulk_done(self) -> str:
        return " ".join(self.page.inner_text("#bulk-done").split())


class CasePage(Screen):
    @property
    def number(self) -> str:
        return self.page.inner_text("#case-number")

    @property
    def state(self) -> str:
        return self.page.inner_text("#state")

    @property
    def position(self) -> str:
        """ "n of N" in the inbox's filter the case was opened from."""
        return self.page.inner_text("#position")

    @property
    def reporter_sees(self) -> str:
        return " ".join(self.page.inner_text("#reporter-sees").split())

    def set_state(self, label: str, duplicate_of: str = "") -> CasePage:
        """Press the state's button (Duplicate: with the case it duplicates)."""
        if label == "Duplicate":
            self.page.fill("#duplicate-of", duplicate_of)
            self.click_and_load("#set-duplicate")
        else:
            self.click_and_load(f".state-buttons button:text-is('{label}')")
        return self

    def next(self) -> CasePage:
        self.click_and_load("#next-case")
        return self

    def previous(self) -> CasePage:
        self.click_and_load("#prev-case")
        return self

    def back_to_list(self) -> InboxPage:
        self.click_and_load("#back-to-list")
        return InboxPage(self.page, self.base)

    def press_key(self, key: str) -> CasePage:
        """An access key as Chromium on Linux takes them (Alt+key), and the page it loads. Sent
        through CDP as a keyboard sends it: Playwright's own Alt+key leaves out the key's text,
        which is what Chromium matches access keys on."""
        cdp = self.page.context.new_cdp_session(self.page)
        stroke = {"modifiers": 1, "key": key, "code": f"Key{key.upper()}", "unmodifiedText": key, "text": key,
                  "windowsVirtualKeyCode": ord(key.upper())}  # fmt: skip
        with self.page.expect_navigation():
            cdp.send("Input.dispatchKeyEvent", {"type": "keyDown", **stroke})
            cdp.send("Input.dispatchKeyEvent", {"type": "keyUp", **stroke})
        self.page.wait_for_load_state("domcontentloaded")
        cdp.detach()
        return self

    def add_note(self, text: str) -> CasePage:
        self.page.fill("#note-text", text)
        self.click_and_load("#add-note")
        return self

    def notes(self) -> list[str]:
        return self.page.locator(".note-entry .text").all_text_contents()

    def reply(self, text: str, status: str | None = None) -> CasePage:
        """Queue a reply; `status` (the reporter's word, "" for unchanged) or the one the page offers."""
        self.page.fill("#reply-text", text)
        if status is not None:
            self.page.select_option("#reply-status", value=status)
        self.click_and_load("#send-reply")
        return self

    def replies(self) -> list[str]:
        return self.page.locator(".reply-entry .text").all_text_contents()

    def recipients(self) -> list[str]:
        """The police recipients the forward form offers, by name."""
        options = self.page.locator("#police-recipient option").all_text_contents()
        return [o.rsplit(" (", 1)[0] for o in options]

    def keep_recipient(self, name: str, public_key: str) -> CasePage:
        """Add a police recipient from this case (its key pasted), and come back to the case."""
        self.click_and_load("#add-police")
        self.page.fill("#recipient-name", name)
        self.page.click("details summary")
        self.page.fill("#recipient-text", public_key)
        self.click_and_load("#add-recipient")
        return self

    def forward_to(self, name: str) -> CasePage:
        value = self.page.locator("#police-recipient option", has_text=f"{name} (").first.get_attribute(
            "value"
        )
        self.page.select_option("#police-recipient", value=value)
        self.click_and_load("#forward")
        return self

    def history(self) -> list[str]:
        return self.page.locator("#history-table tbody td:nth-child(3)").all_inner_texts()

    def photos_shown(self) -> list[int]:
        """The natural width of every photo on the page (0 for one the browser could not decode), once
        each has finished loading: on a busy machine the viewer's re-encoding may still be under way."""
        photos = self.page.locator("figure img")
        all_loaded(photos)
        return photos.evaluate_all("els => els.map((e) => e.naturalWidth)")

    def warnings(self) -> list[str]:
        return self.page.locator(".warning, .warnings li, .problem").all_inner_texts()

    @property
    def saved(self) -> bool:
        return self.page.locator("#saved").count() == 1


class HotspotsPage(Screen):
    def dots(self) -> list[str]:
        """The count written in each circle drawn (single reports have none)."""
        return self.page.locator("#map .dot .count").all_text_contents()

    def landmarks(self) -> list[str]:
        return self.page.locator("#map .landmark text").all_text_contents()

    def table(self) -> list[list[str]]:
        return [r.locator("td").all_inner_texts() for r in self.page.locator("#hotspot-table tbody tr").all()]

    def list_biggest(self) -> InboxPage:
        with self.page.expect_navigation():
            self.page.locator("#hotspot-table tbody tr").first.locator("a").click()
        return InboxPage(self.page, self.base)


class DashboardPage(Screen):
    def table(self, section: str) -> dict[str, str]:
        rows = self.page.locator(f"section[aria-labelledby={section}] tbody tr").all()
        return {r.locator("th").inner_text(): r.locator("td").first.inner_text() for r in rows}

    def forwarded(self) -> list[str]:
        return self.page.locator("#forwarded-table tbody th").all_inner_texts()


class RepliesPage(Screen):
    def waiting(self) -> list[str]:
        return self.page.locator("#pending tbody th").all_inner_texts()

    def write_bundle(self) -> RepliesPage:
        self.click_and_load("#write-bundle")
        return self

    def outbox(self) -> list[str]:
        return self.page.locator("#outbox a").all_inner_texts()


# -- the keyboard alone ----------------------------------------------------------------------------

FOCUS = """() => { const e = document.activeElement, s = getComputedStyle(e);
    return {tag: e.tagName.toLowerCase(), id: e.id, cls: e.getAttribute('class') || '',
            text: (e.innerText || e.textContent || '').trim().slice(0, 80),
            outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2}; }"""


def focused(page: Page) -> dict:
    """The element with the focus: tag, id, class, its text, and whether its focus ring shows."""
    return page.evaluate(FOCUS)


def tab_to(page: Page, *, id: str = "", text: str = "", limit: int = 200) -> list[dict]:
    """Press Tab until the element with this id (or whose text starts with `text`) has the focus.
    Returns the stops on the way; every one must show where the focus is."""
    stops = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        stops.append(focused(page))
        here = stops[-1]
        if (id and here["id"] == id) or (text and here["text"].startswith(text)):
            unringed = [s for s in stops if not s["outline"] and s["tag"] != "body"]
            assert not unringed, f"focus not shown on {unringed}"
            return stops
    raise AssertionError(f"Tab never reached {id or text!r}: {stops[-5:]}")


def choose_with_arrows(page: Page, select_id: str, value: str) -> None:
    """Change a focused <select> with the arrow keys alone until it holds `value`."""
    for _ in range(20):
        if page.eval_on_selector(f"#{select_id}", "s => s.value") == value:
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"#{select_id} never reached {value!r} with the arrow keys")
