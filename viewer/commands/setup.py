"""The vault's own commands: `sealview init`, `config` and `import` (an export bundle into the vault)."""

from __future__ import annotations

import argparse
from pathlib import Path

from crypto import Identity, VerifyKey
from crypto.cli import CliError, read_passphrase

from .. import i18n, importer, keytrust
from ..i18n import _, ngettext
from ..labels import actor_text
from ..vault import Vault, read_info
from .common import SLUG, _open, _progress, _vault_dir


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
        _same_name(vault, args.name)
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


def _same_name(vault: Vault, name: str) -> None:
    """`init --name` on an existing vault: the name went into officer.pub and the history when the
    vault was made, and stays; a different one is refused rather than silently ignored."""
    if name and name != vault.officer_name:
        who = actor_text(vault.actor)
        vault.close()
        raise CliError(
            _("the officer's name is given when a vault is made: this vault's officer is %(who)s", who=who)
        )


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


def add_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add `init`, `config` and `import` to `sub`."""
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
