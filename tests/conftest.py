"""Fixtures: a fresh database per test on SQLite, and on PostgreSQL when
WORKFLOW_TEST_POSTGRES_URL is set (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test).

`backend_url` gives the URL of a fresh, empty database; `app` an initialised App on it with an
admin actor and a fixed today; `run` invokes the CLI in-process and returns the click Result.
"""

from __future__ import annotations

import os
import uuid
from datetime import date

import pytest
from click.testing import CliRunner

from workflow.app import App, Settings

PG_URL = os.environ.get("WORKFLOW_TEST_POSTGRES_URL")
TODAY = date(2026, 11, 20)  # a Friday


def _pg_admin_url(url: str) -> str:
    from workflow.store.db import normalise_url

    return normalise_url(url)


def _fresh_pg_database(url: str) -> tuple[str, callable]:
    import sqlalchemy as sa

    base = _pg_admin_url(url)
    name = f"wf_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    fresh = base.rsplit("/", 1)[0] + "/" + name

    def drop():
        with admin.connect() as c:
            c.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        admin.dispose()

    return fresh, drop


BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])


@pytest.fixture(autouse=True)
def _outside_the_checkout(tmp_path_factory, monkeypatch):
    """Run every test in a directory of its own: the file channel's `notices/`, the weekly
    report's `reports/` and any other relative path land there, never in the checkout. (Not
    `tmp_path` itself: some tests count the files they made there.)"""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(params=BACKENDS)
def backend_url(request, tmp_path):
    """URL of a fresh empty database on each backend under test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'workflow.db'}"
    else:
        url, drop = _fresh_pg_database(PG_URL)
        yield url
        drop()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'workflow.db'}"


def make_app(url: str, actor: str | None = "admin", today: date = TODAY, **kw) -> App:
    return App(Settings(db_url=url, actor=actor, today=today, **kw))


@pytest.fixture
def app(backend_url):
    """An initialised App (admin actor, today 2026-11-20) on a fresh database."""
    from workflow.setup import init

    a = make_app(backend_url)
    init(a)
    yield a
    a.db.dispose()


@pytest.fixture
def sqlite_app(sqlite_url):
    from workflow.setup import init

    a = make_app(sqlite_url)
    init(a)
    yield a
    a.db.dispose()


class Runner:
    """Run the CLI in-process against one database, as one actor, on a fixed day."""

    def __init__(self, url: str, today: date = TODAY):
        self.url = url
        self.today = today
        self.runner = CliRunner()

    def __call__(self, *args: str, actor: str | None = "admin", today: date | None = None,
                 env: dict | None = None):
        from workflow.cli import cli

        full = ["--db", self.url, "--today", (today or self.today).isoformat()]
        if actor:
            full += ["--as", actor]
        environment = {"WORKFLOW_DB": None, "WORKFLOW_ACTOR": None, "WORKFLOW_TODAY": None,
                       "WORKFLOW_POLICIES": None, **(env or {})}
        return self.runner.invoke(cli, full + [str(a) for a in args], env=environment,
                                  catch_exceptions=False)


@pytest.fixture
def run(app):
    return Runner(app.settings.db_url)


def dump(url: str) -> list:
    """Every row of every table, for 'nothing changed' comparisons."""
    import sqlalchemy as sa

    from workflow.store.db import Database

    db = Database(url)
    out = []
    with db.connect() as conn:
        for table in sorted(sa.inspect(conn).get_table_names()):
            if table == "alembic_version":
                continue
            rows = conn.execute(sa.text(f'SELECT * FROM "{table}"')).all()
            out.append((table, sorted(map(repr, rows))))
    db.dispose()
    return out
