"""A desk still being set up (no category, or nobody confirmed to read one) tells reporters it is not
open yet, in their language, instead of showing a form whose report nobody could read."""

import pytest

from dropbox import db
from dropbox.models import Desk, Officer


def add_desk(app, slug: str) -> None:
    with app.app_context():
        session = db.session()
        session.add(Desk(slug=slug, names={"en": "New town", "bg": "Нов град"}, default_language="bg"))
        session.commit()


@pytest.mark.parametrize("lang", ["en", "bg", "ru", "kk"])
def test_a_desk_without_categories_is_not_open(app, client, lang):
    add_desk(app, "newtown")
    page = client.get(f"/r/newtown?lang={lang}")
    html = page.get_data(as_text=True)
    assert page.status_code == 503 and 'name="what"' not in html
    english = "This desk is not open for reports yet"
    assert (english in html) == (lang == "en")


def test_a_desk_whose_officers_are_unconfirmed_is_not_open(app, client):
    """The demo desk, with every officer's key unconfirmed: no category has anyone to read it."""
    with app.app_context():
        session = db.session()
        for officer in session.query(Officer).all():
            officer.confirmed = False
        session.commit()
    page = client.get("/r/demo?lang=en")
    assert page.status_code == 503 and "not open for reports yet" in page.get_data(as_text=True)


def test_the_demo_desk_is_open(client):
    page = client.get("/r/demo?lang=en")
    assert page.status_code == 200 and 'name="what"' in page.get_data(as_text=True)
