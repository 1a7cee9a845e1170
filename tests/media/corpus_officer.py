"""What the officer opens once a corpus file was sent (see tests/media/corpus.py): the newest report in
a dropbox instance, decrypted with the demo officer's key, and how many blob files the store holds.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from sqlalchemy import create_engine, text

import crypto
from dropbox import config


@functools.cache
def _officer(instance: Path) -> crypto.Identity:
    return crypto.Identity.load(instance / "demo-officer.identity", "")  # Argon2id: load once


def last_report(instance: Path) -> tuple[dict, list[bytes]]:
    """The newest submission the demo officer can open: its report document and its attachments."""
    engine = create_engine(config.load(instance).database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT p.blob_id, p.data FROM parts p WHERE p.submission_id = "
                                 "(SELECT max(id) FROM submissions) ORDER BY p.position")).all()  # fmt: skip
    engine.dispose()
    key = _officer(instance).decryption_key
    # A small envelope is kept in its row (parts.data), the rest in the blob files.
    root = instance / "blobs"
    envelopes = [data if data is not None else (root / b[:2] / b).read_bytes() for b, data in rows]
    opened = [crypto.unseal_bytes(envelope, [key]) for envelope in envelopes]
    return json.loads(opened[0]), opened[1:]


def stored_blobs(instance: Path) -> int:
    return sum(1 for p in (instance / "blobs").glob("??/*") if p.is_file())
