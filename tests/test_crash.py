"""Crashes: the sweep is killed (SIGKILL) at random points, in a real `workflow sweep` process,
then run again. Every time the database is consistent: rows equal their rebuild, the chains
verify, and every light change of the day exists exactly once.

Half the trials kill after a random delay (0.2 to 1.2 times the time a sweep takes to reach its
writes: start-up, reading, writing, committing, or already done); the other half kill once the
sweep has written all its changes, holding its transaction open (a hook in the child), so the
kill lands mid-transaction every time. WORKFLOW_CRASH_TRIALS sets the trials per backend."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import date

import pytest
import sqlalchemy as sa

from tests.conftest import PG_URL, make_app
from tests.workers import SWEEP_CHILD, TODAY, populate
from workflow.audit import verify
from workflow.rebuild import rebuild
from workflow.sweep import sweep

TRIALS = int(os.environ.get("WORKFLOW_CRASH_TRIALS", "8"))
POPULATION = int(os.environ.get("WORKFLOW_CRASH_POPULATION", "2000"))
BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])


class Store:
    """A populated template database, and fresh copies of it for each trial."""

    def __init__(self, backend: str, folder):
        self.backend, self.folder = backend, folder
        self.copies: list[str] = []
        if backend == "sqlite":
            self.template = f"sqlite:///{folder / 'template.db'}"
        else:
            self.admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
            self.name = f"wf_crash_{uuid.uuid4().hex[:8]}"
            with self.admin.connect() as c:
                c.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
            self.template = PG_URL.rsplit("/", 1)[0] + "/" + self.name
        from workflow.setup import init

        app = make_app(self.template)
        init(app)
        populate(app, POPULATION)
        app.db.dispose()

    def copy(self) -> str:
        n = len(self.copies)
        if self.backend == "sqlite":
            path = self.folder / f"trial-{n}.db"
            shutil.copy(self.folder / "template.db", path)
            url = f"sqlite:///{path}"
        else:
            name = f"{self.name}_{n}"
            with self.admin.connect() as c:
                c.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"')
            url = PG_URL.rsplit("/", 1)[0] + "/" + name
        self.copies.append(url)
        return url

    def drop(self) -> None:
        if self.backend == "sqlite":
            return
        with self.admin.connect() as c:
            for name in [u.rsplit("/", 1)[1] for u in self.copies] + [self.name]:
                c.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = '{name}' AND pid <> pg_backend_pid()")
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        self.admin.dispose()


def light_changes(url: str, day: date) -> Counter:
    app = make_app(url)
    with app.db.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT permit_id, data FROM permit_event WHERE kind = 'light' AND \"on\" = :d"
        ), {"d": (day - date(1970, 1, 1)).days}).all()
    app.db.dispose()
    return Counter(rows)


# What a sweep records that must exist exactly once after a kill and a re-run: for each kind, a
# function (url, day) -> Counter of that day's records, compared with an uninterrupted sweep's.
# Notices and outbox deliveries (issue 4) plug in here: a notice per (permit, level, episode),
# a delivery per notice; both are written in the sweep's transaction (sweep.AFTER_CHANGES).
EXACTLY_ONCE = {"light change": light_changes}


def start_sweep(url: str, hold: bool = False) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_")}
    if hold:
        env["HOLD_AFTER_WRITE"] = "1"
    return subprocess.Popen(
        [sys.executable, "-c", SWEEP_CHILD, "--db", url, "--today", TODAY.isoformat(), "sweep"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_killed_sweep_leaves_a_consistent_ledger(backend, tmp_path):
    store = Store(backend, tmp_path)
    try:
        # the reference: one sweep that nobody kills
        reference_url = store.copy()
        started = time.monotonic()
        clean = start_sweep(reference_url)
        assert clean.stdout.readline() == "written\n"
        to_written = time.monotonic() - started  # start-up, reading and writing: the kill window
        assert clean.wait(timeout=300) == 0, clean.stderr.read()
        expected = {kind: records(reference_url, TODAY) for kind, records in EXACTLY_ONCE.items()}
        assert len(expected["light change"]) > POPULATION // 2

        rng = random.Random(7)
        outcomes: Counter = Counter()
        for trial in range(TRIALS):
            url = store.copy()
            started = time.monotonic()
            child = start_sweep(url, hold=bool(trial % 2))
            if trial % 2:
                assert child.stdout.readline() == "written\n"  # inside the transaction, held
                to_written = time.monotonic() - started  # follow the machine's current speed
            else:
                time.sleep(rng.uniform(0.2, 1.2) * to_written)
            child.send_signal(signal.SIGKILL)
            code = child.wait(timeout=60)
            app = make_app(url, actor=None)
            with app.db.connect() as conn:
                committed = conn.execute(sa.text("SELECT count(*) FROM sweep_run")).scalar()
            outcomes["finished before the kill" if code == 0 else
                      "killed after commit" if committed else
                      "killed mid-transaction" if trial % 2 else "killed before commit"] += 1
            sweep(app, day=TODAY)  # the next run
            for kind, records in EXACTLY_ONCE.items():
                assert records(url, TODAY) == expected[kind], f"trial {trial}: {kind}"
            assert rebuild(app, check_only=True)["differing"] == 0, f"trial {trial}"
            assert verify(app)["ok"], f"trial {trial}"
            if backend == "sqlite":
                with app.db.connect() as conn:
                    assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            app.db.dispose()
        print(f"\n{backend}: {TRIALS} kills over {POPULATION} permits "
              f"({to_written:.1f}s to the write, {len(expected['light change'])} light changes): "
              f"{dict(outcomes)}")
        assert outcomes["killed mid-transaction"] == TRIALS // 2
    finally:
        store.drop()
