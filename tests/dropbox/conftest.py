import os
import re

import pytest

from dropbox import config, create_app
from tests.helpers import make_instance, postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    if request.param == "sqlite":
        yield None
        return
    if os.environ.get("SEALDROP_SKIP_POSTGRES") == "1":
        pytest.skip("SEALDROP_SKIP_POSTGRES=1")
    with postgres_database() as url:
        yield url


@pytest.fixture
def instance(tmp_path, database_url):
    return make_instance(tmp_path / "instance", database_url)


@pytest.fixture
def sqlite_instance(tmp_path):
    return make_instance(tmp_path / "instance")


@pytest.fixture
def app(instance):
    app = create_app(config.load(instance))
    yield app
    app.extensions["sealdrop.engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


class Reporter:
    """Drives the no-JS pages as a browser without JavaScript would."""

    def __init__(self, client, desk="demo"):
        self.client = client
        self.desk = desk

    def form(self, lang="en"):
        page = self.client.get(f"/r/{self.desk}?lang={lang}")
        assert page.status_code == 200
        return page.get_data(as_text=True)

    def token(self, html):
        return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)

    def category_id(self, html, slug_name="Drug dealing"):
        found = re.search(rf'value="(\d+)"[^>]*> {re.escape(slug_name)}', html)
        return found.group(1)

    def submit(self, fields=None, files=(), category="Drug dealing", **kw):
        html = self.form()
        data = {"csrf_token": self.token(html), "category": self.category_id(html, category), "lang": "en",
                "what": "Dealing behind the gym", "where_mode": "none"}  # fmt: skip
        data.update(fields or {})
        data["files"] = list(files)
        return self.client.post(f"/r/{self.desk}", data=data, content_type="multipart/form-data", **kw)

    def check(self, receipt):
        html = self.client.get(f"/r/{self.desk}/check").get_data(as_text=True)
        return self.client.post(
            f"/r/{self.desk}/check", data={"csrf_token": self.token(html), "receipt": receipt}
        )


@pytest.fixture
def reporter(client):
    return Reporter(client)
