"""Coverage-guided fuzzing of every parser that reads what an outsider sends (issue 12).

    python -m fuzz [--runs N] [TARGET ...]     each target in its own process under atheris; prints
                                               cases run, crashes and seconds per target (`make fuzz`)
    python -m fuzz.run TARGET [libFuzzer flags]   one target, as libFuzzer runs it

The targets are in `targets.py`; tests/fuzz runs them briefly under atheris and under hypothesis.
"""
