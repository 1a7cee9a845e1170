"""`python -m fuzz [--runs N] [--artifacts DIR] [TARGET ...]`: every target (or those named) in a
process of its own under atheris; prints per target the cases run, crashes (libFuzzer stops at the
first, saving it) and seconds, and exits non-zero if any target crashed."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

from fuzz.targets import TARGETS


def run_target(name: str, runs: int, artifacts: Path, timeout: float | None = None) -> tuple[int, int, str]:
    """(cases run, crashes, libFuzzer's output) of one target run for `runs` cases."""
    artifacts.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "fuzz.run", name, f"-runs={runs}", "-rss_limit_mb=4096",
               "-timeout=60", "-print_final_stats=1", f"-artifact_prefix={artifacts}/{name}-"]  # fmt: skip
    # Our own interpreter and module, a target name from TARGETS: nothing here comes from outside.
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
    output = done.stdout + done.stderr
    found = re.search(r"number_of_executed_units:\s*(\d+)", output) or re.search(r"Done (\d+) runs", output)
    return (int(found.group(1)) if found else 0), (0 if done.returncode == 0 else 1), output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__)
    parser.add_argument("targets", nargs="*", choices=[[], *TARGETS], default=[])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--artifacts", type=Path, default=Path("fuzz-artifacts"))
    args = parser.parse_args(argv)
    failed = 0
    print(f"{'target':<20}{'cases':>10}{'crashes':>9}{'seconds':>9}", flush=True)
    for name in args.targets or TARGETS:
        started = time.monotonic()
        runs, crashes, output = run_target(name, args.runs, args.artifacts)
        print(f"{name:<20}{runs:>10}{crashes:>9}{time.monotonic() - started:>9.0f}", flush=True)
        if crashes:
            failed += 1
            print(output[-4000:], file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
