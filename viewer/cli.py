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
leave no partial output file.

Every command speaks the officer's language (viewer/i18n.py), by one rule for its help, argparse's
errors and every message:
    1. `--lang L` anywhere on the command line (the last one, as argparse takes it);
    2. else $SEALVIEW_LANG;
    3. else the vault's setting (`init --lang`, `config --lang`): before the parser is built, from the
       public vault.json of the --vault folder (else $SEALVIEW_VAULT, else ./vault), so that --help
       speaks it too; once the vault is open, from its sealed copy (commands/common.py);
    4. else the system's locale: LANGUAGE, LC_ALL, LC_MESSAGES, LANG (C and POSIX are English);
    5. else English.
The language is chosen before the parser is built: argparse's help texts are fixed when it is.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib.metadata
import os
import sys
from pathlib import Path

from crypto import KeyFormatError, SealdropCryptoError
from crypto.cli import CliError, argparse_speaking, os_error_words, stdout_closed

from . import backup, colleagues, escrow, i18n, keytrust
from .commands import cases, sending, setup
from .commands.common import LANG_HELP, PROG, _Parser
from .errors import ViewerError
from .i18n import N_, _
from .vault import read_info


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
    parser.add_argument(
        "--version",
        action="version",
        version=f"{PROG} {_installed_version()}",
        help=_("show program's version number and exit"),  # argparse's own is never translated
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, title=_("commands"))
    setup.add_parsers(sub, _Parser)
    cases.add_parsers(sub, _Parser)
    sending.add_parsers(sub, _Parser)
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


def _option_in(argv: list[str], option: str) -> str | None:
    """The value of `option` (`--opt V` or `--opt=V`) wherever it is on the command line, read before
    the parser is built; given twice, the last one, as argparse takes it."""
    found = None
    for i, arg in enumerate(argv):
        if arg == option and i + 1 < len(argv):
            found = argv[i + 1]
        elif arg.startswith(option + "="):
            found = arg.split("=", 1)[1]
    return found


def _language_in(argv: list[str]) -> str | None:
    """--lang L wherever it is: its help speaks L."""
    return i18n.normalize(_option_in(argv, "--lang"))


def _vault_language(argv: list[str]) -> str | None:
    """The language set for the vault the command line names, from its public vault.json (the sealed
    copy decides once the vault is open); None when there is no such vault yet, or no language set."""
    folder = _option_in(argv, "--vault") or os.environ.get("SEALVIEW_VAULT", "vault")
    try:
        return i18n.normalize(read_info(Path(folder)).get("language"))
    except (ViewerError, OSError):  # no vault there (yet): `init`, or --help anywhere
        return None


def language(argv: list[str]) -> str:
    """The language of this run, chosen before the parser is built (the rule of the docstring)."""
    return _language_in(argv) or i18n.from_environment() or _vault_language(argv) or i18n.from_locale()


def _argparse_speaks() -> contextlib.AbstractContextManager[None]:
    """argparse says "usage:" and its errors through the stdlib's gettext: ours while we parse."""
    return argparse_speaking(i18n.translated, _plural)


def _plural(singular: str, plural: str, n: int) -> str:
    return i18n.translations(i18n.current()).ungettext(singular, plural, n)


def main(argv: list[str] | None = None) -> int:
    os.umask(0o077)
    argv = sys.argv[1:] if argv is None else list(argv)
    with i18n.speaking(language(argv)):
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
