"""Vault backup and restore (issue 14 item 2): `sealview backup` and `sealview restore`."""

from __future__ import annotations

import argparse


def add_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add this module's sealview commands to `sub`."""
