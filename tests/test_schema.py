"""The schema `workflow init` builds through the migrations is the one the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

# declared in its migration only: a partial index on the model imported the PostgreSQL dialect
# at every start (docs/performance.md)
MIGRATION_ONLY = {"ix_permit_event_moved_on"}


def test_migrations_build_exactly_the_schema_the_models_declare(app):
    from sqlmodel import SQLModel

    from workflow.store.models import load_all

    load_all()
    with app.db.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    left = [d for d in diff
            if not (d[0] == "remove_index" and d[1].name in MIGRATION_ONLY)]
    assert left == []


def test_the_kept_counts_triggers_are_in_place(app):
    """The completion report trusts the kept counts only while these triggers run; a migration
    that rebuilt `permit` or `project` (SQLite batch mode) would drop them silently."""
    with app.db.connect() as conn:
        if conn.dialect.name == "sqlite":
            names = set(conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars())
            expected = {"permit_tally_insert", "permit_tally_update", "permit_tally_delete",
                        "project_tally_district", "permit_lights_stale_insert",
                        "permit_lights_stale_update"}
        else:  # PostgreSQL checks stale lights inside the statement triggers
            names = set(conn.exec_driver_sql(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal").scalars())
            expected = {"permit_tally_insert", "permit_tally_update", "permit_tally_delete",
                        "project_tally_district"}
    assert expected <= names
