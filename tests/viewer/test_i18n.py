"""sealview in bg, ru, kk and en: its own catalogue complete and well-formed, and the UI, the CLI, the
printable PDF and the police case file really in the officer's language.

The viewer's .po files are the source (viewer/translations); `make setup` compiles them, `make
translations` re-extracts, merges and fills them from viewer/translations/strings.json.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from markupsafe import escape

import crypto
from crypto import Identity
from tests.helpers import jpeg_with_exif
from tests.viewer.bundles import Submission, listed, report_doc
from viewer import cli, forward, i18n, importer, manifest, pdf, queries
from viewer.web import create_app

VIEWER = Path(__file__).resolve().parents[2] / "viewer"
TRANSLATIONS = VIEWER / "translations"
TRANSLATED = ("bg", "ru", "kk")
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")
TEXT = "Тест 12345"  # the report's own words: in no language's catalogue


def po(lang: str):
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=lang)


def source_messages() -> set[str]:
    with (VIEWER / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(VIEWER), method_map, options_map, keywords=keywords
    ):
        found.update(m for m in (message if isinstance(message, tuple) else (message,)) if m)
    return found


def entries(lang: str):
    return [m for m in po(lang) if m.id]


# ---------------------------------------------------------------- the catalogue


def test_the_catalogue_holds_every_message_of_the_source():
    with (TRANSLATIONS / "messages.pot").open("rb") as f:
        pot = {i for m in read_po(f) if m.id for i in (m.id if isinstance(m.id, tuple) else (m.id,))}
    found = source_messages()
    assert "Inbox" in found and "Passphrase for the new vault: " in found and "Not credible" in found
    assert found <= pot, f"run `make translations`; not in messages.pot: {sorted(found - pot)}"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_message_translated_none_fuzzy(lang):
    catalogue = po(lang)
    assert not catalogue.fuzzy and str(catalogue.locale) == lang
    singulars = {m.id[0] if isinstance(m.id, tuple) else m.id: m for m in entries(lang)}
    missing = sorted(
        m for m in source_messages() if m in singulars and not singulars[m].string
    ) + sorted(m for m in source_messages() if m not in singulars and not any(
        isinstance(e.id, tuple) and m in e.id for e in entries(lang)))  # fmt: skip
    assert missing == [], f"{lang}: untranslated {missing}"
    untranslated = [m.id for m in entries(lang) if not m.string or (m.pluralizable and not all(m.string))]
    assert untranslated == [] and [m.id for m in entries(lang) if m.fuzzy] == []


@pytest.mark.parametrize("lang", TRANSLATED)
def test_placeholders_match(lang):
    for m in entries(lang):
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        wanted = Counter(PLACEHOLDER.findall(ids[-1]))
        for s in strings:
            assert Counter(PLACEHOLDER.findall(s)) == wanted, f"{lang}: {m.id!r} -> {s!r}"
            names = dict.fromkeys(re.findall(r"%\(([^)]+)\)", s), 2)  # a number: %(x)s and %(x)d both take it
            if "%(" in s:
                s % names  # a stray % would break a page
            elif "%s" in s:
                s % "x"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_no_translation_is_the_english_left_as_it_was(lang):
    same = [
        m.id for m in entries(lang) if m.string == m.id and re.search(r"[a-z]{3}", PLACEHOLDER.sub("", m.id))
    ]
    assert same == [], f"{lang}: still English: {same}"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_report_is_one_word_in_ru_and_kk(lang):
    """ru: «сообщение», kk: «хабарлама», bg: «сигнал» for a report, in every message that names one."""
    word = {"ru": "сообщен", "kk": "хабарлама", "bg": "сигнал"}[lang]
    for m in entries(lang):
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        if re.search(r"\breports?\b", PLACEHOLDER.sub("", ids[0]), re.I):
            strings = m.string if isinstance(m.string, tuple) else (m.string,)
            assert all(word in s.lower() for s in strings), f"{lang}: {m.id!r} -> {m.string!r}"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_compiled_catalogue_is_current(lang):
    mo = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.mo"
    assert mo.is_file(), f"{mo} is missing: run `make setup`"
    with mo.open("rb") as f:
        loaded = {_key(m.id): _key(m.string) for m in read_mo(f) if m.id}
    source = {_key(m.id): _key(m.string) for m in entries(lang)}
    assert loaded == source, f"{mo} is older than its .po: run `make setup`"


def _key(value):
    return tuple(value) if isinstance(value, list | tuple) else value


# ---------------------------------------------------------------- the UI


def translation(lang: str, msgid: str) -> str:
    return msgid if lang == "en" else po(lang).get(msgid).string


def english_left_over(html: str) -> list[str]:
    """Source messages whose longest stretch of words between placeholders (three words or more) stands
    on the page as it is: untranslated text."""
    text = html.replace("&#39;", "'").replace("&#34;", '"')
    left = []
    for m in source_messages():
        words = max((part.strip() for part in PLACEHOLDER.split(m)), key=len)
        if len(words.split()) >= 3 and words in text:
            left.append(m)
    return sorted(left)


@pytest.fixture
def filled(vault, server, tmp_path):
    photo = jpeg_with_exif("SpyPhone 9000", size=(320, 240))
    server.bundle(
        tmp_path / "b",
        [
            Submission(
                "I18N-0001",
                report_doc(TEXT, attachments=[listed(photo, "p.jpg", "image/jpeg", "kept")]),
                [photo],
            ),
            Submission("I18N-0002", report_doc(TEXT)),
        ],
    )
    importer.import_bundle(vault, tmp_path / "b")
    return vault


def ui(vault, lang):
    app = create_app(vault, "s3cret", hosts={"127.0.0.1:8765"}, language=lang)
    c = app.test_client()
    assert c.get("/?token=s3cret", base_url="http://127.0.0.1:8765").status_code == 303
    return lambda url: c.get(url, base_url="http://127.0.0.1:8765")


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_page_in_the_language(filled, lang):
    get = ui(filled, lang)
    pages = {
        "/": ("Inbox", "Search the reports"),
        "/case/I18N-0001": ("What happened", "This file holds data that could identify the reporter."),
        "/hotspots": ("Hotspots", "Places with more than one report"),
        "/dashboard": ("By category", "Forwarded cases, and what became of them"),
        "/replies": ("Replies", "No replies waiting."),
        "/recipients": ("Police recipients", "Add a police recipient"),
        "/case/NOPE-0000": ("Back to the inbox", "Not found"),
    }
    for url, msgids in pages.items():
        r = get(url)
        html = r.get_data(as_text=True)
        assert r.status_code == (404 if "NOPE" in url else 200), url
        assert re.search(r'<html lang="([^"]+)">', html).group(1) == lang, url
        for msgid in msgids:
            assert str(escape(translation(lang, msgid))) in html, f"{lang} {url}: {msgid!r}"
        if lang != "en":
            assert english_left_over(html) == [], f"{lang} {url}: English left"
            assert "Not credible" not in html and "Checking" not in html
    if lang == "bg":  # the desk's landmarks, named in Bulgarian by its signed bundle
        assert "Централен парк" in get("/hotspots").get_data(as_text=True)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_a_refusal_and_the_page_title_in_the_language(filled, lang):
    app = create_app(filled, "s3cret", hosts={"127.0.0.1:8765"}, language=lang)
    c = app.test_client()
    c.get("/?token=s3cret", base_url="http://127.0.0.1:8765")
    html = c.get("/case/I18N-0001", base_url="http://127.0.0.1:8765").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    r = c.post("/case/I18N-0001/note", data={"csrf": token, "text": " "}, base_url="http://127.0.0.1:8765")
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and str(escape(translation(lang, "the note is empty"))) in page
    assert f"<title>{escape(translation(lang, 'Not done'))} · sealview</title>" in page
    inbox = c.get("/", base_url="http://127.0.0.1:8765").get_data(as_text=True)
    assert f"<title>{escape(translation(lang, 'Inbox'))} · sealview</title>" in inbox


def test_dates_in_the_language_and_local_time(filled):
    from viewer import triage

    triage.add_note(filled, "I18N-0001", TEXT)
    html = ui(filled, "ru")("/case/I18N-0001").get_data(as_text=True)
    at = filled.db.execute("SELECT at FROM state.notes").fetchone()[0]
    assert at not in html  # not the raw ISO time...
    with i18n.speaking("ru"):
        assert i18n.when(at) in html  # ...but the Russian way of writing it
        assert i18n.day("2025-05-02").replace("\u202f", " ") == "2 мая 2025 г."


def test_labels_follow_the_language():
    from viewer import geo, labels

    with i18n.speaking("kk"):
        assert labels.state_label("not credible") == "Сенімсіз"
        assert labels.human_size(1_500_000) == "1,5 МБ"
        assert geo.precision_text("100m") == translation("kk", "rounded by the reporter to about 100 m")
    with i18n.speaking("en"):
        assert labels.STATE_LABELS["not credible"] == "Not credible" and labels.human_size(999) == "999 bytes"


@pytest.mark.parametrize(
    ("action", "detail", "kk"),
    [
        (
            "imported",
            "report from export bundle demo #1",
            "импортталды: demo №1 экспорт пакетінен келген хабарлама",
        ),
        ("state", "not credible of AB-12", "күйі: AB-12 ісінің Сенімсіз"),
        ("note", "10 characters", "жазба: 10 таңба"),
        (
            "reply",
            "status shown: closed (status only, no text)",
            "жауап: көрсетілген мәртебе: Жабылды (тек мәртебе, мәтінсіз)",
        ),
        ("exported reply bundle", "demo #2: 3 reply(ies)", "жауаптар пакеті жазылды: demo #2: 3 жауап"),
        ("forwarded", "to Police (12345 67890)", "жіберілді: алушы: Police (12345 67890)"),
        ("added desk", "demo", "қызмет қосылды: demo"),
        ("something new", "as it was", "something new: as it was"),
    ],
)
def test_the_history_is_read_back_in_the_language(action, detail, kk):
    """The vault writes its history in English with data in it; it is shown in the officer's words."""
    from viewer import labels

    with i18n.speaking("kk"):
        assert labels.history_text(action, detail) == kk
    with i18n.speaking("en"):  # English keeps the words, with states and statuses as the UI names them
        shown = labels.history_text(action, detail).lower()
        assert shown == f"{action}: {detail}".lower().replace("reply(ies)", "replies")


# ---------------------------------------------------------------- categories


def test_category_names_travel_in_the_manifest_and_show_in_the_officers_language(
    vault, server, tmp_path, monkeypatch
):
    from tests.viewer import bundles

    names = {
        "slug": "drugs",
        "names": {"en": "Drug dealing", "ru": "Торговля наркотиками", "bg": "Наркотици"},
    }
    real = bundles.bundle.write
    monkeypatch.setattr(
        bundles.bundle,
        "write",
        lambda f, kind, fields, *a: real(f, kind, {**fields, "categories": [names]}, *a),
    )
    server.bundle(tmp_path / "b", [Submission("CAT0-0001", report_doc(TEXT))])
    importer.import_bundle(vault, tmp_path / "b")
    assert vault.category_names == {"drugs": names["names"]}
    assert "Торговля наркотиками" in ui(vault, "ru")("/").get_data(as_text=True)
    assert "Drug dealing" in ui(vault, "kk")("/").get_data(as_text=True)  # no Kazakh name: English
    with i18n.speaking("bg"):
        assert i18n.category(vault.category_names, "Drug dealing") == "Наркотици"
        assert i18n.category({}, "Whatever the report said") == "Whatever the report said"
    assert manifest.desk_categories([{"slug": "x", "names": {"en": "\u202eevil"}}, "junk", {"slug": ""}]) == {
        "x": {"en": "evil"}
    }


# ---------------------------------------------------------------- the CLI


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_speaks_the_language_asked_and_the_vaults_own(filled, capsys, passphrase_env, monkeypatch):
    path = filled.path
    filled.close()
    code, out, err = run(capsys, "--vault", path, "list", "--lang", "ru")
    assert code == 0 and "I18N-0001" in out and "Новое" in out and "2 дела" in err
    code, out, _ = run(capsys, "--lang", "kk", "--vault", path, "show", "I18N-0001")
    assert code == 0 and "I18N-0001 ісі" in out and "санат:" in out and TEXT in out
    code, out, _ = run(capsys, "--vault", path, "config")
    assert code == 0 and "language: not set (English)" in out
    code, out, _ = run(capsys, "--vault", path, "config", "--lang", "bg")
    assert code == 0 and "език: Български" in out
    assert json.loads((path / "vault.json").read_text())["language"] == "bg"  # for the passphrase prompt
    code, out, err = run(capsys, "--vault", path, "list")
    assert code == 0 and "Нов" in out and "2 случая" in err
    monkeypatch.setenv("SEALVIEW_LANG", "ru")
    code, out, err = run(capsys, "--vault", path, "list")
    assert code == 0 and "2 дела" in err
    code, out, err = run(capsys, "--vault", path, "show", "NOPE-0000", "--lang", "kk")
    assert code == 1 and err.startswith("қате: ")
    code, out, err = run(capsys, "--vault", path, "list", "--lang", "en")
    assert code == 0 and "2 cases" in err


@pytest.mark.parametrize("lang", TRANSLATED)
def test_cli_help_and_argparse_errors_in_the_language(capsys, lang):
    with pytest.raises(SystemExit):
        cli.main(["--lang", lang, "--help"])
    out = capsys.readouterr().out
    assert translation(lang, "usage: ") in out and translation(lang, "the cases, newest first") in out
    code, _, err = run(capsys, "--lang", lang, "triage")
    assert code == 1 and translation(lang, "error: %(message)s").split(":")[0] in err
    assert "the following arguments are required" not in err


def test_init_with_a_language(tmp_path, capsys, passphrase_env):
    code, out, _ = run(capsys, "--vault", tmp_path / "v", "init", "--lang", "ru")
    assert code == 0 and "отпечаток сотрудника:" in out
    code, out, _ = run(capsys, "--vault", tmp_path / "v", "config")
    assert "язык: Русский" in out


# ---------------------------------------------------------------- the documents


def pdf_text(data: bytes) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    return subprocess.run(
        ["pdftotext", "-", "-"], input=data, capture_output=True, check=True
    ).stdout.decode()


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_the_printable_pdf_in_the_language(filled, lang):
    with i18n.speaking(lang):
        data = queries.case(filled, "I18N-0001")
        text = " ".join(pdf_text(pdf.case_pdf(filled, data)).split())
    for msgid in (
        "Report %(n)d, received %(day)s",
        "Hidden data in this file could identify the reporter. %(claim)s",
    ):
        assert translation(lang, msgid).split("%")[0].strip() in text, f"{lang}: {msgid!r}"
    assert translation(lang, "Case %(case)s") % {"case": "I18N-0001"} in text
    assert TEXT in text
    if lang != "en":
        assert "Received" not in text and "Category" not in text


@pytest.mark.parametrize("lang", TRANSLATED)
def test_the_police_case_file_in_the_language(filled, lang, tmp_path):
    police = Identity.generate()
    with i18n.speaking(lang):
        sealed = forward.forward(filled, "I18N-0001", police.public_key, "District police")
    plain = crypto.unseal_bytes(sealed.read_bytes(), [police.decryption_key])
    with zipfile.ZipFile(io.BytesIO(plain)) as z:
        document = json.loads(z.read("case.json"))
        text = " ".join(pdf_text(z.read("case.pdf")).split())
    assert translation(lang, "Forwarded") in text and "District police" in text
    hidden = document["reports"][0]["attachments"][0]["hidden_data"]
    device = translation(lang, "The camera or phone is named in it: %(values)s").split("%")[0]
    assert any(w.startswith(device) for w in hidden["warnings"]), hidden


def test_open_starts_the_ui_in_the_vaults_language(filled, capsys, passphrase_env, monkeypatch):
    from viewer import server

    path = filled.path
    filled.close()
    started = {}
    monkeypatch.setattr(server, "serve", lambda vault, port, **kw: started.update(kw))
    assert run(capsys, "--vault", path, "config", "--lang", "kk")[0] == 0
    assert run(capsys, "--vault", path, "open", "--no-browser")[0] == 0
    assert started["language"] == "kk"
    assert run(capsys, "--vault", path, "open", "--no-browser", "--lang", "ru")[0] == 0
    assert started["language"] == "ru"
