"""An escrow recipient split into paper shares (issue 14 item 7): `sealview escrow ...`."""

from __future__ import annotations

import argparse


def add_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add this module's sealview commands to `sub`."""
