"""Several officers on one desk (issue 14 item 4): signed state bundles between their viewers."""

from __future__ import annotations

import argparse


def add_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add this module's sealview commands to `sub`."""
