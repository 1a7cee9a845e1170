"""Words sealview shows for the values it keeps: states, history entries, sizes, places.

The vault keeps them as codes or English msgids; they are translated when shown (the UI, the CLI, the
PDF), in the officer's language in force then (viewer/i18n.py). No Flask here: the CLI uses them too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from babel.numbers import format_decimal

from . import geo, i18n
from .i18n import N_, _, ngettext

_STATE_MSGIDS = {
    "new": N_("New"),
    "checking": N_("Checking"),
    "credible": N_("Credible"),
    "not credible": N_("Not credible"),
    "duplicate": N_("Duplicate"),
    "forwarded": N_("Forwarded"),
    "closed": N_("Closed"),
}
# What the history records (vault.history's `action`), in English in the vault, translated when shown.
HISTORY_ACTIONS = {
    "pinned server key": N_("pinned server key"),
    "added desk": N_("added desk"),
    "imported": N_("imported"),
    "imported bundle": N_("imported bundle"),
    "state": N_("state"),
    "note": N_("note"),
    "reply": N_("reply"),
    "reply sent": N_("reply sent"),
    "exported reply bundle": N_("exported reply bundle"),
    "forwarded": N_("forwarded"),
    "language": N_("language"),
    "added police recipient": N_("added police recipient"),
    "added colleague": N_("added colleague"),
    "exported state bundle": N_("exported state bundle"),
    "imported state bundle": N_("imported state bundle"),
    "rotated key": N_("rotated key"),
    "admitted key": N_("admitted key"),
    "seen key changes": N_("seen key changes"),
}


class _Labels(Mapping):
    """STATE_LABELS[state]: the state's name in the language in force, looked up when it is read."""

    def __getitem__(self, state: str) -> str:
        return _(_STATE_MSGIDS[state])

    def __iter__(self) -> Iterator[str]:
        return iter(_STATE_MSGIDS)

    def __len__(self) -> int:
        return len(_STATE_MSGIDS)


STATE_LABELS = _Labels()


def state_label(state: str | None) -> str:
    return STATE_LABELS[state] if state in _STATE_MSGIDS else str(state or "")


def action_label(action: str) -> str:
    return _(HISTORY_ACTIONS[action]) if action in HISTORY_ACTIONS else action


def event_text(text: str) -> str:
    """ "action: detail" as queries.dashboard joins them, with the action translated."""
    action, sep, detail = str(text or "").partition(": ")
    return action_label(action) + sep + detail


# What the reporter reads for each status (dropbox/i18n.py statuses(), the same words).
REPORTER_WORDS = {
    "received": N_("Received"),
    "checking": N_("Being checked"),
    "credible": N_("Confirmed"),
    "not credible": N_("Could not be confirmed"),
    "duplicate": N_("Already reported"),
    "forwarded": N_("Forwarded to the police"),
    "closed": N_("Closed"),
}


def word_label(word: str | None) -> str:
    """A status as the reporter reads it ("checking" is "Being checked"), in the language in force."""
    if word in REPORTER_WORDS:
        return _(REPORTER_WORDS[word])
    return state_label(word)  # a vault from before replies carried the reporter's word


_STATES = "|".join(re.escape(s) for s in _STATE_MSGIDS)
_WORDS = "|".join(re.escape(w) for w in REPORTER_WORDS)


def _imported(m: re.Match) -> str:
    if m["kind"] == "report":
        return _("report from export bundle %(desk)s #%(n)s", desk=m["desk"], n=m["n"])
    return _("addition from export bundle %(desk)s #%(n)s", desk=m["desk"], n=m["n"])


def _reply(m: re.Match) -> str:
    shown = _("status shown: %(word)s", word=_(REPORTER_WORDS[m["word"]])) if m["word"] else ""
    return " ".join(filter(None, [shown, _("(status only, no text)") if m["only"] else ""]))


# The history's details as the vault writes them (in English, with data in them), read back so that
# they can be said in the officer's language. A detail of another shape is shown as it is.
_DETAILS = {
    "imported": (r"(?P<kind>report|addition) from export bundle (?P<desk>\S+) #(?P<n>\d+)", _imported),
    "imported bundle": (
        r"(?P<desk>\S+) #(?P<n>\d+): (?P<num>\d+) report\(s\)",
        lambda m: f"{m['desk']} #{m['n']}: " + ngettext("%(num)d report", "%(num)d reports", int(m["num"])),
    ),
    "state": (
        rf"(?P<state>{_STATES})(?: of (?P<of>\S+))?",
        lambda m: (
            _("%(state)s of %(case)s", state=state_label(m["state"]), case=m["of"])
            if m["of"]
            else state_label(m["state"])
        ),
    ),
    "note": (
        r"(?P<num>\d+) characters",
        lambda m: ngettext("%(num)d character", "%(num)d characters", int(m["num"])),
    ),
    "reply": (rf"(?:status shown: (?P<word>{_WORDS}))? ?(?P<only>\(status only, no text\))?", _reply),
    "reply sent": (
        r"in reply bundle (?P<desk>\S+) #(?P<n>\d+)",
        lambda m: _("in reply bundle %(desk)s #%(n)s", desk=m["desk"], n=m["n"]),
    ),
    "exported reply bundle": (
        r"(?P<desk>\S+) #(?P<n>\d+): (?P<num>\d+) reply\(ies\)",
        lambda m: f"{m['desk']} #{m['n']}: " + ngettext("%(num)d reply", "%(num)d replies", int(m["num"])),
    ),
    "forwarded": (
        r"to (?P<name>.*) \((?P<fp>[0-9 ]+)\)",
        lambda m: _("to %(name)s (%(fp)s)", name=m["name"], fp=m["fp"]),
    ),
    "language": (r"(?P<code>bg|ru|kk|en)", lambda m: i18n.NAMES[m["code"]]),
    "exported state bundle": (
        r"(?P<desk>\S+) #(?P<n>\d+) to (?P<names>.*)",
        lambda m: _("%(desk)s #%(n)s to %(names)s", desk=m["desk"], n=m["n"], names=m["names"]),
    ),
    "imported state bundle": (
        r"(?P<desk>\S+) #(?P<n>\d+) from (?P<name>.*)",
        lambda m: _("%(desk)s #%(n)s from %(name)s", desk=m["desk"], n=m["n"], name=m["name"]),
    ),
}


def detail_text(detail: str, action: str) -> str:
    """A history entry's detail in the language in force, when it has one of the shapes we write."""
    shape = _DETAILS.get(action)
    m = re.fullmatch(shape[0], detail or "") if shape else None
    return shape[1](m) if m else str(detail or "")


def history_text(action: str, detail: str) -> str:
    """ "action: detail", both in the language in force."""
    shown = detail_text(detail, action)
    return f"{action_label(action)}: {shown}" if shown else action_label(action)


# Vault.actor of an officer who set no name. The vault keeps it in English (statebundle.py and
# keytrust.py read it back as written), so it is translated where it is shown.
_UNNAMED_OFFICER = re.compile(r"officer ([0-9 ]{20,40})")


def actor_text(actor: str | None) -> str:
    """Who wrote a note, changed a state or forwarded a case, in the language in force: a name and
    fingerprint as the vault recorded them, or for an officer with no name, "officer <fingerprint>"."""
    m = _UNNAMED_OFFICER.fullmatch(actor or "")
    if m is None:
        return actor or ""
    # TRANSLATORS: who did something in a case's history (a note, a state, a reply, a forwarding) when
    # that officer set no name: the word for an officer, nominative, then their key's fingerprint.
    return _("officer %(fingerprint)s", fingerprint=m[1])


def human_size(n: int | None) -> str:
    if n is None:
        return _("unknown size")
    units = (N_("%(n)s bytes"), N_("%(n)s KB"), N_("%(n)s MB"), N_("%(n)s GB"))
    for i, unit in enumerate(units):
        if n < 1000 or i == len(units) - 1:
            number = f"{n:.0f}" if i == 0 else _decimal(n)
            return _(unit, n=number)
        n /= 1000
    return ""


def _decimal(x: float) -> str:
    """One decimal, with the language's decimal sign (a comma in bg, ru, kk)."""
    return format_decimal(round(x, 1), "0.0", locale=i18n.current())


def where_text(where: dict) -> str:
    mode = where.get("mode")
    parts = []
    if mode == "typed":
        parts.append(_("typed by the reporter: “%(text)s”", text=where.get("text", "")))
    if mode == "place":
        parts.append(_("landmark: %(place)s", place=where.get("place", "")))
    if where.get("lat") is not None:
        coords = geo.shown_coordinates(where["lat"], where["lon"], where.get("precision"))
        precision = geo.precision_text(where.get("precision", "place"))
        accuracy = where.get("accuracy_m")
        if isinstance(accuracy, float | int) and accuracy:
            shown = _("%(coords)s (%(precision)s, accuracy about %(metres)s m)",
                      coords=coords, precision=precision, metres=f"{accuracy:.0f}")  # fmt: skip
        else:
            shown = _("%(coords)s (%(precision)s)", coords=coords, precision=precision)
        parts.append(shown)
    return "; ".join(parts) or _("not given")


# What the report says about an attachment's metadata ("removed", "kept"); anything else is unknown.
METADATA = {"removed": N_("removed"), "kept": N_("kept"), "unknown": N_("unknown")}
# Sentences import.py keeps in the vault about a report or its attachments, in English; shown translated.
STORED = (
    N_("This report is sealed to other officers, not to you."),
    N_("The report document is larger than 32 MiB and was not stored."),
    N_("The bundle holds no report document for this submission."),
    N_("A new report arrived as an addition to an existing case."),
    N_(
        "The server's reply key for this case differs from the one sealed in the report: replies to it are "
        "held back until this is explained."
    ),
    N_(
        "This report is also sealed to a key that the desk does not list among its recipients: someone "
        "outside the desk may be able to read it. Ask the desk's operator which key it is."
    ),
    N_("Sealed to other officers, not to you."),  # an attachment's (streaming.py)
)
# Sentences import keeps with data in them (filing.py, importer.py, streaming.py), read back by their
# shape so that they too are said in the officer's language. `why` is crypto's technical reason.
_STORED_SHAPES = (
    (
        r"The report names desk (?P<named>.+), but arrived in the bundle of (?P<desk>.+)\.",
        lambda m: _("The report names desk %(named)s, but arrived in the bundle of %(desk)s.",
                    named=m["named"], desk=m["desk"]),
    ),
    (
        r"This addition names case (?P<case>\S+), but the server filed it here\.",
        lambda m: _("This addition names case %(case)s, but the server filed it here.", case=m["case"]),
    ),
    (
        r"The report lists (?P<listed>\d+) attachment\(s\); (?P<arrived>\d+) arrived\.",
        lambda m: ngettext("The report lists %(num)d attachment; %(arrived)d arrived.",
                           "The report lists %(num)d attachments; %(arrived)d arrived.",
                           int(m["listed"]), arrived=int(m["arrived"])),
    ),
    (
        r"Attachment (?P<n>\d+) is not the file the report lists \(its SHA-256 differs\)\.",
        lambda m: _("Attachment %(n)d is not the file the report lists (its SHA-256 differs).",
                    n=int(m["n"])),
    ),
    (
        r"The report's envelope is damaged \((?P<why>[^()]*)\): whoever sealed it made it unreadable\.",
        lambda m: _("The report's envelope is damaged (%(why)s): whoever sealed it made it unreadable.",
                    why=m["why"]),
    ),
    (
        r"The envelope is damaged \((?P<why>[^()]*)\)\.",
        lambda m: _("The envelope is damaged (%(why)s).", why=m["why"]),
    ),
    (  # not stored: what queries.Filters.parse says about a status it dropped (FILTER_ERRORS has the rest)
        r"unknown status (?P<status>.+)",
        lambda m: _("unknown status %(status)s", status=m["status"]),
    ),
)  # fmt: skip


def stored_text(text: str | None) -> str:
    """A sentence the vault keeps in English about a report (a problem, a warning), or a filter error,
    in the language in force: a fixed one from the catalogue, one with data in it by its shape; anything
    else as it is."""
    text = text or ""
    for shape, say in _STORED_SHAPES:
        m = re.fullmatch(shape, text)
        if m:
            return say(m)
    return i18n.translated(text)


# What queries.Filters.parse says about a filter it dropped (in English there), shown translated.
FILTER_ERRORS = (
    N_("near: give latitude,longitude and a radius in metres"),
    N_("since: a date is written YYYY-MM-DD"),
    N_("until: a date is written YYYY-MM-DD"),
)
