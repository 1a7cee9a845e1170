"""The reporter's pages as a person goes through them, in one place: when a page changes shape (steps,
a receipt check, a redirect), only these functions change, not the tests.

Every step works whether the page's JavaScript runs or not: elements are found by id, name or the words
of their label, as the templates write them, and every wait is for something a person would see.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.firefox.bidi import Node, Tab

# The first label (or button) whose words start with the text; labels wrap their input, so clicking
# one ticks it with or without the page's script.
LABEL = (
    "(t) => [...document.querySelectorAll('label')].find((l) => l.textContent.trim().startsWith(t)) ?? null"
)
BUTTON = "(t) => [...document.querySelectorAll('button')].find((b) => b.textContent.trim() === t) ?? null"
LINK = "(t) => [...document.querySelectorAll('a')].find((a) => a.textContent.trim() === t) ?? null"
CHECKED = "(l) => l.control?.checked === true"
# What ends a send: the receipt, or a message that says why not.
SENT = """() => document.querySelector('#receipt')
    || document.querySelector('#send-error:not([hidden])')
    || document.querySelector('#error-summary')"""


@dataclass
class Report:
    category: str
    what: str
    place: str
    files: list[Path]


def open_form(tab: Tab, base: str, javascript: bool) -> None:
    """The QR code's target. With JavaScript, waits until the page's script has taken over the form."""
    tab.goto(f"{base}/r/demo?lang=en")
    if javascript:
        script_ready(tab)


def script_ready(tab: Tab) -> None:
    """Waits for the page's script to take over (it marks the page when it seals in the browser)."""
    tab.wait_for(
        "() => document.documentElement.dataset.sealing === 'browser'", what="sealing in the browser"
    )


def tick(tab: Tab, label: str) -> None:
    node = tab.call(LABEL, label)
    assert node, f"no label {label!r} on {tab.call('() => location.pathname')}"
    tab.click(node)
    tab.wait_for(CHECKED, node, what=f"{label!r} ticked")


def fill_report(tab: Tab, report: Report) -> None:
    tick(tab, report.category)
    tab.type("#what", report.what)
    tick(tab, "I will type the place")
    tab.type("#where_text", report.place)
    tab.set_files("#files", report.files)


def send(tab: Tab) -> None:
    """Presses Send and waits for the outcome; a send that ends in an error message fails with it."""
    tab.click("#send")
    tab.wait_for(SENT, what="the receipt or an error")
    if not tab.query("#receipt"):
        shown = tab.call(
            "() => document.querySelector('#send-error:not([hidden]), #error-summary').innerText"
        )
        raise AssertionError(f"the send failed: {shown}\nconsole: {tab.console()}")


def read_receipt(tab: Tab) -> tuple[str, str]:
    """The receipt code and the case number, as the reporter reads them off the page."""
    return tab.text("#receipt"), tab.text("#case-number")


def finish(tab: Tab, receipt: str) -> None:
    """Shows the code is kept, as the receipt page asks (its last group typed back), and leaves the
    receipt page for the thank-you page."""
    tab.type("#last-group", receipt.rsplit("-", 1)[1])
    tab.click(tab.call(BUTTON, "Finish"))
    tab.wait_for(LINK, "Sign in with your receipt code", what="the thank-you page")


def sign_in(tab: Tab, receipt: str, javascript: bool) -> None:
    """From the thank-you page to the case, with the receipt code typed as a person might (lower case).
    With JavaScript, signs in through the page's script (the code stays in the browser), so it waits
    for the script to take over the form first."""
    link: Node = tab.call(LINK, "Sign in with your receipt code")
    tab.click(link)
    tab.wait_for_selector("#receipt-input")
    if javascript:
        script_ready(tab)
    tab.type("#receipt-input", receipt.lower())
    tab.click(tab.call(BUTTON, "Sign in"))
    tab.wait_for("() => document.querySelector('#case-status, #receipt-error, #check-error:not([hidden])')",
                 what="the case or an error")  # fmt: skip


def read_case(tab: Tab) -> tuple[str, str]:
    """The case number and status the signed-in reporter sees."""
    assert tab.query("#case-status"), tab.call("() => document.querySelector('main').innerText")
    return tab.text("#case-number"), tab.text("#case-status")
