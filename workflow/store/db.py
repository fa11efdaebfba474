"""Engines and transactions for SQLite (default) and PostgreSQL.

SQLite runs with foreign keys on, WAL and a busy timeout; write transactions start with
`BEGIN IMMEDIATE` so that two writers queue instead of failing half-way. Reads use plain
deferred transactions and never block writers.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from workflow.errors import DatabaseUnavailable

SQLITE_BUSY_TIMEOUT_MS = 30_000
OPEN: weakref.WeakSet[Database] = weakref.WeakSet()  # closed by `close_all` at process end


def redact(url: str) -> str:
    """Return `url` with any password replaced by ***."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def redact_text(text: str) -> str:
    """Return `text` with the passwords of URLs and of DSNs (`password=...`) replaced by ***."""
    # psycopg puts the whole DSN in some messages
    return re.sub(r"password=\S+", "password=***", redact(text))


def normalise_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` as psycopg 3 URLs; paths as SQLite files."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if "://" not in url:
        url = f"sqlite:///{url}"
    return url


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        # Let SQLAlchemy's "begin" below decide how each transaction starts.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection):
        if conn.get_execution_options().get("workflow_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


class Database:
    """One database: an engine, and read and write transactions on it."""

    def __init__(self, url: str):
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        # Only `workflow init` (and the demo) may create a SQLite file; any other command on a
        # missing file says so instead of leaving an empty database behind.
        self.create_if_missing = False
        self.path: Path | None = None
        kwargs: dict = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
            path = self.url.split("///", 1)[-1]
            if path and path != ":memory:" and not path.startswith("file:"):
                self.path = Path(path)
                parent = self.path.parent
                if not parent.is_dir():
                    raise DatabaseUnavailable(
                        f"database unavailable ({redact(self.url)}): no directory {parent}"
                    )
        else:
            kwargs["pool_pre_ping"] = True
            kwargs["connect_args"] = {"connect_timeout": 5}
        self.engine = sa.create_engine(self.url, **kwargs)
        if self.is_sqlite:
            _sqlite_setup(self.engine)
        OPEN.add(self)
        # the engine outlives this object in a reference cycle; close its pool with it
        weakref.finalize(self, self.engine.dispose)
        if self.path is not None:
            self._open_existing_only()

    def _open_existing_only(self) -> None:
        """Open the SQLite file read-write without creating it (unless `create_if_missing`):
        a connection made while the file is missing (the scheduler's job store's too, which
        bypasses `connect`) fails instead of leaving an empty database in its place."""
        from urllib.parse import quote

        @event.listens_for(self.engine, "do_connect")
        def _do_connect(_dialect, _record, cargs, cparams):
            if not self.create_if_missing:
                cargs[:] = [f"file:{quote(str(self.path))}?mode=rw"]
                cparams["uri"] = True

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def describe(self) -> str:
        return redact(self.url)

    @contextmanager
    def connect(self, write: bool = False, snapshot: bool = False) -> Iterator[Connection]:
        """Yield a connection inside one transaction; commit on success, roll back on error.

        With `snapshot`, every statement reads the same snapshot: REPEATABLE READ on
        PostgreSQL, where each statement of a READ COMMITTED transaction sees what committed
        before it (an SQLite transaction reads one snapshot already).
        """
        if self.path is not None and not self.create_if_missing and not self.path.exists():
            raise DatabaseUnavailable(
                f"database unavailable: no database at {self.path} "
                "(run `workflow init` first, or pass --db URL)"
            )
        try:
            conn = self.engine.connect()
        except sa.exc.OperationalError as e:
            raise DatabaseUnavailable(_unavailable(self, e)) from None
        try:
            if write:
                conn = conn.execution_options(workflow_write=True)
            if snapshot and not self.is_sqlite:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn
        except sa.exc.OperationalError as e:
            if _is_disconnect(e):
                raise DatabaseUnavailable(_unavailable(self, e)) from None
            raise
        finally:
            conn.close()

    @contextmanager
    def session(self, write: bool = False) -> Iterator[Session]:
        """Yield an ORM session in one transaction (write: BEGIN IMMEDIATE on SQLite)."""
        with self.connect(write=write) as conn:
            with Session(bind=conn, expire_on_commit=False, autoflush=False) as session:
                yield session
                session.flush()

    def dispose(self) -> None:
        self.engine.dispose()


def insert_plain(conn: Connection, table: sa.Table, columns: Sequence[str],
                 rows: list[tuple]) -> None:
    """INSERT `rows` (plain tuples in `columns` order, values already as stored: day numbers,
    naive UTC timestamps) straight through the driver: COPY on PostgreSQL, executemany else.

    For bulk writes (the sweep's light events, its notices' matters): SQLAlchemy's per-row
    parameter processing costs more than the database itself at 100k rows.
    """
    if not rows:
        return
    quote = conn.dialect.identifier_preparer.quote
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        # COPY: one stream instead of a statement per row (psycopg adapts each value)
        sql = f"COPY {quote(table.name)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
        dbapi = conn.dialect.loaded_dbapi
        try:
            with conn.connection.driver_connection.cursor() as cursor, cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
        except dbapi.Error as e:
            # the raw cursor bypasses SQLAlchemy: wrap its error as SQLAlchemy would, so that a
            # lost server still reads "database unavailable" and anything else one line
            raise sa.exc.DBAPIError.instance(
                sql, None, e, dbapi.Error, dialect=conn.dialect,
                connection_invalidated=conn.dialect.is_disconnect(e, None, None),
            ) from None
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    conn.exec_driver_sql(
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join([mark] * len(columns))})",
        rows,
    )


def close_all() -> None:
    """Close every pooled connection of this process (SQLite checkpoints its WAL on the last
    close; PostgreSQL sees a clean goodbye rather than a dropped socket)."""
    for db in list(OPEN):
        db.dispose()


def _is_disconnect(e: sa.exc.OperationalError) -> bool:
    text = str(e.orig).lower() if e.orig else str(e).lower()
    return bool(e.connection_invalidated) or any(
        s in text for s in ("connection refused", "could not connect", "server closed",
                            "terminating connection", "connection is closed",
                            "unable to open database", "connection failed")
    )


def _unavailable(db: Database, e: Exception) -> str:
    detail = str(getattr(e, "orig", None) or e).strip().splitlines()[0] if str(e) else ""
    detail = redact_text(detail)
    return f"database unavailable ({db.describe()}): {detail}"
