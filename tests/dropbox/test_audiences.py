"""The public address never serves the desk, and the desk's port never serves reporters."""

import urllib.error
import urllib.request

import pytest

from dropbox import config, create_app
from tests.helpers import live_server


def test_each_app_serves_only_its_audience(sqlite_instance):
    cfg = config.load(sqlite_instance)
    reporter, desk = create_app(cfg, "reporter").test_client(), create_app(cfg, "desk").test_client()
    assert reporter.get("/r/demo").status_code == 200
    assert reporter.get("/desk/login").status_code == 404
    assert reporter.get("/desk/").status_code == 404
    assert desk.get("/desk/login").status_code == 200
    assert desk.get("/r/demo").status_code == 404  # the gate guards only /desk/; the desk has no /r/
    assert desk.post("/api/demo/case").status_code == 404
    with pytest.raises(ValueError):
        create_app(cfg, "everyone")


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def test_serve_puts_the_desk_on_its_own_loopback_port(sqlite_instance, tmp_path):
    with live_server(sqlite_instance, tmp_path) as (public, process):
        assert status(f"{public}/r/demo") == 200
        assert status(f"{public}/desk/login") == 404
        assert process.desk_url.startswith("http://127.0.0.1:") and process.desk_url != public
        assert status(f"{process.desk_url}/desk/login") == 200
