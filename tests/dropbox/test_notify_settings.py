"""Notices that reports wait (dropbox/desk/notify.py), the settings: checked when config.json is read,
a bad one refused naming its key, the good ones loaded as written."""

from __future__ import annotations

import pytest

from dropbox import config

# The *_fixture names: pytest finds fixtures among a module's names; imported to be found, never called.
from tests.dropbox.notify_helpers import (
    instance_fixture,  # noqa: F401
    write_config,
)

GOOD = {
    "notify_email_to": ["a@example.org"],
    "notify_from": "sealdrop@example.org",
    "notify_smtp_host": "mail.example.org",
}


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"notify_every_s": 10}, "notify_every_s"),
        ({"notify_every_s": "3600"}, "notify_every_s"),
        ({"notify_email_to": "a@example.org"}, "notify_email_to"),
        ({"notify_email_to": ["not an address"]}, "notify_email_to"),
        ({"notify_email_to": {"demo": ["a@example.org\r\nBcc: x@evil.example"]}}, "notify_email_to"),
        ({"notify_email_to": {"": ["a@example.org"]}}, "notify_email_to"),
        ({"notify_email_to": ["a@example.org"], "notify_smtp_host": ""}, "notify_smtp_host"),
        ({"notify_from": ""}, "notify_from"),
        ({"notify_from": "x@example.org\nBcc: y@example.org"}, "notify_from"),
        ({"notify_smtp_port": 0}, "notify_smtp_port"),
        ({"notify_smtp_port": 70000}, "notify_smtp_port"),
        ({"notify_smtp_security": "ssl"}, "notify_smtp_security"),
        ({"notify_smtp_security": "none"}, "notify_smtp_security"),  # a password in the clear: no
        ({"notify_smtp_host": "mail example"}, "notify_smtp_host"),
        ({"notify_webhook_url": "http://hooks.example.org/x"}, "notify_webhook_url"),
        ({"notify_webhook_url": {"demo": "ftp://x"}}, "notify_webhook_url"),
        ({"notify_webhook_url": ["https://x.example"]}, "notify_webhook_url"),
        ({"notify_smtp_user": 5}, "notify_smtp_user"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(instance, options, key):
    write_config(instance, **(GOOD | options))
    with pytest.raises(config.ConfigError, match=key) as info:
        config.load(instance)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "options",
    [
        {},
        GOOD,
        GOOD | {"notify_email_to": {"demo": ["a@example.org"], "*": ["b@example.org"]}, "notify_every_s": 60},
        GOOD | {"notify_smtp_security": "none", "notify_smtp_host": "127.0.0.1", "notify_smtp_port": 25},
        GOOD | {"notify_smtp_security": "tls", "notify_smtp_port": 465, "notify_smtp_user": "u"},
        {"notify_webhook_url": "https://hooks.example.org/sealdrop"},
        {"notify_webhook_url": {"demo": "http://127.0.0.1:9000/x", "*": ""}},
    ],
)
def test_good_settings_load(instance, options):
    write_config(instance, **options)
    cfg = config.load(instance)
    assert all(getattr(cfg, k) == v for k, v in options.items())
