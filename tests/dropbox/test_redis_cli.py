"""The operator's side of `redis_url`: `sealdrop serve` says at start, in one line on stderr, that Redis
does not answer; `sealdrop budgets --json` prints the configured limits without Redis and says in the
JSON when the shared counts cannot be read (dropbox/serve_command.py, dropbox/budget.py)."""

import json
import os
import subprocess
import sys

import pytest
import redis

from dropbox import cli, config
from tests.helpers import REPO, free_port

REDIS_URL = os.environ.get("SEALDROP_TEST_REDIS", "redis://127.0.0.1:6379/0")


def with_redis(instance, url: str) -> config.Config:
    config.save(config.load(instance).with_overrides(redis_url=url, redis_prefix="sealdrop-test-cli"))
    return config.load(instance)


def silent_redis_url() -> str:
    """A Redis address nothing listens on, with a password that must never be shown."""
    return f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"


def test_budgets_json_prints_the_limits_and_says_redis_is_away(sqlite_instance, capsys):
    port_url = silent_redis_url()
    with_redis(sqlite_instance, port_url)
    assert cli.main(["budgets", "--dir", str(sqlite_instance), "--json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out)
    assert report["config"]["reports"] == {"per_desk": 120, "overall": 600}
    assert report["serving"] is None
    assert report["redis"]["answers"] is False
    port = port_url.rsplit(":", 1)[1].split("/")[0]
    assert f"127.0.0.1:{port}" in report["redis"]["problem"] and "hunter2" not in out


def test_budgets_json_in_bulgarian_says_so_in_bulgarian(sqlite_instance, capsys):
    with_redis(sqlite_instance, silent_redis_url())
    assert cli.main(["--lang", "bg", "budgets", "--dir", str(sqlite_instance), "--json"]) == 0
    problem = json.loads(capsys.readouterr().out)["redis"]["problem"]
    assert "Redis" in problem and "does not answer" not in problem


def test_budgets_json_reads_the_shared_counts_from_redis(sqlite_instance, capsys):
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    with_redis(sqlite_instance, REDIS_URL)
    assert cli.main(["budgets", "--dir", str(sqlite_instance), "--json"]) == 0
    shared = json.loads(capsys.readouterr().out)["redis"]
    assert shared["answers"] is True
    assert set(shared["counts"]["*"]) == {"reports", "forms", "signins"}


def test_serve_warns_once_on_stderr_when_redis_does_not_answer(sqlite_instance):
    with_redis(sqlite_instance, silent_redis_url())
    proc = subprocess.Popen(
        [sys.executable, "-m", "dropbox.cli", "serve", "--dir", str(sqlite_instance),
         "--port", str(free_port()), "--desk-port", "0", "--retention-every", "0"],
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=REPO,
    )  # fmt: skip
    try:
        first = proc.stderr.readline().decode()
        for line in proc.stdout:  # it goes on and serves all the same
            if line.startswith(b"desk: "):
                break
        else:
            pytest.fail("serve exited: " + proc.stderr.read().decode())
    finally:
        proc.terminate()
        proc.wait(20)
    assert first.startswith("warning: Redis at 127.0.0.1:") and "does not answer" in first
    assert "hunter2" not in first
