"""`sealdrop`: the operator's command line for the online side. Every command takes --dir DIR.

    sealdrop init [--demo] [--database URL] [--blob-store files|postgresql]
    sealdrop blobs migrate --to postgresql|files   (blob_commands.py)
    sealdrop serve [--host H] [--port P] [--onion] [--tor-control HOST:PORT] [--tor PATH]
                   [--retention-every MINUTES] [--workers N]
    sealdrop onion status [--tor-control HOST:PORT] | onion new-address | onion hash-password
    sealdrop desk-access add NAME | list | revoke NAME
    sealdrop desk add SLUG --name LANG=NAME... [--language L] | desk list
    sealdrop category add|list|edit|remove ...  (a desk's categories: desk/setup_commands.py)
    sealdrop officer add --desk SLUG PUBLIC_KEY_FILE [--name NAME] [--confirmed]
    sealdrop officer list [--desk SLUG] | confirm NUMBER | retire NUMBER [--force]
    sealdrop poster --desk SLUG --lang L --url URL -o FILE.{pdf,png,svg} [--size A4|A5|A6] [--tag PLACE]
    sealdrop user add NAME --role admin|clerk [--desk SLUG] | user list | disable|enable|remove NAME
    sealdrop export --desk SLUG -o BUNDLE [--again N] | import-replies BUNDLE | retention [--on DAY]
    sealdrop budgets [--json]
    sealdrop notify [--test] [--desk SLUG]   (notices that reports wait: desk/notify.py)
    sealdrop viewer-bundle -o DIR   (sealview and its wheels, signed, for an offline machine)

    sealdrop --lang bg|ru|kk|en COMMAND ...   (else LANGUAGE, LC_ALL, LC_MESSAGES, LANG decide: console.py)
    --lang may also follow the command (not `poster`'s: that is the poster's language); the messages,
    every --help and argparse's own words (usage, errors) are then in that language.

Failures print one line and exit non-zero.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import secrets
import shutil
import sys
from pathlib import Path

import sqlalchemy.exc

from crypto import KeyFormatError, SigningKey
from crypto.cli import os_error_words, stdout_closed
from crypto.keys import write_secret_file
from onion import OnionError

from . import (
    blob_commands,
    budget,
    console,
    db,
    demo,
    maps,
    onion_commands,
    onion_words,
    posters,
    serve_command,
    viewer_bundle,
)
from . import config as config_mod
from .console import N_, _
from .desk import commands as desk_commands
from .desk import notify, officer_commands, setup_commands
from .serve_command import make_server, server_options  # noqa: F401 (bench/ and tests use cli.server_options)

PROG = "sealdrop"
LANG_HELP = N_("the language of the messages (default: from LANGUAGE, LC_ALL, LC_MESSAGES or LANG; else en)")


class CliError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise CliError(message + " " + _("(see sealdrop --help)"))


def _session(cfg: config_mod.Config):
    return db.standalone_session(cfg.database_url)


def cmd_init(args: argparse.Namespace) -> None:
    instance = Path(args.dir).resolve()
    if (instance / config_mod.CONFIG_FILE).exists():
        raise CliError(_("%(path)s is already a sealdrop instance") % {"path": instance})
    url = args.database or config_mod.sqlite_url(instance)
    if not url.startswith(("sqlite:", "postgresql")):
        raise CliError(_("--database takes a PostgreSQL URL (postgresql+psycopg://...) or sqlite:///PATH"))
    if args.blob_store == "postgresql" and not url.startswith("postgresql"):
        raise CliError(
            _(
                "--blob-store postgresql keeps the blobs in the database: "
                "it needs --database with a PostgreSQL URL"
            )
        )
    existed = instance.exists()
    instance.mkdir(parents=True, exist_ok=True, mode=0o700)
    before = set(instance.iterdir())
    try:
        fingerprint = _create_instance(instance, url, args.demo, args.blob_store)
    except BaseException as e:
        # All or nothing: a half-made instance (a key but no database) would make the retry fail.
        _remove_new_entries(instance, before, remove_folder=not existed)
        if isinstance(e, sqlalchemy.exc.SQLAlchemyError):
            said = _("cannot set up the database: %(reason)s") % {"reason": _first_line(e)}
            raise CliError(said) from None
        raise
    _print_created(instance, fingerprint, args.demo)


def _print_created(instance: Path, fingerprint: str, with_demo: bool) -> None:
    """What `init` made, in the operator's language; the path, fingerprint and file name as they are."""
    print(_("instance: %(path)s") % {"path": instance})
    print(_("server signing key fingerprint: %(fingerprint)s") % {"fingerprint": fingerprint})
    if with_demo:
        said = _("demo desk: %(url)s (demo officer identity: %(identity)s, empty passphrase, DEMO ONLY)")
        print(said % {"url": "/r/demo", "identity": demo.OFFICER_IDENTITY})


def _create_instance(instance: Path, url: str, with_demo: bool, blob_store: str = "files") -> str:
    """The database first (the step most likely to fail), then the secrets and config; returns the
    signing key's fingerprint."""
    cfg = config_mod.Config(instance_dir=instance, database_url=url, blob_store=blob_store)
    db.migrate(url)
    write_secret_file(instance / config_mod.SECRET_FILE, secrets.token_hex(32))
    key = SigningKey.generate()
    key.save(instance / config_mod.SIGNING_KEY_FILE)
    fingerprint = key.verify_key.fingerprint
    pub = f"# sealdrop server signing key\n# fingerprint: {fingerprint}\n{key.verify_key.encode()}\n"
    (instance / config_mod.SIGNING_PUB_FILE).write_text(pub)
    cfg.blob_dir.mkdir(mode=0o700, exist_ok=True)
    if with_demo:
        with _session(cfg) as session:
            demo.create(session, instance)
        cfg = cfg.with_overrides(**demo.SETTINGS)
    config_mod.save(cfg)  # last: its presence is what marks a finished instance
    return fingerprint


def _remove_new_entries(instance: Path, before: set[Path], *, remove_folder: bool) -> None:
    for entry in set(instance.iterdir()) - before:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    if remove_folder:
        with contextlib.suppress(OSError):
            instance.rmdir()


def _first_line(error: sqlalchemy.exc.SQLAlchemyError) -> str:
    """The driver's own reason (e.g. "connection refused"), without SQLAlchemy's help text."""
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()
    return (reason[0] if reason else type(error).__name__)[:300]


def cmd_budgets(args: argparse.Namespace) -> None:
    """The budgets in the config and, while `sealdrop serve` runs, the counts in its current window
    (from DIR/budgets.json, which serve rewrites every 30 s); with --json and `redis_url`, the counts
    every instance shares, from Redis (budget.json_report)."""
    cfg = config_mod.load(Path(args.dir))
    live = budget.read_snapshot(cfg)
    if args.json:
        print(json.dumps(budget.json_report(cfg, live), indent=1))
        return
    for line in budget.describe(cfg, live):
        print(line)


def build_parser() -> argparse.ArgumentParser:
    """Every command; every help text in the language in force (`main` chose it before building this,
    and builds it inside console.argparse_speaks for argparse's own words)."""
    parser = _Parser(prog=PROG, description=_("sealdrop: the online side of an anonymous reporting dropbox."))
    parser.add_argument(
        "--dir", default=os.environ.get("SEALDROP_DIR", "instance"), help=_("the instance folder")
    )
    # dest "messages_lang", not "lang": `poster --lang` (the poster's language) would overwrite it
    parser.add_argument("--lang", dest="messages_lang", choices=config_mod.LANGUAGES, help=_(LANG_HELP))
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("init", help=_("create an instance: config, database, blob store, signing key"))
    p.add_argument("--demo", action="store_true", help=_("add demo desks, categories and DEMO-ONLY officers"))
    p.add_argument("--database", metavar="URL", help=_("a PostgreSQL URL; SQLite in DIR by default"))
    p.add_argument(
        "--blob-store",
        choices=blob_commands.STORES[::-1],
        default="files",
        help=_(
            "files in DIR/blobs (default), or large objects in the PostgreSQL database (several machines)"
        ),
    )
    p.set_defaults(run=cmd_init)
    serve_command.add_parser(sub)
    onion_commands.add_parsers(sub, _Parser)
    setup_commands.add_parsers(sub, _Parser)
    officer_commands.add_parsers(sub, _Parser)
    p = sub.add_parser("budgets", help=_("report and sign-in budgets, and the counts of a running serve"))
    p.add_argument("--json", action="store_true", help=_("as JSON: the config's limits and serve's counts"))
    p.set_defaults(run=cmd_budgets)
    posters.add_parser(sub)
    desk_commands.add_parsers(sub, _Parser)
    notify.add_parsers(sub, _Parser)
    viewer_bundle.add_parser(sub, _Parser)
    maps.add_parsers(sub, _Parser)
    blob_commands.add_parsers(sub, _Parser)
    return parser


def language_in(argv: list[str]) -> str | None:
    """`--lang L` (or `--lang=L`) anywhere on the line, read before the parser is built: its help texts
    are said in L, and so is a mistake anywhere in the rest of the line. Given twice, the last one, as
    argparse takes it (else the help would be in one language and the messages in another). After
    `poster` it is not ours (`poster --lang` is the poster's language), and the word after `--dir` is
    a folder."""
    words = iter(argv)
    command, found = None, None
    for word in words:
        if word == "--lang" or word.startswith("--lang="):
            value = next(words, None) if word == "--lang" else word.partition("=")[2]
            if command != "poster" and value is not None:
                found = value
        elif word == "--dir":
            next(words, None)
        elif command is None and not word.startswith("-"):
            command = word
    return found


def main(argv: list[str] | None = None) -> int:
    os.umask(0o077)  # everything an instance writes (database, blobs, keys) is private to its user
    argv = sys.argv[1:] if argv is None else argv
    console.init(language_in(argv))
    try:
        with console.argparse_speaks():
            args = _add_globals_everywhere(build_parser()).parse_args(argv)
        console.init(args.messages_lang)
        args.run(args)
        sys.stdout.flush()  # here, not at exit, so that a closed pipe is caught below
    except BrokenPipeError:  # `sealdrop desk list | head -1`: the reader has all it wanted
        return stdout_closed()
    except OnionError as e:
        print(_("error: %(problem)s") % {"problem": onion_words.error_words(e)}, file=sys.stderr)
        return 1
    except (CliError, KeyFormatError, ValueError) as e:
        print(_("error: %(problem)s") % {"problem": e}, file=sys.stderr)
        return 1
    except OSError as e:
        print(_("error: %(problem)s") % {"problem": _os_error_words(e)}, file=sys.stderr)
        return 1
    return 0


def _os_error_words(e: OSError) -> str:
    """An operating system's refusal in the operator's language, naming the file or folder."""
    words = {
        errno.ENOENT: _("no such file or folder"),
        errno.EEXIST: _("it exists already"),
        errno.EACCES: _("permission denied"),
        errno.EPERM: _("permission denied"),
        errno.ENOSPC: _("the disk is full"),
        errno.EROFS: _("the disk is read-only"),
        errno.EISDIR: _("it is a folder, not a file"),
        errno.ENOTDIR: _("a part of the path is not a folder"),
    }
    return os_error_words(e, words)


def _add_globals_everywhere(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Accept --dir and --lang after the subcommand too (`sealdrop init --dir X`, `serve --help --lang
    ru`), as the docs write them; `poster --lang` stays the poster's. Each subcommand's own --help opens
    with the line that `sealdrop --help` lists it with."""
    stack = [parser]
    while stack:
        p = stack.pop()
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for listed in action._choices_actions:
                    action.choices[listed.dest].description = listed.help
                for child in action.choices.values():
                    _add_globals(child)
                    stack.append(child)
    return parser


def _add_globals(child: argparse.ArgumentParser) -> None:
    taken = {option for a in child._actions for option in a.option_strings}
    if "--dir" not in taken:
        child.add_argument("--dir", default=argparse.SUPPRESS, help=_("the instance folder"))
    if "--lang" not in taken:
        child.add_argument(
            "--lang",
            dest="messages_lang",
            default=argparse.SUPPRESS,
            choices=config_mod.LANGUAGES,
            help=_(LANG_HELP),
        )


if __name__ == "__main__":
    sys.exit(main())
