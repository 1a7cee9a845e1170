"""The whole loop, as the people involved do it, with JavaScript on and again off: a reporter sends a
report in Chromium, the desk exports (`sealdrop export`, or the clerk's download from /desk/ in
Chromium), the officer imports it into sealview, replies, writes the reply bundle, the desk imports
it (`sealdrop import-replies`, or the clerk's upload at /desk/replies), and the reporter signs in
with the receipt in Chromium and reads the answer."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser.desk_pages import Desk, LoginPage, Reporter
from tests.desk_helpers import PASSWORD, add_user, code
from tests.helpers import REPO, jpeg_with_exif, live_server, make_instance

pytestmark = pytest.mark.browser


def run(*argv: str) -> str:
    env = {**os.environ, "SEALDROP_PASSPHRASE": ""}  # the demo officer's identity: DEMO ONLY
    done = subprocess.run(
        [sys.executable, "-m", *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


REPLY = "Thank you, we are checking."


def officer_answers(
    instance: Path, tmp_path: Path, exported: Path, number: str, then_status: str | None = None
) -> tuple[dict, Path]:
    """On the viewer, with the real `sealview`: adopt the demo officer, import the export bundle,
    read the case, reply (and, with `then_status`, change the status with no text), write the reply
    bundle. Returns the case's first report and that bundle."""
    vault, replies = tmp_path / "vault", tmp_path / "replies.bundle"
    identity, server_key = instance / "demo-officer.identity", instance / "server-signing.pub"
    sealview = ("viewer.cli", "--vault", str(vault))
    run(*sealview, "init", "--identity", str(identity), "--server-key", str(server_key), "--desk", "demo")
    run(*sealview, "import", str(exported))
    shown = json.loads(run(*sealview, "show", number, "--json"))
    run(*sealview, "reply", number, "--text", REPLY, "--status", "checking")
    if then_status:
        run(*sealview, "reply", number, "--status", then_status)
    run(*sealview, "export-replies", "-o", str(replies))
    return shown["reports"][0], replies


JS = pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])


@JS
def test_report_to_reply_and_back(browser, tmp_path, javascript):
    instance = make_instance(tmp_path / "instance")
    (tmp_path / "tmp").mkdir()
    with live_server(instance, tmp_path / "tmp") as (base, _):
        page = browser.new_context(java_script_enabled=javascript).new_page()
        page.goto(f"{base}/r/demo?lang=en")
        if javascript:
            page.wait_for_selector("html[data-sealing=browser]", state="attached")
        page.get_by_label("Drug dealing").check()
        page.fill("#what", "Two men sell pills at the bus stop after school")
        page.set_input_files(
            "#files", files=[{"name": "p.jpg", "mimeType": "image/jpeg", "buffer": jpeg_with_exif()}]
        )
        page.click("#send")
        page.wait_for_selector("#receipt", timeout=60_000)
        receipt, number = page.inner_text("#receipt"), page.inner_text("#case-number")

        exported = tmp_path / "export.bundle"
        run("dropbox.cli", "export", "--dir", str(instance), "--desk", "demo", "-o", str(exported))
        report, replies = officer_answers(instance, tmp_path, exported, number, then_status="forwarded")
        assert report["what"] == "Two men sell pills at the bus stop after school"
        assert report["sealed_by"] == ("browser" if javascript else "server")
        assert report["attachments"][0]["metadata"] == "removed"
        run("dropbox.cli", "import-replies", "--dir", str(instance), str(replies))

        page.goto(f"{base}/r/demo/check?lang=en")
        page.fill("#receipt-input", receipt)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_selector("#case-status")
        assert page.inner_text("#case-number") == number
        assert page.inner_text("#case-status") == "Forwarded to the police"
        assert REPLY in page.inner_text("main")  # the answer, and the later status change as one
        assert "Status changed to: Forwarded to the police" in page.inner_text("main")
        page.context.close()


@JS
def test_report_to_reply_through_the_desk_pages(browser, tmp_path, javascript):
    """The same loop with the clerk in Chromium (JS on or off like the reporter): the export bundle
    downloaded from /desk/, the reply bundle uploaded at /desk/replies."""
    instance = make_instance(tmp_path / "instance")
    (tmp_path / "tmp").mkdir()
    with live_server(instance, tmp_path / "tmp") as (public, process):
        contexts = [browser.new_context(java_script_enabled=javascript, accept_downloads=True) for _ in "rc"]
        reporter = Reporter(contexts[0].new_page(), public, javascript)
        receipt, number = reporter.send_report("Two men sell pills at the bus stop after school")

        name, secret = add_user(instance, "clerk", "demo")
        login = LoginPage(contexts[1].new_page(), process.desk_url).open()
        login.log_in(name, PASSWORD, code(secret))
        clerk = Desk(login.page, process.desk_url)
        assert "New: 1." in clerk.inbox_text()
        exported = tmp_path / "export.bundle"
        exported.write_bytes(clerk.export())

        assert "in bundle 1" in clerk.inbox_text() and "imported" not in clerk.inbox_text()
        report, replies = officer_answers(instance, tmp_path, exported, number)
        assert report["what"] == "Two men sell pills at the bus stop after school"
        assert report["sealed_by"] == ("browser" if javascript else "server")

        clerk.upload_replies(replies)
        assert "Imported 1 replies" in clerk.import_result()
        assert "imported" in clerk.inbox_text()  # the reply bundle confirmed the export bundle

        status, texts = reporter.sign_in(receipt)
        assert (status, texts) == ("Being checked", [REPLY])
        assert clerk.problems() == []
        for context in contexts:
            context.close()
