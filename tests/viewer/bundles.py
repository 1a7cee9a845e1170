"""Export bundles made by hand, as a server (honest or not) would: report documents and attachments
sealed to whoever the test says, wrapped with crypto.bundle.write and a test server's signing key.
Shared by tests/viewer, tests/browser/test_viewer*.py and bench/viewer.py."""

from __future__ import annotations

import io
import itertools
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

import crypto
from crypto import RecipientKey, SigningKey, bundle

_ids = itertools.count(1)

# The demo instance's named places (dropbox/demo.py), as an export manifest carries them.
DEMO_PLACES = [
    {"id": 1, "names": {"en": "School No. 5", "bg": "5-о училище"}, "lat": 42.6931, "lon": 23.3219},
    {"id": 2, "names": {"en": "Central park", "bg": "Централен парк"}, "lat": 42.6866, "lon": 23.3296},
    {"id": 3, "names": {"en": "Bus station", "bg": "Автогара"}, "lat": 42.7120, "lon": 23.3210},
]


def report_doc(
    what: str = "Someone sells drugs behind the gym.",
    *,
    category=("drugs", "Drug dealing"),
    where: dict | None = None,
    attachments: list[dict] | None = None,
    kind: str = "report",
    reply_public: str | None = None,
    desk: str = "demo",
    **extra,
) -> dict:
    doc = {
        "format": "sealdrop-report/1",
        "kind": kind,
        "sealed_by": "browser",
        "desk": desk,
        "language": "en",
        "category": {"slug": category[0], "name": category[1]} if category else None,
        "what": what,
        "when": "2025-05-01T18:30",
        "where": where or {"mode": "none"},
        "contact": "",
        "reply_public": reply_public,
        "case_number": None,
        "attachments": attachments or [],
    }
    doc.update(extra)
    return doc


def listed(data: bytes, name: str, type_: str, metadata: str = "removed") -> dict:
    import hashlib

    return {
        "name": name,
        "type": type_,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "metadata": metadata,
    }


def jpeg(size=(64, 48), color=(200, 40, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    return out.getvalue()


@dataclass
class Submission:
    """One submission: envelope 0 is `doc` (a dict is JSON-encoded; bytes go in as they are)."""

    case_number: str
    doc: dict | bytes
    attachments: list[bytes] = field(default_factory=list)
    first: bool = True
    received_day: str = "2025-05-01"
    reply_public: str = "11" * 32
    recipients: list[RecipientKey] | None = None  # default: the server's officer
    envelopes: list[bytes] | None = None  # already sealed (hostile or damaged) envelopes, used as they are
    submission: int = field(default_factory=lambda: next(_ids))


@dataclass
class Server:
    """A test server: its signing key and the chain of export bundles it made for one desk."""

    officer: RecipientKey
    key: SigningKey = field(default_factory=SigningKey.generate)
    desk: str = "demo"
    sequence: int = 0
    previous: str | None = None
    places: list[dict] | None = field(default_factory=lambda: list(DEMO_PLACES))  # None: no field
    extra: dict = field(default_factory=dict)  # more manifest fields, e.g. map_sheets

    def bundle(
        self,
        path: Path,
        subs: list[Submission],
        *,
        desk: str | None = None,
        sequence: int | None = None,
        previous: str | bool | None = False,
        advance: bool = True,
        key: SigningKey | None = None,
    ) -> bundle.Manifest:
        seq = self.sequence + 1 if sequence is None else sequence
        fields = {
            "desk": desk or self.desk,
            "sequence": seq,
            "previous": self.previous if previous is False else previous,
            "created_day": "2025-05-02",
        }
        if self.places is not None:
            fields["places"] = self.places
        fields.update(self.extra)
        with tempfile.TemporaryDirectory() as tmp:
            entries = []
            for sub in subs:
                plaintexts = [
                    sub.doc if isinstance(sub.doc, bytes) else json.dumps(sub.doc).encode(),
                    *sub.attachments,
                ]
                envelopes = sub.envelopes or [
                    crypto.seal_bytes(p, sub.recipients or [self.officer]) for p in plaintexts
                ]
                for part, env in enumerate(envelopes):
                    file = Path(tmp) / f"{sub.submission}-{part}"
                    file.write_bytes(env)
                    meta = {
                        "case_number": sub.case_number,
                        "submission": sub.submission,
                        "part": part,
                        "first": sub.first,
                        "sealed_by": "browser",
                        "received_day": sub.received_day,
                        "reply_public": sub.reply_public,
                    }
                    entries.append((meta, file))
            with open(path, "wb") as f:
                manifest = bundle.write(f, "export", fields, entries, key or self.key)
        if advance:
            self.sequence, self.previous = seq, manifest.sha256
        return manifest


def case_numbers(n: int, prefix: str = "T") -> list[str]:
    return [f"{prefix}{i:03d}-{os.urandom(2).hex().upper()}" for i in range(n)]
