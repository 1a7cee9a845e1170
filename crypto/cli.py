"""`python -m crypto`: keygen, seal and open from the command line, in the manner of age.

Every failure prints one line to stderr, exits non-zero and leaves no output file behind: output
goes to a temporary file beside the target (mode 0600) that is renamed into place only on success.
Like age, the output is not fsynced: the rename makes it appear whole or not at all, and durability
across a power cut is the caller's `sync` (an fsync of 256 MiB costs more than sealing it).
Without -o, `open` streams plaintext to stdout as each chunk authenticates (so a pipe never waits for
the whole file): on a damaged envelope stdout has received a true prefix before the error. Use -o
where all or nothing matters.
Passphrases come from SEALDROP_PASSPHRASE or a prompt on the terminal, never from the command line.

Start-up time is part of every command's cost, so modules only one command needs (PyNaCl for the
passphrase, getpass) are imported where they are used.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from .envelope import seal, unseal
from .errors import SealdropCryptoError
from .keys import Identity, KeyFormatError, PublicKey

PROG = "python -m crypto"
PASSPHRASE_ENV = "SEALDROP_PASSPHRASE"  # noqa: S105 (a variable name, not a secret)
# 128 + SIGPIPE: what `sort`, `cat` and every tool killed by a closed pipe exit with, so a script with
# `set -o pipefail` still learns the output was cut short; no message, since nobody is missing anything.
BROKEN_PIPE_EXIT = 141


class CliError(Exception):
    """A failure to report in one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        raise CliError(f"{message} (see `{PROG} --help`)")


def read_passphrase(prompt: str, *, confirm: bool = False) -> str:
    """The passphrase from SEALDROP_PASSPHRASE, else asked on the terminal (twice with `confirm`)."""
    if PASSPHRASE_ENV in os.environ:
        return os.environ[PASSPHRASE_ENV]
    if not _have_terminal():  # getpass would fall back to reading stdin, echoing the passphrase
        raise CliError(f"no passphrase: set {PASSPHRASE_ENV} or run in a terminal")
    import getpass

    try:
        first = getpass.getpass(prompt)
        if confirm and getpass.getpass("Repeat it: ") != first:
            raise CliError("the two passphrases differ")
    except (EOFError, OSError):
        raise CliError(f"no passphrase: set {PASSPHRASE_ENV} or run in a terminal") from None
    return first


def _have_terminal() -> bool:
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return False
    return True


@contextlib.contextmanager
def atomic_output(path: str | None, *, binary_to_tty_ok: bool) -> Iterator[BinaryIO]:
    """Yield a writable file; on success it becomes `path` (or was stdout), on failure it is gone."""
    if path is None:
        if not binary_to_tty_ok and sys.stdout.isatty():
            raise CliError("refusing to write an envelope to the terminal; use -o FILE")
        with os.fdopen(sys.stdout.fileno(), "wb", buffering=0, closefd=False) as out:
            yield out
        return
    target = Path(path)
    if target.exists() and not target.is_file():
        raise CliError(f"{path} exists and is not a regular file")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb", buffering=0) as out:
            yield out
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def os_error_path(error: OSError) -> str:
    """The path an OSError is about, as the person named it: a failed write names the temporary
    `.NAME.XXXX.partial` beside the target, whose folder is what is missing or not writable."""
    name = str(error.filename or "")
    if Path(name).name.startswith(".") and name.endswith(".partial"):
        return str(Path(name).parent)
    return name


def os_error_words(error: OSError, words: Mapping[int, str]) -> str:
    """An operating system's refusal in a person's words: `words` maps errno to words from the caller's
    own catalogue (sealdrop's or sealview's), else the system's text; the file or folder is named."""
    said = words.get(error.errno or 0) or error.strerror or str(error)
    path = os_error_path(error)
    return f"{path}: {said}" if path else said


@contextlib.contextmanager
def argparse_speaking(
    gettext: Callable[[str], str], ngettext: Callable[[str, str, int], str]
) -> Iterator[None]:
    """argparse's own words ("usage: ", its group titles, -h's help, its errors) through the caller's
    catalogue (sealdrop's or sealview's, each listing them for pybabel) while a parser is built and
    parses; argparse says them through the stdlib's gettext domain, which has no bg, ru or kk."""
    saved = argparse._, argparse.ngettext  # type: ignore[attr-defined]
    argparse._ = lambda message: None if message is None else gettext(message)  # type: ignore[attr-defined]
    argparse.ngettext = ngettext  # type: ignore[attr-defined]
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved  # type: ignore[attr-defined]


LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")  # the order gettext reads them


def locale_language(ours: Collection[str], environ: Mapping[str, str] | None = None) -> str:
    """The language the system's locale names, among `ours` (sealdrop's or sealview's); "en" when it
    names none. The first of LOCALE_VARIABLES that is set decides; LANGUAGE may list several, `de:ru`:
    the first of ours wins, else the next variable decides. `C` and `POSIX` mean English, as does a
    locale we lack."""
    environ = os.environ if environ is None else environ
    for variable in LOCALE_VARIABLES:
        value = environ.get(variable, "")
        if not value:
            continue
        for entry in value.split(":"):
            # ru_RU.UTF-8, kk_KZ, bg@latin: the language is what comes before _ . @
            code = entry.split(".")[0].split("@")[0].split("_")[0].lower()
            if code in ("c", "posix"):
                return "en"
            if code in ours:
                return code
        if variable != "LANGUAGE":  # the locale that is set decides, even when it is one we lack
            return "en"
    return "en"


def stdout_closed() -> int:
    """What a command does when whoever read its output went away (`sealview list | head -1`): not an
    error to tell anyone. stdout is pointed at /dev/null so that Python's own flush at exit does not
    complain again; returns the exit status, BROKEN_PIPE_EXIT."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)
    return BROKEN_PIPE_EXIT


@contextlib.contextmanager
def input_file(path: str | None) -> Iterator[BinaryIO]:
    if path is None or path == "-":
        yield sys.stdin.buffer
        return
    with open(path, "rb", buffering=0) as f:
        yield f


def _recipient(spec: str) -> PublicKey:
    if spec.startswith("sealdrop-public-key-"):
        return PublicKey.parse(spec)
    return PublicKey.load(Path(spec))


def cmd_keygen(args: argparse.Namespace) -> None:
    target, pub = Path(args.output), Path(args.output + ".pub")
    for p in (target, pub):
        if p.exists():
            raise CliError(f"{p} already exists; not overwriting a key")
    passphrase = read_passphrase("Passphrase for the new identity: ", confirm=True)
    if not passphrase:
        raise CliError("the passphrase must not be empty")
    identity = Identity.generate()
    identity.save(target, passphrase)
    try:
        pub.write_text(identity.public_key.to_file_text(), encoding="ascii")
    except BaseException:  # never leave half a key pair: the identity goes with its public key
        target.unlink()
        with contextlib.suppress(OSError):
            pub.unlink()
        raise
    print(f"fingerprint: {identity.fingerprint}")
    print(f"public key:  {pub}")


def cmd_seal(args: argparse.Namespace) -> None:
    recipients = [_recipient(r).recipient for r in args.recipient]
    with input_file(args.input) as src, atomic_output(args.output, binary_to_tty_ok=False) as dst:
        seal(src, dst, recipients)


def cmd_open(args: argparse.Namespace) -> None:
    identity = Identity.load(Path(args.identity), read_passphrase(f"Passphrase for {args.identity}: "))
    with input_file(args.input) as src, atomic_output(args.output, binary_to_tty_ok=True) as dst:
        unseal(src, dst, [identity.decryption_key])


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Seal and open sealdrop envelopes (docs/envelope.md).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("keygen", help="make an officer identity: writes ID (secret) and ID.pub")
    p.add_argument("-o", "--output", required=True, metavar="ID")
    p.set_defaults(run=cmd_keygen)
    p = sub.add_parser("seal", help="seal IN (or stdin) to one or more public keys")
    p.add_argument("-r", "--recipient", action="append", required=True, metavar="PUB",
                   help="a public key file, or the key itself; repeat for several")  # fmt: skip
    p.add_argument("-o", "--output", metavar="OUT")
    p.add_argument("input", nargs="?", metavar="IN")
    p.set_defaults(run=cmd_seal)
    p = sub.add_parser("open", help="open IN (or stdin) with an identity")
    p.add_argument("-i", "--identity", required=True, metavar="ID")
    p.add_argument("-o", "--output", metavar="OUT")
    p.add_argument("input", nargs="?", metavar="IN")
    p.set_defaults(run=cmd_open)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        args.run(args)
    except (CliError, SealdropCryptoError, KeyFormatError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        where = f": {e.filename}" if e.filename else ""
        print(f"error: {e.strerror or e}{where}", file=sys.stderr)
        return 1
    except MemoryError:
        print("error: not enough memory (an identity file asking for a large passphrase cost?)",
              file=sys.stderr)  # fmt: skip
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0
