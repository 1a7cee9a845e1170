"""Bounded resources (issue 12, item 2), through a real `sealdrop serve`:

- uploads are capped per desk and overall, in count and in bytes declared: past a cap the API answers
  503 {"error": "uploads_full"} with Retry-After (upload.mjs retries a 503), the declared total stays
  within the budget and the disk never holds more than it; abandoned uploads are swept on the short
  clock once a cap is under pressure;
- pictures are decoded at most `max_decodes` at a time: eight 40-megapixel PNGs at once each get a
  report or a "busy, try again" page (503, Retry-After, the typed text back), never a 500, and the
  served process's peak memory stays under what N decodes need.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import threading
from pathlib import Path

from PIL import Image
from sqlalchemy import select, update

from dropbox import config, create_app, db, intake, scrub
from dropbox.models import Submission, today
from tests.dropbox.conftest import Reporter
from tests.dropbox.test_quiet import Answer, Served, serving
from tests.helpers import jpeg_with_exif, make_instance

GIB = 1024**3
MIB = 1024**2


def instance_with(root: Path, **settings) -> Path:
    """A demo instance whose config.json holds `settings`."""
    instance = make_instance(root / "instance")
    config.save(config.load(instance).with_overrides(**settings))
    return instance


def start_upload(served: Served, csrf: str, size: int, first_piece: bytes = b"") -> Answer:
    """Half the starts as the JSON call, half as a first piece under an id the browser chose."""
    if first_piece:
        path = f"/api/demo/uploads/{secrets.token_hex(16)}?offset=0&size={size}"
        return served.api("PUT", path, csrf, first_piece)
    return served.api("POST", "/api/demo/uploads", csrf, {"size": size})


def part_bytes(instance: Path) -> int:
    return sum(p.stat().st_size for p in (instance / "blobs" / "uploads").glob("*.part"))


def assert_refused_as_full(answer: Answer) -> None:
    assert answer.status == 503, answer.text
    assert answer.json()["error"] == "uploads_full"
    assert int(answer.headers["retry-after"]) > 0


def test_two_hundred_gigabyte_starts_are_refused_past_the_caps(tmp_path):
    budget = 5 * GIB
    instance = instance_with(tmp_path, max_upload_bytes_per_desk=budget, max_upload_bytes=8 * GIB,
                             max_open_uploads_per_desk=150, upload_pressure_idle_s=3600)  # fmt: skip
    with serving(instance, tmp_path) as served:
        _, _, csrf = served.form()
        answers = [start_upload(served, csrf, GIB, b"x" * (i % 2)) for i in range(200)]
    admitted = [a for a in answers if a.status in (200, 201)]
    assert len(admitted) == budget // GIB  # every byte of the desk's budget, and not one start more
    for refused in answers[len(admitted) :]:
        assert_refused_as_full(refused)
    assert len(admitted) * GIB <= budget
    assert part_bytes(instance) <= budget


def test_the_disk_never_holds_more_than_the_byte_budget(tmp_path):
    budget, size, piece = 12 * MIB, 4 * MIB, MIB
    instance = instance_with(tmp_path, max_upload_bytes=budget, max_upload_piece=piece)
    with serving(instance, tmp_path) as served:
        _, _, csrf = served.form()
        ids = [
            served.api("POST", "/api/demo/uploads", csrf, {"size": size}).json().get("id") for _ in range(5)
        ]
        assert None not in ids[:3] and ids[3:] == [None, None]  # three fit in 12 MiB, the rest do not
        for upload_id in ids[:3]:
            for offset in range(0, size + piece, piece):  # one piece more than it declared
                answer = served.api(
                    "PUT", f"/api/demo/uploads/{upload_id}?offset={offset}", csrf, os.urandom(piece)
                )
                assert answer.status == (200 if offset < size else 413), answer.text
                assert part_bytes(instance) <= budget
            assert_refused_as_full(start_upload(served, csrf, MIB))
    assert part_bytes(instance) == budget


def test_abandoned_uploads_are_swept_sooner_under_pressure(tmp_path):
    instance = instance_with(tmp_path, max_open_uploads=4, upload_pressure=0.5, upload_pressure_idle_s=2)
    with serving(instance, tmp_path) as served:
        _, _, csrf = served.form()
        first = [start_upload(served, csrf, MIB) for _ in range(4)]
        assert [a.status for a in first] == [201] * 4
        assert_refused_as_full(start_upload(served, csrf, MIB))
        abandoned = instance / "blobs" / "uploads"
        for part in abandoned.glob("*.part"):  # nobody has written to them for an hour
            os.utime(part, (part.stat().st_atime - 3600, part.stat().st_mtime - 3600))
        threading.Event().wait(2.5)  # the short clock's own interval between sweeps
        again = start_upload(served, csrf, MIB)
        assert again.status == 201, again.text
        assert len(list(abandoned.glob("*.part"))) == 1  # the four abandoned ones are gone


# --- pictures decoded at most N at a time -----------------------------------------------------------

MEGAPIXELS_40 = (7300, 5470)
BYTES_PER_PIXEL_DECODING = 15  # five RGB copies at the worst moment of a re-encode (scrub docstring)
HEADROOM = 300 * MIB  # eight request bodies, sealing, the interpreter's own churn


def flat_png(colour: tuple[int, int, int]) -> bytes:
    """40 megapixels of one colour: a few hundred KB on disk, 120 MB once decoded."""
    out = io.BytesIO()
    Image.new("RGB", MEGAPIXELS_40, colour).save(out, "PNG", compress_level=9)
    return out.getvalue()


def peak_rss(pid: int) -> int:
    """The process's high-water resident set (VmHWM), in bytes."""
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def test_eight_huge_pictures_at_once_are_decoded_two_at_a_time(tmp_path):
    decodes = 2
    instance = instance_with(tmp_path, max_decodes=decodes, decode_wait_s=2.0)
    photo = flat_png((40, 90, 160))
    assert len(photo) < 1 * MIB
    with serving(instance, tmp_path) as served:
        served.report("warm up", [])  # imports, templates and the first seal, before the baseline
        before = peak_rss(served.process.pid)
        answers: list[Answer] = []
        senders = [
            threading.Thread(target=lambda i=i: answers.append(
                served.report(f"Eight at once {i}", [(f"big{i}.png", "image/png", photo)])))
            for i in range(8)
        ]  # fmt: skip
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        peak = peak_rss(served.process.pid)
    assert len(answers) == 8
    assert all(a.status in (200, 503) for a in answers), [a.status for a in answers]
    stored = [a for a in answers if a.status == 200]
    busy = [a for a in answers if a.status == 503]
    assert stored, "at least the first pictures to get a turn are filed"
    assert all('id="receipt"' in a.text for a in stored)
    for answer in busy:  # the reporter reads why, and what they typed is still in the form
        assert int(answer.headers["retry-after"]) > 0
        assert "Eight at once" in answer.text and "Many photos are being sent just now" in answer.text
    budget = decodes * BYTES_PER_PIXEL_DECODING * MEGAPIXELS_40[0] * MEGAPIXELS_40[1] + HEADROOM
    assert peak - before < budget, f"peak grew by {(peak - before) // MIB} MiB, budget {budget // MIB} MiB"


def test_an_addition_without_a_turn_to_decode_comes_back_busy(tmp_path):
    """The no-JS add form, while every decoding turn is taken: 503 with Retry-After, what was typed
    back in the form, nothing added; with the turn free again the same addition goes through."""
    app = create_app(config.load(instance_with(tmp_path, max_decodes=1, decode_wait_s=0.2)))
    client, reporter = app.test_client(), Reporter(app.test_client())
    receipt = re.search(r'id="receipt">([^<]+)<', reporter.submit().get_data(as_text=True)).group(1)
    token = re.search(
        r'name="case_token" value="([^"]+)"', reporter.check(receipt).get_data(as_text=True)
    ).group(1)

    def add():
        photo = (io.BytesIO(jpeg_with_exif()), "b.jpg", "image/jpeg")
        return client.post("/r/demo/add?lang=en", data={"case_token": token, "what": "He came back today",
                           "files": [photo]}, content_type="multipart/form-data")  # fmt: skip

    with app.app_context():
        gate = scrub._app_gate()
    with gate.turn("held by the test"):
        busy = add()
    assert busy.status_code == 503 and int(busy.headers["Retry-After"]) > 0
    assert "He came back today" in busy.get_data(as_text=True)
    assert "Many photos are being sent just now" in busy.get_data(as_text=True)
    added = add()
    assert added.status_code == 200 and 'id="added"' in added.get_data(as_text=True)
    app.extensions["sealdrop.engine"].dispose()


def test_two_serve_processes_on_one_instance_never_share_out_more_than_the_cap(tmp_path):
    """Starts sent at once to two `sealdrop serve` processes on the same database: the count and the
    new upload are one step across processes too (db.lock_for_writing), so exactly the cap is let in."""
    cap = 10
    instance = instance_with(tmp_path, max_open_uploads_per_desk=cap)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with serving(instance, tmp_path / "a") as first, serving(instance, tmp_path / "b") as second:
        servers = [(first, first.form()[2]), (second, second.form()[2])]
        answers: list[Answer] = []
        go = threading.Barrier(3 * cap)

        def start(i: int) -> None:
            served, csrf = servers[i % 2]
            go.wait()
            answers.append(start_upload(served, csrf, MIB, b"x" * (i % 3 == 0)))

        threads = [threading.Thread(target=start, args=(i,)) for i in range(3 * cap)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len([a for a in answers if a.status in (200, 201)]) == cap
    for refused in (a for a in answers if a.status not in (200, 201)):
        assert_refused_as_full(refused)
    assert len(list((instance / "blobs" / "uploads").glob("*.part"))) == cap


def held_in_blob_store(instance: Path) -> int:
    """Bytes of ciphertext in the blob store, filed and uploading."""
    return sum(p.stat().st_size for p in (instance / "blobs").rglob("*") if p.is_file())


def test_an_outsider_cannot_make_the_store_hold_more_than_its_budget(tmp_path):
    """Past max_stored_bytes_per_desk every path waits (503 store_full with an hour's retry_after, or
    the no-JS form back filled in) and nothing more is stored, however the reports are paid for; once
    retention has deleted what the officers imported, there is room again."""
    from tests.dropbox.test_api import Api
    from tests.dropbox.test_pow import fresh, whole
    from tests.helpers import proof_of_work

    instance = make_instance(tmp_path / "instance")
    budget = held_in_blob_store(instance) + 70_000  # room for four (envelopes are padded to 16 KiB)
    config.save(config.load(instance).with_overrides(max_stored_bytes_per_desk=budget))
    app = create_app(config.load(instance))
    api, reporter = Api(app.test_client()), Reporter(app.test_client())
    statuses: list[int] = []
    while 503 not in statuses and len(statuses) < 200:
        answer = whole(api, proof_of_work(fresh(api)))
        statuses.append(answer.status_code)
    assert set(statuses[:-1]) == {201} and len(statuses) > 3, statuses  # filed until the store was full
    assert answer.json["error"] == "store_full" and answer.json["retry_after"] == 3600
    assert answer.headers["Retry-After"] == "3600"
    form = reporter.submit(fields={"what": "what I saw, at length " * 200})
    assert form.status_code == 429 and "what I saw, at length" in form.get_data(as_text=True)  # kept
    assert held_in_blob_store(instance) <= budget
    with app.app_context():  # what retention does once the viewer has confirmed an import
        session = db.session()
        session.execute(update(Submission).values(deleted_day=today()))
        for desk_id, size in session.execute(select(Submission.desk_id, Submission.size)).all():
            intake.add_stored(session, desk_id, -size)  # retention moves the desk's running total too
        session.commit()
    assert whole(api, proof_of_work(fresh(api))).status_code == 201
    app.extensions["sealdrop.engine"].dispose()
