"""Secrets never leak: with a password in the database URL and secrets planted in the
environment, no command's output (text or --json), no log line and no database row contains them.

Issue 4 reads SMTP and webhook secrets from the environment; its commands join this test through
the walked click tree, and its variable names belong in PLANTED."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from click.testing import CliRunner

from tests.cli_tree import leaf_commands, minimal_argv
from tests.conftest import PG_URL, _fresh_pg_database, dump, make_app
from tests.test_fuzz_cli import seed
from workflow.cli import cli

SECRET = "pl4nted-S3CRET"
PLANTED = {"WORKFLOW_SMTP_PASSWORD": SECRET + "-smtp", "WORKFLOW_WEBHOOK_SECRET": SECRET + "-hook",
           "SMTP_PASSWORD": SECRET + "-smtp2"}


@pytest.fixture
def url_with_password():
    if not PG_URL:
        pytest.skip("needs PostgreSQL: a SQLite URL has no password")
    url, drop = _fresh_pg_database(PG_URL)
    user, rest = url.split("://", 1)[1].split("@", 1)
    # the test server trusts local connections, so any password is accepted and must not leak
    yield f"postgresql+psycopg://{user.split(':')[0]}:{SECRET}@{rest}"
    drop()


def test_no_output_log_or_row_holds_a_secret(url_with_password, tmp_path, caplog):
    url = url_with_password
    seed(make_app(url, today=date(2026, 11, 20)))
    env = {"WORKFLOW_DB": None, "WORKFLOW_ACTOR": None, "WORKFLOW_TODAY": None,
           "WORKFLOW_POLICIES": None, **PLANTED}
    caplog.set_level(logging.DEBUG)
    leaks = []
    ran = 0
    for path, cmd in leaf_commands():
        argv = minimal_argv(path, cmd, tmp_path)
        for extra in ([], ["--json"]) if any(p.name == "as_json" for p in cmd.params) else ([],):
            result = CliRunner().invoke(
                cli, ["--db", url, "--today", "2026-11-20", "--as", "admin", *argv, *extra],
                env=env, catch_exceptions=True)
            ran += 1
            if SECRET in result.output or SECRET in repr(result.exception):
                leaks.append(f"{argv + extra}: {result.output!r}")
    leaks += [f"log: {r.getMessage()}" for r in caplog.records if SECRET in r.getMessage()]
    rows = dump(url)
    leaks += [f"table {table}" for table, content in rows if SECRET in repr(content)]
    assert not leaks, "\n".join(leaks)
    assert ran > 30
