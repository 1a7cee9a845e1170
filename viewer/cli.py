"""`sealview`: the officer's air-gapped viewer. Every command takes --vault DIR.

    sealview init [--identity FILE] [--server-key FILE] [--desk SLUG]... [--name NAME]
    sealview import BUNDLE
    sealview list [--json] [--query Q] [--status S] [--category C] [--since DAY] [--until DAY]
    sealview show ID [--json]
    sealview open [--no-browser] [--port P]
    sealview triage ID [ID...] STATE [--duplicate-of ID]
    sealview note ID TEXT
    sealview reply ID [--text T] [--status S]     (at least one of them)
    sealview forward ID --to PUBLIC_KEY_FILE|NAME [--name NAME] -o FILE [--pdf FILE]
    sealview recipient add FILE [--name NAME] | recipient list [--json]
    sealview export-replies -o FILE [--desk SLUG]

Passphrases come from SEALDROP_PASSPHRASE or a prompt. Failures print one line and exit non-zero, and
leave no partial output file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from pathlib import Path

from crypto import Identity, KeyFormatError, SealdropCryptoError, VerifyKey
from crypto.cli import CliError, atomic_output, read_passphrase

from . import hidden, importer, queries, recipients, triage
from .errors import ViewerError
from .vault import Vault, read_info

PROG = "sealview"
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise CliError(f"{message} (see `{PROG} --help`)")


def _vault_dir(args) -> Path:
    return Path(args.vault)


def _open(args, *, write: bool) -> Vault:
    info = read_info(_vault_dir(args))  # says "not a vault" before asking for a passphrase
    passphrase = read_passphrase(f"Passphrase for the vault of officer {info.get('officer', '?')}: ")
    return Vault.open(_vault_dir(args), passphrase, write=write)


def cmd_init(args) -> None:
    path = _vault_dir(args)
    for slug in args.desk:
        if not SLUG.match(slug):
            raise CliError(f"{slug!r} is not a desk slug (lower-case letters, digits and dashes)")
    server_key = None
    if args.server_key:
        server_key = VerifyKey.parse(Path(args.server_key).read_text("utf-8", errors="replace"))
    if (path / "vault.json").exists():
        info = read_info(path)
        if args.identity:
            raise CliError(
                f"this vault already belongs to officer {info.get('officer')}: a vault holds one officer; "
                "give a new folder to adopt another identity"
            )
        vault = _open(args, write=True)
    else:
        if args.identity:
            passphrase = read_passphrase(f"Passphrase for {args.identity} (it will also lock the vault): ")
            officer = Identity.load(Path(args.identity), passphrase)
        else:
            passphrase = read_passphrase("Passphrase for the new vault: ", confirm=True)
            officer = None
        vault = Vault.create(path, passphrase, officer, name=args.name)
        print(f"vault: {path}")
        print(f"officer fingerprint: {vault.officer.fingerprint}")
        pub = path / "officer.pub"
        print(f"public key: {pub} (register it on the server: sealdrop officer add --desk SLUG FILE)")
        if vault.officer.demo:
            print("DEMO ONLY: this identity has an empty passphrase; never use it for real reports")
    with vault:
        if server_key or args.desk:
            if not (server_key or vault.server_key):
                raise CliError("pin the server's key as well: --server-key INSTANCE/server-signing.pub")
            if not (args.desk or vault.desks):
                raise CliError("say which desk this vault serves: --desk SLUG")
            vault.pin(server_key, args.desk)
        key = vault.server_key
        if key:
            print(f"server key fingerprint: {key.fingerprint} (compare it with the operator's, by phone)")
        print(f"desks: {', '.join(vault.desks) or 'none yet'}")


def _progress():
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    bar = Progress(
        TextColumn("{task.description:<9}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    )
    tasks: dict[str, int] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(
                {"verify": "verifying", "import": "importing"}.get(stage, stage), total=total
            )
        bar.update(tasks[stage], completed=done)

    return bar, update


def cmd_import(args) -> None:
    bundle_path = Path(args.bundle)
    if not bundle_path.is_file():
        raise CliError(f"{bundle_path}: no such file")
    with _open(args, write=True) as vault:
        bar, update = _progress()
        with bar:
            r = importer.import_bundle(vault, bundle_path, update)
    print(
        f"imported export bundle {r.desk} #{r.sequence}: {r.reports} report(s) in {r.new_cases} new case(s), "
        f"{r.attachments} attachment(s)"
    )
    if r.not_for_us:
        print(f"{r.not_for_us} envelope(s) are sealed to other officers only: they are listed, not readable")
    if r.damaged:
        print(f"{r.damaged} envelope(s) were damaged by whoever sealed them: see the cases")


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
        raise CliError("; ".join(errors))
    with _open(args, write=False) as vault:
        rows = queries.inbox(vault, filters, per_page=10**9).rows
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for r in rows:
        text = r["excerpt"] if r["readable"] else "(not readable with your key)"
        print(
            f"{r['number']}  {r['received_day']}  {r['state']:<12}  {r['category_name'][:24]:<24}  "
            f"{r['photos']:>2} photo(s)  {text[:60]}"
        )
    print(f"{len(rows)} case(s)", file=sys.stderr)


def cmd_show(args) -> None:
    with _open(args, write=False) as vault:
        data = queries.case(vault, args.id)
        for r in data["reports"]:
            r.pop("raw", None)  # the document as it came: in the case file, not on a terminal
            r.pop("where_json", None)
            for a in r["attachments"]:  # what the file itself still says about its maker
                check = hidden.check_attachment(vault, a) if a["opened"] and a["file"] else hidden.Check()
                a["hidden"] = {"warnings": check.warnings, "notes": check.notes, "unchecked": check.unchecked}
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=1, default=str))
        return
    c = data["case"]
    dup = f" of {data['duplicate_of']}" if data["duplicate_of"] else ""
    print(f"case {c['number']} ({c['desk']}), received {c['received_day']}, state: {data['state']}{dup}")
    if c["reply_warning"]:
        print(f"warning: {c['reply_warning']}")
    for i, r in enumerate(data["reports"], 1):
        print(f"\n--- {'report' if r['first'] else 'addition'} {i}, received {r['received_day']}")
        if not r["opened"]:
            print(r["problem"])
            continue
        for w in r["warnings"]:
            print(f"warning: {w}")
        from .web.templating import where_text

        print(f"category: {r['category_name'] or '-'}\nwhen: {r['when_text'] or '-'}")
        print(f"where: {where_text(r['where'])}")
        print(f"contact: {r['contact'] or '(anonymous)'}\n\n{r['what']}")
        for a in r["attachments"]:
            state = a["problem"] or f"{a['mime']}, {a['size']} bytes, metadata {a['metadata']}"
            print(f"attachment {a['position']}: {a['name']} ({state})")
            found = a["hidden"]
            if found["warnings"]:
                claim = hidden.claim_text(a["metadata"])
                print(f"  warning: it holds data that could identify the reporter. {claim}")
            for line in [*found["warnings"], *found["notes"], *filter(None, [found["unchecked"]])]:
                print(f"  - {line}")
    for title, rows, fmt in (
        ("notes", data["notes"], lambda n: f"{n['at']} {n['actor']}: {n['text']}"),
        (
            "replies",
            data["replies"],
            lambda n: f"{n['at']} [{n['status'] or 'status unchanged'}] {n['text']}",
        ),
        ("history", data["history"], lambda n: f"{n['at']} {n['actor']}: {n['action']} {n['detail']}"),
    ):
        if rows:
            print(f"\n--- {title}")
            for n in rows:
                print(fmt(n))


def cmd_open(args) -> None:
    from .server import serve

    with _open(args, write=True) as vault:
        serve(vault, args.port, open_browser=not args.no_browser, announce=lambda s: print(s, flush=True))


def cmd_triage(args) -> None:
    with _open(args, write=True) as vault:
        done = triage.set_states(vault, args.id, args.state, args.duplicate_of)
    of = f" of {args.duplicate_of.upper()}" if args.duplicate_of else ""
    for number in done.changed:
        print(f"case {number}: {args.state}{of}")
    for number in done.unchanged:
        print(f"case {number}: already {args.state}{of}")


def cmd_note(args) -> None:
    with _open(args, write=True) as vault:
        triage.add_note(vault, args.id, args.text)
    print(f"note added to case {args.id.upper()}")


def cmd_reply(args) -> None:
    with _open(args, write=True) as vault:
        triage.reply(vault, args.id, args.text, args.status)
    print(f"reply to case {args.id.upper()} queued for the next reply bundle (sealview export-replies)")


def _copy_out(src: Path, target: str) -> None:
    with open(src, "rb") as f, atomic_output(target, binary_to_tty_ok=False) as out:
        shutil.copyfileobj(f, out, 1 << 20)


def cmd_forward(args) -> None:
    from . import forward, pdf  # reportlab takes a while to import: only here

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
    print(f"case {args.id.upper()} sealed to {key.fingerprint}: {args.output}")


def cmd_recipient_add(args) -> None:
    key = recipients.parse_key(Path(args.file).read_text("utf-8", errors="replace"))
    with _open(args, write=True) as vault:
        kept = recipients.add(vault, key, args.name or Path(args.file).stem)
    print(f"police recipient {kept.name}: fingerprint {kept.fingerprint}")


def cmd_recipient_list(args) -> None:
    with _open(args, write=False) as vault:
        kept = recipients.listed(vault)
    if args.json:
        rows = [{"name": r.name, "fingerprint": r.fingerprint, "added_at": r.added_at} for r in kept]
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for r in kept:
        print(f"{r.fingerprint}  {r.name}" + ("" if r.added_at else "  (used in a forwarding, not added)"))
    print(f"{len(kept)} police recipient(s)", file=sys.stderr)


def cmd_export_replies(args) -> None:
    with _open(args, write=True) as vault:
        path, manifest, count = triage.export_replies(vault, args.desk)
        _copy_out(path, args.output)
    confirmations = len(manifest.data["confirmations"])
    print(
        f"reply bundle {manifest.data['desk']} #{manifest.sequence}: {count} reply(ies), "
        f"{confirmations} confirmation(s): {args.output}"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="sealview: read, triage and answer sealdrop reports, offline.")
    parser.add_argument(
        "--vault",
        default=os.environ.get("SEALVIEW_VAULT", "vault"),
        metavar="DIR",
        help="the vault folder (default: $SEALVIEW_VAULT or ./vault)",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("init", help="make a vault (new identity, or --identity to adopt one); pin the server")
    p.add_argument("--identity", metavar="FILE", help="adopt this officer identity instead of making one")
    p.add_argument("--server-key", metavar="FILE", help="the instance's server-signing.pub to trust")
    p.add_argument("--desk", action="append", default=[], metavar="SLUG", help="a desk this vault serves")
    p.add_argument("--name", default="", help="the officer's name, as the history records it")
    p.set_defaults(run=cmd_init)
    p = sub.add_parser("import", help="verify an export bundle and import it, all or nothing")
    p.add_argument("bundle", metavar="BUNDLE")
    p.set_defaults(run=cmd_import)
    p = sub.add_parser("list", help="the cases, newest first")
    p.add_argument("--json", action="store_true")
    p.add_argument("--query", metavar="WORDS", help="full-text search")
    p.add_argument("--status")
    p.add_argument("--category", metavar="SLUG")
    p.add_argument("--since", metavar="YYYY-MM-DD")
    p.add_argument("--until", metavar="YYYY-MM-DD")
    p.set_defaults(run=cmd_list)
    p = sub.add_parser("show", help="one case, whole")
    p.add_argument("id", metavar="ID")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_show)
    p = sub.add_parser("open", help="the UI on 127.0.0.1, with a secret token in its address")
    p.add_argument("--no-browser", action="store_true", help="print the address only")
    p.add_argument("--port", type=int, default=0, help="default: any free port")
    p.set_defaults(run=cmd_open)
    p = sub.add_parser("triage", help="set the state of one case or several")
    p.add_argument("id", metavar="ID", nargs="+")
    p.add_argument("state", choices=triage.STATES)
    p.add_argument("--duplicate-of", metavar="ID")
    p.set_defaults(run=cmd_triage)
    p = sub.add_parser("note", help="add a private note to a case")
    p.add_argument("id", metavar="ID")
    p.add_argument("text")
    p.set_defaults(run=cmd_note)
    p = sub.add_parser("reply", help="queue a reply to the reporter (and the status they see)")
    p.add_argument("id", metavar="ID")
    p.add_argument("--text", default="", help="what the reporter reads (may be left out with --status)")
    p.add_argument("--status", help="one of: " + ", ".join(triage.STATES))
    p.set_defaults(run=cmd_reply)
    p = sub.add_parser("forward", help="seal a case file to a police recipient")
    p.add_argument("id", metavar="ID")
    p.add_argument(
        "--to", required=True, metavar="FILE|NAME", help="a .pub file, or a recipient kept in the vault"
    )
    p.add_argument("--name", help="the recipient's name (default: the key file's name)")
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--pdf", metavar="FILE", help="also write the printable PDF (plaintext!)")
    p.set_defaults(run=cmd_forward)
    p = sub.add_parser("recipient", help="the police recipients kept in the vault")
    rsub = p.add_subparsers(dest="recipient_command", required=True, parser_class=_Parser)
    r = rsub.add_parser("add", help="keep a police recipient's public key (.pub file) under a name")
    r.add_argument("file", metavar="FILE")
    r.add_argument("--name", help="how the list names them (default: the file's name)")
    r.set_defaults(run=cmd_recipient_add)
    r = rsub.add_parser("list", help="the kept police recipients and their fingerprints")
    r.add_argument("--json", action="store_true")
    r.set_defaults(run=cmd_recipient_list)
    p = sub.add_parser("export-replies", help="write the signed reply bundle for the desk")
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--desk", metavar="SLUG")
    p.set_defaults(run=cmd_export_replies)
    return parser


def _vault_everywhere(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Accept --vault after the subcommand too (`sealview import --vault V B`)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                child.add_argument(
                    "--vault", default=argparse.SUPPRESS, metavar="DIR", help="the vault folder"
                )
                _vault_everywhere(child)  # `recipient add` and `recipient list` too
    return parser


def main(argv: list[str] | None = None) -> int:
    os.umask(0o077)
    try:
        args = _vault_everywhere(build_parser()).parse_args(argv)
        args.run(args)
    except (CliError, ViewerError, SealdropCryptoError, KeyFormatError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        where = f": {e.filename}" if e.filename else ""
        print(f"error: {e.strerror or e}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
