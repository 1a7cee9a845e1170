"""What removing a video's hidden data costs, against sealing the same file: `python -m bench.media`.

A phone-shaped MP4 (H.264 + AAC, moov first as phones that "optimise for streaming" write it, with a
place, make, model and creation time) of about 200 MiB is made once with ffmpeg. Then, each in a fresh
child process so that peak RSS is its own:

- "seal": the file is read into memory, as the no-JS path holds a request, and sealed to one
  recipient into a file: the baseline;
- "clean + seal": the same, but first dropbox.scrub.scrub() plans the cleaned file (metadata/) and the
  sealer reads it through the plan's pieces, as the no-JS path does.

Printed: the time of cleaning alone and its ratio to sealing (goal: under 0.10), the whole path's time
against sealing alone, and each child's peak RSS growth over the loaded file (goal: cleaning adds under
64 MB). Then Chromium: the same file chosen in a file input, cleaned by clean.mjs and sealed by
envelope.mjs's sealStream (pieces dropped), each timed, and the growth of the browser's RSS (all its
processes) while cleaning (goal: no whole-file copy, so far under the file's size).

Figures are medians of a few runs; nothing is asserted: the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench._util import MiB, table

REPO = Path(__file__).resolve().parents[1]
STATIC = REPO / "dropbox" / "static"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
CLEAN_GOAL, RSS_GOAL = 0.10, 64 * MiB
MARKERS = {
    "com.apple.quicktime.location.ISO6709": "+42.6931+023.3219+557.000/",
    "com.apple.quicktime.make": "Apple",
    "com.apple.quicktime.model": "iPhone 15 Pro",
    "location": "+42.6931+023.3219/",
    "creation_time": "2026-11-30T17:04:12Z",
}


def make_video(path: Path, mib: int) -> None:
    """About `mib` MiB of 720p H.264 at a phone's bit rate (20 Mbit/s) with AAC, moov first."""
    seconds = max(2, mib * 8 // 17)  # ffmpeg lands a little under the asked-for rate
    tags = [arg for key, value in MARKERS.items() for arg in ("-metadata", f"{key}={value}")]
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast",
         "-b:v", "20M", "-minrate", "20M", "-maxrate", "20M", "-bufsize", "4M", "-c:a", "aac",
         "-movflags", "+faststart+use_metadata_tags", *tags, str(path)],
        check=True,
    )  # fmt: skip


# -- the server path, one child per measurement ---------------------------------------------------


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(mode: str, path: str, out_dir: str) -> dict:
    """Run in a fresh process: load the file, reset the peak RSS, clean (or not) and seal."""
    import crypto
    import metadata.bmff  # noqa: F401  (a running server has its cleaners imported: time the work only)
    from dropbox.scrub import Clean, scrub

    key = crypto.Identity.generate().public_key.recipient
    buffer = Path(path).read_bytes()  # BytesIO over bytes shares them: the baseline copies nothing either
    Path("/proc/self/clear_refs").write_text("5")  # the peak RSS starts again from here
    loaded = _status("VmRSS")
    started = time.perf_counter()
    if mode == "clean":
        cleaned = scrub(buffer, "VID_20261130_170412.mp4", "video/mp4")
    else:
        cleaned = Clean.whole(bytes(0), "video/mp4", "v.mp4", "kept")  # imports paid in both modes
    planned = time.perf_counter()
    source = cleaned.open() if mode == "clean" else io.BytesIO(buffer)
    with open(Path(out_dir) / f"{mode}.sealed", "wb") as sink:
        crypto.seal(source, sink, [key])
    done = time.perf_counter()
    result = {"clean_s": planned - started, "seal_s": done - planned, "growth": _status("VmHWM") - loaded}
    if mode == "clean":
        result["size"], result["metadata"] = cleaned.size, cleaned.metadata
    return result


def run_child(mode: str, video: Path, out_dir: Path) -> dict:
    argv = [sys.executable, "-m", "bench.media", "--child", mode, str(video), str(out_dir)]
    done = subprocess.run(argv, cwd=REPO, check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def server_path(video: Path, work: Path, reps: int) -> list[list[str]]:
    runs = {"seal": [], "clean": []}
    for _ in range(reps):
        for mode in runs:
            runs[mode].append(run_child(mode, video, work))
    first = runs["clean"][0]
    if first["metadata"] != "removed" or first["size"] >= video.stat().st_size:
        raise SystemExit("the cleaned video is not smaller than the original: nothing was removed")

    def med(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[mode])

    seal, clean, clean_seal = med("seal", "seal_s"), med("clean", "clean_s"), med("clean", "seal_s")
    return [
        ["seal the file (baseline)", f"{seal:.3f} s", "1.00", ""],
        ["clean: plan the pieces", f"{clean * 1000:.1f} ms", f"{clean / seal:.3f}", f"< {CLEAN_GOAL:.2f}"],
        ["seal through the pieces", f"{clean_seal:.3f} s", f"{clean_seal / seal:.2f}", ""],
        ["clean + seal", f"{clean + clean_seal:.3f} s", f"{(clean + clean_seal) / seal:.2f}", ""],
        ["peak RSS growth, seal", f"{med('seal', 'growth') / MiB:.1f} MiB", "", ""],
        ["peak RSS growth, clean + seal", f"{med('clean', 'growth') / MiB:.1f} MiB", "",
         f"< {RSS_GOAL // MiB} MiB"],
    ]  # fmt: skip


# -- the browser path ------------------------------------------------------------------------------

PAGE = b"""<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>bench</title>
<input type="file" id="f">
<script type="module">
import * as clean from "/static/js/clean.mjs";
import * as envelope from "/static/js/envelope.mjs";
const file = () => document.getElementById("f").files[0];
window.b = {
  clean: async () => {
    const t = performance.now();
    const out = await clean.clean(file(), await clean.familyOf(file()));
    window.kept = out.blob;  // held, as the upload holds it until it is sealed
    return { ms: performance.now() - t, size: out.size, found: out.found.length };
  },
  seal: async () => {
    const pub = (await envelope.decryptionKey(crypto.getRandomValues(new Uint8Array(32)))).publicKey;
    const t = performance.now();
    let n = 0;
    for await (const piece of envelope.sealStream(file(), [pub])) n += piece.byteLength ?? piece.size;
    return { ms: performance.now() - t, size: n };
  },
};
window.ready = true;
</script>"""


class _Handler(SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/":
            body, kind = PAGE, "text/html"
        else:
            target = (STATIC / self.path.removeprefix("/static/")).resolve()
            if not target.is_relative_to(STATIC) or not target.is_file():
                self.send_error(404)
                return
            body, kind = target.read_bytes(), "text/javascript"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def _tree_rss(root: int) -> int:
    """The RSS of `root` and all its descendants (the browser, its renderers and helpers)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    total = 0
    for pid in tree:
        with contextlib.suppress(OSError):  # a helper process may have exited meanwhile
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return total


def browser_path(video: Path, reps: int) -> list[list[str]]:
    from playwright.sync_api import sync_playwright

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
            page.wait_for_function("window.ready === true")
            page.set_input_files("#f", str(video))
            root = _browser_pid()
            cleans, seals, growth = [], [], []
            for _ in range(reps):
                before = _tree_rss(root)
                cleans.append(page.evaluate("b.clean()"))
                growth.append(_tree_rss(root) - before)
                seals.append(page.evaluate("b.seal()"))
            browser.close()
    finally:
        server.shutdown()
    clean_ms = statistics.median(c["ms"] for c in cleans)
    seal_ms = statistics.median(s["ms"] for s in seals)
    return [
        ["sealStream(File), pieces dropped (baseline)", f"{seal_ms / 1000:.3f} s", "1.00", ""],
        ["clean.mjs: plan + Blob of slices", f"{clean_ms:.1f} ms", f"{clean_ms / seal_ms:.3f}",
         f"< {CLEAN_GOAL:.2f}"],
        ["browser RSS growth while cleaning", f"{statistics.median(growth) / MiB:.1f} MiB", "",
         f"far under {video.stat().st_size / MiB:.0f} MiB"],
    ]  # fmt: skip


def _browser_pid() -> int:
    """The newest chromium browser process started by Playwright (it carries --remote-debugging-pipe)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"chromium") and b"--remote-debugging-pipe" in argv:
                found.append((entry.stat().st_mtime, int(entry.name)))
    if not found:
        raise SystemExit("no chromium browser process found")
    return max(found)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mib", type=int, default=200, help="size of the video (default 200)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "VIDEO", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    work = Path(tempfile.mkdtemp(prefix="bench-media-"))
    try:
        video = work / "VID_20261130_170412.mp4"
        make_video(video, args.mib)
        size = video.stat().st_size / MiB
        print(f"video: {size:.1f} MiB, H.264 720p + AAC, moov first, with a place and a device\n")
        print(table(["server path (no JS)", "time", "ratio", "goal"], server_path(video, work, args.reps)))
        if not args.no_browser:
            print()
            print(table(["browser (Chromium)", "time", "ratio", "goal"], browser_path(video, args.reps)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
