"""A small WebDriver BiDi client for Debian's firefox-esr, the engine of Tor Browser.

Playwright cannot drive a distribution's Firefox, but Firefox has WebDriver BiDi built in: started with
`--remote-debugging-port=0` it prints "WebDriver BiDi listening on ws://..." on stderr and takes JSON
commands over that WebSocket. This client is synchronous (websockets' threaded client, no asyncio), so it
lives beside Playwright's sync API in one pytest process.

It is written for pages whose own JavaScript may be off (Tor Browser's "Safest"): nothing here awaits an
in-page promise. Scripts run as plain synchronous evaluations (BiDi runs them even with
`javascript.enabled=false`), waiting is polling the DOM for a state, and clicks and typing are input
actions at an element, as a person's would be.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

FIREFOX = "/usr/bin/firefox-esr"
WAIT = 90.0  # seconds for a state to come: generous, for a busy 2-core machine; never a pause
POLL = 0.05

# Quiet, predictable test profile. MOZ_DISABLE_NONLOCAL_CONNECTIONS (in the environment) keeps the ESR
# off the network; these keep it from spending the test's time on first-run pages and background work.
BASE_PREFS: dict[str, object] = {
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.aboutwelcome.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.update.disabledForTesting": True,
    "browser.safebrowsing.update.enabled": False,
    # A beforeunload question would block the test's own navigation; what the page asks is tested
    # with the page, not here.
    "dom.disable_beforeunload": True,
}
# Tor Browser's "Safest" security level, as far as prefs express it.
SAFEST_PREFS: dict[str, object] = {
    "javascript.enabled": False,
    "gfx.downloadable_fonts.enabled": False,
    "svg.disabled": True,
    "media.webaudio.enabled": False,
    "webgl.disabled": True,
}


# Where an element's middle is on screen, if it is there and is what a click there would hit; scrolls it
# to the middle of the screen first when it is not wholly in view.
IN_VIEW = """(e) => {
  const whole = (r) => r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth;
  if (!whole(e.getBoundingClientRect())) e.scrollIntoView({ block: 'center', inline: 'center' });
  const r = e.getBoundingClientRect();
  const x = r.left + r.width / 2, y = r.top + r.height / 2;
  const hit = x >= 0 && y >= 0 && x < innerWidth && y < innerHeight && document.elementFromPoint(x, y);
  return hit && (hit === e || e.contains(hit)) ? [x, y, scrollX, scrollY] : null;
}"""


class BiDiError(RuntimeError):
    """A command the browser answered with an error."""


@dataclass(frozen=True)
class Node:
    """A DOM node as BiDi hands it out: a reference that later commands can pass back."""

    shared_id: str


@dataclass
class Request:
    """One request a page made, as network.beforeRequestSent reported it."""

    id: str
    method: str
    url: str


class BiDi:
    """One WebDriver BiDi session over a WebSocket; events are kept as they arrive between answers."""

    def __init__(self, url: str) -> None:
        # No proxy from the environment, no pings (a busy machine must not drop the link), any size.
        self._ws: ClientConnection = connect(
            url,
            proxy=None,
            max_size=None,
            ping_interval=None,
            compression=None,
            open_timeout=WAIT,
            close_timeout=2,
            legacy=True,
        )
        self._last_id = 0
        self.events: list[dict] = []

    def command(self, method: str, params: dict | None = None, timeout: float = WAIT) -> dict:
        self._last_id += 1
        sent = self._last_id
        self._ws.send(json.dumps({"id": sent, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self._ws.recv(timeout=max(0.0, deadline - time.monotonic())))
            if message.get("type") == "event":
                self.events.append(message)
            elif message.get("id") == sent:
                if message.get("type") == "error":
                    raise BiDiError(f"{method}: {message.get('error')}: {message.get('message')}")
                return message["result"]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._ws.close()


def _serialize(value: object) -> dict:
    if isinstance(value, Node):
        return {"sharedId": value.shared_id}
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "boolean", "value": value}
    if isinstance(value, int | float):
        return {"type": "number", "value": value}
    if isinstance(value, str):
        return {"type": "string", "value": value}
    raise TypeError(f"cannot pass {type(value).__name__} to the page")


def _deserialize(remote: dict) -> Any:
    kind, value = remote["type"], remote.get("value")
    if kind in ("undefined", "null"):
        return None
    if kind == "node":
        return Node(remote["sharedId"])
    if kind in ("array", "set", "nodelist", "htmlcollection"):
        return [_deserialize(v) for v in value or []]
    if kind == "object":
        return {k if isinstance(k, str) else _deserialize(k): _deserialize(v) for k, v in value or []}
    return value  # string, number, boolean (and the few numbers BiDi spells as strings, e.g. "NaN")


class Tab:
    """One browsing context (a tab) of the browser."""

    def __init__(self, bidi: BiDi, context: str) -> None:
        self.bidi = bidi
        self.context = context

    def goto(self, url: str) -> None:
        self.bidi.command(
            "browsingContext.navigate", {"context": self.context, "url": url, "wait": "complete"}
        )

    def call(self, function: str, *args: object) -> Any:
        """`function(...args)` in the page, synchronously (JavaScript-off pages have no event loop for
        promises); a thrown error raises BiDiError."""
        result = self.bidi.command("script.callFunction", {
            "functionDeclaration": function, "arguments": [_serialize(a) for a in args],
            "target": {"context": self.context}, "awaitPromise": False, "resultOwnership": "none",
            "serializationOptions": {"maxDomDepth": 0, "maxObjectDepth": 3},
        })  # fmt: skip
        if result["type"] == "exception":
            raise BiDiError(f"in the page: {result['exceptionDetails'].get('text')}")
        return _deserialize(result["result"])

    def wait_for(self, function: str, *args: object, what: str = "", timeout: float = WAIT) -> Any:
        """Polls `function(...args)` until it returns something truthy. While a form post navigates the
        tab, the old document may be gone before the new one answers: such errors mean "not yet"."""
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            try:
                if value := self.call(function, *args):
                    return value
            except BiDiError as error:
                last_error = error
            time.sleep(POLL)
        raise TimeoutError(
            f"waited {timeout:.0f} s for {what or function}; last error: {last_error}\n{self.describe()}"
        )

    def describe(self) -> str:
        """Where the tab is and what it shows, for a failure's message."""
        try:
            shown = self.call("() => [location.href, document.readyState, document.body?.innerText ?? '']")
        except BiDiError as error:
            return f"the page cannot be read: {error}"
        url, state, text = shown
        requests = [f"{r.method} {r.url}" for r in self.requests()[-5:]]
        console = self.console()[-5:]
        return f"at {url} ({state}); last requests {requests}; console {console}; shows:\n{text[:1500]}"

    def query(self, selector: str) -> Node | None:
        return self.call("(s) => document.querySelector(s)", selector)

    def text(self, selector: str) -> str:
        return self.call("(s) => document.querySelector(s)?.textContent.trim() ?? null", selector)

    def wait_for_selector(self, selector: str, timeout: float = WAIT) -> Node:
        return self.wait_for("(s) => document.querySelector(s)", selector, what=selector, timeout=timeout)

    def click(self, target: Node | str) -> None:
        """A mouse click at the middle of the element, once it is in view and stays put, as a person
        would click. Firefox computes the click's point from the layout at that moment, so a page still
        settling (its scroll range catching up with a change, on a busy machine) would take the click
        elsewhere: wait until the element's middle is on screen, is the element there, and did not move
        between two looks."""
        node = self.query(target) if isinstance(target, str) else target
        assert node, f"nothing to click at {target}"
        self._settled(node)
        origin = {"type": "element", "element": {"sharedId": node.shared_id}}
        self.bidi.command("input.performActions", {"context": self.context, "actions": [{
            "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
            "actions": [{"type": "pointerMove", "x": 0, "y": 0, "origin": origin},
                        {"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0}],
        }]})  # fmt: skip

    def _settled(self, node: Node, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            where = self.call(IN_VIEW, node)
            if where is not None and where == last:
                return
            last = where
            time.sleep(POLL)
        raise TimeoutError(f"the element to click never settled in view (last at {last})\n{self.describe()}")

    def type(self, target: Node | str, text: str) -> None:
        """Clicks into a field and types `text` key by key (any letter the keyboard layout lacks too)."""
        self.click(target)
        keys = [{"type": kind, "value": ch} for ch in text for kind in ("keyDown", "keyUp")]
        self.bidi.command(
            "input.performActions",
            {"context": self.context, "actions": [{"type": "key", "id": "keyboard", "actions": keys}]},
        )

    def set_files(self, target: Node | str, paths: list[Path]) -> None:
        """What choosing files in the file picker does (BiDi input.setFiles; it fires input and change)."""
        node = self.query(target) if isinstance(target, str) else target
        assert node, f"no file input at {target}"
        self.bidi.command(
            "input.setFiles",
            {
                "context": self.context,
                "element": {"sharedId": node.shared_id},
                "files": [str(p) for p in paths],
            },
        )

    def requests(self) -> list[Request]:
        """Every request this tab has made so far (events are collected while commands run)."""
        self.call("() => 0")  # a round trip, so that events sent before it have arrived
        return [
            Request(e["params"]["request"]["request"], e["params"]["request"]["method"],
                    e["params"]["request"]["url"])
            for e in self.bidi.events
            if e.get("method") == "network.beforeRequestSent" and e["params"].get("context") == self.context
        ]  # fmt: skip

    def console(self) -> list[str]:
        """What this tab's pages logged (errors, warnings, console calls), oldest first."""
        self.call("() => 0")
        return [
            f"{e['params'].get('level')}: {e['params'].get('text')}"
            for e in self.bidi.events
            if e.get("method") == "log.entryAdded"
            and e["params"].get("source", {}).get("context") == self.context
        ]

    def request_body(self, request: Request) -> bytes:
        """The bytes a request sent (kept by the data collector the session set up); b"" if none."""
        try:
            data = self.bidi.command("network.getData", {"dataType": "request", "request": request.id})
        except BiDiError as error:
            if "no such network data" in str(error):
                return b""
            raise
        value = data["bytes"]
        return base64.b64decode(value["value"]) if value["type"] == "base64" else value["value"].encode()

    def cookies(self) -> list[dict]:
        got = self.bidi.command(
            "storage.getCookies", {"partition": {"type": "context", "context": self.context}}
        )
        return got["cookies"]


@dataclass
class Firefox:
    """A running firefox-esr with one BiDi session; `new_tab()` opens tabs in it."""

    bidi: BiDi
    process: subprocess.Popen

    def new_tab(self) -> Tab:
        created = self.bidi.command("browsingContext.create", {"type": "tab"})
        return Tab(self.bidi, created["context"])


class _Stderr(threading.Thread):
    """Drains Firefox's stderr (a full pipe would stall it), hands over the BiDi address, keeps a tail
    of what it said for error messages."""

    def __init__(self, stream) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.url: str | None = None
        self.found = threading.Event()
        self.tail: list[str] = []

    def run(self) -> None:
        for raw in self.stream:
            line = raw.decode("utf-8", "replace").rstrip()
            self.tail = [*self.tail[-30:], line]
            if self.url is None and line.startswith("WebDriver BiDi listening on "):
                self.url = line.rsplit(" ", 1)[1]
                self.found.set()
        self.found.set()  # the browser went away: stop waiting


def _write_prefs(profile: Path, prefs: dict[str, object]) -> None:
    lines = [f"user_pref({json.dumps(name)}, {json.dumps(value)});" for name, value in prefs.items()]
    (profile / "user.js").write_text("\n".join(lines) + "\n")


def _end(process: subprocess.Popen, bidi: BiDi | None) -> None:
    """Asks Firefox to quit, then kills what is left of its process group. The main process is waited
    for without being reaped (WNOWAIT), so the group's id cannot be reused before the kill."""
    quitting = False
    if bidi is not None:
        with contextlib.suppress(Exception):
            bidi.command("browser.close", timeout=10)
            quitting = True
        bidi.close()
    deadline = time.monotonic() + (20 if quitting else 0)
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            break
        time.sleep(POLL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # content processes, and the main one if it hung
    process.wait()


@contextlib.contextmanager
def launch(prefs: dict[str, object] | None = None) -> Iterator[Firefox]:
    """firefox-esr, headless, in a fresh profile with `prefs` (over BASE_PREFS); every process it
    started is gone and the profile deleted when the block ends, whatever happened in it."""
    if not os.access(FIREFOX, os.X_OK):
        raise RuntimeError(f"{FIREFOX} is missing: `make setup` installs Debian's firefox-esr")
    profile = Path(tempfile.mkdtemp(prefix="sealdrop-firefox-"))
    _write_prefs(profile, {**BASE_PREFS, **(prefs or {})})
    env = {**os.environ, "MOZ_DISABLE_NONLOCAL_CONNECTIONS": "1", "MOZ_CRASHREPORTER_DISABLE": "1"}
    args = [FIREFOX, "--headless", "--no-remote", "--remote-debugging-port=0", "--profile", str(profile)]
    process = subprocess.Popen(
        [*args, "about:blank"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env=env, start_new_session=True,  # its own process group, so that all of it can be ended
    )  # fmt: skip
    bidi = None
    try:
        stderr = _Stderr(process.stderr)
        stderr.start()
        if not stderr.found.wait(WAIT) or stderr.url is None:
            raise RuntimeError("firefox-esr did not start WebDriver BiDi:\n" + "\n".join(stderr.tail))
        bidi = BiDi(stderr.url + "/session")
        bidi.command("session.new", {"capabilities": {}})
        bidi.command(
            "network.addDataCollector", {"dataTypes": ["request"], "maxEncodedDataSize": 100_000_000}
        )
        # Requests (for what left the browser) and the page's console (errors explain a failed send).
        bidi.command("session.subscribe", {"events": ["network.beforeRequestSent", "log.entryAdded"]})
        yield Firefox(bidi, process)
    finally:
        _end(process, bidi)
        shutil.rmtree(profile, ignore_errors=True)
