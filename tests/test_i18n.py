"""Translations: every catalogue complete and well-formed, and the reporter's pages really in bg, ru, kk, en.

The .po files are the source; `make setup` compiles them to .mo (not committed), `make translations`
re-extracts and merges new messages for the translators.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from markupsafe import escape
from sqlalchemy import update

from dropbox import cli, config, create_app, db, i18n
from dropbox.models import Desk

DROPBOX = Path(__file__).resolve().parent.parent / "dropbox"
TRANSLATIONS = DROPBOX / "translations"
TRANSLATED = [lang for lang in config.LANGUAGES if lang != "en"]
# %(name)s, %(n)d, %s, %% ... as Python's %-formatting reads them (Jinja's newstyle gettext always applies %).
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")


class _Sample(dict):
    """Any placeholder's value, for formatting a translation: a number, which %(x)s and %(x)d both take
    (which placeholders a translation may use is checked against its source, not here)."""

    def __missing__(self, key: str) -> int:
        return 2


SAMPLE = _Sample()
DEMO_DESK = {"en": "Demo municipality", "bg": "Демо община", "ru": "Демо-муниципалитет", "kk": "Демо әкімдік"}


def po_path(lang: str) -> Path:
    return TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"


def load_po(lang: str):
    with po_path(lang).open("rb") as f:
        return read_po(f, locale=lang)


def source_messages() -> set[str]:
    """What the templates and modules ask for today, extracted as `make translations` does."""
    with (DROPBOX / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    keywords = {"_": None, "gettext": None, "lazy_gettext": None, "_l": None, "ngettext": (1, 2)}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(DROPBOX), method_map, options_map, keywords=keywords
    ):
        if isinstance(message, tuple):  # ngettext: singular and plural
            found.update(m for m in message if m)
        elif message:
            found.add(message)
    return found


def entries(lang: str):
    return [m for m in load_po(lang) if m.id]


# ---------------------------------------------------------------- the catalogues


def test_every_language_but_english_has_a_catalogue():
    assert set(TRANSLATED) == {"bg", "ru", "kk"}
    for lang in TRANSLATED:
        assert po_path(lang).is_file(), f"missing {po_path(lang)}"
    assert (TRANSLATIONS / "messages.pot").is_file()


def test_source_strings_are_extracted():
    found = source_messages()
    assert "Report what you saw" in found and "Add up to %(n)d files" in found
    with (TRANSLATIONS / "messages.pot").open("rb") as f:
        pot = {i for m in read_po(f) if m.id for i in (m.id if isinstance(m.id, tuple) else (m.id,))}
    assert found <= pot, f"run `make translations`; not in messages.pot: {sorted(found - pot)}"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_catalogue_translates_every_source_string(lang):
    translated = set()
    for m in entries(lang):  # a plural message counts for its singular and its plural id
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        if all(strings):
            translated.update(m.id if isinstance(m.id, tuple) else (m.id,))
    missing = sorted(source_messages() - translated)
    assert not missing, f"{lang}: run `make translations` and translate: {missing}"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_no_untranslated_or_fuzzy_entries(lang):
    catalogue = load_po(lang)
    assert not catalogue.fuzzy, f"{lang}: the header is marked fuzzy"
    untranslated = [m.id for m in entries(lang) if not m.string or (m.pluralizable and not all(m.string))]
    fuzzy = [m.id for m in entries(lang) if m.fuzzy]
    assert untranslated == [], f"{lang}: untranslated {untranslated}"
    assert fuzzy == [], f"{lang}: fuzzy (check the translation, then remove the flag) {fuzzy}"
    assert catalogue.locale is not None and str(catalogue.locale) == lang


@pytest.mark.parametrize("lang", TRANSLATED)
def test_placeholders_match_the_source(lang):
    for m in entries(lang):
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        wanted = Counter(PLACEHOLDER.findall(ids[-1]))
        for s in strings:
            assert Counter(PLACEHOLDER.findall(s)) == wanted, f"{lang}: {m.id!r} -> {s!r}"
            s % SAMPLE  # a stray % would break the page: Jinja formats every translation with %


# One word per language for a report (and the case it opens) and for the receipt, on every page and in
# every message: bg «сигнал», «код за достъп»; ru «сообщение», «код доступа»; kk «хабарлама», «құпия код».
# These are the synonyms a translator reaches for, which would make a reporter wonder whether an
# «обращение» is something other than the «сообщение» they sent.
OTHER_WORDS = {
    "bg": ("жалб", "разписк"),  # «съобщение» is a message (a voice message), not a report
    "ru": ("обращени", "заявлени", "жалоб", "квитанц"),
    "kk": ("өтініш", "арыз", "шағым", "түбіртек"),
}


@pytest.mark.parametrize("lang", TRANSLATED)
def test_one_word_for_a_report_and_for_the_receipt(lang):
    found = []
    for m in entries(lang):
        for s in m.string if isinstance(m.string, tuple) else (m.string,):
            found += [(m.id, word) for word in OTHER_WORDS[lang] if word in s.lower()]
    assert found == [], f"{lang}: say it with the catalogue's own words: {found}"


@pytest.mark.parametrize("lang", ["ru", "kk"])
def test_a_desk_name_needs_no_case_ending(lang):
    """A desk's name is a placeholder: Russian and Kazakh would need it in the genitive ("the officers
    of %(desk)s"), which no placeholder can take; the sentence puts it where the nominative is right."""
    lead = "Anonymous. Five short steps. Only the officers of %(desk)s can read it."
    msgstr = load_po(lang).get(lead).string
    assert msgstr.rstrip(".").endswith(": %(desk)s")


@pytest.mark.parametrize("lang", TRANSLATED)
def test_catalogue_has_no_obvious_copy_paste(lang):
    """A translation identical to the English is almost always a forgotten one (codes and units aside)."""
    same = [m.id for m in entries(lang) if m.string == m.id and re.search(r"[a-z]{3}", m.id)]
    assert same == [], f"{lang}: still English: {same}"


def _hashable(value):
    """A plural message's id and strings come as lists from a .mo file, as tuples from a .po file."""
    return tuple(value) if isinstance(value, list | tuple) else value


@pytest.mark.parametrize("lang", TRANSLATED)
def test_compiled_catalogue_is_current(lang):
    mo = po_path(lang).with_suffix(".mo")
    assert mo.is_file(), f"{mo} is missing: run `make setup` (it compiles the .po files)"
    with mo.open("rb") as f:
        compiled = read_mo(f)
    source = {_hashable(m.id): _hashable(m.string) for m in entries(lang)}
    loaded = {_hashable(m.id): _hashable(m.string) for m in compiled if m.id}
    assert loaded == source, f"{mo} is older than its .po: run `make setup`"


# ---------------------------------------------------------------- the pages


@pytest.fixture
def app(tmp_path):
    assert cli.main(["init", "--demo", "--dir", str(tmp_path / "instance")]) == 0
    app = create_app(config.load(tmp_path / "instance"))
    yield app
    app.extensions["sealdrop.engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def translation(lang: str, msgid: str) -> str:
    if lang == "en":
        return msgid
    return load_po(lang).get(msgid).string


def html_lang(html: str) -> str:
    return re.search(r"<html lang=\"([^\"]*)\">", html).group(1)


def _telltale(message: str) -> str:
    """The longest piece of a message between its placeholders: what an untranslated page would show."""
    return max(PLACEHOLDER.split(message), key=len).strip()


def english_left_over(html: str) -> list[str]:
    """Source messages of three words or more that appear on the page as they are: untranslated text.
    A message is looked for by its longest piece between placeholders ("%(n)s days" has none worth it)."""
    text = html.replace("&#39;", "'").replace("&#34;", '"')
    found = []
    for m in source_messages():
        piece = _telltale(m)
        if len(m.split()) >= 3 and len(piece.split()) >= 2 and piece in text:
            found.append(m)
    return sorted(found)


def assert_in_language(html: str, lang: str, *msgids: str) -> None:
    assert html_lang(html) == lang
    for msgid in msgids:
        assert str(escape(translation(lang, msgid))) in html, f"{lang}: {msgid!r} not translated on the page"
    if lang != "en":
        assert english_left_over(html) == [], f"{lang}: English on the page"


def check_language_picker(html: str, current: str) -> None:
    for code in config.LANGUAGES:
        link = re.search(rf'<a href="\?lang={code}" hreflang="{code}" lang="{code}"([^>]*)>([^<]*)</a>', html)
        assert link, f"no language link for {code}"
        assert link.group(2) == i18n.NAMES[code]
        assert ('aria-current="true"' in link.group(1)) == (code == current)


@pytest.mark.parametrize("lang", config.LANGUAGES)
def test_report_form_in_each_language(client, lang):
    page = client.get(f"/r/demo?lang={lang}", headers={"Accept-Language": "de"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert_in_language(
        html,
        lang,
        "Report what you saw",
        "What happened?",
        "Describe what you saw or heard",
        "Send report",
        "No account, no tracking. We do not record your IP address or device.",
    )
    n = client.application.config["SEALDROP"].max_attachments
    assert str(escape(translation(lang, "Add up to %(n)d files") % {"n": n})) in html
    lead = translation(lang, "Anonymous. Five short steps. Only the officers of %(desk)s can read it.")
    assert str(escape(lead % {"desk": DEMO_DESK[lang]})) in html
    if lang != "en":
        assert "Report what you saw" not in html
    check_language_picker(html, lang)


@pytest.mark.parametrize("lang", config.LANGUAGES)
def test_other_pages_in_each_language(client, lang):
    check = client.get(f"/r/demo/check?lang={lang}").get_data(as_text=True)
    assert_in_language(check, lang, "Sign in with your receipt code", "Receipt code")
    check_language_picker(check, lang)
    done = client.get(f"/r/demo/done?lang={lang}").get_data(as_text=True)
    assert_in_language(done, lang, "Thank you", "Send another report")
    missing = client.get(f"/r/no-such-desk?lang={lang}")
    assert missing.status_code == 404
    assert_in_language(missing.get_data(as_text=True), lang, "There is no reporting desk at this address.")


@pytest.mark.parametrize("lang", TRANSLATED)
def test_receipt_and_case_pages_in_each_language(client, lang):
    """The no-JS path: the receipt (the one page that must be understood) and the case page."""
    form = client.get(f"/r/demo?lang={lang}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    category = re.search(r'name="category" value="(\d+)"', form).group(1)
    data = {"csrf_token": token, "category": category, "what": "Тест", "where_mode": "none", "lang": lang}
    page = client.post(f"/r/demo?lang={lang}", data=data, content_type="multipart/form-data")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert_in_language(html, lang, "Your report was received", "Keep this code now", "Finish")
    receipt = re.search(r'<code id="receipt">([^<]+)</code>', html).group(1)

    check = client.get(f"/r/demo/check?lang={lang}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', check).group(1)
    data = {"csrf_token": token, "receipt": receipt, "lang": lang}
    case = client.post(f"/r/demo/check?lang={lang}", data=data)
    assert case.status_code == 200
    assert_in_language(case.get_data(as_text=True), lang, "Your case", "Case number:", "Add information")


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("bg-BG,bg;q=0.9,en;q=0.8", "bg"),
        ("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "ru"),
        ("kk-KZ,kk;q=0.9,ru;q=0.8", "kk"),
        ("ru-KZ,ru;q=0.9,kk;q=0.8", "ru"),
        ("en-US,en;q=0.9", "en"),
        ("de-DE,de;q=0.9,kk;q=0.5", "kk"),
    ],
)
def test_accept_language_picks_the_language(client, header, lang):
    html = client.get("/r/demo", headers={"Accept-Language": header}).get_data(as_text=True)
    assert_in_language(html, lang, "Report what you saw")
    check_language_picker(html, lang)


def test_lang_parameter_beats_accept_language(client):
    html = client.get("/r/demo?lang=kk", headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert html_lang(html) == "kk"


def test_unknown_lang_parameter_falls_back(client):
    html = client.get("/r/demo?lang=xx", headers={"Accept-Language": "bg"}).get_data(as_text=True)
    assert html_lang(html) == "bg"


def test_desk_language_when_the_browser_names_none_we_have(app, client):
    with app.app_context():
        session = db.session()
        session.execute(update(Desk).where(Desk.slug == "demo").values(default_language="ru"))
        session.commit()
    html = client.get("/r/demo", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert_in_language(html, "ru", "Report what you saw")
