"""What leaves the vault: `sealview forward` (a case to the police), `recipient` (the police's keys kept
in the vault) and `export-replies` (the signed reply bundle for the desk)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from crypto.cli import atomic_output

from .. import queries, recipients, triage
from ..i18n import _, ngettext
from .common import _check_output_folder, _copy_out, _open


def cmd_forward(args) -> None:
    from .. import forward, pdf  # reportlab takes a while to import: only here

    _check_output_folder(args.output)
    to_file = Path(args.to)
    key = forward.recipient(to_file.read_text("utf-8", errors="replace")) if to_file.is_file() else None
    with _open(args, write=True) as vault:
        if key is None:  # not a file: a police recipient kept in the vault, by name or fingerprint
            kept = recipients.find(vault, args.to)
            key, name = kept.key, args.name or kept.name
        else:
            name = args.name or to_file.stem
        if args.pdf:  # first: a failure here leaves no trace in the vault
            data = queries.case(vault, args.id)
            with atomic_output(args.pdf, binary_to_tty_ok=False) as out:
                out.write(pdf.case_pdf(vault, data))
        sealed = forward.forward(vault, args.id, key, name)
        _copy_out(sealed, args.output)
    print(
        _(
            "case %(case)s sealed to %(fp)s: %(file)s",
            case=args.id.upper(),
            fp=key.fingerprint,
            file=args.output,
        )
    )


def cmd_recipient_add(args) -> None:
    key = recipients.parse_key(Path(args.file).read_text("utf-8", errors="replace"))
    with _open(args, write=True) as vault:
        kept = recipients.add(vault, key, args.name or Path(args.file).stem)
    print(_("police recipient %(name)s: fingerprint %(fp)s", name=kept.name, fp=kept.fingerprint))


def cmd_recipient_list(args) -> None:
    with _open(args, write=False) as vault:
        kept = recipients.listed(vault)
    if args.json:
        rows = [{"name": r.name, "fingerprint": r.fingerprint, "added_at": r.added_at} for r in kept]
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for r in kept:
        print(
            f"{r.fingerprint}  {r.name}"
            + ("" if r.added_at else "  " + _("(used in a forwarding, not added)"))
        )
    print(ngettext("%(num)d police recipient", "%(num)d police recipients", len(kept)), file=sys.stderr)


def cmd_export_replies(args) -> None:
    _check_output_folder(args.output)
    with _open(args, write=True) as vault:
        path, manifest, count = triage.export_replies(vault, args.desk)
        _copy_out(path, args.output)
    confirmations = len(manifest.data["confirmations"])
    print(
        _(
            "reply bundle %(desk)s #%(sequence)d: %(replies)s, %(confirmations)s: %(file)s",
            desk=manifest.data["desk"],
            sequence=manifest.sequence,
            replies=ngettext("%(num)d reply", "%(num)d replies", count),
            confirmations=ngettext("%(num)d confirmation", "%(num)d confirmations", confirmations),
            file=args.output,
        )
    )


def add_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add `forward`, `recipient` and `export-replies` to `sub`."""
    p = sub.add_parser("forward", help=_("seal a case file to a police recipient"))
    p.add_argument("id", metavar="ID")
    p.add_argument(
        "--to", required=True, metavar="FILE|NAME", help=_("a .pub file, or a recipient kept in the vault")
    )
    p.add_argument("--name", help=_("the recipient's name (default: the key file's name)"))
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--pdf", metavar="FILE", help=_("also write the printable PDF (plaintext!)"))
    p.set_defaults(run=cmd_forward)
    p = sub.add_parser("recipient", help=_("the police recipients kept in the vault"))
    rsub = p.add_subparsers(
        dest="recipient_command", required=True, parser_class=parser_class, title=_("commands")
    )
    r = rsub.add_parser("add", help=_("keep a police recipient's public key (.pub file) under a name"))
    r.add_argument("file", metavar="FILE")
    r.add_argument("--name", help=_("how the list names them (default: the file's name)"))
    r.set_defaults(run=cmd_recipient_add)
    r = rsub.add_parser("list", help=_("the kept police recipients and their fingerprints"))
    r.add_argument("--json", action="store_true", help=_("print JSON"))
    r.set_defaults(run=cmd_recipient_list)
    p = sub.add_parser("export-replies", help=_("write the signed reply bundle for the desk"))
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--desk", metavar="SLUG")
    p.set_defaults(run=cmd_export_replies)
