"""Notices that reports wait (dropbox/desk/notify.py), when things fail: a failing mail server is
counted and logged without content and tried again, the beat goes on, serve keeps running, and the
secrets must be private and present before the notices start."""

from __future__ import annotations

import logging
import re

import pytest

from dropbox import config
from dropbox.desk import notify

# The *_fixture names: pytest finds fixtures among a module's names; imported to be found, never called.
from tests.dropbox.notify_helpers import (
    HOUR,
    SMTP_PASSWORD,
    Clock,
    add_reports,
    free_port,
    instance_fixture,  # noqa: F401
    mail_server,
    notifier_for_fixture,  # noqa: F401
    notify_fields,
    settings,
    tls_fixture,  # noqa: F401
)


def test_a_failing_mail_server_is_counted_without_content_and_tried_again(
    instance, tls, notifier_for, caplog
):
    port = free_port()  # nothing listens yet
    numbers = add_reports(instance, 2)
    clock = Clock()
    notifier = notifier_for(settings(instance, tls, port), clock)
    with caplog.at_level(logging.WARNING, "sealdrop.notify"):
        assert notifier.beat() == 0
    assert notifier.failed["e-mail"] == 1 and notifier.sent["e-mail"] == 0
    assert caplog.messages == ["notify: e-mail notice failed (ConnectionRefusedError)"]
    for secret in [*numbers, "clerk@example.org", "demo", "2 new", SMTP_PASSWORD]:
        assert secret not in caplog.text

    # A wrong password: refused by the server; its reply names nobody in the log either.
    controller, inbox = mail_server(tls)
    try:
        (instance / notify.SMTP_PASSWORD_FILE).write_text("wrong")
        wrong = notifier_for(config.load(instance).with_overrides(**_notify_fields(notifier.cfg, controller)))
        caplog.clear()
        with caplog.at_level(logging.WARNING, "sealdrop.notify"):
            assert wrong.beat() == 0
        # smtplib tries the next mechanism after a refusal; the server may hang up on it instead of
        # answering: either is a failure of the SMTP kind, logged by its class alone.
        [logged] = caplog.messages
        assert re.fullmatch(
            r"notify: e-mail notice failed \(SMTP(AuthenticationError|ServerDisconnected)\)", logged
        )
        assert "refused" in inbox.logins and "ok" not in inbox.logins and inbox.messages == []
        # The server is back and the password right: the next beat sends what the failed one could not.
        (instance / notify.SMTP_PASSWORD_FILE).write_text(SMTP_PASSWORD)
        clock.t += HOUR
        again = notifier_for(
            config.load(instance).with_overrides(**_notify_fields(notifier.cfg, controller)), clock
        )
        assert again.beat() == 1 and len(inbox.messages) == 1
    finally:
        controller.stop()


def _notify_fields(cfg: config.Config, controller) -> dict:
    return notify_fields(cfg) | {"notify_smtp_port": controller.port}


def test_a_beat_that_fails_does_not_stop_the_next(instance):
    clock, runs = Clock(), []

    def job():
        runs.append(clock.t)
        raise RuntimeError("the database went away: " + "case C1234")

    def wait(seconds):
        clock.t += seconds
        return len(runs) >= 3

    notify.run_on_beat(job, HOUR, clock, wait)
    assert len(runs) == 3


def test_serve_keeps_running_when_the_mail_server_is_down(instance, tls):
    add_reports(instance, 1)
    cfg = settings(instance, tls, free_port())
    schedule = notify.start_notifications(cfg)
    try:
        assert schedule is not None and schedule._thread.is_alive()
        schedule.notifier.beat()  # what the thread does on the hour, here at once
        assert schedule.notifier.failed["e-mail"] == 1 and schedule._thread.is_alive()
    finally:
        schedule.stop()
    assert not schedule._thread.is_alive()


def test_no_channel_no_thread(instance):
    assert notify.start_notifications(config.load(instance)) is None


def test_secrets_must_be_private_and_present(instance, tls, monkeypatch):
    cfg = settings(instance, tls, 25)
    (instance / notify.SMTP_PASSWORD_FILE).chmod(0o644)
    with pytest.raises(notify.NotifyError, match="chmod 600"):
        notify.start_notifications(cfg)
    (instance / notify.SMTP_PASSWORD_FILE).unlink()
    monkeypatch.delenv(notify.SMTP_PASSWORD_ENV, raising=False)
    with pytest.raises(notify.NotifyError, match="no password"):
        notify.start_notifications(cfg)
    monkeypatch.setenv(notify.SMTP_PASSWORD_ENV, SMTP_PASSWORD)  # the environment will do too
    notify.start_notifications(cfg).stop()
    with pytest.raises(notify.NotifyError, match="notify_cafile"):
        notify.start_notifications(cfg.with_overrides(notify_cafile=str(instance / "no-such.pem")))
