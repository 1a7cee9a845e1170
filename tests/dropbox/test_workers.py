"""`sealdrop serve --workers N`: the budgets' shared counter (dropbox/budget.py), alone and across
forked processes, and the pre-fork supervisor (dropbox/workers.py) serving for real."""

from __future__ import annotations

import multiprocessing
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from dropbox import budget, config

FORK = multiprocessing.get_context("fork")
WINDOW_S = 100.0  # ten slices of 10 s


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


KEYS = st.sampled_from(["demo", "city", budget.OVERALL, "пример"])
EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), KEYS, st.integers(0, 5)),
        st.tuples(st.just("wait"), st.floats(0, 40, allow_nan=False)),
        st.tuples(st.just("count"), KEYS),
        st.tuples(st.just("below"), KEYS, st.integers(0, 12)),
        st.tuples(
            st.just("seen"),
        ),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(EVENTS)
def test_the_shared_counter_answers_as_the_one_in_memory(events):
    clock = FakeClock()
    ours, theirs = budget.SharedWindowCounter(WINDOW_S, clock), budget.WindowCounter(WINDOW_S, clock)
    for kind, *rest in events:
        if kind == "add":
            ours.add(rest[0], rest[1])
            theirs.add(rest[0], rest[1])
        elif kind == "wait":
            clock.now += rest[0]
        elif kind == "count":
            assert ours.count(rest[0]) == theirs.count(rest[0])
        elif kind == "below":
            assert ours.seconds_until_below(*rest) == theirs.seconds_until_below(*rest)
        else:
            assert sorted(ours.seen()) == sorted(theirs.seen())


def test_a_key_past_the_table_counts_in_the_overflow_slot_never_a_crash():
    clock = FakeClock()
    counter = budget.SharedWindowCounter(WINDOW_S, clock, keys=4)
    for n in range(4):
        counter.add(f"desk{n}")
    counter.add("late-one", 2)
    counter.add("late-two", 3)
    counter.add("x" * 64)  # too long for a slot of its own
    assert sorted(counter.seen()) == [f"desk{n}" for n in range(4)]
    assert counter.count("desk0") == 1
    # The keys without a slot share one count: their limits bind together, tighter, never looser.
    assert counter.count("late-one") == counter.count("late-two") == 6
    assert counter.seconds_until_below("late-two", 6) > 0


def _add_many(counter: budget.SharedWindowCounter, key: str, times: int) -> None:
    for _ in range(times):
        counter.add(key)
        counter.add(budget.OVERALL)


def test_forked_processes_add_to_one_count():
    counter = budget.SharedWindowCounter(600.0, budget.time.monotonic)
    children = [FORK.Process(target=_add_many, args=(counter, f"desk{n % 2}", 300)) for n in range(4)]
    for child in children:
        child.start()
    _add_many(counter, "desk0", 100)  # the parent too, at the same time
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    assert counter.count("desk0") == 700
    assert counter.count("desk1") == 600
    assert counter.count(budget.OVERALL) == 1300
    assert sorted(counter.seen()) == sorted(["desk0", "desk1", budget.OVERALL])


def _take_all(budgets: budget.Budgets, tries: int, taken) -> None:
    got = sum(1 for _ in range(tries) if budgets.take("forms", "demo") == 0)
    with taken.get_lock():
        taken.value += got


def test_shared_budgets_refuse_at_the_limit_however_the_processes_share_the_load(tmp_path):
    cfg = replace(config.Config(instance_dir=tmp_path, database_url="sqlite://"), budget_reports_per_desk=57)
    budgets = budget.Budgets(cfg, counters=budget.shared_counters(cfg.budget_window_s))
    taken = FORK.Value("i", 0)
    children = [FORK.Process(target=_take_all, args=(budgets, 40, taken)) for _ in range(3)]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    assert taken.value == 57  # 120 tries in three processes: exactly the limit went through
    assert budgets.wait_s("forms", "demo") > 0
    assert budgets.snapshot()["counts"]["demo"]["forms"] == 57
