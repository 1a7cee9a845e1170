"""config.json is checked when it is loaded: a hand edit that would break the service, or put a wrong
address into every page's Onion-Location, stops it with one line naming the key."""

import json
import subprocess
import sys

import pytest

from dropbox import config

GOOD_ONION = "a" * 56 + ".onion"


def edit(instance, **changes) -> None:
    path = instance / config.CONFIG_FILE
    data = json.loads(path.read_text("utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data), "utf-8")


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"onion_address": "example.com"}, "onion_address"),
        ({"onion_address": "a" * 56}, "onion_address"),  # the .onion forgotten
        ({"public_url": "report.example.org"}, "public_url"),
        ({"public_url": "javascript:alert(1)"}, "public_url"),
        ({"max_attachments": "20"}, "max_attachments"),
        ({"max_decodes": -1}, "max_decodes"),
        ({"pow_work": True}, "pow_work"),
        ({"languages": ["bg", "de"]}, "languages"),
        ({"default_language": "de"}, "default_language"),
        ({"max_atachments": 3}, "max_atachments"),  # a typo is not silently ignored
    ],
)
def test_a_bad_setting_is_refused_by_name(sqlite_instance, changes, named):
    edit(sqlite_instance, **changes)
    with pytest.raises(config.ConfigError, match=named):
        config.load(sqlite_instance)


def test_good_settings_load(sqlite_instance):
    edit(sqlite_instance, onion_address=GOOD_ONION, public_url="https://report.example.org:8443/r/demo")
    loaded = config.load(sqlite_instance)
    assert loaded.onion_address == GOOD_ONION and loaded.public_url.startswith("https://")


def test_the_command_line_says_it_in_one_line(sqlite_instance):
    edit(sqlite_instance, onion_address="not-an-onion")
    result = subprocess.run(
        [sys.executable, "-m", "dropbox.cli", "desk", "list", "--dir", str(sqlite_instance)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "onion_address" in result.stderr
