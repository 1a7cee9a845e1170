"""Working through a queue: a case's place among the inbox's filtered cases (next, previous, n of N),
bulk triage (all or nothing, with the statuses it queues carried in the reply bundle like a single
case's), and the police recipients kept in the vault (add, list, fingerprints, forwarding to one by
name), from the functions, the CLI and the UI's forms; a vault made before recipients were kept
opens and keeps what it had."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest

import crypto
from crypto import Identity, Receipt, bundle
from tests.viewer.bundles import Submission, report_doc
from tests.viewer.conftest import PASSPHRASE
from viewer import cli, forward, importer, queries, recipients, schema, triage
from viewer.errors import NotFound, Refused
from viewer.vault import Vault
from viewer.web import create_app

NOISE = [f"NOIS-{i:04d}" for i in range(6)]  # newest first: NOIS-0000 came in last
OTHER = [f"OTHR-{i:04d}" for i in range(3)]


@pytest.fixture
def receipts():
    return {n: Receipt.generate() for n in NOISE}


@pytest.fixture
def queue(vault, server, tmp_path, receipts):
    """Six noise cases, received on six days, answerable; three other cases between them."""
    subs = []
    for i, n in enumerate(NOISE):
        key = receipts[n].reply_recipient.public_bytes.hex()
        doc = report_doc(f"Loud music, night {i}", category=("noise", "Noise"), reply_public=key)
        subs.append(Submission(n, doc, received_day=f"2025-06-{20 - 2 * i:02d}", reply_public=key))
    for i, n in enumerate(OTHER):
        subs.append(Submission(n, report_doc(f"Other {i}"), received_day=f"2025-06-{19 - 2 * i:02d}"))
    server.bundle(tmp_path / "b", subs)
    importer.import_bundle(vault, tmp_path / "b")
    return vault


def noise(**more) -> queries.Filters:
    return queries.Filters.parse({"category": "noise", **more})[0]


# -- next, previous, n of N ------------------------------------------------------------------------


def test_next_and_previous_inside_a_filter(queue):
    everything = queries.Filters()
    first = queries.position(queue, noise(), "NOIS-0000")
    assert (first.index, first.total, first.previous, first.next) == (1, 6, None, "NOIS-0001")
    middle = queries.position(queue, noise(), "nois-0003")
    assert (middle.index, middle.previous, middle.next) == (4, "NOIS-0002", "NOIS-0004")
    last = queries.position(queue, noise(), "NOIS-0005")
    assert (last.index, last.next) == (6, None)
    # Without a filter the other cases sit between the noise ones, newest first.
    assert queries.position(queue, everything, "NOIS-0000").next == "OTHR-0000"
    assert queries.position(queue, everything, "OTHR-0002").total == 9
    # A search is a filter too.
    found = queries.position(queue, queries.Filters(q="night"), "NOIS-0002")
    assert (found.index, found.total) == (3, 6)
    assert queries.position(queue, everything, "NOPE-0000") == queries.Position(None, 0, None, None)


def test_a_case_that_just_left_the_filter_still_knows_its_neighbours(queue):
    """Working through the new cases: once one is triaged it is no longer new, and Next must still
    lead on to the next new one."""
    triage.set_state(queue, "NOIS-0002", "checking")
    here = queries.position(queue, noise(status="new"), "NOIS-0002")
    assert (here.index, here.total, here.previous, here.next) == (None, 5, "NOIS-0001", "NOIS-0003")
    assert here.page == 1


def test_the_position_gives_the_inbox_page_of_the_case(queue):
    assert queries.Position(51, 120, "A", "B").page == 2 and queries.Position(50, 120, "A", "B").page == 1


def test_all_numbers_in_a_filter(queue):
    assert queries.numbers(queue, noise()) == NOISE
    assert queries.numbers(queue, noise(), limit=2) == NOISE[:2]


# -- bulk triage -------------------------------------------------------------------------------------


def test_bulk_states_all_or_nothing(queue):
    done = triage.set_states(queue, ["nois-0000", "NOIS-0001", "NOIS-0001"], "credible")
    assert (done.changed, done.unchanged, done.told) == (["NOIS-0000", "NOIS-0001"], [], 0)
    again = triage.set_states(queue, ["NOIS-0001", "NOIS-0002"], "credible")
    assert (again.changed, again.unchanged) == (["NOIS-0002"], ["NOIS-0001"])
    history = queries.case(queue, "NOIS-0001")["history"]
    assert [h["detail"] for h in history if h["action"] == "state"] == ["credible"]  # once, not twice
    before = {n: triage.state_of(queue, n) for n in NOISE}
    with pytest.raises(NotFound):
        triage.set_states(queue, ["NOIS-0003", "NOPE-0000"], "closed")
    with pytest.raises(Refused, match="unknown state"):
        triage.set_states(queue, ["NOIS-0003"], "solved")
    with pytest.raises(Refused, match="choose at least one case"):
        triage.set_states(queue, [" "], "closed")
    assert {n: triage.state_of(queue, n) for n in NOISE} == before  # nothing changed by a refusal


def test_bulk_duplicates_of_one_case(queue):
    done = triage.set_states(queue, NOISE, "duplicate", "nois-0005")  # the original among them
    assert done.changed == NOISE[:5]
    assert triage.state_of(queue, "NOIS-0000") == ("duplicate", "NOIS-0005")
    assert triage.state_of(queue, "NOIS-0005") == ("new", None)
    assert queries.case(queue, "NOIS-0005")["duplicates"] == NOISE[:5]
    with pytest.raises(Refused, match="say which case"):
        triage.set_states(queue, NOISE, "duplicate")
    with pytest.raises(Refused, match="choose at least one case"):
        triage.set_states(queue, ["NOIS-0005"], "duplicate", "NOIS-0005")


def test_bulk_statuses_go_into_the_reply_bundle_like_a_single_cases(queue, receipts):
    done = triage.set_states(queue, [*NOISE[:3], "OTHR-0000"], "closed", tell=True)
    assert done.told == 4 and done.not_told == [] and len(done.changed) == 4
    triage.set_state(queue, "NOIS-0003", "closed")
    triage.reply(queue, "NOIS-0003", "", "closed")  # the single case's way of telling the reporter
    path, m, count = triage.export_replies(queue)
    assert count == 5
    with open(path, "rb") as f:
        bundle.read_manifest(f, "replies", [queue.officer.public_key.verify_key])
        cases = [meta["case_number"] for meta, _ in bundle.items(f, m)]
    assert sorted(cases) == sorted([*NOISE[:4], "OTHR-0000"])
    with open(path, "rb") as f:
        bundle.read_manifest(f, "replies", [queue.officer.public_key.verify_key])
        bodies = {
            meta["case_number"]: json.loads(
                crypto.unseal_bytes(r.read(), [receipts[meta["case_number"]].reply_key])
            )
            for meta, r in bundle.items(f, m)
            if meta["case_number"] in receipts
        }
    assert {n: (b["text"], b["status"]) for n, b in bodies.items()} == {n: ("", "closed") for n in NOISE[:4]}
    assert triage.reporter_sees(queue, "NOIS-0000") == "closed"
    assert triage.reporter_sees(queue, "NOIS-0005") == "received"


def test_a_reporter_who_cannot_be_answered_is_named_not_told(queue):
    with queue.change() as db:
        db.execute(
            "UPDATE cases SET reply_warning = 'the server gave another key' WHERE number = 'NOIS-0001'"
        )
    done = triage.set_states(queue, NOISE[:2], "checking", tell=True)
    assert (done.changed, done.told, done.not_told) == (NOISE[:2], 1, ["NOIS-0001"])
    assert [r["case_number"] for r in triage.pending_replies(queue)] == ["NOIS-0000"]


# -- police recipients -------------------------------------------------------------------------------


def test_recipients_added_listed_found_and_named_once(vault):
    district, regional = Identity.generate().public_key, Identity.generate().public_key
    kept = recipients.add(vault, district, "  District   police ")
    assert (kept.name, kept.fingerprint, kept.key) == ("District police", district.fingerprint, district)
    assert re.fullmatch(r"\d{5}( \d{5}){4}", kept.fingerprint) and kept.added_at
    recipients.add(vault, regional, "Regional police")
    assert [r.name for r in recipients.listed(vault)] == ["District police", "Regional police"]
    assert recipients.find(vault, "district POLICE").key == district
    assert recipients.find(vault, regional.fingerprint.replace(" ", "")).name == "Regional police"
    with pytest.raises(Refused, match="already given to the key"):
        recipients.add(vault, Identity.generate().public_key, "DISTRICT police")
    renamed = recipients.add(vault, district, "District police, duty desk")  # the same key: renamed
    assert renamed.added_at == kept.added_at and len(recipients.listed(vault)) == 2
    with pytest.raises(Refused, match="give the recipient a name"):
        recipients.add(vault, district, "   ")
    with pytest.raises(NotFound, match="no police recipient"):
        recipients.find(vault, "Nobody")
    with pytest.raises(Refused, match="not a sealdrop public key"):
        recipients.parse_key("sealdrop-public-key-v1:AAAA")
    assert recipients.parse_key(district.to_file_text(comment="x")) == district
    history = [
        h["detail"] for h in vault.db.execute("SELECT detail FROM state.history WHERE case_number IS NULL")
    ]
    assert f"District police ({district.fingerprint})" in history


def test_forward_to_a_kept_recipient(queue):
    police = Identity.generate()
    kept = recipients.add(queue, police.public_key, "District police")
    sealed = forward.forward(queue, "NOIS-0000", kept.key, kept.name)
    with zipfile.ZipFile(io.BytesIO(crypto.unseal_bytes(sealed.read_bytes(), [police.decryption_key]))) as z:
        case = json.loads(z.read("case.json"))
    assert case["forwarded"]["to"] == "District police"
    assert case["forwarded"]["fingerprint"] == police.fingerprint
    # Forwarding to a key by its file remembers it, without renaming or "adding" a kept one.
    other = Identity.generate().public_key
    forward.forward(queue, "NOIS-0001", other, "from a file")
    forward.forward(queue, "NOIS-0002", police.public_key, "another name")
    listed = {r.name: r for r in recipients.listed(queue)}
    assert listed["District police"].added_at and listed["from a file"].added_at is None
    assert "another name" not in listed


def test_a_vault_from_before_kept_recipients_opens_and_keeps_its_police(vault_dir):
    """Version 1 vaults have state.police without added_at: they open, and gain it."""
    police = Identity.generate().public_key
    with Vault.open(vault_dir, PASSPHRASE, write=True) as v, v.change() as db:
        db.execute("ALTER TABLE state.police DROP COLUMN added_at")
        db.execute("UPDATE state.meta SET value = 1 WHERE key = 'schema'")
        db.execute(
            "INSERT INTO state.police (fingerprint, name, public_key) VALUES (?, ?, ?)",
            (police.fingerprint, "Old police", police.encode()),
        )
    with Vault.open(vault_dir, PASSPHRASE, write=True) as v:
        assert v.meta("schema") == schema.SCHEMA_VERSION == 3
        (old,) = recipients.listed(v)
        assert (old.name, old.added_at) == ("Old police", None)
        recipients.add(v, police, "Old police")  # now kept on purpose
    with Vault.open(vault_dir, PASSPHRASE) as v:
        assert recipients.find(v, "old police").added_at


# -- the CLI -------------------------------------------------------------------------------------------


def run(capsys, *args) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_recipients_triage_of_several_and_forward_by_name(queue, capsys, passphrase_env, tmp_path):
    queue.close()
    where = ["--vault", queue.path]
    police = Identity.generate()
    (tmp_path / "district.pub").write_text(police.public_key.to_file_text(comment="District"))
    code, out, _ = run(
        capsys, *where, "recipient", "add", tmp_path / "district.pub", "--name", "District police"
    )
    assert code == 0 and out == f"police recipient District police: fingerprint {police.fingerprint}\n"
    code, out, err = run(capsys, "recipient", "list", *where)  # --vault after the subcommand too
    assert code == 0 and out == f"{police.fingerprint}  District police\n" and "1 police recipient" in err
    code, out, _ = run(capsys, *where, "recipient", "list", "--json")
    assert json.loads(out)[0]["fingerprint"] == police.fingerprint
    (tmp_path / "bad.pub").write_text("not a key")
    code, _, err = run(capsys, *where, "recipient", "add", tmp_path / "bad.pub")
    assert code == 1 and err.startswith("error: this is not a sealdrop public key file")

    code, out, _ = run(capsys, *where, "triage", "nois-0000", "NOIS-0001", "not credible")
    assert code == 0 and out == "case NOIS-0000: Not credible\ncase NOIS-0001: Not credible\n"
    code, out, _ = run(capsys, *where, "triage", "NOIS-0001", "NOIS-0002", "not credible")
    assert out == "case NOIS-0002: Not credible\ncase NOIS-0001: already Not credible\n"
    code, _, err = run(capsys, *where, "triage", "NOIS-0003", "NOPE-0001", "closed")
    assert code == 1 and "no case 'NOPE-0001'" in err

    code, out, _ = run(
        capsys, *where, "forward", "NOIS-0000", "--to", "district police", "-o", tmp_path / "c.sealed"
    )
    assert code == 0 and police.fingerprint in out
    assert crypto.unseal_bytes((tmp_path / "c.sealed").read_bytes(), [police.decryption_key])[:2] == b"PK"
    code, _, err = run(capsys, *where, "forward", "NOIS-0000", "--to", "Nobody", "-o", tmp_path / "d.sealed")
    assert code == 1 and "no police recipient" in err and not (tmp_path / "d.sealed").exists()
    with Vault.open(queue.path, PASSPHRASE) as v:
        assert triage.state_of(v, "NOIS-0000") == ("forwarded", None)
        assert triage.state_of(v, "NOIS-0003") == ("new", None)  # the refused triage changed nothing


# -- the UI's forms ------------------------------------------------------------------------------------

HOST = "http://127.0.0.1:8765"


@pytest.fixture
def web(queue):
    c = create_app(queue, "s3cret", hosts={"127.0.0.1:8765"}).test_client()
    c.get("/?token=s3cret", base_url=HOST)
    page = c.get("/case/NOIS-0000", base_url=HOST).get_data(as_text=True)
    return c, re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def test_the_case_page_carries_the_filter_along(web):
    c, token = web
    html = c.get("/case/NOIS-0002?category=noise&status=new", base_url=HOST).get_data(as_text=True)
    assert 'id="position">3 of 6<' in html
    assert 'href="/case/NOIS-0003?category=noise&amp;status=new"' in html  # next
    assert 'href="/case/NOIS-0001?category=noise&amp;status=new"' in html  # previous
    assert 'action="/case/NOIS-0002/state?category=noise&amp;status=new"' in html
    r = c.post("/case/NOIS-0002/state?category=noise&status=new", data={"csrf": token, "state": "credible"},
               base_url=HOST)  # fmt: skip
    assert r.status_code == 303
    assert r.headers["Location"].startswith("/case/NOIS-0002?done=triage&category=noise&status=new")
    html = c.get(r.headers["Location"], base_url=HOST).get_data(as_text=True)
    assert "not in this list now (5 in it)" in html and "/case/NOIS-0003?category=noise" in html
    # The inbox's case links carry the filter, and a page with no filter links plainly.
    inbox = c.get("/?category=noise", base_url=HOST).get_data(as_text=True)
    assert 'href="/case/NOIS-0000?category=noise"' in inbox
    assert 'href="/case/NOIS-0000"' in c.get("/", base_url=HOST).get_data(as_text=True)


def test_a_state_then_the_next_case(web, queue):
    c, token = web
    form = {"csrf": token, "state": "checking", "then": "next"}
    r = c.post("/case/NOIS-0001/state?category=noise&status=new", data=form, base_url=HOST)
    assert r.headers["Location"] == (
        "/case/NOIS-0002?done=moved&moved=NOIS-0001&category=noise&status=new&then=next"
    )
    html = c.get(r.headers["Location"], base_url=HOST).get_data(as_text=True)
    assert "Case NOIS-0001 saved; here is the next one." in html and 'id="then-next" checked' in html
    assert 'href="/case/NOIS-0003?category=noise&amp;status=new&amp;then=next"' in html  # it stays on
    r = c.post("/case/NOIS-0005/state?category=noise", data=form, base_url=HOST)  # the last: stays
    assert r.headers["Location"] == "/case/NOIS-0005?done=triage&category=noise&then=next#triage"
    r = c.post("/case/NOIS-0002/state?then=next", data={"csrf": token, "state": "closed"}, base_url=HOST)
    assert r.headers["Location"] == "/case/NOIS-0002?done=triage#triage"  # unticked: stays, and off
    assert [triage.state_of(queue, n)[0] for n in ("NOIS-0001", "NOIS-0002", "NOIS-0005")] == [
        "checking",
        "closed",
        "checking",
    ]


def test_bulk_form_ticked_all_in_filter_and_refusals(web, queue):
    c, token = web
    ticked = {"csrf": token, "scope": "selected", "case": NOISE[:2], "state": "checking", "tell": "yes"}
    r = c.post("/bulk?category=noise", data=ticked, base_url=HOST)
    assert r.status_code == 303 and r.headers["Location"].startswith("/?category=noise&done=bulk")
    html = c.get(r.headers["Location"], base_url=HOST).get_data(as_text=True)
    assert "2 cases set to Checking." in html and "2 statuses queued for the reporters." in html
    r = c.post("/bulk?category=noise", data={"csrf": token, "scope": "all", "action": "close"}, base_url=HOST)
    html = c.get(r.headers["Location"], base_url=HOST).get_data(as_text=True)
    assert "6 cases set to Closed." in html
    assert [triage.state_of(queue, n)[0] for n in [*NOISE, *OTHER]] == ["closed"] * 6 + ["new"] * 3
    dup = {"csrf": token, "case": OTHER[:2], "duplicate_of": "othr-0002"}  # no state: duplicate
    c.post("/bulk", data=dup, base_url=HOST)
    assert triage.state_of(queue, "OTHR-0001") == ("duplicate", "OTHR-0002")
    for form, said in (
        (
            {"case": OTHER, "state": "closed", "duplicate_of": "OTHR-0002"},
            "goes only with the state Duplicate",
        ),
        ({"case": OTHER}, "choose the state to give them"),
        ({"state": "closed"}, "choose at least one case"),
    ):
        bad = c.post("/bulk", data={"csrf": token, **form}, base_url=HOST)
        assert bad.status_code == 400 and said in bad.get_data(as_text=True)
    assert c.post("/bulk", data={"case": OTHER, "state": "closed"}, base_url=HOST).status_code == 403  # CSRF


def test_recipients_page_upload_and_forward_form(web, queue):
    c, token = web
    assert "No police recipient is kept in this vault yet." in c.get(
        "/case/NOIS-0000", base_url=HOST
    ).get_data(as_text=True)
    police = Identity.generate()
    upload = {
        "csrf": token,
        "name": "District <b>police</b>",
        "case": "NOIS-0000",
        "key_file": (io.BytesIO(police.public_key.to_file_text().encode()), "district.pub"),
    }
    r = c.post("/recipients", data=upload, base_url=HOST, content_type="multipart/form-data")
    assert r.status_code == 303 and r.headers["Location"] == "/case/NOIS-0000?done=forwards#forwards"
    page = c.get("/recipients", base_url=HOST).get_data(as_text=True)
    assert police.fingerprint in page and "District &lt;b&gt;police&lt;/b&gt;" in page
    case = c.get("/case/NOIS-0000", base_url=HOST).get_data(as_text=True)
    assert (
        f'<option value="{police.fingerprint}">District &lt;b&gt;police&lt;/b&gt; ({police.fingerprint})'
        in case
    )
    r = c.post(
        "/case/NOIS-0000/forward", data={"csrf": token, "recipient": police.fingerprint}, base_url=HOST
    )
    assert r.status_code == 303 and triage.state_of(queue, "NOIS-0000") == ("forwarded", None)
    none = c.post("/case/NOIS-0000/forward", data={"csrf": token}, base_url=HOST)
    assert none.status_code == 400 and "choose a police recipient" in none.get_data(as_text=True)
    empty = c.post("/recipients", data={"csrf": token, "name": "X"}, base_url=HOST)
    assert empty.status_code == 400 and "choose the recipient&#39;s .pub file" in empty.get_data(as_text=True)
