"""The desk in Kazakh and Russian in real Chromium, JavaScript off and on, against `sealdrop serve`: the
login page follows the browser's language, a clerk's own setting then beats it, and every page an
admin reaches from the menu says so in <html lang> and in its words, with nothing refused by the CSP."""

import pytest

from tests.browser.desk_pages import Desk, LoginPage
from tests.desk_helpers import PASSWORD, add_user, code
from tests.helpers import demo_server
from tests.test_i18n import translation

pytestmark = pytest.mark.browser
JS = pytest.mark.parametrize("javascript", [False, True], ids=["js-off", "js-on"])

# Each menu entry (its English msgid), and a sentence its page shows (an h1's msgid).
MENU = [
    ("Inbox", "What waits"),
    ("Reply bundles", "Upload a reply bundle"),
    ("Desks", "Desks"),
    ("Categories", "Categories"),
    ("Officers", "Officer keys"),
    ("Users", "Desk users"),
    ("Posters", "Posters"),
    ("Retention", "Retention"),
    ("Audit log", "Audit log"),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with demo_server(tmp_path_factory.mktemp("desk-i18n")) as (_public, instance, process):
        yield process.desk_url, instance


class LocalDesk(Desk):
    """The desk's pages read in another language: found by their translated words."""

    def __init__(self, page, base: str, lang: str):
        super().__init__(page, base)
        self.lang = lang

    def words(self, msgid: str) -> str:
        return translation(self.lang, msgid)

    def html_lang(self) -> str:
        return self.page.get_attribute("html", "lang")

    def menu(self, msgid: str) -> None:
        nav = self.page.get_by_role("navigation", name=self.words("Desk pages"))
        nav.get_by_role("link", name=self.words(msgid), exact=True).click()
        self.page.wait_for_load_state("domcontentloaded")

    def choose_language(self, code: str) -> None:
        self.page.click("#language-link")  # the header's link to the setting
        self.page.wait_for_load_state("domcontentloaded")
        self.page.check(f"#language-form input[name=language][value='{code}']")
        self.page.click("#save-language")
        self.page.wait_for_load_state("domcontentloaded")


def sign_in(context, base: str, instance, lang: str) -> LocalDesk:
    name, secret = add_user(instance, "admin")
    page = context.new_page()
    login = LoginPage(page, base).open()
    assert page.get_attribute("html", "lang") == lang
    assert login.heading() == translation(lang, "Log in to the desk")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.fill("#code", code(secret))
    page.get_by_role("button", name=translation(lang, "Log in")).click()
    page.wait_for_load_state("domcontentloaded")
    desk = LocalDesk(page, base, lang)
    assert desk.path == "/desk/" and desk.signed_in_as().startswith(name)
    return desk


@JS
def test_the_desk_in_the_browsers_language_then_in_the_users_own(context_for, served, javascript):
    base, instance = served
    desk = sign_in(context_for(javascript, "ru-RU"), base, instance, "ru")
    assert desk.html_lang() == "ru" and desk.heading() == desk.words("What waits")
    assert desk.signed_in_as().endswith(f"({desk.words('admin')})")

    desk.choose_language("kk")
    desk.lang = "kk"
    assert desk.html_lang() == "kk"
    assert desk.notice() == desk.words("Language saved. The desk pages now use it.")
    for entry, heading in MENU:
        desk.menu(entry)
        assert desk.html_lang() == "kk", entry
        assert desk.heading() == desk.words(heading), entry
    desk.goto("/desk/admin/desks/demo")
    assert desk.html_lang() == "kk" and "Демо әкімдік" in desk.heading()
    assert desk.problems() == []

    desk.choose_language("")  # back to what the browser asks for
    assert desk.html_lang() == "ru"


@JS
def test_the_login_page_language_links(context_for, served, javascript):
    base, _instance = served
    page = context_for(javascript, "en-US").new_page()
    login = LoginPage(page, base).open()
    assert page.get_attribute("html", "lang") == "en"
    page.get_by_role("navigation", name="Language").get_by_role("link", name="Қазақша").click()
    page.wait_for_load_state("domcontentloaded")
    assert page.get_attribute("html", "lang") == "kk"
    assert login.heading() == translation("kk", "Log in to the desk")
    page.fill("#name", "nobody")
    page.fill("#password", "not the password")
    page.fill("#code", "000000")
    page.get_by_role("button", name=translation("kk", "Log in")).click()
    page.wait_for_load_state("domcontentloaded")
    assert page.get_attribute("html", "lang") == "kk"  # a refused login keeps the chosen language
    assert login.error() == translation(
        "kk",
        "The name, password or code is wrong, or the code was already used. "
        "Wait for the next code and try again.",
    )
    assert login.problems() == []
