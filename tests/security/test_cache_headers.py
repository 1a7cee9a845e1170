"""What a browser may keep: the empty /favicon.ico answer (a day, on every audience's app: otherwise it
is asked again on every page, over Tor) and the static files; never a page, an error or anything a
person sent or is shown, signed in or not (dropbox/security.py)."""

from __future__ import annotations

import pytest

from dropbox import config, create_app
from dropbox.security import FAVICON_CACHE, SECURITY_HEADERS
from tests.desk_helpers import add_user, login
from tests.helpers import make_instance

AUDIENCES = ("reporter", "desk", "all")


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    return make_instance(tmp_path_factory.mktemp("cache") / "instance")


@pytest.fixture(params=AUDIENCES)
def app(request, instance):
    app = create_app(config.load(instance), request.param)
    yield app
    app.extensions["sealdrop.engine"].dispose()


def assert_no_store(response, where: str) -> None:
    assert response.headers.get("Cache-Control") == "no-store", where
    assert response.headers.get("Pragma") == "no-cache", where


def test_the_favicon_answer_may_be_cached_for_a_day(app):
    client = app.test_client()
    for method in ("GET", "HEAD"):
        response = client.open("/favicon.ico", method=method)
        assert response.status_code == 204 and response.data == b""
        assert response.headers["Cache-Control"] == "public, max-age=86400" == FAVICON_CACHE
        assert "no-store" not in response.headers["Cache-Control"] and "Pragma" not in response.headers
        for name, value in SECURITY_HEADERS.items():  # only the cache rule differs
            assert response.headers[name] == value, name
        assert "Set-Cookie" not in response.headers


def test_a_refused_favicon_request_is_not_cached(app):
    refused = app.test_client().post("/favicon.ico")
    assert refused.status_code == 405
    assert_no_store(refused, "POST /favicon.ico")


def test_errors_and_other_icons_stay_no_store(app):
    client = app.test_client()
    for path in ("/favicon.png", "/favicon.ico/x", "/apple-touch-icon.png", "/no-such-page"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert_no_store(response, path)


@pytest.mark.parametrize("path", ["/", "/r/demo", "/r/demo?lang=bg", "/check"])
def test_reporter_pages_stay_no_store(instance, path):
    app = create_app(config.load(instance), "reporter")
    try:
        response = app.test_client().get(path)
        assert response.status_code < 500, path
        assert_no_store(response, path)
    finally:
        app.extensions["sealdrop.engine"].dispose()


def test_desk_pages_stay_no_store_signed_in_or_not(instance):
    app = create_app(config.load(instance), "desk")
    try:
        client = app.test_client()
        for path in ("/desk/login", "/desk/"):  # the second redirects to the login page
            assert_no_store(client.get(path), f"{path} signed out")
        assert login(client, *add_user(instance, "clerk", "demo")).status_code == 303
        for path in ("/desk/", "/desk/replies", "/desk/account"):
            response = client.get(path)
            assert response.status_code == 200, path
            assert_no_store(response, f"{path} signed in")
        assert client.get("/favicon.ico").headers["Cache-Control"] == FAVICON_CACHE  # signed in, the same
    finally:
        app.extensions["sealdrop.engine"].dispose()


def test_static_files_keep_their_hour(instance):
    app = create_app(config.load(instance), "reporter")
    try:
        response = app.test_client().get("/static/css/site.css")
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=3600"
        response.close()
    finally:
        app.extensions["sealdrop.engine"].dispose()
