"""`import`: what a good bundle brings, and every bad one refused with a clear message, leaving the vault
exactly as it was."""

import hashlib
import json
import os
import shutil

import pytest

import crypto
from crypto import Identity, SigningKey
from tests.viewer.bundles import Submission, jpeg, listed, report_doc
from viewer import importer, queries
from viewer.errors import Refused


def snapshot(vault):
    files = sorted(str(p.relative_to(vault.path)) for p in vault.path.rglob("*") if p.is_file())
    return (vault.path / "head.json").read_bytes(), files


def refused(vault, path, reason, match):
    before = snapshot(vault)
    with pytest.raises(Refused, match=match) as e:
        importer.import_bundle(vault, path)
    assert e.value.reason == reason
    assert "nothing was imported" in str(e.value)
    assert snapshot(vault) == before
    return e.value


def test_a_bundle_brings_cases_reports_attachments_and_search(vault, server, tmp_path):
    photo = jpeg()
    wav = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28)
    server.bundle(
        tmp_path / "1",
        [
            Submission(
                "AAAA-0001",
                report_doc(
                    "Dealing at the bus station",
                    where={"mode": "place", "place": "Bus station", "lat": 42.712, "lon": 23.321},
                    attachments=[
                        listed(photo, "a.jpg", "image/jpeg"),
                        listed(wav, "b.wav", "audio/wav", "kept"),
                    ],
                ),
                [photo, wav],
            ),
            Submission("AAAA-0002", report_doc("Шум всю ночь", category=("noise", "Noise"))),
        ],
    )
    r = importer.import_bundle(vault, tmp_path / "1")
    assert (r.desk, r.sequence, r.new_cases, r.reports, r.attachments) == ("demo", 1, 2, 2, 2)
    server.bundle(
        tmp_path / "2",
        [
            Submission(
                "AAAA-0001",
                report_doc("More: a blue car", kind="addition"),
                first=False,
                received_day="2025-05-03",
            )
        ],
    )
    importer.import_bundle(vault, tmp_path / "2")
    case = queries.case(vault, "aaaa-0001")
    assert [rep["what"] for rep in case["reports"]] == ["Dealing at the bus station", "More: a blue car"]
    atts = case["reports"][0]["attachments"]
    assert [(a["family"], a["mime"], a["metadata"], a["listed_sha256_ok"]) for a in atts] == [
        ("image", "image/jpeg", "removed", 1),
        ("audio", "audio/wav", "kept", 1),
    ]
    # Attachments are kept as the envelopes that arrived, named by their SHA-256.
    stored = vault.file_path(atts[0]["file"]).read_bytes()
    assert hashlib.sha256(stored).hexdigest() == atts[0]["file"]
    assert crypto.unseal_bytes(stored, [vault.officer.decryption_key]) == photo
    assert case["case"]["latest_day"] == "2025-05-03" and case["case"]["submissions"] == 2
    assert queries.inbox(vault, queries.Filters(q="blue")).rows[0]["number"] == "AAAA-0001"
    assert queries.inbox(vault, queries.Filters(q="шум")).rows[0]["number"] == "AAAA-0002"
    assert queries.inbox(vault, queries.Filters(q='"x" OR NEAR(')).total == 0  # no FTS syntax from the box


def test_reports_for_other_officers_and_damaged_envelopes_do_not_stop_an_import(vault, server, tmp_path):
    someone_else = Identity.generate().public_key.recipient
    good = crypto.seal_bytes(b'{"what": "fine"}', [server.officer])
    damaged = bytearray(crypto.seal_bytes(b'{"what": "x"}', [server.officer]))
    damaged[-3] ^= 1
    server.bundle(
        tmp_path / "b",
        [
            Submission("AAAA-0001", report_doc("readable")),
            Submission("AAAA-0002", report_doc("for internal security only"), recipients=[someone_else]),
            Submission("AAAA-0003", b"", envelopes=[bytes(damaged)]),
            Submission("AAAA-0004", b"", envelopes=[good, b"not an envelope at all"]),
        ],
    )
    r = importer.import_bundle(vault, tmp_path / "b")
    assert (r.reports, r.not_for_us, r.damaged) == (4, 1, 2)
    rows = {x["number"]: x for x in queries.inbox(vault, queries.Filters()).rows}
    assert not rows["AAAA-0002"]["readable"] and rows["AAAA-0001"]["readable"]
    assert "sealed to other officers" in queries.case(vault, "AAAA-0002")["reports"][0]["problem"]
    assert "damaged (payload failure)" in queries.case(vault, "AAAA-0003")["reports"][0]["problem"]
    assert (
        "damaged (header failure)"
        in queries.case(vault, "AAAA-0004")["reports"][0]["attachments"][0]["problem"]
    )


def test_a_bundle_signed_by_another_server_is_refused(vault, server, tmp_path):
    server.bundle(
        tmp_path / "b", [Submission("AAAA-0001", report_doc())], key=SigningKey.generate(), advance=False
    )
    refused(
        vault,
        tmp_path / "b",
        "bad_signature",
        "not signed by the server key pinned in this vault "
        f"\\(fingerprint {server.key.verify_key.fingerprint}",
    )


def test_a_bundle_for_another_desk_is_refused(vault, server, tmp_path):
    server.bundle(
        tmp_path / "b", [Submission("AAAA-0001", report_doc())], desk="demo-internal", advance=False
    )
    refused(
        vault,
        tmp_path / "b",
        "wrong_desk",
        "this bundle is for desk 'demo-internal', and this vault serves demo",
    )


def test_replayed_out_of_order_and_forked_bundles_are_refused(vault, server, tmp_path):
    server.bundle(tmp_path / "1", [Submission("AAAA-0001", report_doc())])
    importer.import_bundle(vault, tmp_path / "1")
    refused(vault, tmp_path / "1", "replayed", "bundle 1 was already imported")
    server.bundle(tmp_path / "3", [Submission("AAAA-0003", report_doc())], sequence=3, advance=False)
    refused(vault, tmp_path / "3", "withheld", "bundle 3 arrived but 2 is missing")
    server.bundle(tmp_path / "2f", [Submission("AAAA-0002", report_doc())], previous="00" * 32, advance=False)
    refused(vault, tmp_path / "2f", "forked", "does not follow the bundle imported before it")
    server.bundle(tmp_path / "2", [Submission("AAAA-0002", report_doc())])
    assert importer.import_bundle(vault, tmp_path / "2").sequence == 2


def test_tampered_and_truncated_bundles_are_refused(vault, server, tmp_path):
    photo = jpeg(size=(400, 300))
    server.bundle(tmp_path / "b", [Submission("AAAA-0001", report_doc(), [photo])], advance=False)
    data = (tmp_path / "b").read_bytes()
    (tmp_path / "flipped").write_bytes(data[:-100] + bytes([data[-100] ^ 1]) + data[-99:])
    refused(vault, tmp_path / "flipped", "tampered", "does not match its manifest")
    (tmp_path / "short").write_bytes(data[:-1])
    refused(vault, tmp_path / "short", "truncated", "cut short inside item-1")
    (tmp_path / "long").write_bytes(data + b"\0")
    refused(vault, tmp_path / "long", "tampered", "bytes after its last item")
    (tmp_path / "junk").write_bytes(b"PK\x03\x04 a zip file")
    refused(vault, tmp_path / "junk", "not_a_bundle", "not a sealdrop bundle")
    shutil.copy(tmp_path / "b", tmp_path / "ok")
    assert importer.import_bundle(vault, tmp_path / "ok").reports == 1


def test_a_bundle_with_nothing_for_this_officer_is_imported_listed_and_the_chain_goes_on(
    vault, server, tmp_path
):
    """A desk's bundle sealed only to its other officers (or made before this officer's key joined) is
    no refusal: refusing it would stop this vault's chain for good. Its cases are listed, unreadable."""
    other = Identity.generate()
    server.bundle(
        tmp_path / "b1",
        [Submission("AAAA-0001", report_doc(), [jpeg()], recipients=[other.public_key.recipient])],
    )
    r = importer.import_bundle(vault, tmp_path / "b1")
    assert (r.sequence, r.not_for_us) == (1, 2)  # its report and photo, listed unreadable
    server.bundle(tmp_path / "b2", [Submission("AAAA-0002", report_doc())])
    assert importer.import_bundle(vault, tmp_path / "b2").reports == 1  # the next one follows


def test_an_officer_who_joined_later_starts_the_vaults_chain_at_a_later_bundle(vault, server, tmp_path):
    """Bundles 1 and 2 were made before this officer's key joined the desk: bundle 3 is refused with a
    hint, taken with start_chain, and the chain goes on from it; start_chain is for a first import only."""
    for n in (1, 2):
        server.bundle(tmp_path / f"b{n}", [Submission(f"OLD{n}-0001", report_doc())])
    server.bundle(tmp_path / "b3", [Submission("NEW3-0001", report_doc())])
    server.bundle(tmp_path / "b4", [Submission("NEW4-0001", report_doc())])
    refused(vault, tmp_path / "b3", "withheld", "--start-chain")
    assert importer.import_bundle(vault, tmp_path / "b3", start_chain=True).reports == 1
    assert importer.import_bundle(vault, tmp_path / "b4").reports == 1
    refused(vault, tmp_path / "b2", "replayed", "already imported")
    with pytest.raises(Refused) as e:
        importer.import_bundle(vault, tmp_path / "b4", start_chain=True)
    assert e.value.reason == "chain_started"


def test_a_malformed_manifest_item_is_refused(vault, server, tmp_path):
    server.bundle(tmp_path / "b", [Submission("<script>", report_doc())], advance=False)
    refused(vault, tmp_path / "b", "tampered", "item-0 of the bundle's manifest is malformed")


def test_the_servers_reply_key_must_match_the_reporters(vault, server, tmp_path):
    server.bundle(
        tmp_path / "b", [Submission("AAAA-0001", report_doc(reply_public="22" * 32), reply_public="33" * 32)]
    )
    importer.import_bundle(vault, tmp_path / "b")
    case = queries.case(vault, "AAAA-0001")["case"]
    assert (
        case["reply_public"] == "22" * 32
        and "differs from the one sealed in the report" in case["reply_warning"]
    )
    with pytest.raises(Refused, match="cannot reply to case AAAA-0001"):
        from viewer import triage

        triage.reply(vault, "AAAA-0001", "hello")


def test_without_a_pinned_server_nothing_imports(tmp_path, officer):
    from viewer.vault import Vault

    with (
        Vault.create(tmp_path / "v", "pw", officer) as v,
        pytest.raises(Refused, match="no server key is pinned"),
    ):
        importer.import_bundle(v, tmp_path / "whatever")


def test_a_bundle_tampered_at_its_end_leaves_no_attachment_behind(vault, server, tmp_path, monkeypatch):
    """Attachments are written and opened while the bundle streams by; the last item's hash fails
    after many files were written and some already kept: every one of them goes, the vault is as it was."""
    from viewer import streaming

    monkeypatch.setattr(streaming, "IN_FLIGHT", 100_000)  # the reader waits for the worker, often
    photos = [jpeg(size=(300 + i, 200), color=(i * 20, 90, 40)) + os.urandom(150_000) for i in range(6)]
    subs = [
        Submission(f"TAIL-000{i}", report_doc(attachments=[listed(p, f"{i}.jpg", "image/jpeg")]), [p])
        for i, p in enumerate(photos)
    ]
    server.bundle(tmp_path / "b", subs, advance=False)
    data = (tmp_path / "b").read_bytes()
    (tmp_path / "flipped").write_bytes(data[:-10] + bytes([data[-10] ^ 1]) + data[-9:])
    refused(vault, tmp_path / "flipped", "tampered", "item-11 of the bundle does not match its manifest")
    (tmp_path / "long").write_bytes(data + b"\0")
    refused(vault, tmp_path / "long", "tampered", "bytes after its last item")
    assert not [p for p in (vault.path / "files").rglob("*") if p.is_file()]
    r = importer.import_bundle(vault, tmp_path / "b")
    assert (r.reports, r.attachments) == (6, 6)
    rows = vault.db.execute("SELECT size, listed_sha256_ok, family FROM attachments ORDER BY id").fetchall()
    assert [tuple(x) for x in rows] == [(len(p), 1, "image") for p in photos]


def test_an_envelope_already_in_the_vault_is_kept_and_never_removed_by_a_failed_import(
    vault, server, officer, tmp_path
):
    photo = jpeg()
    doc = report_doc(attachments=[listed(photo, "p.jpg", "image/jpeg")])
    envelopes = [crypto.seal_bytes(json.dumps(doc).encode(), [officer.public_key.recipient])]
    envelopes.append(crypto.seal_bytes(photo, [officer.public_key.recipient]))
    name = hashlib.sha256(envelopes[1]).hexdigest()
    server.bundle(tmp_path / "1", [Submission("SAME-0001", doc, envelopes=envelopes)])
    importer.import_bundle(vault, tmp_path / "1")
    kept = vault.file_path(name)
    assert kept.read_bytes() == envelopes[1]
    # The same envelope again (twice in one bundle, even), then a tampered end: refused, and the file
    # that an earlier import made stays, whole.
    subs = [Submission(f"SAME-000{i}", doc, envelopes=envelopes) for i in (2, 3)]
    server.bundle(tmp_path / "2", subs, advance=False)
    data = (tmp_path / "2").read_bytes()
    (tmp_path / "2x").write_bytes(data + b"\0")
    refused(vault, tmp_path / "2x", "tampered", "bytes after its last item")
    assert kept.read_bytes() == envelopes[1]
    r = importer.import_bundle(vault, tmp_path / "2")
    assert (r.reports, r.attachments) == (2, 2) and kept.read_bytes() == envelopes[1]
    assert {p.name for p in (vault.path / "files").rglob("*") if p.is_file()} == {name}
    files = vault.db.execute("SELECT DISTINCT file FROM attachments").fetchall()
    assert [f[0] for f in files] == [name]


@pytest.mark.parametrize(
    ("lang", "words"),
    [("bg", "нищо не е внесено"), ("ru", "ничего не импортировано"), ("kk", "ештеңе импортталмады")],
)
def test_a_refused_import_is_told_in_the_officers_language(vault, server, tmp_path, lang, words):
    """Every refusal names what is wrong in the officer's words: a damaged item by its name, a
    replayed bundle by its number."""
    from viewer import i18n

    photo = jpeg(size=(400, 300))
    server.bundle(tmp_path / "b", [Submission("AAAA-0001", report_doc(), [photo])], advance=False)
    data = (tmp_path / "b").read_bytes()
    (tmp_path / "flipped").write_bytes(data[:-100] + bytes([data[-100] ^ 1]) + data[-99:])
    (tmp_path / "junk").write_bytes(b"PK\x03\x04 a zip file")
    with i18n.speaking(lang):
        for name in ("flipped", "junk"):
            with pytest.raises(Refused) as e:
                importer.import_bundle(vault, tmp_path / name)
            assert words in str(e.value) and "bundle" not in str(e.value), str(e.value)
        assert "item-1" in str(refused_quietly(vault, tmp_path / "flipped"))


def refused_quietly(vault, path) -> Refused:
    with pytest.raises(Refused) as e:
        importer.import_bundle(vault, path)
    return e.value


def test_a_report_sealed_to_a_key_the_desk_does_not_list_is_flagged(vault, server, tmp_path, officer):
    """A server taken over could add a reader of its own to the page's keys and leave it off the
    manifest: the envelope's header names every key it is sealed to, and a stranger among them is a
    warning on the report. Keys the desk listed, or that a key change named, are no strangers."""
    stranger, colleague, retired = Identity.generate(), Identity.generate(), Identity.generate()
    mine, theirs = officer.public_key.recipient, stranger.public_key.recipient

    def listing(*identities):
        return [{"key_id": k.public_key.recipient.key_id.hex(), "fingerprint": k.fingerprint, "name": "x"}
                for k in identities]  # fmt: skip

    def flagged(number):
        return importer.UNLISTED_RECIPIENT in queries.case(vault, number)["reports"][0]["warnings"]

    # An older server lists no recipients: nothing to compare with, nothing flagged.
    server.bundle(tmp_path / "b1", [Submission("OLDS-0001", report_doc(), recipients=[mine, theirs])])
    importer.import_bundle(vault, tmp_path / "b1")
    assert not flagged("OLDS-0001")
    server.extra = {
        "recipients": listing(officer, colleague),
        "key_changes": [{"action": "retired", "day": "2025-05-01", **listing(retired)[0]}],
    }
    server.bundle(
        tmp_path / "b2",
        [
            Submission("KNWN-0001", report_doc(), recipients=[mine, colleague.public_key.recipient]),
            Submission("RTRD-0001", report_doc(), recipients=[mine, retired.public_key.recipient]),
            Submission("STRG-0001", report_doc(), recipients=[mine, theirs]),
        ],
    )
    importer.import_bundle(vault, tmp_path / "b2")
    assert [flagged(n) for n in ("KNWN-0001", "RTRD-0001", "STRG-0001")] == [False, False, True]
    server.extra = {}  # a later bundle without a list is compared with the list the vault keeps
    server.bundle(tmp_path / "b3", [Submission("LATR-0001", report_doc(), recipients=[mine, theirs])])
    importer.import_bundle(vault, tmp_path / "b3")
    assert flagged("LATR-0001")
