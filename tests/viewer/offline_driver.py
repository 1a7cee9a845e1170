"""Run by test_offline.py inside a network namespace with nothing but loopback (or under an audit hook):
every sealview command and the UI, as an officer would use them. Prints `offline OK` at the end.

    python offline_driver.py VAULT BUNDLE REPLIES_OUT SERVER_KEY POLICE_PUB [EVENTS_FILE]

VAULT exists already (the imports go there); `init` makes a second vault beside it, from nothing.
OUT files (the forwarded case file and its PDF) are written beside REPLIES_OUT.

With EVENTS_FILE, every socket the viewer's processes open, bind or connect is recorded there (an
audit hook, set in each child through sitecustomize-free `-c` bootstrap below).
"""

import http.cookiejar
import json
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

HOOK = """
import json, sys
_log = open(sys.argv.pop(1), "a")
def _hook(event, args):
    if event.startswith("socket.") or event in ("webbrowser.open", "urllib.Request"):
        _log.write(json.dumps([event, repr(args)[:300]]) + "\\n"); _log.flush()
sys.addaudithook(_hook)
import runpy
sys.argv[0] = "sealview"
runpy.run_module("viewer.cli", run_name="__main__")
"""


def main() -> None:
    vault, bundle, replies, server_key, police = sys.argv[1:6]
    events = sys.argv[6] if len(sys.argv) > 6 else None
    program = [sys.executable, "-c", HOOK, events] if events else [sys.executable, "-m", "viewer.cli"]
    sealview = [*program, "--vault", vault]
    out = Path(replies).parent

    def run(*args: str, command: list[str] = sealview) -> str:
        done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"sealview {args[0]}: {done.stderr.strip()}"
        return done.stdout

    fresh = str(out / "fresh-vault")
    made = run("init", "--server-key", server_key, "--desk", "demo", "--name", "Officer B",
               command=[*program, "--vault", fresh])  # fmt: skip
    assert "fingerprint" in made and Path(fresh, "officer.pub").is_file(), made
    assert json.loads(run("list", "--json", command=[*program, "--vault", fresh])) == []

    run("import", bundle)
    number = json.loads(run("list", "--json"))[0]["number"]
    assert number in run("show", number)
    run("triage", number, "checking")
    run("note", number, "Seen twice this week, same car.")
    run("reply", number, "--text", "Thank you, we are looking into it.", "--status", "checking")
    run("forward", number, "--to", police, "--name", "District police",
        "-o", str(out / "case.sealed"), "--pdf", str(out / "case.pdf"))  # fmt: skip
    assert (out / "case.sealed").read_bytes().startswith(b"sealdrop\x01")
    assert (out / "case.pdf").read_bytes().startswith(b"%PDF")
    run("export-replies", "-o", replies)

    ui = subprocess.Popen([*sealview, "open", "--no-browser"], stdout=subprocess.PIPE, text=True)
    try:
        url = ui.stdout.readline().split()[-1]
        base = url.split("/?")[0]
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        inbox = browser.open(url, timeout=30).read().decode()  # the token sets the cookie, then the inbox
        assert number in inbox, inbox[:500]
        for path in ("/hotspots", "/dashboard", "/replies", f"/case/{number}", f"/?q={number[:4]}"):
            assert browser.open(base + path, timeout=30).status == 200, path
        page = browser.open(f"{base}/case/{number}", timeout=30).read().decode()
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode({"csrf": token, "state": "credible"}).encode()
        changed = browser.open(f"{base}/case/{number}/state", data=form, timeout=30)  # follows the 303
        assert changed.status == 200 and "credible" in changed.read().decode()
        assert json.loads(run("show", number, "--json"))["state"] == "credible"
        try:
            urllib.request.urlopen(base + "/", timeout=30)  # no cookie, no token
            raise AssertionError("the UI answered without its token")
        except urllib.error.HTTPError as e:
            assert e.code == 403
    finally:
        ui.terminate()
        ui.wait(30)
    print("offline OK")


if __name__ == "__main__":
    main()
