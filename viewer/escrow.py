"""An escrow recipient split into paper shares (issue 14 item 7): `sealview escrow ...` (docs/backup.md).

    sealview escrow create --desk SLUG --shares N --threshold K -o DIR
    sealview escrow recover --share FILE --share FILE ... -o IDENTITY

`create` makes a new officer identity, the escrow key, whose public half (DIR/escrow.pub) the operator
registers as one more officer of the desk (`sealdrop officer add`), so every report is sealed to it too.
Its secret keys (64 bytes: X25519 and Ed25519) are split with Shamir's scheme (crypto.shamir) into N
shares, any K of which rebuild it; they are written as share files and printable sheets, and exist
nowhere else. `recover` rebuilds the identity from K shares and writes it sealed under a new
passphrase, for `sealview init --identity`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import textwrap
from pathlib import Path

from crypto import DecryptionKey, Identity, SigningKey
from crypto.cli import CliError, read_passphrase
from crypto.keys import write_secret_file
from crypto.shamir import Share, ShareError, combine, split

from .disk import fsync_dir
from .errors import ViewerError
from .i18n import _
from .vault import today

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def identity_secret(identity: Identity) -> bytes:
    return identity.decryption_key.private_bytes() + identity.signing_key.seed()


def identity_from(secret: bytes) -> Identity:
    return Identity(DecryptionKey.from_private_bytes(secret[:32]), SigningKey.from_seed(secret[32:64]))


def sheet(share: Share, desk: str, fingerprint: str) -> str:
    """A printable page for one share's holder, in the officer's language."""
    rule = "=" * 72
    lines = [
        rule,
        _("SEALDROP ESCROW KEY: SHARE %(i)s OF %(n)d", i=share.index, n=share.count),
        rule,
        "",
        _("Desk: %(desk)s", desk=desk),
        _("Escrow key fingerprint: %(fp)s", fp=fingerprint),
        _("Made on: %(day)s", day=today()),
        _("Shares needed to recover the key: %(k)s of %(n)d", k=share.threshold, n=share.count),
        _("Held by: ______________________________"),
        "",
        *share.to_text().splitlines(),
        "",
        _("What this is"),
        _(
            "One share of the escrow key of desk %(desk)s. As many shares as this sheet says, put "
            "together, open every report sealed to this key; fewer open nothing.",
            desk=desk,
        ),
        "",
        _("How to keep it"),
        _(
            "Keep this sheet sealed in an envelope, in a safe. Never photograph it, copy it or type it "
            "into a computer that is online. Tell the desk's head at once if it is lost or seen by "
            "someone else: then the key must be replaced."
        ),
        "",
        _("How it is used"),
        _(
            "Only when the officers' own keys are lost, on the desk head's written request, with as "
            "many holders present as this sheet says. On the offline machine each share is typed into a "
            "text file exactly as printed (letters, digits, spaces and CHECK) and the officer runs:"
        ),
        "  sealview escrow recover --share FILE --share FILE ... -o escrow.identity",
        _("Check that the fingerprint it prints is the one on this sheet."),
        "",
    ]
    # Prose is wrapped for paper; the indented command is not, so it is typed as one line.
    return "\n".join(textwrap.fill(line, 72) if len(line) > 72 and line[0] != " " else line for line in lines)


def _write_text(path: Path, text: str) -> None:
    """A secret text file, 0600 from the start, in UTF-8 (write_secret_file writes ASCII only)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def cmd_create(args) -> None:
    n, k = args.shares, args.threshold
    if not 2 <= k <= n <= 255:
        raise CliError(_("the threshold must be at least 2 and at most the number of shares (at most 255)"))
    desk = args.desk or "SLUG"
    if args.desk is not None and not SLUG.match(args.desk):
        raise CliError(
            _("%(slug)r is not a desk slug (lower-case letters, digits and dashes)", slug=args.desk)
        )
    target = Path(args.output)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise CliError(_("%(path)s exists and is not empty: give a new folder for the shares", path=target))
    identity = Identity.generate()
    shares = split(identity_secret(identity), n, k)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    work = target.parent / f".{target.name}.making-{os.urandom(4).hex()}"
    work.mkdir(mode=0o700)
    try:
        comment = f"escrow key of desk {desk}"
        (work / "escrow.pub").write_text(identity.public_key.to_file_text(comment=comment), encoding="ascii")
        for share in shares:
            head = (
                f"# sealdrop escrow share {share.index} of {n} (any {k} recover the key)\n"
                f"# desk {desk}, escrow key fingerprint {identity.fingerprint}\n"
            )
            write_secret_file(work / f"share-{share.index}.txt", head + share.to_text())
            _write_text(
                work / f"sheet-{share.index}.txt", sheet(share, args.desk or "-", identity.fingerprint)
            )
        os.rename(work, target)
        fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    print(_("escrow key fingerprint: %(fp)s", fp=identity.fingerprint))
    print(_("shares made: %(n)d; needed to recover the key: %(k)s; in %(path)s", n=n, k=k, path=target))
    print(
        _(
            "register it as an officer of the desk: sealdrop officer add --desk %(desk)s %(file)s",
            desk=desk,
            file=target / "escrow.pub",
        )
    )
    print(
        _(
            "on a desk that has officers, one of them then confirms it (docs/key-trust.md): sealview "
            "confirm-key %(file)s --name Escrow --statement-out escrow.statement",
            file=target / "escrow.pub",
        )
    )
    print(_("print each sheet, give each to its holder, then delete the share and sheet files"))


def _share_problem(e: ShareError, file: str) -> str:
    """One line that points where the holder looks: the line's own printed number, not its place in the
    file (comments, blank lines and the header come before it)."""
    if e.kind == "checksum" and e.line == 1:
        return _(
            "%(file)s: the first line (SEALDROP-SHARE-1 ...) has a typo (its check does not match)", file=file
        )
    if e.kind == "checksum":
        return _(
            "%(file)s: the line numbered %(n)s has a typo (its check does not match)", file=file, n=e.line - 1
        )
    if e.kind == "missing_line":
        return _(
            "%(file)s: the line numbered %(n)s is missing or out of order", file=file, n=(e.line or 2) - 1
        )
    if e.kind == "version":
        return _("%(file)s: this share was made by another version of sealview", file=file)
    return _("%(file)s: this is not a sealdrop share (line %(line)s)", file=file, line=e.line or 1)


def read_shares(files: list[str]) -> list[Share]:
    """Every share file parsed and checked line by line; shares of different keys named."""
    shares: list[tuple[str, Share]] = []
    for file in files:
        if not Path(file).is_file():
            raise CliError(_("no such file: %(path)s", path=file))
        try:
            share = Share.parse(Path(file).read_text("utf-8", errors="replace"))
        except ShareError as e:
            raise ViewerError(_share_problem(e, file)) from None
        for other_file, other in shares:
            if (other.secret_id, other.threshold, other.count) != (
                share.secret_id,
                share.threshold,
                share.count,
            ):
                raise ViewerError(
                    _(
                        "%(file)s and %(other)s are shares of different keys (ids %(id)s and %(other_id)s)",
                        file=file,
                        other=other_file,
                        id=share.id_text,
                        other_id=other.id_text,
                    )
                )
            if other == share:  # two copies of one sheet would otherwise read as "2 given, 3 needed"
                raise ViewerError(
                    _(
                        "%(file)s and %(other)s are the same share (number %(i)s): bring another holder's",
                        file=file,
                        other=other_file,
                        i=share.index,
                    )
                )
        shares.append((file, share))
    return [share for _file, share in shares]


def recover(files: list[str]) -> Identity:
    shares = read_shares(files)
    try:
        return identity_from(combine(shares))
    except ShareError as e:
        if e.kind == "too_few":
            raise ViewerError(
                _("not enough shares: %(given)s given, %(needed)s needed", needed=e.needed, given=e.given)
            ) from None
        if e.kind == "conflict":
            raise ViewerError(_("two of these files say they are the same share but differ")) from None
        raise ViewerError(_("these shares do not rebuild the escrow key: one of them is wrong")) from None


def cmd_recover(args) -> None:
    target = Path(args.output)
    if target.exists():
        raise CliError(_("%(file)s already exists; not overwriting an identity", file=target))
    if not target.parent.is_dir():  # said before the shares are read and a passphrase chosen
        raise CliError(_("no such folder: %(path)s", path=target.parent))
    identity = recover(args.share)
    passphrase = read_passphrase(_("Passphrase for the recovered identity: "), confirm=True)
    if not passphrase:
        raise ViewerError(_("the passphrase must not be empty"))
    identity.save(target, passphrase)
    print(_("escrow key recovered: fingerprint %(fp)s", fp=identity.fingerprint))
    print(
        _(
            "compare it with the sheets, then make a vault with it: sealview init --identity %(file)s",
            file=target,
        )
    )


def add_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add this module's sealview commands to `sub`."""
    p = sub.add_parser("escrow", help=_("an escrow key split into paper shares (make, recover)"))
    esub = p.add_subparsers(
        dest="escrow_command", required=True, parser_class=parser_class, title=_("commands")
    )
    c = esub.add_parser("create", help=_("make an escrow key and split it into shares"))
    c.add_argument(
        "--desk", metavar="SLUG", help=_("the desk whose reports it will open (printed on the sheets)")
    )
    c.add_argument("--shares", required=True, type=int, metavar="N", help=_("how many shares to make"))
    c.add_argument("--threshold", required=True, type=int, metavar="K", help=_("how many recover the key"))
    c.add_argument("-o", "--output", required=True, metavar="DIR")
    c.set_defaults(run=cmd_create)
    r = esub.add_parser("recover", help=_("rebuild the escrow key from shares into an identity file"))
    r.add_argument("--share", action="append", required=True, metavar="FILE", help=_("a share file (repeat)"))
    r.add_argument("-o", "--output", required=True, metavar="IDENTITY")
    r.set_defaults(run=cmd_recover)
