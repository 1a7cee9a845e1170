"""The whole loop in Bulgarian, Russian and Kazakh, for people who read no English (issue 13): the
reporter sends and later reads the answer, the clerk exports and imports the replies on the desk pages,
the officer imports, triages, replies, forwards to the police and writes the reply bundle with sealview
(its CLI and its pages). Every page and every line the CLI prints on the way is read for English: a
message of either catalogue left untranslated, or any run of English words, fails the test.

Only data may be in Latin letters (the receipt, file names, fingerprints, product names); what the
people in the test type is in their own language."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from playwright.sync_api import Page

import crypto
from tests.browser.test_accessibility import AXE, axe_problems
from tests.desk_helpers import PASSWORD, add_user, code
from tests.helpers import REPO, jpeg_with_exif, live_server, make_instance

pytestmark = pytest.mark.browser

# What the people in the test write, in their language.
WRITTEN = {
    "bg": ("Двама мъже продават хапчета на спирката след училище.", "Благодарим ви, проверяваме."),
    "ru": ("Двое мужчин продают таблетки на остановке после школы.", "Спасибо, мы проверяем."),
    "kk": ("Екі ер адам мектептен кейін аялдамада дәрі сатады.", "Рахмет, біз тексеріп жатырмыз."),
}
# Names and words that are the same in every language: products, formats, the receipt's own letters.
NOT_ENGLISH = ("sealdrop", "sealview", "JavaScript", "Tor Browser", "Tor", "USB", "PDF", "TOTP", "ID",
               "English", "Ed25519", "HEIC", "MP4", "SHA-256", "Onion", "Firefox", "Chromium")  # fmt: skip
# A command the text tells the reader to run is typed as it is, in any language.
COMMAND = re.compile(r"\b(sealdrop|sealview)( [a-z][a-z-]*){1,2}")
# Two or more Latin words in a row: an English sentence or phrase, never data like "case 12345".
ENGLISH_RUN = re.compile(r"[A-Za-z][a-z'’]+(?:[ ,;:]+[A-Za-z][a-z'’]+)+")
CATALOGUES = (REPO / "dropbox" / "translations", REPO / "viewer" / "translations")
PLACEHOLDER = re.compile(r"%\(\w+\)[sdr]|%[sd]|\{\w*\}")


def english_messages() -> list[str]:
    """The longest literal stretch of every English message of both catalogues, where it is long
    enough to mean something: what would show on a page if its translation were missing."""
    stretches = set()
    for root in CATALOGUES:
        with (root / "ru" / "LC_MESSAGES" / "messages.po").open("rb") as f:
            for message in read_po(f):
                ids = message.id if isinstance(message.id, tuple) else (message.id,)
                for text in filter(None, ids):
                    longest = max(PLACEHOLDER.split(text), key=len).strip(" .,:;")
                    if len(longest) >= 14 and " " in longest:
                        stretches.add(longest)
    return sorted(stretches)


ENGLISH = english_messages()


def english_in(text: str, data: tuple[str, ...] = ()) -> list[str]:
    """What in `text` reads as English: whole catalogue messages, then runs of English words."""
    found = [m for m in ENGLISH if m in text]
    text = COMMAND.sub(" ", text)
    for word in (*data, *NOT_ENGLISH):
        text = text.replace(word, " ")
    text = re.sub(r"https?://\S+|\S+\.(bundle|pub|jpg|pdf|json|identity)\b", " ", text)
    return found + ENGLISH_RUN.findall(text)


class Walk:
    """Reads every page and every CLI line of the loop for English, and says where it was found; runs
    axe on every page too (serious and critical problems fail, as on the English pages)."""

    def __init__(self, lang: str, data: tuple[str, ...], javascript: bool) -> None:
        self.lang, self.data, self.javascript, self.found = lang, data, javascript, []

    def page(self, page: Page, where: str) -> None:
        assert page.get_attribute("html", "lang") == self.lang, where
        for english in english_in(page.inner_text("body"), self.data):
            self.found.append(f"{where}: {english!r}")
        # sealview's pages have no script of their own: axe runs there with the browser's JS on
        javascript = self.javascript or where.startswith("sealview")
        self.found += axe_problems(page, javascript, where)

    def printed(self, text: str, where: str) -> None:
        for english in english_in(text, self.data):
            self.found.append(f"{where}: {english!r}")


def sealview(vault: Path, lang: str, *argv: str) -> str:
    """`sealview --vault VAULT --lang L ...` with the demo officer's empty passphrase (DEMO ONLY);
    returns what it printed, both streams, which the officer reads alike."""
    env = {**os.environ, "SEALDROP_PASSPHRASE": "", "LANG": "C.UTF-8"}
    done = subprocess.run(
        [sys.executable, "-m", "viewer.cli", "--vault", str(vault), "--lang", lang, *argv],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


@contextlib.contextmanager
def sealview_open(vault: Path, lang: str) -> Iterator[tuple[str, str]]:
    """`sealview open --no-browser`; yields the address it printed (with its token) and the line."""
    env = {**os.environ, "SEALDROP_PASSPHRASE": "", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "viewer.cli", "--vault", str(vault), "--lang", lang, "open", "--no-browser"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        address = re.search(r"http://127\.0\.0\.1:\d+/\S*", line)
        if address is None:
            raise RuntimeError(f"sealview open failed: {line} {proc.stderr.read()}")
        yield address.group(0), line
    finally:
        proc.terminate()
        proc.wait(10)


def click_and_load(page: Page, selector: str) -> None:
    with page.expect_navigation():
        page.click(selector)
    page.wait_for_load_state("domcontentloaded")


def reporter_sends(page: Page, base: str, lang: str, javascript: bool, walk: Walk) -> tuple[str, str]:
    page.goto(f"{base}/r/demo?lang={lang}")
    if javascript:
        page.wait_for_selector("html[data-sealing=browser]", state="attached")
    walk.page(page, "report form")
    page.locator("input[name=category]").first.check()
    page.fill("#what", WRITTEN[lang][0])
    page.set_input_files(
        "#files", files=[{"name": "p.jpg", "mimeType": "image/jpeg", "buffer": jpeg_with_exif()}]
    )
    page.click("#send")
    page.wait_for_selector("#receipt", timeout=90_000)
    walk.page(page, "receipt page")
    return page.inner_text("#receipt"), page.inner_text("#case-number")


def clerk_signs_in(page: Page, desk_url: str, instance: Path, lang: str, walk: Walk) -> None:
    """The clerk's browser asks for the language; the account page then keeps it as their setting."""
    name, secret = add_user(instance, "clerk", "demo")
    page.goto(f"{desk_url}/desk/login?lang={lang}")
    walk.page(page, "desk login")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.fill("#code", code(secret))
    click_and_load(page, "#login-form button[type=submit]")
    page.goto(f"{desk_url}/desk/account")
    page.check(f"#language-form input[value={lang}]")
    click_and_load(page, "#save-language")
    walk.page(page, "desk account")


def clerk_exports(page: Page, desk_url: str, walk: Walk) -> bytes:
    page.goto(f"{desk_url}/desk/")
    walk.page(page, "desk inbox")
    click_and_load(page, "#export-demo")
    walk.page(page, "desk inbox, export ready")
    with page.expect_download() as info:
        page.click("#download-demo")
    return Path(info.value.path()).read_bytes()


def clerk_imports_replies(page: Page, desk_url: str, replies: Path, walk: Walk) -> None:
    page.goto(f"{desk_url}/desk/replies")
    walk.page(page, "desk replies")
    page.set_input_files("#bundle", str(replies))
    click_and_load(page, "form:has(#bundle) button[type=submit]")
    page.wait_for_selector("#import-result")
    walk.page(page, "desk replies imported")


def officer_sets_up(instance: Path, tmp_path: Path, lang: str, exported: bytes, walk: Walk) -> Path:
    """A vault in the officer's language, a police recipient kept in it, the export imported."""
    vault, bundle = tmp_path / "vault", tmp_path / "export.bundle"
    bundle.write_bytes(exported)
    police = crypto.Identity.generate()
    (tmp_path / "police.pub").write_text(police.public_key.to_file_text())
    steps = [
        ("init", "--identity", str(instance / "demo-officer.identity"),
         "--server-key", str(instance / "server-signing.pub"), "--desk", "demo"),
        ("recipient", "add", str(tmp_path / "police.pub"), "--name", "Полиция"),
        ("import", str(bundle)),
    ]  # fmt: skip
    for argv in steps:
        walk.printed(sealview(vault, lang, *argv), f"sealview {argv[0]}")
    return vault


def officer_works_the_case(page: Page, url: str, number: str, lang: str, walk: Walk) -> bytes:
    """Triage, reply, forward, then the reply bundle from the outbox, as the clerk will carry it."""
    page.goto(url)
    walk.page(page, "sealview inbox")
    base = url.split("/?")[0]
    page.goto(f"{base}/case/{number}")
    walk.page(page, "sealview case")
    click_and_load(page, "#set-checking")
    walk.page(page, "sealview case, triaged")
    page.fill("#reply-text", WRITTEN[lang][1])
    click_and_load(page, "#send-reply")
    walk.page(page, "sealview case, reply queued")
    page.select_option("#police-recipient", index=0)
    click_and_load(page, "#forward")
    walk.page(page, "sealview case, forwarded")
    for path in ("/dashboard", "/hotspots", "/replies"):
        page.goto(f"{base}{path}")
        walk.page(page, f"sealview {path}")
    click_and_load(page, "#write-bundle")
    walk.page(page, "sealview replies, bundle written")
    with page.expect_download() as info:
        page.locator("#outbox a", has_text="replies").first.click()
    return Path(info.value.path()).read_bytes()


def reporter_reads_the_answer(page: Page, base: str, receipt: str, lang: str, walk: Walk) -> str:
    page.goto(f"{base}/r/demo/check?lang={lang}")
    walk.page(page, "sign-in page")
    page.fill("#receipt-input", receipt)
    page.locator("#receipt-input").press("Enter")
    page.wait_for_selector("#case-status", timeout=60_000)
    walk.page(page, "case page")
    return page.inner_text("main")


@pytest.mark.parametrize(
    ("lang", "javascript"), [("bg", True), ("ru", False), ("kk", True)], ids=["bg-js", "ru-nojs", "kk-js"]
)
def test_the_whole_loop_without_an_english_sentence(browser, tmp_path, lang, javascript):
    instance = make_instance(tmp_path / "instance")
    (tmp_path / "tmp").mkdir()
    with live_server(instance, tmp_path / "tmp") as (base, process):
        if not AXE.exists():
            pytest.fail(f"{AXE} is missing: run `make setup` (npm ci)")
        contexts = [  # the CSP bypassed so that axe can be put in; the pages' own code is unchanged
            browser.new_context(
                java_script_enabled=javascript or who == "o",  # sealview has no script: its JS is axe's
                accept_downloads=True,
                locale=lang,
                bypass_csp=True,
            )
            for who in "rco"
        ]
        reporter, clerk, officer = (c.new_page() for c in contexts)
        walk = Walk(lang, (), javascript)
        receipt, number = reporter_sends(reporter, base, lang, javascript, walk)
        walk.data = (receipt, number, "Demo officer")  # the demo officer's name (dropbox/demo.py) is data
        clerk_signs_in(clerk, process.desk_url, instance, lang, walk)
        vault = officer_sets_up(instance, tmp_path, lang, clerk_exports(clerk, process.desk_url, walk), walk)
        with sealview_open(vault, lang) as (url, line):
            walk.printed(line, "sealview open")
            replies = tmp_path / "replies.bundle"
            replies.write_bytes(officer_works_the_case(officer, url, number, lang, walk))
        walk.printed(sealview(vault, lang, "list"), "sealview list")
        clerk_imports_replies(clerk, process.desk_url, replies, walk)
        answer = reporter_reads_the_answer(reporter, base, receipt, lang, walk)
        assert WRITTEN[lang][1] in answer  # the loop closed: the officer's words reached the reporter
        assert walk.found == [], "\n".join(walk.found)
        for context in contexts:
            context.close()
