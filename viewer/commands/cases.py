"""The commands on cases: `sealview list`, `show`, `open` (the UI), `triage`, `note` and `reply`."""

from __future__ import annotations

import argparse
import json
import sys

from crypto.cli import CliError

from .. import hidden, i18n, queries, triage
from ..i18n import N_, _, ngettext
from ..labels import (
    METADATA,
    actor_text,
    history_text,
    human_size,
    state_label,
    stored_text,
    where_text,
    word_label,
)
from .common import _open


def cmd_list(args) -> None:
    filters, errors = queries.Filters.parse(
        {
            "q": args.query or "",
            "status": args.status or "",
            "category": args.category or "",
            "since": args.since or "",
            "until": args.until or "",
        }
    )
    if errors:
        raise CliError("; ".join(stored_text(e) for e in errors))
    with _open(args, write=False) as vault:
        rows = queries.inbox(vault, filters, per_page=10**9).rows
        names = vault.category_names
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for r in rows:
        text = r["excerpt"] if r["readable"] else _("(not readable with your key)")
        category = i18n.category(names, r["category_name"], r.get("category_slug") or "")
        photos = ngettext("%(num)d photo", "%(num)d photos", r["photos"] or 0)
        print(
            f"{r['number']}  {i18n.day(r['received_day'])}  {state_label(r['state']):<14}  "
            f"{category[:24]:<24}  {photos:>10}  {text[:60]}"
        )
    print(ngettext("%(num)d case", "%(num)d cases", len(rows)), file=sys.stderr)


def cmd_show(args) -> None:
    with _open(args, write=False) as vault:
        data = queries.case(vault, args.id)
        names = vault.category_names
        for r in data["reports"]:
            r.pop("raw", None)  # the document as it came: in the case file, not on a terminal
            r.pop("where_json", None)
            for a in r["attachments"]:  # what the file itself still says about its maker
                check = hidden.check_attachment(vault, a) if a["opened"] and a["file"] else hidden.Check()
                a["hidden"] = {"warnings": check.warnings, "notes": check.notes, "unchecked": check.unchecked}
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=1, default=str))
        return
    _print_case(data, names)


def _print_case(data: dict, names: dict) -> None:
    c = data["case"]
    state = state_label(data["state"])
    if data["duplicate_of"]:
        state = _("%(state)s of %(case)s", state=state, case=data["duplicate_of"])
    print(
        _(
            "case %(case)s (%(desk)s), received %(day)s, state: %(state)s",
            case=c["number"],
            desk=c["desk"],
            day=i18n.day(c["received_day"]),
            state=state,
        )
    )
    if c["reply_warning"]:
        print(_("warning: %(text)s", text=stored_text(c["reply_warning"])))
    for i, r in enumerate(data["reports"], 1):
        _print_report(i, r, names)
    sections = (
        (N_("notes"), data["notes"], lambda n: f"{i18n.when(n['at'])} {actor_text(n['actor'])}: {n['text']}"),
        (
            N_("replies"),
            data["replies"],
            lambda n: (
                f"{i18n.when(n['at'])} [{word_label(n['status']) if n['status'] else _('status unchanged')}]"
                f" {n['text']}"
            ),
        ),
        (
            N_("history"),
            data["history"],
            lambda n: (
                f"{i18n.when(n['at'])} {actor_text(n['actor'])}: {history_text(n['action'], n['detail'])}"
            ),
        ),
    )
    for title, rows, fmt in sections:
        if rows:
            print(f"\n--- {_(title)}")
            for n in rows:
                print(fmt(n))


def _print_report(i: int, r: dict, names: dict) -> None:
    day = i18n.day(r["received_day"])
    if r["first"]:
        print("\n--- " + _("report %(n)d, received %(day)s", n=i, day=day))
    else:
        print("\n--- " + _("addition %(n)d, received %(day)s", n=i, day=day))
    if not r["opened"]:
        print(stored_text(r["problem"]))
        return
    for w in r["warnings"]:
        print(_("warning: %(text)s", text=stored_text(w)))
    category = i18n.category(names, r["category_name"], r.get("category_slug") or "") or "-"
    print(_("category: %(category)s", category=category))
    print(_("when: %(when)s", when=r["when_text"] or "-"))
    print(_("where: %(where)s", where=where_text(r["where"])))
    print(_("contact: %(contact)s", contact=r["contact"] or _("(anonymous)")))
    print(f"\n{r['what']}")
    for a in r["attachments"]:
        state = stored_text(a["problem"]) or _(
            "%(type)s, %(size)s, metadata %(metadata)s",
            type=a["mime"],
            size=human_size(a["size"]),
            metadata=_(METADATA.get(a["metadata"], N_("unknown"))),
        )
        print(_("attachment %(n)d: %(name)s (%(state)s)", n=a["position"], name=a["name"], state=state))
        found = a["hidden"]
        if found["warnings"]:
            claim = hidden.claim_text(a["metadata"])
            print("  " + _("warning: it holds data that could identify the reporter. %(claim)s", claim=claim))
        for line in [*found["warnings"], *found["notes"], *filter(None, [found["unchecked"]])]:
            print(f"  - {line}")


def cmd_open(args) -> None:
    from ..server import serve

    with _open(args, write=True) as vault:
        serve(
            vault,
            args.port,
            open_browser=not args.no_browser,
            announce=lambda s: print(s, flush=True),
            language=i18n.current(),
        )


def cmd_triage(args) -> None:
    with _open(args, write=True) as vault:
        done = triage.set_states(vault, args.id, args.state, args.duplicate_of)
    state = state_label(args.state)
    if args.duplicate_of:
        state = _("%(state)s of %(case)s", state=state, case=args.duplicate_of.upper())
    for number in done.changed:
        print(_("case %(case)s: %(state)s", case=number, state=state))
    for number in done.unchanged:
        print(_("case %(case)s: already %(state)s", case=number, state=state))


def cmd_note(args) -> None:
    with _open(args, write=True) as vault:
        triage.add_note(vault, args.id, args.text)
    print(_("note added to case %(case)s", case=args.id.upper()))


def cmd_reply(args) -> None:
    with _open(args, write=True) as vault:
        triage.reply(vault, args.id, args.text, args.status)
    print(
        _(
            "reply to case %(case)s queued for the next reply bundle (sealview export-replies)",
            case=args.id.upper(),
        )
    )


def add_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add `list`, `show`, `open`, `triage`, `note` and `reply` to `sub`."""
    p = sub.add_parser("list", help=_("the cases, newest first"))
    p.add_argument("--json", action="store_true", help=_("print JSON"))
    p.add_argument("--query", metavar="WORDS", help=_("full-text search"))
    p.add_argument("--status", help=_("only cases in this state"))
    p.add_argument("--category", metavar="SLUG", help=_("only cases in this category"))
    p.add_argument("--since", metavar="YYYY-MM-DD", help=_("received on this day or later"))
    p.add_argument("--until", metavar="YYYY-MM-DD", help=_("received on this day or earlier"))
    p.set_defaults(run=cmd_list)
    p = sub.add_parser("show", help=_("one case, whole"))
    p.add_argument("id", metavar="ID")
    p.add_argument("--json", action="store_true", help=_("print JSON"))
    p.set_defaults(run=cmd_show)
    p = sub.add_parser("open", help=_("the UI on 127.0.0.1, with a secret token in its address"))
    p.add_argument("--no-browser", action="store_true", help=_("print the address only"))
    p.add_argument("--port", type=int, default=0, help=_("default: any free port"))
    p.set_defaults(run=cmd_open)
    p = sub.add_parser("triage", help=_("set the state of one case or several"))
    p.add_argument("id", metavar="ID", nargs="+")
    p.add_argument("state", choices=triage.STATES)
    p.add_argument("--duplicate-of", metavar="ID")
    p.set_defaults(run=cmd_triage)
    p = sub.add_parser("note", help=_("add a private note to a case"))
    p.add_argument("id", metavar="ID")
    p.add_argument("text")
    p.set_defaults(run=cmd_note)
    p = sub.add_parser("reply", help=_("queue a reply to the reporter (and the status they see)"))
    p.add_argument("id", metavar="ID")
    p.add_argument("--text", default="", help=_("what the reporter reads (may be left out with --status)"))
    p.add_argument("--status", help=_("one of: %(states)s", states=", ".join(triage.STATES)))
    p.set_defaults(run=cmd_reply)
