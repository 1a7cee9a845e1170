"""Officer keys the desk trusts (issue 14 items 3 and 5): rotation and confirming a colleague's key."""

from __future__ import annotations

import argparse


def add_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add this module's sealview commands to `sub`."""
