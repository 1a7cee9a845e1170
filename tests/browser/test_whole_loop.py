"""The whole loop, as the people involved do it, with JavaScript on and again off: a reporter sends a
report in Chromium, the desk exports (`sealdrop export`), the officer imports it into sealview,
replies, writes the reply bundle, the desk imports it (`sealdrop import-replies`), and the reporter
signs in with the receipt in Chromium and reads the answer."""

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO, jpeg_with_exif, live_server, make_instance

pytestmark = pytest.mark.browser


def run(*argv: str) -> str:
    env = {**os.environ, "SEALDROP_PASSPHRASE": ""}  # the demo officer's identity: DEMO ONLY
    done = subprocess.run(
        [sys.executable, "-m", *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
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

        exported, vault, replies = tmp_path / "export.bundle", tmp_path / "vault", tmp_path / "replies.bundle"
        run("dropbox.cli", "export", "--dir", str(instance), "--desk", "demo", "-o", str(exported))
        run(
            "viewer.cli",
            "--vault",
            str(vault),
            "init",
            "--identity",
            str(instance / "demo-officer.identity"),
            "--server-key",
            str(instance / "server-signing.pub"),
            "--desk",
            "demo",
        )
        run("viewer.cli", "--vault", str(vault), "import", str(exported))
        shown = json.loads(run("viewer.cli", "--vault", str(vault), "show", number, "--json"))
        report = shown["reports"][0]
        assert report["what"] == "Two men sell pills at the bus stop after school"
        assert report["sealed_by"] == ("browser" if javascript else "server")
        assert report["attachments"][0]["metadata"] == "removed"
        run(
            "viewer.cli",
            "--vault",
            str(vault),
            "reply",
            number,
            "--text",
            "Thank you, we are checking.",
            "--status",
            "checking",
        )
        run("viewer.cli", "--vault", str(vault), "export-replies", "-o", str(replies))
        run("dropbox.cli", "import-replies", "--dir", str(instance), str(replies))

        page.goto(f"{base}/r/demo/check?lang=en")
        page.fill("#receipt-input", receipt)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_selector("#case-status")
        assert page.inner_text("#case-number") == number
        assert page.inner_text("#case-status") == "Being checked"
        assert "Thank you, we are checking." in page.inner_text("main")
        page.context.close()
