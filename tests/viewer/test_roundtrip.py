"""The whole loop through real code on both sides of the air gap: reporters submit on a real instance
(no-JS pages, Flask test client), the desk exports, sealview imports, triages and replies, the desk
imports the reply bundle, and the reporter's sign-in page shows the reply and the status.

This test imports dropbox: it is a test, not viewer code (tests/viewer/test_offline.py checks that).
"""

import io
import json

import pytest
from sqlalchemy import select

import crypto
from dropbox import bundles, config, create_app, db
from dropbox.blobs import FileBlobStore
from dropbox.models import Desk
from tests.dropbox.conftest import Reporter
from tests.helpers import extract, jpeg_with_exif, make_instance
from viewer import cli, queries
from viewer.vault import Vault


@pytest.fixture
def site(tmp_path):
    instance = make_instance(tmp_path / "instance")
    app = create_app(config.load(instance))
    yield instance, app
    app.extensions["sealdrop.engine"].dispose()


def sealview(*args) -> int:
    return cli.main([*args])


def test_report_export_import_reply_and_the_reporter_reads_it(site, tmp_path, monkeypatch, capsys):
    instance, app = site
    reporter = Reporter(app.test_client())
    first = reporter.submit(
        {
            "what": "Dealing behind the gym, <b>every</b> evening",
            "where_mode": "typed",
            "where_text": "Gym, Vitosha 12",
        },
        files=[(io.BytesIO(jpeg_with_exif()), "photo.jpg", "image/jpeg")],
    ).get_data(as_text=True)
    receipt, number = extract(first, "receipt"), extract(first, "case-number")
    other = extract(
        reporter.submit({"what": "Loud music at night"}, category="Noise").get_data(as_text=True),
        "case-number",
    )

    cfg, store = config.load(instance), FileBlobStore(config.load(instance).blob_dir)
    exported = tmp_path / "export.bundle"
    with db.standalone_session(cfg.database_url) as s, open(exported, "wb") as f:
        desk = s.scalar(select(Desk).where(Desk.slug == "demo"))
        bundles.export(s, store, desk, crypto.SigningKey.load(instance / config.SIGNING_KEY_FILE), f)

    vault = tmp_path / "vault"
    monkeypatch.setenv("SEALDROP_PASSPHRASE", "")  # the demo officer's identity: empty passphrase, DEMO ONLY
    assert (
        sealview(
            "--vault",
            str(vault),
            "init",
            "--identity",
            str(instance / "demo-officer.identity"),
            "--server-key",
            str(instance / "server-signing.pub"),
            "--desk",
            "demo",
        )
        == 0
    )
    assert "DEMO ONLY" in capsys.readouterr().out
    assert sealview("--vault", str(vault), "import", str(exported)) == 0
    assert "2 reports in 2 new cases, 1 attachment" in capsys.readouterr().out

    assert sealview("--vault", str(vault), "list", "--json") == 0
    listed = {r["number"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(listed) == {number, other}
    assert listed[number]["photos"] == 1 and listed[number]["category_name"] == "Drug dealing"
    assert sealview("--vault", str(vault), "show", number, "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    report = shown["reports"][0]
    assert report["what"] == "Dealing behind the gym, <b>every</b> evening"
    assert report["where"] == {"mode": "typed", "text": "Gym, Vitosha 12"}
    assert report["sealed_by"] == "server" and report["attachments"][0]["metadata"] == "removed"
    assert report["attachments"][0]["family"] == "image" and report["attachments"][0]["listed_sha256_ok"] == 1
    with Vault.open(vault, "") as v:  # the desk's places came in the signed manifest, as landmarks
        marks = [m["name"] for m in queries.hotspots(v, queries.Filters())["plot"].landmarks]
        names = dict(v.db.execute("SELECT name, names FROM places WHERE desk = 'demo'").fetchall())
    assert marks == ["School No. 5", "Central park", "Bus station"]
    assert json.loads(names["School No. 5"])["bg"] == "5-о училище"

    assert sealview("--vault", str(vault), "triage", number, "checking") == 0
    assert (
        sealview(
            "--vault",
            str(vault),
            "reply",
            number,
            "--text",
            "Thank you. We are <i>checking</i> it.",
            "--status",
            "checking",
        )
        == 0
    )
    replies = tmp_path / "replies.bundle"
    assert sealview("--vault", str(vault), "export-replies", "-o", str(replies)) == 0
    assert "1 reply, 1 confirmation" in capsys.readouterr().out

    with db.standalone_session(cfg.database_url) as s:
        desk, count = bundles.import_replies(s, store, replies)
    assert (desk.slug, count) == ("demo", 1)

    page = reporter.check(receipt).get_data(as_text=True)
    assert extract(page, "case-status") == "Being checked"
    assert "Thank you. We are &lt;i&gt;checking&lt;/i&gt; it." in page

    # A second round: the chain goes on, and a status-only change reaches the reporter too.
    assert (
        sealview(
            "--vault",
            str(vault),
            "reply",
            number,
            "--text",
            "Forwarded to the police.",
            "--status",
            "forwarded",
        )
        == 0
    )
    assert sealview("--vault", str(vault), "export-replies", "-o", str(tmp_path / "replies2.bundle")) == 0
    with db.standalone_session(cfg.database_url) as s:
        bundles.import_replies(s, store, tmp_path / "replies2.bundle")
    page = reporter.check(receipt).get_data(as_text=True)
    assert extract(page, "case-status") == "Forwarded to the police"
    # A third round: a status alone, no text, is a reply bundle too, and the reporter reads it.
    assert sealview("--vault", str(vault), "reply", number, "--status", "closed") == 0
    assert sealview("--vault", str(vault), "export-replies", "-o", str(tmp_path / "replies3.bundle")) == 0
    with db.standalone_session(cfg.database_url) as s:
        assert bundles.import_replies(s, store, tmp_path / "replies3.bundle")[1] == 1
    page = reporter.check(receipt).get_data(as_text=True)
    assert extract(page, "case-status") == "Closed"
    assert "Forwarded to the police." in page  # the earlier answers are still there
    # Replaying the first reply bundle is refused by the desk.
    with db.standalone_session(cfg.database_url) as s, pytest.raises(crypto.bundle.BundleError) as refused:
        bundles.import_replies(s, store, replies)
    assert refused.value.reason == "replayed"

    with Vault.open(vault, "") as v:
        history = queries.case(v, number)["history"]
    assert [h["action"] for h in history] == [
        "imported",
        "state",
        "reply",
        "reply sent",
        "reply",
        "reply sent",
        "reply",
        "reply sent",
    ]
