"""Province-scale benchmark: sweep, re-run, reports, ledger import, moves and CLI start-up.

A script, not a test (pytest never collects it: no test_ prefix, and tests/perf/conftest.py
ignores it). Run it as

    python tests/perf/bench.py --permits 1000000 [--db URL] [--json] [--runs 3]

It generates a realistic population straight into a template database (bulk inserts), then runs
every step in a child process on a fresh copy of that template when the step writes, so each
step starts from the same stale state and reports its own peak resident memory. Each figure is
the median of `--runs` runs; every floor is measured in the same invocation on the same data.

The population (see `generate`): projects of ten permits (ten of the eleven policy types, with
their prerequisites respected: a permit is accepted only after every prerequisite was approved),
created over 2025-2026 on the real calendar; mixed states (pending, running, suspended, extended,
approved, rejected, withdrawn); every permit row is exactly what `rebuild` computes from its
events (create event, every move, and the light events that daily sweeps up to `--stale-days`
working days ago would have written), with the hash chain computed by `make_event`. The lights
are therefore as stale as a missed sweep leaves them: the first sweep changes the lights that
moved since, and a re-run the same day changes nothing. `--verify` checks rows against
`rebuild --check` after generation (slow at 1M; use it at 10k-100k).

The completion report (by type, then by district) is measured after the day's sweep, as
leaders read it (from the counts the database keeps), and again with `recount=True` (counting
every permit row, what it costs before the day's sweep or as of a past day).

SQLite databases are copied file by file to restore the stale state; on PostgreSQL the URL
names the server and an existing database to connect to; the benchmark creates and drops its
own databases `wf_bench_<N>_<mix>_tpl` (template) and `wf_bench_<N>_<mix>` (work copy) there.

Steps that need library functions not built yet (completion report, ledger import) print
"n/a (not built)"; their floors are still measured. See docs/performance.md for the figures.
"""

from __future__ import annotations

import argparse
import csv
import functools
import importlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

TODAY = date(2026, 11, 20)
FIRST_START = date(2025, 1, 2)
DISTRICTS = ["上城区", "拱墅区", "西湖区", "滨江区", "萧山区", "余杭区", "临平区", "钱塘区",
             "富阳区", "临安区", "桐庐县", "淳安县", "建德市"]
PARKS = ["高新区", "经开区", "综保区", "科技城", "", ""]
LEVEL_WEIGHTS = {"county": 50, "municipal": 35, "provincial": 13, "national": 2}
IMPORT_ROWS = 100_000

# Library functions built by other issues: the first candidate that imports is measured.
REPORT_CANDIDATES = [("workflow.report.completion", "completion"),
                     ("workflow.report", "completion"), ("workflow.reports", "completion"),
                     ("workflow.report", "completion_rates"),
                     ("workflow.reports", "completion_rates")]
IMPORT_CANDIDATES = [("workflow.report.ledger", "import_"), ("workflow.ledger", "import_ledger"),
                     ("workflow.ledger", "import_csv"),
                     ("workflow.ledger", "import_file"), ("workflow.report", "import_ledger")]


# -- helpers -------------------------------------------------------------------------------------

def peak_rss_mb() -> float:
    """Peak resident memory of this process (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def find_function(candidates):
    for module, name in candidates:
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        fn = getattr(mod, name, None)
        if callable(fn):
            return fn
    return None


def sqlite_path(url: str) -> Path | None:
    return Path(url.split("///", 1)[1]) if url.startswith("sqlite") else None


def pg_conninfo(url: str) -> str:
    """A libpq URL from an SQLAlchemy one."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def pg_with_db(url: str, name: str) -> str:
    base, _, rest = url.rpartition("/")
    query = "?" + rest.split("?", 1)[1] if "?" in rest else ""
    return f"{base}/{name}{query}"


def sqlite_ts(d: datetime) -> str:
    """A naive UTC timestamp as SQLAlchemy's SQLite DateTime stores it."""
    return d.strftime("%Y-%m-%d %H:%M:%S.%f")


class Target:
    """The template database (populated once) and the work copy every step runs on."""

    def __init__(self, db_url: str | None, permits: int, workdir: Path, mix: str):
        from workflow.store.db import normalise_url

        self.permits = permits
        if db_url is None:
            workdir.mkdir(parents=True, exist_ok=True)
            db_url = f"sqlite:///{workdir / f'bench-{permits}-{mix}.db'}"
        self.given = normalise_url(db_url)
        self.is_sqlite = self.given.startswith("sqlite")
        if self.is_sqlite:
            self.work_url = self.given
            self.tpl_url = self.given + ".tpl"
        else:
            self.work_name = f"wf_bench_{permits}_{mix}"
            self.tpl_name = f"{self.work_name}_tpl"
            self.tpl_url = pg_with_db(self.given, self.tpl_name)
            self.work_url = pg_with_db(self.given, self.work_name)

    def _pg_admin(self, sql_list):
        import psycopg

        with psycopg.connect(pg_conninfo(self.given), autocommit=True) as c:
            for sql in sql_list:
                c.execute(sql)

    def _pg_drop(self, name: str):
        self._pg_admin([
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
            f'DROP DATABASE IF EXISTS "{name}"',
        ])

    def template_exists(self) -> bool:
        if self.is_sqlite:
            return sqlite_path(self.tpl_url).exists()
        import psycopg

        with psycopg.connect(pg_conninfo(self.given), autocommit=True) as c:
            return c.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                             (self.tpl_name,)).fetchone() is not None

    def fresh_template(self) -> None:
        if self.is_sqlite:
            for suffix in ("", "-wal", "-shm"):
                Path(str(sqlite_path(self.tpl_url)) + suffix).unlink(missing_ok=True)
        else:
            self._pg_drop(self.tpl_name)
            self._pg_admin([f'CREATE DATABASE "{self.tpl_name}"'])

    def restore(self) -> float:
        """Make the work database a copy of the template; return seconds taken."""
        t0 = time.perf_counter()
        if self.is_sqlite:
            work = sqlite_path(self.work_url)
            for suffix in ("-wal", "-shm"):
                Path(str(work) + suffix).unlink(missing_ok=True)
            shutil.copyfile(sqlite_path(self.tpl_url), work)
        else:
            self._pg_drop(self.work_name)
            self._pg_admin([f'CREATE DATABASE "{self.work_name}" TEMPLATE "{self.tpl_name}"'])
        return time.perf_counter() - t0

    def finish_template(self) -> None:
        """Checkpoint so that the template is one self-contained file (SQLite)."""
        if self.is_sqlite:
            import sqlite3

            c = sqlite3.connect(sqlite_path(self.tpl_url))
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            c.execute("PRAGMA journal_mode = DELETE")
            c.close()
            for suffix in ("-wal", "-shm"):
                Path(str(sqlite_path(self.tpl_url)) + suffix).unlink(missing_ok=True)

    def drop_work(self) -> None:
        if self.is_sqlite:
            for suffix in ("", "-wal", "-shm"):
                Path(str(sqlite_path(self.work_url)) + suffix).unlink(missing_ok=True)
        else:
            self._pg_drop(self.work_name)


def make_app(url: str, today: date, actor: str | None = "admin"):
    from workflow.app import App, Settings

    app = App(Settings(db_url=url, today=today, actor=actor))
    app.policy, app.calendar  # noqa: B018  (load outside the timed part, as a running server has)
    return app


# -- population ------------------------------------------------------------------------------------

class BulkWriter:
    """Fast inserts of plain tuples: executemany on SQLite, COPY on PostgreSQL."""

    def __init__(self, url: str):
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            import sqlite3

            self.conn = sqlite3.connect(sqlite_path(url), isolation_level=None)
            self.conn.execute("PRAGMA synchronous = OFF")
            self.conn.execute("PRAGMA cache_size = -200000")
            self.conn.execute("BEGIN")
        else:
            import psycopg

            self.conn = psycopg.connect(pg_conninfo(url))

    def ts(self, d: datetime):
        return sqlite_ts(d) if self.is_sqlite else d

    def write(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        if not rows:
            return
        cols = ", ".join(f'"{c}"' for c in columns)
        if self.is_sqlite:
            marks = ", ".join("?" for _ in columns)
            self.conn.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)
        else:
            with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(r)

    def close(self) -> None:
        if self.is_sqlite:
            self.conn.execute("COMMIT")
        else:
            self.conn.commit()
            with self.conn.cursor() as cur:
                for table in ("actor", "project", "permit", "permit_event"):
                    cur.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
            self.conn.commit()
            self.conn.autocommit = True
            self.conn.execute("VACUUM ANALYZE")  # what autovacuum does after a bulk load
        self.conn.close()


PERMIT_COLS = ["id", "project_id", "type", "department", "level", "responsible", "state", "phase",
               "promised_override", "promised_days", "extension_days", "paused_days",
               "accepted_on", "suspended_since", "closed_on", "due_on", "warn_at", "light",
               "light_on", "last_move_on", "version", "head_hash", "created_at"]
EVENT_COLS = ["id", "permit_id", "seq", "kind", "event", "on", "actor", "reason", "data",
              "recorded_at", "prev_hash", "hash"]
PROJECT_COLS = ["id", "code", "name", "district", "park", "investment", "planned_start",
                "leader", "contact", "created_at"]


class PermitBuilder:
    """Moves one permit through its life with the domain functions the library uses."""

    def __init__(self, gen: Generator, permit_id: int, ptype, level: str, created: date):
        from workflow.domain.projection import Facts

        self.g, self.id, self.ptype, self.level = gen, permit_id, ptype, level
        lifecycle = gen.lifecycle
        self.facts = Facts(state=lifecycle.initial, phase=lifecycle.phase(lifecycle.initial))
        self.events: list[dict] = []
        self.light_on: date | None = None
        self.actor = f"clerk.{ptype.department}"
        self._event("create", "create", created, None, {
            "type": ptype.code, "level": level, "state": lifecycle.initial,
            "promised_override": None, "responsible": None}, actor="admin")

    def _event(self, kind, event, on, reason, data, actor=None):
        from workflow.store.events import make_event

        prev = self.events[-1]["hash"] if self.events else ""
        seq = len(self.events) + 1
        self.events.append(make_event(
            permit_id=self.id, seq=seq, prev_hash=prev, kind=kind, event=event, on=on,
            actor=actor or self.actor, reason=reason, data=data,
            recorded_at=datetime.combine(on, datetime.min.time()) + timedelta(hours=1, seconds=seq),
        ))

    def fire(self, event: str, on: date, *, reason: str | None = None, days: int | None = None):
        """Apply one move as `permits.advance` does, and log its event."""
        from workflow.domain.lifecycle import ClockEffect
        from workflow.domain.projection import apply_move

        lifecycle = self.g.lifecycle
        spec = lifecycle.events[event]
        before = self.facts.state
        new_state = spec.dest or before
        promised = None
        if spec.clock == ClockEffect.START:
            promised = self.ptype.promised_days[self.level]
        self.facts = apply_move(
            self.facts, cal=self.g.cal, effect=spec.clock, state=new_state,
            phase=lifecycle.phase(new_state), on=on, days=days, promised_days=promised)
        data: dict = {"from": before, "to": new_state}
        if days is not None:
            data["days"] = days
        if promised is not None:
            data["promised_days"] = promised
        self._event("move", event, on, reason, data)
        self.light_on = max(self.light_on, on) if self.light_on else on

    def swept_until(self, last_sweep: date) -> None:
        """Add the light events daily sweeps up to `last_sweep` would have written."""
        from workflow.domain.clock import Phase, read_clock

        f = self.facts
        if f.phase != Phase.RUNNING or self.light_on is None or self.light_on >= last_sweep:
            return
        cal, rule = self.g.cal, self.ptype.warning
        clock = f.clock(cal)
        current = read_clock(clock, cal, rule, self.light_on)
        due = cal.ordinal(current.due_on)
        light = current.light.value
        # the light of a running permit changes only where remaining reaches warn_at, then -1
        for n in (due - current.warn_at, due + 1):
            day = cal.workday_at(n)
            if self.light_on < day <= last_sweep:
                reading = read_clock(clock, cal, rule, day)
                if reading.light.value != light:
                    self._event("light", "light", day, None, {
                        "from": light, "to": reading.light.value,
                        "remaining_days": reading.remaining_days}, actor="sweep")
                    light = reading.light.value
                    self.light_on = day

    def row(self, project_id: int, created_at) -> tuple:
        from workflow.permits import cached_fields

        v = cached_fields(self.facts, self.ptype, self.g.cal, self.light_on)
        dn = self.g.dn
        return (
            self.id, project_id, self.ptype.code, self.ptype.department, self.level, None,
            v["state"], v["phase"], None, v["promised_days"], v["extension_days"],
            v["paused_days"], dn(v["accepted_on"]), dn(v["suspended_since"]), dn(v["closed_on"]),
            dn(v["due_on"]), v["warn_at"], v["light"], dn(v["light_on"]), dn(v["last_move_on"]),
            len(self.events), self.events[-1]["hash"], created_at,
        )


class Generator:
    """A province: projects of ten permits, created over 2025-2026 up to `today`."""

    def __init__(self, app, today: date, stale_days: int, seed: int, mix: str = "realistic"):
        from workflow.domain.calendar import day_number

        self.app, self.today = app, today
        self.policy, self.lifecycle = app.policy, app.policy.lifecycle
        cal = app.calendar
        # Memoise the calendar lookups for the generator (the library recomputes them per row).
        cal.ordinal = functools.lru_cache(maxsize=None)(cal.ordinal)
        cal.workday_at = functools.lru_cache(maxsize=None)(cal.workday_at)
        self.cal = cal
        self.rng = random.Random(seed)
        self.mix = mix
        self.types = self.policy.type_order()
        needed = {p for t in self.policy.permit_types.values() for p in t.prerequisites}
        self.droppable = [t for t in self.types if t not in needed]
        # sweeps run every day, weekends included; the last one ran `stale_days` ago
        self.last_sweep = today - timedelta(days=stale_days)
        self.dn = lambda d: None if d is None else day_number(d)
        self.next_event_id = 1

    def level_for(self, ptype) -> str:
        levels = [lv for lv in LEVEL_WEIGHTS if lv in ptype.promised_days]
        return self.rng.choices(levels, [LEVEL_WEIGHTS[lv] for lv in levels])[0]

    def project_start(self) -> date:
        # Most tracked projects are recent; older ones are mostly through their permits.
        span = (self.today - FIRST_START).days
        if self.mix == "open":
            return self.today - timedelta(days=self.rng.randint(100, span))
        age = self.rng.randint(0, 45) if self.rng.random() < 0.85 else self.rng.randint(0, span)
        return self.today - timedelta(days=age)

    def project(self, project_id: int, first_permit_id: int, n_permits: int):
        """Return (project row, permit builders) for one project."""
        rng = self.rng
        start = self.project_start()
        drop = rng.choice(self.droppable)
        types = [t for t in self.types if t != drop][:n_permits]
        closed: dict[str, date | None] = {}
        builders = []
        for i, code in enumerate(types):
            ptype = self.policy.permit_types[code]
            b = PermitBuilder(self, first_permit_id + i, ptype, self.level_for(ptype), start)
            builders.append(b)
            closed[code] = self._life(b, start, [closed.get(p) for p in ptype.prerequisites])
        row = (project_id, f"B{project_id:07d}", f"项目 {project_id}", rng.choice(DISTRICTS),
               rng.choice(PARKS) or None, round(rng.uniform(500, 500_000), 1),
               self.dn(start + timedelta(days=rng.randint(60, 400))), "包保领导", "联络员")
        return row, start, builders

    def _life(self, b: PermitBuilder, start: date, prereq_closed: list) -> date | None:
        """Move `b` through a plausible life up to today; return its approval day or None."""
        rng, cal, today = self.rng, self.cal, self.today
        if self.mix == "open":
            return self._open_life(b)
        if any(c is None for c in prereq_closed):
            base = None  # a prerequisite is not approved: this permit waits
        else:
            base = max([start, *prereq_closed])
        accept = None if base is None else base + timedelta(days=rng.randint(1, 15))
        if accept is not None and not cal.is_workday(accept) and rng.random() < 0.9:
            accept = cal.workday_at(cal.ordinal(accept) + 1)
        if accept is None or accept > today:
            last = base or start
            if rng.random() < 0.4 and last < today:
                b.fire("prepare", last + timedelta(days=rng.randint(1, (today - last).days)))
            if rng.random() < 0.03:
                b.fire("waive" if rng.random() < 0.5 else "withdraw",
                       max(b.light_on or start, start), reason="项目调整")
            return None
        if rng.random() < 0.3:
            b.fire("prepare", accept - timedelta(days=rng.randint(0, (accept - start).days)))
        limit = b.ptype.promised_days[b.level]
        a = cal.ordinal(accept)
        moves: list[tuple[date, int, str, dict]] = []
        paused = 0
        if rng.random() < 0.2:
            s_on = cal.workday_at(a + rng.randint(1, limit))
            r_on = s_on + timedelta(days=rng.randint(3, 40))
            paused = cal.ordinal(r_on - timedelta(1)) - cal.ordinal(s_on - timedelta(1))
            moves += [(s_on, 0, "suspend", {"reason": "补正材料"}), (r_on, 2, "resume", {})]
        ext = 0
        if rng.random() < 0.08:
            ext = rng.randint(1, min(5, b.ptype.max_extension_days or 1))
            moves.append((cal.workday_at(a + rng.randint(1, limit)), 1, "extend",
                          {"reason": "专家评审", "days": ext}))
        moves.sort(key=lambda m: (m[0], m[1]))
        last = moves[-1][0] if moves else accept
        close_on = max(cal.workday_at(a + paused + round(rng.uniform(0.5, 1.3) * (limit + ext))),
                       last)
        roll = rng.random()
        fate = "approve" if roll < 0.93 else "reject" if roll < 0.98 else "withdraw"
        moves.append((close_on, 3, fate, {"reason": "不符合条件"} if fate != "approve" else {}))
        b.fire("accept", accept)
        for on, _, event, kw in moves:
            if on > today:
                break
            b.fire(event, on, **kw)
        b.swept_until(self.last_sweep)
        return close_on if fate == "approve" and close_on <= today else None

    def _open_life(self, b: PermitBuilder) -> None:
        """Accepted recently and still open (some overdue, suspended, extended)."""
        rng, cal, today = self.rng, self.cal, self.today
        limit = b.ptype.promised_days[b.level]
        t = cal.ordinal(today)
        a = t - rng.randint(0, int(limit * 1.3) + 1)
        b.fire("accept", cal.workday_at(a))
        roll = rng.random()
        if roll < 0.15 and a + 1 <= t:
            s_on = cal.workday_at(rng.randint(a + 1, t))
            b.fire("suspend", s_on, reason="补正材料")
            r_on = s_on + timedelta(days=rng.randint(3, 40))
            if r_on <= today and rng.random() < 0.5:
                b.fire("resume", r_on)
        elif roll < 0.23 and a + 1 <= t:
            b.fire("extend", cal.workday_at(rng.randint(a + 1, t)), reason="专家评审",
                   days=rng.randint(1, min(5, b.ptype.max_extension_days or 1)))
        b.swept_until(self.last_sweep)
        return None


def generate(url: str, permits: int, today: date, stale_days: int, seed: int,
             mix: str = "realistic") -> dict:
    """Populate an initialised database at `url` with `permits` permits; return counts."""
    from workflow.setup import init

    app = make_app(url, today)
    init(app)
    gen = Generator(app, today, stale_days, seed, mix)
    writer = BulkWriter(url)
    created = datetime(2025, 1, 1, 1, 0, 0)
    writer.write("actor", ["name", "role", "department", "created_at"], [
        (f"clerk.{d}", "department", d, writer.ts(created)) for d in app.policy.departments
    ] + [("office", "supervisor", None, writer.ts(created))])
    counts: dict[str, int] = {}
    events = 0
    permit_id, project_id = 1, 1
    projects, permit_rows, event_rows = [], [], []
    while permit_id <= permits:
        n = min(10, permits - permit_id + 1)
        prow, start, builders = gen.project(project_id, permit_id, n)
        ts = writer.ts(datetime.combine(start, datetime.min.time()) + timedelta(hours=1))
        projects.append((*prow, ts))
        for b in builders:
            permit_rows.append(b.row(project_id, ts))
            counts[b.facts.phase.value] = counts.get(b.facts.phase.value, 0) + 1
            for e in b.events:
                event_rows.append((
                    gen.next_event_id, e["permit_id"], e["seq"], e["kind"], e["event"],
                    gen.dn(e["on"]), e["actor"], e["reason"], e["data"],
                    writer.ts(e["recorded_at"]), e["prev_hash"], e["hash"]))
                gen.next_event_id += 1
        events += sum(len(b.events) for b in builders)
        permit_id += n
        project_id += 1
        if len(permit_rows) >= 20_000:
            _flush(writer, projects, permit_rows, event_rows)
    _flush(writer, projects, permit_rows, event_rows)
    writer.close()
    out = {"permits": permits, "projects": project_id - 1, "events": events, "phases": counts,
           "last_sweep": gen.last_sweep.isoformat(), "mix": mix}
    out["standing_notices"] = issue_standing_notices(url, gen.last_sweep)
    settle(app, gen.last_sweep)
    analyze(app)
    from workflow.store.calendar_table import set_meta

    with app.db.connect(write=True) as conn:
        set_meta(conn, "bench_population", json.dumps(out))
    return out


def settle(app, last_sweep: date) -> None:
    """Leave the report's kept counts as yesterday's sweep did: one row per bucket (the bulk
    load appended one per permit) and the lights marked as of that day."""
    try:
        from workflow.store import tally
    except ImportError:  # a library without kept counts
        return
    with app.db.connect(write=True) as conn:
        tally.compact(conn)
        tally.mark_lights(conn, last_sweep)


def analyze(app) -> None:
    """Give PostgreSQL's planner the statistics autovacuum keeps on a server in use; a template
    written in bulk moments ago has none, and some plans then walk every matter."""
    if app.db.dialect == "postgresql":
        with app.db.connect(write=True) as conn:
            conn.exec_driver_sql("ANALYZE")


def issue_standing_notices(url: str, last_sweep: date) -> dict:
    """Issue the notices the last sweep would have issued, with their deliveries done.

    A ledger in use holds a matter for every permit already yellow or red: the measured sweep
    then calls only for the permits whose light changed, as a daily sweep does, instead of
    calling every yellow and red permit of the province at once.
    """

    from workflow.notices import delivery_t, issue_notices

    app = make_app(url, last_sweep)
    with app.db.connect(write=True) as conn:
        issued = issue_notices(app, conn, last_sweep, [])
        conn.execute(delivery_t.update().values(status="sent"))
    return issued


def _flush(writer, projects, permit_rows, event_rows):
    writer.write("project", PROJECT_COLS, projects)
    writer.write("permit", PERMIT_COLS, permit_rows)
    writer.write("permit_event", EVENT_COLS, event_rows)
    projects.clear()
    permit_rows.clear()
    event_rows.clear()


# -- floors: the database's own cost for the same work ---------------------------------------------

OPEN_SQL = "('paused', 'running')"


# The clock of an open permit in SQL, as workflow.store.queries has it: remaining =
# ordinal(accepted_on) + paused + promised + extension - ordinal(E), E the day or, while
# suspended, the later of the day before the suspension and the acceptance day.
PAUSE_FROM = ("CASE WHEN p.suspended_since - 1 < p.accepted_on THEN p.accepted_on "
              "ELSE p.suspended_since - 1 END")
OPEN_JOIN = ("FROM permit p JOIN calendar_day acc ON acc.day = p.accepted_on "
             f"LEFT JOIN calendar_day susp ON susp.day = {PAUSE_FROM} ")


def remaining_sql(today_ordinal: int) -> str:
    return ("acc.ordinal + p.paused_days + p.promised_days + p.extension_days - "
            f"coalesce(susp.ordinal, {today_ordinal})")


def read_floor_sql(today_ordinal: int) -> str:
    """Read the open permits joined to the calendar and compute remaining days; return nothing."""
    return (f"SELECT count(*), sum({remaining_sql(today_ordinal)}) {OPEN_JOIN}"
            f"WHERE p.phase IN {OPEN_SQL}")


def update_floor_sql(today_ordinal: int, day: int) -> str:
    """Set the lights the sweep sets, in one statement (no events, no version, no hash).

    UPDATE ... FROM a join: on both databases faster than correlated calendar subqueries.
    """
    new_light = "CASE WHEN r < 0 THEN 'red' WHEN r <= warn_at THEN 'yellow' ELSE 'green' END"
    return (
        f"UPDATE permit SET light = c.new_light, light_on = {day} FROM ("
        f"SELECT id, light AS old, {new_light} AS new_light FROM ("
        f"SELECT p.id, p.light, p.warn_at, {remaining_sql(today_ordinal)} AS r {OPEN_JOIN}"
        f"WHERE p.phase IN {OPEN_SQL}) o) c WHERE permit.id = c.id AND c.new_light <> c.old"
    )


REPORT_FLOOR_SQL = [
    "SELECT type, count(*), sum(CASE WHEN phase = 'closed' THEN 1 ELSE 0 END), "
    "sum(CASE WHEN phase = 'closed' AND light = 'green' THEN 1 ELSE 0 END) "
    "FROM permit WHERE phase <> 'void' GROUP BY type",
    "SELECT pr.district, count(*), sum(CASE WHEN p.phase = 'closed' THEN 1 ELSE 0 END), "
    "sum(CASE WHEN p.phase = 'closed' AND p.light = 'green' THEN 1 ELSE 0 END) "
    "FROM permit p JOIN project pr ON pr.id = p.project_id WHERE p.phase <> 'void' "
    "GROUP BY pr.district",
]


def today_ordinal(conn, today: date) -> int:
    import sqlalchemy as sa

    from workflow.domain.calendar import day_number

    return conn.execute(sa.text("SELECT ordinal FROM calendar_day WHERE day = :d"),
                        {"d": day_number(today)}).scalar_one()


# -- child steps: each runs in its own process and prints one JSON line ----------------------------

CPU_START = [0.0]  # set where a step's timed part starts; the child reports CPU since then

def step_generate(args) -> dict:
    t0 = time.perf_counter()
    CPU_START[0] = time.process_time()
    out = generate(args.url, args.permits, args.today, args.stale_days, args.seed, args.mix)
    out["s"] = time.perf_counter() - t0
    return out


def step_sweep(args) -> dict:
    from workflow.sweep import sweep

    app = make_app(args.url, args.today, actor=None)
    t0 = time.perf_counter()
    CPU_START[0] = time.process_time()
    result = sweep(app, day=args.today)
    return {"s": time.perf_counter() - t0, "changed": result["changed"], "open": result["open"],
            "lights": result["lights"]}


def step_sweep_core(args) -> dict:
    """The sweep without its after-change hooks (notices): what the light recomputation costs."""
    import workflow.notices  # noqa: F401  (registers its hook, which is then taken out)
    from workflow import sweep as sweep_module

    sweep_module.AFTER_CHANGES.clear()
    return step_sweep(args)


def step_sweep_floor(args) -> dict:
    import sqlalchemy as sa

    from workflow.domain.calendar import day_number

    app = make_app(args.url, args.today)
    with app.db.connect() as conn:
        t = today_ordinal(conn, args.today)
    sql = update_floor_sql(t, day_number(args.today))
    t0 = time.perf_counter()
    CPU_START[0] = time.process_time()
    with app.db.connect(write=True) as conn:
        changed = conn.execute(sa.text(sql)).rowcount
    return {"s": time.perf_counter() - t0, "changed": changed}


def step_read_floor(args) -> dict:
    import sqlalchemy as sa

    app = make_app(args.url, args.today)
    with app.db.connect() as conn:
        t = today_ordinal(conn, args.today)
    t0 = time.perf_counter()
    CPU_START[0] = time.process_time()
    with app.db.connect() as conn:
        n, _ = conn.execute(sa.text(read_floor_sql(t))).one()
    return {"s": time.perf_counter() - t0, "open": n}


def step_report(args, **kw) -> dict:
    """The report by type and by district, after the day's sweep (as leaders read it): from the
    kept counts where the library keeps them; `recount=True` counts the permit rows."""
    fn = find_function(REPORT_CANDIDATES)
    if fn is None:
        return {"s": None}
    app = make_app(args.url, args.today)
    t0 = time.perf_counter()
    CPU_START[0] = time.process_time()
    kept = []
    for by in ("type", "district"):
        try:
            result = fn(app, by=by, **kw)
        except TypeError:
            if kw:  # no `recount`: step_report_recount says n/a, never times a plain report
                raise
            result = fn(app)
            break
        kept.append(bool(result.get("from_kept_counts")))
    return {"s": time.perf_counter() - t0, "kept": all(kept) if kept else None}


def step_report_recount(args) -> dict:
    try:
        return step_report(args, recount=True)
    except TypeError:  # a library without kept counts always counts the rows
        return {"s": None}


def step_report_floor(args) -> dict:
    import sqlalchemy as sa

    app = make_app(args.url, args.today)
    t0 = time.perf_counter()
    CPU_START[0] = time.process_time()
    with app.db.connect() as conn:
        rows = sum(len(conn.execute(sa.text(q)).all()) for q in REPORT_FLOOR_SQL)
    return {"s": time.perf_counter() - t0, "rows": rows}


def ledger_csv(path: Path, run: int, rows: int = IMPORT_ROWS) -> None:
    """A ledger of `rows` permits on rows/10 new projects (codes unique per run)."""
    rng = random.Random(run)
    app_types = ["approval", "land_prereview", "eia", "energy", "stability", "safety",
                 "land_supply", "land_use_planning", "engineering_planning", "construction"]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["project_code", "project_name", "district", "type", "level", "state",
                    "responsible"])
        for i in range(rows):
            p = i // 10
            w.writerow([f"L{run}-{p:06d}", f"导入项目 {p}", DISTRICTS[p % len(DISTRICTS)],
                        app_types[i % 10], "county", "draft", f"责任人{rng.randint(1, 99)}"])


def step_import(args) -> dict:
    fn = find_function(IMPORT_CANDIDATES)
    if fn is None:
        return {"s": None}
    path = Path(tempfile.mkdtemp()) / "ledger.csv"
    ledger_csv(path, args.run)
    app = make_app(args.url, args.today)
    t0 = time.perf_counter()
    CPU_START[0] = time.process_time()
    fn(app, path)
    return {"s": time.perf_counter() - t0}


def step_import_floor(args) -> dict:
    """Parse the same CSV and insert its projects and permits with bare executemany."""
    import sqlalchemy as sa

    path = Path(tempfile.mkdtemp()) / "ledger.csv"
    ledger_csv(path, 1000 + args.run)
    app = make_app(args.url, args.today)
    now = datetime(2026, 11, 20, 1, 0)
    ts = sqlite_ts(now) if app.db.is_sqlite else now
    t0 = time.perf_counter()
    CPU_START[0] = time.process_time()
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    with app.db.connect(write=True) as conn:
        projects = {}
        for r in rows:
            projects.setdefault(r["project_code"],
                                (r["project_code"], r["project_name"], r["district"], ts))
        conn.exec_driver_sql(
            "INSERT INTO project (code, name, district, created_at) VALUES (?, ?, ?, ?)"
            if app.db.is_sqlite else
            "INSERT INTO project (code, name, district, created_at) VALUES (%s, %s, %s, %s)",
            list(projects.values()))
        ids = dict(conn.execute(sa.text("SELECT code, id FROM project WHERE code LIKE :p"),
                                {"p": f"L{1000 + args.run}-%"}).all())
        mark = "?" if app.db.is_sqlite else "%s"
        conn.exec_driver_sql(
            "INSERT INTO permit (project_id, type, department, level, responsible, state, phase,"
            " extension_days, paused_days, light, version, head_hash, created_at) VALUES ("
            + ", ".join([mark] * 13) + ")",
            [(ids[r["project_code"]], r["type"], "drc", r["level"], r["responsible"], r["state"],
              "pending", 0, 0, "none", 0, "", ts) for r in rows])
    return {"s": time.perf_counter() - t0}


def step_moves(args) -> dict:
    """Suspend then resume distinct running permits, each move its own transaction."""
    import sqlalchemy as sa

    from workflow import permits

    app = make_app(args.url, args.today)
    half = args.moves // 2
    with app.db.connect() as conn:
        refs = [f"{c}/{t}" for c, t in conn.execute(sa.text(
            "SELECT pr.code, p.type FROM permit p JOIN project pr ON pr.id = p.project_id "
            "WHERE p.state = 'accepted' ORDER BY p.id LIMIT :n OFFSET :o"),
            {"n": half, "o": half * args.run}).all()]
    t0 = time.perf_counter()
    CPU_START[0] = time.process_time()
    for ref in refs:
        permits.advance(app, ref, "suspend", on=args.today, reason="补正材料")
    for ref in refs:
        permits.advance(app, ref, "resume", on=args.today)
    s = time.perf_counter() - t0
    return {"s": s, "moves": 2 * len(refs), "moves_per_s": 2 * len(refs) / s}


def step_upgrade(args) -> dict:
    from workflow.setup import init

    t0 = time.perf_counter()
    CPU_START[0] = time.process_time()
    app = make_app(args.url, args.today)
    init(app)
    stored = json.loads(app.meta("bench_population") or "{}")
    from workflow.notices import WATERMARK

    # a template from before standing notices (or their watermark) existed: issuing is
    # idempotent, so this adds what is missing only
    if stored and ("standing_notices" not in stored or app.meta(WATERMARK) is None):
        issued = issue_standing_notices(args.url, date.fromisoformat(stored["last_sweep"]))
        stored.setdefault("standing_notices", issued)
        from workflow.store.calendar_table import set_meta

        with app.db.connect(write=True) as conn:
            set_meta(conn, "bench_population", json.dumps(stored))
    if stored:
        settle(app, date.fromisoformat(stored["last_sweep"]))
    analyze(app)
    return {"s": time.perf_counter() - t0}


def step_population(args) -> dict:
    stored = make_app(args.url, args.today).meta("bench_population")
    return {"population": json.loads(stored) if stored else None}


def step_verify(args) -> dict:
    from workflow.rebuild import rebuild

    app = make_app(args.url, args.today)
    t0 = time.perf_counter()
    CPU_START[0] = time.process_time()
    out = rebuild(app, check_only=True)
    out["s"] = time.perf_counter() - t0
    return out


STEPS = {
    "generate": step_generate, "sweep": step_sweep, "sweep_core": step_sweep_core,
    "sweep_floor": step_sweep_floor,
    "read_floor": step_read_floor, "report": step_report,
    "report_recount": step_report_recount, "report_floor": step_report_floor,
    "import": step_import, "import_floor": step_import_floor, "moves": step_moves,
    "verify": step_verify, "upgrade": step_upgrade,
    "population": step_population,
}


# -- the driver ------------------------------------------------------------------------------------

def child(step: str, url: str, args, run: int = 0) -> dict:
    cmd = [sys.executable, __file__, "--child", step, "--url", url, "--today",
           args.today.isoformat(), "--permits", str(args.permits), "--stale-days",
           str(args.stale_days), "--seed", str(args.seed), "--run", str(run), "--mix", args.mix,
           "--moves", str(args.moves)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"step {step} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


CHILD_CPU: dict[str, list[float]] = {}


def timed_process(cmd: list[str], env: dict | None = None, key: str = "") -> float:
    """Wall seconds of a whole process; its CPU seconds go to CHILD_CPU[key]."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    s = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CHILD_CPU.setdefault(key, []).append(
        after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return s


def workflow_command() -> list[str]:
    script = Path(sys.executable).parent / "workflow"
    return [str(script)] if script.exists() else [sys.executable, "-m", "workflow.cli"]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    return round(a / b, 2) if a is not None and b else None


def log(args, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr, flush=True)


def run_bench(args) -> dict:
    target = Target(args.db, args.permits, Path(args.workdir), args.mix)
    from workflow.store.db import redact

    out: dict = {"permits": args.permits, "db_url": redact(target.work_url),
                 "today": args.today.isoformat(),
                 "mix": args.mix, "runs": args.runs, "load_avg_start": os.getloadavg()[0]}
    rss: dict[str, float] = {}
    if args.reuse and target.template_exists():
        log(args, "reusing the template database (upgraded to the current schema)")
        child("upgrade", target.tpl_url, args)
        target.finish_template()
        out["population"] = child("population", target.tpl_url, args)["population"]
    else:
        log(args, f"generating {args.permits} permits ...")
        target.fresh_template()
        g = child("generate", target.tpl_url, args)
        target.finish_template()
        out["generate_s"] = round(g["s"], 1)
        out["population"] = {k: g[k] for k in ("projects", "events", "phases", "last_sweep")}
        log(args, f"  {g['s']:.1f} s: {out['population']}")
    if args.generate_only:
        return out
    if args.verify:
        target.restore()
        v = child("verify", target.work_url, args)
        out["verify"] = {"checked": v["checked"], "differing": v["differing"]}
        log(args, f"rebuild --check: {out['verify']}")

    def runs(step, restore: bool, n: int | None = None):
        results = []
        for i in range(n or args.runs):
            if restore:
                target.restore()
            r = child(step, target.work_url, args, run=i)
            results.append(r)
            rss[step] = max(rss.get(step, 0), r.get("rss_mb", 0))
            s = r.get("s")
            log(args, f"  {step} run {i + 1}: " + (f"{s:.3f} s" if s is not None else "n/a")
                + "".join(f", {k} {v}" for k, v in r.items()
                          if k in ("changed", "open", "moves_per_s")))
        return results

    groups = set(args.steps.split(","))
    out["skipped"] = sorted({"sweep", "report", "import", "moves", "cli"} - groups)
    none: list[dict] = []
    sweeps = sweep_core = sweep_floor = reruns = read_floor = report = report_floor = none
    report_recount = none
    imports = import_floor = moves = none
    if "sweep" in groups:
        sweep_floor = runs("sweep_floor", restore=True)
        sweep_core = runs("sweep_core", restore=True)
        sweeps = none if args.no_hooks else runs("sweep", restore=True)
        out["sweep_changed"] = sweep_core[-1]["changed"]
        out["open"] = sweep_core[-1]["open"]
        # the work copy now holds the swept state: a re-run the same day changes nothing
        reruns = runs("sweep_core" if args.no_hooks else "sweep", restore=False)
        assert all(r["changed"] == 0 for r in reruns), "a re-run changed lights"
        read_floor = runs("read_floor", restore=False)
    elif groups & {"report", "import"}:
        target.restore()
        if "report" in groups:  # the report is read after the day's sweep
            child("sweep", target.work_url, args)
    if "report" in groups:
        report = runs("report", restore=False)
        report_recount = runs("report_recount", restore=False)
        report_floor = runs("report_floor", restore=False)
    if "import" in groups:
        imports = runs("import", restore=False)
        import_floor = runs("import_floor", restore=False)
    if "moves" in groups:
        target.restore()
        moves = runs("moves", restore=False, n=args.move_runs)
    target.drop_work()

    out.update({
        "sweep_s": median(r["s"] for r in sweeps),
        "sweep_core_s": median(r["s"] for r in sweep_core),
        "sweep_floor_s": median(r["s"] for r in sweep_floor),
        "rerun_s": median(r["s"] for r in reruns),
        "rerun_floor_s": median(r["s"] for r in read_floor),
        "report_s": median(r["s"] for r in report),
        "report_floor_s": median(r["s"] for r in report_floor),
        "report_recount_s": median(r["s"] for r in report_recount),
        "report_from_kept_counts": report[-1].get("kept") if report else None,
        "import_s": median(r["s"] for r in imports),
        "import_floor_s": median(r["s"] for r in import_floor),
        "moves_per_s": median(r["moves_per_s"] for r in moves),
        # CPU of the client process (all the work on SQLite; not the server's on PostgreSQL)
        "cpu_s": {name: median(r["cpu_s"] for r in rs) for name, rs in (
            ("sweep", sweeps), ("sweep_core", sweep_core), ("sweep_floor", sweep_floor),
            ("rerun", reruns),
            ("rerun_floor", read_floor), ("report", report), ("report_recount", report_recount),
            ("report_floor", report_floor),
            ("import_floor", import_floor), ("moves", moves)) if rs},
    })
    out["peak_rss_mb"] = round(max(rss.values()), 1) if rss else None
    out["rss_mb"] = {k: round(v, 1) for k, v in rss.items()}

    cli = {"cli_help_s": [], "import_click_s": [], "cli_show_s": [], "import_sqlmodel_s": [],
           "cli_advance_s": []}
    if "cli" in groups:
        measure_cli(args, target, cli)
    for k, v in cli.items():
        out[k] = median(v)
    out["cpu_s"].update({k: median(v) for k, v in CHILD_CPU.items() if k})
    out["load_avg_end"] = os.getloadavg()[0]
    out["ratios"] = {
        "sweep/update_floor": ratio(out["sweep_s"], out["sweep_floor_s"]),
        "sweep_core/update_floor": ratio(out["sweep_core_s"], out["sweep_floor_s"]),
        "rerun/read_floor": ratio(out["rerun_s"], out["rerun_floor_s"]),
        "report/group_by": ratio(out["report_s"], out["report_floor_s"]),
        "report_recount/group_by": ratio(out["report_recount_s"], out["report_floor_s"]),
        "import/executemany": ratio(out["import_s"], out["import_floor_s"]),
        "help/import_click": ratio(out["cli_help_s"], out["import_click_s"]),
        "show/import_sqlmodel": ratio(out["cli_show_s"], out["import_sqlmodel_s"]),
    }
    for k, v in list(out.items()):
        if isinstance(v, float):
            out[k] = round(v, 4)
    return out


def measure_cli(args, target: Target, cli: dict[str, list]) -> None:
    """Cold starts, interleaved so that a change of machine load hits both sides alike."""
    import sqlalchemy as sa

    wf = workflow_command()
    db = ["--db", target.tpl_url, "--today", args.today.isoformat()]
    app = make_app(target.tpl_url, args.today)
    with app.db.connect() as conn:
        code, type_ = conn.execute(sa.text(
            "SELECT pr.code, p.type FROM permit p JOIN project pr ON pr.id = p.project_id "
            "WHERE p.state = 'accepted' ORDER BY p.id LIMIT 1")).one()
    app.db.dispose()  # PostgreSQL copies a template only when nobody is connected to it
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_")}
    target.restore()
    # the copy just written (a gigabyte at 1M) is flushed first: its writeback slowed every
    # process started meanwhile, the bare imports too, and by unequal amounts
    os.sync()
    work = ["--db", target.work_url, "--today", args.today.isoformat(), "--as", "admin"]
    for i in range(args.cli_runs):
        cli["import_click_s"].append(
            timed_process([sys.executable, "-c", "import click"], env, "import_click"))
        cli["cli_help_s"].append(timed_process([*wf, "--help"], env, "cli_help"))
        cli["import_sqlmodel_s"].append(
            timed_process([sys.executable, "-c", "import sqlmodel"], env, "import_sqlmodel"))
        cli["cli_show_s"].append(timed_process(
            [*wf, *db, "permit", "show", f"{code}/{type_}"], env, "cli_show"))
        event = "suspend" if i % 2 == 0 else "resume"
        extra = ["--reason", "补正材料"] if event == "suspend" else []
        cli["cli_advance_s"].append(timed_process(
            [*wf, *work, "permit", "advance", f"{code}/{type_}", event, *extra], env,
            "cli_advance"))
    target.drop_work()


def print_table(out: dict) -> None:
    skipped = set(out.get("skipped", ()))

    def fmt(v, group):
        if group in skipped:
            return "skipped"
        return "n/a (not built)" if v is None else f"{v:.3f} s"

    r = out["ratios"]
    rows = [
        ("first sweep", "sweep_s", "sweep_floor_s", "sweep/update_floor", "bare UPDATE", "sweep"),
        ("  without notice hook", "sweep_core_s", "sweep_floor_s", "sweep_core/update_floor",
         "bare UPDATE", "sweep"),
        ("re-run (no change)", "rerun_s", "rerun_floor_s", "rerun/read_floor", "bare SELECT",
         "sweep"),
        ("completion report", "report_s", "report_floor_s", "report/group_by", "GROUP BY",
         "report"),
        ("  --recount", "report_recount_s", "report_floor_s", "report_recount/group_by",
         "GROUP BY", "report"),
        ("ledger import 100k", "import_s", "import_floor_s", "import/executemany", "executemany",
         "import"),
        ("workflow --help", "cli_help_s", "import_click_s", "help/import_click", "import click",
         "cli"),
        ("workflow permit show", "cli_show_s", "import_sqlmodel_s", "show/import_sqlmodel",
         "import sqlmodel", "cli"),
        ("workflow permit advance", "cli_advance_s", None, None, "", "cli"),
    ]
    print(f"{out['permits']} permits ({out.get('open')} open, {out.get('sweep_changed')} lights "
          f"changed by the first sweep) on {out['db_url']}; medians of {out['runs']} runs; "
          f"load {out['load_avg_start']:.1f} -> {out['load_avg_end']:.1f}")
    print(f"{'step':<26}{'time':>16}{'floor':>16}{'ratio':>8}  floor is")
    for name, t, f, q, what, group in rows:
        floor = fmt(out[f], group) if f else ""
        q = r.get(q) if q else None
        print(f"{name:<26}{fmt(out[t], group):>16}{floor:>16}{'' if q is None else q:>8}  {what}")
    if out["moves_per_s"] is not None:
        print(f"{'moves through the library':<26}{out['moves_per_s']:>12.0f} /s")
    if out["peak_rss_mb"] is not None:
        print(f"{'peak RSS':<26}{out['peak_rss_mb']:>13.1f} MB  "
              + ", ".join(f"{k} {v}" for k, v in out["rss_mb"].items()))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--permits", type=int, default=100_000)
    p.add_argument("--db", help="Database URL (default: an SQLite file under --workdir).")
    p.add_argument("--json", action="store_true", help="Print one JSON object only.")
    p.add_argument("--runs", type=int, default=3, help="Runs per step (median).")
    p.add_argument("--cli-runs", type=int, default=5)
    p.add_argument("--moves", type=int, default=10_000, help="Moves per moves run.")
    p.add_argument("--move-runs", type=int, default=1)
    p.add_argument("--today", type=date.fromisoformat, default=TODAY)
    p.add_argument("--stale-days", type=int, default=1,
                   help="Days since the last sweep the population saw (default 1: yesterday).")
    p.add_argument("--seed", type=int, default=6)
    p.add_argument("--mix", choices=["realistic", "open"], default="realistic",
                   help="realistic: a province's mix of states; open: every permit accepted and "
                        "open (prerequisites not enforced), the sweep's worst case.")
    p.add_argument("--reuse", action="store_true", help="Reuse an existing template database.")
    p.add_argument("--verify", action="store_true", help="Check rows against rebuild --check.")
    p.add_argument("--generate-only", action="store_true", help="Only build the template.")
    p.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "workflow-bench"))
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--no-hooks", action="store_true",
                   help="Measure the sweep without its notice hook only (the re-run too).")
    p.add_argument("--steps", default="sweep,report,import,moves,cli",
                   help="Comma-separated groups to run (default all).")
    p.add_argument("--child", choices=sorted(STEPS), help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--run", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        result = STEPS[args.child](args)
        result["cpu_s"] = time.process_time() - CPU_START[0]
        result["rss_mb"] = peak_rss_mb()
        print(json.dumps(result, default=str))
        return
    if args.json:
        args.quiet = True
    out = run_bench(args)
    if args.generate_only:
        print(json.dumps(out, ensure_ascii=False))
    elif args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print_table(out)


if __name__ == "__main__":
    main()
