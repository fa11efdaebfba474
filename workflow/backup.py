"""Back up a SQLite database online, and restore a backup into an empty database.

SQLite: the online backup API copies a consistent snapshot while other processes keep reading
and writing; the copy is written next to FILE and renamed into place only once it is complete
and passes `PRAGMA integrity_check`, so a crash never leaves a half-written FILE.
PostgreSQL: use the server's own tools (`pg_dump -Fc` / `pg_restore`), see docs/reliability.md.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from workflow import actors
from workflow.app import App
from workflow.errors import BadData

BACKUP_ROLES = frozenset({actors.Role.ADMIN})
PG_HINT = (
    "on PostgreSQL back up with the server's tools: `pg_dump -Fc -f workflow.dump DBNAME`, "
    "and `pg_restore -d NEWDB workflow.dump` into an empty database (see docs/reliability.md)"
)


def _sqlite_path(app: App) -> str:
    if not app.db.is_sqlite:
        raise BadData(PG_HINT)
    path = app.db.url.split("///", 1)[-1]
    if not path or path == ":memory:" or path.startswith("file:"):
        raise BadData(f"cannot back up {app.db.describe()}: not a database file")
    return path


def _check_copy(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()
    if result != "ok":
        raise BadData(f"{path}: integrity check failed: {result}")


def _copy(src: sqlite3.Connection, dest_path: Path) -> None:
    """Copy `src` into `dest_path` through a temporary file renamed into place."""
    tmp = dest_path.with_name(f".{dest_path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        dest = sqlite3.connect(tmp)
        try:
            src.backup(dest)
            # a standalone copy: no -wal file to carry around
            dest.execute("PRAGMA journal_mode = DELETE")
        finally:
            dest.close()
        _check_copy(tmp)
        os.replace(tmp, dest_path)
    finally:
        tmp.unlink(missing_ok=True)


def _target(file: Path, force: bool) -> Path:
    file = Path(file)
    try:
        if file.is_dir():
            raise BadData(f"{file}: is a directory")
        if not file.parent.is_dir():
            raise BadData(f"{file}: no directory {file.parent}")
        if file.exists() and not force:
            raise BadData(f"{file} exists: pass --force to overwrite it")
    except OSError as e:  # a name too long, no permission
        raise BadData(f"{file}: {e.strerror}") from None
    return file


def backup(app: App, file: Path, *, force: bool = False) -> dict[str, Any]:
    """Copy the (SQLite) database to `file` online; return what was copied."""
    path = _sqlite_path(app)
    with app.db.connect() as conn:
        me = actors.lookup(conn, app.settings.actor)
        actors.require(me, BACKUP_ROLES, "back up the database")
    file = _target(file, force)
    if Path(path).resolve() == file.resolve():
        raise BadData(f"{file} is the database itself")
    raw = app.db.engine.raw_connection()
    try:
        _copy(raw.driver_connection, file)
    finally:
        raw.close()
    return {"database": app.db.describe(), "file": str(file), **_counts(file)}


def _counts(file: Path) -> dict[str, int]:
    conn = sqlite3.connect(file)
    try:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("project", "permit", "permit_event")
        }
    finally:
        conn.close()


def restore(app: App, file: Path) -> dict[str, Any]:
    """Copy backup `file` into this (SQLite) database, which must be empty or not exist yet.

    A restore never overwrites a ledger: restore into a new file and point --db at it.
    """
    path = _sqlite_path(app)
    file = Path(file)
    try:
        if not file.is_file():
            raise BadData(f"{file}: no such file")
    except OSError as e:
        raise BadData(f"{file}: {e.strerror}") from None
    try:
        _check_copy(file)
        counts = _counts(file)
    except sqlite3.DatabaseError as e:
        raise BadData(f"{file}: not a workflow backup ({e})") from None
    if Path(path).exists():
        inspector = sa.inspect(app.db.engine)
        tables = set(inspector.get_table_names())
        if "permit" in tables:
            with app.db.connect() as conn:
                rows = sum(
                    conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                    for t in ("project", "permit")
                )
            if rows:
                raise BadData(f"{app.db.describe()} is not empty: restore into a new database")
    app.db.dispose()
    src = sqlite3.connect(file)
    try:
        dest = sqlite3.connect(path)
        try:
            src.backup(dest)
        finally:
            dest.close()
    finally:
        src.close()
    _check_copy(Path(path))
    return {"database": app.db.describe(), "file": str(file), **counts}
