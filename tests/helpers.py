"""Shared by tests and benchmarks: instances, a live server, photos with EXIF, plaintext hunting."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import io
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from PIL import Image
from PIL.ExifTags import IFD
from sqlalchemy import create_engine, inspect, text

import crypto
from dropbox import cli, config, db

POSTGRES_ADMIN = os.environ.get("SEALDROP_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REPO = Path(__file__).resolve().parent.parent


def make_instance(path: Path, database_url: str | None = None) -> Path:
    args = ["init", "--demo", "--dir", str(path)]
    if database_url:
        args += ["--database", database_url]
    assert cli.main(args) == 0
    return path


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    name = f"sealdrop_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def live_server(instance: Path, tmpdir: Path, workers: int = 1) -> Iterator[tuple[str, subprocess.Popen]]:
    """`sealdrop serve` in a child process whose temp directory is `tmpdir` (so tests can inspect it).
    Yields the reporter URL and the process; `process.desk_url` is the desk's loopback URL. `workers`
    other than 1 runs `serve --workers N`."""
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONUNBUFFERED": "1"}
    more = ["--workers", str(workers)] if workers != 1 else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "dropbox.cli", "serve", "--dir", str(instance), "--port", str(port),
         "--desk-port", "0", *more],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    for line in proc.stdout:  # the desk's port is chosen at start and printed
        if found := re.match(rb"desk: (http://127\.0\.0\.1:\d+)/desk/", line):
            proc.desk_url = found.group(1).decode()
            break
    else:
        raise RuntimeError("sealdrop serve exited before it listened")
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            break
        if proc.poll() is not None:
            raise RuntimeError(proc.stdout.read().decode())
        time.sleep(0.05)
    try:
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(10)  # stdout stays open: a test may read the server's whole output after it ended


@contextlib.contextmanager
def demo_server(root: Path) -> Iterator[tuple[str, Path, subprocess.Popen]]:
    """A new demo instance under `root`, served on loopback with `root/tmp` as its temp directory:
    (the reporter URL, the instance, the process; `process.desk_url` is the desk's)."""
    (root / "tmp").mkdir()
    instance = make_instance(root / "instance")
    with live_server(instance, root / "tmp") as (base, process):
        yield base, instance, process


def proof_of_work(challenge: dict) -> dict:
    """What a page's worker sends with a report call, for a GET /api/<desk>/challenge answer: the same
    search, in Python (tests and benchmarks that call the report API directly)."""
    from dropbox import pow as proof

    c = challenge
    found = proof.Challenge(c["challenge"], 0, c["work"], c["iterations"], c["proofs"])
    return {"challenge": c["challenge"], "nonces": proof.solve(found)}


def jpeg_with_exif(make: str = "SpyPhone 9000", size=(320, 240)) -> bytes:
    """A JPEG whose EXIF carries a camera make and GPS coordinates."""
    img = Image.new("RGB", size, (30, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = make
    gps = exif.get_ifd(IFD.GPSInfo)
    gps.update({1: "N", 2: (42.0, 41.0, 49.0), 3: "E", 4: (23.0, 19.0, 17.0)})
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    return out.getvalue()


def fail_wal_syncs(monkeypatch) -> None:
    """Every fdatasync of a SQLite WAL (dropbox/db.py) fails with EIO, as on a failing disk."""

    def sync(path: str) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(db, "_fdatasync", sync)


def files_containing(root: Path, needles: list[bytes]) -> list[str]:
    """Every file under `root` whose bytes contain any needle (also as UTF-16, as some tools store)."""
    hits = []
    variants = [
        n for needle in needles for n in (needle, needle.decode("utf-8", "ignore").encode("utf-16-le"))
    ]
    for path in Path(root).rglob("*"):
        if path.is_file():
            with contextlib.suppress(OSError):
                data = path.read_bytes()
                hits += [f"{path}: {n!r}" for n in variants if n and n in data]
    return hits


def database_rows_containing(url: str, needles: list[bytes]) -> list[str]:
    engine = create_engine(url)
    hits = []
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                blob = repr(tuple(row)).encode("utf-8", "replace")
                hits += [f"{table}: {n!r}" for n in needles if n in blob]
    engine.dispose()
    return hits


def filed_envelopes(instance: Path) -> list[bytes]:
    """Every filed envelope's bytes, in submission and part order, read as the server reads them: from
    its row when small (Part.data), else from the instance's blob store (intake.open_part)."""
    from sqlalchemy import select

    from dropbox import db
    from dropbox.blobs import open_store
    from dropbox.intake import open_part
    from dropbox.models import Part, Submission

    cfg = config.load(instance)
    with db.standalone_session(cfg.database_url) as session:
        store = open_store(cfg, session.get_bind())
        parts = session.scalars(select(Part).join(Submission).order_by(Submission.id, Part.position)).all()
        envelopes = []
        for part in parts:
            with open_part(store, part) as f:
                envelopes.append(f.read())
        session.get_bind().dispose()
    return envelopes


def open_all_envelopes(instance: Path, identity_file: str = "demo-officer.identity") -> list[bytes]:
    """Every stored envelope the identity can open, in submission and part order."""
    ident = crypto.Identity.load(instance / identity_file, "")
    opened = []
    for data in filed_envelopes(instance):
        with contextlib.suppress(crypto.NoMatch):
            opened.append(crypto.unseal_bytes(data, [ident.decryption_key]))
    return opened


def extract(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>([^<]+)<', html)
    assert found, f"no #{element_id} in page"
    return found.group(1).strip()


@dataclasses.dataclass(frozen=True)
class ParserText:
    """One text of an argparse parser's help: a description, a group's title, an option's or
    argument's help (-h's too), or a subcommand's line in its parent's list."""

    command: str  # the command whose --help shows it: "sealdrop category add"
    kind: str  # "description", "group", "option" or "command"
    text: str  # "" when it has none
    name: str = ""  # the option's strings (or argument's dest), or the subcommand's name
    action: argparse.Action | None = None  # for an option

    @property
    def where(self) -> str:
        return f"{self.command} {self.name}".strip()

    @property
    def shown(self) -> bool:
        """Whether `--help` prints it: it has a text, and not argparse's SUPPRESS."""
        return bool(self.text) and self.text != argparse.SUPPRESS


def argparse_texts(parser: argparse.ArgumentParser, command: str | None = None) -> Iterator[ParserText]:
    """Every text of `parser`'s help and its subcommands', at any depth, in a fixed order (two builds
    of one parser line up). A subcommands action without a help of its own is left out: argparse
    prints the list of commands there, not a text."""
    command = command or parser.prog
    yield ParserText(command, "description", parser.description or "")
    for group in parser._action_groups:
        yield ParserText(command, "group", group.title or "", "(group)")
    for action in parser._actions:
        subcommands = isinstance(action, argparse._SubParsersAction)
        if action.help or not subcommands:
            name = "/".join(action.option_strings) or action.dest
            yield ParserText(command, "option", action.help or "", name, action)
        if subcommands:
            for listed in action._choices_actions:
                yield ParserText(command, "command", listed.help or "", listed.dest)
            for name, child in action.choices.items():
                yield from argparse_texts(child, f"{command} {name}")
