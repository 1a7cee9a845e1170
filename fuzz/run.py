"""One target under atheris (libFuzzer): `python -m fuzz.run TARGET [-runs=N] [libFuzzer flags]`.

Our packages are imported with atheris' coverage instrumentation, so mutations that reach new
branches of a parser are kept and built on. A crash prints the input's traceback and saves the input
(`crash-*`, in -artifact_prefix) for a regression test.
"""

from __future__ import annotations

import sys

import atheris

OURS = ["crypto", "dropbox", "viewer", "metadata"]


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        sys.exit("usage: python -m fuzz.run TARGET [libFuzzer flags]")
    with atheris.instrument_imports(include=OURS):
        from fuzz.targets import TARGETS
    target = TARGETS[argv[1]]
    target(b"\x00")  # set-up (keys, a demo instance) before the clock and coverage start counting
    atheris.Setup([argv[0], *argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
