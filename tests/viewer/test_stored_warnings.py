"""What import writes into the vault about a report, in English, is shown in the officer's language.

Fixed sentences were always looked up in the catalogue; the ones with data in them (the desk a report
names, how many attachments it lists, which attachment's hash differs, why an envelope is damaged) were
shown in English on every surface. labels.stored_text reads them back by their shape.
"""

from __future__ import annotations

import json

import pytest

import crypto
from crypto import Identity
from tests.viewer.bundles import Submission, listed, report_doc
from tests.viewer.test_i18n import pdf_text, run, ui
from viewer import i18n, importer, pdf, queries
from viewer.labels import stored_text

CASE = "WARN-0001"
PHOTO = b"\xff\xd8 not the photo the report lists"
DESK = "The report names desk 'elsewhere', but arrived in the bundle of 'demo'."
COUNT = "The report lists 2 attachment(s); 1 arrived."
HASH = "Attachment 1 is not the file the report lists (its SHA-256 differs)."

# Each stored English sentence and a piece of its translation that only a translation has.
SHAPES = {
    DESK: {
        "ru": "называет службу 'elsewhere'",
        "bg": "посочва служба 'elsewhere'",
        "kk": "'elsewhere' қызметі",
    },
    "This addition names case ABCD-0002, but the server filed it here.": {
        "ru": "дело ABCD-0002",
        "bg": "случай ABCD-0002",
        "kk": "ABCD-0002 ісі",
    },
    COUNT: {"ru": "указано 2 вложения; пришло 1", "bg": "посочва 2 прикачени файла", "kk": "2 тіркеме"},
    "The report lists 5 attachment(s); 0 arrived.": {"ru": "указано 5 вложений; пришло 0"},
    HASH: {"ru": "Вложение 1 — не тот файл", "bg": "Прикаченият файл 1", "kk": "1-тіркеме"},
    "The report's envelope is damaged (HMAC failure): whoever sealed it made it unreadable.": {
        "ru": "Конверт сообщения повреждён (HMAC failure)",
        "bg": "Пликът на сигнала е повреден (HMAC failure)",
        "kk": "конверті бүлінген (HMAC failure)",
    },
    "The envelope is damaged (header failure).": {
        "ru": "Конверт повреждён (header failure).",
        "bg": "Пликът е повреден (header failure).",
        "kk": "Конверт бүлінген (header failure).",
    },
    "Sealed to other officers, not to you.": {"ru": "для других сотрудников", "kk": "басқа қызметкерлерге"},
}


@pytest.mark.parametrize("english", SHAPES)
def test_stored_sentences_with_data_in_them_are_translated(english):
    for lang, piece in SHAPES[english].items():
        with i18n.speaking(lang):
            assert piece in stored_text(english), (lang, stored_text(english))
    with i18n.speaking("en"):
        # English reads as it was written, with a real plural
        assert stored_text(english) == english.replace("attachment(s)", "attachments")


def test_other_text_is_left_as_it_is():
    with i18n.speaking("ru"):
        assert stored_text("") == stored_text(None) == ""
        assert stored_text("The report names desk") == "The report names desk"  # not the whole shape
        assert stored_text("A new report arrived as an addition to an existing case.").startswith("Новое")


@pytest.fixture
def warned(vault, server, tmp_path):
    """A report that names another desk, lists two attachments and brings one, which is not the file
    it lists: three warnings with data in them."""
    doc = report_doc(
        "A van without plates",
        desk="elsewhere",
        attachments=[listed(b"the real photo", "a.jpg", "image/jpeg"), listed(b"x", "b.jpg", "image/jpeg")],
    )
    server.bundle(tmp_path / "b", [Submission(CASE, doc, [PHOTO])])
    importer.import_bundle(vault, tmp_path / "b")
    warnings = queries.case(vault, CASE)["reports"][0]["warnings"]
    assert {DESK, COUNT, HASH} <= set(warnings)  # the vault keeps them in English
    return vault


@pytest.mark.parametrize("lang", ("bg", "ru", "kk"))
def test_the_case_page_shows_the_warnings_in_the_language(warned, lang):
    html = ui(warned, lang)(f"/case/{CASE}").get_data(as_text=True).replace("&#39;", "'")
    for english in (DESK, COUNT, HASH):
        assert SHAPES[english][lang] in html
        assert english not in html


def test_sealview_show_prints_the_warnings_in_the_language(warned, capsys, passphrase_env):
    path = warned.path
    warned.close()
    code, out, _ = run(capsys, "--vault", path, "--lang", "ru", "show", CASE)
    assert code == 0
    for english in (DESK, COUNT, HASH):
        assert SHAPES[english]["ru"] in out and english not in out


def test_the_printable_pdf_has_the_warnings_in_the_language(warned):
    with i18n.speaking("kk"):
        text = " ".join(pdf_text(pdf.case_pdf(warned, queries.case(warned, CASE))).split())
    for english in (DESK, COUNT, HASH):
        assert SHAPES[english]["kk"] in text and english not in text


@pytest.mark.parametrize("lang", ("bg", "ru", "kk"))
def test_an_unknown_status_filter_is_named_in_the_language(vault, lang):
    """queries.Filters.parse drops a status that is none and says so in English, with the value in it."""
    word = {"bg": "непознато състояние", "ru": "неизвестное состояние", "kk": "белгісіз күй"}[lang]
    html = ui(vault, lang)("/?status=nonsense").get_data(as_text=True).replace("&#39;", "'")
    assert f"{word} 'nonsense'" in html and "unknown status" not in html


def test_sealview_list_names_an_unknown_status_in_the_language(vault, capsys, passphrase_env):
    path = vault.path
    vault.close()
    code, _, err = run(capsys, "--vault", path, "--lang", "ru", "list", "--status", "nonsense")
    assert code == 1 and "неизвестное состояние 'nonsense'" in err and "unknown status" not in err


def test_the_printable_pdf_says_why_an_attachment_is_not_in_it(vault, server, tmp_path):
    """An attachment that did not open was listed in the PDF with no reason (the page and `show` give
    one): the police read of a photo they do not get, and not why."""
    photo = b"\xff\xd8 a photo sealed to someone else"
    doc = report_doc("A van", attachments=[listed(photo, "p.jpg", "image/jpeg")])
    envelopes = [
        crypto.seal_bytes(json.dumps(doc).encode(), [server.officer]),
        crypto.seal_bytes(photo, [Identity.generate().public_key.recipient]),
    ]
    server.bundle(tmp_path / "b", [Submission("WARN-0002", doc, [photo], envelopes=envelopes)])
    importer.import_bundle(vault, tmp_path / "b")
    with i18n.speaking("ru"):
        text = " ".join(pdf_text(pdf.case_pdf(vault, queries.case(vault, "WARN-0002"))).split())
    assert "Запечатано для других сотрудников, не для вас." in text
