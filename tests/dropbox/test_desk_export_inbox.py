"""The inbox around an export, without JavaScript's help: "make" records the next bundle and sends the
clerk back to the inbox, which says which bundle it is, how many submissions went into it, how to
download it and what to do with it; "New" then counts only what is left. Nothing new: no primary
button to make an empty bundle."""

import re

import pytest
from sqlalchemy import select

from crypto import VerifyKey, bundle
from dropbox import config
from dropbox.models import AuditEntry, ExportLog
from tests.desk_helpers import add_user, csrf, login, upload_replies
from tests.dropbox.test_desk_bundles import World


@pytest.fixture
def world(sqlite_instance, tmp_path):
    from dropbox import create_app
    from tests.dropbox.conftest import Reporter

    app = create_app(config.load(sqlite_instance))
    yield World(sqlite_instance, app, Reporter(app.test_client()), tmp_path)
    app.extensions["sealdrop.engine"].dispose()


@pytest.fixture
def clerk(world):
    client = world.app.test_client()
    name, secret = add_user(world.instance, "clerk", "demo")
    assert login(client, name, secret).status_code == 303
    return client


def section(html: str, slug: str = "demo") -> str:
    return html[html.index(f'id="inbox-{slug}"') :].split("</section>")[0]


def buttons(html: str) -> list[str]:
    return re.findall(r"<button[^>]*>", html)


def make(clerk, slug: str = "demo"):
    token = csrf(clerk.get("/desk/").get_data(as_text=True))
    return clerk.post(f"/desk/export/{slug}/make", data={"csrf_token": token})


def test_make_then_the_inbox_says_what_went_in_and_offers_the_download(world, clerk):
    world.reporter.submit()  # two submissions wait
    before = section(clerk.get("/desk/").get_data(as_text=True))
    assert "New: 2." in before and "Make an export bundle of the 2 new submissions" in before
    assert 'class="primary" id="export-demo"' in before

    made = make(clerk)
    assert made.status_code == 303
    assert made.location.endswith("/desk/?desk=demo&ready=1#ready-demo")
    page = clerk.get(made.location)
    html = section(page.get_data(as_text=True))
    assert "Export bundle 1 is ready" in html and "It holds 2 submissions." in html
    assert "New: 0." in html and "Nothing new to export." in html
    assert "USB stick" in html and "offline viewer" in html and "Reply bundles page" in html
    # The only primary action is the download of that bundle; nothing offers an empty export.
    primary = [b for b in buttons(html) if 'class="primary"' in b]
    assert primary == ['<button type="submit" class="primary" id="download-demo">']
    assert 'id="export-demo"' not in html
    # Nothing about the reports themselves: no case number, no receipt.
    assert world.case_number not in page.get_data(as_text=True)

    token = csrf(page.get_data(as_text=True))
    download = clerk.post("/desk/export/demo/1", data={"csrf_token": token})
    assert download.headers["Content-Disposition"] == "attachment; filename=sealdrop-export-demo-00001.bundle"
    (world.tmp / "dl.bundle").write_bytes(download.get_data())
    pinned = VerifyKey.parse((world.instance / config.SIGNING_PUB_FILE).read_text())
    manifest = bundle.verify(world.tmp / "dl.bundle", "export", [pinned])
    assert manifest.sequence == 1 and len({i["submission"] for i in manifest.items}) == 2
    with world.session() as s:
        assert s.scalar(select(ExportLog.sha256).where(ExportLog.sequence == 1)) == manifest.sha256
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.action.like("export%"))))
    assert actions == ["export", "export_again"]
    assert list((world.cfg.blob_dir / "incoming").iterdir()) == []  # "make" leaves no copy behind


def test_what_arrives_after_the_export_is_new_and_the_bundle_keeps_its_count(world, clerk):
    location = make(clerk).location
    world.reporter.submit()
    html = section(clerk.get(location).get_data(as_text=True))
    assert "Export bundle 1 is ready" in html and "It holds 1 submission." in html
    assert "New: 1." in html
    # The download stays the primary action; making the next bundle is offered beside it, not above it.
    assert '<button type="submit" id="export-demo"' in html
    assert [b for b in buttons(html) if 'class="primary"' in b] == [
        '<button type="submit" class="primary" id="download-demo">'
    ]
    assert make(clerk).location.endswith("ready=2#ready-demo")


def test_nothing_new_offers_no_export(world, clerk):
    make(clerk)
    html = section(clerk.get("/desk/").get_data(as_text=True))
    assert "Nothing new to export." in html and 'id="export-demo"' not in html
    assert not [b for b in buttons(html) if 'class="primary"' in b]
    again = make(clerk)  # a stale page's button: refused with a notice, no empty bundle
    assert again.status_code == 303 and "msg=nothing_new" in again.location
    assert "Nothing new to export" in clerk.get(again.location).get_data(as_text=True)
    with world.session() as s:
        assert list(s.scalars(select(ExportLog.sequence))) == [1]


@pytest.mark.parametrize(
    "query", ["desk=demo&ready=9", "desk=demo&ready=x", "desk=demo&ready=%C2%B9", "desk=other&ready=1",
              "ready=1", "desk=demo&ready=99999999999999999999"],
)  # fmt: skip
def test_a_ready_link_that_names_no_bundle_of_the_desk_shows_no_notice(world, clerk, query):
    make(clerk)
    page = clerk.get(f"/desk/?{query}")
    assert page.status_code == 200 and "is ready" not in page.get_data(as_text=True)


def test_a_bundle_the_viewer_confirmed_is_no_longer_offered(world, clerk):
    location = make(clerk).location
    with world.session() as s:
        sha256 = s.scalar(select(ExportLog.sha256))
    upload_replies(clerk, world.replies("r", confirmations=[{"sequence": 1, "sha256": sha256}]))
    html = clerk.get(location).get_data(as_text=True)
    assert "is ready" not in html and "yes, on" in html


def test_a_clerk_cannot_make_another_desks_bundle(world, clerk):
    token = csrf(clerk.get("/desk/").get_data(as_text=True))
    assert clerk.post("/desk/export/demo-internal/make", data={"csrf_token": token}).status_code == 404
    assert clerk.post("/desk/export/demo/make").status_code == 400  # no CSRF token
    with world.session() as s:
        assert list(s.scalars(select(ExportLog.sequence))) == []


def test_the_direct_download_still_works(world, clerk):
    token = csrf(clerk.get("/desk/").get_data(as_text=True))
    response = clerk.post("/desk/export/demo", data={"csrf_token": token})
    assert response.status_code == 200 and response.get_data()
    assert "attachment" in response.headers["Content-Disposition"]
