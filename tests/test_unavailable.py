"""Database unreachable, refused or gone mid-transaction: every command fails with one clear
`Error:` line and exit status 1, never a traceback, never a password; nothing partial is written."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.cli_tree import leaf_commands, minimal_argv
from tests.conftest import PG_URL, dump
from workflow.cli import cli
from workflow.store.db import Database

SECRET = "s3cret-pw"
# Commands that never open the database.
NO_DATABASE = {("policy", "check"), ("policy", "show")}
# Commands that refuse a PostgreSQL URL before connecting (they point to pg_dump instead).
SQLITE_ONLY = {("backup",), ("restore",)}
COMMANDS = list(leaf_commands(long_running=True))  # a daemon too: it must fail at once


def unreachable_urls() -> list[tuple[str, str]]:
    urls = [("closed port", f"postgresql+psycopg://workflow:{SECRET}@127.0.0.1:1/workflow"),
            ("no such directory", "sqlite:////nonexistent-dir/for/sure/workflow.db")]
    if PG_URL:
        server = PG_URL.split("@", 1)[1].rsplit("/", 1)[0]
        urls += [("unknown user", f"postgresql+psycopg://nosuchuser:{SECRET}@{server}/test"),
                 ("no such database", f"postgresql+psycopg://postgres:{SECRET}@{server}/nodb_x")]
    return urls


def invoke(url: str, argv: list[str]):
    env = {"WORKFLOW_DB": None, "WORKFLOW_ACTOR": None, "WORKFLOW_TODAY": None,
           "WORKFLOW_POLICIES": None}
    return CliRunner().invoke(cli, ["--db", url, "--as", "admin", *argv], env=env,
                              catch_exceptions=True)


@pytest.mark.parametrize("case, url", unreachable_urls(), ids=[c for c, _ in unreachable_urls()])
def test_every_command_fails_with_one_clear_line(case, url, tmp_path):
    failures = []
    for path, cmd in COMMANDS:
        argv = minimal_argv(path, cmd, tmp_path)
        result = invoke(url, argv)
        out = result.output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            failures.append(f"{argv}: crashed with {result.exception!r}")
            continue
        if SECRET in out or "Traceback" in out:
            failures.append(f"{argv}: leaks {out!r}")
        if path in NO_DATABASE:
            if result.exit_code != 0:
                failures.append(f"{argv}: needs no database but exited {result.exit_code}: {out}")
            continue
        lines = out.strip().splitlines()
        expected = "database unavailable" if path not in SQLITE_ONLY or "sqlite" in url else ""
        if (result.exit_code != 1 or len(lines) != 1 or not lines[0].startswith("Error: ")
                or expected not in out):
            failures.append(f"{argv}: exit {result.exit_code}: {out!r}")
    assert not failures, "\n".join(failures)
    assert len(COMMANDS) >= 20


def test_a_file_that_is_not_a_database_is_one_clear_line(tmp_path):
    junk = tmp_path / "notes.db"
    junk.write_bytes(b"these are meeting notes, not a database" * 100)
    result = invoke(f"sqlite:///{junk}", ["permit", "list"])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ")
    assert junk.read_bytes() == b"these are meeting notes, not a database" * 100


def test_a_connection_lost_mid_sweep_writes_nothing_and_the_next_run_succeeds(app, run):
    """The server drops the sweep's connection after its light changes are written but before
    they commit: the command fails with one line and the ledger is as before."""
    if app.db.is_sqlite:
        pytest.skip("PostgreSQL only: a SQLite database cannot drop a connection")
    from datetime import date

    from tests.helpers import permit, project
    from workflow import sweep

    project(app, "P1")
    permit(app, "P1", "eia", ("accept", date(2026, 9, 24)))
    before = dump(app.settings.db_url)

    def drop_connection(app_, conn, day, changed):
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        killer = sa.create_engine(app_.db.url, isolation_level="AUTOCOMMIT")
        with killer.connect() as k:
            k.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        killer.dispose()
        conn.exec_driver_sql("SELECT 1")
        return {}

    sweep.AFTER_CHANGES.append(drop_connection)
    try:
        result = CliRunner().invoke(cli, ["--db", app.settings.db_url, "--today", "2026-11-20",
                                          "sweep"], catch_exceptions=True)
    finally:
        sweep.AFTER_CHANGES.remove(drop_connection)
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: database unavailable")
    assert "Traceback" not in result.output
    assert result.output.count("\n") == 1
    assert dump(app.settings.db_url) == before
    assert run("sweep", actor=None).exit_code == 0
    assert dump(app.settings.db_url) != before


def test_a_sqlite_file_gone_missing_is_not_recreated_empty_by_any_connection(sqlite_app):
    """The scheduler's job store connects without `Database.connect` (and its check that the
    file exists): it must fail too, not leave an empty database where the real one was."""
    db = Database(sqlite_app.settings.db_url)  # as any command but `init` opens it
    with db.engine.connect():
        pass
    db.dispose()
    sqlite_app.db.dispose()
    db.path.rename(db.path.with_suffix(".away"))
    with pytest.raises(sa.exc.OperationalError, match="unable to open database file"):
        with db.engine.connect():
            pass
    assert not db.path.exists()
