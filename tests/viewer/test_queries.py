"""What the screens read: filters, search, pages, the hotspots (five reports about one corner stand
out), the dashboard, and distances at the reporter's precision."""

import pytest

from tests.viewer.bundles import Submission, report_doc
from viewer import geo, importer, queries, triage
from viewer.queries import Filters

CORNER = (42.6931, 23.3219)  # School No. 5 in the demo instance


@pytest.fixture
def town(vault, server, tmp_path):
    subs = []
    for i in range(5):  # five reports within ~30 m of the same corner
        subs.append(
            Submission(
                f"CORN-000{i}",
                report_doc(
                    f"Dealing at the corner, {['alpha', 'bravo', 'charlie', 'delta', 'echo'][i]}",
                    where={
                        "mode": "device",
                        "lat": CORNER[0] + i * 0.0001,
                        "lon": CORNER[1] - i * 0.0001,
                        "precision": "exact",
                    },
                ),
                received_day=f"2025-05-0{i + 1}",
            )
        )
    subs.append(
        Submission(
            "PLAC-0001",
            report_doc(
                "Fight near the school",
                category=("hooliganism", "Fights"),
                where={
                    "mode": "place",
                    "place": "School No. 5",
                    "place_id": 3,
                    "lat": CORNER[0],
                    "lon": CORNER[1],
                },
            ),
        )
    )
    subs.append(
        Submission(
            "FAR0-0001",
            report_doc(
                "Far away", where={"mode": "device", "lat": 42.7120, "lon": 23.3210, "precision": "1km"}
            ),
            received_day="2025-06-20",
        )
    )
    subs.append(Submission("TYPE-0001", report_doc("Typed", where={"mode": "typed", "text": "Vitosha 12 "})))
    subs.append(
        Submission("TYPE-0002", report_doc("Typed again", where={"mode": "typed", "text": "vitosha 12"}))
    )
    server.bundle(tmp_path / "b", subs)
    importer.import_bundle(vault, tmp_path / "b")
    return vault


def numbers(vault, **kw):
    return sorted(r["number"] for r in queries.inbox(vault, Filters(**kw)).rows)


def test_filters(town):
    assert len(numbers(town)) == 9
    assert numbers(town, category="hooliganism") == ["PLAC-0001"]
    assert numbers(town, since="2025-06-01") == ["FAR0-0001"]
    assert numbers(town, until="2025-05-02") == [
        "CORN-0000",
        "CORN-0001",
        "PLAC-0001",
        "TYPE-0001",
        "TYPE-0002",
    ]
    triage.set_state(town, "CORN-0001", "credible")
    assert numbers(town, status="credible") == ["CORN-0001"]
    assert len(numbers(town, status="new")) == 8
    assert numbers(town, q="corner delt") == ["CORN-0003"]
    assert numbers(town, near=f"{CORNER[0]},{CORNER[1]}", radius=100) == [
        "CORN-0000",
        "CORN-0001",
        "CORN-0002",
        "CORN-0003",
        "CORN-0004",
        "PLAC-0001",
    ]


def test_filter_parsing_reports_what_it_drops():
    f, errors = Filters.parse(
        {"status": "nope", "since": "2025-13-40", "near": "x", "page": "-3", "photos": "maybe"}
    )
    assert f == Filters() and len(errors) == 3
    f, errors = Filters.parse({"near": "42.69,23.32", "radius": "999999", "page": "7"})
    assert (f.near, f.radius, f.page, errors) == ("42.69000,23.32000", 50_000, 7, [])
    assert f.args(page=1) == {"near": "42.69000,23.32000", "radius": "50000"}


def test_pages_clamp(town):
    page = queries.inbox(town, Filters(page=99), per_page=4)
    assert (page.page, page.pages, page.total, len(page.rows)) == (3, 3, 9, 1)


def test_five_reports_about_one_corner_stand_out(town):
    h = queries.hotspots(town, Filters())
    top = h["clusters"][0]
    assert top.count == 6 and top.landmark == "School No. 5" and top.landmark_m < 40
    assert set(top.numbers) == {"CORN-0000", "CORN-0001", "CORN-0002", "CORN-0003", "CORN-0004", "PLAC-0001"}
    assert h["located"] == 7 and h["typed"] == [("vitosha 12", 2)]
    biggest = max(h["plot"].dots, key=lambda d: d["r"])
    assert biggest["cluster"] is top
    assert [m["name"] for m in h["plot"].landmarks] == ["School No. 5", "Central park", "Bus station"]
    assert queries.hotspots(town, Filters(category="hooliganism"))["located"] == 1


def test_a_case_knows_its_neighbours_and_shows_coordinates_at_the_given_precision(town):
    near = queries.case(town, "CORN-0000")["nearby"]
    assert [n["number"] for n in near][:2] == ["PLAC-0001", "CORN-0001"] and near[0]["distance"] == "0 m"
    assert queries.case(town, "FAR0-0001")["nearby"] == []
    assert geo.shown_coordinates(42.71234, 23.32101, "1km") == "42.71, 23.32"
    assert geo.shown_coordinates(42.71234, 23.32101, "100m") == "42.712, 23.321"
    assert round(geo.distance_m(*CORNER, 42.7120, 23.3210), -1) == 2100


def test_dashboard(town):
    triage.set_state(town, "CORN-0001", "closed")
    d = queries.dashboard(town)
    assert d["total"] == 9 and dict(d["states"])["closed"] == 1 and dict(d["states"])["new"] == 8
    assert dict(d["categories"])["Drug dealing"] == 8
    assert dict(d["weeks"]) == {"2025-W18": 7, "2025-W19": 1, "2025-W25": 1}


def test_a_search_kept_for_the_next_page_is_dropped_when_reports_change(town, server, tmp_path):
    assert numbers(town, q="typed") == ["TYPE-0001", "TYPE-0002"]
    assert queries.inbox(town, Filters(q="typed"), per_page=1).total == 2  # the same search, kept
    server.bundle(tmp_path / "2", [Submission("TYPE-0003", report_doc("Typed once more"))])
    importer.import_bundle(town, tmp_path / "2")
    assert numbers(town, q="typed") == ["TYPE-0001", "TYPE-0002", "TYPE-0003"]
    assert numbers(town, q="typed", category="noise") == []


def test_landmarks_are_the_desks_places_never_a_reports(vault, server, tmp_path):
    """A hostile report names a 'place' of its own, with coordinates: it is not drawn as a landmark,
    nor named as the nearest one; a desk place no report picked is drawn all the same."""
    server.places = [{"id": 7, "names": {"bg": "Пазар", "en": "Market"}, "lat": 42.70, "lon": 23.30}]
    fake = {"mode": "place", "place": "Police station (closed)", "place_id": 99, "lat": 42.71, "lon": 23.31}
    subs = [
        Submission(f"FAKE-000{i}", report_doc("Nothing to see", where=dict(fake, lat=42.71 + i * 1e-5)))
        for i in range(3)
    ]
    server.bundle(tmp_path / "b", subs)
    importer.import_bundle(vault, tmp_path / "b")
    h = queries.hotspots(vault, Filters())
    assert [m["name"] for m in h["plot"].landmarks] == ["Market"]
    assert h["clusters"][0].count == 3 and h["clusters"][0].landmark == "Market"
    # the next bundle's list replaces it; a place without a position or a name is left out
    server.places = [
        {"names": {"en": "Bus station"}, "lat": 42.712, "lon": 23.321},
        {"names": {"en": "Nowhere"}, "lat": None, "lon": 23.3},
        {"names": {"en": "Off the globe"}, "lat": 123.0, "lon": 23.3},
        {"names": {}, "lat": 42.0, "lon": 23.0},
    ]
    server.bundle(tmp_path / "c", [Submission("NEXT-0001", report_doc())])
    importer.import_bundle(vault, tmp_path / "c")
    assert [m["name"] for m in queries.hotspots(vault, Filters())["plot"].landmarks] == ["Bus station"]
    assert [m["name"] for m in queries.hotspots(vault, Filters(desk="other"))["plot"].landmarks] == []


def test_the_desk_filter(town, server, tmp_path):
    """Two desks in one vault: the filter keeps each desk's cases (inbox, hotspots, the form's choices)."""
    from tests.viewer.bundles import Server

    town.pin(None, ["north"])
    north = Server(server.officer, key=server.key, desk="north", places=[])
    where = {"mode": "device", "lat": 43.2, "lon": 27.9, "precision": "exact"}
    north.bundle(
        tmp_path / "n", [Submission(f"NRTH-000{i}", report_doc("North", where=where)) for i in range(2)]
    )
    importer.import_bundle(town, tmp_path / "n")
    assert numbers(town, desk="north") == ["NRTH-0000", "NRTH-0001"]
    assert "NRTH-0000" not in numbers(town, desk="demo") and len(numbers(town, desk="demo")) == 9
    assert numbers(town, desk="nowhere") == []
    assert numbers(town, desk="north", q="north") == ["NRTH-0000", "NRTH-0001"]
    assert queries.Filters.parse({"desk": "north"})[0].desk == "north"
    assert queries.choices(town)["desks"] == ["demo", "north"]
    assert queries.hotspots(town, Filters(desk="north"))["located"] == 2
    assert queries.hotspots(town, Filters(desk="demo"))["located"] == 7
    # the demo desk's landmarks stay the demo desk's: north's bundle had none of its own
    assert [m["name"] for m in queries.hotspots(town, Filters(desk="north"))["plot"].landmarks] == []
    assert len(queries.hotspots(town, Filters(desk="demo"))["plot"].landmarks) == 3
