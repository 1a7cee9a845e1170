"""Blobs a crash left without a row (placed, then killed before the commit) are swept once two days
old, and no other blob is: not a named one, and not one still on its way to its commit."""

import os
import time

from dropbox.blobs import ORPHAN_MIN_DAYS, FileBlobStore


def put(store: FileBlobStore, data: bytes, days_ago: float = 0) -> str:
    with store.writer() as w:
        w.write(data)
    if days_ago:
        then = time.time() - days_ago * 86400
        os.utime(store.path(w.blob_id), (then, then))
    return w.blob_id


def test_only_old_unnamed_blobs_are_swept(tmp_path):
    store = FileBlobStore(tmp_path / "blobs")
    in_flight = put(store, b"placed a moment ago, its commit still to come")
    asked = []

    def referenced():
        asked.append(True)
        return {named}

    assert store.sweep_orphans(referenced) == 0
    assert asked == []  # with nothing old enough, the database is not asked at all
    orphan = put(store, b"sealed, never committed", days_ago=ORPHAN_MIN_DAYS + 1)
    named = put(store, b"sealed and committed", days_ago=ORPHAN_MIN_DAYS + 1)
    assert store.sweep_orphans(referenced) == 1
    assert (store.exists(orphan), store.exists(named), store.exists(in_flight)) == (False, True, True)
    assert store.sweep_orphans(referenced) == 0
