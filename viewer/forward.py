"""Forwarding a case to the police: a case file sealed to a police recipient, and a printable PDF.

The case file is one envelope (docs/envelope.md) sealed to the police recipient's public key; inside is
a ZIP: `case.json` (the reports, notes, triage history, replies, the forwarding itself), the
attachments as the reporter sent them (`attachments/`), and `case.pdf`. Both case.json and the PDF
list, per attachment, the hidden data sealview found in the original (viewer/hidden.py), so the police
handle a file that could identify the reporter with care. The police open it with
`python -m crypto open -i POLICE.identity -o case.zip FILE`. It is built in a thread straight into the
sealing, through a pipe: the plaintext ZIP never touches the disk.
"""

from __future__ import annotations

import json
import os
import threading
import zipfile
from dataclasses import asdict
from pathlib import Path

import crypto
from crypto import PublicKey

from . import hidden, media, pdf, queries, recipients
from .documents import one_line, safe_filename
from .errors import Refused
from .i18n import _
from .triage import case_row
from .vault import Vault, locked, now

FORMAT = "sealview-case/1"


def recipient(text: str) -> PublicKey:
    try:
        return PublicKey.parse(text)
    except crypto.KeyFormatError as e:
        raise Refused("bad_key", _("this is not a sealdrop public key file: %(reason)s", reason=e)) from None


def case_json(data: dict, forwarded: dict, checks: dict[int, hidden.Check] | None = None) -> dict:
    """The case as JSON; `checks` (attachment id: what its original file still holds) adds each
    attachment's hidden data, as the officer saw it on the case page."""
    c = data["case"]
    checks = checks or {}
    return {
        "format": FORMAT,
        "case": {k: c[k] for k in ("number", "desk", "received_day", "latest_day", "category_name")},
        "state": data["state"],
        "duplicate_of": data["duplicate_of"],
        "forwarded": forwarded,
        "reports": [
            {
                "received_day": r["received_day"],
                "kind": r["kind"],
                "sealed_by": r["sealed_by"],
                "opened": bool(r["opened"]),
                "problem": r["problem"],
                "category": r["category_name"],
                "what": r["what"],
                "when": r["when_text"],
                "where": r["where"],
                "contact": r["contact"],
                "warnings": r["warnings"],
                "document": r["raw"],
                "attachments": [
                    {
                        "position": a["position"],
                        "name": a["name"],
                        "type": a["mime"],
                        "size": a["size"],
                        "metadata": a["metadata"],
                        "file": _entry(r, a) if a["opened"] and a["file"] else None,
                        "problem": a["problem"],
                        **({"hidden_data": asdict(checks[a["id"]])} if a["id"] in checks else {}),
                    }
                    for a in r["attachments"]
                ],
            }
            for r in data["reports"]
        ],
        "notes": data["notes"],
        "history": data["history"],
        "replies": data["replies"],
    }


def _entry(report: dict, att: dict) -> str:
    return f"attachments/{report['submission']}-{att['position']}-{safe_filename(att['name'])}"


@locked
def forward(vault: Vault, number: str, to: PublicKey, name: str) -> Path:
    """Seal the case file to `to`, keep it in the outbox, record the forwarding. Returns the file."""
    case = case_row(vault, number)
    number = case["number"]
    name = one_line(name, 100) or "police"
    record = {"to": name, "fingerprint": to.fingerprint, "at": now(), "by": vault.actor}
    data = queries.case(vault, number)
    checks = {a["id"]: hidden.check_attachment(vault, a) for r in data["reports"] for a in r["attachments"]
              if a["opened"] and a["file"]}  # fmt: skip
    document = case_json(data, record, checks)
    printable = pdf.case_pdf(vault, data, forwarded=record)
    outbox = vault.path / "outbox"
    serial = os.urandom(4).hex()
    target = outbox / f"case-{number}-{serial}.sealed"
    partial = outbox / f".{target.name}.partial"
    try:
        with open(partial, "wb") as out:
            _seal_zip(vault, data, document, printable, to, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
        with vault.change() as db:
            db.execute(
                "INSERT INTO state.forwards (case_number, at, actor, recipient, fingerprint, public_key,"
                " file, by_fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    number,
                    record["at"],
                    vault.actor,
                    name,
                    to.fingerprint,
                    to.encode(),
                    target.name,
                    vault.officer.fingerprint,
                ),
            )
            recipients.remember(db, to, name)
            db.execute(
                "INSERT OR REPLACE INTO state.triage (case_number, state, duplicate_of, updated_at)"
                " VALUES (?, 'forwarded', NULL, ?)",
                (number, now()),
            )
            vault.history(db, number, "forwarded", f"to {name} ({to.fingerprint})")
    except BaseException:
        partial.unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        raise
    return target


def _seal_zip(vault: Vault, data: dict, document: dict, printable: bytes, to: PublicKey, out) -> None:
    r, w = os.pipe()
    failed: list[BaseException] = []

    def write_zip() -> None:
        try:
            with os.fdopen(w, "wb") as pipe, zipfile.ZipFile(pipe, "w") as z:
                z.writestr(
                    "case.json",
                    json.dumps(document, ensure_ascii=False, indent=1),
                    compress_type=zipfile.ZIP_DEFLATED,
                )
                z.writestr("case.pdf", printable)
                for report in data["reports"]:
                    for att in report["attachments"]:
                        if att["opened"] and att["file"]:
                            with z.open(_entry(report, att), "w", force_zip64=True) as dst:
                                media.copy_to(vault, att, dst)
        except BaseException as e:
            failed.append(e)

    thread = threading.Thread(target=write_zip, name="sealview-case-file", daemon=True)
    thread.start()
    try:
        with os.fdopen(r, "rb") as src:
            crypto.seal(src, out, [to.recipient])
    finally:
        thread.join()
    if failed:
        raise failed[0]
