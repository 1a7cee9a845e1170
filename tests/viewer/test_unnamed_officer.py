"""An officer who set no name is recorded in a case's history as "officer <fingerprint>" (Vault.actor),
in English in the vault. Every place that shows it says it in the officer's language: the case page,
`sealview show`, the printable PDF; the vault itself keeps the English (statebundle.py reads it back).
"""

from __future__ import annotations

import pytest

from crypto import Identity
from tests.viewer.bundles import Submission, report_doc
from tests.viewer.conftest import PASSPHRASE
from tests.viewer.test_i18n import pdf_text, run, translation, ui
from viewer import forward, i18n, importer, pdf, queries, triage
from viewer.labels import actor_text
from viewer.vault import Vault

CASE = "NONA-0001"
# The word each language uses for an unnamed officer, spelled out so that a catalogue that lost the
# message (and fell back to English) fails here, not only a comparison with the catalogue itself.
WORD = {"en": "officer", "bg": "служител", "ru": "сотрудник", "kk": "қызметкер"}
TRANSLATED = ("bg", "ru", "kk")


@pytest.fixture
def unnamed(tmp_path, officer, server):
    """A vault whose officer gave no name, with one case that has a note, a state, a reply and a
    forwarding: each records the officer as its actor."""
    path = tmp_path / "vault"
    with Vault.create(path, PASSPHRASE, officer) as v:
        v.pin(server.key.verify_key, ["demo"])
    vault = Vault.open(path, PASSPHRASE, write=True)
    server.bundle(tmp_path / "b", [Submission(CASE, report_doc("A van without plates every night"))])
    importer.import_bundle(vault, tmp_path / "b")
    triage.add_note(vault, CASE, "asked the neighbours")
    triage.set_state(vault, CASE, "credible")
    triage.reply(vault, CASE, "Thank you, we are checking it.", "checking")
    forward.forward(vault, CASE, Identity.generate().public_key, "District police")
    yield vault
    vault.close()


def shown(lang: str, fp: str) -> str:
    return translation(lang, "officer %(fingerprint)s") % {"fingerprint": fp}


def test_the_vault_keeps_the_english_actor(unnamed):
    fp = unnamed.officer.fingerprint
    assert unnamed.actor == f"officer {fp}"
    actors = {
        r[0] for r in unnamed.db.execute("SELECT actor FROM state.history WHERE case_number = ?", (CASE,))
    }
    assert actors == {f"officer {fp}"}


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_actor_text_translates_only_an_unnamed_officer(lang):
    fp = "12345 67890 12345 67890 12345"
    with i18n.speaking(lang):
        assert actor_text(f"officer {fp}") == f"{WORD[lang]} {fp}" == shown(lang, fp)
        assert actor_text(f"Officer Petrova ({fp})") == f"Officer Petrova ({fp})"
        assert actor_text(f"officer ({fp})") == f"officer ({fp})"  # an officer named "officer"
        assert actor_text("officer of the day") == "officer of the day"  # not a fingerprint
        assert actor_text("") == ""


@pytest.mark.parametrize("lang", TRANSLATED)
def test_the_case_page_names_the_unnamed_officer_in_the_language(unnamed, lang):
    fp = unnamed.officer.fingerprint
    html = ui(unnamed, lang)(f"/case/{CASE}").get_data(as_text=True)
    # history (import, note, state, reply, forwarding), the note, the reply, the forwarding's "by"
    assert html.count(f"{WORD[lang]} {fp}") >= 8
    assert f"officer {fp}" not in html


def test_the_case_page_in_english_still_says_officer(unnamed):
    fp = unnamed.officer.fingerprint
    html = ui(unnamed, "en")(f"/case/{CASE}").get_data(as_text=True)
    assert html.count(f"officer {fp}") >= 8


@pytest.mark.parametrize("lang", TRANSLATED)
def test_sealview_show_names_the_unnamed_officer_in_the_language(unnamed, lang, capsys, passphrase_env):
    fp, path = unnamed.officer.fingerprint, unnamed.path
    unnamed.close()
    code, out, _ = run(capsys, "--vault", path, "--lang", lang, "show", CASE)
    assert code == 0
    lines = [ln for ln in out.splitlines() if f"{WORD[lang]} {fp}:" in ln]
    assert any("asked the neighbours" in ln for ln in lines)  # the note
    assert len(lines) >= 5  # the note and the history entries
    assert f"officer {fp}" not in out
    code, out, _ = run(capsys, "--vault", path, "--lang", lang, "show", CASE, "--json")
    assert code == 0 and f'"actor": "officer {fp}"' in out  # JSON is data: as the vault keeps it


@pytest.mark.parametrize("lang", TRANSLATED)
def test_the_printable_pdf_names_the_unnamed_officer_in_the_language(unnamed, lang):
    fp = unnamed.officer.fingerprint
    with i18n.speaking(lang):
        data = queries.case(unnamed, CASE)
        text = " ".join(pdf_text(pdf.case_pdf(unnamed, data)).split())
    # the "Officer" fact, the note, the history entries
    assert text.count(f"{WORD[lang]} {fp}") >= 5
    assert f"officer {fp}" not in text


def test_init_with_a_name_on_an_existing_vault_is_refused_not_ignored(unnamed, capsys, passphrase_env):
    """The name went into officer.pub and the history when the vault was made. `init --name` on the
    vault used to print its desks and exit 0 with the name silently dropped."""
    fp, path = unnamed.officer.fingerprint, unnamed.path
    unnamed.close()
    code, out, err = run(capsys, "--vault", path, "--lang", "ru", "init", "--name", "Petrova")
    assert code == 1 and f"сотрудник этого хранилища — сотрудник {fp}" in err
    with Vault.open(path, PASSPHRASE) as v:
        assert v.officer_name == "" and v.actor == f"officer {fp}"
    code, out, _ = run(capsys, "--vault", path, "init", "--desk", "demo")  # no --name: as before
    assert code == 0 and "demo" in out


def test_init_again_with_the_same_name_still_works(vault_dir, capsys, passphrase_env):
    code, out, _ = run(capsys, "--vault", vault_dir, "init", "--name", "Officer Petrova", "--desk", "demo")
    assert code == 0 and "demo" in out
    code, _, err = run(capsys, "--vault", vault_dir, "init", "--name", "Someone Else")
    assert code == 1 and "Officer Petrova (" in err
