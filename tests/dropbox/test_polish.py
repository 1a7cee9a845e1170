"""Small things a person notices: the favicon request, a closed pipe, words in their language."""

from dropbox import config, create_app
from dropbox.security import SECURITY_HEADERS


def test_favicon_is_an_empty_answer_with_the_usual_headers(sqlite_instance):
    cfg = config.load(sqlite_instance)
    for audience in ("reporter", "desk", "all"):
        app = create_app(cfg, audience)
        response = app.test_client().get("/favicon.ico")
        assert response.status_code == 204, audience
        assert response.data == b""
        assert "Set-Cookie" not in response.headers
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value
        app.extensions["sealdrop.engine"].dispose()
