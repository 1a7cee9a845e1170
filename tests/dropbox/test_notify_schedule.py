"""Notices that reports wait (dropbox/desk/notify.py), when they go out: at most once a period, only
when something new waits, also after a restart with a longer period, on the clock's beat (an injected
clock: no sleeps)."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import pytest

from dropbox.desk import notify

# The *_fixture names: pytest finds fixtures among a module's names; imported to be found, never called.
from tests.dropbox.notify_helpers import (
    HOUR,
    START,
    Clock,
    add_reports,
    export_everything,
    instance_fixture,  # noqa: F401
    notifier_for_fixture,  # noqa: F401
    parsed,
    settings,
    smtp_fixture,  # noqa: F401
    tls_fixture,  # noqa: F401
)


def test_at_most_once_a_period_and_only_when_something_new_waits(instance, tls, smtp, notifier_for):
    port, inbox = smtp
    cfg = settings(instance, tls, port)
    clock = Clock(START + 1)
    notifier = notifier_for(cfg, clock)
    assert notifier.beat() == 0 and inbox.messages == []  # nothing waits: nothing is sent
    assert not (instance / notify.STATE_FILE).exists()

    add_reports(instance, 1)
    assert notifier.beat() == 1
    add_reports(instance, 1)
    clock.t = START + HOUR - 1  # the same period: the second report waits for the next beat
    assert notifier.beat() == 0
    assert notifier_for(cfg, clock).beat() == 0  # nor does a restart of serve send it early
    assert (instance / notify.STATE_FILE).stat().st_mode & 0o777 == 0o600

    clock.t = START + HOUR
    assert notifier.beat() == 1
    clock.t = START + 2 * HOUR  # nothing changed: no repeat
    assert notifier.beat() == 0

    export_everything(instance)  # the clerk took everything: nothing waits
    clock.t = START + 3 * HOUR
    assert notifier.beat() == 0
    add_reports(instance, 2)  # as many as were announced last time, but new ones
    clock.t = START + 4 * HOUR
    assert notifier.beat() == 1
    counts = [parsed(raw).get_content().split()[0] for _, _, raw in inbox.messages]
    assert counts == ["1", "2", "2"]
    dates = [parsedate_to_datetime(parsed(raw)["Date"]).timestamp() for _, _, raw in inbox.messages]
    assert dates == [START + k * HOUR for k in (0, 1, 4)]


def test_a_longer_period_after_a_restart_still_sends(instance, tls, smtp, notifier_for):
    """The state file keeps each period by its start in seconds: a new notify_every_s compares right."""
    port, inbox = smtp
    add_reports(instance, 1)
    assert notifier_for(settings(instance, tls, port), Clock(START + 1)).beat() == 1
    add_reports(instance, 1)
    daily = settings(instance, tls, port, notify_every_s=24 * HOUR)
    next_day = (START // (24 * HOUR) + 1) * 24 * HOUR
    assert notifier_for(daily, Clock(next_day + 1)).beat() == 1
    assert [parsed(raw).get_content().split()[0] for _, _, raw in inbox.messages] == ["1", "2"]


def test_the_beat_keeps_to_the_clock_and_never_runs_at_start(instance):
    clock, beats, waits = Clock(START + 1234.5), [], []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        clock.t += seconds + 0.25  # a thread wakes a little late
        return len(waits) > 3

    notify.run_on_beat(lambda: beats.append(clock.t), HOUR, clock, wait)
    assert waits[0] == HOUR - 1234.5 and all(w == pytest.approx(HOUR - 0.25) for w in waits[1:])
    assert [b // HOUR for b in beats] == [START // HOUR + k for k in (1, 2, 3)]
