"""Notices that reports wait (dropbox/desk/notify.py), the webhook: only desks with reports waiting,
the desk and the count signed with the shared secret, a redirect a failure and not followed."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from dropbox import config
from dropbox.desk import notify

# The *_fixture names: pytest finds fixtures among a module's names; imported to be found, never called.
from tests.dropbox.notify_helpers import (
    START,
    Clock,
    add_reports,
    instance_fixture,  # noqa: F401
    notifier_for_fixture,  # noqa: F401
    webhook_fixture,  # noqa: F401
)


def test_a_webhook_for_every_desk_hears_only_of_desks_with_reports(instance, webhook, notifier_for):
    url, hook = webhook
    add_reports(instance, 3)
    cfg = config.load(instance).with_overrides(notify_webhook_url={"*": url})
    notifier = notifier_for(cfg, Clock(START + 99))
    assert notifier.beat() == 1  # "*": every desk has the webhook, but only demo has reports waiting
    assert [json.loads(body) for _, body in hook.received] == [{"desk": "demo", "new_reports": 3}]


def test_the_webhook_gets_the_desk_and_the_count_signed(instance, webhook, notifier_for, monkeypatch):
    url, hook = webhook
    monkeypatch.setenv(notify.WEBHOOK_SECRET_ENV, "shared secret")
    add_reports(instance, 3)
    cfg = config.load(instance).with_overrides(notify_webhook_url={"demo": url})
    assert notifier_for(cfg, Clock(START + 99)).beat() == 1
    [(headers, body)] = hook.received
    assert json.loads(body) == {"desk": "demo", "new_reports": 3}
    assert headers[notify.TIMESTAMP_HEADER] == str(START)
    expected = hmac.new(b"shared secret", f"{START}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers[notify.SIGNATURE_HEADER] == f"sha256={expected}"
    assert headers["Content-Type"] == "application/json" and headers["User-Agent"] == "sealdrop"


def test_a_webhook_that_redirects_is_a_failure_not_followed(instance, webhook, notifier_for, caplog):
    url, hook = webhook
    hook.status = 302
    add_reports(instance, 1)
    notifier = notifier_for(config.load(instance).with_overrides(notify_webhook_url=url))
    with caplog.at_level(logging.WARNING, "sealdrop.notify"):
        assert notifier.beat() == 0
    assert len(hook.received) == 1 and notifier.failed["webhook"] == 1
    assert caplog.messages == ["notify: webhook notice failed (HTTPError)"]
