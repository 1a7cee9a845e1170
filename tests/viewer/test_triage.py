"""Triage, notes, replies and their bundle, forwarding to the police: each kept in the vault with who
did it and when."""

import io
import json
import shutil
import subprocess
import zipfile

import pytest

import crypto
from crypto import Identity, Receipt, bundle
from tests.viewer.bundles import Submission, jpeg, listed, report_doc
from viewer import forward, importer, pdf, queries, triage
from viewer.errors import NotFound, Refused, ViewerError


@pytest.fixture
def cases(vault, server, tmp_path):
    receipt = Receipt.generate()
    photo = jpeg(size=(320, 200))
    server.bundle(
        tmp_path / "b",
        [
            Submission(
                "AAAA-0001",
                report_doc(
                    "First <b>report</b> & more",
                    attachments=[listed(photo, "p.jpg", "image/jpeg")],
                    reply_public=receipt.reply_recipient.public_bytes.hex(),
                ),
                [photo],
                reply_public=receipt.reply_recipient.public_bytes.hex(),
            ),
            Submission("AAAA-0002", report_doc("The same again")),
        ],
    )
    importer.import_bundle(vault, tmp_path / "b")
    return receipt, photo


def test_states_duplicates_notes_and_history(vault, cases):
    triage.set_state(vault, "AAAA-0001", "checking")
    triage.set_state(vault, "aaaa-0002", "duplicate", duplicate_of="aaaa-0001")
    triage.add_note(vault, "AAAA-0001", "Called the school.")
    one, two = queries.case(vault, "AAAA-0001"), queries.case(vault, "AAAA-0002")
    assert (one["state"], one["duplicates"]) == ("checking", ["AAAA-0002"])
    assert (two["state"], two["duplicate_of"]) == ("duplicate", "AAAA-0001")
    assert one["notes"][0]["text"] == "Called the school." and "Officer Petrova" in one["notes"][0]["actor"]
    assert [(h["action"], h["detail"]) for h in one["history"]] == [
        ("imported", "report from export bundle demo #1"),
        ("state", "checking"),
        ("note", "18 characters"),
    ]
    assert two["history"][-1]["detail"] == "duplicate of AAAA-0001"
    for bad, match in (
        (("AAAA-0001", "maybe"), "unknown state"),
        (("AAAA-0001", "duplicate"), "say which case"),
        (("AAAA-0001", "duplicate", "AAAA-0001"), "of itself"),
        (("AAAA-0001", "duplicate", "ZZZZ-9999"), "no case"),
    ):
        with pytest.raises((Refused, NotFound), match=match):
            triage.set_state(vault, *bad)
    with pytest.raises(NotFound):
        triage.add_note(vault, "NOPE", "x")
    with pytest.raises(Refused, match="empty"):
        triage.add_note(vault, "AAAA-0001", "   ")


def test_reply_bundles_chain_confirm_and_open_for_the_reporter(vault, cases, server):
    receipt, _ = cases
    triage.reply(vault, "AAAA-0001", "We are checking.", "checking")
    triage.reply(vault, "AAAA-0001", "Another word, status unchanged.")
    path, _, count = triage.export_replies(vault)
    assert count == 2 and path.parent.name == "outbox"
    verify = vault.officer.public_key.verify_key
    m = bundle.verify(path, "replies", [verify])
    assert m.data["officer"] == vault.officer.public_key.recipient.key_id.hex()
    assert (m.data["desk"], m.sequence, m.data["previous"]) == ("demo", 1, None)
    assert m.data["confirmations"] == [{"sequence": 1, "sha256": server.previous}]
    with open(path, "rb") as f:
        bundle.read_manifest(f, "replies", [verify])
        opened = [
            json.loads(crypto.unseal_bytes(r.read(), [receipt.reply_key])) for _, r in bundle.items(f, m)
        ]
    assert opened[0]["text"] == "We are checking." and opened[0]["status"] == "checking"
    assert "status" not in opened[1] and opened[1]["day"]
    with pytest.raises(ViewerError, match="nothing to send"):
        triage.export_replies(vault)
    triage.reply(vault, "AAAA-0001", "Closed now.", "closed")
    _, second, _ = triage.export_replies(vault)
    assert (second.sequence, second.data["previous"], second.data["confirmations"]) == (2, m.sha256, [])
    history = [h["action"] for h in queries.case(vault, "AAAA-0001")["history"]]
    assert history.count("reply sent") == 3


def test_reply_limits_and_statuses(vault, cases):
    assert (
        triage.reporter_status("new") == "received"
        and triage.reporter_status("not credible") == "not credible"
    )
    with pytest.raises(Refused, match="unknown status"):
        triage.reply(vault, "AAAA-0001", "x", "solved")
    with pytest.raises(Refused, match="at most 10000"):
        triage.reply(vault, "AAAA-0001", "x" * 10_001)
    with pytest.raises(Refused, match="the reply is empty: write a text, or choose the status"):
        triage.reply(vault, "AAAA-0001", "  ", None)


def test_a_status_alone_is_a_reply_the_reporter_can_read(vault, cases):
    receipt, _ = cases
    triage.reply(vault, "AAAA-0001", "", "credible")
    path, m, count = triage.export_replies(vault)
    assert count == 1
    with open(path, "rb") as f:
        bundle.read_manifest(f, "replies", [vault.officer.public_key.verify_key])
        (body,) = [
            json.loads(crypto.unseal_bytes(r.read(), [receipt.reply_key])) for _, r in bundle.items(f, m)
        ]
    assert body["text"] == "" and body["status"] == "credible" and body["day"]
    history = queries.case(vault, "AAAA-0001")["history"]
    assert history[-2]["detail"] == "status shown: credible (status only, no text)"


def test_forwarding_seals_a_case_file_only_the_police_open(vault, cases, tmp_path):
    _, photo = cases
    police = Identity.generate()
    triage.add_note(vault, "AAAA-0001", "Seen twice <script>.")
    sealed = forward.forward(vault, "AAAA-0001", police.public_key, "District police <b>")
    with pytest.raises(crypto.NoMatch):
        crypto.unseal_bytes(sealed.read_bytes(), [vault.officer.decryption_key])
    plain = crypto.unseal_bytes(sealed.read_bytes(), [police.decryption_key])
    with zipfile.ZipFile(io.BytesIO(plain)) as z:
        names = z.namelist()
        case = json.loads(z.read("case.json"))
        assert z.read(next(n for n in names if n.startswith("attachments/"))) == photo
        assert z.read("case.pdf").startswith(b"%PDF")
    assert case["format"] == "sealview-case/1" and case["forwarded"]["fingerprint"] == police.fingerprint
    assert case["reports"][0]["what"] == "First <b>report</b> & more"
    assert case["notes"][0]["text"] == "Seen twice <script>."
    data = queries.case(vault, "AAAA-0001")
    assert data["state"] == "forwarded" and data["forwards"][0]["recipient"] == "District police <b>"
    assert data["history"][-1]["detail"] == f"to District police <b> ({police.fingerprint})"
    dashboard = queries.dashboard(vault)
    assert dashboard["forwarded"][0]["case_number"] == "AAAA-0001"
    with pytest.raises(Refused, match="not a sealdrop public key"):
        forward.recipient("sealdrop-verify-key-v1:AAAA")


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="pdftotext (poppler-utils) is not installed")
def test_the_pdf_shows_markup_as_text(vault, cases, tmp_path):
    triage.add_note(vault, "AAAA-0001", "Кирилица & <font size=40>big</font>")
    out = tmp_path / "case.pdf"
    out.write_bytes(pdf.case_pdf(vault, queries.case(vault, "AAAA-0001")))
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(out), "-"], capture_output=True, check=True
    ).stdout.decode()
    text = " ".join(text.split())  # lines wrap where the page ends
    assert "First <b>report</b> & more" in text
    assert "Кирилица & <font size=40>big</font>" in text
    assert "Case AAAA-0001" in text
