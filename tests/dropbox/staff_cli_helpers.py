"""What the staff command-line tests (tests/dropbox/test_staff_cli_*.py) share: an instance on SQLite or
PostgreSQL, sealdrop run in this process, its one-line errors, the audit trail it leaves, an officer key
file, and English unless a test chooses a language.

The fixtures are named with `name=`: a test module imports `run_fixture` and asks for `run`, so the
import is not shadowed by the test's argument."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

import crypto
from crypto.cli import LOCALE_VARIABLES
from dropbox import cli, config, console, db
from dropbox.models import AuditEntry
from tests.helpers import make_instance, postgres_database

Result = tuple[int, str, str]


@pytest.fixture(name="site")
def site_fixture(request, tmp_path) -> Iterator[Path]:
    """An instance on SQLite, or on each database for the tests marked both_databases."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield make_instance(tmp_path / "instance")
        return
    if os.environ.get("SEALDROP_SKIP_POSTGRES") == "1":
        pytest.skip("SEALDROP_SKIP_POSTGRES=1")
    with postgres_database() as url:
        yield make_instance(tmp_path / "instance", url)


both_databases = pytest.mark.parametrize("site", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture(name="run")
def run_fixture(site, capsys) -> Callable[..., Result]:
    """sealdrop in this process: (exit code, stdout, stderr)."""

    def sealdrop(*args: str, stdin: str | None = None) -> Result:
        if stdin is not None:
            sys.stdin = io.StringIO(stdin)
        try:
            code = cli.main([*args, "--dir", str(site)])
        finally:
            sys.stdin = sys.__stdin__
        out, err = capsys.readouterr()
        return code, out, err

    return sealdrop


@pytest.fixture(name="english", autouse=True)
def english_fixture(monkeypatch) -> Iterator[None]:
    """These tests read English unless they choose a language: the machine's locale must not decide."""
    for variable in LOCALE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    yield
    console.init("en")


def fails(result: Result) -> str:
    code, _out, err = result
    prefix = console._("error: %(problem)s").split("%")[0]  # in the language the command spoke
    assert code == 1 and err.count("\n") == 1 and err.startswith(prefix), err
    return err


def session_for(instance: Path):
    return db.standalone_session(config.load(instance).database_url)


def new_key_file(tmp_path: Path, name: str = "petrova") -> tuple[Path, str]:
    identity = crypto.Identity.generate()
    path = tmp_path / f"{name}.pub"
    path.write_text(identity.public_key.to_file_text())
    return path, identity.fingerprint


def audit_actions(instance: Path) -> list[str]:
    with session_for(instance) as s:
        return list(
            s.scalars(select(AuditEntry.action).where(AuditEntry.actor == "cli").order_by(AuditEntry.id))
        )
