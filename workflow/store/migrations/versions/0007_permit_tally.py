"""kept counts for the completion report, written by triggers

`permit_tally` holds signed counts of permits per (type, department, district, phase, light)
with their working days to close. Triggers on `permit` (insert, update, delete) and on
`project.district` append one row per bucket a write changes, so every writer keeps it, and
delete the `lights_as_of` mark when a write stores an open light as of a day before it. The
completion report sums these rows instead of reading every permit (docs/performance.md).

SQLite has row triggers only; PostgreSQL's permit triggers run once per statement over its
transition tables, so the sweep's batch updates cost one grouped insert each.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The SQL is written out here, not imported from workflow.store.tally: a migration creates the
# same triggers whatever the code becomes later (a change to them is a new migration).
LIGHTS_AS_OF = "lights_as_of"
BUCKET_SOURCES = ("type", "department", "project_id", "phase", "light", "accepted_on",
                  "closed_on", "paused_days")
CLOCK = ("phase", "light", "light_on", "accepted_on", "promised_days", "extension_days",
         "paused_days", "suspended_since", "warn_at")
OPEN = "('running', 'paused')"
MARK = f"(SELECT CAST(value AS INTEGER) FROM meta WHERE key = '{LIGHTS_AS_OF}')"
FORGET = f"DELETE FROM meta WHERE key = '{LIGHTS_AS_OF}'"
PERMIT_TRIGGERS = ("permit_tally_insert", "permit_tally_update", "permit_tally_delete")


def insert_sql(source: str) -> str:
    """INSERT the signed bucket rows of `source` (type, department, district, phase, light,
    accepted_on, closed_on, paused_days, sign), summed per bucket."""
    return (
        "INSERT INTO permit_tally (type, department, district, phase, light, n, close_n, "
        "close_days) "
        "SELECT type, department, district, phase, light, sum(sign), "
        "sum(CASE WHEN d IS NULL THEN 0 ELSE sign END), sum(coalesce(d, 0) * sign) "
        "FROM (SELECT s.type, s.department, s.district, s.phase, "
        "CASE WHEN s.phase IN ('running', 'paused', 'closed') THEN s.light ELSE 'none' END "
        "AS light, s.sign, "
        "CASE WHEN s.phase = 'closed' THEN cls.ordinal - acc.ordinal - s.paused_days END AS d "
        f"FROM ({source}) AS s "
        "LEFT JOIN calendar_day acc ON acc.day = s.accepted_on "
        "LEFT JOIN calendar_day cls ON cls.day = s.closed_on) AS b "
        "GROUP BY type, department, district, phase, light "
        "HAVING sum(sign) <> 0 OR sum(coalesce(d, 0) * sign) <> 0 "
        "OR sum(CASE WHEN d IS NULL THEN 0 ELSE sign END) <> 0"
    )


def permits_source(table: str = "permit", sign: int = 1, district: str = "pr.district",
                   where: str = "") -> str:
    """A SELECT of the rows of `table` (permit rows) as bucket sources, `sign` each."""
    join = " JOIN project pr ON pr.id = p.project_id" if district == "pr.district" else ""
    return (
        f"SELECT p.type, p.department, {district} AS district, p.phase, p.light, "
        f"p.accepted_on, p.closed_on, p.paused_days, {sign} AS sign FROM {table} p{join}"
        + (f" WHERE {where}" if where else "")
    )


def _row(ref: str, sign: int) -> str:
    """One permit row of a SQLite row trigger (NEW or OLD) as a bucket source."""
    return (f"SELECT {ref}.type AS type, {ref}.department AS department, "
            f"(SELECT district FROM project WHERE id = {ref}.project_id) AS district, "
            f"{ref}.phase AS phase, {ref}.light AS light, {ref}.accepted_on AS accepted_on, "
            f"{ref}.closed_on AS closed_on, {ref}.paused_days AS paused_days, {sign} AS sign")


def _changed(old: str, new: str, columns, distinct: str) -> str:
    return " OR ".join(f"{old}.{c} {distinct} {new}.{c}" for c in columns)


def _stale(new: str) -> str:
    """An open light stored as of a day before the mark."""
    return f"{new}.phase IN {OPEN} AND coalesce({new}.light_on, -1) < {MARK}"


def _sqlite() -> list[str]:
    project_rows = (
        permits_source(sign=-1, district="OLD.district", where="p.project_id = OLD.id")
        + " UNION ALL "
        + permits_source(sign=1, district="NEW.district", where="p.project_id = NEW.id")
    )
    return [
        "CREATE TRIGGER permit_tally_insert AFTER INSERT ON permit BEGIN "
        f"{insert_sql(_row('NEW', 1))}; END",
        f"CREATE TRIGGER permit_tally_update AFTER UPDATE ON permit WHEN "
        f"{_changed('OLD', 'NEW', BUCKET_SOURCES, 'IS NOT')} BEGIN "
        f"{insert_sql(_row('OLD', -1) + ' UNION ALL ' + _row('NEW', 1))}; END",
        "CREATE TRIGGER permit_tally_delete AFTER DELETE ON permit BEGIN "
        f"{insert_sql(_row('OLD', -1))}; END",
        "CREATE TRIGGER project_tally_district AFTER UPDATE OF district ON project "
        f"WHEN OLD.district IS NOT NEW.district BEGIN {insert_sql(project_rows)}; END",
        f"CREATE TRIGGER permit_lights_stale_insert AFTER INSERT ON permit WHEN {_stale('NEW')} "
        f"BEGIN {FORGET}; END",
        f"CREATE TRIGGER permit_lights_stale_update AFTER UPDATE ON permit WHEN "
        f"({_changed('OLD', 'NEW', CLOCK, 'IS NOT')}) AND {_stale('NEW')} BEGIN {FORGET}; END",
    ]


def _function(name: str, body: str) -> str:
    return (f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {body}; RETURN NULL; END $$")


def _postgresql() -> list[str]:
    changed = _changed("o", "n", CLOCK, "IS DISTINCT FROM")
    forget_if = (
        f"IF EXISTS (SELECT 1 FROM meta WHERE key = '{LIGHTS_AS_OF}') AND EXISTS "
        "(SELECT 1 FROM new_rows n{join} WHERE {cond}) THEN " + FORGET + "; END IF"
    )
    insert_forget = forget_if.format(join="", cond=_stale("n"))
    update_forget = forget_if.format(join=" JOIN old_rows o ON o.id = n.id",
                                     cond=f"({changed}) AND {_stale('n')}")
    project_rows = (
        permits_source(sign=-1, district="OLD.district", where="p.project_id = OLD.id")
        + " UNION ALL "
        + permits_source(sign=1, district="NEW.district", where="p.project_id = NEW.id")
    )
    return [
        _function("permit_tally_insert",
                  f"{insert_sql(permits_source('new_rows'))}; {insert_forget}"),
        _function("permit_tally_update", insert_sql(
            permits_source("old_rows", -1) + " UNION ALL " + permits_source("new_rows", 1)
        ) + f"; {update_forget}"),
        _function("permit_tally_delete", insert_sql(permits_source("old_rows", -1))),
        # Moves the project's permits to the new district as the permit rows stand now: a
        # permit write still running would have counted them in the old one. The lock waits
        # for those writers and holds new ones until this transaction ends (district changes
        # are rare; moves never write a project, so they cannot wait on each other).
        _function("project_tally_district", "LOCK TABLE permit IN SHARE ROW EXCLUSIVE MODE; "
                  + insert_sql(project_rows)),
        "CREATE TRIGGER permit_tally_insert AFTER INSERT ON permit "
        "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION permit_tally_insert()",
        "CREATE TRIGGER permit_tally_update AFTER UPDATE ON permit "
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION permit_tally_update()",
        "CREATE TRIGGER permit_tally_delete AFTER DELETE ON permit "
        "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION permit_tally_delete()",
        "CREATE TRIGGER project_tally_district AFTER UPDATE OF district ON project "
        "FOR EACH ROW WHEN (OLD.district IS DISTINCT FROM NEW.district) "
        "EXECUTE FUNCTION project_tally_district()",
    ]


def upgrade() -> None:
    op.create_table(
        "permit_tally",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("department", sa.String(length=40), nullable=False),
        sa.Column("district", sa.String(length=100), nullable=True),
        sa.Column("phase", sa.String(length=10), nullable=False),
        sa.Column("light", sa.String(length=10), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("close_n", sa.Integer(), nullable=False),
        sa.Column("close_days", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    conn = op.get_bind()
    for statement in _postgresql() if conn.dialect.name == "postgresql" else _sqlite():
        conn.exec_driver_sql(statement)
    conn.exec_driver_sql(insert_sql(permits_source()))  # count the permits there are


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        for name in PERMIT_TRIGGERS:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name} ON permit")
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS project_tally_district ON project")
        for name in (*PERMIT_TRIGGERS, "project_tally_district"):
            conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {name}()")
    else:
        for name in (*PERMIT_TRIGGERS, "project_tally_district", "permit_lights_stale_insert",
                     "permit_lights_stale_update"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
    conn.exec_driver_sql(FORGET)
    op.drop_table("permit_tally")
