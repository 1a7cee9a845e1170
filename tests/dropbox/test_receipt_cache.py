"""The no-JS receipt page is rendered once per desk and language with stand-ins, and each report's
receipt, case number and receipt-form tokens are put in (dropbox/pagecache.py): the page filled in must
be the page rendered whole, in every language, and never carry another report's receipt."""

from __future__ import annotations

import re

import pytest

from dropbox import db, pagecache, reporter
from tests.dropbox.conftest import Reporter


@pytest.mark.parametrize("lang", ["en", "bg", "ru", "kk"])
def test_the_receipt_page_filled_in_is_the_page_rendered_whole(app, lang):
    values = {"receipt": "7K2M-QX4P-9RTW-H3ND", "case_number": "AB12-CD34",
              "receipt_csrf": "c3RhbXA=_-tok.en", "receipt_sealed": "c2VhbGVk-_x="}  # fmt: skip
    with app.test_request_context(f"/r/demo?lang={lang}"):
        page = pagecache.for_app(app).get(db.session(), "demo")
        whole = reporter._render_receipt(page, values)
        markers = pagecache.RECEIPT_MARKERS
        once = pagecache.for_app(app).html(
            page, lang, lambda m: reporter._render_receipt(page, m), markers, kind="receipt"
        )
        assert pagecache.fill_plain(once, values, markers) == whole
        assert values["receipt"] in whole and values["receipt_sealed"] in whole
        assert pagecache.fill_plain(once, {**values, "receipt": "<b>"}, markers) is None  # never unescaped
        assert pagecache.fill_plain(once, {**values, "receipt": "ЖЖЖ"}, markers) is None


def receipt_and_case(html: str) -> tuple[str, str]:
    receipt = re.search(r'id="receipt"[^>]*>([^<]+)<', html).group(1)
    return receipt, re.search(r'id="case-number">([^<]+)<', html).group(1)


def test_each_report_shows_its_own_receipt_and_its_forms_work(app, client):
    reporter_ = Reporter(client)
    first = reporter_.submit(query_string={"lang": "ru"}).get_data(as_text=True)
    second = reporter_.submit(query_string={"lang": "ru"}).get_data(as_text=True)
    assert not any(
        marker in html for html in (first, second) for marker in pagecache.RECEIPT_MARKERS.values()
    )
    (receipt_1, case_1), (receipt_2, case_2) = receipt_and_case(first), receipt_and_case(second)
    assert receipt_1 != receipt_2 and case_1 != case_2
    assert receipt_2 not in first and case_2 not in first
    assert 'lang="ru"' in first  # the page in the language it was asked in
    # The cached page's forms carry this report's receipt back: Finish with its last group works.
    token = re.search(r'id="finish-form".*?name="csrf_token" value="([^"]+)"', second, re.S).group(1)
    sealed = re.search(r'id="finish-form".*?name="receipt_sealed" value="([^"]+)"', second, re.S).group(1)
    wrong = client.post("/r/demo/done?lang=ru", data={"csrf_token": token, "receipt_sealed": sealed,
                                                      "last_group": receipt_1.rsplit("-", 1)[1]})  # fmt: skip
    assert wrong.status_code == 400 and receipt_2 in wrong.get_data(as_text=True)
    done = client.post("/r/demo/done?lang=ru", data={"csrf_token": token, "receipt_sealed": sealed,
                                                     "last_group": receipt_2.rsplit("-", 1)[1]})  # fmt: skip
    assert done.status_code == 303
