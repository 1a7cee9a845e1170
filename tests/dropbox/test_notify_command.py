"""Notices that reports wait (dropbox/desk/notify.py), `sealdrop notify`: it describes each desk's
notices and the last one sent, and sends a test notice without a count, saying which failed."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pytest

from dropbox import config
from dropbox.desk import notify

# The *_fixture names: pytest finds fixtures among a module's names; imported to be found, never called.
from tests.dropbox.notify_helpers import (
    SMTP_PASSWORD,
    START,
    add_reports,
    free_port,
    instance_fixture,  # noqa: F401
    notifier_for_fixture,  # noqa: F401
    notify_fields,
    parsed,
    settings,
    smtp_fixture,  # noqa: F401
    tls_fixture,  # noqa: F401
    write_config,
)


def run_command(instance: Path, *argv: str) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir")
    notify.add_parsers(parser.add_subparsers(), argparse.ArgumentParser)
    args = parser.parse_args(["--dir", str(instance), "notify", *argv])
    args.run(args)


def test_the_command_describes_and_sends_a_test_without_a_count(instance, tls, smtp, capsys, notifier_for):
    port, inbox = smtp
    write_config(instance, **notify_fields(settings(instance, tls, port)))
    add_reports(instance, 4)
    run_command(instance)
    out = capsys.readouterr().out
    assert "demo: e-mail to clerk@example.org, second@example.org" in out
    assert "demo-internal: no notices" in out and SMTP_PASSWORD not in out
    run_command(instance, "--test")
    assert capsys.readouterr().out == "demo: e-mail test notice sent\n"
    body = parsed(inbox.messages[0][2]).get_content()
    assert "This is a test" in body and "4" not in body
    assert not (instance / notify.STATE_FILE).exists()  # a test is not a notice: the beat still sends

    # After a notice, the command says when it went out (its period) and what it said.
    assert notifier_for(config.load(instance)).beat() == 1
    write_config(instance, notify_webhook_url={"nowhere": "https://hooks.example.org/x"})
    run_command(instance, "--desk", "demo")
    out = capsys.readouterr().out.splitlines()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(START))
    assert out[1:] == [
        "demo: e-mail to clerk@example.org, second@example.org",
        f"  last e-mail notice: 4 new, in the period from {when}",
        "warning: notify_webhook_url names 'nowhere', which is no desk",
    ]


def test_the_command_says_which_test_failed(instance, tls, capsys):
    cfg = settings(instance, tls, free_port())
    write_config(
        instance, **{k: getattr(cfg, k) for k in cfg.__dataclass_fields__ if k.startswith("notify_")}
    )
    with pytest.raises(notify.NotifyError, match="1 of 1 test notices failed"):
        run_command(instance, "--test", "--desk", "demo")
    assert capsys.readouterr().out == "demo: e-mail test notice failed (ConnectionRefusedError)\n"
    with pytest.raises(notify.NotifyError, match="no desk nowhere"):
        run_command(instance, "--test", "--desk", "nowhere")
