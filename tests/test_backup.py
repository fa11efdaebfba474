"""`workflow backup FILE` copies a SQLite ledger online; restoring it into an empty database
reproduces the same ledger with a verified chain. PostgreSQL points to pg_dump."""

from __future__ import annotations

import json
from datetime import date

import pytest

from tests.conftest import Runner, dump, make_app
from tests.helpers import permit, project, setup_departments
from workflow.audit import verify
from workflow.sweep import sweep


def ledger(app) -> None:
    setup_departments(app)
    project(app, "P1", district="西湖区")
    project(app, "P2")
    permit(app, "P1", "eia", ("accept", date(2026, 9, 24)),
           ("suspend", date(2026, 10, 8), {"reason": "补正材料"}),
           ("resume", date(2026, 10, 12)))
    permit(app, "P2", "energy", ("accept", date(2026, 11, 2)))
    sweep(app, day=date(2026, 11, 20))


def test_backup_then_restore_reproduces_the_ledger(sqlite_app, tmp_path):
    ledger(sqlite_app)
    run = Runner(sqlite_app.settings.db_url)
    copy = tmp_path / "backups" / "ledger.db"
    copy.parent.mkdir()
    result = run("backup", copy, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["permit_event"] == 8
    # the ledger moves on after the backup; the backup keeps the moment it was taken
    before = dump(sqlite_app.settings.db_url)
    permit(sqlite_app, "P2", "eia")

    target = f"sqlite:///{tmp_path / 'restored.db'}"
    restored = Runner(target)("restore", copy, actor=None)
    assert restored.exit_code == 0, restored.output
    assert dump(target) == before
    assert verify(make_app(target))["ok"]
    shown = Runner(target)("permit", "show", "P1/eia", "--json", actor="reader")
    assert json.loads(shown.output)["state"] == "accepted"


def test_backup_refuses_to_overwrite_and_restore_refuses_a_ledger(sqlite_app, tmp_path):
    ledger(sqlite_app)
    run = Runner(sqlite_app.settings.db_url)
    copy = tmp_path / "ledger.db"
    copy.write_text("keep me")
    result = run("backup", copy)
    assert result.exit_code == 1 and "pass --force" in result.output
    assert copy.read_text() == "keep me"
    assert run("backup", copy, "--force").exit_code == 0
    before = dump(sqlite_app.settings.db_url)
    result = run("restore", copy)
    assert result.exit_code == 1 and "is not empty" in result.output
    assert dump(sqlite_app.settings.db_url) == before


def test_only_an_admin_backs_up(sqlite_app, tmp_path):
    ledger(sqlite_app)
    run = Runner(sqlite_app.settings.db_url)
    for actor in ("reader", "office", "clerk.eeb", "nobody", None):
        result = run("backup", tmp_path / "x.db", actor=actor)
        assert result.exit_code == 1, (actor, result.output)
    assert not (tmp_path / "x.db").exists()


def test_restore_refuses_a_file_that_is_not_a_backup(sqlite_url, tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"SQLite format 3\x00" + b"\x01" * 500)
    result = Runner(sqlite_url)("restore", junk, actor=None)
    assert result.exit_code == 1 and "not a workflow backup" in result.output


def test_postgres_backup_points_to_pg_dump(app, run, tmp_path):
    if app.db.is_sqlite:
        pytest.skip("PostgreSQL only")
    result = run("backup", tmp_path / "x.db")
    assert result.exit_code == 1
    assert "pg_dump" in result.output and "Traceback" not in result.output


def test_the_documented_postgres_procedure_reproduces_the_ledger(app, tmp_path):
    """pg_dump -Fc, then pg_restore into an empty database (docs/reliability.md)."""
    import shutil
    import subprocess

    import sqlalchemy as sa

    from tests.conftest import PG_URL, _fresh_pg_database

    if app.db.is_sqlite:
        pytest.skip("PostgreSQL only")
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump and pg_restore are not installed")
    ledger(app)
    libpq = lambda url: url.replace("postgresql+psycopg://", "postgresql://")  # noqa: E731
    archive = tmp_path / "workflow.dump"
    subprocess.run(["pg_dump", "-Fc", "-f", str(archive), libpq(app.settings.db_url)],
                   check=True, timeout=120)
    target, drop = _fresh_pg_database(PG_URL)
    try:
        subprocess.run(["pg_restore", "--no-owner", "-d", libpq(target), str(archive)],
                       check=True, timeout=120)
        assert dump(target) == dump(app.settings.db_url)
        restored = make_app(target)
        assert verify(restored)["ok"]
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with restored.db.connect(write=True) as conn:
                conn.exec_driver_sql("DELETE FROM permit_event")
        restored.db.dispose()
    finally:
        drop()
