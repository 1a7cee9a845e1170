"""The Matroska and WebM test files (for test_matroska_*.py) that real tools write, and the checks on them.

A WebM from ffmpeg (VP8 + Opus) with a title, a date, a place, an artist, a remuxed iPhone's make and
model; an MKV (H.264 + Vorbis) with an attachment and chapters; a WebM recorded by MediaRecorder in
Chromium (unknown sizes) and the same cut in the middle of a Cluster. The fixtures `webm`, `mkv` and
`recorded` (conftest.py) make each once per session; matroska_build.py builds the small structural cases.
"""

from __future__ import annotations

import base64
import struct
import subprocess
from pathlib import Path

PLACE = b"+42.6931+023.3219"
DATE_UTC = (1714557600 - 978307200) * 10**9  # 2024-05-01 10:00:00 UTC in Matroska's nanoseconds
MARKERS = {
    "webm": [PLACE, b"Ivan Petrov", b"Secret Title", b"Lavf", b"Camera Track", b"iPhone 15 Pro", b"Apple",
             b"near the bridge", struct.pack(">q", DATE_UTC)],
    "mkv": [b"Meeting at the bridge", b"ivan_cover.jpg", b"JFIF", b"Ivan Petrov", b"Xiph.Org libVorbis",
            b"Lavf"],
    "recorded": [b"Chrome"],
}  # fmt: skip
LAVFI_VIDEO = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=15:duration=1"]
LAVFI_AUDIO = ["-f", "lavfi", "-i", "sine=duration=1"]


def ffmpeg(*args: str | Path) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *map(str, args)], check=True)


def frames(path: Path) -> str:
    """The decoded frames' checksums (video and audio, no cover art): what a viewer would show."""
    out = subprocess.run(
        ["ffmpeg", "-v", "quiet", "-i", str(path), "-map", "0:V?", "-map", "0:a?", "-f", "framemd5", "-"],
        capture_output=True,
    )
    return out.stdout.decode()


def duration(path: Path) -> str:
    out = subprocess.run(
        ["ffprobe", "-v", "quiet", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
    )
    return out.stdout.decode().strip()


def phone_webm(folder: Path) -> bytes:
    """What ffmpeg writes when it remuxes a phone's video to WebM: the MOV's tags come along. The
    viewer checks a cleaned file with the same plan: it must find nothing there."""
    path = folder / "phone.webm"
    ffmpeg(*LAVFI_VIDEO, *LAVFI_AUDIO, "-c:v", "libvpx", "-b:v", "200k", "-c:a", "libopus",
           "-metadata", "title=Secret Title", "-metadata", "creation_time=2024-05-01T10:00:00Z",
           "-metadata", f"location={PLACE.decode()}/", "-metadata", "artist=Ivan Petrov",
           "-metadata", "com.apple.quicktime.make=Apple",
           "-metadata", "com.apple.quicktime.model=iPhone 15 Pro",
           "-metadata:s:v:0", "title=Camera Track", "-metadata:s:a:0", "comment=near the bridge",
           path)  # fmt: skip
    return path.read_bytes()


def attached_mkv(folder: Path) -> bytes:
    """An MKV with cover art attached, chapters with titles, and a Vorbis track (its comment header)."""
    from PIL import Image

    Image.new("RGB", (16, 16), (200, 10, 10)).save(folder / "cover.jpg")
    chapters = folder / "chapters.txt"
    chapters.write_text(
        ";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=500\ntitle=Meeting at the bridge\n"
        "[CHAPTER]\nTIMEBASE=1/1000\nSTART=500\nEND=1000\ntitle=Second part\n"
    )
    path = folder / "attached.mkv"
    ffmpeg(*LAVFI_VIDEO, *LAVFI_AUDIO, "-i", chapters, "-map", "0", "-map", "1", "-map_chapters", "2",
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "libvorbis", "-metadata", "artist=Ivan Petrov",
           "-attach", folder / "cover.jpg", "-metadata:s:t", "mimetype=image/jpeg",
           "-metadata:s:t", "filename=ivan_cover.jpg", path)  # fmt: skip
    return path.read_bytes()


RECORD = """async (ms) => {
  const canvas = Object.assign(document.createElement("canvas"), { width: 160, height: 120 });
  const ctx = canvas.getContext("2d");
  const stream = canvas.captureStream(15);
  const audio = new AudioContext();
  await audio.resume();
  const tone = audio.createOscillator();
  const out = audio.createMediaStreamDestination();
  tone.connect(out);
  tone.start();
  stream.addTrack(out.stream.getAudioTracks()[0]);
  let frame = 0;
  const draw = () => {
    ctx.fillStyle = `hsl(${(frame * 37) % 360}, 80%, 50%)`;
    ctx.fillRect(0, 0, 160, 120);
    ctx.fillStyle = "#000";
    ctx.fillText(String(frame++), 20, 60);
  };
  draw();
  const timer = setInterval(draw, 50);
  const recorder = new MediaRecorder(stream, { mimeType: "video/webm;codecs=vp8,opus" });
  const chunks = [];
  recorder.ondataavailable = (e) => chunks.push(e.data);
  const stopped = new Promise((done) => (recorder.onstop = done));
  recorder.start(200);
  await new Promise((done) => setTimeout(done, ms));
  recorder.stop();
  await stopped;
  clearInterval(timer);
  tone.stop();
  await audio.close();
  return new Uint8Array(await new Blob(chunks).arrayBuffer()).toBase64();
}"""


def record(browser) -> bytes:
    """A reporter's video note as Chromium's MediaRecorder writes it: Segment and Clusters of unknown
    size, "Chrome" as MuxingApp and WritingApp."""
    page = browser.new_page()
    try:
        page.goto("about:blank")
        return base64.b64decode(page.evaluate(RECORD, 1000))
    finally:
        page.close()


def cut_in_cluster(data: bytes) -> bytes:
    """The file stopped abruptly at about two thirds, inside a block of the last Cluster."""
    at = len(data) * 2 // 3
    assert data.rfind(b"\x1f\x43\xb6\x75", 0, at) > data.find(b"\x16\x54\xae\x6b")  # past the first Cluster
    return data[:at]


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path
