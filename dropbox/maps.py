"""Map sheets (issue 16): georeferenced images of a desk's town, served by sealdrop itself."""

from __future__ import annotations

import argparse


def add_parsers(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add `sealdrop map ...` to `sub`."""
