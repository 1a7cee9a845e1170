"""Notices that reports wait (dropbox/desk/notify.py), what the e-mail says: how many reports wait on
which desk and nothing else, in the desk's language, over STARTTLS or implicit TLS."""

from __future__ import annotations

import os
from email.utils import parsedate_to_datetime

import pytest
from sqlalchemy import select

from dropbox import config, db
from dropbox.desk import notify
from dropbox.models import Desk

# The *_fixture names: pytest finds fixtures among a module's names; imported to be found, never called.
from tests.dropbox.notify_helpers import (
    START,
    Clock,
    add_reports,
    instance_fixture,  # noqa: F401
    mail_server,
    notifier_for_fixture,  # noqa: F401
    parsed,
    settings,
    smtp_fixture,  # noqa: F401
    tls_fixture,  # noqa: F401
)


def test_the_e_mail_says_how_many_wait_on_which_desk_and_nothing_else(instance, tls, smtp, notifier_for):
    port, inbox = smtp
    numbers = add_reports(instance, 2)
    add_reports(instance, 3, "demo-internal")  # another desk's reports are not this desk's notice
    clock = Clock(START + 17 * 60 + 23)  # some minutes into the period
    notifier = notifier_for(settings(instance, tls, port), clock)
    assert notifier.beat() == 1
    assert inbox.logins == ["ok"]
    [(sender, recipients, raw)] = inbox.messages
    assert sender == "sealdrop@example.org"
    assert recipients == ["clerk@example.org", "second@example.org"]
    message = parsed(raw)
    body = message.get_content()
    assert message["Subject"] == "sealdrop: new reports wait on desk Demo municipality"
    assert body.splitlines()[0] == "2 new reports wait on desk Demo municipality."
    assert "not which reports, not what they are about, and not when they arrived" in body
    # Its only time is the start of the period, whenever within it the beat came.
    assert parsedate_to_datetime(message["Date"]).timestamp() == START
    headers = "From To Subject Date Message-ID Content-Type Content-Transfer-Encoding MIME-Version"
    assert sorted(message.keys()) == sorted(headers.split())
    text = raw.decode()
    for secret in [*numbers, "demo-internal", "3 new", "17:23", "server", "4096", os.uname().nodename]:
        assert secret not in text
    assert not any(ch.isdigit() for ch in body.replace("2 new", ""))  # no other number at all


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_implicit_tls_works_too(instance, tls, notifier_for):
    controller, inbox = mail_server(tls, implicit=True)
    try:
        add_reports(instance, 1)
        cfg = settings(instance, tls, controller.port, notify_smtp_security="tls")
        assert notifier_for(cfg).beat() == 1
        assert parsed(inbox.messages[0][2]).get_content().startswith("1 new report waits on desk Demo")
    finally:
        controller.stop()


def test_the_notice_is_in_the_desks_language(instance, tls, smtp, notifier_for):
    port, inbox = smtp
    cfg = config.load(instance)
    with db.standalone_session(cfg.database_url) as s:
        s.scalar(select(Desk).where(Desk.slug == "demo")).default_language = "bg"
        s.commit()
        s.bind.dispose()
    add_reports(instance, 1)
    words = notify.Words(cfg)
    with words.language("bg"):
        from flask_babel import get_locale

        assert str(get_locale()) == "bg"
    assert notifier_for(settings(instance, tls, port)).beat() == 1
    assert "Демо община" in parsed(inbox.messages[0][2])["Subject"]
