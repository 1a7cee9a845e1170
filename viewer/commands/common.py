"""What every sealview command shares: the parser that speaks the officer's language, opening the
vault (the passphrase prompt, the vault's language), the progress bar, writing an output file."""

from __future__ import annotations

import argparse
import errno
import re
import shutil
from pathlib import Path

from crypto.cli import CliError, atomic_output, read_passphrase

from .. import i18n
from ..i18n import N_, _
from ..vault import Vault, read_info

PROG = "sealview"
LANG_HELP = N_(
    "the language to speak: bg, ru, kk or en (default: $SEALVIEW_LANG, else the vault's setting, else the"
    " system's language from LANGUAGE, LC_ALL, LC_MESSAGES or LANG)"
)
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


def _copy_out(src: Path, target: str) -> None:
    with open(src, "rb") as f, atomic_output(target, binary_to_tty_ok=False) as out:
        shutil.copyfileobj(f, out, 1 << 20)


def _check_output_folder(target: str) -> None:
    """Refuse before the vault records anything (replies sent, a case forwarded) when the output's
    folder is missing (a USB stick not mounted): the bundle would stay in the outbox unseen."""
    folder = Path(target).parent
    if not folder.is_dir():
        raise FileNotFoundError(errno.ENOENT, "no such folder", str(folder))
