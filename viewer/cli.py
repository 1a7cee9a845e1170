"""`sealview`: the officer's air-gapped viewer. Every command takes --vault DIR.

    sealview init [--identity FILE] [--server-key FILE] [--desk SLUG]... [--name NAME] [--lang L]
    sealview config [--lang L]
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
leave no partial output file. Every command speaks the officer's language (viewer/i18n.py): `--lang L`
anywhere on the command line, else $SEALVIEW_LANG, else the vault's setting (`init --lang`,
`config --lang`), else English.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib.metadata
import json
import os
import re
import shutil
import sys
from pathlib import Path

from crypto import Identity, KeyFormatError, SealdropCryptoError, VerifyKey
from crypto.cli import CliError, atomic_output, os_error_words, read_passphrase, stdout_closed

from . import backup, colleagues, escrow, hidden, i18n, importer, keytrust, queries, recipients, triage
from .errors import ViewerError
from .i18n import N_, _, ngettext
from .labels import METADATA, history_text, human_size, state_label, where_text, word_label
from .vault import Vault, read_info

PROG = "sealview"
LANG_HELP = N_("the language to speak: bg, ru, kk or en (default: $SEALVIEW_LANG, else the vault's setting)")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise CliError(_("%(message)s (see `%(prog)s --help`)", message=message, prog=PROG))


def _vault_dir(args) -> Path:
    return Path(args.vault)


def _open(args, *, write: bool) -> Vault:
    info = read_info(_vault_dir(args))  # says "not a vault" before asking for a passphrase
    if not _chosen_language(args) and i18n.normalize(info.get("language")):
        i18n.use(info["language"])  # the vault's language, from its public copy, for the prompt
    passphrase = read_passphrase(
        _("Passphrase for the vault of officer %(fp)s: ", fp=info.get("officer", "?"))
    )
    vault = Vault.open(_vault_dir(args), passphrase, write=write)
    if not _chosen_language(args) and vault.language:  # no --lang, no $SEALVIEW_LANG: the vault's own
        i18n.use(vault.language)
    return vault


def _chosen_language(args) -> str | None:
    """The language this run was told to speak (--lang, else $SEALVIEW_LANG), if any."""
    return i18n.normalize(getattr(args, "lang", None)) or i18n.from_environment()


def cmd_init(args) -> None:
    path = _vault_dir(args)
    for slug in args.desk:
        if not SLUG.match(slug):
            raise CliError(
                _("%(slug)r is not a desk slug (lower-case letters, digits and dashes)", slug=slug)
            )
    server_key = None
    if args.server_key:
        server_key = VerifyKey.parse(Path(args.server_key).read_text("utf-8", errors="replace"))
    if (path / "vault.json").exists():
        info = read_info(path)
        if args.identity:
            raise CliError(
                _(
                    "this vault already belongs to officer %(fp)s: a vault holds one officer; "
                    "give a new folder to adopt another identity",
                    fp=info.get("officer"),
                )
            )
        vault = _open(args, write=True)
    else:
        if args.identity:
            passphrase = read_passphrase(
                _("Passphrase for %(file)s (it will also lock the vault): ", file=args.identity)
            )
            officer = Identity.load(Path(args.identity), passphrase)
        else:
            passphrase = read_passphrase(_("Passphrase for the new vault: "), confirm=True)
            officer = None
        vault = Vault.create(path, passphrase, officer, name=args.name)
        print(_("vault: %(path)s", path=path))
        print(_("officer fingerprint: %(fp)s", fp=vault.officer.fingerprint))
        pub = path / "officer.pub"
        print(
            _(
                "public key: %(file)s (register it on the server: sealdrop officer add --desk SLUG FILE)",
                file=pub,
            )
        )
        if vault.officer.demo:
            print(_("DEMO ONLY: this identity has an empty passphrase; never use it for real reports"))
    with vault:
        if args.lang:
            _set_language(vault, args.lang)
        if server_key or args.desk:
            if not (server_key or vault.server_key):
                raise CliError(_("pin the server's key as well: --server-key INSTANCE/server-signing.pub"))
            if not (args.desk or vault.desks):
                raise CliError(_("say which desk this vault serves: --desk SLUG"))
            vault.pin(server_key, args.desk)
        key = vault.server_key
        if key:
            print(
                _(
                    "server key fingerprint: %(fp)s (compare it with the operator's, by phone)",
                    fp=key.fingerprint,
                )
            )
        print(_("desks: %(desks)s", desks=", ".join(vault.desks) or _("none yet")))


def _set_language(vault: Vault, lang: str) -> None:
    """The vault's language from now on; this run speaks it too."""
    vault.set_language(lang)
    i18n.use(lang)


def cmd_config(args) -> None:
    """Show the vault's settings; `--lang L` changes its language (the UI takes it at the next open)."""
    with _open(args, write=bool(args.lang)) as vault:
        if args.lang:
            _set_language(vault, args.lang)
        stored = vault.language
        name = i18n.NAMES[stored] if stored in i18n.NAMES else _("not set (English)")
        print(_("language: %(language)s", language=name))
        print(_("officer fingerprint: %(fp)s", fp=vault.officer.fingerprint))
        keytrust.print_recipients(vault)  # who else can read the desk's reports


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
                {"verify": _("verifying"), "import": _("importing")}.get(stage, stage), total=total
            )
        bar.update(tasks[stage], completed=done)

    return bar, update


def _imported(r: importer.ImportResult) -> str:
    """What an import brought, in one line. A bundle the desk made only because its readers changed
    (docs/key-trust.md) says that, not "0 reports in 0 new cases, 0 attachments"."""
    if r.reports == 0 and r.key_changes:
        return _(
            "imported export bundle %(desk)s #%(sequence)d: no report, only %(changes)s",
            desk=r.desk,
            sequence=r.sequence,
            changes=ngettext(
                "%(num)d change to who can read the desk's reports",
                "%(num)d changes to who can read the desk's reports",
                r.key_changes,
            ),
        )
    return _(
        "imported export bundle %(desk)s #%(sequence)d: %(reports)s in %(cases)s, %(attachments)s",
        desk=r.desk,
        sequence=r.sequence,
        reports=ngettext("%(num)d report", "%(num)d reports", r.reports),
        cases=ngettext("%(num)d new case", "%(num)d new cases", r.new_cases),
        attachments=ngettext("%(num)d attachment", "%(num)d attachments", r.attachments),
    )


def cmd_import(args) -> None:
    bundle_path = Path(args.bundle)
    if not bundle_path.is_file():
        raise CliError(_("%(file)s: no such file", file=bundle_path))
    with _open(args, write=True) as vault:
        bar, update = _progress()
        with bar:
            r = importer.import_bundle(vault, bundle_path, update, start_chain=args.start_chain)
    print(_imported(r))
    if r.not_for_us:
        print(
            ngettext(
                "%(num)d envelope is sealed to other officers only: it is listed, not readable",
                "%(num)d envelopes are sealed to other officers only: they are listed, not readable",
                r.not_for_us,
            )
        )
    if r.damaged:
        print(
            ngettext(
                "%(num)d envelope was damaged by whoever sealed it: see the cases",
                "%(num)d envelopes were damaged by whoever sealed them: see the cases",
                r.damaged,
            )
        )
    for change in r.key_warnings:  # no officer of the desk signed these (docs/key-trust.md)
        print(_("warning: %(text)s", text=keytrust.describe(change)))


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
        raise CliError("; ".join(i18n.translated(e) for e in errors))
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
        print(_("warning: %(text)s", text=i18n.translated(c["reply_warning"])))
    for i, r in enumerate(data["reports"], 1):
        _print_report(i, r, names)
    sections = (
        (N_("notes"), data["notes"], lambda n: f"{i18n.when(n['at'])} {n['actor']}: {n['text']}"),
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
            lambda n: f"{i18n.when(n['at'])} {n['actor']}: {history_text(n['action'], n['detail'])}",
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
        print(i18n.translated(r["problem"]))
        return
    for w in r["warnings"]:
        print(_("warning: %(text)s", text=i18n.translated(w)))
    category = i18n.category(names, r["category_name"], r.get("category_slug") or "") or "-"
    print(_("category: %(category)s", category=category))
    print(_("when: %(when)s", when=r["when_text"] or "-"))
    print(_("where: %(where)s", where=where_text(r["where"])))
    print(_("contact: %(contact)s", contact=r["contact"] or _("(anonymous)")))
    print(f"\n{r['what']}")
    for a in r["attachments"]:
        state = i18n.translated(a["problem"]) or _(
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
    from .server import serve

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


def _copy_out(src: Path, target: str) -> None:
    with open(src, "rb") as f, atomic_output(target, binary_to_tty_ok=False) as out:
        shutil.copyfileobj(f, out, 1 << 20)


def _check_output_folder(target: str) -> None:
    """Refuse before the vault records anything (replies sent, a case forwarded) when the output's
    folder is missing (a USB stick not mounted): the bundle would stay in the outbox unseen."""
    folder = Path(target).parent
    if not folder.is_dir():
        raise FileNotFoundError(errno.ENOENT, "no such folder", str(folder))


def cmd_forward(args) -> None:
    from . import forward, pdf  # reportlab takes a while to import: only here

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


def build_parser() -> argparse.ArgumentParser:
    """The commands; every help text in the language in force (`main` chose it before building this)."""
    parser = _Parser(prog=PROG, description=_("sealview: read, triage and answer sealdrop reports, offline."))
    parser.add_argument(
        "--vault",
        default=os.environ.get("SEALVIEW_VAULT", "vault"),
        metavar="DIR",
        help=_("the vault folder (default: $SEALVIEW_VAULT or ./vault)"),
    )
    parser.add_argument("--lang", choices=i18n.LANGUAGES, help=_(LANG_HELP))
    # The installed distribution's version: the offline install (docs/viewer-install.md) ends by printing it.
    parser.add_argument("--version", action="version", version=f"{PROG} {_installed_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, title=_("commands"))
    p = sub.add_parser(
        "init", help=_("make a vault (new identity, or --identity to adopt one); pin the server")
    )
    p.add_argument("--identity", metavar="FILE", help=_("adopt this officer identity instead of making one"))
    p.add_argument("--server-key", metavar="FILE", help=_("the instance's server-signing.pub to trust"))
    p.add_argument("--desk", action="append", default=[], metavar="SLUG", help=_("a desk this vault serves"))
    p.add_argument("--name", default="", help=_("the officer's name, as the history records it"))
    p.set_defaults(run=cmd_init)
    p = sub.add_parser("config", help=_("show the vault's settings; --lang L sets its language"))
    p.set_defaults(run=cmd_config)
    p = sub.add_parser("import", help=_("verify an export bundle and import it, all or nothing"))
    p.add_argument("bundle", metavar="BUNDLE")
    p.add_argument(
        "--start-chain",
        action="store_true",
        help=_("a vault's first import: take this bundle as the first (your key joined the desk later)"),
    )
    p.set_defaults(run=cmd_import)
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
        dest="recipient_command", required=True, parser_class=_Parser, title=_("commands")
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
    backup.add_parsers(sub, _Parser)
    escrow.add_parsers(sub, _Parser)
    keytrust.add_parsers(sub, _Parser)
    colleagues.add_parsers(sub, _Parser)
    return parser


def _installed_version() -> str:
    """The version of the installed `sealdrop` distribution (sealview is its entry point)."""
    try:
        return importlib.metadata.version("sealdrop")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _vault_everywhere(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Accept --vault and --lang after the subcommand too (`sealview import --vault V B`)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                child.add_argument(
                    "--vault", default=argparse.SUPPRESS, metavar="DIR", help=_("the vault folder")
                )
                child.add_argument(
                    "--lang", default=argparse.SUPPRESS, choices=i18n.LANGUAGES, help=_(LANG_HELP)
                )
                _vault_everywhere(child)  # `recipient add` and `recipient list` too
    return parser


# argparse's own words (usage, errors), from its gettext domain; sealview's catalogue has them.
ARGPARSE_WORDS = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("show this help message and exit"),
    N_("the following arguments are required: %s"),
    N_("unrecognized arguments: %s"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("expected one argument"),
    N_("invalid %(type)s value: %(value)r"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("not allowed with argument %s"),
)
# Fixed messages of crypto.cli, which has no catalogue of its own.
CRYPTO_WORDS = (
    N_("no passphrase: set SEALDROP_PASSPHRASE or run in a terminal"),
    N_("the two passphrases differ"),
)


def _language_in(argv: list[str]) -> str | None:
    """--lang L (or --lang=L) wherever it is, read before the parser is built: its help speaks L."""
    for i, arg in enumerate(argv):
        if arg == "--lang" and i + 1 < len(argv):
            return i18n.normalize(argv[i + 1])
        if arg.startswith("--lang="):
            return i18n.normalize(arg.split("=", 1)[1])
    return None


@contextlib.contextmanager
def _argparse_speaks():
    """argparse says "usage:" and its errors through the stdlib's gettext: ours while we parse."""
    saved = argparse._, argparse.ngettext
    argparse._ = lambda message: i18n.translated(message)
    argparse.ngettext = lambda singular, plural, n: i18n.translations(i18n.current()).ungettext(
        singular, plural, n
    )
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved


def main(argv: list[str] | None = None) -> int:
    os.umask(0o077)
    argv = sys.argv[1:] if argv is None else list(argv)
    with i18n.speaking(_language_in(argv) or i18n.from_environment()):
        return _run(argv)


def _os_error_words(e: OSError) -> str:
    """An operating system's refusal in the officer's language, naming the file or folder."""
    words = {
        errno.ENOENT: _("no such file or folder"),
        errno.EACCES: _("permission denied"),
        errno.EPERM: _("permission denied"),
        errno.ENOSPC: _("the disk is full"),
        errno.EROFS: _("the disk is read-only"),
        errno.EISDIR: _("it is a folder, not a file"),
        errno.ENOTDIR: _("a part of the path is not a folder"),
    }
    return os_error_words(e, words)


def _run(argv: list[str]) -> int:
    try:
        with _argparse_speaks():
            args = _vault_everywhere(build_parser()).parse_args(argv)
        args.run(args)
        sys.stdout.flush()  # here, not at exit, so that a closed pipe is caught below
    except BrokenPipeError:  # `sealview list | head -1`: the reader has all it wanted
        return stdout_closed()
    except (CliError, ViewerError, SealdropCryptoError, KeyFormatError, ValueError) as e:
        print(_("error: %(message)s", message=i18n.translated(str(e))), file=sys.stderr)
        return 1
    except OSError as e:
        print(_("error: %(message)s", message=_os_error_words(e)), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(_("error: interrupted"), file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
