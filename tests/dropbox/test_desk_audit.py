"""The audit log names officials and counts, never a reporter: after an export, a reply import and a
refused import (whose error names a case), through the desk's pages and through the CLI, no audit
entry holds a case number, a receipt, a lookup id, a reply key, report text, reply text or ciphertext."""

import re
from pathlib import Path

from sqlalchemy import select

from crypto import VerifyKey, bundle
from dropbox import cli, config, db
from dropbox.models import AuditEntry, Case
from tests.desk_helpers import add_user, csrf, login, officer_identity, reply_bundle, upload_replies
from tests.helpers import extract, filed_envelopes

REPORT_TEXT = "The white van behind the school sells pills at 16:00"
REPLY_TEXT = "Thank you, officers are checking the van."


class Reports:
    """A report to the demo desk and one routed to demo-internal, and everything that identifies them."""

    def __init__(self, instance: Path, reporter):
        self.instance = instance
        demo = reporter.submit({"what": REPORT_TEXT}).get_data(as_text=True)
        internal = reporter.submit(
            {"what": REPORT_TEXT}, category="Corruption, including by police officers"
        ).get_data(as_text=True)
        self.case, self.other_case = extract(demo, "case-number"), extract(internal, "case-number")
        self.receipts = [extract(demo, "receipt"), extract(internal, "receipt")]
        cfg = config.load(instance)
        with db.standalone_session(cfg.database_url) as s:
            cases = {c.number: c for c in s.scalars(select(Case))}
            self.reply_public = cases[self.case].reply_public
            self.other_reply_public = cases[self.other_case].reply_public
            self.lookup_ids = [c.lookup_id for c in cases.values()]
            s.bind.dispose()
        self.ciphertexts = [envelope[64:96] for envelope in filed_envelopes(instance)]

    def replies(self, name: str, export: bundle.Manifest, **kw) -> Path:
        out = self.instance.parent / name
        items = kw.pop("items", [(self.case, self.reply_public, {"text": REPLY_TEXT, "status": "checking"})])
        confirmations = [{"sequence": export.sequence, "sha256": export.sha256}]
        self.last = reply_bundle(
            out, officer_identity(self.instance), items, confirmations=confirmations, **kw
        )
        return out

    def refused_replies(self, export: bundle.Manifest) -> Path:
        """A bundle refused with an error that names a case: one reply answers another desk's case."""
        other = (self.other_case, self.other_reply_public, {"text": REPLY_TEXT, "status": "checking"})
        return self.replies("refused.bundle", export, sequence=2, previous=self.last.sha256, items=[other])

    def needles(self) -> list[str]:
        texts = [self.case, self.other_case, REPORT_TEXT, REPLY_TEXT, *self.receipts]
        texts += [self.reply_public.hex(), self.other_reply_public.hex()]
        texts += [i.hex() for i in self.lookup_ids] + [c.hex() for c in self.ciphertexts]
        texts += [c.decode("latin-1") for c in self.ciphertexts]
        texts += [re.sub(r"\W", "", r) for r in self.receipts]  # the receipt without its dashes
        return texts

    def audit(self) -> list[str]:
        cfg = config.load(self.instance)
        with db.standalone_session(cfg.database_url) as s:
            rows = s.execute(select(AuditEntry.actor, AuditEntry.action, AuditEntry.desk, AuditEntry.detail))
            entries = [" | ".join(str(v) for v in row) for row in rows]
            s.bind.dispose()
        return entries


def verified_export(instance: Path, path: Path) -> bundle.Manifest:
    pinned = VerifyKey.parse((instance / config.SIGNING_PUB_FILE).read_text())
    return bundle.verify(path, "export", [pinned])


def leaks(entries: list[str], needles: list[str]) -> list[tuple[str, str]]:
    return [(n, e) for e in entries for n in needles if n and n.lower() in e.lower()]


def actions(entries: list[str]) -> list[str]:
    return [e.split(" | ")[1] for e in entries]


def test_the_desk_pages_audit_no_reporter_data(app, reporter, instance):
    reports = Reports(instance, reporter)
    assert reports.ciphertexts and len(reports.lookup_ids) == 2
    clerk = app.test_client()
    assert login(clerk, *add_user(instance, "clerk", "demo")).status_code == 303
    token = csrf(clerk.get("/desk/").get_data(as_text=True))
    exported = instance.parent / "export.bundle"
    exported.write_bytes(clerk.post("/desk/export/demo", data={"csrf_token": token}).get_data())
    manifest = verified_export(instance, exported)
    assert upload_replies(clerk, reports.replies("replies.bundle", manifest)).status_code == 200
    refused = upload_replies(clerk, reports.refused_replies(manifest))
    assert refused.status_code == 400 and reports.other_case in refused.get_data(as_text=True)
    entries = reports.audit()
    assert actions(entries) == ["login", "export", "replies_imported", "replies_refused"]
    assert leaks(entries, reports.needles()) == []


def test_the_commands_audit_no_reporter_data(reporter, instance, capsys):
    reports = Reports(instance, reporter)
    d = str(instance)
    exported = instance.parent / "export.bundle"
    assert cli.main(["export", "--desk", "demo", "-o", str(exported), "--dir", d]) == 0
    manifest = verified_export(instance, exported)
    assert cli.main(["import-replies", str(reports.replies("replies.bundle", manifest)), "--dir", d]) == 0
    assert cli.main(["import-replies", str(reports.refused_replies(manifest)), "--dir", d]) == 1
    assert reports.other_case in capsys.readouterr().err  # the operator is told which case...
    entries = reports.audit()
    assert actions(entries) == ["export", "replies_imported", "replies_refused"]
    assert leaks(entries, reports.needles()) == []  # ...and the audit log is not
