"""An export at the desk in real Chromium, JavaScript off and on: the clerk makes the bundle, the
inbox comes back saying which bundle it is, how many submissions went into it and what to do with it
(a USB stick, the offline viewer), downloads it, and "New" counts what is left. With nothing new, no
primary button offers an empty bundle."""

import re

import pytest

from crypto import VerifyKey, bundle
from dropbox import config
from tests.browser.desk_pages import Desk, LoginPage, Reporter
from tests.desk_helpers import PASSWORD, add_user, code
from tests.helpers import demo_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with demo_server(tmp_path_factory.mktemp("desk-export")) as (public, instance, process):
        yield process.desk_url, instance, public


def clerk_of(context, served) -> Desk:
    base, instance, _public = served
    name, secret = add_user(instance, "clerk", "demo")
    page = context.new_page()
    LoginPage(page, base).open().log_in(name, PASSWORD, code(secret))
    page.wait_for_load_state("domcontentloaded")
    return Desk(page, base)


def primary_buttons(clerk: Desk) -> list[str]:
    return clerk.page.locator("#inbox-demo button.primary").all_inner_texts()


@pytest.mark.parametrize("javascript", [False, True], ids=["js-off", "js-on"])
def test_make_download_and_what_is_left(context_for, served, javascript):
    _base, instance, public = served
    context = context_for(javascript)
    reporter = Reporter(context_for(False).new_page(), public, False)
    _receipt, case_number = reporter.send_report()
    reporter.send_report("A second report about the same corner.")

    clerk = clerk_of(context, served)
    assert "New: 2." in clerk.inbox_text()
    assert primary_buttons(clerk) == ["Make an export bundle of the 2 new submissions"]

    clerk.make_export()
    ready = clerk.ready_text()
    sequence = int(re.search(r"Export bundle (\d+) is ready", ready).group(1))
    assert "It holds 2 submissions." in ready
    assert "USB stick" in ready and "offline viewer" in ready and "Reply bundles" in ready
    section = clerk.page.inner_text("#inbox-demo")
    assert "New: 0." in section and "Nothing new to export." in section
    assert not clerk.page.is_visible("#export-demo")
    assert primary_buttons(clerk) == [f"Download export bundle {sequence}"]
    assert case_number not in clerk.page.content()

    data = clerk.download_ready()
    path = instance.parent / f"export-{javascript}.bundle"
    path.write_bytes(data)
    pinned = VerifyKey.parse((instance / config.SIGNING_PUB_FILE).read_text())
    manifest = bundle.verify(path, "export", [pinned])
    assert manifest.sequence == sequence and case_number in [i["case_number"] for i in manifest.items]
    # The download left the page as it was: it still says what went in and what is left.
    assert f"Export bundle {sequence} is ready" in clerk.ready_text()

    # Later, on the plain inbox: nothing new, so nothing is offered as the main action.
    clerk.inbox()
    assert "Nothing new to export." in clerk.inbox_text() and primary_buttons(clerk) == []
    assert clerk.problems() == []


@pytest.mark.parametrize("javascript", [False, True], ids=["js-off", "js-on"])
def test_the_ready_box_passes_axe(browser, served, javascript):
    from tests.browser.test_accessibility import AXE, axe_problems

    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make setup` (npm ci)")
    _base, _instance, public = served
    context = browser.new_context(java_script_enabled=javascript, bypass_csp=True)  # axe is a script
    try:
        Reporter(context.new_page(), public, False).send_report()
        clerk = clerk_of(context, served)
        clerk.make_export()
        assert "is ready" in clerk.ready_text()
        assert axe_problems(clerk.page, javascript, "inbox with a bundle ready") == []
    finally:
        context.close()
