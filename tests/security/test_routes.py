"""Every route of the reporter app, the desk and the viewer's loopback UI, taken from their url_maps (a
new route is covered without touching this file), asked over HTTP of a real `sealdrop serve` and a
real `sealview open`, errors included: the strict headers, no cookie for reporters, CSRF on every
request that changes anything, the desk behind its login and off the public port, the viewer behind
its token, and no address or user agent in the server's output under a burst of requests."""

from __future__ import annotations

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from werkzeug.routing import IntegerConverter

from dropbox import config, create_app
from tests.browser.viewer_pages import running_viewer
from tests.desk_helpers import add_user, code
from tests.faults.checks import open_on_viewer
from tests.faults.clients import PageData, Submission, multipart, noise_jpeg
from tests.helpers import demo_server, extract
from tests.security.wire import Answer, fetch, parse_raw, raw

SAMPLES = {"slug": "demo", "upload_id": "0" * 32, "filename": "css/site.css", "number": "AAAA-0000"}
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
NOT_A_ROUTE = ["/nothing-here", "/r/no-such-desk", "/api/no-such-desk/reports", "/static/missing.css"]
CSRF_TEXT = "did not come from this site"  # the reporter pages' "csrf" message (dropbox _messages.html)
DESK_CSRF_TEXT = "did not come from the desk"


def routes(url_map, samples: dict | None = None) -> list[tuple[str, str, str]]:
    """(endpoint, method, path) for every rule and method, the rule's arguments filled with samples."""
    samples = {**SAMPLES, **(samples or {})}
    adapter = url_map.bind("localhost")
    found = []
    for rule in url_map.iter_rules():
        values = {
            name: 1 if isinstance(conv, IntegerConverter) else samples.get(name, "x")
            for name, conv in rule._converters.items()
        }
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, adapter.build(rule.endpoint, values, method=method)))
    return found


def assert_strict_headers(answer: Answer, where: str, personal: bool = True) -> None:
    h = answer.headers
    csp = h.get("Content-Security-Policy", "")
    assert csp, f"{where}: no CSP"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, f"{where}: {csp}"
    for directive in filter(None, (d.strip() for d in csp.split(";"))):
        for source in directive.split()[1:]:  # keywords, self, blob:, data: only: never another host
            assert source.startswith("'") or source in ("blob:", "data:"), f"{where}: {directive}"
    assert "frame-ancestors 'none'" in csp or h.get("X-Frame-Options") == "DENY", where
    assert h.get("Referrer-Policy") == "no-referrer", where
    assert h.get("X-Content-Type-Options") == "nosniff", where
    assert "Server" not in h or "waitress" not in h["Server"].lower(), where
    if personal:
        assert "no-store" in h.get("Cache-Control", ""), f"{where}: {h.get('Cache-Control')}"


def is_static(path: str, answer: Answer) -> bool:
    return path.startswith("/static/") and answer.status == 200


def counts(instance: Path) -> dict[str, int]:
    engine = create_engine(config.load(instance).database_url)
    with engine.connect() as conn:
        tables = ("cases", "submissions", "uploads", "desk_sessions", "desk_users", "categories", "officers")
        found = {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar() for t in tables}
    engine.dispose()
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with demo_server(tmp_path_factory.mktemp("security")) as (base, instance, process):
        yield base, process.desk_url, instance


def app_routes(instance: Path, audience: str) -> list[tuple[str, str, str]]:
    """The routes that are this audience's own: /favicon.ico is every app's (an empty 204 on both
    ports, tests/dropbox/test_polish.py)."""
    app = create_app(config.load(instance), audience)
    try:
        return [r for r in routes(app.url_map) if r[0] != "favicon"]
    finally:
        app.extensions["sealdrop.engine"].dispose()


# --- the reporter app, on the public port ------------------------------------------------------------


def test_every_reporter_route_has_strict_headers_and_sets_no_cookie(site):
    base, _, instance = site
    asked = 0
    for endpoint, method, path in app_routes(instance, "reporter"):
        for answer_path in (path, path + "?lang=bg"):
            answer = fetch(base, method, answer_path, body=b"" if method in STATE_CHANGING else None)
            assert answer.status < 500, f"{method} {path}: {answer.status}"
            assert_strict_headers(answer, f"{method} {path}", personal=not is_static(path, answer))
            assert "Set-Cookie" not in answer.headers, f"{method} {path} sets a cookie"
            asked += 1
        wrong = "DELETE" if method != "DELETE" else "PATCH"
        answer = fetch(base, wrong, path)
        assert answer.status in (404, 405), f"{wrong} {path}: {answer.status}"
        assert_strict_headers(answer, f"{wrong} {path}")
        assert "Set-Cookie" not in answer.headers
    assert asked >= 30  # the enumeration found the routes


def test_reporter_errors_have_the_same_headers(site):
    base, desk, _ = site
    for path in NOT_A_ROUTE:
        answer = fetch(base, "GET", path)
        assert answer.status in (404, 405), path
        assert_strict_headers(answer, path)
        assert "Set-Cookie" not in answer.headers
    # waitress answers these itself, before the app: a malformed request line and a body too large
    for port_base in (base, desk):
        malformed = parse_raw(raw(port_base, b"GARBAGE\r\n\r\n"))
        assert malformed.status == 400
        assert_strict_headers(malformed, "malformed request")
        huge = parse_raw(
            raw(port_base, b"POST /r/demo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n")
        )
        assert huge.status == 413
        assert_strict_headers(huge, "oversize body")
        assert "Set-Cookie" not in huge.headers


def test_every_state_changing_reporter_request_without_its_token_is_refused(site):
    base, _, instance = site
    before = counts(instance)
    checked = 0
    for endpoint, method, path in app_routes(instance, "reporter"):
        if method not in STATE_CHANGING:
            continue
        if path.startswith("/api/"):  # the JSON API: the token travels in a header, here absent
            answer = fetch(
                base, method, path, body=b'{"size": 10}', headers={"Content-Type": "application/json"}
            )
            assert (answer.status, json.loads(answer.body)) == (400, {"error": "csrf"}), f"{method} {path}"
        else:  # a form: every field but a valid token (the add form's token names case 1)
            form = b"lang=en&what=hello&category=1&case_token=x.1&receipt_sealed=x&receipt=x"
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            answer = fetch(base, method, path + "?lang=en", body=form, headers=headers)
            # An error page (the words vary: "expired or not from this site", "this page has expired")
            assert answer.status in (400, 403, 404), f"{method} {path}: {answer.status}"
            assert 'id="error-message"' in answer.text(), f"{method} {path}"
        checked += 1
    assert checked >= 8
    assert counts(instance) == before


def page_tokens(base: str) -> tuple[str, str]:
    page = fetch(base, "GET", "/r/demo?lang=en").text()
    form_token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    data = json.loads(re.search(r'id="page-data">(.*?)</script>', page, re.S).group(1))
    return form_token, data["csrf"]


def test_a_valid_token_from_another_site_is_refused(site):
    base, _, instance = site
    form_token, api_token = page_tokens(base)
    before = counts(instance)
    for cross in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "http://evil.example"}):
        form = f"csrf_token={form_token}&lang=en&what=hello&where_mode=none".encode()
        answer = fetch(base, "POST", "/r/demo?lang=en", body=form,
                       headers={"Content-Type": "application/x-www-form-urlencoded", **cross})  # fmt: skip
        assert answer.status == 400 and CSRF_TEXT in answer.text()
        api_headers = {"Content-Type": "application/json", "X-Sealdrop-CSRF": api_token, **cross}
        answer = fetch(base, "POST", "/api/demo/uploads", body=b'{"size": 10}', headers=api_headers)
        assert (answer.status, json.loads(answer.body)) == (400, {"error": "csrf"})
    assert counts(instance) == before
    # the same token from our own page is taken (the refusals above were for the site, not the token)
    answer = fetch(base, "POST", "/api/demo/uploads", body=b'{"size": 10}',
                   headers={"Content-Type": "application/json", "X-Sealdrop-CSRF": api_token})  # fmt: skip
    assert answer.status == 201


def assert_private_answer(answer: Answer, where: str) -> None:
    assert answer.status == 200, f"{where}: {answer.status}"
    assert_strict_headers(answer, where)
    assert "Set-Cookie" not in answer.headers, f"{where} sets a cookie"


def test_a_reporter_who_sends_and_signs_back_in_gets_no_cookie_and_nothing_cached(site):
    base, _, _ = site
    page = PageData.read(base)
    fields = {"csrf_token": page.form_token, "category": page.category, "lang": "en",
              "what": "headers on the way", "where_mode": "none"}  # fmt: skip
    body, content_type = multipart(fields, [("files", "photo.jpg", "image/jpeg", noise_jpeg(32))])
    sent = fetch(base, "POST", "/r/demo?lang=en", body=body, headers={"Content-Type": content_type})
    assert_private_answer(sent, "the receipt page")
    receipt = extract(sent.text(), "receipt")
    assert receipt not in str(sent.headers)  # in the page only: never a URL, a header or a cookie
    sealed = re.search(r'name="receipt_sealed" value="([^"]+)"', sent.text()).group(1)
    token = re.search(r'id="save-receipt-form".*?name="csrf_token" value="([^"]+)"', sent.text(), re.S).group(
        1
    )
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    carried = f"csrf_token={token}&receipt_sealed={sealed}".encode()
    saved = fetch(base, "POST", "/r/demo/receipt?lang=en", body=carried, headers=form)
    assert_private_answer(saved, "the receipt file")
    check_page = fetch(base, "GET", "/r/demo/check?lang=en")
    assert_private_answer(check_page, "the sign-in page")
    token = re.search(r'name="csrf_token" value="([^"]+)"', check_page.text()).group(1)
    typed = f"csrf_token={token}&receipt={receipt}".encode()
    signed_in = fetch(base, "POST", "/r/demo/check?lang=en", body=typed, headers=form)
    assert_private_answer(signed_in, "the case page")
    assert extract(signed_in.text(), "case-number") == extract(sent.text(), "case-number")


# --- the desk: its own loopback port, behind its login -----------------------------------------------


def test_no_desk_route_answers_on_the_public_port(site):
    base, _, instance = site
    desk_routes = [r for r in app_routes(instance, "desk") if not r[2].startswith("/static/")]
    assert len(desk_routes) >= 20
    for endpoint, method, path in [*desk_routes, ("", "GET", "/desk"), ("", "GET", "/desk/nothing")]:
        answer = fetch(base, method, path, body=b"" if method in STATE_CHANGING else None)
        assert answer.status == 404, f"{method} {path} on the public port: {answer.status}"
        assert_strict_headers(answer, path)


def test_no_reporter_route_answers_on_the_desk_port(site):
    _, desk, instance = site
    for endpoint, method, path in app_routes(instance, "reporter"):
        if not path.startswith("/static/"):
            answer = fetch(desk, method, path, body=b"" if method in STATE_CHANGING else None)
            assert answer.status == 404, f"{method} {path} on the desk port: {answer.status}"


def test_every_desk_route_needs_a_login(site):
    _, desk, instance = site
    before = counts(instance)
    public = {"desk.login", "desk.login_post", "static"}
    for endpoint, method, path in [*app_routes(instance, "desk"), ("x", "GET", "/desk/nothing")]:
        answer = fetch(desk, method, path, body=b"" if method in STATE_CHANGING else None)
        assert_strict_headers(answer, f"{method} {path}", personal=not is_static(path, answer))
        assert "Set-Cookie" not in answer.headers, f"{method} {path}"
        if endpoint not in public:
            assert answer.status == 303, f"{method} {path} without a login: {answer.status}"
            assert answer.headers["Location"].split("?")[0].endswith("/desk/login")
    refused = fetch(desk, "POST", "/desk/login", body=b"name=a&password=b&code=1",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert refused.status == 400 and "Set-Cookie" not in refused.headers
    assert counts(instance) == before


def desk_login(desk: str, instance: Path) -> tuple[str, str]:
    """An admin's session cookie and its CSRF token, through the login form."""
    name, secret = add_user(instance, "admin")
    page = fetch(desk, "GET", "/desk/login").text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = f"csrf_token={token}&name={name}&password=correct+horse+battery+staple&code={code(secret)}"
    answer = fetch(desk, "POST", "/desk/login", body=form.encode(),
                   headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert answer.status == 303, answer.text()
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/desk/" in cookie
    session = cookie.split(";")[0]
    inbox = fetch(desk, "GET", "/desk/", headers={"Cookie": session}).text()
    return session, re.search(r'name="csrf_token" value="([^"]+)"', inbox).group(1)


def test_signed_in_the_desk_still_wants_its_token_and_its_own_site(site):
    _, desk, instance = site
    session, token = desk_login(desk, instance)
    before = counts(instance)
    form_headers = {"Cookie": session, "Content-Type": "application/x-www-form-urlencoded"}
    checked = 0
    for endpoint, method, path in app_routes(instance, "desk"):
        if method not in STATE_CHANGING:
            answer = fetch(desk, method, path, headers={"Cookie": session})
            assert answer.status < 500, f"{method} {path}: {answer.status}"
            assert_strict_headers(answer, f"{method} {path}", personal=not is_static(path, answer))
            continue
        if endpoint == "desk.login_post":
            continue  # its own token (checked signed out above)
        without = fetch(desk, method, path, body=b"name=x&slug=x", headers=form_headers)
        assert without.status == 400 and DESK_CSRF_TEXT in without.text(), (
            f"{method} {path}: {without.status}"
        )
        cross = fetch(desk, method, path, body=f"csrf_token={token}&name=x".encode(),
                      headers={**form_headers, "Sec-Fetch-Site": "cross-site"})  # fmt: skip
        assert cross.status == 400 and DESK_CSRF_TEXT in cross.text(), f"{method} {path} cross-site"
        assert_strict_headers(cross, f"{method} {path}")
        checked += 1
    assert checked >= 15
    assert counts(instance) == before
    assert fetch(desk, "GET", "/desk/", headers={"Cookie": session}).status == 200  # still signed in


# --- the viewer's loopback UI: nothing without its token ---------------------------------------------


@pytest.fixture(scope="module")
def viewer(site, tmp_path_factory):
    """`sealview open` over a vault that imported a real report with a photo: its case number (so the
    case, its photo, its download and its case file are real pages) and the address with the token."""
    base, _, instance = site
    report = Submission(0, "nojs")
    report.send(base)
    work = tmp_path_factory.mktemp("viewer")
    open_on_viewer(instance, work, [report])
    with running_viewer(work / "vault", "") as url:
        yield url, report.case_number


def viewer_routes(case_number: str) -> list[tuple[str, str, str]]:
    from viewer.web import create_app as viewer_app

    return routes(viewer_app(None, "unused").url_map, {"number": case_number})


def test_every_viewer_route_needs_the_token(viewer):
    url, case_number = viewer
    base, token = url.split("/?token=")
    found = viewer_routes(case_number)
    assert len(found) >= 10
    for endpoint, method, path in [*found, ("x", "GET", "/nothing")]:
        for headers in ({}, {"Cookie": "sealview=wrong"}):
            answer = fetch(
                base, method, path, body=b"" if method in STATE_CHANGING else None, headers=headers
            )
            assert answer.status == 403, f"{method} {path}: {answer.status}"
            assert_strict_headers(answer, f"{method} {path}")
            assert "Set-Cookie" not in answer.headers
        wrong = fetch(base, "GET", f"{path}?token=not-{token}")
        assert wrong.status == 403 and "Set-Cookie" not in wrong.headers


def test_signed_in_the_viewer_wants_its_form_token(viewer):
    url, case_number = viewer
    base, token = url.split("/?token=")
    shown = 0
    first = fetch(base, "GET", f"/?token={token}")
    assert first.status == 303 and "HttpOnly" in first.headers["Set-Cookie"]
    assert_strict_headers(first, "the token's redirect")
    cookie = {"Cookie": first.headers["Set-Cookie"].split(";")[0]}
    for endpoint, method, path in viewer_routes(case_number):
        if method in STATE_CHANGING:
            form = {**cookie, "Content-Type": "application/x-www-form-urlencoded"}
            answer = fetch(base, method, path, body=b"state=closed&text=x", headers=form)
            assert answer.status == 403, f"{method} {path} without its form token: {answer.status}"
        else:
            answer = fetch(base, method, path, headers=cookie)
            assert answer.status < 500, f"{method} {path}: {answer.status}"
            shown += answer.status == 200
        assert_strict_headers(answer, f"{method} {path}")
        assert "Set-Cookie" not in answer.headers
    assert shown >= 8  # the case, its photo, download and case file among them, not only errors


# --- no address and no user agent in the server's output ---------------------------------------------

MARKERS = ["203.0.113.77", "198.51.100.23", "MarkerBrowser/7.3", "referer-marker.example", "127.0.0.1"]


def burst(base: str, desk: str, i: int) -> None:
    """One of a mix of requests that a flood or a clumsy client sends, each with identifying headers."""
    headers = {
        "User-Agent": "MarkerBrowser/7.3",
        "Referer": "http://referer-marker.example/page",
        "X-Forwarded-For": "203.0.113.77",
        "X-Real-IP": "198.51.100.23",
        "Forwarded": "for=203.0.113.77",
    }
    kind = i % 8
    if kind == 0:
        fetch(base, "GET", "/r/demo", headers=headers)
    elif kind == 1:
        fetch(base, "GET", f"/nothing/{i}", headers=headers)
    elif kind == 2:
        fetch(
            base,
            "POST",
            "/r/demo",
            body=b"what=x",
            headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
        )
    elif kind == 3:
        fetch(base, "PUT", f"/api/demo/uploads/{'a' * 32}?offset=0", body=b"x" * 100, headers=headers)
    elif kind == 4:
        fetch(desk, "GET", "/desk/admin/users", headers=headers)
    elif kind == 5:  # a body cut short: the client goes away mid-request
        cut = b"POST /r/demo HTTP/1.1\r\nHost: x\r\nUser-Agent: MarkerBrowser/7.3\r\nContent-Length: 5000\r\n"
        raw(base, cut + b"\r\nwhat=")
    elif kind == 6:
        raw(desk, b"GET /desk/ HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.77\r\nBad Header\r\n\r\n")
    else:
        raw(base, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64))  # TLS to a plain port


def test_no_address_or_user_agent_in_the_output_under_a_burst(tmp_path):
    with demo_server(tmp_path) as (base, _, process):
        reporters = [Submission(i, path) for i in range(4) for path in ("nojs", "whole", "pieces")]
        with ThreadPoolExecutor(8) as pool:
            sending = [pool.submit(r.send, base) for r in reporters]  # real reports among the noise
            list(pool.map(lambda i: burst(base, process.desk_url, i), range(400)))
            assert all(s.result() is None for s in sending)
        assert fetch(base, "GET", "/r/demo").status == 200  # still serving
        assert all(r.case_number for r in reporters)
    output = process.stdout.read().decode("utf-8", "replace")
    assert "demo desk: http://127.0.0.1:" in output  # the server's own output, read to its end
    # The first lines, read before the burst, say where it listens; the last of them comes after.
    for line in output.splitlines():
        if line.startswith("demo desk: http://127.0.0.1:"):
            continue
        assert not any(m in line for m in MARKERS), f"identifying output: {line}"
        assert not re.search(r"\b\d{1,3}(\.\d{1,3}){3}\b", line), f"an address in the output: {line}"
