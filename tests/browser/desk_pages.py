"""Page objects for the desk in Chromium: what a clerk or an admin does, in their words, so the tests
read as the steps they take and survive changes of markup."""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
from playwright.sync_api import Page


class DeskPage:
    """Shared by every desk page: the header, the nav, downloads, and console errors (a CSP violation
    shows up there)."""

    def __init__(self, page: Page, base: str):
        self.page, self.base = page, base
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def problems(self) -> list[str]:
        """Script errors and refusals by the CSP; not the HTTP statuses Chromium also logs (a 401 for a
        refused login, a 404 for /favicon.ico), which are the server's answers, not faults of the page."""
        return [e for e in self.errors if "Failed to load resource" not in e]

    def goto(self, path: str) -> DeskPage:
        self.page.goto(self.base + path)
        return self

    @property
    def path(self) -> str:
        return re.sub(r"^https?://[^/]+", "", self.page.url).split("?")[0]

    def heading(self) -> str:
        return self.page.inner_text("h1")

    def notice(self) -> str:
        return self.page.inner_text("#notice")

    def download(self, click) -> bytes:
        with self.page.expect_download() as info:
            click()
        return Path(info.value.path()).read_bytes()

    def nav(self, label: str) -> None:
        self.page.get_by_role("navigation", name="Desk pages").get_by_role(
            "link", name=label, exact=True
        ).click()
        # The click returns once the new page is committed, not parsed: on a loaded machine its h1 was
        # sometimes not there yet when the test looked (CI, 2026-12-06).
        self.page.wait_for_load_state("domcontentloaded")


class LoginPage(DeskPage):
    def open(self) -> LoginPage:
        self.goto("/desk/login")
        return self

    def log_in(self, name: str, password: str, code: str) -> None:
        self.page.fill("#name", name)
        self.page.fill("#password", password)
        self.page.fill("#code", code)
        self.page.click("form:has(#code) button[type=submit]")  # by place, not words: any language
        self.page.wait_for_load_state("domcontentloaded")  # as nav(): is_shown() does not wait

    def error(self) -> str:
        return self.page.inner_text("#login-error")

    def is_shown(self) -> bool:
        return self.path == "/desk/login" and self.page.is_visible("#login-form")


class Desk(DeskPage):
    """A logged-in desk user's pages."""

    def signed_in_as(self) -> str:
        return self.page.inner_text("#signed-in-as")

    def log_out(self) -> None:
        self.page.get_by_role("button", name="Log out").click()
        self.page.wait_for_load_state("domcontentloaded")  # as nav(): is_shown() does not wait

    # --- inbox and bundles

    def inbox(self) -> Desk:
        self.goto("/desk/")
        return self

    def inbox_text(self, desk: str = "demo") -> str:
        return self.inbox().page.inner_text(f"#inbox-{desk}")

    def make_export(self, desk: str = "demo") -> None:
        """Make the next export bundle: the inbox comes back saying what went into it."""
        self.inbox()
        self.page.click(f"#export-{desk}")
        self.page.wait_for_load_state("domcontentloaded")

    def ready_text(self, desk: str = "demo") -> str:
        return self.page.inner_text(f"#ready-{desk}")

    def download_ready(self, desk: str = "demo") -> bytes:
        return self.download(lambda: self.page.click(f"#download-{desk}"))

    def export(self, desk: str = "demo") -> bytes:
        self.make_export(desk)
        return self.download_ready(desk)

    def export_again(self, desk: str, sequence: int) -> bytes:
        self.inbox()
        button = self.page.get_by_role("button", name=f"Download bundle {sequence} again")
        return self.download(button.click)

    def upload_replies(self, path: Path) -> None:
        self.goto("/desk/replies")
        self.page.set_input_files("#bundle", str(path))
        self.page.click("form:has(#bundle) button[type=submit]")

    def import_result(self) -> str:
        return self.page.inner_text("#import-result")

    def bundle_error(self) -> tuple[str, str]:
        box = self.page.locator("#bundle-error")
        return box.get_attribute("data-reason"), box.inner_text()

    # --- admin

    def add_desk(self, slug: str, names: dict[str, str], language: str = "en", retention: int = 30) -> None:
        self.goto("/desk/admin/desks")
        self.page.fill("#slug", slug)
        for lang, name in names.items():
            self.page.fill(f"#name_{lang}", name)
        self.page.select_option("#default_language", language)
        self.page.fill("#retention_days", str(retention))
        self.page.get_by_role("button", name="Add desk").click()

    def edit_desk(self, slug: str, **names: str) -> None:
        self.goto("/desk/admin/desks")
        self.page.click(f"a[href='/desk/admin/desks/{slug}']")
        for lang, name in names.items():
            self.page.fill(f"#name_{lang}", name)
        self.page.get_by_role("button", name="Save").click()

    def add_category(
        self, desk: str, slug: str, name_en: str, route: str = "", officers: tuple[str, ...] = ()
    ):
        self.goto("/desk/admin/categories")
        self.page.select_option("#desk", desk)
        self.page.fill("#slug", slug)
        self.page.fill("#name_en", name_en)
        self.page.select_option("#route", route)
        for officer in officers:
            self.page.get_by_label(officer, exact=False).check()
        self.page.get_by_role("button", name="Add category").click()

    def open_category(self, name_en: str) -> None:
        """From the categories list, the way an admin gets there: the category's link."""
        self.goto("/desk/admin/categories")
        self.page.get_by_role("link", name=name_en, exact=True).first.click()

    def edit_category(
        self,
        name_en: str,
        *,
        new_name_en: str | None = None,
        route: str | None = None,
        tick: tuple[str, ...] = (),
        untick: tuple[str, ...] = (),
    ) -> None:
        """Open the category named `name_en` and change what is given; `route` "" is its own desk."""
        self.open_category(name_en)
        if new_name_en is not None:
            self.page.fill("#name_en", new_name_en)
        if route is not None:
            self.page.select_option("#route", route)
        for officer in tick:
            self.page.get_by_label(officer, exact=False).check()
        for officer in untick:
            self.page.get_by_label(officer, exact=False).uncheck()
        self.page.get_by_role("button", name="Save").click()

    def ticked_officers(self) -> list[str]:
        labels = self.page.locator("label.choice:has(input[name=officers]:checked)")
        return [re.split(r"\s+\(", t)[0].strip() for t in labels.all_inner_texts()]

    def form_errors(self) -> str:
        return self.page.inner_text("#form-errors")

    # --- one's own account

    def change_password(self, current: str, new: str, again: str | None = None) -> None:
        self.page.get_by_role("link", name="Password", exact=True).click()  # from the header
        self.page.fill("#current", current)
        self.page.fill("#password", new)
        self.page.fill("#again", new if again is None else again)
        self.page.get_by_role("button", name="Change password").click()

    def account_error(self) -> str:
        return self.page.inner_text("#form-error")

    def register_officer(self, desk: str, name: str, key_text: str) -> None:
        self.goto("/desk/admin/officers")
        self.page.select_option("#desk", desk)
        self.page.fill("#name", name)
        self.page.fill("#key_text", key_text)
        self.page.get_by_role("button", name="Register key").click()

    def fingerprint(self) -> str:
        return " ".join(self.page.locator("#fingerprint .group").all_inner_texts())

    def officer_state(self) -> str:
        return self.page.inner_text("#officer-state")

    def confirm_officer(self) -> None:
        self.page.get_by_label("every digit matched").check()
        self.page.get_by_role("button", name="Confirm this key").click()

    def add_user(self, name: str, role: str, password: str, desk: str = "") -> str:
        """Returns the TOTP secret the set-up page shows once."""
        self.goto("/desk/admin/users")
        self.page.fill("#name", name)
        self.page.select_option("#role", role)
        self.page.select_option("#desk", desk)
        self.page.fill("#password", password)
        self.page.fill("#again", password)
        self.page.click("form:has(#again) button[type=submit].primary")
        return self.totp_secret()

    def totp_secret(self) -> str:
        assert self.page.get_attribute("#totp-qr", "src").startswith("data:image/svg+xml")
        secret = self.page.inner_text("#totp-secret").replace(" ", "")
        uri = self.page.locator("#totp-uri").text_content()
        assert pyotp.parse_uri(uri).secret == secret
        return secret

    def reset_totp(self, name: str) -> str:
        self.goto("/desk/admin/users")
        self.page.get_by_role("button", name=f"Reset TOTP for {name}").click()
        return self.totp_secret()

    def disable_user(self, name: str) -> None:
        self.goto("/desk/admin/users")
        self.page.get_by_role("button", name=f"Disable {name}").click()

    def poster(self, desk: str, lang: str, fmt: str = "svg", size: str = "A6") -> bytes:
        self.goto("/desk/admin/posters")
        self.page.select_option("#desk", desk)
        self.page.select_option("#lang", lang)
        self.page.select_option("#size", size)
        self.page.select_option("#format", fmt)
        self.page.fill("#url", "https://reports.example")
        return self.download(self.page.get_by_role("button", name="Download poster").click)

    def set_retention(self, desk: str, days: int) -> None:
        self.goto("/desk/admin/retention")
        self.page.fill(f"#days-{desk}", str(days))
        self.page.locator(f"#days-{desk}").locator("xpath=..").get_by_role("button", name="Save").click()

    def apply_retention(self) -> None:
        self.goto("/desk/admin/retention")
        self.page.get_by_role("button", name="Apply retention now").click()

    def audit_text(self) -> str:
        return self.goto("/desk/admin/audit").page.inner_text("#audit")


class Reporter:
    """Just enough of the reporter's side to send a report and read the answer."""

    def __init__(self, page: Page, base: str, javascript: bool):
        self.page, self.base, self.javascript = page, base, javascript

    def send_report(self, what: str = "Someone sells drugs behind the gym.") -> tuple[str, str]:
        self.page.goto(f"{self.base}/r/demo?lang=en")
        if self.javascript:
            self.page.wait_for_selector("html[data-sealing=browser]", state="attached")
        self.page.get_by_label("Drug dealing").check()
        self.page.fill("#what", what)
        self.page.click("#send")
        self.page.wait_for_selector("#receipt", timeout=60_000)
        return self.page.inner_text("#receipt"), self.page.inner_text("#case-number")

    def sign_in(self, receipt: str) -> tuple[str, list[str]]:
        """Returns the status shown and the replies' texts."""
        self.page.goto(f"{self.base}/r/demo/check?lang=en")
        if self.javascript:
            self.page.wait_for_selector("html[data-sealing=browser]", state="attached")
        self.page.fill("#receipt-input", receipt)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_selector("#case-status")
        return self.page.inner_text("#case-status"), self.page.locator(".reply .text").all_inner_texts()
