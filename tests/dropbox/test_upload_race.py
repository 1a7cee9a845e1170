"""Races on one upload (issue 12, item 4): pieces PUT at once to the same upload, through a real
`sealdrop serve`. One writer at a time holds the upload (uploads.Uploads.append: an exclusive lock on
the .part file, the row read under it), so the file's length is always the offset the server recorded
and no byte is written twice: of several pieces sent for one offset, one is written whole and the
others are answered as retries or refused.
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

from sqlalchemy import func, select

from crypto import Receipt
from dropbox import config, db, intake
from dropbox.blobs import FileBlobStore
from dropbox.models import Case, Category, Part
from tests.dropbox.test_quiet import Answer, Served, serving
from tests.helpers import make_instance

PIECE = 1024 * 1024  # sixteen of the server's 64 KiB copy chunks: unlocked writers interleave
ROUNDS = 16
WRITERS = 6


def put_at(served: Served, csrf: str, upload_id: str, offset: int, fill: int, answers: list[Answer]) -> None:
    answers.append(
        served.api("PUT", f"/api/demo/uploads/{upload_id}?offset={offset}", csrf, bytes([fill]) * PIECE)
    )


def race_one_offset(served: Served, csrf: str, upload_id: str, offset: int) -> list[Answer]:
    """WRITERS pieces for the same offset, each its own byte value, sent at the same moment."""
    answers: list[Answer] = []
    go = threading.Barrier(WRITERS)

    def writer(fill: int) -> None:
        go.wait()
        put_at(served, csrf, upload_id, offset, fill, answers)

    threads = [threading.Thread(target=writer, args=(fill,)) for fill in range(1, WRITERS + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_pieces_sent_at_once_are_written_once(tmp_path):
    instance = make_instance(tmp_path / "instance")
    with serving(instance, tmp_path) as served:
        _, _, csrf = served.form()
        upload_id = secrets.token_hex(16)
        size = ROUNDS * PIECE
        first = served.api("PUT", f"/api/demo/uploads/{upload_id}?offset=0&size={size}", csrf, b"\0" * PIECE)
        assert first.status == 200, first.text
        part = Path(instance) / "blobs" / "uploads" / f"{upload_id}.part"
        for round_ in range(1, ROUNDS):
            offset = round_ * PIECE
            answers = race_one_offset(served, csrf, upload_id, offset)
            assert all(a.status in (200, 409) for a in answers), [(a.status, a.text) for a in answers]
            recorded = served.api("GET", f"/api/demo/uploads/{upload_id}", csrf).json()["received"]
            assert recorded == offset + PIECE  # one piece taken, not one per writer
            assert part.stat().st_size == recorded
            written = part.read_bytes()[offset:]
            assert len(set(written)) == 1, "two writers' bytes mixed in one piece"
            assert written[0] in range(1, WRITERS + 1)


def test_the_same_no_js_form_filed_twice_at_once_opens_one_case(tmp_path):
    """intake.seal_then_file seals before it writes a row (the write section is the rows only), so two
    requests with the same form both seal; the form's claim lets one file and the other step back,
    deleting what it sealed: one case, one submission, and no orphan blob."""
    cfg = config.load(make_instance(tmp_path / "instance"))
    store = FileBlobStore(cfg.blob_dir)
    form_hash = secrets.token_bytes(32)
    outcomes: list[tuple[str, bool]] = []
    go = threading.Barrier(2)

    def file_once() -> None:
        with db.standalone_session(cfg.database_url) as session:
            category = next(c for c in session.scalars(select(Category)) if c.recipients())
            keys, desk = intake.recipients(category), category.target_desk
            go.wait()
            case, new = intake.seal_then_file(
                session, store, desk, keys, [b"the report"], Receipt.generate(), form_hash
            )
            outcomes.append((case.number, new))

    threads = [threading.Thread(target=file_once) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(new for _, new in outcomes) == [False, True]
    assert outcomes[0][0] == outcomes[1][0]  # the one that stepped back names the case that was filed
    with db.standalone_session(cfg.database_url) as session:
        assert session.scalar(select(func.count(Case.id))) == 1
        parts = session.scalars(select(Part)).all()
    assert len(parts) == 1 and parts[0].data is not None  # the report's document, kept in its row
    assert list(cfg.blob_dir.glob("??/*")) == []  # and the twin's copy went with its rolled-back rows
