"""DIR/onion/status.json as a running server writes it: per onion its address and the counts of its
descriptors, which `onion status` turns into words in the operator's language; no words of its own."""

import json

import onion
from dropbox import onion_words
from onion import status

ADDRESS = "a" * 56 + ".onion"


def uploads_answered() -> onion.OnionService:
    """A desk onion whose tor built both descriptors, sent them to three directories and heard back
    from two of them: one accepted, one refused."""
    service = onion.OnionService("desk", ADDRESS, True, 2, lambda: None)
    service._note("CREATED", "", "current", None)  # as tor's event thread reports HS_DESC
    service._note("CREATED", "", "next", None)
    for hsdir, descriptor in (("$A", "current"), ("$B", "next"), ("$C", "next")):
        service._note("UPLOAD", hsdir, descriptor, None)
    service._note("UPLOADED", "$A", None, None)
    service._note("FAILED", "$B", None, "UPLOAD_REJECTED")
    return service


def test_the_status_file_holds_the_counts_and_no_words(tmp_path):
    path = tmp_path / "status.json"
    status.write(path, "127.0.0.1:9051", [uploads_answered()])
    written = json.loads(path.read_text("utf-8"))
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert (written["running"], written["tor"]) == (True, "127.0.0.1:9051")
    assert written["services"]["desk"] == {
        "address": ADDRESS,
        "pow": True,
        "clients": 2,
        "descriptors": 2,
        "published": 1,
        "uploaded": 1,
        "failed": 1,
        "pending": 1,
        "reason": "UPLOAD_REJECTED",
        "state": "publishing",
        "settled": False,
    }
    # what `onion status` says of it, in English the same as onion/'s own description
    publication = uploads_answered().publication()
    assert onion_words.publication_words(written["services"]["desk"]) == publication.describe()


def test_a_stopped_server_says_so_in_the_file(tmp_path):
    path = tmp_path / "status.json"
    status.write(path, "127.0.0.1:9051", [uploads_answered()], running=False)
    assert status.read(path)["running"] is False
    assert status.read(tmp_path / "never-written.json") is None
