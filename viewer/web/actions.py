"""What the officer does from the UI: POST forms, each answered by a redirect back (no JavaScript).

A case's forms carry the inbox's filters in their address, so the page they lead back to still knows
its place in that list (next, previous, "n of N").
"""

from __future__ import annotations

from flask import Blueprint, redirect, request, url_for

from .. import forward, queries, recipients, triage
from ..errors import Refused
from ..i18n import _
from . import vault

bp = Blueprint("actions", __name__)
MAX_BULK = 10_000  # cases one bulk change may touch ("all N in this filter")


def _filters() -> queries.Filters:
    return queries.Filters.parse(request.args)[0]


def _queue_args(then_next: bool) -> dict[str, str]:
    """The inbox's filters, and whether the officer moves on to the next case after each state."""
    return {**_filters().args(), **({"then": "next"} if then_next else {})}


def _back(number: str, done: str):
    args = _queue_args(request.args.get("then") == "next")
    return redirect(url_for("pages.case", number=number, done=done, _anchor=done, **args), 303)


@bp.post("/case/<number>/state")
def state(number: str):
    """Set the state; with "then open the next case" ticked, go on to the next case in the filter."""
    v = vault()
    triage.set_state(
        v, number, request.form.get("state", ""), request.form.get("duplicate_of", "").strip() or None
    )
    then_next = request.form.get("then") == "next"
    following = queries.position(v, _filters(), number).next if then_next else None
    args = _queue_args(then_next)
    if following is None:  # not asked, or the last case of the list: stay
        return redirect(
            url_for("pages.case", number=number.upper(), done="triage", _anchor="triage", **args), 303
        )
    return redirect(url_for("pages.case", number=following, done="moved", moved=number.upper(), **args), 303)


@bp.post("/case/<number>/note")
def note(number: str):
    triage.add_note(vault(), number, request.form.get("text", ""))
    return _back(number.upper(), "notes")


@bp.post("/case/<number>/reply")
def reply(number: str):
    triage.reply(vault(), number, request.form.get("text", ""), request.form.get("status") or None)
    return _back(number.upper(), "replies")


@bp.post("/case/<number>/forward")
def forward_case(number: str):
    """Seal the case file to a police recipient chosen from the vault's list (by fingerprint)."""
    v = vault()
    chosen = request.form.get("recipient", "").strip()
    if not chosen:
        raise Refused("bad_key", _("choose a police recipient from the list"))
    kept = recipients.find(v, chosen[:60])
    forward.forward(v, number, kept.key, kept.name)
    return _back(number.upper(), "forwards")


@bp.post("/recipients")
def add_recipient():
    """Keep a police recipient: their .pub file uploaded (or its text pasted), and a name."""
    upload = request.files.get("key_file")
    text = upload.read(recipients.MAX_KEY_FILE + 1).decode("utf-8", "replace") if upload else ""
    text = text if text.strip() else request.form.get("key_text", "")
    if not text.strip():
        raise Refused("bad_key", _("choose the recipient's .pub file"))
    key = recipients.parse_key(text)
    kept = recipients.add(vault(), key, request.form.get("name", ""))
    back = request.form.get("case", "").strip()[:20]
    if back:
        return redirect(url_for("pages.case", number=back, done="forwards", _anchor="forwards"), 303)
    return redirect(url_for("pages.police_recipients", added=kept.fingerprint), 303)


@bp.post("/bulk")
def bulk():
    """One state for many cases of the inbox: the ticked ones, or every case the filters take in."""
    v = vault()
    filters = _filters()
    if request.form.get("scope") == "all":
        numbers = queries.numbers(v, filters, MAX_BULK + 1)
        if len(numbers) > MAX_BULK:
            raise Refused("too_many", _("at most %(n)d cases at once: narrow the filters", n=MAX_BULK))
    else:
        numbers = request.form.getlist("case")[:MAX_BULK]
    state, duplicate_of = _bulk_state()
    done = triage.set_states(v, numbers, state, duplicate_of, tell=request.form.get("tell") == "yes")
    counts = {"changed": len(done.changed), "same": len(done.unchanged), "told": done.told}
    counts["untold"] = len(done.not_told)
    args = filters.args()
    return redirect(
        url_for("pages.inbox", **args, done="bulk", state=state, **counts, _anchor="bulk-done"), 303
    )


def _bulk_state() -> tuple[str, str | None]:
    """The state the bulk form asks for: "Close them", else the chosen state; a case number in
    "duplicate of" with no state chosen means Duplicate."""
    duplicate_of = request.form.get("duplicate_of", "").strip()[:20] or None
    if request.form.get("action") == "close":
        return "closed", None
    state = request.form.get("state", "")
    if not state and duplicate_of:
        state = "duplicate"
    if not state:
        raise Refused("bad_state", _("choose the state to give them"))
    if duplicate_of and state != "duplicate":
        raise Refused("bad_state", _("a case number in “duplicate of” goes only with the state Duplicate"))
    return state, duplicate_of


@bp.post("/replies/export")
def export_replies():
    desk = request.form.get("desk") or None
    path, _, _ = triage.export_replies(vault(), desk)
    return redirect(url_for("pages.replies", done=path.name), 303)
