"""A reporter in the field: Send → receipt with and without JavaScript on a throttled link, against the
floor the link allows: `python -m bench.field [--runs N] [--photo-mb MB]`.

A demo instance is served by `sealdrop serve` on loopback; Chromium is throttled through the DevTools
protocol (Network.emulateNetworkConditions, Emulation.setCPUThrottlingRate 4, a cheap phone's CPU) on
two links:

    fast-3g  1.6 Mbit/s down, 750 kbit/s up, 150 ms round trip (Lighthouse's "Fast 3G")
    tor      2.0 Mbit/s down, 1.0 Mbit/s up, 1.5 s round trip (a Tor circuit on a good day)

Each run opens the form, throttles the link and the CPU, chooses a camera photo (a 12 MP JPEG of a
busy scene), types the report (at once: Playwright types fast) and presses Send, and waits for the
receipt in the DOM. "JS" presses Send right after typing (the photo may still be being prepared: that
is in the time); "JS ready" once the preview says the photo is ready, as a reporter who typed for as
long as the phone took to prepare it. The floor is the photo as chosen, sent once at the upload rate,
plus one round trip for the answer: what any path has to pay on that link. It prints the median of
the runs, the bytes each path put on the wire, and the ratios (goal: JS ≤ no-JS and ≤ 1.3 × floor).
It prints, never asserts: the machine is small and shared.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, sync_playwright

from tests.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.helpers import live_server, make_instance

GOAL_FLOOR = 1.3
CPU_SLOWDOWN = 4
VERBOSE = False


@dataclass(frozen=True)
class Link:
    name: str
    down_bps: float
    up_bps: float
    rtt_s: float

    def conditions(self) -> dict:
        # DevTools' latency is added once per request, its throughputs are in bytes per second.
        return {"offline": False, "latency": self.rtt_s * 1000, "downloadThroughput": self.down_bps / 8,
                "uploadThroughput": self.up_bps / 8}  # fmt: skip

    def floor(self, nbytes: int) -> float:
        return nbytes * 8 / self.up_bps + self.rtt_s


LINKS = [Link("fast-3g", 1.6e6, 750e3, 0.150), Link("tor", 2.0e6, 1.0e6, 1.5)]


def camera_photo(megabytes: float) -> bytes:
    """A 4000 × 3000 JPEG of a busy scene at a camera's quality, close to `megabytes` MB, with EXIF."""
    rng = random.Random(7)
    side = 160
    small = Image.frombytes("RGB", (side, side * 3 // 4), rng.randbytes(side * side * 3 // 4 * 3))
    big = small.resize((4000, 3000), Image.Resampling.BICUBIC)
    exif = Image.Exif()
    exif[0x010F] = "SpyPhone 9000"
    best = b""
    for quality in range(95, 40, -5):  # the highest quality that fits the size asked for
        out = io.BytesIO()
        big.save(out, "JPEG", quality=quality, exif=exif)
        best = out.getvalue()
        if len(best) <= megabytes * 1e6:
            break
    return best


def send_once(
    browser, base: str, photo: Path, link: Link, javascript: bool, ready: bool = False
) -> tuple[float, int]:
    """Seconds from Send to the receipt, and the request bytes the page sent meanwhile. `ready`: Send
    is pressed once the photo's preview says it is ready (a reporter who typed for as long as the phone
    took to prepare it), else at once after typing."""
    context = browser.new_context(java_script_enabled=javascript)
    page: Page = context.new_page()
    try:
        page.goto(f"{base}/r/demo?lang=en")
        if javascript:
            page.wait_for_selector("html[data-sealing=browser]", state="attached")
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", link.conditions())
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
        page.set_input_files("#files", photo)  # chosen first, then the report typed (at once here)
        page.get_by_label("Drug dealing").check()
        page.fill("#what", "seen from my window, photo attached")
        if ready:
            page.wait_for_selector("#previews figure[data-state=ready]", timeout=600_000)
        requests = []
        page.on("request", lambda r: requests.append((r, time.monotonic())))
        start = time.monotonic()
        page.click("#send", no_wait_after=True)
        page.wait_for_selector("#receipt", state="attached", timeout=600_000)
        took = time.monotonic() - start
        for r, at in requests if VERBOSE else ():
            path = "JS" if javascript else "no-JS"
            print(f"  {path:5} {at - start:6.2f} s {r.method} {r.url.split('/')[-1][:40]}")
        return took, sum(int(r.header_value("content-length") or 0) for r, _ in requests)
    finally:
        context.close()


PATHS = {"no-JS": (False, False), "JS": (True, False), "JS ready": (True, True)}


def measure(browser, base: str, photo: Path, link: Link, runs: int) -> dict[str, tuple[float, float]]:
    """Median seconds and MB per path; the paths take turns, so a machine getting busier weighs on all."""
    found: dict[str, list[tuple[float, int]]] = {name: [] for name in PATHS}
    for _ in range(runs):
        for name, (javascript, ready) in PATHS.items():
            found[name].append(send_once(browser, base, photo, link, javascript, ready))
    return {
        name: (statistics.median(s for s, _ in r), statistics.median(b for _, b in r) / 1e6)
        for name, r in found.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per path and link (the median is shown)")
    parser.add_argument("--photo-mb", type=float, default=1.5, help="size of the camera photo, MB")
    parser.add_argument("--verbose", action="store_true", help="print every request of every run")
    args = parser.parse_args()
    global VERBOSE
    VERBOSE = args.verbose
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        root = Path(tmp)
        (root / "tmp").mkdir()
        photo = root / "photo.jpg"
        photo.write_bytes(camera_photo(args.photo_mb))
        size = photo.stat().st_size
        instance = make_instance(root / "instance")
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        print(
            f"photo: 4000 x 3000 JPEG, {size / 1e6:.2f} MB; CPU {CPU_SLOWDOWN}x slower; median of {args.runs}"
        )
        print(f"{'link':8} {'path':9} {'s':>6} {'MB':>5} {'/floor':>7} {'/no-JS':>7}")
        with live_server(instance, root / "tmp") as (base, _):
            for link in LINKS:
                found = measure(browser, base, photo, link, args.runs)
                floor, plain = link.floor(size), found["no-JS"][0]
                print(f"{link.name:8} {'floor':9} {floor:6.1f}")
                for name, (seconds, mb) in found.items():
                    print(
                        f"{link.name:8} {name:9} {seconds:6.1f} {mb:5.2f} "
                        f"{seconds / floor:7.2f} {seconds / plain:7.2f}"
                    )
        browser.close()
    print(f"goal: JS /no-JS <= 1 and /floor <= {GOAL_FLOOR}")


if __name__ == "__main__":
    main()
