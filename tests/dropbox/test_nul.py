"""A NUL byte anywhere an outsider types is refused as unknown, on SQLite and on PostgreSQL alike
(PostgreSQL refuses NUL in a text parameter, and that was a 500)."""

import re

import pytest

URLS = [
    "/api/de%00mo/csrf",
    "/api/demo/uploads/ab%00cd",
    "/r/de%00mo",
    "/r/de%00mo/check",
    "/r/demo?lang=e%00n",
]


@pytest.mark.parametrize("url", URLS)
def test_a_nul_in_the_address_is_not_found(client, url):
    answer = client.get(url)
    assert answer.status_code == 404, answer.get_data(as_text=True)[:200]


def test_a_nul_in_the_desk_login_name_is_a_failed_login(client):
    page = client.get("/desk/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post(
        "/desk/login", data={"csrf_token": token, "name": "ad\x00min", "password": "x", "code": "1"}
    )
    assert answer.status_code in (400, 401, 403, 429) and "log" in answer.get_data(as_text=True).lower()
