"""A brief coverage-guided run of every fuzz target under atheris, inside `make test` (`make fuzz`
runs them long): each target in its own process, two at a time, for a few thousand cases (the HTTP
targets fewer: a request through the whole app costs milliseconds, not microseconds)."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from fuzz import targets
from fuzz.__main__ import run_target

pytest.importorskip("atheris")

BRIEF = {name: 1500 for name in targets.TARGETS} | {"api_json": 400, "nojs_form": 200}


def test_every_target_runs_its_cases_without_a_crash(tmp_path):
    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(BRIEF, pool.map(lambda n: run_target(n, BRIEF[n], tmp_path), BRIEF), strict=True))
    for name, (runs, crashes, output) in results.items():
        assert crashes == 0, f"{name} crashed:\n{output[-3000:]}"
        assert runs == BRIEF[name], f"{name} ran {runs} of {BRIEF[name]} cases:\n{output[-2000:]}"
    assert not list(tmp_path.iterdir())  # no crash input was saved
