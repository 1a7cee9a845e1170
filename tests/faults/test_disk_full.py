"""A full disk under a live `sealdrop serve`: its blob store on a tiny tmpfs (this needs root; the test
is skipped without it). Reporters send on every path until the store is full: every refused request
gets a 503 saying nothing was kept (not a 500), nothing is half-stored, every accepted report opens on
the viewer, and once there is space again the service goes on, resumable uploads from where they
stopped."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from dropbox import config
from tests.faults.checks import blobs_are_whole, open_on_viewer, receipts_sign_in
from tests.faults.clients import Refused, Submission
from tests.helpers import live_server, make_instance

# Every path that needs the blob store. A text report sent whole is kept in its rows (the database fills
# later than the store): tests/dropbox/test_small_envelopes.py refuses that one on a full database.
PATHS = ("nojs", "whole+photo", "pieces")
TINY = "256k"
REFUSALS_WANTED = 9  # at least this many refused requests, on every path, before space comes back
CASES_WITHOUT_SUBMISSIONS = (
    "SELECT count(*) FROM cases c WHERE NOT EXISTS (SELECT 1 FROM submissions s WHERE s.case_id = c.id)"
)
NOTHING_KEPT = "Nothing you sent was kept"  # the reporter's words for "try_again" (_messages.html)


def mount(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


def tmpfs(path: Path, size: str) -> None:
    if mount(["-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")


@pytest.fixture(params=["blob store", "whole instance"])
def full_disk(request, tmp_path):
    """An instance whose blob store, or whose whole folder (database included), is on a tmpfs with
    TINY bytes free: (instance, the mount point)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    if request.param == "blob store":
        instance = make_instance(tmp_path / "instance")
        point = config.load(instance).blob_dir
        tmpfs(point, TINY)
    else:
        point = tmp_path / "disk"
        point.mkdir()
        tmpfs(point, "64m")
        instance = make_instance(point / "instance")
        used_kib = (shutil.disk_usage(point).used >> 10) + int(TINY.rstrip("k"))
        assert mount(["-o", f"remount,size={used_kib}k", str(point)]).returncode == 0
    try:
        yield instance, point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def assert_refused_clearly(error: Refused) -> None:
    """A refusal is the storage-full 503, in the reporter's words or as the API's code."""
    answer = error.answer
    assert answer is not None and answer.status == 503, str(error)
    assert answer.headers.get("Retry-After")
    if answer.headers.get_content_type() == "application/json":
        assert json.loads(answer.body) == {"error": "try_again"}
    else:
        assert NOTHING_KEPT in answer.text()


def nothing_half_stored(instance: Path, accepted: int) -> int:
    """Blobs whole, no writer's temporary file left, and a case for each accepted report only.
    Returns how many uploads are in progress (those a refused request left are swept later)."""
    blobs_are_whole(instance)
    assert list((instance / "blobs" / "incoming").iterdir()) == []
    engine = create_engine(config.load(instance).database_url)
    with engine.connect() as conn:
        cases = conn.execute(text("SELECT count(*) FROM cases")).scalar()
        empty = conn.execute(text(CASES_WITHOUT_SUBMISSIONS)).scalar()
        uploads = conn.execute(text("SELECT count(*) FROM uploads")).scalar()
    engine.dispose()
    assert (cases, empty) == (accepted, 0)
    return uploads


def test_a_full_disk_refuses_clearly_keeps_nothing_half_and_recovers(full_disk, tmp_path):
    instance, point = full_disk
    (tmp_path / "tmp").mkdir()
    accepted: list[Submission] = []
    waiting: list[Submission] = []  # refused while full: sent again once there is space
    refusals = dict.fromkeys(PATHS, 0)
    with live_server(instance, tmp_path / "tmp") as (base, _):
        index = 0
        while min(refusals.values()) < REFUSALS_WANTED:
            assert index < 400, f"the store never filled up: {refusals}"
            sub = Submission(index, PATHS[index % len(PATHS)])
            index += 1
            try:
                sub.send(base)
            except Refused as e:
                assert_refused_clearly(e)
                refusals[sub.path] += 1
                waiting.append(sub)
                continue
            accepted.append(sub)
        left_in_uploads = nothing_half_stored(instance, len(accepted))
        assert mount(["-o", "remount,size=64m", str(point)]).returncode == 0  # space is back
        for sub in waiting:
            sub.send(base)  # the same reporters again: the form resent, the uploads resumed
        accepted += waiting
        receipts_sign_in(base, accepted)
    nothing_half_stored(instance, len(accepted))
    cases = open_on_viewer(instance, tmp_path, accepted)
    print(
        f"\ndisk full ({TINY} free under the {point.name}): {index} submissions, "
        f"{len(accepted) - len(waiting)} accepted while filling, refused with a 503 {refusals}, "
        f"{len(waiting)} sent again after space came back, {len(accepted)} receipts signed in and "
        f"opened on the viewer ({cases} cases); {left_in_uploads} uploads in progress when full"
    )
    assert cases == len(accepted)
