"""bench/load.py's reporter: the report page with the challenge it carries, a JS report as report.mjs
sends it (sealed, its proof of work solved), what counts as filed, and the normal reporter's visit,
timed step by step. Used by the load's own process and by its client processes (bench/swarm.py).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from bench._util import BenchError, all_at_once
from bench.client import (
    CASE_NUMBER,
    DESK,
    FORM_TOKEN,
    RECEIPT_CASE_NUMBER,
    Answer,
    Page,
    api_headers,
    once,
    page_script,
    report_form,
)

REPORT_TEXT = "A grey hatchback waits behind the school gym every weekday; packets change hands."


# -------------------------------------------------------------------------------------------- page


@dataclass(frozen=True)
class Opened:
    """The report page as a browser got it: its tokens and keys, the challenge it carries, and how long."""

    page: Page
    challenge: dict
    seconds: float


def open_page(port: int) -> Opened:
    import crypto

    answer = once(port, "GET", f"/r/{DESK}?lang=en")
    if answer.status != 200:
        raise BenchError(f"GET /r/{DESK}: HTTP {answer.status}")
    html = answer.body.decode()
    data = json.loads(page_script(html, "page-data"))
    category = next(k for k, v in data["categories"].items() if v["slug"] == "drugs")
    token = FORM_TOKEN.search(html)
    if token is None:
        raise BenchError(f"/r/{DESK}: no form token")
    keys = [
        crypto.RecipientKey(bytes.fromhex(h))
        for h in json.loads(page_script(html, "recipient-keys"))[category]
    ]
    return Opened(Page(token.group(1), data["csrf"], category, keys), data["challenge"], answer.seconds)


# ------------------------------------------------------------------------------------ JS reports


def sealed_report(page: Page) -> bytes:
    """A sealed report document, as report.mjs seals one (its words are never printed)."""
    import crypto

    doc = {"format": "sealdrop-report/1", "kind": "report", "what": REPORT_TEXT}
    return crypto.seal_bytes(json.dumps(doc).encode(), page.keys)


def solve(challenge: dict) -> dict:
    from tests.helpers import proof_of_work

    return proof_of_work(challenge)


def report_call(page: Page, pow_solution: object) -> dict:
    """The fields of a report call with a new receipt (which stays in this process, unprinted)."""
    import crypto

    receipt = crypto.Receipt.generate()
    call = {"category": int(page.category), "lookup_id": base64.b64encode(receipt.lookup_id).decode(),
            "reply_public": base64.b64encode(receipt.reply_recipient.public_bytes).decode()}  # fmt: skip
    return call if pow_solution is None else call | {"pow": pow_solution}


def whole_body(page: Page, envelope: bytes, pow_solution: object) -> bytes:
    """The one-request report (dropbox/api.py `_submit_whole`): length, the call's JSON, the envelope."""
    meta = json.dumps(report_call(page, pow_solution) | {"sizes": [len(envelope)]}).encode()
    return len(meta).to_bytes(4, "big") + meta + envelope


def send_whole(port: int, page: Page, envelope: bytes, pow_solution: object) -> Answer:
    body = whole_body(page, envelope, pow_solution)
    return once(port, "POST", f"/api/{DESK}/reports", body, api_headers(page, "application/octet-stream"))


def fresh_challenge(port: int, page: Page) -> dict:
    return once(port, "GET", f"/api/{DESK}/challenge?lang=en", headers=api_headers(page)).json()


def filed(answer: Answer) -> bool:
    """A JS report call that gave a case number, or a no-JS post that showed the receipt page."""
    if answer.status == 201:
        return CASE_NUMBER.fullmatch(str(answer.json().get("case_number", ""))) is not None
    return answer.status == 200 and RECEIPT_CASE_NUMBER.search(answer.body) is not None


# ------------------------------------------------------------------------ the normal reporter


@dataclass
class Visit:
    """One normal reporter: page, the queue probe, a no-JS report and a JS report, each timed."""

    page_s: float = 0.0
    probe_s: float = 0.0
    form_s: float = 0.0
    solve_s: float = 0.0
    js_s: float = 0.0
    form: str = ""
    js: str = ""
    retry_after: list[int] = field(default_factory=list)
    at_s: float | None = None  # when it started, in seconds after the load did

    @property
    def receipt_s(self) -> float:
        """Send to receipt on the JS path when the proof of work was still running at Send."""
        return self.solve_s + self.js_s


def visit(port: int) -> Visit:
    found = Visit()
    opened = open_page(port)
    found.page_s = opened.seconds
    found.probe_s = once(port, "GET", f"/api/{DESK}/csrf").seconds
    form = report_form(opened.page)
    posted = once(port, "POST", f"/r/{DESK}", form.body, {"Content-Type": form.content_type})
    found.form_s, found.form = posted.seconds, "stored" if filed(posted) else posted.label
    js_report(port, opened, found)
    return found


def js_report(port: int, opened: Opened, found: Visit) -> None:
    """What report.mjs does: solve the page's challenge, send; a stale or expired one is solved afresh
    and the same report sent again. A 429 is left as it is: the page would wait `retry_after`."""
    envelope, challenge = sealed_report(opened.page), opened.challenge
    for _ in range(3):
        started = time.perf_counter()
        solution = solve(challenge)
        found.solve_s += time.perf_counter() - started
        answer = send_whole(port, opened.page, envelope, solution)
        found.js_s += answer.seconds
        if answer.code not in ("pow_stale", "pow_expired"):
            break
        challenge = fresh_challenge(port, opened.page)
    found.js = "stored" if filed(answer) else answer.label
    if answer.status == 429:
        found.retry_after.append(int(answer.json().get("retry_after", 0)))


def visits_at(port: int, start: float, offsets: Sequence[float]) -> list[Visit]:
    """A visit at each of `offsets` seconds after `start`, each on a thread of its own: a visit kept
    waiting does not hold back the next one (they are different reporters)."""

    def visit_at(offset: float) -> Visit:
        time.sleep(max(0.0, start + offset - time.monotonic()))
        began = time.monotonic() - start
        return replace(visit(port), at_s=began)

    return all_at_once(offsets, visit_at)
